#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Our client against Crossbar.io, the reference WAMP router: the Basic Profile over every
//! serializer and both transports, authentication, and the Advanced Profile features Crossbar
//! announces (progressive results, canceling, caller and publisher disclosure, pattern-based
//! and shared registrations, pattern-based subscriptions, publisher exclusion, black- and
//! whitelisting, event retention).
//!
//! Run them with `tests/crossbar/run`, which installs Crossbar from PyPI into a venv, starts it
//! with `tests/crossbar/config.json` on free loopback ports and runs this file with
//!
//! - `CROSSBAR_URL`: the anonymous WebSocket transport (`ws://127.0.0.1:PORT/ws`); realms
//!   `realm1` (nothing disclosed) and `disclose` (callers and publishers disclosed);
//! - `CROSSBAR_RAWSOCKET_URL`: the anonymous RawSocket transport (`rs://127.0.0.1:PORT`);
//! - `CROSSBAR_AUTH_URL`: the authenticated WebSocket transport, realm `auth` (default: the
//!   `CROSSBAR_URL` with path `/auth`).
//!
//! Every test is `#[ignore]`d, so a plain `cargo test` skips them; with `--include-ignored`
//! but without `CROSSBAR_URL` they return at once, saying so.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use futures_util::StreamExt as _;
use switchboard_client::{
    ApplicationError, Auth, CallError, CallOptions, CallOutput, CancelMode, CloseKind,
    ConnectError, ConnectOptions, Dict, Event, EventStream, Feature, Format, Invocation,
    InvokePolicy, MatchPolicy, PublishOptions, RegisterError, RegisterOptions, Session,
    SubscribeOptions, Value, blocking,
};
use tokio::sync::mpsc;

/// How long any single wait may take before the test fails.
const TIMEOUT: Duration = Duration::from_secs(20);

const SERIALIZERS: [Format; 3] = [Format::Json, Format::MessagePack, Format::Cbor];

/// Where Crossbar listens (from the environment).
struct Crossbar {
    ws: String,
    rs: Option<String>,
    auth: String,
}

impl Crossbar {
    fn from_env() -> Option<Crossbar> {
        let ws = std::env::var("CROSSBAR_URL")
            .ok()
            .filter(|u| !u.is_empty())?;
        let rs = std::env::var("CROSSBAR_RAWSOCKET_URL")
            .ok()
            .filter(|u| !u.is_empty());
        let auth = std::env::var("CROSSBAR_AUTH_URL")
            .ok()
            .filter(|u| !u.is_empty())
            .unwrap_or_else(|| match ws.rsplit_once('/') {
                Some((base, _)) => format!("{base}/auth"),
                None => format!("{ws}/auth"),
            });
        Some(Crossbar { ws, rs, auth })
    }

    /// Every anonymous transport: WebSocket, and RawSocket when configured.
    fn urls(&self) -> Vec<&str> {
        let mut urls = vec![self.ws.as_str()];
        urls.extend(self.rs.as_deref());
        urls
    }

    async fn session(&self, realm: &str) -> Session {
        connect(ConnectOptions::new(&self.ws, realm)).await
    }
}

/// The Crossbar under test, or return from the test (passing) when there is none.
macro_rules! crossbar {
    () => {
        match Crossbar::from_env() {
            Some(crossbar) => crossbar,
            None => {
                eprintln!("skipped: CROSSBAR_URL is not set (tests/crossbar/run sets it)");
                return;
            }
        }
    };
}

async fn within<F: Future>(fut: F) -> F::Output {
    tokio::time::timeout(TIMEOUT, fut)
        .await
        .expect("timed out waiting")
}

async fn connect(options: ConnectOptions) -> Session {
    let what = format!(
        "{} realm {} {:?}",
        options.url, options.realm, options.serializer
    );
    within(Session::connect(options))
        .await
        .unwrap_or_else(|e| panic!("cannot connect to {what}: {e}"))
}

/// A URI unique to this test run and test.
fn uri(test: &str, name: &str) -> String {
    format!("com.sbtest.p{}.{test}.{name}", std::process::id())
}

async fn next_event(events: &mut EventStream) -> Event {
    within(events.next()).await.expect("the event stream ended")
}

type HandlerFuture = Pin<Box<dyn Future<Output = Result<CallOutput, ApplicationError>> + Send>>;

/// A handler that never answers and reports on `tx` when the router interrupts it.
fn hang_until_interrupted(
    tx: mpsc::UnboundedSender<String>,
) -> impl Fn(Invocation) -> HandlerFuture + Send + Sync + 'static {
    move |inv: Invocation| -> HandlerFuture {
        let tx = tx.clone();
        Box::pin(async move {
            let token = inv.interrupt_token();
            let procedure = inv.procedure().to_owned();
            tokio::spawn(async move {
                token.cancelled().await;
                let _ = tx.send(procedure);
            });
            std::future::pending::<()>().await;
            Ok(CallOutput::new())
        })
    }
}

