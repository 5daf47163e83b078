//! DeleteGroups: removes empty groups and their offsets (tombstones in `__consumer_offsets`);
//! a share group's state on the topics its members subscribed to is forgotten too, so a
//! group made again under the same id starts afresh.

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
            .run_durable(&group_id, |c, _| match c.delete_share_group(&group_id) {
                Some(Ok((topics, records))) => Step::records((ErrorCode::None, topics), records),
                Some(Err(e)) => Step::records((e, Vec::new()), Vec::new()),
                None => match c.delete_group(&group_id) {
                    Ok(records) => Step::records((ErrorCode::None, Vec::new()), records),
                    Err(e) => Step::records((e, Vec::new()), Vec::new()),
                },
            })
            .await;
        let error = match result {
            Ok(((e, topics), true)) => {
                if e == ErrorCode::None {
                    forget_share_state(&ctx, &group_id, &topics).await;
                }
                e
            }
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

/// Forgets a deleted share group's state on every partition of `topics` (best effort: the
/// group is gone either way; a failure is logged).
async fn forget_share_state(ctx: &RequestContext, group: &str, topics: &[String]) {
    let image = ctx.state.image();
    for name in topics {
        let Some(t) = image.topic(name) else { continue };
        for &partition in t.partitions.keys() {
            let key = crate::shares::ShareKey {
                group: group.to_string(),
                topic: t.topic_id,
                partition,
            };
            if let Err(e) = ctx.state.shares.reset_state(&key, None).await {
                tracing::warn!(group, topic = %name, partition, error = e.name(), "could not forget a deleted share group's state");
            }
        }
    }
}
