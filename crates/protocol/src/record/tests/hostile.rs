//! Hostile and broken input: every failure is an `Err`, never a panic, and nothing is
//! allocated from a size the bytes cannot back.

use bytes::Bytes;

use super::{batch_with_section, fix_crc, CODECS};
use crate::record::compression::{compress, decompress};
use crate::record::{BatchBuilder, BatchError, Batches, Compression, RecordBatch};

fn sample_batch(codec: Compression) -> Bytes {
    let mut b = BatchBuilder::new(codec, 1000);
    for i in 0..5u8 {
        let headers: [(&str, Option<&[u8]>); 2] = [("k", Some(&[i])), ("k", None)];
        b.push(Some(&[i; 3]), Some(&[i; 40]), &headers, 1000 + i64::from(i))
            .unwrap();
    }
    b.build().unwrap()
}

#[test]
fn flipped_byte_inside_the_crc_is_detected() {
    for codec in CODECS {
        let good = sample_batch(codec);
        for at in 21..good.len() {
            let mut bad = good.to_vec();
            bad[at] ^= 0x01;
            let got = RecordBatch::parse(Bytes::from(bad));
            // Header fields checked before the CRC (codec, counts) may fail first.
            if at >= 61 {
                assert!(
                    matches!(got, Err(BatchError::CrcMismatch { .. })),
                    "{codec:?}: flip at {at} not caught"
                );
            } else {
                assert!(got.is_err(), "{codec:?}: flip at {at} not caught");
            }
        }
    }
}

#[test]
fn flipped_byte_outside_the_crc_is_allowed() {
    let mut bytes = sample_batch(Compression::None).to_vec();
    bytes[3] ^= 0x40; // base offset
    bytes[14] ^= 0x40; // partition leader epoch
    assert!(RecordBatch::parse(Bytes::from(bytes)).is_ok());
}

#[test]
fn every_truncation_is_an_error_and_batches_stop_cleanly() {
    for codec in CODECS {
        let good = sample_batch(codec);
        for cut in 0..good.len() {
            let prefix = good.slice(..cut);
            assert!(
                RecordBatch::parse(prefix.clone()).is_err(),
                "{codec:?} cut {cut}"
            );
            let mut it = Batches::new(prefix);
            assert!(
                it.next().is_none(),
                "{codec:?} cut {cut}: partial batch yielded"
            );
            assert_eq!(it.remaining(), cut);
        }
    }
}

#[test]
fn batches_stop_at_a_trailing_partial_batch() {
    let one = sample_batch(Compression::Lz4);
    let two = sample_batch(Compression::None);
    let mut buf = one.to_vec();
    buf.extend_from_slice(&two);
    buf.extend_from_slice(&two[..two.len() - 1]);
    let mut it = Batches::new(Bytes::from(buf));
    assert_eq!(it.next().unwrap().unwrap().as_bytes(), &one);
    assert_eq!(it.next().unwrap().unwrap().as_bytes(), &two);
    assert!(it.next().is_none());
    assert_eq!(it.position(), one.len() + two.len());
    assert_eq!(it.remaining(), two.len() - 1);
    assert!(it.next().is_none());
}

#[test]
fn batches_report_a_bad_length_or_crc_then_stop() {
    let good = sample_batch(Compression::None);
    let mut short_len = good.to_vec();
    short_len[8..12].copy_from_slice(&10i32.to_be_bytes());
    let mut it = Batches::new(Bytes::from(short_len));
    assert_eq!(it.next(), Some(Err(BatchError::InvalidLength(10))));
    assert!(it.next().is_none());

    let mut bad_crc = good.to_vec();
    bad_crc[17] ^= 0xff;
    bad_crc.extend_from_slice(&good);
    let mut it = Batches::new(Bytes::from(bad_crc));
    assert!(matches!(
        it.next(),
        Some(Err(BatchError::CrcMismatch { .. }))
    ));
    assert!(it.next().is_none());
    assert_eq!(it.position(), 0);

    assert!(Batches::new(Bytes::new()).next().is_none());
}

#[test]
fn record_count_beyond_the_bytes_is_refused() {
    let good = sample_batch(Compression::None);
    for count in [6, 1000, i32::MAX] {
        let mut bytes = good.to_vec();
        bytes[23..27].copy_from_slice(&(count - 1).to_be_bytes());
        bytes[57..61].copy_from_slice(&count.to_be_bytes());
        fix_crc(&mut bytes);
        let batch = RecordBatch::parse(Bytes::from(bytes)).unwrap();
        assert!(batch.records(1 << 20).is_err(), "count {count}");
    }
    // Fewer records than the bytes hold: the rest is an error too.
    let mut bytes = good.to_vec();
    bytes[57..61].copy_from_slice(&4i32.to_be_bytes());
    fix_crc(&mut bytes);
    let batch = RecordBatch::parse(Bytes::from(bytes)).unwrap();
    assert!(matches!(
        batch.records(1 << 20),
        Err(BatchError::CorruptRecords(_))
    ));
}

