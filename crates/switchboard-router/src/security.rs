//! The security part of a realm's configuration: `[realm.auth]` (who may join, and how) and
//! `[[realm.role]]` (what each role may do), read, checked, and turned into the engine's
//! [`RealmSecurity`].
//!
//! ```toml
//! [[realm]]
//! name = "realm1"
//!
//! [realm.auth.anonymous]
//! role = "anonymous"
//!
//! [[realm.auth.ticket]]
//! authid = "ticket-user"
//! ticket = "ticket-pass"
//! role = "user"
//!
//! [[realm.role]]
//! name = "user"
//! [[realm.role.permission]]
//! uri = ""
//! match = "prefix"
//! call = true
//! register = true
//! publish = true
//! subscribe = true
//!
//! [[realm.role]]
//! name = "anonymous"
//! [[realm.role.permission]]
//! uri = "public."
//! match = "prefix"
//! call = true
//! subscribe = true
//! ```
//!
//! A dynamic authenticator, a WAMP procedure that decides who a client is (as Crossbar's
//! `dynamic` authentication), handles the methods it lists instead of static principals:
//!
//! ```toml
//! [realm.auth.dynamic]
//! procedure = "com.example.authenticate"
//! authmethods = ["ticket"]      # "ticket" and/or "anonymous"
//! # realm = "auth"              # where the procedure is registered (default: this realm)
//! ```
//!
//! The router calls it through a trusted in-process session (see
//! [`ServerHandle::trusted_session`](crate::server::ServerHandle::trusted_session)) with
//! `(realm, authid, details)`; see `docs/security.md` for the contract.
//!
//! A realm with neither `[realm.auth]` nor `[[realm.role]]` is the development setup: anyone
//! joins anonymously and may do everything. As soon as either is present, the realm is
//! locked down: only the configured methods let clients in (no `[realm.auth]` means anonymous
//! only, with role `anonymous`), and every action needs a permission rule of the session's
//! role. Every role a principal names must be declared as a `[[realm.role]]`.
//!
//! Secrets (tickets, WAMP-CRA secrets, SCRAM passwords) are kept in [`SecretString`], which
//! never shows them in `Debug` output or error messages.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::Arc;

use serde::Deserialize;
use switchboard_engine::auth::{
    CraPrincipal, DynamicAuthenticator, ScramPrincipal, StaticAuthenticator,
};
use switchboard_engine::authz::{DynamicAuthorizer, Permission, RoleAuthorizer};
use switchboard_engine::{Authenticator, RealmSecurity};
use switchboard_proto::auth::scram::{KdfParams, StoredCredential, Variant};
use switchboard_proto::auth::{Secret, cra, cryptosign};
use switchboard_proto::uri::{MatchPolicy, Pattern, Uri, UriRules};

use crate::config::ConfigError;

// ---------------------------------------------------------------------------------------------
// Secrets
// ---------------------------------------------------------------------------------------------

/// A secret from the config file. Its `Debug` output is redacted. (Its `PartialEq` is plain
/// string equality, there to compare whole configs; logins compare secrets only through the
/// constant-time checks of `switchboard_proto::auth`.)
#[derive(Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct SecretString(String);

impl SecretString {
    /// Wraps a secret.
    pub fn new(secret: impl Into<String>) -> SecretString {
        SecretString(secret.into())
    }

    /// The secret text.
    pub fn expose(&self) -> &str {
        &self.0
    }

    fn to_secret(&self) -> Secret {
        Secret::from(self.0.as_str())
    }
}

impl fmt::Debug for SecretString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

// ---------------------------------------------------------------------------------------------
// Raw form
// ---------------------------------------------------------------------------------------------

/// `[realm.auth]` as read: one table or list per method.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RawAuth {
    /// `[realm.auth.anonymous]`: anyone may join, with this role.
    pub anonymous: Option<RawAnonymous>,
    /// `[[realm.auth.ticket]]`.
    pub ticket: Vec<RawTicket>,
    /// `[[realm.auth.wampcra]]`.
    pub wampcra: Vec<RawWampCra>,
    /// `[[realm.auth.scram]]`: serves both `wamp-scram` (spec) and `scram` (Autobahn).
    pub scram: Vec<RawScram>,
    /// `[[realm.auth.cryptosign]]`.
    pub cryptosign: Vec<RawCryptosign>,
    /// `[realm.auth.dynamic]`: a procedure authenticates these methods.
    pub dynamic: Option<RawDynamic>,
}

