//! Injected time: the engine never reads a clock itself, so tests can step it.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

/// A source of the current time.
pub trait Clock: Send + Sync + 'static {
    /// Now, for measuring durations.
    fn now(&self) -> Instant;

    /// Wall-clock time in milliseconds since the Unix epoch, for timestamps shown to peers.
    fn unix_millis(&self) -> u64;
}

/// The system's monotonic clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Instant {
        Instant::now()
    }

    fn unix_millis(&self) -> u64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64)
    }
}

/// A clock that only moves when told to (for tests). Its wall clock starts at
/// 2026-01-01T00:00:00Z.
#[derive(Clone)]
pub struct ManualClock(Arc<Mutex<(Instant, u64)>>);

impl ManualClock {
    /// A clock standing at the current instant.
    pub fn new() -> ManualClock {
        ManualClock(Arc::new(Mutex::new((Instant::now(), 1_767_225_600_000))))
    }

    /// Moves the clock forward.
    pub fn advance(&self, by: Duration) {
        let mut t = self.0.lock();
        t.0 += by;
        t.1 += by.as_millis() as u64;
    }
}

impl Default for ManualClock {
    fn default() -> ManualClock {
        ManualClock::new()
    }
}

impl fmt::Debug for ManualClock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ManualClock")
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Instant {
        self.0.lock().0
    }

    fn unix_millis(&self) -> u64 {
        self.0.lock().1
    }
}
