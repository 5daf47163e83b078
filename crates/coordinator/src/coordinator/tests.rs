//! The coordinator as the broker drives it: unknown groups, offsets, deletion, expiry and
//! rebuilding state from its own records.

use bytes::Bytes;
use weir_protocol::error::ErrorCode;

use super::*;
use crate::classic::{Protocol, Reply};
use crate::group::SequentialIds;
use crate::offsets::ExpirationBase;
use crate::subscription::encode_subscription;

const MINUTE: i64 = 60_000;

fn config() -> GroupConfig {
    GroupConfig {
        initial_rebalance_delay_ms: 0,
        offsets_retention_ms: 10 * MINUTE,
        ..GroupConfig::default()
    }
}

fn join_request(token: u64, member_id: &str, protocol_type: &str) -> JoinRequest {
    JoinRequest {
        token,
        member_id: member_id.into(),
        group_instance_id: None,
        protocol_type: protocol_type.into(),
        protocols: vec![Protocol::new("range", encode_subscription(&["t"], 1))],
        session_timeout_ms: 10_000,
        rebalance_timeout_ms: 10_000,
        client_id: "c".into(),
        client_host: "h".into(),
        reason: None,
        require_known_member_id: false,
        supports_skip_assignment: true,
    }
}

/// Drives the coordinator like a broker, keeping every record it would append.
struct Broker {
    c: GroupCoordinator,
    ids: SequentialIds,
    now: i64,
    log: Vec<Record>,
}

impl Broker {
    fn new() -> Self {
        Broker {
            c: GroupCoordinator::new(config()),
            ids: SequentialIds::default(),
            now: 0,
            log: Vec::new(),
        }
    }

    /// Carries out effects: writes succeed at once; returns the responses.
    fn carry_out(&mut self, group: &str, effects: Vec<Effect>) -> Vec<Effect> {
        let mut responses = Vec::new();
        let mut queue = effects;
        while !queue.is_empty() {
            for e in std::mem::take(&mut queue) {
                match e {
                    Effect::PersistGroup { write_id, snapshot } => {
                        self.log.push(Record::GroupMetadata(snapshot));
                        queue.extend(self.c.persisted(group, write_id, Ok(()), self.now));
                    }
                    other => responses.push(other),
                }
            }
        }
        responses
    }

    /// A one-member group of `protocol_type`, Stable; returns the member id.
    fn stable_group(&mut self, group: &str, protocol_type: &str) -> String {
        let out = self.c.join(
            group,
            join_request(1, "", protocol_type),
            &mut self.ids,
            self.now,
        );
        assert_eq!(out.reply, Reply::Pending);
        self.now += 1;
        let effects = self.c.tick(self.now);
        let member = match effects.first() {
            Some(Effect::JoinResponse { response, .. }) => response.member_id.clone(),
            other => panic!("join response expected, got {other:?}"),
        };
        let sync = SyncRequest {
            token: 2,
            member_id: member.clone(),
            generation_id: 1,
            group_instance_id: None,
            protocol_type: None,
            protocol_name: None,
            assignments: vec![(member.clone(), Bytes::from_static(b"assignment"))],
        };
        let out = self.c.sync(group, sync);
        let responses = self.carry_out(group, out.effects);
        assert!(matches!(
            &responses[..],
            [Effect::SyncResponse { token: 2, .. }]
        ));
        assert_eq!(
            self.c.group(group).map(ClassicGroup::state),
            Some(GroupState::Stable)
        );
        member
    }

    fn commit(
        &mut self,
        group: &str,
        member: &str,
        generation: i32,
        topic: &str,
        offset: i64,
    ) -> Result<CommitResult, ErrorCode> {
        let req = OffsetCommit {
            group_id: group.into(),
            member_id: member.into(),
            group_instance_id: None,
            generation_id: generation,
            retention_time_ms: -1,
            api_version: 9,
            topics: vec![CommitTopic {
                name: topic.into(),
                partitions: vec![CommitPartition {
                    partition: 0,
                    offset,
                    leader_epoch: 1,
                    metadata: None,
                    commit_timestamp_ms: -1,
                }],
            }],
        };
        let result = self.c.commit_offsets(req, self.now);
        if let Ok(r) = &result {
            self.log.extend(r.records.iter().cloned());
        }
        result
    }

