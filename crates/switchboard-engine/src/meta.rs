//! The meta API (wamp-spec §6): procedures the router serves itself under `wamp.*`, and the
//! meta events it publishes about sessions, subscriptions and registrations.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use switchboard_proto::message::{Goodbye, Message, Unregistered, Unsubscribed};
use switchboard_proto::names::{CloseReason, ErrorUri, Feature, Role};
use switchboard_proto::options::{
    CloseDetails, PublishOptions, UnregisteredDetails, UnsubscribedDetails,
};
use switchboard_proto::uri::{MatchPolicy, Pattern, Uri};
use switchboard_proto::{Dict, Id, Payload, Value, dict};

use crate::broker::Publication;
use crate::dealer;
use crate::peer::{Peer, Testament, TestamentScope};
use crate::realm::Realm;
use crate::router::Router;

/// A meta procedure's failure: an error URI and a message for the caller.
#[derive(Debug)]
pub(crate) struct MetaError(pub String, pub String);

impl MetaError {
    fn new(uri: ErrorUri, message: impl Into<String>) -> MetaError {
        MetaError(uri.as_str().to_owned(), message.into())
    }
}

type MetaResult = Result<Payload, MetaError>;

/// Publishes a meta event from the router (no publisher) if anyone subscribed to it.
pub(crate) fn event(router: &Router, realm: &Realm, topic: &str, args: Vec<Value>) {
    if realm.broker.matching(topic).is_empty() {
        return;
    }
    let payload = Payload::args(args);
    let options = PublishOptions::default();
    let p = Publication {
        topic,
        publisher: None,
        options: &options,
        payload: &payload,
    };
    realm.broker.publish(
        &p,
        || router.timestamp(),
        router.config.slow_consumer,
        router.stats(),
    );
}

/// `SessionDetails` as `wamp.session.on_join` and `wamp.session.get` show them.
pub(crate) fn session_details(peer: &Peer) -> Dict {
    let who = &peer.identity;
    let mut d = dict! {
        "session" => who.session,
        "authid" => &*who.authid,
        "authrole" => &*who.authrole,
        "authmethod" => &*who.authmethod,
        "authprovider" => &*who.authprovider,
    };
    if !peer.transport.is_empty() {
        d.insert("transport".into(), Value::Dict(peer.transport.clone()));
    }
    d
}

struct Args {
    args: Vec<Value>,
    kwargs: Dict,
}

impl Args {
    fn id(&self, i: usize, what: &str) -> Result<Id, MetaError> {
        self.args.get(i).and_then(Value::as_id).ok_or_else(|| {
            MetaError::new(
                ErrorUri::InvalidArgument,
                format!("argument {i} must be a {what} id"),
            )
        })
    }

    fn str(&self, i: usize, what: &str) -> Result<&str, MetaError> {
        self.args.get(i).and_then(Value::as_str).ok_or_else(|| {
            MetaError::new(
                ErrorUri::InvalidArgument,
                format!("argument {i} must be a {what}"),
            )
        })
    }

    fn policy(&self, i: usize) -> Result<MatchPolicy, MetaError> {
        match self
            .args
            .get(i)
            .and_then(Value::as_dict)
            .and_then(|d| d.get("match"))
        {
            None => Ok(MatchPolicy::Exact),
            Some(v) => v.as_str().and_then(MatchPolicy::parse).ok_or_else(|| {
                MetaError::new(
                    ErrorUri::InvalidArgument,
                    "options.match must be exact, prefix or wildcard",
                )
            }),
        }
    }

    fn authroles(&self) -> Option<Vec<String>> {
        self.args.first().and_then(Value::as_list).map(|l| {
            l.iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect()
        })
    }

    /// `reason` (a URI, default `wamp.close.killed`) and `message` kwargs of the kill procedures.
    fn kill_reason(&self, router: &Router) -> Result<(String, Option<String>), MetaError> {
        let reason = match self.kwargs.get("reason") {
            None => CloseReason::Killed.as_str().to_owned(),
            Some(v) => {
                let s = v.as_str().unwrap_or_default();
                Uri::parse(s, router.config.uri_rules).map_err(|e| {
                    MetaError::new(ErrorUri::InvalidUri, format!("invalid reason {s:?}: {e}"))
                })?;
                s.to_owned()
            }
        };
        let message = self
            .kwargs
            .get("message")
            .and_then(Value::as_str)
            .map(str::to_owned);
        Ok((reason, message))
    }
}

