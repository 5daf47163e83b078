//! Brokers joining, stopping and coming back, as records: registration, fencing when
//! heartbeats stop (its partitions get another leader from the in-sync replicas, or none),
//! and unfencing when they resume (offline partitions it can lead get it back). Leadership
//! changes bump the partition's leader epoch, as Kafka's controller does.

use crate::controller::Controller;
use crate::error::MetaError;
use crate::image::{MetadataImage, PartitionImage};
use crate::records::MetadataRecord;

/// A broker's registration.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Registration {
    /// Node id.
    pub node_id: i32,
    /// Advertised host.
    pub host: String,
    /// Advertised Kafka port.
    pub port: i32,
    /// Rack, if any.
    pub rack: Option<String>,
    /// Its controller listener, where the quorum reaches it.
    pub controller: Option<String>,
    /// Every Kafka listener it advertises (empty: only `host:port`).
    #[serde(default)]
    pub listeners: Vec<crate::records::Endpoint>,
    /// Whether its last run ended without a clean shutdown (KIP-966): it may lack what it
    /// once held, so it leaves every ISR that has another member until it catches up.
    #[serde(default)]
    pub unclean_shutdown: bool,
}

/// A partition record with a new leader (and the epoch bumped).
fn lead(
    topic_id: crate::records::TopicId,
    p: &PartitionImage,
    leader: i32,
    isr: Vec<i32>,
) -> MetadataRecord {
    MetadataRecord::Partition {
        topic_id,
        partition: p.partition,
        replicas: p.replicas.clone(),
        isr,
        leader,
        leader_epoch: p.leader_epoch + 1,
    }
}

impl Controller {
    /// Records for a broker registering (on every start): the registration if anything
    /// changed or it was fenced, and leadership of the offline partitions it can lead.
    pub fn register_broker(&self, image: &MetadataImage, r: &Registration) -> Vec<MetadataRecord> {
        let same = image.brokers.get(&r.node_id).is_some_and(|b| {
            !b.fenced
                && b.host == r.host
                && b.port == r.port
                && b.rack == r.rack
                && b.controller == r.controller
                && b.listeners == r.listeners
        });
        let mut out = Vec::new();
        if !same {
            out.push(MetadataRecord::RegisterBroker {
                node_id: r.node_id,
                host: r.host.clone(),
                port: r.port,
                rack: r.rack.clone(),
                controller: r.controller.clone(),
                listeners: r.listeners.clone(),
            });
        }
        if r.unclean_shutdown {
            // Offline partitions are judged by the ISRs it has just left.
            let left = self.leave_isrs(image, r.node_id);
            let mut after = image.clone();
            for rec in &left {
                after.apply(rec);
            }
            out.extend(left);
            out.extend(self.elect_offline(&after, r.node_id));
        } else {
            out.extend(self.elect_offline(image, r.node_id));
        }
        out
    }

    /// Records taking `node_id` out of every ISR that has another member (where it leads,
    /// leadership passes to the first other in-sync replica); a partition whose only
    /// in-sync replica it is keeps it, since no replica is known to hold more.
    fn leave_isrs(&self, image: &MetadataImage, node_id: i32) -> Vec<MetadataRecord> {
        let mut out = Vec::new();
        for t in image.topics.values() {
            for p in t.partitions.values() {
                if !p.isr.contains(&node_id) || p.isr.len() < 2 {
                    continue;
                }
                let isr: Vec<i32> = p.isr.iter().copied().filter(|&n| n != node_id).collect();
                if p.leader == node_id {
                    let alive = |n: &i32| image.brokers.get(n).is_some_and(|b| !b.fenced);
                    let in_isr = || p.replicas.iter().copied().filter(|n| isr.contains(n));
                    let next = in_isr()
                        .find(alive)
                        .or_else(|| in_isr().next())
                        .unwrap_or(-1);
                    out.push(lead(t.topic_id, p, next, isr));
                } else {
                    out.push(MetadataRecord::Partition {
                        topic_id: t.topic_id,
                        partition: p.partition,
                        replicas: p.replicas.clone(),
                        isr,
                        leader: p.leader,
                        leader_epoch: p.leader_epoch,
                    });
                }
            }
        }
        out
    }

