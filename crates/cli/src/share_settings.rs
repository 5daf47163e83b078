//! The share group settings of `weir serve` (KIP-932), as Kafka names them: the broker
//! defaults of every share group (`group.share.*`) and the share coordinator's internal
//! topic (`share.coordinator.state.topic.*`). Each a flag, a `WEIR_*` variable and a key of
//! the config file.

use std::collections::BTreeMap;

use clap::Args;
use weir_broker::BrokerConfig;

use crate::props::take;

/// Flags of `weir serve` for share groups.
#[derive(Args, Debug, Default)]
pub(crate) struct ShareArgs {
    /// How long a share consumer holds an acquired record [default: 30000]
    /// (group.share.record.lock.duration.ms).
    #[arg(long, env = "WEIR_GROUP_SHARE_RECORD_LOCK_DURATION_MS")]
    group_share_record_lock_duration_ms: Option<i64>,
    /// Deliveries of a record before it is archived [default: 5]
    /// (group.share.delivery.count.limit).
    #[arg(long, env = "WEIR_GROUP_SHARE_DELIVERY_COUNT_LIMIT")]
    group_share_delivery_count_limit: Option<i16>,
    /// Records in flight per share-partition [default: 2000]
    /// (group.share.partition.max.record.locks).
    #[arg(long, env = "WEIR_GROUP_SHARE_PARTITION_MAX_RECORD_LOCKS")]
    group_share_partition_max_record_locks: Option<usize>,
    /// How long a share group member may go without a heartbeat [default: 45000]
    /// (group.share.session.timeout.ms).
    #[arg(long, env = "WEIR_GROUP_SHARE_SESSION_TIMEOUT_MS")]
    group_share_session_timeout_ms: Option<i64>,
    /// How often share group members heartbeat [default: 5000]
    /// (group.share.heartbeat.interval.ms).
    #[arg(long, env = "WEIR_GROUP_SHARE_HEARTBEAT_INTERVAL_MS")]
    group_share_heartbeat_interval_ms: Option<i32>,
    /// Partitions of __share_group_state, fixed once created [default: 50]
    /// (share.coordinator.state.topic.num.partitions).
    #[arg(long, env = "WEIR_SHARE_COORDINATOR_STATE_TOPIC_NUM_PARTITIONS")]
    share_coordinator_state_topic_num_partitions: Option<i32>,
    /// Replicas of __share_group_state [default: 3, fewer while fewer brokers run]
    /// (share.coordinator.state.topic.replication.factor).
    #[arg(long, env = "WEIR_SHARE_COORDINATOR_STATE_TOPIC_REPLICATION_FACTOR")]
    share_coordinator_state_topic_replication_factor: Option<i16>,
    /// min.insync.replicas of __share_group_state [default: 2]
    /// (share.coordinator.state.topic.min.isr).
    #[arg(long, env = "WEIR_SHARE_COORDINATOR_STATE_TOPIC_MIN_ISR")]
    share_coordinator_state_topic_min_isr: Option<i16>,
    /// What a share group's dead-letter topic name must start with; empty allows any
    /// [default: dlq.] (errors.deadletterqueue.topic.name.prefix).
    #[arg(long, env = "WEIR_ERRORS_DEADLETTERQUEUE_TOPIC_NAME_PREFIX")]
    errors_deadletterqueue_topic_name_prefix: Option<String>,
    /// Create a missing dead-letter topic on first use [default: false]
    /// (errors.deadletterqueue.auto.create.topics.enable).
    #[arg(long, env = "WEIR_ERRORS_DEADLETTERQUEUE_AUTO_CREATE_TOPICS_ENABLE")]
    errors_deadletterqueue_auto_create_topics_enable: Option<bool>,
}

impl ShareArgs {
    /// Sets `config`'s share settings from the flags, then the file's keys.
    pub(crate) fn apply(
        &self,
        file: &mut BTreeMap<String, String>,
        config: &mut BrokerConfig,
    ) -> anyhow::Result<()> {
        let g = &mut config.group;
        if let Some(v) = self
            .group_share_record_lock_duration_ms
            .or(take(file, "group.share.record.lock.duration.ms")?)
        {
            g.share.lock_duration_ms = v;
        }
        if let Some(v) = self
            .group_share_delivery_count_limit
            .or(take(file, "group.share.delivery.count.limit")?)
        {
            g.share.delivery_count_limit = v;
        }
        if let Some(v) = self
            .group_share_partition_max_record_locks
            .or(take(file, "group.share.partition.max.record.locks")?)
        {
            g.share.max_in_flight = v;
        }
        if let Some(v) = self
            .group_share_session_timeout_ms
            .or(take(file, "group.share.session.timeout.ms")?)
        {
            g.share_session_timeout_ms = v;
        }
        if let Some(v) = self
            .group_share_heartbeat_interval_ms
            .or(take(file, "group.share.heartbeat.interval.ms")?)
        {
            g.share_heartbeat_interval_ms = v;
        }
        if let Some(v) = self
            .share_coordinator_state_topic_num_partitions
            .or(take(file, "share.coordinator.state.topic.num.partitions")?)
        {
            config.share_state_topic_num_partitions = v;
        }
        if let Some(v) = self
            .share_coordinator_state_topic_replication_factor
            .or(take(
                file,
                "share.coordinator.state.topic.replication.factor",
            )?)
        {
            config.share_state_topic_replication_factor = v;
        }
        if let Some(v) = self
            .share_coordinator_state_topic_min_isr
            .or(take(file, "share.coordinator.state.topic.min.isr")?)
        {
            config.share_state_topic_min_isr = v;
        }
        if let Some(v) = self
            .errors_deadletterqueue_topic_name_prefix
            .clone()
            .or(take(file, "errors.deadletterqueue.topic.name.prefix")?)
        {
            config.dlq_topic_prefix = v;
        }
        if let Some(v) = self
            .errors_deadletterqueue_auto_create_topics_enable
            .or(take(
                file,
                "errors.deadletterqueue.auto.create.topics.enable",
            )?)
        {
            config.dlq_auto_create = v;
        }
        Ok(())
    }
}
