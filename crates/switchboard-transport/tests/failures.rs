//! Connections that must fail, and keep-alives that must be answered: oversized messages,
//! wrong WebSocket frame types, bad RawSocket frames, PING/PONG.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use bytes::Bytes;
use common::{
    Event, config, echo_router, next_event, raw_handshake, read_raw_frame, write_raw_frame,
};
use futures_util::{SinkExt, StreamExt};
use switchboard_proto::rawsocket::FrameError;
use switchboard_transport::{Endpoint, Format, TransportError, connect};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_websockets::{ClientBuilder, Message};

async fn accepted(events: &mut tokio::sync::mpsc::UnboundedReceiver<Event>) {
    let event = next_event(events).await;
    assert!(matches!(event, Event::Accepted { .. }), "{event:?}");
}

#[tokio::test]
async fn oversized_websocket_message_fails_the_connection_with_1009() {
    let (addr, mut events) = echo_router(config(1024)).await;
    let ws = Endpoint::parse(&format!("ws://{addr}/ws")).unwrap();
    let mut conn = connect(&ws, Format::Cbor, 1 << 20).await.unwrap();
    accepted(&mut events).await;

    // At the limit is fine.
    conn.writer
        .send(Bytes::from(vec![7u8; 1024]))
        .await
        .unwrap();
    assert_eq!(conn.reader.next().await.unwrap().unwrap().len(), 1024);

    conn.writer
        .send(Bytes::from(vec![7u8; 2000]))
        .await
        .unwrap();
    let event = next_event(&mut events).await;
    assert!(
        matches!(
            event,
            Event::ReadError(TransportError::TooLarge {
                len: 2000,
                max: 1024
            })
        ),
        "{event:?}"
    );
    match conn.reader.next().await {
        Some(Err(TransportError::ClosedByPeer { code: 1009, .. })) => {}
        other => panic!("expected close 1009, got {other:?}"),
    }
    assert!(conn.reader.next().await.is_none());
    assert!(conn.writer.send(Bytes::from_static(b"x")).await.is_err());
}

#[tokio::test]
async fn client_fails_an_oversized_websocket_message_from_the_router() {
    let (addr, mut events) = echo_router(config(1 << 20)).await;
    let ws = Endpoint::parse(&format!("ws://{addr}/ws")).unwrap();
    let mut conn = connect(&ws, Format::MessagePack, 1024).await.unwrap();
    accepted(&mut events).await;
    assert_eq!(conn.reader.max_message_size(), 1024);
    conn.writer
        .send(Bytes::from(vec![1u8; 2000]))
        .await
        .unwrap();
    let result = conn.reader.next().await;
    assert!(
        matches!(
            result,
            Some(Err(TransportError::TooLarge {
                len: 2000,
                max: 1024
            }))
        ),
        "{result:?}"
    );
    // The router sees our close frame with 1009.
    let event = next_event(&mut events).await;
    assert!(
        matches!(
            event,
            Event::ReadError(TransportError::ClosedByPeer { code: 1009, .. })
        ),
        "{event:?}"
    );
}

#[tokio::test]
async fn oversized_rawsocket_message_fails_the_connection() {
    let (addr, mut events) = echo_router(config(1024)).await;
    let (mut stream, reply) = raw_handshake(addr, [0x7F, 0xF1, 0, 0]).await;
    assert_eq!(reply, [0x7F, 0x11, 0, 0], "1 KiB announced");
    accepted(&mut events).await;

    // Exactly 1024 bytes is within the announced limit.
    let at_limit = vec![b'a'; 1024];
    write_raw_frame(&mut stream, 0, &at_limit).await;
    assert_eq!(read_raw_frame(&mut stream).await, (0, at_limit));

    write_raw_frame(&mut stream, 0, &vec![b'a'; 1025]).await;
    let event = next_event(&mut events).await;
    assert!(
        matches!(
            event,
            Event::ReadError(TransportError::TooLarge {
                len: 1025,
                max: 1024
            })
        ),
        "{event:?}"
    );
    // The router shut the connection down.
    let mut rest = Vec::new();
    let _ = stream.read_to_end(&mut rest).await;
    assert!(rest.is_empty());
}

