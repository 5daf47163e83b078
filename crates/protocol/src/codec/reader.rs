//! [`Reader`]: a bounded, zero-copy cursor over received bytes.
//!
//! Every length read from the wire is checked against the bytes remaining before anything is
//! allocated, so a hostile length prefix yields a [`DecodeError`], never a large allocation.

use bytes::{Buf, Bytes};

use super::{DecodeError, Uuid};

/// The longest string Kafka accepts, in bytes (both classic and compact encodings).
pub const MAX_STRING_LEN: usize = 0x7fff;

/// Upper bound on elements preallocated for an array; longer arrays grow as they decode.
const MAX_PREALLOC: usize = 1024;

/// A cursor over a frame's bytes; `bytes` and `records` values are slices of the frame.
#[derive(Debug, Clone, Default)]
pub struct Reader {
    buf: Bytes,
}

impl Reader {
    /// Creates a reader over `buf`.
    pub fn new(buf: Bytes) -> Self {
        Self { buf }
    }

    /// Bytes not yet consumed.
    pub fn remaining(&self) -> usize {
        self.buf.len()
    }

    /// True when every byte has been consumed.
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// The unconsumed bytes, without copying.
    pub fn into_bytes(self) -> Bytes {
        self.buf
    }

    fn need(&self, n: usize) -> Result<(), DecodeError> {
        if self.buf.len() < n {
            return Err(DecodeError::UnexpectedEof {
                needed: n,
                remaining: self.buf.len(),
            });
        }
        Ok(())
    }

    /// Checks that a wire length fits in what remains (each unit takes at least one byte).
    fn bound(&self, length: u64) -> Result<usize, DecodeError> {
        match usize::try_from(length) {
            Ok(n) if n <= self.buf.len() => Ok(n),
            _ => Err(DecodeError::LengthTooLarge {
                length,
                remaining: self.buf.len(),
            }),
        }
    }

    /// Reads the next `n` bytes as a slice of the input (no copy).
    pub fn read_slice(&mut self, n: usize) -> Result<Bytes, DecodeError> {
        self.need(n)?;
        Ok(self.buf.split_to(n))
    }

    /// Skips `n` bytes.
    pub fn skip(&mut self, n: usize) -> Result<(), DecodeError> {
        self.need(n)?;
        self.buf.advance(n);
        Ok(())
    }

    /// Reads a big-endian `i16` without consuming it.
    pub fn peek_i16(&self) -> Result<i16, DecodeError> {
        self.need(2)?;
        Ok(i16::from_be_bytes([self.buf[0], self.buf[1]]))
    }

    /// Reads an `int8`.
    pub fn read_i8(&mut self) -> Result<i8, DecodeError> {
        self.need(1)?;
        Ok(self.buf.get_i8())
    }

    /// Reads a `bool` (any non-zero byte is true, as Kafka does).
    pub fn read_bool(&mut self) -> Result<bool, DecodeError> {
        Ok(self.read_i8()? != 0)
    }

    /// Reads a big-endian `int16`.
    pub fn read_i16(&mut self) -> Result<i16, DecodeError> {
        self.need(2)?;
        Ok(self.buf.get_i16())
    }

    /// Reads a big-endian `uint16`.
    pub fn read_u16(&mut self) -> Result<u16, DecodeError> {
        self.need(2)?;
        Ok(self.buf.get_u16())
    }

    /// Reads a big-endian `int32`.
    pub fn read_i32(&mut self) -> Result<i32, DecodeError> {
        self.need(4)?;
        Ok(self.buf.get_i32())
    }

    /// Reads a big-endian `uint32`.
    pub fn read_u32(&mut self) -> Result<u32, DecodeError> {
        self.need(4)?;
        Ok(self.buf.get_u32())
    }

    /// Reads a big-endian `int64`.
    pub fn read_i64(&mut self) -> Result<i64, DecodeError> {
        self.need(8)?;
        Ok(self.buf.get_i64())
    }

    /// Reads a big-endian IEEE 754 `float64`.
    pub fn read_f64(&mut self) -> Result<f64, DecodeError> {
        self.need(8)?;
        Ok(self.buf.get_f64())
    }

    /// Reads a 16-byte `uuid`.
    pub fn read_uuid(&mut self) -> Result<Uuid, DecodeError> {
        self.need(16)?;
        let mut b = [0u8; 16];
        self.buf.copy_to_slice(&mut b);
        Ok(Uuid(b))
    }

