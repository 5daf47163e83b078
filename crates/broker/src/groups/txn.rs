//! The group coordinators' part in transactions: TxnOffsetCommit writes offsets in the
//! producer's transaction, and a transaction marker on a `__consumer_offsets` partition is
//! written through its shard so the pending offsets are committed or dropped with it.

use std::sync::Arc;

use tracing::warn;
use weir_coordinator::coordinator::TxnOffsetCommit;
use weir_coordinator::offsets::TopicResults;
use weir_protocol::error::ErrorCode;
use weir_storage::StorageError;

use super::{Groups, OFFSETS_TOPIC};
use crate::error::storage_error_code;
use crate::host::now_ms;
use crate::partition::Partition;
use crate::runtime::AppendError;

impl Groups {
    /// TxnOffsetCommit: appends the offsets in the transaction of `producer_epoch` and
    /// answers once they are durable; they stay pending until the transaction ends. The
    /// transaction's first batch here is put to `verify` first (KIP-890: is the offsets
    /// partition in it?).
    pub(crate) async fn txn_commit(
        self: &Arc<Self>,
        req: TxnOffsetCommit,
        producer_epoch: i16,
        verify: &(dyn Fn(i32) -> Result<(), ErrorCode> + Sync),
    ) -> Result<TopicResults, ErrorCode> {
        let shard = self.shard(&req.group_id).await?;
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
            let index = shard.index;
            let last = match self
                .runtime
                .append(&shard, &records, producer, &|| verify(index), now)
            {
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
        if self.runtime.committed(&shard, last).await {
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
        index: i32,
        producer_id: i64,
        producer_epoch: i16,
        commit: bool,
        coordinator_epoch: i32,
    ) -> Result<(Arc<Partition>, i64), ErrorCode> {
        let now = now_ms();
        let Some(shard) = self.runtime.local(index) else {
            // No coordinator here yet (nothing was loaded): the marker goes straight in.
            let p = self
                .host()
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
