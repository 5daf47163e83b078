//! Producer state in a `Log`: duplicate retries, sequence and epoch errors, transactions, the
//! last stable offset and the aborted-transaction index, each across a clean reopen, a
//! crash (the log dropped without closing) and a truncation.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure

mod common;

use std::fs;

use common::small_config;
use weir_protocol::record::builder::BatchBuilder;
use weir_protocol::record::control::end_txn_marker_batch;
use weir_protocol::record::Compression;
use weir_storage::{AbortedTxn, Log, Origin, ProducerError, StorageError};

/// A batch of `count` records from producer `pid` at `epoch`, starting at sequence `seq`.
fn idem(pid: i64, epoch: i16, seq: i32, count: usize) -> Vec<u8> {
    build(pid, epoch, seq, count, false)
}

/// The same, inside a transaction.
fn txn(pid: i64, epoch: i16, seq: i32, count: usize) -> Vec<u8> {
    build(pid, epoch, seq, count, true)
}

fn build(pid: i64, epoch: i16, seq: i32, count: usize, transactional: bool) -> Vec<u8> {
    let mut b = BatchBuilder::new(Compression::None, 1_000);
    b.set_producer(pid, epoch, seq);
    b.set_transactional(transactional);
    for i in 0..count {
        b.push(None, Some(format!("v{seq}-{i}").as_bytes()), &[], 1_000)
            .unwrap();
    }
    b.build().unwrap().to_vec()
}

fn marker(pid: i64, epoch: i16, commit: bool, coordinator_epoch: i32) -> Vec<u8> {
    end_txn_marker_batch(pid, epoch, commit, coordinator_epoch, 2_000)
        .unwrap()
        .to_vec()
}

fn append(log: &mut Log, mut b: Vec<u8>) -> Result<(i64, bool), StorageError> {
    log.append(&mut b, 0).map(|i| (i.base_offset, i.duplicate))
}

fn coordinator(log: &mut Log, mut b: Vec<u8>, epoch: i32) -> Result<i64, StorageError> {
    log.append_from(
        &mut b,
        Origin::Coordinator {
            coordinator_epoch: epoch,
        },
        0,
    )
    .map(|i| i.base_offset)
}

fn producer_error(r: Result<(i64, bool), StorageError>) -> ProducerError {
    match r {
        Err(StorageError::Producer(e)) => e,
        other => panic!("expected a producer error, got {other:?}"),
    }
}

/// How the log is reopened in a test.
#[derive(Clone, Copy, Debug)]
enum Reopen {
    Clean,
    Crash,
}

fn reopen(log: Log, how: Reopen) -> Log {
    let dir = log.dir().to_path_buf();
    let config = log.config().clone();
    match how {
        Reopen::Clean => log.close().unwrap(),
        // A crash after every append was fsynced: nothing is cut off, but no snapshot or
        // clean-shutdown checkpoint was written.
        Reopen::Crash => {
            let mut log = log;
            if let Some(t) = log.sync_target() {
                let upto = t.sync().unwrap();
                log.mark_synced(upto);
            }
            drop(log);
        }
    }
    Log::open(&dir, config, 0).unwrap()
}

#[test]
fn retries_are_answered_with_their_offsets_across_reopens() {
    for how in [Reopen::Clean, Reopen::Crash] {
        let tmp = tempfile::tempdir().unwrap();
        // Small segments, so the log rolls (and snapshots) along the way.
        let mut log = Log::open(tmp.path(), small_config(400), 0).unwrap();
        let mut offsets = Vec::new();
        for seq in (0..30).step_by(3) {
            offsets.push(append(&mut log, idem(7, 0, seq, 3)).unwrap());
        }
        assert!(log.segment_count() > 2);
        let end = log.log_end_offset();
        // A retry of any of the last five batches is a duplicate, not stored again.
        assert_eq!(append(&mut log, idem(7, 0, 27, 3)).unwrap(), (27, true));
        assert_eq!(append(&mut log, idem(7, 0, 15, 3)).unwrap(), (15, true));
        assert_eq!(log.log_end_offset(), end);

        let mut log = reopen(log, how);
        assert_eq!(log.log_end_offset(), end, "{how:?}");
        assert_eq!(
            append(&mut log, idem(7, 0, 27, 3)).unwrap(),
            (27, true),
            "{how:?}"
        );
        assert_eq!(
            append(&mut log, idem(7, 0, 18, 3)).unwrap(),
            (18, true),
            "{how:?}"
        );
        assert!(matches!(
            producer_error(append(&mut log, idem(7, 0, 40, 1))),
            ProducerError::OutOfOrderSequence { last_seq: 29, .. }
        ));
        assert!(matches!(
            producer_error(append(&mut log, idem(7, -1, 30, 1))),
            ProducerError::InvalidProducerEpoch { current: 0, .. }
        ));
        assert_eq!(append(&mut log, idem(7, 0, 30, 2)).unwrap(), (end, false));
        // A bumped epoch starts again at sequence 0.
        assert!(matches!(
            producer_error(append(&mut log, idem(7, 1, 32, 1))),
            ProducerError::OutOfOrderSequence { .. }
        ));
        assert!(!append(&mut log, idem(7, 1, 0, 1)).unwrap().1);
    }
}

