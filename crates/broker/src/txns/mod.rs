//! The transaction coordinators: one [`TxnCoordinator`] per local partition of
//! `__transaction_state` (created on first use, as Kafka does), rebuilt from that partition
//! when the broker starts, with their records appended and fsynced before a request that
//! depends on them is answered, and the markers of ending transactions written.
//!
//! - `shard`: one partition's coordinator, its appends and its load from the log.
//! - `markers`: writing commit and abort markers, then completing the transaction.
//!
//! Every operation runs under its shard's lock and appends its records before releasing it;
//! waiting for the fsync happens outside the lock.

mod markers;
mod shard;

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use tracing::{info, warn};
use weir_coordinator::txn::{
    EndOutcome, InitOutcome, MarkerJob, TxnConfig, TxnCoordinator, TxnMetadata, TxnRecord,
};
use weir_meta::controller::CreateTopicSpec;
use weir_meta::MetaError;
use weir_protocol::error::ErrorCode;

pub(crate) use markers::write_one as write_marker;
use shard::{TxnShard, TxnShardState};

use crate::coordinators;
use crate::groups::partition_of;
use crate::locks;
use crate::state::{now_ms, BrokerState};

/// The internal topic that holds transaction state.
pub const TXN_TOPIC: &str = "__transaction_state";

/// The transaction coordinators of this broker.
pub struct Txns {
    config: TxnConfig,
    num_partitions: i32,
    shards: RwLock<HashMap<i32, Arc<TxnShard>>>,
    create: tokio::sync::Mutex<()>,
}

impl Txns {
    /// No coordinators yet; [`Txns::start`] loads the existing ones.
    pub fn new(config: TxnConfig, num_partitions: i32) -> Self {
        Self {
            config,
            num_partitions: num_partitions.max(1),
            shards: RwLock::new(HashMap::new()),
            create: tokio::sync::Mutex::new(()),
        }
    }

    /// The coordinator settings.
    pub fn config(&self) -> &TxnConfig {
        &self.config
    }

    /// Starts the task that aborts timed-out transactions and expires idle ids (the
    /// coordinators themselves come and go with leadership: [`Txns::reconcile`]).
    pub fn start(state: &Arc<BrokerState>) {
        let weak = Arc::downgrade(state);
        let period = Duration::from_millis(state.txns.config.abort_check_interval_ms.max(1));
        let remove_every = state.txns.config.remove_expired_interval_ms as i64;
        tokio::spawn(async move {
            let mut interval = tokio::time::interval(period);
            interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut next_removal = now_ms() + remove_every;
            loop {
                interval.tick().await;
                let Some(state) = weak.upgrade() else { return };
                if state.is_stopping() {
                    return;
                }
                let now = now_ms();
                let remove = now >= next_removal;
                if remove {
                    next_removal = now + remove_every;
                }
                for shard in state.txns.shards() {
                    state.txns.tick_shard(&state, &shard, remove).await;
                }
            }
        });
    }

    /// Loads a coordinator for each `__transaction_state` partition this broker has come to
    /// lead (at once when its log is empty) and drops those of partitions it no longer
    /// leads, or leads at a newer epoch. Called through [`coordinators::reconcile`].
    pub(crate) fn reconcile(state: &Arc<BrokerState>) {
        let txns = &state.txns;
        let (resigned, to_load) = coordinators::sync_shards(state, TXN_TOPIC, &txns.shards, |l| {
            let (shard_state, load) = if l.empty {
                let c = TxnCoordinator::new(txns.config.clone());
                (TxnShardState::Active(Box::new(c)), false)
            } else {
                (TxnShardState::Loading, true)
            };
            let shard = TxnShard::new(l.index, l.partition, l.epoch, shard_state);
            (Arc::new(shard), load)
        });
        if !resigned.is_empty() {
            info!(partitions = ?resigned, "no longer the transaction coordinator of these partitions");
        }
        for shard in to_load {
            let st = state.clone();
            tokio::spawn(async move { shard::load(st, shard).await });
        }
    }

    fn shards(&self) -> Vec<Arc<TxnShard>> {
        locks::read(&self.shards).values().cloned().collect()
    }

