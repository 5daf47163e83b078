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
    /// TLS trusting the CA certificates of the PEM file `ca`, showing the certificate
    /// chain and key of `identity` (PEM files) when a broker asks for one.
    pub fn from_pem_files(
        ca: &std::path::Path,
        identity: Option<(&std::path::Path, &std::path::Path)>,
    ) -> Result<Self, String> {
        use rustls::pki_types::pem::PemObject;
        use rustls::pki_types::{CertificateDer, PrivateKeyDer};
        let mut roots = rustls::RootCertStore::empty();
        for cert in
            CertificateDer::pem_file_iter(ca).map_err(|e| format!("{}: {e}", ca.display()))?
        {
            let cert = cert.map_err(|e| format!("{}: {e}", ca.display()))?;
            roots
                .add(cert)
                .map_err(|e| format!("{}: {e}", ca.display()))?;
        }
        // *ring*, as the broker uses (see its TLS module for why).
        #[allow(deprecated)]
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .with_root_certificates(roots);
        let config = match identity {
            None => builder.with_no_client_auth(),
            Some((cert, key)) => {
                let chain = CertificateDer::pem_file_iter(cert)
                    .map_err(|e| format!("{}: {e}", cert.display()))?
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| format!("{}: {e}", cert.display()))?;
                let key = PrivateKeyDer::from_pem_file(key)
                    .map_err(|_| format!("{}: no readable PRIVATE KEY", key.display()))?;
                builder
                    .with_client_auth_cert(chain, key)
                    .map_err(|e| e.to_string())?
            }
        };
        Ok(Self::new(Arc::new(config)))
    }

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
