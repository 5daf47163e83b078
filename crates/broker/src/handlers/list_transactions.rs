//! ListTransactions: transactional ids, filtered by state, producer id and (v1) how long
//! their transaction has been open; unknown state names come back as such.

use weir_coordinator::txn::TxnState;
use weir_protocol::error::ErrorCode;
use weir_protocol::messages::list_transactions_response::TransactionState;
use weir_protocol::messages::{ListTransactionsRequest, ListTransactionsResponse};

use crate::handlers::context::RequestContext;
use crate::host::now_ms;

/// Every state a transaction can be listed in.
const STATES: [TxnState; 8] = [
    TxnState::Empty,
    TxnState::Ongoing,
    TxnState::PrepareCommit,
    TxnState::PrepareAbort,
    TxnState::CompleteCommit,
    TxnState::CompleteAbort,
    TxnState::Dead,
    TxnState::PrepareEpochFence,
];

pub(crate) async fn handle(
    ctx: RequestContext,
    req: ListTransactionsRequest,
) -> ListTransactionsResponse {
    let unknown_state_filters: Vec<String> = req
        .state_filters
        .iter()
        .filter(|f| !STATES.iter().any(|s| s.name() == f.as_str()))
        .cloned()
        .collect();
    let all = match ctx.state.txns.list() {
        Ok(all) => all,
        Err(e) => {
            return ListTransactionsResponse {
                error_code: e.code(),
                unknown_state_filters,
                ..Default::default()
            }
        }
    };
    let now = now_ms();
    let transaction_states = all
        .into_iter()
        .filter(|m| {
            req.state_filters.is_empty() || req.state_filters.iter().any(|f| f == m.state.name())
        })
        .filter(|m| {
            req.producer_id_filters.is_empty() || req.producer_id_filters.contains(&m.producer_id)
        })
        .filter(|m| {
            req.duration_filter < 0 || (m.start_ms >= 0 && now - m.start_ms >= req.duration_filter)
        })
        .filter(|m| {
            ctx.allowed(
                weir_auth::acl::Operation::Describe,
                weir_auth::acl::ResourceType::TransactionalId,
                &m.transactional_id,
            )
        })
        .map(|m| TransactionState {
            transactional_id: m.transactional_id,
            producer_id: m.producer_id,
            transaction_state: m.state.name().to_string(),
            ..Default::default()
        })
        .collect();
    ListTransactionsResponse {
        error_code: ErrorCode::None.code(),
        unknown_state_filters,
        transaction_states,
        ..Default::default()
    }
}