#[tokio::test]
#[ignore = "needs Crossbar.io: run tests/crossbar/run"]
async fn welcome_announces_the_features_these_tests_use() {
    let crossbar = crossbar!();
    let session = crossbar.session("realm1").await;
    let d = session.details();
    assert_eq!(d.realm, "realm1");
    assert_eq!(d.authrole.as_deref(), Some("anonymous"));
    for feature in [
        Feature::ProgressiveCallResults,
        Feature::CallCanceling,
        Feature::CallerIdentification,
        Feature::PatternBasedRegistration,
        Feature::SharedRegistration,
    ] {
        assert!(d.dealer_has(feature), "dealer lacks {feature:?}: {d:?}");
    }
    for feature in [
        Feature::PublisherIdentification,
        Feature::PatternBasedSubscription,
        Feature::SubscriberBlackwhiteListing,
        Feature::PublisherExclusion,
        Feature::EventRetention,
    ] {
        assert!(d.broker_has(feature), "broker lacks {feature:?}: {d:?}");
    }
    let info = within(session.leave()).await.unwrap();
    assert_eq!(info.kind, CloseKind::Left);
    assert!(session.is_closed());
}

/// Basic Profile RPC: positional and keyword arguments and results, over every serializer and
/// transport, callee and caller on different serializers and transports.
#[tokio::test]
#[ignore = "needs Crossbar.io: run tests/crossbar/run"]
async fn call_and_register_over_every_serializer_and_transport() {
    let crossbar = crossbar!();
    let mut n = 0;
    for callee_url in crossbar.urls() {
        for callee_format in SERIALIZERS {
            n += 1;
            let procedure = uri("rpc", &format!("add{n}"));
            let callee =
                connect(ConnectOptions::new(callee_url, "realm1").serializer(callee_format)).await;
            callee
                .register(&procedure, |inv| async move {
                    let (a, b): (i64, i64) = inv.args_as()?;
                    let scale: i64 = inv.kwarg("scale")?.unwrap_or(1);
                    let blob = inv.kwargs().get("blob").cloned();
                    Ok(
                        CallOutput::value((a + b) * scale).with_kwargs(BTreeMap::from([
                            ("inputs".to_owned(), Value::List(inv.args().to_vec())),
                            ("blob".to_owned(), blob.unwrap_or(Value::Null)),
                        ])),
                    )
                })
                .await
                .unwrap();
            for caller_url in crossbar.urls() {
                for caller_format in SERIALIZERS {
                    let what = format!(
                        "callee {callee_url} {callee_format:?}, caller {caller_url} {caller_format:?}"
                    );
                    let caller = connect(
                        ConnectOptions::new(caller_url, "realm1").serializer(caller_format),
                    )
                    .await;
                    let blob = Bytes::from_static(b"\x00\x01\xfe\xffbinary");
                    let kwargs = BTreeMap::from([
                        ("scale".to_owned(), Value::Int(-3)),
                        ("blob".to_owned(), Value::Bytes(blob.clone())),
                    ]);
                    let result =
                        within(caller.call_with(&procedure, (20, 1), kwargs, CallOptions::new()))
                            .await
                            .unwrap_or_else(|e| panic!("{what}: {e}"));
                    assert_eq!(result.arg::<i64>(0).unwrap(), -63, "{what}");
                    assert_eq!(
                        result.kwargs.get("inputs"),
                        Some(&Value::List(vec![Value::UInt(20), Value::UInt(1)])),
                        "{what}"
                    );
                    assert_eq!(
                        result.kwargs.get("blob"),
                        Some(&Value::Bytes(blob)),
                        "{what}"
                    );
                    // Arguments from an array, no keyword arguments.
                    let result =
                        within(caller.call_with(&procedure, [2, 3], (), CallOptions::new()))
                            .await
                            .unwrap();
                    assert_eq!(result.arg::<i64>(0).unwrap(), 5, "{what}");
                    assert_eq!(result.kwargs.get("blob"), Some(&Value::Null), "{what}");
                    within(caller.leave()).await.unwrap();
                }
            }
            within(callee.leave()).await.unwrap();
        }
    }
}

