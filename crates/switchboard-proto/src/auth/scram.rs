//! WAMP-SCRAM (wamp-spec §7.4): RFC 5802 / RFC 7677 SCRAM-SHA-256 carried in WAMP messages,
//! with PBKDF2 or Argon2id as the password KDF. Two wire variants are supported, see [`Variant`].
//!
//! # Flow
//!
//! | Step | Client ([`ScramClient`]) | Router ([`ScramServer`]) |
//! |---|---|---|
//! | `HELLO` | `authid`, `authextra.nonce` = [`ScramClient::nonce`] | |
//! | `CHALLENGE` | | `Extra` = [`ScramServer::server_first`]: `nonce`, `salt`, `kdf`, `iterations`, `memory` |
//! | `AUTHENTICATE` | [`ScramClient::respond`] → [`ClientFinal::proof`]; `Extra.nonce` = the combined nonce | [`ScramServer::verify`] → ServerSignature |
//! | `WELCOME` | [`ClientFinal::verify_server_signature`] | `authextra[`[`Variant::verifier_key`]`]` = ServerSignature |
//!
//! The router stores a [`StoredCredential`] per user (salt, KDF parameters, StoredKey, ServerKey)
//! made once from the password by [`StoredCredential::from_password`]; it never needs the
//! password afterwards and never runs the (expensive) KDF during a login.
//!
//! # Spec variant (`"wamp-scram"`, [`Variant::Spec`])
//!
//! * `SaltedPassword = KDF(password, salt, params)`, 32 bytes, where `salt` is the base64-decoded
//!   `CHALLENGE.Extra.salt`:
//!   * `pbkdf2`: PBKDF2-HMAC-SHA256, `iterations` rounds, dkLen 32;
//!   * `argon2id13`: Argon2id version 1.3, t = `iterations`, m = `memory` KiB, parallelism 1,
//!     32-byte output.
//! * `ClientKey = HMAC(SaltedPassword, "Client Key")`, `StoredKey = SHA256(ClientKey)`,
//!   `ServerKey = HMAC(SaltedPassword, "Server Key")`.
//! * `AuthMessage = ClientFirstBare "," ServerFirst "," ClientFinalNoProof` with
//!   * `ClientFirstBare = "n=" Escape(authid) ",r=" client_nonce` (Escape: `=`→`=3D`, `,`→`=2C`),
//!   * `ServerFirst = "r=" combined_nonce ",s=" salt_base64 ",i=" iterations` (no memory),
//!   * `ClientFinalNoProof = "c=" Base64(gs2_header ‖ cbind_data) ",r=" combined_nonce` with
//!     `gs2_header = "n,,"` without channel binding (so `c=biws`) or `"p=" type ",,"` with it.
//! * `ClientSignature = HMAC(StoredKey, AuthMessage)`, `ClientProof = ClientKey XOR
//!   ClientSignature` (sent base64), `ServerSignature = HMAC(ServerKey, AuthMessage)` (sent
//!   base64 in `WELCOME.Details.authextra.verifier`; a `v=` prefix is accepted when checking).
//! * The combined nonce is `client_nonce ‖ server_nonce` as text; the client rejects a combined
//!   nonce that does not start with its own.
//!
//! # Autobahn|Python / Crossbar.io compatibility variant (`"scram"`, [`Variant::Autobahn`])
//!
//! Autobahn's `AuthScram` and Crossbar's `PendingAuthScram` implement an earlier draft. Read
//! from `autobahn/wamp/auth.py` and `crossbar/router/auth/scram.py`, and checked against
//! Autobahn 26.10.2 itself (see `tests/auth_vectors.rs`), the differences are:
//!
//! * `authmethod` is `"scram"`; the Argon2 KDF is named `"argon2id-13"` (`"pbkdf2"` unchanged).
//! * **Argon2 SaltedPassword is text**: Autobahn calls argon2-cffi's `hash_secret` (Argon2id v1.3,
//!   t = `iterations`, m = `memory`, p = 1, 32-byte hash, salt = base64-decoded `salt`) and keeps
//!   the last `$`-separated field of the PHC string, i.e. the raw 32-byte hash as **standard
//!   base64 without padding** (43 ASCII characters). Those 43 ASCII bytes are the HMAC key for
//!   ClientKey and ServerKey. (Crossbar's provisioning helper `derive_scram_credential` does the
//!   same.)
//! * `pbkdf2`: Autobahn's client cannot compute it (it passes the base64 salt *string* to a
//!   function that requires bytes and raises; Crossbar's challenge also sends `memory: null`,
//!   which Autobahn's `int()` rejects). There is no reference, so here it is computed exactly as
//!   in the spec variant (raw 32 bytes, decoded salt); only our own peers agree on it.
//! * `ClientFirstBare = "n=" authid ",r=" client_nonce` — **no `=2C`/`=3D` escaping** (Autobahn
//!   only applies SASLprep).
//! * `ClientFinalNoProof = "c=" cb_type ",r=" combined_nonce`, where `cb_type` is the
//!   channel-binding **type name as plain text** (not base64, no gs2 header, no binding data), or
//!   empty without binding: `c=,r=…`. Crossbar always uses the empty form. (Autobahn takes the
//!   type from `CHALLENGE.Extra.channel_binding`; if a router sends `null` there, Autobahn
//!   writes the literal `c=None` — so a compat router must omit the key, as this module's
//!   [`ServerFirst`] users should.)
//! * `ServerFirst` is unchanged (`r=…,s=<salt base64 as sent>,i=…`).
//! * The combined nonce is made by Crossbar as `Base64(Base64Decode(client_nonce) ‖ 16 random
//!   bytes)`, which does **not** textually start with the client nonce; Autobahn does not check
//!   it. Here the compat client checks that the *decoded* combined nonce starts with the decoded
//!   client nonce, and the compat router builds it the Crossbar way.
//! * `WELCOME.Details.authextra.scram_server_signature` carries `Base64(ServerSignature)`.
//! * Crossbar stores credentials as `salt`, `stored-key`, `server-key` in **hex** (see
//!   [`StoredCredential::from_keys`]); its challenge re-encodes the salt as base64.
//!
//! # Not implemented
//!
//! SASLprep (RFC 4013) is **not** applied: `authid` and password are used as given. For
//! printable ASCII this is identical; callers with non-ASCII user names or passwords must
//! normalize them before calling (the same way on both sides).
//!
//! The KDF is deliberately slow (Argon2 with Crossbar's defaults, t = 4096 and m = 512 KiB, takes
//! about 1 s in a release build and much longer in a debug build):
//! call [`ScramClient::respond`] and the [`StoredCredential`] constructors off the async
//! executor (`spawn_blocking`).

