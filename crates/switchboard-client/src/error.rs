//! Typed errors, one enum per operation (STYLE.md item 9).
//!
//! Every operation that talks to the router has its own error enum so that a caller can match
//! on exactly the outcomes that operation can have: a [`CallError`] can be a timeout or an
//! application error raised by the callee, a [`SubscribeError`] cannot. Errors the router or a
//! callee report on the wire keep their URI, `args` and `kwargs` in an [`ApplicationError`].
//! All enums are `#[non_exhaustive]`.

use std::fmt;

use serde::Serialize;
use serde::de::DeserializeOwned;
use switchboard_proto::auth::AuthError;
use switchboard_proto::names::ErrorUri;
use switchboard_proto::{Dict, Value};

use crate::convert::{ConvertError, from_value, to_value};

/// An error carried by a WAMP `ERROR` (or `ABORT`) message: its URI, positional and keyword
/// arguments.
///
/// A callee handler returns one to make its caller's [`call`](crate::Session::call) fail with
/// [`CallError::Application`]; the caller receives the same URI, `args` and `kwargs`.
///
/// ```
/// use switchboard_client::ApplicationError;
///
/// let e = ApplicationError::new("com.myapp.error.overflow")
///     .with_arg("sum too large")
///     .with_kwarg("limit", 100);
/// assert_eq!(e.message(), Some("sum too large"));
/// assert_eq!(e.to_string(), "com.myapp.error.overflow: sum too large");
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ApplicationError {
    /// The error URI, e.g. `com.myapp.error.overflow` or `wamp.error.invalid_argument`.
    pub uri: String,
    /// Positional arguments.
    pub args: Vec<Value>,
    /// Keyword arguments.
    pub kwargs: Dict,
}

/// The URI Autobahn uses for an error raised by a callee that is not an application error.
pub const RUNTIME_ERROR: &str = "wamp.error.runtime_error";

/// The URI Autobahn uses when a payload cannot be serialized.
pub const INVALID_PAYLOAD: &str = "wamp.error.invalid_payload";

impl ApplicationError {
    /// An error with `uri` and no arguments.
    pub fn new(uri: impl Into<String>) -> ApplicationError {
        ApplicationError {
            uri: uri.into(),
            args: Vec::new(),
            kwargs: Dict::new(),
        }
    }

    /// `wamp.error.invalid_argument` with a message: the arguments did not have the expected
    /// shape or type.
    pub fn invalid_argument(message: impl fmt::Display) -> ApplicationError {
        ApplicationError::new(ErrorUri::InvalidArgument.as_str()).with_arg(message.to_string())
    }

    /// `wamp.error.canceled`: what a callee answers when it gave up on an interrupted call.
    pub fn canceled() -> ApplicationError {
        ApplicationError::new(ErrorUri::Canceled.as_str())
    }

    /// `wamp.error.runtime_error` with a message: the callee failed for a reason that is not
    /// part of the procedure's contract.
    pub fn runtime_error(message: impl fmt::Display) -> ApplicationError {
        ApplicationError::new(RUNTIME_ERROR).with_arg(message.to_string())
    }

    /// Adds a positional argument. A value that cannot be serialized is added as its error
    /// message instead.
    pub fn with_arg(mut self, arg: impl Serialize) -> ApplicationError {
        self.args
            .push(to_value(&arg).unwrap_or_else(|e| Value::Str(e.to_string())));
        self
    }

    /// Adds a keyword argument. A value that cannot be serialized is added as its error message
    /// instead.
    pub fn with_kwarg(mut self, key: impl Into<String>, value: impl Serialize) -> ApplicationError {
        self.kwargs.insert(
            key.into(),
            to_value(&value).unwrap_or_else(|e| Value::Str(e.to_string())),
        );
        self
    }

    /// A human-readable message: the first positional argument if it is a string, else the
    /// `message` keyword argument if it is one.
    pub fn message(&self) -> Option<&str> {
        self.args
            .first()
            .and_then(Value::as_str)
            .or_else(|| self.kwargs.get("message").and_then(Value::as_str))
    }

