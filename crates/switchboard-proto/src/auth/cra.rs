//! WAMP-CRA challenge-response authentication (wamp-spec §7.3).
//!
//! Flow: the router builds a JSON challenge string with [`Challenge::to_json`] and sends
//! `CHALLENGE [4, "wampcra", {"challenge": <string>}]` (plus `salt`, `keylen`, `iterations` in
//! the salted variant). The client computes [`sign`] over the **exact challenge string as
//! received** — never re-serialized — and the router checks the answer with [`verify`].
//!
//! Keys:
//! * unsalted: the HMAC key is the UTF-8 secret itself;
//! * salted: the HMAC key is the **ASCII text** returned by [`derive_key`], i.e.
//!   `Base64(PBKDF2-HMAC-SHA256(secret, UTF-8(salt string), iterations, keylen))`, as Autobahn's
//!   `derive_key` does. The salt string is used as-is, not base64-decoded.
//!
//! ```
//! use switchboard_proto::auth::cra;
//!
//! let challenge = r#"{"nonce": "LHRTC9zeOIrt_9U3", "authprovider": "userdb", "authid": "peter", "timestamp": "2014-06-22T16:36:25.448Z", "authrole": "user", "authmethod": "wampcra", "session": 3251278072152162}"#;
//! // Client side, salted variant:
//! let key = cra::derive_key(b"secret123", "salt123", 1000, 32)?;
//! let signature = cra::sign(key.as_bytes(), challenge);
//! assert_eq!(signature, "GyMkfiASBnhHaSle2CWSCDji2nyPuyJDxEQDEDraOGY=");
//! // Router side:
//! cra::verify(key.as_bytes(), challenge, &signature)?;
//! # Ok::<(), switchboard_proto::auth::AuthError>(())
//! ```

use serde_json::Value;
use zeroize::Zeroizing;

use super::{AuthError, b64_decode, b64_encode, ct_eq, hmac_sha256, random_bytes};
use crate::Id;

/// The `authmethod` string.
pub const AUTHMETHOD: &str = "wampcra";

/// Autobahn's default PBKDF2 iteration count for salted WAMP-CRA.
pub const DEFAULT_ITERATIONS: u32 = 1000;

/// Autobahn's default derived-key length in bytes for salted WAMP-CRA.
pub const DEFAULT_KEYLEN: usize = 32;

/// The largest `keylen` [`derive_key`] accepts, so that a hostile router cannot make a client
/// allocate and compute an arbitrarily long key.
pub const MAX_KEYLEN: usize = 1024;

/// Client side: the WAMP-CRA signature, `Base64(HMAC-SHA256(key, UTF-8(challenge)))`.
///
/// `key` is the secret's UTF-8 bytes (unsalted) or the ASCII bytes of [`derive_key`]'s result
/// (salted). `challenge` must be the string exactly as received in `CHALLENGE.Extra.challenge`.
pub fn sign(key: &[u8], challenge: &str) -> String {
    b64_encode(&hmac_sha256(key, challenge.as_bytes()))
}

/// Client and router side: the salted-variant key,
/// `Base64(PBKDF2-HMAC-SHA256(password = secret, salt = UTF-8(salt), iterations, keylen))`.
///
/// The returned base64 text's ASCII bytes are the HMAC key for [`sign`] and [`verify`] (as in
/// Autobahn's `derive_key`). It is zeroed on drop.
///
/// # Errors
///
/// [`AuthError::InvalidKdfParameters`] if `iterations` is 0 or `keylen` is not in
/// `1..=`[`MAX_KEYLEN`].
pub fn derive_key(
    secret: &[u8],
    salt: &str,
    iterations: u32,
    keylen: usize,
) -> Result<Zeroizing<String>, AuthError> {
    if iterations == 0 {
        return Err(AuthError::InvalidKdfParameters(
            "WAMP-CRA iterations must be at least 1".into(),
        ));
    }
    if keylen == 0 || keylen > MAX_KEYLEN {
        return Err(AuthError::InvalidKdfParameters(format!(
            "WAMP-CRA keylen must be in 1..={MAX_KEYLEN}, got {keylen}"
        )));
    }
    let mut dk = Zeroizing::new(vec![0u8; keylen]);
    pbkdf2::pbkdf2_hmac::<sha2::Sha256>(secret, salt.as_bytes(), iterations, &mut dk);
    Ok(Zeroizing::new(b64_encode(&dk)))
}

/// Router side: checks a client's signature in constant time.
///
/// `challenge` is the exact string the router sent; `signature` is `AUTHENTICATE.Signature`.
///
/// # Errors
///
/// [`AuthError::InvalidBase64`] if the signature is not base64, [`AuthError::VerificationFailed`]
/// if it does not match.
pub fn verify(key: &[u8], challenge: &str, signature: &str) -> Result<(), AuthError> {
    let presented = b64_decode(signature)?;
    let expected = hmac_sha256(key, challenge.as_bytes());
    if ct_eq(&expected, &presented) {
        Ok(())
    } else {
        Err(AuthError::VerificationFailed)
    }
}

/// Router side: the content of a WAMP-CRA challenge, serialized by [`Challenge::to_json`].
///
/// The nonce, timestamp and session id are parameters so that building the challenge stays
/// deterministic; [`Challenge::with_random_nonce`] draws the nonce, [`format_timestamp`] formats
/// the router's clock reading.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    /// The `authid` being authenticated.
    pub authid: String,
    /// The `authrole` the router will assign on success.
    pub authrole: String,
    /// Where the principal came from, e.g. `"static"`, `"dynamic"`, `"userdb"`.
    pub authprovider: String,
    /// A fresh random nonce (any string; [`generate_nonce`] makes one).
    pub nonce: String,
    /// UTC time in ISO 8601 with milliseconds, e.g. `2014-06-22T16:51:41.643Z`.
    pub timestamp: String,
    /// The session id that `WELCOME` will carry.
    pub session: Id,
}

