//! CBOR (`wamp.2.cbor`): minicbor for headers and skipping, minicbor-serde for values.

use bytes::{BufMut, Bytes, BytesMut};
use minicbor::data::Type;
use minicbor::encode::write::Writer as CborWriter;
use serde::Serialize;

use super::{CodecError, Format, Shape};
use crate::value::Value;

fn err(e: impl std::fmt::Display) -> CodecError {
    CodecError::new(Format::Cbor, e)
}

pub(super) fn split_array(frame: &Bytes) -> Result<Vec<Bytes>, CodecError> {
    let mut d = minicbor::Decoder::new(frame);
    let len = d.array().map_err(err)?;
    let mut out = Vec::with_capacity(len.unwrap_or(8).min(16) as usize);
    let mut remaining = len;
    loop {
        match remaining {
            Some(0) => break,
            Some(ref mut n) => *n -= 1,
            None => {
                if d.datatype().map_err(err)? == Type::Break {
                    d.skip().map_err(err)?;
                    break;
                }
            }
        }
        let start = d.position();
        d.skip().map_err(err)?;
        out.push(frame.slice(start..d.position()));
    }
    if d.position() != frame.len() {
        return Err(err("trailing bytes after the message array"));
    }
    Ok(out)
}

pub(super) fn decode_value(bytes: &[u8]) -> Result<Value, CodecError> {
    let mut d = minicbor::Decoder::new(bytes);
    d.skip().map_err(err)?;
    if d.position() != bytes.len() {
        return Err(err("trailing bytes after a value"));
    }
    minicbor_serde::from_slice(bytes).map_err(err)
}

pub(super) fn shape_of(bytes: &[u8]) -> Shape {
    match bytes.first().map(|b| b >> 5) {
        Some(4) => Shape::List,
        Some(5) => Shape::Dict,
        _ => Shape::Other,
    }
}

pub(super) fn write_array_len(buf: &mut BytesMut, len: usize) {
    // Writing into a BytesMut cannot fail.
    let _ = minicbor::Encoder::new(CborWriter::new(buf.writer())).array(len as u64);
}

pub(super) fn write_uint(buf: &mut BytesMut, n: u64) {
    let _ = minicbor::Encoder::new(CborWriter::new(buf.writer())).u64(n);
}

pub(super) fn write_str(buf: &mut BytesMut, s: &str) {
    let _ = minicbor::Encoder::new(CborWriter::new(buf.writer())).str(s);
}

pub(super) fn write<T: Serialize + ?Sized>(buf: &mut BytesMut, v: &T) -> Result<(), CodecError> {
    let mut ser = minicbor_serde::Serializer::new(CborWriter::new(buf.writer()));
    v.serialize(&mut ser).map_err(err)
}