#[tokio::test]
#[ignore = "needs Crossbar.io: run tests/crossbar/run"]
async fn strings_numbers_and_nesting_survive_every_serializer() {
    let crossbar = crossbar!();
    let procedure = uri("values", "echo");
    let callee = crossbar.session("realm1").await;
    callee
        .register(&procedure, |inv| async move {
            Ok(CallOutput::from_values(
                inv.args().to_vec(),
                inv.kwargs().clone(),
            ))
        })
        .await
        .unwrap();
    let args = vec![
        Value::Str("grüße, 世界 🎉".into()),
        Value::Int(-(1 << 53)),
        Value::UInt(1 << 53),
        Value::Float(0.1),
        Value::Bool(false),
        Value::Null,
        Value::List(vec![Value::List(vec![]), Value::Dict(Dict::new())]),
        Value::Dict(BTreeMap::from([(
            "nested".to_owned(),
            Value::Dict(BTreeMap::from([("deep".to_owned(), Value::UInt(1))])),
        )])),
    ];
    for url in crossbar.urls() {
        for format in SERIALIZERS {
            let caller = connect(ConnectOptions::new(url, "realm1").serializer(format)).await;
            let result = within(caller.call_with(
                &procedure,
                args.clone(),
                BTreeMap::from([("k".to_owned(), Value::Str(String::new()))]),
                CallOptions::new(),
            ))
            .await
            .unwrap();
            assert_eq!(result.args, args, "{url} {format:?}");
            assert_eq!(
                result.kwargs.get("k"),
                Some(&Value::Str(String::new())),
                "{url} {format:?}"
            );
            within(caller.leave()).await.unwrap();
        }
    }
}

#[tokio::test]
#[ignore = "needs Crossbar.io: run tests/crossbar/run"]
async fn application_errors_keep_uri_args_and_kwargs() {
    let crossbar = crossbar!();
    let failing = uri("errors", "overflow");
    let panicking = uri("errors", "panic");
    let callee = crossbar.session("realm1").await;
    callee
        .register(&failing, |_inv| async move {
            Err::<CallOutput, _>(
                ApplicationError::new("com.sbtest.error.overflow")
                    .with_arg("sum too large")
                    .with_arg(100)
                    .with_kwarg("limit", 10),
            )
        })
        .await
        .unwrap();
    callee
        .register(&panicking, |inv| async move {
            let n: i64 = inv.arg(0)?;
            assert!(n < 0, "n must be negative");
            Ok(CallOutput::new())
        })
        .await
        .unwrap();

    for format in SERIALIZERS {
        let caller = connect(ConnectOptions::new(&crossbar.ws, "realm1").serializer(format)).await;
        let err = within(caller.call::<i64>(&failing, (), ()))
            .await
            .unwrap_err();
        let CallError::Application(app) = err else {
            panic!("expected an application error, got {err:?}");
        };
        assert_eq!(app.uri, "com.sbtest.error.overflow");
        assert_eq!(
            app.args,
            vec![Value::Str("sum too large".into()), Value::UInt(100)]
        );
        assert_eq!(app.kwargs.get("limit"), Some(&Value::UInt(10)));
        assert_eq!(app.message(), Some("sum too large"));

        // Wrong argument types and panics in the handler reach the caller as errors.
        let err = within(caller.call::<()>(&panicking, ("text",), ()))
            .await
            .unwrap_err();
        assert_eq!(
            err.application().map(|a| a.uri.as_str()),
            Some("wamp.error.invalid_argument"),
            "{err:?}"
        );
        let err = within(caller.call::<()>(&panicking, (5,), ()))
            .await
            .unwrap_err();
        assert_eq!(
            err.application().map(|a| a.uri.as_str()),
            Some("wamp.error.runtime_error"),
            "{err:?}"
        );

        // Router-side errors.
        let missing = uri("errors", "missing");
        let err = within(caller.call::<()>(&missing, (), ()))
            .await
            .unwrap_err();
        assert_eq!(err, CallError::NoSuchProcedure { procedure: missing });
        let err = within(caller.register(&failing, |_inv| async { Ok(CallOutput::new()) }))
            .await
            .unwrap_err();
        assert!(
            matches!(err, RegisterError::ProcedureAlreadyExists { .. }),
            "{err:?}"
        );
        within(caller.leave()).await.unwrap();
    }
}

