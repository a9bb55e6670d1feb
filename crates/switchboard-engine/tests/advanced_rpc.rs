//! Advanced RPC rules stepped in memory (wamp-spec §5.1–§5.8), timeouts under a manual clock.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod harness;

use std::sync::Arc;
use std::time::Duration;

use harness::*;
use switchboard_engine::{EngineConfig, ManualClock, RealmSettings, Router};
use switchboard_proto::message::*;
use switchboard_proto::options::*;
use switchboard_proto::{Format, Message, MessageType, Payload, Value};

const CANCELING: &[&str] = &["call_canceling"];
const PROGRESSIVE: &[&str] = &["progressive_call_results", "call_canceling"];
const STREAMING: &[&str] = &[
    "progressive_call_invocations",
    "progressive_call_results",
    "call_canceling",
];

fn caller_roles() -> switchboard_proto::Dict {
    let mut r = roles(&[]);
    r.insert(
        "caller".into(),
        Value::Dict(switchboard_proto::dict! { "features" => switchboard_proto::dict! {
            "progressive_call_invocations" => true, "progressive_call_results" => true, "call_canceling" => true,
        }}),
    );
    r
}

fn call_with(
    c: &mut Client,
    procedure: &str,
    options: CallOptions,
    payload: Payload,
) -> switchboard_proto::Id {
    let request = c.request();
    c.send(Call {
        request,
        options,
        procedure: procedure.into(),
        payload,
    });
    request
}

fn yield_(c: &mut Client, request: switchboard_proto::Id, progress: bool, v: u64) {
    let options = if progress {
        YieldOptions::default().with("progress", true)
    } else {
        YieldOptions::default()
    };
    c.send(Yield {
        request,
        options,
        payload: args(vec![Value::from(v)]),
    });
}

fn expect_result(c: &mut Client) -> CallResult {
    match c.recv() {
        Some(Message::Result(r)) => r,
        other => panic!("expected RESULT, got {other:?}"),
    }
}

fn expect_interrupt(c: &mut Client, mode: &str) -> Interrupt {
    match c.recv() {
        Some(Message::Interrupt(i)) => {
            assert_eq!(i.options.mode(), Some(mode));
            i
        }
        other => panic!("expected INTERRUPT {mode}, got {other:?}"),
    }
}

fn first_arg(p: &Payload) -> u64 {
    p.to_values().unwrap().args[0].as_u64().unwrap()
}

// ---- progressive call results ----

#[test]
fn progressive_results_are_forwarded_as_they_come_then_the_final_one() {
    let r = router();
    let mut callee = Client::joined_with(&r, Format::Json, "realm1", roles(PROGRESSIVE));
    callee.register("com.example.stream");
    let mut caller = Client::joined(&r, Format::MessagePack, "realm1");
    let req = call_with(
        &mut caller,
        "com.example.stream",
        CallOptions::default().with("receive_progress", true),
        Payload::empty(),
    );
    let inv = callee.expect_invocation();
    assert_eq!(inv.details.receive_progress(), Some(true));
    for i in 0..3 {
        yield_(&mut callee, inv.request, true, i);
        let res = expect_result(&mut caller);
        assert_eq!(
            (res.request, res.details.progress(), first_arg(&res.payload)),
            (req, Some(true), i)
        );
    }
    yield_(&mut callee, inv.request, false, 99);
    let res = expect_result(&mut caller);
    assert_eq!(
        (res.details.progress(), first_arg(&res.payload)),
        (None, 99)
    );
    yield_(&mut callee, inv.request, false, 100);
    caller.expect_nothing();
}

