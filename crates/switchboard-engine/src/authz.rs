//! Authorization: may this session call, register, publish or subscribe on this URI?
//!
//! A realm has one [`Authorizer`], asked before every CALL (meta procedures under `wamp.`
//! included), REGISTER, PUBLISH and SUBSCRIBE. A denial is answered with ERROR
//! `wamp.error.not_authorized` (an unacknowledged PUBLISH gets nothing, as the spec says for
//! every PUBLISH error). An allowed CALL or PUBLISH may be marked `disclose`: the router then
//! discloses the caller or publisher to the callee or subscribers, as if it had asked for
//! `disclose_me`.
//!
//! [`RoleAuthorizer`] decides from per-role permission rules. Each rule names a URI with a
//! match policy, so for one URI several rules may match; the one that applies is chosen with
//! the precedence of registrations (wamp-spec §5.7): an exact rule, else the longest matching
//! prefix rule, else the best wildcard rule. Only that rule counts, so a specific rule can deny
//! what a broader one allows. A SUBSCRIBE or REGISTER with a prefix or wildcard pattern is
//! checked with the pattern's text as the URI: a prefix subscription to `public.` is allowed by
//! a prefix rule `public.`, a prefix subscription to everything (`""`) is not.
//!
//! ```
//! use switchboard_engine::authz::{Action, Authorization, Authorizer, Permission, RoleAuthorizer};
//! use switchboard_proto::uri::{MatchPolicy, Pattern, UriRules};
//!
//! let mut authz = RoleAuthorizer::new();
//! let public = Pattern::parse("public.", MatchPolicy::Prefix, UriRules::Loose)?;
//! authz.add_rule("anonymous", public, Permission { call: true, subscribe: true, ..Permission::NONE });
//! assert_eq!(authz.decide("anonymous", Action::Call, "public.time"), Authorization::Allow { disclose: false });
//! assert_eq!(authz.decide("anonymous", Action::Publish, "public.time"), Authorization::Deny);
//! assert_eq!(authz.decide("anonymous", Action::Call, "private.x"), Authorization::Deny);
//! assert_eq!(authz.decide("nobody", Action::Call, "public.time"), Authorization::Deny);
//! # Ok::<(), switchboard_proto::uri::UriError>(())
//! ```

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use switchboard_proto::{Dict, Value};

use switchboard_proto::uri::Pattern;

use crate::auth::{DeferredCall, DeferredError, DeferredReply};
use crate::matching::PatternIndex;
use crate::peer::Identity;

/// What a session wants to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    /// CALL a procedure.
    Call,
    /// REGISTER a procedure.
    Register,
    /// PUBLISH to a topic.
    Publish,
    /// SUBSCRIBE to a topic.
    Subscribe,
}

impl Action {
    /// The action's name as in config files and the spec (`call`, `register`, …).
    pub const fn as_str(self) -> &'static str {
        match self {
            Action::Call => "call",
            Action::Register => "register",
            Action::Publish => "publish",
            Action::Subscribe => "subscribe",
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An authorizer's answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Authorization {
    /// Go ahead; for CALL and PUBLISH, `disclose` makes the router disclose the caller or
    /// publisher.
    Allow {
        /// Disclose the caller (CALL) or publisher (PUBLISH).
        disclose: bool,
    },
    /// Refuse with `wamp.error.not_authorized`.
    Deny,
}

impl Authorization {
    /// Whether the action may go ahead.
    pub fn is_allowed(self) -> bool {
        matches!(self, Authorization::Allow { .. })
    }
}

/// Decides what sessions may do, per realm.
pub trait Authorizer: Send + Sync + fmt::Debug + 'static {
    /// May `who` do `action` on `uri` (a URI, or for pattern subscriptions and registrations
    /// the pattern's text)? An authorizer that needs a WAMP call for the answer (see
    /// [`Authorizer::check`]) answers [`Authorization::Deny`] here when it has no cached
    /// decision.
    fn authorize(&self, who: &Identity, action: Action, uri: &str) -> Authorization;

