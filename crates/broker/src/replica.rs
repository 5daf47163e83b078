//! A partition's replication role on this broker, as the metadata image and the fetches
//! of its followers make it: the leader's view of each follower (how far it has fetched
//! and when it was last caught up), the high watermark that follows from the ISR, and
//! which followers should leave or join the ISR. Pure state, no I/O: the broker drives it.

use std::collections::HashMap;

use weir_meta::PartitionImage;

/// What the leader knows of one follower.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Follower {
    /// The follower's log end offset (its last fetch offset); -1 until it fetches.
    pub log_end: i64,
    /// When it was last caught up with the leader's log end (Kafka's lastCaughtUpTimeMs).
    pub caught_up_ms: i64,
    /// The leader's log end at the follower's previous fetch, and that fetch's time.
    prev_leader_end: i64,
    prev_fetch_ms: i64,
}

/// This broker's role for a partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Role {
    /// Leads it at this epoch.
    Leader,
    /// Follows `leader`; `truncate` until it has checked its log against the leader's.
    Follower {
        /// The leader's node id (-1: none now).
        leader: i32,
        /// Whether the log still has to be checked with OffsetForLeaderEpoch.
        truncate: bool,
    },
}

/// The replica set of a partition hosted here.
#[derive(Debug, Clone)]
pub struct ReplicaSet {
    /// This broker.
    pub node: i32,
    /// This broker's role.
    pub role: Role,
    /// The leader epoch of the image.
    pub epoch: i32,
    /// All replicas.
    pub replicas: Vec<i32>,
    /// The ISR the controller committed.
    pub isr: Vec<i32>,
    /// An ISR change sent to the controller and not yet in the image.
    pub pending: Option<Vec<i32>>,
    followers: HashMap<i32, Follower>,
}

impl ReplicaSet {
    /// A partition not yet placed by any image.
    pub fn new(node: i32) -> Self {
        Self {
            node,
            role: Role::Follower {
                leader: -1,
                truncate: true,
            },
            epoch: -1,
            replicas: Vec::new(),
            isr: Vec::new(),
            pending: None,
            followers: HashMap::new(),
        }
    }

    /// Applies the image's state of the partition; true when the role or epoch changed
    /// (a new leader epoch: followers check their logs again, the leader starts afresh).
    pub fn apply(&mut self, p: &PartitionImage, now_ms: i64) -> bool {
        let changed = p.leader_epoch != self.epoch
            || match self.role {
                Role::Leader => p.leader != self.node,
                Role::Follower { leader, .. } => p.leader != leader,
            };
        self.replicas.clone_from(&p.replicas);
        if self.pending.as_ref().is_some_and(|want| same(want, &p.isr)) || changed {
            self.pending = None;
        }
        self.isr.clone_from(&p.isr);
        let fresh = || Follower {
            log_end: -1,
            caught_up_ms: now_ms,
            prev_leader_end: -1,
            prev_fetch_ms: now_ms,
        };
        if !changed {
            if self.role == Role::Leader {
                // A reassignment adds and removes replicas within the epoch.
                let node = self.node;
                self.followers.retain(|n, _| p.replicas.contains(n));
                for &n in p.replicas.iter().filter(|&&n| n != node) {
                    self.followers.entry(n).or_insert_with(fresh);
                }
            }
            return false;
        }
        self.epoch = p.leader_epoch;
        if p.leader == self.node {
            self.role = Role::Leader;
            // As Kafka: every follower starts the new epoch as caught up, and unknown.
            self.followers = p
                .replicas
                .iter()
                .filter(|&&n| n != self.node)
                .map(|&n| (n, fresh()))
                .collect();
        } else {
            self.role = Role::Follower {
                leader: p.leader,
                truncate: true,
            };
            self.followers.clear();
        }
        true
    }

    /// Whether this broker leads the partition.
    pub fn is_leader(&self) -> bool {
        self.role == Role::Leader
    }

    /// Records a follower's fetch from `fetch_offset` while the leader's log ends at
    /// `leader_end`: it is caught up if it fetched from the log end, or from where the
    /// log ended at its previous fetch (then it was caught up at that fetch's time).
    pub fn on_fetch(&mut self, follower: i32, fetch_offset: i64, leader_end: i64, now_ms: i64) {
        let Some(f) = self.followers.get_mut(&follower) else {
            return;
        };
        f.log_end = fetch_offset;
        if fetch_offset >= leader_end {
            f.caught_up_ms = now_ms;
        } else if f.prev_leader_end >= 0 && fetch_offset >= f.prev_leader_end {
            f.caught_up_ms = f.caught_up_ms.max(f.prev_fetch_ms);
        }
        f.prev_leader_end = leader_end;
        f.prev_fetch_ms = now_ms;
    }

