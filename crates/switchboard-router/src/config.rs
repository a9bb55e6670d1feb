//! Router configuration: one TOML file, read into [`RawConfig`] and checked into [`Config`].
//!
//! Reading and checking are separate steps. [`RawConfig`] is exactly what serde reads: every
//! table rejects unknown keys, so a typo is reported by name and line, and omitted keys take
//! their defaults. [`RawConfig::validate`] then turns it into a [`Config`] whose values are
//! typed (socket addresses, serializers, realm URIs, non-zero limits); every error names the
//! key path it is about, such as `listen[0].bind` or `limits.max_message_size`.
//!
//! ```
//! use switchboard_router::config::{Config, SlowConsumer};
//!
//! let config = Config::from_toml_str(
//!     r#"
//!     [[listen]]
//!     bind = "127.0.0.1:0"
//!
//!     [[realm]]
//!     name = "com.example"
//!     "#,
//! )?;
//! assert!(!config.router.auto_realms);
//! assert_eq!(config.realms[0].name.as_str(), "com.example");
//! assert_eq!(config.limits.slow_consumer, SlowConsumer::Close);
//!
//! let err = Config::from_toml_str("[limits]\nmax_message_size = 0\n").unwrap_err();
//! assert_eq!(err.to_string(), "limits.max_message_size: must be > 0");
//! # Ok::<(), switchboard_router::config::ConfigError>(())
//! ```
//!
//! The built-in default, [`Config::dev_default`], is the zero-config development setup;
//! [`DEFAULT_TOML`] is the same configuration as a commented file.

use std::collections::HashMap;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::num::NonZeroUsize;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use switchboard_proto::Format;
use switchboard_proto::uri::{MatchPolicy, Pattern, Uri, UriRules};

use crate::security::{self, AuthConfig, RawAuth, RawRole, RoleConfig};

/// The commented default configuration written by `switchboard init`.
///
/// It parses to exactly [`Config::dev_default`].
pub const DEFAULT_TOML: &str = r#"# Switchboard router configuration (written by `switchboard init`).
# Start the router with: switchboard start --config switchboard.toml
# Every key below is set to its built-in default. Unknown keys are an error, so a typo is
# reported by name. The flags --bind/--port (or SWITCHBOARD_BIND/SWITCHBOARD_PORT) override the
# first listener's address, --realm adds a realm, and --log (SWITCHBOARD_LOG, or RUST_LOG)
# overrides the log level.

[router]
# Create a realm when a client asks to join one that is not listed below (false if omitted).
auto_realms = true
# Log level (error, warn, info, debug, trace, off) or a filter such as "info,switchboard=debug".
log_level = "info"

# One [[listen]] table per listener; WebSocket and RawSocket share each listener's port.
[[listen]]
# IP address and TCP port to listen on; port 0 lets the operating system pick a free port.
# (Instead of bind, `unix = "/run/switchboard.sock"` listens on a Unix domain socket.)
bind = "127.0.0.1:8080"
# HTTP path of the WebSocket endpoint (must start with "/").
ws_path = "/ws"
# Serializers clients may use: any of "json", "msgpack", "cbor".
serializers = ["json", "msgpack", "cbor"]
# Optional: a smaller message size limit for this listener than limits.max_message_size.
# max_message_size = 1048576
# Optional: TLS (wss:// and RawSocket over TLS) with a PEM certificate chain and private key.
# [listen.tls]
# cert_chain = "/etc/switchboard/fullchain.pem"
# key = "/etc/switchboard/key.pem"

[limits]
# Largest WAMP message accepted, in bytes (RawSocket can announce at most 16 MiB).
max_message_size = 16777216
# Most client sessions connected at once; further connections are refused.
max_sessions = 10000
# Milliseconds a new connection has to complete its transport and WAMP opening handshake.
handshake_timeout_ms = 10000
# Messages that may wait in one session's outbound queue.
outbound_queue_messages = 4096
# Bytes that may wait in one session's outbound queue.
outbound_queue_bytes = 16777216
# When a session's outbound queue is full: "close" the session, or "drop" the event and count it.
slow_consumer = "close"
# Registrations one session may hold (switchboard.error.limit_exceeded beyond).
max_registrations_per_session = 10000
# Subscriptions one session may hold (switchboard.error.limit_exceeded beyond).
max_subscriptions_per_session = 10000
# Calls one session may have waiting for a result (switchboard.error.limit_exceeded beyond).
max_pending_calls_per_session = 10000
# Calls that may wait per registration while every callee is at its concurrency limit
# (wamp.error.no_available_callee beyond).
max_queued_calls_per_registration = 1000
# Optional: sessions one authid may have on a realm at once (ABORT wamp.error.not_authorized).
# max_sessions_per_authid = 10
# Optional: close a connection that sent nothing for this many milliseconds.
# idle_timeout_ms = 300000
# Optional: send a WebSocket PING (RawSocket: PING frame) every this many milliseconds, and
# close the connection if nothing (not even the PONG) arrives within ping_timeout_ms.
# ping_interval_ms = 30000
# ping_timeout_ms = 10000

# One [[realm]] table per realm clients may join.
[[realm]]
# Realm name: a WAMP URI such as "realm1" or "com.example.app".
name = "realm1"
# Optional, per realm: a dealer timeout (ms) for calls that set none, and the longest
# timeout a call may ask for. Left out: no default timeout, no maximum.
# call_timeout_default_ms = 30000
# call_timeout_max_ms = 300000
# How many topics may hold a retained event (PUBLISH retain=true); 0 turns retention off.
max_retained_events = 1000
# Optional event history, read with wamp.subscription.get_events, e.g.:
# [[realm.history]]
# topic = "com.example.log"
# match = "prefix"
# limit = 100
# Optional authentication and authorization (see docs/security.md and examples/auth.toml).
# Without [realm.auth] and [[realm.role]], anyone joins anonymously and may do everything.
# [realm.auth.anonymous]
# role = "anonymous"
# [[realm.auth.ticket]]
# authid = "joe"
# ticket = "secret"
# role = "user"
# [[realm.role]]
# name = "user"
# [[realm.role.permission]]
# uri = ""
# match = "prefix"
# call = true
# register = true
# publish = true
# subscribe = true
"#;

/// Default listen address of the development setup.
const DEFAULT_BIND: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 8080);
/// Default WebSocket path.
const DEFAULT_WS_PATH: &str = "/ws";
/// Default serializers, in the order of [`DEFAULT_TOML`].
const DEFAULT_SERIALIZERS: [Format; 3] = [Format::Json, Format::MessagePack, Format::Cbor];
/// Default log level.
const DEFAULT_LOG_LEVEL: &str = "info";
/// Realm of the development setup.
const DEV_REALM: &str = "realm1";

const DEFAULT_MAX_MESSAGE_SIZE: usize = 16 * 1024 * 1024;
const DEFAULT_MAX_SESSIONS: usize = 10_000;
const DEFAULT_HANDSHAKE_TIMEOUT_MS: u64 = 10_000;
const DEFAULT_OUTBOUND_QUEUE_MESSAGES: usize = 4096;
const DEFAULT_OUTBOUND_QUEUE_BYTES: usize = 16 * 1024 * 1024;
const DEFAULT_MAX_PER_SESSION: usize = 10_000;

