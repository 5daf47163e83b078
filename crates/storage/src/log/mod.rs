//! The partition log: an ordered set of segments with one active (last) segment.
//!
//! - `mod.rs`: the [`Log`] type, opening (through the `recovery` module) and accessors.
//! - `append.rs`: appending a batch and rolling segments.
//! - `read.rs`: reading batches and the timestamp lookups.
//! - `sync.rs`: [`SyncTarget`] for group commit, flush and close.
//! - `truncate.rs`: dropping the tail (`truncate_to`) or the head (`delete_segments_before`).
//! - `producers.rs`: producer state, snapshots, last stable offset, aborted transactions.
//! - `retention.rs`: time and size retention, and DeleteRecords.
//! - `compact.rs`: planning and installing a compaction pass (see `cleaner`).

mod append;
mod compact;
mod producers;
mod read;
mod retention;
mod sync;
mod truncate;

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Instant;

use crate::config::LogConfig;
use crate::epochs::LeaderEpochs;
use crate::error::{IoContext, StorageError};
use crate::producer::ProducerState;
use crate::recovery::{self, RecoveryInfo, Unsynced};
use crate::segment::Segment;

pub use append::{AppendInfo, Origin};
pub use read::ReadResult;
pub use retention::RetentionPolicy;
use sync::SyncShared;
pub use sync::SyncTarget;

/// One partition's log on disk: segments of RecordBatches in offset order.
///
/// Appends take `&mut self` (one writer); reads take `&self`. Durability is separate from
/// appending: [`Log::sync_target`] hands out what to fsync, and [`Log::mark_synced`] records
/// that it was.
#[derive(Debug)]
pub struct Log {
    dir: PathBuf,
    config: LogConfig,
    /// Never empty; sorted by base offset; the last one is active.
    segments: Vec<Segment>,
    log_start_offset: i64,
    recovery_point: i64,
    /// Fenced flag and synced offset, shared with sync targets.
    sync_shared: Arc<SyncShared>,
    /// Bumped by every truncation; sync targets from older generations are not trusted.
    sync_generation: u64,
    /// Rolled segments whose files are not yet fsynced.
    unsynced: Vec<Unsynced>,
    /// Base offsets of segments created since the directory was last fsynced.
    unsynced_creations: Vec<i64>,
    /// When and at which recovery point the checkpoint was last written.
    checkpointed_at: Instant,
    checkpointed_point: i64,
    recovery_info: RecoveryInfo,
    /// The latest `now_ms` the caller passed in (for segments created without one).
    last_now_ms: i64,
    /// Idempotent and transactional producers' state.
    producers: ProducerState,
    /// Where each leader epoch's batches start.
    epochs: LeaderEpochs,
    /// The cleaner checkpoint's mark as last read or written: gaps between batches are
    /// accepted below it (compaction's, or a compacted leader's replicated here).
    gaps_below: i64,
}

impl Log {
    /// Opens (creating if missing) the log in `dir` and recovers it: indexes are loaded or
    /// rebuilt and every batch from the recovery point on, and the whole last segment, is
    /// checked; invalid data is cut off with a warning.
    pub fn open(dir: &Path, config: LogConfig, now_ms: i64) -> Result<Log, StorageError> {
        config.validate()?;
        if !dir.exists() {
            fs::create_dir_all(dir).ctx(|| format!("creating {}", dir.display()))?;
            if let Some(parent) = dir.parent() {
                File::open(parent)
                    .and_then(|p| p.sync_all())
                    .ctx(|| format!("syncing directory {}", parent.display()))?;
            }
        }
        let r = recovery::recover(dir, &config, now_ms)?;
        if r.checkpoint_stale {
            recovery::write_checkpoint(dir, r.recovery_point, r.log_start_offset, false)?;
        }
        tracing::debug!(
            dir = %dir.display(),
            log_start = r.log_start_offset,
            log_end = r.segments.last().map_or(0, |s| s.next_offset),
            segments = r.segments.len(),
            "log opened"
        );
        let log_end = r.segments.last().map_or(0, |s| s.next_offset);
        let mut epochs = LeaderEpochs::load(dir, i64::MAX);
        epochs.truncate_from_end(log_end)?;
        let mut log = Log {
            dir: dir.to_path_buf(),
            config,
            segments: r.segments,
            log_start_offset: r.log_start_offset,
            recovery_point: r.recovery_point,
            sync_shared: Arc::new(SyncShared::new(r.recovery_point)),
            sync_generation: 0,
            unsynced: r.unsynced,
            unsynced_creations: r.unsynced_creations,
            checkpointed_at: Instant::now(),
            checkpointed_point: r.recovery_point,
            recovery_info: r.info,
            last_now_ms: now_ms,
            producers: ProducerState::new(),
            epochs,
            gaps_below: r.cleaned_upto,
        };
        log.rebuild_producers()?;
        Ok(log)
    }

