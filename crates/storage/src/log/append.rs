//! Appending a batch: check it against the producer state, assign offsets, roll the segment
//! when due, write, index.

use weir_protocol::record::batch::{set_base_offset, BatchHeader};
use weir_protocol::record::BatchError;

use super::producers::{marker_of, Marker};
use super::Log;
use crate::error::StorageError;
use crate::producer::SequenceCheck;
use crate::recovery::{write_indexes_best_effort, Unsynced};
use crate::segment::Segment;

/// Who is appending, which decides the producer checks a batch gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Origin {
    /// A producer's batch: epoch, sequence and transaction checks; duplicates are answered
    /// with their original offsets. Control batches are refused.
    Client,
    /// A transaction coordinator writing markers (or its own records), at this coordinator
    /// epoch: markers from an older coordinator or producer epoch are refused.
    Coordinator {
        /// The coordinator's epoch.
        coordinator_epoch: i32,
    },
    /// A batch a leader's log already accepted: recorded without producer checks and at
    /// its own offsets (at or past the log end: a compacted leader's log has gaps).
    Replica,
}

/// Where an appended batch was stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppendInfo {
    /// Offset of the batch's first record.
    pub base_offset: i64,
    /// Offset of the batch's last record (the log end offset is one past it).
    pub last_offset: i64,
    /// The batch's max timestamp.
    pub max_timestamp: i64,
    /// Base offset of the segment the batch went into.
    pub segment_base_offset: i64,
    /// Byte position of the batch in that segment.
    pub position: u64,
    /// The batch was a retry of one already stored: nothing was written, and the offsets
    /// are those of the stored batch.
    pub duplicate: bool,
}

impl Log {
    /// Appends a producer's validated RecordBatch v2 ([`Origin::Client`]); see
    /// [`Log::append_from`].
    pub fn append(&mut self, batch: &mut [u8], now_ms: i64) -> Result<AppendInfo, StorageError> {
        self.append_from(batch, Origin::Client, now_ms)
    }

    /// Appends one validated RecordBatch v2 at the log end after the producer checks of its
    /// origin: rewrites its base offset in `batch`, rolls the segment first if it is full or
    /// old, and writes it with one write. All or nothing: on failure the log end offset is
    /// unchanged. A duplicate is not written; its stored offsets come back.
    pub fn append_from(
        &mut self,
        batch: &mut [u8],
        origin: Origin,
        now_ms: i64,
    ) -> Result<AppendInfo, StorageError> {
        self.check_not_fenced()?;
        self.last_now_ms = self.last_now_ms.max(now_ms);
        let max_batch = self.config.max_batch_bytes;
        let header = check_batch(batch, max_batch)?;
        let marker: Option<Marker> = if header.is_control() && header.producer_id >= 0 {
            marker_of(batch, max_batch)?
        } else {
            None
        };
        match (origin, marker) {
            (Origin::Client, _) if header.is_control() => {
                return Err(BatchError::CorruptRecords(
                    "producers may not write control batches".to_owned(),
                )
                .into());
            }
            (Origin::Client, _) => {
                if let SequenceCheck::Duplicate(b) = self.producers.check(&header)? {
                    return Ok(AppendInfo {
                        base_offset: b.base_offset,
                        last_offset: b.last_offset,
                        max_timestamp: b.max_timestamp,
                        segment_base_offset: -1,
                        position: 0,
                        duplicate: true,
                    });
                }
            }
            (Origin::Coordinator { coordinator_epoch }, Some(_)) => {
                self.producers.check_marker(&header, coordinator_epoch)?;
            }
            _ => {}
        }
        let base_offset = match origin {
            Origin::Replica if header.base_offset < self.log_end_offset() => {
                return Err(BatchError::CorruptRecords(format!(
                    "a replicated batch at {} is below the log end {}",
                    header.base_offset,
                    self.log_end_offset()
                ))
                .into());
            }
            Origin::Replica => {
                if header.base_offset > self.log_end_offset() {
                    self.allow_gaps_below(header.base_offset)?;
                }
                header.base_offset
            }
            _ => self.log_end_offset(),
        };
        self.epochs
            .assign(header.partition_leader_epoch, base_offset)?;
        let header = BatchHeader {
            base_offset,
            ..header
        };
        let len = batch.len() as u64;
        if self.should_roll(&header, len, now_ms) {
            self.roll_segment(now_ms)?;
        }
        set_base_offset(batch, base_offset);
        let interval = self.config.index_interval_bytes;
        let seg = self.active_mut();
        let position = seg.size;
        if let Err(e) = seg.write_batch(batch) {
            let path = seg.log_path.display().to_string();
            if let Err(cut) = seg.cut_to_size() {
                tracing::error!(file = %path, error = %cut, "cannot cut a failed write; fencing the log");
                self.fence();
            }
            return Err(StorageError::io(format!("appending to {path}"), e));
        }
        seg.track_batch(&header, len, interval);
        let info = AppendInfo {
            base_offset,
            last_offset: header.last_offset(),
            max_timestamp: header.max_timestamp,
            segment_base_offset: seg.base_offset,
            position,
            duplicate: false,
        };
        if header.producer_id >= 0 {
            if let Err(e) = self.track_producer(&header, marker) {
                // The batch is in the log but its aborted-transaction entry is not: refuse
                // writes until a reopen rebuilds the index from the log.
                tracing::error!(dir = %self.dir.display(), error = %e, "cannot index an aborted transaction; fencing the log");
                self.fence();
                return Err(e);
            }
        }
        Ok(info)
    }

