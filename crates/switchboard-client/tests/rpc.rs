//! Calls and registrations against the in-process router.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::{TestRouter, within};
use futures_util::StreamExt as _;
use serde::{Deserialize, Serialize};
use switchboard_client::{
    ApplicationError, CallError, CallOptions, CallOutput, CallResult, CancelMode, Format,
    Invocation, InvokePolicy, MatchPolicy, RegisterError, RegisterOptions, Session,
    UnregisterError, Value,
};
use switchboard_proto::dict;

async fn add2(inv: Invocation) -> Result<CallOutput, ApplicationError> {
    let (a, b): (i64, i64) = inv.args_as()?;
    Ok(CallOutput::value(a + b))
}

#[derive(Serialize, Deserialize, Debug, PartialEq, Clone)]
struct Order {
    item: String,
    quantity: u32,
    express: bool,
    notes: Option<String>,
}

#[derive(Serialize, Deserialize, Debug, PartialEq)]
struct Receipt {
    id: u64,
    total_cents: i64,
    echoed: Order,
}

async fn place_order(inv: Invocation) -> Result<CallOutput, ApplicationError> {
    let customer: String = inv.arg(0)?;
    let order: Order = inv.kwargs_as()?;
    if order.quantity == 0 {
        return Err(ApplicationError::new("com.shop.error.empty_order")
            .with_arg(format!("{customer} ordered nothing"))
            .with_kwarg("item", &order.item));
    }
    Ok(CallOutput::args((customer.len(),)).with_kwargs(Receipt {
        id: 7,
        total_cents: i64::from(order.quantity) * 250,
        echoed: order,
    }))
}

/// Every serializer, over WebSocket and RawSocket, with positional and keyword arguments,
/// typed structs both ways, and the callee and caller on different serializers (the router
/// transcodes).
#[tokio::test]
async fn call_with_args_and_kwargs_over_every_serializer_and_transport() {
    let router = TestRouter::start().await;
    let formats = [Format::Json, Format::MessagePack, Format::Cbor];
    for (i, callee_format) in formats.into_iter().enumerate() {
        let callee = router.session_with(&router.rs_url(), callee_format).await;
        let add = format!("com.test.add2.{i}");
        let order = format!("com.test.order.{i}");
        within(callee.register(&add, add2)).await.unwrap();
        within(callee.register(&order, place_order)).await.unwrap();
        for caller_format in formats {
            for url in [router.ws_url(), router.rs_url()] {
                let caller = router.session_with(&url, caller_format).await;
                let sum: i64 = within(caller.call(&add, (2, 3), ())).await.unwrap();
                assert_eq!(sum, 5, "{caller_format:?} via {url}");
                let big: i64 = within(caller.call(&add, (i64::MAX - 1, 1), ()))
                    .await
                    .unwrap();
                assert_eq!(big, i64::MAX);
                let negative: i64 = within(caller.call(&add, [-10, 3], ())).await.unwrap();
                assert_eq!(negative, -7);

                let o = Order {
                    item: "päper clips ✓".into(),
                    quantity: 4,
                    express: true,
                    notes: None,
                };
                let result = within(caller.call_with(&order, ("alice",), &o, CallOptions::new()))
                    .await
                    .unwrap();
                assert_eq!(result.arg::<usize>(0).unwrap(), 5);
                let receipt: Receipt = result.kwargs_as().unwrap();
                assert_eq!(
                    receipt,
                    Receipt {
                        id: 7,
                        total_cents: 1000,
                        echoed: o.clone()
                    }
                );
                within(caller.leave()).await.unwrap();
            }
        }
        within(callee.leave()).await.unwrap();
    }
    router.stop().await;
}

