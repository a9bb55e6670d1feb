//! The running router: listeners, one task per connection, bounded outbound queues drained by
//! a batching writer, graceful shutdown.
//!
//! Each connection has a reader loop that feeds the engine's
//! [`Session`](switchboard_engine::Session) and a writer task that takes everything queued (up
//! to a batch) and writes it with one flush (ARCHITECTURE.md, decision 6). The queue between
//! them is bounded in messages and in bytes; the engine is told when it is full and applies the
//! slow-consumer policy (decision 5).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use switchboard_engine::auth::{DeferredCall, DeferredError, DeferredReply};
use switchboard_engine::{
    BrokerLimits, EngineConfig, Flow, KillReason, Outbox, Overflow, RealmSettings, Router,
    SessionLimits, SlowConsumerPolicy,
};
use switchboard_proto::message::{Goodbye, Message};
use switchboard_proto::names::CloseReason;
use switchboard_proto::options::CloseDetails;
use switchboard_proto::{Dict, Value};
use switchboard_proto::{Format, encode};
use switchboard_transport::tls::{TlsConfigError, TlsServer};
use switchboard_transport::{AcceptConfig, Connection, FrameWriter};
use tokio::net::{TcpListener, UnixListener};
use tokio::sync::{Notify, mpsc};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::config::{Config, Ping, SlowConsumer, TlsFiles};

/// How many queued frames the writer takes per write.
const WRITE_BATCH: usize = 256;

/// How often call timeouts are checked: the resolution of dealer timeouts.
const TIMEOUT_TICK: Duration = Duration::from_millis(10);

/// How long shutdown waits for sessions to close after GOODBYE.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(3);

/// Errors starting the router.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServerError {
    /// A listener could not bind.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The configured address.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// A Unix socket listener could not bind.
    #[error("cannot listen on Unix socket {}: {source}", path.display())]
    BindUnix {
        /// The configured path.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A listener's TLS certificate or key could not be loaded.
    #[error("{key}: {source}")]
    Tls {
        /// The config key of the listener's TLS table, e.g. `listen[0].tls`.
        key: String,
        /// Why.
        source: TlsConfigError,
    },
}

/// A bound socket: TCP or Unix.
#[derive(Debug)]
enum Listener {
    Tcp(TcpListener),
    /// The listener and its path (removed when the listener stops).
    Unix(UnixListener, PathBuf),
}

/// One bound listener and how it serves connections.
#[derive(Debug)]
struct Bound {
    listener: Listener,
    accept: Arc<AcceptConfig>,
    tls: Option<TlsServer>,
}

fn load_tls(files: Option<&TlsFiles>, key: String) -> Result<Option<TlsServer>, ServerError> {
    let Some(files) = files else {
        return Ok(None);
    };
    let config = switchboard_transport::tls::server_config(&files.cert_chain, &files.key)
        .map_err(|source| ServerError::Tls { key, source })?;
    Ok(Some(TlsServer::new(config)))
}

/// Binds a Unix socket at `path`, replacing a stale socket file left by an earlier run (but
/// never a file that is not a socket).
fn bind_unix(path: &std::path::Path) -> Result<UnixListener, ServerError> {
    let err = |source| ServerError::BindUnix {
        path: path.to_owned(),
        source,
    };
    #[cfg(unix)]
    if let Ok(meta) = std::fs::symlink_metadata(path) {
        use std::os::unix::fs::FileTypeExt as _;
        if meta.file_type().is_socket() {
            // Refuse to steal a socket another process still serves.
            if std::os::unix::net::UnixStream::connect(path).is_ok() {
                return Err(err(std::io::Error::new(
                    std::io::ErrorKind::AddrInUse,
                    "another process is listening on this socket",
                )));
            }
            std::fs::remove_file(path).map_err(err)?;
        }
    }
    UnixListener::bind(path).map_err(err)
}

/// A router bound to its listeners, not yet serving.
#[derive(Debug)]
pub struct Server {
    router: Arc<Router>,
    listeners: Vec<Bound>,
    local_addrs: Vec<SocketAddr>,
    limits: Arc<ConnLimits>,
    auth_callers: Arc<AuthCallers>,
}