    /// Like [`Authorizer::authorize`], but may ask for a WAMP call instead of answering: the
    /// session then parks the message until the call's outcome is handed to
    /// [`Authorizer::answer`]. `now` is the engine clock's time (for cached answers).
    fn check(&self, who: &Identity, action: Action, uri: &str, now: Instant) -> Check {
        let _ = now;
        Check::Decided(self.authorize(who, action, uri))
    }

    /// Turns the outcome of the call asked for by [`Authorizer::check`] into a decision
    /// (caching it when allowed); `Err` is a failure of the authorizer (a message for
    /// `wamp.error.authorization_failed`).
    fn answer(
        &self,
        who: &Identity,
        action: Action,
        uri: &str,
        now: Instant,
        result: Result<DeferredReply, DeferredError>,
    ) -> Result<Authorization, String> {
        let _ = (who, action, uri, now, result);
        Err("this authorizer makes no calls".to_owned())
    }

    /// Forgets cached decisions (only those of `authid` if given); returns how many.
    fn purge(&self, authid: Option<&str>) -> usize {
        let _ = authid;
        0
    }
}

/// What [`Authorizer::check`] says.
#[derive(Clone, Debug, PartialEq)]
pub enum Check {
    /// The decision.
    Decided(Authorization),
    /// Make this call (the session's owner does) and hand its outcome to
    /// [`Authorizer::answer`].
    Ask(DeferredCall),
}

/// Allows everything and discloses nothing (the development setup).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AllowAll;

impl Authorizer for AllowAll {
    fn authorize(&self, _: &Identity, _: Action, _: &str) -> Authorization {
        Authorization::Allow { disclose: false }
    }
}

/// What one rule allows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Permission {
    /// CALL.
    pub call: bool,
    /// REGISTER.
    pub register: bool,
    /// PUBLISH.
    pub publish: bool,
    /// SUBSCRIBE.
    pub subscribe: bool,
    /// Disclose the caller of allowed calls to the callee.
    pub disclose_caller: bool,
    /// Disclose the publisher of allowed publications to subscribers.
    pub disclose_publisher: bool,
}

impl Permission {
    /// Nothing allowed.
    pub const NONE: Permission = Permission {
        call: false,
        register: false,
        publish: false,
        subscribe: false,
        disclose_caller: false,
        disclose_publisher: false,
    };

    /// Every action allowed, nothing disclosed.
    pub const ALL: Permission = Permission {
        call: true,
        register: true,
        publish: true,
        subscribe: true,
        disclose_caller: false,
        disclose_publisher: false,
    };

    /// The answer this rule gives for `action`.
    pub fn decide(&self, action: Action) -> Authorization {
        let (allowed, disclose) = match action {
            Action::Call => (self.call, self.disclose_caller),
            Action::Register => (self.register, false),
            Action::Publish => (self.publish, self.disclose_publisher),
            Action::Subscribe => (self.subscribe, false),
        };
        if allowed {
            Authorization::Allow { disclose }
        } else {
            Authorization::Deny
        }
    }
}

/// Role-based authorization from permission rules; see the module docs. A role without rules,
/// and a URI no rule of the role matches, are denied.
#[derive(Clone, Default)]
pub struct RoleAuthorizer {
    roles: HashMap<String, PatternIndex<Permission>>,
}

impl fmt::Debug for RoleAuthorizer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut roles: Vec<(&str, usize)> = self
            .roles
            .iter()
            .map(|(name, rules)| (name.as_str(), rules.len()))
            .collect();
        roles.sort_unstable();
        f.debug_struct("RoleAuthorizer")
            .field("roles", &roles)
            .finish()
    }
}

impl RoleAuthorizer {
    /// No roles: everything is denied.
    pub fn new() -> RoleAuthorizer {
        RoleAuthorizer::default()
    }

    /// Declares `role` (so it exists even without rules, denied everything).
    pub fn add_role(&mut self, role: impl Into<String>) {
        self.roles.entry(role.into()).or_default();
    }

