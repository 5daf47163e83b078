//! A consumer group's durable form: the `__consumer_offsets` records Kafka writes for KIP-848
//! groups (group epoch, member metadata, target assignment, current assignment), produced as
//! the difference between the group before and after an operation, and applied back on load.

use std::collections::BTreeMap;

use super::{ConsumerGroup, ConsumerMember, MemberState};
use crate::assignor::{GroupAssignment, TopicPartitions};
use crate::coordinator::Record;

/// A member's metadata record (`ConsumerGroupMemberMetadataValue`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberRecord {
    /// `group.instance.id`.
    pub instance_id: Option<String>,
    /// Rack.
    pub rack_id: Option<String>,
    /// Client id.
    pub client_id: String,
    /// Client host.
    pub client_host: String,
    /// Subscribed topics.
    pub subscribed_topics: Vec<String>,
    /// Subscription regex.
    pub subscribed_topic_regex: Option<String>,
    /// Rebalance timeout.
    pub rebalance_timeout_ms: i32,
    /// Requested assignor.
    pub server_assignor: Option<String>,
}

/// A member's current assignment record (`ConsumerGroupCurrentMemberAssignmentValue`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssignmentRecord {
    /// Member epoch.
    pub epoch: i32,
    /// Previous member epoch.
    pub previous_epoch: i32,
    /// Kafka's member state code: 0 stable, 1 unrevoked, 2 unreleased.
    pub state: i8,
    /// Owned partitions.
    pub assigned: TopicPartitions,
    /// Partitions being revoked.
    pub pending_revocation: TopicPartitions,
}

/// What of a group is persisted, to compare before and after an operation.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PersistedView {
    epoch: i32,
    assignment_epoch: i32,
    members: BTreeMap<String, (MemberRecord, AssignmentRecord)>,
    target: GroupAssignment,
}

fn state_code(s: MemberState) -> i8 {
    match s {
        MemberState::Stable => 0,
        MemberState::UnrevokedPartitions => 1,
        MemberState::UnreleasedPartitions => 2,
    }
}

fn state_of(code: i8) -> MemberState {
    match code {
        1 => MemberState::UnrevokedPartitions,
        2 => MemberState::UnreleasedPartitions,
        _ => MemberState::Stable,
    }
}

impl ConsumerMember {
    fn records(&self) -> (MemberRecord, AssignmentRecord) {
        (
            MemberRecord {
                instance_id: self.instance_id.clone(),
                rack_id: self.rack_id.clone(),
                client_id: self.client_id.clone(),
                client_host: self.client_host.clone(),
                subscribed_topics: self.subscribed_topics.iter().cloned().collect(),
                subscribed_topic_regex: self.subscribed_topic_regex.clone(),
                rebalance_timeout_ms: self.rebalance_timeout_ms,
                server_assignor: self.server_assignor.clone(),
            },
            AssignmentRecord {
                epoch: self.epoch,
                previous_epoch: self.previous_epoch,
                state: state_code(self.state),
                assigned: self.assigned.clone(),
                pending_revocation: self.pending_revocation.clone(),
            },
        )
    }
}

impl ConsumerGroup {
    /// The persisted part of the group now.
    pub fn view(&self) -> PersistedView {
        PersistedView {
            epoch: self.group_epoch,
            assignment_epoch: self.assignment_epoch,
            members: self
                .members
                .iter()
                .map(|(id, m)| (id.clone(), m.records()))
                .collect(),
            target: self.target.clone(),
        }
    }

    /// Applies a record read back while loading; members' sessions start at `now`.
    pub(crate) fn replay(&mut self, record: Record, now: i64) {
        let session = now.saturating_add(self.config.consumer_session_timeout_ms);
        match record {
            Record::ConsumerGroupEpoch { epoch, .. } => self.group_epoch = epoch.unwrap_or(0),
            Record::ConsumerTargetEpoch { epoch, .. } => {
                self.assignment_epoch = epoch.unwrap_or(0);
            }
            Record::ConsumerTargetMember {
                member_id,
                partitions,
                ..
            } => match partitions {
                Some(p) => {
                    self.target.insert(member_id, p);
                }
                None => {
                    self.target.remove(&member_id);
                }
            },
            Record::ConsumerMember {
                member_id, value, ..
            } => match value {
                Some(v) => {
                    let m = self
                        .members
                        .entry(member_id.clone())
                        .or_insert_with(|| ConsumerMember::loaded(member_id, session));
                    m.instance_id = v.instance_id;
                    m.rack_id = v.rack_id;
                    m.client_id = v.client_id;
                    m.client_host = v.client_host;
                    m.subscribed_topics = v.subscribed_topics.into_iter().collect();
                    m.subscribed_topic_regex = v.subscribed_topic_regex;
                    m.rebalance_timeout_ms = v.rebalance_timeout_ms;
                    m.server_assignor = v.server_assignor;
                    self.empty_since = None;
                }
                None => {
                    self.members.remove(&member_id);
                    self.owners.retain(|_, o| *o != member_id);
                    if self.members.is_empty() {
                        self.empty_since = Some(now);
                    }
                }
            },
            Record::ConsumerCurrentAssignment {
                member_id, value, ..
            } => {
                let Some(v) = value else { return };
                let m = self
                    .members
                    .entry(member_id.clone())
                    .or_insert_with(|| ConsumerMember::loaded(member_id.clone(), session));
                m.epoch = v.epoch;
                m.previous_epoch = v.previous_epoch;
                m.state = state_of(v.state);
                m.revocation_deadline = (m.state == MemberState::UnrevokedPartitions)
                    .then(|| now.saturating_add(i64::from(m.rebalance_timeout_ms)));
                m.assigned = v.assigned;
                m.pending_revocation = v.pending_revocation;
                self.owners.retain(|_, o| *o != member_id);
                for tps in [&m.assigned, &m.pending_revocation] {
                    for (t, ps) in tps {
                        for p in ps {
                            self.owners.insert((t.clone(), *p), member_id.clone());
                        }
                    }
                }
                self.empty_since = None;
            }
            _ => {}
        }
    }
}

