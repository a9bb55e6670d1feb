//! TLS with rustls (ring provider), for both sides: `wss://` and RawSocket over TLS (`rss://`).
//!
//! Router side: [`server_config`] loads a PEM certificate chain and private key;
//! [`accept_tls`] runs the TLS handshake on an accepted stream and then the WAMP transport
//! handshake ([`accept_stream`](crate::accept_stream)), so one TLS port serves both WebSocket
//! and RawSocket exactly as a plain port does.
//!
//! Client side: [`connect`](crate::connect) verifies `wss://` and `rss://` servers against the
//! Mozilla root certificates ([`default_client_config`]); [`connect_with_tls`](crate::connect_with_tls)
//! takes any [`rustls::ClientConfig`], e.g. one trusting a private CA
//! ([`client_config_with_roots`]).
//!
//! Both configs pin the ring provider explicitly, so nothing depends on a process-wide default
//! provider being installed.

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use tokio::io::{AsyncRead, AsyncWrite};
pub use tokio_rustls::rustls;
use tokio_rustls::{TlsAcceptor, TlsConnector};

use crate::error::{AcceptError, ConnectError};
use crate::{AcceptConfig, Connection};

/// Why a TLS configuration could not be built. The message names the file.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsConfigError {
    /// A PEM file could not be read or parsed.
    #[error("cannot read {what} from {}: {message}", path.display())]
    Pem {
        /// `certificate chain` or `private key`.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// Why.
        message: String,
    },
    /// The file holds no certificate.
    #[error("no certificate found in {}", path.display())]
    NoCertificate {
        /// The file.
        path: PathBuf,
    },
    /// rustls refused the certificate/key pair (e.g. the key does not match the certificate).
    #[error("invalid certificate or key: {0}")]
    Rustls(#[from] rustls::Error),
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Loads a certificate chain (PEM, leaf first) and its private key (PEM: PKCS#8, PKCS#1 or
/// SEC1) into a server config. ALPN is left empty: WebSocket and RawSocket are told apart by
/// their first byte, as on plain TCP.
///
/// # Errors
///
/// [`TlsConfigError`], naming the file at fault.
pub fn server_config(cert_chain: &Path, key: &Path) -> Result<Arc<ServerConfig>, TlsConfigError> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert_chain)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| TlsConfigError::Pem {
            what: "certificate chain",
            path: cert_chain.to_owned(),
            message: e.to_string(),
        })?;
    if certs.is_empty() {
        return Err(TlsConfigError::NoCertificate {
            path: cert_chain.to_owned(),
        });
    }
    let key = PrivateKeyDer::from_pem_file(key).map_err(|e| TlsConfigError::Pem {
        what: "private key",
        path: key.to_owned(),
        message: e.to_string(),
    })?;
    server_config_from_der(certs, key)
}

/// A server config from a DER certificate chain and key already in memory.
///
/// # Errors
///
/// [`TlsConfigError::Rustls`] if the key does not fit the certificate.
pub fn server_config_from_der(
    certs: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> Result<Arc<ServerConfig>, TlsConfigError> {
    let config = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(certs, key)?;
    Ok(Arc::new(config))
}

/// A client config trusting exactly `roots`.
pub fn client_config_with_roots(roots: RootCertStore) -> Arc<ClientConfig> {
    let builder =
        ClientConfig::builder_with_provider(provider()).with_safe_default_protocol_versions();
    match builder {
        Ok(b) => Arc::new(b.with_root_certificates(roots).with_no_client_auth()),
        // The ring provider supports the default protocol versions; were it ever not so, fall
        // back to the process default rather than panic.
        Err(_) => Arc::new(
            ClientConfig::builder()
                .with_root_certificates(RootCertStore::empty())
                .with_no_client_auth(),
        ),
    }
}

/// A client config trusting the Mozilla root certificates (`webpki-roots`), as browsers do.
pub fn default_client_config() -> Arc<ClientConfig> {
    let roots = RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    client_config_with_roots(roots)
}

/// A server-side TLS setup for a listener: the acceptor built from a [`ServerConfig`].
#[derive(Clone)]
pub struct TlsServer {
    acceptor: TlsAcceptor,
}

impl fmt::Debug for TlsServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TlsServer")
    }
}

impl TlsServer {
    /// Wraps a server config.
    pub fn new(config: Arc<ServerConfig>) -> TlsServer {
        TlsServer {
            acceptor: TlsAcceptor::from(config),
        }
    }
}

/// Runs the TLS handshake on an accepted stream, then accepts one WAMP connection inside it
/// (WebSocket or RawSocket, see [`accept_stream`](crate::accept_stream)).
///
/// No timeout of its own: wrap it in [`tokio::time::timeout`].
///
/// # Errors
///
/// [`AcceptError::Tls`] if the TLS handshake fails, otherwise as
/// [`accept_stream`](crate::accept_stream).
pub async fn accept_tls<S>(
    stream: S,
    peer: Option<SocketAddr>,
    tls: &TlsServer,
    cfg: &AcceptConfig,
) -> Result<Connection, AcceptError>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let stream = tls
        .acceptor
        .accept(stream)
        .await
        .map_err(AcceptError::Tls)?;
    crate::accept_stream(stream, peer, cfg).await
}

/// Client side: the TLS handshake with `host` (its name is checked against the certificate)
/// on an established stream.
pub(crate) async fn client_handshake<S>(
    stream: S,
    host: &str,
    config: Arc<ClientConfig>,
) -> Result<tokio_rustls::client::TlsStream<S>, ConnectError>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let name = ServerName::try_from(host.to_owned()).map_err(|_| {
        ConnectError::Tls(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{host:?} is not a valid TLS server name"),
        ))
    })?;
    TlsConnector::from(config)
        .connect(name, stream)
        .await
        .map_err(ConnectError::Tls)
}
