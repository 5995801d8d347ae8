//! Verification keys, parsed once from configuration. A malformed PEM is a start-up error, not a
//! per-token one.

use std::sync::Arc;

use jsonwebtoken::{Algorithm, DecodingKey};

use super::jwks::Jwks;

use crate::config::{ConfigError, TokenKeys};

/// Largest RSA modulus the RustCrypto verifier accepts; larger keys would fail every token.
const MAX_RSA_BITS: usize = 4096;

/// The keys of one verifier; each family is enabled only when its key is configured.
#[derive(Clone)]
pub(super) struct KeySet {
    hmac: Option<DecodingKey>,
    /// Previous HMAC secret and the Unix time after which it is refused.
    hmac_previous: Option<(DecodingKey, Option<i64>)>,
    rsa: Option<DecodingKey>,
    /// EC key and the one algorithm its curve allows (ES256 for P-256, ES384 for P-384).
    ec: Option<(DecodingKey, Algorithm)>,
    /// Keys from a JWKS endpoint; when set, the only keys used (as in Centrifugo).
    pub(super) jwks: Option<Arc<Jwks>>,
}

impl std::fmt::Debug for KeySet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print key material; say which families are on.
        f.debug_struct("KeySet")
            .field("hmac", &self.hmac.is_some())
            .field("hmac_previous", &self.hmac_previous.is_some())
            .field("rsa", &self.rsa.is_some())
            .field("ec", &self.ec.as_ref().map(|(_, alg)| *alg))
            .field("jwks", &self.jwks)
            .finish()
    }
}

impl KeySet {
    /// Parses the configured keys; errors name the offending key.
    pub(super) fn parse(keys: &TokenKeys) -> Result<Self, ConfigError> {
        let section = keys.section;
        // Every key is read before failing, so `herald checkconfig` reports them all.
        let mut errors = Vec::new();
        let mut failed = |name: &str, message: String| {
            errors.push(ConfigError::invalid(format!("{section}.{name}"), message));
        };
        let hmac = (!keys.hmac_secret_key.is_empty())
            .then(|| {
                parse_hmac(&keys.hmac_secret_key)
                    .map_err(|message| failed("hmac_secret_key", message))
                    .ok()
            })
            .flatten();
        let hmac_previous = keys.hmac_previous.as_ref().and_then(|(secret, until)| {
            parse_hmac(secret)
                .map_err(|message| failed("hmac_previous_secret_key", message))
                .ok()
                .map(|key| (key, *until))
        });
        let rsa = (!keys.rsa_public_key.trim().is_empty())
            .then(|| {
                parse_rsa(&keys.rsa_public_key)
                    .map_err(|message| failed("rsa_public_key", message))
                    .ok()
            })
            .flatten();
        let ec = (!keys.ecdsa_public_key.trim().is_empty())
            .then(|| {
                parse_ec(&keys.ecdsa_public_key)
                    .map_err(|message| failed("ecdsa_public_key", message))
                    .ok()
            })
            .flatten();
        ConfigError::check(errors)?;
        Ok(Self {
            hmac,
            hmac_previous,
            rsa,
            ec,
            jwks: keys.jwks_public_endpoint.clone().map(Jwks::new),
        })
    }

    /// The key for a token signed with `alg`, or `None` when that algorithm is not enabled.
    pub(super) fn key_for(&self, alg: Algorithm) -> Option<&DecodingKey> {
        match alg {
            Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512 => self.hmac.as_ref(),
            Algorithm::RS256 | Algorithm::RS384 | Algorithm::RS512 => self.rsa.as_ref(),
            Algorithm::ES256 | Algorithm::ES384 => self
                .ec
                .as_ref()
                .filter(|(_, curve_alg)| *curve_alg == alg)
                .map(|(key, _)| key),
            // PS* and EdDSA: Centrifugo accepts neither from PEM configuration.
            _ => None,
        }
    }

    /// The previous HMAC secret, for an HMAC token at Unix time `now`, while it is still valid.
    pub(super) fn previous_hmac(&self, alg: Algorithm, now: i64) -> Option<&DecodingKey> {
        if !matches!(alg, Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512) {
            return None;
        }
        let (key, until) = self.hmac_previous.as_ref()?;
        match until {
            Some(until) if now > *until => None,
            _ => Some(key),
        }
    }
}

/// An HMAC key. jsonwebtoken refuses an empty secret; configuration reads an empty one as unset.
fn parse_hmac(secret: &str) -> Result<DecodingKey, String> {
    DecodingKey::from_secret(secret.as_bytes())
        .map_err(|e| format!("not a usable HMAC secret: {e}"))
}

