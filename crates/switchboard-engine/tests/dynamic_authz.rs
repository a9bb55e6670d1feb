//! The dynamic authorizer's deferred path, stepped in memory: the test plays the router's
//! connection loop, taking the parked message's call and feeding back its outcome.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod harness;

use std::sync::Arc;
use std::time::Duration;

use harness::{Client, args, roles};
use switchboard_engine::auth::{
    DeferredCall, DeferredError, DeferredReply, RealmSecurity, StaticAuthenticator,
};
use switchboard_engine::authz::{DynamicAuthorizer, Permission, RoleAuthorizer};
use switchboard_engine::{EngineConfig, Flow, ManualClock, Router};
use switchboard_proto::auth::Secret;
use switchboard_proto::message::*;
use switchboard_proto::options::*;
use switchboard_proto::uri::{MatchPolicy, Pattern, UriRules};
use switchboard_proto::{Dict, Format, Message, Payload, Value, dict};

const REALM: &str = "realm1";
const PROC: &str = "com.example.authorize";
const NOT_AUTHORIZED: &str = "wamp.error.not_authorized";
const FAILED: &str = "wamp.error.authorization_failed";

fn setup(ttl: Option<Duration>) -> (Arc<Router>, ManualClock) {
    let mut rules = RoleAuthorizer::new();
    let all = Pattern::parse("", MatchPolicy::Prefix, UriRules::Loose).unwrap();
    rules.add_rule("anonymous", all, Permission::ALL);
    let authenticator = StaticAuthenticator::new()
        .with_anonymous("anonymous")
        .with_ticket("alice", Secret::from("a"), "dyn")
        .with_ticket("bob", Secret::from("b"), "dyn");
    let mut config = EngineConfig {
        auto_realms: false,
        ..EngineConfig::default()
    };
    config.security.insert(
        REALM.into(),
        RealmSecurity {
            authenticator: Arc::new(authenticator),
            authorizer: Arc::new(DynamicAuthorizer::new(
                PROC,
                None,
                vec!["dyn".into()],
                ttl,
                Arc::new(rules),
            )),
        },
    );
    let clock = ManualClock::new();
    (Router::with_clock(config, Arc::new(clock.clone())), clock)
}

/// A session of role `dyn` logged in with a ticket.
fn login(router: &Arc<Router>, authid: &str, ticket: &str) -> Client {
    let mut c = Client::connect(router, Format::Json);
    c.send(Hello {
        realm: REALM.into(),
        details: HelloDetails::default()
            .with("roles", roles(&[]))
            .with("authid", authid)
            .with("authmethods", vec![Value::from("ticket")]),
    });
    match c.recv() {
        Some(Message::Challenge(_)) => {}
        other => panic!("expected CHALLENGE, got {other:?}"),
    }
    c.send(Authenticate {
        signature: ticket.into(),
        extra: Dict::new(),
    });
    match c.recv() {
        Some(Message::Welcome(w)) => assert_eq!(w.details.authrole(), Some("dyn")),
        other => panic!("expected WELCOME, got {other:?}"),
    }
    c
}

fn answer(value: Value) -> Result<DeferredReply, DeferredError> {
    Ok(DeferredReply {
        args: vec![value],
        kwargs: Dict::new(),
    })
}

fn resume(c: &mut Client, result: Result<DeferredReply, DeferredError>) {
    c.last_flow = c.session.resume_authz(result);
}

fn take(c: &mut Client) -> DeferredCall {
    c.session
        .take_deferred_authz()
        .expect("a deferred authorizer call")
}

fn callee(router: &Arc<Router>) -> Client {
    let mut callee = Client::joined(router, Format::Json, REALM);
    callee.register("com.app.proc");
    callee
}

fn expect_result(c: &mut Client, request: switchboard_proto::Id) {
    match c.recv() {
        Some(Message::Result(r)) if r.request == request => {}
        other => panic!("expected RESULT, got {other:?}"),
    }
}

fn answer_invocation(callee: &mut Client) {
    let inv = callee.expect_invocation();
    callee.send(Yield {
        request: inv.request,
        options: Default::default(),
        payload: Payload::empty(),
    });
}

#[test]
fn an_allowed_call_goes_through_once_the_procedure_answers() {
    let (router, _) = setup(None);
    let mut callee = callee(&router);
    let mut c = login(&router, "alice", "a");
    let request = c.call("com.app.proc", args(vec![]));
    c.expect_nothing();
    callee.expect_nothing();
    assert!(c.session.is_parked());
    let call = take(&mut c);
    assert!(c.session.take_deferred_authz().is_none(), "taken once");
    assert_eq!(call.procedure, PROC);
    assert_eq!(call.realm, REALM);
    let details = call.args[0].as_dict().unwrap();
    assert_eq!(details.get("authid"), Some(&Value::from("alice")));
    assert_eq!(details.get("authrole"), Some(&Value::from("dyn")));
    assert_eq!(call.args[1], Value::from("com.app.proc"));
    assert_eq!(call.args[2], Value::from("call"));
    resume(&mut c, answer(Value::Bool(true)));
    assert_eq!(c.last_flow, Flow::Continue);
    assert!(!c.session.is_parked());
    answer_invocation(&mut callee);
    expect_result(&mut c, request);
}

