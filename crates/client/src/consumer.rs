//! Fetching from one partition by topic name (Fetch v12 or lower, so no topic ids needed).

use weir_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use weir_protocol::messages::FetchRequest;
use weir_protocol::record::{Batches, Record};

use crate::connection::Connection;
use crate::error::ClientError;

/// Largest decompressed batch this client decodes.
const MAX_UNCOMPRESSED: usize = 256 * 1024 * 1024;

/// What one fetch returned.
#[derive(Debug, Default)]
pub struct Fetched {
    /// Records at or after the requested offset.
    pub records: Vec<Record>,
    /// Bytes of record batches received.
    pub bytes: usize,
    /// The partition's high watermark.
    pub high_watermark: i64,
    /// Offset to fetch next.
    pub next_offset: i64,
}

/// Fetches from `offset`, waiting up to `max_wait_ms` for at least one byte.
pub async fn fetch(
    conn: &Connection,
    topic: &str,
    partition: i32,
    offset: i64,
    max_wait_ms: i32,
    max_bytes: i32,
) -> Result<Fetched, ClientError> {
    let version = conn.version_of::<FetchRequest>()?.min(12);
    let req = FetchRequest {
        replica_id: -1,
        max_wait_ms,
        min_bytes: 1,
        max_bytes,
        isolation_level: 0,
        session_id: 0,
        session_epoch: -1,
        topics: vec![FetchTopic {
            topic: topic.to_string(),
            partitions: vec![FetchPartition {
                partition,
                current_leader_epoch: -1,
                fetch_offset: offset,
                last_fetched_epoch: -1,
                log_start_offset: -1,
                partition_max_bytes: max_bytes,
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    };
    let resp = conn.send_at(&req, version).await?;
    ClientError::check(resp.error_code, || "fetch".into())?;
    let p = resp
        .responses
        .into_iter()
        .next()
        .and_then(|t| t.partitions.into_iter().next())
        .ok_or_else(|| ClientError::Protocol("empty fetch response".into()))?;
    ClientError::check(p.error_code, || {
        format!("fetching {topic}-{partition} at {offset}")
    })?;
    let data = p.records.unwrap_or_default();
    let mut out = Fetched {
        bytes: data.len(),
        high_watermark: p.high_watermark,
        next_offset: offset,
        ..Default::default()
    };
    for batch in Batches::new(data) {
        let batch = batch?;
        out.next_offset = out.next_offset.max(batch.last_offset().saturating_add(1));
        if batch.is_control() {
            continue;
        }
        out.records.extend(
            batch
                .records(MAX_UNCOMPRESSED)?
                .into_iter()
                .filter(|r| r.offset >= offset),
        );
    }
    Ok(out)
}
