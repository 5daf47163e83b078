//! Transactions through real sockets with raw requests: the last stable offset holds
//! read_committed fetches back while a transaction is open, a transaction left open across
//! a restart is aborted after its timeout (fencing its producer), a partition outside the
//! transaction refuses its batches, and transactional offsets count only once committed.
//! All at transaction version 1 (Produce v11, AddPartitionsToTxn v3, EndTxn v4,
//! TxnOffsetCommit v4), as librdkafka speaks it; version 2 is shown end to end by
//! tests/e2e/test_transaction_versions.py.

#![allow(clippy::unwrap_used)]

mod common;

use std::time::{Duration, Instant};

use bytes::Bytes;
use weir_broker::BrokerConfig;
use weir_broker::TxnConfig;
use weir_client::{admin, Connection};
use weir_protocol::error::ErrorCode;
use weir_protocol::messages::add_partitions_to_txn_request::AddPartitionsToTxnTopic;
use weir_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use weir_protocol::messages::offset_fetch_request::OffsetFetchRequestTopic;
use weir_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use weir_protocol::messages::txn_offset_commit_request::{
    TxnOffsetCommitRequestPartition, TxnOffsetCommitRequestTopic,
};
use weir_protocol::messages::{
    AddOffsetsToTxnRequest, AddPartitionsToTxnRequest, EndTxnRequest, FetchRequest,
    FindCoordinatorRequest, InitProducerIdRequest, OffsetFetchRequest, ProduceRequest,
    TxnOffsetCommitRequest,
};
use weir_protocol::record::{BatchBuilder, Compression};

use common::start_with;

fn config() -> BrokerConfig {
    BrokerConfig {
        txn: TxnConfig {
            abort_check_interval_ms: 100,
            ..TxnConfig::default()
        },
        ..BrokerConfig::default()
    }
}

async fn connect(broker: &weir_broker::Broker) -> Connection {
    Connection::connect(&broker.local_addr.to_string(), "t")
        .await
        .unwrap()
}

async fn init(conn: &Connection, txn: &str, timeout_ms: i32) -> Result<(i64, i16), ErrorCode> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let r = conn
            .send(&InitProducerIdRequest {
                transactional_id: Some(txn.into()),
                transaction_timeout_ms: timeout_ms,
                producer_id: -1,
                producer_epoch: -1,
                ..Default::default()
            })
            .await
            .unwrap();
        match ErrorCode::from_code(r.error_code) {
            ErrorCode::None => return Ok((r.producer_id, r.producer_epoch)),
            ErrorCode::ConcurrentTransactions if Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            e => return Err(e),
        }
    }
}

async fn add(conn: &Connection, txn: &str, pid: i64, epoch: i16, topic: &str) -> ErrorCode {
    let r = conn
        .send_at(
            &AddPartitionsToTxnRequest {
                v3_and_below_transactional_id: txn.into(),
                v3_and_below_producer_id: pid,
                v3_and_below_producer_epoch: epoch,
                v3_and_below_topics: vec![AddPartitionsToTxnTopic {
                    name: topic.into(),
                    partitions: vec![0],
                    ..Default::default()
                }],
                ..Default::default()
            },
            3,
        )
        .await
        .unwrap();
    ErrorCode::from_code(
        r.results_by_topic_v3_and_below[0].results_by_partition[0].partition_error_code,
    )
}

fn batch(pid: i64, epoch: i16, seq: i32, n: usize, transactional: bool) -> Bytes {
    let mut b = BatchBuilder::new(Compression::None, 1_700_000_000_000);
    b.set_producer(pid, epoch, seq);
    b.set_transactional(transactional);
    for i in 0..n {
        b.push(
            None,
            Some(format!("v{i}").as_bytes()),
            &[],
            1_700_000_000_000,
        )
        .unwrap();
    }
    b.build().unwrap()
}

async fn produce(conn: &Connection, txn: Option<&str>, topic: &str, b: Bytes) -> (ErrorCode, i64) {
    let r = conn
        .send_at(
            &ProduceRequest {
                transactional_id: txn.map(str::to_string),
                acks: -1,
                timeout_ms: 30_000,
                topic_data: vec![TopicProduceData {
                    name: topic.into(),
                    partition_data: vec![PartitionProduceData {
                        index: 0,
                        records: Some(b),
                        ..Default::default()
                    }],
                    ..Default::default()
                }],
                ..Default::default()
            },
            11,
        )
        .await
        .unwrap();
    let p = &r.responses[0].partition_responses[0];
    (ErrorCode::from_code(p.error_code), p.base_offset)
}

