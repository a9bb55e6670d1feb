//! The router's security features over real sockets: TLS (with a certificate generated here),
//! Unix domain sockets, logins with the Rust client against `examples/auth.toml`, and every
//! per-peer limit hit with its error while the router keeps serving.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use switchboard_client::{Auth, ConnectOptions, Session};
use switchboard_proto::message::*;
use switchboard_proto::options::*;
use switchboard_proto::{Format, Message, Payload, Value, decode, dict, encode};
use switchboard_router::config::Config;
use switchboard_router::server::Server;
use switchboard_transport::tls::rustls::RootCertStore;
use switchboard_transport::tls::rustls::pki_types::CertificateDer;
use switchboard_transport::{ConnectError, Connection, Endpoint, connect, connect_with_tls};
use tokio::sync::oneshot;

const TIMEOUT: Duration = Duration::from_secs(10);

/// A router serving a config; stopped on `stop`.
struct TestRouter {
    addrs: Vec<SocketAddr>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl TestRouter {
    async fn start(config: &Config) -> TestRouter {
        let server = Server::bind(config).await.unwrap();
        let addrs = server.local_addrs().to_vec();
        let (tx, rx) = oneshot::channel();
        let task = tokio::spawn(server.run_until(async {
            let _ = rx.await;
        }));
        TestRouter {
            addrs,
            stop: Some(tx),
            task: Some(task),
        }
    }

    async fn from_toml(toml: &str) -> TestRouter {
        TestRouter::start(&Config::from_toml_str(toml).unwrap()).await
    }

    fn ws(&self) -> String {
        format!("ws://{}/ws", self.addrs[0])
    }

    fn rs(&self) -> String {
        format!("rs://{}", self.addrs[0])
    }

    async fn stop(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            tokio::time::timeout(TIMEOUT, task).await.unwrap().unwrap();
        }
    }
}

/// A bare WAMP peer on a transport connection.
struct Peer {
    conn: Connection,
}

impl Peer {
    async fn connect(url: &str) -> Peer {
        let endpoint: Endpoint = url.parse().unwrap();
        let conn = tokio::time::timeout(TIMEOUT, connect(&endpoint, Format::Json, 1 << 20))
            .await
            .unwrap()
            .unwrap();
        Peer { conn }
    }

    async fn send(&mut self, msg: impl Into<Message>) {
        let frame = encode(&msg.into(), self.conn.format).unwrap();
        self.conn.writer.send(frame).await.unwrap();
    }

    /// The next message; `None` once the router closed the connection.
    async fn recv(&mut self) -> Option<Message> {
        match tokio::time::timeout(TIMEOUT, self.conn.reader.next()).await {
            Ok(Some(Ok(frame))) => Some(decode(self.conn.format, &frame).unwrap()),
            Ok(_) => None,
            Err(_) => panic!("nothing from the router within {TIMEOUT:?}"),
        }
    }

    async fn hello(&mut self, realm: &str) {
        let roles = dict! {
            "caller" => dict!{}, "callee" => dict!{}, "publisher" => dict!{}, "subscriber" => dict!{}
        };
        self.send(Hello {
            realm: realm.into(),
            details: HelloDetails::default().with("roles", roles),
        })
        .await;
    }

    async fn join(&mut self) -> Welcome {
        self.hello("realm1").await;
        match self.recv().await {
            Some(Message::Welcome(w)) => w,
            other => panic!("expected WELCOME, got {other:?}"),
        }
    }

    async fn call(&mut self, request: u64, procedure: &str) -> Option<Message> {
        self.send(Call {
            request: switchboard_proto::Id::new(request).unwrap(),
            options: CallOptions::default(),
            procedure: procedure.into(),
            payload: Payload::empty(),
        })
        .await;
        self.recv().await
    }
}

async fn joined(url: &str) -> Peer {
    let mut p = Peer::connect(url).await;
    p.join().await;
    p
}

