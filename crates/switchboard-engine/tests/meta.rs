//! Meta API (wamp-spec §6), retention (§5.20), history (§5.19) and testaments (§6.4).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod harness;

use std::sync::Arc;

use harness::*;
use switchboard_engine::{BrokerLimits, EngineConfig, RealmSettings, Router};
use switchboard_proto::message::*;
use switchboard_proto::options::*;
use switchboard_proto::uri::{MatchPolicy, Pattern, UriRules};
use switchboard_proto::{Dict, Format, Id, Message, Payload, Value, dict};

fn meta_call(
    c: &mut Client,
    procedure: &str,
    args: Vec<Value>,
    kwargs: Dict,
) -> Result<Vec<Value>, String> {
    let request = c.request();
    c.send(Call {
        request,
        options: Default::default(),
        procedure: procedure.into(),
        payload: Payload::new(args, kwargs),
    });
    loop {
        match c.recv() {
            Some(Message::Result(r)) if r.request == request => {
                return Ok(r.payload.to_values().unwrap().args);
            }
            Some(Message::Error(e)) if e.request == request => return Err(e.error),
            Some(_) => continue, // meta events etc.
            None => panic!("no answer to {procedure}"),
        }
    }
}

fn first(v: Result<Vec<Value>, String>) -> Value {
    v.unwrap().into_iter().next().unwrap_or_default()
}

fn events(c: &mut Client) -> Vec<(Id, Vec<Value>)> {
    c.recv_all()
        .into_iter()
        .filter_map(|m| match m {
            Message::Event(e) => Some((e.subscription, e.payload.to_values().unwrap().args)),
            _ => None,
        })
        .collect()
}

#[test]
fn session_meta_counts_lists_and_gets_sessions() {
    let r = router();
    let mut a = Client::joined(&r, Format::Json, "realm1");
    let b = Client::joined(&r, Format::Json, "realm1");
    let _other = Client::joined(&r, Format::Json, "com.example.realm");
    assert_eq!(
        first(meta_call(&mut a, "wamp.session.count", vec![], Dict::new())),
        Value::from(2u64)
    );
    let anon = Value::List(vec![Value::from("anonymous")]);
    assert_eq!(
        first(meta_call(
            &mut a,
            "wamp.session.count",
            vec![anon],
            Dict::new()
        )),
        Value::from(2u64)
    );
    let none = Value::List(vec![Value::from("admin")]);
    assert_eq!(
        first(meta_call(
            &mut a,
            "wamp.session.count",
            vec![none],
            Dict::new()
        )),
        Value::from(0u64)
    );
    let Value::List(mut ids) = first(meta_call(&mut a, "wamp.session.list", vec![], Dict::new()))
    else {
        panic!()
    };
    ids.sort_by_key(|v| v.as_u64());
    let mut want = vec![Value::from(a.session_id()), Value::from(b.session_id())];
    want.sort_by_key(|v| v.as_u64());
    assert_eq!(ids, want);
    let details = first(meta_call(
        &mut a,
        "wamp.session.get",
        vec![b.session_id().into()],
        Dict::new(),
    ));
    let d = details.as_dict().unwrap();
    assert_eq!(d.get("session"), Some(&Value::from(b.session_id())));
    assert_eq!(d.get("authrole"), Some(&Value::from("anonymous")));
    assert_eq!(d.get("authmethod"), Some(&Value::from("anonymous")));
    assert_eq!(
        meta_call(
            &mut a,
            "wamp.session.get",
            vec![Value::from(12345u64)],
            Dict::new()
        ),
        Err("wamp.error.no_such_session".into())
    );
    assert_eq!(
        meta_call(&mut a, "wamp.session.nothing", vec![], Dict::new()),
        Err("wamp.error.no_such_procedure".into())
    );
}

#[test]
fn session_join_and_leave_events() {
    let r = router();
    let mut watcher = Client::joined(&r, Format::Json, "realm1");
    let joins = watcher.subscribe("wamp.session.on_join");
    let leaves = watcher.subscribe("wamp.session.on_leave");
    let c = Client::joined(&r, Format::Json, "realm1");
    let id = c.session_id();
    drop(c);
    let got = events(&mut watcher);
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].0, joins);
    assert_eq!(
        got[0].1[0].as_dict().unwrap().get("session"),
        Some(&Value::from(id))
    );
    assert_eq!(
        got[1],
        (
            leaves,
            vec![
                Value::from(id),
                Value::from(id.to_string()),
                Value::from("anonymous")
            ]
        )
    );
}