/// `[realm.authorizer]` as read.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAuthorizer {
    /// `procedure`: the authorizer's URI.
    pub procedure: String,
    /// `realm` where it is registered (default: the session's realm).
    #[serde(default)]
    pub realm: Option<String>,
    /// `roles` whose sessions are authorized by the procedure.
    pub roles: Vec<String>,
    /// `cache_ttl_ms`: how long cacheable answers are kept (absent or 0: no caching).
    #[serde(default)]
    pub cache_ttl_ms: Option<u64>,
}

/// A checked `[realm.authorizer]`.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct AuthorizerConfig {
    /// The authorizer procedure.
    pub procedure: String,
    /// The realm it is registered on (`None`: the session's realm).
    pub realm: Option<String>,
    /// The roles it authorizes, no duplicates.
    pub roles: Vec<String>,
    /// How long cacheable answers are kept (`None`: no caching).
    pub cache_ttl: Option<std::time::Duration>,
}

/// Checks `[realm.authorizer]`; `key` is its key path, e.g. `realm[0].authorizer`.
pub(crate) fn validate_authorizer(
    raw: &RawAuthorizer,
    key: &str,
) -> Result<AuthorizerConfig, ConfigError> {
    Uri::parse(&raw.procedure, UriRules::Loose).map_err(|e| {
        invalid(
            format!("{key}.procedure"),
            format!("invalid procedure URI {:?}: {e}", raw.procedure),
        )
    })?;
    if raw.procedure.starts_with("wamp.") {
        return Err(invalid(
            format!("{key}.procedure"),
            "procedures under wamp. are reserved for the router",
        ));
    }
    if let Some(realm) = &raw.realm {
        Uri::parse(realm, UriRules::Loose).map_err(|e| {
            invalid(
                format!("{key}.realm"),
                format!("invalid realm URI {realm:?}: {e}"),
            )
        })?;
    }
    if raw.roles.is_empty() {
        return Err(invalid(
            format!("{key}.roles"),
            "list at least one role whose sessions the procedure authorizes",
        ));
    }
    let mut roles: Vec<String> = Vec::new();
    for (i, role) in raw.roles.iter().enumerate() {
        let k = format!("{key}.roles[{i}]");
        non_empty(role, k.clone())?;
        if roles.contains(role) {
            return Err(invalid(k, format!("duplicate role {role:?}")));
        }
        if role == switchboard_engine::session::TRUSTED {
            return Err(invalid(
                k,
                "trusted sessions are always authorized; they cannot be authorized dynamically",
            ));
        }
        roles.push(role.clone());
    }
    Ok(AuthorizerConfig {
        procedure: raw.procedure.clone(),
        realm: raw.realm.clone(),
        roles,
        cache_ttl: raw
            .cache_ttl_ms
            .filter(|ms| *ms > 0)
            .map(std::time::Duration::from_millis),
    })
}

/// `[realm.auth.dynamic]` as read.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawDynamic {
    /// `procedure`: the authenticator's URI.
    pub procedure: String,
    /// `realm` where it is registered (default: the realm being joined).
    #[serde(default)]
    pub realm: Option<String>,
    /// `authmethods` it handles: `ticket` and/or `anonymous`.
    pub authmethods: Vec<String>,
}

/// `[realm.auth.anonymous]` as read.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAnonymous {
    /// `role` (default `anonymous`).
    #[serde(default = "default_anonymous_role")]
    pub role: String,
}

fn default_anonymous_role() -> String {
    "anonymous".to_owned()
}

/// One `[[realm.auth.ticket]]` as read.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawTicket {
    /// `authid`.
    pub authid: String,
    /// `ticket`.
    pub ticket: SecretString,
    /// `role`.
    pub role: String,
}

/// One `[[realm.auth.wampcra]]` as read.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawWampCra {
    /// `authid`.
    pub authid: String,
    /// `secret`.
    pub secret: SecretString,
    /// `role`.
    pub role: String,
    /// `salt`: turns on the salted variant (the salt string is used as-is).
    #[serde(default)]
    pub salt: Option<String>,
    /// `iterations` (salted only; default 1000).
    #[serde(default)]
    pub iterations: Option<u32>,
    /// `keylen` (salted only; default 32).
    #[serde(default)]
    pub keylen: Option<usize>,
}

