//! The fixed 61-byte RecordBatch v2 header: parsing, CRC32C check and in-place rewrites.
//!
//! Layout (big-endian): baseOffset i64 @0, batchLength i32 @8, partitionLeaderEpoch i32 @12,
//! magic i8 @16, crc u32 @17, attributes i16 @21, lastOffsetDelta i32 @23, baseTimestamp i64
//! @27, maxTimestamp i64 @35, producerId i64 @43, producerEpoch i16 @51, baseSequence i32 @53,
//! recordCount i32 @57, then the records. The CRC covers everything from the attributes on.

use thiserror::Error;

/// Size of the fixed part of a RecordBatch v2 header.
pub const HEADER_LEN: usize = 61;
/// Bytes before `batchLength` counts: baseOffset and batchLength themselves.
pub const LOG_OVERHEAD: usize = 12;
/// Offset of the first byte covered by the CRC (the attributes).
pub const CRC_START: usize = 21;

const BASE_OFFSET: usize = 0;
const BATCH_LENGTH: usize = 8;
const LEADER_EPOCH: usize = 12;
const MAGIC: usize = 16;
const CRC: usize = 17;
const ATTRIBUTES: usize = 21;
const LAST_OFFSET_DELTA: usize = 23;
const BASE_TIMESTAMP: usize = 27;
const MAX_TIMESTAMP: usize = 35;
const PRODUCER_ID: usize = 43;
const PRODUCER_EPOCH: usize = 51;
const BASE_SEQUENCE: usize = 53;
const RECORD_COUNT: usize = 57;

/// Why a byte range is not a valid RecordBatch v2.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum BatchError {
    /// Fewer bytes than the header or than the batch length claims.
    #[error("batch truncated: need {needed} bytes, have {have}")]
    Truncated {
        /// Bytes the batch needs.
        needed: usize,
        /// Bytes available.
        have: usize,
    },
    /// A magic byte other than 2.
    #[error("unsupported record batch magic {0}")]
    UnsupportedMagic(i8),
    /// A batch length below the header size or above the allowed maximum.
    #[error("invalid batch length {0}")]
    InvalidLength(i32),
    /// The stored CRC does not match the bytes.
    #[error("CRC mismatch: stored {stored:#010x}, computed {computed:#010x}")]
    CrcMismatch {
        /// CRC in the header.
        stored: u32,
        /// CRC of the bytes.
        computed: u32,
    },
    /// A record count that is negative or disagrees with the offset delta.
    #[error("invalid record count {count} (last offset delta {last_offset_delta})")]
    InvalidRecordCount {
        /// Record count in the header.
        count: i32,
        /// Last offset delta in the header.
        last_offset_delta: i32,
    },
    /// A compression codec id Kafka does not define.
    #[error("unknown compression codec {0}")]
    UnknownCompression(u8),
    /// The records section could not be parsed or decompressed.
    #[error("corrupt records: {0}")]
    CorruptRecords(String),
    /// Decompressing the records would produce more than the allowed number of bytes.
    #[error("decompressed records exceed the limit of {limit} bytes")]
    OutputTooLarge {
        /// The limit the output would have crossed.
        limit: usize,
    },
    /// A codec failed while compressing, or a batch being built outgrew the format.
    #[error("cannot build batch: {0}")]
    Build(String),
    /// A record without a key where every record needs one (a compacted topic).
    #[error("Compacted topic cannot accept message without key (record {0} of the batch)")]
    MissingKey(usize),
}

/// Compression codec of a batch (attributes bits 0-2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Compression {
    /// No compression.
    None,
    /// gzip (RFC 1952).
    Gzip,
    /// Snappy (raw or xerial-framed).
    Snappy,
    /// LZ4 frame format.
    Lz4,
    /// Zstandard.
    Zstd,
}

impl Compression {
    /// The codec for attribute bits 0-2.
    pub fn from_id(id: u8) -> Result<Self, BatchError> {
        Ok(match id {
            0 => Self::None,
            1 => Self::Gzip,
            2 => Self::Snappy,
            3 => Self::Lz4,
            4 => Self::Zstd,
            other => return Err(BatchError::UnknownCompression(other)),
        })
    }

