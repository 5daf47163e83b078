//! One client connection: reads size-prefixed frames, hands each request to dispatch in
//! arrival order, and writes responses back in request order (invariant 7); only the
//! waiting of a request (fsync, long-poll) overlaps with the next one. A frame that cannot
//! be parsed closes the connection after the responses before it, as Kafka does; nothing
//! else on the broker is affected (invariant 8). On SSL and SASL_SSL listeners the TLS
//! handshake comes first, bounded in time; on SASL listeners, authentication.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufWriter};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tracing::{debug, info, warn};
use weir_protocol::codec::Reader;
use weir_protocol::frame;
use weir_protocol::messages::ApiKey;

use weir_auth::principal::Principal;

use crate::dispatch::{self, Dispatched, Pending};
use crate::listener_security::SecurityProtocol;
use crate::metrics::Metrics;
use crate::produce_order::ProduceOrder;
use crate::response::Outcome;
use crate::sasl::{Session, Step};
use crate::state::BrokerState;
use crate::tls::{TlsServer, HANDSHAKE_TIMEOUT};

/// What a connection knows of the listener it came in on.
pub(crate) struct ListenerContext {
    /// The listener's name.
    pub(crate) name: Arc<str>,
    /// Its protocol.
    pub(crate) protocol: SecurityProtocol,
    /// Its TLS, on SSL and SASL_SSL listeners.
    pub(crate) tls: Option<Arc<TlsServer>>,
}

/// Serves one accepted socket: the TLS handshake first on a TLS listener, then requests.
pub(crate) async fn accept(
    state: Arc<BrokerState>,
    listener: Arc<ListenerContext>,
    socket: TcpStream,
    peer: SocketAddr,
) {
    let _ = socket.set_nodelay(true);
    let Some(tls) = listener.tls.clone() else {
        let (rd, wr) = socket.into_split();
        return serve(state, listener, rd, wr, peer, Principal::anonymous()).await;
    };
    let handshake = tls.acceptor().accept(socket);
    let stream = match tokio::time::timeout(HANDSHAKE_TIMEOUT, handshake).await {
        Ok(Ok(stream)) => stream,
        Ok(Err(e)) => {
            state.metrics.authentication_failures.inc();
            info!(%peer, listener = %listener.name, error = %e, "closing connection: TLS handshake failed");
            return;
        }
        Err(_) => {
            state.metrics.authentication_failures.inc();
            info!(%peer, listener = %listener.name, "closing connection: TLS handshake not finished in time");
            return;
        }
    };
    let cert = stream
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|c| c.first())
        .map(|c| c.as_ref().to_vec());
    let principal = match tls.principal(cert.as_deref()) {
        Ok(p) => p,
        Err(e) => {
            state.metrics.authentication_failures.inc();
            info!(%peer, listener = %listener.name, error = %e, "closing connection: no principal for the client certificate");
            return;
        }
    };
    if cert.is_some() {
        debug!(%peer, %principal, "TLS client authenticated");
    }
    let (rd, wr) = tokio::io::split(stream);
    serve(state, listener, rd, wr, peer, principal).await;
}