/// One `[[realm.auth.scram]]` as read.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawScram {
    /// `authid`.
    pub authid: String,
    /// `role`.
    pub role: String,
    /// `password` (the router derives the stored credential at startup).
    #[serde(default)]
    pub password: Option<SecretString>,
    /// `kdf`: `argon2id13` (default) or `pbkdf2`.
    #[serde(default)]
    pub kdf: Option<String>,
    /// `iterations` (Argon2 time cost, default 3; PBKDF2 rounds, default 600000).
    #[serde(default)]
    pub iterations: Option<u32>,
    /// `memory` in KiB (Argon2 only, default 65536).
    #[serde(default)]
    pub memory: Option<u32>,
    /// `salt`, base64 (default: random at every start).
    #[serde(default)]
    pub salt: Option<String>,
    /// `stored_key`, hex: a precomputed credential instead of `password` (with `server_key`
    /// and `salt`).
    #[serde(default)]
    pub stored_key: Option<SecretString>,
    /// `server_key`, hex.
    #[serde(default)]
    pub server_key: Option<SecretString>,
    /// `variant` of a precomputed Argon2 credential: `spec` (`wamp-scram`) or `autobahn`
    /// (`scram`, as Crossbar stores them; the default).
    #[serde(default)]
    pub variant: Option<String>,
}

/// One `[[realm.auth.cryptosign]]` as read.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCryptosign {
    /// `authid`.
    pub authid: String,
    /// `authorized_keys`: Ed25519 public keys, hex.
    pub authorized_keys: Vec<String>,
    /// `role`.
    pub role: String,
}

/// One `[[realm.role]]` as read.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRole {
    /// `name`.
    pub name: String,
    /// `[[realm.role.permission]]`.
    #[serde(default)]
    pub permission: Vec<RawPermission>,
}

/// One `[[realm.role.permission]]` as read. Every action defaults to `false`.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPermission {
    /// `uri`: a URI, or a pattern with `match`.
    pub uri: String,
    /// `match`: `exact` (default), `prefix` or `wildcard`.
    #[serde(default, rename = "match")]
    pub match_policy: Option<String>,
    /// `call`.
    #[serde(default)]
    pub call: bool,
    /// `register`.
    #[serde(default)]
    pub register: bool,
    /// `publish`.
    #[serde(default)]
    pub publish: bool,
    /// `subscribe`.
    #[serde(default)]
    pub subscribe: bool,
    /// `disclose_caller`: callees see who called.
    #[serde(default)]
    pub disclose_caller: bool,
    /// `disclose_publisher`: subscribers see who published.
    #[serde(default)]
    pub disclose_publisher: bool,
}

// ---------------------------------------------------------------------------------------------
// Checked form
// ---------------------------------------------------------------------------------------------

/// A realm's checked authentication settings.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct AuthConfig {
    /// The role of anonymous sessions, if anonymous login is allowed.
    pub anonymous: Option<String>,
    /// Ticket principals.
    pub ticket: Vec<TicketPrincipal>,
    /// WAMP-CRA principals.
    pub wampcra: Vec<CraConfig>,
    /// SCRAM principals.
    pub scram: Vec<ScramConfig>,
    /// Cryptosign principals.
    pub cryptosign: Vec<CryptosignConfig>,
    /// The dynamic authenticator, if any.
    pub dynamic: Option<DynamicConfig>,
}

/// A checked `[realm.auth.dynamic]`.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct DynamicConfig {
    /// The authenticator procedure.
    pub procedure: String,
    /// The realm it is registered on (`None`: the realm being joined).
    pub realm: Option<String>,
    /// The methods it handles (`ticket`, `anonymous`), no duplicates.
    pub authmethods: Vec<String>,
}

/// A ticket principal.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct TicketPrincipal {
    /// Its `authid`.
    pub authid: String,
    /// Its ticket.
    pub ticket: SecretString,
    /// Its role.
    pub role: String,
}

/// A WAMP-CRA principal.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct CraConfig {
    /// Its `authid`.
    pub authid: String,
    /// Its secret.
    pub secret: SecretString,
    /// Its role.
    pub role: String,
    /// Salt, iterations and key length of the salted variant.
    pub salt: Option<(String, u32, usize)>,
}

