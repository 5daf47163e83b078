//! [`TxnRecord`]s in the bytes of `__transaction_state`, in Kafka's format: the key is a
//! big-endian i16 version (0) then `TransactionLogKey`; the value a version (1, which keeps
//! the previous producer id) then `TransactionLogValue`; a null value is a tombstone.

use std::collections::BTreeSet;

use bytes::{BufMut, Bytes, BytesMut};
use weir_protocol::codec::{Decode, DecodeError, Encode, EncodeError, Reader};
use weir_protocol::txn_records::transaction_log_value::PartitionsSchema;
use weir_protocol::txn_records::{TransactionLogKey, TransactionLogValue};

use super::state::{TxnMetadata, TxnState, NO_PRODUCER_EPOCH};
use super::TxnRecord;

const KEY_VERSION: i16 = 0;
const VALUE_VERSION: i16 = 1;

/// Why a stored record could not be read or written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TxnRecordError {
    /// The key or value bytes do not decode.
    #[error("malformed __transaction_state record: {0}")]
    Decode(#[from] DecodeError),
    /// The record could not be encoded.
    #[error("cannot encode __transaction_state record: {0}")]
    Encode(#[from] EncodeError),
    /// A key version this coordinator does not know.
    #[error("unknown __transaction_state key version {0}")]
    KeyVersion(i16),
    /// A transaction state id this coordinator does not know.
    #[error("unknown transaction state {0}")]
    State(i8),
}

/// The key and value bytes of `record`; the value is `None` for a tombstone.
pub fn encode(record: &TxnRecord) -> Result<(Bytes, Option<Bytes>), TxnRecordError> {
    let mut key = BytesMut::new();
    key.put_i16(KEY_VERSION);
    TransactionLogKey {
        transactional_id: record.transactional_id.clone(),
    }
    .encode(&mut key, KEY_VERSION)?;
    let Some(m) = &record.value else {
        return Ok((key.freeze(), None));
    };
    let mut topics: Vec<PartitionsSchema> = Vec::new();
    for (topic, partition) in &m.partitions {
        match topics.last_mut() {
            Some(t) if &t.topic == topic => t.partition_ids.push(*partition),
            _ => topics.push(PartitionsSchema {
                topic: topic.clone(),
                partition_ids: vec![*partition],
                ..Default::default()
            }),
        }
    }
    let value = TransactionLogValue {
        producer_id: m.producer_id,
        previous_producer_id: m.previous_producer_id,
        producer_epoch: m.producer_epoch,
        transaction_timeout_ms: m.timeout_ms,
        transaction_status: m.state.id(),
        // Kafka writes no partition list for an Empty transaction.
        transaction_partitions: (m.state != TxnState::Empty).then_some(topics),
        transaction_last_update_timestamp_ms: m.last_update_ms,
        transaction_start_timestamp_ms: m.start_ms,
        next_producer_id: m.next_producer_id,
        client_transaction_version: m.client_version,
        ..Default::default()
    };
    let mut v = BytesMut::new();
    v.put_i16(VALUE_VERSION);
    value.encode(&mut v, VALUE_VERSION)?;
    Ok((key.freeze(), Some(v.freeze())))
}

/// The record stored as `key` and `value`.
pub fn decode(key: &Bytes, value: Option<&Bytes>) -> Result<TxnRecord, TxnRecordError> {
    let mut r = Reader::new(key.clone());
    let version = r.read_i16()?;
    if version != KEY_VERSION {
        return Err(TxnRecordError::KeyVersion(version));
    }
    let k = TransactionLogKey::decode(&mut r, version)?;
    let Some(value) = value else {
        return Ok(TxnRecord {
            transactional_id: k.transactional_id,
            value: None,
        });
    };
    let mut r = Reader::new(value.clone());
    let version = r.read_i16()?;
    let v = TransactionLogValue::decode(&mut r, version)?;
    let state = TxnState::from_id(v.transaction_status)
        .ok_or(TxnRecordError::State(v.transaction_status))?;
    let partitions: BTreeSet<(String, i32)> = v
        .transaction_partitions
        .unwrap_or_default()
        .into_iter()
        .flat_map(|t| {
            let topic = t.topic;
            t.partition_ids.into_iter().map(move |p| (topic.clone(), p))
        })
        .collect();
    Ok(TxnRecord {
        transactional_id: k.transactional_id.clone(),
        value: Some(TxnMetadata {
            transactional_id: k.transactional_id,
            producer_id: v.producer_id,
            previous_producer_id: v.previous_producer_id,
            producer_epoch: v.producer_epoch,
            last_producer_epoch: NO_PRODUCER_EPOCH,
            timeout_ms: v.transaction_timeout_ms,
            state,
            partitions,
            start_ms: v.transaction_start_timestamp_ms,
            last_update_ms: v.transaction_last_update_timestamp_ms,
            client_version: v.client_transaction_version,
            next_producer_id: v.next_producer_id,
        }),
    })
}
