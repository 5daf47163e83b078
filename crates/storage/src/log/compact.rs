//! Compaction's two steps that need the log: choosing what to clean (read access) and
//! installing the rewrite (write access); the rewrite itself is `cleaner`'s.

use std::sync::Arc;

use super::Log;
use crate::cleaner::{
    self, CleanPlan, CleanStats, Cleaned, CompactionPolicy, SegmentView, BYTES_PER_ENTRY,
};
use crate::error::StorageError;
use crate::segment::Segment;

impl Log {
    /// The compaction pass due now, if any: the cleanable segments lie below `upper` (the
    /// last stable offset), the recovery point and the active segment. `map_bytes` bounds
    /// the memory of the key map (Kafka's `log.cleaner.dedupe.buffer.size`).
    pub fn plan_compaction(
        &self,
        policy: &CompactionPolicy,
        upper: i64,
        map_bytes: usize,
        now_ms: i64,
    ) -> Option<CleanPlan> {
        let limit = upper.min(self.recovery_point);
        // With no lag, a record timestamped in the future does not hold cleaning back.
        let lagged = |s: &Segment| {
            policy.min_compaction_lag_ms <= 0
                || s.max_timestamp <= now_ms.saturating_sub(policy.min_compaction_lag_ms)
        };
        let active = self.segments.len().saturating_sub(1);
        let cleanable: Vec<&Segment> = self
            .segments
            .iter()
            .take(active)
            .take_while(|s| s.next_offset <= limit && lagged(s))
            .filter(|s| !s.is_empty())
            .collect();
        let state = cleaner::checkpoint::read(&self.dir).unwrap_or_default();
        let cleaned_before = state.cleaned_upto.max(self.log_start_offset);
        let first_dirty = cleanable
            .iter()
            .position(|s| s.next_offset > cleaned_before)?;
        let total: u64 = cleanable.iter().map(|s| s.size).sum();
        let dirty: u64 = cleanable.iter().skip(first_dirty).map(|s| s.size).sum();
        let ratio = dirty as f64 / total.max(1) as f64;
        let overdue = policy.max_compaction_lag_ms < i64::MAX
            && cleanable.get(first_dirty).is_some_and(|s| {
                s.max_timestamp >= 0
                    && s.max_timestamp < now_ms.saturating_sub(policy.max_compaction_lag_ms)
            });
        if ratio < policy.min_cleanable_dirty_ratio && !overdue {
            return None;
        }
        let end = cleanable.last().map_or(0, |s| s.next_offset);
        let producer_last = self
            .producers
            .entries()
            .filter_map(|(&pid, e)| e.batches.back().map(|b| (pid, b.last_offset)))
            .collect();
        Some(CleanPlan {
            dir: self.dir.clone(),
            first_base: self.segments.first().map_or(0, |s| s.base_offset),
            segments: cleanable
                .iter()
                .map(|s| SegmentView {
                    base_offset: s.base_offset,
                    next_offset: s.next_offset,
                    file: Arc::clone(&s.file),
                    size: s.size,
                    path: s.log_path.clone(),
                })
                .collect(),
            first_dirty,
            cleaned_before,
            state,
            aborted: self.aborted_transactions(self.log_start_offset, end),
            producer_last,
            policy: *policy,
            now_ms,
            max_batch_bytes: self.config.max_batch_bytes,
            index_interval: self.config.index_interval_bytes,
            map_entries: (map_bytes / BYTES_PER_ENTRY).max(1),
        })
    }

    /// Replaces the planned segments with their rewrites, unless the log changed since the
    /// plan (a truncation or retention removed or replaced one), in which case the rewrite
    /// is dropped.
    pub fn install_compaction(&mut self, cleaned: Cleaned) -> Result<CleanStats, StorageError> {
        self.check_not_fenced()?;
        let Cleaned {
            outputs,
            state,
            mut stats,
        } = cleaned;
        let unchanged = outputs.iter().all(|(view, _)| {
            self.segments.iter().any(|s| {
                s.base_offset == view.base_offset
                    && Arc::ptr_eq(&s.file, &view.file)
                    && s.size == view.size
            })
        });
        if !unchanged {
            tracing::info!(dir = %self.dir.display(), "log changed during compaction; dropping the rewrite");
            for (_, new) in &outputs {
                if let Some(new) = new {
                    new.remove_files()?;
                }
            }
            return Ok(stats);
        }
        // The checkpoint first: recovery accepts the gaps compaction leaves only below it.
        // Replicated gaps may have raised it since the plan: keep the higher mark.
        let mut state = state;
        state.cleaned_upto = state.cleaned_upto.max(self.gaps_below);
        cleaner::checkpoint::write(&self.dir, &state)?;
        self.gaps_below = state.cleaned_upto;
        for (view, new) in outputs {
            let Some(i) = self
                .segments
                .iter()
                .position(|s| s.base_offset == view.base_offset)
            else {
                continue;
            };
            // Indexes first: whatever happens next, none can describe the wrong file.
            Segment::remove_index_files(&self.dir, view.base_offset)?;
            match new {
                Some(new) => {
                    let mut new = new.install(&view.path)?;
                    if let Some(old) = self.segments.get_mut(i) {
                        std::mem::swap(&mut new.txn_index, &mut old.txn_index);
                        *old = new;
                    }
                }
                None => {
                    Segment::delete_files(&self.dir, view.base_offset)?;
                    self.segments.remove(i);
                }
            }
            self.unsynced.retain(|u| u.base_offset != view.base_offset);
        }
        self.sync_dir()?;
        stats.installed = true;
        tracing::info!(
            dir = %self.dir.display(), segments = stats.segments, read = stats.bytes_read,
            written = stats.bytes_written, kept = stats.records_kept, of = stats.records_read,
            "compacted"
        );
        Ok(stats)
    }
}
