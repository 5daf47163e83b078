//! FindCoordinator (single keys before v4, batched keys from v4): a group's coordinator is
//! the leader of its `__consumer_offsets` partition, a transactional id's the leader of its
//! `__transaction_state` partition, a share-partition's (key `group:topicId:partition`,
//! v6) the leader of its `__share_group_state` partition; the first lookup creates the
//! topic, as in Kafka.

use weir_meta::MetadataImage;
use weir_protocol::error::ErrorCode;
use weir_protocol::messages::find_coordinator_response::Coordinator;
use weir_protocol::messages::{FindCoordinatorRequest, FindCoordinatorResponse};

use weir_auth::acl::{Operation, ResourceType};

use crate::groups::OFFSETS_TOPIC;
use crate::handlers::context::RequestContext;
use crate::shares::store::SHARE_STATE_TOPIC;
use crate::txns::TXN_TOPIC;

const GROUP: i8 = 0;
const TRANSACTION: i8 = 1;
const SHARE: i8 = 2;

pub(crate) async fn handle(
    ctx: RequestContext,
    req: FindCoordinatorRequest,
) -> FindCoordinatorResponse {
    let state = &ctx.state;
    let keys: Vec<String> = if ctx.version >= 4 {
        req.coordinator_keys.clone()
    } else {
        vec![req.key.clone()]
    };
    if req.key_type == GROUP && keys.len() == 1 {
        state.metrics.learn_group(&ctx.client_id, &keys[0]);
    }
    let ready = match req.key_type {
        GROUP => state.groups.ensure_topic().await,
        TRANSACTION => state.txns.ensure_topic().await,
        SHARE if ctx.version >= 6 => state.share_store.ensure_topic().await,
        _ => Err(ErrorCode::InvalidRequest),
    };
    let image = state.image();
    let answer = |key: String| {
        // DESCRIBE on the group or the transactional id, as Kafka checks.
        let (resource, denied) = match req.key_type {
            GROUP => (ResourceType::Group, ErrorCode::GroupAuthorizationFailed),
            _ => (
                ResourceType::TransactionalId,
                ErrorCode::TransactionalIdAuthorizationFailed,
            ),
        };
        let ready = match ready {
            // Share coordinators are for brokers: CLUSTER_ACTION, as Kafka checks.
            Ok(()) if req.key_type == SHARE => {
                if ctx.allowed_cluster(Operation::ClusterAction) {
                    Ok(())
                } else {
                    Err(ErrorCode::ClusterAuthorizationFailed)
                }
            }
            Ok(()) if !ctx.allowed(Operation::Describe, resource, &key) => Err(denied),
            other => other,
        };
        let found = ready.and_then(|()| match req.key_type {
            GROUP => leader_of(
                &image,
                OFFSETS_TOPIC,
                state.groups.partition_for(&key),
                &ctx.listener,
            ),
            SHARE => state
                .share_store
                .partition_for_key(&key)
                .ok_or(ErrorCode::InvalidRequest)
                .and_then(|p| leader_of(&image, SHARE_STATE_TOPIC, p, &ctx.listener)),
            _ => leader_of(
                &image,
                TXN_TOPIC,
                state.txns.partition_for(&key),
                &ctx.listener,
            ),
        });
        match found {
            Ok((node_id, host, port)) => Coordinator {
                key,
                node_id,
                host,
                port,
                ..Default::default()
            },
            Err(code) => Coordinator {
                key,
                node_id: -1,
                host: String::new(),
                port: -1,
                error_code: code.code(),
                error_message: Some(code.message().into()),
                ..Default::default()
            },
        }
    };
    if ctx.version >= 4 {
        return FindCoordinatorResponse {
            coordinators: keys.into_iter().map(answer).collect(),
            ..Default::default()
        };
    }
    let c = answer(req.key.clone());
    FindCoordinatorResponse {
        error_code: c.error_code,
        error_message: c.error_message,
        node_id: c.node_id,
        host: c.host,
        port: c.port,
        ..Default::default()
    }
}

/// The live leader of partition `index` of `topic`: node id, and host and port on the
/// listener `listener`.
fn leader_of(
    image: &MetadataImage,
    topic: &str,
    index: i32,
    listener: &str,
) -> Result<(i32, String, i32), ErrorCode> {
    let leader = image
        .topic(topic)
        .and_then(|t| t.partitions.get(&index))
        .map_or(-1, |p| p.leader);
    match image.brokers.get(&leader) {
        Some(b) if !b.fenced => match b.endpoint(listener) {
            Some((host, port)) => Ok((b.node_id, host.to_string(), port)),
            None => Err(ErrorCode::ListenerNotFound),
        },
        _ => Err(ErrorCode::CoordinatorNotAvailable),
    }
}