    /// Records for fencing a broker that stopped heartbeating: it is fenced, each
    /// partition it leads moves to another unfenced in-sync replica (or, where the topic
    /// opts into unclean election, any unfenced replica), or goes offline; it leaves the
    /// ISR of the partitions it follows.
    pub fn fence_broker(&self, image: &MetadataImage, node_id: i32) -> Vec<MetadataRecord> {
        if image.brokers.get(&node_id).is_none_or(|b| b.fenced) {
            return Vec::new();
        }
        let alive = |n: i32| n != node_id && image.brokers.get(&n).is_some_and(|b| !b.fenced);
        let mut out = vec![MetadataRecord::FenceBroker { node_id }];
        for t in image.topics.values() {
            let unclean = t
                .configs
                .get("unclean.leader.election.enable")
                .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"));
            for p in t.partitions.values() {
                if p.leader == node_id {
                    let mut next = p
                        .replicas
                        .iter()
                        .copied()
                        .find(|&n| p.isr.contains(&n) && alive(n))
                        .unwrap_or(-1);
                    let mut isr: Vec<i32> = if next == -1 {
                        // The ISR keeps its last member, so that it can lead again (as
                        // Kafka's does).
                        p.isr.clone()
                    } else {
                        p.isr.iter().copied().filter(|&n| n != node_id).collect()
                    };
                    if next == -1 && unclean {
                        if let Some(n) = p.replicas.iter().copied().find(|&n| alive(n)) {
                            next = n;
                            isr = vec![n];
                        }
                    }
                    out.push(lead(t.topic_id, p, next, isr));
                } else if p.leader >= 0 && p.isr.contains(&node_id) {
                    out.push(MetadataRecord::Partition {
                        topic_id: t.topic_id,
                        partition: p.partition,
                        replicas: p.replicas.clone(),
                        isr: p.isr.iter().copied().filter(|&n| n != node_id).collect(),
                        leader: p.leader,
                        leader_epoch: p.leader_epoch,
                    });
                }
            }
        }
        out
    }

    /// Records for a partition leader's ISR change (AlterPartition): refused unless it
    /// still leads at `leader_epoch`, the ISR holds it and only its replicas, and every
    /// replica it adds is unfenced.
    pub fn alter_isr(
        &self,
        image: &MetadataImage,
        topic_id: &crate::records::TopicId,
        partition: i32,
        leader: i32,
        leader_epoch: i32,
        isr: Vec<i32>,
    ) -> Result<Vec<MetadataRecord>, MetaError> {
        let p = image
            .topic_by_id(topic_id)
            .and_then(|t| t.partitions.get(&partition))
            .ok_or_else(|| MetaError::UnknownTopic(format!("partition {partition}")))?;
        if p.leader != leader || p.leader_epoch != leader_epoch {
            return Err(MetaError::StaleLeader(format!(
                "broker {leader} at epoch {leader_epoch} does not lead partition {partition} (leader {} at epoch {})",
                p.leader, p.leader_epoch
            )));
        }
        let mut isr = isr;
        isr.sort_unstable();
        isr.dedup();
        if !isr.contains(&leader) || isr.iter().any(|n| !p.replicas.contains(n)) {
            return Err(MetaError::InvalidRequest(format!(
                "ISR {isr:?} must hold the leader and only replicas of {:?}",
                p.replicas
            )));
        }
        let fenced = |n: &i32| image.brokers.get(n).is_none_or(|b| b.fenced);
        if let Some(n) = isr.iter().find(|n| !p.isr.contains(n) && fenced(n)) {
            return Err(MetaError::IneligibleReplica(format!(
                "broker {n} is fenced and may not join the ISR"
            )));
        }
        let mut current = p.isr.clone();
        current.sort_unstable();
        if current == isr {
            return Ok(Vec::new());
        }
        Ok(vec![MetadataRecord::Partition {
            topic_id: *topic_id,
            partition,
            replicas: p.replicas.clone(),
            isr,
            leader,
            leader_epoch,
        }])
    }

    /// Records for a fenced broker whose heartbeats resumed.
    pub fn unfence_broker(&self, image: &MetadataImage, node_id: i32) -> Vec<MetadataRecord> {
        if !image.brokers.get(&node_id).is_some_and(|b| b.fenced) {
            return Vec::new();
        }
        let mut out = vec![MetadataRecord::UnfenceBroker { node_id }];
        out.extend(self.elect_offline(image, node_id));
        out
    }

