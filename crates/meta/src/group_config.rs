//! Group configs (Kafka's GROUP config resource, KIP-848 and KIP-932): per-group overrides
//! of the broker's group settings, set with IncrementalAlterConfigs. Kafka's keys, plus the
//! dead-letter topic of KIP-1191 and Weir's retry backoff for share groups.

/// A group config key, its default (as text) and what its values may be.
#[derive(Debug, Clone, Copy)]
pub struct GroupConfigDef {
    /// The key.
    pub name: &'static str,
    /// The default a group without an override gets.
    pub default: &'static str,
    /// The values it takes.
    pub kind: GroupConfigKind,
    /// What it does.
    pub doc: &'static str,
}

/// The values a group config takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupConfigKind {
    /// An integer in an inclusive range.
    Int(i64, i64),
    /// One of these words.
    OneOf(&'static [&'static str]),
    /// Any text (a topic name; empty means none).
    Text,
}

/// Every group config Weir knows.
pub const GROUP_CONFIGS: &[GroupConfigDef] = &[
    GroupConfigDef {
        name: "consumer.session.timeout.ms",
        default: "45000",
        kind: GroupConfigKind::Int(1, i32::MAX as i64),
        doc: "How long a KIP-848 consumer may go without a heartbeat.",
    },
    GroupConfigDef {
        name: "consumer.heartbeat.interval.ms",
        default: "5000",
        kind: GroupConfigKind::Int(1, i32::MAX as i64),
        doc: "How often KIP-848 consumers heartbeat.",
    },
    GroupConfigDef {
        name: "share.session.timeout.ms",
        default: "45000",
        kind: GroupConfigKind::Int(1, i32::MAX as i64),
        doc: "How long a share group member may go without a heartbeat.",
    },
    GroupConfigDef {
        name: "share.heartbeat.interval.ms",
        default: "5000",
        kind: GroupConfigKind::Int(1, i32::MAX as i64),
        doc: "How often share group members heartbeat.",
    },
    GroupConfigDef {
        name: "share.record.lock.duration.ms",
        default: "30000",
        kind: GroupConfigKind::Int(1_000, 3_600_000),
        doc: "How long a share group member holds an acquired record before it is released.",
    },
    GroupConfigDef {
        name: "share.delivery.count.limit",
        default: "5",
        kind: GroupConfigKind::Int(2, 10),
        doc: "Deliveries of a record before it is archived (or sent to the dead-letter topic).",
    },
    GroupConfigDef {
        name: "share.partition.max.record.locks",
        default: "2000",
        kind: GroupConfigKind::Int(100, 4000),
        doc: "The most records of a share-partition in flight (acquired or waiting) at once.",
    },
    GroupConfigDef {
        name: "share.renew.acknowledge.enable",
        default: "true",
        kind: GroupConfigKind::OneOf(&["true", "false"]),
        doc: "Whether share consumers may renew their acquisition locks (KIP-1222).",
    },
    GroupConfigDef {
        name: "share.auto.offset.reset",
        default: "latest",
        kind: GroupConfigKind::OneOf(&["latest", "earliest"]),
        doc: "Where a share group starts reading a partition it has no state for.",
    },
    GroupConfigDef {
        name: "share.isolation.level",
        default: "read_uncommitted",
        kind: GroupConfigKind::OneOf(&["read_uncommitted", "read_committed"]),
        doc: "Whether share consumers see records of open and aborted transactions.",
    },
    GroupConfigDef {
        name: "errors.deadletterqueue.topic.name",
        default: "",
        kind: GroupConfigKind::Text,
        doc: "KIP-1191: the topic rejected and undeliverable records are copied to.",
    },
    GroupConfigDef {
        name: "errors.deadletterqueue.copy.record.enable",
        default: "false",
        kind: GroupConfigKind::OneOf(&["true", "false"]),
        doc: "KIP-1191: whether dead-letter records carry the original key and value.",
    },
    GroupConfigDef {
        name: "share.retry.backoff.ms",
        default: "0",
        kind: GroupConfigKind::Int(0, 3_600_000),
        doc: "Weir: wait before a released or timed-out record is delivered again (doubles per delivery).",
    },
    GroupConfigDef {
        name: "share.retry.backoff.max.ms",
        default: "60000",
        kind: GroupConfigKind::Int(0, 86_400_000),
        doc: "Weir: the cap of the doubling retry backoff.",
    },
];

/// The definition of `key`, if it is a group config.
pub fn lookup(key: &str) -> Option<&'static GroupConfigDef> {
    GROUP_CONFIGS.iter().find(|d| d.name == key)
}

/// Checks `value` for `key`; the message of an INVALID_CONFIG otherwise.
pub fn validate(key: &str, value: &str) -> Result<(), String> {
    let def = lookup(key).ok_or_else(|| format!("Unknown group config name: {key}"))?;
    let bad = || format!("Invalid value {value} for configuration {key}");
    match def.kind {
        GroupConfigKind::Int(lo, hi) => {
            let v: i64 = value.trim().parse().map_err(|_| bad())?;
            if v < lo || v > hi {
                return Err(format!("{} (must be between {lo} and {hi})", bad()));
            }
        }
        GroupConfigKind::OneOf(words) => {
            if !words.contains(&value.trim().to_ascii_lowercase().as_str()) {
                return Err(format!("{} (one of {})", bad(), words.join(", ")));
            }
        }
        GroupConfigKind::Text => {
            // KIP-1191: an internal topic is never a dead-letter topic.
            if value.len() > 249 || value.starts_with("__") {
                return Err(bad());
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_checked() {
        assert!(validate("share.auto.offset.reset", "earliest").is_ok());
        assert!(validate("share.auto.offset.reset", "middle").is_err());
        assert!(validate("share.record.lock.duration.ms", "999").is_err());
        assert!(validate("share.delivery.count.limit", "3").is_ok());
        assert!(validate("no.such.key", "1").is_err());
        assert!(GROUP_CONFIGS
            .iter()
            .all(|d| validate(d.name, d.default).is_ok()));
    }
}
