//! One connection's session state machine (wamp-spec §3): HELLO/WELCOME/ABORT/GOODBYE, then
//! every message of an established session, dispatched to the broker and dealer.
//!
//! The owner of the connection feeds it frames ([`Session::handle_frame`]) and tells it when the
//! transport is gone ([`Session::transport_closed`]; also done on drop). Replies go to the
//! connection's [`Outbox`].
//!
//! The handlers live in parts: `join` (HELLO, authentication, WELCOME), `access`
//! (authorization and limits), `pubsub` and `rpc`; this file holds the state machine itself.

mod access;
mod join;
mod pubsub;
mod rpc;

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;
use std::sync::atomic::Ordering;

use bytes::Bytes;
use switchboard_proto::ids::RequestIdChecker;
use switchboard_proto::message::*;
use switchboard_proto::names::{CloseReason, ErrorUri, Feature, MessageType, Role};
use switchboard_proto::options::{CloseDetails, WelcomeDetails};
use switchboard_proto::uri::{MatchPolicy, Pattern, Uri};
use switchboard_proto::{Dict, Format, Id, Payload, Value, decode, encode};

use crate::auth::{
    AuthDecision, AuthOutcome, DeferredCall, DeferredError, DeferredReply, HelloRequest,
    PendingAuth, PendingDeferred,
};
use crate::authz::{Action, Authorization, Check};
use crate::broker::Publication;
use crate::dealer::{self, InvokePolicy, RegisterError, RegistrationOptions};
use crate::features;
use crate::limits::LIMIT_EXCEEDED;
use crate::meta;
use crate::outbox::Outbox;
use crate::peer::{ClientRoles, Identity, Peer};
use crate::realm::Realm;
use crate::router::Router;

/// What the connection should do after a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[must_use]
pub enum Flow {
    /// Keep reading.
    Continue,
    /// Stop reading; close once the outbox is flushed.
    Close,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Waiting for HELLO (also after a completed GOODBYE handshake).
    Fresh,
    /// CHALLENGE sent: only AUTHENTICATE (or ABORT) may come.
    Challenging,
    /// The authenticator asked for a WAMP call: only ABORT may come until
    /// [`Session::resume_auth`].
    Deferred,
    Established,
    Closed,
}

/// An established session's membership.
#[derive(Debug)]
struct Joined {
    peer: Arc<Peer>,
    realm: Arc<Realm>,
    subscriptions: HashSet<Id>,
    registrations: HashSet<Id>,
    request_ids: RequestIdChecker,
    /// The session started a progressive call invocation at some point: a CALL with an old
    /// request id may be a late chunk of a finished one and is discarded, not a violation.
    streamed_calls: bool,
}

/// A HELLO that got a CHALLENGE, waiting for AUTHENTICATE.
#[derive(Debug)]
struct Authenticating {
    realm: Arc<Realm>,
    roles: ClientRoles,
    /// The session id WELCOME will carry.
    session: Id,
    pending: Box<dyn PendingAuth>,
}

/// A HELLO (or AUTHENTICATE) whose answer waits for a deferred call.
#[derive(Debug)]
struct Deferring {
    realm: Arc<Realm>,
    roles: ClientRoles,
    session: Id,
    /// Until the owner takes it.
    call: Option<DeferredCall>,
    pending: Box<dyn PendingDeferred>,
}

/// A message waiting for the dynamic authorizer's answer.
#[derive(Debug)]
struct Parked {
    msg: Message,
    action: Action,
    uri: String,
    /// Until the owner takes it.
    call: Option<DeferredCall>,
}

/// The name every trusted session has as its `authrole`, `authmethod` and default `authid`.
pub const TRUSTED: &str = "trusted";

/// The session state machine of one connection.
pub struct Session {
    router: Arc<Router>,
    outbox: Arc<dyn Outbox>,
    format: Format,
    max_message_size: usize,
    state: State,
    joined: Option<Joined>,
    authenticating: Option<Authenticating>,
    deferred: Option<Deferring>,
    /// A message waiting for the dynamic authorizer; later messages wait in `backlog`.
    parked: Option<Parked>,
    backlog: VecDeque<Message>,
    /// The authorizer's decision for the message being dispatched.
    decided: Option<(Action, String, Authorization)>,
    trusted: bool,
    transport: Dict,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session")
            .field("format", &self.format)
            .field("state", &self.state)
            .field("joined", &self.joined)
            .finish_non_exhaustive()
    }
}

