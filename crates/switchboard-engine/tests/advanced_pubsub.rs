//! Advanced PubSub rules stepped in memory (wamp-spec §5.12–§5.17).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod harness;

use harness::*;
use switchboard_proto::options::*;
use switchboard_proto::{Format, Id, Message, Payload, Value};

fn receivers(subs: &mut [Client]) -> Vec<bool> {
    subs.iter_mut()
        .map(|c| {
            let got = c.recv_all();
            assert!(got.len() <= 1, "one event at most: {got:?}");
            !got.is_empty()
        })
        .collect()
}

#[test]
fn the_publisher_is_disclosed_only_when_it_asks() {
    let r = router();
    let mut s = Client::joined(&r, Format::Json, "realm1");
    s.subscribe("com.example.t");
    let mut p = Client::joined(&r, Format::Json, "realm1");
    let me = p.session_id();
    p.publish("com.example.t", PublishOptions::default(), Payload::empty());
    let Some(Message::Event(e)) = s.recv() else {
        panic!("no EVENT")
    };
    assert_eq!(e.details.publisher(), None);
    p.publish(
        "com.example.t",
        PublishOptions::default().with("disclose_me", true),
        Payload::empty(),
    );
    let Some(Message::Event(e)) = s.recv() else {
        panic!("no EVENT")
    };
    assert_eq!(e.details.publisher(), Some(me));
    assert_eq!(e.details.publisher_authrole(), Some("anonymous"));
    assert_eq!(e.details.publisher_authid(), Some(me.to_string().as_str()));
}

#[test]
fn black_and_whitelists_by_session_combine_as_the_spec_says() {
    let r = router();
    let mut subs: Vec<Client> = (0..4)
        .map(|_| Client::joined(&r, Format::Json, "realm1"))
        .collect();
    for s in subs.iter_mut() {
        s.subscribe("com.example.t");
    }
    let ids: Vec<Id> = subs.iter().map(Client::session_id).collect();
    let list = |which: &[usize]| Value::List(which.iter().map(|i| Value::from(ids[*i])).collect());
    let mut p = Client::joined(&r, Format::Json, "realm1");

    p.publish(
        "com.example.t",
        PublishOptions::default().with("exclude", list(&[1, 3])),
        Payload::empty(),
    );
    assert_eq!(receivers(&mut subs), [true, false, true, false]);

    p.publish(
        "com.example.t",
        PublishOptions::default().with("eligible", list(&[0, 1])),
        Payload::empty(),
    );
    assert_eq!(receivers(&mut subs), [true, true, false, false]);

    // eligible and exclude together: eligible minus excluded
    p.publish(
        "com.example.t",
        PublishOptions::default()
            .with("eligible", list(&[0, 1, 2]))
            .with("exclude", list(&[1])),
        Payload::empty(),
    );
    assert_eq!(receivers(&mut subs), [true, false, true, false]);
}

#[test]
fn black_and_whitelists_by_authid_and_authrole() {
    let r = router();
    let mut subs: Vec<Client> = (0..3)
        .map(|_| Client::joined(&r, Format::Json, "realm1"))
        .collect();
    for s in subs.iter_mut() {
        s.subscribe("com.example.t");
    }
    let authid = |i: usize| Value::from(subs[i].session_id().to_string());
    let two = Value::List(vec![authid(2)]);
    let zero = Value::List(vec![authid(0)]);
    let mut p = Client::joined(&r, Format::Json, "realm1");

    p.publish(
        "com.example.t",
        PublishOptions::default().with("exclude_authid", two.clone()),
        Payload::empty(),
    );
    assert_eq!(receivers(&mut subs), [true, true, false]);
    p.publish(
        "com.example.t",
        PublishOptions::default().with("eligible_authid", zero),
        Payload::empty(),
    );
    assert_eq!(receivers(&mut subs), [true, false, false]);
    let anon = Value::List(vec![Value::from("anonymous")]);
    p.publish(
        "com.example.t",
        PublishOptions::default().with("exclude_authrole", anon.clone()),
        Payload::empty(),
    );
    assert_eq!(receivers(&mut subs), [false, false, false]);
    p.publish(
        "com.example.t",
        PublishOptions::default().with("eligible_authrole", anon),
        Payload::empty(),
    );
    assert_eq!(receivers(&mut subs), [true, true, true]);
    let other = Value::List(vec![Value::from("admin")]);
    p.publish(
        "com.example.t",
        PublishOptions::default().with("eligible_authrole", other),
        Payload::empty(),
    );
    assert_eq!(receivers(&mut subs), [false, false, false]);
}

#[test]
fn an_end_to_end_encrypted_payload_passes_through_untouched_with_its_keys() {
    let r = router();
    let mut s = Client::joined(&r, Format::MessagePack, "realm1");
    s.subscribe("com.example.secret");
    let mut p = Client::joined(&r, Format::MessagePack, "realm1");
    let blob = Value::Bytes(bytes::Bytes::from_static(b"\x82\xa5color\xa6orange"));
    p.publish(
        "com.example.secret",
        PublishOptions::default()
            .with("enc_algo", "cryptobox")
            .with("enc_serializer", "msgpack"),
        Payload::opaque(blob.clone()),
    );
    let Some(Message::Event(e)) = s.recv() else {
        panic!("no EVENT")
    };
    assert_eq!(e.details.enc_algo(), Some("cryptobox"));
    assert_eq!(e.details.enc_serializer(), Some("msgpack"));
    assert_eq!(e.payload.to_values().unwrap().opaque, Some(blob));
}