#[test]
fn receive_progress_is_not_passed_to_a_callee_that_cannot_give_it_and_unasked_progress_is_dropped()
{
    let r = router();
    let mut plain = Client::joined_with(
        &r,
        Format::Json,
        "realm1",
        roles(&["progressive_call_results"]),
    );
    plain.register("com.example.plain");
    let mut caller = Client::joined(&r, Format::Json, "realm1");
    call_with(
        &mut caller,
        "com.example.plain",
        CallOptions::default().with("receive_progress", true),
        Payload::empty(),
    );
    let inv = plain.expect_invocation();
    assert_eq!(
        inv.details.receive_progress(),
        None,
        "PCR without call_canceling counts as no PCR"
    );

    let mut streamer = Client::joined_with(&r, Format::Json, "realm1", roles(PROGRESSIVE));
    streamer.register("com.example.s");
    call_with(
        &mut caller,
        "com.example.s",
        CallOptions::default(),
        Payload::empty(),
    );
    let inv = streamer.expect_invocation();
    yield_(&mut streamer, inv.request, true, 1);
    caller.expect_nothing();
    yield_(&mut streamer, inv.request, false, 2);
    assert_eq!(first_arg(&expect_result(&mut caller).payload), 2);
}

#[test]
fn a_caller_leaving_mid_stream_interrupts_the_callee_and_later_yields_are_dropped() {
    let r = router();
    let mut callee = Client::joined_with(&r, Format::Json, "realm1", roles(PROGRESSIVE));
    callee.register("com.example.stream");
    let mut caller = Client::joined(&r, Format::Json, "realm1");
    call_with(
        &mut caller,
        "com.example.stream",
        CallOptions::default().with("receive_progress", true),
        Payload::empty(),
    );
    let inv = callee.expect_invocation();
    yield_(&mut callee, inv.request, true, 1);
    caller.session.transport_closed();
    let i = expect_interrupt(&mut callee, "killnowait");
    assert_eq!(i.request, inv.request);
    yield_(&mut callee, inv.request, true, 2);
    yield_(&mut callee, inv.request, false, 3);
    assert_eq!(callee.last_flow, switchboard_engine::Flow::Continue);
}

// ---- progressive call invocations ----

#[test]
fn progressive_invocations_reuse_one_invocation_id_and_end_with_the_final_chunk() {
    let r = router();
    let mut callee = Client::joined_with(&r, Format::Json, "realm1", roles(STREAMING));
    callee.register("com.example.upload");
    let mut caller = Client::joined_with(&r, Format::Json, "realm1", caller_roles());
    let req = call_with(
        &mut caller,
        "com.example.upload",
        CallOptions::default()
            .with("progress", true)
            .with("disclose_me", true),
        args(vec![Value::from(0u64)]),
    );
    let first = callee.expect_invocation();
    assert_eq!(first.details.progress(), Some(true));
    assert!(first.details.caller().is_some());
    for i in 1..3u64 {
        caller.send(Call {
            request: req,
            options: CallOptions::default().with("progress", true),
            procedure: "com.example.upload".into(),
            payload: args(vec![Value::from(i)]),
        });
        let inv = callee.expect_invocation();
        assert_eq!(inv.request, first.request);
        assert_eq!(inv.details.progress(), Some(true));
        assert!(
            inv.details.caller().is_some(),
            "frozen options repeat on every chunk"
        );
        assert_eq!(first_arg(&inv.payload), i);
    }
    caller.send(Call {
        request: req,
        options: CallOptions::default(),
        procedure: "com.example.upload".into(),
        payload: args(vec![Value::from(3u64)]),
    });
    let last = callee.expect_invocation();
    assert_eq!(
        (last.request, last.details.progress()),
        (first.request, None)
    );
    yield_(&mut callee, first.request, false, 6);
    assert_eq!(expect_result(&mut caller).request, req);
    // A late chunk of the finished call is discarded silently.
    caller.send(Call {
        request: req,
        options: CallOptions::default().with("progress", true),
        procedure: "com.example.upload".into(),
        payload: Payload::empty(),
    });
    assert_eq!(caller.last_flow, switchboard_engine::Flow::Continue);
    caller.expect_nothing();
    callee.expect_nothing();
    // and the next new request id still works
    call_with(
        &mut caller,
        "com.example.upload",
        CallOptions::default(),
        Payload::empty(),
    );
    callee.expect_invocation();
}

