//! Weir's storage: the per-partition segmented log, synchronous (no async, no network).
//!
//! - [`log`]: [`Log`], a partition's segments: append, read, sync, truncate, retention.
//! - `segment`: one `.log` file of RecordBatches as they arrived, with its indexes.
//! - `index`: the sparse offset (`.index`) and time (`.timeindex`) indexes.
//! - `recovery`: opening a directory, checking batches and cutting off invalid tails.
//! - `checkpoint`: the recovery point and log start offset, replaced atomically.
//! - [`config`]: the [`LogConfig`] settings.
//! - [`dirs`]: partition directory and segment file names.
//! - [`durable`]: replacing small files atomically and fsyncing directory changes.
//! - [`error`]: the [`StorageError`] type.
//! - [`producer`]: idempotent and transactional producers' state, checked on every append.
//! - [`txn_index`]: each segment's aborted transactions, for `read_committed` fetches.
//! - [`cleaner`]: log compaction (latest record per key), planned, run and installed apart.
//!
//! The broker opens a [`Log`] per partition directory with [`Log::open`], appends produced
//! batches with [`Log::append`], serves fetches with [`Log::read`], and makes appends
//! durable with [`Log::sync_target`], [`SyncTarget::sync`] and [`Log::mark_synced`].

mod checkpoint;
pub mod cleaner;
pub mod config;
pub mod dirs;
pub mod durable;
pub mod epochs;
pub mod error;
mod index;
pub mod log;
pub mod producer;
mod recovery;
mod segment;
pub mod txn_index;

#[cfg(test)]
#[allow(dead_code)] // shared with the integration tests, which use all of it
#[path = "../tests/common/batch.rs"]
mod test_batch;

pub use cleaner::{CleanPlan, CleanStats, Cleaned, CompactionPolicy};
pub use config::LogConfig;
pub use dirs::{parse_partition_dir_name, partition_dir_name};
pub use epochs::{EpochEntry, LeaderEpochs};
pub use error::StorageError;
pub use log::{AppendInfo, Log, Origin, ReadResult, RetentionPolicy, SyncTarget};
pub use producer::{ProducerError, ProducerState};
pub use recovery::RecoveryInfo;
pub use txn_index::AbortedTxn;
