//! The metadata image: the cluster as the metadata log describes it after its last record.
//!
//! An image is a value: the broker holds it behind an `Arc` and swaps in a new one after
//! applying records to a clone; topics are shared between images through `Arc`.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use crate::records::{MetadataRecord, StoredScram, TopicId};

/// A broker as registered in the metadata log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BrokerImage {
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
    pub listeners: Vec<crate::records::Endpoint>,
    /// Fenced: it stopped heartbeating; it leads nothing and clients are not sent to it.
    pub fenced: bool,
}

impl BrokerImage {
    /// Where clients of the listener `name` reach it: that listener's endpoint, or
    /// `host:port` when it registered none by name; `None` when it lacks that listener.
    pub fn endpoint(&self, name: &str) -> Option<(&str, i32)> {
        if self.listeners.is_empty() {
            return Some((&self.host, self.port));
        }
        self.listeners
            .iter()
            .find(|e| e.name.eq_ignore_ascii_case(name))
            .map(|e| (e.host.as_str(), e.port))
    }
}

/// One partition's assignment and leadership.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionImage {
    /// Partition index.
    pub partition: i32,
    /// Replica broker ids.
    pub replicas: Vec<i32>,
    /// In-sync replicas.
    pub isr: Vec<i32>,
    /// Leader, or -1.
    pub leader: i32,
    /// Leader epoch.
    pub leader_epoch: i32,
    /// A reassignment in progress: the replicas before it and its target. While it runs,
    /// `replicas` holds both.
    pub reassignment: Option<Reassignment>,
}

/// A partition moving from one replica set to another (KIP-455).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reassignment {
    /// The replicas before it began.
    pub original: Vec<i32>,
    /// The replicas it ends with.
    pub target: Vec<i32>,
}

impl Reassignment {
    /// Target replicas not among the original ones.
    pub fn adding(&self) -> Vec<i32> {
        self.target
            .iter()
            .copied()
            .filter(|n| !self.original.contains(n))
            .collect()
    }

    /// Original replicas not among the target ones.
    pub fn removing(&self) -> Vec<i32> {
        self.original
            .iter()
            .copied()
            .filter(|n| !self.target.contains(n))
            .collect()
    }
}

/// A topic: id, partitions and config overrides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicImage {
    /// Topic name.
    pub name: String,
    /// Topic id.
    pub topic_id: TopicId,
    /// Partitions by index, dense from 0.
    pub partitions: BTreeMap<i32, PartitionImage>,
    /// Config overrides (keys absent here take the broker default).
    pub configs: BTreeMap<String, String>,
}

/// The whole cluster view.
#[derive(Debug, Clone, Default)]
pub struct MetadataImage {
    /// Cluster id, once formatted.
    pub cluster_id: Option<String>,
    /// Registered brokers by node id.
    pub brokers: BTreeMap<i32, BrokerImage>,
    /// First producer id never handed out (ids are never reused, even after a restart).
    pub next_producer_id: i64,
    /// Topics by name.
    pub topics: BTreeMap<String, Arc<TopicImage>>,
    /// Dynamic broker configs: by node id, -1 holding the cluster-wide defaults.
    pub broker_configs: BTreeMap<i32, BTreeMap<String, String>>,
    /// Group configs by group id (keys absent take the broker default).
    pub group_configs: BTreeMap<String, BTreeMap<String, String>>,
    /// SCRAM credentials: by user, then by mechanism code.
    pub scram: BTreeMap<String, BTreeMap<i8, StoredScram>>,
    /// ACLs by id.
    pub acls: BTreeMap<[u8; 16], crate::records::AclEntry>,
    /// Bumped on every ACL change, so that authorizers know when to reload.
    pub acl_epoch: u64,
    /// Finalized feature levels that were set (others are at their default).
    pub features: BTreeMap<String, i16>,
    /// The finalized-features epoch: how many feature changes the cluster has made.
    pub features_epoch: i64,
    names_by_id: HashMap<TopicId, String>,
}

impl MetadataImage {
    /// The topic with this name.
    pub fn topic(&self, name: &str) -> Option<&Arc<TopicImage>> {
        self.topics.get(name)
    }

    /// The topic with this id.
    pub fn topic_by_id(&self, id: &TopicId) -> Option<&Arc<TopicImage>> {
        self.names_by_id.get(id).and_then(|n| self.topics.get(n))
    }

