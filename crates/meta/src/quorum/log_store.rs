//! The Raft log on disk: a Weir partition log (`__cluster_metadata-0` in the data dir) with
//! each entry stored as one batch whose offset is the entry's index and whose one record's
//! value is the entry as JSON; the vote and the committed log id sit beside it in small
//! files replaced atomically. Appends are fsynced before openraft is told they are durable.

use std::fs;
use std::ops::{Bound, RangeBounds};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use openraft::storage::{LogFlushed, RaftLogStorage};
use openraft::{Entry, LogId, LogState, RaftLogReader, StorageError, StorageIOError, Vote};
use tokio::sync::Mutex;
use weir_protocol::record::{BatchBuilder, Batches, Compression};
use weir_storage::{Log, LogConfig};

use super::TypeConfig;

/// Directory of the metadata log inside the data dir.
pub const METADATA_DIR: &str = "__cluster_metadata-0";
/// Largest entry read back (a metadata change is far smaller).
const MAX_ENTRY_BYTES: usize = 64 * 1024 * 1024;
const VOTE_FILE: &str = "raft-vote.json";
const COMMITTED_FILE: &str = "raft-committed.json";
const PURGED_FILE: &str = "raft-purged.json";

type Err = StorageError<u64>;

struct Inner {
    log: Log,
    dir: PathBuf,
    last_purged: Option<LogId<u64>>,
}

/// The Raft log store; clones share it (openraft reads through a clone).
#[derive(Clone)]
pub(crate) struct LogStore {
    inner: Arc<Mutex<Inner>>,
}

fn io_err(e: impl std::fmt::Display) -> Err {
    StorageIOError::write_logs(&std::io::Error::other(e.to_string())).into()
}

fn read_err(e: impl std::fmt::Display) -> Err {
    StorageIOError::read_logs(&std::io::Error::other(e.to_string())).into()
}

/// Writes `value` as JSON to `dir/name` (temporary file, fsync, rename).
fn write_json<T: serde::Serialize>(dir: &Path, name: &str, value: &T) -> std::io::Result<()> {
    let bytes = serde_json::to_vec(value).map_err(std::io::Error::other)?;
    weir_storage::durable::write_atomic(&dir.join(name), &bytes)
}

