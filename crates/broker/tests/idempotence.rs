//! Idempotent produce through real sockets: a retried batch is answered with its original
//! offset and stored once, before and after a restart; a sequence gap and a stale epoch get
//! Kafka's errors and the broker keeps serving.

#![allow(clippy::unwrap_used)]

mod common;

use bytes::Bytes;
use weir_client::{admin, consumer, producer, ClientError, Connection};
use weir_protocol::error::ErrorCode;
use weir_protocol::record::{BatchBuilder, Compression};

use common::start;

fn batch(pid: i64, epoch: i16, seq: i32, n: usize) -> Bytes {
    let mut b = BatchBuilder::new(Compression::None, 1_700_000_000_000);
    b.set_producer(pid, epoch, seq);
    for i in 0..n {
        let v = format!("p{pid}-e{epoch}-s{}", seq + i as i32);
        b.push(None, Some(v.as_bytes()), &[], 1_700_000_000_000)
            .unwrap();
    }
    b.build().unwrap()
}

async fn send(conn: &Connection, b: Bytes) -> Result<i64, ClientError> {
    producer::send(conn, "idem", 0, b, -1).await?.await
}

fn code(r: Result<i64, ClientError>) -> ErrorCode {
    match r {
        Err(ClientError::Kafka { code, .. }) => code,
        other => panic!("expected a Kafka error, got {other:?}"),
    }
}

async fn values(conn: &Connection) -> Vec<String> {
    let got = consumer::fetch(conn, "idem", 0, 0, 100, 1 << 20)
        .await
        .unwrap();
    got.records
        .iter()
        .map(|r| String::from_utf8_lossy(r.value.as_deref().unwrap()).into_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retries_are_stored_once_across_a_restart_and_bad_sequences_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start(dir.path()).await;
    let conn = Connection::connect(&broker.local_addr.to_string(), "t")
        .await
        .unwrap();
    admin::create_topic(&conn, "idem", 1, 1, &[]).await.unwrap();
    assert_eq!(send(&conn, batch(1000, 0, 0, 3)).await.unwrap(), 0);
    assert_eq!(send(&conn, batch(1000, 0, 3, 2)).await.unwrap(), 3);
    // The retry of the first batch: its offset again, nothing stored.
    assert_eq!(send(&conn, batch(1000, 0, 0, 3)).await.unwrap(), 0);
    assert_eq!(
        code(send(&conn, batch(1000, 0, 9, 1)).await),
        ErrorCode::OutOfOrderSequenceNumber
    );
    assert_eq!(values(&conn).await.len(), 5);
    broker.shutdown().await;

    let broker = start(dir.path()).await;
    let conn = Connection::connect(&broker.local_addr.to_string(), "t")
        .await
        .unwrap();
    assert_eq!(send(&conn, batch(1000, 0, 3, 2)).await.unwrap(), 3);
    assert_eq!(send(&conn, batch(1000, 0, 5, 1)).await.unwrap(), 5);
    // A new epoch starts again at 0; after it, the old epoch is fenced.
    assert_eq!(send(&conn, batch(1000, 1, 0, 1)).await.unwrap(), 6);
    assert_eq!(
        code(send(&conn, batch(1000, 0, 6, 1)).await),
        ErrorCode::InvalidProducerEpoch
    );
    let v = values(&conn).await;
    assert_eq!(
        v,
        [
            "p1000-e0-s0",
            "p1000-e0-s1",
            "p1000-e0-s2",
            "p1000-e0-s3",
            "p1000-e0-s4",
            "p1000-e0-s5",
            "p1000-e1-s0"
        ]
    );
    broker.shutdown().await;
}
