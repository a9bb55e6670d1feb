//! The shared handle of an established session: what other sessions' tasks need to route to it.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::Bytes;
use parking_lot::Mutex;
use switchboard_proto::names::{Feature, Role};
use switchboard_proto::{Dict, Format, Id, Value};

use crate::outbox::{KillReason, Outbox, Overflow};

/// Who a session is: its id and authentication result.
#[derive(Clone, Debug)]
pub struct Identity {
    /// The session id (global scope, random).
    pub session: Id,
    /// The realm it joined.
    pub realm: Arc<str>,
    /// Authenticated identity.
    pub authid: Arc<str>,
    /// Role used for authorization.
    pub authrole: Arc<str>,
    /// How it authenticated (`anonymous`, `ticket`, …).
    pub authmethod: Arc<str>,
    /// Who authenticated it (`static`, `dynamic`, …).
    pub authprovider: Arc<str>,
}

/// The roles and features a client announced in HELLO.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ClientRoles {
    roles: u8,
    /// Feature bits per role, indexed like `ROLES`.
    features: [u64; 4],
}

const ROLES: [Role; 4] = [
    Role::Caller,
    Role::Callee,
    Role::Publisher,
    Role::Subscriber,
];

impl ClientRoles {
    /// Reads `HELLO.Details.roles`. Unknown roles and features are ignored.
    pub fn from_hello(roles: &Dict) -> ClientRoles {
        let mut out = ClientRoles::default();
        for (i, role) in ROLES.iter().enumerate() {
            let Some(entry) = roles.get(role.as_str()) else {
                continue;
            };
            out.roles |= 1 << i;
            let features = entry
                .as_dict()
                .and_then(|d| d.get("features"))
                .and_then(Value::as_dict);
            for (name, on) in features.into_iter().flatten() {
                if on.as_bool() == Some(true)
                    && let Some(f) = Feature::parse_lenient(name)
                    && let Some(bit) = Feature::ALL.iter().position(|x| *x == f)
                {
                    out.features[i] |= 1 << bit;
                }
            }
        }
        out
    }

    /// Whether the client announced no role at all (a protocol violation in HELLO).
    pub fn is_empty(&self) -> bool {
        self.roles == 0
    }

    /// Whether the client announced `role`.
    pub fn has_role(&self, role: Role) -> bool {
        ROLES
            .iter()
            .position(|r| *r == role)
            .is_some_and(|i| self.roles & (1 << i) != 0)
    }

    /// Whether the client announced `feature` under `role`.
    pub fn has(&self, role: Role, feature: Feature) -> bool {
        let Some(i) = ROLES.iter().position(|r| *r == role) else {
            return false;
        };
        let Some(bit) = Feature::ALL.iter().position(|x| *x == feature) else {
            return false;
        };
        self.features[i] & (1 << bit) != 0
    }
}

/// An invocation waiting for the callee's YIELD or ERROR.
#[derive(Debug)]
pub(crate) struct PendingInvocation {
    /// Who called.
    pub caller: Arc<Peer>,
    /// The CALL's request id.
    pub call_request: Id,
    /// The caller asked for progressive results and the callee can give them.
    pub receive_progress: bool,
    /// The dealer-enforced timeout between results, if any.
    pub timeout: Option<std::time::Duration>,
    /// When the dealer gives up waiting.
    pub deadline: Option<std::time::Instant>,
    /// A CANCEL in `kill` mode was passed on; the callee's answer ends the call.
    pub killing: bool,
    /// The first INVOCATION's details, repeated on every chunk of a progressive invocation.
    pub frozen: Option<switchboard_proto::options::InvocationDetails>,
    /// The registration it went through (its wait queue drains when this ends).
    pub registration: Arc<crate::dealer::Registration>,
    /// The callee slot it occupies.
    pub slot: Arc<crate::dealer::Callee>,
}

/// The callee side of a session: invocations it owes an answer to.
#[derive(Debug)]
pub(crate) struct CalleeState {
    /// The next INVOCATION request id (session scope: 1, 2, …).
    pub next_id: Id,
    pub pending: HashMap<Id, PendingInvocation>,
}

