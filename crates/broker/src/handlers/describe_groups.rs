//! DescribeGroups: state, protocol and members of classic groups; an unknown group is
//! described as Dead with no members, as Kafka does. A KIP-848 consumer group is described
//! the classic way too (protocol type `consumer`, assignments in the consumer protocol's
//! format), so older admin tools still see it.

use bytes::{BufMut, BytesMut};
use weir_coordinator::consumer::ConsumerGroup;
use weir_protocol::codec::Encode;
use weir_protocol::messages::consumer_protocol_assignment::TopicPartition;
use weir_protocol::messages::describe_groups_response::{DescribedGroup, DescribedGroupMember};
use weir_protocol::messages::ConsumerProtocolAssignment;
use weir_protocol::messages::{DescribeGroupsRequest, DescribeGroupsResponse};

use weir_auth::acl::{Operation, ResourceType};
use weir_protocol::error::ErrorCode;

use crate::groups::Step;
use crate::handlers::context::RequestContext;

pub(crate) async fn handle(
    ctx: RequestContext,
    req: DescribeGroupsRequest,
) -> DescribeGroupsResponse {
    let state = &ctx.state;
    let mut groups = Vec::with_capacity(req.groups.len());
    for group_id in req.groups.clone() {
        if !ctx.allowed(Operation::Describe, ResourceType::Group, &group_id) {
            groups.push(DescribedGroup {
                group_id,
                error_code: ErrorCode::GroupAuthorizationFailed.code(),
                authorized_operations: i32::MIN,
                ..Default::default()
            });
            continue;
        }
        let described = state
            .groups
            .run(&group_id, |c, _| {
                let consumer = c.consumer_group(&group_id).map(as_classic);
                Step::effects(consumer.ok_or_else(|| c.describe(&group_id)), Vec::new())
            })
            .await;
        groups.push(match described {
            Ok(Ok(consumer)) => consumer,
            Ok(Err(d)) => DescribedGroup {
                group_id: d.group_id,
                group_state: d.state.as_str().to_string(),
                protocol_type: d.protocol_type,
                protocol_data: d.protocol_data,
                members: d
                    .members
                    .into_iter()
                    .map(|m| DescribedGroupMember {
                        member_id: m.member_id,
                        group_instance_id: m.group_instance_id,
                        client_id: m.client_id,
                        client_host: m.client_host,
                        member_metadata: m.metadata,
                        member_assignment: m.assignment,
                        ..Default::default()
                    })
                    .collect(),
                authorized_operations: i32::MIN,
                ..Default::default()
            },
            Err(e) => DescribedGroup {
                error_code: e.code(),
                group_id,
                authorized_operations: i32::MIN,
                ..Default::default()
            },
        });
    }
    // KIP-430: what the client may do on each group it could describe, when it asks.
    if req.include_authorized_operations {
        for g in groups.iter_mut().filter(|g| g.error_code == 0) {
            g.authorized_operations = ctx.authorized_operations(ResourceType::Group, &g.group_id);
        }
    }
    DescribeGroupsResponse {
        groups,
        ..Default::default()
    }
}

/// A consumer group as DescribeGroups shows it.
fn as_classic(g: &ConsumerGroup) -> DescribedGroup {
    DescribedGroup {
        group_id: g.group_id().to_string(),
        group_state: g.state().as_str().to_string(),
        protocol_type: "consumer".into(),
        protocol_data: g.assignor_name().to_string(),
        members: g
            .members()
            .map(|m| {
                let assignment = ConsumerProtocolAssignment {
                    assigned_partitions: m
                        .assigned
                        .iter()
                        .map(|(t, ps)| TopicPartition {
                            topic: t.clone(),
                            partitions: ps.iter().copied().collect(),
                        })
                        .collect(),
                    ..Default::default()
                };
                let mut bytes = BytesMut::new();
                bytes.put_i16(0);
                // Version 0 of a struct of strings and ints always encodes.
                let _ = assignment.encode(&mut bytes, 0);
                DescribedGroupMember {
                    member_id: m.member_id.clone(),
                    group_instance_id: m.instance_id.clone(),
                    client_id: m.client_id.clone(),
                    client_host: m.client_host.clone(),
                    member_assignment: bytes.freeze(),
                    ..Default::default()
                }
            })
            .collect(),
        authorized_operations: i32::MIN,
        ..Default::default()
    }
}
