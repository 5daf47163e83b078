//! One `__consumer_offsets` partition's coordinator: its state (loading, active, failed),
//! appending the coordinator's records to the partition, and rebuilding the coordinator from
//! the partition when the broker starts.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use tracing::{debug, info, warn};
use weir_coordinator::{records, GroupCoordinator, Record};
use weir_protocol::error::ErrorCode;
use weir_protocol::record::batch::BatchHeader;
use weir_protocol::record::builder::BatchBuilder;
use weir_protocol::record::control::ControlRecordType;
use weir_protocol::record::{Batches, Compression};
use weir_storage::StorageError;

use super::Step;
use crate::coordinators;
use crate::locks;
use crate::partition::Partition;
use crate::state::{now_ms, BrokerState};

/// Bytes read from the partition at a time while loading.
const LOAD_READ_BYTES: usize = 1 << 20;
/// The most a stored batch may decompress to while loading (Weir writes them uncompressed).
const MAX_UNCOMPRESSED: usize = 64 << 20;

/// Why an append to `__consumer_offsets` failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum AppendError {
    /// The batch could not be built.
    #[error("building a __consumer_offsets batch: {0}")]
    Build(String),
    /// The log refused it.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// The transaction does not include this partition.
    #[error("transaction check failed: {}", .0.name())]
    Refused(ErrorCode),
}

/// Where a shard's coordinator stands.
pub(crate) enum ShardState {
    /// Being rebuilt from the log: requests get COORDINATOR_LOAD_IN_PROGRESS.
    Loading,
    /// Serving.
    Active(Box<GroupCoordinator>),
    /// Loading or a write failed: requests get COORDINATOR_NOT_AVAILABLE.
    Failed,
}

impl ShardState {
    /// The coordinator, or the error a request gets while there is none.
    pub(crate) fn coordinator(&mut self) -> Result<&mut GroupCoordinator, ErrorCode> {
        match self {
            ShardState::Active(c) => Ok(c),
            ShardState::Loading => Err(ErrorCode::CoordinatorLoadInProgress),
            ShardState::Failed => Err(ErrorCode::CoordinatorNotAvailable),
        }
    }
}

/// One `__consumer_offsets` partition and the coordinator of its groups.
pub(crate) struct Shard {
    /// The partition index.
    pub index: i32,
    /// The leader epoch of the partition this coordinator serves under.
    pub epoch: i32,
    partition: Arc<Partition>,
    state: Mutex<ShardState>,
}

/// What an operation appended: the offset to make durable and the group writes to report.
#[derive(Default)]
pub(crate) struct Writes {
    last_offset: Option<i64>,
    persists: Vec<(String, u64)>,
    failed: bool,
}

impl Writes {
    /// Nothing was written.
    pub(crate) fn is_empty(&self) -> bool {
        self.last_offset.is_none() && self.persists.is_empty() && !self.failed
    }

    /// Waits until the append is fsynced and held by the ISR; false if that or the append
    /// failed.
    pub(crate) async fn durable(&self, state: &BrokerState, shard: &Shard) -> bool {
        if self.failed {
            return false;
        }
        match self.last_offset {
            Some(offset) => {
                coordinators::committed(state, &shard.partition, offset, shard.epoch).await
            }
            None => true,
        }
    }

    /// The group writes to report, taken out.
    pub(crate) fn take_persists(&mut self) -> Vec<(String, u64)> {
        std::mem::take(&mut self.persists)
    }
}

impl Shard {
    /// A shard whose coordinator is still to be loaded.
    pub(crate) fn loading(index: i32, partition: Arc<Partition>, epoch: i32) -> Self {
        Shard {
            index,
            epoch,
            partition,
            state: Mutex::new(ShardState::Loading),
        }
    }

    /// A shard serving `coordinator`.
    pub(crate) fn active(
        index: i32,
        partition: Arc<Partition>,
        epoch: i32,
        c: GroupCoordinator,
    ) -> Self {
        Shard {
            index,
            epoch,
            partition,
            state: Mutex::new(ShardState::Active(Box::new(c))),
        }
    }

