//! Remote procedure calls: results, invocations, callee replies and registrations.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures_util::Stream;
use serde::Serialize;
use serde::de::DeserializeOwned;
use switchboard_proto::message::{ErrorMessage, Message, Yield};
use switchboard_proto::names::MessageType;
use switchboard_proto::options::{ErrorDetails, InvocationDetails, ResultDetails, YieldOptions};
use switchboard_proto::{Dict, Id, Payload, Value};
use tokio::sync::mpsc;
use tokio_util::sync::{CancellationToken, WaitForCancellationFuture};

use crate::convert::{ConvertError, from_value, to_args, to_kwargs};
use crate::driver::{Command, Control};
use crate::error::{ApplicationError, INVALID_PAYLOAD, UnregisterError};
use crate::session::Shared;

/// Decodes `T` from a result or event payload following Autobahn's convention: nothing gives
/// `null` (so `()` or `Option`), one positional argument gives that argument, several give the
/// list (so a tuple), only keyword arguments give the dict (so a struct).
pub(crate) fn decode_payload<T: DeserializeOwned>(
    args: &[Value],
    kwargs: &Dict,
) -> Result<T, ConvertError> {
    let value = match (args, kwargs.is_empty()) {
        ([], true) => Value::Null,
        ([single], true) => single.clone(),
        (_, true) => Value::List(args.to_vec()),
        ([], false) => Value::Dict(kwargs.clone()),
        (_, false) => {
            return Err(ConvertError::new(
                "the payload has both positional and keyword arguments: decode them separately \
                 (args_as / kwargs_as)",
            ));
        }
    };
    from_value(value)
}

pub(crate) fn decode_arg<T: DeserializeOwned>(
    args: &[Value],
    index: usize,
) -> Result<T, ConvertError> {
    let v = args
        .get(index)
        .cloned()
        .ok_or_else(|| ConvertError::new(format_args!("missing positional argument {index}")))?;
    from_value(v).map_err(|e| ConvertError::new(format_args!("argument {index}: {e}")))
}

pub(crate) fn decode_kwarg<T: DeserializeOwned>(
    kwargs: &Dict,
    key: &str,
) -> Result<Option<T>, ConvertError> {
    match kwargs.get(key) {
        None => Ok(None),
        Some(v) => from_value(v.clone())
            .map(Some)
            .map_err(|e| ConvertError::new(format_args!("keyword argument {key:?}: {e}"))),
    }
}

/// The result of a call (or one progressive result).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CallResult {
    /// Positional results.
    pub args: Vec<Value>,
    /// Keyword results.
    pub kwargs: Dict,
    /// `RESULT.Details`.
    pub details: ResultDetails,
}

impl CallResult {
    /// Whether this is a progressive (intermediate) result.
    pub fn is_progress(&self) -> bool {
        self.details.progress() == Some(true)
    }

    /// Decodes the result as one value, the way Autobahn returns it: no arguments give `()`
    /// (or `None`), one positional argument gives that argument, several give a tuple or list,
    /// keyword arguments alone give a struct or map. A result with both positional and keyword
    /// arguments must be read with [`args_as`](Self::args_as) and
    /// [`kwargs_as`](Self::kwargs_as).
    ///
    /// # Errors
    ///
    /// When the result does not have the shape of `T`.
    pub fn decode<T: DeserializeOwned>(&self) -> Result<T, ConvertError> {
        decode_payload(&self.args, &self.kwargs)
    }

    /// Decodes all positional results as one list (a tuple or `Vec`).
    ///
    /// # Errors
    ///
    /// When they do not have the shape of `T`.
    pub fn args_as<T: DeserializeOwned>(&self) -> Result<T, ConvertError> {
        from_value(Value::List(self.args.clone()))
    }

    /// Decodes positional result `index`.
    ///
    /// # Errors
    ///
    /// When it is missing or does not have the shape of `T`.
    pub fn arg<T: DeserializeOwned>(&self, index: usize) -> Result<T, ConvertError> {
        decode_arg(&self.args, index)
    }

