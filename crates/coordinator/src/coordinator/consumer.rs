//! The KIP-848 side of [`GroupCoordinator`]: ConsumerGroupHeartbeat routing, with Kafka's
//! rules between the two kinds of group (an empty classic group becomes a consumer group on
//! the first heartbeat and vice versa; a group with members keeps its kind).

use weir_protocol::error::ErrorCode;

use super::{GroupCoordinator, Record};
use crate::consumer::{diff, ConsumerGroup, Heartbeat, HeartbeatResponse, Topics};
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

    /// ConsumerGroupHeartbeat. `topics` gives a topic's partition count if it exists, and
    /// the topics a subscription pattern may match. Also returns the records that make the
    /// change durable.
    pub fn consumer_heartbeat(
        &mut self,
        group_id: &str,
        req: Heartbeat,
        new_member_id: impl FnOnce() -> String,
        topics: &dyn Topics,
        now: i64,
    ) -> (Result<HeartbeatResponse, ErrorCode>, Vec<Record>) {
        if group_id.is_empty() {
            return (Err(ErrorCode::InvalidRequest), Vec::new());
        }
        let mut records = Vec::new();
        if !self.consumer_groups.contains_key(group_id) {
            if req.member_epoch != 0 {
                return (Err(ErrorCode::UnknownMemberId), Vec::new());
            }
            if let Some(classic) = self.groups.get(group_id) {
                if !matches!(classic.state(), GroupState::Empty | GroupState::Dead) {
                    return (Err(ErrorCode::GroupIdNotFound), Vec::new());
                }
                // An empty classic group (offsets only) turns into a consumer group.
                self.groups.remove(group_id);
                records.push(Record::GroupTombstone {
                    group_id: group_id.to_string(),
                });
            }
            let g = ConsumerGroup::new(group_id, self.config.clone(), now);
            self.consumer_groups.insert(group_id.to_string(), g);
        }
        let Some(g) = self.consumer_groups.get_mut(group_id) else {
            return (Err(ErrorCode::UnknownMemberId), records);
        };
        let before = g.view();
        let result = g.heartbeat(req, new_member_id, topics, now);
        let after = g.view();
        if after != before {
            records.extend(diff(group_id, Some(&before), Some(&after)));
        }
        (result, records)
    }

    /// Expires KIP-848 members whose session or revocation deadline passed; returns the
    /// records of what changed.
    pub fn tick_consumer_groups(&mut self, now: i64) -> Vec<Record> {
        let mut records = Vec::new();
        for (id, g) in &mut self.consumer_groups {
            if g.next_deadline().is_some_and(|d| d <= now) {
                let before = g.view();
                if g.tick(now) > 0 {
                    records.extend(diff(id, Some(&before), Some(&g.view())));
                }
            }
        }
        records
    }

    /// Turns an empty consumer group back into nothing, so a classic JoinGroup may take the
    /// id; `Err` if it still has members.
    pub(super) fn release_consumer_group(&mut self, group_id: &str) -> Result<(), ErrorCode> {
        match self.consumer_groups.get(group_id) {
            Some(g) if !g.is_empty() => Err(ErrorCode::InconsistentGroupProtocol),
            Some(_) => {
                // No tombstones: on load the classic group's later record wins.
                self.consumer_groups.remove(group_id);
                Ok(())
            }
            None => Ok(()),
        }
    }
}
