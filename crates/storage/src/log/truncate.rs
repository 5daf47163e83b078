//! Dropping data: the tail for replication (`truncate_to`), whole head segments for
//! retention (`delete_segments_before`), and rolling on demand.

use super::Log;
use crate::error::StorageError;
use crate::segment::Segment;

impl Log {
    /// Drops every batch whose last offset is at or above `offset` (whole batches, so the
    /// log end may land below `offset`). Below the log start, empties the log and restarts
    /// it at `offset`. The lowered recovery point is checkpointed before any file changes.
    pub fn truncate_to(&mut self, offset: i64) -> Result<(), StorageError> {
        self.check_not_fenced()?;
        if offset >= self.log_end_offset() {
            return Ok(());
        }
        let keep = match self.segment_index_for(offset) {
            Some(i) if offset >= self.log_start_offset => i,
            _ => return self.truncate_fully_and_start_at(offset),
        };
        let max_batch = self.config.max_batch_bytes;
        let new_end = match self.segments.get(keep) {
            Some(seg) => seg
                .find_batch(offset, max_batch)?
                .map_or(seg.next_offset, |b| b.header.base_offset),
            None => offset,
        };
        self.lower_recovery_point(new_end)?;
        // Newest first, so a crash midway leaves no gap between segments.
        while self.segments.len() > keep + 1 {
            let Some(seg) = self.segments.last() else {
                break;
            };
            Segment::delete_files(&self.dir, seg.base_offset)?;
            self.segments.pop();
        }
        if let Err(e) = self.active_mut().truncate_to(offset, max_batch) {
            self.fence();
            return Err(e);
        }
        self.sync_dir()?;
        let active_base = self.active().base_offset;
        self.unsynced.retain(|u| u.base_offset < active_base);
        self.unsynced_creations.retain(|&b| b <= active_base);
        let log_end = self.log_end_offset();
        self.log_start_offset = self.log_start_offset.min(log_end);
        tracing::info!(dir = %self.dir.display(), offset, log_end, "truncated log");
        self.epochs.truncate_from_end(log_end)?;
        self.rebuild_producers()
    }

    /// Empties the log and starts it again at `offset` (a replicated log whose leader
    /// replaced its prefix with a snapshot).
    pub fn reset_to(&mut self, offset: i64) -> Result<(), StorageError> {
        self.check_not_fenced()?;
        self.truncate_fully_and_start_at(offset)
    }

    fn truncate_fully_and_start_at(&mut self, offset: i64) -> Result<(), StorageError> {
        self.lower_recovery_point(offset)?;
        while let Some(seg) = self.segments.last() {
            Segment::delete_files(&self.dir, seg.base_offset)?;
            self.segments.pop();
        }
        let seg = match Segment::create(&self.dir, offset, self.last_now_ms) {
            Ok(s) => s,
            Err(e) => {
                // No segment left: nothing can be appended until the log is reopened.
                self.fence();
                return Err(e);
            }
        };
        self.segments.push(seg);
        self.sync_dir()?;
        self.unsynced.clear();
        self.unsynced_creations = vec![offset];
        self.log_start_offset = offset;
        self.recovery_point = offset;
        tracing::info!(dir = %self.dir.display(), offset, "emptied log");
        self.write_checkpoint(false)?;
        self.epochs.clear()?;
        self.rebuild_producers()
    }

    /// Fsyncs the partition directory: segment files created or removed stay so after a
    /// power loss.
    pub(super) fn sync_dir(&self) -> Result<(), StorageError> {
        use crate::error::IoContext;
        crate::durable::sync_dir(&self.dir)
            .ctx(|| format!("syncing directory {}", self.dir.display()))
    }

    /// Before a truncation to `new_end`: lowers the recovery point to it, distrusts sync
    /// targets taken before (they may have synced a tail that is now gone and report an
    /// offset that new appends reuse), and checkpoints the lowered point.
    fn lower_recovery_point(&mut self, new_end: i64) -> Result<(), StorageError> {
        self.recovery_point = self.recovery_point.min(new_end);
        self.sync_generation += 1;
        self.sync_shared
            .new_generation(self.sync_generation, self.recovery_point);
        self.write_checkpoint(false)
    }

    /// Deletes every segment whose offsets are all below `offset`, except the active one,
    /// and advances the log start offset to the first remaining segment; returns how many
    /// segments were deleted. (Roll first with [`Log::roll`] to let the active one go too.)
    pub fn delete_segments_before(&mut self, offset: i64) -> Result<usize, StorageError> {
        self.check_not_fenced()?;
        let deletable = self
            .segments
            .iter()
            .take(self.segments.len().saturating_sub(1))
            .take_while(|s| s.next_offset <= offset)
            .count();
        // Oldest first, so a crash midway leaves no gap between segments.
        let mut deleted = 0;
        let result = self.segments.iter().take(deletable).try_for_each(|seg| {
            Segment::delete_files(&self.dir, seg.base_offset)?;
            deleted += 1;
            Ok::<(), StorageError>(())
        });
        self.segments.drain(..deleted);
        result?;
        if deleted == 0 {
            return Ok(0);
        }
        self.sync_dir()?;
        let first = self.segments.first().map_or(0, |s| s.base_offset);
        self.log_start_offset = self.log_start_offset.max(first);
        self.recovery_point = self.recovery_point.max(self.log_start_offset);
        self.unsynced.retain(|u| u.base_offset >= first);
        self.unsynced_creations.retain(|&b| b >= first);
        self.producers.drop_before(self.log_start_offset);
        tracing::info!(dir = %self.dir.display(), deleted, log_start = self.log_start_offset, "deleted segments");
        self.write_checkpoint(false)?;
        Ok(deleted)
    }

    /// Starts a new active segment at the log end unless the active one is empty.
    pub fn roll(&mut self, now_ms: i64) -> Result<(), StorageError> {
        self.check_not_fenced()?;
        if self.active().is_empty() {
            return Ok(());
        }
        self.roll_segment(now_ms)
    }
}