/// Basic Profile PubSub over every serializer and transport, including the default exclusion
/// of the publisher and unsubscribing.
#[tokio::test]
#[ignore = "needs Crossbar.io: run tests/crossbar/run"]
async fn publish_and_subscribe_over_every_serializer_and_transport() {
    let crossbar = crossbar!();
    let mut n = 0;
    for sub_url in crossbar.urls() {
        for sub_format in SERIALIZERS {
            n += 1;
            let topic = uri("pubsub", &format!("t{n}"));
            let subscriber =
                connect(ConnectOptions::new(sub_url, "realm1").serializer(sub_format)).await;
            let mut events = subscriber
                .subscribe_stream(&topic, SubscribeOptions::new())
                .await
                .unwrap();
            for pub_url in crossbar.urls() {
                for pub_format in SERIALIZERS {
                    let what = format!(
                        "subscriber {sub_url} {sub_format:?}, publisher {pub_url} {pub_format:?}"
                    );
                    let publisher =
                        connect(ConnectOptions::new(pub_url, "realm1").serializer(pub_format))
                            .await;
                    let publication = within(publisher.publish(
                        &topic,
                        ("hello", 42),
                        BTreeMap::from([(
                            "blob".to_owned(),
                            Value::Bytes(Bytes::from_static(b"\x00\xff")),
                        )]),
                        PublishOptions::new().acknowledge(true),
                    ))
                    .await
                    .unwrap_or_else(|e| panic!("{what}: {e}"));
                    assert!(publication.is_some(), "{what}");
                    // Unacknowledged, too.
                    within(publisher.publish(&topic, (2,), (), PublishOptions::new()))
                        .await
                        .unwrap();
                    let event = next_event(&mut events).await;
                    assert_eq!(event.topic, topic, "{what}");
                    assert_eq!(event.publication, publication.unwrap(), "{what}");
                    assert_eq!(
                        event.args_as::<(String, i64)>().unwrap(),
                        ("hello".into(), 42)
                    );
                    assert_eq!(
                        event.kwargs.get("blob"),
                        Some(&Value::Bytes(Bytes::from_static(b"\x00\xff"))),
                        "{what}"
                    );
                    assert_eq!(event.publisher(), None, "{what}: realm1 discloses nothing");
                    assert_eq!(next_event(&mut events).await.decode::<i64>().unwrap(), 2);
                    within(publisher.leave()).await.unwrap();
                }
            }
            // The publisher is excluded from its own events by default.
            within(subscriber.publish(&topic, ("mine",), (), PublishOptions::new()))
                .await
                .unwrap();
            let other = crossbar.session("realm1").await;
            within(other.publish(
                &topic,
                ("theirs",),
                (),
                PublishOptions::new().acknowledge(true),
            ))
            .await
            .unwrap();
            assert_eq!(
                next_event(&mut events).await.decode::<String>().unwrap(),
                "theirs"
            );
            // Unsubscribing works; publishing to a topic without subscribers too.
            within(events.unsubscribe()).await.unwrap();
            within(other.publish(
                &topic,
                ("late",),
                (),
                PublishOptions::new().acknowledge(true),
            ))
            .await
            .unwrap();
            within(other.leave()).await.unwrap();
            within(subscriber.leave()).await.unwrap();
        }
    }
}

#[tokio::test]
#[ignore = "needs Crossbar.io: run tests/crossbar/run"]
async fn progressive_call_results_arrive_in_order_before_the_final_one() {
    let crossbar = crossbar!();
    let procedure = uri("progressive", "countdown");
    let callee = crossbar.session("realm1").await;
    callee
        .register(&procedure, |inv| async move {
            let from: u32 = inv.arg(0)?;
            for i in (1..=from).rev() {
                if inv.wants_progress() {
                    inv.progress((i,), ())
                        .map_err(ApplicationError::runtime_error)?;
                }
            }
            Ok(CallOutput::value("liftoff"))
        })
        .await
        .unwrap();
    for url in crossbar.urls() {
        for format in SERIALIZERS {
            let caller = connect(ConnectOptions::new(url, "realm1").serializer(format)).await;
            let results = within(
                caller
                    .call_progressive(&procedure, (3,), (), CallOptions::new())
                    .collect_all(),
            )
            .await
            .unwrap();
            let progress: Vec<bool> = results.iter().map(|r| r.is_progress()).collect();
            assert_eq!(progress, [true, true, true, false], "{url} {format:?}");
            let values: Vec<Value> = results.iter().map(|r| r.args[0].clone()).collect();
            assert_eq!(
                values,
                [
                    Value::UInt(3),
                    Value::UInt(2),
                    Value::UInt(1),
                    Value::Str("liftoff".into())
                ]
            );
            // A plain call to the same procedure gets only the final result.
            let last: String = within(caller.call(&procedure, (3,), ())).await.unwrap();
            assert_eq!(last, "liftoff");
            within(caller.leave()).await.unwrap();
        }
    }
}

