use super::*;

fn ready(o: Result<InitOutcome, ErrorCode>) -> (i64, i16, TxnRecord) {
    match o {
        Ok(InitOutcome::Ready {
            producer_id,
            producer_epoch,
            record,
        }) => (producer_id, producer_epoch, record),
        other => panic!("expected Ready, got {other:?}"),
    }
}

fn tp(t: &str, p: i32) -> (String, i32) {
    (t.to_string(), p)
}

#[test]
fn a_transaction_from_init_to_commit() {
    let mut c = TxnCoordinator::new(TxnConfig::default());
    let (pid, epoch, rec) = ready(c.init_producer_id("t1", 60_000, None, 100, 1));
    assert_eq!((pid, epoch), (100, 0));
    assert_eq!(rec.value.as_ref().map(|m| m.state), Some(TxnState::Empty));
    // A second init bumps the epoch and keeps the id (the fresh one goes unused).
    let (pid, epoch, _) = ready(c.init_producer_id("t1", 60_000, None, 101, 2));
    assert_eq!((pid, epoch), (100, 1));

    assert_eq!(
        c.add_partitions("t1", 100, 0, &[tp("a", 0)], 3),
        Err(ErrorCode::ProducerFenced)
    );
    assert_eq!(
        c.add_partitions("t1", 7, 1, &[tp("a", 0)], 3),
        Err(ErrorCode::InvalidProducerIdMapping)
    );
    assert_eq!(
        c.add_partitions("nope", 100, 1, &[tp("a", 0)], 3),
        Err(ErrorCode::InvalidProducerIdMapping)
    );
    let rec = c
        .add_partitions("t1", 100, 1, &[tp("a", 0), tp("b", 1)], 3)
        .unwrap()
        .unwrap();
    let m = rec.value.unwrap();
    assert_eq!((m.state, m.start_ms), (TxnState::Ongoing, 3));
    // Already in the transaction: nothing to write.
    assert_eq!(c.add_partitions("t1", 100, 1, &[tp("a", 0)], 4), Ok(None));
    assert_eq!(c.verify("t1", 100, 1, &tp("b", 1)), Ok(()));
    assert_eq!(
        c.verify("t1", 100, 1, &tp("c", 0)),
        Err(ErrorCode::InvalidTxnState)
    );
    let rec = c
        .add_partitions("t1", 100, 1, &[tp("c", 0)], 5)
        .unwrap()
        .unwrap();
    assert_eq!(
        rec.value.unwrap().start_ms,
        3,
        "the start stays that of the transaction"
    );

    let EndOutcome::Prepared { record, markers } = c.end_txn("t1", 100, 1, true, 6).unwrap() else {
        panic!("not prepared");
    };
    assert_eq!(record.value.unwrap().state, TxnState::PrepareCommit);
    assert_eq!(
        markers,
        MarkerJob {
            transactional_id: "t1".into(),
            producer_id: 100,
            producer_epoch: 1,
            commit: true,
            partitions: vec![tp("a", 0), tp("b", 1), tp("c", 0)],
        }
    );
    // While the markers are written: retries and new work wait.
    assert_eq!(
        c.end_txn("t1", 100, 1, true, 7),
        Err(ErrorCode::ConcurrentTransactions)
    );
    assert_eq!(
        c.end_txn("t1", 100, 1, false, 7),
        Err(ErrorCode::InvalidTxnState)
    );
    assert_eq!(
        c.add_partitions("t1", 100, 1, &[tp("a", 0)], 7),
        Err(ErrorCode::ConcurrentTransactions)
    );
    assert_eq!(
        c.init_producer_id("t1", 60_000, None, 102, 7).map(|_| ()),
        Err(ErrorCode::ConcurrentTransactions)
    );
    let done = c.complete(&markers, 8).unwrap().value.unwrap();
    assert_eq!(done.state, TxnState::CompleteCommit);
    assert!(done.partitions.is_empty());
    assert_eq!(c.complete(&markers, 9), None, "completes once");
    assert_eq!(
        c.end_txn("t1", 100, 1, true, 9),
        Ok(EndOutcome::AlreadyDone)
    );
    assert_eq!(
        c.end_txn("t1", 100, 1, false, 9),
        Err(ErrorCode::InvalidTxnState)
    );
    // The next transaction starts anew.
    let m = c
        .add_partitions("t1", 100, 1, &[tp("z", 0)], 10)
        .unwrap()
        .unwrap()
        .value
        .unwrap();
    assert_eq!((m.start_ms, m.partitions.len()), (10, 1));
}