    fn fetched(&self, group: &str, topic: &str) -> i64 {
        let topics = [(topic.to_string(), vec![0])];
        self.c.fetch_offsets(group, Some(&topics))[0].1[0].offset
    }
}

#[test]
fn unknown_groups_follow_kafka() {
    let mut b = Broker::new();
    let out =
        b.c.join("g", join_request(1, "someone", "consumer"), &mut b.ids, 0);
    assert_eq!(
        out.reply.ready().map(|r| r.error),
        Some(ErrorCode::UnknownMemberId)
    );
    let out = b.c.join("", join_request(1, "", "consumer"), &mut b.ids, 0);
    assert_eq!(
        out.reply.ready().map(|r| r.error),
        Some(ErrorCode::InvalidGroupId)
    );
    let mut bad = join_request(1, "", "consumer");
    bad.session_timeout_ms = 1;
    let out = b.c.join("g", bad, &mut b.ids, 0);
    assert_eq!(
        out.reply.ready().map(|r| r.error),
        Some(ErrorCode::InvalidSessionTimeout)
    );
    assert!(b.c.group("g").is_none(), "refused joins create nothing");
    assert_eq!(
        b.c.heartbeat("g", "m", None, 1, 0),
        ErrorCode::UnknownMemberId
    );
    let leave = b.c.leave("g", Vec::new(), 0).reply.ready().map(|r| r.error);
    assert_eq!(leave, Some(ErrorCode::UnknownMemberId));
    assert_eq!(b.c.describe("g").state, GroupState::Dead);
    assert_eq!(b.fetched("g", "t"), -1);
    assert_eq!(b.c.delete_group("g"), Err(ErrorCode::GroupIdNotFound));
    assert_eq!(
        b.c.delete_offsets("g", &[]).map(|_| ()),
        Err(ErrorCode::GroupIdNotFound)
    );
}

#[test]
fn simple_commits_create_a_group_and_member_commits_need_one() {
    let mut b = Broker::new();
    assert_eq!(
        b.commit("g", "m", 3, "t", 5).map(|_| ()),
        Err(ErrorCode::GroupIdNotFound)
    );
    assert!(b.c.group("g").is_none());
    let r = b
        .commit("g", "", -1, "t", 5)
        .unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(
        r.topics,
        vec![("t".to_string(), vec![(0, ErrorCode::None)])]
    );
    assert_eq!(r.records.len(), 1);
    let g = b.c.group("g").unwrap_or_else(|| panic!("created"));
    assert_eq!((g.state(), g.protocol_type()), (GroupState::Empty, None));
    assert_eq!(b.fetched("g", "t"), 5);
    assert_eq!(b.c.list(&["empty"]).len(), 1);
    assert!(b.c.list(&["Stable"]).is_empty());
}

#[test]
fn members_commit_within_their_generation() {
    let mut b = Broker::new();
    let m = b.stable_group("g", "consumer");
    assert!(b.commit("g", &m, 1, "t", 42).is_ok());
    assert_eq!(b.fetched("g", "t"), 42);
    assert_eq!(
        b.commit("g", &m, 0, "t", 43).map(|_| ()),
        Err(ErrorCode::IllegalGeneration)
    );
    assert_eq!(
        b.commit("g", "", -1, "t", 43).map(|_| ()),
        Err(ErrorCode::UnknownMemberId)
    );
    assert_eq!(b.fetched("g", "t"), 42);

    let mut big = OffsetCommit {
        group_id: "g".into(),
        member_id: m.clone(),
        group_instance_id: None,
        generation_id: 1,
        retention_time_ms: -1,
        api_version: 8,
        topics: vec![CommitTopic {
            name: "t".into(),
            partitions: vec![CommitPartition {
                partition: 1,
                offset: 1,
                leader_epoch: -1,
                metadata: Some("x".repeat(5_000)),
                commit_timestamp_ms: -1,
            }],
        }],
    };
    let r =
        b.c.commit_offsets(big.clone(), 0)
            .unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(r.topics[0].1, vec![(1, ErrorCode::OffsetMetadataTooLarge)]);
    assert!(r.records.is_empty());
    big.group_id = "other".into();
    assert_eq!(
        b.c.commit_offsets(big, 0).map(|_| ()),
        Err(ErrorCode::IllegalGeneration),
        "v8"
    );
}

