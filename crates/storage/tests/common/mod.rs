//! Shared helpers for the storage integration tests.
#![allow(dead_code)]

pub(crate) mod batch;

use std::path::{Path, PathBuf};

use weir_protocol::record::batch::BatchHeader;
use weir_storage::{Log, LogConfig};

/// A config with small segments and dense indexes, so tests cross many boundaries.
pub(crate) fn small_config(segment_bytes: u64) -> LogConfig {
    LogConfig {
        segment_bytes,
        index_interval_bytes: 150,
        ..LogConfig::default()
    }
}

/// The headers of the batches laid end to end in `bytes`.
pub(crate) fn headers(bytes: &[u8]) -> Vec<BatchHeader> {
    let mut out = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        let h = BatchHeader::validate(&bytes[at..], usize::MAX).expect("valid batch in read");
        at += h.total_len();
        out.push(h);
    }
    out
}

/// Every byte of the log from its start, read batch by batch with `read`.
pub(crate) fn read_all(log: &Log) -> Vec<u8> {
    let mut out = Vec::new();
    let mut offset = log.log_start_offset();
    while offset < log.log_end_offset() {
        let r = log.read(offset, 1 << 16, i64::MAX, true).expect("read");
        assert!(
            !r.bytes.is_empty(),
            "empty read at {offset} below the log end"
        );
        out.extend_from_slice(&r.bytes);
        offset = r.next_offset;
    }
    out
}

/// Path of the segment file with `base` and `suffix` in `dir`.
pub(crate) fn seg_file(dir: &Path, base: i64, suffix: &str) -> PathBuf {
    dir.join(format!("{base:020}{suffix}"))
}

/// Base offsets of the `.log` files in `dir`, ascending.
pub(crate) fn segment_bases(dir: &Path) -> Vec<i64> {
    let mut v: Vec<i64> = std::fs::read_dir(dir)
        .expect("list dir")
        .filter_map(|e| {
            let name = e.ok()?.file_name().into_string().ok()?;
            name.strip_suffix(".log")?.parse().ok()
        })
        .collect();
    v.sort_unstable();
    v
}

/// Appends `batches` (encoded with any base offset) and returns them as stored.
pub(crate) fn append_all(log: &mut Log, batches: &[Vec<u8>], now_ms: i64) -> Vec<Vec<u8>> {
    batches
        .iter()
        .map(|b| {
            let mut b = b.clone();
            log.append(&mut b, now_ms).expect("append");
            b
        })
        .collect()
}
