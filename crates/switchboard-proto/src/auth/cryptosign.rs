//! WAMP-Cryptosign: Ed25519 challenge signing (wamp-spec §7.5, client authentication).
//!
//! Flow: the client announces `HELLO.Details.authextra.pubkey` ([`SigningKey::public_key_hex`]);
//! the router draws 32 random bytes ([`generate_challenge`]) and sends them hex-encoded in
//! `CHALLENGE.Extra.challenge`; the client answers with [`SigningKey::sign_challenge`], i.e.
//! `hex(Ed25519_sign(msg) ‖ msg)` (192 hex characters) where `msg` is the challenge, or the
//! challenge XOR the 32-byte TLS channel id when channel binding is in use; the router checks it
//! with [`verify`].
//!
//! Router authentication (optional, `HELLO.Details.authextra.challenge`) is the same computation
//! with the roles swapped: the router signs the client's challenge with its own key and the client
//! calls [`verify`] against the pinned router key.
//!
//! ```
//! use switchboard_proto::auth::cryptosign::{self, SigningKey};
//!
//! let key = SigningKey::generate();
//! let challenge = cryptosign::generate_challenge();
//! let answer = key.sign_challenge(&hex::encode(challenge), None)?;
//! assert_eq!(answer.len(), 192);
//! cryptosign::verify(&key.public_key_hex(), &challenge, None, &answer)?;
//! # Ok::<(), switchboard_proto::auth::AuthError>(())
//! ```

use std::fmt;

use ed25519_dalek::Signer as _;

use super::{AuthError, random_bytes};

/// The `authmethod` string.
pub const AUTHMETHOD: &str = "cryptosign";

/// Length of a challenge, a channel id and the signed message, in bytes.
pub const CHALLENGE_LEN: usize = 32;

/// Length of an `AUTHENTICATE` signature (Ed25519 signature ‖ signed message) in bytes.
pub const SIGNATURE_LEN: usize = 64 + CHALLENGE_LEN;

/// An Ed25519 private key for Cryptosign. Zeroed on drop; `Debug` shows only the public key.
#[derive(Clone)]
pub struct SigningKey(ed25519_dalek::SigningKey);

impl SigningKey {
    /// The key for a 32-byte seed (the "private key" in WAMP terms).
    pub fn from_seed(seed: &[u8; 32]) -> SigningKey {
        SigningKey(ed25519_dalek::SigningKey::from_bytes(seed))
    }

    /// The key for a hex-encoded 32-byte seed (64 hex characters).
    ///
    /// # Errors
    ///
    /// [`AuthError::InvalidHex`] or [`AuthError::InvalidLength`].
    pub fn from_seed_hex(seed_hex: &str) -> Result<SigningKey, AuthError> {
        let seed = zeroize::Zeroizing::new(hex::decode(seed_hex)?);
        let seed: &[u8; 32] = seed
            .as_slice()
            .try_into()
            .map_err(|_| AuthError::InvalidLength {
                what: "cryptosign private key seed",
                expected: 32,
                actual: seed.len(),
            })?;
        Ok(SigningKey::from_seed(seed))
    }

    /// A fresh random key.
    pub fn generate() -> SigningKey {
        let seed = zeroize::Zeroizing::new(random_bytes::<32>());
        SigningKey::from_seed(&seed)
    }

    /// The 32-byte public key.
    pub fn public_key(&self) -> [u8; 32] {
        self.0.verifying_key().to_bytes()
    }

    /// The public key as lowercase hex (64 characters), for `authextra.pubkey`.
    pub fn public_key_hex(&self) -> String {
        hex::encode(self.public_key())
    }

    /// Signs a challenge given as raw bytes: `hex(signature(msg) ‖ msg)` with
    /// `msg = challenge XOR channel_id` (or just `challenge` without channel binding).
    pub fn sign_challenge_bytes(
        &self,
        challenge: &[u8; CHALLENGE_LEN],
        channel_id: Option<&[u8; CHALLENGE_LEN]>,
    ) -> String {
        let msg = signed_message(challenge, channel_id);
        let sig = self.0.sign(&msg);
        let mut out = [0u8; SIGNATURE_LEN];
        out[..64].copy_from_slice(&sig.to_bytes());
        out[64..].copy_from_slice(&msg);
        hex::encode(out)
    }

