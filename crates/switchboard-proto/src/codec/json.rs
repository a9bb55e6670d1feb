//! JSON (`wamp.2.json`) with serde_json; raw element slices through `RawValue`.

use bytes::{BufMut, Bytes, BytesMut};
use serde::Serialize;
use serde_json::value::RawValue;

use super::{CodecError, Format, Shape};
use crate::value::Value;

fn err(e: impl std::fmt::Display) -> CodecError {
    CodecError::new(Format::Json, e)
}

pub(super) fn split_array(frame: &Bytes) -> Result<Vec<Bytes>, CodecError> {
    let elements: Vec<&RawValue> = serde_json::from_slice(frame).map_err(err)?;
    Ok(elements
        .into_iter()
        .map(|raw| frame.slice_ref(raw.get().as_bytes()))
        .collect())
}

pub(super) fn decode_value(bytes: &[u8]) -> Result<Value, CodecError> {
    serde_json::from_slice(bytes).map_err(err)
}

pub(super) fn shape_of(bytes: &[u8]) -> Shape {
    match bytes.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'[') => Shape::List,
        Some(b'{') => Shape::Dict,
        _ => Shape::Other,
    }
}

pub(super) fn write<T: Serialize + ?Sized>(buf: &mut BytesMut, v: &T) -> Result<(), CodecError> {
    serde_json::to_writer(buf.writer(), v).map_err(err)
}

pub(super) fn write_str(buf: &mut BytesMut, s: &str) -> Result<(), CodecError> {
    serde_json::to_writer(buf.writer(), s).map_err(err)
}
