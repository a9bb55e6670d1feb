//! Session lifecycle and the reconnecting `Component` against the in-process router.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::{TestRouter, free_port, strict_realms_router, within};
use switchboard_client::{
    ApplicationError, CallError, CallOutput, CloseKind, Component, ComponentError, ConnectError,
    ConnectOptions, Event, Invocation, LeaveError, ReconnectPolicy, RegisterOptions, Session,
    SubscribeOptions,
};
use tokio::sync::mpsc;

async fn add2(inv: Invocation) -> Result<CallOutput, ApplicationError> {
    let (a, b): (i64, i64) = inv.args_as()?;
    Ok(CallOutput::value(a + b))
}

fn fast_reconnect() -> ReconnectPolicy {
    ReconnectPolicy::default().delays(Duration::from_millis(10), Duration::from_millis(100))
}

#[tokio::test]
async fn joining_an_unknown_realm_is_refused_with_no_such_realm() {
    let router = strict_realms_router().await;
    let err = within(Session::connect(ConnectOptions::new(
        router.ws_url(),
        "nowhere",
    )))
    .await
    .unwrap_err();
    match err {
        ConnectError::Aborted(e) => assert_eq!(e.uri, "wamp.error.no_such_realm"),
        other => panic!("{other:?}"),
    }
    // realm1 works.
    within(Session::connect(ConnectOptions::new(
        router.ws_url(),
        "realm1",
    )))
    .await
    .unwrap();
}

#[tokio::test]
async fn welcome_details_are_exposed() {
    let router = TestRouter::start().await;
    let s = router.session().await;
    let d = s.details();
    assert_eq!(d.realm, "realm1");
    assert_eq!(d.session, s.id());
    assert!(d.router_roles.contains_key("broker"));
    assert!(d.router_roles.contains_key("dealer"));
}

#[tokio::test]
async fn leave_ends_the_session_cleanly_once() {
    let router = TestRouter::start().await;
    let s = router.session().await;
    let info = within(s.leave()).await.unwrap();
    assert_eq!(info.kind, CloseKind::Left);
    assert_eq!(info.reason, "wamp.close.goodbye_and_out");
    assert_eq!(within(s.closed()).await, info);
    assert_eq!(
        within(s.leave()).await.unwrap_err(),
        LeaveError::SessionClosed
    );
}

#[tokio::test]
async fn a_router_shutdown_is_seen_as_goodbye_and_fails_operations() {
    let router = TestRouter::start().await;
    let s = router.session().await;
    router.stop().await;
    let info = within(s.closed()).await;
    assert_eq!(info.kind, CloseKind::Goodbye);
    assert_eq!(info.reason, "wamp.close.system_shutdown");
    assert_eq!(
        within(s.call::<()>("com.test.x", (), ()))
            .await
            .unwrap_err(),
        CallError::SessionClosed
    );
}

#[tokio::test]
async fn dropping_the_last_handle_leaves_the_session() {
    let router = TestRouter::start().await;
    let callee = router.session().await;
    let caller = router.session().await;
    let registration = within(callee.register("com.test.add2", add2))
        .await
        .unwrap();
    drop(registration);
    drop(callee);
    within(async {
        loop {
            match caller.call::<i64>("com.test.add2", (1, 2), ()).await {
                Err(CallError::NoSuchProcedure { .. }) => break,
                Ok(_) => tokio::time::sleep(Duration::from_millis(10)).await,
                Err(e) => panic!("{e:?}"),
            }
        }
    })
    .await;
}

