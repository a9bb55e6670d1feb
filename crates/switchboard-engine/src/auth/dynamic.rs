//! The dynamic authenticator: a WAMP procedure decides who a client is (as Crossbar's
//! `dynamic` authentication does).
//!
//! The engine stays sans-IO: the authenticator answers with [`AuthDecision::Defer`], which
//! carries the call to make ([`DeferredCall`]); the session parks until its owner performs the
//! call and hands the outcome to [`Session::resume_auth`](crate::Session::resume_auth).
//!
//! The procedure is called with `(realm, authid, details)`. `details` is `HELLO.Details` plus
//! `authmethod`, `session`, `transport` and, for `ticket`, the ticket the client sent
//! (`details.ticket`). It returns either a role (a string) or a dictionary
//! `{"role": …, "authid": …, "extra": …}` (`authid` replaces the client's; `extra` becomes
//! `WELCOME.Details.authextra`). Any error (an application error means "denied", and the call
//! failing or timing out counts the same) is ABORT `wamp.error.authentication_failed`.

use std::fmt;
use std::sync::Arc;

use switchboard_proto::auth::ticket;
use switchboard_proto::message::Authenticate;
use switchboard_proto::names::ErrorUri;
use switchboard_proto::{Dict, Value};

use super::{
    AuthAbort, AuthDecision, AuthOutcome, Authenticator, HelloRequest, PendingAuth,
    StaticAuthenticator,
};

/// The `authprovider` of dynamically authenticated sessions.
pub const PROVIDER: &str = "dynamic";

/// The methods a dynamic authenticator can handle.
pub const METHODS: &[&str] = &["anonymous", ticket::AUTHMETHOD];

/// A call the session's owner must make before the handshake can go on.
///
/// Its `Debug` output leaves out the arguments: they may hold the client's ticket.
#[derive(Clone, PartialEq)]
#[non_exhaustive]
pub struct DeferredCall {
    /// The realm the procedure is registered on.
    pub realm: String,
    /// The procedure.
    pub procedure: String,
    /// Positional arguments.
    pub args: Vec<Value>,
    /// Keyword arguments.
    pub kwargs: Dict,
}

impl fmt::Debug for DeferredCall {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeferredCall")
            .field("realm", &self.realm)
            .field("procedure", &self.procedure)
            .finish_non_exhaustive()
    }
}

/// What a deferred call returned.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DeferredReply {
    /// `RESULT.Arguments`.
    pub args: Vec<Value>,
    /// `RESULT.ArgumentsKw`.
    pub kwargs: Dict,
}

/// Why a deferred call gave no result: the error URI (an application error, or e.g.
/// `wamp.error.no_such_procedure`, `wamp.error.timeout` for failures of the call itself) and a
/// message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeferredError {
    /// The error URI.
    pub error: String,
    /// A human-readable message.
    pub message: String,
}

/// The state of an authentication waiting for a deferred call.
///
/// Debug output must not show secrets.
pub trait PendingDeferred: Send + fmt::Debug + 'static {
    /// Turns the call's outcome into WELCOME, CHALLENGE, ABORT (or another deferred call).
    fn resume(self: Box<Self>, result: Result<DeferredReply, DeferredError>) -> AuthDecision;
}

/// Authenticates the configured methods by calling a procedure; any other method goes to the
/// static authenticator.
#[derive(Debug)]
pub struct DynamicAuthenticator {
    target: Arc<Target>,
    methods: Vec<String>,
    fallback: StaticAuthenticator,
}

/// Where the authenticator procedure lives.
#[derive(Debug)]
struct Target {
    procedure: String,
    /// `None`: the realm the client asked for.
    realm: Option<String>,
}

impl DynamicAuthenticator {
    /// Calls `procedure` (registered on `realm`, or on the client's realm if `None`) for the
    /// `methods` (a subset of [`METHODS`]; others are ignored), and leaves the rest to
    /// `fallback`.
    pub fn new(
        procedure: impl Into<String>,
        realm: Option<String>,
        methods: &[&str],
        fallback: StaticAuthenticator,
    ) -> DynamicAuthenticator {
        DynamicAuthenticator {
            target: Arc::new(Target {
                procedure: procedure.into(),
                realm,
            }),
            methods: methods
                .iter()
                .filter(|m| METHODS.contains(m))
                .map(|m| (*m).to_owned())
                .collect(),
            fallback,
        }
    }

    fn handles(&self, method: &str) -> bool {
        self.methods.iter().any(|m| m == method)
    }
}