/// A SCRAM principal.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ScramConfig {
    /// Its `authid`.
    pub authid: String,
    /// Its role.
    pub role: String,
    /// KDF and cost.
    pub params: KdfParams,
    /// Where the credential comes from.
    pub credential: ScramSource,
}

/// Where a SCRAM credential comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ScramSource {
    /// Derived from the password at startup (for both variants); random salt if `None`.
    Password {
        /// The password.
        password: SecretString,
        /// The raw salt.
        salt: Option<Vec<u8>>,
    },
    /// Precomputed.
    Keys {
        /// The raw salt.
        salt: Vec<u8>,
        /// StoredKey.
        stored_key: [u8; 32],
        /// ServerKey.
        server_key: [u8; 32],
        /// The variant it was derived for (matters for Argon2 only).
        variant: Variant,
    },
}

/// A Cryptosign principal.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct CryptosignConfig {
    /// Its `authid`.
    pub authid: String,
    /// Its authorized public keys, lowercase hex.
    pub authorized_keys: Vec<String>,
    /// Its role.
    pub role: String,
}

/// A checked role.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct RoleConfig {
    /// Its name.
    pub name: String,
    /// Its rules, in file order.
    pub permissions: Vec<(Pattern, Permission)>,
}

// ---------------------------------------------------------------------------------------------
// Validation
// ---------------------------------------------------------------------------------------------

/// The smallest salt Argon2 accepts, in bytes.
const ARGON2_MIN_SALT: usize = 8;

fn invalid(key: impl Into<String>, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key: key.into(),
        message: message.into(),
    }
}

fn non_empty(value: &str, key: impl Into<String>) -> Result<(), ConfigError> {
    if value.trim().is_empty() {
        Err(invalid(key, "must not be empty"))
    } else {
        Ok(())
    }
}

fn unique<'a>(
    seen: &mut HashMap<&'a str, String>,
    authid: &'a str,
    key: String,
) -> Result<(), ConfigError> {
    if let Some(first) = seen.get(authid) {
        return Err(invalid(
            key,
            format!("duplicate authid {authid:?} (also {first})"),
        ));
    }
    seen.insert(authid, key);
    Ok(())
}

fn hex32(text: &str, key: String) -> Result<[u8; 32], ConfigError> {
    let bytes = hex::decode(text.trim())
        .map_err(|_| invalid(key.clone(), "must be 64 hexadecimal digits"))?;
    bytes
        .try_into()
        .map_err(|_| invalid(key, "must be 64 hexadecimal digits (32 bytes)"))
}

fn base64_salt(text: &str, key: String) -> Result<Vec<u8>, ConfigError> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .map_err(|_| invalid(key, format!("{text:?} is not standard base64")))
}

