//! Conversion between Rust types and WAMP [`Value`]s through serde.
//!
//! [`to_value`] serializes any `Serialize` type into a [`Value`] and [`from_value`] deserializes
//! a [`Value`] into any `DeserializeOwned` type, without going through a wire format, so nothing
//! is lost on the way: byte strings stay byte strings (`serde_bytes`, [`bytes::Bytes`]), `u64`
//! stays `u64`.
//!
//! Serde's data model maps onto WAMP values like `serde_json` maps it onto JSON: structs and maps
//! become dicts, sequences and tuples become lists, `None` and `()` become null, a unit enum
//! variant becomes its name, other enum variants become a one-entry dict `{variant: content}`.
//! Map keys must be strings (numbers and chars are converted to their decimal/text form, as
//! `serde_json` does).
//!
//! ```
//! use serde::{Deserialize, Serialize};
//! use switchboard_client::convert::{from_value, to_value};
//!
//! #[derive(Serialize, Deserialize, Debug, PartialEq)]
//! struct Point { x: i32, y: i32 }
//!
//! let v = to_value(&Point { x: 1, y: -2 })?;
//! assert_eq!(v.as_dict().and_then(|d| d.get("y")).and_then(|y| y.as_i64()), Some(-2));
//! let p: Point = from_value(v)?;
//! assert_eq!(p, Point { x: 1, y: -2 });
//! # Ok::<(), switchboard_client::convert::ConvertError>(())
//! ```

use std::fmt;

use bytes::Bytes;
use serde::de::{
    self, DeserializeOwned, DeserializeSeed, EnumAccess, IntoDeserializer, MapAccess, SeqAccess,
    VariantAccess, Visitor,
};
use serde::ser::{self, Serialize};
use switchboard_proto::{Dict, Value};

/// A value that could not be converted to or from a [`Value`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ConvertError(String);

impl ConvertError {
    /// An error with the given message.
    pub fn new(message: impl fmt::Display) -> ConvertError {
        ConvertError(message.to_string())
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.0
    }
}

impl ser::Error for ConvertError {
    fn custom<T: fmt::Display>(msg: T) -> ConvertError {
        ConvertError::new(msg)
    }
}

impl de::Error for ConvertError {
    fn custom<T: fmt::Display>(msg: T) -> ConvertError {
        ConvertError::new(msg)
    }
}

/// Serializes `value` into a [`Value`].
///
/// # Errors
///
/// When the type's `Serialize` impl fails, or a map key is not a string, number or char.
pub fn to_value<T: Serialize + ?Sized>(value: &T) -> Result<Value, ConvertError> {
    value.serialize(ValueSerializer)
}

/// Deserializes a `T` from a [`Value`].
///
/// # Errors
///
/// When the value does not have the shape `T` expects.
pub fn from_value<T: DeserializeOwned>(value: Value) -> Result<T, ConvertError> {
    T::deserialize(ValueDeserializer(value))
}

/// Positional arguments from a serializable value: a sequence or tuple gives its elements,
/// `()` or `None` gives none, and any other value is the single argument.
pub(crate) fn to_args<T: Serialize + ?Sized>(value: &T) -> Result<Vec<Value>, ConvertError> {
    Ok(match to_value(value)? {
        Value::Null => Vec::new(),
        Value::List(items) => items,
        other => vec![other],
    })
}

/// Keyword arguments from a serializable value: a struct or map gives its entries, `()` or
/// `None` gives none.
pub(crate) fn to_kwargs<T: Serialize + ?Sized>(value: &T) -> Result<Dict, ConvertError> {
    match to_value(value)? {
        Value::Null => Ok(Dict::new()),
        Value::Dict(d) => Ok(d),
        other => Err(ConvertError::new(format_args!(
            "keyword arguments must serialize to a map or struct, not a {}",
            other.type_name()
        ))),
    }
}

// ---------------------------------------------------------------------------------------------
// Serializer
// ---------------------------------------------------------------------------------------------

/// A serde `Serializer` whose output is a [`Value`].
#[derive(Clone, Copy, Debug, Default)]
pub struct ValueSerializer;

