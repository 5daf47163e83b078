//! Primitive readers and writers for the Kafka wire format, and the traits every message
//! implements.
//!
//! - [`reader`]: [`Reader`], a bounded, zero-copy cursor over a received frame.
//! - [`writer`]: free functions that append primitives to a [`bytes::BytesMut`].
//! - [`uuid`]: [`Uuid`], Kafka's 16-byte identifier (topic ids, directory ids).
//! - [`errors`]: [`DecodeError`] and [`EncodeError`].
//!
//! Generated message types implement [`Decode`] and [`Encode`]; requests and responses also
//! implement [`Message`], and requests [`Request`], which names the matching response.

pub mod errors;
pub mod reader;
pub mod uuid;
pub mod writer;

pub use errors::{DecodeError, EncodeError};
pub use reader::{vec_for, Reader};
pub use uuid::Uuid;
pub use writer::*;

/// A type that can be read from the wire at a given protocol version.
pub trait Decode: Sized {
    /// Reads one value of `version` from `r`, advancing it past the bytes consumed.
    fn decode(r: &mut Reader, version: i16) -> Result<Self, DecodeError>;
}

/// A type that can be written to the wire at a given protocol version.
pub trait Encode {
    /// Appends the `version` encoding of `self` to `w`.
    fn encode(&self, w: &mut bytes::BytesMut, version: i16) -> Result<(), EncodeError>;
}

/// A response whose error codes can be listed: every `ErrorCode` field, nested ones
/// included, as Kafka's `AbstractResponse.errorCounts` counts them.
pub trait ErrorCodes {
    /// Calls `f` with each error code `self` carries, `0` (NONE) included.
    fn error_codes(&self, f: &mut dyn FnMut(i16));
}

/// Version facts of a request or response type, taken from its Kafka message spec.
pub trait Message {
    /// The API key shared by the request and its response.
    const API_KEY: i16;
    /// The lowest version the codec reads and writes.
    const MIN_VERSION: i16;
    /// The highest version the codec reads and writes (may include an unstable version that
    /// a broker must not advertise; see `ApiKey::valid_versions`).
    const MAX_VERSION: i16;
    /// The first flexible (compact, tagged-field) version, or `i16::MAX` if there is none.
    const FLEXIBLE_MIN: i16;
}

/// A request type, linked to the response type a server answers it with.
pub trait Request: Message + Encode + Decode {
    /// The response to this request.
    type Response: Message + Encode + Decode;
}
