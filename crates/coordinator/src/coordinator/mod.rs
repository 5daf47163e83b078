//! [`GroupCoordinator`]: the groups and committed offsets of one `__consumer_offsets`
//! partition, after Kafka's `GroupCoordinatorShard`. It routes each request to its group,
//! applies Kafka's rules for groups that do not exist (created by a first JoinGroup or a simple
//! offset commit, UNKNOWN_MEMBER_ID or GROUP_ID_NOT_FOUND otherwise), and turns offset changes
//! into [`Record`]s for the log.
//!
//! - `offsets`: OffsetCommit, OffsetFetch, OffsetDelete, DeleteGroups and offset expiry.
//! - `consumer`: ConsumerGroupHeartbeat for KIP-848 groups ([`ConsumerGroup`]).
//! - `share`: ShareGroupHeartbeat for share groups ([`ShareGroup`]).
//! - `txn_offsets`: TxnOffsetCommit and the pending offsets of open transactions.
//!
//! Offset changes apply to the in-memory store at once and return the records to append;
//! the broker answers once they are written. If an append fails, the in-memory state is ahead
//! of the log: the broker should give up the partition and reload it ([`GroupCoordinator::unload`]
//! then [`GroupCoordinator::replay`]), as a coordinator that lost its partition does.

mod consumer;
mod offsets;
mod share;
mod txn_offsets;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use weir_protocol::error::ErrorCode;

pub use offsets::{CommitPartition, CommitResult, CommitTopic, OffsetCommit};
pub use share::ShareDeletion;
pub use txn_offsets::TxnOffsetCommit;

use crate::assignor::TopicPartitions;
use crate::classic::{
    ClassicGroup, Effect, GroupDescription, GroupSnapshot, JoinRequest, JoinResponse, LeaveMember,
    LeaveResponse, ListedGroup, Output, SyncRequest, SyncResponse,
};
use crate::consumer::{AssignmentRecord, ConsumerGroup, MemberRecord};
use crate::group::{GroupConfig, GroupState, MemberIdSource};
use crate::offsets::{OffsetAndMetadata, OffsetStore};
use crate::share::group::{ShareAssignmentRecord, ShareGroup, ShareMemberRecord};

/// A record of the `__consumer_offsets` log, as the coordinator writes and replays it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record {
    /// A committed offset (`OffsetCommitKey` / `OffsetCommitValue`).
    OffsetCommit {
        /// The group.
        group_id: String,
        /// The topic.
        topic: String,
        /// The partition.
        partition: i32,
        /// The committed value.
        value: OffsetAndMetadata,
    },
    /// A deleted or expired offset (`OffsetCommitKey` with a null value).
    OffsetTombstone {
        /// The group.
        group_id: String,
        /// The topic.
        topic: String,
        /// The partition.
        partition: i32,
    },
    /// A classic group's metadata (`GroupMetadataKey` / `GroupMetadataValue`).
    GroupMetadata(GroupSnapshot),
    /// A deleted group (`GroupMetadataKey` with a null value).
    GroupTombstone {
        /// The group.
        group_id: String,
    },
    /// A KIP-848 group's epoch (`ConsumerGroupMetadataKey`); `None` deletes the group.
    ConsumerGroupEpoch {
        /// The group.
        group_id: String,
        /// The group epoch.
        epoch: Option<i32>,
    },
    /// A KIP-848 member's metadata (`ConsumerGroupMemberMetadataKey`); `None` removes it.
    ConsumerMember {
        /// The group.
        group_id: String,
        /// The member.
        member_id: String,
        /// Its metadata.
        value: Option<MemberRecord>,
    },
    /// The epoch of a KIP-848 group's target assignment.
    ConsumerTargetEpoch {
        /// The group.
        group_id: String,
        /// The assignment epoch.
        epoch: Option<i32>,
    },
    /// One member's target assignment (`ConsumerGroupTargetAssignmentMemberKey`).
    ConsumerTargetMember {
        /// The group.
        group_id: String,
        /// The member.
        member_id: String,
        /// Its target partitions, by topic name.
        partitions: Option<TopicPartitions>,
    },
    /// One member's current assignment (`ConsumerGroupCurrentMemberAssignmentKey`).
    ConsumerCurrentAssignment {
        /// The group.
        group_id: String,
        /// The member.
        member_id: String,
        /// Its epochs, state and partitions.
        value: Option<AssignmentRecord>,
    },
    /// A share group's epoch (`ShareGroupMetadataKey`); `None` deletes the group.
    ShareGroupEpoch {
        /// The group.
        group_id: String,
        /// The group epoch.
        epoch: Option<i32>,
    },
    /// A share group member's metadata (`ShareGroupMemberMetadataKey`); `None` removes it.
    ShareMember {
        /// The group.
        group_id: String,
        /// The member.
        member_id: String,
        /// Its metadata.
        value: Option<ShareMemberRecord>,
    },
    /// A share group member's assignment (`ShareGroupCurrentMemberAssignmentKey`).
    ShareCurrentAssignment {
        /// The group.
        group_id: String,
        /// The member.
        member_id: String,
        /// Its epoch and partitions.
        value: Option<ShareAssignmentRecord>,
    },
    /// The topics whose share-partitions a share group may hold state for
    /// (`ShareGroupStatePartitionMetadataKey`, its initialized topics).
    ShareStateTopics {
        /// The group.
        group_id: String,
        /// The topics.
        topics: Option<Vec<String>>,
    },
}

