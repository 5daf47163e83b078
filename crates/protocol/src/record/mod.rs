//! RecordBatch v2: the unit Kafka stores and sends (magic 2, CRC32C).
//!
//! - [`batch`]: a zero-copy view of a batch header, its validation and the in-place
//!   rewrites a broker may make (base offset, partition leader epoch, LogAppendTime).
//! - [`records`]: [`RecordBatch`] (a validated batch and its bytes), the zero-copy
//!   [`Record`] view of its records, and [`Batches`], which walks the batches of a buffer.
//! - [`compression`]: gzip, snappy (raw and xerial), lz4 (frame) and zstd, with every
//!   decompression bounded by a caller-given output limit.
//! - [`builder`]: [`BatchBuilder`], which writes a batch as a producer does.
//! - [`rebuild`]: [`rebuild_batch`], a stored batch with only some of its records (compaction).
//! - [`control`]: control record keys, end-transaction markers and marker batches.
//! - [`partitioner`]: Kafka's murmur2 and the default key-to-partition mapping.
//!
//! A produced batch is checked with [`RecordBatch::parse`] (or [`Batches`] over a whole
//! records field) and stored as it arrived; [`RecordBatch::records`] decodes records only
//! where something needs them (compaction, transactions, tools, tests).

pub mod batch;
pub mod builder;
pub mod compression;
pub mod control;
pub mod partitioner;
pub mod rebuild;
pub mod records;
mod varint;

#[cfg(test)]
mod tests;

pub use batch::{BatchError, BatchHeader, Compression, TimestampType};
pub use builder::BatchBuilder;
pub use control::{end_txn_marker_batch, ControlRecordKey, ControlRecordType, EndTxnMarker};
pub use partitioner::{murmur2, partition_for_key};
pub use rebuild::rebuild_batch;
pub use records::{Batches, Record, RecordBatch};
