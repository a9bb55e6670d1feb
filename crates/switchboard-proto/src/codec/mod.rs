//! Serializers: JSON (`wamp.2.json`), MessagePack (`wamp.2.msgpack`) and CBOR (`wamp.2.cbor`).
//!
//! Each format provides three things used by the message layer:
//! - splitting a received frame (a top-level array) into the raw byte slices of its elements,
//!   so a router can keep `args`/`kwargs` as slices of the frame without decoding them;
//! - decoding one element into a [`Value`];
//! - writing an array of elements, where an element is a value or bytes already encoded in
//!   this format (forwarded payloads).

mod cbor;
mod json;
mod msgpack;

use std::fmt;

use bytes::{BufMut, Bytes, BytesMut};

use crate::value::Value;

/// A WAMP serializer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Format {
    /// JSON, with the `\u0000`+base64 convention for bytes.
    Json,
    /// MessagePack (spec version 5+: `str` and `bin` are distinct).
    MessagePack,
    /// CBOR (RFC 8949).
    Cbor,
}

impl Format {
    /// Every supported format, in Switchboard's order of preference.
    pub const ALL: [Format; 3] = [Format::Cbor, Format::MessagePack, Format::Json];

    /// The WebSocket subprotocol name, e.g. `wamp.2.json`.
    pub const fn subprotocol(self) -> &'static str {
        match self {
            Format::Json => "wamp.2.json",
            Format::MessagePack => "wamp.2.msgpack",
            Format::Cbor => "wamp.2.cbor",
        }
    }

    /// The format for a WebSocket subprotocol name, if it is one we speak.
    pub fn from_subprotocol(name: &str) -> Option<Format> {
        Format::ALL.into_iter().find(|f| f.subprotocol() == name)
    }

    /// The RawSocket serializer id (1 JSON, 2 MessagePack, 3 CBOR).
    pub const fn rawsocket_id(self) -> u8 {
        match self {
            Format::Json => 1,
            Format::MessagePack => 2,
            Format::Cbor => 3,
        }
    }

    /// The format for a RawSocket serializer id, if it is one we speak.
    pub fn from_rawsocket_id(id: u8) -> Option<Format> {
        Format::ALL.into_iter().find(|f| f.rawsocket_id() == id)
    }

    /// The short name used in config and on the command line: `json`, `msgpack`, `cbor`.
    pub const fn name(self) -> &'static str {
        match self {
            Format::Json => "json",
            Format::MessagePack => "msgpack",
            Format::Cbor => "cbor",
        }
    }

    /// The format for a short name (`json`, `msgpack`, `cbor`).
    pub fn from_name(name: &str) -> Option<Format> {
        Format::ALL.into_iter().find(|f| f.name() == name)
    }

    /// Whether frames of this format are binary (WebSocket binary frames) rather than text.
    pub const fn is_binary(self) -> bool {
        !matches!(self, Format::Json)
    }

    /// Splits a frame holding one array into the raw bytes of each element.
    pub(crate) fn split_array(self, frame: &Bytes) -> Result<Vec<Bytes>, CodecError> {
        match self {
            Format::Json => json::split_array(frame),
            Format::MessagePack => msgpack::split_array(frame),
            Format::Cbor => cbor::split_array(frame),
        }
    }

    /// Decodes one complete encoded value.
    pub fn decode_value(self, bytes: &[u8]) -> Result<Value, CodecError> {
        match self {
            Format::Json => json::decode_value(bytes),
            Format::MessagePack => msgpack::decode_value(bytes),
            Format::Cbor => cbor::decode_value(bytes),
        }
    }

    /// Encodes one value.
    pub fn encode_value(self, value: &Value) -> Result<Bytes, CodecError> {
        let mut buf = BytesMut::new();
        match self {
            Format::Json => json::write(&mut buf, value)?,
            Format::MessagePack => msgpack::write(&mut buf, value)?,
            Format::Cbor => cbor::write(&mut buf, value)?,
        }
        Ok(buf.freeze())
    }

    /// The shape of an encoded value from its first byte(s), without decoding it.
    pub(crate) fn shape_of(self, bytes: &[u8]) -> Shape {
        match self {
            Format::Json => json::shape_of(bytes),
            Format::MessagePack => msgpack::shape_of(bytes),
            Format::Cbor => cbor::shape_of(bytes),
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The container kind of an encoded value, told from its leading bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Shape {
    List,
    Dict,
    Other,
}

/// A malformed encoding.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("malformed {format}: {reason}")]
pub struct CodecError {
    /// The format that failed.
    pub format: Format,
    /// What was wrong.
    pub reason: String,
}

impl CodecError {
    pub(crate) fn new(format: Format, reason: impl fmt::Display) -> CodecError {
        CodecError {
            format,
            reason: reason.to_string(),
        }
    }
}

/// Writes one top-level array of a known length in a format.
pub(crate) struct Writer {
    format: Format,
    buf: BytesMut,
    first: bool,
}

impl Writer {
    /// Starts an array of `len` elements.
    pub(crate) fn new(format: Format, len: usize) -> Writer {
        let mut buf = BytesMut::with_capacity(64);
        match format {
            Format::Json => buf.put_u8(b'['),
            Format::MessagePack => msgpack::write_array_len(&mut buf, len),
            Format::Cbor => cbor::write_array_len(&mut buf, len),
        }
        Writer {
            format,
            buf,
            first: true,
        }
    }

    fn separator(&mut self) {
        if self.format == Format::Json && !std::mem::take(&mut self.first) {
            self.buf.put_u8(b',');
        }
    }

    /// Appends an unsigned integer.
    pub(crate) fn uint(&mut self, n: u64) {
        self.separator();
        match self.format {
            Format::Json => {
                self.buf.put_slice(itoa_buf(n).digits());
            }
            Format::MessagePack => msgpack::write_uint(&mut self.buf, n),
            Format::Cbor => cbor::write_uint(&mut self.buf, n),
        }
    }

    /// Appends a string.
    pub(crate) fn str(&mut self, s: &str) -> Result<(), CodecError> {
        self.separator();
        match self.format {
            Format::Json => json::write_str(&mut self.buf, s),
            Format::MessagePack => {
                msgpack::write_str(&mut self.buf, s);
                Ok(())
            }
            Format::Cbor => {
                cbor::write_str(&mut self.buf, s);
                Ok(())
            }
        }
    }

    /// Appends a value.
    pub(crate) fn value(&mut self, v: &Value) -> Result<(), CodecError> {
        self.serialize(v)
    }

    /// Appends a dictionary.
    pub(crate) fn dict(&mut self, d: &crate::value::Dict) -> Result<(), CodecError> {
        self.serialize(d)
    }

    /// Appends a list.
    pub(crate) fn list(&mut self, items: &[Value]) -> Result<(), CodecError> {
        self.serialize(items)
    }

    fn serialize<T: serde::Serialize + ?Sized>(&mut self, v: &T) -> Result<(), CodecError> {
        self.separator();
        match self.format {
            Format::Json => json::write(&mut self.buf, v),
            Format::MessagePack => msgpack::write(&mut self.buf, v),
            Format::Cbor => cbor::write(&mut self.buf, v),
        }
    }

    /// Appends bytes that already hold one value encoded in this writer's format.
    pub(crate) fn raw(&mut self, encoded: &[u8]) {
        self.separator();
        self.buf.put_slice(encoded);
    }

    /// The format being written.
    pub(crate) fn format(&self) -> Format {
        self.format
    }

    /// Closes the array and returns the frame.
    pub(crate) fn finish(mut self) -> Bytes {
        if self.format == Format::Json {
            self.buf.put_u8(b']');
        }
        self.buf.freeze()
    }
}

/// Decimal digits of an integer without allocating.
fn itoa_buf(mut n: u64) -> DigitBuf {
    let mut d = DigitBuf {
        buf: [0; 20],
        start: 20,
    };
    loop {
        d.start -= 1;
        d.buf[d.start] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    d
}

struct DigitBuf {
    buf: [u8; 20],
    start: usize,
}

impl DigitBuf {
    fn digits(&self) -> &[u8] {
        &self.buf[self.start..]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dict;

    fn all_values() -> Vec<Value> {
        vec![
            Value::Null,
            Value::Bool(true),
            Value::Int(-42),
            Value::UInt(1 << 53),
            Value::Float(1.5),
            Value::Str("héllo".into()),
            Value::Bytes(Bytes::from_static(b"\x00\x01\xff")),
            Value::List(vec![Value::UInt(1), Value::Str("x".into())]),
            Value::Dict(dict! { "a" => 1u64, "b" => vec![Value::Null] }),
        ]
    }

    #[test]
    fn values_round_trip_in_every_format() {
        for f in Format::ALL {
            for v in all_values() {
                let enc = f.encode_value(&v).unwrap();
                assert_eq!(f.decode_value(&enc).unwrap(), v, "{f}: {v}");
            }
        }
    }

    #[test]
    fn split_array_yields_each_element() {
        for f in Format::ALL {
            let mut w = Writer::new(f, 3);
            w.uint(16);
            w.str("com.x").unwrap();
            w.value(&Value::List(vec![Value::UInt(1)])).unwrap();
            let frame = w.finish();
            let parts = f.split_array(&frame).unwrap();
            assert_eq!(parts.len(), 3, "{f}");
            assert_eq!(f.decode_value(&parts[0]).unwrap(), Value::UInt(16));
            assert_eq!(
                f.decode_value(&parts[1]).unwrap(),
                Value::Str("com.x".into())
            );
            assert_eq!(f.shape_of(&parts[2]), Shape::List);
        }
    }

    #[test]
    fn digits() {
        for n in [0u64, 7, 10, 12345, u64::MAX] {
            assert_eq!(itoa_buf(n).digits(), n.to_string().as_bytes());
        }
    }

    #[test]
    fn subprotocol_names() {
        assert_eq!(
            Format::from_subprotocol("wamp.2.msgpack"),
            Some(Format::MessagePack)
        );
        assert_eq!(Format::from_subprotocol("wamp.2.ubjson"), None);
        assert_eq!(Format::from_rawsocket_id(3), Some(Format::Cbor));
    }
}
