//! RawSocket handshake parsing on arbitrary 4-octet inputs, from both sides: must never
//! panic, and whatever parses must encode back to the same octets.

#![no_main]

use libfuzzer_sys::fuzz_target;
use switchboard_proto::rawsocket::{Handshake, HandshakeReply, MaxLength, SerializerId};

fuzz_target!(|data: [u8; 4]| {
    // Router side: the request.
    if let Ok(request) = Handshake::decode(data) {
        assert_eq!(request.encode(), data);
    }
    if let Some(reply) = HandshakeReply::answer(data, MaxLength::MAX, SerializerId::is_supported) {
        let encoded = reply.encode();
        // A router's reply always parses as a reply.
        assert_eq!(HandshakeReply::decode(encoded), Ok(reply));
    }

    // Client side: the router's reply.
    if let Ok(reply) = HandshakeReply::decode(data) {
        assert_eq!(reply.encode(), data);
    }
    let request = Handshake::new(MaxLength::MAX, SerializerId::Json);
    let _ = request.check_reply(data);
});
