//! `GET /metrics`: the broker's instruments ([`crate::metrics`]) and, read from its state at
//! scrape time, partitions, logs, the cluster, the metadata quorum and consumer groups
//! with their lag, in the Prometheus text format or OpenMetrics (when the scraper's
//! `Accept` asks for it). Topics with more partitions than `metrics.partition.series.limit`
//! are exported per topic only. Every metric is documented in docs/metrics.md.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::{Registry, Unit};

use crate::locks;
use crate::state::BrokerState;

/// The OpenMetrics content type.
pub(crate) const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
/// The Prometheus text format's content type.
pub(crate) const PROMETHEUS_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The exposition of `state`, in OpenMetrics when `openmetrics` else the classic text
/// format, with its content type.
pub(crate) fn render(state: &Arc<BrokerState>, openmetrics: bool) -> (String, &'static str) {
    let mut registry = Registry::default();
    state.metrics.register(&mut registry);
    registry.register_collector(Box::new(Scrape(state.clone())));
    let mut out = String::with_capacity(64 * 1024);
    let written = if openmetrics {
        prometheus_client::encoding::text::encode(&mut out, &registry)
    } else {
        prometheus_client::encoding::prometheus_text::encode(&mut out, &registry)
    };
    if written.is_err() {
        out.clear();
    }
    (
        out,
        if openmetrics {
            OPENMETRICS
        } else {
            PROMETHEUS_TEXT
        },
    )
}

/// What a scrape reads from the broker's state.
struct Scrape(Arc<BrokerState>);

impl fmt::Debug for Scrape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Scrape")
    }
}

type Labels = Vec<(&'static str, String)>;

/// One metric family and its samples.
struct Family {
    name: &'static str,
    help: &'static str,
    unit: Option<Unit>,
    kind: MetricType,
    rows: Vec<(Labels, f64)>,
}

impl Family {
    fn gauge(name: &'static str, help: &'static str) -> Self {
        Family {
            name,
            help,
            unit: None,
            kind: MetricType::Gauge,
            rows: Vec::new(),
        }
    }

    fn counter(name: &'static str, help: &'static str) -> Self {
        Family {
            kind: MetricType::Counter,
            ..Family::gauge(name, help)
        }
    }

    fn bytes(mut self) -> Self {
        self.unit = Some(Unit::Bytes);
        self
    }

    fn add(&mut self, labels: Labels, value: f64) {
        self.rows.push((labels, value));
    }

    fn encode(&self, encoder: &mut DescriptorEncoder) -> Result<(), fmt::Error> {
        let mut me =
            encoder.encode_descriptor(self.name, self.help, self.unit.as_ref(), self.kind)?;
        for (labels, v) in &self.rows {
            let set = LabelSet(labels);
            let fam = me.encode_family(&set)?;
            match self.kind {
                MetricType::Counter => ConstCounter::new(v.max(0.0) as u64).encode(fam)?,
                _ if v.fract() == 0.0 && v.abs() < 9e15 => {
                    ConstGauge::new(*v as i64).encode(fam)?
                }
                _ => ConstGauge::new(*v).encode(fam)?,
            }
        }
        Ok(())
    }
}

struct LabelSet<'a>(&'a Labels);

impl EncodeLabelSet for LabelSet<'_> {
    fn encode(
        &self,
        encoder: &mut prometheus_client::encoding::LabelSetEncoder,
    ) -> Result<(), fmt::Error> {
        self.0.as_slice().encode(encoder)
    }
}

