//! Effective configs as DescribeConfigs and CreateTopics report them: each entry's value,
//! its source (Kafka's `ConfigSource` ids) and its synonyms, topic override first.

use weir_meta::topic_config::{ConfigType, TOPIC_CONFIGS};
use weir_meta::TopicImage;

use crate::config::BrokerConfig;

/// Kafka's `ConfigSource` ids.
pub mod source {
    /// DYNAMIC_TOPIC_CONFIG: a topic override.
    pub const DYNAMIC_TOPIC: i8 = 1;
    /// STATIC_BROKER_CONFIG: set when the broker started.
    pub const STATIC_BROKER: i8 = 4;
    /// DEFAULT_CONFIG: nobody set it.
    pub const DEFAULT: i8 = 5;
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

/// The broker's value for a broker-level key, if it has one, and whether it was set.
fn broker_value(config: &BrokerConfig, key: &str) -> Option<(String, bool)> {
    let d = BrokerConfig::default();
    let v = |now: String, default: String| Some((now.clone(), now != default));
    match key {
        "message.max.bytes" => v(
            config.message_max_bytes.to_string(),
            d.message_max_bytes.to_string(),
        ),
        "log.segment.bytes" => v(
            config.log_segment_bytes.to_string(),
            d.log_segment_bytes.to_string(),
        ),
        "log.roll.ms" => v(config.log_roll_ms.to_string(), d.log_roll_ms.to_string()),
        "log.index.interval.bytes" => v(
            config.log_index_interval_bytes.to_string(),
            d.log_index_interval_bytes.to_string(),
        ),
        _ => None,
    }
}

/// Every topic config of `topic`, as DescribeConfigs shows it.
pub fn topic_entries(config: &BrokerConfig, topic: &TopicImage) -> Vec<ConfigEntry> {
    TOPIC_CONFIGS
        .iter()
        .map(|d| {
            let mut synonyms = Vec::new();
            let over = topic.configs.get(d.name);
            if let Some(v) = over {
                synonyms.push((d.name.to_string(), Some(v.clone()), source::DYNAMIC_TOPIC));
            }
            let broker = d
                .broker_synonym
                .and_then(|b| broker_value(config, b).map(|v| (b, v)));
            if let Some((b, (v, true))) = &broker {
                synonyms.push((b.to_string(), Some(v.clone()), source::STATIC_BROKER));
            }
            let default = broker
                .as_ref()
                .map_or(d.default.to_string(), |(_, (v, _))| v.clone());
            synonyms.push((
                d.broker_synonym.unwrap_or(d.name).to_string(),
                Some(default.clone()),
                source::DEFAULT,
            ));
            let (value, src) = match (over, &broker) {
                (Some(v), _) => (v.clone(), source::DYNAMIC_TOPIC),
                (None, Some((_, (v, true)))) => (v.clone(), source::STATIC_BROKER),
                (None, _) => (default, source::DEFAULT),
            };
            ConfigEntry {
                name: d.name.to_string(),
                value: Some(value),
                source: src,
                read_only: false,
                kind: d.kind,
                doc: d.doc,
                synonyms,
            }
        })
        .collect()
}

/// The broker's own configs (read-only here).
pub fn broker_entries(config: &BrokerConfig) -> Vec<ConfigEntry> {
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
    use ConfigType::{Boolean, Int, List, Long};
    vec![
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
            "log.index.interval.bytes",
            config.log_index_interval_bytes.to_string(),
            d.log_index_interval_bytes.to_string(),
            Int,
            "Bytes between offset index entries.",
        ),
        entry(
            "log.roll.ms",
            config.log_roll_ms.to_string(),
            d.log_roll_ms.to_string(),
            Long,
            "Time after which a segment is rolled.",
        ),
        entry(
            "log.segment.bytes",
            config.log_segment_bytes.to_string(),
            d.log_segment_bytes.to_string(),
            Int,
            "Size of a log segment file.",
        ),
        entry(
            "message.max.bytes",
            config.message_max_bytes.to_string(),
            d.message_max_bytes.to_string(),
            Int,
            "Largest record batch a topic accepts by default.",
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
    ]
}