#[test]
fn offset_delete_rules() {
    let mut b = Broker::new();
    let m = b.stable_group("g", "consumer");
    b.commit("g", &m, 1, "t", 1)
        .map(|_| ())
        .unwrap_or_else(|e| panic!("{e:?}"));
    b.commit("g", &m, 1, "old", 1)
        .map(|_| ())
        .unwrap_or_else(|e| panic!("{e:?}"));
    let topics = [("t".to_string(), vec![0]), ("old".to_string(), vec![0])];
    let (results, records) =
        b.c.delete_offsets("g", &topics)
            .unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(results[0].1, vec![(0, ErrorCode::GroupSubscribedToTopic)]);
    assert_eq!(results[1].1, vec![(0, ErrorCode::None)]);
    assert_eq!(
        records,
        vec![Record::OffsetTombstone {
            group_id: "g".into(),
            topic: "old".into(),
            partition: 0
        }]
    );
    assert_eq!(b.fetched("g", "old"), -1);
    assert_eq!(b.fetched("g", "t"), 1);

    b.stable_group("connect-g", "connect");
    assert_eq!(
        b.c.delete_offsets("connect-g", &topics).map(|_| ()),
        Err(ErrorCode::NonEmptyGroup)
    );
}

#[test]
fn only_empty_groups_are_deleted() {
    let mut b = Broker::new();
    let m = b.stable_group("g", "consumer");
    b.commit("g", &m, 1, "t", 1)
        .map(|_| ())
        .unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(b.c.delete_group("g"), Err(ErrorCode::NonEmptyGroup));
    let left = b.c.leave(
        "g",
        vec![LeaveMember {
            member_id: m,
            group_instance_id: None,
            reason: None,
        }],
        b.now,
    );
    b.carry_out("g", left.effects);
    assert_eq!(
        b.c.group("g").map(ClassicGroup::state),
        Some(GroupState::Empty)
    );
    let records = b.c.delete_group("g").unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(
        records,
        vec![
            Record::OffsetTombstone {
                group_id: "g".into(),
                topic: "t".into(),
                partition: 0
            },
            Record::GroupTombstone {
                group_id: "g".into()
            },
        ]
    );
    assert!(b.c.group("g").is_none());
    assert_eq!(b.fetched("g", "t"), -1);
}

#[test]
fn offsets_expire_by_kafka_rules() {
    let mut b = Broker::new();
    let m = b.stable_group("g", "consumer");
    b.commit("g", &m, 1, "t", 1)
        .map(|_| ())
        .unwrap_or_else(|e| panic!("{e:?}"));
    b.commit("g", &m, 1, "unsubscribed", 1)
        .map(|_| ())
        .unwrap_or_else(|e| panic!("{e:?}"));
    let committed = b.now;

    // A Stable group: only topics it no longer subscribes to expire, from their commit.
    assert!(b.c.expire_offsets(committed + 10 * MINUTE - 1).is_empty());
    let expired = b.c.expire_offsets(committed + 10 * MINUTE);
    assert_eq!(
        expired,
        vec![Record::OffsetTombstone {
            group_id: "g".into(),
            topic: "unsubscribed".into(),
            partition: 0
        }]
    );
    assert_eq!(b.fetched("g", "t"), 1);

    // The member leaves much later: retention counts from when the group became empty.
    b.now = committed + 60 * MINUTE;
    let left = b.c.leave(
        "g",
        vec![LeaveMember {
            member_id: m,
            group_instance_id: None,
            reason: None,
        }],
        b.now,
    );
    b.carry_out("g", left.effects);
    let emptied = b.now;
    let g = b.c.group("g").unwrap_or_else(|| panic!("group"));
    assert_eq!(
        g.offset_expiration(),
        Some(ExpirationBase::EmptySince(Some(emptied)))
    );
    assert!(b.c.expire_offsets(emptied + 10 * MINUTE - 1).is_empty());
    let expired = b.c.expire_offsets(emptied + 10 * MINUTE);
    assert_eq!(
        expired,
        vec![
            Record::OffsetTombstone {
                group_id: "g".into(),
                topic: "t".into(),
                partition: 0
            },
            Record::GroupTombstone {
                group_id: "g".into()
            },
        ]
    );
    assert!(
        b.c.group("g").is_none(),
        "an empty group without offsets is deleted"
    );
}

