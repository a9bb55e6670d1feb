//! Options for connecting and for each operation.
//!
//! Operation options are builders (`CallOptions::new().timeout(..)`); only what is set goes
//! on the wire. Options that need an Advanced Profile feature are sent only when the router
//! announced that feature in WELCOME: a best-effort option (progressive results, caller or
//! publisher disclosure, retention, router-side timeout) is then left out silently, and an
//! option that changes who receives a message (pattern matching, shared registrations,
//! black- and whitelists, `exclude_me = false`) makes the operation fail with
//! `FeatureNotSupported` rather than reach the wrong peers.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use switchboard_proto::{Dict, Format, Id};

pub use switchboard_proto::uri::MatchPolicy;

/// The default router URL, as `switchboard start` serves it.
pub const DEFAULT_URL: &str = "ws://127.0.0.1:8080/ws";

/// The default realm.
pub const DEFAULT_REALM: &str = "realm1";

/// Where and how to connect: [`Session::connect`](crate::Session::connect).
///
/// ```
/// use switchboard_client::{Auth, ConnectOptions, Format};
///
/// let options = ConnectOptions {
///     url: "rs://127.0.0.1:8080".into(),
///     serializer: Format::MessagePack,
///     auth: Auth::Ticket { authid: "joe".into(), ticket: "secret!!!".into() },
///     ..ConnectOptions::default()
/// };
/// assert_eq!(options.realm, "realm1");
/// ```
#[derive(Clone, Debug)]
pub struct ConnectOptions {
    /// Router URL: `ws://host:port/path`, `rs://host:port` (or `tcp://`), `unix:///path`.
    pub url: String,
    /// Realm to join.
    pub realm: String,
    /// Serializer (JSON, MessagePack or CBOR).
    pub serializer: Format,
    /// Authentication.
    pub auth: Auth,
    /// Largest message this client accepts, in bytes.
    pub max_message_size: usize,
    /// How long connecting, the transport handshake and the WAMP opening handshake may take
    /// together.
    pub connect_timeout: Duration,
    /// How long [`leave`](crate::Session::leave) waits for the router's GOODBYE.
    pub leave_timeout: Duration,
    /// `HELLO.Details.agent`.
    pub agent: String,
}

impl Default for ConnectOptions {
    /// `ws://127.0.0.1:8080/ws`, realm `realm1`, JSON, anonymous.
    fn default() -> ConnectOptions {
        ConnectOptions {
            url: DEFAULT_URL.to_owned(),
            realm: DEFAULT_REALM.to_owned(),
            serializer: Format::Json,
            auth: Auth::Anonymous,
            max_message_size: 16 * 1024 * 1024,
            connect_timeout: Duration::from_secs(10),
            leave_timeout: Duration::from_secs(5),
            agent: concat!("switchboard-client/", env!("CARGO_PKG_VERSION")).to_owned(),
        }
    }
}

impl ConnectOptions {
    /// Options for `url` and `realm`, everything else default.
    pub fn new(url: impl Into<String>, realm: impl Into<String>) -> ConnectOptions {
        ConnectOptions {
            url: url.into(),
            realm: realm.into(),
            ..ConnectOptions::default()
        }
    }

    /// Sets the serializer.
    pub fn serializer(mut self, serializer: Format) -> ConnectOptions {
        self.serializer = serializer;
        self
    }

    /// Sets the authentication.
    pub fn auth(mut self, auth: Auth) -> ConnectOptions {
        self.auth = auth;
        self
    }
}

