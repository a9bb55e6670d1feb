//! The Broker: subscriptions and event fan-out.
//!
//! Publishing takes no lock: exact topics live in a concurrent map, pattern subscriptions in a
//! copy-on-write [`PatternIndex`] snapshot, and each subscription's subscriber list is a
//! copy-on-write snapshot too. Subscribing and unsubscribing are serialized per realm by a
//! mutex, which also keeps "first subscriber creates the subscription" atomic. Each EVENT is
//! encoded once per serializer and the same bytes go to every subscriber of the subscription
//! (ARCHITECTURE.md, decisions 1 and 3).

use std::sync::Arc;
use std::sync::atomic::Ordering;

use arc_swap::ArcSwap;
use bytes::Bytes;
use parking_lot::Mutex;
use switchboard_proto::ids::random_id;
use switchboard_proto::message::{Event, Message, Publish};
use switchboard_proto::options::EventDetails;
use switchboard_proto::uri::{MatchPolicy, Pattern};
use switchboard_proto::{Format, Id, Value, encode};

use crate::matching::PatternIndex;
use crate::outbox::KillReason;
use crate::peer::Peer;
use crate::stats::Stats;

/// What to do with a subscriber whose outbound queue is full.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SlowConsumerPolicy {
    /// Close the subscriber's session (default): nothing is dropped silently.
    #[default]
    Close,
    /// Drop the event for that subscriber, count it, and keep the session.
    Drop,
}

/// One subscription: a topic pattern and the sessions subscribed to it.
#[derive(Debug)]
pub struct Subscription {
    /// Router-scope id, shared by every subscriber.
    pub id: Id,
    /// Topic and match policy.
    pub pattern: Pattern,
    subscribers: ArcSwap<Vec<Arc<Peer>>>,
}

impl Subscription {
    /// The sessions subscribed, as of now.
    pub fn subscribers(&self) -> Arc<Vec<Arc<Peer>>> {
        self.subscribers.load_full()
    }
}

/// The subscription tables of one realm.
#[derive(Debug, Default)]
pub struct Broker {
    exact: papaya::HashMap<Arc<str>, Arc<Subscription>>,
    patterns: ArcSwap<PatternIndex<Arc<Subscription>>>,
    by_id: papaya::HashMap<Id, Arc<Subscription>>,
    write: Mutex<()>,
}

/// There is no such subscription for this session.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("no such subscription")]
pub struct NoSuchSubscription;

impl Broker {
    /// Subscribes `peer` to `pattern`. `announce` is called with the subscription id before the
    /// subscriber becomes visible to publishers, so a SUBSCRIBED queued there precedes every
    /// EVENT. Subscribing again returns the existing subscription id.
    pub fn subscribe(&self, peer: &Arc<Peer>, pattern: Pattern, announce: impl FnOnce(Id)) -> Id {
        let _w = self.write.lock();
        let sub = match self.find(&pattern) {
            Some(sub) => sub,
            None => {
                let sub = Arc::new(Subscription {
                    id: self.fresh_id(),
                    pattern: pattern.clone(),
                    subscribers: ArcSwap::from_pointee(Vec::new()),
                });
                self.insert(&sub);
                sub
            }
        };
        announce(sub.id);
        let current = sub.subscribers.load();
        if !current.iter().any(|p| p.id() == peer.id()) {
            let mut next = Vec::with_capacity(current.len() + 1);
            next.extend(current.iter().cloned());
            next.push(Arc::clone(peer));
            sub.subscribers.store(Arc::new(next));
        }
        sub.id
    }

    /// Removes `session` from subscription `id`; deletes the subscription when it was the last.
    pub fn unsubscribe(&self, session: Id, id: Id) -> Result<(), NoSuchSubscription> {
        let _w = self.write.lock();
        let sub = self
            .by_id
            .pin()
            .get(&id)
            .cloned()
            .ok_or(NoSuchSubscription)?;
        let current = sub.subscribers.load();
        if !current.iter().any(|p| p.id() == session) {
            return Err(NoSuchSubscription);
        }
        let next: Vec<_> = current
            .iter()
            .filter(|p| p.id() != session)
            .cloned()
            .collect();
        if next.is_empty() {
            self.by_id.pin().remove(&id);
            match sub.pattern.policy() {
                MatchPolicy::Exact => {
                    self.exact.pin().remove(sub.pattern.as_str());
                }
                _ => {
                    let mut index = PatternIndex::clone(&self.patterns.load());
                    index.remove(&sub.pattern);
                    self.patterns.store(Arc::new(index));
                }
            }
        }
        sub.subscribers.store(Arc::new(next));
        Ok(())
    }

    /// The subscription with this id.
    pub fn get(&self, id: Id) -> Option<Arc<Subscription>> {
        self.by_id.pin().get(&id).cloned()
    }

    /// Every subscription whose pattern matches `topic`.
    pub fn matching(&self, topic: &str) -> Vec<Arc<Subscription>> {
        let mut out = Vec::new();
        if let Some(sub) = self.exact.pin().get(topic) {
            out.push(Arc::clone(sub));
        }
        let patterns = self.patterns.load();
        if !patterns.is_empty() {
            out.extend(patterns.matches(topic).map(|(_, s)| Arc::clone(s)));
        }
        out
    }

