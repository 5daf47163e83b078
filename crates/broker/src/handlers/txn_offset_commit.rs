//! TxnOffsetCommit: a transactional producer's consumed offsets for a group, written in its
//! transaction; they become the group's committed offsets when the transaction commits.
//! v5 is transaction version 2: the group's offsets partition joins the transaction here
//! instead of by AddOffsetsToTxn.

use weir_coordinator::coordinator::{CommitPartition, CommitTopic, TxnOffsetCommit};
use weir_protocol::messages::txn_offset_commit_response::{
    TxnOffsetCommitResponsePartition, TxnOffsetCommitResponseTopic,
};
use weir_protocol::messages::{TxnOffsetCommitRequest, TxnOffsetCommitResponse};

use tracing::info;
use weir_auth::acl::{Operation, ResourceType};
use weir_protocol::error::ErrorCode;

use crate::groups::OFFSETS_TOPIC;
use crate::handlers::context::{Reply, RequestContext};

pub(crate) async fn handle(
    ctx: RequestContext,
    req: TxnOffsetCommitRequest,
) -> Reply<TxnOffsetCommitResponse> {
    let state = ctx.state.clone();
    let v2 = ctx.version >= 5;
    // WRITE on the transactional id and READ on the group for the whole request; READ on
    // each topic, whose refusal fails only that topic's partitions, as in Kafka.
    let denied = if !ctx.allowed(
        Operation::Write,
        ResourceType::TransactionalId,
        &req.transactional_id,
    ) {
        Some(ErrorCode::TransactionalIdAuthorizationFailed)
    } else if !ctx.allowed(Operation::Read, ResourceType::Group, &req.group_id) {
        Some(ErrorCode::GroupAuthorizationFailed)
    } else {
        None
    };
    let mut req = req;
    let (allowed, refused): (Vec<_>, Vec<_>) =
        std::mem::take(&mut req.topics).into_iter().partition(|t| {
            denied.is_none() && ctx.allowed(Operation::Read, ResourceType::Topic, &t.name)
        });
    req.topics = allowed;
    let refused_error = denied.unwrap_or(ErrorCode::TopicAuthorizationFailed);
    let refused: Vec<(String, Vec<(i32, ErrorCode)>)> = refused
        .into_iter()
        .map(|t| {
            let ps = t
                .partitions
                .iter()
                .map(|p| (p.partition_index, refused_error))
                .collect();
            (t.name, ps)
        })
        .collect();
    Reply::Later(Box::pin(async move {
        let shape: Vec<(String, Vec<i32>)> = req
            .topics
            .iter()
            .map(|t| {
                let ps = t.partitions.iter().map(|p| p.partition_index).collect();
                (t.name.clone(), ps)
            })
            .collect();
        if shape.is_empty() && !refused.is_empty() {
            return response(refused);
        }
        let commit = TxnOffsetCommit {
            group_id: req.group_id.clone(),
            producer_id: req.producer_id,
            member_id: req.member_id,
            group_instance_id: req.group_instance_id,
            generation_id: req.generation_id,
            topics: req
                .topics
                .into_iter()
                .map(|t| CommitTopic {
                    name: t.name,
                    partitions: t
                        .partitions
                        .into_iter()
                        .map(|p| CommitPartition {
                            partition: p.partition_index,
                            offset: p.committed_offset,
                            leader_epoch: p.committed_leader_epoch,
                            metadata: p.committed_metadata,
                            commit_timestamp_ms: -1,
                        })
                        .collect(),
                })
                .collect(),
        };
        // KIP-890: the offsets partition must be in the transaction (AddOffsetsToTxn, or
        // at transaction version 2 this request).
        let (producer_id, producer_epoch) = (req.producer_id, req.producer_epoch);
        if v2 {
            let partition = (
                OFFSETS_TOPIC.to_string(),
                state.groups.partition_for(&req.group_id),
            );
            if let Err(e) = state
                .txns
                .add_implicitly(
                    &req.transactional_id,
                    producer_id,
                    producer_epoch,
                    &[partition],
                )
                .await
            {
                info!(transactional_id = %req.transactional_id, group = %req.group_id, error = e.name(), "could not add the offsets partition to a transaction");
                let e = implicit_add_error(e);
                let mut results: Vec<(String, Vec<(i32, ErrorCode)>)> = shape
                    .into_iter()
                    .map(|(t, ps)| (t, ps.into_iter().map(|p| (p, e)).collect()))
                    .collect();
                results.extend(refused);
                return response(results);
            }
        }
        let txns = state.txns.clone();
        let verify = |index| {
            txns.verify(
                &req.transactional_id,
                producer_id,
                producer_epoch,
                OFFSETS_TOPIC,
                index,
            )
        };
        let results = match state
            .groups
            .txn_commit(commit, producer_epoch, &verify)
            .await
        {
            Ok(r) => r,
            Err(e) => shape
                .into_iter()
                .map(|(t, ps)| (t, ps.into_iter().map(|p| (p, e)).collect()))
                .collect(),
        };
        let mut results = results;
        results.extend(refused);
        response(results)
    }))
}

/// What the producer is told when the offsets partition could not join the transaction,
/// as Kafka's group coordinator answers.
fn implicit_add_error(e: ErrorCode) -> ErrorCode {
    match e {
        ErrorCode::NetworkException => ErrorCode::CoordinatorLoadInProgress,
        ErrorCode::NotEnoughReplicas | ErrorCode::RequestTimedOut => {
            ErrorCode::CoordinatorNotAvailable
        }
        ErrorCode::NotLeaderOrFollower => ErrorCode::NotCoordinator,
        ErrorCode::ProducerFenced => ErrorCode::InvalidProducerEpoch,
        other => other,
    }
}

/// The response with these per-partition results.
fn response(results: Vec<(String, Vec<(i32, ErrorCode)>)>) -> TxnOffsetCommitResponse {
    TxnOffsetCommitResponse {
        topics: results
            .into_iter()
            .map(|(name, parts)| TxnOffsetCommitResponseTopic {
                name,
                partitions: parts
                    .into_iter()
                    .map(|(p, e)| TxnOffsetCommitResponsePartition {
                        partition_index: p,
                        error_code: e.code(),
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    }
}
