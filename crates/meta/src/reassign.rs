//! Moving partitions between brokers and choosing their leaders, as records: partition
//! reassignment (KIP-455: the replica list grows to the union of old and new, the new
//! replicas catch up and join the ISR, then the list shrinks to the target and the leader
//! moves if it was removed), leader elections (preferred and unclean, KIP-460) and the
//! preferred-leader rebalance (`auto.leader.rebalance.enable`).

use crate::controller::{check_replicas, Controller};
use crate::error::MetaError;
use crate::image::{MetadataImage, PartitionImage};
use crate::records::{MetadataRecord, TopicId};

/// Which leader an election asks for (ElectLeaders' ElectionType).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Election {
    /// The first replica, if it is alive and in sync.
    Preferred,
    /// For a partition without a leader: any live replica, in sync or not.
    Unclean,
}

fn partition<'a>(
    image: &'a MetadataImage,
    topic: &str,
    index: i32,
) -> Result<(TopicId, &'a PartitionImage), MetaError> {
    let t = image
        .topic(topic)
        .ok_or_else(|| MetaError::UnknownTopic(topic.into()))?;
    let p = t
        .partitions
        .get(&index)
        .ok_or_else(|| MetaError::UnknownTopic(format!("{topic}-{index}")))?;
    Ok((t.topic_id, p))
}

fn alive(image: &MetadataImage, node: i32) -> bool {
    image.brokers.get(&node).is_some_and(|b| !b.fenced)
}

/// The partition record of `p` with these replicas, ISR and leader; the leader epoch goes
/// up when the leader changes.
fn record(
    topic_id: TopicId,
    p: &PartitionImage,
    replicas: Vec<i32>,
    isr: Vec<i32>,
    leader: i32,
) -> MetadataRecord {
    MetadataRecord::Partition {
        topic_id,
        partition: p.partition,
        replicas,
        isr,
        leader,
        leader_epoch: if leader == p.leader {
            p.leader_epoch
        } else {
            p.leader_epoch + 1
        },
    }
}

/// Records that settle `p` on `replicas`: the ISR keeps only those, and a leader outside
/// them gives way to the first of them alive and in sync (or none).
fn settle(
    image: &MetadataImage,
    topic_id: TopicId,
    p: &PartitionImage,
    replicas: Vec<i32>,
) -> Vec<MetadataRecord> {
    let mut isr: Vec<i32> = p
        .isr
        .iter()
        .copied()
        .filter(|n| replicas.contains(n))
        .collect();
    let leader = if replicas.contains(&p.leader) {
        p.leader
    } else {
        replicas
            .iter()
            .copied()
            .find(|&n| isr.contains(&n) && alive(image, n))
            .unwrap_or(-1)
    };
    if isr.is_empty() {
        // Keep the last in-sync replica, so that it can lead again (as fencing does).
        isr = p.isr.clone();
    }
    vec![
        record(topic_id, p, replicas, isr, leader),
        MetadataRecord::Reassignment {
            topic_id,
            partition: p.partition,
            moving: None,
        },
    ]
}

impl Controller {
    /// AlterPartitionReassignments for one partition: `Some(target)` starts moving it to
    /// those replicas (replacing a move in progress), `None` cancels the move in progress.
    pub fn reassign(
        &self,
        image: &MetadataImage,
        topic: &str,
        index: i32,
        target: Option<Vec<i32>>,
    ) -> Result<Vec<MetadataRecord>, MetaError> {
        let (topic_id, p) = partition(image, topic, index)?;
        let Some(target) = target else {
            let r = p.reassignment.as_ref().ok_or_else(|| {
                MetaError::NoReassignmentInProgress(format!(
                    "No reassignment is in progress for {topic}-{index}."
                ))
            })?;
            // Kafka's revert: the current list without the replicas the move added, in
            // its current order.
            let adding = r.adding();
            let back = p
                .replicas
                .iter()
                .copied()
                .filter(|n| !adding.contains(n))
                .collect();
            return Ok(settle(image, topic_id, p, back));
        };
        check_replicas(image, &target, &format!("The target of {topic}-{index}"))?;
        let original = p
            .reassignment
            .as_ref()
            .map_or_else(|| p.replicas.clone(), |r| r.original.clone());
        // Target first, then the replicas on their way out.
        let mut replicas = target.clone();
        for &n in p.replicas.iter().chain(&original) {
            if !replicas.contains(&n) {
                replicas.push(n);
            }
        }
        let isr: Vec<i32> = p
            .isr
            .iter()
            .copied()
            .filter(|n| replicas.contains(n))
            .collect();
        let mut out = vec![
            record(topic_id, p, replicas, isr, p.leader),
            MetadataRecord::Reassignment {
                topic_id,
                partition: index,
                moving: Some((original, target)),
            },
        ];
        let mut next = image.clone();
        for r in &out {
            next.apply(r);
        }
        out.extend(self.complete_reassignment(&next, &topic_id, index));
        Ok(out)
    }

