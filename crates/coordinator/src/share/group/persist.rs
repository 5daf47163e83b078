//! A share group's durable form: the `__consumer_offsets` records Kafka writes for share
//! groups (group epoch, member metadata, current member assignment, and the topics whose
//! share-partitions may hold state), produced as the difference between the group before and
//! after an operation, and applied back when the partition loads.

use std::collections::{BTreeMap, BTreeSet};

use super::{ShareGroup, ShareMember};
use crate::assignor::TopicPartitions;
use crate::coordinator::Record;

/// A share member's metadata record (`ShareGroupMemberMetadataValue`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShareMemberRecord {
    /// Rack.
    pub rack_id: Option<String>,
    /// Client id.
    pub client_id: String,
    /// Client host.
    pub client_host: String,
    /// Subscribed topics.
    pub subscribed_topics: Vec<String>,
}

/// A share member's current assignment record (`ShareGroupCurrentMemberAssignmentValue`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShareAssignmentRecord {
    /// Member epoch.
    pub epoch: i32,
    /// Its partitions.
    pub assigned: TopicPartitions,
}

/// What of a share group is persisted, to compare before and after an operation.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ShareView {
    epoch: i32,
    members: BTreeMap<String, (ShareMemberRecord, ShareAssignmentRecord)>,
    seen: BTreeSet<String>,
}

impl ShareMember {
    fn records(&self) -> (ShareMemberRecord, ShareAssignmentRecord) {
        (
            ShareMemberRecord {
                rack_id: self.rack_id.clone(),
                client_id: self.client_id.clone(),
                client_host: self.client_host.clone(),
                subscribed_topics: self.subscribed.iter().cloned().collect(),
            },
            ShareAssignmentRecord {
                epoch: self.member_epoch,
                assigned: self.assignment.clone(),
            },
        )
    }

    fn loading(member_id: &str) -> Self {
        ShareMember {
            member_id: member_id.to_string(),
            member_epoch: 0,
            client_id: String::new(),
            client_host: String::new(),
            rack_id: None,
            subscribed: BTreeSet::new(),
            assignment: TopicPartitions::new(),
            session_deadline: 0,
        }
    }
}

impl ShareGroup {
    /// What of the group is persisted.
    pub fn view(&self) -> ShareView {
        ShareView {
            epoch: self.epoch,
            members: self
                .members
                .iter()
                .map(|(id, m)| (id.clone(), m.records()))
                .collect(),
            seen: self.seen.clone(),
        }
    }

    /// Applies a share group record read back while loading; members loaded get a full
    /// session from `now`, as in Kafka.
    pub fn replay(&mut self, record: Record, now: i64, session_timeout_ms: i64) {
        match record {
            Record::ShareGroupEpoch { epoch, .. } => self.epoch = epoch.unwrap_or(0),
            Record::ShareMember {
                member_id,
                value: None,
                ..
            } => {
                self.members.remove(&member_id);
            }
            Record::ShareMember {
                member_id,
                value: Some(v),
                ..
            } => {
                let m = self
                    .members
                    .entry(member_id.clone())
                    .or_insert_with(|| ShareMember::loading(&member_id));
                m.rack_id = v.rack_id;
                m.client_id = v.client_id;
                m.client_host = v.client_host;
                m.subscribed = v.subscribed_topics.into_iter().collect();
                m.session_deadline = now + session_timeout_ms;
            }
            Record::ShareCurrentAssignment {
                member_id,
                value: Some(a),
                ..
            } => {
                // Partition counts as the assignment shows them, until a heartbeat brings
                // the topics' own.
                for (topic, ps) in &a.assigned {
                    let count = ps.iter().max().map_or(0, |p| p.saturating_add(1));
                    let known = self.partitions.entry(topic.clone()).or_insert(0);
                    *known = (*known).max(count);
                }
                let m = self
                    .members
                    .entry(member_id.clone())
                    .or_insert_with(|| ShareMember::loading(&member_id));
                m.member_epoch = a.epoch;
                m.assignment = a.assigned;
                m.session_deadline = now + session_timeout_ms;
            }
            Record::ShareStateTopics {
                topics: Some(t), ..
            } => self.seen = t.into_iter().collect(),
            _ => {}
        }
    }
}

