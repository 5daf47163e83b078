//! A follower's log against its leader's batches: a leader batch that straddles the
//! follower's log end (the logs diverge with different batch boundaries) cuts the follower
//! back and is then appended, instead of failing the same append forever.

#![allow(clippy::unwrap_used)]

mod common;

use weir_broker::partition::{Partition, PartitionSettings};
use weir_storage::{CompactionPolicy, Log, LogConfig, RetentionPolicy};

/// A batch of `n` records at `base_offset`, stamped with leader epoch `epoch`.
fn batch_at(base_offset: i64, epoch: i32, prefix: &str, n: usize) -> Vec<u8> {
    let mut v = common::batch(prefix, n).to_vec();
    // baseOffset and partitionLeaderEpoch lie outside the CRC.
    v[0..8].copy_from_slice(&base_offset.to_be_bytes());
    v[12..16].copy_from_slice(&epoch.to_be_bytes());
    v
}

fn partition(dir: &std::path::Path) -> Partition {
    let log = Log::open(&dir.join("t-0"), LogConfig::default(), 0).unwrap();
    let settings = PartitionSettings {
        max_message_bytes: 1 << 20,
        log_append_time: false,
        delete: true,
        compact: false,
        retention: RetentionPolicy {
            retention_ms: -1,
            retention_bytes: -1,
        },
        compaction: CompactionPolicy::default(),
        min_insync_replicas: 1,
    };
    Partition::new(2, "t".into(), [7; 16], 0, log, settings)
}

#[test]
fn a_straddling_leader_batch_cuts_the_divergent_tail_then_appends() {
    let dir = tempfile::tempdir().unwrap();
    let p = partition(dir.path());
    // What an old leader wrote here: offsets 0..1 in epoch 0.
    let mut old = batch_at(0, 0, "old", 2);
    assert_eq!(p.append_replicated(&mut old, 0, 0).unwrap(), 1);
    assert_eq!(p.log().log_end_offset(), 2);

    // The new leader's log has one batch 0..4 in epoch 1: it starts below our log end and
    // ends past it.
    let leader = batch_at(0, 1, "new", 5);
    let mut first = leader.clone();
    assert_eq!(
        p.append_replicated(&mut first, 0, 0).unwrap(),
        0,
        "cut, nothing appended"
    );
    assert_eq!(p.log().log_end_offset(), 0);
    // The next fetch asks from the new end and gets the leader's batch whole.
    let mut again = leader.clone();
    assert_eq!(p.append_replicated(&mut again, 5, 0).unwrap(), 1);
    assert_eq!(p.log().log_end_offset(), 5);
    let read = p.read_to_end(0, 1 << 20).unwrap();
    assert_eq!(&read.bytes[..], &leader[..], "exactly the leader's batch");
}

#[test]
fn batches_wholly_below_the_log_end_are_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let p = partition(dir.path());
    let mut a = batch_at(0, 0, "a", 3);
    let mut b = batch_at(3, 0, "b", 3);
    let mut both = [a.clone(), b.clone()].concat();
    assert_eq!(p.append_replicated(&mut a, 0, 0).unwrap(), 1);
    assert_eq!(
        p.append_replicated(&mut both, 0, 0).unwrap(),
        1,
        "only the new one"
    );
    assert_eq!(p.log().log_end_offset(), 6);
    assert_eq!(p.append_replicated(&mut b, 0, 0).unwrap(), 0);
}
