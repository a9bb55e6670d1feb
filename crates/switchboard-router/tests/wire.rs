//! Wire tests: raw frames to a router bound on 127.0.0.1:0. Each bad input gets the spec's
//! answer, and a new session afterwards still works.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::SocketAddr;
use std::time::Duration;

use switchboard_proto::message::*;
use switchboard_proto::options::*;
use switchboard_proto::{Format, Message, Payload, Value, decode, dict, encode};
use switchboard_router::config::Config;
use switchboard_router::server::Server;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::oneshot;

/// A router on an OS-assigned port; dropped, it shuts down.
struct TestRouter {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl TestRouter {
    async fn start(extra_toml: &str) -> TestRouter {
        let toml = format!(
            "[router]\nauto_realms = true\n[[listen]]\nbind = \"127.0.0.1:0\"\n[[realm]]\nname = \"realm1\"\n{extra_toml}"
        );
        let config = Config::from_toml_str(&toml).unwrap();
        let server = Server::bind(&config).await.unwrap();
        let addr = server.local_addrs()[0];
        let (tx, rx) = oneshot::channel();
        let task = tokio::spawn(server.run_until(async {
            let _ = rx.await;
        }));
        TestRouter {
            addr,
            stop: Some(tx),
            task: Some(task),
        }
    }

    async fn stop(mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            tokio::time::timeout(Duration::from_secs(10), task)
                .await
                .unwrap()
                .unwrap();
        }
    }
}

/// A RawSocket client written by hand.
struct Raw {
    stream: TcpStream,
    format: Format,
}

const TIMEOUT: Duration = Duration::from_secs(10);

impl Raw {
    async fn connect(addr: SocketAddr, format: Format) -> Raw {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        stream.set_nodelay(true).unwrap();
        stream
            .write_all(&[0x7f, 0xf0 | format.rawsocket_id(), 0, 0])
            .await
            .unwrap();
        let mut reply = [0u8; 4];
        tokio::time::timeout(TIMEOUT, stream.read_exact(&mut reply))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(reply[0], 0x7f);
        assert_eq!(reply[1] & 0x0f, format.rawsocket_id(), "serializer echoed");
        Raw { stream, format }
    }

    async fn send_bytes(&mut self, payload: &[u8]) {
        self.try_send_bytes(payload).await.unwrap();
    }

    /// Header and payload in one write.
    async fn try_send_bytes(&mut self, payload: &[u8]) -> std::io::Result<()> {
        let len = payload.len() as u32;
        let mut frame = vec![0, (len >> 16) as u8, (len >> 8) as u8, len as u8];
        frame.extend_from_slice(payload);
        self.stream.write_all(&frame).await
    }

    async fn send(&mut self, msg: impl Into<Message>) {
        let frame = encode(&msg.into(), self.format).unwrap();
        self.send_bytes(&frame).await;
    }

    /// The next message, or `None` when the router closed the connection.
    async fn recv(&mut self) -> Option<Message> {
        loop {
            let mut header = [0u8; 4];
            match tokio::time::timeout(TIMEOUT, self.stream.read_exact(&mut header))
                .await
                .unwrap()
            {
                Ok(_) => {}
                Err(_) => return None,
            }
            let len =
                ((header[1] as usize) << 16) | ((header[2] as usize) << 8) | header[3] as usize;
            let mut payload = vec![0u8; len];
            tokio::time::timeout(TIMEOUT, self.stream.read_exact(&mut payload))
                .await
                .unwrap()
                .ok()?;
            match header[0] & 0x07 {
                0 => return Some(decode(self.format, &payload.into()).unwrap()),
                1 => {
                    // PING: answer, keep reading
                    let h = [2, header[1], header[2], header[3]];
                    self.stream.write_all(&h).await.unwrap();
                    self.stream.write_all(&payload).await.unwrap();
                }
                _ => {}
            }
        }
    }

