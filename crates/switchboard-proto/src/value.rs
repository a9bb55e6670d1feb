//! The dynamic value type carried in WAMP messages: options, details and application payloads.
//!
//! WAMP needs a byte-string variant (JSON has none), string-only dict keys and integers up to
//! 2^53 that survive every serializer, so Switchboard has its own `Value` rather than reusing a
//! format's. Its serde impls apply the JSON binary convention (wamp-spec §8.2): in a
//! human-readable format (JSON) bytes travel as a string `"\u0000" + base64(bytes)`, and such a
//! string decodes back to bytes; binary formats (MessagePack, CBOR) use their native byte strings.
//! It follows that a text string starting with U+0000 cannot travel through JSON as text.

use std::cell::Cell;
use std::collections::BTreeMap;
use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use bytes::Bytes;
use serde::de::{self, MapAccess, SeqAccess, Visitor};
use serde::ser::{SerializeMap, SerializeSeq};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::Id;

/// A WAMP dictionary: string keys, order not significant.
pub type Dict = BTreeMap<String, Value>;

/// How deeply values may nest before decoding refuses them (protects the stack).
pub const MAX_DEPTH: usize = 128;

/// A dynamically typed WAMP value.
#[derive(Clone, Debug, Default)]
pub enum Value {
    /// Null / nil / absent.
    #[default]
    Null,
    /// A boolean.
    Bool(bool),
    /// A signed integer. Decoders produce this only for negative numbers.
    Int(i64),
    /// A non-negative integer.
    UInt(u64),
    /// A floating-point number.
    Float(f64),
    /// A Unicode string.
    Str(String),
    /// A byte string.
    Bytes(Bytes),
    /// A list.
    List(Vec<Value>),
    /// A dictionary with string keys.
    Dict(Dict),
}

impl Value {
    /// The boolean, if this is one.
    pub fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            _ => None,
        }
    }

    /// The integer, if this is a non-negative integer.
    pub fn as_u64(&self) -> Option<u64> {
        match self {
            Value::UInt(n) => Some(*n),
            Value::Int(n) => u64::try_from(*n).ok(),
            _ => None,
        }
    }

    /// The integer, if this is an integer that fits an `i64`.
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::UInt(n) => i64::try_from(*n).ok(),
            Value::Int(n) => Some(*n),
            _ => None,
        }
    }

    /// The number as a float, if this is a number.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Float(f) => Some(*f),
            Value::UInt(n) => Some(*n as f64),
            Value::Int(n) => Some(*n as f64),
            _ => None,
        }
    }

    /// The WAMP id, if this is an integer in `1..=2^53`.
    pub fn as_id(&self) -> Option<Id> {
        self.as_u64().and_then(Id::new)
    }

    /// The string, if this is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The bytes, if this is a byte string.
    pub fn as_bytes(&self) -> Option<&Bytes> {
        match self {
            Value::Bytes(b) => Some(b),
            _ => None,
        }
    }

    /// The list, if this is one.
    pub fn as_list(&self) -> Option<&[Value]> {
        match self {
            Value::List(l) => Some(l),
            _ => None,
        }
    }

    /// The dictionary, if this is one.
    pub fn as_dict(&self) -> Option<&Dict> {
        match self {
            Value::Dict(d) => Some(d),
            _ => None,
        }
    }

    /// Whether this is `Null`.
    pub fn is_null(&self) -> bool {
        matches!(self, Value::Null)
    }

    /// The name of this value's type, for error messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "bool",
            Value::Int(_) | Value::UInt(_) => "integer",
            Value::Float(_) => "float",
            Value::Str(_) => "string",
            Value::Bytes(_) => "bytes",
            Value::List(_) => "list",
            Value::Dict(_) => "dict",
        }
    }
}

/// Integers compare by value whatever their variant; everything else structurally.
impl PartialEq for Value {
    fn eq(&self, other: &Value) -> bool {
        use Value::*;
        match (self, other) {
            (Null, Null) => true,
            (Bool(a), Bool(b)) => a == b,
            (Int(_) | UInt(_), Int(_) | UInt(_)) => {
                self.as_i64() == other.as_i64() && self.as_u64() == other.as_u64()
            }
            (Float(a), Float(b)) => a == b,
            (Str(a), Str(b)) => a == b,
            (Bytes(a), Bytes(b)) => a == b,
            (List(a), List(b)) => a == b,
            (Dict(a), Dict(b)) => a == b,
            _ => false,
        }
    }
}