/// How the client authenticates (wamp-spec §7).
///
/// `Debug` never shows secrets.
#[derive(Clone, Default)]
#[non_exhaustive]
pub enum Auth {
    /// No authentication (`authmethods` is not sent; the router assigns an anonymous authid).
    #[default]
    Anonymous,
    /// Ticket: the ticket is sent in clear in AUTHENTICATE, so use it over TLS only.
    Ticket {
        /// The authentication id.
        authid: String,
        /// The ticket.
        ticket: String,
    },
    /// WAMP-CRA: HMAC-SHA256 over the router's challenge; the salted variant (PBKDF2) is used
    /// when the challenge carries a salt.
    WampCra {
        /// The authentication id.
        authid: String,
        /// The shared secret.
        secret: String,
    },
    /// WAMP-SCRAM as the spec describes it (`wamp-scram`, SCRAM-SHA-256 with PBKDF2 or
    /// Argon2id). The router's signature in WELCOME is verified.
    Scram {
        /// The authentication id (user name).
        authid: String,
        /// The password.
        password: String,
    },
    /// SCRAM as Autobahn|Python and Crossbar.io speak it (`scram`); see
    /// `switchboard_proto::auth::scram` for the differences.
    ScramAutobahn {
        /// The authentication id (user name).
        authid: String,
        /// The password.
        password: String,
    },
    /// WAMP-Cryptosign: Ed25519 signature over the router's challenge.
    Cryptosign {
        /// The authentication id; empty lets the router choose (usually the public key).
        authid: String,
        /// The 32-byte private key seed, hex (64 characters).
        private_key_hex: String,
    },
    /// Any other method: `on_challenge` answers each CHALLENGE (the way Autobahn's
    /// `on_challenge` hook does).
    Custom {
        /// `HELLO.Details.authmethods`.
        authmethods: Vec<String>,
        /// `HELLO.Details.authid`.
        authid: Option<String>,
        /// `HELLO.Details.authextra`.
        authextra: Dict,
        /// Answers a challenge: the AUTHENTICATE signature and extra dict, or an error message.
        on_challenge: ChallengeHandler,
    },
}

/// A custom challenge handler for [`Auth::Custom`]: gets the challenge's method and extra
/// dict, returns the AUTHENTICATE signature and extra dict. Runs on a blocking thread.
pub type ChallengeHandler =
    Arc<dyn Fn(&str, &Dict) -> Result<(String, Dict), String> + Send + Sync + 'static>;

impl fmt::Debug for Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Auth::Anonymous => f.write_str("Anonymous"),
            Auth::Ticket { authid, .. } => f
                .debug_struct("Ticket")
                .field("authid", authid)
                .field("ticket", &"<redacted>")
                .finish(),
            Auth::WampCra { authid, .. } => f
                .debug_struct("WampCra")
                .field("authid", authid)
                .field("secret", &"<redacted>")
                .finish(),
            Auth::Scram { authid, .. } => f
                .debug_struct("Scram")
                .field("authid", authid)
                .field("password", &"<redacted>")
                .finish(),
            Auth::ScramAutobahn { authid, .. } => f
                .debug_struct("ScramAutobahn")
                .field("authid", authid)
                .field("password", &"<redacted>")
                .finish(),
            Auth::Cryptosign { authid, .. } => f
                .debug_struct("Cryptosign")
                .field("authid", authid)
                .field("private_key_hex", &"<redacted>")
                .finish(),
            Auth::Custom {
                authmethods,
                authid,
                ..
            } => f
                .debug_struct("Custom")
                .field("authmethods", authmethods)
                .field("authid", authid)
                .finish_non_exhaustive(),
        }
    }
}

/// How a call is canceled (wamp-spec §5.4).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum CancelMode {
    /// The router answers the caller at once and does not tell the callee.
    Skip,
    /// The router interrupts the callee and answers the caller when the callee has answered.
    Kill,
    /// The router answers the caller at once and interrupts the callee (the default).
    #[default]
    KillNoWait,
}

impl CancelMode {
    /// The wire spelling.
    pub const fn as_str(self) -> &'static str {
        match self {
            CancelMode::Skip => "skip",
            CancelMode::Kill => "kill",
            CancelMode::KillNoWait => "killnowait",
        }
    }

    pub(crate) fn parse(s: &str) -> Option<CancelMode> {
        match s {
            "skip" => Some(CancelMode::Skip),
            "kill" => Some(CancelMode::Kill),
            "killnowait" => Some(CancelMode::KillNoWait),
            _ => None,
        }
    }
}

/// Options of a call.
///
/// ```
/// use std::time::Duration;
/// use switchboard_client::{CallOptions, CancelMode};
///
/// let options = CallOptions::new()
///     .timeout(Duration::from_secs(5))
///     .disclose_me(true)
///     .cancel_mode(CancelMode::Kill);
/// assert_eq!(options.get_timeout(), Some(Duration::from_secs(5)));
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
#[non_exhaustive]
pub struct CallOptions {
    pub(crate) timeout: Option<Duration>,
    pub(crate) disclose_me: bool,
    pub(crate) receive_progress: bool,
    pub(crate) cancel_mode: CancelMode,
}

