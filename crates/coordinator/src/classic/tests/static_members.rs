//! Static membership (KIP-345): restarts without rebalances, fencing of old member ids,
//! removal by instance id, members kept through a rebalance they sit out.

use super::*;

/// A Stable group of `n` static members with instance ids `i0`, `i1`, ...
fn stable_static(n: usize, protocols: Vec<Protocol>) -> (Harness, Vec<String>) {
    let mut h = Harness::new();
    let mut tokens = Vec::new();
    for i in 0..n {
        let req = h.request("", Some(&format!("i{i}")), protocols.clone());
        let (t, reply) = h.send_join(req);
        assert!(reply.is_none(), "static members skip MEMBER_ID_REQUIRED");
        tokens.push(t);
    }
    h.tick(DELAY);
    h.tick(2 * DELAY);
    let ids: Vec<String> = tokens
        .iter()
        .map(|t| h.joined(*t).member_id.clone())
        .collect();
    assert!(ids
        .iter()
        .enumerate()
        .all(|(i, id)| id.starts_with(&format!("i{i}-"))));
    h.complete_sync();
    (h, ids)
}

fn restart(
    h: &mut Harness,
    instance: &str,
    protocols: Vec<Protocol>,
) -> (u64, Option<JoinResponse>) {
    let req = h.request("", Some(instance), protocols);
    h.send_join(req)
}

#[test]
fn a_restarted_follower_keeps_its_assignment_without_a_rebalance() {
    let (mut h, ids) = stable_static(2, range(&["t"]));
    let (t, reply) = restart(&mut h, "i1", range(&["t"]));
    assert!(
        reply.is_none(),
        "answered once the new member id is written"
    );
    let (_, snapshot) = h.writes.last().cloned().unwrap_or_else(|| panic!("write"));
    let new_id = h
        .group
        .static_member_id("i1")
        .map(str::to_string)
        .unwrap_or_default();
    assert_ne!(new_id, ids[1]);
    assert!(snapshot.members.iter().any(|m| m.member_id == new_id));

    h.persist_all(Ok(()));
    let r = h.joined(t).clone();
    assert_eq!(
        (r.error, r.generation_id, r.member_id.as_str()),
        (ErrorCode::None, 1, new_id.as_str())
    );
    assert_eq!(r.leader, ids[0]);
    assert!(!r.skip_assignment);
    assert_eq!(h.group.state(), GroupState::Stable, "no rebalance");

    let (_, sync) = h.sync(&new_id, Vec::new());
    let sync = sync.unwrap_or_else(|| panic!("stable groups answer at once"));
    assert_eq!(
        &sync.assignment[..],
        format!("assign:{}", ids[1]).as_bytes()
    );

    // The old member id is fenced everywhere.
    assert_eq!(
        h.group.heartbeat(&ids[1], Some("i1"), 1, h.now),
        ErrorCode::FencedInstanceId
    );
    assert_eq!(
        h.group
            .validate_offset_commit(&ids[1], Some("i1"), 1, false, h.now),
        Err(ErrorCode::FencedInstanceId)
    );
    let stale = SyncRequest {
        token: h.token(),
        member_id: ids[1].clone(),
        generation_id: 1,
        group_instance_id: Some("i1".into()),
        protocol_type: None,
        protocol_name: None,
        assignments: Vec::new(),
    };
    assert_eq!(
        h.group.sync(stale).reply.ready().map(|r| r.error),
        Some(ErrorCode::FencedInstanceId)
    );
    let req = h_req_with_id(&mut h, &ids[1], "i1");
    let (_, rejoin) = h.send_join(req);
    assert_eq!(rejoin.map(|r| r.error), Some(ErrorCode::FencedInstanceId));
    assert_eq!(h.heartbeat(&new_id, 1), ErrorCode::None);
}

fn h_req_with_id(h: &mut Harness, member_id: &str, instance: &str) -> JoinRequest {
    h.request(member_id, Some(instance), range(&["t"]))
}

#[test]
fn a_restarted_leader_is_told_to_skip_assignment() {
    let (mut h, ids) = stable_static(2, range(&["t"]));
    let (t, _) = restart(&mut h, "i0", range(&["t"]));
    h.persist_all(Ok(()));
    let r = h.joined(t);
    assert_eq!(r.leader, r.member_id, "it still leads, under its new id");
    assert!(r.skip_assignment);
    assert_eq!(r.members.len(), 2);
    assert_eq!(h.group.state(), GroupState::Stable);
    assert!(!h.group.has_member(&ids[0]));
}

#[test]
fn an_old_client_restarting_as_leader_is_shown_the_old_leader() {
    let (mut h, ids) = stable_static(2, range(&["t"]));
    let mut req = h.request("", Some("i0"), range(&["t"]));
    req.supports_skip_assignment = false;
    let (t, _) = h.send_join(req);
    h.persist_all(Ok(()));
    let r = h.joined(t);
    assert_eq!(r.leader, ids[0], "acts as a follower and just syncs");
    assert!(r.members.is_empty() && !r.skip_assignment);
}

