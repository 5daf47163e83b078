//! A group's durable form ([`GroupSnapshot`], the content of Kafka's `GroupMetadataValue`
//! record in `__consumer_offsets`), loading a group back from it, and the read-only views
//! DescribeGroups and ListGroups report.

use std::collections::BTreeMap;

use bytes::Bytes;

use super::api::{Effect, Protocol};
use super::member::Member;
use super::{after, ClassicGroup};
use crate::group::{GroupConfig, GroupState};

/// The persisted metadata of a classic group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupSnapshot {
    /// The group id (the record's key).
    pub group_id: String,
    /// The protocol type; `None` is written as an empty string.
    pub protocol_type: Option<String>,
    /// The generation.
    pub generation_id: i32,
    /// The chosen protocol (nullable).
    pub protocol_name: Option<String>,
    /// The leader's member id (nullable).
    pub leader: Option<String>,
    /// When the group entered its state, or -1 if unknown.
    pub current_state_timestamp_ms: i64,
    /// The members.
    pub members: Vec<MemberSnapshot>,
}

/// One member in a [`GroupSnapshot`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberSnapshot {
    /// The member id.
    pub member_id: String,
    /// The `group.instance.id` of a static member.
    pub group_instance_id: Option<String>,
    /// The client id.
    pub client_id: String,
    /// The client host.
    pub client_host: String,
    /// The rebalance timeout (-1 in old records: use the session timeout).
    pub rebalance_timeout_ms: i32,
    /// The session timeout.
    pub session_timeout_ms: i32,
    /// The member's metadata for the chosen protocol.
    pub subscription: Bytes,
    /// The member's assignment.
    pub assignment: Bytes,
}

/// A group as DescribeGroups reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupDescription {
    /// The group id.
    pub group_id: String,
    /// The state; `state.as_str()` is the wire string.
    pub state: GroupState,
    /// The protocol type, empty if none.
    pub protocol_type: String,
    /// The chosen protocol while Stable, else empty.
    pub protocol_data: String,
    /// The members.
    pub members: Vec<MemberDescription>,
}

/// One member as DescribeGroups reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberDescription {
    /// The member id.
    pub member_id: String,
    /// The `group.instance.id` of a static member.
    pub group_instance_id: Option<String>,
    /// The client id.
    pub client_id: String,
    /// The client host.
    pub client_host: String,
    /// The member's metadata for the chosen protocol (only while Stable).
    pub metadata: Bytes,
    /// The member's assignment.
    pub assignment: Bytes,
}

/// A group as ListGroups reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedGroup {
    /// The group id.
    pub group_id: String,
    /// The protocol type, empty if none.
    pub protocol_type: String,
    /// The state; `state.as_str()` is the wire string.
    pub state: GroupState,
    /// The group type, `"classic"`.
    pub group_type: &'static str,
}

impl ClassicGroup {
    /// The group's metadata record with `assignment` as the members' assignments.
    pub(super) fn snapshot(&self, assignment: &BTreeMap<String, Bytes>) -> GroupSnapshot {
        GroupSnapshot {
            group_id: self.group_id.clone(),
            protocol_type: self.protocol_type.clone(),
            generation_id: self.generation_id,
            protocol_name: self.protocol_name.clone(),
            leader: self.leader_id.clone(),
            current_state_timestamp_ms: self.state_timestamp_ms.unwrap_or(-1),
            members: self
                .members
                .values()
                .map(|m| MemberSnapshot {
                    member_id: m.id.clone(),
                    group_instance_id: m.instance_id.clone(),
                    client_id: m.client_id.clone(),
                    client_host: m.client_host.clone(),
                    rebalance_timeout_ms: m.rebalance_timeout_ms,
                    session_timeout_ms: m.session_timeout_ms,
                    subscription: m.metadata(self.protocol_name.as_deref()),
                    assignment: assignment.get(&m.id).cloned().unwrap_or_default(),
                })
                .collect(),
        }
    }

    /// The group's current metadata, as it would be written now.
    pub fn current_snapshot(&self) -> GroupSnapshot {
        self.snapshot(&self.group_assignment())
    }

    /// Rebuilds a group from its last metadata record, as a new coordinator does: Stable if it
    /// has members (their sessions start at `now`), else Empty. A group over `group.max.size`
    /// starts a rebalance; the effects are what that releases.
    pub fn load(snapshot: GroupSnapshot, config: GroupConfig, now: i64) -> (Self, Vec<Effect>) {
        let mut group = ClassicGroup::new(snapshot.group_id, config);
        let state = if snapshot.members.is_empty() {
            GroupState::Empty
        } else {
            GroupState::Stable
        };
        group.state = state;
        group.previous_state = state;
        group.generation_id = snapshot.generation_id;
        group.protocol_type = snapshot.protocol_type.filter(|t| !t.is_empty());
        group.protocol_name = snapshot.protocol_name;
        group.state_timestamp_ms = Some(snapshot.current_state_timestamp_ms).filter(|t| *t != -1);
        let protocol_type = group.protocol_type.clone().unwrap_or_default();
        for m in snapshot.members {
            let rebalance_timeout_ms = if m.rebalance_timeout_ms == -1 {
                m.session_timeout_ms
            } else {
                m.rebalance_timeout_ms
            };
            let protocols = group
                .protocol_name
                .iter()
                .map(|name| Protocol::new(name.clone(), m.subscription.clone()))
                .collect();
            let member = Member {
                id: m.member_id,
                instance_id: m.group_instance_id,
                client_id: m.client_id,
                client_host: m.client_host,
                rebalance_timeout_ms,
                session_timeout_ms: m.session_timeout_ms,
                protocol_type: protocol_type.clone(),
                protocols,
                assignment: m.assignment,
                awaiting_join: None,
                awaiting_sync: None,
                is_new: false,
                heartbeat_deadline: Some(after(now, i64::from(m.session_timeout_ms))),
            };
            group.add_member(member);
        }
        // The record's leader wins over whoever `add_member` picked first.
        group.leader_id = snapshot
            .leader
            .filter(|l| group.members.contains_key(l))
            .or(group.leader_id);
        group.subscribed_topics = group.compute_subscribed_topics();
        let mut out = Vec::new();
        if group.members.len() > group.config.max_size {
            // Over capacity (the limit was lowered): rebalance so extra members are refused.
            group.prepare_rebalance(now, &mut out);
        }
        (group, out)
    }

    /// The group as DescribeGroups reports it.
    pub fn describe(&self) -> GroupDescription {
        let stable = self.state == GroupState::Stable;
        GroupDescription {
            group_id: self.group_id.clone(),
            state: self.state,
            protocol_type: self.protocol_type.clone().unwrap_or_default(),
            protocol_data: if stable {
                self.protocol_name.clone().unwrap_or_default()
            } else {
                String::new()
            },
            members: self
                .members
                .values()
                .map(|m| MemberDescription {
                    member_id: m.id.clone(),
                    group_instance_id: m.instance_id.clone(),
                    client_id: m.client_id.clone(),
                    client_host: m.client_host.clone(),
                    metadata: if stable {
                        m.metadata(self.protocol_name.as_deref())
                    } else {
                        Bytes::new()
                    },
                    assignment: m.assignment.clone(),
                })
                .collect(),
        }
    }

    /// The group as ListGroups reports it.
    pub fn listing(&self) -> ListedGroup {
        ListedGroup {
            group_id: self.group_id.clone(),
            protocol_type: self.protocol_type.clone().unwrap_or_default(),
            state: self.state,
            group_type: "classic",
        }
    }
}
