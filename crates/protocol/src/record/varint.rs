//! Kafka's zig-zag varints (`varint` for i32, `varlong` for i64) over byte slices.
//!
//! Reading never panics: a truncated or over-long varint is an error. The decoding
//! matches Java's `ByteUtils.readVarint`/`readVarlong`, including its tolerance of
//! unused high bits in the last byte.

/// Why a varint could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum VarintError {
    /// The input ended inside the varint.
    Truncated,
    /// More than 5 (varint) or 10 (varlong) bytes had the continuation bit set.
    TooLong,
}

/// Reads a zig-zag varint from the front of `buf`, returning it and the bytes used.
pub(crate) fn read_varint(buf: &[u8]) -> Result<(i32, usize), VarintError> {
    let mut value: u32 = 0;
    let mut shift = 0u32;
    for (i, &b) in buf.iter().enumerate() {
        value |= u32::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            let v = ((value >> 1) as i32) ^ -((value & 1) as i32);
            return Ok((v, i + 1));
        }
        shift += 7;
        if shift > 28 {
            return Err(VarintError::TooLong);
        }
    }
    Err(VarintError::Truncated)
}

/// Reads a zig-zag varlong from the front of `buf`, returning it and the bytes used.
pub(crate) fn read_varlong(buf: &[u8]) -> Result<(i64, usize), VarintError> {
    let mut value: u64 = 0;
    let mut shift = 0u32;
    for (i, &b) in buf.iter().enumerate() {
        value |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            let v = ((value >> 1) as i64) ^ -((value & 1) as i64);
            return Ok((v, i + 1));
        }
        shift += 7;
        if shift > 63 {
            return Err(VarintError::TooLong);
        }
    }
    Err(VarintError::Truncated)
}

/// Bytes a zig-zag varint takes on the wire.
pub(crate) fn varint_len(v: i32) -> usize {
    varlong_len(i64::from(v))
}

/// Bytes a zig-zag varlong takes on the wire.
pub(crate) fn varlong_len(v: i64) -> usize {
    let z = ((v << 1) ^ (v >> 63)) as u64;
    let bits = 64 - (z | 1).leading_zeros() as usize;
    bits.div_ceil(7)
}

/// Appends `v` as a zig-zag varint.
pub(crate) fn put_varint(out: &mut Vec<u8>, v: i32) {
    put_unsigned(out, u64::from(((v << 1) ^ (v >> 31)) as u32));
}

/// Appends `v` as a zig-zag varlong.
pub(crate) fn put_varlong(out: &mut Vec<u8>, v: i64) {
    put_unsigned(out, ((v << 1) ^ (v >> 63)) as u64);
}

fn put_unsigned(out: &mut Vec<u8>, mut z: u64) {
    while z >= 0x80 {
        out.push((z as u8 & 0x7f) | 0x80);
        z >>= 7;
    }
    out.push(z as u8);
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn known_encodings() {
        let cases: [(i32, &[u8]); 6] = [
            (0, &[0x00]),
            (-1, &[0x01]),
            (1, &[0x02]),
            (63, &[0x7e]),
            (-65, &[0x81, 0x01]),
            (i32::MIN, &[0xff, 0xff, 0xff, 0xff, 0x0f]),
        ];
        for (v, wire) in cases {
            let mut out = Vec::new();
            put_varint(&mut out, v);
            assert_eq!(out, wire, "encoding {v}");
            assert_eq!(read_varint(wire), Ok((v, wire.len())));
            assert_eq!(varint_len(v), wire.len());
        }
    }

    #[test]
    fn malformed() {
        assert_eq!(read_varint(&[]), Err(VarintError::Truncated));
        assert_eq!(read_varint(&[0x80, 0x80]), Err(VarintError::Truncated));
        assert_eq!(read_varint(&[0x80; 6]), Err(VarintError::TooLong));
        assert_eq!(read_varlong(&[0x80; 11]), Err(VarintError::TooLong));
        assert_eq!(read_varlong(&[0xff; 3]), Err(VarintError::Truncated));
    }

    proptest! {
        #[test]
        fn varint_round_trip(v in any::<i32>()) {
            let mut out = Vec::new();
            put_varint(&mut out, v);
            prop_assert_eq!(out.len(), varint_len(v));
            prop_assert_eq!(read_varint(&out), Ok((v, out.len())));
        }

        #[test]
        fn varlong_round_trip(v in any::<i64>()) {
            let mut out = Vec::new();
            put_varlong(&mut out, v);
            prop_assert_eq!(out.len(), varlong_len(v));
            prop_assert_eq!(read_varlong(&out), Ok((v, out.len())));
        }
    }
}
