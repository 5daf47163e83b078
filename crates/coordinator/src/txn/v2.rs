//! Transaction version 2 (KIP-890 part 2), after Kafka's `TransactionCoordinator`: every
//! EndTxn bumps the producer epoch (the markers carry the new one, so a late batch of the
//! ended transaction is fenced), the producer continues with the epoch EndTxn returns, a
//! producer id whose epoch runs out is replaced when the transaction completes, and
//! partitions join the transaction through the brokers that lead them.

use super::state::{epoch_exhausted, TxnState};
use super::{EndOutcome, TxnCoordinator, TxnRecord};
use weir_protocol::error::ErrorCode;

/// The transaction version these calls record.
const VERSION: i16 = 2;

impl TxnCoordinator {
    /// AddPartitionsToTxn from a partition leader (a Produce v12 or TxnOffsetCommit v5):
    /// as [`TxnCoordinator::add_partitions`], the producer marked as speaking version 2.
    pub fn add_partitions_v2(
        &mut self,
        transactional_id: &str,
        producer_id: i64,
        producer_epoch: i16,
        partitions: &[(String, i32)],
        now: i64,
    ) -> Result<Option<TxnRecord>, ErrorCode> {
        let record = self.add_partitions(
            transactional_id,
            producer_id,
            producer_epoch,
            partitions,
            now,
        )?;
        let Some(m) = self.txns.get_mut(transactional_id) else {
            return Ok(record);
        };
        if m.client_version == VERSION {
            return Ok(record);
        }
        m.client_version = VERSION;
        Ok(Some(Self::record(m)))
    }

    /// EndTxn v5: the outcome, and the producer id and epoch the producer goes on with.
    /// `fresh_producer_id` is a never-used id, taken if the epoch runs out (-1: none
    /// reserved; the producer is then asked to retry).
    pub fn end_txn_v2(
        &mut self,
        transactional_id: &str,
        producer_id: i64,
        producer_epoch: i16,
        commit: bool,
        fresh_producer_id: i64,
        now: i64,
    ) -> Result<(EndOutcome, i64, i16), ErrorCode> {
        let m = self
            .txns
            .get_mut(transactional_id)
            .filter(|m| m.state != TxnState::Dead)
            .ok_or(ErrorCode::InvalidProducerIdMapping)?;
        // A retry of an EndTxn whose answer was lost: its epoch is the one before the bump,
        // or, after the producer id was replaced, the last epoch of the previous id.
        let retry_on_overflow = m.previous_producer_id == producer_id
            && producer_epoch == i16::MAX - 1
            && m.producer_epoch == 0;
        if producer_id != m.producer_id && !retry_on_overflow {
            return Err(ErrorCode::InvalidProducerIdMapping);
        }
        let retry_on_bump = i32::from(m.producer_epoch) == i32::from(producer_epoch) + 1;
        let current = producer_epoch == m.producer_epoch && producer_id == m.producer_id;
        let retry = retry_on_bump || retry_on_overflow;
        let valid = match m.state {
            TxnState::Ongoing | TxnState::Empty => current,
            TxnState::PrepareCommit | TxnState::PrepareAbort => retry_on_bump,
            TxnState::CompleteCommit | TxnState::CompleteAbort => retry || current,
            TxnState::Dead | TxnState::PrepareEpochFence => false,
        };
        if !valid {
            return Err(ErrorCode::ProducerFenced);
        }
        match (m.state, commit) {
            (TxnState::PrepareCommit, true) | (TxnState::PrepareAbort, false) => {
                Err(ErrorCode::ConcurrentTransactions)
            }
            (TxnState::CompleteCommit, true) | (TxnState::CompleteAbort, false) if retry => {
                Ok((EndOutcome::AlreadyDone, m.producer_id, m.producer_epoch))
            }
            // An open transaction ends; an abort with nothing open (an empty transaction, or
            // one the producer gave up on) still bumps the epoch.
            (TxnState::Ongoing, _)
            | (TxnState::Empty | TxnState::CompleteCommit | TxnState::CompleteAbort, false)
                if current =>
            {
                if m.state != TxnState::Ongoing {
                    m.partitions.clear();
                    m.start_ms = now;
                }
                m.client_version = VERSION;
                if epoch_exhausted(m.producer_epoch) && fresh_producer_id < 0 {
                    // The caller did not expect the epoch to run out: ask again.
                    return Err(ErrorCode::ConcurrentTransactions);
                }
                if epoch_exhausted(m.producer_epoch) {
                    // The markers take the last epoch; the next id starts at 0.
                    m.next_producer_id = fresh_producer_id;
                }
                m.last_producer_epoch = m.producer_epoch;
                m.producer_epoch = m.producer_epoch.saturating_add(1);
                let markers = m.prepare_end(commit, now);
                let next = if m.next_producer_id >= 0 {
                    (m.next_producer_id, 0)
                } else {
                    (m.producer_id, m.producer_epoch)
                };
                Ok((
                    EndOutcome::Prepared {
                        record: Self::record(m),
                        markers,
                    },
                    next.0,
                    next.1,
                ))
            }
            _ => Err(ErrorCode::InvalidTxnState),
        }
    }
}
