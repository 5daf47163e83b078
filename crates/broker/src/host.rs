//! What this node knows and hosts: the metadata image it has applied, its part of the
//! metadata quorum, the partitions it holds and its connections to the other brokers.
//! Everything above (replication, the coordinators, the handlers) reaches the node through
//! [`Host`]; `cluster` joins the quorum and hands admin changes to the controller, and
//! `reconcile` publishes each image the quorum applies and brings the local partitions in
//! line with it.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{SystemTime, UNIX_EPOCH};

use tokio::sync::{Mutex, Notify};
use tracing::warn;
use weir_meta::quorum::MetaNode;
use weir_meta::{Controller, MetadataImage, MetadataRecord, TopicId, TopicImage};
use weir_protocol::error::ErrorCode;

use crate::config::BrokerConfig;
use crate::group_commit::GroupCommit;
use crate::locks;
use crate::metrics::Metrics;
use crate::partition::Partition;
use crate::peers::Peers;

/// Whose configs an AlterConfigs changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigTarget {
    /// A topic's overrides.
    Topic(String),
    /// A broker's dynamic configs; -1 is the cluster-wide default.
    Broker(i32),
    /// A group's configs.
    Group(String),
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// The node's shared core: settings, the applied image, the hosted partitions, the quorum.
pub struct Host {
    /// Settings.
    pub config: BrokerConfig,
    /// Host and port of the inter-broker listener, advertised to clients and brokers.
    pub advertised: (String, i32),
    /// Every Kafka listener's advertised endpoint, by name.
    pub endpoints: Vec<weir_meta::records::Endpoint>,
    /// The authorizer over the image's ACLs.
    pub authz: crate::authz::Authz,
    /// Woken on every append, for long-polling fetches.
    pub data_notify: Notify,
    /// Group commit for acks=all.
    pub group_commit: GroupCommit,
    /// The broker's instruments.
    pub metrics: Arc<Metrics>,
    /// Set once shutdown begins: background work stops instead of retrying.
    stopping: AtomicBool,
    /// Validates requests locally (validate_only previews); the quorum's leader decides.
    pub(crate) controller: Controller,
    pub(crate) image: RwLock<Arc<MetadataImage>>,
    /// This node's part of the metadata quorum.
    pub(crate) meta: Arc<MetaNode>,
    /// Entries applied in the published image; its lock orders publishing.
    pub(crate) published_upto: Mutex<u64>,
    pub(crate) partitions: RwLock<HashMap<(TopicId, i32), Arc<Partition>>>,
    /// Producer ids of the current block: (next to hand out, end of block).
    pub(crate) producer_ids: Mutex<(i64, i64)>,
    /// Connections to the other brokers.
    pub(crate) peers: Peers,
    /// Woken when partitions change role: replica fetchers start or stop.
    pub(crate) replication_changed: Arc<Notify>,
    /// Woken when an image is published: coordinators load or resign.
    pub(crate) coordinators_changed: Arc<Notify>,
    /// Set at start when the last run did not shut down cleanly; cleared once this broker
    /// has registered so (it then leaves the ISRs until it catches up, KIP-966).
    pub(crate) unclean_start: AtomicBool,
}

impl Host {
    /// A broker around a started quorum node, with nothing published yet.
    pub(crate) fn new(
        config: BrokerConfig,
        advertised: (String, i32),
        endpoints: Vec<weir_meta::records::Endpoint>,
        peers: crate::peers::PeerSecurity,
        meta: Arc<MetaNode>,
    ) -> Self {
        let controller = Controller {
            default_partitions: config.num_partitions,
            default_replication_factor: config.default_replication_factor,
        };
        let authz = crate::authz::Authz::new(config.authorizer.clone());
        let metrics = Arc::new(Metrics::new(
            config.metrics_enable,
            config.metrics_partition_series_limit,
        ));
        Self {
            config,
            advertised,
            endpoints,
            authz,
            data_notify: Notify::new(),
            group_commit: GroupCommit::start(metrics.clone()),
            metrics,
            stopping: AtomicBool::new(false),
            controller,
            image: RwLock::new(Arc::new(MetadataImage::default())),
            meta,
            published_upto: Mutex::new(0),
            partitions: RwLock::new(HashMap::new()),
            producer_ids: Mutex::new((0, 0)),
            peers: Peers::new(peers),
            replication_changed: Arc::new(Notify::new()),
            coordinators_changed: Arc::new(Notify::new()),
            unclean_start: AtomicBool::new(false),
        }
    }

    /// The current metadata image.
    pub fn image(&self) -> Arc<MetadataImage> {
        locks::read(&self.image).clone()
    }

    /// The local partition `index` of topic `name`, if this node hosts it.
    pub fn partition(&self, name: &str, index: i32) -> Option<Arc<Partition>> {
        let id = self.image().topic(name)?.topic_id;
        self.partition_by_id(&id, index)
    }

    /// The local partition `index` of the topic with this id.
    pub fn partition_by_id(&self, id: &TopicId, index: i32) -> Option<Arc<Partition>> {
        locks::read(&self.partitions).get(&(*id, index)).cloned()
    }

