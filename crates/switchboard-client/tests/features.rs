//! Advanced Profile options and callee-side behaviour on the wire, against a scripted router
//! that announces exactly the features each test needs (or none).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::scripted::{Peer, scripted};
use common::within;
use futures_util::StreamExt as _;
use switchboard_client::{
    CallError, CallOptions, CallOutput, CancelMode, CloseKind, ConnectOptions, Dict, Feature,
    Format, Invocation, InvokePolicy, MatchPolicy, PublishError, PublishOptions, RegisterError,
    RegisterOptions, Session, SubscribeError, SubscribeOptions, Value,
};
use switchboard_proto::message::{
    CallResult, ErrorMessage, Event, Goodbye, Interrupt, Invocation as InvocationMsg, Message,
    Published, Registered, Subscribed, Unregistered, Unsubscribed, Welcome,
};
use switchboard_proto::names::MessageType;
use switchboard_proto::options::{
    CloseDetails, ErrorDetails, EventDetails, InterruptOptions, InvocationDetails, ResultDetails,
    UnregisteredDetails, UnsubscribedDetails, WelcomeDetails,
};
use switchboard_proto::{Id, Payload, dict};
use tokio::sync::oneshot;

/// Polls a future once.
async fn poll_once<F: std::future::Future + Unpin>(f: &mut F) -> std::task::Poll<F::Output> {
    std::future::poll_fn(|cx| std::task::Poll::Ready(std::pin::Pin::new(&mut *f).poll(cx))).await
}

fn id(n: u64) -> Id {
    Id::new(n).unwrap()
}

/// `roles` announcing `features` for both router roles.
fn roles(features: &[Feature]) -> Dict {
    let flags: Dict = features
        .iter()
        .map(|f| (f.as_str().to_owned(), Value::Bool(true)))
        .collect();
    dict! {
        "broker" => dict!{"features" => flags.clone()},
        "dealer" => dict!{"features" => flags},
    }
}

const ALL: &[Feature] = &[
    Feature::ProgressiveCallResults,
    Feature::CallCanceling,
    Feature::CallTimeout,
    Feature::CallerIdentification,
    Feature::PatternBasedRegistration,
    Feature::SharedRegistration,
    Feature::RegistrationRevocation,
    Feature::PatternBasedSubscription,
    Feature::PublisherExclusion,
    Feature::PublisherIdentification,
    Feature::SubscriberBlackwhiteListing,
    Feature::SubscriptionRevocation,
    Feature::EventRetention,
];

async fn connect(url: &str) -> Session {
    within(Session::connect(
        ConnectOptions::new(url, "realm1").serializer(Format::Cbor),
    ))
    .await
    .unwrap()
}

fn result(request: Id, progress: bool, n: u64) -> CallResult {
    CallResult {
        request,
        details: if progress {
            ResultDetails::default().with("progress", true)
        } else {
            ResultDetails::default()
        },
        payload: Payload::args(vec![Value::from(n)]),
    }
}

