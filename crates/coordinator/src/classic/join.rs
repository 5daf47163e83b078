//! JoinGroup: new dynamic members (KIP-394 MEMBER_ID_REQUIRED), new and restarting static
//! members (KIP-345), and existing members rejoining in each state.

use weir_protocol::error::ErrorCode;

use super::api::{Effect, JoinRequest, JoinResponse, Output};
use super::member::{dedup_protocols, Member};
use super::{after, ClassicGroup, PendingWrite, StaticReplace};
use crate::group::{GroupState, MemberIdSource};

impl ClassicGroup {
    /// Handles a JoinGroup request. The response is ready at once (errors, MEMBER_ID_REQUIRED,
    /// a follower rejoining a stable group) or parked until the join phase completes.
    pub fn join(
        &mut self,
        mut req: JoinRequest,
        ids: &mut dyn MemberIdSource,
        now: i64,
    ) -> Output<JoinResponse> {
        let token = req.token;
        req.protocols = dedup_protocols(std::mem::take(&mut req.protocols));
        let mut out = Vec::new();
        self.join_inner(req, ids, now, &mut out);
        Output::join(token, out)
    }

    fn join_inner(
        &mut self,
        req: JoinRequest,
        ids: &mut dyn MemberIdSource,
        now: i64,
        out: &mut Vec<Effect>,
    ) {
        let reply = |out: &mut Vec<Effect>, response: JoinResponse| {
            out.push(Effect::JoinResponse {
                token: req.token,
                response,
            })
        };
        if req.session_timeout_ms < self.config.min_session_timeout_ms
            || req.session_timeout_ms > self.config.max_session_timeout_ms
        {
            let err = JoinResponse::error(req.member_id.clone(), ErrorCode::InvalidSessionTimeout);
            return reply(out, err);
        }
        if !self.accept_joining_member(&req.member_id) {
            self.remove_member(&req.member_id, out);
            return reply(out, JoinResponse::error("", ErrorCode::GroupMaxSizeReached));
        }
        if self.state == GroupState::Dead {
            let err =
                JoinResponse::error(req.member_id.clone(), ErrorCode::CoordinatorNotAvailable);
            return reply(out, err);
        }
        if !self.supports_protocols(&req.protocol_type, &req.protocols) {
            let err =
                JoinResponse::error(req.member_id.clone(), ErrorCode::InconsistentGroupProtocol);
            return reply(out, err);
        }
        if req.member_id.is_empty() {
            self.join_new_member(req, ids, now, out);
        } else {
            self.join_existing_member(req, now, out);
        }
    }

    /// Kafka's `acceptJoiningMember`: new members only while below `group.max.size`.
    fn accept_joining_member(&self, member_id: &str) -> bool {
        let max = self.config.max_size;
        match self.state {
            GroupState::Empty | GroupState::Dead => true,
            GroupState::PreparingRebalance => {
                self.members
                    .get(member_id)
                    .is_some_and(|m| m.awaiting_join.is_some())
                    || self.num_awaiting_join() < max
            }
            GroupState::CompletingRebalance | GroupState::Stable => {
                self.members.contains_key(member_id) || self.members.len() < max
            }
        }
    }

    fn join_new_member(
        &mut self,
        req: JoinRequest,
        ids: &mut dyn MemberIdSource,
        now: i64,
        out: &mut Vec<Effect>,
    ) {
        let prefix = req.group_instance_id.as_deref().unwrap_or(&req.client_id);
        let new_id = format!("{prefix}-{}", ids.next_unique());
        if let Some(instance) = req.group_instance_id.as_deref() {
            match self.static_members.get(instance).cloned() {
                Some(old_id) => self.replace_static_member_on_join(req, old_id, new_id, now, out),
                None => self.add_member_and_rebalance(req, new_id, now, out),
            }
        } else if req.require_known_member_id {
            let deadline = after(now, i64::from(req.session_timeout_ms));
            self.pending_members.insert(new_id.clone(), deadline);
            out.push(Effect::JoinResponse {
                token: req.token,
                response: JoinResponse::error(new_id, ErrorCode::MemberIdRequired),
            });
        } else {
            self.add_member_and_rebalance(req, new_id, now, out);
        }
    }

