//! Publish and subscribe against the in-process router.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::{TestRouter, within};
use futures_util::StreamExt as _;
use serde::{Deserialize, Serialize};
use switchboard_client::{
    Event, Format, MatchPolicy, PublishError, PublishOptions, SubscribeError, SubscribeOptions,
    UnsubscribeError, Value,
};
use switchboard_proto::dict;
use tokio::sync::mpsc;

#[derive(Serialize, Deserialize, Debug, PartialEq, Clone)]
struct Reading {
    sensor: String,
    celsius: f64,
}

/// Publishes with acknowledgement, so that the router has routed the event when this returns.
fn acked() -> PublishOptions {
    PublishOptions::new().acknowledge(true)
}

#[tokio::test]
async fn events_reach_subscribers_over_every_serializer_and_transport() {
    let router = TestRouter::start().await;
    let formats = [Format::Json, Format::MessagePack, Format::Cbor];
    let mut subscribers = Vec::new();
    let (tx, mut rx) = mpsc::unbounded_channel::<(usize, Event)>();
    for (i, (format, url)) in formats
        .iter()
        .flat_map(|f| [(*f, router.ws_url()), (*f, router.rs_url())])
        .enumerate()
    {
        let s = router.session_with(&url, format).await;
        let tx = tx.clone();
        within(s.subscribe("com.test.readings", move |ev: Event| {
            let tx = tx.clone();
            async move {
                let _ = tx.send((i, ev));
            }
        }))
        .await
        .unwrap();
        subscribers.push(s);
    }
    for format in formats {
        let publisher = router.session_with(&router.rs_url(), format).await;
        let reading = Reading {
            sensor: format!("{format:?}"),
            celsius: -3.5,
        };
        let publication =
            within(publisher.publish("com.test.readings", ("kitchen",), &reading, acked()))
                .await
                .unwrap()
                .expect("acknowledged publications have an id");
        let mut seen = Vec::new();
        for _ in 0..subscribers.len() {
            let (i, ev) = within(rx.recv()).await.unwrap();
            assert_eq!(ev.publication, publication);
            assert_eq!(ev.topic, "com.test.readings");
            assert_eq!(ev.arg::<String>(0).unwrap(), "kitchen");
            assert_eq!(ev.kwargs_as::<Reading>().unwrap(), reading);
            seen.push(i);
        }
        seen.sort_unstable();
        assert_eq!(seen, (0..subscribers.len()).collect::<Vec<_>>());
    }
}

#[tokio::test]
async fn events_as_a_stream_arrive_in_publish_order() {
    let router = TestRouter::start().await;
    let subscriber = router.session().await;
    let publisher = router
        .session_with(&router.rs_url(), Format::MessagePack)
        .await;
    let mut events =
        within(subscriber.subscribe_stream("com.test.counter", SubscribeOptions::new()))
            .await
            .unwrap();
    for n in 0..100u32 {
        within(publisher.publish("com.test.counter", (n,), (), PublishOptions::new()))
            .await
            .unwrap();
    }
    for n in 0..100u32 {
        let ev = within(events.next()).await.unwrap();
        assert_eq!(ev.decode::<u32>().unwrap(), n);
    }
}

#[tokio::test]
async fn the_publisher_does_not_receive_its_own_event() {
    let router = TestRouter::start().await;
    let both = router.session().await;
    let other = router.session().await;
    let mut mine = within(both.subscribe_stream("com.test.t", SubscribeOptions::new()))
        .await
        .unwrap();
    within(both.publish("com.test.t", ("self",), (), acked()))
        .await
        .unwrap();
    within(other.publish("com.test.t", ("other",), (), acked()))
        .await
        .unwrap();
    // Events reach a subscriber in publish order, so had its own event been delivered it
    // would come first.
    let ev = within(mine.next()).await.unwrap();
    assert_eq!(ev.arg::<String>(0).unwrap(), "other");
}

