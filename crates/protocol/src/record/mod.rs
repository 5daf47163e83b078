//! RecordBatch v2: the unit Kafka stores and sends (magic 2, CRC32C).
//!
//! - [`batch`]: a zero-copy view of a batch header, its validation and the in-place
//!   rewrites a broker may make (base offset, partition leader epoch, LogAppendTime).

pub mod batch;

pub use batch::{BatchError, BatchHeader, Compression, TimestampType};