    /// Applies one record in place (callers apply to a clone and publish it).
    pub fn apply(&mut self, record: &MetadataRecord) {
        match record {
            MetadataRecord::Cluster { cluster_id } => self.cluster_id = Some(cluster_id.clone()),
            MetadataRecord::RegisterBroker {
                node_id,
                host,
                port,
                rack,
                controller,
                listeners,
            } => {
                let b = BrokerImage {
                    node_id: *node_id,
                    host: host.clone(),
                    port: *port,
                    rack: rack.clone(),
                    controller: controller.clone(),
                    listeners: listeners.clone(),
                    fenced: false,
                };
                self.brokers.insert(*node_id, b);
            }
            MetadataRecord::FenceBroker { node_id } => {
                if let Some(b) = self.brokers.get_mut(node_id) {
                    b.fenced = true;
                }
            }
            MetadataRecord::UnfenceBroker { node_id } => {
                if let Some(b) = self.brokers.get_mut(node_id) {
                    b.fenced = false;
                }
            }
            MetadataRecord::Topic { name, topic_id } => {
                let t = TopicImage {
                    name: name.clone(),
                    topic_id: *topic_id,
                    partitions: BTreeMap::new(),
                    configs: BTreeMap::new(),
                };
                self.names_by_id.insert(*topic_id, name.clone());
                self.topics.insert(name.clone(), Arc::new(t));
            }
            MetadataRecord::Partition {
                topic_id,
                partition,
                replicas,
                isr,
                leader,
                leader_epoch,
            } => {
                if let Some(t) = self.topic_mut(topic_id) {
                    // A reassignment outlives the partition records written while it runs.
                    let reassignment = t
                        .partitions
                        .get(partition)
                        .and_then(|p| p.reassignment.clone());
                    let p = PartitionImage {
                        partition: *partition,
                        replicas: replicas.clone(),
                        isr: isr.clone(),
                        leader: *leader,
                        leader_epoch: *leader_epoch,
                        reassignment,
                    };
                    t.partitions.insert(*partition, p);
                }
            }
            MetadataRecord::Reassignment {
                topic_id,
                partition,
                moving,
            } => {
                if let Some(p) = self
                    .topic_mut(topic_id)
                    .and_then(|t| t.partitions.get_mut(partition))
                {
                    p.reassignment = moving.as_ref().map(|(original, target)| Reassignment {
                        original: original.clone(),
                        target: target.clone(),
                    });
                }
            }
            MetadataRecord::TopicConfig {
                topic_id,
                key,
                value,
            } => {
                if let Some(t) = self.topic_mut(topic_id) {
                    match value {
                        Some(v) => t.configs.insert(key.clone(), v.clone()),
                        None => t.configs.remove(key),
                    };
                }
            }
            MetadataRecord::ProducerIds { next_producer_id } => {
                self.next_producer_id = self.next_producer_id.max(*next_producer_id);
            }
            MetadataRecord::RemoveTopic { topic_id } => {
                if let Some(name) = self.names_by_id.remove(topic_id) {
                    self.topics.remove(&name);
                }
            }
            MetadataRecord::BrokerConfig {
                node_id,
                key,
                value,
            } => {
                let configs = self.broker_configs.entry(*node_id).or_default();
                match value {
                    Some(v) => configs.insert(key.clone(), v.clone()),
                    None => configs.remove(key),
                };
                if configs.is_empty() {
                    self.broker_configs.remove(node_id);
                }
            }
            MetadataRecord::GroupConfig { group, key, value } => {
                let configs = self.group_configs.entry(group.clone()).or_default();
                match value {
                    Some(v) => configs.insert(key.clone(), v.clone()),
                    None => configs.remove(key),
                };
                if configs.is_empty() {
                    self.group_configs.remove(group);
                }
            }
            MetadataRecord::UserScramCredential {
                name,
                mechanism,
                credential,
            } => match credential {
                Some(c) => {
                    self.scram
                        .entry(name.clone())
                        .or_default()
                        .insert(*mechanism, c.clone());
                }
                None => {
                    if let Some(user) = self.scram.get_mut(name) {
                        user.remove(mechanism);
                        if user.is_empty() {
                            self.scram.remove(name);
                        }
                    }
                }
            },
            MetadataRecord::Acl { id, acl } => {
                match acl {
                    Some(a) => self.acls.insert(*id, a.clone()),
                    None => self.acls.remove(id),
                };
                self.acl_epoch += 1;
            }
            MetadataRecord::FeatureLevel { name, level, epoch } => {
                self.features.insert(name.clone(), *level);
                self.features_epoch = self.features_epoch.max(*epoch);
            }
        }
    }

