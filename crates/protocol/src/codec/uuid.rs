//! [`Uuid`]: Kafka's 16-byte identifier, shown as URL-safe base64 without padding.

use std::fmt;
use std::str::FromStr;

use thiserror::Error;

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// A 16-byte Kafka UUID (topic id, directory id, ...); all-zero is Kafka's `ZERO_UUID`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Uuid(pub [u8; 16]);

/// Why a string is not a Kafka UUID.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("not a base64url UUID: {0:?}")]
pub struct ParseUuidError(pub String);

impl Uuid {
    /// The all-zero UUID Kafka uses for "no id".
    pub const ZERO: Uuid = Uuid([0; 16]);
    /// Kafka's reserved `ONE_UUID` (0...01), used for the metadata topic.
    pub const ONE: Uuid = Uuid([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);

    /// Builds a UUID from its big-endian 128-bit value.
    pub const fn from_u128(v: u128) -> Self {
        Uuid(v.to_be_bytes())
    }

    /// The big-endian 128-bit value.
    pub const fn as_u128(&self) -> u128 {
        u128::from_be_bytes(self.0)
    }

    /// True for the all-zero UUID.
    pub fn is_zero(&self) -> bool {
        self.0 == [0; 16]
    }
}

impl fmt::Display for Uuid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // 16 bytes = 5 groups of 3 bytes (20 chars) + 1 byte (2 chars) = 22 chars.
        let mut out = String::with_capacity(22);
        let mut push = |i: u32| {
            if let Some(&c) = ALPHABET.get((i & 63) as usize) {
                out.push(char::from(c));
            }
        };
        for chunk in self.0.chunks(3) {
            let b0 = u32::from(chunk.first().copied().unwrap_or(0));
            let b1 = u32::from(chunk.get(1).copied().unwrap_or(0));
            let b2 = u32::from(chunk.get(2).copied().unwrap_or(0));
            let n = (b0 << 16) | (b1 << 8) | b2;
            push(n >> 18);
            push(n >> 12);
            if chunk.len() > 1 {
                push(n >> 6);
            }
            if chunk.len() > 2 {
                push(n);
            }
        }
        f.write_str(&out)
    }
}

impl fmt::Debug for Uuid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Uuid({self})")
    }
}

impl FromStr for Uuid {
    type Err = ParseUuidError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || ParseUuidError(s.to_owned());
        if s.len() != 22 {
            return Err(err());
        }
        let mut bits: u32 = 0;
        let mut nbits = 0;
        let mut out = [0u8; 16];
        let mut i = 0;
        for c in s.bytes() {
            let v = ALPHABET.iter().position(|&a| a == c).ok_or_else(err)? as u32;
            bits = (bits << 6) | v;
            nbits += 6;
            if nbits >= 8 {
                nbits -= 8;
                let slot = out.get_mut(i).ok_or_else(err)?;
                *slot = (bits >> nbits) as u8;
                i += 1;
            }
        }
        // 22 chars carry 132 bits: the 4 spare bits must be zero, as Java's decoder requires.
        if bits & ((1 << nbits) - 1) != 0 {
            return Err(err());
        }
        Ok(Uuid(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_and_one_print_like_kafka() {
        assert_eq!(Uuid::ZERO.to_string(), "AAAAAAAAAAAAAAAAAAAAAA");
        assert_eq!(Uuid::ONE.to_string(), "AAAAAAAAAAAAAAAAAAAAAQ");
    }

    #[test]
    fn display_parses_back() {
        let u = Uuid::from_u128(0x0123_4567_89ab_cdef_fedc_ba98_7654_3210);
        let s = u.to_string();
        assert_eq!(s.len(), 22);
        assert_eq!(s.parse::<Uuid>(), Ok(u));
    }

    #[test]
    fn rejects_bad_strings() {
        assert!("short".parse::<Uuid>().is_err());
        assert!("AAAAAAAAAAAAAAAAAAAA*A".parse::<Uuid>().is_err());
        assert!("AAAAAAAAAAAAAAAAAAAAAB".parse::<Uuid>().is_err());
    }
}
