//! The classic (JoinGroup/SyncGroup) group protocol as a pure state machine, after Kafka's
//! `ClassicGroup` and the classic half of its `GroupMetadataManager`.
//!
//! - [`api`]: request, response and [`Effect`] types.
//! - `member`: one member, its protocols, parked requests and session deadline.
//! - `join`: JoinGroup, with KIP-394 member ids and KIP-345 static members.
//! - `rebalance`: preparing a rebalance, completing the join phase, propagating assignments.
//! - `sync`: SyncGroup and the outcome of group metadata writes ([`ClassicGroup::persisted`]).
//! - `membership`: Heartbeat, LeaveGroup and offset commit validation.
//! - `timers`: [`ClassicGroup::tick`], which fires expired sessions and phase timeouts.
//! - [`snapshot`]: the persisted form of a group, loading it back, describe and list views.
//!
//! Every operation takes `now_ms` and returns its reply (or [`Reply::Pending`]) plus effects.
//! The core keeps one invariant for the broker: every request token it parks is answered by
//! exactly one response effect, unless the broker unloads the group first
//! ([`ClassicGroup::unload`] answers those too).

pub mod api;
mod join;
mod member;
mod membership;
mod rebalance;
mod restore;
pub mod snapshot;
mod sync;
mod timers;

#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet};

use bytes::Bytes;
use weir_protocol::error::ErrorCode;

pub use api::{
    Effect, JoinRequest, JoinResponse, JoinedMember, LeaveMember, LeaveResponse, LeftMember,
    Output, Protocol, Reply, SyncRequest, SyncResponse,
};
pub use snapshot::{
    GroupDescription, GroupSnapshot, ListedGroup, MemberDescription, MemberSnapshot,
};

use crate::group::{GroupConfig, GroupState, RequestToken};
use crate::offsets::ExpirationBase;
use crate::subscription::{subscribed_topics, CONSUMER_PROTOCOL_TYPE};
use member::Member;

/// The timer of the join phase.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum JoinTimer {
    /// The first rebalance of an empty group, extended while members keep arriving.
    Initial {
        deadline: i64,
        delay_ms: i64,
        remaining_ms: i64,
    },
    /// Completes the join phase (the rebalance timeout).
    Complete { deadline: i64 },
}

impl JoinTimer {
    fn deadline(self) -> i64 {
        match self {
            JoinTimer::Initial { deadline, .. } | JoinTimer::Complete { deadline } => deadline,
        }
    }
}

/// The timer that expels members who never sent SyncGroup for a generation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct SyncTimer {
    deadline: i64,
    generation: i32,
}

/// A group metadata write whose outcome decides what happens next.
#[derive(Debug, Clone)]
enum PendingWrite {
    /// Nothing waits on the write.
    Plain,
    /// The leader's assignment for `generation`; members get it once written.
    Assignment {
        generation: i32,
        assignment: BTreeMap<String, Bytes>,
    },
    /// A static member rejoined with a new member id without a rebalance.
    StaticReplace(StaticReplace),
}

/// What to answer, or undo, when a static member replacement is written or fails.
#[derive(Debug, Clone)]
struct StaticReplace {
    token: RequestToken,
    instance_id: String,
    old_member_id: String,
    new_member_id: String,
    old_protocols: Vec<Protocol>,
    old_rebalance_timeout_ms: i32,
    old_session_timeout_ms: i32,
    leader_before: Option<String>,
    supports_skip_assignment: bool,
}

/// A group using the classic rebalance protocol.
#[derive(Debug, Clone)]
pub struct ClassicGroup {
    group_id: String,
    config: GroupConfig,
    state: GroupState,
    previous_state: GroupState,
    state_timestamp_ms: Option<i64>,
    protocol_type: Option<String>,
    protocol_name: Option<String>,
    generation_id: i32,
    leader_id: Option<String>,
    members: BTreeMap<String, Member>,
    /// Instance id to member id, for static members.
    static_members: BTreeMap<String, String>,
    /// Member ids handed out with MEMBER_ID_REQUIRED, with their expiry deadlines.
    pending_members: BTreeMap<String, i64>,
    /// Members that have not sent SyncGroup for the current generation.
    pending_sync: BTreeSet<String>,
    subscribed_topics: Option<BTreeSet<String>>,
    new_member_added: bool,
    join_timer: Option<JoinTimer>,
    sync_timer: Option<SyncTimer>,
    pending_writes: BTreeMap<u64, PendingWrite>,
    next_write_id: u64,
}