#[test]
fn a_denied_action_gets_not_authorized_and_an_unacknowledged_publish_nothing() {
    let (router, _) = setup(None);
    let mut c = login(&router, "alice", "a");
    c.call("com.app.proc", args(vec![]));
    take(&mut c);
    resume(&mut c, answer(Value::Dict(dict! {"allow" => false})));
    c.expect_error(48, NOT_AUTHORIZED);

    let request = c.request();
    c.send(Subscribe {
        request,
        options: Default::default(),
        topic: "com.app.topic".into(),
    });
    assert_eq!(take(&mut c).args[2], Value::from("subscribe"));
    resume(&mut c, answer(Value::Bool(false)));
    c.expect_error(32, NOT_AUTHORIZED);

    c.publish("com.app.topic", PublishOptions::default(), args(vec![]));
    assert_eq!(take(&mut c).args[2], Value::from("publish"));
    resume(&mut c, answer(Value::Bool(false)));
    c.expect_nothing();
}

#[test]
fn allowed_register_subscribe_and_acknowledged_publish() {
    let (router, _) = setup(None);
    let mut c = login(&router, "alice", "a");
    let request = c.request();
    c.send(Register {
        request,
        options: Default::default(),
        procedure: "com.alice.proc".into(),
    });
    assert_eq!(take(&mut c).args[2], Value::from("register"));
    resume(&mut c, answer(Value::Bool(true)));
    assert!(matches!(c.recv(), Some(Message::Registered(_))));

    let request = c.request();
    c.send(Subscribe {
        request,
        options: Default::default(),
        topic: "com.app.topic".into(),
    });
    take(&mut c);
    resume(&mut c, answer(Value::Bool(true)));
    assert!(matches!(c.recv(), Some(Message::Subscribed(_))));

    c.publish(
        "com.app.topic",
        PublishOptions::default().with("acknowledge", true),
        args(vec![]),
    );
    take(&mut c);
    resume(&mut c, answer(Value::Bool(true)));
    assert!(matches!(c.recv(), Some(Message::Published(_))));
}

#[test]
fn a_cached_answer_is_used_without_a_second_call_until_it_expires() {
    let (router, clock) = setup(Some(Duration::from_secs(10)));
    let mut callee = callee(&router);
    let mut c = login(&router, "alice", "a");
    c.call("com.app.proc", args(vec![]));
    take(&mut c);
    resume(
        &mut c,
        answer(Value::Dict(dict! {"allow" => true, "cache" => true})),
    );
    answer_invocation(&mut callee);
    c.recv().unwrap();

    let request = c.call("com.app.proc", args(vec![]));
    assert!(!c.session.is_parked(), "answered from the cache");
    answer_invocation(&mut callee);
    expect_result(&mut c, request);

    clock.advance(Duration::from_secs(11));
    c.call("com.app.proc", args(vec![]));
    assert!(c.session.is_parked(), "the cached answer expired");
    take(&mut c);
}

#[test]
fn a_dictionary_answer_without_cache_true_is_not_cached_and_no_ttl_means_no_cache() {
    let (router, _) = setup(Some(Duration::from_secs(10)));
    let mut c = login(&router, "alice", "a");
    c.call("com.app.proc", args(vec![]));
    take(&mut c);
    resume(&mut c, answer(Value::Dict(dict! {"allow" => false})));
    c.expect_error(48, NOT_AUTHORIZED);
    c.call("com.app.proc", args(vec![]));
    assert!(c.session.is_parked());

    let (router, _) = setup(None);
    let mut c = login(&router, "alice", "a");
    c.call("com.app.proc", args(vec![]));
    take(&mut c);
    resume(&mut c, answer(Value::Bool(false)));
    c.expect_error(48, NOT_AUTHORIZED);
    c.call("com.app.proc", args(vec![]));
    assert!(c.session.is_parked());
}

#[test]
fn cached_decisions_are_per_authid() {
    let (router, _) = setup(Some(Duration::from_secs(10)));
    let mut alice = login(&router, "alice", "a");
    alice.call("com.app.proc", args(vec![]));
    take(&mut alice);
    resume(&mut alice, answer(Value::Bool(false)));
    alice.expect_error(48, NOT_AUTHORIZED);
    alice.call("com.app.proc", args(vec![]));
    assert!(!alice.session.is_parked(), "alice's denial is cached");
    alice.expect_error(48, NOT_AUTHORIZED);

    let mut bob = login(&router, "bob", "b");
    bob.call("com.app.proc", args(vec![]));
    assert!(bob.session.is_parked(), "alice's answer is not bob's");
    assert_eq!(
        take(&mut bob).args[0].as_dict().unwrap().get("authid"),
        Some(&Value::from("bob"))
    );
}

