//! OffsetDelete: removes a group's committed offsets for partitions it does not consume.

use weir_protocol::error::ErrorCode;
use weir_protocol::messages::offset_delete_response::{
    OffsetDeleteResponsePartition, OffsetDeleteResponseTopic,
};
use weir_protocol::messages::{OffsetDeleteRequest, OffsetDeleteResponse};

use crate::groups::Step;
use crate::handlers::context::RequestContext;

pub(crate) async fn handle(ctx: RequestContext, req: OffsetDeleteRequest) -> OffsetDeleteResponse {
    use weir_auth::acl::{Operation, ResourceType};
    if !ctx.allowed(Operation::Delete, ResourceType::Group, &req.group_id) {
        return OffsetDeleteResponse {
            error_code: ErrorCode::GroupAuthorizationFailed.code(),
            ..Default::default()
        };
    }
    // Topics the client may not READ are answered TOPIC_AUTHORIZATION_FAILED, untouched.
    let (req_topics, denied): (Vec<_>, Vec<_>) = req
        .topics
        .into_iter()
        .partition(|t| ctx.allowed(Operation::Read, ResourceType::Topic, &t.name));
    let denied: Vec<(String, Vec<(i32, ErrorCode)>)> = denied
        .into_iter()
        .map(|t| {
            let ps = t
                .partitions
                .into_iter()
                .map(|p| (p.partition_index, ErrorCode::TopicAuthorizationFailed))
                .collect();
            (t.name, ps)
        })
        .collect();
    let topics: Vec<(String, Vec<i32>)> = req_topics
        .into_iter()
        .map(|t| {
            (
                t.name,
                t.partitions
                    .into_iter()
                    .map(|p| p.partition_index)
                    .collect(),
            )
        })
        .collect();
    let state = &ctx.state;
    let result = state
        .groups
        .run_durable(&req.group_id, |c, _| {
            match c.delete_offsets(&req.group_id, &topics) {
                Ok((results, records)) => Step::records(Ok(results), records),
                Err(e) => Step::records(Err(e), Vec::new()),
            }
        })
        .await;
    let (error, mut results) = match result {
        Ok((Ok(r), true)) => (ErrorCode::None, r),
        Ok((Ok(_), false)) => (ErrorCode::CoordinatorNotAvailable, Vec::new()),
        Ok((Err(e), _)) | Err(e) => (e, Vec::new()),
    };
    if error == ErrorCode::None {
        results.extend(denied);
    }
    OffsetDeleteResponse {
        error_code: error.code(),
        topics: results
            .into_iter()
            .map(|(name, ps)| OffsetDeleteResponseTopic {
                name,
                partitions: ps
                    .into_iter()
                    .map(|(index, e)| OffsetDeleteResponsePartition {
                        partition_index: index,
                        error_code: e.code(),
                    })
                    .collect(),
            })
            .collect(),
        ..Default::default()
    }
}
