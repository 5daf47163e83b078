//! The HTTP listener (`http.listen`; `weir serve` binds 127.0.0.1:9644 unless told
//! otherwise): `GET /healthz` (the process is alive) and `GET /readyz` (the broker serves:
//! see `readiness`). It is apart from the Kafka listener, with its own accept task, and every
//! HTTP connection is bounded (how many at once, header size and count, time to send the
//! headers, time in all), so a slow or hostile HTTP client never delays a Kafka request.
//! Requests with a body, other methods and unknown paths are refused (413, 405, 404) with a
//! log line; hyper answers a malformed request with 400 and an oversized head with 431.
//!
//! - `readiness`: whether the broker is ready, and why not.

mod readiness;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{HeaderValue, ALLOW, CONTENT_LENGTH, CONTENT_TYPE, TRANSFER_ENCODING};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinHandle;
use tracing::{debug, info, warn};

use crate::error::BrokerError;
use crate::state::BrokerState;

/// HTTP connections served at once; more are closed at once.
const MAX_CONNECTIONS: usize = 64;
/// How long a client may take to send its request head.
const HEADER_TIMEOUT: Duration = Duration::from_secs(5);
/// How long one connection may last in all.
const CONNECTION_TIMEOUT: Duration = Duration::from_secs(30);
/// The largest request head (request line and headers).
const MAX_HEAD_BYTES: usize = 8 * 1024;
/// The most headers a request may carry.
const MAX_HEADERS: usize = 32;

/// The broker the listener answers for: `None` until it has joined the cluster.
pub(crate) type Served = watch::Receiver<Option<Arc<BrokerState>>>;

/// Binds the HTTP listener.
pub(crate) async fn bind(addr: SocketAddr) -> Result<TcpListener, BrokerError> {
    TcpListener::bind(addr).await.map_err(|e| BrokerError::Io {
        context: format!("binding the HTTP listener {addr} (--http-listen; `off` disables it)"),
        source: e,
    })
}

/// Serves HTTP on `listener` until `stopped` turns true.
pub(crate) fn serve(
    listener: TcpListener,
    served: Served,
    mut stopped: watch::Receiver<bool>,
) -> JoinHandle<()> {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    tokio::spawn(async move {
        loop {
            let (socket, peer) = tokio::select! {
                _ = stopped.changed() => return,
                accepted = listener.accept() => match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        warn!(error = %e, "HTTP accept failed");
                        tokio::task::yield_now().await;
                        continue;
                    }
                },
            };
            let Ok(slot) = slots.clone().try_acquire_owned() else {
                info!(%peer, limit = MAX_CONNECTIONS, "HTTP connection refused: too many open");
                continue;
            };
            let served = served.clone();
            tokio::spawn(async move {
                let service = service_fn(move |req: Request<Incoming>| {
                    let response = route(&req, &served, peer);
                    async move { Ok::<_, Infallible>(response) }
                });
                let mut builder = http1::Builder::new();
                builder
                    .timer(TokioTimer::new())
                    .header_read_timeout(HEADER_TIMEOUT)
                    .max_header_size(MAX_HEAD_BYTES)
                    .max_headers(MAX_HEADERS)
                    .keep_alive(false);
                let conn = builder.serve_connection(TokioIo::new(socket), service);
                match tokio::time::timeout(CONNECTION_TIMEOUT, conn).await {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => debug!(%peer, error = %e, "HTTP connection ended"),
                    Err(_) => info!(%peer, "HTTP connection closed: took too long"),
                }
                drop(slot);
            });
        }
    })
}

/// The answer to one request.
fn route(req: &Request<Incoming>, served: &Served, peer: SocketAddr) -> Response<Full<Bytes>> {
    let path = req.uri().path();
    if req.method() != Method::GET && req.method() != Method::HEAD {
        info!(%peer, method = %req.method(), path = %short(path), "HTTP request refused: method not allowed");
        let mut r = text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed\n");
        r.headers_mut()
            .insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
        return r;
    }
    let has_body = req.headers().contains_key(TRANSFER_ENCODING)
        || req
            .headers()
            .get(CONTENT_LENGTH)
            .is_some_and(|v| v.as_bytes() != b"0");
    if has_body {
        info!(%peer, path = %short(path), "HTTP request refused: a GET with a body");
        return text(StatusCode::PAYLOAD_TOO_LARGE, "requests carry no body\n");
    }
    match path {
        "/healthz" => text(StatusCode::OK, "ok\n"),
        "/readyz" => match served.borrow().as_ref() {
            None => text(
                StatusCode::SERVICE_UNAVAILABLE,
                "not ready: joining the cluster\n",
            ),
            Some(state) => match readiness::check(state) {
                Ok(()) => text(StatusCode::OK, "ready\n"),
                Err(why) => text(
                    StatusCode::SERVICE_UNAVAILABLE,
                    &format!("not ready: {why}\n"),
                ),
            },
        },
        _ => {
            debug!(%peer, path = %short(path), "HTTP path not found");
            text(StatusCode::NOT_FOUND, "not found\n")
        }
    }
}

/// A plain-text response.
fn text(status: StatusCode, body: &str) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::copy_from_slice(body.as_bytes())));
    *r.status_mut() = status;
    r.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

/// A path as logged: at most 100 characters of it.
fn short(path: &str) -> &str {
    match path.char_indices().nth(100) {
        Some((i, _)) => &path[..i],
        None => path,
    }
}