impl Session {
    pub(crate) fn new(
        router: Arc<Router>,
        outbox: Arc<dyn Outbox>,
        format: Format,
        max_message_size: usize,
    ) -> Session {
        Session {
            router,
            outbox,
            format,
            max_message_size,
            state: State::Fresh,
            joined: None,
            authenticating: None,
            deferred: None,
            parked: None,
            backlog: VecDeque::new(),
            decided: None,
            trusted: false,
            transport: Dict::new(),
        }
    }

    /// Transport facts shown by the session meta API (`transport` in `SessionDetails`).
    pub fn set_transport_details(&mut self, details: Dict) {
        self.transport = details;
    }

    /// Makes this a trusted session: it joins any realm without authentication (authid from
    /// HELLO or `trusted`, authrole and authmethod `trusted`, authprovider `router`) and every
    /// action is authorized. Only for connections that never leave the process (the router's
    /// own in-process sessions); never for a network peer. Call before HELLO.
    pub fn set_trusted(&mut self) {
        self.trusted = true;
    }

    /// The session id, once established.
    pub fn id(&self) -> Option<Id> {
        self.joined.as_ref().map(|j| j.peer.id())
    }

    /// The shared handle, once established.
    pub fn peer(&self) -> Option<&Arc<Peer>> {
        self.joined.as_ref().map(|j| &j.peer)
    }

    /// Handles one received frame.
    pub fn handle_frame(&mut self, frame: &Bytes) -> Flow {
        if self.state == State::Closed {
            return Flow::Close;
        }
        match decode(self.format, frame) {
            Ok(msg) => self.handle(msg),
            Err(e) => self.protocol_violation(&e.to_string()),
        }
    }

    /// Handles one received message.
    pub fn handle(&mut self, msg: Message) -> Flow {
        match self.state {
            State::Closed => Flow::Close,
            State::Fresh => match msg {
                Message::Hello(hello) => self.hello(hello),
                // A peer may abort before joining; nothing to answer.
                Message::Abort(_) => self.close(),
                other => self.protocol_violation(&format!(
                    "{} before the session was established",
                    other.message_type()
                )),
            },
            State::Challenging => match msg {
                Message::Authenticate(m) => self.authenticate(m),
                Message::Abort(_) => self.close(),
                other => self.protocol_violation(&format!(
                    "{} while the router waits for AUTHENTICATE",
                    other.message_type()
                )),
            },
            State::Deferred => match msg {
                Message::Abort(_) => self.close(),
                other => self.protocol_violation(&format!(
                    "{} while the router waits for the authenticator",
                    other.message_type()
                )),
            },
            State::Established if self.parked.is_some() => {
                self.backlog.push_back(msg);
                Flow::Continue
            }
            State::Established => self.established(msg),
        }
    }

    /// The transport is gone: leave the realm, clean up. Idempotent.
    pub fn transport_closed(&mut self) {
        self.leave();
        self.state = State::Closed;
    }

    fn reply(&self, msg: &Message) {
        match encode(msg, self.format) {
            Ok(frame) => {
                if self.outbox.push(frame).is_err() {
                    self.outbox.kill(crate::outbox::KillReason::SlowConsumer);
                }
            }
            Err(e) => tracing::warn!("cannot encode a reply: {e}"),
        }
    }

    fn abort(&mut self, reason: &str, message: &str) -> Flow {
        self.reply(&Message::Abort(Abort {
            details: CloseDetails::default().with("message", message),
            reason: reason.to_owned(),
            payload: Payload::empty(),
        }));
        self.close()
    }

    fn close(&mut self) -> Flow {
        self.authenticating = None;
        self.deferred = None;
        self.parked = None;
        self.backlog.clear();
        self.leave();
        self.state = State::Closed;
        self.outbox.close();
        Flow::Close
    }

