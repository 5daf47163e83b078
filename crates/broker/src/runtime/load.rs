//! Loading a shard: its partition replayed, up to the log end (a new leader's log is the
//! truth), into a fresh machine, which then serves.

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use tracing::{debug, info, warn};
use weir_protocol::record::control::ControlRecordType;
use weir_protocol::record::Batches;

use super::{Coordinator, Machine, Shard, ShardState};
use crate::host::now_ms;
use crate::partition::Partition;

/// Bytes read from the partition at a time while loading.
const LOAD_READ_BYTES: usize = 1 << 20;
/// The most a stored batch may decompress to while loading (Weir writes them uncompressed).
const MAX_UNCOMPRESSED: usize = 64 << 20;

/// What a coordinator's partition holds, as loading replays it.
pub(crate) enum Stored {
    /// A record with a key.
    Record {
        /// Its offset.
        offset: i64,
        /// Its key.
        key: Bytes,
        /// Its value (`None`: a tombstone).
        value: Option<Bytes>,
        /// The producer whose transaction it is part of, if any.
        transaction: Option<i64>,
    },
    /// A producer's transaction marker.
    Marker {
        /// The producer.
        producer_id: i64,
        /// Commit (true) or abort.
        commit: bool,
    },
}

/// Rebuilds the shard's machine from its partition, then lets it serve and hands what
/// loading left to do to the coordinator. A shard that cannot be read stays failed.
pub(super) async fn load<C: Coordinator>(c: &Arc<C>, shard: &Arc<Shard<C::Machine>>) {
    let started = Instant::now();
    *shard.lock() = ShardState::Loading;
    let mut machine = c.fresh();
    let partition = shard.partition().clone();
    let index = shard.index;
    let topic = c.runtime().topic();
    let image = c.runtime().host().image();
    let loaded = tokio::task::spawn_blocking(move || {
        let mut effects = Vec::new();
        let now = now_ms();
        let count = replay(&partition, |item| {
            machine.replay_stored(item, &image, now, &mut effects)
        })?;
        machine.loaded(&mut effects);
        Ok::<_, String>((machine, effects, count))
    })
    .await;
    let (machine, effects) = match loaded {
        Ok(Ok((machine, effects, count))) => {
            if count > 0 {
                info!(
                    topic,
                    partition = index,
                    records = count,
                    ms = started.elapsed().as_millis() as u64,
                    "loaded coordinator"
                );
            } else {
                debug!(topic, partition = index, "loaded empty coordinator");
            }
            (machine, effects)
        }
        Ok(Err(e)) => {
            warn!(topic, partition = index, error = %e, "could not load coordinator");
            *shard.lock() = ShardState::Failed;
            return;
        }
        Err(e) => {
            warn!(topic, partition = index, error = %e, "coordinator load task failed");
            *shard.lock() = ShardState::Failed;
            return;
        }
    };
    *shard.lock() = ShardState::Active(Box::new(machine));
    c.serving(shard, effects);
}

/// Feeds every keyed record and transaction marker of the partition to `apply`, in offset
/// order; returns how many records it took.
fn replay(partition: &Partition, mut apply: impl FnMut(Stored) -> bool) -> Result<u64, String> {
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
            let producer_id = batch.header().producer_id;
            if batch.is_control() {
                let kind = batch
                    .control_key(MAX_UNCOMPRESSED)
                    .map_err(|e| e.to_string())?;
                let commit = match kind.map(|k| k.kind) {
                    Some(ControlRecordType::Commit) => true,
                    Some(ControlRecordType::Abort) => false,
                    _ => continue,
                };
                apply(Stored::Marker {
                    producer_id,
                    commit,
                });
                continue;
            }
            let transaction = batch.is_transactional().then_some(producer_id);
            for r in batch.records(MAX_UNCOMPRESSED).map_err(|e| e.to_string())? {
                let Some(key) = r.key else { continue };
                let item = Stored::Record {
                    offset: r.offset,
                    key,
                    value: r.value,
                    transaction,
                };
                if apply(item) {
                    count += 1;
                }
            }
        }
        offset = offset.max(read.next_offset);
    }
}
