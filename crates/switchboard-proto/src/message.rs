//! Every WAMP message as a typed value (wamp-spec §1.2).
//!
//! URIs are carried as received (`String`): whether one is valid, and under which rules, is the
//! receiver's decision, because an invalid URI is answered with an ERROR that names the request,
//! not with a failed decode. Ids are [`Id`]s: a value outside `1..=2^53` fails decoding.

use crate::Id;
use crate::names::MessageType;
use crate::options::*;
use crate::payload::Payload;
use crate::value::Dict;

/// `HELLO [1, Realm|uri, Details|dict]`
#[derive(Clone, Debug, PartialEq)]
pub struct Hello {
    pub realm: String,
    pub details: HelloDetails,
}

/// `WELCOME [2, Session|id, Details|dict]`
#[derive(Clone, Debug, PartialEq)]
pub struct Welcome {
    pub session: Id,
    pub details: WelcomeDetails,
}

/// `ABORT [3, Details|dict, Reason|uri, Arguments?, ArgumentsKw?]`
#[derive(Clone, Debug, PartialEq)]
pub struct Abort {
    pub details: CloseDetails,
    pub reason: String,
    pub payload: Payload,
}

/// `CHALLENGE [4, AuthMethod|string, Extra|dict]`
#[derive(Clone, Debug, PartialEq)]
pub struct Challenge {
    pub method: String,
    pub extra: Dict,
}

/// `AUTHENTICATE [5, Signature|string, Extra|dict]`
#[derive(Clone, Debug, PartialEq)]
pub struct Authenticate {
    pub signature: String,
    pub extra: Dict,
}

/// `GOODBYE [6, Details|dict, Reason|uri]`
#[derive(Clone, Debug, PartialEq)]
pub struct Goodbye {
    pub details: CloseDetails,
    pub reason: String,
}

/// `ERROR [8, REQUEST.Type|int, REQUEST.Request|id, Details|dict, Error|uri, Arguments?, ArgumentsKw?]`
#[derive(Clone, Debug, PartialEq)]
pub struct ErrorMessage {
    pub request_type: MessageType,
    pub request: Id,
    pub details: ErrorDetails,
    pub error: String,
    pub payload: Payload,
}

/// `PUBLISH [16, Request|id, Options|dict, Topic|uri, Arguments?, ArgumentsKw?]`
#[derive(Clone, Debug, PartialEq)]
pub struct Publish {
    pub request: Id,
    pub options: PublishOptions,
    pub topic: String,
    pub payload: Payload,
}

/// `PUBLISHED [17, PUBLISH.Request|id, Publication|id]`
#[derive(Clone, Debug, PartialEq)]
pub struct Published {
    pub request: Id,
    pub publication: Id,
}

/// `SUBSCRIBE [32, Request|id, Options|dict, Topic|uri]`
#[derive(Clone, Debug, PartialEq)]
pub struct Subscribe {
    pub request: Id,
    pub options: SubscribeOptions,
    pub topic: String,
}

/// `SUBSCRIBED [33, SUBSCRIBE.Request|id, Subscription|id]`
#[derive(Clone, Debug, PartialEq)]
pub struct Subscribed {
    pub request: Id,
    pub subscription: Id,
}

/// `UNSUBSCRIBE [34, Request|id, SUBSCRIBED.Subscription|id]` (a trailing Options dict, which
/// Autobahn may send, is accepted and ignored)
#[derive(Clone, Debug, PartialEq)]
pub struct Unsubscribe {
    pub request: Id,
    pub subscription: Id,
}

/// `UNSUBSCRIBED [35, UNSUBSCRIBE.Request|id]`, or the revocation form
/// `[35, 0, Details|dict]` (`request: None`).
#[derive(Clone, Debug, PartialEq)]
pub struct Unsubscribed {
    pub request: Option<Id>,
    pub details: Option<UnsubscribedDetails>,
}

/// `EVENT [36, Subscription|id, Publication|id, Details|dict, Arguments?, ArgumentsKw?]`
#[derive(Clone, Debug, PartialEq)]
pub struct Event {
    pub subscription: Id,
    pub publication: Id,
    pub details: EventDetails,
    pub payload: Payload,
}

/// `CALL [48, Request|id, Options|dict, Procedure|uri, Arguments?, ArgumentsKw?]`
#[derive(Clone, Debug, PartialEq)]
pub struct Call {
    pub request: Id,
    pub options: CallOptions,
    pub procedure: String,
    pub payload: Payload,
}

/// `CANCEL [49, CALL.Request|id, Options|dict]`
#[derive(Clone, Debug, PartialEq)]
pub struct Cancel {
    pub request: Id,
    pub options: CancelOptions,
}

/// `RESULT [50, CALL.Request|id, Details|dict, Arguments?, ArgumentsKw?]`
#[derive(Clone, Debug, PartialEq)]
pub struct CallResult {
    pub request: Id,
    pub details: ResultDetails,
    pub payload: Payload,
}

/// `REGISTER [64, Request|id, Options|dict, Procedure|uri]`
#[derive(Clone, Debug, PartialEq)]
pub struct Register {
    pub request: Id,
    pub options: RegisterOptions,
    pub procedure: String,
}

/// `REGISTERED [65, REGISTER.Request|id, Registration|id]`
#[derive(Clone, Debug, PartialEq)]
pub struct Registered {
    pub request: Id,
    pub registration: Id,
}

/// `UNREGISTER [66, Request|id, REGISTERED.Registration|id]` (a trailing Options dict is
/// accepted and ignored)
#[derive(Clone, Debug, PartialEq)]
pub struct Unregister {
    pub request: Id,
    pub registration: Id,
}

