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

use crate::dispatch::RequestContext;
use crate::ids::{from_uuid, to_uuid};

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
        None => image.topics.values().map(describe).collect(),
        Some(wanted) => {
            let allow_create = state.config.auto_create_topics_enable
                && (ctx.version < 4 || req.allow_auto_topic_creation);
            let mut missing = Vec::new();
            for w in &wanted {
                if let Some(name) = &w.name {
                    if image.topic(name).is_none()
                        && validate_topic_name(name).is_ok()
                        && allow_create
                    {
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
                .map(|w| describe_requested(&image, w.name.as_deref(), from_uuid(&w.topic_id)))
                .collect()
        }
    };
    let brokers = image
        .brokers
        .values()
        .map(|b| MetadataResponseBroker {
            node_id: b.node_id,
            host: b.host.clone(),
            port: b.port,
            rack: b.rack.clone(),
            ..Default::default()
        })
        .collect();
    MetadataResponse {
        brokers,
        cluster_id: image.cluster_id.clone(),
        controller_id: state.config.node_id,
        topics,
        cluster_authorized_operations: OPS_NOT_REQUESTED,
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
            Some(t) => describe(t),
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
            Some(t) => describe(t),
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

fn describe(t: &Arc<TopicImage>) -> MetadataResponseTopic {
    let partitions = t
        .partitions
        .values()
        .map(|p| MetadataResponsePartition {
            error_code: 0,
            partition_index: p.partition,
            leader_id: p.leader,
            leader_epoch: p.leader_epoch,
            replica_nodes: p.replicas.clone(),
            isr_nodes: p.isr.clone(),
            offline_replicas: Vec::new(),
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
