//! DescribeTransactions: the state, producer, timeout and partitions of transactional ids.

use std::collections::BTreeMap;

use weir_protocol::messages::describe_transactions_response::{TopicData, TransactionState};
use weir_protocol::messages::{DescribeTransactionsRequest, DescribeTransactionsResponse};

use crate::handlers::context::RequestContext;

pub(crate) async fn handle(
    ctx: RequestContext,
    req: DescribeTransactionsRequest,
) -> DescribeTransactionsResponse {
    let transaction_states = req
        .transactional_ids
        .into_iter()
        .map(|id| {
            match ctx.state.txns.describe(&id).and_then(|m| {
                let allowed = ctx.allowed(
                    weir_auth::acl::Operation::Describe,
                    weir_auth::acl::ResourceType::TransactionalId,
                    &id,
                );
                match allowed {
                    true => Ok(m),
                    false => {
                        Err(weir_protocol::error::ErrorCode::TransactionalIdAuthorizationFailed)
                    }
                }
            }) {
                Ok(m) => {
                    let mut topics: BTreeMap<String, Vec<i32>> = BTreeMap::new();
                    for (t, p) in &m.partitions {
                        topics.entry(t.clone()).or_default().push(*p);
                    }
                    TransactionState {
                        transactional_id: id,
                        transaction_state: m.state.name().to_string(),
                        transaction_timeout_ms: m.timeout_ms,
                        transaction_start_time_ms: m.start_ms,
                        producer_id: m.producer_id,
                        producer_epoch: m.producer_epoch,
                        topics: topics
                            .into_iter()
                            .map(|(topic, partitions)| TopicData {
                                topic,
                                partitions,
                                ..Default::default()
                            })
                            .collect(),
                        ..Default::default()
                    }
                }
                Err(e) => TransactionState {
                    error_code: e.code(),
                    transactional_id: id,
                    transaction_state: String::new(),
                    transaction_start_time_ms: -1,
                    producer_id: -1,
                    producer_epoch: -1,
                    ..Default::default()
                },
            }
        })
        .collect();
    DescribeTransactionsResponse {
        transaction_states,
        ..Default::default()
    }
}