#[test]
fn a_new_producer_fences_the_old_and_aborts_its_transaction() {
    let mut c = TxnCoordinator::new(TxnConfig::default());
    ready(c.init_producer_id("t", 60_000, None, 5, 0));
    c.add_partitions("t", 5, 0, &[tp("a", 0)], 1).unwrap();
    let Ok(InitOutcome::Aborting { record, markers }) = c.init_producer_id("t", 60_000, None, 6, 2)
    else {
        panic!("expected the open transaction to be aborted");
    };
    assert_eq!(record.value.unwrap().state, TxnState::PrepareAbort);
    assert_eq!((markers.producer_epoch, markers.commit), (1, false));
    // The old producer is fenced everywhere.
    assert_eq!(
        c.end_txn("t", 5, 0, true, 3),
        Err(ErrorCode::ProducerFenced)
    );
    c.complete(&markers, 4).unwrap();
    let (pid, epoch, _) = ready(c.init_producer_id("t", 60_000, None, 7, 5));
    assert_eq!((pid, epoch), (5, 2));
}

#[test]
fn kip_360_resumes_only_the_current_producer() {
    let mut c = TxnCoordinator::new(TxnConfig::default());
    ready(c.init_producer_id("t", 60_000, None, 5, 0));
    let (_, epoch, _) = ready(c.init_producer_id("t", 60_000, Some((5, 0)), 9, 1));
    assert_eq!(epoch, 1);
    // The same call again (its answer was lost): the same epoch, not another bump.
    let (_, epoch, _) = ready(c.init_producer_id("t", 60_000, Some((5, 0)), 9, 2));
    assert_eq!(epoch, 1);
    assert_eq!(
        c.init_producer_id("t", 60_000, Some((5, 7)), 9, 3)
            .map(|_| ()),
        Err(ErrorCode::ProducerFenced)
    );
    assert_eq!(
        c.init_producer_id("t", 60_000, Some((8, 1)), 9, 3)
            .map(|_| ()),
        Err(ErrorCode::ProducerFenced)
    );
    assert_eq!(
        c.init_producer_id("t", 0, None, 9, 3).map(|_| ()),
        Err(ErrorCode::InvalidTransactionTimeout)
    );
    assert_eq!(
        c.init_producer_id("t", 900_001, None, 9, 3).map(|_| ()),
        Err(ErrorCode::InvalidTransactionTimeout)
    );
}

#[test]
fn timed_out_transactions_are_aborted_with_a_bumped_epoch() {
    let mut c = TxnCoordinator::new(TxnConfig::default());
    ready(c.init_producer_id("slow", 1_000, None, 5, 0));
    ready(c.init_producer_id("fast", 60_000, None, 6, 0));
    c.add_partitions("slow", 5, 0, &[tp("a", 0)], 100).unwrap();
    c.add_partitions("fast", 6, 0, &[tp("a", 1)], 100).unwrap();
    assert!(c.abort_timed_out(1_100).is_empty());
    let aborted = c.abort_timed_out(1_101);
    assert_eq!(aborted.len(), 1);
    let (record, markers) = &aborted[0];
    assert_eq!(record.transactional_id, "slow");
    assert_eq!((markers.producer_epoch, markers.commit), (1, false));
    assert_eq!(
        c.end_txn("slow", 5, 0, true, 1_200),
        Err(ErrorCode::ProducerFenced)
    );
    assert_eq!(c.pending_markers(), vec![markers.clone()]);
}

#[test]
fn records_round_trip_and_replay_restores_the_state() {
    let mut c = TxnCoordinator::new(TxnConfig::default());
    let mut log = Vec::new();
    let (_, _, r) = ready(c.init_producer_id("t", 60_000, None, 5, 0));
    log.push(r);
    log.push(
        c.add_partitions("t", 5, 0, &[tp("a", 0), tp("a", 3), tp("b", 1)], 1)
            .unwrap()
            .unwrap(),
    );
    let EndOutcome::Prepared { record, markers } = c.end_txn("t", 5, 0, false, 2).unwrap() else {
        panic!();
    };
    log.push(record);
    let (_, _, r) = ready(c.init_producer_id("gone", 60_000, None, 6, 3));
    log.push(r);
    let mut restored = TxnCoordinator::new(TxnConfig::default());
    for r in &log {
        let (k, v) = encode(r).unwrap();
        let back = decode(&k, v.as_ref()).unwrap();
        let mut want = r.clone();
        if let Some(m) = want.value.as_mut() {
            m.last_producer_epoch = NO_PRODUCER_EPOCH; // not stored, as in Kafka
        }
        assert_eq!(back, want);
        restored.replay(back);
    }
    assert_eq!(restored.pending_markers(), vec![markers]);
    // Idle ids expire into tombstones, which replay removes.
    let mut c2 = restored.clone();
    let tombs = c2.expire_ids(3 + TxnConfig::default().id_expiration_ms);
    assert_eq!(
        tombs.len(),
        1,
        "only the idle one; the other is being aborted"
    );
    let (k, v) = encode(&tombs[0]).unwrap();
    assert!(v.is_none());
    restored.replay(decode(&k, None).unwrap());
    assert!(restored.get("gone").is_none() && restored.get("t").is_some());
}

