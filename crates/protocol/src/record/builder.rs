//! [`BatchBuilder`]: writes a RecordBatch v2 from records, as a producer does.
//!
//! Records are encoded straight into one growing buffer that already holds room for the
//! header, so pushing a record allocates nothing but that buffer's growth. `build` fills
//! in the header (base offset 0: the broker assigns offsets), compresses the records
//! section when asked, and computes the CRC32C.

use bytes::Bytes;

use super::batch::{BatchError, Compression, CRC_START, HEADER_LEN, LOG_OVERHEAD};
use super::compression::compress;
use super::varint::{put_varint, put_varlong, varint_len, varlong_len};

/// Attribute bit of a transactional batch.
const TRANSACTIONAL: i16 = 0x10;
/// Attribute bit of a control batch.
const CONTROL: i16 = 0x20;
/// Offset of the CRC field in the header.
const CRC_AT: usize = 17;

/// Builds one RecordBatch v2.
#[derive(Debug, Clone)]
pub struct BatchBuilder {
    compression: Compression,
    base_timestamp: i64,
    max_timestamp: i64,
    producer_id: i64,
    producer_epoch: i16,
    base_sequence: i32,
    partition_leader_epoch: i32,
    transactional: bool,
    control: bool,
    count: i32,
    /// `HEADER_LEN` reserved bytes, then the uncompressed records.
    buf: Vec<u8>,
}

impl BatchBuilder {
    /// A builder for a batch compressed with `compression` whose timestamp deltas are
    /// taken from `base_timestamp` (Java uses the first record's timestamp).
    pub fn new(compression: Compression, base_timestamp: i64) -> Self {
        Self::with_capacity(compression, base_timestamp, 0)
    }

    /// Like [`BatchBuilder::new`], reserving room for `records_bytes` of encoded records.
    pub fn with_capacity(
        compression: Compression,
        base_timestamp: i64,
        records_bytes: usize,
    ) -> Self {
        let mut buf = Vec::with_capacity(HEADER_LEN + records_bytes);
        buf.resize(HEADER_LEN, 0);
        Self {
            compression,
            base_timestamp,
            max_timestamp: i64::MIN,
            producer_id: -1,
            producer_epoch: -1,
            base_sequence: -1,
            partition_leader_epoch: -1,
            transactional: false,
            control: false,
            count: 0,
            buf,
        }
    }

    /// Sets the idempotent producer id, epoch and first sequence (all -1 by default).
    pub fn set_producer(
        &mut self,
        producer_id: i64,
        producer_epoch: i16,
        base_sequence: i32,
    ) -> &mut Self {
        self.producer_id = producer_id;
        self.producer_epoch = producer_epoch;
        self.base_sequence = base_sequence;
        self
    }

    /// Sets the idempotent producer id (-1 by default).
    pub fn set_producer_id(&mut self, producer_id: i64) -> &mut Self {
        self.producer_id = producer_id;
        self
    }

    /// Sets the idempotent producer epoch (-1 by default).
    pub fn set_producer_epoch(&mut self, producer_epoch: i16) -> &mut Self {
        self.producer_epoch = producer_epoch;
        self
    }

    /// Sets the sequence number of the first record (-1 by default).
    pub fn set_base_sequence(&mut self, base_sequence: i32) -> &mut Self {
        self.base_sequence = base_sequence;
        self
    }

    /// Sets the partition leader epoch written in the header (-1 by default).
    pub fn set_partition_leader_epoch(&mut self, epoch: i32) -> &mut Self {
        self.partition_leader_epoch = epoch;
        self
    }

    /// Marks the batch as part of a transaction.
    pub fn set_transactional(&mut self, transactional: bool) -> &mut Self {
        self.transactional = transactional;
        self
    }

    /// Marks the batch as a control batch.
    pub fn set_control(&mut self, control: bool) -> &mut Self {
        self.control = control;
        self
    }

    /// Number of records pushed so far.
    pub fn record_count(&self) -> i32 {
        self.count
    }

    /// Whether no record has been pushed.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Size the batch would have uncompressed: header plus encoded records.
    pub fn uncompressed_size(&self) -> usize {
        self.buf.len()
    }

