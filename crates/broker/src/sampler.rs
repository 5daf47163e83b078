//! The sampler: every `metrics.sample.interval.ms` it measures the consumer lag of the
//! groups this broker coordinates (committed offsets against each partition's high
//! watermark and last stable offset, asked of the partition's leader when it is another
//! broker), records throughput and lag in the bounded history the console plots, and drops
//! the end-to-end latency series of deleted topics and groups. No client needs to run.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Weak};
use std::time::Duration;

use tracing::debug;
use weir_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use weir_protocol::messages::ListOffsetsRequest;

use crate::host::now_ms;
use crate::locks;
use crate::samples::{series_name, GroupLag, Member, PartitionLag};
use crate::state::BrokerState;

/// ListOffsets' "latest" timestamp.
const LATEST: i64 = -1;

/// Starts the sampler; it stops when the broker is dropped or stopping.
pub(crate) fn start(state: &Arc<BrokerState>) {
    let weak = Arc::downgrade(state);
    let period = Duration::from_millis(state.config.metrics_sample_interval_ms);
    tokio::spawn(async move {
        let mut last: HashMap<String, (u64, u64, u64)> = HashMap::new();
        let mut last_ms = 0i64;
        loop {
            tokio::time::sleep(period).await;
            let Some(state) = Weak::upgrade(&weak) else {
                return;
            };
            if state.is_stopping() {
                return;
            }
            let bounded = tokio::time::timeout(period.max(Duration::from_secs(1)), sample(&state));
            let groups = match bounded.await {
                Ok(g) => g,
                Err(_) => {
                    debug!("lag sampling took longer than its interval; skipped");
                    continue;
                }
            };
            let now = now_ms();
            let counters = topic_counters(&state);
            let mut samples = locks::write(&state.samples);
            let dt = (now - last_ms) as f64 / 1000.0;
            for (topic, &(rin, bin, rout)) in &counters {
                if let Some(&(prin, pbin, prout)) = last.get(topic).filter(|_| dt > 0.0) {
                    let rate = |a: u64, b: u64| a.saturating_sub(b) as f64 / dt;
                    samples.record(
                        series_name("topic", topic, "records_in"),
                        now,
                        rate(rin, prin),
                    );
                    samples.record(
                        series_name("topic", topic, "bytes_in"),
                        now,
                        rate(bin, pbin),
                    );
                    samples.record(
                        series_name("topic", topic, "records_out"),
                        now,
                        rate(rout, prout),
                    );
                }
            }
            if let Some(groups) = groups {
                let gone: Vec<String> = samples
                    .groups
                    .keys()
                    .filter(|g| !groups.contains_key(*g))
                    .cloned()
                    .collect();
                for (id, g) in &groups {
                    samples.record(series_name("group", id, "lag"), now, g.total_lag() as f64);
                }
                samples.groups = groups;
                let image = state.image();
                state.metrics.retain_e2e(
                    |t| image.topics.contains_key(t),
                    |g| !gone.iter().any(|x| x == g),
                );
            }
            samples.forget_older_than(now - 3 * i64::try_from(period.as_millis()).unwrap_or(0));
            samples.taken_ms = now;
            last = counters;
            last_ms = now;
        }
    });
}

/// Records in, bytes in and records out of each topic, summed over the partitions hosted here.
fn topic_counters(state: &BrokerState) -> HashMap<String, (u64, u64, u64)> {
    use std::sync::atomic::Ordering::Relaxed;
    let mut out: HashMap<String, (u64, u64, u64)> = HashMap::new();
    for p in state.partitions() {
        let e = out.entry(p.topic.clone()).or_default();
        e.0 += p.stats.records_in.load(Relaxed);
        e.1 += p.stats.bytes_in.load(Relaxed);
        e.2 += p.stats.records_out.load(Relaxed);
    }
    out
}

