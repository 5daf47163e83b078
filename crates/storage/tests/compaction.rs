//! Log compaction: the latest record per key survives with its offset, tombstones go after
//! delete.retention.ms, the dirty ratio and compaction lags decide when, aborted
//! transactions go, and a crash at any point of installing a rewrite loses nothing.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use common::small_config;
use weir_protocol::record::control::end_txn_marker_batch;
use weir_protocol::record::{BatchBuilder, Batches, Compression};
use weir_storage::{CompactionPolicy, Log, LogConfig, Origin};

const EAGER: CompactionPolicy = CompactionPolicy {
    min_cleanable_dirty_ratio: 0.0,
    min_compaction_lag_ms: 0,
    max_compaction_lag_ms: i64::MAX,
    delete_retention_ms: 1_000,
};

fn config() -> LogConfig {
    small_config(300)
}

/// A batch of keyed records; a `None` value is a tombstone.
fn keyed(records: &[(&str, Option<&str>)], ts: i64) -> Vec<u8> {
    let mut b = BatchBuilder::new(Compression::None, ts);
    for (k, v) in records {
        b.push(Some(k.as_bytes()), v.map(str::as_bytes), &[], ts)
            .unwrap();
    }
    b.build().unwrap().to_vec()
}

/// Every record of the log: offset -> (key, value).
fn contents(log: &Log) -> BTreeMap<i64, (Option<String>, Option<String>)> {
    let mut out = BTreeMap::new();
    let mut offset = log.log_start_offset();
    while offset < log.log_end_offset() {
        let r = log.read(offset, 1 << 20, i64::MAX, true).unwrap();
        for batch in Batches::new(r.bytes.clone()) {
            let batch = batch.unwrap();
            if batch.is_control() {
                continue;
            }
            for rec in batch.records(1 << 20).unwrap() {
                let s = |b: Option<bytes::Bytes>| b.map(|b| String::from_utf8(b.to_vec()).unwrap());
                assert!(
                    out.insert(rec.offset, (s(rec.key), s(rec.value))).is_none(),
                    "offset twice"
                );
            }
        }
        offset = r.next_offset.max(offset + 1);
    }
    out
}

/// The latest value of every key.
fn latest(c: &BTreeMap<i64, (Option<String>, Option<String>)>) -> BTreeMap<String, Option<String>> {
    let mut m = BTreeMap::new();
    for (k, v) in c.values() {
        if let Some(k) = k {
            m.insert(k.clone(), v.clone());
        }
    }
    m
}

/// 8 keys written 6 times each, a few records per batch, so that many segments roll.
fn fill(log: &mut Log, ts: i64) {
    for round in 0..6 {
        for pair in 0..4 {
            let k1 = format!("k{}", pair * 2);
            let k2 = format!("k{}", pair * 2 + 1);
            let v1 = format!("r{round}-{k1}");
            let v2 = format!("r{round}-{k2}");
            let mut b = keyed(&[(&k1, Some(&v1)), (&k2, Some(&v2))], ts);
            log.append(&mut b, ts).unwrap();
        }
    }
}

fn sync(log: &mut Log) {
    if let Some(t) = log.sync_target() {
        let upto = t.sync().unwrap();
        log.mark_synced(upto);
    }
}

fn compact(log: &mut Log, policy: &CompactionPolicy, now: i64) -> Option<weir_storage::CleanStats> {
    let upper = log.log_end_offset();
    let plan = log.plan_compaction(policy, upper, 1 << 20, now)?;
    let cleaned = plan.run(&mut |_| {}).unwrap();
    Some(log.install_compaction(cleaned).unwrap())
}

#[test]
fn the_latest_record_per_key_survives_at_its_offset() {
    let tmp = tempfile::tempdir().unwrap();
    let mut log = Log::open(tmp.path(), config(), 0).unwrap();
    fill(&mut log, 1_000);
    sync(&mut log);
    let before = contents(&log);
    let segments = log.segment_count();
    assert!(segments > 4);
    let stats = compact(&mut log, &EAGER, 2_000).unwrap();
    assert!(
        stats.installed && stats.records_kept < stats.records_read,
        "{stats:?}"
    );
    let after = contents(&log);
    // Same latest values; every survivor is an original record at its original offset.
    assert_eq!(latest(&after), latest(&before));
    for (o, r) in &after {
        assert_eq!(before.get(o), Some(r), "offset {o} changed");
    }
    assert!(after.len() < before.len());
    // Nothing dirty is left below the active segment until more is written.
    let end = log.log_end_offset();
    assert!(log.plan_compaction(&EAGER, end, 1 << 20, 3_000).is_none());
    // The active segment is never touched; offsets keep going where they were.
    let mut b = keyed(&[("k0", Some("new"))], 3_000);
    assert_eq!(log.append(&mut b, 3_000).unwrap().base_offset, end);
    // A restart reads the same, also when the indexes must be rebuilt across the gaps.
    let dir = log.dir().to_path_buf();
    let expected = contents(&log);
    log.close().unwrap();
    for f in fs::read_dir(&dir).unwrap() {
        let p = f.unwrap().path();
        if p.extension()
            .is_some_and(|e| e == "index" || e == "timeindex")
        {
            fs::remove_file(p).unwrap();
        }
    }
    let log = Log::open(&dir, config(), 0).unwrap();
    assert_eq!(contents(&log), expected);
}

