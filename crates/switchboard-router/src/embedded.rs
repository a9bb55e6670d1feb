//! Procedures served inside the router — what other WebSocket RPC servers call "routes".
//!
//! A program that embeds the router opens in-process sessions with
//! [`ServerHandle::session`]: a full [`switchboard_client::Session`] whose messages never leave
//! the process. With it the program registers procedures the router serves (a handler
//! function, or with [`register_per_session`] an object keeping state per calling session and
//! told when that session leaves), calls procedures that clients registered (server-to-client
//! calls), publishes and subscribes.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use switchboard_client::{CallOutput, Invocation};
//! use switchboard_router::{config::Config, server::Server};
//!
//! let server = Server::bind(&Config::dev_default()).await?;
//! let session = server.handle().session("realm1").await?;
//! session
//!     .register("com.example.add", |inv: Invocation| async move {
//!         let (a, b): (i64, i64) = inv.args_as()?;
//!         Ok(CallOutput::value(a + b))
//!     })
//!     .await?;
//! server.run_until(std::future::pending()).await;
//! # Ok(())
//! # }
//! ```

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use switchboard_client::{
    ConnectOptions, Event, HandlerResult, Id, Invocation, RegisterError, RegisterOptions,
    Registration, Session, SubscribeError, Subscription,
};
use switchboard_proto::Format;

use crate::server::{LocalConnectError, ServerHandle};

/// Why an in-process session could not be opened or a procedure not be registered.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EmbeddedError {
    /// The in-memory connection failed.
    #[error(transparent)]
    Connect(#[from] LocalConnectError),
    /// The router refused the session.
    #[error("the router refused the in-process session: {0}")]
    Join(#[from] switchboard_client::ConnectError),
    /// Registering failed.
    #[error(transparent)]
    Register(#[from] RegisterError),
    /// Subscribing to session departures failed.
    #[error(transparent)]
    Subscribe(#[from] SubscribeError),
}

impl ServerHandle {
    /// An in-process session joined to `realm` (anonymously; see [`ServerHandle::session_with`]).
    ///
    /// # Errors
    ///
    /// [`EmbeddedError`] when the router refuses the session.
    pub async fn session(&self, realm: &str) -> Result<Session, EmbeddedError> {
        let options = ConnectOptions {
            realm: realm.to_owned(),
            ..ConnectOptions::default()
        };
        self.session_with(options).await
    }

    /// An in-process session with these options (realm, authentication); the URL is unused.
    ///
    /// # Errors
    ///
    /// [`EmbeddedError`] when the router refuses the session.
    pub async fn session_with(
        &self,
        mut options: ConnectOptions,
    ) -> Result<Session, EmbeddedError> {
        options.serializer = Format::MessagePack;
        let conn = self.local_connection(Format::MessagePack).await?;
        Ok(Session::join(conn, options).await?)
    }
}

impl ServerHandle {
    /// A trusted in-process session joined to `realm`: it bypasses authentication and
    /// authorization (authrole, authmethod and authid `trusted`, authprovider `router`), so
    /// it may join a locked realm and register, call, publish and subscribe anything there
    /// (`wamp.` stays reserved). It is what the router uses to call a dynamic authenticator,
    /// and what a program embedding the router uses to serve one on a locked realm.
    ///
    /// Trust belongs to the process: such sessions only exist through this method; no
    /// network peer can become one.
    ///
    /// # Errors
    ///
    /// [`EmbeddedError`] when the router refuses the session (e.g. no such realm).
    pub async fn trusted_session(&self, realm: &str) -> Result<Session, EmbeddedError> {
        let options = ConnectOptions {
            realm: realm.to_owned(),
            serializer: Format::MessagePack,
            ..ConnectOptions::default()
        };
        let conn = self.local_connection_as(Format::MessagePack, true).await?;
        Ok(Session::join(conn, options).await?)
    }
}

/// A procedure that keeps state for each calling session and is told when one leaves.
pub trait PerSessionProcedure: Send + Sync + 'static {
    /// What is kept per session; created by `Default` on the session's first call.
    type State: Default + Send + 'static;

    /// Answers one call from session `caller`.
    fn call(&self, caller: Id, state: &mut Self::State, invocation: &Invocation) -> HandlerResult;

    /// Session `session` left; its state is handed back for the last time.
    fn session_left(&self, _session: Id, _state: Self::State) {}
}

/// What [`register_per_session`] set up; dropping it does not unregister (the session's
/// lifetime decides).
#[derive(Debug)]
pub struct PerSessionRegistration {
    /// The procedure's registration.
    pub registration: Registration,
    /// The subscription to `wamp.session.on_leave` that ends session state.
    pub departures: Subscription,
}

/// Registers `uri` on `session`, calling `procedure` with per-caller state. The registration
/// asks for caller disclosure; states end when `wamp.session.on_leave` reports the caller gone.
///
/// # Errors
///
/// [`EmbeddedError`] when subscribing or registering fails.
pub async fn register_per_session<P: PerSessionProcedure>(
    session: &Session,
    uri: &str,
    procedure: P,
) -> Result<PerSessionRegistration, EmbeddedError> {
    let procedure = Arc::new(procedure);
    let states: Arc<Mutex<HashMap<Id, P::State>>> = Arc::default();
    // Subscribe first, so no departure can slip between the two.
    let (p, s) = (Arc::clone(&procedure), Arc::clone(&states));
    let departures = session
        .subscribe("wamp.session.on_leave", move |event: Event| {
            if let Some(left) = event.arg::<u64>(0).ok().and_then(Id::new) {
                let state = s
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .remove(&left);
                if let Some(state) = state {
                    p.session_left(left, state);
                }
            }
            std::future::ready(())
        })
        .await?;
    let registration = session
        .register_with(
            uri,
            RegisterOptions::new().disclose_caller(true),
            move |inv: Invocation| {
                let result = match inv.caller() {
                    Some(caller) => {
                        let mut states = states.lock().unwrap_or_else(PoisonError::into_inner);
                        procedure.call(caller, states.entry(caller).or_default(), &inv)
                    }
                    None => Err(switchboard_client::ApplicationError::runtime_error(
                        "the router did not disclose the caller",
                    )),
                };
                std::future::ready(result)
            },
        )
        .await?;
    Ok(PerSessionRegistration {
        registration,
        departures,
    })
}