    /// Adds (or replaces) the rule for `pattern` in `role`.
    pub fn add_rule(&mut self, role: impl Into<String>, pattern: Pattern, permission: Permission) {
        self.roles
            .entry(role.into())
            .or_default()
            .insert(pattern, permission);
    }

    /// Whether `role` is declared.
    pub fn has_role(&self, role: &str) -> bool {
        self.roles.contains_key(role)
    }

    /// The decision for `role` doing `action` on `uri`.
    pub fn decide(&self, role: &str, action: Action, uri: &str) -> Authorization {
        self.roles
            .get(role)
            .and_then(|rules| rules.best_match(uri))
            .map_or(Authorization::Deny, |(_, permission)| {
                permission.decide(action)
            })
    }
}

impl Authorizer for RoleAuthorizer {
    fn authorize(&self, who: &Identity, action: Action, uri: &str) -> Authorization {
        self.decide(&who.authrole, action, uri)
    }
}

/// How many cached decisions a [`DynamicAuthorizer`] keeps; the oldest go first.
pub const CACHE_CAPACITY: usize = 10_000;

/// Who asked what: the key of a cached decision, so that per-user decisions stay apart.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct CacheKey {
    realm: String,
    authid: String,
    authrole: String,
    action: Action,
    uri: String,
}

impl CacheKey {
    fn new(who: &Identity, action: Action, uri: &str) -> CacheKey {
        CacheKey {
            realm: who.realm.to_string(),
            authid: who.authid.to_string(),
            authrole: who.authrole.to_string(),
            action,
            uri: uri.to_owned(),
        }
    }
}

#[derive(Debug, Default)]
struct Cache {
    entries: HashMap<CacheKey, (Authorization, Instant)>,
    /// Insertion order, for evicting the oldest (may hold keys already gone).
    order: VecDeque<CacheKey>,
}

/// The dynamic authorizer: sessions with one of its roles are authorized by a WAMP procedure
/// (as Crossbar's dynamic authorizer), the rest by a static authorizer.
///
/// The procedure is called with `(session_details, uri, action, options)` — `session_details`
/// holds `session`, `realm`, `authid`, `authrole`, `authmethod` and `authprovider` — and
/// returns `true`/`false` or a dictionary `{"allow": bool, "disclose": bool, "cache": bool}`.
/// With a cache TTL, an answer is cached for that long under (realm, authid, authrole, action,
/// URI) when it says `cache: true` (a plain boolean counts as cacheable).
#[derive(Debug)]
pub struct DynamicAuthorizer {
    procedure: String,
    realm: Option<String>,
    roles: Vec<String>,
    ttl: Option<Duration>,
    fallback: Arc<dyn Authorizer>,
    cache: Mutex<Cache>,
}

impl DynamicAuthorizer {
    /// Calls `procedure` (registered on `realm`, or on the session's realm if `None`) for
    /// sessions whose authrole is one of `roles`; caches answers for `ttl` (`None` or zero: no
    /// caching); leaves other sessions to `fallback`.
    pub fn new(
        procedure: impl Into<String>,
        realm: Option<String>,
        roles: Vec<String>,
        ttl: Option<Duration>,
        fallback: Arc<dyn Authorizer>,
    ) -> DynamicAuthorizer {
        DynamicAuthorizer {
            procedure: procedure.into(),
            realm,
            roles,
            ttl: ttl.filter(|t| !t.is_zero()),
            fallback,
            cache: Mutex::new(Cache::default()),
        }
    }

    fn handles(&self, who: &Identity) -> bool {
        self.roles.iter().any(|r| **r == *who.authrole)
    }

    fn cached(&self, key: &CacheKey, now: Instant) -> Option<Authorization> {
        let mut cache = self.cache.lock();
        match cache.entries.get(key) {
            Some((decision, expires)) if *expires > now => Some(*decision),
            Some(_) => {
                cache.entries.remove(key);
                None
            }
            None => None,
        }
    }

