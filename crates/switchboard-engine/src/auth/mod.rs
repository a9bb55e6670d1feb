//! Authentication (wamp-spec §7): the seam between the session state machine and whatever
//! decides who a client is.
//!
//! A realm has one [`Authenticator`]. When a HELLO arrives, the session asks it with a
//! [`HelloRequest`] (realm, offered methods, `authid`, `authextra`, and the session id that
//! WELCOME will carry). The answer is an [`AuthDecision`]:
//!
//! * [`AuthDecision::Welcome`]: the client is in, with the [`AuthOutcome`]'s identity;
//! * [`AuthDecision::Challenge`]: the session sends CHALLENGE and waits for AUTHENTICATE,
//!   which it hands to the [`PendingAuth`] carried by the challenge; that answers with another
//!   decision (so a method may take several rounds);
//! * [`AuthDecision::Defer`]: the answer needs a WAMP call (the [`DynamicAuthenticator`]): the
//!   session parks until its owner, which takes the call with
//!   [`Session::take_deferred_auth`](crate::Session::take_deferred_auth), makes it and hands
//!   the outcome to [`Session::resume_auth`](crate::Session::resume_auth); while parked, any
//!   message but ABORT is a protocol violation;
//! * [`AuthDecision::Abort`]: the session sends ABORT and closes.
//!
//! While a challenge is outstanding the session accepts only AUTHENTICATE or ABORT; anything
//! else is a protocol violation. How long a client may take is bounded by the connection's
//! handshake timeout (the router crate's `limits.handshake_timeout_ms`), which runs until
//! WELCOME.
//!
//! [`StaticAuthenticator`] implements every method of wamp-spec §7 from a fixed table of
//! principals (what the router's config file describes).
//!
//! Failures follow one rule, so that clients and tests can rely on it:
//!
//! | Situation | ABORT reason |
//! |---|---|
//! | none of the offered methods (no `authmethods` means `anonymous`) is configured on the realm | `wamp.error.no_matching_auth_method` |
//! | any failed credential check: wrong ticket, secret, proof or signature, unknown `authid` or public key, missing or malformed `authid`/`authextra`, unsupported channel binding; a dynamic authenticator that raises an error, returns no role, is not registered or does not answer in time | `wamp.error.authentication_failed` |
//! | authenticated, but the realm refuses the principal (e.g. too many sessions for its `authid`) | `wamp.error.not_authorized` |
//!
//! Secrets never appear in messages or logs, and every comparison of secret-dependent values
//! runs in constant time (the checks live in `switchboard_proto::auth`).

pub mod dynamic;
mod methods;

use std::fmt;
use std::sync::Arc;

use switchboard_proto::message::Authenticate;
use switchboard_proto::names::ErrorUri;
use switchboard_proto::options::HelloDetails;
use switchboard_proto::{Dict, Id};

pub use dynamic::{
    DeferredCall, DeferredError, DeferredReply, DynamicAuthenticator, PendingDeferred,
};
pub use methods::{CraPrincipal, CryptosignPrincipal, ScramPrincipal, StaticAuthenticator};

use crate::authz::{AllowAll, Authorizer};

/// What an authenticator is told about a HELLO.
#[derive(Debug)]
#[non_exhaustive]
pub struct HelloRequest<'a> {
    /// The realm asked for (it exists).
    pub realm: &'a str,
    /// The session id WELCOME will carry (WAMP-CRA puts it in its challenge).
    pub session: Id,
    /// `HELLO.Details.authmethods` in the client's order of preference; empty when the client
    /// offered none (which means anonymous).
    pub authmethods: Vec<&'a str>,
    /// `HELLO.Details.authid`, if given.
    pub authid: Option<&'a str>,
    /// `HELLO.Details.authextra` (empty if absent).
    pub authextra: &'a Dict,
    /// All of `HELLO.Details`.
    pub details: &'a HelloDetails,
    /// Transport facts (type, peer address, TLS), as the session meta API shows them.
    pub transport: &'a Dict,
    /// Wall-clock time, milliseconds since the Unix epoch (for challenge timestamps).
    pub unix_millis: u64,
}

impl<'a> HelloRequest<'a> {
    /// A request for `realm` and `session` with the given HELLO details.
    pub fn new(
        realm: &'a str,
        session: Id,
        details: &'a HelloDetails,
        authextra: &'a Dict,
        transport: &'a Dict,
        unix_millis: u64,
    ) -> HelloRequest<'a> {
        HelloRequest {
            realm,
            session,
            authmethods: details.authmethods().unwrap_or_default(),
            authid: details.authid(),
            authextra,
            details,
            transport,
            unix_millis,
        }
    }
}

