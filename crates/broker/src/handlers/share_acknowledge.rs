//! ShareAcknowledge (KIP-932): a share group member settles records it acquired from the
//! partitions this broker leads (ACCEPT, RELEASE, REJECT, RENEW, or GAP for offsets without
//! a record), within its share session. Each partition's acknowledgements apply all or
//! none: INVALID_REQUEST for malformed batches, INVALID_RECORD_STATE for records the member
//! does not hold.

use tracing::info;
use weir_auth::acl::{Operation, ResourceType};
use weir_coordinator::share::AckBatch;
use weir_meta::MetadataImage;
use weir_protocol::error::ErrorCode;
use weir_protocol::messages::share_acknowledge_response::{
    LeaderIdAndEpoch, PartitionData, ShareAcknowledgeTopicResponse,
};
use weir_protocol::messages::{ShareAcknowledgeRequest, ShareAcknowledgeResponse};

use crate::handlers::context::RequestContext;
use crate::ids::from_uuid;
use crate::shares::session::{Opened, SessionKey, SessionPartition};
use crate::shares::{config, ShareKey};

pub(crate) async fn handle(
    ctx: RequestContext,
    req: ShareAcknowledgeRequest,
) -> ShareAcknowledgeResponse {
    let state = ctx.state.clone();
    let (Some(group), Some(member)) = (req.group_id.clone(), req.member_id.clone()) else {
        return top_error(ErrorCode::InvalidRequest);
    };
    if group.is_empty() || member.is_empty() {
        return top_error(ErrorCode::InvalidRequest);
    }
    if !ctx.allowed(Operation::Read, ResourceType::Group, &group) {
        return top_error(ErrorCode::GroupAuthorizationFailed);
    }
    let key: SessionKey = (group.clone(), member.clone());
    // An acknowledgement opens no session: epoch 0 is refused.
    if req.share_session_epoch == 0 {
        return top_error(ErrorCode::InvalidShareSessionEpoch);
    }
    let opened = match state
        .shares
        .open_session(&key, req.share_session_epoch, &[], &[])
    {
        Ok(o) => o,
        Err(code) => {
            info!(%group, %member, epoch = req.share_session_epoch, error = code.name(), "share acknowledgement refused");
            return top_error(code);
        }
    };
    let image = state.image();
    let mut responses = Vec::new();
    for t in &req.topics {
        let topic = from_uuid(&t.topic_id);
        let mut partitions = Vec::new();
        for p in &t.partitions {
            let batches: Vec<AckBatch> = p
                .acknowledgement_batches
                .iter()
                .map(|b| AckBatch {
                    first: b.first_offset,
                    last: b.last_offset,
                    types: b.acknowledge_types.clone(),
                })
                .collect();
            let result = settle(
                &ctx,
                &image,
                &group,
                &member,
                (topic, p.partition_index),
                &batches,
            )
            .await;
            let mut data = PartitionData {
                partition_index: p.partition_index,
                error_code: result.err().map_or(0, |e| e.code()),
                current_leader: LeaderIdAndEpoch {
                    leader_id: -1,
                    leader_epoch: -1,
                    ..Default::default()
                },
                ..Default::default()
            };
            if let Some(pi) = image
                .topic_by_id(&topic)
                .and_then(|t| t.partitions.get(&p.partition_index))
            {
                data.current_leader.leader_id = pi.leader;
                data.current_leader.leader_epoch = pi.leader_epoch;
            }
            partitions.push(data);
        }
        responses.push(ShareAcknowledgeTopicResponse {
            topic_id: t.topic_id,
            partitions,
            ..Default::default()
        });
    }
    if let Opened::Closed { partitions } = &opened {
        state
            .shares
            .release_member(&group, &member, partitions, crate::host::now_ms());
    }
    ShareAcknowledgeResponse {
        acquisition_lock_timeout_ms: i32::try_from(
            config::for_group(state.shares.settings(), &image, &group)
                .settings
                .lock_duration_ms,
        )
        .unwrap_or(i32::MAX),
        responses,
        ..Default::default()
    }
}

/// Applies one partition's acknowledgements for `member` of `group`.
pub(crate) async fn settle(
    ctx: &RequestContext,
    image: &MetadataImage,
    group: &str,
    member: &str,
    (topic, index): SessionPartition,
    batches: &[AckBatch],
) -> Result<(), ErrorCode> {
    let t = image.topic_by_id(&topic).ok_or(ErrorCode::UnknownTopicId)?;
    if !ctx.allowed(Operation::Read, ResourceType::Topic, &t.name) {
        return Err(ErrorCode::TopicAuthorizationFailed);
    }
    let partition = ctx.state.lead(t, index)?;
    let key = ShareKey {
        group: group.to_string(),
        topic,
        partition: index,
    };
    let result = ctx
        .state
        .shares
        .acknowledge(&key, &partition, member, batches)
        .await;
    if let Err(e) = result {
        info!(group, member, topic = %t.name, partition = index, error = e.name(), client_id = %ctx.client_id, "acknowledgement refused");
    }
    result
}

fn top_error(code: ErrorCode) -> ShareAcknowledgeResponse {
    ShareAcknowledgeResponse {
        error_code: code.code(),
        ..Default::default()
    }
}
