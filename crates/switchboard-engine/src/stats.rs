//! Counters an operator wants to see.

use std::sync::atomic::AtomicU64;

/// Router-wide counters, updated with relaxed atomics on the hot path.
#[derive(Debug, Default)]
pub struct Stats {
    /// EVENTs handed to subscriber queues.
    pub events_delivered: AtomicU64,
    /// EVENTs dropped for a full queue under the `drop` slow-consumer policy.
    pub events_dropped: AtomicU64,
    /// EVENTs that could not be expressed for a subscriber (size limit, serializer).
    pub events_undeliverable: AtomicU64,
    /// Sessions closed because their queue overflowed.
    pub slow_consumers_closed: AtomicU64,
    /// Sessions aborted for a protocol violation.
    pub protocol_violations: AtomicU64,
}
