use super::*;

fn offsets(range: std::ops::Range<i64>) -> Vec<Candidate> {
    range
        .map(|offset| Candidate {
            offset,
            deliver_at: None,
        })
        .collect()
}

fn settings() -> ShareSettings {
    ShareSettings {
        lock_duration_ms: 1_000,
        delivery_count_limit: 3,
        max_in_flight: 100,
        retry_backoff_ms: 0,
        retry_backoff_max_ms: 60_000,
        dead_letter: false,
        renew_enabled: true,
    }
}

fn ack(first: i64, last: i64, kind: AckType) -> AckBatch {
    let code = match kind {
        AckType::Gap => 0,
        AckType::Accept => 1,
        AckType::Release => 2,
        AckType::Reject => 3,
        AckType::Renew => 4,
    };
    AckBatch {
        first,
        last,
        types: vec![code],
    }
}

#[test]
fn two_members_get_different_records_and_accepts_move_the_start() {
    let s = settings();
    let mut p = SharePartition::new(0);
    let a = p.acquire("a", &offsets(0..10), 4, 0, 0, &s);
    assert_eq!(
        a,
        vec![AcquiredRange {
            first: 0,
            last: 3,
            delivery_count: 1
        }]
    );
    // The second member reads from the first acquirable offset, skipping what "a" holds.
    assert_eq!(p.fetch_offset(0), 4);
    let b = p.acquire("b", &offsets(4..10), 100, 0, 0, &s);
    assert_eq!(
        b,
        vec![AcquiredRange {
            first: 4,
            last: 9,
            delivery_count: 1
        }]
    );
    assert_eq!(p.start_offset(), 0);
    p.acknowledge("b", &[ack(4, 9, AckType::Accept)], 0, &s)
        .unwrap();
    assert_eq!(p.start_offset(), 0, "0..3 are still held");
    p.acknowledge("a", &[ack(0, 3, AckType::Accept)], 0, &s)
        .unwrap();
    assert_eq!(p.start_offset(), 10);
    assert_eq!(p.in_flight(), 0);
}

#[test]
fn an_expired_lock_redelivers_with_a_higher_count_and_the_limit_archives() {
    let s = settings();
    let mut p = SharePartition::new(0);
    p.acquire("a", &offsets(0..1), 10, 0, 0, &s);
    assert!(p.expire_locks(999, &s).is_empty());
    assert_eq!(p.state_of(0), Some((DeliveryState::Acquired, 1)));
    assert!(p.expire_locks(1_000, &s).is_empty());
    assert_eq!(p.state_of(0), Some((DeliveryState::Available, 1)));
    let again = p.acquire("b", &offsets(0..1), 10, 0, 1_000, &s);
    assert_eq!(again[0].delivery_count, 2);
    p.acknowledge("b", &[ack(0, 0, AckType::Release)], 1_000, &s)
        .unwrap();
    p.acquire("c", &offsets(0..1), 10, 0, 1_000, &s);
    let archived = p.expire_locks(5_000, &s);
    assert_eq!(
        archived,
        vec![Archived {
            offset: 0,
            delivery_count: 3,
            reason: ArchiveReason::DeliveryLimit
        }]
    );
    assert_eq!(p.start_offset(), 1);
}

#[test]
fn reject_archives_and_renew_extends_the_lock() {
    let s = settings();
    let mut p = SharePartition::new(0);
    p.acquire("a", &offsets(0..2), 10, 0, 0, &s);
    let archived = p
        .acknowledge("a", &[ack(0, 0, AckType::Reject)], 10, &s)
        .unwrap();
    assert_eq!(archived[0].reason, ArchiveReason::Rejected);
    p.acknowledge("a", &[ack(1, 1, AckType::Renew)], 900, &s)
        .unwrap();
    p.expire_locks(1_500, &s);
    assert_eq!(
        p.state_of(1),
        Some((DeliveryState::Acquired, 1)),
        "renewed at 900"
    );
    p.expire_locks(1_900, &s);
    assert_eq!(p.state_of(1), Some((DeliveryState::Available, 1)));
}