use std::borrow::Cow;
use std::fmt;

use zeroize::Zeroizing;

use super::{AuthError, b64_decode, b64_encode, ct_eq, hmac_sha256, random_bytes, sha256};

/// The spec's `authmethod` string.
pub const AUTHMETHOD: &str = "wamp-scram";

/// The `authmethod` string of the Autobahn|Python / Crossbar.io compatibility variant.
pub const AUTHMETHOD_AUTOBAHN: &str = "scram";

/// Length of the random part the router adds to the client nonce, in bytes.
pub const SERVER_NONCE_LEN: usize = 18;

/// Length of a freshly generated client nonce, in bytes (24 base64 characters, no padding).
pub const CLIENT_NONCE_LEN: usize = 18;

/// Length of a salt made by [`StoredCredential::generate`] and [`StoredCredential::mock`].
pub const SALT_LEN: usize = 16;

/// Which wire dialect of SCRAM to speak (see the module docs for the exact differences).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Variant {
    /// The WAMP spec text: `authmethod` `"wamp-scram"`.
    Spec,
    /// Autobahn|Python / Crossbar.io's prototype: `authmethod` `"scram"`.
    Autobahn,
}

impl Variant {
    /// The `authmethod` string for this variant.
    pub const fn authmethod(self) -> &'static str {
        match self {
            Variant::Spec => AUTHMETHOD,
            Variant::Autobahn => AUTHMETHOD_AUTOBAHN,
        }
    }

    /// The variant an `authmethod` string names, if any.
    pub fn from_authmethod(authmethod: &str) -> Option<Variant> {
        match authmethod {
            AUTHMETHOD => Some(Variant::Spec),
            AUTHMETHOD_AUTOBAHN => Some(Variant::Autobahn),
            _ => None,
        }
    }

    /// The `WELCOME.Details.authextra` key that carries the base64 ServerSignature:
    /// `"verifier"` (spec) or `"scram_server_signature"` (Autobahn).
    pub const fn verifier_key(self) -> &'static str {
        match self {
            Variant::Spec => "verifier",
            Variant::Autobahn => "scram_server_signature",
        }
    }
}

/// The password key-derivation function.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kdf {
    /// PBKDF2-HMAC-SHA256.
    Pbkdf2,
    /// Argon2id version 1.3, parallelism 1.
    Argon2id13,
}

impl Kdf {
    /// Parses a `kdf` name. Accepts `"pbkdf2"`, `"argon2id13"` (spec) and `"argon2id-13"`
    /// (Autobahn) regardless of the variant.
    ///
    /// # Errors
    ///
    /// [`AuthError::UnknownKdf`].
    pub fn parse(name: &str) -> Result<Kdf, AuthError> {
        match name {
            "pbkdf2" => Ok(Kdf::Pbkdf2),
            "argon2id13" | "argon2id-13" => Ok(Kdf::Argon2id13),
            other => Err(AuthError::UnknownKdf(other.to_owned())),
        }
    }

    /// The `kdf` name to send in `CHALLENGE.Extra` for `variant`.
    pub const fn name(self, variant: Variant) -> &'static str {
        match (self, variant) {
            (Kdf::Pbkdf2, _) => "pbkdf2",
            (Kdf::Argon2id13, Variant::Spec) => "argon2id13",
            (Kdf::Argon2id13, Variant::Autobahn) => "argon2id-13",
        }
    }
}

/// Validated KDF parameters: the KDF, its iteration count and (Argon2 only) memory in KiB.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct KdfParams {
    kdf: Kdf,
    iterations: u32,
    memory: Option<u32>,
}

impl KdfParams {
    /// PBKDF2-HMAC-SHA256 with `iterations` rounds.
    ///
    /// # Errors
    ///
    /// [`AuthError::InvalidKdfParameters`] if `iterations` is 0.
    pub fn pbkdf2(iterations: u32) -> Result<KdfParams, AuthError> {
        if iterations == 0 {
            return Err(AuthError::InvalidKdfParameters(
                "pbkdf2 iterations must be at least 1".into(),
            ));
        }
        Ok(KdfParams {
            kdf: Kdf::Pbkdf2,
            iterations,
            memory: None,
        })
    }