#[tokio::test]
async fn rawsocket_writer_refuses_frames_over_the_peers_limit_without_failing() {
    let (addr, mut events) = echo_router(config(1024)).await;
    let rs = Endpoint::parse(&format!("rs://{addr}")).unwrap();
    let mut conn = connect(&rs, Format::Json, 1 << 20).await.unwrap();
    accepted(&mut events).await;
    assert_eq!(conn.writer.peer_max_message_size(), Some(1024));

    let error = conn
        .writer
        .send(Bytes::from(vec![b'a'; 2000]))
        .await
        .unwrap_err();
    assert!(
        matches!(
            error,
            TransportError::OutgoingTooLarge {
                len: 2000,
                max: 1024
            }
        ),
        "{error}"
    );
    let mut batch = vec![Bytes::from_static(b"[1]"), Bytes::from(vec![b'a'; 1025])];
    let error = conn.writer.send_batch(&mut batch).await.unwrap_err();
    assert!(
        matches!(error, TransportError::OutgoingTooLarge { len: 1025, .. }),
        "{error}"
    );
    assert_eq!(batch.len(), 2, "nothing sent, batch left as it was");

    // Still usable.
    batch.pop();
    conn.writer.send_batch(&mut batch).await.unwrap();
    assert_eq!(&conn.reader.next().await.unwrap().unwrap()[..], b"[1]");
}

#[tokio::test]
async fn rawsocket_ping_gets_a_pong_with_the_same_payload() {
    let (addr, mut events) = echo_router(config(1 << 16)).await;
    let (mut stream, reply) = raw_handshake(addr, [0x7F, 0xF3, 0, 0]).await;
    assert_eq!(reply[1] & 0x0F, 3);
    accepted(&mut events).await;

    // The router's writer is idle (its task waits on the reader): the reader answers alone.
    write_raw_frame(&mut stream, 1, b"hello, router").await;
    assert_eq!(
        read_raw_frame(&mut stream).await,
        (2, b"hello, router".to_vec())
    );
    write_raw_frame(&mut stream, 1, b"").await;
    assert_eq!(read_raw_frame(&mut stream).await, (2, Vec::new()));

    // A burst of PINGs written at once, then a message: PONGs in order, then the echo.
    let mut burst = Vec::new();
    for i in 0..50u8 {
        burst.extend_from_slice(&[1, 0, 0, 1, i]);
    }
    burst.extend_from_slice(&[0, 0, 0, 2, 0xA1, 0x00]);
    stream.write_all(&burst).await.unwrap();
    for i in 0..50u8 {
        assert_eq!(read_raw_frame(&mut stream).await, (2, vec![i]));
    }
    assert_eq!(read_raw_frame(&mut stream).await, (0, vec![0xA1, 0x00]));

    // An unsolicited PONG is ignored.
    write_raw_frame(&mut stream, 2, b"ignored").await;
    write_raw_frame(&mut stream, 0, b"\x80").await;
    assert_eq!(read_raw_frame(&mut stream).await, (0, b"\x80".to_vec()));
}

#[tokio::test]
async fn rawsocket_reserved_frame_type_fails_the_connection() {
    let (addr, mut events) = echo_router(config(1 << 16)).await;
    let (mut stream, _) = raw_handshake(addr, [0x7F, 0xF1, 0, 0]).await;
    accepted(&mut events).await;
    stream.write_all(&[0x07, 0, 0, 0]).await.unwrap();
    let event = next_event(&mut events).await;
    assert!(
        matches!(
            event,
            Event::ReadError(TransportError::RawSocket(FrameError::ReservedType(7)))
        ),
        "{event:?}"
    );
    let mut rest = Vec::new();
    let _ = stream.read_to_end(&mut rest).await;
    assert!(rest.is_empty());
}

#[tokio::test]
async fn rawsocket_end_of_stream_mid_frame_is_an_error() {
    let (addr, mut events) = echo_router(config(1 << 16)).await;
    let (mut stream, _) = raw_handshake(addr, [0x7F, 0xF1, 0, 0]).await;
    accepted(&mut events).await;
    stream.write_all(&[0, 0, 0, 10, b'[', b'1']).await.unwrap();
    stream.shutdown().await.unwrap();
    let event = next_event(&mut events).await;
    assert!(
        matches!(event, Event::ReadError(TransportError::UnexpectedEof)),
        "{event:?}"
    );
}

