//! The Dealer: registrations, and the CALL → INVOCATION → YIELD/ERROR → RESULT/ERROR path.
//!
//! Routing a call takes no realm-wide lock: exact procedures are in a concurrent map, patterns
//! in a copy-on-write [`PatternIndex`](crate::matching::PatternIndex) snapshot, callee lists are copy-on-write snapshots and
//! round-robin uses an atomic counter. Pending invocations live with the callee session that
//! owes the answer, keyed by the INVOCATION id that session got (session scope), and each
//! caller keeps where its calls went, so whichever side leaves first can clean up.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};

use arc_swap::ArcSwap;
use bytes::Bytes;
use parking_lot::Mutex;
use rand::RngExt;
use switchboard_proto::message::{
    Call, CallResult, Cancel, ErrorMessage, Interrupt, Invocation, Message, Yield,
};
use switchboard_proto::names::{ErrorUri, Feature, MessageType, Role};
use switchboard_proto::options::{InterruptOptions, InvocationDetails, ResultDetails};
use switchboard_proto::uri::{MatchPolicy, Pattern};
use switchboard_proto::{Id, Payload, Value, encode};

use crate::peer::{CallRoute, Peer, PendingInvocation};
use crate::realm::Realm;
use crate::router::Router;
use crate::table::RouteTable;

/// How a shared registration picks a callee (wamp-spec §5.8).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum InvokePolicy {
    /// One callee only (default).
    #[default]
    Single,
    /// Each callee in turn.
    RoundRobin,
    /// A callee drawn uniformly.
    Random,
    /// Always the first registered.
    First,
    /// Always the last registered.
    Last,
}

impl InvokePolicy {
    /// Parses `REGISTER.Options.invoke`.
    pub fn parse(s: &str) -> Option<InvokePolicy> {
        Some(match s {
            "single" => InvokePolicy::Single,
            "roundrobin" => InvokePolicy::RoundRobin,
            "random" => InvokePolicy::Random,
            "first" => InvokePolicy::First,
            "last" => InvokePolicy::Last,
            _ => return None,
        })
    }

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            InvokePolicy::Single => "single",
            InvokePolicy::RoundRobin => "roundrobin",
            InvokePolicy::Random => "random",
            InvokePolicy::First => "first",
            InvokePolicy::Last => "last",
        }
    }
}

/// One registration: a procedure pattern and its callee(s).
#[derive(Debug)]
pub struct Registration {
    /// Router-scope id.
    pub id: Id,
    /// Procedure and match policy.
    pub pattern: Pattern,
    /// How a callee is chosen.
    pub invoke: InvokePolicy,
    /// Options of the first REGISTER (`disclose_caller`, `forward_timeout`).
    pub options: RegistrationOptions,
    /// When it was created (ISO 8601, UTC).
    pub created: String,
    callees: ArcSwap<Vec<Arc<Callee>>>,
    next: AtomicUsize,
    /// Calls waiting for a callee below its concurrency limit.
    queue: Mutex<VecDeque<Queued>>,
}

/// One callee of a registration, with its `concurrency` limit and calls in flight.
#[derive(Debug)]
pub struct Callee {
    /// The callee's session.
    pub peer: Arc<Peer>,
    /// The most invocations it takes at once (REGISTER `concurrency`), if limited.
    pub concurrency: Option<u32>,
    inflight: AtomicU32,
}

impl std::ops::Deref for Callee {
    type Target = Peer;
    fn deref(&self) -> &Peer {
        &self.peer
    }
}

impl Callee {
    fn try_acquire(&self) -> bool {
        match self.concurrency {
            None => {
                self.inflight.fetch_add(1, Ordering::AcqRel);
                true
            }
            Some(max) => self
                .inflight
                .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                    (n < max).then_some(n + 1)
                })
                .is_ok(),
        }
    }

    fn release(&self) {
        let _ = self
            .inflight
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1));
    }

    /// Invocations it has not answered yet.
    pub fn inflight(&self) -> u32 {
        self.inflight.load(Ordering::Acquire)
    }
}

/// A call waiting for a free callee.
#[derive(Debug)]
struct Queued {
    caller: Arc<Peer>,
    call: Call,
}

/// The outcome of choosing a callee.
enum Pick {
    /// Nobody is registered.
    Empty,
    /// Every eligible callee is at its concurrency limit.
    Busy,
    /// This callee, with a slot taken.
    Got(Arc<Callee>),
}

