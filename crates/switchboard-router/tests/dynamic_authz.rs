//! The dynamic authorizer end to end: an embedded procedure (registered through a trusted
//! in-process session) decides what ticket users of the Rust client may call and publish.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use switchboard_client::{
    Auth, CallError, CallOutput, ConnectOptions, Dict, Invocation, PublishError, PublishOptions,
    Session, Value, dict,
};
use switchboard_router::config::Config;
use switchboard_router::server::{Server, ServerHandle};
use tokio::sync::oneshot;

const TIMEOUT: Duration = Duration::from_secs(10);
const PROC: &str = "com.example.authorize";

const CONFIG: &str = r#"
[[listen]]
bind = "127.0.0.1:0"

[[realm]]
name = "realm1"

[[realm.auth.ticket]]
authid = "alice"
ticket = "secret-alice"
role = "dyn"

[[realm.auth.ticket]]
authid = "bob"
ticket = "secret-bob"
role = "dyn"

[[realm.role]]
name = "dyn"

[realm.authorizer]
procedure = "com.example.authorize"
roles = ["dyn"]
cache_ttl_ms = 60000
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

    async fn login(&self, authid: &str, ticket: &str) -> Session {
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
            .unwrap()
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

/// The authorizer: alice may call `com.app.echo`, bob may not; everyone may publish to
/// `com.app.news` and nobody to anything else. Answers are cacheable. Counts its calls.
async fn register_authorizer(session: &Session, calls: Arc<AtomicUsize>) {
    session
        .register(PROC, move |inv: Invocation| {
            calls.fetch_add(1, Ordering::SeqCst);
            let result = (|| {
                let (details, uri, action, _options): (Dict, String, String, Dict) =
                    inv.args_as()?;
                let authid = details.get("authid").and_then(Value::as_str).unwrap_or("");
                assert_eq!(details.get("authrole").and_then(Value::as_str), Some("dyn"));
                let allow = match (action.as_str(), uri.as_str()) {
                    ("call", "com.app.echo") => authid == "alice",
                    ("publish", "com.app.news") => true,
                    _ => false,
                };
                Ok(CallOutput::value(Value::Dict(dict! {
                    "allow" => allow,
                    "cache" => true,
                })))
            })();
            std::future::ready(result)
        })
        .await
        .unwrap();
}

#[tokio::test]
async fn an_embedded_procedure_authorizes_calls_and_publishes_per_user() {
    let router = TestRouter::start(CONFIG).await;
    let backend = router.handle.trusted_session("realm1").await.unwrap();
    let calls = Arc::new(AtomicUsize::new(0));
    register_authorizer(&backend, Arc::clone(&calls)).await;
    backend
        .register("com.app.echo", |inv: Invocation| {
            std::future::ready(Ok(CallOutput::args(inv.args().to_vec())))
        })
        .await
        .unwrap();

    let alice = router.login("alice", "secret-alice").await;
    let bob = router.login("bob", "secret-bob").await;

    let echoed: String = alice.call("com.app.echo", ("hi",), ()).await.unwrap();
    assert_eq!(echoed, "hi");
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    // Cached: no second call to the authorizer.
    let echoed: String = alice.call("com.app.echo", ("again",), ()).await.unwrap();
    assert_eq!(echoed, "again");
    assert_eq!(calls.load(Ordering::SeqCst), 1);

    // Bob's decision is his own.
    let err = bob
        .call::<String>("com.app.echo", ("hi",), ())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, CallError::NotAuthorized(e) if e.uri == "wamp.error.not_authorized"),
        "{err:?}"
    );
    assert_eq!(calls.load(Ordering::SeqCst), 2);

    let ack = PublishOptions::default().acknowledge(true);
    bob.publish("com.app.news", ("x",), (), ack.clone())
        .await
        .unwrap();
    let err = bob
        .publish("com.app.secret", ("x",), (), ack.clone())
        .await
        .unwrap_err();
    assert!(matches!(err, PublishError::NotAuthorized(_)), "{err:?}");
    // An unacknowledged denied publish gets nothing, and the session goes on in order.
    bob.publish("com.app.secret", ("x",), (), PublishOptions::default())
        .await
        .unwrap();
    let err = bob
        .call::<String>("com.app.echo", ("hi",), ())
        .await
        .unwrap_err();
    assert!(matches!(err, CallError::NotAuthorized(_)), "{err:?}");
    let before = calls.load(Ordering::SeqCst);
    assert_eq!(before, 4, "bob's second denials came from the cache");

    // Purging bob's entries: his next call asks again, alice's does not.
    let purged: u64 = backend
        .call("wamp.authorizer.purge", (), dict! {"authid" => "bob"})
        .await
        .unwrap();
    assert_eq!(purged, 3);
    let _: String = alice.call("com.app.echo", ("x",), ()).await.unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), before);
    bob.call::<String>("com.app.echo", ("hi",), ())
        .await
        .unwrap_err();
    assert_eq!(calls.load(Ordering::SeqCst), before + 1);

    alice.leave().await.unwrap();
    bob.leave().await.unwrap();
    router.stop().await;
}

#[tokio::test]
async fn no_registered_authorizer_is_authorization_failed() {
    let router = TestRouter::start(CONFIG).await;
    let alice = router.login("alice", "secret-alice").await;
    let err = alice
        .call::<String>("com.app.echo", ("hi",), ())
        .await
        .unwrap_err();
    match &err {
        CallError::NotAuthorized(e) => {
            assert_eq!(e.uri, "wamp.error.authorization_failed");
            let text = format!("{e:?}");
            assert!(text.contains("no procedure"), "{text}");
        }
        other => panic!("expected authorization_failed, got {other:?}"),
    }
    alice.leave().await.unwrap();
    router.stop().await;
}

#[test]
fn config_errors_name_the_key() {
    for (from, to, key) in [
        (
            "procedure = \"com.example.authorize\"",
            "procedure = \"wamp.authorize\"",
            "realm[0].authorizer.procedure",
        ),
        (
            "roles = [\"dyn\"]",
            "roles = []",
            "realm[0].authorizer.roles",
        ),
        (
            "roles = [\"dyn\"]",
            "roles = [\"dyn\", \"dyn\"]",
            "realm[0].authorizer.roles[1]",
        ),
        (
            "roles = [\"dyn\"]",
            "roles = [\"dyn\"]\nrealm = \"not a uri\"",
            "realm[0].authorizer.realm",
        ),
    ] {
        let toml = CONFIG.replace(from, to);
        let err = Config::from_toml_str(&toml).err().unwrap().to_string();
        assert!(err.contains(key), "{to}: {err}");
    }
}
