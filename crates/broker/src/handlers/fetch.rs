//! Fetch: stored batches as they are, up to the high watermark (the last stable offset for
//! `read_committed`, with the aborted transactions in what is returned), honouring max_bytes,
//! partition_max_bytes and KIP-74 (the first batch is returned even if larger). Long-polls
//! until min_bytes are available or max_wait_ms passes, woken by appends, never spinning.
//! A follower's fetch (a replica id of a replica) reads up to the log end, and its fetch
//! offset tells the leader how far it has the log: the high watermark and ISR follow.
//! Which partitions a fetch reads and which its answer carries is its fetch session's
//! call (KIP-227, [`crate::fetch_session`]).

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;
use tracing::info;
use weir_auth::acl::{Operation, ResourceType};
use weir_protocol::error::ErrorCode;
use weir_protocol::messages::fetch_response::{
    AbortedTransaction, FetchableTopicResponse, PartitionData,
};
use weir_protocol::messages::{FetchRequest, FetchResponse};

use crate::error::storage_error_code;
use crate::fetch_session::{Context, Wanted};
use crate::handlers::context::{Reply, RequestContext};
use crate::host::now_ms;
use crate::ids::from_uuid;
use crate::state::BrokerState;

pub(crate) async fn handle(ctx: RequestContext, req: FetchRequest) -> Reply<FetchResponse> {
    let state = ctx.state.clone();
    let version = ctx.version;
    let max_wait = Duration::from_millis(u64::try_from(req.max_wait_ms.max(0)).unwrap_or(0));
    let deadline = Instant::now() + max_wait;
    let min_bytes = usize::try_from(req.min_bytes.max(0)).unwrap_or(0);
    let replica = if req.replica_id >= 0 {
        req.replica_id
    } else {
        req.replica_state.replica_id
    };
    let opened = state
        .fetch_sessions
        .open(&req, version, replica >= 0, std::time::Instant::now());
    let (session, wanted) = match opened {
        Ok(o) => o,
        Err(code) => {
            info!(
                client_id = %ctx.client_id,
                session_id = req.session_id,
                session_epoch = req.session_epoch,
                error = code.name(),
                "fetch session refused"
            );
            return Reply::Now(refused(code));
        }
    };
    let denied = denied(&ctx, &wanted, version >= 13, replica);
    let req = Request {
        denied,
        wanted,
        version,
        replica,
        max_bytes: req.max_bytes,
        read_committed: req.isolation_level == 1,
        client_id: ctx.client_id,
    };
    // A follower's fetch offsets count once, on the first pass.
    let (read, bytes, errors) = read_once(&state, &req, true);
    if bytes >= min_bytes || errors || max_wait.is_zero() {
        return Reply::Now(respond(&state, &session, &req, read));
    }
    Reply::Later(Box::pin(async move {
        loop {
            let notified = state.data_notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let (read, bytes, errors) = read_once(&state, &req, false);
            if bytes >= min_bytes || errors || Instant::now() >= deadline {
                return respond(&state, &session, &req, read);
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                let (read, _, _) = read_once(&state, &req, false);
                return respond(&state, &session, &req, read);
            }
        }
    }))
}

/// What the client may not read: every partition (a follower without CLUSTER_ACTION), or
/// the topics it may not READ; `None` when it may read all.
enum Denied {
    All,
    Topics(std::collections::HashSet<String>),
}

/// What of `wanted` the client may not read, by Kafka's rules: a follower needs
/// CLUSTER_ACTION on the cluster, a consumer READ on each topic.
fn denied(ctx: &RequestContext, wanted: &[Wanted], by_id: bool, replica: i32) -> Option<Denied> {
    if !ctx.state.authz.enabled() {
        return None;
    }
    if replica >= 0 {
        return (!ctx.allowed_cluster(Operation::ClusterAction)).then_some(Denied::All);
    }
    let image = ctx.state.image();
    let mut seen: std::collections::HashMap<String, bool> = std::collections::HashMap::new();
    for w in wanted {
        let name = if by_id {
            match image.topic_by_id(&from_uuid(&w.topic.id)) {
                Some(t) => t.name.clone(),
                None => continue,
            }
        } else {
            w.topic.name.clone()
        };
        if let std::collections::hash_map::Entry::Vacant(v) = seen.entry(name) {
            let ok = ctx.allowed(Operation::Read, ResourceType::Topic, v.key());
            v.insert(ok);
        }
    }
    let topics: std::collections::HashSet<String> = seen
        .into_iter()
        .filter(|(_, ok)| !ok)
        .map(|(n, _)| n)
        .collect();
    (!topics.is_empty()).then_some(Denied::Topics(topics))
}

