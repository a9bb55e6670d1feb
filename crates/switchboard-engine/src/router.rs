//! The router: realms, the session registry and engine-wide settings.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use parking_lot::Mutex;

use switchboard_proto::ids::random_id;
use switchboard_proto::message::{Goodbye, Message};
use switchboard_proto::names::CloseReason;
use switchboard_proto::uri::UriRules;
use switchboard_proto::{Format, Id};

use crate::auth::RealmSecurity;
use crate::broker::SlowConsumerPolicy;
use crate::clock::{Clock, SystemClock};
use crate::dealer;
use crate::limits::SessionLimits;
use crate::outbox::Outbox;
use crate::peer::Peer;
use crate::realm::{Realm, RealmSettings};
use crate::session::Session;
use crate::stats::Stats;

/// Engine settings (the router crate builds them from its config file).
#[derive(Clone, Debug)]
pub struct EngineConfig {
    /// Realms that exist from the start.
    pub realms: Vec<String>,
    /// Create a realm when a client asks for one that does not exist.
    pub auto_realms: bool,
    /// Require new-request ids to be sequential per session (wamp-spec §2.2: a MUST).
    pub strict_request_ids: bool,
    /// URI validation rules.
    pub uri_rules: UriRules,
    /// What to do with a subscriber whose queue overflows.
    pub slow_consumer: SlowConsumerPolicy,
    /// `agent` sent in WELCOME.
    pub agent: String,
    /// How many testaments one session may hold.
    pub max_testaments: usize,
    /// How many calls may wait per registration when every callee is at its concurrency limit.
    pub max_queued_calls: usize,
    /// Settings of realms not listed in `realm_settings` (also realms created on first use).
    pub default_realm_settings: RealmSettings,
    /// Settings per realm name.
    pub realm_settings: BTreeMap<String, RealmSettings>,
    /// Authentication and authorization of realms not listed in `security` (also realms
    /// created on first use).
    pub default_security: RealmSecurity,
    /// Authentication and authorization per realm name.
    pub security: BTreeMap<String, RealmSecurity>,
    /// Per-session and per-authid bounds.
    pub session_limits: SessionLimits,
}

impl Default for EngineConfig {
    /// The development setup: realm `realm1`, other realms created on first use.
    fn default() -> EngineConfig {
        EngineConfig {
            realms: vec!["realm1".into()],
            auto_realms: true,
            strict_request_ids: true,
            uri_rules: UriRules::Loose,
            slow_consumer: SlowConsumerPolicy::Close,
            agent: concat!("Switchboard/", env!("CARGO_PKG_VERSION")).into(),
            max_testaments: 64,
            max_queued_calls: 1000,
            default_realm_settings: RealmSettings::default(),
            realm_settings: BTreeMap::new(),
            default_security: RealmSecurity::open(),
            security: BTreeMap::new(),
            session_limits: SessionLimits::default(),
        }
    }
}

/// A dealer timer: when, which callee session, which invocation.
type Timer = Reverse<(Instant, Id, Id)>;

/// A WAMP router: all state shared by the connections it serves.
pub struct Router {
    clock: Arc<dyn Clock>,
    timeouts: Mutex<BinaryHeap<Timer>>,
    pub(crate) config: EngineConfig,
    realms: papaya::HashMap<Arc<str>, Arc<Realm>>,
    sessions: papaya::HashMap<Id, Arc<Peer>>,
    stats: Stats,
    shutting_down: AtomicBool,
}

impl Router {
    /// A router with the configured realms, on the system clock.
    pub fn new(config: EngineConfig) -> Arc<Router> {
        Router::with_clock(config, Arc::new(SystemClock))
    }

    /// A router whose time comes from `clock` (tests step a [`crate::clock::ManualClock`]).
    pub fn with_clock(config: EngineConfig, clock: Arc<dyn Clock>) -> Arc<Router> {
        let realms = papaya::HashMap::new();
        for name in &config.realms {
            let realm =
                Realm::with_security(name, config.settings_for(name), config.security_for(name));
            realms
                .pin()
                .insert(Arc::from(name.as_str()), Arc::new(realm));
        }
        Arc::new(Router {
            clock,
            timeouts: Mutex::new(BinaryHeap::new()),
            config,
            realms,
            sessions: papaya::HashMap::new(),
            stats: Stats::default(),
            shutting_down: AtomicBool::new(false),
        })
    }

    /// A new connection's session state machine. `max_message_size` is what the peer accepts.
    pub fn connect(
        self: &Arc<Self>,
        outbox: Arc<dyn Outbox>,
        format: Format,
        max_message_size: usize,
    ) -> Session {
        Session::new(Arc::clone(self), outbox, format, max_message_size)
    }

    /// Counters.
    pub fn stats(&self) -> &Stats {
        &self.stats
    }

    /// The engine settings.
    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    /// A realm by name.
    pub fn realm(&self, name: &str) -> Option<Arc<Realm>> {
        self.realms.pin().get(name).cloned()
    }