    /// Appends a record with the next offset delta.
    pub fn push(
        &mut self,
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[(&str, Option<&[u8]>)],
        timestamp: i64,
    ) -> Result<(), BatchError> {
        let offset_delta = self.count;
        let next_count = offset_delta
            .checked_add(1)
            .ok_or_else(|| BatchError::Build("more than i32::MAX records".to_owned()))?;
        let timestamp_delta = timestamp.wrapping_sub(self.base_timestamp);
        let header_count = len_i32(headers.len())?;

        let mut body = 1 + varlong_len(timestamp_delta) + varint_len(offset_delta);
        body += field_len(key)? + field_len(value)? + varint_len(header_count);
        for (k, v) in headers {
            body += field_len(Some(k.as_bytes()))? + field_len(*v)?;
        }
        let body_len = len_i32(body)?;

        self.buf.reserve(varint_len(body_len) + body);
        put_varint(&mut self.buf, body_len);
        self.buf.push(0); // attributes
        put_varlong(&mut self.buf, timestamp_delta);
        put_varint(&mut self.buf, offset_delta);
        put_field(&mut self.buf, key);
        put_field(&mut self.buf, value);
        put_varint(&mut self.buf, header_count);
        for (k, v) in headers {
            put_field(&mut self.buf, Some(k.as_bytes()));
            put_field(&mut self.buf, *v);
        }
        self.count = next_count;
        self.max_timestamp = self.max_timestamp.max(timestamp);
        Ok(())
    }

    /// Finishes the batch: compressed records, header and CRC. A batch needs a record.
    pub fn build(self) -> Result<Bytes, BatchError> {
        if self.count == 0 {
            return Err(BatchError::Build(
                "a batch needs at least one record".to_owned(),
            ));
        }
        let mut out = match self.compression {
            Compression::None => self.buf,
            codec => {
                let records = self.buf.get(HEADER_LEN..).unwrap_or_default();
                let mut out = Vec::with_capacity(HEADER_LEN + records.len() / 2 + 64);
                out.resize(HEADER_LEN, 0);
                compress(codec, records, &mut out)?;
                out
            }
        };
        let batch_length = out
            .len()
            .checked_sub(LOG_OVERHEAD)
            .and_then(|n| i32::try_from(n).ok())
            .ok_or_else(|| {
                BatchError::Build(format!("batch of {} bytes is too large", out.len()))
            })?;
        let mut attributes = i16::from(self.compression.id());
        if self.transactional {
            attributes |= TRANSACTIONAL;
        }
        if self.control {
            attributes |= CONTROL;
        }
        let mut header = Vec::with_capacity(HEADER_LEN);
        header.extend_from_slice(&0i64.to_be_bytes()); // base offset: the log assigns it
        header.extend_from_slice(&batch_length.to_be_bytes());
        header.extend_from_slice(&self.partition_leader_epoch.to_be_bytes());
        header.push(2); // magic
        header.extend_from_slice(&[0; 4]); // crc, filled in below
        header.extend_from_slice(&attributes.to_be_bytes());
        header.extend_from_slice(&(self.count - 1).to_be_bytes()); // last offset delta
        header.extend_from_slice(&self.base_timestamp.to_be_bytes());
        header.extend_from_slice(&self.max_timestamp.to_be_bytes());
        header.extend_from_slice(&self.producer_id.to_be_bytes());
        header.extend_from_slice(&self.producer_epoch.to_be_bytes());
        header.extend_from_slice(&self.base_sequence.to_be_bytes());
        header.extend_from_slice(&self.count.to_be_bytes());
        debug_assert_eq!(header.len(), HEADER_LEN);
        if let Some(dst) = out.get_mut(..HEADER_LEN) {
            dst.copy_from_slice(&header);
        }
        let crc = crc32c::crc32c(out.get(CRC_START..).unwrap_or_default());
        if let Some(dst) = out.get_mut(CRC_AT..CRC_AT + 4) {
            dst.copy_from_slice(&crc.to_be_bytes());
        }
        Ok(Bytes::from(out))
    }
}

fn len_i32(n: usize) -> Result<i32, BatchError> {
    i32::try_from(n).map_err(|_| BatchError::Build(format!("length {n} does not fit a varint")))
}

/// Wire size of a nullable length-prefixed field.
fn field_len(b: Option<&[u8]>) -> Result<usize, BatchError> {
    Ok(match b {
        None => varint_len(-1),
        Some(b) => varint_len(len_i32(b.len())?) + b.len(),
    })
}

/// Appends a nullable length-prefixed field (lengths were checked by `field_len`).
fn put_field(out: &mut Vec<u8>, b: Option<&[u8]>) {
    match b {
        None => put_varint(out, -1),
        Some(b) => {
            put_varint(out, i32::try_from(b.len()).unwrap_or(i32::MAX));
            out.extend_from_slice(b);
        }
    }
}