    /// Argon2id v1.3 with time cost `iterations` and `memory_kib` KiB of memory.
    ///
    /// # Errors
    ///
    /// [`AuthError::InvalidKdfParameters`] if `iterations` is 0 or `memory_kib` is below
    /// Argon2's minimum of 8 KiB.
    pub fn argon2id13(iterations: u32, memory_kib: u32) -> Result<KdfParams, AuthError> {
        argon2::Params::new(memory_kib, iterations, 1, Some(32))
            .map_err(|e| AuthError::InvalidKdfParameters(format!("argon2: {e}")))?;
        Ok(KdfParams {
            kdf: Kdf::Argon2id13,
            iterations,
            memory: Some(memory_kib),
        })
    }

    /// Parameters from `CHALLENGE.Extra` (`kdf`, `iterations`, `memory`, the latter `null` or
    /// absent for PBKDF2, where it is ignored).
    ///
    /// # Errors
    ///
    /// [`AuthError::UnknownKdf`], or [`AuthError::InvalidKdfParameters`] for values out of range
    /// or Argon2 without `memory`.
    pub fn from_challenge(
        kdf: &str,
        iterations: u64,
        memory: Option<u64>,
    ) -> Result<KdfParams, AuthError> {
        let to_u32 = |what: &str, v: u64| {
            u32::try_from(v)
                .map_err(|_| AuthError::InvalidKdfParameters(format!("{what} {v} is out of range")))
        };
        let iterations = to_u32("iterations", iterations)?;
        match Kdf::parse(kdf)? {
            Kdf::Pbkdf2 => KdfParams::pbkdf2(iterations),
            Kdf::Argon2id13 => {
                let memory = memory.ok_or_else(|| {
                    AuthError::InvalidKdfParameters("argon2 requires memory".into())
                })?;
                KdfParams::argon2id13(iterations, to_u32("memory", memory)?)
            }
        }
    }

    /// The KDF.
    pub const fn kdf(&self) -> Kdf {
        self.kdf
    }

    /// PBKDF2 rounds or Argon2 time cost.
    pub const fn iterations(&self) -> u32 {
        self.iterations
    }

    /// Argon2 memory in KiB; `None` for PBKDF2 (send `null`).
    pub const fn memory(&self) -> Option<u32> {
        self.memory
    }

    /// Checks the parameters against a client's acceptable range: the spec says a client SHOULD
    /// abort on suspiciously low costs, and excessive costs let a hostile router burn the
    /// client's CPU and memory.
    ///
    /// # Errors
    ///
    /// [`AuthError::InvalidKdfParameters`] naming the offending value.
    pub fn check_limits(&self, limits: &KdfLimits) -> Result<(), AuthError> {
        let out_of_range = |what: &str, v: u64, lo: u64, hi: u64| {
            if (lo..=hi).contains(&v) {
                Ok(())
            } else {
                Err(AuthError::InvalidKdfParameters(format!(
                    "{what} {v} is outside the accepted range {lo}..={hi}"
                )))
            }
        };
        let t = u64::from(self.iterations);
        match (self.kdf, self.memory) {
            (Kdf::Pbkdf2, _) => out_of_range(
                "pbkdf2 iterations",
                t,
                limits.pbkdf2_iterations.0.into(),
                limits.pbkdf2_iterations.1.into(),
            ),
            (Kdf::Argon2id13, m) => {
                let m = u64::from(m.unwrap_or(0));
                out_of_range(
                    "argon2 iterations",
                    t,
                    limits.argon2_iterations.0.into(),
                    limits.argon2_iterations.1.into(),
                )?;
                out_of_range(
                    "argon2 memory (KiB)",
                    m,
                    limits.argon2_memory_kib.0.into(),
                    limits.argon2_memory_kib.1.into(),
                )?;
                out_of_range(
                    "argon2 iterations × memory (KiB)",
                    t * m,
                    0,
                    limits.argon2_max_cost,
                )
            }
        }
    }
}

/// Acceptable KDF cost ranges for a client (inclusive `(min, max)` pairs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KdfLimits {
    /// PBKDF2 rounds.
    pub pbkdf2_iterations: (u32, u32),
    /// Argon2 time cost.
    pub argon2_iterations: (u32, u32),
    /// Argon2 memory in KiB.
    pub argon2_memory_kib: (u32, u32),
    /// Upper bound on Argon2 time cost × memory (KiB), the total work.
    pub argon2_max_cost: u64,
}

impl Default for KdfLimits {
    /// PBKDF2 4 096 (RFC 7677's minimum) to 10 000 000 rounds; Argon2 t 1..=16 384,
    /// m 512 KiB ..= 1 GiB, t × m ≤ 2^23 (4× Crossbar's default of t = 4096, m = 512).
    fn default() -> KdfLimits {
        KdfLimits {
            pbkdf2_iterations: (4096, 10_000_000),
            argon2_iterations: (1, 16_384),
            argon2_memory_kib: (512, 1 << 20),
            argon2_max_cost: 1 << 23,
        }
    }
}

/// `SaltedPassword`, the KDF output both sides derive keys from. Zeroed on drop, redacted in
/// `Debug`. 32 raw bytes, except for Argon2 in the Autobahn variant (43 ASCII characters).
#[derive(Clone)]
pub struct SaltedPassword(Zeroizing<Vec<u8>>);

