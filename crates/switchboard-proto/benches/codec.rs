//! Micro-benchmarks: encoding and decoding whole WAMP messages, per serializer.
//!
//! `cargo bench -p switchboard-proto --bench codec` (divan). Messages are the router's hot
//! ones: CALL and EVENT with a 16-byte payload, and a PUBLISH with a larger mixed payload;
//! `forward_call` is what a router does per call (decode CALL, encode INVOCATION with the
//! payload bytes copied, not re-encoded).

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use bytes::Bytes;
use divan::{Bencher, black_box};
use switchboard_proto::message::{Call, Event, Invocation, Message, Publish};
use switchboard_proto::options::{CallOptions, EventDetails, InvocationDetails, PublishOptions};
use switchboard_proto::{Format, Id, Payload, Value, decode, dict, encode};

fn main() {
    divan::main();
}

const FORMATS: [&str; 3] = ["json", "msgpack", "cbor"];

fn format(name: &str) -> Format {
    Format::from_name(name).expect("a known serializer")
}

fn id(n: u64) -> Id {
    Id::new(n).expect("a valid id")
}

fn call() -> Message {
    Message::Call(Call {
        request: id(12_345),
        options: CallOptions::default(),
        procedure: "com.example.bench.echo".to_owned(),
        payload: Payload::args(vec![Value::Str("x".repeat(16))]),
    })
}

fn event() -> Message {
    Message::Event(Event {
        subscription: id(5_512_315_355),
        publication: id(4_429_313_566),
        details: EventDetails::default(),
        payload: Payload::args(vec![
            0u64.into(),
            123_456u64.into(),
            Value::Str("x".repeat(16)),
        ]),
    })
}

fn publish_large() -> Message {
    let kwargs = dict! {
        "user" => "alice", "count" => 42u64, "ratio" => 0.25f64, "ok" => true,
        "tags" => Value::List(vec!["a".into(), "b".into(), "c".into()]),
        "blob" => Bytes::from(vec![7u8; 256]),
    };
    Message::Publish(Publish {
        request: id(239_714_735),
        options: PublishOptions::default().with("acknowledge", true),
        topic: "com.example.sensors.temperature".to_owned(),
        payload: Payload::new(vec![Value::Str("y".repeat(200)), 7u64.into()], kwargs),
    })
}

#[divan::bench(args = FORMATS)]
fn encode_call(bencher: Bencher, name: &str) {
    let (f, msg) = (format(name), call());
    bencher.bench(|| encode(black_box(&msg), f).unwrap());
}

#[divan::bench(args = FORMATS)]
fn decode_call(bencher: Bencher, name: &str) {
    let f = format(name);
    let frame = encode(&call(), f).unwrap();
    bencher.bench(|| decode(f, black_box(&frame)).unwrap());
}

#[divan::bench(args = FORMATS)]
fn encode_event(bencher: Bencher, name: &str) {
    let (f, msg) = (format(name), event());
    bencher.bench(|| encode(black_box(&msg), f).unwrap());
}

#[divan::bench(args = FORMATS)]
fn decode_event(bencher: Bencher, name: &str) {
    let f = format(name);
    let frame = encode(&event(), f).unwrap();
    bencher.bench(|| decode(f, black_box(&frame)).unwrap());
}

#[divan::bench(args = FORMATS)]
fn encode_publish_large(bencher: Bencher, name: &str) {
    let (f, msg) = (format(name), publish_large());
    bencher.bench(|| encode(black_box(&msg), f).unwrap());
}

#[divan::bench(args = FORMATS)]
fn decode_publish_large(bencher: Bencher, name: &str) {
    let f = format(name);
    let frame = encode(&publish_large(), f).unwrap();
    bencher.bench(|| decode(f, black_box(&frame)).unwrap());
}

/// Decode a CALL and encode the INVOCATION that forwards its payload as raw bytes.
#[divan::bench(args = FORMATS)]
fn forward_call(bencher: Bencher, name: &str) {
    let f = format(name);
    let frame = encode(&call(), f).unwrap();
    bencher.bench(|| {
        let Message::Call(c) = decode(f, black_box(&frame)).unwrap() else {
            unreachable!("a CALL");
        };
        let inv = Message::Invocation(Invocation {
            request: id(77),
            registration: id(88),
            details: InvocationDetails::default(),
            payload: c.payload,
        });
        encode(&inv, f).unwrap()
    });
}

/// Decoding the payload itself into values (what a subscriber that reads events does).
#[divan::bench(args = FORMATS)]
fn decode_event_payload_values(bencher: Bencher, name: &str) {
    let f = format(name);
    let frame = encode(&event(), f).unwrap();
    bencher.bench(|| {
        let Message::Event(e) = decode(f, black_box(&frame)).unwrap() else {
            unreachable!("an EVENT");
        };
        e.payload.to_values().unwrap()
    });
}
