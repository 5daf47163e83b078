//! Producer state in the log: rebuilding it when the log opens or is truncated, snapshots,
//! the last stable offset and the aborted transactions a `read_committed` fetch needs.
//!
//! Rebuilding starts from the newest snapshot at or below the recovery point (everything
//! below it, the aborted-transaction indexes included, was fsynced) and replays the batch
//! headers after it; the aborted-transaction entries of the replayed range are rebuilt too.

use weir_protocol::record::batch::{BatchHeader, HEADER_LEN};
use weir_protocol::record::control::{ControlRecordType, EndTxnMarker};
use weir_protocol::record::RecordBatch;

use super::Log;
use crate::error::StorageError;
use crate::producer::{snapshot, ProducerState};
use crate::recovery::Window;
use crate::txn_index::AbortedTxn;

/// What a control batch says, if it ends a transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Marker {
    /// An abort (else a commit).
    pub(crate) aborted: bool,
    /// The epoch of the coordinator that wrote it.
    pub(crate) coordinator_epoch: i32,
}

/// The end-transaction marker a control batch carries; `None` for other control records.
pub(crate) fn marker_of(batch: &[u8], max_len: usize) -> Result<Option<Marker>, StorageError> {
    let parsed = RecordBatch::parse(bytes::Bytes::copy_from_slice(batch))?;
    let Some(key) = parsed.control_key(max_len)? else {
        return Ok(None);
    };
    let aborted = match key.kind {
        ControlRecordType::Abort => true,
        ControlRecordType::Commit => false,
        _ => return Ok(None),
    };
    let records = parsed.records(max_len)?;
    let value = records.first().and_then(|r| r.value.as_ref());
    let coordinator_epoch = match value {
        Some(v) => EndTxnMarker::parse(v)?.coordinator_epoch,
        None => -1,
    };
    Ok(Some(Marker {
        aborted,
        coordinator_epoch,
    }))
}

impl Log {
    /// The producers of this partition and their open transactions.
    pub fn producer_state(&self) -> &ProducerState {
        &self.producers
    }

    /// The last stable offset given the high watermark: no `read_committed` consumer reads
    /// at or past it.
    pub fn last_stable_offset(&self, high_watermark: i64) -> i64 {
        self.producers
            .first_undecided_offset()
            .map_or(high_watermark, |o| o.min(high_watermark))
    }

    /// Tells the producer state the high watermark moved (transactions whose marker is
    /// below it are decided).
    pub fn on_high_watermark(&mut self, high_watermark: i64) {
        self.producers.on_high_watermark(high_watermark);
    }

    /// Aborted transactions that overlap `start..upper`: what a `read_committed` fetch of
    /// that range returns so the consumer can drop their records.
    pub fn aborted_transactions(&self, start: i64, upper: i64) -> Vec<AbortedTxn> {
        let first = self.segment_index_for(start).unwrap_or(0);
        self.segments
            .iter()
            .skip(first)
            .flat_map(|s| s.txn_index.entries())
            .filter(|t| t.last_offset >= start && t.first_offset < upper)
            .copied()
            .collect()
    }

    /// Forgets producers whose last write is older than `before_ms` and that have no open
    /// transaction (`producer.id.expiration.ms`); returns how many.
    pub fn expire_producers(&mut self, before_ms: i64) -> usize {
        self.producers.expire(before_ms)
    }

    /// Records a stored batch in the producer state; a marker that aborts a transaction
    /// goes into the active segment's aborted-transaction index.
    pub(super) fn track_producer(
        &mut self,
        h: &BatchHeader,
        marker: Option<Marker>,
    ) -> Result<(), StorageError> {
        let Some(t) = apply(&mut self.producers, h, marker) else {
            return Ok(());
        };
        let created = self.active_mut().txn_index.append(t)?;
        if created {
            // A new file: the directory must be synced for it to last.
            let base = self.active().base_offset;
            self.unsynced_creations.push(base);
        }
        Ok(())
    }

    /// Writes a producer snapshot at the log end (on a roll and on close). A failure is
    /// logged: a snapshot only saves work when the log next opens.
    pub(super) fn snapshot_producers(&self) {
        let at = self.log_end_offset();
        if let Err(e) = snapshot::write(&self.dir, at, &self.producers) {
            tracing::warn!(dir = %self.dir.display(), error = %e, "could not write producer snapshot");
        }
    }

