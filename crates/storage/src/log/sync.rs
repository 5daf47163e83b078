//! Durability: what to fsync for group commit, recording it, flush and close.
//!
//! The broker takes a [`SyncTarget`] under its partition lock (cheap: shared file handles),
//! fsyncs it outside the lock so one fsync covers every batch appended so far, then calls
//! [`Log::mark_synced`] with the offset it covered. The recovery point that advances is
//! written to the checkpoint now and then, not on every sync: it only bounds recovery work.
//!
//! A truncation starts a new sync generation: a target taken before it synced files whose
//! tail was since replaced, so its offset is not trusted. Targets report what they synced
//! into [`SyncShared`], and `mark_synced` never goes past what a target of the current
//! generation reported.

use std::fs::File;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use super::Log;
use crate::error::StorageError;

/// Least time between two checkpoint writes from `mark_synced`.
const CHECKPOINT_INTERVAL: Duration = Duration::from_secs(5);

/// State shared between a log and its sync targets.
#[derive(Debug, Default)]
pub(super) struct SyncShared {
    /// Set after a failed write or fsync: the log refuses writes.
    pub(super) fenced: AtomicBool,
    synced: Mutex<Synced>,
}

/// The furthest offset a target of the current generation has fsynced.
#[derive(Debug, Default, Clone, Copy)]
struct Synced {
    generation: u64,
    upto: i64,
}

impl SyncShared {
    /// Shared state for a log whose recovery point is `recovery_point`.
    pub(super) fn new(recovery_point: i64) -> Self {
        Self {
            fenced: AtomicBool::new(false),
            synced: Mutex::new(Synced {
                generation: 0,
                upto: recovery_point,
            }),
        }
    }

    fn synced(&self) -> MutexGuard<'_, Synced> {
        // Only plain field updates happen under the lock: a poisoned one is still whole.
        self.synced.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Starts a new generation after a truncation down to `upto`.
    pub(super) fn new_generation(&self, generation: u64, upto: i64) {
        *self.synced() = Synced { generation, upto };
    }
}

/// Files to fsync so that everything below an offset is durable; usable without the log.
#[derive(Debug)]
pub struct SyncTarget {
    files: Vec<Arc<File>>,
    /// The log's directory, to fsync after segments were created in it (opened only then:
    /// a log holds no handle on it, so a partition costs one file descriptor).
    dir: Option<PathBuf>,
    upto: i64,
    generation: u64,
    shared: Arc<SyncShared>,
}

impl SyncTarget {
    /// The offset below which everything is durable once [`SyncTarget::sync`] succeeds.
    pub fn upto(&self) -> i64 {
        self.upto
    }

    /// Fsyncs the files (data only) and, if segments were created, the directory; returns
    /// the offset now durable. A failure fences the log: it refuses writes until reopened.
    pub fn sync(&self) -> Result<i64, StorageError> {
        let result = self
            .files
            .iter()
            .try_for_each(|f| f.sync_data())
            .and_then(|()| self.dir.as_deref().map_or(Ok(()), crate::durable::sync_dir));
        match result {
            Ok(()) => {
                let mut synced = self.shared.synced();
                if synced.generation == self.generation {
                    synced.upto = synced.upto.max(self.upto);
                }
                Ok(self.upto)
            }
            Err(e) => {
                tracing::error!(error = %e, "fsync failed; fencing the log");
                self.shared.fenced.store(true, Ordering::Release);
                Err(StorageError::io(
                    format!("fsync up to offset {}", self.upto),
                    e,
                ))
            }
        }
    }
}

impl Log {
    /// What to fsync to make everything up to the log end durable; `None` if it already is.
    pub fn sync_target(&self) -> Option<SyncTarget> {
        let upto = self.log_end_offset();
        if self.recovery_point >= upto {
            return None;
        }
        let mut files: Vec<Arc<File>> = self
            .unsynced
            .iter()
            .flat_map(|u| u.files.iter().cloned())
            .collect();
        files.push(Arc::clone(&self.active().file));
        files.extend(self.active().txn_index.file());
        Some(SyncTarget {
            files,
            dir: (!self.unsynced_creations.is_empty()).then(|| self.dir.clone()),
            upto,
            generation: self.sync_generation,
            shared: Arc::clone(&self.sync_shared),
        })
    }

    /// Records that a [`SyncTarget`] covering offsets below `upto` was fsynced: advances the
    /// recovery point, writing the checkpoint if one is due (a failure there is logged and
    /// retried later; the data itself is durable). The recovery point never passes what a
    /// target taken since the last truncation synced.
    pub fn mark_synced(&mut self, upto: i64) {
        let verified = self.sync_shared.synced().upto;
        let upto = upto.min(verified).min(self.log_end_offset());
        if upto <= self.recovery_point {
            return;
        }
        self.recovery_point = upto;
        let before = self.unsynced.len();
        self.unsynced.retain(|u| u.end_offset > upto);
        self.unsynced_creations.retain(|&base| base >= upto);
        let segment_done = self.unsynced.len() < before;
        if segment_done || self.checkpointed_at.elapsed() >= CHECKPOINT_INTERVAL {
            if let Err(e) = self.write_checkpoint(false) {
                tracing::warn!(dir = %self.dir.display(), error = %e, "could not write checkpoint");
            }
        }
    }

    /// Fsyncs everything appended so far and writes the checkpoint (e.g. on shutdown).
    pub fn flush(&mut self) -> Result<(), StorageError> {
        self.flush_and_checkpoint(false)
    }

    /// Flushes and marks a clean shutdown.
    pub fn close(mut self) -> Result<(), StorageError> {
        self.flush_and_checkpoint(true)
    }

    fn flush_and_checkpoint(&mut self, clean_shutdown: bool) -> Result<(), StorageError> {
        self.check_not_fenced()?;
        if clean_shutdown {
            self.snapshot_producers();
        }
        if let Some(target) = self.sync_target() {
            let upto = target.sync()?;
            self.recovery_point = upto;
            self.unsynced.clear();
        }
        // Writing the checkpoint fsyncs the directory too.
        self.write_checkpoint(clean_shutdown)?;
        self.unsynced_creations.clear();
        Ok(())
    }
}
