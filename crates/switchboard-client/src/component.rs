//! A long-running client in the manner of Autobahn's `Component`: declared registrations and
//! subscriptions, lifecycle callbacks, and automatic reconnection with backoff that declares
//! everything again on each new session.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};

use rand::RngExt as _;
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};
use tokio_util::sync::CancellationToken;

use crate::error::{ConnectError, RegisterError, SubscribeError};
use crate::options::{ConnectOptions, ReconnectPolicy, RegisterOptions, SubscribeOptions};
use crate::pubsub::{Event, EventHandlerFn, event_handler_fn};
use crate::rpc::{HandlerFn, HandlerResult, Invocation, handler_fn};
use crate::session::{CloseInfo, CloseKind, Session};

/// Why a [`Component`] stopped on its own.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ComponentError {
    /// A connection attempt failed in a way retrying cannot fix (ABORT, authentication,
    /// invalid options), or it was the first attempt of a
    /// [`fail_fast`](Component::fail_fast) component.
    #[error(transparent)]
    Connect(ConnectError),
    /// The reconnect policy's attempts ran out.
    #[error("gave up after {attempts} failed connection attempts: {last}")]
    GaveUp {
        /// Consecutive failed attempts.
        attempts: u32,
        /// The last attempt's error.
        last: ConnectError,
    },
    /// A declared registration was refused.
    #[error("declared registration {procedure} failed: {source}")]
    Register {
        /// The procedure.
        procedure: String,
        /// Why.
        source: RegisterError,
    },
    /// A declared subscription was refused.
    #[error("declared subscription {topic} failed: {source}")]
    Subscribe {
        /// The topic.
        topic: String,
        /// Why.
        source: SubscribeError,
    },
}

type JoinFn = Arc<dyn Fn(Session) -> Pin<Box<dyn Future<Output = ()> + Send>> + Send + Sync>;
type LeaveFn = Arc<dyn Fn(&CloseInfo) + Send + Sync>;
type DisconnectFn = Arc<dyn Fn() + Send + Sync>;
type ConnectFailureFn = Arc<dyn Fn(&ConnectError) + Send + Sync>;

/// A registration or subscription declared up front, made again on every session.
#[derive(Clone)]
enum Decl {
    Register {
        procedure: String,
        options: RegisterOptions,
        handler: HandlerFn,
    },
    Subscribe {
        topic: String,
        options: SubscribeOptions,
        handler: EventHandlerFn,
    },
}

impl std::fmt::Debug for Decl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Decl::Register { procedure, .. } => write!(f, "Register({procedure})"),
            Decl::Subscribe { topic, .. } => write!(f, "Subscribe({topic})"),
        }
    }
}

type Decls = Arc<Mutex<Vec<Decl>>>;

fn push(decls: &Decls, decl: Decl) {
    decls
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push(decl);
}

fn snapshot(decls: &Decls) -> Vec<Decl> {
    decls.lock().unwrap_or_else(PoisonError::into_inner).clone()
}

/// A client that keeps a session up: it connects, makes its declared registrations and
/// subscriptions, calls `on_join`, and when the session ends for any reason other than
/// leaving it, reconnects with exponential backoff and does it all again.
///
/// ```
/// use switchboard_client::{CallOutput, Component, ConnectOptions, ReconnectPolicy};
/// # use switchboard_router::{config::Config, server::Server};
///
/// # #[tokio::main] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let config = Config::from_toml_str(
/// #     "[[listen]]\nbind = \"127.0.0.1:0\"\n[[realm]]\nname = \"realm1\"\n")?;
/// # let server = Server::bind(&config).await?;
/// # let url = format!("ws://{}/ws", server.local_addrs()[0]);
/// # tokio::spawn(server.run_until(std::future::pending()));
/// let handle = Component::new(ConnectOptions::new(&url, "realm1"))
///     .reconnect(ReconnectPolicy::default())
///     .register("com.myapp.add2", |inv| async move {
///         let (a, b): (i64, i64) = inv.args_as()?;
///         Ok(CallOutput::value(a + b))
///     })
///     .on_join(|session| async move {
///         println!("joined as session {}", session.id());
///     })
///     .on_leave(|info| println!("left: {}", info.reason))
///     .start();
/// let session = handle.joined().await?;
/// let sum: i64 = session.call("com.myapp.add2", (2, 3), ()).await?;
/// assert_eq!(sum, 5);
/// handle.stop().await?;
/// # Ok(()) }
/// ```
///
/// Lifecycle, per session: connect (and authenticate) → declarations → `on_join` callbacks
/// (each in its own task) → … → session ends → `on_join` tasks still running are aborted →
/// `on_leave` → `on_disconnect` → backoff → connect again. A session that this client left
/// itself ([`Session::leave`]) stops the component instead of reconnecting.
pub struct Component {
    options: ConnectOptions,
    reconnect: ReconnectPolicy,
    fail_fast: bool,
    decls: Decls,
    on_join: Vec<JoinFn>,
    on_leave: Vec<LeaveFn>,
    on_disconnect: Vec<DisconnectFn>,
    on_connect_failure: Vec<ConnectFailureFn>,
}

