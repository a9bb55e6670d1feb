//! Tokio IO shared by the Switchboard router and client: WAMP over WebSocket and RawSocket,
//! on TCP and Unix sockets.
//!
//! The router side calls [`accept`] on each accepted stream: one port serves RawSocket (first
//! byte `0x7F`) and HTTP/1.1 (WebSocket upgrade on the configured path, a short text page on
//! `/`). The client side calls [`connect`] with an [`Endpoint`]. Both give a [`Connection`]:
//! the negotiated [`Format`] and a [`FrameReader`] / [`FrameWriter`] pair that may live in
//! different tasks. One item is one serialized WAMP message; pings, pongs and close frames are
//! handled inside.
//!
//! ```
//! use bytes::Bytes;
//! use switchboard_proto::Format;
//! use switchboard_transport::{AcceptConfig, Endpoint, accept, connect};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! let port = listener.local_addr()?.port();
//!
//! // Router: accept one connection and echo every message.
//! tokio::spawn(async move {
//!     let (stream, _) = listener.accept().await?;
//!     let mut conn = accept(stream, &AcceptConfig::default()).await?;
//!     while let Some(Ok(message)) = conn.reader.next().await {
//!         conn.writer.send(message).await?;
//!     }
//!     Ok::<_, Box<dyn std::error::Error + Send + Sync>>(())
//! });
//!
//! // Client, over WebSocket with JSON.
//! let endpoint: Endpoint = format!("ws://127.0.0.1:{port}/ws").parse()?;
//! let mut conn = connect(&endpoint, Format::Json, 1 << 20).await?;
//! conn.writer.send(Bytes::from_static(b"[1,\"realm1\",{}]")).await?;
//! let echoed = conn.reader.next().await.ok_or("closed")??;
//! assert_eq!(&echoed[..], b"[1,\"realm1\",{}]");
//! conn.writer.close().await?;
//! # Ok(())
//! # }
//! ```
//!
//! Needs a Tokio runtime with the time driver enabled (`enable_all`, or `#[tokio::main]`):
//! failing connections and HTTP request headers are bounded by timers.
//!
//! TLS (rustls, ring provider) is in [`tls`]: [`tls::accept_tls`] on the router side; `wss://`
//! and `rss://` endpoints on the client side ([`connect`], [`connect_with_tls`]). Everything is
//! generic over `AsyncRead + AsyncWrite + Unpin + Send` streams ([`accept_stream`],
//! [`connect_websocket_stream`], [`connect_rawsocket_stream`]).

mod accept;
mod connect;
mod error;
mod io;
mod rawsocket;
pub mod tls;
mod websocket;

use std::fmt;
use std::future::poll_fn;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
pub use switchboard_proto::Format;

pub use accept::{AcceptConfig, accept, accept_stream, accept_unix};
pub use connect::{
    Endpoint, connect, connect_rawsocket_stream, connect_websocket_stream, connect_with_tls,
};
pub use error::{AcceptError, BoxError, ConnectError, EndpointError, TransportError};

/// The transport a connection runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TransportKind {
    /// WebSocket (one WAMP message per WebSocket message).
    WebSocket,
    /// RawSocket (one WAMP message per frame).
    RawSocket,
}

impl fmt::Display for TransportKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TransportKind::WebSocket => "websocket",
            TransportKind::RawSocket => "rawsocket",
        })
    }
}

/// An established WAMP transport connection, after the handshake.
#[derive(Debug)]
pub struct Connection {
    /// The negotiated serializer.
    pub format: Format,
    /// WebSocket or RawSocket.
    pub kind: TransportKind,
    /// The peer's address (`None` on Unix sockets).
    pub peer: Option<SocketAddr>,
    /// The receiving half.
    pub reader: FrameReader,
    /// The sending half.
    pub writer: FrameWriter,
}

/// The receiving half of a [`Connection`]: one serialized WAMP message per item.
///
/// PINGs are answered here (RawSocket PONGs go out at once, even while the [`FrameWriter`]
/// sits idle in another task), as are WebSocket close frames.
#[derive(Debug)]
pub struct FrameReader {
    inner: ReaderInner,
}

#[derive(Debug)]
enum ReaderInner {
    Ws(websocket::WsReader),
    Raw(rawsocket::RawReader),
}

impl FrameReader {
    fn ws(reader: websocket::WsReader) -> FrameReader {
        FrameReader {
            inner: ReaderInner::Ws(reader),
        }
    }

    fn raw(reader: rawsocket::RawReader) -> FrameReader {
        FrameReader {
            inner: ReaderInner::Raw(reader),
        }
    }