/// `now + delay`, at least one millisecond ahead so a timer never refires within a tick.
fn after(now: i64, delay_ms: i64) -> i64 {
    now.saturating_add(delay_ms.max(1))
}

impl ClassicGroup {
    /// A new, empty group.
    pub fn new(group_id: impl Into<String>, config: GroupConfig) -> Self {
        ClassicGroup {
            group_id: group_id.into(),
            config,
            state: GroupState::Empty,
            previous_state: GroupState::Empty,
            state_timestamp_ms: None,
            protocol_type: None,
            protocol_name: None,
            generation_id: 0,
            leader_id: None,
            members: BTreeMap::new(),
            static_members: BTreeMap::new(),
            pending_members: BTreeMap::new(),
            pending_sync: BTreeSet::new(),
            subscribed_topics: None,
            new_member_added: false,
            join_timer: None,
            sync_timer: None,
            pending_writes: BTreeMap::new(),
            next_write_id: 0,
        }
    }

    /// The group id.
    pub fn group_id(&self) -> &str {
        &self.group_id
    }

    /// The current state.
    pub fn state(&self) -> GroupState {
        self.state
    }

    /// The current generation (0 before the first).
    pub fn generation_id(&self) -> i32 {
        self.generation_id
    }

    /// The protocol type, set by the first member (`None` for a simple, commit-only group).
    pub fn protocol_type(&self) -> Option<&str> {
        self.protocol_type.as_deref()
    }

    /// The protocol chosen for the current generation.
    pub fn protocol_name(&self) -> Option<&str> {
        self.protocol_name.as_deref()
    }

    /// The leader's member id.
    pub fn leader(&self) -> Option<&str> {
        self.leader_id.as_deref()
    }

    /// When the group entered its current state, if known.
    pub fn state_timestamp_ms(&self) -> Option<i64> {
        self.state_timestamp_ms
    }

    /// The member ids, sorted.
    pub fn member_ids(&self) -> Vec<&str> {
        self.members.keys().map(String::as_str).collect()
    }

    /// Whether `member_id` is a member.
    pub fn has_member(&self, member_id: &str) -> bool {
        self.members.contains_key(member_id)
    }

    /// The member id registered for a static member's instance id.
    pub fn static_member_id(&self, instance_id: &str) -> Option<&str> {
        self.static_members.get(instance_id).map(String::as_str)
    }

    /// A member's current assignment.
    pub fn assignment(&self, member_id: &str) -> Option<&Bytes> {
        self.members.get(member_id).map(|m| &m.assignment)
    }

    /// True when the group has no members (state Empty).
    pub fn is_empty(&self) -> bool {
        self.state == GroupState::Empty
    }

    /// The topics the members subscribe to, when the group uses the consumer protocol and
    /// every subscription parsed.
    pub fn subscribed_topics(&self) -> Option<&BTreeSet<String>> {
        self.subscribed_topics.as_ref()
    }

    /// Whether the group actively consumes `topic`; when the subscriptions are unknown, a
    /// consumer-protocol group is assumed to (Kafka's rule for OffsetDelete and expiry).
    pub fn is_subscribed_to_topic(&self, topic: &str) -> bool {
        match &self.subscribed_topics {
            Some(topics) => topics.contains(topic),
            None => self.uses_consumer_protocol(),
        }
    }

    /// How the group's committed offsets age, or `None` while they must not expire
    /// (Kafka's `offsetExpirationCondition`).
    pub fn offset_expiration(&self) -> Option<ExpirationBase> {
        if self.protocol_type.is_none() {
            return Some(ExpirationBase::CommitTimestamp);
        }
        match self.state {
            GroupState::Empty => Some(ExpirationBase::EmptySince(self.state_timestamp_ms)),
            GroupState::Stable
                if self.uses_consumer_protocol() && self.subscribed_topics.is_some() =>
            {
                Some(ExpirationBase::CommitTimestamp)
            }
            _ => None,
        }
    }

