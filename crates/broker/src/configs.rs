//! Effective configs as DescribeConfigs and CreateTopics report them, and as partitions use
//! them: each entry's value, its source (Kafka's `ConfigSource` ids) and its synonyms,
//! highest precedence first (topic override, dynamic broker, dynamic cluster default,
//! static broker setting, default).

use std::collections::BTreeMap;

use weir_meta::topic_config::{self, ConfigType, TOPIC_CONFIGS};
use weir_meta::{MetadataImage, TopicImage};

use crate::config::BrokerConfig;

/// Kafka's `ConfigSource` ids.
pub mod source {
    /// DYNAMIC_TOPIC_CONFIG: a topic override.
    pub const DYNAMIC_TOPIC: i8 = 1;
    /// DYNAMIC_BROKER_CONFIG: set for this broker while it runs.
    pub const DYNAMIC_BROKER: i8 = 2;
    /// DYNAMIC_DEFAULT_BROKER_CONFIG: set for every broker while they run.
    pub const DYNAMIC_DEFAULT_BROKER: i8 = 3;
    /// STATIC_BROKER_CONFIG: set when the broker started.
    pub const STATIC_BROKER: i8 = 4;
    /// DEFAULT_CONFIG: nobody set it.
    pub const DEFAULT: i8 = 5;
    /// DYNAMIC_GROUP_CONFIG: set for one group.
    pub const DYNAMIC_GROUP: i8 = 8;
}

/// One reported config.
#[derive(Debug, Clone)]
pub struct ConfigEntry {
    /// Config key.
    pub name: String,
    /// Effective value.
    pub value: Option<String>,
    /// Where the value comes from.
    pub source: i8,
    /// Whether it can be altered.
    pub read_only: bool,
    /// Value type.
    pub kind: ConfigType,
    /// Description.
    pub doc: &'static str,
    /// (name, value, source), highest precedence first.
    pub synonyms: Vec<(String, Option<String>, i8)>,
}

/// Where broker-level values come from: dynamic configs of this broker and of the cluster
/// (from the metadata image), then the static settings.
pub struct BrokerValues<'a> {
    /// Static settings.
    pub config: &'a BrokerConfig,
    /// The metadata image (dynamic broker configs).
    pub image: &'a MetadataImage,
}

impl BrokerValues<'_> {
    fn dynamic(&self, node: i32, key: &str) -> Option<String> {
        self.image.broker_configs.get(&node)?.get(key).cloned()
    }

    /// The layers of a broker key, highest precedence first: (value, source). The last
    /// one is the default.
    fn layers(&self, key: &str) -> Vec<(String, i8)> {
        let mut out = Vec::new();
        if let Some(v) = self.dynamic(self.config.node_id, key) {
            out.push((v, source::DYNAMIC_BROKER));
        }
        if let Some(v) = self.dynamic(-1, key) {
            out.push((v, source::DYNAMIC_DEFAULT_BROKER));
        }
        let d = BrokerConfig::default();
        let static_and_default = |now: String, default: String| (now, default);
        let fixed = match key {
            "message.max.bytes" => Some(static_and_default(
                self.config.message_max_bytes.to_string(),
                d.message_max_bytes.to_string(),
            )),
            "log.segment.bytes" => Some(static_and_default(
                self.config.log_segment_bytes.to_string(),
                d.log_segment_bytes.to_string(),
            )),
            "log.roll.ms" => Some(static_and_default(
                self.config.log_roll_ms.to_string(),
                d.log_roll_ms.to_string(),
            )),
            "log.index.interval.bytes" => Some(static_and_default(
                self.config.log_index_interval_bytes.to_string(),
                d.log_index_interval_bytes.to_string(),
            )),
            _ => None,
        };
        let topic_default = TOPIC_CONFIGS
            .iter()
            .find(|t| t.broker_synonym == Some(key))
            .map(|t| t.default.to_string());
        match fixed {
            Some((now, default)) => {
                if now != default {
                    out.push((now, source::STATIC_BROKER));
                }
                out.push((default, source::DEFAULT));
            }
            None => {
                if let Some(v) = self.config.log_defaults.get(key) {
                    out.push((v.clone(), source::STATIC_BROKER));
                } else if key == "log.retention.ms" {
                    // Kafka's precedence: log.retention.ms, then .minutes, then .hours.
                    if let Some(v) = self.config.retention_ms_from_minutes_or_hours() {
                        out.push((v.to_string(), source::STATIC_BROKER));
                    }
                }
                out.push((topic_default.unwrap_or_default(), source::DEFAULT));
            }
        }
        out
    }

    /// The effective value of a broker key.
    pub fn value(&self, key: &str) -> String {
        self.layers(key)
            .into_iter()
            .next()
            .map(|(v, _)| v)
            .unwrap_or_default()
    }
}