    async fn hello(&mut self, realm: &str) -> Welcome {
        let roles = dict! { "caller" => dict!{}, "callee" => dict!{}, "publisher" => dict!{}, "subscriber" => dict!{} };
        self.send(Hello {
            realm: realm.into(),
            details: HelloDetails::default().with("roles", roles),
        })
        .await;
        match self.recv().await {
            Some(Message::Welcome(w)) => w,
            other => panic!("expected WELCOME, got {other:?}"),
        }
    }

    async fn expect_abort(&mut self, reason: &str) {
        match self.recv().await {
            Some(Message::Abort(a)) => assert_eq!(a.reason, reason, "{a:?}"),
            other => panic!("expected ABORT {reason}, got {other:?}"),
        }
        assert!(
            self.recv().await.is_none(),
            "the connection is closed after ABORT"
        );
    }

    async fn expect_closed(&mut self) {
        assert!(
            self.recv().await.is_none(),
            "expected the router to close the connection"
        );
    }
}

/// A fresh session on a new connection works: the router carries on.
async fn still_serves(addr: SocketAddr) {
    for format in Format::ALL {
        let mut c = Raw::connect(addr, format).await;
        c.hello("realm1").await;
        c.send(Register {
            request: id(1),
            options: Default::default(),
            procedure: "com.example.alive".into(),
        })
        .await;
        assert!(matches!(c.recv().await, Some(Message::Registered(_))));
        c.send(Call {
            request: id(2),
            options: Default::default(),
            procedure: "com.example.alive".into(),
            payload: Payload::empty(),
        })
        .await;
        let Some(Message::Invocation(inv)) = c.recv().await else {
            panic!("no INVOCATION")
        };
        c.send(Yield {
            request: inv.request,
            options: Default::default(),
            payload: Payload::args(vec![Value::from("ok")]),
        })
        .await;
        assert!(matches!(c.recv().await, Some(Message::Result(_))));
    }
}

fn id(n: u64) -> switchboard_proto::Id {
    switchboard_proto::Id::new(n).unwrap()
}

#[tokio::test]
async fn malformed_frames_in_each_serializer_get_a_protocol_violation_abort() {
    let router = TestRouter::start("").await;
    let cases: [(Format, &[u8]); 3] = [
        (Format::Json, b"[32, 1, {}, \"com.example.t\""),
        (Format::MessagePack, &[0x94, 0x20, 0x01, 0xc1, 0xa1]),
        (Format::Cbor, &[0x84, 0x18, 0x20, 0x01, 0xbf]),
    ];
    for (format, bad) in cases {
        let mut c = Raw::connect(router.addr, format).await;
        c.hello("realm1").await;
        c.send_bytes(bad).await;
        c.expect_abort("wamp.error.protocol_violation").await;
    }
    still_serves(router.addr).await;
    router.stop().await;
}

#[tokio::test]
async fn a_message_before_hello_is_aborted() {
    let router = TestRouter::start("").await;
    let mut c = Raw::connect(router.addr, Format::Json).await;
    c.send(Subscribe {
        request: id(1),
        options: Default::default(),
        topic: "com.example.t".into(),
    })
    .await;
    c.expect_abort("wamp.error.protocol_violation").await;
    still_serves(router.addr).await;
    router.stop().await;
}

#[tokio::test]
async fn an_unknown_message_type_is_aborted() {
    let router = TestRouter::start("").await;
    let mut c = Raw::connect(router.addr, Format::Json).await;
    c.hello("realm1").await;
    c.send_bytes(b"[7, 1]").await; // HEARTBEAT, removed from the spec
    c.expect_abort("wamp.error.protocol_violation").await;
    let mut c = Raw::connect(router.addr, Format::Json).await;
    c.hello("realm1").await;
    c.send_bytes(b"[4242, {}]").await;
    c.expect_abort("wamp.error.protocol_violation").await;
    still_serves(router.addr).await;
    router.stop().await;
}