    fn protocol_violation(&mut self, why: &str) -> Flow {
        tracing::info!(session = ?self.id(), "protocol violation: {why}");
        self.router
            .stats()
            .protocol_violations
            .fetch_add(1, Ordering::Relaxed);
        self.abort(ErrorUri::ProtocolViolation.as_str(), why)
    }

    fn established(&mut self, msg: Message) -> Flow {
        let Some(joined) = self.joined.as_mut() else {
            return self.protocol_violation("no session");
        };
        if let Some(role) = passthru_role(&msg)
            && !joined.peer.roles.has(role, Feature::PayloadPassthruMode)
        {
            return self.protocol_violation(&format!(
                "{} uses payload passthru mode (ppt_scheme), which the {role} did not announce",
                msg.message_type()
            ));
        }
        if let Message::Call(call) = &msg {
            let streaming = joined
                .peer
                .calls
                .lock()
                .get(&call.request)
                .map(|r| r.streaming_input);
            match streaming {
                Some(true) => {
                    let Message::Call(call) = msg else {
                        return Flow::Continue;
                    };
                    dealer::continue_call(&self.router, &joined.realm, &joined.peer, call);
                    return Flow::Continue;
                }
                Some(false) => {
                    return self.protocol_violation(&format!(
                        "CALL request id {} is already in use",
                        call.request
                    ));
                }
                None if joined.streamed_calls && call.request < joined.request_ids.expected() => {
                    // A late chunk of a progressive call that already ended (wamp-spec §5.2).
                    return Flow::Continue;
                }
                None => {
                    if call.options.progress() == Some(true) {
                        if !joined
                            .peer
                            .roles
                            .has(Role::Caller, Feature::ProgressiveCallInvocations)
                        {
                            return self.protocol_violation("CALL with progress, but the caller did not announce progressive_call_invocations");
                        }
                        joined.streamed_calls = true;
                    }
                }
            }
        }
        if let Some(id) = msg.new_request_id()
            && let Err(e) = joined.request_ids.check(id)
        {
            return self.protocol_violation(&e.to_string());
        }
        if !self.trusted
            && let Some((action, uri)) = authz_target(&msg)
        {
            let now = self.router.clock().now();
            let check =
                joined
                    .realm
                    .security
                    .authorizer
                    .check(&joined.peer.identity, action, uri, now);
            let uri = uri.to_owned();
            match check {
                Check::Ask(call) => {
                    self.parked = Some(Parked {
                        msg,
                        action,
                        uri,
                        call: Some(call),
                    });
                    return Flow::Continue;
                }
                Check::Decided(decision) => {
                    self.decided = Some((action, uri, decision));
                    let flow = self.dispatch(msg);
                    self.decided = None;
                    return flow;
                }
            }
        }
        self.dispatch(msg)
    }

    /// Handles a message of an established session whose checks are done.
    fn dispatch(&mut self, msg: Message) -> Flow {
        let Some(joined) = self.joined.as_ref() else {
            return self.protocol_violation("no session");
        };
        match msg {
            Message::Goodbye(_) => self.goodbye(),
            Message::Abort(_) => self.close(),
            Message::Publish(m) => {
                self.publish(m);
                Flow::Continue
            }
            Message::Subscribe(m) => {
                self.subscribe(m);
                Flow::Continue
            }
            Message::Unsubscribe(m) => {
                self.unsubscribe(m);
                Flow::Continue
            }
            Message::Register(m) => {
                self.register(m);
                Flow::Continue
            }
            Message::Unregister(m) => {
                self.unregister(m);
                Flow::Continue
            }
            Message::Call(m) => self.call(m),
            Message::Cancel(m) => {
                dealer::cancel(&self.router, &joined.realm, &joined.peer, m);
                Flow::Continue
            }
            Message::Yield(m) => match dealer::yield_(&self.router, &joined.realm, &joined.peer, m)
            {
                Ok(()) => Flow::Continue,
                Err(why) => self.protocol_violation(&why),
            },
            Message::Error(m) if m.request_type == MessageType::Invocation => {
                match dealer::invocation_error(&self.router, &joined.realm, &joined.peer, m) {
                    Ok(()) => Flow::Continue,
                    Err(why) => self.protocol_violation(&why),
                }
            }
            // Acknowledged event delivery is not offered: nothing to do with an ack.
            Message::EventReceived(_) => Flow::Continue,
            other => self.protocol_violation(&format!(
                "{} is not a message a client may send in an established session",
                other.message_type()
            )),
        }
    }