    /// Decodes the positional arguments (as a list: use a tuple or `Vec`).
    ///
    /// # Errors
    ///
    /// When they do not have the shape of `T`.
    pub fn decode_args<T: DeserializeOwned>(&self) -> Result<T, ConvertError> {
        from_value(Value::List(self.args.clone()))
    }

    /// Decodes the keyword arguments (as a dict: use a struct or map).
    ///
    /// # Errors
    ///
    /// When they do not have the shape of `T`.
    pub fn decode_kwargs<T: DeserializeOwned>(&self) -> Result<T, ConvertError> {
        from_value(Value::Dict(self.kwargs.clone()))
    }

    /// The predefined `wamp.error.*` URI this error carries, if it is one (both spellings of
    /// `canceled` are recognised).
    pub fn predefined(&self) -> Option<ErrorUri> {
        ErrorUri::parse_lenient(&self.uri)
    }

    fn is_not_authorized(&self) -> bool {
        matches!(
            self.predefined(),
            Some(
                ErrorUri::NotAuthorized
                    | ErrorUri::AuthorizationFailed
                    | ErrorUri::AuthorizationDenied
                    | ErrorUri::AuthorizationRequired
            )
        )
    }

    fn is(&self, uri: ErrorUri) -> bool {
        self.predefined() == Some(uri)
    }

    fn describe(&self) -> String {
        self.message()
            .map_or_else(|| self.uri.clone(), ToOwned::to_owned)
    }
}

impl fmt::Display for ApplicationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.message() {
            Some(m) => write!(f, "{}: {m}", self.uri),
            None => f.write_str(&self.uri),
        }
    }
}

impl std::error::Error for ApplicationError {}

impl From<ConvertError> for ApplicationError {
    /// Arguments that could not be decoded: `wamp.error.invalid_argument`.
    fn from(e: ConvertError) -> ApplicationError {
        ApplicationError::invalid_argument(e)
    }
}

/// Why a session ended, as seen by the operations that were waiting on it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Gone {
    /// The session was closed (GOODBYE from either side, or the last handle was dropped).
    Closed,
    /// The connection failed.
    TransportLost,
    /// One side broke the protocol; the session was aborted.
    ProtocolViolation(String),
}

macro_rules! from_gone {
    ($($ty:ident),*) => {
        $(impl From<Gone> for $ty {
            fn from(g: Gone) -> $ty {
                match g {
                    Gone::Closed => $ty::SessionClosed,
                    Gone::TransportLost => $ty::TransportLost,
                    Gone::ProtocolViolation(m) => $ty::ProtocolViolation(m),
                }
            }
        })*
    };
}

/// Why a [`call`](crate::Session::call) failed.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum CallError {
    /// The callee (or the router on its behalf) answered with an error.
    #[error("the call failed: {0}")]
    Application(ApplicationError),
    /// No procedure is registered under the URI (`wamp.error.no_such_procedure`).
    #[error("no procedure is registered as {procedure}")]
    NoSuchProcedure {
        /// The procedure called.
        procedure: String,
    },
    /// The router refused the call (`wamp.error.not_authorized` and related URIs).
    #[error("not authorized to call: {0}")]
    NotAuthorized(ApplicationError),
    /// The procedure URI is not a valid WAMP URI.
    #[error("invalid procedure URI: {0}")]
    InvalidUri(String),
    /// No result arrived within the call's timeout (the local timer or `wamp.error.timeout`).
    #[error("the call timed out")]
    Timeout,
    /// The call was canceled (`wamp.error.canceled`).
    #[error("the call was canceled")]
    Canceled,
    /// The arguments could not be serialized.
    #[error("cannot serialize the call's arguments: {0}")]
    Serialize(ConvertError),
    /// The result could not be decoded into the requested type.
    #[error("cannot decode the call's result: {0}")]
    Decode(ConvertError),
    /// The session was closed before the result arrived.
    #[error("the session is closed")]
    SessionClosed,
    /// The connection to the router was lost before the result arrived.
    #[error("the connection to the router was lost")]
    TransportLost,
    /// The router or this client broke the protocol and the session was aborted.
    #[error("protocol violation: {0}")]
    ProtocolViolation(String),
}

