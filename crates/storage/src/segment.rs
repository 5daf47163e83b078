//! One segment: a `.log` file of whole batches starting at a base offset, with its sparse
//! offset and time indexes held in memory.
//!
//! Batches are written and read with positional I/O (`FileExt::write_all_at`/`read_exact_at`),
//! so reads need only `&self`. Only the first `size` bytes of the file are valid; anything
//! after them is ignored and cut off on the next append or recovery.

use std::collections::VecDeque;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use weir_protocol::record::batch::{BatchHeader, HEADER_LEN};

use crate::dirs::{segment_path, INDEX_SUFFIX, LOG_SUFFIX, TIME_INDEX_SUFFIX, TXN_INDEX_SUFFIX};
use crate::durable::remove_if_exists;
use crate::error::{IoContext, StorageError};
use crate::index::{OffsetIndex, TimeIndex};
use crate::txn_index::TxnIndex;

/// A batch found in a segment: its header and where it starts.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Located {
    /// File position of the batch.
    pub(crate) position: u64,
    /// Its header.
    pub(crate) header: BatchHeader,
    /// Its total length in bytes.
    pub(crate) len: u64,
}

/// One segment of a partition log.
#[derive(Debug)]
pub(crate) struct Segment {
    pub(crate) base_offset: i64,
    pub(crate) log_path: PathBuf,
    pub(crate) file: Arc<File>,
    /// Bytes of valid batches at the start of the file.
    pub(crate) size: u64,
    /// One past the last offset in the segment (`base_offset` when empty).
    pub(crate) next_offset: i64,
    pub(crate) offset_index: OffsetIndex,
    pub(crate) time_index: TimeIndex,
    /// Transactions aborted by a marker in this segment.
    pub(crate) txn_index: TxnIndex,
    bytes_since_index: u64,
    /// Largest batch max timestamp, -1 if none.
    pub(crate) max_timestamp: i64,
    /// Last offset of the first batch holding `max_timestamp`.
    pub(crate) offset_of_max_timestamp: i64,
    /// Max timestamp of the first batch (Kafka's rolling-based timestamp).
    first_batch_timestamp: Option<i64>,
    /// When this process created or opened the segment.
    created_ms: i64,
    /// The last batches appended, so that a fetch at the tail finds its batch without
    /// reading headers from the last index entry on.
    tail: VecDeque<Located>,
}

/// How many recent batches [`Segment`] remembers.
const TAIL: usize = 64;

