//! Append, read, reopen, timestamps, truncation and retention of a `Log`.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure

mod common;

use common::batch::{batch, TestBatch};
use common::{append_all, headers, read_all, segment_bases, small_config};
use weir_storage::{Log, LogConfig, StorageError};

fn varied_batches(n: usize) -> Vec<Vec<u8>> {
    (0..n)
        .map(|i| batch(1 + i % 4, 1_000 + i as i64, 10 + (i * 37) % 90))
        .collect()
}

#[test]
fn append_assigns_dense_offsets_and_reads_back_across_rolls() {
    let tmp = tempfile::tempdir().unwrap();
    let mut log = Log::open(tmp.path(), small_config(1_000), 0).unwrap();
    assert_eq!((log.log_start_offset(), log.log_end_offset()), (0, 0));
    let mut expected_next = 0;
    let mut stored = Vec::new();
    for b in varied_batches(60) {
        let mut b = b.clone();
        let info = log.append(&mut b, 0).unwrap();
        let h = headers(&b)[0];
        assert_eq!(info.base_offset, expected_next);
        assert_eq!(
            h.base_offset, expected_next,
            "base offset rewritten in the slice"
        );
        assert_eq!(
            info.last_offset,
            expected_next + i64::from(h.last_offset_delta)
        );
        expected_next = info.last_offset + 1;
        stored.push(b);
    }
    assert_eq!(log.log_end_offset(), expected_next);
    assert!(log.segment_count() > 3, "segments: {}", log.segment_count());
    assert_eq!(segment_bases(tmp.path()).len(), log.segment_count());
    for seg in segment_bases(tmp.path()) {
        let len = std::fs::metadata(common::seg_file(tmp.path(), seg, ".log"))
            .unwrap()
            .len();
        assert!(len <= 1_000, "segment {seg} has {len} bytes");
    }
    assert_eq!(read_all(&log), stored.concat());
    assert_eq!(log.size_bytes(), stored.concat().len() as u64);

    // Any offset, including one inside a batch, reads from the batch holding it.
    for offset in 0..log.log_end_offset() {
        let r = log.read(offset, 1 << 20, i64::MAX, false).unwrap();
        let hs = headers(&r.bytes);
        let first = hs.first().unwrap();
        assert!(first.base_offset <= offset && offset <= first.last_offset());
        assert_eq!(r.next_offset, hs.last().unwrap().last_offset() + 1);
    }
}

#[test]
fn read_honours_max_bytes_min_one_batch_and_upper_bound() {
    let tmp = tempfile::tempdir().unwrap();
    let mut log = Log::open(tmp.path(), LogConfig::default(), 0).unwrap();
    let stored = append_all(
        &mut log,
        &[batch(2, 1, 100), batch(3, 2, 100), batch(1, 3, 500)],
        0,
    );
    let lens: Vec<usize> = stored.iter().map(Vec::len).collect();

    let r = log.read(0, lens[0] + lens[1], i64::MAX, false).unwrap();
    assert_eq!(r.bytes, [stored[0].clone(), stored[1].clone()].concat());
    assert_eq!(r.next_offset, 5);
    let r = log.read(0, lens[0] + lens[1] - 1, i64::MAX, false).unwrap();
    assert_eq!(r.bytes, stored[0]);
    let r = log.read(5, lens[2] - 1, i64::MAX, false).unwrap();
    assert!(r.bytes.is_empty());
    assert_eq!(r.next_offset, 5);
    let r = log.read(5, lens[2] - 1, i64::MAX, true).unwrap();
    assert_eq!(r.bytes, stored[2], "KIP-74: the first batch even if larger");
    let r = log.read(0, 1, i64::MAX, true).unwrap();
    assert_eq!(r.bytes, stored[0]);

    // Upper bound (high watermark, exclusive) at batch granularity.
    let r = log.read(0, 1 << 20, 5, true).unwrap();
    assert_eq!(r.bytes, [stored[0].clone(), stored[1].clone()].concat());
    let r = log.read(0, 1 << 20, 4, true).unwrap();
    assert_eq!(r.bytes, stored[0]);
    let r = log.read(0, 1 << 20, 1, true).unwrap();
    assert!(
        r.bytes.is_empty(),
        "a batch straddling the bound is not returned"
    );
    let r = log.read(3, 1 << 20, 2, true).unwrap();
    assert!(r.bytes.is_empty());

    let r = log.read(6, 1 << 20, i64::MAX, true).unwrap();
    assert!(r.bytes.is_empty());
    assert_eq!((r.next_offset, r.log_end_offset), (6, 6));
    for bad in [-1, 7] {
        match log.read(bad, 100, i64::MAX, true) {
            Err(StorageError::OffsetOutOfRange {
                offset,
                log_start: 0,
                log_end: 6,
            }) => {
                assert_eq!(offset, bad)
            }
            other => panic!("{other:?}"),
        }
    }
}

