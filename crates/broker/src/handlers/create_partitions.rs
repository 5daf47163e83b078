//! CreatePartitions: grows topics (or, with validate_only, checks that it could).

use weir_protocol::messages::create_partitions_response::CreatePartitionsTopicResult;
use weir_protocol::messages::{CreatePartitionsRequest, CreatePartitionsResponse};

use weir_auth::acl::{Operation, ResourceType};
use weir_protocol::error::ErrorCode;

use crate::handlers::context::RequestContext;

pub(crate) async fn handle(
    ctx: RequestContext,
    req: CreatePartitionsRequest,
) -> CreatePartitionsResponse {
    let mut results = Vec::with_capacity(req.topics.len());
    for t in &req.topics {
        if !ctx.allowed(Operation::Alter, ResourceType::Topic, &t.name) {
            results.push(CreatePartitionsTopicResult {
                name: t.name.clone(),
                error_code: ErrorCode::TopicAuthorizationFailed.code(),
                ..Default::default()
            });
            continue;
        }
        let assignments: Option<Vec<Vec<i32>>> = t
            .assignments
            .as_ref()
            .map(|a| a.iter().map(|x| x.broker_ids.clone()).collect());
        let outcome = ctx
            .state
            .create_partitions(&t.name, t.count, assignments.as_deref(), req.validate_only)
            .await;
        results.push(match outcome {
            Ok(()) => CreatePartitionsTopicResult {
                name: t.name.clone(),
                ..Default::default()
            },
            Err(e) => CreatePartitionsTopicResult {
                name: t.name.clone(),
                error_code: e.code(),
                error_message: Some(e.to_string()),
                ..Default::default()
            },
        });
    }
    CreatePartitionsResponse {
        results,
        ..Default::default()
    }
}