/// The records that turn `before` into `after` for group `group_id` (`after` `None`: the
/// group is deleted).
pub fn diff(group_id: &str, before: Option<&ShareView>, after: Option<&ShareView>) -> Vec<Record> {
    let empty = ShareView::default();
    let old = before.unwrap_or(&empty);
    // A deleted group loses every member, then its topics and its epoch.
    let new = after.unwrap_or(&empty);
    let group = || group_id.to_string();
    let mut out = Vec::new();
    for (id, (meta, assignment)) in &new.members {
        let was = old.members.get(id);
        if was.map(|(m, _)| m) != Some(meta) {
            out.push(Record::ShareMember {
                group_id: group(),
                member_id: id.clone(),
                value: Some(meta.clone()),
            });
        }
        if was.map(|(_, a)| a) != Some(assignment) {
            out.push(Record::ShareCurrentAssignment {
                group_id: group(),
                member_id: id.clone(),
                value: Some(assignment.clone()),
            });
        }
    }
    for id in old
        .members
        .keys()
        .filter(|id| !new.members.contains_key(*id))
    {
        out.push(Record::ShareCurrentAssignment {
            group_id: group(),
            member_id: id.clone(),
            value: None,
        });
        out.push(Record::ShareMember {
            group_id: group(),
            member_id: id.clone(),
            value: None,
        });
    }
    if after.is_none() {
        out.push(Record::ShareStateTopics {
            group_id: group(),
            topics: None,
        });
        out.push(Record::ShareGroupEpoch {
            group_id: group(),
            epoch: None,
        });
        return out;
    }
    if before.is_none() || old.epoch != new.epoch {
        out.push(Record::ShareGroupEpoch {
            group_id: group(),
            epoch: Some(new.epoch),
        });
    }
    if old.seen != new.seen {
        out.push(Record::ShareStateTopics {
            group_id: group(),
            topics: Some(new.seen.iter().cloned().collect()),
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use crate::share::group::ShareHeartbeat;
    use crate::{GroupConfig, GroupCoordinator, Record};

    fn hb(member: &str, epoch: i32, topics: Option<&[&str]>) -> ShareHeartbeat {
        ShareHeartbeat {
            member_id: member.into(),
            member_epoch: epoch,
            rack_id: None,
            subscribed_topics: topics.map(|t| t.iter().map(|s| s.to_string()).collect()),
            client_id: "c".into(),
            client_host: "/127.0.0.1".into(),
        }
    }

    fn jobs(t: &str) -> Option<i32> {
        (t == "jobs").then_some(2)
    }

    #[test]
    fn a_coordinator_that_takes_over_knows_the_members_and_their_epochs() {
        let mut c = GroupCoordinator::new(GroupConfig::default());
        let mut log: Vec<Record> = Vec::new();
        let mut beat = |c: &mut GroupCoordinator, h: ShareHeartbeat, now: i64| {
            let (r, records) = c.share_heartbeat("g", h, &jobs, now);
            log.extend(records);
            r.unwrap()
        };
        let a = beat(&mut c, hb("a", 0, Some(&["jobs"])), 0);
        let b = beat(&mut c, hb("b", 0, Some(&["jobs"])), 0);
        // A heartbeat that changes nothing writes nothing.
        let (_, quiet) = c.share_heartbeat("g", hb("b", b.member_epoch, None), &jobs, 1);
        assert!(quiet.is_empty(), "{quiet:?}");

        let mut next = GroupCoordinator::new(GroupConfig::default());
        for r in log.clone() {
            assert!(next.replay(r, 100).is_empty());
        }
        let g = next.share_group("g").expect("the group is loaded");
        assert_eq!(g.epoch(), c.share_group("g").map_or(-1, |g| g.epoch()));
        assert_eq!(g.members().count(), 2);
        assert!(g.topics_seen().contains("jobs"));
        // Members go on with the epochs they had: not fenced, not unknown.
        let (r, _) = next.share_heartbeat("g", hb("b", b.member_epoch, None), &jobs, 200);
        assert!(r.is_ok(), "{r:?}");
        let a_epoch = c
            .share_group("g")
            .and_then(|g| {
                g.members()
                    .find(|m| m.member_id == "a")
                    .map(|m| m.member_epoch)
            })
            .unwrap_or(a.member_epoch);
        let (r, _) = next.share_heartbeat("g", hb("a", a_epoch, None), &jobs, 200);
        assert!(r.is_ok(), "{r:?}");

        // Both leave; deleting the group writes tombstones that remove it on load.
        for (m, e) in [("a", a_epoch), ("b", b.member_epoch)] {
            let (r, records) = next.share_heartbeat("g", hb(m, -1, None), &jobs, 300);
            assert!(r.is_ok(), "{m} at {e}: {r:?}");
            log.extend(records);
        }
        let (topics, tombstones) = next
            .delete_share_group("g")
            .expect("a share group")
            .expect("it is empty");
        assert_eq!(topics, vec!["jobs".to_string()]);
        log.extend(tombstones);
        let mut third = GroupCoordinator::new(GroupConfig::default());
        for r in log {
            third.replay(r, 400);
        }
        assert!(third.share_group("g").is_none());
    }
}
