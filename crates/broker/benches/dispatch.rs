//! Dispatch on the small-request hot path (issue 16): a one-record acks=1 produce and the
//! tailing fetch that reads it back, each served from its request frame to its response
//! frame (header decode, API routing, handler, partition append or read, response encode)
//! by a real broker with its data in a temporary directory, without a socket.
//! `cargo bench -p weir-broker --bench dispatch`; compare before and after a change on the
//! same machine.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)] // bench code

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{black_box, criterion_group, criterion_main, Criterion};
use weir_broker::state::BrokerState;
use weir_broker::{serve_frame, Broker, BrokerConfig};
use weir_client::{admin, Connection};
use weir_protocol::codec::{Decode, Encode, Reader};
use weir_protocol::frame::encode_request;
use weir_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use weir_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use weir_protocol::messages::{
    ApiKey, FetchRequest, ProduceRequest, ProduceResponse, RequestHeader,
};
use weir_protocol::record::{BatchBuilder, Compression};

const TOPIC: &str = "bench";

/// A request frame for `body` at `version`.
fn frame(api: ApiKey, version: i16, body: &impl Encode) -> Bytes {
    let header = RequestHeader {
        request_api_key: api as i16,
        request_api_version: version,
        correlation_id: 1,
        client_id: Some("bench".into()),
        ..Default::default()
    };
    encode_request(&header, api.request_header_version(version), body, version)
        .unwrap()
        .freeze()
}

fn produce_frame() -> Bytes {
    let mut b = BatchBuilder::new(Compression::None, 1_700_000_000_000);
    b.push(None, Some(&[b'x'; 100]), &[], 1_700_000_000_000)
        .unwrap();
    let request = ProduceRequest {
        acks: 1,
        timeout_ms: 30_000,
        topic_data: vec![TopicProduceData {
            name: TOPIC.into(),
            partition_data: vec![PartitionProduceData {
                index: 0,
                records: Some(b.build().unwrap()),
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    };
    frame(ApiKey::Produce, 11, &request)
}

fn fetch_frame(offset: i64) -> Bytes {
    let request = FetchRequest {
        replica_id: -1,
        max_wait_ms: 0,
        min_bytes: 1,
        max_bytes: 1 << 20,
        session_epoch: -1,
        topics: vec![FetchTopic {
            topic: TOPIC.into(),
            partitions: vec![FetchPartition {
                partition: 0,
                fetch_offset: offset,
                partition_max_bytes: 1 << 20,
                log_start_offset: -1,
                current_leader_epoch: -1,
                last_fetched_epoch: -1,
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    };
    frame(ApiKey::Fetch, 12, &request)
}

/// How long serving `frame` `iters` times takes, inside one `block_on`.
fn serve_times(
    rt: &tokio::runtime::Runtime,
    state: &Arc<BrokerState>,
    frame: &Bytes,
    iters: u64,
) -> Duration {
    rt.block_on(async {
        let start = Instant::now();
        for _ in 0..iters {
            black_box(serve_frame(state, frame.clone()).await.unwrap());
        }
        start.elapsed()
    })
}

fn dispatch(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let broker = rt.block_on(async {
        let config = BrokerConfig {
            data_dir: dir.path().to_path_buf(),
            listen: "127.0.0.1:0".parse().unwrap(),
            ..BrokerConfig::default()
        };
        let broker = Broker::start(config).await.unwrap();
        let conn = Connection::connect(&broker.local_addr.to_string(), "bench")
            .await
            .unwrap();
        admin::create_topic(&conn, TOPIC, 1, 1, &[]).await.unwrap();
        // Until the partition is led here, a produce is refused.
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let answer = serve_frame(broker.state(), produce_frame()).await.unwrap();
            // Size, correlation id and (flexible versions) the header's empty tagged fields.
            let body = if ApiKey::Produce.response_header_version(11) >= 1 {
                9
            } else {
                8
            };
            let mut r = Reader::new(answer.freeze().slice(body..));
            let response = ProduceResponse::decode(&mut r, 11).unwrap();
            if response.responses[0].partition_responses[0].error_code == 0 {
                break;
            }
            assert!(Instant::now() < deadline, "the topic never became writable");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        broker
    });
    let state = broker.state().clone();
    let produce = produce_frame();
    c.bench_function("dispatch produce v11 acks=1, one 100 B record", |b| {
        b.iter_custom(|iters| serve_times(&rt, &state, &produce, iters))
    });
    // The last record written: a consumer reading at the tail.
    let tail = state.leader(TOPIC, 0).unwrap().high_watermark() - 1;
    let fetch = fetch_frame(tail);
    c.bench_function("dispatch fetch v12 at the tail, one 100 B record", |b| {
        b.iter_custom(|iters| serve_times(&rt, &state, &fetch, iters))
    });
    rt.block_on(broker.shutdown());
}

criterion_group!(benches, dispatch);
criterion_main!(benches);