impl SaltedPassword {
    /// Runs the KDF. `salt` is the raw salt (the base64-decoded `CHALLENGE.Extra.salt`).
    ///
    /// # Errors
    ///
    /// [`AuthError::InvalidKdfParameters`] if Argon2 rejects the input (e.g. a salt shorter than
    /// 8 bytes).
    pub fn derive(
        variant: Variant,
        password: &str,
        salt: &[u8],
        params: &KdfParams,
    ) -> Result<SaltedPassword, AuthError> {
        let mut raw = Zeroizing::new([0u8; 32]);
        match (params.kdf, params.memory) {
            (Kdf::Pbkdf2, _) => {
                pbkdf2::pbkdf2_hmac::<sha2::Sha256>(
                    password.as_bytes(),
                    salt,
                    params.iterations,
                    &mut raw[..],
                );
                Ok(SaltedPassword(Zeroizing::new(raw.to_vec())))
            }
            (Kdf::Argon2id13, memory) => {
                let argon_err =
                    |e: argon2::Error| AuthError::InvalidKdfParameters(format!("argon2: {e}"));
                let p = argon2::Params::new(memory.unwrap_or(0), params.iterations, 1, Some(32))
                    .map_err(argon_err)?;
                argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, p)
                    .hash_password_into(password.as_bytes(), salt, &mut raw[..])
                    .map_err(argon_err)?;
                let bytes = match variant {
                    Variant::Spec => raw.to_vec(),
                    Variant::Autobahn => {
                        use base64::Engine as _;
                        base64::engine::general_purpose::STANDARD_NO_PAD
                            .encode(&raw[..])
                            .into_bytes()
                    }
                };
                Ok(SaltedPassword(Zeroizing::new(bytes)))
            }
        }
    }

    /// The KDF output (the HMAC key for ClientKey and ServerKey).
    pub fn expose(&self) -> &[u8] {
        &self.0
    }

    /// `ClientKey = HMAC(SaltedPassword, "Client Key")`.
    pub fn client_key(&self) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(hmac_sha256(&self.0, b"Client Key"))
    }

    /// `StoredKey = SHA256(ClientKey)`.
    pub fn stored_key(&self) -> [u8; 32] {
        sha256(&self.client_key()[..])
    }

    /// `ServerKey = HMAC(SaltedPassword, "Server Key")`.
    pub fn server_key(&self) -> Zeroizing<[u8; 32]> {
        Zeroizing::new(hmac_sha256(&self.0, b"Server Key"))
    }
}

impl fmt::Debug for SaltedPassword {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SaltedPassword(<redacted>)")
    }
}

/// Channel binding in use for SCRAM: the type (`"tls-unique"`, `"tls-server-end-point"`) and
/// the binding data (the side's own view of the TLS channel).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChannelBinding<'a> {
    /// The binding type name as sent in `channel_binding`.
    pub kind: &'a str,
    /// The binding data (sent base64 as `cbind_data` by the client).
    pub data: &'a [u8],
}

/// The `CHALLENGE.Extra` content: combined nonce, base64 salt and KDF parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ServerFirst<'a> {
    /// The combined nonce (`CHALLENGE.Extra.nonce`).
    pub nonce: &'a str,
    /// The salt as base64 text, exactly as sent (`CHALLENGE.Extra.salt`).
    pub salt: &'a str,
    /// `kdf`, `iterations`, `memory`.
    pub params: KdfParams,
}

/// The SCRAM `AuthMessage` both sides sign (see the module docs for its exact form per variant).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthMessage(String);

impl AuthMessage {
    /// Builds `ClientFirstBare "," ServerFirst "," ClientFinalNoProof`.
    pub fn new(
        variant: Variant,
        authid: &str,
        client_nonce: &str,
        server_first: &ServerFirst<'_>,
        channel_binding: Option<ChannelBinding<'_>>,
    ) -> AuthMessage {
        let (name, c) = match variant {
            Variant::Spec => {
                let mut cbind_input = match channel_binding {
                    None => b"n,,".to_vec(),
                    Some(cb) => format!("p={},,", cb.kind).into_bytes(),
                };
                if let Some(cb) = channel_binding {
                    cbind_input.extend_from_slice(cb.data);
                }
                (escape_username(authid), b64_encode(&cbind_input))
            }
            Variant::Autobahn => (
                Cow::Borrowed(authid),
                channel_binding.map(|cb| cb.kind).unwrap_or("").to_owned(),
            ),
        };
        AuthMessage(format!(
            "n={name},r={client_nonce},r={nonce},s={salt},i={iterations},c={c},r={nonce}",
            nonce = server_first.nonce,
            salt = server_first.salt,
            iterations = server_first.params.iterations,
        ))
    }

    /// The message text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// RFC 5802 `saslname` escaping of the user name: `=` → `=3D`, `,` → `=2C`.
pub fn escape_username(authid: &str) -> Cow<'_, str> {
    if authid.contains([',', '=']) {
        Cow::Owned(authid.replace('=', "=3D").replace(',', "=2C"))
    } else {
        Cow::Borrowed(authid)
    }
}

/// Client side: checks that the router's combined nonce extends the client nonce — textually
/// (spec) or after base64-decoding both (Autobahn, whose router re-encodes the bytes).
///
/// # Errors
///
/// [`AuthError::NonceMismatch`] (also for an undecodable nonce in the Autobahn variant).
pub fn check_combined_nonce(
    variant: Variant,
    client_nonce: &str,
    combined_nonce: &str,
) -> Result<(), AuthError> {
    let ok = match variant {
        Variant::Spec => {
            combined_nonce.len() > client_nonce.len() && combined_nonce.starts_with(client_nonce)
        }
        Variant::Autobahn => match (b64_decode(client_nonce), b64_decode(combined_nonce)) {
            (Ok(c), Ok(s)) => s.len() > c.len() && s.starts_with(&c),
            _ => false,
        },
    };
    if ok {
        Ok(())
    } else {
        Err(AuthError::NonceMismatch)
    }
}

