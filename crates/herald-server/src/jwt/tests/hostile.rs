//! Hostile tokens, one table: each row is a token, the check it goes through and what must come
//! out, first from the verifier (a typed [`TokenError`] or claims) and then as the client sees it
//! through a real hub (memory engine, this verifier), where the code is decided.
//!
//! Codes, as in Centrifugo v6 (`docs/protocol.md` §2.4 and §7):
//! - connect: `exp` passed or `nbf` ahead -> error 109 "token expired" (the SDK fetches a new
//!   token); any other verification failure -> disconnect 3500 "invalid token" (no reconnect);
//!   no token at all -> disconnect 3501; a valid token whose `expire_at` has passed -> error 110.
//! - subscribe: expired -> error 109; invalid -> error 103 "permission denied" (an error, the
//!   connection stays); a valid token for another channel, user or client -> disconnect 3500;
//!   a `$` channel without a token -> error 103.
//!
//! With static keys `kid` is not a check of its own (one key per algorithm family, so the
//! signature decides, as in Centrifugo); with a JWKS endpoint it picks the key (`jwt/jwks.rs`,
//! `tests/e2e/jwks.test.mjs`).

use std::sync::Arc;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use herald_engine::memory::MemoryEngine;
use herald_hub::{Drained, Hub};
use herald_proto::{DisconnectCode, ErrorCode, Protocol, Reply};

use super::*;

/// The connection's user for subscribe rows.
const USER: &str = "alice";
/// The private channel subscribe rows ask for.
const CHANNEL: &str = "$room";
/// Audience and issuer of the `aud_iss` configuration.
const AUD: &str = "app";
const ISS: &str = "https://auth";
/// `{"sub":"alice"}` signed HS256 with an empty key, written out because jsonwebtoken refuses to
/// build an empty HMAC key (Python: `hmac.new(b"", message, hashlib.sha256)`).
const EMPTY_KEY_HS256: &str = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJhbGljZSJ9.\
                               W9AcROShgDz7J54MI1h40vKuqKcbmf8gXmcYRHS5Bkk";

/// Which verification a row's token goes through.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Check {
    /// `connect` with the token.
    Connect,
    /// `subscribe` to [`CHANNEL`] with the token, on a connection of [`USER`].
    Subscribe,
}

/// What the verifier returns.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Verdict {
    Invalid,
    Expired,
    /// Verified claims; the hub may still refuse them (another channel, user, client).
    Accepted,
}

/// What the client receives.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Outcome {
    /// An error reply with this code; the connection stays open.
    Error(u32),
    /// The connection is closed with this code.
    Disconnect(u16),
    /// The connect or subscribe succeeded.
    Ok,
}

const TOKEN_EXPIRED: Outcome = Outcome::Error(ErrorCode::TOKEN_EXPIRED.code);
const EXPIRED: Outcome = Outcome::Error(ErrorCode::EXPIRED.code);
const PERMISSION_DENIED: Outcome = Outcome::Error(ErrorCode::PERMISSION_DENIED.code);
const INVALID_TOKEN: Outcome = Outcome::Disconnect(DisconnectCode::INVALID_TOKEN.code);
const NO_CREDENTIALS: Outcome = Outcome::Disconnect(DisconnectCode::BAD_REQUEST.code);

struct Case {
    name: &'static str,
    config: Value,
    check: Check,
    token: String,
    verdict: Verdict,
    outcome: Outcome,
}

fn case(
    name: &'static str,
    config: Value,
    check: Check,
    token: String,
    verdict: Verdict,
    outcome: Outcome,
) -> Case {
    Case {
        name,
        config,
        check,
        token,
        verdict,
        outcome,
    }
}

