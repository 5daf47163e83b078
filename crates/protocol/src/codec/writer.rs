//! Free functions that append wire primitives to a [`BytesMut`].
//!
//! Fixed-width integers are written with [`bytes::BufMut`] (`put_i32` and friends); this
//! module adds the variable-length and length-prefixed forms.

use bytes::{BufMut, Bytes, BytesMut};

use super::reader::MAX_STRING_LEN;
use super::{EncodeError, Uuid};

/// Appends a `bool` as one byte (0 or 1).
pub fn put_bool(w: &mut BytesMut, v: bool) {
    w.put_u8(u8::from(v));
}

/// Appends a 16-byte `uuid`.
pub fn put_uuid(w: &mut BytesMut, v: &Uuid) {
    w.put_slice(&v.0);
}

/// Appends an unsigned LEB128 varint.
pub fn put_unsigned_varint(w: &mut BytesMut, mut v: u32) {
    while v >= 0x80 {
        w.put_u8((v as u8) | 0x80);
        v >>= 7;
    }
    w.put_u8(v as u8);
}

/// Appends an unsigned LEB128 varlong.
pub fn put_unsigned_varlong(w: &mut BytesMut, mut v: u64) {
    while v >= 0x80 {
        w.put_u8((v as u8) | 0x80);
        v >>= 7;
    }
    w.put_u8(v as u8);
}

/// Appends a zigzag-encoded signed varint.
pub fn put_varint(w: &mut BytesMut, v: i32) {
    put_unsigned_varint(w, ((v << 1) ^ (v >> 31)) as u32);
}

/// Appends a zigzag-encoded signed varlong.
pub fn put_varlong(w: &mut BytesMut, v: i64) {
    put_unsigned_varlong(w, ((v << 1) ^ (v >> 63)) as u64);
}

/// Size in bytes of `v` as an unsigned varint.
pub fn unsigned_varint_len(v: u32) -> usize {
    match v {
        0..=0x7f => 1,
        0x80..=0x3fff => 2,
        0x4000..=0x1f_ffff => 3,
        0x20_0000..=0x0fff_ffff => 4,
        _ => 5,
    }
}

fn too_long(what: &'static str, length: usize) -> EncodeError {
    EncodeError::TooLong { what, length }
}

/// Appends a length prefix; `None` writes the null marker.
fn put_len(
    w: &mut BytesMut,
    compact: bool,
    wide: bool,
    what: &'static str,
    len: Option<usize>,
) -> Result<(), EncodeError> {
    match (len, compact, wide) {
        (None, true, _) => put_unsigned_varint(w, 0),
        (None, false, true) => w.put_i32(-1),
        (None, false, false) => w.put_i16(-1),
        (Some(n), true, _) => {
            let v = u32::try_from(n)
                .ok()
                .and_then(|v| v.checked_add(1))
                .ok_or_else(|| too_long(what, n))?;
            put_unsigned_varint(w, v);
        }
        (Some(n), false, true) => w.put_i32(i32::try_from(n).map_err(|_| too_long(what, n))?),
        (Some(n), false, false) => w.put_i16(i16::try_from(n).map_err(|_| too_long(what, n))?),
    }
    Ok(())
}

/// Appends a `string` (`compact`: COMPACT_STRING).
pub fn put_string(w: &mut BytesMut, compact: bool, s: &str) -> Result<(), EncodeError> {
    if s.len() > MAX_STRING_LEN {
        return Err(too_long("string", s.len()));
    }
    put_len(w, compact, false, "string", Some(s.len()))?;
    w.put_slice(s.as_bytes());
    Ok(())
}

/// Appends a nullable `string` (`compact`: COMPACT_NULLABLE_STRING).
pub fn put_nullable_string(
    w: &mut BytesMut,
    compact: bool,
    s: Option<&str>,
) -> Result<(), EncodeError> {
    match s {
        Some(s) => put_string(w, compact, s),
        None => put_len(w, compact, false, "string", None),
    }
}

/// Appends `bytes` (or `records`) with its length prefix.
pub fn put_bytes(w: &mut BytesMut, compact: bool, b: &[u8]) -> Result<(), EncodeError> {
    put_len(w, compact, true, "bytes", Some(b.len()))?;
    w.put_slice(b);
    Ok(())
}

/// Appends nullable `bytes` (or `records`) with its length prefix.
pub fn put_nullable_bytes(
    w: &mut BytesMut,
    compact: bool,
    b: Option<&[u8]>,
) -> Result<(), EncodeError> {
    match b {
        Some(b) => put_bytes(w, compact, b),
        None => put_len(w, compact, true, "bytes", None),
    }
}

/// Appends an array element count (`compact`: count + 1 as a varint).
pub fn put_array_len(w: &mut BytesMut, compact: bool, n: usize) -> Result<(), EncodeError> {
    put_len(w, compact, true, "array", Some(n))
}

/// Appends a nullable array element count; `None` writes the null marker.
pub fn put_nullable_array_len(
    w: &mut BytesMut,
    compact: bool,
    n: Option<usize>,
) -> Result<(), EncodeError> {
    put_len(w, compact, true, "array", n)
}

/// Appends a tagged-field section: `known` (ascending tags, already encoded) merged by tag
/// with `unknown` fields kept from decoding.
pub fn put_tagged_fields(
    w: &mut BytesMut,
    known: Vec<(u32, BytesMut)>,
    unknown: &[(u32, Bytes)],
) -> Result<(), EncodeError> {
    let count = known.len() + unknown.len();
    let count = u32::try_from(count).map_err(|_| too_long("tagged fields", count))?;
    put_unsigned_varint(w, count);
    let mut unknown = unknown.iter().peekable();
    for (tag, body) in &known {
        while let Some((t, b)) = unknown.next_if(|(t, _)| t < tag) {
            put_tagged_field(w, *t, b)?;
        }
        put_tagged_field(w, *tag, body)?;
    }
    for (t, b) in unknown {
        put_tagged_field(w, *t, b)?;
    }
    Ok(())
}

fn put_tagged_field(w: &mut BytesMut, tag: u32, body: &[u8]) -> Result<(), EncodeError> {
    put_unsigned_varint(w, tag);
    let len = u32::try_from(body.len()).map_err(|_| too_long("tagged field", body.len()))?;
    put_unsigned_varint(w, len);
    w.put_slice(body);
    Ok(())
}