#[test]
fn progressive_invocations_need_both_sides_to_support_them() {
    let r = router();
    let mut old = Client::joined_with(&r, Format::Json, "realm1", roles(CANCELING));
    old.register("com.example.old");
    let mut caller = Client::joined_with(&r, Format::Json, "realm1", caller_roles());
    call_with(
        &mut caller,
        "com.example.old",
        CallOptions::default().with("progress", true),
        Payload::empty(),
    );
    caller.expect_error(48, "wamp.error.feature_not_supported");
    old.expect_nothing();

    let mut naive = Client::joined(&r, Format::Json, "realm1");
    call_with(
        &mut naive,
        "com.example.old",
        CallOptions::default().with("progress", true),
        Payload::empty(),
    );
    naive.expect_abort("wamp.error.protocol_violation");
}

// ---- call timeout ----

fn timed_router(settings: RealmSettings) -> (Arc<Router>, ManualClock) {
    let clock = ManualClock::new();
    let config = EngineConfig {
        default_realm_settings: settings,
        ..EngineConfig::default()
    };
    (Router::with_clock(config, Arc::new(clock.clone())), clock)
}

#[test]
fn the_dealer_times_out_a_call_interrupting_a_callee_that_supports_canceling() {
    let (r, clock) = timed_router(RealmSettings::default());
    let mut callee = Client::joined_with(&r, Format::Json, "realm1", roles(CANCELING));
    callee.register("com.example.slow");
    let mut caller = Client::joined(&r, Format::Json, "realm1");
    let req = call_with(
        &mut caller,
        "com.example.slow",
        CallOptions::default().with("timeout", 1000u64),
        Payload::empty(),
    );
    let inv = callee.expect_invocation();
    clock.advance(Duration::from_millis(999));
    r.expire_timeouts();
    caller.expect_nothing();
    clock.advance(Duration::from_millis(2));
    r.expire_timeouts();
    assert_eq!(caller.expect_error(48, "wamp.error.timeout").request, req);
    assert_eq!(
        expect_interrupt(&mut callee, "killnowait").request,
        inv.request
    );
    yield_(&mut callee, inv.request, false, 1);
    caller.expect_nothing();
    assert_eq!(r.next_deadline(), None);
}

#[test]
fn a_timeout_skips_a_callee_without_canceling_and_a_finished_call_never_times_out() {
    let (r, clock) = timed_router(RealmSettings::default());
    let mut callee = Client::joined(&r, Format::Json, "realm1");
    callee.register("com.example.p");
    let mut caller = Client::joined(&r, Format::Json, "realm1");
    call_with(
        &mut caller,
        "com.example.p",
        CallOptions::default().with("timeout", 10u64),
        Payload::empty(),
    );
    let inv = callee.expect_invocation();
    clock.advance(Duration::from_millis(20));
    r.expire_timeouts();
    caller.expect_error(48, "wamp.error.timeout");
    callee.expect_nothing();

    call_with(
        &mut caller,
        "com.example.p",
        CallOptions::default().with("timeout", 10u64),
        Payload::empty(),
    );
    let inv2 = callee.expect_invocation();
    assert_ne!(inv.request, inv2.request);
    yield_(&mut callee, inv2.request, false, 5);
    expect_result(&mut caller);
    clock.advance(Duration::from_millis(20));
    r.expire_timeouts();
    caller.expect_nothing();
}

