//! The HTTP API's request signatures (`rest-api.md`, "Generating authentication signatures").
//!
//! Every request carries `auth_key`, `auth_timestamp` (Unix seconds), `auth_version` (`1.0`)
//! and `auth_signature` in its query string, and `body_md5` (hex MD5 of the body) when the body
//! is not empty. The signature is the hex HMAC-SHA256, with the app's secret, of
//!
//! ```text
//! METHOD\nPATH\nk1=v1&k2=v2...
//! ```
//!
//! where the pairs are every query parameter but `auth_signature`, keys lower-cased, sorted
//! by key, values as decoded (not URL-escaped). A failure is answered 401 with its message.

use md5::{Digest as _, Md5};

use crate::sign;

/// How far `auth_timestamp` may be from the server's clock, in seconds.
pub const MAX_CLOCK_SKEW_SECS: u64 = 600;

/// Why a request's signature is refused (all answered 401).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiAuthError {
    /// A required parameter is missing.
    #[error("missing {0}")]
    Missing(&'static str),
    /// `auth_key` is not the app's key.
    #[error("unknown auth_key")]
    UnknownKey,
    /// `auth_timestamp` is not a number, or more than [`MAX_CLOCK_SKEW_SECS`] from now.
    #[error(
        "timestamp expired: given timestamp ({given}) not within {MAX_CLOCK_SKEW_SECS}s of server time ({now})"
    )]
    StaleTimestamp {
        /// `auth_timestamp` as given.
        given: String,
        /// The server's Unix time.
        now: u64,
    },
    /// `body_md5` is not the MD5 of the body.
    #[error("body_md5 does not match the body")]
    BodyMd5,
    /// The signature does not match.
    #[error("invalid signature: expected HMAC SHA256 hex digest of {signed:?}")]
    Signature {
        /// The string that should have been signed (no secret in it).
        signed: String,
    },
}

/// A request to check: its method, path and decoded query pairs, and its raw body.
#[derive(Debug, Clone, Copy)]
pub struct ApiRequest<'a> {
    /// `GET` or `POST` (any case; signed upper-case).
    pub method: &'a str,
    /// The path, e.g. `/apps/3/events`.
    pub path: &'a str,
    /// The query string's pairs, percent-decoded.
    pub query: &'a [(String, String)],
    /// The body as received.
    pub body: &'a [u8],
}

/// Checks `request` against the app's `key` and `secret` at Unix time `now`.
pub fn verify(
    request: &ApiRequest<'_>,
    key: &str,
    secret: &str,
    now: u64,
) -> Result<(), ApiAuthError> {
    let param = |name: &str| {
        request
            .query
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    };
    let given_key = param("auth_key").ok_or(ApiAuthError::Missing("auth_key"))?;
    let timestamp = param("auth_timestamp").ok_or(ApiAuthError::Missing("auth_timestamp"))?;
    let signature = param("auth_signature").ok_or(ApiAuthError::Missing("auth_signature"))?;
    if given_key != key {
        return Err(ApiAuthError::UnknownKey);
    }
    let fresh = timestamp
        .parse::<u64>()
        .is_ok_and(|given| given.abs_diff(now) <= MAX_CLOCK_SKEW_SECS);
    if !fresh {
        return Err(ApiAuthError::StaleTimestamp {
            given: timestamp.chars().take(40).collect(),
            now,
        });
    }
    if !request.body.is_empty() {
        let given = param("body_md5").ok_or(ApiAuthError::Missing("body_md5"))?;
        if !given.eq_ignore_ascii_case(&body_md5(request.body)) {
            return Err(ApiAuthError::BodyMd5);
        }
    }
    let signed = string_to_sign(request);
    if sign::verify_hex(secret, signed.as_bytes(), signature) {
        Ok(())
    } else {
        Err(ApiAuthError::Signature { signed })
    }
}

/// The lower-case hex MD5 of a body (`body_md5`).
pub fn body_md5(body: &[u8]) -> String {
    sign::hex(&Md5::digest(body))
}

