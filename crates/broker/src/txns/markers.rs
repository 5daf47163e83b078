//! Ending a transaction on its partitions: a commit or abort marker on each (through the
//! group coordinator for `__consumer_offsets`, whose pending offsets go with it), then, once
//! every marker is durable, the Complete record in `__transaction_state`. A marker that
//! cannot be written yet is retried until it can or the broker stops; a transaction left in
//! PrepareCommit or PrepareAbort by a stop is finished when its partition is loaded again.

use std::sync::Arc;
use std::time::Duration;

use tracing::{debug, warn};
use weir_coordinator::txn::MarkerJob;
use weir_protocol::error::ErrorCode;
use weir_protocol::messages::write_txn_markers_request::{
    WritableTxnMarker, WritableTxnMarkerTopic,
};
use weir_protocol::messages::WriteTxnMarkersRequest;
use weir_storage::StorageError;

use super::{TxnShard, Txns};
use crate::groups::{Groups, OFFSETS_TOPIC};
use crate::host::{now_ms, Host};
use crate::partition::{AppendError, Partition};
use crate::runtime::{self, Coordinator};

/// First wait before another attempt at a marker that could not be written; it doubles up
/// to `MAX_RETRY`.
const RETRY: Duration = Duration::from_millis(100);
const MAX_RETRY: Duration = Duration::from_secs(5);

/// Writes the markers of `job` and completes its transaction, on a task of its own.
pub(super) fn spawn(txns: &Arc<Txns>, shard: Arc<TxnShard>, job: MarkerJob) {
    let txns = txns.clone();
    tokio::spawn(async move { run(txns, shard, job).await });
}

async fn run(txns: Arc<Txns>, shard: Arc<TxnShard>, job: MarkerJob) {
    let state = txns.host().clone();
    // The coordinator epoch markers carry: the partition's leader epoch, as in Kafka.
    let coordinator_epoch = shard.epoch;
    let mut waits = Vec::with_capacity(job.partitions.len());
    for (topic, index) in &job.partitions {
        let mut wait = RETRY;
        loop {
            if state.is_stopping() {
                return;
            }
            let (pid, epoch) = (job.producer_id, job.producer_epoch);
            let written = match where_is(&state, topic, *index) {
                Place::Here => write_one(
                    &state,
                    &txns.groups,
                    (topic, *index),
                    pid,
                    epoch,
                    job.commit,
                    coordinator_epoch,
                ),
                Place::Gone => Ok(None),
                Place::NoLeader => Err(ErrorCode::LeaderNotAvailable),
                Place::Broker(node, addr) => {
                    remote(&state, node, &addr, topic, *index, &job, coordinator_epoch)
                        .await
                        .map(|()| None)
                }
            };
            match written {
                Ok(Some((p, offset))) => {
                    let epoch = p.leader_epoch();
                    waits.push((p, offset, epoch));
                    break;
                }
                Ok(None) => break,
                Err(code) => {
                    if wait == RETRY || wait == MAX_RETRY {
                        warn!(transactional_id = %job.transactional_id, topic, partition = index, error = code.name(), "transaction marker not written yet; retrying");
                    }
                    tokio::time::sleep(wait).await;
                    wait = (wait * 2).min(MAX_RETRY);
                }
            }
        }
    }
    // The last stable offset moved on those partitions.
    state.data_notify.notify_waiters();
    for (p, offset, epoch) in waits {
        if !runtime::committed(&state, &p, offset, epoch).await {
            // Not durable or not replicated: reload the coordinator, which finds the
            // transaction in Prepare* and writes its markers again.
            warn!(transactional_id = %job.transactional_id, "transaction markers could not be synced or replicated; reloading");
            runtime::fail_and_reload(&txns, &shard);
            return;
        }
    }
    let now = now_ms();
    let written = {
        let mut guard = shard.lock();
        let Ok(c) = guard.coordinator() else { return };
        let Some(record) = c.complete(&job, now) else {
            return;
        };
        txns.runtime()
            .append(&shard, &[record], None, &|| Ok(()), now)
    };
    // A leader waiting to add a partition to this producer's next transaction may go on.
    txns.completed.notify_waiters();
    match written {
        Ok(last) => {
            let _ = state
                .group_commit
                .request(shard.partition().clone(), last)
                .await;
            debug!(transactional_id = %job.transactional_id, producer_id = job.producer_id, commit = job.commit, partitions = job.partitions.len(), "transaction completed");
        }
        Err(e) => {
            warn!(transactional_id = %job.transactional_id, error = %e, "could not record a completed transaction");
            runtime::fail_and_reload(&txns, &shard);
        }
    }
}

