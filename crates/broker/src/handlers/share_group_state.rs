//! ReadShareGroupState and WriteShareGroupState (KIP-932): the share coordinator's API,
//! used by the leaders of share-partitions on other brokers to read and write the state
//! this broker keeps in `__share_group_state`. Only brokers may call it (CLUSTER_ACTION).

use tracing::info;
use weir_auth::acl::Operation;
use weir_coordinator::share::state::{DeadLetterMark, ShareSnapshot, ShareStateKey};
use weir_coordinator::share::{DeliveryState, StateBatch};
use weir_protocol::error::ErrorCode;
use weir_protocol::messages::read_share_group_state_response::{self as rresp, ReadStateResult};
use weir_protocol::messages::write_share_group_state_response::{
    PartitionResult, WriteStateResult,
};
use weir_protocol::messages::{
    ReadShareGroupStateRequest, ReadShareGroupStateResponse, WriteShareGroupStateRequest,
    WriteShareGroupStateResponse,
};

use crate::handlers::context::RequestContext;
use crate::ids::from_uuid;

pub(crate) async fn read(
    ctx: RequestContext,
    req: ReadShareGroupStateRequest,
) -> ReadShareGroupStateResponse {
    let allowed = ctx.allowed_cluster(Operation::ClusterAction);
    let mut results = Vec::new();
    for t in &req.topics {
        let mut partitions = Vec::new();
        for p in &t.partitions {
            let mut out = rresp::PartitionResult {
                partition: p.partition,
                state_epoch: -1,
                start_offset: -1,
                ..Default::default()
            };
            let key = ShareStateKey {
                group: req.group_id.clone(),
                topic_id: from_uuid(&t.topic_id),
                partition: p.partition,
            };
            let result = if allowed {
                ctx.state.share_store.read(&key).await
            } else {
                Err(ErrorCode::ClusterAuthorizationFailed)
            };
            match result {
                Ok(Some(s)) => {
                    out.state_epoch = s.state_epoch;
                    out.start_offset = s.start_offset;
                    (out.dead_letter_partition, out.dead_letter_mark) =
                        DeadLetterMark::to_wire(s.dead_letter_mark);
                    out.state_batches = s
                        .batches
                        .iter()
                        .map(|b| rresp::StateBatch {
                            first_offset: b.first,
                            last_offset: b.last,
                            delivery_state: b.state.code(),
                            delivery_count: b.delivery_count,
                            ..Default::default()
                        })
                        .collect();
                }
                Ok(None) => {}
                Err(e) => out.error_code = e.code(),
            }
            partitions.push(out);
        }
        results.push(ReadStateResult {
            topic_id: t.topic_id,
            partitions,
            ..Default::default()
        });
    }
    ReadShareGroupStateResponse {
        results,
        ..Default::default()
    }
}

pub(crate) async fn write(
    ctx: RequestContext,
    req: WriteShareGroupStateRequest,
) -> WriteShareGroupStateResponse {
    let allowed = ctx.allowed_cluster(Operation::ClusterAction);
    let mut results = Vec::new();
    for t in &req.topics {
        let mut partitions = Vec::new();
        for p in &t.partitions {
            let key = ShareStateKey {
                group: req.group_id.clone(),
                topic_id: from_uuid(&t.topic_id),
                partition: p.partition,
            };
            let batches: Option<Vec<StateBatch>> = p
                .state_batches
                .iter()
                .map(|b| {
                    (b.last_offset >= b.first_offset).then_some(())?;
                    Some(StateBatch {
                        first: b.first_offset,
                        last: b.last_offset,
                        state: DeliveryState::from_code(b.delivery_state)?,
                        delivery_count: b.delivery_count,
                    })
                })
                .collect();
            let result = match batches {
                _ if !allowed => Err(ErrorCode::ClusterAuthorizationFailed),
                None => Err(ErrorCode::InvalidRequest),
                Some(batches) => {
                    let snapshot = ShareSnapshot {
                        state_epoch: p.state_epoch,
                        leader_epoch: p.leader_epoch,
                        start_offset: p.start_offset,
                        batches,
                        dead_letter_mark: DeadLetterMark::from_wire(
                            p.dead_letter_partition,
                            p.dead_letter_mark,
                        ),
                    };
                    ctx.state.share_store.write(key, snapshot).await
                }
            };
            if let Err(e) = result {
                info!(group = %req.group_id, partition = p.partition, error = e.name(), "share state write refused");
            }
            partitions.push(PartitionResult {
                partition: p.partition,
                error_code: result.err().map_or(0, |e| e.code()),
                ..Default::default()
            });
        }
        results.push(WriteStateResult {
            topic_id: t.topic_id,
            partitions,
            ..Default::default()
        });
    }
    WriteShareGroupStateResponse {
        results,
        ..Default::default()
    }
}
