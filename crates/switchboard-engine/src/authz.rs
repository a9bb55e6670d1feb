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

use std::collections::HashMap;
use std::fmt;

use switchboard_proto::uri::Pattern;

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
    /// the pattern's text)?
    fn authorize(&self, who: &Identity, action: Action, uri: &str) -> Authorization;
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
    fn unknown_roles_and_unmatched_uris_are_denied() {
        let mut a = RoleAuthorizer::new();
        a.add_role("empty");
        assert!(a.has_role("empty"));
        assert_eq!(a.decide("empty", Action::Call, "x"), Authorization::Deny);
        assert_eq!(a.decide("nobody", Action::Call, "x"), Authorization::Deny);
    }
}
