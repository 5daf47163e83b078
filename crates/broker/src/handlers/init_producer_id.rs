//! InitProducerId for idempotent producers: a producer id never handed out before, epoch 0.
//! Transactional ids need the transaction coordinator, which this broker does not run yet.

use tracing::warn;
use weir_protocol::error::ErrorCode;
use weir_protocol::messages::{InitProducerIdRequest, InitProducerIdResponse};

use crate::dispatch::RequestContext;

pub(crate) async fn handle(
    ctx: RequestContext,
    req: InitProducerIdRequest,
) -> InitProducerIdResponse {
    let mut resp = InitProducerIdResponse {
        producer_id: -1,
        producer_epoch: -1,
        ..Default::default()
    };
    if req
        .transactional_id
        .as_deref()
        .is_some_and(|t| !t.is_empty())
    {
        resp.error_code = ErrorCode::CoordinatorNotAvailable.code();
        return resp;
    }
    match ctx.state.next_producer_id().await {
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