#[tokio::test]
#[ignore = "needs Crossbar.io: run tests/crossbar/run"]
async fn canceling_interrupts_the_callee_in_every_mode_but_skip() {
    let crossbar = crossbar!();
    let procedure = uri("cancel", "hang");
    let (tx, mut interrupted) = mpsc::unbounded_channel();
    let callee = crossbar.session("realm1").await;
    callee
        .register(&procedure, hang_until_interrupted(tx))
        .await
        .unwrap();
    let caller = crossbar.session("realm1").await;

    for mode in [CancelMode::Kill, CancelMode::KillNoWait] {
        let mut call = caller.call_with(&procedure, (), (), CallOptions::new());
        // Let the call reach the callee before canceling.
        assert!(
            tokio::time::timeout(Duration::from_millis(300), &mut call)
                .await
                .is_err()
        );
        call.cancel(mode);
        assert_eq!(
            within(call).await.unwrap_err(),
            CallError::Canceled,
            "{mode:?}"
        );
        assert_eq!(
            within(interrupted.recv()).await.as_deref(),
            Some(procedure.as_str())
        );
    }

    // skip: the callee is not told. The spec has the router answer the caller at once;
    // Crossbar 26.10.1 answers nothing (dealer.py processCancel builds the ERROR only for
    // kill and killnowait), so accept either.
    let mut call = caller.call_with(&procedure, (), (), CallOptions::new());
    assert!(
        tokio::time::timeout(Duration::from_millis(300), &mut call)
            .await
            .is_err()
    );
    call.cancel(CancelMode::Skip);
    if let Ok(outcome) = tokio::time::timeout(Duration::from_secs(1), &mut call).await {
        assert_eq!(outcome.unwrap_err(), CallError::Canceled);
    }
    drop(call);

    // Dropping a call cancels it (killnowait by default).
    let call = caller.call_with(&procedure, (), (), CallOptions::new());
    assert!(
        tokio::time::timeout(Duration::from_millis(300), call)
            .await
            .is_err()
    );
    assert_eq!(
        within(interrupted.recv()).await.as_deref(),
        Some(procedure.as_str())
    );

    // A timeout cancels too: Crossbar has no call_timeout, so the client's timer does it.
    let err = within(caller.call_with(
        &procedure,
        (),
        (),
        CallOptions::new().timeout(Duration::from_millis(300)),
    ))
    .await
    .unwrap_err();
    assert_eq!(err, CallError::Timeout);
    assert_eq!(
        within(interrupted.recv()).await.as_deref(),
        Some(procedure.as_str())
    );

    // The skip-canceled invocation was never interrupted.
    assert!(interrupted.try_recv().is_err());
    // Progressive calls are canceled by dropping the stream.
    let mut stream = caller.call_progressive(&procedure, (), (), CallOptions::new());
    assert!(
        tokio::time::timeout(Duration::from_millis(300), stream.next())
            .await
            .is_err()
    );
    drop(stream);
    assert_eq!(
        within(interrupted.recv()).await.as_deref(),
        Some(procedure.as_str())
    );

    within(caller.leave()).await.unwrap();
    within(callee.leave()).await.unwrap();
}

#[tokio::test]
#[ignore = "needs Crossbar.io: run tests/crossbar/run"]
async fn callers_and_publishers_are_disclosed_where_the_realm_says_so() {
    let crossbar = crossbar!();
    for (realm, disclosed) in [("disclose", true), ("realm1", false)] {
        let procedure = uri("disclosure", &format!("who_{realm}"));
        let callee = crossbar.session(realm).await;
        callee
            .register_with(
                &procedure,
                RegisterOptions::new().disclose_caller(true),
                |inv| async move {
                    Ok(CallOutput::new().with_kwargs(BTreeMap::from([(
                        "caller".to_owned(),
                        inv.caller().map(|id| id.get()),
                    )])))
                },
            )
            .await
            .unwrap();
        let caller = crossbar.session(realm).await;
        let result =
            within(caller.call_with(&procedure, (), (), CallOptions::new().disclose_me(true)))
                .await
                .unwrap();
        let expected = disclosed.then(|| Value::UInt(caller.id().get()));
        assert_eq!(
            result.kwargs.get("caller"),
            Some(&expected.unwrap_or(Value::Null)),
            "{realm}"
        );

        let topic = uri("disclosure", &format!("topic_{realm}"));
        let subscriber = crossbar.session(realm).await;
        let mut events = subscriber
            .subscribe_stream(&topic, SubscribeOptions::new())
            .await
            .unwrap();
        within(caller.publish(
            &topic,
            (),
            (),
            PublishOptions::new().disclose_me(true).acknowledge(true),
        ))
        .await
        .unwrap();
        let event = next_event(&mut events).await;
        assert_eq!(event.publisher(), disclosed.then(|| caller.id()), "{realm}");
        for s in [caller, callee, subscriber] {
            within(s.leave()).await.unwrap();
        }
    }
}