    /// Lets replicated batches leave gaps below `offset` (a compacted leader's log has
    /// them): recovery accepts gaps only below the cleaner checkpoint's mark, so the mark is
    /// raised (the leader cleaned that range). Writes the checkpoint only when the mark
    /// moves; a follower raises it once per fetched chunk rather than per batch.
    pub fn allow_gaps_below(&mut self, offset: i64) -> Result<(), StorageError> {
        if offset <= self.gaps_below {
            return Ok(());
        }
        let mut state = crate::cleaner::checkpoint::read(&self.dir).unwrap_or_default();
        state.cleaned_upto = offset;
        crate::cleaner::checkpoint::write(&self.dir, &state)?;
        self.gaps_below = offset;
        Ok(())
    }

    /// Kafka's `shouldRoll`: the active segment is not empty and the batch would make it
    /// larger than `segment_bytes`, it has been open longer than `segment_ms`, or the
    /// batch's offsets do not fit its relative offsets.
    fn should_roll(&self, h: &BatchHeader, len: u64, now_ms: i64) -> bool {
        let seg = self.active();
        !seg.is_empty()
            && (seg.size + len > self.config.segment_bytes
                || seg.time_waited(now_ms, h.max_timestamp) > self.config.segment_ms
                || seg.relative(h.last_offset()).is_none())
    }

    /// Starts a new active segment at the log end; the old one's indexes are written out
    /// and its files wait for the next sync.
    pub(super) fn roll_segment(&mut self, now_ms: i64) -> Result<(), StorageError> {
        let base = self.log_end_offset();
        let new = Segment::create(&self.dir, base, now_ms)?;
        let dir = self.dir.clone();
        let old = self.active_mut();
        old.seal();
        let mut files = write_indexes_best_effort(old, &dir);
        files.push(std::sync::Arc::clone(&old.file));
        files.extend(old.txn_index.file());
        let unsynced = Unsynced {
            base_offset: old.base_offset,
            end_offset: old.next_offset,
            files,
        };
        tracing::debug!(file = %old.log_path.display(), next = base, "rolled segment");
        self.unsynced.push(unsynced);
        self.unsynced_creations.push(base);
        self.segments.push(new);
        self.snapshot_producers();
        Ok(())
    }
}

/// Checks `batch` is exactly one RecordBatch v2 within `max_len` bytes (the caller has
/// checked its CRC and records).
fn check_batch(batch: &[u8], max_len: usize) -> Result<BatchHeader, StorageError> {
    let h = BatchHeader::parse(batch)?;
    if h.magic != 2 {
        return Err(BatchError::UnsupportedMagic(h.magic).into());
    }
    let total = h.checked_total_len(max_len)?;
    if total != batch.len() {
        return Err(if total > batch.len() {
            BatchError::Truncated {
                needed: total,
                have: batch.len(),
            }
        } else {
            BatchError::InvalidLength(h.batch_length)
        }
        .into());
    }
    if h.last_offset_delta < 0 || h.record_count < 0 {
        return Err(BatchError::InvalidRecordCount {
            count: h.record_count,
            last_offset_delta: h.last_offset_delta,
        }
        .into());
    }
    Ok(h)
}