#[test]
fn realm_default_and_maximum_timeouts_apply() {
    let settings = RealmSettings {
        call_timeout_default: Some(Duration::from_millis(100)),
        call_timeout_max: Some(Duration::from_millis(500)),
        ..RealmSettings::default()
    };
    let (r, clock) = timed_router(settings);
    let mut callee = Client::joined(&r, Format::Json, "realm1");
    callee.register("com.example.p");
    let mut caller = Client::joined(&r, Format::Json, "realm1");
    call_with(
        &mut caller,
        "com.example.p",
        CallOptions::default(),
        Payload::empty(),
    );
    call_with(
        &mut caller,
        "com.example.p",
        CallOptions::default().with("timeout", 60_000u64),
        Payload::empty(),
    );
    clock.advance(Duration::from_millis(101));
    r.expire_timeouts();
    caller.expect_error(48, "wamp.error.timeout");
    caller.expect_nothing();
    clock.advance(Duration::from_millis(400));
    r.expire_timeouts();
    caller.expect_error(48, "wamp.error.timeout");
}

#[test]
fn forward_timeout_hands_the_timeout_to_the_callee() {
    let (r, clock) = timed_router(RealmSettings::default());
    let mut callee = Client::joined(&r, Format::Json, "realm1");
    callee.register_with(
        "com.example.p",
        RegisterOptions::default().with("forward_timeout", true),
    );
    let mut caller = Client::joined(&r, Format::Json, "realm1");
    call_with(
        &mut caller,
        "com.example.p",
        CallOptions::default().with("timeout", 50u64),
        Payload::empty(),
    );
    let inv = callee.expect_invocation();
    assert_eq!(inv.details.timeout(), Some(50));
    clock.advance(Duration::from_secs(1));
    r.expire_timeouts();
    caller.expect_nothing();
}

#[test]
fn each_progressive_result_restarts_the_timeout() {
    let (r, clock) = timed_router(RealmSettings::default());
    let mut callee = Client::joined_with(&r, Format::Json, "realm1", roles(PROGRESSIVE));
    callee.register("com.example.stream");
    let mut caller = Client::joined(&r, Format::Json, "realm1");
    call_with(
        &mut caller,
        "com.example.stream",
        CallOptions::default()
            .with("timeout", 100u64)
            .with("receive_progress", true),
        Payload::empty(),
    );
    let inv = callee.expect_invocation();
    for i in 0..5 {
        clock.advance(Duration::from_millis(80));
        r.expire_timeouts();
        yield_(&mut callee, inv.request, true, i);
        expect_result(&mut caller);
    }
    clock.advance(Duration::from_millis(101));
    r.expire_timeouts();
    caller.expect_error(48, "wamp.error.timeout");
}

// ---- call canceling ----

fn cancel(c: &mut Client, request: switchboard_proto::Id, mode: Option<&str>) {
    let options = mode.map_or_else(CancelOptions::default, |m| {
        CancelOptions::default().with("mode", m)
    });
    c.send(Cancel { request, options });
}

#[test]
fn cancel_skip_answers_the_caller_at_once_without_interrupting() {
    let r = router();
    let mut callee = Client::joined_with(&r, Format::Json, "realm1", roles(CANCELING));
    callee.register("com.example.p");
    let mut caller = Client::joined(&r, Format::Json, "realm1");
    let req = call_with(
        &mut caller,
        "com.example.p",
        CallOptions::default(),
        Payload::empty(),
    );
    let inv = callee.expect_invocation();
    cancel(&mut caller, req, Some("skip"));
    assert_eq!(caller.expect_error(48, "wamp.error.canceled").request, req);
    callee.expect_nothing();
    yield_(&mut callee, inv.request, false, 1);
    caller.expect_nothing();
}

#[test]
fn cancel_kill_waits_for_the_callee_whose_answer_ends_the_call() {
    let r = router();
    let mut callee = Client::joined_with(&r, Format::Json, "realm1", roles(CANCELING));
    callee.register("com.example.p");
    let mut caller = Client::joined(&r, Format::Json, "realm1");
    let req = call_with(
        &mut caller,
        "com.example.p",
        CallOptions::default(),
        Payload::empty(),
    );
    let inv = callee.expect_invocation();
    cancel(&mut caller, req, Some("kill"));
    assert_eq!(expect_interrupt(&mut callee, "kill").request, inv.request);
    caller.expect_nothing();
    callee.send(ErrorMessage {
        request_type: MessageType::Invocation,
        request: inv.request,
        details: Default::default(),
        error: "wamp.error.cancelled".into(), // the other spelling is accepted
        payload: Payload::empty(),
    });
    assert_eq!(caller.expect_error(48, "wamp.error.canceled").request, req);

    // the callee may finish first: the caller then gets the RESULT
    let req = call_with(
        &mut caller,
        "com.example.p",
        CallOptions::default(),
        Payload::empty(),
    );
    let inv = callee.expect_invocation();
    cancel(&mut caller, req, Some("kill"));
    expect_interrupt(&mut callee, "kill");
    yield_(&mut callee, inv.request, false, 7);
    assert_eq!(first_arg(&expect_result(&mut caller).payload), 7);
}