impl Record {
    /// The group a record belongs to.
    pub fn group_id(&self) -> &str {
        match self {
            Record::OffsetCommit { group_id, .. }
            | Record::OffsetTombstone { group_id, .. }
            | Record::GroupTombstone { group_id }
            | Record::ConsumerGroupEpoch { group_id, .. }
            | Record::ConsumerMember { group_id, .. }
            | Record::ConsumerTargetEpoch { group_id, .. }
            | Record::ConsumerTargetMember { group_id, .. }
            | Record::ConsumerCurrentAssignment { group_id, .. }
            | Record::ShareGroupEpoch { group_id, .. }
            | Record::ShareMember { group_id, .. }
            | Record::ShareCurrentAssignment { group_id, .. }
            | Record::ShareStateTopics { group_id, .. } => group_id,
            Record::GroupMetadata(s) => &s.group_id,
        }
    }
}

/// The group coordinator of one `__consumer_offsets` partition.
#[derive(Debug, Clone)]
pub struct GroupCoordinator {
    config: GroupConfig,
    groups: BTreeMap<String, ClassicGroup>,
    consumer_groups: BTreeMap<String, ConsumerGroup>,
    share_groups: BTreeMap<String, ShareGroup>,
    offsets: BTreeMap<String, OffsetStore>,
    /// Transactional offsets by producer id, waiting for their transaction's marker.
    pending: BTreeMap<i64, txn_offsets::Pending>,
}

impl GroupCoordinator {
    /// A coordinator with no groups.
    pub fn new(config: GroupConfig) -> Self {
        GroupCoordinator {
            config,
            groups: BTreeMap::new(),
            consumer_groups: BTreeMap::new(),
            share_groups: BTreeMap::new(),
            offsets: BTreeMap::new(),
            pending: BTreeMap::new(),
        }
    }

    /// The settings.
    pub fn config(&self) -> &GroupConfig {
        &self.config
    }

    /// A group, if it exists.
    pub fn group(&self, group_id: &str) -> Option<&ClassicGroup> {
        self.groups.get(group_id)
    }

    /// Every classic group.
    pub fn groups(&self) -> impl Iterator<Item = &ClassicGroup> {
        self.groups.values()
    }

    /// Every group's committed offsets, by group id.
    pub fn all_offsets(&self) -> impl Iterator<Item = (&str, &OffsetStore)> {
        self.offsets.iter().map(|(g, o)| (g.as_str(), o))
    }

    /// A group's committed offsets, if it has any.
    pub fn offsets(&self, group_id: &str) -> Option<&OffsetStore> {
        self.offsets.get(group_id)
    }

    fn session_timeout_valid(&self, ms: i32) -> bool {
        (self.config.min_session_timeout_ms..=self.config.max_session_timeout_ms).contains(&ms)
    }