    fn uses_consumer_protocol(&self) -> bool {
        self.protocol_type.as_deref() == Some(CONSUMER_PROTOCOL_TYPE)
    }

    fn transition(&mut self, to: GroupState, now: i64) {
        debug_assert!(self.state.can_transition_to(to), "{} -> {to}", self.state);
        self.previous_state = self.state;
        self.state = to;
        self.state_timestamp_ms = Some(now);
    }

    fn new_write(&mut self, write: PendingWrite, assignment: &BTreeMap<String, Bytes>) -> Effect {
        let write_id = self.next_write_id;
        self.next_write_id += 1;
        self.pending_writes.insert(write_id, write);
        Effect::PersistGroup {
            write_id,
            snapshot: self.snapshot(assignment),
        }
    }

    /// The group's rebalance timeout: the largest of its members'.
    fn rebalance_timeout_ms(&self) -> i64 {
        self.members
            .values()
            .map(|m| i64::from(m.rebalance_timeout_ms))
            .max()
            .unwrap_or(0)
    }

    fn has_all_members_joined(&self) -> bool {
        self.pending_members.is_empty() && self.members.values().all(|m| m.awaiting_join.is_some())
    }

    fn num_awaiting_join(&self) -> usize {
        self.members
            .values()
            .filter(|m| m.awaiting_join.is_some())
            .count()
    }

    /// Whether some protocol in `names` is supported by every member; any non-empty list of
    /// a non-empty type goes while the group is Empty.
    fn supports_protocols(&self, protocol_type: &str, protocols: &[Protocol]) -> bool {
        if self.state == GroupState::Empty {
            return !protocol_type.is_empty() && !protocols.is_empty();
        }
        self.protocol_type.as_deref() == Some(protocol_type)
            && protocols
                .iter()
                .any(|p| self.members.values().all(|m| m.supports(&p.name)))
    }

    /// Kafka's vote: among protocols every member supports, each member votes for its most
    /// preferred; the most votes win (ties go to the leader's preference order).
    fn select_protocol(&self) -> Option<String> {
        let first = self
            .leader_id
            .as_ref()
            .and_then(|l| self.members.get(l))
            .or_else(|| self.members.values().next())?;
        let candidates: BTreeSet<&str> = first
            .protocols
            .iter()
            .map(|p| p.name.as_str())
            .filter(|name| self.members.values().all(|m| m.supports(name)))
            .collect();
        let mut votes: BTreeMap<&str, usize> = BTreeMap::new();
        for m in self.members.values() {
            if let Some(name) = m.vote(&candidates) {
                *votes.entry(name).or_default() += 1;
            }
        }
        let best = votes.values().copied().max()?;
        first
            .protocols
            .iter()
            .map(|p| p.name.as_str())
            .find(|name| votes.get(name) == Some(&best))
            .map(str::to_string)
    }

    fn compute_subscribed_topics(&self) -> Option<BTreeSet<String>> {
        if !self.uses_consumer_protocol() {
            return None;
        }
        if self.members.is_empty() {
            return Some(BTreeSet::new());
        }
        let protocol = self.protocol_name.as_deref()?;
        let mut all = BTreeSet::new();
        for m in self.members.values() {
            all.extend(subscribed_topics(&m.metadata(Some(protocol)))?);
        }
        Some(all)
    }

    fn add_member(&mut self, member: Member) {
        if let Some(instance) = &member.instance_id {
            self.static_members
                .insert(instance.clone(), member.id.clone());
        }
        if self.members.is_empty() {
            self.protocol_type = Some(member.protocol_type.clone());
        }
        if self.leader_id.is_none() {
            self.leader_id = Some(member.id.clone());
        }
        self.pending_members.remove(&member.id);
        self.members.insert(member.id.clone(), member);
    }

    /// Removes a member, answering any request it has parked with UNKNOWN_MEMBER_ID, and
    /// hands leadership to another member if it led.
    fn remove_member(&mut self, member_id: &str, out: &mut Vec<Effect>) {
        if let Some(m) = self.members.remove(member_id) {
            if let Some(token) = m.awaiting_join {
                out.push(Effect::JoinResponse {
                    token,
                    response: JoinResponse::error("", ErrorCode::UnknownMemberId),
                });
            }
            if let Some(token) = m.awaiting_sync {
                out.push(Effect::SyncResponse {
                    token,
                    response: SyncResponse::error(ErrorCode::UnknownMemberId),
                });
            }
            if let Some(instance) = &m.instance_id {
                if self.static_members.get(instance).map(String::as_str) == Some(member_id) {
                    self.static_members.remove(instance);
                }
            }
        }
        if self.leader_id.as_deref() == Some(member_id) {
            self.leader_id = self.members.keys().next().cloned();
        }
        self.pending_members.remove(member_id);
        self.pending_sync.remove(member_id);
    }

