//! Keys from a JWKS endpoint (`client.token.jwks_public_endpoint`), by `kid`.
//!
//! As in Centrifugo, a verifier with an endpoint checks RSA and ECDSA tokens only against the
//! endpoint's keys (the PEM and HMAC keys of that section are not used) and a token must name
//! its key with `kid`. The set is fetched when a token names a `kid` the cache does not hold
//! (at most once per [`MIN_REFETCH_INTERVAL`], so tokens with made-up kids cannot make Herald
//! hammer the key server) and refreshed in the background once it is older than
//! [`REFRESH_INTERVAL`]. A successful fetch replaces the whole set, so a key removed from the
//! endpoint stops working; a failed one keeps the cached keys and logs the error. A token whose
//! key is not in the cache is refused (invalid token), whatever the key server does: nothing is
//! ever accepted without a key to check it against.
//!
//! Verification stays synchronous: the fetch happens in [`Jwks::prepare`], which the session
//! awaits before verifying (`herald_hub::TokenVerifier::prepare`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use herald_hub::Preparation;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk};
use jsonwebtoken::{Algorithm, DecodingKey};
use tokio::time::Instant;

/// Least time between two fetches started by unknown kids.
const MIN_REFETCH_INTERVAL: Duration = Duration::from_secs(1);
/// Age after which the cached set is fetched again in the background (tokens keep being
/// checked against the cached keys meanwhile).
const REFRESH_INTERVAL: Duration = Duration::from_secs(3600);
/// Limit for one fetch of the set, connection included.
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
/// Largest JWKS document read; a bigger answer is a failed fetch.
const MAX_JWKS_BYTES: usize = 1024 * 1024;

/// One endpoint's keys. Shared (`Arc`) by the verifier and its fetches.
pub(super) struct Jwks {
    endpoint: String,
    /// Built at the first fetch: building a client needs no runtime, but `herald checkconfig`
    /// should not pay for one it never uses.
    client: OnceLock<Option<reqwest::Client>>,
    /// Locked only to read or swap the cache; nothing awaits under it.
    cache: Mutex<Cache>,
    /// Held across a fetch, so tokens that arrive together with the same unknown kid make one
    /// request, not one each.
    fetching: tokio::sync::Mutex<()>,
}

#[derive(Default)]
struct Cache {
    keys: HashMap<String, Arc<JwkKey>>,
    /// When the cached set was fetched (`None`: never).
    fetched_at: Option<Instant>,
    /// When the last fetch started, successful or not.
    attempted_at: Option<Instant>,
    /// A background refresh is running.
    refreshing: bool,
}

/// A usable key of the set and the algorithms it verifies.
pub(super) struct JwkKey {
    pub(super) key: DecodingKey,
    algorithms: &'static [Algorithm],
}

/// Why a token's key could not be found; the message goes into the invalid-token log line.
#[derive(Debug, thiserror::Error)]
pub(super) enum KeyError {
    /// The token's header has no `kid`.
    #[error("token has no kid, which a JWKS endpoint needs")]
    NoKid,
    /// The cached set has no key with that id.
    #[error("no JWKS key with kid {0:?}")]
    UnknownKid(String),
    /// The key exists but is not for this algorithm.
    #[error("JWKS key {kid:?} does not verify {alg:?}")]
    WrongAlgorithm { kid: String, alg: Algorithm },
}

impl std::fmt::Debug for Jwks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Jwks")
            .field("endpoint", &self.endpoint)
            .finish_non_exhaustive()
    }
}

impl Jwks {
    /// Keys from `endpoint` (an http or https URL checked by configuration), fetched on demand.
    pub(super) fn new(endpoint: String) -> Arc<Self> {
        Arc::new(Self {
            endpoint,
            client: OnceLock::new(),
            cache: Mutex::new(Cache::default()),
            fetching: tokio::sync::Mutex::new(()),
        })
    }

    /// The cached key `kid` for a token signed with `alg`.
    pub(super) fn key(&self, kid: Option<&str>, alg: Algorithm) -> Result<Arc<JwkKey>, KeyError> {
        let kid = kid.ok_or(KeyError::NoKid)?;
        let key = herald_engine::lock(&self.cache)
            .keys
            .get(kid)
            .cloned()
            .ok_or_else(|| KeyError::UnknownKid(kid.to_owned()))?;
        if !key.algorithms.contains(&alg) {
            return Err(KeyError::WrongAlgorithm {
                kid: kid.to_owned(),
                alg,
            });
        }
        Ok(key)
    }

    /// What must happen before a token with key id `kid` can be checked: a fetch when the key
    /// is unknown and the rate limit allows one. A known key never waits; a stale cache is
    /// refreshed by a background task instead.
    pub(super) fn prepare(self: &Arc<Self>, kid: &str) -> Option<Preparation> {
        let now = Instant::now();
        let mut cache = herald_engine::lock(&self.cache);
        if cache.keys.contains_key(kid) {
            let stale = cache
                .fetched_at
                .is_none_or(|at| now.duration_since(at) >= REFRESH_INTERVAL);
            if stale && !cache.refreshing && cache.may_fetch(now) {
                // No runtime (a unit test calling verify directly): no background refresh.
                if let Ok(runtime) = tokio::runtime::Handle::try_current() {
                    cache.refreshing = true;
                    let this = self.clone();
                    runtime.spawn(async move {
                        this.refetch(None).await;
                        herald_engine::lock(&this.cache).refreshing = false;
                    });
                }
            }
            return None;
        }
        if !cache.may_fetch(now) {
            return None;
        }
        drop(cache);
        let this = self.clone();
        let kid = kid.to_owned();
        Some(Box::pin(async move { this.refetch(Some(&kid)).await }))
    }

