//! ListOffsets: earliest (-2), latest (-1; the last stable offset for `read_committed`), max
//! timestamp (-3), earliest local (-4) and the first offset at or after a timestamp.

use weir_protocol::error::ErrorCode;
use weir_protocol::messages::list_offsets_response::{
    ListOffsetsPartitionResponse, ListOffsetsTopicResponse,
};
use weir_protocol::messages::{ListOffsetsRequest, ListOffsetsResponse};

use weir_auth::acl::{Operation, ResourceType};

use crate::error::storage_error_code;
use crate::handlers::context::RequestContext;
use crate::partition::Partition;

const LATEST: i64 = -1;
const EARLIEST: i64 = -2;
const MAX_TIMESTAMP: i64 = -3;
const EARLIEST_LOCAL: i64 = -4;

pub(crate) async fn handle(ctx: RequestContext, req: ListOffsetsRequest) -> ListOffsetsResponse {
    let state = &ctx.state;
    let read_committed = req.isolation_level == 1;
    let topics = req
        .topics
        .iter()
        .map(|t| ListOffsetsTopicResponse {
            name: t.name.clone(),
            partitions: {
                let allowed = ctx.allowed(Operation::Describe, ResourceType::Topic, &t.name);
                t.partitions
                    .iter()
                    .map(|p| {
                        let mut r = ListOffsetsPartitionResponse {
                            partition_index: p.partition_index,
                            timestamp: -1,
                            offset: -1,
                            leader_epoch: -1,
                            ..Default::default()
                        };
                        let leader = match allowed {
                            true => state.leader(&t.name, p.partition_index),
                            false => Err(ErrorCode::TopicAuthorizationFailed),
                        };
                        match leader {
                            Err(code) => r.error_code = code.code(),
                            Ok(partition) => {
                                r.leader_epoch = partition.leader_epoch();
                                match partition
                                    .check_leader_epoch(p.current_leader_epoch)
                                    .and_then(|()| lookup(&partition, p.timestamp, read_committed))
                                {
                                    Ok((offset, ts)) => {
                                        r.offset = offset;
                                        r.timestamp = ts;
                                    }
                                    Err(code) => r.error_code = code.code(),
                                }
                            }
                        }
                        r
                    })
                    .collect()
            },
            ..Default::default()
        })
        .collect();
    ListOffsetsResponse {
        topics,
        ..Default::default()
    }
}

/// The (offset, timestamp) answering `timestamp` for one partition.
fn lookup(
    partition: &Partition,
    timestamp: i64,
    read_committed: bool,
) -> Result<(i64, i64), ErrorCode> {
    match timestamp {
        LATEST if read_committed => Ok((partition.last_stable_offset(), -1)),
        LATEST => Ok((partition.high_watermark(), -1)),
        EARLIEST | EARLIEST_LOCAL => Ok((partition.log_start_offset(), -1)),
        MAX_TIMESTAMP => Ok(partition.log().max_timestamp().unwrap_or((-1, -1))),
        ts if ts >= 0 => match partition.offset_for_timestamp(ts) {
            Ok(Some((offset, ts))) => Ok((offset, ts)),
            Ok(None) => Ok((-1, -1)),
            Err(e) => Err(storage_error_code(&e)),
        },
        _ => Err(ErrorCode::InvalidRequest),
    }
}
