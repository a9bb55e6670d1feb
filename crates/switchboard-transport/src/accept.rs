//! Router side: turning an accepted stream into a WAMP [`Connection`].
//!
//! One port serves both transports. The first byte decides: `0x7F` starts a RawSocket
//! handshake (no HTTP request can start with it); anything else is HTTP/1.1, where a WebSocket
//! upgrade on the configured path becomes a WAMP connection and every other request is answered
//! and closed.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use http::header::{
    ALLOW, CONNECTION, CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue, RETRY_AFTER,
    SEC_WEBSOCKET_ACCEPT, SEC_WEBSOCKET_KEY, SEC_WEBSOCKET_PROTOCOL, SEC_WEBSOCKET_VERSION,
    UPGRADE,
};
use http::{Method, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::{TokioIo, TokioTimer};
use sha1::{Digest, Sha1};
use switchboard_proto::Format;
use switchboard_proto::rawsocket::MAGIC;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpStream, UnixStream};

use crate::Connection;
use crate::error::AcceptError;
use crate::io::{BoxedIo, Rewind};
use crate::rawsocket::{self, ServerHandshake};
use crate::websocket;

/// What the router accepts on a listener.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AcceptConfig {
    /// The HTTP path of the WebSocket endpoint, e.g. `/ws`.
    pub ws_path: String,
    /// The serializers offered. Their order does not matter: the client's order decides
    /// (first WebSocket subprotocol in its list that is also here; the one RawSocket
    /// serializer it asks for).
    pub formats: Vec<Format>,
    /// The longest message accepted, in bytes. A longer one fails the connection. RawSocket
    /// announces (and enforces) the smallest power of two at least this large, between 512 B
    /// and 16 MiB.
    pub max_message_size: usize,
    /// When set, new connections are refused: RawSocket with handshake error 4 (maximum
    /// connection count reached), WebSocket upgrades with HTTP 503.
    pub max_connections_reached: bool,
}

impl Default for AcceptConfig {
    /// `/ws`, all three serializers, 16 MiB messages, not full.
    fn default() -> AcceptConfig {
        AcceptConfig {
            ws_path: "/ws".to_owned(),
            formats: Format::ALL.to_vec(),
            max_message_size: 16 * 1024 * 1024,
            max_connections_reached: false,
        }
    }
}

/// Accepts one connection on an accepted TCP stream (see [`accept_stream`]).
///
/// Sets `TCP_NODELAY`: writes are already batched (one flush per batch), so Nagle's algorithm
/// would only add latency.
///
/// This does not time out by itself; wrap it in [`tokio::time::timeout`] to bound how long a
/// peer may take over its handshake (HTTP request headers are bounded to 30 s regardless).
pub async fn accept(stream: TcpStream, cfg: &AcceptConfig) -> Result<Connection, AcceptError> {
    // Best effort: a socket that refuses the option still works.
    let _ = stream.set_nodelay(true);
    let peer = stream.peer_addr().ok();
    accept_stream(stream, peer, cfg).await
}

/// Accepts one connection on an accepted Unix domain socket stream. Both RawSocket and
/// WebSocket work, exactly as on TCP (see [`accept_stream`]); `peer` is `None`.
pub async fn accept_unix(
    stream: UnixStream,
    cfg: &AcceptConfig,
) -> Result<Connection, AcceptError> {
    accept_stream(stream, None, cfg).await
}

/// Accepts one connection on any byte stream (TCP, Unix socket, or a TLS stream wrapping one).
///
/// Reads the first byte. `0x7F` is a RawSocket handshake: a supported serializer gets the
/// success reply (serializer echoed, our receive limit); anything else gets the error reply
/// and the connection is closed. Any other first byte is HTTP/1.1:
///
/// | Request | Answer |
/// |---|---|
/// | WebSocket upgrade on `ws_path` offering a supported subprotocol | 101, with the **first** subprotocol in the client's list that we support: a WAMP connection |
/// | the same, but no supported subprotocol offered | 400 with a text body naming what we support |
/// | the same, while `max_connections_reached` | 503 |
/// | `ws_path` without an upgrade | 426 (Upgrade Required) |
/// | `GET /` | 200, `Switchboard WAMP router` |
/// | anything else | 404 |
///
/// Returns `Err` for everything that did not become a WAMP connection, including requests
/// already answered ([`AcceptError::PlainHttp`], [`AcceptError::WebSocketRefused`],
/// [`AcceptError::RawSocketRefused`]).
pub async fn accept_stream<S>(
    mut stream: S,
    peer: Option<SocketAddr>,
    cfg: &AcceptConfig,
) -> Result<Connection, AcceptError>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let mut first = [0u8; 1];
    if stream.read(&mut first).await? == 0 {
        return Err(AcceptError::ClosedBeforeHandshake);
    }
    if first[0] == MAGIC {
        accept_rawsocket(stream, peer, cfg).await
    } else {
        accept_http(Rewind::new(first[0], stream), peer, cfg).await
    }
}