    /// The shard's state, locked.
    pub(crate) fn lock(&self) -> MutexGuard<'_, ShardState> {
        locks::lock(&self.state)
    }

    /// Appends `records` as one batch (call with the state locked, to keep their order).
    pub(crate) fn append(
        &self,
        state: &BrokerState,
        records: &[Record],
        persists: Vec<(String, u64)>,
        now: i64,
    ) -> Writes {
        if records.is_empty() {
            return Writes {
                persists,
                ..Writes::default()
            };
        }
        match self.append_batch(state, records, None, &|| Ok(()), now) {
            Ok(last) => {
                state.data_notify.notify_waiters();
                Writes {
                    last_offset: Some(last),
                    persists,
                    failed: false,
                }
            }
            Err(e) => {
                warn!(partition = self.index, error = %e, "could not append to __consumer_offsets");
                Writes {
                    last_offset: None,
                    persists,
                    failed: true,
                }
            }
        }
    }

    /// Appends `records` as one batch, in the transaction of `producer` (id, epoch) if given;
    /// returns the batch's last offset. A transaction's first batch here is put to `verify`
    /// first (is this partition in it?), as produce does.
    pub(crate) fn append_batch(
        &self,
        state: &BrokerState,
        records: &[Record],
        producer: Option<(i64, i16)>,
        verify: &dyn Fn() -> Result<(), ErrorCode>,
        now: i64,
    ) -> Result<i64, AppendError> {
        let image = state.image();
        let ids = |name: &str| image.topic(name).map(|t| t.topic_id);
        let mut builder = BatchBuilder::new(Compression::None, now);
        if let Some((id, epoch)) = producer {
            builder.set_producer(id, epoch, -1);
            builder.set_transactional(true);
        }
        for r in records {
            let (key, value) =
                records::encode(r, &ids).map_err(|e| AppendError::Build(e.to_string()))?;
            builder
                .push(Some(&key), value.as_deref(), &[], now)
                .map_err(|e| AppendError::Build(e.to_string()))?;
        }
        let mut bytes = builder
            .build()
            .map_err(|e| AppendError::Build(e.to_string()))?
            .to_vec();
        let header = BatchHeader::validate(&bytes, bytes.len())
            .map_err(|e| AppendError::Build(e.to_string()))?;
        let appended = self
            .partition
            .append_verified(&mut bytes, &header, now, verify)
            .map_err(|e| match e {
                crate::partition::AppendError::Storage(s) => AppendError::Storage(s),
                crate::partition::AppendError::Refused(code) => AppendError::Refused(code),
            })?;
        Ok(appended.last_offset)
    }

    /// The partition this shard keeps its groups in.
    pub(crate) fn partition(&self) -> &Arc<Partition> {
        &self.partition
    }
}

/// Rebuilds the shard's coordinator from its partition (up to its log end: a new leader's
/// log is the truth), then lets it serve.
pub(super) async fn load(state: Arc<BrokerState>, shard: Arc<Shard>) {
    let started = Instant::now();
    let config = state.groups.config().clone();
    let partition = shard.partition.clone();
    let index = shard.index;
    let image = state.image();
    let loaded = tokio::task::spawn_blocking(move || {
        let mut c = GroupCoordinator::new(config);
        let mut effects = Vec::new();
        let now = now_ms();
        let names = |id: &[u8; 16]| image.topic_by_id(id).map(|t| t.name.clone());
        let count = replay_log(&partition, index, &names, |r| match r {
            Replayed::Record(r) => effects.extend(c.replay(r, now)),
            Replayed::Transactional(pid, r) => c.replay_pending(pid, r),
            Replayed::Marker(pid, commit) => c.complete_txn(pid, commit),
        })?;
        Ok::<_, String>((c, effects, count))
    })
    .await;
    match loaded {
        Ok(Ok((c, effects, count))) => {
            *shard.lock() = ShardState::Active(Box::new(c));
            if count > 0 {
                info!(
                    partition = index,
                    records = count,
                    ms = started.elapsed().as_millis() as u64,
                    "loaded group coordinator"
                );
            } else {
                debug!(partition = index, "loaded empty group coordinator");
            }
            if !effects.is_empty() {
                if let Ok(((), writes)) = state
                    .groups
                    .apply(&state, &shard, |_, _| Step::effects((), effects))
                {
                    state.groups.settle_later(&state, shard.clone(), writes);
                }
            }
        }
        Ok(Err(e)) => {
            warn!(partition = index, error = %e, "could not load group coordinator");
            *shard.lock() = ShardState::Failed;
        }
        Err(e) => {
            warn!(partition = index, error = %e, "group coordinator load task failed");
            *shard.lock() = ShardState::Failed;
        }
    }
}

/// What the log holds, as loading replays it.
enum Replayed {
    /// A record outside any transaction.
    Record(Record),
    /// A record of a producer's transaction (a transactional offset commit).
    Transactional(i64, Record),
    /// A producer's transaction marker: commit (true) or abort.
    Marker(i64, bool),
}

/// Feeds every record and transaction marker of the partition to `apply`, in offset order;
/// returns how many records. A record that does not decode is skipped with a warning.
fn replay_log(
    partition: &Partition,
    index: i32,
    names: records::TopicNames<'_>,
    mut apply: impl FnMut(Replayed),
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
            let producer = batch.header().producer_id;
            if batch.is_control() {
                let kind = batch
                    .control_key(MAX_UNCOMPRESSED)
                    .map_err(|e| e.to_string())?;
                match kind.map(|k| k.kind) {
                    Some(ControlRecordType::Commit) => apply(Replayed::Marker(producer, true)),
                    Some(ControlRecordType::Abort) => apply(Replayed::Marker(producer, false)),
                    _ => {}
                }
                continue;
            }
            let transactional = batch.is_transactional();
            for r in batch.records(MAX_UNCOMPRESSED).map_err(|e| e.to_string())? {
                let Some(key) = r.key else { continue };
                match records::decode(&key, r.value.as_ref(), names) {
                    Ok(Some(record)) => {
                        apply(if transactional {
                            Replayed::Transactional(producer, record)
                        } else {
                            Replayed::Record(record)
                        });
                        count += 1;
                    }
                    Ok(None) => {}
                    Err(e) => {
                        warn!(partition = index, offset = r.offset, error = %e, "skipping unreadable __consumer_offsets record")
                    }
                }
            }
        }
        offset = offset.max(read.next_offset);
    }
}

impl crate::coordinators::CoordinatorShard for Shard {
    fn epoch(&self) -> i32 {
        self.epoch
    }

    fn partition(&self) -> &Arc<Partition> {
        &self.partition
    }
}
