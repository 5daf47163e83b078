//! Records inside a batch: a zero-copy [`Record`] view, the [`RecordBatch`] that owns a
//! validated batch's bytes, and [`Batches`], an iterator over the batches of a buffer.
//!
//! Record layout (v2): length varint, attributes i8, timestampDelta varlong, offsetDelta
//! varint, key (varint length, negative = null), value (same), header count varint, then
//! per header a key (varint length, UTF-8) and a value (varint length, negative = null).
//! Every length is checked against the bytes that remain before it is used, and nothing is
//! allocated from a count larger than the remaining bytes could hold.

use bytes::Bytes;

use super::batch::{BatchError, BatchHeader, Compression, TimestampType, HEADER_LEN, LOG_OVERHEAD};
use super::compression::decompress;
use super::varint::{read_varint, read_varlong, VarintError};

/// Fewest bytes one record can take: a 1-byte length and six 1-byte fields.
const MIN_RECORD_LEN: usize = 7;
/// Fewest bytes one header can take: a key length and a value length.
const MIN_HEADER_LEN: usize = 2;

/// One record of a batch; key, value and header values share the batch's buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Absolute offset: the batch's base offset plus `offset_delta`.
    pub offset: i64,
    /// Timestamp: base timestamp plus delta, or the batch's max timestamp under
    /// LogAppendTime.
    pub timestamp: i64,
    /// Offset relative to the batch's base offset, as stored.
    pub offset_delta: i32,
    /// Timestamp relative to the batch's base timestamp, as stored.
    pub timestamp_delta: i64,
    /// Record attributes (unused by Kafka today; kept as sent).
    pub attributes: i8,
    /// Key, or `None` for a null key.
    pub key: Option<Bytes>,
    /// Value, or `None` for a null value (a tombstone).
    pub value: Option<Bytes>,
    /// Headers in wire order; duplicate keys are kept (KIP-82).
    pub headers: Vec<(String, Option<Bytes>)>,
}

/// A bounded reader over one region of a shared buffer.
struct Cursor<'a> {
    buf: &'a Bytes,
    pos: usize,
    end: usize,
}

fn corrupt(what: &str) -> BatchError {
    BatchError::CorruptRecords(what.to_owned())
}

impl<'a> Cursor<'a> {
    fn remaining(&self) -> usize {
        self.end.saturating_sub(self.pos)
    }

    fn rest(&self) -> &'a [u8] {
        self.buf.get(self.pos..self.end).unwrap_or_default()
    }

    fn varint(&mut self, field: &str) -> Result<i32, BatchError> {
        let (v, n) = read_varint(self.rest()).map_err(|e| varint_error(field, e))?;
        self.pos += n;
        Ok(v)
    }

    fn varlong(&mut self, field: &str) -> Result<i64, BatchError> {
        let (v, n) = read_varlong(self.rest()).map_err(|e| varint_error(field, e))?;
        self.pos += n;
        Ok(v)
    }

    fn byte(&mut self) -> Result<u8, BatchError> {
        let b = *self
            .rest()
            .first()
            .ok_or_else(|| corrupt("record attributes truncated"))?;
        self.pos += 1;
        Ok(b)
    }

    /// Takes `len` bytes as a slice of the shared buffer, if that many remain.
    fn take(&mut self, len: usize, field: &str) -> Result<Bytes, BatchError> {
        if len > self.remaining() {
            return Err(BatchError::CorruptRecords(format!(
                "{field} length {len} exceeds the {} bytes remaining",
                self.remaining()
            )));
        }
        let out = self.buf.slice(self.pos..self.pos + len);
        self.pos += len;
        Ok(out)
    }

    /// Skips `len` bytes, if that many remain.
    fn skip(&mut self, len: usize, field: &str) -> Result<(), BatchError> {
        if len > self.remaining() {
            return Err(BatchError::CorruptRecords(format!(
                "{field} length {len} exceeds the {} bytes remaining",
                self.remaining()
            )));
        }
        self.pos += len;
        Ok(())
    }

    /// Skips a varint length and that many bytes; a negative length is null.
    /// Skips a nullable field; false if it was null.
    fn skip_nullable(&mut self, field: &str) -> Result<bool, BatchError> {
        let len = self.varint(field)?;
        match usize::try_from(len) {
            Ok(len) => self.skip(len, field).map(|()| true),
            Err(_) => Ok(false),
        }
    }

    /// Reads a varint length and that many bytes; a negative length is null.
    fn nullable_bytes(&mut self, field: &str) -> Result<Option<Bytes>, BatchError> {
        let len = self.varint(field)?;
        match usize::try_from(len) {
            Ok(len) => self.take(len, field).map(Some),
            Err(_) => Ok(None),
        }
    }
}

