//! Sans-IO WAMP router logic: realms, sessions, broker, dealer and the pattern index.
//!
//! No sockets and no async runtime. The owner of each connection creates a [`Session`] with
//! [`Router::connect`], feeds it received frames and gives it an [`Outbox`] to put replies
//! in. Many sessions can be stepped in one thread, which is how the engine tests run.

pub mod auth;
pub mod authz;
pub mod broker;
pub mod clock;
pub mod dealer;
pub mod features;
pub mod limits;
pub mod matching;
mod meta;
pub mod outbox;
pub mod peer;
pub mod realm;
pub mod router;
pub mod session;
pub mod stats;
mod table;

pub use auth::{Authenticator, RealmSecurity};
pub use authz::Authorizer;
pub use broker::{BrokerLimits, SlowConsumerPolicy};
pub use clock::{Clock, ManualClock, SystemClock};
pub use limits::SessionLimits;
pub use outbox::{KillReason, Outbox, Overflow};
pub use realm::RealmSettings;
pub use router::{EngineConfig, Router};
pub use session::{Flow, Session};
