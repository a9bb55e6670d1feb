//! Every Basic Profile flow and error, stepped in memory (wamp-spec §3, §4, §9).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod harness;

use std::sync::atomic::Ordering;

use harness::*;
use switchboard_engine::{EngineConfig, KillReason, Router, SlowConsumerPolicy};
use switchboard_proto::message::*;
use switchboard_proto::options::*;
use switchboard_proto::{Format, Message, Payload, Value, dict};

// ---- session lifecycle ----

#[test]
fn hello_gets_welcome_with_a_random_session_id_and_router_roles() {
    let r = router();
    let a = Client::joined(&r, Format::Json, "realm1");
    let b = Client::joined(&r, Format::Json, "realm1");
    assert_ne!(a.session_id(), b.session_id());
    assert_eq!(r.session_count(), 2);
    let mut c = Client::connect(&r, Format::Cbor);
    c.send(Hello {
        realm: "realm1".into(),
        details: HelloDetails::default().with("roles", roles(&[])),
    });
    let Some(Message::Welcome(w)) = c.recv() else {
        panic!("no WELCOME")
    };
    let roles = w.details.roles().unwrap();
    assert!(roles.contains_key("broker") && roles.contains_key("dealer"));
    assert_eq!(w.details.authrole(), Some("anonymous"));
    assert_eq!(w.details.authmethod(), Some("anonymous"));
}

#[test]
fn a_message_before_hello_is_a_protocol_violation() {
    let r = router();
    let mut c = Client::connect(&r, Format::Json);
    c.send(Subscribe {
        request: id(1),
        options: Default::default(),
        topic: "com.x".into(),
    });
    c.expect_abort("wamp.error.protocol_violation");
}

#[test]
fn a_second_hello_is_a_protocol_violation_and_leaves_nothing_behind() {
    let r = router();
    let mut c = Client::joined(&r, Format::Json, "realm1");
    c.register("com.example.p");
    c.send(Hello {
        realm: "realm1".into(),
        details: HelloDetails::default().with("roles", roles(&[])),
    });
    c.expect_abort("wamp.error.protocol_violation");
    assert_eq!(r.session_count(), 0);
    let mut d = Client::joined(&r, Format::Json, "realm1");
    d.register("com.example.p");
}

#[test]
fn hello_without_roles_is_a_protocol_violation() {
    let r = router();
    let mut c = Client::connect(&r, Format::Json);
    c.send(Hello {
        realm: "realm1".into(),
        details: HelloDetails::default().with("roles", dict! {}),
    });
    c.expect_abort("wamp.error.protocol_violation");
}

#[test]
fn unknown_realms_are_created_in_development_mode_and_refused_otherwise() {
    let r = router();
    Client::joined(&r, Format::Json, "com.example.realm");
    assert!(r.realm_names().contains(&"com.example.realm".to_string()));

    let strict = Router::new(EngineConfig {
        auto_realms: false,
        ..EngineConfig::default()
    });
    let mut c = Client::connect(&strict, Format::Json);
    c.send(Hello {
        realm: "com.example.realm".into(),
        details: HelloDetails::default().with("roles", roles(&[])),
    });
    c.expect_abort("wamp.error.no_such_realm");
}

#[test]
fn an_invalid_realm_uri_is_aborted() {
    let r = router();
    let mut c = Client::connect(&r, Format::Json);
    c.send(Hello {
        realm: "bad realm".into(),
        details: HelloDetails::default().with("roles", roles(&[])),
    });
    c.expect_abort("wamp.error.invalid_uri");
}

#[test]
fn goodbye_is_answered_and_the_transport_can_carry_a_new_session() {
    let r = router();
    let mut c = Client::joined(&r, Format::MessagePack, "realm1");
    let first = c.session_id();
    c.subscribe("com.example.t");
    c.send(Goodbye {
        details: Default::default(),
        reason: "wamp.close.close_realm".into(),
    });
    match c.recv() {
        Some(Message::Goodbye(g)) => assert_eq!(g.reason, "wamp.close.goodbye_and_out"),
        other => panic!("expected GOODBYE, got {other:?}"),
    }
    assert_eq!(r.session_count(), 0);
    assert!(
        r.realm("realm1")
            .unwrap()
            .broker
            .matching("com.example.t")
            .is_empty()
    );
    c.send(Hello {
        realm: "realm1".into(),
        details: HelloDetails::default().with("roles", roles(&[])),
    });
    let Some(Message::Welcome(w)) = c.recv() else {
        panic!("no WELCOME")
    };
    assert_ne!(w.session, first);
}

