//! AlterShareGroupOffsets and DeleteShareGroupOffsets (KIP-932): an operator moves a share
//! group's start offset on some partitions, or forgets its state for whole topics (the next
//! fetch starts where `share.auto.offset.reset` says). Only while the group has no members
//! (NON_EMPTY_GROUP otherwise, as in Kafka); each reset is written to the share coordinator
//! under a new state epoch, which fences the leader holding the old state.

use tracing::info;
use weir_auth::acl::{Operation, ResourceType};
use weir_protocol::error::ErrorCode;
use weir_protocol::messages::alter_share_group_offsets_response::{
    AlterShareGroupOffsetsResponsePartition, AlterShareGroupOffsetsResponseTopic,
};
use weir_protocol::messages::delete_share_group_offsets_response::DeleteShareGroupOffsetsResponseTopic;
use weir_protocol::messages::{
    AlterShareGroupOffsetsRequest, AlterShareGroupOffsetsResponse, DeleteShareGroupOffsetsRequest,
    DeleteShareGroupOffsetsResponse,
};

use crate::groups::Step;
use crate::handlers::context::RequestContext;
use crate::ids::to_uuid;
use crate::shares::ShareKey;

/// Why the group's offsets may not change now: not a share group here, or members.
async fn refused(ctx: &RequestContext, group: &str) -> Option<ErrorCode> {
    if !ctx.allowed(Operation::Delete, ResourceType::Group, group)
        && !ctx.allowed(Operation::Read, ResourceType::Group, group)
    {
        return Some(ErrorCode::GroupAuthorizationFailed);
    }
    let state = ctx
        .state
        .groups
        .run(group, |c, _| {
            let code = match c.share_group(group) {
                Some(g) if !g.is_empty() => Some(ErrorCode::NonEmptyGroup),
                Some(_) => None,
                None if c.group(group).is_some_and(|g| !g.is_empty())
                    || c.consumer_group(group).is_some() =>
                {
                    Some(ErrorCode::GroupIdNotFound)
                }
                None => None,
            };
            Step::effects(code, Vec::new())
        })
        .await;
    match state {
        Ok(code) => code,
        Err(e) => Some(e),
    }
}

pub(crate) async fn alter(
    ctx: RequestContext,
    req: AlterShareGroupOffsetsRequest,
) -> AlterShareGroupOffsetsResponse {
    if let Some(code) = refused(&ctx, &req.group_id).await {
        return AlterShareGroupOffsetsResponse {
            error_code: code.code(),
            ..Default::default()
        };
    }
    let image = ctx.state.image();
    let mut responses = Vec::new();
    for t in &req.topics {
        let topic = image.topic(&t.topic_name);
        let allowed = ctx.allowed(Operation::Read, ResourceType::Topic, &t.topic_name);
        let mut partitions = Vec::new();
        for p in &t.partitions {
            let result = match topic {
                _ if !allowed => Err(ErrorCode::TopicAuthorizationFailed),
                None => Err(ErrorCode::UnknownTopicOrPartition),
                Some(tp) if !tp.partitions.contains_key(&p.partition_index) => {
                    Err(ErrorCode::UnknownTopicOrPartition)
                }
                Some(_) if p.start_offset < 0 => Err(ErrorCode::InvalidRequest),
                Some(tp) => {
                    let key = ShareKey {
                        group: req.group_id.clone(),
                        topic: tp.topic_id,
                        partition: p.partition_index,
                    };
                    ctx.state
                        .shares
                        .reset_state(&key, Some(p.start_offset))
                        .await
                }
            };
            if let Err(e) = result {
                info!(group = %req.group_id, topic = %t.topic_name, partition = p.partition_index, error = e.name(), "share offset change refused");
            }
            partitions.push(AlterShareGroupOffsetsResponsePartition {
                partition_index: p.partition_index,
                error_code: result.err().map_or(0, |e| e.code()),
                ..Default::default()
            });
        }
        responses.push(AlterShareGroupOffsetsResponseTopic {
            topic_name: t.topic_name.clone(),
            topic_id: topic.map(|tp| to_uuid(&tp.topic_id)).unwrap_or_default(),
            partitions,
            ..Default::default()
        });
    }
    AlterShareGroupOffsetsResponse {
        responses,
        ..Default::default()
    }
}

pub(crate) async fn delete(
    ctx: RequestContext,
    req: DeleteShareGroupOffsetsRequest,
) -> DeleteShareGroupOffsetsResponse {
    if let Some(code) = refused(&ctx, &req.group_id).await {
        return DeleteShareGroupOffsetsResponse {
            error_code: code.code(),
            ..Default::default()
        };
    }
    let image = ctx.state.image();
    let mut responses = Vec::new();
    for t in &req.topics {
        let topic = image.topic(&t.topic_name);
        let result = match topic {
            _ if !ctx.allowed(Operation::Read, ResourceType::Topic, &t.topic_name) => {
                Err(ErrorCode::TopicAuthorizationFailed)
            }
            None => Err(ErrorCode::UnknownTopicOrPartition),
            Some(tp) => {
                let mut result = Ok(());
                for &index in tp.partitions.keys() {
                    let key = ShareKey {
                        group: req.group_id.clone(),
                        topic: tp.topic_id,
                        partition: index,
                    };
                    if let Err(e) = ctx.state.shares.reset_state(&key, None).await {
                        result = Err(e);
                    }
                }
                result
            }
        };
        responses.push(DeleteShareGroupOffsetsResponseTopic {
            topic_name: t.topic_name.clone(),
            topic_id: topic.map(|tp| to_uuid(&tp.topic_id)).unwrap_or_default(),
            error_code: result.err().map_or(0, |e| e.code()),
            ..Default::default()
        });
    }
    DeleteShareGroupOffsetsResponse {
        responses,
        ..Default::default()
    }
}
