//! [`StaticAuthenticator`]: every authentication method of wamp-spec §7 over a fixed table of
//! principals.
//!
//! | `authmethod` | Principal | Flow |
//! |---|---|---|
//! | `anonymous` | none (one role for everybody) | WELCOME at once, `authid` = the session id |
//! | `ticket` | `authid` → ticket | `CHALLENGE {}`, the ticket comes back as the signature |
//! | `wampcra` | `authid` → secret (optionally salted: salt, iterations, keylen) | `CHALLENGE {challenge[, salt, iterations, keylen]}`, HMAC-SHA256 signature |
//! | `wamp-scram` (spec), `scram` (Autobahn\|Python) | `authid` → SCRAM stored credential per variant | `CHALLENGE {nonce, salt, kdf, iterations, memory}`, client proof, server signature in WELCOME |
//! | `cryptosign` | Ed25519 public keys → `authid` | `CHALLENGE {challenge, channel_binding: null}`, Ed25519 signature |
//!
//! The router picks the first method in the client's `authmethods` that has at least one
//! principal here (no `authmethods` means `anonymous`).
//!
//! An unknown `authid` is not revealed where the method allows hiding it: a ticket login and a
//! SCRAM login (with a mock credential whose salt is stable per `authid`) go through the
//! challenge and fail at AUTHENTICATE exactly like a wrong secret. WAMP-CRA (whose challenge
//! names the role) and Cryptosign (whose public keys are not secret) refuse an unknown
//! principal right after HELLO. All failures are `wamp.error.authentication_failed`.
//!
//! Channel binding is not supported (rustls does not expose `tls-unique`): a SCRAM HELLO that
//! asks for it is refused; a Cryptosign CHALLENGE says `channel_binding: null`, as the spec
//! allows, and the signature must then be over the plain challenge.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use rand::RngExt as _;
use switchboard_proto::auth::scram::{self, KdfParams, ScramServer, StoredCredential, Variant};
use switchboard_proto::auth::{AuthError, Secret, cra, cryptosign, ticket};
use switchboard_proto::message::Authenticate;
use switchboard_proto::{Dict, Value};

use super::{AuthDecision, AuthOutcome, Authenticator, HelloRequest, PendingAuth};

/// The `authprovider` reported for principals from this table.
const PROVIDER: &str = "static";

/// The message of every failed credential check: the same whatever failed.
fn failed(method: &str, authid: &str) -> AuthDecision {
    AuthDecision::failed(format!(
        "{method} authentication failed for authid {authid:?}"
    ))
}

fn welcome(authid: &str, role: &str, method: &str, authextra: Dict) -> AuthDecision {
    AuthDecision::Welcome(AuthOutcome {
        authid: authid.to_owned(),
        authrole: role.to_owned(),
        authmethod: method.to_owned(),
        authprovider: PROVIDER.to_owned(),
        authextra,
    })
}

/// A WAMP-CRA principal: the HMAC key and, for the salted variant, what the challenge tells the
/// client about the key derivation.
#[derive(Clone)]
pub struct CraPrincipal {
    role: String,
    /// The HMAC key: the secret itself, or the base64 text of the derived key (salted).
    key: Secret,
    salt: Option<(String, u32, usize)>,
}

impl CraPrincipal {
    /// Unsalted: the secret is the HMAC key.
    pub fn new(secret: Secret, role: impl Into<String>) -> CraPrincipal {
        CraPrincipal {
            role: role.into(),
            key: secret,
            salt: None,
        }
    }

    /// Salted: the HMAC key is derived once, here, with PBKDF2 (as Autobahn's `derive_key`).
    ///
    /// # Errors
    ///
    /// [`AuthError::InvalidKdfParameters`] for zero iterations or a `keylen` out of range.
    pub fn salted(
        secret: &Secret,
        salt: impl Into<String>,
        iterations: u32,
        keylen: usize,
        role: impl Into<String>,
    ) -> Result<CraPrincipal, AuthError> {
        let salt = salt.into();
        let key = cra::derive_key(secret.expose(), &salt, iterations, keylen)?;
        Ok(CraPrincipal {
            role: role.into(),
            key: Secret::new(key.as_bytes()),
            salt: Some((salt, iterations, keylen)),
        })
    }
}

impl fmt::Debug for CraPrincipal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CraPrincipal")
            .field("role", &self.role)
            .field("key", &self.key)
            .field("salted", &self.salt.is_some())
            .finish()
    }
}