#[test]
fn cancel_killnowait_is_the_default_and_interrupts_and_answers_at_once() {
    let r = router();
    let mut callee = Client::joined_with(&r, Format::Json, "realm1", roles(CANCELING));
    callee.register("com.example.p");
    let mut caller = Client::joined(&r, Format::Json, "realm1");
    for mode in [Some("killnowait"), None] {
        let req = call_with(
            &mut caller,
            "com.example.p",
            CallOptions::default(),
            Payload::empty(),
        );
        let inv = callee.expect_invocation();
        cancel(&mut caller, req, mode);
        assert_eq!(caller.expect_error(48, "wamp.error.canceled").request, req);
        assert_eq!(
            expect_interrupt(&mut callee, "killnowait").request,
            inv.request
        );
        yield_(&mut callee, inv.request, false, 1);
        caller.expect_nothing();
    }
}

#[test]
fn a_callee_without_canceling_gets_no_interrupt_and_unknown_cancels_are_ignored() {
    let r = router();
    let mut callee = Client::joined(&r, Format::Json, "realm1");
    callee.register("com.example.p");
    let mut caller = Client::joined(&r, Format::Json, "realm1");
    let req = call_with(
        &mut caller,
        "com.example.p",
        CallOptions::default(),
        Payload::empty(),
    );
    callee.expect_invocation();
    cancel(&mut caller, req, Some("kill"));
    caller.expect_error(48, "wamp.error.canceled");
    callee.expect_nothing();
    cancel(&mut caller, req, Some("kill"));
    cancel(&mut caller, switchboard_proto::Id::new(999).unwrap(), None);
    assert_eq!(caller.last_flow, switchboard_engine::Flow::Continue);
    caller.expect_nothing();
}

// ---- caller identification ----

#[test]
fn the_caller_is_disclosed_when_it_asks_or_the_registration_asks() {
    let r = router();
    let mut callee = Client::joined(&r, Format::Json, "realm1");
    callee.register("com.example.a");
    callee.register_with(
        "com.example.b",
        RegisterOptions::default().with("disclose_caller", true),
    );
    let mut caller = Client::joined(&r, Format::Json, "realm1");
    let me = caller.session_id();
    call_with(
        &mut caller,
        "com.example.a",
        CallOptions::default(),
        Payload::empty(),
    );
    assert_eq!(callee.expect_invocation().details.caller(), None);
    call_with(
        &mut caller,
        "com.example.a",
        CallOptions::default().with("disclose_me", true),
        Payload::empty(),
    );
    let d = callee.expect_invocation().details;
    assert_eq!(d.caller(), Some(me));
    assert_eq!(d.caller_authrole(), Some("anonymous"));
    assert_eq!(d.caller_authid(), Some(me.to_string().as_str()));
    call_with(
        &mut caller,
        "com.example.b",
        CallOptions::default(),
        Payload::empty(),
    );
    assert_eq!(callee.expect_invocation().details.caller(), Some(me));
}

// ---- pattern-based and shared registrations ----