/// Router side: the combined nonce from the client nonce and the router's random bytes —
/// `client_nonce ‖ Base64(server_random)` (spec) or
/// `Base64(Base64Decode(client_nonce) ‖ server_random)` (Autobahn/Crossbar).
///
/// # Errors
///
/// [`AuthError::InvalidNonce`] if the client nonce is empty, contains `,` or non-printable
/// characters, or (Autobahn) is not base64.
pub fn combined_nonce(
    variant: Variant,
    client_nonce: &str,
    server_random: &[u8],
) -> Result<String, AuthError> {
    if client_nonce.is_empty()
        || !client_nonce
            .bytes()
            .all(|b| b.is_ascii_graphic() && b != b',')
    {
        return Err(AuthError::InvalidNonce);
    }
    match variant {
        Variant::Spec => Ok(format!("{client_nonce}{}", b64_encode(server_random))),
        Variant::Autobahn => {
            let mut bytes = b64_decode(client_nonce).map_err(|_| AuthError::InvalidNonce)?;
            bytes.extend_from_slice(server_random);
            Ok(b64_encode(&bytes))
        }
    }
}

/// Client side: the result of answering a challenge — the proof to send and the ServerSignature
/// to expect in `WELCOME`.
#[derive(Clone)]
pub struct ClientFinal {
    proof: String,
    server_signature: Zeroizing<[u8; 32]>,
}

impl ClientFinal {
    /// Computes `ClientProof` and the expected `ServerSignature` from the salted password and
    /// the auth message.
    pub fn new(salted: &SaltedPassword, auth_message: &AuthMessage) -> ClientFinal {
        let client_key = salted.client_key();
        let stored_key = sha256(&client_key[..]);
        let client_signature = hmac_sha256(&stored_key, auth_message.as_str().as_bytes());
        let mut proof = Zeroizing::new([0u8; 32]);
        for (p, (k, s)) in proof
            .iter_mut()
            .zip(client_key.iter().zip(&client_signature))
        {
            *p = k ^ s;
        }
        ClientFinal {
            proof: b64_encode(&proof[..]),
            server_signature: Zeroizing::new(hmac_sha256(
                &salted.server_key()[..],
                auth_message.as_str().as_bytes(),
            )),
        }
    }

    /// `Base64(ClientProof)`, the `AUTHENTICATE` signature.
    pub fn proof(&self) -> &str {
        &self.proof
    }

    /// `Base64(ServerSignature)` as the router should send it.
    pub fn expected_server_signature(&self) -> String {
        b64_encode(&self.server_signature[..])
    }

    /// Checks the router's `WELCOME` verifier (`authextra.verifier` or
    /// `authextra.scram_server_signature`) in constant time. A leading `v=` is accepted.
    ///
    /// # Errors
    ///
    /// [`AuthError::InvalidBase64`] or [`AuthError::VerificationFailed`]; the client should then
    /// drop the session.
    pub fn verify_server_signature(&self, verifier: &str) -> Result<(), AuthError> {
        let verifier = verifier.strip_prefix("v=").unwrap_or(verifier);
        if ct_eq(&b64_decode(verifier)?, &self.server_signature[..]) {
            Ok(())
        } else {
            Err(AuthError::VerificationFailed)
        }
    }
}

impl fmt::Debug for ClientFinal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientFinal")
            .field("proof", &self.proof)
            .field("server_signature", &"<redacted>")
            .finish()
    }
}

/// Client side: one SCRAM authentication, from `HELLO` to `WELCOME`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScramClient {
    variant: Variant,
    authid: String,
    nonce: String,
}

impl ScramClient {
    /// Starts an authentication as `authid` with a fresh random nonce.
    pub fn new(variant: Variant, authid: impl Into<String>) -> ScramClient {
        ScramClient::with_nonce(
            variant,
            authid,
            b64_encode(&random_bytes::<CLIENT_NONCE_LEN>()),
        )
    }

    /// Starts an authentication with a given client nonce (base64 of random bytes).
    pub fn with_nonce(
        variant: Variant,
        authid: impl Into<String>,
        nonce: impl Into<String>,
    ) -> ScramClient {
        ScramClient {
            variant,
            authid: authid.into(),
            nonce: nonce.into(),
        }
    }

    /// The variant in use (its [`Variant::authmethod`] goes into `HELLO.Details.authmethods`).
    pub fn variant(&self) -> Variant {
        self.variant
    }

    /// The client nonce for `HELLO.Details.authextra.nonce`.
    pub fn nonce(&self) -> &str {
        &self.nonce
    }

    /// Answers a `CHALLENGE`: checks the combined nonce and the KDF cost against `limits`, runs
    /// the KDF (slow) and computes the proof. `channel_binding` is the client's own binding data,
    /// if it requested binding in `HELLO`.
    ///
    /// # Errors
    ///
    /// [`AuthError::NonceMismatch`], [`AuthError::InvalidKdfParameters`] (including costs outside
    /// `limits`), [`AuthError::InvalidBase64`] for the salt.
    pub fn respond(
        &self,
        password: &str,
        server_first: &ServerFirst<'_>,
        channel_binding: Option<ChannelBinding<'_>>,
        limits: &KdfLimits,
    ) -> Result<ClientFinal, AuthError> {
        check_combined_nonce(self.variant, &self.nonce, server_first.nonce)?;
        server_first.params.check_limits(limits)?;
        let salt = b64_decode(server_first.salt)?;
        let salted = SaltedPassword::derive(self.variant, password, &salt, &server_first.params)?;
        let am = AuthMessage::new(
            self.variant,
            &self.authid,
            &self.nonce,
            server_first,
            channel_binding,
        );
        Ok(ClientFinal::new(&salted, &am))
    }
}

