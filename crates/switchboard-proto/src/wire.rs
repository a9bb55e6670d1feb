//! Encoding and decoding whole messages.
//!
//! Decoding is strict (wamp-spec §1.1, §9 item 2): the message type, the element count, every
//! element's type, id ranges and the types of the known Options/Details keys are checked, and any
//! failure is a [`DecodeError`], which a router answers with ABORT `wamp.error.protocol_violation`.
//! Payloads are not decoded: they stay as slices of the frame (see [`Payload`]).

use bytes::Bytes;

use crate::Id;
use crate::codec::{CodecError, Format, Writer};
use crate::message::*;
use crate::names::MessageType;
use crate::options::{self, BadKey, *};
use crate::payload::{Payload, check_raw_shapes};
use crate::value::{Dict, Value};

/// Why a frame is not a valid WAMP message. Every variant is a protocol violation.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The bytes are not valid in the serializer's format.
    #[error(transparent)]
    Codec(#[from] CodecError),
    /// The frame is not a non-empty array starting with an integer.
    #[error("a message must be a non-empty array starting with its type code")]
    NotAMessage,
    /// The type code is not a known message type.
    #[error("unknown message type {0}")]
    UnknownType(u64),
    /// Wrong number of elements for the type.
    #[error("{ty} cannot have {len} elements")]
    Length {
        /// The message type.
        ty: MessageType,
        /// The element count received.
        len: usize,
    },
    /// An element has the wrong type.
    #[error("{ty}.{field} must be {expected}")]
    Field {
        /// The message type.
        ty: MessageType,
        /// The element's name.
        field: &'static str,
        /// What it must be.
        expected: &'static str,
    },
    /// A known key of an Options/Details dict has the wrong type.
    #[error("{ty}: {source}")]
    Key {
        /// The message type.
        ty: MessageType,
        /// The key and what was wrong.
        source: BadKey,
    },
}

/// Decodes one message from a frame in `format`.
pub fn decode(format: Format, frame: &Bytes) -> Result<Message, DecodeError> {
    let elems = format.split_array(frame)?;
    let first = elems.first().ok_or(DecodeError::NotAMessage)?;
    let code = format
        .decode_value(first)?
        .as_u64()
        .ok_or(DecodeError::NotAMessage)?;
    let ty = MessageType::from_code(code).ok_or(DecodeError::UnknownType(code))?;
    Fields {
        format,
        ty,
        elems: &elems,
    }
    .message()
}

