//! One planned segment read batch by batch: its keys into the offset map (dirty segments),
//! or rewritten with only the records that survive.

use std::collections::{HashMap, HashSet};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use weir_protocol::record::batch::{BatchHeader, HEADER_LEN};
use weir_protocol::record::{rebuild_batch, RecordBatch};

use super::{CleanPlan, CleanStats, OffsetMap, SegmentView};
use crate::dirs::segment_stem;
use crate::error::{IoContext, StorageError};
use crate::segment::Segment;

/// Bytes read from a segment at a time.
const CHUNK: usize = 1 << 20;
/// The most a batch's records may decompress to: what produce accepts.
const MAX_UNCOMPRESSED: usize = 256 << 20;

/// Calls `f` with every batch of the segment (header and whole bytes), in order, until it
/// returns false; the view's size bounds every read.
fn for_each_batch(
    view: &SegmentView,
    max_batch: usize,
    mut f: impl FnMut(&BatchHeader, &[u8]) -> Result<bool, StorageError>,
) -> Result<(), StorageError> {
    let corrupt = |position: u64, why: String| {
        StorageError::Corrupt(format!("{} at {position}: {why}", view.path.display()))
    };
    let mut buf: Vec<u8> = Vec::new();
    let mut buf_start = 0u64;
    let mut position = 0u64;
    while position < view.size {
        let need_header = HEADER_LEN as u64;
        if position + need_header > view.size {
            return Err(corrupt(position, "truncated batch header".into()));
        }
        let fill = |pos: u64, len: usize, buf: &mut Vec<u8>, start: &mut u64| {
            let have = pos >= *start && pos + len as u64 <= *start + buf.len() as u64;
            if !have {
                let want = (len.max(CHUNK) as u64).min(view.size - pos) as usize;
                buf.resize(want, 0);
                *start = pos;
                view.file
                    .read_exact_at(buf, pos)
                    .ctx(|| format!("reading {} at {pos}", view.path.display()))?;
            }
            Ok::<(), StorageError>(())
        };
        fill(position, HEADER_LEN, &mut buf, &mut buf_start)?;
        let at = (position - buf_start) as usize;
        let head = buf.get(at..at + HEADER_LEN).unwrap_or_default();
        let h = BatchHeader::parse(head).map_err(|e| corrupt(position, e.to_string()))?;
        let len = h
            .checked_total_len(max_batch)
            .map_err(|e| corrupt(position, e.to_string()))?;
        if position + len as u64 > view.size {
            return Err(corrupt(position, "batch runs past the segment".into()));
        }
        fill(position, len, &mut buf, &mut buf_start)?;
        let at = (position - buf_start) as usize;
        let bytes = buf
            .get(at..at + len)
            .ok_or_else(|| corrupt(position, "read window miss".into()))?;
        if !f(&h, bytes)? {
            return Ok(());
        }
        position += len as u64;
    }
    Ok(())
}

/// Puts the keys of a dirty segment into the map; false if they did not all fit (the map
/// then holds part of them, which is harmless: only whole segments are counted mapped).
pub(super) fn map_segment(
    plan: &CleanPlan,
    view: &SegmentView,
    aborted: &Aborted,
    map: &mut OffsetMap,
    stats: &mut CleanStats,
    throttle: &mut dyn FnMut(u64),
) -> Result<bool, StorageError> {
    let mut fits = true;
    for_each_batch(view, plan.max_batch_bytes, |h, bytes| {
        stats.bytes_read += bytes.len() as u64;
        throttle(bytes.len() as u64);
        if h.is_control() || is_aborted(aborted, h) {
            return Ok(true);
        }
        let batch = RecordBatch::parse(Bytes::copy_from_slice(bytes))?;
        for r in batch.records(MAX_UNCOMPRESSED)? {
            if let Some(k) = &r.key {
                if !map.put(k, r.offset) {
                    fits = false;
                    return Ok(false);
                }
            }
        }
        Ok(true)
    })?;
    Ok(fits)
}

/// Aborted transactions by producer: (first offset, marker offset) ranges.
pub(super) type Aborted = HashMap<i64, Vec<(i64, i64)>>;