/// Level names accepted as a plain `router.log_level`.
const LOG_LEVELS: [&str; 6] = ["off", "error", "warn", "info", "debug", "trace"];

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

/// Why a configuration could not be loaded. The message always says where the problem is.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The config file could not be read.
    #[error("cannot read config file {}: {error}", path.display())]
    Read {
        /// The file that was asked for.
        path: PathBuf,
        /// The I/O error (already part of the message, so not reported as a `source()`).
        error: std::io::Error,
    },
    /// The text is not valid TOML, has an unknown key, or a value of the wrong type. toml's
    /// message names the key and shows the line.
    #[error(transparent)]
    Toml(#[from] toml::de::Error),
    /// A value is well-formed TOML but not acceptable; `key` is its path, e.g. `listen[0].bind`.
    #[error("{key}: {message}")]
    Invalid {
        /// Path of the offending key, e.g. `listen[0].bind` or `limits.max_message_size`.
        key: String,
        /// What is wrong with it.
        message: String,
    },
}

impl ConfigError {
    fn invalid(key: impl Into<String>, message: impl Into<String>) -> ConfigError {
        ConfigError::Invalid {
            key: key.into(),
            message: message.into(),
        }
    }

    /// The key path a validation error is about (`None` for read and TOML errors).
    pub fn key(&self) -> Option<&str> {
        match self {
            ConfigError::Invalid { key, .. } => Some(key),
            ConfigError::Read { .. } | ConfigError::Toml(_) => None,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Raw form: what serde reads
// ---------------------------------------------------------------------------------------------

/// The configuration file as read by serde, before validation. Omitted keys take the defaults
/// documented in [`DEFAULT_TOML`], except `router.auto_realms`, which is `false` when omitted.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawConfig {
    /// `[router]`.
    pub router: RawRouter,
    /// `[[listen]]`; `None` when omitted, which means one listener on `127.0.0.1:8080`.
    /// An explicit empty list (`listen = []`) is an error.
    pub listen: Option<Vec<RawListen>>,
    /// `[limits]`.
    pub limits: RawLimits,
    /// `[[realm]]`.
    pub realm: Vec<RawRealm>,
}

/// `[router]` as read.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawRouter {
    /// `auto_realms`: create unknown realms on first use.
    pub auto_realms: bool,
    /// `log_level`: a level name or a tracing filter.
    pub log_level: String,
}

impl Default for RawRouter {
    fn default() -> RawRouter {
        RawRouter {
            auto_realms: false,
            log_level: DEFAULT_LOG_LEVEL.to_owned(),
        }
    }
}

/// One `[[listen]]` table as read.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawListen {
    /// `bind`: `IP:PORT`. Required unless `unix` is given.
    #[serde(default)]
    pub bind: Option<String>,
    /// `unix`: the path of a Unix domain socket to listen on instead of `bind`.
    #[serde(default)]
    pub unix: Option<String>,
    /// `ws_path`: the WebSocket HTTP path.
    #[serde(default = "default_ws_path")]
    pub ws_path: String,
    /// `serializers`: names such as `json`.
    #[serde(default = "default_serializer_names")]
    pub serializers: Vec<String>,
    /// `max_message_size`: this listener's limit (at most `limits.max_message_size`).
    #[serde(default)]
    pub max_message_size: Option<usize>,
    /// `[listen.tls]`.
    #[serde(default)]
    pub tls: Option<RawTls>,
}

/// `[listen.tls]` as read.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTls {
    /// `cert_chain`: PEM file with the server certificate first, then its chain.
    pub cert_chain: String,
    /// `key`: PEM file with the private key (PKCS#8, PKCS#1 or SEC1).
    pub key: String,
}

fn default_ws_path() -> String {
    DEFAULT_WS_PATH.to_owned()
}

fn default_serializer_names() -> Vec<String> {
    DEFAULT_SERIALIZERS
        .iter()
        .map(|f| f.name().to_owned())
        .collect()
}

impl Default for RawListen {
    fn default() -> RawListen {
        RawListen {
            bind: Some(DEFAULT_BIND.to_string()),
            unix: None,
            ws_path: default_ws_path(),
            serializers: default_serializer_names(),
            max_message_size: None,
            tls: None,
        }
    }
}

/// `[limits]` as read.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawLimits {
    /// `max_message_size` in bytes.
    pub max_message_size: usize,
    /// `max_sessions`.
    pub max_sessions: usize,
    /// `handshake_timeout_ms`.
    pub handshake_timeout_ms: u64,
    /// `outbound_queue_messages`, per session.
    pub outbound_queue_messages: usize,
    /// `outbound_queue_bytes`, per session.
    pub outbound_queue_bytes: usize,
    /// `slow_consumer`.
    pub slow_consumer: SlowConsumer,
    /// `max_registrations_per_session`.
    pub max_registrations_per_session: usize,
    /// `max_subscriptions_per_session`.
    pub max_subscriptions_per_session: usize,
    /// `max_pending_calls_per_session`.
    pub max_pending_calls_per_session: usize,
    /// `max_queued_calls_per_registration`.
    pub max_queued_calls_per_registration: usize,
    /// `max_sessions_per_authid` (absent: unbounded).
    pub max_sessions_per_authid: Option<usize>,
    /// `idle_timeout_ms` (absent: none).
    pub idle_timeout_ms: Option<u64>,
    /// `ping_interval_ms` (absent: no pings).
    pub ping_interval_ms: Option<u64>,
    /// `ping_timeout_ms` (default: the interval).
    pub ping_timeout_ms: Option<u64>,
}

impl Default for RawLimits {
    fn default() -> RawLimits {
        RawLimits {
            max_message_size: DEFAULT_MAX_MESSAGE_SIZE,
            max_sessions: DEFAULT_MAX_SESSIONS,
            handshake_timeout_ms: DEFAULT_HANDSHAKE_TIMEOUT_MS,
            outbound_queue_messages: DEFAULT_OUTBOUND_QUEUE_MESSAGES,
            outbound_queue_bytes: DEFAULT_OUTBOUND_QUEUE_BYTES,
            slow_consumer: SlowConsumer::Close,
            max_registrations_per_session: DEFAULT_MAX_PER_SESSION,
            max_subscriptions_per_session: DEFAULT_MAX_PER_SESSION,
            max_pending_calls_per_session: DEFAULT_MAX_PER_SESSION,
            max_queued_calls_per_registration: DEFAULT_MAX_QUEUED_CALLS,
            max_sessions_per_authid: None,
            idle_timeout_ms: None,
            ping_interval_ms: None,
            ping_timeout_ms: None,
        }
    }
}

