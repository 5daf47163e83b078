//! [`ShareGroup`]: the membership of one share group (KIP-932), driven by
//! ShareGroupHeartbeat. Members choose their own ids (KIP-1082), join with epoch 0, leave
//! with epoch -1 and are dropped when their session lapses. The coordinator assigns
//! partitions itself, with no revocation handshake (records, not partitions, are what members
//! own): every partition of a subscribed topic goes to at least one of its subscribers, and a
//! partition is shared when a topic has more subscribers than partitions.

mod persist;

use std::collections::{BTreeMap, BTreeSet};

use weir_protocol::error::ErrorCode;

use crate::assignor::TopicPartitions;
pub use persist::{diff, ShareAssignmentRecord, ShareMemberRecord, ShareView};

/// One member of a share group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShareMember {
    /// Its id, chosen by the client.
    pub member_id: String,
    /// The group epoch of its current assignment.
    pub member_epoch: i32,
    /// The client id of its last heartbeat.
    pub client_id: String,
    /// The host it connects from.
    pub client_host: String,
    /// Its rack, if it has one.
    pub rack_id: Option<String>,
    /// The topics it subscribes to.
    pub subscribed: BTreeSet<String>,
    /// Its partitions.
    pub assignment: TopicPartitions,
    session_deadline: i64,
}

/// A ShareGroupHeartbeat, as the coordinator sees it.
#[derive(Debug, Clone)]
pub struct ShareHeartbeat {
    /// The member's id.
    pub member_id: String,
    /// 0 to join, -1 to leave, else the epoch last returned to it.
    pub member_epoch: i32,
    /// Its rack.
    pub rack_id: Option<String>,
    /// Its subscription, when it changed (always on joining).
    pub subscribed_topics: Option<Vec<String>>,
    /// Its client id.
    pub client_id: String,
    /// Its host.
    pub client_host: String,
}

/// What a heartbeat is answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShareHeartbeatResult {
    /// The member's id.
    pub member_id: String,
    /// Its epoch now (-1 after leaving).
    pub member_epoch: i32,
    /// Its partitions, when they are new to it.
    pub assignment: Option<TopicPartitions>,
}

/// The state of a share group, as Kafka names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShareGroupState {
    /// No members.
    Empty,
    /// Members share the partitions.
    Stable,
}

impl ShareGroupState {
    /// The name DescribeGroups and ListGroups report.
    pub fn as_str(self) -> &'static str {
        match self {
            ShareGroupState::Empty => "Empty",
            ShareGroupState::Stable => "Stable",
        }
    }
}

/// One share group's membership.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShareGroup {
    group_id: String,
    epoch: i32,
    members: BTreeMap<String, ShareMember>,
    /// Partition counts of the subscribed topics, as last seen.
    partitions: BTreeMap<String, i32>,
    /// Every topic a member has subscribed to since the group was made here (whose
    /// share-partitions may have state).
    seen: BTreeSet<String>,
}

impl ShareGroup {
    /// An empty group.
    pub fn new(group_id: &str) -> Self {
        ShareGroup {
            group_id: group_id.to_string(),
            epoch: 0,
            members: BTreeMap::new(),
            partitions: BTreeMap::new(),
            seen: BTreeSet::new(),
        }
    }

    /// The group id.
    pub fn group_id(&self) -> &str {
        &self.group_id
    }

    /// The group epoch: bumped whenever the assignment changes.
    pub fn epoch(&self) -> i32 {
        self.epoch
    }

    /// Its state.
    pub fn state(&self) -> ShareGroupState {
        if self.members.is_empty() {
            ShareGroupState::Empty
        } else {
            ShareGroupState::Stable
        }
    }

    /// Whether it has no members.
    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// Its members, by id.
    pub fn members(&self) -> impl Iterator<Item = &ShareMember> {
        self.members.values()
    }

    /// Every topic some member subscribes to.
    pub fn subscribed_topics(&self) -> BTreeSet<String> {
        self.members
            .values()
            .flat_map(|m| m.subscribed.iter().cloned())
            .collect()
    }

