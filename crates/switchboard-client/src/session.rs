//! The session handle: a cheap, cloneable [`Session`] whose methods send commands to the one
//! driver task that owns the connection (STYLE.md item 10).

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use futures_util::Stream;
use serde::Serialize;
use serde::de::DeserializeOwned;
use switchboard_proto::message::{Message, Welcome};
use switchboard_proto::names::Feature;
use switchboard_proto::options as wire;
use switchboard_proto::uri::{MatchPolicy, Pattern, Uri, UriRules};
use switchboard_proto::{Dict, Format, Id, Payload, Value, decode, encode};
use switchboard_transport::{Connection, Endpoint};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Sleep;
use tokio_util::sync::PollSender;

use crate::convert::{to_args, to_kwargs};
use crate::driver::{CallSink, Closed, Command, Control, Driver, InvocationTarget};
use crate::error::{
    CallError, ConnectError, Gone, LeaveError, PublishError, RegisterError, SubscribeError,
};
use crate::handshake::{Handshake, Step};
use crate::options::{
    CallOptions, CancelMode, ConnectOptions, InvokePolicy, PublishOptions, RegisterOptions,
    SubscribeOptions,
};
use crate::pubsub::{Event, EventStream, Subscription, event_handler_fn, run_event_handler};
use crate::rpc::{
    CallResult, HandlerResult, Invocation, InvocationRequest, InvocationStream, Registration,
    handler_fn,
};

/// Capacity of the command channel from handles to the driver: callers wait when it is full,
/// which is the client's backpressure.
const COMMAND_QUEUE: usize = 256;

/// What the router said about the session in WELCOME.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct SessionDetails {
    /// The session id.
    pub session: Id,
    /// The realm joined.
    pub realm: String,
    /// The authentication id the router assigned or confirmed.
    pub authid: Option<String>,
    /// The authentication role.
    pub authrole: Option<String>,
    /// The authentication method used.
    pub authmethod: Option<String>,
    /// Who authenticated the session.
    pub authprovider: Option<String>,
    /// `WELCOME.Details.authextra`.
    pub authextra: Dict,
    /// The router's `agent` string.
    pub router_agent: Option<String>,
    /// `WELCOME.Details.roles` as sent.
    pub router_roles: Dict,
    /// The serializer in use.
    pub serializer: Format,
}

impl SessionDetails {
    fn from_welcome(realm: &str, serializer: Format, w: &Welcome) -> SessionDetails {
        let s = |v: Option<&str>| v.map(ToOwned::to_owned);
        SessionDetails {
            session: w.session,
            realm: s(w.details.realm()).unwrap_or_else(|| realm.to_owned()),
            authid: s(w.details.authid()),
            authrole: s(w.details.authrole()),
            authmethod: s(w.details.authmethod()),
            authprovider: s(w.details.authprovider()),
            authextra: w.details.authextra().cloned().unwrap_or_default(),
            router_agent: s(w.details.agent()),
            router_roles: w.details.roles().cloned().unwrap_or_default(),
            serializer,
        }
    }

    fn role_has(&self, role: &str, feature: Feature) -> bool {
        self.router_roles
            .get(role)
            .and_then(Value::as_dict)
            .and_then(|r| r.get("features"))
            .and_then(Value::as_dict)
            .is_some_and(|features| {
                features.iter().any(|(name, on)| {
                    on.as_bool() == Some(true) && Feature::parse_lenient(name) == Some(feature)
                })
            })
    }

    /// Whether the router's dealer announced `feature`.
    pub fn dealer_has(&self, feature: Feature) -> bool {
        self.role_has("dealer", feature)
    }

    /// Whether the router's broker announced `feature`.
    pub fn broker_has(&self, feature: Feature) -> bool {
        self.role_has("broker", feature)
    }
}

/// Who ended a session.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CloseKind {
    /// This client left ([`Session::leave`], or the last handle was dropped).
    Left,
    /// The router said GOODBYE (e.g. `wamp.close.system_shutdown`, `wamp.close.killed`).
    Goodbye,
    /// The session was aborted (protocol violation on either side).
    Aborted,
    /// The connection was lost.
    TransportLost,
}

/// How a session ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CloseInfo {
    /// Who ended it.
    pub kind: CloseKind,
    /// The close reason URI (`wamp.close.transport_lost` when the connection was lost).
    pub reason: String,
    /// A human-readable message, if one was given.
    pub message: Option<String>,
}

/// The reason used for a lost connection (Autobahn's spelling).
pub const TRANSPORT_LOST: &str = "wamp.close.transport_lost";