/// A SCRAM principal: a stored credential for each wire variant it may log in with.
#[derive(Clone, Debug)]
pub struct ScramPrincipal {
    role: String,
    spec: Option<StoredCredential>,
    autobahn: Option<StoredCredential>,
}

impl ScramPrincipal {
    /// A principal from stored credentials: `spec` for `wamp-scram`, `autobahn` for `scram`
    /// (either may be absent; PBKDF2 credentials are the same in both).
    pub fn new(
        role: impl Into<String>,
        spec: Option<StoredCredential>,
        autobahn: Option<StoredCredential>,
    ) -> ScramPrincipal {
        ScramPrincipal {
            role: role.into(),
            spec,
            autobahn,
        }
    }

    /// Derives the credentials for both variants from a password (slow: runs the KDF once per
    /// variant for Argon2, once for PBKDF2). `salt` is the raw salt.
    ///
    /// # Errors
    ///
    /// As [`StoredCredential::from_password`].
    pub fn from_password(
        password: &str,
        salt: &[u8],
        params: KdfParams,
        role: impl Into<String>,
    ) -> Result<ScramPrincipal, AuthError> {
        let spec = StoredCredential::from_password(Variant::Spec, password, salt, params)?;
        let autobahn = match params.kdf() {
            scram::Kdf::Pbkdf2 => spec.clone(),
            scram::Kdf::Argon2id13 => {
                StoredCredential::from_password(Variant::Autobahn, password, salt, params)?
            }
        };
        Ok(ScramPrincipal::new(role, Some(spec), Some(autobahn)))
    }

    fn credential(&self, variant: Variant) -> Option<&StoredCredential> {
        match variant {
            Variant::Spec => self.spec.as_ref(),
            Variant::Autobahn => self.autobahn.as_ref(),
        }
    }
}

/// A Cryptosign principal: an `authid`, its role and the public keys that may log in as it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CryptosignPrincipal {
    authid: String,
    role: String,
}

/// Every authentication method of wamp-spec §7 over a fixed table of principals; see the
/// module docs.
///
/// ```
/// use switchboard_engine::auth::StaticAuthenticator;
/// use switchboard_proto::auth::Secret;
///
/// let auth = StaticAuthenticator::new()
///     .with_anonymous("anonymous")
///     .with_ticket("joe", Secret::from("s3cret"), "user");
/// assert!(auth.offers("ticket"));
/// assert!(!auth.offers("wampcra"));
/// ```
#[derive(Clone)]
pub struct StaticAuthenticator {
    anonymous: Option<String>,
    tickets: HashMap<String, (Secret, String)>,
    wampcra: HashMap<String, CraPrincipal>,
    scram: HashMap<String, ScramPrincipal>,
    cryptosign: HashMap<[u8; 32], Arc<CryptosignPrincipal>>,
    /// Keys the mock SCRAM salts, so they are stable per `authid` but unpredictable.
    mock_secret: Secret,
    /// KDF parameters of the mock credential (`None` only if they could not be built).
    mock_params: Option<KdfParams>,
}

fn sorted_keys<V>(map: &HashMap<String, V>) -> Vec<&str> {
    let mut keys: Vec<&str> = map.keys().map(String::as_str).collect();
    keys.sort_unstable();
    keys
}

impl fmt::Debug for StaticAuthenticator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StaticAuthenticator")
            .field("anonymous", &self.anonymous)
            .field("ticket", &sorted_keys(&self.tickets))
            .field("wampcra", &sorted_keys(&self.wampcra))
            .field("scram", &sorted_keys(&self.scram))
            .field("cryptosign_keys", &self.cryptosign.len())
            .finish_non_exhaustive()
    }
}

impl Default for StaticAuthenticator {
    fn default() -> StaticAuthenticator {
        StaticAuthenticator::new()
    }
}

/// PBKDF2 rounds of the mock credential shown for unknown SCRAM users (RFC 7677's minimum).
const MOCK_PBKDF2_ITERATIONS: u32 = 4096;

impl StaticAuthenticator {
    /// No method configured: every HELLO gets `wamp.error.no_matching_auth_method`.
    pub fn new() -> StaticAuthenticator {
        let mut secret = [0u8; 32];
        rand::rng().fill(&mut secret[..]);
        StaticAuthenticator {
            anonymous: None,
            tickets: HashMap::new(),
            wampcra: HashMap::new(),
            scram: HashMap::new(),
            cryptosign: HashMap::new(),
            mock_secret: Secret::new(secret.to_vec()),
            mock_params: KdfParams::pbkdf2(MOCK_PBKDF2_ITERATIONS).ok(),
        }
    }

