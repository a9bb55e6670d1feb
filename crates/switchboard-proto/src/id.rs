//! WAMP identifiers: integers in `1..=2^53` (wamp-spec §2.2).

use std::fmt;

/// The largest valid WAMP id, 2^53.
pub const MAX_ID: u64 = 1 << 53;

/// A WAMP id: an integer in `1..=2^53`, checked when built.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Id(u64);

impl Id {
    /// The smallest id, 1.
    pub const MIN: Id = Id(1);
    /// The largest id, 2^53.
    pub const MAX: Id = Id(MAX_ID);

    /// Builds an id, or `None` when `value` is outside `1..=2^53`.
    pub const fn new(value: u64) -> Option<Id> {
        if value >= 1 && value <= MAX_ID {
            Some(Id(value))
        } else {
            None
        }
    }

    /// The integer value.
    pub const fn get(self) -> u64 {
        self.0
    }

    /// The id after this one in a session-scope sequence: +1, wrapping from 2^53 to 1.
    pub const fn next(self) -> Id {
        if self.0 == MAX_ID {
            Id(1)
        } else {
            Id(self.0 + 1)
        }
    }
}

impl fmt::Display for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl From<Id> for u64 {
    fn from(id: Id) -> u64 {
        id.0
    }
}

impl TryFrom<u64> for Id {
    type Error = InvalidId;
    fn try_from(value: u64) -> Result<Id, InvalidId> {
        Id::new(value).ok_or(InvalidId(value))
    }
}

/// An integer that is not a valid WAMP id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0} is not a WAMP id (must be in 1..=2^53)")]
pub struct InvalidId(pub u64);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn range_is_one_to_two_pow_53() {
        assert_eq!(Id::new(0), None);
        assert_eq!(Id::new(1).map(Id::get), Some(1));
        assert_eq!(Id::new(MAX_ID).map(Id::get), Some(MAX_ID));
        assert_eq!(Id::new(MAX_ID + 1), None);
    }

    #[test]
    fn next_wraps_to_one() {
        assert_eq!(Id::MAX.next(), Id::MIN);
        assert_eq!(Id::MIN.next().get(), 2);
    }
}