    /// Offline partitions (no leader) that `node_id`, in their ISR, can lead.
    fn elect_offline(&self, image: &MetadataImage, node_id: i32) -> Vec<MetadataRecord> {
        let mut out = Vec::new();
        for t in image.topics.values() {
            for p in t.partitions.values() {
                if p.leader == -1 && p.isr.contains(&node_id) {
                    out.push(lead(t.topic_id, p, node_id, p.isr.clone()));
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

    fn reg(n: i32) -> Registration {
        Registration {
            node_id: n,
            host: "127.0.0.1".into(),
            port: 9000 + n,
            rack: None,
            controller: Some(format!("127.0.0.1:{}", 9100 + n)),
            listeners: Vec::new(),
            unclean_shutdown: false,
        }
    }

    fn apply(img: &mut MetadataImage, recs: Vec<MetadataRecord>) {
        for r in &recs {
            img.apply(r);
        }
    }

    #[test]
    fn an_unclean_restart_leaves_every_shared_isr_until_it_catches_up() {
        let c = Controller::default();
        let mut img = MetadataImage::default();
        for n in 1..=3 {
            let recs = c.register_broker(&img, &reg(n));
            apply(&mut img, recs);
        }
        let spec = |name: &str, rf: i16| CreateTopicSpec {
            name: name.into(),
            num_partitions: 3,
            replication_factor: rf,
            ..Default::default()
        };
        let recs = c.create_topic(&img, &spec("three", 3), [1; 16]).unwrap();
        apply(&mut img, recs);
        let recs = c.create_topic(&img, &spec("one", 1), [2; 16]).unwrap();
        apply(&mut img, recs);
        let before = img.clone();
        // A clean restart changes nothing.
        assert!(c.register_broker(&img, &reg(2)).is_empty());
        let unclean = Registration {
            unclean_shutdown: true,
            ..reg(2)
        };
        let recs = c.register_broker(&img, &unclean);
        apply(&mut img, recs);
        for p in img.topic("three").unwrap().partitions.values() {
            assert_eq!(p.isr.len(), 2, "{p:?}");
            assert!(!p.isr.contains(&2), "broker 2 left the ISR: {p:?}");
            assert_ne!(p.leader, 2, "nor leads: {p:?}");
            let old = &before.topic("three").unwrap().partitions[&p.partition];
            if old.leader == 2 {
                assert!(p.leader_epoch > old.leader_epoch, "new leader, new epoch");
            }
        }
        // Where it is the only in-sync replica, it stays: nobody is known to hold more.
        for p in img.topic("one").unwrap().partitions.values() {
            assert_eq!(
                p.isr,
                before.topic("one").unwrap().partitions[&p.partition].isr
            );
        }
    }

    #[test]
    fn fencing_moves_leaders_and_coming_back_restores_offline_ones() {
        let c = Controller::default();
        let mut img = MetadataImage::default();
        for n in 1..=3 {
            let recs = c.register_broker(&img, &reg(n));
            apply(&mut img, recs);
        }
        assert!(
            c.register_broker(&img, &reg(2)).is_empty(),
            "same registration: nothing"
        );
        let spec = |name: &str, rf: i16| CreateTopicSpec {
            name: name.into(),
            num_partitions: 6,
            replication_factor: rf,
            ..Default::default()
        };
        let recs = c.create_topic(&img, &spec("one", 1), [1; 16]).unwrap();
        apply(&mut img, recs);
        let recs = c.create_topic(&img, &spec("three", 3), [2; 16]).unwrap();
        apply(&mut img, recs);
        let leaders = |img: &MetadataImage, t: &str| -> Vec<i32> {
            img.topic(t)
                .unwrap()
                .partitions
                .values()
                .map(|p| p.leader)
                .collect()
        };
        // Spread evenly: every broker leads two of six.
        for n in 1..=3 {
            assert_eq!(leaders(&img, "one").iter().filter(|&&l| l == n).count(), 2);
        }
        let recs = c.fence_broker(&img, 2);
        apply(&mut img, recs);
        assert!(img.brokers[&2].fenced);
        assert!(
            !leaders(&img, "three").contains(&2),
            "replicated partitions moved"
        );
        let one = img.topic("one").unwrap();
        let offline: Vec<&PartitionImage> =
            one.partitions.values().filter(|p| p.leader == -1).collect();
        assert_eq!(offline.len(), 2, "unreplicated ones went offline");
        assert!(offline
            .iter()
            .all(|p| p.isr == vec![2] && p.leader_epoch == 1));
        // A new topic avoids the fenced broker.
        let recs = c.create_topic(&img, &spec("later", 1), [3; 16]).unwrap();
        apply(&mut img, recs);
        assert!(!leaders(&img, "later").contains(&2));
        assert!(c.fence_broker(&img, 2).is_empty(), "already fenced");
        let recs = c.unfence_broker(&img, 2);
        apply(&mut img, recs);
        assert!(!img.brokers[&2].fenced);
        assert_eq!(leaders(&img, "one").iter().filter(|&&l| l == 2).count(), 2);
        assert!(img
            .topic("one")
            .unwrap()
            .partitions
            .values()
            .all(|p| p.leader != -1));
    }

    #[test]
    fn an_image_rebuilds_from_its_records() {
        let c = Controller::default();
        let mut img = MetadataImage::default();
        let recs = c.register_broker(&img, &reg(1));
        apply(&mut img, recs);
        let recs = c.register_broker(&img, &reg(2));
        apply(&mut img, recs);
        let spec = CreateTopicSpec {
            name: "t".into(),
            num_partitions: 2,
            replication_factor: 2,
            configs: [("retention.ms".to_string(), "5".to_string())].into(),
            ..Default::default()
        };
        let recs = c.create_topic(&img, &spec, [4; 16]).unwrap();
        apply(&mut img, recs);
        let recs = c.fence_broker(&img, 2);
        apply(&mut img, recs);
        let mut back = MetadataImage::default();
        apply(&mut back, img.to_records());
        assert_eq!(back.brokers, img.brokers);
        assert_eq!(back.topics, img.topics);
        assert_eq!(back.next_producer_id, img.next_producer_id);
        assert_eq!(
            back.topic_by_id(&[4; 16]).map(|t| t.name.clone()),
            Some("t".into())
        );
    }

    #[test]
    fn isr_changes_come_only_from_the_current_leader() {
        let c = Controller::default();
        let mut img = MetadataImage::default();
        for n in 1..=3 {
            let recs = c.register_broker(&img, &reg(n));
            apply(&mut img, recs);
        }
        let spec = CreateTopicSpec {
            name: "t".into(),
            num_partitions: 1,
            replication_factor: 3,
            ..Default::default()
        };
        let recs = c.create_topic(&img, &spec, [4; 16]).unwrap();
        apply(&mut img, recs);
        let p = img.topic("t").unwrap().partitions[&0].clone();
        let (leader, epoch) = (p.leader, p.leader_epoch);
        let follower = *p.replicas.iter().find(|&&n| n != leader).unwrap();
        let shrunk: Vec<i32> = p.isr.iter().copied().filter(|&n| n != follower).collect();
        let stale = c.alter_isr(&img, &[4; 16], 0, follower, epoch, shrunk.clone());
        assert_eq!(
            stale.unwrap_err().code(),
            74,
            "only the leader may change it"
        );
        let old = c.alter_isr(&img, &[4; 16], 0, leader, epoch - 1, shrunk.clone());
        assert_eq!(old.unwrap_err().code(), 74, "at its current epoch");
        let recs = c
            .alter_isr(&img, &[4; 16], 0, leader, epoch, shrunk)
            .unwrap();
        apply(&mut img, recs);
        let p = img.topic("t").unwrap().partitions[&0].clone();
        assert!(!p.isr.contains(&follower));
        assert_eq!(
            p.leader_epoch, epoch,
            "an ISR change keeps the leader epoch"
        );
        // A fenced follower may not come back into the ISR; fencing a follower removes it.
        let recs = c.fence_broker(&img, follower);
        apply(&mut img, recs);
        let back: Vec<i32> = vec![1, 2, 3];
        let refused = c.alter_isr(&img, &[4; 16], 0, leader, epoch, back);
        assert_eq!(refused.unwrap_err().code(), 107);
        let other = *p.isr.iter().find(|&&n| n != leader).unwrap();
        let recs = c.fence_broker(&img, other);
        apply(&mut img, recs);
        let p = &img.topic("t").unwrap().partitions[&0];
        assert_eq!((p.leader, p.isr.clone()), (leader, vec![leader]));
    }
}