#[test]
fn kill_sends_goodbye_and_the_kill_procedures_follow_the_spec() {
    let r = router();
    let mut admin = Client::joined(&r, Format::Json, "realm1");
    let mut v1 = Client::joined(&r, Format::Json, "realm1");
    let mut v2 = Client::joined(&r, Format::Json, "realm1");
    let me = admin.session_id();
    assert_eq!(
        meta_call(
            &mut admin,
            "wamp.session.kill",
            vec![me.into()],
            Dict::new()
        ),
        Err("wamp.error.no_such_session".into()),
        "a session cannot kill itself"
    );
    assert_eq!(
        meta_call(
            &mut admin,
            "wamp.session.kill",
            vec![v1.session_id().into()],
            dict! { "reason" => "not a uri" }
        ),
        Err("wamp.error.invalid_uri".into())
    );
    meta_call(
        &mut admin,
        "wamp.session.kill",
        vec![v1.session_id().into()],
        dict! { "reason" => "com.example.bye", "message" => "go" },
    )
    .unwrap();
    match v1.recv() {
        Some(Message::Goodbye(g)) => {
            assert_eq!(g.reason, "com.example.bye");
            assert_eq!(g.details.message(), Some("go"));
        }
        other => panic!("expected GOODBYE, got {other:?}"),
    }
    v1.send(Goodbye {
        details: Default::default(),
        reason: "wamp.close.goodbye_and_out".into(),
    });
    let authid = v2.session_id().to_string();
    let killed = first(meta_call(
        &mut admin,
        "wamp.session.kill_by_authid",
        vec![authid.into()],
        Dict::new(),
    ));
    assert_eq!(killed, Value::List(vec![Value::from(v2.session_id())]));
    match v2.recv() {
        Some(Message::Goodbye(g)) => assert_eq!(g.reason, "wamp.close.killed"),
        other => panic!("expected GOODBYE, got {other:?}"),
    }
    let _v3 = Client::joined(&r, Format::Json, "realm1");
    let n = first(meta_call(
        &mut admin,
        "wamp.session.kill_by_authrole",
        vec!["anonymous".into()],
        Dict::new(),
    ));
    assert_eq!(
        n,
        Value::from(1u64),
        "v3 only: killed or leaving sessions and the caller are not counted"
    );
}

#[test]
fn kill_all_generates_no_leave_events_or_testaments() {
    let r = router();
    let mut admin = Client::joined(&r, Format::Json, "realm1");
    let mut watcher = Client::joined(&r, Format::Json, "com.example.other");
    watcher.subscribe("wamp.session.on_leave");
    let mut victim = Client::joined(&r, Format::Json, "realm1");
    meta_call(
        &mut victim,
        "wamp.session.add_testament",
        vec![
            "com.example.will".into(),
            Value::List(vec![]),
            Value::Dict(Dict::new()),
        ],
        Dict::new(),
    )
    .unwrap();
    let mut listener = Client::joined(&r, Format::Json, "realm1");
    listener.subscribe("wamp.session.on_leave");
    listener.subscribe("com.example.will");
    let n = first(meta_call(
        &mut admin,
        "wamp.session.kill_all",
        vec![],
        Dict::new(),
    ));
    assert_eq!(n, Value::from(2u64));
    victim.session.transport_closed();
    listener.session.transport_closed();
    assert!(events(&mut watcher).is_empty());
}

#[test]
fn testaments_are_published_when_the_session_goes_detached_before_destroyed() {
    let r = router();
    let mut listener = Client::joined(&r, Format::Json, "realm1");
    let sub = listener.subscribe_with(
        "com.example.will",
        SubscribeOptions::default().with("match", "prefix"),
    );
    let mut c = Client::joined(&r, Format::Json, "realm1");
    for (topic, scope) in [
        ("com.example.will.a", "destroyed"),
        ("com.example.will.b", "detached"),
        ("com.example.will.c", "destroyed"),
    ] {
        meta_call(
            &mut c,
            "wamp.session.add_testament",
            vec![
                topic.into(),
                Value::List(vec![Value::from(topic)]),
                Value::Dict(Dict::new()),
            ],
            dict! { "scope" => scope },
        )
        .unwrap();
    }
    meta_call(
        &mut c,
        "wamp.session.add_testament",
        vec![
            "com.example.will.d".into(),
            Value::List(vec![]),
            Value::Dict(Dict::new()),
        ],
        Dict::new(),
    )
    .unwrap();
    let flushed = meta_call(
        &mut c,
        "wamp.session.flush_testaments",
        vec![],
        dict! { "scope" => "destroyed" },
    );
    assert_eq!(
        flushed,
        Ok(vec![]),
        "flush returns nothing (wamp-spec §6.4)"
    );
    meta_call(
        &mut c,
        "wamp.session.add_testament",
        vec![
            "com.example.will.e".into(),
            Value::List(vec![Value::from("e")]),
            Value::Dict(Dict::new()),
        ],
        Dict::new(),
    )
    .unwrap();
    drop(c);
    let got: Vec<_> = events(&mut listener)
        .into_iter()
        .map(|(s, a)| (s, a[0].clone()))
        .collect();
    assert_eq!(
        got,
        vec![
            (sub, Value::from("com.example.will.b")),
            (sub, Value::from("e"))
        ]
    );
}

