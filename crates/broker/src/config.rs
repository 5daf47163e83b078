//! Broker settings: a plain struct with Kafka's names where Kafka has the setting, a
//! `Default` that is Weir's embedded default, and `validate()`.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;

use weir_coordinator::txn::TxnConfig;
use weir_coordinator::GroupConfig;

/// Where `weir serve` serves HTTP (health, readiness) unless `http.listen` says otherwise.
pub const DEFAULT_HTTP_LISTEN: SocketAddr = SocketAddr::new(
    std::net::IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 0, 1)),
    9644,
);

/// A SCRAM user created with the cluster: its name, mechanism and salted credential (never
/// the password). `Debug` shows the name and mechanism only.
#[derive(Clone)]
pub struct BootstrapScram {
    /// The user name.
    pub user: String,
    /// SCRAM-SHA-256 or SCRAM-SHA-512.
    pub mechanism: weir_auth::scram::Mechanism,
    /// The salt, StoredKey, ServerKey and iterations.
    pub credential: weir_auth::scram::ScramCredential,
}

impl std::fmt::Debug for BootstrapScram {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({})", self.user, self.mechanism.name())
    }
}

impl BootstrapScram {
    /// The metadata change that stores it.
    pub fn change(&self) -> weir_meta::users::ScramChange {
        let c = &self.credential;
        weir_meta::users::ScramChange::Upsert {
            mechanism: self.mechanism.code(),
            credential: weir_meta::StoredScram {
                salt: c.salt.clone(),
                stored_key: c.stored_key.clone(),
                server_key: c.server_key.clone(),
                iterations: i32::try_from(c.iterations).unwrap_or(i32::MAX),
            },
        }
    }
}