/// Checks `[realm.auth]`; `at` is the key prefix, e.g. `realm[0].auth`.
pub(crate) fn validate_auth(raw: &RawAuth, at: &str) -> Result<AuthConfig, ConfigError> {
    let mut out = AuthConfig {
        anonymous: raw.anonymous.as_ref().map(|a| a.role.clone()),
        ..AuthConfig::default()
    };
    if let Some(role) = &out.anonymous {
        non_empty(role, format!("{at}.anonymous.role"))?;
    }

    let mut seen = HashMap::new();
    for (i, t) in raw.ticket.iter().enumerate() {
        let key = format!("{at}.ticket[{i}]");
        non_empty(&t.authid, format!("{key}.authid"))?;
        unique(&mut seen, &t.authid, format!("{key}.authid"))?;
        non_empty(t.ticket.expose(), format!("{key}.ticket"))?;
        non_empty(&t.role, format!("{key}.role"))?;
        out.ticket.push(TicketPrincipal {
            authid: t.authid.clone(),
            ticket: t.ticket.clone(),
            role: t.role.clone(),
        });
    }

    let mut seen = HashMap::new();
    for (i, c) in raw.wampcra.iter().enumerate() {
        let key = format!("{at}.wampcra[{i}]");
        non_empty(&c.authid, format!("{key}.authid"))?;
        unique(&mut seen, &c.authid, format!("{key}.authid"))?;
        non_empty(c.secret.expose(), format!("{key}.secret"))?;
        non_empty(&c.role, format!("{key}.role"))?;
        let salt = match &c.salt {
            Some(salt) => {
                let iterations = c.iterations.unwrap_or(cra::DEFAULT_ITERATIONS);
                let keylen = c.keylen.unwrap_or(cra::DEFAULT_KEYLEN);
                if iterations == 0 {
                    return Err(invalid(format!("{key}.iterations"), "must be > 0"));
                }
                if keylen == 0 || keylen > cra::MAX_KEYLEN {
                    return Err(invalid(
                        format!("{key}.keylen"),
                        format!("must be in 1..={}", cra::MAX_KEYLEN),
                    ));
                }
                Some((salt.clone(), iterations, keylen))
            }
            None => {
                for (field, set) in [
                    ("iterations", c.iterations.is_some()),
                    ("keylen", c.keylen.is_some()),
                ] {
                    if set {
                        return Err(invalid(
                            format!("{key}.{field}"),
                            "only applies to salted WAMP-CRA: set salt too",
                        ));
                    }
                }
                None
            }
        };
        out.wampcra.push(CraConfig {
            authid: c.authid.clone(),
            secret: c.secret.clone(),
            role: c.role.clone(),
            salt,
        });
    }

    let mut seen = HashMap::new();
    for (i, s) in raw.scram.iter().enumerate() {
        let key = format!("{at}.scram[{i}]");
        non_empty(&s.authid, format!("{key}.authid"))?;
        unique(&mut seen, &s.authid, format!("{key}.authid"))?;
        non_empty(&s.role, format!("{key}.role"))?;
        out.scram.push(validate_scram(s, &key)?);
    }

    let mut seen = HashMap::new();
    let mut keys: HashMap<String, String> = HashMap::new();
    for (i, c) in raw.cryptosign.iter().enumerate() {
        let key = format!("{at}.cryptosign[{i}]");
        non_empty(&c.authid, format!("{key}.authid"))?;
        unique(&mut seen, &c.authid, format!("{key}.authid"))?;
        non_empty(&c.role, format!("{key}.role"))?;
        if c.authorized_keys.is_empty() {
            return Err(invalid(
                format!("{key}.authorized_keys"),
                "at least one public key is required",
            ));
        }
        let mut authorized = Vec::with_capacity(c.authorized_keys.len());
        for (j, pubkey) in c.authorized_keys.iter().enumerate() {
            let k = format!("{key}.authorized_keys[{j}]");
            let bytes = cryptosign::decode_public_key(pubkey.trim()).map_err(|e| {
                invalid(
                    k.clone(),
                    format!("{pubkey:?} is not an Ed25519 public key: {e}"),
                )
            })?;
            let hex = hex::encode(bytes);
            if let Some(first) = keys.get(&hex) {
                return Err(invalid(k, format!("duplicate public key (also {first})")));
            }
            keys.insert(hex.clone(), k);
            authorized.push(hex);
        }
        out.cryptosign.push(CryptosignConfig {
            authid: c.authid.clone(),
            authorized_keys: authorized,
            role: c.role.clone(),
        });
    }

    if let Some(d) = &raw.dynamic {
        out.dynamic = Some(validate_dynamic(d, &out, &format!("{at}.dynamic"))?);
    }
    Ok(out)
}