fn varint_error(field: &str, e: VarintError) -> BatchError {
    match e {
        VarintError::Truncated => BatchError::CorruptRecords(format!("{field} truncated")),
        VarintError::TooLong => BatchError::CorruptRecords(format!("{field} varint too long")),
    }
}

/// Decodes the `header.record_count` records in `buf` (the records section, already
/// decompressed), which must hold exactly those records.
pub(crate) fn parse_records(buf: &Bytes, header: &BatchHeader) -> Result<Vec<Record>, BatchError> {
    let count = usize::try_from(header.record_count).map_err(|_| invalid_count(header))?;
    if count > buf.len() / MIN_RECORD_LEN {
        return Err(invalid_count(header));
    }
    let log_append_time = match header.timestamp_type() {
        TimestampType::LogAppendTime => Some(header.max_timestamp),
        TimestampType::CreateTime => None,
    };
    let mut cur = Cursor {
        buf,
        pos: 0,
        end: buf.len(),
    };
    let mut records = Vec::with_capacity(count);
    for _ in 0..count {
        let len = cur.varint("record length")?;
        let len = usize::try_from(len)
            .map_err(|_| BatchError::CorruptRecords(format!("negative record length {len}")))?;
        if len > cur.remaining() {
            return Err(BatchError::CorruptRecords(format!(
                "record length {len} exceeds the {} bytes remaining",
                cur.remaining()
            )));
        }
        let mut rec = Cursor {
            buf,
            pos: cur.pos,
            end: cur.pos + len,
        };
        records.push(parse_record(&mut rec, header, log_append_time)?);
        if rec.pos != rec.end {
            return Err(BatchError::CorruptRecords(format!(
                "record length {len} but its fields take {}",
                rec.pos - cur.pos
            )));
        }
        cur.pos = rec.end;
    }
    if cur.remaining() != 0 {
        return Err(BatchError::CorruptRecords(format!(
            "{} bytes after the last of {count} records",
            cur.remaining()
        )));
    }
    Ok(records)
}

/// Checks, without building records, that `buf` (the decompressed records section) holds
/// exactly `header.record_count` well-formed records whose offset deltas run 0, 1, 2, ...
/// as a producer writes them. This is the produce path's check, so it allocates nothing.
pub(crate) fn check_records(
    buf: &Bytes,
    header: &BatchHeader,
    require_keys: bool,
) -> Result<(), BatchError> {
    let count = usize::try_from(header.record_count).map_err(|_| invalid_count(header))?;
    if count > buf.len() / MIN_RECORD_LEN {
        return Err(invalid_count(header));
    }
    let mut cur = Cursor {
        buf,
        pos: 0,
        end: buf.len(),
    };
    for i in 0..count {
        let len = cur.varint("record length")?;
        let len = usize::try_from(len)
            .ok()
            .filter(|l| *l <= cur.remaining())
            .ok_or_else(|| BatchError::CorruptRecords(format!("invalid record length {len}")))?;
        let mut rec = Cursor {
            buf,
            pos: cur.pos,
            end: cur.pos + len,
        };
        rec.byte()?;
        rec.varlong("timestamp delta")?;
        let delta = rec.varint("offset delta")?;
        if usize::try_from(delta).ok() != Some(i) {
            return Err(BatchError::CorruptRecords(format!(
                "record {i} has offset delta {delta}"
            )));
        }
        if !rec.skip_nullable("key")? && require_keys {
            return Err(BatchError::MissingKey(i));
        }
        rec.skip_nullable("value")?;
        let headers = rec.varint("header count")?;
        let headers = usize::try_from(headers)
            .ok()
            .filter(|n| *n <= rec.remaining() / MIN_HEADER_LEN)
            .ok_or_else(|| BatchError::CorruptRecords(format!("invalid header count {headers}")))?;
        for _ in 0..headers {
            let key_len = rec.varint("header key length")?;
            let key_len = usize::try_from(key_len).map_err(|_| {
                BatchError::CorruptRecords(format!("negative header key length {key_len}"))
            })?;
            rec.skip(key_len, "header key")?;
            rec.skip_nullable("header value")?;
        }
        if rec.pos != rec.end {
            return Err(BatchError::CorruptRecords(format!(
                "record length {len} but its fields take {}",
                rec.pos - cur.pos
            )));
        }
        cur.pos = rec.end;
    }
    if cur.remaining() != 0 {
        return Err(BatchError::CorruptRecords(format!(
            "{} bytes after the last of {count} records",
            cur.remaining()
        )));
    }
    Ok(())
}