    /// Every topic a member has subscribed to (DescribeShareGroupOffsets' default set).
    pub fn topics_seen(&self) -> &BTreeSet<String> {
        &self.seen
    }

    /// Handles a heartbeat at `now`; `partitions` gives a topic's partition count.
    pub fn heartbeat(
        &mut self,
        hb: ShareHeartbeat,
        partitions: &dyn Fn(&str) -> Option<i32>,
        session_timeout_ms: i64,
        now: i64,
    ) -> Result<ShareHeartbeatResult, ErrorCode> {
        if hb.member_epoch == -1 {
            if self.members.remove(&hb.member_id).is_none() {
                return Err(ErrorCode::UnknownMemberId);
            }
            self.reassign(partitions);
            return Ok(ShareHeartbeatResult {
                member_id: hb.member_id,
                member_epoch: -1,
                assignment: None,
            });
        }
        let joining = hb.member_epoch == 0;
        match self.members.get(&hb.member_id) {
            None if !joining => return Err(ErrorCode::UnknownMemberId),
            Some(m) if !joining && m.member_epoch != hb.member_epoch => {
                return Err(ErrorCode::FencedMemberEpoch)
            }
            _ => {}
        }
        let member = self
            .members
            .entry(hb.member_id.clone())
            .or_insert_with(|| ShareMember {
                member_id: hb.member_id.clone(),
                member_epoch: 0,
                client_id: String::new(),
                client_host: String::new(),
                rack_id: None,
                subscribed: BTreeSet::new(),
                assignment: TopicPartitions::new(),
                session_deadline: 0,
            });
        member.client_id = hb.client_id;
        member.client_host = hb.client_host;
        member.rack_id = hb.rack_id;
        member.session_deadline = now + session_timeout_ms;
        if let Some(topics) = hb.subscribed_topics {
            member.subscribed = topics.into_iter().collect();
            self.seen.extend(member.subscribed.iter().cloned());
        }
        if joining {
            // A rejoin starts from nothing: the client forgot its partitions.
            member.member_epoch = 0;
        }
        self.reassign(partitions);
        let Some(member) = self.members.get_mut(&hb.member_id) else {
            return Err(ErrorCode::UnknownMemberId);
        };
        let assignment = (member.member_epoch != self.epoch).then(|| member.assignment.clone());
        member.member_epoch = self.epoch;
        Ok(ShareHeartbeatResult {
            member_id: hb.member_id,
            member_epoch: self.epoch,
            assignment,
        })
    }

    /// Drops members whose session lapsed at or before `now`; their ids.
    pub fn expire(&mut self, now: i64) -> Vec<String> {
        let gone: Vec<String> = self
            .members
            .values()
            .filter(|m| m.session_deadline <= now)
            .map(|m| m.member_id.clone())
            .collect();
        if !gone.is_empty() {
            for id in &gone {
                self.members.remove(id);
            }
            let known = self.partitions.clone();
            self.reassign(&|t: &str| known.get(t).copied());
        }
        gone
    }

    /// The earliest session deadline.
    pub fn next_deadline(&self) -> Option<i64> {
        self.members.values().map(|m| m.session_deadline).min()
    }

