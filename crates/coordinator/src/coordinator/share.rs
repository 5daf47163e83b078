//! The share-group side of [`GroupCoordinator`] (KIP-932): ShareGroupHeartbeat routing,
//! session expiry, and the rule that a group id names one kind of group: a share group is
//! created by its first heartbeat only where no classic or consumer group has the id, and
//! the other kinds cannot take the id of a share group.
//!
//! Membership is persisted as Kafka persists it (ShareGroup* records in
//! `__consumer_offsets`), so a coordinator that takes over knows the group, its members and
//! their epochs, and the topics whose share state a deletion must forget.

use weir_protocol::error::ErrorCode;

use super::{GroupCoordinator, Record};
use crate::share::group::{diff, ShareGroup, ShareHeartbeat, ShareHeartbeatResult};

/// What deleting a share group leaves to do: forget the share state of these topics, and
/// write these tombstones.
pub type ShareDeletion = (Vec<String>, Vec<Record>);

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
    /// Also returns the records that make the change durable.
    pub fn share_heartbeat(
        &mut self,
        group_id: &str,
        hb: ShareHeartbeat,
        partitions: &dyn Fn(&str) -> Option<i32>,
        now: i64,
    ) -> (Result<ShareHeartbeatResult, ErrorCode>, Vec<Record>) {
        if group_id.is_empty() {
            return (Err(ErrorCode::InvalidRequest), Vec::new());
        }
        let mut records = Vec::new();
        if !self.share_groups.contains_key(group_id) {
            if hb.member_epoch != 0 {
                return (Err(ErrorCode::UnknownMemberId), Vec::new());
            }
            let other_kind = self.groups.get(group_id).is_some_and(|g| !g.is_empty())
                || self.consumer_groups.contains_key(group_id)
                || self.offsets.contains_key(group_id);
            if other_kind {
                return (Err(ErrorCode::GroupIdNotFound), Vec::new());
            }
            if self.groups.remove(group_id).is_some() {
                records.push(Record::GroupTombstone {
                    group_id: group_id.to_string(),
                });
            }
        }
        let timeout = self.config.share_session_timeout_ms;
        let existed = self.share_groups.contains_key(group_id);
        let g = self
            .share_groups
            .entry(group_id.to_string())
            .or_insert_with(|| ShareGroup::new(group_id));
        let before = existed.then(|| g.view());
        let result = g.heartbeat(hb, partitions, timeout, now);
        let after = g.view();
        if before.as_ref() != Some(&after) {
            records.extend(diff(group_id, before.as_ref(), Some(&after)));
        }
        (result, records)
    }

    /// Drops share group members whose session lapsed: the (group, member) pairs dropped,
    /// and the records of what changed.
    pub fn tick_share_groups(&mut self, now: i64) -> (Vec<(String, String)>, Vec<Record>) {
        let mut gone = Vec::new();
        let mut records = Vec::new();
        for (id, g) in &mut self.share_groups {
            if g.next_deadline().is_some_and(|d| d <= now) {
                let before = g.view();
                let expired = g.expire(now);
                if !expired.is_empty() {
                    records.extend(diff(id, Some(&before), Some(&g.view())));
                }
                gone.extend(expired.into_iter().map(|m| (id.clone(), m)));
            }
        }
        (gone, records)
    }

    /// Deletes an empty share group: NON_EMPTY_GROUP while it has members, `None` if there
    /// is no share group with that id. On success, the topics its members subscribed to
    /// (whose share state the caller should forget) and the tombstones to write.
    pub fn delete_share_group(
        &mut self,
        group_id: &str,
    ) -> Option<Result<ShareDeletion, ErrorCode>> {
        let g = self.share_groups.get(group_id)?;
        if !g.is_empty() {
            return Some(Err(ErrorCode::NonEmptyGroup));
        }
        let topics = g.topics_seen().iter().cloned().collect();
        let records = diff(group_id, Some(&g.view()), None);
        self.share_groups.remove(group_id);
        Some(Ok((topics, records)))
    }
}