#[test]
fn tombstones_stay_one_pass_then_go_after_delete_retention() {
    let tmp = tempfile::tempdir().unwrap();
    let mut log = Log::open(tmp.path(), config(), 0).unwrap();
    fill(&mut log, 1_000);
    let mut b = keyed(&[("k1", None), ("k2", None)], 1_000);
    log.append(&mut b, 1_000).unwrap();
    // Push the tombstones out of the active segment.
    for i in 0..8 {
        let k = format!("x{i}");
        let mut b = keyed(&[(&k, Some("filler-filler-filler-filler"))], 1_000);
        log.append(&mut b, 1_000).unwrap();
    }
    sync(&mut log);
    compact(&mut log, &EAGER, 1_500).unwrap();
    let l = latest(&contents(&log));
    assert_eq!(
        (l.get("k1"), l.get("k2")),
        (Some(&None), Some(&None)),
        "kept on the first pass"
    );
    // Still within delete.retention.ms: kept; later: gone (new dirty data forces a pass).
    let mut b = keyed(&[("y", Some("1"))], 1_900);
    log.append(&mut b, 1_900).unwrap();
    log.roll(1_900).unwrap();
    sync(&mut log);
    compact(&mut log, &EAGER, 1_900).unwrap();
    assert!(latest(&contents(&log)).contains_key("k1"));
    let mut b = keyed(&[("z", Some("1"))], 5_000);
    log.append(&mut b, 5_000).unwrap();
    log.roll(5_000).unwrap();
    sync(&mut log);
    compact(&mut log, &EAGER, 5_000).unwrap();
    let l = latest(&contents(&log));
    assert!(!l.contains_key("k1") && !l.contains_key("k2"), "{l:?}");
    assert_eq!(l.get("k3").cloned().flatten().as_deref(), Some("r5-k3"));
}

#[test]
fn the_dirty_ratio_and_the_compaction_lags_decide_when() {
    let tmp = tempfile::tempdir().unwrap();
    let mut log = Log::open(tmp.path(), config(), 0).unwrap();
    fill(&mut log, 10_000);
    sync(&mut log);
    let end = log.log_end_offset();
    // Records younger than min.compaction.lag.ms wait.
    let lagging = CompactionPolicy {
        min_compaction_lag_ms: 5_000,
        ..EAGER
    };
    assert!(log
        .plan_compaction(&lagging, end, 1 << 20, 12_000)
        .is_none());
    assert!(log
        .plan_compaction(&lagging, end, 1 << 20, 16_000)
        .is_some());
    compact(&mut log, &EAGER, 16_000).unwrap();
    // A little new dirty data is below a 0.5 ratio, unless it is past max.compaction.lag.ms.
    fill(&mut log, 20_000);
    let mut b = keyed(&[("k0", Some("late"))], 20_000);
    log.append(&mut b, 20_000).unwrap();
    sync(&mut log);
    let end = log.log_end_offset();
    let ratio = CompactionPolicy {
        min_cleanable_dirty_ratio: 0.99,
        ..EAGER
    };
    assert!(log.plan_compaction(&ratio, end, 1 << 20, 21_000).is_none());
    let overdue = CompactionPolicy {
        max_compaction_lag_ms: 500,
        ..ratio
    };
    assert!(log
        .plan_compaction(&overdue, end, 1 << 20, 21_000)
        .is_some());
    // Nothing at or above `upper` (the last stable offset) is planned.
    assert!(log.plan_compaction(&EAGER, 3, 1 << 20, 21_000).is_none());
}