#[test]
fn registration_meta_procedures_and_events() {
    let r = router();
    let mut watcher = Client::joined(&r, Format::Json, "realm1");
    for t in ["on_create", "on_register", "on_unregister", "on_delete"] {
        watcher.subscribe(&format!("wamp.registration.{t}"));
    }
    let mut callee = Client::joined(&r, Format::Json, "realm1");
    let exact = callee.register("com.example.add");
    let prefix = callee.register_with(
        "com.example.math",
        RegisterOptions::default().with("match", "prefix"),
    );
    let mut q = Client::joined(&r, Format::Json, "realm1");
    let list = first(meta_call(
        &mut q,
        "wamp.registration.list",
        vec![],
        Dict::new(),
    ));
    assert_eq!(
        list,
        Value::Dict(dict! {
            "exact" => vec![Value::from(exact)], "prefix" => vec![Value::from(prefix)], "wildcard" => Vec::<Value>::new(),
        })
    );
    assert_eq!(
        first(meta_call(
            &mut q,
            "wamp.registration.lookup",
            vec!["com.example.add".into()],
            Dict::new()
        )),
        Value::from(exact)
    );
    assert_eq!(
        first(meta_call(
            &mut q,
            "wamp.registration.lookup",
            vec![
                "com.example.math".into(),
                Value::Dict(dict! { "match" => "prefix" })
            ],
            Dict::new()
        )),
        Value::from(prefix)
    );
    assert_eq!(
        first(meta_call(
            &mut q,
            "wamp.registration.lookup",
            vec!["com.example.math".into()],
            Dict::new()
        )),
        Value::Null
    );
    assert_eq!(
        first(meta_call(
            &mut q,
            "wamp.registration.match",
            vec!["com.example.math.sqrt".into()],
            Dict::new()
        )),
        Value::from(prefix)
    );
    assert_eq!(
        first(meta_call(
            &mut q,
            "wamp.registration.match",
            vec!["org.nothing".into()],
            Dict::new()
        )),
        Value::Null
    );
    let get = first(meta_call(
        &mut q,
        "wamp.registration.get",
        vec![exact.into()],
        Dict::new(),
    ));
    let d = get.as_dict().unwrap();
    assert_eq!(d.get("uri"), Some(&Value::from("com.example.add")));
    assert_eq!(d.get("match"), Some(&Value::from("exact")));
    assert_eq!(d.get("invoke"), Some(&Value::from("single")));
    assert!(
        d.get("created")
            .and_then(Value::as_str)
            .is_some_and(|s| s.ends_with('Z'))
    );
    assert_eq!(
        first(meta_call(
            &mut q,
            "wamp.registration.list_callees",
            vec![exact.into()],
            Dict::new()
        )),
        Value::List(vec![callee.session_id().into()])
    );
    assert_eq!(
        first(meta_call(
            &mut q,
            "wamp.registration.count_callees",
            vec![exact.into()],
            Dict::new()
        )),
        Value::from(1u64)
    );
    assert_eq!(
        meta_call(
            &mut q,
            "wamp.registration.get",
            vec![Value::from(7u64)],
            Dict::new()
        ),
        Err("wamp.error.no_such_registration".into())
    );

    let req = callee.request();
    callee.send(Unregister {
        request: req,
        registration: exact,
    });
    let got: Vec<_> = events(&mut watcher).into_iter().map(|(_, a)| a).collect();
    let me = Value::from(callee.session_id());
    assert_eq!(got.len(), 6, "{got:?}");
    assert_eq!(got[0][0], me); // on_create (exact) ...
    assert_eq!(
        got[0][1].as_dict().unwrap().get("id"),
        Some(&Value::from(exact))
    );
    assert_eq!(got[1], vec![me.clone(), exact.into()]); // ... then on_register
    assert_eq!(got[4], vec![me.clone(), exact.into()]); // on_unregister
    assert_eq!(got[5], vec![me, exact.into()]); // then on_delete
}

