//! Switchboard's WAMP client: an async API on Tokio, a [`blocking`] API for plain threads, and
//! a reconnecting [`Component`] runner.
//!
//! ```
//! use switchboard_client::{CallOutput, ConnectOptions, Session};
//! # use switchboard_router::{config::Config, server::Server};
//!
//! # #[tokio::main]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let config = Config::from_toml_str(
//! #     "[[listen]]\nbind = \"127.0.0.1:0\"\n[[realm]]\nname = \"realm1\"\n")?;
//! # let server = Server::bind(&config).await?;
//! # let url = format!("ws://{}/ws", server.local_addrs()[0]);
//! # tokio::spawn(server.run_until(std::future::pending()));
//! // A callee: `url` is e.g. "ws://127.0.0.1:8080/ws" (`switchboard start`).
//! let callee = Session::connect(ConnectOptions::new(&url, "realm1")).await?;
//! callee
//!     .register("com.myapp.add2", |inv| async move {
//!         let (a, b): (i64, i64) = inv.args_as()?;
//!         Ok(CallOutput::value(a + b))
//!     })
//!     .await?;
//!
//! // A caller, over the same router.
//! let caller = Session::connect(ConnectOptions::new(&url, "realm1")).await?;
//! let sum: i64 = caller.call("com.myapp.add2", (2, 3), ()).await?;
//! assert_eq!(sum, 5);
//!
//! caller.leave().await?;
//! callee.leave().await?;
//! # Ok(())
//! # }
//! ```
//!
//! # Shape
//!
//! [`Session::connect`] opens the transport (WebSocket `ws://host:port/path`, RawSocket
//! `rs://host:port` or `tcp://host:port`, or `unix:///path`), performs the opening handshake
//! including authentication ([`Auth`]: anonymous, ticket, WAMP-CRA, WAMP-SCRAM, Cryptosign, or
//! a custom challenge handler), and spawns one driver task that owns the connection. The
//! [`Session`] it returns is a cheap, cloneable handle: every method sends the driver a command
//! and awaits its answer, so a session can be used from many tasks at once. The session ends
//! with [`Session::leave`], when the router closes it, when the connection is lost, or when the
//! last handle is dropped; [`Session::closed`] tells how.
//!
//! # Payloads
//!
//! Arguments and results are converted with serde (see [`convert`]): `args` is anything that
//! serializes to a sequence (a tuple, array or `Vec`; `()` for none; any other value is sent as
//! the single argument), `kwargs` anything that serializes to a map (a struct or map; `()` for
//! none). [`Value`] and [`Dict`] are accepted too, for dynamic data. Results and events are
//! decoded on demand: [`CallResult::decode`] and [`Event::decode`] follow Autobahn's
//! convention (one positional argument is returned as itself), and `args_as`, `arg`,
//! `kwargs_as` read the parts explicitly.
//!
//! # Remote procedure calls
//!
//! * [`Session::call`] decodes the result into the type you ask for;
//!   [`Session::call_with`] takes [`CallOptions`] (timeout, `disclose_me`, cancel mode) and
//!   returns a [`PendingCall`] future resolving to the raw [`CallResult`].
//! * [`Session::call_progressive`] returns a `Stream` of progressive results, final one last.
//! * **Canceling**: dropping a call's future cancels it. If the router announced
//!   `call_canceling`, a CANCEL is sent with the call's cancel mode (default `killnowait`: the
//!   router interrupts the callee and forgets the call); otherwise the call is forgotten locally
//!   and its late result ignored. [`PendingCall::cancel`] cancels explicitly with a mode and
//!   keeps waiting for the outcome. A [`CallOptions::timeout`] cancels the same way when it
//!   expires and fails the call with [`CallError::Timeout`].
//! * [`Session::register`] takes an async handler `Fn(Invocation) -> Future<Output =
//!   Result<CallOutput, ApplicationError>>`, run in a task per invocation. An
//!   [`ApplicationError`] reaches the caller with its URI, args and kwargs; a panic becomes
//!   `wamp.error.runtime_error`. On INTERRUPT the handler's future is dropped (and, in `kill`
//!   mode, the caller gets `wamp.error.canceled`); [`Invocation::interrupted`] and
//!   [`Invocation::interrupt_token`] let work started elsewhere see it too.
//!   [`Invocation::progress`] sends progressive results.
//! * [`Session::register_stream`] delivers invocations as a `Stream` of [`InvocationRequest`]s
//!   to answer with [`InvocationRequest::reply`].
//!
//! # Publish and subscribe
//!
//! [`Session::publish`] with [`PublishOptions`] (acknowledge, `exclude_me`, black- and
//! whitelists, retain, `disclose_me`); [`Session::subscribe`] with an async handler (events of
//! one subscription are handled one at a time, in order) or [`Session::subscribe_stream`] for
//! a `Stream` of [`Event`]s.
//!
//! ```
//! use futures_util::StreamExt as _;
//! use switchboard_client::{ConnectOptions, PublishOptions, Session, SubscribeOptions};
//! # use switchboard_router::{config::Config, server::Server};
//!
//! # #[tokio::main]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let config = Config::from_toml_str(
//! #     "[[listen]]\nbind = \"127.0.0.1:0\"\n[[realm]]\nname = \"realm1\"\n")?;
//! # let server = Server::bind(&config).await?;
//! # let url = format!("rs://{}", server.local_addrs()[0]);
//! # tokio::spawn(server.run_until(std::future::pending()));
//! let subscriber = Session::connect(ConnectOptions::new(&url, "realm1")).await?;
//! let mut counter = subscriber
//!     .subscribe_stream("com.myapp.oncounter", SubscribeOptions::new())
//!     .await?;
//!
//! let publisher = Session::connect(ConnectOptions::new(&url, "realm1")).await?;
//! publisher
//!     .publish("com.myapp.oncounter", (1,), (), PublishOptions::new().acknowledge(true))
//!     .await?;
//!
//! let event = counter.next().await.ok_or("no event")?;
//! assert_eq!(event.decode::<i64>()?, 1);
//! # Ok(())
//! # }
//! ```
//!
//! # Advanced Profile features
//!
//! The client announces the features it implements in HELLO and uses an Advanced Profile
//! option only when the router announced the matching feature in WELCOME
//! ([`SessionDetails::dealer_has`], [`SessionDetails::broker_has`]). Best-effort options
//! (progressive results, disclosure, retention, router-side timeouts) are then left out
//! silently; options that decide who receives a message (pattern-based matching, shared
//! registrations, black- and whitelists, `exclude_me = false`) make the operation fail with
//! `FeatureNotSupported` instead of reaching the wrong peers.
//!
//! # Errors
//!
//! Each operation has its own error enum ([`ConnectError`], [`CallError`],
//! [`RegisterError`], [`UnregisterError`], [`SubscribeError`], [`UnsubscribeError`],
//! [`PublishError`], [`LeaveError`]) with the outcomes that operation can have: an
//! application error with URI, args and kwargs, timeout, canceled, no such procedure, not
//! authorized, invalid URI, session closed, transport lost, protocol violation.
//!
//! # Staying connected
//!
//! [`Component`] declares registrations and subscriptions once, runs `on_join` / `on_leave` /
//! `on_disconnect` callbacks, and reconnects with exponential backoff
//! ([`ReconnectPolicy`]), declaring everything again on each new session. The [`blocking`]
//! client is built on it.