#[test]
fn reopen_restores_offsets_and_content() {
    let tmp = tempfile::tempdir().unwrap();
    let mut log = Log::open(tmp.path(), small_config(700), 0).unwrap();
    let mut stored = append_all(&mut log, &varied_batches(30), 0);
    let (end, segs) = (log.log_end_offset(), log.segment_count());
    log.close().unwrap();

    let mut log = Log::open(tmp.path(), small_config(700), 0).unwrap();
    assert!(log.recovery_info().clean_shutdown);
    assert_eq!(log.recovery_info().bytes_truncated, 0);
    assert_eq!((log.log_end_offset(), log.segment_count()), (end, segs));
    assert_eq!(log.recovery_point(), end);
    assert_eq!(read_all(&log), stored.concat());
    stored.extend(append_all(&mut log, &varied_batches(10), 0));
    // Dropped without flush or close: the page cache still holds everything.
    drop(log);

    let log = Log::open(tmp.path(), small_config(700), 0).unwrap();
    assert!(!log.recovery_info().clean_shutdown);
    assert_eq!(read_all(&log), stored.concat());
}

#[test]
fn sync_target_covers_appends_and_advances_recovery_point() {
    let tmp = tempfile::tempdir().unwrap();
    let mut log = Log::open(tmp.path(), small_config(500), 0).unwrap();
    assert!(log.sync_target().is_none());
    append_all(&mut log, &varied_batches(3), 0);
    let target = log.sync_target().unwrap();
    assert_eq!(target.upto(), log.log_end_offset());
    // Appends after the target was taken are not covered by it.
    append_all(&mut log, &varied_batches(20), 0);
    let upto = target.sync().unwrap();
    log.mark_synced(upto);
    assert_eq!(log.recovery_point(), upto);
    let target = log.sync_target().unwrap();
    log.mark_synced(target.sync().unwrap());
    assert_eq!(log.recovery_point(), log.log_end_offset());
    assert!(log.sync_target().is_none());
    log.mark_synced(0); // never moves back
    assert_eq!(log.recovery_point(), log.log_end_offset());

    // A sync that completed a rolled segment wrote the checkpoint.
    let end = log.log_end_offset();
    drop(log);
    let log = Log::open(tmp.path(), small_config(500), 0).unwrap();
    assert_eq!(log.recovery_point(), end);
}

#[test]
fn rolls_by_time_using_batch_timestamps() {
    let tmp = tempfile::tempdir().unwrap();
    let config = LogConfig {
        segment_ms: 1_000,
        ..LogConfig::default()
    };
    let mut log = Log::open(tmp.path(), config, 0).unwrap();
    append_all(&mut log, &[batch(1, 10_000, 10), batch(1, 10_900, 10)], 0);
    assert_eq!(log.segment_count(), 1);
    append_all(&mut log, &[batch(1, 11_001, 10)], 0);
    assert_eq!(log.segment_count(), 2);
    // Without timestamps, wall-clock age of the segment counts.
    append_all(&mut log, &[batch(1, -1, 10)], 0);
    let mut log2 = {
        drop(log);
        let tmp2 = tempfile::tempdir().unwrap();
        let dir = tmp2.path().to_path_buf();
        std::mem::forget(tmp2);
        Log::open(
            &dir,
            LogConfig {
                segment_ms: 1_000,
                ..LogConfig::default()
            },
            5_000,
        )
        .unwrap()
    };
    append_all(&mut log2, &[batch(1, -1, 10)], 5_500);
    append_all(&mut log2, &[batch(1, -1, 10)], 6_000);
    assert_eq!(log2.segment_count(), 1);
    append_all(&mut log2, &[batch(1, -1, 10)], 6_001);
    assert_eq!(log2.segment_count(), 2);
    std::fs::remove_dir_all(log2.dir()).unwrap();
}

