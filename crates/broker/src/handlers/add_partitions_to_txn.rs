//! AddPartitionsToTxn. v0-3, from producers: adds partitions to the producer's open
//! transaction. Partitions of unknown topics fail with UNKNOWN_TOPIC_OR_PARTITION and the
//! others with OPERATION_NOT_ATTEMPTED, as in Kafka; otherwise all share one result.
//! v4+, from brokers (CLUSTER_ACTION): several transactions at once, each either checked
//! (`VerifyOnly`, KIP-890 part 1) or added (a Produce v12 of transaction version 2).

use weir_protocol::error::ErrorCode;
use weir_protocol::messages::add_partitions_to_txn_response::{
    AddPartitionsToTxnPartitionResult, AddPartitionsToTxnResult, AddPartitionsToTxnTopicResult,
};
use weir_protocol::messages::{AddPartitionsToTxnRequest, AddPartitionsToTxnResponse};

use weir_auth::acl::{Operation, ResourceType};

use crate::handlers::context::{Reply, RequestContext};
use crate::handlers::fenced_for;

pub(crate) async fn handle(
    ctx: RequestContext,
    req: AddPartitionsToTxnRequest,
) -> Reply<AddPartitionsToTxnResponse> {
    if ctx.version >= 4 {
        return from_brokers(ctx, req);
    }
    let state = ctx.state.clone();
    let version = ctx.version;
    // WRITE on the transactional id, then on each topic; when one is refused the others
    // are not attempted.
    let txn_denied = !ctx.allowed(
        Operation::Write,
        ResourceType::TransactionalId,
        &req.v3_and_below_transactional_id,
    );
    let denied_topics: std::collections::HashSet<String> = req
        .v3_and_below_topics
        .iter()
        .filter(|t| !ctx.allowed(Operation::Write, ResourceType::Topic, &t.name))
        .map(|t| t.name.clone())
        .collect();
    Reply::Later(Box::pin(async move {
        let image = state.image();
        let partitions: Vec<(String, i32)> = req
            .v3_and_below_topics
            .iter()
            .flat_map(|t| t.partitions.iter().map(|&p| (t.name.clone(), p)))
            .collect();
        let known = |t: &str, p: i32| {
            image
                .topic(t)
                .is_some_and(|t| t.partitions.contains_key(&p))
        };
        let any_unknown = partitions.iter().any(|(t, p)| !known(t, *p));
        let refused = txn_denied || !denied_topics.is_empty();
        let common = if txn_denied {
            Some(ErrorCode::TransactionalIdAuthorizationFailed)
        } else if any_unknown || refused {
            None
        } else {
            let r = state
                .txns
                .add_partitions(
                    &req.v3_and_below_transactional_id,
                    req.v3_and_below_producer_id,
                    req.v3_and_below_producer_epoch,
                    &partitions,
                    false,
                )
                .await;
            Some(
                r.err()
                    .map_or(ErrorCode::None, |e| fenced_for(e, version, 2)),
            )
        };
        let code = |t: &str, p: i32| match common {
            Some(c) => c,
            None if denied_topics.contains(t) => ErrorCode::TopicAuthorizationFailed,
            None if known(t, p) => ErrorCode::OperationNotAttempted,
            None => ErrorCode::UnknownTopicOrPartition,
        };
        AddPartitionsToTxnResponse {
            results_by_topic_v3_and_below: req
                .v3_and_below_topics
                .iter()
                .map(|t| AddPartitionsToTxnTopicResult {
                    name: t.name.clone(),
                    results_by_partition: t
                        .partitions
                        .iter()
                        .map(|&p| AddPartitionsToTxnPartitionResult {
                            partition_index: p,
                            partition_error_code: code(&t.name, p).code(),
                            ..Default::default()
                        })
                        .collect(),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        }
    }))
}

/// The brokers' form (v4+): every transaction of the request, each with its own results.
fn from_brokers(
    ctx: RequestContext,
    req: AddPartitionsToTxnRequest,
) -> Reply<AddPartitionsToTxnResponse> {
    if !ctx.allowed_cluster(Operation::ClusterAction) {
        return Reply::Now(AddPartitionsToTxnResponse {
            error_code: ErrorCode::ClusterAuthorizationFailed.code(),
            ..Default::default()
        });
    }
    let state = ctx.state.clone();
    Reply::Later(Box::pin(async move {
        let mut results = Vec::with_capacity(req.transactions.len());
        for t in req.transactions {
            let partitions: Vec<(String, i32)> = t
                .topics
                .iter()
                .flat_map(|topic| topic.partitions.iter().map(|&p| (topic.name.clone(), p)))
                .collect();
            let codes: Vec<ErrorCode> = if t.verify_only {
                partitions
                    .iter()
                    .map(|(topic, p)| {
                        state
                            .txns
                            .verify(
                                &t.transactional_id,
                                t.producer_id,
                                t.producer_epoch,
                                topic,
                                *p,
                            )
                            .err()
                            .unwrap_or(ErrorCode::None)
                    })
                    .collect()
            } else {
                let r = state
                    .txns
                    .add_partitions(
                        &t.transactional_id,
                        t.producer_id,
                        t.producer_epoch,
                        &partitions,
                        true,
                    )
                    .await;
                vec![r.err().unwrap_or(ErrorCode::None); partitions.len()]
            };
            let mut topics: Vec<AddPartitionsToTxnTopicResult> = Vec::new();
            for ((topic, p), code) in partitions.into_iter().zip(codes) {
                let result = AddPartitionsToTxnPartitionResult {
                    partition_index: p,
                    partition_error_code: code.code(),
                    ..Default::default()
                };
                match topics.iter_mut().find(|r| r.name == topic) {
                    Some(r) => r.results_by_partition.push(result),
                    None => topics.push(AddPartitionsToTxnTopicResult {
                        name: topic,
                        results_by_partition: vec![result],
                        ..Default::default()
                    }),
                }
            }
            results.push(AddPartitionsToTxnResult {
                transactional_id: t.transactional_id,
                topic_results: topics,
                ..Default::default()
            });
        }
        AddPartitionsToTxnResponse {
            results_by_transaction: results,
            ..Default::default()
        }
    }))
}
