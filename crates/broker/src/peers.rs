//! Requests from this broker to the others (transaction markers for partitions they
//! lead): one connection per broker, opened on first use and dropped when it fails.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use weir_client::connection::Connection;
use weir_client::sasl::SaslLogin;
use weir_client::tls::ClientTls;
use weir_client::ClientError;
use weir_protocol::codec::Request;

/// How long a request to another broker may take before it counts as failed.
const PEER_TIMEOUT: Duration = Duration::from_secs(30);

/// How this broker reaches the others on the inter-broker listener.
#[derive(Debug, Clone, Default)]
pub struct PeerSecurity {
    /// Its SASL login, on a SASL listener.
    pub login: Option<SaslLogin>,
    /// Its TLS, on an SSL or SASL_SSL listener.
    pub tls: Option<ClientTls>,
}

/// Connections to the other brokers, by node id.
#[derive(Default)]
pub struct Peers {
    conns: tokio::sync::Mutex<HashMap<i32, (String, Arc<Connection>)>>,
    security: PeerSecurity,
}

/// Connects to another broker at `addr` (inside TLS, and authenticating, as `security`
/// says).
pub async fn connect(
    addr: &str,
    client_id: &str,
    security: &PeerSecurity,
) -> Result<Connection, ClientError> {
    let conn = Connection::connect_with(addr, client_id, security.tls.as_ref()).await?;
    if let Some(login) = &security.login {
        conn.authenticate(login).await?;
    }
    Ok(conn)
}

impl Peers {
    /// No connections yet; `security` is how to reach the others.
    pub fn new(security: PeerSecurity) -> Self {
        Peers {
            conns: tokio::sync::Mutex::new(HashMap::new()),
            security,
        }
    }

    /// How this broker reaches the others.
    pub fn security(&self) -> &PeerSecurity {
        &self.security
    }

    /// Sends `req` to broker `node` at `addr` (HOST:PORT) and waits for its response.
    pub async fn send<R: Request>(
        &self,
        node: i32,
        addr: &str,
        req: &R,
    ) -> Result<R::Response, ClientError> {
        self.send_inner(node, addr, req, None).await
    }

    /// Like [`Peers::send`] at `version`.
    pub async fn send_at<R: Request>(
        &self,
        node: i32,
        addr: &str,
        req: &R,
        version: i16,
    ) -> Result<R::Response, ClientError> {
        self.send_inner(node, addr, req, Some(version)).await
    }

    async fn send_inner<R: Request>(
        &self,
        node: i32,
        addr: &str,
        req: &R,
        version: Option<i16>,
    ) -> Result<R::Response, ClientError> {
        let conn = self.connection(node, addr).await?;
        let sent = async {
            match version {
                Some(v) => conn.send_at(req, v).await,
                None => conn.send(req).await,
            }
        };
        let result = match tokio::time::timeout(PEER_TIMEOUT, sent).await {
            Ok(r) => r,
            Err(_) => Err(ClientError::Closed),
        };
        if result.is_err() {
            self.conns.lock().await.remove(&node);
        }
        result
    }

    /// The connection to broker `node` at `addr`, opened if need be (for the client
    /// library's helpers). A caller whose request fails should not keep it.
    pub async fn connection_to(
        &self,
        node: i32,
        addr: &str,
    ) -> Result<Arc<Connection>, ClientError> {
        self.connection(node, addr).await
    }

    async fn connection(&self, node: i32, addr: &str) -> Result<Arc<Connection>, ClientError> {
        if let Some((known, c)) = self.conns.lock().await.get(&node) {
            if known == addr {
                return Ok(c.clone());
            }
        }
        // Connecting happens outside the lock: one unreachable broker must not hold up
        // requests to the others.
        let connect = connect(addr, "weir-broker", &self.security);
        let c = match tokio::time::timeout(PEER_TIMEOUT, connect).await {
            Ok(c) => Arc::new(c?),
            Err(_) => return Err(ClientError::Closed),
        };
        self.conns
            .lock()
            .await
            .insert(node, (addr.to_string(), c.clone()));
        Ok(c)
    }
}