#[test]
fn rejects_malformed_batches_without_changing_the_log() {
    let tmp = tempfile::tempdir().unwrap();
    let mut log = Log::open(tmp.path(), LogConfig::default(), 0).unwrap();
    let good = batch(2, 5, 10);
    let mut two = [good.clone(), good.clone()].concat();
    let mut short = good[..good.len() - 1].to_vec();
    let mut tiny = good[..20].to_vec();
    let mut bad_magic = good.clone();
    bad_magic[16] = 1;
    for b in [&mut two, &mut short, &mut tiny, &mut bad_magic] {
        assert!(matches!(
            log.append(b, 0),
            Err(StorageError::InvalidBatch(_))
        ));
    }
    assert_eq!(log.log_end_offset(), 0);
    assert_eq!(log.size_bytes(), 0);
}

#[test]
fn offset_for_timestamp_finds_first_record_at_or_after() {
    let tmp = tempfile::tempdir().unwrap();
    let mut log = Log::open(tmp.path(), small_config(400), 0).unwrap();
    // Records (offset, timestamp) with timestamps that go up, down and repeat.
    let specs: Vec<Vec<i64>> = vec![
        vec![100, 105, 103],
        vec![110],
        vec![90, 130, 120],
        vec![130, 131],
        vec![125],
        vec![200, 150, 210, 205],
        vec![199],
    ];
    let mut records = Vec::new();
    for ts in &specs {
        let tb = TestBatch {
            timestamps: ts.clone(),
            value: vec![1; 40],
            log_append_time: None,
        };
        let mut b = tb.encode(0);
        let info = log.append(&mut b, 0).unwrap();
        for (i, t) in ts.iter().enumerate() {
            records.push((info.base_offset + i as i64, *t));
        }
    }
    assert!(log.segment_count() > 2);
    let brute =
        |records: &[(i64, i64)], target: i64| records.iter().copied().find(|&(_, t)| t >= target);
    for target in 0..230 {
        let expected = brute(&records, target);
        assert_eq!(
            log.offset_for_timestamp(target).unwrap(),
            expected,
            "target {target}"
        );
    }
    assert_eq!(log.max_timestamp(), Some((12, 210)));

    // LogAppendTime: every record carries the batch's max timestamp.
    let tb = TestBatch {
        timestamps: vec![1, 2, 3],
        value: vec![],
        log_append_time: Some(500),
    };
    let mut b = tb.encode(0);
    let info = log.append(&mut b, 0).unwrap();
    records.extend((0..3).map(|i| (info.base_offset + i, 500)));
    assert_eq!(
        log.offset_for_timestamp(211).unwrap(),
        Some((info.base_offset, 500))
    );
    assert_eq!(log.max_timestamp(), Some((info.base_offset, 500)));
    assert_eq!(log.offset_for_timestamp(501).unwrap(), None);

    // The answers survive a reopen (indexes loaded or rebuilt).
    log.close().unwrap();
    let log = Log::open(tmp.path(), small_config(400), 0).unwrap();
    for target in 0..600 {
        let expected = brute(&records, target);
        assert_eq!(
            log.offset_for_timestamp(target).unwrap(),
            expected,
            "target {target}"
        );
    }
    assert_eq!(log.max_timestamp(), Some((info.base_offset, 500)));
}

