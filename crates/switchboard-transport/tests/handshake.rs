//! Opening handshakes on the shared port: WebSocket subprotocol negotiation, plain HTTP
//! answers, RawSocket handshake replies and refusals, seen on the wire and through
//! `connect()`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{
    Event, config, echo_router, http_exchange, next_event, raw_handshake, read_head,
    upgrade_request,
};
use switchboard_proto::rawsocket::{HandshakeError, ReplyError};
use switchboard_transport::{
    AcceptConfig, AcceptError, ConnectError, Endpoint, Format, TransportError, TransportKind,
    connect,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

fn full(mut cfg: AcceptConfig) -> AcceptConfig {
    cfg.max_connections_reached = true;
    cfg
}

#[tokio::test]
async fn subprotocol_choice_follows_the_clients_order() {
    let (addr, mut events) = echo_router(config(1 << 16)).await;
    for (offer, chosen, format) in [
        ("wamp.2.cbor, wamp.2.json", "wamp.2.cbor", Format::Cbor),
        ("wamp.2.json, wamp.2.cbor", "wamp.2.json", Format::Json),
        (
            "wamp.2.cbor.batched, wamp.2.ubjson, wamp.2.msgpack, wamp.2.json",
            "wamp.2.msgpack",
            Format::MessagePack,
        ),
    ] {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        stream
            .write_all(upgrade_request(offer).as_bytes())
            .await
            .unwrap();
        let head = read_head(&mut stream).await.to_ascii_lowercase();
        assert!(head.starts_with("http/1.1 101 "), "{head}");
        assert!(
            head.contains(&format!("\r\nsec-websocket-protocol: {chosen}\r\n")),
            "{head}"
        );
        assert!(
            head.contains("\r\nsec-websocket-accept: s3pplmbitxaq9kygzzhzrbk+xoo=\r\n"),
            "{head}"
        );
        assert!(head.contains("\r\nupgrade: websocket\r\n"), "{head}");
        assert!(head.contains("\r\nconnection: upgrade\r\n"), "{head}");
        let event = next_event(&mut events).await;
        assert!(
            matches!(event, Event::Accepted { format: f, kind: TransportKind::WebSocket } if f == format),
            "{event:?}"
        );
        // Dropping the socket without a close frame is an abrupt end for the router.
        drop(stream);
        let event = next_event(&mut events).await;
        assert!(
            matches!(event, Event::ReadError(TransportError::UnexpectedEof)),
            "{event:?}"
        );
    }
}

#[tokio::test]
async fn router_supported_subset_still_follows_the_clients_order() {
    let mut cfg = config(1 << 16);
    cfg.formats = vec![Format::Json, Format::MessagePack];
    let (addr, _events) = echo_router(cfg).await;
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(upgrade_request("wamp.2.cbor, wamp.2.msgpack, wamp.2.json").as_bytes())
        .await
        .unwrap();
    let head = read_head(&mut stream).await.to_ascii_lowercase();
    assert!(
        head.contains("\r\nsec-websocket-protocol: wamp.2.msgpack\r\n"),
        "{head}"
    );
}

#[tokio::test]
async fn unsupported_subprotocol_gets_400_with_a_clear_body() {
    let (addr, mut events) = echo_router(config(1 << 16)).await;
    let response = http_exchange(addr, &upgrade_request("wamp.2.ubjson, mqtt")).await;
    assert!(response.starts_with("HTTP/1.1 400 "), "{response}");
    assert!(
        response.contains("No supported WAMP subprotocol offered (offered: wamp.2.ubjson, mqtt)"),
        "{response}"
    );
    assert!(
        response.contains("wamp.2.cbor, wamp.2.msgpack, wamp.2.json"),
        "{response}"
    );
    assert!(
        !response
            .to_ascii_lowercase()
            .contains("sec-websocket-protocol")
    );
    match next_event(&mut events).await {
        Event::Refused(AcceptError::WebSocketRefused {
            status: 400,
            reason,
        }) => {
            assert!(reason.contains("wamp.2.ubjson"), "{reason}");
        }
        other => panic!("unexpected {other:?}"),
    }

    // No subprotocol at all.
    let request = "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
                   Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
    let response = http_exchange(addr, request).await;
    assert!(response.starts_with("HTTP/1.1 400 "), "{response}");
    assert!(
        response.contains("No WebSocket subprotocol offered"),
        "{response}"
    );
}

#[tokio::test]
async fn client_is_refused_when_its_format_is_not_supported() {
    let mut cfg = config(1 << 16);
    cfg.formats = vec![Format::Cbor];
    let (addr, _events) = echo_router(cfg).await;
    let ws = Endpoint::parse(&format!("ws://{addr}/ws")).unwrap();
    let error = connect(&ws, Format::Json, 1 << 16).await.unwrap_err();
    assert!(
        matches!(error, ConnectError::Refused { status: 400 }),
        "{error}"
    );
    let rs = Endpoint::parse(&format!("rs://{addr}")).unwrap();
    let error = connect(&rs, Format::Json, 1 << 16).await.unwrap_err();
    assert!(
        matches!(
            error,
            ConnectError::RawSocket(ReplyError::Rejected(HandshakeError::SerializerUnsupported))
        ),
        "{error}"
    );
    // The supported one works on both.
    connect(&ws, Format::Cbor, 1 << 16).await.unwrap();
    connect(&rs, Format::Cbor, 1 << 16).await.unwrap();
}

#[tokio::test]
async fn plain_http_gets_a_page_on_root_and_404_elsewhere() {
    let (addr, mut events) = echo_router(config(1 << 16)).await;
    let response = http_exchange(addr, "GET / HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert!(response.starts_with("HTTP/1.1 200 OK\r\n"), "{response}");
    assert!(
        response.ends_with("\r\n\r\nSwitchboard WAMP router\n"),
        "{response}"
    );
    match next_event(&mut events).await {
        Event::Refused(AcceptError::PlainHttp { status: 200, path }) => assert_eq!(path, "/"),
        other => panic!("unexpected {other:?}"),
    }

    let response = http_exchange(addr, "GET /nothing HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert!(response.starts_with("HTTP/1.1 404 "), "{response}");

    // The WAMP path without an upgrade says what it is.
    let response = http_exchange(addr, "GET /ws HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert!(response.starts_with("HTTP/1.1 426 "), "{response}");
    assert!(response.contains("WAMP WebSocket endpoint"), "{response}");

    // An upgrade on another path.
    let response = http_exchange(
        addr,
        &upgrade_request("wamp.2.json").replace("GET /ws ", "GET /other "),
    )
    .await;
    assert!(response.starts_with("HTTP/1.1 404 "), "{response}");
}

#[tokio::test]
async fn malformed_upgrades_are_refused() {
    let (addr, _events) = echo_router(config(1 << 16)).await;
    let bad_key = upgrade_request("wamp.2.json").replace("dGhlIHNhbXBsZSBub25jZQ==", "c2hvcnQ=");
    let response = http_exchange(addr, &bad_key).await;
    assert!(response.starts_with("HTTP/1.1 400 "), "{response}");
    assert!(response.contains("Sec-WebSocket-Key"), "{response}");

    let old_version = upgrade_request("wamp.2.json").replace("Version: 13", "Version: 8");
    let response = http_exchange(addr, &old_version).await;
    assert!(response.starts_with("HTTP/1.1 426 "), "{response}");
    assert!(
        response
            .to_ascii_lowercase()
            .contains("sec-websocket-version: 13"),
        "{response}"
    );

    let post = upgrade_request("wamp.2.json").replace("GET /ws", "POST /ws");
    let response = http_exchange(addr, &post).await;
    assert!(response.starts_with("HTTP/1.1 405 "), "{response}");

    let garbage = http_exchange(addr, "\x16\x03\x01 not http at all\r\n\r\n").await;
    assert!(
        garbage.is_empty() || garbage.starts_with("HTTP/1.1 400"),
        "{garbage}"
    );
}

#[tokio::test]
async fn rawsocket_handshake_reply_echoes_serializer_and_announces_our_limit() {
    // 1000 bytes is announced as 1 KiB (exponent 1).
    let (addr, mut events) = echo_router(config(1000)).await;
    let (_stream, reply) = raw_handshake(addr, [0x7F, 0xF2, 0, 0]).await;
    assert_eq!(reply, [0x7F, 0x12, 0, 0]);
    assert!(matches!(
        next_event(&mut events).await,
        Event::Accepted {
            format: Format::MessagePack,
            kind: TransportKind::RawSocket
        }
    ));

    // Above 16 MiB, 16 MiB is announced.
    let (addr, _events) = echo_router(config(64 << 20)).await;
    let (_stream, reply) = raw_handshake(addr, [0x7F, 0x03, 0, 0]).await;
    assert_eq!(reply, [0x7F, 0xF3, 0, 0]);
}

#[tokio::test]
async fn rawsocket_unsupported_serializer_gets_error_1_and_close() {
    let (addr, mut events) = echo_router(config(1 << 16)).await;
    for serializer in [4u8, 5, 0, 9] {
        let (mut stream, reply) = raw_handshake(addr, [0x7F, 0xF0 | serializer, 0, 0]).await;
        assert_eq!(reply, [0x7F, 0x10, 0x00, 0x00], "serializer {serializer}");
        let mut rest = Vec::new();
        stream.read_to_end(&mut rest).await.unwrap();
        assert!(rest.is_empty(), "connection closed after the error reply");
        drop(stream);
        assert!(matches!(
            next_event(&mut events).await,
            Event::Refused(AcceptError::RawSocketRefused(
                HandshakeError::SerializerUnsupported
            ))
        ));
    }
    // Reserved octets set: error 3.
    let (_stream, reply) = raw_handshake(addr, [0x7F, 0xF1, 0, 1]).await;
    assert_eq!(reply, [0x7F, 0x30, 0, 0]);
    // A serializer left out of the configuration is unsupported too.
    let mut cfg = config(1 << 16);
    cfg.formats = vec![Format::Json];
    let (addr, _events) = echo_router(cfg).await;
    let (_stream, reply) = raw_handshake(addr, [0x7F, 0xF3, 0, 0]).await;
    assert_eq!(reply, [0x7F, 0x10, 0, 0]);
}

#[tokio::test]
async fn full_router_refuses_rawsocket_with_error_4_and_websocket_with_503() {
    let (addr, mut events) = echo_router(full(config(1 << 16))).await;
    let (stream, reply) = raw_handshake(addr, [0x7F, 0xF1, 0, 0]).await;
    assert_eq!(reply, [0x7F, 0x40, 0, 0]);
    drop(stream);
    assert!(matches!(
        next_event(&mut events).await,
        Event::Refused(AcceptError::RawSocketRefused(
            HandshakeError::MaxConnectionCountReached
        ))
    ));

    let response = http_exchange(addr, &upgrade_request("wamp.2.json")).await;
    assert!(response.starts_with("HTTP/1.1 503 "), "{response}");
    assert!(matches!(
        next_event(&mut events).await,
        Event::Refused(AcceptError::WebSocketRefused { status: 503, .. })
    ));

    let error = connect(
        &Endpoint::parse(&format!("rs://{addr}")).unwrap(),
        Format::Json,
        1024,
    )
    .await
    .unwrap_err();
    assert!(
        matches!(
            error,
            ConnectError::RawSocket(ReplyError::Rejected(
                HandshakeError::MaxConnectionCountReached
            ))
        ),
        "{error}"
    );
    let error = connect(
        &Endpoint::parse(&format!("ws://{addr}/ws")).unwrap(),
        Format::Json,
        1024,
    )
    .await
    .unwrap_err();
    assert!(
        matches!(error, ConnectError::Refused { status: 503 }),
        "{error}"
    );
}

#[tokio::test]
async fn client_rejects_a_router_that_does_not_echo_its_subprotocol_or_serializer() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        // First connection: a RawSocket "router" answering with the wrong serializer.
        let (mut stream, _) = listener.accept().await.unwrap();
        let mut request = [0u8; 4];
        stream.read_exact(&mut request).await.unwrap();
        stream.write_all(&[0x7F, 0xF2, 0, 0]).await.unwrap();
        // Second: a WebSocket "router" that upgrades without a subprotocol.
        let (mut stream, _) = listener.accept().await.unwrap();
        let mut buf = vec![0u8; 4096];
        let n = stream.read(&mut buf).await.unwrap();
        let request = String::from_utf8_lossy(&buf[..n]).to_string();
        let key = request
            .lines()
            .find_map(|l| {
                l.strip_prefix("sec-websocket-key: ")
                    .or_else(|| l.strip_prefix("Sec-WebSocket-Key: "))
            })
            .unwrap()
            .trim()
            .to_owned();
        let accept = sha1_accept(&key);
        let response = format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n"
        );
        stream.write_all(response.as_bytes()).await.unwrap();
        let _ = stream.read(&mut buf).await;
    });
    let error = connect(
        &Endpoint::parse(&format!("rs://{addr}")).unwrap(),
        Format::Json,
        1024,
    )
    .await
    .unwrap_err();
    assert!(
        matches!(
            error,
            ConnectError::RawSocket(ReplyError::SerializerMismatch { .. })
        ),
        "{error}"
    );
    let error = connect(
        &Endpoint::parse(&format!("ws://{addr}/ws")).unwrap(),
        Format::Json,
        1024,
    )
    .await
    .unwrap_err();
    assert!(
        matches!(
            error,
            ConnectError::SubprotocolMismatch {
                offered: "wamp.2.json",
                answered: None
            }
        ),
        "{error}"
    );
}

/// `Sec-WebSocket-Accept` computed the long way, independent of the crate.
fn sha1_accept(key: &str) -> String {
    use base64::Engine as _;
    use sha1::Digest as _;
    let mut sha = sha1::Sha1::new();
    sha.update(key.as_bytes());
    sha.update(b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11");
    base64::engine::general_purpose::STANDARD.encode(sha.finalize())
}

#[tokio::test]
async fn connecting_to_nothing_names_the_target() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let error = connect(
        &Endpoint::parse(&format!("rs://{addr}")).unwrap(),
        Format::Json,
        1024,
    )
    .await
    .unwrap_err();
    assert!(matches!(error, ConnectError::Connect { .. }), "{error}");
    assert!(error.to_string().contains(&addr.to_string()), "{error}");
}
