//! The leader epoch cache (Kafka's `leader-epoch-checkpoint`): for each leader epoch seen in
//! the log, the offset of its first batch. OffsetForLeaderEpoch answers from it, and a
//! follower uses the answer to find where its log diverged from its new leader's.
//!
//! The file is text, as Kafka's: a version line, a count line, then `epoch start_offset`
//! per line. It is replaced whole (temporary file, fsync, rename) on every change.

use std::fs;
use std::path::{Path, PathBuf};

use crate::error::{IoContext, StorageError};

/// File name of the cache in a partition directory.
pub const LEADER_EPOCH_FILE: &str = "leader-epoch-checkpoint";

/// Most entries a cache file may claim; a bound on what a damaged file can make us allocate.
const MAX_ENTRIES: usize = 1 << 20;

/// One leader epoch and the offset where its batches start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EpochEntry {
    /// The leader epoch.
    pub epoch: i32,
    /// Offset of its first batch.
    pub start_offset: i64,
}

/// A partition's leader epochs, in increasing order of epoch and start offset.
#[derive(Debug)]
pub struct LeaderEpochs {
    path: PathBuf,
    entries: Vec<EpochEntry>,
}

impl LeaderEpochs {
    /// Loads the cache of the log in `dir`, keeping only epochs that start below
    /// `log_end` (recovery may have cut the tail they describe). A missing or unreadable
    /// file gives an empty cache (with a warning when unreadable).
    pub fn load(dir: &Path, log_end: i64) -> LeaderEpochs {
        let path = dir.join(LEADER_EPOCH_FILE);
        let entries = match fs::read_to_string(&path) {
            Ok(text) => parse(&text).unwrap_or_else(|| {
                tracing::warn!(file = %path.display(), "unreadable leader epoch cache; starting it empty");
                Vec::new()
            }),
            Err(_) => Vec::new(),
        };
        let mut cache = LeaderEpochs { path, entries };
        cache.entries.retain(|e| e.start_offset < log_end);
        cache
    }

    /// All entries, oldest first.
    pub fn entries(&self) -> &[EpochEntry] {
        &self.entries
    }

    /// The newest epoch, if any.
    pub fn latest(&self) -> Option<EpochEntry> {
        self.entries.last().copied()
    }

    /// Records that batches of `epoch` start at `offset`. Epochs only grow: an epoch at or
    /// below the newest is already known (or stale) and changes nothing.
    pub fn assign(&mut self, epoch: i32, offset: i64) -> Result<(), StorageError> {
        if epoch < 0 || self.latest().is_some_and(|l| epoch <= l.epoch) {
            return Ok(());
        }
        self.entries.retain(|e| e.start_offset < offset);
        self.entries.push(EpochEntry {
            epoch,
            start_offset: offset,
        });
        self.persist()
    }

    /// Kafka's `endOffsetFor`: the largest epoch at or below `requested` and the offset
    /// where the next epoch starts (`log_end` for the newest); `(-1, -1)` when `requested`
    /// is newer than every epoch here or undefined.
    pub fn end_offset_for(&self, requested: i32, log_end: i64) -> (i32, i64) {
        if requested < 0 {
            return (-1, -1);
        }
        if self.latest().is_some_and(|l| l.epoch == requested) {
            return (requested, log_end);
        }
        let Some(higher) = self.entries.iter().find(|e| e.epoch > requested) else {
            return (-1, -1);
        };
        match self.entries.iter().rev().find(|e| e.epoch <= requested) {
            Some(floor) => (floor.epoch, higher.start_offset),
            None => (requested, higher.start_offset),
        }
    }

    /// Forgets epochs that start at or after `end` (the log was truncated to `end`).
    pub fn truncate_from_end(&mut self, end: i64) -> Result<(), StorageError> {
        let before = self.entries.len();
        self.entries.retain(|e| e.start_offset < end);
        if self.entries.len() == before {
            return Ok(());
        }
        self.persist()
    }

    /// Forgets everything (the log was emptied and restarted).
    pub fn clear(&mut self) -> Result<(), StorageError> {
        if self.entries.is_empty() {
            return Ok(());
        }
        self.entries.clear();
        self.persist()
    }

    fn persist(&self) -> Result<(), StorageError> {
        let mut text = format!("0\n{}\n", self.entries.len());
        for e in &self.entries {
            text.push_str(&format!("{} {}\n", e.epoch, e.start_offset));
        }
        crate::durable::write_atomic(&self.path, text.as_bytes())
            .ctx(|| format!("replacing {}", self.path.display()))
    }
}

/// Parses the file; `None` if it is not a well-formed cache.
fn parse(text: &str) -> Option<Vec<EpochEntry>> {
    let mut lines = text.lines();
    if lines.next()?.trim() != "0" {
        return None;
    }
    let count: usize = lines.next()?.trim().parse().ok()?;
    if count > MAX_ENTRIES {
        return None;
    }
    // Each entry takes at least four bytes of text: no more room than the file can fill.
    let mut out = Vec::with_capacity(count.min(text.len() / 4));
    for _ in 0..count {
        let mut parts = lines.next()?.split_whitespace();
        let epoch: i32 = parts.next()?.parse().ok()?;
        let start_offset: i64 = parts.next()?.parse().ok()?;
        if out
            .last()
            .is_some_and(|l: &EpochEntry| l.epoch >= epoch || l.start_offset > start_offset)
        {
            return None;
        }
        out.push(EpochEntry {
            epoch,
            start_offset,
        });
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cache(dir: &Path, entries: &[(i32, i64)]) -> LeaderEpochs {
        let mut c = LeaderEpochs::load(dir, i64::MAX);
        for &(e, o) in entries {
            c.assign(e, o).unwrap_or_else(|err| panic!("{err}"));
        }
        c
    }

    #[test]
    fn end_offsets_follow_kafka() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let c = cache(dir.path(), &[(1, 0), (3, 10), (6, 25)]);
        assert_eq!(c.end_offset_for(6, 40), (6, 40));
        assert_eq!(c.end_offset_for(3, 40), (3, 25));
        assert_eq!(c.end_offset_for(4, 40), (3, 25), "4 was never led here");
        assert_eq!(c.end_offset_for(0, 40), (0, 0), "older than every epoch");
        assert_eq!(c.end_offset_for(7, 40), (-1, -1), "newer than every epoch");
        assert_eq!(c.end_offset_for(-1, 40), (-1, -1));
    }

    #[test]
    fn survives_a_reload_and_forgets_a_cut_tail() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let mut c = cache(dir.path(), &[(1, 0), (2, 5), (4, 9)]);
        c.assign(3, 12).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.latest().map(|e| e.epoch), Some(4), "epochs only grow");
        let back = LeaderEpochs::load(dir.path(), 7);
        assert_eq!(back.entries().len(), 2, "epoch 4 starts past the log end");
        c.truncate_from_end(5).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            LeaderEpochs::load(dir.path(), 100).entries(),
            &[EpochEntry {
                epoch: 1,
                start_offset: 0
            }]
        );
    }

    #[test]
    fn a_damaged_file_starts_empty() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        for bad in [
            "",
            "1\n0\n",
            "0\n99999999999\n",
            "0\n2\n3 5\n2 9\n",
            "0\n1\nx 1\n",
        ] {
            fs::write(dir.path().join(LEADER_EPOCH_FILE), bad).unwrap_or_else(|e| panic!("{e}"));
            assert!(
                LeaderEpochs::load(dir.path(), 100).entries().is_empty(),
                "{bad:?}"
            );
        }
    }
}