/// State shared by every handle of one session.
pub(crate) struct Shared {
    pub(crate) cmd: mpsc::Sender<Command>,
    pub(crate) ctl: mpsc::UnboundedSender<Control>,
    pub(crate) details: SessionDetails,
    pub(crate) closed: watch::Receiver<Option<Closed>>,
    next_key: AtomicU64,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("session", &self.details.session)
            .finish_non_exhaustive()
    }
}

impl Shared {
    /// Sends a command; fails when the driver has ended.
    pub(crate) async fn send(&self, cmd: Command) -> Result<(), Gone> {
        self.cmd.send(cmd).await.map_err(|_| self.gone())
    }

    /// Why the session ended (`Closed` while it has not ended yet).
    pub(crate) fn gone(&self) -> Gone {
        self.closed
            .borrow()
            .as_ref()
            .map_or(Gone::Closed, |c| c.gone.clone())
    }

    fn next_key(&self) -> u64 {
        self.next_key.fetch_add(1, Ordering::Relaxed)
    }
}

/// A WAMP session: a cheap, cloneable handle. One driver task owns the connection; every
/// method sends it a command and waits for its answer.
///
/// The session stays open while any handle exists (a `Session`, a [`Registration`], a
/// [`Subscription`] or a stream); when the last one is dropped the client leaves. Handlers
/// that capture a `Session` keep it open until [`leave`](Self::leave).
#[derive(Clone, Debug)]
pub struct Session {
    shared: Arc<Shared>,
}

fn check_uri(uri: &str) -> Result<(), String> {
    Uri::parse(uri, UriRules::Loose)
        .map(drop)
        .map_err(|e| format!("{uri:?}: {e}"))
}

fn check_pattern(uri: &str, policy: MatchPolicy) -> Result<(), String> {
    Pattern::parse(uri, policy, UriRules::Loose)
        .map(drop)
        .map_err(|e| format!("{uri:?}: {e}"))
}

impl Session {
    /// Connects to a router and joins a realm.
    ///
    /// # Errors
    ///
    /// [`ConnectError`]: invalid options, network failure, refusal by the router (ABORT),
    /// failed authentication, timeout.
    pub async fn connect(options: ConnectOptions) -> Result<Session, ConnectError> {
        let timeout = options.connect_timeout;
        match tokio::time::timeout(timeout, Session::connect_inner(options)).await {
            Ok(result) => result,
            Err(_) => Err(ConnectError::Timeout),
        }
    }

    async fn connect_inner(options: ConnectOptions) -> Result<Session, ConnectError> {
        // Bad options are reported before anything goes on the network.
        Handshake::new(&options)?;
        let endpoint = Endpoint::parse(&options.url)?;
        let conn =
            switchboard_transport::connect(&endpoint, options.serializer, options.max_message_size)
                .await?;
        Session::join_inner(conn, options).await
    }

    /// Joins a realm over a connection that is already open (for example an in-process
    /// connection to an embedded router); `options.url` is not used.
    ///
    /// # Errors
    ///
    /// As [`Session::connect`], less the network errors.
    pub async fn join(conn: Connection, options: ConnectOptions) -> Result<Session, ConnectError> {
        let timeout = options.connect_timeout;
        match tokio::time::timeout(timeout, Session::join_inner(conn, options)).await {
            Ok(result) => result,
            Err(_) => Err(ConnectError::Timeout),
        }
    }

