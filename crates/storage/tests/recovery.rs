//! Recovery on open: invalid tails are cut off exactly, indexes are rebuilt, and appends
//! continue densely after the valid prefix.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure

mod common;

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::Path;

use common::batch::batch;
use common::{append_all, headers, read_all, seg_file, segment_bases, small_config};
use weir_storage::{Log, LogConfig};

const SEGMENT_BYTES: u64 = 800;

fn config() -> LogConfig {
    small_config(SEGMENT_BYTES)
}

fn batches(n: usize) -> Vec<Vec<u8>> {
    (0..n)
        .map(|i| batch(1 + i % 3, 5_000 + i as i64, 20 + (i * 13) % 60))
        .collect()
}

/// A closed log of `n` batches; returns them as stored.
fn fixture(dir: &Path, n: usize) -> Vec<Vec<u8>> {
    let mut log = Log::open(dir, config(), 0).unwrap();
    let stored = append_all(&mut log, &batches(n), 0);
    log.close().unwrap();
    stored
}

/// Index of the first batch stored in the last segment.
fn first_in_last_segment(dir: &Path, stored: &[Vec<u8>]) -> usize {
    let last_base = *segment_bases(dir).last().unwrap();
    stored
        .iter()
        .position(|b| headers(b)[0].base_offset == last_base)
        .unwrap()
}

/// Reopens `dir` and checks it holds exactly `stored[..keep]` and that appends continue
/// densely after it.
fn assert_recovers_to(dir: &Path, stored: &[Vec<u8>], keep: usize) -> Log {
    let mut log = Log::open(dir, config(), 0).unwrap();
    let prefix = stored[..keep].concat();
    assert_eq!(read_all(&log), prefix);
    let expected_end = headers(&prefix).last().map_or(0, |h| h.last_offset() + 1);
    assert_eq!(log.log_end_offset(), expected_end);
    let more = append_all(&mut log, &batches(4), 0);
    assert_eq!(headers(&more[0])[0].base_offset, expected_end);
    assert_eq!(read_all(&log), [prefix, more.concat()].concat());
    drop(log);
    // And once more, after the appends.
    Log::open(dir, config(), 0).unwrap()
}

#[test]
fn last_segment_cut_mid_batch() {
    let tmp = tempfile::tempdir().unwrap();
    let stored = fixture(tmp.path(), 40);
    let last_base = *segment_bases(tmp.path()).last().unwrap();
    let path = seg_file(tmp.path(), last_base, ".log");
    let len = fs::metadata(&path).unwrap().len();
    let last_len = stored.last().unwrap().len() as u64;
    OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(len - last_len / 2)
        .unwrap();
    let log = Log::open(tmp.path(), config(), 0).unwrap();
    assert_eq!(log.recovery_info().bytes_truncated, last_len - last_len / 2);
    drop(log);
    assert_recovers_to(tmp.path(), &stored, stored.len() - 1);
}

#[test]
fn last_segment_cut_inside_a_header() {
    let tmp = tempfile::tempdir().unwrap();
    let stored = fixture(tmp.path(), 40);
    let last_base = *segment_bases(tmp.path()).last().unwrap();
    let path = seg_file(tmp.path(), last_base, ".log");
    let len = fs::metadata(&path).unwrap().len();
    let last_len = stored.last().unwrap().len() as u64;
    OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(len - last_len + 30)
        .unwrap();
    assert_recovers_to(tmp.path(), &stored, stored.len() - 1);
}

#[test]
fn garbage_appended_after_a_clean_shutdown_is_cut() {
    let tmp = tempfile::tempdir().unwrap();
    let stored = fixture(tmp.path(), 40);
    let last_base = *segment_bases(tmp.path()).last().unwrap();
    let path = seg_file(tmp.path(), last_base, ".log");
    let mut f = OpenOptions::new().append(true).open(&path).unwrap();
    f.write_all(&[0x5a; 100]).unwrap();
    drop(f);
    let log = Log::open(tmp.path(), config(), 0).unwrap();
    assert!(log.recovery_info().clean_shutdown);
    assert_eq!(log.recovery_info().bytes_truncated, 100);
    drop(log);
    assert_recovers_to(tmp.path(), &stored, stored.len());
}