fn expect_error(msg: Option<Message>, uri: &str) -> ErrorMessage {
    match msg {
        Some(Message::Error(e)) if e.error == uri => e,
        other => panic!("expected ERROR {uri}, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------------
// TLS
// ---------------------------------------------------------------------------------------------

/// A self-signed certificate for `localhost` and 127.0.0.1, written as PEM files into `dir`.
fn test_certificate(dir: &Path) -> (PathBuf, PathBuf, CertificateDer<'static>) {
    let cert =
        rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()]).unwrap();
    let cert_path = dir.join("cert.pem");
    let key_path = dir.join("key.pem");
    std::fs::write(&cert_path, cert.cert.pem()).unwrap();
    std::fs::write(&key_path, cert.signing_key.serialize_pem()).unwrap();
    (cert_path, key_path, cert.cert.der().clone())
}

fn trusting(
    cert: CertificateDer<'static>,
) -> Arc<switchboard_transport::tls::rustls::ClientConfig> {
    let mut roots = RootCertStore::empty();
    roots.add(cert).unwrap();
    switchboard_transport::tls::client_config_with_roots(roots)
}

async fn tls_router(dir: &Path) -> (TestRouter, CertificateDer<'static>) {
    let (cert, key, der) = test_certificate(dir);
    let toml = format!(
        "[[listen]]\nbind = \"127.0.0.1:0\"\n[listen.tls]\ncert_chain = {:?}\nkey = {:?}\n\
         [[realm]]\nname = \"realm1\"\n",
        cert.display().to_string(),
        key.display().to_string()
    );
    (TestRouter::from_toml(&toml).await, der)
}

#[tokio::test]
async fn wss_and_rawsocket_over_tls_work_with_a_generated_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let (router, der) = tls_router(dir.path()).await;
    let port = router.addrs[0].port();
    let tls = trusting(der);
    for url in [
        format!("wss://localhost:{port}/ws"),
        format!("rss://localhost:{port}"),
    ] {
        let endpoint: Endpoint = url.parse().unwrap();
        for format in [Format::Json, Format::MessagePack] {
            let conn = connect_with_tls(&endpoint, format, 1 << 20, Arc::clone(&tls))
                .await
                .unwrap_or_else(|e| panic!("{url}: {e}"));
            let mut peer = Peer { conn };
            let w = peer.join().await;
            assert_eq!(w.details.authmethod(), Some("anonymous"));
            // The session meta API tells the session it came over TLS.
            peer.send(Call {
                request: switchboard_proto::Id::new(1).unwrap(),
                options: CallOptions::default(),
                procedure: "wamp.session.get".into(),
                payload: Payload::args(vec![Value::from(w.session)]),
            })
            .await;
            match peer.recv().await {
                Some(Message::Result(r)) => {
                    let v = r.payload.to_values().unwrap();
                    let transport = v.args[0].as_dict().unwrap()["transport"]
                        .as_dict()
                        .unwrap()
                        .clone();
                    assert_eq!(transport["tls"], Value::Bool(true), "{url}");
                }
                other => panic!("expected RESULT, got {other:?}"),
            }
        }
    }
    router.stop().await;
}

#[tokio::test]
async fn a_tls_port_refuses_untrusted_clients_and_plain_connections_and_keeps_serving() {
    let dir = tempfile::tempdir().unwrap();
    let (router, der) = tls_router(dir.path()).await;
    let port = router.addrs[0].port();
    // The Mozilla roots do not trust a self-signed certificate.
    let url: Endpoint = format!("wss://localhost:{port}/ws").parse().unwrap();
    let err = connect(&url, Format::Json, 1 << 20).await.unwrap_err();
    assert!(matches!(err, ConnectError::Tls(_)), "{err}");
    // Plain WebSocket and RawSocket on the TLS port fail.
    let plain: Endpoint = format!("ws://localhost:{port}/ws").parse().unwrap();
    assert!(
        tokio::time::timeout(TIMEOUT, connect(&plain, Format::Json, 1 << 20))
            .await
            .unwrap()
            .is_err()
    );
    let plain: Endpoint = format!("rs://localhost:{port}").parse().unwrap();
    assert!(
        tokio::time::timeout(TIMEOUT, connect(&plain, Format::Json, 1 << 20))
            .await
            .unwrap()
            .is_err()
    );
    // A trusting client still gets in.
    let conn = connect_with_tls(&url, Format::Cbor, 1 << 20, trusting(der))
        .await
        .unwrap();
    Peer { conn }.join().await;
    router.stop().await;
}

