//! Client errors.

use thiserror::Error;
use weir_protocol::codec::{DecodeError, EncodeError};
use weir_protocol::error::ErrorCode;

/// What went wrong talking to a broker.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The socket failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// The connection closed before the response arrived.
    #[error("connection closed")]
    Closed,
    /// A response could not be decoded.
    #[error("decoding a response: {0}")]
    Decode(#[from] DecodeError),
    /// A request could not be encoded.
    #[error("encoding a request: {0}")]
    Encode(#[from] EncodeError),
    /// The broker supports no version of an API that this client speaks.
    #[error("the broker does not support API key {0} in any version this client speaks")]
    Unsupported(i16),
    /// The broker answered with a Kafka error.
    #[error("broker error {}: {message}", code.name())]
    Kafka {
        /// Kafka error code.
        code: ErrorCode,
        /// Context or the broker's message.
        message: String,
    },
    /// A record batch could not be built or parsed.
    #[error("record batch: {0}")]
    Batch(#[from] weir_protocol::record::BatchError),
    /// The broker's answer did not make sense.
    #[error("protocol: {0}")]
    Protocol(String),
}

impl ClientError {
    /// A Kafka error from an error code, if it is not NONE.
    pub fn check(code: i16, message: impl FnOnce() -> String) -> Result<(), ClientError> {
        if code == 0 {
            Ok(())
        } else {
            Err(ClientError::Kafka {
                code: ErrorCode::from_code(code),
                message: message(),
            })
        }
    }
}
