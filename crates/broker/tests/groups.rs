//! The group coordinator through real sockets: committed offsets and group metadata survive a
//! restart (replayed from `__consumer_offsets`), clients cannot write that topic, and bad
//! group requests get Kafka's error codes while the broker keeps serving.

#![allow(clippy::unwrap_used)]

mod common;

use weir_broker::BrokerConfig;
use weir_client::groups::{self, Committed};
use weir_client::{producer, Connection};
use weir_protocol::error::ErrorCode;
use weir_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use weir_protocol::messages::{HeartbeatRequest, JoinGroupRequest, SyncGroupRequest};

use common::{start, start_with};

fn offset(topic: &str, partition: i32, offset: i64) -> Committed {
    Committed {
        topic: topic.into(),
        partition,
        offset,
    }
}

/// A group's committed offsets, waiting (with a deadline) while its coordinator partition
/// loads in the background: each `__consumer_offsets` partition loads on its own.
async fn committed_once_loaded(conn: &Connection, group: &str) -> Vec<Committed> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        match groups::committed(conn, group).await {
            Ok(c) => return c,
            Err(e) if std::time::Instant::now() < deadline => {
                assert!(e.to_string().contains("LOAD_IN_PROGRESS"), "{e}");
                tokio::task::yield_now().await;
            }
            Err(e) => panic!("{e}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offsets_and_group_metadata_survive_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start(dir.path()).await;
    let addr = broker.local_addr.to_string();
    let conn = Connection::connect(&addr, "t").await.unwrap();
    // Many groups, so several __consumer_offsets partitions hold some.
    for g in 0..40 {
        let group = format!("g{g}");
        groups::commit(&conn, &group, &[offset("a", 0, g), offset("b", 3, 100 + g)])
            .await
            .unwrap();
        // A later commit wins over an earlier one.
        groups::commit(&conn, &group, &[offset("a", 0, g + 1)])
            .await
            .unwrap();
    }
    groups::delete(&conn, "g7").await.unwrap();
    // A member joins a classic group and syncs, so the group has metadata to persist.
    let join = JoinGroupRequest {
        group_id: "live".into(),
        session_timeout_ms: 30_000,
        rebalance_timeout_ms: 30_000,
        member_id: String::new(),
        group_instance_id: Some("i1".into()),
        protocol_type: "consumer".into(),
        protocols: vec![JoinGroupRequestProtocol {
            name: "range".into(),
            metadata: bytes::Bytes::from_static(&[0, 0, 0, 0, 0, 0, 0, 0, 0, 0]),
            ..Default::default()
        }],
        ..Default::default()
    };
    let joined = conn.send(&join).await.unwrap();
    assert_eq!(joined.error_code, 0, "{joined:?}");
    let sync = SyncGroupRequest {
        group_id: "live".into(),
        generation_id: joined.generation_id,
        member_id: joined.member_id.clone(),
        group_instance_id: Some("i1".into()),
        protocol_type: Some("consumer".into()),
        protocol_name: Some("range".into()),
        assignments: Vec::new(),
        ..Default::default()
    };
    assert_eq!(conn.send(&sync).await.unwrap().error_code, 0);
    drop(conn);
    broker.shutdown().await;

    let broker = start(dir.path()).await;
    let conn = Connection::connect(&broker.local_addr.to_string(), "t")
        .await
        .unwrap();
    let got = committed_once_loaded(&conn, "g3").await;
    assert_eq!(got, vec![offset("a", 0, 4), offset("b", 3, 103)]);
    for g in 0..40 {
        let got = committed_once_loaded(&conn, &format!("g{g}")).await;
        if g == 7 {
            assert!(got.is_empty(), "a deleted group's offsets came back");
        } else {
            assert_eq!(got, vec![offset("a", 0, g + 1), offset("b", 3, 100 + g)]);
        }
    }
    // Loading "live"'s partition first, so that DescribeGroups sees it.
    committed_once_loaded(&conn, "live").await;
    let live = groups::describe(&conn, "live").await.unwrap();
    assert_eq!(live.group_state, "Stable");
    assert_eq!(live.members.len(), 1);
    assert_eq!(live.members[0].member_id, joined.member_id);
    // The reloaded member's session runs: its heartbeat is accepted.
    let hb = HeartbeatRequest {
        group_id: "live".into(),
        generation_id: joined.generation_id,
        member_id: joined.member_id.clone(),
        group_instance_id: Some("i1".into()),
        ..Default::default()
    };
    assert_eq!(conn.send(&hb).await.unwrap().error_code, 0);
    broker.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_group_requests_get_kafka_errors_and_the_broker_keeps_serving() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start(dir.path()).await;
    let conn = Connection::connect(&broker.local_addr.to_string(), "t")
        .await
        .unwrap();
    let join = |group: &str, session: i32, member: &str| JoinGroupRequest {
        group_id: group.into(),
        session_timeout_ms: session,
        rebalance_timeout_ms: 10_000,
        member_id: member.into(),
        protocol_type: "consumer".into(),
        protocols: vec![JoinGroupRequestProtocol {
            name: "range".into(),
            ..Default::default()
        }],
        ..Default::default()
    };
    let code = |c: i16| ErrorCode::from_code(c);
    let r = conn.send(&join("", 10_000, "")).await.unwrap();
    assert_eq!(code(r.error_code), ErrorCode::InvalidGroupId);
    let r = conn.send(&join("g", 10, "")).await.unwrap();
    assert_eq!(code(r.error_code), ErrorCode::InvalidSessionTimeout);
    let r = conn.send(&join("g", 10_000, "nobody")).await.unwrap();
    assert_eq!(code(r.error_code), ErrorCode::UnknownMemberId);
    // KIP-394: a new member first gets an id and MEMBER_ID_REQUIRED.
    let r = conn.send(&join("g", 10_000, "")).await.unwrap();
    assert_eq!(code(r.error_code), ErrorCode::MemberIdRequired);
    let member = r.member_id;
    let r = conn.send(&join("g", 10_000, &member)).await.unwrap();
    assert_eq!(code(r.error_code), ErrorCode::None);
    let hb = |generation: i32, member: &str| HeartbeatRequest {
        group_id: "g".into(),
        generation_id: generation,
        member_id: member.into(),
        ..Default::default()
    };
    let stale = conn.send(&hb(r.generation_id + 5, &member)).await.unwrap();
    assert_eq!(code(stale.error_code), ErrorCode::IllegalGeneration);
    let unknown = conn.send(&hb(r.generation_id, "x")).await.unwrap();
    assert_eq!(code(unknown.error_code), ErrorCode::UnknownMemberId);
    // An admin commit (no member, generation -1) to a group with members is refused.
    let e = groups::commit(&conn, "g", &[offset("t", 0, 1)])
        .await
        .unwrap_err();
    assert!(e.to_string().contains("UNKNOWN_MEMBER_ID"), "{e}");
    let e = groups::delete(&conn, "g").await.unwrap_err();
    assert!(e.to_string().contains("NON_EMPTY_GROUP"), "{e}");
    // Only the coordinator writes __consumer_offsets.
    let e = producer::send(&conn, "__consumer_offsets", 0, common::batch("x", 1), -1)
        .await
        .unwrap()
        .await
        .unwrap_err();
    assert!(e.to_string().contains("INVALID_TOPIC_EXCEPTION"), "{e}");
    // Still serving.
    assert_eq!(groups::list(&conn).await.unwrap().len(), 1);
    broker.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offsets_of_an_empty_group_expire_and_stay_expired_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    // Far below what Kafka's validation allows, to see expiry within a test.
    let mut config = BrokerConfig::default();
    config.group.offsets_retention_ms = 300;
    config.group.offsets_retention_check_interval_ms = 100;
    let broker = start_with(dir.path(), config.clone()).await;
    let conn = Connection::connect(&broker.local_addr.to_string(), "t")
        .await
        .unwrap();
    groups::commit(&conn, "old", &[offset("a", 0, 5)])
        .await
        .unwrap();
    assert_eq!(
        groups::committed(&conn, "old").await.unwrap(),
        vec![offset("a", 0, 5)]
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !groups::committed(&conn, "old").await.unwrap().is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "offsets never expired"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    drop(conn);
    broker.shutdown().await;
    // The expiry was written as tombstones: a restart does not bring the offsets back.
    config.group.offsets_retention_ms = 7 * 24 * 3_600_000;
    let broker = start_with(dir.path(), config).await;
    let conn = Connection::connect(&broker.local_addr.to_string(), "t")
        .await
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let got = loop {
        match groups::committed(&conn, "old").await {
            Ok(c) => break c,
            Err(_) if std::time::Instant::now() < deadline => tokio::task::yield_now().await,
            Err(e) => panic!("{e}"),
        }
    };
    assert!(got.is_empty(), "expired offsets came back: {got:?}");
    broker.shutdown().await;
}
