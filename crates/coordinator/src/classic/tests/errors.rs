//! Request validation: KIP-394 member ids, timeouts, size limits, generation and member
//! fencing, offset commit rules; plus the persisted, described and listed views.

use super::*;

#[test]
fn a_new_member_first_gets_a_member_id() {
    let mut h = Harness::new();
    let (_, r) = h.join("");
    let r = r.unwrap_or_else(|| panic!("answered at once"));
    assert_eq!(r.error, ErrorCode::MemberIdRequired);
    assert!(r.member_id.starts_with("client-"), "{}", r.member_id);
    assert_eq!(h.group.state(), GroupState::Empty, "nothing joined yet");
    let (t, reply) = h.join(&r.member_id);
    assert!(reply.is_none(), "parked in the initial rebalance");
    h.tick(DELAY);
    assert_eq!(h.joined(t).member_id, r.member_id);

    // Before JoinGroup v4 a member id is assigned and the member joins in one step.
    let mut old = h.request("", None, range(&["t"]));
    old.require_known_member_id = false;
    let (t, reply) = h.send_join(old);
    assert!(reply.is_none());
    assert!(h.group.members.values().any(|m| m.awaiting_join == Some(t)));
}

#[test]
fn join_validation_errors() {
    let (mut h, ids) = Harness::stable(1);
    let mut req = h.request("", None, range(&["t"]));
    req.session_timeout_ms = 10;
    assert_eq!(
        h.send_join(req).1.map(|r| r.error),
        Some(ErrorCode::InvalidSessionTimeout)
    );

    let mut req = h.request(&ids[0], None, range(&["t"]));
    req.protocol_type = "connect".into();
    assert_eq!(
        h.send_join(req).1.map(|r| r.error),
        Some(ErrorCode::InconsistentGroupProtocol)
    );

    let req = h.request("stranger", None, range(&["t"]));
    assert_eq!(
        h.send_join(req).1.map(|r| r.error),
        Some(ErrorCode::UnknownMemberId)
    );

    h.group.config.max_size = 1;
    let req = h.request("", None, range(&["t"]));
    assert_eq!(
        h.send_join(req).1.map(|r| r.error),
        Some(ErrorCode::GroupMaxSizeReached)
    );

    let mut empty = Harness::new();
    let mut req = empty.request("", None, Vec::new());
    req.require_known_member_id = false;
    assert_eq!(
        empty.send_join(req).1.map(|r| r.error),
        Some(ErrorCode::InconsistentGroupProtocol)
    );
}

#[test]
fn generation_and_membership_fencing() {
    let (mut h, ids) = Harness::stable(2);
    assert_eq!(h.heartbeat(&ids[0], 0), ErrorCode::IllegalGeneration);
    assert_eq!(h.heartbeat("stranger", 1), ErrorCode::UnknownMemberId);
    let mut req = SyncRequest {
        token: h.token(),
        member_id: ids[1].clone(),
        generation_id: 7,
        group_instance_id: None,
        protocol_type: None,
        protocol_name: None,
        assignments: Vec::new(),
    };
    assert_eq!(
        h.group.sync(req.clone()).reply.ready().map(|r| r.error),
        Some(ErrorCode::IllegalGeneration)
    );
    req.generation_id = 1;
    req.protocol_name = Some("roundrobin".into());
    assert_eq!(
        h.group.sync(req.clone()).reply.ready().map(|r| r.error),
        Some(ErrorCode::InconsistentGroupProtocol)
    );
    req.protocol_name = None;
    h.new_member();
    assert_eq!(
        h.group.sync(req).reply.ready().map(|r| r.error),
        Some(ErrorCode::RebalanceInProgress)
    );
}

#[test]
fn offset_commit_validation() {
    use GroupState::*;
    struct Case {
        state: GroupState,
        member: &'static str,
        generation: i32,
        transactional: bool,
        expect: Result<(), ErrorCode>,
    }
    // "m" stands for a real member id of the group, generation 1 for the current one.
    let cases = [
        Case {
            state: Empty,
            member: "",
            generation: -1,
            transactional: false,
            expect: Ok(()),
        },
        Case {
            state: Empty,
            member: "m",
            generation: 1,
            transactional: false,
            expect: Err(ErrorCode::UnknownMemberId),
        },
        Case {
            state: Stable,
            member: "",
            generation: -1,
            transactional: false,
            expect: Err(ErrorCode::UnknownMemberId),
        },
        Case {
            state: Stable,
            member: "",
            generation: -1,
            transactional: true,
            expect: Ok(()),
        },
        Case {
            state: Stable,
            member: "m",
            generation: 1,
            transactional: false,
            expect: Ok(()),
        },
        Case {
            state: Stable,
            member: "m",
            generation: 0,
            transactional: false,
            expect: Err(ErrorCode::IllegalGeneration),
        },
        Case {
            state: Stable,
            member: "x",
            generation: 1,
            transactional: false,
            expect: Err(ErrorCode::UnknownMemberId),
        },
        Case {
            state: CompletingRebalance,
            member: "m",
            generation: 2,
            transactional: false,
            expect: Err(ErrorCode::RebalanceInProgress),
        },
        Case {
            state: CompletingRebalance,
            member: "m",
            generation: 2,
            transactional: true,
            expect: Ok(()),
        },
        Case {
            state: PreparingRebalance,
            member: "m",
            generation: 1,
            transactional: false,
            expect: Ok(()),
        },
        Case {
            state: Dead,
            member: "m",
            generation: 1,
            transactional: false,
            expect: Err(ErrorCode::CoordinatorNotAvailable),
        },
    ];
    for c in cases {
        let (mut h, ids) = Harness::stable(1);
        match c.state {
            Empty => {
                h.leave(&ids[0]);
            }
            CompletingRebalance => {
                h.join(&ids[0]);
            }
            PreparingRebalance => {
                h.new_member();
            }
            Dead => {
                h.group.unload();
            }
            Stable => {}
        }
        assert_eq!(h.group.state(), c.state);
        let member = match c.member {
            "m" => ids[0].as_str(),
            other => other,
        };
        let got =
            h.group
                .validate_offset_commit(member, None, c.generation, c.transactional, h.now);
        assert_eq!(
            got, c.expect,
            "{:?} {} gen {}",
            c.state, c.member, c.generation
        );
    }
}

