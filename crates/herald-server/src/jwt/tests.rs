use std::collections::HashMap;

use bytes::Bytes;
use herald_hub::{SubscribeOptionsClaim, SubscribeOverride};
use jsonwebtoken::{EncodingKey, Header, encode};
use serde_json::{Value, json};

use super::*;
use crate::config::{Format, load_str};

mod hostile;

const RSA_PRIVATE: &str = include_str!("../../tests/fixtures/rsa_private.pem");
const RSA_PUBLIC: &str = include_str!("../../tests/fixtures/rsa_public.pem");
const RSA_PUBLIC_PKCS1: &str = include_str!("../../tests/fixtures/rsa_public_pkcs1.pem");
const EC256_PRIVATE: &str = include_str!("../../tests/fixtures/ec256_private.pem");
const EC256_PUBLIC: &str = include_str!("../../tests/fixtures/ec256_public.pem");
const EC384_PRIVATE: &str = include_str!("../../tests/fixtures/ec384_private.pem");
const EC384_PUBLIC: &str = include_str!("../../tests/fixtures/ec384_public.pem");

const SECRET: &str = "secret";
/// A fixed "now" far from any real clock, so tests never race it.
const NOW: f64 = 1_800_000_000.5;

fn verifier(config: Value) -> JwtVerifier {
    try_verifier(config).expect("verifier builds")
}

fn try_verifier(config: Value) -> Result<JwtVerifier, ConfigError> {
    let loaded = load_str(&config.to_string(), Format::Json, Vec::new()).expect("loads");
    let validated = loaded.config.validate().expect("validates");
    JwtVerifier::from_config(&validated.tokens)
}

fn hmac_verifier() -> JwtVerifier {
    verifier(json!({"client": {"token": {"hmac_secret_key": SECRET}}}))
}

/// An HMAC signing key; jsonwebtoken refuses an empty secret.
fn hmac_key(secret: &[u8]) -> EncodingKey {
    EncodingKey::from_secret(secret).expect("a non-empty secret")
}

fn sign(alg: Algorithm, key: &EncodingKey, claims: &Value) -> String {
    encode(&Header::new(alg), claims, key).expect("signs")
}

fn hs256(claims: Value) -> String {
    sign(Algorithm::HS256, &hmac_key(SECRET.as_bytes()), &claims)
}

fn connect(v: &JwtVerifier, token: &str) -> Result<ConnectTokenClaims, TokenError> {
    v.verify_connect_at(token, NOW)
}

fn subscribe(v: &JwtVerifier, token: &str) -> Result<SubscribeTokenClaims, TokenError> {
    v.verify_subscribe_at(token, NOW)
}

fn assert_invalid<T: std::fmt::Debug>(result: Result<T, TokenError>) {
    assert!(
        matches!(result, Err(TokenError::Invalid(_))),
        "expected Invalid, got {result:?}"
    );
}