    /// Records that finish the move of a partition once every target replica is in sync:
    /// the replica list becomes the target, and a removed leader gives way. Nothing if no
    /// move is in progress or it is not ready.
    pub fn complete_reassignment(
        &self,
        image: &MetadataImage,
        topic_id: &TopicId,
        index: i32,
    ) -> Vec<MetadataRecord> {
        let Some(p) = image
            .topic_by_id(topic_id)
            .and_then(|t| t.partitions.get(&index))
        else {
            return Vec::new();
        };
        match &p.reassignment {
            Some(r) if r.target.iter().all(|n| p.isr.contains(n)) => {
                settle(image, *topic_id, p, r.target.clone())
            }
            _ => Vec::new(),
        }
    }

    /// ElectLeaders for one partition.
    pub fn elect_leader(
        &self,
        image: &MetadataImage,
        topic: &str,
        index: i32,
        election: Election,
    ) -> Result<Vec<MetadataRecord>, MetaError> {
        let (topic_id, p) = partition(image, topic, index)?;
        let name = format!("{topic}-{index}");
        let leader = match election {
            Election::Preferred => {
                let preferred = p.replicas.first().copied().unwrap_or(-1);
                if p.leader == preferred {
                    return Err(MetaError::ElectionNotNeeded(format!(
                        "Leader election not needed for {name}: broker {preferred} leads it."
                    )));
                }
                if !p.isr.contains(&preferred) || !alive(image, preferred) {
                    return Err(MetaError::PreferredLeaderNotAvailable(format!(
                        "Failed to elect leader for {name}: the preferred replica {preferred} is not alive or not in the ISR."
                    )));
                }
                preferred
            }
            Election::Unclean => {
                if p.leader >= 0 {
                    return Err(MetaError::ElectionNotNeeded(format!(
                        "Leader election not needed for {name}: broker {} leads it.",
                        p.leader
                    )));
                }
                let live = |n: &&i32| alive(image, **n);
                let in_sync = p.replicas.iter().filter(|n| p.isr.contains(n)).find(live);
                let any = in_sync.or_else(|| p.replicas.iter().find(live));
                *any.ok_or_else(|| {
                    MetaError::EligibleLeadersNotAvailable(format!(
                        "Failed to elect leader for {name}: no replica is alive."
                    ))
                })?
            }
        };
        let isr = if p.isr.contains(&leader) {
            p.isr.clone()
        } else {
            vec![leader]
        };
        Ok(vec![record(topic_id, p, p.replicas.clone(), isr, leader)])
    }