    fn join_existing_member(&mut self, req: JoinRequest, now: i64, out: &mut Vec<Effect>) {
        let member_id = req.member_id.clone();
        let reply_now = |out: &mut Vec<Effect>, response: JoinResponse| {
            out.push(Effect::JoinResponse {
                token: req.token,
                response,
            })
        };
        if self.pending_members.contains_key(&member_id) {
            if req.group_instance_id.is_some() {
                // A pending member id is only ever handed to a dynamic member.
                return reply_now(
                    out,
                    JoinResponse::error(member_id, ErrorCode::UnknownServerError),
                );
            }
            return self.add_member_and_rebalance(req, member_id, now, out);
        }
        if let Err(e) = self.validate_member(&member_id, req.group_instance_id.as_deref()) {
            return reply_now(out, JoinResponse::error(member_id, e));
        }
        let Some(member) = self.members.get(&member_id) else {
            return reply_now(
                out,
                JoinResponse::error(member_id, ErrorCode::UnknownMemberId),
            );
        };
        let same_metadata = member.matches(&req.protocols);
        let is_leader = self.leader_id.as_deref() == Some(member_id.as_str());
        match self.state {
            GroupState::PreparingRebalance => self.update_member_and_rebalance(req, now, out),
            GroupState::CompletingRebalance if same_metadata => {
                // It probably missed the JoinGroup response: repeat the current generation.
                let response = self.join_response(&member_id, is_leader);
                reply_now(out, response);
            }
            GroupState::Stable if !is_leader && same_metadata => {
                let response = self.join_response(&member_id, false);
                reply_now(out, response);
            }
            // A leader rejoining a stable group forces a rebalance (topic metadata may have
            // changed); so does any member whose metadata changed.
            GroupState::CompletingRebalance | GroupState::Stable => {
                self.update_member_and_rebalance(req, now, out)
            }
            GroupState::Empty | GroupState::Dead => reply_now(
                out,
                JoinResponse::error(member_id, ErrorCode::UnknownMemberId),
            ),
        }
    }

    fn add_member_and_rebalance(
        &mut self,
        req: JoinRequest,
        member_id: String,
        now: i64,
        out: &mut Vec<Effect>,
    ) {
        let member = Member {
            id: member_id,
            instance_id: req.group_instance_id,
            client_id: req.client_id,
            client_host: req.client_host,
            rebalance_timeout_ms: req.rebalance_timeout_ms,
            session_timeout_ms: req.session_timeout_ms,
            protocol_type: req.protocol_type,
            protocols: req.protocols,
            assignment: Default::default(),
            awaiting_join: Some(req.token),
            awaiting_sync: None,
            is_new: true,
            // A parked new member cannot heartbeat; bound its wait separately.
            heartbeat_deadline: Some(after(now, self.config.new_member_join_timeout_ms)),
        };
        if self.state == GroupState::PreparingRebalance && self.previous_state == GroupState::Empty
        {
            self.new_member_added = true;
        }
        self.add_member(member);
        self.maybe_prepare_rebalance_or_complete_join(now, out);
    }

    fn update_member_and_rebalance(&mut self, req: JoinRequest, now: i64, out: &mut Vec<Effect>) {
        self.update_member(
            &req.member_id,
            req.protocols,
            req.rebalance_timeout_ms,
            req.session_timeout_ms,
            Some(req.token),
            out,
        );
        self.maybe_prepare_rebalance_or_complete_join(now, out);
    }

