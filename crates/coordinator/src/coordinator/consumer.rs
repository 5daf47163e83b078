//! The KIP-848 side of [`GroupCoordinator`]: ConsumerGroupHeartbeat routing, with Kafka's
//! rules between the two kinds of group (an empty classic group becomes a consumer group on
//! the first heartbeat and vice versa; a group with members keeps its kind).

use weir_protocol::error::ErrorCode;

use super::GroupCoordinator;
use crate::consumer::{ConsumerGroup, Heartbeat, HeartbeatResponse};
use crate::group::GroupState;

impl GroupCoordinator {
    /// A consumer group, if one exists with that id.
    pub fn consumer_group(&self, group_id: &str) -> Option<&ConsumerGroup> {
        self.consumer_groups.get(group_id)
    }

    /// Every consumer group.
    pub fn consumer_groups(&self) -> impl Iterator<Item = &ConsumerGroup> {
        self.consumer_groups.values()
    }

    /// ConsumerGroupHeartbeat. `partition_counts` gives a topic's partition count if it exists.
    pub fn consumer_heartbeat(
        &mut self,
        group_id: &str,
        req: Heartbeat,
        new_member_id: impl FnOnce() -> String,
        partition_counts: &dyn Fn(&str) -> Option<i32>,
        now: i64,
    ) -> Result<HeartbeatResponse, ErrorCode> {
        if group_id.is_empty() {
            return Err(ErrorCode::InvalidRequest);
        }
        if !self.consumer_groups.contains_key(group_id) {
            if req.member_epoch != 0 {
                return Err(ErrorCode::UnknownMemberId);
            }
            if let Some(classic) = self.groups.get(group_id) {
                if !matches!(classic.state(), GroupState::Empty | GroupState::Dead) {
                    return Err(ErrorCode::GroupIdNotFound);
                }
                // An empty classic group (offsets only) turns into a consumer group.
                self.groups.remove(group_id);
            }
            let g = ConsumerGroup::new(group_id, self.config.clone(), now);
            self.consumer_groups.insert(group_id.to_string(), g);
        }
        let Some(g) = self.consumer_groups.get_mut(group_id) else {
            return Err(ErrorCode::UnknownMemberId);
        };
        g.heartbeat(req, new_member_id, partition_counts, now)
    }

    /// Turns an empty consumer group back into nothing, so a classic JoinGroup may take the
    /// id; `Err` if it still has members.
    pub(super) fn release_consumer_group(&mut self, group_id: &str) -> Result<(), ErrorCode> {
        match self.consumer_groups.get(group_id) {
            Some(g) if !g.is_empty() => Err(ErrorCode::InconsistentGroupProtocol),
            Some(_) => {
                self.consumer_groups.remove(group_id);
                Ok(())
            }
            None => Ok(()),
        }
    }
}
