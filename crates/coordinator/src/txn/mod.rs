//! The transaction coordinator of one `__transaction_state` partition as a pure state
//! machine, after Kafka's `TransactionCoordinator`: transaction version 1 (the client adds
//! partitions, one epoch per producer session) and, in `v2`, version 2.
//!
//! - `state`: [`TxnState`], [`TxnMetadata`] and [`TxnConfig`].
//! - `records`: [`TxnRecord`]s to and from `__transaction_state` bytes, in Kafka's format.
//! - `v2`: transaction version 2 (KIP-890 part 2): an epoch bump per transaction.
//!
//! Every call validates, changes the in-memory metadata at once and returns the
//! [`TxnRecord`] to append; the broker answers once it is written (and, if the write fails,
//! reloads the partition, since memory is then ahead of the log). Ending a transaction also
//! returns a [`MarkerJob`]: the broker writes a commit or abort marker to every partition of
//! the transaction, then calls [`TxnCoordinator::complete`], whose record finishes it.

mod records;
mod state;
mod v2;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use weir_protocol::error::ErrorCode;

pub use records::{decode, encode, TxnRecordError};
pub use state::{TxnConfig, TxnMetadata, TxnState, NO_PRODUCER_EPOCH};

/// A record of the `__transaction_state` log: a transactional id's metadata, or its removal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxnRecord {
    /// The transactional id (the record key).
    pub transactional_id: String,
    /// Its metadata; `None` is a tombstone.
    pub value: Option<TxnMetadata>,
}

/// Markers to write to end a transaction on each of its partitions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MarkerJob {
    /// The transactional id.
    pub transactional_id: String,
    /// The producer the markers are for.
    pub producer_id: i64,
    /// Its epoch (bumped when the coordinator aborts on its own).
    pub producer_epoch: i16,
    /// Commit (else abort).
    pub commit: bool,
    /// The partitions of the transaction.
    pub partitions: Vec<(String, i32)>,
}

/// What InitProducerId did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InitOutcome {
    /// The producer id and epoch to hand out, and the record that made them so.
    Ready {
        /// The producer id.
        producer_id: i64,
        /// The epoch.
        producer_epoch: i16,
        /// The record to append before answering.
        record: TxnRecord,
    },
    /// An open transaction was fenced and is being aborted: answer
    /// CONCURRENT_TRANSACTIONS once the record is written (the client retries).
    Aborting {
        /// The record to append.
        record: TxnRecord,
        /// The markers that end the fenced transaction.
        markers: MarkerJob,
    },
}

/// What EndTxn did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EndOutcome {
    /// The transaction moved to PrepareCommit or PrepareAbort: append the record, answer,
    /// then write the markers.
    Prepared {
        /// The record to append.
        record: TxnRecord,
        /// The markers to write once it is.
        markers: MarkerJob,
    },
    /// A retry of an EndTxn that already completed: answer NONE, nothing to write.
    AlreadyDone,
}

/// The transactions of one `__transaction_state` partition.
#[derive(Debug, Clone, Default)]
pub struct TxnCoordinator {
    config: TxnConfig,
    txns: BTreeMap<String, TxnMetadata>,
}

impl TxnCoordinator {
    /// A coordinator with no transactional ids.
    pub fn new(config: TxnConfig) -> Self {
        Self {
            config,
            txns: BTreeMap::new(),
        }
    }

    /// A transactional id's metadata.
    pub fn get(&self, transactional_id: &str) -> Option<&TxnMetadata> {
        self.txns.get(transactional_id)
    }

    /// Every transactional id's metadata.
    pub fn all(&self) -> impl Iterator<Item = &TxnMetadata> {
        self.txns.values()
    }

    fn record(m: &TxnMetadata) -> TxnRecord {
        TxnRecord {
            transactional_id: m.transactional_id.clone(),
            value: Some(m.clone()),
        }
    }

