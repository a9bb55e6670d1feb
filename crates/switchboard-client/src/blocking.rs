//! A blocking client for programs without an async runtime, doing for Rust what
//! Autobahn-Sync does for Python.
//!
//! It is a thin wrapper over the async client: [`Client`] owns a small Tokio runtime (its own
//! worker thread) that runs a [`Component`], so the session reconnects by itself. Declare
//! registrations and subscriptions before [`Client::run`]; afterwards call and publish from
//! any plain thread. Handlers are plain functions, run on the runtime's blocking thread pool,
//! so they may themselves call and publish through a clone of the client.
//!
//! ```
//! use switchboard_client::blocking::{Client, Error};
//! use switchboard_client::{CallOutput, ConnectOptions};
//! # use switchboard_router::{config::Config, server::Server};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let rt = tokio::runtime::Runtime::new()?;
//! # let config = Config::from_toml_str(
//! #     "[[listen]]\nbind = \"127.0.0.1:0\"\n[[realm]]\nname = \"realm1\"\n")?;
//! # let server = rt.block_on(Server::bind(&config))?;
//! # let url = format!("ws://{}/ws", server.local_addrs()[0]);
//! # rt.spawn(server.run_until(std::future::pending()));
//! // `url` is e.g. "ws://127.0.0.1:8080/ws".
//! let client = Client::new(ConnectOptions::new(&url, "realm1"))?;
//! client.register("com.myapp.add2", |inv| {
//!     let (a, b): (i64, i64) = inv.args_as()?;
//!     Ok(CallOutput::value(a + b))
//! })?;
//! client.subscribe("com.myapp.oncounter", |event| {
//!     println!("counter is {:?}", event.arg::<i64>(0));
//! })?;
//! client.run()?;
//!
//! // From any thread:
//! let sum: i64 = client.call("com.myapp.add2", (2, 3), ())?;
//! assert_eq!(sum, 5);
//! client.publish("com.myapp.oncounter", (sum,), ())?;
//!
//! // Typed errors:
//! match client.call::<i64>("com.myapp.missing", (), ()) {
//!     Err(Error::NoSuchProcedure(procedure)) => assert_eq!(procedure, "com.myapp.missing"),
//!     other => panic!("{other:?}"),
//! }
//! client.stop()?;
//! # Ok(())
//! # }
//! ```

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::Id;
use crate::component::{Component, ComponentError, ComponentHandle};
use crate::error::{
    ApplicationError, CallError, ConnectError, LeaveError, PublishError, RegisterError,
    SubscribeError,
};
use crate::options::{
    CallOptions, ConnectOptions, PublishOptions, ReconnectPolicy, RegisterOptions, SubscribeOptions,
};
use crate::pubsub::{Event, EventHandlerFn};
use crate::rpc::{CallResult, HandlerFn, HandlerResult, Invocation};
use crate::session::Session;