    /// The preferred-leader rebalance: for each broker that leads fewer than
    /// `100 - imbalance_percent` % of the partitions it is the preferred replica of, the
    /// partitions it can lead (alive, in sync) move back to it.
    pub fn rebalance_leaders(
        &self,
        image: &MetadataImage,
        imbalance_percent: u32,
    ) -> Vec<MetadataRecord> {
        let mut out = Vec::new();
        for &node in image.brokers.keys() {
            let preferred: Vec<(&str, i32, bool)> = image
                .topics
                .values()
                .flat_map(|t| {
                    t.partitions
                        .values()
                        .filter(|p| p.replicas.first() == Some(&node))
                        .map(|p| (t.name.as_str(), p.partition, p.leader == node))
                })
                .collect();
            let not_leading = preferred.iter().filter(|(_, _, leads)| !leads).count();
            if preferred.is_empty()
                || not_leading * 100 <= preferred.len() * imbalance_percent as usize
            {
                continue;
            }
            for (topic, index, leads) in preferred {
                if !leads {
                    if let Ok(recs) = self.elect_leader(image, topic, index, Election::Preferred) {
                        out.extend(recs);
                    }
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controller::CreateTopicSpec;
    use crate::membership::Registration;

    fn cluster(nodes: i32) -> (Controller, MetadataImage) {
        let c = Controller::default();
        let mut img = MetadataImage::default();
        for n in 1..=nodes {
            let r = Registration {
                node_id: n,
                host: "127.0.0.1".into(),
                port: 9000 + n,
                rack: None,
                controller: None,
                listeners: Vec::new(),
                unclean_shutdown: false,
            };
            let recs = c.register_broker(&img, &r);
            apply(&mut img, recs);
        }
        let spec = CreateTopicSpec {
            name: "t".into(),
            num_partitions: -1,
            assignments: vec![(0, vec![1, 2])],
            replication_factor: -1,
            ..Default::default()
        };
        let recs = c.create_topic(&img, &spec, [7; 16]).unwrap();
        apply(&mut img, recs);
        (c, img)
    }

    fn apply(img: &mut MetadataImage, recs: Vec<MetadataRecord>) {
        for r in &recs {
            img.apply(r);
        }
    }

    fn part(img: &MetadataImage) -> PartitionImage {
        img.topic("t").unwrap().partitions[&0].clone()
    }

    #[test]
    fn a_move_grows_the_replicas_then_shrinks_them_once_the_new_ones_are_in_sync() {
        let (c, mut img) = cluster(4);
        let recs = c.reassign(&img, "t", 0, Some(vec![3, 4])).unwrap();
        apply(&mut img, recs);
        let p = part(&img);
        assert_eq!(
            p.replicas,
            vec![3, 4, 1, 2],
            "target first, then the leaving ones"
        );
        assert_eq!(
            p.leader, 1,
            "the leader stays while the new replicas catch up"
        );
        let r = p.reassignment.clone().unwrap();
        assert_eq!((r.adding(), r.removing()), (vec![3, 4], vec![1, 2]));
        // One new replica in sync: not done yet.
        let recs = c.alter_isr(&img, &[7; 16], 0, 1, 0, vec![1, 2, 3]).unwrap();
        apply(&mut img, recs);
        assert!(c.complete_reassignment(&img, &[7; 16], 0).is_empty());
        let recs = c
            .alter_isr(&img, &[7; 16], 0, 1, 0, vec![1, 2, 3, 4])
            .unwrap();
        apply(&mut img, recs);
        let recs = c.complete_reassignment(&img, &[7; 16], 0);
        apply(&mut img, recs);
        let p = part(&img);
        assert_eq!(p.replicas, vec![3, 4]);
        assert_eq!(p.isr, vec![3, 4]);
        assert_eq!(
            (p.leader, p.leader_epoch),
            (3, 1),
            "the removed leader gave way"
        );
        assert!(p.reassignment.is_none());
    }

    #[test]
    fn a_cancelled_move_goes_back_and_bad_moves_are_refused() {
        let (c, mut img) = cluster(3);
        let code = |r: Result<Vec<MetadataRecord>, MetaError>| r.unwrap_err().code();
        assert_eq!(code(c.reassign(&img, "t", 0, None)), 85);
        assert_eq!(code(c.reassign(&img, "t", 0, Some(vec![]))), 39);
        assert_eq!(code(c.reassign(&img, "t", 0, Some(vec![1, 1]))), 39);
        assert_eq!(code(c.reassign(&img, "t", 0, Some(vec![9]))), 39);
        assert_eq!(code(c.reassign(&img, "t", 5, Some(vec![1]))), 3);
        let recs = c.reassign(&img, "t", 0, Some(vec![2, 3])).unwrap();
        apply(&mut img, recs);
        assert_eq!(part(&img).replicas, vec![2, 3, 1]);
        let recs = c.reassign(&img, "t", 0, None).unwrap();
        apply(&mut img, recs);
        let p = part(&img);
        // As Kafka reverts: the merged list [2, 3, 1] without the added 3.
        assert_eq!((p.replicas, p.isr, p.leader), (vec![2, 1], vec![1, 2], 1));
        assert!(p.reassignment.is_none());
        // Dropping a replica that is in sync completes at once.
        let recs = c.reassign(&img, "t", 0, Some(vec![2])).unwrap();
        apply(&mut img, recs);
        let p = part(&img);
        assert_eq!((p.replicas, p.leader, p.leader_epoch), (vec![2], 2, 1));
    }

    #[test]
    fn elections_pick_the_preferred_or_any_live_replica() {
        let (c, mut img) = cluster(3);
        let code = |r: Result<Vec<MetadataRecord>, MetaError>| r.unwrap_err().code();
        assert_eq!(code(c.elect_leader(&img, "t", 0, Election::Preferred)), 84);
        let recs = c.fence_broker(&img, 1);
        apply(&mut img, recs);
        assert_eq!(part(&img).leader, 2);
        assert_eq!(code(c.elect_leader(&img, "t", 0, Election::Preferred)), 80);
        assert_eq!(code(c.elect_leader(&img, "t", 0, Election::Unclean)), 84);
        let recs = c.unfence_broker(&img, 1);
        apply(&mut img, recs);
        // Back, but not in sync yet.
        assert_eq!(code(c.elect_leader(&img, "t", 0, Election::Preferred)), 80);
        let recs = c.alter_isr(&img, &[7; 16], 0, 2, 1, vec![1, 2]).unwrap();
        apply(&mut img, recs);
        assert!(
            c.rebalance_leaders(&img, 10).len() == 1,
            "broker 1 leads none of its one"
        );
        let recs = c.elect_leader(&img, "t", 0, Election::Preferred).unwrap();
        apply(&mut img, recs);
        assert_eq!((part(&img).leader, part(&img).leader_epoch), (1, 2));
        assert!(c.rebalance_leaders(&img, 10).is_empty());
        // Both gone: the last in-sync one is fenced too; unclean election takes what lives.
        let recs = c.fence_broker(&img, 2);
        apply(&mut img, recs);
        let recs = c.fence_broker(&img, 1);
        apply(&mut img, recs);
        assert_eq!(part(&img).leader, -1);
        assert_eq!(code(c.elect_leader(&img, "t", 0, Election::Unclean)), 83);
    }
}
