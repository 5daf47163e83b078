//! DescribeShareGroupOffsets (KIP-932): each share-partition's start offset as its share
//! coordinator keeps it, and (version 1) its lag: records from the start offset up to the
//! high watermark not yet acknowledged or archived, where this broker leads the partition
//! (-1 elsewhere). Without topics, the partitions of every topic the group's members have
//! subscribed to. A partition with no state has start offset -1.

use weir_auth::acl::{Operation, ResourceType};
use weir_coordinator::share::DeliveryState;
use weir_protocol::error::ErrorCode;
use weir_protocol::messages::describe_share_group_offsets_response::{
    DescribeShareGroupOffsetsResponseGroup as Group,
    DescribeShareGroupOffsetsResponsePartition as Part,
    DescribeShareGroupOffsetsResponseTopic as Topic,
};
use weir_protocol::messages::{
    DescribeShareGroupOffsetsRequest, DescribeShareGroupOffsetsResponse,
};

use crate::groups::Step;
use crate::handlers::context::RequestContext;
use crate::ids::to_uuid;
use crate::shares::ShareKey;

pub(crate) async fn handle(
    ctx: RequestContext,
    req: DescribeShareGroupOffsetsRequest,
) -> DescribeShareGroupOffsetsResponse {
    let state = &ctx.state;
    let image = state.image();
    let mut groups = Vec::new();
    for g in &req.groups {
        let mut out = Group {
            group_id: g.group_id.clone(),
            ..Default::default()
        };
        if !ctx.allowed(Operation::Describe, ResourceType::Group, &g.group_id) {
            out.error_code = ErrorCode::GroupAuthorizationFailed.code();
            groups.push(out);
            continue;
        }
        let known = state
            .groups
            .run(&g.group_id, |c, _| {
                let kind = if c.is_share_group(&g.group_id) {
                    c.share_group(&g.group_id)
                        .map(|s| s.topics_seen().iter().cloned().collect::<Vec<_>>())
                } else {
                    None
                };
                let other = c.group(&g.group_id).is_some_and(|c| !c.is_empty())
                    || c.consumer_group(&g.group_id).is_some();
                Step::effects((kind, other), Vec::new())
            })
            .await;
        let (subscribed, other_kind) = match known {
            Ok(k) => k,
            Err(e) => {
                out.error_code = e.code();
                groups.push(out);
                continue;
            }
        };
        if other_kind {
            out.error_code = ErrorCode::GroupIdNotFound.code();
            out.error_message = Some(format!("Group {} is not a share group.", g.group_id));
            groups.push(out);
            continue;
        }
        let wanted: Vec<(String, Vec<i32>)> = match &g.topics {
            Some(ts) => ts
                .iter()
                .map(|t| (t.topic_name.clone(), t.partitions.clone()))
                .collect(),
            None => subscribed
                .unwrap_or_default()
                .into_iter()
                .filter_map(|name| {
                    let t = image.topic(&name)?;
                    Some((name, t.partitions.keys().copied().collect()))
                })
                .collect(),
        };
        for (name, partitions) in wanted {
            let Some(t) = image.topic(&name) else {
                out.topics.push(Topic {
                    topic_name: name,
                    partitions: partitions
                        .iter()
                        .map(|&p| Part {
                            partition_index: p,
                            start_offset: -1,
                            leader_epoch: -1,
                            lag: -1,
                            error_code: ErrorCode::UnknownTopicOrPartition.code(),
                            ..Default::default()
                        })
                        .collect(),
                    ..Default::default()
                });
                continue;
            };
            let mut parts = Vec::new();
            for p in partitions {
                let key = ShareKey {
                    group: g.group_id.clone(),
                    topic: t.topic_id,
                    partition: p,
                };
                let mut part = Part {
                    partition_index: p,
                    start_offset: -1,
                    leader_epoch: t.partitions.get(&p).map_or(-1, |pi| pi.leader_epoch),
                    lag: -1,
                    ..Default::default()
                };
                match state.shares.read_state(&key).await {
                    Ok(Some(s)) => {
                        part.start_offset = s.start_offset;
                        if let Ok(leader) = state.lead(t, p) {
                            let done: i64 = s
                                .batches
                                .iter()
                                .filter(|b| {
                                    matches!(
                                        b.state,
                                        DeliveryState::Acknowledged | DeliveryState::Archived
                                    )
                                })
                                .map(|b| b.last - b.first + 1)
                                .sum();
                            part.lag = (leader.high_watermark() - s.start_offset - done).max(0);
                        }
                    }
                    Ok(None) => {}
                    Err(e) => part.error_code = e.code(),
                }
                parts.push(part);
            }
            out.topics.push(Topic {
                topic_name: name,
                topic_id: to_uuid(&t.topic_id),
                partitions: parts,
                ..Default::default()
            });
        }
        groups.push(out);
    }
    DescribeShareGroupOffsetsResponse {
        groups,
        ..Default::default()
    }
}