#[tokio::test]
async fn a_missing_certificate_file_is_an_error_naming_the_listener() {
    let config = Config::from_toml_str(
        "[[listen]]\nbind = \"127.0.0.1:0\"\n[listen.tls]\ncert_chain = \"/nonexistent/c.pem\"\n\
         key = \"/nonexistent/k.pem\"\n[[realm]]\nname = \"realm1\"\n",
    )
    .unwrap();
    let err = Server::bind(&config).await.unwrap_err().to_string();
    assert!(err.starts_with("listen[0].tls: "), "{err}");
    assert!(err.contains("/nonexistent/c.pem"), "{err}");
}

// ---------------------------------------------------------------------------------------------
// Unix domain sockets
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn rawsocket_and_websocket_over_a_unix_socket() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("switchboard.sock");
    // A stale socket file from an earlier run is replaced.
    drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
    assert!(path.exists());
    let toml = format!(
        "[[listen]]\nbind = \"127.0.0.1:0\"\n[[listen]]\nunix = {:?}\n[[realm]]\nname = \"realm1\"\n",
        path.display().to_string()
    );
    let router = TestRouter::from_toml(&toml).await;
    let mut over_unix = joined(&format!("unix://{}", path.display())).await;
    let mut over_tcp = joined(&router.rs()).await;
    // Both reach each other.
    over_unix
        .send(Register {
            request: switchboard_proto::Id::new(1).unwrap(),
            options: RegisterOptions::default(),
            procedure: "com.unix.f".into(),
        })
        .await;
    assert!(matches!(
        over_unix.recv().await,
        Some(Message::Registered(_))
    ));
    over_tcp
        .send(Call {
            request: switchboard_proto::Id::new(1).unwrap(),
            options: CallOptions::default(),
            procedure: "com.unix.f".into(),
            payload: Payload::empty(),
        })
        .await;
    assert!(matches!(
        over_unix.recv().await,
        Some(Message::Invocation(_))
    ));
    // WebSocket over the Unix socket works too.
    let stream = tokio::net::UnixStream::connect(&path).await.unwrap();
    let conn = switchboard_transport::connect_websocket_stream(
        stream,
        "ws://localhost/ws",
        Format::Json,
        1 << 20,
        None,
    )
    .await
    .unwrap();
    Peer { conn }.join().await;
    router.stop().await;
    assert!(!path.exists(), "the socket file is removed on shutdown");
}

// ---------------------------------------------------------------------------------------------
// Logins with the Rust client against examples/auth.toml
// ---------------------------------------------------------------------------------------------

fn example_config() -> Config {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/auth.toml");
    let mut config = Config::load(path).unwrap();
    config.override_listen(None, Some(0));
    config
}

async fn login(
    router: &TestRouter,
    auth: Auth,
) -> Result<Session, switchboard_client::ConnectError> {
    let options = ConnectOptions {
        auth,
        ..ConnectOptions::new(router.ws(), "realm1")
    };
    tokio::time::timeout(TIMEOUT, Session::connect(options))
        .await
        .unwrap()
}

