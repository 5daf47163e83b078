//! Cross-module tests of the record layer: round trips through the builder and parser
//! for every codec, batches built by the Java client, and hostile input (bad CRCs,
//! truncation, lying counts, decompression bombs).

mod golden;
mod hostile;
mod roundtrip;

use bytes::Bytes;

use super::batch::{Compression, CRC_START, HEADER_LEN};

/// Every codec Kafka defines.
const CODECS: [Compression; 5] = [
    Compression::None,
    Compression::Gzip,
    Compression::Snappy,
    Compression::Lz4,
    Compression::Zstd,
];

/// Decodes a lowercase hex string.
fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// Recomputes the CRC of the single batch in `bytes` after a test edited it.
fn fix_crc(bytes: &mut [u8]) {
    let crc = crc32c::crc32c(&bytes[CRC_START..]);
    bytes[17..21].copy_from_slice(&crc.to_be_bytes());
}

/// A batch around an arbitrary records section, with a correct length and CRC.
fn batch_with_section(codec: Compression, count: i32, section: &[u8]) -> Bytes {
    let mut b = vec![0u8; HEADER_LEN];
    b[8..12].copy_from_slice(&((HEADER_LEN - 12 + section.len()) as i32).to_be_bytes());
    b[12..16].copy_from_slice(&(-1i32).to_be_bytes());
    b[16] = 2;
    b[21..23].copy_from_slice(&i16::from(codec.id()).to_be_bytes());
    b[23..27].copy_from_slice(&(count - 1).max(0).to_be_bytes());
    b[43..51].copy_from_slice(&(-1i64).to_be_bytes());
    b[51..53].copy_from_slice(&(-1i16).to_be_bytes());
    b[53..57].copy_from_slice(&(-1i32).to_be_bytes());
    b[57..61].copy_from_slice(&count.to_be_bytes());
    b.extend_from_slice(section);
    fix_crc(&mut b);
    Bytes::from(b)
}
