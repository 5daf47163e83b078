//! ShareGroupHeartbeat (KIP-932): the membership protocol of share groups. Members choose
//! their ids (KIP-1082), join with epoch 0 and leave with -1; topics travel by id on the
//! wire and by name inside the coordinator.

use tracing::info;
use weir_auth::acl::{Operation, ResourceType};
use weir_coordinator::assignor::TopicPartitions;
use weir_coordinator::share::group::ShareHeartbeat;
use weir_meta::MetadataImage;
use weir_protocol::error::ErrorCode;
use weir_protocol::messages::share_group_heartbeat_response::{Assignment, TopicPartitions as Tps};
use weir_protocol::messages::{ShareGroupHeartbeatRequest, ShareGroupHeartbeatResponse};

use crate::groups::Step;
use crate::handlers::context::RequestContext;
use crate::ids::to_uuid;

pub(crate) async fn handle(
    ctx: RequestContext,
    req: ShareGroupHeartbeatRequest,
) -> ShareGroupHeartbeatResponse {
    if let Some(message) = invalid(&req) {
        return error(ErrorCode::InvalidRequest, Some(message));
    }
    if !ctx.allowed(Operation::Read, ResourceType::Group, &req.group_id) {
        return error(ErrorCode::GroupAuthorizationFailed, None);
    }
    if let Some(names) = &req.subscribed_topic_names {
        if names
            .iter()
            .any(|t| !ctx.allowed(Operation::Describe, ResourceType::Topic, t))
        {
            return error(ErrorCode::TopicAuthorizationFailed, None);
        }
    }
    let state = &ctx.state;
    let image = state.image();
    let hb = ShareHeartbeat {
        member_id: req.member_id.clone(),
        member_epoch: req.member_epoch,
        rack_id: req.rack_id.clone(),
        subscribed_topics: req.subscribed_topic_names.clone(),
        client_id: ctx.client_id.clone(),
        client_host: super::client_host(&ctx),
    };
    let partitions = |t: &str| -> Option<i32> {
        let topic = image.topic(t)?;
        i32::try_from(topic.partitions.len()).ok()
    };
    let result = state
        .groups
        .run(&req.group_id, |c, now| {
            let (result, records) = c.share_heartbeat(&req.group_id, hb, &partitions, now);
            Step::records(result, records)
        })
        .await
        .and_then(|r| r);
    let interval = state.groups.config().share_heartbeat_interval_ms;
    match result {
        Ok(r) => {
            if req.member_epoch == 0 {
                info!(group = %req.group_id, member = %r.member_id, client_id = %ctx.client_id, epoch = r.member_epoch, "share group member joined");
            }
            ShareGroupHeartbeatResponse {
                member_id: Some(r.member_id),
                member_epoch: r.member_epoch,
                heartbeat_interval_ms: interval,
                assignment: r.assignment.map(|a| Assignment {
                    topic_partitions: by_id(&image, &a),
                    ..Default::default()
                }),
                ..Default::default()
            }
        }
        Err(e) => error(e, None),
    }
}

/// Kafka's checks of a share heartbeat's fields, as the message of an INVALID_REQUEST.
fn invalid(req: &ShareGroupHeartbeatRequest) -> Option<String> {
    if req.group_id.is_empty() {
        return Some("GroupId can't be empty.".into());
    }
    if req.member_id.is_empty() {
        return Some("MemberId can't be empty.".into());
    }
    if req.member_epoch == 0 {
        if req
            .subscribed_topic_names
            .as_ref()
            .is_none_or(|t| t.is_empty())
        {
            return Some("SubscribedTopicNames must be set in first request.".into());
        }
    } else if req.member_epoch < -1 {
        return Some(format!(
            "MemberEpoch is {}, but must be greater than or equal to -1.",
            req.member_epoch
        ));
    }
    None
}

fn by_id(image: &MetadataImage, a: &TopicPartitions) -> Vec<Tps> {
    a.iter()
        .filter_map(|(name, ps)| {
            image.topic(name).map(|t| Tps {
                topic_id: to_uuid(&t.topic_id),
                partitions: ps.iter().copied().collect(),
                ..Default::default()
            })
        })
        .collect()
}

fn error(code: ErrorCode, message: Option<String>) -> ShareGroupHeartbeatResponse {
    ShareGroupHeartbeatResponse {
        error_code: code.code(),
        error_message: message,
        member_epoch: -1,
        ..Default::default()
    }
}