    /// Decodes the keyword results as one dict (a struct or map).
    ///
    /// # Errors
    ///
    /// When they do not have the shape of `T`.
    pub fn kwargs_as<T: DeserializeOwned>(&self) -> Result<T, ConvertError> {
        from_value(Value::Dict(self.kwargs.clone()))
    }

    /// The callee's session id, if the router disclosed it (`RESULT.Details.callee`).
    pub fn callee(&self) -> Option<Id> {
        self.details.callee()
    }
}

/// What a callee answers: positional and keyword results.
///
/// ```
/// use switchboard_client::CallOutput;
///
/// let sum = CallOutput::value(5);
/// let pair = CallOutput::args((1, "one"));
/// let named = CallOutput::new().with_kwargs(serde_json::json!({"total": 5}));
/// # let _ = (sum, pair, named);
/// ```
///
/// Serialization happens when the output is built; if it fails, the caller receives the error
/// `wamp.error.invalid_payload`.
#[derive(Clone, Debug, PartialEq)]
pub struct CallOutput {
    payload: Result<(Vec<Value>, Dict), ConvertError>,
}

impl Default for CallOutput {
    fn default() -> CallOutput {
        CallOutput::new()
    }
}

impl CallOutput {
    /// No results.
    pub fn new() -> CallOutput {
        CallOutput {
            payload: Ok((Vec::new(), Dict::new())),
        }
    }

    /// A single positional result.
    pub fn value(value: impl Serialize) -> CallOutput {
        CallOutput {
            payload: crate::convert::to_value(&value).map(|v| (vec![v], Dict::new())),
        }
    }

    /// Positional results from a tuple, array or `Vec` (`()` for none; any other value is the
    /// single result).
    pub fn args(args: impl Serialize) -> CallOutput {
        CallOutput {
            payload: to_args(&args).map(|a| (a, Dict::new())),
        }
    }

    /// Adds keyword results from a struct or map.
    pub fn with_kwargs(self, kwargs: impl Serialize) -> CallOutput {
        CallOutput {
            payload: self
                .payload
                .and_then(|(args, _)| Ok((args, to_kwargs(&kwargs)?))),
        }
    }

    /// Results given as values.
    pub fn from_values(args: Vec<Value>, kwargs: Dict) -> CallOutput {
        CallOutput {
            payload: Ok((args, kwargs)),
        }
    }

    pub(crate) fn into_payload(self) -> Result<Payload, ConvertError> {
        self.payload.map(|(a, k)| Payload::new(a, k))
    }
}

/// The result a procedure handler returns.
pub type HandlerResult = Result<CallOutput, ApplicationError>;

/// A boxed handler future.
pub(crate) type HandlerFuture = Pin<Box<dyn Future<Output = HandlerResult> + Send + 'static>>;

/// A registered procedure handler, type-erased.
pub(crate) type HandlerFn = Arc<dyn Fn(Invocation) -> HandlerFuture + Send + Sync + 'static>;

/// Boxes an async handler.
pub(crate) fn handler_fn<F, Fut>(f: F) -> HandlerFn
where
    F: Fn(Invocation) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = HandlerResult> + Send + 'static,
{
    Arc::new(move |inv| Box::pin(f(inv)))
}

/// Builds the YIELD or ERROR for a handler's answer.
pub(crate) fn reply_message(request: Id, result: HandlerResult) -> Message {
    match result {
        Ok(output) => match output.into_payload() {
            Ok(payload) => Message::Yield(Yield {
                request,
                options: YieldOptions::default(),
                payload,
            }),
            Err(e) => error_message(
                request,
                ApplicationError::new(INVALID_PAYLOAD)
                    .with_arg(format!("the callee could not serialize its result: {e}")),
            ),
        },
        Err(e) => error_message(request, e),
    }
}

pub(crate) fn error_message(request: Id, e: ApplicationError) -> Message {
    Message::Error(ErrorMessage {
        request_type: MessageType::Invocation,
        request,
        details: ErrorDetails::default(),
        error: e.uri,
        payload: Payload::new(e.args, e.kwargs),
    })
}

