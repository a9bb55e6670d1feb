//! Client side: endpoints and [`connect`].

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;

use http::Uri;
use http::header::{HeaderValue, SEC_WEBSOCKET_PROTOCOL};
use switchboard_proto::Format;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpStream, UnixStream};

use crate::error::{ConnectError, EndpointError};
use crate::io::BoxedIo;
use crate::{Connection, rawsocket, websocket};

/// Where a client connects to.
///
/// Parsed from a string with [`Endpoint::parse`] (or [`str::parse`]):
///
/// | String | Endpoint |
/// |---|---|
/// | `ws://host:port/path` | WebSocket (port defaults to 80, path to `/`) |
/// | `wss://host:port/path` | WebSocket over TLS (port defaults to 443) |
/// | `rs://host:port`, `tcp://host:port` | RawSocket over TCP (port required) |
/// | `rss://host:port` | RawSocket over TLS (port required) |
/// | `unix:///path/to/socket` | RawSocket over a Unix domain socket |
///
/// ```
/// use switchboard_transport::Endpoint;
///
/// let ep: Endpoint = "rs://127.0.0.1:8081".parse()?;
/// assert_eq!(ep, Endpoint::RawSocketTcp { host: "127.0.0.1".into(), port: 8081 });
/// assert_eq!(ep.to_string(), "rs://127.0.0.1:8081");
/// # Ok::<(), switchboard_transport::EndpointError>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Endpoint {
    /// A WebSocket URL, `ws://` or `wss://`.
    WebSocket {
        /// The URL as given.
        url: String,
    },
    /// RawSocket over TCP.
    RawSocketTcp {
        /// Host name or IP address (IPv6 without brackets).
        host: String,
        /// TCP port.
        port: u16,
    },
    /// RawSocket over TLS over TCP (`rss://`).
    RawSocketTls {
        /// Host name or IP address (IPv6 without brackets); checked against the certificate.
        host: String,
        /// TCP port.
        port: u16,
    },
    /// RawSocket over a Unix domain socket.
    RawSocketUnix {
        /// The socket's path.
        path: PathBuf,
    },
}

impl Endpoint {
    /// Parses `ws://…`, `wss://…`, `rs://host:port`, `tcp://host:port`, `rss://host:port` or
    /// `unix:///path`.
    pub fn parse(s: &str) -> Result<Endpoint, EndpointError> {
        let Some((scheme, rest)) = s.split_once("://") else {
            return Err(EndpointError::new(
                s,
                "expected a URL such as ws://host:port/path, rs://host:port or unix:///path",
            ));
        };
        match scheme.to_ascii_lowercase().as_str() {
            "ws" | "wss" => {
                let uri: Uri = s
                    .parse()
                    .map_err(|_| EndpointError::new(s, "not a valid URL"))?;
                if uri.host().is_none_or(str::is_empty) {
                    return Err(EndpointError::new(s, "missing host"));
                }
                if uri.port().is_some() && uri.port_u16().is_none_or(|p| p == 0) {
                    return Err(EndpointError::new(s, "port must be 1-65535"));
                }
                Ok(Endpoint::WebSocket { url: s.to_owned() })
            }
            "rs" | "tcp" => {
                let (host, port) = parse_host_port(s, rest.strip_suffix('/').unwrap_or(rest))?;
                Ok(Endpoint::RawSocketTcp { host, port })
            }
            "rss" => {
                let (host, port) = parse_host_port(s, rest.strip_suffix('/').unwrap_or(rest))?;
                Ok(Endpoint::RawSocketTls { host, port })
            }
            "unix" => {
                if rest.is_empty() {
                    return Err(EndpointError::new(s, "missing socket path"));
                }
                Ok(Endpoint::RawSocketUnix {
                    path: PathBuf::from(rest),
                })
            }
            _ => Err(EndpointError::new(
                s,
                "unknown scheme; use ws://, wss://, rs://, rss://, tcp:// or unix://",
            )),
        }
    }
}

