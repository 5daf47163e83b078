//! Heartbeat: keeps a classic group member's session alive and tells it when to rejoin.

use weir_protocol::messages::{HeartbeatRequest, HeartbeatResponse};

use weir_auth::acl::{Operation, ResourceType};
use weir_protocol::error::ErrorCode;

use crate::groups::Step;
use crate::handlers::context::RequestContext;

pub(crate) async fn handle(ctx: RequestContext, req: HeartbeatRequest) -> HeartbeatResponse {
    let state = &ctx.state;
    if !ctx.allowed(Operation::Read, ResourceType::Group, &req.group_id) {
        return HeartbeatResponse {
            error_code: ErrorCode::GroupAuthorizationFailed.code(),
            ..Default::default()
        };
    }
    state.metrics.learn_group(&ctx.client_id, &req.group_id);
    let error = state
        .groups
        .run(&req.group_id, |c, now| {
            let e = c.heartbeat(
                &req.group_id,
                &req.member_id,
                req.group_instance_id.as_deref(),
                req.generation_id,
                now,
            );
            Step::effects(e, Vec::new())
        })
        .await
        .unwrap_or_else(|e| e);
    HeartbeatResponse {
        error_code: error.code(),
        ..Default::default()
    }
}
