//! Produce: validate each partition's RecordBatch v2 and append it as received (only the base
//! offset, and the timestamp under LogAppendTime, are rewritten). acks=0 gets no response,
//! acks=1 is answered after the append, acks=all after an fsync covers the batch (group
//! commit; on one node the ISR is the leader alone).

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tracing::{debug, info, warn};
use weir_auth::acl::{Operation, ResourceType};
use weir_protocol::error::ErrorCode;
use weir_protocol::messages::produce_response::{PartitionProduceResponse, TopicProduceResponse};
use weir_protocol::messages::{ProduceRequest, ProduceResponse};
use weir_protocol::record::batch::{BatchError, BatchHeader};
use weir_protocol::record::TimestampType;

use weir_meta::names::is_internal;
use weir_storage::StorageError;

use crate::error::storage_error_code;
use crate::handlers::context::{Reply, RequestContext};
use crate::host::now_ms;
use crate::partition::{AppendError, Partition};
use crate::state::BrokerState;

/// `message.timestamp.after.max.ms` default (Kafka 4.x): one hour into the future.
const TIMESTAMP_AFTER_MAX_MS: i64 = 3_600_000;

/// What happened to one partition's batch.
struct Outcome {
    error: ErrorCode,
    message: Option<String>,
    base_offset: i64,
    log_append_time: i64,
    log_start_offset: i64,
    durable: Option<(Arc<Partition>, i64, i32)>,
}

impl Outcome {
    fn error(error: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            error,
            message: Some(message.into()),
            base_offset: -1,
            log_append_time: -1,
            log_start_offset: -1,
            durable: None,
        }
    }
}

pub(crate) async fn handle(ctx: RequestContext, req: ProduceRequest) -> Reply<ProduceResponse> {
    // Transaction version 2: a v12 Produce adds its partitions to the transaction before
    // appending. That wait must not let a later produce of the connection append first.
    // What to add is found once, here: a partition the produce before also adds is added
    // again, which changes nothing.
    let add = (req.acks != 0 && ctx.version >= 12)
        .then(|| to_add(&ctx.state, &req))
        .flatten();
    if req.acks == 0 || (add.is_none() && !ctx.order.busy()) {
        return produce(ctx, req, None);
    }
    let mut turn = ctx.order.take_turn();
    Reply::Later(Box::pin(async move {
        turn.wait().await;
        let mut refused = None;
        if let Some(add) = add {
            let added = ctx
                .state
                .txns
                .add_implicitly(&add.txn, add.producer_id, add.epoch, &add.partitions)
                .await;
            if let Err(e) = added {
                info!(transactional_id = %add.txn, producer_id = add.producer_id, error = e.name(), "could not add partitions to a transaction for a produce");
                refused = Some((add.partitions, implicit_add_error(e)));
            }
        }
        let reply = produce(ctx, req, refused);
        // Appended: the connection's next produce may append while this one waits for
        // its fsync.
        drop(turn);
        match reply {
            Reply::Now(r) => r,
            Reply::Later(f) => f.await,
            Reply::Nothing => ProduceResponse::default(),
        }
    }))
}

/// Partitions a v12 Produce adds to its producer's transaction.
struct ToAdd {
    txn: String,
    producer_id: i64,
    epoch: i16,
    partitions: Vec<(String, i32)>,
}