/// The trusted in-process sessions through which the router calls dynamic authenticators: one
/// per realm the procedures are registered on, opened on first use (and again if closed).
#[derive(Debug, Default)]
struct AuthCallers(tokio::sync::Mutex<HashMap<String, switchboard_client::Session>>);

/// Per-connection limits taken from the config.
#[derive(Debug)]
struct ConnLimits {
    max_message_size: usize,
    max_connections: usize,
    handshake_timeout: Duration,
    queue_messages: usize,
    queue_bytes: usize,
    idle_timeout: Option<Duration>,
    ping: Option<Ping>,
    open: AtomicUsize,
}

/// The engine settings for a config.
pub fn engine_config(config: &Config) -> EngineConfig {
    EngineConfig {
        realms: config.realms.iter().map(|r| r.name.to_string()).collect(),
        realm_settings: config
            .realms
            .iter()
            .map(|r| {
                let settings = RealmSettings {
                    call_timeout_default: r.call_timeout_default,
                    call_timeout_max: r.call_timeout_max,
                    broker: BrokerLimits {
                        max_retained: r.max_retained_events,
                        history: r.history.clone(),
                    },
                };
                (r.name.to_string(), settings)
            })
            .collect(),
        auto_realms: config.router.auto_realms,
        slow_consumer: match config.limits.slow_consumer {
            SlowConsumer::Close => SlowConsumerPolicy::Close,
            SlowConsumer::Drop => SlowConsumerPolicy::Drop,
        },
        default_realm_settings: RealmSettings {
            broker: BrokerLimits {
                max_retained: crate::config::DEFAULT_MAX_RETAINED,
                history: Vec::new(),
            },
            ..RealmSettings::default()
        },
        security: config
            .realms
            .iter()
            .map(|r| {
                let security = crate::security::realm_security(
                    r.auth.as_ref(),
                    &r.roles,
                    r.authorizer.as_ref(),
                );
                (r.name.to_string(), security)
            })
            .collect(),
        session_limits: SessionLimits {
            max_sessions_per_authid: config.limits.max_sessions_per_authid.map(|n| n.get()),
            max_registrations: Some(config.limits.max_registrations_per_session.get()),
            max_subscriptions: Some(config.limits.max_subscriptions_per_session.get()),
            max_pending_calls: Some(config.limits.max_pending_calls_per_session.get()),
        },
        max_queued_calls: config.limits.max_queued_calls_per_registration.get(),
        ..EngineConfig::default()
    }
}

impl Server {
    /// Binds every configured listener.
    pub async fn bind(config: &Config) -> Result<Server, ServerError> {
        let limits = &config.limits;
        let mut listeners = Vec::new();
        let mut local_addrs = Vec::new();
        for (i, l) in config.listen.iter().enumerate() {
            let tls = load_tls(l.tls.as_ref(), format!("listen[{i}].tls"))?;
            let listener = TcpListener::bind(l.bind)
                .await
                .map_err(|source| ServerError::Bind {
                    addr: l.bind,
                    source,
                })?;
            let addr = listener.local_addr().map_err(|source| ServerError::Bind {
                addr: l.bind,
                source,
            })?;
            local_addrs.push(addr);
            let accept = AcceptConfig {
                ws_path: l.ws_path.clone(),
                formats: l.serializers.clone(),
                max_message_size: l.max_message_size.unwrap_or(limits.max_message_size).get(),
                max_connections_reached: false,
            };
            listeners.push(Bound {
                listener: Listener::Tcp(listener),
                accept: Arc::new(accept),
                tls,
            });
        }
        for (i, l) in config.unix_listen.iter().enumerate() {
            let tls = load_tls(l.tls.as_ref(), format!("unix listener {i} tls"))?;
            let listener = bind_unix(&l.path)?;
            let accept = AcceptConfig {
                ws_path: l.ws_path.clone(),
                formats: l.serializers.clone(),
                max_message_size: l.max_message_size.unwrap_or(limits.max_message_size).get(),
                max_connections_reached: false,
            };
            listeners.push(Bound {
                listener: Listener::Unix(listener, l.path.clone()),
                accept: Arc::new(accept),
                tls,
            });
        }
        Ok(Server {
            router: Router::new(engine_config(config)),
            listeners,
            local_addrs,
            limits: Arc::new(ConnLimits {
                max_message_size: limits.max_message_size.get(),
                max_connections: limits.max_sessions.get(),
                handshake_timeout: limits.handshake_timeout,
                queue_messages: limits.outbound_queue_messages.get(),
                queue_bytes: limits.outbound_queue_bytes.get(),
                idle_timeout: limits.idle_timeout,
                ping: limits.ping,
                open: AtomicUsize::new(0),
            }),
            auth_callers: Arc::default(),
        })
    }

