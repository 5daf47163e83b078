//! DeleteGroups: removes empty groups and their offsets (tombstones in `__consumer_offsets`).

use weir_protocol::error::ErrorCode;
use weir_protocol::messages::delete_groups_response::DeletableGroupResult;
use weir_protocol::messages::{DeleteGroupsRequest, DeleteGroupsResponse};

use weir_auth::acl::{Operation, ResourceType};

use crate::groups::Step;
use crate::handlers::context::RequestContext;

pub(crate) async fn handle(ctx: RequestContext, req: DeleteGroupsRequest) -> DeleteGroupsResponse {
    let state = &ctx.state;
    let mut results = Vec::with_capacity(req.groups_names.len());
    for group_id in req.groups_names {
        if !ctx.allowed(Operation::Delete, ResourceType::Group, &group_id) {
            results.push(DeletableGroupResult {
                group_id,
                error_code: ErrorCode::GroupAuthorizationFailed.code(),
                ..Default::default()
            });
            continue;
        }
        let result = state
            .groups
            .run_durable(&group_id, |c, _| {
                if let Some(e) = c.delete_share_group(&group_id) {
                    return Step::records(e, Vec::new());
                }
                match c.delete_group(&group_id) {
                    Ok(records) => Step::records(ErrorCode::None, records),
                    Err(e) => Step::records(e, Vec::new()),
                }
            })
            .await;
        let error = match result {
            Ok((e, true)) => e,
            Ok((_, false)) => ErrorCode::CoordinatorNotAvailable,
            Err(e) => e,
        };
        results.push(DeletableGroupResult {
            group_id,
            error_code: error.code(),
            ..Default::default()
        });
    }
    DeleteGroupsResponse {
        results,
        ..Default::default()
    }
}
