//! The uniform assignor (Kafka's server-side `UniformAssignor`): balance first (member
//! partition counts differ by at most one when subscriptions allow), then stickiness (a
//! member keeps what it owns unless balance needs it elsewhere).
//!
//! When every member subscribes to the same topics, quotas are computed up front and members
//! that own the most keep the larger quotas. Otherwise owned partitions of still-subscribed
//! topics are kept, free partitions go to the least loaded subscriber, and partitions then
//! move along chains of subscribers from the most to the least loaded members until no chain
//! helps (Kafka moves within one topic at a time; chains also balance overlapping
//! subscriptions such as `{a}`, `{a,b}`, `{b,c}`, `{c}`).

use std::collections::BTreeMap;

use super::{
    subscribed_counts, Assignor, AssignorError, GroupAssignment, MemberSpec, TopicPartitions,
};

/// The `"uniform"` assignor.
#[derive(Debug, Clone, Copy, Default)]
pub struct UniformAssignor;

/// The owner (a member index) of each partition of each subscribed topic.
type Owners = BTreeMap<String, Vec<Option<usize>>>;

impl Assignor for UniformAssignor {
    fn name(&self) -> &'static str {
        "uniform"
    }

    fn assign(
        &self,
        members: &[MemberSpec],
        partition_counts: &BTreeMap<String, i32>,
    ) -> Result<GroupAssignment, AssignorError> {
        let counts = subscribed_counts(members, partition_counts)?;
        let mut sorted: Vec<&MemberSpec> = members.iter().collect();
        sorted.sort_by(|a, b| a.member_id.cmp(&b.member_id));
        let mut owners: Owners = counts
            .iter()
            .map(|(t, n)| (t.clone(), vec![None; usize::try_from(*n).unwrap_or(0)]))
            .collect();
        let homogeneous = sorted.windows(2).all(|w| w[0].topics == w[1].topics);
        if homogeneous {
            assign_homogeneous(&sorted, &mut owners);
        } else {
            assign_heterogeneous(&sorted, &mut owners);
        }
        Ok(to_assignment(&sorted, &owners))
    }
}

/// The partitions each member owns that are still valid (subscribed, existing, not claimed
/// by an earlier member), in topic then partition order.
fn retained(members: &[&MemberSpec], owners: &Owners) -> Vec<Vec<(String, usize)>> {
    let mut claimed: Owners = owners.clone();
    members
        .iter()
        .enumerate()
        .map(|(i, m)| {
            let mut kept = Vec::new();
            for (topic, partitions) in &m.current {
                let Some(slots) = claimed.get_mut(topic).filter(|_| m.topics.contains(topic))
                else {
                    continue;
                };
                for p in partitions {
                    let Ok(p) = usize::try_from(*p) else { continue };
                    if let Some(slot @ None) = slots.get_mut(p) {
                        *slot = Some(i);
                        kept.push((topic.clone(), p));
                    }
                }
            }
            kept
        })
        .collect()
}

fn assign_homogeneous(members: &[&MemberSpec], owners: &mut Owners) {
    let n = members.len();
    if n == 0 {
        return;
    }
    let total: usize = owners.values().map(Vec::len).sum();
    let kept = retained(members, owners);
    // Members owning the most get the extra partitions, so fewer partitions move.
    let mut by_ownership: Vec<usize> = (0..n).collect();
    by_ownership.sort_by(|a, b| kept[*b].len().cmp(&kept[*a].len()).then(a.cmp(b)));
    let mut quota = vec![total / n; n];
    for i in by_ownership.into_iter().take(total % n) {
        quota[i] += 1;
    }
    let mut load = vec![0usize; n];
    for (i, partitions) in kept.iter().enumerate() {
        for (topic, p) in partitions.iter().take(quota[i]) {
            if let Some(slot) = owners.get_mut(topic).and_then(|s| s.get_mut(*p)) {
                *slot = Some(i);
                load[i] += 1;
            }
        }
    }
    let mut next = 0;
    for slots in owners.values_mut() {
        for slot in slots.iter_mut().filter(|s| s.is_none()) {
            while next < n && load[next] >= quota[next] {
                next += 1;
            }
            if next == n {
                return;
            }
            *slot = Some(next);
            load[next] += 1;
        }
    }
}