/// Who a client turned out to be: what WELCOME and the session meta API report.
#[derive(Clone, Debug, PartialEq)]
pub struct AuthOutcome {
    /// The authenticated identity.
    pub authid: String,
    /// The role used for authorization.
    pub authrole: String,
    /// The method that succeeded (`anonymous`, `ticket`, `wampcra`, …).
    pub authmethod: String,
    /// Who vouched for the principal (`static`, `dynamic`, …).
    pub authprovider: String,
    /// Sent as `WELCOME.Details.authextra` when not empty (SCRAM's server signature).
    pub authextra: Dict,
}

/// Why a HELLO or AUTHENTICATE is refused: the ABORT reason and a human-readable message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthAbort {
    /// The ABORT reason URI.
    pub reason: String,
    /// `ABORT.Details.message`. Never contains a secret.
    pub message: String,
}

impl AuthAbort {
    /// An abort with a predefined reason.
    pub fn new(reason: ErrorUri, message: impl Into<String>) -> AuthAbort {
        AuthAbort {
            reason: reason.as_str().to_owned(),
            message: message.into(),
        }
    }

    /// `wamp.error.authentication_failed`: a credential check failed.
    pub fn failed(message: impl Into<String>) -> AuthAbort {
        AuthAbort::new(ErrorUri::AuthenticationFailed, message)
    }
}

/// What to do with a HELLO (or an AUTHENTICATE).
#[non_exhaustive]
pub enum AuthDecision {
    /// Welcome the client with this identity.
    Welcome(AuthOutcome),
    /// Send `CHALLENGE [4, method, extra]`; the client's AUTHENTICATE goes to `pending`.
    Challenge {
        /// `CHALLENGE.AuthMethod`.
        method: String,
        /// `CHALLENGE.Extra`.
        extra: Dict,
        /// What the authenticator remembers until AUTHENTICATE arrives.
        pending: Box<dyn PendingAuth>,
    },
    /// Make `call` (the session's owner does, see [`crate::Session::take_deferred_auth`]) and
    /// hand its outcome to `pending`.
    Defer {
        /// The call to make.
        call: DeferredCall,
        /// What the authenticator remembers until the call's outcome arrives.
        pending: Box<dyn PendingDeferred>,
    },
    /// Refuse the client.
    Abort(AuthAbort),
}

impl fmt::Debug for AuthDecision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AuthDecision::Welcome(o) => f.debug_tuple("Welcome").field(o).finish(),
            AuthDecision::Challenge { method, extra, .. } => f
                .debug_struct("Challenge")
                .field("method", method)
                .field("extra", extra)
                .finish_non_exhaustive(),
            AuthDecision::Defer { call, .. } => f
                .debug_struct("Defer")
                .field("call", call)
                .finish_non_exhaustive(),
            AuthDecision::Abort(a) => f.debug_tuple("Abort").field(a).finish(),
        }
    }
}

impl AuthDecision {
    /// [`AuthDecision::Abort`] with `wamp.error.authentication_failed`.
    pub fn failed(message: impl Into<String>) -> AuthDecision {
        AuthDecision::Abort(AuthAbort::failed(message))
    }
}

/// Decides who a client is, per realm.
pub trait Authenticator: Send + Sync + fmt::Debug + 'static {
    /// Answers a HELLO.
    fn hello(&self, hello: &HelloRequest<'_>) -> AuthDecision;
}

/// The state of an authentication waiting for the client's AUTHENTICATE.
///
/// Debug output must not show secrets.
pub trait PendingAuth: Send + fmt::Debug + 'static {
    /// Answers the client's AUTHENTICATE: WELCOME, another CHALLENGE, or ABORT.
    fn authenticate(self: Box<Self>, authenticate: &Authenticate) -> AuthDecision;
}

/// How a realm authenticates and authorizes its sessions.
#[derive(Clone, Debug)]
pub struct RealmSecurity {
    /// Who may join.
    pub authenticator: Arc<dyn Authenticator>,
    /// What they may do.
    pub authorizer: Arc<dyn Authorizer>,
}

impl RealmSecurity {
    /// The development setup: anyone joins anonymously (role `anonymous`) and may do
    /// everything.
    pub fn open() -> RealmSecurity {
        RealmSecurity {
            authenticator: Arc::new(StaticAuthenticator::new().with_anonymous("anonymous")),
            authorizer: Arc::new(AllowAll),
        }
    }
}

impl Default for RealmSecurity {
    /// [`RealmSecurity::open`].
    fn default() -> RealmSecurity {
        RealmSecurity::open()
    }
}
