//! Kafka's topic configs: names, types, defaults, the broker setting each one inherits from,
//! and validation. Values are kept as strings, as Kafka's DescribeConfigs reports them.

use std::collections::BTreeMap;

/// A config value's type, as DescribeConfigs v3+ reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigType {
    /// true / false.
    Boolean,
    /// 32-bit integer.
    Int,
    /// 64-bit integer.
    Long,
    /// Floating point.
    Double,
    /// Free text.
    String,
    /// Comma-separated list.
    List,
}

impl ConfigType {
    /// The `ConfigType` byte of DescribeConfigs v3+.
    pub fn wire_id(self) -> i8 {
        match self {
            Self::Boolean => 1,
            Self::String => 2,
            Self::Int => 3,
            Self::Long => 5,
            Self::Double => 6,
            Self::List => 7,
        }
    }
}

/// One topic config definition.
#[derive(Debug, Clone, Copy)]
pub struct ConfigDef {
    /// Topic config key.
    pub name: &'static str,
    /// Value type.
    pub kind: ConfigType,
    /// Default value (as Kafka 4.x ships it).
    pub default: &'static str,
    /// The broker config this topic config falls back to, if any.
    pub broker_synonym: Option<&'static str>,
    /// Smallest legal numeric value.
    pub min: Option<i64>,
    /// Allowed values for enumerations (empty: any).
    pub allowed: &'static [&'static str],
    /// One-line description.
    pub doc: &'static str,
}

const fn def(
    name: &'static str,
    kind: ConfigType,
    default: &'static str,
    broker_synonym: Option<&'static str>,
    min: Option<i64>,
    doc: &'static str,
) -> ConfigDef {
    ConfigDef {
        name,
        kind,
        default,
        broker_synonym,
        min,
        allowed: &[],
        doc,
    }
}

use ConfigType::{Boolean, Double, Int, List, Long};

/// Every topic config Weir knows, sorted by name.
pub const TOPIC_CONFIGS: &[ConfigDef] = &[
    ConfigDef {
        allowed: &["delete", "compact"],
        ..def(
            "cleanup.policy",
            List,
            "delete",
            Some("log.cleanup.policy"),
            None,
            "Retention policy for old segments: delete and/or compact.",
        )
    },
    ConfigDef {
        allowed: &["uncompressed", "zstd", "lz4", "snappy", "gzip", "producer"],
        ..def(
            "compression.type",
            ConfigType::String,
            "producer",
            Some("compression.type"),
            None,
            "Final compression of the topic's batches.",
        )
    },
    def(
        "delete.retention.ms",
        Long,
        "86400000",
        Some("log.cleaner.delete.retention.ms"),
        Some(0),
        "How long tombstones are kept on compacted topics.",
    ),
    def(
        "delivery.delay.ms",
        Long,
        "0",
        None,
        Some(0),
        "Weir: share consumers do not acquire a record before its timestamp plus this delay.",
    ),
    def(
        "errors.deadletterqueue.group.enable",
        Boolean,
        "false",
        None,
        None,
        "KIP-1191: whether share groups may use this topic as their dead-letter topic.",
    ),
    def(
        "file.delete.delay.ms",
        Long,
        "60000",
        Some("log.segment.delete.delay.ms"),
        Some(0),
        "Delay before a deleted segment's file is removed.",
    ),
    def(
        "flush.messages",
        Long,
        "9223372036854775807",
        Some("log.flush.interval.messages"),
        Some(1),
        "Messages between forced fsyncs.",
    ),
    def(
        "flush.ms",
        Long,
        "9223372036854775807",
        Some("log.flush.interval.ms"),
        Some(0),
        "Milliseconds between forced fsyncs.",
    ),
    def(
        "index.interval.bytes",
        Int,
        "4096",
        Some("log.index.interval.bytes"),
        Some(0),
        "Bytes between offset index entries.",
    ),
    def(
        "max.compaction.lag.ms",
        Long,
        "9223372036854775807",
        Some("log.cleaner.max.compaction.lag.ms"),
        Some(1),
        "Longest time a record stays uncompacted.",
    ),
    def(
        "max.message.bytes",
        Int,
        "1048588",
        Some("message.max.bytes"),
        Some(0),
        "Largest record batch the topic accepts.",
    ),
    def(
        "message.timestamp.after.max.ms",
        Long,
        "3600000",
        Some("log.message.timestamp.after.max.ms"),
        Some(0),
        "How far in the future a CreateTime timestamp may be.",
    ),
    def(
        "message.timestamp.before.max.ms",
        Long,
        "9223372036854775807",
        Some("log.message.timestamp.before.max.ms"),
        Some(0),
        "How far in the past a CreateTime timestamp may be.",
    ),
    ConfigDef {
        allowed: &["CreateTime", "LogAppendTime"],
        ..def(
            "message.timestamp.type",
            ConfigType::String,
            "CreateTime",
            Some("log.message.timestamp.type"),
            None,
            "Whether timestamps come from the producer or the broker.",
        )
    },
    def(
        "min.cleanable.dirty.ratio",
        Double,
        "0.5",
        Some("log.cleaner.min.cleanable.ratio"),
        None,
        "Dirty ratio above which the log is compacted.",
    ),
    def(
        "min.compaction.lag.ms",
        Long,
        "0",
        Some("log.cleaner.min.compaction.lag.ms"),
        Some(0),
        "Shortest time a record stays uncompacted.",
    ),
    def(
        "min.insync.replicas",
        Int,
        "1",
        Some("min.insync.replicas"),
        Some(1),
        "In-sync replicas an acks=all write needs.",
    ),
    def(
        "preallocate",
        Boolean,
        "false",
        Some("log.preallocate"),
        None,
        "Preallocate segment files.",
    ),
    def(
        "retention.bytes",
        Long,
        "-1",
        Some("log.retention.bytes"),
        Some(-1),
        "Largest partition size before old segments are deleted.",
    ),
    def(
        "retention.ms",
        Long,
        "604800000",
        Some("log.retention.ms"),
        Some(-1),
        "Longest time a segment is kept.",
    ),
    def(
        "segment.bytes",
        Int,
        "1073741824",
        Some("log.segment.bytes"),
        Some(1024 * 1024),
        "Size of a log segment file.",
    ),
    def(
        "segment.index.bytes",
        Int,
        "10485760",
        Some("log.index.size.max.bytes"),
        Some(4),
        "Size of a segment's offset index.",
    ),
    def(
        "segment.jitter.ms",
        Long,
        "0",
        Some("log.roll.jitter.ms"),
        Some(0),
        "Random jitter subtracted from segment.ms.",
    ),
    def(
        "segment.ms",
        Long,
        "604800000",
        Some("log.roll.ms"),
        Some(1),
        "Time after which a segment is rolled.",
    ),
    def(
        "unclean.leader.election.enable",
        Boolean,
        "false",
        Some("unclean.leader.election.enable"),
        None,
        "Allow out-of-sync replicas to become leader.",
    ),
];

