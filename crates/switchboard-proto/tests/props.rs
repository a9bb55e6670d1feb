//! Property tests: every message survives encode→decode in every format, and no byte string
//! makes a decoder panic.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use bytes::Bytes;
use proptest::prelude::*;
use switchboard_proto::message::*;
use switchboard_proto::names::MessageType;
use switchboard_proto::options::*;
use switchboard_proto::{Dict, Format, Id, Payload, Value, decode, encode};

fn any_format() -> impl Strategy<Value = Format> {
    prop::sample::select(Format::ALL.to_vec())
}

fn any_id() -> impl Strategy<Value = Id> {
    (1u64..=(1u64 << 53)).prop_map(|n| Id::new(n).unwrap())
}

fn any_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<u64>().prop_map(Value::UInt),
        (i64::MIN..0).prop_map(Value::Int),
        // Finite floats only: JSON has no NaN or infinity.
        (-1e300f64..1e300).prop_map(Value::Float),
        // A JSON string starting with U+0000 is bytes by the binary convention, so such
        // strings are not plain strings in every format.
        ".{0,12}"
            .prop_filter("starts with NUL", |s| !s.starts_with('\0'))
            .prop_map(Value::Str),
        prop::collection::vec(any::<u8>(), 0..16).prop_map(|b| Value::Bytes(Bytes::from(b))),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::List),
            prop::collection::btree_map("[a-z_]{1,6}", inner, 0..4).prop_map(Value::Dict),
        ]
    })
}

fn any_dict() -> impl Strategy<Value = Dict> {
    // Underscore-prefixed keys: implementation-specific, never in a known-key table.
    prop::collection::btree_map("_[a-z]{3,6}", any_value(), 0..3)
}

fn any_payload() -> impl Strategy<Value = Payload> {
    (prop::collection::vec(any_value(), 0..3), any_dict()).prop_map(|(a, k)| Payload::new(a, k))
}

fn uri() -> impl Strategy<Value = String> {
    "[a-z]{1,5}(\\.[a-z0-9_]{1,5}){0,3}"
}

