//! [`MetaNode`]: this node's part of the metadata quorum. It opens the log store, runs
//! openraft, serves the controller listener (Raft RPCs and forwarded commands), runs
//! commands when it leads, forwards them to the leader when it does not, and fences
//! brokers whose heartbeats stop while it leads.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex as StdMutex, Weak};
use std::time::{Duration, Instant};

use openraft::error::{CheckIsLeaderError, ClientWriteError, RaftError};
use openraft::{BasicNode, Config, Raft, SnapshotPolicy};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tracing::{debug, info, warn};

use super::command::{self, Command, Outcome, SubmitError};
use super::forward::Forwarder;
use super::log_store::LogStore;
use super::network::{self, Network};
use super::rpc::{self, Request, Response};
use super::state_machine::{Published, StateMachine};
use super::{now_ms, raft_id, TypeConfig};
use crate::controller::Controller;
use crate::error::MetaError;
use crate::membership::Registration;

/// A std mutex's guard, even if a holder panicked (the data is plain maps and times).
fn lock<T>(m: &StdMutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// How long a command may take to find a leader and be applied.
const SUBMIT_TIMEOUT: Duration = Duration::from_secs(30);
/// How often the leader looks for brokers to fence.
const FENCE_CHECK: Duration = Duration::from_millis(250);

/// How this node takes part in the quorum.
#[derive(Debug, Clone)]
pub struct QuorumConfig {
    /// This node's id.
    pub node_id: i32,
    /// The data dir (the metadata log goes in `__cluster_metadata-0`).
    pub data_dir: PathBuf,
    /// The controller listener, if any (needed with other nodes).
    pub listen: Option<SocketAddr>,
    /// The voters: (node id, controller HOST:PORT). Empty: this node alone.
    pub voters: Vec<(i32, String)>,
    /// Defaults the controller applies to new topics.
    pub controller: Controller,
    /// `broker.session.timeout.ms`: a broker silent this long is fenced.
    pub session_timeout_ms: u64,
    /// Mutual TLS between the nodes, if the controller listener is SSL.
    pub tls: Option<super::QuorumTls>,
}

/// Why the quorum could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum QuorumError {
    /// The metadata log could not be opened.
    #[error("metadata log: {0}")]
    Storage(#[from] weir_storage::StorageError),
    /// The controller listener could not be bound.
    #[error("controller listener: {0}")]
    Io(#[from] std::io::Error),
    /// openraft refused to start.
    #[error("raft: {0}")]
    Raft(String),
}

/// One node's view of the metadata quorum.
#[derive(Debug, Clone, Default)]
pub struct QuorumStatus {
    /// The active controller, if known.
    pub leader: Option<i32>,
    /// Whether this node is the active controller.
    pub is_leader: bool,
    /// The Raft term.
    pub term: u64,
    /// The index of the last entry in this node's metadata log.
    pub last_log_index: u64,
    /// The index of the last entry applied to this node's image.
    pub last_applied: u64,
    /// On the leader: entries each other voter is behind it, by node id.
    pub follower_lag: Vec<(i32, u64)>,
}

/// This node's part of the metadata quorum.
pub struct MetaNode {
    node_id: i32,
    raft: Raft<TypeConfig>,
    store: LogStore,
    published: watch::Receiver<Published>,
    controller: Controller,
    voters: Vec<(i32, String)>,
    /// Serialises commands on the leader.
    lock: tokio::sync::Mutex<()>,
    heartbeats: StdMutex<HashMap<i32, Instant>>,
    leader_since: StdMutex<Option<Instant>>,
    session_timeout: Duration,
    /// Connections to the active controller, kept for forwarded commands.
    forwarder: Forwarder,
    /// Mutual TLS between the nodes, if any.
    tls: Option<super::QuorumTls>,
}

impl MetaNode {
    /// Starts this node: opens the log, runs Raft (initialising the cluster on first start
    /// if this node is a voter), serves the controller listener and starts fencing.
    pub async fn start(cfg: QuorumConfig) -> Result<Arc<Self>, QuorumError> {
        let store = LogStore::open(&cfg.data_dir, now_ms())?;
        let (sm, published) = StateMachine::new();
        let config = Config {
            cluster_name: "weir".into(),
            election_timeout_min: 500,
            election_timeout_max: 1000,
            heartbeat_interval: 150,
            snapshot_policy: SnapshotPolicy::Never,
            ..Config::default()
        }
        .validate()
        .map_err(|e| QuorumError::Raft(e.to_string()))?;
        // This node's own view of the voters' addresses wins over the membership's (as
        // Kafka's controller.quorum.voters is each node's own setting).
        let network = Network::new(
            cfg.voters
                .iter()
                .filter(|(id, addr)| *id != cfg.node_id && !addr.is_empty())
                .map(|(id, addr)| (raft_id(*id), addr.clone()))
                .collect(),
            cfg.tls.clone(),
        );
        let raft = Raft::new(
            raft_id(cfg.node_id),
            Arc::new(config),
            network,
            store.clone(),
            sm,
        )
        .await
        .map_err(|e| QuorumError::Raft(e.to_string()))?;
        let voters = if cfg.voters.is_empty() {
            let addr = cfg.listen.map(|a| a.to_string()).unwrap_or_default();
            vec![(cfg.node_id, addr)]
        } else {
            cfg.voters.clone()
        };
        let node = Arc::new(Self {
            node_id: cfg.node_id,
            raft,
            store,
            published,
            controller: cfg.controller.clone(),
            voters: voters.clone(),
            lock: tokio::sync::Mutex::new(()),
            heartbeats: StdMutex::new(HashMap::new()),
            leader_since: StdMutex::new(None),
            session_timeout: Duration::from_millis(cfg.session_timeout_ms),
            forwarder: Forwarder::new(cfg.tls.clone()),
            tls: cfg.tls.clone(),
        });
        if let Some(addr) = cfg.listen {
            let listener = TcpListener::bind(addr).await?;
            let weak = Arc::downgrade(&node);
            tokio::spawn(accept_loop(listener, weak));
        }
        let is_voter = voters.iter().any(|(id, _)| *id == cfg.node_id);
        let initialized = node
            .raft
            .is_initialized()
            .await
            .map_err(|e| QuorumError::Raft(e.to_string()))?;
        if is_voter && !initialized {
            let members: BTreeMap<u64, BasicNode> = voters
                .iter()
                .map(|(id, addr)| (raft_id(*id), BasicNode::new(addr.clone())))
                .collect();
            // Every voter proposes the same membership; the first to win an election keeps it.
            if let Err(e) = node.raft.initialize(members).await {
                debug!(error = %e, "metadata quorum already initialized");
            }
        }
        tokio::spawn(fence_loop(Arc::downgrade(&node)));
        info!(node_id = cfg.node_id, voters = ?voters, "metadata quorum started");
        Ok(node)
    }

    /// The image as applied so far, and each new one.
    pub fn published(&self) -> watch::Receiver<Published> {
        self.published.clone()
    }

    /// How many connections this node has opened to forward commands to a controller.
    pub fn forward_connections_opened(&self) -> u64 {
        self.forwarder.opened()
    }

    /// This node's view of the quorum now, for metrics.
    pub fn status(&self) -> QuorumStatus {
        let m = self.raft.metrics().borrow().clone();
        let last = m.last_log_index.unwrap_or(0);
        QuorumStatus {
            leader: m.current_leader.and_then(|l| i32::try_from(l).ok()),
            is_leader: m.current_leader == Some(raft_id(self.node_id)),
            term: m.current_term,
            last_log_index: last,
            last_applied: m.last_applied.map_or(0, |l| l.index),
            follower_lag: m
                .replication
                .map(|r| {
                    r.iter()
                        .filter(|(id, _)| **id != raft_id(self.node_id))
                        .filter_map(|(id, matched)| {
                            let id = i32::try_from(*id).ok()?;
                            Some((id, last.saturating_sub(matched.map_or(0, |l| l.index))))
                        })
                        .collect()
                })
                .unwrap_or_default(),
        }
    }

    /// The active controller (the Raft leader), if one is known.
    pub async fn leader(&self) -> Option<i32> {
        self.raft
            .current_leader()
            .await
            .and_then(|l| i32::try_from(l).ok())
    }

    /// Runs `cmd` on the controller (here if this node leads, else on the leader) and waits
    /// until this node has applied its records.
    pub async fn submit(&self, cmd: Command) -> Result<Outcome, MetaError> {
        let deadline = Instant::now() + SUBMIT_TIMEOUT;
        loop {
            let attempt = match self.raft.current_leader().await {
                Some(l) if l == raft_id(self.node_id) => Some(self.execute(cmd.clone()).await),
                Some(l) => match self.address_of(l) {
                    Some(addr) => match self.forwarder.submit(&addr, &cmd, SUBMIT_TIMEOUT).await {
                        Ok(r) => Some(r),
                        Err(e) => {
                            debug!(leader = l, error = %e, "could not reach the controller");
                            None
                        }
                    },
                    None => None,
                },
                // A broker not yet in the membership (joining) hears from no leader: ask
                // the voters in turn; the leader among them runs the command.
                None => self.submit_to_voters(&cmd).await,
            };
            match attempt {
                Some(Ok(outcome)) => {
                    self.wait_applied(outcome.applied, deadline).await?;
                    return Ok(outcome);
                }
                Some(Err(SubmitError::Failed(e))) => return Err(MetaError::Unavailable(e)),
                Some(Err(SubmitError::NotLeader)) | None => {}
            }
            if Instant::now() >= deadline {
                return Err(MetaError::Unavailable(
                    "no controller answered in time".into(),
                ));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Tries `cmd` on each other voter until one (the leader) runs it.
    async fn submit_to_voters(&self, cmd: &Command) -> Option<Result<Outcome, SubmitError>> {
        for (id, addr) in &self.voters {
            if *id == self.node_id || addr.is_empty() {
                continue;
            }
            match network::submit_to(addr, cmd, Duration::from_secs(5), self.tls.as_ref()).await {
                Ok(Err(SubmitError::NotLeader)) => {}
                Ok(r) => return Some(r),
                Err(e) => debug!(voter = id, error = %e, "could not reach a voter"),
            }
        }
        None
    }

    /// Waits until this node's image has applied `applied` entries.
    async fn wait_applied(&self, applied: u64, deadline: Instant) -> Result<(), MetaError> {
        let mut rx = self.published.clone();
        let reached = tokio::time::timeout_at(deadline.into(), async {
            rx.wait_for(|p| p.applied >= applied).await.is_ok()
        })
        .await;
        if reached == Ok(true) {
            Ok(())
        } else {
            Err(MetaError::Unavailable(
                "the change did not reach this node in time".into(),
            ))
        }
    }

    /// The controller address of node `id`: this node's voters setting, else the Raft
    /// membership's.
    fn address_of(&self, id: u64) -> Option<String> {
        if let Some((_, addr)) = self
            .voters
            .iter()
            .find(|(v, addr)| raft_id(*v) == id && !addr.is_empty())
        {
            return Some(addr.clone());
        }
        let metrics = self.raft.metrics();
        let m = metrics.borrow();
        m.membership_config
            .membership()
            .get_node(&id)
            .map(|n| n.addr.clone())
            .filter(|a| !a.is_empty())
    }

    /// Runs a command here, if this node leads.
    async fn execute(&self, cmd: Command) -> Result<Outcome, SubmitError> {
        if let Command::Heartbeat { node_id } = &cmd {
            lock(&self.heartbeats).insert(*node_id, Instant::now());
            // Nothing to write unless the broker was fenced.
            let fenced = self
                .published
                .borrow()
                .image
                .brokers
                .get(node_id)
                .is_some_and(|b| b.fenced);
            if !fenced {
                let applied = self.published.borrow().applied;
                return Ok(Outcome {
                    applied,
                    results: vec![Ok(())],
                    producer_ids: None,
                });
            }
        }
        let _guard = self.lock.lock().await;
        self.raft.ensure_linearizable().await.map_err(|e| match e {
            RaftError::APIError(CheckIsLeaderError::ForwardToLeader(_)) => SubmitError::NotLeader,
            other => SubmitError::Failed(other.to_string()),
        })?;
        let (image, applied_now) = {
            let p = self.published.borrow();
            (p.image.clone(), p.applied)
        };
        let register = match &cmd {
            Command::Register(r) => Some(r.clone()),
            _ => None,
        };
        let (records, results, producer_ids) = command::run(&self.controller, &image, cmd);
        let applied = if records.is_empty() {
            applied_now
        } else {
            self.write(records).await?
        };
        if let Some(r) = register {
            lock(&self.heartbeats).insert(r.node_id, Instant::now());
            self.add_learner(&r).await;
        }
        Ok(Outcome {
            applied,
            results,
            producer_ids,
        })
    }

    /// Writes records as one entry; the applied count once it is applied here.
    async fn write(
        &self,
        records: Vec<crate::records::MetadataRecord>,
    ) -> Result<u64, SubmitError> {
        match self.raft.client_write(records).await {
            Ok(r) => Ok(r.log_id.index + 1),
            Err(RaftError::APIError(ClientWriteError::ForwardToLeader(_))) => {
                Err(SubmitError::NotLeader)
            }
            Err(e) => Err(SubmitError::Failed(e.to_string())),
        }
    }

    /// A registered broker that is not a voter follows the metadata log as a learner.
    async fn add_learner(&self, r: &Registration) {
        if self.voters.iter().any(|(id, _)| *id == r.node_id) {
            return;
        }
        let Some(addr) = r.controller.clone() else {
            return;
        };
        let id = raft_id(r.node_id);
        if self.address_of(id).as_deref() == Some(addr.as_str()) {
            return;
        }
        if let Err(e) = self.raft.add_learner(id, BasicNode::new(addr), false).await {
            warn!(node_id = r.node_id, error = %e, "could not add a broker as a metadata learner");
        }
    }

    /// Fences the brokers whose heartbeats stopped, if this node leads (never itself: a
    /// controller that runs this is alive).
    async fn fence_silent(&self) {
        let leads = self.raft.current_leader().await == Some(raft_id(self.node_id));
        let since = {
            let mut s = lock(&self.leader_since);
            if !leads {
                *s = None;
                return;
            }
            *s.get_or_insert_with(Instant::now)
        };
        // A new leader gives every broker one session to reach it.
        if since.elapsed() < self.session_timeout {
            return;
        }
        let image = self.published.borrow().image.clone();
        let silent: Vec<i32> = {
            let beats = lock(&self.heartbeats);
            image
                .brokers
                .values()
                .filter(|b| !b.fenced && b.node_id != self.node_id)
                .filter(|b| {
                    beats.get(&b.node_id).copied().unwrap_or(since).elapsed() > self.session_timeout
                })
                .map(|b| b.node_id)
                .collect()
        };
        for node_id in silent {
            let _guard = self.lock.lock().await;
            let image = self.published.borrow().image.clone();
            let records = self.controller.fence_broker(&image, node_id);
            if records.is_empty() {
                continue;
            }
            warn!(node_id, "fencing a broker that stopped heartbeating");
            if let Err(e) = self.write(records).await {
                warn!(node_id, error = %e, "could not fence a broker");
            }
        }
    }

    /// Stops Raft and flushes the metadata log.
    pub async fn shutdown(&self) {
        if let Err(e) = self.raft.shutdown().await {
            warn!(error = %e, "metadata quorum did not stop cleanly");
        }
        if let Err(e) = self.store.flush().await {
            warn!(error = %e, "flushing the metadata log failed");
        }
    }
}

async fn fence_loop(weak: Weak<MetaNode>) {
    let mut ticker = tokio::time::interval(FENCE_CHECK);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let Some(node) = weak.upgrade() else { return };
        node.fence_silent().await;
    }
}

async fn accept_loop(listener: TcpListener, weak: Weak<MetaNode>) {
    loop {
        let Ok((socket, peer)) = listener.accept().await else {
            continue;
        };
        if weak.strong_count() == 0 {
            return;
        }
        let weak = weak.clone();
        let tls = weak.upgrade().and_then(|n| n.tls.clone());
        tokio::spawn(async move {
            let socket = match super::transport::accept(socket, tls.as_ref()).await {
                Ok(s) => s,
                Err(e) => {
                    info!(%peer, error = %e, "controller connection refused: TLS handshake failed");
                    return;
                }
            };
            if let Err(e) = serve(socket, weak).await {
                debug!(%peer, error = %e, "controller connection closed");
            }
        });
    }
}

/// Answers one connection's requests in turn until it closes.
async fn serve(mut socket: super::transport::Stream, weak: Weak<MetaNode>) -> std::io::Result<()> {
    loop {
        let req: Request = rpc::read(&mut socket).await?;
        let Some(node) = weak.upgrade() else {
            return Ok(());
        };
        let resp = match req {
            Request::Append(r) => Response::Append(node.raft.append_entries(r).await),
            Request::Vote(r) => Response::Vote(node.raft.vote(r).await),
            Request::Snapshot(r) => Response::Snapshot(node.raft.install_snapshot(r).await),
            Request::Submit(cmd) => {
                let leads = node.raft.current_leader().await == Some(raft_id(node.node_id));
                Response::Submit(if leads {
                    node.execute(cmd).await
                } else {
                    Err(SubmitError::NotLeader)
                })
            }
        };
        drop(node);
        rpc::write(&mut socket, &resp).await?;
    }
}