impl std::fmt::Debug for Component {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Component")
            .field("options", &self.options)
            .field("reconnect", &self.reconnect)
            .finish_non_exhaustive()
    }
}

impl Component {
    /// A component connecting with `options`, reconnecting with the default policy.
    pub fn new(options: ConnectOptions) -> Component {
        Component {
            options,
            reconnect: ReconnectPolicy::default(),
            fail_fast: false,
            decls: Arc::new(Mutex::new(Vec::new())),
            on_join: Vec::new(),
            on_leave: Vec::new(),
            on_disconnect: Vec::new(),
            on_connect_failure: Vec::new(),
        }
    }

    /// Sets the reconnect policy.
    pub fn reconnect(mut self, policy: ReconnectPolicy) -> Component {
        self.reconnect = policy;
        self
    }

    /// When `true`, a failure of the very first connection attempt stops the component with
    /// that error instead of retrying (reconnection after a session ends is unaffected).
    pub fn fail_fast(mut self, fail_fast: bool) -> Component {
        self.fail_fast = fail_fast;
        self
    }

    /// Declares a procedure (see [`Session::register`]).
    pub fn register<F, Fut>(self, procedure: &str, handler: F) -> Component
    where
        F: Fn(Invocation) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = HandlerResult> + Send + 'static,
    {
        self.register_with(procedure, RegisterOptions::default(), handler)
    }

    /// Declares a procedure with options.
    pub fn register_with<F, Fut>(
        self,
        procedure: &str,
        options: RegisterOptions,
        handler: F,
    ) -> Component
    where
        F: Fn(Invocation) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = HandlerResult> + Send + 'static,
    {
        push(
            &self.decls,
            Decl::Register {
                procedure: procedure.to_owned(),
                options,
                handler: handler_fn(handler),
            },
        );
        self
    }

    pub(crate) fn register_boxed(
        self,
        procedure: &str,
        options: RegisterOptions,
        handler: HandlerFn,
    ) -> Component {
        push(
            &self.decls,
            Decl::Register {
                procedure: procedure.to_owned(),
                options,
                handler,
            },
        );
        self
    }