macro_rules! value_from {
    ($($t:ty => |$v:ident| $e:expr),* $(,)?) => {
        $(impl From<$t> for Value {
            fn from($v: $t) -> Value { $e }
        })*
    };
}

value_from! {
    bool => |v| Value::Bool(v),
    u8 => |v| Value::UInt(v.into()),
    u16 => |v| Value::UInt(v.into()),
    u32 => |v| Value::UInt(v.into()),
    u64 => |v| Value::UInt(v),
    usize => |v| Value::UInt(v as u64),
    i32 => |v| Value::from(i64::from(v)),
    i64 => |v| match u64::try_from(v) { Ok(n) => Value::UInt(n), Err(_) => Value::Int(v) },
    f64 => |v| Value::Float(v),
    f32 => |v| Value::Float(v.into()),
    &str => |v| Value::Str(v.to_owned()),
    String => |v| Value::Str(v),
    Bytes => |v| Value::Bytes(v),
    Vec<Value> => |v| Value::List(v),
    Dict => |v| Value::Dict(v),
    Id => |v| Value::UInt(v.get()),
}

impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Value {
        v.map_or(Value::Null, Into::into)
    }
}

impl fmt::Display for Value {
    /// Shows the value as JSON (bytes in the WAMP binary convention).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match serde_json::to_string(self) {
            Ok(s) => f.write_str(&s),
            Err(_) => f.write_str("<unprintable>"),
        }
    }
}

/// Builds a [`Dict`] from `key => value` pairs: `dict! { "acknowledge" => true }`.
#[macro_export]
macro_rules! dict {
    () => { $crate::value::Dict::new() };
    ($($k:expr => $v:expr),+ $(,)?) => {{
        let mut d = $crate::value::Dict::new();
        $( d.insert(::std::string::String::from($k), $crate::value::Value::from($v)); )+
        d
    }};
}

/// Prefix that marks a byte string inside a JSON string (wamp-spec §8.2).
const JSON_BYTES_MARK: char = '\u{0}';

impl Serialize for Value {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Value::Null => s.serialize_none(),
            Value::Bool(b) => s.serialize_bool(*b),
            Value::Int(n) => s.serialize_i64(*n),
            Value::UInt(n) => s.serialize_u64(*n),
            Value::Float(f) => s.serialize_f64(*f),
            Value::Str(v) => s.serialize_str(v),
            Value::Bytes(b) if s.is_human_readable() => {
                let mut text = String::with_capacity(1 + b.len().div_ceil(3) * 4);
                text.push(JSON_BYTES_MARK);
                BASE64.encode_string(b, &mut text);
                s.serialize_str(&text)
            }
            Value::Bytes(b) => s.serialize_bytes(b),
            Value::List(items) => {
                let mut seq = s.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(item)?;
                }
                seq.end()
            }
            Value::Dict(d) => {
                let mut map = s.serialize_map(Some(d.len()))?;
                for (k, v) in d {
                    map.serialize_entry(k, v)?;
                }
                map.end()
            }
        }
    }
}

thread_local! {
    static DEPTH: Cell<usize> = const { Cell::new(0) };
}

/// Counts nesting while a value decodes; refuses more than [`MAX_DEPTH`] levels.
struct DepthGuard;

impl DepthGuard {
    fn enter<E: de::Error>() -> Result<DepthGuard, E> {
        DEPTH.with(|d| {
            if d.get() >= MAX_DEPTH {
                Err(E::custom(format_args!(
                    "values nest deeper than {MAX_DEPTH} levels"
                )))
            } else {
                d.set(d.get() + 1);
                Ok(DepthGuard)
            }
        })
    }
}

impl Drop for DepthGuard {
    fn drop(&mut self) {
        DEPTH.with(|d| d.set(d.get().saturating_sub(1)));
    }
}

impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Value, D::Error> {
        let _guard = DepthGuard::enter::<D::Error>()?;
        let human_readable = d.is_human_readable();
        d.deserialize_any(ValueVisitor { human_readable })
    }
}