#[tokio::test]
async fn two_local_subscriptions_share_the_router_subscription() {
    let router = TestRouter::start().await;
    let s = router.session().await;
    let publisher = router.session().await;
    let mut a = within(s.subscribe_stream("com.test.shared", SubscribeOptions::new()))
        .await
        .unwrap();
    let mut b = within(s.subscribe_stream("com.test.shared", SubscribeOptions::new()))
        .await
        .unwrap();
    assert_eq!(a.subscription().id(), b.subscription().id());
    within(publisher.publish("com.test.shared", (1,), (), acked()))
        .await
        .unwrap();
    assert_eq!(within(a.next()).await.unwrap().decode::<i32>().unwrap(), 1);
    assert_eq!(within(b.next()).await.unwrap().decode::<i32>().unwrap(), 1);
    // Unsubscribing one keeps the other.
    within(a.unsubscribe()).await.unwrap();
    within(publisher.publish("com.test.shared", (2,), (), acked()))
        .await
        .unwrap();
    assert_eq!(within(b.next()).await.unwrap().decode::<i32>().unwrap(), 2);
    within(b.unsubscribe()).await.unwrap();
}

#[tokio::test]
async fn unsubscribing_stops_events() {
    let router = TestRouter::start().await;
    let s = router.session().await;
    let publisher = router.session().await;
    let (tx, mut rx) = mpsc::unbounded_channel();
    let sub = within(s.subscribe("com.test.u", move |ev: Event| {
        let tx = tx.clone();
        async move {
            let _ = tx.send(ev.decode::<i32>().unwrap());
        }
    }))
    .await
    .unwrap();
    within(publisher.publish("com.test.u", (1,), (), acked()))
        .await
        .unwrap();
    assert_eq!(within(rx.recv()).await.unwrap(), 1);
    let again = sub.clone();
    within(sub.unsubscribe()).await.unwrap();
    assert_eq!(
        within(again.unsubscribe()).await.unwrap_err(),
        UnsubscribeError::NoSuchSubscription
    );
    within(publisher.publish("com.test.u", (2,), (), acked()))
        .await
        .unwrap();
    // A marker event on another topic, published after: once it is in, event 2 would be too.
    let mut marker = within(s.subscribe_stream("com.test.marker", SubscribeOptions::new()))
        .await
        .unwrap();
    within(publisher.publish("com.test.marker", (), (), acked()))
        .await
        .unwrap();
    within(marker.next()).await.unwrap();
    tokio::task::yield_now().await;
    assert!(rx.try_recv().is_err(), "no event after unsubscribing");
}

