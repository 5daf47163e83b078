//! DescribeProducers: the idempotent and transactional producers a partition knows: epoch,
//! last sequence and timestamp, coordinator epoch, and where an open transaction started.

use weir_protocol::messages::describe_producers_response::{
    PartitionResponse, ProducerState, TopicResponse,
};
use weir_protocol::messages::{DescribeProducersRequest, DescribeProducersResponse};

use crate::handlers::context::RequestContext;

pub(crate) async fn handle(
    ctx: RequestContext,
    req: DescribeProducersRequest,
) -> DescribeProducersResponse {
    let topics = req
        .topics
        .iter()
        .map(|t| TopicResponse {
            name: t.name.clone(),
            partitions: t
                .partition_indexes
                .iter()
                .map(|&index| {
                    let allowed = ctx.allowed(
                        weir_auth::acl::Operation::Read,
                        weir_auth::acl::ResourceType::Topic,
                        &t.name,
                    );
                    let leader = match allowed {
                        true => ctx.state.leader(&t.name, index),
                        false => Err(weir_protocol::error::ErrorCode::TopicAuthorizationFailed),
                    };
                    let p = match leader {
                        Ok(p) => p,
                        Err(code) => {
                            return PartitionResponse {
                                partition_index: index,
                                error_code: code.code(),
                                ..Default::default()
                            }
                        }
                    };
                    let log = p.log();
                    let mut active: Vec<ProducerState> = log
                        .producer_state()
                        .entries()
                        .map(|(&id, e)| ProducerState {
                            producer_id: id,
                            producer_epoch: i32::from(e.epoch),
                            last_sequence: e.batches.back().map_or(-1, |b| b.last_seq),
                            last_timestamp: e.last_timestamp,
                            coordinator_epoch: e.coordinator_epoch,
                            current_txn_start_offset: e.txn_first_offset.unwrap_or(-1),
                            ..Default::default()
                        })
                        .collect();
                    active.sort_by_key(|s| s.producer_id);
                    PartitionResponse {
                        partition_index: index,
                        active_producers: active,
                        ..Default::default()
                    }
                })
                .collect(),
            ..Default::default()
        })
        .collect();
    DescribeProducersResponse {
        topics,
        ..Default::default()
    }
}