fn l(pairs: &[(&'static str, &str)]) -> Labels {
    pairs.iter().map(|(k, v)| (*k, v.to_string())).collect()
}

impl Collector for Scrape {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), fmt::Error> {
        for family in self.families() {
            family.encode(&mut encoder)?;
        }
        Ok(())
    }
}

impl Scrape {
    fn families(&self) -> Vec<Family> {
        let state = &self.0;
        let node = state.config.node_id;
        let image = state.image();
        let limit = state.metrics.partition_series_limit;
        let mut out = Vec::new();

        let mut info = Family::gauge(
            "weir_broker_info",
            "This broker: node id and version (always 1)",
        );
        info.add(
            l(&[
                ("node_id", &node.to_string()),
                ("version", env!("CARGO_PKG_VERSION")),
            ]),
            1.0,
        );
        out.push(info);

        // The cluster as this broker's metadata image has it.
        let q = state.meta.status();
        let mut active = Family::gauge(
            "weir_active_controller",
            "1 on the active controller (kafka.controller:type=KafkaController,name=ActiveControllerCount)",
        );
        active.add(Vec::new(), if q.is_leader { 1.0 } else { 0.0 });
        out.push(active);
        let mut leader = Family::gauge(
            "weir_metadata_leader",
            "The active controller's node id, -1 when unknown",
        );
        leader.add(Vec::new(), q.leader.map_or(-1.0, f64::from));
        out.push(leader);
        let mut term = Family::gauge("weir_metadata_term", "The metadata quorum's Raft term");
        term.add(Vec::new(), q.term as f64);
        out.push(term);
        let mut last = Family::gauge(
            "weir_metadata_last_log_index",
            "Index of the last entry in this node's metadata log (kafka.server:type=raft-metrics,name=log-end-offset)",
        );
        last.add(Vec::new(), q.last_log_index as f64);
        out.push(last);
        let mut applied = Family::gauge(
            "weir_metadata_applied_index",
            "Index of the last metadata entry applied here (kafka.server:type=broker-metadata-metrics,name=last-applied-record-offset)",
        );
        applied.add(Vec::new(), q.last_applied as f64);
        out.push(applied);
        let mut lag = Family::gauge(
            "weir_metadata_follower_lag",
            "On the active controller: metadata entries each voter is behind it",
        );
        for (n, behind) in &q.follower_lag {
            lag.add(l(&[("node_id", &n.to_string())]), *behind as f64);
        }
        out.push(lag);
        let mut brokers = Family::gauge("weir_brokers", "Registered brokers, by whether they are fenced (kafka.controller:type=KafkaController,name=FencedBrokerCount/ActiveBrokerCount)");
        let fenced = image.brokers.values().filter(|b| b.fenced).count();
        brokers.add(
            l(&[("state", "active")]),
            (image.brokers.len() - fenced) as f64,
        );
        brokers.add(l(&[("state", "fenced")]), fenced as f64);
        out.push(brokers);
        let mut topics = Family::gauge(
            "weir_cluster_topics",
            "Topics in the cluster (kafka.controller:type=KafkaController,name=GlobalTopicCount)",
        );
        topics.add(Vec::new(), image.topics.len() as f64);
        out.push(topics);
        let mut all = 0usize;
        let mut offline = 0usize;
        for t in image.topics.values() {
            all += t.partitions.len();
            offline += t.partitions.values().filter(|p| p.leader < 0).count();
        }
        let mut parts = Family::gauge("weir_cluster_partitions", "Partitions in the cluster (kafka.controller:type=KafkaController,name=GlobalPartitionCount)");
        parts.add(Vec::new(), all as f64);
        out.push(parts);
        let mut off = Family::gauge("weir_offline_partitions", "Partitions without a leader, cluster-wide (kafka.controller:type=KafkaController,name=OfflinePartitionsCount)");
        off.add(Vec::new(), offline as f64);
        out.push(off);

        // Partitions hosted here.
        let mut hosted = state.partitions();
        hosted.sort_by(|a, b| (&a.topic, a.index).cmp(&(&b.topic, b.index)));
        let mut leaders = 0usize;
        let mut under = 0usize;
        let mut under_min = 0usize;
        let mut by_topic: BTreeMap<String, TopicTotals> = BTreeMap::new();
        let mut per_partition = PartitionFamilies::new();
        for p in &hosted {
            let Some(t) = image.topic(&p.topic).filter(|t| t.topic_id == p.topic_id) else {
                continue;
            };
            let Some(pi) = t.partitions.get(&p.index) else {
                continue;
            };
            let totals = by_topic.entry(p.topic.clone()).or_default();
            totals.records_in += p.stats.records_in.load(Relaxed);
            totals.bytes_in += p.stats.bytes_in.load(Relaxed);
            totals.records_out += p.stats.records_out.load(Relaxed);
            totals.bytes_out += p.stats.bytes_out.load(Relaxed);
            let (size, segments, end) = {
                let log = p.log();
                (log.size_bytes(), log.segment_count(), log.log_end_offset())
            };
            totals.size += size;
            let leads = pi.leader == node;
            if leads {
                leaders += 1;
                let ur = pi.isr.len() < pi.replicas.len();
                let um = pi.isr.len() < p.settings().min_insync_replicas;
                under += usize::from(ur);
                under_min += usize::from(um);
                totals.under_replicated += usize::from(ur);
            }
            if t.partitions.len() <= limit {
                per_partition.add(
                    p,
                    size,
                    segments,
                    end,
                    leads,
                    pi.isr.len(),
                    pi.replicas.len(),
                );
            }
        }
        let mut count = Family::gauge(
            "weir_partitions",
            "Partitions hosted here (kafka.server:type=ReplicaManager,name=PartitionCount)",
        );
        count.add(Vec::new(), hosted.len() as f64);
        out.push(count);
        let mut lc = Family::gauge(
            "weir_leader_partitions",
            "Partitions led here (kafka.server:type=ReplicaManager,name=LeaderCount)",
        );
        lc.add(Vec::new(), leaders as f64);
        out.push(lc);
        let mut ur = Family::gauge("weir_under_replicated_partitions", "Partitions led here whose ISR is smaller than their replica set (kafka.server:type=ReplicaManager,name=UnderReplicatedPartitions)");
        ur.add(Vec::new(), under as f64);
        out.push(ur);
        let mut um = Family::gauge("weir_under_min_isr_partitions", "Partitions led here whose ISR is below min.insync.replicas (kafka.server:type=ReplicaManager,name=UnderMinIsrPartitionCount)");
        um.add(Vec::new(), under_min as f64);
        out.push(um);

        let mut rin = Family::counter("weir_topic_records_in", "Records appended by producers to partitions led here (kafka.server:type=BrokerTopicMetrics,name=MessagesInPerSec,topic=*)");
        let mut bin = Family::counter("weir_topic_bytes_in", "Bytes appended by producers to partitions led here (kafka.server:type=BrokerTopicMetrics,name=BytesInPerSec,topic=*)");
        let mut rout = Family::counter(
            "weir_topic_records_out",
            "Records (offsets) fetched by consumers from partitions here",
        );
        let mut bout = Family::counter("weir_topic_bytes_out", "Bytes fetched by consumers from partitions here (kafka.server:type=BrokerTopicMetrics,name=BytesOutPerSec,topic=*)");
        let mut tsize = Family::gauge("weir_topic_log_size", "Bytes on disk of a topic's partitions hosted here (kafka.log:type=Log,name=Size, summed)").bytes();
        let mut tur = Family::gauge(
            "weir_topic_under_replicated_partitions",
            "Partitions of a topic led here with a short ISR",
        );
        for (topic, t) in &by_topic {
            let lt = || l(&[("topic", topic)]);
            rin.add(lt(), t.records_in as f64);
            bin.add(lt(), t.bytes_in as f64);
            rout.add(lt(), t.records_out as f64);
            bout.add(lt(), t.bytes_out as f64);
            tsize.add(lt(), t.size as f64);
            tur.add(lt(), t.under_replicated as f64);
        }
        out.extend([rin, bin, rout, bout, tsize, tur]);
        out.extend(per_partition.into_families());

        // Consumer groups coordinated here, as the sampler last measured them.
        let samples = locks::read(&state.samples);
        let mut gstate = Family::gauge("weir_consumer_group_state", "1 for each group coordinated here, labelled with its state and type (kafka.coordinator.group:type=GroupMetadataManager,name=NumGroups*)");
        let mut members = Family::gauge(
            "weir_consumer_group_members",
            "Members of each group coordinated here",
        );
        let mut glag = Family::gauge(
            "weir_consumer_group_lag",
            "High watermark minus committed offset, per group, topic and partition",
        );
        let mut gslag = Family::gauge(
            "weir_consumer_group_lag_stable",
            "Last stable offset minus committed offset, per group, topic and partition",
        );
        let mut gcommitted = Family::gauge(
            "weir_consumer_group_committed_offset",
            "Committed offset, per group, topic and partition",
        );
        let mut gtlag = Family::gauge(
            "weir_consumer_group_topic_lag",
            "High watermark minus committed offset, summed over a topic's partitions, per group",
        );
        let mut gtotal = Family::gauge(
            "weir_consumer_group_total_lag",
            "High watermark minus committed offset, summed over all partitions, per group",
        );
        for (id, g) in &samples.groups {
            gstate.add(
                l(&[("group", id), ("type", g.kind), ("state", &g.state)]),
                1.0,
            );
            members.add(l(&[("group", id)]), g.members.len() as f64);
            gtotal.add(l(&[("group", id)]), g.total_lag() as f64);
            let mut topic_lag: BTreeMap<&str, i64> = BTreeMap::new();
            for p in &g.partitions {
                *topic_lag.entry(&p.topic).or_default() += p.lag();
                let wide = image.topic(&p.topic).map_or(0, |t| t.partitions.len());
                if wide <= limit {
                    let pl = || {
                        l(&[
                            ("group", id),
                            ("topic", &p.topic),
                            ("partition", &p.partition.to_string()),
                        ])
                    };
                    glag.add(pl(), p.lag() as f64);
                    gslag.add(pl(), p.stable_lag() as f64);
                    gcommitted.add(pl(), p.committed as f64);
                }
            }
            for (topic, lag) in topic_lag {
                gtlag.add(l(&[("group", id), ("topic", topic)]), lag as f64);
            }
        }
        let mut taken = Family::gauge("weir_lag_sampled_timestamp_seconds", "When consumer lag was last sampled (seconds since the epoch; 0 before the first sample)");
        taken.add(Vec::new(), samples.taken_ms as f64 / 1000.0);
        out.extend([
            gstate, members, glag, gslag, gcommitted, gtlag, gtotal, taken,
        ]);
        out.extend(share_families(state, &image, limit));
        out
    }
}

#[derive(Default)]
struct TopicTotals {
    records_in: u64,
    bytes_in: u64,
    records_out: u64,
    bytes_out: u64,
    size: u64,
    under_replicated: usize,
}

/// Per-partition series (for topics within the limit).
struct PartitionFamilies {
    size: Family,
    segments: Family,
    start: Family,
    end: Family,
    hw: Family,
    leader: Family,
    isr: Family,
    replicas: Family,
    records_in: Family,
}

impl PartitionFamilies {
    fn new() -> Self {
        PartitionFamilies {
            size: Family::gauge("weir_log_size", "Bytes on disk of a partition's log (kafka.log:type=Log,name=Size)").bytes(),
            segments: Family::gauge("weir_log_segments", "Segments of a partition's log (kafka.log:type=Log,name=NumLogSegments)"),
            start: Family::gauge("weir_log_start_offset", "A partition's log start offset (kafka.log:type=Log,name=LogStartOffset)"),
            end: Family::gauge("weir_log_end_offset", "A partition's log end offset (kafka.log:type=Log,name=LogEndOffset)"),
            hw: Family::gauge("weir_partition_high_watermark", "A partition's high watermark as this replica knows it"),
            leader: Family::gauge("weir_partition_leader", "1 when this broker leads the partition"),
            isr: Family::gauge("weir_partition_isr", "Replicas in the partition's ISR (kafka.cluster:type=Partition,name=InSyncReplicasCount)"),
            replicas: Family::gauge("weir_partition_replicas", "Replicas of the partition (kafka.cluster:type=Partition,name=ReplicasCount)"),
            records_in: Family::counter("weir_partition_records_in", "Records appended by producers to the partition while led here"),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn add(
        &mut self,
        p: &crate::partition::Partition,
        size: u64,
        segments: usize,
        end: i64,
        leads: bool,
        isr: usize,
        replicas: usize,
    ) {
        let lp = || l(&[("topic", &p.topic), ("partition", &p.index.to_string())]);
        self.size.add(lp(), size as f64);
        self.segments.add(lp(), segments as f64);
        self.start.add(lp(), p.log_start_offset() as f64);
        self.end.add(lp(), end as f64);
        self.hw.add(lp(), p.high_watermark() as f64);
        self.leader.add(lp(), if leads { 1.0 } else { 0.0 });
        self.isr.add(lp(), isr as f64);
        self.replicas.add(lp(), replicas as f64);
        self.records_in
            .add(lp(), p.stats.records_in.load(Relaxed) as f64);
    }

    fn into_families(self) -> [Family; 9] {
        [
            self.size,
            self.segments,
            self.start,
            self.end,
            self.hw,
            self.leader,
            self.isr,
            self.replicas,
            self.records_in,
        ]
    }
}

/// The share-partitions led here (KIP-932): start and end offsets and records by state,
/// per group, topic and partition (topics within the per-partition series limit).
fn share_families(
    state: &BrokerState,
    image: &weir_meta::MetadataImage,
    limit: usize,
) -> [Family; 6] {
    let mut start = Family::gauge(
        "weir_share_partition_start_offset",
        "Share-partition start offset: every record below it is done",
    );
    let mut end = Family::gauge(
        "weir_share_partition_end_offset",
        "First offset the share-partition has not fetched yet",
    );
    let mut available = Family::gauge("weir_share_partition_records_available", "In-flight records waiting to be acquired (including those held back by a backoff or a delivery time)");
    let mut acquired = Family::gauge(
        "weir_share_partition_records_acquired",
        "In-flight records locked by a member",
    );
    let mut archiving = Family::gauge(
        "weir_share_partition_records_archiving",
        "Records waiting for their dead-letter copy",
    );
    let mut in_flight = Family::gauge(
        "weir_share_partition_records_in_flight",
        "Records between the start offset and the end offset still tracked",
    );
    for g in state.shares.gauges() {
        let Some(t) = image.topic_by_id(&g.topic) else {
            continue;
        };
        if t.partitions.len() > limit {
            continue;
        }
        let p = g.partition.to_string();
        let labels = || l(&[("group", &g.group), ("topic", &t.name), ("partition", &p)]);
        start.add(labels(), g.start as f64);
        end.add(labels(), g.end as f64);
        available.add(labels(), g.available as f64);
        acquired.add(labels(), g.acquired as f64);
        archiving.add(labels(), g.archiving as f64);
        in_flight.add(labels(), g.in_flight as f64);
    }
    [start, end, available, acquired, archiving, in_flight]
}
