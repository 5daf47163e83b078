//! A replica fetcher: one task per leader, fetching every partition this broker follows
//! from it in one Fetch request (as Kafka's ReplicaFetcherThread), over its own connection.
//! Before fetching a partition under a new leader epoch it asks the leader where its own
//! newest epoch ends (OffsetForLeaderEpoch) and truncates a divergent tail.
//!
//! A fetch's offset tells the leader what this replica holds, and the leader counts it
//! toward the high watermark (and so toward acks=all). What a fetch appended is therefore
//! fsynced (through group commit) before the next fetch goes out: a follower never vouches
//! for data a power loss could take from it.

use std::collections::HashMap;
use std::sync::{Arc, Weak};
use std::time::Duration;

use tracing::{debug, info, warn};
use weir_client::{ClientError, Connection};
use weir_protocol::error::ErrorCode;
use weir_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use weir_protocol::messages::offset_for_leader_epoch_request::{
    OffsetForLeaderPartition, OffsetForLeaderTopic,
};
use weir_protocol::messages::{FetchRequest, OffsetForLeaderEpochRequest};

use crate::host::{now_ms, Host};
use crate::partition::Partition;

/// How long a follower's fetch waits at the leader for new data (replica.fetch.wait.max.ms).
const FETCH_WAIT_MS: i32 = 500;
/// Most bytes per partition per fetch (replica.fetch.max.bytes).
const PARTITION_MAX_BYTES: i32 = 1024 * 1024;
/// Most bytes per fetch response (replica.fetch.response.max.bytes).
const RESPONSE_MAX_BYTES: i32 = 10 * 1024 * 1024;
/// Pause after an error before trying again (replica.fetch.backoff.ms).
const BACKOFF: Duration = Duration::from_millis(200);
/// Longest a request to the leader may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Fetches from `leader` until this broker follows nothing of it any more.
pub(super) async fn run(weak: Weak<Host>, leader: i32) {
    let mut conn: Option<(String, Connection)> = None;
    loop {
        let Some(state) = weak.upgrade() else { return };
        if state.is_stopping() {
            return;
        }
        let parts: Vec<Arc<Partition>> = state
            .partitions()
            .into_iter()
            .filter(|p| p.following().is_some_and(|(l, _)| l == leader))
            .collect();
        if parts.is_empty() {
            debug!(leader, "no partitions left to follow; fetcher stops");
            return;
        }
        let Some(addr) = state
            .image()
            .brokers
            .get(&leader)
            .map(|b| format!("{}:{}", b.host, b.port))
        else {
            drop(state);
            tokio::time::sleep(BACKOFF).await;
            continue;
        };
        if conn.as_ref().is_none_or(|(a, _)| *a != addr) {
            let id = format!("weir-replica-fetcher-{}", state.config.node_id);
            let security = state.peers.security().clone();
            let connect = crate::peers::connect(&addr, &id, &security);
            match tokio::time::timeout(REQUEST_TIMEOUT, connect).await {
                Ok(Ok(c)) => conn = Some((addr.clone(), c)),
                Ok(Err(e)) => {
                    debug!(leader, error = %e, "cannot reach the leader");
                    drop(state);
                    tokio::time::sleep(BACKOFF).await;
                    continue;
                }
                Err(_) => {
                    drop(state);
                    tokio::time::sleep(BACKOFF).await;
                    continue;
                }
            }
        }
        let Some((_, c)) = conn.as_ref() else {
            continue;
        };
        let result = round(&state, c, &parts).await;
        drop(state);
        match result {
            Ok(true) => {}
            Ok(false) => tokio::time::sleep(BACKOFF).await,
            Err(e) => {
                debug!(leader, error = %e, "replica fetch failed; reconnecting");
                conn = None;
                tokio::time::sleep(BACKOFF).await;
            }
        }
    }
}

/// One round: truncation checks where needed, then one fetch. Ok(false) when every
/// partition failed (the caller backs off).
async fn round(
    state: &Host,
    conn: &Connection,
    parts: &[Arc<Partition>],
) -> Result<bool, ClientError> {
    let truncating: Vec<&Arc<Partition>> = parts
        .iter()
        .filter(|p| p.following().is_some_and(|(_, t)| t))
        .collect();
    if !truncating.is_empty() {
        truncate(conn, &truncating).await?;
    }
    let ready: Vec<&Arc<Partition>> = parts
        .iter()
        .filter(|p| p.following().is_some_and(|(_, t)| !t))
        .collect();
    if ready.is_empty() {
        return Ok(false);
    }
    fetch(state, conn, &ready).await
}

