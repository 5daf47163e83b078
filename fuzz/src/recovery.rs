//! `segment_recovery`: a log written by `weir_storage::Log`, its last segment damaged at a
//! chosen position, reopened. Recovery must keep exactly the valid batches before the first
//! invalid one, and the log must accept appends afterwards.
//!
//! Input layout:
//! - byte 0: bits 0-2 give the number of batches minus one (1..=8); bits 3-5 the
//!   compression of the batches (0 none, 1 gzip, 2 snappy, 3 lz4, 4 zstd, else none).
//! - byte 1: bit 0 closes the log cleanly before the damage (else it is dropped, like a
//!   crash); bit 1 uses 512-byte segments indexing every batch (several segments); bits 2-3 choose the damage
//!   (0 overwrite, 1 insert, 2 and 3 truncate then append); bit 4 patches the CRC of any
//!   batch the damaged bytes delimit (or of the checkpoint), so forged batches with valid
//!   CRCs reach recovery; bits 5-6 choose the file (0 the last segment's `.log`, 1 the first
//!   segment's `.index`, 2 its `.timeindex`, 3 `log.checkpoint`).
//! - bytes 2-3: the damage position (little-endian, modulo the segment length plus one;
//!   0xffff is the end of the segment).
//! - the rest: the bytes written at that position.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use bytes::Bytes;
use weir_protocol::record::batch::{BatchHeader, HEADER_LEN};
use weir_protocol::record::{BatchBuilder, Batches, Compression};
use weir_storage::{Log, LogConfig};

use crate::batch::fix_crcs;

/// Length of `log.checkpoint` (magic, version, flags, two offsets, CRC32C).
const CHECKPOINT_LEN: usize = 26;

/// Every clock reading the harness passes to the log.
const NOW_MS: i64 = 1_700_000_000_000;

/// How the fuzz bytes are applied to the segment file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Damage {
    /// Replace the bytes at the position (the file grows if they run past its end).
    Overwrite,
    /// Insert the bytes at the position.
    Insert,
    /// Cut the file at the position and append the bytes.
    TruncateAppend,
}

/// Which file of the log directory is damaged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// The last segment's `.log`: recovery cuts it at the first invalid batch.
    LastLog,
    /// The first segment's `.index`: loaded (if the segment is below the recovery point)
    /// or rebuilt; no data may be lost.
    FirstIndex,
    /// The first segment's `.timeindex`: likewise.
    FirstTimeIndex,
    /// `log.checkpoint`: ignored if unreadable; the log end may not depend on it.
    Checkpoint,
}

/// One decoded `segment_recovery` input.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Batches appended before the damage (1..=8).
    pub batches: usize,
    /// Their compression.
    pub compression: Compression,
    /// Close the log cleanly (else drop it).
    pub close_cleanly: bool,
    /// Use 512-byte segments that index every batch.
    pub small_segments: bool,
    /// How the bytes are applied.
    pub damage: Damage,
    /// Patch CRCs of batches delimited in the damaged region, or of the checkpoint.
    pub fix_crc: bool,
    /// The file damaged.
    pub target: Target,
    /// Raw position, taken modulo the segment length plus one (`u16::MAX`: the end).
    pub position: u16,
    /// The bytes applied.
    pub bytes: Vec<u8>,
}

impl Plan {
    /// Decodes a fuzz input; `None` if it is shorter than the 4-byte preamble.
    pub fn parse(data: &[u8]) -> Option<Plan> {
        let (&[a, b, p0, p1], bytes) = data.split_first_chunk::<4>()?;
        let compression = match (a >> 3) & 7 {
            1 => Compression::Gzip,
            2 => Compression::Snappy,
            3 => Compression::Lz4,
            4 => Compression::Zstd,
            _ => Compression::None,
        };
        Some(Plan {
            batches: usize::from(a & 7) + 1,
            compression,
            close_cleanly: b & 1 != 0,
            small_segments: b & 2 != 0,
            damage: match (b >> 2) & 3 {
                0 => Damage::Overwrite,
                1 => Damage::Insert,
                _ => Damage::TruncateAppend,
            },
            fix_crc: b & 16 != 0,
            target: match (b >> 5) & 3 {
                0 => Target::LastLog,
                1 => Target::FirstIndex,
                2 => Target::FirstTimeIndex,
                _ => Target::Checkpoint,
            },
            position: u16::from_le_bytes([p0, p1]),
            bytes: bytes.to_vec(),
        })
    }
}

