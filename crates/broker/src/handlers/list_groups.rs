//! ListGroups: every group this broker coordinates, filtered by state (v4+) and type (v5+).

use weir_protocol::messages::list_groups_response::ListedGroup;
use weir_protocol::messages::{ListGroupsRequest, ListGroupsResponse};

use crate::dispatch::RequestContext;

pub(crate) async fn handle(ctx: RequestContext, req: ListGroupsRequest) -> ListGroupsResponse {
    let states: Vec<&str> = req.states_filter.iter().map(String::as_str).collect();
    let listed = ctx.state.groups.read_all(|c| c.list(&states));
    let groups = match listed {
        Ok(all) => all.into_iter().flatten(),
        Err(e) => {
            return ListGroupsResponse {
                error_code: e.code(),
                ..Default::default()
            }
        }
    };
    ListGroupsResponse {
        groups: groups
            .filter(|g| {
                req.types_filter.is_empty()
                    || req
                        .types_filter
                        .iter()
                        .any(|t| t.eq_ignore_ascii_case(g.group_type))
            })
            .map(|g| ListedGroup {
                group_id: g.group_id,
                protocol_type: g.protocol_type,
                group_state: g.state.as_str().to_string(),
                group_type: g.group_type.to_string(),
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    }
}