    /// Records that rebuild this image from an empty one (a snapshot of the metadata log).
    pub fn to_records(&self) -> Vec<MetadataRecord> {
        let mut out = Vec::new();
        if let Some(c) = &self.cluster_id {
            out.push(MetadataRecord::Cluster {
                cluster_id: c.clone(),
            });
        }
        for b in self.brokers.values() {
            out.push(MetadataRecord::RegisterBroker {
                node_id: b.node_id,
                host: b.host.clone(),
                port: b.port,
                rack: b.rack.clone(),
                controller: b.controller.clone(),
                listeners: b.listeners.clone(),
            });
            if b.fenced {
                out.push(MetadataRecord::FenceBroker { node_id: b.node_id });
            }
        }
        out.push(MetadataRecord::ProducerIds {
            next_producer_id: self.next_producer_id,
        });
        for t in self.topics.values() {
            out.push(MetadataRecord::Topic {
                name: t.name.clone(),
                topic_id: t.topic_id,
            });
            for p in t.partitions.values() {
                out.push(MetadataRecord::Partition {
                    topic_id: t.topic_id,
                    partition: p.partition,
                    replicas: p.replicas.clone(),
                    isr: p.isr.clone(),
                    leader: p.leader,
                    leader_epoch: p.leader_epoch,
                });
                if let Some(r) = &p.reassignment {
                    out.push(MetadataRecord::Reassignment {
                        topic_id: t.topic_id,
                        partition: p.partition,
                        moving: Some((r.original.clone(), r.target.clone())),
                    });
                }
            }
            for (k, v) in &t.configs {
                out.push(MetadataRecord::TopicConfig {
                    topic_id: t.topic_id,
                    key: k.clone(),
                    value: Some(v.clone()),
                });
            }
        }
        for (node, configs) in &self.broker_configs {
            for (k, v) in configs {
                out.push(MetadataRecord::BrokerConfig {
                    node_id: *node,
                    key: k.clone(),
                    value: Some(v.clone()),
                });
            }
        }
        for (group, configs) in &self.group_configs {
            for (k, v) in configs {
                out.push(MetadataRecord::GroupConfig {
                    group: group.clone(),
                    key: k.clone(),
                    value: Some(v.clone()),
                });
            }
        }
        for (name, creds) in &self.scram {
            for (mechanism, c) in creds {
                out.push(MetadataRecord::UserScramCredential {
                    name: name.clone(),
                    mechanism: *mechanism,
                    credential: Some(c.clone()),
                });
            }
        }
        for (id, acl) in &self.acls {
            out.push(MetadataRecord::Acl {
                id: *id,
                acl: Some(acl.clone()),
            });
        }
        for (name, level) in &self.features {
            out.push(MetadataRecord::FeatureLevel {
                name: name.clone(),
                level: *level,
                epoch: self.features_epoch,
            });
        }
        out
    }

    fn topic_mut(&mut self, id: &TopicId) -> Option<&mut TopicImage> {
        let name = self.names_by_id.get(id)?;
        self.topics.get_mut(name).map(Arc::make_mut)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn applies_topic_partition_config_and_removal() {
        let id = [7u8; 16];
        let mut img = MetadataImage::default();
        img.apply(&MetadataRecord::Topic {
            name: "t".into(),
            topic_id: id,
        });
        img.apply(&MetadataRecord::Partition {
            topic_id: id,
            partition: 0,
            replicas: vec![1],
            isr: vec![1],
            leader: 1,
            leader_epoch: 0,
        });
        img.apply(&MetadataRecord::TopicConfig {
            topic_id: id,
            key: "k".into(),
            value: Some("v".into()),
        });
        let before = img.clone();
        let t = img.topic("t").expect("topic");
        assert_eq!(t.partitions.len(), 1);
        assert_eq!(t.configs.get("k").map(String::as_str), Some("v"));
        assert!(img.topic_by_id(&id).is_some());
        img.apply(&MetadataRecord::RemoveTopic { topic_id: id });
        assert!(img.topic("t").is_none());
        assert!(img.topic_by_id(&id).is_none());
        // The earlier image is untouched: images are values.
        assert!(before.topic("t").is_some());
    }
}
