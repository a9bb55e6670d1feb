//! A realm: a routing namespace with its own sessions, broker and dealer.

use std::sync::Arc;
use std::time::Duration;

use switchboard_proto::Id;

use crate::auth::RealmSecurity;
use crate::broker::{Broker, BrokerLimits};
use crate::dealer::Dealer;
use crate::peer::Peer;

/// Per-realm settings.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RealmSettings {
    /// Timeout for calls that do not ask for one.
    pub call_timeout_default: Option<Duration>,
    /// The longest timeout a call may ask for (longer ones are cut to it).
    pub call_timeout_max: Option<Duration>,
    /// Retained events and event history kept by the broker.
    pub broker: BrokerLimits,
}

impl RealmSettings {
    /// The timeout the dealer enforces for a CALL whose `timeout` option is `asked` (ms; 0 or
    /// absent means none asked).
    pub fn effective_timeout(&self, asked: Option<u64>) -> Option<Duration> {
        let asked = asked.filter(|ms| *ms > 0).map(Duration::from_millis);
        let t = asked.or(self.call_timeout_default)?;
        Some(match self.call_timeout_max {
            Some(max) => t.min(max),
            None => t,
        })
    }
}

/// One realm.
#[derive(Debug)]
pub struct Realm {
    /// The realm's URI.
    pub name: Arc<str>,
    /// Its settings.
    pub settings: RealmSettings,
    /// Subscriptions.
    pub broker: Broker,
    /// Registrations.
    pub dealer: Dealer,
    /// Who may join and what they may do.
    pub security: RealmSecurity,
    sessions: papaya::HashMap<Id, Arc<Peer>>,
}

impl Realm {
    /// An empty realm open to anyone ([`RealmSecurity::open`]).
    pub fn new(name: &str, settings: RealmSettings) -> Realm {
        Realm::with_security(name, settings, RealmSecurity::open())
    }

    /// An empty realm with its authenticator and authorizer.
    pub fn with_security(name: &str, settings: RealmSettings, security: RealmSecurity) -> Realm {
        Realm {
            name: Arc::from(name),
            broker: Broker::new(settings.broker.clone()),
            settings,
            dealer: Dealer::default(),
            security,
            sessions: papaya::HashMap::new(),
        }
    }

    /// The sessions joined to this realm.
    pub fn sessions(&self) -> Vec<Arc<Peer>> {
        self.sessions.pin().values().cloned().collect()
    }

    /// How many sessions are joined.
    pub fn session_count(&self) -> usize {
        self.sessions.len()
    }

    /// A joined session by id.
    pub fn session(&self, id: Id) -> Option<Arc<Peer>> {
        self.sessions.pin().get(&id).cloned()
    }

    pub(crate) fn join(&self, peer: &Arc<Peer>) {
        self.sessions.pin().insert(peer.id(), Arc::clone(peer));
    }

    pub(crate) fn leave(&self, id: Id) {
        self.sessions.pin().remove(&id);
    }
}
