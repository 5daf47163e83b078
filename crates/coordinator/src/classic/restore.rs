//! A classic group to and from its durable form ([`GroupSnapshot`]), and the read-only
//! views DescribeGroups and ListGroups report.

use std::collections::BTreeMap;

use bytes::Bytes;

use super::api::{Effect, Protocol};
use super::member::Member;
use super::snapshot::{
    GroupDescription, GroupSnapshot, ListedGroup, MemberDescription, MemberSnapshot,
};
use super::{after, ClassicGroup};
use crate::group::{GroupConfig, GroupState};

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
