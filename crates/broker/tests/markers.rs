//! A partition directory is never deleted on doubt: a missing, empty or torn marker keeps
//! the log (the marker is rewritten from the metadata image), a marker naming another
//! topic id retires the dir aside, and a deleted topic's dir is renamed aside before it
//! is removed.

#![allow(clippy::unwrap_used)]

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use weir_broker::config::BrokerConfig;
use weir_client::{admin, consumer, producer, Connection};

use common::{batch, start, start_with};

const MARKER: &str = "partition.metadata";

/// Creates `topic` and writes 10 batches of 10 records to it.
async fn fill(addr: &str, topic: &str) {
    let conn = Connection::connect(addr, "t").await.unwrap();
    admin::create_topic(&conn, topic, 1, 1, &[]).await.unwrap();
    for i in 0..10 {
        producer::send(&conn, topic, 0, batch(&format!("v{i}"), 10), -1)
            .await
            .unwrap()
            .await
            .unwrap();
    }
}

/// Every value of partition 0 of `topic`, in order.
async fn values(addr: &str, topic: &str) -> Vec<String> {
    let conn = Connection::connect(addr, "t").await.unwrap();
    let end = admin::list_offset(&conn, topic, 0, -1).await.unwrap();
    let mut offset = admin::list_offset(&conn, topic, 0, -2).await.unwrap();
    let mut out = Vec::new();
    while offset < end {
        let f = consumer::fetch(&conn, topic, 0, offset, 100, 1 << 20)
            .await
            .unwrap();
        out.extend(
            f.records
                .iter()
                .map(|r| String::from_utf8(r.value.clone().unwrap().to_vec()).unwrap()),
        );
        offset = f.next_offset;
    }
    out
}

/// Directories in `dir` whose names start with `prefix` and end with `-delete`.
fn retired(dir: &Path, prefix: &str) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            let n = p.file_name().unwrap().to_string_lossy().to_string();
            n.starts_with(prefix) && n.ends_with("-delete")
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_marker_that_proves_nothing_keeps_the_log_and_is_rewritten() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start(dir.path()).await;
    let addr = broker.local_addr.to_string();
    fill(&addr, "kept").await;
    broker.shutdown().await;
    let part = dir.path().join("kept-0");
    let id = std::fs::read_to_string(part.join(MARKER)).unwrap();
    assert_eq!(id.trim().len(), 32, "a topic id in hex: {id:?}");

    // What a power loss can leave: nothing, an empty file, a torn one, garbage.
    let doubts: [Option<&[u8]>; 4] = [None, Some(b""), Some(&id.as_bytes()[..10]), Some(&[0; 33])];
    for doubt in doubts {
        match doubt {
            None => std::fs::remove_file(part.join(MARKER)).unwrap(),
            Some(b) => std::fs::write(part.join(MARKER), b).unwrap(),
        }
        let broker = start(dir.path()).await;
        let addr = broker.local_addr.to_string();
        let got = values(&addr, "kept").await;
        assert_eq!(got.len(), 100, "every record kept with marker {doubt:?}");
        assert_eq!(got[99], "v9-9");
        broker.shutdown().await;
        assert_eq!(std::fs::read_to_string(part.join(MARKER)).unwrap(), id);
        assert!(retired(dir.path(), "kept-0").is_empty());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dir_of_another_topic_id_is_renamed_aside_not_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let broker = start(dir.path()).await;
    let addr = broker.local_addr.to_string();
    fill(&addr, "replaced").await;
    broker.shutdown().await;
    let part = dir.path().join("replaced-0");
    // A well-formed marker of another topic of the same name (deleted while this node was
    // away, say).
    let other = "0123456789abcdef0123456789abcdef";
    std::fs::write(part.join(MARKER), format!("{other}\n")).unwrap();

    let broker = start(dir.path()).await;
    let addr = broker.local_addr.to_string();
    assert!(
        values(&addr, "replaced").await.is_empty(),
        "the other topic's data is not served"
    );
    let aside = retired(dir.path(), "replaced-0");
    assert_eq!(aside.len(), 1, "renamed aside: {aside:?}");
    assert!(aside[0].to_string_lossy().contains(other));
    assert!(
        aside[0]
            .join("00000000000000000000.log")
            .metadata()
            .unwrap()
            .len()
            > 0
    );
    broker.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_topic_is_renamed_aside_then_removed_after_the_delay() {
    let dir = tempfile::tempdir().unwrap();
    let config = BrokerConfig {
        log_segment_delete_delay_ms: 1_000,
        ..BrokerConfig::default()
    };
    let broker = start_with(dir.path(), config).await;
    let addr = broker.local_addr.to_string();
    fill(&addr, "gone").await;
    let conn = Connection::connect(&addr, "t").await.unwrap();
    admin::delete_topic(&conn, "gone").await.unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    let wait = |what: &'static str| async move {
        assert!(tokio::time::Instant::now() < deadline, "{what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    // Renamed aside at once (kept for the delay) ...
    while dir.path().join("gone-0").exists() || retired(dir.path(), "gone-0").is_empty() {
        wait("the deleted partition's dir is renamed aside").await;
    }
    let aside = retired(dir.path(), "gone-0");
    assert!(aside[0].join("00000000000000000000.log").exists());
    // ... then removed.
    while !retired(dir.path(), "gone-0").is_empty() {
        wait("the renamed dir is removed after log.segment.delete.delay.ms").await;
    }
    broker.shutdown().await;
}
