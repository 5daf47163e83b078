//! Idempotent and transactional producers' state for one partition, after Kafka's
//! `ProducerStateManager`: per producer id, its epoch, the sequence and offset ranges of its
//! last five batches, its coordinator epoch and the first offset of its open transaction.
//!
//! - Each client batch is checked against it ([`ProducerState::check`]): a retried batch
//!   already stored is a duplicate (answered with its original offsets, not stored again), a
//!   gap in sequence numbers is OUT_OF_ORDER_SEQUENCE_NUMBER, a stale epoch is
//!   INVALID_PRODUCER_EPOCH, a plain write while a transaction is open is INVALID_TXN_STATE.
//! - A transaction marker ([`ProducerState::check_marker`]) is refused from an older
//!   coordinator epoch or for an older producer epoch.
//! - Open transactions bound the last stable offset; completed ones stay "undecided" until
//!   the high watermark passes their marker.
//!
//! The state is rebuilt from the batch headers of the log when it opens, starting from the
//! newest trusted snapshot (`snapshot`).

pub(crate) mod snapshot;

use std::collections::{BTreeMap, HashMap, VecDeque};

use weir_protocol::record::batch::BatchHeader;

/// How many batches per producer are remembered for duplicate detection (the producer's
/// `max.in.flight.requests.per.connection` may not exceed it).
pub const CACHED_BATCHES: usize = 5;

/// One stored batch of a producer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchMeta {
    /// Sequence of the batch's first record.
    pub first_seq: i32,
    /// Sequence of its last record.
    pub last_seq: i32,
    /// Offset of its first record.
    pub base_offset: i64,
    /// Offset of its last record.
    pub last_offset: i64,
    /// Its max timestamp.
    pub max_timestamp: i64,
}

/// What a producer id has written to the partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProducerEntry {
    /// The producer's current epoch.
    pub epoch: i16,
    /// Epoch of the transaction coordinator that last wrote a marker for it, or -1.
    pub coordinator_epoch: i32,
    /// First offset of its open transaction here, if one is open.
    pub txn_first_offset: Option<i64>,
    /// Max timestamp of its last batch or marker (for expiry).
    pub last_timestamp: i64,
    /// Its last batches, oldest first.
    pub batches: VecDeque<BatchMeta>,
}

impl Default for ProducerEntry {
    fn default() -> Self {
        Self {
            epoch: -1,
            coordinator_epoch: -1,
            txn_first_offset: None,
            last_timestamp: -1,
            batches: VecDeque::new(),
        }
    }
}

/// What to do with a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SequenceCheck {
    /// Append it.
    Append,
    /// It is already stored: answer with these offsets.
    Duplicate(BatchMeta),
}

/// A transaction a marker ended on this partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CompletedTxn {
    /// The producer.
    pub producer_id: i64,
    /// Offset of the transaction's first batch here.
    pub first_offset: i64,
    /// Offset of the marker.
    pub last_offset: i64,
    /// Whether the marker aborted it.
    pub aborted: bool,
}

/// Why a batch's producer fields were refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProducerError {
    /// The batch's epoch is older than the producer's.
    #[error("producer {producer_id}: epoch {epoch} is older than the current epoch {current}")]
    InvalidProducerEpoch {
        /// The producer.
        producer_id: i64,
        /// The batch's epoch.
        epoch: i16,
        /// The epoch the partition knows.
        current: i16,
    },
    /// The batch does not follow the producer's last sequence number.
    #[error(
        "producer {producer_id}: sequence {first_seq} does not follow {last_seq} (epoch {epoch})"
    )]
    OutOfOrderSequence {
        /// The producer.
        producer_id: i64,
        /// The batch's epoch.
        epoch: i16,
        /// The batch's first sequence.
        first_seq: i32,
        /// The last sequence the partition has, or -1.
        last_seq: i32,
    },
    /// A non-transactional batch while the producer has a transaction open here.
    #[error("producer {producer_id}: expected a transactional write, its transaction from offset {txn_first_offset} is open")]
    InvalidTxnState {
        /// The producer.
        producer_id: i64,
        /// Where its open transaction starts.
        txn_first_offset: i64,
    },
    /// A marker from a coordinator older than the last one that wrote for this producer.
    #[error(
        "producer {producer_id}: coordinator epoch {coordinator_epoch} is older than {current}"
    )]
    CoordinatorFenced {
        /// The producer.
        producer_id: i64,
        /// The marker's coordinator epoch.
        coordinator_epoch: i32,
        /// The coordinator epoch the partition knows.
        current: i32,
    },
}