#[tokio::test]
async fn without_router_features_options_are_refused_or_left_out() {
    let (url, router) = scripted(|mut p: Peer| async move {
        p.hello().await;
        p.welcome_with_roles("anon", "anonymous", Dict::new(), roles(&[]))
            .await;
        let Message::Call(c) = p.next().await else {
            panic!()
        };
        assert_eq!(c.options.0, Dict::new(), "timeout and disclose_me left out");
        p.send(result(c.request, false, 1)).await;
        let Message::Call(c) = p.next().await else {
            panic!()
        };
        assert_eq!(c.options.0, Dict::new(), "receive_progress left out");
        p.send(result(c.request, false, 2)).await;
        let Message::Register(r) = p.next().await else {
            panic!()
        };
        assert_eq!(r.options.0, dict! {"concurrency" => 2u64});
        p.send(Registered {
            request: r.request,
            registration: id(5),
        })
        .await;
        let Message::Subscribe(s) = p.next().await else {
            panic!()
        };
        assert_eq!(s.options.0, Dict::new(), "get_retained left out");
        p.send(Subscribed {
            request: s.request,
            subscription: id(6),
        })
        .await;
        let Message::Publish(m) = p.next().await else {
            panic!()
        };
        assert_eq!(m.options.0, dict! {"acknowledge" => true});
        p.send(Published {
            request: m.request,
            publication: id(7),
        })
        .await;
        // An explicit cancel without call_canceling sends no CANCEL: next is this CALL, then
        // GOODBYE.
        let Message::Call(_) = p.next().await else {
            panic!()
        };
        p.serve_goodbye().await;
    })
    .await;
    let s = connect(&url).await;
    assert!(!s.details().dealer_has(Feature::CallCanceling));

    // Options that decide who receives a message are refused without sending anything.
    let refused = s
        .register_with(
            "com.x",
            RegisterOptions::new().match_policy(MatchPolicy::Prefix),
            |_| async { Ok(CallOutput::new()) },
        )
        .await
        .unwrap_err();
    assert_eq!(
        refused,
        RegisterError::FeatureNotSupported("pattern_based_registration")
    );
    let refused = s
        .register_with(
            "com.x",
            RegisterOptions::new().invoke(InvokePolicy::Random),
            |_| async { Ok(CallOutput::new()) },
        )
        .await
        .unwrap_err();
    assert_eq!(
        refused,
        RegisterError::FeatureNotSupported("shared_registration")
    );
    let refused = s
        .subscribe_stream(
            "com..x",
            SubscribeOptions::new().match_policy(MatchPolicy::Wildcard),
        )
        .await
        .unwrap_err();
    assert_eq!(
        refused,
        SubscribeError::FeatureNotSupported("pattern_based_subscription")
    );
    for options in [
        PublishOptions::new().exclude_me(false),
        PublishOptions::new().eligible([id(1)]),
        PublishOptions::new().exclude_authrole(["guest"]),
    ] {
        let e = s.publish("com.x", (), (), options).await.unwrap_err();
        assert!(matches!(e, PublishError::FeatureNotSupported(_)), "{e:?}");
    }

    // Best-effort options are left out.
    let r = within(
        s.call_with(
            "com.x",
            (),
            (),
            CallOptions::new()
                .timeout(Duration::from_secs(30))
                .disclose_me(true),
        ),
    )
    .await
    .unwrap();
    assert_eq!(r.decode::<u64>().unwrap(), 1);
    let all = within(
        s.call_progressive("com.x", (), (), CallOptions::new())
            .collect_all(),
    )
    .await
    .unwrap();
    assert_eq!(all.len(), 1);
    within(s.register_with(
        "com.x",
        RegisterOptions::new().disclose_caller(true).concurrency(2),
        |_| async { Ok(CallOutput::new()) },
    ))
    .await
    .unwrap();
    // Kept alive: dropping the stream would unsubscribe.
    let _events = within(s.subscribe_stream("com.x", SubscribeOptions::new().get_retained(true)))
        .await
        .unwrap();
    let publication = within(
        s.publish(
            "com.x",
            (),
            (),
            PublishOptions::new()
                .acknowledge(true)
                .retain(true)
                .disclose_me(true),
        ),
    )
    .await
    .unwrap();
    assert_eq!(publication, Some(id(7)));

    let mut call = s.call_with("com.x", (), (), CallOptions::new());
    assert!(poll_once(&mut call).await.is_pending());
    call.cancel(CancelMode::Kill);
    assert_eq!(within(call).await.unwrap_err(), CallError::Canceled);
    within(s.leave()).await.unwrap();
    within(router).await.unwrap();
}