/// Everything a broker needs to start.
#[derive(Debug, Clone)]
pub struct BrokerConfig {
    /// `node.id`.
    pub node_id: i32,
    /// Where logs and metadata live (`log.dirs`).
    pub data_dir: PathBuf,
    /// Address the inter-broker Kafka listener binds (`listeners`; the only one unless
    /// `more_listeners` has others): other brokers and Weir's own tools connect there.
    pub listen: SocketAddr,
    /// Host and port advertised for it; `None` advertises the bound address.
    pub advertised: Option<(String, u16)>,
    /// Its security (name, protocol, TLS) and the SASL settings of every listener.
    pub security: crate::listener_security::ListenerSecurity,
    /// The other Kafka listeners (`listeners` beyond `inter.broker.listener.name`).
    pub more_listeners: Vec<crate::listener_security::Listener>,
    /// SCRAM users to create with the cluster when this node formats it (Kafka's
    /// `kafka-storage format --add-scram`); ignored once the cluster exists.
    pub bootstrap_scram: Vec<BootstrapScram>,
    /// The authorizer (`authorizer.class.name`, `super.users`,
    /// `allow.everyone.if.no.acl.found`); `None`: every request is allowed.
    pub authorizer: Option<crate::authz::AuthorizerConfig>,
    /// `http.listen`: where health and readiness are served; `None` (the library default)
    /// serves none. `weir serve` binds [`DEFAULT_HTTP_LISTEN`] unless told otherwise.
    pub http_listen: Option<SocketAddr>,
    /// `http.tls.listener`: the SSL or SASL_SSL Kafka listener whose certificate the HTTP
    /// listener serves TLS with; `None`: plain HTTP.
    pub http_tls_listener: Option<String>,
    /// `http.auth=basic`: everything on the HTTP listener but health and readiness asks for
    /// a user of the Kafka listeners (HTTP Basic, over TLS only).
    pub http_basic_auth: bool,
    /// `auto.create.topics.enable`.
    pub auto_create_topics_enable: bool,
    /// `num.partitions`: partitions of an auto-created topic.
    pub num_partitions: i32,
    /// `default.replication.factor`.
    pub default_replication_factor: i16,
    /// `message.max.bytes`: largest batch a topic accepts unless it overrides it.
    pub message_max_bytes: i32,
    /// `socket.request.max.bytes`: largest request frame.
    pub socket_request_max_bytes: usize,
    /// `log.segment.bytes`.
    pub log_segment_bytes: u64,
    /// `log.roll.ms`.
    pub log_roll_ms: i64,
    /// `log.index.interval.bytes`.
    pub log_index_interval_bytes: u32,
    /// Requests one connection may have in flight before the broker stops reading it.
    pub max_in_flight_per_connection: usize,
    /// `log.flush.interval.ms`: how often data not yet covered by an fsync (acks=0/1 writes)
    /// is synced in the background. Kafka never does by default; Weir is durable by default.
    pub log_flush_interval_ms: u64,
    /// `offsets.topic.num.partitions`: partitions of `__consumer_offsets`, fixed once created.
    pub offsets_topic_num_partitions: i32,
    /// `offsets.topic.replication.factor`: replicas of `__consumer_offsets` (fewer while
    /// fewer brokers are registered when it is created).
    pub offsets_topic_replication_factor: i16,
    /// The group coordinator's settings (`group.*`, `offsets.retention.*`).
    pub group: GroupConfig,
    /// `transaction.state.log.num.partitions`: partitions of `__transaction_state`, fixed
    /// once created.
    pub transaction_state_log_num_partitions: i32,
    /// `transaction.state.log.replication.factor`: replicas of `__transaction_state` (fewer
    /// while fewer brokers are registered when it is created).
    pub transaction_state_log_replication_factor: i16,
    /// The transaction coordinator's settings (`transaction.*`, `transactional.id.*`).
    pub txn: TxnConfig,
    /// `share.coordinator.state.topic.num.partitions`: partitions of `__share_group_state`,
    /// fixed once created.
    pub share_state_topic_num_partitions: i32,
    /// `share.coordinator.state.topic.replication.factor`: replicas of `__share_group_state`
    /// (fewer while fewer brokers are registered when it is created).
    pub share_state_topic_replication_factor: i16,
    /// `share.coordinator.state.topic.min.isr`: its `min.insync.replicas`.
    pub share_state_topic_min_isr: i16,
    /// `errors.deadletterqueue.topic.name.prefix` (KIP-1191): what a share group's
    /// dead-letter topic name must start with ("dlq."; empty: anything).
    pub dlq_topic_prefix: String,
    /// `errors.deadletterqueue.auto.create.topics.enable` (KIP-1191): create a missing
    /// dead-letter topic on first use.
    pub dlq_auto_create: bool,
    /// `producer.id.expiration.ms`: a partition forgets a producer idle this long.
    pub producer_id_expiration_ms: i64,
    /// Broker-wide defaults of topic configs, by Kafka's broker key (`log.retention.ms`,
    /// `log.cleanup.policy`, `log.cleaner.min.cleanable.ratio`, ...); unset keys fall back
    /// to Kafka's defaults.
    pub log_defaults: BTreeMap<String, String>,
    /// `log.retention.check.interval.ms`: how often retention runs.
    pub log_retention_check_interval_ms: u64,
    /// `log.segment.delete.delay.ms`: how long a retired partition dir stays on disk.
    pub log_segment_delete_delay_ms: u64,
    /// `max.incremental.fetch.session.cache.slots`: how many fetch sessions (KIP-227) are
    /// kept.
    pub max_incremental_fetch_session_cache_slots: usize,
    /// `metrics.enable`: whether requests, fetches and appends are measured (`/metrics`
    /// then serves only what is read from state).
    pub metrics_enable: bool,
    /// `metrics.partition.series.limit`: topics with more partitions than this are exported
    /// per topic only, not per partition.
    pub metrics_partition_series_limit: usize,
    /// `metrics.sample.interval.ms`: how often consumer lag and throughput are sampled for
    /// `/metrics` and the console's plots.
    pub metrics_sample_interval_ms: u64,
    /// `log.cleaner.enable`: whether compacted topics are cleaned.
    pub log_cleaner_enable: bool,
    /// `log.cleaner.backoff.ms`: the cleaner's pause when nothing is dirty enough.
    pub log_cleaner_backoff_ms: u64,
    /// `log.cleaner.dedupe.buffer.size`: memory for the cleaner's key map.
    pub log_cleaner_dedupe_buffer_size: usize,
    /// `log.cleaner.io.max.bytes.per.second`: the cleaner's read and write rate limit.
    pub log_cleaner_io_max_bytes_per_second: f64,
    /// Address the controller (metadata quorum) listener binds; needed with other nodes.
    pub controller_listen: Option<SocketAddr>,
    /// Mutual TLS between the nodes on the controller listener (its protocol SSL in
    /// `listener.security.protocol.map`); `None`: plain TCP.
    pub controller_tls: Option<crate::tls::TlsSettings>,
    /// `controller.quorum.voters`: (node id, HOST:PORT) of each voter; empty: this node
    /// alone is the quorum.
    pub controller_voters: Vec<(i32, String)>,
    /// `broker.rack`.
    pub rack: Option<String>,
    /// `broker.session.timeout.ms`: a broker silent this long is fenced.
    pub broker_session_timeout_ms: u64,
    /// `broker.heartbeat.interval.ms`: how often this broker tells the controller it lives.
    pub broker_heartbeat_interval_ms: u64,
    /// `replica.lag.time.max.ms`: a follower not caught up for this long leaves the ISR.
    pub replica_lag_time_max_ms: u64,
    /// `auto.leader.rebalance.enable`: the active controller moves leadership back to
    /// preferred replicas.
    pub auto_leader_rebalance_enable: bool,
    /// `leader.imbalance.check.interval.seconds`: how often it looks.
    pub leader_imbalance_check_interval_seconds: u64,
    /// `leader.imbalance.per.broker.percentage`: the share of a broker's preferred
    /// partitions it may not lead before they move back.
    pub leader_imbalance_per_broker_percentage: u32,
}

