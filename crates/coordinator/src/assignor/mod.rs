//! Server-side partition assignors for the KIP-848 consumer protocol: pure functions from
//! members (subscriptions, current assignment) and topic partition counts to a target
//! assignment, after Kafka's `group-coordinator` assignors.
//!
//! - [`uniform`]: [`UniformAssignor`] (`"uniform"`), balanced and sticky.
//! - [`range`]: [`RangeAssignor`] (`"range"`), contiguous ranges, co-partitioned.
//!
//! Like Kafka's current server-side assignors, neither uses racks yet; [`MemberSpec::rack`]
//! is carried for a rack-aware variant.

pub mod range;
pub mod uniform;

use std::collections::{BTreeMap, BTreeSet};

use thiserror::Error;

pub use range::RangeAssignor;
pub use uniform::UniformAssignor;

/// Partitions by topic name.
pub type TopicPartitions = BTreeMap<String, BTreeSet<i32>>;

/// The target assignment: member id to its partitions.
pub type GroupAssignment = BTreeMap<String, TopicPartitions>;

/// What an assignor knows of one member.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MemberSpec {
    /// The member id.
    pub member_id: String,
    /// The member's `group.instance.id`, if static (orders range assignment).
    pub instance_id: Option<String>,
    /// The member's rack (`client.rack`), if any.
    pub rack: Option<String>,
    /// The topics the member subscribes to.
    pub topics: BTreeSet<String>,
    /// The partitions the member currently owns (the stickiness input).
    pub current: TopicPartitions,
}

impl MemberSpec {
    /// A member subscribing to `topics` and owning nothing.
    pub fn new(member_id: impl Into<String>, topics: &[&str]) -> Self {
        MemberSpec {
            member_id: member_id.into(),
            topics: topics.iter().map(|t| t.to_string()).collect(),
            ..MemberSpec::default()
        }
    }

    /// The same member with `current` as its owned partitions.
    pub fn owning(mut self, current: TopicPartitions) -> Self {
        self.current = current;
        self
    }
}

/// Why an assignment could not be computed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum AssignorError {
    /// A member subscribes to a topic the metadata does not have.
    #[error("member {member_id} subscribes to unknown topic {topic}")]
    UnknownTopic {
        /// The member.
        member_id: String,
        /// The topic.
        topic: String,
    },
}

/// A server-side assignor.
pub trait Assignor {
    /// The name members select it by (`group.remote.assignor`).
    fn name(&self) -> &'static str;

    /// Assigns every partition of every subscribed topic to exactly one subscriber.
    /// `partition_counts` maps topic names to their partition counts.
    fn assign(
        &self,
        members: &[MemberSpec],
        partition_counts: &BTreeMap<String, i32>,
    ) -> Result<GroupAssignment, AssignorError>;
}

/// The partition count of every topic some member subscribes to, or the first unknown one.
fn subscribed_counts(
    members: &[MemberSpec],
    partition_counts: &BTreeMap<String, i32>,
) -> Result<BTreeMap<String, i32>, AssignorError> {
    let mut counts = BTreeMap::new();
    for m in members {
        for t in &m.topics {
            let n = partition_counts
                .get(t)
                .ok_or_else(|| AssignorError::UnknownTopic {
                    member_id: m.member_id.clone(),
                    topic: t.clone(),
                })?;
            counts.insert(t.clone(), (*n).max(0));
        }
    }
    Ok(counts)
}

#[cfg(test)]
pub(crate) mod testing {
    //! Checks shared by the assignor tests.

    use super::*;

    /// Partitions `0..n` of `topic`.
    pub(crate) fn tp(topic: &str, partitions: &[i32]) -> TopicPartitions {
        let mut m = TopicPartitions::new();
        m.insert(topic.to_string(), partitions.iter().copied().collect());
        m
    }

    /// Asserts each subscribed partition is owned exactly once, by a subscriber.
    pub(crate) fn assert_complete(
        members: &[MemberSpec],
        counts: &BTreeMap<String, i32>,
        a: &GroupAssignment,
    ) {
        let mut owners: BTreeMap<(String, i32), usize> = BTreeMap::new();
        for m in members {
            for (t, ps) in a.get(&m.member_id).into_iter().flatten() {
                assert!(m.topics.contains(t), "{} got unsubscribed {t}", m.member_id);
                for p in ps {
                    *owners.entry((t.clone(), *p)).or_default() += 1;
                }
            }
        }
        let subscribed: BTreeSet<&String> = members.iter().flat_map(|m| &m.topics).collect();
        for t in subscribed {
            for p in 0..counts[t] {
                assert_eq!(owners.get(&(t.clone(), p)), Some(&1), "{t}-{p}");
            }
        }
    }

    /// The number of partitions each member got, in member order.
    pub(crate) fn sizes(members: &[MemberSpec], a: &GroupAssignment) -> Vec<usize> {
        members
            .iter()
            .map(|m| {
                a.get(&m.member_id)
                    .map_or(0, |tps| tps.values().map(BTreeSet::len).sum())
            })
            .collect()
    }
}