    /// Lets anyone in anonymously, with `role`.
    pub fn with_anonymous(mut self, role: impl Into<String>) -> StaticAuthenticator {
        self.anonymous = Some(role.into());
        self
    }

    /// Adds a ticket principal.
    pub fn with_ticket(
        mut self,
        authid: impl Into<String>,
        ticket: Secret,
        role: impl Into<String>,
    ) -> StaticAuthenticator {
        self.tickets.insert(authid.into(), (ticket, role.into()));
        self
    }

    /// Adds a WAMP-CRA principal.
    pub fn with_wampcra(
        mut self,
        authid: impl Into<String>,
        principal: CraPrincipal,
    ) -> StaticAuthenticator {
        self.wampcra.insert(authid.into(), principal);
        self
    }

    /// Adds a SCRAM principal (serves `wamp-scram` and `scram` as far as it has credentials).
    pub fn with_scram(
        mut self,
        authid: impl Into<String>,
        principal: ScramPrincipal,
    ) -> StaticAuthenticator {
        self.scram.insert(authid.into(), principal);
        self
    }

    /// Sets the KDF parameters of the mock challenge sent for unknown SCRAM users (best: the
    /// parameters real users have, so the two cannot be told apart).
    pub fn with_scram_mock_params(mut self, params: KdfParams) -> StaticAuthenticator {
        self.mock_params = Some(params);
        self
    }

    /// Adds a Cryptosign principal with its authorized Ed25519 public keys (hex, 64 digits).
    ///
    /// # Errors
    ///
    /// The first key that is not a valid Ed25519 public key.
    pub fn with_cryptosign<S: AsRef<str>>(
        mut self,
        authid: impl Into<String>,
        public_keys: &[S],
        role: impl Into<String>,
    ) -> Result<StaticAuthenticator, AuthError> {
        let principal = Arc::new(CryptosignPrincipal {
            authid: authid.into(),
            role: role.into(),
        });
        for key in public_keys {
            let key = cryptosign::decode_public_key(key.as_ref().trim())?;
            self.cryptosign.insert(key, Arc::clone(&principal));
        }
        Ok(self)
    }

    /// Whether `authmethod` is configured (has a principal, or is `anonymous` and allowed).
    pub fn offers(&self, authmethod: &str) -> bool {
        match authmethod {
            "anonymous" => self.anonymous.is_some(),
            ticket::AUTHMETHOD => !self.tickets.is_empty(),
            cra::AUTHMETHOD => !self.wampcra.is_empty(),
            scram::AUTHMETHOD | scram::AUTHMETHOD_AUTOBAHN => !self.scram.is_empty(),
            cryptosign::AUTHMETHOD => !self.cryptosign.is_empty(),
            _ => false,
        }
    }

    fn start(&self, method: &str, hello: &HelloRequest<'_>) -> AuthDecision {
        match method {
            "anonymous" => {
                let role = self.anonymous.as_deref().unwrap_or("anonymous");
                welcome(&hello.session.to_string(), role, "anonymous", Dict::new())
            }
            ticket::AUTHMETHOD => self.start_ticket(hello),
            cra::AUTHMETHOD => self.start_wampcra(hello),
            cryptosign::AUTHMETHOD => self.start_cryptosign(hello),
            _ => match Variant::from_authmethod(method) {
                Some(variant) => self.start_scram(variant, hello),
                None => AuthDecision::failed(format!("unknown authmethod {method:?}")),
            },
        }
    }

    fn start_ticket(&self, hello: &HelloRequest<'_>) -> AuthDecision {
        let Some(authid) = hello.authid else {
            return AuthDecision::failed("ticket authentication requires an authid in HELLO");
        };
        AuthDecision::Challenge {
            method: ticket::AUTHMETHOD.to_owned(),
            extra: Dict::new(),
            pending: Box::new(TicketPending {
                authid: authid.to_owned(),
                principal: self.tickets.get(authid).cloned(),
            }),
        }
    }

