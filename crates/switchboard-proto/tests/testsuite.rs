//! The WAMP spec's own test vectors (tests/data/wamp-testsuite, see its SOURCE.md).
//!
//! For every sample: each JSON, MessagePack and CBOR variant decodes to the expected attributes,
//! and our own encoding, in every format, decodes back to them. For the options-validation
//! samples (`wmsg`): a message with a wrongly typed key fails with an error naming the key,
//! and the valid ones decode, in every format.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;

use bytes::Bytes;
use switchboard_proto::message::Message;
use switchboard_proto::{Dict, Format, Value, decode, encode};

fn data_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/wamp-testsuite/singlemessage")
}

fn vector_files() -> Vec<PathBuf> {
    let mut files = Vec::new();
    for profile in ["basic", "advanced"] {
        let dir = data_dir().join(profile);
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "json") {
                files.push(path);
            }
        }
    }
    files.sort();
    assert!(
        files.len() >= 25,
        "test vectors missing from {:?}",
        data_dir()
    );
    files
}

fn load(path: &PathBuf) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// Converts parsed JSON test data into our `Value` (no binary convention: plain JSON).
fn json_to_value(v: &serde_json::Value) -> Value {
    match v {
        serde_json::Value::Null => Value::Null,
        serde_json::Value::Bool(b) => Value::Bool(*b),
        serde_json::Value::Number(n) => n
            .as_u64()
            .map(Value::UInt)
            .or_else(|| n.as_i64().map(Value::Int))
            .unwrap_or_else(|| Value::Float(n.as_f64().unwrap())),
        serde_json::Value::String(s) => Value::Str(s.clone()),
        serde_json::Value::Array(a) => Value::List(a.iter().map(json_to_value).collect()),
        serde_json::Value::Object(o) => Value::Dict(
            o.iter()
                .map(|(k, v)| (k.clone(), json_to_value(v)))
                .collect(),
        ),
    }
}

fn id(v: impl Into<u64>) -> Value {
    Value::UInt(v.into())
}

/// The attributes of a decoded message, named as the test vectors name them.
fn attributes(msg: &Message) -> Dict {
    let mut a = Dict::new();
    let mut put = |k: &str, v: Value| {
        a.insert(k.to_owned(), v);
    };
    put("message_type", id(msg.message_type().code()));
    let payload = |p: &switchboard_proto::Payload, put: &mut dyn FnMut(&str, Value)| {
        let v = p.to_values().unwrap();
        put(
            "args",
            if v.args.is_empty() {
                Value::Null
            } else {
                Value::List(v.args)
            },
        );
        put(
            "kwargs",
            if v.kwargs.is_empty() {
                Value::Null
            } else {
                Value::Dict(v.kwargs)
            },
        );
        put(
            "payload",
            match v.opaque {
                Some(Value::Bytes(b)) => Value::Str(hex::encode(b)),
                Some(other) => other,
                None => Value::Null,
            },
        );
    };
    match msg {
        Message::Hello(m) => {
            put("realm", Value::Str(m.realm.clone()));
            put("roles", m.details.get("roles").cloned().unwrap_or_default());
        }
        Message::Welcome(m) => {
            put("session_id", id(m.session));
            put("roles", m.details.get("roles").cloned().unwrap_or_default());
        }
        Message::Abort(m) => {
            put("details", Value::Dict(m.details.0.clone()));
            put("reason", Value::Str(m.reason.clone()));
        }
        Message::Challenge(m) => {
            put("method", Value::Str(m.method.clone()));
            put("extra", Value::Dict(m.extra.clone()));
        }
        Message::Authenticate(m) => {
            put("signature", Value::Str(m.signature.clone()));
            put("extra", Value::Dict(m.extra.clone()));
        }
        Message::Goodbye(m) => {
            put("details", Value::Dict(m.details.0.clone()));
            put("reason", Value::Str(m.reason.clone()));
        }
        Message::Error(m) => {
            put("request_type", id(m.request_type.code()));
            put("request_id", id(m.request));
            put("details", Value::Dict(m.details.0.clone()));
            put("error", Value::Str(m.error.clone()));
            payload(&m.payload, &mut put);
        }
        Message::Publish(m) => {
            put("request_id", id(m.request));
            put("options", Value::Dict(m.options.0.clone()));
            put("topic", Value::Str(m.topic.clone()));
            payload(&m.payload, &mut put);
        }
        Message::Published(m) => {
            put("request_id", id(m.request));
            put("publication_id", id(m.publication));
        }
        Message::Subscribe(m) => {
            put("request_id", id(m.request));
            put("options", Value::Dict(m.options.0.clone()));
            put("topic", Value::Str(m.topic.clone()));
        }
        Message::Subscribed(m) => {
            put("request_id", id(m.request));
            put("subscription_id", id(m.subscription));
        }
        Message::Unsubscribe(m) => {
            put("request_id", id(m.request));
            put("subscription_id", id(m.subscription));
        }
        Message::Unsubscribed(m) => put("request_id", id(m.request.map_or(0, |r| r.get()))),
        Message::Event(m) => {
            put("subscription", id(m.subscription));
            put("publication", id(m.publication));
            put("details", Value::Dict(m.details.0.clone()));
            payload(&m.payload, &mut put);
        }
        Message::Call(m) => {
            put("request_id", id(m.request));
            put("options", Value::Dict(m.options.0.clone()));
            put("procedure", Value::Str(m.procedure.clone()));
            payload(&m.payload, &mut put);
        }
        Message::Cancel(m) => {
            put("request_id", id(m.request));
            put("options", Value::Dict(m.options.0.clone()));
        }
        Message::Result(m) => {
            put("request_id", id(m.request));
            put("details", Value::Dict(m.details.0.clone()));
            payload(&m.payload, &mut put);
        }
        Message::Register(m) => {
            put("request_id", id(m.request));
            put("options", Value::Dict(m.options.0.clone()));
            put("procedure", Value::Str(m.procedure.clone()));
        }
        Message::Registered(m) => {
            put("request_id", id(m.request));
            put("registration_id", id(m.registration));
        }
        Message::Unregister(m) => {
            put("request_id", id(m.request));
            put("registration_id", id(m.registration));
        }
        Message::Unregistered(m) => put("request_id", id(m.request.map_or(0, |r| r.get()))),
        Message::Invocation(m) => {
            put("request_id", id(m.request));
            put("registration_id", id(m.registration));
            put("details", Value::Dict(m.details.0.clone()));
            payload(&m.payload, &mut put);
        }
        Message::Interrupt(m) => {
            put("request_id", id(m.request));
            put("options", Value::Dict(m.options.0.clone()));
        }
        Message::Yield(m) => {
            put("request_id", id(m.request));
            put("options", Value::Dict(m.options.0.clone()));
            payload(&m.payload, &mut put);
        }
        Message::EventReceived(m) => put("publication_id", id(m.publication)),
    }
    a
}