#[tokio::test]
async fn announced_features_put_their_options_on_the_wire() {
    let (dropped_tx, dropped_rx) = oneshot::channel::<()>();
    let (got_call_tx, got_call_rx) = oneshot::channel::<()>();
    let (url, router) = scripted(move |mut p: Peer| async move {
        p.hello().await;
        p.welcome_with_roles("anon", "anonymous", Dict::new(), roles(ALL))
            .await;
        let Message::Call(c) = p.next().await else {
            panic!()
        };
        assert_eq!(
            c.options.0,
            dict! {"timeout" => 1500u64, "disclose_me" => true}
        );
        p.send(result(c.request, false, 0)).await;

        let Message::Call(c) = p.next().await else {
            panic!()
        };
        assert_eq!(c.options.0, dict! {"receive_progress" => true});
        p.send(result(c.request, true, 1)).await;
        p.send(result(c.request, true, 2)).await;
        p.send(result(c.request, false, 3)).await;

        let Message::Register(r) = p.next().await else {
            panic!()
        };
        assert_eq!(
            r.options.0,
            dict! {"match" => "prefix", "invoke" => "roundrobin", "disclose_caller" => true}
        );
        p.send(Registered {
            request: r.request,
            registration: id(5),
        })
        .await;

        let Message::Subscribe(s) = p.next().await else {
            panic!()
        };
        assert_eq!(
            s.options.0,
            dict! {"match" => "wildcard", "get_retained" => true}
        );
        p.send(Subscribed {
            request: s.request,
            subscription: id(6),
        })
        .await;

        let Message::Publish(m) = p.next().await else {
            panic!()
        };
        assert_eq!(
            m.options.0,
            dict! {
                "exclude_me" => false,
                "eligible" => vec![Value::from(3u64)],
                "exclude_authid" => vec![Value::from("mallory")],
                "retain" => true,
                "disclose_me" => true,
            }
        );

        // A dropped call is canceled with the default mode.
        let msg = p.next().await;
        let Message::Call(c) = msg else {
            panic!("expected CALL, got {msg:?}")
        };
        got_call_tx.send(()).unwrap();
        let Message::Cancel(x) = p.next().await else {
            panic!()
        };
        assert_eq!(x.request, c.request);
        assert_eq!(x.options.mode(), Some("killnowait"));
        dropped_tx.send(()).unwrap();
        // The late answer to the forgotten call is ignored by the client.
        p.send(ErrorMessage {
            request_type: MessageType::Call,
            request: c.request,
            details: ErrorDetails::default(),
            error: "wamp.error.canceled".into(),
            payload: Payload::empty(),
        })
        .await;

        // An explicit cancel carries its mode and waits for the router's answer.
        let Message::Call(c) = p.next().await else {
            panic!()
        };
        let Message::Cancel(x) = p.next().await else {
            panic!()
        };
        assert_eq!(x.options.mode(), Some("skip"));
        p.send(ErrorMessage {
            request_type: MessageType::Call,
            request: c.request,
            details: ErrorDetails::default(),
            error: "wamp.error.canceled".into(),
            payload: Payload::empty(),
        })
        .await;
        p.serve_goodbye().await;
    })
    .await;
    let s = connect(&url).await;
    within(
        s.call_with(
            "com.x",
            (),
            (),
            CallOptions::new()
                .timeout(Duration::from_millis(1500))
                .disclose_me(true),
        ),
    )
    .await
    .unwrap();
    let all = within(
        s.call_progressive("com.x", (), (), CallOptions::new())
            .collect_all(),
    )
    .await
    .unwrap();
    let seen: Vec<(bool, u64)> = all
        .iter()
        .map(|r| (r.is_progress(), r.decode::<u64>().unwrap()))
        .collect();
    assert_eq!(seen, [(true, 1), (true, 2), (false, 3)]);
    within(
        s.register_with(
            "com.x",
            RegisterOptions::new()
                .match_policy(MatchPolicy::Prefix)
                .invoke(InvokePolicy::RoundRobin)
                .disclose_caller(true),
            |_| async { Ok(CallOutput::new()) },
        ),
    )
    .await
    .unwrap();
    let _events = within(
        s.subscribe_stream(
            "com..x",
            SubscribeOptions::new()
                .match_policy(MatchPolicy::Wildcard)
                .get_retained(true),
        ),
    )
    .await
    .unwrap();
    within(
        s.publish(
            "com.x",
            (),
            (),
            PublishOptions::new()
                .exclude_me(false)
                .eligible([id(3)])
                .exclude_authid(["mallory"])
                .retain(true)
                .disclose_me(true),
        ),
    )
    .await
    .unwrap();

    let mut dropped = s.call_with("com.x", (), (), CallOptions::new());
    tokio::select! {
        r = &mut dropped => panic!("finished early: {r:?}"),
        r = got_call_rx => r.unwrap(),
    }
    drop(dropped);
    within(dropped_rx).await.unwrap();

    let mut call = s.call_with("com.x", (), (), CallOptions::new());
    assert!(poll_once(&mut call).await.is_pending());
    call.cancel(CancelMode::Skip);
    assert_eq!(within(call).await.unwrap_err(), CallError::Canceled);
    within(s.leave()).await.unwrap();
    within(router).await.unwrap();
}