impl ser::Serializer for ValueSerializer {
    type Ok = Value;
    type Error = ConvertError;
    type SerializeSeq = SeqBuilder;
    type SerializeTuple = SeqBuilder;
    type SerializeTupleStruct = SeqBuilder;
    type SerializeTupleVariant = VariantSeqBuilder;
    type SerializeMap = MapBuilder;
    type SerializeStruct = MapBuilder;
    type SerializeStructVariant = VariantMapBuilder;

    fn is_human_readable(&self) -> bool {
        false
    }

    fn serialize_bool(self, v: bool) -> Result<Value, ConvertError> {
        Ok(Value::Bool(v))
    }
    fn serialize_i8(self, v: i8) -> Result<Value, ConvertError> {
        Ok(Value::from(i64::from(v)))
    }
    fn serialize_i16(self, v: i16) -> Result<Value, ConvertError> {
        Ok(Value::from(i64::from(v)))
    }
    fn serialize_i32(self, v: i32) -> Result<Value, ConvertError> {
        Ok(Value::from(i64::from(v)))
    }
    fn serialize_i64(self, v: i64) -> Result<Value, ConvertError> {
        Ok(Value::from(v))
    }
    fn serialize_i128(self, v: i128) -> Result<Value, ConvertError> {
        if let Ok(n) = u64::try_from(v) {
            Ok(Value::UInt(n))
        } else if let Ok(n) = i64::try_from(v) {
            Ok(Value::Int(n))
        } else {
            Err(ConvertError::new("integer out of the 64-bit range"))
        }
    }
    fn serialize_u8(self, v: u8) -> Result<Value, ConvertError> {
        Ok(Value::UInt(v.into()))
    }
    fn serialize_u16(self, v: u16) -> Result<Value, ConvertError> {
        Ok(Value::UInt(v.into()))
    }
    fn serialize_u32(self, v: u32) -> Result<Value, ConvertError> {
        Ok(Value::UInt(v.into()))
    }
    fn serialize_u64(self, v: u64) -> Result<Value, ConvertError> {
        Ok(Value::UInt(v))
    }
    fn serialize_u128(self, v: u128) -> Result<Value, ConvertError> {
        u64::try_from(v)
            .map(Value::UInt)
            .map_err(|_| ConvertError::new("integer out of the 64-bit range"))
    }
    fn serialize_f32(self, v: f32) -> Result<Value, ConvertError> {
        Ok(Value::Float(v.into()))
    }
    fn serialize_f64(self, v: f64) -> Result<Value, ConvertError> {
        Ok(Value::Float(v))
    }
    fn serialize_char(self, v: char) -> Result<Value, ConvertError> {
        Ok(Value::Str(v.to_string()))
    }
    fn serialize_str(self, v: &str) -> Result<Value, ConvertError> {
        Ok(Value::Str(v.to_owned()))
    }
    fn serialize_bytes(self, v: &[u8]) -> Result<Value, ConvertError> {
        Ok(Value::Bytes(Bytes::copy_from_slice(v)))
    }
    fn serialize_none(self) -> Result<Value, ConvertError> {
        Ok(Value::Null)
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<Value, ConvertError> {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result<Value, ConvertError> {
        Ok(Value::Null)
    }
    fn serialize_unit_struct(self, _name: &'static str) -> Result<Value, ConvertError> {
        Ok(Value::Null)
    }
    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Result<Value, ConvertError> {
        Ok(Value::Str(variant.to_owned()))
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result<Value, ConvertError> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<Value, ConvertError> {
        let mut d = Dict::new();
        d.insert(variant.to_owned(), value.serialize(self)?);
        Ok(Value::Dict(d))
    }
    fn serialize_seq(self, len: Option<usize>) -> Result<SeqBuilder, ConvertError> {
        Ok(SeqBuilder(Vec::with_capacity(len.unwrap_or(0).min(4096))))
    }
    fn serialize_tuple(self, len: usize) -> Result<SeqBuilder, ConvertError> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_struct(
        self,
        _name: &'static str,
        len: usize,
    ) -> Result<SeqBuilder, ConvertError> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<VariantSeqBuilder, ConvertError> {
        Ok(VariantSeqBuilder {
            variant,
            items: self.serialize_seq(Some(len))?,
        })
    }
    fn serialize_map(self, _len: Option<usize>) -> Result<MapBuilder, ConvertError> {
        Ok(MapBuilder::default())
    }
    fn serialize_struct(self, _name: &'static str, len: usize) -> Result<MapBuilder, ConvertError> {
        self.serialize_map(Some(len))
    }
    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<VariantMapBuilder, ConvertError> {
        Ok(VariantMapBuilder {
            variant,
            map: MapBuilder::default(),
        })
    }
}

/// Builds a list.
#[derive(Debug)]
pub struct SeqBuilder(Vec<Value>);

impl ser::SerializeSeq for SeqBuilder {
    type Ok = Value;
    type Error = ConvertError;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), ConvertError> {
        self.0.push(value.serialize(ValueSerializer)?);
        Ok(())
    }
    fn end(self) -> Result<Value, ConvertError> {
        Ok(Value::List(self.0))
    }
}

impl ser::SerializeTuple for SeqBuilder {
    type Ok = Value;
    type Error = ConvertError;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), ConvertError> {
        ser::SerializeSeq::serialize_element(self, value)
    }
    fn end(self) -> Result<Value, ConvertError> {
        ser::SerializeSeq::end(self)
    }
}

impl ser::SerializeTupleStruct for SeqBuilder {
    type Ok = Value;
    type Error = ConvertError;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), ConvertError> {
        ser::SerializeSeq::serialize_element(self, value)
    }
    fn end(self) -> Result<Value, ConvertError> {
        ser::SerializeSeq::end(self)
    }
}