    /// Rebuilds the producer state and the aborted-transaction indexes after the newest
    /// trusted snapshot, from the batches in the log.
    pub(super) fn rebuild_producers(&mut self) -> Result<(), StorageError> {
        let log_end = self.log_end_offset();
        snapshot::remove_above(&self.dir, log_end);
        let trusted = self.recovery_point.min(log_end);
        let (from, state) = snapshot::load(&self.dir, self.log_start_offset, trusted)
            .unwrap_or_else(|| (self.log_start_offset, ProducerState::new()));
        self.producers = state;
        for seg in self.segments.iter_mut().filter(|s| s.next_offset > from) {
            seg.txn_index.truncate_from(from)?;
        }
        let max_batch = self.config.max_batch_bytes;
        let first = self.segment_index_for(from).unwrap_or(0);
        let mut replayed = 0u64;
        for i in first..self.segments.len() {
            let Some(seg) = self.segments.get(i) else {
                break;
            };
            let Some(start) = seg.find_batch(from, max_batch)? else {
                continue;
            };
            let mut window = Window::default();
            let mut position = start.position;
            // Aborts are rare: gather them, then index them once the segment is read.
            let mut aborted = Vec::new();
            while position < seg.size {
                let (h, len) = match header_at(&mut window, seg, position, max_batch) {
                    Ok(found) => found,
                    Err(e) => {
                        // Recovery vouched for these bytes; if they still do not read, the
                        // state after them is lost, not the log.
                        tracing::warn!(file = %seg.log_path.display(), position, error = %e, "producer state replay stopped in this segment");
                        break;
                    }
                };
                if h.producer_id >= 0 {
                    let marker = if h.is_control() {
                        window
                            .get(seg, position, len, seg.size)
                            .and_then(|b| marker_of(b, max_batch))
                            .unwrap_or_else(|e| {
                                tracing::warn!(file = %seg.log_path.display(), position, error = %e, "unreadable control batch");
                                None
                            })
                    } else {
                        None
                    };
                    replayed += 1;
                    aborted.extend(apply(&mut self.producers, &h, marker));
                }
                position += len as u64;
            }
            if let Some(seg) = self.segments.get_mut(i) {
                let base = seg.base_offset;
                let mut created = false;
                for t in aborted {
                    created |= seg.txn_index.append(t)?;
                }
                if created {
                    self.unsynced_creations.push(base);
                }
            }
        }
        tracing::debug!(
            dir = %self.dir.display(), from, replayed, producers = self.producers.len(),
            "producer state rebuilt"
        );
        Ok(())
    }
}

/// The header and length of the batch at `position`, checked to lie within the segment.
fn header_at(
    window: &mut Window,
    seg: &crate::segment::Segment,
    position: u64,
    max_batch: usize,
) -> Result<(BatchHeader, usize), StorageError> {
    let h = BatchHeader::parse(window.get(seg, position, HEADER_LEN, seg.size)?)?;
    let len = h.checked_total_len(max_batch)?;
    if position + len as u64 > seg.size {
        return Err(StorageError::Corrupt(format!(
            "batch of {len} bytes at {position} runs past the segment end {}",
            seg.size
        )));
    }
    Ok((h, len))
}

/// Applies a stored batch to the producer state; returns the aborted-transaction entry to
/// index if it was a marker that aborted an open transaction.
fn apply(
    producers: &mut ProducerState,
    h: &BatchHeader,
    marker: Option<Marker>,
) -> Option<AbortedTxn> {
    let Some(m) = marker else {
        producers.update(h, h.base_offset, h.last_offset());
        return None;
    };
    let t = producers.update_marker(h, h.base_offset, m.aborted, m.coordinator_epoch)?;
    if !t.aborted {
        return None;
    }
    // Kafka's lastStableOffset(completedTxn): the next open transaction of another producer,
    // else just past the marker.
    let last_stable_offset = producers
        .ongoing()
        .find(|&(_, pid)| pid != t.producer_id)
        .map_or(t.last_offset + 1, |(o, _)| o);
    Some(AbortedTxn {
        producer_id: t.producer_id,
        first_offset: t.first_offset,
        last_offset: t.last_offset,
        last_stable_offset,
    })
}