impl CallError {
    /// Maps an `ERROR` for a CALL.
    pub(crate) fn from_wire(procedure: &str, e: ApplicationError) -> CallError {
        if e.is(ErrorUri::NoSuchProcedure) {
            CallError::NoSuchProcedure {
                procedure: procedure.to_owned(),
            }
        } else if e.is_not_authorized() {
            CallError::NotAuthorized(e)
        } else if e.is(ErrorUri::InvalidUri) {
            CallError::InvalidUri(e.describe())
        } else if e.is(ErrorUri::Timeout) {
            CallError::Timeout
        } else if e.is(ErrorUri::Canceled) {
            CallError::Canceled
        } else {
            CallError::Application(e)
        }
    }

    /// The application error, if this is one.
    pub fn application(&self) -> Option<&ApplicationError> {
        match self {
            CallError::Application(e) | CallError::NotAuthorized(e) => Some(e),
            _ => None,
        }
    }
}

/// Why a [`register`](crate::Session::register) failed.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum RegisterError {
    /// Another session already registered the procedure
    /// (`wamp.error.procedure_already_exists`), or registered it with a different invocation
    /// policy.
    #[error("procedure {procedure} is already registered")]
    ProcedureAlreadyExists {
        /// The procedure.
        procedure: String,
    },
    /// The router refused the registration.
    #[error("not authorized to register: {0}")]
    NotAuthorized(ApplicationError),
    /// The procedure URI (or pattern) is not valid.
    #[error("invalid procedure URI: {0}")]
    InvalidUri(String),
    /// The options need a feature the router did not announce.
    #[error("the router does not support {0}")]
    FeatureNotSupported(&'static str),
    /// Any other error the router answered with.
    #[error("the router refused the registration: {0}")]
    Router(ApplicationError),
    /// The session is closed.
    #[error("the session is closed")]
    SessionClosed,
    /// The connection to the router was lost.
    #[error("the connection to the router was lost")]
    TransportLost,
    /// The router or this client broke the protocol and the session was aborted.
    #[error("protocol violation: {0}")]
    ProtocolViolation(String),
}

impl RegisterError {
    pub(crate) fn from_wire(procedure: &str, e: ApplicationError) -> RegisterError {
        if e.is(ErrorUri::ProcedureAlreadyExists) {
            RegisterError::ProcedureAlreadyExists {
                procedure: procedure.to_owned(),
            }
        } else if e.is_not_authorized() {
            RegisterError::NotAuthorized(e)
        } else if e.is(ErrorUri::InvalidUri) {
            RegisterError::InvalidUri(e.describe())
        } else {
            RegisterError::Router(e)
        }
    }
}

/// Why an [`unregister`](crate::Registration::unregister) failed.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum UnregisterError {
    /// The registration no longer exists (`wamp.error.no_such_registration`).
    #[error("no such registration")]
    NoSuchRegistration,
    /// Any other error the router answered with.
    #[error("the router refused to unregister: {0}")]
    Router(ApplicationError),
    /// The session is closed (its registrations are gone with it).
    #[error("the session is closed")]
    SessionClosed,
    /// The connection to the router was lost.
    #[error("the connection to the router was lost")]
    TransportLost,
    /// The router or this client broke the protocol and the session was aborted.
    #[error("protocol violation: {0}")]
    ProtocolViolation(String),
}

impl UnregisterError {
    pub(crate) fn from_wire(e: ApplicationError) -> UnregisterError {
        if e.is(ErrorUri::NoSuchRegistration) {
            UnregisterError::NoSuchRegistration
        } else {
            UnregisterError::Router(e)
        }
    }
}

/// Why a [`subscribe`](crate::Session::subscribe) failed.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum SubscribeError {
    /// The router refused the subscription.
    #[error("not authorized to subscribe: {0}")]
    NotAuthorized(ApplicationError),
    /// The topic URI (or pattern) is not valid.
    #[error("invalid topic URI: {0}")]
    InvalidUri(String),
    /// The options need a feature the router did not announce.
    #[error("the router does not support {0}")]
    FeatureNotSupported(&'static str),
    /// Any other error the router answered with.
    #[error("the router refused the subscription: {0}")]
    Router(ApplicationError),
    /// The session is closed.
    #[error("the session is closed")]
    SessionClosed,
    /// The connection to the router was lost.
    #[error("the connection to the router was lost")]
    TransportLost,
    /// The router or this client broke the protocol and the session was aborted.
    #[error("protocol violation: {0}")]
    ProtocolViolation(String),
}