/// Router side: what the router stores per user — salt, KDF parameters, StoredKey and ServerKey
/// (never the password). Keys are zeroed on drop and redacted in `Debug`.
///
/// A credential made for Argon2 in one [`Variant`] does not verify in the other (the Autobahn
/// variant derives its keys from the base64 text of the hash); PBKDF2 credentials work in both.
#[derive(Clone)]
pub struct StoredCredential {
    salt: Vec<u8>,
    params: KdfParams,
    stored_key: Zeroizing<[u8; 32]>,
    server_key: Zeroizing<[u8; 32]>,
}

impl StoredCredential {
    /// Provisioning: derives the credential from the password with the given salt (raw bytes).
    ///
    /// # Errors
    ///
    /// As [`SaltedPassword::derive`].
    pub fn from_password(
        variant: Variant,
        password: &str,
        salt: &[u8],
        params: KdfParams,
    ) -> Result<StoredCredential, AuthError> {
        let salted = SaltedPassword::derive(variant, password, salt, &params)?;
        Ok(StoredCredential {
            salt: salt.to_vec(),
            params,
            stored_key: Zeroizing::new(salted.stored_key()),
            server_key: salted.server_key(),
        })
    }

    /// Provisioning with a fresh random 16-byte salt.
    ///
    /// # Errors
    ///
    /// As [`SaltedPassword::derive`].
    pub fn generate(
        variant: Variant,
        password: &str,
        params: KdfParams,
    ) -> Result<StoredCredential, AuthError> {
        StoredCredential::from_password(variant, password, &random_bytes::<SALT_LEN>(), params)
    }

    /// A credential from stored parts (e.g. Crossbar's `salt`, `stored-key`, `server-key`,
    /// hex-decoded).
    pub fn from_keys(
        salt: Vec<u8>,
        params: KdfParams,
        stored_key: [u8; 32],
        server_key: [u8; 32],
    ) -> StoredCredential {
        StoredCredential {
            salt,
            params,
            stored_key: Zeroizing::new(stored_key),
            server_key: Zeroizing::new(server_key),
        }
    }

    /// A mock credential for an unknown `authid`, so the router can send a plausible
    /// `CHALLENGE` instead of revealing that the user does not exist. The salt is deterministic
    /// per `authid` (`HMAC(server_secret, "wamp-scram mock salt" ‖ authid)`, first 16 bytes);
    /// the keys are random, so no proof ever verifies.
    pub fn mock(server_secret: &[u8], authid: &str, params: KdfParams) -> StoredCredential {
        let mut msg = b"wamp-scram mock salt".to_vec();
        msg.extend_from_slice(authid.as_bytes());
        let salt = hmac_sha256(server_secret, &msg)[..SALT_LEN].to_vec();
        StoredCredential::from_keys(salt, params, random_bytes(), random_bytes())
    }

    /// The raw salt.
    pub fn salt(&self) -> &[u8] {
        &self.salt
    }

    /// The salt as base64, for `CHALLENGE.Extra.salt`.
    pub fn salt_base64(&self) -> String {
        b64_encode(&self.salt)
    }

    /// The KDF parameters.
    pub fn params(&self) -> KdfParams {
        self.params
    }

    /// StoredKey, for persisting the credential.
    pub fn stored_key(&self) -> &[u8; 32] {
        &self.stored_key
    }

    /// ServerKey, for persisting the credential.
    pub fn server_key(&self) -> &[u8; 32] {
        &self.server_key
    }

    /// Checks a base64 `ClientProof` against `auth_message` in constant time:
    /// `SHA256(HMAC(StoredKey, AuthMessage) XOR proof) == StoredKey`.
    ///
    /// # Errors
    ///
    /// [`AuthError::InvalidBase64`], [`AuthError::InvalidLength`] (proof not 32 bytes) or
    /// [`AuthError::VerificationFailed`].
    pub fn verify_proof(&self, auth_message: &AuthMessage, proof: &str) -> Result<(), AuthError> {
        let proof = b64_decode(proof)?;
        if proof.len() != 32 {
            return Err(AuthError::InvalidLength {
                what: "SCRAM client proof",
                expected: 32,
                actual: proof.len(),
            });
        }
        let client_signature = hmac_sha256(&self.stored_key[..], auth_message.as_str().as_bytes());
        let mut client_key = Zeroizing::new([0u8; 32]);
        for (k, (s, p)) in client_key
            .iter_mut()
            .zip(client_signature.iter().zip(&proof))
        {
            *k = s ^ p;
        }
        if ct_eq(&sha256(&client_key[..]), &self.stored_key[..]) {
            Ok(())
        } else {
            Err(AuthError::VerificationFailed)
        }
    }

    /// `Base64(ServerSignature)` = `Base64(HMAC(ServerKey, AuthMessage))` for `WELCOME`.
    pub fn server_signature(&self, auth_message: &AuthMessage) -> String {
        b64_encode(&hmac_sha256(
            &self.server_key[..],
            auth_message.as_str().as_bytes(),
        ))
    }
}

impl fmt::Debug for StoredCredential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoredCredential")
            .field("salt", &self.salt_base64())
            .field("params", &self.params)
            .field("stored_key", &"<redacted>")
            .field("server_key", &"<redacted>")
            .finish()
    }
}