#[test]
fn replaying_the_log_rebuilds_the_state() {
    let mut b = Broker::new();
    let m = b.stable_group("g", "consumer");
    b.commit("g", &m, 1, "t", 7)
        .map(|_| ())
        .unwrap_or_else(|e| panic!("{e:?}"));
    b.commit("simple", "", -1, "u", 9)
        .map(|_| ())
        .unwrap_or_else(|e| panic!("{e:?}"));

    let mut fresh = GroupCoordinator::new(config());
    for r in b.log.clone() {
        assert!(fresh.replay(r, 100).is_empty());
    }
    assert_eq!(fresh.describe("g"), b.c.describe("g"));
    assert_eq!(fresh.fetch_offsets("g", None), b.c.fetch_offsets("g", None));
    assert_eq!(
        fresh.fetch_offsets("simple", None),
        b.c.fetch_offsets("simple", None)
    );
    assert_eq!(fresh.heartbeat("g", &m, None, 1, 200), ErrorCode::None);
    assert_eq!(fresh.next_deadline(), Some(200 + 10_000));

    // A member that never comes back is expired by the new coordinator's clock.
    let effects = fresh.tick(200 + 10_000);
    assert!(matches!(
        &effects[..],
        [Effect::PersistGroup { snapshot, .. }] if snapshot.members.is_empty() && snapshot.generation_id == 2
    ));
    assert_eq!(
        fresh.group("g").map(ClassicGroup::state),
        Some(GroupState::Empty)
    );

    let effects = fresh.replay(
        Record::GroupTombstone {
            group_id: "g".into(),
        },
        0,
    );
    assert!(effects.is_empty());
    assert!(fresh.group("g").is_none());
}

#[test]
fn unload_answers_parked_requests_and_forgets_everything() {
    let mut b = Broker::new();
    let out =
        b.c.join("g", join_request(7, "", "consumer"), &mut b.ids, 0);
    assert_eq!(out.reply, Reply::Pending);
    let effects = b.c.unload();
    assert!(matches!(
        &effects[..],
        [Effect::JoinResponse { token: 7, response }] if response.error == ErrorCode::NotCoordinator
    ));
    assert!(b.c.group("g").is_none());
    assert_eq!(b.c.next_deadline(), None);
}

mod consumer_groups {
    use std::collections::BTreeSet;

    use crate::assignor::TopicPartitions;
    use crate::consumer::Heartbeat;
    use crate::{GroupConfig, GroupCoordinator, Record};

    fn counts(t: &str) -> Option<i32> {
        (t == "t").then_some(4)
    }

    fn beat(id: &str, epoch: i32, owned: TopicPartitions) -> Heartbeat {
        Heartbeat {
            member_id: id.into(),
            member_epoch: epoch,
            rebalance_timeout_ms: 10_000,
            subscribed_topics: (epoch == 0).then(|| BTreeSet::from(["t".to_string()])),
            owned: Some(owned),
            ..Heartbeat::default()
        }
    }

