//! The dynamic authenticator's deferred path, stepped in memory: the test plays the router's
//! connection loop, taking the deferred call and feeding back its outcome.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod harness;

use std::sync::Arc;

use harness::{Client, roles};
use switchboard_engine::auth::{
    DeferredError, DeferredReply, DynamicAuthenticator, RealmSecurity, StaticAuthenticator,
};
use switchboard_engine::authz::{Permission, RoleAuthorizer};
use switchboard_engine::{EngineConfig, Flow, Router};
use switchboard_proto::auth::Secret;
use switchboard_proto::message::*;
use switchboard_proto::options::*;
use switchboard_proto::uri::{MatchPolicy, Pattern, UriRules};
use switchboard_proto::{Dict, Format, Message, Value, dict};

const REALM: &str = "realm1";
const PROC: &str = "com.example.authenticate";
const FAILED: &str = "wamp.error.authentication_failed";

fn router() -> Arc<Router> {
    let mut authz = RoleAuthorizer::new();
    let all = Pattern::parse("", MatchPolicy::Prefix, UriRules::Loose).unwrap();
    authz.add_rule("user", all, Permission::ALL);
    let fallback =
        StaticAuthenticator::new().with_ticket("static-user", Secret::from("static-pass"), "user");
    let mut config = EngineConfig {
        auto_realms: false,
        ..EngineConfig::default()
    };
    config.security.insert(
        REALM.into(),
        RealmSecurity {
            authenticator: Arc::new(DynamicAuthenticator::new(
                PROC,
                Some("auth".into()),
                &["ticket", "anonymous"],
                fallback,
            )),
            authorizer: Arc::new(authz),
        },
    );
    Router::new(config)
}

fn hello(c: &mut Client, methods: &[&str], authid: Option<&str>) {
    let list: Vec<Value> = methods.iter().map(|m| Value::from(*m)).collect();
    let mut details = HelloDetails::default()
        .with("roles", roles(&[]))
        .with("authmethods", list);
    if let Some(authid) = authid {
        details = details.with("authid", authid);
    }
    c.send(Hello {
        realm: REALM.into(),
        details,
    });
}

/// HELLO ticket, CHALLENGE, AUTHENTICATE: returns the client parked on the deferred call.
fn ticket_login(c: &mut Client, authid: &str, ticket: &str) {
    hello(c, &["ticket"], Some(authid));
    match c.recv() {
        Some(Message::Challenge(ch)) if ch.method == "ticket" => {}
        other => panic!("expected CHALLENGE ticket, got {other:?}"),
    }
    c.send(Authenticate {
        signature: ticket.into(),
        extra: Dict::new(),
    });
    assert_eq!(c.last_flow, Flow::Continue);
    c.expect_nothing();
}

fn reply(value: Value) -> Result<DeferredReply, DeferredError> {
    Ok(DeferredReply {
        args: vec![value],
        kwargs: Dict::new(),
    })
}

fn resume(c: &mut Client, result: Result<DeferredReply, DeferredError>) {
    c.last_flow = c.session.resume_auth(result);
}

fn expect_welcome(c: &mut Client) -> Welcome {
    match c.recv() {
        Some(Message::Welcome(w)) => w,
        other => panic!("expected WELCOME, got {other:?}"),
    }
}

#[test]
fn ticket_is_checked_by_the_procedure_and_its_role_is_used() {
    let router = router();
    let mut c = Client::connect(&router, Format::Json);
    ticket_login(&mut c, "joe", "secret-123");
    let call = c.session.take_deferred_auth().expect("a deferred call");
    assert!(c.session.take_deferred_auth().is_none(), "taken once");
    assert_eq!(call.procedure, PROC);
    assert_eq!(call.realm, "auth");
    assert_eq!(call.args[0], Value::from(REALM));
    assert_eq!(call.args[1], Value::from("joe"));
    let details = call.args[2].as_dict().unwrap();
    assert_eq!(details.get("ticket"), Some(&Value::from("secret-123")));
    assert_eq!(details.get("authmethod"), Some(&Value::from("ticket")));
    assert!(
        details.get("roles").is_some(),
        "the HELLO details are included"
    );
    assert!(details.get("transport").is_some());
    assert!(
        !format!("{call:?}").contains("secret-123"),
        "Debug output never shows the ticket"
    );

    resume(&mut c, reply(Value::from("user")));
    let w = expect_welcome(&mut c);
    assert_eq!(w.details.authid(), Some("joe"));
    assert_eq!(w.details.authrole(), Some("user"));
    assert_eq!(w.details.authmethod(), Some("ticket"));
    assert_eq!(w.details.authprovider(), Some("dynamic"));
    assert_eq!(c.last_flow, Flow::Continue);
    assert!(c.session.id().is_some());
}