#[test]
fn torn_snapshots_are_passed_over() {
    let tmp = tempfile::tempdir().unwrap();
    let mut log = Log::open(tmp.path(), small_config(400), 0).unwrap();
    for seq in (0..30).step_by(3) {
        append(&mut log, idem(3, 2, seq, 3)).unwrap();
    }
    log.close().unwrap();
    let mut snapshots: Vec<_> = fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "snapshot"))
        .collect();
    snapshots.sort();
    assert_eq!(snapshots.len(), 2, "the newest two are kept: {snapshots:?}");
    for p in &snapshots {
        let mut b = fs::read(p).unwrap();
        let n = b.len();
        b.truncate(n / 2);
        fs::write(p, b).unwrap();
    }
    let mut log = Log::open(tmp.path(), small_config(400), 0).unwrap();
    assert_eq!(append(&mut log, idem(3, 2, 27, 3)).unwrap(), (27, true));
    assert_eq!(log.producer_state().get(3).unwrap().epoch, 2);
}

#[test]
fn transactions_bound_the_stable_offset_and_aborts_are_indexed() {
    for how in [Reopen::Clean, Reopen::Crash] {
        let tmp = tempfile::tempdir().unwrap();
        let mut log = Log::open(tmp.path(), small_config(600), 0).unwrap();
        append(&mut log, idem(9, 0, 0, 2)).unwrap(); // 0-1, plain
        append(&mut log, txn(1, 0, 0, 2)).unwrap(); // 2-3, txn of 1
        append(&mut log, txn(2, 0, 0, 1)).unwrap(); // 4, txn of 2
        append(&mut log, txn(1, 0, 2, 2)).unwrap(); // 5-6
        let hw = log.log_end_offset();
        log.on_high_watermark(hw);
        assert_eq!(log.last_stable_offset(hw), 2);
        // A plain write from producer 1 while its transaction is open is refused.
        assert!(matches!(
            producer_error(append(&mut log, idem(1, 0, 4, 1))),
            ProducerError::InvalidTxnState {
                txn_first_offset: 2,
                ..
            }
        ));
        // Producers may not write markers; coordinators may.
        assert!(matches!(
            append(&mut log, marker(1, 0, false, 0)),
            Err(StorageError::InvalidBatch(_))
        ));
        assert_eq!(coordinator(&mut log, marker(1, 0, false, 3), 3).unwrap(), 7);
        // Undecided until the high watermark passes the marker.
        assert_eq!(log.last_stable_offset(7), 2);
        log.on_high_watermark(8);
        assert_eq!(log.last_stable_offset(8), 4);
        let aborted = AbortedTxn {
            producer_id: 1,
            first_offset: 2,
            last_offset: 7,
            last_stable_offset: 4,
        };
        assert_eq!(log.aborted_transactions(0, 8), vec![aborted]);
        assert_eq!(log.aborted_transactions(8, 9), vec![]);
        assert_eq!(log.aborted_transactions(0, 2), vec![]);
        // A marker from an older coordinator epoch is fenced.
        assert!(matches!(
            coordinator(&mut log, marker(1, 0, true, 2), 2),
            Err(StorageError::Producer(ProducerError::CoordinatorFenced {
                current: 3,
                ..
            }))
        ));
        assert_eq!(coordinator(&mut log, marker(2, 0, true, 3), 3).unwrap(), 8);
        append(&mut log, txn(5, 0, 0, 1)).unwrap(); // 9: stays open
        for i in 0..12 {
            // Fill a few segments with later aborted transactions of producer 6.
            let at = append(&mut log, txn(6, 0, i, 1)).unwrap().0;
            coordinator(&mut log, marker(6, 0, false, 3), 3).unwrap();
            assert!(log
                .aborted_transactions(at, at + 1)
                .iter()
                .any(|t| t.first_offset == at));
        }
        let end = log.log_end_offset();
        log.on_high_watermark(end);
        assert_eq!(log.last_stable_offset(end), 9);
        let before = log.aborted_transactions(0, end);
        assert_eq!(before.len(), 13);
        assert!(log.segment_count() > 2);

        let mut log = reopen(log, how);
        log.on_high_watermark(end);
        assert_eq!(log.aborted_transactions(0, end), before, "{how:?}");
        assert_eq!(
            log.last_stable_offset(end),
            9,
            "{how:?}: producer 5's transaction is open"
        );
        coordinator(&mut log, marker(5, 0, true, 3), 3).unwrap();
        let end = log.log_end_offset();
        log.on_high_watermark(end);
        assert_eq!(log.last_stable_offset(end), end);
    }
}

#[test]
fn truncation_forgets_what_it_cut() {
    let tmp = tempfile::tempdir().unwrap();
    let mut log = Log::open(tmp.path(), small_config(1 << 20), 0).unwrap();
    append(&mut log, txn(1, 0, 0, 2)).unwrap(); // 0-1
    coordinator(&mut log, marker(1, 0, false, 0), 0).unwrap(); // 2
    append(&mut log, txn(1, 0, 2, 1)).unwrap(); // 3
    append(&mut log, idem(4, 0, 0, 1)).unwrap(); // 4
    if let Some(t) = log.sync_target() {
        log.mark_synced(t.sync().unwrap());
    }
    assert_eq!(log.aborted_transactions(0, 5).len(), 1);
    log.truncate_to(2).unwrap();
    assert_eq!(log.log_end_offset(), 2);
    assert_eq!(log.aborted_transactions(0, 5), vec![]);
    // Producer 1's transaction is open again from offset 0; producer 4 never wrote.
    assert_eq!(log.last_stable_offset(2), 0);
    assert!(log.producer_state().get(4).is_none());
    assert_eq!(append(&mut log, txn(1, 0, 2, 1)).unwrap(), (2, false));
}