/// The transactional batches of a v12 Produce whose partitions this broker leads and whose
/// producer has no transaction open there at that epoch; `None` when there are none.
fn to_add(state: &BrokerState, req: &ProduceRequest) -> Option<ToAdd> {
    let txn = req.transactional_id.as_deref().filter(|t| !t.is_empty())?;
    let mut producer = None;
    let mut partitions = Vec::new();
    for topic in &req.topic_data {
        for p in &topic.partition_data {
            let Some(h) = p
                .records
                .as_deref()
                .and_then(|b| BatchHeader::parse(b).ok())
                .filter(|h| h.is_transactional() && h.producer_id >= 0)
            else {
                continue;
            };
            // One producer per request; a batch of another is refused by the append.
            if *producer.get_or_insert((h.producer_id, h.producer_epoch))
                != (h.producer_id, h.producer_epoch)
            {
                continue;
            }
            let Ok(partition) = state.leader(&topic.name, p.index) else {
                continue;
            };
            if !partition.txn_open(h.producer_id, h.producer_epoch) {
                partitions.push((topic.name.clone(), p.index));
            }
        }
    }
    let (producer_id, epoch) = producer?;
    (!partitions.is_empty()).then(|| ToAdd {
        txn: txn.to_string(),
        producer_id,
        epoch,
        partitions,
    })
}

/// What a producer is told when its partition could not join the transaction, as Kafka's
/// leaders answer: coordinator trouble becomes NOT_ENOUGH_REPLICAS, which producers retry
/// without a metadata refresh; a fenced producer hears INVALID_PRODUCER_EPOCH.
fn implicit_add_error(e: ErrorCode) -> ErrorCode {
    match e {
        ErrorCode::ConcurrentTransactions
        | ErrorCode::NetworkException
        | ErrorCode::CoordinatorLoadInProgress
        | ErrorCode::CoordinatorNotAvailable
        | ErrorCode::NotCoordinator => ErrorCode::NotEnoughReplicas,
        ErrorCode::ProducerFenced => ErrorCode::InvalidProducerEpoch,
        other => other,
    }
}

/// Appends each partition's batch; those in `refused` get its error instead.
fn produce(
    ctx: RequestContext,
    req: ProduceRequest,
    refused: Option<(Vec<(String, i32)>, ErrorCode)>,
) -> Reply<ProduceResponse> {
    let state = ctx.state.clone();
    let acks = req.acks;
    let now = now_ms();
    let mut results: Vec<(String, Vec<(i32, Outcome)>)> = Vec::with_capacity(req.topic_data.len());
    let mut appended = false;
    let txn_id = req.transactional_id.as_deref().filter(|t| !t.is_empty());
    // Kafka's checks: WRITE on the transactional id for every partition, then on each topic.
    let txn_denied =
        txn_id.is_some_and(|t| !ctx.allowed(Operation::Write, ResourceType::TransactionalId, t));
    for topic in req.topic_data {
        let mut parts = Vec::with_capacity(topic.partition_data.len());
        let topic_denied =
            !txn_denied && !ctx.allowed(Operation::Write, ResourceType::Topic, &topic.name);
        for p in topic.partition_data {
            let outcome = if txn_denied {
                Outcome::error(
                    ErrorCode::TransactionalIdAuthorizationFailed,
                    ErrorCode::TransactionalIdAuthorizationFailed.message(),
                )
            } else if topic_denied {
                Outcome::error(
                    ErrorCode::TopicAuthorizationFailed,
                    ErrorCode::TopicAuthorizationFailed.message(),
                )
            } else if !matches!(acks, -1..=1) {
                Outcome::error(
                    ErrorCode::InvalidRequiredAcks,
                    format!("Invalid required acks {acks}"),
                )
            } else if let Some(code) = refused.as_ref().and_then(|(parts, code)| {
                parts
                    .iter()
                    .any(|(t, i)| t == &topic.name && *i == p.index)
                    .then_some(*code)
            }) {
                Outcome::error(code, "The partition could not be added to the transaction")
            } else {
                append_one(&state, &topic.name, p.index, p.records, txn_id, acks, now)
            };
            appended |= outcome.error == ErrorCode::None;
            parts.push((p.index, outcome));
        }
        results.push((topic.name, parts));
    }
    if appended {
        state.data_notify.notify_waiters();
    }
    match acks {
        0 => Reply::Nothing,
        -1 => Reply::Later(Box::pin(async move {
            wait_durable(&state, &mut results, req.timeout_ms).await;
            response(results)
        })),
        _ => Reply::Now(response(results)),
    }
}