impl Registration {
    /// `RegistrationDetails` as the meta API shows them.
    pub fn details(&self) -> switchboard_proto::Dict {
        switchboard_proto::dict! {
            "id" => self.id,
            "created" => self.created.as_str(),
            "uri" => self.pattern.as_str(),
            "match" => self.pattern.policy().as_str(),
            "invoke" => self.invoke.as_str(),
        }
    }

    /// The callees, in registration order.
    pub fn callees(&self) -> Arc<Vec<Arc<Callee>>> {
        self.callees.load_full()
    }

    /// Chooses a callee by the invoke policy and takes one of its slots. `single`, `first`
    /// and `last` wait for their callee; `roundrobin` and `random` pass over busy ones.
    fn pick(&self) -> Pick {
        let callees = self.callees.load();
        let n = callees.len();
        if n == 0 {
            return Pick::Empty;
        }
        let (start, tries) = match self.invoke {
            InvokePolicy::Single | InvokePolicy::First => (0, 1),
            InvokePolicy::Last => (n - 1, 1),
            InvokePolicy::RoundRobin => (self.next.fetch_add(1, Ordering::Relaxed) % n, n),
            InvokePolicy::Random => (rand::rng().random_range(0..n), n),
        };
        for k in 0..tries {
            let c = &callees[(start + k) % n];
            if c.try_acquire() {
                return Pick::Got(Arc::clone(c));
            }
        }
        Pick::Busy
    }
}

/// REGISTER options that shape every invocation of a registration.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RegistrationOptions {
    /// Disclose the caller in every INVOCATION.
    pub disclose_caller: bool,
    /// Let the callee enforce `timeout` instead of the dealer.
    pub forward_timeout: bool,
    /// This callee's limit on invocations at once (applies per callee, not per registration).
    pub concurrency: Option<u32>,
}

/// Why a REGISTER failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RegisterError {
    /// Already registered (single policy), or registered with another invoke policy.
    #[error("procedure already exists")]
    AlreadyExists,
}

/// There is no such registration for this session.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("no such registration")]
pub struct NoSuchRegistration;

/// The registration tables of one realm.
#[derive(Debug, Default)]
pub struct Dealer {
    table: RouteTable<Registration>,
    write: Mutex<()>,
}

impl Dealer {
    /// Registers `peer` for `pattern`. `announce` runs with the registration id before the
    /// callee becomes visible to callers, so a REGISTERED queued there precedes every
    /// INVOCATION.
    pub fn register(
        &self,
        peer: &Arc<Peer>,
        pattern: Pattern,
        invoke: InvokePolicy,
        options: RegistrationOptions,
        created: impl FnOnce() -> String,
        announce: impl FnOnce(Id),
    ) -> Result<(Id, bool), RegisterError> {
        let _w = self.write.lock();
        let (reg, is_new) = match self.table.find(&pattern) {
            Some(reg) => {
                let taken = reg.invoke == InvokePolicy::Single
                    || reg.invoke != invoke
                    || reg.callees.load().iter().any(|c| c.id() == peer.id());
                if taken {
                    return Err(RegisterError::AlreadyExists);
                }
                (reg, false)
            }
            None => {
                let reg = Arc::new(Registration {
                    id: self.table.fresh_id(),
                    pattern: pattern.clone(),
                    invoke,
                    options,
                    created: created(),
                    callees: ArcSwap::from_pointee(Vec::new()),
                    next: AtomicUsize::new(0),
                    queue: Mutex::new(VecDeque::new()),
                });
                self.table.insert(reg.id, &reg.pattern, &reg);
                (reg, true)
            }
        };
        announce(reg.id);
        let current = reg.callees.load();
        let mut next = Vec::with_capacity(current.len() + 1);
        next.extend(current.iter().cloned());
        next.push(Arc::new(Callee {
            peer: Arc::clone(peer),
            concurrency: options.concurrency,
            inflight: AtomicU32::new(0),
        }));
        reg.callees.store(Arc::new(next));
        Ok((reg.id, is_new))
    }