/// Valid batch `i` of the original log, as a producer would send it.
pub fn original_batch(i: usize, compression: Compression) -> Vec<u8> {
    let ts = 1_000 + i as i64;
    let mut b = BatchBuilder::new(compression, ts);
    for r in 0..(i % 3) + 1 {
        let key = format!("k{i}-{r}");
        let value = vec![b'a' + (i % 26) as u8; 10 * i + r];
        let pushed = b.push(
            Some(key.as_bytes()),
            Some(&value),
            &[("h", Some(b"v".as_slice()))],
            ts + r as i64,
        );
        if let Err(e) = pushed {
            panic!("building original batch {i}: {e}");
        }
    }
    match b.build() {
        Ok(bytes) => bytes.to_vec(),
        Err(e) => panic!("building original batch {i}: {e}"),
    }
}

fn config(plan: &Plan) -> LogConfig {
    LogConfig {
        segment_bytes: if plan.small_segments {
            512
        } else {
            LogConfig::default().segment_bytes
        },
        // Small segments index every batch, so a damaged index has middle entries.
        index_interval_bytes: if plan.small_segments { 0 } else { 64 },
        ..LogConfig::default()
    }
}

fn open(dir: &Path, config: &LogConfig) -> Log {
    match Log::open(dir, config.clone(), NOW_MS) {
        Ok(log) => log,
        Err(e) => panic!("Log::open failed: {e}"),
    }
}

/// The `.log` files of `dir` in offset order, with their base offsets.
fn segment_files(dir: &Path) -> Vec<(i64, PathBuf)> {
    let mut out: Vec<(i64, PathBuf)> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("listing the log directory: {e}"))
        .filter_map(|entry| {
            let path = entry.ok()?.path();
            let stem = path.file_name()?.to_str()?.strip_suffix(".log")?;
            Some((stem.parse().ok()?, path))
        })
        .collect();
    out.sort();
    out
}

/// What recovery should keep of a last segment holding `bytes` and starting at `base`:
/// the byte length and end offset of its valid prefix (CRC-valid batches with dense
/// offsets, as `scan_segment` defines them).
pub fn model_valid_prefix(bytes: &[u8], base: i64, max_batch: usize) -> (usize, i64) {
    let (mut pos, mut next) = (0usize, base);
    while let Some(rest) = bytes.get(pos..).filter(|r| r.len() >= HEADER_LEN) {
        let Ok(h) = BatchHeader::validate(rest, max_batch) else {
            break;
        };
        // The base offset first: last_offset() adds to it unchecked.
        if h.base_offset != next || h.last_offset() - base > i64::from(i32::MAX) {
            break;
        }
        pos += h.total_len();
        next = h.last_offset() + 1;
    }
    (pos, next)
}

/// The damaged copy of `original` and the position the damage starts at.
fn damage(original: &[u8], plan: &Plan) -> (Vec<u8>, usize) {
    let position = match plan.position {
        u16::MAX => original.len(),
        p => usize::from(p) % (original.len() + 1),
    };
    let mut damaged = original[..position].to_vec();
    let mut tail = plan.bytes.clone();
    if plan.fix_crc && plan.target == Target::LastLog {
        fix_crcs(&mut tail);
    }
    damaged.extend_from_slice(&tail);
    match plan.damage {
        Damage::Overwrite => {
            damaged.extend_from_slice(original.get(position + tail.len()..).unwrap_or_default());
        }
        Damage::Insert => damaged.extend_from_slice(&original[position..]),
        Damage::TruncateAppend => {}
    }
    if plan.fix_crc && plan.target == Target::Checkpoint && damaged.len() == CHECKPOINT_LEN {
        let crc = crc32c::crc32c(&damaged[..CHECKPOINT_LEN - 4]);
        damaged[CHECKPOINT_LEN - 4..].copy_from_slice(&crc.to_be_bytes());
    }
    (damaged, position)
}