    /// InitProducerId with a transactional id. `fresh_producer_id` is a never-used id the
    /// broker reserved, taken for a new transactional id or when an epoch runs out;
    /// `expected` is the producer id and epoch of a producer resuming (KIP-360).
    pub fn init_producer_id(
        &mut self,
        transactional_id: &str,
        timeout_ms: i32,
        expected: Option<(i64, i16)>,
        fresh_producer_id: i64,
        now: i64,
    ) -> Result<InitOutcome, ErrorCode> {
        if transactional_id.is_empty() {
            return Err(ErrorCode::InvalidRequest);
        }
        if timeout_ms <= 0 || timeout_ms > self.config.max_timeout_ms {
            return Err(ErrorCode::InvalidTransactionTimeout);
        }
        let m = self
            .txns
            .entry(transactional_id.to_string())
            .or_insert_with(|| {
                TxnMetadata::new(transactional_id, fresh_producer_id, timeout_ms, now)
            });
        if let Some((pid, epoch)) = expected {
            // Kafka's isValidProducerId: a brand-new id, the current producer, or a retry
            // after a producer id rotation the producer never heard of.
            let valid = m.producer_epoch == NO_PRODUCER_EPOCH
                || pid == m.producer_id
                || (pid == m.previous_producer_id && state::epoch_exhausted(epoch));
            if !valid {
                return Err(ErrorCode::ProducerFenced);
            }
        }
        match m.state {
            TxnState::PrepareCommit | TxnState::PrepareAbort => {
                Err(ErrorCode::ConcurrentTransactions)
            }
            TxnState::Ongoing => {
                // Fence the producer and abort its transaction; the client retries and its
                // retry bumps the epoch again (that is the one it gets).
                m.producer_epoch = m.producer_epoch.saturating_add(1);
                m.last_producer_epoch = NO_PRODUCER_EPOCH;
                let markers = m.prepare_end(false, now);
                Ok(InitOutcome::Aborting {
                    record: Self::record(m),
                    markers,
                })
            }
            TxnState::Empty
            | TxnState::CompleteCommit
            | TxnState::CompleteAbort
            | TxnState::Dead
            | TxnState::PrepareEpochFence => {
                let expected_epoch = expected.map(|(_, e)| e);
                if m.epoch_exhausted()
                    && (expected_epoch.is_none() || expected_epoch == Some(m.producer_epoch))
                {
                    m.previous_producer_id = m.producer_id;
                    m.producer_id = fresh_producer_id;
                    m.producer_epoch = 0;
                    m.last_producer_epoch = NO_PRODUCER_EPOCH;
                } else {
                    let (next, last) = match expected_epoch {
                        None => (m.producer_epoch + 1, NO_PRODUCER_EPOCH),
                        Some(e)
                            if m.producer_epoch == NO_PRODUCER_EPOCH || e == m.producer_epoch =>
                        {
                            (m.producer_epoch + 1, m.producer_epoch)
                        }
                        // A retry of a bump whose answer was lost.
                        Some(e) if e == m.last_producer_epoch => {
                            (m.producer_epoch, m.last_producer_epoch)
                        }
                        Some(_) => return Err(ErrorCode::ProducerFenced),
                    };
                    m.producer_epoch = next;
                    m.last_producer_epoch = last;
                }
                m.state = TxnState::Empty;
                m.timeout_ms = timeout_ms;
                m.partitions.clear();
                m.start_ms = -1;
                m.last_update_ms = now;
                Ok(InitOutcome::Ready {
                    producer_id: m.producer_id,
                    producer_epoch: m.producer_epoch,
                    record: Self::record(m),
                })
            }
        }
    }

    /// The metadata of a transactional id a producer addresses with its id and epoch.
    fn producer_txn(
        &mut self,
        transactional_id: &str,
        producer_id: i64,
        producer_epoch: i16,
    ) -> Result<&mut TxnMetadata, ErrorCode> {
        let m = self
            .txns
            .get_mut(transactional_id)
            .filter(|m| m.state != TxnState::Dead)
            .ok_or(ErrorCode::InvalidProducerIdMapping)?;
        if m.producer_id != producer_id {
            return Err(ErrorCode::InvalidProducerIdMapping);
        }
        if m.producer_epoch != producer_epoch {
            return Err(ErrorCode::ProducerFenced);
        }
        Ok(m)
    }

    /// AddPartitionsToTxn (and AddOffsetsToTxn, with the group's `__consumer_offsets`
    /// partition): `None` if every partition is already in the open transaction.
    pub fn add_partitions(
        &mut self,
        transactional_id: &str,
        producer_id: i64,
        producer_epoch: i16,
        partitions: &[(String, i32)],
        now: i64,
    ) -> Result<Option<TxnRecord>, ErrorCode> {
        let m = self.producer_txn(transactional_id, producer_id, producer_epoch)?;
        match m.state {
            TxnState::PrepareCommit | TxnState::PrepareAbort => {
                return Err(ErrorCode::ConcurrentTransactions)
            }
            TxnState::Ongoing if partitions.iter().all(|p| m.partitions.contains(p)) => {
                return Ok(None)
            }
            TxnState::Ongoing => {}
            _ => m.start_ms = now,
        }
        m.state = TxnState::Ongoing;
        m.partitions.extend(partitions.iter().cloned());
        m.last_update_ms = now;
        Ok(Some(Self::record(m)))
    }

