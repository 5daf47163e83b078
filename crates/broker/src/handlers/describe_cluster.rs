//! DescribeCluster: cluster id, controller and brokers.

use weir_protocol::messages::describe_cluster_response::DescribeClusterBroker;
use weir_protocol::messages::{DescribeClusterRequest, DescribeClusterResponse};

use crate::handlers::context::RequestContext;

pub(crate) async fn handle(
    ctx: RequestContext,
    req: DescribeClusterRequest,
) -> DescribeClusterResponse {
    let image = ctx.state.image();
    let controller_id = super::metadata::controller_for_clients(&ctx.state, &image).await;
    DescribeClusterResponse {
        endpoint_type: req.endpoint_type,
        cluster_id: image.cluster_id.clone().unwrap_or_default(),
        controller_id,
        brokers: image
            .brokers
            .values()
            .filter(|b| !b.fenced)
            .filter_map(|b| {
                let (host, port) = b.endpoint(&ctx.listener)?;
                Some(DescribeClusterBroker {
                    broker_id: b.node_id,
                    host: host.to_string(),
                    port,
                    rack: b.rack.clone(),
                    ..Default::default()
                })
            })
            .collect(),
        cluster_authorized_operations: if req.include_cluster_authorized_operations {
            ctx.authorized_operations(
                weir_auth::acl::ResourceType::Cluster,
                weir_auth::acl::CLUSTER_NAME,
            )
        } else {
            i32::MIN
        },
        ..Default::default()
    }
}
