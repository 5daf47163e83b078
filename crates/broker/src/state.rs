//! What the broker knows and hosts: the metadata image, the metadata log, and the partitions
//! this node holds. Admin changes go through [`BrokerState::commit`]: records are appended to
//! the metadata log, applied to a new image, and local replicas are reconciled with it.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{SystemTime, UNIX_EPOCH};

use tokio::sync::{Mutex, Notify};
use tracing::{info, warn};
use weir_meta::config_change::ConfigOp;
use weir_meta::controller::CreateTopicSpec;
use weir_meta::{Controller, MetaError, MetadataImage, MetadataRecord, TopicId, TopicImage};
use weir_storage::{partition_dir_name, CompactionPolicy, Log, LogConfig, RetentionPolicy};

use crate::config::BrokerConfig;
use crate::configs;
use crate::error::BrokerError;
use crate::group_commit::GroupCommit;
use crate::groups::Groups;
use crate::locks;
use crate::metadata_log::MetadataLog;
use crate::partition::{Partition, PartitionSettings};
use crate::txns::Txns;

/// Whose configs an AlterConfigs changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigTarget {
    /// A topic's overrides.
    Topic(String),
    /// A broker's dynamic configs; -1 is the cluster-wide default.
    Broker(i32),
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// File in each partition dir that names the topic id the dir belongs to.
const PARTITION_METADATA: &str = "partition.metadata";

/// The broker's shared state.
pub struct BrokerState {
    /// Settings.
    pub config: BrokerConfig,
    /// Host and port advertised to clients.
    pub advertised: (String, i32),
    /// Woken on every append, for long-polling fetches.
    pub data_notify: Notify,
    /// Group commit for acks=all.
    pub group_commit: GroupCommit,
    /// The group coordinators.
    pub groups: Groups,
    /// The transaction coordinators.
    pub txns: Txns,
    /// Set once shutdown begins: background work stops instead of retrying.
    stopping: AtomicBool,
    controller: Controller,
    image: RwLock<Arc<MetadataImage>>,
    meta: Mutex<Option<MetadataLog>>,
    partitions: RwLock<HashMap<(TopicId, i32), Arc<Partition>>>,
    /// Producer ids of the current block: (next to hand out, end of block).
    producer_ids: Mutex<(i64, i64)>,
}

/// Producer ids reserved in the metadata log at a time.
const PRODUCER_ID_BLOCK: i64 = 1000;

