//! Opening a partition directory: list the segments, load or rebuild their indexes, and
//! CRC-check every batch from the recovery point on, always including the whole last
//! segment, truncating at the first invalid batch (DESIGN invariant 5).

use std::fs::{self, File};
use std::path::Path;
use std::sync::Arc;

use weir_protocol::record::batch::{BatchHeader, HEADER_LEN};

use crate::checkpoint::{self, Checkpoint};
use crate::config::LogConfig;
use crate::dirs::{classify, segment_path, FileKind, INDEX_SUFFIX, LOG_SUFFIX, TIME_INDEX_SUFFIX};
use crate::durable::remove_if_exists;
use crate::error::{IoContext, StorageError};
use crate::index::{max_entries, OffsetIndex, TimeIndex, OFFSET_ENTRY_LEN, TIME_ENTRY_LEN};
use crate::segment::Segment;

/// Bytes read at once while scanning a segment.
const SCAN_CHUNK: usize = 1 << 20;

/// What recovery found and did when the log was opened.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RecoveryInfo {
    /// The previous run closed the log cleanly.
    pub clean_shutdown: bool,
    /// Segments whose batches were all read and CRC-checked.
    pub segments_scanned: usize,
    /// Segments below the recovery point whose index files had to be rebuilt.
    pub indexes_rebuilt: usize,
    /// Bytes cut off the end of a segment because they were not valid batches.
    pub bytes_truncated: u64,
    /// Segment files deleted because they followed invalid data.
    pub segments_deleted: usize,
}

/// A segment whose files were written but not yet fsynced.
#[derive(Debug)]
pub(crate) struct Unsynced {
    /// Base offset of the segment.
    pub(crate) base_offset: i64,
    /// One past its last offset: syncing it makes everything below durable.
    pub(crate) end_offset: i64,
    /// Its log and index files.
    pub(crate) files: Vec<Arc<File>>,
}

/// The state recovery hands to the log.
#[derive(Debug)]
pub(crate) struct Recovered {
    pub(crate) segments: Vec<Segment>,
    pub(crate) log_start_offset: i64,
    pub(crate) recovery_point: i64,
    pub(crate) unsynced: Vec<Unsynced>,
    /// Base offsets of segments created but whose directory entry is not yet fsynced.
    pub(crate) unsynced_creations: Vec<i64>,
    pub(crate) info: RecoveryInfo,
    /// The checkpoint on disk disagrees with the recovered state.
    pub(crate) checkpoint_stale: bool,
    /// The cleaner checkpoint's mark: gaps between batches are accepted below it.
    pub(crate) cleaned_upto: i64,
}