/// Encodes a message in `format`.
pub fn encode(msg: &Message, format: Format) -> Result<Bytes, CodecError> {
    let ty = msg.message_type();
    let mut w;
    macro_rules! start {
        ($n:expr) => {{
            w = Writer::new(format, $n);
            w.uint(ty.code());
        }};
    }
    match msg {
        Message::Hello(m) => {
            start!(3);
            w.str(&m.realm)?;
            w.dict(&m.details)?;
        }
        Message::Welcome(m) => {
            start!(3);
            w.uint(m.session.get());
            w.dict(&m.details)?;
        }
        Message::Abort(m) => {
            start!(3 + m.payload.element_count());
            w.dict(&m.details)?;
            w.str(&m.reason)?;
            m.payload.write(&mut w)?;
        }
        Message::Challenge(m) => {
            start!(3);
            w.str(&m.method)?;
            w.dict(&m.extra)?;
        }
        Message::Authenticate(m) => {
            start!(3);
            w.str(&m.signature)?;
            w.dict(&m.extra)?;
        }
        Message::Goodbye(m) => {
            start!(3);
            w.dict(&m.details)?;
            w.str(&m.reason)?;
        }
        Message::Error(m) => {
            start!(5 + m.payload.element_count());
            w.uint(m.request_type.code());
            w.uint(m.request.get());
            w.dict(&m.details)?;
            w.str(&m.error)?;
            m.payload.write(&mut w)?;
        }
        Message::Publish(m) => {
            start!(4 + m.payload.element_count());
            w.uint(m.request.get());
            w.dict(&m.options)?;
            w.str(&m.topic)?;
            m.payload.write(&mut w)?;
        }
        Message::Published(m) => {
            start!(3);
            w.uint(m.request.get());
            w.uint(m.publication.get());
        }
        Message::Subscribe(m) => {
            start!(4);
            w.uint(m.request.get());
            w.dict(&m.options)?;
            w.str(&m.topic)?;
        }
        Message::Subscribed(m) => {
            start!(3);
            w.uint(m.request.get());
            w.uint(m.subscription.get());
        }
        Message::Unsubscribe(m) => {
            start!(3);
            w.uint(m.request.get());
            w.uint(m.subscription.get());
        }
        Message::Unsubscribed(m) => {
            start!(2 + usize::from(m.details.is_some()));
            w.uint(m.request.map_or(0, Id::get));
            if let Some(d) = &m.details {
                w.dict(d)?;
            }
        }
        Message::Event(m) => {
            start!(4 + m.payload.element_count());
            w.uint(m.subscription.get());
            w.uint(m.publication.get());
            w.dict(&m.details)?;
            m.payload.write(&mut w)?;
        }
        Message::Call(m) => {
            start!(4 + m.payload.element_count());
            w.uint(m.request.get());
            w.dict(&m.options)?;
            w.str(&m.procedure)?;
            m.payload.write(&mut w)?;
        }
        Message::Cancel(m) => {
            start!(3);
            w.uint(m.request.get());
            w.dict(&m.options)?;
        }
        Message::Result(m) => {
            start!(3 + m.payload.element_count());
            w.uint(m.request.get());
            w.dict(&m.details)?;
            m.payload.write(&mut w)?;
        }
        Message::Register(m) => {
            start!(4);
            w.uint(m.request.get());
            w.dict(&m.options)?;
            w.str(&m.procedure)?;
        }
        Message::Registered(m) => {
            start!(3);
            w.uint(m.request.get());
            w.uint(m.registration.get());
        }
        Message::Unregister(m) => {
            start!(3);
            w.uint(m.request.get());
            w.uint(m.registration.get());
        }
        Message::Unregistered(m) => {
            start!(2 + usize::from(m.details.is_some()));
            w.uint(m.request.map_or(0, Id::get));
            if let Some(d) = &m.details {
                w.dict(d)?;
            }
        }
        Message::Invocation(m) => {
            start!(4 + m.payload.element_count());
            w.uint(m.request.get());
            w.uint(m.registration.get());
            w.dict(&m.details)?;
            m.payload.write(&mut w)?;
        }
        Message::Interrupt(m) => {
            start!(3);
            w.uint(m.request.get());
            w.dict(&m.options)?;
        }
        Message::Yield(m) => {
            start!(3 + m.payload.element_count());
            w.uint(m.request.get());
            w.dict(&m.options)?;
            m.payload.write(&mut w)?;
        }
        Message::EventReceived(m) => {
            let n = m.payload.element_count();
            let with_details = n > 0 || !m.details.is_empty();
            start!(2 + usize::from(with_details) + n);
            w.uint(m.publication.get());
            if with_details {
                w.dict(&m.details)?;
            }
            m.payload.write(&mut w)?;
        }
    }
    Ok(w.finish())
}

/// Reads the elements of one message.
struct Fields<'a> {
    format: Format,
    ty: MessageType,
    elems: &'a [Bytes],
}