/// Where a partition's marker goes.
pub(super) enum Place {
    /// This broker leads it.
    Here,
    /// Another broker leads it: (node id, HOST:PORT).
    Broker(i32, String),
    /// It has no leader now.
    NoLeader,
    /// The topic or partition is gone.
    Gone,
}

pub(super) fn where_is(state: &Host, topic: &str, index: i32) -> Place {
    let image = state.image();
    let Some(p) = image.topic(topic).and_then(|t| t.partitions.get(&index)) else {
        return Place::Gone;
    };
    if p.leader == state.config.node_id {
        return Place::Here;
    }
    match image.brokers.get(&p.leader) {
        Some(b) if !b.fenced => Place::Broker(b.node_id, format!("{}:{}", b.host, b.port)),
        _ => Place::NoLeader,
    }
}

/// Has the leader of a partition on another broker write the marker (WriteTxnMarkers,
/// answered once it is durable there).
async fn remote(
    state: &Host,
    node: i32,
    addr: &str,
    topic: &str,
    index: i32,
    job: &MarkerJob,
    coordinator_epoch: i32,
) -> Result<(), ErrorCode> {
    let req = WriteTxnMarkersRequest {
        markers: vec![WritableTxnMarker {
            producer_id: job.producer_id,
            producer_epoch: job.producer_epoch,
            transaction_result: job.commit,
            topics: vec![WritableTxnMarkerTopic {
                name: topic.to_string(),
                partition_indexes: vec![index],
                ..Default::default()
            }],
            coordinator_epoch,
            ..Default::default()
        }],
        ..Default::default()
    };
    let resp = state.peers.send(node, addr, &req).await.map_err(|e| {
        debug!(node, error = %e, "WriteTxnMarkers to another broker failed");
        ErrorCode::NetworkException
    })?;
    let code = resp
        .markers
        .iter()
        .flat_map(|m| &m.topics)
        .flat_map(|t| &t.partitions)
        .map(|p| p.error_code)
        .find(|&c| c != 0)
        .unwrap_or(0);
    match ErrorCode::from_code(code) {
        ErrorCode::None => Ok(()),
        // The partition is gone there: nothing to mark, as for a local one.
        ErrorCode::UnknownTopicOrPartition => Ok(()),
        other => Err(other),
    }
}

/// Writes one marker (also what WriteTxnMarkers does); `Ok(None)` if there is nothing to
/// write it to (the partition is gone) or the partition refuses it as stale.
pub(crate) fn write_one(
    state: &Host,
    groups: &Groups,
    (topic, index): (&str, i32),
    producer_id: i64,
    producer_epoch: i16,
    commit: bool,
    coordinator_epoch: i32,
) -> Result<Option<(Arc<Partition>, i64)>, ErrorCode> {
    if topic == OFFSETS_TOPIC {
        return match groups.write_txn_marker(
            index,
            producer_id,
            producer_epoch,
            commit,
            coordinator_epoch,
        ) {
            Ok(done) => Ok(Some(done)),
            Err(ErrorCode::UnknownTopicOrPartition) => Ok(None),
            Err(
                code @ (ErrorCode::InvalidProducerEpoch | ErrorCode::TransactionCoordinatorFenced),
            ) => {
                warn!(
                    topic,
                    partition = index,
                    producer_id,
                    error = code.name(),
                    "stale transaction marker dropped"
                );
                Ok(None)
            }
            Err(code) => Err(code),
        };
    }
    let p = match state.leader(topic, index) {
        Ok(p) => p,
        Err(ErrorCode::UnknownTopicOrPartition) => return Ok(None),
        Err(code) => return Err(code),
    };
    let now = now_ms();
    match p.append_marker(producer_id, producer_epoch, commit, coordinator_epoch, now) {
        Ok(offset) => Ok(Some((p, offset))),
        Err(e @ AppendError::Storage(StorageError::Producer(_))) => {
            warn!(topic, partition = index, producer_id, error = %e, "stale transaction marker dropped");
            Ok(None)
        }
        Err(e) => Err(e.code()),
    }
}