/// One call of a registered procedure, as the callee sees it.
pub struct Invocation {
    pub(crate) request: Id,
    pub(crate) registration: Id,
    pub(crate) procedure: String,
    pub(crate) args: Vec<Value>,
    pub(crate) kwargs: Dict,
    pub(crate) details: InvocationDetails,
    pub(crate) interrupt: CancellationToken,
    pub(crate) ctl: mpsc::UnboundedSender<Control>,
}

impl fmt::Debug for Invocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Invocation")
            .field("request", &self.request)
            .field("registration", &self.registration)
            .field("procedure", &self.procedure)
            .field("args", &self.args)
            .field("kwargs", &self.kwargs)
            .field("details", &self.details)
            .finish_non_exhaustive()
    }
}

/// Why a progressive result could not be sent.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ProgressError {
    /// The caller did not ask for progressive results (or the router does not support them).
    #[error("the caller did not ask for progressive results")]
    NotRequested,
    /// The results could not be serialized.
    #[error("cannot serialize the progressive result: {0}")]
    Serialize(ConvertError),
    /// The session is closed.
    #[error("the session is closed")]
    SessionClosed,
}

impl Invocation {
    /// The procedure called: the concrete URI for pattern-based registrations.
    pub fn procedure(&self) -> &str {
        &self.procedure
    }

    /// The registration this invocation is for.
    pub fn registration(&self) -> Id {
        self.registration
    }

    /// The invocation's request id (session-scoped, router to callee).
    pub fn request_id(&self) -> Id {
        self.request
    }

    /// Positional arguments.
    pub fn args(&self) -> &[Value] {
        &self.args
    }

    /// Keyword arguments.
    pub fn kwargs(&self) -> &Dict {
        &self.kwargs
    }

    /// `INVOCATION.Details`.
    pub fn details(&self) -> &InvocationDetails {
        &self.details
    }

    /// Decodes all positional arguments as one list (a tuple or `Vec`): `let (a, b): (i64, i64)
    /// = inv.args_as()?;`. A shape mismatch is a `wamp.error.invalid_argument` error, ready to
    /// be returned to the caller with `?`.
    ///
    /// # Errors
    ///
    /// When the arguments do not have the shape of `T`.
    pub fn args_as<T: DeserializeOwned>(&self) -> Result<T, ApplicationError> {
        from_value(Value::List(self.args.clone())).map_err(ApplicationError::from)
    }

    /// Decodes positional argument `index`.
    ///
    /// # Errors
    ///
    /// `wamp.error.invalid_argument` when it is missing or has the wrong shape.
    pub fn arg<T: DeserializeOwned>(&self, index: usize) -> Result<T, ApplicationError> {
        decode_arg(&self.args, index).map_err(ApplicationError::from)
    }

    /// Decodes the keyword arguments as one dict (a struct or map).
    ///
    /// # Errors
    ///
    /// `wamp.error.invalid_argument` when they do not have the shape of `T`.
    pub fn kwargs_as<T: DeserializeOwned>(&self) -> Result<T, ApplicationError> {
        from_value(Value::Dict(self.kwargs.clone())).map_err(ApplicationError::from)
    }

    /// Decodes keyword argument `key`, `None` when absent.
    ///
    /// # Errors
    ///
    /// `wamp.error.invalid_argument` when it has the wrong shape.
    pub fn kwarg<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, ApplicationError> {
        decode_kwarg(&self.kwargs, key).map_err(ApplicationError::from)
    }

    /// Decodes the arguments as one value, with the same convention as
    /// [`CallResult::decode`].
    ///
    /// # Errors
    ///
    /// `wamp.error.invalid_argument` when they do not have the shape of `T`.
    pub fn decode<T: DeserializeOwned>(&self) -> Result<T, ApplicationError> {
        decode_payload(&self.args, &self.kwargs).map_err(ApplicationError::from)
    }

    /// The caller's session id, when the router disclosed it (caller identification).
    pub fn caller(&self) -> Option<Id> {
        self.details.caller()
    }