#[tokio::test]
async fn a_duplicate_request_id_is_aborted() {
    let router = TestRouter::start("").await;
    let mut c = Raw::connect(router.addr, Format::MessagePack).await;
    c.hello("realm1").await;
    c.send(Subscribe {
        request: id(1),
        options: Default::default(),
        topic: "com.example.a".into(),
    })
    .await;
    assert!(matches!(c.recv().await, Some(Message::Subscribed(_))));
    c.send(Subscribe {
        request: id(1),
        options: Default::default(),
        topic: "com.example.b".into(),
    })
    .await;
    c.expect_abort("wamp.error.protocol_violation").await;
    still_serves(router.addr).await;
    router.stop().await;
}

#[tokio::test]
async fn an_oversized_message_fails_the_connection_and_the_router_serves_on() {
    let router = TestRouter::start("[limits]\nmax_message_size = 65536\n").await;
    let mut c = Raw::connect(router.addr, Format::Json).await;
    c.hello("realm1").await;
    let big = Payload::args(vec![Value::from("x".repeat(100_000))]);
    c.send(Publish {
        request: id(1),
        options: Default::default(),
        topic: "com.example.t".into(),
        payload: big,
    })
    .await;
    c.expect_closed().await;
    still_serves(router.addr).await;
    router.stop().await;
}

#[tokio::test]
async fn an_unsupported_rawsocket_serializer_gets_the_handshake_error() {
    let router = TestRouter::start("").await;
    let mut s = TcpStream::connect(router.addr).await.unwrap();
    s.write_all(&[0x7f, 0xf4, 0, 0]).await.unwrap(); // UBJSON
    let mut reply = [0u8; 4];
    s.read_exact(&mut reply).await.unwrap();
    assert_eq!(reply, [0x7f, 0x10, 0, 0]);
    still_serves(router.addr).await;
    router.stop().await;
}

#[tokio::test]
async fn shutdown_says_goodbye_system_shutdown() {
    let router = TestRouter::start("").await;
    let mut c = Raw::connect(router.addr, Format::Cbor).await;
    c.hello("realm1").await;
    let addr = router.addr;
    let stopping = tokio::spawn(router.stop());
    match c.recv().await {
        Some(Message::Goodbye(g)) => assert_eq!(g.reason, "wamp.close.system_shutdown"),
        other => panic!("expected GOODBYE, got {other:?}"),
    }
    // The reply may find the socket already closed by the router: that is fine.
    let bye = encode(
        &Message::Goodbye(Goodbye {
            details: Default::default(),
            reason: "wamp.close.goodbye_and_out".into(),
        }),
        Format::Cbor,
    )
    .unwrap();
    let _ = c.try_send_bytes(&bye).await;
    tokio::time::timeout(TIMEOUT, stopping)
        .await
        .unwrap()
        .unwrap();
    assert!(
        TcpStream::connect(addr).await.is_err(),
        "the listener is gone"
    );
}

