//! The blocking API, used from plain threads against the in-process router (which runs on
//! its own runtime here).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::mpsc;
use std::time::Duration;

use common::{TIMEOUT, TestRouter, free_port, strict_realms_router};
use switchboard_client::blocking::{Client, Error};
use switchboard_client::{
    ApplicationError, CallOutput, ConnectOptions, Format, Invocation, PublishOptions,
    ReconnectPolicy,
};

fn router_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap()
}

fn add2(inv: Invocation) -> Result<CallOutput, ApplicationError> {
    let (a, b): (i64, i64) = inv.args_as()?;
    if a + b > 100 {
        return Err(ApplicationError::new("com.myapp.error.overflow").with_arg("sum too large"));
    }
    Ok(CallOutput::value(a + b))
}

#[test]
fn register_and_subscribe_before_run_then_call_and_publish_from_threads() {
    let rt = router_runtime();
    let router = rt.block_on(TestRouter::start());

    let callee = Client::new(router.options()).unwrap();
    let (events_tx, events_rx) = mpsc::channel();
    callee.register("com.myapp.add2", add2).unwrap();
    callee
        .subscribe("com.myapp.oncounter", move |event| {
            events_tx.send(event.decode::<i64>().unwrap()).unwrap();
        })
        .unwrap();
    assert!(matches!(
        callee.call::<i64>("com.myapp.add2", (1, 2), ()),
        Err(Error::SessionNotReady)
    ));
    callee.run().unwrap();
    assert!(callee.is_running());
    assert!(matches!(callee.run(), Err(Error::AlreadyRunning)));

    let caller =
        Client::new(ConnectOptions::new(router.rs_url(), "realm1").serializer(Format::Cbor))
            .unwrap();
    caller.run().unwrap();
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let caller = caller.clone();
            std::thread::spawn(move || {
                for n in 0..10 {
                    let sum: i64 = caller.call("com.myapp.add2", (t, n), ()).unwrap();
                    assert_eq!(sum, t + n);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }

    for n in 0..5 {
        caller
            .publish_with(
                "com.myapp.oncounter",
                (n,),
                (),
                PublishOptions::new().acknowledge(true),
            )
            .unwrap();
    }
    for n in 0..5 {
        assert_eq!(events_rx.recv_timeout(TIMEOUT).unwrap(), n);
    }

    match caller.call::<i64>("com.myapp.add2", (99, 2), ()) {
        Err(Error::Application(e)) => {
            assert_eq!(e.uri, "com.myapp.error.overflow");
            assert_eq!(e.message(), Some("sum too large"));
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        caller.call::<i64>("com.myapp.nothing", (), ()),
        Err(Error::NoSuchProcedure(_))
    ));
    assert!(matches!(
        caller.call::<i64>("com..bad", (), ()),
        Err(Error::InvalidUri(_))
    ));
    assert!(matches!(
        caller.publish_with(
            "wamp.reserved",
            (),
            (),
            PublishOptions::new().acknowledge(true)
        ),
        Err(Error::NotAuthorized(_))
    ));

    caller.stop().unwrap();
    assert!(matches!(caller.stop(), Err(Error::NotRunning)));
    assert!(matches!(
        caller.call::<i64>("com.myapp.add2", (1, 2), ()),
        Err(Error::SessionNotReady)
    ));
    callee.stop().unwrap();
    rt.block_on(router.stop());
}

#[test]
fn a_blocking_handler_can_call_through_a_clone_of_its_client() {
    let rt = router_runtime();
    let router = rt.block_on(TestRouter::start());
    let client = Client::new(router.options()).unwrap();
    client.register("com.myapp.add2", add2).unwrap();
    let inner = client.clone();
    client
        .register("com.myapp.add3", move |inv| {
            let (a, b, c): (i64, i64, i64) = inv.args_as()?;
            let ab: i64 = inner
                .call("com.myapp.add2", (a, b), ())
                .map_err(ApplicationError::runtime_error)?;
            Ok(CallOutput::value(ab + c))
        })
        .unwrap();
    client.run().unwrap();
    let sum: i64 = client.call("com.myapp.add3", (1, 2, 3), ()).unwrap();
    assert_eq!(sum, 6);
    // Registering after run() registers at once.
    client
        .register("com.myapp.double", |inv| {
            let n: i64 = inv.arg(0)?;
            Ok(CallOutput::value(2 * n))
        })
        .unwrap();
    let d: i64 = client.call("com.myapp.double", (21,), ()).unwrap();
    assert_eq!(d, 42);
    client.stop().unwrap();
    rt.block_on(router.stop());
}

#[test]
fn run_reports_connection_failures_and_aborts() {
    let port = free_port();
    let client = Client::new(ConnectOptions::new(
        format!("ws://127.0.0.1:{port}/ws"),
        "realm1",
    ))
    .unwrap();
    assert!(matches!(client.run(), Err(Error::Connect(_))));
    assert!(!client.is_running());

    let rt = router_runtime();
    let router = rt.block_on(strict_realms_router());
    let client = Client::new(ConnectOptions::new(router.ws_url(), "nowhere")).unwrap();
    match client.run() {
        Err(Error::Abort(e)) => assert_eq!(e.uri, "wamp.error.no_such_realm"),
        other => panic!("{other:?}"),
    }
    rt.block_on(router.stop());
}

#[test]
fn the_blocking_client_reconnects_after_the_router_restarts() {
    let rt = router_runtime();
    let router = rt.block_on(TestRouter::start());
    let port = router.addr.port();
    let client = Client::new(router.options()).unwrap();
    client.set_reconnect(
        ReconnectPolicy::default().delays(Duration::from_millis(10), Duration::from_millis(100)),
    );
    client.register("com.myapp.add2", add2).unwrap();
    client.run().unwrap();
    assert_eq!(client.call::<i64>("com.myapp.add2", (1, 1), ()).unwrap(), 2);

    rt.block_on(router.stop());
    let router = rt.block_on(TestRouter::start_on(port));
    let deadline = std::time::Instant::now() + TIMEOUT;
    loop {
        match client.call::<i64>("com.myapp.add2", (2, 2), ()) {
            Ok(sum) => {
                assert_eq!(sum, 4);
                break;
            }
            Err(Error::SessionNotReady | Error::TransportLost) => {
                assert!(std::time::Instant::now() < deadline, "did not reconnect");
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(e) => panic!("{e:?}"),
        }
    }
    client.stop().unwrap();
    rt.block_on(router.stop());
}