    /// The addresses actually bound (port 0 resolved), in config order.
    pub fn local_addrs(&self) -> &[SocketAddr] {
        &self.local_addrs
    }

    /// The engine.
    pub fn router(&self) -> &Arc<Router> {
        &self.router
    }

    /// A cloneable handle for opening in-process sessions while the server runs.
    pub fn handle(&self) -> ServerHandle {
        ServerHandle {
            router: Arc::clone(&self.router),
            limits: Arc::clone(&self.limits),
            auth_callers: Arc::clone(&self.auth_callers),
        }
    }

    /// Serves until `shutdown` completes; then says GOODBYE to every session and waits (a
    /// little) for the connections to close.
    pub async fn run_until(self, shutdown: impl std::future::Future<Output = ()>) {
        let stop = CancellationToken::new();
        let mut tasks = JoinSet::new();
        let handle = self.handle();
        for bound in self.listeners {
            tasks.spawn(accept_loop(bound, handle.clone(), stop.clone()));
        }
        tasks.spawn(expire_timeouts(Arc::clone(&self.router), stop.clone()));
        shutdown.await;
        tracing::info!("shutting down: telling every session goodbye");
        self.router.shutdown();
        stop.cancel();
        let _ = tokio::time::timeout(SHUTDOWN_GRACE, async {
            while tasks.join_next().await.is_some() {}
        })
        .await;
    }
}

/// Fires dealer call timeouts as they fall due.
async fn expire_timeouts(router: Arc<Router>, stop: CancellationToken) {
    let mut tick = tokio::time::interval(TIMEOUT_TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tick.tick() => {
                if router.next_deadline().is_some() {
                    router.expire_timeouts();
                }
            }
        }
    }
}

/// An accepted stream, plain or (after the TLS handshake) encrypted.
trait Stream: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static {}

impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static> Stream for T {}

