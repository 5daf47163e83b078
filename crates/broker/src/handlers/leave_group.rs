//! LeaveGroup: one member (v0-v2) or a batch of members (v3+, KIP-345) leave a classic group.

use weir_coordinator::{LeaveMember, LeaveResponse};
use weir_protocol::error::ErrorCode;
use weir_protocol::messages::leave_group_response::MemberResponse;
use weir_protocol::messages::{LeaveGroupRequest, LeaveGroupResponse};

use weir_auth::acl::{Operation, ResourceType};

use crate::groups::Step;
use crate::handlers::context::RequestContext;

pub(crate) async fn handle(ctx: RequestContext, req: LeaveGroupRequest) -> LeaveGroupResponse {
    let batched = ctx.version >= 3;
    if !ctx.allowed(Operation::Read, ResourceType::Group, &req.group_id) {
        return LeaveGroupResponse {
            error_code: ErrorCode::GroupAuthorizationFailed.code(),
            ..Default::default()
        };
    }
    let members: Vec<LeaveMember> = if batched {
        req.members
            .into_iter()
            .map(|m| LeaveMember {
                member_id: m.member_id,
                group_instance_id: m.group_instance_id,
                reason: m.reason,
            })
            .collect()
    } else {
        vec![LeaveMember {
            member_id: req.member_id,
            group_instance_id: None,
            reason: None,
        }]
    };
    let state = &ctx.state;
    let r = state
        .groups
        .run(&req.group_id, |c, now| {
            let out = c.leave(&req.group_id, members, now);
            let reply = out
                .reply
                .ready()
                .unwrap_or_else(|| LeaveResponse::error(ErrorCode::UnknownServerError));
            Step::effects(reply, out.effects)
        })
        .await
        .unwrap_or_else(LeaveResponse::error);
    if !batched {
        // One member: its outcome is the request's.
        let error = match r.members.first() {
            Some(m) if r.error == ErrorCode::None => m.error,
            _ => r.error,
        };
        return LeaveGroupResponse {
            error_code: error.code(),
            ..Default::default()
        };
    }
    LeaveGroupResponse {
        error_code: r.error.code(),
        members: r
            .members
            .into_iter()
            .map(|m| MemberResponse {
                member_id: m.member_id,
                group_instance_id: m.group_instance_id,
                error_code: m.error.code(),
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    }
}