    async fn join_inner(
        conn: Connection,
        options: ConnectOptions,
    ) -> Result<Session, ConnectError> {
        let mut handshake = Handshake::new(&options)?;
        let Connection {
            format,
            mut reader,
            mut writer,
            ..
        } = conn;
        let hello = encode(&handshake.hello(), format)
            .map_err(|e| ConnectError::InvalidOptions(format!("cannot encode HELLO: {e}")))?;
        writer
            .send(hello)
            .await
            .map_err(|_| ConnectError::TransportLost)?;
        let welcome = loop {
            let frame = match reader.next().await {
                Some(Ok(frame)) => frame,
                Some(Err(_)) | None => return Err(ConnectError::TransportLost),
            };
            let msg = match decode(format, &frame) {
                Ok(msg) => msg,
                Err(e) => {
                    let _ = writer.close().await;
                    return Err(ConnectError::ProtocolViolation(e.to_string()));
                }
            };
            let step = if matches!(msg, Message::Challenge(_)) {
                // Answering may run a deliberately slow KDF: keep it off the executor.
                let (back, step) = tokio::task::spawn_blocking(move || {
                    let step = handshake.handle(msg);
                    (handshake, step)
                })
                .await
                .map_err(|e| ConnectError::ChallengeHandler(e.to_string()))?;
                handshake = back;
                step
            } else {
                handshake.handle(msg)
            };
            match step {
                Ok(Step::Send(reply)) => {
                    let frame = encode(&reply, format).map_err(|e| {
                        ConnectError::ChallengeHandler(format!("cannot encode AUTHENTICATE: {e}"))
                    })?;
                    writer
                        .send(frame)
                        .await
                        .map_err(|_| ConnectError::TransportLost)?;
                }
                Ok(Step::Established(welcome)) => break welcome,
                Err(e) => {
                    let _ = writer.close().await;
                    return Err(e);
                }
            }
        };
        let details = SessionDetails::from_welcome(&options.realm, format, &welcome);
        tracing::debug!(session = %details.session, realm = %details.realm, "session established");
        let (cmd_tx, cmd_rx) = mpsc::channel(COMMAND_QUEUE);
        let (ctl_tx, ctl_rx) = mpsc::unbounded_channel();
        let (closed_tx, closed_rx) = watch::channel(None);
        let driver = Driver::new(
            format,
            reader,
            writer,
            cmd_rx,
            ctl_rx,
            ctl_tx.clone(),
            closed_tx,
            details.clone(),
            options.leave_timeout,
        );
        tokio::spawn(driver.run());
        Ok(Session {
            shared: Arc::new(Shared {
                cmd: cmd_tx,
                ctl: ctl_tx,
                details,
                closed: closed_rx,
                next_key: AtomicU64::new(1),
            }),
        })
    }

    /// What the router said in WELCOME.
    pub fn details(&self) -> &SessionDetails {
        &self.shared.details
    }

    /// The session id.
    pub fn id(&self) -> Id {
        self.shared.details.session
    }

    /// Whether the session has ended.
    pub fn is_closed(&self) -> bool {
        self.shared.closed.borrow().is_some()
    }

    /// Completes when the session ends, with how it ended.
    pub async fn closed(&self) -> CloseInfo {
        let mut rx = self.shared.closed.clone();
        match rx.wait_for(Option::is_some).await {
            Ok(closed) => match closed.as_ref() {
                Some(c) => c.info.clone(),
                None => lost_info(),
            },
            // The driver is gone without saying why: it can only have lost its connection.
            Err(_) => lost_info(),
        }
    }

    /// Calls a procedure and decodes its result into `R` (see [`CallResult::decode`] for how
    /// results map to `R`; use `CallResult` itself for the raw result).
    ///
    /// `args` is a tuple, array or `Vec` of positional arguments (`()` for none; any other
    /// value is the single argument); `kwargs` a struct or map (`()` for none).
    ///
    /// Dropping the future cancels the call (see [`call_with`](Self::call_with)).
    ///
    /// # Errors
    ///
    /// [`CallError`].
    pub async fn call<R: DeserializeOwned>(
        &self,
        procedure: &str,
        args: impl Serialize,
        kwargs: impl Serialize,
    ) -> Result<R, CallError> {
        let result = self
            .call_with(procedure, args, kwargs, CallOptions::default())
            .await?;
        result.decode().map_err(CallError::Decode)
    }

    /// Calls a procedure with options; resolves to the raw [`CallResult`].
    ///
    /// Cancel by dropping the returned future, or explicitly with [`PendingCall::cancel`].
    /// Dropping sends CANCEL with [`CallOptions::cancel_mode`] (default `killnowait`) when the
    /// router announced `call_canceling`; otherwise the call is only forgotten locally and its
    /// late result ignored.
    pub fn call_with(
        &self,
        procedure: &str,
        args: impl Serialize,
        kwargs: impl Serialize,
        options: CallOptions,
    ) -> PendingCall {
        let (tx, rx) = oneshot::channel();
        let key = self.shared.next_key();
        let state =
            match self.call_command(procedure, &args, &kwargs, &options, key, CallSink::Once(tx)) {
                Ok(cmd) => {
                    let submit = Submit::new(&self.shared.cmd, cmd);
                    if submit.is_sent() {
                        CallState::Waiting(rx)
                    } else {
                        CallState::Sending { submit, rx }
                    }
                }
                Err(e) => CallState::Failed(Some(e)),
            };
        PendingCall {
            state,
            key,
            shared: Arc::clone(&self.shared),
            timeout: options.timeout,
            sleep: None,
            cancel_mode: options.cancel_mode,
        }
    }