/// What can go wrong in the blocking API (mirroring Autobahn-Sync's exceptions).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No session is established: [`Client::run`] was not called, or the client is
    /// reconnecting.
    #[error("the session is not ready")]
    SessionNotReady,
    /// The connection was lost while the operation was in progress.
    #[error("the connection to the router was lost")]
    TransportLost,
    /// The callee (or router) answered with an application error.
    #[error("application error: {0}")]
    Application(ApplicationError),
    /// No procedure is registered under the URI.
    #[error("no procedure is registered as {0}")]
    NoSuchProcedure(String),
    /// The procedure is already registered by another session.
    #[error("procedure {0} is already registered")]
    ProcedureAlreadyExists(String),
    /// The router refused the operation.
    #[error("not authorized: {0}")]
    NotAuthorized(ApplicationError),
    /// A URI is not a valid WAMP URI.
    #[error("invalid URI: {0}")]
    InvalidUri(String),
    /// The router refused the session (ABORT), e.g. no such realm or authentication failed.
    #[error("the router aborted the session: {0}")]
    Abort(ApplicationError),
    /// The call timed out.
    #[error("the call timed out")]
    Timeout,
    /// The call was canceled.
    #[error("the call was canceled")]
    Canceled,
    /// A payload could not be serialized or decoded.
    #[error("serialization error: {0}")]
    Serialization(String),
    /// The options need a feature the router did not announce.
    #[error("the router does not support {0}")]
    FeatureNotSupported(&'static str),
    /// The router or this client broke the protocol.
    #[error("protocol error: {0}")]
    Protocol(String),
    /// Connecting failed.
    #[error("cannot connect: {0}")]
    Connect(ConnectError),
    /// The reconnect policy gave up.
    #[error(transparent)]
    Component(ComponentError),
    /// [`Client::run`] was called on a running client.
    #[error("the client is already running")]
    AlreadyRunning,
    /// [`Client::stop`] was called on a client that is not running.
    #[error("the client is not running")]
    NotRunning,
    /// The runtime could not be started.
    #[error("cannot start the client runtime: {0}")]
    Runtime(#[source] std::io::Error),
}

impl From<CallError> for Error {
    fn from(e: CallError) -> Error {
        match e {
            CallError::Application(a) => Error::Application(a),
            CallError::NoSuchProcedure { procedure } => Error::NoSuchProcedure(procedure),
            CallError::NotAuthorized(a) => Error::NotAuthorized(a),
            CallError::InvalidUri(u) => Error::InvalidUri(u),
            CallError::Timeout => Error::Timeout,
            CallError::Canceled => Error::Canceled,
            CallError::Serialize(e) | CallError::Decode(e) => Error::Serialization(e.to_string()),
            CallError::SessionClosed => Error::SessionNotReady,
            CallError::TransportLost => Error::TransportLost,
            CallError::ProtocolViolation(m) => Error::Protocol(m),
        }
    }
}

impl From<PublishError> for Error {
    fn from(e: PublishError) -> Error {
        match e {
            PublishError::NotAuthorized(a) => Error::NotAuthorized(a),
            PublishError::InvalidUri(u) => Error::InvalidUri(u),
            PublishError::FeatureNotSupported(f) => Error::FeatureNotSupported(f),
            PublishError::Serialize(e) => Error::Serialization(e.to_string()),
            PublishError::Router(a) => Error::Application(a),
            PublishError::SessionClosed => Error::SessionNotReady,
            PublishError::TransportLost => Error::TransportLost,
            PublishError::ProtocolViolation(m) => Error::Protocol(m),
        }
    }
}

impl From<RegisterError> for Error {
    fn from(e: RegisterError) -> Error {
        match e {
            RegisterError::ProcedureAlreadyExists { procedure } => {
                Error::ProcedureAlreadyExists(procedure)
            }
            RegisterError::NotAuthorized(a) => Error::NotAuthorized(a),
            RegisterError::InvalidUri(u) => Error::InvalidUri(u),
            RegisterError::FeatureNotSupported(f) => Error::FeatureNotSupported(f),
            RegisterError::Router(a) => Error::Application(a),
            RegisterError::SessionClosed => Error::SessionNotReady,
            RegisterError::TransportLost => Error::TransportLost,
            RegisterError::ProtocolViolation(m) => Error::Protocol(m),
        }
    }
}

impl From<SubscribeError> for Error {
    fn from(e: SubscribeError) -> Error {
        match e {
            SubscribeError::NotAuthorized(a) => Error::NotAuthorized(a),
            SubscribeError::InvalidUri(u) => Error::InvalidUri(u),
            SubscribeError::FeatureNotSupported(f) => Error::FeatureNotSupported(f),
            SubscribeError::Router(a) => Error::Application(a),
            SubscribeError::SessionClosed => Error::SessionNotReady,
            SubscribeError::TransportLost => Error::TransportLost,
            SubscribeError::ProtocolViolation(m) => Error::Protocol(m),
        }
    }
}

impl From<LeaveError> for Error {
    fn from(e: LeaveError) -> Error {
        match e {
            LeaveError::SessionClosed => Error::SessionNotReady,
            LeaveError::TransportLost => Error::TransportLost,
            LeaveError::ProtocolViolation(m) => Error::Protocol(m),
        }
    }
}

impl From<ConnectError> for Error {
    fn from(e: ConnectError) -> Error {
        match e {
            ConnectError::Aborted(a) => Error::Abort(a),
            other => Error::Connect(other),
        }
    }
}

impl From<ComponentError> for Error {
    fn from(e: ComponentError) -> Error {
        match e {
            ComponentError::Connect(c) => c.into(),
            ComponentError::Register { source, .. } => source.into(),
            ComponentError::Subscribe { source, .. } => source.into(),
            other => Error::Component(other),
        }
    }
}

/// A declaration made before `run()`.
enum Decl {
    Register(String, RegisterOptions, HandlerFn),
    Subscribe(String, SubscribeOptions, EventHandlerFn),
}

/// Locks a mutex, ignoring poisoning (every critical section here leaves the data valid).
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

struct Inner {
    /// Always `Some` until dropped.
    runtime: Option<tokio::runtime::Runtime>,
    options: ConnectOptions,
    reconnect: Mutex<ReconnectPolicy>,
    decls: Mutex<Vec<Decl>>,
    component: Mutex<Option<Arc<ComponentHandle>>>,
}

impl Inner {
    fn handle(&self) -> Result<tokio::runtime::Handle, Error> {
        self.runtime
            .as_ref()
            .map(|r| r.handle().clone())
            .ok_or(Error::NotRunning)
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        let component = lock(&self.component).take();
        if let Some(runtime) = self.runtime.take() {
            // Leave cleanly when dropped outside async code; inside it blocking is not
            // allowed, so the runtime just goes (the router notices the closed connection).
            if let Some(component) = component
                && tokio::runtime::Handle::try_current().is_err()
            {
                let _ = runtime.block_on(async {
                    tokio::time::timeout(Duration::from_secs(5), stop_component(component)).await
                });
            }
            runtime.shutdown_background();
        }
    }
}

/// Stops a component, waiting for it to end.
async fn stop_component(component: Arc<ComponentHandle>) -> Result<(), Error> {
    match Arc::try_unwrap(component) {
        Ok(component) => component.stop().await.map_err(Error::from),
        Err(shared) => {
            // A call in another thread still holds it: ask it to stop and wait.
            shared.request_stop();
            match shared.stopped().await {
                None => Ok(()),
                Some(e) => Err(Error::Protocol(e)),
            }
        }
    }
}

/// A blocking WAMP client (see the [module docs](self)). Cloning gives another handle to the
/// same client, e.g. to call other procedures from inside a handler; the client stops when
/// the last clone is dropped.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("options", &self.inner.options)
            .field("running", &self.is_running())
            .finish_non_exhaustive()
    }
}

