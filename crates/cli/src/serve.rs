//! `weir serve`: every broker setting as a flag, a `WEIR_*` environment variable and a key
//! of a `--config` properties file named as in Kafka (`log.dirs`, `listeners`, ...).
//! A flag or variable wins over the file, and the file over the embedded default.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::str::FromStr;

use anyhow::{bail, Context};
use clap::Args;
use tracing::info;
use weir_broker::{Broker, BrokerConfig, GroupConfig, TxnConfig};

use crate::props::take;

/// Flags of `weir serve`.
#[derive(Args, Debug, Default)]
pub(crate) struct ServeArgs {
    /// A properties file (`key=value` lines, Kafka's key names) with settings.
    #[arg(long, env = "WEIR_CONFIG")]
    config: Option<PathBuf>,
    /// Where logs and metadata live [default: weir-data] (log.dirs).
    #[arg(long, env = "WEIR_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// The inter-broker Kafka listener's address [default: 127.0.0.1:9092] (listeners;
    /// more listeners and their protocols through the config file).
    #[arg(long, env = "WEIR_LISTEN")]
    listen: Option<SocketAddr>,
    /// HOST:PORT advertised for it [default: the bound address] (advertised.listeners).
    #[arg(long, env = "WEIR_ADVERTISED_LISTENER")]
    advertised_listener: Option<String>,
    /// A SCRAM user created with the cluster when this node first formats it, as Kafka's
    /// `kafka-storage format --add-scram`: 'SCRAM-SHA-512=[name=admin,password=secret]'
    /// (optionally `iterations=N`; repeatable). Ignored once the cluster exists.
    #[arg(long = "add-scram")]
    add_scram: Vec<String>,
    /// Share group settings.
    #[command(flatten)]
    share: crate::share_settings::ShareArgs,
    /// This node's id [default: 1] (node.id).
    #[arg(long, env = "WEIR_NODE_ID")]
    node_id: Option<i32>,
    /// Create unknown topics on metadata requests [default: true] (auto.create.topics.enable).
    #[arg(long, env = "WEIR_AUTO_CREATE_TOPICS_ENABLE")]
    auto_create_topics_enable: Option<bool>,
    /// Partitions of an auto-created topic [default: 1] (num.partitions).
    #[arg(long, env = "WEIR_NUM_PARTITIONS")]
    num_partitions: Option<i32>,
    /// Largest record batch a topic accepts by default [default: 1048588] (message.max.bytes).
    #[arg(long, env = "WEIR_MESSAGE_MAX_BYTES")]
    message_max_bytes: Option<i32>,
    /// Segment file size [default: 1073741824] (log.segment.bytes).
    #[arg(long, env = "WEIR_LOG_SEGMENT_BYTES")]
    log_segment_bytes: Option<u64>,
    /// Time after which a segment is rolled [default: 604800000] (log.roll.ms).
    #[arg(long, env = "WEIR_LOG_ROLL_MS")]
    log_roll_ms: Option<i64>,
    /// Background fsync period for acks=0/1 data [default: 1000] (log.flush.interval.ms).
    #[arg(long, env = "WEIR_LOG_FLUSH_INTERVAL_MS")]
    log_flush_interval_ms: Option<u64>,
    /// Largest request frame [default: 104857600] (socket.request.max.bytes).
    #[arg(long, env = "WEIR_SOCKET_REQUEST_MAX_BYTES")]
    socket_request_max_bytes: Option<usize>,
    /// Partitions of __consumer_offsets, fixed once created [default: 50]
    /// (offsets.topic.num.partitions).
    #[arg(long, env = "WEIR_OFFSETS_TOPIC_NUM_PARTITIONS")]
    offsets_topic_num_partitions: Option<i32>,
    /// Replicas of __consumer_offsets, fewer while fewer brokers are registered [default: 3]
    /// (offsets.topic.replication.factor).
    #[arg(long, env = "WEIR_OFFSETS_TOPIC_REPLICATION_FACTOR")]
    offsets_topic_replication_factor: Option<i16>,
    /// How long an empty group's first rebalance waits for more members [default: 3000]
    /// (group.initial.rebalance.delay.ms).
    #[arg(long, env = "WEIR_GROUP_INITIAL_REBALANCE_DELAY_MS")]
    group_initial_rebalance_delay_ms: Option<i64>,
    /// Smallest session timeout a member may ask for [default: 6000]
    /// (group.min.session.timeout.ms).
    #[arg(long, env = "WEIR_GROUP_MIN_SESSION_TIMEOUT_MS")]
    group_min_session_timeout_ms: Option<i32>,
    /// Largest session timeout a member may ask for [default: 1800000]
    /// (group.max.session.timeout.ms).
    #[arg(long, env = "WEIR_GROUP_MAX_SESSION_TIMEOUT_MS")]
    group_max_session_timeout_ms: Option<i32>,
    /// Most members of a classic group [default: unlimited] (group.max.size).
    #[arg(long, env = "WEIR_GROUP_MAX_SIZE")]
    group_max_size: Option<usize>,
    /// How long a KIP-848 consumer may go without a heartbeat [default: 45000]
    /// (group.consumer.session.timeout.ms).
    #[arg(long, env = "WEIR_GROUP_CONSUMER_SESSION_TIMEOUT_MS")]
    group_consumer_session_timeout_ms: Option<i64>,
    /// How often KIP-848 consumers heartbeat [default: 5000]
    /// (group.consumer.heartbeat.interval.ms).
    #[arg(long, env = "WEIR_GROUP_CONSUMER_HEARTBEAT_INTERVAL_MS")]
    group_consumer_heartbeat_interval_ms: Option<i32>,
    /// How long committed offsets outlive their group's activity [default: 10080]
    /// (offsets.retention.minutes).
    #[arg(long, env = "WEIR_OFFSETS_RETENTION_MINUTES")]
    offsets_retention_minutes: Option<i64>,
    /// How often expired offsets are removed [default: 600000]
    /// (offsets.retention.check.interval.ms).
    #[arg(long, env = "WEIR_OFFSETS_RETENTION_CHECK_INTERVAL_MS")]
    offsets_retention_check_interval_ms: Option<i64>,
    /// Partitions of __transaction_state, fixed once created [default: 50]
    /// (transaction.state.log.num.partitions).
    #[arg(long, env = "WEIR_TRANSACTION_STATE_LOG_NUM_PARTITIONS")]
    transaction_state_log_num_partitions: Option<i32>,
    /// Replicas of __transaction_state, fewer while fewer brokers are registered
    /// [default: 3] (transaction.state.log.replication.factor).
    #[arg(long, env = "WEIR_TRANSACTION_STATE_LOG_REPLICATION_FACTOR")]
    transaction_state_log_replication_factor: Option<i16>,
    /// Longest transaction.timeout.ms a producer may ask for [default: 900000]
    /// (transaction.max.timeout.ms).
    #[arg(long, env = "WEIR_TRANSACTION_MAX_TIMEOUT_MS")]
    transaction_max_timeout_ms: Option<i32>,
    /// How often transactions past their timeout are aborted [default: 10000]
    /// (transaction.abort.timed.out.transaction.cleanup.interval.ms).
    #[arg(
        long,
        env = "WEIR_TRANSACTION_ABORT_TIMED_OUT_TRANSACTION_CLEANUP_INTERVAL_MS"
    )]
    transaction_abort_timed_out_transaction_cleanup_interval_ms: Option<u64>,
    /// How often idle transactional ids are removed [default: 3600000]
    /// (transaction.remove.expired.transaction.cleanup.interval.ms).
    #[arg(
        long,
        env = "WEIR_TRANSACTION_REMOVE_EXPIRED_TRANSACTION_CLEANUP_INTERVAL_MS"
    )]
    transaction_remove_expired_transaction_cleanup_interval_ms: Option<u64>,
    /// How long an idle transactional id is kept [default: 604800000]
    /// (transactional.id.expiration.ms).
    #[arg(long, env = "WEIR_TRANSACTIONAL_ID_EXPIRATION_MS")]
    transactional_id_expiration_ms: Option<i64>,
    /// How long a partition remembers an idle producer's sequence numbers
    /// [default: 86400000] (producer.id.expiration.ms).
    #[arg(long, env = "WEIR_PRODUCER_ID_EXPIRATION_MS")]
    producer_id_expiration_ms: Option<i64>,
    /// How long records are kept, -1 forever [default: 604800000] (log.retention.ms; the
    /// file also takes log.retention.minutes and log.retention.hours).
    #[arg(long, env = "WEIR_LOG_RETENTION_MS", allow_negative_numbers = true)]
    log_retention_ms: Option<i64>,
    /// Most bytes kept per partition, -1 unlimited [default: -1] (log.retention.bytes).
    #[arg(long, env = "WEIR_LOG_RETENTION_BYTES", allow_negative_numbers = true)]
    log_retention_bytes: Option<i64>,
    /// Default cleanup policy: delete, compact or both [default: delete]
    /// (log.cleanup.policy).
    #[arg(long, env = "WEIR_LOG_CLEANUP_POLICY")]
    log_cleanup_policy: Option<String>,
    /// How often retention runs [default: 300000] (log.retention.check.interval.ms).
    #[arg(long, env = "WEIR_LOG_RETENTION_CHECK_INTERVAL_MS")]
    log_retention_check_interval_ms: Option<u64>,
    /// How long a deleted partition's files stay, renamed aside, before they are removed
    /// [default: 60000] (log.segment.delete.delay.ms).
    #[arg(long, env = "WEIR_LOG_SEGMENT_DELETE_DELAY_MS")]
    log_segment_delete_delay_ms: Option<u64>,
    /// How many fetch sessions (KIP-227) the broker keeps [default: 1000]
    /// (max.incremental.fetch.session.cache.slots).
    #[arg(long, env = "WEIR_MAX_INCREMENTAL_FETCH_SESSION_CACHE_SLOTS")]
    max_incremental_fetch_session_cache_slots: Option<usize>,
    /// Whether requests, fetches and appends are measured for /metrics [default: true]
    /// (metrics.enable).
    #[arg(long, env = "WEIR_METRICS_ENABLE")]
    metrics_enable: Option<bool>,
    /// Topics with more partitions than this get per-topic series only [default: 100]
    /// (metrics.partition.series.limit).
    #[arg(long, env = "WEIR_METRICS_PARTITION_SERIES_LIMIT")]
    metrics_partition_series_limit: Option<usize>,
    /// How often consumer lag and throughput are sampled for /metrics and the console
    /// [default: 5000] (metrics.sample.interval.ms).
    #[arg(long, env = "WEIR_METRICS_SAMPLE_INTERVAL_MS")]
    metrics_sample_interval_ms: Option<u64>,
    /// Whether compacted topics are cleaned [default: true] (log.cleaner.enable).
    #[arg(long, env = "WEIR_LOG_CLEANER_ENABLE")]
    log_cleaner_enable: Option<bool>,
    /// The cleaner's pause when nothing is dirty enough [default: 15000]
    /// (log.cleaner.backoff.ms).
    #[arg(long, env = "WEIR_LOG_CLEANER_BACKOFF_MS")]
    log_cleaner_backoff_ms: Option<u64>,
    /// Memory for the cleaner's key map [default: 134217728]
    /// (log.cleaner.dedupe.buffer.size).
    #[arg(long, env = "WEIR_LOG_CLEANER_DEDUPE_BUFFER_SIZE")]
    log_cleaner_dedupe_buffer_size: Option<usize>,
    /// The cleaner's I/O rate limit [default: unlimited]
    /// (log.cleaner.io.max.bytes.per.second).
    #[arg(long, env = "WEIR_LOG_CLEANER_IO_MAX_BYTES_PER_SECOND")]
    log_cleaner_io_max_bytes_per_second: Option<f64>,
    /// Default tombstone lifetime on compacted topics [default: 86400000]
    /// (log.cleaner.delete.retention.ms).
    #[arg(long, env = "WEIR_LOG_CLEANER_DELETE_RETENTION_MS")]
    log_cleaner_delete_retention_ms: Option<i64>,
    /// Default dirty share that triggers cleaning [default: 0.5]
    /// (log.cleaner.min.cleanable.ratio).
    #[arg(long, env = "WEIR_LOG_CLEANER_MIN_CLEANABLE_RATIO")]
    log_cleaner_min_cleanable_ratio: Option<f64>,
    /// Address the metadata quorum (controller) listener binds; needed in a cluster.
    #[arg(long, env = "WEIR_CONTROLLER_LISTEN")]
    controller_listen: Option<SocketAddr>,
    /// Address of the HTTP listener (health, readiness), or `off`
    /// [default: 127.0.0.1:9644] (http.listen).
    #[arg(long, env = "WEIR_HTTP_LISTEN")]
    http_listen: Option<HttpListen>,
    /// The metadata quorum's voters, ID@HOST:PORT,... [default: this node alone]
    /// (controller.quorum.voters).
    #[arg(long, env = "WEIR_CONTROLLER_VOTERS")]
    controller_voters: Option<String>,
    /// This broker's rack, for rack-aware replica placement (broker.rack).
    #[arg(long, env = "WEIR_RACK")]
    rack: Option<String>,
    /// A broker silent this long is fenced [default: 9000] (broker.session.timeout.ms).
    #[arg(long, env = "WEIR_BROKER_SESSION_TIMEOUT_MS")]
    broker_session_timeout_ms: Option<u64>,
    /// How often this broker heartbeats to the controller [default: 2000]
    /// (broker.heartbeat.interval.ms).
    #[arg(long, env = "WEIR_BROKER_HEARTBEAT_INTERVAL_MS")]
    broker_heartbeat_interval_ms: Option<u64>,
    /// A follower not caught up for this long leaves the ISR [default: 30000]
    /// (replica.lag.time.max.ms).
    #[arg(long, env = "WEIR_REPLICA_LAG_TIME_MAX_MS")]
    replica_lag_time_max_ms: Option<u64>,
    /// Move leadership back to preferred replicas [default: true]
    /// (auto.leader.rebalance.enable).
    #[arg(long, env = "WEIR_AUTO_LEADER_REBALANCE_ENABLE")]
    auto_leader_rebalance_enable: Option<bool>,
    /// How often the controller checks leader balance [default: 300]
    /// (leader.imbalance.check.interval.seconds).
    #[arg(long, env = "WEIR_LEADER_IMBALANCE_CHECK_INTERVAL_SECONDS")]
    leader_imbalance_check_interval_seconds: Option<u64>,
    /// Share of a broker's preferred partitions led elsewhere before they move back
    /// [default: 10] (leader.imbalance.per.broker.percentage).
    #[arg(long, env = "WEIR_LEADER_IMBALANCE_PER_BROKER_PERCENTAGE")]
    leader_imbalance_per_broker_percentage: Option<u32>,
}

