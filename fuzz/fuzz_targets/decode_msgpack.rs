//! Decoding arbitrary bytes as a MessagePack WAMP message never panics; whatever decodes
//! encodes again, in every format, and the MessagePack re-encoding decodes again.

#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use switchboard_proto::{Format, decode, encode};

fuzz_target!(|data: &[u8]| {
    let Ok(msg) = decode(Format::MessagePack, &Bytes::copy_from_slice(data)) else {
        return;
    };
    for format in Format::ALL {
        let _ = encode(&msg, format);
    }
    if let Ok(again) = encode(&msg, Format::MessagePack) {
        // Equality is not asserted: NaN payload floats never compare equal.
        let back = decode(Format::MessagePack, &again);
        assert!(back.is_ok(), "re-encoded message does not decode: {back:?}");
    }
});