#[test]
fn pattern_registrations_follow_exact_then_longest_prefix_then_best_wildcard() {
    let r = router();
    let mut callee = Client::joined(&r, Format::Json, "realm1");
    let exact = callee.register("a1.b2.c3.d4");
    let p_short = callee.register_with("a1.b2", RegisterOptions::default().with("match", "prefix"));
    let p_long = callee.register_with(
        "a1.b2.c3",
        RegisterOptions::default().with("match", "prefix"),
    );
    let w1 = callee.register_with(
        "a1.b2.c33..e5",
        RegisterOptions::default().with("match", "wildcard"),
    );
    let w2 = callee.register_with(
        "a1.b2..d4.e5",
        RegisterOptions::default().with("match", "wildcard"),
    );
    let mut caller = Client::joined(&r, Format::Json, "realm1");
    let cases = [
        ("a1.b2.c3.d4", exact, None),
        ("a1.b2.c3.d4.e5", p_long, Some("a1.b2.c3.d4.e5")),
        ("a1.b2.x", p_short, Some("a1.b2.x")),
        ("a1.b2.c33.d4.e5", p_long, Some("a1.b2.c33.d4.e5")), // string prefix a1.b2.c3 beats any wildcard
    ];
    for (uri, reg, procedure) in cases {
        call_with(&mut caller, uri, CallOptions::default(), Payload::empty());
        let inv = callee.expect_invocation();
        assert_eq!(inv.registration, reg, "{uri}");
        assert_eq!(inv.details.procedure(), procedure, "{uri}");
    }
    // Without the prefixes, wildcard precedence decides.
    let mut other = Client::joined(&r, Format::Json, "com.example.realm");
    let w1b = other.register_with(
        "a1.b2.c33..e5",
        RegisterOptions::default().with("match", "wildcard"),
    );
    other.register_with(
        "a1.b2..d4.e5",
        RegisterOptions::default().with("match", "wildcard"),
    );
    let mut c2 = Client::joined(&r, Format::Json, "com.example.realm");
    call_with(
        &mut c2,
        "a1.b2.c33.d4.e5",
        CallOptions::default(),
        Payload::empty(),
    );
    assert_eq!(other.expect_invocation().registration, w1b);
    let _ = (w1, w2);
}

#[test]
fn shared_registrations_pick_callees_by_policy() {
    let r = router();
    let mut callees: Vec<Client> = (0..3)
        .map(|_| Client::joined(&r, Format::Json, "realm1"))
        .collect();
    let policies = ["roundrobin", "first", "last", "random"];
    for policy in policies {
        let uri = format!("com.example.shared.{policy}");
        let ids: Vec<_> = callees
            .iter_mut()
            .map(|c| c.register_with(&uri, RegisterOptions::default().with("invoke", policy)))
            .collect();
        assert!(
            ids.windows(2).all(|w| w[0] == w[1]),
            "one registration shared by all"
        );
        let mut caller = Client::joined(&r, Format::Json, "realm1");
        let mut hits = [0usize; 3];
        for _ in 0..60 {
            call_with(&mut caller, &uri, CallOptions::default(), Payload::empty());
            for (i, c) in callees.iter_mut().enumerate() {
                while let Some(m) = c.recv() {
                    assert!(matches!(m, Message::Invocation(_)));
                    hits[i] += 1;
                }
            }
        }
        match policy {
            "roundrobin" => assert_eq!(hits, [20, 20, 20]),
            "first" => assert_eq!(hits, [60, 0, 0]),
            "last" => assert_eq!(hits, [0, 0, 60]),
            _ => assert!(
                hits.iter().all(|h| *h > 0),
                "random reaches everyone: {hits:?}"
            ),
        }
    }
    // A different policy, or single, on an existing URI fails.
    let mut late = Client::joined(&r, Format::Json, "realm1");
    let req = late.request();
    late.send(Register {
        request: req,
        options: RegisterOptions::default().with("invoke", "first"),
        procedure: "com.example.shared.roundrobin".into(),
    });
    late.expect_error(64, "wamp.error.procedure_already_exists");
    let req = late.request();
    late.send(Register {
        request: req,
        options: RegisterOptions::default(),
        procedure: "com.example.shared.last".into(),
    });
    late.expect_error(64, "wamp.error.procedure_already_exists");
}