    /// Aborts the shard's timed-out transactions and, when due, removes idle ids.
    async fn tick_shard(&self, state: &Arc<BrokerState>, shard: &Arc<TxnShard>, remove: bool) {
        let result = self.apply(state, shard, |c, now| {
            let aborted = c.abort_timed_out(now);
            let mut records: Vec<TxnRecord> = aborted.iter().map(|(r, _)| r.clone()).collect();
            if remove {
                records.extend(c.expire_ids(now));
            }
            let jobs: Vec<MarkerJob> = aborted.into_iter().map(|(_, j)| j).collect();
            Ok((jobs, records))
        });
        let Ok((jobs, last)) = result else { return };
        if !self.durable(state, shard, last).await {
            return;
        }
        for job in jobs {
            info!(transactional_id = %job.transactional_id, producer_id = job.producer_id, "aborting a transaction past its timeout");
            markers::spawn(state, shard.clone(), job);
        }
    }

    /// The shard owning `transactional_id`, creating `__transaction_state` on first use.
    async fn shard(
        &self,
        state: &Arc<BrokerState>,
        transactional_id: &str,
    ) -> Result<Arc<TxnShard>, ErrorCode> {
        let index = self.partition_for(transactional_id);
        let local = locks::read(&self.shards).get(&index).cloned();
        let shard = match local {
            Some(s) => s,
            None => {
                self.create_topic(state).await?;
                locks::read(&self.shards)
                    .get(&index)
                    .cloned()
                    .ok_or(ErrorCode::NotCoordinator)?
            }
        };
        if !state.leads(TXN_TOPIC, index) {
            return Err(ErrorCode::NotCoordinator);
        }
        Ok(shard)
    }

    /// The `__transaction_state` partition that owns `transactional_id`.
    pub fn partition_for(&self, transactional_id: &str) -> i32 {
        partition_of(transactional_id, self.num_partitions)
    }

    /// Makes sure `__transaction_state` exists (FindCoordinator does, as in Kafka).
    pub(crate) async fn ensure_topic(&self, state: &Arc<BrokerState>) -> Result<(), ErrorCode> {
        if state.image().topic(TXN_TOPIC).is_none() {
            self.create_topic(state).await?;
        }
        Ok(())
    }