/// Builds `{variant: [..]}`.
#[derive(Debug)]
pub struct VariantSeqBuilder {
    variant: &'static str,
    items: SeqBuilder,
}

impl ser::SerializeTupleVariant for VariantSeqBuilder {
    type Ok = Value;
    type Error = ConvertError;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), ConvertError> {
        ser::SerializeSeq::serialize_element(&mut self.items, value)
    }
    fn end(self) -> Result<Value, ConvertError> {
        let mut d = Dict::new();
        d.insert(self.variant.to_owned(), Value::List(self.items.0));
        Ok(Value::Dict(d))
    }
}

/// Builds a dict.
#[derive(Debug, Default)]
pub struct MapBuilder {
    map: Dict,
    key: Option<String>,
}

impl ser::SerializeMap for MapBuilder {
    type Ok = Value;
    type Error = ConvertError;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), ConvertError> {
        self.key = Some(key.serialize(KeySerializer)?);
        Ok(())
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), ConvertError> {
        let key = self
            .key
            .take()
            .ok_or_else(|| ConvertError::new("map value without a key"))?;
        self.map.insert(key, value.serialize(ValueSerializer)?);
        Ok(())
    }
    fn end(self) -> Result<Value, ConvertError> {
        Ok(Value::Dict(self.map))
    }
}

impl ser::SerializeStruct for MapBuilder {
    type Ok = Value;
    type Error = ConvertError;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), ConvertError> {
        self.map
            .insert(key.to_owned(), value.serialize(ValueSerializer)?);
        Ok(())
    }
    fn end(self) -> Result<Value, ConvertError> {
        Ok(Value::Dict(self.map))
    }
}

/// Builds `{variant: {..}}`.
#[derive(Debug)]
pub struct VariantMapBuilder {
    variant: &'static str,
    map: MapBuilder,
}

impl ser::SerializeStructVariant for VariantMapBuilder {
    type Ok = Value;
    type Error = ConvertError;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), ConvertError> {
        ser::SerializeStruct::serialize_field(&mut self.map, key, value)
    }
    fn end(self) -> Result<Value, ConvertError> {
        let mut d = Dict::new();
        d.insert(self.variant.to_owned(), Value::Dict(self.map.map));
        Ok(Value::Dict(d))
    }
}

/// Serializes dict keys: strings, chars and integers (as decimal text), and bools.
struct KeySerializer;