    /// Calls a procedure asking for progressive results; yields each result as it arrives,
    /// the final one last, then ends. Without `progressive_call_results` on the router (or
    /// when the callee ignores the request) the stream yields just the final result.
    ///
    /// A timeout applies to each wait between results. Dropping the stream cancels the call
    /// like dropping a [`PendingCall`].
    pub fn call_progressive(
        &self,
        procedure: &str,
        args: impl Serialize,
        kwargs: impl Serialize,
        options: CallOptions,
    ) -> ProgressiveCall {
        let options = options.receive_progress(true);
        let (tx, rx) = mpsc::unbounded_channel();
        let key = self.shared.next_key();
        let (submit, failed) = match self.call_command(
            procedure,
            &args,
            &kwargs,
            &options,
            key,
            CallSink::Progressive(tx),
        ) {
            Ok(cmd) => (Some(Submit::new(&self.shared.cmd, cmd)), None),
            Err(e) => (None, Some(e)),
        };
        ProgressiveCall {
            submit,
            failed,
            rx,
            key,
            shared: Arc::clone(&self.shared),
            timeout: options.timeout,
            sleep: None,
            cancel_mode: options.cancel_mode,
            finished: false,
        }
    }

    fn call_command(
        &self,
        procedure: &str,
        args: &impl Serialize,
        kwargs: &impl Serialize,
        options: &CallOptions,
        key: u64,
        sink: CallSink,
    ) -> Result<Command, CallError> {
        check_uri(procedure).map_err(CallError::InvalidUri)?;
        let args = to_args(args).map_err(CallError::Serialize)?;
        let kwargs = to_kwargs(kwargs).map_err(CallError::Serialize)?;
        let d = &self.shared.details;
        let mut wire_options = wire::CallOptions::default();
        if let Some(t) = options.timeout
            && d.dealer_has(Feature::CallTimeout)
        {
            let ms = u64::try_from(t.as_millis()).unwrap_or(u64::MAX).max(1);
            wire_options = wire_options.with("timeout", ms);
        }
        if options.disclose_me && d.dealer_has(Feature::CallerIdentification) {
            wire_options = wire_options.with("disclose_me", true);
        }
        if options.receive_progress && d.dealer_has(Feature::ProgressiveCallResults) {
            wire_options = wire_options.with("receive_progress", true);
        }
        Ok(Command::Call {
            key,
            procedure: procedure.to_owned(),
            payload: Payload::new(args, kwargs),
            options: wire_options,
            sink,
        })
    }

    /// Registers a procedure with an async handler.
    ///
    /// Each invocation runs the handler in its own task; what it returns goes back to the
    /// caller (an [`ApplicationError`](crate::ApplicationError) as an ERROR with its URI,
    /// args and kwargs; a panic as `wamp.error.runtime_error`). When the router interrupts an
    /// invocation (the caller canceled or left), the handler's future is dropped and, in `kill`
    /// mode, the caller gets `wamp.error.canceled`.
    ///
    /// # Errors
    ///
    /// [`RegisterError`].
    pub async fn register<F, Fut>(
        &self,
        procedure: &str,
        handler: F,
    ) -> Result<Registration, RegisterError>
    where
        F: Fn(Invocation) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = HandlerResult> + Send + 'static,
    {
        self.register_with(procedure, RegisterOptions::default(), handler)
            .await
    }

    /// Registers a procedure with options and an async handler (see
    /// [`register`](Self::register)).
    ///
    /// # Errors
    ///
    /// [`RegisterError`].
    pub async fn register_with<F, Fut>(
        &self,
        procedure: &str,
        options: RegisterOptions,
        handler: F,
    ) -> Result<Registration, RegisterError>
    where
        F: Fn(Invocation) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = HandlerResult> + Send + 'static,
    {
        self.register_target(
            procedure,
            &options,
            InvocationTarget::Handler(handler_fn(handler)),
        )
        .await
    }

    /// Registers a procedure whose invocations arrive as a `Stream`; answer each with
    /// [`InvocationRequest::reply`]. Dropping the stream unregisters.
    ///
    /// # Errors
    ///
    /// [`RegisterError`].
    pub async fn register_stream(
        &self,
        procedure: &str,
        options: RegisterOptions,
    ) -> Result<InvocationStream, RegisterError> {
        let (tx, rx) = mpsc::unbounded_channel::<InvocationRequest>();
        let registration = self
            .register_target(procedure, &options, InvocationTarget::Stream(tx))
            .await?;
        Ok(InvocationStream {
            registration,
            rx,
            active: true,
        })
    }