#[test]
fn malformed_frames_and_unknown_types_are_protocol_violations() {
    let r = router();
    let mut c = Client::joined(&r, Format::Json, "realm1");
    c.send_raw(b"[16, 1, {}, \"com.x\"");
    c.expect_abort("wamp.error.protocol_violation");
    let mut c = Client::joined(&r, Format::Json, "realm1");
    c.send_raw(b"[7, 1]");
    c.expect_abort("wamp.error.protocol_violation");
    let mut c = Client::joined(&r, Format::Json, "realm1");
    c.send_raw(b"[16, 1, {\"acknowledge\": 1}, \"com.x\"]");
    c.expect_abort("wamp.error.protocol_violation");
    let mut c = Client::joined(&r, Format::MessagePack, "realm1");
    c.send_raw(&[0x93, 0xc1, 0x00, 0x00]);
    c.expect_abort("wamp.error.protocol_violation");
    assert_eq!(r.session_count(), 0);
}

#[test]
fn router_to_client_messages_from_a_client_are_protocol_violations() {
    let r = router();
    let mut c = Client::joined(&r, Format::Json, "realm1");
    c.send(Published {
        request: id(1),
        publication: id(2),
    });
    c.expect_abort("wamp.error.protocol_violation");
    let mut c = Client::joined(&r, Format::Json, "realm1");
    c.send(ErrorMessage {
        request_type: switchboard_proto::MessageType::Call,
        request: id(1),
        details: Default::default(),
        error: "com.x".into(),
        payload: Payload::empty(),
    });
    c.expect_abort("wamp.error.protocol_violation");
}

#[test]
fn request_ids_must_be_sequential_unless_configured_lenient() {
    let r = router();
    let mut c = Client::joined(&r, Format::Json, "realm1");
    c.subscribe("com.example.a"); // request 1
    c.send(Subscribe {
        request: id(5),
        options: Default::default(),
        topic: "com.example.b".into(),
    });
    c.expect_abort("wamp.error.protocol_violation");

    let lenient = Router::new(EngineConfig {
        strict_request_ids: false,
        ..EngineConfig::default()
    });
    let mut c = Client::joined(&lenient, Format::Json, "realm1");
    c.send(Subscribe {
        request: id(5),
        options: Default::default(),
        topic: "com.example.b".into(),
    });
    assert!(matches!(c.recv(), Some(Message::Subscribed(_))));
}

#[test]
fn a_duplicate_pending_call_id_is_a_protocol_violation() {
    let r = Router::new(EngineConfig {
        strict_request_ids: false,
        ..EngineConfig::default()
    });
    let mut callee = Client::joined(&r, Format::Json, "realm1");
    callee.register("com.example.slow");
    let mut caller = Client::joined(&r, Format::Json, "realm1");
    caller.send(Call {
        request: id(9),
        options: Default::default(),
        procedure: "com.example.slow".into(),
        payload: Payload::empty(),
    });
    caller.send(Call {
        request: id(9),
        options: Default::default(),
        procedure: "com.example.slow".into(),
        payload: Payload::empty(),
    });
    caller.expect_abort("wamp.error.protocol_violation");
}

// ---- publish & subscribe ----