fn key_error() -> ConvertError {
    ConvertError::new("dict keys must be strings")
}

impl ser::Serializer for KeySerializer {
    type Ok = String;
    type Error = ConvertError;
    type SerializeSeq = ser::Impossible<String, ConvertError>;
    type SerializeTuple = ser::Impossible<String, ConvertError>;
    type SerializeTupleStruct = ser::Impossible<String, ConvertError>;
    type SerializeTupleVariant = ser::Impossible<String, ConvertError>;
    type SerializeMap = ser::Impossible<String, ConvertError>;
    type SerializeStruct = ser::Impossible<String, ConvertError>;
    type SerializeStructVariant = ser::Impossible<String, ConvertError>;

    fn serialize_bool(self, v: bool) -> Result<String, ConvertError> {
        Ok(v.to_string())
    }
    fn serialize_i8(self, v: i8) -> Result<String, ConvertError> {
        Ok(v.to_string())
    }
    fn serialize_i16(self, v: i16) -> Result<String, ConvertError> {
        Ok(v.to_string())
    }
    fn serialize_i32(self, v: i32) -> Result<String, ConvertError> {
        Ok(v.to_string())
    }
    fn serialize_i64(self, v: i64) -> Result<String, ConvertError> {
        Ok(v.to_string())
    }
    fn serialize_u8(self, v: u8) -> Result<String, ConvertError> {
        Ok(v.to_string())
    }
    fn serialize_u16(self, v: u16) -> Result<String, ConvertError> {
        Ok(v.to_string())
    }
    fn serialize_u32(self, v: u32) -> Result<String, ConvertError> {
        Ok(v.to_string())
    }
    fn serialize_u64(self, v: u64) -> Result<String, ConvertError> {
        Ok(v.to_string())
    }
    fn serialize_f32(self, _v: f32) -> Result<String, ConvertError> {
        Err(key_error())
    }
    fn serialize_f64(self, _v: f64) -> Result<String, ConvertError> {
        Err(key_error())
    }
    fn serialize_char(self, v: char) -> Result<String, ConvertError> {
        Ok(v.to_string())
    }
    fn serialize_str(self, v: &str) -> Result<String, ConvertError> {
        Ok(v.to_owned())
    }
    fn serialize_bytes(self, _v: &[u8]) -> Result<String, ConvertError> {
        Err(key_error())
    }
    fn serialize_none(self) -> Result<String, ConvertError> {
        Err(key_error())
    }
    fn serialize_some<T: Serialize + ?Sized>(self, _value: &T) -> Result<String, ConvertError> {
        Err(key_error())
    }
    fn serialize_unit(self) -> Result<String, ConvertError> {
        Err(key_error())
    }
    fn serialize_unit_struct(self, _name: &'static str) -> Result<String, ConvertError> {
        Err(key_error())
    }
    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Result<String, ConvertError> {
        Ok(variant.to_owned())
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        value: &T,
    ) -> Result<String, ConvertError> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _value: &T,
    ) -> Result<String, ConvertError> {
        Err(key_error())
    }
    fn serialize_seq(self, _len: Option<usize>) -> Result<Self::SerializeSeq, ConvertError> {
        Err(key_error())
    }
    fn serialize_tuple(self, _len: usize) -> Result<Self::SerializeTuple, ConvertError> {
        Err(key_error())
    }
    fn serialize_tuple_struct(
        self,
        _name: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeTupleStruct, ConvertError> {
        Err(key_error())
    }
    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeTupleVariant, ConvertError> {
        Err(key_error())
    }
    fn serialize_map(self, _len: Option<usize>) -> Result<Self::SerializeMap, ConvertError> {
        Err(key_error())
    }
    fn serialize_struct(
        self,
        _name: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeStruct, ConvertError> {
        Err(key_error())
    }
    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        _variant: &'static str,
        _len: usize,
    ) -> Result<Self::SerializeStructVariant, ConvertError> {
        Err(key_error())
    }
}

// ---------------------------------------------------------------------------------------------
// Deserializer
// ---------------------------------------------------------------------------------------------

