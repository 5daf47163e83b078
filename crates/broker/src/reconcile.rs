//! Bringing this node in line with a metadata image: opening the partition logs it now
//! hosts, retiring the ones it no longer does, and applying topic configs to each.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use tracing::{error, info, warn};
use weir_meta::{MetadataImage, TopicId, TopicImage};
use weir_storage::{partition_dir_name, CompactionPolicy, Log, LogConfig, RetentionPolicy};

use crate::configs;
use crate::error::BrokerError;
use crate::host::{hex, now_ms, Host};
use crate::locks;
use crate::partition::{Partition, PartitionSettings};
use crate::partition_dir::{self, Marker};

impl Host {
    /// Publishes the quorum's latest image here, if it is newer than the current one.
    /// Serialised, so images are published in order.
    pub(crate) async fn sync_image(&self) {
        let mut upto = self.published_upto.lock().await;
        let latest = self.meta.published().borrow().clone();
        if latest.applied <= *upto {
            return;
        }
        *upto = latest.applied;
        if let Err(e) = self.publish(latest.image) {
            warn!(error = %e, "reconciling local partitions failed");
        }
    }

    /// Makes `next` the current image and brings local partitions in line with it.
    pub(crate) fn publish(&self, next: Arc<MetadataImage>) -> Result<(), BrokerError> {
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
                // Work still holding the partition (the cleaner, retention) must not touch
                // the files of a topic that may be created again under the same name.
                p.log().fence();
                let tag = hex(&p.topic_id);
                let (topic, index) = (p.topic.clone(), p.index);
                drop(p);
                // The metadata log no longer places this replica here (the topic was
                // deleted or the replica moved away): renamed aside now, removed later.
                match partition_dir::retire(&dir, &tag) {
                    Ok(aside) => {
                        info!(%topic, partition = index, dir = %aside.display(), "partition no longer hosted here; its log is renamed aside for deletion");
                        partition_dir::remove_later(aside, self.file_delete_delay());
                    }
                    Err(e) => {
                        warn!(dir = %dir.display(), error = %e, "could not rename a deleted partition dir aside")
                    }
                }
            }
        }
        let mut first_error = None;
        let mut roles_changed = false;
        for (k, (topic, index)) in wanted {
            let settings = self.settings_for(&next, &topic.configs);
            let log_config = self.log_config_for(&next, &topic.configs);
            let Some(image_part) = topic.partitions.get(&index) else {
                continue;
            };
            if let Some(p) = map.get(&k) {
                p.set_settings(settings);
                roles_changed |= p.apply_image(image_part, now_ms());
                // Segment size and age apply from the next roll, as in Kafka.
                if let Err(e) = p.log_mut().set_config(log_config) {
                    warn!(topic = %topic.name, partition = index, error = %e, "could not apply log settings");
                }
                continue;
            }
            match self.open_partition(topic, index, settings, log_config) {
                Ok(p) => {
                    p.apply_image(image_part, now_ms());
                    roles_changed = true;
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
        if roles_changed {
            // Replica fetchers start or stop.
            self.replication_changed.notify_one();
        }
        self.coordinators_changed.notify_one();
        // Waiters on a partition (acks=all, long polls) see leadership and ISR changes.
        self.data_notify.notify_waiters();
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
            min_insync_replicas: usize::try_from(num("min.insync.replicas", 1)).unwrap_or(1),
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

    /// How long a retired partition dir stays before it is removed.
    fn file_delete_delay(&self) -> std::time::Duration {
        std::time::Duration::from_millis(self.config.log_segment_delete_delay_ms)
    }

    fn open_partition(
        &self,
        topic: &TopicImage,
        index: i32,
        settings: PartitionSettings,
        log_config: LogConfig,
    ) -> Result<Partition, BrokerError> {
        let dir = self
            .config
            .data_dir
            .join(partition_dir_name(&topic.name, index));
        let id_text = hex(&topic.topic_id);
        let existed = dir.exists();
        let marker = if existed {
            partition_dir::read_marker(&dir, &id_text)
        } else {
            Marker::Unknown("new".into())
        };
        match &marker {
            Marker::Ours => {}
            // The metadata log gives this name to another topic id: the one the dir holds
            // was deleted, and a topic of the same name created since.
            Marker::Other(old) => {
                let aside = partition_dir::retire(&dir, old).map_err(|e| BrokerError::Io {
                    context: format!("renaming {} aside", dir.display()),
                    source: e,
                })?;
                error!(topic = %topic.name, partition = index, old_topic_id = %old, topic_id = %id_text, dir = %aside.display(), "partition dir belongs to a deleted topic of the same name; renamed aside, to be removed");
                partition_dir::remove_later(aside, self.file_delete_delay());
            }
            // No evidence the data belongs to anything else: keep it, rewrite the marker.
            Marker::Unknown(why) if existed => {
                warn!(topic = %topic.name, partition = index, dir = %dir.display(), marker = %why, "partition marker is not whole; keeping the log and rewriting the marker from the metadata image");
            }
            Marker::Unknown(_) => {}
        }
        let log = Log::open(&dir, log_config, now_ms())?;
        if marker != Marker::Ours {
            partition_dir::write_marker(&dir, &id_text).map_err(|e| BrokerError::Io {
                context: format!("writing the marker of {}", dir.display()),
                source: e,
            })?;
        }
        Ok(Partition::new(
            self.config.node_id,
            topic.name.clone(),
            topic.topic_id,
            index,
            log,
            settings,
        ))
    }
}