fn response(results: Vec<(String, Vec<(i32, Outcome)>)>) -> ProduceResponse {
    let responses = results
        .into_iter()
        .map(|(name, parts)| TopicProduceResponse {
            name,
            partition_responses: parts
                .into_iter()
                .map(|(index, o)| PartitionProduceResponse {
                    index,
                    error_code: o.error.code(),
                    base_offset: o.base_offset,
                    log_append_time_ms: o.log_append_time,
                    log_start_offset: o.log_start_offset,
                    error_message: if o.error == ErrorCode::None {
                        None
                    } else {
                        o.message
                    },
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        })
        .collect();
    ProduceResponse {
        responses,
        ..Default::default()
    }
}

/// Waits, up to the request's timeout, for an fsync to cover every appended batch.
async fn wait_durable(
    state: &BrokerState,
    results: &mut [(String, Vec<(i32, Outcome)>)],
    timeout_ms: i32,
) {
    let mut waits = Vec::new();
    for (ti, (_, parts)) in results.iter().enumerate() {
        for (pi, (_, o)) in parts.iter().enumerate() {
            if let Some((p, last, _)) = &o.durable {
                waits.push((ti, pi, state.group_commit.request(p.clone(), *last)));
            }
        }
    }
    let deadline = tokio::time::Instant::now()
        + Duration::from_millis(u64::try_from(timeout_ms.max(0)).unwrap_or(0));
    for (ti, pi, rx) in waits {
        let ok = tokio::time::timeout_at(deadline, rx).await;
        let Some((_, o)) = results.get_mut(ti).and_then(|(_, parts)| parts.get_mut(pi)) else {
            continue;
        };
        match ok {
            Ok(Ok(true)) => {}
            Ok(_) => {
                o.error = ErrorCode::KafkaStorageError;
                o.message = Some("the log could not be synced to disk".into());
                continue;
            }
            Err(_) => {
                o.error = ErrorCode::RequestTimedOut;
                o.message = Some("timed out waiting for the batch to be synced".into());
                continue;
            }
        }
        if let Some((p, last, epoch)) = &o.durable {
            if let Err((code, message)) =
                crate::replication::wait_replicated(state, p, *last, *epoch, deadline).await
            {
                o.error = code;
                o.message = Some(message);
            }
        }
    }
}

fn append_one(
    state: &BrokerState,
    topic: &str,
    index: i32,
    records: Option<Bytes>,
    transactional_id: Option<&str>,
    acks: i16,
    now: i64,
) -> Outcome {
    let partition = match state.leader(topic, index) {
        Ok(p) => p,
        Err(code) => return Outcome::error(code, code.message()),
    };
    if is_internal(topic) {
        // Only the coordinators write their topics, as in Kafka.
        warn!(
            topic,
            partition = index,
            "rejecting a produce to an internal topic"
        );
        return Outcome::error(
            ErrorCode::InvalidTopicException,
            format!("Cannot append to internal topic {topic}"),
        );
    }
    let records = records.unwrap_or_default();
    let settings = partition.settings();
    if records.len() > settings.max_message_bytes {
        debug!(
            topic,
            partition = index,
            size = records.len(),
            "batch larger than max.message.bytes"
        );
        return Outcome::error(
            ErrorCode::MessageTooLarge,
            format!(
                "The batch size {} exceeds max.message.bytes {}",
                records.len(),
                settings.max_message_bytes
            ),
        );
    }
    let header = match BatchHeader::validate(&records, records.len()) {
        Ok(h) => h,
        Err(e) => {
            warn!(topic, partition = index, error = %e, "rejecting produced batch");
            return Outcome::error(ErrorCode::CorruptMessage, e.to_string());
        }
    };
    if header.total_len() != records.len() {
        warn!(
            topic,
            partition = index,
            "rejecting produce with more than one batch"
        );
        return Outcome::error(
            ErrorCode::InvalidRecord,
            "A produce request must carry exactly one record batch per partition",
        );
    }
    if header.is_control() {
        return Outcome::error(
            ErrorCode::InvalidRecord,
            "Clients may not write control batches",
        );
    }
    if header.timestamp_type() == TimestampType::CreateTime
        && !settings.log_append_time
        && header.max_timestamp > now.saturating_add(TIMESTAMP_AFTER_MAX_MS)
    {
        return Outcome::error(
            ErrorCode::InvalidTimestamp,
            format!(
                "Timestamp {} is more than {TIMESTAMP_AFTER_MAX_MS} ms in the future",
                header.max_timestamp
            ),
        );
    }
    match crate::validate::records(&records, &header, settings.compact) {
        Ok(()) => {}
        Err(e @ BatchError::MissingKey(_)) => {
            warn!(topic, partition = index, error = %e, "rejecting keyless records on a compacted topic");
            return Outcome::error(
                ErrorCode::InvalidRecord,
                format!("Compacted topic cannot accept message without key in topic partition {topic}-{index}."),
            );
        }
        Err(e) => {
            warn!(topic, partition = index, error = %e, "rejecting produced batch");
            return Outcome::error(ErrorCode::CorruptMessage, e.to_string());
        }
    }
    if header.is_transactional() && transactional_id.is_none() {
        // Kafka's answer to transactional records without a transactional id.
        warn!(
            topic,
            partition = index,
            "rejecting transactional records without a transactional id"
        );
        return Outcome::error(
            ErrorCode::TransactionalIdAuthorizationFailed,
            "Transactional records need the transactional id of their producer",
        );
    }
    let verify = || match transactional_id {
        Some(t) => state
            .txns
            .verify(t, header.producer_id, header.producer_epoch, topic, index),
        None => Ok(()),
    };
    if acks == -1 && partition.isr_len() < settings.min_insync_replicas {
        info!(
            topic,
            partition = index,
            isr = partition.isr_len(),
            min_insync = settings.min_insync_replicas,
            "refusing an acks=all produce: too few in-sync replicas"
        );
        return Outcome::error(
            ErrorCode::NotEnoughReplicas,
            format!(
                "The size of the current ISR {} is insufficient to satisfy the min.isr requirement of {} for partition {topic}-{index}",
                partition.isr_len(),
                settings.min_insync_replicas
            ),
        );
    }
    let mut bytes = records.to_vec();
    match partition.append_verified(&mut bytes, &header, now, &verify) {
        Ok(a) => {
            if !a.duplicate {
                partition.stats.count_in(
                    u64::try_from(a.last_offset - a.base_offset + 1).unwrap_or(0),
                    bytes.len() as u64,
                );
            }
            Outcome {
                error: ErrorCode::None,
                message: None,
                base_offset: a.base_offset,
                log_append_time: a.log_append_time,
                log_start_offset: partition.log_start_offset(),
                durable: Some((partition.clone(), a.last_offset, a.leader_epoch)),
            }
        }
        Err(AppendError::Refused(code @ ErrorCode::NotLeaderOrFollower)) => {
            info!(
                topic,
                partition = index,
                "refusing a produce: leadership moved"
            );
            Outcome::error(code, code.message())
        }
        Err(AppendError::Refused(code)) => {
            info!(
                topic,
                partition = index,
                producer_id = header.producer_id,
                error = code.name(),
                "refusing a transactional batch: the partition is not in its transaction"
            );
            Outcome::error(
                code,
                "The partition is not part of the producer's transaction",
            )
        }
        Err(AppendError::Storage(e @ StorageError::Producer(_))) => {
            info!(topic, partition = index, error = %e, "refusing a producer's batch");
            Outcome::error(storage_error_code(&e), e.to_string())
        }
        Err(AppendError::Storage(e)) => {
            warn!(topic, partition = index, error = %e, "append failed");
            Outcome::error(storage_error_code(&e), e.to_string())
        }
    }
}