impl ConsumerMember {
    /// A member known only by id, while its records are being replayed.
    fn loaded(member_id: String, session_deadline: i64) -> Self {
        ConsumerMember {
            member_id,
            instance_id: None,
            rack_id: None,
            client_id: String::new(),
            client_host: String::new(),
            epoch: 0,
            previous_epoch: 0,
            state: MemberState::Stable,
            subscribed_topics: Default::default(),
            subscribed_topic_regex: None,
            server_assignor: None,
            rebalance_timeout_ms: 0,
            assigned: TopicPartitions::new(),
            pending_revocation: TopicPartitions::new(),
            session_deadline,
            revocation_deadline: None,
            departed: false,
        }
    }
}

/// The records that turn `before` into `after` (`None`: the group does not exist).
pub fn diff(
    group_id: &str,
    before: Option<&PersistedView>,
    after: Option<&PersistedView>,
) -> Vec<Record> {
    let empty = PersistedView::default();
    let b = before.unwrap_or(&empty);
    let g = || group_id.to_string();
    let mut out = Vec::new();
    let a = match after {
        Some(a) => a,
        None => {
            if before.is_none() {
                return out;
            }
            for id in b.members.keys() {
                member_tombstones(group_id, id, &mut out);
            }
            out.push(Record::ConsumerTargetEpoch {
                group_id: g(),
                epoch: None,
            });
            out.push(Record::ConsumerGroupEpoch {
                group_id: g(),
                epoch: None,
            });
            return out;
        }
    };
    for id in b.members.keys().filter(|id| !a.members.contains_key(*id)) {
        member_tombstones(group_id, id, &mut out);
    }
    for (id, (meta, _)) in &a.members {
        if before.is_none() || b.members.get(id).map(|o| &o.0) != Some(meta) {
            out.push(Record::ConsumerMember {
                group_id: g(),
                member_id: id.clone(),
                value: Some(meta.clone()),
            });
        }
    }
    if before.is_none() || a.epoch != b.epoch {
        out.push(Record::ConsumerGroupEpoch {
            group_id: g(),
            epoch: Some(a.epoch),
        });
    }
    for (id, parts) in &a.target {
        if b.target.get(id) != Some(parts) {
            out.push(Record::ConsumerTargetMember {
                group_id: g(),
                member_id: id.clone(),
                partitions: Some(parts.clone()),
            });
        }
    }
    for id in b
        .target
        .keys()
        .filter(|id| !a.target.contains_key(*id) && a.members.contains_key(*id))
    {
        out.push(Record::ConsumerTargetMember {
            group_id: g(),
            member_id: id.clone(),
            partitions: None,
        });
    }
    if before.is_none() || a.assignment_epoch != b.assignment_epoch {
        out.push(Record::ConsumerTargetEpoch {
            group_id: g(),
            epoch: Some(a.assignment_epoch),
        });
    }
    for (id, (_, current)) in &a.members {
        if b.members.get(id).map(|o| &o.1) != Some(current) {
            out.push(Record::ConsumerCurrentAssignment {
                group_id: g(),
                member_id: id.clone(),
                value: Some(current.clone()),
            });
        }
    }
    out
}

fn member_tombstones(group_id: &str, member_id: &str, out: &mut Vec<Record>) {
    out.push(Record::ConsumerCurrentAssignment {
        group_id: group_id.to_string(),
        member_id: member_id.to_string(),
        value: None,
    });
    out.push(Record::ConsumerTargetMember {
        group_id: group_id.to_string(),
        member_id: member_id.to_string(),
        partitions: None,
    });
    out.push(Record::ConsumerMember {
        group_id: group_id.to_string(),
        member_id: member_id.to_string(),
        value: None,
    });
}
