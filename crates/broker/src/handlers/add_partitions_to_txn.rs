//! AddPartitionsToTxn (v0-3, from producers): adds partitions to the producer's open
//! transaction. Partitions of unknown topics fail with UNKNOWN_TOPIC_OR_PARTITION and the
//! others with OPERATION_NOT_ATTEMPTED, as in Kafka; otherwise all share one result.

use weir_protocol::error::ErrorCode;
use weir_protocol::messages::add_partitions_to_txn_response::{
    AddPartitionsToTxnPartitionResult, AddPartitionsToTxnTopicResult,
};
use weir_protocol::messages::{AddPartitionsToTxnRequest, AddPartitionsToTxnResponse};

use crate::handlers::context::{Reply, RequestContext};
use crate::handlers::fenced_for;

pub(crate) async fn handle(
    ctx: RequestContext,
    req: AddPartitionsToTxnRequest,
) -> Reply<AddPartitionsToTxnResponse> {
    let state = ctx.state;
    let version = ctx.version;
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
        let common = if any_unknown {
            None
        } else {
            let r = state
                .txns
                .add_partitions(
                    &req.v3_and_below_transactional_id,
                    req.v3_and_below_producer_id,
                    req.v3_and_below_producer_epoch,
                    &partitions,
                )
                .await;
            Some(
                r.err()
                    .map_or(ErrorCode::None, |e| fenced_for(e, version, 2)),
            )
        };
        let code = |t: &str, p: i32| match common {
            Some(c) => c,
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