#[test]
fn events_reach_subscribers_with_args_and_kwargs_but_not_the_publisher() {
    let r = router();
    let mut sub = Client::joined(&r, Format::Json, "realm1");
    let mut publisher = Client::joined(&r, Format::Json, "realm1");
    let sid = sub.subscribe("com.example.topic");
    publisher.subscribe("com.example.topic");
    publisher.publish(
        "com.example.topic",
        PublishOptions::default(),
        Payload::new(
            vec![Value::from(1u64), Value::from("two")],
            dict! { "k" => true },
        ),
    );
    match sub.recv() {
        Some(Message::Event(e)) => {
            assert_eq!(e.subscription, sid);
            assert_eq!(
                e.payload,
                Payload::new(
                    vec![Value::from(1u64), Value::from("two")],
                    dict! { "k" => true }
                )
            );
            assert!(
                e.details.is_empty(),
                "nothing disclosed unless asked: {:?}",
                e.details
            );
        }
        other => panic!("expected EVENT, got {other:?}"),
    }
    publisher.expect_nothing();
}

#[test]
fn exclude_me_false_delivers_to_the_publisher_too() {
    let r = router();
    let mut c = Client::joined(&r, Format::Json, "realm1");
    c.subscribe("com.myapp.topic1");
    c.publish(
        "com.myapp.topic1",
        PublishOptions::default().with("exclude_me", false),
        args(vec![Value::from("Hello, world!")]),
    );
    assert!(matches!(c.recv(), Some(Message::Event(_))));
}

#[test]
fn published_is_sent_only_when_acknowledge_is_asked() {
    let r = router();
    let mut c = Client::joined(&r, Format::Json, "realm1");
    c.publish("com.example.t", PublishOptions::default(), Payload::empty());
    c.expect_nothing();
    let req = c.publish(
        "com.example.t",
        PublishOptions::default().with("acknowledge", true),
        Payload::empty(),
    );
    match c.recv() {
        Some(Message::Published(p)) => assert_eq!(p.request, req),
        other => panic!("expected PUBLISHED, got {other:?}"),
    }
}

#[test]
fn an_invalid_topic_is_an_error_only_when_acknowledged() {
    let r = router();
    let mut c = Client::joined(&r, Format::Json, "realm1");
    c.publish("bad..topic", PublishOptions::default(), Payload::empty());
    c.expect_nothing();
    c.publish(
        "bad..topic",
        PublishOptions::default().with("acknowledge", true),
        Payload::empty(),
    );
    c.expect_error(16, "wamp.error.invalid_uri");
    let req = c.request();
    c.send(Subscribe {
        request: req,
        options: Default::default(),
        topic: "bad topic".into(),
    });
    c.expect_error(32, "wamp.error.invalid_uri");
}

#[test]
fn subscribers_share_a_subscription_and_resubscribing_returns_it() {
    let r = router();
    let mut a = Client::joined(&r, Format::Json, "realm1");
    let mut b = Client::joined(&r, Format::Json, "realm1");
    let s1 = a.subscribe("com.example.t");
    let s2 = a.subscribe("com.example.t");
    let s3 = b.subscribe("com.example.t");
    assert_eq!(s1, s2);
    assert_eq!(s1, s3);
    let mut p = Client::joined(&r, Format::Json, "realm1");
    p.publish("com.example.t", PublishOptions::default(), Payload::empty());
    assert_eq!(a.recv_all().len(), 1, "one EVENT per subscription");
    assert_eq!(b.recv_all().len(), 1);
}

#[test]
fn unsubscribe_stops_events_and_unknown_subscriptions_are_errors() {
    let r = router();
    let mut s = Client::joined(&r, Format::Json, "realm1");
    let mut other = Client::joined(&r, Format::Json, "realm1");
    let sid = s.subscribe("com.example.t");
    let req = other.request();
    other.send(Unsubscribe {
        request: req,
        subscription: sid,
    });
    other.expect_error(34, "wamp.error.no_such_subscription");
    let req = s.request();
    s.send(Unsubscribe {
        request: req,
        subscription: sid,
    });
    assert!(matches!(s.recv(), Some(Message::Unsubscribed(u)) if u.request == Some(req)));
    let mut p = Client::joined(&r, Format::Json, "realm1");
    p.publish("com.example.t", PublishOptions::default(), Payload::empty());
    s.expect_nothing();
    let req = s.request();
    s.send(Unsubscribe {
        request: req,
        subscription: sid,
    });
    s.expect_error(34, "wamp.error.no_such_subscription");
}

