//! Property: whatever a producer pushes into a [`BatchBuilder`] comes back out of
//! [`RecordBatch::records`] unchanged, for every codec.

use bytes::Bytes;
use proptest::prelude::*;

use super::CODECS;
use crate::record::batch::{set_log_append_time, BatchHeader};
use crate::record::{BatchBuilder, Batches, Compression, RecordBatch};

/// One record as a producer hands it over.
#[derive(Debug, Clone)]
struct Input {
    key: Option<Vec<u8>>,
    value: Option<Vec<u8>>,
    headers: Vec<(String, Option<Vec<u8>>)>,
    timestamp: i64,
}

fn bytes_opt(max: usize) -> impl Strategy<Value = Option<Vec<u8>>> {
    prop::option::weighted(0.8, prop::collection::vec(any::<u8>(), 0..max))
}

fn input() -> impl Strategy<Value = Input> {
    // Few header keys, so duplicates are common; some keys are not ASCII.
    let header = (
        prop::sample::select(vec!["a", "b", "trace-id", "ключ", ""]),
        bytes_opt(16),
    )
        .prop_map(|(k, v)| (k.to_owned(), v));
    (
        bytes_opt(40),
        bytes_opt(300),
        prop::collection::vec(header, 0..5),
        // Around a realistic base, including deltas below it and extremes.
        prop_oneof![
            8 => 1_700_000_000_000i64 - 1000..1_700_000_000_000 + 1_000_000,
            1 => any::<i64>(),
        ],
    )
        .prop_map(|(key, value, headers, timestamp)| Input {
            key,
            value,
            headers,
            timestamp,
        })
}

fn build(codec: Compression, base_ts: i64, inputs: &[Input], pid: i64) -> Bytes {
    let mut b = BatchBuilder::new(codec, base_ts);
    b.set_producer(pid, 3, 17);
    for r in inputs {
        let headers: Vec<(&str, Option<&[u8]>)> = r
            .headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_deref()))
            .collect();
        b.push(r.key.as_deref(), r.value.as_deref(), &headers, r.timestamp)
            .unwrap();
    }
    assert_eq!(b.record_count(), inputs.len() as i32);
    b.build().unwrap()
}

fn check(batch: &RecordBatch, inputs: &[Input], log_append_time: Option<i64>) {
    let records = batch.records(64 << 20).unwrap();
    assert_eq!(records.len(), inputs.len());
    for (i, (rec, want)) in records.iter().zip(inputs).enumerate() {
        assert_eq!(rec.offset, i as i64);
        assert_eq!(rec.offset_delta, i as i32);
        assert_eq!(rec.timestamp, log_append_time.unwrap_or(want.timestamp));
        assert_eq!(rec.key.as_deref(), want.key.as_deref());
        assert_eq!(rec.value.as_deref(), want.value.as_deref());
        let headers: Vec<(&str, Option<&[u8]>)> = rec
            .headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_deref()))
            .collect();
        let want_headers: Vec<(&str, Option<&[u8]>)> = want
            .headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_deref()))
            .collect();
        assert_eq!(headers, want_headers);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn builder_then_parse_returns_the_inputs(
        inputs in prop::collection::vec(input(), 1..24),
        codec in prop::sample::select(CODECS.to_vec()),
        pid in prop_oneof![Just(-1i64), 0..i64::MAX],
    ) {
        let base_ts = inputs[0].timestamp;
        let bytes = build(codec, base_ts, &inputs, pid);
        let batch = RecordBatch::parse(bytes.clone()).unwrap();
        let h = batch.header();
        prop_assert_eq!(batch.compression(), codec);
        prop_assert_eq!(h.magic, 2);
        prop_assert_eq!(h.base_offset, 0);
        prop_assert_eq!(h.record_count, inputs.len() as i32);
        prop_assert_eq!(h.last_offset_delta, inputs.len() as i32 - 1);
        prop_assert_eq!(h.base_timestamp, base_ts);
        prop_assert_eq!(h.max_timestamp, inputs.iter().map(|r| r.timestamp).max().unwrap());
        prop_assert_eq!((h.producer_id, h.producer_epoch, h.base_sequence), (pid, 3, 17));
        prop_assert_eq!(batch.size_in_bytes(), bytes.len());
        check(&batch, &inputs, None);

        // The same bytes, seen through the batch iterator.
        let all: Vec<_> = Batches::new(bytes).collect();
        prop_assert_eq!(all.len(), 1);
        prop_assert_eq!(all[0].as_ref().unwrap(), &batch);
    }

    #[test]
    fn log_append_time_replaces_every_timestamp(
        inputs in prop::collection::vec(input(), 1..8),
        codec in prop::sample::select(CODECS.to_vec()),
        append_time in any::<i64>(),
    ) {
        let mut bytes = build(codec, inputs[0].timestamp, &inputs, -1).to_vec();
        let total = BatchHeader::validate(&bytes, usize::MAX).unwrap().total_len();
        set_log_append_time(&mut bytes, total, append_time);
        let batch = RecordBatch::parse(Bytes::from(bytes)).unwrap();
        check(&batch, &inputs, Some(append_time));
    }
}