#[test]
fn a_restart_that_changes_the_chosen_protocol_rebalances() {
    let sub = encode_subscription(&["t"], 1);
    let both = |first: &str, second: &str| {
        vec![
            Protocol::new(first, sub.clone()),
            Protocol::new(second, sub.clone()),
        ]
    };
    let (mut h, _) = stable_static(1, both("range", "roundrobin"));
    let (t, reply) = restart(&mut h, "i0", both("roundrobin", "range"));
    // The only member has rejoined, so the new generation forms at once.
    let r = reply.unwrap_or_else(|| panic!("join phase completes immediately"));
    assert_eq!(r.generation_id, 2);
    assert_eq!(r.protocol_name.as_deref(), Some("roundrobin"));
    assert!(h.writes.is_empty());
    assert_eq!(h.joined(t).generation_id, 2);
}

#[test]
fn a_failed_write_undoes_the_restart() {
    let (mut h, ids) = stable_static(2, range(&["t"]));
    let (t, _) = restart(&mut h, "i1", range(&["t"]));
    h.persist_all(Err(ErrorCode::RequestTimedOut));
    let r = h.joined(t);
    assert_eq!(
        (r.error, r.member_id.as_str()),
        (ErrorCode::CoordinatorNotAvailable, "")
    );
    assert_eq!(h.group.static_member_id("i1"), Some(ids[1].as_str()));
    assert_eq!(h.heartbeat(&ids[1], 1), ErrorCode::None);
}

#[test]
fn a_restart_while_completing_fences_the_old_sync_and_rebalances() {
    let (mut h, ids) = stable_static(2, range(&["t"]));
    let req = h.request(&ids[0], Some("i0"), range(&["t"]));
    h.send_join(req);
    let req = h.request(&ids[1], Some("i1"), range(&["t"]));
    h.send_join(req);
    assert_eq!(h.group.state(), GroupState::CompletingRebalance);
    let (ts, _) = h.sync(&ids[1], Vec::new());
    restart(&mut h, "i1", range(&["t"]));
    assert_eq!(h.syncs[&ts].error, ErrorCode::FencedInstanceId);
    assert_eq!(h.group.state(), GroupState::PreparingRebalance);
}

#[test]
fn a_static_member_sitting_out_a_rebalance_is_kept() {
    let (mut h, ids) = stable_static(2, range(&["t"]));
    let start = h.now;
    let req = h.request(&ids[0], Some("i0"), range(&["t"]));
    let (t0, _) = h.send_join(req);
    assert_eq!(h.group.state(), GroupState::PreparingRebalance);
    for step in 1..=3 {
        h.tick(start + step * 9_000);
        assert_eq!(h.heartbeat(&ids[1], 1), ErrorCode::RebalanceInProgress);
    }
    h.tick(start + i64::from(REBALANCE));
    assert_eq!(h.group.state(), GroupState::CompletingRebalance);
    assert!(h.group.has_member(&ids[1]));
    assert_eq!(h.joined(t0).members.len(), 2);
}

#[test]
fn static_members_leave_by_instance_id() {
    let (mut h, ids) = stable_static(3, range(&["t"]));
    let leave = |member_id: &str, instance: &str| LeaveMember {
        member_id: member_id.to_string(),
        group_instance_id: Some(instance.to_string()),
        reason: Some("shutdown".into()),
    };
    let batch = vec![leave("", "i2"), leave("wrong", "i1"), leave("", "nope")];
    let out = h.group.leave(batch, h.now);
    let r = out.reply.ready().unwrap_or_else(|| panic!("ready"));
    let errors: Vec<ErrorCode> = r.members.iter().map(|m| m.error).collect();
    assert_eq!(
        errors,
        [
            ErrorCode::None,
            ErrorCode::FencedInstanceId,
            ErrorCode::UnknownMemberId
        ]
    );
    assert_eq!(r.members[0].member_id, "", "echoes the request");
    assert!(!h.group.has_member(&ids[2]));
    assert_eq!(h.group.static_member_id("i2"), None);
    assert_eq!(h.group.state(), GroupState::PreparingRebalance);
}

#[test]
fn a_static_join_with_a_foreign_member_id_is_refused() {
    let (mut h, ids) = stable_static(2, range(&["t"]));
    let req = h.request(&ids[0], Some("unknown-instance"), range(&["t"]));
    let (_, r) = h.send_join(req);
    assert_eq!(r.map(|r| r.error), Some(ErrorCode::UnknownMemberId));
    let req = h.request(&ids[0], Some("i1"), range(&["t"]));
    let (_, r) = h.send_join(req);
    assert_eq!(r.map(|r| r.error), Some(ErrorCode::FencedInstanceId));
}
