//! ARCHITECTURE.md decision 2: a router forwards args/kwargs without decoding them when both
//! peers use the same serializer, and transcodes them when they don't.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use bytes::Bytes;
use switchboard_proto::message::{Call, Invocation, Message};
use switchboard_proto::options::InvocationDetails;
use switchboard_proto::{Format, Id, Payload, Value, decode, dict, encode};

/// What a router does with a CALL: an INVOCATION carrying the CALL's payload as received.
fn invocation_for(call: &Call) -> Message {
    Message::Invocation(Invocation {
        request: Id::new(1).unwrap(),
        registration: Id::new(77).unwrap(),
        details: InvocationDetails::default(),
        payload: call.payload.clone(),
    })
}

fn received_call(frame: &'static [u8]) -> Call {
    match decode(Format::Json, &Bytes::from_static(frame)).unwrap() {
        Message::Call(c) => c,
        other => panic!("not a CALL: {other:?}"),
    }
}

// Odd spacing and key order: a re-serialization would not reproduce these bytes.
const CALL: &[u8] =
    br#"[48, 7, {}, "com.example.add", [1,  2.5, "\u0000AAEC"], {"z": [true, null], "a" : {"k": -3}}]"#;
const ARGS: &str = r#"[1,  2.5, "\u0000AAEC"]"#;
const KWARGS: &str = r#"{"z": [true, null], "a" : {"k": -3}}"#;

#[test]
fn json_call_args_arrive_byte_identical_in_a_json_invocation() {
    let call = received_call(CALL);
    assert_eq!(call.payload.raw_format(), Some(Format::Json));
    let frame = encode(&invocation_for(&call), Format::Json).unwrap();
    let text = std::str::from_utf8(&frame).unwrap();
    assert_eq!(text, format!("[68,1,77,{{}},{ARGS},{KWARGS}]"));
}

#[test]
fn json_call_args_arrive_equal_in_value_in_msgpack_and_cbor_invocations() {
    let call = received_call(CALL);
    let expected = Payload::new(
        vec![
            Value::UInt(1),
            Value::Float(2.5),
            Value::Bytes(Bytes::from_static(&[0, 1, 2])),
        ],
        dict! {
            "z" => vec![Value::Bool(true), Value::Null],
            "a" => dict! { "k" => -3i64 },
        },
    );
    for format in [Format::MessagePack, Format::Cbor] {
        let frame = encode(&invocation_for(&call), format).unwrap();
        let Message::Invocation(inv) = decode(format, &frame).unwrap() else {
            panic!("not an INVOCATION");
        };
        assert_eq!(inv.payload.raw_format(), Some(format));
        assert_eq!(inv.payload, expected, "{format}");
        // The JSON binary string became a native byte string.
        let args = inv.payload.to_values().unwrap().args;
        assert!(
            matches!(args[2], Value::Bytes(_)),
            "{format}: {:?}",
            args[2]
        );
    }
}

#[test]
fn binary_payloads_cross_back_into_json_with_the_binary_convention() {
    let call = Call {
        request: Id::new(1).unwrap(),
        options: Default::default(),
        procedure: "com.example.echo".into(),
        payload: Payload::args(vec![Value::Bytes(Bytes::from_static(b"\x10\xe3\xff"))]),
    };
    let msgpack = encode(&Message::Call(call), Format::MessagePack).unwrap();
    let Message::Call(received) = decode(Format::MessagePack, &msgpack).unwrap() else {
        panic!("not a CALL");
    };
    let frame = encode(&invocation_for(&received), Format::Json).unwrap();
    assert_eq!(
        std::str::from_utf8(&frame).unwrap(),
        r#"[68,1,77,{},["\u0000EOP/"]]"#
    );
}