/// Splits `host:port` or `[v6]:port`.
fn parse_host_port(s: &str, authority: &str) -> Result<(String, u16), EndpointError> {
    if authority.contains('/') {
        return Err(EndpointError::new(s, "a RawSocket endpoint takes no path"));
    }
    let (host, port) = if let Some(bracketed) = authority.strip_prefix('[') {
        let Some((host, after)) = bracketed.split_once(']') else {
            return Err(EndpointError::new(s, "unclosed '[' in IPv6 address"));
        };
        let Some(port) = after.strip_prefix(':') else {
            return Err(EndpointError::new(s, "missing port"));
        };
        (host, port)
    } else {
        let Some((host, port)) = authority.rsplit_once(':') else {
            return Err(EndpointError::new(s, "missing port"));
        };
        if host.contains(':') {
            return Err(EndpointError::new(
                s,
                "IPv6 addresses must be written in brackets, e.g. rs://[::1]:8080",
            ));
        }
        (host, port)
    };
    if host.is_empty() {
        return Err(EndpointError::new(s, "missing host"));
    }
    match port.parse::<u16>() {
        Ok(port) if port != 0 => Ok((host.to_owned(), port)),
        _ => Err(EndpointError::new(s, "port must be 1-65535")),
    }
}

impl FromStr for Endpoint {
    type Err = EndpointError;

    fn from_str(s: &str) -> Result<Endpoint, EndpointError> {
        Endpoint::parse(s)
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Endpoint::WebSocket { url } => f.write_str(url),
            Endpoint::RawSocketTcp { host, port } if host.contains(':') => {
                write!(f, "rs://[{host}]:{port}")
            }
            Endpoint::RawSocketTcp { host, port } => write!(f, "rs://{host}:{port}"),
            Endpoint::RawSocketTls { host, port } if host.contains(':') => {
                write!(f, "rss://[{host}]:{port}")
            }
            Endpoint::RawSocketTls { host, port } => write!(f, "rss://{host}:{port}"),
            Endpoint::RawSocketUnix { path } => write!(f, "unix://{}", path.display()),
        }
    }
}

/// Connects to a router.
///
/// WebSocket: offers exactly `format`'s subprotocol and fails unless the server selects it.
/// RawSocket: asks for `format` and fails unless the router echoes it; the router's announced
/// limit then bounds what the writer sends.
///
/// `max_message_size` is the longest message this side accepts; RawSocket announces the
/// smallest power of two at least that large (512 B to 16 MiB).
///
/// `wss://` and `rss://` servers must present a certificate for their host name that chains to
/// a Mozilla root ([`crate::tls::default_client_config`]); use [`connect_with_tls`] to trust
/// other roots.
///
/// No timeout is applied; wrap the call in [`tokio::time::timeout`] if needed.
pub async fn connect(
    endpoint: &Endpoint,
    format: Format,
    max_message_size: usize,
) -> Result<Connection, ConnectError> {
    let tls = match endpoint {
        Endpoint::RawSocketTls { .. } => Some(crate::tls::default_client_config()),
        Endpoint::WebSocket { url } if is_wss(url) => Some(crate::tls::default_client_config()),
        _ => None,
    };
    connect_inner(endpoint, format, max_message_size, tls).await
}

/// As [`connect`], with `tls` as the TLS client configuration for `wss://` and `rss://`
/// endpoints (ignored for the others).
pub async fn connect_with_tls(
    endpoint: &Endpoint,
    format: Format,
    max_message_size: usize,
    tls: std::sync::Arc<tokio_rustls::rustls::ClientConfig>,
) -> Result<Connection, ConnectError> {
    connect_inner(endpoint, format, max_message_size, Some(tls)).await
}

fn is_wss(url: &str) -> bool {
    url.get(..6)
        .is_some_and(|scheme| scheme.eq_ignore_ascii_case("wss://"))
}

