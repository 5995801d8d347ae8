//! `client.allowed_origins`: which browser origins may open connections.

use globset::{GlobBuilder, GlobSet, GlobSetBuilder};

/// The compiled origin rule.
#[derive(Debug, Clone)]
pub enum OriginPolicy {
    /// Empty list: only requests without an `Origin` header (non-browser clients).
    NoOriginOnly,
    /// `*`: every origin.
    Any,
    /// Glob patterns such as `https://*.example.com`, matched case-insensitively against the
    /// whole origin; requests without `Origin` pass too, as in Centrifugo.
    Patterns(GlobSet),
}

impl OriginPolicy {
    /// Compiles the configured list; the error names the bad pattern.
    pub fn compile(patterns: &[String]) -> Result<Self, String> {
        if patterns.is_empty() {
            return Ok(Self::NoOriginOnly);
        }
        if patterns.iter().any(|p| p == "*") {
            return Ok(Self::Any);
        }
        let mut set = GlobSetBuilder::new();
        for pattern in patterns {
            // `*` may cross `/` and `.`, as with Centrifugo's gobwas/glob without separators.
            let glob = GlobBuilder::new(pattern)
                .case_insensitive(true)
                .literal_separator(false)
                .build()
                .map_err(|e| format!("malformed origin pattern {pattern:?}: {e}"))?;
            set.add(glob);
        }
        set.build()
            .map(Self::Patterns)
            .map_err(|e| format!("malformed origin patterns: {e}"))
    }

    /// Whether a request with this `Origin` header (`None` or empty when absent) is allowed.
    pub fn allows(&self, origin: Option<&str>) -> bool {
        let origin = origin.unwrap_or("");
        match self {
            Self::Any => true,
            _ if origin.is_empty() => true,
            Self::NoOriginOnly => false,
            Self::Patterns(set) => set.is_match(origin),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(patterns: &[&str]) -> OriginPolicy {
        let owned: Vec<String> = patterns.iter().map(|p| (*p).to_owned()).collect();
        OriginPolicy::compile(&owned).expect("valid patterns")
    }

    #[test]
    fn empty_list_allows_only_requests_without_origin() {
        let p = policy(&[]);
        assert!(p.allows(None));
        assert!(p.allows(Some("")));
        assert!(!p.allows(Some("https://example.com")));
    }

    #[test]
    fn star_allows_everything() {
        let p = policy(&["*"]);
        assert!(p.allows(Some("https://anything.test")));
        assert!(p.allows(None));
    }

    #[test]
    fn globs_match_like_centrifugo() {
        let p = policy(&[
            "https://*.example.com",
            "http://localhost:3000",
            "null",
            "file://*",
        ]);
        assert!(p.allows(Some("https://two.Example.com")));
        assert!(p.allows(Some("https://a.b.example.com")));
        assert!(!p.allows(Some("https://example.com")));
        assert!(!p.allows(Some("https://two.\u{435}xample.com")));
        assert!(p.allows(Some("http://localhost:3000")));
        assert!(!p.allows(Some("http://localhost:3001")));
        assert!(p.allows(Some("null")));
        assert!(p.allows(Some("file://")));
        assert!(p.allows(None));
    }

    #[test]
    fn bad_pattern_is_an_error() {
        let err = OriginPolicy::compile(&["https://[a.com".to_owned()]).expect_err("bad glob");
        assert!(err.contains("https://[a.com"), "{err}");
    }
}