// ---------------------------------------------------------------------------------------------
// RawSocket
// ---------------------------------------------------------------------------------------------

/// How long a refused RawSocket client gets to read the error reply and hang up.
const REFUSAL_LINGER: Duration = Duration::from_secs(1);

async fn accept_rawsocket<S>(
    mut stream: S,
    peer: Option<SocketAddr>,
    cfg: &AcceptConfig,
) -> Result<Connection, AcceptError>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let mut rest = [0u8; 3];
    stream.read_exact(&mut rest).await?;
    let [b1, b2, b3] = rest;
    let request = [MAGIC, b1, b2, b3];
    match rawsocket::answer_handshake(
        request,
        &cfg.formats,
        cfg.max_message_size,
        cfg.max_connections_reached,
    ) {
        ServerHandshake::Accept {
            format,
            reply,
            recv_max,
            peer_max,
        } => {
            stream.write_all(&reply).await?;
            stream.flush().await?;
            tracing::debug!(?peer, %format, recv_max = recv_max.bytes(), peer_max = peer_max.bytes(), "RawSocket connection accepted");
            let io: BoxedIo = Box::new(stream);
            Ok(rawsocket::connection(io, format, recv_max, peer_max, peer))
        }
        ServerHandshake::Refuse(error) => {
            tracing::debug!(?peer, request = ?request, %error, "RawSocket handshake refused");
            stream.write_all(&error.encode_reply()).await?;
            stream.flush().await?;
            linger_close(stream).await;
            Err(AcceptError::RawSocketRefused(error))
        }
    }
}

/// Shuts the write side down and discards what the peer still sends for a moment, so that
/// closing does not reset the connection (which could destroy the reply before it is read).
async fn linger_close<S: AsyncRead + AsyncWrite + Unpin>(mut stream: S) {
    if stream.shutdown().await.is_err() {
        return;
    }
    let drain = async {
        let mut sink = [0u8; 1024];
        let mut total = 0usize;
        while total < 64 * 1024 {
            match stream.read(&mut sink).await {
                Ok(0) | Err(_) => break,
                Ok(n) => total += n,
            }
        }
    };
    let _ = tokio::time::timeout(REFUSAL_LINGER, drain).await;
}

// ---------------------------------------------------------------------------------------------
// HTTP and the WebSocket upgrade
// ---------------------------------------------------------------------------------------------

/// Limit for the HTTP request head.
const MAX_HTTP_BUF: usize = 64 * 1024;

/// Time a client has to send its request headers.
const HEADER_TIMEOUT: Duration = Duration::from_secs(30);

/// The body of `GET /`.
const ROOT_BODY: &str = "Switchboard WAMP router\n";

/// The RFC 6455 GUID appended to `Sec-WebSocket-Key`.
const WS_GUID: &[u8] = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// `Sec-WebSocket-Accept` for a `Sec-WebSocket-Key`.
pub(crate) fn accept_key(key: &[u8]) -> String {
    let mut sha = Sha1::new();
    sha.update(key);
    sha.update(WS_GUID);
    STANDARD.encode(sha.finalize())
}

/// What the single HTTP request turned into.
#[derive(Default)]
struct HttpOutcome {
    upgrade: Option<(OnUpgrade, Format)>,
    status: Option<StatusCode>,
    /// Set when a WebSocket upgrade was refused: why.
    refusal: Option<String>,
    path: String,
}