    /// Recomputes every member's partitions; bumps the epoch if any changed.
    fn reassign(&mut self, partitions: &dyn Fn(&str) -> Option<i32>) {
        let topics = self.subscribed_topics();
        self.partitions = topics
            .iter()
            .filter_map(|t| partitions(t).map(|n| (t.clone(), n)))
            .collect();
        let mut target: BTreeMap<String, TopicPartitions> = self
            .members
            .keys()
            .map(|id| (id.clone(), TopicPartitions::new()))
            .collect();
        for (topic, &count) in &self.partitions {
            let subscribers: Vec<&String> = self
                .members
                .values()
                .filter(|m| m.subscribed.contains(topic))
                .map(|m| &m.member_id)
                .collect();
            if subscribers.is_empty() || count <= 0 {
                continue;
            }
            let n = subscribers.len();
            let p = usize::try_from(count).unwrap_or(0);
            for i in 0..n.max(p) {
                let member = subscribers[i % n];
                let partition = i32::try_from(i % p).unwrap_or(0);
                if let Some(a) = target.get_mut(member) {
                    a.entry(topic.clone()).or_default().insert(partition);
                }
            }
        }
        let mut changed = false;
        for (id, assignment) in target {
            if let Some(m) = self.members.get_mut(&id) {
                if m.assignment != assignment || m.member_epoch == 0 {
                    m.assignment = assignment;
                    changed = true;
                }
            }
        }
        if changed {
            self.epoch += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hb(member: &str, epoch: i32, topics: Option<&[&str]>) -> ShareHeartbeat {
        ShareHeartbeat {
            member_id: member.into(),
            member_epoch: epoch,
            rack_id: None,
            subscribed_topics: topics.map(|t| t.iter().map(|s| s.to_string()).collect()),
            client_id: "c".into(),
            client_host: "/127.0.0.1".into(),
        }
    }

    fn one_partition(t: &str) -> Option<i32> {
        (t == "jobs").then_some(1)
    }

    #[test]
    fn every_member_of_a_one_partition_topic_shares_it() {
        let mut g = ShareGroup::new("g");
        let a = g.heartbeat(hb("a", 0, Some(&["jobs"])), &one_partition, 45_000, 0);
        let a = a.unwrap();
        assert_eq!(a.member_epoch, 1);
        let b = g
            .heartbeat(hb("b", 0, Some(&["jobs"])), &one_partition, 45_000, 0)
            .unwrap();
        let expected: TopicPartitions = [("jobs".to_string(), [0].into())].into();
        assert_eq!(b.assignment, Some(expected.clone()));
        // "a" keeps its epoch until it heartbeats: its partitions did not change.
        let again = g
            .heartbeat(hb("a", a.member_epoch, None), &one_partition, 45_000, 1)
            .unwrap();
        assert_eq!(g.state(), ShareGroupState::Stable);
        assert_eq!(again.member_epoch, g.epoch());
        assert!(g.members().all(|m| m.assignment == expected));
    }

    #[test]
    fn partitions_spread_when_there_are_more_of_them() {
        let mut g = ShareGroup::new("g");
        let four = |t: &str| (t == "jobs").then_some(4);
        g.heartbeat(hb("a", 0, Some(&["jobs"])), &four, 45_000, 0)
            .unwrap();
        g.heartbeat(hb("b", 0, Some(&["jobs"])), &four, 45_000, 0)
            .unwrap();
        let sizes: Vec<usize> = g.members().map(|m| m.assignment["jobs"].len()).collect();
        assert_eq!(sizes, vec![2, 2]);
    }

    #[test]
    fn stale_epochs_unknown_members_leaving_and_expiry() {
        let mut g = ShareGroup::new("g");
        let first = g
            .heartbeat(hb("a", 0, Some(&["jobs"])), &one_partition, 1_000, 0)
            .unwrap();
        let stale = g.heartbeat(
            hb("a", first.member_epoch + 5, None),
            &one_partition,
            1_000,
            0,
        );
        assert_eq!(stale, Err(ErrorCode::FencedMemberEpoch));
        let unknown = g.heartbeat(hb("x", 3, None), &one_partition, 1_000, 0);
        assert_eq!(unknown, Err(ErrorCode::UnknownMemberId));
        g.heartbeat(hb("b", 0, Some(&["jobs"])), &one_partition, 1_000, 500)
            .unwrap();
        assert_eq!(g.expire(1_000), vec!["a".to_string()]);
        let left = g
            .heartbeat(hb("b", -1, None), &one_partition, 1_000, 600)
            .unwrap();
        assert_eq!(left.member_epoch, -1);
        assert!(g.is_empty());
        assert_eq!(g.state(), ShareGroupState::Empty);
    }
}