    /// The caller's authid, when disclosed.
    pub fn caller_authid(&self) -> Option<&str> {
        self.details.caller_authid()
    }

    /// The caller's authrole, when disclosed.
    pub fn caller_authrole(&self) -> Option<&str> {
        self.details.caller_authrole()
    }

    /// The timeout the router forwarded (callee-side call timeout); the client answers
    /// `wamp.error.timeout` by itself when it expires.
    pub fn timeout(&self) -> Option<Duration> {
        self.details
            .timeout()
            .filter(|t| *t > 0)
            .map(Duration::from_millis)
    }

    /// Whether the caller asked for progressive results.
    pub fn wants_progress(&self) -> bool {
        self.details.receive_progress() == Some(true)
    }

    /// Sends a progressive result to the caller (progressive call results). The final result is
    /// what the handler returns.
    ///
    /// # Errors
    ///
    /// [`ProgressError::NotRequested`] when the caller did not ask for progress.
    pub fn progress(
        &self,
        args: impl Serialize,
        kwargs: impl Serialize,
    ) -> Result<(), ProgressError> {
        if !self.wants_progress() {
            return Err(ProgressError::NotRequested);
        }
        let args = to_args(&args).map_err(ProgressError::Serialize)?;
        let kwargs = to_kwargs(&kwargs).map_err(ProgressError::Serialize)?;
        let msg = Message::Yield(Yield {
            request: self.request,
            options: YieldOptions::default().with("progress", true),
            payload: Payload::new(args, kwargs),
        });
        self.ctl
            .send(Control::Reply {
                request: self.request,
                message: msg,
                last: false,
            })
            .map_err(|_| ProgressError::SessionClosed)
    }

    /// Whether the router interrupted this invocation (the caller canceled, left or timed out).
    pub fn is_interrupted(&self) -> bool {
        self.interrupt.is_cancelled()
    }

    /// Completes when the router interrupts this invocation.
    ///
    /// With a handler registered by [`Session::register`](crate::Session::register) the
    /// client drops the handler's future on INTERRUPT anyway (and answers
    /// `wamp.error.canceled` in `kill` mode); this is for work the handler started elsewhere,
    /// and for invocations taken from an [`InvocationStream`].
    pub fn interrupted(&self) -> WaitForCancellationFuture<'_> {
        self.interrupt.cancelled()
    }

    /// A token cancelled when the router interrupts this invocation, to hand to spawned work.
    pub fn interrupt_token(&self) -> CancellationToken {
        self.interrupt.clone()
    }
}

/// An invocation taken from an [`InvocationStream`]: answer it with
/// [`reply`](Self::reply). Dropping it unanswered answers the caller with
/// `wamp.error.runtime_error`.
#[derive(Debug)]
pub struct InvocationRequest {
    invocation: Invocation,
    replied: bool,
}

impl InvocationRequest {
    pub(crate) fn new(invocation: Invocation) -> InvocationRequest {
        InvocationRequest {
            invocation,
            replied: false,
        }
    }

    /// The invocation.
    pub fn invocation(&self) -> &Invocation {
        &self.invocation
    }

    /// Answers the call.
    pub fn reply(mut self, result: HandlerResult) {
        self.replied = true;
        let request = self.invocation.request;
        let _ = self.invocation.ctl.send(Control::Reply {
            request,
            message: reply_message(request, result),
            last: true,
        });
    }
}

impl std::ops::Deref for InvocationRequest {
    type Target = Invocation;
    fn deref(&self) -> &Invocation {
        &self.invocation
    }
}

impl Drop for InvocationRequest {
    fn drop(&mut self) {
        if !self.replied {
            let request = self.invocation.request;
            let message = error_message(
                request,
                ApplicationError::runtime_error("the callee dropped the invocation unanswered"),
            );
            let _ = self.invocation.ctl.send(Control::Reply {
                request,
                message,
                last: true,
            });
        }
    }
}