/// Router side: one SCRAM authentication, from `HELLO` to `WELCOME`.
#[derive(Clone, Debug)]
pub struct ScramServer {
    variant: Variant,
    authid: String,
    client_nonce: String,
    combined_nonce: String,
    salt: String,
    credential: StoredCredential,
}

impl ScramServer {
    /// Starts an authentication for `HELLO` (`authid`, `authextra.nonce`) with the user's
    /// credential (or a [`StoredCredential::mock`]), drawing the server nonce.
    ///
    /// # Errors
    ///
    /// [`AuthError::InvalidNonce`] for an unusable client nonce (see [`combined_nonce`]).
    pub fn new(
        variant: Variant,
        authid: impl Into<String>,
        client_nonce: impl Into<String>,
        credential: StoredCredential,
    ) -> Result<ScramServer, AuthError> {
        ScramServer::with_server_nonce(
            variant,
            authid,
            client_nonce,
            &random_bytes::<SERVER_NONCE_LEN>(),
            credential,
        )
    }

    /// As [`ScramServer::new`] with the router's random nonce bytes given.
    ///
    /// # Errors
    ///
    /// [`AuthError::InvalidNonce`] for an unusable client nonce (see [`combined_nonce`]).
    pub fn with_server_nonce(
        variant: Variant,
        authid: impl Into<String>,
        client_nonce: impl Into<String>,
        server_random: &[u8],
        credential: StoredCredential,
    ) -> Result<ScramServer, AuthError> {
        let client_nonce = client_nonce.into();
        let combined_nonce = combined_nonce(variant, &client_nonce, server_random)?;
        Ok(ScramServer {
            variant,
            authid: authid.into(),
            client_nonce,
            combined_nonce,
            salt: credential.salt_base64(),
            credential,
        })
    }