struct ValueVisitor {
    human_readable: bool,
}

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a WAMP value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::UInt(v))
    }
    fn visit_i128<E: de::Error>(self, v: i128) -> Result<Value, E> {
        if let Ok(n) = u64::try_from(v) {
            Ok(Value::UInt(n))
        } else if let Ok(n) = i64::try_from(v) {
            Ok(Value::Int(n))
        } else {
            Err(E::custom("integer out of the 64-bit range"))
        }
    }
    fn visit_u128<E: de::Error>(self, v: u128) -> Result<Value, E> {
        u64::try_from(v)
            .map(Value::UInt)
            .map_err(|_| E::custom("integer out of the 64-bit range"))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(Value::Float(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(self.string(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(self.string(v))
    }
    fn visit_bytes<E>(self, v: &[u8]) -> Result<Value, E> {
        Ok(Value::Bytes(Bytes::copy_from_slice(v)))
    }
    fn visit_byte_buf<E>(self, v: Vec<u8>) -> Result<Value, E> {
        Ok(Value::Bytes(Bytes::from(v)))
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        Value::deserialize(d)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1024));
        while let Some(item) = seq.next_element::<Value>()? {
            items.push(item);
        }
        Ok(Value::List(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut dict = Dict::new();
        while let Some(key) = map.next_key::<DictKey>()? {
            let value = map.next_value::<Value>()?;
            if dict.insert(key.0.clone(), value).is_some() {
                return Err(de::Error::custom(format_args!(
                    "duplicate dict key {:?}",
                    key.0
                )));
            }
        }
        Ok(Value::Dict(dict))
    }
}

impl ValueVisitor {
    /// A string, or bytes when it follows the JSON binary convention.
    fn string(&self, s: String) -> Value {
        if self.human_readable
            && let Some(b64) = s.strip_prefix(JSON_BYTES_MARK)
            && let Ok(bytes) = BASE64.decode(b64)
        {
            return Value::Bytes(Bytes::from(bytes));
        }
        Value::Str(s)
    }
}

/// A dictionary key: WAMP allows only strings.
struct DictKey(String);

impl<'de> Deserialize<'de> for DictKey {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<DictKey, D::Error> {
        struct KeyVisitor;
        impl Visitor<'_> for KeyVisitor {
            type Value = DictKey;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string dict key")
            }
            fn visit_str<E>(self, v: &str) -> Result<DictKey, E> {
                Ok(DictKey(v.to_owned()))
            }
            fn visit_string<E>(self, v: String) -> Result<DictKey, E> {
                Ok(DictKey(v))
            }
        }
        d.deserialize_str(KeyVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_compare_by_value() {
        assert_eq!(Value::Int(5), Value::UInt(5));
        assert_ne!(Value::Int(-1), Value::UInt(u64::MAX));
        assert_eq!(Value::from(-3i64), Value::Int(-3));
        assert_eq!(Value::from(3i64), Value::UInt(3));
    }

    #[test]
    fn json_bytes_use_the_binary_convention() {
        let bytes = Bytes::from(hex::decode("10e3ff9053075c526f5fc06d4fe37cdb").unwrap());
        let v = Value::Bytes(bytes);
        let json = serde_json::to_string(&v).unwrap();
        assert_eq!(json, r#""\u0000EOP/kFMHXFJvX8BtT+N82w==""#);
        let back: Value = serde_json::from_str(&json).unwrap();
        assert_eq!(back, v);
    }

    #[test]
    fn a_plain_string_with_a_nul_but_bad_base64_stays_a_string() {
        let back: Value = serde_json::from_str(r#""\u0000not base64!""#).unwrap();
        assert_eq!(back, Value::Str("\u{0}not base64!".into()));
    }

    #[test]
    fn deep_nesting_is_refused_not_a_stack_overflow() {
        // CBOR: 100,000 nested one-element arrays around a 0.
        let mut deep = vec![0x81u8; 100_000];
        deep.push(0x00);
        assert!(minicbor_serde::from_slice::<Value>(&deep).is_err());
        let mut ok = vec![0x81u8; MAX_DEPTH - 1];
        ok.push(0x00);
        assert!(minicbor_serde::from_slice::<Value>(&ok).is_ok());
    }

    #[test]
    fn non_string_dict_keys_are_refused_in_msgpack() {
        // {1: 2}
        let bytes = [0x81, 0x01, 0x02];
        assert!(rmp_serde::from_slice::<Value>(&bytes).is_err());
    }

    #[test]
    fn dict_macro_builds_dicts() {
        let d = dict! { "a" => 1u64, "b" => "x" };
        assert_eq!(d.get("a"), Some(&Value::UInt(1)));
        assert_eq!(d.get("b").and_then(Value::as_str), Some("x"));
    }
}