fn validate_dynamic(
    d: &RawDynamic,
    auth: &AuthConfig,
    key: &str,
) -> Result<DynamicConfig, ConfigError> {
    Uri::parse(&d.procedure, UriRules::Loose).map_err(|e| {
        invalid(
            format!("{key}.procedure"),
            format!("invalid procedure URI {:?}: {e}", d.procedure),
        )
    })?;
    if d.procedure.starts_with("wamp.") {
        return Err(invalid(
            format!("{key}.procedure"),
            "procedures under wamp. are reserved for the router",
        ));
    }
    if let Some(realm) = &d.realm {
        Uri::parse(realm, UriRules::Loose).map_err(|e| {
            invalid(
                format!("{key}.realm"),
                format!("invalid realm URI {realm:?}: {e}"),
            )
        })?;
    }
    if d.authmethods.is_empty() {
        return Err(invalid(
            format!("{key}.authmethods"),
            "list at least one method (ticket, anonymous)",
        ));
    }
    let mut methods: Vec<String> = Vec::new();
    for (i, m) in d.authmethods.iter().enumerate() {
        let k = format!("{key}.authmethods[{i}]");
        if !switchboard_engine::auth::dynamic::METHODS.contains(&m.as_str()) {
            return Err(invalid(
                k,
                format!("{m:?} cannot be authenticated dynamically (only ticket and anonymous)"),
            ));
        }
        if methods.contains(m) {
            return Err(invalid(k, format!("duplicate method {m:?}")));
        }
        let static_too = match m.as_str() {
            "anonymous" => auth.anonymous.is_some(),
            _ => !auth.ticket.is_empty(),
        };
        if static_too {
            return Err(invalid(
                k,
                format!(
                    "{m:?} is configured statically too ([realm.auth.{m}]); a method is either \
                     static or dynamic"
                ),
            ));
        }
        methods.push(m.clone());
    }
    Ok(DynamicConfig {
        procedure: d.procedure.clone(),
        realm: d.realm.clone(),
        authmethods: methods,
    })
}

fn validate_scram(s: &RawScram, key: &str) -> Result<ScramConfig, ConfigError> {
    let kdf = s.kdf.as_deref().unwrap_or("argon2id13");
    let params = match kdf {
        "argon2id13" | "argon2id-13" | "argon2id" => {
            let (iterations, memory) = (s.iterations.unwrap_or(3), s.memory.unwrap_or(65_536));
            let field = if iterations == 0 {
                "iterations"
            } else {
                "memory"
            };
            KdfParams::argon2id13(iterations, memory)
                .map_err(|e| invalid(format!("{key}.{field}"), e.to_string()))?
        }
        "pbkdf2" => {
            if s.memory.is_some() {
                return Err(invalid(
                    format!("{key}.memory"),
                    "only applies to kdf = \"argon2id13\"",
                ));
            }
            KdfParams::pbkdf2(s.iterations.unwrap_or(600_000))
                .map_err(|e| invalid(format!("{key}.iterations"), e.to_string()))?
        }
        other => {
            return Err(invalid(
                format!("{key}.kdf"),
                format!("unknown KDF {other:?} (expected argon2id13 or pbkdf2)"),
            ));
        }
    };
    let salt = s
        .salt
        .as_deref()
        .map(|text| base64_salt(text, format!("{key}.salt")))
        .transpose()?;
    if let Some(salt) = &salt
        && params.memory().is_some()
        && salt.len() < ARGON2_MIN_SALT
    {
        return Err(invalid(
            format!("{key}.salt"),
            format!("Argon2 needs a salt of at least {ARGON2_MIN_SALT} bytes"),
        ));
    }
    let credential = match (&s.password, &s.stored_key, &s.server_key) {
        (Some(password), None, None) => {
            non_empty(password.expose(), format!("{key}.password"))?;
            if s.variant.is_some() {
                return Err(invalid(
                    format!("{key}.variant"),
                    "only applies to stored_key/server_key",
                ));
            }
            ScramSource::Password {
                password: password.clone(),
                salt,
            }
        }
        (None, Some(stored), Some(server)) => {
            let Some(salt) = salt else {
                return Err(invalid(
                    format!("{key}.salt"),
                    "required with stored_key and server_key",
                ));
            };
            let variant = match s.variant.as_deref().unwrap_or("autobahn") {
                "spec" => Variant::Spec,
                "autobahn" => Variant::Autobahn,
                other => {
                    return Err(invalid(
                        format!("{key}.variant"),
                        format!("{other:?} is not spec or autobahn"),
                    ));
                }
            };
            ScramSource::Keys {
                salt,
                stored_key: hex32(stored.expose(), format!("{key}.stored_key"))?,
                server_key: hex32(server.expose(), format!("{key}.server_key"))?,
                variant,
            }
        }
        (Some(_), _, _) => {
            return Err(invalid(
                key,
                "give either password or stored_key + server_key, not both",
            ));
        }
        _ => {
            return Err(invalid(
                format!("{key}.password"),
                "required (or stored_key + server_key + salt)",
            ));
        }
    };
    Ok(ScramConfig {
        authid: s.authid.clone(),
        role: s.role.clone(),
        params,
        credential,
    })
}