/// The effective value of topic config `key` for a topic with these overrides: the override,
/// else the broker's (dynamic or static) setting of its synonym, else Kafka's default.
pub fn effective(b: &BrokerValues<'_>, overrides: &BTreeMap<String, String>, key: &str) -> String {
    if let Some(v) = overrides.get(key) {
        return v.clone();
    }
    let def = topic_config::lookup(key);
    match def.and_then(|d| d.broker_synonym) {
        Some(b_key) => b.value(b_key),
        None => def.map(|d| d.default.to_string()).unwrap_or_default(),
    }
}

/// Every topic config of `topic`, as DescribeConfigs shows it.
pub fn topic_entries(b: &BrokerValues<'_>, topic: &TopicImage) -> Vec<ConfigEntry> {
    TOPIC_CONFIGS
        .iter()
        .map(|d| {
            let mut synonyms = Vec::new();
            if let Some(v) = topic.configs.get(d.name) {
                synonyms.push((d.name.to_string(), Some(v.clone()), source::DYNAMIC_TOPIC));
            }
            match d.broker_synonym {
                Some(key) => {
                    for (v, src) in b.layers(key) {
                        synonyms.push((key.to_string(), Some(v), src));
                    }
                }
                None => synonyms.push((
                    d.name.to_string(),
                    Some(d.default.to_string()),
                    source::DEFAULT,
                )),
            }
            let (value, src) = synonyms
                .first()
                .map(|(_, v, s)| (v.clone(), *s))
                .unwrap_or((None, source::DEFAULT));
            ConfigEntry {
                name: d.name.to_string(),
                value,
                source: src,
                read_only: false,
                kind: d.kind,
                doc: d.doc,
                synonyms,
            }
        })
        .collect()
}

/// The broker keys that may change while the broker runs, with their entries.
fn dynamic_entries(b: &BrokerValues<'_>) -> Vec<ConfigEntry> {
    let mut keys: Vec<(&'static str, ConfigType, &'static str)> = TOPIC_CONFIGS
        .iter()
        .filter_map(|d| d.broker_synonym.map(|k| (k, d.kind, d.doc)))
        .collect();
    keys.sort_unstable_by_key(|(k, _, _)| *k);
    keys.dedup_by_key(|(k, _, _)| *k);
    keys.into_iter()
        .map(|(key, kind, doc)| {
            let mut layers = b.layers(key);
            if key == "log.retention.ms" {
                // Kafka shows log.retention.ms unset (null) unless it was given as such.
                layers.retain(|(_, src)| *src != source::DEFAULT);
                if !b.config.log_defaults.contains_key(key) {
                    layers.retain(|(_, src)| *src != source::STATIC_BROKER);
                }
                if layers.is_empty() {
                    return ConfigEntry {
                        name: key.to_string(),
                        value: None,
                        source: source::DEFAULT,
                        read_only: false,
                        kind,
                        doc,
                        synonyms: Vec::new(),
                    };
                }
            }
            let (value, src) = layers.first().cloned().unwrap_or_default();
            ConfigEntry {
                name: key.to_string(),
                value: Some(value),
                source: src,
                read_only: false,
                kind,
                doc,
                synonyms: layers
                    .into_iter()
                    .map(|(v, s)| (key.to_string(), Some(v), s))
                    .collect(),
            }
        })
        .collect()
}

/// A double as Kafka prints it (`1.7976931348623157E308` for the unlimited rate).
fn format_double(v: f64) -> String {
    if v >= f64::MAX {
        "1.7976931348623157E308".to_string()
    } else {
        v.to_string()
    }
}

