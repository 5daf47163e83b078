//! ElectLeaders: moves leadership to the preferred replica, or gives a leaderless partition
//! any live replica (unclean), through the controller. With no partitions named, every
//! partition is tried and only those whose leader moved or could not are answered, as
//! Kafka does.

use tracing::warn;
use weir_meta::reassign::Election;
use weir_meta::MetaError;
use weir_protocol::error::ErrorCode;
use weir_protocol::messages::elect_leaders_response::{PartitionResult, ReplicaElectionResult};
use weir_protocol::messages::{ElectLeadersRequest, ElectLeadersResponse};

use crate::handlers::context::RequestContext;

pub(crate) async fn handle(ctx: RequestContext, req: ElectLeadersRequest) -> ElectLeadersResponse {
    if !ctx.allowed_cluster(weir_auth::acl::Operation::Alter) {
        return ElectLeadersResponse {
            error_code: ErrorCode::ClusterAuthorizationFailed.code(),
            ..Default::default()
        };
    }
    let election = match req.election_type {
        0 => Election::Preferred,
        1 => Election::Unclean,
        other => {
            warn!(peer = %ctx.peer, election_type = other, "ElectLeaders: unknown election type");
            return ElectLeadersResponse {
                error_code: ErrorCode::InvalidRequest.code(),
                ..Default::default()
            };
        }
    };
    let all = req.topic_partitions.is_none();
    let items: Vec<(String, i32)> = match &req.topic_partitions {
        Some(ts) => ts
            .iter()
            .flat_map(|t| t.partitions.iter().map(|&p| (t.topic.clone(), p)))
            .collect(),
        None => {
            let image = ctx.state.image();
            image
                .topics
                .values()
                .flat_map(|t| t.partitions.keys().map(|&p| (t.name.clone(), p)))
                .collect()
        }
    };
    let results = ctx.state.elect_leaders(items.clone(), election).await;
    let mut by_topic: Vec<ReplicaElectionResult> = Vec::new();
    for ((topic, partition), r) in items.into_iter().zip(results) {
        if all && matches!(r, Err(MetaError::ElectionNotNeeded(_))) {
            continue;
        }
        let (error_code, error_message) = match r {
            Ok(()) => (0, None),
            Err(e) => (e.code(), Some(e.to_string())),
        };
        let result = PartitionResult {
            partition_id: partition,
            error_code,
            error_message,
            ..Default::default()
        };
        match by_topic.iter_mut().find(|t| t.topic == topic) {
            Some(t) => t.partition_result.push(result),
            None => by_topic.push(ReplicaElectionResult {
                topic,
                partition_result: vec![result],
                ..Default::default()
            }),
        }
    }
    ElectLeadersResponse {
        replica_election_results: by_topic,
        ..Default::default()
    }
}