/// The groups coordinated here with their lag; `None` while a coordinator partition loads.
pub(crate) async fn sample(state: &Arc<BrokerState>) -> Option<BTreeMap<String, GroupLag>> {
    let mut groups = read_groups(state)?;
    let image = state.image();
    // Offsets a group still holds for a deleted topic have no lag.
    for g in groups.values_mut() {
        g.partitions.retain(|p| image.topics.contains_key(&p.topic));
    }
    let mut wanted: BTreeMap<(String, i32), (i64, i64)> = BTreeMap::new();
    for g in groups.values() {
        for p in &g.partitions {
            wanted.insert((p.topic.clone(), p.partition), (-1, -1));
        }
    }
    let mut remote: BTreeMap<i32, Vec<(String, i32)>> = BTreeMap::new();
    for ((topic, partition), ends) in wanted.iter_mut() {
        match state.leader(topic, *partition) {
            Ok(p) => *ends = (p.high_watermark(), p.last_stable_offset()),
            Err(_) => {
                let leader = image
                    .topic(topic)
                    .and_then(|t| t.partitions.get(partition))
                    .map_or(-1, |p| p.leader);
                if leader >= 0 && leader != state.config.node_id {
                    remote
                        .entry(leader)
                        .or_default()
                        .push((topic.clone(), *partition));
                }
            }
        }
    }
    for (node, parts) in remote {
        let Some(b) = image.brokers.get(&node) else {
            continue;
        };
        let addr = format!("{}:{}", b.host, b.port);
        for (isolation, stable) in [(0i8, false), (1i8, true)] {
            for ((topic, partition), offset) in
                ask_leader(state, node, &addr, &parts, isolation).await
            {
                if let Some(e) = wanted.get_mut(&(topic, partition)) {
                    if stable {
                        e.1 = offset;
                    } else {
                        e.0 = offset;
                    }
                }
            }
        }
    }
    for g in groups.values_mut() {
        for p in &mut g.partitions {
            if let Some(&(end, stable)) = wanted.get(&(p.topic.clone(), p.partition)) {
                p.log_end = end;
                p.last_stable = stable;
            }
        }
    }
    Some(groups)
}

/// The latest offsets of `parts` as their leader `node` answers them at `isolation`.
async fn ask_leader(
    state: &BrokerState,
    node: i32,
    addr: &str,
    parts: &[(String, i32)],
    isolation: i8,
) -> Vec<((String, i32), i64)> {
    let mut topics: BTreeMap<&str, Vec<i32>> = BTreeMap::new();
    for (t, p) in parts {
        topics.entry(t).or_default().push(*p);
    }
    let req = ListOffsetsRequest {
        replica_id: -1,
        isolation_level: isolation,
        topics: topics
            .into_iter()
            .map(|(name, ps)| ListOffsetsTopic {
                name: name.to_string(),
                partitions: ps
                    .into_iter()
                    .map(|p| ListOffsetsPartition {
                        partition_index: p,
                        current_leader_epoch: -1,
                        timestamp: LATEST,
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    };
    match state.peers.send(node, addr, &req).await {
        Ok(resp) => resp
            .topics
            .into_iter()
            .flat_map(|t| {
                let name = t.name;
                t.partitions
                    .into_iter()
                    .filter(|p| p.error_code == 0)
                    .map(move |p| ((name.clone(), p.partition_index), p.offset))
            })
            .collect(),
        Err(e) => {
            debug!(node, error = %e, "asking a leader for log ends failed");
            Vec::new()
        }
    }
}

/// Every group of the coordinator partitions this broker leads: kind, state, members and
/// committed offsets (log ends still unknown).
fn read_groups(state: &BrokerState) -> Option<BTreeMap<String, GroupLag>> {
    let all = state
        .groups
        .read_all(|c| {
            let mut out: Vec<(String, GroupLag)> = Vec::new();
            for g in c.groups() {
                let d = c.describe(g.group_id());
                out.push((
                    g.group_id().to_string(),
                    GroupLag {
                        kind: "classic",
                        state: g.state().as_str().to_string(),
                        members: d
                            .members
                            .into_iter()
                            .map(|m| Member {
                                member_id: m.member_id,
                                client_id: m.client_id,
                                client_host: m.client_host,
                                assigned: Vec::new(),
                            })
                            .collect(),
                        partitions: Vec::new(),
                    },
                ));
            }
            for g in c.consumer_groups() {
                out.push((
                    g.group_id().to_string(),
                    GroupLag {
                        kind: "consumer",
                        state: g.state().as_str().to_string(),
                        members: g
                            .members()
                            .map(|m| Member {
                                member_id: m.member_id.clone(),
                                client_id: m.client_id.clone(),
                                client_host: m.client_host.clone(),
                                assigned: m
                                    .assigned
                                    .iter()
                                    .flat_map(|(t, ps)| ps.iter().map(move |p| (t.clone(), *p)))
                                    .collect(),
                            })
                            .collect(),
                        partitions: Vec::new(),
                    },
                ));
            }
            let mut offsets: Vec<(String, Vec<PartitionLag>)> = Vec::new();
            for (group, store) in c.all_offsets() {
                offsets.push((
                    group.to_string(),
                    store
                        .iter()
                        .map(|(t, p, o)| PartitionLag {
                            topic: t.to_string(),
                            partition: p,
                            committed: o.offset,
                            log_end: -1,
                            last_stable: -1,
                        })
                        .collect(),
                ));
            }
            (out, offsets)
        })
        .ok()?;
    let mut groups = BTreeMap::new();
    let mut offsets = Vec::new();
    for (gs, os) in all {
        groups.extend(gs);
        offsets.extend(os);
    }
    for (group, parts) in offsets {
        groups
            .entry(group)
            .or_insert_with(|| GroupLag {
                kind: "classic",
                state: "Empty".into(),
                ..Default::default()
            })
            .partitions = parts;
    }
    Some(groups)
}