impl Segment {
    /// Creates an empty segment file starting at `base_offset`.
    pub(crate) fn create(dir: &Path, base_offset: i64, now_ms: i64) -> Result<Self, StorageError> {
        let log_path = segment_path(dir, base_offset, LOG_SUFFIX);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&log_path)
            .ctx(|| format!("creating segment {}", log_path.display()))?;
        let txn_index = TxnIndex::empty(segment_path(dir, base_offset, TXN_INDEX_SUFFIX));
        Ok(Self::new(log_path, file, base_offset, 0, txn_index, now_ms))
    }

    /// Creates an empty segment file at `log_path` (a compaction's rewrite, renamed into
    /// place later) for the segment starting at `base_offset` in `dir`.
    pub(crate) fn create_at(
        dir: &Path,
        log_path: PathBuf,
        base_offset: i64,
        now_ms: i64,
    ) -> Result<Self, StorageError> {
        remove_if_exists(&log_path)?;
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&log_path)
            .ctx(|| format!("creating {}", log_path.display()))?;
        let txn_index = TxnIndex::empty(segment_path(dir, base_offset, TXN_INDEX_SUFFIX));
        Ok(Self::new(log_path, file, base_offset, 0, txn_index, now_ms))
    }

    /// Opens an existing segment file; its indexes and size are filled in by recovery.
    pub(crate) fn open(dir: &Path, base_offset: i64, now_ms: i64) -> Result<Self, StorageError> {
        let log_path = segment_path(dir, base_offset, LOG_SUFFIX);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&log_path)
            .ctx(|| format!("opening segment {}", log_path.display()))?;
        let len = file
            .metadata()
            .ctx(|| format!("stat {}", log_path.display()))?
            .len();
        let txn_index = TxnIndex::load(segment_path(dir, base_offset, TXN_INDEX_SUFFIX), len)?;
        Ok(Self::new(
            log_path,
            file,
            base_offset,
            len,
            txn_index,
            now_ms,
        ))
    }

    fn new(
        log_path: PathBuf,
        file: File,
        base_offset: i64,
        size: u64,
        txn_index: TxnIndex,
        now_ms: i64,
    ) -> Self {
        Self {
            base_offset,
            log_path,
            file: Arc::new(file),
            size,
            next_offset: base_offset,
            offset_index: OffsetIndex::default(),
            time_index: TimeIndex::default(),
            txn_index,
            bytes_since_index: 0,
            max_timestamp: -1,
            offset_of_max_timestamp: -1,
            first_batch_timestamp: None,
            created_ms: now_ms,
            tail: VecDeque::new(),
        }
    }

    /// `offset - base_offset` if it fits the indexes' u32 (Kafka keeps it within i32).
    pub(crate) fn relative(&self, offset: i64) -> Option<u32> {
        let rel = offset.checked_sub(self.base_offset)?;
        if (0..=i64::from(i32::MAX)).contains(&rel) {
            u32::try_from(rel).ok()
        } else {
            None
        }
    }

    /// Whether the segment holds no batch.
    pub(crate) fn is_empty(&self) -> bool {
        self.size == 0
    }

    /// How long the segment has been open for rolling: by batch timestamps when the first
    /// batch had one, else by wall clock since creation (Kafka's `timeWaitedForRoll`).
    pub(crate) fn time_waited(&self, now_ms: i64, batch_max_timestamp: i64) -> i64 {
        match self.first_batch_timestamp {
            Some(first) if first >= 0 => batch_max_timestamp.saturating_sub(first),
            _ => now_ms.saturating_sub(self.created_ms),
        }
    }

    /// Writes `batch` at the end of the valid data with one positional write.
    pub(crate) fn write_batch(&self, batch: &[u8]) -> io::Result<()> {
        self.file.write_all_at(batch, self.size)
    }

    /// Cuts the file back to the valid size (after a failed write).
    pub(crate) fn cut_to_size(&self) -> io::Result<()> {
        self.file.set_len(self.size)
    }

    /// Accounts for a batch now stored at the end of the segment: size, end offset, max
    /// timestamp and index entries (Kafka's rule: an entry once more than `interval` bytes
    /// were written since the last one). The caller checked the batch's offsets fit
    /// [`Segment::relative`].
    pub(crate) fn track_batch(&mut self, h: &BatchHeader, len: u64, interval: u32) {
        let position = self.size;
        if position == 0 {
            self.first_batch_timestamp = Some(h.max_timestamp);
        }
        if h.max_timestamp > self.max_timestamp {
            self.max_timestamp = h.max_timestamp;
            self.offset_of_max_timestamp = h.last_offset();
        }
        if self.bytes_since_index > u64::from(interval) {
            if let (Some(rel), Ok(pos)) = (self.relative(h.base_offset), u32::try_from(position)) {
                self.offset_index.push(rel, pos);
            }
            self.push_time_entry();
            self.bytes_since_index = 0;
        }
        self.bytes_since_index += len;
        self.size = position + len;
        self.next_offset = h.last_offset() + 1;
        if self.tail.len() == TAIL {
            self.tail.pop_front();
        }
        self.tail.push_back(Located {
            position,
            header: *h,
            len,
        });
    }

    fn push_time_entry(&mut self) {
        if self.max_timestamp >= 0 {
            if let Some(rel) = self.relative(self.offset_of_max_timestamp) {
                self.time_index.maybe_push(self.max_timestamp, rel);
            }
        }
    }

    /// Reads the header of the batch at `position`, checking its length fits the segment
    /// and `max_batch_bytes`.
    pub(crate) fn header_at(
        &self,
        position: u64,
        max_batch_bytes: usize,
    ) -> Result<Located, StorageError> {
        let mut buf = [0u8; HEADER_LEN];
        if position + HEADER_LEN as u64 > self.size {
            return Err(self.corrupt(position, "batch header past the end of the segment"));
        }
        self.file
            .read_exact_at(&mut buf, position)
            .ctx(|| format!("reading {} at {position}", self.log_path.display()))?;
        let header =
            BatchHeader::parse(&buf).map_err(|e| self.corrupt(position, &e.to_string()))?;
        let len = header
            .checked_total_len(max_batch_bytes)
            .map_err(|e| self.corrupt(position, &e.to_string()))? as u64;
        if position + len > self.size {
            return Err(self.corrupt(position, "batch runs past the end of the segment"));
        }
        Ok(Located {
            position,
            header,
            len,
        })
    }

    fn corrupt(&self, position: u64, reason: &str) -> StorageError {
        StorageError::Corrupt(format!(
            "{} at position {position}: {reason}",
            self.log_path.display()
        ))
    }

    /// The first batch whose last offset is at or above `offset`, found from the offset
    /// index; `None` if every batch ends below it.
    pub(crate) fn find_batch(
        &self,
        offset: i64,
        max_batch_bytes: usize,
    ) -> Result<Option<Located>, StorageError> {
        // Among the last batches appended: the batch before the first of them ends below
        // `offset`, so the first that reaches it is the answer (none: past the end).
        if let Some(first) = self.tail.front() {
            if first.header.base_offset <= offset {
                let at = self
                    .tail
                    .partition_point(|l| l.header.last_offset() < offset);
                let found = self.tail.get(at).copied();
                if found.is_none_or(|l| l.len <= max_batch_bytes as u64) {
                    return Ok(found);
                }
            }
        }
        let start = match self.relative(offset) {
            Some(rel) => match self.offset_index.lookup(rel) {
                None => 0,
                // An entry names the base offset of the batch at its position; one that does
                // not (a damaged index file) is not trusted: scan from the segment start.
                Some(e) => {
                    let position = u64::from(e.position);
                    let expected = self.base_offset + i64::from(e.relative_offset);
                    match self.header_at(position, max_batch_bytes) {
                        Ok(b) if b.header.base_offset == expected => position,
                        _ => {
                            tracing::warn!(
                                file = %self.log_path.display(),
                                position,
                                expected,
                                "offset index entry does not match the log; scanning the segment"
                            );
                            0
                        }
                    }
                }
            },
            None if offset < self.base_offset => 0,
            None => return Ok(None),
        };
        self.scan_from(start, max_batch_bytes, |b| b.header.last_offset() >= offset)
    }

    /// Walks batch headers from `position` and returns the first one `pred` accepts.
    pub(crate) fn scan_from(
        &self,
        mut position: u64,
        max_batch_bytes: usize,
        mut pred: impl FnMut(&Located) -> bool,
    ) -> Result<Option<Located>, StorageError> {
        while position < self.size {
            let b = self.header_at(position, max_batch_bytes)?;
            if pred(&b) {
                return Ok(Some(b));
            }
            position += b.len;
        }
        Ok(None)
    }

    /// Reads `len` bytes at `position` (within the valid data).
    pub(crate) fn read_bytes(&self, position: u64, len: usize) -> Result<Vec<u8>, StorageError> {
        let end = position.saturating_add(len as u64);
        if end > self.size {
            return Err(self.corrupt(position, "read past the end of the segment"));
        }
        let mut buf = vec![0u8; len];
        self.file
            .read_exact_at(&mut buf, position)
            .ctx(|| format!("reading {} at {position}", self.log_path.display()))?;
        Ok(buf)
    }

    /// Drops every batch whose last offset is at or above `offset` (whole batches) and
    /// cuts the file to match.
    pub(crate) fn truncate_to(
        &mut self,
        offset: i64,
        max_batch_bytes: usize,
    ) -> Result<(), StorageError> {
        let Some(cut) = self.find_batch(offset, max_batch_bytes)? else {
            return Ok(());
        };
        // Durable before anything is appended in its place: a cut tail that came back after
        // a power loss would pass recovery's checks and diverge from the leader again.
        self.file
            .set_len(cut.position)
            .and_then(|()| self.file.sync_all())
            .ctx(|| format!("truncating {}", self.log_path.display()))?;
        self.size = cut.position;
        self.next_offset = cut.header.base_offset;
        self.tail.retain(|l| l.position < cut.position);
        let pos = u32::try_from(cut.position).unwrap_or(u32::MAX);
        self.offset_index.truncate_to_position(pos);
        if let Some(rel) = self.relative(cut.header.base_offset) {
            self.time_index.truncate_to_offset(rel);
        }
        self.bytes_since_index = self.size
            - self
                .offset_index
                .last()
                .map_or(0, |e| u64::from(e.position));
        self.first_batch_timestamp = if self.is_empty() {
            None
        } else {
            Some(self.header_at(0, max_batch_bytes)?.header.max_timestamp)
        };
        self.recompute_max_timestamp(max_batch_bytes)
    }

    /// Recomputes the max timestamp from the last time index entry and the batches after
    /// it (after a truncation).
    fn recompute_max_timestamp(&mut self, max_batch_bytes: usize) -> Result<(), StorageError> {
        let (mut max, mut at, start) = match self.time_index.last() {
            Some(e) => {
                let at = self.base_offset + i64::from(e.relative_offset);
                let pos = self
                    .offset_index
                    .lookup(e.relative_offset)
                    .map_or(0, |x| u64::from(x.position));
                (e.timestamp, at, pos)
            }
            None => (-1, -1, 0),
        };
        self.scan_from(start, max_batch_bytes, |b| {
            if b.header.max_timestamp > max {
                max = b.header.max_timestamp;
                at = b.header.last_offset();
            }
            false
        })?;
        self.max_timestamp = max;
        self.offset_of_max_timestamp = at;
        Ok(())
    }

    /// Adds the final time index entry a segment gets when it stops being active.
    pub(crate) fn seal(&mut self) {
        self.push_time_entry();
    }

    /// Writes both index files in full and returns their handles (for a later fsync).
    pub(crate) fn write_index_files(&self, dir: &Path) -> Result<[Arc<File>; 2], StorageError> {
        let [(_, a), (_, b)] = self.write_index_files_as(dir, "")?;
        Ok([a, b])
    }

    /// Writes both index files with `extra` after their usual names (a compaction's
    /// rewrite keeps them under temporary names until installed); returns paths and handles.
    pub(crate) fn write_index_files_as(
        &self,
        dir: &Path,
        extra: &str,
    ) -> Result<[(PathBuf, Arc<File>); 2], StorageError> {
        let write = |suffix: &str, bytes: &[u8]| -> Result<(PathBuf, Arc<File>), StorageError> {
            let base = segment_path(dir, self.base_offset, suffix);
            let path = PathBuf::from(format!("{}{extra}", base.display()));
            let mut f = File::create(&path).ctx(|| format!("creating {}", path.display()))?;
            f.write_all(bytes)
                .ctx(|| format!("writing {}", path.display()))?;
            Ok((path, Arc::new(f)))
        };
        Ok([
            write(INDEX_SUFFIX, &self.offset_index.encode())?,
            write(TIME_INDEX_SUFFIX, &self.time_index.encode())?,
        ])
    }

    /// Removes the index files (so the next open rebuilds them); missing files are fine.
    pub(crate) fn remove_index_files(dir: &Path, base_offset: i64) -> Result<(), StorageError> {
        for suffix in [INDEX_SUFFIX, TIME_INDEX_SUFFIX] {
            remove_if_exists(&segment_path(dir, base_offset, suffix))?;
        }
        Ok(())
    }

    /// Deletes the segment's files: the log first, then the indexes.
    pub(crate) fn delete_files(dir: &Path, base_offset: i64) -> Result<(), StorageError> {
        remove_if_exists(&segment_path(dir, base_offset, LOG_SUFFIX))?;
        Self::remove_index_files(dir, base_offset)?;
        TxnIndex::remove(&segment_path(dir, base_offset, TXN_INDEX_SUFFIX))
    }

    /// Installs indexes loaded from files for a segment that recovery does not scan: its
    /// batches end at the next segment's base offset.
    pub(crate) fn install_loaded(
        &mut self,
        offsets: OffsetIndex,
        times: TimeIndex,
        next_offset: i64,
    ) {
        self.next_offset = next_offset;
        if let Some(last) = times.last() {
            self.max_timestamp = last.timestamp;
            self.offset_of_max_timestamp = self.base_offset + i64::from(last.relative_offset);
        }
        self.bytes_since_index = self.size - offsets.last().map_or(0, |e| u64::from(e.position));
        self.offset_index = offsets;
        self.time_index = times;
        self.first_batch_timestamp = None;
    }

    /// Resets the segment to empty in memory before a recovery scan refills it.
    pub(crate) fn reset_for_scan(&mut self) {
        self.tail.clear();
        self.size = 0;
        self.next_offset = self.base_offset;
        self.offset_index = OffsetIndex::default();
        self.time_index = TimeIndex::default();
        self.bytes_since_index = 0;
        self.max_timestamp = -1;
        self.offset_of_max_timestamp = -1;
        self.first_batch_timestamp = None;
    }
}

#[cfg(test)]
mod tests;
