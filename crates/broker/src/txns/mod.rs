//! The transaction coordinators, a user of the coordinator runtime ([`crate::runtime`]):
//! one [`TxnCoordinator`] per `__transaction_state` partition led here (the topic created on
//! first use, as Kafka does), with their records held by the ISR before a request that
//! depends on them is answered, and the markers of ending transactions written.
//!
//! - `machine`: the coordinator's record format and replay.
//! - `markers`: writing commit and abort markers, then completing the transaction.
//! - `implicit`: transaction version 2's partitions added by Produce and TxnOffsetCommit.

mod implicit;
mod machine;
mod markers;

use std::sync::Arc;
use std::time::Duration;

use tracing::{info, warn};
use weir_coordinator::txn::{
    EndOutcome, InitOutcome, MarkerJob, TxnConfig, TxnCoordinator, TxnMetadata, TxnRecord,
};
use weir_protocol::error::ErrorCode;

pub(crate) use markers::write_one as write_marker;

use crate::groups::Groups;
use crate::host::{now_ms, Host};
use crate::runtime::{self, Coordinator, InternalTopic, Runtime};

/// The internal topic that holds transaction state.
pub const TXN_TOPIC: &str = "__transaction_state";

/// One `__transaction_state` partition and the coordinator of its transactional ids.
type TxnShard = runtime::Shard<TxnCoordinator>;

/// The transaction coordinators of this broker.
pub struct Txns {
    runtime: Runtime<TxnCoordinator>,
    config: TxnConfig,
    /// The group coordinators, which write the markers on `__consumer_offsets`.
    groups: Arc<Groups>,
    /// Signalled whenever a transaction completes (its markers are all written).
    completed: tokio::sync::Notify,
}

impl Coordinator for Txns {
    type Machine = TxnCoordinator;

    fn runtime(&self) -> &Runtime<TxnCoordinator> {
        &self.runtime
    }

    fn fresh(&self) -> TxnCoordinator {
        TxnCoordinator::new(self.config.clone())
    }

    /// Redoes the markers of transactions that were being ended.
    fn serving(self: &Arc<Self>, shard: &Arc<TxnShard>, effects: Vec<MarkerJob>) {
        for job in effects {
            info!(transactional_id = %job.transactional_id, commit = job.commit, "finishing a transaction that was being ended");
            markers::spawn(self, shard.clone(), job);
        }
    }
}

impl Txns {
    /// No coordinators yet; they come and go with leadership ([`Txns::reconcile`]).
    pub fn new(
        host: Arc<Host>,
        groups: Arc<Groups>,
        config: TxnConfig,
        num_partitions: i32,
    ) -> Self {
        let topic = InternalTopic {
            name: TXN_TOPIC,
            partitions: num_partitions,
            replication_factor: host.config.transaction_state_log_replication_factor,
            configs: |replication_factor| {
                vec![
                    ("cleanup.policy", "compact"),
                    ("compression.type", "uncompressed"),
                    ("segment.bytes", "104857600"),
                    ("unclean.leader.election.enable", "false"),
                    // transaction.state.log.min.isr (2 in Kafka), within the replicas.
                    (
                        "min.insync.replicas",
                        if replication_factor > 1 { "2" } else { "1" },
                    ),
                ]
            },
            min_isr: None,
        };
        Self {
            runtime: Runtime::new(host, topic),
            config,
            groups,
            completed: tokio::sync::Notify::new(),
        }
    }

    /// The coordinator settings.
    pub fn config(&self) -> &TxnConfig {
        &self.config
    }

    fn host(&self) -> &Arc<Host> {
        self.runtime.host()
    }

    /// Starts the timer that aborts timed-out transactions and expires idle ids.
    pub fn start(self: &Arc<Self>) {
        let period = Duration::from_millis(self.config.abort_check_interval_ms.max(1));
        let remove_every = self.config.remove_expired_interval_ms as i64;
        let mut next_removal = now_ms() + remove_every;
        runtime::every(self, period, move |txns, now| {
            let remove = now >= next_removal;
            if remove {
                next_removal = now + remove_every;
            }
            async move {
                for shard in txns.runtime.shards() {
                    txns.tick_shard(&shard, remove).await;
                }
            }
        });
    }

