//! The controller listener's transport: plain TCP, or TLS in which both sides show a
//! certificate the other's trust store vouches for (mutual TLS), so that only the cluster's
//! own nodes take part in the quorum and forward commands to it.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

/// How long a TLS handshake on the controller listener may take.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// A byte stream to or from another node.
pub(crate) trait Io: AsyncRead + AsyncWrite + Unpin + Send + Sync {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + Sync> Io for T {}

/// A connection to or from another node.
pub(crate) type Stream = Box<dyn Io>;

/// TLS for the controller listener: the server config must require client certificates.
#[derive(Clone)]
pub struct QuorumTls {
    /// The listener's side.
    pub server: Arc<rustls::ServerConfig>,
    /// This node's side when it connects to the others.
    pub client: Arc<rustls::ClientConfig>,
}

impl std::fmt::Debug for QuorumTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("QuorumTls")
    }
}

/// Connects to the controller listener at `addr` ("host:port").
pub(crate) async fn connect(addr: &str, tls: Option<&QuorumTls>) -> io::Result<Stream> {
    let socket = TcpStream::connect(addr).await?;
    socket.set_nodelay(true)?;
    let Some(tls) = tls else {
        return Ok(Box::new(socket));
    };
    let host = addr.rsplit_once(':').map_or(addr, |(h, _)| h);
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let name = rustls::pki_types::ServerName::try_from(host.to_string())
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e.to_string()))?;
    let connector = tokio_rustls::TlsConnector::from(tls.client.clone());
    Ok(Box::new(connector.connect(name, socket).await?))
}

/// Takes an accepted connection through the TLS handshake, if there is TLS.
pub(crate) async fn accept(socket: TcpStream, tls: Option<&QuorumTls>) -> io::Result<Stream> {
    socket.set_nodelay(true)?;
    let Some(tls) = tls else {
        return Ok(Box::new(socket));
    };
    let acceptor = tokio_rustls::TlsAcceptor::from(tls.server.clone());
    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(socket)).await {
        Ok(stream) => Ok(Box::new(stream?)),
        Err(_) => Err(io::Error::new(
            io::ErrorKind::TimedOut,
            "TLS handshake not finished in time",
        )),
    }
}
