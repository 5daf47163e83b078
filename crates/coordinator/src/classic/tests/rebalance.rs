//! Eager rebalances: forming a group, members joining and leaving, the leader's assignment.

use super::*;

#[test]
fn two_members_rebalance_to_stable() {
    let mut h = Harness::new();
    let (a, ta) = h.new_member();
    let (b, tb) = h.new_member();
    assert_eq!(h.group.state(), GroupState::PreparingRebalance);
    let parked = |h: &Harness| !h.joins.contains_key(&ta) && !h.joins.contains_key(&tb);
    assert!(parked(&h), "joins are parked during the initial delay");

    // The second member arrived during the delay, so it is extended once.
    h.tick(DELAY);
    assert!(parked(&h));
    h.tick(2 * DELAY);
    assert_eq!(h.group.state(), GroupState::CompletingRebalance);
    let (ra, rb) = (h.joined(ta).clone(), h.joined(tb).clone());
    assert_eq!((ra.error, rb.error), (ErrorCode::None, ErrorCode::None));
    assert_eq!((ra.generation_id, rb.generation_id), (1, 1));
    assert_eq!(ra.leader, a, "the first member leads");
    assert_eq!(rb.leader, a);
    assert_eq!(ra.protocol_name.as_deref(), Some("range"));
    assert_eq!(ra.members.len(), 2, "the leader sees every member");
    assert!(rb.members.is_empty(), "followers see none");

    // The follower's sync waits for the leader's.
    let (tsb, reply) = h.sync(&b, Vec::new());
    assert!(reply.is_none());
    let assignment = vec![
        (a.clone(), Bytes::from_static(b"A")),
        (b.clone(), Bytes::from_static(b"B")),
    ];
    let (tsa, reply) = h.sync(&a, assignment);
    assert!(reply.is_none(), "the leader waits for the write too");
    assert_eq!(h.writes.len(), 1);
    let snapshot = &h.writes[0].1;
    assert_eq!(
        (snapshot.generation_id, snapshot.leader.as_deref()),
        (1, Some(a.as_str()))
    );
    assert_eq!(snapshot.members.len(), 2);
    assert_eq!(h.group.state(), GroupState::CompletingRebalance);

    h.persist_all(Ok(()));
    assert_eq!(h.group.state(), GroupState::Stable);
    assert_eq!(&h.syncs[&tsa].assignment[..], b"A");
    assert_eq!(&h.syncs[&tsb].assignment[..], b"B");
    assert_eq!(h.syncs[&tsb].protocol_name.as_deref(), Some("range"));
    assert_eq!(h.heartbeat(&a, 1), ErrorCode::None);
    assert_eq!(h.heartbeat(&b, 1), ErrorCode::None);
}

#[test]
fn a_third_member_triggers_a_new_generation() {
    let (mut h, ids) = Harness::stable(2);
    let (c, tc) = h.new_member();
    assert_eq!(h.group.state(), GroupState::PreparingRebalance);
    assert!(!h.joins.contains_key(&tc));

    // Existing members learn of the rebalance from their heartbeats and rejoin.
    for m in &ids {
        assert_eq!(h.heartbeat(m, 1), ErrorCode::RebalanceInProgress);
    }
    let (t0, r0) = h.join(&ids[0]);
    assert!(r0.is_none());
    let (t1, _) = h.join(&ids[1]);
    // Everyone has rejoined: the join phase completes without waiting for the timeout.
    assert_eq!(h.group.state(), GroupState::CompletingRebalance);
    for t in [t0, t1, tc] {
        assert_eq!(h.joined(t).generation_id, 2);
    }
    assert_eq!(h.joined(t0).members.len(), 3);
    let assigned = h.complete_sync();
    assert_eq!(&assigned[&c][..], format!("assign:{c}").as_bytes());
}

#[test]
fn a_leaving_member_triggers_a_rebalance() {
    let (mut h, ids) = Harness::stable(3);
    let r = h.leave(&ids[1]);
    assert_eq!(r.members[0].error, ErrorCode::None);
    assert_eq!(h.group.state(), GroupState::PreparingRebalance);
    assert!(!h.group.has_member(&ids[1]));
    let (t0, _) = h.join(&ids[0]);
    let (t2, _) = h.join(&ids[2]);
    assert_eq!(h.group.state(), GroupState::CompletingRebalance);
    assert_eq!(h.joined(t0).generation_id, 2);
    assert_eq!(h.joined(t2).generation_id, 2);
    assert_eq!(h.joined(t0).members.len(), 2);
}

#[test]
fn the_last_member_leaving_empties_the_group_and_persists_it() {
    let (mut h, ids) = Harness::stable(1);
    h.leave(&ids[0]);
    assert_eq!(h.group.state(), GroupState::Empty);
    assert_eq!(h.group.generation_id(), 2);
    let (_, snapshot) = h
        .writes
        .last()
        .cloned()
        .unwrap_or_else(|| panic!("no write"));
    assert!(snapshot.members.is_empty());
    assert_eq!(snapshot.protocol_name, None);
}