/// Reads every batch from the log start to the log end, concatenated.
fn read_all(log: &Log) -> Vec<u8> {
    let mut out = Vec::new();
    let mut offset = log.log_start_offset();
    while offset < log.log_end_offset() {
        let r = log
            .read(offset, 1 << 20, i64::MAX, true)
            .unwrap_or_else(|e| panic!("reading offset {offset}: {e}"));
        assert!(r.next_offset > offset, "read at {offset} made no progress");
        out.extend_from_slice(&r.bytes);
        offset = r.next_offset;
    }
    assert_eq!(offset, log.log_end_offset());
    out
}

/// Whether damaged index files must leave every read and ListOffsets answer unchanged
/// (environment variable `WEIR_FUZZ_STRICT_INDEXES` set); see `check_recovery`.
fn strict_indexes() -> bool {
    static STRICT: OnceLock<bool> = OnceLock::new();
    *STRICT.get_or_init(|| std::env::var_os("WEIR_FUZZ_STRICT_INDEXES").is_some())
}

/// Reads each offset on its own (as a consumer resuming there would) and checks it returns
/// the batch holding it, exactly as in `expected` (the batches from the log start on). A
/// read may fail instead unless `must_succeed`.
fn check_each_offset(log: &Log, expected: &[u8], must_succeed: bool) {
    for batch in Batches::new(Bytes::copy_from_slice(expected)) {
        let batch = batch.unwrap_or_else(|e| panic!("expected bytes hold an invalid batch: {e}"));
        for offset in batch.base_offset()..=batch.last_offset() {
            if offset < log.log_start_offset() {
                continue;
            }
            let r = match log.read(offset, 1, i64::MAX, true) {
                Ok(r) => r,
                Err(e) if must_succeed => panic!("reading offset {offset}: {e}"),
                Err(_) => continue,
            };
            assert_eq!(&r.bytes, batch.as_bytes(), "batch read at offset {offset}");
            assert_eq!(
                r.next_offset,
                batch.last_offset() + 1,
                "next offset after {offset}"
            );
        }
    }
}

/// ListOffsets answers of `log` for timestamps around those of the original batches.
fn timestamp_answers(log: &Log) -> Vec<String> {
    let mut out: Vec<String> = [-1, 0, 999, i64::MAX]
        .into_iter()
        .chain(1_000..1_012)
        .map(|t| {
            format!(
                "{t}: {:?}",
                log.offset_for_timestamp(t).map_err(|e| e.to_string())
            )
        })
        .collect();
    out.push(format!("max: {:?}", log.max_timestamp()));
    out
}

