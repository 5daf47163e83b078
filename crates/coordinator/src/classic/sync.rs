//! SyncGroup, and what follows a group metadata write: the leader's assignment reaches the
//! members once written; a static member's new id is confirmed, or undone on failure.

use std::collections::BTreeMap;

use bytes::Bytes;
use weir_protocol::error::ErrorCode;

use super::api::{Effect, JoinResponse, Output, SyncRequest, SyncResponse};
use super::{append_error_to_response_error, ClassicGroup, PendingWrite, StaticReplace};
use crate::group::GroupState;

impl ClassicGroup {
    /// Handles a SyncGroup request. Followers are parked until the leader's assignment is
    /// written; in a Stable group the current assignment is returned at once.
    pub fn sync(&mut self, req: SyncRequest) -> Output<SyncResponse> {
        let token = req.token;
        let mut out = Vec::new();
        if let Some(error) = self.validate_sync(&req) {
            return Output::ready(SyncResponse::error(error), out);
        }
        match self.state {
            GroupState::PreparingRebalance => {
                Output::ready(SyncResponse::error(ErrorCode::RebalanceInProgress), out)
            }
            GroupState::CompletingRebalance => {
                if let Some(m) = self.members.get_mut(&req.member_id) {
                    if let Some(old) = m.awaiting_sync.replace(token).filter(|t| *t != token) {
                        let response = SyncResponse::error(ErrorCode::RebalanceInProgress);
                        out.push(Effect::SyncResponse {
                            token: old,
                            response,
                        });
                    }
                }
                self.remove_pending_sync(&req.member_id);
                if self.leader_id.as_deref() == Some(req.member_id.as_str()) {
                    let mut given: BTreeMap<String, Bytes> = req.assignments.into_iter().collect();
                    // Members the leader left out get an empty assignment; ids it invented
                    // are dropped.
                    let assignment: BTreeMap<String, Bytes> = self
                        .members
                        .keys()
                        .map(|id| (id.clone(), given.remove(id).unwrap_or_default()))
                        .collect();
                    let write = PendingWrite::Assignment {
                        generation: self.generation_id,
                        assignment: assignment.clone(),
                    };
                    let effect = self.new_write(write, &assignment);
                    out.push(effect);
                }
                Output::sync(token, out)
            }
            GroupState::Stable => {
                self.remove_pending_sync(&req.member_id);
                let assignment = self
                    .members
                    .get(&req.member_id)
                    .map(|m| m.assignment.clone())
                    .unwrap_or_default();
                let response = SyncResponse {
                    error: ErrorCode::None,
                    protocol_type: self.protocol_type.clone(),
                    protocol_name: self.protocol_name.clone(),
                    assignment,
                };
                Output::ready(response, out)
            }
            GroupState::Empty | GroupState::Dead => {
                Output::ready(SyncResponse::error(ErrorCode::UnknownMemberId), out)
            }
        }
    }

    fn validate_sync(&self, req: &SyncRequest) -> Option<ErrorCode> {
        let inconsistent =
            |asked: &Option<String>, actual: &Option<String>| asked.is_some() && asked != actual;
        match self.state {
            GroupState::Empty => Some(ErrorCode::UnknownMemberId),
            GroupState::Dead => Some(ErrorCode::CoordinatorNotAvailable),
            _ => {
                if let Err(e) =
                    self.validate_member(&req.member_id, req.group_instance_id.as_deref())
                {
                    Some(e)
                } else if req.generation_id != self.generation_id {
                    Some(ErrorCode::IllegalGeneration)
                } else if inconsistent(&req.protocol_type, &self.protocol_type)
                    || inconsistent(&req.protocol_name, &self.protocol_name)
                {
                    Some(ErrorCode::InconsistentGroupProtocol)
                } else {
                    None
                }
            }
        }
    }

    fn remove_pending_sync(&mut self, member_id: &str) {
        self.pending_sync.remove(member_id);
        if self.pending_sync.is_empty() {
            self.sync_timer = None;
        }
    }

    /// Reports the outcome of the `PersistGroup` write `write_id`: `Err` carries the append's
    /// error code (mapped here to what clients see). Returns the effects it releases.
    pub fn persisted(
        &mut self,
        write_id: u64,
        result: Result<(), ErrorCode>,
        now: i64,
    ) -> Vec<Effect> {
        let mut out = Vec::new();
        match self.pending_writes.remove(&write_id) {
            None | Some(PendingWrite::Plain) => {}
            Some(PendingWrite::Assignment {
                generation,
                assignment,
            }) => {
                // The group may have moved on (a member joined) while the write was in flight.
                if self.state == GroupState::CompletingRebalance && generation == self.generation_id
                {
                    match result {
                        Ok(()) => {
                            self.set_and_propagate_assignment(&assignment, now, &mut out);
                            self.transition(GroupState::Stable, now);
                        }
                        Err(e) => {
                            let error = append_error_to_response_error(e);
                            self.reset_and_propagate_assignment(error, now, &mut out);
                            self.maybe_prepare_rebalance_or_complete_join(now, &mut out);
                        }
                    }
                }
            }
            Some(PendingWrite::StaticReplace(r)) => match result {
                Ok(()) => self.confirm_static_replace(r, &mut out),
                Err(e) => {
                    self.revert_static_replace(r, append_error_to_response_error(e), now, &mut out)
                }
            },
        }
        out
    }

    fn confirm_static_replace(&mut self, r: StaticReplace, out: &mut Vec<Effect>) {
        let Some(m) = self.members.get_mut(&r.new_member_id) else {
            return;
        };
        if m.awaiting_join != Some(r.token) {
            return;
        }
        m.awaiting_join = None;
        let response = if r.supports_skip_assignment {
            // The leader learns the members (to check subscriptions) but keeps the assignment.
            let is_leader = self.leader_id.as_deref() == Some(r.new_member_id.as_str());
            JoinResponse {
                skip_assignment: is_leader,
                ..self.join_response(&r.new_member_id, is_leader)
            }
        } else {
            // Older clients are told the old leader id, so a restarted leader acts as a
            // follower and just syncs its current assignment.
            JoinResponse {
                leader: r.leader_before.unwrap_or_default(),
                ..self.join_response(&r.new_member_id, false)
            }
        };
        out.push(Effect::JoinResponse {
            token: r.token,
            response,
        });
    }

    fn revert_static_replace(
        &mut self,
        r: StaticReplace,
        error: ErrorCode,
        now: i64,
        out: &mut Vec<Effect>,
    ) {
        let waiting = self
            .members
            .get(&r.new_member_id)
            .is_some_and(|m| m.awaiting_join == Some(r.token));
        // Undo only if nothing happened to the member since; a rebalance that already
        // answered its JoinGroup has made the new id current.
        if waiting {
            self.update_member(
                &r.new_member_id,
                r.old_protocols,
                r.old_rebalance_timeout_ms,
                r.old_session_timeout_ms,
                None,
                out,
            );
            self.replace_static_member(&r.instance_id, &r.new_member_id, &r.old_member_id, out);
            self.reschedule_heartbeat(&r.old_member_id, now);
            let response = JoinResponse {
                error,
                generation_id: self.generation_id,
                protocol_type: self.protocol_type.clone(),
                protocol_name: self.protocol_name.clone(),
                leader: r.leader_before.unwrap_or_default(),
                skip_assignment: false,
                member_id: String::new(),
                members: Vec::new(),
            };
            out.push(Effect::JoinResponse {
                token: r.token,
                response,
            });
        }
    }
}
