//! Procedures served inside the router: a handler, a per-session stateful object told when
//! sessions leave, and a server-to-client call.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use switchboard_client::{CallOutput, ConnectOptions, HandlerResult, Id, Invocation, Session};
use switchboard_router::config::Config;
use switchboard_router::embedded::{PerSessionProcedure, register_per_session};
use switchboard_router::server::Server;

/// Counts calls per session; remembers who left with how many.
#[derive(Default)]
struct Counter {
    left: Arc<Mutex<Vec<(Id, u64)>>>,
}

impl PerSessionProcedure for Counter {
    type State = u64;
    fn call(&self, _caller: Id, state: &mut u64, _inv: &Invocation) -> HandlerResult {
        *state += 1;
        Ok(CallOutput::value(*state))
    }
    fn session_left(&self, session: Id, state: u64) {
        self.left.lock().unwrap().push((session, state));
    }
}

#[tokio::test]
async fn embedded_procedures_serve_clients_keep_per_session_state_and_call_clients_back() {
    let config =
        Config::from_toml_str("[[listen]]\nbind = \"127.0.0.1:0\"\n[[realm]]\nname = \"realm1\"\n")
            .unwrap();
    let server = Server::bind(&config).await.unwrap();
    let url = format!("ws://{}/ws", server.local_addrs()[0]);
    let handle = server.handle();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(server.run_until(async {
        let _ = stopped.await;
    }));

    let inside = handle.session("realm1").await.unwrap();
    inside
        .register("com.example.add", |inv: Invocation| async move {
            let (a, b): (i64, i64) = inv.args_as()?;
            Ok(CallOutput::value(a + b))
        })
        .await
        .unwrap();
    let left = Arc::new(Mutex::new(Vec::new()));
    register_per_session(
        &inside,
        "com.example.count",
        Counter {
            left: Arc::clone(&left),
        },
    )
    .await
    .unwrap();
    let callback = inside.clone();
    inside
        .register("com.example.greet_me", move |inv: Invocation| {
            let callback = callback.clone();
            async move {
                let caller = inv.caller().expect("disclosed");
                let uri = format!("com.example.client.{caller}.name");
                let name: String = callback
                    .call(&uri, (), ())
                    .await
                    .map_err(switchboard_client::ApplicationError::runtime_error)?;
                Ok(CallOutput::value(format!("hello, {name}")))
            }
        })
        .await
        .unwrap();

    let options = |url: &str| ConnectOptions {
        url: url.to_owned(),
        realm: "realm1".into(),
        ..ConnectOptions::default()
    };
    let a = Session::connect(options(&url)).await.unwrap();
    let b = Session::connect(options(&url)).await.unwrap();
    assert_eq!(
        a.call::<i64>("com.example.add", (2, 3), ()).await.unwrap(),
        5
    );
    for n in 1..=3u64 {
        assert_eq!(a.call::<u64>("com.example.count", (), ()).await.unwrap(), n);
    }
    assert_eq!(
        b.call::<u64>("com.example.count", (), ()).await.unwrap(),
        1,
        "state is per session"
    );

    // server-to-client: the client registers a procedure for its own session
    let own = format!("com.example.client.{}.name", b.id());
    b.register(&own, |_inv: Invocation| async {
        Ok(CallOutput::value("b"))
    })
    .await
    .unwrap();
    let greeting = b
        .call_with(
            "com.example.greet_me",
            (),
            (),
            switchboard_client::CallOptions::new().disclose_me(true),
        )
        .await
        .unwrap();
    assert_eq!(greeting.decode::<String>().unwrap(), "hello, b");

    let a_id = a.id();
    a.leave().await.unwrap();
    for _ in 0..100 {
        if !left.lock().unwrap().is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(
        *left.lock().unwrap(),
        vec![(a_id, 3)],
        "the object is told who left, with its state"
    );

    stop.send(()).unwrap();
    tokio::time::timeout(Duration::from_secs(10), running)
        .await
        .unwrap()
        .unwrap();
}
