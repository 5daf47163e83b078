//! InitProducerId: without a transactional id, a producer id never handed out before at
//! epoch 0 (idempotence); with one, the transaction coordinator's id and bumped epoch,
//! fencing earlier producers of that id.

use tracing::warn;
use weir_protocol::error::ErrorCode;
use weir_protocol::messages::{InitProducerIdRequest, InitProducerIdResponse};

use weir_auth::acl::{Operation, ResourceType};

use crate::handlers::context::RequestContext;
use crate::handlers::fenced_for;

pub(crate) async fn handle(
    ctx: RequestContext,
    req: InitProducerIdRequest,
) -> InitProducerIdResponse {
    let mut resp = InitProducerIdResponse {
        producer_id: -1,
        producer_epoch: -1,
        ..Default::default()
    };
    let state = &ctx.state;
    if let Some(txn_id) = req.transactional_id.as_deref().filter(|t| !t.is_empty()) {
        if !ctx.allowed(Operation::Write, ResourceType::TransactionalId, txn_id) {
            resp.error_code = ErrorCode::TransactionalIdAuthorizationFailed.code();
            return resp;
        }
        let expected = (req.producer_id >= 0).then_some((req.producer_id, req.producer_epoch));
        match state
            .txns
            .init_producer_id(txn_id, req.transaction_timeout_ms, expected)
            .await
        {
            Ok((id, epoch)) => {
                resp.producer_id = id;
                resp.producer_epoch = epoch;
            }
            Err(e) => resp.error_code = fenced_for(e, ctx.version, 4).code(),
        }
        return resp;
    }
    // An idempotent producer needs IDEMPOTENT_WRITE on the cluster or WRITE on some topic.
    if !ctx.allowed_cluster(Operation::IdempotentWrite)
        && !ctx.allowed_any(Operation::Write, ResourceType::Topic)
    {
        resp.error_code = ErrorCode::ClusterAuthorizationFailed.code();
        return resp;
    }
    match state.next_producer_id().await {
        Ok(id) => {
            resp.producer_id = id;
            resp.producer_epoch = 0;
        }
        Err(e) => {
            warn!(error = %e, "could not allocate a producer id");
            resp.error_code = ErrorCode::UnknownServerError.code();
        }
    }
    resp
}
