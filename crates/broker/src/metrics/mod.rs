//! The broker's instruments: counters and histograms that the request path, the group
//! commit, replication and housekeeping update as they go, held in one [`Metrics`] per
//! broker. Everything derived from state (partitions, logs, groups, lag) is read when
//! `/metrics` is scraped instead (by the HTTP listener), so it costs nothing in between.
//! Every metric is listed in docs/metrics.md.
//!
//! - `requests`: per API key, version, error code and phase of a request.

mod requests;

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::{Registry, Unit};

pub(crate) use requests::{RequestMetrics, RequestTimer};

use crate::locks;

/// Buckets for latencies in seconds: 50 µs to about 26 s, doubling.
pub(crate) fn latency_buckets() -> impl Iterator<Item = f64> {
    exponential_buckets(0.000_05, 2.0, 20)
}

/// Labels of the end-to-end latency histogram.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct TopicGroup {
    /// The topic fetched.
    pub(crate) topic: String,
    /// The consumer group of the fetching client, or "" when this broker does not know it.
    pub(crate) group: String,
}

/// Labels of the share acknowledgement counter.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub(crate) struct AckKind {
    /// accept, release, reject, renew or gap.
    pub(crate) kind: &'static str,
}

/// The most client ids whose group a broker remembers for end-to-end latency.
const MAX_CLIENT_GROUPS: usize = 10_000;

/// One broker's instruments.
pub struct Metrics {
    /// Requests: counts, errors and time per phase.
    pub(crate) requests: RequestMetrics,
    /// Duration of each fsync of the group commit.
    pub(crate) fsync_seconds: Histogram,
    /// acks=all requests answered by one group-commit round.
    pub(crate) group_commit_waiters: Histogram,
    /// Partitions synced by one group-commit round.
    pub(crate) group_commit_partitions: Histogram,
    /// ISR shrinks this broker proposed as a leader.
    pub(crate) isr_shrinks: Counter,
    /// ISR expansions this broker proposed as a leader.
    pub(crate) isr_expands: Counter,
    /// Kafka connections accepted.
    pub(crate) connections_accepted: Counter,
    /// Kafka connections open now.
    pub(crate) connections_open: Gauge,
    /// SASL authentications that succeeded.
    pub(crate) authentications: Counter,
    /// SASL authentications that failed (the connection was closed).
    pub(crate) authentication_failures: Counter,
    /// Segments deleted by retention (time, size or log start).
    pub(crate) retention_segments_deleted: Counter,
    /// Compaction passes run.
    pub(crate) cleaner_runs: Counter,
    /// Bytes the cleaner removed from logs.
    pub(crate) cleaner_bytes_removed: Counter,
    /// Records share consumers acquired from partitions led here.
    pub(crate) share_acquired: Counter,
    /// Share acknowledgements applied here, by type.
    pub(crate) share_acks: Family<AckKind, Counter>,
    /// Records whose acquisition lock ran out.
    pub(crate) share_lock_expiries: Counter,
    /// Dead-letter copies written (KIP-1191).
    pub(crate) share_dead_letters: Counter,
    /// Dead-letter writes that failed (and are tried again).
    pub(crate) share_dead_letter_failures: Counter,
    /// Age of records when a consumer fetched them, per topic and group.
    pub(crate) e2e_seconds: Family<TopicGroup, Histogram, fn() -> Histogram>,
    /// The label sets `e2e_seconds` holds, so that deleted ones can be removed.
    e2e_series: Mutex<HashSet<TopicGroup>>,
    /// The consumer group each client id last named in a group request here.
    client_groups: Mutex<HashMap<String, String>>,
    /// Topics with more partitions than this get no per-partition series.
    pub(crate) partition_series_limit: usize,
    /// Whether the request path measures at all (`metrics.enable`).
    pub(crate) enabled: bool,
}

fn latency_histogram() -> Histogram {
    Histogram::new(latency_buckets())
}

