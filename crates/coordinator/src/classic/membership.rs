//! The requests an existing member makes between rebalances: Heartbeat, LeaveGroup, and the
//! group's check of an OffsetCommit (or TxnOffsetCommit).

use weir_protocol::error::ErrorCode;

use super::api::{Effect, JoinResponse, LeaveMember, LeaveResponse, LeftMember, Output};
use super::ClassicGroup;
use crate::group::GroupState;

impl ClassicGroup {
    /// Handles a Heartbeat: restarts the member's session and says whether to rejoin.
    pub fn heartbeat(
        &mut self,
        member_id: &str,
        group_instance_id: Option<&str>,
        generation_id: i32,
        now: i64,
    ) -> ErrorCode {
        if self.state == GroupState::Dead {
            return ErrorCode::CoordinatorNotAvailable;
        }
        if let Err(e) = self.validate_member(member_id, group_instance_id) {
            return e;
        }
        if generation_id != self.generation_id {
            return ErrorCode::IllegalGeneration;
        }
        match self.state {
            GroupState::Empty | GroupState::Dead => ErrorCode::UnknownMemberId,
            GroupState::PreparingRebalance => {
                self.reschedule_heartbeat(member_id, now);
                ErrorCode::RebalanceInProgress
            }
            // Members may heartbeat between their JoinGroup and SyncGroup responses.
            GroupState::CompletingRebalance | GroupState::Stable => {
                self.reschedule_heartbeat(member_id, now);
                ErrorCode::None
            }
        }
    }

    /// Handles a LeaveGroup for a batch of members (v3+); each gets its own outcome. A static
    /// member may be removed by instance id alone, with an empty member id.
    pub fn leave(&mut self, members: Vec<LeaveMember>, now: i64) -> Output<LeaveResponse> {
        let mut out = Vec::new();
        if self.state == GroupState::Dead {
            let response = LeaveResponse::error(ErrorCode::CoordinatorNotAvailable);
            return Output::ready(response, out);
        }
        let mut results = Vec::with_capacity(members.len());
        for m in members {
            let error = self.leave_one(&m, &mut out);
            results.push(LeftMember {
                member_id: m.member_id,
                group_instance_id: m.group_instance_id,
                error,
            });
        }
        if results.iter().any(|r| r.error == ErrorCode::None) {
            match self.state {
                GroupState::Stable | GroupState::CompletingRebalance => {
                    self.maybe_prepare_rebalance_or_complete_join(now, &mut out)
                }
                GroupState::PreparingRebalance => self.maybe_complete_join_phase(now, &mut out),
                GroupState::Empty | GroupState::Dead => {}
            }
        }
        let response = LeaveResponse {
            error: ErrorCode::None,
            members: results,
        };
        Output::ready(response, out)
    }

    fn leave_one(&mut self, m: &LeaveMember, out: &mut Vec<Effect>) -> ErrorCode {
        if m.member_id.is_empty() {
            let target = m
                .group_instance_id
                .as_deref()
                .and_then(|i| self.static_members.get(i))
                .cloned();
            return match target {
                Some(id) => {
                    self.remove_current_member(&id, out);
                    ErrorCode::None
                }
                None => ErrorCode::UnknownMemberId,
            };
        }
        if self.pending_members.remove(&m.member_id).is_some() {
            return ErrorCode::None;
        }
        match self.validate_member(&m.member_id, m.group_instance_id.as_deref()) {
            Ok(()) => {
                self.remove_current_member(&m.member_id, out);
                ErrorCode::None
            }
            Err(e) => e,
        }
    }

    /// Removes a member on LeaveGroup; a JoinGroup it had parked is answered
    /// UNKNOWN_MEMBER_ID so a still-running client rejoins.
    fn remove_current_member(&mut self, member_id: &str, out: &mut Vec<Effect>) {
        if let Some(token) = self
            .members
            .get_mut(member_id)
            .and_then(|m| m.awaiting_join.take())
        {
            let response = JoinResponse::error("", ErrorCode::UnknownMemberId);
            out.push(Effect::JoinResponse { token, response });
        }
        self.remove_member(member_id, out);
    }

    /// Checks whether a member may commit offsets (Kafka's `validateOffsetCommit`).
    ///
    /// Generation -1 with no member id and no instance id is a simple (admin or manually
    /// assigned) commit, allowed only while the group is Empty; transactional commits skip
    /// the state checks. A valid non-transactional commit from a member of a Stable or
    /// rebalancing group also counts as a heartbeat.
    pub fn validate_offset_commit(
        &mut self,
        member_id: &str,
        group_instance_id: Option<&str>,
        generation_id: i32,
        transactional: bool,
        now: i64,
    ) -> Result<(), ErrorCode> {
        if self.state == GroupState::Dead {
            return Err(ErrorCode::CoordinatorNotAvailable);
        }
        if generation_id < 0 && self.state == GroupState::Empty {
            return Ok(());
        }
        if generation_id >= 0 || !member_id.is_empty() || group_instance_id.is_some() {
            self.validate_member(member_id, group_instance_id)?;
            if generation_id != self.generation_id {
                return Err(ErrorCode::IllegalGeneration);
            }
        } else if !transactional && self.state != GroupState::Empty {
            return Err(ErrorCode::UnknownMemberId);
        }
        if !transactional && self.state == GroupState::CompletingRebalance {
            // The member has its JoinGroup response but not yet its assignment.
            return Err(ErrorCode::RebalanceInProgress);
        }
        if !transactional
            && matches!(
                self.state,
                GroupState::Stable | GroupState::PreparingRebalance
            )
        {
            self.reschedule_heartbeat(member_id, now);
        }
        Ok(())
    }
}