    /// Client side: answers `CHALLENGE.Extra.challenge` (64 hex characters) with the
    /// `AUTHENTICATE` signature, `hex(signature(msg) ‖ msg)` (192 hex characters), where `msg` is
    /// the challenge XOR `channel_id` when channel binding is in use.
    ///
    /// # Errors
    ///
    /// [`AuthError::InvalidHex`] or [`AuthError::InvalidLength`] for a malformed challenge.
    pub fn sign_challenge(
        &self,
        challenge_hex: &str,
        channel_id: Option<[u8; CHALLENGE_LEN]>,
    ) -> Result<String, AuthError> {
        let challenge = decode_challenge(challenge_hex)?;
        Ok(self.sign_challenge_bytes(&challenge, channel_id.as_ref()))
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("public_key", &self.public_key_hex())
            .field("seed", &"<redacted>")
            .finish()
    }
}

/// Client side: the free-function form of [`SigningKey::sign_challenge`].
///
/// # Errors
///
/// As [`SigningKey::sign_challenge`].
pub fn sign_challenge(
    key: &SigningKey,
    challenge_hex: &str,
    channel_id: Option<[u8; CHALLENGE_LEN]>,
) -> Result<String, AuthError> {
    key.sign_challenge(challenge_hex, channel_id)
}

/// Router side: 32 fresh random bytes for `CHALLENGE.Extra.challenge` (send them hex-encoded and
/// keep the bytes for [`verify`]).
pub fn generate_challenge() -> [u8; CHALLENGE_LEN] {
    random_bytes::<CHALLENGE_LEN>()
}

/// Decodes a hex challenge (or channel id) of exactly 32 bytes.
///
/// # Errors
///
/// [`AuthError::InvalidHex`] or [`AuthError::InvalidLength`].
pub fn decode_challenge(challenge_hex: &str) -> Result<[u8; CHALLENGE_LEN], AuthError> {
    let bytes = hex::decode(challenge_hex)?;
    bytes
        .as_slice()
        .try_into()
        .map_err(|_| AuthError::InvalidLength {
            what: "cryptosign challenge",
            expected: CHALLENGE_LEN,
            actual: bytes.len(),
        })
}

/// Decodes a hex Ed25519 public key (`authextra.pubkey`) and checks it is a valid curve point.
///
/// # Errors
///
/// [`AuthError::InvalidHex`], [`AuthError::InvalidLength`] or [`AuthError::InvalidPublicKey`].
pub fn decode_public_key(pubkey_hex: &str) -> Result<[u8; 32], AuthError> {
    Ok(parse_public_key(pubkey_hex)?.to_bytes())
}

fn parse_public_key(pubkey_hex: &str) -> Result<ed25519_dalek::VerifyingKey, AuthError> {
    let bytes = hex::decode(pubkey_hex)?;
    let bytes: [u8; 32] = bytes
        .as_slice()
        .try_into()
        .map_err(|_| AuthError::InvalidLength {
            what: "cryptosign public key",
            expected: 32,
            actual: bytes.len(),
        })?;
    ed25519_dalek::VerifyingKey::from_bytes(&bytes).map_err(|_| AuthError::InvalidPublicKey)
}

/// The message that is signed: `challenge XOR channel_id`, or `challenge` without binding.
pub fn signed_message(
    challenge: &[u8; CHALLENGE_LEN],
    channel_id: Option<&[u8; CHALLENGE_LEN]>,
) -> [u8; CHALLENGE_LEN] {
    let mut msg = *challenge;
    if let Some(cid) = channel_id {
        for (m, c) in msg.iter_mut().zip(cid) {
            *m ^= c;
        }
    }
    msg
}

