//! A transactional id's metadata and the coordinator's settings.

use std::collections::BTreeSet;

use super::MarkerJob;

/// A producer epoch that was never handed out.
pub const NO_PRODUCER_EPOCH: i16 = -1;

/// Where a transactional id's transaction stands (Kafka's `TransactionState`, whose ids the
/// log stores).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum TxnState {
    /// No transaction since the producer initialised.
    Empty,
    /// A transaction is open.
    Ongoing,
    /// Commit decided; markers being written.
    PrepareCommit,
    /// Abort decided; markers being written.
    PrepareAbort,
    /// The last transaction committed.
    CompleteCommit,
    /// The last transaction aborted.
    CompleteAbort,
    /// The id is being removed.
    Dead,
    /// The producer is being fenced (transient in Kafka; never written by Weir).
    PrepareEpochFence,
}

impl TxnState {
    /// The id Kafka stores in `TransactionLogValue.TransactionStatus`.
    pub fn id(self) -> i8 {
        match self {
            TxnState::Empty => 0,
            TxnState::Ongoing => 1,
            TxnState::PrepareCommit => 2,
            TxnState::PrepareAbort => 3,
            TxnState::CompleteCommit => 4,
            TxnState::CompleteAbort => 5,
            TxnState::Dead => 6,
            TxnState::PrepareEpochFence => 7,
        }
    }

    /// The state with this stored id.
    pub fn from_id(id: i8) -> Option<Self> {
        Some(match id {
            0 => TxnState::Empty,
            1 => TxnState::Ongoing,
            2 => TxnState::PrepareCommit,
            3 => TxnState::PrepareAbort,
            4 => TxnState::CompleteCommit,
            5 => TxnState::CompleteAbort,
            6 => TxnState::Dead,
            7 => TxnState::PrepareEpochFence,
            _ => return None,
        })
    }

    /// The name DescribeTransactions and ListTransactions use.
    pub fn name(self) -> &'static str {
        match self {
            TxnState::Empty => "Empty",
            TxnState::Ongoing => "Ongoing",
            TxnState::PrepareCommit => "PrepareCommit",
            TxnState::PrepareAbort => "PrepareAbort",
            TxnState::CompleteCommit => "CompleteCommit",
            TxnState::CompleteAbort => "CompleteAbort",
            TxnState::Dead => "Dead",
            TxnState::PrepareEpochFence => "PrepareEpochFence",
        }
    }
}

/// Whether an epoch leaves no room for another bump (Kafka rotates the producer id then).
pub(super) fn epoch_exhausted(epoch: i16) -> bool {
    epoch >= i16::MAX - 1
}

/// One transactional id (Kafka's `TransactionMetadata`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxnMetadata {
    /// The transactional id.
    pub transactional_id: String,
    /// Its producer id.
    pub producer_id: i64,
    /// The producer id before the last rotation, or -1.
    pub previous_producer_id: i64,
    /// The current epoch.
    pub producer_epoch: i16,
    /// The epoch before the last bump a producer asked for (KIP-360 retries), or -1.
    pub last_producer_epoch: i16,
    /// `transaction.timeout.ms` of the producer.
    pub timeout_ms: i32,
    /// Its transaction's state.
    pub state: TxnState,
    /// The partitions of the open or ending transaction.
    pub partitions: BTreeSet<(String, i32)>,
    /// When the open transaction started, or -1.
    pub start_ms: i64,
    /// When the metadata last changed.
    pub last_update_ms: i64,
    /// The transaction version the producer speaks (2: KIP-890 part 2), or 0 if unknown.
    pub client_version: i16,
    /// The producer id that takes over when the ending transaction completes (its epoch ran
    /// out), or -1.
    pub next_producer_id: i64,
}

impl TxnMetadata {
    /// A new transactional id with producer id `producer_id` and no epoch yet.
    pub fn new(transactional_id: &str, producer_id: i64, timeout_ms: i32, now: i64) -> Self {
        Self {
            transactional_id: transactional_id.to_string(),
            producer_id,
            previous_producer_id: -1,
            producer_epoch: NO_PRODUCER_EPOCH,
            last_producer_epoch: NO_PRODUCER_EPOCH,
            timeout_ms,
            state: TxnState::Empty,
            partitions: BTreeSet::new(),
            start_ms: -1,
            last_update_ms: now,
            client_version: 0,
            next_producer_id: -1,
        }
    }

    pub(super) fn epoch_exhausted(&self) -> bool {
        epoch_exhausted(self.producer_epoch)
    }

    /// Moves an open transaction to PrepareCommit or PrepareAbort.
    pub(super) fn prepare_end(&mut self, commit: bool, now: i64) -> MarkerJob {
        self.state = if commit {
            TxnState::PrepareCommit
        } else {
            TxnState::PrepareAbort
        };
        self.last_update_ms = now;
        self.marker_job()
    }

    /// The markers that end this (PrepareCommit or PrepareAbort) transaction.
    pub(super) fn marker_job(&self) -> MarkerJob {
        MarkerJob {
            transactional_id: self.transactional_id.clone(),
            producer_id: self.producer_id,
            producer_epoch: self.producer_epoch,
            commit: self.state == TxnState::PrepareCommit,
            partitions: self.partitions.iter().cloned().collect(),
        }
    }
}

/// The transaction coordinator's settings, with Kafka's names and defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxnConfig {
    /// `transaction.max.timeout.ms`: the longest `transaction.timeout.ms` a producer may ask.
    pub max_timeout_ms: i32,
    /// `transactional.id.expiration.ms`: idle ids are removed after this.
    pub id_expiration_ms: i64,
    /// `transaction.abort.timed.out.transaction.cleanup.interval.ms`.
    pub abort_check_interval_ms: u64,
    /// `transaction.remove.expired.transaction.cleanup.interval.ms`.
    pub remove_expired_interval_ms: u64,
}

impl Default for TxnConfig {
    fn default() -> Self {
        Self {
            max_timeout_ms: 900_000,
            id_expiration_ms: 7 * 24 * 3_600_000,
            abort_check_interval_ms: 10_000,
            remove_expired_interval_ms: 3_600_000,
        }
    }
}
