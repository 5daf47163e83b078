//! The KIP-848 group: joins, cooperative hand-over through revocation, leaves, expiry,
//! fencing and static members.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;

use weir_protocol::error::ErrorCode;

use super::*;

const T: &str = "t";

fn counts(t: &str) -> Option<i32> {
    (t == T).then_some(4)
}

fn group() -> ConsumerGroup {
    ConsumerGroup::new("g", GroupConfig::default(), 0)
}

fn join(id: &str) -> Heartbeat {
    Heartbeat {
        member_id: id.into(),
        member_epoch: 0,
        rebalance_timeout_ms: 10_000,
        subscribed_topics: Some([T.to_string()].into()),
        owned: Some(TopicPartitions::new()),
        ..Heartbeat::default()
    }
}

fn beat(id: &str, epoch: i32, owned: &TopicPartitions) -> Heartbeat {
    Heartbeat {
        member_id: id.into(),
        member_epoch: epoch,
        owned: Some(owned.clone()),
        ..Heartbeat::default()
    }
}

fn hb(g: &mut ConsumerGroup, req: Heartbeat, now: i64) -> HeartbeatResponse {
    g.heartbeat(req, || "gen".into(), &counts, now).unwrap()
}

fn parts(a: &TopicPartitions) -> BTreeSet<i32> {
    a.get(T).cloned().unwrap_or_default()
}

#[test]
fn a_lone_member_gets_everything() {
    let mut g = group();
    let r = hb(&mut g, join("a"), 0);
    assert_eq!(parts(r.assignment.as_ref().unwrap()), (0..4).collect());
    assert!(r.member_epoch > 0);
    assert_eq!(g.state(), ConsumerGroupState::Stable);
}

#[test]
fn a_new_member_gets_partitions_only_after_the_owner_revokes_them() {
    let mut g = group();
    let a = hb(&mut g, join("a"), 0);
    let a_owned = a.assignment.unwrap();
    let b = hb(&mut g, join("b"), 1);
    // Nothing is free yet: b waits.
    assert_eq!(parts(b.assignment.as_ref().unwrap()), BTreeSet::new());
    assert_eq!(g.state(), ConsumerGroupState::Reconciling);
    // a is told to keep only its share, at its old epoch.
    let a2 = hb(&mut g, beat("a", a.member_epoch, &a_owned), 2);
    let a_keep = a2.assignment.unwrap();
    assert_eq!(parts(&a_keep).len(), 2);
    assert_eq!(a2.member_epoch, a.member_epoch);
    // a reports the revocation done and moves to the new epoch.
    let a3 = hb(&mut g, beat("a", a.member_epoch, &a_keep), 3);
    assert!(a3.member_epoch > a.member_epoch);
    // Now b's share is free.
    let b2 = hb(
        &mut g,
        beat("b", b.member_epoch, &TopicPartitions::new()),
        4,
    );
    let b_got = parts(b2.assignment.as_ref().unwrap());
    assert_eq!(b_got.len(), 2);
    assert!(b_got.is_disjoint(&parts(&a_keep)));
    assert_eq!(g.state(), ConsumerGroupState::Stable);
}

#[test]
fn leaving_and_expired_members_hand_their_partitions_on() {
    let mut g = group();
    let a = hb(&mut g, join("a"), 0);
    let a_owned = a.assignment.unwrap();
    hb(&mut g, join("b"), 0);
    let a2 = hb(&mut g, beat("a", a.member_epoch, &a_owned), 0);
    let a_keep = a2.assignment.unwrap();
    hb(&mut g, beat("a", a.member_epoch, &a_keep), 0);
    // b leaves: a gets everything back on its next heartbeat.
    hb(&mut g, beat("b", -1, &TopicPartitions::new()), 0);
    let epoch = g.members().find(|m| m.member_id == "a").unwrap().epoch;
    let a4 = hb(&mut g, beat("a", epoch, &a_keep), 0);
    assert_eq!(parts(a4.assignment.as_ref().unwrap()), (0..4).collect());
    // a stops heartbeating: its session ends and the group is empty.
    let deadline = g.next_deadline().unwrap();
    assert_eq!(g.tick(deadline - 1), 0);
    assert_eq!(g.tick(deadline), 1);
    assert_eq!(g.state(), ConsumerGroupState::Empty);
}

#[test]
fn stale_epochs_and_unknown_members_are_refused() {
    let mut g = group();
    let a = hb(&mut g, join("a"), 0);
    let owned = a.assignment.unwrap();
    let e = g.heartbeat(
        beat("a", a.member_epoch + 3, &owned),
        || "x".into(),
        &counts,
        0,
    );
    assert_eq!(e.unwrap_err(), ErrorCode::FencedMemberEpoch);
    let e = g.heartbeat(beat("zz", 1, &owned), || "x".into(), &counts, 0);
    assert_eq!(e.unwrap_err(), ErrorCode::UnknownMemberId);
    let mut bad = join("b");
    bad.server_assignor = Some("nope".into());
    let e = g.heartbeat(bad, || "x".into(), &counts, 0);
    assert_eq!(e.unwrap_err(), ErrorCode::UnsupportedAssignor);
    assert_eq!(
        g.validate_offset_request("a", a.member_epoch + 1),
        Err(ErrorCode::StaleMemberEpoch)
    );
    assert_eq!(g.validate_offset_request("a", a.member_epoch), Ok(()));
}

