//! In-process connections (`ServerHandle::local_connection`): an embedded session registers a
//! procedure that a network client calls, and calls back a procedure the client registered.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use switchboard_proto::message::*;
use switchboard_proto::options::*;
use switchboard_proto::{Format, Id, Message, Payload, Value, decode, dict, encode};
use switchboard_router::config::Config;
use switchboard_router::server::Server;
use switchboard_transport::{Connection, Endpoint, connect};

const T: Duration = Duration::from_secs(10);

fn id(n: u64) -> Id {
    Id::new(n).unwrap()
}

async fn send(c: &mut Connection, msg: impl Into<Message>) {
    let frame = encode(&msg.into(), c.format).unwrap();
    c.writer.send(frame).await.unwrap();
}

async fn recv(c: &mut Connection) -> Message {
    let frame = tokio::time::timeout(T, c.reader.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    decode(c.format, &frame).unwrap()
}

async fn join(c: &mut Connection) -> Id {
    let roles = dict! { "caller" => dict!{}, "callee" => dict!{} };
    send(
        c,
        Hello {
            realm: "realm1".into(),
            details: HelloDetails::default().with("roles", roles),
        },
    )
    .await;
    match recv(c).await {
        Message::Welcome(w) => w.session,
        other => panic!("expected WELCOME, got {other:?}"),
    }
}

#[tokio::test]
async fn an_in_process_session_serves_and_calls_network_clients() {
    let config =
        Config::from_toml_str("[[listen]]\nbind = \"127.0.0.1:0\"\n[[realm]]\nname = \"realm1\"\n")
            .unwrap();
    let server = Server::bind(&config).await.unwrap();
    let addr = server.local_addrs()[0];
    let handle = server.handle();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(server.run_until(async {
        let _ = stop_rx.await;
    }));

    let mut local = handle.local_connection(Format::MessagePack).await.unwrap();
    join(&mut local).await;
    send(
        &mut local,
        Register {
            request: id(1),
            options: Default::default(),
            procedure: "com.example.embedded".into(),
        },
    )
    .await;
    assert!(matches!(recv(&mut local).await, Message::Registered(_)));

    let endpoint = Endpoint::parse(&format!("ws://{addr}/ws")).unwrap();
    let mut client = connect(&endpoint, Format::Json, 1 << 20).await.unwrap();
    join(&mut client).await;
    send(
        &mut client,
        Register {
            request: id(1),
            options: Default::default(),
            procedure: "com.example.on_client".into(),
        },
    )
    .await;
    assert!(matches!(recv(&mut client).await, Message::Registered(_)));

    // client → embedded
    send(
        &mut client,
        Call {
            request: id(2),
            options: Default::default(),
            procedure: "com.example.embedded".into(),
            payload: Payload::args(vec![Value::from(20u64)]),
        },
    )
    .await;
    let Message::Invocation(inv) = recv(&mut local).await else {
        panic!("no INVOCATION")
    };
    send(
        &mut local,
        Yield {
            request: inv.request,
            options: Default::default(),
            payload: Payload::args(vec![Value::from(21u64)]),
        },
    )
    .await;
    match recv(&mut client).await {
        Message::Result(r) => assert_eq!(r.payload, Payload::args(vec![Value::from(21u64)])),
        other => panic!("expected RESULT, got {other:?}"),
    }

    // embedded → client (a server-to-client call)
    send(
        &mut local,
        Call {
            request: id(2),
            options: Default::default(),
            procedure: "com.example.on_client".into(),
            payload: Payload::empty(),
        },
    )
    .await;
    let Message::Invocation(inv) = recv(&mut client).await else {
        panic!("no INVOCATION")
    };
    send(
        &mut client,
        Yield {
            request: inv.request,
            options: Default::default(),
            payload: Payload::args(vec![Value::from("hi from the client")]),
        },
    )
    .await;
    match recv(&mut local).await {
        Message::Result(r) => assert_eq!(
            r.payload,
            Payload::args(vec![Value::from("hi from the client")])
        ),
        other => panic!("expected RESULT, got {other:?}"),
    }

    stop_tx.send(()).unwrap();
    tokio::time::timeout(T, running).await.unwrap().unwrap();
}