    /// Removes `session` as a callee of registration `id`; deletes the registration when it was
    /// the last callee. Returns whether it was deleted.
    pub fn unregister(&self, session: Id, id: Id) -> Result<bool, NoSuchRegistration> {
        let _w = self.write.lock();
        let reg = self.table.get(id).ok_or(NoSuchRegistration)?;
        let current = reg.callees.load();
        if !current.iter().any(|p| p.id() == session) {
            return Err(NoSuchRegistration);
        }
        let next: Vec<_> = current
            .iter()
            .filter(|p| p.id() != session)
            .cloned()
            .collect();
        let deleted = next.is_empty();
        if deleted {
            self.table.remove(id, &reg.pattern);
        }
        reg.callees.store(Arc::new(next));
        Ok(deleted)
    }

    /// The registration a call to `procedure` goes to: exact, else longest prefix, else the
    /// best wildcard (wamp-spec §5.7).
    pub fn lookup(&self, procedure: &str) -> Option<Arc<Registration>> {
        if let Some(reg) = self.table.exact(procedure) {
            return Some(reg);
        }
        let patterns = self.table.patterns();
        patterns.best_match(procedure).map(|(_, r)| Arc::clone(r))
    }

    /// The registration with this id.
    pub fn get(&self, id: Id) -> Option<Arc<Registration>> {
        self.table.get(id)
    }

    /// The registration for exactly this pattern.
    pub fn lookup_pattern(&self, pattern: &Pattern) -> Option<Arc<Registration>> {
        self.table.find(pattern)
    }

    /// Every registration.
    pub fn all(&self) -> Vec<Arc<Registration>> {
        self.table.all()
    }
}

/// An ERROR answering a caller's CALL.
pub(crate) fn call_error(request: Id, error: &str, message: Option<String>) -> Message {
    Message::Error(ErrorMessage {
        request_type: MessageType::Call,
        request,
        details: Default::default(),
        error: error.to_owned(),
        payload: message.map_or_else(Payload::empty, |m| Payload::args(vec![Value::from(m)])),
    })
}

/// Encodes `msg` for `peer`, or says why it cannot go.
fn frame_for(peer: &Peer, msg: &Message) -> Result<Bytes, ErrorUri> {
    let frame = encode(msg, peer.format).map_err(|e| {
        tracing::debug!(session = %peer.id(), "cannot encode for the peer: {e}");
        ErrorUri::InvalidArgument
    })?;
    if frame.len() > peer.max_message_size {
        return Err(ErrorUri::PayloadSizeExceeded);
    }
    Ok(frame)
}

fn copy_ppt(from: &switchboard_proto::Dict, to: &mut switchboard_proto::Dict) {
    for key in ["ppt_scheme", "ppt_serializer", "ppt_cipher", "ppt_keyid"] {
        if let Some(v) = from.get(key) {
            to.insert(key.into(), v.clone());
        }
    }
}

/// Whether Options/Details mark a payload passthru message (a non-empty `ppt_scheme`).
pub(crate) fn is_passthru(d: &switchboard_proto::Dict) -> bool {
    d.get("ppt_scheme")
        .and_then(Value::as_str)
        .is_some_and(|s| !s.is_empty())
}

/// Whether the callee can be interrupted (announced `call_canceling`).
fn cancelable(callee: &Peer) -> bool {
    callee.roles.has(Role::Callee, Feature::CallCanceling)
}

/// Whether the callee may be sent progressive results requests (PCR needs canceling too).
fn takes_progress(callee: &Peer) -> bool {
    cancelable(callee)
        && callee
            .roles
            .has(Role::Callee, Feature::ProgressiveCallResults)
}

fn interrupt(callee: &Peer, invocation: Id, mode: &'static str, reason: ErrorUri) {
    let msg = Message::Interrupt(Interrupt {
        request: invocation,
        options: InterruptOptions::default()
            .with("mode", mode)
            .with("reason", reason.as_str()),
    });
    if let Ok(frame) = encode(&msg, callee.format) {
        let _ = callee.try_push(frame);
    }
}

