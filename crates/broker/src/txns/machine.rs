//! One `__transaction_state` partition's coordinator: its state (loading, active, failed),
//! appending its records, and rebuilding it from the partition when the broker starts.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use tracing::{debug, info, warn};
use weir_coordinator::txn::{self, TxnCoordinator, TxnRecord};
use weir_protocol::error::ErrorCode;
use weir_protocol::record::batch::BatchHeader;
use weir_protocol::record::builder::BatchBuilder;
use weir_protocol::record::{Batches, Compression};

use crate::locks;
use crate::partition::Partition;
use crate::state::BrokerState;

/// Bytes read from the partition at a time while loading.
const LOAD_READ_BYTES: usize = 1 << 20;
/// The most a stored batch may decompress to while loading (Weir writes them uncompressed).
const MAX_UNCOMPRESSED: usize = 64 << 20;

/// Where a shard's coordinator stands.
pub(crate) enum TxnShardState {
    /// Being rebuilt from the log: requests get COORDINATOR_LOAD_IN_PROGRESS.
    Loading,
    /// Serving.
    Active(Box<TxnCoordinator>),
    /// A write failed, so memory may be ahead of the log: COORDINATOR_NOT_AVAILABLE until
    /// it is reloaded.
    Failed,
}

impl TxnShardState {
    /// The coordinator, or the error a request gets while there is none.
    pub(crate) fn coordinator(&mut self) -> Result<&mut TxnCoordinator, ErrorCode> {
        match self {
            TxnShardState::Active(c) => Ok(c),
            TxnShardState::Loading => Err(ErrorCode::CoordinatorLoadInProgress),
            TxnShardState::Failed => Err(ErrorCode::CoordinatorNotAvailable),
        }
    }
}

/// One `__transaction_state` partition and the coordinator of its transactional ids.
pub(crate) struct TxnShard {
    /// The partition index.
    pub(crate) index: i32,
    /// The leader epoch of the partition this coordinator serves under.
    pub(crate) epoch: i32,
    partition: Arc<Partition>,
    state: Mutex<TxnShardState>,
}

impl TxnShard {
    /// A shard in `state` over `partition`.
    pub(crate) fn new(
        index: i32,
        partition: Arc<Partition>,
        epoch: i32,
        state: TxnShardState,
    ) -> Self {
        Self {
            index,
            epoch,
            partition,
            state: Mutex::new(state),
        }
    }

    /// The shard's state, locked.
    pub(crate) fn lock(&self) -> MutexGuard<'_, TxnShardState> {
        locks::lock(&self.state)
    }

    /// The partition the shard writes to.
    pub(crate) fn partition(&self) -> &Arc<Partition> {
        &self.partition
    }

    /// The coordinator epoch markers carry: the partition's leader epoch, as in Kafka.
    pub(crate) fn coordinator_epoch(&self) -> i32 {
        self.epoch
    }

    /// Appends `records` as one batch (call with the state locked, to keep their order);
    /// returns the batch's last offset.
    pub(crate) fn append(
        &self,
        state: &BrokerState,
        records: &[TxnRecord],
        now: i64,
    ) -> Result<i64, String> {
        let mut builder = BatchBuilder::new(Compression::None, now);
        for r in records {
            let (key, value) = txn::encode(r).map_err(|e| e.to_string())?;
            builder
                .push(Some(&key), value.as_deref(), &[], now)
                .map_err(|e| e.to_string())?;
        }
        let mut bytes = builder.build().map_err(|e| e.to_string())?.to_vec();
        let header = BatchHeader::validate(&bytes, bytes.len()).map_err(|e| e.to_string())?;
        let appended = self
            .partition
            .append(&mut bytes, &header, now)
            .map_err(|e| e.to_string())?;
        state.data_notify.notify_waiters();
        Ok(appended.last_offset)
    }
}

/// Rebuilds the shard's coordinator from its partition, then lets it serve and redoes the
/// markers of transactions that were being ended.
pub(super) async fn load(state: Arc<BrokerState>, shard: Arc<TxnShard>) {
    let started = Instant::now();
    *shard.lock() = TxnShardState::Loading;
    let config = state.txns.config().clone();
    let partition = shard.partition.clone();
    let index = shard.index;
    let loaded = tokio::task::spawn_blocking(move || {
        let mut c = TxnCoordinator::new(config);
        let count = replay_log(&partition, index, |r| c.replay(r))?;
        Ok::<_, String>((c, count))
    })
    .await;
    let c = match loaded {
        Ok(Ok((c, count))) => {
            if count > 0 {
                info!(
                    partition = index,
                    records = count,
                    ms = started.elapsed().as_millis() as u64,
                    "loaded transaction coordinator"
                );
            } else {
                debug!(partition = index, "loaded empty transaction coordinator");
            }
            c
        }
        Ok(Err(e)) => {
            warn!(partition = index, error = %e, "could not load transaction coordinator");
            *shard.lock() = TxnShardState::Failed;
            return;
        }
        Err(e) => {
            warn!(partition = index, error = %e, "transaction coordinator load task failed");
            *shard.lock() = TxnShardState::Failed;
            return;
        }
    };
    let pending = c.pending_markers();
    *shard.lock() = TxnShardState::Active(Box::new(c));
    for job in pending {
        info!(transactional_id = %job.transactional_id, commit = job.commit, "finishing a transaction that was being ended");
        super::markers::spawn(&state, shard.clone(), job);
    }
}

/// Feeds every record of the partition to `apply`, in offset order; returns how many. A
/// record that does not decode is skipped with a warning.
fn replay_log(
    partition: &Partition,
    index: i32,
    mut apply: impl FnMut(TxnRecord),
) -> Result<u64, String> {
    let mut offset = partition.log_start_offset();
    let mut count = 0;
    loop {
        let read = partition
            .read_to_end(offset, LOAD_READ_BYTES)
            .map_err(|e| e.to_string())?;
        if read.bytes.is_empty() {
            return Ok(count);
        }
        for batch in Batches::new(read.bytes) {
            let batch = batch.map_err(|e| e.to_string())?;
            offset = batch.last_offset() + 1;
            if batch.is_control() {
                continue;
            }
            for r in batch.records(MAX_UNCOMPRESSED).map_err(|e| e.to_string())? {
                let Some(key) = r.key else { continue };
                match txn::decode(&key, r.value.as_ref()) {
                    Ok(record) => {
                        apply(record);
                        count += 1;
                    }
                    Err(e) => {
                        warn!(partition = index, offset = r.offset, error = %e, "skipping unreadable __transaction_state record")
                    }
                }
            }
        }
        offset = offset.max(read.next_offset);
    }
}

/// Marks the shard failed after a write it could not make, then reloads it from the log.
pub(super) fn fail_and_reload(state: &Arc<BrokerState>, shard: &Arc<TxnShard>) {
    *shard.lock() = TxnShardState::Failed;
    let st = state.clone();
    let sh = shard.clone();
    tokio::spawn(async move { load(st, sh).await });
}

impl crate::coordinators::CoordinatorShard for TxnShard {
    fn epoch(&self) -> i32 {
        self.epoch
    }

    fn partition(&self) -> &Arc<Partition> {
        &self.partition
    }
}