/// Transaction version 2: each EndTxn bumps the epoch, which the markers carry and the
/// producer goes on with; retries of a lost answer are recognised; an empty abort bumps too.
#[test]
fn version_2_bumps_the_epoch_per_transaction() {
    let mut c = TxnCoordinator::new(TxnConfig::default());
    let (pid, epoch, _) = ready(c.init_producer_id("t", 60_000, None, 100, 1));
    assert_eq!((pid, epoch), (100, 0));
    let rec = c
        .add_partitions_v2("t", 100, 0, &[tp("a", 0)], 2)
        .unwrap()
        .unwrap()
        .value
        .unwrap();
    assert_eq!((rec.state, rec.client_version), (TxnState::Ongoing, 2));
    let (EndOutcome::Prepared { record, markers }, id, e) =
        c.end_txn_v2("t", 100, 0, true, -1, 3).unwrap()
    else {
        panic!("not prepared");
    };
    assert_eq!(
        (id, e),
        (100, 1),
        "the producer goes on with the bumped epoch"
    );
    assert_eq!(markers.producer_epoch, 1, "the markers fence the old epoch");
    assert_eq!(record.value.unwrap().state, TxnState::PrepareCommit);
    // The retry of a lost answer, while the markers are written and after.
    assert_eq!(
        c.end_txn_v2("t", 100, 0, true, -1, 4).map(|r| r.0),
        Err(ErrorCode::ConcurrentTransactions)
    );
    assert_eq!(
        c.add_partitions_v2("t", 100, 1, &[tp("a", 0)], 4),
        Err(ErrorCode::ConcurrentTransactions)
    );
    c.complete(&markers, 5).unwrap();
    assert_eq!(
        c.end_txn_v2("t", 100, 0, true, -1, 6),
        Ok((EndOutcome::AlreadyDone, 100, 1))
    );
    assert_eq!(
        c.end_txn_v2("t", 100, 0, false, -1, 6).map(|r| r.0),
        Err(ErrorCode::InvalidTxnState)
    );
    // The old epoch is fenced; committing nothing is refused; aborting nothing bumps.
    assert_eq!(
        c.add_partitions_v2("t", 100, 0, &[tp("a", 0)], 7),
        Err(ErrorCode::ProducerFenced)
    );
    assert_eq!(
        c.end_txn_v2("t", 100, 1, true, -1, 7).map(|r| r.0),
        Err(ErrorCode::InvalidTxnState)
    );
    let (EndOutcome::Prepared { markers, .. }, id, e) =
        c.end_txn_v2("t", 100, 1, false, -1, 8).unwrap()
    else {
        panic!("not prepared");
    };
    assert_eq!((id, e), (100, 2));
    assert!(markers.partitions.is_empty());
    c.complete(&markers, 9).unwrap();
    assert_eq!(
        c.end_txn_v2("t", 100, 0, false, -1, 9).map(|r| r.0),
        Err(ErrorCode::ProducerFenced),
        "two epochs back is no retry"
    );
    assert_eq!(
        c.end_txn_v2("t", 7, 2, false, -1, 9).map(|r| r.0),
        Err(ErrorCode::InvalidProducerIdMapping)
    );
}

/// A version-2 producer whose epoch runs out gets a new producer id when its transaction
/// completes; the markers carry the last epoch of the old one.
#[test]
fn version_2_replaces_an_exhausted_producer_id() {
    let mut c = TxnCoordinator::new(TxnConfig::default());
    ready(c.init_producer_id("t", 60_000, None, 100, 1));
    let mut m = c.get("t").unwrap().clone();
    m.producer_epoch = i16::MAX - 1;
    c.replay(TxnRecord {
        transactional_id: "t".into(),
        value: Some(m),
    });
    c.add_partitions_v2("t", 100, i16::MAX - 1, &[tp("a", 0)], 2)
        .unwrap();
    assert_eq!(
        c.end_txn_v2("t", 100, i16::MAX - 1, true, -1, 3)
            .map(|r| r.0),
        Err(ErrorCode::ConcurrentTransactions),
        "no id was reserved"
    );
    let (EndOutcome::Prepared { record, markers }, id, e) =
        c.end_txn_v2("t", 100, i16::MAX - 1, true, 555, 3).unwrap()
    else {
        panic!("not prepared");
    };
    assert_eq!((id, e), (555, 0));
    assert_eq!(
        (markers.producer_id, markers.producer_epoch),
        (100, i16::MAX)
    );
    // The next id survives a reload of the coordinator.
    let (key, value) = encode(&record).unwrap();
    let back = decode(&key, value.as_ref()).unwrap();
    assert_eq!(back.value.unwrap().next_producer_id, 555);
    let done = c.complete(&markers, 4).unwrap().value.unwrap();
    assert_eq!(
        (
            done.producer_id,
            done.producer_epoch,
            done.previous_producer_id
        ),
        (555, 0, 100)
    );
    // The retry of the lost answer, with the old id.
    assert_eq!(
        c.end_txn_v2("t", 100, i16::MAX - 1, true, -1, 5),
        Ok((EndOutcome::AlreadyDone, 555, 0))
    );
}
