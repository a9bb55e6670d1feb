//! The dynamic authenticator end to end: an embedded procedure (registered through a trusted
//! in-process session) decides ticket logins of the Rust client over a real socket.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use switchboard_client::{
    ApplicationError, Auth, CallOutput, ConnectOptions, Dict, Invocation, Session, Value, dict,
};
use switchboard_router::config::Config;
use switchboard_router::server::{Server, ServerHandle};
use tokio::sync::oneshot;

const TIMEOUT: Duration = Duration::from_secs(10);
const PROC: &str = "com.example.authenticate";

const CONFIG: &str = r#"
[[listen]]
bind = "127.0.0.1:0"

[limits]
handshake_timeout_ms = 1500

[[realm]]
name = "realm1"

[realm.auth.dynamic]
procedure = "com.example.authenticate"
authmethods = ["ticket"]

[[realm.role]]
name = "user"
[[realm.role.permission]]
uri = ""
match = "prefix"
call = true
register = true
publish = true
subscribe = true
"#;

struct TestRouter {
    addr: SocketAddr,
    handle: ServerHandle,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl TestRouter {
    async fn start(toml: &str) -> TestRouter {
        let config = Config::from_toml_str(toml).unwrap();
        let server = Server::bind(&config).await.unwrap();
        let addr = server.local_addrs()[0];
        let handle = server.handle();
        let (tx, rx) = oneshot::channel();
        let task = tokio::spawn(server.run_until(async {
            let _ = rx.await;
        }));
        TestRouter {
            addr,
            handle,
            stop: Some(tx),
            task: Some(task),
        }
    }

    async fn login(&self, authid: &str, ticket: &str) -> Result<Session, String> {
        let options = ConnectOptions {
            auth: Auth::Ticket {
                authid: authid.into(),
                ticket: ticket.into(),
            },
            ..ConnectOptions::new(format!("ws://{}/ws", self.addr), "realm1")
        };
        tokio::time::timeout(TIMEOUT, Session::connect(options))
            .await
            .unwrap()
            .map_err(|e| e.to_string())
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

/// The authenticator: `joe` with ticket `secret-joe` is a `user`; `ann` (ticket `secret-ann`)
/// gets a dictionary answer renaming her; everyone else is denied. Counts its calls.
async fn register_authenticator(session: &Session, calls: Arc<AtomicUsize>) {
    session
        .register(PROC, move |inv: Invocation| {
            calls.fetch_add(1, Ordering::SeqCst);
            let result = (|| {
                let (realm, authid, details): (String, String, Dict) = inv.args_as()?;
                let ticket = details.get("ticket").and_then(Value::as_str);
                assert_eq!(realm, "realm1");
                assert_eq!(
                    details.get("authmethod").and_then(Value::as_str),
                    Some("ticket")
                );
                match (authid.as_str(), ticket) {
                    ("joe", Some("secret-joe")) => Ok(CallOutput::value("user")),
                    ("ann", Some("secret-ann")) => Ok(CallOutput::value(Value::Dict(dict! {
                        "role" => "user",
                        "authid" => "ann@example.com",
                    }))),
                    _ => Err(ApplicationError::new("com.example.invalid_ticket")
                        .with_arg("wrong ticket")),
                }
            })();
            std::future::ready(result)
        })
        .await
        .unwrap();
}

#[tokio::test]
async fn an_embedded_procedure_authenticates_ticket_users() {
    let router = TestRouter::start(CONFIG).await;
    // The realm is locked: only a trusted in-process session may join it without a ticket.
    let backend = router.handle.trusted_session("realm1").await.unwrap();
    assert_eq!(backend.details().authrole.as_deref(), Some("trusted"));
    let calls = Arc::new(AtomicUsize::new(0));
    register_authenticator(&backend, Arc::clone(&calls)).await;

    let joe = router.login("joe", "secret-joe").await.unwrap();
    let d = joe.details();
    assert_eq!(d.authid.as_deref(), Some("joe"));
    assert_eq!(d.authrole.as_deref(), Some("user"));
    assert_eq!(d.authmethod.as_deref(), Some("ticket"));
    assert_eq!(d.authprovider.as_deref(), Some("dynamic"));
    // The role's permissions apply: user may register and call.
    joe.register("com.example.echo", |inv: Invocation| {
        std::future::ready(Ok(CallOutput::args(inv.args().to_vec())))
    })
    .await
    .unwrap();
    let echoed: String = joe.call("com.example.echo", ("hi",), ()).await.unwrap();
    assert_eq!(echoed, "hi");

    let ann = router.login("ann", "secret-ann").await.unwrap();
    assert_eq!(ann.details().authid.as_deref(), Some("ann@example.com"));

    for (authid, ticket) in [("joe", "wrong"), ("mallory", "secret-joe")] {
        let err = router.login(authid, ticket).await.err().unwrap();
        assert!(
            err.contains("wamp.error.authentication_failed"),
            "{authid}: {err}"
        );
        assert!(!err.contains("secret-joe"), "no ticket in the error: {err}");
    }
    assert_eq!(calls.load(Ordering::SeqCst), 4);

    // Clients without a valid ticket never join: anonymous is not configured.
    let options = ConnectOptions::new(format!("ws://{}/ws", router.addr), "realm1");
    let err = Session::connect(options).await.err().unwrap().to_string();
    assert!(err.contains("wamp.error.no_matching_auth_method"), "{err}");

    joe.leave().await.unwrap();
    ann.leave().await.unwrap();
    router.stop().await;
}

#[tokio::test]
async fn no_registered_authenticator_is_authentication_failed_and_later_registration_works() {
    let router = TestRouter::start(CONFIG).await;
    let err = router.login("joe", "secret-joe").await.err().unwrap();
    assert!(err.contains("wamp.error.authentication_failed"), "{err}");
    assert!(err.contains("no procedure"), "{err}");

    let backend = router.handle.trusted_session("realm1").await.unwrap();
    register_authenticator(&backend, Arc::default()).await;
    let joe = router.login("joe", "secret-joe").await.unwrap();
    assert_eq!(joe.details().authrole.as_deref(), Some("user"));
    joe.leave().await.unwrap();
    router.stop().await;
}

#[tokio::test]
async fn a_silent_authenticator_runs_into_the_handshake_timeout() {
    let router = TestRouter::start(CONFIG).await;
    let backend = router.handle.trusted_session("realm1").await.unwrap();
    backend
        .register(PROC, |_inv: Invocation| async {
            tokio::time::sleep(Duration::from_secs(30)).await;
            Ok(CallOutput::value("user"))
        })
        .await
        .unwrap();
    let started = tokio::time::Instant::now();
    let err = router.login("joe", "secret-joe").await.err().unwrap();
    assert!(err.contains("wamp.error.authentication_failed"), "{err}");
    assert!(err.contains("handshake"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(5));
    router.stop().await;
}

#[tokio::test]
async fn the_authenticator_may_live_on_another_realm() {
    let toml = CONFIG.replace(
        "authmethods = [\"ticket\"]",
        "authmethods = [\"ticket\"]\nrealm = \"auth\"",
    ) + "\n[[realm]]\nname = \"auth\"\n";
    let router = TestRouter::start(&toml).await;
    // Realm `auth` is open: an ordinary in-process session may serve the procedure.
    let backend = router.handle.session("auth").await.unwrap();
    register_authenticator(&backend, Arc::default()).await;
    let joe = router.login("joe", "secret-joe").await.unwrap();
    assert_eq!(joe.details().authrole.as_deref(), Some("user"));
    joe.leave().await.unwrap();
    router.stop().await;
}

#[test]
fn config_errors_name_the_key() {
    for (from, to, key) in [
        (
            "authmethods = [\"ticket\"]",
            "authmethods = [\"wampcra\"]",
            "realm[0].auth.dynamic.authmethods[0]",
        ),
        (
            "authmethods = [\"ticket\"]",
            "authmethods = []",
            "realm[0].auth.dynamic.authmethods",
        ),
        (
            "procedure = \"com.example.authenticate\"",
            "procedure = \"wamp.authenticate\"",
            "realm[0].auth.dynamic.procedure",
        ),
        (
            "authmethods = [\"ticket\"]",
            "authmethods = [\"ticket\"]\n[[realm.auth.ticket]]\nauthid = \"a\"\nticket = \"b\"\nrole = \"user\"",
            "realm[0].auth.dynamic.authmethods[0]",
        ),
    ] {
        let toml = CONFIG.replace(from, to);
        let err = Config::from_toml_str(&toml).err().unwrap().to_string();
        assert!(err.contains(key), "{to}: {err}");
    }
}
