//! Time-driven transitions: sessions, the rebalance timeout, the initial delay, unused
//! member ids and members that never sync.

use super::*;

#[test]
fn an_expired_session_removes_the_member_and_rebalances() {
    let (mut h, ids) = Harness::stable(2);
    let start = h.now;
    h.now = start + 5_000;
    assert_eq!(h.heartbeat(&ids[0], 1), ErrorCode::None);
    h.tick(start + i64::from(SESSION) - 1);
    assert_eq!(h.group.state(), GroupState::Stable);
    h.tick(start + i64::from(SESSION));
    assert!(!h.group.has_member(&ids[1]), "the silent member is gone");
    assert!(h.group.has_member(&ids[0]), "the heartbeating member stays");
    assert_eq!(h.group.state(), GroupState::PreparingRebalance);

    assert_eq!(h.heartbeat(&ids[0], 1), ErrorCode::RebalanceInProgress);
    let (t, _) = h.join(&ids[0]);
    let r = h.joined(t);
    assert_eq!((r.generation_id, r.members.len()), (2, 1));
}

#[test]
fn the_rebalance_timeout_drops_members_that_did_not_rejoin() {
    let (mut h, ids) = Harness::stable(3);
    let start = h.now;
    // Member 2 changes its subscription; member 0 rejoins; member 1 only heartbeats.
    let req = h.request(&ids[2], None, range(&["t", "u"]));
    let (t2, _) = h.send_join(req);
    let (t0, _) = h.join(&ids[0]);
    for step in 1..=3 {
        h.tick(start + step * 9_000);
        assert_eq!(h.heartbeat(&ids[1], 1), ErrorCode::RebalanceInProgress);
    }
    assert_eq!(h.group.state(), GroupState::PreparingRebalance);
    h.tick(start + i64::from(REBALANCE));
    assert_eq!(h.group.state(), GroupState::CompletingRebalance);
    assert!(!h.group.has_member(&ids[1]));
    assert_eq!(h.joined(t0).generation_id, 2);
    assert_eq!(h.joined(t0).members.len(), 2);
    assert_eq!(h.joined(t2).generation_id, 2);
    assert_eq!(h.heartbeat(&ids[1], 1), ErrorCode::UnknownMemberId);
}

#[test]
fn an_unused_member_id_expires_and_stops_holding_the_join_phase() {
    let (mut h, ids) = Harness::stable(2);
    let start = h.now;
    let (_, reply) = h.join("");
    let pending = reply.map(|r| r.member_id).unwrap_or_default();
    assert_eq!(
        h.group.state(),
        GroupState::Stable,
        "an id request alone does not rebalance"
    );

    let req = h.request(&ids[1], None, range(&["u"]));
    let (t1, _) = h.send_join(req);
    let (t0, _) = h.join(&ids[0]);
    assert_eq!(
        h.group.state(),
        GroupState::PreparingRebalance,
        "waits for the pending member"
    );
    assert!(!h.joins.contains_key(&t0));

    h.tick(start + i64::from(SESSION));
    assert_eq!(h.group.state(), GroupState::CompletingRebalance);
    assert_eq!(h.joined(t1).generation_id, 2);
    let (_, late) = h.join(&pending);
    assert_eq!(late.map(|r| r.error), Some(ErrorCode::UnknownMemberId));
}

#[test]
fn members_that_never_sync_are_removed() {
    let (mut h, ids) = Harness::stable(2);
    let start = h.now;
    h.join(&ids[0]);
    h.join(&ids[1]);
    assert_eq!(h.group.state(), GroupState::CompletingRebalance);
    let leader = h.group.leader().map(str::to_string).unwrap_or_default();
    let follower = ids
        .iter()
        .find(|m| **m != leader)
        .cloned()
        .unwrap_or_default();
    h.sync(&leader, Vec::new());
    h.persist_all(Ok(()));
    assert_eq!(h.group.state(), GroupState::Stable);
    // Both heartbeat; the follower never syncs.
    for step in 1..=3 {
        h.tick(start + step * 9_000);
        assert_eq!(h.heartbeat(&leader, 2), ErrorCode::None);
        assert_eq!(h.heartbeat(&follower, 2), ErrorCode::None);
    }
    h.tick(start + i64::from(REBALANCE));
    assert!(!h.group.has_member(&follower));
    assert_eq!(h.group.state(), GroupState::PreparingRebalance);
}

#[test]
fn the_initial_delay_extends_per_new_member_up_to_the_rebalance_timeout() {
    let mut h = Harness::new();
    let join = |h: &mut Harness| {
        let mut req = h.request("", None, range(&["t"]));
        req.rebalance_timeout_ms = 300;
        req.require_known_member_id = false;
        h.send_join(req).0
    };
    let first = join(&mut h);
    h.now = 50;
    join(&mut h);
    h.tick(100);
    h.now = 150;
    join(&mut h);
    h.tick(200);
    h.now = 250;
    join(&mut h);
    h.tick(299);
    assert!(h.joins.is_empty(), "still extending");
    h.tick(300);
    assert_eq!(
        h.joined(first).members.len(),
        4,
        "never beyond the rebalance timeout"
    );
}

#[test]
fn a_lone_first_member_waits_only_the_initial_delay() {
    let mut h = Harness::new();
    let (_, t) = h.new_member();
    assert_eq!(h.group.next_deadline(), Some(DELAY));
    h.tick(DELAY);
    assert_eq!(h.joined(t).generation_id, 1);
}

#[test]
fn a_new_member_waiting_too_long_is_dropped() {
    let (mut h, ids) = Harness::stable(2);
    h.group.config.new_member_join_timeout_ms = 500;
    let start = h.now;
    let (newcomer, t) = h.new_member();
    h.join(&ids[0]);
    // ids[1] keeps its session alive without rejoining, so the phase stays open.
    assert_eq!(h.heartbeat(&ids[1], 1), ErrorCode::RebalanceInProgress);
    h.tick(start + 500);
    assert_eq!(h.joined(t).error, ErrorCode::UnknownMemberId);
    assert!(!h.group.has_member(&newcomer));
}

#[test]
fn the_next_deadline_tracks_sessions() {
    let (mut h, ids) = Harness::stable(2);
    let start = h.now;
    assert_eq!(h.group.next_deadline(), Some(start + i64::from(SESSION)));
    h.now = start + 1_000;
    h.heartbeat(&ids[0], 1);
    h.heartbeat(&ids[1], 1);
    assert_eq!(
        h.group.next_deadline(),
        Some(start + 1_000 + i64::from(SESSION))
    );
}