fn any_message() -> impl Strategy<Value = Message> {
    prop_oneof![
        (uri(), any_dict()).prop_map(|(realm, d)| Hello {
            realm,
            details: d.into()
        }
        .into()),
        (any_id(), any_dict()).prop_map(|(session, d)| Welcome {
            session,
            details: d.into()
        }
        .into()),
        (any_dict(), uri(), any_payload()).prop_map(|(d, reason, payload)| Abort {
            details: d.into(),
            reason,
            payload
        }
        .into()),
        (".{0,8}", any_dict()).prop_map(|(method, extra)| Challenge { method, extra }.into()),
        (".{0,8}", any_dict())
            .prop_map(|(signature, extra)| Authenticate { signature, extra }.into()),
        (any_dict(), uri()).prop_map(|(d, reason)| Goodbye {
            details: d.into(),
            reason
        }
        .into()),
        (any_id(), any_dict(), uri(), any_payload()).prop_map(|(request, d, error, payload)| {
            ErrorMessage {
                request_type: MessageType::Call,
                request,
                details: d.into(),
                error,
                payload,
            }
            .into()
        }),
        (any_id(), any_dict(), uri(), any_payload(), any::<bool>()).prop_map(
            |(request, d, topic, payload, ack)| {
                let options = PublishOptions::from(d).with("acknowledge", ack);
                Publish {
                    request,
                    options,
                    topic,
                    payload,
                }
                .into()
            }
        ),
        (any_id(), any_id()).prop_map(|(request, publication)| Published {
            request,
            publication
        }
        .into()),
        (any_id(), any_dict(), uri()).prop_map(|(request, d, topic)| {
            Subscribe {
                request,
                options: SubscribeOptions::from(d).with("match", "prefix"),
                topic,
            }
            .into()
        }),
        (any_id(), any_id()).prop_map(|(request, subscription)| Subscribed {
            request,
            subscription
        }
        .into()),
        (any_id(), any_id()).prop_map(|(request, subscription)| Unsubscribe {
            request,
            subscription
        }
        .into()),
        any_id().prop_map(|r| Unsubscribed {
            request: Some(r),
            details: None
        }
        .into()),
        any_id().prop_map(|s| {
            let details = UnsubscribedDetails::default()
                .with("subscription", s)
                .with("reason", "gone");
            Unsubscribed {
                request: None,
                details: Some(details),
            }
            .into()
        }),
        (any_id(), any_id(), any_dict(), any_payload()).prop_map(
            |(subscription, publication, d, payload)| {
                Event {
                    subscription,
                    publication,
                    details: d.into(),
                    payload,
                }
                .into()
            }
        ),
        (any_id(), any_dict(), uri(), any_payload(), 0u64..100_000).prop_map(
            |(request, d, procedure, payload, timeout)| {
                let options = CallOptions::from(d).with("timeout", timeout);
                Call {
                    request,
                    options,
                    procedure,
                    payload,
                }
                .into()
            }
        ),
        any_id().prop_map(|request| {
            Cancel {
                request,
                options: CancelOptions::default().with("mode", "killnowait"),
            }
            .into()
        }),
        (any_id(), any_dict(), any_payload()).prop_map(|(request, d, payload)| CallResult {
            request,
            details: d.into(),
            payload
        }
        .into()),
        (any_id(), any_dict(), uri()).prop_map(|(request, d, procedure)| Register {
            request,
            options: d.into(),
            procedure
        }
        .into()),
        (any_id(), any_id()).prop_map(|(request, registration)| Registered {
            request,
            registration
        }
        .into()),
        (any_id(), any_id()).prop_map(|(request, registration)| Unregister {
            request,
            registration
        }
        .into()),
        any_id().prop_map(|r| Unregistered {
            request: Some(r),
            details: None
        }
        .into()),
        (any_id(), any_id(), any_dict(), any_payload()).prop_map(
            |(request, registration, d, payload)| {
                Invocation {
                    request,
                    registration,
                    details: d.into(),
                    payload,
                }
                .into()
            }
        ),
        any_id().prop_map(|request| Interrupt {
            request,
            options: InterruptOptions::default()
        }
        .into()),
        (any_id(), any_dict(), any_payload()).prop_map(|(request, d, payload)| Yield {
            request,
            options: d.into(),
            payload
        }
        .into()),
        (any_id(), any_dict(), any_payload()).prop_map(|(publication, details, payload)| {
            EventReceived {
                publication,
                details,
                payload,
            }
            .into()
        }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn decode_of_encode_is_identity(msg in any_message(), format in any_format()) {
        let frame = encode(&msg, format).unwrap();
        let back = decode(format, &frame).unwrap();
        prop_assert_eq!(&back, &msg);
        // Re-encoding the decoded message (raw payload) gives the same bytes.
        prop_assert_eq!(encode(&back, format).unwrap(), frame);
    }

    #[test]
    fn transcoding_between_formats_keeps_the_message(msg in any_message(), a in any_format(), b in any_format()) {
        let received = decode(a, &encode(&msg, a).unwrap()).unwrap();
        let forwarded = decode(b, &encode(&received, b).unwrap()).unwrap();
        prop_assert_eq!(forwarded, msg);
    }

    #[test]
    fn decoding_arbitrary_bytes_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..256), format in any_format()) {
        let _ = decode(format, &Bytes::from(bytes));
    }

    #[test]
    fn decoding_mutated_messages_never_panics(msg in any_message(), format in any_format(),
                                              flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4)) {
        let mut bytes = encode(&msg, format).unwrap().to_vec();
        for (at, byte) in flips {
            let i = at.index(bytes.len());
            bytes[i] = byte;
        }
        if let Ok(m) = decode(format, &Bytes::from(bytes)) {
            // Whatever decodes must encode again.
            let _ = encode(&m, format);
        }
    }
}