/// Checks `[[realm.role]]`; `at` is the key prefix, e.g. `realm[0].role`.
pub(crate) fn validate_roles(raw: &[RawRole], at: &str) -> Result<Vec<RoleConfig>, ConfigError> {
    let mut out: Vec<RoleConfig> = Vec::with_capacity(raw.len());
    for (i, role) in raw.iter().enumerate() {
        let key = format!("{at}[{i}]");
        non_empty(&role.name, format!("{key}.name"))?;
        if let Some(first) = out.iter().position(|r| r.name == role.name) {
            return Err(invalid(
                format!("{key}.name"),
                format!("duplicate role {:?} (also {at}[{first}])", role.name),
            ));
        }
        let mut permissions: Vec<(Pattern, Permission)> = Vec::new();
        for (j, p) in role.permission.iter().enumerate() {
            let k = format!("{key}.permission[{j}]");
            let policy = match p.match_policy.as_deref() {
                None => MatchPolicy::Exact,
                Some(m) => MatchPolicy::parse(m).ok_or_else(|| {
                    invalid(
                        format!("{k}.match"),
                        format!("{m:?} is not exact, prefix or wildcard"),
                    )
                })?,
            };
            let pattern = Pattern::parse(&p.uri, policy, UriRules::Loose).map_err(|e| {
                invalid(
                    format!("{k}.uri"),
                    format!("invalid URI {:?} for match {policy}: {e}", p.uri),
                )
            })?;
            if let Some(first) = permissions.iter().position(|(q, _)| *q == pattern) {
                return Err(invalid(
                    format!("{k}.uri"),
                    format!(
                        "duplicate rule for {:?} match {policy} (also {key}.permission[{first}])",
                        p.uri
                    ),
                ));
            }
            permissions.push((
                pattern,
                Permission {
                    call: p.call,
                    register: p.register,
                    publish: p.publish,
                    subscribe: p.subscribe,
                    disclose_caller: p.disclose_caller,
                    disclose_publisher: p.disclose_publisher,
                },
            ));
        }
        out.push(RoleConfig {
            name: role.name.clone(),
            permissions,
        });
    }
    Ok(out)
}