    /// Partition `index` of topic `name` if this node leads it; else Kafka's error for a
    /// client that asked the wrong broker (or for a partition that does not exist).
    pub fn leader(&self, name: &str, index: i32) -> Result<Arc<Partition>, ErrorCode> {
        let image = self.image();
        let topic = image
            .topic(name)
            .ok_or(ErrorCode::UnknownTopicOrPartition)?;
        self.lead(topic, index)
    }

    /// As [`Host::leader`], for a topic named by id.
    pub fn leader_by_id(&self, id: &TopicId, index: i32) -> Result<Arc<Partition>, ErrorCode> {
        let image = self.image();
        let topic = image.topic_by_id(id).ok_or(ErrorCode::UnknownTopicId)?;
        self.lead(topic, index)
    }

    /// As [`Host::leader`], for a topic the caller already found in the image.
    pub(crate) fn lead(&self, topic: &TopicImage, index: i32) -> Result<Arc<Partition>, ErrorCode> {
        let p = topic
            .partitions
            .get(&index)
            .ok_or(ErrorCode::UnknownTopicOrPartition)?;
        if p.leader != self.config.node_id {
            return Err(if p.leader < 0 {
                ErrorCode::LeaderNotAvailable
            } else {
                ErrorCode::NotLeaderOrFollower
            });
        }
        self.partition_by_id(&topic.topic_id, index)
            .ok_or(ErrorCode::NotLeaderOrFollower)
    }

    /// Whether this node leads partition `index` of `topic`.
    pub fn leads(&self, topic: &str, index: i32) -> bool {
        self.image()
            .topic(topic)
            .and_then(|t| t.partitions.get(&index).map(|p| p.leader))
            == Some(self.config.node_id)
    }

    /// Every partition hosted here.
    pub fn partitions(&self) -> Vec<Arc<Partition>> {
        locks::read(&self.partitions).values().cloned().collect()
    }

    /// The active controller's node id, if one is known.
    pub async fn controller_id(&self) -> Option<i32> {
        self.meta.leader().await
    }

    /// Whether shutdown has begun.
    pub fn is_stopping(&self) -> bool {
        self.stopping.load(Ordering::Acquire)
    }

    /// Hands leadership away (controlled shutdown), flushes and closes every log and stops
    /// the quorum; used on shutdown.
    pub async fn shutdown(&self) {
        self.stopping.store(true, Ordering::Release);
        self.controlled_shutdown().await;
        let mut clean = true;
        let parts: Vec<Arc<Partition>> = locks::write(&self.partitions)
            .drain()
            .map(|(_, p)| p)
            .collect();
        for p in parts {
            if let Err(e) = p.log_mut().flush() {
                warn!(topic = %p.topic, partition = p.index, error = %e, "flush on shutdown failed");
                clean = false;
            }
        }
        self.meta.shutdown().await;
        if clean {
            crate::clean_shutdown::mark(&self.config.data_dir);
        }
    }
}

impl Host {
    /// Asks the controller to move this broker's leaderships to other in-sync replicas and
    /// drop it from ISRs before it stops, as Kafka's controlled shutdown does; skipped when
    /// no other broker could take anything over. Bounded in time: a stop never hangs here.
    async fn controlled_shutdown(&self) {
        let me = self.config.node_id;
        let image = self.image();
        let others = image.brokers.values().any(|b| b.node_id != me && !b.fenced);
        let replicated = image.topics.values().any(|t| {
            t.partitions
                .values()
                .any(|p| p.isr.contains(&me) && p.replicas.len() > 1)
        });
        if !others || !replicated {
            return;
        }
        let cmd = weir_meta::quorum::Command::ControlledShutdown { node_id: me };
        match tokio::time::timeout(std::time::Duration::from_secs(5), self.meta.submit(cmd)).await {
            Ok(Ok(_)) => tracing::info!("controlled shutdown: leadership moved to other replicas"),
            Ok(Err(e)) => warn!(error = %e, "controlled shutdown refused; stopping anyway"),
            Err(_) => warn!("controlled shutdown timed out; stopping anyway"),
        }
    }
}

/// What a topic would look like if `records` were applied (for validate_only).
pub(crate) fn preview(
    image: &MetadataImage,
    records: &[MetadataRecord],
    name: &str,
) -> Arc<TopicImage> {
    let mut img = image.clone();
    for r in records {
        img.apply(r);
    }
    img.topic(name).cloned().unwrap_or_else(|| {
        Arc::new(TopicImage {
            name: name.to_string(),
            topic_id: TopicId::default(),
            partitions: BTreeMap::new(),
            configs: BTreeMap::new(),
        })
    })
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A random topic id (never all zero, which Kafka reserves).
pub fn new_topic_id() -> TopicId {
    loop {
        let id = *uuid::Uuid::new_v4().as_bytes();
        if id != [0u8; 16] {
            return id;
        }
    }
}

/// A random cluster id in Kafka's form: 16 random bytes, base64url without padding.
pub(crate) fn new_cluster_id() -> String {
    weir_protocol::codec::Uuid(*uuid::Uuid::new_v4().as_bytes()).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_kafka_shaped() {
        let cluster = new_cluster_id();
        assert_eq!(
            cluster.len(),
            22,
            "16 bytes in base64url without padding: {cluster}"
        );
        assert!(cluster
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
        assert_ne!(new_topic_id(), [0u8; 16]);
        assert_ne!(new_topic_id(), new_topic_id());
    }
}