    async fn create_topic(&self, state: &Arc<BrokerState>) -> Result<(), ErrorCode> {
        let _guard = self.create.lock().await;
        if state.image().topic(TXN_TOPIC).is_none() {
            let replication_factor = coordinators::replication_factor(
                state,
                state.config.transaction_state_log_replication_factor,
            );
            let spec = CreateTopicSpec {
                name: TXN_TOPIC.to_string(),
                num_partitions: self.num_partitions,
                replication_factor,
                assignments: Vec::new(),
                configs: [
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
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            };
            match state.create_topics(&[spec], false).await.pop() {
                Some(Ok(_)) | Some(Err(MetaError::TopicAlreadyExists(_))) => {
                    info!(partitions = self.num_partitions, "created {TXN_TOPIC}");
                }
                Some(Err(e)) => {
                    warn!(error = %e, "could not create {TXN_TOPIC}");
                    return Err(ErrorCode::CoordinatorNotAvailable);
                }
                None => return Err(ErrorCode::CoordinatorNotAvailable),
            }
        }
        if state.image().topic(TXN_TOPIC).is_none() {
            return Err(ErrorCode::CoordinatorNotAvailable);
        }
        coordinators::reconcile(state);
        Ok(())
    }

    /// Runs `op` on the shard's coordinator under its lock and appends the records it
    /// returns; gives the value and the last offset written, if any. A failed append marks
    /// the shard failed and reloads it.
    fn apply<T>(
        &self,
        state: &Arc<BrokerState>,
        shard: &Arc<TxnShard>,
        op: impl FnOnce(&mut TxnCoordinator, i64) -> Result<(T, Vec<TxnRecord>), ErrorCode>,
    ) -> Result<(T, Option<i64>), ErrorCode> {
        let now = now_ms();
        let mut guard = shard.lock();
        let (value, records) = op(guard.coordinator()?, now)?;
        if records.is_empty() {
            return Ok((value, None));
        }
        match shard.append(state, &records, now) {
            Ok(last) => Ok((value, Some(last))),
            Err(e) => {
                drop(guard);
                warn!(partition = shard.index, error = %e, "could not append to {TXN_TOPIC}");
                shard::fail_and_reload(state, shard);
                Err(ErrorCode::CoordinatorNotAvailable)
            }
        }
    }

    /// Waits until `last` is fsynced and held by the ISR; false (and the shard reloaded) if
    /// that failed.
    async fn durable(
        &self,
        state: &Arc<BrokerState>,
        shard: &Arc<TxnShard>,
        last: Option<i64>,
    ) -> bool {
        let Some(last) = last else { return true };
        let ok = coordinators::committed(state, shard.partition(), last, shard.epoch).await;
        if !ok {
            shard::fail_and_reload(state, shard);
        }
        ok
    }

    /// Runs `op` on the coordinator of `transactional_id` and waits until its records are
    /// durable.
    async fn run<T>(
        &self,
        state: &Arc<BrokerState>,
        transactional_id: &str,
        op: impl FnOnce(&mut TxnCoordinator, i64) -> Result<(T, Vec<TxnRecord>), ErrorCode>,
    ) -> Result<(T, Arc<TxnShard>), ErrorCode> {
        let shard = self.shard(state, transactional_id).await?;
        let (value, last) = self.apply(state, &shard, op)?;
        if !self.durable(state, &shard, last).await {
            return Err(ErrorCode::CoordinatorNotAvailable);
        }
        Ok((value, shard))
    }

    /// InitProducerId with a transactional id: the producer id and epoch to use. An open
    /// transaction of an earlier producer is aborted first (CONCURRENT_TRANSACTIONS: retry).
    pub(crate) async fn init_producer_id(
        &self,
        state: &Arc<BrokerState>,
        transactional_id: &str,
        timeout_ms: i32,
        expected: Option<(i64, i16)>,
    ) -> Result<(i64, i16), ErrorCode> {
        let fresh = state.next_producer_id().await.map_err(|e| {
            warn!(error = %e, "could not allocate a producer id");
            ErrorCode::CoordinatorNotAvailable
        })?;
        let (outcome, shard) = self
            .run(state, transactional_id, |c, now| {
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
                markers::spawn(state, shard, markers);
                Err(ErrorCode::ConcurrentTransactions)
            }
        }
    }

    /// AddPartitionsToTxn (AddOffsetsToTxn passes the group's offsets partition).
    pub(crate) async fn add_partitions(
        &self,
        state: &Arc<BrokerState>,
        transactional_id: &str,
        producer_id: i64,
        producer_epoch: i16,
        partitions: &[(String, i32)],
    ) -> Result<(), ErrorCode> {
        self.run(state, transactional_id, |c, now| {
            let r = c.add_partitions(
                transactional_id,
                producer_id,
                producer_epoch,
                partitions,
                now,
            )?;
            Ok(((), r.into_iter().collect()))
        })
        .await
        .map(|_| ())
    }

    /// EndTxn: once PrepareCommit or PrepareAbort is durable, the markers are written in
    /// the background and the producer is answered.
    pub(crate) async fn end_txn(
        &self,
        state: &Arc<BrokerState>,
        transactional_id: &str,
        producer_id: i64,
        producer_epoch: i16,
        commit: bool,
    ) -> Result<(), ErrorCode> {
        let (outcome, shard) = self
            .run(state, transactional_id, |c, now| {
                match c.end_txn(transactional_id, producer_id, producer_epoch, commit, now)? {
                    EndOutcome::Prepared { record, markers } => Ok((Some(markers), vec![record])),
                    EndOutcome::AlreadyDone => Ok((None, Vec::new())),
                }
            })
            .await?;
        if let Some(job) = outcome {
            markers::spawn(state, shard, job);
        }
        Ok(())
    }

    /// KIP-890's check before a partition takes a transaction's first batch: is it in the
    /// producer's open transaction? Coordinator errors become NOT_ENOUGH_REPLICAS, which
    /// producers retry, as Kafka answers them on Produce.
    pub(crate) fn verify(
        &self,
        state: &BrokerState,
        transactional_id: &str,
        producer_id: i64,
        producer_epoch: i16,
        topic: &str,
        partition: i32,
    ) -> Result<(), ErrorCode> {
        let index = partition_of(transactional_id, self.num_partitions);
        let Some(shard) = locks::read(&self.shards).get(&index).cloned() else {
            let elsewhere = state
                .image()
                .topic(TXN_TOPIC)
                .and_then(|t| t.partitions.get(&index).map(|p| p.leader))
                .is_some_and(|l| l >= 0 && l != state.config.node_id);
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
        let index = partition_of(transactional_id, self.num_partitions);
        let Some(shard) = locks::read(&self.shards).get(&index).cloned() else {
            return Err(ErrorCode::TransactionalIdNotFound);
        };
        let mut guard = shard.lock();
        guard
            .coordinator()?
            .get(transactional_id)
            .cloned()
            .ok_or(ErrorCode::TransactionalIdNotFound)
    }

    /// Every transactional id of every loaded shard (ListTransactions); `Err` if a shard is
    /// still loading.
    pub(crate) fn list(&self) -> Result<Vec<TxnMetadata>, ErrorCode> {
        let mut out = Vec::new();
        for shard in self.shards() {
            let mut guard = shard.lock();
            out.extend(guard.coordinator()?.all().cloned());
        }
        Ok(out)
    }
}