#[test]
fn garbage_that_looks_like_a_huge_batch_is_cut_without_allocating_it() {
    let tmp = tempfile::tempdir().unwrap();
    let stored = fixture(tmp.path(), 10);
    let last_base = *segment_bases(tmp.path()).last().unwrap();
    let path = seg_file(tmp.path(), last_base, ".log");
    let mut fake = stored[0].clone();
    fake[8..12].copy_from_slice(&i32::MAX.to_be_bytes());
    let mut f = OpenOptions::new().append(true).open(&path).unwrap();
    f.write_all(&fake[..61]).unwrap();
    drop(f);
    assert_recovers_to(tmp.path(), &stored, stored.len());
}

#[test]
fn flipped_byte_in_last_batch_payload_drops_that_batch() {
    let tmp = tempfile::tempdir().unwrap();
    let stored = fixture(tmp.path(), 40);
    let last_base = *segment_bases(tmp.path()).last().unwrap();
    let path = seg_file(tmp.path(), last_base, ".log");
    let mut bytes = fs::read(&path).unwrap();
    let n = bytes.len();
    bytes[n - 3] ^= 0x01;
    fs::write(&path, bytes).unwrap();
    assert_recovers_to(tmp.path(), &stored, stored.len() - 1);
}

#[test]
fn flipped_byte_mid_last_segment_keeps_the_prefix_before_it() {
    // A fixture whose last segment holds at least two batches.
    let (tmp, stored, first) = (40..60)
        .map(|n| {
            let tmp = tempfile::tempdir().unwrap();
            let stored = fixture(tmp.path(), n);
            let first = first_in_last_segment(tmp.path(), &stored);
            (tmp, stored, first)
        })
        .find(|(_, stored, first)| stored.len() - first >= 2)
        .unwrap();
    let last_base = *segment_bases(tmp.path()).last().unwrap();
    let path = seg_file(tmp.path(), last_base, ".log");
    let mut bytes = fs::read(&path).unwrap();
    let at = stored[first].len() + 40; // inside the second batch's header, under the CRC
    bytes[at] ^= 0xff;
    fs::write(&path, bytes).unwrap();
    assert_recovers_to(tmp.path(), &stored, first + 1);
}

#[test]
fn missing_index_files_are_rebuilt() {
    let tmp = tempfile::tempdir().unwrap();
    let stored = fixture(tmp.path(), 60);
    let bases = segment_bases(tmp.path());
    assert!(bases.len() > 3);
    for &b in &bases {
        let _ = fs::remove_file(seg_file(tmp.path(), b, ".index"));
        let _ = fs::remove_file(seg_file(tmp.path(), b, ".timeindex"));
    }
    let log = Log::open(tmp.path(), config(), 0).unwrap();
    assert_eq!(log.recovery_info().indexes_rebuilt, bases.len() - 1);
    assert!(seg_file(tmp.path(), bases[0], ".index").exists());
    for offset in 0..log.log_end_offset() {
        let r = log.read(offset, 1, i64::MAX, true).unwrap();
        let h = headers(&r.bytes)[0];
        assert!(h.base_offset <= offset && offset <= h.last_offset());
    }
    assert_eq!(
        log.offset_for_timestamp(5_030).unwrap().map(|(_, t)| t),
        Some(5_030)
    );
    drop(log);
    assert_recovers_to(tmp.path(), &stored, stored.len());
}

#[test]
fn corrupt_index_files_are_rebuilt() {
    let tmp = tempfile::tempdir().unwrap();
    let stored = fixture(tmp.path(), 60);
    let bases = segment_bases(tmp.path());
    fs::write(seg_file(tmp.path(), bases[0], ".index"), [0xffu8; 13]).unwrap();
    fs::write(seg_file(tmp.path(), bases[1], ".index"), [0u8; 16]).unwrap();
    fs::write(seg_file(tmp.path(), bases[2], ".timeindex"), [0x7fu8; 24]).unwrap();
    fs::write(seg_file(tmp.path(), bases[3], ".index"), vec![0u8; 1 << 20]).unwrap();
    let log = Log::open(tmp.path(), config(), 0).unwrap();
    assert_eq!(log.recovery_info().indexes_rebuilt, 4);
    drop(log);
    assert_recovers_to(tmp.path(), &stored, stored.len());
}