/// Routes a new CALL from `caller`. Errors go back to the caller; nothing blocks.
pub(crate) fn call(router: &Router, realm: &Realm, caller: &Arc<Peer>, call: Call) {
    let request = call.request;
    let Some(reg) = realm.dealer.lookup(&call.procedure) else {
        send(
            caller,
            &call_error(request, ErrorUri::NoSuchProcedure.as_str(), None),
        );
        return;
    };
    match reg.pick() {
        Pick::Empty => send(
            caller,
            &call_error(request, ErrorUri::NoSuchProcedure.as_str(), None),
        ),
        Pick::Got(slot) => dispatch(router, realm, &reg, slot, caller, call),
        Pick::Busy => {
            let mut queue = reg.queue.lock();
            if queue.len() >= router.config.max_queued_calls {
                drop(queue);
                send(
                    caller,
                    &call_error(
                        request,
                        ErrorUri::NoAvailableCallee.as_str(),
                        Some(
                            "every callee is at its concurrency limit and the call queue is full"
                                .into(),
                        ),
                    ),
                );
                return;
            }
            queue.push_back(Queued {
                caller: Arc::clone(caller),
                call,
            });
            drop(queue);
            caller.queued.lock().insert(request, Arc::downgrade(&reg));
        }
    }
}

/// Sends the INVOCATION for `call` to the callee holding `slot`.
fn dispatch(
    router: &Router,
    realm: &Realm,
    reg: &Arc<Registration>,
    slot: Arc<Callee>,
    caller: &Arc<Peer>,
    call: Call,
) {
    let request = call.request;
    let callee = Arc::clone(&slot.peer);
    if is_passthru(&call.options) && !callee.roles.has(Role::Callee, Feature::PayloadPassthruMode) {
        slot.release();
        send(
            caller,
            &call_error(
                request,
                ErrorUri::FeatureNotSupported.as_str(),
                Some("the callee does not support payload passthru mode".into()),
            ),
        );
        return;
    }
    let progressive_input = call.options.progress() == Some(true);
    if progressive_input
        && !(cancelable(&callee)
            && callee
                .roles
                .has(Role::Callee, Feature::ProgressiveCallInvocations))
    {
        slot.release();
        send(
            caller,
            &call_error(
                request,
                ErrorUri::FeatureNotSupported.as_str(),
                Some("the callee does not support progressive call invocations".into()),
            ),
        );
        return;
    }
    let mut details = InvocationDetails::default();
    if reg.pattern.policy() != MatchPolicy::Exact {
        details.insert("procedure".into(), Value::from(call.procedure.as_str()));
    }
    if call.options.disclose_me() == Some(true) || reg.options.disclose_caller {
        let who = &caller.identity;
        details.insert("caller".into(), Value::from(who.session));
        details.insert("caller_authid".into(), Value::from(&*who.authid));
        details.insert("caller_authrole".into(), Value::from(&*who.authrole));
    }
    let receive_progress = call.options.receive_progress() == Some(true) && takes_progress(&callee);
    if receive_progress {
        details.insert("receive_progress".into(), Value::Bool(true));
    }
    copy_ppt(&call.options, &mut details);
    let timeout = realm.settings.effective_timeout(call.options.timeout());
    let mut deadline = None;
    match timeout {
        Some(t) if reg.options.forward_timeout => {
            details.insert("timeout".into(), Value::from(t.as_millis() as u64));
        }
        Some(t) => deadline = Some(router.clock().now() + t),
        None => {}
    }
    // Reserve the invocation id and the pending entry before anything can answer it.
    let invocation = {
        let mut state = callee.callee.lock();
        let id = state.next_id;
        state.next_id = id.next();
        state.pending.insert(
            id,
            PendingInvocation {
                caller: Arc::clone(caller),
                call_request: request,
                receive_progress,
                timeout: if deadline.is_some() { timeout } else { None },
                deadline,
                killing: false,
                frozen: progressive_input.then(|| details.clone()),
                registration: Arc::clone(reg),
                slot: Arc::clone(&slot),
            },
        );
        id
    };
    let mut first = details;
    if progressive_input {
        first.insert("progress".into(), Value::Bool(true));
    }
    let msg = Message::Invocation(Invocation {
        request: invocation,
        registration: reg.id,
        details: first,
        payload: call.payload,
    });
    let withdraw = |error: ErrorUri, text: &str| {
        let pending = callee.callee.lock().pending.remove(&invocation);
        send(
            caller,
            &call_error(request, error.as_str(), Some(text.to_owned())),
        );
        if let Some(p) = pending {
            finished(router, realm, &p);
        }
    };
    let frame = match frame_for(&callee, &msg) {
        Ok(f) => f,
        Err(ErrorUri::PayloadSizeExceeded) => {
            return withdraw(
                ErrorUri::PayloadSizeExceeded,
                "the call is larger than the callee accepts",
            );
        }
        Err(e) => {
            return withdraw(
                e,
                "the arguments cannot be expressed in the callee's serializer",
            );
        }
    };
    caller.calls.lock().insert(
        request,
        CallRoute {
            callee: Arc::clone(&callee),
            invocation,
            registration: reg.id,
            streaming_input: progressive_input,
        },
    );
    if callee.try_push(frame).is_err() {
        caller.calls.lock().remove(&request);
        withdraw(ErrorUri::Unavailable, "the callee's queue is full");
        return;
    }
    if let Some(at) = deadline {
        router.add_timeout(at, callee.id(), invocation);
    }
}

