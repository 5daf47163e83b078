//! Retention by time and size, the log start offset, and DeleteRecords.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure

mod common;

use common::batch::batch;
use common::{append_all, small_config};
use weir_storage::{Log, RetentionPolicy, StorageError};

/// A log of 10 segments, each of one batch of 5 records stamped 1000 * (segment + 1).
fn ten_segments(dir: &std::path::Path) -> Log {
    let mut log = Log::open(dir, small_config(400), 0).unwrap();
    for i in 0..10i64 {
        // ~330 bytes each, so every batch rolls a new segment.
        let mut b = batch(5, 1_000 * (i + 1), 50);
        log.append(&mut b, 0).unwrap();
    }
    assert_eq!(log.segment_count(), 10);
    log
}

fn out_of_range(log: &Log, offset: i64) -> bool {
    matches!(
        log.read(offset, 1 << 20, i64::MAX, true),
        Err(StorageError::OffsetOutOfRange { .. })
    )
}

#[test]
fn time_retention_deletes_old_segments_and_moves_the_log_start() {
    let tmp = tempfile::tempdir().unwrap();
    let mut log = ten_segments(tmp.path());
    let end = log.log_end_offset();
    let policy = RetentionPolicy {
        retention_ms: 5_000,
        retention_bytes: -1,
    };
    // At 8_500 the segments stamped 1000..3000 are more than 5 s old.
    assert_eq!(log.enforce_retention(&policy, end, 8_500).unwrap(), 3);
    assert_eq!(log.log_start_offset(), 15);
    assert!(out_of_range(&log, 14));
    assert!(!out_of_range(&log, 15));
    // Nothing more is due until time passes; -1 keeps everything.
    assert_eq!(log.enforce_retention(&policy, end, 8_500).unwrap(), 0);
    assert_eq!(
        log.enforce_retention(&RetentionPolicy::FOREVER, end, i64::MAX)
            .unwrap(),
        0
    );
    // Never past the high watermark.
    assert_eq!(log.enforce_retention(&policy, 30, 100_000).unwrap(), 3);
    assert_eq!(log.log_start_offset(), 30);
    // Everything due: the active segment is rolled and goes too.
    assert_eq!(log.enforce_retention(&policy, end, 100_000).unwrap(), 4);
    assert_eq!((log.log_start_offset(), log.log_end_offset()), (end, end));
    assert_eq!(log.segment_count(), 1);
    let dir = log.dir().to_path_buf();
    log.close().unwrap();
    let log = Log::open(&dir, small_config(400), 0).unwrap();
    assert_eq!((log.log_start_offset(), log.log_end_offset()), (end, end));
}

#[test]
fn size_retention_keeps_at_least_retention_bytes() {
    let tmp = tempfile::tempdir().unwrap();
    let mut log = ten_segments(tmp.path());
    let seg = log.size_bytes() / 10;
    let end = log.log_end_offset();
    let policy = RetentionPolicy {
        retention_ms: -1,
        retention_bytes: (seg * 4 + seg / 2) as i64,
    };
    // Deleting 5 leaves 5 segments >= 4.5; deleting a sixth would leave less.
    assert_eq!(log.enforce_retention(&policy, end, 0).unwrap(), 5);
    assert_eq!(log.log_start_offset(), 25);
    assert!(log.size_bytes() as i64 >= policy.retention_bytes);
    append_all(&mut log, &[batch(1, 1, 10)], 0);
    assert_eq!(
        log.read(25, 1 << 20, i64::MAX, true).unwrap().next_offset,
        30
    );
}

#[test]
fn delete_records_moves_the_log_start_and_survives_a_restart() {
    let tmp = tempfile::tempdir().unwrap();
    let mut log = ten_segments(tmp.path());
    let end = log.log_end_offset();
    assert!(matches!(
        log.delete_records_before(end + 1, end),
        Err(StorageError::OffsetOutOfRange { .. })
    ));
    assert!(matches!(
        log.delete_records_before(20, 10),
        Err(StorageError::OffsetOutOfRange { .. })
    ));
    assert_eq!(log.delete_records_before(12, end).unwrap(), 12);
    assert_eq!(log.segment_count(), 8, "segments wholly below 12 are gone");
    assert!(out_of_range(&log, 11));
    // The first readable batch still starts at 10: a fetch from 12 returns it whole.
    assert_eq!(
        log.read(12, 1 << 20, i64::MAX, true).unwrap().next_offset,
        15
    );
    // Moving backwards changes nothing.
    assert_eq!(log.delete_records_before(5, end).unwrap(), 12);
    drop(log); // no clean close: the checkpoint written by DeleteRecords is what survives
    let log = Log::open(tmp.path(), small_config(400), 0).unwrap();
    assert_eq!(log.log_start_offset(), 12);
    assert!(out_of_range(&log, 11));
    // Time retention after it counts from the first remaining segment.
    let mut log = log;
    let policy = RetentionPolicy {
        retention_ms: 0,
        retention_bytes: -1,
    };
    assert_eq!(log.enforce_retention(&policy, 15, 1_000_000).unwrap(), 1);
    assert_eq!(log.log_start_offset(), 15);
}