#[test]
fn corruption_in_an_unsynced_middle_segment_drops_everything_after_it() {
    let tmp = tempfile::tempdir().unwrap();
    let stored = fixture(tmp.path(), 60);
    let bases = segment_bases(tmp.path());
    // No checkpoint: nothing is known to be synced, so every segment is checked.
    fs::remove_file(tmp.path().join("log.checkpoint")).unwrap();
    let victim = bases[2];
    let path = seg_file(tmp.path(), victim, ".log");
    let mut bytes = fs::read(&path).unwrap();
    let first = stored
        .iter()
        .position(|b| headers(b)[0].base_offset == victim)
        .unwrap();
    let at = stored[first].len() + stored[first + 1].len() - 2; // payload of the 2nd batch
    bytes[at] ^= 0x10;
    fs::write(&path, bytes).unwrap();
    let log = Log::open(tmp.path(), config(), 0).unwrap();
    assert_eq!(log.recovery_info().segments_deleted, bases.len() - 3);
    assert_eq!(segment_bases(tmp.path()), bases[..3]);
    assert!(!seg_file(tmp.path(), bases[3], ".index").exists());
    drop(log);
    assert_recovers_to(tmp.path(), &stored, first + 1);
}

#[test]
fn emptied_last_segment_recovers_to_the_previous_one() {
    let tmp = tempfile::tempdir().unwrap();
    let stored = fixture(tmp.path(), 40);
    let first = first_in_last_segment(tmp.path(), &stored);
    let last_base = *segment_bases(tmp.path()).last().unwrap();
    fs::write(seg_file(tmp.path(), last_base, ".log"), b"").unwrap();
    assert_recovers_to(tmp.path(), &stored, first);
}

#[test]
fn leftover_files_are_cleaned_and_bad_checkpoint_ignored() {
    let tmp = tempfile::tempdir().unwrap();
    let stored = fixture(tmp.path(), 30);
    fs::write(tmp.path().join("log.checkpoint.tmp"), b"partial").unwrap();
    fs::write(seg_file(tmp.path(), 999_999, ".index"), [0u8; 8]).unwrap();
    fs::write(tmp.path().join("log.checkpoint"), b"not a checkpoint").unwrap();
    let log = Log::open(tmp.path(), config(), 0).unwrap();
    assert!(!tmp.path().join("log.checkpoint.tmp").exists());
    assert!(!seg_file(tmp.path(), 999_999, ".index").exists());
    assert_eq!(
        log.recovery_info().segments_scanned,
        segment_bases(tmp.path()).len()
    );
    drop(log);
    assert_recovers_to(tmp.path(), &stored, stored.len());
}

#[test]
fn recovery_point_limits_the_scan_to_the_last_segment() {
    let tmp = tempfile::tempdir().unwrap();
    let stored = fixture(tmp.path(), 60);
    let log = Log::open(tmp.path(), config(), 0).unwrap();
    assert_eq!(log.recovery_info().segments_scanned, 1);
    assert_eq!(log.recovery_info().indexes_rebuilt, 0);
    assert_eq!(read_all(&log), stored.concat());
}

#[test]
fn a_gap_in_offsets_is_corruption_unless_compaction_made_it() {
    // Batches at 0-4 and 10-14 in one segment, with nothing cleaned: the second is cut.
    let tmp = tempfile::tempdir().unwrap();
    let mut f = fs::File::create(tmp.path().join("00000000000000000000.log")).unwrap();
    let b = common::batch::TestBatch::new(5, 1_000, 10);
    f.write_all(&b.encode(0)).unwrap();
    f.write_all(&b.encode(10)).unwrap();
    drop(f);
    let log = Log::open(tmp.path(), config(), 0).unwrap();
    assert_eq!(log.log_end_offset(), 5);
    assert!(log.recovery_info().bytes_truncated > 0);
}