    /// The attribute bits 0-2 for this codec.
    pub fn id(self) -> u8 {
        match self {
            Self::None => 0,
            Self::Gzip => 1,
            Self::Snappy => 2,
            Self::Lz4 => 3,
            Self::Zstd => 4,
        }
    }
}

/// Which clock a batch's timestamps come from (attributes bit 3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimestampType {
    /// Set by the producer.
    CreateTime,
    /// Set by the broker on append.
    LogAppendTime,
}

/// A parsed view of the fixed header of one batch at the start of a byte slice.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchHeader {
    /// Offset of the first record.
    pub base_offset: i64,
    /// Bytes after the length field: the whole batch is `batch_length + 12` bytes.
    pub batch_length: i32,
    /// Leader epoch of the leader that appended the batch.
    pub partition_leader_epoch: i32,
    /// Format version; always 2 for a valid batch.
    pub magic: i8,
    /// CRC32C over attributes..end.
    pub crc: u32,
    /// Raw attributes.
    pub attributes: i16,
    /// Offset of the last record minus the base offset.
    pub last_offset_delta: i32,
    /// Timestamp of the first record.
    pub base_timestamp: i64,
    /// Largest timestamp in the batch.
    pub max_timestamp: i64,
    /// Idempotent producer id, or -1.
    pub producer_id: i64,
    /// Idempotent producer epoch, or -1.
    pub producer_epoch: i16,
    /// Sequence of the first record, or -1.
    pub base_sequence: i32,
    /// Number of records.
    pub record_count: i32,
}

fn be_i64(b: &[u8], at: usize) -> i64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    i64::from_be_bytes(a)
}
fn be_i32(b: &[u8], at: usize) -> i32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[at..at + 4]);
    i32::from_be_bytes(a)
}
fn be_i16(b: &[u8], at: usize) -> i16 {
    i16::from_be_bytes([b[at], b[at + 1]])
}

impl BatchHeader {
    /// Parses the fixed header at the start of `bytes` (no CRC check, no length check
    /// beyond the header itself).
    #[allow(clippy::indexing_slicing)] // every index is below HEADER_LEN, checked first
    pub fn parse(bytes: &[u8]) -> Result<Self, BatchError> {
        if bytes.len() < HEADER_LEN {
            return Err(BatchError::Truncated {
                needed: HEADER_LEN,
                have: bytes.len(),
            });
        }
        let b = bytes;
        Ok(Self {
            base_offset: be_i64(b, BASE_OFFSET),
            batch_length: be_i32(b, BATCH_LENGTH),
            partition_leader_epoch: be_i32(b, LEADER_EPOCH),
            magic: b[MAGIC] as i8,
            crc: be_i32(b, CRC) as u32,
            attributes: be_i16(b, ATTRIBUTES),
            last_offset_delta: be_i32(b, LAST_OFFSET_DELTA),
            base_timestamp: be_i64(b, BASE_TIMESTAMP),
            max_timestamp: be_i64(b, MAX_TIMESTAMP),
            producer_id: be_i64(b, PRODUCER_ID),
            producer_epoch: be_i16(b, PRODUCER_EPOCH),
            base_sequence: be_i32(b, BASE_SEQUENCE),
            record_count: be_i32(b, RECORD_COUNT),
        })
    }

    /// Parses and checks a whole batch at the start of `bytes`: magic, length (at most
    /// `max_len` bytes in all), record count and CRC. Returns the header; the batch spans
    /// `header.total_len()` bytes.
    pub fn validate(bytes: &[u8], max_len: usize) -> Result<Self, BatchError> {
        let h = Self::parse(bytes)?;
        if h.magic != 2 {
            return Err(BatchError::UnsupportedMagic(h.magic));
        }
        let total = h.checked_total_len(max_len)?;
        if bytes.len() < total {
            return Err(BatchError::Truncated {
                needed: total,
                have: bytes.len(),
            });
        }
        if h.record_count < 0
            || h.last_offset_delta < 0
            || (h.record_count > 0 && h.last_offset_delta < h.record_count - 1)
        {
            return Err(BatchError::InvalidRecordCount {
                count: h.record_count,
                last_offset_delta: h.last_offset_delta,
            });
        }
        if h.base_offset
            .checked_add(i64::from(h.last_offset_delta))
            .is_none()
        {
            return Err(BatchError::InvalidRecordCount {
                count: h.record_count,
                last_offset_delta: h.last_offset_delta,
            });
        }
        Compression::from_id(h.compression_id())?;
        let computed = crc32c::crc32c(bytes.get(CRC_START..total).unwrap_or_default());
        if computed != h.crc {
            return Err(BatchError::CrcMismatch {
                stored: h.crc,
                computed,
            });
        }
        Ok(h)
    }

