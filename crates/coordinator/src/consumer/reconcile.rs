//! Moving one member towards its target assignment, after Kafka's `CurrentAssignmentBuilder`.
//! A member first gives up what its target no longer holds (UnrevokedPartitions, epoch
//! unchanged); once it reports having done so, it takes the epoch of the target assignment
//! and the partitions of its target that nobody else still owns; those another member still
//! has to revoke come later (UnreleasedPartitions).

use super::ConsumerGroup;
use crate::assignor::TopicPartitions;

/// Where a member is in reconciling its assignment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemberState {
    /// It owns its target assignment (or as much of it as is free).
    Stable,
    /// It must revoke partitions before it can go on.
    UnrevokedPartitions,
    /// It waits for partitions other members still have to revoke.
    UnreleasedPartitions,
}

impl MemberState {
    /// The name ConsumerGroupDescribe would use.
    pub fn as_str(self) -> &'static str {
        match self {
            MemberState::Stable => "STABLE",
            MemberState::UnrevokedPartitions => "UNREVOKED_PARTITIONS",
            MemberState::UnreleasedPartitions => "UNRELEASED_PARTITIONS",
        }
    }
}

fn contains(set: &TopicPartitions, topic: &str, p: i32) -> bool {
    set.get(topic).is_some_and(|ps| ps.contains(&p))
}

fn insert(set: &mut TopicPartitions, topic: &str, p: i32) {
    set.entry(topic.to_string()).or_default().insert(p);
}

fn pairs(set: &TopicPartitions) -> impl Iterator<Item = (&String, i32)> {
    set.iter()
        .flat_map(|(t, ps)| ps.iter().map(move |p| (t, *p)))
}

impl ConsumerGroup {
    /// Advances `member_id` as far as it can go now; `owned` is what the member reported
    /// owning in this heartbeat, if it did.
    pub(super) fn reconcile(&mut self, member_id: &str, owned: Option<&TopicPartitions>, now: i64) {
        let target_epoch = self.assignment_epoch;
        let target = self.target_of(member_id);
        let Some(mut m) = self.members.get(member_id).cloned() else {
            return;
        };
        match m.state {
            MemberState::UnrevokedPartitions => {
                let done = owned
                    .is_some_and(|o| pairs(&m.pending_revocation).all(|(t, p)| !contains(o, t, p)));
                if !done {
                    return;
                }
                for (t, p) in pairs(&m.pending_revocation) {
                    let key = (t.clone(), p);
                    if self.owners.get(&key).is_some_and(|o| o == member_id) {
                        self.owners.remove(&key);
                    }
                }
                m.pending_revocation.clear();
                m.revocation_deadline = None;
            }
            MemberState::Stable if m.epoch == target_epoch => return,
            MemberState::Stable | MemberState::UnreleasedPartitions => {}
        }
        let mut keep = TopicPartitions::new();
        let mut revoke = TopicPartitions::new();
        for (t, p) in pairs(&m.assigned) {
            if contains(&target, t, p) {
                insert(&mut keep, t, p);
            } else {
                insert(&mut revoke, t, p);
            }
        }
        if !revoke.is_empty() {
            m.assigned = keep;
            m.pending_revocation = revoke;
            m.state = MemberState::UnrevokedPartitions;
            m.revocation_deadline = Some(now.saturating_add(i64::from(m.rebalance_timeout_ms)));
        } else {
            let mut unreleased = false;
            for (t, p) in pairs(&target) {
                if contains(&keep, t, p) {
                    continue;
                }
                let key = (t.clone(), p);
                match self.owners.get(&key) {
                    Some(owner) if owner != member_id => unreleased = true,
                    _ => {
                        self.owners.insert(key, member_id.to_string());
                        insert(&mut keep, t, p);
                    }
                }
            }
            m.assigned = keep;
            if m.epoch != target_epoch {
                m.previous_epoch = m.epoch;
                m.epoch = target_epoch;
            }
            m.state = if unreleased {
                MemberState::UnreleasedPartitions
            } else {
                MemberState::Stable
            };
        }
        self.members.insert(member_id.to_string(), m);
    }
}