#[test]
fn a_static_member_rejoining_keeps_its_partitions_without_a_new_epoch() {
    let mut g = group();
    let mut j = join("a1");
    j.instance_id = Some("i".into());
    let a = hb(&mut g, j.clone(), 0);
    let epoch = g.group_epoch();
    hb(&mut g, beat("a1", -2, &a.assignment.clone().unwrap()), 1);
    let mut again = j;
    again.member_id = "a2".into();
    let a2 = hb(&mut g, again, 2);
    assert_eq!(a2.assignment, a.assignment);
    assert_eq!(a2.member_epoch, a.member_epoch);
    assert_eq!(
        g.group_epoch(),
        epoch,
        "a static rejoin bumped the group epoch"
    );
    // While the first incarnation is still there, the instance id is taken.
    let mut other = join("b");
    other.instance_id = Some("i".into());
    let e = g.heartbeat(other, || "x".into(), &counts, 3);
    assert_eq!(e.unwrap_err(), ErrorCode::UnreleasedInstanceId);
}

#[test]
fn new_partitions_bump_the_epoch_and_are_assigned() {
    let mut g = group();
    let a = hb(&mut g, join("a"), 0);
    let owned = a.assignment.unwrap();
    let more = |t: &str| (t == T).then_some(6);
    let r = g
        .heartbeat(beat("a", a.member_epoch, &owned), || "x".into(), &more, 1)
        .unwrap();
    assert_eq!(parts(r.assignment.as_ref().unwrap()), (0..6).collect());
}

/// A cluster of topics with two partitions each.
struct Cluster(Vec<&'static str>);

impl Topics for Cluster {
    fn partitions(&self, topic: &str) -> Option<i32> {
        self.0.contains(&topic).then_some(2)
    }

    fn names(&self) -> Vec<String> {
        self.0.iter().map(|t| t.to_string()).collect()
    }
}

fn join_regex(id: &str, regex: &str, names: &[&str]) -> Heartbeat {
    Heartbeat {
        subscribed_topics: Some(names.iter().map(|t| t.to_string()).collect()),
        subscribed_topic_regex: Some(regex.into()),
        ..join(id)
    }
}

fn topics(a: &TopicPartitions) -> BTreeSet<String> {
    a.iter()
        .filter(|(_, ps)| !ps.is_empty())
        .map(|(t, _)| t.clone())
        .collect()
}

#[test]
fn a_pattern_subscription_follows_matching_topics_as_they_come_and_go() {
    let mut g = group();
    let none = Cluster(vec!["other"]);
    let r = g
        .heartbeat(join_regex("a", "orders-.*", &[]), || "x".into(), &none, 0)
        .unwrap();
    assert_eq!(topics(r.assignment.as_ref().unwrap()), BTreeSet::new());
    let epoch = g.group_epoch();

    // A matching topic is created: the next heartbeat assigns it (and not the other).
    let some = Cluster(vec!["other", "orders-eu", "old-orders-eu"]);
    let owned = TopicPartitions::new();
    let r = g
        .heartbeat(beat("a", r.member_epoch, &owned), || "x".into(), &some, 1)
        .unwrap();
    assert!(
        g.group_epoch() > epoch,
        "a new matching topic bumps the group epoch"
    );
    let owned = r.assignment.unwrap();
    assert_eq!(topics(&owned), ["orders-eu".to_string()].into());
    assert!(g.is_subscribed_to_topic("orders-eu"));
    assert!(!g.is_subscribed_to_topic("old-orders-eu"));

    // It is deleted: its partitions go.
    let r = g
        .heartbeat(beat("a", r.member_epoch, &owned), || "x".into(), &none, 2)
        .unwrap();
    assert_eq!(topics(r.assignment.as_ref().unwrap()), BTreeSet::new());
}

#[test]
fn names_and_a_pattern_are_subscribed_together_and_an_empty_pattern_drops_it() {
    let mut g = group();
    let cluster = Cluster(vec!["a1", "a2", "b", "c"]);
    let r = g
        .heartbeat(join_regex("m", "a\\d", &["c"]), || "x".into(), &cluster, 0)
        .unwrap();
    let owned = r.assignment.unwrap();
    assert_eq!(
        topics(&owned),
        ["a1", "a2", "c"].iter().map(|t| t.to_string()).collect()
    );
    let drop = Heartbeat {
        subscribed_topic_regex: Some(String::new()),
        ..beat("m", r.member_epoch, &owned)
    };
    let r = g.heartbeat(drop, || "x".into(), &cluster, 1).unwrap();
    // Revocation first: the member keeps only what it is still subscribed to.
    assert_eq!(
        topics(r.assignment.as_ref().unwrap()),
        ["c".to_string()].into()
    );
}

#[test]
fn an_invalid_pattern_is_refused_and_changes_nothing() {
    let mut g = group();
    let cluster = Cluster(vec!["t"]);
    let e = g.heartbeat(join_regex("m", "a)|(b", &[]), || "x".into(), &cluster, 0);
    assert_eq!(e.unwrap_err(), ErrorCode::InvalidRegularExpression);
    assert_eq!(g.group_epoch(), 0);
    assert_eq!(g.state(), ConsumerGroupState::Empty);
}
