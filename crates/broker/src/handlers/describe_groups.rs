//! DescribeGroups: state, protocol and members of classic groups; an unknown group is
//! described as Dead with no members, as Kafka does.

use weir_protocol::messages::describe_groups_response::{DescribedGroup, DescribedGroupMember};
use weir_protocol::messages::{DescribeGroupsRequest, DescribeGroupsResponse};

use crate::dispatch::RequestContext;
use crate::groups::Step;

pub(crate) async fn handle(
    ctx: RequestContext,
    req: DescribeGroupsRequest,
) -> DescribeGroupsResponse {
    let state = &ctx.state;
    let mut groups = Vec::with_capacity(req.groups.len());
    for group_id in req.groups {
        let described = state
            .groups
            .run(state, &group_id, |c, _| {
                Step::effects(c.describe(&group_id), Vec::new())
            })
            .await;
        groups.push(match described {
            Ok(d) => DescribedGroup {
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
    DescribeGroupsResponse {
        groups,
        ..Default::default()
    }
}