#[test]
fn remove_callee_revokes_the_registration_with_a_revocation_message() {
    let r = router();
    let mut revocable = Client::joined_with(
        &r,
        Format::Json,
        "realm1",
        roles(&["registration_revocation"]),
    );
    let reg = revocable.register("com.example.p");
    let mut admin = Client::joined(&r, Format::Json, "realm1");
    meta_call(
        &mut admin,
        "wamp.registration.remove_callee",
        vec![
            reg.into(),
            revocable.session_id().into(),
            "maintenance".into(),
        ],
        Dict::new(),
    )
    .unwrap();
    match revocable.recv() {
        Some(Message::Unregistered(u)) => {
            assert_eq!(u.request, None);
            let d = u.details.unwrap();
            assert_eq!(d.registration(), Some(reg));
            assert_eq!(d.reason(), Some("maintenance"));
        }
        other => panic!("expected revocation UNREGISTERED, got {other:?}"),
    }
    admin.call("com.example.p", Payload::empty());
    admin.expect_error(48, "wamp.error.no_such_procedure");
    let req = revocable.request();
    revocable.send(Unregister {
        request: req,
        registration: reg,
    });
    revocable.expect_error(66, "wamp.error.no_such_registration");
}

#[test]
fn subscription_meta_procedures_events_and_revocation() {
    let r = router();
    let mut watcher = Client::joined(&r, Format::Json, "com.example.realm");
    let w_create = watcher.subscribe("wamp.subscription.on_create");
    watcher.recv_all(); // its own on_create
    let w_sub = watcher.subscribe("wamp.subscription.on_subscribe");
    let mut s = Client::joined_with(&r, Format::Json, "com.example.realm", {
        let mut r = roles(&[]);
        r.insert(
            "subscriber".into(),
            Value::Dict(dict! { "features" => dict! { "subscription_revocation" => true } }),
        );
        r
    });
    let exact = s.subscribe("com.example.t");
    let wild = s.subscribe_with(
        "com.example..x",
        SubscribeOptions::default().with("match", "wildcard"),
    );
    let got = events(&mut watcher);
    // the watcher's own second subscription shows up too; look at s's
    let mine: Vec<_> = got
        .iter()
        .filter(|(_, a)| a[0] == Value::from(s.session_id()))
        .collect();
    assert_eq!(mine[0].0, w_create);
    assert_eq!(
        mine[1],
        &(w_sub, vec![Value::from(s.session_id()), exact.into()])
    );
    let mut q = Client::joined(&r, Format::Json, "com.example.realm");
    let Value::Dict(list) = first(meta_call(
        &mut q,
        "wamp.subscription.list",
        vec![],
        Dict::new(),
    )) else {
        panic!()
    };
    assert_eq!(list.get("wildcard"), Some(&Value::List(vec![wild.into()])));
    assert_eq!(
        first(meta_call(
            &mut q,
            "wamp.subscription.lookup",
            vec!["com.example.t".into()],
            Dict::new()
        )),
        Value::from(exact)
    );
    let Value::List(m) = first(meta_call(
        &mut q,
        "wamp.subscription.match",
        vec!["com.example.t".into()],
        Dict::new(),
    )) else {
        panic!()
    };
    assert_eq!(m, vec![Value::from(exact)]);
    assert_eq!(
        first(meta_call(
            &mut q,
            "wamp.subscription.match",
            vec!["org.none".into()],
            Dict::new()
        )),
        Value::Null
    );
    let d = first(meta_call(
        &mut q,
        "wamp.subscription.get",
        vec![wild.into()],
        Dict::new(),
    ));
    assert_eq!(
        d.as_dict().unwrap().get("match"),
        Some(&Value::from("wildcard"))
    );
    assert_eq!(
        first(meta_call(
            &mut q,
            "wamp.subscription.count_subscribers",
            vec![exact.into()],
            Dict::new()
        )),
        Value::from(1u64)
    );
    assert_eq!(
        first(meta_call(
            &mut q,
            "wamp.subscription.list_subscribers",
            vec![exact.into()],
            Dict::new()
        )),
        Value::List(vec![s.session_id().into()])
    );
    meta_call(
        &mut q,
        "wamp.subscription.remove_subscriber",
        vec![exact.into(), s.session_id().into()],
        Dict::new(),
    )
    .unwrap();
    match s.recv() {
        Some(Message::Unsubscribed(u)) => {
            assert_eq!(u.details.unwrap().subscription(), Some(exact))
        }
        other => panic!("expected revocation UNSUBSCRIBED, got {other:?}"),
    }
    assert_eq!(
        meta_call(
            &mut q,
            "wamp.subscription.get",
            vec![exact.into()],
            Dict::new()
        ),
        Err("wamp.error.no_such_subscription".into())
    );
}