/// Where a caller's call went, so a leaving caller can withdraw it.
#[derive(Debug)]
pub(crate) struct CallRoute {
    pub callee: Arc<Peer>,
    pub invocation: Id,
    pub registration: Id,
    /// The caller is still sending progressive CALL chunks.
    pub streaming_input: bool,
}

/// When a testament is published (wamp-spec §6.4).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TestamentScope {
    /// When the session detaches (without resumption: when it ends, first).
    Detached,
    /// When the session is destroyed (the default).
    Destroyed,
}

impl TestamentScope {
    /// Parses `detached` / `destroyed`.
    pub fn parse(s: &str) -> Option<TestamentScope> {
        match s {
            "detached" => Some(TestamentScope::Detached),
            "destroyed" => Some(TestamentScope::Destroyed),
            _ => None,
        }
    }
}

/// An event a session asked the router to publish when it goes.
#[derive(Clone, Debug)]
pub struct Testament {
    /// When.
    pub scope: TestamentScope,
    /// Where.
    pub topic: String,
    /// PUBLISH options to use.
    pub options: switchboard_proto::options::PublishOptions,
    /// What.
    pub payload: switchboard_proto::Payload,
}

/// The shared handle of an established session.
pub struct Peer {
    /// Who it is.
    pub identity: Identity,
    /// Its serializer.
    pub format: Format,
    /// The largest message it accepts, in bytes.
    pub max_message_size: usize,
    /// What it announced in HELLO.
    pub roles: ClientRoles,
    /// Transport facts for the session meta API (type, peer address…).
    pub transport: Dict,
    outbox: Arc<dyn Outbox>,
    /// Set once the router sent GOODBYE and waits for the reply.
    pub(crate) goodbye_sent: AtomicBool,
    /// Set once the session left; nothing more is routed to it.
    pub(crate) gone: AtomicBool,
    /// Killed by `wamp.session.kill_all`: leave without meta events or testaments.
    pub(crate) quiet_leave: AtomicBool,
    pub(crate) testaments: Mutex<Vec<Testament>>,
    pub(crate) callee: Mutex<CalleeState>,
    pub(crate) calls: Mutex<HashMap<Id, CallRoute>>,
    /// Calls of this caller waiting for a callee below its concurrency limit.
    pub(crate) queued: Mutex<HashMap<Id, std::sync::Weak<crate::dealer::Registration>>>,
}

impl std::fmt::Debug for Peer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Peer")
            .field("session", &self.identity.session)
            .field("realm", &self.identity.realm)
            .field("format", &self.format)
            .finish_non_exhaustive()
    }
}

impl Peer {
    pub(crate) fn new(
        identity: Identity,
        format: Format,
        max_message_size: usize,
        roles: ClientRoles,
        transport: Dict,
        outbox: Arc<dyn Outbox>,
    ) -> Peer {
        Peer {
            identity,
            format,
            max_message_size,
            roles,
            transport,
            outbox,
            goodbye_sent: AtomicBool::new(false),
            gone: AtomicBool::new(false),
            quiet_leave: AtomicBool::new(false),
            testaments: Mutex::new(Vec::new()),
            callee: Mutex::new(CalleeState {
                next_id: Id::MIN,
                pending: HashMap::new(),
            }),
            calls: Mutex::new(HashMap::new()),
            queued: Mutex::new(HashMap::new()),
        }
    }

    /// The session id.
    pub fn id(&self) -> Id {
        self.identity.session
    }

    /// Whether the session has left.
    pub fn is_gone(&self) -> bool {
        self.gone.load(Ordering::Acquire)
    }

    /// Queues a frame; `Overflow` if the outbox is full.
    pub(crate) fn try_push(&self, frame: Bytes) -> Result<(), Overflow> {
        self.outbox.push(frame)
    }

    /// Queues a frame the session must get (a reply, a result): a session that cannot take
    /// it is a slow consumer and is closed.
    pub(crate) fn send(&self, frame: Bytes) {
        if self.outbox.push(frame).is_err() {
            self.kill(KillReason::SlowConsumer);
        }
    }

    pub(crate) fn kill(&self, reason: KillReason) {
        tracing::warn!(session = %self.id(), realm = %self.identity.realm, "closing session: {}", reason.message());
        self.outbox.kill(reason);
    }

    pub(crate) fn close(&self) {
        self.outbox.close();
    }
}