    fn goodbye(&mut self) -> Flow {
        let we_started = self
            .joined
            .as_ref()
            .is_some_and(|j| j.peer.goodbye_sent.load(Ordering::Acquire));
        if we_started {
            // The peer's GOODBYE answers ours: the session is over.
            return self.close();
        }
        self.reply(&Message::Goodbye(Goodbye {
            details: CloseDetails::default(),
            reason: CloseReason::GoodbyeAndOut.as_str().into(),
        }));
        self.leave();
        // The transport may carry a new session: wait for another HELLO.
        self.state = State::Fresh;
        Flow::Continue
    }

    fn error(&self, request_type: MessageType, request: Id, error: ErrorUri, message: String) {
        self.reply(&Message::Error(ErrorMessage {
            request_type,
            request,
            details: Default::default(),
            error: error.as_str().to_owned(),
            payload: Payload::args(vec![Value::from(message)]),
        }));
    }

    /// Leaves the realm: nothing of this session remains, and its calls are answered.
    fn leave(&mut self) {
        let Some(joined) = self.joined.take() else {
            return;
        };
        let (peer, realm, router) = (&joined.peer, &joined.realm, &self.router);
        peer.gone.store(true, Ordering::Release);
        let quiet = peer.quiet_leave.load(Ordering::Acquire);
        for id in &joined.subscriptions {
            if let Ok(deleted) = realm.broker.unsubscribe(peer.id(), *id)
                && !quiet
            {
                meta::subscription_removed(router, realm, peer.id(), *id, deleted);
            }
        }
        for id in &joined.registrations {
            if let Ok(deleted) = realm.dealer.unregister(peer.id(), *id)
                && !quiet
            {
                meta::registration_removed(router, realm, peer.id(), *id, deleted);
            }
        }
        dealer::callee_left(router, realm, peer);
        dealer::caller_left(router, realm, peer);
        realm.leave(peer.id());
        if !quiet {
            meta::publish_testaments(router, realm, peer);
            let who = &peer.identity;
            meta::event(
                router,
                realm,
                "wamp.session.on_leave",
                vec![
                    who.session.into(),
                    (&*who.authid).into(),
                    (&*who.authrole).into(),
                ],
            );
        }
        self.router.remove_session(peer.id());
        tracing::debug!(session = %peer.id(), realm = %joined.realm.name, "session left");
    }
}

/// The action and URI a message needs authorization for, if any (PUBLISH and REGISTER under
/// `wamp.` are refused before asking).
fn authz_target(msg: &Message) -> Option<(Action, &str)> {
    match msg {
        Message::Publish(m) if !m.topic.starts_with("wamp.") => Some((Action::Publish, &m.topic)),
        Message::Subscribe(m) => Some((Action::Subscribe, &m.topic)),
        Message::Register(m) if !m.procedure.starts_with("wamp.") => {
            Some((Action::Register, &m.procedure))
        }
        Message::Call(m) => Some((Action::Call, &m.procedure)),
        _ => None,
    }
}

/// The role that must have announced `payload_passthru_mode` for a message carrying
/// `ppt_scheme` (wamp-spec §5.22), if it carries one.
fn passthru_role(msg: &Message) -> Option<Role> {
    let (dict, role) = match msg {
        Message::Call(m) => (&m.options.0, Role::Caller),
        Message::Publish(m) => (&m.options.0, Role::Publisher),
        Message::Yield(m) => (&m.options.0, Role::Callee),
        Message::Error(m) => (&m.details.0, Role::Callee),
        _ => return None,
    };
    dealer::is_passthru(dict).then_some(role)
}

impl Drop for Session {
    fn drop(&mut self) {
        self.leave();
    }
}