/// Wraps a blocking procedure handler into an async one that runs it on the blocking pool.
fn blocking_handler<F>(f: F) -> HandlerFn
where
    F: Fn(Invocation) -> HandlerResult + Send + Sync + 'static,
{
    let f = Arc::new(f);
    Arc::new(move |inv: Invocation| {
        let f = Arc::clone(&f);
        Box::pin(async move {
            match tokio::task::spawn_blocking(move || f(inv)).await {
                Ok(result) => result,
                Err(e) => Err(ApplicationError::runtime_error(format!(
                    "the procedure handler failed: {e}"
                ))),
            }
        })
    })
}

/// Wraps a blocking event handler into an async one that runs it on the blocking pool.
fn blocking_event_handler<F>(f: F) -> EventHandlerFn
where
    F: Fn(Event) + Send + Sync + 'static,
{
    let f = Arc::new(f);
    Arc::new(move |event: Event| {
        let f = Arc::clone(&f);
        Box::pin(async move {
            if let Err(e) = tokio::task::spawn_blocking(move || f(event)).await {
                tracing::warn!("an event handler failed: {e}");
            }
        })
    })
}

impl Client {
    /// A client that will connect with `options` when [`run`](Self::run) is called,
    /// reconnecting with the default policy. Starts the client's runtime (one worker thread).
    ///
    /// # Errors
    ///
    /// [`Error::Runtime`] when the runtime's threads cannot be started.
    pub fn new(options: ConnectOptions) -> Result<Client, Error> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("switchboard-client")
            .enable_all()
            .build()
            .map_err(Error::Runtime)?;
        Ok(Client {
            inner: Arc::new(Inner {
                runtime: Some(runtime),
                options,
                reconnect: Mutex::new(ReconnectPolicy::default()),
                decls: Mutex::new(Vec::new()),
                component: Mutex::new(None),
            }),
        })
    }

    /// Sets the reconnect policy used by the next [`run`](Self::run).
    pub fn set_reconnect(&self, policy: ReconnectPolicy) {
        *lock(&self.inner.reconnect) = policy;
    }

    /// Registers a procedure with a blocking handler. Before [`run`](Self::run) this only
    /// declares it; once running it registers it right away. Either way it is registered again
    /// after every reconnection.
    ///
    /// # Errors
    ///
    /// Once running, the registration's error.
    pub fn register<F>(&self, procedure: &str, handler: F) -> Result<(), Error>
    where
        F: Fn(Invocation) -> HandlerResult + Send + Sync + 'static,
    {
        self.register_with(procedure, RegisterOptions::default(), handler)
    }

    /// Registers a procedure with options (see [`register`](Self::register)).
    ///
    /// # Errors
    ///
    /// Once running, the registration's error.
    pub fn register_with<F>(
        &self,
        procedure: &str,
        options: RegisterOptions,
        handler: F,
    ) -> Result<(), Error>
    where
        F: Fn(Invocation) -> HandlerResult + Send + Sync + 'static,
    {
        let handler = blocking_handler(handler);
        if !self.is_running() {
            lock(&self.inner.decls).push(Decl::Register(procedure.to_owned(), options, handler));
            return Ok(());
        }
        let rt = self.inner.handle()?;
        let component = self.component()?;
        Ok(rt.block_on(component.register_with(procedure, options, move |inv| handler(inv)))?)
    }

    /// Subscribes to a topic with a blocking handler (events are handled one at a time, in
    /// order). Before [`run`](Self::run) this only declares it; once running it subscribes
    /// right away. Either way it is subscribed again after every reconnection.
    ///
    /// # Errors
    ///
    /// Once running, the subscription's error.
    pub fn subscribe<F>(&self, topic: &str, handler: F) -> Result<(), Error>
    where
        F: Fn(Event) + Send + Sync + 'static,
    {
        self.subscribe_with(topic, SubscribeOptions::default(), handler)
    }

    /// Subscribes with options (see [`subscribe`](Self::subscribe)).
    ///
    /// # Errors
    ///
    /// Once running, the subscription's error.
    pub fn subscribe_with<F>(
        &self,
        topic: &str,
        options: SubscribeOptions,
        handler: F,
    ) -> Result<(), Error>
    where
        F: Fn(Event) + Send + Sync + 'static,
    {
        let handler = blocking_event_handler(handler);
        if !self.is_running() {
            lock(&self.inner.decls).push(Decl::Subscribe(topic.to_owned(), options, handler));
            return Ok(());
        }
        let rt = self.inner.handle()?;
        let component = self.component()?;
        Ok(rt.block_on(component.subscribe_with(topic, options, move |ev| handler(ev)))?)
    }

    /// Connects; returns once the session is established and the declared registrations and
    /// subscriptions are made. From then on the client reconnects by itself.
    ///
    /// # Errors
    ///
    /// [`Error::AlreadyRunning`]; the first connection attempt's error (this call does not
    /// retry: the router must be reachable); a declaration's error.
    pub fn run(&self) -> Result<(), Error> {
        let rt = self.inner.handle()?;
        let mut slot = lock(&self.inner.component);
        if slot.is_some() {
            return Err(Error::AlreadyRunning);
        }
        let mut component = Component::new(self.inner.options.clone())
            .reconnect(lock(&self.inner.reconnect).clone())
            .fail_fast(true);
        for decl in lock(&self.inner.decls).drain(..) {
            component = match decl {
                Decl::Register(p, o, h) => component.register_boxed(&p, o, h),
                Decl::Subscribe(t, o, h) => component.subscribe_boxed(&t, o, h),
            };
        }
        let handle = rt.block_on(async { component.start() });
        if rt.block_on(handle.joined()).is_err() {
            return Err(match rt.block_on(handle.wait()) {
                Err(e) => e.into(),
                Ok(()) => Error::SessionNotReady,
            });
        }
        *slot = Some(Arc::new(handle));
        Ok(())
    }

    fn component(&self) -> Result<Arc<ComponentHandle>, Error> {
        lock(&self.inner.component)
            .as_ref()
            .map(Arc::clone)
            .ok_or(Error::NotRunning)
    }

    /// Whether [`run`](Self::run) succeeded and [`stop`](Self::stop) was not called.
    pub fn is_running(&self) -> bool {
        lock(&self.inner.component).is_some()
    }

    fn session(&self) -> Result<(tokio::runtime::Handle, Session), Error> {
        let rt = self.inner.handle()?;
        let session = lock(&self.inner.component)
            .as_ref()
            .and_then(|c| c.session())
            .ok_or(Error::SessionNotReady)?;
        Ok((rt, session))
    }

    /// The current async [`Session`], for anything the blocking API does not wrap.
    ///
    /// # Errors
    ///
    /// [`Error::SessionNotReady`].
    pub fn async_session(&self) -> Result<Session, Error> {
        self.session().map(|(_, s)| s)
    }

    /// Calls a procedure and decodes the result into `R` (see [`Session::call`]).
    ///
    /// # Errors
    ///
    /// [`Error`].
    pub fn call<R: DeserializeOwned>(
        &self,
        procedure: &str,
        args: impl Serialize,
        kwargs: impl Serialize,
    ) -> Result<R, Error> {
        let (rt, session) = self.session()?;
        Ok(rt.block_on(session.call(procedure, args, kwargs))?)
    }

    /// Calls a procedure with options; returns the raw result.
    ///
    /// # Errors
    ///
    /// [`Error`].
    pub fn call_with(
        &self,
        procedure: &str,
        args: impl Serialize,
        kwargs: impl Serialize,
        options: CallOptions,
    ) -> Result<CallResult, Error> {
        let (rt, session) = self.session()?;
        Ok(rt.block_on(session.call_with(procedure, args, kwargs, options))?)
    }

    /// Publishes an event (unacknowledged).
    ///
    /// # Errors
    ///
    /// [`Error`].
    pub fn publish(
        &self,
        topic: &str,
        args: impl Serialize,
        kwargs: impl Serialize,
    ) -> Result<(), Error> {
        self.publish_with(topic, args, kwargs, PublishOptions::default())
            .map(drop)
    }

    /// Publishes an event with options; returns the publication id when acknowledged.
    ///
    /// # Errors
    ///
    /// [`Error`].
    pub fn publish_with(
        &self,
        topic: &str,
        args: impl Serialize,
        kwargs: impl Serialize,
        options: PublishOptions,
    ) -> Result<Option<Id>, Error> {
        let (rt, session) = self.session()?;
        Ok(rt.block_on(session.publish(topic, args, kwargs, options))?)
    }

    /// Leaves the session and stops reconnecting. The client can [`run`](Self::run) again.
    ///
    /// # Errors
    ///
    /// [`Error::NotRunning`]; the component's error if it had stopped by itself.
    pub fn stop(&self) -> Result<(), Error> {
        let rt = self.inner.handle()?;
        let component = lock(&self.inner.component)
            .take()
            .ok_or(Error::NotRunning)?;
        rt.block_on(stop_component(component))
    }
}
