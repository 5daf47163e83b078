//! The aborted-transaction index of a segment (`.txnindex`, Kafka's `TransactionIndex`): one
//! entry per transaction whose abort marker is in the segment, so a `read_committed` fetch
//! can tell the consumer which records to drop. Entries are 34 bytes, big-endian: version
//! i16 = 0, producer id i64, first offset i64, last offset (the marker) i64, last stable
//! offset i64. The file is appended to as markers are written and kept in memory too.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::error::{IoContext, StorageError};

/// Bytes per entry.
const ENTRY_LEN: usize = 34;
/// A marker batch takes at least this many bytes of its segment, which bounds the entries a
/// segment of a given size can have.
const MIN_MARKER_BYTES: u64 = 61;

/// A transaction that was aborted on this partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AbortedTxn {
    /// The producer.
    pub producer_id: i64,
    /// Offset of its first batch here.
    pub first_offset: i64,
    /// Offset of its abort marker.
    pub last_offset: i64,
    /// The last stable offset once the marker was written.
    pub last_stable_offset: i64,
}

impl AbortedTxn {
    /// Whether a transactional batch of `producer_id` starting at `offset` belongs to this
    /// aborted transaction (it lies between the transaction's first batch and its marker).
    pub fn covers(&self, producer_id: i64, offset: i64) -> bool {
        self.producer_id == producer_id && self.first_offset <= offset && offset <= self.last_offset
    }

    fn encode(&self) -> [u8; ENTRY_LEN] {
        let mut b = [0u8; ENTRY_LEN];
        let fields = [
            self.producer_id,
            self.first_offset,
            self.last_offset,
            self.last_stable_offset,
        ];
        for (chunk, v) in b[2..].chunks_exact_mut(8).zip(fields) {
            chunk.copy_from_slice(&v.to_be_bytes());
        }
        b
    }

    fn decode(b: &[u8]) -> Option<Self> {
        let (version, rest) = b.split_first_chunk::<2>()?;
        if i16::from_be_bytes(*version) != 0 {
            return None;
        }
        let mut f = rest.chunks_exact(8).map(|c| {
            let mut a = [0u8; 8];
            a.copy_from_slice(c);
            i64::from_be_bytes(a)
        });
        Some(Self {
            producer_id: f.next()?,
            first_offset: f.next()?,
            last_offset: f.next()?,
            last_stable_offset: f.next()?,
        })
    }
}

/// One segment's aborted transactions, in marker order.
#[derive(Debug)]
pub(crate) struct TxnIndex {
    path: PathBuf,
    file: Option<Arc<File>>,
    entries: Vec<AbortedTxn>,
}

impl TxnIndex {
    /// An index at `path` with no entries and no file yet.
    pub(crate) fn empty(path: PathBuf) -> Self {
        Self {
            path,
            file: None,
            entries: Vec::new(),
        }
    }