/// Router side: checks an `AUTHENTICATE` signature (192 hex characters) against the client's
/// announced public key, the challenge the router sent and the channel id (if channel binding is
/// in use).
///
/// Checks that the trailing 32 bytes equal `challenge` (XOR `channel_id`) and that the leading 64
/// bytes are a valid Ed25519 signature over them, using `verify_strict` (rejects non-canonical
/// signatures and weak public keys).
///
/// # Errors
///
/// [`AuthError::InvalidHex`], [`AuthError::InvalidLength`] or [`AuthError::InvalidPublicKey`]
/// for malformed input, [`AuthError::VerificationFailed`] when the message or signature is wrong.
pub fn verify(
    pubkey_hex: &str,
    challenge: &[u8; CHALLENGE_LEN],
    channel_id: Option<[u8; CHALLENGE_LEN]>,
    signature_hex: &str,
) -> Result<(), AuthError> {
    let key = parse_public_key(pubkey_hex)?;
    let raw = hex::decode(signature_hex)?;
    let raw: [u8; SIGNATURE_LEN] =
        raw.as_slice()
            .try_into()
            .map_err(|_| AuthError::InvalidLength {
                what: "cryptosign signature",
                expected: SIGNATURE_LEN,
                actual: raw.len(),
            })?;
    let (sig, msg) = raw.split_at(64);
    let expected = signed_message(challenge, channel_id.as_ref());
    // The challenge is public, so an ordinary comparison is fine here.
    if msg != expected {
        return Err(AuthError::VerificationFailed);
    }
    let mut sig_bytes = [0u8; 64];
    sig_bytes.copy_from_slice(sig);
    let sig = ed25519_dalek::Signature::from_bytes(&sig_bytes);
    key.verify_strict(&expected, &sig)
        .map_err(|_| AuthError::VerificationFailed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_does_not_print_the_seed() {
        let seed = "4d57d97a68f555696620a6d849c0ce582568518d729eb753dc7c732de2804510";
        let key = SigningKey::from_seed_hex(seed).unwrap();
        let dbg = format!("{key:?}");
        assert!(!dbg.contains(seed), "{dbg}");
        assert!(dbg.contains("1adfc8bfe1d35616e64dffbd900096f23b066f914c8c2ffbb66f6075b96e116d"));
    }

    #[test]
    fn malformed_inputs_are_errors_not_panics() {
        let key = SigningKey::generate();
        assert!(matches!(
            key.sign_challenge("zz", None),
            Err(AuthError::InvalidHex(_))
        ));
        assert!(matches!(
            key.sign_challenge("00ff", None),
            Err(AuthError::InvalidLength { actual: 2, .. })
        ));
        assert!(matches!(
            SigningKey::from_seed_hex("00"),
            Err(AuthError::InvalidLength { actual: 1, .. })
        ));
        let ch = generate_challenge();
        let sig = key.sign_challenge_bytes(&ch, None);
        assert!(matches!(
            verify(&key.public_key_hex(), &ch, None, &sig[..190]),
            Err(AuthError::InvalidLength { actual: 95, .. })
        ));
        assert!(matches!(
            verify("abcd", &ch, None, &sig),
            Err(AuthError::InvalidLength { actual: 2, .. })
        ));
    }

    #[test]
    fn tampered_signature_or_message_fails() {
        let key = SigningKey::generate();
        let ch = generate_challenge();
        let sig = key.sign_challenge_bytes(&ch, None);
        let pk = key.public_key_hex();
        // Flip one bit in the signature part, then in the message part.
        for pos in [0, 150] {
            let mut raw = hex::decode(&sig).unwrap();
            raw[pos / 2] ^= 1;
            assert_eq!(
                verify(&pk, &ch, None, &hex::encode(raw)),
                Err(AuthError::VerificationFailed)
            );
        }
        // Channel id expected but not used by the signer.
        assert_eq!(
            verify(&pk, &ch, Some([7; 32]), &sig),
            Err(AuthError::VerificationFailed)
        );
    }
}
