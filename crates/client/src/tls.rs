//! TLS towards a broker with rustls: the CAs that vouch for brokers, and this client's
//! certificate when a broker asks for one (all in the rustls config given).

use std::sync::Arc;

use rustls::pki_types::ServerName;
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

use crate::error::ClientError;

/// How a connection speaks TLS.
#[derive(Clone)]
pub struct ClientTls {
    connector: TlsConnector,
}

impl std::fmt::Debug for ClientTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ClientTls")
    }
}

impl ClientTls {
    /// TLS with `config`.
    pub fn new(config: Arc<rustls::ClientConfig>) -> Self {
        ClientTls {
            connector: TlsConnector::from(config),
        }
    }

    /// Runs the handshake on `socket`, checking that the broker's certificate names the
    /// host of `addr` ("host:port").
    pub(crate) async fn connect(
        &self,
        addr: &str,
        socket: TcpStream,
    ) -> Result<TlsStream<TcpStream>, ClientError> {
        let host = addr.rsplit_once(':').map_or(addr, |(h, _)| h);
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let name = ServerName::try_from(host.to_string()).map_err(|e| ClientError::Io {
            context: format!("TLS to {addr}"),
            source: std::io::Error::new(std::io::ErrorKind::InvalidInput, e.to_string()),
        })?;
        self.connector
            .connect(name, socket)
            .await
            .map_err(|e| ClientError::Io {
                context: format!("TLS handshake with {addr}"),
                source: e,
            })
    }
}