    fn start_wampcra(&self, hello: &HelloRequest<'_>) -> AuthDecision {
        let Some(authid) = hello.authid else {
            return AuthDecision::failed("wampcra authentication requires an authid in HELLO");
        };
        let Some(principal) = self.wampcra.get(authid) else {
            return failed(cra::AUTHMETHOD, authid);
        };
        let challenge = cra::Challenge::with_random_nonce(
            authid,
            principal.role.as_str(),
            PROVIDER,
            hello.session,
            cra::format_timestamp(hello.unix_millis),
        )
        .to_json();
        let mut extra = Dict::new();
        extra.insert("challenge".into(), Value::from(challenge.as_str()));
        if let Some((salt, iterations, keylen)) = &principal.salt {
            extra.insert("salt".into(), Value::from(salt.as_str()));
            extra.insert("iterations".into(), Value::from(*iterations));
            extra.insert("keylen".into(), Value::from(*keylen));
        }
        AuthDecision::Challenge {
            method: cra::AUTHMETHOD.to_owned(),
            extra,
            pending: Box::new(CraPending {
                authid: authid.to_owned(),
                principal: principal.clone(),
                challenge,
            }),
        }
    }

    fn start_scram(&self, variant: Variant, hello: &HelloRequest<'_>) -> AuthDecision {
        let method = variant.authmethod();
        let Some(authid) = hello.authid else {
            return AuthDecision::failed(format!("{method} authentication requires an authid"));
        };
        let Some(nonce) = hello.authextra.get("nonce").and_then(Value::as_str) else {
            return AuthDecision::failed(format!(
                "{method} authentication requires HELLO.Details.authextra.nonce"
            ));
        };
        if hello
            .authextra
            .get("channel_binding")
            .is_some_and(|v| !v.is_null())
        {
            return AuthDecision::failed(format!(
                "{method}: channel binding is not supported by this router"
            ));
        }
        let principal = self.scram.get(authid);
        let known = principal.and_then(|p| p.credential(variant).cloned());
        let role = principal.map(|p| p.role.clone());
        let (credential, role) = match (known, role, self.mock_params) {
            (Some(credential), Some(role), _) => (credential, Some(role)),
            (_, _, Some(params)) => (
                StoredCredential::mock(self.mock_secret.expose(), authid, params),
                None,
            ),
            (_, _, None) => return failed(method, authid),
        };
        let server = match ScramServer::new(variant, authid, nonce, credential) {
            Ok(s) => s,
            Err(_) => {
                return AuthDecision::failed(format!(
                    "{method}: the client nonce in HELLO.Details.authextra.nonce is not usable"
                ));
            }
        };
        let first = server.server_first();
        let params = first.params;
        let mut extra = Dict::new();
        extra.insert("nonce".into(), Value::from(first.nonce));
        extra.insert("salt".into(), Value::from(first.salt));
        extra.insert("kdf".into(), Value::from(params.kdf().name(variant)));
        extra.insert("iterations".into(), Value::from(params.iterations()));
        match (params.memory(), variant) {
            (Some(m), _) => {
                extra.insert("memory".into(), Value::from(m));
            }
            // The spec sends `null`; Autobahn's client cannot take `null` (it calls int()).
            (None, Variant::Spec) => {
                extra.insert("memory".into(), Value::Null);
            }
            (None, Variant::Autobahn) => {}
        }
        AuthDecision::Challenge {
            method: method.to_owned(),
            extra,
            pending: Box::new(ScramPending {
                authid: authid.to_owned(),
                role,
                server,
            }),
        }
    }

    fn start_cryptosign(&self, hello: &HelloRequest<'_>) -> AuthDecision {
        let method = cryptosign::AUTHMETHOD;
        let Some(pubkey) = hello.authextra.get("pubkey").and_then(Value::as_str) else {
            return AuthDecision::failed(
                "cryptosign authentication requires HELLO.Details.authextra.pubkey",
            );
        };
        let principal = cryptosign::decode_public_key(pubkey)
            .ok()
            .and_then(|key| self.cryptosign.get(&key));
        let Some(principal) = principal else {
            return AuthDecision::failed(format!(
                "cryptosign authentication failed: public key {pubkey:?} is not authorized"
            ));
        };
        if let Some(authid) = hello.authid
            && authid != principal.authid
        {
            return failed(method, authid);
        }
        let challenge = cryptosign::generate_challenge();
        let mut extra = Dict::new();
        extra.insert("challenge".into(), Value::from(hex::encode(challenge)));
        extra.insert("channel_binding".into(), Value::Null);
        AuthDecision::Challenge {
            method: method.to_owned(),
            extra,
            pending: Box::new(CryptosignPending {
                pubkey: pubkey.to_owned(),
                challenge,
                principal: Arc::clone(principal),
            }),
        }
    }
}