fn invalid_count(header: &BatchHeader) -> BatchError {
    BatchError::InvalidRecordCount {
        count: header.record_count,
        last_offset_delta: header.last_offset_delta,
    }
}

fn parse_record(
    c: &mut Cursor<'_>,
    header: &BatchHeader,
    log_append_time: Option<i64>,
) -> Result<Record, BatchError> {
    let attributes = c.byte()? as i8;
    let timestamp_delta = c.varlong("timestamp delta")?;
    let offset_delta = c.varint("offset delta")?;
    let key = c.nullable_bytes("key")?;
    let value = c.nullable_bytes("value")?;
    let header_count = c.varint("header count")?;
    let header_count = usize::try_from(header_count)
        .ok()
        .filter(|n| *n <= c.remaining() / MIN_HEADER_LEN)
        .ok_or_else(|| {
            BatchError::CorruptRecords(format!("invalid header count {header_count}"))
        })?;
    let mut headers = Vec::with_capacity(header_count);
    for _ in 0..header_count {
        let key_len = c.varint("header key length")?;
        let key_len = usize::try_from(key_len).map_err(|_| {
            BatchError::CorruptRecords(format!("negative header key length {key_len}"))
        })?;
        let key = c.take(key_len, "header key")?;
        // Java decodes header keys leniently (invalid UTF-8 becomes U+FFFD); so do we.
        let key = String::from_utf8_lossy(&key).into_owned();
        let value = c.nullable_bytes("header value")?;
        headers.push((key, value));
    }
    Ok(Record {
        offset: header.base_offset.wrapping_add(i64::from(offset_delta)),
        timestamp: log_append_time
            .unwrap_or_else(|| header.base_timestamp.wrapping_add(timestamp_delta)),
        offset_delta,
        timestamp_delta,
        attributes,
        key,
        value,
        headers,
    })
}

/// A validated RecordBatch v2 (magic, length, record count and CRC checked) and its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordBatch {
    header: BatchHeader,
    compression: Compression,
    bytes: Bytes,
}

impl RecordBatch {
    /// Validates the batch at the start of `bytes`; bytes after its end are not kept.
    pub fn parse(bytes: Bytes) -> Result<Self, BatchError> {
        let header = BatchHeader::validate(&bytes, usize::MAX)?;
        let compression = header.compression()?;
        let total = header.total_len();
        let bytes = if bytes.len() > total {
            bytes.slice(..total)
        } else {
            bytes
        };
        Ok(Self {
            header,
            compression,
            bytes,
        })
    }

    /// Wraps a batch whose header `BatchHeader::validate` already accepted, without
    /// checking the CRC again (the produce path validates once).
    pub fn from_validated(header: BatchHeader, bytes: Bytes) -> Result<Self, BatchError> {
        let compression = header.compression()?;
        let total = header.total_len();
        if bytes.len() < total {
            return Err(BatchError::Truncated {
                needed: total,
                have: bytes.len(),
            });
        }
        let bytes = if bytes.len() > total {
            bytes.slice(..total)
        } else {
            bytes
        };
        Ok(Self {
            header,
            compression,
            bytes,
        })
    }

    /// The batch header.
    pub fn header(&self) -> &BatchHeader {
        &self.header
    }

    /// The whole batch as it arrived (header and records).
    pub fn as_bytes(&self) -> &Bytes {
        &self.bytes
    }

    /// The whole batch as it arrived, consuming the view.
    pub fn into_bytes(self) -> Bytes {
        self.bytes
    }

    /// Size of the whole batch in bytes.
    pub fn size_in_bytes(&self) -> usize {
        self.bytes.len()
    }

    /// Offset of the first record.
    pub fn base_offset(&self) -> i64 {
        self.header.base_offset
    }

