//! FindCoordinator (single keys before v4, batched keys from v4): on a cluster of one, every
//! group's and transactional id's coordinator is this node; the first lookup creates
//! `__consumer_offsets` or `__transaction_state`, as in Kafka.

use weir_protocol::error::ErrorCode;
use weir_protocol::messages::find_coordinator_response::Coordinator;
use weir_protocol::messages::{FindCoordinatorRequest, FindCoordinatorResponse};

use crate::dispatch::RequestContext;

const GROUP: i8 = 0;
const TRANSACTION: i8 = 1;

pub(crate) async fn handle(
    ctx: RequestContext,
    req: FindCoordinatorRequest,
) -> FindCoordinatorResponse {
    let (host, port) = ctx.state.advertised.clone();
    let keys: Vec<&String> = if ctx.version >= 4 {
        req.coordinator_keys.iter().collect()
    } else {
        vec![&req.key]
    };
    let ready = match (keys.first(), req.key_type) {
        (Some(k), GROUP) => ctx.state.groups.shard(&ctx.state, k).await.is_ok(),
        (Some(_), TRANSACTION) => ctx.state.txns.ensure_topic(&ctx.state).await.is_ok(),
        _ => false,
    };
    let node = ctx.state.config.node_id;
    let answer = |key: String| {
        if ready {
            Coordinator {
                key,
                node_id: node,
                host: host.clone(),
                port,
                ..Default::default()
            }
        } else {
            Coordinator {
                key,
                node_id: -1,
                host: String::new(),
                port: -1,
                error_code: ErrorCode::CoordinatorNotAvailable.code(),
                error_message: Some("The coordinator is not available.".into()),
                ..Default::default()
            }
        }
    };
    if ctx.version >= 4 {
        return FindCoordinatorResponse {
            coordinators: req.coordinator_keys.iter().cloned().map(answer).collect(),
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