    /// Fetches the set unless, once it is our turn, another fetch already brought `wanted` in
    /// or the rate limit says no.
    async fn refetch(&self, wanted: Option<&str>) {
        let _turn = self.fetching.lock().await;
        {
            let mut cache = herald_engine::lock(&self.cache);
            if wanted.is_some_and(|kid| cache.keys.contains_key(kid)) {
                return;
            }
            let now = Instant::now();
            if !cache.may_fetch(now) {
                return;
            }
            cache.attempted_at = Some(now);
        }
        match self.fetch().await {
            Ok(keys) => {
                tracing::debug!(endpoint = %self.endpoint, keys = keys.len(), "JWKS fetched");
                let mut cache = herald_engine::lock(&self.cache);
                cache.keys = keys;
                cache.fetched_at = Some(Instant::now());
            }
            Err(err) => {
                tracing::error!(endpoint = %self.endpoint, error = %err, "JWKS fetch failed; cached keys kept");
            }
        }
    }

    async fn fetch(&self) -> Result<HashMap<String, Arc<JwkKey>>, String> {
        let client = self
            .client
            .get_or_init(|| crate::outbound::http_client().ok())
            .as_ref()
            .ok_or("no HTTP client")?;
        let mut response = client
            .get(&self.endpoint)
            .timeout(FETCH_TIMEOUT)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        if !response.status().is_success() {
            return Err(format!("HTTP status {}", response.status()));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| e.to_string())? {
            if body.len() + chunk.len() > MAX_JWKS_BYTES {
                return Err(format!("JWKS larger than {MAX_JWKS_BYTES} bytes"));
            }
            body.extend_from_slice(&chunk);
        }
        parse_set(&body)
    }
}

impl Cache {
    fn may_fetch(&self, now: Instant) -> bool {
        self.attempted_at
            .is_none_or(|at| now.duration_since(at) >= MIN_REFETCH_INTERVAL)
    }
}

/// The usable keys of a JWKS document by `kid`. Keys without a `kid`, of another type (HMAC,
/// EdDSA, P-521), for encryption (`"use": "enc"`) or that do not parse are skipped, so one odd
/// key does not take the others down; a document that is not a key set is an error.
fn parse_set(body: &[u8]) -> Result<HashMap<String, Arc<JwkKey>>, String> {
    #[derive(serde::Deserialize)]
    struct Set {
        keys: Vec<serde_json::Value>,
    }
    let set: Set = serde_json::from_slice(body).map_err(|e| format!("not a JWKS: {e}"))?;
    let mut keys = HashMap::new();
    for value in set.keys {
        let Ok(jwk) = serde_json::from_value::<Jwk>(value) else {
            continue;
        };
        let Some(kid) = jwk.common.key_id.clone() else {
            continue;
        };
        if let Some(key) = usable(&jwk) {
            keys.insert(kid, Arc::new(key));
        }
    }
    Ok(keys)
}

fn usable(jwk: &Jwk) -> Option<JwkKey> {
    use jsonwebtoken::jwk::PublicKeyUse;
    if matches!(jwk.common.public_key_use, Some(PublicKeyUse::Encryption)) {
        return None;
    }
    const RSA: &[Algorithm] = &[Algorithm::RS256, Algorithm::RS384, Algorithm::RS512];
    let family: &'static [Algorithm] = match &jwk.algorithm {
        AlgorithmParameters::RSA(_) => RSA,
        AlgorithmParameters::EllipticCurve(ec) => match ec.curve {
            EllipticCurve::P256 => &[Algorithm::ES256],
            EllipticCurve::P384 => &[Algorithm::ES384],
            _ => return None,
        },
        _ => return None,
    };
    // An `alg` on the key (optional, Centrifugo 6.2) narrows it to that one algorithm.
    let algorithms = match jwk.common.key_algorithm {
        None => family,
        Some(alg) => {
            let alg = Algorithm::try_from(alg).ok()?;
            let at = family.iter().position(|a| *a == alg)?;
            &family[at..=at]
        }
    };
    let key = DecodingKey::from_jwk(jwk).ok()?;
    Some(JwkKey { key, algorithms })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn odd_keys_are_skipped_not_fatal() {
        let body = br#"{"keys": [
            {"kty": "oct", "kid": "h", "k": "c2VjcmV0"},
            {"kty": "EC", "kid": "e", "crv": "P-256",
             "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
             "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"},
            {"kty": "EC", "kid": "enc", "use": "enc", "crv": "P-256",
             "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
             "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"},
            {"kty": "EC", "crv": "P-256",
             "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU",
             "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"},
            {"kty": "RSA", "kid": "r", "alg": "RS384", "n": "sXch", "e": "AQAB"},
            {"kty": "whatever", "kid": "w"}
        ]}"#;
        let keys = parse_set(body).expect("a key set");
        let mut kids: Vec<&str> = keys.keys().map(String::as_str).collect();
        kids.sort_unstable();
        assert_eq!(kids, ["e", "r"]);
        assert_eq!(keys["e"].algorithms, [Algorithm::ES256]);
        assert_eq!(keys["r"].algorithms, [Algorithm::RS384]);
        assert!(parse_set(b"[]").is_err());
        assert!(parse_set(b"{\"keys\": {}}").is_err());
    }

    #[test]
    fn unknown_kid_is_refused_without_a_fetch() {
        let jwks = Jwks::new("http://127.0.0.1:9/jwks".to_owned());
        assert!(matches!(
            jwks.key(Some("a"), Algorithm::RS256),
            Err(KeyError::UnknownKid(_))
        ));
        assert!(matches!(
            jwks.key(None, Algorithm::RS256),
            Err(KeyError::NoKid)
        ));
    }
}
