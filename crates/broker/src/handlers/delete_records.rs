//! DeleteRecords: moves partitions' log start offsets up (-1: to the high watermark),
//! deleting the segments wholly below; answers each partition's new low watermark.
//! Offsets past the high watermark get OFFSET_OUT_OF_RANGE; topics whose cleanup.policy
//! has no `delete` get POLICY_VIOLATION, as in Kafka.

use tracing::{info, warn};
use weir_protocol::error::ErrorCode;
use weir_protocol::messages::delete_records_response::{
    DeleteRecordsPartitionResult, DeleteRecordsTopicResult,
};
use weir_protocol::messages::{DeleteRecordsRequest, DeleteRecordsResponse};

use weir_auth::acl::{Operation, ResourceType};

use crate::error::storage_error_code;
use crate::handlers::context::RequestContext;

pub(crate) async fn handle(
    ctx: RequestContext,
    req: DeleteRecordsRequest,
) -> DeleteRecordsResponse {
    let state = &ctx.state;
    let topics = req
        .topics
        .iter()
        .map(|t| DeleteRecordsTopicResult {
            name: t.name.clone(),
            partitions: {
                let allowed = ctx.allowed(Operation::Delete, ResourceType::Topic, &t.name);
                t
                .partitions
                .iter()
                .map(|p| {
                    let leader = match allowed {
                        true => state.leader(&t.name, p.partition_index),
                        false => Err(ErrorCode::TopicAuthorizationFailed),
                    };
                    let (low_watermark, code) = match leader {
                        Err(code) => (-1, code),
                        Ok(part) if !part.settings().delete => (-1, ErrorCode::PolicyViolation),
                        Ok(part) => match part.delete_records(p.offset) {
                            Ok(start) => {
                                info!(topic = %t.name, partition = p.partition_index, log_start = start, "records deleted");
                                (start, ErrorCode::None)
                            }
                            Err(e) => {
                                warn!(topic = %t.name, partition = p.partition_index, offset = p.offset, error = %e, "DeleteRecords refused");
                                (-1, storage_error_code(&e))
                            }
                        },
                    };
                    DeleteRecordsPartitionResult {
                        partition_index: p.partition_index,
                        low_watermark,
                        error_code: code.code(),
                        ..Default::default()
                    }
                })
                .collect()
            },
            ..Default::default()
        })
        .collect();
    DeleteRecordsResponse {
        topics,
        ..Default::default()
    }
}