    /// The next message.
    ///
    /// `None` when the connection ended cleanly (WebSocket: close frame 1000/1001 or without a
    /// code, or the end of the stream after our own close frame; RawSocket: end of stream
    /// between frames). `Some(Err(_))` means the connection failed (too large, wrong frame
    /// type, protocol violation, abnormal close by the peer, end of stream without a WebSocket
    /// close frame, I/O error); later calls return `None`. Errors that are the peer's fault are answered before
    /// being returned: WebSocket with the matching close code (1009 too large, 1003 wrong
    /// frame type, 1002/1007 protocol), RawSocket by shutting the connection down.
    ///
    /// Cancel-safe: dropping the future loses no message.
    pub async fn next(&mut self) -> Option<Result<Bytes, TransportError>> {
        poll_fn(|cx| self.poll_next_message(cx)).await
    }

    /// Poll form of [`FrameReader::next`].
    pub fn poll_next_message(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Bytes, TransportError>>> {
        match &mut self.inner {
            ReaderInner::Ws(reader) => reader.poll_next(cx),
            ReaderInner::Raw(reader) => reader.poll_next(cx),
        }
    }

    /// How many frames arrived so far, control frames (PING, PONG) included: a keepalive sees
    /// from it whether the peer answered a [`FrameWriter::ping`].
    pub fn frames_received(&self) -> u64 {
        match &self.inner {
            ReaderInner::Ws(reader) => reader.received(),
            ReaderInner::Raw(reader) => reader.received(),
        }
    }

    /// The longest message this side accepts, in bytes (for RawSocket, the limit announced in
    /// the handshake).
    pub fn max_message_size(&self) -> usize {
        match &self.inner {
            ReaderInner::Ws(reader) => reader.max_len(),
            ReaderInner::Raw(reader) => reader.max_len(),
        }
    }
}

impl futures_util::Stream for FrameReader {
    type Item = Result<Bytes, TransportError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut().poll_next_message(cx)
    }
}

/// The sending half of a [`Connection`].
#[derive(Debug)]
pub struct FrameWriter {
    inner: WriterInner,
}

#[derive(Debug)]
enum WriterInner {
    Ws(websocket::WsWriter),
    Raw(rawsocket::RawWriter),
}

impl FrameWriter {
    fn ws(writer: websocket::WsWriter) -> FrameWriter {
        FrameWriter {
            inner: WriterInner::Ws(writer),
        }
    }

    fn raw(writer: rawsocket::RawWriter) -> FrameWriter {
        FrameWriter {
            inner: WriterInner::Raw(writer),
        }
    }

    /// Sends every frame in `frames`, in order, with a single flush at the end (the writer
    /// drains its queue into one batch; ARCHITECTURE.md decision 6).
    ///
    /// Each frame is one serialized WAMP message: a text message for JSON, a binary one for
    /// MessagePack and CBOR (JSON frames must be valid UTF-8; they are not checked here).
    ///
    /// `frames` is empty afterwards, except on [`TransportError::OutgoingTooLarge`] (RawSocket:
    /// a frame over the peer's announced limit), where nothing was sent, `frames` is left as it
    /// was and the connection stays usable; check [`FrameWriter::peer_max_message_size`] before
    /// queueing to avoid it. Any other error means the connection is broken.
    ///
    /// Not cancel-safe: if the future is dropped, some of the frames may already be queued or
    /// sent (queued ones go out with the next flush).
    pub async fn send_batch(&mut self, frames: &mut Vec<Bytes>) -> Result<(), TransportError> {
        match &mut self.inner {
            WriterInner::Ws(writer) => writer.send_batch(frames).await,
            WriterInner::Raw(writer) => writer.send_batch(frames).await,
        }
    }

    /// Sends a keepalive PING (WebSocket PING, RawSocket PING frame) and flushes. The peer's
    /// PONG shows in [`FrameReader::frames_received`].
    pub async fn ping(&mut self, payload: Bytes) -> Result<(), TransportError> {
        match &mut self.inner {
            WriterInner::Ws(writer) => writer.ping(payload).await,
            WriterInner::Raw(writer) => writer.ping(payload).await,
        }
    }

    /// Sends one frame and flushes.
    pub async fn send(&mut self, frame: Bytes) -> Result<(), TransportError> {
        match &mut self.inner {
            WriterInner::Ws(writer) => writer.send(frame).await,
            WriterInner::Raw(writer) => writer.send(frame).await,
        }
    }

    /// Closes the connection: WebSocket sends close frame 1000 and flushes; both then shut the
    /// stream's write side down. The [`FrameReader`] sees the end of the connection once the
    /// peer closes its side too.
    pub async fn close(&mut self) -> Result<(), TransportError> {
        match &mut self.inner {
            WriterInner::Ws(writer) => writer.close().await,
            WriterInner::Raw(writer) => writer.close().await,
        }
    }

    /// The longest message the peer accepts, if it announced one (RawSocket); `None` for
    /// WebSocket, which has no such announcement.
    pub fn peer_max_message_size(&self) -> Option<usize> {
        match &self.inner {
            WriterInner::Ws(_) => None,
            WriterInner::Raw(writer) => Some(writer.peer_max()),
        }
    }
}
