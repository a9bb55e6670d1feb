//! One connection's session state machine (wamp-spec §3): HELLO/WELCOME/ABORT/GOODBYE, then
//! every message of an established session, dispatched to the broker and dealer.
//!
//! The owner of the connection feeds it frames ([`Session::handle_frame`]) and tells it when the
//! transport is gone ([`Session::transport_closed`]; also done on drop). Replies go to the
//! connection's [`Outbox`].

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

    /// The call a deferred authentication waits for, once: the owner must make it and hand
    /// the outcome to [`Session::resume_auth`]. `None` when nothing (new) waits.
    pub fn take_deferred_auth(&mut self) -> Option<DeferredCall> {
        self.deferred.as_mut().and_then(|d| d.call.take())
    }

    /// The outcome of the call from [`Session::take_deferred_auth`]: the handshake goes on
    /// (WELCOME, ABORT, or another CHALLENGE or deferred call). Ignored when the session no
    /// longer waits for it (e.g. the client aborted).
    pub fn resume_auth(&mut self, result: Result<DeferredReply, DeferredError>) -> Flow {
        if self.state != State::Deferred {
            return if self.state == State::Closed {
                Flow::Close
            } else {
                Flow::Continue
            };
        }
        let Some(Deferring {
            realm,
            roles,
            session,
            pending,
            ..
        }) = self.deferred.take()
        else {
            return self.protocol_violation("no deferred authentication");
        };
        let decision = pending.resume(result);
        self.decide(decision, realm, roles, session)
    }

    /// The call the dynamic authorizer needs before a parked message can go on, once: the
    /// owner must make it and hand the outcome to [`Session::resume_authz`]. While a message is
    /// parked the owner should feed no more frames (those it does feed wait behind it).
    pub fn take_deferred_authz(&mut self) -> Option<DeferredCall> {
        self.parked.as_mut().and_then(|p| p.call.take())
    }

    /// Whether a message waits for the dynamic authorizer.
    pub fn is_parked(&self) -> bool {
        self.parked.is_some()
    }

    /// The outcome of the call from [`Session::take_deferred_authz`]: the parked message is
    /// executed or refused (ERROR `wamp.error.not_authorized`, or
    /// `wamp.error.authorization_failed` when the call failed; nothing for an unacknowledged
    /// PUBLISH), then the messages that waited behind it are handled (one of them may park
    /// again). Ignored when nothing is parked.
    pub fn resume_authz(&mut self, result: Result<DeferredReply, DeferredError>) -> Flow {
        let Some(Parked {
            msg, action, uri, ..
        }) = self.parked.take()
        else {
            return if self.state == State::Closed {
                Flow::Close
            } else {
                Flow::Continue
            };
        };
        if self.state != State::Established {
            self.backlog.clear();
            return if self.state == State::Closed {
                Flow::Close
            } else {
                Flow::Continue
            };
        }
        let Some(joined) = self.joined.as_ref() else {
            return self.protocol_violation("no session");
        };
        let now = self.router.clock().now();
        let answer = joined.realm.security.authorizer.answer(
            &joined.peer.identity,
            action,
            &uri,
            now,
            result,
        );
        match answer {
            Ok(decision) => {
                self.decided = Some((action, uri, decision));
                let flow = self.dispatch(msg);
                self.decided = None;
                if flow == Flow::Close {
                    return Flow::Close;
                }
            }
            Err(why) => {
                tracing::info!(session = ?self.id(), "authorization of {action} {uri:?} failed: {why}");
                self.authorization_failed(&msg, why);
            }
        }
        while self.parked.is_none()
            && let Some(msg) = self.backlog.pop_front()
        {
            if self.handle(msg) == Flow::Close {
                return Flow::Close;
            }
        }
        Flow::Continue
    }

    /// ERROR `wamp.error.authorization_failed` for a parked message.
    fn authorization_failed(&self, msg: &Message, why: String) {
        let (request_type, request) = match msg {
            Message::Call(m) => (MessageType::Call, m.request),
            Message::Register(m) => (MessageType::Register, m.request),
            Message::Subscribe(m) => (MessageType::Subscribe, m.request),
            Message::Publish(m) if m.options.acknowledge() == Some(true) => {
                (MessageType::Publish, m.request)
            }
            _ => return,
        };
        self.error(request_type, request, ErrorUri::AuthorizationFailed, why);
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

    fn hello(&mut self, hello: Hello) -> Flow {
        if self.router.is_shutting_down() {
            return self.abort(
                CloseReason::SystemShutdown.as_str(),
                "the router is shutting down",
            );
        }
        if Uri::parse(&hello.realm, self.router.config.uri_rules).is_err() {
            return self.abort(
                ErrorUri::InvalidUri.as_str(),
                &format!("invalid realm URI {:?}", hello.realm),
            );
        }
        let roles = hello
            .details
            .roles()
            .map(ClientRoles::from_hello)
            .unwrap_or_default();
        if roles.is_empty() {
            return self.protocol_violation("HELLO.Details.roles must announce at least one role");
        }
        let Some(realm) = self.router.realm_for_hello(&hello.realm) else {
            return self.abort(
                ErrorUri::NoSuchRealm.as_str(),
                &format!("no realm {:?} on this router", hello.realm),
            );
        };
        let session = self.router.fresh_session_id();
        let no_extra = Dict::new();
        let authextra = hello.details.authextra().unwrap_or(&no_extra);
        let request = HelloRequest::new(
            &hello.realm,
            session,
            &hello.details,
            authextra,
            &self.transport,
            self.router.clock().unix_millis(),
        );
        let decision = if self.trusted {
            AuthDecision::Welcome(AuthOutcome {
                authid: hello.details.authid().unwrap_or(TRUSTED).to_owned(),
                authrole: TRUSTED.to_owned(),
                authmethod: TRUSTED.to_owned(),
                authprovider: "router".to_owned(),
                authextra: Dict::new(),
            })
        } else {
            realm.security.authenticator.hello(&request)
        };
        self.decide(decision, realm, roles, session)
    }

    /// AUTHENTICATE answering our CHALLENGE.
    fn authenticate(&mut self, m: Authenticate) -> Flow {
        let Some(auth) = self.authenticating.take() else {
            return self.protocol_violation("AUTHENTICATE without a CHALLENGE");
        };
        let Authenticating {
            realm,
            roles,
            session,
            pending,
        } = auth;
        let decision = pending.authenticate(&m);
        self.decide(decision, realm, roles, session)
    }

    /// Acts on an authenticator's decision: WELCOME, CHALLENGE or ABORT.
    fn decide(
        &mut self,
        decision: AuthDecision,
        realm: Arc<Realm>,
        roles: ClientRoles,
        session: Id,
    ) -> Flow {
        match decision {
            AuthDecision::Welcome(outcome) => self.welcome(realm, roles, session, outcome),
            AuthDecision::Challenge {
                method,
                extra,
                pending,
            } => {
                self.reply(&Message::Challenge(Challenge { method, extra }));
                self.authenticating = Some(Authenticating {
                    realm,
                    roles,
                    session,
                    pending,
                });
                self.state = State::Challenging;
                Flow::Continue
            }
            AuthDecision::Defer { call, pending } => {
                self.deferred = Some(Deferring {
                    realm,
                    roles,
                    session,
                    call: Some(call),
                    pending,
                });
                self.state = State::Deferred;
                Flow::Continue
            }
            AuthDecision::Abort(abort) => {
                tracing::info!(realm = %realm.name, reason = %abort.reason, "login refused: {}", abort.message);
                self.abort(&abort.reason, &abort.message)
            }
        }
    }

    /// Joins the realm as `outcome` says and sends WELCOME.
    fn welcome(
        &mut self,
        realm: Arc<Realm>,
        roles: ClientRoles,
        session: Id,
        outcome: AuthOutcome,
    ) -> Flow {
        if self.router.is_shutting_down() {
            return self.abort(
                CloseReason::SystemShutdown.as_str(),
                "the router is shutting down",
            );
        }
        if let Some(max) = self.router.config.session_limits.max_sessions_per_authid
            && !self.trusted
        {
            let open = realm
                .sessions()
                .iter()
                .filter(|p| *p.identity.authid == *outcome.authid)
                .count();
            if open >= max {
                tracing::info!(realm = %realm.name, authid = %outcome.authid, "login refused: max_sessions_per_authid ({max}) reached");
                return self.abort(
                    ErrorUri::NotAuthorized.as_str(),
                    &format!(
                        "authid {:?} already has {open} sessions on realm {:?} (the limit is {max})",
                        outcome.authid, realm.name
                    ),
                );
            }
        }
        let (format, max, outbox) = (self.format, self.max_message_size, Arc::clone(&self.outbox));
        let transport = self.transport.clone();
        let authid: Arc<str> = if outcome.authid.is_empty() {
            Arc::from(session.to_string())
        } else {
            Arc::from(outcome.authid.as_str())
        };
        let authrole: Arc<str> = Arc::from(outcome.authrole.as_str());
        let authmethod: Arc<str> = Arc::from(outcome.authmethod.as_str());
        let authprovider: Arc<str> = Arc::from(outcome.authprovider.as_str());
        let peer = self.router.add_session_as(session, |session| {
            let identity = Identity {
                session,
                realm: Arc::clone(&realm.name),
                authid: Arc::clone(&authid),
                authrole: Arc::clone(&authrole),
                authmethod: Arc::clone(&authmethod),
                authprovider: Arc::clone(&authprovider),
            };
            Arc::new(Peer::new(
                identity,
                format,
                max,
                roles,
                transport.clone(),
                Arc::clone(&outbox),
            ))
        });
        let who = &peer.identity;
        let mut details = WelcomeDetails::default()
            .with("roles", Value::Dict(features::router_roles()))
            .with("agent", self.router.config.agent.as_str())
            .with("authid", &*who.authid)
            .with("authrole", &*who.authrole)
            .with("authmethod", &*who.authmethod)
            .with("authprovider", &*who.authprovider);
        if !outcome.authextra.is_empty() {
            details = details.with("authextra", Value::Dict(outcome.authextra));
        }
        self.reply(&Message::Welcome(Welcome {
            session: peer.id(),
            details,
        }));
        realm.join(&peer);
        meta::event(
            &self.router,
            &realm,
            "wamp.session.on_join",
            vec![Value::Dict(meta::session_details(&peer))],
        );
        tracing::debug!(session = %peer.id(), realm = %realm.name, authid = %peer.identity.authid, authrole = %peer.identity.authrole, "session joined");
        let request_ids = if self.router.config.strict_request_ids {
            RequestIdChecker::strict()
        } else {
            RequestIdChecker::lenient()
        };
        self.joined = Some(Joined {
            peer,
            realm,
            subscriptions: HashSet::new(),
            registrations: HashSet::new(),
            request_ids,
            streamed_calls: false,
        });
        self.state = State::Established;
        Flow::Continue
    }

    /// What the realm's authorizer says about this session doing `action` on `uri`.
    fn authorize(&self, action: Action, uri: &str) -> Authorization {
        if self.trusted && self.joined.is_some() {
            return Authorization::Allow { disclose: false };
        }
        if let Some((a, u, decision)) = &self.decided
            && *a == action
            && u == uri
        {
            return *decision;
        }
        match self.joined.as_ref() {
            Some(j) => j
                .realm
                .security
                .authorizer
                .authorize(&j.peer.identity, action, uri),
            None => Authorization::Deny,
        }
    }

    /// ERROR `wamp.error.not_authorized` for `action` on `uri`.
    fn not_authorized(&self, request_type: MessageType, request: Id, action: Action, uri: &str) {
        self.error(
            request_type,
            request,
            ErrorUri::NotAuthorized,
            self.denial(action, uri),
        );
    }

    fn denial(&self, action: Action, uri: &str) -> String {
        let role = self
            .joined
            .as_ref()
            .map_or("", |j| &*j.peer.identity.authrole);
        format!("role {role:?} is not authorized to {action} {uri:?}")
    }

    /// ERROR [`LIMIT_EXCEEDED`] for a session holding `held` of `what` (the limit; `key` is the
    /// router config key that sets it).
    fn limit_exceeded(
        &self,
        request_type: MessageType,
        request: Id,
        what: &str,
        key: &str,
        held: usize,
    ) {
        self.reply(&Message::Error(ErrorMessage {
            request_type,
            request,
            details: Default::default(),
            error: LIMIT_EXCEEDED.to_owned(),
            payload: Payload::args(vec![Value::from(format!(
                "this session already has {held} {what}, the most allowed (limits.{key})"
            ))]),
        }));
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

    fn publish(&mut self, mut m: Publish) {
        let Some(joined) = self.joined.as_ref() else {
            return;
        };
        let ack = m.options.acknowledge() == Some(true);
        let refuse = |error: ErrorUri, message: String| {
            if ack {
                self.error(MessageType::Publish, m.request, error, message);
            }
        };
        if let Err(e) = Uri::parse(&m.topic, self.router.config.uri_rules) {
            return refuse(
                ErrorUri::InvalidUri,
                format!("invalid topic {:?}: {e}", m.topic),
            );
        }
        if m.topic.starts_with("wamp.") {
            return refuse(
                ErrorUri::NotAuthorized,
                "topics under wamp. are reserved for the router".into(),
            );
        }
        match self.authorize(Action::Publish, &m.topic) {
            Authorization::Deny => {
                return refuse(
                    ErrorUri::NotAuthorized,
                    self.denial(Action::Publish, &m.topic),
                );
            }
            Authorization::Allow { disclose: true } => {
                m.options.insert("disclose_me".into(), Value::Bool(true));
            }
            Authorization::Allow { disclose: false } => {}
        }
        let publication = joined.realm.broker.publish(
            &Publication::from_message(&m, &joined.peer),
            || self.router.timestamp(),
            self.router.config.slow_consumer,
            self.router.stats(),
        );
        if ack {
            self.reply(&Message::Published(Published {
                request: m.request,
                publication,
            }));
        }
    }

    fn subscribe(&mut self, m: Subscribe) {
        let policy = m
            .options
            .match_policy()
            .and_then(MatchPolicy::parse)
            .unwrap_or_default();
        let pattern = match Pattern::parse(&m.topic, policy, self.router.config.uri_rules) {
            Ok(p) => p,
            Err(e) => {
                return self.error(
                    MessageType::Subscribe,
                    m.request,
                    ErrorUri::InvalidUri,
                    format!(
                        "invalid topic {:?} for match {}: {e}",
                        m.topic,
                        policy.as_str()
                    ),
                );
            }
        };
        if !self.authorize(Action::Subscribe, &m.topic).is_allowed() {
            return self.not_authorized(
                MessageType::Subscribe,
                m.request,
                Action::Subscribe,
                &m.topic,
            );
        }
        if let (Some(max), Some(joined)) = (
            self.router.config.session_limits.max_subscriptions,
            self.joined.as_ref(),
        ) {
            let held = joined.subscriptions.len();
            let renewal = joined
                .realm
                .broker
                .lookup(&pattern)
                .is_some_and(|sub| joined.subscriptions.contains(&sub.id));
            if held >= max && !renewal {
                return self.limit_exceeded(
                    MessageType::Subscribe,
                    m.request,
                    "subscriptions",
                    "max_subscriptions_per_session",
                    held,
                );
            }
        }
        let (format, outbox) = (self.format, &self.outbox);
        let Some(joined) = self.joined.as_mut() else {
            return;
        };
        let request = m.request;
        let router = &self.router;
        let (id, created) = joined.realm.broker.subscribe(
            &joined.peer,
            pattern,
            || router.timestamp(),
            |subscription| {
                let reply = Message::Subscribed(Subscribed {
                    request,
                    subscription,
                });
                if let Ok(frame) = encode(&reply, format)
                    && outbox.push(frame).is_err()
                {
                    outbox.kill(crate::outbox::KillReason::SlowConsumer);
                }
            },
        );
        joined.subscriptions.insert(id);
        let (realm, session) = (&joined.realm, joined.peer.id());
        if created && let Some(sub) = realm.broker.get(id) {
            meta::event(
                router,
                realm,
                "wamp.subscription.on_create",
                vec![session.into(), Value::Dict(sub.details())],
            );
        }
        meta::event(
            router,
            realm,
            "wamp.subscription.on_subscribe",
            vec![session.into(), id.into()],
        );
        if m.options.get_retained() == Some(true) {
            realm.broker.send_retained(
                &joined.peer,
                id,
                router.config.slow_consumer,
                router.stats(),
            );
        }
    }

    fn unsubscribe(&mut self, m: Unsubscribe) {
        let Some(known) = self
            .joined
            .as_mut()
            .map(|j| j.subscriptions.remove(&m.subscription))
        else {
            return;
        };
        let Some(joined) = self.joined.as_ref() else {
            return;
        };
        let removed = known
            .then(|| {
                joined
                    .realm
                    .broker
                    .unsubscribe(joined.peer.id(), m.subscription)
                    .ok()
            })
            .flatten();
        if let Some(deleted) = removed {
            self.reply(&Message::Unsubscribed(Unsubscribed {
                request: Some(m.request),
                details: None,
            }));
            meta::subscription_removed(
                &self.router,
                &joined.realm,
                joined.peer.id(),
                m.subscription,
                deleted,
            );
        } else {
            self.error(
                MessageType::Unsubscribe,
                m.request,
                ErrorUri::NoSuchSubscription,
                format!("this session has no subscription {}", m.subscription),
            );
        }
    }

    fn register(&mut self, m: Register) {
        let policy = m
            .options
            .match_policy()
            .and_then(MatchPolicy::parse)
            .unwrap_or_default();
        let invoke = m
            .options
            .invoke()
            .and_then(InvokePolicy::parse)
            .unwrap_or_default();
        let pattern = match Pattern::parse(&m.procedure, policy, self.router.config.uri_rules) {
            Ok(p) => p,
            Err(e) => {
                return self.error(
                    MessageType::Register,
                    m.request,
                    ErrorUri::InvalidUri,
                    format!(
                        "invalid procedure {:?} for match {}: {e}",
                        m.procedure,
                        policy.as_str()
                    ),
                );
            }
        };
        if m.procedure.starts_with("wamp.") {
            return self.error(
                MessageType::Register,
                m.request,
                ErrorUri::NotAuthorized,
                "procedures under wamp. are reserved for the router".into(),
            );
        }
        if !self.authorize(Action::Register, &m.procedure).is_allowed() {
            return self.not_authorized(
                MessageType::Register,
                m.request,
                Action::Register,
                &m.procedure,
            );
        }
        if let (Some(max), Some(joined)) = (
            self.router.config.session_limits.max_registrations,
            self.joined.as_ref(),
        ) && joined.registrations.len() >= max
        {
            let held = joined.registrations.len();
            return self.limit_exceeded(
                MessageType::Register,
                m.request,
                "registrations",
                "max_registrations_per_session",
                held,
            );
        }
        let options = RegistrationOptions {
            disclose_caller: m.options.disclose_caller() == Some(true),
            forward_timeout: m.options.forward_timeout() == Some(true),
            concurrency: m
                .options
                .concurrency()
                .filter(|n| *n > 0)
                .map(|n| u32::try_from(n).unwrap_or(u32::MAX)),
        };
        let (format, outbox) = (self.format, &self.outbox);
        let Some(joined) = self.joined.as_mut() else {
            return;
        };
        let request = m.request;
        let result = joined.realm.dealer.register(
            &joined.peer,
            pattern,
            invoke,
            options,
            || self.router.timestamp(),
            |registration| {
                let reply = Message::Registered(Registered {
                    request,
                    registration,
                });
                if let Ok(frame) = encode(&reply, format)
                    && outbox.push(frame).is_err()
                {
                    outbox.kill(crate::outbox::KillReason::SlowConsumer);
                }
            },
        );
        match result {
            Ok((id, created)) => {
                joined.registrations.insert(id);
                let (router, realm, session) = (&self.router, &joined.realm, joined.peer.id());
                if created && let Some(reg) = realm.dealer.get(id) {
                    meta::event(
                        router,
                        realm,
                        "wamp.registration.on_create",
                        vec![session.into(), Value::Dict(reg.details())],
                    );
                }
                meta::event(
                    router,
                    realm,
                    "wamp.registration.on_register",
                    vec![session.into(), id.into()],
                );
            }
            Err(RegisterError::AlreadyExists) => self.error(
                MessageType::Register,
                m.request,
                ErrorUri::ProcedureAlreadyExists,
                format!("{:?} is already registered", m.procedure),
            ),
        }
    }

    fn unregister(&mut self, m: Unregister) {
        let Some(known) = self
            .joined
            .as_mut()
            .map(|j| j.registrations.remove(&m.registration))
        else {
            return;
        };
        let Some(joined) = self.joined.as_ref() else {
            return;
        };
        let removed = known
            .then(|| {
                joined
                    .realm
                    .dealer
                    .unregister(joined.peer.id(), m.registration)
                    .ok()
            })
            .flatten();
        if let Some(deleted) = removed {
            self.reply(&Message::Unregistered(Unregistered {
                request: Some(m.request),
                details: None,
            }));
            meta::registration_removed(
                &self.router,
                &joined.realm,
                joined.peer.id(),
                m.registration,
                deleted,
            );
        } else {
            self.error(
                MessageType::Unregister,
                m.request,
                ErrorUri::NoSuchRegistration,
                format!("this session has no registration {}", m.registration),
            );
        }
    }

    fn call(&mut self, mut m: Call) -> Flow {
        let Some(joined) = self.joined.as_ref() else {
            return Flow::Continue;
        };
        if let Err(e) = Uri::parse(&m.procedure, self.router.config.uri_rules) {
            self.error(
                MessageType::Call,
                m.request,
                ErrorUri::InvalidUri,
                format!("invalid procedure {:?}: {e}", m.procedure),
            );
            return Flow::Continue;
        }
        match self.authorize(Action::Call, &m.procedure) {
            Authorization::Deny => {
                self.not_authorized(MessageType::Call, m.request, Action::Call, &m.procedure);
                return Flow::Continue;
            }
            Authorization::Allow { disclose: true } => {
                m.options.insert("disclose_me".into(), Value::Bool(true));
            }
            Authorization::Allow { disclose: false } => {}
        }
        // A testament is a publication made later on the session's behalf: it needs the
        // right to publish to its topic now.
        if m.procedure == "wamp.session.add_testament"
            && let Ok(values) = m.payload.to_values()
            && let Some(topic) = values.args.first().and_then(Value::as_str)
            && !self.authorize(Action::Publish, topic).is_allowed()
        {
            self.not_authorized(MessageType::Call, m.request, Action::Publish, topic);
            return Flow::Continue;
        }
        if let Some(max) = self.router.config.session_limits.max_pending_calls
            && !m.procedure.starts_with("wamp.")
        {
            let pending = joined.peer.calls.lock().len() + joined.peer.queued.lock().len();
            if pending >= max {
                self.limit_exceeded(
                    MessageType::Call,
                    m.request,
                    "calls waiting for a result",
                    "max_pending_calls_per_session",
                    pending,
                );
                return Flow::Continue;
            }
        }
        if m.procedure.starts_with("wamp.") {
            let reply = match meta::call(
                &self.router,
                &joined.realm,
                &joined.peer,
                &m.procedure,
                &m.payload,
            ) {
                Some(Ok(payload)) => Message::Result(CallResult {
                    request: m.request,
                    details: Default::default(),
                    payload,
                }),
                Some(Err(meta::MetaError(uri, message))) => {
                    dealer::call_error(m.request, &uri, Some(message))
                }
                None => dealer::call_error(
                    m.request,
                    ErrorUri::NoSuchProcedure.as_str(),
                    Some(format!("no meta procedure {:?}", m.procedure)),
                ),
            };
            self.reply(&reply);
            return Flow::Continue;
        }
        dealer::call(&self.router, &joined.realm, &joined.peer, m);
        Flow::Continue
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
