//! Ticket authentication (wamp-spec §7.2).
//!
//! The router answers `HELLO` with `CHALLENGE [4, "ticket", {}]`, the client sends the ticket in
//! clear as the `AUTHENTICATE` signature, and the router compares it with the stored ticket for
//! that `authid` using [`verify`]. The ticket travels unprotected, so use TLS.

use super::{AuthError, ct_eq, sha256};

/// The `authmethod` string.
pub const AUTHMETHOD: &str = "ticket";

/// Router side: checks a presented ticket against the stored one in constant time.
///
/// Both values are hashed with SHA-256 first and the digests compared with `subtle`, so neither
/// the position of the first difference nor the stored ticket's length shows in the timing.
///
/// # Errors
///
/// [`AuthError::VerificationFailed`] when the tickets differ.
pub fn verify(stored: &[u8], presented: &[u8]) -> Result<(), AuthError> {
    if ct_eq(&sha256(stored), &sha256(presented)) {
        Ok(())
    } else {
        Err(AuthError::VerificationFailed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::Secret;

    #[test]
    fn matching_ticket_is_accepted() {
        let stored = Secret::from("my-ticket-8f1c");
        assert_eq!(verify(stored.expose(), b"my-ticket-8f1c"), Ok(()));
    }

    #[test]
    fn wrong_prefix_or_empty_ticket_is_rejected() {
        let stored = Secret::from("my-ticket-8f1c");
        for presented in [
            &b"my-ticket-8f1"[..],
            b"my-ticket-8f1c ",
            b"",
            b"MY-TICKET-8F1C",
        ] {
            assert_eq!(
                verify(stored.expose(), presented),
                Err(AuthError::VerificationFailed)
            );
        }
    }
}
