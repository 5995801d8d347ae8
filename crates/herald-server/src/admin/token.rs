//! Admin tokens: `<expiry>.<signature>`, the expiry in Unix seconds and the signature the
//! lower-case hex HMAC-SHA256 of `herald-admin:<expiry>` under `admin.secret`. Nothing else is
//! in a token: there is one admin identity, and the secret and the clock decide.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// A token for `secret` that expires at `expires_at` (Unix seconds).
pub(super) fn issue(secret: &str, expires_at: i64) -> String {
    let mut out = format!("{expires_at}.");
    for byte in mac(secret, expires_at).finalize().into_bytes() {
        out.push_str(&format!("{byte:02x}"));
    }
    out
}

/// Whether `token` was issued with `secret` and has not expired at `now` (Unix seconds).
pub(super) fn verify(secret: &str, token: &str, now: i64) -> bool {
    let Some((expiry, signature)) = token.split_once('.') else {
        return false;
    };
    let Ok(expires_at) = expiry.parse::<i64>() else {
        return false;
    };
    if expires_at <= now || signature.len() != 64 {
        return false;
    }
    let Some(bytes) = decode_hex(signature) else {
        return false;
    };
    // `verify_slice` compares in constant time.
    mac(secret, expires_at).verify_slice(&bytes).is_ok()
}

/// Whether `given` is the password, compared through HMAC so the time taken does not depend on
/// where they differ.
pub(super) fn password_matches(password: &str, given: &str) -> bool {
    let digest = |text: &str| {
        let mut mac = new_mac(b"herald-admin-password");
        mac.update(text.as_bytes());
        mac
    };
    let expected = digest(password).finalize().into_bytes();
    digest(given).verify_slice(&expected).is_ok()
}

fn mac(secret: &str, expires_at: i64) -> Hmac<Sha256> {
    let mut mac = new_mac(secret.as_bytes());
    mac.update(format!("herald-admin:{expires_at}").as_bytes());
    mac
}

fn new_mac(key: &[u8]) -> Hmac<Sha256> {
    match Hmac::<Sha256>::new_from_slice(key) {
        Ok(mac) => mac,
        Err(_) => unreachable!("HMAC accepts keys of every length"),
    }
}

fn decode_hex(text: &str) -> Option<Vec<u8>> {
    let digit = |c: u8| {
        char::from(c)
            .to_digit(16)
            .and_then(|d| u8::try_from(d).ok())
    };
    text.as_bytes()
        .chunks(2)
        .map(|pair| match pair {
            [hi, lo] => Some(digit(*hi)? << 4 | digit(*lo)?),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_holds_until_it_expires_and_only_for_its_secret() {
        let token = issue("s3cret", 1_000);
        assert!(verify("s3cret", &token, 999));
        assert!(!verify("s3cret", &token, 1_000));
        assert!(!verify("other", &token, 999));
        let forged = token.replacen("1000", "9000", 1);
        assert!(!verify("s3cret", &forged, 999));
        for junk in ["", ".", "1000.", "x.y", "1000.zz", &format!("{token}0")] {
            assert!(!verify("s3cret", junk, 999), "{junk:?}");
        }
    }

    #[test]
    fn passwords() {
        assert!(password_matches("pw", "pw"));
        assert!(!password_matches("pw", "pW"));
        assert!(!password_matches("pw", ""));
    }
}