async fn connect_inner(
    endpoint: &Endpoint,
    format: Format,
    max_message_size: usize,
    tls: Option<std::sync::Arc<tokio_rustls::rustls::ClientConfig>>,
) -> Result<Connection, ConnectError> {
    match endpoint {
        Endpoint::WebSocket { url } => {
            let uri: Uri = url
                .parse()
                .map_err(|_| EndpointError::new(url, "not a valid URL"))?;
            let secure = match uri.scheme_str() {
                Some(scheme) if scheme.eq_ignore_ascii_case("ws") => false,
                Some(scheme) if scheme.eq_ignore_ascii_case("wss") => true,
                _ => return Err(EndpointError::new(url, "not a ws:// or wss:// URL").into()),
            };
            let host = uri
                .host()
                .map(|h| h.trim_start_matches('[').trim_end_matches(']'))
                .ok_or_else(|| EndpointError::new(url, "missing host"))?;
            let port = uri.port_u16().unwrap_or(if secure { 443 } else { 80 });
            let stream = tcp_connect(host, port).await?;
            let peer = stream.peer_addr().ok();
            match tls {
                Some(config) if secure => {
                    let stream = crate::tls::client_handshake(stream, host, config).await?;
                    connect_websocket_stream(stream, url, format, max_message_size, peer).await
                }
                None if secure => Err(ConnectError::Unsupported(
                    "wss:// needs a TLS client configuration",
                )),
                _ => connect_websocket_stream(stream, url, format, max_message_size, peer).await,
            }
        }
        Endpoint::RawSocketTls { host, port } => {
            let Some(config) = tls else {
                return Err(ConnectError::Unsupported(
                    "rss:// needs a TLS client configuration",
                ));
            };
            let stream = tcp_connect(host, *port).await?;
            let peer = stream.peer_addr().ok();
            let stream = crate::tls::client_handshake(stream, host, config).await?;
            connect_rawsocket_stream(stream, format, max_message_size, peer).await
        }
        Endpoint::RawSocketTcp { host, port } => {
            let stream = tcp_connect(host, *port).await?;
            let peer = stream.peer_addr().ok();
            connect_rawsocket_stream(stream, format, max_message_size, peer).await
        }
        Endpoint::RawSocketUnix { path } => {
            let stream =
                UnixStream::connect(path)
                    .await
                    .map_err(|source| ConnectError::Connect {
                        target: path.display().to_string(),
                        source,
                    })?;
            connect_rawsocket_stream(stream, format, max_message_size, None).await
        }
    }
}

async fn tcp_connect(host: &str, port: u16) -> Result<TcpStream, ConnectError> {
    let stream =
        TcpStream::connect((host, port))
            .await
            .map_err(|source| ConnectError::Connect {
                target: if host.contains(':') {
                    format!("[{host}]:{port}")
                } else {
                    format!("{host}:{port}")
                },
                source,
            })?;
    // Best effort: writes are batched already, Nagle would only add latency.
    let _ = stream.set_nodelay(true);
    Ok(stream)
}

/// Performs the WebSocket client handshake for `url` on an established stream (TCP, Unix
/// socket, or later a TLS stream), offering exactly `format`'s subprotocol.
pub async fn connect_websocket_stream<S>(
    stream: S,
    url: &str,
    format: Format,
    max_message_size: usize,
    peer: Option<SocketAddr>,
) -> Result<Connection, ConnectError>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let uri: Uri = url
        .parse()
        .map_err(|_| EndpointError::new(url, "not a valid URL"))?;
    let offered = format.subprotocol();
    let builder = tokio_websockets::ClientBuilder::from_uri(uri)
        .config(websocket::config())
        .limits(websocket::limits(max_message_size))
        .add_header(SEC_WEBSOCKET_PROTOCOL, HeaderValue::from_static(offered))
        .map_err(|error| ConnectError::WebSocket(Box::new(error)))?;
    let io: BoxedIo = Box::new(stream);
    let (ws, response) = builder.connect_on(io).await.map_err(|error| match error {
        tokio_websockets::Error::Upgrade(
            tokio_websockets::upgrade::Error::DidNotSwitchProtocols(status),
        ) => ConnectError::Refused { status },
        tokio_websockets::Error::Io(error) => ConnectError::Io(error),
        other => ConnectError::WebSocket(Box::new(other)),
    })?;
    let answered = response
        .headers()
        .get(SEC_WEBSOCKET_PROTOCOL)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).trim().to_owned());
    if answered.as_deref() != Some(offered) {
        return Err(ConnectError::SubprotocolMismatch { offered, answered });
    }
    Ok(websocket::connection(ws, format, max_message_size, peer))
}