#[test]
fn leaving_a_batch_reports_each_member() {
    let (mut h, ids) = Harness::stable(2);
    let members = vec![
        LeaveMember {
            member_id: ids[0].clone(),
            group_instance_id: None,
            reason: None,
        },
        LeaveMember {
            member_id: "ghost".into(),
            group_instance_id: None,
            reason: None,
        },
    ];
    let out = h.group.leave(members, h.now);
    let r = out.reply.ready().unwrap_or_else(|| panic!("ready"));
    let errors: Vec<ErrorCode> = r.members.iter().map(|m| m.error).collect();
    assert_eq!(errors, [ErrorCode::None, ErrorCode::UnknownMemberId]);
    assert_eq!(h.group.state(), GroupState::PreparingRebalance);
}

#[test]
fn heartbeat_during_a_rebalance_asks_to_rejoin() {
    let (mut h, ids) = Harness::stable(2);
    h.new_member();
    assert_eq!(h.heartbeat(&ids[0], 1), ErrorCode::RebalanceInProgress);
    let (t, _) = h.join(&ids[0]);
    h.join(&ids[1]);
    // Between JoinGroup and SyncGroup responses heartbeats are normal.
    assert_eq!(h.joined(t).generation_id, 2);
    assert_eq!(h.heartbeat(&ids[0], 2), ErrorCode::None);
}

#[test]
fn follower_rejoining_a_stable_group_gets_the_current_generation() {
    let (mut h, ids) = Harness::stable(2);
    let (_, reply) = h.join(&ids[1]);
    let reply = reply.unwrap_or_else(|| panic!("answered at once"));
    assert_eq!((reply.error, reply.generation_id), (ErrorCode::None, 1));
    assert_eq!(h.group.state(), GroupState::Stable);

    // The leader rejoining forces a rebalance (it may have seen topic metadata change).
    let (_, reply) = h.join(&ids[0]);
    assert!(reply.is_none());
    assert_eq!(h.group.state(), GroupState::PreparingRebalance);
}

#[test]
fn changed_metadata_forces_a_rebalance() {
    let (mut h, ids) = Harness::stable(2);
    let req = h.request(&ids[1], None, range(&["t", "u"]));
    let (_, reply) = h.send_join(req);
    assert!(reply.is_none());
    assert_eq!(h.group.state(), GroupState::PreparingRebalance);
}

#[test]
fn a_join_during_completing_rebalance_sends_waiting_syncs_back() {
    let (mut h, ids) = Harness::stable(2);
    h.leave(&ids[1]);
    let (t0, _) = h.join(&ids[0]);
    assert_eq!(h.joined(t0).generation_id, 2);
    // The follower-less leader has not synced yet; a new member arrives.
    let (ts, _) = h.sync(&ids[0], Vec::new());
    assert!(h.writes.iter().any(|(_, s)| s.generation_id == 2));
    h.new_member();
    assert_eq!(h.syncs[&ts].error, ErrorCode::RebalanceInProgress);
    // The stale write completes after the group moved on: nothing happens.
    h.persist_all(Ok(()));
    assert_eq!(h.group.state(), GroupState::PreparingRebalance);
}

#[test]
fn a_failed_assignment_write_sends_the_error_and_rebalances() {
    let (mut h, ids) = Harness::stable(2);
    h.join(&ids[0]);
    let (t1, _) = h.join(&ids[1]);
    assert_eq!(h.joined(t1).generation_id, 2);
    let (ts0, _) = h.sync(&ids[0], Vec::new());
    let (ts1, _) = h.sync(&ids[1], Vec::new());
    h.persist_all(Err(ErrorCode::NotLeaderOrFollower));
    assert_eq!(h.syncs[&ts0].error, ErrorCode::NotCoordinator);
    assert_eq!(h.syncs[&ts1].error, ErrorCode::NotCoordinator);
    assert_eq!(h.group.state(), GroupState::PreparingRebalance);
}

#[test]
fn the_protocol_is_chosen_by_vote_among_common_protocols() {
    let mut h = Harness::new();
    let sub = encode_subscription(&["t"], 0);
    let p = |names: &[&str]| -> Vec<Protocol> {
        names
            .iter()
            .map(|n| Protocol::new(*n, sub.clone()))
            .collect()
    };
    let prefs: [&[&str]; 3] = [
        &["roundrobin", "range"],
        &["range", "roundrobin"],
        &["range", "roundrobin", "sticky"],
    ];
    for names in prefs {
        let mut req = h.request("", None, p(names));
        req.require_known_member_id = false;
        let (_, reply) = h.send_join(req);
        assert!(reply.is_none());
    }
    // A member without any protocol in common is refused.
    let mut req = h.request("", None, p(&["sticky"]));
    req.require_known_member_id = false;
    let (_, reply) = h.send_join(req);
    assert_eq!(
        reply.map(|r| r.error),
        Some(ErrorCode::InconsistentGroupProtocol)
    );
    h.tick(DELAY);
    h.tick(2 * DELAY);
    assert_eq!(h.group.protocol_name(), Some("range"));
}

#[test]
fn a_member_that_does_not_rejoin_loses_leadership() {
    let (mut h, ids) = Harness::stable(2);
    // The follower triggers a rebalance; the leader never rejoins.
    let req = h.request(&ids[1], None, range(&["t", "u"]));
    let (t1, _) = h.send_join(req);
    h.tick(h.now + i64::from(REBALANCE));
    let r = h.joined(t1);
    assert_eq!((r.generation_id, r.leader.as_str()), (2, ids[1].as_str()));
    assert!(!h.group.has_member(&ids[0]));
}