    /// The content of `CHALLENGE.Extra`: `nonce`, `salt`, `kdf` (use
    /// `params.kdf().name(variant)`), `iterations`, `memory`.
    pub fn server_first(&self) -> ServerFirst<'_> {
        ServerFirst {
            nonce: &self.combined_nonce,
            salt: &self.salt,
            params: self.credential.params,
        }
    }

    /// The variant in use.
    pub fn variant(&self) -> Variant {
        self.variant
    }

    /// Checks `AUTHENTICATE`: the echoed nonce (`Extra.nonce`; pass the combined nonce for the
    /// Autobahn variant, whose client does not echo it), and the proof. `channel_binding` is the
    /// **router's own** view of the binding the client requested in `HELLO` (the engine must
    /// also check that `Extra.channel_binding` names the same type). Returns the base64
    /// ServerSignature for `WELCOME.Details.authextra[`[`Variant::verifier_key`]`]`.
    ///
    /// # Errors
    ///
    /// [`AuthError::NonceMismatch`], [`AuthError::InvalidBase64`], [`AuthError::InvalidLength`]
    /// or [`AuthError::VerificationFailed`].
    pub fn verify(
        &self,
        proof: &str,
        echoed_nonce: &str,
        channel_binding: Option<ChannelBinding<'_>>,
    ) -> Result<String, AuthError> {
        if echoed_nonce != self.combined_nonce {
            return Err(AuthError::NonceMismatch);
        }
        let am = AuthMessage::new(
            self.variant,
            &self.authid,
            &self.client_nonce,
            &self.server_first(),
            channel_binding,
        );
        self.credential.verify_proof(&am, proof)?;
        Ok(self.credential.server_signature(&am))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fast_params() -> KdfParams {
        KdfParams::pbkdf2(16).unwrap()
    }

    #[test]
    fn username_escaping_follows_rfc5802() {
        assert_eq!(escape_username("user"), "user");
        assert_eq!(escape_username("a,b=c"), "a=2Cb=3Dc");
        assert_eq!(escape_username("=2C"), "=3D2C");
    }

    #[test]
    fn kdf_names_per_variant() {
        assert_eq!(Kdf::parse("argon2id13"), Ok(Kdf::Argon2id13));
        assert_eq!(Kdf::parse("argon2id-13"), Ok(Kdf::Argon2id13));
        assert_eq!(Kdf::parse("pbkdf2"), Ok(Kdf::Pbkdf2));
        assert!(matches!(
            Kdf::parse("scrypt"),
            Err(AuthError::UnknownKdf(_))
        ));
        assert_eq!(Kdf::Argon2id13.name(Variant::Spec), "argon2id13");
        assert_eq!(Kdf::Argon2id13.name(Variant::Autobahn), "argon2id-13");
        assert_eq!(Variant::from_authmethod("scram"), Some(Variant::Autobahn));
        assert_eq!(Variant::from_authmethod("wamp-scram"), Some(Variant::Spec));
    }

    #[test]
    fn challenge_parameters_are_validated() {
        assert!(KdfParams::from_challenge("argon2id13", 2, None).is_err());
        assert!(KdfParams::from_challenge("argon2id13", 2, Some(4)).is_err());
        assert!(KdfParams::from_challenge("argon2id13", 0, Some(64)).is_err());
        assert!(KdfParams::from_challenge("pbkdf2", 0, None).is_err());
        assert!(KdfParams::from_challenge("pbkdf2", u64::from(u32::MAX) + 1, None).is_err());
        let p = KdfParams::from_challenge("pbkdf2", 4096, Some(999)).unwrap();
        assert_eq!(p.memory(), None);
        let limits = KdfLimits::default();
        assert_eq!(p.check_limits(&limits), Ok(()));
        assert!(
            KdfParams::pbkdf2(1000)
                .unwrap()
                .check_limits(&limits)
                .is_err()
        );
        let crossbar_default = KdfParams::argon2id13(4096, 512).unwrap();
        assert_eq!(crossbar_default.check_limits(&limits), Ok(()));
        assert!(
            KdfParams::argon2id13(16_384, 1 << 20)
                .unwrap()
                .check_limits(&limits)
                .is_err()
        );
    }

    #[test]
    fn spec_channel_binding_goes_into_c_attribute() {
        let sf = ServerFirst {
            nonce: "cnsn",
            salt: "c2FsdA==",
            params: fast_params(),
        };
        let cb = ChannelBinding {
            kind: "tls-server-end-point",
            data: b"\x01\x02",
        };
        let am = AuthMessage::new(Variant::Spec, "u", "cn", &sf, Some(cb));
        let c = b64_encode(b"p=tls-server-end-point,,\x01\x02");
        assert_eq!(
            am.as_str(),
            format!("n=u,r=cn,r=cnsn,s=c2FsdA==,i=16,c={c},r=cnsn")
        );
        let am = AuthMessage::new(Variant::Autobahn, "u", "cn", &sf, Some(cb));
        assert_eq!(
            am.as_str(),
            "n=u,r=cn,r=cnsn,s=c2FsdA==,i=16,c=tls-server-end-point,r=cnsn"
        );
        let am = AuthMessage::new(Variant::Autobahn, "u,=", "cn", &sf, None);
        assert_eq!(am.as_str(), "n=u,=,r=cn,r=cnsn,s=c2FsdA==,i=16,c=,r=cnsn");
    }

    #[test]
    fn combined_nonce_per_variant() {
        let spec = combined_nonce(Variant::Spec, "abc", &[0xff; 3]).unwrap();
        assert_eq!(spec, "abc////");
        assert_eq!(check_combined_nonce(Variant::Spec, "abc", &spec), Ok(()));
        assert_eq!(
            check_combined_nonce(Variant::Spec, "abc", "abc"),
            Err(AuthError::NonceMismatch)
        );
        assert_eq!(
            check_combined_nonce(Variant::Spec, "abc", "xabc1"),
            Err(AuthError::NonceMismatch)
        );
        let client = b64_encode(&[1; 16]);
        let compat = combined_nonce(Variant::Autobahn, &client, &[2; 16]).unwrap();
        assert!(!compat.starts_with(&client));
        assert_eq!(
            check_combined_nonce(Variant::Autobahn, &client, &compat),
            Ok(())
        );
        assert_eq!(
            combined_nonce(Variant::Autobahn, "not base64!", &[2; 16]),
            Err(AuthError::InvalidNonce)
        );
        assert_eq!(
            combined_nonce(Variant::Spec, "a,b", &[2; 16]),
            Err(AuthError::InvalidNonce)
        );
        assert_eq!(
            combined_nonce(Variant::Spec, "", &[2; 16]),
            Err(AuthError::InvalidNonce)
        );
    }

    #[test]
    fn server_rejects_wrong_echoed_nonce_and_garbage_proofs() {
        let cred = StoredCredential::from_password(Variant::Spec, "pw", b"saltsalt", fast_params())
            .unwrap();
        let server = ScramServer::new(Variant::Spec, "u", "cnonce", cred).unwrap();
        let combined = server.server_first().nonce.to_owned();
        assert_eq!(
            server.verify("AAAA", "cnonceX", None),
            Err(AuthError::NonceMismatch)
        );
        assert!(matches!(
            server.verify("AAAA", &combined, None),
            Err(AuthError::InvalidLength { actual: 3, .. })
        ));
        assert!(matches!(
            server.verify("!!", &combined, None),
            Err(AuthError::InvalidBase64(_))
        ));
    }

    #[test]
    fn mock_credentials_have_stable_salt_and_never_verify() {
        let a = StoredCredential::mock(b"router secret", "ghost", fast_params());
        let b = StoredCredential::mock(b"router secret", "ghost", fast_params());
        let c = StoredCredential::mock(b"router secret", "ghost2", fast_params());
        assert_eq!(a.salt(), b.salt());
        assert_ne!(a.salt(), c.salt());
        assert_eq!(a.salt().len(), SALT_LEN);
        let client = ScramClient::new(Variant::Spec, "ghost");
        let server = ScramServer::new(Variant::Spec, "ghost", client.nonce(), a).unwrap();
        let limits = KdfLimits {
            pbkdf2_iterations: (1, 100),
            ..KdfLimits::default()
        };
        let fin = client
            .respond("anything", &server.server_first(), None, &limits)
            .unwrap();
        assert_eq!(
            server.verify(fin.proof(), server.server_first().nonce, None),
            Err(AuthError::VerificationFailed)
        );
    }

    #[test]
    fn debug_output_redacts_keys() {
        let cred = StoredCredential::from_password(Variant::Spec, "pw", b"saltsalt", fast_params())
            .unwrap();
        let dbg = format!("{cred:?}");
        assert!(!dbg.contains(&hex::encode(cred.stored_key())));
        assert!(dbg.contains("<redacted>"));
        let salted =
            SaltedPassword::derive(Variant::Spec, "pw", b"saltsalt", &fast_params()).unwrap();
        assert_eq!(format!("{salted:?}"), "SaltedPassword(<redacted>)");
        let fin = ClientFinal::new(&salted, &AuthMessage("x".into()));
        assert!(!format!("{fin:?}").contains(&fin.expected_server_signature()));
    }
}
