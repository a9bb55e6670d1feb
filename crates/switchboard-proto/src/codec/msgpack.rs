//! MessagePack (`wamp.2.msgpack`): rmp for headers, a small iterative skipper for raw slices.

use bytes::{BufMut, Bytes, BytesMut};
use serde::Serialize;

use super::{CodecError, Format, Shape};
use crate::value::Value;

fn err(e: impl std::fmt::Display) -> CodecError {
    CodecError::new(Format::MessagePack, e)
}

pub(super) fn split_array(frame: &Bytes) -> Result<Vec<Bytes>, CodecError> {
    let (len, mut pos) = array_header(frame)?;
    let mut out = Vec::with_capacity(len.min(16));
    for _ in 0..len {
        let end = skip(frame, pos)?;
        out.push(frame.slice(pos..end));
        pos = end;
    }
    if pos != frame.len() {
        return Err(err("trailing bytes after the message array"));
    }
    Ok(out)
}

fn array_header(b: &[u8]) -> Result<(usize, usize), CodecError> {
    match b.first() {
        Some(m @ 0x90..=0x9f) => Ok((usize::from(m & 0x0f), 1)),
        Some(0xdc) => Ok((usize::from(be16(b, 1)?), 3)),
        Some(0xdd) => Ok((be32(b, 1)? as usize, 5)),
        Some(_) => Err(err("a message must be an array")),
        None => Err(err("empty frame")),
    }
}

fn be16(b: &[u8], at: usize) -> Result<u16, CodecError> {
    let s = b.get(at..at + 2).ok_or_else(|| err("truncated"))?;
    Ok(u16::from_be_bytes([s[0], s[1]]))
}

fn be32(b: &[u8], at: usize) -> Result<u32, CodecError> {
    let s = b.get(at..at + 4).ok_or_else(|| err("truncated"))?;
    Ok(u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
}

/// Returns the end offset of the value starting at `pos`. Iterative: a count of values still
/// to skip replaces recursion, so nesting depth costs no stack.
fn skip(b: &[u8], mut pos: usize) -> Result<usize, CodecError> {
    let mut pending: u64 = 1;
    while pending > 0 {
        pending -= 1;
        let marker = *b.get(pos).ok_or_else(|| err("truncated"))?;
        pos += 1;
        // (bytes of length field, fixed payload size, items contained)
        let (payload, items): (u64, u64) = match marker {
            0x00..=0x7f | 0xe0..=0xff | 0xc0 | 0xc2 | 0xc3 => (0, 0),
            0x80..=0x8f => (0, u64::from(marker & 0x0f) * 2),
            0x90..=0x9f => (0, u64::from(marker & 0x0f)),
            0xa0..=0xbf => (u64::from(marker & 0x1f), 0),
            0xc1 => return Err(err("reserved marker 0xc1")),
            0xc4 | 0xd9 => (u64::from(read_n(b, &mut pos, 1)?), 0),
            0xc5 | 0xda => (u64::from(read_n(b, &mut pos, 2)?), 0),
            0xc6 | 0xdb => (u64::from(read_n(b, &mut pos, 4)?), 0),
            0xc7 => (u64::from(read_n(b, &mut pos, 1)?) + 1, 0),
            0xc8 => (u64::from(read_n(b, &mut pos, 2)?) + 1, 0),
            0xc9 => (u64::from(read_n(b, &mut pos, 4)?) + 1, 0),
            0xca => (4, 0),
            0xcb => (8, 0),
            0xcc | 0xd0 => (1, 0),
            0xcd | 0xd1 => (2, 0),
            0xce | 0xd2 => (4, 0),
            0xcf | 0xd3 => (8, 0),
            0xd4 => (2, 0),
            0xd5 => (3, 0),
            0xd6 => (5, 0),
            0xd7 => (9, 0),
            0xd8 => (17, 0),
            0xdc => (0, u64::from(read_n(b, &mut pos, 2)?)),
            0xdd => (0, u64::from(read_n(b, &mut pos, 4)?)),
            0xde => (0, u64::from(read_n(b, &mut pos, 2)?) * 2),
            0xdf => (0, u64::from(read_n(b, &mut pos, 4)?) * 2),
        };
        let end = (pos as u64)
            .checked_add(payload)
            .filter(|&e| e <= b.len() as u64)
            .ok_or_else(|| err("truncated"))?;
        pos = end as usize;
        // Every contained item takes at least one byte: a count beyond what is left is bogus.
        pending = pending
            .checked_add(items)
            .filter(|&p| p <= (b.len() - pos) as u64)
            .ok_or_else(|| err("truncated"))?;
    }
    Ok(pos)
}

fn read_n(b: &[u8], pos: &mut usize, n: usize) -> Result<u32, CodecError> {
    let s = b.get(*pos..*pos + n).ok_or_else(|| err("truncated"))?;
    *pos += n;
    Ok(s.iter().fold(0u32, |acc, &x| (acc << 8) | u32::from(x)))
}

pub(super) fn decode_value(bytes: &[u8]) -> Result<Value, CodecError> {
    let end = skip(bytes, 0)?;
    if end != bytes.len() {
        return Err(err("trailing bytes after a value"));
    }
    rmp_serde::from_slice(bytes).map_err(err)
}

pub(super) fn shape_of(bytes: &[u8]) -> Shape {
    match bytes.first() {
        Some(0x90..=0x9f | 0xdc | 0xdd) => Shape::List,
        Some(0x80..=0x8f | 0xde | 0xdf) => Shape::Dict,
        _ => Shape::Other,
    }
}

pub(super) fn write_array_len(buf: &mut BytesMut, len: usize) {
    // Writing into a BytesMut cannot fail.
    let _ = rmp::encode::write_array_len(&mut buf.writer(), len as u32);
}

pub(super) fn write_uint(buf: &mut BytesMut, n: u64) {
    let _ = rmp::encode::write_uint(&mut buf.writer(), n);
}

pub(super) fn write_str(buf: &mut BytesMut, s: &str) {
    let _ = rmp::encode::write_str(&mut buf.writer(), s);
}

pub(super) fn write<T: Serialize + ?Sized>(buf: &mut BytesMut, v: &T) -> Result<(), CodecError> {
    v.serialize(&mut rmp_serde::Serializer::new(buf.writer()))
        .map_err(err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skip_refuses_bogus_counts_without_allocating() {
        // array32 claiming 4 billion items
        assert!(skip(&[0xdd, 0xff, 0xff, 0xff, 0xff], 0).is_err());
        assert!(skip(&[0xc1], 0).is_err());
        assert_eq!(skip(&[0x92, 0x01, 0xa1, b'x'], 0), Ok(4));
    }

    #[test]
    fn skip_agrees_with_rmp_serde_on_nested_values() {
        let v = Value::List(vec![
            Value::UInt(300),
            Value::Dict(crate::dict! { "k" => Value::Bytes(Bytes::from_static(b"ab")) }),
            Value::Float(0.5),
            Value::Int(-70_000),
        ]);
        let mut buf = BytesMut::new();
        write(&mut buf, &v).unwrap();
        assert_eq!(skip(&buf, 0), Ok(buf.len()));
    }
}
