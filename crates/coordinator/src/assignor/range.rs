//! The range assignor (Kafka's server-side `RangeAssignor`): each topic's partitions are cut
//! into contiguous ranges, one per subscriber in a fixed member order, the first
//! `partitions % subscribers` ranges one longer. When every member subscribes to the same
//! equally partitioned topics, member *i* gets the same partition numbers of every topic
//! (co-partitioning, for joins).

use std::collections::{BTreeMap, BTreeSet};

use super::{subscribed_counts, Assignor, AssignorError, GroupAssignment, MemberSpec};

/// The `"range"` assignor.
#[derive(Debug, Clone, Copy, Default)]
pub struct RangeAssignor;

/// Members in range order: static members by instance id first (so a rolling restart keeps
/// their ranges), then dynamic members by member id.
fn range_order(members: &[MemberSpec]) -> Vec<&MemberSpec> {
    let mut sorted: Vec<&MemberSpec> = members.iter().collect();
    sorted.sort_by(|a, b| match (&a.instance_id, &b.instance_id) {
        (Some(x), Some(y)) => x.cmp(y),
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => a.member_id.cmp(&b.member_id),
    });
    sorted
}

/// Where the next range of a topic starts and how many longer ranges remain.
struct TopicCursor {
    partitions: i32,
    min_quota: i32,
    extra: i32,
    next: i32,
}

impl Assignor for RangeAssignor {
    fn name(&self) -> &'static str {
        "range"
    }

    fn assign(
        &self,
        members: &[MemberSpec],
        partition_counts: &BTreeMap<String, i32>,
    ) -> Result<GroupAssignment, AssignorError> {
        let counts = subscribed_counts(members, partition_counts)?;
        let mut cursors: BTreeMap<&str, TopicCursor> = BTreeMap::new();
        for (topic, partitions) in &counts {
            let subscribers = members.iter().filter(|m| m.topics.contains(topic)).count();
            let subscribers = i32::try_from(subscribers).unwrap_or(i32::MAX).max(1);
            cursors.insert(
                topic,
                TopicCursor {
                    partitions: *partitions,
                    min_quota: partitions / subscribers,
                    extra: partitions % subscribers,
                    next: 0,
                },
            );
        }
        let mut out = GroupAssignment::new();
        for m in range_order(members) {
            let assigned = out.entry(m.member_id.clone()).or_default();
            for topic in &m.topics {
                let Some(c) = cursors.get_mut(topic.as_str()) else {
                    continue;
                };
                let mut quota = c.min_quota;
                if c.extra > 0 {
                    quota += 1;
                    c.extra -= 1;
                }
                let start = c.next;
                let end = (start + quota).min(c.partitions);
                c.next = end;
                if start < end {
                    assigned.insert(topic.clone(), (start..end).collect::<BTreeSet<i32>>());
                }
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{assert_complete, sizes};
    use super::*;

    fn counts(topics: &[(&str, i32)]) -> BTreeMap<String, i32> {
        topics.iter().map(|(t, n)| (t.to_string(), *n)).collect()
    }

    fn partitions(a: &GroupAssignment, member: &str, topic: &str) -> Vec<i32> {
        a.get(member)
            .and_then(|tps| tps.get(topic))
            .map(|ps| ps.iter().copied().collect())
            .unwrap_or_default()
    }

    #[test]
    fn co_partitions_equal_topics() {
        let members = [
            MemberSpec::new("m0", &["t1", "t2"]),
            MemberSpec::new("m1", &["t1", "t2"]),
        ];
        let c = counts(&[("t1", 3), ("t2", 3)]);
        let a = RangeAssignor.assign(&members, &c).unwrap_or_default();
        assert_complete(&members, &c, &a);
        assert_eq!(partitions(&a, "m0", "t1"), [0, 1]);
        assert_eq!(partitions(&a, "m0", "t2"), [0, 1]);
        assert_eq!(partitions(&a, "m1", "t1"), [2]);
        assert_eq!(partitions(&a, "m1", "t2"), [2]);
    }

    #[test]
    fn static_members_keep_their_ranges_across_new_member_ids() {
        let spec = |id: &str, instance: &str| MemberSpec {
            instance_id: Some(instance.into()),
            ..MemberSpec::new(id, &["t"])
        };
        let c = counts(&[("t", 4)]);
        let before = RangeAssignor
            .assign(&[spec("a", "i0"), spec("b", "i1")], &c)
            .unwrap_or_default();
        // After a rolling restart the member ids sort the other way round.
        let after = RangeAssignor
            .assign(&[spec("z", "i0"), spec("c", "i1")], &c)
            .unwrap_or_default();
        assert_eq!(partitions(&before, "a", "t"), partitions(&after, "z", "t"));
        assert_eq!(partitions(&before, "b", "t"), partitions(&after, "c", "t"));
    }

    #[test]
    fn heterogeneous_subscriptions_split_each_topic_among_its_subscribers() {
        let members = [
            MemberSpec::new("m0", &["t1"]),
            MemberSpec::new("m1", &["t1", "t2"]),
            MemberSpec::new("m2", &["t2"]),
        ];
        let c = counts(&[("t1", 5), ("t2", 2)]);
        let a = RangeAssignor.assign(&members, &c).unwrap_or_default();
        assert_complete(&members, &c, &a);
        assert_eq!(partitions(&a, "m0", "t1"), [0, 1, 2]);
        assert_eq!(partitions(&a, "m1", "t1"), [3, 4]);
        assert_eq!(partitions(&a, "m1", "t2"), [0]);
        assert_eq!(partitions(&a, "m2", "t2"), [1]);
    }

    #[test]
    fn more_members_than_partitions_leaves_some_empty() {
        let members: Vec<MemberSpec> = (0..4)
            .map(|i| MemberSpec::new(format!("m{i}"), &["t"]))
            .collect();
        let c = counts(&[("t", 2)]);
        let a = RangeAssignor.assign(&members, &c).unwrap_or_default();
        assert_complete(&members, &c, &a);
        assert_eq!(sizes(&members, &a), [1, 1, 0, 0]);
    }

    #[test]
    fn unknown_topics_are_an_error() {
        let members = [MemberSpec::new("m0", &["nope"])];
        assert!(matches!(
            RangeAssignor.assign(&members, &BTreeMap::new()),
            Err(AssignorError::UnknownTopic { .. })
        ));
        assert_eq!(
            RangeAssignor.assign(&[], &BTreeMap::new()),
            Ok(GroupAssignment::new())
        );
        assert_eq!(RangeAssignor.name(), "range");
    }
}
