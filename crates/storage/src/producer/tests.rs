use super::*;

pub(crate) fn header(pid: i64, epoch: i16, seq: i32, count: i32) -> BatchHeader {
    BatchHeader {
        base_offset: 0,
        batch_length: 0,
        partition_leader_epoch: 0,
        magic: 2,
        crc: 0,
        attributes: 0,
        last_offset_delta: count - 1,
        base_timestamp: 0,
        max_timestamp: 0,
        producer_id: pid,
        producer_epoch: epoch,
        base_sequence: seq,
        record_count: count,
    }
}

fn txn(mut h: BatchHeader) -> BatchHeader {
    h.attributes |= 0x10;
    h
}

fn append(s: &mut ProducerState, h: &BatchHeader, at: i64) -> Result<SequenceCheck, ProducerError> {
    let r = s.check(h)?;
    if r == SequenceCheck::Append {
        s.update(h, at, at + i64::from(h.last_offset_delta));
    }
    Ok(r)
}

#[test]
fn in_order_batches_append_and_retries_are_duplicates() {
    let mut s = ProducerState::new();
    assert_eq!(
        append(&mut s, &header(7, 0, 0, 3), 0),
        Ok(SequenceCheck::Append)
    );
    assert_eq!(
        append(&mut s, &header(7, 0, 3, 2), 3),
        Ok(SequenceCheck::Append)
    );
    let dup = append(&mut s, &header(7, 0, 0, 3), 99).unwrap();
    assert_eq!(
        dup,
        SequenceCheck::Duplicate(BatchMeta {
            first_seq: 0,
            last_seq: 2,
            base_offset: 0,
            last_offset: 2,
            max_timestamp: 0
        })
    );
    // Only the last five batches are remembered.
    for i in 0..5 {
        append(&mut s, &header(7, 0, 5 + i, 1), 5 + i64::from(i)).unwrap();
    }
    assert!(matches!(
        append(&mut s, &header(7, 0, 0, 3), 99),
        Err(ProducerError::OutOfOrderSequence { .. })
    ));
}

#[test]
fn gaps_stale_epochs_and_new_epochs() {
    let mut s = ProducerState::new();
    append(&mut s, &header(1, 2, 0, 1), 0).unwrap();
    assert!(matches!(
        append(&mut s, &header(1, 2, 5, 1), 1),
        Err(ProducerError::OutOfOrderSequence { last_seq: 0, .. })
    ));
    assert!(matches!(
        append(&mut s, &header(1, 1, 1, 1), 1),
        Err(ProducerError::InvalidProducerEpoch { current: 2, .. })
    ));
    assert!(matches!(
        append(&mut s, &header(1, 3, 4, 1), 1),
        Err(ProducerError::OutOfOrderSequence { .. })
    ));
    assert_eq!(
        append(&mut s, &header(1, 3, 0, 1), 1),
        Ok(SequenceCheck::Append)
    );
    assert_eq!(s.get(1).unwrap().epoch, 3);
    // Unknown producers, non-idempotent batches: anything goes.
    assert_eq!(
        append(&mut s, &header(2, 0, 40, 1), 2),
        Ok(SequenceCheck::Append)
    );
    assert_eq!(
        append(&mut s, &header(-1, -1, -1, 1), 3),
        Ok(SequenceCheck::Append)
    );
}

#[test]
fn sequences_wrap_and_retention_forgets() {
    let mut s = ProducerState::new();
    append(&mut s, &header(1, 0, i32::MAX - 1, 2), 0).unwrap();
    assert_eq!(s.get(1).unwrap().batches[0].last_seq, i32::MAX);
    assert_eq!(
        append(&mut s, &header(1, 0, 0, 1), 2),
        Ok(SequenceCheck::Append)
    );
    s.drop_before(2);
    assert_eq!(s.get(1).unwrap().batches.len(), 1);
    s.drop_before(3);
    assert!(s.is_empty());
}

#[test]
fn transactions_hold_the_stable_offset_until_decided() {
    let mut s = ProducerState::new();
    append(&mut s, &txn(header(1, 0, 0, 2)), 10).unwrap();
    append(&mut s, &txn(header(2, 0, 0, 1)), 12).unwrap();
    append(&mut s, &txn(header(1, 0, 2, 1)), 13).unwrap();
    assert_eq!(s.first_undecided_offset(), Some(10));
    assert_eq!(s.ongoing().collect::<Vec<_>>(), vec![(10, 1), (12, 2)]);
    // A plain write from a producer with an open transaction is refused.
    assert!(matches!(
        s.check(&header(1, 0, 3, 1)),
        Err(ProducerError::InvalidTxnState {
            txn_first_offset: 10,
            ..
        })
    ));
    let marker = txn(header(1, 0, -1, 1));
    assert_eq!(s.check_marker(&marker, 0), Ok(()));
    let done = s.update_marker(&marker, 14, true, 0).unwrap();
    assert_eq!(
        done,
        CompletedTxn {
            producer_id: 1,
            first_offset: 10,
            last_offset: 14,
            aborted: true
        }
    );
    // Decided only once the high watermark passes the marker.
    assert_eq!(s.first_undecided_offset(), Some(10));
    s.on_high_watermark(15);
    assert_eq!(s.first_undecided_offset(), Some(12));
    // An older coordinator or producer epoch may not end it.
    let m2 = txn(header(2, 0, -1, 1));
    s.update_marker(&m2, 15, false, 5);
    assert!(matches!(
        s.check_marker(&txn(header(2, 1, -1, 1)), 4),
        Err(ProducerError::CoordinatorFenced { current: 5, .. })
    ));
    assert!(matches!(
        s.check_marker(&txn(header(1, -1, -1, 1)), 9),
        Err(ProducerError::InvalidProducerEpoch { .. })
    ));
    s.on_high_watermark(16);
    assert_eq!(s.first_undecided_offset(), None);
    // A marker for a producer with nothing open here ends nothing.
    assert_eq!(s.update_marker(&m2, 16, false, 5), None);
}

#[test]
fn expiry_keeps_producers_with_open_transactions() {
    let mut s = ProducerState::new();
    let mut old = header(1, 0, 0, 1);
    old.max_timestamp = 100;
    append(&mut s, &old, 0).unwrap();
    let mut open = txn(header(2, 0, 0, 1));
    open.max_timestamp = 100;
    append(&mut s, &open, 1).unwrap();
    let mut new = header(3, 0, 0, 1);
    new.max_timestamp = 500;
    append(&mut s, &new, 2).unwrap();
    assert_eq!(s.expire(200), 1);
    assert!(s.get(1).is_none() && s.get(2).is_some() && s.get(3).is_some());
}
