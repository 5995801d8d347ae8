//! Claim shapes of Centrifugo connection and subscription tokens, and their conversion to the
//! hub's verified claims. `info`, `data` and `meta` keep their exact JSON text.

use std::collections::HashMap;
use std::fmt;
use std::marker::PhantomData;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use herald_hub::{
    ConnectTokenClaims, SubscribeOptionsClaim, SubscribeOverride, SubscribeTokenClaims,
};
use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde_json::value::RawValue;

/// Registered claims every token is checked against.
#[derive(Debug, Default, Deserialize)]
pub(super) struct Registered {
    /// User id (`""` anonymous).
    #[serde(default)]
    pub sub: Option<String>,
    /// Expiry, Unix seconds.
    #[serde(default, deserialize_with = "numeric_date")]
    pub exp: Option<f64>,
    /// Not before, Unix seconds.
    #[serde(default, deserialize_with = "numeric_date")]
    pub nbf: Option<f64>,
    /// Audience: a string or a list of strings.
    #[serde(default)]
    pub aud: Option<Audience>,
    /// Issuer.
    #[serde(default)]
    pub iss: Option<String>,
}

/// `aud` as a string or an array.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(super) enum Audience {
    /// `"aud": "x"`.
    One(String),
    /// `"aud": ["x", "y"]`.
    Many(Vec<String>),
}

impl Audience {
    pub(super) fn values(&self) -> &[String] {
        match self {
            Audience::One(one) => std::slice::from_ref(one),
            Audience::Many(many) => many,
        }
    }
}

/// Connection token claims beyond the registered ones.
#[derive(Debug, Deserialize)]
pub(super) struct ConnectClaims {
    #[serde(default)]
    expire_at: Option<i64>,
    #[serde(default)]
    info: Option<Box<RawValue>>,
    #[serde(default)]
    b64info: Option<String>,
    #[serde(default)]
    channels: Option<Vec<String>>,
    #[serde(default)]
    subs: Option<HashMap<String, Object<SubOptions>>>,
    #[serde(default)]
    meta: Option<Box<RawValue>>,
    /// Only subscription tokens may carry it.
    #[serde(default)]
    pub channel: Option<String>,
}

/// One entry of a connection token's `subs`.
#[derive(Debug, Deserialize)]
struct SubOptions {
    #[serde(default)]
    info: Option<Box<RawValue>>,
    #[serde(default)]
    b64info: Option<String>,
    #[serde(default)]
    data: Option<Box<RawValue>>,
    #[serde(default)]
    b64data: Option<String>,
    #[serde(default, rename = "override")]
    overrides: Option<Object<OverrideClaim>>,
}

/// Subscription token claims beyond the registered ones.
#[derive(Debug, Deserialize)]
pub(super) struct SubscribeClaims {
    #[serde(default)]
    pub channel: Option<String>,
    #[serde(default)]
    client: Option<String>,
    #[serde(default)]
    expire_at: Option<i64>,
    #[serde(default)]
    info: Option<Box<RawValue>>,
    #[serde(default)]
    b64info: Option<String>,
    #[serde(default)]
    data: Option<Box<RawValue>>,
    #[serde(default)]
    b64data: Option<String>,
    #[serde(default, rename = "override")]
    overrides: Option<Object<OverrideClaim>>,
}

/// A claim that must be a JSON object. Serde's derived structs also read an array of the fields
/// in order, which Go's decoder (so Centrifugo) refuses: without this, `"override": [...]` or a
/// `subs` entry written as an array would pass as options.
#[derive(Debug)]
pub(super) struct Object<T>(pub T);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Object<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Fields<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for Fields<T> {
            type Value = T;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
                T::deserialize(de::value::MapAccessDeserializer::new(map))
            }
        }
        deserializer
            .deserialize_map(Fields(PhantomData))
            .map(Object)
    }
}