fn one(v: impl Into<Value>) -> Payload {
    Payload::args(vec![v.into()])
}

fn ids(list: impl IntoIterator<Item = Id>) -> Value {
    Value::List(list.into_iter().map(Value::from).collect())
}

/// Serves a call to a `wamp.*` procedure, or `None` if there is no such meta procedure.
pub(crate) fn call(
    router: &Router,
    realm: &Realm,
    caller: &Arc<Peer>,
    procedure: &str,
    payload: &Payload,
) -> Option<MetaResult> {
    let values = match payload.to_values() {
        Ok(v) => v,
        Err(e) => {
            return Some(Err(MetaError::new(
                ErrorUri::InvalidArgument,
                e.to_string(),
            )));
        }
    };
    let a = Args {
        args: values.args,
        kwargs: values.kwargs,
    };
    let result = match procedure {
        "wamp.session.count" => session_list(realm, &a).map(|l| one(l.len())),
        "wamp.session.list" => session_list(realm, &a).map(|l| one(ids(l))),
        "wamp.session.get" => a.id(0, "session").and_then(|id| {
            realm
                .session(id)
                .map(|p| one(Value::Dict(session_details(&p))))
                .ok_or_else(|| MetaError::new(ErrorUri::NoSuchSession, format!("no session {id}")))
        }),
        "wamp.session.kill" => kill_one(router, realm, caller, &a),
        "wamp.authorizer.purge" => match a.kwargs.get("authid") {
            None | Some(Value::Null) => Ok(one(realm.security.authorizer.purge(None))),
            Some(Value::Str(authid)) => Ok(one(realm.security.authorizer.purge(Some(authid)))),
            Some(_) => Err(MetaError::new(
                ErrorUri::InvalidArgument,
                "kwarg authid must be a string",
            )),
        },
        "wamp.session.kill_by_authid" => a.str(0, "authid").and_then(|authid| {
            let (reason, message) = a.kill_reason(router)?;
            let killed = kill_where(
                realm,
                caller,
                |p| &*p.identity.authid == authid,
                &reason,
                message.as_deref(),
                false,
            );
            Ok(one(ids(killed)))
        }),
        "wamp.session.kill_by_authrole" => a.str(0, "authrole").and_then(|authrole| {
            let (reason, message) = a.kill_reason(router)?;
            let killed = kill_where(
                realm,
                caller,
                |p| &*p.identity.authrole == authrole,
                &reason,
                message.as_deref(),
                false,
            );
            Ok(one(killed.len()))
        }),
        "wamp.session.kill_all" => a.kill_reason(router).map(|(reason, message)| {
            let killed = kill_where(realm, caller, |_| true, &reason, message.as_deref(), true);
            one(killed.len())
        }),
        "wamp.session.add_testament" => add_testament(router, caller, &a),
        "wamp.session.flush_testaments" => {
            let scope = a
                .kwargs
                .get("scope")
                .and_then(Value::as_str)
                .unwrap_or("destroyed");
            match TestamentScope::parse(scope) {
                Some(scope) => {
                    // The spec's flush returns nothing (Crossbar returns a count).
                    caller.testaments.lock().retain(|x| x.scope != scope);
                    Ok(Payload::empty())
                }
                None => Err(MetaError::new(
                    ErrorUri::InvalidArgument,
                    "scope must be detached or destroyed",
                )),
            }
        }
        "wamp.registration.list" => {
            let mut by = [Vec::new(), Vec::new(), Vec::new()];
            for r in realm.dealer.all() {
                by[policy_index(r.pattern.policy())].push(r.id);
            }
            Ok(one(policy_lists(by)))
        }
        "wamp.registration.lookup" => a.str(0, "procedure").and_then(|uri| {
            let policy = a.policy(1)?;
            Ok(one(Pattern::parse(uri, policy, router.config.uri_rules)
                .ok()
                .and_then(|p| realm.dealer.lookup_pattern(&p))
                .map(|r| r.id)))
        }),
        "wamp.registration.match" => a
            .str(0, "procedure")
            .map(|uri| one(realm.dealer.lookup(uri).map(|r| r.id))),
        "wamp.registration.get" => registration(realm, &a).map(|r| one(Value::Dict(r.details()))),
        "wamp.registration.list_callees" => {
            registration(realm, &a).map(|r| one(ids(r.callees().iter().map(|p| p.id()))))
        }
        "wamp.registration.count_callees" => {
            registration(realm, &a).map(|r| one(r.callees().len()))
        }
        "wamp.registration.remove_callee" => remove_callee(router, realm, &a),
        "wamp.subscription.list" => {
            let mut by = [Vec::new(), Vec::new(), Vec::new()];
            for s in realm.broker.all() {
                by[policy_index(s.pattern.policy())].push(s.id);
            }
            Ok(one(policy_lists(by)))
        }
        "wamp.subscription.lookup" => a.str(0, "topic").and_then(|uri| {
            let policy = a.policy(1)?;
            Ok(one(Pattern::parse(uri, policy, router.config.uri_rules)
                .ok()
                .and_then(|p| realm.broker.lookup(&p))
                .map(|s| s.id)))
        }),
        "wamp.subscription.match" => a.str(0, "topic").map(|uri| {
            let subs = realm.broker.matching(uri);
            if subs.is_empty() {
                one(Value::Null)
            } else {
                one(ids(subs.iter().map(|s| s.id)))
            }
        }),
        "wamp.subscription.get" => subscription(realm, &a).map(|s| one(Value::Dict(s.details()))),
        "wamp.subscription.list_subscribers" => {
            subscription(realm, &a).map(|s| one(ids(s.subscribers().iter().map(|p| p.id()))))
        }
        "wamp.subscription.count_subscribers" => {
            subscription(realm, &a).map(|s| one(s.subscribers().len()))
        }
        "wamp.subscription.remove_subscriber" => remove_subscriber(router, realm, &a),
        "wamp.subscription.get_events" => get_events(realm, caller, &a),
        _ => return None,
    };
    Some(result)
}