/// Every expected attribute is what we decoded (a `null` expectation means absent).
fn assert_matches(expected: &Dict, got: &Dict, context: &str) {
    for (key, want) in expected {
        let have = got.get(key).cloned().unwrap_or_default();
        assert_eq!(&have, want, "{context}: attribute {key}");
    }
}

const FORMATS: [(&str, Format); 3] = [
    ("json", Format::Json),
    ("msgpack", Format::MessagePack),
    ("cbor", Format::Cbor),
];

#[test]
fn every_sample_decodes_to_its_expected_attributes_and_round_trips() {
    let mut checked = 0;
    for path in vector_files() {
        let file = load(&path);
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        for sample in file["samples"].as_array().unwrap() {
            let Some(expected) = sample.get("expected_attributes").filter(|e| !e.is_null()) else {
                continue;
            };
            let Value::Dict(expected) = json_to_value(expected) else {
                panic!("{name}: expected_attributes is not a dict");
            };
            let desc = sample["description"].as_str().unwrap_or("?");
            for (ser_name, format) in FORMATS {
                let variants = sample["serializers"][ser_name].as_array().unwrap();
                assert!(!variants.is_empty(), "{name}/{desc}: no {ser_name} variant");
                for variant in variants {
                    let bytes = hex::decode(variant["bytes_hex"].as_str().unwrap()).unwrap();
                    let ctx = format!("{name} / {desc} / {ser_name}");
                    let msg = decode(format, &Bytes::from(bytes))
                        .unwrap_or_else(|e| panic!("{ctx}: does not decode: {e}"));
                    assert_matches(&expected, &attributes(&msg), &ctx);
                    for (out_name, out) in FORMATS {
                        let frame = encode(&msg, out).unwrap();
                        let back = decode(out, &frame)
                            .unwrap_or_else(|e| panic!("{ctx} → {out_name}: {e}"));
                        assert_matches(
                            &expected,
                            &attributes(&back),
                            &format!("{ctx} → {out_name}"),
                        );
                        assert_eq!(back, msg, "{ctx} → {out_name}");
                    }
                    checked += 1;
                }
            }
        }
    }
    assert!(checked >= 100, "only {checked} variants checked");
}

#[test]
fn option_validation_samples_pass_or_fail_naming_the_key() {
    let mut checked = 0;
    for path in vector_files() {
        let file = load(&path);
        for sample in file["samples"].as_array().unwrap() {
            let Some(wmsg) = sample.get("wmsg") else {
                continue;
            };
            let desc = sample["description"].as_str().unwrap_or("?");
            let value = json_to_value(wmsg);
            for (ser_name, format) in FORMATS {
                let frame = format.encode_value(&value).unwrap();
                let result = decode(format, &frame);
                match sample.get("expected_error") {
                    Some(err) => {
                        let key = err["contains"].as_str().unwrap();
                        let e = result.expect_err(&format!("{desc} ({ser_name}) must fail"));
                        assert!(
                            e.to_string().contains(key),
                            "{desc} ({ser_name}): error {e:?} does not name {key}"
                        );
                    }
                    None => {
                        result.unwrap_or_else(|e| panic!("{desc} ({ser_name}): {e}"));
                    }
                }
                checked += 1;
            }
        }
    }
    assert!(checked >= 150, "only {checked} validation cases checked");
}
