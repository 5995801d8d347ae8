//! The request headers a connection keeps for proxies (`http_headers` of some proxy).

use http::HeaderMap;

/// The pairs of `headers` named in `names` (lower-case), with their text values; empty and
/// allocation-free when no proxy forwards headers. A value that is not visible ASCII is
/// skipped (it could not be forwarded as it is).
pub(crate) fn kept(headers: &HeaderMap, names: &[String]) -> Vec<(String, String)> {
    names
        .iter()
        .filter_map(|name| {
            let value = headers.get(name.as_str())?.to_str().ok()?;
            Some((name.clone(), value.to_owned()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_only_named_headers() {
        let mut headers = HeaderMap::new();
        headers.insert("cookie", "session=1".parse().expect("valid value"));
        headers.insert("x-other", "no".parse().expect("valid value"));
        let names = vec!["cookie".to_owned(), "authorization".to_owned()];
        assert_eq!(
            kept(&headers, &names),
            vec![("cookie".to_owned(), "session=1".to_owned())]
        );
        assert!(kept(&headers, &[]).is_empty());
    }
}