    /// Names of the realms that exist.
    pub fn realm_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.realms.pin().keys().map(|k| k.to_string()).collect();
        names.sort();
        names
    }

    /// How many sessions are established, across realms.
    pub fn session_count(&self) -> usize {
        self.sessions.len()
    }

    /// Whether [`Router::shutdown`] was called.
    pub fn is_shutting_down(&self) -> bool {
        self.shutting_down.load(Ordering::Acquire)
    }

    /// Tells every session GOODBYE (`wamp.close.system_shutdown`) and refuses new ones.
    pub fn shutdown(&self) {
        self.shutting_down.store(true, Ordering::Release);
        let msg = Message::Goodbye(Goodbye {
            details: Default::default(),
            reason: CloseReason::SystemShutdown.as_str().into(),
        });
        for peer in self.sessions.pin().values() {
            peer.goodbye_sent.store(true, Ordering::Release);
            dealer::send(peer, &msg);
            peer.close();
        }
    }

    /// The realm a HELLO asks for, created if the settings allow it.
    pub(crate) fn realm_for_hello(&self, name: &str) -> Option<Arc<Realm>> {
        if let Some(realm) = self.realm(name) {
            return Some(realm);
        }
        if !self.config.auto_realms {
            return None;
        }
        let realms = self.realms.pin();
        let realm = realms.get_or_insert_with(Arc::from(name), || {
            tracing::info!(realm = name, "created realm on first use");
            Arc::new(Realm::with_security(
                name,
                self.config.settings_for(name),
                self.config.security_for(name),
            ))
        });
        Some(Arc::clone(realm))
    }

    /// A fresh session id (global scope, random, unique among live sessions), reserved by the
    /// `register` callback building the peer.
    pub(crate) fn add_session(&self, build: impl FnOnce(Id) -> Arc<Peer>) -> Arc<Peer> {
        let sessions = self.sessions.pin();
        loop {
            let id = random_id();
            if sessions.contains_key(&id) {
                continue;
            }
            let peer = build(id);
            sessions.insert(id, Arc::clone(&peer));
            return peer;
        }
    }

    /// A random session id not in use now, for a session still authenticating (WAMP-CRA
    /// names it in its challenge). [`Router::add_session_as`] takes it at WELCOME.
    pub(crate) fn fresh_session_id(&self) -> Id {
        let sessions = self.sessions.pin();
        loop {
            let id = random_id();
            if !sessions.contains_key(&id) {
                return id;
            }
        }
    }

    /// As [`Router::add_session`], with `preferred` as the id unless another session took it
    /// meanwhile (then a fresh one: ids are 53-bit random, so this practically never happens).
    pub(crate) fn add_session_as(
        &self,
        preferred: Id,
        build: impl Fn(Id) -> Arc<Peer>,
    ) -> Arc<Peer> {
        let peer = build(preferred);
        match self.sessions.pin().try_insert(preferred, Arc::clone(&peer)) {
            Ok(_) => peer,
            Err(_) => self.add_session(build),
        }
    }

    pub(crate) fn remove_session(&self, id: Id) {
        self.sessions.pin().remove(&id);
    }

    /// The injected clock.
    pub fn clock(&self) -> &dyn Clock {
        &*self.clock
    }

    /// Now as an ISO 8601 UTC timestamp (meta API `created`, history `timestamp`).
    pub fn timestamp(&self) -> String {
        switchboard_proto::auth::cra::format_timestamp(self.clock.unix_millis())
    }

    pub(crate) fn add_timeout(&self, at: Instant, callee: Id, invocation: Id) {
        self.timeouts.lock().push(Reverse((at, callee, invocation)));
    }

    /// When the next dealer timeout is due, if any is set.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.timeouts.lock().peek().map(|Reverse((at, _, _))| *at)
    }

    /// Fires every dealer timeout that is due by the clock: the caller gets
    /// `wamp.error.timeout`, the callee an INTERRUPT if it supports canceling.
    pub fn expire_timeouts(&self) {
        let now = self.clock.now();
        loop {
            let due = {
                let mut heap = self.timeouts.lock();
                match heap.peek() {
                    Some(Reverse((at, _, _))) if *at <= now => heap.pop(),
                    _ => None,
                }
            };
            let Some(Reverse((at, callee, invocation))) = due else {
                break;
            };
            if let Some(peer) = self.sessions.pin().get(&callee) {
                dealer::timed_out(self, peer, invocation, at);
            }
        }
    }
}

impl EngineConfig {
    fn security_for(&self, realm: &str) -> RealmSecurity {
        self.security
            .get(realm)
            .cloned()
            .unwrap_or_else(|| self.default_security.clone())
    }

    fn settings_for(&self, realm: &str) -> RealmSettings {
        self.realm_settings
            .get(realm)
            .cloned()
            .unwrap_or_else(|| self.default_realm_settings.clone())
    }
}

impl std::fmt::Debug for Router {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Router")
            .field("realms", &self.realm_names())
            .field("sessions", &self.session_count())
            .finish_non_exhaustive()
    }
}
