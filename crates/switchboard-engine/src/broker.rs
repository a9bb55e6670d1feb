//! The Broker: subscriptions, event fan-out, retained events and event history.
//!
//! Publishing takes no lock on the subscription tables: exact topics live in a concurrent map,
//! pattern subscriptions in a copy-on-write [`PatternIndex`](crate::matching::PatternIndex) snapshot, and each subscription's
//! subscriber list is a copy-on-write snapshot too. Subscribing and unsubscribing are
//! serialized per realm by a mutex, which also keeps "first subscriber creates the
//! subscription" atomic. Each EVENT is encoded once per serializer and the same bytes go to
//! every subscriber of the subscription (ARCHITECTURE.md, decisions 1 and 3). Retention and
//! history, when used, take their own small locks.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use arc_swap::ArcSwap;
use bytes::Bytes;
use parking_lot::Mutex;
use switchboard_proto::ids::random_id;
use switchboard_proto::message::{Event, Message, Publish};
use switchboard_proto::options::{EventDetails, PublishOptions};
use switchboard_proto::uri::{MatchPolicy, Pattern};
use switchboard_proto::{Dict, Format, Id, Payload, Value, encode};

use crate::outbox::KillReason;
use crate::peer::{Identity, Peer};
use crate::stats::Stats;
use crate::table::RouteTable;

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
    /// When it was created (ISO 8601, UTC).
    pub created: String,
    subscribers: ArcSwap<Vec<Arc<Peer>>>,
}

impl Subscription {
    /// The sessions subscribed, as of now.
    pub fn subscribers(&self) -> Arc<Vec<Arc<Peer>>> {
        self.subscribers.load_full()
    }

    /// `SubscriptionDetails` as the meta API shows them.
    pub fn details(&self) -> Dict {
        switchboard_proto::dict! {
            "id" => self.id,
            "created" => self.created.as_str(),
            "uri" => self.pattern.as_str(),
            "match" => self.pattern.policy().as_str(),
        }
    }
}

/// A publication as the broker keeps it for retention and history.
#[derive(Clone, Debug)]
pub struct StoredEvent {
    /// Arrival order in the broker.
    pub seq: u64,
    /// The publication id.
    pub publication: Id,
    /// The topic published to.
    pub topic: String,
    /// When it arrived (ISO 8601, UTC).
    pub timestamp: String,
    /// The publisher, when the event came from a session.
    pub publisher: Option<Identity>,
    /// The PUBLISH options (eligibility and disclosure are re-applied on replay).
    pub options: PublishOptions,
    /// The payload, as received.
    pub payload: Payload,
}

/// Bounds on what the broker keeps.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BrokerLimits {
    /// How many topics may hold a retained event (0: retention off).
    pub max_retained: usize,
    /// Topics whose events are kept for `wamp.subscription.get_events`, with how many each.
    pub history: Vec<(Pattern, usize)>,
}

/// The subscription tables of one realm.
#[derive(Debug, Default)]
pub struct Broker {
    table: RouteTable<Subscription>,
    write: Mutex<()>,
    limits: BrokerLimits,
    retained: Mutex<HashMap<String, StoredEvent>>,
    history: Mutex<HashMap<String, VecDeque<StoredEvent>>>,
    seq: AtomicU64,
}

/// There is no such subscription for this session.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("no such subscription")]
pub struct NoSuchSubscription;

/// What a publication is and who sent it, for one fan-out.
pub(crate) struct Publication<'a> {
    pub topic: &'a str,
    pub publisher: Option<&'a Peer>,
    pub options: &'a PublishOptions,
    pub payload: &'a Payload,
}

impl Broker {
    /// A broker keeping retained events and history within `limits`.
    pub fn new(limits: BrokerLimits) -> Broker {
        Broker {
            limits,
            ..Broker::default()
        }
    }

