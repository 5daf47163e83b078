//! The share-group side of [`GroupCoordinator`] (KIP-932): ShareGroupHeartbeat routing,
//! session expiry, and the rule that a group id names one kind of group: a share group is
//! created by its first heartbeat only where no classic or consumer group has the id, and
//! the other kinds cannot take the id of a share group.
//!
//! Share group membership is kept in memory: when the coordinator moves, members find it
//! with FindCoordinator and rejoin with epoch 0, which loses nothing (records, not
//! partitions, are what members hold, and their delivery state is kept by the partition
//! leaders).

use weir_protocol::error::ErrorCode;

use super::GroupCoordinator;
use crate::share::group::{ShareGroup, ShareHeartbeat, ShareHeartbeatResult};

impl GroupCoordinator {
    /// A share group, if one exists with that id.
    pub fn share_group(&self, group_id: &str) -> Option<&ShareGroup> {
        self.share_groups.get(group_id)
    }

    /// Every share group.
    pub fn share_groups(&self) -> impl Iterator<Item = &ShareGroup> {
        self.share_groups.values()
    }

    /// Whether `group_id` is a share group (so other kinds of group may not use it).
    pub fn is_share_group(&self, group_id: &str) -> bool {
        self.share_groups.contains_key(group_id)
    }

    /// ShareGroupHeartbeat; `partitions` gives a topic's partition count if it exists.
    pub fn share_heartbeat(
        &mut self,
        group_id: &str,
        hb: ShareHeartbeat,
        partitions: &dyn Fn(&str) -> Option<i32>,
        now: i64,
    ) -> Result<ShareHeartbeatResult, ErrorCode> {
        if group_id.is_empty() {
            return Err(ErrorCode::InvalidRequest);
        }
        if !self.share_groups.contains_key(group_id) {
            if hb.member_epoch != 0 {
                return Err(ErrorCode::UnknownMemberId);
            }
            let other_kind = self.groups.get(group_id).is_some_and(|g| !g.is_empty())
                || self.consumer_groups.contains_key(group_id)
                || self.offsets.contains_key(group_id);
            if other_kind {
                return Err(ErrorCode::GroupIdNotFound);
            }
            self.groups.remove(group_id);
            self.share_groups
                .insert(group_id.to_string(), ShareGroup::new(group_id));
        }
        let timeout = self.config.share_session_timeout_ms;
        let Some(g) = self.share_groups.get_mut(group_id) else {
            return Err(ErrorCode::UnknownMemberId);
        };
        g.heartbeat(hb, partitions, timeout, now)
    }

    /// Drops share group members whose session lapsed; the (group, member) pairs dropped.
    pub fn tick_share_groups(&mut self, now: i64) -> Vec<(String, String)> {
        let mut gone = Vec::new();
        for (id, g) in &mut self.share_groups {
            if g.next_deadline().is_some_and(|d| d <= now) {
                gone.extend(g.expire(now).into_iter().map(|m| (id.clone(), m)));
            }
        }
        gone
    }

    /// Deletes an empty share group: NON_EMPTY_GROUP while it has members, `None` if there
    /// is no share group with that id. On success, the topics its members subscribed to
    /// (whose share state the caller should forget).
    pub fn delete_share_group(&mut self, group_id: &str) -> Option<Result<Vec<String>, ErrorCode>> {
        let g = self.share_groups.get(group_id)?;
        if !g.is_empty() {
            return Some(Err(ErrorCode::NonEmptyGroup));
        }
        let topics = g.topics_seen().iter().cloned().collect();
        self.share_groups.remove(group_id);
        Some(Ok(topics))
    }
}