    async fn register_target(
        &self,
        procedure: &str,
        options: &RegisterOptions,
        target: InvocationTarget,
    ) -> Result<Registration, RegisterError> {
        check_pattern(procedure, options.match_policy).map_err(RegisterError::InvalidUri)?;
        let d = &self.shared.details;
        let mut wire_options = wire::RegisterOptions::default();
        if options.match_policy != MatchPolicy::Exact {
            if !d.dealer_has(Feature::PatternBasedRegistration) {
                return Err(RegisterError::FeatureNotSupported(
                    Feature::PatternBasedRegistration.as_str(),
                ));
            }
            wire_options = wire_options.with("match", options.match_policy.as_str());
        }
        if options.invoke != InvokePolicy::Single {
            if !d.dealer_has(Feature::SharedRegistration) {
                return Err(RegisterError::FeatureNotSupported(
                    Feature::SharedRegistration.as_str(),
                ));
            }
            wire_options = wire_options.with("invoke", options.invoke.as_str());
        }
        if let Some(limit) = options.concurrency {
            wire_options = wire_options.with("concurrency", u64::from(limit));
        }
        if options.disclose_caller && d.dealer_has(Feature::CallerIdentification) {
            wire_options = wire_options.with("disclose_caller", true);
        }
        let (tx, rx) = oneshot::channel();
        self.shared
            .send(Command::Register {
                procedure: procedure.to_owned(),
                options: wire_options,
                target,
                reply: tx,
            })
            .await?;
        let id = rx
            .await
            .map_err(|_| RegisterError::from(self.shared.gone()))??;
        Ok(Registration {
            id,
            procedure: procedure.to_owned(),
            shared: Arc::clone(&self.shared),
        })
    }