/// An invocation ended (answered, canceled, timed out, or either side left): its slot is
/// free again, and a waiting call may go.
fn finished(router: &Router, realm: &Realm, pending: &PendingInvocation) {
    pending.slot.release();
    let reg = &pending.registration;
    loop {
        let Some(q) = reg.queue.lock().pop_front() else {
            return;
        };
        q.caller.queued.lock().remove(&q.call.request);
        if q.caller.is_gone() {
            continue;
        }
        match reg.pick() {
            Pick::Got(slot) => dispatch(router, realm, reg, slot, &q.caller, q.call),
            Pick::Busy => {
                q.caller
                    .queued
                    .lock()
                    .insert(q.call.request, Arc::downgrade(reg));
                reg.queue.lock().push_front(q);
                return;
            }
            Pick::Empty => send(
                &q.caller,
                &call_error(
                    q.call.request,
                    ErrorUri::Canceled.as_str(),
                    Some("the procedure's last callee left".into()),
                ),
            ),
        }
    }
}

/// A further CALL chunk of a progressive call invocation (same request id as the first).
pub(crate) fn continue_call(router: &Router, realm: &Realm, caller: &Arc<Peer>, call: Call) {
    let more = call.options.progress() == Some(true);
    let (callee, invocation, registration) = {
        let mut calls = caller.calls.lock();
        let Some(route) = calls.get_mut(&call.request) else {
            return; // the call already ended: discard silently (wamp-spec §5.2)
        };
        route.streaming_input = more;
        (
            Arc::clone(&route.callee),
            route.invocation,
            route.registration,
        )
    };
    let details = {
        let state = callee.callee.lock();
        let Some(pending) = state.pending.get(&invocation) else {
            return;
        };
        pending.frozen.clone().unwrap_or_default()
    };
    let mut details = details;
    if more {
        details.insert("progress".into(), Value::Bool(true));
    }
    let msg = Message::Invocation(Invocation {
        request: invocation,
        registration,
        details,
        payload: call.payload,
    });
    match frame_for(&callee, &msg) {
        Ok(frame) => {
            if callee.try_push(frame).is_err() {
                fail_call(
                    router,
                    realm,
                    caller,
                    call.request,
                    ErrorUri::Unavailable,
                    "the callee's queue is full",
                );
            }
        }
        Err(e) => fail_call(
            router,
            realm,
            caller,
            call.request,
            e,
            "a call chunk cannot be delivered to the callee",
        ),
    }
}

/// Ends a call from the dealer's side: the caller gets `error`, the callee an INTERRUPT if it
/// can take one.
fn fail_call(
    router: &Router,
    realm: &Realm,
    caller: &Arc<Peer>,
    request: Id,
    error: ErrorUri,
    text: &str,
) {
    let Some(route) = caller.calls.lock().remove(&request) else {
        return;
    };
    let pending = route.callee.callee.lock().pending.remove(&route.invocation);
    if pending.is_some() && cancelable(&route.callee) {
        interrupt(&route.callee, route.invocation, "killnowait", error);
    }
    send(
        caller,
        &call_error(request, error.as_str(), Some(text.to_owned())),
    );
    if let Some(p) = pending {
        finished(router, realm, &p);
    }
}

