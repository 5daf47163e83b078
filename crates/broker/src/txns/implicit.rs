//! Transaction version 2 (KIP-890 part 2): a partition joins its producer's transaction
//! when a Produce (v12+) or TxnOffsetCommit (v5+) first writes to it, not by an
//! AddPartitionsToTxn from the producer. The leader asks the transaction coordinator: this
//! broker's own, or another broker's through AddPartitionsToTxn v5 (the batched, broker
//! form, with `VerifyOnly` false).

use std::sync::Arc;

use tracing::debug;
use weir_protocol::error::ErrorCode;
use weir_protocol::messages::add_partitions_to_txn_request::{
    AddPartitionsToTxnTopic, AddPartitionsToTxnTransaction,
};
use weir_protocol::messages::AddPartitionsToTxnRequest;

use super::markers::{where_is, Place};
use super::{Txns, TXN_TOPIC};

/// The AddPartitionsToTxn version brokers send each other.
const BROKER_VERSION: i16 = 5;

impl Txns {
    /// Adds `partitions` to the open (or a new) transaction of the producer, wherever its
    /// coordinator is; the error is the coordinator's.
    pub(crate) async fn add_implicitly(
        self: &Arc<Self>,
        transactional_id: &str,
        producer_id: i64,
        producer_epoch: i16,
        partitions: &[(String, i32)],
    ) -> Result<(), ErrorCode> {
        let index = self.partition_for(transactional_id);
        let host = self.host().clone();
        match where_is(&host, TXN_TOPIC, index) {
            Place::Here => {
                self.add_partitions(
                    transactional_id,
                    producer_id,
                    producer_epoch,
                    partitions,
                    true,
                )
                .await
            }
            Place::Broker(node, addr) => {
                let mut topics: Vec<AddPartitionsToTxnTopic> = Vec::new();
                for (topic, p) in partitions {
                    match topics.iter_mut().find(|t| &t.name == topic) {
                        Some(t) => t.partitions.push(*p),
                        None => topics.push(AddPartitionsToTxnTopic {
                            name: topic.clone(),
                            partitions: vec![*p],
                            ..Default::default()
                        }),
                    }
                }
                let req = AddPartitionsToTxnRequest {
                    transactions: vec![AddPartitionsToTxnTransaction {
                        transactional_id: transactional_id.to_string(),
                        producer_id,
                        producer_epoch,
                        verify_only: false,
                        topics,
                        ..Default::default()
                    }],
                    ..Default::default()
                };
                let resp = host
                    .peers
                    .send_at(node, &addr, &req, BROKER_VERSION)
                    .await
                    .map_err(|e| {
                        debug!(node, error = %e, "AddPartitionsToTxn to the coordinator failed");
                        ErrorCode::NotCoordinator
                    })?;
                let code = std::iter::once(resp.error_code)
                    .chain(
                        resp.results_by_transaction
                            .iter()
                            .flat_map(|t| &t.topic_results)
                            .flat_map(|t| &t.results_by_partition)
                            .map(|p| p.partition_error_code),
                    )
                    .find(|&c| c != 0)
                    .unwrap_or(0);
                match ErrorCode::from_code(code) {
                    ErrorCode::None => Ok(()),
                    e => Err(e),
                }
            }
            // __transaction_state is missing (the producer initialised elsewhere, so it will
            // come) or has no leader now: the producer retries.
            Place::NoLeader | Place::Gone => Err(ErrorCode::NotCoordinator),
        }
    }
}