#[tokio::test]
async fn a_subscriber_that_stops_reading_is_closed_while_everyone_else_gets_every_event() {
    let router = TestRouter::start(
        "[limits]\noutbound_queue_messages = 64\noutbound_queue_bytes = 262144\n",
    )
    .await;
    let mut slow = Raw::connect(router.addr, Format::MessagePack).await;
    slow.hello("realm1").await;
    slow.send(Subscribe {
        request: id(1),
        options: Default::default(),
        topic: "com.example.flood".into(),
    })
    .await;
    assert!(matches!(slow.recv().await, Some(Message::Subscribed(_))));

    let mut fast = Raw::connect(router.addr, Format::MessagePack).await;
    fast.hello("realm1").await;
    fast.send(Subscribe {
        request: id(1),
        options: Default::default(),
        topic: "com.example.flood".into(),
    })
    .await;
    assert!(matches!(fast.recv().await, Some(Message::Subscribed(_))));

    const EVENTS: u64 = 3000;
    let mut publisher = Raw::connect(router.addr, Format::MessagePack).await;
    publisher.hello("realm1").await;
    // The fast subscriber reads concurrently; the slow one reads nothing until the end.
    let reader = tokio::spawn(async move {
        let mut seen = Vec::new();
        while (seen.len() as u64) < EVENTS {
            match fast.recv().await {
                Some(Message::Event(e)) => {
                    seen.push(e.payload.to_values().unwrap().args[0].as_u64().unwrap())
                }
                other => panic!("fast subscriber got {other:?}"),
            }
        }
        seen
    });
    let blob = "x".repeat(8192);
    for i in 0..EVENTS {
        let payload = Payload::args(vec![Value::from(i), Value::from(blob.as_str())]);
        publisher
            .send(Publish {
                request: id(i + 1),
                options: PublishOptions::default().with("acknowledge", true),
                topic: "com.example.flood".into(),
                payload,
            })
            .await;
        match publisher.recv().await {
            Some(Message::Published(p)) => assert_eq!(p.request, id(i + 1)),
            other => panic!("publisher got {other:?}"),
        }
    }
    let seen = tokio::time::timeout(Duration::from_secs(60), reader)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        seen,
        (0..EVENTS).collect::<Vec<_>>(),
        "the fast subscriber got every event in order"
    );

    // The slow subscriber was closed: draining its socket ends, with fewer events than sent and
    // a GOODBYE wamp.close.killed if the router could still write it.
    let mut events = 0u64;
    let mut killed = false;
    while let Some(m) = slow.recv().await {
        match m {
            Message::Event(_) => events += 1,
            Message::Goodbye(g) => {
                assert_eq!(g.reason, "wamp.close.killed");
                killed = true;
            }
            other => panic!("slow subscriber got {other:?}"),
        }
    }
    assert!(
        events < EVENTS,
        "the slow subscriber cannot have received everything ({events})"
    );
    let _ = killed; // GOODBYE wamp.close.killed is sent when the socket still takes it
    router.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_publisher_burst_does_not_get_a_reading_subscriber_killed() {
    // Default limits: a subscriber that keeps reading must get a burst far larger than its
    // queue bound, because the publisher's connection gives way to the writers it feeds.
    let router = TestRouter::start("").await;
    let mut sub = Raw::connect(router.addr, Format::MessagePack).await;
    sub.hello("realm1").await;
    sub.send(Subscribe {
        request: id(1),
        options: Default::default(),
        topic: "com.example.burst".into(),
    })
    .await;
    assert!(matches!(sub.recv().await, Some(Message::Subscribed(_))));
    const EVENTS: u64 = 30_000;
    let reader = tokio::spawn(async move {
        let mut n = 0u64;
        while n < EVENTS {
            match sub.recv().await {
                Some(Message::Event(e)) => {
                    assert_eq!(e.payload.to_values().unwrap().args[0].as_u64(), Some(n));
                    n += 1;
                }
                other => panic!("subscriber got {other:?} after {n} events"),
            }
        }
        n
    });
    let mut publisher = Raw::connect(router.addr, Format::MessagePack).await;
    publisher.hello("realm1").await;
    let mut burst = Vec::new();
    for i in 0..EVENTS {
        let msg = Message::Publish(Publish {
            request: id(i + 1),
            options: Default::default(),
            topic: "com.example.burst".into(),
            payload: Payload::args(vec![Value::from(i)]),
        });
        let frame = encode(&msg, Format::MessagePack).unwrap();
        let len = frame.len() as u32;
        burst.extend_from_slice(&[0, (len >> 16) as u8, (len >> 8) as u8, len as u8]);
        burst.extend_from_slice(&frame);
    }
    publisher.stream.write_all(&burst).await.unwrap();
    let got = tokio::time::timeout(Duration::from_secs(60), reader)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got, EVENTS);
    router.stop().await;
}