/// (high watermark, last stable offset, aborted producer ids, records read) of a
/// read_committed fetch from offset 0.
async fn read_committed(conn: &Connection, topic: &str) -> (i64, i64, Vec<i64>, usize) {
    let r = conn
        .send_at(
            &FetchRequest {
                replica_id: -1,
                max_wait_ms: 0,
                min_bytes: 0,
                max_bytes: 1 << 20,
                isolation_level: 1,
                session_epoch: -1,
                topics: vec![FetchTopic {
                    topic: topic.into(),
                    partitions: vec![FetchPartition {
                        partition: 0,
                        current_leader_epoch: -1,
                        fetch_offset: 0,
                        last_fetched_epoch: -1,
                        log_start_offset: -1,
                        partition_max_bytes: 1 << 20,
                        ..Default::default()
                    }],
                    ..Default::default()
                }],
                ..Default::default()
            },
            12,
        )
        .await
        .unwrap();
    let p = &r.responses[0].partitions[0];
    let aborted = p
        .aborted_transactions
        .iter()
        .flatten()
        .map(|t| t.producer_id)
        .collect();
    let bytes = p.records.as_ref().map_or(0, |b| b.len());
    (p.high_watermark, p.last_stable_offset, aborted, bytes)
}

async fn wait_for<T, F, Fut>(what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_open_transaction_survives_a_restart_then_times_out_and_is_aborted() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start_with(dir.path(), config()).await;
    let conn = connect(&broker).await;
    admin::create_topic(&conn, "tx", 1, 1, &[]).await.unwrap();
    admin::create_topic(&conn, "other", 1, 1, &[])
        .await
        .unwrap();
    let r = conn
        .send_at(
            &FindCoordinatorRequest {
                key: "slow".into(),
                key_type: 1,
                ..Default::default()
            },
            3,
        )
        .await
        .unwrap();
    assert_eq!(ErrorCode::from_code(r.error_code), ErrorCode::None);
    let (pid, epoch) = init(&conn, "slow", 2_000).await.unwrap();
    assert_eq!(add(&conn, "slow", pid, epoch, "tx").await, ErrorCode::None);
    assert_eq!(
        produce(&conn, Some("slow"), "tx", batch(pid, epoch, 0, 3, true)).await,
        (ErrorCode::None, 0)
    );
    // Not in the transaction: refused (KIP-890), and nothing is stored there.
    assert_eq!(
        produce(&conn, Some("slow"), "other", batch(pid, epoch, 0, 1, true))
            .await
            .0,
        ErrorCode::InvalidTxnState
    );
    // Transactional records need the producer's transactional id.
    assert_eq!(
        produce(&conn, None, "tx", batch(pid, epoch, 3, 1, true))
            .await
            .0,
        ErrorCode::TransactionalIdAuthorizationFailed
    );
    assert_eq!(
        produce(&conn, None, "tx", batch(-1, -1, -1, 2, false)).await,
        (ErrorCode::None, 3)
    );
    let (hw, lso, aborted, bytes) = read_committed(&conn, "tx").await;
    assert_eq!(
        (hw, lso, bytes),
        (5, 0, 0),
        "nothing readable past the open transaction"
    );
    assert!(aborted.is_empty());
    broker.shutdown().await;

    let broker = start_with(dir.path(), config()).await;
    let conn = connect(&broker).await;
    // Reloaded as open; aborted once its 2 s timeout passes.
    let (hw, lso, aborted) = wait_for("the timed-out transaction to be aborted", || async {
        let (hw, lso, aborted, _) = read_committed(&conn, "tx").await;
        (lso > 0).then_some((hw, lso, aborted))
    })
    .await;
    assert_eq!((hw, lso), (6, 6), "the abort marker is the sixth record");
    assert_eq!(aborted, vec![pid]);
    // The producer was fenced by the abort.
    let r = conn
        .send_at(
            &EndTxnRequest {
                transactional_id: "slow".into(),
                producer_id: pid,
                producer_epoch: epoch,
                committed: true,
                ..Default::default()
            },
            4,
        )
        .await
        .unwrap();
    assert_eq!(
        ErrorCode::from_code(r.error_code),
        ErrorCode::ProducerFenced
    );
    assert_eq!(init(&conn, "slow", 2_000).await, Ok((pid, epoch + 2)));
    broker.shutdown().await;
}