#[test]
fn a_commit_keeps_the_session_alive() {
    let (mut h, ids) = Harness::stable(1);
    let start = h.now;
    h.now = start + 9_000;
    assert_eq!(
        h.group
            .validate_offset_commit(&ids[0], None, 1, false, h.now),
        Ok(())
    );
    h.tick(start + i64::from(SESSION));
    assert!(h.group.has_member(&ids[0]));
}

#[test]
fn a_repeated_join_answers_the_superseded_request() {
    let (mut h, ids) = Harness::stable(2);
    h.join(&ids[0]);
    let (first, _) = h.join(&ids[1]);
    assert_eq!(h.group.state(), GroupState::CompletingRebalance);
    h.new_member();
    let (second, _) = h.join(&ids[1]);
    let (third, _) = h.join(&ids[1]);
    assert_eq!(h.joined(first).generation_id, 2);
    assert_eq!(h.joined(second).error, ErrorCode::RebalanceInProgress);
    assert!(!h.joins.contains_key(&third), "the latest stays parked");
}

#[test]
fn unload_answers_every_parked_request() {
    let (mut h, ids) = Harness::stable(2);
    let (t0, _) = h.join(&ids[0]);
    let out = h.group.unload();
    h.absorb(out);
    assert_eq!(h.joined(t0).error, ErrorCode::NotCoordinator);
    assert_eq!(h.group.state(), GroupState::Dead);
    assert_eq!(h.heartbeat(&ids[1], 1), ErrorCode::CoordinatorNotAvailable);
    let (_, r) = h.join(&ids[1]);
    assert_eq!(r.map(|r| r.error), Some(ErrorCode::CoordinatorNotAvailable));
}

#[test]
fn describe_list_and_reload() {
    let (mut h, ids) = Harness::stable(2);
    let d = h.group.describe();
    assert_eq!(
        (
            d.state.as_str(),
            d.protocol_type.as_str(),
            d.protocol_data.as_str()
        ),
        ("Stable", "consumer", "range")
    );
    assert_eq!(d.members.len(), 2);
    assert!(!d.members[0].metadata.is_empty());
    assert_eq!(
        &d.members[0].assignment[..],
        format!("assign:{}", d.members[0].member_id).as_bytes()
    );
    let l = h.group.listing();
    assert_eq!((l.state.as_str(), l.group_type), ("Stable", "classic"));
    assert_eq!(h.group.subscribed_topics().map(|t| t.len()), Some(1));
    assert!(h.group.is_subscribed_to_topic("t") && !h.group.is_subscribed_to_topic("u"));
    assert_eq!(
        h.group.offset_expiration(),
        Some(crate::offsets::ExpirationBase::CommitTimestamp)
    );

    let (mut loaded, effects) = ClassicGroup::load(h.group.current_snapshot(), config(), 1_000);
    assert!(effects.is_empty());
    assert_eq!(loaded.state(), GroupState::Stable);
    assert_eq!(loaded.leader(), Some(ids[0].as_str()));
    assert_eq!(loaded.generation_id(), 1);
    assert_eq!(loaded.describe().members, d.members);
    assert_eq!(loaded.heartbeat(&ids[1], None, 1, 2_000), ErrorCode::None);
    assert!(loaded.is_subscribed_to_topic("t"));
    assert_eq!(loaded.next_deadline(), Some(1_000 + i64::from(SESSION)));

    h.leave(&ids[0]);
    h.leave(&ids[1]);
    let emptied_at = h.group.state_timestamp_ms();
    assert_eq!(h.group.describe().state.as_str(), "Empty");
    assert_eq!(
        h.group.offset_expiration(),
        Some(crate::offsets::ExpirationBase::EmptySince(emptied_at))
    );
    let (empty, _) = ClassicGroup::load(h.group.current_snapshot(), config(), 0);
    assert_eq!(
        (empty.state(), empty.protocol_type()),
        (GroupState::Empty, Some("consumer"))
    );
}

#[test]
fn describe_during_a_rebalance_omits_metadata() {
    let (mut h, _) = Harness::stable(1);
    h.new_member();
    let d = h.group.describe();
    assert_eq!(d.state.as_str(), "PreparingRebalance");
    assert_eq!(d.protocol_data, "");
    assert!(d.members.iter().all(|m| m.metadata.is_empty()));
}