#[test]
fn a_dictionary_answer_may_replace_the_authid_and_add_authextra() {
    let router = router();
    let mut c = Client::connect(&router, Format::MessagePack);
    ticket_login(&mut c, "joe", "t");
    c.session.take_deferred_auth().unwrap();
    resume(
        &mut c,
        reply(Value::Dict(dict! {
            "role" => "user",
            "authid" => "joseph",
            "extra" => dict! { "tier" => "gold" },
        })),
    );
    let w = expect_welcome(&mut c);
    assert_eq!(w.details.authid(), Some("joseph"));
    assert_eq!(w.details.authrole(), Some("user"));
    let extra = w
        .details
        .0
        .get("authextra")
        .and_then(Value::as_dict)
        .unwrap();
    assert_eq!(extra.get("tier"), Some(&Value::from("gold")));
}

#[test]
fn an_application_error_is_authentication_failed() {
    let router = router();
    let mut c = Client::connect(&router, Format::Json);
    ticket_login(&mut c, "joe", "wrong");
    c.session.take_deferred_auth().unwrap();
    resume(
        &mut c,
        Err(DeferredError {
            error: "com.example.invalid_ticket".into(),
            message: "no".into(),
        }),
    );
    c.expect_abort(FAILED);
    assert!(c.session.id().is_none());
}

#[test]
fn an_answer_without_a_role_is_authentication_failed() {
    for answer in [
        Value::Null,
        Value::from(""),
        Value::Dict(dict! { "authid" => "x" }),
    ] {
        let router = router();
        let mut c = Client::connect(&router, Format::Json);
        ticket_login(&mut c, "joe", "t");
        c.session.take_deferred_auth().unwrap();
        resume(&mut c, reply(answer));
        c.expect_abort(FAILED);
    }
}

#[test]
fn any_message_but_abort_while_waiting_is_a_protocol_violation() {
    let router = router();
    let mut c = Client::connect(&router, Format::Json);
    ticket_login(&mut c, "joe", "t");
    c.send(Authenticate {
        signature: "again".into(),
        extra: Dict::new(),
    });
    c.expect_abort("wamp.error.protocol_violation");
    // A late answer changes nothing.
    assert_eq!(
        c.session.resume_auth(reply(Value::from("user"))),
        Flow::Close
    );
    c.expect_nothing();
}

#[test]
fn abort_while_waiting_ends_the_session_quietly() {
    let router = router();
    let mut c = Client::connect(&router, Format::Json);
    ticket_login(&mut c, "joe", "t");
    c.send(Abort {
        details: CloseDetails::default(),
        reason: "wamp.close.normal".into(),
        payload: Default::default(),
    });
    assert_eq!(c.last_flow, Flow::Close);
    c.expect_nothing();
    assert!(c.session.take_deferred_auth().is_none());
}

#[test]
fn anonymous_is_deferred_at_once() {
    let router = router();
    let mut c = Client::connect(&router, Format::Json);
    hello(&mut c, &["anonymous"], Some("guest-7"));
    c.expect_nothing();
    let call = c.session.take_deferred_auth().unwrap();
    assert_eq!(call.args[1], Value::from("guest-7"));
    resume(&mut c, reply(Value::from("user")));
    let w = expect_welcome(&mut c);
    assert_eq!(w.details.authid(), Some("guest-7"));
    assert_eq!(w.details.authmethod(), Some("anonymous"));
}

#[test]
fn methods_not_handled_dynamically_go_to_the_static_principals() {
    let router = Router::new({
        let mut config = EngineConfig {
            auto_realms: false,
            ..EngineConfig::default()
        };
        config.security.insert(
            REALM.into(),
            RealmSecurity {
                authenticator: Arc::new(DynamicAuthenticator::new(
                    PROC,
                    None,
                    &["anonymous"],
                    StaticAuthenticator::new().with_ticket(
                        "static-user",
                        Secret::from("static-pass"),
                        "user",
                    ),
                )),
                authorizer: Arc::new(RoleAuthorizer::new()),
            },
        );
        config
    });
    let mut c = Client::connect(&router, Format::Json);
    hello(&mut c, &["ticket"], Some("static-user"));
    match c.recv() {
        Some(Message::Challenge(ch)) if ch.method == "ticket" => {}
        other => panic!("expected CHALLENGE ticket, got {other:?}"),
    }
    c.send(Authenticate {
        signature: "static-pass".into(),
        extra: Dict::new(),
    });
    let w = expect_welcome(&mut c);
    assert_eq!(w.details.authprovider(), Some("static"));
    assert!(c.session.take_deferred_auth().is_none());

    let mut d = Client::connect(&router, Format::Json);
    hello(&mut d, &["cryptosign"], Some("x"));
    d.expect_abort("wamp.error.no_matching_auth_method");
}

#[test]
fn a_trusted_session_joins_a_locked_realm_and_may_do_everything() {
    let router = router();
    let mut c = Client::connect(&router, Format::Json);
    c.session.set_trusted();
    hello(&mut c, &["ticket"], None);
    let w = expect_welcome(&mut c);
    assert_eq!(w.details.authrole(), Some("trusted"));
    assert_eq!(w.details.authmethod(), Some("trusted"));
    // Panics unless REGISTERED: the realm's authorizer allows nothing for role `trusted`.
    c.register("com.example.anything");
}