fn parse_rsa(pem: &str) -> Result<DecodingKey, String> {
    let key = DecodingKey::from_rsa_pem(pem.as_bytes())
        .map_err(|e| format!("not an RSA public key in PEM format: {e}"))?;
    let der = key
        .try_get_as_bytes()
        .map_err(|e| format!("not an RSA public key in PEM format: {e}"))?;
    let (n, e) = rsa_components(der)
        .ok_or("not an RSA public key (expected a PKCS#1 or SubjectPublicKeyInfo public key)")?;
    let bits = n.len() * 8 - n.first().map_or(8, |b| b.leading_zeros() as usize);
    if bits > MAX_RSA_BITS {
        return Err(format!(
            "RSA keys above {MAX_RSA_BITS} bits are not supported (got {bits})"
        ));
    }
    // Holding (n, e) skips re-reading the DER on every token.
    Ok(DecodingKey::from_rsa_raw_components(n, e))
}

fn parse_ec(pem: &str) -> Result<(DecodingKey, Algorithm), String> {
    let key = DecodingKey::from_ec_pem(pem.as_bytes())
        .map_err(|e| format!("not an ECDSA public key in PEM format: {e}"))?;
    let point = key
        .try_get_as_bytes()
        .map_err(|e| format!("not an ECDSA public key in PEM format: {e}"))?;
    let alg = match (point.len(), point.first()) {
        (65, Some(4)) | (33, Some(2 | 3)) => Algorithm::ES256,
        (97, Some(4)) | (49, Some(2 | 3)) => Algorithm::ES384,
        _ => return Err("unsupported ECDSA curve (Herald supports P-256 and P-384)".to_owned()),
    };
    // Building a verifier parses the point; a point off the curve fails here, once.
    jsonwebtoken::crypto::verify("AAAA", b"probe", &key, alg)
        .map_err(|e| format!("invalid ECDSA public key: {e}"))?;
    Ok((key, alg))
}

/// `(modulus, exponent)` of a DER `RSAPublicKey ::= SEQUENCE { n INTEGER, e INTEGER }`, with
/// leading zero bytes removed.
fn rsa_components(der: &[u8]) -> Option<(&[u8], &[u8])> {
    let (body, rest) = der_element(der, 0x30)?;
    if !rest.is_empty() {
        return None;
    }
    let (n, rest) = der_element(body, 0x02)?;
    let (e, rest) = der_element(rest, 0x02)?;
    if !rest.is_empty() {
        return None;
    }
    let (n, e) = (strip_leading_zeros(n), strip_leading_zeros(e));
    (!n.is_empty() && !e.is_empty()).then_some((n, e))
}

fn strip_leading_zeros(v: &[u8]) -> &[u8] {
    let start = v.iter().position(|b| *b != 0).unwrap_or(v.len());
    &v[start..]
}

/// One DER element with `tag`: its content and what follows it.
fn der_element(input: &[u8], tag: u8) -> Option<(&[u8], &[u8])> {
    let (&first, rest) = input.split_first()?;
    if first != tag {
        return None;
    }
    let (&len_byte, rest) = rest.split_first()?;
    let (len, rest) = if len_byte < 0x80 {
        (usize::from(len_byte), rest)
    } else {
        let count = usize::from(len_byte & 0x7f);
        if count == 0 || count > 4 || rest.len() < count {
            return None;
        }
        let len = rest[..count]
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
        (len, &rest[count..])
    };
    (rest.len() >= len).then(|| rest.split_at(len))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn der_lengths() {
        assert_eq!(
            der_element(&[0x02, 0x01, 0x05], 0x02),
            Some((&[5u8][..], &[][..]))
        );
        assert_eq!(der_element(&[0x02, 0x02, 0x05], 0x02), None);
        assert_eq!(der_element(&[0x30, 0x01, 0x05], 0x02), None);
        let long = [&[0x04u8, 0x81, 0x80][..], &[7u8; 128][..]].concat();
        assert_eq!(der_element(&long, 0x04).map(|(c, _)| c.len()), Some(128));
        assert_eq!(
            rsa_components(&[0x30, 0x06, 0x02, 0x02, 0x00, 0x81, 0x02, 0x00]),
            None,
            "a zero-length exponent is refused"
        );
        assert_eq!(
            rsa_components(&[0x30, 0x07, 0x02, 0x02, 0x00, 0x81, 0x02, 0x01, 0x03]),
            Some((&[0x81u8][..], &[0x03u8][..]))
        );
    }
}