fn policy_index(p: MatchPolicy) -> usize {
    match p {
        MatchPolicy::Exact => 0,
        MatchPolicy::Prefix => 1,
        MatchPolicy::Wildcard => 2,
    }
}

fn policy_lists(by: [Vec<Id>; 3]) -> Value {
    let [exact, prefix, wildcard] = by;
    Value::Dict(dict! {
        "exact" => ids(exact),
        "prefix" => ids(prefix),
        "wildcard" => ids(wildcard),
    })
}

fn session_list(realm: &Realm, a: &Args) -> Result<Vec<Id>, MetaError> {
    let roles = a.authroles();
    Ok(realm
        .sessions()
        .iter()
        .filter(|p| {
            roles
                .as_ref()
                .is_none_or(|r| r.iter().any(|x| x == &*p.identity.authrole))
        })
        .map(|p| p.id())
        .collect())
}

fn registration(realm: &Realm, a: &Args) -> Result<Arc<dealer::Registration>, MetaError> {
    let id = a.id(0, "registration")?;
    realm.dealer.get(id).ok_or_else(|| {
        MetaError::new(
            ErrorUri::NoSuchRegistration,
            format!("no registration {id}"),
        )
    })
}

fn subscription(realm: &Realm, a: &Args) -> Result<Arc<crate::broker::Subscription>, MetaError> {
    let id = a.id(0, "subscription")?;
    realm.broker.get(id).ok_or_else(|| {
        MetaError::new(
            ErrorUri::NoSuchSubscription,
            format!("no subscription {id}"),
        )
    })
}

/// Tells a session GOODBYE and closes it.
pub(crate) fn kill(peer: &Peer, reason: &str, message: Option<&str>) {
    peer.goodbye_sent.store(true, Ordering::Release);
    let mut details = CloseDetails::default();
    if let Some(m) = message {
        details.insert("message".into(), Value::from(m));
    }
    dealer::send(
        peer,
        &Message::Goodbye(Goodbye {
            details,
            reason: reason.to_owned(),
        }),
    );
    peer.close();
}

fn kill_one(router: &Router, realm: &Realm, caller: &Peer, a: &Args) -> MetaResult {
    let id = a.id(0, "session")?;
    let (reason, message) = a.kill_reason(router)?;
    match realm.session(id) {
        Some(p) if p.id() != caller.id() => {
            kill(&p, &reason, message.as_deref());
            Ok(Payload::empty())
        }
        _ => Err(MetaError::new(
            ErrorUri::NoSuchSession,
            format!("no session {id} to kill"),
        )),
    }
}