    /// Loads a coordinator for each `__transaction_state` partition this broker has come to
    /// lead and drops those of partitions it no longer leads, or leads at a newer epoch.
    pub(crate) fn reconcile(self: &Arc<Self>) {
        runtime::reconcile(self);
    }

    /// Aborts the shard's timed-out transactions and, when due, removes idle ids.
    async fn tick_shard(self: &Arc<Self>, shard: &Arc<TxnShard>, remove: bool) {
        let result = self.apply(shard, |c, now| {
            let aborted = c.abort_timed_out(now);
            let mut records: Vec<TxnRecord> = aborted.iter().map(|(r, _)| r.clone()).collect();
            if remove {
                records.extend(c.expire_ids(now));
            }
            let jobs: Vec<MarkerJob> = aborted.into_iter().map(|(_, j)| j).collect();
            Ok((jobs, records))
        });
        let Ok((jobs, last)) = result else { return };
        if !self.durable(shard, last).await {
            return;
        }
        for job in jobs {
            info!(transactional_id = %job.transactional_id, producer_id = job.producer_id, "aborting a transaction past its timeout");
            markers::spawn(self, shard.clone(), job);
        }
    }

    /// The `__transaction_state` partition that owns `transactional_id`.
    pub fn partition_for(&self, transactional_id: &str) -> i32 {
        self.runtime.partition_for(transactional_id)
    }

    /// Makes sure `__transaction_state` exists (FindCoordinator does, as in Kafka).
    pub(crate) async fn ensure_topic(self: &Arc<Self>) -> Result<(), ErrorCode> {
        runtime::ensure_topic(self).await
    }

    /// Runs `op` on the shard's coordinator under its lock and appends the records it
    /// returns; gives the value and the last offset written, if any. A failed append marks
    /// the shard failed and reloads it.
    fn apply<T>(
        self: &Arc<Self>,
        shard: &Arc<TxnShard>,
        op: impl FnOnce(&mut TxnCoordinator, i64) -> Result<(T, Vec<TxnRecord>), ErrorCode>,
    ) -> Result<(T, Option<i64>), ErrorCode> {
        let now = now_ms();
        let mut guard = shard.lock();
        let (value, records) = op(guard.coordinator()?, now)?;
        if records.is_empty() {
            return Ok((value, None));
        }
        match self.runtime.append(shard, &records, None, &|| Ok(()), now) {
            Ok(last) => Ok((value, Some(last))),
            Err(e) => {
                drop(guard);
                warn!(partition = shard.index, error = %e, "could not append to {TXN_TOPIC}");
                runtime::fail_and_reload(self, shard);
                Err(ErrorCode::CoordinatorNotAvailable)
            }
        }
    }

    /// Waits until `last` is fsynced and held by the ISR; false (and the shard reloaded) if
    /// that failed.
    async fn durable(self: &Arc<Self>, shard: &Arc<TxnShard>, last: Option<i64>) -> bool {
        let Some(last) = last else { return true };
        let ok = self.runtime.committed(shard, last).await;
        if !ok {
            runtime::fail_and_reload(self, shard);
        }
        ok
    }

    /// Runs `op` on the coordinator of `transactional_id` and waits until its records are
    /// durable.
    async fn run<T>(
        self: &Arc<Self>,
        transactional_id: &str,
        op: impl FnOnce(&mut TxnCoordinator, i64) -> Result<(T, Vec<TxnRecord>), ErrorCode>,
    ) -> Result<(T, Arc<TxnShard>), ErrorCode> {
        let shard = runtime::shard(self, transactional_id).await?;
        let (value, last) = self.apply(&shard, op)?;
        if !self.durable(&shard, last).await {
            return Err(ErrorCode::CoordinatorNotAvailable);
        }
        Ok((value, shard))
    }

