//! ShareGroupDescribe (KIP-932): a share group's epochs and members with their
//! subscriptions and partitions. A group of another kind is not a share group:
//! GROUP_ID_NOT_FOUND, as in Kafka.

use weir_auth::acl::{Operation, ResourceType};
use weir_coordinator::assignor::TopicPartitions;
use weir_meta::MetadataImage;
use weir_protocol::error::ErrorCode;
use weir_protocol::messages::share_group_describe_response::{
    Assignment, DescribedGroup, Member, TopicPartitions as Tps,
};
use weir_protocol::messages::{ShareGroupDescribeRequest, ShareGroupDescribeResponse};

use crate::groups::Step;
use crate::handlers::context::RequestContext;
use crate::ids::to_uuid;

pub(crate) async fn handle(
    ctx: RequestContext,
    req: ShareGroupDescribeRequest,
) -> ShareGroupDescribeResponse {
    let state = &ctx.state;
    let image = state.image();
    let mut groups = Vec::with_capacity(req.group_ids.len());
    for group_id in req.group_ids.clone() {
        if !ctx.allowed(Operation::Describe, ResourceType::Group, &group_id) {
            groups.push(failed(group_id, ErrorCode::GroupAuthorizationFailed, None));
            continue;
        }
        let described = state
            .groups
            .run(&group_id, |c, _| {
                let d = c.share_group(&group_id).map(|g| DescribedGroup {
                    group_id: group_id.clone(),
                    group_state: g.state().as_str().to_string(),
                    group_epoch: g.epoch(),
                    assignment_epoch: g.epoch(),
                    assignor_name: "simple".to_string(),
                    members: g
                        .members()
                        .map(|m| Member {
                            member_id: m.member_id.clone(),
                            rack_id: m.rack_id.clone(),
                            member_epoch: m.member_epoch,
                            client_id: m.client_id.clone(),
                            client_host: m.client_host.clone(),
                            subscribed_topic_names: m.subscribed.iter().cloned().collect(),
                            assignment: assignment(&image, &m.assignment),
                            ..Default::default()
                        })
                        .collect(),
                    authorized_operations: i32::MIN,
                    ..Default::default()
                });
                Step::effects(d, Vec::new())
            })
            .await;
        groups.push(match described {
            Ok(Some(d)) => d,
            Ok(None) => failed(
                group_id.clone(),
                ErrorCode::GroupIdNotFound,
                Some(format!("Group {group_id} not found.")),
            ),
            Err(e) => failed(group_id, e, None),
        });
    }
    if req.include_authorized_operations {
        for g in groups.iter_mut().filter(|g| g.error_code == 0) {
            g.authorized_operations = ctx.authorized_operations(ResourceType::Group, &g.group_id);
        }
    }
    ShareGroupDescribeResponse {
        groups,
        ..Default::default()
    }
}

fn assignment(image: &MetadataImage, a: &TopicPartitions) -> Assignment {
    Assignment {
        topic_partitions: a
            .iter()
            .filter_map(|(name, ps)| {
                image.topic(name).map(|t| Tps {
                    topic_id: to_uuid(&t.topic_id),
                    topic_name: name.clone(),
                    partitions: ps.iter().copied().collect(),
                    ..Default::default()
                })
            })
            .collect(),
        ..Default::default()
    }
}

fn failed(group_id: String, code: ErrorCode, message: Option<String>) -> DescribedGroup {
    DescribedGroup {
        group_id,
        error_code: code.code(),
        error_message: message,
        authorized_operations: i32::MIN,
        ..Default::default()
    }
}