fn kill_where(
    realm: &Realm,
    caller: &Peer,
    select: impl Fn(&Peer) -> bool,
    reason: &str,
    message: Option<&str>,
    quietly: bool,
) -> Vec<Id> {
    let mut killed = Vec::new();
    for p in realm.sessions() {
        if p.id() != caller.id() && !p.goodbye_sent.load(Ordering::Acquire) && select(&p) {
            if quietly {
                p.quiet_leave.store(true, Ordering::Release);
            }
            kill(&p, reason, message);
            killed.push(p.id());
        }
    }
    killed
}

fn add_testament(router: &Router, caller: &Peer, a: &Args) -> MetaResult {
    let topic = a.str(0, "topic")?;
    Uri::parse(topic, router.config.uri_rules).map_err(|e| {
        MetaError::new(
            ErrorUri::InvalidUri,
            format!("invalid topic {topic:?}: {e}"),
        )
    })?;
    let args = a
        .args
        .get(1)
        .and_then(Value::as_list)
        .map(<[Value]>::to_vec)
        .unwrap_or_default();
    let kwargs = a
        .args
        .get(2)
        .and_then(Value::as_dict)
        .cloned()
        .unwrap_or_default();
    let options = match a.kwargs.get("publish_options") {
        None => PublishOptions::default(),
        Some(Value::Dict(d)) => PublishOptions::from_dict(d.clone()).map_err(|e| {
            MetaError::new(ErrorUri::InvalidArgument, format!("publish_options: {e}"))
        })?,
        Some(_) => {
            return Err(MetaError::new(
                ErrorUri::InvalidArgument,
                "publish_options must be a dict",
            ));
        }
    };
    let scope = a
        .kwargs
        .get("scope")
        .and_then(Value::as_str)
        .unwrap_or("destroyed");
    let scope = TestamentScope::parse(scope).ok_or_else(|| {
        MetaError::new(
            ErrorUri::InvalidArgument,
            "scope must be detached or destroyed",
        )
    })?;
    let mut t = caller.testaments.lock();
    if t.len() >= router.config.max_testaments {
        return Err(MetaError::new(
            ErrorUri::InvalidArgument,
            format!(
                "a session may hold at most {} testaments",
                router.config.max_testaments
            ),
        ));
    }
    t.push(Testament {
        scope,
        topic: topic.to_owned(),
        options,
        payload: Payload::new(args, kwargs),
    });
    Ok(Payload::empty())
}

/// Publishes a leaving session's testaments: detached first, then destroyed (wamp-spec §6.4).
pub(crate) fn publish_testaments(router: &Router, realm: &Realm, peer: &Peer) {
    let testaments = std::mem::take(&mut *peer.testaments.lock());
    for scope in [TestamentScope::Detached, TestamentScope::Destroyed] {
        for t in testaments.iter().filter(|t| t.scope == scope) {
            let p = Publication {
                topic: &t.topic,
                publisher: Some(peer),
                options: &t.options,
                payload: &t.payload,
            };
            realm.broker.publish(
                &p,
                || router.timestamp(),
                router.config.slow_consumer,
                router.stats(),
            );
        }
    }
}

fn remove_callee(router: &Router, realm: &Realm, a: &Args) -> MetaResult {
    let reg = registration(realm, a)?;
    let callee = a.id(1, "callee session")?;
    let reason = a.args.get(2).and_then(Value::as_str).map(str::to_owned);
    let peer = reg
        .callees()
        .iter()
        .find(|p| p.id() == callee)
        .cloned()
        .ok_or_else(|| {
            MetaError::new(
                ErrorUri::NoSuchSession,
                format!("session {callee} is not a callee of {}", reg.id),
            )
        })?;
    let deleted = realm.dealer.unregister(callee, reg.id).map_err(|_| {
        MetaError::new(
            ErrorUri::NoSuchRegistration,
            format!("no registration {}", reg.id),
        )
    })?;
    if peer
        .roles
        .has(Role::Callee, Feature::RegistrationRevocation)
    {
        let mut details = UnregisteredDetails::default().with("registration", reg.id);
        if let Some(r) = &reason {
            details.insert("reason".into(), Value::from(r.as_str()));
        }
        dealer::send(
            &peer,
            &Message::Unregistered(Unregistered {
                request: None,
                details: Some(details),
            }),
        );
    }
    registration_removed(router, realm, callee, reg.id, deleted);
    Ok(Payload::empty())
}