/// A registered procedure. Dropping the handle keeps the registration; call
/// [`unregister`](Self::unregister) to remove it (it also ends with the session).
#[derive(Clone, Debug)]
pub struct Registration {
    pub(crate) id: Id,
    pub(crate) procedure: String,
    pub(crate) shared: Arc<Shared>,
}

impl Registration {
    /// The registration id the router assigned.
    pub fn id(&self) -> Id {
        self.id
    }

    /// The procedure URI (or pattern) registered.
    pub fn procedure(&self) -> &str {
        &self.procedure
    }

    /// Removes the registration.
    ///
    /// # Errors
    ///
    /// [`UnregisterError`].
    pub async fn unregister(self) -> Result<(), UnregisterError> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.shared
            .send(Command::Unregister {
                registration: self.id,
                reply: Some(tx),
            })
            .await?;
        match rx.await {
            Ok(r) => r,
            Err(_) => Err(self.shared.gone().into()),
        }
    }
}

/// Invocations of a procedure registered with
/// [`Session::register_stream`](crate::Session::register_stream), as a `Stream`.
///
/// The stream ends when the registration ends (unregistered, revoked, or the session closed).
/// Dropping it unregisters the procedure.
#[derive(Debug)]
pub struct InvocationStream {
    pub(crate) registration: Registration,
    pub(crate) rx: mpsc::UnboundedReceiver<InvocationRequest>,
    pub(crate) active: bool,
}

impl InvocationStream {
    /// The registration.
    pub fn registration(&self) -> &Registration {
        &self.registration
    }

    /// Removes the registration and ends the stream.
    ///
    /// # Errors
    ///
    /// [`UnregisterError`].
    pub async fn unregister(mut self) -> Result<(), UnregisterError> {
        self.active = false;
        self.registration.clone().unregister().await
    }
}

impl Stream for InvocationStream {
    type Item = InvocationRequest;
    fn poll_next(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<InvocationRequest>> {
        self.rx.poll_recv(cx)
    }
}

impl Drop for InvocationStream {
    fn drop(&mut self) {
        if self.active {
            let _ = self.registration.shared.ctl.send(Control::Unregister {
                registration: self.registration.id,
            });
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use switchboard_proto::dict;

    use super::*;

    #[test]
    fn decode_follows_autobahns_single_value_convention() {
        decode_payload::<()>(&[], &Dict::new()).unwrap();
        let one: i64 = decode_payload(&[Value::UInt(5)], &Dict::new()).unwrap();
        assert_eq!(one, 5);
        let list_arg: Vec<i64> =
            decode_payload(&[Value::List(vec![Value::UInt(1)])], &Dict::new()).unwrap();
        assert_eq!(list_arg, vec![1]);
        let pair: (i64, String) =
            decode_payload(&[Value::UInt(1), Value::from("a")], &Dict::new()).unwrap();
        assert_eq!(pair, (1, "a".to_owned()));
        #[derive(serde::Deserialize)]
        struct K {
            x: u8,
        }
        let k: K = decode_payload(&[], &dict! {"x" => 3u64}).unwrap();
        assert_eq!(k.x, 3);
        assert!(decode_payload::<Value>(&[Value::UInt(1)], &dict! {"x" => 3u64}).is_err());
    }

    #[test]
    fn call_output_builds_payloads_and_defers_errors() {
        let p = CallOutput::value(5).into_payload().unwrap();
        assert_eq!(p, Payload::args(vec![Value::UInt(5)]));
        let p = CallOutput::args((1, 2))
            .with_kwargs(dict! {"k" => true})
            .into_payload()
            .unwrap();
        assert_eq!(
            p,
            Payload::new(vec![Value::UInt(1), Value::UInt(2)], dict! {"k" => true})
        );
        assert!(CallOutput::new().with_kwargs(5).into_payload().is_err());
        match reply_message(Id::MIN, Ok(CallOutput::new().with_kwargs(5))) {
            Message::Error(e) => assert_eq!(e.error, INVALID_PAYLOAD),
            other => panic!("{other:?}"),
        }
    }
}