/// CANCEL from a caller (wamp-spec §5.4). Unknown or finished calls are ignored.
pub(crate) fn cancel(router: &Router, realm: &Realm, caller: &Arc<Peer>, m: Cancel) {
    let mode = match m.options.mode() {
        Some("skip") => "skip",
        Some("kill") => "kill",
        _ => "killnowait",
    };
    let route = {
        let calls = caller.calls.lock();
        calls
            .get(&m.request)
            .map(|r| (Arc::clone(&r.callee), r.invocation))
    };
    let Some((callee, invocation)) = route else {
        // Still waiting for a callee? Then it never went anywhere: drop it.
        let waiting = caller.queued.lock().remove(&m.request);
        if let Some(reg) = waiting.and_then(|w| w.upgrade()) {
            reg.queue
                .lock()
                .retain(|q| !(q.caller.id() == caller.id() && q.call.request == m.request));
            send(
                caller,
                &call_error(
                    m.request,
                    ErrorUri::Canceled.as_str(),
                    Some("canceled by the caller".into()),
                ),
            );
        }
        return;
    };
    let mode = if cancelable(&callee) { mode } else { "skip" };
    if mode == "kill" {
        let mut state = callee.callee.lock();
        match state.pending.get_mut(&invocation) {
            Some(p) if !p.killing => p.killing = true,
            _ => return,
        }
        drop(state);
        // The callee's answer (usually ERROR canceled) goes to the caller when it comes.
        interrupt(&callee, invocation, "kill", ErrorUri::Canceled);
        return;
    }
    caller.calls.lock().remove(&m.request);
    let Some(pending) = callee.callee.lock().pending.remove(&invocation) else {
        return;
    };
    if mode == "killnowait" {
        interrupt(&callee, invocation, "killnowait", ErrorUri::Canceled);
    }
    send(
        caller,
        &call_error(
            m.request,
            ErrorUri::Canceled.as_str(),
            Some("canceled by the caller".into()),
        ),
    );
    finished(router, realm, &pending);
}

/// A dealer timeout fired for `invocation` of `callee` (if it is still pending and its
/// deadline is `at`).
pub(crate) fn timed_out(
    router: &Router,
    callee: &Arc<Peer>,
    invocation: Id,
    at: std::time::Instant,
) {
    let pending = {
        let mut state = callee.callee.lock();
        match state.pending.get(&invocation) {
            Some(p) if p.deadline == Some(at) => state.pending.remove(&invocation),
            _ => None,
        }
    };
    let Some(p) = pending else {
        return;
    };
    p.caller.calls.lock().remove(&p.call_request);
    if cancelable(callee) {
        interrupt(callee, invocation, "killnowait", ErrorUri::Timeout);
    }
    if !p.caller.is_gone() {
        send(
            &p.caller,
            &call_error(
                p.call_request,
                ErrorUri::Timeout.as_str(),
                Some("the call timed out".into()),
            ),
        );
    }
    if let Some(realm) = router.realm(&callee.identity.realm) {
        finished(router, &realm, &p);
    }
}

/// A YIELD or ERROR(INVOCATION) from a callee that no longer matches a pending invocation:
/// fine if the id was issued (the call ended by other means), a protocol violation if not.
fn unknown_invocation(callee: &Peer, id: Id) -> Result<(), String> {
    let next = callee.callee.lock().next_id;
    if id < next {
        Ok(())
    } else {
        Err(format!("invocation {id} was never issued to this session"))
    }
}

/// Handles a YIELD: forwards the (progressive or final) result to the caller.
pub(crate) fn yield_(
    router: &Router,
    realm: &Realm,
    callee: &Arc<Peer>,
    y: Yield,
) -> Result<(), String> {
    let progress = y.options.progress() == Some(true);
    let (caller, call_request, forward, ended) = {
        let mut state = callee.callee.lock();
        let Some(pending) = state.pending.get_mut(&y.request) else {
            drop(state);
            return unknown_invocation(callee, y.request);
        };
        if progress {
            // Per-gap timeout: the clock restarts with every progressive result.
            if let Some(t) = pending.timeout {
                let at = router.clock().now() + t;
                pending.deadline = Some(at);
                router.add_timeout(at, callee.id(), y.request);
            }
            (
                Arc::clone(&pending.caller),
                pending.call_request,
                pending.receive_progress,
                None,
            )
        } else {
            let Some(p) = state.pending.remove(&y.request) else {
                return Ok(());
            };
            (Arc::clone(&p.caller), p.call_request, true, Some(p))
        }
    };
    if !progress {
        caller.calls.lock().remove(&call_request);
    }
    if forward
        && !caller.is_gone()
        && is_passthru(&y.options)
        && !caller.roles.has(Role::Caller, Feature::PayloadPassthruMode)
    {
        // The spec sends this error to the callee, but no ERROR can answer a YIELD; the call
        // ends for the caller instead, which always gets an answer.
        send(
            &caller,
            &call_error(
                call_request,
                ErrorUri::FeatureNotSupported.as_str(),
                Some("the callee answered in payload passthru mode, which the caller did not announce".into()),
            ),
        );
    } else if forward && !caller.is_gone() {
        let mut details = ResultDetails::default();
        if progress {
            details.insert("progress".into(), Value::Bool(true));
        }
        copy_ppt(&y.options, &mut details);
        let msg = Message::Result(CallResult {
            request: call_request,
            details,
            payload: y.payload,
        });
        deliver_or_fail(&caller, call_request, &msg);
    }
    if let Some(p) = ended {
        finished(router, realm, &p);
    }
    Ok(())
}