async fn accept_http<S>(
    io: Rewind<S>,
    peer: Option<SocketAddr>,
    cfg: &AcceptConfig,
) -> Result<Connection, AcceptError>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let outcome = Mutex::new(HttpOutcome::default());
    let service = service_fn(|mut request: Request<Incoming>| {
        let mut outcome = outcome.lock().unwrap_or_else(PoisonError::into_inner);
        let response = respond(&mut request, cfg, &mut outcome);
        outcome.status = Some(response.status());
        std::future::ready(Ok::<_, Infallible>(response))
    });
    let mut builder = http1::Builder::new();
    builder
        .max_buf_size(MAX_HTTP_BUF)
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT);
    builder
        .serve_connection(TokioIo::new(io), service)
        .with_upgrades()
        .await
        .map_err(|error| AcceptError::Http(Box::new(error)))?;

    let outcome = outcome.into_inner().unwrap_or_else(PoisonError::into_inner);
    let Some(status) = outcome.status else {
        return Err(AcceptError::Http(
            "connection closed before a complete request".into(),
        ));
    };
    let Some((on_upgrade, format)) = outcome.upgrade else {
        tracing::debug!(?peer, path = %outcome.path, status = status.as_u16(), "answered HTTP request");
        return Err(match outcome.refusal {
            Some(reason) => AcceptError::WebSocketRefused {
                status: status.as_u16(),
                reason,
            },
            None => AcceptError::PlainHttp {
                status: status.as_u16(),
                path: outcome.path,
            },
        });
    };
    let upgraded = on_upgrade
        .await
        .map_err(|error| AcceptError::Upgrade(Box::new(error)))?;
    tracing::debug!(?peer, %format, "WebSocket connection accepted");
    let io: BoxedIo = Box::new(TokioIo::new(upgraded));
    let ws = tokio_websockets::ServerBuilder::new()
        .config(websocket::config())
        .limits(websocket::limits(cfg.max_message_size))
        .serve(io);
    Ok(websocket::connection(
        ws,
        format,
        cfg.max_message_size,
        peer,
    ))
}

/// Whether any comma-separated element of any `name` header equals `token`, ignoring case.
fn has_token(headers: &HeaderMap, name: HeaderName, token: &str) -> bool {
    headers
        .get_all(name)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .any(|item| item.trim().eq_ignore_ascii_case(token))
}

/// The subprotocols a client offers, in its order.
fn offered_subprotocols(headers: &HeaderMap) -> Vec<&str> {
    headers
        .get_all(SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(str::trim)
        .filter(|item| !item.is_empty())
        .collect()
}

/// The first offered subprotocol we support, in the client's order.
fn choose_format(offered: &[&str], supported: &[Format]) -> Option<Format> {
    offered
        .iter()
        .filter_map(|name| Format::from_subprotocol(name))
        .find(|format| supported.contains(format))
}

fn supported_list(formats: &[Format]) -> String {
    let names: Vec<&str> = formats.iter().map(|f| f.subprotocol()).collect();
    names.join(", ")
}

fn text(status: StatusCode, body: impl Into<Bytes>) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(body.into()));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    // One request per connection: anything but a 101 ends it. (Disabling keep-alive in hyper
    // instead would also add "close" to the 101's Connection header.)
    headers.insert(CONNECTION, HeaderValue::from_static("close"));
    response
}

/// Answers an upgrade request with an error, remembering why.
fn refuse(outcome: &mut HttpOutcome, status: StatusCode, reason: String) -> Response<Full<Bytes>> {
    let response = text(status, format!("{reason}\n"));
    outcome.refusal = Some(reason);
    response
}

/// Chooses the response to the connection's one HTTP request.
fn respond(
    request: &mut Request<Incoming>,
    cfg: &AcceptConfig,
    outcome: &mut HttpOutcome,
) -> Response<Full<Bytes>> {
    let path = request.uri().path().to_owned();
    outcome.path.clone_from(&path);
    let headers = request.headers();
    let wants_websocket = has_token(headers, UPGRADE, "websocket");

    if wants_websocket && path == cfg.ws_path {
        return upgrade(request, cfg, outcome);
    }
    if path == "/" {
        if request.method() == Method::GET || request.method() == Method::HEAD {
            return text(StatusCode::OK, ROOT_BODY);
        }
        let mut response = text(StatusCode::METHOD_NOT_ALLOWED, "Method Not Allowed\n");
        response
            .headers_mut()
            .insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
        return response;
    }
    if path == cfg.ws_path {
        let mut response = text(
            StatusCode::UPGRADE_REQUIRED,
            format!(
                "This is a WAMP WebSocket endpoint: connect with a WebSocket client offering one of: {}\n",
                supported_list(&cfg.formats)
            ),
        );
        response
            .headers_mut()
            .insert(UPGRADE, HeaderValue::from_static("websocket"));
        return response;
    }
    if wants_websocket {
        return refuse(
            outcome,
            StatusCode::NOT_FOUND,
            format!(
                "No WebSocket endpoint here; WAMP is served at {}",
                cfg.ws_path
            ),
        );
    }
    text(StatusCode::NOT_FOUND, "Not Found\n")
}

