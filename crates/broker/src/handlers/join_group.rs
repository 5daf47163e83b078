//! JoinGroup: a member joins (or rejoins) a classic group. The response is parked until the
//! join phase completes, so it returns as a later reply while the connection goes on.

use weir_coordinator::{JoinRequest, JoinResponse, Protocol};
use weir_protocol::messages::join_group_response::JoinGroupResponseMember;
use weir_protocol::messages::{JoinGroupRequest, JoinGroupResponse};

use weir_auth::acl::{Operation, ResourceType};
use weir_protocol::error::ErrorCode;

use crate::handlers::context::{Reply, RequestContext};

pub(crate) async fn handle(ctx: RequestContext, req: JoinGroupRequest) -> Reply<JoinGroupResponse> {
    let v = ctx.version;
    if !ctx.allowed(Operation::Read, ResourceType::Group, &req.group_id) {
        return Reply::Now(JoinGroupResponse {
            error_code: ErrorCode::GroupAuthorizationFailed.code(),
            generation_id: -1,
            ..Default::default()
        });
    }
    ctx.state.metrics.learn_group(&ctx.client_id, &req.group_id);
    let mut join = JoinRequest {
        token: 0,
        member_id: req.member_id.clone(),
        group_instance_id: req.group_instance_id,
        protocol_type: req.protocol_type,
        protocols: req
            .protocols
            .into_iter()
            .map(|p| Protocol::new(p.name, p.metadata))
            .collect(),
        session_timeout_ms: req.session_timeout_ms,
        // v0 has no rebalance timeout: the session timeout serves as both.
        rebalance_timeout_ms: if v == 0 {
            req.session_timeout_ms
        } else {
            req.rebalance_timeout_ms
        },
        client_id: ctx.client_id.clone(),
        client_host: super::client_host(&ctx),
        reason: req.reason,
        require_known_member_id: v >= 4,
        supports_skip_assignment: v >= 9,
    };
    let group_id = req.group_id;
    let member_id = req.member_id;
    Reply::Later(Box::pin(async move {
        let state = ctx.state.clone();
        let result = state
            .groups
            .join(&group_id, |c, token, now| {
                join.token = token;
                let mut ids = || uuid::Uuid::new_v4().to_string();
                c.join(&group_id, join, &mut ids, now)
            })
            .await;
        let r = result.unwrap_or_else(|e| JoinResponse::error(member_id, e));
        tracing::debug!(group = %group_id, member = %r.member_id, generation = r.generation_id, error = r.error.name(), "JoinGroup answered");
        JoinGroupResponse {
            error_code: r.error.code(),
            generation_id: r.generation_id,
            protocol_type: r.protocol_type,
            // Before v7 the protocol name is not nullable: Kafka sends "" for none.
            protocol_name: if v < 7 {
                Some(r.protocol_name.unwrap_or_default())
            } else {
                r.protocol_name
            },
            leader: r.leader,
            skip_assignment: r.skip_assignment,
            member_id: r.member_id,
            members: r
                .members
                .into_iter()
                .map(|m| JoinGroupResponseMember {
                    member_id: m.member_id,
                    group_instance_id: m.group_instance_id,
                    metadata: m.metadata,
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        }
    }))
}