fn invocation(
    request: u64,
    registration: u64,
    details: InvocationDetails,
    arg: &str,
) -> InvocationMsg {
    InvocationMsg {
        request: id(request),
        registration: id(registration),
        details,
        payload: Payload::args(vec![Value::from(arg)]),
    }
}

fn interrupt(request: u64, mode: &str) -> Interrupt {
    Interrupt {
        request: id(request),
        options: InterruptOptions::default().with("mode", mode),
    }
}

async fn expect_error(p: &mut Peer, request: u64, uri: &str) {
    match p.next().await {
        Message::Error(e) => {
            assert_eq!(e.request_type, MessageType::Invocation);
            assert_eq!(e.request, id(request));
            assert_eq!(e.error, uri);
        }
        other => panic!("expected ERROR for {request}, got {other:?}"),
    }
}

/// Callee side: INTERRUPT in both modes, callee-side timeout, unknown registrations,
/// progressive YIELDs, revocation, and a router GOODBYE.
#[tokio::test]
async fn the_callee_answers_interrupts_timeouts_and_revocations() {
    let (url, router) = scripted(|mut p: Peer| async move {
        p.hello().await;
        p.welcome_with_roles("anon", "anonymous", Dict::new(), roles(ALL))
            .await;
        let Message::Register(r) = p.next().await else {
            panic!()
        };
        p.send(Registered {
            request: r.request,
            registration: id(10),
        })
        .await;
        let Message::Register(r) = p.next().await else {
            panic!()
        };
        p.send(Registered {
            request: r.request,
            registration: id(11),
        })
        .await;

        // kill: the handler is dropped and the client answers canceled.
        p.send(invocation(1, 10, InvocationDetails::default(), "wait"))
            .await;
        p.send(interrupt(1, "kill")).await;
        expect_error(&mut p, 1, "wamp.error.canceled").await;
        // killnowait: nothing is answered (the next message is about invocation 3).
        p.send(invocation(2, 10, InvocationDetails::default(), "wait"))
            .await;
        p.send(interrupt(2, "killnowait")).await;
        // Callee-side timeout.
        p.send(invocation(
            3,
            10,
            InvocationDetails::default().with("timeout", 30u64),
            "wait",
        ))
        .await;
        expect_error(&mut p, 3, "wamp.error.timeout").await;
        // Unknown registration.
        p.send(invocation(4, 99, InvocationDetails::default(), "x"))
            .await;
        expect_error(&mut p, 4, "wamp.error.no_such_registration").await;
        // Progressive YIELDs, then the final one, with the concrete procedure.
        let details = InvocationDetails::default()
            .with("receive_progress", true)
            .with("procedure", "com.h.sub")
            .with("caller", 77u64);
        p.send(invocation(5, 10, details, "progress")).await;
        for expected in [Some(true), Some(true), None] {
            let Message::Yield(y) = p.next().await else {
                panic!()
            };
            assert_eq!(y.request, id(5));
            assert_eq!(y.options.progress(), expected);
        }
        // A kill INTERRUPT for a finished invocation is ignored.
        p.send(interrupt(5, "kill")).await;
        // Revocation of the stream registration ends the stream.
        p.send(Unregistered {
            request: None,
            details: Some(UnregisteredDetails::default().with("registration", 11u64)),
        })
        .await;
        // The router says goodbye.
        p.send(Goodbye {
            details: CloseDetails::default(),
            reason: "wamp.close.system_shutdown".into(),
        })
        .await;
        match p.next().await {
            Message::Goodbye(g) => assert_eq!(g.reason, "wamp.close.goodbye_and_out"),
            other => panic!("{other:?}"),
        }
        while p.recv().await.is_some() {}
    })
    .await;
    let s = connect(&url).await;
    within(s.register("com.h", |inv: Invocation| async move {
        match inv.arg::<String>(0)?.as_str() {
            "wait" => std::future::pending::<()>().await,
            "progress" => {
                assert_eq!(inv.procedure(), "com.h.sub");
                assert_eq!(inv.caller(), Some(id(77)));
                inv.progress((1,), ()).unwrap();
                inv.progress((2,), ()).unwrap();
            }
            _ => {}
        }
        Ok(CallOutput::value(3))
    }))
    .await
    .unwrap();
    let mut stream = within(s.register_stream("com.s", RegisterOptions::new()))
        .await
        .unwrap();
    assert!(
        within(stream.next()).await.is_none(),
        "revoked: the stream ends"
    );
    let info = within(s.closed()).await;
    assert_eq!(info.kind, CloseKind::Goodbye);
    assert_eq!(info.reason, "wamp.close.system_shutdown");
    within(router).await.unwrap();
}