#[test]
fn aborted_transactions_go_and_a_producers_last_batch_stays() {
    let tmp = tempfile::tempdir().unwrap();
    let mut log = Log::open(tmp.path(), config(), 0).unwrap();
    let txn = |pid: i64, seq: i32, k: &str, v: &str| {
        let mut b = BatchBuilder::new(Compression::None, 1_000);
        b.set_producer(pid, 0, seq);
        b.set_transactional(true);
        b.push(Some(k.as_bytes()), Some(v.as_bytes()), &[], 1_000)
            .unwrap();
        b.build().unwrap().to_vec()
    };
    let marker = |pid: i64, commit: bool| {
        end_txn_marker_batch(pid, 0, commit, 0, 1_000)
            .unwrap()
            .to_vec()
    };
    let mut b = txn(5, 0, "a", "aborted");
    log.append(&mut b, 1_000).unwrap();
    let mut m = marker(5, false);
    log.append_from(
        &mut m,
        Origin::Coordinator {
            coordinator_epoch: 0,
        },
        1_000,
    )
    .unwrap();
    let mut b = txn(6, 0, "b", "committed");
    log.append(&mut b, 1_000).unwrap();
    let mut m = marker(6, true);
    log.append_from(
        &mut m,
        Origin::Coordinator {
            coordinator_epoch: 0,
        },
        1_000,
    )
    .unwrap();
    // A later plain record supersedes producer 6's "b".
    fill(&mut log, 1_000);
    let mut b = keyed(&[("b", Some("plain"))], 1_000);
    log.append(&mut b, 1_000).unwrap();
    log.roll(1_000).unwrap();
    sync(&mut log);
    compact(&mut log, &EAGER, 2_000).unwrap();
    let c = contents(&log);
    assert!(!c.values().any(|(_, v)| v.as_deref() == Some("aborted")));
    assert!(!c.values().any(|(_, v)| v.as_deref() == Some("committed")));
    assert_eq!(
        latest(&c).get("b").cloned().flatten().as_deref(),
        Some("plain")
    );
    // Producer 6's last batch is kept, emptied: rebuilt from the log alone (no snapshot),
    // its state still knows the batch, so a retry of it is a duplicate, not a new record.
    let dir = log.dir().to_path_buf();
    drop(log);
    for f in fs::read_dir(&dir).unwrap() {
        let p = f.unwrap().path();
        if p.extension().is_some_and(|e| e == "snapshot") {
            fs::remove_file(p).unwrap();
        }
    }
    let mut log = Log::open(&dir, config(), 0).unwrap();
    let mut retry = txn(6, 0, "b", "committed");
    assert!(log.append(&mut retry, 3_000).unwrap().duplicate);
}

/// Runs a pass up to its rewrite and leaves it uninstalled, as a crash would.
fn rewrite_only(log: &Log, now: i64) -> weir_storage::Cleaned {
    let plan = log
        .plan_compaction(&EAGER, log.log_end_offset(), 1 << 20, now)
        .unwrap();
    plan.run(&mut |_| {}).unwrap()
}

fn tmp_files(dir: &Path) -> Vec<String> {
    fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".tmp"))
        .collect()
}

#[test]
fn a_crash_at_any_step_of_installing_loses_nothing() {
    // 1. After the rewrite, before the install: the rewrites are leftovers.
    let tmp = tempfile::tempdir().unwrap();
    let mut log = Log::open(tmp.path(), config(), 0).unwrap();
    fill(&mut log, 1_000);
    sync(&mut log);
    let before = contents(&log);
    let cleaned = rewrite_only(&log, 2_000);
    assert!(!tmp_files(tmp.path()).is_empty());
    drop(cleaned);
    drop(log);
    let log = Log::open(tmp.path(), config(), 0).unwrap();
    assert!(
        tmp_files(tmp.path()).is_empty(),
        "leftovers removed on open"
    );
    assert_eq!(contents(&log), before);
    drop(log);

    // 2. Midway: the checkpoint written, the first segment swapped (its indexes removed
    // first, then the rename), the others not: a failing rename stops the install there,
    // as a crash would. Every record read is an original one at its offset, and the latest
    // value of every key is still there.
    let mut log = Log::open(tmp.path(), config(), 0).unwrap();
    let cleaned = rewrite_only(&log, 2_000);
    let mut logs: Vec<String> = tmp_files(tmp.path())
        .into_iter()
        .filter(|n| n.len() == 20 + ".cleaned.tmp".len())
        .collect();
    logs.sort();
    assert!(logs.len() >= 2, "{logs:?}");
    fs::remove_file(tmp.path().join(&logs[1])).unwrap();
    assert!(log.install_compaction(cleaned).is_err());
    drop(log);
    let mut log = Log::open(tmp.path(), config(), 0).unwrap();
    let mid = contents(&log);
    assert!(mid.len() < before.len());
    for (o, r) in &mid {
        assert_eq!(before.get(o), Some(r));
    }
    assert_eq!(latest(&mid), latest(&before));
    // 3. The checkpoint already counts the interrupted pass as clean; the next pass, once
    // there is new data, rewrites the whole cleanable range and finishes the job.
    let mut b = keyed(&[("new", Some("1"))], 2_000);
    log.append(&mut b, 2_000).unwrap();
    log.roll(2_000).unwrap();
    sync(&mut log);
    let superseded_left = contents(&log).len();
    compact(&mut log, &EAGER, 2_000).unwrap();
    let after = contents(&log);
    assert!(after.len() < superseded_left);
    let mut want = latest(&before);
    want.insert("new".into(), Some("1".into()));
    assert_eq!(latest(&after), want);
}