/// The cluster-wide dynamic defaults (DescribeConfigs of broker ""), as Kafka lists them:
/// only what was set.
pub fn cluster_default_entries(b: &BrokerValues<'_>) -> Vec<ConfigEntry> {
    let Some(configs) = b.image.broker_configs.get(&-1) else {
        return Vec::new();
    };
    configs
        .iter()
        .map(|(k, v)| {
            let def = TOPIC_CONFIGS
                .iter()
                .find(|d| d.broker_synonym == Some(k.as_str()));
            ConfigEntry {
                name: k.clone(),
                value: Some(v.clone()),
                source: source::DYNAMIC_DEFAULT_BROKER,
                read_only: false,
                kind: def.map_or(ConfigType::String, |d| d.kind),
                doc: def.map_or("", |d| d.doc),
                synonyms: vec![(k.clone(), Some(v.clone()), source::DYNAMIC_DEFAULT_BROKER)],
            }
        })
        .collect()
}

/// The broker's own configs: the static ones (read-only) and the dynamic ones.
pub fn broker_entries(b: &BrokerValues<'_>) -> Vec<ConfigEntry> {
    let config = b.config;
    let d = BrokerConfig::default();
    let entry =
        |name: &str, value: String, default: String, kind: ConfigType, doc: &'static str| {
            let src = if value == default {
                source::DEFAULT
            } else {
                source::STATIC_BROKER
            };
            ConfigEntry {
                name: name.to_string(),
                value: Some(value.clone()),
                source: src,
                read_only: true,
                kind,
                doc,
                synonyms: vec![(name.to_string(), Some(value), src)],
            }
        };
    use ConfigType::{Boolean, Double, Int, List, Long};
    let dynamic = dynamic_entries(b);
    let optional = |name: &str, doc: &'static str| {
        let v = config.log_defaults.get(name).cloned();
        let src = if v.is_some() {
            source::STATIC_BROKER
        } else {
            source::DEFAULT
        };
        ConfigEntry {
            name: name.to_string(),
            value: v.clone(),
            source: src,
            read_only: true,
            kind: Int,
            doc,
            synonyms: v
                .map(|v| vec![(name.to_string(), Some(v), src)])
                .unwrap_or_default(),
        }
    };
    let hours = config.log_defaults.get("log.retention.hours").cloned();
    let mut out = vec![
        optional(
            "log.retention.minutes",
            "Hours of retention, in minutes (log.retention.ms wins).",
        ),
        entry(
            "log.retention.hours",
            hours.unwrap_or_else(|| "168".to_string()),
            "168".to_string(),
            Int,
            "How long records are kept, in hours (log.retention.minutes and .ms win).",
        ),
        entry(
            "log.retention.check.interval.ms",
            config.log_retention_check_interval_ms.to_string(),
            d.log_retention_check_interval_ms.to_string(),
            Long,
            "How often retention runs.",
        ),
        entry(
            "log.cleaner.enable",
            config.log_cleaner_enable.to_string(),
            d.log_cleaner_enable.to_string(),
            Boolean,
            "Whether compacted topics are cleaned.",
        ),
        entry(
            "log.cleaner.backoff.ms",
            config.log_cleaner_backoff_ms.to_string(),
            d.log_cleaner_backoff_ms.to_string(),
            Long,
            "The cleaner's pause when nothing is dirty enough.",
        ),
        entry(
            "log.cleaner.dedupe.buffer.size",
            config.log_cleaner_dedupe_buffer_size.to_string(),
            d.log_cleaner_dedupe_buffer_size.to_string(),
            Long,
            "Memory for the cleaner's key map.",
        ),
        entry(
            "log.cleaner.io.max.bytes.per.second",
            format_double(config.log_cleaner_io_max_bytes_per_second),
            format_double(d.log_cleaner_io_max_bytes_per_second),
            Double,
            "The cleaner's I/O rate limit.",
        ),
        entry(
            "producer.id.expiration.ms",
            config.producer_id_expiration_ms.to_string(),
            d.producer_id_expiration_ms.to_string(),
            Int,
            "How long a partition remembers an idle producer.",
        ),
        entry(
            "offsets.topic.num.partitions",
            config.offsets_topic_num_partitions.to_string(),
            d.offsets_topic_num_partitions.to_string(),
            Int,
            "Partitions of __consumer_offsets.",
        ),
        entry(
            "offsets.topic.replication.factor",
            config.offsets_topic_replication_factor.to_string(),
            d.offsets_topic_replication_factor.to_string(),
            Int,
            "Replicas of __consumer_offsets.",
        ),
        entry(
            "transaction.state.log.num.partitions",
            config.transaction_state_log_num_partitions.to_string(),
            d.transaction_state_log_num_partitions.to_string(),
            Int,
            "Partitions of __transaction_state.",
        ),
        entry(
            "transaction.state.log.replication.factor",
            config.transaction_state_log_replication_factor.to_string(),
            d.transaction_state_log_replication_factor.to_string(),
            Int,
            "Replicas of __transaction_state.",
        ),
        entry(
            "transaction.max.timeout.ms",
            config.txn.max_timeout_ms.to_string(),
            d.txn.max_timeout_ms.to_string(),
            Int,
            "Longest transaction timeout a producer may ask for.",
        ),
        entry(
            "transaction.abort.timed.out.transaction.cleanup.interval.ms",
            config.txn.abort_check_interval_ms.to_string(),
            d.txn.abort_check_interval_ms.to_string(),
            Int,
            "How often timed-out transactions are aborted.",
        ),
        entry(
            "transactional.id.expiration.ms",
            config.txn.id_expiration_ms.to_string(),
            d.txn.id_expiration_ms.to_string(),
            Int,
            "How long an idle transactional id is kept.",
        ),
        entry(
            "auto.create.topics.enable",
            config.auto_create_topics_enable.to_string(),
            d.auto_create_topics_enable.to_string(),
            Boolean,
            "Create unknown topics on metadata requests.",
        ),
        entry(
            "default.replication.factor",
            config.default_replication_factor.to_string(),
            d.default_replication_factor.to_string(),
            Int,
            "Replication factor of auto-created topics.",
        ),
        entry(
            "listeners",
            format!("PLAINTEXT://{}", config.listen),
            format!("PLAINTEXT://{}", d.listen),
            List,
            "Addresses the broker listens on.",
        ),
        entry(
            "log.dirs",
            config.data_dir.display().to_string(),
            d.data_dir.display().to_string(),
            ConfigType::String,
            "Where the broker keeps its data.",
        ),
        entry(
            "node.id",
            config.node_id.to_string(),
            d.node_id.to_string(),
            Int,
            "This broker's id.",
        ),
        entry(
            "num.partitions",
            config.num_partitions.to_string(),
            d.num_partitions.to_string(),
            Int,
            "Partitions of an auto-created topic.",
        ),
        entry(
            "socket.request.max.bytes",
            config.socket_request_max_bytes.to_string(),
            d.socket_request_max_bytes.to_string(),
            Int,
            "Largest request the broker reads.",
        ),
        entry(
            "replica.lag.time.max.ms",
            config.replica_lag_time_max_ms.to_string(),
            d.replica_lag_time_max_ms.to_string(),
            Long,
            "A follower not caught up for this long leaves the ISR.",
        ),
        entry(
            "auto.leader.rebalance.enable",
            config.auto_leader_rebalance_enable.to_string(),
            d.auto_leader_rebalance_enable.to_string(),
            Boolean,
            "Whether leadership moves back to preferred replicas.",
        ),
        entry(
            "leader.imbalance.check.interval.seconds",
            config.leader_imbalance_check_interval_seconds.to_string(),
            d.leader_imbalance_check_interval_seconds.to_string(),
            Long,
            "How often leader balance is checked.",
        ),
        entry(
            "leader.imbalance.per.broker.percentage",
            config.leader_imbalance_per_broker_percentage.to_string(),
            d.leader_imbalance_per_broker_percentage.to_string(),
            Int,
            "Share of a broker's preferred partitions led elsewhere before they move back.",
        ),
    ];
    out.extend(dynamic);
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

/// Every group config of `group`: its override, or the default.
pub fn group_entries(image: &MetadataImage, group: &str) -> Vec<ConfigEntry> {
    use weir_meta::group_config::{GroupConfigKind, GROUP_CONFIGS};
    let overrides = image.group_configs.get(group);
    GROUP_CONFIGS
        .iter()
        .map(|d| {
            let set = overrides.and_then(|o| o.get(d.name));
            ConfigEntry {
                name: d.name.to_string(),
                value: Some(set.map_or(d.default, String::as_str).to_string()),
                source: if set.is_some() {
                    source::DYNAMIC_GROUP
                } else {
                    source::DEFAULT
                },
                read_only: false,
                kind: match d.kind {
                    GroupConfigKind::Int(..) => ConfigType::Int,
                    GroupConfigKind::OneOf(_) | GroupConfigKind::Text => ConfigType::String,
                },
                doc: d.doc,
                synonyms: Vec::new(),
            }
        })
        .collect()
}
