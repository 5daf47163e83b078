//! Scenario tests for the classic group, driven as a broker would: requests and ticks in,
//! replies and effects out. Each file covers one theme.

mod errors;
mod rebalance;
mod static_members;
mod timeouts;

use std::collections::BTreeMap;

use bytes::Bytes;
use weir_protocol::error::ErrorCode;

use super::*;
use crate::group::{GroupConfig, SequentialIds};
use crate::subscription::encode_subscription;

pub(super) const SESSION: i32 = 10_000;
pub(super) const REBALANCE: i32 = 30_000;
pub(super) const DELAY: i64 = 100;

/// The coordinator settings the scenarios use: a short initial delay, small timeout floor.
pub(super) fn config() -> GroupConfig {
    GroupConfig {
        initial_rebalance_delay_ms: DELAY,
        min_session_timeout_ms: 1_000,
        ..GroupConfig::default()
    }
}

/// A consumer subscribing to `topics` with the range protocol.
pub(super) fn range(topics: &[&str]) -> Vec<Protocol> {
    vec![Protocol::new("range", encode_subscription(topics, 1))]
}

/// A group driven by tests, collecting every effect it releases.
pub(super) struct Harness {
    pub(super) group: ClassicGroup,
    pub(super) ids: SequentialIds,
    pub(super) now: i64,
    next_token: u64,
    /// Join responses released as effects, by token.
    pub(super) joins: BTreeMap<u64, JoinResponse>,
    /// Sync responses released as effects, by token.
    pub(super) syncs: BTreeMap<u64, SyncResponse>,
    /// Group metadata writes requested, not yet reported.
    pub(super) writes: Vec<(u64, GroupSnapshot)>,
}

impl Harness {
    pub(super) fn new() -> Self {
        Harness {
            group: ClassicGroup::new("g", config()),
            ids: SequentialIds::default(),
            now: 0,
            next_token: 1,
            joins: BTreeMap::new(),
            syncs: BTreeMap::new(),
            writes: Vec::new(),
        }
    }

    pub(super) fn token(&mut self) -> u64 {
        self.next_token += 1;
        self.next_token
    }

    pub(super) fn absorb(&mut self, effects: Vec<Effect>) {
        for e in effects {
            match e {
                Effect::JoinResponse { token, response } => {
                    assert!(
                        self.joins.insert(token, response).is_none(),
                        "token {token} answered twice"
                    );
                }
                Effect::SyncResponse { token, response } => {
                    assert!(
                        self.syncs.insert(token, response).is_none(),
                        "token {token} answered twice"
                    );
                }
                Effect::PersistGroup { write_id, snapshot } => {
                    self.writes.push((write_id, snapshot))
                }
            }
        }
    }

    /// A JoinGroup request of the current API version from `client`.
    pub(super) fn request(
        &mut self,
        member_id: &str,
        instance: Option<&str>,
        protocols: Vec<Protocol>,
    ) -> JoinRequest {
        JoinRequest {
            token: self.token(),
            member_id: member_id.to_string(),
            group_instance_id: instance.map(str::to_string),
            protocol_type: "consumer".into(),
            protocols,
            session_timeout_ms: SESSION,
            rebalance_timeout_ms: REBALANCE,
            client_id: "client".into(),
            client_host: "/127.0.0.1".into(),
            reason: None,
            require_known_member_id: true,
            supports_skip_assignment: true,
        }
    }

    /// Sends a join and returns its token and immediate reply (if any).
    pub(super) fn send_join(&mut self, req: JoinRequest) -> (u64, Option<JoinResponse>) {
        let token = req.token;
        let out = self.group.join(req, &mut self.ids, self.now);
        self.absorb(out.effects);
        let reply = out.reply.ready();
        if let Some(r) = &reply {
            // Kept by token too, like responses released later.
            self.joins.insert(token, r.clone());
        }
        (token, reply)
    }

    /// Joins as `member_id` with the default protocols; returns the token.
    pub(super) fn join(&mut self, member_id: &str) -> (u64, Option<JoinResponse>) {
        let req = self.request(member_id, None, range(&["t"]));
        self.send_join(req)
    }

