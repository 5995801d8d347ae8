//! JWT verification of Centrifugo connection and subscription tokens.
//!
//! Behaviour follows Centrifugo v6 (`internal/jwtverify`):
//! - the algorithm comes from the token header and must be one whose key is configured: HS256/
//!   384/512 (`hmac_secret_key`, then `hmac_previous_secret_key` while valid), RS256/384/512
//!   (`rsa_public_key`), ES256 or ES384 (`ecdsa_public_key`, by its curve);
//! - after the signature, `aud` and `iss` are checked when configured, a connection token with a
//!   non-empty `channel` claim is refused, and only then expiry: `exp <= now` or `nbf >= now`
//!   gives [`TokenError::Expired`] (no leeway, as in Centrifugo; a token without `exp` never
//!   expires);
//! - the claims must be a JSON object (so must `subs` entries and `override`: serde would also
//!   read an array of the fields in order, Go does not), nested at most 10,000 levels deep (Go's
//!   limit), with each claim of its type; `info`, `data` and `meta` may be any JSON;
//! - every other failure is [`TokenError::Invalid`];
//! - an expiry more than a year ahead is cut to a year (`MAX_TTL_SECS`).
//!
//! `jwt/tests/hostile.rs` is the table of hostile tokens and the code each gets from the hub.
//!
//! Subscription tokens use `client.subscription_token` when it is enabled, else `client.token`.
//! A section with a `jwks_public_endpoint` checks signatures with the endpoint's keys by `kid`
//! only (`jwks.rs`).

mod claims;
mod jwks;
mod keys;

use std::time::{SystemTime, UNIX_EPOCH};

use herald_hub::{
    ConnectTokenClaims, Preparation, SubscribeTokenClaims, TokenError, TokenVerifier,
};
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, Validation};
use serde::de::DeserializeOwned;
use serde_json::value::RawValue;

use crate::config::{ClaimMatch, ConfigError, TokenKeys, TokenSettings};
use claims::{ConnectClaims, Object, Registered, SubscribeClaims};
use keys::KeySet;

/// Deepest nesting of arrays and objects accepted in a token's claims: Go's `encoding/json` limit,
/// so Herald refuses what Centrifugo refuses. `info` and `data` are kept as raw text and handed
/// to other clients, which should not have to parse 100,000 nested arrays.
const MAX_CLAIMS_DEPTH: usize = 10_000;

/// Latest expiry, from now, that a token sets for a connection or subscription (TTLs are capped
/// at one year, `docs/protocol.md` §2.4). A signed `exp` of 1e300 or `expire_at` of `i64::MAX`
/// would otherwise overflow the hub's TTL (`u32`) and expiry arithmetic.
const MAX_TTL_SECS: i64 = 365 * 24 * 3600;

/// Verifies tokens with keys parsed once from the validated configuration.
#[derive(Debug, Clone)]
pub struct JwtVerifier {
    connect: Verifier,
    /// `None`: subscription tokens are verified like connection tokens.
    subscribe: Option<Verifier>,
    skip_signature: bool,
}

impl JwtVerifier {
    /// Parses the configured keys; a malformed PEM is an error naming its key (every such key,
    /// in a [`ConfigError::Multiple`] when there are several).
    pub fn from_config(tokens: &TokenSettings) -> Result<Self, ConfigError> {
        let connect = Verifier::new(&tokens.connect);
        let subscribe = tokens.subscription.as_ref().map(Verifier::new).transpose();
        match (connect, subscribe) {
            (Ok(connect), Ok(subscribe)) => Ok(Self {
                connect,
                subscribe,
                skip_signature: tokens.skip_signature_verify,
            }),
            (connect, subscribe) => {
                let errors = [connect.err(), subscribe.err()].into_iter().flatten();
                Err(ConfigError::combine(errors.collect()).expect("one of them failed"))
            }
        }
    }

