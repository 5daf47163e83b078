//! Producer-state snapshot files: `<offset, 20 digits>.snapshot` in the partition directory
//! holds the [`ProducerState`] as of that offset, so opening the log scans only what came
//! after. Layout (big-endian): version u16 = 1, offset i64, producer count u32, then per
//! producer: id i64, epoch i16, coordinator epoch i32, open transaction's first offset i64
//! (-1: none), last timestamp i64, batch count u8, and per batch first_seq i32, last_seq i32,
//! base_offset i64, last_offset i64, max_timestamp i64; then the CRC32C of all of it (u32).
//! Every count is bounded before use; a file that does not check out is ignored.
//!
//! Snapshots are written without an fsync: one is only trusted at or below the log's
//! recovery point, and a torn one fails its CRC and is passed over for an older one.

use std::fs;
use std::path::{Path, PathBuf};

use super::{BatchMeta, ProducerEntry, ProducerState, CACHED_BATCHES};
use crate::error::{IoContext, StorageError};

const SUFFIX: &str = ".snapshot";
const VERSION: u16 = 1;
/// How many snapshots to keep: the newest and the one before it.
const KEEP: usize = 2;

fn path_of(dir: &Path, offset: i64) -> PathBuf {
    dir.join(format!("{offset:020}{SUFFIX}"))
}

/// The snapshot files of `dir` by offset, oldest first.
fn list(dir: &Path) -> Vec<(i64, PathBuf)> {
    let mut out: Vec<(i64, PathBuf)> = fs::read_dir(dir)
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter_map(|p| {
            let name = p.file_name()?.to_str()?;
            let offset = name.strip_suffix(SUFFIX)?.parse::<i64>().ok()?;
            Some((offset, p))
        })
        .collect();
    out.sort();
    out
}

/// Writes the state as of `offset` (to a temporary file, then renamed into place), then
/// removes all but the newest snapshots.
pub(crate) fn write(dir: &Path, offset: i64, state: &ProducerState) -> Result<(), StorageError> {
    let mut buf = Vec::with_capacity(16 + state.len() * 64);
    buf.extend_from_slice(&VERSION.to_be_bytes());
    buf.extend_from_slice(&offset.to_be_bytes());
    let count = u32::try_from(state.len()).unwrap_or(u32::MAX);
    buf.extend_from_slice(&count.to_be_bytes());
    for (id, e) in state.entries().take(count as usize) {
        buf.extend_from_slice(&id.to_be_bytes());
        buf.extend_from_slice(&e.epoch.to_be_bytes());
        buf.extend_from_slice(&e.coordinator_epoch.to_be_bytes());
        buf.extend_from_slice(&e.txn_first_offset.unwrap_or(-1).to_be_bytes());
        buf.extend_from_slice(&e.last_timestamp.to_be_bytes());
        let n = e.batches.len().min(CACHED_BATCHES);
        buf.push(n as u8);
        for b in e.batches.iter().take(n) {
            buf.extend_from_slice(&b.first_seq.to_be_bytes());
            buf.extend_from_slice(&b.last_seq.to_be_bytes());
            buf.extend_from_slice(&b.base_offset.to_be_bytes());
            buf.extend_from_slice(&b.last_offset.to_be_bytes());
            buf.extend_from_slice(&b.max_timestamp.to_be_bytes());
        }
    }
    let crc = crc32c::crc32c(&buf);
    buf.extend_from_slice(&crc.to_be_bytes());
    let path = path_of(dir, offset);
    crate::durable::write_atomic(&path, &buf).ctx(|| format!("writing {}", path.display()))?;
    let all = list(dir);
    for (_, old) in all.iter().take(all.len().saturating_sub(KEEP)) {
        let _ = crate::durable::remove_file(old);
    }
    Ok(())
}

/// Removes snapshots above `offset` (the log no longer reaches them).
pub(crate) fn remove_above(dir: &Path, offset: i64) {
    for (o, p) in list(dir) {
        if o > offset {
            let _ = crate::durable::remove_file(&p);
        }
    }
}