impl Metrics {
    /// Instruments at zero; with `enabled` false the request path skips them. Topics with
    /// more than `partition_series_limit` partitions are exported per topic only.
    pub fn new(enabled: bool, partition_series_limit: usize) -> Self {
        Metrics {
            requests: RequestMetrics::default(),
            fsync_seconds: latency_histogram(),
            group_commit_waiters: Histogram::new(exponential_buckets(1.0, 2.0, 12)),
            group_commit_partitions: Histogram::new(exponential_buckets(1.0, 2.0, 12)),
            isr_shrinks: Counter::default(),
            isr_expands: Counter::default(),
            connections_accepted: Counter::default(),
            connections_open: Gauge::default(),
            authentications: Counter::default(),
            authentication_failures: Counter::default(),
            retention_segments_deleted: Counter::default(),
            cleaner_runs: Counter::default(),
            cleaner_bytes_removed: Counter::default(),
            share_acquired: Counter::default(),
            share_acks: Family::default(),
            share_lock_expiries: Counter::default(),
            share_dead_letters: Counter::default(),
            share_dead_letter_failures: Counter::default(),
            e2e_seconds: Family::new_with_constructor(latency_histogram),
            e2e_series: Mutex::new(HashSet::new()),
            client_groups: Mutex::new(HashMap::new()),
            partition_series_limit,
            enabled,
        }
    }

    /// Remembers that `client_id` belongs to `group` (from a group request).
    pub(crate) fn learn_group(&self, client_id: &str, group: &str) {
        if client_id.is_empty() || group.is_empty() {
            return;
        }
        let mut map = locks::lock(&self.client_groups);
        if map.get(client_id).is_some_and(|g| g == group) {
            return;
        }
        if map.len() >= MAX_CLIENT_GROUPS && !map.contains_key(client_id) {
            map.clear();
        }
        map.insert(client_id.to_string(), group.to_string());
    }

    /// The group `client_id` last named here, or "".
    pub(crate) fn group_of(&self, client_id: &str) -> String {
        locks::lock(&self.client_groups)
            .get(client_id)
            .cloned()
            .unwrap_or_default()
    }

    /// Records the ages (seconds) of batches a consumer in `group` fetched from `topic`.
    pub(crate) fn observe_e2e(&self, topic: &str, group: String, ages: &[f64]) {
        let labels = TopicGroup {
            topic: topic.to_string(),
            group,
        };
        if self.e2e_seconds.get(&labels).is_none() {
            locks::lock(&self.e2e_series).insert(labels.clone());
        }
        let h = self.e2e_seconds.get_or_create(&labels);
        for a in ages {
            h.observe(*a);
        }
    }

    /// Forgets end-to-end series, and client groups, for which `keep` is false (deleted
    /// topics and groups).
    pub(crate) fn retain_e2e(&self, topic: impl Fn(&str) -> bool, group: impl Fn(&str) -> bool) {
        locks::lock(&self.e2e_series).retain(|labels| {
            let k = topic(&labels.topic) && (labels.group.is_empty() || group(&labels.group));
            if !k {
                self.e2e_seconds.remove(labels);
            }
            k
        });
        locks::lock(&self.client_groups).retain(|_, g| group(g));
    }