    /// Total bytes of the batch, checked to be within `HEADER_LEN..=max_len`.
    pub fn checked_total_len(&self, max_len: usize) -> Result<usize, BatchError> {
        let len = usize::try_from(self.batch_length)
            .map_err(|_| BatchError::InvalidLength(self.batch_length))?;
        let total = len + LOG_OVERHEAD;
        if total < HEADER_LEN || total > max_len {
            return Err(BatchError::InvalidLength(self.batch_length));
        }
        Ok(total)
    }

    /// Total bytes of the batch as the header claims (unchecked; use after `validate`).
    pub fn total_len(&self) -> usize {
        usize::try_from(self.batch_length).unwrap_or(0) + LOG_OVERHEAD
    }

    /// Offset of the last record in the batch (saturating: `validate` refuses batches
    /// whose last offset would not fit).
    pub fn last_offset(&self) -> i64 {
        self.base_offset
            .saturating_add(i64::from(self.last_offset_delta))
    }

    /// Raw compression codec id (attributes bits 0-2).
    pub fn compression_id(&self) -> u8 {
        (self.attributes & 0x07) as u8
    }

    /// Compression codec (attributes bits 0-2).
    pub fn compression(&self) -> Result<Compression, BatchError> {
        Compression::from_id(self.compression_id())
    }

    /// Timestamp type (attributes bit 3).
    pub fn timestamp_type(&self) -> TimestampType {
        if self.attributes & 0x08 != 0 {
            TimestampType::LogAppendTime
        } else {
            TimestampType::CreateTime
        }
    }

    /// Whether the batch belongs to a transaction (attributes bit 4).
    pub fn is_transactional(&self) -> bool {
        self.attributes & 0x10 != 0
    }

    /// Whether the batch is a control batch (attributes bit 5).
    pub fn is_control(&self) -> bool {
        self.attributes & 0x20 != 0
    }
}

/// Overwrites the base offset of the batch at the start of `bytes` (outside the CRC).
#[allow(clippy::indexing_slicing)] // callers pass a validated batch, at least HEADER_LEN long
pub fn set_base_offset(bytes: &mut [u8], base_offset: i64) {
    bytes[BASE_OFFSET..BASE_OFFSET + 8].copy_from_slice(&base_offset.to_be_bytes());
}

/// Overwrites the partition leader epoch of the batch at the start of `bytes` (outside the CRC).
#[allow(clippy::indexing_slicing)] // callers pass a validated batch, at least HEADER_LEN long
pub fn set_partition_leader_epoch(bytes: &mut [u8], epoch: i32) {
    bytes[LEADER_EPOCH..LEADER_EPOCH + 4].copy_from_slice(&epoch.to_be_bytes());
}

/// Marks the batch at the start of `bytes` as LogAppendTime with `timestamp` as its max
/// timestamp and recomputes the CRC; `total_len` is the validated batch length.
#[allow(clippy::indexing_slicing)] // callers pass a validated batch of total_len bytes
pub fn set_log_append_time(bytes: &mut [u8], total_len: usize, timestamp: i64) {
    let attrs = be_i16(bytes, ATTRIBUTES) | 0x08;
    bytes[ATTRIBUTES..ATTRIBUTES + 2].copy_from_slice(&attrs.to_be_bytes());
    bytes[MAX_TIMESTAMP..MAX_TIMESTAMP + 8].copy_from_slice(&timestamp.to_be_bytes());
    let crc = crc32c::crc32c(&bytes[CRC_START..total_len]);
    bytes[CRC..CRC + 4].copy_from_slice(&crc.to_be_bytes());
}