/// Checks that every role `auth` hands out is declared in `roles`. `at` is the realm's key
/// prefix, e.g. `realm[0]`.
pub(crate) fn check_roles_exist(
    auth: Option<&AuthConfig>,
    roles: &[RoleConfig],
    at: &str,
) -> Result<(), ConfigError> {
    let declared: HashSet<&str> = roles.iter().map(|r| r.name.as_str()).collect();
    let missing = |role: &str, key: String, who: &str| {
        if declared.contains(role) {
            Ok(())
        } else {
            Err(invalid(
                key,
                format!("{who}role {role:?} is not declared in a [[realm.role]] of this realm"),
            ))
        }
    };
    let Some(auth) = auth else {
        return missing(
            "anonymous",
            format!("{at}.role"),
            "without [realm.auth] every session is anonymous with role \"anonymous\"; ",
        );
    };
    if let Some(role) = &auth.anonymous {
        missing(role, format!("{at}.auth.anonymous.role"), "")?;
    }
    for (i, p) in auth.ticket.iter().enumerate() {
        missing(&p.role, format!("{at}.auth.ticket[{i}].role"), "")?;
    }
    for (i, p) in auth.wampcra.iter().enumerate() {
        missing(&p.role, format!("{at}.auth.wampcra[{i}].role"), "")?;
    }
    for (i, p) in auth.scram.iter().enumerate() {
        missing(&p.role, format!("{at}.auth.scram[{i}].role"), "")?;
    }
    for (i, p) in auth.cryptosign.iter().enumerate() {
        missing(&p.role, format!("{at}.auth.cryptosign[{i}].role"), "")?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Building the engine's security
// ---------------------------------------------------------------------------------------------

/// The engine's authenticator and authorizer for a realm's checked settings. `None` for both
/// is the development setup ([`RealmSecurity::open`]).
///
/// Derives SCRAM credentials from passwords, which is deliberately slow (Argon2). A principal
/// whose credential cannot be built (validation rules that out) is left out and logged, so the
/// realm fails closed.
///
/// With `dynamic` (`[realm.authorizer]`), sessions of its roles are authorized by its procedure,
/// the others as without it.
pub fn realm_security(
    auth: Option<&AuthConfig>,
    roles: &[RoleConfig],
    dynamic: Option<&AuthorizerConfig>,
) -> RealmSecurity {
    let mut security = static_security(auth, roles);
    if let Some(d) = dynamic {
        security.authorizer = Arc::new(DynamicAuthorizer::new(
            d.procedure.as_str(),
            d.realm.clone(),
            d.roles.clone(),
            d.cache_ttl,
            security.authorizer,
        ));
    }
    security
}

fn static_security(auth: Option<&AuthConfig>, roles: &[RoleConfig]) -> RealmSecurity {
    if auth.is_none() && roles.is_empty() {
        return RealmSecurity::open();
    }
    let mut authorizer = RoleAuthorizer::new();
    for role in roles {
        authorizer.add_role(role.name.as_str());
        for (pattern, permission) in &role.permissions {
            authorizer.add_rule(role.name.as_str(), pattern.clone(), *permission);
        }
    }
    let authenticator: Arc<dyn Authenticator> = match auth {
        None => Arc::new(StaticAuthenticator::new().with_anonymous("anonymous")),
        Some(auth) => match &auth.dynamic {
            None => Arc::new(build_authenticator(auth)),
            Some(d) => {
                let methods: Vec<&str> = d.authmethods.iter().map(String::as_str).collect();
                Arc::new(DynamicAuthenticator::new(
                    d.procedure.as_str(),
                    d.realm.clone(),
                    &methods,
                    build_authenticator(auth),
                ))
            }
        },
    };
    RealmSecurity {
        authenticator,
        authorizer: Arc::new(authorizer),
    }
}

fn build_authenticator(auth: &AuthConfig) -> StaticAuthenticator {
    let mut a = StaticAuthenticator::new();
    if let Some(role) = &auth.anonymous {
        a = a.with_anonymous(role.as_str());
    }
    for t in &auth.ticket {
        a = a.with_ticket(t.authid.as_str(), t.ticket.to_secret(), t.role.as_str());
    }
    for c in &auth.wampcra {
        let principal = match &c.salt {
            None => Ok(CraPrincipal::new(c.secret.to_secret(), c.role.as_str())),
            Some((salt, iterations, keylen)) => CraPrincipal::salted(
                &c.secret.to_secret(),
                salt.as_str(),
                *iterations,
                *keylen,
                c.role.as_str(),
            ),
        };
        match principal {
            Ok(p) => a = a.with_wampcra(c.authid.as_str(), p),
            Err(e) => tracing::error!(authid = %c.authid, "wampcra principal left out: {e}"),
        }
    }
    if let Some(first) = auth.scram.first() {
        a = a.with_scram_mock_params(first.params);
    }
    for s in &auth.scram {
        let principal = match &s.credential {
            ScramSource::Password { password, salt } => {
                let salt = salt.clone().unwrap_or_else(random_salt);
                ScramPrincipal::from_password(password.expose(), &salt, s.params, s.role.as_str())
            }
            ScramSource::Keys {
                salt,
                stored_key,
                server_key,
                variant,
            } => {
                let credential =
                    StoredCredential::from_keys(salt.clone(), s.params, *stored_key, *server_key);
                let pbkdf2 = s.params.memory().is_none();
                let (spec, autobahn) = match variant {
                    _ if pbkdf2 => (Some(credential.clone()), Some(credential)),
                    Variant::Spec => (Some(credential), None),
                    Variant::Autobahn => (None, Some(credential)),
                };
                Ok(ScramPrincipal::new(s.role.as_str(), spec, autobahn))
            }
        };
        match principal {
            Ok(p) => a = a.with_scram(s.authid.as_str(), p),
            Err(e) => tracing::error!(authid = %s.authid, "scram principal left out: {e}"),
        }
    }
    for c in &auth.cryptosign {
        match a
            .clone()
            .with_cryptosign(c.authid.as_str(), &c.authorized_keys, c.role.as_str())
        {
            Ok(with) => a = with,
            Err(e) => tracing::error!(authid = %c.authid, "cryptosign principal left out: {e}"),
        }
    }
    a
}

fn random_salt() -> Vec<u8> {
    use rand::RngExt as _;
    let mut salt = vec![0u8; 16];
    rand::rng().fill(&mut salt[..]);
    salt
}