    /// Whether `partition` is in the open transaction of this producer (KIP-890's check
    /// before a partition accepts the transaction's first batch).
    pub fn verify(
        &self,
        transactional_id: &str,
        producer_id: i64,
        producer_epoch: i16,
        partition: &(String, i32),
    ) -> Result<(), ErrorCode> {
        let m = self
            .txns
            .get(transactional_id)
            .ok_or(ErrorCode::InvalidProducerIdMapping)?;
        if m.producer_id != producer_id {
            return Err(ErrorCode::InvalidProducerIdMapping);
        }
        if m.producer_epoch != producer_epoch {
            return Err(ErrorCode::InvalidProducerEpoch);
        }
        if m.state == TxnState::Ongoing && m.partitions.contains(partition) {
            Ok(())
        } else {
            Err(ErrorCode::InvalidTxnState)
        }
    }

    /// EndTxn from the producer.
    pub fn end_txn(
        &mut self,
        transactional_id: &str,
        producer_id: i64,
        producer_epoch: i16,
        commit: bool,
        now: i64,
    ) -> Result<EndOutcome, ErrorCode> {
        let m = self.producer_txn(transactional_id, producer_id, producer_epoch)?;
        match (m.state, commit) {
            (TxnState::Ongoing, _) => {
                let markers = m.prepare_end(commit, now);
                Ok(EndOutcome::Prepared {
                    record: Self::record(m),
                    markers,
                })
            }
            (TxnState::CompleteCommit, true) | (TxnState::CompleteAbort, false) => {
                Ok(EndOutcome::AlreadyDone)
            }
            (TxnState::PrepareCommit, true) | (TxnState::PrepareAbort, false) => {
                Err(ErrorCode::ConcurrentTransactions)
            }
            _ => Err(ErrorCode::InvalidTxnState),
        }
    }

    /// Every marker of `job` is written: the transaction completes (CompleteCommit or
    /// CompleteAbort). `None` if the transactional id moved on meanwhile.
    pub fn complete(&mut self, job: &MarkerJob, now: i64) -> Option<TxnRecord> {
        let m = self.txns.get_mut(&job.transactional_id)?;
        let expected = if job.commit {
            TxnState::PrepareCommit
        } else {
            TxnState::PrepareAbort
        };
        if m.state != expected
            || m.producer_id != job.producer_id
            || m.producer_epoch != job.producer_epoch
        {
            return None;
        }
        m.state = if job.commit {
            TxnState::CompleteCommit
        } else {
            TxnState::CompleteAbort
        };
        if m.next_producer_id >= 0 {
            // Transaction version 2 ran out of epochs: the next transaction has a new id.
            m.previous_producer_id = m.producer_id;
            m.producer_id = m.next_producer_id;
            m.producer_epoch = 0;
            m.next_producer_id = -1;
        }
        m.partitions.clear();
        m.last_update_ms = now;
        Some(Self::record(m))
    }

    /// Aborts every open transaction older than its timeout, fencing its producer (the
    /// epoch is bumped, so the producer's later requests are refused).
    pub fn abort_timed_out(&mut self, now: i64) -> Vec<(TxnRecord, MarkerJob)> {
        let mut out = Vec::new();
        for m in self.txns.values_mut() {
            let expired = m.state == TxnState::Ongoing
                && m.start_ms.saturating_add(i64::from(m.timeout_ms)) < now;
            if !expired {
                continue;
            }
            if !m.epoch_exhausted() {
                m.producer_epoch += 1;
                m.last_producer_epoch = NO_PRODUCER_EPOCH;
            }
            let markers = m.prepare_end(false, now);
            out.push((Self::record(m), markers));
        }
        out
    }

    /// Removes transactional ids idle for `transactional.id.expiration.ms` with no
    /// transaction in flight; returns their tombstones.
    pub fn expire_ids(&mut self, now: i64) -> Vec<TxnRecord> {
        let limit = self.config.id_expiration_ms;
        let expired: Vec<String> = self
            .txns
            .values()
            .filter(|m| {
                matches!(
                    m.state,
                    TxnState::Empty | TxnState::CompleteCommit | TxnState::CompleteAbort
                ) && m.last_update_ms.saturating_add(limit) <= now
            })
            .map(|m| m.transactional_id.clone())
            .collect();
        expired
            .into_iter()
            .map(|id| {
                self.txns.remove(&id);
                TxnRecord {
                    transactional_id: id,
                    value: None,
                }
            })
            .collect()
    }

    /// Applies a record read back while loading the partition (the last one per id wins).
    pub fn replay(&mut self, record: TxnRecord) {
        match record.value {
            Some(m) => {
                self.txns.insert(record.transactional_id, m);
            }
            None => {
                self.txns.remove(&record.transactional_id);
            }
        }
    }

    /// The marker jobs of transactions that were being ended when the partition was last
    /// written (to redo after loading it).
    pub fn pending_markers(&self) -> Vec<MarkerJob> {
        self.txns
            .values()
            .filter(|m| matches!(m.state, TxnState::PrepareCommit | TxnState::PrepareAbort))
            .map(TxnMetadata::marker_job)
            .collect()
    }
}