#[test]
fn when_the_first_callee_leaves_the_next_one_takes_over() {
    let r = router();
    let mut a = Client::joined(&r, Format::Json, "realm1");
    let mut b = Client::joined(&r, Format::Json, "realm1");
    a.register_with(
        "com.example.hot",
        RegisterOptions::default().with("invoke", "first"),
    );
    b.register_with(
        "com.example.hot",
        RegisterOptions::default().with("invoke", "first"),
    );
    a.session.transport_closed();
    let mut caller = Client::joined(&r, Format::Json, "realm1");
    call_with(
        &mut caller,
        "com.example.hot",
        CallOptions::default(),
        Payload::empty(),
    );
    b.expect_invocation();
}

// ---- per-callee concurrency ----

#[test]
fn a_callee_at_its_concurrency_limit_makes_calls_wait_then_serves_them_in_order() {
    let r = router();
    let mut callee = Client::joined(&r, Format::Json, "realm1");
    callee.register_with(
        "com.example.one",
        RegisterOptions::default().with("concurrency", 1u64),
    );
    let mut caller = Client::joined(&r, Format::Json, "realm1");
    let r1 = call_with(
        &mut caller,
        "com.example.one",
        CallOptions::default(),
        args(vec![Value::from(1u64)]),
    );
    let r2 = call_with(
        &mut caller,
        "com.example.one",
        CallOptions::default(),
        args(vec![Value::from(2u64)]),
    );
    let first = callee.expect_invocation();
    assert_eq!(first_arg(&first.payload), 1);
    callee.expect_nothing();
    yield_(&mut callee, first.request, false, 10);
    assert_eq!(expect_result(&mut caller).request, r1);
    let second = callee.expect_invocation();
    assert_eq!(first_arg(&second.payload), 2);
    yield_(&mut callee, second.request, false, 20);
    assert_eq!(expect_result(&mut caller).request, r2);
}

#[test]
fn when_the_wait_queue_is_full_the_call_fails_clearly() {
    let r = Router::new(EngineConfig {
        max_queued_calls: 1,
        ..EngineConfig::default()
    });
    let mut callee = Client::joined(&r, Format::Json, "realm1");
    callee.register_with(
        "com.example.one",
        RegisterOptions::default().with("concurrency", 1u64),
    );
    let mut caller = Client::joined(&r, Format::Json, "realm1");
    call_with(
        &mut caller,
        "com.example.one",
        CallOptions::default(),
        Payload::empty(),
    );
    call_with(
        &mut caller,
        "com.example.one",
        CallOptions::default(),
        Payload::empty(),
    );
    let third = call_with(
        &mut caller,
        "com.example.one",
        CallOptions::default(),
        Payload::empty(),
    );
    assert_eq!(
        caller
            .expect_error(48, "wamp.error.no_available_callee")
            .request,
        third
    );
}

#[test]
fn a_waiting_call_can_be_canceled_and_a_leaving_caller_withdraws_its_waiting_calls() {
    let r = router();
    let mut callee = Client::joined_with(&r, Format::Json, "realm1", roles(CANCELING));
    callee.register_with(
        "com.example.one",
        RegisterOptions::default().with("concurrency", 1u64),
    );
    let mut caller = Client::joined(&r, Format::Json, "realm1");
    call_with(
        &mut caller,
        "com.example.one",
        CallOptions::default(),
        Payload::empty(),
    );
    let waiting = call_with(
        &mut caller,
        "com.example.one",
        CallOptions::default(),
        Payload::empty(),
    );
    let busy = callee.expect_invocation();
    cancel(&mut caller, waiting, Some("skip"));
    assert_eq!(
        caller.expect_error(48, "wamp.error.canceled").request,
        waiting
    );
    let mut other = Client::joined(&r, Format::Json, "realm1");
    call_with(
        &mut other,
        "com.example.one",
        CallOptions::default(),
        Payload::empty(),
    );
    other.session.transport_closed();
    yield_(&mut callee, busy.request, false, 1);
    expect_result(&mut caller);
    callee.expect_nothing();
}

