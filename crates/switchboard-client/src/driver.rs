//! The driver task: owns the connection, allocates request ids, keeps every pending request
//! and dispatches what the router sends (STYLE.md item 10).
//!
//! Handles talk to it over two channels: a bounded one for new requests (callers wait when it
//! is full) and an unbounded one for control messages that must be sendable from `Drop` and
//! from handler tasks (cancel, invocation replies, unsubscribe-on-drop). Each loop turn takes
//! one event, drains whatever else is ready without waiting, and writes everything queued in
//! one batch.

use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::time::Duration;

use bytes::Bytes;
use futures_util::FutureExt as _;
use switchboard_proto::ids::SessionIdCounter;
use switchboard_proto::message::{
    Abort, Call, Cancel, ErrorMessage, Goodbye, Message, Publish, Register, Subscribe, Unregister,
    Unsubscribe,
};
use switchboard_proto::names::{CloseReason, ErrorUri, Feature, MessageType};
use switchboard_proto::options::{self as wire, CancelOptions, CloseDetails};
use switchboard_proto::{Format, Id, Payload, decode, encode};
use switchboard_transport::{FrameReader, FrameWriter, TransportError};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::convert::ConvertError;
use crate::error::{
    ApplicationError, CallError, Gone, LeaveError, PublishError, RegisterError, SubscribeError,
    UnregisterError, UnsubscribeError,
};
use crate::options::CancelMode;
use crate::pubsub::Event;
use crate::rpc::{
    CallResult, HandlerFn, Invocation, InvocationRequest, error_message, reply_message,
};
use crate::session::{CloseInfo, CloseKind, SessionDetails, TRANSPORT_LOST};

/// How many ready items of each kind one loop turn takes before writing.
const BATCH: usize = 256;

/// How long closing the connection may take after the session ended.
const CLOSE_TIMEOUT: Duration = Duration::from_secs(2);

/// Where a call's results go.
#[derive(Debug)]
pub(crate) enum CallSink {
    /// One final result.
    Once(oneshot::Sender<Result<CallResult, CallError>>),
    /// Progressive results, then the final one.
    Progressive(mpsc::UnboundedSender<Result<CallResult, CallError>>),
}

impl CallSink {
    fn finish(self, result: Result<CallResult, CallError>) {
        match self {
            CallSink::Once(tx) => {
                let _ = tx.send(result);
            }
            CallSink::Progressive(tx) => {
                let _ = tx.send(result);
            }
        }
    }
}

/// Where a registration's invocations go.
pub(crate) enum InvocationTarget {
    /// Run this handler in a task per invocation.
    Handler(HandlerFn),
    /// Hand them to an [`InvocationStream`](crate::InvocationStream).
    Stream(mpsc::UnboundedSender<InvocationRequest>),
}

impl std::fmt::Debug for InvocationTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            InvocationTarget::Handler(_) => "Handler",
            InvocationTarget::Stream(_) => "Stream",
        })
    }
}

/// A new request from a handle.
#[derive(Debug)]
pub(crate) enum Command {
    Call {
        key: u64,
        procedure: String,
        payload: Payload,
        options: wire::CallOptions,
        sink: CallSink,
    },
    Register {
        procedure: String,
        options: wire::RegisterOptions,
        target: InvocationTarget,
        reply: oneshot::Sender<Result<Id, RegisterError>>,
    },
    Unregister {
        registration: Id,
        reply: Option<oneshot::Sender<Result<(), UnregisterError>>>,
    },
    Subscribe {
        topic: String,
        options: wire::SubscribeOptions,
        sink: u64,
        events: mpsc::UnboundedSender<Event>,
        reply: oneshot::Sender<Result<Id, SubscribeError>>,
    },
    Unsubscribe {
        subscription: Id,
        sink: u64,
        reply: Option<oneshot::Sender<Result<(), UnsubscribeError>>>,
    },
    Publish {
        topic: String,
        payload: Payload,
        options: wire::PublishOptions,
        reply: Option<oneshot::Sender<Result<Option<Id>, PublishError>>>,
    },
    Leave {
        reply: oneshot::Sender<Result<CloseInfo, LeaveError>>,
    },
}

/// A control message: sendable without waiting, from `Drop` and handler tasks.
#[derive(Debug)]
pub(crate) enum Control {
    /// Cancel the call with this key; `forget` drops it locally too (its future is gone).
    Cancel {
        key: u64,
        mode: CancelMode,
        forget: bool,
    },
    /// A YIELD or ERROR for an invocation; `last` unless it is a progressive YIELD.
    Reply {
        request: Id,
        message: Message,
        last: bool,
    },
    /// The callee-side timeout of an invocation expired.
    InvocationTimeout { request: Id },
    /// An invocation stream was dropped.
    Unregister { registration: Id },
    /// An event stream was dropped.
    Unsubscribe { subscription: Id, sink: u64 },
}