impl CallOptions {
    /// No options.
    pub fn new() -> CallOptions {
        CallOptions::default()
    }

    /// Fails the call with [`CallError::Timeout`](crate::CallError::Timeout) when no result
    /// arrives in time. The client enforces it with its own timer (and cancels the call with
    /// [`cancel_mode`](Self::cancel_mode)); when the router announced `call_timeout` the
    /// timeout is also sent in `CALL.Options.timeout`.
    pub fn timeout(mut self, timeout: Duration) -> CallOptions {
        self.timeout = Some(timeout).filter(|d| !d.is_zero());
        self
    }

    /// Asks the router to disclose this session to the callee (`disclose_me`, caller
    /// identification; sent only when the router announced `caller_identification`).
    pub fn disclose_me(mut self, disclose: bool) -> CallOptions {
        self.disclose_me = disclose;
        self
    }

    /// Asks for progressive results (`receive_progress`). Set automatically by
    /// [`Session::call_progressive`](crate::Session::call_progressive).
    pub fn receive_progress(mut self, receive: bool) -> CallOptions {
        self.receive_progress = receive;
        self
    }

    /// The cancel mode used when the call's future is dropped before it finishes or its
    /// timeout expires. Default [`CancelMode::KillNoWait`]. Without `call_canceling` on the
    /// router no CANCEL is sent: the call is forgotten locally and a late result is ignored.
    pub fn cancel_mode(mut self, mode: CancelMode) -> CallOptions {
        self.cancel_mode = mode;
        self
    }

    /// The timeout, if set.
    pub fn get_timeout(&self) -> Option<Duration> {
        self.timeout
    }
}

/// Which callee of a shared registration gets a call (wamp-spec §5.8).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum InvokePolicy {
    /// Only one callee may register (the default).
    #[default]
    Single,
    /// Each callee in turn.
    RoundRobin,
    /// A random callee.
    Random,
    /// The first callee that registered.
    First,
    /// The last callee that registered.
    Last,
}

impl InvokePolicy {
    /// The wire spelling.
    pub const fn as_str(self) -> &'static str {
        match self {
            InvokePolicy::Single => "single",
            InvokePolicy::RoundRobin => "roundrobin",
            InvokePolicy::Random => "random",
            InvokePolicy::First => "first",
            InvokePolicy::Last => "last",
        }
    }
}

/// Options of a registration.
///
/// ```
/// use switchboard_client::{InvokePolicy, MatchPolicy, RegisterOptions};
///
/// let options = RegisterOptions::new()
///     .match_policy(MatchPolicy::Prefix)
///     .invoke(InvokePolicy::RoundRobin)
///     .disclose_caller(true);
/// # let _ = options;
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
#[non_exhaustive]
pub struct RegisterOptions {
    pub(crate) match_policy: MatchPolicy,
    pub(crate) invoke: InvokePolicy,
    pub(crate) concurrency: Option<u32>,
    pub(crate) disclose_caller: bool,
}

impl RegisterOptions {
    /// No options: exact URI, single callee.
    pub fn new() -> RegisterOptions {
        RegisterOptions::default()
    }

    /// How the procedure URI is matched (needs `pattern_based_registration` unless exact).
    pub fn match_policy(mut self, policy: MatchPolicy) -> RegisterOptions {
        self.match_policy = policy;
        self
    }

    /// Invocation policy for shared registrations (needs `shared_registration` unless single).
    pub fn invoke(mut self, policy: InvokePolicy) -> RegisterOptions {
        self.invoke = policy;
        self
    }

    /// Most invocations the router should have in flight to this callee at once
    /// (`concurrency`, a Crossbar.io extension; routers that do not know it ignore it).
    pub fn concurrency(mut self, limit: u32) -> RegisterOptions {
        self.concurrency = Some(limit);
        self
    }

    /// Asks the router to disclose the caller in every invocation (`disclose_caller`; sent only
    /// when the router announced `caller_identification`).
    pub fn disclose_caller(mut self, disclose: bool) -> RegisterOptions {
        self.disclose_caller = disclose;
        self
    }
}

/// Options of a subscription.
#[derive(Clone, Debug, Default, PartialEq)]
#[non_exhaustive]
pub struct SubscribeOptions {
    pub(crate) match_policy: MatchPolicy,
    pub(crate) get_retained: bool,
}

