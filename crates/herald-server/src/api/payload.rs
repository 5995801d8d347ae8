//! Application payloads (`data`, `info`, `conn_info`, `chan_info`) across the API boundary.
//!
//! In: a payload is either raw JSON, kept byte for byte, or base64 in the matching `b64*`
//! field, which makes it binary. Out: a payload that is valid JSON is written raw; one that is
//! not (binary, published with `b64data` or by a Protobuf client) is written base64-encoded
//! under the `b64`-prefixed name of its field (`b64data`, `b64conn_info`, `b64chan_info`).
//! Centrifugo fails the whole response with HTTP 500 in that case (Go's `json.Marshal`
//! rejects invalid raw JSON); Herald answers instead and names the field so callers can tell.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use serde_json::value::RawValue;

use super::error::ApiError;

/// The payload of a request: `b64` when non-empty (decoded, binary), else `raw` as it came
/// (JSON from the HTTP API, already without raw newlines; any bytes from gRPC).
pub(crate) fn incoming(raw: &Bytes, b64: &str) -> Result<Bytes, ApiError> {
    if !b64.is_empty() {
        return STANDARD
            .decode(b64)
            .map(Bytes::from)
            .map_err(|_| ApiError::BAD_REQUEST);
    }
    Ok(raw.clone())
}

/// An outgoing payload: raw JSON when it is valid JSON, base64 otherwise.
#[derive(Debug, Default)]
pub(crate) struct Outgoing {
    /// Written under the field's own name.
    pub(crate) json: Option<Box<RawValue>>,
    /// Written under `b64<field>`.
    pub(crate) base64: Option<String>,
}

/// Encodes a stored payload for a response; empty payloads are omitted (Go's `omitempty`).
pub(crate) fn outgoing(bytes: &[u8]) -> Outgoing {
    if bytes.is_empty() {
        return Outgoing::default();
    }
    let json = std::str::from_utf8(bytes)
        .ok()
        .map(|text| text.replace('\n', ""))
        .and_then(|text| RawValue::from_string(text).ok());
    match json {
        Some(json) => Outgoing {
            json: Some(json),
            base64: None,
        },
        None => Outgoing {
            json: None,
            base64: Some(STANDARD.encode(bytes)),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(json: &str) -> Bytes {
        let req: crate::api::request::PublishRequest =
            crate::api::request::decode(json.as_bytes()).expect("valid json");
        req.data
    }

    #[test]
    fn raw_json_is_kept_byte_for_byte() {
        let value = body(r#"{"data":{"b": 1.50, "a":"x y",  "u":"\u00e9"}}"#);
        let data = incoming(&value, "").expect("ok");
        assert_eq!(&data[..], br#"{"b": 1.50, "a":"x y",  "u":"\u00e9"}"#);
    }

    #[test]
    fn newlines_are_stripped_from_json() {
        let value = body("{\"data\":{\n  \"a\": [1,\n 2]\n}}");
        let data = incoming(&value, "").expect("ok");
        assert_eq!(&data[..], b"{  \"a\": [1, 2]}");
    }

    #[test]
    fn b64_wins_and_is_binary() {
        let value = body(r#"{"data":"ignored"}"#);
        let data = incoming(&value, "AAEC/w==").expect("ok");
        assert_eq!(&data[..], &[0, 1, 2, 255]);
        assert_eq!(
            incoming(&Bytes::new(), "not base64!"),
            Err(ApiError::BAD_REQUEST)
        );
    }

    #[test]
    fn missing_payload_is_empty() {
        assert!(incoming(&Bytes::new(), "").expect("ok").is_empty());
    }

    #[test]
    fn outgoing_json_is_raw_and_binary_is_base64() {
        let out = outgoing(br#"{"x":1}"#);
        assert_eq!(
            out.json.map(|j| j.get().to_owned()).as_deref(),
            Some(r#"{"x":1}"#)
        );
        assert!(out.base64.is_none());

        let out = outgoing(&[0xff, 0x00]);
        assert!(out.json.is_none());
        assert_eq!(out.base64.as_deref(), Some("/wA="));

        // Valid UTF-8 but not JSON.
        assert_eq!(outgoing(b"hello").base64.as_deref(), Some("aGVsbG8="));

        let out = outgoing(b"");
        assert!(out.json.is_none() && out.base64.is_none());
    }
}
