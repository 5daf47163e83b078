//! Batches as the Java client (kafka-clients 3.7 `MemoryRecordsBuilder`, producer id 7,
//! epoch 2, base sequence 11, partition leader epoch 5, base offset 100) writes them, and
//! the transaction marker `MemoryRecords.withEndTransactionMarker` writes.

use bytes::Bytes;

use super::{hex, CODECS};
use crate::record::batch::{set_base_offset, set_partition_leader_epoch};
use crate::record::{
    end_txn_marker_batch, BatchBuilder, Compression, ControlRecordType, EndTxnMarker, Record,
    RecordBatch,
};

const JAVA_NONE: &str = "00000000000000640000005d00000005023ebe0dd00000000000020000018bcfe568000000018bcfe56805000000000000000700020000000b0000000328000000046b3104763106026802610268010278001a000a02010e76616c75652d320010000504046b330100";
const JAVA_GZIP: &str = "00000000000000640000007100000005024d6d19a50001000000020000018bcfe568000000018bcfe56805000000000000000700020000000b000000031f8b08000000000000ffd360606060c9366429336463ca604a64ca6064aa609062e06262e42b4bcc294dd535621060606561c936666400009a3d16e02c000000";
const JAVA_SNAPPY: &str = "0000000000000064000000730000000502a38d62d10002000000020000018bcfe568000000018bcfe56805000000000000000700020000000b0000000382534e415050590000000001000000010000002e2cac28000000046b3104763106026802610268010278001a000a02010e76616c75652d320010000504046b330100";
const JAVA_LZ4: &str = "00000000000000640000006c0000000502c85786c90003000000020000018bcfe568000000018bcfe56805000000000000000700020000000b0000000304224d186040822c00008028000000046b3104763106026802610268010278001a000a02010e76616c75652d320010000504046b33010000000000";
const JAVA_ZSTD: &str = "00000000000000640000006900000005028e4e06140004000000020000018bcfe568000000018bcfe56805000000000000000700020000000b0000000328b52ffd005860010028000000046b3104763106026802610268010278001a000a02010e76616c75652d320010000504046b330100010000";
/// withEndTransactionMarker(offset 1000, ts T, leader epoch 3, pid 42, epoch 4, COMMIT, coordinator epoch 9).
const JAVA_COMMIT_MARKER: &str = "00000000000003e8000000420000000302fd77a4930030000000000000018bcfe568000000018bcfe56800000000000000002a0004ffffffff000000012000000008000000010c00000000000900";

/// The records every Java batch above holds.
const T: i64 = 1_700_000_000_000;

fn b(s: &str) -> Option<Bytes> {
    Some(Bytes::copy_from_slice(s.as_bytes()))
}

fn expected() -> Vec<Record> {
    vec![
        Record {
            offset: 100,
            timestamp: T,
            offset_delta: 0,
            timestamp_delta: 0,
            attributes: 0,
            key: b("k1"),
            value: b("v1"),
            headers: vec![
                ("h".to_owned(), b("a")),
                ("h".to_owned(), None),
                ("x".to_owned(), b("")),
            ],
        },
        Record {
            offset: 101,
            timestamp: T + 5,
            offset_delta: 1,
            timestamp_delta: 5,
            attributes: 0,
            key: None,
            value: b("value-2"),
            headers: vec![],
        },
        Record {
            offset: 102,
            timestamp: T - 3,
            offset_delta: 2,
            timestamp_delta: -3,
            attributes: 0,
            key: b("k3"),
            value: None,
            headers: vec![],
        },
    ]
}

#[test]
fn java_batches_parse_for_every_codec() {
    let java = [JAVA_NONE, JAVA_GZIP, JAVA_SNAPPY, JAVA_LZ4, JAVA_ZSTD];
    for (codec, bytes) in CODECS.into_iter().zip(java) {
        let batch = RecordBatch::parse(Bytes::from(hex(bytes))).unwrap();
        let h = batch.header();
        assert_eq!(batch.compression(), codec);
        assert_eq!((h.base_offset, h.partition_leader_epoch), (100, 5));
        assert_eq!(
            (h.producer_id, h.producer_epoch, h.base_sequence),
            (7, 2, 11)
        );
        assert_eq!((h.record_count, h.last_offset_delta), (3, 2));
        assert_eq!((h.base_timestamp, h.max_timestamp), (T, T + 5));
        assert!(!batch.is_control() && !batch.is_transactional());
        assert_eq!(batch.records(1 << 20).unwrap(), expected(), "{codec:?}");
    }
}

#[test]
fn java_snappy_is_xerial_framed() {
    let batch = RecordBatch::parse(Bytes::from(hex(JAVA_SNAPPY))).unwrap();
    assert!(batch
        .records_section()
        .starts_with(&crate::record::compression::XERIAL_MAGIC));
}

fn build_like_java(codec: Compression) -> Bytes {
    let mut b = BatchBuilder::new(codec, T);
    b.set_producer(7, 2, 11).set_partition_leader_epoch(5);
    let headers: [(&str, Option<&[u8]>); 3] = [("h", Some(b"a")), ("h", None), ("x", Some(b""))];
    b.push(Some(b"k1"), Some(b"v1"), &headers, T).unwrap();
    b.push(None, Some(b"value-2"), &[], T + 5).unwrap();
    b.push(Some(b"k3"), None, &[], T - 3).unwrap();
    let mut bytes = b.build().unwrap().to_vec();
    set_base_offset(&mut bytes, 100);
    Bytes::from(bytes)
}

#[test]
fn builder_matches_java_bytes_when_uncompressed() {
    assert_eq!(
        build_like_java(Compression::None),
        Bytes::from(hex(JAVA_NONE))
    );
}

#[test]
fn builder_output_decodes_like_java_for_every_codec() {
    for codec in CODECS {
        let batch = RecordBatch::parse(build_like_java(codec)).unwrap();
        assert_eq!(batch.records(1 << 20).unwrap(), expected(), "{codec:?}");
    }
}

#[test]
fn java_commit_marker_parses_and_matches_ours() {
    let java = Bytes::from(hex(JAVA_COMMIT_MARKER));
    let batch = RecordBatch::parse(java.clone()).unwrap();
    assert!(batch.is_control() && batch.is_transactional());
    assert_eq!(batch.base_offset(), 1000);
    let key = batch.control_key(1 << 20).unwrap().unwrap();
    assert_eq!((key.version, key.kind), (0, ControlRecordType::Commit));
    let records = batch.records(1 << 20).unwrap();
    let marker = EndTxnMarker::parse(records[0].value.as_ref().unwrap()).unwrap();
    assert_eq!(marker.coordinator_epoch, 9);

    let mut ours = end_txn_marker_batch(42, 4, true, 9, T).unwrap().to_vec();
    set_base_offset(&mut ours, 1000);
    set_partition_leader_epoch(&mut ours, 3);
    assert_eq!(Bytes::from(ours), java);
}