impl SubscribeOptions {
    /// No options: exact topic.
    pub fn new() -> SubscribeOptions {
        SubscribeOptions::default()
    }

    /// How the topic is matched (needs `pattern_based_subscription` unless exact).
    pub fn match_policy(mut self, policy: MatchPolicy) -> SubscribeOptions {
        self.match_policy = policy;
        self
    }

    /// Asks for the topic's retained event right after subscribing (`get_retained`; sent only
    /// when the router announced `event_retention`).
    pub fn get_retained(mut self, get: bool) -> SubscribeOptions {
        self.get_retained = get;
        self
    }
}

/// Options of a publication.
///
/// ```
/// use switchboard_client::PublishOptions;
///
/// let options = PublishOptions::new().acknowledge(true).exclude_me(false).retain(true);
/// # let _ = options;
/// ```
#[derive(Clone, Debug, Default, PartialEq)]
#[non_exhaustive]
pub struct PublishOptions {
    pub(crate) acknowledge: bool,
    pub(crate) exclude_me: Option<bool>,
    pub(crate) exclude: Vec<Id>,
    pub(crate) exclude_authid: Vec<String>,
    pub(crate) exclude_authrole: Vec<String>,
    pub(crate) eligible: Option<Vec<Id>>,
    pub(crate) eligible_authid: Option<Vec<String>>,
    pub(crate) eligible_authrole: Option<Vec<String>>,
    pub(crate) retain: bool,
    pub(crate) disclose_me: bool,
}

impl PublishOptions {
    /// No options: unacknowledged, publisher excluded.
    pub fn new() -> PublishOptions {
        PublishOptions::default()
    }

    /// Waits for the router's PUBLISHED (or ERROR), so that
    /// [`publish`](crate::Session::publish) returns the publication id or the router's error.
    pub fn acknowledge(mut self, acknowledge: bool) -> PublishOptions {
        self.acknowledge = acknowledge;
        self
    }

    /// Whether the publisher is excluded from its own event (default `true`; `false` needs
    /// `publisher_exclusion`).
    pub fn exclude_me(mut self, exclude: bool) -> PublishOptions {
        self.exclude_me = Some(exclude);
        self
    }

    /// Sessions that must not receive the event (needs `subscriber_blackwhite_listing`).
    pub fn exclude(mut self, sessions: impl IntoIterator<Item = Id>) -> PublishOptions {
        self.exclude = sessions.into_iter().collect();
        self
    }

    /// Authids that must not receive the event (needs `subscriber_blackwhite_listing`).
    pub fn exclude_authid(
        mut self,
        authids: impl IntoIterator<Item = impl Into<String>>,
    ) -> PublishOptions {
        self.exclude_authid = authids.into_iter().map(Into::into).collect();
        self
    }

    /// Authroles that must not receive the event (needs `subscriber_blackwhite_listing`).
    pub fn exclude_authrole(
        mut self,
        authroles: impl IntoIterator<Item = impl Into<String>>,
    ) -> PublishOptions {
        self.exclude_authrole = authroles.into_iter().map(Into::into).collect();
        self
    }

    /// Only these sessions may receive the event (needs `subscriber_blackwhite_listing`).
    pub fn eligible(mut self, sessions: impl IntoIterator<Item = Id>) -> PublishOptions {
        self.eligible = Some(sessions.into_iter().collect());
        self
    }

    /// Only these authids may receive the event (needs `subscriber_blackwhite_listing`).
    pub fn eligible_authid(
        mut self,
        authids: impl IntoIterator<Item = impl Into<String>>,
    ) -> PublishOptions {
        self.eligible_authid = Some(authids.into_iter().map(Into::into).collect());
        self
    }

    /// Only these authroles may receive the event (needs `subscriber_blackwhite_listing`).
    pub fn eligible_authrole(
        mut self,
        authroles: impl IntoIterator<Item = impl Into<String>>,
    ) -> PublishOptions {
        self.eligible_authrole = Some(authroles.into_iter().map(Into::into).collect());
        self
    }

    /// Asks the router to keep this event as the topic's retained event (`retain`; sent only
    /// when the router announced `event_retention`).
    pub fn retain(mut self, retain: bool) -> PublishOptions {
        self.retain = retain;
        self
    }

    /// Asks the router to disclose this session to subscribers (`disclose_me`; sent only when
    /// the router announced `publisher_identification`).
    pub fn disclose_me(mut self, disclose: bool) -> PublishOptions {
        self.disclose_me = disclose;
        self
    }