async fn committed_offset(conn: &Connection, group: &str) -> (ErrorCode, i64) {
    let r = conn
        .send_at(
            &OffsetFetchRequest {
                group_id: group.into(),
                topics: Some(vec![OffsetFetchRequestTopic {
                    name: "in".into(),
                    partition_indexes: vec![0],
                    ..Default::default()
                }]),
                require_stable: true,
                ..Default::default()
            },
            7,
        )
        .await
        .unwrap();
    // A coordinator still loading answers with a top-level error and no topics.
    if r.error_code != 0 {
        return (ErrorCode::from_code(r.error_code), -1);
    }
    let p = &r.topics[0].partitions[0];
    (ErrorCode::from_code(p.error_code), p.committed_offset)
}

async fn end(conn: &Connection, txn: &str, pid: i64, epoch: i16, commit: bool) -> ErrorCode {
    let r = conn
        .send_at(
            &EndTxnRequest {
                transactional_id: txn.into(),
                producer_id: pid,
                producer_epoch: epoch,
                committed: commit,
                ..Default::default()
            },
            4,
        )
        .await
        .unwrap();
    ErrorCode::from_code(r.error_code)
}

async fn txn_commit(conn: &Connection, txn: &str, pid: i64, epoch: i16, offset: i64) -> ErrorCode {
    // The previous transaction's markers may still be on their way: retry, as clients do.
    let added = wait_for("AddOffsetsToTxn", || async {
        let r = conn
            .send_at(
                &AddOffsetsToTxnRequest {
                    transactional_id: txn.into(),
                    producer_id: pid,
                    producer_epoch: epoch,
                    group_id: "g".into(),
                    ..Default::default()
                },
                4,
            )
            .await
            .unwrap();
        let code = ErrorCode::from_code(r.error_code);
        (code != ErrorCode::ConcurrentTransactions).then_some(code)
    })
    .await;
    assert_eq!(added, ErrorCode::None);
    let r = conn
        .send_at(
            &TxnOffsetCommitRequest {
                transactional_id: txn.into(),
                group_id: "g".into(),
                producer_id: pid,
                producer_epoch: epoch,
                generation_id: -1,
                topics: vec![TxnOffsetCommitRequestTopic {
                    name: "in".into(),
                    partitions: vec![TxnOffsetCommitRequestPartition {
                        partition_index: 0,
                        committed_offset: offset,
                        committed_leader_epoch: -1,
                        ..Default::default()
                    }],
                    ..Default::default()
                }],
                ..Default::default()
            },
            4,
        )
        .await
        .unwrap();
    ErrorCode::from_code(r.topics[0].partitions[0].error_code)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transactional_offsets_count_once_committed_and_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start_with(dir.path(), config()).await;
    let conn = connect(&broker).await;
    admin::create_topic(&conn, "in", 1, 1, &[]).await.unwrap();
    let (pid, epoch) = init(&conn, "ctp", 60_000).await.unwrap();
    assert_eq!(
        txn_commit(&conn, "ctp", pid, epoch, 10).await,
        ErrorCode::None
    );
    // Pending: a stable fetch must wait.
    assert_eq!(
        committed_offset(&conn, "g").await.0,
        ErrorCode::UnstableOffsetCommit
    );
    assert_eq!(end(&conn, "ctp", pid, epoch, true).await, ErrorCode::None);
    wait_for("the committed offset", || async {
        (committed_offset(&conn, "g").await == (ErrorCode::None, 10)).then_some(())
    })
    .await;
    // An aborted transaction's offsets never count.
    assert_eq!(
        txn_commit(&conn, "ctp", pid, epoch, 20).await,
        ErrorCode::None
    );
    assert_eq!(end(&conn, "ctp", pid, epoch, false).await, ErrorCode::None);
    wait_for("the aborted offset to be dropped", || async {
        (committed_offset(&conn, "g").await == (ErrorCode::None, 10)).then_some(())
    })
    .await;
    // Pending across a restart, then committed.
    assert_eq!(
        txn_commit(&conn, "ctp", pid, epoch, 30).await,
        ErrorCode::None
    );
    broker.shutdown().await;
    let broker = start_with(dir.path(), config()).await;
    let conn = connect(&broker).await;
    let ready = wait_for("the reloaded coordinator", || async {
        let r = committed_offset(&conn, "g").await;
        (r.0 != ErrorCode::CoordinatorLoadInProgress).then_some(r)
    })
    .await;
    assert_eq!(ready.0, ErrorCode::UnstableOffsetCommit);
    let code = wait_for("the reloaded transaction coordinator", || async {
        let c = end(&conn, "ctp", pid, epoch, true).await;
        (c != ErrorCode::CoordinatorLoadInProgress).then_some(c)
    })
    .await;
    assert_eq!(code, ErrorCode::None);
    wait_for("the offset committed after the restart", || async {
        (committed_offset(&conn, "g").await == (ErrorCode::None, 30)).then_some(())
    })
    .await;
    broker.shutdown().await;
}
