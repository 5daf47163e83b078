//! Fetch: stored batches as they are, up to the high watermark (the last stable offset for
//! `read_committed`, with the aborted transactions in what is returned), honouring max_bytes,
//! partition_max_bytes and KIP-74 (the first batch is returned even if larger). Long-polls
//! until min_bytes are available or max_wait_ms passes, woken by appends, never spinning.
//! A follower's fetch (a replica id of a replica) reads up to the log end, and its fetch
//! offset tells the leader how far it has the log: the high watermark and ISR follow.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::Instant;
use weir_protocol::error::ErrorCode;
use weir_protocol::messages::fetch_response::{
    AbortedTransaction, FetchableTopicResponse, PartitionData,
};
use weir_protocol::messages::{FetchRequest, FetchResponse};

use crate::error::storage_error_code;
use crate::handlers::context::{Reply, RequestContext};
use crate::host::now_ms;
use crate::ids::{from_uuid, to_uuid};
use crate::state::BrokerState;

pub(crate) async fn handle(ctx: RequestContext, req: FetchRequest) -> Reply<FetchResponse> {
    let state = ctx.state;
    let version = ctx.version;
    let max_wait = Duration::from_millis(u64::try_from(req.max_wait_ms.max(0)).unwrap_or(0));
    let deadline = Instant::now() + max_wait;
    let min_bytes = usize::try_from(req.min_bytes.max(0)).unwrap_or(0);
    let replica = if req.replica_id >= 0 {
        req.replica_id
    } else {
        req.replica_state.replica_id
    };
    // A follower's fetch offsets count once, on the first pass.
    let (responses, bytes, errors) = read_once(&state, &req, version, replica, true);
    if bytes >= min_bytes || errors || max_wait.is_zero() {
        return Reply::Now(FetchResponse {
            responses,
            ..Default::default()
        });
    }
    Reply::Later(Box::pin(async move {
        loop {
            let notified = state.data_notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let (responses, bytes, errors) = read_once(&state, &req, version, replica, false);
            if bytes >= min_bytes || errors || Instant::now() >= deadline {
                return FetchResponse {
                    responses,
                    ..Default::default()
                };
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                let (responses, _, _) = read_once(&state, &req, version, replica, false);
                return FetchResponse {
                    responses,
                    ..Default::default()
                };
            }
        }
    }))
}

/// One pass over the requested partitions: responses, bytes read, whether any partition
/// failed (an error answers at once, as Kafka does). For a follower (`replica` >= 0) it
/// reads up to the log end; with `track`, its fetch offsets also tell the leader how far it
/// has each log (the high watermark moves, waiters wake, the ISR may grow).
fn read_once(
    state: &Arc<BrokerState>,
    req: &FetchRequest,
    version: i16,
    replica: i32,
    track: bool,
) -> (Vec<FetchableTopicResponse>, usize, bool) {
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
    let read_committed = req.isolation_level == 1;
    let mut out = Vec::with_capacity(req.topics.len());
    for t in &req.topics {
        let topic = if by_id {
            image.topic_by_id(&from_uuid(&t.topic_id))
        } else {
            image.topic(&t.topic)
        };
        let unknown = if by_id {
            ErrorCode::UnknownTopicId
        } else {
            ErrorCode::UnknownTopicOrPartition
        };
        let mut partitions = Vec::with_capacity(t.partitions.len());
        for p in &t.partitions {
            let mut data = PartitionData {
                partition_index: p.partition,
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
            let partition = match topic {
                None => Err(unknown),
                Some(tp) => state.lead(tp, p.partition),
            };
            let partition = match partition {
                Ok(partition) => partition,
                Err(code) => {
                    data.error_code = code.code();
                    errors = true;
                    partitions.push(data);
                    continue;
                }
            };
            if let Err(code) = partition.check_leader_epoch(p.current_leader_epoch) {
                data.error_code = code.code();
                errors = true;
                partitions.push(data);
                continue;
            }
            if track {
                let (moved, expand) =
                    partition.on_follower_fetch(replica, p.fetch_offset, eligible, now);
                advanced |= moved;
                if let Some(isr) = expand {
                    crate::replication::propose_isr(&state.host, &partition, isr);
                }
            }
            let hw = partition.high_watermark();
            data.high_watermark = hw;
            data.last_stable_offset = partition.last_stable_offset();
            data.log_start_offset = partition.log_start_offset();
            let limit = usize::try_from(p.partition_max_bytes.max(0))
                .unwrap_or(0)
                .min(remaining);
            let read = if replica >= 0 {
                partition
                    .read_for_follower(p.fetch_offset, limit)
                    .map(|r| (r, Vec::new()))
            } else {
                partition.read(p.fetch_offset, limit, total == 0, read_committed)
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
            partitions.push(data);
        }
        out.push(FetchableTopicResponse {
            topic: t.topic.clone(),
            topic_id: if by_id {
                t.topic_id
            } else {
                topic.map(|tp| to_uuid(&tp.topic_id)).unwrap_or_default()
            },
            partitions,
            ..Default::default()
        });
    }
    if advanced {
        state.data_notify.notify_waiters();
    }
    (out, total, errors)
}
