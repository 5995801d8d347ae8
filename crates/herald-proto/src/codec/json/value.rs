//! How each Rust field type of the messages reads and writes itself as JSON.
//!
//! The rules follow Go easyjson as used by Centrifugo: a field holding its zero value is left
//! out (unless the schema says "always"); `null` reads as the zero value; `bytes` fields are raw
//! JSON; unknown keys are skipped.

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::marker::PhantomData;

use bytes::Bytes;
use serde::de::{Deserialize, Deserializer, MapAccess, Visitor};

use super::writer::JsonWriter;
use crate::error::EncodeError;

/// A value that can sit in a message field (scalar, string, raw payload, message, list, map).
pub(super) trait JsonValue: Sized {
    /// Whether the value is its type's zero value, which omit-empty fields leave out.
    fn is_zero(&self) -> bool;
    /// A cheap estimate of the encoded size, used to pre-size the output buffer.
    fn size_hint(&self) -> usize;
    /// Writes the value. `field` names the field for error reports (`Message.field`).
    fn write_json(&self, out: &mut JsonWriter, field: &'static str) -> Result<(), EncodeError>;
    /// Reads the value; JSON `null` reads as the zero value.
    fn read_json<'de, D: Deserializer<'de>>(de: D) -> Result<Self, D::Error>;
}

/// A message: a JSON object whose keys are its proto field names. Declared `pub` inside a
/// private module, so it is unnameable outside the crate: that seals
/// [`WireMessage`](crate::WireMessage) to the messages of the schema.
pub trait JsonObject: Default {
    /// Writes `{...}` with the fields the omit rules keep.
    fn write_object(&self, out: &mut JsonWriter) -> Result<(), EncodeError>;
    /// Reads the value of `key` from `map` into the matching field, or skips it when unknown.
    fn read_field<'de, A: MapAccess<'de>>(
        &mut self,
        key: &str,
        map: &mut A,
    ) -> Result<(), A::Error>;
    /// Size estimate of the whole object.
    fn object_size_hint(&self) -> usize;
}

/// Adapts a [`JsonValue`] to serde, so containers (`Vec`, `HashMap`, `Option`) can hold it.
pub(crate) struct De<T>(pub(crate) T);

impl<'de, T: JsonValue> Deserialize<'de> for De<T> {
    fn deserialize<D: Deserializer<'de>>(de: D) -> Result<Self, D::Error> {
        T::read_json(de).map(De)
    }
}

/// Reads one message object; `null` gives the default message.
pub(crate) fn read_message<'de, T: JsonObject, D: Deserializer<'de>>(de: D) -> Result<T, D::Error> {
    de.deserialize_option(MessageVisitor(PhantomData))
}

/// Reads one message that must be an object (top level of a frame line).
pub(crate) fn read_top_level<'de, T: JsonObject, D: Deserializer<'de>>(
    de: D,
) -> Result<T, D::Error> {
    de.deserialize_map(MessageVisitor(PhantomData))
}

struct MessageVisitor<T>(PhantomData<T>);

impl<'de, T: JsonObject> Visitor<'de> for MessageVisitor<T> {
    type Value = T;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON object")
    }

    fn visit_none<E: serde::de::Error>(self) -> Result<T, E> {
        Ok(T::default())
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<T, E> {
        Ok(T::default())
    }

    fn visit_some<D: Deserializer<'de>>(self, de: D) -> Result<T, D::Error> {
        de.deserialize_map(self)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<T, A::Error> {
        let mut message = T::default();
        while let Some(key) = map.next_key::<Key<'de>>()? {
            message.read_field(key.as_str(), &mut map)?;
        }
        Ok(message)
    }
}

/// An object key, borrowed from the input when it has no escapes.
pub(crate) enum Key<'de> {
    Borrowed(&'de str),
    Owned(String),
}

impl Key<'_> {
    fn as_str(&self) -> &str {
        match self {
            Key::Borrowed(s) => s,
            Key::Owned(s) => s,
        }
    }
}

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(de: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("an object key")
            }
            fn visit_borrowed_str<E: serde::de::Error>(self, s: &'de str) -> Result<Key<'de>, E> {
                Ok(Key::Borrowed(s))
            }
            fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<Key<'de>, E> {
                Ok(Key::Owned(s.to_owned()))
            }
            fn visit_string<E: serde::de::Error>(self, s: String) -> Result<Key<'de>, E> {
                Ok(Key::Owned(s))
            }
        }
        de.deserialize_str(KeyVisitor)
    }
}

