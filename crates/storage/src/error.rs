//! The storage error type.

use std::io;

use thiserror::Error;
use weir_protocol::record::BatchError;

/// Why a log operation failed.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum StorageError {
    /// A file system operation failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done, naming the file.
        context: String,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// A read asked for an offset outside `log_start..=log_end`.
    #[error("offset {offset} is out of range: log spans {log_start}..{log_end}")]
    OffsetOutOfRange {
        /// The offset asked for.
        offset: i64,
        /// The log start offset.
        log_start: i64,
        /// The log end offset.
        log_end: i64,
    },
    /// An earlier write or fsync failed and left the files in an unknown state; the log
    /// refuses writes until it is reopened (which recovers it).
    #[error("log is fenced after a failed write or fsync; reopen it to recover")]
    Fenced,
    /// A [`LogConfig`](crate::LogConfig) setting is out of range.
    #[error("invalid log config: {0}")]
    InvalidConfig(String),
    /// Data on disk is not what the log wrote.
    #[error("corrupt log data: {0}")]
    Corrupt(String),
    /// A batch handed to `append` is not one well-formed RecordBatch v2.
    #[error("invalid record batch: {0}")]
    InvalidBatch(#[from] BatchError),
    /// A batch's producer id, epoch, sequence or transaction state does not fit what the
    /// partition knows of that producer.
    #[error(transparent)]
    Producer(#[from] crate::producer::ProducerError),
}

impl StorageError {
    /// An I/O error with a description of what was being done.
    pub(crate) fn io(context: impl Into<String>, source: io::Error) -> Self {
        Self::Io {
            context: context.into(),
            source,
        }
    }
}

/// Adds context to an `io::Result`.
pub(crate) trait IoContext<T> {
    /// Turns the error into [`StorageError::Io`] with the context `f` returns.
    fn ctx<F: FnOnce() -> String>(self, f: F) -> Result<T, StorageError>;
}

impl<T> IoContext<T> for io::Result<T> {
    fn ctx<F: FnOnce() -> String>(self, f: F) -> Result<T, StorageError> {
        self.map_err(|e| StorageError::io(f(), e))
    }
}