#[tokio::test]
#[ignore = "needs Crossbar.io: run tests/crossbar/run"]
async fn pattern_based_registrations_receive_the_concrete_procedure() {
    let crossbar = crossbar!();
    let base = uri("patterns", "rpc");
    let callee = crossbar.session("realm1").await;
    let answer = |tag: &'static str| {
        move |inv: Invocation| async move { Ok(CallOutput::args((tag, inv.procedure().to_owned()))) }
    };
    callee
        .register_with(
            &format!("{base}.pre"),
            RegisterOptions::new().match_policy(MatchPolicy::Prefix),
            answer("prefix"),
        )
        .await
        .unwrap();
    callee
        .register_with(
            &format!("{base}..get"),
            RegisterOptions::new().match_policy(MatchPolicy::Wildcard),
            answer("wildcard"),
        )
        .await
        .unwrap();
    callee
        .register(&format!("{base}.exact.get"), answer("exact"))
        .await
        .unwrap();
    let caller = crossbar.session("realm1").await;
    for (called, tag) in [
        (format!("{base}.pre.a.b"), "prefix"),
        (format!("{base}.item.get"), "wildcard"),
        // Exact beats prefix beats wildcard.
        (format!("{base}.exact.get"), "exact"),
        (format!("{base}.pre.get"), "prefix"),
    ] {
        let (got_tag, got_procedure): (String, String) =
            within(caller.call(&called, (), ())).await.unwrap();
        assert_eq!(
            (got_tag.as_str(), got_procedure.as_str()),
            (tag, called.as_str())
        );
    }
    within(caller.leave()).await.unwrap();
    within(callee.leave()).await.unwrap();
}

#[tokio::test]
#[ignore = "needs Crossbar.io: run tests/crossbar/run"]
async fn pattern_based_subscriptions_receive_the_concrete_topic() {
    let crossbar = crossbar!();
    let base = uri("patterns", "pubsub");
    let subscriber = crossbar.session("realm1").await;
    let mut prefix = subscriber
        .subscribe_stream(
            &base,
            SubscribeOptions::new().match_policy(MatchPolicy::Prefix),
        )
        .await
        .unwrap();
    let mut wildcard = subscriber
        .subscribe_stream(
            &format!("{base}..changed"),
            SubscribeOptions::new().match_policy(MatchPolicy::Wildcard),
        )
        .await
        .unwrap();
    let publisher = crossbar.session("realm1").await;
    let first = format!("{base}.x.y");
    let second = format!("{base}.item.changed");
    for topic in [&first, &second] {
        within(publisher.publish(
            topic,
            (topic.as_str(),),
            (),
            PublishOptions::new().acknowledge(true),
        ))
        .await
        .unwrap();
    }
    assert_eq!(next_event(&mut prefix).await.topic, first);
    assert_eq!(next_event(&mut prefix).await.topic, second);
    let event = next_event(&mut wildcard).await;
    assert_eq!(event.topic, second);
    assert_eq!(event.decode::<String>().unwrap(), second);
    within(publisher.leave()).await.unwrap();
    within(subscriber.leave()).await.unwrap();
}

#[tokio::test]
#[ignore = "needs Crossbar.io: run tests/crossbar/run"]
async fn shared_registrations_spread_calls_by_policy() {
    let crossbar = crossbar!();
    let procedure = uri("shared", "work");
    let mut callees = Vec::new();
    for i in 0..3_u32 {
        let callee = crossbar.session("realm1").await;
        callee
            .register_with(
                &procedure,
                RegisterOptions::new().invoke(InvokePolicy::RoundRobin),
                move |_inv| async move { Ok(CallOutput::value(i)) },
            )
            .await
            .unwrap();
        callees.push(callee);
    }
    let caller = crossbar.session("realm1").await;
    let mut got = Vec::new();
    for _ in 0..6 {
        got.push(
            within(caller.call::<u32>(&procedure, (), ()))
                .await
                .unwrap(),
        );
    }
    // Each callee in turn.
    assert_eq!(got[..3], got[3..], "{got:?}");
    let mut first_round = got[..3].to_vec();
    first_round.sort_unstable();
    assert_eq!(first_round, [0, 1, 2], "{got:?}");

    // Joining with another policy is refused.
    let odd = crossbar.session("realm1").await;
    let err = within(odd.register_with(
        &procedure,
        RegisterOptions::new().invoke(InvokePolicy::Random),
        |_inv| async { Ok(CallOutput::new()) },
    ))
    .await
    .unwrap_err();
    assert!(
        matches!(
            err,
            RegisterError::ProcedureAlreadyExists { .. } | RegisterError::Router(_)
        ),
        "{err:?}"
    );

    // first / last / random with their own procedures.
    for (policy, expect) in [
        (InvokePolicy::First, Some(0)),
        (InvokePolicy::Last, Some(2)),
        (InvokePolicy::Random, None),
    ] {
        let procedure = uri("shared", policy.as_str());
        for (i, callee) in callees.iter().enumerate() {
            callee
                .register_with(
                    &procedure,
                    RegisterOptions::new().invoke(policy),
                    move |_inv| async move { Ok(CallOutput::value(i)) },
                )
                .await
                .unwrap();
        }
        for _ in 0..4 {
            let who: usize = within(caller.call(&procedure, (), ())).await.unwrap();
            match expect {
                Some(expect) => assert_eq!(who, expect, "{policy:?}"),
                None => assert!(who < 3),
            }
        }
    }
    // A callee leaving takes its share with it.
    let last = callees.pop().unwrap();
    within(last.leave()).await.unwrap();
    let who: usize = within(caller.call(&uri("shared", "last"), (), ()))
        .await
        .unwrap();
    assert_eq!(who, 1);
    for s in callees.into_iter().chain([caller, odd]) {
        within(s.leave()).await.unwrap();
    }
}