#[test]
fn lying_lengths_inside_a_record_are_refused() {
    // length 6, attrs, ts delta 0, offset delta 0, key len, value len -1, header count
    let cases: [(&str, Vec<u8>); 5] = [
        (
            "huge key",
            vec![0x0c, 0, 0, 0, 0xfe, 0xff, 0xff, 0xff, 0x0f, 0x01, 0x00],
        ),
        ("key past record", vec![0x0c, 0, 0, 0, 0x10, 0x01, 0x00]),
        (
            "huge header count",
            vec![0x0e, 0, 0, 0, 0x01, 0x01, 0xfe, 0xff, 0xff, 0xff, 0x0f],
        ),
        (
            "negative record length",
            vec![0x01, 0, 0, 0, 0x01, 0x01, 0x00],
        ),
        (
            "record shorter than fields",
            vec![0x08, 0, 0, 0, 0x01, 0x01, 0x00, 0x00],
        ),
    ];
    for (what, section) in cases {
        let batch = RecordBatch::parse(batch_with_section(Compression::None, 1, &section)).unwrap();
        assert!(
            matches!(batch.records(1 << 20), Err(BatchError::CorruptRecords(_))),
            "{what}"
        );
    }
    // A negative header key length and an over-long varint.
    for section in [
        vec![0x0e, 0, 0, 0, 0x01, 0x01, 0x02, 0x01, 0x01, 0x00],
        vec![
            0x0e, 0, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01,
        ],
    ] {
        let batch = RecordBatch::parse(batch_with_section(Compression::None, 1, &section)).unwrap();
        assert!(batch.records(1 << 20).is_err());
    }
}

#[test]
fn mutated_records_never_panic() {
    // Every byte of every codec's records section, changed and re-CRC'd: Ok or Err.
    for codec in CODECS {
        let good = sample_batch(codec);
        for at in 61..good.len() {
            for x in [0x01u8, 0x80, 0xff] {
                let mut bytes = good.to_vec();
                bytes[at] ^= x;
                fix_crc(&mut bytes);
                let batch = RecordBatch::parse(Bytes::from(bytes)).unwrap();
                let _ = batch.records(1 << 16);
            }
        }
    }
}

#[test]
fn unknown_codec_and_magic_are_refused() {
    let mut bytes = sample_batch(Compression::None).to_vec();
    bytes[22] |= 0x07;
    fix_crc(&mut bytes);
    assert_eq!(
        RecordBatch::parse(Bytes::from(bytes)),
        Err(BatchError::UnknownCompression(7))
    );
    let mut bytes = sample_batch(Compression::None).to_vec();
    bytes[16] = 1;
    assert_eq!(
        RecordBatch::parse(Bytes::from(bytes)),
        Err(BatchError::UnsupportedMagic(1))
    );
}

/// `n` copies of one compressed chunk of 16 MiB of zeros: concatenated frames or members
/// that decode to `n * 16` MiB.
fn bomb(codec: Compression, n: usize) -> Vec<u8> {
    let zeros = vec![0u8; 16 << 20];
    let mut one = Vec::new();
    compress(codec, &zeros, &mut one).unwrap();
    let mut out = Vec::with_capacity(one.len() * n);
    for _ in 0..n {
        out.extend_from_slice(&one);
    }
    out
}

#[test]
fn decompression_bombs_are_refused_at_the_limit() {
    const LIMIT: usize = 1 << 20;
    // 1 GiB of zeros, a few hundred KiB compressed.
    for codec in [Compression::Zstd, Compression::Gzip, Compression::Lz4] {
        let section = bomb(codec, 64);
        assert!(
            section.len() < 8 << 20,
            "{codec:?}: {} bytes",
            section.len()
        );
        assert_eq!(
            decompress(codec, &section, LIMIT),
            Err(BatchError::OutputTooLarge { limit: LIMIT }),
            "{codec:?}"
        );
        let batch = RecordBatch::parse(batch_with_section(codec, 1, &section)).unwrap();
        assert_eq!(
            batch.records(LIMIT),
            Err(BatchError::OutputTooLarge { limit: LIMIT }),
            "{codec:?}"
        );
    }
    // Snappy (xerial): 16 MiB in 32 KiB blocks, refused at the block that crosses 1 MiB.
    let section = bomb(Compression::Snappy, 1);
    assert_eq!(
        decompress(Compression::Snappy, &section, LIMIT),
        Err(BatchError::OutputTooLarge { limit: LIMIT })
    );
    // Raw snappy declares its length up front: refused before decoding anything.
    let raw = snap::raw::Encoder::new()
        .compress_vec(&vec![0u8; 16 << 20])
        .unwrap();
    assert_eq!(
        decompress(Compression::Snappy, &raw, LIMIT),
        Err(BatchError::OutputTooLarge { limit: LIMIT })
    );
}