/// Whether `json` nests arrays and objects deeper than `limit`. Strings are skipped, so brackets
/// inside them do not count.
pub(super) fn nested_deeper_than(json: &str, limit: usize) -> bool {
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    for byte in json.bytes() {
        if in_string {
            match byte {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match byte {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > limit {
                    return true;
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    false
}

/// `override`: `{"presence": {"value": true}, ...}`.
#[derive(Debug, Default, Deserialize)]
struct OverrideClaim {
    #[serde(default)]
    presence: Option<Object<BoolValue>>,
    #[serde(default)]
    join_leave: Option<Object<BoolValue>>,
    #[serde(default)]
    force_push_join_leave: Option<Object<BoolValue>>,
    #[serde(default)]
    force_positioning: Option<Object<BoolValue>>,
    #[serde(default)]
    force_recovery: Option<Object<BoolValue>>,
}

#[derive(Debug, Deserialize)]
struct BoolValue {
    #[serde(default)]
    value: bool,
}

impl OverrideClaim {
    fn into_hub(self) -> SubscribeOverride {
        let get = |v: Option<Object<BoolValue>>| v.map(|b| b.0.value);
        SubscribeOverride {
            presence: get(self.presence),
            join_leave: get(self.join_leave),
            force_push_join_leave: get(self.force_push_join_leave),
            force_positioning: get(self.force_positioning),
            force_recovery: get(self.force_recovery),
        }
    }
}

impl ConnectClaims {
    /// The hub's claims, with `user` already resolved.
    pub(super) fn into_hub(
        self,
        user: String,
        exp: Option<f64>,
    ) -> Result<ConnectTokenClaims, String> {
        let subs = self
            .subs
            .unwrap_or_default()
            .into_iter()
            .map(|(channel, Object(sub))| {
                let options = SubscribeOptionsClaim {
                    info: bytes_or_base64(sub.info, sub.b64info, "b64info")?,
                    data: bytes_or_base64(sub.data, sub.b64data, "b64data")?,
                    overrides: sub.overrides.map(|o| o.0).unwrap_or_default().into_hub(),
                };
                Ok((channel, options))
            })
            .collect::<Result<_, String>>()?;
        Ok(ConnectTokenClaims {
            user,
            expire_at: expire_at(self.expire_at, exp),
            info: bytes_or_base64(self.info, self.b64info, "b64info")?,
            channels: self.channels.unwrap_or_default(),
            subs,
            meta: raw_bytes(self.meta),
        })
    }
}

impl SubscribeClaims {
    /// The hub's claims, with `user` already resolved and `channel` checked.
    pub(super) fn into_hub(
        self,
        user: String,
        exp: Option<f64>,
    ) -> Result<SubscribeTokenClaims, String> {
        Ok(SubscribeTokenClaims {
            user,
            channel: self.channel.unwrap_or_default(),
            client: self.client.unwrap_or_default(),
            expire_at: expire_at(self.expire_at, exp),
            info: bytes_or_base64(self.info, self.b64info, "b64info")?,
            data: bytes_or_base64(self.data, self.b64data, "b64data")?,
            overrides: self.overrides.map(|o| o.0).unwrap_or_default().into_hub(),
        })
    }
}

/// `expire_at` when present (0 or less: never), else `exp`.
fn expire_at(expire_at: Option<i64>, exp: Option<f64>) -> Option<i64> {
    match expire_at {
        Some(at) => (at > 0).then_some(at),
        // Centrifugo truncates a fractional `exp` to whole seconds.
        None => exp.map(|e| e as i64),
    }
}

/// `b64*` wins when non-empty (standard, padded base64); otherwise the raw JSON text.
fn bytes_or_base64(
    raw: Option<Box<RawValue>>,
    b64: Option<String>,
    name: &str,
) -> Result<Bytes, String> {
    match b64.filter(|s| !s.is_empty()) {
        Some(encoded) => STANDARD
            .decode(encoded)
            .map(Bytes::from)
            .map_err(|e| format!("{name} is not valid base64: {e}")),
        None => Ok(raw_bytes(raw)),
    }
}

fn raw_bytes(raw: Option<Box<RawValue>>) -> Bytes {
    raw.map(|r| Bytes::from(r.get().as_bytes().to_vec()))
        .unwrap_or_default()
}

/// A JSON number, or a string holding one (Go's `json.Number` accepts both).
fn numeric_date<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<f64>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum NumberOrString {
        Number(f64),
        Text(String),
    }
    match Option::<NumberOrString>::deserialize(deserializer)? {
        None => Ok(None),
        Some(NumberOrString::Number(n)) => Ok(Some(n)),
        Some(NumberOrString::Text(s)) => s
            .parse::<f64>()
            .map(Some)
            .map_err(|_| de::Error::custom(format!("invalid numeric date {s:?}"))),
    }
}