/// Reads `key=value` lines; `#` and `!` start comments, as in Java properties files.
fn read_properties(path: &PathBuf) -> anyhow::Result<BTreeMap<String, String>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut out = BTreeMap::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with('!') {
            continue;
        }
        let Some((k, v)) = line.split_once('=').or_else(|| line.split_once(':')) else {
            bail!("{}:{}: expected key=value", path.display(), n + 1);
        };
        out.insert(k.trim().to_string(), v.trim().to_string());
    }
    Ok(out)
}

/// Where the HTTP listener binds: an address, or `off`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum HttpListen {
    /// No HTTP listener.
    Off,
    /// Bind here.
    At(SocketAddr),
}

impl FromStr for HttpListen {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.eq_ignore_ascii_case("off") {
            return Ok(HttpListen::Off);
        }
        s.parse()
            .map(HttpListen::At)
            .map_err(|e| format!("{s}: {e} (HOST:PORT or off)"))
    }
}

impl ServeArgs {
    /// Builds the broker config: flags and variables, then the file, then defaults.
    pub(crate) fn config(&self) -> anyhow::Result<BrokerConfig> {
        let mut file = match &self.config {
            Some(p) => read_properties(p)?,
            None => BTreeMap::new(),
        };
        let d = BrokerConfig::default();
        let listeners = crate::listeners::from_file(
            &mut file,
            self.listen,
            self.advertised_listener.clone(),
            d.listen,
        )?;
        let g = d.group.clone();
        let group = GroupConfig {
            initial_rebalance_delay_ms: self
                .group_initial_rebalance_delay_ms
                .or(take(&mut file, "group.initial.rebalance.delay.ms")?)
                .unwrap_or(g.initial_rebalance_delay_ms),
            min_session_timeout_ms: self
                .group_min_session_timeout_ms
                .or(take(&mut file, "group.min.session.timeout.ms")?)
                .unwrap_or(g.min_session_timeout_ms),
            max_session_timeout_ms: self
                .group_max_session_timeout_ms
                .or(take(&mut file, "group.max.session.timeout.ms")?)
                .unwrap_or(g.max_session_timeout_ms),
            max_size: self
                .group_max_size
                .or(take(&mut file, "group.max.size")?)
                .unwrap_or(g.max_size),
            offsets_retention_ms: match self
                .offsets_retention_minutes
                .or(take(&mut file, "offsets.retention.minutes")?)
            {
                Some(m) if m < 1 => bail!("offsets.retention.minutes must be >= 1, got {m}"),
                Some(m) => m.saturating_mul(60_000),
                None => g.offsets_retention_ms,
            },
            offsets_retention_check_interval_ms: self
                .offsets_retention_check_interval_ms
                .or(take(&mut file, "offsets.retention.check.interval.ms")?)
                .unwrap_or(g.offsets_retention_check_interval_ms),
            consumer_session_timeout_ms: self
                .group_consumer_session_timeout_ms
                .or(take(&mut file, "group.consumer.session.timeout.ms")?)
                .unwrap_or(g.consumer_session_timeout_ms),
            consumer_heartbeat_interval_ms: self
                .group_consumer_heartbeat_interval_ms
                .or(take(&mut file, "group.consumer.heartbeat.interval.ms")?)
                .unwrap_or(g.consumer_heartbeat_interval_ms),
            ..g
        };
        let t = d.txn.clone();
        let txn = TxnConfig {
            max_timeout_ms: self
                .transaction_max_timeout_ms
                .or(take(&mut file, "transaction.max.timeout.ms")?)
                .unwrap_or(t.max_timeout_ms),
            abort_check_interval_ms: self
                .transaction_abort_timed_out_transaction_cleanup_interval_ms
                .or(take(
                    &mut file,
                    "transaction.abort.timed.out.transaction.cleanup.interval.ms",
                )?)
                .unwrap_or(t.abort_check_interval_ms),
            remove_expired_interval_ms: self
                .transaction_remove_expired_transaction_cleanup_interval_ms
                .or(take(
                    &mut file,
                    "transaction.remove.expired.transaction.cleanup.interval.ms",
                )?)
                .unwrap_or(t.remove_expired_interval_ms),
            id_expiration_ms: self
                .transactional_id_expiration_ms
                .or(take(&mut file, "transactional.id.expiration.ms")?)
                .unwrap_or(t.id_expiration_ms),
        };
        let config = BrokerConfig {
            group,
            txn,
            transaction_state_log_num_partitions: self
                .transaction_state_log_num_partitions
                .or(take(&mut file, "transaction.state.log.num.partitions")?)
                .unwrap_or(d.transaction_state_log_num_partitions),
            producer_id_expiration_ms: self
                .producer_id_expiration_ms
                .or(take(&mut file, "producer.id.expiration.ms")?)
                .unwrap_or(d.producer_id_expiration_ms),
            offsets_topic_num_partitions: self
                .offsets_topic_num_partitions
                .or(take(&mut file, "offsets.topic.num.partitions")?)
                .unwrap_or(d.offsets_topic_num_partitions),
            offsets_topic_replication_factor: self
                .offsets_topic_replication_factor
                .or(take(&mut file, "offsets.topic.replication.factor")?)
                .unwrap_or(d.offsets_topic_replication_factor),
            transaction_state_log_replication_factor: self
                .transaction_state_log_replication_factor
                .or(take(&mut file, "transaction.state.log.replication.factor")?)
                .unwrap_or(d.transaction_state_log_replication_factor),
            data_dir: self
                .data_dir
                .clone()
                .or(take(&mut file, "log.dirs")?)
                .unwrap_or(d.data_dir),
            listen: listeners.listen,
            advertised: listeners.advertised.clone(),
            node_id: self
                .node_id
                .or(take(&mut file, "node.id")?)
                .unwrap_or(d.node_id),
            auto_create_topics_enable: self
                .auto_create_topics_enable
                .or(take(&mut file, "auto.create.topics.enable")?)
                .unwrap_or(d.auto_create_topics_enable),
            num_partitions: self
                .num_partitions
                .or(take(&mut file, "num.partitions")?)
                .unwrap_or(d.num_partitions),
            message_max_bytes: self
                .message_max_bytes
                .or(take(&mut file, "message.max.bytes")?)
                .unwrap_or(d.message_max_bytes),
            log_segment_bytes: self
                .log_segment_bytes
                .or(take(&mut file, "log.segment.bytes")?)
                .unwrap_or(d.log_segment_bytes),
            log_roll_ms: self
                .log_roll_ms
                .or(take(&mut file, "log.roll.ms")?)
                .unwrap_or(d.log_roll_ms),
            log_flush_interval_ms: self
                .log_flush_interval_ms
                .or(take(&mut file, "log.flush.interval.ms")?)
                .unwrap_or(d.log_flush_interval_ms),
            socket_request_max_bytes: self
                .socket_request_max_bytes
                .or(take(&mut file, "socket.request.max.bytes")?)
                .unwrap_or(d.socket_request_max_bytes),
            ..d
        };
        let mut config = config;
        let mut log_defaults = std::collections::BTreeMap::new();
        // Kept as given: DescribeConfigs reports each, and log.retention.ms wins over
        // .minutes, which wins over .hours.
        if let Some(v) = self
            .log_retention_ms
            .or(take::<i64>(&mut file, "log.retention.ms")?)
        {
            log_defaults.insert("log.retention.ms".to_string(), v.to_string());
        }
        for key in ["log.retention.minutes", "log.retention.hours"] {
            if let Some(v) = take::<i64>(&mut file, key)? {
                log_defaults.insert(key.to_string(), v.to_string());
            }
        }
        let flags = [
            (
                "log.retention.bytes",
                self.log_retention_bytes.map(|v| v.to_string()),
            ),
            ("log.cleanup.policy", self.log_cleanup_policy.clone()),
            (
                "log.cleaner.delete.retention.ms",
                self.log_cleaner_delete_retention_ms.map(|v| v.to_string()),
            ),
            (
                "log.cleaner.min.cleanable.ratio",
                self.log_cleaner_min_cleanable_ratio.map(|v| v.to_string()),
            ),
        ];
        for (key, flag) in flags {
            if let Some(v) = flag {
                log_defaults.insert(key.to_string(), v);
                file.remove(key);
            }
        }
        // Any other broker-wide default of a topic config (log.cleaner.min.compaction.lag.ms,
        // log.message.timestamp.type, ...) is taken from the file as it is.
        let keys: Vec<String> = file.keys().cloned().collect();
        for key in keys {
            if weir_broker::config::is_log_default_key(&key) {
                if let Some(v) = file.remove(&key) {
                    log_defaults.insert(key, v);
                }
            }
        }
        config.log_defaults = log_defaults;
        config.log_retention_check_interval_ms = self
            .log_retention_check_interval_ms
            .or(take(&mut file, "log.retention.check.interval.ms")?)
            .unwrap_or(config.log_retention_check_interval_ms);
        config.log_segment_delete_delay_ms = self
            .log_segment_delete_delay_ms
            .or(take(&mut file, "log.segment.delete.delay.ms")?)
            .unwrap_or(config.log_segment_delete_delay_ms);
        config.max_incremental_fetch_session_cache_slots = self
            .max_incremental_fetch_session_cache_slots
            .or(take(
                &mut file,
                "max.incremental.fetch.session.cache.slots",
            )?)
            .unwrap_or(config.max_incremental_fetch_session_cache_slots);
        config.metrics_enable = self
            .metrics_enable
            .or(take(&mut file, "metrics.enable")?)
            .unwrap_or(config.metrics_enable);
        config.metrics_partition_series_limit = self
            .metrics_partition_series_limit
            .or(take(&mut file, "metrics.partition.series.limit")?)
            .unwrap_or(config.metrics_partition_series_limit);
        config.metrics_sample_interval_ms = self
            .metrics_sample_interval_ms
            .or(take(&mut file, "metrics.sample.interval.ms")?)
            .unwrap_or(config.metrics_sample_interval_ms)
            .max(100);
        config.log_cleaner_enable = self
            .log_cleaner_enable
            .or(take(&mut file, "log.cleaner.enable")?)
            .unwrap_or(config.log_cleaner_enable);
        config.log_cleaner_backoff_ms = self
            .log_cleaner_backoff_ms
            .or(take(&mut file, "log.cleaner.backoff.ms")?)
            .unwrap_or(config.log_cleaner_backoff_ms);
        config.log_cleaner_dedupe_buffer_size = self
            .log_cleaner_dedupe_buffer_size
            .or(take(&mut file, "log.cleaner.dedupe.buffer.size")?)
            .unwrap_or(config.log_cleaner_dedupe_buffer_size);
        config.log_cleaner_io_max_bytes_per_second = self
            .log_cleaner_io_max_bytes_per_second
            .or(take(&mut file, "log.cleaner.io.max.bytes.per.second")?)
            .unwrap_or(config.log_cleaner_io_max_bytes_per_second);
        config.controller_listen = self.controller_listen.or(listeners.controller);
        config.controller_tls = listeners.controller_tls.clone();
        config.http_listen = match self.http_listen.or(take(&mut file, "http.listen")?) {
            Some(HttpListen::Off) => None,
            Some(HttpListen::At(addr)) => Some(addr),
            None => Some(weir_broker::config::DEFAULT_HTTP_LISTEN),
        };
        if let Some(v) = self
            .controller_voters
            .clone()
            .or(file.remove("controller.quorum.voters"))
        {
            config.controller_voters =
                weir_broker::config::parse_voters(&v).map_err(anyhow::Error::msg)?;
        }
        config.rack = self.rack.clone().or(file.remove("broker.rack"));
        config.broker_session_timeout_ms = self
            .broker_session_timeout_ms
            .or(take(&mut file, "broker.session.timeout.ms")?)
            .unwrap_or(config.broker_session_timeout_ms);
        config.broker_heartbeat_interval_ms = self
            .broker_heartbeat_interval_ms
            .or(take(&mut file, "broker.heartbeat.interval.ms")?)
            .unwrap_or(config.broker_heartbeat_interval_ms);
        config.replica_lag_time_max_ms = self
            .replica_lag_time_max_ms
            .or(take(&mut file, "replica.lag.time.max.ms")?)
            .unwrap_or(config.replica_lag_time_max_ms)
            .max(1);
        config.auto_leader_rebalance_enable = self
            .auto_leader_rebalance_enable
            .or(take(&mut file, "auto.leader.rebalance.enable")?)
            .unwrap_or(config.auto_leader_rebalance_enable);
        config.leader_imbalance_check_interval_seconds = self
            .leader_imbalance_check_interval_seconds
            .or(take(&mut file, "leader.imbalance.check.interval.seconds")?)
            .unwrap_or(config.leader_imbalance_check_interval_seconds)
            .max(1);
        config.leader_imbalance_per_broker_percentage = self
            .leader_imbalance_per_broker_percentage
            .or(take(&mut file, "leader.imbalance.per.broker.percentage")?)
            .unwrap_or(config.leader_imbalance_per_broker_percentage)
            .min(100);
        config.security = listeners.security;
        config.more_listeners = listeners.more;
        config.authorizer = crate::security::authorizer(&mut file)?;
        config.http_tls_listener = file
            .remove("http.tls.listener")
            .map(|v| v.trim().to_ascii_uppercase())
            .filter(|v| !v.is_empty());
        config.http_basic_auth = match file.remove("http.auth").as_deref().map(str::trim) {
            None | Some("none") => false,
            Some("basic") => true,
            Some(other) => bail!("http.auth must be none or basic, got {other}"),
        };
        config.bootstrap_scram = self
            .add_scram
            .iter()
            .map(|s| crate::security::add_scram(s))
            .collect::<anyhow::Result<_>>()?;
        self.share.apply(&mut file, &mut config)?;
        if let Some(unknown) = file.keys().next() {
            bail!("unknown config key {unknown}");
        }
        config.validate().map_err(anyhow::Error::msg)?;
        Ok(config)
    }
}

/// Runs a broker until SIGINT or SIGTERM, then flushes and closes every log.
pub(crate) async fn run(args: ServeArgs) -> anyhow::Result<()> {
    let broker = Broker::start(args.config()?)
        .await
        .context("starting the broker")?;
    println!("weir listening on {}", broker.local_addr);
    if let Some(http) = broker.http_addr {
        println!("weir http on {http}");
    }
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => info!("SIGINT: shutting down"),
        _ = term.recv() => info!("SIGTERM: shutting down"),
    }
    broker.shutdown().await;
    Ok(())
}

#[cfg(test)]
mod tests;