    /// Offset of the last record.
    pub fn last_offset(&self) -> i64 {
        self.header.last_offset()
    }

    /// Number of records the header declares.
    pub fn record_count(&self) -> i32 {
        self.header.record_count
    }

    /// Compression codec of the records section.
    pub fn compression(&self) -> Compression {
        self.compression
    }

    /// Whether this is a control batch (transaction markers and the like).
    pub fn is_control(&self) -> bool {
        self.header.is_control()
    }

    /// Whether the batch belongs to a transaction.
    pub fn is_transactional(&self) -> bool {
        self.header.is_transactional()
    }

    /// The records section as stored (compressed if the batch is).
    pub fn records_section(&self) -> Bytes {
        self.bytes.slice(HEADER_LEN.min(self.bytes.len())..)
    }

    /// The records section decompressed; at most `max_uncompressed` bytes are produced
    /// (an uncompressed section is returned as is, without copying).
    pub fn decompressed(&self, max_uncompressed: usize) -> Result<Bytes, BatchError> {
        let section = self.records_section();
        match self.compression {
            // An empty section (a batch compaction emptied) holds no stream to decode.
            _ if section.is_empty() => Ok(section),
            Compression::None => Ok(section),
            codec => decompress(codec, &section, max_uncompressed).map(Bytes::from),
        }
    }

    /// Checks that the records are well formed, as many as the header says, with offset
    /// deltas 0, 1, 2, ... (decompressing first, to at most `max_uncompressed` bytes).
    pub fn check_records(&self, max_uncompressed: usize) -> Result<(), BatchError> {
        check_records(&self.decompressed(max_uncompressed)?, &self.header, false)
    }

    /// [`RecordBatch::check_records`] that also refuses a record without a key
    /// ([`BatchError::MissingKey`]), as a compacted topic does.
    pub fn check_keyed_records(&self, max_uncompressed: usize) -> Result<(), BatchError> {
        check_records(&self.decompressed(max_uncompressed)?, &self.header, true)
    }

    /// Decodes every record (decompressing first, to at most `max_uncompressed` bytes),
    /// with absolute offsets and timestamps.
    pub fn records(&self, max_uncompressed: usize) -> Result<Vec<Record>, BatchError> {
        let section = self.decompressed(max_uncompressed)?;
        parse_records(&section, &self.header)
    }
}

/// Iterates over the batches laid end to end in a buffer (a log segment slice, a Fetch
/// response's records, a Produce request's records).
///
/// A trailing partial batch, which Fetch responses may carry, ends the iteration cleanly;
/// [`Batches::remaining`] then tells how many bytes were left over. After an error the
/// iterator yields nothing more.
#[derive(Debug, Clone)]
pub struct Batches {
    bytes: Bytes,
    pos: usize,
    done: bool,
}

impl Batches {
    /// Iterates over the batches in `bytes`.
    pub fn new(bytes: Bytes) -> Self {
        Self {
            bytes,
            pos: 0,
            done: false,
        }
    }

    /// Bytes taken by the batches yielded so far.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// Bytes not yet yielded as a batch (after the end, the trailing partial batch).
    pub fn remaining(&self) -> usize {
        self.bytes.len().saturating_sub(self.pos)
    }
}

impl Iterator for Batches {
    type Item = Result<RecordBatch, BatchError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let rest = self.bytes.get(self.pos..).unwrap_or_default();
        let Some(len_bytes) = rest
            .get(LOG_OVERHEAD - 4..LOG_OVERHEAD)
            .and_then(|s| <[u8; 4]>::try_from(s).ok())
        else {
            // Not even a length field: the end, or a partial batch.
            self.done = true;
            return None;
        };
        let batch_length = i32::from_be_bytes(len_bytes);
        let total = match usize::try_from(batch_length) {
            Ok(len) if len + LOG_OVERHEAD >= HEADER_LEN => len + LOG_OVERHEAD,
            _ => {
                self.done = true;
                return Some(Err(BatchError::InvalidLength(batch_length)));
            }
        };
        if rest.len() < total {
            self.done = true;
            return None;
        }
        let batch = self.bytes.slice(self.pos..self.pos + total);
        match RecordBatch::parse(batch) {
            Ok(batch) => {
                self.pos += total;
                Some(Ok(batch))
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}
