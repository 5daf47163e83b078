//! The HTTP listener (`http.listen`; `weir serve` binds 127.0.0.1:9644 unless told
//! otherwise): `GET /healthz` (the process is alive) and `GET /readyz` (the broker serves:
//! see `readiness`). It is apart from the Kafka listener, with its own accept task, and every
//! HTTP connection is bounded (how many at once, header size and count, time to send the
//! headers, time in all), so a slow or hostile HTTP client never delays a Kafka request.
//! Requests with a body, other methods and unknown paths are refused (413, 405, 404) with a
//! log line; hyper answers a malformed request with 400 and an oversized head with 431.
//!
//! With `http.tls.listener` the listener speaks TLS with that Kafka listener's certificate;
//! with `http.auth=basic` everything but health and readiness asks for a user (`auth`).
//!
//! - `auth`: HTTP Basic against the Kafka listeners' users.
//! - `readiness`: whether the broker is ready, and why not.
//! - `scrape`: `GET /metrics`.
//! - `console`: the web console at `/` and its JSON API under `/api/`.

mod auth;
mod console;
mod readiness;
mod scrape;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{
    HeaderValue, ACCEPT, ALLOW, AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE, TRANSFER_ENCODING,
    WWW_AUTHENTICATE,
};
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

/// How the HTTP listener is secured.
#[derive(Clone, Default)]
pub(crate) struct HttpSecurity {
    /// TLS, with a Kafka listener's certificate.
    pub(crate) tls: Option<Arc<crate::tls::TlsServer>>,
    /// HTTP Basic required outside health and readiness.
    pub(crate) basic: bool,
}

/// Serves HTTP on `listener` until `stopped` turns true.
pub(crate) fn serve(
    listener: TcpListener,
    served: Served,
    mut stopped: watch::Receiver<bool>,
    security: HttpSecurity,
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
            let security = security.clone();
            tokio::spawn(async move {
                let basic = security.basic;
                match security.tls {
                    None => connection(socket, served, peer, basic).await,
                    Some(tls) => {
                        let handshake = tls.acceptor().accept(socket);
                        match tokio::time::timeout(HEADER_TIMEOUT, handshake).await {
                            Ok(Ok(stream)) => connection(stream, served, peer, basic).await,
                            Ok(Err(e)) => info!(%peer, error = %e, "HTTP TLS handshake failed"),
                            Err(_) => info!(%peer, "HTTP TLS handshake not finished in time"),
                        }
                    }
                }
                drop(slot);
            });
        }
    })
}

/// Serves one HTTP connection, bounded in time.
async fn connection<I>(io: I, served: Served, peer: SocketAddr, basic: bool)
where
    I: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let service = service_fn(move |req: Request<Incoming>| {
        let served = served.clone();
        async move { Ok::<_, Infallible>(route(req, served, peer, basic).await) }
    });
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT)
        .max_header_size(MAX_HEAD_BYTES)
        .max_headers(MAX_HEADERS)
        .keep_alive(false);
    let conn = builder.serve_connection(TokioIo::new(io), service);
    match tokio::time::timeout(CONNECTION_TIMEOUT, conn).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => debug!(%peer, error = %e, "HTTP connection ended"),
        Err(_) => info!(%peer, "HTTP connection closed: took too long"),
    }
}

/// The answer to one request; with `basic`, only health and readiness answer without a
/// user.
async fn route(
    req: Request<Incoming>,
    served: Served,
    peer: SocketAddr,
    basic: bool,
) -> Response<Full<Bytes>> {
    let path = req.uri().path();
    if basic && path != "/healthz" && path != "/readyz" {
        let Some(state) = served.borrow().clone() else {
            return text(
                StatusCode::SERVICE_UNAVAILABLE,
                "not ready: joining the cluster\n",
            );
        };
        let header = req.headers().get(AUTHORIZATION).map(|v| v.as_bytes());
        match auth::check(&state, header, peer) {
            Ok(_) => {}
            Err(auth::Refused::Unauthenticated(why)) => {
                state.metrics.authentication_failures.inc();
                info!(%peer, path = %short(path), reason = why, "HTTP request refused: not authenticated");
                let mut r = text(StatusCode::UNAUTHORIZED, "authentication required\n");
                r.headers_mut().insert(
                    WWW_AUTHENTICATE,
                    HeaderValue::from_static("Basic realm=\"weir\", charset=\"UTF-8\""),
                );
                return r;
            }
            Err(auth::Refused::Forbidden(why)) => {
                info!(%peer, path = %short(path), reason = %why, "HTTP request refused: not authorized");
                return text(StatusCode::FORBIDDEN, "not authorized\n");
            }
        }
    }
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
        "/" | "/index.html" => asset(console::INDEX_HTML, "text/html; charset=utf-8"),
        "/console.js" => asset(console::CONSOLE_JS, "text/javascript; charset=utf-8"),
        "/console.css" => asset(console::CONSOLE_CSS, "text/css; charset=utf-8"),
        p if p.starts_with("/api/") => {
            let Some(state) = served.borrow().clone() else {
                return json(503, &serde_json::json!({"error": "joining the cluster"}));
            };
            let rest = p.trim_start_matches("/api/").to_string();
            let query = req.uri().query().map(str::to_string);
            let (status, body) = console::api(&state, &rest, query.as_deref()).await;
            if status >= 400 {
                info!(%peer, path = %short(p), status, "console API request refused");
            }
            json(status, &body)
        }
        "/metrics" => {
            let Some(state) = served.borrow().clone() else {
                return text(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "not ready: joining the cluster\n",
                );
            };
            let openmetrics = req
                .headers()
                .get(ACCEPT)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|a| a.contains("application/openmetrics-text"));
            // Reading every partition and group can take a while on a big broker: off the
            // runtime threads that serve Kafka requests.
            let rendered =
                tokio::task::spawn_blocking(move || scrape::render(&state, openmetrics)).await;
            match rendered {
                Ok((body, content_type)) => {
                    let mut r = Response::new(Full::new(Bytes::from(body)));
                    r.headers_mut()
                        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
                    r
                }
                Err(e) => {
                    warn!(error = %e, "rendering /metrics failed");
                    text(StatusCode::INTERNAL_SERVER_ERROR, "rendering failed\n")
                }
            }
        }
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

/// One of the console's files.
fn asset(body: &'static str, content_type: &'static str) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
    let h = r.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(
        "content-security-policy",
        HeaderValue::from_static(
            "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'",
        ),
    );
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    r
}

/// A JSON response.
fn json(status: u16, body: &serde_json::Value) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body.to_string())));
    *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let h = r.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    h.insert("cache-control", HeaderValue::from_static("no-store"));
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    r
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