impl SubscribeError {
    pub(crate) fn from_wire(e: ApplicationError) -> SubscribeError {
        if e.is_not_authorized() {
            SubscribeError::NotAuthorized(e)
        } else if e.is(ErrorUri::InvalidUri) {
            SubscribeError::InvalidUri(e.describe())
        } else {
            SubscribeError::Router(e)
        }
    }
}

/// Why an [`unsubscribe`](crate::Subscription::unsubscribe) failed.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum UnsubscribeError {
    /// The subscription no longer exists (`wamp.error.no_such_subscription`).
    #[error("no such subscription")]
    NoSuchSubscription,
    /// Any other error the router answered with.
    #[error("the router refused to unsubscribe: {0}")]
    Router(ApplicationError),
    /// The session is closed (its subscriptions are gone with it).
    #[error("the session is closed")]
    SessionClosed,
    /// The connection to the router was lost.
    #[error("the connection to the router was lost")]
    TransportLost,
    /// The router or this client broke the protocol and the session was aborted.
    #[error("protocol violation: {0}")]
    ProtocolViolation(String),
}

impl UnsubscribeError {
    pub(crate) fn from_wire(e: ApplicationError) -> UnsubscribeError {
        if e.is(ErrorUri::NoSuchSubscription) {
            UnsubscribeError::NoSuchSubscription
        } else {
            UnsubscribeError::Router(e)
        }
    }
}

/// Why a [`publish`](crate::Session::publish) failed.
///
/// Without [`PublishOptions::acknowledge`](crate::PublishOptions::acknowledge) the router
/// answers nothing, so only local failures (serialization, URI, closed session) are reported.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum PublishError {
    /// The router refused the publication.
    #[error("not authorized to publish: {0}")]
    NotAuthorized(ApplicationError),
    /// The topic URI is not valid.
    #[error("invalid topic URI: {0}")]
    InvalidUri(String),
    /// The options need a feature the router did not announce.
    #[error("the router does not support {0}")]
    FeatureNotSupported(&'static str),
    /// The arguments could not be serialized.
    #[error("cannot serialize the event's arguments: {0}")]
    Serialize(ConvertError),
    /// Any other error the router answered with.
    #[error("the router refused the publication: {0}")]
    Router(ApplicationError),
    /// The session is closed.
    #[error("the session is closed")]
    SessionClosed,
    /// The connection to the router was lost.
    #[error("the connection to the router was lost")]
    TransportLost,
    /// The router or this client broke the protocol and the session was aborted.
    #[error("protocol violation: {0}")]
    ProtocolViolation(String),
}

impl PublishError {
    pub(crate) fn from_wire(e: ApplicationError) -> PublishError {
        if e.is_not_authorized() {
            PublishError::NotAuthorized(e)
        } else if e.is(ErrorUri::InvalidUri) {
            PublishError::InvalidUri(e.describe())
        } else {
            PublishError::Router(e)
        }
    }
}

/// Why [`leave`](crate::Session::leave) did not complete a clean GOODBYE handshake.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum LeaveError {
    /// The session was already closed.
    #[error("the session is closed")]
    SessionClosed,
    /// The connection was lost before the router answered GOODBYE.
    #[error("the connection to the router was lost")]
    TransportLost,
    /// The router broke the protocol and the session was aborted.
    #[error("protocol violation: {0}")]
    ProtocolViolation(String),
}

from_gone!(
    CallError,
    RegisterError,
    UnregisterError,
    SubscribeError,
    UnsubscribeError,
    PublishError,
    LeaveError
);

