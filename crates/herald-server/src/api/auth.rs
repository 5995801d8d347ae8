//! API key check, as Centrifugo's `APIKeyAuth` middleware does it.
//!
//! Order: a non-empty `X-API-Key` header is compared; otherwise `Authorization: apikey <key>`
//! (scheme case-insensitive, exactly two whitespace-separated parts). When neither matched and
//! the URL has a query, `?api_key=<key>` is compared too, so a wrong header with a right query
//! key still passes, exactly as in Centrifugo.

use axum::extract::Query;
use axum::http::{HeaderMap, Uri, header};

/// Who may call the API.
#[derive(Clone)]
pub(crate) enum Access {
    /// `http_api.insecure`: no check at all.
    Open,
    /// Callers must present this key. An empty key refuses everyone.
    Key(String),
}

impl std::fmt::Debug for Access {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print the key.
        match self {
            Self::Open => f.write_str("Open"),
            Self::Key(_) => f.write_str("Key(..)"),
        }
    }
}

impl Access {
    pub(crate) fn new(key: String, insecure: bool) -> Self {
        if insecure { Self::Open } else { Self::Key(key) }
    }

    /// Whether the request may call the API.
    pub(crate) fn allows(&self, headers: &HeaderMap, uri: &Uri) -> bool {
        let key = match self {
            Self::Open => return true,
            Self::Key(key) => key.as_bytes(),
        };
        if key.is_empty() {
            tracing::warn!("API request refused: http_api.key is empty and insecure is off");
            return false;
        }
        let header_ok = match header_str(headers, "x-api-key") {
            Some(given) if !given.is_empty() => constant_time_eq(given.as_bytes(), key),
            _ => header_str(headers, header::AUTHORIZATION.as_str())
                .and_then(apikey_from_authorization)
                .is_some_and(|given| constant_time_eq(given.as_bytes(), key)),
        };
        header_ok || query_key(uri).is_some_and(|given| constant_time_eq(given.as_bytes(), key))
    }
}

fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|value| value.to_str().ok())
}

/// The key of `Authorization: apikey <key>`: exactly two fields, scheme in any case.
fn apikey_from_authorization(value: &str) -> Option<&str> {
    let mut fields = value.split_whitespace();
    let (scheme, key) = (fields.next()?, fields.next()?);
    if fields.next().is_some() || !scheme.eq_ignore_ascii_case("apikey") {
        return None;
    }
    Some(key)
}

/// The first `api_key` query parameter, percent-decoded.
fn query_key(uri: &Uri) -> Option<String> {
    uri.query()?;
    let Query(pairs) = Query::<Vec<(String, String)>>::try_from_uri(uri).ok()?;
    pairs
        .into_iter()
        .find(|(name, _)| name == "api_key")
        .map(|(_, value)| value)
}

/// Compares without an early exit, so the time taken says nothing about where the first
/// differing byte is; only whether the lengths differ shows, as with Go's `SecureCompareString`.
pub(crate) fn constant_time_eq(given: &[u8], expected: &[u8]) -> bool {
    if given.len() != expected.len() {
        return false;
    }
    // `black_box` keeps the optimizer from turning the fold back into an early-exit compare.
    let diff = given
        .iter()
        .zip(expected)
        .fold(0u8, |acc, (a, b)| acc | (a ^ b));
    std::hint::black_box(diff) == 0
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn uri(s: &str) -> Uri {
        s.parse().expect("valid uri")
    }

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_static(value));
        }
        map
    }

    #[test]
    fn x_api_key_header() {
        let access = Access::new("secret".into(), false);
        assert!(access.allows(&headers(&[("x-api-key", "secret")]), &uri("/api/info")));
        assert!(!access.allows(&headers(&[("x-api-key", "wrong")]), &uri("/api/info")));
        assert!(!access.allows(&HeaderMap::new(), &uri("/api/info")));
    }

    #[test]
    fn authorization_apikey_scheme_is_case_insensitive() {
        let access = Access::new("secret".into(), false);
        for value in ["apikey secret", "APIKEY secret", "ApiKey   secret"] {
            let mut map = HeaderMap::new();
            map.insert(
                "authorization",
                HeaderValue::from_str(value).expect("ascii"),
            );
            assert!(access.allows(&map, &uri("/api/info")), "{value}");
        }
        for value in [
            "Bearer secret",
            "apikey",
            "apikey secret extra",
            "apikey wrong",
        ] {
            let mut map = HeaderMap::new();
            map.insert(
                "authorization",
                HeaderValue::from_str(value).expect("ascii"),
            );
            assert!(!access.allows(&map, &uri("/api/info")), "{value}");
        }
    }

    #[test]
    fn x_api_key_takes_precedence_over_authorization() {
        let access = Access::new("secret".into(), false);
        let map = headers(&[("x-api-key", "wrong"), ("authorization", "apikey secret")]);
        assert!(!access.allows(&map, &uri("/api/info")));
    }

    #[test]
    fn query_key_is_checked_last() {
        let access = Access::new("se cret".into(), false);
        assert!(access.allows(&HeaderMap::new(), &uri("/api/info?api_key=se%20cret")));
        assert!(access.allows(&HeaderMap::new(), &uri("/api/info?x=1&api_key=se+cret")));
        assert!(!access.allows(&HeaderMap::new(), &uri("/api/info?api_key=wrong")));
        // A wrong header does not stop a right query key (as in Centrifugo).
        let wrong = headers(&[("x-api-key", "wrong")]);
        assert!(access.allows(&wrong, &uri("/api/info?api_key=se%20cret")));
    }

    #[test]
    fn empty_key_refuses_everyone_unless_insecure() {
        let access = Access::new(String::new(), false);
        assert!(!access.allows(&headers(&[("x-api-key", "")]), &uri("/api/info?api_key=")));
        let open = Access::new(String::new(), true);
        assert!(open.allows(&HeaderMap::new(), &uri("/api/info")));
    }

    #[test]
    fn constant_time_eq_compares_whole_keys() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abd", b"abc"));
        assert!(!constant_time_eq(b"ab", b"abc"));
        assert!(!constant_time_eq(b"abcd", b"abc"));
    }

    #[test]
    fn debug_hides_the_key() {
        let access = Access::new("secret".into(), false);
        assert!(!format!("{access:?}").contains("secret"));
    }
}