/// Handles ERROR(INVOCATION): forwards the error URI and payload to the caller.
pub(crate) fn invocation_error(
    router: &Router,
    realm: &Realm,
    callee: &Arc<Peer>,
    e: ErrorMessage,
) -> Result<(), String> {
    let Some(pending) = callee.callee.lock().pending.remove(&e.request) else {
        return unknown_invocation(callee, e.request);
    };
    let caller = Arc::clone(&pending.caller);
    caller.calls.lock().remove(&pending.call_request);
    if !caller.is_gone() {
        let error = match ErrorUri::parse_lenient(&e.error) {
            Some(ErrorUri::Canceled) => ErrorUri::Canceled.as_str().to_owned(),
            _ => e.error,
        };
        let msg = Message::Error(ErrorMessage {
            request_type: MessageType::Call,
            request: pending.call_request,
            details: e.details,
            error,
            payload: e.payload,
        });
        deliver_or_fail(&caller, pending.call_request, &msg);
    }
    finished(router, realm, &pending);
    Ok(())
}

/// Sends a RESULT or ERROR to the caller; if it cannot be expressed for the caller, sends an
/// ERROR saying so instead (a call always ends in an answer).
fn deliver_or_fail(caller: &Peer, request: Id, msg: &Message) {
    match frame_for(caller, msg) {
        Ok(frame) => caller.send(frame),
        Err(ErrorUri::PayloadSizeExceeded) => send(
            caller,
            &call_error(
                request,
                ErrorUri::PayloadSizeExceeded.as_str(),
                Some("the result is larger than the caller accepts".into()),
            ),
        ),
        Err(e) => send(
            caller,
            &call_error(
                request,
                e.as_str(),
                Some("the result cannot be expressed in the caller's serializer".into()),
            ),
        ),
    }
}

/// A caller left: withdraw its pending and waiting calls, interrupting callees that support it.
pub(crate) fn caller_left(router: &Router, realm: &Realm, caller: &Peer) {
    let waiting: Vec<_> = caller.queued.lock().drain().collect();
    for (request, reg) in waiting {
        if let Some(reg) = reg.upgrade() {
            reg.queue
                .lock()
                .retain(|q| !(q.caller.id() == caller.id() && q.call.request == request));
        }
    }
    let routes: Vec<_> = caller.calls.lock().drain().collect();
    for (_, route) in routes {
        let removed = route.callee.callee.lock().pending.remove(&route.invocation);
        if let Some(p) = removed {
            if !route.callee.is_gone() && cancelable(&route.callee) {
                interrupt(
                    &route.callee,
                    route.invocation,
                    "killnowait",
                    ErrorUri::Canceled,
                );
            }
            finished(router, realm, &p);
        }
    }
}

/// A callee left: every call it owed an answer fails with `wamp.error.canceled`.
pub(crate) fn callee_left(router: &Router, realm: &Realm, callee: &Peer) {
    let mut pending: Vec<_> = callee.callee.lock().pending.drain().collect();
    pending.sort_unstable_by_key(|(id, _)| *id);
    for (_, p) in pending {
        p.caller.calls.lock().remove(&p.call_request);
        if !p.caller.is_gone() {
            send(
                &p.caller,
                &call_error(
                    p.call_request,
                    ErrorUri::Canceled.as_str(),
                    Some("the callee left".into()),
                ),
            );
        }
        finished(router, realm, &p);
    }
}

/// Encodes and queues a message the peer must get.
pub(crate) fn send(peer: &Peer, msg: &Message) {
    match encode(msg, peer.format) {
        Ok(frame) => peer.send(frame),
        Err(e) => tracing::warn!(session = %peer.id(), "cannot encode a reply: {e}"),
    }
}
