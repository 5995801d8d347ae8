//! Validation of `jwks_public_endpoint` (`client.token`, `client.subscription_token`).

use super::Checker;

/// The endpoint, when one is set and usable: an absolute http or https URL. Centrifugo also
/// accepts templated endpoints (`{{tenant}}` filled from `iss`/`aud` regex captures, with the
/// 6.7 rule that captures be literal alternatives against SSRF); Herald does not, and says so
/// here rather than fetching a URL with braces in it.
pub(super) fn endpoint(raw: &str, section: &str, c: &mut Checker) -> Option<String> {
    if raw.is_empty() {
        return None;
    }
    let key = format!("{section}.jwks_public_endpoint");
    if raw.contains("{{") {
        c.fail(
            key,
            "templated JWKS endpoints ({{variable}} from issuer/audience captures) are not supported; use a fixed URL",
        );
        return None;
    }
    match reqwest::Url::parse(raw) {
        Ok(url) if matches!(url.scheme(), "http" | "https") && url.has_host() => {
            Some(raw.to_owned())
        }
        Ok(_) => {
            c.fail(key, format!("{raw:?} is not an http or https URL"));
            None
        }
        Err(e) => {
            c.fail(key, format!("{raw:?} is not a URL: {e}"));
            None
        }
    }
}