/// Checks each log against the leader's: asks where our newest epoch ends there, and cuts
/// what we have past it.
async fn truncate(conn: &Connection, parts: &[&Arc<Partition>]) -> Result<(), ClientError> {
    let mut topics: HashMap<String, Vec<OffsetForLeaderPartition>> = HashMap::new();
    let mut no_epoch = Vec::new();
    for p in parts {
        match p.latest_log_epoch() {
            Some(e) => topics
                .entry(p.topic.clone())
                .or_default()
                .push(OffsetForLeaderPartition {
                    partition: p.index,
                    current_leader_epoch: p.leader_epoch(),
                    leader_epoch: e,
                    ..Default::default()
                }),
            None => no_epoch.push(*p),
        }
    }
    // Nothing epoch-stamped here: keep only what the high watermark vouches for.
    for p in no_epoch {
        let epoch = p.leader_epoch();
        if let Err(e) = p.truncate_to(p.high_watermark()) {
            warn!(topic = %p.topic, partition = p.index, error = %e, "truncation failed");
            continue;
        }
        p.truncation_done(epoch);
    }
    if topics.is_empty() {
        return Ok(());
    }
    let req = OffsetForLeaderEpochRequest {
        replica_id: -1,
        topics: topics
            .into_iter()
            .map(|(topic, partitions)| OffsetForLeaderTopic {
                topic,
                partitions,
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    };
    let version = conn.version_of::<OffsetForLeaderEpochRequest>()?;
    let resp = tokio::time::timeout(REQUEST_TIMEOUT, conn.send_at(&req, version))
        .await
        .map_err(|_| ClientError::Closed)??;
    for t in resp.topics {
        for r in t.partitions {
            let Some(p) = parts
                .iter()
                .find(|p| p.topic == t.topic && p.index == r.partition)
            else {
                continue;
            };
            if r.error_code != 0 {
                debug!(topic = %p.topic, partition = p.index, error = ErrorCode::from_code(r.error_code).name(), "leader cannot answer OffsetForLeaderEpoch yet");
                continue;
            }
            let epoch = p.leader_epoch();
            let leo = p.log().log_end_offset();
            let target = if r.leader_epoch < 0 || r.end_offset < 0 {
                p.high_watermark()
            } else {
                let ours = p.end_offset_for_epoch(r.leader_epoch).1;
                r.end_offset.min(leo).min(if ours < 0 { leo } else { ours })
            };
            if target < leo {
                info!(topic = %p.topic, partition = p.index, from = leo, to = target, leader_epoch = r.leader_epoch, "truncating a divergent tail");
            }
            if let Err(e) = p.truncate_to(target) {
                warn!(topic = %p.topic, partition = p.index, error = %e, "truncation failed");
                continue;
            }
            p.truncation_done(epoch);
        }
    }
    Ok(())
}

/// One Fetch for every ready partition; appends what came back. Ok(false) if nothing
/// could be fetched (every partition failed).
async fn fetch(
    state: &Host,
    conn: &Connection,
    parts: &[&Arc<Partition>],
) -> Result<bool, ClientError> {
    let mut topics: HashMap<String, Vec<FetchPartition>> = HashMap::new();
    for p in parts {
        let (leo, start) = {
            let log = p.log();
            (log.log_end_offset(), log.log_start_offset())
        };
        topics
            .entry(p.topic.clone())
            .or_default()
            .push(FetchPartition {
                partition: p.index,
                current_leader_epoch: p.leader_epoch(),
                fetch_offset: leo,
                last_fetched_epoch: -1,
                log_start_offset: start,
                partition_max_bytes: PARTITION_MAX_BYTES,
                ..Default::default()
            });
    }
    let req = FetchRequest {
        replica_id: state.config.node_id,
        max_wait_ms: FETCH_WAIT_MS,
        min_bytes: 1,
        max_bytes: RESPONSE_MAX_BYTES,
        isolation_level: 0,
        session_id: 0,
        session_epoch: -1,
        topics: topics
            .into_iter()
            .map(|(topic, partitions)| FetchTopic {
                topic,
                partitions,
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    };
    // Topics by name, and the replica id in its pre-KIP-903 place.
    let version = conn.version_of::<FetchRequest>()?.min(12);
    let wait = REQUEST_TIMEOUT + Duration::from_millis(FETCH_WAIT_MS.unsigned_abs().into());
    let resp = tokio::time::timeout(wait, conn.send_at(&req, version))
        .await
        .map_err(|_| ClientError::Closed)??;
    if resp.error_code != 0 {
        return Ok(false);
    }
    let now = now_ms();
    let mut any_ok = false;
    let mut syncs = Vec::new();
    for t in resp.responses {
        for r in t.partitions {
            let Some(p) = parts
                .iter()
                .find(|p| p.topic == t.topic && p.index == r.partition_index)
            else {
                continue;
            };
            match ErrorCode::from_code(r.error_code) {
                ErrorCode::None => {
                    any_ok = true;
                    let mut bytes = r.records.map(|b| b.to_vec()).unwrap_or_default();
                    match p.append_replicated(&mut bytes, r.high_watermark, now) {
                        Ok(0) => {}
                        Ok(_) => {
                            let last = p.log().log_end_offset() - 1;
                            syncs.push((*p, state.group_commit.request(Arc::clone(p), last)));
                        }
                        Err(e) => {
                            // Check the log against the leader again rather than retry the
                            // same append forever.
                            warn!(topic = %p.topic, partition = p.index, error = %e, "appending replicated batches failed; checking the log against the leader");
                            p.need_truncation();
                            continue;
                        }
                    }
                    if r.log_start_offset > p.log_start_offset() {
                        if let Err(e) = p.delete_records(r.log_start_offset) {
                            debug!(topic = %p.topic, partition = p.index, error = %e, "could not follow the leader's log start");
                        }
                    }
                }
                ErrorCode::OffsetOutOfRange => {
                    let leo = p.log().log_end_offset();
                    if leo < r.log_start_offset {
                        info!(topic = %p.topic, partition = p.index, leo, leader_start = r.log_start_offset, "the leader's log starts past ours; restarting the log there");
                        if let Err(e) = p.reset_to(r.log_start_offset) {
                            warn!(topic = %p.topic, partition = p.index, error = %e, "resetting the log failed");
                        }
                    } else {
                        p.need_truncation();
                    }
                }
                code => {
                    debug!(topic = %p.topic, partition = p.index, error = code.name(), "replica fetch refused");
                }
            }
        }
    }
    // Durable before the next fetch reports these offsets to the leader.
    for (p, synced) in syncs {
        match tokio::time::timeout(REQUEST_TIMEOUT, synced).await {
            Ok(Ok(true)) => {}
            _ => {
                warn!(topic = %p.topic, partition = p.index, "could not sync replicated batches")
            }
        }
    }
    Ok(any_ok)
}