/// Validates a WebSocket upgrade request on the WAMP path and answers 101 or an error.
fn upgrade(
    request: &mut Request<Incoming>,
    cfg: &AcceptConfig,
    outcome: &mut HttpOutcome,
) -> Response<Full<Bytes>> {
    if cfg.max_connections_reached {
        let mut response = refuse(
            outcome,
            StatusCode::SERVICE_UNAVAILABLE,
            "Connection limit reached; try again later".to_owned(),
        );
        response
            .headers_mut()
            .insert(RETRY_AFTER, HeaderValue::from_static("5"));
        return response;
    }
    if request.method() != Method::GET {
        return refuse(
            outcome,
            StatusCode::METHOD_NOT_ALLOWED,
            "A WebSocket upgrade must use GET".to_owned(),
        );
    }
    let headers = request.headers();
    if !has_token(headers, CONNECTION, "upgrade") {
        return refuse(
            outcome,
            StatusCode::BAD_REQUEST,
            "WebSocket upgrade without \"Connection: Upgrade\"".to_owned(),
        );
    }
    if headers
        .get(SEC_WEBSOCKET_VERSION)
        .is_none_or(|v| v.as_bytes() != b"13")
    {
        let mut response = refuse(
            outcome,
            StatusCode::UPGRADE_REQUIRED,
            "Unsupported WebSocket version; this server speaks version 13".to_owned(),
        );
        response
            .headers_mut()
            .insert(SEC_WEBSOCKET_VERSION, HeaderValue::from_static("13"));
        return response;
    }
    let key_ok = headers.get(SEC_WEBSOCKET_KEY).is_some_and(|key| {
        STANDARD
            .decode(key.as_bytes())
            .is_ok_and(|nonce| nonce.len() == 16)
    });
    let Some(key) = headers.get(SEC_WEBSOCKET_KEY).filter(|_| key_ok) else {
        return refuse(
            outcome,
            StatusCode::BAD_REQUEST,
            "Missing or malformed Sec-WebSocket-Key".to_owned(),
        );
    };
    let offered = offered_subprotocols(headers);
    let Some(format) = choose_format(&offered, &cfg.formats) else {
        let reason = if offered.is_empty() {
            format!(
                "No WebSocket subprotocol offered; WAMP requires one of: {}",
                supported_list(&cfg.formats)
            )
        } else {
            format!(
                "No supported WAMP subprotocol offered (offered: {}); this router supports: {}",
                offered.join(", "),
                supported_list(&cfg.formats)
            )
        };
        return refuse(outcome, StatusCode::BAD_REQUEST, reason);
    };
    let Ok(accept) = HeaderValue::from_str(&accept_key(key.as_bytes())) else {
        // Base64 is always a valid header value; answer sanely all the same.
        return text(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error\n");
    };

    let mut response = Response::new(Full::new(Bytes::new()));
    *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let h = response.headers_mut();
    h.insert(UPGRADE, HeaderValue::from_static("websocket"));
    h.insert(CONNECTION, HeaderValue::from_static("Upgrade"));
    h.insert(SEC_WEBSOCKET_ACCEPT, accept);
    h.insert(
        SEC_WEBSOCKET_PROTOCOL,
        HeaderValue::from_static(format.subprotocol()),
    );
    outcome.upgrade = Some((hyper::upgrade::on(request), format));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_key_matches_rfc_6455_example() {
        assert_eq!(
            accept_key(b"dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }

    #[test]
    fn subprotocol_choice_follows_client_order() {
        let all = Format::ALL;
        assert_eq!(
            choose_format(&["wamp.2.json", "wamp.2.cbor"], &all),
            Some(Format::Json)
        );
        assert_eq!(
            choose_format(
                &["wamp.2.cbor.batched", "wamp.2.msgpack", "wamp.2.json"],
                &all
            ),
            Some(Format::MessagePack)
        );
        assert_eq!(
            choose_format(&["wamp.2.json", "wamp.2.cbor"], &[Format::Cbor]),
            Some(Format::Cbor)
        );
        assert_eq!(choose_format(&["wamp.2.ubjson"], &all), None);
        assert_eq!(choose_format(&[], &all), None);
    }

    #[test]
    fn offered_subprotocols_span_headers_and_commas() {
        let mut headers = HeaderMap::new();
        headers.append(
            SEC_WEBSOCKET_PROTOCOL,
            HeaderValue::from_static("wamp.2.cbor.batched , wamp.2.cbor"),
        );
        headers.append(
            SEC_WEBSOCKET_PROTOCOL,
            HeaderValue::from_static("wamp.2.json,"),
        );
        assert_eq!(
            offered_subprotocols(&headers),
            ["wamp.2.cbor.batched", "wamp.2.cbor", "wamp.2.json"]
        );
    }

    #[test]
    fn connection_header_tokens_are_case_insensitive() {
        let mut headers = HeaderMap::new();
        headers.insert(CONNECTION, HeaderValue::from_static("keep-alive, UPGRADE"));
        assert!(has_token(&headers, CONNECTION, "upgrade"));
        assert!(!has_token(&headers, UPGRADE, "websocket"));
    }
}