fn assign_heterogeneous(members: &[&MemberSpec], owners: &mut Owners) {
    let kept = retained(members, owners);
    let mut load = vec![0usize; members.len()];
    for (i, partitions) in kept.iter().enumerate() {
        for (topic, p) in partitions {
            if let Some(slot) = owners.get_mut(topic).and_then(|s| s.get_mut(*p)) {
                *slot = Some(i);
                load[i] += 1;
            }
        }
    }
    let subscribers: BTreeMap<String, Vec<usize>> = owners
        .keys()
        .map(|t| {
            let subs = (0..members.len())
                .filter(|i| members[*i].topics.contains(t))
                .collect();
            (t.clone(), subs)
        })
        .collect();
    // Most partitions per subscriber first: the hardest topics to balance go first.
    let mut topics: Vec<&String> = subscribers.keys().collect();
    topics.sort_by(|a, b| {
        let (pa, sa) = (owners[*a].len(), subscribers[*a].len().max(1));
        let (pb, sb) = (owners[*b].len(), subscribers[*b].len().max(1));
        (pb * sa).cmp(&(pa * sb)).then(sa.cmp(&sb)).then(a.cmp(b))
    });
    let least_loaded = |subs: &[usize], load: &[usize]| {
        subs.iter()
            .copied()
            .min_by(|a, b| load[*a].cmp(&load[*b]).then(a.cmp(b)))
    };
    for topic in &topics {
        let subs = &subscribers[*topic];
        let Some(slots) = owners.get_mut(*topic) else {
            continue;
        };
        for slot in slots.iter_mut().filter(|s| s.is_none()) {
            if let Some(i) = least_loaded(subs, &load) {
                *slot = Some(i);
                load[i] += 1;
            }
        }
    }
    balance(members, owners, &mut load);
}

/// Moves partitions along chains of subscribers until no member can pass one (directly or
/// through others) to a member with at least two fewer. Each chain moves one partition per
/// hop, shortest chains first, and lowers the sum of squared loads, so this ends.
fn balance(members: &[&MemberSpec], owners: &mut Owners, load: &mut [usize]) {
    let n = members.len();
    let mut lows: Vec<usize> = (0..n).filter(|i| !members[*i].topics.is_empty()).collect();
    'improve: loop {
        lows.sort_by(|a, b| load[*a].cmp(&load[*b]).then(a.cmp(b)));
        for &low in &lows {
            // giver[u] = (v, topic, partition): u can hand that partition to v on a path to `low`.
            let mut giver: Vec<Option<(usize, String, usize)>> = vec![None; n];
            let mut seen = vec![false; n];
            seen[low] = true;
            let mut queue = std::collections::VecDeque::from([low]);
            let mut best: Option<usize> = None;
            while let Some(v) = queue.pop_front() {
                let heavier = match best {
                    Some(b) => load[v] > load[b],
                    None => true,
                };
                if load[v] >= load[low] + 2 && heavier {
                    best = Some(v);
                }
                for topic in &members[v].topics {
                    let Some(slots) = owners.get(topic) else {
                        continue;
                    };
                    for (p, owner) in slots.iter().enumerate() {
                        if let Some(u) = owner.filter(|u| !seen[*u]) {
                            seen[u] = true;
                            giver[u] = Some((v, topic.clone(), p));
                            queue.push_back(u);
                        }
                    }
                }
            }
            let Some(high) = best else { continue };
            let mut u = high;
            while let Some((v, topic, p)) = giver[u].take() {
                if let Some(slot) = owners.get_mut(&topic).and_then(|s| s.get_mut(p)) {
                    *slot = Some(v);
                }
                u = v;
            }
            load[high] -= 1;
            load[low] += 1;
            continue 'improve;
        }
        break;
    }
}