    fn store(&self, key: CacheKey, decision: Authorization, expires: Instant) {
        let mut cache = self.cache.lock();
        if !cache.entries.contains_key(&key) {
            while cache.entries.len() >= CACHE_CAPACITY {
                match cache.order.pop_front() {
                    Some(old) => {
                        cache.entries.remove(&old);
                    }
                    None => break,
                }
            }
            cache.order.push_back(key.clone());
        }
        cache.entries.insert(key, (decision, expires));
        if cache.order.len() > 2 * CACHE_CAPACITY {
            let Cache { entries, order } = &mut *cache;
            order.retain(|k| entries.contains_key(k));
        }
    }

    /// How many decisions are cached (expired ones not yet dropped included).
    pub fn cached_len(&self) -> usize {
        self.cache.lock().entries.len()
    }
}

fn session_details(who: &Identity) -> Dict {
    let mut d = Dict::new();
    d.insert("session".into(), who.session.into());
    d.insert("realm".into(), Value::from(&*who.realm));
    d.insert("authid".into(), Value::from(&*who.authid));
    d.insert("authrole".into(), Value::from(&*who.authrole));
    d.insert("authmethod".into(), Value::from(&*who.authmethod));
    d.insert("authprovider".into(), Value::from(&*who.authprovider));
    d
}

impl Authorizer for DynamicAuthorizer {
    fn authorize(&self, who: &Identity, action: Action, uri: &str) -> Authorization {
        if self.handles(who) {
            return Authorization::Deny;
        }
        self.fallback.authorize(who, action, uri)
    }

    fn check(&self, who: &Identity, action: Action, uri: &str, now: Instant) -> Check {
        if !self.handles(who) {
            return self.fallback.check(who, action, uri, now);
        }
        if self.ttl.is_some()
            && let Some(decision) = self.cached(&CacheKey::new(who, action, uri), now)
        {
            return Check::Decided(decision);
        }
        Check::Ask(DeferredCall {
            realm: self.realm.clone().unwrap_or_else(|| who.realm.to_string()),
            procedure: self.procedure.clone(),
            args: vec![
                Value::Dict(session_details(who)),
                Value::from(uri),
                Value::from(action.as_str()),
                Value::Dict(Dict::new()),
            ],
            kwargs: Dict::new(),
        })
    }

    fn answer(
        &self,
        who: &Identity,
        action: Action,
        uri: &str,
        now: Instant,
        result: Result<DeferredReply, DeferredError>,
    ) -> Result<Authorization, String> {
        let procedure = &self.procedure;
        let reply = result.map_err(|e| {
            format!(
                "the authorizer {procedure:?} failed: {}: {}",
                e.error, e.message
            )
        })?;
        let answer = match reply.args.into_iter().next() {
            Some(v) => v,
            None if !reply.kwargs.is_empty() => Value::Dict(reply.kwargs),
            None => Value::Null,
        };
        let (allow, disclose, cache) = match answer {
            Value::Bool(allow) => (allow, false, true),
            Value::Dict(d) => {
                let flag = |name: &str| match d.get(name) {
                    None | Some(Value::Null) => Ok(false),
                    Some(Value::Bool(b)) => Ok(*b),
                    Some(_) => Err(format!(
                        "the authorizer {procedure:?} returned a {name:?} that is not a boolean"
                    )),
                };
                (flag("allow")?, flag("disclose")?, flag("cache")?)
            }
            _ => {
                return Err(format!(
                    "the authorizer {procedure:?} returned neither a boolean nor a dictionary with \"allow\""
                ));
            }
        };
        let decision = if allow {
            Authorization::Allow { disclose }
        } else {
            Authorization::Deny
        };
        if cache && let Some(ttl) = self.ttl {
            self.store(CacheKey::new(who, action, uri), decision, now + ttl);
        }
        Ok(decision)
    }

