//! One connection to a broker. Requests are written as they are sent and matched to their
//! responses by correlation id, so many can be in flight at once (pipelining).

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Arc, Mutex};

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufWriter};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};
use weir_protocol::codec::{Decode, Reader, Request};
use weir_protocol::frame;
use weir_protocol::messages::{
    ApiKey, ApiVersionsRequest, ApiVersionsResponse, RequestHeader, ResponseHeader,
};

use crate::error::ClientError;

/// Largest response this client accepts.
const MAX_RESPONSE: usize = 256 * 1024 * 1024;

/// Requests waiting for their responses, by correlation id; `None` once the connection is
/// closed, so that a request sent after that fails at once instead of waiting forever.
type Waiters = Arc<Mutex<Option<HashMap<i32, (i16, oneshot::Sender<Bytes>)>>>>;

/// A connection with negotiated API versions.
pub struct Connection {
    tx: mpsc::Sender<BytesMut>,
    waiters: Waiters,
    next_id: AtomicI32,
    client_id: String,
    versions: HashMap<i16, (i16, i16)>,
}

impl Connection {
    /// Connects to `addr` ("host:port") and negotiates versions with ApiVersions.
    pub async fn connect(addr: &str, client_id: &str) -> Result<Connection, ClientError> {
        Self::connect_with(addr, client_id, None).await
    }

    /// Connects to `addr`, inside TLS when `tls` is given (the broker's certificate must
    /// name the host of `addr`), and negotiates versions.
    pub async fn connect_with(
        addr: &str,
        client_id: &str,
        tls: Option<&crate::tls::ClientTls>,
    ) -> Result<Connection, ClientError> {
        let socket = TcpStream::connect(addr)
            .await
            .map_err(|e| ClientError::Io {
                context: format!("connecting to {addr}"),
                source: e,
            })?;
        let _ = socket.set_nodelay(true);
        match tls {
            None => {
                let (rd, wr) = socket.into_split();
                Self::start(rd, wr, client_id).await
            }
            Some(tls) => {
                let stream = tls.connect(addr, socket).await?;
                let (rd, wr) = tokio::io::split(stream);
                Self::start(rd, wr, client_id).await
            }
        }
    }

    async fn start<R, W>(rd: R, wr: W, client_id: &str) -> Result<Connection, ClientError>
    where
        R: AsyncRead + Unpin + Send + 'static,
        W: AsyncWrite + Unpin + Send + 'static,
    {
        let (tx, rx) = mpsc::channel(1024);
        let waiters: Waiters = Arc::new(Mutex::new(Some(HashMap::new())));
        tokio::spawn(write_loop(wr, rx));
        tokio::spawn(read_loop(rd, waiters.clone()));
        let mut conn = Connection {
            tx,
            waiters,
            next_id: AtomicI32::new(0),
            client_id: client_id.to_string(),
            versions: HashMap::new(),
        };
        let resp: ApiVersionsResponse = conn.send_at(&ApiVersionsRequest::default(), 0).await?;
        ClientError::check(resp.error_code, || "ApiVersions".into())?;
        conn.versions = resp
            .api_keys
            .iter()
            .map(|k| (k.api_key, (k.min_version, k.max_version)))
            .collect();
        Ok(conn)
    }

    /// The version both sides speak for `R`: the highest common one.
    pub fn version_of<R: Request>(&self) -> Result<i16, ClientError> {
        let (min, max) = self
            .versions
            .get(&R::API_KEY)
            .copied()
            .ok_or(ClientError::Unsupported(R::API_KEY))?;
        let v = max.min(R::MAX_VERSION);
        if v < min.max(R::MIN_VERSION) {
            return Err(ClientError::Unsupported(R::API_KEY));
        }
        Ok(v)
    }

    /// Sends `req` at the negotiated version and waits for its response.
    pub async fn send<R: Request>(&self, req: &R) -> Result<R::Response, ClientError> {
        let v = self.version_of::<R>()?;
        self.send_at(req, v).await
    }