/// The plan's aborted transactions by producer.
pub(super) fn aborted_by_producer(plan: &CleanPlan) -> Aborted {
    let mut m: Aborted = HashMap::new();
    for t in &plan.aborted {
        m.entry(t.producer_id)
            .or_default()
            .push((t.first_offset, t.last_offset));
    }
    m
}

fn is_aborted(aborted: &Aborted, h: &BatchHeader) -> bool {
    h.is_transactional()
        && aborted.get(&h.producer_id).is_some_and(|ranges| {
            ranges
                .iter()
                .any(|&(first, last)| first <= h.base_offset && h.base_offset <= last)
        })
}

/// Per producer: whether a batch of its current transaction was kept, so its marker must
/// stay too (dropping it would leave the kept batches an open transaction forever).
#[derive(Debug, Default)]
pub(super) struct TxnTracker {
    data_kept: HashSet<i64>,
}

/// Where a segment's rewrite is written until installed.
pub(super) fn tmp_path(dir: &Path, base_offset: i64) -> PathBuf {
    dir.join(format!("{}.cleaned.tmp", segment_stem(base_offset)))
}

/// Rewrites one segment into `<base>.cleaned.tmp` with what survives, fsynced; `None` (and
/// no file) if nothing does, unless it is the log's first segment, which stays, empty.
pub(super) fn rewrite_segment(
    plan: &CleanPlan,
    view: &SegmentView,
    map: &OffsetMap,
    aborted: &Aborted,
    txns: &mut TxnTracker,
    stats: &mut CleanStats,
    throttle: &mut dyn FnMut(u64),
) -> Result<Option<Segment>, StorageError> {
    let tmp = tmp_path(&plan.dir, view.base_offset);
    let mut out = Segment::create_at(&plan.dir, tmp, view.base_offset, plan.now_ms)?;
    // Past the horizon: first cleaned by a pass more than delete.retention.ms ago.
    let past_horizon = |offset: i64| {
        plan.state
            .first_cleaned_ms(offset)
            .is_some_and(|t| t.saturating_add(plan.policy.delete_retention_ms) < plan.now_ms)
    };
    for_each_batch(view, plan.max_batch_bytes, |h, bytes| {
        stats.bytes_read += bytes.len() as u64;
        throttle(bytes.len() as u64);
        let written = if h.is_control() {
            let kept_data = txns.data_kept.remove(&h.producer_id);
            let droppable = h.producer_id >= 0 && !kept_data && past_horizon(h.base_offset);
            (!droppable).then(|| Bytes::copy_from_slice(bytes))
        } else {
            let keep_empty = h.producer_id >= 0
                && plan.producer_last.get(&h.producer_id) == Some(&h.last_offset());
            let batch = RecordBatch::parse(Bytes::copy_from_slice(bytes))?;
            let records = batch.records(MAX_UNCOMPRESSED)?;
            stats.records_read += records.len() as u64;
            let drop_all = is_aborted(aborted, h);
            let kept: Vec<_> = records
                .iter()
                .filter(|_| !drop_all)
                .filter(|r| {
                    let Some(key) = &r.key else { return false };
                    let latest = map.get(key).is_none_or(|o| r.offset >= o);
                    let expired_tombstone = r.value.is_none() && past_horizon(r.offset);
                    latest && !expired_tombstone
                })
                .cloned()
                .collect();
            stats.records_kept += kept.len() as u64;
            let b = if kept.is_empty() && !keep_empty {
                None
            } else if kept.len() == records.len() {
                Some(batch.into_bytes())
            } else {
                Some(rebuild_batch(h, &kept)?)
            };
            if b.is_some() && h.is_transactional() {
                txns.data_kept.insert(h.producer_id);
            }
            b
        };
        if let Some(b) = written {
            out.write_batch(&b)
                .ctx(|| format!("writing {}", out.log_path.display()))?;
            out.track_batch(h, b.len() as u64, plan.index_interval);
            stats.bytes_written += b.len() as u64;
        }
        Ok(true)
    })?;
    if out.is_empty() && view.base_offset != plan.first_base {
        crate::durable::remove_if_exists(&out.log_path)?;
        return Ok(None);
    }
    out.seal();
    out.file
        .sync_data()
        .ctx(|| format!("syncing {}", out.log_path.display()))?;
    Ok(Some(out))
}
