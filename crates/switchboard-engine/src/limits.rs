//! Per-session resource limits the engine enforces (the router crate fills them from the
//! `[limits]` section of its config).

/// Error URI of a REGISTER or SUBSCRIBE refused because the session holds too many.
pub const LIMIT_EXCEEDED: &str = "switchboard.error.limit_exceeded";

/// Bounds on what one session (or one `authid`) may hold. `None` means unbounded.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SessionLimits {
    /// Sessions one `authid` may have joined to one realm at once; one more is refused with
    /// ABORT `wamp.error.not_authorized`.
    pub max_sessions_per_authid: Option<usize>,
    /// Registrations one session may hold; one more is refused with ERROR
    /// [`LIMIT_EXCEEDED`].
    pub max_registrations: Option<usize>,
    /// Subscriptions one session may hold; one more is refused with ERROR [`LIMIT_EXCEEDED`].
    pub max_subscriptions: Option<usize>,
    /// Calls one session may have waiting for their results (routed or queued); one more is
    /// refused with ERROR [`LIMIT_EXCEEDED`]. Meta procedures, answered at once, do not count.
    pub max_pending_calls: Option<usize>,
}