    /// Updates a member's protocols and timeouts and parks (or clears) its JoinGroup. A
    /// request it had parked before is answered REBALANCE_IN_PROGRESS so it is not lost.
    pub(super) fn update_member(
        &mut self,
        member_id: &str,
        protocols: Vec<super::Protocol>,
        rebalance_timeout_ms: i32,
        session_timeout_ms: i32,
        token: Option<u64>,
        out: &mut Vec<Effect>,
    ) {
        let Some(m) = self.members.get_mut(member_id) else {
            return;
        };
        m.protocols = protocols;
        m.rebalance_timeout_ms = rebalance_timeout_ms;
        m.session_timeout_ms = session_timeout_ms;
        if let (Some(old), Some(new)) = (m.awaiting_join, token) {
            if old != new {
                let response = JoinResponse::error(member_id, ErrorCode::RebalanceInProgress);
                out.push(Effect::JoinResponse {
                    token: old,
                    response,
                });
            }
        }
        m.awaiting_join = token;
    }

    /// A known static member joined with an empty member id (a restart): give it a new id,
    /// fence the old one, and rebalance only if the group's protocol would change.
    fn replace_static_member_on_join(
        &mut self,
        req: JoinRequest,
        old_id: String,
        new_id: String,
        now: i64,
        out: &mut Vec<Effect>,
    ) {
        let instance_id = req.group_instance_id.clone().unwrap_or_default();
        let leader_before = self.leader_id.clone();
        let Some((old_protocols, old_rebalance, old_session)) =
            self.members.get(&old_id).map(|m| {
                (
                    m.protocols.clone(),
                    m.rebalance_timeout_ms,
                    m.session_timeout_ms,
                )
            })
        else {
            return;
        };
        self.replace_static_member(&instance_id, &old_id, &new_id, out);
        self.reschedule_heartbeat(&new_id, now);
        self.update_member(
            &new_id,
            req.protocols,
            req.rebalance_timeout_ms,
            req.session_timeout_ms,
            Some(req.token),
            out,
        );
        match self.state {
            GroupState::Stable => {
                if self.protocol_name == self.select_protocol() {
                    let write = PendingWrite::StaticReplace(StaticReplace {
                        token: req.token,
                        instance_id,
                        old_member_id: old_id,
                        new_member_id: new_id,
                        old_protocols,
                        old_rebalance_timeout_ms: old_rebalance,
                        old_session_timeout_ms: old_session,
                        leader_before,
                        supports_skip_assignment: req.supports_skip_assignment,
                    });
                    let assignment = self.group_assignment();
                    let effect = self.new_write(write, &assignment);
                    out.push(effect);
                } else {
                    self.maybe_prepare_rebalance_or_complete_join(now, out);
                }
            }
            // The leader may already hold an assignment naming the old member id.
            GroupState::CompletingRebalance => self.prepare_rebalance(now, out),
            GroupState::PreparingRebalance => self.maybe_complete_join_phase(now, out),
            GroupState::Empty | GroupState::Dead => {}
        }
    }

    /// Moves a static member to a new member id, keeping everything else; requests parked
    /// under the old id are answered FENCED_INSTANCE_ID.
    pub(super) fn replace_static_member(
        &mut self,
        instance_id: &str,
        old_id: &str,
        new_id: &str,
        out: &mut Vec<Effect>,
    ) {
        let Some(mut m) = self.members.remove(old_id) else {
            return;
        };
        if let Some(token) = m.awaiting_join.take() {
            let response = JoinResponse::error(old_id, ErrorCode::FencedInstanceId);
            out.push(Effect::JoinResponse { token, response });
        }
        if let Some(token) = m.awaiting_sync.take() {
            let response = super::SyncResponse::error(ErrorCode::FencedInstanceId);
            out.push(Effect::SyncResponse { token, response });
        }
        m.id = new_id.to_string();
        self.members.insert(new_id.to_string(), m);
        if self.leader_id.as_deref() == Some(old_id) {
            self.leader_id = Some(new_id.to_string());
        }
        if self.pending_sync.remove(old_id) {
            self.pending_sync.insert(new_id.to_string());
        }
        self.static_members
            .insert(instance_id.to_string(), new_id.to_string());
    }
}