impl Default for BrokerConfig {
    fn default() -> Self {
        Self {
            node_id: 1,
            data_dir: PathBuf::from("weir-data"),
            listen: SocketAddr::from(([127, 0, 0, 1], 9092)),
            http_listen: None,
            http_tls_listener: None,
            http_basic_auth: false,
            security: crate::listener_security::ListenerSecurity::default(),
            more_listeners: Vec::new(),
            authorizer: None,
            bootstrap_scram: Vec::new(),
            advertised: None,
            auto_create_topics_enable: true,
            num_partitions: 1,
            default_replication_factor: 1,
            message_max_bytes: 1_048_588,
            socket_request_max_bytes: 100 * 1024 * 1024,
            log_segment_bytes: 1024 * 1024 * 1024,
            log_roll_ms: 7 * 24 * 60 * 60 * 1000,
            log_index_interval_bytes: 4096,
            max_in_flight_per_connection: 256,
            log_flush_interval_ms: 1000,
            offsets_topic_num_partitions: 50,
            offsets_topic_replication_factor: 3,
            group: GroupConfig::default(),
            transaction_state_log_num_partitions: 50,
            transaction_state_log_replication_factor: 3,
            share_state_topic_num_partitions: 50,
            share_state_topic_replication_factor: 3,
            share_state_topic_min_isr: 2,
            dlq_topic_prefix: "dlq.".to_string(),
            dlq_auto_create: false,
            txn: TxnConfig::default(),
            producer_id_expiration_ms: 86_400_000,
            log_defaults: BTreeMap::new(),
            log_retention_check_interval_ms: 300_000,
            log_segment_delete_delay_ms: 60_000,
            max_incremental_fetch_session_cache_slots: 1000,
            metrics_enable: true,
            metrics_partition_series_limit: 100,
            metrics_sample_interval_ms: 5_000,
            log_cleaner_enable: true,
            log_cleaner_backoff_ms: 15_000,
            log_cleaner_dedupe_buffer_size: 128 * 1024 * 1024,
            log_cleaner_io_max_bytes_per_second: f64::MAX,
            controller_listen: None,
            controller_tls: None,
            controller_voters: Vec::new(),
            rack: None,
            broker_session_timeout_ms: 9000,
            broker_heartbeat_interval_ms: 2000,
            replica_lag_time_max_ms: 30_000,
            auto_leader_rebalance_enable: true,
            leader_imbalance_check_interval_seconds: 300,
            leader_imbalance_per_broker_percentage: 10,
        }
    }
}

/// Whether `key` is a broker-wide default of a topic config (`log.retention.ms`,
/// `log.cleanup.policy`, ...), which `log_defaults` holds and AlterConfigs may change.
pub fn is_log_default_key(key: &str) -> bool {
    weir_meta::config_change::dynamic_broker_key(key).is_some()
}