/// Every row; token times are relative to `now` (Unix seconds).
#[rustfmt::skip] // one row per line
fn cases(now: i64) -> Vec<Case> {
    use Check::{Connect, Subscribe};
    use Verdict::{Accepted, Expired, Invalid};
    let user = |extra: Value| {
        let mut claims = json!({"sub": USER, "exp": now + 3600});
        merge(&mut claims, extra);
        claims
    };
    let sub = |extra: Value| user(merge_into(json!({"channel": CHANNEL}), extra));
    let big = "x".repeat(64 * 1024);
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    vec![
        // Controls: the same configurations accept a good token.
        case("valid connection token", hmac(), Connect, hs256(user(json!({}))), Accepted, Outcome::Ok),
        case("valid subscription token", hmac(), Subscribe, hs256(sub(json!({}))), Accepted, Outcome::Ok),
        // Not a token at all.
        case("empty string", hmac(), Connect, String::new(), Invalid, NO_CREDENTIALS),
        case("empty string", hmac(), Subscribe, String::new(), Invalid, PERMISSION_DENIED),
        case("garbage base64", hmac(), Connect, "!!!.@@@.###".into(), Invalid, INVALID_TOKEN),
        case("garbage base64", hmac(), Subscribe, "%%.^^.&&".into(), Invalid, PERMISSION_DENIED),
        case("one segment", hmac(), Connect, "abc".into(), Invalid, INVALID_TOKEN),
        case("four segments", hmac(), Connect, format!("{}.x", hs256(user(json!({})))), Invalid, INVALID_TOKEN),
        case("base64 of non-JSON", hmac(), Connect, format!("{}.{}.{}", b64("hello"), b64("world"), b64("sig")), Invalid, INVALID_TOKEN),
        case("64 KiB of garbage", hmac(), Connect, "A".repeat(64 * 1024), Invalid, INVALID_TOKEN),
        case("64 KiB of dots", hmac(), Subscribe, ".".repeat(64 * 1024), Invalid, PERMISSION_DENIED),
        // Signature and algorithm attacks.
        case("alg none, no signature", hmac(), Connect, unsigned("none", &user(json!({}))), Invalid, INVALID_TOKEN),
        case("alg none, no signature", hmac(), Subscribe, unsigned("none", &sub(json!({}))), Invalid, PERMISSION_DENIED),
        case("alg None, HMAC signature", hmac(), Connect, hand_signed(r#"{"alg":"None"}"#, &user(json!({})), SECRET.as_bytes()), Invalid, INVALID_TOKEN),
        case("no alg", hmac(), Connect, hand_signed(r#"{"typ":"JWT"}"#, &user(json!({})), SECRET.as_bytes()), Invalid, INVALID_TOKEN),
        case("crit names an extension Herald does not know", hmac(), Connect, hand_signed(r#"{"alg":"HS256","crit":["x"],"x":1}"#, &user(json!({})), SECRET.as_bytes()), Invalid, INVALID_TOKEN),
        case("HS256 keyed with the RSA public PEM (RSA only)", rsa(), Connect, pem_as_secret(&user(json!({}))), Invalid, INVALID_TOKEN),
        case("HS256 keyed with the RSA public PEM (RSA and HMAC)", rsa_and_hmac(), Connect, pem_as_secret(&user(json!({}))), Invalid, INVALID_TOKEN),
        case("HS256 keyed with the RSA public PEM (RSA sub tokens)", rsa_subscriptions(), Subscribe, pem_as_secret(&sub(json!({}))), Invalid, PERMISSION_DENIED),
        case("connection key on an RSA-only subscription section", rsa_subscriptions(), Subscribe, hs256(sub(json!({}))), Invalid, PERMISSION_DENIED),
        case("HS256 with an empty secret, no HMAC key", rsa(), Connect, EMPTY_KEY_HS256.to_owned(), Invalid, INVALID_TOKEN),
        case("RS256 with an empty signature", rsa(), Connect, unsigned("RS256", &user(json!({}))), Invalid, INVALID_TOKEN),
        case("ES256 with an all-zero signature", ec256(), Connect, zero_signature("ES256", &user(json!({}))), Invalid, INVALID_TOKEN),
        case("signature of another payload", hmac(), Connect, swap_payload(&hs256(user(json!({}))), &user(json!({"sub": "admin"}))), Invalid, INVALID_TOKEN),
        case("unknown kid, other key", hmac(), Connect, with_kid("k-404", b"other", &user(json!({}))), Invalid, INVALID_TOKEN),
        case("unknown kid, other key", hmac(), Subscribe, with_kid("../../etc/passwd", b"other", &sub(json!({}))), Invalid, PERMISSION_DENIED),
        case("unknown kid, configured key (kid is not a check)", hmac(), Connect, with_kid("k-404", SECRET.as_bytes(), &user(json!({}))), Accepted, Outcome::Ok),
        // Time.
        case("exp in the past", hmac(), Connect, hs256(user(json!({"exp": now - 1}))), Expired, TOKEN_EXPIRED),
        case("exp in the past", hmac(), Subscribe, hs256(sub(json!({"exp": now - 1}))), Expired, TOKEN_EXPIRED),
        case("nbf in the future", hmac(), Connect, hs256(user(json!({"nbf": now + 60}))), Expired, TOKEN_EXPIRED),
        case("nbf in the future", hmac(), Subscribe, hs256(sub(json!({"nbf": now + 60}))), Expired, TOKEN_EXPIRED),
        case("exp in the past, bad signature", hmac(), Connect, sign(Algorithm::HS256, &hmac_key(b"other"), &user(json!({"exp": 1}))), Invalid, INVALID_TOKEN),
        case("expire_at in the past, exp ahead", hmac(), Connect, hs256(user(json!({"expire_at": now - 1}))), Accepted, EXPIRED),
        case("exp far beyond any clock", hmac(), Connect, hs256(user(json!({"exp": 1e300}))), Accepted, Outcome::Ok),
        case("expire_at of i64::MAX", hmac(), Connect, hs256(user(json!({"expire_at": i64::MAX}))), Accepted, Outcome::Ok),
        case("expire_at of i64::MAX", hmac(), Subscribe, hs256(sub(json!({"expire_at": i64::MAX}))), Accepted, Outcome::Ok),
        case("exp out of f64 range", hmac(), Connect, signed_text(r#"{"sub":"alice","exp":1e400}"#), Invalid, INVALID_TOKEN),
        // Audience and issuer (client.token.audience / issuer).
        case("wrong aud", aud_iss(), Connect, hs256(user(json!({"aud": "evil", "iss": ISS}))), Invalid, INVALID_TOKEN),
        case("wrong aud", aud_iss(), Subscribe, hs256(sub(json!({"aud": "evil", "iss": ISS}))), Invalid, PERMISSION_DENIED),
        case("no aud", aud_iss(), Connect, hs256(user(json!({"iss": ISS}))), Invalid, INVALID_TOKEN),
        case("wrong iss", aud_iss(), Connect, hs256(user(json!({"aud": AUD, "iss": "https://evil"}))), Invalid, INVALID_TOKEN),
        case("wrong iss", aud_iss(), Subscribe, hs256(sub(json!({"aud": AUD, "iss": "https://evil"}))), Invalid, PERMISSION_DENIED),
        // Claims of the wrong type, validly signed.
        case("claims are an array", hmac(), Connect, hs256(json!([USER, now + 3600])), Invalid, INVALID_TOKEN),
        case("claims are an array", hmac(), Subscribe, hs256(json!([USER, now + 3600, CHANNEL])), Invalid, PERMISSION_DENIED),
        case("claims are a string", hmac(), Connect, hs256(json!(USER)), Invalid, INVALID_TOKEN),
        case("sub is a number", hmac(), Connect, hs256(user(json!({"sub": 42}))), Invalid, INVALID_TOKEN),
        case("sub is an array", hmac(), Connect, hs256(user(json!({"sub": [USER]}))), Invalid, INVALID_TOKEN),
        case("sub is an object", hmac(), Subscribe, hs256(sub(json!({"sub": {"id": USER}}))), Invalid, PERMISSION_DENIED),
        case("exp is a word", hmac(), Connect, hs256(user(json!({"exp": "soon"}))), Invalid, INVALID_TOKEN),
        case("exp is a bool", hmac(), Subscribe, hs256(sub(json!({"exp": true}))), Invalid, PERMISSION_DENIED),
        case("nbf is an object", hmac(), Connect, hs256(user(json!({"nbf": {}}))), Invalid, INVALID_TOKEN),
        case("aud is a number", hmac(), Connect, hs256(user(json!({"aud": 5}))), Invalid, INVALID_TOKEN),
        case("iss is a number", hmac(), Connect, hs256(user(json!({"iss": 5}))), Invalid, INVALID_TOKEN),
        case("expire_at is a word", hmac(), Connect, hs256(user(json!({"expire_at": "never"}))), Invalid, INVALID_TOKEN),
        case("channels is a number", hmac(), Connect, hs256(user(json!({"channels": 5}))), Invalid, INVALID_TOKEN),
        case("channels holds a number", hmac(), Connect, hs256(user(json!({"channels": ["news", 1]}))), Invalid, INVALID_TOKEN),
        case("channels is a string", hmac(), Connect, hs256(user(json!({"channels": "news"}))), Invalid, INVALID_TOKEN),
        case("subs is an array", hmac(), Connect, hs256(user(json!({"subs": ["news"]}))), Invalid, INVALID_TOKEN),
        case("subs entry is a number", hmac(), Connect, hs256(user(json!({"subs": {"news": 5}}))), Invalid, INVALID_TOKEN),
        case("subs entry is an array", hmac(), Connect, hs256(user(json!({"subs": {"news": [{}]}}))), Invalid, INVALID_TOKEN),
        case("subs override is a bool", hmac(), Connect, hs256(user(json!({"subs": {"news": {"override": {"presence": true}}}}))), Invalid, INVALID_TOKEN),
        case("subs override is an array", hmac(), Connect, hs256(user(json!({"subs": {"news": {"override": {"presence": [true]}}}}))), Invalid, INVALID_TOKEN),
        case("b64info is a number", hmac(), Connect, hs256(user(json!({"b64info": 5}))), Invalid, INVALID_TOKEN),
        case("b64info is not base64", hmac(), Subscribe, hs256(sub(json!({"b64info": "%%%"}))), Invalid, PERMISSION_DENIED),
        case("channel is a number", hmac(), Subscribe, hs256(user(json!({"channel": 5}))), Invalid, PERMISSION_DENIED),
        case("client is a number", hmac(), Subscribe, hs256(sub(json!({"client": 5}))), Invalid, PERMISSION_DENIED),
        case("override is a string", hmac(), Subscribe, hs256(sub(json!({"override": "all"}))), Invalid, PERMISSION_DENIED),
        case("override is an array", hmac(), Subscribe, hs256(sub(json!({"override": [{"presence": {"value": true}}]}))), Invalid, PERMISSION_DENIED),
        // `info`, `meta` and `data` are raw JSON of any type (Go's json.RawMessage): a number
        // or a string is a value, not a type error.
        case("info is a number (any JSON)", hmac(), Connect, hs256(user(json!({"info": 5}))), Accepted, Outcome::Ok),
        case("meta is a string (any JSON)", hmac(), Connect, hs256(user(json!({"meta": "x"}))), Accepted, Outcome::Ok),
        case("info nested 100,000 deep", hmac(), Connect, signed_text(&format!(r#"{{"sub":"alice","info":{deep}}}"#)), Invalid, INVALID_TOKEN),
        case("64 KiB info, bad signature", hmac(), Connect, sign(Algorithm::HS256, &hmac_key(b"other"), &user(json!({"info": big}))), Invalid, INVALID_TOKEN),
        // Size is the transport's limit (websocket.message_size_limit), not the verifier's.
        case("64 KiB info, signed", hmac(), Connect, hs256(user(json!({"info": big}))), Accepted, Outcome::Ok),
        // Tokens for something else.
        case("subscription token to connect", hmac(), Connect, hs256(sub(json!({}))), Invalid, INVALID_TOKEN),
        case("connection token to subscribe", hmac(), Subscribe, hs256(user(json!({}))), Invalid, PERMISSION_DENIED),
        case("empty channel claim", hmac(), Subscribe, hs256(sub(json!({"channel": ""}))), Invalid, PERMISSION_DENIED),
        case("another channel", hmac(), Subscribe, hs256(sub(json!({"channel": "$other"}))), Accepted, INVALID_TOKEN),
        case("another user", hmac(), Subscribe, hs256(sub(json!({"sub": "bob"}))), Accepted, INVALID_TOKEN),
        case("anonymous user", hmac(), Subscribe, hs256(sub(json!({"sub": ""}))), Accepted, INVALID_TOKEN),
        case("another client", hmac(), Subscribe, hs256(sub(json!({"client": "someone-else"}))), Accepted, INVALID_TOKEN),
    ]
}

#[test]
fn hostile_tokens_get_their_verdict() {
    let now = NOW as i64;
    let mut wrong = Vec::new();
    for case in cases(now) {
        let v = verifier(case.config.clone());
        let at = now as f64 + 0.5;
        let verdict = match case.check {
            Check::Connect => verdict(v.verify_connect_at(&case.token, at)),
            Check::Subscribe => verdict(v.verify_subscribe_at(&case.token, at)),
        };
        if verdict != case.verdict {
            wrong.push(format!(
                "{:?} {}: expected {:?}, got {verdict:?}",
                case.check, case.name, case.verdict
            ));
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
}

#[tokio::test]
async fn hostile_tokens_get_their_code_through_the_hub() {
    let now = unix_now() as i64;
    let mut wrong = Vec::new();
    for case in cases(now) {
        let outcome = through_hub(&case).await;
        if outcome != case.outcome {
            wrong.push(format!(
                "{:?} {}: expected {:?}, got {outcome:?}",
                case.check, case.name, case.outcome
            ));
        }
    }
    assert!(wrong.is_empty(), "{wrong:#?}");
}

#[test]
fn far_expiry_is_capped_at_a_year() {
    let v = hmac_verifier();
    let cap = NOW as i64 + MAX_TTL_SECS;
    for claims in [
        json!({"sub": USER, "exp": 1e300}),
        json!({"sub": USER, "expire_at": i64::MAX}),
        json!({"sub": USER, "exp": cap + 10}),
    ] {
        let expire_at = connect(&v, &hs256(claims.clone()))
            .expect("valid")
            .expire_at;
        assert_eq!(expire_at, Some(cap), "{claims}");
    }
    let sub = hs256(json!({"sub": USER, "channel": CHANNEL, "expire_at": i64::MAX}));
    assert_eq!(subscribe(&v, &sub).expect("valid").expire_at, Some(cap));
    let near = hs256(json!({"sub": USER, "exp": NOW as i64 + 10}));
    assert_eq!(
        connect(&v, &near).expect("valid").expire_at,
        Some(NOW as i64 + 10)
    );
}

#[tokio::test]
async fn far_expiry_gives_a_ttl_of_a_year_at_most() {
    let token = hs256(json!({"sub": USER, "expire_at": i64::MAX}));
    let case = case(
        "ttl",
        hmac(),
        Check::Connect,
        token,
        Verdict::Accepted,
        Outcome::Ok,
    );
    let (replies, close) = run(&case).await;
    assert_eq!(close, None);
    let ttl = replies[0].connect.as_ref().expect("connected").ttl;
    assert!(
        (MAX_TTL_SECS as u32 - 5..=MAX_TTL_SECS as u32).contains(&ttl),
        "ttl {ttl}"
    );
}

#[test]
fn nesting_is_limited_like_go() {
    let v = hmac_verifier();
    let nested = |depth: usize| {
        // The claims object is the first level.
        let inner = depth - 1;
        signed_text(&format!(
            r#"{{"sub":"alice","info":{}{}}}"#,
            "[".repeat(inner),
            "]".repeat(inner)
        ))
    };
    assert!(connect(&v, &nested(MAX_CLAIMS_DEPTH)).is_ok());
    assert!(matches!(
        connect(&v, &nested(MAX_CLAIMS_DEPTH + 1)),
        Err(TokenError::Invalid(_))
    ));
    // Brackets inside strings are text.
    let text = json!({"sub": USER, "info": "[".repeat(MAX_CLAIMS_DEPTH + 1)});
    assert!(connect(&v, &hs256(text)).is_ok());
    // An escaped quote does not end the string.
    let escaped = signed_text(&format!(
        r#"{{"sub":"alice","info":"\"{}"}}"#,
        "[".repeat(MAX_CLAIMS_DEPTH + 1)
    ));
    assert!(connect(&v, &escaped).is_ok());
}

fn verdict<T>(result: Result<T, TokenError>) -> Verdict {
    match result {
        Ok(_) => Verdict::Accepted,
        Err(TokenError::Expired) => Verdict::Expired,
        Err(TokenError::Invalid(_)) => Verdict::Invalid,
    }
}

/// The row's outcome on a fresh hub configured like the row.
async fn through_hub(case: &Case) -> Outcome {
    let (replies, close) = run(case).await;
    if let Some(code) = close {
        return Outcome::Disconnect(code);
    }
    match replies.last() {
        Some(Reply {
            error: Some(error), ..
        }) => Outcome::Error(error.code),
        Some(reply) if reply.connect.is_some() || reply.subscribe.is_some() => Outcome::Ok,
        other => panic!("{}: unexpected reply {other:?}", case.name),
    }
}

/// Runs the row's check on a fresh hub configured like the row: the replies to the check's
/// command and the close code, if any.
async fn run(case: &Case) -> (Vec<Reply>, Option<u16>) {
    let loaded = load_str(&case.config.to_string(), Format::Json, Vec::new()).expect("loads");
    let validated = loaded.config.validate().expect("validates");
    let verifier = JwtVerifier::from_config(&validated.tokens).expect("verifier builds");
    let engine = Arc::new(MemoryEngine::new());
    let hub = Hub::new(validated.node, engine.clone(), engine, Arc::new(verifier));
    hub.start().await.expect("memory engine starts");
    let mut session = hub.session(Protocol::Json);
    let frame = match case.check {
        Check::Connect => json!({"id": 1, "connect": {"token": case.token}}),
        Check::Subscribe => {
            // Carries the audience and issuer the `aud_iss` configuration asks for.
            let login = hs256(json!({"sub": USER, "aud": AUD, "iss": ISS}));
            let connect = json!({"id": 1, "connect": {"token": login}});
            let _ = session.handle_frame(connect.to_string().as_bytes()).await;
            let (replies, close) = take(&session).await;
            assert!(
                close.is_none() && replies.first().is_some_and(|r| r.connect.is_some()),
                "{}: connecting as {USER} failed: {replies:?} {close:?}",
                case.name
            );
            json!({"id": 2, "subscribe": {"channel": CHANNEL, "token": case.token}})
        }
    };
    let _ = session.handle_frame(frame.to_string().as_bytes()).await;
    let result = take(&session).await;
    hub.shutdown();
    result
}

/// Everything queued so far, decoded; plus the close code if the outbox is closed.
async fn take(session: &herald_hub::Session) -> (Vec<Reply>, Option<u16>) {
    let outbox = session.outbox();
    let drained = tokio::time::timeout(std::time::Duration::from_millis(50), outbox.drain()).await;
    let (messages, close) = match drained {
        Ok(Drained::Messages(messages)) => (messages, None),
        Ok(Drained::Close(messages, disconnect)) => (messages, Some(disconnect.code)),
        Err(_) => (Vec::new(), None),
    };
    let replies = messages
        .iter()
        .flat_map(|m| herald_proto::decode_reply(Protocol::Json, m).expect("valid reply"))
        .collect();
    (replies, close)
}

fn hmac() -> Value {
    json!({"client": {"token": {"hmac_secret_key": SECRET}}})
}

fn rsa() -> Value {
    json!({"client": {"token": {"rsa_public_key": RSA_PUBLIC}}})
}

fn rsa_and_hmac() -> Value {
    json!({"client": {"token": {"rsa_public_key": RSA_PUBLIC, "hmac_secret_key": SECRET}}})
}

/// Connection tokens by HMAC, subscription tokens by RSA only.
fn rsa_subscriptions() -> Value {
    json!({"client": {
        "token": {"hmac_secret_key": SECRET},
        "subscription_token": {"enabled": true, "rsa_public_key": RSA_PUBLIC}
    }})
}

fn ec256() -> Value {
    json!({"client": {"token": {"ecdsa_public_key": EC256_PUBLIC}}})
}

fn aud_iss() -> Value {
    json!({"client": {"token": {"hmac_secret_key": SECRET, "audience": AUD, "issuer": ISS}}})
}

fn b64(text: &str) -> String {
    URL_SAFE_NO_PAD.encode(text.as_bytes())
}

/// `header.payload.` with no signature.
fn unsigned(alg: &str, claims: &Value) -> String {
    let header = json!({"alg": alg, "typ": "JWT"}).to_string();
    format!("{}.{}.", b64(&header), b64(&claims.to_string()))
}

/// Any header text, HMAC-SHA256 signed with `secret`.
fn hand_signed(header: &str, claims: &Value, secret: &[u8]) -> String {
    let message = format!("{}.{}", b64(header), b64(&claims.to_string()));
    let key = hmac_key(secret);
    let signature =
        jsonwebtoken::crypto::sign(message.as_bytes(), &key, Algorithm::HS256).expect("signs");
    format!("{message}.{signature}")
}

/// Claims text as written (not re-serialized), HS256 signed with [`SECRET`].
fn signed_text(claims: &str) -> String {
    let message = format!("{}.{}", b64(r#"{"alg":"HS256","typ":"JWT"}"#), b64(claims));
    let key = hmac_key(SECRET.as_bytes());
    let signature =
        jsonwebtoken::crypto::sign(message.as_bytes(), &key, Algorithm::HS256).expect("signs");
    format!("{message}.{signature}")
}

/// Algorithm confusion: HS256 keyed with the server's RSA public key, which an attacker has.
fn pem_as_secret(claims: &Value) -> String {
    sign(Algorithm::HS256, &hmac_key(RSA_PUBLIC.as_bytes()), claims)
}

/// ECDSA's (r, s) = (0, 0) signature ("psychic signatures", CVE-2022-21449).
fn zero_signature(alg: &str, claims: &Value) -> String {
    format!(
        "{}{}",
        unsigned(alg, claims),
        URL_SAFE_NO_PAD.encode([0u8; 64])
    )
}

fn with_kid(kid: &str, secret: &[u8], claims: &Value) -> String {
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some(kid.to_owned());
    encode(&header, claims, &hmac_key(secret)).expect("signs")
}

/// `token`'s header and signature around another payload.
fn swap_payload(token: &str, claims: &Value) -> String {
    let mut parts = token.split('.');
    let (header, _, signature) = (parts.next(), parts.next(), parts.next());
    format!(
        "{}.{}.{}",
        header.unwrap_or_default(),
        b64(&claims.to_string()),
        signature.unwrap_or_default()
    )
}

fn merge(target: &mut Value, extra: Value) {
    if let (Value::Object(target), Value::Object(extra)) = (target, extra) {
        target.extend(extra);
    }
}

fn merge_into(mut base: Value, extra: Value) -> Value {
    merge(&mut base, extra);
    base
}