/// What one fetch reads, as its session decided.
struct Request {
    /// What it may not read.
    denied: Option<Denied>,
    /// The partitions, in order.
    wanted: Vec<Wanted>,
    version: i16,
    /// The follower fetching, or -1 for a consumer.
    replica: i32,
    max_bytes: i32,
    read_committed: bool,
    /// The fetching client, whose consumer group the end-to-end latency is counted for.
    client_id: String,
}

/// A whole fetch answered with a session error.
fn refused(code: ErrorCode) -> FetchResponse {
    FetchResponse {
        error_code: code.code(),
        ..Default::default()
    }
}

/// The response to a fetch in `session` that read `read`: what the session lets through,
/// grouped by topic in read order.
fn respond(
    state: &BrokerState,
    session: &Context,
    req: &Request,
    read: Vec<PartitionData>,
) -> FetchResponse {
    let wanted = &req.wanted[..];
    if req.replica < 0 && state.metrics.enabled {
        account(state, req, &read);
    }
    let (session_id, parts) =
        match state
            .fetch_sessions
            .finish(session, wanted, read, std::time::Instant::now())
        {
            Ok(done) => done,
            Err(code) => return refused(code),
        };
    let mut responses: Vec<FetchableTopicResponse> = Vec::new();
    for (w, data) in parts {
        match responses.last_mut() {
            Some(t) if t.topic == w.topic.name && t.topic_id == w.topic.id => {
                t.partitions.push(data)
            }
            _ => responses.push(FetchableTopicResponse {
                topic: w.topic.name.clone(),
                topic_id: w.topic.id,
                partitions: vec![data],
                ..Default::default()
            }),
        }
    }
    FetchResponse {
        session_id,
        responses,
        ..Default::default()
    }
}

/// Counts what a consumer's fetch returns: records and bytes out per partition, and the age
/// of each data batch (end-to-end latency) per topic and the client's group.
fn account(state: &BrokerState, req: &Request, read: &[PartitionData]) {
    let now = now_ms();
    let mut group: Option<String> = None;
    let mut ages = Vec::new();
    for (w, data) in req.wanted.iter().zip(read) {
        let Some(bytes) = data.records.as_ref().filter(|b| !b.is_empty()) else {
            continue;
        };
        ages.clear();
        let records = batch_ages(bytes, now, &mut ages);
        let partition = state
            .partition_by_id(&from_uuid(&w.topic.id), w.partition)
            .or_else(|| state.partition(&w.topic.name, w.partition));
        if let Some(p) = &partition {
            p.stats.count_out(records, bytes.len() as u64);
            if !ages.is_empty() {
                let g = group.get_or_insert_with(|| state.metrics.group_of(&req.client_id));
                state.metrics.observe_e2e(&p.topic, g.clone(), &ages);
            }
        }
    }
}

/// Walks the record batches in `bytes`: returns how many records they hold and pushes, for
/// each data batch, `now` minus its newest timestamp, in seconds (0 if in the future).
fn batch_ages(bytes: &[u8], now_ms: i64, ages: &mut Vec<f64>) -> u64 {
    const HEADER: usize = 61;
    let mut records = 0u64;
    let mut pos = 0usize;
    while let Some(h) = bytes.get(pos..pos + HEADER) {
        let len = i32::from_be_bytes([h[8], h[9], h[10], h[11]]);
        let Some(total) = usize::try_from(len).ok().and_then(|l| l.checked_add(12)) else {
            break;
        };
        if total < HEADER || pos + total > bytes.len() {
            break;
        }
        let attributes = i16::from_be_bytes([h[21], h[22]]);
        let control = attributes & 0x20 != 0;
        if !control {
            let count = i32::from_be_bytes([h[57], h[58], h[59], h[60]]);
            records += u64::try_from(count).unwrap_or(0);
            let max_ts =
                i64::from_be_bytes([h[35], h[36], h[37], h[38], h[39], h[40], h[41], h[42]]);
            if max_ts > 0 {
                ages.push((now_ms - max_ts).max(0) as f64 / 1000.0);
            }
        }
        pos += total;
    }
    records
}