/// Recovers the log in the existing directory `dir`.
pub(crate) fn recover(
    dir: &Path,
    config: &LogConfig,
    now_ms: i64,
) -> Result<Recovered, StorageError> {
    let bases = list_segments(dir)?;
    let cp = checkpoint::read(dir)?;
    // Compaction leaves gaps between batches only below what it cleaned.
    let cleaned_upto = crate::cleaner::checkpoint::read(dir).map_or(i64::MIN, |s| s.cleaned_upto);
    let mut info = RecoveryInfo {
        clean_shutdown: cp.is_some_and(|c| c.clean_shutdown),
        ..RecoveryInfo::default()
    };
    if !info.clean_shutdown && !bases.is_empty() {
        tracing::info!(dir = %dir.display(), "log was not closed cleanly; recovering");
    }
    let mut unsynced = Vec::new();
    let mut unsynced_creations = Vec::new();
    let mut segments: Vec<Segment> = Vec::with_capacity(bases.len().max(1));

    // Recovery point: everything below it was fsynced; without a checkpoint, nothing was.
    let first_base = bases.first().copied().unwrap_or(0);
    let recovery_point = cp.map_or(first_base, |c| c.recovery_point);

    let mut i = 0;
    while let Some(&base) = bases.get(i) {
        let next_base = bases.get(i + 1).copied();
        let mut seg = Segment::open(dir, base, now_ms)?;
        let below_recovery_point = next_base.is_some_and(|n| n <= recovery_point);
        if let (true, Some(next)) = (below_recovery_point, next_base) {
            match load_indexes(&seg, dir, next, config, cleaned_upto) {
                Ok((offsets, times)) => {
                    seg.install_loaded(offsets, times, next);
                    segments.push(seg);
                    i += 1;
                    continue;
                }
                Err(reason) => {
                    tracing::warn!(file = %seg.log_path.display(), %reason, "rebuilding segment index");
                    info.indexes_rebuilt += 1;
                }
            }
        }
        let file_len = seg.size;
        let valid = scan_segment(&mut seg, config, cleaned_upto)?;
        info.segments_scanned += 1;
        info.bytes_truncated += file_len - seg.size;
        // Compaction may leave a gap between a segment's last batch and the next segment,
        // in what it cleaned.
        let continuous = valid
            && match next_base {
                None => true,
                Some(n) => n == seg.next_offset || (n > seg.next_offset && n <= cleaned_upto),
            };
        if let (false, Some(next)) = (continuous, next_base) {
            if valid {
                tracing::warn!(
                    file = %seg.log_path.display(), end_offset = seg.next_offset, next_base = next,
                    "segment ends past the start of the next one; dropping the segments after it"
                );
            }
            for &later in bases.get(i + 1..).unwrap_or_default().iter().rev() {
                tracing::warn!(file = %segment_path(dir, later, LOG_SUFFIX).display(), "deleting segment after invalid data");
                Segment::delete_files(dir, later)?;
                info.segments_deleted += 1;
            }
            segments.push(seg);
            break;
        }
        if next_base.is_some() {
            seg.seal();
            let files = write_indexes_best_effort(&seg, dir);
            if below_recovery_point {
                for f in &files {
                    f.sync_data()
                        .ctx(|| format!("syncing index of {}", seg.log_path.display()))?;
                }
            } else {
                let mut files = files;
                files.push(Arc::clone(&seg.file));
                unsynced.push(Unsynced {
                    base_offset: seg.base_offset,
                    end_offset: seg.next_offset,
                    files,
                });
            }
        }
        segments.push(seg);
        i += 1;
    }

    let start_hint = cp.map_or(first_base, |c| c.log_start_offset);
    if segments.is_empty() {
        if cp.is_some_and(|c| c.recovery_point > start_hint) {
            tracing::warn!(dir = %dir.display(), "checkpoint names synced data but no segment exists");
        }
        segments.push(Segment::create(dir, start_hint, now_ms)?);
        unsynced_creations.push(start_hint);
    }
    let first = segments.first().map_or(0, |s| s.base_offset);
    let log_end = segments.last().map_or(0, |s| s.next_offset);
    let log_start_offset = start_hint.max(first).min(log_end);
    if let Some(c) = cp.filter(|c| c.recovery_point > log_end) {
        tracing::error!(
            dir = %dir.display(), recovery_point = c.recovery_point, log_end,
            "data below the recovery point was lost or invalid"
        );
    }
    let recovered_point = recovery_point.clamp(log_start_offset, log_end);
    let checkpoint_stale = match cp {
        None => false,
        Some(c) => {
            c.clean_shutdown
                || c.recovery_point != recovered_point
                || c.log_start_offset != log_start_offset
        }
    };
    Ok(Recovered {
        segments,
        log_start_offset,
        recovery_point: recovered_point,
        unsynced,
        unsynced_creations,
        info,
        checkpoint_stale,
        cleaned_upto,
    })
}

/// Base offsets of the segment files in `dir`, ascending; removes leftover temporary files
/// and index files without a segment.
fn list_segments(dir: &Path) -> Result<Vec<i64>, StorageError> {
    let mut logs = Vec::new();
    let mut indexes = Vec::new();
    let entries = fs::read_dir(dir).ctx(|| format!("listing {}", dir.display()))?;
    for entry in entries {
        let entry = entry.ctx(|| format!("listing {}", dir.display()))?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        match classify(name) {
            FileKind::Log(base) => logs.push(base),
            FileKind::Index(base) | FileKind::TimeIndex(base) | FileKind::TxnIndex(base) => {
                indexes.push((base, entry.path()))
            }
            FileKind::Tmp => remove_if_exists(&entry.path())?,
            FileKind::Checkpoint | FileKind::Other => {}
        }
    }
    logs.sort_unstable();
    for (base, path) in indexes {
        if logs.binary_search(&base).is_err() {
            tracing::warn!(file = %path.display(), "deleting index without a segment");
            remove_if_exists(&path)?;
        }
    }
    Ok(logs)
}