    fn verify_connect_at(&self, token: &str, now: f64) -> Result<ConnectTokenClaims, TokenError> {
        let (raw, registered) = self.connect.verified(token, self.skip_signature, now)?;
        let claims: ConnectClaims = parse(&raw)?;
        if claims.channel.as_deref().is_some_and(|c| !c.is_empty()) {
            return Err(invalid(
                "connection token can not contain a channel claim, only subscription tokens can",
            ));
        }
        check_time(&registered, now)?;
        let user = self.connect.user(&raw, &registered)?;
        let mut claims = claims.into_hub(user, registered.exp).map_err(invalid)?;
        claims.expire_at = capped(claims.expire_at, now);
        Ok(claims)
    }

    fn verify_subscribe_at(
        &self,
        token: &str,
        now: f64,
    ) -> Result<SubscribeTokenClaims, TokenError> {
        let verifier = self.subscribe.as_ref().unwrap_or(&self.connect);
        let (raw, registered) = verifier.verified(token, self.skip_signature, now)?;
        let claims: SubscribeClaims = parse(&raw)?;
        check_time(&registered, now)?;
        if claims.channel.as_deref().is_none_or(str::is_empty) {
            return Err(invalid("channel claim is required in a subscription token"));
        }
        let user = verifier.user(&raw, &registered)?;
        let mut claims = claims.into_hub(user, registered.exp).map_err(invalid)?;
        claims.expire_at = capped(claims.expire_at, now);
        Ok(claims)
    }
}

impl TokenVerifier for JwtVerifier {
    fn verify_connect_token(&self, token: &str) -> Result<ConnectTokenClaims, TokenError> {
        self.verify_connect_at(token, unix_now())
    }

    fn verify_subscribe_token(&self, token: &str) -> Result<SubscribeTokenClaims, TokenError> {
        self.verify_subscribe_at(token, unix_now())
    }

    fn prepare(&self, token: &str, subscription: bool) -> Option<Preparation> {
        if self.skip_signature {
            return None;
        }
        let verifier = match &self.subscribe {
            Some(subscribe) if subscription => subscribe,
            _ => &self.connect,
        };
        let jwks = verifier.keys.jwks.as_ref()?;
        // A header that does not decode or names no key fails in verify, without a fetch.
        let header = jsonwebtoken::decode_header(token).ok()?;
        jwks.prepare(header.kid.as_deref()?)
    }
}

/// One set of keys and claim checks (`client.token` or `client.subscription_token`).
#[derive(Debug, Clone)]
struct Verifier {
    keys: KeySet,
    audience: Option<ClaimMatch>,
    issuer: Option<ClaimMatch>,
    user_id_claim: Option<String>,
}

impl Verifier {
    fn new(config: &TokenKeys) -> Result<Self, ConfigError> {
        Ok(Self {
            keys: KeySet::parse(config)?,
            audience: config.audience.clone(),
            issuer: config.issuer.clone(),
            user_id_claim: config.user_id_claim.clone(),
        })
    }

    /// Checks the signature (at Unix time `now`, which decides whether a previous HMAC secret
    /// still counts), `aud` and `iss`; returns the claims' JSON text and registered claims.
    /// Expiry is left to the caller, which must check it last.
    fn verified(
        &self,
        token: &str,
        skip_signature: bool,
        now: f64,
    ) -> Result<(Box<RawValue>, Registered), TokenError> {
        let raw = if skip_signature {
            jsonwebtoken::dangerous::insecure_decode::<Box<RawValue>>(token)
                .map_err(|e| invalid(e.to_string()))?
                .claims
        } else {
            self.check_signature(token, now)?
        };
        if claims::nested_deeper_than(raw.get(), MAX_CLAIMS_DEPTH) {
            return Err(invalid(format!(
                "claims nest deeper than {MAX_CLAIMS_DEPTH} levels"
            )));
        }
        let registered: Registered = parse(&raw)?;
        if let Some(audience) = &self.audience {
            let values = registered.aud.as_ref().map_or(&[][..], |a| a.values());
            if !values.iter().any(|aud| audience.matches(aud)) {
                return Err(invalid("invalid audience"));
            }
        }
        if let Some(issuer) = &self.issuer
            && !issuer.matches(registered.iss.as_deref().unwrap_or(""))
        {
            return Err(invalid("invalid issuer"));
        }
        Ok((raw, registered))
    }

