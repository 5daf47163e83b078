//! SyncGroup: the leader hands in the assignment, every member gets its share. Followers'
//! responses are parked until the leader's assignment is written.

use weir_coordinator::{SyncRequest, SyncResponse};
use weir_protocol::messages::{SyncGroupRequest, SyncGroupResponse};

use weir_auth::acl::{Operation, ResourceType};
use weir_protocol::error::ErrorCode;

use crate::handlers::context::{Reply, RequestContext};

pub(crate) async fn handle(ctx: RequestContext, req: SyncGroupRequest) -> Reply<SyncGroupResponse> {
    if !ctx.allowed(Operation::Read, ResourceType::Group, &req.group_id) {
        return Reply::Now(SyncGroupResponse {
            error_code: ErrorCode::GroupAuthorizationFailed.code(),
            ..Default::default()
        });
    }
    let mut sync = SyncRequest {
        token: 0,
        member_id: req.member_id,
        generation_id: req.generation_id,
        group_instance_id: req.group_instance_id,
        protocol_type: req.protocol_type,
        protocol_name: req.protocol_name,
        assignments: req
            .assignments
            .into_iter()
            .map(|a| (a.member_id, a.assignment))
            .collect(),
    };
    let group_id = req.group_id;
    Reply::Later(Box::pin(async move {
        let state = ctx.state.clone();
        let result = state
            .groups
            .sync(&group_id, |c, token| {
                sync.token = token;
                c.sync(&group_id, sync)
            })
            .await;
        let r = result.unwrap_or_else(SyncResponse::error);
        tracing::debug!(group = %group_id, error = r.error.name(), "SyncGroup answered");
        SyncGroupResponse {
            error_code: r.error.code(),
            protocol_type: r.protocol_type,
            protocol_name: r.protocol_name,
            assignment: r.assignment,
            ..Default::default()
        }
    }))
}