    /// Reads an unsigned LEB128 varint of at most 5 bytes.
    pub fn read_unsigned_varint(&mut self) -> Result<u32, DecodeError> {
        let mut value: u32 = 0;
        for i in 0..5 {
            let b = self.read_i8()? as u8;
            if i == 4 && b > 0x0f {
                return Err(DecodeError::VarintTooLong);
            }
            value |= u32::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(DecodeError::VarintTooLong)
    }

    /// Reads an unsigned LEB128 varlong of at most 10 bytes.
    pub fn read_unsigned_varlong(&mut self) -> Result<u64, DecodeError> {
        let mut value: u64 = 0;
        for i in 0..10 {
            let b = self.read_i8()? as u8;
            if i == 9 && b > 0x01 {
                return Err(DecodeError::VarintTooLong);
            }
            value |= u64::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(DecodeError::VarintTooLong)
    }

    /// Reads a zigzag-encoded signed varint (`int32`).
    pub fn read_varint(&mut self) -> Result<i32, DecodeError> {
        let v = self.read_unsigned_varint()?;
        Ok(((v >> 1) as i32) ^ -((v & 1) as i32))
    }

    /// Reads a zigzag-encoded signed varlong (`int64`).
    pub fn read_varlong(&mut self) -> Result<i64, DecodeError> {
        let v = self.read_unsigned_varlong()?;
        Ok(((v >> 1) as i64) ^ -((v & 1) as i64))
    }

    /// Reads a length prefix: `int16` (classic strings), `int32` (classic bytes and arrays)
    /// or an unsigned varint holding length + 1 (compact forms). `None` means null.
    fn read_len(&mut self, compact: bool, wide: bool) -> Result<Option<u64>, DecodeError> {
        let len = if compact {
            i64::from(self.read_unsigned_varint()?) - 1
        } else if wide {
            i64::from(self.read_i32()?)
        } else {
            i64::from(self.read_i16()?)
        };
        match len {
            -1 => Ok(None),
            n if n < 0 => Err(DecodeError::InvalidLength(n)),
            n => Ok(Some(n as u64)),
        }
    }

    fn read_str_body(&mut self, len: u64) -> Result<String, DecodeError> {
        if len > MAX_STRING_LEN as u64 {
            return Err(DecodeError::InvalidLength(len as i64));
        }
        let n = self.bound(len)?;
        let s = std::str::from_utf8(self.buf.get(..n).unwrap_or_default())
            .map_err(|_| DecodeError::InvalidUtf8)?
            .to_owned();
        self.buf.advance(n);
        Ok(s)
    }

    /// Reads a `string` (`compact`: COMPACT_STRING, used in flexible versions).
    pub fn read_string(&mut self, compact: bool) -> Result<String, DecodeError> {
        match self.read_len(compact, false)? {
            Some(len) => self.read_str_body(len),
            None => Err(DecodeError::UnexpectedNull),
        }
    }

    /// Reads a nullable `string` (`compact`: COMPACT_NULLABLE_STRING).
    pub fn read_nullable_string(&mut self, compact: bool) -> Result<Option<String>, DecodeError> {
        match self.read_len(compact, false)? {
            Some(len) => self.read_str_body(len).map(Some),
            None => Ok(None),
        }
    }

    /// Reads `bytes` as a slice of the input (`compact`: COMPACT_BYTES).
    pub fn read_bytes(&mut self, compact: bool) -> Result<Bytes, DecodeError> {
        match self.read_len(compact, true)? {
            Some(len) => {
                let n = self.bound(len)?;
                Ok(self.buf.split_to(n))
            }
            None => Err(DecodeError::UnexpectedNull),
        }
    }

    /// Reads nullable `bytes` or `records` as a slice of the input.
    pub fn read_nullable_bytes(&mut self, compact: bool) -> Result<Option<Bytes>, DecodeError> {
        match self.read_len(compact, true)? {
            Some(len) => {
                let n = self.bound(len)?;
                Ok(Some(self.buf.split_to(n)))
            }
            None => Ok(None),
        }
    }

    /// Reads an array element count, bounded by the bytes remaining.
    pub fn read_array_len(&mut self, compact: bool) -> Result<usize, DecodeError> {
        match self.read_len(compact, true)? {
            Some(len) => self.bound(len),
            None => Err(DecodeError::UnexpectedNull),
        }
    }

    /// Reads a nullable array element count, bounded by the bytes remaining.
    pub fn read_nullable_array_len(&mut self, compact: bool) -> Result<Option<usize>, DecodeError> {
        match self.read_len(compact, true)? {
            Some(len) => self.bound(len).map(Some),
            None => Ok(None),
        }
    }

    /// Reads the count of a tagged-field section, bounded by the bytes remaining.
    pub fn read_tagged_count(&mut self) -> Result<usize, DecodeError> {
        let n = self.read_unsigned_varint()?;
        self.bound(u64::from(n))
    }

    /// Reads one tagged field's header and returns its tag and a reader over its payload.
    pub fn read_tagged_field(&mut self) -> Result<(u32, Reader), DecodeError> {
        let tag = self.read_unsigned_varint()?;
        let size = self.read_unsigned_varint()?;
        let n = self.bound(u64::from(size))?;
        Ok((tag, Reader::new(self.buf.split_to(n))))
    }
}

/// An empty vector for `n` decoded elements, preallocating at most a bounded amount.
pub fn vec_for<T>(n: usize) -> Vec<T> {
    Vec::with_capacity(n.min(MAX_PREALLOC))
}