fn to_assignment(members: &[&MemberSpec], owners: &Owners) -> GroupAssignment {
    let mut out: GroupAssignment = members
        .iter()
        .map(|m| (m.member_id.clone(), TopicPartitions::new()))
        .collect();
    for (topic, slots) in owners {
        for (p, owner) in slots.iter().enumerate() {
            let (Some(i), Ok(p)) = (owner, i32::try_from(p)) else {
                continue;
            };
            if let Some(assigned) = members.get(*i).and_then(|m| out.get_mut(&m.member_id)) {
                assigned.entry(topic.clone()).or_default().insert(p);
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::testing::{assert_complete, sizes, tp};
    use super::*;

    fn counts(topics: &[(&str, i32)]) -> BTreeMap<String, i32> {
        topics.iter().map(|(t, n)| (t.to_string(), *n)).collect()
    }

    fn spread(s: &[usize]) -> usize {
        s.iter().max().unwrap_or(&0) - s.iter().min().unwrap_or(&0)
    }

    /// Partitions that moved away from a member present in both assignments.
    fn moves(before: &GroupAssignment, after: &GroupAssignment) -> usize {
        let owned = |a: &GroupAssignment| -> BTreeMap<(String, i32), String> {
            a.iter()
                .flat_map(|(m, tps)| {
                    tps.iter().flat_map(move |(t, ps)| {
                        ps.iter().map(move |p| ((t.clone(), *p), m.clone()))
                    })
                })
                .collect()
        };
        let (b, a) = (owned(before), owned(after));
        b.iter()
            .filter(|(k, m)| after.contains_key(*m) && a.get(*k).is_some_and(|n| n != *m))
            .count()
    }

    fn with_current(members: &[MemberSpec], a: &GroupAssignment) -> Vec<MemberSpec> {
        members
            .iter()
            .map(|m| {
                m.clone()
                    .owning(a.get(&m.member_id).cloned().unwrap_or_default())
            })
            .collect()
    }

    #[test]
    fn homogeneous_groups_are_balanced_within_one() {
        for (n_members, partitions) in [(1, 5), (3, 7), (4, 4), (5, 3), (3, 0)] {
            let members: Vec<MemberSpec> = (0..n_members)
                .map(|i| MemberSpec::new(format!("m{i}"), &["a", "b"]))
                .collect();
            let c = counts(&[("a", partitions), ("b", partitions + 1)]);
            let a = UniformAssignor.assign(&members, &c).unwrap_or_default();
            assert_complete(&members, &c, &a);
            assert!(
                spread(&sizes(&members, &a)) <= 1,
                "{n_members} members, {partitions}"
            );
        }
    }

    #[test]
    fn a_new_member_takes_only_what_balance_requires() {
        let c = counts(&[("t", 12)]);
        let three: Vec<MemberSpec> = (0..3)
            .map(|i| MemberSpec::new(format!("m{i}"), &["t"]))
            .collect();
        let before = UniformAssignor.assign(&three, &c).unwrap_or_default();
        let mut four = with_current(&three, &before);
        four.push(MemberSpec::new("m3", &["t"]));
        let after = UniformAssignor.assign(&four, &c).unwrap_or_default();
        assert_complete(&four, &c, &after);
        assert_eq!(sizes(&four, &after), [3, 3, 3, 3]);
        assert_eq!(
            moves(&before, &after),
            3,
            "exactly the newcomer's share moves"
        );
    }

    #[test]
    fn a_departed_members_partitions_are_spread_and_the_rest_stay() {
        let c = counts(&[("t", 9)]);
        let three: Vec<MemberSpec> = (0..3)
            .map(|i| MemberSpec::new(format!("m{i}"), &["t"]))
            .collect();
        let before = UniformAssignor.assign(&three, &c).unwrap_or_default();
        let two = with_current(&three[..2], &before);
        let after = UniformAssignor.assign(&two, &c).unwrap_or_default();
        assert_complete(&two, &c, &after);
        assert!(spread(&sizes(&two, &after)) <= 1);
        assert_eq!(
            moves(&before, &after),
            0,
            "survivors keep everything they had"
        );
    }

    #[test]
    fn a_stable_assignment_is_kept_as_is() {
        let members = [
            MemberSpec::new("x", &["t"]).owning(tp("t", &[0, 3])),
            MemberSpec::new("y", &["t"]).owning(tp("t", &[1, 2])),
        ];
        let c = counts(&[("t", 4)]);
        let a = UniformAssignor.assign(&members, &c).unwrap_or_default();
        assert_eq!(a["x"], tp("t", &[0, 3]));
        assert_eq!(a["y"], tp("t", &[1, 2]));
    }

    #[test]
    fn invalid_ownership_is_dropped() {
        // Claims on an unsubscribed topic, a partition past the end, and a double claim.
        let members = [
            MemberSpec::new("x", &["t"]).owning({
                let mut m = tp("t", &[0, 1, 9]);
                m.extend(tp("gone", &[0]));
                m
            }),
            MemberSpec::new("y", &["t"]).owning(tp("t", &[0])),
        ];
        let c = counts(&[("t", 2), ("gone", 1)]);
        let a = UniformAssignor.assign(&members, &c).unwrap_or_default();
        assert_complete(&members, &c, &a);
        assert_eq!(sizes(&members, &a), [1, 1]);
    }

    #[test]
    fn heterogeneous_subscriptions_balance_where_they_can() {
        let members = [
            MemberSpec::new("m0", &["a"]),
            MemberSpec::new("m1", &["a", "b"]),
            MemberSpec::new("m2", &["b", "c"]),
            MemberSpec::new("m3", &["c"]),
        ];
        let c = counts(&[("a", 6), ("b", 2), ("c", 4)]);
        let a = UniformAssignor.assign(&members, &c).unwrap_or_default();
        assert_complete(&members, &c, &a);
        assert_eq!(sizes(&members, &a), [3, 3, 3, 3]);
    }

    #[test]
    fn heterogeneous_rebalance_is_sticky() {
        let members = [
            MemberSpec::new("m0", &["a", "b"]),
            MemberSpec::new("m1", &["a", "b"]),
            MemberSpec::new("m2", &["b"]),
        ];
        let c = counts(&[("a", 6), ("b", 6)]);
        let before = UniformAssignor.assign(&members, &c).unwrap_or_default();
        assert!(spread(&sizes(&members, &before)) <= 1);
        let mut next = with_current(&members, &before);
        next.push(MemberSpec::new("m3", &["a"]));
        let after = UniformAssignor.assign(&next, &c).unwrap_or_default();
        assert_complete(&next, &c, &after);
        assert_eq!(sizes(&next, &after), [3, 3, 3, 3]);
        // m2 (only on b) must shed one b to m0 or m1, which give three a to m3: four moves
        // is the least any balanced assignment needs.
        assert_eq!(moves(&before, &after), 4);
    }

    #[test]
    fn unknown_topics_are_an_error() {
        let members = [MemberSpec::new("m0", &["t"]), MemberSpec::new("m1", &["u"])];
        let got = UniformAssignor.assign(&members, &counts(&[("t", 1)]));
        assert_eq!(
            got,
            Err(AssignorError::UnknownTopic {
                member_id: "m1".into(),
                topic: "u".into()
            })
        );
        assert_eq!(UniformAssignor.name(), "uniform");
    }
}
