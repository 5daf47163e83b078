//! Config changes (AlterConfigs and IncrementalAlterConfigs) turned into records: topic
//! overrides, and dynamic broker configs for one broker or the whole cluster. Every value is
//! validated with Kafka's rules; an invalid one is INVALID_CONFIG naming its key, and
//! nothing of the request is applied.

use std::collections::BTreeMap;

use crate::controller::Controller;
use crate::error::MetaError;
use crate::group_config;
use crate::image::MetadataImage;
use crate::records::MetadataRecord;
use crate::topic_config::{self, ConfigType, TOPIC_CONFIGS};

/// How a key changes (IncrementalAlterConfigs' operations).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum ConfigOp {
    /// SET: the new value.
    Set(String),
    /// DELETE: back to the default.
    Delete,
    /// APPEND: add items to a list.
    Append(String),
    /// SUBTRACT: remove items from a list.
    Subtract(String),
}

/// The broker keys that can change while brokers run: the broker-wide defaults of topic
/// configs (`log.retention.ms`, `log.cleanup.policy`, `message.max.bytes`, ...), as in Kafka.
pub fn dynamic_broker_key(key: &str) -> Option<&'static topic_config::ConfigDef> {
    TOPIC_CONFIGS.iter().find(|d| d.broker_synonym == Some(key))
}

/// Applies `op` to `current` (a list for APPEND and SUBTRACT); `None` means deleted.
fn apply_op(
    key: &str,
    kind: ConfigType,
    current: Option<&str>,
    op: &ConfigOp,
) -> Result<Option<String>, MetaError> {
    let items = |v: Option<&str>| -> Vec<String> {
        v.unwrap_or_default()
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect()
    };
    match op {
        ConfigOp::Set(v) => Ok(Some(v.clone())),
        ConfigOp::Delete => Ok(None),
        ConfigOp::Append(_) | ConfigOp::Subtract(_) if kind != ConfigType::List => {
            Err(MetaError::InvalidConfig(format!(
                "Config value append is not allowed for config key {key}, which is not a list"
            )))
        }
        ConfigOp::Append(v) => {
            let mut list = items(current);
            for x in items(Some(v)) {
                if !list.contains(&x) {
                    list.push(x);
                }
            }
            Ok(Some(list.join(",")))
        }
        ConfigOp::Subtract(v) => {
            let remove = items(Some(v));
            let list: Vec<String> = items(current)
                .into_iter()
                .filter(|x| !remove.contains(x))
                .collect();
            Ok(Some(list.join(",")))
        }
    }
}

