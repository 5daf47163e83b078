//! Errors raised while reading or writing the wire format.

use thiserror::Error;

/// Why bytes could not be decoded as the expected message.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// The input ended before a fixed-size value was complete.
    #[error("unexpected end of input: needed {needed} bytes, {remaining} remaining")]
    UnexpectedEof {
        /// Bytes the value needs.
        needed: usize,
        /// Bytes left in the input.
        remaining: usize,
    },
    /// A length or element count exceeds the bytes left in the input.
    #[error("length {length} exceeds the {remaining} bytes remaining")]
    LengthTooLarge {
        /// The length read from the wire.
        length: u64,
        /// Bytes left in the input.
        remaining: usize,
    },
    /// A negative length other than the null marker, or a string longer than 32767 bytes.
    #[error("invalid length {0}")]
    InvalidLength(i64),
    /// A variable-length integer with more bytes than its type allows.
    #[error("variable-length integer is too long")]
    VarintTooLong,
    /// A string that is not valid UTF-8.
    #[error("string is not valid UTF-8")]
    InvalidUtf8,
    /// A null where the field is not nullable in this version.
    #[error("null value for a non-nullable field")]
    UnexpectedNull,
    /// A version the message does not define.
    #[error("version {version} of {message} is not supported")]
    UnsupportedVersion {
        /// The message name.
        message: &'static str,
        /// The requested version.
        version: i16,
    },
}

/// Why a value could not be encoded at the requested version.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum EncodeError {
    /// A version the message does not define.
    #[error("version {version} of {message} is not supported")]
    UnsupportedVersion {
        /// The message name.
        message: &'static str,
        /// The requested version.
        version: i16,
    },
    /// A null in a field that is not nullable in this version.
    #[error("field {field} is null, but not nullable in version {version}")]
    NullNotAllowed {
        /// `Struct.field` of the offending field.
        field: &'static str,
        /// The requested version.
        version: i16,
    },
    /// A non-default value in a field this version cannot carry and that may not be dropped.
    #[error("field {field} has a non-default value, but does not exist in version {version}")]
    NonIgnorableField {
        /// `Struct.field` of the offending field.
        field: &'static str,
        /// The requested version.
        version: i16,
    },
    /// Unknown tagged fields were set, but this version is not flexible.
    #[error("tagged fields set on {message}, but version {version} is not flexible")]
    TaggedFieldsUnsupported {
        /// The struct name.
        message: &'static str,
        /// The requested version.
        version: i16,
    },
    /// A string, byte array or array too long for its length prefix.
    #[error("{what} of length {length} is too long to encode")]
    TooLong {
        /// What was being written ("string", "bytes", "array").
        what: &'static str,
        /// Its length.
        length: usize,
    },
}