/// Performs the RawSocket client handshake on an established stream (TCP, Unix socket, or
/// later a TLS stream).
pub async fn connect_rawsocket_stream<S>(
    stream: S,
    format: Format,
    max_message_size: usize,
    peer: Option<SocketAddr>,
) -> Result<Connection, ConnectError>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    rawsocket::client_handshake(Box::new(stream), format, max_message_size, peer).await
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn ws(url: &str) -> Endpoint {
        Endpoint::WebSocket { url: url.into() }
    }

    #[test]
    fn parses_every_scheme() {
        assert_eq!(
            Endpoint::parse("ws://127.0.0.1:8080/ws").unwrap(),
            ws("ws://127.0.0.1:8080/ws")
        );
        assert_eq!(
            Endpoint::parse("wss://example.com/ws").unwrap(),
            ws("wss://example.com/ws")
        );
        assert_eq!(
            Endpoint::parse("rs://localhost:8081").unwrap(),
            Endpoint::RawSocketTcp {
                host: "localhost".into(),
                port: 8081
            }
        );
        assert_eq!(
            Endpoint::parse("tcp://[::1]:9000/").unwrap(),
            Endpoint::RawSocketTcp {
                host: "::1".into(),
                port: 9000
            }
        );
        assert_eq!(
            Endpoint::parse("unix:///run/switchboard.sock").unwrap(),
            Endpoint::RawSocketUnix {
                path: "/run/switchboard.sock".into()
            }
        );
    }

    #[test]
    fn rejects_bad_endpoints_with_a_reason() {
        for (s, reason) in [
            ("localhost:8080", "expected a URL"),
            ("http://x/ws", "unknown scheme"),
            ("rs://localhost", "missing port"),
            ("rs://localhost:0", "port must be"),
            ("rs://localhost:99999", "port must be"),
            ("rs://:80", "missing host"),
            ("rs://::1:80", "IPv6"),
            ("rs://[::1:80", "unclosed"),
            ("rs://h:1/path", "no path"),
            ("unix://", "missing socket path"),
            ("ws:///ws", "not a valid URL"),
        ] {
            let error = Endpoint::parse(s).unwrap_err();
            assert!(error.reason.contains(reason), "{s}: {error}");
        }
    }

    #[test]
    fn display_round_trips() {
        for s in [
            "ws://127.0.0.1:8080/ws",
            "rs://host:1",
            "rs://[::1]:2",
            "unix:///tmp/s",
        ] {
            assert_eq!(Endpoint::parse(s).unwrap().to_string(), s);
        }
    }

    #[tokio::test]
    async fn wss_to_a_closed_port_is_a_connect_error() {
        let error = connect(&ws("wss://127.0.0.1:1/ws"), Format::Json, 1024)
            .await
            .unwrap_err();
        assert!(matches!(error, ConnectError::Connect { .. }), "{error}");
    }

    #[test]
    fn rss_parses_and_displays() {
        let ep = Endpoint::parse("rss://example.com:8443").unwrap();
        assert_eq!(
            ep,
            Endpoint::RawSocketTls {
                host: "example.com".into(),
                port: 8443
            }
        );
        assert_eq!(ep.to_string(), "rss://example.com:8443");
    }
}