/// How the session ended, for handles that ask later.
#[derive(Clone, Debug)]
pub(crate) struct Closed {
    pub(crate) info: CloseInfo,
    pub(crate) gone: Gone,
}

type UnregisterReply = Option<oneshot::Sender<Result<(), UnregisterError>>>;
type UnsubscribeReply = Option<oneshot::Sender<Result<(), UnsubscribeError>>>;

struct PendingCall {
    key: u64,
    procedure: String,
    sink: CallSink,
}

struct PendingRegister {
    procedure: String,
    target: InvocationTarget,
    reply: oneshot::Sender<Result<Id, RegisterError>>,
}

struct RegistrationEntry {
    procedure: String,
    target: InvocationTarget,
}

struct PendingSubscribe {
    topic: String,
    sink: u64,
    events: mpsc::UnboundedSender<Event>,
    reply: oneshot::Sender<Result<Id, SubscribeError>>,
}

struct SubscriptionEntry {
    topic: String,
    sinks: Vec<(u64, mpsc::UnboundedSender<Event>)>,
}

struct InvocationEntry {
    interrupt: CancellationToken,
    done: CancellationToken,
}

struct Leaving {
    deadline: Instant,
    replies: Vec<oneshot::Sender<Result<CloseInfo, LeaveError>>>,
}

/// What woke the loop.
enum Wake {
    Frame(Option<Result<Bytes, TransportError>>),
    Control(Control),
    Command(Option<Command>),
    LeaveTimeout,
}

/// The task that owns one session's connection.
pub(crate) struct Driver {
    format: Format,
    reader: FrameReader,
    writer: FrameWriter,
    out: Vec<Bytes>,
    cmd_rx: mpsc::Receiver<Command>,
    ctl_rx: mpsc::UnboundedReceiver<Control>,
    ctl_tx: mpsc::UnboundedSender<Control>,
    closed_tx: watch::Sender<Option<Closed>>,
    details: SessionDetails,
    leave_timeout: Duration,
    requests: SessionIdCounter,
    calls: HashMap<Id, PendingCall>,
    call_keys: HashMap<u64, Id>,
    registering: HashMap<Id, PendingRegister>,
    registrations: HashMap<Id, RegistrationEntry>,
    unregistering: HashMap<Id, (Id, UnregisterReply)>,
    subscribing: HashMap<Id, PendingSubscribe>,
    subscriptions: HashMap<Id, SubscriptionEntry>,
    unsubscribing: HashMap<Id, (Id, UnsubscribeReply)>,
    publishing: HashMap<Id, oneshot::Sender<Result<Option<Id>, PublishError>>>,
    invocations: HashMap<Id, InvocationEntry>,
    leaving: Option<Leaving>,
    ending: Option<Closed>,
}