#[test]
fn a_log_changed_meanwhile_drops_the_rewrite() {
    let tmp = tempfile::tempdir().unwrap();
    let mut log = Log::open(tmp.path(), config(), 0).unwrap();
    fill(&mut log, 1_000);
    sync(&mut log);
    let cleaned = rewrite_only(&log, 2_000);
    let end = log.log_end_offset();
    log.delete_records_before(end - 1, end).unwrap();
    let before = contents(&log);
    let stats = log.install_compaction(cleaned).unwrap();
    assert!(!stats.installed);
    assert_eq!(contents(&log), before);
    assert!(tmp_files(tmp.path()).is_empty());
}

#[test]
fn markers_and_emptied_batches_go_once_their_data_is_gone() {
    let tmp = tempfile::tempdir().unwrap();
    let mut log = Log::open(tmp.path(), config(), 0).unwrap();
    let coordinator = Origin::Coordinator {
        coordinator_epoch: 0,
    };
    // Ten aborted transactions of producer 9, each a batch and its marker.
    for seq in 0..10 {
        let mut b = BatchBuilder::new(Compression::None, 1_000);
        b.set_producer(9, 0, seq);
        b.set_transactional(true);
        b.push(Some(b"t"), Some(b"aborted"), &[], 1_000).unwrap();
        let mut b = b.build().unwrap().to_vec();
        log.append(&mut b, 1_000).unwrap();
        let mut m = end_txn_marker_batch(9, 0, false, 0, 1_000)
            .unwrap()
            .to_vec();
        log.append_from(&mut m, coordinator, 1_000).unwrap();
    }
    fill(&mut log, 1_000);
    log.roll(1_000).unwrap();
    sync(&mut log);
    let markers = |log: &Log| {
        let r = log.read(0, 1 << 20, i64::MAX, true).unwrap();
        let mut n = 0;
        let mut offset = 0;
        let mut bytes = r.bytes;
        loop {
            for batch in Batches::new(bytes.clone()) {
                let batch = batch.unwrap();
                n += usize::from(batch.is_control());
                offset = batch.last_offset() + 1;
            }
            if offset >= log.log_end_offset() {
                return n;
            }
            bytes = log.read(offset, 1 << 20, i64::MAX, true).unwrap().bytes;
        }
    };
    let size_of = |log: &Log| log.size_bytes();
    compact(&mut log, &EAGER, 2_000).unwrap();
    assert_eq!(markers(&log), 10, "kept on the first pass");
    let first = size_of(&log);
    // Past delete.retention.ms after that pass, the markers of transactions with nothing
    // left go too (new data makes a pass due).
    let mut b = keyed(&[("x", Some("1"))], 9_000);
    log.append(&mut b, 9_000).unwrap();
    log.roll(9_000).unwrap();
    sync(&mut log);
    compact(&mut log, &EAGER, 9_000).unwrap();
    assert!(size_of(&log) < first, "{} !< {first}", size_of(&log));
    // Only the producer's last batch (kept, emptied, for its state) keeps its marker.
    assert_eq!(markers(&log), 1);
    let c = contents(&log);
    assert!(!c.values().any(|(_, v)| v.as_deref() == Some("aborted")));
    // Nothing is left open: the last stable offset is the log end.
    let end = log.log_end_offset();
    log.on_high_watermark(end);
    assert_eq!(log.last_stable_offset(end), end);
    drop(log);
    let mut log = Log::open(tmp.path(), config(), 0).unwrap();
    let end = log.log_end_offset();
    log.on_high_watermark(end);
    assert_eq!(
        log.last_stable_offset(end),
        end,
        "after a rebuild from the log too"
    );
}
