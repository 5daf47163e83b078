//! Metadata: brokers, cluster id, controller, and topics with their partitions; creates
//! unknown topics when auto-creation is on and the client allows it.

use std::sync::Arc;

use weir_meta::controller::CreateTopicSpec;
use weir_meta::names::{is_internal, validate_topic_name};
use weir_meta::{MetadataImage, TopicImage};
use weir_protocol::error::ErrorCode;
use weir_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use weir_protocol::messages::{MetadataRequest, MetadataResponse};

use weir_auth::acl::{Operation, ResourceType};

use crate::handlers::context::RequestContext;
use crate::ids::{from_uuid, to_uuid};
use crate::state::BrokerState;

/// Kafka's "authorized operations not requested" marker.
const OPS_NOT_REQUESTED: i32 = i32::MIN;

pub(crate) async fn handle(ctx: RequestContext, req: MetadataRequest) -> MetadataResponse {
    let state = &ctx.state;
    let mut image = state.image();
    // Version 0 asks for every topic with an empty list; later versions with null.
    let requested = match req.topics {
        Some(t) if !(ctx.version == 0 && t.is_empty()) => Some(t),
        _ => None,
    };
    let topics = match requested {
        // Every topic the client may describe.
        None => image
            .topics
            .values()
            .filter(|t| ctx.allowed(Operation::Describe, ResourceType::Topic, &t.name))
            .map(|t| describe(&image, t))
            .collect(),
        Some(wanted) => {
            let allow_create = state.config.auto_create_topics_enable
                && (ctx.version < 4 || req.allow_auto_topic_creation);
            let mut missing = Vec::new();
            let mut create_denied = std::collections::HashSet::new();
            for w in &wanted {
                if let Some(name) = &w.name {
                    if image.topic(name).is_none()
                        && validate_topic_name(name).is_ok()
                        && allow_create
                    {
                        // Auto-creation needs CREATE on the cluster or the topic.
                        if !ctx.allowed_cluster(Operation::Create)
                            && !ctx.allowed(Operation::Create, ResourceType::Topic, name)
                        {
                            create_denied.insert(name.clone());
                            continue;
                        }
                        missing.push(CreateTopicSpec {
                            name: name.clone(),
                            num_partitions: -1,
                            replication_factor: -1,
                            ..Default::default()
                        });
                    }
                }
            }
            if !missing.is_empty() {
                // Errors (e.g. a name that collides) surface below as the topic being unknown.
                let _ = state.create_topics(&missing, false).await;
                image = state.image();
            }
            wanted
                .iter()
                .map(|w| {
                    // KIP-516: a topic asked for by id has no name (null, or empty as the
                    // Java client sends it).
                    let id = from_uuid(&w.topic_id);
                    let name = w.name.as_deref().filter(|n| !n.is_empty() || id == [0; 16]);
                    let known = match name {
                        Some(n) => image.topic(n).map(|t| t.name.clone()),
                        None => image.topic_by_id(&id).map(|t| t.name.clone()),
                    };
                    let denied = match (&known, name) {
                        (Some(n), _) => !ctx.allowed(Operation::Describe, ResourceType::Topic, n),
                        (None, Some(n)) => {
                            create_denied.contains(n)
                                || !ctx.allowed(Operation::Describe, ResourceType::Topic, n)
                        }
                        (None, None) => false,
                    };
                    if denied {
                        let code = ErrorCode::TopicAuthorizationFailed;
                        return error_topic(name.map(str::to_string), id, code);
                    }
                    describe_requested(&image, name, id)
                })
                .collect()
        }
    };
    // Fenced brokers are left out, as Kafka does: clients should not connect to them; so
    // are brokers without the listener this client came in on.
    let brokers = image
        .brokers
        .values()
        .filter(|b| !b.fenced)
        .filter_map(|b| {
            let (host, port) = b.endpoint(&ctx.listener)?;
            Some(MetadataResponseBroker {
                node_id: b.node_id,
                host: host.to_string(),
                port,
                rack: b.rack.clone(),
                ..Default::default()
            })
        })
        .collect();
    // KIP-430: the operations the client may do, when it asks.
    let mut topics: Vec<MetadataResponseTopic> = topics;
    if req.include_topic_authorized_operations {
        for t in topics.iter_mut().filter(|t| t.error_code == 0) {
            if let Some(name) = &t.name {
                t.topic_authorized_operations =
                    ctx.authorized_operations(ResourceType::Topic, name);
            }
        }
    }
    let cluster_authorized_operations = if req.include_cluster_authorized_operations {
        ctx.authorized_operations(ResourceType::Cluster, weir_auth::acl::CLUSTER_NAME)
    } else {
        OPS_NOT_REQUESTED
    };
    MetadataResponse {
        brokers,
        cluster_id: image.cluster_id.clone(),
        controller_id: controller_for_clients(state, &image).await,
        topics,
        cluster_authorized_operations,
        ..Default::default()
    }
}

fn describe_requested(
    image: &MetadataImage,
    name: Option<&str>,
    id: [u8; 16],
) -> MetadataResponseTopic {
    match name {
        Some(name) => match image.topic(name) {
            Some(t) => describe(image, t),
            None => {
                let code = if validate_topic_name(name).is_err() {
                    ErrorCode::InvalidTopicException
                } else {
                    ErrorCode::UnknownTopicOrPartition
                };
                error_topic(Some(name.to_string()), id, code)
            }
        },
        None => match image.topic_by_id(&id) {
            Some(t) => describe(image, t),
            None => error_topic(None, id, ErrorCode::UnknownTopicId),
        },
    }
}

fn error_topic(name: Option<String>, id: [u8; 16], code: ErrorCode) -> MetadataResponseTopic {
    MetadataResponseTopic {
        error_code: code.code(),
        name,
        topic_id: to_uuid(&id),
        topic_authorized_operations: OPS_NOT_REQUESTED,
        ..Default::default()
    }
}

/// The controller id clients see: the active controller if it is a live broker (every
/// node here is both), else this node, which forwards admin requests to it anyway.
pub(crate) async fn controller_for_clients(state: &BrokerState, image: &MetadataImage) -> i32 {
    match state.controller_id().await {
        Some(id) if image.brokers.get(&id).is_some_and(|b| !b.fenced) => id,
        _ => state.config.node_id,
    }
}

fn describe(image: &MetadataImage, t: &Arc<TopicImage>) -> MetadataResponseTopic {
    let down = |n: &i32| image.brokers.get(n).is_none_or(|b| b.fenced);
    let partitions = t
        .partitions
        .values()
        .map(|p| MetadataResponsePartition {
            // A partition without a leader is reported as Kafka does: LEADER_NOT_AVAILABLE.
            error_code: if p.leader < 0 {
                ErrorCode::LeaderNotAvailable.code()
            } else {
                0
            },
            partition_index: p.partition,
            leader_id: p.leader,
            leader_epoch: p.leader_epoch,
            replica_nodes: p.replicas.clone(),
            isr_nodes: p.isr.clone(),
            offline_replicas: p.replicas.iter().copied().filter(down).collect(),
            ..Default::default()
        })
        .collect();
    MetadataResponseTopic {
        error_code: 0,
        name: Some(t.name.clone()),
        topic_id: to_uuid(&t.topic_id),
        is_internal: is_internal(&t.name),
        partitions,
        topic_authorized_operations: OPS_NOT_REQUESTED,
        ..Default::default()
    }
}