    fn group_or_create(&mut self, group_id: &str) -> &mut ClassicGroup {
        let config = &self.config;
        self.groups
            .entry(group_id.to_string())
            .or_insert_with(|| ClassicGroup::new(group_id, config.clone()))
    }

    /// JoinGroup. A first join with an empty member id creates the group.
    pub fn join(
        &mut self,
        group_id: &str,
        req: JoinRequest,
        ids: &mut dyn MemberIdSource,
        now: i64,
    ) -> Output<JoinResponse> {
        let error = if group_id.is_empty() {
            Some(ErrorCode::InvalidGroupId)
        } else if !self.session_timeout_valid(req.session_timeout_ms) {
            Some(ErrorCode::InvalidSessionTimeout)
        } else if !req.member_id.is_empty() && !self.groups.contains_key(group_id) {
            Some(ErrorCode::UnknownMemberId)
        } else {
            None
        };
        let error = error.or_else(|| self.release_consumer_group(group_id).err());
        if let Some(e) = error {
            return Output::ready(JoinResponse::error(req.member_id, e), Vec::new());
        }
        self.group_or_create(group_id).join(req, ids, now)
    }

    /// SyncGroup.
    pub fn sync(&mut self, group_id: &str, req: SyncRequest) -> Output<SyncResponse> {
        if group_id.is_empty() {
            return Output::ready(SyncResponse::error(ErrorCode::InvalidGroupId), Vec::new());
        }
        match self.groups.get_mut(group_id) {
            Some(g) => g.sync(req),
            None => Output::ready(SyncResponse::error(ErrorCode::UnknownMemberId), Vec::new()),
        }
    }

    /// Heartbeat.
    pub fn heartbeat(
        &mut self,
        group_id: &str,
        member_id: &str,
        group_instance_id: Option<&str>,
        generation_id: i32,
        now: i64,
    ) -> ErrorCode {
        if group_id.is_empty() {
            return ErrorCode::InvalidGroupId;
        }
        match self.groups.get_mut(group_id) {
            Some(g) => g.heartbeat(member_id, group_instance_id, generation_id, now),
            None => ErrorCode::UnknownMemberId,
        }
    }

    /// LeaveGroup.
    pub fn leave(
        &mut self,
        group_id: &str,
        members: Vec<LeaveMember>,
        now: i64,
    ) -> Output<LeaveResponse> {
        if group_id.is_empty() {
            return Output::ready(LeaveResponse::error(ErrorCode::InvalidGroupId), Vec::new());
        }
        match self.groups.get_mut(group_id) {
            Some(g) => g.leave(members, now),
            None => Output::ready(LeaveResponse::error(ErrorCode::UnknownMemberId), Vec::new()),
        }
    }

    /// Reports the outcome of a group's `PersistGroup` write (see [`ClassicGroup::persisted`]).
    pub fn persisted(
        &mut self,
        group_id: &str,
        write_id: u64,
        result: Result<(), ErrorCode>,
        now: i64,
    ) -> Vec<Effect> {
        match self.groups.get_mut(group_id) {
            Some(g) => g.persisted(write_id, result, now),
            None => Vec::new(),
        }
    }

    /// Fires every group deadline at or before `now`.
    pub fn tick(&mut self, now: i64) -> Vec<Effect> {
        let mut out = Vec::new();
        for g in self.groups.values_mut() {
            if g.next_deadline().is_some_and(|d| d <= now) {
                out.extend(g.tick(now));
            }
        }
        out
    }

    /// The earliest deadline of any group.
    pub fn next_deadline(&self) -> Option<i64> {
        let consumer = self
            .consumer_groups
            .values()
            .filter_map(ConsumerGroup::next_deadline);
        let share = self
            .share_groups
            .values()
            .filter_map(ShareGroup::next_deadline);
        self.groups
            .values()
            .filter_map(ClassicGroup::next_deadline)
            .chain(consumer)
            .chain(share)
            .min()
    }