/// `METHOD\nPATH\n` and the sorted, lower-cased pairs without `auth_signature`.
pub fn string_to_sign(request: &ApiRequest<'_>) -> String {
    let mut pairs: Vec<(String, &str)> = request
        .query
        .iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), v.as_str()))
        .filter(|(k, _)| k != "auth_signature")
        .collect();
    pairs.sort();
    let query = pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&");
    format!(
        "{}\n{}\n{query}",
        request.method.to_ascii_uppercase(),
        request.path
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "278d425bdf160c739803";
    const SECRET: &str = "7ad3773142a6692b25b8";
    const BODY: &[u8] = br#"{"name":"foo","channels":["project-3"],"data":"{\"some\":\"data\"}"}"#;
    const TIMESTAMP: u64 = 1_353_088_179;

    fn query(signature: Option<&str>) -> Vec<(String, String)> {
        let mut query = vec![
            ("auth_key".to_owned(), KEY.to_owned()),
            ("auth_timestamp".to_owned(), TIMESTAMP.to_string()),
            ("auth_version".to_owned(), "1.0".to_owned()),
            ("body_md5".to_owned(), body_md5(BODY)),
        ];
        if let Some(signature) = signature {
            query.push(("auth_signature".to_owned(), signature.to_owned()));
        }
        query
    }

    fn request<'a>(query: &'a [(String, String)], body: &'a [u8]) -> ApiRequest<'a> {
        ApiRequest {
            method: "POST",
            path: "/apps/3/events",
            query,
            body,
        }
    }

    /// Pusher's worked example, `rest-api.md`.
    const EXAMPLE_SIGNATURE: &str =
        "da454824c97ba181a32ccc17a72625ba02771f50b50e1e7430e47a1f3f457e6c";

    #[test]
    fn pushers_worked_example() {
        assert_eq!(body_md5(BODY), "ec365a775a4cd0599faeb73354201b6f");
        let q = query(Some(EXAMPLE_SIGNATURE));
        assert_eq!(
            string_to_sign(&request(&q, BODY)),
            "POST\n/apps/3/events\nauth_key=278d425bdf160c739803&auth_timestamp=1353088179\
             &auth_version=1.0&body_md5=ec365a775a4cd0599faeb73354201b6f"
        );
        assert_eq!(
            verify(&request(&q, BODY), KEY, SECRET, TIMESTAMP + 10),
            Ok(())
        );
    }

    #[test]
    fn refusals() {
        let q = query(Some(EXAMPLE_SIGNATURE));
        let r = request(&q, BODY);
        assert_eq!(
            verify(&r, "other", SECRET, TIMESTAMP),
            Err(ApiAuthError::UnknownKey)
        );
        assert!(matches!(
            verify(&r, KEY, SECRET, TIMESTAMP + MAX_CLOCK_SKEW_SECS + 1),
            Err(ApiAuthError::StaleTimestamp { .. })
        ));
        assert!(matches!(
            verify(&r, KEY, SECRET, TIMESTAMP - MAX_CLOCK_SKEW_SECS - 1),
            Err(ApiAuthError::StaleTimestamp { .. })
        ));
        assert_eq!(
            verify(&request(&q, b"{}"), KEY, SECRET, TIMESTAMP),
            Err(ApiAuthError::BodyMd5)
        );
        assert!(matches!(
            verify(&r, KEY, "wrong secret", TIMESTAMP),
            Err(ApiAuthError::Signature { .. })
        ));
        let unsigned = query(None);
        assert_eq!(
            verify(&request(&unsigned, BODY), KEY, SECRET, TIMESTAMP),
            Err(ApiAuthError::Missing("auth_signature"))
        );
        // An extra parameter is part of what is signed.
        let mut extra = query(Some(EXAMPLE_SIGNATURE));
        extra.push(("filter_by_prefix".to_owned(), "presence-".to_owned()));
        assert!(matches!(
            verify(&request(&extra, BODY), KEY, SECRET, TIMESTAMP),
            Err(ApiAuthError::Signature { .. })
        ));
    }

    #[test]
    fn a_get_without_body_needs_no_md5() {
        let mut q = vec![
            ("auth_key".to_owned(), KEY.to_owned()),
            ("auth_timestamp".to_owned(), TIMESTAMP.to_string()),
            ("auth_version".to_owned(), "1.0".to_owned()),
            (
                "Info".to_owned(),
                "user_count,subscription_count".to_owned(),
            ),
        ];
        let signed = string_to_sign(&ApiRequest {
            method: "get",
            path: "/apps/3/channels/presence-a",
            query: &q,
            body: b"",
        });
        assert!(signed.starts_with("GET\n/apps/3/channels/presence-a\nauth_key="));
        assert!(
            signed.ends_with("&info=user_count,subscription_count"),
            "{signed}"
        );
        q.push((
            "auth_signature".to_owned(),
            sign::hmac_hex(SECRET, signed.as_bytes()),
        ));
        let request = ApiRequest {
            method: "get",
            path: "/apps/3/channels/presence-a",
            query: &q,
            body: b"",
        };
        assert_eq!(verify(&request, KEY, SECRET, TIMESTAMP), Ok(()));
    }
}