    /// InitProducerId with a transactional id: the producer id and epoch to use. An open
    /// transaction of an earlier producer is aborted first (CONCURRENT_TRANSACTIONS: retry).
    pub(crate) async fn init_producer_id(
        self: &Arc<Self>,
        transactional_id: &str,
        timeout_ms: i32,
        expected: Option<(i64, i16)>,
    ) -> Result<(i64, i16), ErrorCode> {
        let fresh = self.host().next_producer_id().await.map_err(|e| {
            warn!(error = %e, "could not allocate a producer id");
            ErrorCode::CoordinatorNotAvailable
        })?;
        let (outcome, shard) = self
            .run(transactional_id, |c, now| {
                let o = c.init_producer_id(transactional_id, timeout_ms, expected, fresh, now)?;
                let record = match &o {
                    InitOutcome::Ready { record, .. } | InitOutcome::Aborting { record, .. } => {
                        record.clone()
                    }
                };
                Ok((o, vec![record]))
            })
            .await?;
        match outcome {
            InitOutcome::Ready {
                producer_id,
                producer_epoch,
                ..
            } => Ok((producer_id, producer_epoch)),
            InitOutcome::Aborting { markers, .. } => {
                info!(
                    transactional_id,
                    "fencing the previous producer and aborting its transaction"
                );
                markers::spawn(self, shard, markers);
                Err(ErrorCode::ConcurrentTransactions)
            }
        }
    }

    /// AddPartitionsToTxn (AddOffsetsToTxn passes the group's offsets partition); `v2`:
    /// from a partition leader, for a producer at transaction version 2, which may come
    /// while its last transaction's markers are still being written: that is waited for,
    /// up to `add.partitions.to.txn.retry.backoff.max.ms` (100 ms) as Kafka's leaders retry,
    /// before CONCURRENT_TRANSACTIONS is answered.
    pub(crate) async fn add_partitions(
        self: &Arc<Self>,
        transactional_id: &str,
        producer_id: i64,
        producer_epoch: i16,
        partitions: &[(String, i32)],
        v2: bool,
    ) -> Result<(), ErrorCode> {
        let deadline = tokio::time::Instant::now() + Duration::from_millis(100);
        loop {
            let completed = self.completed.notified();
            tokio::pin!(completed);
            completed.as_mut().enable();
            let r = self
                .add_once(
                    transactional_id,
                    producer_id,
                    producer_epoch,
                    partitions,
                    v2,
                )
                .await;
            if !v2 || r != Err(ErrorCode::ConcurrentTransactions) {
                return r;
            }
            if tokio::time::timeout_at(deadline, completed).await.is_err() {
                return r;
            }
        }
    }

    async fn add_once(
        self: &Arc<Self>,
        transactional_id: &str,
        producer_id: i64,
        producer_epoch: i16,
        partitions: &[(String, i32)],
        v2: bool,
    ) -> Result<(), ErrorCode> {
        self.run(transactional_id, |c, now| {
            let r = if v2 {
                c.add_partitions_v2(
                    transactional_id,
                    producer_id,
                    producer_epoch,
                    partitions,
                    now,
                )?
            } else {
                c.add_partitions(
                    transactional_id,
                    producer_id,
                    producer_epoch,
                    partitions,
                    now,
                )?
            };
            Ok(((), r.into_iter().collect()))
        })
        .await
        .map(|_| ())
    }