#[test]
fn renewals_are_refused_when_the_group_turned_them_off() {
    let s = ShareSettings {
        renew_enabled: false,
        ..settings()
    };
    let mut p = SharePartition::new(0);
    p.acquire("a", &offsets(0..2), 10, 0, 0, &s);
    let both = [ack(0, 0, AckType::Accept), ack(1, 1, AckType::Renew)];
    assert_eq!(
        p.acknowledge("a", &both, 900, &s),
        Err(ErrorCode::InvalidRecordState)
    );
    // All or none: the ACCEPT beside it did not apply either, and the lock runs out.
    assert_eq!(p.state_of(0), Some((DeliveryState::Acquired, 1)));
    p.expire_locks(1_500, &s);
    assert_eq!(p.state_of(1), Some((DeliveryState::Available, 1)));
}

#[test]
fn bad_acknowledgements_change_nothing() {
    let s = settings();
    let mut p = SharePartition::new(0);
    p.acquire("a", &offsets(0..5), 10, 0, 0, &s);
    let before = p.clone();
    let not_held = p.acknowledge("b", &[ack(0, 0, AckType::Accept)], 0, &s);
    assert_eq!(not_held, Err(ErrorCode::InvalidRecordState));
    let beyond = p.acknowledge("a", &[ack(3, 7, AckType::Accept)], 0, &s);
    assert_eq!(beyond, Err(ErrorCode::InvalidRequest));
    let overlap = p.acknowledge(
        "a",
        &[ack(0, 2, AckType::Accept), ack(2, 3, AckType::Accept)],
        0,
        &s,
    );
    assert_eq!(overlap, Err(ErrorCode::InvalidRecordState));
    let backwards = p.acknowledge("a", &[ack(3, 1, AckType::Accept)], 0, &s);
    assert_eq!(backwards, Err(ErrorCode::InvalidRequest));
    let wrong_len = AckBatch {
        first: 0,
        last: 2,
        types: vec![1, 1],
    };
    assert_eq!(
        p.acknowledge("a", &[wrong_len], 0, &s),
        Err(ErrorCode::InvalidRequest)
    );
    let unknown = AckBatch {
        first: 0,
        last: 0,
        types: vec![9],
    };
    assert_eq!(
        p.acknowledge("a", &[unknown], 0, &s),
        Err(ErrorCode::InvalidRequest)
    );
    assert_eq!(p, before);
    // Accepting twice: the second finds the record no longer held.
    p.acknowledge("a", &[ack(0, 0, AckType::Accept)], 0, &s)
        .unwrap();
    assert_eq!(
        p.acknowledge("a", &[ack(0, 0, AckType::Accept)], 0, &s),
        Err(ErrorCode::InvalidRecordState)
    );
}

#[test]
fn per_offset_types_apply_each_to_its_record() {
    let s = settings();
    let mut p = SharePartition::new(0);
    p.acquire("a", &offsets(0..3), 10, 0, 0, &s);
    let mixed = AckBatch {
        first: 0,
        last: 2,
        types: vec![1, 2, 3],
    };
    p.acknowledge("a", &[mixed], 0, &s).unwrap();
    assert_eq!(p.start_offset(), 1);
    assert_eq!(p.state_of(1), Some((DeliveryState::Available, 1)));
    assert_eq!(p.state_of(2), Some((DeliveryState::Archived, 1)));
}