    /// Delivers a publication to every eligible subscriber and returns its publication id.
    pub fn publish(
        &self,
        publisher: &Arc<Peer>,
        msg: &Publish,
        policy: SlowConsumerPolicy,
        stats: &Stats,
    ) -> Id {
        let publication = random_id();
        let filter = Eligibility::new(publisher, msg);
        for sub in self.matching(&msg.topic) {
            let subscribers = sub.subscribers.load();
            let mut event = EventFrames::new(&sub, publication, publisher, msg);
            for peer in subscribers.iter() {
                if !filter.admits(peer) || peer.is_gone() {
                    continue;
                }
                let Some(frame) = event.frame(peer.format) else {
                    stats.events_undeliverable.fetch_add(1, Ordering::Relaxed);
                    continue;
                };
                if frame.len() > peer.max_message_size {
                    stats.events_undeliverable.fetch_add(1, Ordering::Relaxed);
                    tracing::debug!(session = %peer.id(), "event larger than the subscriber accepts: not delivered");
                    continue;
                }
                stats.events_delivered.fetch_add(1, Ordering::Relaxed);
                if peer.try_push(frame).is_err() {
                    match policy {
                        SlowConsumerPolicy::Close => {
                            stats.slow_consumers_closed.fetch_add(1, Ordering::Relaxed);
                            peer.kill(KillReason::SlowConsumer);
                        }
                        SlowConsumerPolicy::Drop => {
                            stats.events_dropped.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
            }
        }
        publication
    }

    fn find(&self, pattern: &Pattern) -> Option<Arc<Subscription>> {
        match pattern.policy() {
            MatchPolicy::Exact => self.exact.pin().get(pattern.as_str()).cloned(),
            _ => self.patterns.load().get(pattern).cloned(),
        }
    }

    fn insert(&self, sub: &Arc<Subscription>) {
        self.by_id.pin().insert(sub.id, Arc::clone(sub));
        match sub.pattern.policy() {
            MatchPolicy::Exact => {
                self.exact
                    .pin()
                    .insert(Arc::from(sub.pattern.as_str()), Arc::clone(sub));
            }
            _ => {
                let mut index = PatternIndex::clone(&self.patterns.load());
                index.insert(sub.pattern.clone(), Arc::clone(sub));
                self.patterns.store(Arc::new(index));
            }
        }
    }

    fn fresh_id(&self) -> Id {
        let ids = self.by_id.pin();
        loop {
            let id = random_id();
            if !ids.contains_key(&id) {
                return id;
            }
        }
    }
}

/// Publisher exclusion and subscriber black/whitelisting (wamp-spec §5.12, §5.13).
struct Eligibility<'a> {
    publisher: Id,
    exclude_me: bool,
    opts: &'a switchboard_proto::options::PublishOptions,
    filtered: bool,
}

impl<'a> Eligibility<'a> {
    fn new(publisher: &Peer, msg: &'a Publish) -> Eligibility<'a> {
        const LISTS: [&str; 6] = [
            "exclude",
            "exclude_authid",
            "exclude_authrole",
            "eligible",
            "eligible_authid",
            "eligible_authrole",
        ];
        Eligibility {
            publisher: publisher.id(),
            exclude_me: msg.options.exclude_me().unwrap_or(true),
            opts: &msg.options,
            filtered: LISTS.iter().any(|k| msg.options.contains_key(*k)),
        }
    }

    fn admits(&self, peer: &Peer) -> bool {
        if self.exclude_me && peer.id() == self.publisher {
            return false;
        }
        if !self.filtered {
            return true;
        }
        let who = &peer.identity;
        let o = self.opts;
        let in_ids = |l: Option<Vec<Id>>| l.map(|l| l.contains(&who.session));
        let in_strs = |l: Option<Vec<&str>>, s: &str| l.map(|l| l.contains(&s));
        let excluded = in_ids(o.exclude()) == Some(true)
            || in_strs(o.exclude_authid(), &who.authid) == Some(true)
            || in_strs(o.exclude_authrole(), &who.authrole) == Some(true);
        let eligible = in_ids(o.eligible()) != Some(false)
            && in_strs(o.eligible_authid(), &who.authid) != Some(false)
            && in_strs(o.eligible_authrole(), &who.authrole) != Some(false);
        eligible && !excluded
    }
}

/// One subscription's EVENT, encoded at most once per serializer.
struct EventFrames {
    event: Message,
    frames: [Option<Option<Bytes>>; 3],
}

impl EventFrames {
    fn new(sub: &Subscription, publication: Id, publisher: &Peer, msg: &Publish) -> EventFrames {
        let mut details = EventDetails::default();
        if sub.pattern.policy() != MatchPolicy::Exact {
            details.insert("topic".into(), Value::from(msg.topic.as_str()));
        }
        if msg.options.disclose_me() == Some(true) {
            let who = &publisher.identity;
            details.insert("publisher".into(), Value::from(who.session));
            details.insert("publisher_authid".into(), Value::from(&*who.authid));
            details.insert("publisher_authrole".into(), Value::from(&*who.authrole));
        }
        for key in [
            "ppt_scheme",
            "ppt_serializer",
            "ppt_cipher",
            "ppt_keyid",
            "enc_algo",
            "enc_serializer",
            "enc_key",
        ] {
            if let Some(v) = msg.options.get(key) {
                details.insert(key.into(), v.clone());
            }
        }
        EventFrames {
            event: Message::Event(Event {
                subscription: sub.id,
                publication,
                details,
                payload: msg.payload.clone(),
            }),
            frames: [None, None, None],
        }
    }

    /// The EVENT in `format`, or `None` if it cannot be expressed there.
    fn frame(&mut self, format: Format) -> Option<Bytes> {
        let slot = &mut self.frames[format_index(format)];
        slot.get_or_insert_with(|| match encode(&self.event, format) {
            Ok(b) => Some(b),
            Err(e) => {
                tracing::debug!("event cannot be encoded as {format}: {e}");
                None
            }
        })
        .clone()
    }
}

pub(crate) fn format_index(format: Format) -> usize {
    match format {
        Format::Json => 0,
        Format::MessagePack => 1,
        Format::Cbor => 2,
    }
}
