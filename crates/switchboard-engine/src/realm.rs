//! A realm: a routing namespace with its own sessions, broker and dealer.

use std::sync::Arc;

use switchboard_proto::Id;

use crate::broker::Broker;
use crate::dealer::Dealer;
use crate::peer::Peer;

/// One realm.
#[derive(Debug)]
pub struct Realm {
    /// The realm's URI.
    pub name: Arc<str>,
    /// Subscriptions.
    pub broker: Broker,
    /// Registrations.
    pub dealer: Dealer,
    sessions: papaya::HashMap<Id, Arc<Peer>>,
}

impl Realm {
    /// An empty realm.
    pub fn new(name: &str) -> Realm {
        Realm {
            name: Arc::from(name),
            broker: Broker::default(),
            dealer: Dealer::default(),
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
