//! The group coordinators' part in transactions: TxnOffsetCommit writes offsets in the
//! producer's transaction, and a transaction marker on a `__consumer_offsets` partition is
//! written through its shard so the pending offsets are committed or dropped with it.

use std::sync::Arc;

use tracing::warn;
use weir_coordinator::coordinator::TxnOffsetCommit;
use weir_coordinator::offsets::TopicResults;
use weir_protocol::error::ErrorCode;
use weir_storage::StorageError;

use super::shard::AppendError;
use super::{Groups, OFFSETS_TOPIC};
use crate::error::storage_error_code;
use crate::locks;
use crate::partition::Partition;
use crate::state::{now_ms, BrokerState};

impl Groups {
    /// TxnOffsetCommit: appends the offsets in the transaction of `producer_epoch` and
    /// answers once they are durable; they stay pending until the transaction ends.
    pub(crate) async fn txn_commit(
        &self,
        state: &Arc<BrokerState>,
        transactional_id: &str,
        req: TxnOffsetCommit,
        producer_epoch: i16,
    ) -> Result<TopicResults, ErrorCode> {
        let shard = self.shard(state, &req.group_id).await?;
        let producer_id = req.producer_id;
        let (results, last) = {
            let mut guard = shard.lock();
            let c = guard.coordinator()?;
            let now = now_ms();
            let (results, records) = c.txn_commit_offsets(req, now)?;
            if records.is_empty() {
                return Ok(results);
            }
            let producer = Some((producer_id, producer_epoch));
            // KIP-890: the offsets partition must be in the transaction (AddOffsetsToTxn).
            let verify = || {
                state.txns.verify(
                    state,
                    transactional_id,
                    producer_id,
                    producer_epoch,
                    OFFSETS_TOPIC,
                    shard.index,
                )
            };
            let last = match shard.append_batch(state, &records, producer, &verify, now) {
                Ok(last) => last,
                Err(e) => {
                    warn!(partition = shard.index, error = %e, "could not append transactional offsets");
                    return Err(txn_commit_error(&e));
                }
            };
            for r in records {
                c.replay_pending(producer_id, r);
            }
            (results, last)
        };
        state.data_notify.notify_waiters();
        let durable =
            crate::coordinators::committed(state, shard.partition(), last, shard.epoch).await;
        if durable {
            Ok(results)
        } else {
            Err(ErrorCode::CoordinatorNotAvailable)
        }
    }

    /// Writes a transaction marker to `__consumer_offsets` partition `index` and commits or
    /// drops the producer's pending offsets there; returns the partition and the marker's
    /// offset. A shard still loading answers COORDINATOR_LOAD_IN_PROGRESS (retry later).
    pub(crate) fn write_txn_marker(
        &self,
        state: &BrokerState,
        index: i32,
        producer_id: i64,
        producer_epoch: i16,
        commit: bool,
        coordinator_epoch: i32,
    ) -> Result<(Arc<Partition>, i64), ErrorCode> {
        let now = now_ms();
        let shard = locks::read(&self.shards).get(&index).cloned();
        let Some(shard) = shard else {
            // No coordinator here yet (nothing was loaded): the marker goes straight in.
            let p = state
                .partition(OFFSETS_TOPIC, index)
                .ok_or(ErrorCode::UnknownTopicOrPartition)?;
            let offset = p
                .append_marker(producer_id, producer_epoch, commit, coordinator_epoch, now)
                .map_err(|e| e.code())?;
            return Ok((p, offset));
        };
        let mut guard = shard.lock();
        let c = guard.coordinator()?;
        let offset = shard
            .partition()
            .append_marker(producer_id, producer_epoch, commit, coordinator_epoch, now)
            .map_err(|e| e.code())?;
        c.complete_txn(producer_id, commit);
        Ok((shard.partition().clone(), offset))
    }
}

/// Kafka's mapping of an append failure to a TxnOffsetCommit error.
fn txn_commit_error(e: &AppendError) -> ErrorCode {
    match e {
        AppendError::Storage(s @ StorageError::Producer(_)) => storage_error_code(s),
        AppendError::Refused(code) => *code,
        _ => ErrorCode::CoordinatorNotAvailable,
    }
}