impl Authenticator for DynamicAuthenticator {
    fn hello(&self, hello: &HelloRequest<'_>) -> AuthDecision {
        let offered: Vec<&str> = if hello.authmethods.is_empty() {
            vec!["anonymous"]
        } else {
            hello.authmethods.clone()
        };
        let Some(method) = offered
            .iter()
            .copied()
            .find(|m| self.handles(m) || self.fallback.offers(m))
        else {
            return AuthDecision::Abort(AuthAbort::new(
                ErrorUri::NoMatchingAuthMethod,
                format!(
                    "none of the offered auth methods ({}) is configured on realm {:?}",
                    offered.join(", "),
                    hello.realm
                ),
            ));
        };
        if !self.handles(method) {
            let only = HelloRequest {
                authmethods: vec![method],
                ..*hello
            };
            return self.fallback.hello(&only);
        }
        let mut details = hello.details.0.clone();
        details.insert("authmethod".into(), Value::from(method));
        details.insert("session".into(), hello.session.into());
        details.insert("transport".into(), Value::Dict(hello.transport.clone()));
        details.insert("authextra".into(), Value::Dict(hello.authextra.clone()));
        let start = Start {
            target: Arc::clone(&self.target),
            realm: hello.realm.to_owned(),
            authid: hello.authid.map(str::to_owned),
            method: method.to_owned(),
            details,
        };
        if method == ticket::AUTHMETHOD {
            if start.authid.is_none() {
                return AuthDecision::failed("ticket authentication requires an authid in HELLO");
            }
            return AuthDecision::Challenge {
                method: ticket::AUTHMETHOD.to_owned(),
                extra: Dict::new(),
                pending: Box::new(TicketWait(start)),
            };
        }
        start.defer()
    }
}

/// What is known of a login before the procedure is called.
#[derive(Debug)]
struct Start {
    target: Arc<Target>,
    realm: String,
    authid: Option<String>,
    method: String,
    /// Holds no secret until the ticket is added, just before the call.
    details: Dict,
}

impl Start {
    fn defer(self) -> AuthDecision {
        let Start {
            target,
            realm,
            authid,
            method,
            details,
        } = self;
        let call = DeferredCall {
            realm: target.realm.clone().unwrap_or_else(|| realm.clone()),
            procedure: target.procedure.clone(),
            args: vec![
                Value::from(realm.as_str()),
                authid.as_deref().map_or(Value::Null, Value::from),
                Value::Dict(details),
            ],
            kwargs: Dict::new(),
        };
        AuthDecision::Defer {
            call,
            pending: Box::new(Answer {
                target,
                authid,
                method,
            }),
        }
    }
}

/// CHALLENGE ticket sent; the ticket goes into the call's details.
#[derive(Debug)]
struct TicketWait(Start);

impl PendingAuth for TicketWait {
    fn authenticate(self: Box<Self>, authenticate: &Authenticate) -> AuthDecision {
        let mut start = self.0;
        start.details.insert(
            "ticket".into(),
            Value::from(authenticate.signature.as_str()),
        );
        start.defer()
    }
}

/// Waiting for the procedure's answer.
#[derive(Debug)]
struct Answer {
    target: Arc<Target>,
    authid: Option<String>,
    method: String,
}

impl PendingDeferred for Answer {
    fn resume(self: Box<Self>, result: Result<DeferredReply, DeferredError>) -> AuthDecision {
        let procedure = &self.target.procedure;
        let reply = match result {
            Ok(reply) => reply,
            Err(e) => {
                return AuthDecision::failed(format!(
                    "the authenticator {procedure:?} did not accept the login: {}: {}",
                    e.error, e.message
                ));
            }
        };
        let answer = match reply.args.into_iter().next() {
            Some(v) => v,
            None if !reply.kwargs.is_empty() => Value::Dict(reply.kwargs),
            None => Value::Null,
        };
        let (role, authid, extra) = match answer {
            Value::Str(role) => (role, None, Dict::new()),
            Value::Dict(mut d) => {
                let role = match d.remove("role") {
                    Some(Value::Str(r)) => r,
                    _ => String::new(),
                };
                let authid = match d.remove("authid") {
                    None | Some(Value::Null) => None,
                    Some(Value::Str(a)) => Some(a),
                    Some(_) => {
                        return AuthDecision::failed(format!(
                            "the authenticator {procedure:?} returned an authid that is not a string"
                        ));
                    }
                };
                let extra = match d.remove("extra") {
                    None | Some(Value::Null) => Dict::new(),
                    Some(Value::Dict(e)) => e,
                    Some(_) => {
                        return AuthDecision::failed(format!(
                            "the authenticator {procedure:?} returned an extra that is not a dictionary"
                        ));
                    }
                };
                (role, authid, extra)
            }
            _ => (String::new(), None, Dict::new()),
        };
        if role.trim().is_empty() {
            return AuthDecision::failed(format!(
                "the authenticator {procedure:?} returned no role (expected a role string or a dictionary with \"role\")"
            ));
        }
        AuthDecision::Welcome(AuthOutcome {
            authid: authid.or(self.authid).unwrap_or_default(),
            authrole: role,
            authmethod: self.method,
            authprovider: PROVIDER.to_owned(),
            authextra: extra,
        })
    }
}
