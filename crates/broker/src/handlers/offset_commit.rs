//! OffsetCommit: stores a group's consumed positions in `__consumer_offsets`; answered once
//! the records are durable.

use weir_coordinator::coordinator::{CommitPartition, CommitTopic, OffsetCommit};
use weir_protocol::error::ErrorCode;
use weir_protocol::messages::offset_commit_response::{
    OffsetCommitResponsePartition, OffsetCommitResponseTopic,
};
use weir_protocol::messages::{OffsetCommitRequest, OffsetCommitResponse};

use weir_auth::acl::{Operation, ResourceType};

use crate::groups::Step;
use crate::handlers::context::RequestContext;

pub(crate) async fn handle(
    ctx: RequestContext,
    mut req: OffsetCommitRequest,
) -> OffsetCommitResponse {
    let v = ctx.version;
    ctx.state.metrics.learn_group(&ctx.client_id, &req.group_id);
    // Kafka's checks: READ on the group for every partition, then READ on each topic.
    let group_denied = !ctx.allowed(Operation::Read, ResourceType::Group, &req.group_id);
    let (allowed, denied): (Vec<_>, Vec<_>) = std::mem::take(&mut req.topics)
        .into_iter()
        .partition(|t| !group_denied && ctx.allowed(Operation::Read, ResourceType::Topic, &t.name));
    req.topics = allowed;
    let denied_shape: Vec<(String, Vec<i32>)> = denied
        .iter()
        .map(|t| {
            (
                t.name.clone(),
                t.partitions.iter().map(|p| p.partition_index).collect(),
            )
        })
        .collect();
    let denied_error = if group_denied {
        ErrorCode::GroupAuthorizationFailed
    } else {
        ErrorCode::TopicAuthorizationFailed
    };
    let shape: Vec<(String, Vec<i32>)> = req
        .topics
        .iter()
        .map(|t| {
            (
                t.name.clone(),
                t.partitions.iter().map(|p| p.partition_index).collect(),
            )
        })
        .collect();
    let commit = OffsetCommit {
        group_id: req.group_id.clone(),
        member_id: req.member_id,
        group_instance_id: req.group_instance_id,
        generation_id: req.generation_id_or_member_epoch,
        retention_time_ms: if (2..=4).contains(&v) {
            req.retention_time_ms
        } else {
            -1
        },
        api_version: v,
        topics: req
            .topics
            .into_iter()
            .map(|t| CommitTopic {
                name: t.name,
                partitions: t
                    .partitions
                    .into_iter()
                    .map(|p| CommitPartition {
                        partition: p.partition_index,
                        offset: p.committed_offset,
                        leader_epoch: p.committed_leader_epoch,
                        metadata: p.committed_metadata,
                        commit_timestamp_ms: if v == 1 { p.commit_timestamp } else { -1 },
                    })
                    .collect(),
            })
            .collect(),
    };
    let state = &ctx.state;
    let mut topics = if shape.is_empty() && !denied_shape.is_empty() {
        Vec::new()
    } else {
        let result = state
            .groups
            .run_durable(&req.group_id, |c, now| {
                match c.commit_offsets(commit, now) {
                    Ok(r) => Step::records(Ok(r.topics), r.records),
                    Err(e) => Step::records(Err(e), Vec::new()),
                }
            })
            .await;
        match result {
            Ok((Ok(topics), true)) => topics,
            // A failed write: the commit may not survive, so the client must retry.
            Ok((Ok(_), false)) => all(&shape, ErrorCode::CoordinatorNotAvailable),
            Ok((Err(e), _)) | Err(e) => all(&shape, e),
        }
    };
    topics.extend(all(&denied_shape, denied_error));
    OffsetCommitResponse {
        topics: topics
            .into_iter()
            .map(|(name, partitions)| OffsetCommitResponseTopic {
                name,
                partitions: partitions
                    .into_iter()
                    .map(|(index, e)| OffsetCommitResponsePartition {
                        partition_index: index,
                        error_code: e.code(),
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    }
}

/// Every partition of the request with the same error.
pub(crate) fn all(
    shape: &[(String, Vec<i32>)],
    e: ErrorCode,
) -> Vec<(String, Vec<(i32, ErrorCode)>)> {
    shape
        .iter()
        .map(|(t, ps)| (t.clone(), ps.iter().map(|p| (*p, e)).collect()))
        .collect()
}
