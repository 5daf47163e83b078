//! Reading: whole batches from an offset, and the timestamp lookups of ListOffsets.

use bytes::Bytes;
use weir_protocol::record::batch::{BatchHeader, HEADER_LEN};
use weir_protocol::record::RecordBatch;

use super::Log;
use crate::error::StorageError;
use crate::segment::{Located, Segment};

/// Batches read from the log, exactly as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadResult {
    /// Whole batches, possibly none.
    pub bytes: Bytes,
    /// One past the last offset returned; the requested offset if nothing was.
    pub next_offset: i64,
    /// The log start offset when the read was made.
    pub log_start_offset: i64,
    /// The log end offset when the read was made.
    pub log_end_offset: i64,
}

impl Log {
    /// Reads whole batches from the one holding `offset`, stopping before a batch whose
    /// last offset is at or above `upper_bound` and before `max_bytes` would be exceeded;
    /// with `min_one_batch` the first batch comes back even if larger (KIP-74).
    pub fn read(
        &self,
        offset: i64,
        max_bytes: usize,
        upper_bound: i64,
        min_one_batch: bool,
    ) -> Result<ReadResult, StorageError> {
        let log_end = self.log_end_offset();
        let out_of_range = || StorageError::OffsetOutOfRange {
            offset,
            log_start: self.log_start_offset,
            log_end,
        };
        if offset < self.log_start_offset || offset > log_end {
            return Err(out_of_range());
        }
        let empty = ReadResult {
            bytes: Bytes::new(),
            next_offset: offset,
            log_start_offset: self.log_start_offset,
            log_end_offset: log_end,
        };
        let Some(first_index) = self.segment_index_for(offset) else {
            return Err(out_of_range());
        };
        let max_batch = self.config.max_batch_bytes;
        for seg in self.segments.iter().skip(first_index) {
            let Some(first) = seg.find_batch(offset, max_batch)? else {
                continue;
            };
            if first.header.last_offset() >= upper_bound {
                return Ok(empty);
            }
            let (bytes, next_offset) = if first.len > max_bytes as u64 {
                if !min_one_batch {
                    return Ok(empty);
                }
                let bytes = seg.read_bytes(first.position, first.len as usize)?;
                (bytes, first.header.last_offset() + 1)
            } else {
                read_batches(seg, &first, max_bytes, upper_bound, max_batch)?
            };
            return Ok(ReadResult {
                bytes: Bytes::from(bytes),
                next_offset,
                ..empty
            });
        }
        Ok(empty)
    }

    /// Offset and timestamp of the first record at or after the log start whose timestamp
    /// is at or above `timestamp`; `None` if there is none.
    pub fn offset_for_timestamp(&self, timestamp: i64) -> Result<Option<(i64, i64)>, StorageError> {
        let start = self.log_start_offset;
        for seg in &self.segments {
            if seg.max_timestamp < timestamp || seg.next_offset <= start {
                continue;
            }
            let from = match seg.time_index.lookup_below(timestamp) {
                Some(e) => seg
                    .offset_index
                    .lookup(e.relative_offset)
                    .map_or(0, |x| u64::from(x.position)),
                None => 0,
            };
            let found = self.first_record_in(
                seg,
                from,
                |b| b.max_timestamp >= timestamp && b.last_offset() >= start,
                |offset, ts| ts >= timestamp && offset >= start,
            )?;
            if found.is_some() {
                return Ok(found);
            }
        }
        Ok(None)
    }

    /// Offset and timestamp of the first record holding the largest timestamp in the log
    /// (ListOffsets `MAX_TIMESTAMP`); `None` if no record has a timestamp.
    pub fn max_timestamp(&self) -> Option<(i64, i64)> {
        let start = self.log_start_offset;
        let seg = self
            .segments
            .iter()
            .filter(|s| s.max_timestamp >= 0 && s.offset_of_max_timestamp >= start)
            .reduce(|best, s| {
                if s.max_timestamp > best.max_timestamp {
                    s
                } else {
                    best
                }
            })?;
        let (ts, batch_last) = (seg.max_timestamp, seg.offset_of_max_timestamp);
        let from = seg
            .relative(batch_last)
            .and_then(|rel| seg.offset_index.lookup(rel))
            .map_or(0, |e| u64::from(e.position));
        match self.first_record_in(seg, from, |b| b.max_timestamp == ts, |_, t| t == ts) {
            Ok(Some(found)) => Some(found),
            Ok(None) => Some((batch_last, ts)),
            Err(e) => {
                tracing::warn!(dir = %self.dir.display(), error = %e, "max timestamp lookup fell back to the batch");
                Some((batch_last, ts))
            }
        }
    }

    /// Scans `seg` from `position` for batches `batch_ok` accepts and returns the first
    /// record in them that `record_ok` accepts, as (offset, timestamp).
    fn first_record_in(
        &self,
        seg: &Segment,
        mut position: u64,
        mut batch_ok: impl FnMut(&BatchHeader) -> bool,
        mut record_ok: impl FnMut(i64, i64) -> bool,
    ) -> Result<Option<(i64, i64)>, StorageError> {
        let max_batch = self.config.max_batch_bytes;
        while let Some(b) = seg.scan_from(position, max_batch, |b| batch_ok(&b.header))? {
            let bytes = Bytes::from(seg.read_bytes(b.position, b.len as usize)?);
            let batch = RecordBatch::parse(bytes).map_err(|e| corrupt(seg, &b, &e.to_string()))?;
            let records = batch
                .records(max_batch)
                .map_err(|e| corrupt(seg, &b, &e.to_string()))?;
            if let Some(r) = records.iter().find(|r| record_ok(r.offset, r.timestamp)) {
                return Ok(Some((r.offset, r.timestamp)));
            }
            position = b.position + b.len;
        }
        Ok(None)
    }
}

fn corrupt(seg: &Segment, b: &Located, reason: &str) -> StorageError {
    StorageError::Corrupt(format!(
        "{} at position {}: {reason}",
        seg.log_path.display(),
        b.position
    ))
}

/// Reads the batches from `first` (which fits `max_bytes`) on, within `max_bytes` and below
/// `upper_bound`; returns their bytes and the offset after them.
fn read_batches(
    seg: &Segment,
    first: &Located,
    max_bytes: usize,
    upper_bound: i64,
    max_batch: usize,
) -> Result<(Vec<u8>, i64), StorageError> {
    let available = seg.size - first.position;
    let want = (max_bytes as u64).min(available) as usize;
    let mut buf = seg.read_bytes(first.position, want)?;
    let mut cursor = 0usize;
    let mut next_offset = first.header.base_offset;
    while let Some(rest) = buf.get(cursor..).filter(|r| r.len() >= HEADER_LEN) {
        let h = BatchHeader::parse(rest).map_err(|e| corrupt(seg, first, &e.to_string()))?;
        let total = h
            .checked_total_len(max_batch)
            .map_err(|e| corrupt(seg, first, &e.to_string()))?;
        if total > rest.len() || h.last_offset() >= upper_bound {
            break;
        }
        cursor += total;
        next_offset = h.last_offset() + 1;
    }
    buf.truncate(cursor);
    Ok((buf, next_offset))
}