fn router_with(broker: BrokerLimits) -> Arc<Router> {
    let settings = RealmSettings {
        broker,
        ..RealmSettings::default()
    };
    Router::new(EngineConfig {
        default_realm_settings: settings,
        ..EngineConfig::default()
    })
}

#[test]
fn retained_events_are_sent_after_subscribed_to_those_who_ask_and_are_eligible() {
    let r = router_with(BrokerLimits {
        max_retained: 10,
        history: vec![],
    });
    let mut p = Client::joined(&r, Format::Json, "realm1");
    p.publish(
        "com.example.state",
        PublishOptions::default().with("retain", true),
        args(vec![Value::from(1u64)]),
    );
    p.publish(
        "com.example.state",
        PublishOptions::default().with("retain", true),
        args(vec![Value::from(2u64)]),
    );
    p.publish(
        "com.example.secret",
        PublishOptions::default()
            .with("retain", true)
            .with("eligible_authrole", vec![Value::from("admin")]),
        Payload::empty(),
    );
    let mut late = Client::joined(&r, Format::MessagePack, "realm1");
    let request = late.request();
    late.send(Subscribe {
        request,
        options: SubscribeOptions::default().with("get_retained", true),
        topic: "com.example.state".into(),
    });
    assert!(
        matches!(late.recv(), Some(Message::Subscribed(_))),
        "SUBSCRIBED comes first"
    );
    match late.recv() {
        Some(Message::Event(e)) => {
            assert_eq!(e.details.retained(), Some(true));
            assert_eq!(
                e.payload,
                args(vec![Value::from(2u64)]),
                "only the most recent"
            );
        }
        other => panic!("expected the retained EVENT, got {other:?}"),
    }
    late.subscribe("com.example.other"); // no get_retained: nothing extra
    let request = late.request();
    late.send(Subscribe {
        request,
        options: SubscribeOptions::default().with("get_retained", true),
        topic: "com.example.secret".into(),
    });
    assert!(matches!(late.recv(), Some(Message::Subscribed(_))));
    late.expect_nothing();
}

#[test]
fn event_history_is_kept_per_topic_and_read_with_get_events() {
    let pattern = Pattern::parse("com.example.log", MatchPolicy::Prefix, UriRules::Loose).unwrap();
    let r = router_with(BrokerLimits {
        max_retained: 0,
        history: vec![(pattern, 3)],
    });
    let mut reader = Client::joined(&r, Format::Json, "realm1");
    let sub = reader.subscribe("com.example.log.app");
    let mut p = Client::joined(&r, Format::Json, "realm1");
    for i in 0..5u64 {
        p.publish(
            "com.example.log.app",
            PublishOptions::default(),
            args(vec![Value::from(i)]),
        );
    }
    p.publish(
        "com.example.log.app",
        PublishOptions::default().with("exclude", vec![Value::from(1u64)]),
        Payload::empty(),
    );
    p.publish(
        "com.example.untracked",
        PublishOptions::default(),
        Payload::empty(),
    );
    reader.recv_all();
    let got = first(meta_call(
        &mut reader,
        "wamp.subscription.get_events",
        vec![sub.into()],
        Dict::new(),
    ));
    let numbers: Vec<u64> = got
        .as_list()
        .unwrap()
        .iter()
        .map(|e| {
            e.as_dict().unwrap().get("args").unwrap().as_list().unwrap()[0]
                .as_u64()
                .unwrap()
        })
        .collect();
    assert_eq!(
        numbers,
        vec![2, 3, 4],
        "bounded to 3; events naming session ids are not stored"
    );
    let got = first(meta_call(
        &mut reader,
        "wamp.subscription.get_events",
        vec![sub.into()],
        dict! { "limit" => 1u64, "reverse" => true },
    ));
    let e = got.as_list().unwrap()[0].as_dict().unwrap();
    assert_eq!(e.get("args"), Some(&Value::List(vec![Value::from(4u64)])));
    assert_eq!(e.get("subscription"), Some(&Value::from(sub)));
    assert!(e.get("timestamp").and_then(Value::as_str).is_some());
}
