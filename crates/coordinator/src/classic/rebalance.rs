//! The rebalance itself: entering PreparingRebalance, completing the join phase into a new
//! generation, and handing assignments (or an error) to members parked in SyncGroup.

use std::collections::BTreeMap;

use bytes::Bytes;
use weir_protocol::error::ErrorCode;

use super::api::{Effect, SyncResponse};
use super::{after, ClassicGroup, JoinTimer, PendingWrite, SyncTimer};
use crate::group::GroupState;

impl ClassicGroup {
    /// Starts a rebalance if the state allows one, else tries to finish the join phase.
    pub(super) fn maybe_prepare_rebalance_or_complete_join(
        &mut self,
        now: i64,
        out: &mut Vec<Effect>,
    ) {
        if self.state.can_transition_to(GroupState::PreparingRebalance) {
            self.prepare_rebalance(now, out);
        } else {
            self.maybe_complete_join_phase(now, out);
        }
    }

    /// Enters PreparingRebalance: members parked in SyncGroup are told to rejoin, and the
    /// join phase timer starts (the longer initial delay if the group was Empty).
    pub(super) fn prepare_rebalance(&mut self, now: i64, out: &mut Vec<Effect>) {
        if self.state == GroupState::CompletingRebalance {
            self.reset_and_propagate_assignment(ErrorCode::RebalanceInProgress, now, out);
        }
        self.pending_sync.clear();
        self.sync_timer = None;
        let initial = self.state == GroupState::Empty;
        if initial {
            let delay_ms = self.config.initial_rebalance_delay_ms;
            let remaining_ms = (self.rebalance_timeout_ms() - delay_ms).max(0);
            self.join_timer = Some(JoinTimer::Initial {
                deadline: after(now, delay_ms),
                delay_ms,
                remaining_ms,
            });
        }
        self.transition(GroupState::PreparingRebalance, now);
        if !initial {
            if self.has_all_members_joined() {
                self.complete_join(now, out);
            } else {
                let deadline = after(now, self.rebalance_timeout_ms());
                self.join_timer = Some(JoinTimer::Complete { deadline });
            }
        }
    }

    /// Completes the join phase if every member has rejoined, except during the initial
    /// rebalance, which waits for its timer.
    pub(super) fn maybe_complete_join_phase(&mut self, now: i64, out: &mut Vec<Effect>) {
        if self.state == GroupState::PreparingRebalance
            && self.previous_state != GroupState::Empty
            && self.has_all_members_joined()
        {
            self.complete_join(now, out);
        }
    }

    /// Ends the join phase: dynamic members that did not rejoin are removed, the generation
    /// advances, and every parked JoinGroup is answered (the leader with all members).
    pub(super) fn complete_join(&mut self, now: i64, out: &mut Vec<Effect>) {
        self.join_timer = None;
        let not_rejoined: Vec<String> = self
            .members
            .values()
            .filter(|m| m.awaiting_join.is_none() && m.instance_id.is_none())
            .map(|m| m.id.clone())
            .collect();
        for id in &not_rejoined {
            self.remove_member(id, out);
        }
        if self.state == GroupState::Dead {
            return;
        }
        if !self.maybe_elect_new_joined_leader() && !self.members.is_empty() {
            // Only static members that did not rejoin are left: wait another round for them
            // to rejoin or for their sessions to expire.
            let deadline = after(now, self.rebalance_timeout_ms());
            self.join_timer = Some(JoinTimer::Complete { deadline });
            return;
        }
        self.init_next_generation(now);
        if self.state == GroupState::Empty {
            let effect = self.new_write(PendingWrite::Plain, &BTreeMap::new());
            out.push(effect);
            return;
        }
        let ids: Vec<String> = self.members.keys().cloned().collect();
        for id in ids {
            let is_leader = self.leader_id.as_deref() == Some(id.as_str());
            let response = self.join_response(&id, is_leader);
            let Some(m) = self.members.get_mut(&id) else {
                continue;
            };
            if let Some(token) = m.awaiting_join.take() {
                out.push(Effect::JoinResponse { token, response });
            }
            m.heartbeat_deadline = Some(after(now, i64::from(m.session_timeout_ms)));
            m.is_new = false;
            self.pending_sync.insert(id);
        }
        self.sync_timer = Some(SyncTimer {
            deadline: after(now, self.rebalance_timeout_ms()),
            generation: self.generation_id,
        });
    }

    /// Keeps the leader if it rejoined, else promotes a member that did; false if none did.
    fn maybe_elect_new_joined_leader(&mut self) -> bool {
        let Some(leader) = self.leader_id.as_ref() else {
            return false;
        };
        if self
            .members
            .get(leader)
            .is_some_and(|m| m.awaiting_join.is_some())
        {
            return true;
        }
        match self.members.values().find(|m| m.awaiting_join.is_some()) {
            Some(m) => {
                self.leader_id = Some(m.id.clone());
                true
            }
            None => false,
        }
    }

    fn init_next_generation(&mut self, now: i64) {
        self.generation_id = self.generation_id.wrapping_add(1);
        if self.members.is_empty() {
            self.protocol_name = None;
            self.subscribed_topics = self.compute_subscribed_topics();
            self.transition(GroupState::Empty, now);
        } else {
            self.protocol_name = self.select_protocol();
            self.subscribed_topics = self.compute_subscribed_topics();
            self.transition(GroupState::CompletingRebalance, now);
        }
        self.pending_sync.clear();
    }

    /// Clears every assignment and answers parked SyncGroups with `error`.
    pub(super) fn reset_and_propagate_assignment(
        &mut self,
        error: ErrorCode,
        now: i64,
        out: &mut Vec<Effect>,
    ) {
        for m in self.members.values_mut() {
            m.assignment = Bytes::new();
        }
        self.propagate_assignment(error, now, out);
    }

    /// Stores the leader's assignment and hands each parked member its part.
    pub(super) fn set_and_propagate_assignment(
        &mut self,
        assignment: &BTreeMap<String, Bytes>,
        now: i64,
        out: &mut Vec<Effect>,
    ) {
        for (id, m) in self.members.iter_mut() {
            m.assignment = assignment.get(id).cloned().unwrap_or_default();
        }
        self.propagate_assignment(ErrorCode::None, now, out);
    }

    fn propagate_assignment(&mut self, error: ErrorCode, now: i64, out: &mut Vec<Effect>) {
        let (protocol_type, protocol_name) = if error == ErrorCode::None {
            (self.protocol_type.clone(), self.protocol_name.clone())
        } else {
            (None, None)
        };
        for m in self.members.values_mut() {
            if let Some(token) = m.awaiting_sync.take() {
                let response = SyncResponse {
                    error,
                    protocol_type: protocol_type.clone(),
                    protocol_name: protocol_name.clone(),
                    assignment: m.assignment.clone(),
                };
                out.push(Effect::SyncResponse { token, response });
                // The session may have lapsed while the member waited; restart it.
                m.heartbeat_deadline = Some(after(now, i64::from(m.session_timeout_ms)));
            }
        }
    }
}
