//! The console's JSON: the cluster as this broker's metadata image has it, topics with their
//! partitions and configs, and the consumer groups this broker coordinates with their lag
//! (as the sampler last measured it) and plotted history.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::{json, Value};
use weir_meta::names::is_internal;

use super::{error, Answer};
use crate::configs::{topic_entries, BrokerValues};
use crate::http::readiness;
use crate::locks;
use crate::state::BrokerState;

/// `GET /api/overview`.
pub(crate) fn overview(state: &Arc<BrokerState>) -> Answer {
    let image = state.image();
    let (mut partitions, mut offline, mut under) = (0usize, 0usize, 0usize);
    for t in image.topics.values() {
        for p in t.partitions.values() {
            partitions += 1;
            offline += usize::from(p.leader < 0);
            under += usize::from(p.isr.len() < p.replicas.len());
        }
    }
    let brokers: Vec<Value> = image
        .brokers
        .values()
        .map(|b| {
            json!({
                "node_id": b.node_id, "host": b.host, "port": b.port,
                "rack": b.rack, "fenced": b.fenced,
            })
        })
        .collect();
    let ready = match readiness::check(state) {
        Ok(()) => "ready".to_string(),
        Err(why) => format!("not ready: {why}"),
    };
    let samples = locks::read(&state.samples);
    (
        200,
        json!({
            "node_id": state.config.node_id,
            "cluster_id": image.cluster_id,
            "controller": state.meta.status().leader,
            "ready": ready,
            "brokers": brokers,
            "topics": image.topics.len(),
            "partitions": partitions,
            "offline_partitions": offline,
            "under_replicated_partitions": under,
            "groups": samples.groups.len(),
            "taken_ms": samples.taken_ms,
        }),
    )
}

/// `GET /api/topics`.
pub(crate) fn topics(state: &Arc<BrokerState>) -> Answer {
    let image = state.image();
    let topics: Vec<Value> = image
        .topics
        .values()
        .map(|t| {
            let rf = t.partitions.values().map(|p| p.replicas.len()).max();
            json!({
                "name": t.name,
                "id": uuid::Uuid::from_bytes(t.topic_id).to_string(),
                "partitions": t.partitions.len(),
                "replication_factor": rf.unwrap_or(0),
                "under_replicated": t.partitions.values().filter(|p| p.isr.len() < p.replicas.len()).count(),
                "offline": t.partitions.values().filter(|p| p.leader < 0).count(),
                "internal": is_internal(&t.name),
            })
        })
        .collect();
    (200, json!({ "topics": topics }))
}

/// `GET /api/topics/<name>`.
pub(crate) fn topic(state: &Arc<BrokerState>, name: &str) -> Answer {
    let image = state.image();
    let Some(t) = image.topic(name) else {
        return error(404, "unknown topic");
    };
    let partitions: Vec<Value> = t
        .partitions
        .values()
        .map(|pi| {
            let local = state.partition_by_id(&t.topic_id, pi.partition);
            let (start, hw, end, size) = match &local {
                Some(p) => {
                    let log = p.log();
                    (
                        Some(p.log_start_offset()),
                        Some(p.high_watermark()),
                        Some(log.log_end_offset()),
                        Some(log.size_bytes()),
                    )
                }
                None => (None, None, None, None),
            };
            json!({
                "partition": pi.partition, "leader": pi.leader, "leader_epoch": pi.leader_epoch,
                "replicas": pi.replicas, "isr": pi.isr,
                "log_start_offset": start, "high_watermark": hw, "log_end_offset": end,
                "size_bytes": size,
            })
        })
        .collect();
    let values = BrokerValues {
        config: &state.config,
        image: &image,
    };
    let configs: BTreeMap<String, Option<String>> = topic_entries(&values, t)
        .into_iter()
        .map(|e| (e.name, e.value))
        .collect();
    let prefix = crate::samples::series_name("topic", name, "");
    (
        200,
        json!({
            "name": t.name,
            "id": uuid::Uuid::from_bytes(t.topic_id).to_string(),
            "internal": is_internal(&t.name),
            "configs": configs,
            "partitions": partitions,
            "history": history(state, &prefix),
        }),
    )
}

/// `GET /api/groups`.
pub(crate) fn groups(state: &Arc<BrokerState>) -> Answer {
    let samples = locks::read(&state.samples);
    let groups: Vec<Value> = samples
        .groups
        .iter()
        .map(|(id, g)| {
            json!({
                "group": id, "type": g.kind, "state": g.state,
                "members": g.members.len(), "lag": g.total_lag(),
            })
        })
        .collect();
    (
        200,
        json!({ "taken_ms": samples.taken_ms, "groups": groups }),
    )
}

/// `GET /api/groups/<id>`.
pub(crate) fn group(state: &Arc<BrokerState>, id: &str) -> Answer {
    let body = {
        let samples = locks::read(&state.samples);
        let Some(g) = samples.groups.get(id) else {
            return error(404, "no such group coordinated by this broker (yet)");
        };
        let members: Vec<Value> = g
            .members
            .iter()
            .map(|m| {
                json!({
                    "member_id": m.member_id, "client_id": m.client_id,
                    "client_host": m.client_host, "assigned": m.assigned,
                })
            })
            .collect();
        let partitions: Vec<Value> = g
            .partitions
            .iter()
            .map(|p| {
                json!({
                    "topic": p.topic, "partition": p.partition, "committed": p.committed,
                    "log_end": p.log_end, "last_stable": p.last_stable, "lag": p.lag(),
                })
            })
            .collect();
        json!({
            "group": id, "type": g.kind, "state": g.state,
            "members": members, "partitions": partitions,
        })
    };
    let mut body = body;
    body["history"] = history(state, &crate::samples::series_name("group", id, ""));
    (200, body)
}

/// The plotted series whose names start with `prefix`, by the rest of their name.
fn history(state: &BrokerState, prefix: &str) -> Value {
    let samples = locks::read(&state.samples);
    let mut out = serde_json::Map::new();
    for (name, points) in samples.history.range(prefix.to_string()..) {
        let Some(rest) = name.strip_prefix(prefix) else {
            break;
        };
        let pts: Vec<[f64; 2]> = points.iter().map(|(t, v)| [*t as f64, *v]).collect();
        out.insert(rest.to_string(), json!(pts));
    }
    Value::Object(out)
}
