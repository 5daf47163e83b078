//! openraft's network over the controller listeners: one connection per peer, reused while
//! it works and opened again when it fails; every call is bounded by openraft's deadline.

use std::collections::HashMap;
use std::time::Duration;

use openraft::error::{
    InstallSnapshotError, NetworkError, RPCError, RaftError, RemoteError, Unreachable,
};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use openraft::BasicNode;

use super::rpc::{self, Request, Response};
use super::transport::{self, QuorumTls, Stream};
use super::TypeConfig;

/// Makes a [`Conn`] per peer, to the address this node's voters setting gives it, else to
/// the one in the membership.
pub(crate) struct Network {
    addrs: HashMap<u64, String>,
    tls: Option<QuorumTls>,
}

impl Network {
    /// A factory with these addresses (Raft id -> HOST:PORT) ahead of the membership's,
    /// connecting through `tls` if given.
    pub(crate) fn new(addrs: HashMap<u64, String>, tls: Option<QuorumTls>) -> Self {
        Self { addrs, tls }
    }
}

impl RaftNetworkFactory<TypeConfig> for Network {
    type Network = Conn;

    async fn new_client(&mut self, target: u64, node: &BasicNode) -> Conn {
        let addr = self.addrs.get(&target).unwrap_or(&node.addr).clone();
        Conn {
            target,
            addr,
            tls: self.tls.clone(),
            stream: None,
        }
    }
}

/// A connection to one peer's controller listener.
pub(crate) struct Conn {
    target: u64,
    addr: String,
    tls: Option<QuorumTls>,
    stream: Option<Stream>,
}

/// A failed call: the peer could not be reached, or answered nonsense.
#[derive(Debug, thiserror::Error)]
enum CallError {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("timed out")]
    Timeout,
}

impl Conn {
    async fn call(&mut self, req: &Request, ttl: Duration) -> Result<Response, CallError> {
        let addr = self.addr.clone();
        let tls = self.tls.clone();
        let stream = &mut self.stream;
        let attempt = async move {
            if stream.is_none() {
                *stream = Some(transport::connect(&addr, tls.as_ref()).await?);
            }
            let s = stream
                .as_mut()
                .ok_or_else(|| std::io::Error::other("no connection"))?;
            rpc::write(s, req).await?;
            rpc::read::<_, Response>(s).await
        };
        match tokio::time::timeout(ttl, attempt).await {
            Ok(Ok(r)) => Ok(r),
            Ok(Err(e)) => {
                self.stream = None;
                Err(CallError::Io(e))
            }
            Err(_) => {
                self.stream = None;
                Err(CallError::Timeout)
            }
        }
    }
}

fn unreachable<E: std::error::Error>(e: &CallError) -> RPCError<u64, BasicNode, E> {
    RPCError::Unreachable(Unreachable::new(e))
}

fn unexpected<E: std::error::Error>() -> RPCError<u64, BasicNode, E> {
    RPCError::Network(NetworkError::new(&std::io::Error::other(
        "unexpected response",
    )))
}

impl RaftNetwork<TypeConfig> for Conn {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<u64>, RPCError<u64, BasicNode, RaftError<u64>>> {
        match self.call(&Request::Append(rpc), option.hard_ttl()).await {
            Ok(Response::Append(Ok(r))) => Ok(r),
            Ok(Response::Append(Err(e))) => {
                Err(RPCError::RemoteError(RemoteError::new(self.target, e)))
            }
            Ok(_) => Err(unexpected()),
            Err(e) => Err(unreachable(&e)),
        }
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<
        InstallSnapshotResponse<u64>,
        RPCError<u64, BasicNode, RaftError<u64, InstallSnapshotError>>,
    > {
        match self.call(&Request::Snapshot(rpc), option.hard_ttl()).await {
            Ok(Response::Snapshot(Ok(r))) => Ok(r),
            Ok(Response::Snapshot(Err(e))) => {
                Err(RPCError::RemoteError(RemoteError::new(self.target, e)))
            }
            Ok(_) => Err(unexpected()),
            Err(e) => Err(unreachable(&e)),
        }
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<u64>,
        option: RPCOption,
    ) -> Result<VoteResponse<u64>, RPCError<u64, BasicNode, RaftError<u64>>> {
        match self.call(&Request::Vote(rpc), option.hard_ttl()).await {
            Ok(Response::Vote(Ok(r))) => Ok(r),
            Ok(Response::Vote(Err(e))) => {
                Err(RPCError::RemoteError(RemoteError::new(self.target, e)))
            }
            Ok(_) => Err(unexpected()),
            Err(e) => Err(unreachable(&e)),
        }
    }
}

/// Sends a broker command to the node at `addr` (the leader) and returns its answer.
pub(crate) async fn submit_to(
    addr: &str,
    cmd: &super::Command,
    ttl: Duration,
    tls: Option<&QuorumTls>,
) -> std::io::Result<Result<super::Outcome, super::command::SubmitError>> {
    let attempt = async {
        let mut s = transport::connect(addr, tls).await?;
        rpc::write(&mut s, &Request::Submit(cmd.clone())).await?;
        match rpc::read::<_, Response>(&mut s).await? {
            Response::Submit(r) => Ok(r),
            _ => Err(std::io::Error::other("unexpected response")),
        }
    };
    tokio::time::timeout(ttl, attempt)
        .await
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "controller timed out"))?
}