    /// Subscribes to a topic with an async handler. Events are handled one at a time, in the
    /// order they arrive.
    ///
    /// Events wait in an unbounded per-subscription queue while the handler is busy, so that
    /// a slow handler (or one that calls back into the session) never stalls the driver; a
    /// handler that is slower than the event rate for long grows that queue. The same holds
    /// for an [`EventStream`] that is not polled.
    ///
    /// # Errors
    ///
    /// [`SubscribeError`].
    pub async fn subscribe<F, Fut>(
        &self,
        topic: &str,
        handler: F,
    ) -> Result<Subscription, SubscribeError>
    where
        F: Fn(Event) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.subscribe_with(topic, SubscribeOptions::default(), handler)
            .await
    }

    /// Subscribes with options and an async handler (see [`subscribe`](Self::subscribe)).
    ///
    /// # Errors
    ///
    /// [`SubscribeError`].
    pub async fn subscribe_with<F, Fut>(
        &self,
        topic: &str,
        options: SubscribeOptions,
        handler: F,
    ) -> Result<Subscription, SubscribeError>
    where
        F: Fn(Event) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let (subscription, rx) = self.subscribe_sink(topic, &options).await?;
        tokio::spawn(run_event_handler(event_handler_fn(handler), rx));
        Ok(subscription)
    }

    /// Subscribes to a topic; events arrive as a `Stream`. Dropping the stream unsubscribes.
    ///
    /// # Errors
    ///
    /// [`SubscribeError`].
    pub async fn subscribe_stream(
        &self,
        topic: &str,
        options: SubscribeOptions,
    ) -> Result<EventStream, SubscribeError> {
        let (subscription, rx) = self.subscribe_sink(topic, &options).await?;
        Ok(EventStream {
            subscription,
            rx,
            active: true,
        })
    }

    async fn subscribe_sink(
        &self,
        topic: &str,
        options: &SubscribeOptions,
    ) -> Result<(Subscription, mpsc::UnboundedReceiver<Event>), SubscribeError> {
        check_pattern(topic, options.match_policy).map_err(SubscribeError::InvalidUri)?;
        let d = &self.shared.details;
        let mut wire_options = wire::SubscribeOptions::default();
        if options.match_policy != MatchPolicy::Exact {
            if !d.broker_has(Feature::PatternBasedSubscription) {
                return Err(SubscribeError::FeatureNotSupported(
                    Feature::PatternBasedSubscription.as_str(),
                ));
            }
            wire_options = wire_options.with("match", options.match_policy.as_str());
        }
        if options.get_retained && d.broker_has(Feature::EventRetention) {
            wire_options = wire_options.with("get_retained", true);
        }
        let (events_tx, events_rx) = mpsc::unbounded_channel();
        let sink = self.shared.next_key();
        let (tx, rx) = oneshot::channel();
        self.shared
            .send(Command::Subscribe {
                topic: topic.to_owned(),
                options: wire_options,
                sink,
                events: events_tx,
                reply: tx,
            })
            .await?;
        let id = rx
            .await
            .map_err(|_| SubscribeError::from(self.shared.gone()))??;
        Ok((
            Subscription {
                id,
                topic: topic.to_owned(),
                sink,
                shared: Arc::clone(&self.shared),
            },
            events_rx,
        ))
    }

    /// Publishes an event. Returns the publication id when
    /// [`PublishOptions::acknowledge`] is set (after the router's PUBLISHED), else `None` as
    /// soon as the event is queued.
    ///
    /// # Errors
    ///
    /// [`PublishError`].
    pub async fn publish(
        &self,
        topic: &str,
        args: impl Serialize,
        kwargs: impl Serialize,
        options: PublishOptions,
    ) -> Result<Option<Id>, PublishError> {
        check_uri(topic).map_err(PublishError::InvalidUri)?;
        let args = to_args(&args).map_err(PublishError::Serialize)?;
        let kwargs = to_kwargs(&kwargs).map_err(PublishError::Serialize)?;
        let wire_options = self.publish_options(&options)?;
        let (reply, rx) = if options.acknowledge {
            let (tx, rx) = oneshot::channel();
            (Some(tx), Some(rx))
        } else {
            (None, None)
        };
        self.shared
            .send(Command::Publish {
                topic: topic.to_owned(),
                payload: Payload::new(args, kwargs),
                options: wire_options,
                reply,
            })
            .await?;
        match rx {
            Some(rx) => rx
                .await
                .map_err(|_| PublishError::from(self.shared.gone()))?,
            None => Ok(None),
        }
    }

    fn publish_options(&self, o: &PublishOptions) -> Result<wire::PublishOptions, PublishError> {
        let d = &self.shared.details;
        let mut w = wire::PublishOptions::default();
        if o.acknowledge {
            w = w.with("acknowledge", true);
        }
        if o.exclude_me == Some(false) {
            if !d.broker_has(Feature::PublisherExclusion) {
                return Err(PublishError::FeatureNotSupported(
                    Feature::PublisherExclusion.as_str(),
                ));
            }
            w = w.with("exclude_me", false);
        }
        if o.uses_black_white_listing() {
            if !d.broker_has(Feature::SubscriberBlackwhiteListing) {
                return Err(PublishError::FeatureNotSupported(
                    Feature::SubscriberBlackwhiteListing.as_str(),
                ));
            }
            let ids = |v: &[Id]| Value::List(v.iter().map(|i| Value::from(*i)).collect());
            let strs =
                |v: &[String]| Value::List(v.iter().map(|s| Value::from(s.as_str())).collect());
            if !o.exclude.is_empty() {
                w = w.with("exclude", ids(&o.exclude));
            }
            if !o.exclude_authid.is_empty() {
                w = w.with("exclude_authid", strs(&o.exclude_authid));
            }
            if !o.exclude_authrole.is_empty() {
                w = w.with("exclude_authrole", strs(&o.exclude_authrole));
            }
            if let Some(e) = &o.eligible {
                w = w.with("eligible", ids(e));
            }
            if let Some(e) = &o.eligible_authid {
                w = w.with("eligible_authid", strs(e));
            }
            if let Some(e) = &o.eligible_authrole {
                w = w.with("eligible_authrole", strs(e));
            }
        }
        if o.retain && d.broker_has(Feature::EventRetention) {
            w = w.with("retain", true);
        }
        if o.disclose_me && d.broker_has(Feature::PublisherIdentification) {
            w = w.with("disclose_me", true);
        }
        Ok(w)
    }

    /// Leaves the session with a GOODBYE handshake and closes the connection. Pending calls
    /// and operations fail with `SessionClosed`.
    ///
    /// # Errors
    ///
    /// [`LeaveError`] when the session had already ended.
    pub async fn leave(&self) -> Result<CloseInfo, LeaveError> {
        let (tx, rx) = oneshot::channel();
        self.shared.send(Command::Leave { reply: tx }).await?;
        rx.await.map_err(|_| LeaveError::from(self.shared.gone()))?
    }
}

fn lost_info() -> CloseInfo {
    CloseInfo {
        kind: CloseKind::TransportLost,
        reason: TRANSPORT_LOST.to_owned(),
        message: None,
    }
}

/// Sends one command to the driver: at once when the channel has room, else when it has.
struct Submit {
    /// `None` once sent, or when the driver is gone.
    sender: Option<PollSender<Command>>,
    /// The command, until it is sent.
    cmd: Option<Command>,
}