impl BrokerConfig {
    /// `log.retention.ms` as `log.retention.minutes` or else `log.retention.hours` give it,
    /// when either was set (Kafka's precedence; -1 stays -1).
    pub fn retention_ms_from_minutes_or_hours(&self) -> Option<i64> {
        let get = |k: &str| {
            self.log_defaults
                .get(k)
                .and_then(|v| v.trim().parse::<i64>().ok())
        };
        match (get("log.retention.minutes"), get("log.retention.hours")) {
            (Some(m), _) => Some(if m < 0 { -1 } else { m.saturating_mul(60_000) }),
            (None, Some(h)) => Some(if h < 0 {
                -1
            } else {
                h.saturating_mul(3_600_000)
            }),
            (None, None) => None,
        }
    }

    /// Checks every setting; the error names the setting.
    pub fn validate(&self) -> Result<(), String> {
        let mut protocols = vec![self.security.protocol];
        let mut names = vec![self.security.listener_name.to_ascii_uppercase()];
        for l in &self.more_listeners {
            if l.protocol.tls() && l.tls.is_none() {
                return Err(format!(
                    "listener {} is {:?} but has no certificate (ssl.keystore.location)",
                    l.name, l.protocol
                ));
            }
            let name = l.name.to_ascii_uppercase();
            if names.contains(&name) {
                return Err(format!("listeners: the name {name} is used twice"));
            }
            if l.addr == self.listen && l.addr.port() != 0 {
                return Err(format!("listeners: {} is bound twice", l.addr));
            }
            names.push(name);
            protocols.push(l.protocol);
        }
        self.security.validate(&protocols)?;
        if self.http_basic_auth && self.http_tls_listener.is_none() {
            return Err("http.auth=basic sends passwords: it needs http.tls.listener".into());
        }
        if self.node_id < 0 {
            return Err(format!("node.id must be >= 0, got {}", self.node_id));
        }
        if self.num_partitions < 1 {
            return Err(format!(
                "num.partitions must be >= 1, got {}",
                self.num_partitions
            ));
        }
        if self.default_replication_factor < 1 {
            return Err("default.replication.factor must be >= 1".into());
        }
        if self.message_max_bytes < 0 {
            return Err("message.max.bytes must be >= 0".into());
        }
        if self.log_segment_bytes < 14 || self.log_segment_bytes > i32::MAX as u64 {
            return Err(format!(
                "log.segment.bytes out of range: {}",
                self.log_segment_bytes
            ));
        }
        if self.log_roll_ms < 1 {
            return Err("log.roll.ms must be >= 1".into());
        }
        if self.socket_request_max_bytes < 1024 {
            return Err("socket.request.max.bytes must be >= 1024".into());
        }
        if self.log_flush_interval_ms == 0 {
            return Err("log.flush.interval.ms must be >= 1".into());
        }
        if self.offsets_topic_num_partitions < 1 {
            return Err("offsets.topic.num.partitions must be >= 1".into());
        }
        self.group.validate().map_err(|e| e.to_string())?;
        if self.offsets_topic_replication_factor < 1 {
            return Err("offsets.topic.replication.factor must be >= 1".into());
        }
        if self.transaction_state_log_replication_factor < 1 {
            return Err("transaction.state.log.replication.factor must be >= 1".into());
        }
        if self.share_state_topic_num_partitions < 1 {
            return Err("share.coordinator.state.topic.num.partitions must be >= 1".into());
        }
        if self.share_state_topic_replication_factor < 1 {
            return Err("share.coordinator.state.topic.replication.factor must be >= 1".into());
        }
        if self.transaction_state_log_num_partitions < 1 {
            return Err("transaction.state.log.num.partitions must be >= 1".into());
        }
        if self.txn.max_timeout_ms < 1 {
            return Err("transaction.max.timeout.ms must be >= 1".into());
        }
        if self.txn.abort_check_interval_ms < 1 || self.txn.remove_expired_interval_ms < 1 {
            return Err("transaction cleanup intervals must be >= 1".into());
        }
        if self.txn.id_expiration_ms < 1 || self.producer_id_expiration_ms < 1 {
            return Err(
                "transactional.id.expiration.ms and producer.id.expiration.ms must be >= 1".into(),
            );
        }
        for (k, v) in &self.log_defaults {
            if k == "log.retention.minutes" || k == "log.retention.hours" {
                let n: i64 = v
                    .trim()
                    .parse()
                    .map_err(|_| format!("{k} must be a number, got {v}"))?;
                if n < -1 {
                    return Err(format!("{k} must be >= -1, got {n}"));
                }
                continue;
            }
            let topic_key = weir_meta::topic_config::TOPIC_CONFIGS
                .iter()
                .find(|d| d.broker_synonym == Some(k.as_str()))
                .ok_or_else(|| format!("unknown broker config {k}"))?;
            weir_meta::topic_config::validate(topic_key.name, v)
                .map_err(|e| e.replace(topic_key.name, k))?;
        }
        if self.log_retention_check_interval_ms == 0 || self.log_cleaner_backoff_ms == 0 {
            return Err(
                "log.retention.check.interval.ms and log.cleaner.backoff.ms must be >= 1".into(),
            );
        }
        if self.log_cleaner_dedupe_buffer_size < 1024 * 1024 {
            return Err("log.cleaner.dedupe.buffer.size must be at least 1 MiB".into());
        }
        if self.log_cleaner_io_max_bytes_per_second.is_nan()
            || self.log_cleaner_io_max_bytes_per_second <= 0.0
        {
            return Err("log.cleaner.io.max.bytes.per.second must be positive".into());
        }
        if !self.controller_voters.is_empty() && self.controller_listen.is_none() {
            return Err(
                "controller.quorum.voters needs a controller listener (--controller-listen)".into(),
            );
        }
        let me = self
            .controller_voters
            .iter()
            .find(|(id, _)| *id == self.node_id);
        if let (Some((_, addr)), Some(listen)) = (me, self.controller_listen) {
            if addr.rsplit_once(':').map(|(_, p)| p) != Some(&listen.port().to_string()) {
                return Err(format!(
                    "controller.quorum.voters gives node {} the address {addr}, but the \
                     controller listener is {listen}",
                    self.node_id
                ));
            }
        }
        if self.broker_heartbeat_interval_ms == 0
            || self.broker_session_timeout_ms <= self.broker_heartbeat_interval_ms
        {
            return Err(
                "broker.heartbeat.interval.ms must be >= 1 and below broker.session.timeout.ms"
                    .into(),
            );
        }
        if self.max_in_flight_per_connection == 0 {
            return Err("max in-flight requests per connection must be >= 1".into());
        }
        Ok(())
    }
}