/// Why a session could not be established.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectError {
    /// The URL is not a valid endpoint (`ws://`, `rs://`, `tcp://`, `unix://`).
    #[error(transparent)]
    InvalidUrl(#[from] switchboard_transport::EndpointError),
    /// Some other option is invalid (realm, authentication key, ...).
    #[error("invalid connect options: {0}")]
    InvalidOptions(String),
    /// The connection or its transport handshake failed.
    #[error("cannot connect: {0}")]
    Transport(#[from] switchboard_transport::ConnectError),
    /// The connection and WAMP handshake did not complete within the connect timeout.
    #[error("timed out connecting to the router")]
    Timeout,
    /// The router refused the session with ABORT (no such realm, authentication failed, ...).
    #[error("the router refused the session: {0}")]
    Aborted(ApplicationError),
    /// The router asked for an authentication method this client did not offer.
    #[error("the router asked for authentication method {0:?}, which was not offered")]
    AuthMethodNotOffered(String),
    /// The challenge could not be answered (malformed challenge, key-derivation parameters
    /// outside the accepted range, SCRAM nonce mismatch), or the router's SCRAM signature in
    /// WELCOME did not verify.
    #[error("authentication failed: {0}")]
    Authentication(#[from] AuthError),
    /// A custom challenge handler ([`Auth::Custom`](crate::Auth::Custom)) refused.
    #[error("the challenge handler failed: {0}")]
    ChallengeHandler(String),
    /// The router sent something that is not allowed during the opening handshake.
    #[error("protocol violation during the opening handshake: {0}")]
    ProtocolViolation(String),
    /// The connection closed before WELCOME.
    #[error("the connection closed before the session was established")]
    TransportLost,
}

impl ConnectError {
    /// Whether trying again later may succeed: network failures, timeouts and a router that
    /// closed or broke the handshake are retryable; refusals (ABORT other than
    /// `wamp.close.system_shutdown`), invalid options and failed authentication are not.
    pub fn is_retryable(&self) -> bool {
        match self {
            ConnectError::Transport(e) => !matches!(
                e,
                switchboard_transport::ConnectError::Unsupported(_)
                    | switchboard_transport::ConnectError::InvalidEndpoint(_)
            ),
            ConnectError::Timeout
            | ConnectError::TransportLost
            | ConnectError::ProtocolViolation(_) => true,
            ConnectError::Aborted(e) => e.uri == "wamp.close.system_shutdown",
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_errors_map_to_typed_kinds() {
        let e = |uri: &str| ApplicationError::new(uri);
        assert_eq!(
            CallError::from_wire("p", e("wamp.error.no_such_procedure")),
            CallError::NoSuchProcedure {
                procedure: "p".into()
            }
        );
        assert_eq!(
            CallError::from_wire("p", e("wamp.error.cancelled")),
            CallError::Canceled
        );
        assert_eq!(
            CallError::from_wire("p", e("wamp.error.timeout")),
            CallError::Timeout
        );
        assert!(matches!(
            CallError::from_wire("p", e("wamp.error.not_authorized")),
            CallError::NotAuthorized(_)
        ));
        assert!(matches!(
            CallError::from_wire("p", e("com.app.oops")),
            CallError::Application(a) if a.uri == "com.app.oops"
        ));
        assert_eq!(
            RegisterError::from_wire("p", e("wamp.error.procedure_already_exists")),
            RegisterError::ProcedureAlreadyExists {
                procedure: "p".into()
            }
        );
        assert_eq!(
            UnsubscribeError::from_wire(e("wamp.error.no_such_subscription")),
            UnsubscribeError::NoSuchSubscription
        );
        assert!(matches!(
            PublishError::from_wire(e("wamp.error.invalid_uri")),
            PublishError::InvalidUri(_)
        ));
    }

    #[test]
    fn gone_maps_to_each_operation() {
        assert_eq!(CallError::from(Gone::Closed), CallError::SessionClosed);
        assert_eq!(
            PublishError::from(Gone::TransportLost),
            PublishError::TransportLost
        );
    }

    #[test]
    fn application_error_message_and_decoding() {
        let e = ApplicationError::new("x.y")
            .with_kwarg("message", "hi")
            .with_kwarg("n", 3);
        assert_eq!(e.message(), Some("hi"));
        #[derive(serde::Deserialize)]
        struct K {
            n: u8,
        }
        assert_eq!(e.decode_kwargs::<K>().unwrap_or(K { n: 0 }).n, 3);
    }
}
