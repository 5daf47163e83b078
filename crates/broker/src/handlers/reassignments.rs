//! AlterPartitionReassignments and ListPartitionReassignments: moving partitions between
//! brokers (KIP-455) through the controller, and the moves in progress from the image.

use weir_protocol::error::ErrorCode;
use weir_protocol::messages::alter_partition_reassignments_response::{
    ReassignablePartitionResponse, ReassignableTopicResponse,
};
use weir_protocol::messages::list_partition_reassignments_response::{
    OngoingPartitionReassignment, OngoingTopicReassignment,
};
use weir_protocol::messages::{
    AlterPartitionReassignmentsRequest, AlterPartitionReassignmentsResponse,
    ListPartitionReassignmentsRequest, ListPartitionReassignmentsResponse,
};

use crate::handlers::context::RequestContext;

pub(crate) async fn alter(
    ctx: RequestContext,
    req: AlterPartitionReassignmentsRequest,
) -> AlterPartitionReassignmentsResponse {
    if !ctx.allowed_cluster(weir_auth::acl::Operation::Alter) {
        return AlterPartitionReassignmentsResponse {
            error_code: ErrorCode::ClusterAuthorizationFailed.code(),
            ..Default::default()
        };
    }
    let items: Vec<(String, i32, Option<Vec<i32>>)> = req
        .topics
        .iter()
        .flat_map(|t| {
            t.partitions
                .iter()
                .map(|p| (t.name.clone(), p.partition_index, p.replicas.clone()))
        })
        .collect();
    let mut results = ctx.state.reassign(items).await.into_iter();
    let responses = req
        .topics
        .iter()
        .map(|t| ReassignableTopicResponse {
            name: t.name.clone(),
            partitions: t
                .partitions
                .iter()
                .map(|p| {
                    let (error_code, error_message) = match results.next() {
                        Some(Ok(())) => (0, None),
                        Some(Err(e)) => (e.code(), Some(e.to_string())),
                        None => (ErrorCode::UnknownServerError.code(), None),
                    };
                    ReassignablePartitionResponse {
                        partition_index: p.partition_index,
                        error_code,
                        error_message,
                        ..Default::default()
                    }
                })
                .collect(),
            ..Default::default()
        })
        .collect();
    AlterPartitionReassignmentsResponse {
        responses,
        ..Default::default()
    }
}

pub(crate) async fn list(
    ctx: RequestContext,
    req: ListPartitionReassignmentsRequest,
) -> ListPartitionReassignmentsResponse {
    if !ctx.allowed_cluster(weir_auth::acl::Operation::Describe) {
        return ListPartitionReassignmentsResponse {
            error_code: ErrorCode::ClusterAuthorizationFailed.code(),
            ..Default::default()
        };
    }
    let image = ctx.state.image();
    let wanted = |topic: &str, index: i32| match &req.topics {
        None => true,
        Some(ts) => ts
            .iter()
            .any(|t| t.name == topic && t.partition_indexes.contains(&index)),
    };
    let topics = image
        .topics
        .values()
        .filter_map(|t| {
            let partitions: Vec<OngoingPartitionReassignment> = t
                .partitions
                .values()
                .filter(|p| wanted(&t.name, p.partition))
                .filter_map(|p| {
                    let r = p.reassignment.as_ref()?;
                    Some(OngoingPartitionReassignment {
                        partition_index: p.partition,
                        replicas: p.replicas.clone(),
                        adding_replicas: r.adding(),
                        removing_replicas: r.removing(),
                        ..Default::default()
                    })
                })
                .collect();
            (!partitions.is_empty()).then(|| OngoingTopicReassignment {
                name: t.name.clone(),
                partitions,
                ..Default::default()
            })
        })
        .collect();
    ListPartitionReassignmentsResponse {
        topics,
        ..Default::default()
    }
}
