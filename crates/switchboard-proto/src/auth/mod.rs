//! Authentication computations for both sides of a WAMP session (wamp-spec §7).
//!
//! Pure functions and small value types, no IO and no clock: the engine and the client feed in
//! what came off the wire (challenge strings, nonces, signatures) and get back what goes on the
//! wire (signatures, proofs, challenge strings) or a verdict. Everything that needs fresh
//! randomness has a deterministic form that takes the random material as a parameter, plus a thin
//! `generate_*` wrapper that draws it from [`rand::rng()`] (a CSPRNG).
//!
//! | Method | `authmethod` | Client side | Router side |
//! |---|---|---|---|
//! | Ticket | `"ticket"` | sends the ticket as the signature | [`ticket::verify`] |
//! | WAMP-CRA | `"wampcra"` | [`cra::derive_key`] (salted), [`cra::sign`] | [`cra::Challenge`], [`cra::verify`] |
//! | WAMP-SCRAM | `"wamp-scram"` (spec), `"scram"` (Autobahn/Crossbar) | [`scram::SaltedPassword`], [`scram::ClientFinal`] | [`scram::StoredCredential`] |
//! | WAMP-Cryptosign | `"cryptosign"` | [`cryptosign::SigningKey::sign_challenge`] | [`cryptosign::generate_challenge`], [`cryptosign::verify`] |
//!
//! Every check that compares a secret-dependent value runs in constant time (`subtle`), and every
//! stored secret is wrapped so that it is zeroed on drop and never printed by `Debug`.
//!
//! Failures are reported as [`AuthError`]; a router answers any of them with `ABORT`
//! `wamp.error.authentication_failed` (or `wamp.error.authentication_denied` by policy).

pub mod cra;
pub mod cryptosign;
pub mod scram;
pub mod ticket;

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use hmac::{KeyInit as _, Mac as _};
use rand::RngExt as _;
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq as _;
use zeroize::{Zeroize as _, Zeroizing};