/// One `[[realm]]` table as read.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRealm {
    /// `name`: the realm URI. Required.
    pub name: String,
    /// `call_timeout_default_ms`: timeout for calls that set none (absent: no timeout).
    #[serde(default)]
    pub call_timeout_default_ms: Option<u64>,
    /// `call_timeout_max_ms`: the longest timeout a call may ask for (absent: no maximum).
    #[serde(default)]
    pub call_timeout_max_ms: Option<u64>,
    /// `max_retained_events`: how many topics may hold a retained event (0 turns retention off).
    #[serde(default = "default_max_retained")]
    pub max_retained_events: usize,
    /// `[[realm.history]]`: topics whose events are kept for `wamp.subscription.get_events`.
    #[serde(default)]
    pub history: Vec<RawHistory>,
    /// `[realm.auth]`: who may join and how (see [`crate::security`]).
    #[serde(default)]
    pub auth: Option<RawAuth>,
    /// `[[realm.role]]`: what each role may do.
    #[serde(default)]
    pub role: Vec<RawRole>,
    /// `[realm.authorizer]`: a procedure authorizes the sessions of some roles.
    #[serde(default)]
    pub authorizer: Option<security::RawAuthorizer>,
}

/// One `[[realm.history]]` table as read.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawHistory {
    /// `topic`: a topic, or a pattern with `match`.
    pub topic: String,
    /// `match`: `exact` (default), `prefix` or `wildcard`.
    #[serde(default, rename = "match")]
    pub match_policy: Option<String>,
    /// `limit`: how many events to keep per topic.
    pub limit: usize,
}

fn default_max_retained() -> usize {
    DEFAULT_MAX_RETAINED
}

/// Default bound on retained events per realm.
pub const DEFAULT_MAX_RETAINED: usize = 1000;

impl RawConfig {
    /// Parses TOML text. Syntax errors, unknown keys and wrongly typed values are reported
    /// with toml's message, which names the key and shows the line.
    pub fn from_toml_str(text: &str) -> Result<RawConfig, ConfigError> {
        Ok(toml::from_str(text)?)
    }

    /// Checks every value and builds the typed [`Config`]. The first problem found is
    /// returned, naming its key path.
    pub fn validate(&self) -> Result<Config, ConfigError> {
        let router = validate_router(&self.router)?;
        let limits = validate_limits(&self.limits)?;
        let (listen, unix_listen) = match &self.listen {
            Some(listen) => validate_listeners(listen, &limits)?,
            None => validate_listeners(&[RawListen::default()], &limits)?,
        };
        let mut config = Config {
            router,
            listen,
            unix_listen,
            limits,
            realms: Vec::with_capacity(self.realm.len()),
        };
        for (i, realm) in self.realm.iter().enumerate() {
            let key = format!("realm[{i}].name");
            let name = parse_realm_name(&realm.name, &key)?;
            if let Some(first) = config.realms.iter().position(|r| r.name == name) {
                return Err(ConfigError::invalid(
                    key,
                    format!("duplicate realm {name:?} (also realm[{first}])"),
                ));
            }
            let mut realm_config = RealmConfig::new(name);
            for (field, value, slot) in [
                (
                    "call_timeout_default_ms",
                    realm.call_timeout_default_ms,
                    &mut realm_config.call_timeout_default,
                ),
                (
                    "call_timeout_max_ms",
                    realm.call_timeout_max_ms,
                    &mut realm_config.call_timeout_max,
                ),
            ] {
                match value {
                    Some(0) => {
                        return Err(ConfigError::invalid(
                            format!("realm[{i}].{field}"),
                            "must be > 0 (leave it out for no timeout)",
                        ));
                    }
                    Some(ms) => *slot = Some(Duration::from_millis(ms)),
                    None => {}
                }
            }
            realm_config.max_retained_events = realm.max_retained_events;
            for (j, h) in realm.history.iter().enumerate() {
                let key = format!("realm[{i}].history[{j}]");
                let policy = match h.match_policy.as_deref() {
                    None => MatchPolicy::Exact,
                    Some(m) => MatchPolicy::parse(m).ok_or_else(|| {
                        ConfigError::invalid(
                            format!("{key}.match"),
                            format!("{m:?} is not exact, prefix or wildcard"),
                        )
                    })?,
                };
                let pattern = Pattern::parse(&h.topic, policy, UriRules::Loose).map_err(|e| {
                    ConfigError::invalid(
                        format!("{key}.topic"),
                        format!("invalid topic {:?}: {e}", h.topic),
                    )
                })?;
                if h.limit == 0 {
                    return Err(ConfigError::invalid(format!("{key}.limit"), "must be > 0"));
                }
                realm_config.history.push((pattern, h.limit));
            }
            if let Some(auth) = &realm.auth {
                realm_config.auth =
                    Some(security::validate_auth(auth, &format!("realm[{i}].auth"))?);
            }
            realm_config.roles =
                security::validate_roles(&realm.role, &format!("realm[{i}].role"))?;
            if realm_config.auth.is_some() || !realm_config.roles.is_empty() {
                security::check_roles_exist(
                    realm_config.auth.as_ref(),
                    &realm_config.roles,
                    &format!("realm[{i}]"),
                )?;
            }
            if let Some(a) = &realm.authorizer {
                realm_config.authorizer = Some(security::validate_authorizer(
                    a,
                    &format!("realm[{i}].authorizer"),
                )?);
            }
            config.realms.push(realm_config);
        }
        if config.realms.is_empty() && !config.router.auto_realms {
            return Err(ConfigError::invalid(
                "realm",
                "no [[realm]] is defined and router.auto_realms is false, so no client could \
                 join; add a [[realm]] with a name, or set auto_realms = true",
            ));
        }
        Ok(config)
    }
}

fn validate_router(raw: &RawRouter) -> Result<RouterSettings, ConfigError> {
    let level = raw.log_level.trim();
    let is_filter = level.contains(['=', ',', '[', ':']);
    if level.is_empty() {
        return Err(ConfigError::invalid(
            "router.log_level",
            "must not be empty (use \"off\" to disable logging)",
        ));
    }
    if !is_filter && !LOG_LEVELS.iter().any(|l| l.eq_ignore_ascii_case(level)) {
        return Err(ConfigError::invalid(
            "router.log_level",
            format!(
                "unknown level {level:?} (expected one of {}, or a filter such as \
                 \"info,switchboard=debug\")",
                LOG_LEVELS.join(", ")
            ),
        ));
    }
    Ok(RouterSettings {
        auto_realms: raw.auto_realms,
        log_level: level.to_owned(),
    })
}

type Listeners = (Vec<ListenConfig>, Vec<UnixListenConfig>);