/// Loads and checks the index files of a segment that ends at `next_base`.
fn load_indexes(
    seg: &Segment,
    dir: &Path,
    next_base: i64,
    config: &LogConfig,
    cleaned_upto: i64,
) -> Result<(OffsetIndex, TimeIndex), String> {
    let end_relative = u64::try_from(next_base - seg.base_offset)
        .ok()
        .filter(|&n| n > 0 && n <= i32::MAX as u64 + 1)
        .ok_or_else(|| format!("next segment base {next_base} does not follow"))?;
    if seg.size == 0 {
        // Compaction keeps the log's first segment even when nothing in it survived.
        if next_base <= cleaned_upto {
            return Ok((OffsetIndex::default(), TimeIndex::default()));
        }
        return Err("segment is empty but not the last one".to_owned());
    }
    let max = max_entries(seg.size);
    let read = |suffix: &str, entry_len: usize| -> Result<Vec<u8>, String> {
        let path = segment_path(dir, seg.base_offset, suffix);
        let len = fs::metadata(&path)
            .map_err(|e| format!("{}: {e}", path.display()))?
            .len();
        if len > max * entry_len as u64 {
            return Err(format!(
                "{} has {len} bytes, too many entries",
                path.display()
            ));
        }
        fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))
    };
    let offsets = OffsetIndex::decode(
        &read(INDEX_SUFFIX, OFFSET_ENTRY_LEN)?,
        seg.size,
        end_relative,
    )?;
    let times = TimeIndex::decode(&read(TIME_INDEX_SUFFIX, TIME_ENTRY_LEN)?, end_relative)?;
    // The first batch and the last indexed batch must be where the index says.
    let first = seg
        .header_at(0, config.max_batch_bytes)
        .map_err(|e| e.to_string())?;
    let expected_first = first.header.base_offset == seg.base_offset
        || (first.header.base_offset > seg.base_offset && first.header.base_offset <= cleaned_upto);
    if !expected_first || first.header.base_offset >= next_base {
        return Err(format!(
            "first batch has base offset {}",
            first.header.base_offset
        ));
    }
    if let Some(e) = offsets.last() {
        let b = seg
            .header_at(u64::from(e.position), config.max_batch_bytes)
            .map_err(|e| e.to_string())?;
        if b.header.base_offset != seg.base_offset + i64::from(e.relative_offset) {
            return Err(format!(
                "index entry {e:?} points at base offset {}",
                b.header.base_offset
            ));
        }
    }
    Ok((offsets, times))
}

/// Writes a segment's index files; on failure removes them (the next open rebuilds them)
/// and returns no handles.
pub(crate) fn write_indexes_best_effort(seg: &Segment, dir: &Path) -> Vec<Arc<File>> {
    match seg.write_index_files(dir) {
        Ok(files) => files.into(),
        Err(e) => {
            tracing::warn!(file = %seg.log_path.display(), error = %e, "could not write index files");
            if let Err(e) = Segment::remove_index_files(dir, seg.base_offset) {
                tracing::warn!(error = %e, "could not remove index files");
            }
            Vec::new()
        }
    }
}

/// Reads every batch of `seg` from the start, checking length, magic, CRC and offsets and
/// rebuilding its indexes; cuts the file at the first invalid batch. Offsets must follow
/// each other except for gaps that end at or below `cleaned_upto` (compaction's). Returns
/// whether the whole file was valid.
pub(crate) fn scan_segment(
    seg: &mut Segment,
    config: &LogConfig,
    cleaned_upto: i64,
) -> Result<bool, StorageError> {
    let file_len = seg.size;
    seg.reset_for_scan();
    let mut window = Window::default();
    let invalid = loop {
        let position = seg.size;
        if position >= file_len {
            break None;
        }
        let remaining = file_len - position;
        if remaining < HEADER_LEN as u64 {
            break Some(format!(
                "{remaining} trailing bytes, less than a batch header"
            ));
        }
        let head = window.get(seg, position, HEADER_LEN, file_len)?;
        let h = match BatchHeader::parse(head) {
            Ok(h) => h,
            Err(e) => break Some(e.to_string()),
        };
        if h.magic != 2 {
            break Some(format!("magic {}", h.magic));
        }
        let total = match h.checked_total_len(config.max_batch_bytes) {
            Ok(t) => t,
            Err(e) => break Some(e.to_string()),
        };
        if total as u64 > remaining {
            break Some(format!("batch of {total} bytes truncated to {remaining}"));
        }
        let bytes = window.get(seg, position, total, file_len)?;
        let h = match BatchHeader::validate(bytes, config.max_batch_bytes) {
            Ok(h) => h,
            Err(e) => break Some(e.to_string()),
        };
        // Offsets follow each other; compaction leaves gaps where it removed whole batches.
        let follows = h.base_offset == seg.next_offset
            || (h.base_offset > seg.next_offset && h.base_offset <= cleaned_upto);
        if !follows {
            break Some(format!(
                "base offset {} where {} was expected",
                h.base_offset, seg.next_offset
            ));
        }
        if seg.relative(h.last_offset()).is_none() {
            break Some(format!(
                "last offset {} too far from the segment base",
                h.last_offset()
            ));
        }
        seg.track_batch(&h, total as u64, config.index_interval_bytes);
    };
    let Some(reason) = invalid else {
        return Ok(true);
    };
    tracing::warn!(
        file = %seg.log_path.display(),
        offset = seg.next_offset,
        position = seg.size,
        %reason,
        "invalid batch; truncating the segment here"
    );
    seg.cut_to_size()
        .ctx(|| format!("truncating {}", seg.log_path.display()))?;
    Ok(false)
}