impl Fields<'_> {
    fn len_in(&self, min: usize, max: usize) -> Result<(), DecodeError> {
        if (min..=max).contains(&self.elems.len()) {
            Ok(())
        } else {
            Err(DecodeError::Length {
                ty: self.ty,
                len: self.elems.len(),
            })
        }
    }

    fn field_err(&self, field: &'static str, expected: &'static str) -> DecodeError {
        DecodeError::Field {
            ty: self.ty,
            field,
            expected,
        }
    }

    fn value(&self, i: usize) -> Result<Value, DecodeError> {
        let bytes = self.elems.get(i).ok_or(DecodeError::Length {
            ty: self.ty,
            len: self.elems.len(),
        })?;
        Ok(self.format.decode_value(bytes)?)
    }

    fn id(&self, i: usize, field: &'static str) -> Result<Id, DecodeError> {
        self.value(i)?
            .as_id()
            .ok_or_else(|| self.field_err(field, "an id (1..2^53)"))
    }

    fn uint(&self, i: usize, field: &'static str) -> Result<u64, DecodeError> {
        self.value(i)?
            .as_u64()
            .ok_or_else(|| self.field_err(field, "a non-negative integer"))
    }

    fn string(&self, i: usize, field: &'static str) -> Result<String, DecodeError> {
        match self.value(i)? {
            Value::Str(s) => Ok(s),
            _ => Err(self.field_err(field, "a string")),
        }
    }

    fn dict(&self, i: usize, field: &'static str) -> Result<Dict, DecodeError> {
        match self.value(i)? {
            Value::Dict(d) => Ok(d),
            _ => Err(self.field_err(field, "a dict")),
        }
    }

    fn typed<T>(
        &self,
        i: usize,
        field: &'static str,
        from_dict: fn(Dict) -> Result<T, BadKey>,
    ) -> Result<T, DecodeError> {
        from_dict(self.dict(i, field)?).map_err(|source| DecodeError::Key {
            ty: self.ty,
            source,
        })
    }

    /// The payload elements starting at `i`, kept raw after a shape check.
    fn payload(&self, i: usize, opaque_allowed: bool) -> Result<Payload, DecodeError> {
        let args = self.elems.get(i).cloned();
        let kwargs = self.elems.get(i + 1).cloned();
        check_raw_shapes(self.format, args.as_ref(), kwargs.as_ref(), opaque_allowed)
            .map_err(|expected| self.field_err("Arguments", expected))?;
        Ok(Payload::raw(self.format, args, kwargs))
    }

    fn message(&self) -> Result<Message, DecodeError> {
        use MessageType as T;
        Ok(match self.ty {
            T::Hello => {
                self.len_in(3, 3)?;
                Message::Hello(Hello {
                    realm: self.string(1, "Realm")?,
                    details: self.typed(2, "Details", HelloDetails::from_dict)?,
                })
            }
            T::Welcome => {
                self.len_in(3, 3)?;
                Message::Welcome(Welcome {
                    session: self.id(1, "Session")?,
                    details: self.typed(2, "Details", WelcomeDetails::from_dict)?,
                })
            }
            T::Abort => {
                self.len_in(3, 5)?;
                Message::Abort(Abort {
                    details: self.typed(1, "Details", CloseDetails::from_dict)?,
                    reason: self.string(2, "Reason")?,
                    payload: self.payload(3, false)?,
                })
            }
            T::Challenge => {
                self.len_in(3, 3)?;
                Message::Challenge(Challenge {
                    method: self.string(1, "AuthMethod")?,
                    extra: self.dict(2, "Extra")?,
                })
            }
            T::Authenticate => {
                self.len_in(3, 3)?;
                Message::Authenticate(Authenticate {
                    signature: self.string(1, "Signature")?,
                    extra: self.dict(2, "Extra")?,
                })
            }
            T::Goodbye => {
                self.len_in(3, 3)?;
                Message::Goodbye(Goodbye {
                    details: self.typed(1, "Details", CloseDetails::from_dict)?,
                    reason: self.string(2, "Reason")?,
                })
            }
            T::Error => {
                self.len_in(5, 7)?;
                let code = self.uint(1, "REQUEST.Type")?;
                let request_type = MessageType::from_code(code)
                    .filter(|t| ERROR_REQUEST_TYPES.contains(t))
                    .ok_or_else(|| {
                        self.field_err(
                            "REQUEST.Type",
                            "the type of a request (16, 32, 34, 48, 64, 66 or 68)",
                        )
                    })?;
                let details = self.typed(3, "Details", ErrorDetails::from_dict)?;
                let opaque = options::marks_opaque_payload(&details);
                Message::Error(ErrorMessage {
                    request_type,
                    request: self.id(2, "REQUEST.Request")?,
                    error: self.string(4, "Error")?,
                    payload: self.payload(5, opaque)?,
                    details,
                })
            }
            T::Publish => {
                self.len_in(4, 6)?;
                let options = self.typed(2, "Options", PublishOptions::from_dict)?;
                let opaque = options::marks_opaque_payload(&options);
                Message::Publish(Publish {
                    request: self.id(1, "Request")?,
                    topic: self.string(3, "Topic")?,
                    payload: self.payload(4, opaque)?,
                    options,
                })
            }
            T::Published => {
                self.len_in(3, 3)?;
                Message::Published(Published {
                    request: self.id(1, "PUBLISH.Request")?,
                    publication: self.id(2, "Publication")?,
                })
            }
            T::Subscribe => {
                self.len_in(4, 4)?;
                Message::Subscribe(Subscribe {
                    request: self.id(1, "Request")?,
                    options: self.typed(2, "Options", SubscribeOptions::from_dict)?,
                    topic: self.string(3, "Topic")?,
                })
            }
            T::Subscribed => {
                self.len_in(3, 3)?;
                Message::Subscribed(Subscribed {
                    request: self.id(1, "SUBSCRIBE.Request")?,
                    subscription: self.id(2, "Subscription")?,
                })
            }
            T::Unsubscribe => {
                self.len_in(3, 4)?;
                if self.elems.len() == 4 {
                    self.dict(3, "Options")?;
                }
                Message::Unsubscribe(Unsubscribe {
                    request: self.id(1, "Request")?,
                    subscription: self.id(2, "SUBSCRIBED.Subscription")?,
                })
            }
            T::Unsubscribed => {
                self.len_in(2, 3)?;
                let (request, details) = self.ack_or_revocation(UnsubscribedDetails::from_dict)?;
                Message::Unsubscribed(Unsubscribed { request, details })
            }
            T::Event => {
                self.len_in(4, 6)?;
                let details = self.typed(3, "Details", EventDetails::from_dict)?;
                let opaque = options::marks_opaque_payload(&details);
                Message::Event(Event {
                    subscription: self.id(1, "Subscription")?,
                    publication: self.id(2, "Publication")?,
                    payload: self.payload(4, opaque)?,
                    details,
                })
            }
            T::Call => {
                self.len_in(4, 6)?;
                let options = self.typed(2, "Options", CallOptions::from_dict)?;
                let opaque = options::marks_opaque_payload(&options);
                Message::Call(Call {
                    request: self.id(1, "Request")?,
                    procedure: self.string(3, "Procedure")?,
                    payload: self.payload(4, opaque)?,
                    options,
                })
            }
            T::Cancel => {
                self.len_in(3, 3)?;
                Message::Cancel(Cancel {
                    request: self.id(1, "CALL.Request")?,
                    options: self.typed(2, "Options", CancelOptions::from_dict)?,
                })
            }
            T::Result => {
                self.len_in(3, 5)?;
                let details = self.typed(2, "Details", ResultDetails::from_dict)?;
                let opaque = options::marks_opaque_payload(&details);
                Message::Result(CallResult {
                    request: self.id(1, "CALL.Request")?,
                    payload: self.payload(3, opaque)?,
                    details,
                })
            }
            T::Register => {
                self.len_in(4, 4)?;
                Message::Register(Register {
                    request: self.id(1, "Request")?,
                    options: self.typed(2, "Options", RegisterOptions::from_dict)?,
                    procedure: self.string(3, "Procedure")?,
                })
            }
            T::Registered => {
                self.len_in(3, 3)?;
                Message::Registered(Registered {
                    request: self.id(1, "REGISTER.Request")?,
                    registration: self.id(2, "Registration")?,
                })
            }
            T::Unregister => {
                self.len_in(3, 4)?;
                if self.elems.len() == 4 {
                    self.dict(3, "Options")?;
                }
                Message::Unregister(Unregister {
                    request: self.id(1, "Request")?,
                    registration: self.id(2, "REGISTERED.Registration")?,
                })
            }
            T::Unregistered => {
                self.len_in(2, 3)?;
                let (request, details) = self.ack_or_revocation(UnregisteredDetails::from_dict)?;
                Message::Unregistered(Unregistered { request, details })
            }
            T::Invocation => {
                self.len_in(4, 6)?;
                let details = self.typed(3, "Details", InvocationDetails::from_dict)?;
                let opaque = options::marks_opaque_payload(&details);
                Message::Invocation(Invocation {
                    request: self.id(1, "Request")?,
                    registration: self.id(2, "Registration")?,
                    payload: self.payload(4, opaque)?,
                    details,
                })
            }
            T::Interrupt => {
                self.len_in(3, 3)?;
                Message::Interrupt(Interrupt {
                    request: self.id(1, "INVOCATION.Request")?,
                    options: self.typed(2, "Options", InterruptOptions::from_dict)?,
                })
            }
            T::Yield => {
                self.len_in(3, 5)?;
                let options = self.typed(2, "Options", YieldOptions::from_dict)?;
                let opaque = options::marks_opaque_payload(&options);
                Message::Yield(Yield {
                    request: self.id(1, "INVOCATION.Request")?,
                    payload: self.payload(3, opaque)?,
                    options,
                })
            }
            T::EventReceived => {
                self.len_in(2, 5)?;
                let details = if self.elems.len() > 2 {
                    self.dict(2, "Details")?
                } else {
                    Dict::new()
                };
                Message::EventReceived(EventReceived {
                    publication: self.id(1, "EVENT.Publication")?,
                    payload: self.payload(3, false)?,
                    details,
                })
            }
        })
    }

    /// `[35|67, Request]` or the revocation form `[35|67, 0, Details]`.
    fn ack_or_revocation<T>(
        &self,
        from_dict: fn(Dict) -> Result<T, BadKey>,
    ) -> Result<(Option<Id>, Option<T>), DecodeError> {
        let request = self.uint(1, "Request")?;
        let details = if self.elems.len() == 3 {
            Some(self.typed(2, "Details", from_dict)?)
        } else {
            None
        };
        match (request, &details) {
            (0, Some(_)) => Ok((None, details)),
            (n, _) => Id::new(n)
                .map(|id| (Some(id), details))
                .ok_or_else(|| self.field_err("Request", "an id (1..2^53), or 0 with Details")),
        }
    }
}

/// The request types an ERROR may answer (wamp-spec §1.2).
const ERROR_REQUEST_TYPES: [MessageType; 7] = [
    MessageType::Publish,
    MessageType::Subscribe,
    MessageType::Unsubscribe,
    MessageType::Call,
    MessageType::Register,
    MessageType::Unregister,
    MessageType::Invocation,
];
