//! WAMP id generation and checking for the three id scopes of wamp-spec §2.2.
//!
//! * **Global** scope (session ids, publication ids): [`random_id`], uniform over `1..=2^53`,
//!   so ids are unguessable.
//! * **Session** scope (request ids): [`SessionIdCounter`], `1, 2, 3, …`, wrapping to 1 after
//!   2^53, one counter per session and direction shared by all request types.
//! * **Router** scope (subscription and registration ids): the router's free choice; either of
//!   the above will do.
//!
//! On the receiving side, a router checks that a session's new-request ids are sequential with
//! [`RequestIdChecker`].
//!
//! ```
//! use switchboard_proto::ids::{RequestIdChecker, SessionIdCounter, random_id};
//!
//! let session = random_id();
//! assert!((1..=1u64 << 53).contains(&session.get()));
//!
//! let mut requests = SessionIdCounter::new();
//! let mut checker = RequestIdChecker::strict();
//! for _ in 0..3 {
//!     checker.check(requests.next())?;
//! }
//! # Ok::<(), switchboard_proto::ids::NonSequential>(())
//! ```

use rand::{Rng, RngExt};

use crate::id::{Id, MAX_ID};

/// A global-scope id drawn uniformly from `1..=2^53` with the thread-local CSPRNG.
///
/// Use it for session ids and publication ids, which must be unguessable.
pub fn random_id() -> Id {
    random_id_with(&mut rand::rng())
}

/// A global-scope id drawn uniformly from `1..=2^53` with `rng`, for callers that inject
/// their randomness (deterministic tests, a seeded engine).
pub fn random_id_with<R: Rng + ?Sized>(rng: &mut R) -> Id {
    let value = rng.random_range(1..=MAX_ID);
    // `value` is in `1..=MAX_ID`, so `Id::new` always succeeds; the fallback is never taken.
    Id::new(value).unwrap_or(Id::MIN)
}

/// A session-scope id sequence: 1, 2, 3, …, wrapping to 1 after 2^53.
///
/// Keep one per session and direction for new-request ids (`SUBSCRIBE`, `PUBLISH`, `CALL`, …
/// from a client; `INVOCATION` from a router), shared across all request types.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionIdCounter {
    next: Id,
}

impl SessionIdCounter {
    /// A counter whose first id is 1.
    pub const fn new() -> SessionIdCounter {
        SessionIdCounter::starting_at(Id::MIN)
    }

    /// A counter whose first id is `first` (for resuming a sequence).
    pub const fn starting_at(first: Id) -> SessionIdCounter {
        SessionIdCounter { next: first }
    }

    /// The id [`next`](Self::next) will return, without advancing.
    pub const fn peek(&self) -> Id {
        self.next
    }

    /// Returns the next id and advances, wrapping from 2^53 to 1.
    #[allow(
        clippy::should_implement_trait,
        reason = "an endless sequence: returns Id, never None"
    )]
    pub fn next(&mut self) -> Id {
        let id = self.next;
        self.next = id.next();
        id
    }
}

impl Default for SessionIdCounter {
    fn default() -> SessionIdCounter {
        SessionIdCounter::new()
    }
}

/// How strictly a [`RequestIdChecker`] checks inbound request ids.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum Sequencing {
    /// New-request ids must be 1, 2, 3, … (wrapping after 2^53); anything else is a protocol
    /// violation. What the spec requires.
    #[default]
    Strict,
    /// Any valid id is accepted, for legacy peers that do not number requests sequentially.
    Lenient,
}

/// Router side: checks that a session's inbound new-request ids follow the session-scope
/// sequence (wamp-spec §2.2).
///
/// Call [`check`](Self::check) with the request id of every *new* request from the session
/// (`SUBSCRIBE`, `UNSUBSCRIBE`, `PUBLISH`, `REGISTER`, `UNREGISTER`, `CALL`): one sequence is
/// shared across all types. Messages that mirror an earlier id (`CANCEL`, `YIELD`, `ERROR`, and
/// the follow-up `CALL`s of a progressive call invocation, which reuse the first `CALL`'s id)
/// are not new requests and must not be checked.
///
/// Ids are validated (`1..=2^53`) when the [`Id`] is built, so lenient mode accepts every id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestIdChecker {
    expected: Id,
    mode: Sequencing,
}

impl RequestIdChecker {
    /// A checker expecting 1 first, with the given strictness.
    pub const fn new(mode: Sequencing) -> RequestIdChecker {
        RequestIdChecker {
            expected: Id::MIN,
            mode,
        }
    }

    /// A checker requiring sequential ids.
    pub const fn strict() -> RequestIdChecker {
        RequestIdChecker::new(Sequencing::Strict)
    }

    /// A checker accepting any valid id.
    pub const fn lenient() -> RequestIdChecker {
        RequestIdChecker::new(Sequencing::Lenient)
    }

    /// The strictness of this checker.
    pub const fn mode(&self) -> Sequencing {
        self.mode
    }

    /// The id the next new request should carry: one after the last accepted id.
    pub const fn expected(&self) -> Id {
        self.expected
    }

    /// Checks the id of a new request.
    ///
    /// In strict mode, fails with [`NonSequential`] unless `id` is the expected one, and then
    /// leaves the expectation unchanged; the router should abort the session with
    /// `wamp.error.protocol_violation`. In lenient mode, always succeeds. On success, the next
    /// expected id is `id`'s successor.
    pub fn check(&mut self, id: Id) -> Result<(), NonSequential> {
        if self.mode == Sequencing::Strict && id != self.expected {
            return Err(NonSequential {
                expected: self.expected,
                got: id,
            });
        }
        self.expected = id.next();
        Ok(())
    }
}

