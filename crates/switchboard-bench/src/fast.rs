//! Lean reading of the messages the generator receives in bulk (EVENT, RESULT, and PUBLISH
//! through the relay).
//!
//! A full [`switchboard_proto::decode`] builds every Options/Details dictionary and checks it;
//! at a million deliveries per second that made the generator, not the router, the
//! bottleneck. Here a serde visitor walks the frame once, with no allocation: the type code,
//! the request id of a RESULT, and the generator's own bookkeeping at the head of an event's
//! `Arguments` (publisher, sequence number, send time); every other element is skipped
//! ([`IgnoredAny`]). Anything else is left to the full decoder.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, IgnoredAny, SeqAccess, Visitor};
use switchboard_proto::Format;

/// `EVENT` type code.
const EVENT: u64 = 36;
/// `PUBLISH` type code (what relay subscribers receive).
const PUBLISH: u64 = 16;
/// `RESULT` type code.
const RESULT: u64 = 50;

/// The bookkeeping the generator puts at the head of an event's `Arguments`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct EventMeta {
    pub publisher: u64,
    pub seq: u64,
    pub sent_ns: u64,
}

/// What a frame is, as far as the generator cares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Peek {
    /// An EVENT (or a PUBLISH through the relay) carrying the generator's bookkeeping.
    Event(EventMeta),
    /// A RESULT for this request id.
    Result(u64),
    /// Any other message, by type code (read it with the full decoder if it matters).
    Other(u64),
}

/// Reads what the generator needs from a frame in `format`.
pub(crate) fn peek(format: Format, frame: &[u8]) -> Result<Peek, String> {
    match format {
        Format::Json => serde_json::from_slice(frame).map_err(|e| e.to_string()),
        Format::MessagePack => rmp_serde::from_slice(frame).map_err(|e| e.to_string()),
        Format::Cbor => minicbor_serde::from_slice(frame).map_err(|e| e.to_string()),
    }
}

fn missing<E: de::Error>(what: &str) -> E {
    E::custom(format_args!("missing {what}"))
}

struct PeekVisitor;

impl<'de> Visitor<'de> for PeekVisitor {
    type Value = Peek;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a WAMP message (an array starting with its type code)")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Peek, A::Error> {
        let code: u64 = seq
            .next_element()?
            .ok_or_else(|| missing("the type code"))?;
        let peek = match code {
            // EVENT [36, Subscription, Publication, Details, Arguments, ...]
            // PUBLISH [16, Request, Options, Topic, Arguments, ...]
            EVENT | PUBLISH => {
                for _ in 0..3 {
                    seq.next_element::<IgnoredAny>()?
                        .ok_or_else(|| missing("an element"))?;
                }
                match seq.next_element::<EventMeta>()? {
                    Some(meta) => Peek::Event(meta),
                    None => Peek::Other(code),
                }
            }
            // RESULT [50, Request, Details, ...]
            RESULT => Peek::Result(
                seq.next_element()?
                    .ok_or_else(|| missing("the request id"))?,
            ),
            other => Peek::Other(other),
        };
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(peek)
    }
}

impl<'de> Deserialize<'de> for Peek {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Peek, D::Error> {
        d.deserialize_seq(PeekVisitor)
    }
}

struct MetaVisitor;

impl<'de> Visitor<'de> for MetaVisitor {
    type Value = EventMeta;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("event arguments starting with publisher, sequence number and send time")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<EventMeta, A::Error> {
        let mut next =
            |what| -> Result<u64, A::Error> { seq.next_element()?.ok_or_else(|| missing(what)) };
        let meta = EventMeta {
            publisher: next("the publisher index")?,
            seq: next("the sequence number")?,
            sent_ns: next("the send time")?,
        };
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(meta)
    }
}

impl<'de> Deserialize<'de> for EventMeta {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<EventMeta, D::Error> {
        d.deserialize_seq(MetaVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchboard_proto::message::{CallResult, Event, Goodbye, Message, Publish};
    use switchboard_proto::options::{CloseDetails, EventDetails, PublishOptions, ResultDetails};
    use switchboard_proto::{Id, Payload, Value, dict, encode};

    fn id(n: u64) -> Id {
        Id::new(n).unwrap()
    }

    #[test]
    fn reads_events_results_and_others_in_every_format() {
        let args = vec![
            3u64.into(),
            41u64.into(),
            123_456_789u64.into(),
            "xxxx".into(),
        ];
        let meta = EventMeta {
            publisher: 3,
            seq: 41,
            sent_ns: 123_456_789,
        };
        let event = Message::Event(Event {
            subscription: id(77),
            publication: id(1 << 50),
            details: EventDetails::default().with("topic", "a.b"),
            payload: Payload::new(
                args.clone(),
                dict! { "k" => Value::List(vec![1u64.into()]) },
            ),
        });
        let publish = Message::Publish(Publish {
            request: id(9),
            options: PublishOptions::default().with("acknowledge", false),
            topic: "a.b".into(),
            payload: Payload::args(args),
        });
        let result = Message::Result(CallResult {
            request: id(12_345),
            details: ResultDetails::default().with("callee", 5u64),
            payload: Payload::args(vec!["x".into()]),
        });
        let bye = Message::Goodbye(Goodbye {
            details: CloseDetails::default(),
            reason: "wamp.close.system_shutdown".into(),
        });
        let bare_event = Message::Event(Event {
            subscription: id(1),
            publication: id(2),
            details: EventDetails::default(),
            payload: Payload::empty(),
        });
        for format in Format::ALL {
            let frame = |m: &Message| encode(m, format).unwrap();
            assert_eq!(
                peek(format, &frame(&event)),
                Ok(Peek::Event(meta)),
                "{format:?}"
            );
            assert_eq!(
                peek(format, &frame(&publish)),
                Ok(Peek::Event(meta)),
                "{format:?}"
            );
            assert_eq!(peek(format, &frame(&result)), Ok(Peek::Result(12_345)));
            assert_eq!(peek(format, &frame(&bye)), Ok(Peek::Other(6)));
            assert_eq!(peek(format, &frame(&bare_event)), Ok(Peek::Other(36)));
            assert!(peek(format, b"\x00garbage").is_err());
        }
        // An event whose arguments are not ours is an error, not a silent miscount.
        let foreign = Message::Event(Event {
            subscription: id(1),
            publication: id(2),
            details: EventDetails::default(),
            payload: Payload::args(vec!["hello".into()]),
        });
        assert!(
            peek(
                Format::MessagePack,
                &encode(&foreign, Format::MessagePack).unwrap()
            )
            .is_err()
        );
    }
}