    fn purge(&self, authid: Option<&str>) -> usize {
        let mut cache = self.cache.lock();
        let before = cache.entries.len();
        match authid {
            Some(authid) => cache.entries.retain(|k, _| k.authid != authid),
            None => cache.entries.clear(),
        }
        let Cache { entries, order } = &mut *cache;
        order.retain(|k| entries.contains_key(k));
        before - entries.len()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use switchboard_proto::uri::{MatchPolicy, UriRules};

    fn pattern(s: &str, policy: MatchPolicy) -> Pattern {
        Pattern::parse(s, policy, UriRules::Loose).unwrap()
    }

    #[test]
    fn the_most_specific_rule_wins_even_when_it_denies() {
        let mut a = RoleAuthorizer::new();
        a.add_rule("user", pattern("", MatchPolicy::Prefix), Permission::ALL);
        a.add_rule(
            "user",
            pattern("com.admin.", MatchPolicy::Prefix),
            Permission::NONE,
        );
        a.add_rule(
            "user",
            pattern("com.admin.status", MatchPolicy::Exact),
            Permission {
                call: true,
                ..Permission::NONE
            },
        );
        a.add_rule(
            "user",
            pattern("com..secret", MatchPolicy::Wildcard),
            Permission::NONE,
        );
        let allow = Authorization::Allow { disclose: false };
        assert_eq!(a.decide("user", Action::Call, "com.app.x"), allow);
        assert_eq!(
            a.decide("user", Action::Call, "com.admin.reboot"),
            Authorization::Deny
        );
        assert_eq!(a.decide("user", Action::Call, "com.admin.status"), allow);
        assert_eq!(
            a.decide("user", Action::Register, "com.admin.status"),
            Authorization::Deny
        );
        // A prefix rule beats a wildcard rule (wamp-spec §5.7 precedence).
        assert_eq!(a.decide("user", Action::Call, "com.x.secret"), allow);
    }

    #[test]
    fn disclosure_follows_the_action() {
        let mut a = RoleAuthorizer::new();
        a.add_rule(
            "r",
            pattern("a", MatchPolicy::Exact),
            Permission {
                disclose_caller: true,
                ..Permission::ALL
            },
        );
        assert_eq!(
            a.decide("r", Action::Call, "a"),
            Authorization::Allow { disclose: true }
        );
        assert_eq!(
            a.decide("r", Action::Publish, "a"),
            Authorization::Allow { disclose: false }
        );
    }

    #[test]
    fn the_dynamic_cache_is_bounded_and_evicts_the_oldest() {
        use std::sync::Arc;
        let a = DynamicAuthorizer::new(
            "p",
            None,
            vec!["dyn".into()],
            Some(Duration::from_secs(60)),
            Arc::new(AllowAll),
        );
        let who = Identity {
            session: switchboard_proto::Id::new(1).unwrap(),
            realm: Arc::from("r"),
            authid: Arc::from("a"),
            authrole: Arc::from("dyn"),
            authmethod: Arc::from("ticket"),
            authprovider: Arc::from("static"),
        };
        let now = Instant::now();
        let yes = || {
            Ok(DeferredReply {
                args: vec![Value::Bool(true)],
                kwargs: Dict::new(),
            })
        };
        for i in 0..=CACHE_CAPACITY {
            let uri = format!("u{i}");
            assert!(a.answer(&who, Action::Call, &uri, now, yes()).is_ok());
        }
        assert_eq!(a.cached_len(), CACHE_CAPACITY);
        assert!(matches!(
            a.check(&who, Action::Call, "u0", now),
            Check::Ask(_)
        ));
        let last = format!("u{CACHE_CAPACITY}");
        assert_eq!(
            a.check(&who, Action::Call, &last, now),
            Check::Decided(Authorization::Allow { disclose: false })
        );
        assert_eq!(a.purge(Some("b")), 0);
        assert_eq!(a.purge(None), CACHE_CAPACITY);
    }

    #[test]
    fn unknown_roles_and_unmatched_uris_are_denied() {
        let mut a = RoleAuthorizer::new();
        a.add_role("empty");
        assert!(a.has_role("empty"));
        assert_eq!(a.decide("empty", Action::Call, "x"), Authorization::Deny);
        assert_eq!(a.decide("nobody", Action::Call, "x"), Authorization::Deny);
    }
}