fn remove_subscriber(router: &Router, realm: &Realm, a: &Args) -> MetaResult {
    let sub = subscription(realm, a)?;
    let subscriber = a.id(1, "subscriber session")?;
    let reason = a.args.get(2).and_then(Value::as_str).map(str::to_owned);
    let peer = sub
        .subscribers()
        .iter()
        .find(|p| p.id() == subscriber)
        .cloned()
        .ok_or_else(|| {
            MetaError::new(
                ErrorUri::NoSuchSession,
                format!("session {subscriber} is not subscribed to {}", sub.id),
            )
        })?;
    let deleted = realm.broker.unsubscribe(subscriber, sub.id).map_err(|_| {
        MetaError::new(
            ErrorUri::NoSuchSubscription,
            format!("no subscription {}", sub.id),
        )
    })?;
    if peer
        .roles
        .has(Role::Subscriber, Feature::SubscriptionRevocation)
    {
        let mut details = UnsubscribedDetails::default().with("subscription", sub.id);
        if let Some(r) = &reason {
            details.insert("reason".into(), Value::from(r.as_str()));
        }
        dealer::send(
            &peer,
            &Message::Unsubscribed(Unsubscribed {
                request: None,
                details: Some(details),
            }),
        );
    }
    subscription_removed(router, realm, subscriber, sub.id, deleted);
    Ok(Payload::empty())
}

/// `on_unregister`, then `on_delete` if the registration is gone.
pub(crate) fn registration_removed(
    router: &Router,
    realm: &Realm,
    session: Id,
    id: Id,
    deleted: bool,
) {
    event(
        router,
        realm,
        "wamp.registration.on_unregister",
        vec![session.into(), id.into()],
    );
    if deleted {
        event(
            router,
            realm,
            "wamp.registration.on_delete",
            vec![session.into(), id.into()],
        );
    }
}

/// `on_unsubscribe`, then `on_delete` if the subscription is gone.
pub(crate) fn subscription_removed(
    router: &Router,
    realm: &Realm,
    session: Id,
    id: Id,
    deleted: bool,
) {
    event(
        router,
        realm,
        "wamp.subscription.on_unsubscribe",
        vec![session.into(), id.into()],
    );
    if deleted {
        event(
            router,
            realm,
            "wamp.subscription.on_delete",
            vec![session.into(), id.into()],
        );
    }
}

fn get_events(realm: &Realm, caller: &Peer, a: &Args) -> MetaResult {
    let sub = subscription(realm, a)?;
    let mut events = realm.broker.history_for(&sub, &caller.identity);
    if let Some(topic) = a.kwargs.get("topic").and_then(Value::as_str) {
        events.retain(|e| e.topic == topic);
    }
    let position = |key: &str| {
        a.kwargs
            .get(key)
            .and_then(Value::as_id)
            .and_then(|id| events.iter().position(|e| e.publication == id))
    };
    let (from, after, before, until) = (
        position("from_publication"),
        position("after_publication"),
        position("before_publication"),
        position("until_publication"),
    );
    let start = from.or(after.map(|i| i + 1)).unwrap_or(0);
    let end = until.map(|i| i + 1).or(before).unwrap_or(events.len());
    let mut selected: Vec<_> = events
        .get(start..end.max(start))
        .unwrap_or_default()
        .to_vec();
    if a.kwargs.get("reverse").and_then(Value::as_bool) == Some(true) {
        selected.reverse();
    }
    if let Some(limit) = a.kwargs.get("limit").and_then(Value::as_u64) {
        selected.truncate(limit as usize);
    }
    let list = selected
        .into_iter()
        .map(|e| {
            let mut d = dict! {
                "timestamp" => e.timestamp.as_str(),
                "subscription" => sub.id,
                "publication" => e.publication,
                "details" => dict! { "topic" => e.topic.as_str() },
            };
            if let Ok(v) = e.payload.to_values() {
                if !v.args.is_empty() {
                    d.insert("args".into(), Value::List(v.args));
                }
                if !v.kwargs.is_empty() {
                    d.insert("kwargs".into(), Value::Dict(v.kwargs));
                }
            }
            Value::Dict(d)
        })
        .collect();
    Ok(one(Value::List(list)))
}