#![warn(missing_docs)]

pub mod blocking;
mod component;
pub mod convert;
mod driver;
mod error;
mod handshake;
mod options;
mod pubsub;
mod rpc;
mod session;

pub use component::{Component, ComponentError, ComponentHandle, ComponentStopped};
pub use error::{
    ApplicationError, CallError, ConnectError, INVALID_PAYLOAD, LeaveError, PublishError,
    RUNTIME_ERROR, RegisterError, SubscribeError, UnregisterError, UnsubscribeError,
};
pub use options::{
    Auth, CallOptions, CancelMode, ChallengeHandler, ConnectOptions, DEFAULT_REALM, DEFAULT_URL,
    InvokePolicy, MatchPolicy, PublishOptions, ReconnectPolicy, RegisterOptions, SubscribeOptions,
};
pub use pubsub::{Event, EventStream, Subscription};
pub use rpc::{
    CallOutput, CallResult, HandlerResult, Invocation, InvocationRequest, InvocationStream,
    ProgressError, Registration,
};
pub use session::{
    CloseInfo, CloseKind, PendingCall, ProgressiveCall, Session, SessionDetails, TRANSPORT_LOST,
};
pub use switchboard_proto as proto;
pub use switchboard_proto::names::Feature;
pub use switchboard_proto::{Dict, Format, Id, Value, dict};