    pub(crate) fn uses_black_white_listing(&self) -> bool {
        !self.exclude.is_empty()
            || !self.exclude_authid.is_empty()
            || !self.exclude_authrole.is_empty()
            || self.eligible.is_some()
            || self.eligible_authid.is_some()
            || self.eligible_authrole.is_some()
    }
}

/// Reconnection with exponential backoff, for [`Component`](crate::Component).
///
/// The delay before attempt *n* (counting from 0 after each successful session) is
/// `initial_delay × multiplier^n`, capped at `max_delay`, with up to `jitter` (a fraction) of
/// it added or removed at random so that many clients restarting together spread out.
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct ReconnectPolicy {
    /// Delay before the first retry.
    pub initial_delay: Duration,
    /// Upper bound for the delay.
    pub max_delay: Duration,
    /// Growth factor per failed attempt.
    pub multiplier: f64,
    /// Random spread, as a fraction of the delay (0.0 to 1.0).
    pub jitter: f64,
    /// Consecutive failed attempts after which to give up; `None` retries forever.
    pub max_attempts: Option<u32>,
}

impl Default for ReconnectPolicy {
    /// 0.5 s, doubling up to 30 s, ±10 % jitter, forever.
    fn default() -> ReconnectPolicy {
        ReconnectPolicy {
            initial_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(30),
            multiplier: 2.0,
            jitter: 0.1,
            max_attempts: None,
        }
    }
}

impl ReconnectPolicy {
    /// Never reconnect: the component stops when its first session ends or cannot start.
    pub fn never() -> ReconnectPolicy {
        ReconnectPolicy {
            max_attempts: Some(0),
            ..ReconnectPolicy::default()
        }
    }

    /// Sets the first and the largest delay.
    pub fn delays(mut self, initial: Duration, max: Duration) -> ReconnectPolicy {
        self.initial_delay = initial;
        self.max_delay = max.max(initial);
        self
    }

    /// Gives up after `attempts` consecutive failures.
    pub fn max_attempts(mut self, attempts: u32) -> ReconnectPolicy {
        self.max_attempts = Some(attempts);
        self
    }

    /// The delay before retry number `attempt` (0-based), jitter drawn from `unit`
    /// (a number in `0.0..1.0`).
    pub(crate) fn delay(&self, attempt: u32, unit: f64) -> Duration {
        let base = self.initial_delay.as_secs_f64()
            * self
                .multiplier
                .max(1.0)
                .powi(attempt.min(64).try_into().unwrap_or(64));
        let capped = base.min(self.max_delay.as_secs_f64());
        let jitter = self.jitter.clamp(0.0, 1.0);
        let factor = 1.0 + jitter * (2.0 * unit.clamp(0.0, 1.0) - 1.0);
        Duration::try_from_secs_f64((capped * factor).max(0.0)).unwrap_or(self.max_delay)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auth_debug_redacts_secrets() {
        let a = Auth::WampCra {
            authid: "peter".into(),
            secret: "secret123".into(),
        };
        let s = format!("{a:?}");
        assert!(s.contains("peter") && !s.contains("secret123"), "{s}");
        let c = Auth::Cryptosign {
            authid: String::new(),
            private_key_hex: "4d57d97a68f5".into(),
        };
        assert!(!format!("{c:?}").contains("4d57"));
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let p = ReconnectPolicy {
            jitter: 0.0,
            ..ReconnectPolicy::default()
        };
        assert_eq!(p.delay(0, 0.5), Duration::from_millis(500));
        assert_eq!(p.delay(1, 0.5), Duration::from_secs(1));
        assert_eq!(p.delay(3, 0.5), Duration::from_secs(4));
        assert_eq!(p.delay(20, 0.5), Duration::from_secs(30));
        assert_eq!(p.delay(u32::MAX, 0.5), Duration::from_secs(30));
        let j = ReconnectPolicy::default();
        assert_eq!(j.delay(0, 0.0), Duration::from_millis(450));
        assert_eq!(j.delay(0, 1.0), Duration::from_millis(550));
    }

    #[test]
    fn zero_timeout_means_none() {
        assert_eq!(
            CallOptions::new().timeout(Duration::ZERO).get_timeout(),
            None
        );
    }
}
