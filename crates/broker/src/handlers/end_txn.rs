//! EndTxn: commits or aborts the producer's open transaction. The answer comes once
//! PrepareCommit or PrepareAbort is durable; the markers follow in the background. v5 is
//! transaction version 2: the epoch is bumped and the answer carries the producer id and
//! epoch to go on with.

use weir_protocol::error::ErrorCode;
use weir_protocol::messages::{EndTxnRequest, EndTxnResponse};

use weir_auth::acl::{Operation, ResourceType};

use crate::handlers::context::{Reply, RequestContext};
use crate::handlers::fenced_for;

pub(crate) async fn handle(ctx: RequestContext, req: EndTxnRequest) -> Reply<EndTxnResponse> {
    let state = ctx.state.clone();
    let version = ctx.version;
    if !ctx.allowed(
        Operation::Write,
        ResourceType::TransactionalId,
        &req.transactional_id,
    ) {
        return Reply::Now(EndTxnResponse {
            error_code: ErrorCode::TransactionalIdAuthorizationFailed.code(),
            producer_id: -1,
            producer_epoch: -1,
            ..Default::default()
        });
    }
    Reply::Later(Box::pin(async move {
        let result = state
            .txns
            .end_txn(
                &req.transactional_id,
                req.producer_id,
                req.producer_epoch,
                req.committed,
                version >= 5,
            )
            .await;
        let (error, (producer_id, producer_epoch)) = match result {
            Ok(next) => (ErrorCode::None, next.unwrap_or((-1, -1))),
            Err(e) => (fenced_for(e, version, 2), (-1, -1)),
        };
        EndTxnResponse {
            error_code: error.code(),
            producer_id,
            producer_epoch,
            ..Default::default()
        }
    }))
}