/// Why an authentication computation or check failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// A value that must be hex (keys, challenges, Cryptosign signatures) is not.
    #[error("invalid hex: {0}")]
    InvalidHex(#[from] hex::FromHexError),
    /// A value that must be standard padded base64 (RFC 4648 §4) is not.
    #[error("invalid base64: {0}")]
    InvalidBase64(#[from] base64::DecodeError),
    /// A decoded value has the wrong number of bytes.
    #[error("{what} must be {expected} bytes, got {actual}")]
    InvalidLength {
        /// What was being decoded, e.g. `"cryptosign public key"`.
        what: &'static str,
        /// The required length in bytes.
        expected: usize,
        /// The length that was presented.
        actual: usize,
    },
    /// A 32-byte string that is not a valid Ed25519 public key.
    #[error("invalid Ed25519 public key")]
    InvalidPublicKey,
    /// The signature, proof or ticket does not match.
    #[error("verification failed")]
    VerificationFailed,
    /// A SCRAM `kdf` name this implementation does not know.
    #[error("unknown SCRAM KDF {0:?}")]
    UnknownKdf(String),
    /// Key-derivation parameters that are out of range (zero iterations, Argon2 memory below
    /// its minimum, a salt shorter than Argon2 accepts, costs outside the configured limits, …).
    #[error("invalid key-derivation parameters: {0}")]
    InvalidKdfParameters(String),
    /// A SCRAM nonce does not match: the router's combined nonce does not extend the client
    /// nonce, or the nonce echoed in `AUTHENTICATE` differs from the one the router sent.
    #[error("SCRAM nonce mismatch")]
    NonceMismatch,
    /// A SCRAM client nonce the router cannot use (empty, containing `,` or non-printable
    /// characters, or not base64 where base64 is required).
    #[error("invalid SCRAM client nonce")]
    InvalidNonce,
}

/// A stored secret (ticket, WAMP-CRA secret or derived key): zeroed on drop, redacted in `Debug`.
///
/// Deliberately not `PartialEq`: compare secrets only through the constant-time checks
/// ([`ticket::verify`], [`cra::verify`]).
#[derive(Clone)]
pub struct Secret(Zeroizing<Vec<u8>>);

impl Secret {
    /// Wraps the secret bytes.
    pub fn new(bytes: impl Into<Vec<u8>>) -> Secret {
        Secret(Zeroizing::new(bytes.into()))
    }

    /// The secret bytes, for handing to [`cra::sign`], [`ticket::verify`] and the like.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }
}

impl From<String> for Secret {
    fn from(s: String) -> Secret {
        Secret::new(s.into_bytes())
    }
}

impl From<&str> for Secret {
    fn from(s: &str) -> Secret {
        Secret::new(s.as_bytes())
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// SHA-256 block size, the HMAC key-block length.
const SHA256_BLOCK: usize = 64;

/// HMAC-SHA256 (RFC 2104) with a key of any length.
///
/// The key block is prepared here (keys longer than the block are hashed, all keys are
/// zero-padded to the block), exactly as RFC 2104 prescribes, so the infallible fixed-size
/// constructor can be used instead of `new_from_slice` (whose error case cannot happen for HMAC).
pub(crate) fn hmac_sha256(key: &[u8], msg: &[u8]) -> [u8; 32] {
    let mut block = Zeroizing::new([0u8; SHA256_BLOCK]);
    if key.len() > SHA256_BLOCK {
        let hashed = Zeroizing::new(sha256(key));
        block[..hashed.len()].copy_from_slice(&hashed[..]);
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let mut key_block = hmac::digest::Key::<hmac::Hmac<Sha256>>::from(*block);
    let mut mac = hmac::Hmac::<Sha256>::new(&key_block);
    key_block.as_mut_slice().zeroize();
    mac.update(msg);
    mac.finalize().into_bytes().into()
}

/// SHA-256 of `data`.
pub(crate) fn sha256(data: &[u8]) -> [u8; 32] {
    Sha256::digest(data).into()
}

/// Constant-time equality of two byte strings (the length is not secret).
pub(crate) fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

/// Standard padded base64 (RFC 4648 §4), as used throughout WAMP auth.
pub(crate) fn b64_encode(data: &[u8]) -> String {
    STANDARD.encode(data)
}

/// Decodes standard padded base64 (RFC 4648 §4).
pub(crate) fn b64_decode(text: &str) -> Result<Vec<u8>, AuthError> {
    Ok(STANDARD.decode(text)?)
}

/// `N` bytes from the thread-local CSPRNG.
pub(crate) fn random_bytes<const N: usize>() -> [u8; N] {
    let mut out = [0u8; N];
    rand::rng().fill(&mut out[..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex32(s: &str) -> [u8; 32] {
        let v = hex::decode(s).unwrap();
        v.try_into().unwrap()
    }

    // RFC 4231 test cases 1, 2 and 6 (6 = key longer than the block).
    #[test]
    fn hmac_sha256_matches_rfc4231() {
        assert_eq!(
            hmac_sha256(&[0x0b; 20], b"Hi There"),
            hex32("b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7")
        );
        assert_eq!(
            hmac_sha256(b"Jefe", b"what do ya want for nothing?"),
            hex32("5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843")
        );
        assert_eq!(
            hmac_sha256(
                &[0xaa; 131],
                b"Test Using Larger Than Block-Size Key - Hash Key First"
            ),
            hex32("60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54")
        );
    }

    #[test]
    fn hmac_key_of_exactly_one_block_is_used_as_is() {
        // A 64-byte key must not be hashed; compare with the RustCrypto slice constructor.
        let key = [0x5a; SHA256_BLOCK];
        let mut mac = hmac::Hmac::<Sha256>::new_from_slice(&key).unwrap();
        mac.update(b"msg");
        let expected: [u8; 32] = mac.finalize().into_bytes().into();
        assert_eq!(hmac_sha256(&key, b"msg"), expected);
    }

    #[test]
    fn secret_debug_is_redacted() {
        let s = Secret::from("hunter2");
        assert_eq!(format!("{s:?}"), "Secret(<redacted>)");
        assert_eq!(s.expose(), b"hunter2");
    }

    #[test]
    fn random_bytes_differ() {
        assert_ne!(random_bytes::<32>(), random_bytes::<32>());
    }
}
