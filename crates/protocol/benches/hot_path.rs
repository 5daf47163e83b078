//! The codec on the small-request hot path (issue 16): decoding a one-record produce
//! request, checking its batch, and encoding a one-batch fetch response. `cargo bench -p
//! weir-protocol`; compare before and after a change on the same machine.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)] // bench code

use bytes::BytesMut;
use criterion::{black_box, criterion_group, criterion_main, Criterion};
use weir_protocol::codec::{Decode, Encode, Reader};
use weir_protocol::messages::fetch_response::{FetchableTopicResponse, PartitionData};
use weir_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use weir_protocol::messages::{FetchResponse, ProduceRequest};
use weir_protocol::record::batch::BatchHeader;
use weir_protocol::record::{BatchBuilder, Compression};

fn one_record_batch() -> bytes::Bytes {
    let value = [b'x'; 100];
    let mut b = BatchBuilder::new(Compression::None, 1_700_000_000_000);
    b.push(None, Some(&value), &[], 1_700_000_000_000).unwrap();
    b.build().unwrap()
}

fn hot_path(c: &mut Criterion) {
    let batch = one_record_batch();
    let produce = ProduceRequest {
        acks: -1,
        timeout_ms: 30_000,
        topic_data: vec![TopicProduceData {
            name: "orders".into(),
            partition_data: vec![PartitionProduceData {
                index: 0,
                records: Some(batch.clone()),
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    };
    let mut w = BytesMut::new();
    produce.encode(&mut w, 11).unwrap();
    let produce_bytes = w.freeze();
    c.bench_function("decode produce v11, one 100 B record", |b| {
        b.iter(|| {
            let mut r = Reader::new(black_box(produce_bytes.clone()));
            ProduceRequest::decode(&mut r, 11).unwrap()
        })
    });
    c.bench_function("validate a one-record batch (CRC)", |b| {
        b.iter(|| BatchHeader::validate(black_box(&batch), 1 << 20).unwrap())
    });
    let fetch = FetchResponse {
        responses: vec![FetchableTopicResponse {
            topic: "orders".into(),
            partitions: vec![PartitionData {
                partition_index: 0,
                high_watermark: 1_000,
                last_stable_offset: 1_000,
                records: Some(batch.clone()),
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    };
    c.bench_function("encode fetch response v12, one batch", |b| {
        b.iter(|| {
            let mut w = BytesMut::with_capacity(512);
            black_box(&fetch).encode(&mut w, 12).unwrap();
            w
        })
    });
}

criterion_group!(benches, hot_path);
criterion_main!(benches);