impl Authenticator for StaticAuthenticator {
    fn hello(&self, hello: &HelloRequest<'_>) -> AuthDecision {
        let offered: &[&str] = if hello.authmethods.is_empty() {
            &["anonymous"]
        } else {
            &hello.authmethods
        };
        match offered.iter().find(|m| self.offers(m)) {
            Some(method) => self.start(method, hello),
            None => AuthDecision::Abort(super::AuthAbort::new(
                switchboard_proto::names::ErrorUri::NoMatchingAuthMethod,
                format!(
                    "none of the offered auth methods ({}) is configured on realm {:?}",
                    offered.join(", "),
                    hello.realm
                ),
            )),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Pending authentications
// ---------------------------------------------------------------------------------------------

struct TicketPending {
    authid: String,
    principal: Option<(Secret, String)>,
}

impl fmt::Debug for TicketPending {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TicketPending")
            .field("authid", &self.authid)
            .finish_non_exhaustive()
    }
}

impl PendingAuth for TicketPending {
    fn authenticate(self: Box<Self>, m: &Authenticate) -> AuthDecision {
        match &self.principal {
            Some((stored, role))
                if ticket::verify(stored.expose(), m.signature.as_bytes()).is_ok() =>
            {
                welcome(&self.authid, role, ticket::AUTHMETHOD, Dict::new())
            }
            _ => failed(ticket::AUTHMETHOD, &self.authid),
        }
    }
}

#[derive(Debug)]
struct CraPending {
    authid: String,
    principal: CraPrincipal,
    challenge: String,
}

impl PendingAuth for CraPending {
    fn authenticate(self: Box<Self>, m: &Authenticate) -> AuthDecision {
        match cra::verify(self.principal.key.expose(), &self.challenge, &m.signature) {
            Ok(()) => welcome(
                &self.authid,
                &self.principal.role,
                cra::AUTHMETHOD,
                Dict::new(),
            ),
            Err(_) => failed(cra::AUTHMETHOD, &self.authid),
        }
    }
}

#[derive(Debug)]
struct ScramPending {
    authid: String,
    /// `None` for a mock challenge (unknown user): nothing verifies.
    role: Option<String>,
    server: ScramServer,
}

impl PendingAuth for ScramPending {
    fn authenticate(self: Box<Self>, m: &Authenticate) -> AuthDecision {
        let variant = self.server.variant();
        let method = variant.authmethod();
        let echoed = match (m.extra.get("nonce"), variant) {
            (Some(v), _) => v.as_str().map(str::to_owned),
            // Autobahn's client does not echo the nonce.
            (None, Variant::Autobahn) => Some(self.server.server_first().nonce.to_owned()),
            (None, Variant::Spec) => None,
        };
        let Some(echoed) = echoed else {
            return AuthDecision::failed(format!("{method}: AUTHENTICATE.Extra.nonce is missing"));
        };
        if m.extra.get("channel_binding").is_some_and(|v| !v.is_null()) {
            return AuthDecision::failed(format!(
                "{method}: channel binding differs from HELLO (none)"
            ));
        }
        match (self.server.verify(&m.signature, &echoed, None), &self.role) {
            (Ok(signature), Some(role)) => {
                let mut authextra = Dict::new();
                authextra.insert(variant.verifier_key().into(), Value::from(signature));
                welcome(&self.authid, role, method, authextra)
            }
            _ => failed(method, &self.authid),
        }
    }
}

#[derive(Debug)]
struct CryptosignPending {
    pubkey: String,
    challenge: [u8; cryptosign::CHALLENGE_LEN],
    principal: Arc<CryptosignPrincipal>,
}

impl PendingAuth for CryptosignPending {
    fn authenticate(self: Box<Self>, m: &Authenticate) -> AuthDecision {
        let p = &self.principal;
        match cryptosign::verify(&self.pubkey, &self.challenge, None, m.signature.trim()) {
            Ok(()) => welcome(&p.authid, &p.role, cryptosign::AUTHMETHOD, Dict::new()),
            Err(_) => failed(cryptosign::AUTHMETHOD, &p.authid),
        }
    }
}