    /// A new dynamic member: MEMBER_ID_REQUIRED, then a join with the given id (parked or
    /// answered). Returns (member id, token of the second join).
    pub(super) fn new_member(&mut self) -> (String, u64) {
        let (_, reply) = self.join("");
        let reply = reply.unwrap_or_else(|| panic!("MEMBER_ID_REQUIRED expected"));
        assert_eq!(reply.error, ErrorCode::MemberIdRequired);
        let (token, _) = self.join(&reply.member_id);
        (reply.member_id, token)
    }

    pub(super) fn tick(&mut self, to: i64) {
        self.now = to;
        let out = self.group.tick(to);
        self.absorb(out);
    }

    pub(super) fn sync(
        &mut self,
        member_id: &str,
        assignments: Vec<(String, Bytes)>,
    ) -> (u64, Option<SyncResponse>) {
        let token = self.token();
        let req = SyncRequest {
            token,
            member_id: member_id.to_string(),
            generation_id: self.group.generation_id(),
            group_instance_id: self
                .group
                .members
                .get(member_id)
                .and_then(|m| m.instance_id.clone()),
            protocol_type: Some("consumer".into()),
            protocol_name: self.group.protocol_name().map(str::to_string),
            assignments,
        };
        let out = self.group.sync(req);
        self.absorb(out.effects);
        (token, out.reply.ready())
    }

    /// Reports every outstanding write as done.
    pub(super) fn persist_all(&mut self, result: Result<(), ErrorCode>) {
        for (id, _) in std::mem::take(&mut self.writes) {
            let out = self.group.persisted(id, result, self.now);
            self.absorb(out);
        }
    }

    pub(super) fn heartbeat(&mut self, member_id: &str, generation: i32) -> ErrorCode {
        let instance = self
            .group
            .members
            .get(member_id)
            .and_then(|m| m.instance_id.clone());
        self.group
            .heartbeat(member_id, instance.as_deref(), generation, self.now)
    }

    pub(super) fn leave(&mut self, member_id: &str) -> LeaveResponse {
        let members = vec![LeaveMember {
            member_id: member_id.to_string(),
            group_instance_id: None,
            reason: None,
        }];
        let out = self.group.leave(members, self.now);
        self.absorb(out.effects);
        out.reply
            .ready()
            .unwrap_or_else(|| panic!("leave always replies"))
    }

    /// The join response released for `token`.
    pub(super) fn joined(&self, token: u64) -> &JoinResponse {
        self.joins
            .get(&token)
            .unwrap_or_else(|| panic!("no join response for token {token}"))
    }

    /// Runs the sync phase: the leader assigns `assign:<member>` to everyone, followers
    /// sync, the write succeeds. Returns each member's assignment.
    pub(super) fn complete_sync(&mut self) -> BTreeMap<String, Bytes> {
        let leader = self.group.leader().map(str::to_string).unwrap_or_default();
        let members: Vec<String> = self
            .group
            .member_ids()
            .iter()
            .map(|s| s.to_string())
            .collect();
        let assignments = members
            .iter()
            .map(|m| (m.clone(), Bytes::from(format!("assign:{m}"))))
            .collect();
        let mut tokens = vec![(leader.clone(), self.sync(&leader, assignments).0)];
        for m in members.iter().filter(|m| **m != leader) {
            tokens.push((m.clone(), self.sync(m, Vec::new()).0));
        }
        self.persist_all(Ok(()));
        assert_eq!(self.group.state(), GroupState::Stable);
        tokens
            .into_iter()
            .map(|(m, t)| {
                let r = &self.syncs[&t];
                assert_eq!(r.error, ErrorCode::None);
                (m, r.assignment.clone())
            })
            .collect()
    }

    /// A Stable group of `n` dynamic members; returns their ids in join order.
    pub(super) fn stable(n: usize) -> (Harness, Vec<String>) {
        let mut h = Harness::new();
        let ids: Vec<String> = (0..n).map(|_| h.new_member().0).collect();
        // The initial delay extends once per wave of new members, then completes.
        h.tick(h.now + DELAY);
        h.tick(h.now + DELAY);
        assert_eq!(h.group.state(), GroupState::CompletingRebalance);
        h.complete_sync();
        (h, ids)
    }
}