fn validate_listeners(raw: &[RawListen], limits: &Limits) -> Result<Listeners, ConfigError> {
    if raw.is_empty() {
        return Err(ConfigError::invalid(
            "listen",
            "at least one [[listen]] is required",
        ));
    }
    let mut out: Vec<ListenConfig> = Vec::with_capacity(raw.len());
    let mut unix_out: Vec<UnixListenConfig> = Vec::new();
    let mut seen: HashMap<SocketAddr, usize> = HashMap::new();
    let mut seen_paths: HashMap<PathBuf, usize> = HashMap::new();
    for (i, listen) in raw.iter().enumerate() {
        validate_ws_path(&listen.ws_path, i)?;
        let serializers = validate_serializers(&listen.serializers, i)?;
        let max_message_size = match listen.max_message_size {
            None => None,
            Some(n) => {
                let key = format!("listen[{i}].max_message_size");
                let n = NonZeroUsize::new(n)
                    .ok_or_else(|| ConfigError::invalid(&key, "must be > 0"))?;
                if n > limits.max_message_size {
                    return Err(ConfigError::invalid(
                        key,
                        format!(
                            "{n} is larger than limits.max_message_size ({})",
                            limits.max_message_size
                        ),
                    ));
                }
                Some(n)
            }
        };
        let tls = match &listen.tls {
            None => None,
            Some(tls) => {
                for (field, value) in [("cert_chain", &tls.cert_chain), ("key", &tls.key)] {
                    if value.trim().is_empty() {
                        return Err(ConfigError::invalid(
                            format!("listen[{i}].tls.{field}"),
                            "must be the path of a PEM file",
                        ));
                    }
                }
                Some(TlsFiles {
                    cert_chain: PathBuf::from(&tls.cert_chain),
                    key: PathBuf::from(&tls.key),
                })
            }
        };
        match (&listen.bind, &listen.unix) {
            (Some(_), Some(_)) => {
                return Err(ConfigError::invalid(
                    format!("listen[{i}].unix"),
                    "give either bind (TCP) or unix (Unix domain socket), not both",
                ));
            }
            (None, None) => {
                return Err(ConfigError::invalid(
                    format!("listen[{i}].bind"),
                    "required (IP:PORT, e.g. \"127.0.0.1:8080\"), unless unix = \"/path\" is given",
                ));
            }
            (None, Some(path)) => {
                if path.trim().is_empty() {
                    return Err(ConfigError::invalid(
                        format!("listen[{i}].unix"),
                        "must be a socket path",
                    ));
                }
                let path = PathBuf::from(path);
                if let Some(first) = seen_paths.insert(path.clone(), i) {
                    return Err(ConfigError::invalid(
                        format!("listen[{i}].unix"),
                        format!(
                            "duplicate socket path {} (also listen[{first}].unix)",
                            path.display()
                        ),
                    ));
                }
                unix_out.push(UnixListenConfig {
                    path,
                    ws_path: listen.ws_path.clone(),
                    serializers,
                    max_message_size,
                    tls,
                });
            }
            (Some(bind), None) => {
                let addr: SocketAddr = bind.trim().parse().map_err(|_| {
                    ConfigError::invalid(
                        format!("listen[{i}].bind"),
                        format!(
                            "invalid socket address {bind:?} (expected IP:PORT, e.g. \"127.0.0.1:8080\" or \
                             \"[::1]:8080\")"
                        ),
                    )
                })?;
                // Port 0 asks the OS for a free port, so several such listeners do not collide.
                if addr.port() != 0
                    && let Some(first) = seen.insert(addr, i)
                {
                    return Err(ConfigError::invalid(
                        format!("listen[{i}].bind"),
                        format!("duplicate address {addr} (also listen[{first}].bind)"),
                    ));
                }
                out.push(ListenConfig {
                    bind: addr,
                    ws_path: listen.ws_path.clone(),
                    serializers,
                    max_message_size,
                    tls,
                });
            }
        }
    }
    Ok((out, unix_out))
}

fn validate_ws_path(path: &str, i: usize) -> Result<(), ConfigError> {
    let key = || format!("listen[{i}].ws_path");
    if !path.starts_with('/') {
        return Err(ConfigError::invalid(
            key(),
            format!("must start with '/', got {path:?}"),
        ));
    }
    if let Some(ch) = path
        .chars()
        .find(|&c| c.is_whitespace() || c.is_control() || c == '?' || c == '#')
    {
        return Err(ConfigError::invalid(
            key(),
            format!("{path:?} contains {ch:?}, which is not allowed in a path"),
        ));
    }
    Ok(())
}

fn validate_serializers(names: &[String], i: usize) -> Result<Vec<Format>, ConfigError> {
    if names.is_empty() {
        return Err(ConfigError::invalid(
            format!("listen[{i}].serializers"),
            "at least one serializer is required (json, msgpack, cbor)",
        ));
    }
    let mut formats: Vec<Format> = Vec::with_capacity(names.len());
    for (j, name) in names.iter().enumerate() {
        let key = || format!("listen[{i}].serializers[{j}]");
        let format = Format::from_name(name).ok_or_else(|| {
            ConfigError::invalid(
                key(),
                format!("unknown serializer {name:?} (expected json, msgpack or cbor)"),
            )
        })?;
        if formats.contains(&format) {
            return Err(ConfigError::invalid(
                key(),
                format!("duplicate serializer {name:?}"),
            ));
        }
        formats.push(format);
    }
    Ok(formats)
}

fn validate_limits(raw: &RawLimits) -> Result<Limits, ConfigError> {
    let non_zero = |value: usize, key: &str| {
        NonZeroUsize::new(value)
            .ok_or_else(|| ConfigError::invalid(format!("limits.{key}"), "must be > 0"))
    };
    if raw.handshake_timeout_ms == 0 {
        return Err(ConfigError::invalid(
            "limits.handshake_timeout_ms",
            "must be > 0",
        ));
    }
    let optional_ms = |value: Option<u64>, key: &str| match value {
        Some(0) => Err(ConfigError::invalid(
            format!("limits.{key}"),
            "must be > 0 (leave it out to turn it off)",
        )),
        other => Ok(other.map(Duration::from_millis)),
    };
    let ping_interval = optional_ms(raw.ping_interval_ms, "ping_interval_ms")?;
    let ping_timeout = optional_ms(raw.ping_timeout_ms, "ping_timeout_ms")?;
    if ping_timeout.is_some() && ping_interval.is_none() {
        return Err(ConfigError::invalid(
            "limits.ping_timeout_ms",
            "only applies with limits.ping_interval_ms",
        ));
    }
    Ok(Limits {
        max_message_size: non_zero(raw.max_message_size, "max_message_size")?,
        max_sessions: non_zero(raw.max_sessions, "max_sessions")?,
        handshake_timeout: Duration::from_millis(raw.handshake_timeout_ms),
        outbound_queue_messages: non_zero(raw.outbound_queue_messages, "outbound_queue_messages")?,
        outbound_queue_bytes: non_zero(raw.outbound_queue_bytes, "outbound_queue_bytes")?,
        slow_consumer: raw.slow_consumer,
        max_registrations_per_session: non_zero(
            raw.max_registrations_per_session,
            "max_registrations_per_session",
        )?,
        max_subscriptions_per_session: non_zero(
            raw.max_subscriptions_per_session,
            "max_subscriptions_per_session",
        )?,
        max_pending_calls_per_session: non_zero(
            raw.max_pending_calls_per_session,
            "max_pending_calls_per_session",
        )?,
        max_queued_calls_per_registration: non_zero(
            raw.max_queued_calls_per_registration,
            "max_queued_calls_per_registration",
        )?,
        max_sessions_per_authid: raw
            .max_sessions_per_authid
            .map(|n| non_zero(n, "max_sessions_per_authid"))
            .transpose()?,
        idle_timeout: optional_ms(raw.idle_timeout_ms, "idle_timeout_ms")?,
        ping: ping_interval.map(|interval| Ping {
            interval,
            timeout: ping_timeout.unwrap_or(interval),
        }),
    })
}