impl Driver {
    #[allow(
        clippy::too_many_arguments,
        reason = "one constructor call, in Session::connect"
    )]
    pub(crate) fn new(
        format: Format,
        reader: FrameReader,
        writer: FrameWriter,
        cmd_rx: mpsc::Receiver<Command>,
        ctl_rx: mpsc::UnboundedReceiver<Control>,
        ctl_tx: mpsc::UnboundedSender<Control>,
        closed_tx: watch::Sender<Option<Closed>>,
        details: SessionDetails,
        leave_timeout: Duration,
    ) -> Driver {
        Driver {
            format,
            reader,
            writer,
            out: Vec::new(),
            cmd_rx,
            ctl_rx,
            ctl_tx,
            closed_tx,
            details,
            leave_timeout,
            requests: SessionIdCounter::new(),
            calls: HashMap::new(),
            call_keys: HashMap::new(),
            registering: HashMap::new(),
            registrations: HashMap::new(),
            unregistering: HashMap::new(),
            subscribing: HashMap::new(),
            subscriptions: HashMap::new(),
            unsubscribing: HashMap::new(),
            publishing: HashMap::new(),
            invocations: HashMap::new(),
            leaving: None,
            ending: None,
        }
    }

    /// Runs the session to its end.
    pub(crate) async fn run(mut self) {
        loop {
            let accepting = self.leaving.is_none();
            let deadline = self.leaving.as_ref().map(|l| l.deadline);
            let wake = tokio::select! {
                frame = self.reader.next() => Wake::Frame(frame),
                Some(ctl) = self.ctl_rx.recv() => Wake::Control(ctl),
                cmd = self.cmd_rx.recv(), if accepting => Wake::Command(cmd),
                () = sleep_until(deadline), if deadline.is_some() => Wake::LeaveTimeout,
            };
            self.on_wake(wake);
            self.drain_ready();
            if !self.out.is_empty()
                && let Err(e) = self.writer.send_batch(&mut self.out).await
            {
                tracing::debug!("write failed: {e}");
                self.out.clear();
                self.end_transport_lost();
            }
            if let Some(closed) = self.ending.take() {
                self.shutdown(closed).await;
                return;
            }
        }
    }

    fn on_wake(&mut self, wake: Wake) {
        match wake {
            Wake::Frame(Some(Ok(frame))) => self.on_frame(&frame),
            Wake::Frame(Some(Err(e))) => {
                tracing::debug!("transport failed: {e}");
                self.end_transport_lost();
            }
            Wake::Frame(None) => self.end_transport_lost(),
            Wake::Control(ctl) => self.on_control(ctl),
            Wake::Command(Some(cmd)) => self.on_command(cmd),
            Wake::Command(None) => self.begin_leave(None),
            Wake::LeaveTimeout => {
                tracing::debug!("no GOODBYE reply in time: closing");
                self.end(
                    Gone::Closed,
                    CloseKind::Left,
                    CloseReason::Normal.as_str().to_owned(),
                    Some("the router did not answer GOODBYE in time".to_owned()),
                );
            }
        }
    }

    /// Takes whatever else is ready, without waiting, so that one write carries it all.
    fn drain_ready(&mut self) {
        for _ in 0..BATCH {
            if self.ending.is_some() {
                return;
            }
            match self.reader.next().now_or_never() {
                Some(frame) => self.on_wake(Wake::Frame(frame)),
                None => break,
            }
        }
        for _ in 0..BATCH {
            match self.ctl_rx.try_recv() {
                Ok(ctl) => self.on_control(ctl),
                Err(_) => break,
            }
        }
        for _ in 0..BATCH {
            if self.leaving.is_some() || self.ending.is_some() {
                break;
            }
            match self.cmd_rx.try_recv() {
                Ok(cmd) => self.on_command(cmd),
                Err(mpsc::error::TryRecvError::Empty) => break,
                Err(mpsc::error::TryRecvError::Disconnected) => {
                    self.begin_leave(None);
                    break;
                }
            }
        }
    }

    // -----------------------------------------------------------------------------------------
    // Ending
    // -----------------------------------------------------------------------------------------

    fn end(&mut self, gone: Gone, kind: CloseKind, reason: String, message: Option<String>) {
        if self.ending.is_none() {
            self.ending = Some(Closed {
                info: CloseInfo {
                    kind,
                    reason,
                    message,
                },
                gone,
            });
        }
    }

    fn end_transport_lost(&mut self) {
        self.end(
            Gone::TransportLost,
            CloseKind::TransportLost,
            TRANSPORT_LOST.to_owned(),
            None,
        );
    }

    /// Sends ABORT `wamp.error.protocol_violation` and ends the session.
    fn protocol_violation(&mut self, why: String) {
        tracing::warn!("protocol violation by the router: {why}");
        let abort = Message::Abort(Abort {
            details: CloseDetails::default().with("message", why.as_str()),
            reason: ErrorUri::ProtocolViolation.as_str().to_owned(),
            payload: Payload::empty(),
        });
        let _ = self.queue(&abort);
        self.end(
            Gone::ProtocolViolation(why.clone()),
            CloseKind::Aborted,
            ErrorUri::ProtocolViolation.as_str().to_owned(),
            Some(why),
        );
    }

    fn begin_leave(&mut self, reply: Option<oneshot::Sender<Result<CloseInfo, LeaveError>>>) {
        if let Some(leaving) = &mut self.leaving {
            leaving.replies.extend(reply);
            return;
        }
        let goodbye = Message::Goodbye(Goodbye {
            details: CloseDetails::default(),
            reason: CloseReason::Normal.as_str().to_owned(),
        });
        if self.queue(&goodbye).is_err() {
            self.end(
                Gone::Closed,
                CloseKind::Left,
                CloseReason::Normal.as_str().to_owned(),
                None,
            );
        }
        self.leaving = Some(Leaving {
            deadline: Instant::now() + self.leave_timeout,
            replies: reply.into_iter().collect(),
        });
    }

    /// Fails everything still pending, publishes how the session ended, closes the
    /// connection.
    async fn shutdown(mut self, closed: Closed) {
        tracing::debug!(reason = %closed.info.reason, "session ended");
        self.closed_tx.send_replace(Some(closed.clone()));
        let gone = closed.gone.clone();
        if let Some(leaving) = self.leaving.take() {
            for reply in leaving.replies {
                let result = match closed.info.kind {
                    CloseKind::Left => Ok(closed.info.clone()),
                    _ => Err(gone.clone().into()),
                };
                let _ = reply.send(result);
            }
        }
        for (_, call) in self.calls.drain() {
            call.sink.finish(Err(gone.clone().into()));
        }
        for (_, r) in self.registering.drain() {
            let _ = r.reply.send(Err(gone.clone().into()));
        }
        for (_, (_, reply)) in self.unregistering.drain() {
            if let Some(reply) = reply {
                let _ = reply.send(Err(gone.clone().into()));
            }
        }
        for (_, s) in self.subscribing.drain() {
            let _ = s.reply.send(Err(gone.clone().into()));
        }
        for (_, (_, reply)) in self.unsubscribing.drain() {
            if let Some(reply) = reply {
                let _ = reply.send(Err(gone.clone().into()));
            }
        }
        for (_, reply) in self.publishing.drain() {
            let _ = reply.send(Err(gone.clone().into()));
        }
        for (_, inv) in self.invocations.drain() {
            inv.interrupt.cancel();
            inv.done.cancel();
        }
        self.registrations.clear();
        self.subscriptions.clear();
        self.cmd_rx.close();
        while let Ok(cmd) = self.cmd_rx.try_recv() {
            fail_command(cmd, &gone);
        }
        let _ = tokio::time::timeout(CLOSE_TIMEOUT, self.writer.close()).await;
    }

    // -----------------------------------------------------------------------------------------
    // Outgoing
    // -----------------------------------------------------------------------------------------

    /// Encodes a message and queues it for the next write.
    fn queue(&mut self, msg: &Message) -> Result<(), String> {
        if self.leaving.is_some() && !matches!(msg, Message::Goodbye(_) | Message::Abort(_)) {
            // After our GOODBYE nothing else goes out (spec §3.1, transition 14).
            return Err("the session is closing".to_owned());
        }
        let frame = encode(msg, self.format).map_err(|e| e.to_string())?;
        if let Some(max) = self.writer.peer_max_message_size()
            && frame.len() > max
        {
            return Err(format!(
                "the message is {} bytes, over the router's limit of {max} bytes",
                frame.len()
            ));
        }
        self.out.push(frame);
        Ok(())
    }

    /// Queues a new request with the next request id; the id is used up only when the
    /// message could be queued, so ids stay sequential on the wire.
    fn queue_request(&mut self, build: impl FnOnce(Id) -> Message) -> Result<Id, String> {
        let id = self.requests.peek();
        self.queue(&build(id))?;
        self.requests.next();
        Ok(id)
    }

    fn on_command(&mut self, cmd: Command) {
        match cmd {
            Command::Call {
                key,
                procedure,
                payload,
                options,
                sink,
            } => {
                let queued = self.queue_request(|request| {
                    Message::Call(Call {
                        request,
                        options,
                        procedure: procedure.clone(),
                        payload,
                    })
                });
                match queued {
                    Ok(id) => {
                        self.call_keys.insert(key, id);
                        self.calls.insert(
                            id,
                            PendingCall {
                                key,
                                procedure,
                                sink,
                            },
                        );
                    }
                    Err(e) => sink.finish(Err(CallError::Serialize(ConvertError::new(e)))),
                }
            }
            Command::Register {
                procedure,
                options,
                target,
                reply,
            } => {
                let queued = self.queue_request(|request| {
                    Message::Register(Register {
                        request,
                        options,
                        procedure: procedure.clone(),
                    })
                });
                match queued {
                    Ok(id) => {
                        self.registering.insert(
                            id,
                            PendingRegister {
                                procedure,
                                target,
                                reply,
                            },
                        );
                    }
                    Err(e) => {
                        let _ = reply.send(Err(RegisterError::InvalidUri(e)));
                    }
                }
            }
            Command::Unregister {
                registration,
                reply,
            } => self.unregister(registration, reply),
            Command::Subscribe {
                topic,
                options,
                sink,
                events,
                reply,
            } => {
                let queued = self.queue_request(|request| {
                    Message::Subscribe(Subscribe {
                        request,
                        options,
                        topic: topic.clone(),
                    })
                });
                match queued {
                    Ok(id) => {
                        self.subscribing.insert(
                            id,
                            PendingSubscribe {
                                topic,
                                sink,
                                events,
                                reply,
                            },
                        );
                    }
                    Err(e) => {
                        let _ = reply.send(Err(SubscribeError::InvalidUri(e)));
                    }
                }
            }
            Command::Unsubscribe {
                subscription,
                sink,
                reply,
            } => self.unsubscribe(subscription, sink, reply),
            Command::Publish {
                topic,
                payload,
                options,
                reply,
            } => {
                let queued = self.queue_request(|request| {
                    Message::Publish(Publish {
                        request,
                        options,
                        topic,
                        payload,
                    })
                });
                match (queued, reply) {
                    (Ok(id), Some(reply)) => {
                        self.publishing.insert(id, reply);
                    }
                    (Ok(_), None) => {}
                    (Err(e), reply) => {
                        tracing::warn!("publication not sent: {e}");
                        if let Some(reply) = reply {
                            let _ = reply.send(Err(PublishError::Serialize(ConvertError::new(e))));
                        }
                    }
                }
            }
            Command::Leave { reply } => self.begin_leave(Some(reply)),
        }
    }

    fn unregister(
        &mut self,
        registration: Id,
        reply: Option<oneshot::Sender<Result<(), UnregisterError>>>,
    ) {
        if !self.registrations.contains_key(&registration) {
            if let Some(reply) = reply {
                let _ = reply.send(Err(UnregisterError::NoSuchRegistration));
            }
            return;
        }
        let queued = self.queue_request(|request| {
            Message::Unregister(Unregister {
                request,
                registration,
            })
        });
        match queued {
            Ok(id) => {
                self.unregistering.insert(id, (registration, reply));
            }
            Err(e) => {
                if let Some(reply) = reply {
                    let _ = reply.send(Err(UnregisterError::ProtocolViolation(e)));
                }
            }
        }
    }

    fn unsubscribe(
        &mut self,
        subscription: Id,
        sink: u64,
        reply: Option<oneshot::Sender<Result<(), UnsubscribeError>>>,
    ) {
        let Some(entry) = self.subscriptions.get_mut(&subscription) else {
            if let Some(reply) = reply {
                let _ = reply.send(Err(UnsubscribeError::NoSuchSubscription));
            }
            return;
        };
        let before = entry.sinks.len();
        entry.sinks.retain(|(s, _)| *s != sink);
        if entry.sinks.len() == before {
            if let Some(reply) = reply {
                let _ = reply.send(Err(UnsubscribeError::NoSuchSubscription));
            }
            return;
        }
        if !entry.sinks.is_empty() {
            // Other local subscribers share the router's subscription: keep it.
            if let Some(reply) = reply {
                let _ = reply.send(Ok(()));
            }
            return;
        }
        let queued = self.queue_request(|request| {
            Message::Unsubscribe(Unsubscribe {
                request,
                subscription,
            })
        });
        match queued {
            Ok(id) => {
                self.unsubscribing.insert(id, (subscription, reply));
            }
            Err(e) => {
                if let Some(reply) = reply {
                    let _ = reply.send(Err(UnsubscribeError::ProtocolViolation(e)));
                }
            }
        }
    }

    fn on_control(&mut self, ctl: Control) {
        match ctl {
            Control::Cancel { key, mode, forget } => {
                if !self.call_keys.contains_key(&key) {
                    // The call may still be in the command channel: take what is queued there
                    // first (it was sent before this cancel).
                    while self.leaving.is_none()
                        && let Ok(cmd) = self.cmd_rx.try_recv()
                    {
                        self.on_command(cmd);
                    }
                }
                self.cancel(key, mode, forget);
            }
            Control::Reply {
                request,
                message,
                last,
            } => self.reply(request, message, last),
            Control::InvocationTimeout { request } => {
                if let Some(entry) = self.invocations.remove(&request) {
                    entry.interrupt.cancel();
                    entry.done.cancel();
                    let msg =
                        error_message(request, ApplicationError::new(ErrorUri::Timeout.as_str()));
                    let _ = self.queue(&msg);
                }
            }
            Control::Unregister { registration } => self.unregister(registration, None),
            Control::Unsubscribe { subscription, sink } => {
                self.unsubscribe(subscription, sink, None);
            }
        }
    }

    fn cancel(&mut self, key: u64, mode: CancelMode, forget: bool) {
        let Some(&request) = self.call_keys.get(&key) else {
            return;
        };
        if self.details.dealer_has(Feature::CallCanceling) {
            let cancel = Message::Cancel(Cancel {
                request,
                options: CancelOptions::default().with("mode", mode.as_str()),
            });
            let _ = self.queue(&cancel);
            if !forget {
                // The router answers: ERROR canceled, or (kill) whatever the callee answers.
                return;
            }
        }
        self.call_keys.remove(&key);
        if let Some(call) = self.calls.remove(&request) {
            call.sink.finish(Err(CallError::Canceled));
        }
    }

    fn reply(&mut self, request: Id, message: Message, last: bool) {
        if self.leaving.is_some() {
            // Leaving: the router no longer expects answers.
            self.finish_invocation(request);
            return;
        }
        if !self.invocations.contains_key(&request) {
            // Interrupted with killnowait, timed out, or the session moved on: nobody waits.
            return;
        }
        if let Err(e) = self.queue(&message) {
            tracing::warn!("cannot send the reply to invocation {request}: {e}");
            let uri = if e.contains("limit") {
                ErrorUri::PayloadSizeExceeded.as_str()
            } else {
                crate::error::INVALID_PAYLOAD
            };
            let _ = self.queue(&error_message(
                request,
                ApplicationError::new(uri).with_arg(e),
            ));
            self.finish_invocation(request);
            return;
        }
        if last {
            self.finish_invocation(request);
        }
    }

    fn finish_invocation(&mut self, request: Id) {
        if let Some(entry) = self.invocations.remove(&request) {
            entry.done.cancel();
        }
    }

    // -----------------------------------------------------------------------------------------
    // Incoming
    // -----------------------------------------------------------------------------------------

    fn on_frame(&mut self, frame: &Bytes) {
        if self.ending.is_some() {
            return;
        }
        let msg = match decode(self.format, frame) {
            Ok(msg) => msg,
            Err(e) => return self.protocol_violation(format!("undecodable message: {e}")),
        };
        if self.leaving.is_some() {
            // After our GOODBYE, only the router's GOODBYE (or ABORT) matters (spec §3.1, 14).
            match msg {
                Message::Goodbye(g) => {
                    let message = g.details.message().map(ToOwned::to_owned);
                    self.end(Gone::Closed, CloseKind::Left, g.reason, message);
                }
                Message::Abort(a) => self.on_abort(a),
                _ => {}
            }
            return;
        }
        match msg {
            Message::Result(m) => self.on_result(m),
            Message::Error(m) => self.on_error(m),
            Message::Invocation(m) => self.on_invocation(m),
            Message::Interrupt(m) => self.on_interrupt(&m),
            Message::Event(m) => self.on_event(m),
            Message::Published(m) => {
                if let Some(reply) = self.publishing.remove(&m.request) {
                    let _ = reply.send(Ok(Some(m.publication)));
                }
            }
            Message::Registered(m) => self.on_registered(m.request, m.registration),
            Message::Unregistered(m) => self.on_unregistered(m),
            Message::Subscribed(m) => self.on_subscribed(m.request, m.subscription),
            Message::Unsubscribed(m) => self.on_unsubscribed(m),
            Message::Goodbye(g) => {
                let bye = Message::Goodbye(Goodbye {
                    details: CloseDetails::default(),
                    reason: CloseReason::GoodbyeAndOut.as_str().to_owned(),
                });
                let _ = self.queue(&bye);
                let message = g.details.message().map(ToOwned::to_owned);
                self.end(Gone::Closed, CloseKind::Goodbye, g.reason, message);
            }
            Message::Abort(a) => self.on_abort(a),
            other => self.protocol_violation(format!(
                "{} is not allowed in an established session",
                other.message_type()
            )),
        }
    }

    fn on_abort(&mut self, a: Abort) {
        let message = a.details.message().map(ToOwned::to_owned);
        let why = message.clone().unwrap_or_else(|| a.reason.clone());
        self.end(
            Gone::ProtocolViolation(why),
            CloseKind::Aborted,
            a.reason,
            message,
        );
    }

    fn on_result(&mut self, m: switchboard_proto::message::CallResult) {
        let progress = m.details.progress() == Some(true);
        let Some(call) = self.calls.get(&m.request) else {
            return;
        };
        if progress && matches!(call.sink, CallSink::Once(_)) {
            // Progress nobody asked for: wait for the final result.
            return;
        }
        let result = m
            .payload
            .to_values()
            .map(|v| CallResult {
                args: v.args,
                kwargs: v.kwargs,
                details: m.details,
            })
            .map_err(|e| CallError::Decode(ConvertError::new(e)));
        if progress && result.is_ok() {
            if let CallSink::Progressive(tx) = &call.sink {
                let _ = tx.send(result);
            }
            return;
        }
        if let Some(call) = self.calls.remove(&m.request) {
            self.call_keys.remove(&call.key);
            call.sink.finish(result);
        }
    }

    fn on_error(&mut self, m: ErrorMessage) {
        let values = m.payload.to_values().unwrap_or_default();
        let error = ApplicationError {
            uri: m.error,
            args: values.args,
            kwargs: values.kwargs,
        };
        match m.request_type {
            MessageType::Call => {
                if let Some(call) = self.calls.remove(&m.request) {
                    self.call_keys.remove(&call.key);
                    let e = CallError::from_wire(&call.procedure, error);
                    call.sink.finish(Err(e));
                }
            }
            MessageType::Register => {
                if let Some(r) = self.registering.remove(&m.request) {
                    let _ = r
                        .reply
                        .send(Err(RegisterError::from_wire(&r.procedure, error)));
                }
            }
            MessageType::Unregister => {
                if let Some((_, Some(reply))) = self.unregistering.remove(&m.request) {
                    let _ = reply.send(Err(UnregisterError::from_wire(error)));
                }
            }
            MessageType::Subscribe => {
                if let Some(s) = self.subscribing.remove(&m.request) {
                    let _ = s.reply.send(Err(SubscribeError::from_wire(error)));
                }
            }
            MessageType::Unsubscribe => {
                if let Some((_, Some(reply))) = self.unsubscribing.remove(&m.request) {
                    let _ = reply.send(Err(UnsubscribeError::from_wire(error)));
                }
            }
            MessageType::Publish => {
                if let Some(reply) = self.publishing.remove(&m.request) {
                    let _ = reply.send(Err(PublishError::from_wire(error)));
                }
            }
            other => self.protocol_violation(format!("ERROR for a {other} request")),
        }
    }

    fn on_registered(&mut self, request: Id, registration: Id) {
        if let Some(r) = self.registering.remove(&request) {
            self.registrations.insert(
                registration,
                RegistrationEntry {
                    procedure: r.procedure,
                    target: r.target,
                },
            );
            if r.reply.send(Ok(registration)).is_err() {
                // The caller gave up waiting: do not keep a registration nobody serves.
                self.unregister(registration, None);
            }
        }
    }

    fn on_unregistered(&mut self, m: switchboard_proto::message::Unregistered) {
        match m.request {
            Some(request) => {
                if let Some((registration, reply)) = self.unregistering.remove(&request) {
                    self.registrations.remove(&registration);
                    if let Some(reply) = reply {
                        let _ = reply.send(Ok(()));
                    }
                }
            }
            None => {
                // Revocation by the router: the registration is gone; streams end.
                if let Some(registration) = m.details.as_ref().and_then(|d| d.registration())
                    && let Some(entry) = self.registrations.remove(&registration)
                {
                    let reason = m.details.as_ref().and_then(|d| d.reason()).unwrap_or("");
                    tracing::info!(procedure = %entry.procedure, %reason, "registration revoked by the router");
                }
            }
        }
    }

    fn on_subscribed(&mut self, request: Id, subscription: Id) {
        if let Some(s) = self.subscribing.remove(&request) {
            let entry =
                self.subscriptions
                    .entry(subscription)
                    .or_insert_with(|| SubscriptionEntry {
                        topic: s.topic,
                        sinks: Vec::new(),
                    });
            entry.sinks.push((s.sink, s.events));
            if s.reply.send(Ok(subscription)).is_err() {
                self.unsubscribe(subscription, s.sink, None);
            }
        }
    }

    fn on_unsubscribed(&mut self, m: switchboard_proto::message::Unsubscribed) {
        match m.request {
            Some(request) => {
                if let Some((subscription, reply)) = self.unsubscribing.remove(&request) {
                    if self
                        .subscriptions
                        .get(&subscription)
                        .is_some_and(|s| s.sinks.is_empty())
                    {
                        self.subscriptions.remove(&subscription);
                    }
                    if let Some(reply) = reply {
                        let _ = reply.send(Ok(()));
                    }
                }
            }
            None => {
                if let Some(subscription) = m.details.as_ref().and_then(|d| d.subscription())
                    && let Some(entry) = self.subscriptions.remove(&subscription)
                {
                    let reason = m.details.as_ref().and_then(|d| d.reason()).unwrap_or("");
                    tracing::info!(topic = %entry.topic, %reason, "subscription revoked by the router");
                }
            }
        }
    }

    fn on_invocation(&mut self, m: switchboard_proto::message::Invocation) {
        let Some(reg) = self.registrations.get(&m.registration) else {
            let msg = error_message(
                m.request,
                ApplicationError::new(ErrorUri::NoSuchRegistration.as_str()),
            );
            let _ = self.queue(&msg);
            return;
        };
        let values = match m.payload.to_values() {
            Ok(v) => v,
            Err(e) => {
                let msg = error_message(m.request, ApplicationError::invalid_argument(e));
                let _ = self.queue(&msg);
                return;
            }
        };
        let interrupt = CancellationToken::new();
        let done = CancellationToken::new();
        let procedure = m.details.procedure().unwrap_or(&reg.procedure).to_owned();
        let invocation = Invocation {
            request: m.request,
            registration: m.registration,
            procedure,
            args: values.args,
            kwargs: values.kwargs,
            details: m.details,
            interrupt: interrupt.clone(),
            ctl: self.ctl_tx.clone(),
        };
        let timeout = invocation.timeout();
        match &reg.target {
            InvocationTarget::Handler(handler) => {
                tokio::spawn(run_handler(
                    handler.clone(),
                    invocation,
                    self.ctl_tx.clone(),
                ));
            }
            InvocationTarget::Stream(tx) => {
                // If the stream is gone, the request is dropped here and answers with an
                // error through the control channel.
                let _ = tx.send(InvocationRequest::new(invocation));
            }
        }
        if let Some(timeout) = timeout {
            let (ctl, done, request) = (self.ctl_tx.clone(), done.clone(), m.request);
            tokio::spawn(async move {
                tokio::select! {
                    () = tokio::time::sleep(timeout) => {
                        let _ = ctl.send(Control::InvocationTimeout { request });
                    }
                    () = done.cancelled() => {}
                }
            });
        }
        self.invocations
            .insert(m.request, InvocationEntry { interrupt, done });
    }

    fn on_interrupt(&mut self, m: &switchboard_proto::message::Interrupt) {
        let mode = m
            .options
            .mode()
            .and_then(CancelMode::parse)
            .unwrap_or(CancelMode::KillNoWait);
        if mode == CancelMode::Kill {
            // The router waits for our answer (the handler's, or wamp.error.canceled).
            if let Some(entry) = self.invocations.get(&m.request) {
                entry.interrupt.cancel();
            }
        } else if let Some(entry) = self.invocations.remove(&m.request) {
            // No answer expected; anything the handler still sends is dropped.
            entry.interrupt.cancel();
            entry.done.cancel();
        }
    }

    fn on_event(&mut self, m: switchboard_proto::message::Event) {
        let Some(entry) = self.subscriptions.get_mut(&m.subscription) else {
            return;
        };
        let values = match m.payload.to_values() {
            Ok(v) => v,
            Err(e) => {
                tracing::warn!(topic = %entry.topic, "dropping an event with an undecodable payload: {e}");
                return;
            }
        };
        let event = Event {
            subscription: m.subscription,
            publication: m.publication,
            topic: m.details.topic().unwrap_or(&entry.topic).to_owned(),
            args: values.args,
            kwargs: values.kwargs,
            details: m.details,
        };
        entry.sinks.retain(|(_, tx)| !tx.is_closed());
        if let Some(((_, last), rest)) = entry.sinks.split_last() {
            for (_, tx) in rest {
                let _ = tx.send(event.clone());
            }
            let _ = last.send(event);
        }
    }
}