/// A bare tokio-websockets client offering `protocol`, to send what our client never would.
async fn raw_ws_client(
    addr: std::net::SocketAddr,
    protocol: &'static str,
) -> tokio_websockets::WebSocketStream<tokio_websockets::MaybeTlsStream<tokio::net::TcpStream>> {
    let (ws, response) = ClientBuilder::new()
        .uri(&format!("ws://{addr}/ws"))
        .unwrap()
        .add_header(
            http::header::SEC_WEBSOCKET_PROTOCOL,
            http::HeaderValue::from_static(protocol),
        )
        .unwrap()
        .connect()
        .await
        .unwrap();
    assert_eq!(
        response
            .headers()
            .get(http::header::SEC_WEBSOCKET_PROTOCOL)
            .unwrap(),
        protocol
    );
    ws
}

#[tokio::test]
async fn text_frame_on_a_binary_serializer_fails_with_1003() {
    let (addr, mut events) = echo_router(config(1 << 16)).await;
    let mut ws = raw_ws_client(addr, "wamp.2.cbor").await;
    accepted(&mut events).await;
    ws.send(Message::binary(Bytes::from_static(b"\x81\x01")))
        .await
        .unwrap();
    assert!(ws.next().await.unwrap().unwrap().is_binary());
    ws.send(Message::text("[1]")).await.unwrap();
    let event = next_event(&mut events).await;
    assert!(
        matches!(
            event,
            Event::ReadError(TransportError::WrongFrameType {
                format: Format::Cbor,
                got: "text",
                expected: "binary"
            })
        ),
        "{event:?}"
    );
    let close = ws.next().await.unwrap().unwrap();
    assert_eq!(u16::from(close.as_close().unwrap().0), 1003);
}

#[tokio::test]
async fn binary_frame_on_json_fails_with_1003() {
    let (addr, mut events) = echo_router(config(1 << 16)).await;
    let mut ws = raw_ws_client(addr, "wamp.2.json").await;
    accepted(&mut events).await;
    ws.send(Message::binary(Bytes::from_static(b"[1]")))
        .await
        .unwrap();
    let event = next_event(&mut events).await;
    assert!(
        matches!(
            event,
            Event::ReadError(TransportError::WrongFrameType {
                format: Format::Json,
                got: "binary",
                expected: "text"
            })
        ),
        "{event:?}"
    );
    let close = ws.next().await.unwrap().unwrap();
    assert_eq!(u16::from(close.as_close().unwrap().0), 1003);
}

#[tokio::test]
async fn invalid_utf8_in_a_text_frame_fails_the_connection() {
    let (addr, mut events) = echo_router(config(1 << 16)).await;
    // Write the frame by hand: masked text frame with the bytes FF FE.
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(common::upgrade_request("wamp.2.json").as_bytes())
        .await
        .unwrap();
    let head = common::read_head(&mut stream).await;
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    accepted(&mut events).await;
    stream
        .write_all(&[0x81, 0x82, 0, 0, 0, 0, 0xFF, 0xFE])
        .await
        .unwrap();
    let event = next_event(&mut events).await;
    assert!(
        matches!(event, Event::ReadError(TransportError::WebSocket(_))),
        "{event:?}"
    );
    // Close frame with 1007 (invalid frame payload data).
    let mut frame = [0u8; 4];
    stream.read_exact(&mut frame).await.unwrap();
    assert_eq!(frame[0], 0x88);
    assert_eq!(u16::from_be_bytes([frame[2], frame[3]]), 1007);
}

#[tokio::test]
async fn websocket_ping_is_answered_while_the_writer_is_idle() {
    let (addr, mut events) = echo_router(config(1 << 16)).await;
    let mut ws = raw_ws_client(addr, "wamp.2.msgpack").await;
    accepted(&mut events).await;
    ws.send(Message::ping(Bytes::from_static(b"are you there")))
        .await
        .unwrap();
    let pong = ws.next().await.unwrap().unwrap();
    assert!(pong.is_pong());
    assert_eq!(&pong.as_payload()[..], b"are you there");
    // A normal close ends the router's reader cleanly.
    ws.close().await.unwrap();
    assert!(matches!(next_event(&mut events).await, Event::Closed));
}