/// One pass over the partitions a fetch reads: what each returned (in `req.wanted`'s
/// order), bytes read, whether
/// any partition failed (an error answers at once, as Kafka does). For a follower
/// (`replica` >= 0) it reads up to the log end; with `track`, its fetch offsets also tell
/// the leader how far it has each log (the high watermark moves, waiters wake, the ISR may
/// grow).
fn read_once(
    state: &Arc<BrokerState>,
    req: &Request,
    track: bool,
) -> (Vec<PartitionData>, usize, bool) {
    let (version, replica) = (req.version, req.replica);
    let by_id = version >= 13;
    let image = state.image();
    let track = track && replica >= 0;
    let now = if track { now_ms() } else { 0 };
    // A fenced broker may not join an ISR (the controller would refuse it).
    let eligible = track && image.brokers.get(&replica).is_some_and(|b| !b.fenced);
    let mut advanced = false;
    let max_bytes = if version >= 3 {
        usize::try_from(req.max_bytes.max(0)).unwrap_or(0)
    } else {
        usize::MAX
    };
    let mut remaining = max_bytes;
    let mut total = 0usize;
    let mut errors = false;
    let read_committed = req.read_committed;
    let unknown = if by_id {
        ErrorCode::UnknownTopicId
    } else {
        ErrorCode::UnknownTopicOrPartition
    };
    let mut out = Vec::with_capacity(req.wanted.len());
    for w in &req.wanted {
        let topic = if by_id {
            image.topic_by_id(&from_uuid(&w.topic.id))
        } else {
            image.topic(&w.topic.name)
        };
        let mut data = PartitionData {
            partition_index: w.partition,
            high_watermark: -1,
            last_stable_offset: -1,
            log_start_offset: -1,
            preferred_read_replica: -1,
            aborted_transactions: if read_committed {
                Some(Vec::new())
            } else {
                None
            },
            records: Some(bytes::Bytes::new()),
            ..Default::default()
        };
        let refused = match (&req.denied, topic) {
            (Some(Denied::All), _) => true,
            (Some(Denied::Topics(t)), Some(tp)) => t.contains(&tp.name),
            (Some(Denied::Topics(t)), None) => !by_id && t.contains(&w.topic.name),
            (None, _) => false,
        };
        let partition = match topic {
            _ if refused => Err(ErrorCode::TopicAuthorizationFailed),
            None => Err(unknown),
            Some(tp) => state.lead(tp, w.partition),
        };
        let partition = match partition
            .and_then(|p| p.check_leader_epoch(w.current_leader_epoch).map(|()| p))
        {
            Ok(partition) => partition,
            Err(code) => {
                data.error_code = code.code();
                errors = true;
                out.push(data);
                continue;
            }
        };
        if track {
            let (moved, expand) =
                partition.on_follower_fetch(replica, w.fetch_offset, eligible, now);
            advanced |= moved;
            if let Some(isr) = expand {
                crate::replication::propose_isr(&state.host, &partition, isr);
            }
        }
        data.high_watermark = partition.high_watermark();
        data.last_stable_offset = partition.last_stable_offset();
        data.log_start_offset = partition.log_start_offset();
        let limit = usize::try_from(w.max_bytes.max(0))
            .unwrap_or(0)
            .min(remaining);
        let read = if replica >= 0 {
            partition
                .read_for_follower(w.fetch_offset, limit)
                .map(|r| (r, Vec::new()))
        } else {
            partition.read(w.fetch_offset, limit, total == 0, read_committed)
        };
        match read {
            Ok((r, aborted)) => {
                total += r.bytes.len();
                remaining = remaining.saturating_sub(r.bytes.len());
                data.records = Some(r.bytes);
                if read_committed {
                    data.aborted_transactions = Some(
                        aborted
                            .into_iter()
                            .map(|t| AbortedTransaction {
                                producer_id: t.producer_id,
                                first_offset: t.first_offset,
                                ..Default::default()
                            })
                            .collect(),
                    );
                }
            }
            Err(e) => {
                data.error_code = storage_error_code(&e).code();
                errors = true;
            }
        }
        out.push(data);
    }
    if advanced {
        state.data_notify.notify_waiters();
    }
    (out, total, errors)
}
