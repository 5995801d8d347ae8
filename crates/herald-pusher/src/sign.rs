//! Pusher's signatures (`auth-signatures.md`): HMAC-SHA256 with the app's secret, written as
//! lower-case hex.
//!
//! - A private channel's `auth` is `"<key>:" + hex(HMAC(secret, "socket_id:channel"))`; a
//!   presence channel's signs `"socket_id:channel:channel_data"`, and so does a private one
//!   whose subscribe carries `channel_data` (the npm `pusher` library signs it whenever it is
//!   given one, and pusher-js then sends it).
//! - A sign-in's `auth` signs `"socket_id::user::user_data"`.
//! - A webhook's `X-Pusher-Signature` is `hex(HMAC(secret, body))`.
//!
//! Signatures are compared in constant time.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use crate::{ProtocolError, Signin, SocketId, Subscribe};

/// Checks a subscription's `auth` for the app with `key` and `secret`.
pub fn verify_channel_auth(
    key: &str,
    secret: &str,
    socket_id: &SocketId,
    subscribe: &Subscribe,
) -> Result<(), ProtocolError> {
    let auth = subscribe
        .auth
        .as_deref()
        .ok_or_else(|| ProtocolError::AuthRequired(subscribe.channel.to_string()))?;
    let socket_id = socket_id.to_string();
    let channel = subscribe.channel.as_str();
    let mut parts = vec![socket_id.as_bytes(), b":", channel.as_bytes()];
    if let Some(channel_data) = &subscribe.channel_data {
        parts.extend([b":".as_slice(), channel_data.as_bytes()]);
    }
    verify_auth(key, secret, &parts, auth)
}

/// Checks a sign-in's `auth`.
pub fn verify_signin(
    key: &str,
    secret: &str,
    socket_id: &SocketId,
    signin: &Signin,
) -> Result<(), ProtocolError> {
    let socket_id = socket_id.to_string();
    let parts = [
        socket_id.as_bytes(),
        b"::user::",
        signin.user_data.as_bytes(),
    ];
    verify_auth(key, secret, &parts, &signin.auth)
}

/// The lower-case hex HMAC-SHA256 of `message` with `secret`: a webhook's
/// `X-Pusher-Signature`, and what the auth endpoints sign.
pub fn hmac_hex(secret: &str, message: &[u8]) -> String {
    hex(&mac(secret, &[message]).finalize().into_bytes())
}

/// Whether `signature` (hex) is the HMAC-SHA256 of `message` with `secret`, in constant time.
pub fn verify_hex(secret: &str, message: &[u8], signature: &str) -> bool {
    verify_parts(secret, &[message], signature)
}

/// `auth` must be `"<key>:<hex>"` with this app's key and the signature of `parts` joined.
fn verify_auth(key: &str, secret: &str, parts: &[&[u8]], auth: &str) -> Result<(), ProtocolError> {
    let (given_key, signature) = auth
        .split_once(':')
        .ok_or(ProtocolError::InvalidSignature)?;
    if given_key != key || !verify_parts(secret, parts, signature) {
        return Err(ProtocolError::InvalidSignature);
    }
    Ok(())
}

fn verify_parts(secret: &str, parts: &[&[u8]], signature: &str) -> bool {
    let Some(signature) = unhex(signature) else {
        return false;
    };
    mac(secret, parts).verify_slice(&signature).is_ok()
}

fn mac(secret: &str, parts: &[&[u8]]) -> Hmac<Sha256> {
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.as_bytes()) else {
        unreachable!("HMAC accepts keys of every length")
    };
    for part in parts {
        mac.update(part);
    }
    mac
}

const HEX: &[u8; 16] = b"0123456789abcdef";

pub(crate) fn hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(2 * bytes.len());
    for byte in bytes {
        out.push(char::from(HEX[usize::from(byte >> 4)]));
        out.push(char::from(HEX[usize::from(byte & 0xf)]));
    }
    out
}