#[test]
fn backoff_doubles_per_delivery_up_to_the_cap_while_others_flow() {
    let s = ShareSettings {
        retry_backoff_ms: 100,
        retry_backoff_max_ms: 250,
        ..settings()
    };
    assert_eq!(s.backoff_ms(1), 100);
    assert_eq!(s.backoff_ms(2), 200);
    assert_eq!(s.backoff_ms(3), 250);
    let mut p = SharePartition::new(0);
    p.acquire("a", &offsets(0..2), 10, 0, 0, &s);
    p.acknowledge("a", &[ack(0, 0, AckType::Release)], 0, &s)
        .unwrap();
    p.acknowledge("a", &[ack(1, 1, AckType::Accept)], 0, &s)
        .unwrap();
    // Offset 0 waits; offset 2 onwards is delivered meanwhile.
    assert_eq!(p.fetch_offset(50), 2);
    let later = p.acquire("b", &offsets(0..4), 10, 0, 50, &s);
    assert_eq!(
        later,
        vec![AcquiredRange {
            first: 2,
            last: 3,
            delivery_count: 1
        }]
    );
    assert_eq!(p.next_available_at(50), Some(100));
    assert_eq!(p.fetch_offset(100), 0);
    let again = p.acquire("b", &offsets(0..1), 10, 0, 100, &s);
    assert_eq!(
        again,
        vec![AcquiredRange {
            first: 0,
            last: 0,
            delivery_count: 2
        }]
    );
}

#[test]
fn a_delayed_record_is_acquired_only_at_its_time() {
    let s = settings();
    let mut p = SharePartition::new(0);
    let mut c = offsets(0..3);
    c[1].deliver_at = Some(5_000);
    let got = p.acquire("a", &c, 10, 0, 0, &s);
    assert_eq!(
        got,
        vec![
            AcquiredRange {
                first: 0,
                last: 0,
                delivery_count: 1
            },
            AcquiredRange {
                first: 2,
                last: 2,
                delivery_count: 1
            },
        ]
    );
    assert!(p.acquire("a", &c[1..2], 10, 0, 4_999, &s).is_empty());
    assert_eq!(p.acquire("a", &c[1..2], 10, 0, 5_000, &s)[0].first, 1);
}

#[test]
fn the_in_flight_limit_stops_new_records() {
    let s = ShareSettings {
        max_in_flight: 3,
        ..settings()
    };
    let mut p = SharePartition::new(0);
    assert_eq!(p.acquire("a", &offsets(0..10), 100, 0, 0, &s)[0].last, 2);
    assert!(p.acquire("b", &offsets(3..10), 100, 0, 0, &s).is_empty());
    p.acknowledge("a", &[ack(0, 2, AckType::Accept)], 0, &s)
        .unwrap();
    assert_eq!(p.acquire("b", &offsets(3..10), 100, 0, 0, &s)[0].last, 5);
}

#[test]
fn scheduled_records_do_not_fill_the_in_flight_window() {
    let s = ShareSettings {
        max_in_flight: 3,
        ..settings()
    };
    let mut p = SharePartition::new(0);
    let mut c = offsets(0..12);
    for later in &mut c[..10] {
        later.deliver_at = Some(60_000);
    }
    // Ten records scheduled for later, then two due now: those two are acquired at once.
    let got = p.acquire("a", &c, 100, 0, 0, &s);
    assert_eq!(
        got,
        vec![AcquiredRange {
            first: 10,
            last: 11,
            delivery_count: 1
        }]
    );
    assert_eq!((p.in_flight(), p.scheduled(0)), (12, 10));
    assert!(!p.full(0, &s));
    // When their time comes they count like any other, and the limit holds new records back.
    assert!(p.full(60_000, &s));
    assert_eq!(p.acquire("b", &c, 100, 0, 60_000, &s).len(), 1);
}

#[test]
fn a_restored_record_keeps_its_delivery_time() {
    let s = settings();
    let mut p = SharePartition::new(0);
    let mut c = offsets(0..2);
    c[0].deliver_at = Some(5_000);
    p.acquire("a", &c, 10, 0, 0, &s);
    // A new leader restores the state (delivery times are not in it) and reads the log again.
    let mut q = SharePartition::restore(p.start_offset(), &p.state_batches());
    assert!(q.acquire("b", &c[..1], 10, 0, 4_999, &s).is_empty());
    assert_eq!(q.acquire("b", &c[..1], 10, 0, 5_000, &s)[0].first, 0);
}