#[tokio::test]
async fn dropping_an_event_stream_unsubscribes() {
    let router = TestRouter::start().await;
    let s = router.session().await;
    let stream = within(s.subscribe_stream("com.test.d", SubscribeOptions::new()))
        .await
        .unwrap();
    let sub = stream.subscription().clone();
    drop(stream);
    within(async {
        loop {
            // Once the drop's UNSUBSCRIBE is through, the subscription is unknown.
            match sub.clone().unsubscribe().await {
                Err(UnsubscribeError::NoSuchSubscription) => break,
                other => {
                    let _ = other;
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            }
        }
    })
    .await;
}

#[tokio::test]
async fn unacknowledged_publish_returns_no_id_and_bad_topics_fail_locally() {
    let router = TestRouter::start().await;
    let s = router.session().await;
    assert_eq!(
        within(s.publish("com.test.x", (), (), PublishOptions::new()))
            .await
            .unwrap(),
        None
    );
    let err = within(s.publish("com..x", (), (), PublishOptions::new()))
        .await
        .unwrap_err();
    assert!(matches!(err, PublishError::InvalidUri(_)), "{err:?}");
    let err = within(s.publish("com.test.x", (), 5, PublishOptions::new()))
        .await
        .unwrap_err();
    assert!(matches!(err, PublishError::Serialize(_)), "{err:?}");
    let err = within(s.subscribe_stream("com.test.x y", SubscribeOptions::new()))
        .await
        .unwrap_err();
    assert!(matches!(err, SubscribeError::InvalidUri(_)), "{err:?}");
}

#[tokio::test]
async fn acknowledged_publish_to_a_reserved_topic_is_not_authorized() {
    let router = TestRouter::start().await;
    let s = router.session().await;
    let err = within(s.publish("wamp.session.on_join", (), (), acked()))
        .await
        .unwrap_err();
    assert!(matches!(err, PublishError::NotAuthorized(_)), "{err:?}");
}

#[tokio::test]
async fn leaving_ends_event_streams() {
    let router = TestRouter::start().await;
    let s = router.session().await;
    let mut events = within(s.subscribe_stream("com.test.end", SubscribeOptions::new()))
        .await
        .unwrap();
    within(s.leave()).await.unwrap();
    assert!(within(events.next()).await.is_none());
}

// -------------------------------------------------------------------------------------------
// Advanced Profile features (see `features.rs` for routers that do not announce them).
// -------------------------------------------------------------------------------------------

#[tokio::test]
async fn exclude_me_false_delivers_to_the_publisher() {
    let router = TestRouter::start().await;
    let s = router.session().await;
    let mut events = within(s.subscribe_stream("com.test.me", SubscribeOptions::new()))
        .await
        .unwrap();
    within(s.publish("com.test.me", (1,), (), acked().exclude_me(false)))
        .await
        .unwrap();
    assert_eq!(
        within(events.next())
            .await
            .unwrap()
            .decode::<i32>()
            .unwrap(),
        1
    );
}

#[tokio::test]
async fn eligible_and_exclude_lists_choose_receivers() {
    let router = TestRouter::start().await;
    let a = router.session().await;
    let b = router.session().await;
    let publisher = router.session().await;
    let mut ea = within(a.subscribe_stream("com.test.bw", SubscribeOptions::new()))
        .await
        .unwrap();
    let mut eb = within(b.subscribe_stream("com.test.bw", SubscribeOptions::new()))
        .await
        .unwrap();
    within(publisher.publish("com.test.bw", ("only b",), (), acked().eligible([b.id()])))
        .await
        .unwrap();
    within(publisher.publish("com.test.bw", ("not b",), (), acked().exclude([b.id()])))
        .await
        .unwrap();
    assert_eq!(
        within(eb.next()).await.unwrap().arg::<String>(0).unwrap(),
        "only b"
    );
    assert_eq!(
        within(ea.next()).await.unwrap().arg::<String>(0).unwrap(),
        "not b"
    );
}

#[tokio::test]
async fn wildcard_subscription_reports_the_concrete_topic() {
    let router = TestRouter::start().await;
    let s = router.session().await;
    let publisher = router.session().await;
    let mut events = within(s.subscribe_stream(
        "com.test..temperature",
        SubscribeOptions::new().match_policy(MatchPolicy::Wildcard),
    ))
    .await
    .unwrap();
    within(publisher.publish("com.test.kitchen.temperature", (21,), (), acked()))
        .await
        .unwrap();
    let ev = within(events.next()).await.unwrap();
    assert_eq!(ev.topic, "com.test.kitchen.temperature");
}

#[tokio::test]
async fn get_retained_delivers_the_last_retained_event() {
    let router = TestRouter::start().await;
    let publisher = router.session().await;
    within(publisher.publish("com.test.state", ("on",), (), acked().retain(true)))
        .await
        .unwrap();
    let s = router.session().await;
    let mut events =
        within(s.subscribe_stream("com.test.state", SubscribeOptions::new().get_retained(true)))
            .await
            .unwrap();
    let ev = within(events.next()).await.unwrap();
    assert!(ev.is_retained());
    assert_eq!(ev.arg::<String>(0).unwrap(), "on");
}

#[tokio::test]
async fn disclose_me_shows_the_publisher() {
    let router = TestRouter::start().await;
    let s = router.session().await;
    let publisher = router.session().await;
    let mut events = within(s.subscribe_stream("com.test.who", SubscribeOptions::new()))
        .await
        .unwrap();
    within(publisher.publish("com.test.who", (), (), acked().disclose_me(true)))
        .await
        .unwrap();
    assert_eq!(
        within(events.next()).await.unwrap().publisher(),
        Some(publisher.id())
    );
}

#[test]
fn event_decoding_helpers() {
    let ev = Event {
        subscription: switchboard_client::Id::MIN,
        publication: switchboard_client::Id::MIN,
        topic: "t".into(),
        args: vec![Value::from(1u64), Value::from("x")],
        kwargs: dict! {"k" => true},
        details: Default::default(),
    };
    assert_eq!(ev.args_as::<(u8, String)>().unwrap(), (1, "x".into()));
    assert_eq!(ev.kwarg::<bool>("k").unwrap(), Some(true));
    assert_eq!(ev.kwarg::<bool>("missing").unwrap(), None);
    assert!(ev.arg::<u8>(5).is_err());
    assert!(!ev.is_retained());
}