impl Controller {
    /// Records for changing topic `name`'s overrides; with `replace_all` (AlterConfigs) the
    /// overrides not named are removed. `current` gives a key's effective value (the
    /// starting point of APPEND and SUBTRACT when the topic has no override).
    pub fn alter_topic_configs(
        &self,
        image: &MetadataImage,
        name: &str,
        ops: &[(String, ConfigOp)],
        replace_all: bool,
        current: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Vec<MetadataRecord>, MetaError> {
        let topic = image
            .topic(name)
            .ok_or_else(|| MetaError::UnknownTopic(name.to_string()))?;
        let mut next: BTreeMap<String, Option<String>> = BTreeMap::new();
        for (key, op) in ops {
            let def = topic_config::lookup(key).ok_or_else(|| {
                MetaError::InvalidConfig(format!("Unknown topic config name: {key}"))
            })?;
            let now = topic.configs.get(key).cloned().or_else(|| current(key));
            let value = apply_op(key, def.kind, now.as_deref(), op)?;
            if let Some(v) = &value {
                topic_config::validate(key, v).map_err(MetaError::InvalidConfig)?;
            }
            next.insert(key.clone(), value);
        }
        if replace_all {
            for key in topic.configs.keys() {
                next.entry(key.clone()).or_insert(None);
            }
        }
        Ok(next
            .into_iter()
            .filter(|(k, v)| topic.configs.get(k) != v.as_ref())
            .map(|(key, value)| MetadataRecord::TopicConfig {
                topic_id: topic.topic_id,
                key,
                value,
            })
            .collect())
    }

    /// Records for changing the dynamic configs of broker `node_id` (-1: the cluster-wide
    /// default); only [`dynamic_broker_key`]s may change. `current` gives a key's effective
    /// value for APPEND and SUBTRACT.
    pub fn alter_broker_configs(
        &self,
        image: &MetadataImage,
        node_id: i32,
        ops: &[(String, ConfigOp)],
        replace_all: bool,
        current: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Vec<MetadataRecord>, MetaError> {
        let empty = BTreeMap::new();
        let existing = image.broker_configs.get(&node_id).unwrap_or(&empty);
        let mut next: BTreeMap<String, Option<String>> = BTreeMap::new();
        for (key, op) in ops {
            let def = dynamic_broker_key(key).ok_or_else(|| {
                MetaError::InvalidRequest(format!(
                    "Cannot update these configs dynamically: Set({key})"
                ))
            })?;
            let now = existing.get(key).cloned().or_else(|| current(key));
            // Kafka answers INVALID_REQUEST for a bad broker config value.
            let value = apply_op(key, def.kind, now.as_deref(), op)
                .map_err(|e| MetaError::InvalidRequest(e.to_string()))?;
            if let Some(v) = &value {
                topic_config::validate(def.name, v)
                    .map_err(|e| MetaError::InvalidRequest(e.replace(def.name, key)))?;
            }
            next.insert(key.clone(), value);
        }
        if replace_all {
            for key in existing.keys() {
                next.entry(key.clone()).or_insert(None);
            }
        }
        Ok(next
            .into_iter()
            .filter(|(k, v)| existing.get(k) != v.as_ref())
            .map(|(key, value)| MetadataRecord::BrokerConfig {
                node_id,
                key,
                value,
            })
            .collect())
    }
}

impl Controller {
    /// Records for changing group `group`'s configs; a group need not exist to be
    /// configured (as in Kafka). Unknown keys and bad values are INVALID_CONFIG.
    pub fn alter_group_configs(
        &self,
        image: &MetadataImage,
        group: &str,
        ops: &[(String, ConfigOp)],
        replace_all: bool,
    ) -> Result<Vec<MetadataRecord>, MetaError> {
        if group.is_empty() {
            return Err(MetaError::InvalidRequest(
                "Group id must not be empty".into(),
            ));
        }
        let empty = BTreeMap::new();
        let existing = image.group_configs.get(group).unwrap_or(&empty);
        let mut next: BTreeMap<String, Option<String>> = BTreeMap::new();
        for (key, op) in ops {
            if group_config::lookup(key).is_none() {
                return Err(MetaError::InvalidConfig(format!(
                    "Unknown group config name: {key}"
                )));
            }
            let value = apply_op(
                key,
                ConfigType::String,
                existing.get(key).map(String::as_str),
                op,
            )?;
            if let Some(v) = &value {
                group_config::validate(key, v).map_err(MetaError::InvalidConfig)?;
            }
            next.insert(key.clone(), value);
        }
        if replace_all {
            for key in existing.keys() {
                next.entry(key.clone()).or_insert(None);
            }
        }
        Ok(next
            .into_iter()
            .filter(|(k, v)| existing.get(k) != v.as_ref())
            .map(|(key, value)| MetadataRecord::GroupConfig {
                group: group.to_string(),
                key,
                value,
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controller::CreateTopicSpec;

    fn image_with_topic() -> MetadataImage {
        let mut img = MetadataImage::default();
        img.apply(&MetadataRecord::RegisterBroker {
            controller: None,
            listeners: Vec::new(),
            node_id: 1,
            host: "h".into(),
            port: 1,
            rack: None,
        });
        let spec = CreateTopicSpec {
            name: "t".into(),
            num_partitions: 1,
            replication_factor: 1,
            configs: [("retention.ms".to_string(), "1000".to_string())].into(),
            ..Default::default()
        };
        for r in Controller::default()
            .create_topic(&img, &spec, [1; 16])
            .unwrap()
        {
            img.apply(&r);
        }
        img
    }

    #[test]
    fn topic_changes_validate_and_replace() {
        let mut img = image_with_topic();
        let c = Controller::default();
        let none = |_: &str| None;
        let set = |k: &str, v: &str| (k.to_string(), ConfigOp::Set(v.to_string()));
        let err = c
            .alter_topic_configs(&img, "t", &[set("retention.bytes", "lots")], false, &none)
            .unwrap_err();
        assert!(matches!(&err, MetaError::InvalidConfig(m) if m.contains("retention.bytes")));
        assert!(matches!(
            c.alter_topic_configs(&img, "nope", &[], false, &none),
            Err(MetaError::UnknownTopic(_))
        ));
        // Incremental: retention.ms stays.
        for r in c
            .alter_topic_configs(&img, "t", &[set("cleanup.policy", "compact")], false, &none)
            .unwrap()
        {
            img.apply(&r);
        }
        let cfg = &img.topic("t").unwrap().configs;
        assert_eq!(cfg.get("retention.ms").map(String::as_str), Some("1000"));
        // APPEND on a list starts from the effective value.
        let current = |k: &str| (k == "cleanup.policy").then(|| "delete".to_string());
        let recs = c
            .alter_topic_configs(
                &img,
                "t",
                &[("cleanup.policy".into(), ConfigOp::Append("delete".into()))],
                false,
                &current,
            )
            .unwrap();
        for r in recs {
            img.apply(&r);
        }
        let cfg = &img.topic("t").unwrap().configs;
        assert_eq!(
            cfg.get("cleanup.policy").map(String::as_str),
            Some("compact,delete")
        );
        assert!(c
            .alter_topic_configs(
                &img,
                "t",
                &[("retention.ms".into(), ConfigOp::Append("5".into()))],
                false,
                &none
            )
            .is_err());
        // AlterConfigs replaces everything.
        for r in c
            .alter_topic_configs(&img, "t", &[set("segment.ms", "60000")], true, &none)
            .unwrap()
        {
            img.apply(&r);
        }
        let cfg = &img.topic("t").unwrap().configs;
        assert_eq!(cfg.len(), 1);
        assert_eq!(cfg.get("segment.ms").map(String::as_str), Some("60000"));
    }

    #[test]
    fn broker_changes_take_only_dynamic_keys() {
        let mut img = image_with_topic();
        let c = Controller::default();
        let none = |_: &str| None;
        let recs = c
            .alter_broker_configs(
                &img,
                -1,
                &[("log.retention.ms".into(), ConfigOp::Set("5000".into()))],
                false,
                &none,
            )
            .unwrap();
        for r in recs {
            img.apply(&r);
        }
        assert_eq!(
            img.broker_configs[&-1]
                .get("log.retention.ms")
                .map(String::as_str),
            Some("5000")
        );
        assert!(matches!(
            c.alter_broker_configs(
                &img,
                1,
                &[("log.dirs".into(), ConfigOp::Set("/x".into()))],
                false,
                &none
            ),
            Err(MetaError::InvalidRequest(_))
        ));
        let err = c
            .alter_broker_configs(
                &img,
                1,
                &[("log.retention.ms".into(), ConfigOp::Set("-7".into()))],
                false,
                &none,
            )
            .unwrap_err();
        assert!(matches!(&err, MetaError::InvalidRequest(m) if m.contains("log.retention.ms")));
        let recs = c
            .alter_broker_configs(
                &img,
                -1,
                &[("log.retention.ms".into(), ConfigOp::Delete)],
                false,
                &none,
            )
            .unwrap();
        for r in recs {
            img.apply(&r);
        }
        assert!(img.broker_configs.is_empty());
    }
}