    /// Subscribes `peer` to `pattern`. `announce` is called with the subscription id before the
    /// subscriber becomes visible to publishers, so a SUBSCRIBED queued there precedes every
    /// EVENT. Subscribing again returns the existing subscription id. Returns the id and
    /// whether the subscription was created by this call.
    pub fn subscribe(
        &self,
        peer: &Arc<Peer>,
        pattern: Pattern,
        created: impl FnOnce() -> String,
        announce: impl FnOnce(Id),
    ) -> (Id, bool) {
        let _w = self.write.lock();
        let (sub, is_new) = match self.table.find(&pattern) {
            Some(sub) => (sub, false),
            None => {
                let sub = Arc::new(Subscription {
                    id: self.table.fresh_id(),
                    pattern: pattern.clone(),
                    created: created(),
                    subscribers: ArcSwap::from_pointee(Vec::new()),
                });
                self.table.insert(sub.id, &sub.pattern, &sub);
                (sub, true)
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
        (sub.id, is_new)
    }

    /// Removes `session` from subscription `id`; deletes the subscription when it was the last.
    /// Returns whether it was deleted.
    pub fn unsubscribe(&self, session: Id, id: Id) -> Result<bool, NoSuchSubscription> {
        let _w = self.write.lock();
        let sub = self.table.get(id).ok_or(NoSuchSubscription)?;
        let current = sub.subscribers.load();
        if !current.iter().any(|p| p.id() == session) {
            return Err(NoSuchSubscription);
        }
        let next: Vec<_> = current
            .iter()
            .filter(|p| p.id() != session)
            .cloned()
            .collect();
        let deleted = next.is_empty();
        if deleted {
            self.table.remove(id, &sub.pattern);
        }
        sub.subscribers.store(Arc::new(next));
        Ok(deleted)
    }

    /// The subscription with this id.
    pub fn get(&self, id: Id) -> Option<Arc<Subscription>> {
        self.table.get(id)
    }

    /// The subscription for exactly this pattern.
    pub fn lookup(&self, pattern: &Pattern) -> Option<Arc<Subscription>> {
        self.table.find(pattern)
    }

    /// Every subscription.
    pub fn all(&self) -> Vec<Arc<Subscription>> {
        self.table.all()
    }

    /// Every subscription whose pattern matches `topic`.
    pub fn matching(&self, topic: &str) -> Vec<Arc<Subscription>> {
        let mut out: Vec<_> = self.table.exact(topic).into_iter().collect();
        let patterns = self.table.patterns();
        if !patterns.is_empty() {
            out.extend(patterns.matches(topic).map(|(_, s)| Arc::clone(s)));
        }
        out
    }

    /// Delivers a publication to every eligible subscriber; keeps it for retention and
    /// history as configured. Returns its publication id.
    pub(crate) fn publish(
        &self,
        p: &Publication<'_>,
        timestamp: impl FnOnce() -> String,
        policy: SlowConsumerPolicy,
        stats: &Stats,
    ) -> Id {
        let publication = random_id();
        let filter = Eligibility::new(p.publisher.map(Peer::id), p.options);
        let subs = self.matching(p.topic);
        for sub in &subs {
            let subscribers = sub.subscribers.load();
            let mut event = EventFrames::new(sub, publication, p, false);
            for peer in subscribers.iter() {
                if !filter.admits(&peer.identity) || peer.is_gone() {
                    continue;
                }
                deliver(peer, &mut event, policy, stats);
            }
        }
        let wants_retain = p.options.retain() == Some(true) && self.limits.max_retained > 0;
        let wants_history = !filter.by_session && self.history_limit(p.topic).is_some();
        if wants_retain || wants_history {
            let stored = StoredEvent {
                seq: self.seq.fetch_add(1, Ordering::Relaxed),
                publication,
                topic: p.topic.to_owned(),
                timestamp: timestamp(),
                publisher: p.publisher.map(|x| x.identity.clone()),
                options: p.options.clone(),
                payload: p.payload.clone(),
            };
            if wants_history && let Some(limit) = self.history_limit(p.topic) {
                let mut history = self.history.lock();
                let q = history.entry(p.topic.to_owned()).or_default();
                q.push_back(stored.clone());
                while q.len() > limit {
                    q.pop_front();
                }
            }
            if wants_retain {
                let mut retained = self.retained.lock();
                if retained.len() < self.limits.max_retained || retained.contains_key(p.topic) {
                    retained.insert(p.topic.to_owned(), stored);
                } else {
                    tracing::debug!(topic = p.topic, "retained-event store full: not retained");
                }
            }
        }
        publication
    }

    /// Sends `peer` the retained events its new subscription `sub` covers (after SUBSCRIBED),
    /// each only if the subscriber would have been eligible when it was published.
    pub(crate) fn send_retained(
        &self,
        peer: &Peer,
        sub: Id,
        policy: SlowConsumerPolicy,
        stats: &Stats,
    ) {
        let Some(sub) = self.get(sub) else {
            return;
        };
        let mut events: Vec<StoredEvent> = self
            .retained
            .lock()
            .values()
            .filter(|e| sub.pattern.matches(&e.topic))
            .cloned()
            .collect();
        events.sort_by_key(|e| e.seq);
        for e in events {
            let filter = Eligibility::new(e.publisher.as_ref().map(|i| i.session), &e.options);
            if !filter.admits_ignoring_self(&peer.identity) {
                continue;
            }
            let p = Publication {
                topic: &e.topic,
                publisher: None,
                options: &e.options,
                payload: &e.payload,
            };
            let mut frames = EventFrames::new(&sub, e.publication, &p, true);
            if let Some(who) = &e.publisher {
                frames.disclose(who, &e.options);
            }
            deliver(peer, &mut frames, policy, stats);
        }
    }

    /// The history kept for the topics `sub` covers, oldest first, filtered for `reader`.
    pub(crate) fn history_for(&self, sub: &Subscription, reader: &Identity) -> Vec<StoredEvent> {
        let history = self.history.lock();
        let mut out: Vec<StoredEvent> = history
            .iter()
            .filter(|(topic, _)| sub.pattern.matches(topic))
            .flat_map(|(_, q)| q.iter())
            .filter(|e| Eligibility::new(None, &e.options).admits_ignoring_self(reader))
            .cloned()
            .collect();
        out.sort_by_key(|e| e.seq);
        out
    }

    fn history_limit(&self, topic: &str) -> Option<usize> {
        self.limits
            .history
            .iter()
            .find(|(p, _)| p.matches(topic))
            .map(|(_, n)| *n)
    }
}

/// Hands one subscriber its copy of an EVENT, applying the slow-consumer policy.
fn deliver(peer: &Peer, event: &mut EventFrames, policy: SlowConsumerPolicy, stats: &Stats) {
    let Some(frame) = event.frame(peer.format) else {
        stats.events_undeliverable.fetch_add(1, Ordering::Relaxed);
        return;
    };
    if frame.len() > peer.max_message_size {
        stats.events_undeliverable.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(session = %peer.id(), "event larger than the subscriber accepts: not delivered");
        return;
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

/// Publisher exclusion and subscriber black/whitelisting (wamp-spec §5.12, §5.13).
struct Eligibility<'a> {
    publisher: Option<Id>,
    exclude_me: bool,
    opts: &'a PublishOptions,
    filtered: bool,
    /// The publication names sessions by id (not kept in history: ids are ephemeral).
    by_session: bool,
}

impl<'a> Eligibility<'a> {
    fn new(publisher: Option<Id>, opts: &'a PublishOptions) -> Eligibility<'a> {
        const LISTS: [&str; 6] = [
            "exclude",
            "exclude_authid",
            "exclude_authrole",
            "eligible",
            "eligible_authid",
            "eligible_authrole",
        ];
        Eligibility {
            publisher,
            exclude_me: opts.exclude_me().unwrap_or(true),
            opts,
            filtered: LISTS.iter().any(|k| opts.contains_key(*k)),
            by_session: opts.contains_key("exclude") || opts.contains_key("eligible"),
        }
    }

    fn admits(&self, who: &Identity) -> bool {
        if self.exclude_me && Some(who.session) == self.publisher {
            return false;
        }
        self.admits_ignoring_self(who)
    }

    fn admits_ignoring_self(&self, who: &Identity) -> bool {
        if !self.filtered {
            return true;
        }
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
    fn new(
        sub: &Subscription,
        publication: Id,
        p: &Publication<'_>,
        retained: bool,
    ) -> EventFrames {
        let mut details = EventDetails::default();
        if sub.pattern.policy() != MatchPolicy::Exact {
            details.insert("topic".into(), Value::from(p.topic));
        }
        if retained {
            details.insert("retained".into(), Value::Bool(true));
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
            if let Some(v) = p.options.get(key) {
                details.insert(key.into(), v.clone());
            }
        }
        let mut frames = EventFrames {
            event: Message::Event(Event {
                subscription: sub.id,
                publication,
                details,
                payload: p.payload.clone(),
            }),
            frames: [None, None, None],
        };
        if let Some(publisher) = p.publisher {
            frames.disclose(&publisher.identity, p.options);
        }
        frames
    }

    /// Adds the publisher's identity when it asked for disclosure.
    fn disclose(&mut self, who: &Identity, options: &PublishOptions) {
        if options.disclose_me() == Some(true)
            && let Message::Event(e) = &mut self.event
        {
            let d = &mut e.details;
            d.insert("publisher".into(), Value::from(who.session));
            d.insert("publisher_authid".into(), Value::from(&*who.authid));
            d.insert("publisher_authrole".into(), Value::from(&*who.authrole));
        }
    }

    /// The EVENT in `format`, or `None` if it cannot be expressed there.
    fn frame(&mut self, format: Format) -> Option<Bytes> {
        let event = &self.event;
        self.frames[format_index(format)]
            .get_or_insert_with(|| match encode(event, format) {
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

/// A PUBLISH as the broker's input (for router-originated events, no publisher).
impl<'a> Publication<'a> {
    pub(crate) fn from_message(msg: &'a Publish, publisher: &'a Peer) -> Publication<'a> {
        Publication {
            topic: &msg.topic,
            publisher: Some(publisher),
            options: &msg.options,
            payload: &msg.payload,
        }
    }
}
