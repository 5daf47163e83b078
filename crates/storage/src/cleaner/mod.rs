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

use crate::error::{IoContext, StorageError};
use crate::segment::Segment;
use crate::txn_index::AbortedTxn;
use checkpoint::CleanerState;

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
    /// `delete.retention.ms`: how long a tombstone (and an empty transaction's marker)
    /// stays after the pass that first cleaned it.
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
    /// The cleaner's checkpoint before the pass (when each offset was first cleaned).
    pub(crate) state: CleanerState,
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
    pub(crate) outputs: Vec<(SegmentView, Option<Rewritten>)>,
    /// The checkpoint once installed.
    pub(crate) state: CleanerState,
    pub(crate) stats: CleanStats,
}

/// A segment's rewrite: its log and index files under temporary names, fsynced.
#[derive(Debug)]
pub(crate) struct Rewritten {
    segment: Segment,
    indexes: Vec<(PathBuf, PathBuf)>,
}

impl Rewritten {
    /// Writes the rewrite's index files under temporary names and fsyncs them.
    pub(crate) fn new(segment: Segment, dir: &std::path::Path) -> Result<Self, StorageError> {
        let files = segment.write_index_files_as(dir, TMP_INDEX_SUFFIX)?;
        let indexes = files
            .into_iter()
            .map(|(tmp, f)| {
                f.sync_data().ctx(|| format!("syncing {}", tmp.display()))?;
                let final_path = tmp
                    .to_str()
                    .and_then(|t| t.strip_suffix(TMP_INDEX_SUFFIX))
                    .map(PathBuf::from)
                    .ok_or_else(|| {
                        StorageError::Corrupt(format!("index name {}", tmp.display()))
                    })?;
                Ok((tmp, final_path))
            })
            .collect::<Result<Vec<_>, StorageError>>()?;
        Ok(Self { segment, indexes })
    }

    /// Renames the rewrite into place over `log_path` (the caller removed the old index
    /// files first), then its indexes; the segment now describes `log_path`.
    pub(crate) fn install(self, log_path: &std::path::Path) -> Result<Segment, StorageError> {
        let mut segment = self.segment;
        std::fs::rename(&segment.log_path, log_path)
            .ctx(|| format!("replacing {}", log_path.display()))?;
        segment.log_path = log_path.to_path_buf();
        for (tmp, final_path) in &self.indexes {
            std::fs::rename(tmp, final_path).ctx(|| format!("renaming {}", tmp.display()))?;
        }
        Ok(segment)
    }

    /// Removes the rewrite's files (a rewrite that is not installed).
    pub(crate) fn remove_files(&self) -> Result<(), StorageError> {
        crate::durable::remove_if_exists(&self.segment.log_path)?;
        for (tmp, _) in &self.indexes {
            crate::durable::remove_if_exists(tmp)?;
        }
        Ok(())
    }
}

/// Suffix of a rewrite's index files until they are installed.
const TMP_INDEX_SUFFIX: &str = ".cleaned.tmp";

impl CleanPlan {
    /// Maps the dirty keys and rewrites the planned segments; `throttle` is told every
    /// batch's size so the caller can bound the I/O rate.
    pub fn run(&self, throttle: &mut dyn FnMut(u64)) -> Result<Cleaned, StorageError> {
        let mut stats = CleanStats::default();
        let mut map = OffsetMap::new(self.map_entries);
        let aborted = rewrite::aborted_by_producer(self);
        let mut mapped = self.first_dirty;
        for view in self.segments.iter().skip(self.first_dirty) {
            if !rewrite::map_segment(self, view, &aborted, &mut map, &mut stats, throttle)? {
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
        let mut outputs: Vec<(SegmentView, Option<Rewritten>)> = Vec::with_capacity(mapped);
        let mut txn_state = rewrite::TxnTracker::default();
        for view in self.segments.iter().take(mapped) {
            let written = rewrite::rewrite_segment(
                self,
                view,
                &map,
                &aborted,
                &mut txn_state,
                &mut stats,
                throttle,
            )
            .and_then(|new| new.map(|s| Rewritten::new(s, &self.dir)).transpose());
            match written {
                Ok(new) => outputs.push((view.clone(), new)),
                Err(e) => {
                    // Leave nothing behind for a pass that will not be installed.
                    for r in outputs.iter().filter_map(|(_, r)| r.as_ref()) {
                        let _ = r.remove_files();
                    }
                    let tmp = rewrite::tmp_path(&self.dir, view.base_offset);
                    let _ = crate::durable::remove_if_exists(&tmp);
                    return Err(e);
                }
            }
            stats.segments += 1;
        }
        let cleaned_upto = self
            .segments
            .get(mapped - 1)
            .map_or(self.cleaned_before, |v| v.next_offset);
        Ok(Cleaned {
            outputs,
            state: self.state.after_pass(cleaned_upto, self.now_ms),
            stats,
        })
    }
}