/// A serde `Deserializer` that reads from an owned [`Value`].
#[derive(Clone, Debug)]
pub struct ValueDeserializer(pub Value);

impl<'de> IntoDeserializer<'de, ConvertError> for ValueDeserializer {
    type Deserializer = ValueDeserializer;
    fn into_deserializer(self) -> ValueDeserializer {
        self
    }
}

impl<'de> de::Deserializer<'de> for ValueDeserializer {
    type Error = ConvertError;

    fn is_human_readable(&self) -> bool {
        false
    }

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ConvertError> {
        match self.0 {
            Value::Null => visitor.visit_unit(),
            Value::Bool(b) => visitor.visit_bool(b),
            Value::Int(n) => visitor.visit_i64(n),
            Value::UInt(n) => visitor.visit_u64(n),
            Value::Float(f) => visitor.visit_f64(f),
            Value::Str(s) => visitor.visit_string(s),
            Value::Bytes(b) => visitor.visit_byte_buf(b.to_vec()),
            Value::List(items) => visit_list(items, visitor),
            Value::Dict(d) => visit_dict(d, visitor),
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ConvertError> {
        match self.0 {
            Value::Null => visitor.visit_none(),
            other => visitor.visit_some(ValueDeserializer(other)),
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, ConvertError> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, ConvertError> {
        match self.0 {
            Value::Str(variant) => visitor.visit_enum(Enum {
                variant,
                content: None,
            }),
            Value::Dict(d) if d.len() == 1 => {
                let mut it = d.into_iter();
                match it.next() {
                    Some((variant, content)) => visitor.visit_enum(Enum {
                        variant,
                        content: Some(content),
                    }),
                    None => Err(ConvertError::new("expected an enum variant")),
                }
            }
            other => Err(ConvertError::new(format_args!(
                "expected an enum (a string or a one-entry dict), got a {}",
                other.type_name()
            ))),
        }
    }

    fn deserialize_bytes<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ConvertError> {
        self.deserialize_byte_buf(visitor)
    }

    fn deserialize_byte_buf<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ConvertError> {
        match self.0 {
            Value::Bytes(b) => visitor.visit_byte_buf(b.to_vec()),
            Value::Str(s) => visitor.visit_string(s),
            other => ValueDeserializer(other).deserialize_any(visitor),
        }
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ConvertError> {
        match self.0 {
            Value::Null => visitor.visit_unit(),
            // An empty argument list or dict reads as "nothing" too.
            Value::List(l) if l.is_empty() => visitor.visit_unit(),
            Value::Dict(d) if d.is_empty() => visitor.visit_unit(),
            other => ValueDeserializer(other).deserialize_any(visitor),
        }
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        unit_struct seq tuple tuple_struct map struct identifier ignored_any
    }
}

fn visit_list<'de, V: Visitor<'de>>(
    items: Vec<Value>,
    visitor: V,
) -> Result<V::Value, ConvertError> {
    let len = items.len();
    let mut seq = Seq(items.into_iter());
    let out = visitor.visit_seq(&mut seq)?;
    if seq.0.as_slice().is_empty() {
        Ok(out)
    } else {
        Err(de::Error::invalid_length(
            len,
            &"fewer elements in the list",
        ))
    }
}

fn visit_dict<'de, V: Visitor<'de>>(dict: Dict, visitor: V) -> Result<V::Value, ConvertError> {
    visitor.visit_map(Map {
        iter: dict.into_iter(),
        value: None,
    })
}

struct Seq(std::vec::IntoIter<Value>);

impl<'de> SeqAccess<'de> for Seq {
    type Error = ConvertError;
    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, ConvertError> {
        match self.0.next() {
            Some(v) => seed.deserialize(ValueDeserializer(v)).map(Some),
            None => Ok(None),
        }
    }
    fn size_hint(&self) -> Option<usize> {
        Some(self.0.len())
    }
}

struct Map {
    iter: std::collections::btree_map::IntoIter<String, Value>,
    value: Option<Value>,
}

impl<'de> MapAccess<'de> for Map {
    type Error = ConvertError;
    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, ConvertError> {
        match self.iter.next() {
            Some((k, v)) => {
                self.value = Some(v);
                seed.deserialize(ValueDeserializer(Value::Str(k))).map(Some)
            }
            None => Ok(None),
        }
    }
    fn next_value_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<T::Value, ConvertError> {
        let v = self
            .value
            .take()
            .ok_or_else(|| ConvertError::new("dict value requested before its key"))?;
        seed.deserialize(ValueDeserializer(v))
    }
    fn size_hint(&self) -> Option<usize> {
        Some(self.iter.len())
    }
}

struct Enum {
    variant: String,
    content: Option<Value>,
}

impl<'de> EnumAccess<'de> for Enum {
    type Error = ConvertError;
    type Variant = VariantContent;
    fn variant_seed<V: DeserializeSeed<'de>>(
        self,
        seed: V,
    ) -> Result<(V::Value, VariantContent), ConvertError> {
        let v = seed.deserialize(ValueDeserializer(Value::Str(self.variant)))?;
        Ok((v, VariantContent(self.content)))
    }
}

struct VariantContent(Option<Value>);

impl<'de> VariantAccess<'de> for VariantContent {
    type Error = ConvertError;
    fn unit_variant(self) -> Result<(), ConvertError> {
        match self.0 {
            None | Some(Value::Null) => Ok(()),
            Some(other) => Err(ConvertError::new(format_args!(
                "unit variant with content of type {}",
                other.type_name()
            ))),
        }
    }
    fn newtype_variant_seed<T: DeserializeSeed<'de>>(
        self,
        seed: T,
    ) -> Result<T::Value, ConvertError> {
        seed.deserialize(ValueDeserializer(self.0.unwrap_or(Value::Null)))
    }
    fn tuple_variant<V: Visitor<'de>>(
        self,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, ConvertError> {
        match self.0 {
            Some(Value::List(items)) => visit_list(items, visitor),
            _ => Err(ConvertError::new("expected a list for a tuple variant")),
        }
    }
    fn struct_variant<V: Visitor<'de>>(
        self,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, ConvertError> {
        match self.0 {
            Some(Value::Dict(d)) => visit_dict(d, visitor),
            _ => Err(ConvertError::new("expected a dict for a struct variant")),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::collections::{BTreeMap, HashMap};

    use serde::{Deserialize, Serialize};
    use switchboard_proto::dict;

    use super::*;

    #[derive(Serialize, Deserialize, Debug, PartialEq, Clone)]
    enum Shape {
        Empty,
        Circle(f64),
        Rect(u32, u32),
        Named { name: String, sides: u8 },
    }

    #[derive(Serialize, Deserialize, Debug, PartialEq, Clone)]
    struct Everything {
        b: bool,
        i: i64,
        u: u64,
        f: f64,
        s: String,
        c: char,
        o: Option<i32>,
        none: Option<String>,
        v: Vec<u8>,
        t: (i32, String),
        m: BTreeMap<String, i32>,
        shapes: Vec<Shape>,
        unit: (),
    }

    fn everything() -> Everything {
        Everything {
            b: true,
            i: -5,
            u: u64::MAX,
            f: 1.5,
            s: "hello".into(),
            c: 'x',
            o: Some(3),
            none: None,
            v: vec![1, 2, 3],
            t: (7, "seven".into()),
            m: [("a".to_owned(), 1), ("b".to_owned(), 2)]
                .into_iter()
                .collect(),
            shapes: vec![
                Shape::Empty,
                Shape::Circle(2.0),
                Shape::Rect(3, 4),
                Shape::Named {
                    name: "tri".into(),
                    sides: 3,
                },
            ],
            unit: (),
        }
    }

    #[test]
    fn structs_round_trip_through_values() {
        let e = everything();
        let v = to_value(&e).unwrap();
        let back: Everything = from_value(v).unwrap();
        assert_eq!(back, e);
    }

    #[test]
    fn serde_data_model_maps_like_json() {
        let v = to_value(&everything()).unwrap();
        let d = v.as_dict().unwrap();
        assert_eq!(d["u"], Value::UInt(u64::MAX));
        assert_eq!(d["i"], Value::Int(-5));
        assert_eq!(d["none"], Value::Null);
        assert_eq!(
            d["shapes"],
            Value::List(vec![
                Value::from("Empty"),
                Value::Dict(dict! {"Circle" => 2.0}),
                Value::Dict(dict! {"Rect" => vec![Value::UInt(3), Value::UInt(4)]}),
                Value::Dict(dict! {"Named" => dict!{"name" => "tri", "sides" => 3u64}}),
            ])
        );
    }

    /// A byte string with serde's bytes hooks (what `serde_bytes` does).
    #[derive(Debug, PartialEq)]
    struct Buf(Vec<u8>);

    impl Serialize for Buf {
        fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            s.serialize_bytes(&self.0)
        }
    }

    impl<'de> Deserialize<'de> for Buf {
        fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Buf, D::Error> {
            struct V;
            impl Visitor<'_> for V {
                type Value = Buf;
                fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                    f.write_str("bytes")
                }
                fn visit_byte_buf<E>(self, v: Vec<u8>) -> Result<Buf, E> {
                    Ok(Buf(v))
                }
            }
            d.deserialize_byte_buf(V)
        }
    }

    #[test]
    fn bytes_stay_bytes() {
        let b = Buf(b"\x00\xffbin".to_vec());
        let v = to_value(&b).unwrap();
        assert_eq!(v, Value::Bytes(Bytes::from_static(b"\x00\xffbin")));
        let back: Buf = from_value(v).unwrap();
        assert_eq!(back, b);
    }

    #[test]
    fn values_pass_through_unchanged() {
        let v = Value::Dict(dict! {
            "bytes" => Bytes::from_static(b"\x01\x02"),
            "list" => vec![Value::Null, Value::Bool(false), Value::Float(0.5)],
            "s" => "\u{0}not bytes",
        });
        assert_eq!(to_value(&v).unwrap(), v);
        assert_eq!(from_value::<Value>(v.clone()).unwrap(), v);
    }

    #[test]
    fn integer_map_keys_become_strings_and_other_keys_fail() {
        let m: HashMap<u32, bool> = [(1, true)].into_iter().collect();
        assert_eq!(to_value(&m).unwrap(), Value::Dict(dict! {"1" => true}));
        let bad: HashMap<Vec<u8>, bool> = [(vec![1], true)].into_iter().collect();
        assert!(to_value(&bad).is_err());
    }

    #[test]
    fn shape_mismatches_are_errors_not_panics() {
        assert!(from_value::<(i32, i32)>(Value::List(vec![Value::UInt(1)])).is_err());
        assert!(from_value::<(i32,)>(Value::List(vec![Value::UInt(1), Value::UInt(2)])).is_err());
        assert!(from_value::<u8>(Value::UInt(300)).is_err());
        assert!(from_value::<String>(Value::UInt(3)).is_err());
        assert_eq!(from_value::<f64>(Value::UInt(3)).unwrap(), 3.0);
    }

    #[test]
    fn args_and_kwargs_shapes() {
        assert_eq!(to_args(&()).unwrap(), Vec::<Value>::new());
        assert_eq!(to_args(&None::<i32>).unwrap(), Vec::<Value>::new());
        assert_eq!(
            to_args(&(1, "a")).unwrap(),
            vec![Value::UInt(1), Value::from("a")]
        );
        assert_eq!(to_args(&5).unwrap(), vec![Value::UInt(5)]);
        assert_eq!(to_kwargs(&()).unwrap(), Dict::new());
        assert!(to_kwargs(&5).is_err());
        #[derive(Serialize)]
        struct K {
            x: i32,
        }
        assert_eq!(to_kwargs(&K { x: 1 }).unwrap(), dict! {"x" => 1});
    }

    #[test]
    fn unit_reads_from_null_and_empty_containers() {
        from_value::<()>(Value::Null).unwrap();
        from_value::<()>(Value::List(vec![])).unwrap();
        assert!(from_value::<()>(Value::UInt(1)).is_err());
    }
}