    #[test]
    fn a_consumer_group_comes_back_from_its_records() {
        let mut c = GroupCoordinator::new(GroupConfig::default());
        let mut log: Vec<Record> = Vec::new();
        let mut hb = |c: &mut GroupCoordinator, id: &str, epoch: i32, owned: TopicPartitions| {
            let (r, records) =
                c.consumer_heartbeat("g", beat(id, epoch, owned), || "x".into(), &counts, 0);
            log.extend(records);
            r.unwrap()
        };
        let a = hb(&mut c, "a", 0, TopicPartitions::new());
        let b = hb(&mut c, "b", 0, TopicPartitions::new());
        let a2 = hb(&mut c, "a", a.member_epoch, a.assignment.clone().unwrap());
        let a3 = hb(&mut c, "a", a.member_epoch, a2.assignment.clone().unwrap());
        let b2 = hb(&mut c, "b", b.member_epoch, TopicPartitions::new());
        let mut d = GroupCoordinator::new(GroupConfig::default());
        for r in log {
            d.replay(r, 5);
        }
        let (before, after) = (
            c.consumer_group("g").unwrap(),
            d.consumer_group("g").unwrap(),
        );
        assert_eq!(after.view(), before.view());
        // The members go on where they were: no fencing, no new epoch.
        let epoch = after.group_epoch();
        let (r, _) = d.consumer_heartbeat(
            "g",
            beat("b", b2.member_epoch, b2.assignment.clone().unwrap()),
            || "x".into(),
            &counts,
            6,
        );
        assert_eq!(r.unwrap().member_epoch, b2.member_epoch);
        let (r, _) = d.consumer_heartbeat(
            "g",
            beat("a", a3.member_epoch, a2.assignment.unwrap()),
            || "x".into(),
            &counts,
            6,
        );
        assert_eq!(r.unwrap().member_epoch, a3.member_epoch);
        assert_eq!(d.consumer_group("g").unwrap().group_epoch(), epoch);
        // Deleting the empty group writes tombstones that remove it on replay.
        let (_, leave_a) = d.consumer_heartbeat(
            "g",
            beat("a", -1, TopicPartitions::new()),
            || "x".into(),
            &counts,
            7,
        );
        let (_, leave_b) = d.consumer_heartbeat(
            "g",
            beat("b", -1, TopicPartitions::new()),
            || "x".into(),
            &counts,
            7,
        );
        let deleted = d.delete_group("g").unwrap();
        let mut e = GroupCoordinator::new(GroupConfig::default());
        for r in leave_a.into_iter().chain(leave_b).chain(deleted) {
            e.replay(r, 8);
        }
        assert!(d.consumer_group("g").is_none());
        assert!(e.consumer_group("g").is_none());
    }
}

fn txn_commit(group: &str, pid: i64, offset: i64) -> TxnOffsetCommit {
    TxnOffsetCommit {
        group_id: group.into(),
        producer_id: pid,
        member_id: String::new(),
        group_instance_id: None,
        generation_id: -1,
        topics: vec![CommitTopic {
            name: "t".into(),
            partitions: vec![CommitPartition {
                partition: 0,
                offset,
                leader_epoch: -1,
                metadata: None,
                commit_timestamp_ms: -1,
            }],
        }],
    }
}

#[test]
fn transactional_offsets_wait_for_their_marker() {
    let mut c = GroupCoordinator::new(config());
    let fetched = |c: &GroupCoordinator| {
        c.fetch_offsets("g", Some(&[("t".to_string(), vec![0])]))[0].1[0].offset
    };
    let (results, records) = c.txn_commit_offsets(txn_commit("g", 7, 10), 0).unwrap();
    assert_eq!(results, vec![("t".to_string(), vec![(0, ErrorCode::None)])]);
    assert_eq!(records.len(), 1);
    assert!(
        !c.has_pending_offset("g", "t", 0),
        "pending only once written"
    );
    for r in records {
        c.replay_pending(7, r);
    }
    assert!(c.has_pending_offset("g", "t", 0));
    assert_eq!(fetched(&c), -1, "pending offsets are not committed yet");
    c.complete_txn(7, true);
    assert!(!c.has_pending_offset("g", "t", 0));
    assert_eq!(fetched(&c), 10);
    // An aborted transaction's offsets are dropped.
    let (_, records) = c.txn_commit_offsets(txn_commit("g", 8, 20), 0).unwrap();
    for r in records {
        c.replay_pending(8, r);
    }
    c.complete_txn(8, false);
    assert_eq!(fetched(&c), 10);
    // Replayed from the log: pending until the marker replays.
    let mut r = GroupCoordinator::new(config());
    r.replay_pending(
        9,
        Record::OffsetCommit {
            group_id: "g".into(),
            topic: "t".into(),
            partition: 0,
            value: OffsetAndMetadata::from_commit(30, -1, None, -1, -1, 0),
        },
    );
    assert!(r.has_pending_offset("g", "t", 0));
    r.complete_txn(9, true);
    assert_eq!(fetched(&r), 30);
    // A member that names a generation must be in it.
    let mut bad = txn_commit("other", 7, 1);
    bad.generation_id = 3;
    bad.member_id = "m".into();
    assert_eq!(
        c.txn_commit_offsets(bad, 0).map(|_| ()),
        Err(ErrorCode::IllegalGeneration)
    );
}