fn parse_realm_name(name: &str, key: &str) -> Result<Uri, ConfigError> {
    Uri::parse(name, UriRules::Loose)
        .map_err(|e| ConfigError::invalid(key, format!("invalid realm name {name:?}: {e}")))
}

// ---------------------------------------------------------------------------------------------
// Checked form
// ---------------------------------------------------------------------------------------------

/// A checked router configuration.
///
/// Built by [`Config::load`], [`Config::from_toml_str`], [`RawConfig::validate`] or
/// [`Config::dev_default`]. Fields are public to read and to adjust (tests commonly set
/// `listen[0].bind` to port 0); a `Config` that came out of validation has at least one
/// listener, no duplicate realms and no duplicate non-zero-port addresses.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Config {
    /// `[router]`.
    pub router: RouterSettings,
    /// `[[listen]]` with `bind` (TCP), in file order.
    pub listen: Vec<ListenConfig>,
    /// `[[listen]]` with `unix` (Unix domain sockets), in file order.
    pub unix_listen: Vec<UnixListenConfig>,
    /// `[limits]`.
    pub limits: Limits,
    /// `[[realm]]`, in file order.
    pub realms: Vec<RealmConfig>,
}

/// `[router]`: router-wide settings.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct RouterSettings {
    /// Create a realm when a client asks to join one that is not configured.
    pub auto_realms: bool,
    /// A tracing level name (`info`) or filter (`info,switchboard=debug`), trimmed.
    pub log_level: String,
}

/// One `[[listen]]`: a TCP listener serving WebSocket (at `ws_path`) and RawSocket on the
/// same port.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ListenConfig {
    /// Address to bind; port 0 means the OS picks one.
    pub bind: SocketAddr,
    /// HTTP path of the WebSocket endpoint; starts with `/`.
    pub ws_path: String,
    /// Serializers clients may use, without duplicates, in file order; never empty.
    pub serializers: Vec<Format>,
    /// This listener's message size limit, if smaller than `limits.max_message_size`.
    pub max_message_size: Option<NonZeroUsize>,
    /// TLS certificate chain and key, for `wss://` and RawSocket over TLS.
    pub tls: Option<TlsFiles>,
}

/// One `[[listen]]` with `unix = "/path"`: a Unix domain socket serving WebSocket and
/// RawSocket.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct UnixListenConfig {
    /// The socket path. A stale socket file left by an earlier run is replaced.
    pub path: PathBuf,
    /// HTTP path of the WebSocket endpoint.
    pub ws_path: String,
    /// Serializers clients may use.
    pub serializers: Vec<Format>,
    /// This listener's message size limit, if smaller than `limits.max_message_size`.
    pub max_message_size: Option<NonZeroUsize>,
    /// TLS certificate chain and key.
    pub tls: Option<TlsFiles>,
}

/// `[listen.tls]`: PEM files.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct TlsFiles {
    /// The certificate chain, leaf first.
    pub cert_chain: PathBuf,
    /// The private key.
    pub key: PathBuf,
}

impl TlsFiles {
    /// The two paths.
    pub fn new(cert_chain: impl Into<PathBuf>, key: impl Into<PathBuf>) -> TlsFiles {
        TlsFiles {
            cert_chain: cert_chain.into(),
            key: key.into(),
        }
    }
}

/// WebSocket PING (RawSocket PING frame) keepalive.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ping {
    /// How often to ping.
    pub interval: Duration,
    /// How long to wait for anything (the PONG, or any message) after a ping.
    pub timeout: Duration,
}

/// `[limits]`: resource limits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Limits {
    /// Largest WAMP message accepted, in bytes.
    pub max_message_size: NonZeroUsize,
    /// Most sessions connected at once.
    pub max_sessions: NonZeroUsize,
    /// Time a connection has to finish its opening handshakes; never zero.
    pub handshake_timeout: Duration,
    /// Messages that may wait in one session's outbound queue.
    pub outbound_queue_messages: NonZeroUsize,
    /// Bytes that may wait in one session's outbound queue.
    pub outbound_queue_bytes: NonZeroUsize,
    /// What to do when a session's outbound queue is full.
    pub slow_consumer: SlowConsumer,
    /// Registrations one session may hold.
    pub max_registrations_per_session: NonZeroUsize,
    /// Subscriptions one session may hold.
    pub max_subscriptions_per_session: NonZeroUsize,
    /// Calls one session may have waiting for their result.
    pub max_pending_calls_per_session: NonZeroUsize,
    /// Calls that may wait per registration while every callee is at its concurrency limit.
    pub max_queued_calls_per_registration: NonZeroUsize,
    /// Sessions one authid may have on one realm at once (`None`: unbounded).
    pub max_sessions_per_authid: Option<NonZeroUsize>,
    /// Close a connection that sent nothing for this long (`None`: never).
    pub idle_timeout: Option<Duration>,
    /// Keepalive pings (`None`: none).
    pub ping: Option<Ping>,
}

/// What the router does when a session's outbound queue is full (`limits.slow_consumer`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SlowConsumer {
    /// Close the session (`"close"`, the default).
    #[default]
    Close,
    /// Drop the event, count it, and keep the session (`"drop"`).
    Drop,
}

impl SlowConsumer {
    /// The config spelling: `"close"` or `"drop"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            SlowConsumer::Close => "close",
            SlowConsumer::Drop => "drop",
        }
    }
}

impl fmt::Display for SlowConsumer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One `[[realm]]`.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct RealmConfig {
    /// The realm name, a URI under the loose rules.
    pub name: Uri,
    /// Timeout the dealer applies to calls that ask for none.
    pub call_timeout_default: Option<Duration>,
    /// The longest timeout a call may ask for.
    pub call_timeout_max: Option<Duration>,
    /// How many topics may hold a retained event.
    pub max_retained_events: usize,
    /// Topics with event history, and how many events each keeps.
    pub history: Vec<(Pattern, usize)>,
    /// `[realm.auth]`: `None` without it (then only anonymous login, role `anonymous`).
    pub auth: Option<AuthConfig>,
    /// `[[realm.role]]`. With neither `auth` nor roles, the realm is open (anonymous, allowed
    /// everything).
    pub roles: Vec<RoleConfig>,
    /// `[realm.authorizer]`: the dynamic authorizer, if any.
    pub authorizer: Option<security::AuthorizerConfig>,
}

impl RealmConfig {
    /// A realm with default settings.
    pub fn new(name: Uri) -> RealmConfig {
        RealmConfig {
            name,
            call_timeout_default: None,
            call_timeout_max: None,
            max_retained_events: DEFAULT_MAX_RETAINED,
            history: Vec::new(),
            auth: None,
            roles: Vec::new(),
            authorizer: None,
        }
    }
}

