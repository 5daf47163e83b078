//! ListGroups: every group this broker coordinates, classic and KIP-848 consumer groups,
//! filtered by state (v4+) and type (v5+).

use weir_protocol::messages::list_groups_response::ListedGroup;
use weir_protocol::messages::{ListGroupsRequest, ListGroupsResponse};

use weir_auth::acl::{Operation, ResourceType};

use crate::handlers::context::RequestContext;

pub(crate) async fn handle(ctx: RequestContext, req: ListGroupsRequest) -> ListGroupsResponse {
    let states: Vec<&str> = req.states_filter.iter().map(String::as_str).collect();
    let listed = ctx.state.groups.read_all(|c| {
        let mut all: Vec<(String, String, &'static str, &'static str)> = c
            .list(&states)
            .into_iter()
            .map(|g| (g.group_id, g.protocol_type, g.state.as_str(), g.group_type))
            .collect();
        for g in c.consumer_groups() {
            let state = g.state().as_str();
            if states.is_empty() || states.iter().any(|s| s.eq_ignore_ascii_case(state)) {
                all.push((
                    g.group_id().to_string(),
                    "consumer".into(),
                    state,
                    "consumer",
                ));
            }
        }
        for g in c.share_groups() {
            let state = g.state().as_str();
            if states.is_empty() || states.iter().any(|s| s.eq_ignore_ascii_case(state)) {
                all.push((g.group_id().to_string(), "share".into(), state, "share"));
            }
        }
        all
    });
    let groups = match listed {
        Ok(all) => all.into_iter().flatten(),
        Err(e) => {
            return ListGroupsResponse {
                error_code: e.code(),
                ..Default::default()
            }
        }
    };
    // DESCRIBE on the cluster lists every group; otherwise those the client may describe.
    let all_visible = ctx.allowed_cluster(Operation::Describe);
    ListGroupsResponse {
        groups: groups
            .filter(|g| {
                req.types_filter.is_empty()
                    || req.types_filter.iter().any(|t| t.eq_ignore_ascii_case(g.3))
            })
            .filter(|g| all_visible || ctx.allowed(Operation::Describe, ResourceType::Group, &g.0))
            .map(|(group_id, protocol_type, state, group_type)| ListedGroup {
                group_id,
                protocol_type,
                group_state: state.to_string(),
                group_type: group_type.to_string(),
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    }
}
