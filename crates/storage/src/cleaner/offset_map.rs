//! The cleaner's key -> latest offset map, bounded in entries. Keys are stored as 128-bit
//! hashes (two independent SipHash digests), as Kafka stores MD5 digests: memory does not
//! grow with key size, and a collision (which would drop a live record) has about a 2^-128
//! chance per pair of keys.

use std::collections::hash_map::DefaultHasher;
use std::collections::HashMap;
use std::hash::Hasher;

/// Bytes one entry is budgeted at (key hash, offset and the map's own overhead).
pub(crate) const BYTES_PER_ENTRY: usize = 48;

/// A bounded map from key hashes to the latest offset of each key.
#[derive(Debug)]
pub(crate) struct OffsetMap {
    map: HashMap<u128, i64>,
    capacity: usize,
}

/// Two fixed-key SipHash digests of `key`, the second salted: 128 bits.
fn digest(key: &[u8]) -> u128 {
    let mut a = DefaultHasher::new();
    a.write(key);
    let mut b = DefaultHasher::new();
    b.write_u64(0x9e37_79b9_7f4a_7c15);
    b.write(key);
    (u128::from(a.finish()) << 64) | u128::from(b.finish())
}

impl OffsetMap {
    /// A map that holds at most `capacity` keys.
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            map: HashMap::new(),
            capacity: capacity.max(1),
        }
    }

    /// Records `offset` as the latest for `key`; false (and nothing changed) if the key is
    /// new and the map is full.
    pub(crate) fn put(&mut self, key: &[u8], offset: i64) -> bool {
        let d = digest(key);
        if let Some(o) = self.map.get_mut(&d) {
            *o = (*o).max(offset);
            return true;
        }
        if self.map.len() >= self.capacity {
            return false;
        }
        self.map.insert(d, offset);
        true
    }

    /// The latest offset recorded for `key`.
    pub(crate) fn get(&self, key: &[u8]) -> Option<i64> {
        self.map.get(&digest(key)).copied()
    }

    /// Keys in the map.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latest_offset_wins_and_capacity_holds() {
        let mut m = OffsetMap::new(2);
        assert!(m.put(b"a", 5));
        assert!(m.put(b"a", 3));
        assert_eq!(m.get(b"a"), Some(5));
        assert!(m.put(b"b", 1));
        assert!(!m.put(b"c", 9), "full");
        assert!(m.put(b"b", 7), "known keys still update");
        assert_eq!((m.get(b"b"), m.get(b"c"), m.len()), (Some(7), None, 2));
        assert_eq!(digest(b"same"), digest(b"same"));
        assert_ne!(digest(b"x"), digest(b"y"));
    }
}
