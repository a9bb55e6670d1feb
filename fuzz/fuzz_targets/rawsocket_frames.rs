//! `FrameDecoder` on arbitrary bytes: must never panic, and every frame it yields must
//! re-encode to exactly the bytes it was decoded from.
//!
//! The first input byte picks the payload limit and the chunk size, so the same input also
//! exercises incremental decoding, which must agree with one-shot decoding.

#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use switchboard_proto::rawsocket::{Frame, FrameDecoder, FrameError, encode_frame};

/// Decodes until the decoder needs more bytes or fails.
fn drain(
    decoder: &mut FrameDecoder,
    buf: &mut BytesMut,
    out: &mut Vec<Frame>,
) -> Option<FrameError> {
    loop {
        match decoder.decode(buf) {
            Ok(Some(frame)) => out.push(frame),
            Ok(None) => return None,
            Err(error) => return Some(error),
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&control, bytes)) = data.split_first() else {
        return;
    };
    // Limits from 0 to 2^24 + something, so `TooLong` and the 25th length bit both happen.
    let max_len = match control & 0x0F {
        15 => u32::MAX,
        n => 1u32 << (n + 2),
    };
    let chunk = usize::from(control >> 4) + 1;

    // One shot.
    let mut decoder = FrameDecoder::new(max_len);
    let mut buf = BytesMut::from(bytes);
    let mut whole = Vec::new();
    let whole_error = drain(&mut decoder, &mut buf, &mut whole);
    let left = buf.len();

    let mut reencoded = BytesMut::new();
    for frame in &whole {
        if encode_frame(frame.kind, &frame.payload, &mut reencoded).is_err() {
            panic!("decoded frame does not re-encode");
        }
    }
    assert_eq!(&reencoded[..], &bytes[..bytes.len() - left]);

    // In chunks.
    let mut decoder = FrameDecoder::new(max_len);
    let mut buf = BytesMut::new();
    let mut parts = Vec::new();
    let mut parts_error = None;
    for piece in bytes.chunks(chunk) {
        buf.extend_from_slice(piece);
        parts_error = drain(&mut decoder, &mut buf, &mut parts);
        if parts_error.is_some() {
            break;
        }
    }
    assert_eq!(parts, whole);
    assert_eq!(parts_error, whole_error);
});