impl Config {
    /// Reads and validates a TOML config file. A read error names the path.
    pub fn load(path: impl AsRef<Path>) -> Result<Config, ConfigError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|error| ConfigError::Read {
            path: path.to_owned(),
            error,
        })?;
        Config::from_toml_str(&text)
    }

    /// Parses and validates TOML text.
    pub fn from_toml_str(text: &str) -> Result<Config, ConfigError> {
        RawConfig::from_toml_str(text)?.validate()
    }

    /// The zero-config development setup: one listener on `127.0.0.1:8080` (WebSocket at
    /// `/ws`, RawSocket on the same port) with all three serializers, realm `realm1`,
    /// `auto_realms = true`, log level `info`, default limits. Equal to what
    /// [`DEFAULT_TOML`] parses to.
    pub fn dev_default() -> Config {
        let mut config = Config {
            router: RouterSettings {
                auto_realms: true,
                log_level: DEFAULT_LOG_LEVEL.to_owned(),
            },
            listen: vec![ListenConfig::new(DEFAULT_BIND)],
            unix_listen: Vec::new(),
            limits: Limits::default(),
            realms: Vec::new(),
        };
        // `DEV_REALM` is a valid URI (a unit test checks it); were it not, the development
        // setup would still work through `auto_realms`.
        if let Ok(name) = Uri::parse(DEV_REALM, UriRules::Loose) {
            config.realms.push(RealmConfig::new(name));
        }
        config
    }

    /// Overrides the first listener's IP address and/or port (the `--bind`/`--port` flags).
    /// `None` keeps the configured value. Adds a default listener first if there is none.
    pub fn override_listen(&mut self, bind: Option<IpAddr>, port: Option<u16>) {
        if self.listen.is_empty() {
            self.listen.push(ListenConfig::new(DEFAULT_BIND));
        }
        if let Some(first) = self.listen.first_mut() {
            if let Some(ip) = bind {
                first.bind.set_ip(ip);
            }
            if let Some(port) = port {
                first.bind.set_port(port);
            }
        }
    }

    /// Adds a realm with default settings (the `--realm` flag). Adding a realm that is
    /// already configured does nothing. An invalid name is an error naming the realm.
    pub fn add_realm(&mut self, name: &str) -> Result<(), ConfigError> {
        let key = format!("realm[{}].name", self.realms.len());
        let name = parse_realm_name(name, &key)?;
        if !self.realms.iter().any(|r| r.name == name) {
            self.realms.push(RealmConfig::new(name));
        }
        Ok(())
    }

    /// The configured realm with this name, if any.
    pub fn realm(&self, name: &str) -> Option<&RealmConfig> {
        self.realms.iter().find(|r| r.name.as_str() == name)
    }
}

impl Default for Config {
    /// The development setup, [`Config::dev_default`].
    fn default() -> Config {
        Config::dev_default()
    }
}

impl Default for Limits {
    /// The limits of [`DEFAULT_TOML`].
    fn default() -> Limits {
        Limits {
            max_message_size: DEFAULT_MAX_MESSAGE_SIZE_NZ,
            max_sessions: DEFAULT_MAX_SESSIONS_NZ,
            handshake_timeout: Duration::from_millis(DEFAULT_HANDSHAKE_TIMEOUT_MS),
            outbound_queue_messages: DEFAULT_OUTBOUND_QUEUE_MESSAGES_NZ,
            outbound_queue_bytes: DEFAULT_OUTBOUND_QUEUE_BYTES_NZ,
            slow_consumer: SlowConsumer::Close,
            max_registrations_per_session: DEFAULT_MAX_PER_SESSION_NZ,
            max_subscriptions_per_session: DEFAULT_MAX_PER_SESSION_NZ,
            max_pending_calls_per_session: DEFAULT_MAX_PER_SESSION_NZ,
            max_queued_calls_per_registration: DEFAULT_MAX_QUEUED_CALLS_NZ,
            max_sessions_per_authid: None,
            idle_timeout: None,
            ping: None,
        }
    }
}

impl ListenConfig {
    /// A TCP listener on `bind` with the default WebSocket path and every serializer, no TLS.
    pub fn new(bind: SocketAddr) -> ListenConfig {
        ListenConfig {
            bind,
            ws_path: DEFAULT_WS_PATH.to_owned(),
            serializers: DEFAULT_SERIALIZERS.to_vec(),
            max_message_size: None,
            tls: None,
        }
    }
}

impl UnixListenConfig {
    /// A Unix socket listener at `path` with the default WebSocket path and every serializer.
    pub fn new(path: impl Into<PathBuf>) -> UnixListenConfig {
        UnixListenConfig {
            path: path.into(),
            ws_path: DEFAULT_WS_PATH.to_owned(),
            serializers: DEFAULT_SERIALIZERS.to_vec(),
            max_message_size: None,
            tls: None,
        }
    }
}

/// `n` as a `NonZeroUsize`, checked at compile time for the constants below.
const fn nz(n: usize) -> NonZeroUsize {
    match NonZeroUsize::new(n) {
        Some(n) => n,
        None => panic!("default limit must be non-zero"),
    }
}

