//! Broker errors, and the one place where internal errors become Kafka error codes.

use thiserror::Error;
use weir_protocol::error::ErrorCode;
use weir_storage::{ProducerError, StorageError};

/// An error inside the broker.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum BrokerError {
    /// The partition log failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// Stored metadata could not be read back.
    #[error("corrupt metadata: {0}")]
    Corrupt(String),
    /// A socket or file operation failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// A setting is invalid.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// The metadata quorum could not be started or joined.
    #[error("metadata quorum: {0}")]
    Quorum(String),
}

/// The Kafka error code for a storage error on a partition.
pub fn storage_error_code(e: &StorageError) -> ErrorCode {
    match e {
        StorageError::OffsetOutOfRange { .. } => ErrorCode::OffsetOutOfRange,
        StorageError::InvalidBatch(_) => ErrorCode::CorruptMessage,
        StorageError::Producer(p) => match p {
            ProducerError::InvalidProducerEpoch { .. } => ErrorCode::InvalidProducerEpoch,
            ProducerError::OutOfOrderSequence { .. } => ErrorCode::OutOfOrderSequenceNumber,
            ProducerError::InvalidTxnState { .. } => ErrorCode::InvalidTxnState,
            ProducerError::CoordinatorFenced { .. } => ErrorCode::TransactionCoordinatorFenced,
            _ => ErrorCode::UnknownServerError,
        },
        _ => ErrorCode::KafkaStorageError,
    }
}