impl Submit {
    fn new(sender: &mpsc::Sender<Command>, cmd: Command) -> Submit {
        match sender.try_send(cmd) {
            Ok(()) => Submit {
                sender: None,
                cmd: None,
            },
            Err(mpsc::error::TrySendError::Full(cmd)) => Submit {
                sender: Some(PollSender::new(sender.clone())),
                cmd: Some(cmd),
            },
            Err(mpsc::error::TrySendError::Closed(cmd)) => Submit {
                sender: None,
                cmd: Some(cmd),
            },
        }
    }

    /// Whether the command is in the channel.
    fn is_sent(&self) -> bool {
        self.cmd.is_none()
    }

    /// `Ready(Ok)` once the command is in the channel; `Ready(Err)` if the driver is gone.
    fn poll_submit(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), ()>> {
        if self.cmd.is_none() {
            return Poll::Ready(Ok(()));
        }
        let Some(sender) = &mut self.sender else {
            return Poll::Ready(Err(()));
        };
        if ready!(sender.poll_reserve(cx)).is_err() {
            return Poll::Ready(Err(()));
        }
        let result = match self.cmd.take() {
            Some(cmd) => sender.send_item(cmd).map_err(drop),
            None => Ok(()),
        };
        self.sender = None;
        Poll::Ready(result)
    }
}

enum CallState {
    /// Failed before anything was sent.
    Failed(Option<CallError>),
    /// Waiting for room in the command channel.
    Sending {
        submit: Submit,
        rx: oneshot::Receiver<Result<CallResult, CallError>>,
    },
    /// Sent; waiting for the result.
    Waiting(oneshot::Receiver<Result<CallResult, CallError>>),
    /// Finished (result returned, or canceled before sending).
    Done,
}

/// A call in progress: a future resolving to the [`CallResult`]. Dropping it before it
/// completes cancels the call.
#[must_use = "a call does nothing unless awaited, and dropping it cancels it"]
pub struct PendingCall {
    state: CallState,
    key: u64,
    shared: Arc<Shared>,
    timeout: Option<Duration>,
    sleep: Option<Pin<Box<Sleep>>>,
    cancel_mode: CancelMode,
}

impl std::fmt::Debug for PendingCall {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PendingCall")
            .field("key", &self.key)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl PendingCall {
    /// Cancels the call with `mode` and keeps waiting: the future then resolves to
    /// [`CallError::Canceled`] (or, in [`CancelMode::Kill`], to whatever the callee answers
    /// first). Without `call_canceling` on the router the call fails with `Canceled` at once
    /// and its late result is ignored.
    pub fn cancel(&mut self, mode: CancelMode) {
        match &self.state {
            CallState::Sending { .. } => {
                self.state = CallState::Failed(Some(CallError::Canceled));
            }
            CallState::Waiting(_) => {
                let _ = self.shared.ctl.send(Control::Cancel {
                    key: self.key,
                    mode,
                    forget: false,
                });
            }
            CallState::Failed(_) | CallState::Done => {}
        }
    }

    fn poll_timeout(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let Some(timeout) = self.timeout else {
            return Poll::Pending;
        };
        let sleep = self
            .sleep
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
        sleep.as_mut().poll(cx)
    }
}

impl Future for PendingCall {
    type Output = Result<CallResult, CallError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        loop {
            match &mut this.state {
                CallState::Failed(e) => {
                    let e = e.take().unwrap_or(CallError::SessionClosed);
                    this.state = CallState::Done;
                    return Poll::Ready(Err(e));
                }
                CallState::Done => return Poll::Ready(Err(CallError::SessionClosed)),
                CallState::Sending { submit, .. } => match submit.poll_submit(cx) {
                    Poll::Ready(Ok(())) => {
                        if let CallState::Sending { rx, .. } =
                            std::mem::replace(&mut this.state, CallState::Done)
                        {
                            this.state = CallState::Waiting(rx);
                        }
                    }
                    Poll::Ready(Err(())) => {
                        this.state = CallState::Done;
                        return Poll::Ready(Err(this.shared.gone().into()));
                    }
                    Poll::Pending => {
                        if this.poll_timeout(cx).is_ready() {
                            this.state = CallState::Done;
                            return Poll::Ready(Err(CallError::Timeout));
                        }
                        return Poll::Pending;
                    }
                },
                CallState::Waiting(rx) => match Pin::new(rx).poll(cx) {
                    Poll::Ready(result) => {
                        this.state = CallState::Done;
                        return Poll::Ready(match result {
                            Ok(r) => r,
                            Err(_) => Err(this.shared.gone().into()),
                        });
                    }
                    Poll::Pending => {
                        if this.poll_timeout(cx).is_ready() {
                            this.state = CallState::Done;
                            let _ = this.shared.ctl.send(Control::Cancel {
                                key: this.key,
                                mode: this.cancel_mode,
                                forget: true,
                            });
                            return Poll::Ready(Err(CallError::Timeout));
                        }
                        return Poll::Pending;
                    }
                },
            }
        }
    }
}