/// Hex (either case) to bytes; `None` for an odd length or a non-hex character.
fn unhex(text: &str) -> Option<Vec<u8>> {
    fn nibble(c: u8) -> Option<u8> {
        match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            b'A'..=b'F' => Some(c - b'A' + 10),
            _ => None,
        }
    }
    let bytes = text.as_bytes();
    if !bytes.len().is_multiple_of(2) {
        return None;
    }
    bytes
        .chunks_exact(2)
        .map(|pair| Some(nibble(pair[0])? << 4 | nibble(pair[1])?))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Channel;

    const KEY: &str = "278d425bdf160c739803";
    const SECRET: &str = "7ad3773142a6692b25b8";

    fn subscribe(channel: &str, auth: Option<String>, channel_data: Option<&str>) -> Subscribe {
        Subscribe {
            channel: Channel::parse(channel).expect("valid"),
            auth,
            channel_data: channel_data.map(str::to_owned),
        }
    }

    #[test]
    fn pushers_documented_private_channel_example() {
        // auth-signatures.md: socket 1234.1234 on private-foobar.
        let socket = SocketId::new(1234, 1234);
        let auth = format!("{KEY}:{}", hmac_hex(SECRET, b"1234.1234:private-foobar"));
        assert_eq!(
            auth,
            "278d425bdf160c739803:58df8b0c36d6982b82c3ecf6b4662e34fe8c25bba48f5369f135bf843651c3a4"
        );
        let ok = subscribe("private-foobar", Some(auth.clone()), None);
        assert_eq!(verify_channel_auth(KEY, SECRET, &socket, &ok), Ok(()));
        // Another socket, channel, key or secret fails.
        let other_socket = SocketId::new(1234, 1235);
        assert!(verify_channel_auth(KEY, SECRET, &other_socket, &ok).is_err());
        let other_channel = subscribe("private-foobaz", Some(auth.clone()), None);
        assert!(verify_channel_auth(KEY, SECRET, &socket, &other_channel).is_err());
        assert!(verify_channel_auth("other", SECRET, &socket, &ok).is_err());
        assert!(verify_channel_auth(KEY, "other", &socket, &ok).is_err());
        // Upper-case hex is the same signature.
        let signature = auth.split_once(':').expect("key:signature").1;
        let upper = format!("{KEY}:{}", signature.to_uppercase());
        let upper = subscribe("private-foobar", Some(upper), None);
        assert_eq!(verify_channel_auth(KEY, SECRET, &socket, &upper), Ok(()));
    }

    #[test]
    fn channel_data_is_signed_when_sent() {
        let socket = SocketId::new(1, 2);
        let data = r#"{"user_id":"10","user_info":{"name":"Mr. Channels"}}"#;
        let signed = format!(
            "{KEY}:{}",
            hmac_hex(SECRET, format!("1.2:presence-foobar:{data}").as_bytes())
        );
        let ok = subscribe("presence-foobar", Some(signed.clone()), Some(data));
        assert_eq!(verify_channel_auth(KEY, SECRET, &socket, &ok), Ok(()));
        // Other channel_data than was signed, or none, fails.
        let tampered = subscribe(
            "presence-foobar",
            Some(signed.clone()),
            Some(r#"{"user_id":"11"}"#),
        );
        assert!(verify_channel_auth(KEY, SECRET, &socket, &tampered).is_err());
        let without = subscribe("presence-foobar", Some(signed), None);
        assert!(verify_channel_auth(KEY, SECRET, &socket, &without).is_err());
    }

    #[test]
    fn malformed_auth_is_refused() {
        let socket = SocketId::new(1, 2);
        assert_eq!(
            verify_channel_auth(KEY, SECRET, &socket, &subscribe("private-a", None, None)),
            Err(ProtocolError::AuthRequired("private-a".to_owned()))
        );
        for auth in [
            "",
            "nocolon",
            &format!("{KEY}:"),
            &format!("{KEY}:zz"),
            &format!("{KEY}:abc"),
        ] {
            let s = subscribe("private-a", Some(auth.to_owned()), None);
            assert_eq!(
                verify_channel_auth(KEY, SECRET, &socket, &s),
                Err(ProtocolError::InvalidSignature),
                "{auth}"
            );
        }
    }

    #[test]
    fn signin() {
        let socket = SocketId::new(7, 8);
        let user_data = r#"{"id":"u1"}"#;
        let auth = format!(
            "{KEY}:{}",
            hmac_hex(SECRET, format!("7.8::user::{user_data}").as_bytes())
        );
        let ok = Signin {
            auth,
            user_data: user_data.to_owned(),
        };
        assert_eq!(verify_signin(KEY, SECRET, &socket, &ok), Ok(()));
        let tampered = Signin {
            user_data: r#"{"id":"u2"}"#.to_owned(),
            ..ok
        };
        assert!(verify_signin(KEY, SECRET, &socket, &tampered).is_err());
    }

    #[test]
    fn hex_round_trip() {
        assert_eq!(
            unhex(&hex(&[0, 1, 0xab, 0xff])),
            Some(vec![0, 1, 0xab, 0xff])
        );
        assert_eq!(unhex("0"), None);
        assert_eq!(unhex("0g"), None);
        assert!(verify_hex(SECRET, b"body", &hmac_hex(SECRET, b"body")));
        assert!(!verify_hex(SECRET, b"body", &hmac_hex(SECRET, b"bodx")));
    }
}