/// A read-ahead buffer over a segment file for sequential scanning.
#[derive(Default)]
pub(crate) struct Window {
    start: u64,
    buf: Vec<u8>,
}

impl Window {
    /// The `len` bytes at `position` (the caller checked they lie within `file_len`).
    pub(crate) fn get(
        &mut self,
        seg: &Segment,
        position: u64,
        len: usize,
        file_len: u64,
    ) -> Result<&[u8], StorageError> {
        let have =
            position >= self.start && position + len as u64 <= self.start + self.buf.len() as u64;
        if !have {
            let want = (len.max(SCAN_CHUNK) as u64).min(file_len - position) as usize;
            self.buf.resize(want, 0);
            self.start = position;
            std::os::unix::fs::FileExt::read_exact_at(&*seg.file, &mut self.buf, position)
                .ctx(|| format!("reading {} at {position}", seg.log_path.display()))?;
        }
        let from = (position - self.start) as usize;
        self.buf
            .get(from..from + len)
            .ok_or_else(|| StorageError::Corrupt(format!("scan window miss at {position}")))
    }
}

/// Writes the checkpoint for a recovered or running log.
pub(crate) fn write_checkpoint(
    dir: &Path,
    recovery_point: i64,
    log_start_offset: i64,
    clean_shutdown: bool,
) -> Result<(), StorageError> {
    checkpoint::write(
        dir,
        &Checkpoint {
            recovery_point,
            log_start_offset,
            clean_shutdown,
        },
    )
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;
    use crate::test_batch::TestBatch;

    #[test]
    fn scan_crosses_read_chunks_and_stops_at_garbage() {
        let tmp = tempfile::tempdir().unwrap();
        let path = segment_path(tmp.path(), 10, LOG_SUFFIX);
        let mut f = File::create(&path).unwrap();
        let mut next = 10;
        let mut ends = Vec::new();
        // Batches of ~300 KiB, so several straddle the 1 MiB read window.
        for i in 0..8 {
            let tb = TestBatch::new(2, 50 + i, 300_000 + i as usize * 1_000);
            let bytes = tb.encode(next);
            f.write_all(&bytes).unwrap();
            next += 2;
            ends.push(f.metadata().unwrap().len());
        }
        f.write_all(&[0u8; 70]).unwrap();
        drop(f);
        let config = LogConfig {
            index_interval_bytes: 0,
            ..LogConfig::default()
        };
        let mut seg = Segment::open(tmp.path(), 10, 0).unwrap();
        assert!(!scan_segment(&mut seg, &config, i64::MIN).unwrap());
        assert_eq!(seg.next_offset, next);
        assert_eq!(seg.size, *ends.last().unwrap());
        assert_eq!(fs::metadata(&path).unwrap().len(), seg.size);
        assert_eq!(seg.offset_index.len(), 7);
        assert_eq!(seg.max_timestamp, 57);

        // A batch larger than max_batch_bytes is invalid: the scan stops before it.
        let mut seg = Segment::open(tmp.path(), 10, 0).unwrap();
        let small = LogConfig {
            max_batch_bytes: (ends[3] - ends[2]) as usize,
            ..LogConfig::default()
        };
        assert!(!scan_segment(&mut seg, &small, i64::MIN).unwrap());
        assert_eq!(seg.size, ends[3]);
    }
}