    /// Declares a subscription (see [`Session::subscribe`]).
    pub fn subscribe<F, Fut>(self, topic: &str, handler: F) -> Component
    where
        F: Fn(Event) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.subscribe_with(topic, SubscribeOptions::default(), handler)
    }

    /// Declares a subscription with options.
    pub fn subscribe_with<F, Fut>(
        self,
        topic: &str,
        options: SubscribeOptions,
        handler: F,
    ) -> Component
    where
        F: Fn(Event) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        push(
            &self.decls,
            Decl::Subscribe {
                topic: topic.to_owned(),
                options,
                handler: event_handler_fn(handler),
            },
        );
        self
    }

    pub(crate) fn subscribe_boxed(
        self,
        topic: &str,
        options: SubscribeOptions,
        handler: EventHandlerFn,
    ) -> Component {
        push(
            &self.decls,
            Decl::Subscribe {
                topic: topic.to_owned(),
                options,
                handler,
            },
        );
        self
    }

    /// Runs `f` (in its own task) each time a session is established and its declarations
    /// are made. The task is aborted when that session ends.
    pub fn on_join<F, Fut>(mut self, f: F) -> Component
    where
        F: Fn(Session) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.on_join.push(Arc::new(move |s| Box::pin(f(s))));
        self
    }

    /// Calls `f` each time a session ends, with how it ended.
    pub fn on_leave(mut self, f: impl Fn(&CloseInfo) + Send + Sync + 'static) -> Component {
        self.on_leave.push(Arc::new(f));
        self
    }

    /// Calls `f` each time the connection of an established session is gone (after
    /// `on_leave`), before reconnecting.
    pub fn on_disconnect(mut self, f: impl Fn() + Send + Sync + 'static) -> Component {
        self.on_disconnect.push(Arc::new(f));
        self
    }

    /// Calls `f` each time a connection attempt fails.
    pub fn on_connect_failure(
        mut self,
        f: impl Fn(&ConnectError) + Send + Sync + 'static,
    ) -> Component {
        self.on_connect_failure.push(Arc::new(f));
        self
    }

    /// Starts the component in a task and returns its handle. Dropping the handle detaches
    /// the component: it keeps running until its session is left or it gives up.
    pub fn start(self) -> ComponentHandle {
        let stop = CancellationToken::new();
        let (state_tx, state_rx) = watch::channel(State::Connecting);
        let decls = Arc::clone(&self.decls);
        let task = tokio::spawn(self.run_loop(stop.clone(), state_tx));
        ComponentHandle {
            state: state_rx,
            stop,
            decls,
            task,
        }
    }

    /// Runs the component in the current task until it stops.
    ///
    /// # Errors
    ///
    /// [`ComponentError`] when it stopped for a reason other than leaving.
    pub async fn run(self) -> Result<(), ComponentError> {
        let (state_tx, _state_rx) = watch::channel(State::Connecting);
        self.run_loop(CancellationToken::new(), state_tx).await
    }

    async fn run_loop(
        self,
        stop: CancellationToken,
        state: watch::Sender<State>,
    ) -> Result<(), ComponentError> {
        let result = self.run_sessions(&stop, &state).await;
        state.send_replace(State::Stopped(
            result.as_ref().err().map(ToString::to_string),
        ));
        result
    }

    async fn run_sessions(
        &self,
        stop: &CancellationToken,
        state: &watch::Sender<State>,
    ) -> Result<(), ComponentError> {
        let mut failures: u32 = 0;
        let mut ever_joined = false;
        loop {
            let connected = tokio::select! {
                r = Session::connect(self.options.clone()) => r,
                () = stop.cancelled() => return Ok(()),
            };
            let session = match connected {
                Ok(session) => session,
                Err(e) => {
                    tracing::debug!("connection attempt failed: {e}");
                    for f in &self.on_connect_failure {
                        f(&e);
                    }
                    if !e.is_retryable() || (self.fail_fast && !ever_joined) {
                        return Err(ComponentError::Connect(e));
                    }
                    if self
                        .reconnect
                        .max_attempts
                        .is_some_and(|max| failures >= max)
                    {
                        return Err(ComponentError::GaveUp {
                            attempts: failures + 1,
                            last: e,
                        });
                    }
                    let delay = self
                        .reconnect
                        .delay(failures, rand::rng().random_range(0.0..1.0));
                    failures = failures.saturating_add(1);
                    tokio::select! {
                        () = tokio::time::sleep(delay) => continue,
                        () = stop.cancelled() => return Ok(()),
                    }
                }
            };
            failures = 0;
            match declare(&session, &snapshot(&self.decls)).await {
                Ok(()) => {}
                Err(e) if e.is_session_gone() => {
                    tracing::debug!("session lost while declaring: {e}");
                    continue;
                }
                Err(e) => {
                    let _ = session.leave().await;
                    return Err(e);
                }
            }
            ever_joined = true;
            state.send_replace(State::Joined(session.clone()));
            let mut joins = JoinSet::new();
            for f in &self.on_join {
                joins.spawn(f(session.clone()));
            }
            let info = tokio::select! {
                info = session.closed() => info,
                () = stop.cancelled() => {
                    let _ = session.leave().await;
                    session.closed().await
                }
            };
            joins.abort_all();
            state.send_replace(State::Connecting);
            for f in &self.on_leave {
                f(&info);
            }
            for f in &self.on_disconnect {
                f();
            }
            if info.kind == CloseKind::Left || stop.is_cancelled() {
                return Ok(());
            }
            if self.reconnect.max_attempts == Some(0) {
                return Ok(());
            }
            let delay = self.reconnect.delay(0, rand::rng().random_range(0.0..1.0));
            tokio::select! {
                () = tokio::time::sleep(delay) => {}
                () = stop.cancelled() => return Ok(()),
            }
        }
    }
}

impl ComponentError {
    fn is_session_gone(&self) -> bool {
        match self {
            ComponentError::Register { source, .. } => matches!(
                source,
                RegisterError::SessionClosed
                    | RegisterError::TransportLost
                    | RegisterError::ProtocolViolation(_)
            ),
            ComponentError::Subscribe { source, .. } => matches!(
                source,
                SubscribeError::SessionClosed
                    | SubscribeError::TransportLost
                    | SubscribeError::ProtocolViolation(_)
            ),
            _ => false,
        }
    }
}

async fn declare(session: &Session, decls: &[Decl]) -> Result<(), ComponentError> {
    for decl in decls {
        declare_one(session, decl).await?;
    }
    Ok(())
}

async fn declare_one(session: &Session, decl: &Decl) -> Result<(), ComponentError> {
    match decl {
        Decl::Register {
            procedure,
            options,
            handler,
        } => {
            let handler = Arc::clone(handler);
            session
                .register_with(procedure, options.clone(), move |inv| handler(inv))
                .await
                .map(drop)
                .map_err(|source| ComponentError::Register {
                    procedure: procedure.clone(),
                    source,
                })
        }
        Decl::Subscribe {
            topic,
            options,
            handler,
        } => {
            let handler = Arc::clone(handler);
            session
                .subscribe_with(topic, options.clone(), move |ev| handler(ev))
                .await
                .map(drop)
                .map_err(|source| ComponentError::Subscribe {
                    topic: topic.clone(),
                    source,
                })
        }
    }
}

