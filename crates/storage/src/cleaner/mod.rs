//! Log compaction, after Kafka's `LogCleaner`: keeps the latest record of every key.
//!
//! - `offset_map`: the bounded key -> latest offset map built from the dirty part.
//! - `checkpoint`: how far the log has been cleaned (`cleaner.checkpoint`).
//! - `rewrite`: one segment rewritten with only the records that survive.
//!
//! A pass has three steps so that the log is locked only briefly:
//! 1. [`Log::plan_compaction`](crate::Log::plan_compaction) (read access): picks the cleanable segments (below the
//!    active segment, the last stable offset, the recovery point and `min.compaction.lag.ms`)
//!    when the dirty share reaches `min.cleanable.dirty.ratio` or the oldest dirty data is
//!    past `max.compaction.lag.ms`.
//! 2. [`CleanPlan::run`] (no lock): maps the keys of the dirty segments, then rewrites every
//!    planned segment into `<base>.cleaned.tmp`, fsynced: a record stays if its key has no
//!    later offset, except tombstones already cleaned once and older than
//!    `delete.retention.ms`; records without a key and aborted transactions' records go.
//!    Offsets are never renumbered: a rewritten batch keeps its base and last offsets.
//! 3. [`Log::install_compaction`](crate::Log::install_compaction) (write access): if the planned segments are unchanged,
//!    each is replaced by its rewrite with one rename (its index files are removed first, so
//!    a crash at any point leaves either segment whole and indexes that are rebuilt), then
//!    the checkpoint moves. Leftover `.tmp` files are removed when the log opens.

pub(crate) mod checkpoint;
mod offset_map;
mod rewrite;

use std::collections::HashMap;
use std::fs::File;
use std::path::PathBuf;
use std::sync::Arc;

use crate::error::StorageError;
use crate::segment::Segment;
use crate::txn_index::AbortedTxn;

use offset_map::OffsetMap;
pub(crate) use offset_map::BYTES_PER_ENTRY;

/// A partition's compaction settings, with Kafka's topic config names.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CompactionPolicy {
    /// `min.cleanable.dirty.ratio`: clean once this share of the cleanable bytes is dirty.
    pub min_cleanable_dirty_ratio: f64,
    /// `min.compaction.lag.ms`: records younger than this are not compacted yet.
    pub min_compaction_lag_ms: i64,
    /// `max.compaction.lag.ms`: dirty records older than this are compacted whatever the ratio.
    pub max_compaction_lag_ms: i64,
    /// `delete.retention.ms`: how long a tombstone stays after it was first cleaned.
    pub delete_retention_ms: i64,
}

impl Default for CompactionPolicy {
    fn default() -> Self {
        Self {
            min_cleanable_dirty_ratio: 0.5,
            min_compaction_lag_ms: 0,
            max_compaction_lag_ms: i64::MAX,
            delete_retention_ms: 86_400_000,
        }
    }
}

/// What a compaction pass read, wrote and kept.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CleanStats {
    /// Segments rewritten.
    pub segments: usize,
    /// Bytes of batches read (mapping and rewriting).
    pub bytes_read: u64,
    /// Bytes of batches written.
    pub bytes_written: u64,
    /// Records looked at while rewriting.
    pub records_read: u64,
    /// Records kept.
    pub records_kept: u64,
    /// Whether the rewrite replaced the log's segments (false if the log changed meanwhile).
    pub installed: bool,
}

/// A segment as the plan saw it: the rewrite reads this file, and install checks it is still
/// the segment's.
#[derive(Debug, Clone)]
pub(crate) struct SegmentView {
    pub(crate) base_offset: i64,
    /// One past its last offset when planned.
    pub(crate) next_offset: i64,
    pub(crate) file: Arc<File>,
    pub(crate) size: u64,
    pub(crate) path: PathBuf,
}

/// A compaction pass chosen under the log's read lock, to run without it.
#[derive(Debug)]
pub struct CleanPlan {
    pub(crate) dir: PathBuf,
    /// Base offset of the log's first segment, which stays even if emptied (so that the
    /// log start keeps a segment).
    pub(crate) first_base: i64,
    pub(crate) segments: Vec<SegmentView>,
    /// Index in `segments` of the first dirty segment.
    pub(crate) first_dirty: usize,
    /// The log was cleaned below this before the pass: tombstones there may go.
    pub(crate) cleaned_before: i64,
    pub(crate) aborted: Vec<AbortedTxn>,
    /// Producer id -> last offset of its last batch (kept, even emptied, for its state).
    pub(crate) producer_last: HashMap<i64, i64>,
    pub(crate) policy: CompactionPolicy,
    pub(crate) now_ms: i64,
    pub(crate) max_batch_bytes: usize,
    pub(crate) index_interval: u32,
    pub(crate) map_entries: usize,
}

/// A finished rewrite, waiting to be installed.
#[derive(Debug)]
pub struct Cleaned {
    /// Each planned segment and its rewrite (`None`: nothing survived).
    pub(crate) outputs: Vec<(SegmentView, Option<Segment>)>,
    pub(crate) cleaned_upto: i64,
    pub(crate) stats: CleanStats,
}

impl CleanPlan {
    /// Maps the dirty keys and rewrites the planned segments; `throttle` is told every
    /// batch's size so the caller can bound the I/O rate.
    pub fn run(&self, throttle: &mut dyn FnMut(u64)) -> Result<Cleaned, StorageError> {
        let mut stats = CleanStats::default();
        let mut map = OffsetMap::new(self.map_entries);
        let mut mapped = self.first_dirty;
        for view in self.segments.iter().skip(self.first_dirty) {
            if !rewrite::map_segment(self, view, &mut map, &mut stats, throttle)? {
                break;
            }
            mapped += 1;
        }
        if mapped == self.first_dirty {
            return Err(StorageError::Corrupt(format!(
                "{}: the cleaner's key map cannot hold the keys of one segment; raise log.cleaner.dedupe.buffer.size",
                self.dir.display()
            )));
        }
        let mut outputs = Vec::with_capacity(mapped);
        for view in self.segments.iter().take(mapped) {
            let new = rewrite::rewrite_segment(self, view, &map, &mut stats, throttle)?;
            stats.segments += 1;
            outputs.push((view.clone(), new));
        }
        let cleaned_upto = self
            .segments
            .get(mapped - 1)
            .map_or(self.cleaned_before, |v| v.next_offset);
        Ok(Cleaned {
            outputs,
            cleaned_upto,
            stats,
        })
    }
}