/// Integers and bools: JSON numbers / booleans, zero omitted.
macro_rules! scalar_value {
    ($($ty:ty => |$out:ident, $v:ident| $write:expr, $hint:expr;)*) => {$(
        impl JsonValue for $ty {
            fn is_zero(&self) -> bool {
                *self == <$ty>::default()
            }
            fn size_hint(&self) -> usize {
                $hint
            }
            fn write_json(&self, $out: &mut JsonWriter, _: &'static str) -> Result<(), EncodeError> {
                let $v = *self;
                $write;
                Ok(())
            }
            fn read_json<'de, D: Deserializer<'de>>(de: D) -> Result<Self, D::Error> {
                Option::<$ty>::deserialize(de).map(Option::unwrap_or_default)
            }
        }
    )*};
}

scalar_value! {
    bool => |out, v| out.bool(v), 5;
    u32 => |out, v| out.u64(u64::from(v)), 10;
    u64 => |out, v| out.u64(v), 20;
    i32 => |out, v| out.i64(i64::from(v)), 11;
    i64 => |out, v| out.i64(v), 20;
}

impl JsonValue for String {
    fn is_zero(&self) -> bool {
        self.is_empty()
    }
    fn size_hint(&self) -> usize {
        self.len() + 2
    }
    fn write_json(&self, out: &mut JsonWriter, _: &'static str) -> Result<(), EncodeError> {
        out.string(self);
        Ok(())
    }
    fn read_json<'de, D: Deserializer<'de>>(de: D) -> Result<Self, D::Error> {
        Option::<String>::deserialize(de).map(Option::unwrap_or_default)
    }
}

/// `bytes` fields: raw JSON in, raw JSON out (never base64).
impl JsonValue for Bytes {
    fn is_zero(&self) -> bool {
        self.is_empty()
    }
    fn size_hint(&self) -> usize {
        self.len()
    }
    fn write_json(&self, out: &mut JsonWriter, field: &'static str) -> Result<(), EncodeError> {
        out.raw(self, field)
    }
    fn read_json<'de, D: Deserializer<'de>>(de: D) -> Result<Self, D::Error> {
        let raw = Option::<&'de serde_json::value::RawValue>::deserialize(de)?;
        Ok(raw.map_or_else(Bytes::new, |raw| {
            Bytes::copy_from_slice(raw.get().as_bytes())
        }))
    }
}

/// Message-typed fields: absent (`None`) is omitted, present is written even when empty.
impl<T: JsonValue> JsonValue for Option<T> {
    fn is_zero(&self) -> bool {
        self.is_none()
    }
    fn size_hint(&self) -> usize {
        self.as_ref().map_or(0, T::size_hint)
    }
    fn write_json(&self, out: &mut JsonWriter, field: &'static str) -> Result<(), EncodeError> {
        match self {
            Some(v) => v.write_json(out, field),
            None => {
                out.null();
                Ok(())
            }
        }
    }
    fn read_json<'de, D: Deserializer<'de>>(de: D) -> Result<Self, D::Error> {
        Option::<De<T>>::deserialize(de).map(|v| v.map(|De(v)| v))
    }
}

impl<T: JsonValue> JsonValue for Vec<T> {
    fn is_zero(&self) -> bool {
        self.is_empty()
    }
    fn size_hint(&self) -> usize {
        2 + self.iter().map(|v| v.size_hint() + 1).sum::<usize>()
    }
    fn write_json(&self, out: &mut JsonWriter, field: &'static str) -> Result<(), EncodeError> {
        out.byte(b'[');
        for (i, v) in self.iter().enumerate() {
            if i > 0 {
                out.byte(b',');
            }
            v.write_json(out, field)?;
        }
        out.byte(b']');
        Ok(())
    }
    fn read_json<'de, D: Deserializer<'de>>(de: D) -> Result<Self, D::Error> {
        let items = Option::<Vec<De<T>>>::deserialize(de)?;
        Ok(items
            .map(|items| items.into_iter().map(|De(v)| v).collect())
            .unwrap_or_default())
    }
}

impl<T: JsonValue, S: BuildHasher + Default> JsonValue for HashMap<String, T, S> {
    fn is_zero(&self) -> bool {
        self.is_empty()
    }
    fn size_hint(&self) -> usize {
        2 + self
            .iter()
            .map(|(k, v)| k.len() + 4 + v.size_hint())
            .sum::<usize>()
    }
    fn write_json(&self, out: &mut JsonWriter, field: &'static str) -> Result<(), EncodeError> {
        out.byte(b'{');
        let mut first = true;
        for (k, v) in self {
            out.key(&mut first, k);
            v.write_json(out, field)?;
        }
        out.byte(b'}');
        Ok(())
    }
    fn read_json<'de, D: Deserializer<'de>>(de: D) -> Result<Self, D::Error> {
        let entries = Option::<HashMap<String, De<T>, S>>::deserialize(de)?;
        Ok(entries
            .map(|entries| entries.into_iter().map(|(k, De(v))| (k, v)).collect())
            .unwrap_or_default())
    }
}