/// `UNREGISTERED [67, UNREGISTER.Request|id]`, or the revocation form
/// `[67, 0, Details|dict]` (`request: None`).
#[derive(Clone, Debug, PartialEq)]
pub struct Unregistered {
    pub request: Option<Id>,
    pub details: Option<UnregisteredDetails>,
}

/// `INVOCATION [68, Request|id, REGISTERED.Registration|id, Details|dict, Arguments?, ArgumentsKw?]`
#[derive(Clone, Debug, PartialEq)]
pub struct Invocation {
    pub request: Id,
    pub registration: Id,
    pub details: InvocationDetails,
    pub payload: Payload,
}

/// `INTERRUPT [69, INVOCATION.Request|id, Options|dict]`
#[derive(Clone, Debug, PartialEq)]
pub struct Interrupt {
    pub request: Id,
    pub options: InterruptOptions,
}

/// `YIELD [70, INVOCATION.Request|id, Options|dict, Arguments?, ArgumentsKw?]`
#[derive(Clone, Debug, PartialEq)]
pub struct Yield {
    pub request: Id,
    pub options: YieldOptions,
    pub payload: Payload,
}

/// `EVENT_RECEIVED [337, EVENT.Publication|id, Details|dict?, Arguments?, ArgumentsKw?]`
/// (Autobahn/Crossbar acknowledged event delivery, extension range).
#[derive(Clone, Debug, PartialEq)]
pub struct EventReceived {
    pub publication: Id,
    pub details: Dict,
    pub payload: Payload,
}

/// Any WAMP message.
#[derive(Clone, Debug, PartialEq)]
#[allow(missing_docs)]
pub enum Message {
    Hello(Hello),
    Welcome(Welcome),
    Abort(Abort),
    Challenge(Challenge),
    Authenticate(Authenticate),
    Goodbye(Goodbye),
    Error(ErrorMessage),
    Publish(Publish),
    Published(Published),
    Subscribe(Subscribe),
    Subscribed(Subscribed),
    Unsubscribe(Unsubscribe),
    Unsubscribed(Unsubscribed),
    Event(Event),
    Call(Call),
    Cancel(Cancel),
    Result(CallResult),
    Register(Register),
    Registered(Registered),
    Unregister(Unregister),
    Unregistered(Unregistered),
    Invocation(Invocation),
    Interrupt(Interrupt),
    Yield(Yield),
    EventReceived(EventReceived),
}

impl Message {
    /// The message's type.
    pub fn message_type(&self) -> MessageType {
        match self {
            Message::Hello(_) => MessageType::Hello,
            Message::Welcome(_) => MessageType::Welcome,
            Message::Abort(_) => MessageType::Abort,
            Message::Challenge(_) => MessageType::Challenge,
            Message::Authenticate(_) => MessageType::Authenticate,
            Message::Goodbye(_) => MessageType::Goodbye,
            Message::Error(_) => MessageType::Error,
            Message::Publish(_) => MessageType::Publish,
            Message::Published(_) => MessageType::Published,
            Message::Subscribe(_) => MessageType::Subscribe,
            Message::Subscribed(_) => MessageType::Subscribed,
            Message::Unsubscribe(_) => MessageType::Unsubscribe,
            Message::Unsubscribed(_) => MessageType::Unsubscribed,
            Message::Event(_) => MessageType::Event,
            Message::Call(_) => MessageType::Call,
            Message::Cancel(_) => MessageType::Cancel,
            Message::Result(_) => MessageType::Result,
            Message::Register(_) => MessageType::Register,
            Message::Registered(_) => MessageType::Registered,
            Message::Unregister(_) => MessageType::Unregister,
            Message::Unregistered(_) => MessageType::Unregistered,
            Message::Invocation(_) => MessageType::Invocation,
            Message::Interrupt(_) => MessageType::Interrupt,
            Message::Yield(_) => MessageType::Yield,
            Message::EventReceived(_) => MessageType::EventReceived,
        }
    }

    /// The request id of a message that starts a new request from a client (SUBSCRIBE,
    /// UNSUBSCRIBE, PUBLISH, REGISTER, UNREGISTER, CALL): the ids that must be sequential.
    pub fn new_request_id(&self) -> Option<Id> {
        match self {
            Message::Subscribe(m) => Some(m.request),
            Message::Unsubscribe(m) => Some(m.request),
            Message::Publish(m) => Some(m.request),
            Message::Register(m) => Some(m.request),
            Message::Unregister(m) => Some(m.request),
            Message::Call(m) => Some(m.request),
            _ => None,
        }
    }
}

macro_rules! message_from {
    ($($variant:ident($ty:ident)),* $(,)?) => {
        $(impl From<$ty> for Message {
            fn from(m: $ty) -> Message { Message::$variant(m) }
        })*
    };
}

message_from! {
    Hello(Hello), Welcome(Welcome), Abort(Abort), Challenge(Challenge),
    Authenticate(Authenticate), Goodbye(Goodbye), Error(ErrorMessage), Publish(Publish),
    Published(Published), Subscribe(Subscribe), Subscribed(Subscribed),
    Unsubscribe(Unsubscribe), Unsubscribed(Unsubscribed), Event(Event), Call(Call),
    Cancel(Cancel), Result(CallResult), Register(Register), Registered(Registered),
    Unregister(Unregister), Unregistered(Unregistered), Invocation(Invocation),
    Interrupt(Interrupt), Yield(Yield), EventReceived(EventReceived),
}