#[tokio::test]
#[ignore = "needs Crossbar.io: run tests/crossbar/run"]
async fn exclude_me_and_black_and_white_lists_choose_the_receivers() {
    let crossbar = crossbar!();
    let topic = uri("lists", "news");
    let publisher = crossbar.session("realm1").await;
    let a = crossbar.session("realm1").await;
    let b = crossbar.session("realm1").await;
    let mut mine = publisher
        .subscribe_stream(&topic, SubscribeOptions::new())
        .await
        .unwrap();
    let mut a_events = a
        .subscribe_stream(&topic, SubscribeOptions::new())
        .await
        .unwrap();
    let mut b_events = b
        .subscribe_stream(&topic, SubscribeOptions::new())
        .await
        .unwrap();

    let publish = |label: &'static str, options: PublishOptions| {
        let publisher = publisher.clone();
        let topic = topic.clone();
        async move {
            within(publisher.publish(&topic, (label,), (), options.acknowledge(true)))
                .await
                .unwrap();
        }
    };

    publish("to-all-but-me", PublishOptions::new()).await;
    publish("to-all", PublishOptions::new().exclude_me(false)).await;
    publish("only-a", PublishOptions::new().eligible([a.id()])).await;
    publish("not-a", PublishOptions::new().exclude([a.id()])).await;
    publish(
        "me-and-b",
        PublishOptions::new().exclude_me(false).exclude([a.id()]),
    )
    .await;
    publish(
        "nobody",
        PublishOptions::new().eligible([a.id()]).exclude([a.id()]),
    )
    .await;
    publish("end", PublishOptions::new().exclude_me(false)).await;

    assert_eq!(seen(&mut mine).await, ["to-all", "me-and-b", "end"]);
    assert_eq!(
        seen(&mut a_events).await,
        ["to-all-but-me", "to-all", "only-a", "end"]
    );
    assert_eq!(
        seen(&mut b_events).await,
        ["to-all-but-me", "to-all", "not-a", "me-and-b", "end"]
    );
    drop((mine, a_events, b_events));
    for s in [publisher, a, b] {
        within(s.leave()).await.unwrap();
    }
}

/// The labels of the events up to and including `end`.
async fn seen(events: &mut EventStream) -> Vec<String> {
    let mut out = Vec::new();
    loop {
        let label = next_event(events).await.decode::<String>().unwrap();
        let end = label == "end";
        out.push(label);
        if end {
            return out;
        }
    }
}

#[tokio::test]
#[ignore = "needs Crossbar.io: run tests/crossbar/run"]
async fn retained_events_reach_late_subscribers() {
    let crossbar = crossbar!();
    let topic = uri("retained", "state");
    let publisher = crossbar.session("realm1").await;
    within(publisher.publish(
        &topic,
        ("current",),
        (),
        PublishOptions::new().retain(true).acknowledge(true),
    ))
    .await
    .unwrap();
    let late = crossbar.session("realm1").await;
    let mut events = late
        .subscribe_stream(&topic, SubscribeOptions::new().get_retained(true))
        .await
        .unwrap();
    let event = next_event(&mut events).await;
    assert_eq!(event.decode::<String>().unwrap(), "current");
    assert!(event.is_retained(), "{event:?}");
    within(publisher.leave()).await.unwrap();
    within(late.leave()).await.unwrap();
}