#[test]
fn roundrobin_passes_over_busy_callees() {
    let r = router();
    let mut a = Client::joined(&r, Format::Json, "realm1");
    let mut b = Client::joined(&r, Format::Json, "realm1");
    for c in [&mut a, &mut b] {
        c.register_with(
            "com.example.rr",
            RegisterOptions::default()
                .with("invoke", "roundrobin")
                .with("concurrency", 1u64),
        );
    }
    let mut caller = Client::joined(&r, Format::Json, "realm1");
    for _ in 0..3 {
        call_with(
            &mut caller,
            "com.example.rr",
            CallOptions::default(),
            Payload::empty(),
        );
    }
    let ia = a.expect_invocation();
    b.expect_invocation();
    a.expect_nothing();
    b.expect_nothing();
    yield_(&mut a, ia.request, false, 0);
    expect_result(&mut caller);
    a.expect_invocation();
}

// ---- payload passthru mode ----

fn ppt_roles() -> switchboard_proto::Dict {
    let f = |extra: &[&str]| {
        let mut features: switchboard_proto::Dict = extra
            .iter()
            .map(|x| (x.to_string(), Value::Bool(true)))
            .collect();
        features.insert("payload_passthru_mode".into(), Value::Bool(true));
        Value::Dict(switchboard_proto::dict! { "features" => features })
    };
    switchboard_proto::dict! {
        "caller" => f(&[]), "callee" => f(&["call_canceling"]), "publisher" => f(&[]), "subscriber" => f(&[]),
    }
}

fn ppt_call() -> CallOptions {
    CallOptions::default()
        .with("ppt_scheme", "x_custom")
        .with("ppt_serializer", "cbor")
}

#[test]
fn passthru_payloads_cross_serializers_untouched_with_their_keys() {
    let r = router();
    let mut callee = Client::joined_with(&r, Format::Cbor, "realm1", ppt_roles());
    callee.register("com.example.sealed");
    let mut caller = Client::joined_with(&r, Format::Json, "realm1", ppt_roles());
    let blob = Value::Bytes(bytes::Bytes::from_static(b"\x00\xff opaque \x01"));
    call_with(
        &mut caller,
        "com.example.sealed",
        ppt_call(),
        args(vec![blob.clone()]),
    );
    let inv = callee.expect_invocation();
    assert_eq!(inv.details.ppt_scheme(), Some("x_custom"));
    assert_eq!(inv.details.ppt_serializer(), Some("cbor"));
    assert_eq!(
        inv.payload,
        args(vec![blob.clone()]),
        "the blob is byte-identical"
    );
    callee.send(Yield {
        request: inv.request,
        options: YieldOptions::default().with("ppt_scheme", "x_custom"),
        payload: args(vec![blob.clone()]),
    });
    let res = expect_result(&mut caller);
    assert_eq!(res.details.ppt_scheme(), Some("x_custom"));
    assert_eq!(res.payload, args(vec![blob]));
}

#[test]
fn passthru_needs_the_feature_announced_on_every_side() {
    let r = router();
    let mut plain_callee = Client::joined(&r, Format::Json, "realm1");
    plain_callee.register("com.example.plain");
    let mut caller = Client::joined_with(&r, Format::Json, "realm1", ppt_roles());
    call_with(
        &mut caller,
        "com.example.plain",
        ppt_call(),
        Payload::empty(),
    );
    caller.expect_error(48, "wamp.error.feature_not_supported");
    plain_callee.expect_nothing();

    let mut naive = Client::joined(&r, Format::Json, "realm1");
    naive.publish(
        "com.example.t",
        PublishOptions::default().with("ppt_scheme", "mqtt"),
        Payload::empty(),
    );
    naive.expect_abort("wamp.error.protocol_violation");
}