    /// Where each leader epoch's batches start.
    pub fn leader_epochs(&self) -> &LeaderEpochs {
        &self.epochs
    }

    /// OffsetForLeaderEpoch: the largest epoch at or below `epoch` and where it ends here.
    pub fn end_offset_for_epoch(&self, epoch: i32) -> (i32, i64) {
        self.epochs.end_offset_for(epoch, self.log_end_offset())
    }

    /// The first readable offset.
    pub fn log_start_offset(&self) -> i64 {
        self.log_start_offset
    }

    /// The offset the next appended record gets.
    pub fn log_end_offset(&self) -> i64 {
        self.active().next_offset
    }

    /// Every offset below this is fsynced.
    pub fn recovery_point(&self) -> i64 {
        self.recovery_point
    }

    /// Bytes of batches in all segments.
    pub fn size_bytes(&self) -> u64 {
        self.segments.iter().map(|s| s.size).sum()
    }

    /// Number of segments (at least one).
    pub fn segment_count(&self) -> usize {
        self.segments.len()
    }

    /// The partition directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The configuration the log runs with.
    pub fn config(&self) -> &LogConfig {
        &self.config
    }

    /// Changes the configuration (a topic config change); it applies from the next append.
    pub fn set_config(&mut self, config: LogConfig) -> Result<(), StorageError> {
        config.validate()?;
        self.config = config;
        Ok(())
    }

    /// What recovery found when the log was opened.
    pub fn recovery_info(&self) -> &RecoveryInfo {
        &self.recovery_info
    }

    /// Whether a failed write or fsync made the log refuse writes.
    pub fn is_fenced(&self) -> bool {
        self.sync_shared.fenced.load(Ordering::Acquire)
    }

    fn check_not_fenced(&self) -> Result<(), StorageError> {
        if self.is_fenced() {
            Err(StorageError::Fenced)
        } else {
            Ok(())
        }
    }

    /// Makes the log refuse every further write (a failed write or fsync; or the
    /// partition was deleted, so work still in flight must not touch its files).
    pub fn fence(&self) {
        self.sync_shared.fenced.store(true, Ordering::Release);
    }

    #[allow(clippy::expect_used)] // the segment list is never empty: open and every change keep one
    fn active(&self) -> &Segment {
        self.segments
            .last()
            .expect("a log always has an active segment")
    }

    #[allow(clippy::expect_used)] // see `active`
    fn active_mut(&mut self) -> &mut Segment {
        self.segments
            .last_mut()
            .expect("a log always has an active segment")
    }

    /// Index of the segment holding `offset` (the last with base offset at or below it; the
    /// first one for an offset below every base, which compaction can leave above the log
    /// start).
    fn segment_index_for(&self, offset: i64) -> Option<usize> {
        let n = self.segments.partition_point(|s| s.base_offset <= offset);
        n.checked_sub(1)
            .or_else(|| (!self.segments.is_empty()).then_some(0))
    }

    fn write_checkpoint(&mut self, clean_shutdown: bool) -> Result<(), StorageError> {
        recovery::write_checkpoint(
            &self.dir,
            self.recovery_point,
            self.log_start_offset,
            clean_shutdown,
        )?;
        self.checkpointed_at = Instant::now();
        self.checkpointed_point = self.recovery_point;
        Ok(())
    }
}