impl Default for RequestIdChecker {
    fn default() -> RequestIdChecker {
        RequestIdChecker::strict()
    }
}

/// A new-request id that does not follow the session's sequence: a protocol violation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, thiserror::Error)]
#[error("non-sequential request id {got}, expected {expected}")]
#[non_exhaustive]
pub struct NonSequential {
    /// The id the sequence called for.
    pub expected: Id,
    /// The id received.
    pub got: Id,
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    fn id(value: u64) -> Id {
        Id::new(value).unwrap()
    }

    #[test]
    fn random_ids_are_in_range_and_not_all_equal() {
        let ids: Vec<Id> = (0..1000).map(|_| random_id()).collect();
        assert!(ids.iter().all(|i| (1..=MAX_ID).contains(&i.get())));
        assert!(ids.iter().any(|i| *i != ids[0]));
    }

    #[test]
    fn random_ids_spread_over_the_whole_range() {
        // Uniformity sanity check: with 4000 draws, each quarter of the range gets ~1000; a
        // quarter with fewer than 500 would be a broken generator (probability ~1e-70).
        let mut rng = StdRng::seed_from_u64(53);
        let mut quarters = [0u32; 4];
        let mut above_2_pow_52 = 0;
        for _ in 0..4000 {
            let v = random_id_with(&mut rng).get();
            assert!((1..=MAX_ID).contains(&v));
            quarters[((v - 1) / (MAX_ID / 4)) as usize] += 1;
            if v > 1 << 52 {
                above_2_pow_52 += 1;
            }
        }
        assert!(quarters.iter().all(|&n| n > 500), "{quarters:?}");
        assert!(above_2_pow_52 > 1500, "{above_2_pow_52}");
    }

    #[test]
    fn random_id_with_is_deterministic_for_a_seeded_rng() {
        let a = random_id_with(&mut StdRng::seed_from_u64(7));
        let b = random_id_with(&mut StdRng::seed_from_u64(7));
        assert_eq!(a, b);
    }

    #[test]
    fn session_counter_starts_at_one_and_increments() {
        let mut counter = SessionIdCounter::new();
        assert_eq!(counter.peek(), Id::MIN);
        let ids: Vec<u64> = (0..5).map(|_| counter.next().get()).collect();
        assert_eq!(ids, [1, 2, 3, 4, 5]);
        assert_eq!(SessionIdCounter::default().next(), Id::MIN);
    }

    #[test]
    fn session_counter_wraps_to_one_after_2_pow_53() {
        let mut counter = SessionIdCounter::starting_at(id(MAX_ID - 1));
        assert_eq!(counter.next().get(), MAX_ID - 1);
        assert_eq!(counter.next().get(), MAX_ID);
        assert_eq!(counter.next().get(), 1);
        assert_eq!(counter.next().get(), 2);
    }

    #[test]
    fn strict_checker_accepts_sequence_across_request_types() {
        // [CALL, 1] [SUBSCRIBE, 2] [PUBLISH, 3]: one counter for all types.
        let mut checker = RequestIdChecker::strict();
        for n in 1..=3 {
            assert_eq!(checker.check(id(n)), Ok(()));
        }
        assert_eq!(checker.expected(), id(4));
    }

    #[test]
    fn strict_checker_rejects_gap_repeat_and_wrong_start() {
        let mut checker = RequestIdChecker::strict();
        assert_eq!(
            checker.check(id(2)),
            Err(NonSequential {
                expected: id(1),
                got: id(2)
            })
        );
        assert_eq!(
            checker.expected(),
            id(1),
            "expectation unchanged after a failure"
        );
        checker.check(id(1)).unwrap();
        assert_eq!(
            checker.check(id(1)),
            Err(NonSequential {
                expected: id(2),
                got: id(1)
            })
        );
        assert_eq!(
            checker.check(id(5)),
            Err(NonSequential {
                expected: id(2),
                got: id(5)
            })
        );
    }

    #[test]
    fn strict_checker_follows_wrap_around() {
        let mut counter = SessionIdCounter::starting_at(id(MAX_ID - 2));
        let mut checker = RequestIdChecker::strict();
        checker.expected = id(MAX_ID - 2);
        for _ in 0..5 {
            assert_eq!(checker.check(counter.next()), Ok(()));
        }
        assert_eq!(checker.expected(), id(3));
        let mut at_max = RequestIdChecker::strict();
        at_max.expected = Id::MAX;
        assert_eq!(at_max.check(Id::MAX), Ok(()));
        assert_eq!(at_max.expected(), Id::MIN);
    }

    #[test]
    fn lenient_checker_accepts_any_valid_id() {
        let mut checker = RequestIdChecker::lenient();
        assert_eq!(checker.mode(), Sequencing::Lenient);
        for n in [7, 7, 3, MAX_ID, 1] {
            assert_eq!(checker.check(id(n)), Ok(()));
        }
        assert_eq!(checker.expected(), id(2));
    }

    #[test]
    fn non_sequential_error_names_both_ids() {
        let e = NonSequential {
            expected: id(4),
            got: id(9),
        };
        assert_eq!(e.to_string(), "non-sequential request id 9, expected 4");
        assert_eq!(RequestIdChecker::default().mode(), Sequencing::Strict);
    }
}