    fn check_signature(&self, token: &str, now: f64) -> Result<Box<RawValue>, TokenError> {
        let header = jsonwebtoken::decode_header(token).map_err(|e| invalid(e.to_string()))?;
        let alg = header.alg;
        let validation = signature_only(alg);
        // During an HMAC key rotation tokens signed with the previous secret still pass, until
        // `valid_until`; as in Centrifugo it is tried after any failure of the current keys,
        // including when no current HMAC secret is configured. Whole seconds, as Centrifugo
        // compares `time.Now().Unix()`.
        if let Some(jwks) = &self.keys.jwks {
            let key = jwks
                .key(header.kid.as_deref(), alg)
                .map_err(|e| invalid(e.to_string()))?;
            return jsonwebtoken::decode::<Box<RawValue>>(token, &key.key, &validation)
                .map(|data| data.claims)
                .map_err(|e| invalid(e.to_string()));
        }
        let previous = self.keys.previous_hmac(alg, now.floor() as i64);
        let Some(key) = self.keys.key_for(alg) else {
            let previous =
                previous.ok_or_else(|| invalid(format!("disabled JWT algorithm: {alg:?}")))?;
            return jsonwebtoken::decode::<Box<RawValue>>(token, previous, &validation)
                .map(|data| data.claims)
                .map_err(|e| invalid(e.to_string()));
        };
        match jsonwebtoken::decode::<Box<RawValue>>(token, key, &validation) {
            Ok(data) => Ok(data.claims),
            Err(err) if matches!(err.kind(), ErrorKind::InvalidSignature) => {
                let previous = previous.ok_or_else(|| invalid(err.to_string()))?;
                jsonwebtoken::decode::<Box<RawValue>>(token, previous, &validation)
                    .map(|data| data.claims)
                    .map_err(|e| invalid(e.to_string()))
            }
            Err(err) => Err(invalid(err.to_string())),
        }
    }

    /// `sub`, or the configured user id claim read the way gjson's `String()` reads it.
    fn user(&self, raw: &RawValue, registered: &Registered) -> Result<String, TokenError> {
        let Some(claim) = &self.user_id_claim else {
            return Ok(registered.sub.clone().unwrap_or_default());
        };
        let all: serde_json::Map<String, serde_json::Value> = parse(raw)?;
        Ok(match all.get(claim) {
            None | Some(serde_json::Value::Null) => String::new(),
            Some(serde_json::Value::String(s)) => s.clone(),
            Some(other) => other.to_string(),
        })
    }
}

/// The signature check alone: claims are checked by hand to match Centrifugo exactly.
fn signature_only(alg: Algorithm) -> Validation {
    let mut validation = Validation::new(alg);
    validation.required_spec_claims.clear();
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    validation.leeway = 0;
    validation
}

fn check_time(registered: &Registered, now: f64) -> Result<(), TokenError> {
    let expired = registered.exp.is_some_and(|exp| exp <= now);
    let not_yet = registered.nbf.is_some_and(|nbf| nbf >= now);
    if expired || not_yet {
        Err(TokenError::Expired)
    } else {
        Ok(())
    }
}

/// The claims as `T`; they must be a JSON object (see [`Object`]).
fn parse<T: DeserializeOwned>(raw: &RawValue) -> Result<T, TokenError> {
    serde_json::from_str::<Object<T>>(raw.get())
        .map(|claims| claims.0)
        .map_err(|e| invalid(format!("bad claims: {e}")))
}

/// `expire_at` no later than [`MAX_TTL_SECS`] after `now`.
fn capped(expire_at: Option<i64>, now: f64) -> Option<i64> {
    expire_at.map(|at| at.min((now as i64).saturating_add(MAX_TTL_SECS)))
}

fn invalid(message: impl Into<String>) -> TokenError {
    TokenError::Invalid(message.into())
}

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

#[cfg(test)]
mod tests;