#[tokio::test]
async fn subscription_revocation_ends_the_event_stream() {
    let (url, router) = scripted(|mut p: Peer| async move {
        p.hello().await;
        p.welcome_with_roles("anon", "anonymous", Dict::new(), roles(ALL))
            .await;
        let Message::Subscribe(s) = p.next().await else {
            panic!()
        };
        p.send(Subscribed {
            request: s.request,
            subscription: id(6),
        })
        .await;
        p.send(Event {
            subscription: id(6),
            publication: id(100),
            details: EventDetails::default().with("publisher", 9u64),
            payload: Payload::args(vec![Value::from(1u64)]),
        })
        .await;
        p.send(Unsubscribed {
            request: None,
            details: Some(UnsubscribedDetails::default().with("subscription", 6u64)),
        })
        .await;
        p.serve_goodbye().await;
    })
    .await;
    let s = connect(&url).await;
    let mut events = within(s.subscribe_stream("com.t", SubscribeOptions::new()))
        .await
        .unwrap();
    let ev = within(events.next()).await.unwrap();
    assert_eq!(ev.publication, id(100));
    assert_eq!(ev.publisher(), Some(id(9)));
    assert!(within(events.next()).await.is_none());
    within(s.leave()).await.unwrap();
    within(router).await.unwrap();
}

#[tokio::test]
async fn a_second_welcome_is_a_protocol_violation_answered_with_abort() {
    let (url, router) = scripted(|mut p: Peer| async move {
        p.hello().await;
        p.welcome("anon", "anonymous", Dict::new()).await;
        p.send(Welcome {
            session: id(1),
            details: WelcomeDetails::default(),
        })
        .await;
        match p.next().await {
            Message::Abort(a) => assert_eq!(a.reason, "wamp.error.protocol_violation"),
            other => panic!("{other:?}"),
        }
        while p.recv().await.is_some() {}
    })
    .await;
    let s = connect(&url).await;
    let info = within(s.closed()).await;
    assert_eq!(info.kind, CloseKind::Aborted);
    assert!(matches!(
        within(s.call::<()>("com.x", (), ())).await.unwrap_err(),
        CallError::ProtocolViolation(_)
    ));
    within(router).await.unwrap();
}