    /// Checks that `member_id` is a member and, for a static member, that it is the one
    /// registered for `instance_id`.
    fn validate_member(&self, member_id: &str, instance_id: Option<&str>) -> Result<(), ErrorCode> {
        if let Some(instance) = instance_id {
            match self.static_members.get(instance) {
                None => return Err(ErrorCode::UnknownMemberId),
                Some(existing) if existing != member_id => return Err(ErrorCode::FencedInstanceId),
                Some(_) => {}
            }
        }
        if self.members.contains_key(member_id) {
            Ok(())
        } else {
            Err(ErrorCode::UnknownMemberId)
        }
    }

    fn reschedule_heartbeat(&mut self, member_id: &str, now: i64) {
        if let Some(m) = self.members.get_mut(member_id) {
            m.heartbeat_deadline = Some(after(now, i64::from(m.session_timeout_ms)));
        }
    }

    /// Every member with its metadata for the current protocol, for the leader.
    fn joined_members(&self) -> Vec<JoinedMember> {
        self.members
            .values()
            .map(|m| JoinedMember {
                member_id: m.id.clone(),
                group_instance_id: m.instance_id.clone(),
                metadata: m.metadata(self.protocol_name.as_deref()),
            })
            .collect()
    }

    /// The JoinGroup response for `member_id` in the current generation.
    fn join_response(&self, member_id: &str, with_members: bool) -> JoinResponse {
        JoinResponse {
            error: ErrorCode::None,
            generation_id: self.generation_id,
            protocol_type: self.protocol_type.clone(),
            protocol_name: self.protocol_name.clone(),
            leader: self.leader_id.clone().unwrap_or_default(),
            skip_assignment: false,
            member_id: member_id.to_string(),
            members: if with_members {
                self.joined_members()
            } else {
                Vec::new()
            },
        }
    }

    /// The current assignment of every member.
    fn group_assignment(&self) -> BTreeMap<String, Bytes> {
        self.members
            .iter()
            .map(|(id, m)| (id.clone(), m.assignment.clone()))
            .collect()
    }

    /// Marks the group Dead and answers every parked request with NOT_COORDINATOR, for when
    /// the broker stops coordinating it (partition moved or group deleted).
    pub fn unload(&mut self) -> Vec<Effect> {
        let mut out = Vec::new();
        for m in self.members.values_mut() {
            if let Some(token) = m.awaiting_join.take() {
                out.push(Effect::JoinResponse {
                    token,
                    response: JoinResponse::error(m.id.clone(), ErrorCode::NotCoordinator),
                });
            }
            if let Some(token) = m.awaiting_sync.take() {
                out.push(Effect::SyncResponse {
                    token,
                    response: SyncResponse::error(ErrorCode::NotCoordinator),
                });
            }
            m.heartbeat_deadline = None;
        }
        self.pending_members.clear();
        self.join_timer = None;
        self.sync_timer = None;
        self.pending_writes.clear();
        self.previous_state = self.state;
        self.state = GroupState::Dead;
        out
    }
}

/// Kafka's mapping of a failed `__consumer_offsets` append to the error clients see.
pub fn append_error_to_response_error(append_error: ErrorCode) -> ErrorCode {
    match append_error {
        ErrorCode::UnknownTopicOrPartition
        | ErrorCode::NotEnoughReplicas
        | ErrorCode::RequestTimedOut => ErrorCode::CoordinatorNotAvailable,
        ErrorCode::NotLeaderOrFollower | ErrorCode::KafkaStorageError => ErrorCode::NotCoordinator,
        ErrorCode::MessageTooLarge
        | ErrorCode::RecordListTooLarge
        | ErrorCode::InvalidFetchSize => ErrorCode::UnknownServerError,
        other => other,
    }
}