/// The last sequence of a batch: sequences wrap from `i32::MAX` to 0.
pub fn last_sequence(h: &BatchHeader) -> i32 {
    let last = i64::from(h.base_sequence) + i64::from(h.last_offset_delta);
    if last > i64::from(i32::MAX) {
        (last - i64::from(i32::MAX) - 1) as i32
    } else {
        last as i32
    }
}

fn in_sequence(last_seq: i32, next_seq: i32) -> bool {
    next_seq == last_seq.wrapping_add(1) || (last_seq == i32::MAX && next_seq == 0)
}

/// The producers of one partition and their transactions.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProducerState {
    producers: HashMap<i64, ProducerEntry>,
    /// Open transactions: first offset -> producer id.
    ongoing: BTreeMap<i64, i64>,
    /// Transactions whose marker is stored but not yet below the high watermark, in marker
    /// order: they still hold the last stable offset back.
    undecided: VecDeque<CompletedTxn>,
}

impl ProducerState {
    /// No producers.
    pub fn new() -> Self {
        Self::default()
    }

    /// The entry of a producer, if it wrote here.
    pub fn get(&self, producer_id: i64) -> Option<&ProducerEntry> {
        self.producers.get(&producer_id)
    }

    /// How many producers are known.
    pub fn len(&self) -> usize {
        self.producers.len()
    }

    /// True if no producer is known.
    pub fn is_empty(&self) -> bool {
        self.producers.is_empty()
    }

    /// Every producer and its entry.
    pub fn entries(&self) -> impl Iterator<Item = (&i64, &ProducerEntry)> {
        self.producers.iter()
    }

