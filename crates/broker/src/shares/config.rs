//! A share group's effective settings: the broker's (`group.share.*`), with the group's own
//! configs (IncrementalAlterConfigs on the GROUP resource) over them.

use weir_coordinator::share::ShareSettings;
use weir_meta::MetadataImage;

/// What a share group's partitions follow.
#[derive(Debug, Clone)]
pub(crate) struct GroupShareConfig {
    /// Locks, delivery limit, in-flight limit and retry backoff.
    pub(crate) settings: ShareSettings,
    /// `share.auto.offset.reset=earliest`: a new share-partition starts at the log start.
    pub(crate) earliest: bool,
    /// `share.isolation.level=read_committed`.
    pub(crate) read_committed: bool,
    /// `errors.deadletterqueue.topic.name` (KIP-1191), if set.
    pub(crate) dlq_topic: Option<String>,
    /// `errors.deadletterqueue.copy.record.enable`: dead-letter records carry the original
    /// key, value and headers.
    pub(crate) dlq_copy_record: bool,
}

/// `group`'s settings: `broker`'s, overridden by the group's configs in `image`.
pub(crate) fn for_group(
    broker: &ShareSettings,
    image: &MetadataImage,
    group: &str,
) -> GroupShareConfig {
    let configs = image.group_configs.get(group);
    let get = |k: &str| configs.and_then(|c| c.get(k)).map(|v| v.trim().to_string());
    let int = |k: &str| get(k).and_then(|v| v.parse::<i64>().ok());
    let mut settings = broker.clone();
    if let Some(v) = int("share.record.lock.duration.ms") {
        settings.lock_duration_ms = v;
    }
    if let Some(v) = int("share.delivery.count.limit").and_then(|v| i16::try_from(v).ok()) {
        settings.delivery_count_limit = v;
    }
    if let Some(v) = int("share.partition.max.record.locks").and_then(|v| usize::try_from(v).ok()) {
        settings.max_in_flight = v;
    }
    if let Some(v) = get("share.renew.acknowledge.enable") {
        settings.renew_enabled = !v.eq_ignore_ascii_case("false");
    }
    if let Some(v) = int("share.retry.backoff.ms") {
        settings.retry_backoff_ms = v;
    }
    if let Some(v) = int("share.retry.backoff.max.ms") {
        settings.retry_backoff_max_ms = v;
    }
    let dlq_topic = get("errors.deadletterqueue.topic.name").filter(|v| !v.is_empty());
    settings.dead_letter = dlq_topic.is_some();
    GroupShareConfig {
        settings,
        dlq_copy_record: get("errors.deadletterqueue.copy.record.enable")
            .is_some_and(|v| v.eq_ignore_ascii_case("true")),
        dlq_topic,
        earliest: get("share.auto.offset.reset")
            .is_some_and(|v| v.eq_ignore_ascii_case("earliest")),
        read_committed: get("share.isolation.level")
            .is_some_and(|v| v.eq_ignore_ascii_case("read_committed")),
    }
}
