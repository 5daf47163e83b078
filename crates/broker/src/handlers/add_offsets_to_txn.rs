//! AddOffsetsToTxn: adds the group's `__consumer_offsets` partition to the producer's open
//! transaction, so its TxnOffsetCommit and markers belong to it.

use weir_protocol::error::ErrorCode;
use weir_protocol::messages::{AddOffsetsToTxnRequest, AddOffsetsToTxnResponse};

use weir_auth::acl::{Operation, ResourceType};

use crate::groups::OFFSETS_TOPIC;
use crate::handlers::context::{Reply, RequestContext};
use crate::handlers::fenced_for;

pub(crate) async fn handle(
    ctx: RequestContext,
    req: AddOffsetsToTxnRequest,
) -> Reply<AddOffsetsToTxnResponse> {
    let state = ctx.state.clone();
    let version = ctx.version;
    let denied = if !ctx.allowed(
        Operation::Write,
        ResourceType::TransactionalId,
        &req.transactional_id,
    ) {
        Some(ErrorCode::TransactionalIdAuthorizationFailed)
    } else if !ctx.allowed(Operation::Read, ResourceType::Group, &req.group_id) {
        Some(ErrorCode::GroupAuthorizationFailed)
    } else {
        None
    };
    if let Some(code) = denied {
        return Reply::Now(AddOffsetsToTxnResponse {
            error_code: code.code(),
            ..Default::default()
        });
    }
    Reply::Later(Box::pin(async move {
        // __consumer_offsets must exist first; its group coordinator may be on another broker.
        let result = match state.groups.ensure_topic().await {
            Err(e) => Err(e),
            Ok(_) => {
                let partition = state.groups.partition_for(&req.group_id);
                state
                    .txns
                    .add_partitions(
                        &req.transactional_id,
                        req.producer_id,
                        req.producer_epoch,
                        &[(OFFSETS_TOPIC.to_string(), partition)],
                        false,
                    )
                    .await
            }
        };
        AddOffsetsToTxnResponse {
            error_code: result
                .err()
                .map_or(ErrorCode::None, |e| fenced_for(e, version, 2))
                .code(),
            ..Default::default()
        }
    }))
}
