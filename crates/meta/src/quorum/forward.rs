//! Commands forwarded to the active controller over connections kept open between them:
//! a few idle connections to the controller's address are kept, a command takes one (or
//! opens one), and gives it back once answered. When the controller moves, the idle
//! connections to the old one are dropped; a kept connection that fails is replaced by a
//! fresh one at once.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use super::command::{Command, Outcome, SubmitError};
use super::rpc::{self, Request, Response};
use super::transport::{self, QuorumTls, Stream};

/// Most idle connections kept (commands in flight at once beyond this open their own).
const MAX_IDLE: usize = 4;

/// Idle connections to the last controller address used.
#[derive(Default)]
pub(crate) struct Forwarder {
    idle: Mutex<(String, Vec<Stream>)>,
    opened: AtomicU64,
    tls: Option<QuorumTls>,
}

impl Forwarder {
    /// No connections yet; they are opened through `tls` if given.
    pub(crate) fn new(tls: Option<QuorumTls>) -> Self {
        Forwarder {
            tls,
            ..Forwarder::default()
        }
    }

    /// Sends `cmd` to the controller at `addr` within `ttl` and returns its answer.
    pub(crate) async fn submit(
        &self,
        addr: &str,
        cmd: &Command,
        ttl: Duration,
    ) -> std::io::Result<Result<Outcome, SubmitError>> {
        let attempt = async {
            if let Some(mut s) = self.take(addr) {
                // A kept connection may have been closed by the other side since (it
                // restarted, or stopped leading): then a fresh one is tried at once.
                if let Ok(r) = call(&mut s, cmd).await {
                    self.give_back(addr, s);
                    return Ok(r);
                }
            }
            let mut s = transport::connect(addr, self.tls.as_ref()).await?;
            self.opened.fetch_add(1, Ordering::Relaxed);
            let r = call(&mut s, cmd).await?;
            self.give_back(addr, s);
            Ok(r)
        };
        tokio::time::timeout(ttl, attempt).await.map_err(|_| {
            std::io::Error::new(std::io::ErrorKind::TimedOut, "controller timed out")
        })?
    }

    /// How many connections forwarding has opened so far.
    pub(crate) fn opened(&self) -> u64 {
        self.opened.load(Ordering::Relaxed)
    }

    /// An idle connection to `addr`; idle ones to any other address are dropped.
    fn take(&self, addr: &str) -> Option<Stream> {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        if idle.0 != addr {
            *idle = (addr.to_owned(), Vec::new());
            return None;
        }
        idle.1.pop()
    }

    /// Keeps `s` for the next command to `addr`.
    fn give_back(&self, addr: &str, s: Stream) {
        let mut idle = self.idle.lock().unwrap_or_else(|e| e.into_inner());
        if idle.0 == addr && idle.1.len() < MAX_IDLE {
            idle.1.push(s);
        }
    }
}

/// One request and its answer on `s`.
async fn call(s: &mut Stream, cmd: &Command) -> std::io::Result<Result<Outcome, SubmitError>> {
    rpc::write(s, &Request::Submit(cmd.clone())).await?;
    match rpc::read::<_, Response>(s).await? {
        Response::Submit(r) => Ok(r),
        _ => Err(std::io::Error::other("unexpected response")),
    }
}
