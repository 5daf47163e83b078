//! One client connection: reads size-prefixed frames, hands each request to dispatch in
//! arrival order, and writes responses back in request order (invariant 7); only the
//! waiting of a request (fsync, long-poll) overlaps with the next one. A frame that cannot
//! be parsed closes the connection after the responses before it, as Kafka does; nothing
//! else on the broker is affected (invariant 8). On SSL and SASL_SSL listeners the TLS
//! handshake comes first, bounded in time; on SASL listeners, authentication.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::ops::ControlFlow;
use std::sync::Arc;
use std::time::Instant;

use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufWriter};
use tokio::net::TcpStream;
use tracing::{debug, info, warn};
use weir_protocol::codec::Reader;
use weir_protocol::frame;
use weir_protocol::messages::ApiKey;

use weir_auth::principal::Principal;

use crate::dispatch::{self, Dispatched, Pending};
use crate::listener_security::SecurityProtocol;
use crate::metrics::{Metrics, RequestTimer};
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
///
/// One task reads, dispatches and writes: a response decided at once is written without
/// waking another task, and a handler's waiting part (its own task) is awaited in request
/// order. Reading pauses while `max.in.flight` responses wait to be written.
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
    let mut out = Responses::new(wr, peer, state.metrics.clone());
    let max_in_flight = state.config.max_in_flight_per_connection.max(1);
    let config_max = state.config.socket_request_max_bytes;
    let security = &state.config.security;
    // On a SASL listener, the connection authenticates before anything else is served.
    let mut session = listener.protocol.sasl().then(Session::new);
    // The transport's principal, until SASL names another.
    let mut principal = Arc::new(principal);
    let order = Arc::new(ProduceOrder::default());
    let mut buf = BytesMut::with_capacity(64 * 1024);
    'read: loop {
        while out.len() < max_in_flight {
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
                            out.push(Pending::Ready(outcome).into());
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
                                out.push(Pending::Ready(outcome).into());
                            }
                            out.push(Pending::Ready(Outcome::Close).into());
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
            out.push(pending);
        }
        if buf.capacity() - buf.len() < 16 * 1024 {
            buf.reserve(64 * 1024);
        }
        tokio::select! {
            // Answers first: a client waits for them, and they free room for more requests.
            biased;
            () = out.settle_oldest(), if !out.is_empty() => {
                if out.write_settled().await.is_break() {
                    return;
                }
            }
            read = rd.read_buf(&mut buf), if out.len() < max_in_flight => match read {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) => {
                    debug!(%peer, error = %e, "read failed");
                    break;
                }
            },
        }
    }
    // Nothing more is read: the responses already owed are still written, in order.
    while !out.is_empty() {
        out.settle_oldest().await;
        if out.write_settled().await.is_break() {
            return;
        }
    }
    out.close().await;
}

/// A response waiting for its turn to be written.
enum Slot {
    /// Decided, at the instant it became ready (if timed).
    Decided(Outcome, Option<Instant>),
    /// Decided when its task ends.
    Task(tokio::task::JoinHandle<(Outcome, Instant)>),
}

/// A connection's responses, written in request order (invariant 7).
struct Responses<W: AsyncWrite + Unpin> {
    wr: BufWriter<W>,
    queue: VecDeque<(Slot, Option<RequestTimer>)>,
    peer: SocketAddr,
    metrics: Arc<Metrics>,
}

impl<W: AsyncWrite + Unpin> Responses<W> {
    fn new(wr: W, peer: SocketAddr, metrics: Arc<Metrics>) -> Self {
        Self {
            wr: BufWriter::with_capacity(64 * 1024, wr),
            queue: VecDeque::new(),
            peer,
            metrics,
        }
    }

    fn len(&self) -> usize {
        self.queue.len()
    }

    fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// Queues the outcome of the latest request.
    fn push(&mut self, d: Dispatched) {
        let Dispatched { pending, timer } = d;
        let slot = match pending {
            Pending::Ready(o) => Slot::Decided(o, timer.as_ref().map(|t| t.handled)),
            Pending::Later(task) => Slot::Task(task),
        };
        self.queue.push_back((slot, timer));
    }

    /// Waits until the oldest response is decided (never, when none waits). Cancel-safe.
    async fn settle_oldest(&mut self) {
        let Some((slot, _)) = self.queue.front_mut() else {
            return std::future::pending().await;
        };
        if let Slot::Task(task) = slot {
            *slot = match task.await {
                Ok((o, ready)) => Slot::Decided(o, Some(ready)),
                Err(e) => {
                    warn!(peer = %self.peer, error = %e, "request handler failed; closing connection");
                    Slot::Decided(Outcome::Close, None)
                }
            };
        }
    }

    /// Writes the decided responses at the front of the queue, and flushes them when the next
    /// is not decided yet. Breaks when the connection is to close (written and shut down) or
    /// the peer is gone.
    async fn write_settled(&mut self) -> ControlFlow<()> {
        loop {
            let decided = match self.queue.front() {
                Some((Slot::Decided(..), _)) => true,
                Some((Slot::Task(t), _)) => t.is_finished(),
                None => false,
            };
            if !decided {
                break;
            }
            self.settle_oldest().await;
            let Some((Slot::Decided(outcome, ready), timer)) = self.queue.pop_front() else {
                break;
            };
            let writing = Instant::now();
            match outcome {
                Outcome::Respond(bytes) => {
                    if self.wr.write_all(&bytes).await.is_err() {
                        return ControlFlow::Break(());
                    }
                }
                Outcome::NoResponse => {}
                Outcome::Close => {
                    self.close().await;
                    return ControlFlow::Break(());
                }
            }
            if let (Some(t), Some(ready)) = (timer, ready) {
                t.finish(&self.metrics.requests, ready, writing, Instant::now());
            }
        }
        if self.wr.flush().await.is_err() {
            return ControlFlow::Break(());
        }
        ControlFlow::Continue(())
    }

    /// Flushes what was written and shuts the socket's write side.
    async fn close(&mut self) {
        let _ = self.wr.flush().await;
        let _ = self.wr.shutdown().await;
    }
}