impl Challenge {
    /// A challenge from all its parts.
    pub fn new(
        authid: impl Into<String>,
        authrole: impl Into<String>,
        authprovider: impl Into<String>,
        session: Id,
        nonce: impl Into<String>,
        timestamp: impl Into<String>,
    ) -> Challenge {
        Challenge {
            authid: authid.into(),
            authrole: authrole.into(),
            authprovider: authprovider.into(),
            nonce: nonce.into(),
            timestamp: timestamp.into(),
            session,
        }
    }

    /// A challenge with a nonce from [`generate_nonce`].
    pub fn with_random_nonce(
        authid: impl Into<String>,
        authrole: impl Into<String>,
        authprovider: impl Into<String>,
        session: Id,
        timestamp: impl Into<String>,
    ) -> Challenge {
        Challenge::new(
            authid,
            authrole,
            authprovider,
            session,
            generate_nonce(),
            timestamp,
        )
    }

    /// The challenge string for `CHALLENGE.Extra.challenge`: a compact JSON object with the keys
    /// `authid`, `authrole`, `authmethod` (`"wampcra"`), `authprovider`, `nonce`, `timestamp`,
    /// `session`, in that order. The router must keep this exact string to verify the answer.
    pub fn to_json(&self) -> String {
        let s = |v: &str| Value::from(v).to_string();
        format!(
            "{{\"authid\":{},\"authrole\":{},\"authmethod\":{},\"authprovider\":{},\"nonce\":{},\"timestamp\":{},\"session\":{}}}",
            s(&self.authid),
            s(&self.authrole),
            s(AUTHMETHOD),
            s(&self.authprovider),
            s(&self.nonce),
            s(&self.timestamp),
            self.session,
        )
    }
}

/// A fresh challenge nonce: 18 random bytes as unpadded URL-safe base64 (24 characters).
pub fn generate_nonce() -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(random_bytes::<18>())
}

/// Formats milliseconds since the Unix epoch as the challenge `timestamp`,
/// e.g. `2014-06-22T16:36:25.448Z` (UTC, millisecond precision).
pub fn format_timestamp(unix_millis: u64) -> String {
    let millis = unix_millis % 1000;
    let secs = unix_millis / 1000;
    let (days, sod) = (secs / 86_400, secs % 86_400);
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{millis:03}Z",
        sod / 3600,
        sod / 60 % 60,
        sod % 60
    )
}

/// Proleptic Gregorian date of a day count since 1970-01-01 (H. Hinnant's `civil_from_days`,
/// restricted to non-negative day counts).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenge_json_is_compact_ordered_and_escaped() {
        let c = Challenge::new(
            "pe\"ter",
            "user",
            "userdb",
            Id::new(3251278072152162).unwrap(),
            "LHRTC9zeOIrt_9U3",
            "2014-06-22T16:36:25.448Z",
        );
        let json = c.to_json();
        assert_eq!(
            json,
            r#"{"authid":"pe\"ter","authrole":"user","authmethod":"wampcra","authprovider":"userdb","nonce":"LHRTC9zeOIrt_9U3","timestamp":"2014-06-22T16:36:25.448Z","session":3251278072152162}"#
        );
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(v["authid"], "pe\"ter");
        assert_eq!(v["session"], 3251278072152162u64);
    }

    #[test]
    fn random_nonces_are_24_chars_and_differ() {
        let a = generate_nonce();
        assert_eq!(a.len(), 24);
        assert_ne!(a, generate_nonce());
        let c = Challenge::with_random_nonce("a", "r", "static", Id::MIN, "t");
        assert_eq!(c.nonce.len(), 24);
    }

    #[test]
    fn timestamps_format_like_iso8601_millis() {
        // Reference values from Python's datetime.fromtimestamp(ms / 1000, timezone.utc).
        assert_eq!(
            format_timestamp(1_403_454_985_448),
            "2014-06-22T16:36:25.448Z"
        );
        assert_eq!(format_timestamp(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(
            format_timestamp(951_868_799_999),
            "2000-02-29T23:59:59.999Z"
        );
        assert_eq!(
            format_timestamp(4_102_444_800_000),
            "2100-01-01T00:00:00.000Z"
        );
    }

    #[test]
    fn derive_key_rejects_degenerate_parameters() {
        assert!(matches!(
            derive_key(b"s", "salt", 0, 32),
            Err(AuthError::InvalidKdfParameters(_))
        ));
        assert!(matches!(
            derive_key(b"s", "salt", 1, 0),
            Err(AuthError::InvalidKdfParameters(_))
        ));
        assert!(matches!(
            derive_key(b"s", "salt", 1, MAX_KEYLEN + 1),
            Err(AuthError::InvalidKdfParameters(_))
        ));
    }

    #[test]
    fn verify_rejects_non_base64_and_truncated_signatures() {
        let sig = sign(b"k", "c");
        assert!(matches!(
            verify(b"k", "c", "not base64!"),
            Err(AuthError::InvalidBase64(_))
        ));
        assert_eq!(
            verify(b"k", "c", &b64_encode(&b64_decode(&sig).unwrap()[..31])),
            Err(AuthError::VerificationFailed)
        );
        assert_eq!(verify(b"k", "c", &sig), Ok(()));
    }
}