/// Runs one `segment_recovery` case.
pub fn check_recovery(plan: &Plan) {
    let tmp = tempfile::tempdir().unwrap_or_else(|e| panic!("creating a temp dir: {e}"));
    let dir = tmp.path().join("fuzz-0");
    let config = config(plan);

    // The original log: `plan.batches` valid batches with dense offsets.
    let mut log = open(&dir, &config);
    let mut originals: Vec<(i64, i64, Vec<u8>)> = Vec::new();
    for i in 0..plan.batches {
        let mut batch = original_batch(i, plan.compression);
        let info = log
            .append(&mut batch, NOW_MS)
            .unwrap_or_else(|e| panic!("appending original batch {i}: {e}"));
        assert_eq!(info.last_offset + 1, log.log_end_offset());
        originals.push((info.base_offset, info.last_offset, batch));
    }
    let original_end = log.log_end_offset();
    let answers = timestamp_answers(&log);
    if plan.close_cleanly {
        log.close().unwrap_or_else(|e| panic!("closing: {e}"));
    } else {
        drop(log);
    }

    let segments = segment_files(&dir);
    let (Some((first_base, _)), Some((last_base, last_path))) =
        (segments.first().cloned(), segments.last().cloned())
    else {
        panic!("no segment file after appending");
    };
    let all_original: Vec<u8> = originals.iter().flat_map(|(_, _, b)| b.clone()).collect();
    let path = match plan.target {
        Target::LastLog => last_path,
        Target::FirstIndex => dir.join(format!("{first_base:020}.index")),
        Target::FirstTimeIndex => dir.join(format!("{first_base:020}.timeindex")),
        Target::Checkpoint => dir.join("log.checkpoint"),
    };
    let original = fs::read(&path).unwrap_or_default();
    let (damaged, position) = damage(&original, plan);
    fs::write(&path, &damaged).unwrap_or_else(|e| panic!("writing damage: {e}"));

    let mut log = open(&dir, &config);
    let end = log.log_end_offset();
    if plan.target == Target::LastLog {
        // Expected: earlier segments whole, the last one up to its first invalid batch.
        let earlier_len = all_original.len() - original.len();
        let (valid_len, model_end) =
            model_valid_prefix(&damaged, last_base, config.max_batch_bytes);
        assert_eq!(end, model_end, "log end offset after recovery");
        assert!(
            end <= original_end || valid_len > position,
            "log grew to {end} past {original_end} without valid new batches"
        );
        // Every original batch wholly before the damage is still there, byte for byte.
        let damage_at = earlier_len + position;
        let mut at = 0usize;
        for (base, last, bytes) in &originals {
            at += bytes.len();
            if at > damage_at {
                break;
            }
            assert!(
                *last < end,
                "batch {base}..={last} before the damage was lost"
            );
            let r = log
                .read(*base, bytes.len(), i64::MAX, true)
                .unwrap_or_else(|e| panic!("reading intact batch at {base}: {e}"));
            assert_eq!(
                r.bytes.get(..bytes.len()),
                Some(&bytes[..]),
                "intact batch at {base} changed"
            );
        }
        let mut expected = all_original[..earlier_len].to_vec();
        expected.extend_from_slice(&damaged[..valid_len]);
        assert_eq!(read_all(&log), expected, "recovered bytes");
        check_each_offset(&log, &expected, true);
    } else {
        // No batch was touched: nothing may be lost, whatever the index or checkpoint says.
        assert_eq!(end, original_end, "log end offset after damaging {path:?}");
        let start = log.log_start_offset();
        assert!(
            (0..=end).contains(&start),
            "log start {start} outside 0..={end}"
        );
        let expected: Vec<u8> = originals
            .iter()
            .filter(|(_, last, _)| *last >= start)
            .flat_map(|(_, _, b)| b.clone())
            .collect();
        assert_eq!(
            read_all(&log),
            expected,
            "bytes read after damaging {path:?}"
        );
        // Recovery trusts the index files of segments below the recovery point (as Kafka
        // does) and checks only their first and last entries, so a damaged middle entry
        // may make a read fail. Failing is tolerated unless strict; wrong data never is.
        let strict = strict_indexes();
        check_each_offset(&log, &expected, strict);
        let now = timestamp_answers(&log);
        if strict && start == 0 {
            // Same batches, so the same ListOffsets answers, index damaged or not.
            assert_eq!(now, answers, "after damaging {path:?}");
        }
    }

    // The log accepts an append at its end, and it survives another recovery.
    let mut next = original_batch(plan.batches, Compression::None);
    let info = log
        .append(&mut next, NOW_MS)
        .unwrap_or_else(|e| panic!("appending after recovery: {e}"));
    assert_eq!(info.base_offset, end);
    let new_end = log.log_end_offset();
    assert_eq!(new_end, info.last_offset + 1);
    if plan.close_cleanly {
        log.close().unwrap_or_else(|e| panic!("closing: {e}"));
    } else {
        drop(log);
    }
    let log = open(&dir, &config);
    assert_eq!(
        log.log_end_offset(),
        new_end,
        "appended batch lost on reopen"
    );
    let r = log
        .read(end, 1 << 20, i64::MAX, true)
        .unwrap_or_else(|e| panic!("reading the appended batch: {e}"));
    assert_eq!(r.bytes, Bytes::from(next), "appended batch bytes");
}
