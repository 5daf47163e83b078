//! Broker behaviour through real sockets on loopback: request ordering, acks, restarts and
//! recovery, hostile frames.

#![allow(clippy::unwrap_used)]

mod common;

use std::io::Write;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use weir_client::{admin, consumer, producer, Connection};

use common::{batch, start};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelined_produces_on_one_connection_keep_their_order() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start(dir.path()).await;
    let addr = broker.local_addr.to_string();
    let conn = Connection::connect(&addr, "t").await.unwrap();
    admin::create_topic(&conn, "order", 1, 1, &[])
        .await
        .unwrap();
    let mut pending = Vec::new();
    for i in 0..200 {
        let acks = if i % 2 == 0 { -1 } else { 1 };
        pending.push(
            producer::send(&conn, "order", 0, batch(&format!("b{i}"), 3), acks)
                .await
                .unwrap(),
        );
    }
    let mut offsets = Vec::new();
    for p in pending {
        offsets.push(p.await.unwrap());
    }
    let expected: Vec<i64> = (0..200).map(|i| i * 3).collect();
    assert_eq!(offsets, expected);
    let got = consumer::fetch(&conn, "order", 0, 0, 100, 1 << 20)
        .await
        .unwrap();
    let values: Vec<String> = got
        .records
        .iter()
        .map(|r| String::from_utf8_lossy(r.value.as_deref().unwrap()).into_owned())
        .collect();
    assert_eq!(values[0], "b0-0");
    assert_eq!(values[5], "b1-2");
    assert_eq!(values.len(), 600);
    broker.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acks_zero_gets_no_response_and_the_next_request_is_answered() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start(dir.path()).await;
    let conn = Connection::connect(&broker.local_addr.to_string(), "t")
        .await
        .unwrap();
    admin::create_topic(&conn, "a0", 1, 1, &[]).await.unwrap();
    assert_eq!(
        producer::send(&conn, "a0", 0, batch("x", 2), 0)
            .await
            .unwrap()
            .await
            .unwrap(),
        -1
    );
    // If the broker had answered the acks=0 request, this response would be mismatched.
    let end = admin::list_offset(&conn, "a0", 0, -1).await.unwrap();
    assert_eq!(end, 2);
    broker.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fetch_long_poll_is_woken_by_a_produce() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start(dir.path()).await;
    let addr = broker.local_addr.to_string();
    let conn = Connection::connect(&addr, "t").await.unwrap();
    admin::create_topic(&conn, "lp", 1, 1, &[]).await.unwrap();
    let waiter = tokio::spawn(async move {
        let c = Connection::connect(&addr, "w").await.unwrap();
        consumer::fetch(&c, "lp", 0, 0, 30_000, 1 << 20)
            .await
            .unwrap()
    });
    producer::send(&conn, "lp", 0, batch("late", 1), 1)
        .await
        .unwrap()
        .await
        .unwrap();
    let got = tokio::time::timeout(Duration::from_secs(20), waiter)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got.records.len(), 1);
    broker.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_keeps_data_and_garbage_after_the_last_batch_is_cut() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start(dir.path()).await;
    let conn = Connection::connect(&broker.local_addr.to_string(), "t")
        .await
        .unwrap();
    admin::create_topic(&conn, "keep", 1, 1, &[]).await.unwrap();
    for i in 0..10 {
        producer::send(&conn, "keep", 0, batch(&format!("k{i}"), 10), -1)
            .await
            .unwrap()
            .await
            .unwrap();
    }
    drop(conn);
    broker.shutdown().await;

    // Garbage after the last batch, as a torn write would leave.
    let segment = dir.path().join("keep-0").join("00000000000000000000.log");
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&segment)
        .unwrap();
    f.write_all(&[0xde; 1000]).unwrap();
    drop(f);

    let broker = start(dir.path()).await;
    let conn = Connection::connect(&broker.local_addr.to_string(), "t")
        .await
        .unwrap();
    assert_eq!(admin::list_offset(&conn, "keep", 0, -1).await.unwrap(), 100);
    let mut offset = 0;
    let mut values = Vec::new();
    while offset < 100 {
        let f = consumer::fetch(&conn, "keep", 0, offset, 100, 1 << 20)
            .await
            .unwrap();
        values.extend(f.records.iter().map(|r| r.value.clone().unwrap()));
        offset = f.next_offset;
    }
    assert_eq!(values.len(), 100);
    assert_eq!(&values[99][..], b"k9-9");
    // New appends continue densely after the cut.
    let next = producer::send(&conn, "keep", 0, batch("after", 1), -1)
        .await
        .unwrap()
        .await
        .unwrap();
    assert_eq!(next, 100);
    broker.shutdown().await;
}