#[test]
fn one_publisher_events_arrive_in_publish_order_across_topics() {
    let r = router();
    let mut s = Client::joined(&r, Format::MessagePack, "realm1");
    s.subscribe("com.example.a");
    s.subscribe("com.example.b");
    let mut p = Client::joined(&r, Format::Json, "realm1");
    for i in 0..200u64 {
        let topic = if i % 3 == 0 {
            "com.example.a"
        } else {
            "com.example.b"
        };
        p.publish(topic, PublishOptions::default(), args(vec![Value::from(i)]));
    }
    let seen: Vec<u64> = s
        .recv_all()
        .into_iter()
        .map(|m| match m {
            Message::Event(e) => e.payload.to_values().unwrap().args[0].as_u64().unwrap(),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(seen, (0..200).collect::<Vec<_>>());
}

#[test]
fn an_event_is_encoded_once_per_serializer_and_transcoded_across() {
    let r = router();
    let mut j1 = Client::joined(&r, Format::Json, "realm1");
    let mut j2 = Client::joined(&r, Format::Json, "realm1");
    let mut m = Client::joined(&r, Format::MessagePack, "realm1");
    let mut c = Client::joined(&r, Format::Cbor, "realm1");
    for s in [&mut j1, &mut j2, &mut m, &mut c] {
        s.subscribe("com.example.fan");
    }
    let mut p = Client::joined(&r, Format::Json, "realm1");
    let payload = Payload::new(
        vec![
            Value::Bytes(bytes::Bytes::from_static(b"\x00\xff")),
            Value::from(-5i64),
        ],
        dict! { "x" => 1.5 },
    );
    p.publish(
        "com.example.fan",
        PublishOptions::default(),
        payload.clone(),
    );
    let f1 = j1.recv_frame().unwrap();
    let f2 = j2.recv_frame().unwrap();
    assert_eq!(f1, f2);
    assert_eq!(
        f1.as_ptr(),
        f2.as_ptr(),
        "the same buffer is shared, not re-encoded"
    );
    for s in [&mut m, &mut c] {
        match s.recv() {
            Some(Message::Event(e)) => assert_eq!(e.payload, payload),
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn pattern_subscriptions_get_the_topic_and_one_event_per_matching_subscription() {
    let r = router();
    let mut s = Client::joined(&r, Format::Json, "realm1");
    let exact = s.subscribe("com.myapp.topic.emergency");
    let prefix = s.subscribe_with(
        "com.myapp.topic",
        SubscribeOptions::default().with("match", "prefix"),
    );
    let wild = s.subscribe_with(
        "com.myapp..emergency",
        SubscribeOptions::default().with("match", "wildcard"),
    );
    let mut p = Client::joined(&r, Format::Json, "realm1");
    p.publish(
        "com.myapp.topic.emergency",
        PublishOptions::default(),
        Payload::empty(),
    );
    let mut got: Vec<_> = s
        .recv_all()
        .into_iter()
        .map(|m| match m {
            Message::Event(e) => (e.subscription, e.details.topic().map(str::to_owned)),
            other => panic!("{other:?}"),
        })
        .collect();
    got.sort();
    let mut want = vec![
        (exact, None),
        (prefix, Some("com.myapp.topic.emergency".to_owned())),
        (wild, Some("com.myapp.topic.emergency".to_owned())),
    ];
    want.sort();
    assert_eq!(got, want);
}

#[test]
fn a_slow_subscriber_is_closed_while_everyone_else_gets_every_event() {
    let r = router();
    let mut slow = Client::with_capacity(&r, Format::Json, 20);
    slow.send(Hello {
        realm: "realm1".into(),
        details: HelloDetails::default().with("roles", roles(&[])),
    });
    slow.recv();
    slow.subscribe("com.example.flood");
    let mut fast = Client::joined(&r, Format::Json, "realm1");
    fast.subscribe("com.example.flood");
    let mut p = Client::joined(&r, Format::Json, "realm1");
    for i in 0..100u64 {
        let req = p.publish(
            "com.example.flood",
            PublishOptions::default().with("acknowledge", true),
            args(vec![Value::from(i)]),
        );
        assert!(
            matches!(p.recv(), Some(Message::Published(x)) if x.request == req),
            "publisher carries on"
        );
    }
    assert_eq!(*slow.outbox.killed.lock(), Some(KillReason::SlowConsumer));
    assert_eq!(fast.recv_all().len(), 100);
    assert!(r.stats().slow_consumers_closed.load(Ordering::Relaxed) >= 1);
}

#[test]
fn the_drop_policy_keeps_a_slow_subscriber_and_counts_what_it_missed() {
    let r = Router::new(EngineConfig {
        slow_consumer: SlowConsumerPolicy::Drop,
        ..EngineConfig::default()
    });
    let mut slow = Client::with_capacity(&r, Format::Json, 10);
    slow.send(Hello {
        realm: "realm1".into(),
        details: HelloDetails::default().with("roles", roles(&[])),
    });
    slow.recv();
    slow.subscribe("com.example.flood");
    let mut p = Client::joined(&r, Format::Json, "realm1");
    for _ in 0..30 {
        p.publish(
            "com.example.flood",
            PublishOptions::default(),
            Payload::empty(),
        );
    }
    assert_eq!(*slow.outbox.killed.lock(), None);
    assert_eq!(slow.recv_all().len(), 10);
    assert_eq!(r.stats().events_dropped.load(Ordering::Relaxed), 20);
}

#[test]
fn topics_under_wamp_are_reserved() {
    let r = router();
    let mut c = Client::joined(&r, Format::Json, "realm1");
    c.publish(
        "wamp.session.on_join",
        PublishOptions::default().with("acknowledge", true),
        Payload::empty(),
    );
    c.expect_error(16, "wamp.error.not_authorized");
    let req = c.request();
    c.send(Register {
        request: req,
        options: Default::default(),
        procedure: "wamp.session.count".into(),
    });
    c.expect_error(64, "wamp.error.not_authorized");
}

// ---- remote procedure calls ----

#[test]
fn call_invocation_yield_result_carries_args_and_kwargs() {
    let r = router();
    let mut callee = Client::joined(&r, Format::MessagePack, "realm1");
    let reg = callee.register("com.example.add");
    let mut caller = Client::joined(&r, Format::Json, "realm1");
    let req = caller.call(
        "com.example.add",
        Payload::new(
            vec![Value::from(2u64), Value::from(3u64)],
            dict! { "round" => true },
        ),
    );
    let inv = callee.expect_invocation();
    assert_eq!(inv.registration, reg);
    assert_eq!(
        inv.request,
        id(1),
        "invocation ids are per callee session, starting at 1"
    );
    assert_eq!(
        inv.payload,
        Payload::new(
            vec![Value::from(2u64), Value::from(3u64)],
            dict! { "round" => true }
        )
    );
    assert!(
        inv.details.caller().is_none(),
        "the caller is not disclosed unless asked"
    );
    callee.send(Yield {
        request: inv.request,
        options: Default::default(),
        payload: Payload::new(vec![Value::from(5u64)], dict! { "exact" => true }),
    });
    match caller.recv() {
        Some(Message::Result(res)) => {
            assert_eq!(res.request, req);
            assert_eq!(
                res.payload,
                Payload::new(vec![Value::from(5u64)], dict! { "exact" => true })
            );
        }
        other => panic!("expected RESULT, got {other:?}"),
    }
    caller.call("com.example.add", Payload::empty());
    assert_eq!(callee.expect_invocation().request, id(2));
}

#[test]
fn rpc_errors_no_such_procedure_already_exists_no_such_registration_invalid_uri() {
    let r = router();
    let mut a = Client::joined(&r, Format::Json, "realm1");
    let mut b = Client::joined(&r, Format::Json, "realm1");
    a.call("com.example.nothing", Payload::empty());
    a.expect_error(48, "wamp.error.no_such_procedure");
    let reg = a.register("com.example.p");
    let req = b.request();
    b.send(Register {
        request: req,
        options: Default::default(),
        procedure: "com.example.p".into(),
    });
    b.expect_error(64, "wamp.error.procedure_already_exists");
    let req = b.request();
    b.send(Unregister {
        request: req,
        registration: reg,
    });
    b.expect_error(66, "wamp.error.no_such_registration");
    let req = b.request();
    b.send(Register {
        request: req,
        options: Default::default(),
        procedure: "com..p".into(),
    });
    b.expect_error(64, "wamp.error.invalid_uri");
    b.call("com example", Payload::empty());
    b.expect_error(48, "wamp.error.invalid_uri");
    let req = a.request();
    a.send(Unregister {
        request: req,
        registration: reg,
    });
    assert!(matches!(a.recv(), Some(Message::Unregistered(u)) if u.request == Some(req)));
    b.call("com.example.p", Payload::empty());
    b.expect_error(48, "wamp.error.no_such_procedure");
}

#[test]
fn a_callee_error_reaches_the_caller_with_uri_args_and_kwargs() {
    let r = router();
    let mut callee = Client::joined(&r, Format::Cbor, "realm1");
    callee.register("com.example.fail");
    let mut caller = Client::joined(&r, Format::Json, "realm1");
    let req = caller.call("com.example.fail", Payload::empty());
    let inv = callee.expect_invocation();
    callee.send(ErrorMessage {
        request_type: switchboard_proto::MessageType::Invocation,
        request: inv.request,
        details: Default::default(),
        error: "com.example.error.custom".into(),
        payload: Payload::new(
            vec![Value::from(1u64), Value::from(2u64)],
            dict! { "foo" => "bar" },
        ),
    });
    let e = caller.expect_error(48, "com.example.error.custom");
    assert_eq!(e.request, req);
    assert_eq!(
        e.payload,
        Payload::new(
            vec![Value::from(1u64), Value::from(2u64)],
            dict! { "foo" => "bar" }
        )
    );
}

#[test]
fn a_leaving_callee_cancels_its_pending_calls_and_frees_the_procedure() {
    let r = router();
    let mut callee = Client::joined(&r, Format::Json, "realm1");
    callee.register("com.example.p");
    let mut caller = Client::joined(&r, Format::Json, "realm1");
    let r1 = caller.call("com.example.p", Payload::empty());
    let r2 = caller.call("com.example.p", Payload::empty());
    callee.session.transport_closed();
    let e1 = caller.expect_error(48, "wamp.error.canceled");
    let e2 = caller.expect_error(48, "wamp.error.canceled");
    assert_eq!((e1.request, e2.request), (r1, r2));
    caller.call("com.example.p", Payload::empty());
    caller.expect_error(48, "wamp.error.no_such_procedure");
    let mut again = Client::joined(&r, Format::Json, "realm1");
    again.register("com.example.p");
}

#[test]
fn a_leaving_caller_interrupts_callees_that_support_canceling_and_late_yields_are_dropped() {
    let r = router();
    let mut plain = Client::joined(&r, Format::Json, "realm1");
    plain.register("com.example.plain");
    let mut canceling = Client::joined_with(&r, Format::Json, "realm1", roles(&["call_canceling"]));
    canceling.register("com.example.cancelable");
    let mut caller = Client::joined(&r, Format::Json, "realm1");
    caller.call("com.example.plain", Payload::empty());
    caller.call("com.example.cancelable", Payload::empty());
    let inv_plain = plain.expect_invocation();
    let inv_cancel = canceling.expect_invocation();
    caller.session.transport_closed();
    plain.expect_nothing();
    match canceling.recv() {
        Some(Message::Interrupt(i)) => {
            assert_eq!(i.request, inv_cancel.request);
            assert_eq!(i.options.mode(), Some("killnowait"));
        }
        other => panic!("expected INTERRUPT, got {other:?}"),
    }
    plain.send(Yield {
        request: inv_plain.request,
        options: Default::default(),
        payload: Payload::empty(),
    });
    assert_eq!(
        plain.last_flow,
        switchboard_engine::Flow::Continue,
        "a late YIELD is not a violation"
    );
    plain.expect_nothing();
}

#[test]
fn a_yield_for_an_invocation_never_issued_is_a_protocol_violation() {
    let r = router();
    let mut callee = Client::joined(&r, Format::Json, "realm1");
    callee.register("com.example.p");
    callee.send(Yield {
        request: id(42),
        options: Default::default(),
        payload: Payload::empty(),
    });
    callee.expect_abort("wamp.error.protocol_violation");
}

#[test]
fn a_call_to_a_callee_with_a_full_queue_fails_instead_of_blocking() {
    let r = router();
    let mut callee = Client::with_capacity(&r, Format::Json, 3);
    callee.send(Hello {
        realm: "realm1".into(),
        details: HelloDetails::default().with("roles", roles(&[])),
    });
    callee.recv();
    callee.register("com.example.busy");
    let mut caller = Client::joined(&r, Format::Json, "realm1");
    for _ in 0..3 {
        caller.call("com.example.busy", Payload::empty());
    }
    caller.expect_nothing();
    let req = caller.call("com.example.busy", Payload::empty());
    let e = caller.expect_error(48, "wamp.error.unavailable");
    assert_eq!(e.request, req);
    assert_eq!(
        *callee.outbox.killed.lock(),
        None,
        "the callee is not closed for it"
    );
}

#[test]
fn invocations_from_one_caller_arrive_in_call_order() {
    let r = router();
    let mut callee = Client::joined(&r, Format::Json, "realm1");
    callee.register("com.example.a");
    callee.register("com.example.b");
    let mut caller = Client::joined(&r, Format::Json, "realm1");
    for i in 0..50u64 {
        let p = if i % 2 == 0 {
            "com.example.a"
        } else {
            "com.example.b"
        };
        caller.call(p, args(vec![Value::from(i)]));
    }
    let got: Vec<u64> = (0..50)
        .map(|_| {
            callee.expect_invocation().payload.to_values().unwrap().args[0]
                .as_u64()
                .unwrap()
        })
        .collect();
    assert_eq!(got, (0..50).collect::<Vec<_>>());
}

#[test]
fn a_session_that_drops_leaves_nothing_behind() {
    let r = router();
    let mut c = Client::joined(&r, Format::Json, "realm1");
    c.subscribe("com.example.t");
    c.register("com.example.p");
    drop(c);
    assert_eq!(r.session_count(), 0);
    let realm = r.realm("realm1").unwrap();
    assert!(realm.broker.matching("com.example.t").is_empty());
    assert!(realm.dealer.lookup("com.example.p").is_none());
    assert_eq!(realm.session_count(), 0);
}

#[test]
fn shutdown_says_goodbye_to_every_session_and_refuses_new_ones() {
    let r = router();
    let mut a = Client::joined(&r, Format::Json, "realm1");
    let mut b = Client::joined(&r, Format::Cbor, "com.example.realm");
    r.shutdown();
    for c in [&mut a, &mut b] {
        match c.recv() {
            Some(Message::Goodbye(g)) => assert_eq!(g.reason, "wamp.close.system_shutdown"),
            other => panic!("expected GOODBYE, got {other:?}"),
        }
        assert!(*c.outbox.closed.lock());
    }
    a.send(Goodbye {
        details: Default::default(),
        reason: "wamp.close.goodbye_and_out".into(),
    });
    a.expect_nothing();
    let mut c = Client::connect(&r, Format::Json);
    c.send(Hello {
        realm: "realm1".into(),
        details: HelloDetails::default().with("roles", roles(&[])),
    });
    c.expect_abort("wamp.close.system_shutdown");
}

#[test]
fn the_spec_multisession_vector_publisher_exclusion_disabled() {
    // tests/data/wamp-testsuite/multisession/advanced/publisher_exclusion_disabled.json (proto crate)
    let r = router();
    let mut s = Client::joined(&r, Format::Json, "realm1");
    let sub = s.subscribe("com.myapp.topic1");
    s.publish(
        "com.myapp.topic1",
        PublishOptions::default().with("exclude_me", false),
        args(vec![Value::from("Hello, world!")]),
    );
    match s.recv() {
        Some(Message::Event(e)) => {
            assert_eq!(e.subscription, sub);
            assert_eq!(e.payload, args(vec![Value::from("Hello, world!")]));
        }
        other => panic!("expected EVENT, got {other:?}"),
    }
}