#[test]
fn several_batches_in_one_buffer() {
    let mut all = Vec::new();
    let mut expected = Vec::new();
    for (i, codec) in CODECS.into_iter().enumerate() {
        let inputs = vec![
            Input {
                key: Some(vec![i as u8]),
                value: Some(vec![7; 100 * i]),
                headers: vec![],
                timestamp: i as i64,
            };
            i + 1
        ];
        let bytes = build(codec, 0, &inputs, -1);
        let mut b = bytes.to_vec();
        crate::record::batch::set_base_offset(&mut b, 10 * i as i64);
        all.extend_from_slice(&b);
        expected.push((10 * i as i64, inputs));
    }
    let batches: Vec<RecordBatch> = Batches::new(Bytes::from(all))
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(batches.len(), CODECS.len());
    for (batch, (base, inputs)) in batches.iter().zip(&expected) {
        assert_eq!(batch.base_offset(), *base);
        let records = batch.records(1 << 20).unwrap();
        assert_eq!(records.len(), inputs.len());
        assert_eq!(
            records.last().unwrap().offset,
            base + inputs.len() as i64 - 1
        );
    }
}

#[test]
fn empty_builder_is_refused() {
    assert!(BatchBuilder::new(Compression::None, 0).build().is_err());
}

#[test]
fn large_values_span_many_codec_blocks() {
    // 300 KiB values cross lz4's 64 KiB and snappy's 32 KiB blocks.
    let value: Vec<u8> = (0..300 * 1024).map(|i| (i % 13) as u8).collect();
    let inputs = vec![
        Input {
            key: None,
            value: Some(value),
            headers: vec![("h".to_owned(), None)],
            timestamp: 5,
        };
        3
    ];
    for codec in CODECS {
        let batch = RecordBatch::parse(build(codec, 5, &inputs, -1)).unwrap();
        check(&batch, &inputs, None);
    }
}

#[test]
fn check_records_accepts_built_batches_and_rejects_lies() {
    use crate::record::{BatchBuilder, Compression, RecordBatch};
    for codec in [
        Compression::None,
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
        Compression::Zstd,
    ] {
        let mut b = BatchBuilder::new(codec, 1000);
        for i in 0..50u32 {
            let v = i.to_be_bytes();
            b.push(
                Some(b"k"),
                Some(&v),
                &[("h", Some(b"x")), ("h", None)],
                1000 + i64::from(i),
            )
            .unwrap();
        }
        let bytes = b.build().unwrap();
        let batch = RecordBatch::parse(bytes.clone()).unwrap();
        batch.check_records(1 << 20).unwrap();
        assert_eq!(batch.records(1 << 20).unwrap().len(), 50);
    }
    // A record whose offset delta is not its position is refused (uncompressed batch with
    // one record claiming delta 5; the CRC is fixed up so only the records are wrong).
    let mut b = BatchBuilder::new(Compression::None, 0);
    b.push(None, Some(b"v"), &[], 0).unwrap();
    let mut raw = b.build().unwrap().to_vec();
    // Record layout after the 61-byte header: length varint, attributes, timestamp delta
    // varint (0), offset delta varint (0 -> zigzag 0 at index 64).
    raw[64] = 10; // zigzag(5)
    let crc = crc32c::crc32c(&raw[21..]);
    raw[17..21].copy_from_slice(&crc.to_be_bytes());
    let batch = RecordBatch::parse(bytes::Bytes::from(raw)).unwrap();
    assert!(batch.check_records(1 << 20).is_err());
}