async fn accept_loop(bound: Bound, handle: ServerHandle, stop: CancellationToken) {
    let limits = Arc::clone(&handle.limits);
    let Bound {
        listener,
        accept,
        tls,
    } = bound;
    let mut connections = JoinSet::new();
    loop {
        let accepted: std::io::Result<(Box<dyn Stream>, Option<SocketAddr>)> = tokio::select! {
            _ = stop.cancelled() => break,
            Some(_) = connections.join_next(), if !connections.is_empty() => continue,
            r = async {
                match &listener {
                    Listener::Tcp(l) => l.accept().await.map(|(s, peer)| {
                        // Writes are batched already: Nagle would only add latency.
                        let _ = s.set_nodelay(true);
                        (Box::new(s) as Box<dyn Stream>, Some(peer))
                    }),
                    Listener::Unix(l, _) => l
                        .accept()
                        .await
                        .map(|(s, _)| (Box::new(s) as Box<dyn Stream>, None)),
                }
            } => r,
        };
        let (stream, peer) = match accepted {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!("accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let full = limits.open.load(Ordering::Relaxed) >= limits.max_connections;
        let accept = if full {
            tracing::warn!(
                ?peer,
                "connection limit ({}) reached: refusing",
                limits.max_connections
            );
            Arc::new(AcceptConfig {
                max_connections_reached: true,
                ..AcceptConfig::clone(&accept)
            })
        } else {
            Arc::clone(&accept)
        };
        let (handle, limits, tls) = (handle.clone(), Arc::clone(&limits), tls.clone());
        connections.spawn(async move {
            let secure = tls.is_some();
            // Boxed, so the handshake's state is freed once it completes instead of sizing
            // this task for the whole life of the connection (memory per idle session).
            let handshake = tokio::time::timeout(
                limits.handshake_timeout,
                Box::pin(async {
                    match &tls {
                        Some(tls) => {
                            switchboard_transport::tls::accept_tls(stream, peer, tls, &accept).await
                        }
                        None => switchboard_transport::accept_stream(stream, peer, &accept).await,
                    }
                }),
            );
            match handshake.await {
                Ok(Ok(conn)) if !full => {
                    limits.open.fetch_add(1, Ordering::Relaxed);
                    serve_connection(conn, &handle, Origin::Network { secure }).await;
                    limits.open.fetch_sub(1, Ordering::Relaxed);
                }
                Ok(Ok(_)) => {}
                Ok(Err(e)) => tracing::debug!(?peer, "not a WAMP connection: {e}"),
                Err(_) => tracing::debug!(?peer, "transport handshake timed out"),
            }
        });
    }
    // Let open connections finish their GOODBYE exchange.
    while connections.join_next().await.is_some() {}
    if let Listener::Unix(_, path) = &listener {
        let _ = std::fs::remove_file(path);
    }
}

/// A handle on a bound router: opens connections that never leave the process.
#[derive(Clone, Debug)]
pub struct ServerHandle {
    router: Arc<Router>,
    limits: Arc<ConnLimits>,
    auth_callers: Arc<AuthCallers>,
}

/// Why an in-process connection could not be opened.
#[derive(Debug, thiserror::Error)]
#[error("cannot open an in-process connection: {0}")]
pub struct LocalConnectError(String);

/// Buffer of the in-memory pipe behind an in-process connection.
const LOCAL_PIPE_BYTES: usize = 1 << 20;

impl ServerHandle {
    /// The engine.
    pub fn router(&self) -> &Arc<Router> {
        &self.router
    }

    /// A RawSocket connection to this router over an in-memory pipe: what embedded
    /// procedures and in-process clients use. The router side is served like any socket
    /// (same queues, limits and slow-consumer policy); the returned client side speaks WAMP
    /// in `format`.
    pub async fn local_connection(&self, format: Format) -> Result<Connection, LocalConnectError> {
        self.local_connection_as(format, false).await
    }

    /// [`ServerHandle::local_connection`]; a `trusted` one bypasses authentication and
    /// authorization ([`switchboard_engine::Session::set_trusted`]).
    pub(crate) async fn local_connection_as(
        &self,
        format: Format,
        trusted: bool,
    ) -> Result<Connection, LocalConnectError> {
        let (router_end, client_end) = tokio::io::duplex(LOCAL_PIPE_BYTES);
        let handle = self.clone();
        let accept = AcceptConfig {
            max_message_size: handle.limits.max_message_size,
            ..AcceptConfig::default()
        };
        tokio::spawn(async move {
            match switchboard_transport::accept_stream(router_end, None, &accept).await {
                Ok(conn) => serve_connection(conn, &handle, Origin::Local { trusted }).await,
                Err(e) => tracing::debug!("in-process connection refused: {e}"),
            }
        });
        switchboard_transport::connect_rawsocket_stream(
            client_end,
            format,
            self.limits.max_message_size,
            None,
        )
        .await
        .map_err(|e| LocalConnectError(e.to_string()))
    }
}

/// A connection's outbound queue as the engine sees it.
#[derive(Debug)]
struct QueueOutbox {
    tx: mpsc::Sender<Bytes>,
    queued_bytes: AtomicUsize,
    max_bytes: usize,
    closing: AtomicBool,
    close: Notify,
    /// Asks the writer to send a keepalive PING.
    ping: Notify,
    kill: CancellationToken,
    killed_for: parking_lot_free::Slot,
}

/// A tiny write-once slot for the kill reason (no lock needed on the hot path).
mod parking_lot_free {
    use std::sync::OnceLock;

    use switchboard_engine::KillReason;

    #[derive(Debug, Default)]
    pub struct Slot(OnceLock<KillReason>);

    impl Slot {
        pub fn set(&self, r: KillReason) {
            let _ = self.0.set(r);
        }
        pub fn get(&self) -> Option<KillReason> {
            self.0.get().copied()
        }
    }
}

impl Outbox for QueueOutbox {
    fn push(&self, frame: Bytes) -> Result<(), Overflow> {
        let len = frame.len();
        let before = self.queued_bytes.fetch_add(len, Ordering::AcqRel);
        if before + len > self.max_bytes && before > 0 {
            self.queued_bytes.fetch_sub(len, Ordering::AcqRel);
            return Err(Overflow);
        }
        if self.tx.try_send(frame).is_err() {
            self.queued_bytes.fetch_sub(len, Ordering::AcqRel);
            return Err(Overflow);
        }
        Ok(())
    }

    fn close(&self) {
        self.closing.store(true, Ordering::Release);
        self.close.notify_one();
    }

    fn kill(&self, reason: KillReason) {
        self.killed_for.set(reason);
        self.kill.cancel();
    }
}

/// The trusted session calling authenticators on `realm`, opened if need be.
async fn auth_caller(
    handle: &ServerHandle,
    realm: &str,
) -> Result<switchboard_client::Session, DeferredError> {
    let mut callers = handle.auth_callers.0.lock().await;
    if let Some(s) = callers.get(realm)
        && !s.is_closed()
    {
        return Ok(s.clone());
    }
    let session = handle
        .trusted_session(realm)
        .await
        .map_err(|e| DeferredError {
            error: "wamp.error.no_such_realm".to_owned(),
            message: format!(
                "the router cannot join realm {realm:?} to call the authenticator: {e}"
            ),
        })?;
    callers.insert(realm.to_owned(), session.clone());
    Ok(session)
}

/// An authenticator call in flight. (Boxed: the call opens in-process connections, which are
/// served by `serve_connection`, which makes such calls.)
type AuthCall =
    std::pin::Pin<Box<dyn Future<Output = Result<DeferredReply, DeferredError>> + Send>>;

/// Makes an authenticator's deferred call, answering by `deadline` (the end of the handshake
/// timeout). Never logs the arguments: they hold the client's credentials.
fn call_authenticator(
    handle: ServerHandle,
    call: DeferredCall,
    deadline: tokio::time::Instant,
) -> AuthCall {
    Box::pin(call_authenticator_inner(
        handle,
        call,
        deadline,
        "no answer within the handshake timeout (limits.handshake_timeout_ms)",
    ))
}

/// How long the dynamic authorizer has to answer before the action is refused with
/// `wamp.error.authorization_failed`.
pub const AUTHORIZER_TIMEOUT: Duration = Duration::from_secs(10);

/// Makes the dynamic authorizer's call for a parked message, answering within
/// [`AUTHORIZER_TIMEOUT`].
fn call_authorizer(handle: ServerHandle, call: DeferredCall) -> AuthCall {
    let deadline = tokio::time::Instant::now() + AUTHORIZER_TIMEOUT;
    Box::pin(call_authenticator_inner(
        handle,
        call,
        deadline,
        "the authorizer gave no answer within 10 s",
    ))
}

async fn call_authenticator_inner(
    handle: ServerHandle,
    call: DeferredCall,
    deadline: tokio::time::Instant,
    late: &'static str,
) -> Result<DeferredReply, DeferredError> {
    use switchboard_client::{CallError, CallOptions};
    let (realm, procedure) = (call.realm.clone(), call.procedure.clone());
    let attempt = async {
        let session = auth_caller(&handle, &realm).await?;
        let pending = session.call_with(
            &call.procedure,
            call.args,
            call.kwargs,
            CallOptions::default(),
        );
        pending.await.map_err(|e| match e {
            CallError::Application(e) | CallError::NotAuthorized(e) => DeferredError {
                message: e
                    .args
                    .first()
                    .and_then(switchboard_proto::Value::as_str)
                    .unwrap_or("denied")
                    .to_owned(),
                error: e.uri,
            },
            CallError::NoSuchProcedure { .. } => DeferredError {
                error: "wamp.error.no_such_procedure".to_owned(),
                message: format!("no procedure {procedure:?} is registered on realm {realm:?}"),
            },
            CallError::Timeout => DeferredError {
                error: "wamp.error.timeout".to_owned(),
                message: "the procedure did not answer in time".to_owned(),
            },
            other => DeferredError {
                error: "wamp.error.runtime_error".to_owned(),
                message: format!("calling {procedure:?} failed: {other}"),
            },
        })
    };
    match tokio::time::timeout_at(deadline, attempt).await {
        Ok(Ok(result)) => Ok(DeferredReply {
            args: result.args,
            kwargs: result.kwargs,
        }),
        Ok(Err(e)) => Err(e),
        Err(_) => Err(DeferredError {
            error: "wamp.error.timeout".to_owned(),
            message: late.to_owned(),
        }),
    }
}

/// Where a connection came from, for the transport details sessions show.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Origin {
    /// An accepted socket; `secure` when it came over TLS.
    Network { secure: bool },
    /// An in-process connection ([`ServerHandle::local_connection`]); a `trusted` one
    /// bypasses authentication and authorization.
    Local { trusted: bool },
}

/// Transport facts the session meta API (`SessionDetails.transport`) and authenticators see.
fn transport_details(conn: &Connection, origin: Origin) -> Dict {
    let mut d = Dict::new();
    d.insert("type".into(), Value::from(conn.kind.to_string()));
    d.insert("protocol".into(), Value::from(conn.format.subprotocol()));
    d.insert(
        "peer".into(),
        Value::from(match conn.peer {
            Some(SocketAddr::V4(a)) => format!("tcp4:{}:{}", a.ip(), a.port()),
            Some(SocketAddr::V6(a)) => format!("tcp6:{}:{}", a.ip(), a.port()),
            None if matches!(origin, Origin::Local { .. }) => "local".to_owned(),
            None => "unix".to_owned(),
        }),
    );
    d.insert(
        "tls".into(),
        Value::Bool(origin == Origin::Network { secure: true }),
    );
    d
}

/// Keepalive bookkeeping of one connection: when the peer last sent a WAMP message (idle
/// timeout) and whether it answered our last PING (ping timeout).
struct Keepalive {
    idle_timeout: Option<Duration>,
    ping: Option<Ping>,
    last_message: tokio::time::Instant,
    frames_seen: u64,
    last_ping: tokio::time::Instant,
    /// When the unanswered PING went out.
    awaiting_pong: Option<tokio::time::Instant>,
}

/// Why [`Keepalive::check`] ends a connection.
enum Expired {
    Idle(Duration),
    Ping(Duration),
}

impl Keepalive {
    fn new(limits: &ConnLimits) -> Keepalive {
        let now = tokio::time::Instant::now();
        Keepalive {
            idle_timeout: limits.idle_timeout,
            ping: limits.ping,
            last_message: now,
            frames_seen: 0,
            last_ping: now,
            awaiting_pong: None,
        }
    }

    /// How often to check; `None` when neither idle timeout nor ping is set.
    fn tick(&self) -> Option<Duration> {
        let mut shortest: Option<Duration> = None;
        for d in [
            self.idle_timeout,
            self.ping.map(|p| p.interval),
            self.ping.map(|p| p.timeout),
        ]
        .into_iter()
        .flatten()
        {
            shortest = Some(shortest.map_or(d, |s| s.min(d)));
        }
        shortest.map(|d| (d / 4).max(Duration::from_millis(5)))
    }

    /// Called on every tick with the reader's frame count: `Err` to end the connection,
    /// `Ok(true)` to send a PING now.
    fn check(&mut self, frames_received: u64) -> Result<bool, Expired> {
        let now = tokio::time::Instant::now();
        if frames_received != self.frames_seen {
            self.frames_seen = frames_received;
            self.awaiting_pong = None;
        }
        if let Some(idle) = self.idle_timeout
            && now.duration_since(self.last_message) >= idle
        {
            return Err(Expired::Idle(idle));
        }
        let Some(ping) = self.ping else {
            return Ok(false);
        };
        if let Some(sent) = self.awaiting_pong {
            if now.duration_since(sent) >= ping.timeout {
                return Err(Expired::Ping(ping.timeout));
            }
            return Ok(false);
        }
        if now.duration_since(self.last_ping) >= ping.interval {
            self.last_ping = now;
            self.awaiting_pong = Some(now);
            return Ok(true);
        }
        Ok(false)
    }
}

/// Runs one WAMP connection to the end.
async fn serve_connection(conn: Connection, handle: &ServerHandle, origin: Origin) {
    let (router, limits) = (Arc::clone(&handle.router), &*handle.limits);
    let details = transport_details(&conn, origin);
    let Connection {
        format,
        peer,
        mut reader,
        writer,
        ..
    } = conn;
    let (tx, rx) = mpsc::channel(limits.queue_messages);
    let outbox = Arc::new(QueueOutbox {
        tx,
        queued_bytes: AtomicUsize::new(0),
        max_bytes: limits.queue_bytes,
        closing: AtomicBool::new(false),
        close: Notify::new(),
        ping: Notify::new(),
        kill: CancellationToken::new(),
        killed_for: Default::default(),
    });
    let ours = reader.max_message_size().min(limits.max_message_size);
    let peer_max = writer.peer_max_message_size().map_or(ours, |m| m.min(ours));
    let mut session = router.connect(outbox.clone(), format, peer_max);
    session.set_transport_details(details);
    if origin == (Origin::Local { trusted: true }) {
        session.set_trusted();
    }
    let mut writer = tokio::spawn(write_loop(writer, rx, Arc::clone(&outbox), format));
    let hello_deadline = tokio::time::sleep(limits.handshake_timeout);
    tokio::pin!(hello_deadline);
    // A dynamic authenticator's call in flight (sessions waiting in the handshake only).
    let mut auth_call: Option<AuthCall> = None;
    // The dynamic authorizer's call for a parked message: no frame is read until it answers.
    let mut authz_call: Option<AuthCall> = None;
    let mut keepalive = Keepalive::new(limits);
    let mut tick = keepalive.tick().map(|every| {
        let mut t = tokio::time::interval(every);
        t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        t
    });
    loop {
        tokio::select! {
            frame = reader.next(), if authz_call.is_none() => match frame {
                Some(Ok(frame)) => {
                    keepalive.last_message = tokio::time::Instant::now();
                    if session.handle_frame(&frame) == Flow::Close {
                        break;
                    }
                    if let Some(call) = session.take_deferred_auth() {
                        let deadline = hello_deadline.deadline();
                        auth_call = Some(call_authenticator(handle.clone(), call, deadline));
                    }
                    if let Some(call) = session.take_deferred_authz() {
                        authz_call = Some(call_authorizer(handle.clone(), call));
                    }
                    // A peer sending a long burst must not starve the writers of the
                    // sessions it feeds: give way to the scheduler every so often.
                    tokio::task::consume_budget().await;
                }
                Some(Err(e)) => {
                    tracing::debug!(?peer, "transport error: {e}");
                    break;
                }
                None => break,
            },
            _ = outbox.kill.cancelled() => break,
            _ = &mut writer => {
                // The writer ended (closed after GOODBYE/ABORT, or the socket failed).
                session.transport_closed();
                return;
            }
            result = async { match auth_call.as_mut() { Some(f) => f.await, None => std::future::pending().await } }, if auth_call.is_some() => {
                auth_call = None;
                if session.resume_auth(result) == Flow::Close {
                    break;
                }
                if let Some(call) = session.take_deferred_auth() {
                    let deadline = hello_deadline.deadline();
                    auth_call = Some(call_authenticator(handle.clone(), call, deadline));
                }
            }
            result = async { match authz_call.as_mut() { Some(f) => f.await, None => std::future::pending().await } }, if authz_call.is_some() => {
                authz_call = None;
                if session.resume_authz(result) == Flow::Close {
                    break;
                }
                if let Some(call) = session.take_deferred_authz() {
                    authz_call = Some(call_authorizer(handle.clone(), call));
                }
            }
            // While an authenticator call is in flight, its own deadline (the same) answers.
            _ = &mut hello_deadline, if session.id().is_none() && auth_call.is_none() => {
                tracing::debug!(?peer, "no WELCOME within the handshake timeout (limits.handshake_timeout_ms): closing");
                break;
            }
            _ = async { if let Some(t) = tick.as_mut() { t.tick().await; } }, if tick.is_some() => {
                match keepalive.check(reader.frames_received()) {
                    Ok(false) => {}
                    Ok(true) => outbox.ping.notify_one(),
                    Err(Expired::Ping(after)) => {
                        tracing::info!(?peer, session = ?session.id(), "no answer to PING within {} ms (limits.ping_timeout_ms): closing", after.as_millis());
                        break;
                    }
                    Err(Expired::Idle(after)) => {
                        tracing::info!(?peer, session = ?session.id(), "idle for {} ms (limits.idle_timeout_ms): closing", after.as_millis());
                        if session.id().is_some() {
                            let bye = Message::Goodbye(Goodbye {
                                details: CloseDetails::default().with(
                                    "message",
                                    format!(
                                        "no message for {} ms (limits.idle_timeout_ms)",
                                        after.as_millis()
                                    ),
                                ),
                                reason: CloseReason::Killed.as_str().into(),
                            });
                            if let Ok(frame) = encode(&bye, format) {
                                let _ = outbox.push(frame);
                            }
                        }
                        break;
                    }
                }
            }
        }
    }
    session.transport_closed();
    drop(session);
    outbox.close();
    let _ = tokio::time::timeout(SHUTDOWN_GRACE, &mut writer).await;
    writer.abort();
}

/// Drains the queue in batches: everything available, one flush.
async fn write_loop(
    mut writer: FrameWriter,
    mut rx: mpsc::Receiver<Bytes>,
    outbox: Arc<QueueOutbox>,
    format: Format,
) {
    // Grows with the first busy moment; an idle session keeps no batch buffer.
    let mut batch = Vec::new();
    loop {
        tokio::select! {
            biased;
            _ = outbox.kill.cancelled() => {
                if let Some(reason) = outbox.killed_for.get() {
                    let bye = Message::Goodbye(Goodbye {
                        details: CloseDetails::default().with("message", reason.message()),
                        reason: CloseReason::Killed.as_str().into(),
                    });
                    if let Ok(frame) = encode(&bye, format) {
                        let _ = tokio::time::timeout(Duration::from_millis(500), writer.send(frame)).await;
                    }
                }
                let _ = writer.close().await;
                return;
            }
            n = rx.recv_many(&mut batch, WRITE_BATCH) => {
                if n == 0 {
                    break;
                }
                let bytes: usize = batch.iter().map(Bytes::len).sum();
                outbox.queued_bytes.fetch_sub(bytes, Ordering::AcqRel);
                tokio::select! {
                    r = writer.send_batch(&mut batch) => {
                        if let Err(e) = r {
                            tracing::debug!("write failed: {e}");
                            return;
                        }
                    }
                    // A killed session's socket may be full: stop writing at once.
                    _ = outbox.kill.cancelled() => return,
                }
            }
            _ = outbox.close.notified() => {}
            _ = outbox.ping.notified() => {
                let ping = writer.ping(Bytes::from_static(b"switchboard"));
                if let Ok(Err(e)) = tokio::time::timeout(Duration::from_secs(5), ping).await {
                    tracing::debug!("keepalive PING failed: {e}");
                    return;
                }
            }
        }
        if outbox.closing.load(Ordering::Acquire) && rx.is_empty() {
            break;
        }
    }
    let _ = writer.close().await;
}

/// Waits for SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!("cannot listen for SIGTERM: {e}");
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}
