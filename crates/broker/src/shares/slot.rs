//! One share-partition's place on this broker: its state once loaded ([`Entry`]), and the
//! locks and counters that order its loading, its state writes and its dead-letter copies.

use std::sync::atomic::AtomicU64;
use std::sync::Mutex;

use weir_coordinator::share::state::ShareSnapshot;
use weir_coordinator::share::SharePartition;

/// A loaded share-partition state.
pub(super) struct Entry {
    /// The delivery state.
    pub(super) state: SharePartition,
    /// The leader epoch the state was claimed at; a new epoch reloads it.
    pub(super) leader_epoch: i32,
    /// The coordinator's state epoch.
    pub(super) state_epoch: i32,
}

impl Entry {
    /// The state as the share coordinator keeps it.
    pub(super) fn snapshot(&self) -> ShareSnapshot {
        ShareSnapshot {
            state_epoch: self.state_epoch,
            leader_epoch: self.leader_epoch,
            start_offset: self.state.start_offset(),
            batches: self.state.state_batches(),
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
