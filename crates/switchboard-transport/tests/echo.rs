//! Round trips through a router built on `accept()` and a client built on `connect()`, for
//! every transport and serializer.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use bytes::Bytes;
use common::{BATCH, Event, batch_frames, config, echo_router, next_event, serve};
use switchboard_transport::{
    Endpoint, Format, TransportKind, accept_unix, connect, connect_websocket_stream,
};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::mpsc;

/// A message that is valid text (for JSON) and carries some size.
fn message(i: usize) -> Bytes {
    Bytes::from(format!(
        "[16,{i},{{}},\"com.example.topic\",[\"{}\"]]",
        "x".repeat(i * 10)
    ))
}

async fn round_trip(endpoint: Endpoint, format: Format, kind: TransportKind) {
    let mut conn = connect(&endpoint, format, 1 << 20).await.unwrap();
    assert_eq!(conn.format, format);
    assert_eq!(conn.kind, kind);
    assert!(conn.peer.is_some());
    for i in 0..20 {
        conn.writer.send(message(i)).await.unwrap();
        let echoed = conn.reader.next().await.unwrap().unwrap();
        assert_eq!(echoed, message(i));
    }
    conn.writer.close().await.unwrap();
    assert!(
        conn.reader.next().await.is_none(),
        "clean close ends the reader"
    );
}

async fn ws_echo(format: Format) {
    let (addr, mut events) = echo_router(config(1 << 20)).await;
    let endpoint = Endpoint::parse(&format!("ws://{addr}/ws")).unwrap();
    round_trip(endpoint, format, TransportKind::WebSocket).await;
    assert!(matches!(
        next_event(&mut events).await,
        Event::Accepted { format: f, kind: TransportKind::WebSocket } if f == format
    ));
    assert!(matches!(next_event(&mut events).await, Event::Closed));
}

async fn rawsocket_echo(format: Format) {
    let (addr, mut events) = echo_router(config(1 << 20)).await;
    let endpoint = Endpoint::parse(&format!("rs://{addr}")).unwrap();
    round_trip(endpoint, format, TransportKind::RawSocket).await;
    assert!(matches!(
        next_event(&mut events).await,
        Event::Accepted { format: f, kind: TransportKind::RawSocket } if f == format
    ));
    assert!(matches!(next_event(&mut events).await, Event::Closed));
}

#[tokio::test]
async fn websocket_json_round_trip() {
    ws_echo(Format::Json).await;
}

#[tokio::test]
async fn websocket_msgpack_round_trip() {
    ws_echo(Format::MessagePack).await;
}

#[tokio::test]
async fn websocket_cbor_round_trip() {
    ws_echo(Format::Cbor).await;
}

#[tokio::test]
async fn rawsocket_json_round_trip() {
    rawsocket_echo(Format::Json).await;
}

#[tokio::test]
async fn rawsocket_msgpack_round_trip() {
    rawsocket_echo(Format::MessagePack).await;
}

#[tokio::test]
async fn rawsocket_cbor_round_trip() {
    rawsocket_echo(Format::Cbor).await;
}

#[tokio::test]
async fn tcp_endpoint_alias_is_rawsocket() {
    let (addr, _events) = echo_router(config(1 << 20)).await;
    let endpoint = Endpoint::parse(&format!("tcp://{addr}")).unwrap();
    round_trip(endpoint, Format::Cbor, TransportKind::RawSocket).await;
}

async fn batch_arrives_in_order(endpoint: Endpoint, format: Format) {
    let mut conn = connect(&endpoint, format, 1 << 20).await.unwrap();
    conn.writer
        .send(Bytes::from_static(b"batch"))
        .await
        .unwrap();
    for expected in batch_frames() {
        assert_eq!(conn.reader.next().await.unwrap().unwrap(), expected);
    }
    // And a client-side batch is echoed in order too.
    let mut frames: Vec<Bytes> = (0..BATCH).map(message).collect();
    conn.writer.send_batch(&mut frames).await.unwrap();
    assert!(frames.is_empty());
    for i in 0..BATCH {
        assert_eq!(conn.reader.next().await.unwrap().unwrap(), message(i));
    }
}

#[tokio::test]
async fn websocket_batch_send_delivers_every_frame_in_order() {
    let (addr, _events) = echo_router(config(1 << 20)).await;
    for format in Format::ALL {
        batch_arrives_in_order(Endpoint::parse(&format!("ws://{addr}/ws")).unwrap(), format).await;
    }
}

#[tokio::test]
async fn rawsocket_batch_send_delivers_every_frame_in_order() {
    let (addr, _events) = echo_router(config(1 << 20)).await;
    for format in Format::ALL {
        batch_arrives_in_order(Endpoint::parse(&format!("rs://{addr}")).unwrap(), format).await;
    }
}

