//! The routing table shared by the broker (subscriptions) and the dealer (registrations).
//!
//! Reads take no lock: exact URIs live in a concurrent map, prefix and wildcard patterns in a
//! copy-on-write [`PatternIndex`] snapshot, and every entry is also reachable by its id.
//! Writers must be serialized by the caller (the broker and dealer hold a per-realm mutex).

use std::sync::Arc;

use arc_swap::ArcSwap;
use switchboard_proto::Id;
use switchboard_proto::ids::random_id;
use switchboard_proto::uri::{MatchPolicy, Pattern};

use crate::matching::PatternIndex;

/// Entries keyed by pattern and by id.
#[derive(Debug)]
pub(crate) struct RouteTable<T> {
    exact: papaya::HashMap<Arc<str>, Arc<T>>,
    patterns: ArcSwap<PatternIndex<Arc<T>>>,
    by_id: papaya::HashMap<Id, Arc<T>>,
}

impl<T> Default for RouteTable<T> {
    fn default() -> RouteTable<T> {
        RouteTable {
            exact: papaya::HashMap::new(),
            patterns: ArcSwap::from_pointee(PatternIndex::new()),
            by_id: papaya::HashMap::new(),
        }
    }
}

impl<T: Send + Sync> RouteTable<T> {
    /// The entry for exactly this pattern.
    pub(crate) fn find(&self, pattern: &Pattern) -> Option<Arc<T>> {
        match pattern.policy() {
            MatchPolicy::Exact => self.exact.pin().get(pattern.as_str()).cloned(),
            _ => self.patterns.load().get(pattern).cloned(),
        }
    }

    /// The entry with this id.
    pub(crate) fn get(&self, id: Id) -> Option<Arc<T>> {
        self.by_id.pin().get(&id).cloned()
    }

    /// Every entry.
    pub(crate) fn all(&self) -> Vec<Arc<T>> {
        self.by_id.pin().values().cloned().collect()
    }

    /// The entry whose exact URI is `uri`.
    pub(crate) fn exact(&self, uri: &str) -> Option<Arc<T>> {
        self.exact.pin().get(uri).cloned()
    }

    /// The current pattern snapshot.
    pub(crate) fn patterns(&self) -> arc_swap::Guard<Arc<PatternIndex<Arc<T>>>> {
        self.patterns.load()
    }

    /// An id no entry has (router scope, random).
    pub(crate) fn fresh_id(&self) -> Id {
        let ids = self.by_id.pin();
        loop {
            let id = random_id();
            if !ids.contains_key(&id) {
                return id;
            }
        }
    }

    /// Adds an entry under its id and pattern.
    pub(crate) fn insert(&self, id: Id, pattern: &Pattern, entry: &Arc<T>) {
        self.by_id.pin().insert(id, Arc::clone(entry));
        match pattern.policy() {
            MatchPolicy::Exact => {
                self.exact
                    .pin()
                    .insert(Arc::from(pattern.as_str()), Arc::clone(entry));
            }
            _ => {
                let mut index = PatternIndex::clone(&self.patterns.load());
                index.insert(pattern.clone(), Arc::clone(entry));
                self.patterns.store(Arc::new(index));
            }
        }
    }

    /// Removes the entry with this id and pattern.
    pub(crate) fn remove(&self, id: Id, pattern: &Pattern) {
        self.by_id.pin().remove(&id);
        match pattern.policy() {
            MatchPolicy::Exact => {
                self.exact.pin().remove(pattern.as_str());
            }
            _ => {
                let mut index = PatternIndex::clone(&self.patterns.load());
                index.remove(pattern);
                self.patterns.store(Arc::new(index));
            }
        }
    }
}
