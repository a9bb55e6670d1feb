//! The seam between the engine and whatever writes to a connection.
//!
//! The engine never blocks on a peer: it hands encoded frames to the peer's [`Outbox`], which
//! is bounded (in messages and bytes) by its owner. A full outbox is reported, not waited on,
//! and the engine decides what that means (ARCHITECTURE.md, decision 5).

use bytes::Bytes;

/// The outbox is at its bound; the frame was not queued.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("outbound queue full")]
pub struct Overflow;

/// Why the engine ends a connection at once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum KillReason {
    /// The peer does not read fast enough: its outbound queue overflowed.
    SlowConsumer,
}

impl KillReason {
    /// A short text for logs and ABORT details.
    pub fn message(self) -> &'static str {
        match self {
            KillReason::SlowConsumer => {
                "outbound queue overflowed: the peer does not read fast enough"
            }
        }
    }
}

/// Where the engine puts the frames for one connection.
pub trait Outbox: Send + Sync + 'static {
    /// Queues one encoded frame without blocking.
    fn push(&self, frame: Bytes) -> Result<(), Overflow>;

    /// Closes the connection once everything queued so far has been written.
    fn close(&self);

    /// Ends the connection now, discarding what is queued.
    fn kill(&self, reason: KillReason);
}