/// Serves one connection until the peer closes it or sends something unparseable;
/// `principal` is who the transport says the client is (a TLS client certificate's).
async fn serve<R, W>(
    state: Arc<BrokerState>,
    listener: Arc<ListenerContext>,
    mut rd: R,
    wr: W,
    peer: SocketAddr,
    principal: Principal,
) where
    R: AsyncRead + Unpin + Send,
    W: AsyncWrite + Unpin + Send + 'static,
{
    let (tx, rx) = mpsc::channel::<Dispatched>(state.config.max_in_flight_per_connection);
    let writer = tokio::spawn(write_loop(wr, rx, peer, state.metrics.clone()));
    let config_max = state.config.socket_request_max_bytes;
    let security = &state.config.security;
    // On a SASL listener, the connection authenticates before anything else is served.
    let mut session = listener.protocol.sasl().then(Session::new);
    // The transport's principal, until SASL names another.
    let mut principal = Arc::new(principal);
    let order = Arc::new(ProduceOrder::default());
    let mut buf = BytesMut::with_capacity(64 * 1024);
    'read: loop {
        loop {
            let authenticating = session.as_ref().is_some_and(|s| s.principal().is_none());
            let max = if authenticating {
                config_max.min(Session::max_frame())
            } else {
                config_max
            };
            let len = match frame::check_frame(&buf, max) {
                Ok(Some(len)) => len,
                Ok(None) => break,
                Err(e) => {
                    warn!(%peer, error = %e, "closing connection: bad frame size");
                    break 'read;
                }
            };
            let read = std::time::Instant::now();
            let frame = buf.split_to(len).freeze();
            let mut body = Reader::new(frame.slice(4..));
            let (header, api_key) = match frame::decode_request_header(&mut body) {
                Ok(h) => h,
                Err(e) => {
                    warn!(%peer, error = %e, "closing connection: unparseable request header");
                    break 'read;
                }
            };
            if let Some(s) = session.as_mut() {
                // A SaslHandshake after login re-authenticates the session (KIP-368).
                if api_key == Some(ApiKey::SaslHandshake) && s.begin_reauth() {
                    debug!(%peer, "re-authenticating");
                }
                if s.principal().is_none() {
                    let image = state.image();
                    match s.handle(security, &image, &header, api_key, body, peer) {
                        Step::Answer(outcome) => {
                            if tx.send(Pending::Ready(outcome).into()).await.is_err() {
                                break 'read;
                            }
                            if let Some(p) = s.principal() {
                                state.metrics.authentications.inc();
                                debug!(%peer, principal = %p, "authenticated");
                                principal = Arc::new(p.clone());
                            }
                            continue;
                        }
                        Step::Fail { answer, why } => {
                            state.metrics.authentication_failures.inc();
                            info!(%peer, reason = %why, "closing connection: authentication failed");
                            let delay = security.failed_authentication_delay_ms;
                            tokio::time::sleep(std::time::Duration::from_millis(delay)).await;
                            if let Some(outcome) = answer {
                                let _ = tx.send(Pending::Ready(outcome).into()).await;
                            }
                            let _ = tx.send(Pending::Ready(Outcome::Close).into()).await;
                            break 'read;
                        }
                    }
                }
                if s.expired(std::time::Instant::now()) {
                    info!(%peer, "closing connection: its SASL session expired (connections.max.reauth.ms)");
                    break 'read;
                }
            }
            let pending = dispatch::handle(
                state.clone(),
                header,
                api_key,
                body,
                dispatch::Caller {
                    peer,
                    listener: listener.name.clone(),
                    principal: principal.clone(),
                    order: order.clone(),
                },
                read,
            )
            .await;
            if tx.send(pending).await.is_err() {
                break 'read;
            }
        }
        if buf.capacity() - buf.len() < 16 * 1024 {
            buf.reserve(64 * 1024);
        }
        tokio::select! {
            read = rd.read_buf(&mut buf) => match read {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) => {
                    debug!(%peer, error = %e, "read failed");
                    break;
                }
            },
            // The writer stopped (a handler asked to close): stop reading too.
            _ = tx.closed() => break,
        }
    }
    drop(tx);
    let _ = writer.await;
}

async fn write_loop<W: AsyncWrite + Unpin>(
    wr: W,
    mut rx: mpsc::Receiver<Dispatched>,
    peer: SocketAddr,
    metrics: Arc<Metrics>,
) {
    let mut wr = BufWriter::with_capacity(64 * 1024, wr);
    while let Some(Dispatched { pending, timer }) = rx.recv().await {
        let (outcome, ready) = match pending {
            Pending::Ready(o) => (o, timer.map(|t| t.handled)),
            Pending::Later(task) => match task.await {
                Ok((o, ready)) => (o, Some(ready)),
                Err(e) => {
                    warn!(%peer, error = %e, "request handler failed; closing connection");
                    (Outcome::Close, None)
                }
            },
        };
        let writing = std::time::Instant::now();
        match outcome {
            Outcome::Respond(bytes) => {
                if wr.write_all(&bytes).await.is_err() {
                    return;
                }
            }
            Outcome::NoResponse => {}
            Outcome::Close => break,
        }
        if let (Some(t), Some(ready)) = (timer, ready) {
            t.finish(&metrics.requests, ready, writing, std::time::Instant::now());
        }
        if rx.is_empty() && wr.flush().await.is_err() {
            return;
        }
    }
    let _ = wr.flush().await;
    let _ = wr.shutdown().await;
}
