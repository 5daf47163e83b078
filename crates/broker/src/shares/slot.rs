//! One share-partition's place on this broker: its state once loaded ([`Entry`]), and the
//! locks and counters that order its loading, its state writes and its dead-letter copies.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use tracing::warn;
use weir_coordinator::share::state::{DeadLetterMark, ShareSnapshot, ShareStateKey};
use weir_coordinator::share::SharePartition;
use weir_protocol::error::ErrorCode;

use super::persister::Persister;
use crate::locks;

/// A loaded share-partition state.
pub(super) struct Entry {
    /// The delivery state.
    pub(super) state: SharePartition,
    /// The leader epoch the state was claimed at; a new epoch reloads it.
    pub(super) leader_epoch: i32,
    /// The coordinator's state epoch.
    pub(super) state_epoch: i32,
    /// Set while dead-letter copies may have been written without their records archived.
    pub(super) dead_letter_mark: Option<DeadLetterMark>,
}

impl Entry {
    /// The state as the share coordinator keeps it.
    pub(super) fn snapshot(&self) -> ShareSnapshot {
        ShareSnapshot {
            state_epoch: self.state_epoch,
            leader_epoch: self.leader_epoch,
            start_offset: self.state.start_offset(),
            batches: self.state.state_batches(),
            dead_letter_mark: self.dead_letter_mark,
        }
    }
}

/// One share-partition: its state once loaded, and the locks that order its loading and
/// its writes.
#[derive(Default)]
pub(super) struct Slot {
    /// The state, once loaded.
    pub(super) entry: Mutex<Option<Entry>>,
    /// Held while the state loads, so that one request loads it.
    pub(super) loading: tokio::sync::Mutex<()>,
    /// Held while a snapshot is written, so writes reach the coordinator in order (each
    /// snapshot is taken under it, so a later write never carries older state).
    pub(super) writing: tokio::sync::Mutex<()>,
    /// Held while dead-letter copies are written, so that each is written once.
    pub(super) dead_lettering: tokio::sync::Mutex<()>,
    /// When dead-letter copies may next be tried (after a failed write).
    pub(super) next_dead_letter_ms: Mutex<i64>,
    /// Writes asked for so far (each after the change it must make durable).
    pub(super) asked: AtomicU64,
    /// Of them, those a written snapshot covers.
    pub(super) written: AtomicU64,
}

impl Slot {
    /// Writes the state to its coordinator; on failure the state is dropped, to be read
    /// back from the coordinator on next use.
    /// Writes that queue behind one in progress are covered by the next snapshot: it is
    /// taken after their changes, so one write answers them all.
    pub(super) async fn persist(
        &self,
        persister: &Persister,
        key: &ShareStateKey,
    ) -> Result<(), ErrorCode> {
        let mine = self.asked.fetch_add(1, Ordering::AcqRel) + 1;
        let _writing = self.writing.lock().await;
        if self.written.load(Ordering::Acquire) >= mine {
            return Ok(());
        }
        let covers = self.asked.load(Ordering::Acquire);
        let Some(snapshot) = locks::lock(&self.entry).as_ref().map(Entry::snapshot) else {
            return Err(ErrorCode::NotLeaderOrFollower);
        };
        let result = persister.write(key, &snapshot).await;
        match result {
            Ok(()) => {
                self.written.fetch_max(covers, Ordering::AcqRel);
            }
            Err(e) => {
                warn!(group = %key.group, partition = key.partition, error = e.name(), "could not write share-partition state; it will be read back");
                *locks::lock(&self.entry) = None;
            }
        }
        result
    }

    /// Applies `f` to the state if it is still the one claimed at `leader_epoch`.
    pub(super) fn with_entry<T>(
        &self,
        leader_epoch: i32,
        f: impl FnOnce(&mut Entry) -> T,
    ) -> Result<T, ErrorCode> {
        let mut guard = locks::lock(&self.entry);
        let e = guard
            .as_mut()
            .filter(|e| e.leader_epoch == leader_epoch)
            .ok_or(ErrorCode::NotLeaderOrFollower)?;
        Ok(f(e))
    }
}