#[tokio::test]
async fn connection_failures_are_typed() {
    let port = free_port();
    let err = within(Session::connect(ConnectOptions::new(
        format!("ws://127.0.0.1:{port}/ws"),
        "realm1",
    )))
    .await
    .unwrap_err();
    assert!(matches!(err, ConnectError::Transport(_)), "{err:?}");
    assert!(err.is_retryable());
    let err = within(Session::connect(ConnectOptions::new(
        "http://x/ws",
        "realm1",
    )))
    .await
    .unwrap_err();
    assert!(matches!(err, ConnectError::InvalidUrl(_)), "{err:?}");
    assert!(!err.is_retryable());
    let err = within(Session::connect(ConnectOptions::new(
        "ws://127.0.0.1:1/ws",
        "not a realm",
    )))
    .await
    .unwrap_err();
    assert!(matches!(err, ConnectError::InvalidOptions(_)), "{err:?}");
}

#[tokio::test]
async fn component_reconnects_after_the_router_restarts_and_declares_again() {
    let router = TestRouter::start().await;
    let port = router.addr.port();
    let joins = Arc::new(AtomicUsize::new(0));
    let leaves = Arc::new(AtomicUsize::new(0));
    let disconnects = Arc::new(AtomicUsize::new(0));
    let (events_tx, mut events) = mpsc::unbounded_channel::<i64>();
    let (j, l, d) = (joins.clone(), leaves.clone(), disconnects.clone());
    let handle = Component::new(router.options())
        .reconnect(fast_reconnect())
        .register("com.test.add2", add2)
        .subscribe("com.test.ticks", move |ev: Event| {
            let tx = events_tx.clone();
            async move {
                let _ = tx.send(ev.decode::<i64>().unwrap());
            }
        })
        .on_join(move |_session| {
            let j = j.clone();
            async move {
                j.fetch_add(1, Ordering::SeqCst);
            }
        })
        .on_leave(move |info| {
            assert_eq!(info.kind, CloseKind::Goodbye);
            l.fetch_add(1, Ordering::SeqCst);
        })
        .on_disconnect(move || {
            d.fetch_add(1, Ordering::SeqCst);
        })
        .start();
    let first = within(handle.joined()).await.unwrap();

    let caller = router.session().await;
    let sum: i64 = within(caller.call("com.test.add2", (1, 2), ()))
        .await
        .unwrap();
    assert_eq!(sum, 3);
    within(caller.publish(
        "com.test.ticks",
        (1,),
        (),
        switchboard_client::PublishOptions::new().acknowledge(true),
    ))
    .await
    .unwrap();
    assert_eq!(within(events.recv()).await.unwrap(), 1);

    // Restart the router on the same port.
    router.stop().await;
    within(first.closed()).await;
    let router = TestRouter::start_on(port).await;
    let caller = router.session().await;
    within(async {
        loop {
            match caller.call::<i64>("com.test.add2", (2, 2), ()).await {
                Ok(sum) => break assert_eq!(sum, 4),
                Err(CallError::NoSuchProcedure { .. }) => {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                Err(e) => panic!("{e:?}"),
            }
        }
    })
    .await;
    let second = within(handle.joined()).await.unwrap();
    assert_ne!(second.id(), first.id());
    within(caller.publish(
        "com.test.ticks",
        (2,),
        (),
        switchboard_client::PublishOptions::new().acknowledge(true),
    ))
    .await
    .unwrap();
    assert_eq!(within(events.recv()).await.unwrap(), 2);
    assert_eq!(joins.load(Ordering::SeqCst), 2);
    assert_eq!(leaves.load(Ordering::SeqCst), 1);
    assert_eq!(disconnects.load(Ordering::SeqCst), 1);

    within(handle.stop()).await.unwrap();
    assert!(within(second.closed()).await.kind == CloseKind::Left);
}

#[tokio::test]
async fn component_keeps_trying_until_the_router_is_up() {
    let port = free_port();
    let failures = Arc::new(AtomicUsize::new(0));
    let f = failures.clone();
    let handle = Component::new(ConnectOptions::new(
        format!("rs://127.0.0.1:{port}"),
        "realm1",
    ))
    .reconnect(fast_reconnect())
    .register("com.test.add2", add2)
    .on_connect_failure(move |_| {
        f.fetch_add(1, Ordering::SeqCst);
    })
    .start();
    within(async {
        while failures.load(Ordering::SeqCst) < 2 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    assert!(handle.session().is_none());
    let router = TestRouter::start_on(port).await;
    let session = within(handle.joined()).await.unwrap();
    let caller = router.session().await;
    let sum: i64 = within(caller.call("com.test.add2", (20, 22), ()))
        .await
        .unwrap();
    assert_eq!(sum, 42);
    assert!(!session.is_closed());
    within(handle.stop()).await.unwrap();
}

#[tokio::test]
async fn component_gives_up_after_its_attempts() {
    let port = free_port();
    let handle = Component::new(ConnectOptions::new(
        format!("rs://127.0.0.1:{port}"),
        "realm1",
    ))
    .reconnect(fast_reconnect().max_attempts(2))
    .start();
    let stopped = within(handle.joined()).await.unwrap_err();
    assert!(stopped.0.is_some());
    match within(handle.wait()).await {
        Err(ComponentError::GaveUp { attempts, .. }) => assert_eq!(attempts, 3),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn component_fail_fast_reports_the_first_failure() {
    let port = free_port();
    let handle = Component::new(ConnectOptions::new(
        format!("rs://127.0.0.1:{port}"),
        "realm1",
    ))
    .fail_fast(true)
    .start();
    assert!(matches!(
        within(handle.wait()).await,
        Err(ComponentError::Connect(ConnectError::Transport(_)))
    ));
}

#[tokio::test]
async fn component_stops_on_a_refusal_and_on_its_own_leave() {
    let router = strict_realms_router().await;
    let refused = Component::new(ConnectOptions::new(router.ws_url(), "nowhere")).start();
    assert!(matches!(
        within(refused.wait()).await,
        Err(ComponentError::Connect(ConnectError::Aborted(_)))
    ));

    // Leaving from on_join ends the component: no reconnection.
    let handle = Component::new(ConnectOptions::new(router.ws_url(), "realm1"))
        .reconnect(fast_reconnect())
        .on_join(|session| async move {
            session.leave().await.unwrap();
        })
        .start();
    within(handle.wait()).await.unwrap();
}

#[tokio::test]
async fn component_declarations_that_fail_stop_it() {
    let router = TestRouter::start().await;
    let other = router.session().await;
    within(other.register("com.test.taken", add2))
        .await
        .unwrap();
    let handle = Component::new(router.options())
        .register("com.test.taken", add2)
        .start();
    match within(handle.wait()).await {
        Err(ComponentError::Register { procedure, .. }) => assert_eq!(procedure, "com.test.taken"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn component_handle_declarations_survive_reconnects() {
    let router = TestRouter::start().await;
    let port = router.addr.port();
    let handle = Component::new(router.options())
        .reconnect(fast_reconnect())
        .start();
    within(handle.joined()).await.unwrap();
    within(handle.register_with("com.test.late", RegisterOptions::new(), add2))
        .await
        .unwrap();
    let (tx, mut rx) = mpsc::unbounded_channel();
    within(handle.subscribe_with(
        "com.test.late_topic",
        SubscribeOptions::new(),
        move |ev: Event| {
            let tx = tx.clone();
            async move {
                let _ = tx.send(ev.decode::<i64>().unwrap());
            }
        },
    ))
    .await
    .unwrap();
    router.stop().await;
    let router = TestRouter::start_on(port).await;
    let caller = router.session().await;
    within(async {
        loop {
            match caller.call::<i64>("com.test.late", (1, 1), ()).await {
                Ok(sum) => break assert_eq!(sum, 2),
                Err(CallError::NoSuchProcedure { .. }) => {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                Err(e) => panic!("{e:?}"),
            }
        }
    })
    .await;
    within(caller.publish(
        "com.test.late_topic",
        (9,),
        (),
        switchboard_client::PublishOptions::new().acknowledge(true),
    ))
    .await
    .unwrap();
    assert_eq!(within(rx.recv()).await.unwrap(), 9);
    within(handle.stop()).await.unwrap();
}