    /// Loads the index at `path` for a segment of `segment_size` bytes; entries that do not
    /// decode, and a torn last entry, are dropped with a warning (recovery rebuilds them).
    pub(crate) fn load(path: PathBuf, segment_size: u64) -> Result<Self, StorageError> {
        let len = match fs::metadata(&path) {
            Ok(m) => m.len(),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Self::empty(path)),
            Err(e) => return Err(StorageError::io(format!("reading {}", path.display()), e)),
        };
        let max = (segment_size / MIN_MARKER_BYTES + 1) * ENTRY_LEN as u64;
        if len > max {
            tracing::warn!(file = %path.display(), len, "transaction index larger than its segment allows; ignoring it");
            return Ok(Self::empty(path));
        }
        let bytes = fs::read(&path).ctx(|| format!("reading {}", path.display()))?;
        let mut entries = Vec::with_capacity(bytes.len() / ENTRY_LEN);
        for chunk in bytes.chunks(ENTRY_LEN) {
            match AbortedTxn::decode(chunk) {
                Some(t) if chunk.len() == ENTRY_LEN => entries.push(t),
                _ => {
                    tracing::warn!(file = %path.display(), "dropping unreadable transaction index entries");
                    break;
                }
            }
        }
        let mut index = Self::empty(path);
        index.entries = entries;
        if bytes.len() != index.entries.len() * ENTRY_LEN {
            index.rewrite()?;
        }
        Ok(index)
    }

    /// The entries, in marker order.
    pub(crate) fn entries(&self) -> &[AbortedTxn] {
        &self.entries
    }

    /// The open file, if any entry was ever written (for fsync).
    pub(crate) fn file(&self) -> Option<Arc<File>> {
        self.file.clone()
    }

    /// Appends an entry (not fsynced: the log's sync covers the file); true if this created
    /// the file (its directory entry then needs syncing too).
    pub(crate) fn append(&mut self, t: AbortedTxn) -> Result<bool, StorageError> {
        let created = self.file.is_none();
        let file = match &self.file {
            Some(f) => Arc::clone(f),
            None => {
                let f = OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&self.path)
                    .ctx(|| format!("opening {}", self.path.display()))?;
                let f = Arc::new(f);
                self.file = Some(Arc::clone(&f));
                f
            }
        };
        (&*file)
            .write_all(&t.encode())
            .ctx(|| format!("appending to {}", self.path.display()))?;
        self.entries.push(t);
        Ok(created)
    }

    /// Drops the entries whose marker is at or above `offset`.
    pub(crate) fn truncate_from(&mut self, offset: i64) -> Result<(), StorageError> {
        let keep = self.entries.partition_point(|t| t.last_offset < offset);
        if keep == self.entries.len() {
            return Ok(());
        }
        self.entries.truncate(keep);
        self.rewrite()
    }

    /// Replaces the file with the entries in memory (removing it when there are none):
    /// written to a temporary file, fsynced and renamed, so a crash leaves one or the other.
    fn rewrite(&mut self) -> Result<(), StorageError> {
        self.file = None;
        if self.entries.is_empty() {
            return crate::durable::remove_if_exists(&self.path);
        }
        let mut bytes = Vec::with_capacity(self.entries.len() * ENTRY_LEN);
        for t in &self.entries {
            bytes.extend_from_slice(&t.encode());
        }
        crate::durable::write_atomic(&self.path, &bytes)
            .ctx(|| format!("writing {}", self.path.display()))?;
        let f = OpenOptions::new()
            .append(true)
            .open(&self.path)
            .ctx(|| format!("opening {}", self.path.display()))?;
        self.file = Some(Arc::new(f));
        Ok(())
    }

    /// Removes the file of the segment at `path`; a missing one is fine.
    pub(crate) fn remove(path: &Path) -> Result<(), StorageError> {
        crate::durable::remove_if_exists(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(pid: i64, first: i64, last: i64) -> AbortedTxn {
        AbortedTxn {
            producer_id: pid,
            first_offset: first,
            last_offset: last,
            last_stable_offset: last + 1,
        }
    }

    #[test]
    fn entries_round_trip_truncate_and_survive_a_torn_tail() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("00000000000000000000.txnindex");
        let mut idx = TxnIndex::empty(path.clone());
        for i in 0..4 {
            idx.append(t(i, i * 10, i * 10 + 5)).unwrap();
        }
        let loaded = TxnIndex::load(path.clone(), 1 << 20).unwrap();
        assert_eq!(loaded.entries(), idx.entries());
        // Kafka's layout: version 0, then four longs.
        let bytes = fs::read(&path).unwrap();
        assert_eq!(bytes.len(), 4 * ENTRY_LEN);
        assert_eq!(&bytes[..2], &[0, 0]);
        assert_eq!(&bytes[2..10], &0i64.to_be_bytes());
        assert_eq!(&bytes[ENTRY_LEN + 2..ENTRY_LEN + 10], &1i64.to_be_bytes());

        idx.truncate_from(25).unwrap();
        assert_eq!(idx.entries().len(), 2);
        idx.append(t(9, 40, 41)).unwrap();
        let loaded = TxnIndex::load(path.clone(), 1 << 20).unwrap();
        assert_eq!(loaded.entries(), &[t(0, 0, 5), t(1, 10, 15), t(9, 40, 41)]);

        // A torn tail is dropped and the file cut back to whole entries.
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(&[0, 0, 1, 2, 3]).unwrap();
        let loaded = TxnIndex::load(path.clone(), 1 << 20).unwrap();
        assert_eq!(loaded.entries().len(), 3);
        assert_eq!(fs::metadata(&path).unwrap().len(), 3 * ENTRY_LEN as u64);
        // Larger than the segment could justify: ignored.
        assert!(TxnIndex::load(path.clone(), 10)
            .unwrap()
            .entries()
            .is_empty());
        idx.truncate_from(0).unwrap();
        assert!(!path.exists());
    }
}