    /// The high watermark the ISR allows with the leader's log ending at `leader_end`: the
    /// smallest log end among them (-1 while a member has not fetched yet). The ISR here is
    /// the committed one plus members a pending change adds (Kafka's "maximal ISR": a shrink
    /// counts only once committed).
    pub fn isr_high_watermark(&self, leader_end: i64) -> i64 {
        let added = self
            .pending
            .iter()
            .flatten()
            .filter(|n| !self.isr.contains(n));
        let mut hw = leader_end;
        for &n in self.isr.iter().chain(added) {
            if n == self.node {
                continue;
            }
            match self.followers.get(&n) {
                Some(f) => hw = hw.min(f.log_end),
                None => return -1,
            }
        }
        hw
    }

    /// ISR followers not caught up within `lag_ms`.
    pub fn lagging(&self, now_ms: i64, lag_ms: i64) -> Vec<i32> {
        self.isr
            .iter()
            .copied()
            .filter(|&n| n != self.node)
            .filter(|n| {
                self.followers
                    .get(n)
                    .is_some_and(|f| now_ms - f.caught_up_ms > lag_ms)
            })
            .collect()
    }

    /// Whether `follower`, outside the ISR, has caught up to `high_watermark`.
    pub fn caught_up(&self, follower: i32, high_watermark: i64) -> bool {
        !self.isr.contains(&follower)
            && self
                .followers
                .get(&follower)
                .is_some_and(|f| f.log_end >= high_watermark)
    }

    /// The follower's known log end, if it has fetched.
    pub fn follower(&self, node: i32) -> Option<Follower> {
        self.followers.get(&node).copied()
    }
}

/// Whether two ISRs have the same members.
fn same(a: &[i32], b: &[i32]) -> bool {
    let (mut a, mut b) = (a.to_vec(), b.to_vec());
    a.sort_unstable();
    b.sort_unstable();
    a == b
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(leader: i32, epoch: i32, isr: &[i32]) -> PartitionImage {
        PartitionImage {
            partition: 0,
            replicas: vec![1, 2, 3],
            isr: isr.to_vec(),
            leader,
            leader_epoch: epoch,
            reassignment: None,
        }
    }

    #[test]
    fn the_high_watermark_waits_for_every_isr_member() {
        let mut r = ReplicaSet::new(1);
        assert!(r.apply(&image(1, 0, &[1, 2, 3]), 0));
        assert_eq!(r.isr_high_watermark(10), -1, "followers have not fetched");
        r.on_fetch(2, 10, 10, 1);
        r.on_fetch(3, 4, 10, 1);
        assert_eq!(r.isr_high_watermark(10), 4);
        // 3 leaves the ISR: only 2 counts.
        assert!(!r.apply(&image(1, 0, &[1, 2]), 2));
        assert_eq!(r.isr_high_watermark(12), 10);
        // A pending expansion counts at once.
        r.pending = Some(vec![1, 2, 3]);
        assert_eq!(r.isr_high_watermark(12), 4);
    }

    #[test]
    fn followers_lag_out_and_catch_up_in() {
        let mut r = ReplicaSet::new(1);
        r.apply(&image(1, 0, &[1, 2, 3]), 0);
        r.on_fetch(2, 0, 0, 100);
        r.on_fetch(3, 0, 0, 100);
        // 2 keeps up; 3 fetches behind the log end and never reaches it.
        r.on_fetch(2, 50, 50, 900);
        r.on_fetch(3, 10, 50, 900);
        r.on_fetch(3, 20, 80, 1500);
        assert_eq!(r.lagging(1000, 1000), Vec::<i32>::new());
        assert_eq!(r.lagging(1500, 1000), vec![3], "not caught up since 100");
        r.apply(&image(1, 0, &[1, 2]), 2000);
        // It reaches where the log ended at its previous fetch: caught up as of then.
        r.on_fetch(3, 80, 90, 2100);
        assert!(r.caught_up(3, 80));
        assert!(!r.caught_up(2, 80), "already in the ISR");
        assert_eq!(r.follower(3).map(|f| f.caught_up_ms), Some(1500));
    }

    #[test]
    fn a_new_epoch_resets_the_role() {
        let mut r = ReplicaSet::new(2);
        assert!(r.apply(&image(1, 0, &[1, 2, 3]), 0));
        assert_eq!(
            r.role,
            Role::Follower {
                leader: 1,
                truncate: true
            }
        );
        assert!(!r.apply(&image(1, 0, &[1, 2]), 0), "an ISR change only");
        assert!(r.apply(&image(2, 1, &[2, 3]), 0));
        assert!(r.is_leader());
        assert_eq!(r.isr_high_watermark(7), -1);
    }
}