/// Sends raw bytes on a fresh connection and reports whether the broker closed it.
async fn closes_after(addr: &str, bytes: &[u8]) -> bool {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(bytes).await.unwrap();
    let mut buf = [0u8; 64];
    matches!(
        tokio::time::timeout(Duration::from_secs(10), s.read(&mut buf)).await,
        Ok(Ok(0)) | Ok(Err(_))
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_frames_close_only_their_connection() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start(dir.path()).await;
    let addr = broker.local_addr.to_string();
    let good = Connection::connect(&addr, "good").await.unwrap();
    admin::create_topic(&good, "safe", 1, 1, &[]).await.unwrap();
    producer::send(&good, "safe", 0, batch("s", 5), -1)
        .await
        .unwrap()
        .await
        .unwrap();

    // A length prefix far above socket.request.max.bytes.
    assert!(closes_after(&addr, &0x7fff_ffffu32.to_be_bytes()).await);
    // A negative length.
    assert!(closes_after(&addr, &(-5i32).to_be_bytes()).await);
    // An unknown API key (9999), header v1.
    let mut frame = vec![0, 0, 0, 10];
    frame.extend_from_slice(&9999i16.to_be_bytes());
    frame.extend_from_slice(&0i16.to_be_bytes());
    frame.extend_from_slice(&7i32.to_be_bytes());
    frame.extend_from_slice(&(-1i16).to_be_bytes());
    assert!(closes_after(&addr, &frame).await);
    // A Metadata v1 request whose topic array claims 2^31-1 entries in a 12-byte body.
    let mut frame = vec![0, 0, 0, 14];
    frame.extend_from_slice(&3i16.to_be_bytes());
    frame.extend_from_slice(&1i16.to_be_bytes());
    frame.extend_from_slice(&8i32.to_be_bytes());
    frame.extend_from_slice(&(-1i16).to_be_bytes());
    frame.extend_from_slice(&i32::MAX.to_be_bytes());
    assert!(closes_after(&addr, &frame).await);

    // The well-behaved connection still works and nothing stored was lost.
    producer::send(&good, "safe", 0, batch("t", 5), -1)
        .await
        .unwrap()
        .await
        .unwrap();
    let f = consumer::fetch(&good, "safe", 0, 0, 100, 1 << 20)
        .await
        .unwrap();
    assert_eq!(f.records.len(), 10);
    broker.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_versions_too_new_gets_a_v0_unsupported_version_answer() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start(dir.path()).await;
    let mut s = TcpStream::connect(broker.local_addr).await.unwrap();
    // ApiVersions v99 with a flexible (v2) header: null client id, no tagged fields.
    let mut frame = vec![0, 0, 0, 11];
    frame.extend_from_slice(&18i16.to_be_bytes());
    frame.extend_from_slice(&99i16.to_be_bytes());
    frame.extend_from_slice(&42i32.to_be_bytes());
    frame.extend_from_slice(&(-1i16).to_be_bytes());
    frame.push(0);
    s.write_all(&frame).await.unwrap();
    let mut size = [0u8; 4];
    s.read_exact(&mut size).await.unwrap();
    let mut body = vec![0u8; u32::from_be_bytes(size) as usize];
    s.read_exact(&mut body).await.unwrap();
    assert_eq!(&body[..4], &42i32.to_be_bytes()); // correlation id, header v0
    assert_eq!(&body[4..6], &35i16.to_be_bytes()); // UNSUPPORTED_VERSION
    let count = i32::from_be_bytes(body[6..10].try_into().unwrap());
    assert!(count >= 10, "the v0 answer lists the supported APIs");
    broker.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acks_one_data_is_synced_in_the_background() {
    let dir = tempfile::tempdir().unwrap();
    let config = weir_broker::BrokerConfig {
        data_dir: dir.path().to_path_buf(),
        listen: "127.0.0.1:0".parse().unwrap(),
        log_flush_interval_ms: 20,
        ..weir_broker::BrokerConfig::default()
    };
    let broker = weir_broker::Broker::start(config).await.unwrap();
    let conn = Connection::connect(&broker.local_addr.to_string(), "t")
        .await
        .unwrap();
    admin::create_topic(&conn, "bg", 1, 1, &[]).await.unwrap();
    producer::send(&conn, "bg", 0, batch("x", 7), 1)
        .await
        .unwrap()
        .await
        .unwrap();
    let partition = broker.state().partition("bg", 0).unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while partition.log().recovery_point() < 7 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "acks=1 data was never synced"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    broker.shutdown().await;
}