#[test]
fn valid_hs256_connect_token() {
    let token = hs256(json!({
        "sub": "42", "exp": NOW as i64 + 60, "iat": 1, "nbf": 2,
        "info": {"name": "Ann",  "n": [1, 2]},
        "channels": ["news"],
        "meta": {"plan": "pro"}
    }));
    let claims = connect(&hmac_verifier(), &token).expect("valid");
    assert_eq!(claims.user, "42");
    assert_eq!(claims.expire_at, Some(NOW as i64 + 60));
    // The JSON text as signed (`json!` sorts keys; see `info_keeps_its_exact_text`).
    assert_eq!(
        claims.info,
        Bytes::from_static(br#"{"n":[1,2],"name":"Ann"}"#)
    );
    assert_eq!(claims.channels, vec!["news".to_owned()]);
    assert_eq!(claims.meta, Bytes::from_static(br#"{"plan":"pro"}"#));
    assert!(claims.subs.is_empty());
}

#[test]
fn info_keeps_its_exact_text() {
    // Built by hand so the payload carries spacing a serializer would not produce.
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
    let payload = URL_SAFE_NO_PAD.encode(br#"{"sub":"1","info":{ "a" : 1 }}"#);
    let message = format!("{header}.{payload}");
    let key = hmac_key(SECRET.as_bytes());
    let signature =
        jsonwebtoken::crypto::sign(message.as_bytes(), &key, Algorithm::HS256).expect("signs");
    let claims = connect(&hmac_verifier(), &format!("{message}.{signature}")).expect("valid");
    assert_eq!(claims.info, Bytes::from_static(br#"{ "a" : 1 }"#));
}

#[test]
fn hs384_and_hs512_share_the_secret() {
    let v = hmac_verifier();
    for alg in [Algorithm::HS384, Algorithm::HS512] {
        let token = sign(alg, &hmac_key(SECRET.as_bytes()), &json!({"sub": "1"}));
        assert_eq!(connect(&v, &token).expect("valid").user, "1");
    }
}

#[test]
fn expiry() {
    let v = hmac_verifier();
    let expired = hs256(json!({"sub": "1", "exp": NOW as i64 - 1}));
    assert_eq!(connect(&v, &expired), Err(TokenError::Expired));
    // `exp` equal to now is already expired; there is no leeway.
    let at_now = hs256(json!({"sub": "1", "exp": NOW}));
    assert_eq!(connect(&v, &at_now), Err(TokenError::Expired));
    let future_nbf = hs256(json!({"sub": "1", "nbf": NOW as i64 + 10}));
    assert_eq!(connect(&v, &future_nbf), Err(TokenError::Expired));
    let no_exp = hs256(json!({"sub": "1"}));
    assert_eq!(connect(&v, &no_exp).expect("valid").expire_at, None);
    let string_exp = hs256(json!({"sub": "1", "exp": "1800000100"}));
    assert_eq!(
        connect(&v, &string_exp).expect("valid").expire_at,
        Some(1_800_000_100)
    );
    assert_eq!(
        subscribe(&v, &hs256(json!({"sub": "1", "channel": "$a", "exp": 5}))),
        Err(TokenError::Expired)
    );
}

#[test]
fn expire_at_overrides_exp() {
    let v = hmac_verifier();
    let exp = NOW as i64 + 100;
    let never = hs256(json!({"sub": "1", "exp": exp, "expire_at": 0}));
    assert_eq!(connect(&v, &never).expect("valid").expire_at, None);
    let later = hs256(json!({"sub": "1", "exp": exp, "expire_at": exp + 500}));
    assert_eq!(
        connect(&v, &later).expect("valid").expire_at,
        Some(exp + 500)
    );
    // `expire_at` does not rescue an expired token.
    let expired = hs256(json!({"sub": "1", "exp": 10, "expire_at": exp}));
    assert_eq!(connect(&v, &expired), Err(TokenError::Expired));
}

#[test]
fn bad_signature_and_malformed_tokens() {
    let v = hmac_verifier();
    let other = sign(Algorithm::HS256, &hmac_key(b"other"), &json!({"sub": "1"}));
    assert_invalid(connect(&v, &other));
    // An expired token with a bad signature is invalid, not expired.
    let other_expired = sign(
        Algorithm::HS256,
        &hmac_key(b"other"),
        &json!({"sub": "1", "exp": 1}),
    );
    assert_invalid(connect(&v, &other_expired));
    for garbage in ["", "abc", "a.b.c", "a.b", "e30.e30.e30"] {
        assert_invalid(connect(&v, garbage));
    }
    let mut tampered = hs256(json!({"sub": "1"}));
    tampered.push('x');
    assert_invalid(connect(&v, &tampered));
    assert_invalid(connect(&v, &hs256(json!({"sub": 5}))));
    assert_invalid(connect(&v, &hs256(json!({"sub": "1", "b64info": "%%%"}))));
}

#[test]
fn algorithm_must_have_a_configured_key() {
    let hmac = hmac_verifier();
    let rsa_key = EncodingKey::from_rsa_pem(RSA_PRIVATE.as_bytes()).expect("rsa key");
    let rs256 = sign(Algorithm::RS256, &rsa_key, &json!({"sub": "1"}));
    assert_invalid(connect(&hmac, &rs256));

    let rsa_only = verifier(json!({"client": {"token": {"rsa_public_key": RSA_PUBLIC}}}));
    assert_eq!(connect(&rsa_only, &rs256).expect("valid").user, "1");
    assert_invalid(connect(&rsa_only, &hs256(json!({"sub": "1"}))));
    // PS256 uses the RSA key material but is not accepted, as in Centrifugo.
    let ps256 = sign(Algorithm::PS256, &rsa_key, &json!({"sub": "1"}));
    assert_invalid(connect(&rsa_only, &ps256));

    let nothing = verifier(json!({}));
    assert_invalid(connect(&nothing, &hs256(json!({"sub": "1"}))));
}

#[test]
fn rsa_family_and_pkcs1_keys() {
    let rsa_key = EncodingKey::from_rsa_pem(RSA_PRIVATE.as_bytes()).expect("rsa key");
    for public in [RSA_PUBLIC, RSA_PUBLIC_PKCS1] {
        let v = verifier(json!({"client": {"token": {"rsa_public_key": public}}}));
        for alg in [Algorithm::RS256, Algorithm::RS384, Algorithm::RS512] {
            let token = sign(alg, &rsa_key, &json!({"sub": "r"}));
            assert_eq!(connect(&v, &token).expect("valid").user, "r");
        }
    }
}

#[test]
fn ecdsa_keys_bind_their_curve() {
    let es256_key = EncodingKey::from_ec_pem(EC256_PRIVATE.as_bytes()).expect("p-256 key");
    let es384_key = EncodingKey::from_ec_pem(EC384_PRIVATE.as_bytes()).expect("p-384 key");
    let es256 = sign(Algorithm::ES256, &es256_key, &json!({"sub": "e"}));
    let es384 = sign(Algorithm::ES384, &es384_key, &json!({"sub": "e"}));

    let p256 = verifier(json!({"client": {"token": {"ecdsa_public_key": EC256_PUBLIC}}}));
    assert_eq!(connect(&p256, &es256).expect("valid").user, "e");
    assert_invalid(connect(&p256, &es384));

    let p384 = verifier(json!({"client": {"token": {"ecdsa_public_key": EC384_PUBLIC}}}));
    assert_eq!(connect(&p384, &es384).expect("valid").user, "e");
    assert_invalid(connect(&p384, &es256));
}

#[test]
fn bad_pem_is_a_startup_error_naming_the_key() {
    let err = try_verifier(json!({"client": {"token": {"rsa_public_key": "not a pem"}}}))
        .expect_err("bad pem");
    assert!(
        err.to_string().starts_with("client.token.rsa_public_key: "),
        "{err}"
    );
    let err = try_verifier(json!({"client": {"token": {"rsa_public_key": EC256_PUBLIC}}}))
        .expect_err("ec key as rsa");
    assert!(
        err.to_string().starts_with("client.token.rsa_public_key: "),
        "{err}"
    );
    let err = try_verifier(json!({"client": {"token": {"rsa_public_key": RSA_PRIVATE}}}))
        .expect_err("private key");
    assert!(
        err.to_string().starts_with("client.token.rsa_public_key: "),
        "{err}"
    );
    let err = try_verifier(json!({"client": {
        "subscription_token": {"enabled": true, "ecdsa_public_key": RSA_PUBLIC}}}))
    .expect_err("rsa key as ec");
    assert!(
        err.to_string()
            .starts_with("client.subscription_token.ecdsa_public_key: "),
        "{err}"
    );
}

#[test]
fn audience_and_issuer() {
    let v = verifier(json!({"client": {"token": {
        "hmac_secret_key": SECRET, "audience": "app", "issuer": "https://auth"}}}));
    let ok = hs256(json!({"sub": "1", "aud": "app", "iss": "https://auth"}));
    assert!(connect(&v, &ok).is_ok());
    let ok_list = hs256(json!({"sub": "1", "aud": ["other", "app"], "iss": "https://auth"}));
    assert!(connect(&v, &ok_list).is_ok());
    assert_invalid(connect(
        &v,
        &hs256(json!({"sub": "1", "aud": "other", "iss": "https://auth"})),
    ));
    assert_invalid(connect(
        &v,
        &hs256(json!({"sub": "1", "iss": "https://auth"})),
    ));
    assert_invalid(connect(
        &v,
        &hs256(json!({"sub": "1", "aud": "app", "iss": "https://evil"})),
    ));
    assert_invalid(connect(&v, &hs256(json!({"sub": "1", "aud": "app"}))));

    // Unconfigured checks ignore the claims entirely.
    let open = hmac_verifier();
    assert!(connect(&open, &hs256(json!({"sub": "1", "aud": "x", "iss": "y"}))).is_ok());

    let re = verifier(json!({"client": {"token": {
        "hmac_secret_key": SECRET, "audience_regex": "^app-[0-9]+$",
        "issuer_regex": "^https://[a-z]+\\.example$"}}}));
    let ok = hs256(json!({"sub": "1", "aud": ["x", "app-7"], "iss": "https://one.example"}));
    assert!(connect(&re, &ok).is_ok());
    let bad = hs256(json!({"sub": "1", "aud": "app-x", "iss": "https://one.example"}));
    assert_invalid(connect(&re, &bad));
}

#[test]
fn b64info_and_subs_overrides() {
    let token = hs256(json!({
        "sub": "1",
        "b64info": "aGVsbG8=",
        "info": {"ignored": true},
        "subs": {
            "chat:1": {
                "info": {"room": 1},
                "b64data": "AAE=",
                "override": {
                    "presence": {"value": false},
                    "join_leave": {"value": true},
                    "force_push_join_leave": {},
                    "force_positioning": null,
                    "force_recovery": {"value": true}
                }
            },
            "news": {}
        }
    }));
    let claims = connect(&hmac_verifier(), &token).expect("valid");
    assert_eq!(claims.info, Bytes::from_static(b"hello"));
    let mut expected = HashMap::new();
    expected.insert(
        "chat:1".to_owned(),
        SubscribeOptionsClaim {
            info: Bytes::from_static(br#"{"room":1}"#),
            data: Bytes::from_static(&[0, 1]),
            overrides: SubscribeOverride {
                presence: Some(false),
                join_leave: Some(true),
                force_push_join_leave: Some(false),
                force_positioning: None,
                force_recovery: Some(true),
            },
        },
    );
    expected.insert("news".to_owned(), SubscribeOptionsClaim::default());
    assert_eq!(claims.subs, expected);
}

#[test]
fn connect_token_with_channel_claim_is_invalid() {
    let v = hmac_verifier();
    assert_invalid(connect(&v, &hs256(json!({"sub": "1", "channel": "news"}))));
    // Even an expired one: the channel check comes first.
    assert_invalid(connect(
        &v,
        &hs256(json!({"sub": "1", "channel": "news", "exp": 1})),
    ));
    // An empty channel claim is tolerated, as in Centrifugo.
    assert!(connect(&v, &hs256(json!({"sub": "1", "channel": ""}))).is_ok());
}

#[test]
fn user_id_claim() {
    let v = verifier(json!({"client": {"token": {
        "hmac_secret_key": SECRET, "user_id_claim": "user_id"}}}));
    let claims = connect(&v, &hs256(json!({"sub": "ignored", "user_id": "u-1"}))).expect("valid");
    assert_eq!(claims.user, "u-1");
    let numeric = connect(&v, &hs256(json!({"user_id": 77}))).expect("valid");
    assert_eq!(numeric.user, "77");
    let missing = connect(&v, &hs256(json!({"sub": "s"}))).expect("valid");
    assert_eq!(missing.user, "");
    let sub = subscribe(&v, &hs256(json!({"user_id": "u-2", "channel": "$c"}))).expect("valid");
    assert_eq!(sub.user, "u-2");
}

#[test]
fn subscription_tokens() {
    let v = hmac_verifier();
    let token = hs256(json!({
        "sub": "1", "channel": "$private", "client": "c-1", "exp": NOW as i64 + 5,
        "info": {"a": 1}, "b64data": "AQ==",
        "override": {"presence": {"value": true}}
    }));
    let claims = subscribe(&v, &token).expect("valid");
    assert_eq!(claims.user, "1");
    assert_eq!(claims.channel, "$private");
    assert_eq!(claims.client, "c-1");
    assert_eq!(claims.expire_at, Some(NOW as i64 + 5));
    assert_eq!(claims.info, Bytes::from_static(br#"{"a":1}"#));
    assert_eq!(claims.data, Bytes::from_static(&[1]));
    assert_eq!(claims.overrides.presence, Some(true));
    assert_eq!(claims.overrides.join_leave, None);

    let with_expire_at = hs256(json!({"sub": "1", "channel": "$p", "exp": NOW as i64 + 5,
                                      "expire_at": 0, "data": [1, 2]}));
    let claims = subscribe(&v, &with_expire_at).expect("valid");
    assert_eq!(claims.expire_at, None);
    assert_eq!(claims.data, Bytes::from_static(b"[1,2]"));

    assert_invalid(subscribe(&v, &hs256(json!({"sub": "1"}))));
    assert_invalid(subscribe(&v, &hs256(json!({"sub": "1", "channel": ""}))));
}

#[test]
fn subscription_token_section_when_enabled() {
    let v = verifier(json!({"client": {
        "token": {"hmac_secret_key": SECRET},
        "subscription_token": {"enabled": true, "hmac_secret_key": "sub-secret"}
    }}));
    let claims = json!({"sub": "1", "channel": "$c"});
    let with_connect_key = hs256(claims.clone());
    assert_invalid(subscribe(&v, &with_connect_key));
    let with_sub_key = sign(Algorithm::HS256, &hmac_key(b"sub-secret"), &claims);
    assert!(subscribe(&v, &with_sub_key).is_ok());
    // Connection tokens still use client.token.
    let connect_claims = json!({"sub": "1"});
    assert!(connect(&v, &hs256(connect_claims.clone())).is_ok());
    let signed_with_sub_key = sign(Algorithm::HS256, &hmac_key(b"sub-secret"), &connect_claims);
    assert_invalid(connect(&v, &signed_with_sub_key));
}

#[test]
fn previous_hmac_secret_during_rotation() {
    let old = sign(Algorithm::HS256, &hmac_key(b"old"), &json!({"sub": "1"}));
    let current = hs256(json!({"sub": "1"}));
    let stranger = sign(Algorithm::HS256, &hmac_key(b"other"), &json!({"sub": "1"}));
    let open_ended = verifier(json!({"client": {"token": {
        "hmac_secret_key": SECRET, "hmac_previous_secret_key": "old"}}}));
    assert!(connect(&open_ended, &old).is_ok());
    assert_invalid(connect(&open_ended, &stranger));

    // NOW is 1_800_000_000.5: the deadline's own second still accepts, as Centrifugo compares
    // whole seconds with `now > valid_until`.
    let until = NOW.floor() as i64;
    let rotating = verifier(json!({"client": {"token": {
        "hmac_secret_key": SECRET, "hmac_previous_secret_key": "old",
        "hmac_previous_secret_key_valid_until": until}}}));
    for now in [NOW - 86_400.0, NOW] {
        let claims = rotating
            .verify_connect_at(&old, now)
            .expect("old secret before deadline");
        assert_eq!(claims.user, "1");
    }
    for now in [NOW + 1.0, NOW + 86_400.0] {
        assert_invalid(rotating.verify_connect_at(&old, now));
    }
    for now in [NOW - 86_400.0, NOW, NOW + 86_400.0] {
        assert!(
            rotating.verify_connect_at(&current, now).is_ok(),
            "at {now}"
        );
        assert_invalid(rotating.verify_connect_at(&stranger, now));
    }
    // HS384 / HS512 tokens use the same secrets.
    let old_hs512 = sign(Algorithm::HS512, &hmac_key(b"old"), &json!({"sub": "1"}));
    assert!(rotating.verify_connect_at(&old_hs512, NOW).is_ok());
    assert_invalid(rotating.verify_connect_at(&old_hs512, NOW + 1.0));
}

#[test]
fn previous_hmac_secret_for_subscription_tokens() {
    let v = verifier(json!({"client": {
        "token": {"hmac_secret_key": SECRET},
        "subscription_token": {"enabled": true, "hmac_secret_key": "sub-new",
            "hmac_previous_secret_key": "sub-old",
            "hmac_previous_secret_key_valid_until": NOW as i64 + 60}}}));
    let claims = json!({"sub": "1", "channel": "$x"});
    let old = sign(Algorithm::HS256, &hmac_key(b"sub-old"), &claims);
    assert!(v.verify_subscribe_at(&old, NOW).is_ok());
    assert_invalid(v.verify_subscribe_at(&old, NOW + 120.0));
    let new = sign(Algorithm::HS256, &hmac_key(b"sub-new"), &claims);
    assert!(v.verify_subscribe_at(&new, NOW + 120.0).is_ok());
    // The connection token's previous secret is its own: none here.
    let old_connect = sign(
        Algorithm::HS256,
        &hmac_key(b"sub-old"),
        &json!({"sub": "1"}),
    );
    assert_invalid(v.verify_connect_at(&old_connect, NOW));
}

/// Centrifugo tries the previous secret after any failure of the current keys, so a
/// configuration that already dropped `hmac_secret_key` still accepts old tokens until the end.
#[test]
fn previous_hmac_secret_without_a_current_one() {
    let v = verifier(json!({"client": {"token": {
        "hmac_previous_secret_key": "old",
        "hmac_previous_secret_key_valid_until": NOW as i64}}}));
    let old = sign(Algorithm::HS256, &hmac_key(b"old"), &json!({"sub": "1"}));
    assert!(v.verify_connect_at(&old, NOW).is_ok());
    assert_invalid(v.verify_connect_at(&old, NOW + 1.0));
    assert_invalid(v.verify_connect_at(&hs256(json!({"sub": "1"})), NOW));
}

#[test]
fn skip_signature_verification_still_reads_claims() {
    let v = verifier(json!({"client": {"insecure_skip_token_signature_verify": true}}));
    let token = sign(
        Algorithm::HS256,
        &hmac_key(b"anything"),
        &json!({"sub": "7", "exp": 1}),
    );
    assert_eq!(connect(&v, &token), Err(TokenError::Expired));
    let token = sign(
        Algorithm::HS256,
        &hmac_key(b"anything"),
        &json!({"sub": "7"}),
    );
    assert_eq!(connect(&v, &token).expect("valid").user, "7");
}

#[test]
fn trait_uses_the_real_clock() {
    let v = hmac_verifier();
    let token = hs256(json!({"sub": "1", "exp": unix_now() as i64 + 3600}));
    assert!(v.verify_connect_token(&token).is_ok());
    let expired = hs256(json!({"sub": "1", "exp": unix_now() as i64 - 3600}));
    assert_eq!(v.verify_connect_token(&expired), Err(TokenError::Expired));
    let sub = hs256(json!({"sub": "1", "channel": "$x"}));
    assert!(v.verify_subscribe_token(&sub).is_ok());
}