/// Where a component is.
#[derive(Clone, Debug)]
enum State {
    Connecting,
    Joined(Session),
    Stopped(Option<String>),
}

/// Why [`ComponentHandle::joined`] has no session to give.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the component stopped{}", .0.as_deref().map(|e| format!(": {e}")).unwrap_or_default())]
pub struct ComponentStopped(pub Option<String>);

/// A running [`Component`].
#[derive(Debug)]
pub struct ComponentHandle {
    state: watch::Receiver<State>,
    stop: CancellationToken,
    decls: Decls,
    task: JoinHandle<Result<(), ComponentError>>,
}

impl ComponentHandle {
    /// The current session, if one is established.
    pub fn session(&self) -> Option<Session> {
        match &*self.state.borrow() {
            State::Joined(s) if !s.is_closed() => Some(s.clone()),
            _ => None,
        }
    }

    /// Waits until a session is established (and its declarations made) and returns it.
    ///
    /// # Errors
    ///
    /// [`ComponentStopped`] when the component stopped instead.
    pub async fn joined(&self) -> Result<Session, ComponentStopped> {
        let mut rx = self.state.clone();
        loop {
            let current = rx.borrow_and_update().clone();
            match current {
                State::Joined(s) if !s.is_closed() => return Ok(s),
                State::Stopped(e) => return Err(ComponentStopped(e)),
                _ => {}
            }
            if rx.changed().await.is_err() {
                return Err(ComponentStopped(None));
            }
        }
    }

    /// Whether the component has stopped.
    pub fn is_stopped(&self) -> bool {
        self.task.is_finished()
    }

    /// Adds a procedure to the declarations (made again on every new session) and registers
    /// it on the current session, if there is one.
    ///
    /// # Errors
    ///
    /// The current session's [`RegisterError`].
    pub async fn register_with<F, Fut>(
        &self,
        procedure: &str,
        options: RegisterOptions,
        handler: F,
    ) -> Result<(), RegisterError>
    where
        F: Fn(Invocation) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = HandlerResult> + Send + 'static,
    {
        let decl = Decl::Register {
            procedure: procedure.to_owned(),
            options,
            handler: handler_fn(handler),
        };
        self.add(decl).await.map_err(|e| match e {
            ComponentError::Register { source, .. } => source,
            _ => RegisterError::SessionClosed,
        })
    }

    /// Adds a subscription to the declarations and subscribes on the current session, if
    /// there is one.
    ///
    /// # Errors
    ///
    /// The current session's [`SubscribeError`].
    pub async fn subscribe_with<F, Fut>(
        &self,
        topic: &str,
        options: SubscribeOptions,
        handler: F,
    ) -> Result<(), SubscribeError>
    where
        F: Fn(Event) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let decl = Decl::Subscribe {
            topic: topic.to_owned(),
            options,
            handler: event_handler_fn(handler),
        };
        self.add(decl).await.map_err(|e| match e {
            ComponentError::Subscribe { source, .. } => source,
            _ => SubscribeError::SessionClosed,
        })
    }

    async fn add(&self, decl: Decl) -> Result<(), ComponentError> {
        push(&self.decls, decl.clone());
        match self.session() {
            Some(session) => declare_one(&session, &decl).await,
            None => Ok(()),
        }
    }

    /// Asks the component to leave its session and stop, without waiting.
    pub fn request_stop(&self) {
        self.stop.cancel();
    }

    /// Waits until the component has stopped (after [`request_stop`](Self::request_stop), or
    /// by itself); returns its error message, if it stopped with one.
    pub async fn stopped(&self) -> Option<String> {
        let mut rx = self.state.clone();
        loop {
            if let State::Stopped(e) = &*rx.borrow_and_update() {
                return e.clone();
            }
            if rx.changed().await.is_err() {
                return None;
            }
        }
    }

    /// Leaves the current session, stops reconnecting and waits for the component to end.
    ///
    /// # Errors
    ///
    /// The [`ComponentError`] it had stopped with, if it had stopped by itself.
    pub async fn stop(self) -> Result<(), ComponentError> {
        self.stop.cancel();
        self.wait().await
    }

    /// Waits until the component stops by itself (its session was left, or it gave up).
    ///
    /// # Errors
    ///
    /// [`ComponentError`].
    pub async fn wait(self) -> Result<(), ComponentError> {
        match self.task.await {
            Ok(r) => r,
            // The task panicked (a callback panicked) or was aborted: report it as stopped.
            Err(e) => {
                tracing::warn!("component task ended abnormally: {e}");
                Ok(())
            }
        }
    }
}
