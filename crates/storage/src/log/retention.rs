//! Retention (Kafka's `deleteOldSegments`) and DeleteRecords: whole segments go from the head
//! of the log when they are older than `retention.ms`, when the log without them is still at
//! least `retention.bytes`, or when they lie wholly below the log start offset; never past
//! the high watermark. When every segment is due, the active one is rolled first so it can
//! go too, leaving an empty log that starts at its end.

use super::Log;
use crate::error::StorageError;
use crate::segment::Segment;

/// A partition's retention settings, with Kafka's meanings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetentionPolicy {
    /// `retention.ms`: segments whose newest record is older go; -1 keeps them forever.
    pub retention_ms: i64,
    /// `retention.bytes`: oldest segments go while the rest stays at least this big; -1 is
    /// unlimited.
    pub retention_bytes: i64,
}

impl RetentionPolicy {
    /// Keep everything.
    pub const FOREVER: RetentionPolicy = RetentionPolicy {
        retention_ms: -1,
        retention_bytes: -1,
    };
}

impl Log {
    /// Deletes the segments retention allows below `upper` (the high watermark); returns how
    /// many went. The log start offset moves to the first remaining segment.
    pub fn enforce_retention(
        &mut self,
        policy: &RetentionPolicy,
        upper: i64,
        now_ms: i64,
    ) -> Result<usize, StorageError> {
        self.check_not_fenced()?;
        let due = self.segments_due(policy, upper, now_ms);
        if due == 0 {
            return Ok(0);
        }
        if due >= self.segments.len() {
            // The active segment is due too: roll, so that it is no longer active.
            self.roll(now_ms)?;
        }
        let Some(keep_from) = self.segments.get(due).map(|s| s.base_offset) else {
            return Ok(0);
        };
        let deleted = self.delete_segments_before(keep_from)?;
        if deleted > 0 {
            tracing::info!(
                dir = %self.dir.display(), deleted, log_start = self.log_start_offset,
                "retention deleted segments"
            );
        }
        Ok(deleted)
    }

    /// How many segments from the head retention would delete: the longest prefix that
    /// breaches time or size retention or lies below the log start offset, each one
    /// non-empty and wholly below `upper`.
    fn segments_due(&self, policy: &RetentionPolicy, upper: i64, now_ms: i64) -> usize {
        // Every segment below the high watermark, but an empty last (active) one; an empty
        // segment compaction left first does not hold retention back.
        let last = self.segments.len().saturating_sub(1);
        let eligible = self
            .segments
            .iter()
            .enumerate()
            .take_while(|(i, s)| s.next_offset <= upper && !(*i == last && s.is_empty()))
            .count();
        let by_start = self
            .segments
            .iter()
            .take(eligible)
            .take_while(|s| s.next_offset <= self.log_start_offset)
            .count();
        let by_time = if policy.retention_ms < 0 {
            0
        } else {
            self.segments
                .iter()
                .take(eligible)
                .take_while(|s| {
                    s.is_empty() || now_ms.saturating_sub(newest_timestamp(s)) > policy.retention_ms
                })
                .count()
        };
        let by_size = if policy.retention_bytes < 0 {
            0
        } else {
            let mut excess = self.size_bytes() as i64 - policy.retention_bytes;
            self.segments
                .iter()
                .take(eligible)
                .take_while(|s| {
                    let fits = excess - s.size as i64 >= 0;
                    if fits {
                        excess -= s.size as i64;
                    }
                    fits
                })
                .count()
        };
        by_start.max(by_time).max(by_size)
    }

    /// DeleteRecords: makes `offset` (at most `upper`, the high watermark) the log start
    /// offset and deletes the segments wholly below it; returns the new log start offset.
    pub fn delete_records_before(&mut self, offset: i64, upper: i64) -> Result<i64, StorageError> {
        self.check_not_fenced()?;
        if offset < 0 || offset > upper || offset > self.log_end_offset() {
            return Err(StorageError::OffsetOutOfRange {
                offset,
                log_start: self.log_start_offset,
                log_end: self.log_end_offset(),
            });
        }
        if offset <= self.log_start_offset {
            return Ok(self.log_start_offset);
        }
        self.log_start_offset = offset;
        self.recovery_point = self.recovery_point.max(offset);
        self.write_checkpoint(false)?;
        self.delete_segments_before(offset)?;
        self.producers.drop_before(offset);
        tracing::info!(dir = %self.dir.display(), log_start = offset, "records deleted");
        Ok(self.log_start_offset)
    }
}

/// The timestamp retention judges a segment by: its newest record's, or when its records
/// carry none, when its file was last written (as Kafka does).
fn newest_timestamp(s: &Segment) -> i64 {
    if s.max_timestamp >= 0 {
        return s.max_timestamp;
    }
    s.file
        .metadata()
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(i64::MAX, |d| {
            i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
        })
}