fn read_json<T: serde::de::DeserializeOwned>(dir: &Path, name: &str) -> std::io::Result<Option<T>> {
    match fs::read(dir.join(name)) {
        Ok(b) => serde_json::from_slice(&b)
            .map(Some)
            .map_err(std::io::Error::other),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

impl LogStore {
    /// Opens (creating) the metadata log under `data_dir` and recovers it.
    pub(crate) fn open(data_dir: &Path, now_ms: i64) -> Result<Self, weir_storage::StorageError> {
        let dir = data_dir.join(METADATA_DIR);
        let config = LogConfig {
            segment_bytes: 64 * 1024 * 1024,
            ..LogConfig::default()
        };
        let log = Log::open(&dir, config, now_ms)?;
        let last_purged = read_json(&dir, PURGED_FILE).unwrap_or(None);
        Ok(Self {
            inner: Arc::new(Mutex::new(Inner {
                log,
                dir,
                last_purged,
            })),
        })
    }

    /// Flushes and closes the log (clean shutdown).
    pub(crate) async fn flush(&self) -> Result<(), weir_storage::StorageError> {
        self.inner.lock().await.log.flush()
    }
}

/// Entries at indexes `start..end` (end exclusive) read from `log`.
// The error type is openraft's, fixed by the trait this serves.
#[allow(clippy::result_large_err)]
fn read_entries(log: &Log, start: u64, end: u64) -> Result<Vec<Entry<TypeConfig>>, Err> {
    let end = end.min(u64::try_from(log.log_end_offset()).unwrap_or(0));
    let mut out = Vec::new();
    let mut offset = i64::try_from(start).map_err(read_err)?;
    let end = i64::try_from(end).map_err(read_err)?;
    while offset < end {
        let chunk = log.read(offset, 1 << 20, end, true).map_err(read_err)?;
        if chunk.bytes.is_empty() {
            break;
        }
        for batch in Batches::new(chunk.bytes.clone()) {
            let batch = batch.map_err(read_err)?;
            let last = batch.last_offset();
            if batch.base_offset() >= offset {
                for r in batch.records(MAX_ENTRY_BYTES).map_err(read_err)? {
                    let value = r.value.unwrap_or_default();
                    let entry: Entry<TypeConfig> =
                        serde_json::from_slice(&value).map_err(read_err)?;
                    out.push(entry);
                }
            }
            offset = last + 1;
        }
        offset = offset.max(chunk.next_offset);
    }
    Ok(out)
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + std::fmt::Debug + Send>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry<TypeConfig>>, Err> {
        let start = match range.start_bound() {
            Bound::Included(&s) => s,
            Bound::Excluded(&s) => s + 1,
            Bound::Unbounded => 0,
        };
        let end = match range.end_bound() {
            Bound::Included(&e) => e + 1,
            Bound::Excluded(&e) => e,
            Bound::Unbounded => u64::MAX,
        };
        let inner = self.inner.lock().await;
        read_entries(&inner.log, start, end)
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = Self;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, Err> {
        let inner = self.inner.lock().await;
        let end = u64::try_from(inner.log.log_end_offset()).unwrap_or(0);
        let start = u64::try_from(inner.log.log_start_offset()).unwrap_or(0);
        let last = if end > start {
            read_entries(&inner.log, end - 1, end)?
                .pop()
                .map(|e| e.log_id)
        } else {
            None
        };
        Ok(LogState {
            last_purged_log_id: inner.last_purged,
            last_log_id: last.or(inner.last_purged),
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote<u64>) -> Result<(), Err> {
        let inner = self.inner.lock().await;
        write_json(&inner.dir, VOTE_FILE, vote).map_err(|e| StorageIOError::write_vote(&e).into())
    }

    async fn read_vote(&mut self) -> Result<Option<Vote<u64>>, Err> {
        let inner = self.inner.lock().await;
        read_json(&inner.dir, VOTE_FILE).map_err(|e| StorageIOError::read_vote(&e).into())
    }

    async fn save_committed(&mut self, committed: Option<LogId<u64>>) -> Result<(), Err> {
        let inner = self.inner.lock().await;
        write_json(&inner.dir, COMMITTED_FILE, &committed).map_err(io_err)
    }

    async fn read_committed(&mut self) -> Result<Option<LogId<u64>>, Err> {
        let inner = self.inner.lock().await;
        Ok(read_json(&inner.dir, COMMITTED_FILE)
            .map_err(read_err)?
            .flatten())
    }

    async fn append<I>(&mut self, entries: I, callback: LogFlushed<TypeConfig>) -> Result<(), Err>
    where
        I: IntoIterator<Item = Entry<TypeConfig>> + Send,
        I::IntoIter: Send,
    {
        let mut inner = self.inner.lock().await;
        let now = super::now_ms();
        for entry in entries {
            let index = i64::try_from(entry.log_id.index).map_err(io_err)?;
            let end = inner.log.log_end_offset();
            if index != end {
                return Err(io_err(format!(
                    "metadata log entry {index} does not follow the log end {end}"
                )));
            }
            let value = serde_json::to_vec(&entry).map_err(io_err)?;
            let mut b = BatchBuilder::new(Compression::None, now);
            b.push(None, Some(&value), &[], now).map_err(io_err)?;
            let mut bytes = b.build().map_err(io_err)?.to_vec();
            inner.log.append(&mut bytes, now).map_err(io_err)?;
        }
        let result = inner
            .log
            .flush()
            .map_err(|e| std::io::Error::other(e.to_string()));
        let ok = result.is_ok();
        callback.log_io_completed(result);
        if ok {
            Ok(())
        } else {
            Err(io_err("fsync of the metadata log failed"))
        }
    }

    async fn truncate(&mut self, log_id: LogId<u64>) -> Result<(), Err> {
        let mut inner = self.inner.lock().await;
        let at = i64::try_from(log_id.index).map_err(io_err)?;
        inner.log.truncate_to(at).map_err(io_err)
    }

    async fn purge(&mut self, log_id: LogId<u64>) -> Result<(), Err> {
        let mut inner = self.inner.lock().await;
        write_json(&inner.dir, PURGED_FILE, &Some(log_id)).map_err(io_err)?;
        inner.last_purged = Some(log_id);
        let upto = i64::try_from(log_id.index).map_err(io_err)? + 1;
        if upto >= inner.log.log_end_offset() {
            // Everything is purged (a snapshot replaced it): restart the log after it.
            inner.log.reset_to(upto).map_err(io_err)?;
        } else {
            inner.log.delete_segments_before(upto).map_err(io_err)?;
        }
        Ok(())
    }
}
