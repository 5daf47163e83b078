//! Kafka's default key partitioning: murmur2 of the serialized key, made positive, modulo
//! the partition count, bit for bit as the Java client's `Utils.murmur2` and
//! `BuiltInPartitioner.partitionForKey` compute it.

/// Kafka's murmur2 hash (`org.apache.kafka.common.utils.Utils.murmur2`).
pub fn murmur2(data: &[u8]) -> i32 {
    const SEED: u32 = 0x9747_b28c;
    const M: u32 = 0x5bd1_e995;
    const R: u32 = 24;

    // Java computes with an int length; keys never reach 2 GiB.
    let mut h = SEED ^ (data.len() as u32);
    let mut chunks = data.chunks_exact(4);
    for c in &mut chunks {
        let mut k = u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }
    let tail = chunks.remainder();
    if !tail.is_empty() {
        for (i, &b) in tail.iter().enumerate().rev() {
            h ^= u32::from(b) << (8 * i);
        }
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h as i32
}

/// The partition the Java client's default partitioner picks for `key`:
/// `(murmur2(key) & 0x7fffffff) % num_partitions`; 0 when `num_partitions` is not positive.
pub fn partition_for_key(key: &[u8], num_partitions: i32) -> i32 {
    if num_partitions <= 0 {
        return 0;
    }
    (murmur2(key) & 0x7fff_ffff) % num_partitions
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The vectors of Kafka's `UtilsTest.testMurmur2`.
    #[test]
    fn matches_kafka_utils_test() {
        let cases: [(&[u8], i32); 6] = [
            (b"21", -973_932_308),
            (b"foobar", -790_332_482),
            (b"a-little-bit-long-string", -985_981_536),
            (b"a-little-bit-longer-string", -1_486_304_829),
            (
                b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8",
                -58_897_971,
            ),
            (b"abc", 479_470_107),
        ];
        for (key, want) in cases {
            assert_eq!(murmur2(key), want, "{}", String::from_utf8_lossy(key));
        }
    }

    #[test]
    fn partition_is_positive_murmur_mod_n() {
        // murmur2("21") is negative: the sign bit is masked, not negated.
        let h = -973_932_308i32;
        assert_eq!(partition_for_key(b"21", 7), (h & 0x7fff_ffff) % 7);
        assert_eq!(partition_for_key(b"abc", 1), 0);
        assert_eq!(partition_for_key(b"abc", 0), 0);
        for n in 1..40 {
            let p = partition_for_key(b"foobar", n);
            assert!((0..n).contains(&p));
        }
    }

    /// More vectors printed by the Java client's `Utils.murmur2` (kafka-clients 3.7),
    /// covering every tail length (0-3 bytes after the 4-byte blocks).
    #[test]
    fn matches_java_client_for_every_tail_length() {
        let cases: [(&[u8], i32, i32); 7] = [
            (b"", 275_646_681, 9),
            (b"a", -1_563_381_124, 4),
            (b"ab", 316_155_434, 2),
            (b"abcde", 461_995_741, 1),
            (b"order-100", -955_961_047, 1),
            (b"user-1002", 494_644_997, 5),
            (b"hello world!!", 186_683_622, 6),
        ];
        for (key, hash, partition_of_12) in cases {
            assert_eq!(murmur2(key), hash, "{}", String::from_utf8_lossy(key));
            assert_eq!(partition_for_key(key, 12), partition_of_12);
        }
    }
}