/// Parses `controller.quorum.voters`: `ID@HOST:PORT` entries separated by commas.
pub fn parse_voters(text: &str) -> Result<Vec<(i32, String)>, String> {
    let mut out: Vec<(i32, String)> = Vec::new();
    for entry in text.split(',').map(str::trim).filter(|e| !e.is_empty()) {
        let (id, addr) = entry.split_once('@').ok_or_else(|| {
            format!("controller.quorum.voters: expected ID@HOST:PORT, got {entry}")
        })?;
        let id: i32 = id
            .trim()
            .parse()
            .map_err(|_| format!("controller.quorum.voters: bad node id in {entry}"))?;
        let port_ok = addr
            .rsplit_once(':')
            .is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok());
        if !port_ok {
            return Err(format!(
                "controller.quorum.voters: expected HOST:PORT in {entry}"
            ));
        }
        if out.iter().any(|(i, _)| *i == id) {
            return Err(format!(
                "controller.quorum.voters: node {id} is named twice"
            ));
        }
        out.push((id, addr.trim().to_string()));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn voters_parse_and_bad_ones_are_named() {
        let v = parse_voters("1@127.0.0.1:9093, 2@localhost:9094").unwrap();
        assert_eq!(
            v,
            vec![(1, "127.0.0.1:9093".into()), (2, "localhost:9094".into())]
        );
        for bad in ["1@", "x@h:1", "1@h", "1@h:1,1@h:2", "1:h:1"] {
            assert!(parse_voters(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn voters_need_a_matching_controller_listener() {
        let mut c = BrokerConfig {
            controller_voters: vec![(1, "127.0.0.1:9093".into())],
            ..BrokerConfig::default()
        };
        assert!(c.validate().is_err());
        c.controller_listen = Some(SocketAddr::from(([127, 0, 0, 1], 9094)));
        assert!(c.validate().unwrap_err().contains("9093"));
        c.controller_listen = Some(SocketAddr::from(([127, 0, 0, 1], 9093)));
        assert_eq!(c.validate(), Ok(()));
    }
}
