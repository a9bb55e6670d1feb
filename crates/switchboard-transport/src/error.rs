//! Error types: one enum per operation (accepting, connecting, exchanging frames, parsing an
//! endpoint).

use std::io;

use switchboard_proto::Format;
use switchboard_proto::rawsocket::{FrameError, HandshakeError, ReplyError};

/// A boxed error from a dependency (hyper, tokio-websockets) whose type is not part of this
/// crate's API.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Why an accepted stream did not become a WAMP connection.
///
/// Several of these are normal outcomes rather than faults: a browser asking for `GET /`, a
/// client offering no WAMP subprotocol, or a refusal because the router is full. In each of
/// those the peer has already been answered (HTTP response or RawSocket error reply).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AcceptError {
    /// Reading or writing the opening handshake failed.
    #[error("I/O error during the connection handshake: {0}")]
    Io(#[from] io::Error),
    /// The peer closed the connection before sending a single byte.
    #[error("peer closed the connection before sending a handshake")]
    ClosedBeforeHandshake,
    /// A RawSocket handshake was refused with the given error reply, which was sent.
    #[error("refused the RawSocket handshake: {0}")]
    RawSocketRefused(HandshakeError),
    /// A WebSocket upgrade request was refused with an HTTP error, which was sent.
    #[error("refused the WebSocket upgrade with HTTP {status}: {reason}")]
    WebSocketRefused {
        /// The HTTP status sent (400, 405, 426, 503, ...).
        status: u16,
        /// Why, as also sent in the response body.
        reason: String,
    },
    /// A plain HTTP request (no WebSocket upgrade) was answered; it is not a WAMP connection.
    #[error("answered a plain HTTP request for {path} with HTTP {status}")]
    PlainHttp {
        /// The HTTP status sent (200 for `/`, 404 elsewhere, ...).
        status: u16,
        /// The request path.
        path: String,
    },
    /// The HTTP exchange failed before a response could be chosen (malformed request, header
    /// timeout, connection closed mid-request, ...).
    #[error("HTTP error before a WebSocket upgrade: {0}")]
    Http(#[source] BoxError),
    /// The 101 response was sent but taking over the upgraded connection failed.
    #[error("WebSocket upgrade failed after the 101 response: {0}")]
    Upgrade(#[source] BoxError),
    /// The TLS handshake failed (no common version or cipher, not TLS at all, ...).
    #[error("TLS handshake failed: {0}")]
    Tls(#[source] io::Error),
}

/// An error while exchanging frames on an established connection.
///
/// Unless stated otherwise, an error from [`FrameReader::next`](crate::FrameReader::next) means
/// the connection has failed: the reader returns `None` afterwards and the writer fails with
/// [`TransportError::Closed`] (or an I/O error).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TransportError {
    /// Reading or writing the socket failed.
    #[error("I/O error on the transport: {0}")]
    Io(#[from] io::Error),
    /// The peer sent a message longer than this side's limit. The connection was failed
    /// (WebSocket close code 1009; RawSocket connection shut down).
    #[error("received a message of {len} bytes, over the limit of {max} bytes")]
    TooLarge {
        /// The announced length of the message (or of its first frame).
        len: usize,
        /// The receive limit.
        max: usize,
    },
    /// A frame to send is longer than the peer accepts (RawSocket: the limit from the peer's
    /// handshake). Nothing was sent and the connection is still usable.
    #[error("cannot send a message of {len} bytes: the peer accepts at most {max} bytes")]
    OutgoingTooLarge {
        /// The length of the rejected frame.
        len: usize,
        /// The peer's limit.
        max: usize,
    },
    /// A WebSocket data frame of the wrong type for the negotiated serializer: JSON travels in
    /// text frames, MessagePack and CBOR in binary frames. The connection was failed (close
    /// code 1003).
    #[error("received a WebSocket {got} message, but {format} requires {expected} messages")]
    WrongFrameType {
        /// The negotiated serializer.
        format: Format,
        /// `"text"` or `"binary"`: what arrived.
        got: &'static str,
        /// `"text"` or `"binary"`: what the serializer requires.
        expected: &'static str,
    },
    /// The peer violated the WebSocket protocol (bad framing, invalid UTF-8 in a text message,
    /// invalid close code, ...). The connection was failed with the matching close code.
    #[error("WebSocket protocol error: {0}")]
    WebSocket(#[source] BoxError),
    /// The peer sent an invalid RawSocket frame header. The connection was failed.
    #[error("invalid RawSocket frame: {0}")]
    RawSocket(#[source] FrameError),
    /// The peer closed the WebSocket with a close code other than 1000 (normal), 1001 (going
    /// away) or none.
    #[error("peer closed the WebSocket with code {code}: {reason:?}")]
    ClosedByPeer {
        /// The close code.
        code: u16,
        /// The close reason (may be empty).
        reason: String,
    },
    /// The peer ended the connection abruptly: in the middle of a RawSocket frame, or without
    /// a WebSocket close frame (what RFC 6455 calls abnormal closure, 1006).
    #[error("peer ended the connection abruptly (mid-frame, or without a WebSocket close frame)")]
    UnexpectedEof,
    /// The connection is already closed (by [`FrameWriter::close`](crate::FrameWriter::close)
    /// or because it failed).
    #[error("the connection is closed")]
    Closed,
}

/// Why [`connect`](crate::connect) did not produce a WAMP connection.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectError {
    /// The endpoint is valid but this build cannot reach it yet (e.g. `wss://`: TLS is not
    /// implemented).
    #[error("unsupported endpoint: {0}")]
    Unsupported(&'static str),
    /// The endpoint could not be parsed.
    #[error(transparent)]
    InvalidEndpoint(#[from] EndpointError),
    /// Opening the TCP or Unix socket failed.
    #[error("could not connect to {target}: {source}")]
    Connect {
        /// The address or path connected to.
        target: String,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// Reading or writing the opening handshake failed.
    #[error("I/O error during the connection handshake: {0}")]
    Io(#[from] io::Error),
    /// The TLS handshake failed (certificate not trusted or not for this host, ...).
    #[error("TLS handshake failed: {0}")]
    Tls(#[source] io::Error),
    /// The server answered the WebSocket upgrade with an HTTP status other than 101 (400 for
    /// no acceptable subprotocol, 503 when full, 404 for a wrong path, ...).
    #[error("server refused the WebSocket upgrade with HTTP {status}")]
    Refused {
        /// The HTTP status code.
        status: u16,
    },
    /// The WebSocket handshake failed (malformed response, wrong `Sec-WebSocket-Accept`, ...).
    #[error("WebSocket handshake failed: {0}")]
    WebSocket(#[source] BoxError),
    /// The server accepted the upgrade without echoing the one subprotocol offered.
    #[error("server did not select the offered subprotocol {offered} (it answered {answered:?})")]
    SubprotocolMismatch {
        /// The subprotocol offered.
        offered: &'static str,
        /// What the server's `Sec-WebSocket-Protocol` header said, if present.
        answered: Option<String>,
    },
    /// The RawSocket handshake failed: the router refused (e.g. serializer unsupported,
    /// connection limit reached), answered garbage, or did not echo the serializer.
    #[error(transparent)]
    RawSocket(#[from] ReplyError),
}

/// A string that is not a valid [`Endpoint`](crate::Endpoint).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid endpoint {endpoint:?}: {reason}")]
#[non_exhaustive]
pub struct EndpointError {
    /// The string given.
    pub endpoint: String,
    /// What is wrong with it.
    pub reason: &'static str,
}

impl EndpointError {
    pub(crate) fn new(endpoint: &str, reason: &'static str) -> EndpointError {
        EndpointError {
            endpoint: endpoint.to_owned(),
            reason,
        }
    }
}