/// The definition of a topic config key.
pub fn lookup(name: &str) -> Option<&'static ConfigDef> {
    TOPIC_CONFIGS.iter().find(|d| d.name == name)
}

/// Checks one key/value pair; the error text names the key, as Kafka's does.
pub fn validate(name: &str, value: &str) -> Result<(), String> {
    let d = lookup(name).ok_or_else(|| format!("Unknown topic config name: {name}"))?;
    let bad = |why: &str| format!("Invalid value {value} for configuration {name}: {why}");
    match d.kind {
        Boolean => {
            if !value.eq_ignore_ascii_case("true") && !value.eq_ignore_ascii_case("false") {
                return Err(bad("Expected value to be either true or false"));
            }
        }
        Int | Long => {
            let n: i64 = value
                .trim()
                .parse()
                .map_err(|_| bad("Not a number of the expected type"))?;
            if d.kind == Int && i32::try_from(n).is_err() {
                return Err(bad("Not a number of type INT"));
            }
            if let Some(min) = d.min {
                if n < min {
                    return Err(bad(&format!("Value must be at least {min}")));
                }
            }
        }
        Double => {
            let x: f64 = value
                .trim()
                .parse()
                .map_err(|_| bad("Not a number of type DOUBLE"))?;
            if name == "min.cleanable.dirty.ratio" && !(0.0..=1.0).contains(&x) {
                return Err(bad("Value must be between 0 and 1"));
            }
        }
        ConfigType::String | List => {
            if !d.allowed.is_empty() {
                let items: Vec<&str> = if d.kind == List {
                    value.split(',').map(str::trim).collect()
                } else {
                    vec![value]
                };
                if let Some(x) = items.iter().find(|x| !d.allowed.contains(x)) {
                    return Err(bad(&format!(
                        "String must be one of: {} (got {x})",
                        d.allowed.join(", ")
                    )));
                }
            }
        }
    }
    Ok(())
}

/// Validates a whole set of overrides.
pub fn validate_all(configs: &BTreeMap<String, String>) -> Result<(), String> {
    configs.iter().try_for_each(|(k, v)| validate(k, v))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validates_types_ranges_and_enums() {
        assert!(validate("retention.ms", "-1").is_ok());
        assert!(validate("retention.ms", "-2").is_err());
        assert!(validate("max.message.bytes", "2000000").is_ok());
        assert!(validate("max.message.bytes", "abc")
            .unwrap_err()
            .contains("max.message.bytes"));
        assert!(validate("max.message.bytes", "9999999999").is_err());
        assert!(validate("message.timestamp.type", "LogAppendTime").is_ok());
        assert!(validate("message.timestamp.type", "Wallclock").is_err());
        assert!(validate("cleanup.policy", "compact,delete").is_ok());
        assert!(validate("cleanup.policy", "compact,shred").is_err());
        assert!(validate("preallocate", "maybe").is_err());
        assert!(validate("no.such.key", "1").is_err());
    }

    #[test]
    fn table_is_sorted_and_defaults_validate() {
        for w in TOPIC_CONFIGS.windows(2) {
            assert!(w[0].name < w[1].name, "{} before {}", w[0].name, w[1].name);
        }
        for d in TOPIC_CONFIGS {
            assert!(validate(d.name, d.default).is_ok(), "{}", d.name);
        }
    }
}