    /// Sends `req` now (in order with other sends) and returns a future of its response, so
    /// that several requests can be in flight.
    pub async fn send_pipelined<R: Request>(
        &self,
        req: &R,
        version: i16,
    ) -> Result<impl Future<Output = Result<R::Response, ClientError>>, ClientError> {
        let rx = self.enqueue(req, version, true).await?;
        Ok(async move {
            let body = rx
                .ok_or(ClientError::Closed)?
                .await
                .map_err(|_| ClientError::Closed)?;
            decode_body::<R::Response>(body, version)
        })
    }

    /// Sends a request that gets no response (a produce with acks=0).
    pub async fn send_oneway<R: Request>(&self, req: &R, version: i16) -> Result<(), ClientError> {
        self.enqueue(req, version, false).await.map(|_| ())
    }

    /// Sends `req` at `version` and waits for its response.
    pub async fn send_at<R: Request>(
        &self,
        req: &R,
        version: i16,
    ) -> Result<R::Response, ClientError> {
        self.send_pipelined(req, version).await?.await
    }

    async fn enqueue<R: Request>(
        &self,
        req: &R,
        version: i16,
        expect_response: bool,
    ) -> Result<Option<oneshot::Receiver<Bytes>>, ClientError> {
        let key = ApiKey::from_i16(R::API_KEY).ok_or(ClientError::Unsupported(R::API_KEY))?;
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let header = RequestHeader {
            request_api_key: R::API_KEY,
            request_api_version: version,
            correlation_id: id,
            client_id: Some(self.client_id.clone()),
            ..Default::default()
        };
        let buf =
            frame::encode_request(&header, key.request_header_version(version), req, version)?;
        let rx = if expect_response {
            let (tx, rx) = oneshot::channel();
            match lock(&self.waiters).as_mut() {
                Some(w) => w.insert(id, (key.response_header_version(version), tx)),
                None => return Err(ClientError::Closed),
            };
            Some(rx)
        } else {
            None
        };
        self.tx.send(buf).await.map_err(|_| ClientError::Closed)?;
        Ok(rx)
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    match m.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}

fn decode_body<T: Decode>(body: Bytes, version: i16) -> Result<T, ClientError> {
    let mut r = Reader::new(body);
    Ok(T::decode(&mut r, version)?)
}

async fn write_loop<W: AsyncWrite + Unpin>(wr: W, mut rx: mpsc::Receiver<BytesMut>) {
    let mut wr = BufWriter::with_capacity(256 * 1024, wr);
    while let Some(frame) = rx.recv().await {
        if wr.write_all(&frame).await.is_err() {
            return;
        }
        if rx.is_empty() && wr.flush().await.is_err() {
            return;
        }
    }
}

/// Reads responses until the connection ends, then fails every request still waiting and
/// every later one.
async fn read_loop<R: AsyncRead + Unpin>(rd: R, waiters: Waiters) {
    read_responses(rd, &waiters).await;
    *lock(&waiters) = None;
}

async fn read_responses<R: AsyncRead + Unpin>(mut rd: R, waiters: &Waiters) {
    let mut buf = BytesMut::with_capacity(256 * 1024);
    loop {
        while buf.len() >= 4 {
            let size = i32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]);
            let Ok(size) = usize::try_from(size) else {
                return;
            };
            if !(4..=MAX_RESPONSE).contains(&size) {
                return;
            }
            if buf.len() < 4 + size {
                buf.reserve(4 + size - buf.len());
                break;
            }
            let frame = buf.split_to(4 + size).freeze().slice(4..);
            let id = i32::from_be_bytes([frame[0], frame[1], frame[2], frame[3]]);
            let Some((header_version, tx)) = lock(waiters).as_mut().and_then(|w| w.remove(&id))
            else {
                continue;
            };
            let mut r = Reader::new(frame);
            if ResponseHeader::decode(&mut r, header_version).is_err() {
                return;
            }
            let _ = tx.send(r.into_bytes());
        }
        match rd.read_buf(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
    }
}