#[tokio::test]
async fn binary_arguments_survive_json_and_binary_serializers() {
    let router = TestRouter::start().await;
    let callee = router.session_with(&router.ws_url(), Format::Json).await;
    within(
        callee.register("com.test.echo", |inv: Invocation| async move {
            Ok(CallOutput::from_values(
                inv.args().to_vec(),
                inv.kwargs().clone(),
            ))
        }),
    )
    .await
    .unwrap();
    let bytes = Value::Bytes(bytes::Bytes::from_static(b"\x00\x01\xfe\xff"));
    for format in [Format::Json, Format::MessagePack, Format::Cbor] {
        let caller = router.session_with(&router.rs_url(), format).await;
        let r: CallResult = within(caller.call_with(
            "com.test.echo",
            vec![bytes.clone(), Value::Float(0.5), Value::Null],
            dict! {"nested" => dict!{"list" => vec![Value::Bool(true)]}},
            CallOptions::new(),
        ))
        .await
        .unwrap();
        assert_eq!(r.args, vec![bytes.clone(), Value::Float(0.5), Value::Null]);
        assert_eq!(
            r.kwargs,
            dict! {"nested" => dict!{"list" => vec![Value::Bool(true)]}}
        );
    }
}

#[tokio::test]
async fn application_errors_carry_uri_args_and_kwargs_to_the_caller() {
    let router = TestRouter::start().await;
    let callee = router.session().await;
    let caller = router.session_with(&router.rs_url(), Format::Cbor).await;
    within(callee.register("com.shop.order", place_order))
        .await
        .unwrap();
    let empty = Order {
        item: "nothing".into(),
        quantity: 0,
        express: false,
        notes: Some("n".into()),
    };
    let err = within(caller.call::<Value>("com.shop.order", ("bob",), &empty))
        .await
        .unwrap_err();
    let CallError::Application(app) = err else {
        panic!("expected an application error, got {err:?}");
    };
    assert_eq!(app.uri, "com.shop.error.empty_order");
    assert_eq!(app.message(), Some("bob ordered nothing"));
    assert_eq!(app.kwargs, dict! {"item" => "nothing"});

    // Arguments of the wrong shape: the callee's decoding error reaches the caller.
    let err = within(caller.call::<i64>("com.shop.order", (1, 2, 3), ()))
        .await
        .unwrap_err();
    match err {
        CallError::Application(a) => assert_eq!(a.uri, "wamp.error.invalid_argument"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_result_that_does_not_fit_the_requested_type_is_a_decode_error() {
    let router = TestRouter::start().await;
    let s = router.session().await;
    within(s.register("com.test.add2", add2)).await.unwrap();
    let err = within(s.call::<String>("com.test.add2", (1, 2), ()))
        .await
        .unwrap_err();
    assert!(matches!(err, CallError::Decode(_)), "{err:?}");
}

#[tokio::test]
async fn calling_an_unregistered_procedure_is_no_such_procedure() {
    let router = TestRouter::start().await;
    let s = router.session().await;
    let err = within(s.call::<()>("com.test.nobody", (), ()))
        .await
        .unwrap_err();
    assert_eq!(
        err,
        CallError::NoSuchProcedure {
            procedure: "com.test.nobody".into()
        }
    );
}

#[tokio::test]
async fn invalid_uris_are_refused_before_sending() {
    let router = TestRouter::start().await;
    let s = router.session().await;
    let err = within(s.call::<()>("com..bad", (), ())).await.unwrap_err();
    assert!(matches!(err, CallError::InvalidUri(_)), "{err:?}");
    let err = within(s.register("has space", add2)).await.unwrap_err();
    assert!(matches!(err, RegisterError::InvalidUri(_)), "{err:?}");
    // The session is still fine afterwards.
    within(s.register("com.test.add2", add2)).await.unwrap();
    let sum: i64 = within(s.call("com.test.add2", (1, 1), ())).await.unwrap();
    assert_eq!(sum, 2);
}

#[tokio::test]
async fn registering_twice_is_procedure_already_exists() {
    let router = TestRouter::start().await;
    let a = router.session().await;
    let b = router.session().await;
    within(a.register("com.test.once", add2)).await.unwrap();
    let err = within(b.register("com.test.once", add2)).await.unwrap_err();
    assert_eq!(
        err,
        RegisterError::ProcedureAlreadyExists {
            procedure: "com.test.once".into()
        }
    );
}

#[tokio::test]
async fn reserved_procedures_are_not_authorized() {
    let router = TestRouter::start().await;
    let s = router.session().await;
    let err = within(s.register("wamp.mine", add2)).await.unwrap_err();
    assert!(matches!(err, RegisterError::NotAuthorized(_)), "{err:?}");
}

#[tokio::test]
async fn unregister_removes_the_procedure() {
    let router = TestRouter::start().await;
    let callee = router.session().await;
    let caller = router.session().await;
    let reg = within(callee.register("com.test.add2", add2))
        .await
        .unwrap();
    assert_eq!(reg.procedure(), "com.test.add2");
    let again = reg.clone();
    within(reg.unregister()).await.unwrap();
    let err = within(caller.call::<i64>("com.test.add2", (1, 2), ()))
        .await
        .unwrap_err();
    assert!(matches!(err, CallError::NoSuchProcedure { .. }), "{err:?}");
    assert_eq!(
        within(again.unregister()).await.unwrap_err(),
        UnregisterError::NoSuchRegistration
    );
    // It can be registered again.
    within(callee.register("com.test.add2", add2))
        .await
        .unwrap();
}

#[tokio::test]
async fn invocations_as_a_stream() {
    let router = TestRouter::start().await;
    let callee = router.session().await;
    let caller = router.session().await;
    let mut invocations = within(callee.register_stream("com.test.stream", RegisterOptions::new()))
        .await
        .unwrap();
    let serve = tokio::spawn(async move {
        let mut served = 0;
        while let Some(req) = invocations.next().await {
            let n: i64 = req.arg(0).unwrap();
            if n < 0 {
                req.reply(Err(ApplicationError::new("com.test.negative")));
            } else {
                req.reply(Ok(CallOutput::value(n * 10)));
            }
            served += 1;
            if served == 3 {
                break;
            }
        }
        // Dropping the stream unregisters.
        drop(invocations);
    });
    let a: i64 = within(caller.call("com.test.stream", (1,), ()))
        .await
        .unwrap();
    let b: i64 = within(caller.call("com.test.stream", (2,), ()))
        .await
        .unwrap();
    assert_eq!((a, b), (10, 20));
    let err = within(caller.call::<i64>("com.test.stream", (-1,), ()))
        .await
        .unwrap_err();
    assert!(matches!(err, CallError::Application(ref a) if a.uri == "com.test.negative"));
    within(serve).await.unwrap();
    // Unregistration follows the stream's drop; wait until the router has it.
    within(async {
        loop {
            match caller.call::<i64>("com.test.stream", (1,), ()).await {
                Err(CallError::NoSuchProcedure { .. }) => break,
                _ => tokio::time::sleep(Duration::from_millis(10)).await,
            }
        }
    })
    .await;
}

#[tokio::test]
async fn an_invocation_dropped_unanswered_fails_the_call() {
    let router = TestRouter::start().await;
    let callee = router.session().await;
    let caller = router.session().await;
    let mut invocations = within(callee.register_stream("com.test.drop", RegisterOptions::new()))
        .await
        .unwrap();
    tokio::spawn(async move {
        while let Some(req) = invocations.next().await {
            drop(req);
        }
    });
    let err = within(caller.call::<()>("com.test.drop", (), ()))
        .await
        .unwrap_err();
    assert!(
        matches!(err, CallError::Application(ref a) if a.uri == "wamp.error.runtime_error"),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_panicking_handler_answers_runtime_error_and_keeps_serving() {
    let router = TestRouter::start().await;
    let s = router.session().await;
    within(s.register("com.test.panic", |inv: Invocation| async move {
        let n: i64 = inv.arg(0)?;
        assert!(n != 13, "unlucky number");
        Ok(CallOutput::value(n))
    }))
    .await
    .unwrap();
    let err = within(s.call::<i64>("com.test.panic", (13,), ()))
        .await
        .unwrap_err();
    match err {
        CallError::Application(a) => {
            assert_eq!(a.uri, "wamp.error.runtime_error");
            assert!(a.message().unwrap().contains("unlucky"), "{a}");
        }
        other => panic!("{other:?}"),
    }
    let ok: i64 = within(s.call("com.test.panic", (12,), ())).await.unwrap();
    assert_eq!(ok, 12);
}

#[tokio::test]
async fn many_concurrent_calls_each_get_their_own_result() {
    let router = TestRouter::start().await;
    let callee = router.session().await;
    let caller = router
        .session_with(&router.rs_url(), Format::MessagePack)
        .await;
    within(
        callee.register("com.test.slow_echo", |inv: Invocation| async move {
            let n: u64 = inv.arg(0)?;
            // Finish out of order.
            tokio::time::sleep(Duration::from_millis(n % 7)).await;
            Ok(CallOutput::value(n))
        }),
    )
    .await
    .unwrap();
    let calls = (0..200u64).map(|n| {
        let caller = caller.clone();
        async move { (n, caller.call::<u64>("com.test.slow_echo", (n,), ()).await) }
    });
    let results = within(futures_util::future::join_all(calls)).await;
    for (n, r) in results {
        assert_eq!(r.unwrap(), n);
    }
}

#[tokio::test]
async fn a_handler_can_call_other_procedures() {
    let router = TestRouter::start().await;
    let s = router.session().await;
    within(s.register("com.test.add2", add2)).await.unwrap();
    let inner = s.clone();
    within(s.register("com.test.add3", move |inv: Invocation| {
        let session = inner.clone();
        async move {
            let (a, b, c): (i64, i64, i64) = inv.args_as()?;
            let ab: i64 = session
                .call("com.test.add2", (a, b), ())
                .await
                .map_err(ApplicationError::runtime_error)?;
            Ok(CallOutput::value(ab + c))
        }
    }))
    .await
    .unwrap();
    let caller = router.session().await;
    let sum: i64 = within(caller.call("com.test.add3", (1, 2, 3), ()))
        .await
        .unwrap();
    assert_eq!(sum, 6);
    within(s.leave()).await.unwrap();
}

#[tokio::test]
async fn a_call_without_an_answer_times_out() {
    let router = TestRouter::start().await;
    let callee = router.session().await;
    let caller = router.session().await;
    within(
        callee.register("com.test.never", |_inv: Invocation| async move {
            std::future::pending::<()>().await;
            Ok(CallOutput::new())
        }),
    )
    .await
    .unwrap();
    let err = within(caller.call_with(
        "com.test.never",
        (),
        (),
        CallOptions::new().timeout(Duration::from_millis(50)),
    ))
    .await
    .unwrap_err();
    assert_eq!(err, CallError::Timeout);
    // The session is still usable.
    within(callee.register("com.test.add2", add2))
        .await
        .unwrap();
    let sum: i64 = within(caller.call("com.test.add2", (1, 2), ()))
        .await
        .unwrap();
    assert_eq!(sum, 3);
}

#[tokio::test]
async fn dropping_a_call_does_not_disturb_later_calls() {
    let router = TestRouter::start().await;
    let callee = router.session().await;
    let caller = router.session().await;
    let release = Arc::new(tokio::sync::Notify::new());
    let started = Arc::new(tokio::sync::Notify::new());
    let (r, s) = (release.clone(), started.clone());
    within(callee.register("com.test.gate", move |_inv: Invocation| {
        let (r, s) = (r.clone(), s.clone());
        async move {
            s.notify_one();
            r.notified().await;
            Ok(CallOutput::value("late"))
        }
    }))
    .await
    .unwrap();
    within(callee.register("com.test.add2", add2))
        .await
        .unwrap();
    let call = caller.call_with("com.test.gate", (), (), CallOptions::new());
    let pending = tokio::spawn(call);
    within(started.notified()).await;
    pending.abort();
    let _ = pending.await;
    release.notify_one();
    // Later calls are unaffected by the late RESULT.
    for n in 0..5 {
        let sum: i64 = within(caller.call("com.test.add2", (n, 1), ()))
            .await
            .unwrap();
        assert_eq!(sum, n + 1);
    }
}

#[tokio::test]
async fn explicit_cancel_fails_the_call_with_canceled() {
    let router = TestRouter::start().await;
    let callee = router.session().await;
    let caller = router.session().await;
    let started = Arc::new(tokio::sync::Notify::new());
    let s = started.clone();
    within(
        callee.register("com.test.forever", move |_inv: Invocation| {
            let s = s.clone();
            async move {
                s.notify_one();
                std::future::pending::<()>().await;
                Ok(CallOutput::new())
            }
        }),
    )
    .await
    .unwrap();
    let mut call = caller.call_with("com.test.forever", (), (), CallOptions::new());
    // Drive the call until the callee has it.
    tokio::select! {
        r = &mut call => panic!("finished early: {r:?}"),
        () = started.notified() => {}
    }
    call.cancel(CancelMode::Kill);
    assert_eq!(within(call).await.unwrap_err(), CallError::Canceled);
}

#[tokio::test]
async fn a_progressive_call_ends_with_the_final_result() {
    let router = TestRouter::start().await;
    let callee = router.session().await;
    let caller = router.session().await;
    within(
        callee.register("com.test.count", |inv: Invocation| async move {
            let n: u32 = inv.arg(0)?;
            for i in 0..n {
                // Refused unless the caller asked and the router forwarded the request.
                let _ = inv.progress((i,), ());
            }
            Ok(CallOutput::value(n))
        }),
    )
    .await
    .unwrap();
    let results = within(
        caller
            .call_progressive("com.test.count", (3,), (), CallOptions::new())
            .collect_all(),
    )
    .await
    .unwrap();
    let router_has_pcr = caller
        .details()
        .dealer_has(switchboard_proto::names::Feature::ProgressiveCallResults);
    if !router_has_pcr {
        assert_eq!(results.len(), 1);
    }
    let last = results.last().unwrap();
    assert!(!last.is_progress());
    assert_eq!(last.decode::<u32>().unwrap(), 3);
}

#[tokio::test]
async fn a_callee_leaving_fails_the_pending_call() {
    let router = TestRouter::start().await;
    let callee = router.session().await;
    let caller = router.session().await;
    let started = Arc::new(tokio::sync::Notify::new());
    let s = started.clone();
    within(callee.register("com.test.hang", move |_inv: Invocation| {
        let s = s.clone();
        async move {
            s.notify_one();
            std::future::pending::<()>().await;
            Ok(CallOutput::new())
        }
    }))
    .await
    .unwrap();
    let call = tokio::spawn({
        let caller = caller.clone();
        async move { caller.call::<()>("com.test.hang", (), ()).await }
    });
    within(started.notified()).await;
    within(callee.leave()).await.unwrap();
    let err = within(call).await.unwrap().unwrap_err();
    assert_eq!(err, CallError::Canceled);
}

#[tokio::test]
async fn leaving_fails_pending_and_later_calls_with_session_closed() {
    let router = TestRouter::start().await;
    let callee = router.session().await;
    let caller = router.session().await;
    let started = Arc::new(tokio::sync::Notify::new());
    let s = started.clone();
    within(callee.register("com.test.hang", move |_inv: Invocation| {
        let s = s.clone();
        async move {
            s.notify_one();
            std::future::pending::<()>().await;
            Ok(CallOutput::new())
        }
    }))
    .await
    .unwrap();
    let call = tokio::spawn({
        let caller = caller.clone();
        async move { caller.call::<()>("com.test.hang", (), ()).await }
    });
    within(started.notified()).await;
    let info = within(caller.leave()).await.unwrap();
    assert_eq!(info.kind, switchboard_client::CloseKind::Left);
    assert_eq!(
        within(call).await.unwrap().unwrap_err(),
        CallError::SessionClosed
    );
    assert_eq!(
        within(caller.call::<()>("com.test.hang", (), ()))
            .await
            .unwrap_err(),
        CallError::SessionClosed
    );
    assert!(caller.is_closed());
}

#[tokio::test]
async fn handlers_run_concurrently() {
    let router = TestRouter::start().await;
    let callee = router.session().await;
    let caller = router.session().await;
    let inside = Arc::new(AtomicUsize::new(0));
    let both = Arc::new(tokio::sync::Barrier::new(2));
    let (i, b) = (inside.clone(), both.clone());
    within(
        callee.register("com.test.rendezvous", move |_inv: Invocation| {
            let (i, b) = (i.clone(), b.clone());
            async move {
                i.fetch_add(1, Ordering::SeqCst);
                // Only returns when two invocations are in the handler at the same time.
                b.wait().await;
                Ok(CallOutput::new())
            }
        }),
    )
    .await
    .unwrap();
    let (x, y) = within(futures_util::future::join(
        caller.call::<()>("com.test.rendezvous", (), ()),
        caller.call::<()>("com.test.rendezvous", (), ()),
    ))
    .await;
    x.unwrap();
    y.unwrap();
    assert_eq!(inside.load(Ordering::SeqCst), 2);
}

// -------------------------------------------------------------------------------------------
// Advanced Profile features (the router announces them; `features.rs` covers routers that do
// not).
// -------------------------------------------------------------------------------------------

async fn progress_counter(inv: Invocation) -> Result<CallOutput, ApplicationError> {
    let n: u32 = inv.arg(0)?;
    for i in 0..n {
        inv.progress((i,), ())
            .map_err(ApplicationError::runtime_error)?;
    }
    Ok(CallOutput::value(n))
}

#[tokio::test]
async fn progressive_results_arrive_in_order_before_the_final_one() {
    let router = TestRouter::start().await;
    let callee = router.session().await;
    let caller = router.session().await;
    within(callee.register("com.test.progress", progress_counter))
        .await
        .unwrap();
    let results = within(
        caller
            .call_progressive("com.test.progress", (4,), (), CallOptions::new())
            .collect_all(),
    )
    .await
    .unwrap();
    let values: Vec<(bool, u32)> = results
        .iter()
        .map(|r| (r.is_progress(), r.arg::<u32>(0).unwrap()))
        .collect();
    assert_eq!(
        values,
        vec![(true, 0), (true, 1), (true, 2), (true, 3), (false, 4)]
    );
}

#[tokio::test]
async fn cancel_kill_interrupts_the_handler_and_the_caller_gets_canceled() {
    let router = TestRouter::start().await;
    let callee = router.session().await;
    let caller = router.session().await;
    let started = Arc::new(tokio::sync::Notify::new());
    let dropped = Arc::new(tokio::sync::Notify::new());
    let (s, d) = (started.clone(), dropped.clone());
    within(
        callee.register("com.test.forever", move |_inv: Invocation| {
            let (s, d) = (s.clone(), d.clone());
            async move {
                struct OnDrop(Arc<tokio::sync::Notify>);
                impl Drop for OnDrop {
                    fn drop(&mut self) {
                        self.0.notify_one();
                    }
                }
                let _guard = OnDrop(d);
                s.notify_one();
                std::future::pending::<()>().await;
                Ok(CallOutput::new())
            }
        }),
    )
    .await
    .unwrap();
    let mut call = caller.call_with("com.test.forever", (), (), CallOptions::new());
    tokio::select! {
        r = &mut call => panic!("finished early: {r:?}"),
        () = started.notified() => {}
    }
    call.cancel(CancelMode::Kill);
    assert_eq!(within(call).await.unwrap_err(), CallError::Canceled);
    within(dropped.notified()).await;
}

#[tokio::test]
async fn dropping_a_call_interrupts_the_callee() {
    let router = TestRouter::start().await;
    let callee = router.session().await;
    let caller = router.session().await;
    let mut invocations =
        within(callee.register_stream("com.test.forever", RegisterOptions::new()))
            .await
            .unwrap();
    let call = tokio::spawn({
        let caller = caller.clone();
        async move { caller.call::<()>("com.test.forever", (), ()).await }
    });
    let req = within(invocations.next()).await.unwrap();
    call.abort();
    within(req.interrupted()).await;
    assert!(req.is_interrupted());
}

#[tokio::test]
async fn disclose_me_shows_the_caller_to_the_callee() {
    let router = TestRouter::start().await;
    let callee = router.session().await;
    let caller = router.session().await;
    within(
        callee.register("com.test.whoami", |inv: Invocation| async move {
            Ok(CallOutput::value(inv.caller().map(|c| c.get())))
        }),
    )
    .await
    .unwrap();
    let r = within(caller.call_with(
        "com.test.whoami",
        (),
        (),
        CallOptions::new().disclose_me(true),
    ))
    .await
    .unwrap();
    assert_eq!(r.decode::<Option<u64>>().unwrap(), Some(caller.id().get()));
}

#[tokio::test]
async fn prefix_registration_receives_the_concrete_procedure() {
    let router = TestRouter::start().await;
    let callee = router.session().await;
    let caller = router.session().await;
    within(callee.register_with(
        "com.test.obj",
        RegisterOptions::new().match_policy(MatchPolicy::Prefix),
        |inv: Invocation| async move { Ok(CallOutput::value(inv.procedure().to_owned())) },
    ))
    .await
    .unwrap();
    let p: String = within(caller.call("com.test.obj.a.b", (), ()))
        .await
        .unwrap();
    assert_eq!(p, "com.test.obj.a.b");
}

#[tokio::test]
async fn round_robin_registration_alternates_callees() {
    let router = TestRouter::start().await;
    let a = router.session().await;
    let b = router.session().await;
    let caller = router.session().await;
    for (s, name) in [(&a, "a"), (&b, "b")] {
        within(s.register_with(
            "com.test.rr",
            RegisterOptions::new().invoke(InvokePolicy::RoundRobin),
            move |_inv: Invocation| async move { Ok(CallOutput::value(name)) },
        ))
        .await
        .unwrap();
    }
    let mut seen = Vec::new();
    for _ in 0..4 {
        seen.push(
            within(caller.call::<String>("com.test.rr", (), ()))
                .await
                .unwrap(),
        );
    }
    assert_eq!(seen, ["a", "b", "a", "b"]);
}

#[tokio::test]
async fn router_side_timeout_is_reported_as_timeout() {
    let router = TestRouter::start().await;
    let callee = router.session().await;
    let caller = router.session().await;
    within(
        callee.register("com.test.never", |_inv: Invocation| async move {
            std::future::pending::<()>().await;
            Ok(CallOutput::new())
        }),
    )
    .await
    .unwrap();
    let err = within(caller.call_with(
        "com.test.never",
        (),
        (),
        CallOptions::new().timeout(Duration::from_millis(100)),
    ))
    .await
    .unwrap_err();
    assert_eq!(err, CallError::Timeout);
}

/// Compile-time check: the handle and the futures can move between tasks.
#[allow(dead_code)]
fn handles_are_send_and_sync(s: Session) {
    fn assert_send<T: Send>(_: &T) {}
    fn assert_sync<T: Sync>(_: &T) {}
    assert_sync(&s);
    let call = s.call_with("a.b", (), (), CallOptions::new());
    assert_send(&call);
    let typed = s.call::<i64>("a.b", (), ());
    assert_send(&typed);
}