    /// Registers every instrument in `registry` (handles share their values).
    pub(crate) fn register(&self, registry: &mut Registry) {
        self.requests.register(registry);
        registry.register_with_unit(
            "weir_log_flush_duration",
            "Duration of each group-commit fsync (kafka.log:type=LogFlushStats,name=LogFlushRateAndTimeMs)",
            Unit::Seconds,
            self.fsync_seconds.clone(),
        );
        registry.register(
            "weir_group_commit_requests",
            "acks=all produce requests answered by one group-commit round",
            self.group_commit_waiters.clone(),
        );
        registry.register(
            "weir_group_commit_partitions",
            "Partitions fsynced by one group-commit round",
            self.group_commit_partitions.clone(),
        );
        registry.register(
            "weir_isr_shrinks",
            "ISR shrinks proposed by this broker as leader (kafka.server:type=ReplicaManager,name=IsrShrinksPerSec)",
            self.isr_shrinks.clone(),
        );
        registry.register(
            "weir_isr_expands",
            "ISR expansions proposed by this broker as leader (kafka.server:type=ReplicaManager,name=IsrExpandsPerSec)",
            self.isr_expands.clone(),
        );
        registry.register(
            "weir_connections_accepted",
            "Kafka connections accepted (kafka.server:type=socket-server-metrics,name=connection-creation-total)",
            self.connections_accepted.clone(),
        );
        registry.register(
            "weir_connections_open",
            "Kafka connections open (kafka.server:type=socket-server-metrics,name=connection-count)",
            self.connections_open.clone(),
        );
        registry.register(
            "weir_authentications",
            "SASL authentications that succeeded (kafka.server:type=socket-server-metrics,name=successful-authentication-total)",
            self.authentications.clone(),
        );
        registry.register(
            "weir_authentication_failures",
            "SASL authentications that failed (kafka.server:type=socket-server-metrics,name=failed-authentication-total)",
            self.authentication_failures.clone(),
        );
        registry.register(
            "weir_retention_segments_deleted",
            "Log segments deleted by retention or a moved log start (kafka.log:type=Log... segment deletions)",
            self.retention_segments_deleted.clone(),
        );
        registry.register(
            "weir_cleaner_runs",
            "Compaction passes run (kafka.log:type=LogCleaner)",
            self.cleaner_runs.clone(),
        );
        registry.register_with_unit(
            "weir_cleaner_removed",
            "Bytes compaction removed from logs (kafka.log:type=LogCleaner)",
            Unit::Bytes,
            self.cleaner_bytes_removed.clone(),
        );
        registry.register(
            "weir_share_records_acquired",
            "Records share consumers acquired from partitions led here (KIP-932)",
            self.share_acquired.clone(),
        );
        registry.register(
            "weir_share_acknowledgements",
            "Share acknowledgements applied here, by type (accept, release, reject, renew, gap)",
            self.share_acks.clone(),
        );
        registry.register(
            "weir_share_lock_expiries",
            "Acquired records whose acquisition lock ran out",
            self.share_lock_expiries.clone(),
        );
        registry.register(
            "weir_share_dead_letters",
            "Dead-letter copies written to share groups' dead-letter topics (KIP-1191)",
            self.share_dead_letters.clone(),
        );
        registry.register(
            "weir_share_dead_letter_failures",
            "Dead-letter writes that failed and wait to be tried again",
            self.share_dead_letter_failures.clone(),
        );
        registry.register_with_unit(
            "weir_fetch_record_age",
            "End-to-end latency: fetch time minus the newest record timestamp of each batch a consumer fetched",
            Unit::Seconds,
            self.e2e_seconds.clone(),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forgets_e2e_series_of_deleted_topics_and_groups() {
        let m = Metrics::new(true, 100);
        for (t, g) in [("a", "g1"), ("b", "g1"), ("a", "g\"2")] {
            m.observe_e2e(t, g.into(), &[0.01]);
        }
        m.retain_e2e(|t| t != "b", |g| g != "g\"2");
        let tg = |t: &str, g: &str| TopicGroup {
            topic: t.into(),
            group: g.into(),
        };
        assert!(m.e2e_seconds.get(&tg("a", "g1")).is_some());
        assert!(m.e2e_seconds.get(&tg("b", "g1")).is_none());
        assert!(m.e2e_seconds.get(&tg("a", "g\"2")).is_none());
    }

    #[test]
    fn remembers_a_bounded_client_to_group_map() {
        let m = Metrics::new(true, 100);
        m.learn_group("c1", "g1");
        m.learn_group("c1", "g2");
        assert_eq!(m.group_of("c1"), "g2");
        assert_eq!(m.group_of("nobody"), "");
        for i in 0..MAX_CLIENT_GROUPS + 5 {
            m.learn_group(&format!("c{i}"), "g");
        }
        assert!(locks::lock(&m.client_groups).len() <= MAX_CLIENT_GROUPS);
    }
}