/// The newest readable snapshot at an offset in `start..=end`, with that offset.
pub(crate) fn load(dir: &Path, start: i64, end: i64) -> Option<(i64, ProducerState)> {
    for (offset, path) in list(dir).into_iter().rev() {
        if offset < start || offset > end {
            continue;
        }
        match fs::read(&path).ok().and_then(|b| parse(&b)) {
            Some((o, state)) if o == offset => return Some((o, state)),
            _ => tracing::warn!(file = %path.display(), "ignoring unreadable producer snapshot"),
        }
    }
    None
}

struct Cursor<'a>(&'a [u8]);

impl Cursor<'_> {
    fn take<const N: usize>(&mut self) -> Option<[u8; N]> {
        let (head, rest) = self.0.split_first_chunk::<N>()?;
        self.0 = rest;
        Some(*head)
    }
}

fn parse(bytes: &[u8]) -> Option<(i64, ProducerState)> {
    let (body, crc) = bytes.split_last_chunk::<4>()?;
    if crc32c::crc32c(body) != u32::from_be_bytes(*crc) {
        return None;
    }
    let mut c = Cursor(body);
    if u16::from_be_bytes(c.take()?) != VERSION {
        return None;
    }
    let offset = i64::from_be_bytes(c.take()?);
    let count = u32::from_be_bytes(c.take()?) as usize;
    // Each producer takes at least 31 bytes: a count beyond that is corrupt.
    if count > body.len() / 31 {
        return None;
    }
    let mut state = ProducerState::new();
    for _ in 0..count {
        let id = i64::from_be_bytes(c.take()?);
        let epoch = i16::from_be_bytes(c.take()?);
        let coordinator_epoch = i32::from_be_bytes(c.take()?);
        let txn_first_offset = Some(i64::from_be_bytes(c.take()?)).filter(|&o| o >= 0);
        let last_timestamp = i64::from_be_bytes(c.take()?);
        let n = usize::from(c.take::<1>()?[0]);
        if n > CACHED_BATCHES {
            return None;
        }
        let mut entry = ProducerEntry {
            epoch,
            coordinator_epoch,
            txn_first_offset,
            last_timestamp,
            batches: Default::default(),
        };
        for _ in 0..n {
            entry.batches.push_back(BatchMeta {
                first_seq: i32::from_be_bytes(c.take()?),
                last_seq: i32::from_be_bytes(c.take()?),
                base_offset: i64::from_be_bytes(c.take()?),
                last_offset: i64::from_be_bytes(c.take()?),
                max_timestamp: i64::from_be_bytes(c.take()?),
            });
        }
        state.insert(id, entry);
    }
    c.0.is_empty().then_some((offset, state))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::producer::tests::header;

    fn state() -> ProducerState {
        let mut s = ProducerState::new();
        for pid in 0..3 {
            for seq in 0..7 {
                let mut h = header(pid, 1, seq, 1);
                h.max_timestamp = 5;
                if pid == 2 {
                    h.attributes |= 0x10; // transactional: one stays open
                }
                s.update(&h, i64::from(seq), i64::from(seq));
            }
        }
        s
    }

    #[test]
    fn snapshots_round_trip_and_bad_ones_are_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let s = state();
        write(dir.path(), 10, &s).unwrap();
        write(dir.path(), 20, &s).unwrap();
        write(dir.path(), 30, &s).unwrap();
        assert_eq!(list(dir.path()).len(), KEEP);
        assert_eq!(load(dir.path(), 0, 100), Some((30, s.clone())));
        assert_eq!(s.first_undecided_offset(), Some(0));
        // Above the log end: skipped for the one before.
        assert_eq!(load(dir.path(), 0, 25).map(|(o, _)| o), Some(20));
        // Corrupt: skipped.
        let p = path_of(dir.path(), 30);
        let mut b = fs::read(&p).unwrap();
        b[12] ^= 1;
        fs::write(&p, &b).unwrap();
        assert_eq!(load(dir.path(), 0, 100).map(|(o, _)| o), Some(20));
        for cut in 0..b.len() {
            assert!(parse(&b[..cut]).is_none());
        }
        remove_above(dir.path(), 25);
        assert_eq!(list(dir.path()).len(), 1);
    }
}