    /// EndTxn: once PrepareCommit or PrepareAbort is durable, the markers are written in
    /// the background and the producer is answered. At transaction version 2 (`v2`) the
    /// epoch is bumped and the producer id and epoch to go on with are returned.
    pub(crate) async fn end_txn(
        self: &Arc<Self>,
        transactional_id: &str,
        producer_id: i64,
        producer_epoch: i16,
        commit: bool,
        v2: bool,
    ) -> Result<Option<(i64, i16)>, ErrorCode> {
        // A fresh producer id only when this transaction uses up the epochs of the current.
        let exhausted = v2
            && self
                .with_txn(transactional_id, |m| m.producer_epoch >= i16::MAX - 1)
                .unwrap_or(false);
        let fresh = if exhausted {
            self.host().next_producer_id().await.map_err(|e| {
                warn!(error = %e, "could not allocate a producer id");
                ErrorCode::CoordinatorNotAvailable
            })?
        } else {
            -1
        };
        let ((job, next), shard) = self
            .run(transactional_id, |c, now| {
                let (outcome, next) = if v2 {
                    let (o, id, epoch) = c.end_txn_v2(
                        transactional_id,
                        producer_id,
                        producer_epoch,
                        commit,
                        fresh,
                        now,
                    )?;
                    (o, Some((id, epoch)))
                } else {
                    let o =
                        c.end_txn(transactional_id, producer_id, producer_epoch, commit, now)?;
                    (o, None)
                };
                match outcome {
                    EndOutcome::Prepared { record, markers } => {
                        Ok(((Some(markers), next), vec![record]))
                    }
                    EndOutcome::AlreadyDone => Ok(((None, next), Vec::new())),
                }
            })
            .await?;
        if let Some(job) = job {
            markers::spawn(self, shard, job);
        }
        Ok(next)
    }

    /// KIP-890's check before a partition takes a transaction's first batch: is it in the
    /// producer's open transaction? Coordinator errors become NOT_ENOUGH_REPLICAS, which
    /// producers retry, as Kafka answers them on Produce.
    pub(crate) fn verify(
        &self,
        transactional_id: &str,
        producer_id: i64,
        producer_epoch: i16,
        topic: &str,
        partition: i32,
    ) -> Result<(), ErrorCode> {
        let index = self.partition_for(transactional_id);
        let Some(shard) = self.runtime.local(index) else {
            let host = self.host();
            let elsewhere = host
                .image()
                .topic(TXN_TOPIC)
                .and_then(|t| t.partitions.get(&index).map(|p| p.leader))
                .is_some_and(|l| l >= 0 && l != host.config.node_id);
            // The coordinator is on another broker: asking it (AddPartitionsToTxn with
            // verifyOnly) is not done yet, so the batch is taken unverified, as brokers
            // before KIP-890 take it.
            return if elsewhere {
                Ok(())
            } else {
                Err(ErrorCode::InvalidTxnState)
            };
        };
        let mut guard = shard.lock();
        let c = guard
            .coordinator()
            .map_err(|_| ErrorCode::NotEnoughReplicas)?;
        c.verify(
            transactional_id,
            producer_id,
            producer_epoch,
            &(topic.to_string(), partition),
        )
    }

    /// The metadata of a transactional id (DescribeTransactions).
    pub(crate) fn describe(&self, transactional_id: &str) -> Result<TxnMetadata, ErrorCode> {
        self.with_txn(transactional_id, TxnMetadata::clone)
    }

    /// `f` of a transactional id's metadata, under its shard's lock.
    fn with_txn<T>(
        &self,
        transactional_id: &str,
        f: impl FnOnce(&TxnMetadata) -> T,
    ) -> Result<T, ErrorCode> {
        let index = self.partition_for(transactional_id);
        let Some(shard) = self.runtime.local(index) else {
            return Err(ErrorCode::TransactionalIdNotFound);
        };
        let mut guard = shard.lock();
        guard
            .coordinator()?
            .get(transactional_id)
            .map(f)
            .ok_or(ErrorCode::TransactionalIdNotFound)
    }

    /// Every transactional id of every loaded shard (ListTransactions); `Err` if a shard is
    /// still loading.
    pub(crate) fn list(&self) -> Result<Vec<TxnMetadata>, ErrorCode> {
        let mut out = Vec::new();
        for shard in self.runtime.shards() {
            let mut guard = shard.lock();
            out.extend(guard.coordinator()?.all().cloned());
        }
        Ok(out)
    }
}
