//! ConsumerGroupDescribe (KIP-848): epochs, assignor, and each member's current and target
//! assignment. A classic group is not a consumer group: GROUP_ID_NOT_FOUND, as in Kafka.

use weir_coordinator::assignor::TopicPartitions;
use weir_meta::MetadataImage;
use weir_protocol::codec::Uuid;
use weir_protocol::error::ErrorCode;
use weir_protocol::messages::consumer_group_describe_response::{
    self as resp, Assignment, DescribedGroup, Member,
};
use weir_protocol::messages::{ConsumerGroupDescribeRequest, ConsumerGroupDescribeResponse};

use weir_auth::acl::{Operation, ResourceType};

use crate::groups::Step;
use crate::handlers::context::RequestContext;

pub(crate) async fn handle(
    ctx: RequestContext,
    req: ConsumerGroupDescribeRequest,
) -> ConsumerGroupDescribeResponse {
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
                let d = c.consumer_group(&group_id).map(|g| DescribedGroup {
                    group_id: group_id.clone(),
                    group_state: g.state().as_str().to_string(),
                    group_epoch: g.group_epoch(),
                    assignment_epoch: g.assignment_epoch(),
                    assignor_name: g.assignor_name().to_string(),
                    members: g
                        .members()
                        .map(|m| Member {
                            member_id: m.member_id.clone(),
                            instance_id: m.instance_id.clone(),
                            rack_id: m.rack_id.clone(),
                            member_epoch: m.epoch,
                            client_id: m.client_id.clone(),
                            client_host: m.client_host.clone(),
                            subscribed_topic_names: m.subscribed_topics.iter().cloned().collect(),
                            subscribed_topic_regex: m.subscribed_topic_regex.clone(),
                            assignment: assignment(&image, &m.assigned),
                            target_assignment: assignment(&image, &g.target_of(&m.member_id)),
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
    // KIP-430: what the client may do on each group it could describe, when it asks.
    if req.include_authorized_operations {
        for g in groups.iter_mut().filter(|g| g.error_code == 0) {
            g.authorized_operations = ctx.authorized_operations(ResourceType::Group, &g.group_id);
        }
    }
    ConsumerGroupDescribeResponse {
        groups,
        ..Default::default()
    }
}

fn failed(group_id: String, e: ErrorCode, message: Option<String>) -> DescribedGroup {
    DescribedGroup {
        error_code: e.code(),
        error_message: message,
        group_id,
        authorized_operations: i32::MIN,
        ..Default::default()
    }
}

fn assignment(image: &MetadataImage, a: &TopicPartitions) -> Assignment {
    Assignment {
        topic_partitions: a
            .iter()
            .filter_map(|(name, ps)| {
                image.topic(name).map(|t| resp::TopicPartitions {
                    topic_id: Uuid(t.topic_id),
                    topic_name: name.clone(),
                    partitions: ps.iter().copied().collect(),
                    ..Default::default()
                })
            })
            .collect(),
        ..Default::default()
    }
}