#[tokio::test]
async fn large_batch_with_big_frames_survives_partial_writes() {
    // Several MiB in one batch: the kernel buffer fills, so the flush is written in pieces.
    let (addr, _events) = echo_router(config(1 << 20)).await;
    for endpoint in [format!("ws://{addr}/ws"), format!("rs://{addr}")] {
        let conn = connect(
            &Endpoint::parse(&endpoint).unwrap(),
            Format::MessagePack,
            1 << 20,
        )
        .await
        .unwrap();
        let frames: Vec<Bytes> = (0..40u8)
            .map(|i| Bytes::from(vec![i; 200_000 + usize::from(i)]))
            .collect();
        let mut batch = frames.clone();
        let (mut reader, mut writer) = (conn.reader, conn.writer);
        let sender = tokio::spawn(async move {
            writer.send_batch(&mut batch).await.unwrap();
            writer
        });
        for expected in &frames {
            assert_eq!(&reader.next().await.unwrap().unwrap(), expected);
        }
        let mut writer = sender.await.unwrap();
        writer.close().await.unwrap();
        assert!(reader.next().await.is_none());
    }
}

#[tokio::test]
async fn server_close_ends_the_client_reader_cleanly() {
    for (endpoint_of, format) in [("ws", Format::Json), ("rs", Format::Cbor)] {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let server = tokio::spawn(async move {
            let (stream, _) = listener.accept().await.unwrap();
            let mut conn = switchboard_transport::accept(stream, &config(4096))
                .await
                .unwrap();
            conn.writer
                .send(Bytes::from_static(b"[6,{},\"bye\"]"))
                .await
                .unwrap();
            conn.writer.close().await.unwrap();
            // The client's side of the close handshake ends our reader too.
            assert!(conn.reader.next().await.is_none());
        });
        let url = if endpoint_of == "ws" {
            format!("ws://{addr}/ws")
        } else {
            format!("rs://{addr}")
        };
        let mut conn = connect(&Endpoint::parse(&url).unwrap(), format, 4096)
            .await
            .unwrap();
        assert_eq!(
            &conn.reader.next().await.unwrap().unwrap()[..],
            b"[6,{},\"bye\"]"
        );
        assert!(
            conn.reader.next().await.is_none(),
            "{endpoint_of}: clean close"
        );
        conn.writer.close().await.ok();
        server.await.unwrap();
    }
}

#[tokio::test]
async fn unix_socket_round_trips_rawsocket_and_websocket() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("switchboard.sock");
    let listener = UnixListener::bind(&path).unwrap();
    let (tx, mut events) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            let tx = tx.clone();
            tokio::spawn(async move {
                match accept_unix(stream, &config(1 << 16)).await {
                    Ok(conn) => serve(conn, tx).await,
                    Err(error) => {
                        let _ = tx.send(Event::Refused(error));
                    }
                }
            });
        }
    });

    for format in Format::ALL {
        let endpoint = Endpoint::parse(&format!("unix://{}", path.display())).unwrap();
        let mut conn = connect(&endpoint, format, 1 << 16).await.unwrap();
        assert_eq!(
            (conn.format, conn.kind, conn.peer),
            (format, TransportKind::RawSocket, None)
        );
        conn.writer.send(message(3)).await.unwrap();
        assert_eq!(conn.reader.next().await.unwrap().unwrap(), message(3));
        conn.writer.close().await.unwrap();
        assert!(conn.reader.next().await.is_none());
        assert!(matches!(
            next_event(&mut events).await,
            Event::Accepted {
                kind: TransportKind::RawSocket,
                ..
            }
        ));
        assert!(matches!(next_event(&mut events).await, Event::Closed));
    }

    // WebSocket over the same Unix socket, through the stream-generic client.
    let stream = UnixStream::connect(&path).await.unwrap();
    let mut conn =
        connect_websocket_stream(stream, "ws://localhost/ws", Format::Json, 1 << 16, None)
            .await
            .unwrap();
    assert_eq!(conn.kind, TransportKind::WebSocket);
    conn.writer.send(message(4)).await.unwrap();
    assert_eq!(conn.reader.next().await.unwrap().unwrap(), message(4));
}

#[tokio::test]
async fn reader_and_writer_work_from_separate_tasks() {
    let (addr, _events) = echo_router(config(1 << 20)).await;
    for url in [format!("ws://{addr}/ws"), format!("rs://{addr}")] {
        let conn = connect(&Endpoint::parse(&url).unwrap(), Format::Cbor, 1 << 20)
            .await
            .unwrap();
        let (mut reader, mut writer) = (conn.reader, conn.writer);
        let writer_task = tokio::spawn(async move {
            for chunk in (0..500).collect::<Vec<_>>().chunks(25) {
                let mut frames: Vec<Bytes> = chunk.iter().map(|&i| message(i % 30)).collect();
                writer.send_batch(&mut frames).await.unwrap();
            }
            writer
        });
        for i in 0..500 {
            assert_eq!(reader.next().await.unwrap().unwrap(), message(i % 30));
        }
        let mut writer = writer_task.await.unwrap();
        writer.close().await.unwrap();
        assert!(reader.next().await.is_none());
    }
}
