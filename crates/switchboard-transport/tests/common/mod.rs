//! Helpers shared by the integration tests: an echo router on 127.0.0.1:0 and hand-written
//! wire exchanges.
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code)]

use std::net::SocketAddr;

use bytes::Bytes;
use switchboard_transport::{
    AcceptConfig, AcceptError, Connection, Format, TransportError, TransportKind, accept,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

/// What the test router saw on one connection.
#[derive(Debug)]
pub enum Event {
    Accepted { format: Format, kind: TransportKind },
    Refused(AcceptError),
    ReadError(TransportError),
    Closed,
}

/// Number of frames the router sends back, in one batch, for a message starting with `batch`.
pub const BATCH: usize = 100;

/// The frames of a batch, all ASCII so they are valid text for JSON too.
pub fn batch_frames() -> Vec<Bytes> {
    (0..BATCH)
        .map(|i| Bytes::from(format!("[36,{i},\"frame number {i}\"]")))
        .collect()
}

/// Serves one accepted connection: echoes every message, or answers `batch...` with
/// [`batch_frames`] sent through one `send_batch`.
pub async fn serve(mut conn: Connection, events: mpsc::UnboundedSender<Event>) {
    let _ = events.send(Event::Accepted {
        format: conn.format,
        kind: conn.kind,
    });
    loop {
        match conn.reader.next().await {
            Some(Ok(message)) if message.starts_with(b"batch") => {
                let mut frames = batch_frames();
                conn.writer.send_batch(&mut frames).await.unwrap();
                assert!(frames.is_empty(), "send_batch clears the vec");
            }
            Some(Ok(message)) => {
                if conn.writer.send(message).await.is_err() {
                    return;
                }
            }
            Some(Err(error)) => {
                let _ = events.send(Event::ReadError(error));
                return;
            }
            None => {
                let _ = events.send(Event::Closed);
                return;
            }
        }
    }
}

/// Starts an echo router on 127.0.0.1:0; returns its address and the stream of events from
/// every connection.
pub async fn echo_router(cfg: AcceptConfig) -> (SocketAddr, mpsc::UnboundedReceiver<Event>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let cfg = cfg.clone();
            let tx = tx.clone();
            tokio::spawn(async move {
                match accept(stream, &cfg).await {
                    Ok(conn) => serve(conn, tx).await,
                    Err(error) => {
                        let _ = tx.send(Event::Refused(error));
                    }
                }
            });
        }
    });
    (addr, rx)
}

/// Accepts `/ws`, all formats, `max` bytes.
pub fn config(max: usize) -> AcceptConfig {
    AcceptConfig {
        ws_path: "/ws".into(),
        formats: Format::ALL.to_vec(),
        max_message_size: max,
        max_connections_reached: false,
    }
}

/// Reads an HTTP response head (through the blank line).
pub async fn read_head(stream: &mut TcpStream) -> String {
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8; 1];
        if stream.read(&mut byte).await.unwrap() == 0 {
            break;
        }
        head.push(byte[0]);
    }
    String::from_utf8(head).unwrap()
}

/// Sends a hand-written HTTP request and reads the whole response (the router closes the
/// connection after any response that is not a 101).
pub async fn http_exchange(addr: SocketAddr, request: &str) -> String {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.unwrap();
    String::from_utf8(response).unwrap()
}

/// A WebSocket upgrade request for `/ws` offering `protocols`.
pub fn upgrade_request(protocols: &str) -> String {
    format!(
        "GET /ws HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
         Sec-WebSocket-Protocol: {protocols}\r\n\r\n"
    )
}

/// Opens a TCP connection and sends a hand-written RawSocket handshake.
pub async fn raw_handshake(addr: SocketAddr, handshake: [u8; 4]) -> (TcpStream, [u8; 4]) {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(&handshake).await.unwrap();
    let mut reply = [0u8; 4];
    stream.read_exact(&mut reply).await.unwrap();
    (stream, reply)
}

/// Reads one RawSocket frame: `(type, payload)`.
pub async fn read_raw_frame(stream: &mut TcpStream) -> (u8, Vec<u8>) {
    let mut header = [0u8; 4];
    stream.read_exact(&mut header).await.unwrap();
    let len = u32::from_be_bytes([header[0] >> 3 & 1, header[1], header[2], header[3]]);
    let mut payload = vec![0u8; len as usize];
    stream.read_exact(&mut payload).await.unwrap();
    (header[0] & 0x07, payload)
}

/// Writes one RawSocket frame of type `kind`.
pub async fn write_raw_frame(stream: &mut TcpStream, kind: u8, payload: &[u8]) {
    let len = u32::try_from(payload.len()).unwrap();
    let [_, l2, l1, l0] = len.to_be_bytes();
    stream.write_all(&[kind, l2, l1, l0]).await.unwrap();
    stream.write_all(payload).await.unwrap();
}

/// The next event, which must come.
pub async fn next_event(events: &mut mpsc::UnboundedReceiver<Event>) -> Event {
    events.recv().await.expect("router task ended")
}