#[tokio::test]
#[ignore = "needs Crossbar.io: run tests/crossbar/run"]
async fn every_authentication_method_joins() {
    let crossbar = crossbar!();
    let methods = [
        (
            Auth::Ticket {
                authid: "joe".into(),
                ticket: "joe-ticket".into(),
            },
            "joe",
            "ticket",
        ),
        (
            Auth::WampCra {
                authid: "peter".into(),
                secret: "cra-secret".into(),
            },
            "peter",
            "wampcra",
        ),
        (
            // Salted: the challenge carries salt, iterations and keylen for PBKDF2.
            Auth::WampCra {
                authid: "paula".into(),
                secret: "cra-secret".into(),
            },
            "paula",
            "wampcra",
        ),
        (
            Auth::ScramAutobahn {
                authid: "carol".into(),
                password: "scram-password".into(),
            },
            "carol",
            "scram",
        ),
        (
            Auth::Cryptosign {
                authid: "alice".into(),
                private_key_hex: "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
                    .into(),
            },
            "alice",
            "cryptosign",
        ),
    ];
    for (auth, authid, authmethod) in methods {
        for format in SERIALIZERS {
            let session = connect(
                ConnectOptions::new(&crossbar.auth, "auth")
                    .serializer(format)
                    .auth(auth.clone()),
            )
            .await;
            let d = session.details();
            assert_eq!(d.authid.as_deref(), Some(authid), "{auth:?}");
            assert_eq!(d.authrole.as_deref(), Some("user"), "{auth:?}");
            assert_eq!(d.authmethod.as_deref(), Some(authmethod), "{auth:?}");
            // The session works.
            let procedure = uri("auth", &format!("{authid}_{format:?}").to_lowercase());
            session
                .register(&procedure, |_inv| async { Ok(CallOutput::value("ok")) })
                .await
                .unwrap();
            let ok: String = within(session.call(&procedure, (), ())).await.unwrap();
            assert_eq!(ok, "ok");
            within(session.leave()).await.unwrap();
        }
    }

    // Wrong credentials are refused with ABORT.
    for auth in [
        Auth::Ticket {
            authid: "joe".into(),
            ticket: "wrong".into(),
        },
        Auth::WampCra {
            authid: "peter".into(),
            secret: "wrong".into(),
        },
        Auth::ScramAutobahn {
            authid: "carol".into(),
            password: "wrong".into(),
        },
        Auth::Cryptosign {
            authid: "alice".into(),
            private_key_hex: "1f".repeat(32),
        },
        Auth::Anonymous,
    ] {
        let err = within(Session::connect(
            ConnectOptions::new(&crossbar.auth, "auth").auth(auth.clone()),
        ))
        .await
        .unwrap_err();
        assert!(
            matches!(
                err,
                ConnectError::Aborted(_) | ConnectError::Authentication(_)
            ),
            "{auth:?}: {err:?}"
        );
        assert!(!err.is_retryable(), "{auth:?}: {err:?}");
    }
}

#[tokio::test]
#[ignore = "needs Crossbar.io: run tests/crossbar/run"]
async fn joining_a_missing_realm_is_refused() {
    let crossbar = crossbar!();
    let err = within(Session::connect(ConnectOptions::new(
        &crossbar.ws,
        "com.sbtest.no_such_realm",
    )))
    .await
    .unwrap_err();
    let ConnectError::Aborted(abort) = &err else {
        panic!("expected ABORT, got {err:?}");
    };
    assert_eq!(abort.uri, "wamp.error.no_such_realm", "{err:?}");
}

#[tokio::test]
#[ignore = "needs Crossbar.io: run tests/crossbar/run"]
async fn the_session_meta_api_is_callable() {
    let crossbar = crossbar!();
    let session = crossbar.session("realm1").await;
    let count: u64 = within(session.call("wamp.session.count", (), ()))
        .await
        .unwrap();
    assert!(count >= 1);
    let me = within(session.call_with(
        "wamp.session.get",
        (session.id().get(),),
        (),
        CallOptions::new(),
    ))
    .await
    .unwrap();
    let details = me.arg::<Dict>(0).unwrap();
    assert_eq!(
        details.get("session").and_then(Value::as_u64),
        Some(session.id().get())
    );
    within(session.leave()).await.unwrap();
}

#[test]
#[ignore = "needs Crossbar.io: run tests/crossbar/run"]
fn the_blocking_client_works_against_crossbar() {
    let crossbar = crossbar!();
    let procedure = uri("blocking", "add2");
    let topic = uri("blocking", "counter");
    let client = blocking::Client::new(
        ConnectOptions::new(&crossbar.ws, "realm1").serializer(Format::MessagePack),
    )
    .unwrap();
    client
        .register(&procedure, |inv| {
            let (a, b): (i64, i64) = inv.args_as()?;
            Ok(CallOutput::value(a + b))
        })
        .unwrap();
    let received = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&received);
    client
        .subscribe(&topic, move |event| {
            if let Ok(n) = event.arg::<usize>(0) {
                seen.fetch_add(n, Ordering::SeqCst);
            }
        })
        .unwrap();
    client.run().unwrap();
    let sum: i64 = client.call(&procedure, (2, 3), ()).unwrap();
    assert_eq!(sum, 5);

    // Events from another session reach the blocking subscriber.
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let publisher = crossbar.session("realm1").await;
        within(publisher.publish(&topic, (7,), (), PublishOptions::new().acknowledge(true)))
            .await
            .unwrap();
        within(publisher.leave()).await.unwrap();
    });
    let deadline = std::time::Instant::now() + TIMEOUT;
    while received.load(Ordering::SeqCst) != 7 {
        assert!(std::time::Instant::now() < deadline, "no event");
        std::thread::sleep(Duration::from_millis(10));
    }
    match client.call::<i64>(&uri("blocking", "missing"), (), ()) {
        Err(blocking::Error::NoSuchProcedure(_)) => {}
        other => panic!("{other:?}"),
    }
    client.stop().unwrap();
}
