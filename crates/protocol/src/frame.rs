//! Frames: the 4-byte big-endian size prefix that delimits every request and response, and
//! helpers that decode a request header or encode a whole size-prefixed frame.
//!
//! A connection calls [`check_frame`] on its read buffer (cheap, allocation-free), hands the
//! complete frame's body to [`decode_request_header`], decodes the body with the message type
//! the API key names, and answers with [`encode_response`].

use bytes::{BufMut, BytesMut};
use thiserror::Error;

use crate::codec::{Decode, DecodeError, Encode, EncodeError, Reader};
use crate::messages::{ApiKey, RequestHeader, ResponseHeader};

/// Largest frame accepted by default (Kafka's `socket.request.max.bytes`, 100 MiB).
pub const DEFAULT_MAX_FRAME: usize = 100 * 1024 * 1024;

/// Why a size prefix is unacceptable; the connection should be closed.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum FrameError {
    /// The size prefix is negative.
    #[error("negative frame size {0}")]
    NegativeSize(i32),
    /// The size prefix exceeds the configured maximum.
    #[error("frame size {size} exceeds the maximum {max}")]
    TooLarge {
        /// The size the prefix claims.
        size: usize,
        /// The configured maximum.
        max: usize,
    },
}

/// Checks whether `buf` starts with a complete frame.
///
/// Returns the frame's total length (4 + size) when complete, `None` when more bytes are
/// needed, and an error as soon as the prefix is negative or larger than `max`.
pub fn check_frame(buf: &[u8], max: usize) -> Result<Option<usize>, FrameError> {
    let Some(&[a, b, c, d]) = buf.get(..4) else {
        return Ok(None);
    };
    let size = i32::from_be_bytes([a, b, c, d]);
    let size = usize::try_from(size).map_err(|_| FrameError::NegativeSize(size))?;
    if size > max {
        return Err(FrameError::TooLarge { size, max });
    }
    let total = size + 4;
    Ok((buf.len() >= total).then_some(total))
}

/// Decodes the request header at the start of a frame body (the bytes after the size).
///
/// Peeks the API key and version to choose the header version; an unknown API key is read
/// with header v1 so the correlation id can still be answered. Returns the header and the
/// API, if known; `body` is left at the start of the request body.
pub fn decode_request_header(
    body: &mut Reader,
) -> Result<(RequestHeader, Option<ApiKey>), DecodeError> {
    let mut peek = body.clone();
    let key = peek.read_i16()?;
    let version = peek.read_i16()?;
    let api = ApiKey::from_i16(key);
    let header_version = api.map_or(1, |a| a.request_header_version(version));
    let header = RequestHeader::decode(body, header_version)?;
    Ok((header, api))
}

/// Writes the size prefix of a frame built after a 4-byte placeholder.
fn finish(mut w: BytesMut) -> Result<BytesMut, EncodeError> {
    let len = w.len() - 4;
    let size = i32::try_from(len).map_err(|_| EncodeError::TooLong {
        what: "frame",
        length: len,
    })?;
    if let Some(prefix) = w.get_mut(..4) {
        prefix.copy_from_slice(&size.to_be_bytes());
    }
    Ok(w)
}

/// Encodes a complete response frame: size, response header (`header_version`, see
/// [`ApiKey::response_header_version`]) and `body` at `version`.
pub fn encode_response(
    correlation_id: i32,
    header_version: i16,
    body: &impl Encode,
    version: i16,
) -> Result<BytesMut, EncodeError> {
    encode_response_with_capacity(256, correlation_id, header_version, body, version)
}

/// Like [`encode_response`], starting with a buffer of `capacity` bytes so that a large
/// response (a fetch carrying megabytes of records) is written without regrowing.
pub fn encode_response_with_capacity(
    capacity: usize,
    correlation_id: i32,
    header_version: i16,
    body: &impl Encode,
    version: i16,
) -> Result<BytesMut, EncodeError> {
    let mut w = BytesMut::with_capacity(capacity);
    w.put_i32(0);
    let header = ResponseHeader {
        correlation_id,
        ..Default::default()
    };
    header.encode(&mut w, header_version)?;
    body.encode(&mut w, version)?;
    finish(w)
}

/// Encodes a complete request frame: size, `header` (`header_version`, see
/// [`ApiKey::request_header_version`]) and `body` at `version`.
pub fn encode_request(
    header: &RequestHeader,
    header_version: i16,
    body: &impl Encode,
    version: i16,
) -> Result<BytesMut, EncodeError> {
    let mut w = BytesMut::with_capacity(256);
    w.put_i32(0);
    header.encode(&mut w, header_version)?;
    body.encode(&mut w, version)?;
    finish(w)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_frame_cases() {
        assert_eq!(check_frame(&[], 100), Ok(None));
        assert_eq!(check_frame(&[0, 0, 0], 100), Ok(None));
        assert_eq!(check_frame(&[0, 0, 0, 2, 1], 100), Ok(None));
        assert_eq!(check_frame(&[0, 0, 0, 2, 1, 2, 3], 100), Ok(Some(6)));
        assert_eq!(check_frame(&[0, 0, 0, 0], 100), Ok(Some(4)));
        assert_eq!(
            check_frame(&[0xff, 0xff, 0xff, 0xff], 100),
            Err(FrameError::NegativeSize(-1))
        );
        assert_eq!(
            check_frame(&[0, 0, 1, 0], 100),
            Err(FrameError::TooLarge {
                size: 256,
                max: 100
            })
        );
    }
}