    /// Open transactions as (first offset, producer id), oldest first.
    pub fn ongoing(&self) -> impl Iterator<Item = (i64, i64)> + '_ {
        self.ongoing.iter().map(|(&o, &p)| (o, p))
    }

    /// The first offset no consumer of committed data may read past yet: the start of the
    /// oldest open or undecided transaction, if any.
    pub fn first_undecided_offset(&self) -> Option<i64> {
        let ongoing = self.ongoing.keys().next().copied();
        let undecided = self.undecided.iter().map(|t| t.first_offset).min();
        match (ongoing, undecided) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Forgets undecided transactions whose marker is now below the high watermark.
    pub fn on_high_watermark(&mut self, hw: i64) {
        while self.undecided.front().is_some_and(|t| t.last_offset < hw) {
            self.undecided.pop_front();
        }
    }

    /// Checks a client's data batch: producer id, epoch, sequence and transaction state
    /// (Kafka's `ProducerAppendInfo`). Batches without a producer id are not checked.
    pub fn check(&self, h: &BatchHeader) -> Result<SequenceCheck, ProducerError> {
        if h.producer_id < 0 {
            return Ok(SequenceCheck::Append);
        }
        // A producer with no state here (new, or its batches all deleted) may start anywhere.
        let Some(e) = self.producers.get(&h.producer_id) else {
            return Ok(SequenceCheck::Append);
        };
        if h.producer_epoch < e.epoch {
            return Err(ProducerError::InvalidProducerEpoch {
                producer_id: h.producer_id,
                epoch: h.producer_epoch,
                current: e.epoch,
            });
        }
        if !h.is_transactional() {
            if let Some(first) = e.txn_first_offset {
                return Err(ProducerError::InvalidTxnState {
                    producer_id: h.producer_id,
                    txn_first_offset: first,
                });
            }
        }
        if h.base_sequence < 0 {
            return Ok(SequenceCheck::Append);
        }
        let out_of_order = |last_seq| ProducerError::OutOfOrderSequence {
            producer_id: h.producer_id,
            epoch: h.producer_epoch,
            first_seq: h.base_sequence,
            last_seq,
        };
        if h.producer_epoch > e.epoch {
            // A new epoch starts its sequences over.
            return if h.base_sequence == 0 || e.epoch < 0 {
                Ok(SequenceCheck::Append)
            } else {
                Err(out_of_order(-1))
            };
        }
        let last = last_sequence(h);
        if let Some(dup) = e
            .batches
            .iter()
            .find(|b| b.first_seq == h.base_sequence && b.last_seq == last)
        {
            return Ok(SequenceCheck::Duplicate(*dup));
        }
        match e.batches.back() {
            Some(b) if !in_sequence(b.last_seq, h.base_sequence) => Err(out_of_order(b.last_seq)),
            _ => Ok(SequenceCheck::Append),
        }
    }

    /// Checks a transaction marker a coordinator of `coordinator_epoch` writes for the
    /// batch's producer and epoch.
    pub fn check_marker(
        &self,
        h: &BatchHeader,
        coordinator_epoch: i32,
    ) -> Result<(), ProducerError> {
        let Some(e) = self.producers.get(&h.producer_id) else {
            return Ok(());
        };
        if h.producer_epoch < e.epoch {
            return Err(ProducerError::InvalidProducerEpoch {
                producer_id: h.producer_id,
                epoch: h.producer_epoch,
                current: e.epoch,
            });
        }
        if coordinator_epoch < e.coordinator_epoch {
            return Err(ProducerError::CoordinatorFenced {
                producer_id: h.producer_id,
                coordinator_epoch,
                current: e.coordinator_epoch,
            });
        }
        Ok(())
    }

    /// Records a data batch stored at `base_offset..=last_offset`.
    pub fn update(&mut self, h: &BatchHeader, base_offset: i64, last_offset: i64) {
        if h.producer_id < 0 {
            return;
        }
        let e = self.producers.entry(h.producer_id).or_default();
        if h.producer_epoch != e.epoch {
            e.epoch = h.producer_epoch;
            e.batches.clear();
        }
        e.last_timestamp = h.max_timestamp;
        if h.is_transactional() && e.txn_first_offset.is_none() {
            e.txn_first_offset = Some(base_offset);
            self.ongoing.insert(base_offset, h.producer_id);
        }
        if h.base_sequence < 0 {
            return;
        }
        e.batches.push_back(BatchMeta {
            first_seq: h.base_sequence,
            last_seq: last_sequence(h),
            base_offset,
            last_offset,
            max_timestamp: h.max_timestamp,
        });
        while e.batches.len() > CACHED_BATCHES {
            e.batches.pop_front();
        }
    }

    /// Records a commit (`aborted` false) or abort marker stored at `offset`; returns the
    /// transaction it ended, if the producer had one open here.
    pub fn update_marker(
        &mut self,
        h: &BatchHeader,
        offset: i64,
        aborted: bool,
        coordinator_epoch: i32,
    ) -> Option<CompletedTxn> {
        let e = self.producers.entry(h.producer_id).or_default();
        if h.producer_epoch != e.epoch {
            e.epoch = h.producer_epoch;
            e.batches.clear();
        }
        e.coordinator_epoch = coordinator_epoch;
        e.last_timestamp = h.max_timestamp;
        let first_offset = e.txn_first_offset.take()?;
        self.ongoing.remove(&first_offset);
        let done = CompletedTxn {
            producer_id: h.producer_id,
            first_offset,
            last_offset: offset,
            aborted,
        };
        self.undecided.push_back(done);
        Some(done)
    }

    /// Removes producers whose last write is older than `before_ms` and who have no open
    /// transaction (Kafka's `producer.id.expiration.ms`); returns how many.
    pub fn expire(&mut self, before_ms: i64) -> usize {
        let n = self.producers.len();
        self.producers
            .retain(|_, e| e.txn_first_offset.is_some() || e.last_timestamp >= before_ms);
        n - self.producers.len()
    }

    /// Forgets batches below `offset` (deleted by retention); producers left with none
    /// and no open transaction are dropped, as Kafka does when the log start moves.
    pub fn drop_before(&mut self, offset: i64) {
        for e in self.producers.values_mut() {
            e.batches.retain(|b| b.last_offset >= offset);
        }
        self.producers
            .retain(|_, e| !e.batches.is_empty() || e.txn_first_offset.is_some());
    }

    /// Inserts an entry read from a snapshot.
    pub(crate) fn insert(&mut self, producer_id: i64, entry: ProducerEntry) {
        if let Some(first) = entry.txn_first_offset {
            self.ongoing.insert(first, producer_id);
        }
        self.producers.insert(producer_id, entry);
    }
}

#[cfg(test)]
pub(crate) mod tests;