#[test]
fn gaps_are_skipped_and_state_round_trips() {
    let s = settings();
    let mut p = SharePartition::new(0);
    let sparse: Vec<Candidate> = [0, 3, 4, 8]
        .iter()
        .map(|&offset| Candidate {
            offset,
            deliver_at: None,
        })
        .collect();
    p.acquire("a", &sparse, 10, 0, 0, &s);
    p.acknowledge(
        "a",
        &[
            ack(0, 0, AckType::Accept),
            ack(1, 2, AckType::Gap),
            ack(3, 3, AckType::Accept),
        ],
        0,
        &s,
    )
    .unwrap();
    assert_eq!(p.start_offset(), 4);
    p.acknowledge("a", &[ack(8, 8, AckType::Reject)], 0, &s)
        .unwrap();
    let batches = p.state_batches();
    let restored = SharePartition::restore(p.start_offset(), &batches);
    assert_eq!(restored.start_offset(), 4);
    assert_eq!(restored.state_of(4), Some((DeliveryState::Available, 1)));
    assert_eq!(restored.state_of(8), Some((DeliveryState::Archived, 1)));
    assert_eq!(restored.end_offset(), 9);
}

#[test]
fn a_closed_session_releases_only_its_own_records() {
    let s = settings();
    let mut p = SharePartition::new(0);
    p.acquire("a", &offsets(0..2), 10, 0, 0, &s);
    p.acquire("b", &offsets(2..4), 10, 0, 0, &s);
    p.release_member("a", 0, &s);
    assert_eq!(p.state_of(0), Some((DeliveryState::Available, 1)));
    assert_eq!(p.state_of(2), Some((DeliveryState::Acquired, 1)));
}

#[test]
fn retention_moves_the_start() {
    let s = settings();
    let mut p = SharePartition::new(0);
    p.acquire("a", &offsets(0..5), 10, 0, 0, &s);
    p.skip_to(3);
    assert_eq!(p.start_offset(), 3);
    assert_eq!(p.in_flight(), 2);
}

#[test]
fn a_read_of_only_control_records_moves_past_them() {
    let s = settings();
    let mut p = SharePartition::new(0);
    assert!(p.acquire("a", &[], 10, 5, 0, &s).is_empty());
    assert_eq!((p.start_offset(), p.end_offset()), (5, 5));
    // Cut short by max_records: the end stays at what was considered.
    p.acquire("a", &offsets(5..9), 2, 9, 0, &s);
    assert_eq!(p.end_offset(), 7);
}

#[test]
fn with_a_dead_letter_topic_archived_records_wait_for_their_copy() {
    let s = ShareSettings {
        dead_letter: true,
        ..settings()
    };
    let mut p = SharePartition::new(0);
    p.acquire("a", &offsets(0..3), 10, 3, 0, &s);
    p.acknowledge(
        "a",
        &[ack(0, 0, AckType::Reject), ack(1, 2, AckType::Accept)],
        0,
        &s,
    )
    .unwrap();
    // The start offset stays until the copy is written: nothing is lost on a crash.
    assert_eq!(p.start_offset(), 0);
    assert_eq!(p.state_of(0), Some((DeliveryState::Archiving, 1)));
    let waiting = p.archiving(&s);
    assert_eq!(waiting.len(), 1);
    assert_eq!(waiting[0].reason, ArchiveReason::Rejected);
    // Restored from storage it still waits.
    let restored = SharePartition::restore(p.start_offset(), &p.state_batches());
    assert_eq!(restored.archiving(&s), waiting);
    assert!(p.dead_lettered(0));
    assert!(!p.dead_lettered(0), "written once");
    assert_eq!(p.start_offset(), 3);
}