/// Waits until `deadline`, or forever without one.
async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

/// Answers a command that arrived after the session ended.
fn fail_command(cmd: Command, gone: &Gone) {
    match cmd {
        Command::Call { sink, .. } => sink.finish(Err(gone.clone().into())),
        Command::Register { reply, .. } => {
            let _ = reply.send(Err(gone.clone().into()));
        }
        Command::Unregister { reply, .. } => {
            if let Some(reply) = reply {
                let _ = reply.send(Err(gone.clone().into()));
            }
        }
        Command::Subscribe { reply, .. } => {
            let _ = reply.send(Err(gone.clone().into()));
        }
        Command::Unsubscribe { reply, .. } => {
            if let Some(reply) = reply {
                let _ = reply.send(Err(gone.clone().into()));
            }
        }
        Command::Publish { reply, .. } => {
            if let Some(reply) = reply {
                let _ = reply.send(Err(gone.clone().into()));
            }
        }
        Command::Leave { reply } => {
            let _ = reply.send(Err(gone.clone().into()));
        }
    }
}

/// Runs a procedure handler for one invocation and sends its answer. A panic becomes
/// `wamp.error.runtime_error`; an interrupt drops the handler's future and answers
/// `wamp.error.canceled` (dropped by the driver unless the mode was `kill`).
async fn run_handler(
    handler: HandlerFn,
    invocation: Invocation,
    ctl: mpsc::UnboundedSender<Control>,
) {
    let request = invocation.request;
    let interrupt = invocation.interrupt.clone();
    let result = match std::panic::catch_unwind(AssertUnwindSafe(|| handler(invocation))) {
        Ok(fut) => {
            tokio::select! {
                r = AssertUnwindSafe(fut).catch_unwind() => match r {
                    Ok(r) => r,
                    Err(panic) => Err(ApplicationError::runtime_error(panic_message(panic.as_ref()))),
                },
                () = interrupt.cancelled() => Err(ApplicationError::canceled()),
            }
        }
        Err(panic) => Err(ApplicationError::runtime_error(panic_message(
            panic.as_ref(),
        ))),
    };
    let _ = ctl.send(Control::Reply {
        request,
        message: reply_message(request, result),
        last: true,
    });
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    let what = panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".to_owned());
    format!("the procedure handler panicked: {what}")
}