impl BrokerState {
    /// Opens the data dir: replays the metadata log, formats it on first start, registers
    /// this broker, and opens every local partition log (recovering each).
    pub fn open(config: BrokerConfig, advertised: (String, i32)) -> Result<Arc<Self>, BrokerError> {
        std::fs::create_dir_all(&config.data_dir).map_err(|e| BrokerError::Io {
            context: format!("creating {}", config.data_dir.display()),
            source: e,
        })?;
        let now = now_ms();
        let (mut meta, mut image) = MetadataLog::open(&config.data_dir, now)?;
        let mut boot = Vec::new();
        if image.cluster_id.is_none() {
            boot.push(MetadataRecord::Cluster {
                cluster_id: new_cluster_id(),
            });
        }
        let me = MetadataRecord::RegisterBroker {
            node_id: config.node_id,
            host: advertised.0.clone(),
            port: advertised.1,
            rack: None,
            controller: None,
        };
        let registered = image.brokers.get(&config.node_id);
        if registered.map(|b| (&b.host, b.port)) != Some((&advertised.0, advertised.1)) {
            boot.push(me);
        }
        meta.append(&boot, now)?;
        for r in &boot {
            image.apply(r);
        }
        let controller = Controller {
            default_partitions: config.num_partitions,
            default_replication_factor: config.default_replication_factor,
        };
        let groups = Groups::new(config.group.clone(), config.offsets_topic_num_partitions);
        let txns = Txns::new(
            config.txn.clone(),
            config.transaction_state_log_num_partitions,
        );
        let state = Arc::new(Self {
            config,
            advertised,
            data_notify: Notify::new(),
            group_commit: GroupCommit::start(),
            groups,
            txns,
            stopping: AtomicBool::new(false),
            controller,
            image: RwLock::new(Arc::new(MetadataImage::default())),
            meta: Mutex::new(Some(meta)),
            partitions: RwLock::new(HashMap::new()),
            producer_ids: Mutex::new((0, 0)),
        });
        state.publish(Arc::new(image))?;
        Ok(state)
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

    /// Creates topics one by one (each atomically); `validate_only` checks without creating.
    pub async fn create_topics(
        &self,
        specs: &[CreateTopicSpec],
        validate_only: bool,
    ) -> Vec<Result<Arc<TopicImage>, MetaError>> {
        let mut meta = self.meta.lock().await;
        let mut out = Vec::with_capacity(specs.len());
        for spec in specs {
            let image = self.image();
            let id = new_topic_id();
            let result = match self.controller.create_topic(&image, spec, id) {
                Ok(records) if validate_only => Ok(preview(&image, &records, &spec.name)),
                Ok(records) => self.commit_locked(&mut meta, &records).map(|img| {
                    img.topic(&spec.name)
                        .cloned()
                        .unwrap_or_else(|| preview(&image, &records, &spec.name))
                }),
                Err(e) => Err(e),
            };
            out.push(result);
        }
        out
    }

    /// Deletes a topic and its local logs.
    pub async fn delete_topic(&self, name: &str) -> Result<TopicId, MetaError> {
        let mut meta = self.meta.lock().await;
        let image = self.image();
        let records = self.controller.delete_topic(&image, name)?;
        let id = image.topic(name).map(|t| t.topic_id).unwrap_or_default();
        self.commit_locked(&mut meta, &records)?;
        Ok(id)
    }

    /// Grows a topic to `count` partitions.
    pub async fn create_partitions(
        &self,
        name: &str,
        count: i32,
        assignments: Option<&[Vec<i32>]>,
        validate_only: bool,
    ) -> Result<(), MetaError> {
        let mut meta = self.meta.lock().await;
        let records = self
            .controller
            .create_partitions(&self.image(), name, count, assignments)?;
        if !validate_only {
            self.commit_locked(&mut meta, &records)?;
        }
        Ok(())
    }

    /// Changes the configs of a topic (`Topic`) or of a broker (`Broker(-1)`: the cluster
    /// default); `replace_all` (AlterConfigs) removes what is not named; `validate_only`
    /// checks without changing anything.
    pub async fn alter_configs(
        &self,
        target: ConfigTarget,
        ops: &[(String, ConfigOp)],
        replace_all: bool,
        validate_only: bool,
    ) -> Result<(), MetaError> {
        let mut meta = self.meta.lock().await;
        let image = self.image();
        let values = configs::BrokerValues {
            config: &self.config,
            image: &image,
        };
        let records = match &target {
            ConfigTarget::Topic(name) => {
                let none = BTreeMap::new();
                let current = |k: &str| Some(configs::effective(&values, &none, k));
                self.controller
                    .alter_topic_configs(&image, name, ops, replace_all, &current)?
            }
            ConfigTarget::Broker(node) => {
                let current = |k: &str| Some(values.value(k));
                self.controller
                    .alter_broker_configs(&image, *node, ops, replace_all, &current)?
            }
        };
        if !validate_only && !records.is_empty() {
            self.commit_locked(&mut meta, &records)?;
            info!(?target, changes = records.len(), "configs changed");
        }
        Ok(())
    }

    /// Appends records to the metadata log, then publishes the new image.
    fn commit_locked(
        &self,
        meta: &mut Option<MetadataLog>,
        records: &[MetadataRecord],
    ) -> Result<Arc<MetadataImage>, MetaError> {
        let log = meta
            .as_mut()
            .ok_or_else(|| MetaError::InvalidRequest("broker is shutting down".into()))?;
        if let Err(e) = log.append(records, now_ms()) {
            warn!(error = %e, "metadata log append failed");
            return Err(MetaError::InvalidRequest(format!(
                "metadata log append failed: {e}"
            )));
        }
        let mut next = (*self.image()).clone();
        for r in records {
            next.apply(r);
        }
        let next = Arc::new(next);
        if let Err(e) = self.publish(next.clone()) {
            warn!(error = %e, "reconciling local partitions failed");
        }
        Ok(next)
    }

    /// Makes `next` the current image and brings local partitions in line with it.
    fn publish(&self, next: Arc<MetadataImage>) -> Result<(), BrokerError> {
        let node = self.config.node_id;
        let mut wanted: HashMap<(TopicId, i32), (&TopicImage, i32)> = HashMap::new();
        for t in next.topics.values() {
            for p in t.partitions.values() {
                if p.replicas.contains(&node) {
                    wanted.insert((t.topic_id, p.partition), (t, p.partition));
                }
            }
        }
        let mut map = locks::write(&self.partitions);
        let gone: Vec<(TopicId, i32)> = map
            .keys()
            .filter(|k| !wanted.contains_key(k))
            .copied()
            .collect();
        for k in gone {
            if let Some(p) = map.remove(&k) {
                let dir = p.dir();
                info!(topic = %p.topic, partition = p.index, "deleting partition log");
                // Work still holding the partition (the cleaner, retention) must not touch
                // the files of a topic that may be created again under the same name.
                p.log().fence();
                drop(p);
                if let Err(e) = std::fs::remove_dir_all(&dir) {
                    warn!(dir = %dir.display(), error = %e, "could not remove deleted partition dir");
                }
            }
        }
        let mut first_error = None;
        for (k, (topic, index)) in wanted {
            let settings = self.settings_for(&next, &topic.configs);
            let epoch = topic.partitions.get(&index).map_or(0, |p| p.leader_epoch);
            if let Some(p) = map.get(&k) {
                p.set_settings(settings);
                p.set_leader_epoch(epoch);
                // Segment size and age apply from the next roll, as in Kafka.
                if let Err(e) = p
                    .log_mut()
                    .set_config(self.log_config_for(&next, &topic.configs))
                {
                    warn!(topic = %topic.name, partition = index, error = %e, "could not apply log settings");
                }
                continue;
            }
            match self.open_partition(topic, index, settings) {
                Ok(p) => {
                    p.set_leader_epoch(epoch);
                    map.insert(k, Arc::new(p));
                }
                Err(e) => {
                    warn!(topic = %topic.name, partition = index, error = %e, "could not open partition log");
                    first_error.get_or_insert(e);
                }
            }
        }
        drop(map);
        *locks::write(&self.image) = next;
        first_error.map_or(Ok(()), Err)
    }

    /// The partition settings of a topic with these overrides under `image`'s dynamic
    /// broker configs.
    fn settings_for(
        &self,
        image: &MetadataImage,
        overrides: &BTreeMap<String, String>,
    ) -> PartitionSettings {
        let values = configs::BrokerValues {
            config: &self.config,
            image,
        };
        let get = |key: &str| configs::effective(&values, overrides, key);
        let num = |key: &str, default: i64| get(key).trim().parse::<i64>().unwrap_or(default);
        let max = usize::try_from(num("max.message.bytes", 1_048_588)).unwrap_or(0);
        let policy = get("cleanup.policy");
        let has = |p: &str| policy.split(',').any(|x| x.trim() == p);
        let defaults = CompactionPolicy::default();
        PartitionSettings {
            max_message_bytes: max,
            log_append_time: get("message.timestamp.type") == "LogAppendTime",
            delete: has("delete"),
            compact: has("compact"),
            retention: RetentionPolicy {
                retention_ms: num("retention.ms", -1),
                retention_bytes: num("retention.bytes", -1),
            },
            compaction: CompactionPolicy {
                min_cleanable_dirty_ratio: get("min.cleanable.dirty.ratio")
                    .trim()
                    .parse()
                    .unwrap_or(defaults.min_cleanable_dirty_ratio),
                min_compaction_lag_ms: num("min.compaction.lag.ms", 0),
                max_compaction_lag_ms: num("max.compaction.lag.ms", i64::MAX),
                delete_retention_ms: num("delete.retention.ms", defaults.delete_retention_ms),
            },
        }
    }

    /// The log settings of a topic with these overrides (`segment.bytes`, `segment.ms`).
    fn log_config_for(
        &self,
        image: &MetadataImage,
        overrides: &BTreeMap<String, String>,
    ) -> LogConfig {
        let values = configs::BrokerValues {
            config: &self.config,
            image,
        };
        let get = |key: &str| configs::effective(&values, overrides, key);
        let segment_bytes = get("segment.bytes")
            .parse::<u64>()
            .unwrap_or(self.config.log_segment_bytes);
        let segment_ms = get("segment.ms")
            .parse::<i64>()
            .unwrap_or(self.config.log_roll_ms);
        LogConfig {
            segment_bytes,
            segment_ms,
            index_interval_bytes: self.config.log_index_interval_bytes,
            ..LogConfig::default()
        }
    }

    fn open_partition(
        &self,
        topic: &TopicImage,
        index: i32,
        settings: PartitionSettings,
    ) -> Result<Partition, BrokerError> {
        let dir = self
            .config
            .data_dir
            .join(partition_dir_name(&topic.name, index));
        let id_text = hex(&topic.topic_id);
        let marker = dir.join(PARTITION_METADATA);
        match std::fs::read_to_string(&marker) {
            Ok(s) if s.trim() != id_text => {
                warn!(dir = %dir.display(), "partition dir belongs to an older topic of the same name; removing it");
                std::fs::remove_dir_all(&dir).map_err(|e| BrokerError::Io {
                    context: format!("removing {}", dir.display()),
                    source: e,
                })?;
            }
            _ => {}
        }
        let log_config = self.log_config_for(&self.image(), &topic.configs);
        let log = Log::open(&dir, log_config, now_ms())?;
        if !marker.exists() {
            let io = |e| BrokerError::Io {
                context: format!("writing {}", marker.display()),
                source: e,
            };
            std::fs::write(&marker, format!("{id_text}\n")).map_err(io)?;
        }
        Ok(Partition::new(
            topic.name.clone(),
            topic.topic_id,
            index,
            log,
            settings,
        ))
    }

    /// Hands out a producer id that was never used before, reserving a new block in the
    /// metadata log when the current one runs out (so ids survive restarts unreused).
    pub async fn next_producer_id(&self) -> Result<i64, MetaError> {
        let mut ids = self.producer_ids.lock().await;
        if ids.0 >= ids.1 {
            let mut meta = self.meta.lock().await;
            let start = self.image().next_producer_id;
            let end = start + PRODUCER_ID_BLOCK;
            self.commit_locked(
                &mut meta,
                &[MetadataRecord::ProducerIds {
                    next_producer_id: end,
                }],
            )?;
            *ids = (start, end);
        }
        let id = ids.0;
        ids.0 += 1;
        Ok(id)
    }

    /// Every partition hosted here.
    pub fn partitions(&self) -> Vec<Arc<Partition>> {
        locks::read(&self.partitions).values().cloned().collect()
    }

    /// Whether shutdown has begun.
    pub fn is_stopping(&self) -> bool {
        self.stopping.load(Ordering::Acquire)
    }

    /// Flushes and closes every log; used on shutdown.
    pub async fn shutdown(&self) {
        self.stopping.store(true, Ordering::Release);
        let parts: Vec<Arc<Partition>> = locks::write(&self.partitions)
            .drain()
            .map(|(_, p)| p)
            .collect();
        for p in parts {
            if let Err(e) = p.log_mut().flush() {
                warn!(topic = %p.topic, partition = p.index, error = %e, "flush on shutdown failed");
            }
        }
        if let Some(meta) = self.meta.lock().await.take() {
            if let Err(e) = meta.close() {
                warn!(error = %e, "closing metadata log failed");
            }
        }
    }
}

/// What a topic would look like if `records` were applied (for validate_only).
fn preview(image: &MetadataImage, records: &[MetadataRecord], name: &str) -> Arc<TopicImage> {
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

fn hex(bytes: &[u8]) -> String {
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
fn new_cluster_id() -> String {
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
