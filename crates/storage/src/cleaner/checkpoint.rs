//! The cleaner's checkpoint: how far a partition's log has been compacted, and when each
//! pass ran (so a tombstone lives `delete.retention.ms` after the pass that first cleaned
//! it, whatever its own timestamp). `cleaner.checkpoint` in the partition directory,
//! replaced atomically (write, fsync, rename). Layout (big-endian): version u8 = 2,
//! cleaned-up-to offset i64, pass count u16, per pass its end offset i64 and time i64, then
//! the CRC32C of all of it. A missing or damaged file means nothing was cleaned yet.

use std::fs;
use std::path::Path;

use crate::error::{IoContext, StorageError};

/// Name of the file in the partition directory.
pub(crate) const FILE: &str = "cleaner.checkpoint";
const VERSION: u8 = 2;
/// Passes remembered; older ones are forgotten, which only keeps tombstones longer.
const MAX_PASSES: usize = 256;

/// What the cleaner has done to a partition.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct CleanerState {
    /// The log is compacted below this offset.
    pub(crate) cleaned_upto: i64,
    /// (end offset, time in ms) of each remembered pass, oldest first.
    pub(crate) passes: Vec<(i64, i64)>,
}

impl CleanerState {
    /// When offset `o` was first cleaned: the first remembered pass that reached past it.
    pub(crate) fn first_cleaned_ms(&self, o: i64) -> Option<i64> {
        self.passes
            .iter()
            .find(|(end, _)| *end > o)
            .map(|(_, t)| *t)
    }

    /// The state after a pass that cleaned below `upto` at `now_ms`.
    pub(crate) fn after_pass(&self, upto: i64, now_ms: i64) -> Self {
        let mut passes = self.passes.clone();
        passes.push((upto, now_ms));
        let excess = passes.len().saturating_sub(MAX_PASSES);
        passes.drain(..excess);
        Self {
            cleaned_upto: self.cleaned_upto.max(upto),
            passes,
        }
    }
}

/// The recorded state, if any.
pub(crate) fn read(dir: &Path) -> Option<CleanerState> {
    let path = dir.join(FILE);
    // Bounded before reading: version, mark, count, the passes and the CRC at most.
    let most = 1 + 8 + 2 + MAX_PASSES * 16 + 4;
    if usize::try_from(fs::metadata(&path).ok()?.len()).ok()? > most {
        return None;
    }
    let b = fs::read(&path).ok()?;
    let (body, crc) = b.split_last_chunk::<4>()?;
    if crc32c::crc32c(body) != u32::from_be_bytes(*crc) {
        return None;
    }
    let (&version, rest) = body.split_first()?;
    if version != VERSION {
        return None;
    }
    let (upto, rest) = rest.split_first_chunk::<8>()?;
    let (n, mut rest) = rest.split_first_chunk::<2>()?;
    let n = usize::from(u16::from_be_bytes(*n));
    if n > MAX_PASSES || rest.len() != n * 16 {
        return None;
    }
    let mut passes = Vec::with_capacity(n);
    for _ in 0..n {
        let (end, r) = rest.split_first_chunk::<8>()?;
        let (time, r) = r.split_first_chunk::<8>()?;
        passes.push((i64::from_be_bytes(*end), i64::from_be_bytes(*time)));
        rest = r;
    }
    Some(CleanerState {
        cleaned_upto: i64::from_be_bytes(*upto),
        passes,
    })
}

/// Records `state` (write, fsync, rename).
pub(crate) fn write(dir: &Path, state: &CleanerState) -> Result<(), StorageError> {
    let mut b = vec![VERSION];
    b.extend_from_slice(&state.cleaned_upto.to_be_bytes());
    let n = state.passes.len().min(MAX_PASSES);
    b.extend_from_slice(&u16::try_from(n).unwrap_or(u16::MAX).to_be_bytes());
    for (end, time) in state.passes.iter().skip(state.passes.len() - n) {
        b.extend_from_slice(&end.to_be_bytes());
        b.extend_from_slice(&time.to_be_bytes());
    }
    let crc = crc32c::crc32c(&b);
    b.extend_from_slice(&crc.to_be_bytes());
    let path = dir.join(FILE);
    crate::durable::write_atomic(&path, &b).ctx(|| format!("writing {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_history_and_damage() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(read(dir.path()), None);
        let s = CleanerState::default()
            .after_pass(100, 5)
            .after_pass(250, 9);
        write(dir.path(), &s).unwrap();
        let back = read(dir.path()).unwrap();
        assert_eq!(back, s);
        assert_eq!(back.cleaned_upto, 250);
        assert_eq!(
            (back.first_cleaned_ms(10), back.first_cleaned_ms(100)),
            (Some(5), Some(9))
        );
        assert_eq!(back.first_cleaned_ms(250), None);
        let mut many = CleanerState::default();
        for i in 0..300 {
            many = many.after_pass(i * 10 + 10, i);
        }
        assert_eq!(many.passes.len(), MAX_PASSES);
        assert_eq!(
            many.first_cleaned_ms(0),
            Some(44),
            "older passes forgotten: later time"
        );
        let p = dir.path().join(FILE);
        let mut b = fs::read(&p).unwrap();
        b[3] ^= 1;
        fs::write(&p, b).unwrap();
        assert_eq!(read(dir.path()), None);
    }
}