const DEFAULT_MAX_MESSAGE_SIZE_NZ: NonZeroUsize = nz(DEFAULT_MAX_MESSAGE_SIZE);
const DEFAULT_MAX_SESSIONS_NZ: NonZeroUsize = nz(DEFAULT_MAX_SESSIONS);
const DEFAULT_OUTBOUND_QUEUE_MESSAGES_NZ: NonZeroUsize = nz(DEFAULT_OUTBOUND_QUEUE_MESSAGES);
const DEFAULT_OUTBOUND_QUEUE_BYTES_NZ: NonZeroUsize = nz(DEFAULT_OUTBOUND_QUEUE_BYTES);
const DEFAULT_MAX_PER_SESSION_NZ: NonZeroUsize = nz(DEFAULT_MAX_PER_SESSION);
/// Default `limits.max_queued_calls_per_registration`.
pub const DEFAULT_MAX_QUEUED_CALLS: usize = 1000;
const DEFAULT_MAX_QUEUED_CALLS_NZ: NonZeroUsize = nz(DEFAULT_MAX_QUEUED_CALLS);

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The key path of a validation error; panics with the error otherwise.
    fn invalid_key(text: &str) -> String {
        match Config::from_toml_str(text) {
            Err(ConfigError::Invalid { key, .. }) => key,
            other => panic!("expected a validation error for {text:?}, got {other:?}"),
        }
    }

    fn toml_error(text: &str) -> String {
        match Config::from_toml_str(text) {
            Err(e @ ConfigError::Toml(_)) => e.to_string(),
            other => panic!("expected a TOML error for {text:?}, got {other:?}"),
        }
    }

    const MINIMAL: &str = "[[realm]]\nname = \"realm1\"\n";

    #[test]
    fn default_toml_parses_to_dev_default() {
        assert_eq!(
            Config::from_toml_str(DEFAULT_TOML).unwrap(),
            Config::dev_default()
        );
        assert_eq!(Config::default(), Config::dev_default());
    }

    #[test]
    fn dev_default_is_the_documented_development_setup() {
        let config = Config::dev_default();
        assert!(config.router.auto_realms);
        assert_eq!(config.router.log_level, "info");
        assert_eq!(config.listen.len(), 1);
        assert_eq!(config.listen[0].bind, "127.0.0.1:8080".parse().unwrap());
        assert_eq!(config.listen[0].ws_path, "/ws");
        assert_eq!(
            config.listen[0].serializers,
            [Format::Json, Format::MessagePack, Format::Cbor]
        );
        assert_eq!(config.realms.len(), 1);
        assert_eq!(config.realms[0].name.as_str(), "realm1");
        assert_eq!(config.limits.max_message_size.get(), 16 * 1024 * 1024);
        assert_eq!(config.limits.handshake_timeout, Duration::from_secs(10));
        assert_eq!(config.limits.slow_consumer, SlowConsumer::Close);
    }

    #[test]
    fn every_key_of_default_toml_has_a_comment_line_above() {
        let lines: Vec<&str> = DEFAULT_TOML.lines().collect();
        for (i, line) in lines.iter().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') || line.starts_with('[') {
                continue;
            }
            assert!(
                i > 0 && lines[i - 1].trim_start().starts_with('#'),
                "key line {line:?} has no comment above it"
            );
        }
    }

    #[test]
    fn omitted_sections_take_defaults_and_auto_realms_is_false() {
        let config = Config::from_toml_str(MINIMAL).unwrap();
        let dev = Config::dev_default();
        assert!(!config.router.auto_realms);
        assert_eq!(config.router.log_level, dev.router.log_level);
        assert_eq!(config.listen, dev.listen);
        assert_eq!(config.limits, dev.limits);
        assert_eq!(config.realms, dev.realms);
    }

    #[test]
    fn listen_table_without_optional_keys_takes_defaults() {
        let config =
            Config::from_toml_str("[[listen]]\nbind = \"0.0.0.0:9000\"\n[[realm]]\nname = \"a\"\n")
                .unwrap();
        assert_eq!(config.listen[0].bind, "0.0.0.0:9000".parse().unwrap());
        assert_eq!(config.listen[0].ws_path, "/ws");
        assert_eq!(config.listen[0].serializers.len(), 3);
    }

    #[test]
    fn full_example_parses() {
        let text = r#"
            [router]
            auto_realms = false
            log_level = "info,switchboard=debug"

            [[listen]]
            bind = "127.0.0.1:8080"
            ws_path = "/ws"
            serializers = ["json", "msgpack", "cbor"]

            [[listen]]
            bind = "[::1]:0"
            ws_path = "/wamp/v2"
            serializers = ["cbor"]

            [[listen]]
            bind = "[::1]:0"

            [limits]
            max_message_size = 1048576
            max_sessions = 50
            handshake_timeout_ms = 2500
            outbound_queue_messages = 64
            outbound_queue_bytes = 65536
            slow_consumer = "drop"

            [[realm]]
            name = "realm1"

            [[realm]]
            name = "com.example.app"
        "#;
        let config = Config::from_toml_str(text).unwrap();
        assert!(!config.router.auto_realms);
        assert_eq!(config.router.log_level, "info,switchboard=debug");
        assert_eq!(config.listen.len(), 3);
        assert_eq!(config.listen[1].bind, "[::1]:0".parse().unwrap());
        assert_eq!(config.listen[1].ws_path, "/wamp/v2");
        assert_eq!(config.listen[1].serializers, [Format::Cbor]);
        assert_eq!(config.limits.max_message_size.get(), 1_048_576);
        assert_eq!(config.limits.max_sessions.get(), 50);
        assert_eq!(config.limits.handshake_timeout, Duration::from_millis(2500));
        assert_eq!(config.limits.outbound_queue_messages.get(), 64);
        assert_eq!(config.limits.outbound_queue_bytes.get(), 65_536);
        assert_eq!(config.limits.slow_consumer, SlowConsumer::Drop);
        let names: Vec<&str> = config.realms.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["realm1", "com.example.app"]);
        assert!(config.realm("com.example.app").is_some());
        assert!(config.realm("nope").is_none());
    }

    #[test]
    fn unknown_keys_are_rejected_by_name() {
        for (text, key) in [
            ("bogus = 1\n", "bogus"),
            ("[router]\nauto_realm = true\n", "auto_realm"),
            ("[[listen]]\nbind = \"127.0.0.1:1\"\nbnd = \"x\"\n", "bnd"),
            ("[limits]\nmax_mesage_size = 5\n", "max_mesage_size"),
            ("[[realm]]\nname = \"a\"\nroles = []\n", "roles"),
            ("[tls]\ncert = \"x\"\n", "tls"),
        ] {
            let message = toml_error(text);
            assert!(message.contains(key), "{message:?} does not name {key:?}");
            assert!(
                message.contains("line"),
                "{message:?} does not give the line"
            );
        }
    }

    #[test]
    fn wrongly_typed_values_are_toml_errors_naming_the_key() {
        for (text, needle) in [
            ("[router]\nauto_realms = \"yes\"\n", "auto_realms"),
            ("[limits]\nmax_sessions = -1\n", "max_sessions"),
            ("[limits]\nslow_consumer = \"block\"\n", "block"),
            ("[[realm]]\n", "name"),
            ("listen = 5\n", "listen"),
            ("[router\n", "line"),
        ] {
            let message = toml_error(text);
            assert!(
                message.contains(needle),
                "{message:?} does not mention {needle:?}"
            );
        }
    }

    #[test]
    fn validation_errors_name_their_key() {
        let listen = |body: &str| format!("[[listen]]\n{body}\n{MINIMAL}");
        let cases: Vec<(String, &str)> = vec![
            (listen("bind = \"x\""), "listen[0].bind"),
            (listen("bind = \"127.0.0.1\""), "listen[0].bind"),
            (listen("bind = \"localhost:8080\""), "listen[0].bind"),
            (listen("bind = \"127.0.0.1:99999\""), "listen[0].bind"),
            (
                listen("bind = \"127.0.0.1:1\"\n[[listen]]\nbind = \"127.0.0.1:1\""),
                "listen[1].bind",
            ),
            (
                listen("bind = \"127.0.0.1:1\"\nws_path = \"ws\""),
                "listen[0].ws_path",
            ),
            (
                listen("bind = \"127.0.0.1:1\"\nws_path = \"/a b\""),
                "listen[0].ws_path",
            ),
            (
                listen("bind = \"127.0.0.1:1\"\nws_path = \"/ws?x\""),
                "listen[0].ws_path",
            ),
            (
                listen("bind = \"127.0.0.1:1\"\nserializers = []"),
                "listen[0].serializers",
            ),
            (
                listen("bind = \"127.0.0.1:1\"\nserializers = [\"json\", \"xml\"]"),
                "listen[0].serializers[1]",
            ),
            (
                listen("bind = \"127.0.0.1:1\"\nserializers = [\"cbor\", \"cbor\"]"),
                "listen[0].serializers[1]",
            ),
            (format!("listen = []\n{MINIMAL}"), "listen"),
            (listen("ws_path = \"/ws\""), "listen[0].bind"),
            (
                format!("[router]\nlog_level = \"\"\n{MINIMAL}"),
                "router.log_level",
            ),
            (
                format!("[router]\nlog_level = \"infoo\"\n{MINIMAL}"),
                "router.log_level",
            ),
            ("[[realm]]\nname = \"\"\n".to_owned(), "realm[0].name"),
            ("[[realm]]\nname = \"a..b\"\n".to_owned(), "realm[0].name"),
            (
                "[[realm]]\nname = \"my realm\"\n".to_owned(),
                "realm[0].name",
            ),
            ("[[realm]]\nname = \"a#b\"\n".to_owned(), "realm[0].name"),
            (
                "[[realm]]\nname = \"a\"\n[[realm]]\nname = \"b\"\n[[realm]]\nname = \"a\"\n"
                    .to_owned(),
                "realm[2].name",
            ),
            (String::new(), "realm"),
            ("[router]\nauto_realms = false\n".to_owned(), "realm"),
        ];
        for (text, key) in cases {
            assert_eq!(invalid_key(&text), key, "for {text:?}");
        }
    }

    #[test]
    fn zero_limits_are_rejected_by_name() {
        for key in [
            "max_message_size",
            "max_sessions",
            "handshake_timeout_ms",
            "outbound_queue_messages",
            "outbound_queue_bytes",
        ] {
            let text = format!("[limits]\n{key} = 0\n{MINIMAL}");
            let err = Config::from_toml_str(&text).unwrap_err();
            assert_eq!(err.key(), Some(format!("limits.{key}").as_str()));
            assert_eq!(err.to_string(), format!("limits.{key}: must be > 0"));
        }
    }

    #[test]
    fn error_messages_quote_the_value() {
        let err = Config::from_toml_str("[[listen]]\nbind = \"x\"\n[[realm]]\nname = \"a\"\n")
            .unwrap_err();
        assert!(
            err.to_string()
                .starts_with("listen[0].bind: invalid socket address \"x\""),
            "{err}"
        );
        let err = Config::from_toml_str(
            "[[listen]]\nbind = \"127.0.0.1:1\"\nserializers = [\"xml\"]\n[[realm]]\nname = \"a\"\n",
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "listen[0].serializers[0]: unknown serializer \"xml\" (expected json, msgpack or cbor)"
        );
    }

    #[test]
    fn port_zero_listeners_may_repeat() {
        let text = format!(
            "[[listen]]\nbind = \"127.0.0.1:0\"\n[[listen]]\nbind = \"127.0.0.1:0\"\n{MINIMAL}"
        );
        assert_eq!(Config::from_toml_str(&text).unwrap().listen.len(), 2);
    }

    #[test]
    fn log_level_accepts_levels_and_filters() {
        for level in [
            "off",
            "error",
            "WARN",
            " debug ",
            "trace",
            "switchboard=trace",
            "info,x=off",
        ] {
            let text = format!("[router]\nlog_level = {level:?}\n{MINIMAL}");
            let config = Config::from_toml_str(&text).unwrap();
            assert_eq!(config.router.log_level, level.trim());
        }
    }

    #[test]
    fn auto_realms_without_realms_is_valid() {
        let config = Config::from_toml_str("[router]\nauto_realms = true\n").unwrap();
        assert!(config.realms.is_empty());
    }

    #[test]
    fn override_listen_changes_only_what_is_given() {
        let mut config = Config::dev_default();
        config.override_listen(None, None);
        assert_eq!(config, Config::dev_default());

        config.override_listen(None, Some(0));
        assert_eq!(config.listen[0].bind, "127.0.0.1:0".parse().unwrap());
        config.override_listen(Some("::1".parse().unwrap()), None);
        assert_eq!(config.listen[0].bind, "[::1]:0".parse().unwrap());
        config.override_listen(Some("0.0.0.0".parse().unwrap()), Some(9001));
        assert_eq!(config.listen[0].bind, "0.0.0.0:9001".parse().unwrap());
    }

    #[test]
    fn override_listen_touches_only_the_first_listener() {
        let text = format!(
            "[[listen]]\nbind = \"127.0.0.1:1\"\n[[listen]]\nbind = \"127.0.0.1:2\"\n{MINIMAL}"
        );
        let mut config = Config::from_toml_str(&text).unwrap();
        config.override_listen(None, Some(3));
        assert_eq!(config.listen[0].bind.port(), 3);
        assert_eq!(config.listen[1].bind.port(), 2);
    }

    #[test]
    fn override_listen_adds_a_listener_when_there_is_none() {
        let mut config = Config::dev_default();
        config.listen.clear();
        config.override_listen(None, Some(0));
        assert_eq!(config.listen.len(), 1);
        assert_eq!(config.listen[0].bind, "127.0.0.1:0".parse().unwrap());
    }

    #[test]
    fn add_realm_validates_and_ignores_duplicates() {
        let mut config = Config::dev_default();
        config.add_realm("com.example").unwrap();
        config.add_realm("realm1").unwrap();
        config.add_realm("com.example").unwrap();
        let names: Vec<&str> = config.realms.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["realm1", "com.example"]);

        let err = config.add_realm("bad realm").unwrap_err();
        assert_eq!(err.key(), Some("realm[2].name"));
        assert!(err.to_string().contains("\"bad realm\""), "{err}");
        assert_eq!(config.realms.len(), 2);
    }

    #[test]
    fn load_reads_a_file_and_names_a_missing_one() {
        let dir = std::env::temp_dir().join(format!("switchboard-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("switchboard.toml");
        std::fs::write(&path, DEFAULT_TOML).unwrap();
        assert_eq!(Config::load(&path).unwrap(), Config::dev_default());

        let missing = dir.join("missing.toml");
        let err = Config::load(&missing).unwrap_err();
        assert!(matches!(err, ConfigError::Read { .. }));
        assert!(err.to_string().contains("missing.toml"), "{err}");
        assert_eq!(err.key(), None);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn non_utf8_file_is_an_error_not_a_panic() {
        let dir =
            std::env::temp_dir().join(format!("switchboard-config-bin-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("binary.toml");
        std::fs::write(&path, [0xff, 0xfe, 0x00, 0x80]).unwrap();
        assert!(matches!(Config::load(&path), Err(ConfigError::Read { .. })));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    proptest! {
        #[test]
        fn arbitrary_text_never_panics(text in "\\PC{0,200}") {
            let _ = Config::from_toml_str(&text);
        }

        #[test]
        fn arbitrary_values_never_panic(
            bind in "\\PC{0,30}",
            path in "\\PC{0,10}",
            ser in "\\PC{0,8}",
            realm in "\\PC{0,20}",
            level in "\\PC{0,20}",
            size in any::<i64>(),
            timeout in any::<i64>(),
        ) {
            let text = format!(
                "[router]\nlog_level = {level:?}\n[[listen]]\nbind = {bind:?}\nws_path = {path:?}\n\
                 serializers = [{ser:?}]\n[limits]\nmax_message_size = {size}\n\
                 handshake_timeout_ms = {timeout}\n[[realm]]\nname = {realm:?}\n"
            );
            let _ = Config::from_toml_str(&text);
            let mut config = Config::dev_default();
            let _ = config.add_realm(&realm);
        }
    }
}