#[test]
fn truncate_to_drops_whole_batches_and_appends_continue() {
    let tmp = tempfile::tempdir().unwrap();
    let mut log = Log::open(tmp.path(), small_config(600), 0).unwrap();
    let stored = append_all(&mut log, &varied_batches(40), 0);
    let hs = headers(&stored.concat());
    let segs_before = log.segment_count();
    let target = log.sync_target().unwrap();
    log.mark_synced(target.sync().unwrap());
    assert_eq!(log.recovery_point(), log.log_end_offset());

    // Into the middle of a batch in an early segment: that batch goes too.
    let victim = hs[7];
    let target = victim.base_offset + i64::from(victim.last_offset_delta).min(1);
    log.truncate_to(target).unwrap();
    assert_eq!(log.log_end_offset(), victim.base_offset);
    assert!(log.segment_count() < segs_before);
    assert_eq!(log.recovery_point(), victim.base_offset);
    assert_eq!(read_all(&log), stored[..7].concat());
    let more = append_all(&mut log, &varied_batches(5), 0);
    assert_eq!(headers(&more[0])[0].base_offset, victim.base_offset);
    let expected = [stored[..7].concat(), more.concat()].concat();
    assert_eq!(read_all(&log), expected);

    // Truncation is persistent.
    drop(log);
    let mut log = Log::open(tmp.path(), small_config(600), 0).unwrap();
    assert_eq!(read_all(&log), expected);
    log.truncate_to(log.log_end_offset() + 10).unwrap();
    assert_eq!(read_all(&log), expected);

    // To the start, and below the log start: empty, restarted at the offset.
    log.truncate_to(0).unwrap();
    assert_eq!((log.log_start_offset(), log.log_end_offset()), (0, 0));
    assert_eq!(log.segment_count(), 1);
    append_all(&mut log, &varied_batches(20), 0);
    log.delete_segments_before(15).unwrap();
    let start = log.log_start_offset();
    assert!(start > 0);
    log.truncate_to(start - 1).unwrap();
    assert_eq!(
        (log.log_start_offset(), log.log_end_offset()),
        (start - 1, start - 1)
    );
    let more = append_all(&mut log, &varied_batches(3), 0);
    assert_eq!(headers(&more[0])[0].base_offset, start - 1);
    drop(log);
    let log = Log::open(tmp.path(), small_config(600), 0).unwrap();
    assert_eq!(log.log_start_offset(), start - 1);
    assert_eq!(read_all(&log), more.concat());
}

#[test]
fn delete_segments_before_advances_log_start() {
    let tmp = tempfile::tempdir().unwrap();
    let mut log = Log::open(tmp.path(), small_config(500), 0).unwrap();
    let stored = append_all(&mut log, &varied_batches(40), 0);
    let bases = segment_bases(tmp.path());
    assert!(bases.len() > 3);
    assert_eq!(log.delete_segments_before(bases[1] - 1).unwrap(), 0);
    assert_eq!(log.delete_segments_before(bases[2]).unwrap(), 2);
    assert_eq!(log.log_start_offset(), bases[2]);
    assert_eq!(segment_bases(tmp.path()), bases[2..]);
    assert!(matches!(
        log.read(bases[2] - 1, 100, i64::MAX, true),
        Err(StorageError::OffsetOutOfRange { .. })
    ));
    let all = stored.concat();
    let kept_from = headers(&all)
        .iter()
        .take_while(|h| h.base_offset < bases[2])
        .map(|h| h.total_len())
        .sum::<usize>();
    assert_eq!(read_all(&log), all[kept_from..]);

    // The active segment stays unless rolled first.
    let end = log.log_end_offset();
    log.delete_segments_before(end).unwrap();
    assert_eq!(log.segment_count(), 1);
    log.roll(0).unwrap();
    assert_eq!(log.delete_segments_before(end).unwrap(), 1);
    assert_eq!((log.log_start_offset(), log.log_end_offset()), (end, end));
    assert!(log.read(end, 100, i64::MAX, true).unwrap().bytes.is_empty());
    drop(log);
    let mut log = Log::open(tmp.path(), small_config(500), 0).unwrap();
    assert_eq!((log.log_start_offset(), log.log_end_offset()), (end, end));
    let info = log.append(&mut batch(1, 1, 1), 0).unwrap();
    assert_eq!(info.base_offset, end);
}