impl Drop for PendingCall {
    fn drop(&mut self) {
        if matches!(self.state, CallState::Waiting(_)) {
            let _ = self.shared.ctl.send(Control::Cancel {
                key: self.key,
                mode: self.cancel_mode,
                forget: true,
            });
        }
    }
}

/// A call with progressive results: a `Stream` of results, the final one last. Dropping it
/// before the final result cancels the call.
#[must_use = "a call does nothing unless polled, and dropping it cancels it"]
pub struct ProgressiveCall {
    submit: Option<Submit>,
    failed: Option<CallError>,
    rx: mpsc::UnboundedReceiver<Result<CallResult, CallError>>,
    key: u64,
    shared: Arc<Shared>,
    timeout: Option<Duration>,
    sleep: Option<Pin<Box<Sleep>>>,
    cancel_mode: CancelMode,
    finished: bool,
}

impl std::fmt::Debug for ProgressiveCall {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProgressiveCall")
            .field("key", &self.key)
            .field("finished", &self.finished)
            .finish_non_exhaustive()
    }
}

impl ProgressiveCall {
    /// Cancels the call with `mode` (see [`PendingCall::cancel`]).
    pub fn cancel(&mut self, mode: CancelMode) {
        if self.finished {
            return;
        }
        if self.submit.as_ref().is_some_and(|s| !s.is_sent()) {
            self.submit = None;
            self.failed = Some(CallError::Canceled);
        } else {
            let _ = self.shared.ctl.send(Control::Cancel {
                key: self.key,
                mode,
                forget: false,
            });
        }
    }

    /// Collects every result until the final one, which is returned last.
    ///
    /// # Errors
    ///
    /// The first error.
    pub async fn collect_all(mut self) -> Result<Vec<CallResult>, CallError> {
        use futures_util::StreamExt as _;
        let mut out = Vec::new();
        while let Some(item) = self.next().await {
            out.push(item?);
        }
        Ok(out)
    }

    fn sent(&self) -> bool {
        self.submit.as_ref().is_some_and(Submit::is_sent)
    }
}

impl Stream for ProgressiveCall {
    type Item = Result<CallResult, CallError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if this.finished {
            return Poll::Ready(None);
        }
        if let Some(e) = this.failed.take() {
            this.finished = true;
            return Poll::Ready(Some(Err(e)));
        }
        if let Some(submit) = &mut this.submit
            && !submit.is_sent()
        {
            match submit.poll_submit(cx) {
                Poll::Ready(Ok(())) => {}
                Poll::Ready(Err(())) => {
                    this.finished = true;
                    return Poll::Ready(Some(Err(this.shared.gone().into())));
                }
                Poll::Pending => return Poll::Pending,
            }
        }
        match this.rx.poll_recv(cx) {
            Poll::Ready(Some(item)) => {
                let last = !matches!(&item, Ok(r) if r.is_progress());
                if last {
                    this.finished = true;
                }
                // The timeout restarts after every result.
                this.sleep = None;
                Poll::Ready(Some(item))
            }
            Poll::Ready(None) => {
                this.finished = true;
                Poll::Ready(Some(Err(this.shared.gone().into())))
            }
            Poll::Pending => {
                if let Some(timeout) = this.timeout {
                    let sleep = this
                        .sleep
                        .get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
                    if sleep.as_mut().poll(cx).is_ready() {
                        this.finished = true;
                        let _ = this.shared.ctl.send(Control::Cancel {
                            key: this.key,
                            mode: this.cancel_mode,
                            forget: true,
                        });
                        return Poll::Ready(Some(Err(CallError::Timeout)));
                    }
                }
                Poll::Pending
            }
        }
    }
}

impl Drop for ProgressiveCall {
    fn drop(&mut self) {
        if !self.finished && self.sent() {
            let _ = self.shared.ctl.send(Control::Cancel {
                key: self.key,
                mode: self.cancel_mode,
                forget: true,
            });
        }
    }
}