#[test]
fn purge_empties_the_cache_optionally_for_one_authid() {
    let (router, _) = setup(Some(Duration::from_secs(60)));
    let mut alice = login(&router, "alice", "a");
    let mut bob = login(&router, "bob", "b");
    for c in [&mut alice, &mut bob] {
        for uri in ["com.a", "com.b"] {
            c.call(uri, args(vec![]));
            take(c);
            resume(c, answer(Value::Bool(false)));
            c.expect_error(48, NOT_AUTHORIZED);
        }
    }
    let mut admin = Client::joined(&router, Format::Json, REALM);
    let request = admin.request();
    admin.send(Call {
        request,
        options: CallOptions::default(),
        procedure: "wamp.authorizer.purge".into(),
        payload: Payload::new(vec![], dict! {"authid" => "alice"}),
    });
    match admin.recv() {
        Some(Message::Result(r)) => {
            assert_eq!(r.payload.to_values().unwrap().args, vec![Value::from(2u64)]);
        }
        other => panic!("expected RESULT, got {other:?}"),
    }
    alice.call("com.a", args(vec![]));
    assert!(alice.session.is_parked(), "alice's entries are gone");
    bob.call("com.a", args(vec![]));
    assert!(!bob.session.is_parked(), "bob's are kept");
    bob.expect_error(48, NOT_AUTHORIZED);

    admin.call("wamp.authorizer.purge", args(vec![]));
    match admin.recv() {
        Some(Message::Result(r)) => {
            assert_eq!(r.payload.to_values().unwrap().args, vec![Value::from(2u64)]);
        }
        other => panic!("expected RESULT, got {other:?}"),
    }
    bob.call("com.b", args(vec![]));
    assert!(bob.session.is_parked());
}

#[test]
fn a_dynamic_role_must_be_allowed_to_purge() {
    let (router, _) = setup(None);
    let mut c = login(&router, "alice", "a");
    c.call("wamp.authorizer.purge", args(vec![]));
    let call = take(&mut c);
    assert_eq!(call.args[1], Value::from("wamp.authorizer.purge"));
    resume(&mut c, answer(Value::Bool(false)));
    c.expect_error(48, NOT_AUTHORIZED);
}

#[test]
fn later_messages_wait_behind_a_parked_one() {
    let (router, _) = setup(None);
    let mut callee = callee(&router);
    let mut c = login(&router, "alice", "a");
    let first = c.call("com.app.proc", args(vec![]));
    c.publish(
        "com.app.topic",
        PublishOptions::default().with("acknowledge", true),
        args(vec![]),
    );
    assert!(c.session.take_deferred_authz().is_some());
    assert!(c.session.take_deferred_authz().is_none(), "one at a time");
    c.expect_nothing();
    callee.expect_nothing();

    resume(&mut c, answer(Value::Bool(true)));
    // The CALL went out; the PUBLISH behind it is now parked in turn.
    answer_invocation(&mut callee);
    expect_result(&mut c, first);
    assert!(c.session.is_parked());
    assert_eq!(take(&mut c).args[2], Value::from("publish"));
    resume(&mut c, answer(Value::Bool(true)));
    assert!(matches!(c.recv(), Some(Message::Published(_))));
    assert!(!c.session.is_parked());
}

#[test]
fn a_failed_procedure_call_is_authorization_failed() {
    let (router, _) = setup(None);
    let mut c = login(&router, "alice", "a");
    c.call("com.app.proc", args(vec![]));
    take(&mut c);
    resume(
        &mut c,
        Err(DeferredError {
            error: "wamp.error.no_such_procedure".into(),
            message: "no procedure".into(),
        }),
    );
    let e = c.expect_error(48, FAILED);
    let text = format!("{:?}", e.payload.to_values().unwrap().args);
    assert!(text.contains("no_such_procedure"), "{text}");

    c.call("com.app.proc", args(vec![]));
    take(&mut c);
    resume(&mut c, answer(Value::from("yes")));
    c.expect_error(48, FAILED);

    c.publish("com.app.topic", PublishOptions::default(), args(vec![]));
    take(&mut c);
    resume(
        &mut c,
        Err(DeferredError {
            error: "wamp.error.timeout".into(),
            message: "timed out".into(),
        }),
    );
    c.expect_nothing();
}

#[test]
fn other_roles_keep_the_static_rules() {
    let (router, _) = setup(None);
    let mut callee = callee(&router);
    let mut anon = Client::joined(&router, Format::Json, REALM);
    let request = anon.call("com.app.proc", args(vec![]));
    assert!(!anon.session.is_parked());
    answer_invocation(&mut callee);
    expect_result(&mut anon, request);
}