#[tokio::test]
async fn every_method_of_the_example_config_logs_in_and_fails_with_a_wrong_secret() {
    let router = TestRouter::start(&example_config()).await;
    let cryptosign_key = "4d57d97a68f555696620a6d849c0ce582568518d729eb753dc7c732de2804510";
    let good = [
        (Auth::Anonymous, "anonymous", "anonymous"),
        (
            Auth::Ticket {
                authid: "ticket-user".into(),
                ticket: "ticket-pass".into(),
            },
            "ticket",
            "user",
        ),
        (
            Auth::WampCra {
                authid: "wamp-cra-user".into(),
                secret: "cra-secret".into(),
            },
            "wampcra",
            "user",
        ),
        (
            Auth::WampCra {
                authid: "wamp-cra-salt-user".into(),
                secret: "cra-salt-secret".into(),
            },
            "wampcra",
            "user",
        ),
        (
            Auth::Scram {
                authid: "scram-user".into(),
                password: "scram-pass".into(),
            },
            "wamp-scram",
            "user",
        ),
        (
            Auth::ScramAutobahn {
                authid: "scram-user".into(),
                password: "scram-pass".into(),
            },
            "scram",
            "user",
        ),
        (
            Auth::Cryptosign {
                authid: "cryptosign-user".into(),
                private_key_hex: cryptosign_key.into(),
            },
            "cryptosign",
            "user",
        ),
    ];
    for (auth, method, role) in good {
        let session = login(&router, auth)
            .await
            .unwrap_or_else(|e| panic!("{method}: {e}"));
        assert_eq!(session.details().authmethod.as_deref(), Some(method));
        assert_eq!(session.details().authrole.as_deref(), Some(role));
        assert_eq!(session.details().authprovider.as_deref(), Some("static"));
        session.leave().await.unwrap();
    }
    let bad = [
        Auth::Ticket {
            authid: "ticket-user".into(),
            ticket: "nope".into(),
        },
        Auth::WampCra {
            authid: "wamp-cra-user".into(),
            secret: "nope".into(),
        },
        Auth::WampCra {
            authid: "wamp-cra-salt-user".into(),
            secret: "nope".into(),
        },
        Auth::Scram {
            authid: "scram-user".into(),
            password: "nope".into(),
        },
        Auth::ScramAutobahn {
            authid: "scram-user".into(),
            password: "nope".into(),
        },
        Auth::Cryptosign {
            authid: "cryptosign-user".into(),
            private_key_hex: "22".repeat(32),
        },
    ];
    for auth in bad {
        let what = format!("{auth:?}");
        let err = login(&router, auth)
            .await
            .err()
            .unwrap_or_else(|| panic!("{what} logged in"));
        assert!(
            err.to_string().contains("wamp.error.authentication_failed"),
            "{what}: {err}"
        );
    }
    router.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Limits: each one hit, with its error, and the router serving on
// ---------------------------------------------------------------------------------------------

fn limits_toml(limits: &str) -> String {
    format!(
        "[[listen]]\nbind = \"127.0.0.1:0\"\n[limits]\n{limits}\n[[realm]]\nname = \"realm1\"\n"
    )
}

#[tokio::test]
async fn per_listener_max_message_size_closes_the_connection_and_the_router_serves_on() {
    let router = TestRouter::from_toml(
        "[[listen]]\nbind = \"127.0.0.1:0\"\nmax_message_size = 1024\n[[realm]]\nname = \"realm1\"\n",
    )
    .await;
    let mut p = joined(&router.ws()).await;
    p.send(Publish {
        request: switchboard_proto::Id::new(1).unwrap(),
        options: PublishOptions::default(),
        topic: "com.big".into(),
        payload: Payload::args(vec![Value::from("x".repeat(4096))]),
    })
    .await;
    assert!(p.recv().await.is_none(), "the connection is closed");
    let mut p = joined(&router.rs()).await;
    assert!(matches!(
        p.call(1, "wamp.session.count").await,
        Some(Message::Result(_))
    ));
    router.stop().await;
}

#[tokio::test]
async fn max_sessions_refuses_one_more_connection_until_one_leaves() {
    let router = TestRouter::from_toml(&limits_toml("max_sessions = 1")).await;
    let first = joined(&router.ws()).await;
    let endpoint: Endpoint = router.ws().parse().unwrap();
    match connect(&endpoint, Format::Json, 1 << 20).await {
        Err(ConnectError::Refused { status }) => assert_eq!(status, 503),
        other => panic!("expected HTTP 503, got {other:?}"),
    }
    let endpoint: Endpoint = router.rs().parse().unwrap();
    assert!(connect(&endpoint, Format::Json, 1 << 20).await.is_err());
    drop(first);
    // The slot frees once the first connection is gone.
    let mut joined_again = None;
    for _ in 0..100 {
        let endpoint: Endpoint = router.ws().parse().unwrap();
        if let Ok(conn) = connect(&endpoint, Format::Json, 1 << 20).await {
            joined_again = Some(Peer { conn });
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    joined_again
        .expect("a connection after the first left")
        .join()
        .await;
    router.stop().await;
}

#[tokio::test]
async fn max_sessions_per_authid_aborts_with_not_authorized() {
    let mut config = example_config();
    config.limits.max_sessions_per_authid = std::num::NonZeroUsize::new(1);
    let router = TestRouter::start(&config).await;
    let ticket = || Auth::Ticket {
        authid: "ticket-user".into(),
        ticket: "ticket-pass".into(),
    };
    let first = login(&router, ticket()).await.unwrap();
    let err = login(&router, ticket()).await.err().unwrap();
    assert!(
        err.to_string().contains("wamp.error.not_authorized"),
        "{err}"
    );
    // Other principals are unaffected, and the slot frees on leave.
    login(&router, Auth::Anonymous).await.unwrap();
    first.leave().await.unwrap();
    login(&router, ticket()).await.unwrap();
    router.stop().await;
}

#[tokio::test]
async fn registration_subscription_and_pending_call_limits_answer_limit_exceeded() {
    let router = TestRouter::from_toml(&limits_toml(
        "max_registrations_per_session = 1\nmax_subscriptions_per_session = 1\nmax_pending_calls_per_session = 1",
    ))
    .await;
    let mut p = joined(&router.ws()).await;
    let id = |n| switchboard_proto::Id::new(n).unwrap();
    p.send(Register {
        request: id(1),
        options: RegisterOptions::default(),
        procedure: "com.a".into(),
    })
    .await;
    assert!(matches!(p.recv().await, Some(Message::Registered(_))));
    p.send(Register {
        request: id(2),
        options: RegisterOptions::default(),
        procedure: "com.b".into(),
    })
    .await;
    let e = expect_error(p.recv().await, "switchboard.error.limit_exceeded");
    assert!(format!("{:?}", e.payload).contains("max_registrations_per_session"));
    p.send(Subscribe {
        request: id(3),
        options: SubscribeOptions::default(),
        topic: "com.t".into(),
    })
    .await;
    assert!(matches!(p.recv().await, Some(Message::Subscribed(_))));
    p.send(Subscribe {
        request: id(4),
        options: SubscribeOptions::default(),
        topic: "com.u".into(),
    })
    .await;
    expect_error(p.recv().await, "switchboard.error.limit_exceeded");
    // One call to our own procedure is pending (we do not answer the INVOCATION) ...
    let mut caller = joined(&router.ws()).await;
    caller
        .send(Call {
            request: id(1),
            options: CallOptions::default(),
            procedure: "com.a".into(),
            payload: Payload::empty(),
        })
        .await;
    assert!(matches!(p.recv().await, Some(Message::Invocation(_))));
    // ... so the next one is refused, and the session still works.
    let e = expect_error(
        caller.call(2, "com.a").await,
        "switchboard.error.limit_exceeded",
    );
    assert!(format!("{:?}", e.payload).contains("max_pending_calls_per_session"));
    assert!(matches!(
        caller.call(3, "wamp.session.count").await,
        Some(Message::Result(_))
    ));
    router.stop().await;
}

#[tokio::test]
async fn handshake_timeout_closes_a_silent_connection_and_the_router_serves_on() {
    let router = TestRouter::from_toml(&limits_toml("handshake_timeout_ms = 200")).await;
    // Transport handshake done, but no HELLO.
    let mut silent = Peer::connect(&router.rs()).await;
    assert!(silent.recv().await.is_none(), "closed without WELCOME");
    let mut p = joined(&router.ws()).await;
    assert!(matches!(
        p.call(1, "wamp.session.count").await,
        Some(Message::Result(_))
    ));
    router.stop().await;
}

#[tokio::test]
async fn an_unanswered_challenge_runs_into_the_handshake_timeout() {
    let mut config = example_config();
    config.limits.handshake_timeout = Duration::from_millis(300);
    let router = TestRouter::start(&config).await;
    let mut p = Peer::connect(&router.ws()).await;
    p.send(Hello {
        realm: "realm1".into(),
        details: HelloDetails::default()
            .with("roles", dict! { "caller" => dict!{} })
            .with("authmethods", vec![Value::from("ticket")])
            .with("authid", "ticket-user"),
    })
    .await;
    assert!(matches!(p.recv().await, Some(Message::Challenge(_))));
    assert!(
        p.recv().await.is_none(),
        "closed after the handshake timeout"
    );
    login(&router, Auth::Anonymous).await.unwrap();
    router.stop().await;
}

#[tokio::test]
async fn idle_timeout_says_goodbye_to_a_silent_session() {
    let router = TestRouter::from_toml(&limits_toml("idle_timeout_ms = 300")).await;
    let mut p = joined(&router.rs()).await;
    match p.recv().await {
        Some(Message::Goodbye(g)) => {
            assert_eq!(g.reason, "wamp.close.killed");
            assert!(g.details.message().unwrap().contains("idle_timeout_ms"));
        }
        other => panic!("expected GOODBYE, got {other:?}"),
    }
    // A session that keeps talking is not idle.
    let mut busy = joined(&router.ws()).await;
    for i in 1..=6 {
        assert!(matches!(
            busy.call(i, "wamp.session.count").await,
            Some(Message::Result(_))
        ));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    router.stop().await;
}

#[tokio::test]
async fn keepalive_pings_keep_answering_peers_and_drop_silent_ones() {
    let router = TestRouter::from_toml(&limits_toml(
        "ping_interval_ms = 100\nping_timeout_ms = 200",
    ))
    .await;
    // Our transport answers PINGs while it reads: the session survives a quiet second.
    for url in [router.ws(), router.rs()] {
        let mut p = joined(&url).await;
        let quiet = tokio::time::timeout(Duration::from_millis(1000), p.conn.reader.next()).await;
        assert!(
            quiet.is_err(),
            "{url}: nothing but PINGs expected, got {quiet:?}"
        );
        assert!(matches!(
            p.call(1, "wamp.session.count").await,
            Some(Message::Result(_))
        ));
    }
    // A RawSocket peer that never reads (so never answers a PING) is dropped.
    let addr = router.addrs[0];
    let mut raw = tokio::net::TcpStream::connect(addr).await.unwrap();
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    raw.write_all(&[0x7f, 0xf1, 0, 0]).await.unwrap();
    let mut reply = [0u8; 4];
    raw.read_exact(&mut reply).await.unwrap();
    tokio::time::sleep(Duration::from_millis(800)).await;
    let mut rest = Vec::new();
    // The router closes the connection (EOF or reset): the read ends well within TIMEOUT.
    let _ = tokio::time::timeout(TIMEOUT, raw.read_to_end(&mut rest))
        .await
        .expect("the router closes a peer that does not answer PINGs");
    assert!(
        !rest.is_empty(),
        "at least one PING frame arrived before the close"
    );
    assert_eq!(rest[0] & 0x07, 1, "a PING frame");
    joined(&router.ws()).await;
    router.stop().await;
}