#[test]
fn sync_target_taken_before_a_truncation_is_not_trusted() {
    let tmp = tempfile::tempdir().unwrap();
    let mut log = Log::open(tmp.path(), small_config(500), 0).unwrap();
    append_all(&mut log, &varied_batches(10), 0);
    let synced = log.sync_target().unwrap();
    log.mark_synced(synced.sync().unwrap());
    let end0 = log.log_end_offset();
    append_all(&mut log, &varied_batches(10), 0);
    let stale = log.sync_target().unwrap();
    let stale_upto = stale.sync().unwrap();
    log.truncate_to(end0 + 1).unwrap();
    assert!(log.log_end_offset() >= end0);
    assert_eq!(log.recovery_point(), end0);
    append_all(&mut log, &varied_batches(10), 0);
    assert!(log.log_end_offset() > stale_upto);
    // The stale target synced the old tail, not the new batches at the same offsets.
    log.mark_synced(stale_upto);
    assert_eq!(log.recovery_point(), end0);
    let fresh = log.sync_target().unwrap();
    log.mark_synced(fresh.sync().unwrap());
    assert_eq!(log.recovery_point(), log.log_end_offset());
}

#[test]
fn flush_and_close_persist_the_recovery_point() {
    let tmp = tempfile::tempdir().unwrap();
    let mut log = Log::open(tmp.path(), small_config(500), 0).unwrap();
    append_all(&mut log, &varied_batches(10), 0);
    log.flush().unwrap();
    let end = log.log_end_offset();
    assert_eq!(log.recovery_point(), end);
    append_all(&mut log, &varied_batches(3), 0);
    drop(log);
    let log = Log::open(tmp.path(), small_config(500), 0).unwrap();
    assert_eq!(log.recovery_point(), end);
    assert!(!log.recovery_info().clean_shutdown);
    log.close().unwrap();
    let log = Log::open(tmp.path(), small_config(500), 0).unwrap();
    assert!(log.recovery_info().clean_shutdown);
    assert_eq!(log.recovery_point(), log.log_end_offset());
    drop(log);
    // The clean flag is cleared once read: a crash now is not a clean shutdown.
    let log = Log::open(tmp.path(), small_config(500), 0).unwrap();
    assert!(!log.recovery_info().clean_shutdown);
}

#[test]
fn log_and_sync_target_can_cross_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Log>();
    assert_send_sync::<weir_storage::SyncTarget>();
}

#[test]
fn replicated_batches_keep_their_offsets_and_epochs_follow_truncation() {
    use weir_protocol::record::batch::{set_base_offset, set_partition_leader_epoch};
    use weir_storage::Origin;
    let tmp = tempfile::tempdir().unwrap();
    let mut log = Log::open(tmp.path(), small_config(600), 0).unwrap();
    // A leader's log with a gap (compaction removed offsets 3..5), epochs 1 then 4.
    let mut at = |base: i64, epoch: i32, records: usize| {
        let mut b = batch(records, 1_000, 20);
        set_base_offset(&mut b, base);
        set_partition_leader_epoch(&mut b, epoch);
        log.append_from(&mut b, Origin::Replica, 0).unwrap()
    };
    assert_eq!(at(0, 1, 3).base_offset, 0);
    assert_eq!(at(5, 1, 2).base_offset, 5, "a gap is kept, not renumbered");
    assert_eq!(at(7, 4, 3).base_offset, 7);
    assert_eq!(log.log_end_offset(), 10);
    assert_eq!(log.end_offset_for_epoch(1), (1, 7));
    assert_eq!(log.end_offset_for_epoch(3), (1, 7));
    assert_eq!(log.end_offset_for_epoch(4), (4, 10));
    let mut behind = batch(1, 1_000, 20);
    set_base_offset(&mut behind, 9);
    assert!(
        log.append_from(&mut behind, Origin::Replica, 0).is_err(),
        "below the log end"
    );
    assert_eq!(log.log_end_offset(), 10);

    // Truncating the divergent tail forgets its epoch, on disk too.
    log.truncate_to(7).unwrap();
    assert_eq!(log.end_offset_for_epoch(4), (-1, -1));
    drop(log);
    let log = Log::open(tmp.path(), small_config(600), 0).unwrap();
    assert_eq!(log.log_end_offset(), 7);
    assert_eq!(log.end_offset_for_epoch(1), (1, 7));
    assert_eq!(log.leader_epochs().entries().len(), 1);
}