    /// DescribeGroups for one group; an unknown group is described as Dead with no members.
    pub fn describe(&self, group_id: &str) -> GroupDescription {
        match self.groups.get(group_id) {
            Some(g) => g.describe(),
            None => GroupDescription {
                group_id: group_id.to_string(),
                state: GroupState::Dead,
                protocol_type: String::new(),
                protocol_data: String::new(),
                members: Vec::new(),
            },
        }
    }

    /// ListGroups, keeping groups whose state matches one of `states` (case-insensitive);
    /// an empty filter keeps all.
    pub fn list(&self, states: &[&str]) -> Vec<ListedGroup> {
        self.groups
            .values()
            .filter(|g| {
                states.is_empty()
                    || states
                        .iter()
                        .any(|s| s.eq_ignore_ascii_case(g.state().as_str()))
            })
            .map(ClassicGroup::listing)
            .collect()
    }

    /// Applies a record read back from `__consumer_offsets` while loading the partition.
    /// Groups start their sessions at `now`; the effects are those a loaded group releases.
    pub fn replay(&mut self, record: Record, now: i64) -> Vec<Effect> {
        match record {
            Record::OffsetCommit {
                group_id,
                topic,
                partition,
                value,
            } => {
                if !self.consumer_groups.contains_key(&group_id) {
                    self.group_or_create(&group_id);
                }
                self.offsets
                    .entry(group_id)
                    .or_default()
                    .commit(&topic, partition, value);
                Vec::new()
            }
            Record::OffsetTombstone {
                group_id,
                topic,
                partition,
            } => {
                if let Some(store) = self.offsets.get_mut(&group_id) {
                    store.remove(&topic, partition);
                    if store.is_empty() {
                        self.offsets.remove(&group_id);
                    }
                }
                Vec::new()
            }
            Record::GroupMetadata(snapshot) => {
                let id = snapshot.group_id.clone();
                // The later kind of group wins (a conversion wrote no tombstone for the other).
                self.consumer_groups.remove(&id);
                let (group, effects) = ClassicGroup::load(snapshot, self.config.clone(), now);
                let mut out = self
                    .groups
                    .insert(id, group)
                    .map(|mut old| old.unload())
                    .unwrap_or_default();
                out.extend(effects);
                out
            }
            Record::GroupTombstone { group_id } => self
                .groups
                .remove(&group_id)
                .map(|mut g| g.unload())
                .unwrap_or_default(),
            Record::ConsumerGroupEpoch {
                ref group_id,
                epoch: None,
            } => {
                self.consumer_groups.remove(group_id);
                Vec::new()
            }
            Record::ShareGroupEpoch {
                ref group_id,
                epoch: None,
            } => {
                self.share_groups.remove(group_id);
                Vec::new()
            }
            share @ (Record::ShareGroupEpoch { .. }
            | Record::ShareMember { .. }
            | Record::ShareCurrentAssignment { .. }
            | Record::ShareStateTopics { .. }) => {
                let id = share.group_id().to_string();
                if self.groups.get(&id).is_some_and(|g| g.is_empty()) {
                    self.groups.remove(&id);
                }
                let timeout = self.config.share_session_timeout_ms;
                self.share_groups
                    .entry(id.clone())
                    .or_insert_with(|| ShareGroup::new(&id))
                    .replay(share, now, timeout);
                Vec::new()
            }
            other => {
                let id = other.group_id().to_string();
                if self.groups.get(&id).is_some_and(|g| g.is_empty()) {
                    self.groups.remove(&id);
                }
                let config = self.config.clone();
                self.consumer_groups
                    .entry(id.clone())
                    .or_insert_with(|| ConsumerGroup::loading(id, config, now))
                    .replay(other, now);
                Vec::new()
            }
        }
    }

    /// Gives up every group (the partition moved away): parked requests are answered
    /// NOT_COORDINATOR and all state is dropped.
    pub fn unload(&mut self) -> Vec<Effect> {
        let out = self
            .groups
            .values_mut()
            .flat_map(ClassicGroup::unload)
            .collect();
        self.groups.clear();
        self.consumer_groups.clear();
        self.share_groups.clear();
        self.offsets.clear();
        self.pending.clear();
        out
    }
}
