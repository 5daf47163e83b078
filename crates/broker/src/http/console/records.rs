//! The record browser: up to [`MAX_RECORDS`] records of one partition, from the latest,
//! the earliest, an offset or a timestamp, with key, value and headers each cut to
//! [`MAX_SHOWN`] bytes and given as text and hex. It reads this broker's replica when it
//! has one, else asks the partition's leader (ListOffsets and Fetch, as a consumer would),
//! and never past the high watermark.

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use serde_json::{json, Value};
use weir_protocol::record::records::{Batches, Record};

use super::{error, Answer};
use crate::host::hex;
use crate::state::BrokerState;

/// The most records one answer holds.
pub(crate) const MAX_RECORDS: usize = 100;
/// The most bytes of a key, value or header value shown.
pub(crate) const MAX_SHOWN: usize = 4096;
/// Records one answer holds unless asked otherwise.
const DEFAULT_RECORDS: usize = 20;
/// Bytes read per pass over the log.
const READ_BYTES: usize = 1 << 20;
/// Passes over the log one answer may make.
const MAX_PASSES: usize = 8;
/// The largest decompressed batch decoded.
const MAX_UNCOMPRESSED: usize = 16 << 20;

/// Where to start.
enum From {
    Latest,
    Earliest,
    Offset(i64),
    Timestamp(i64),
}

/// `GET /api/topics/<name>/records`.
pub(crate) async fn browse(
    state: &Arc<BrokerState>,
    topic: &str,
    params: &HashMap<String, String>,
) -> Answer {
    let int = |k: &str| params.get(k).map(|v| v.trim().parse::<i64>());
    let partition = match int("partition") {
        None => 0,
        Some(Ok(p)) => match i32::try_from(p) {
            Ok(p) => p,
            Err(_) => return error(400, "partition out of range"),
        },
        Some(Err(_)) => return error(400, "partition must be a number"),
    };
    let limit = match int("limit") {
        None => DEFAULT_RECORDS,
        Some(Ok(n)) if n >= 1 => usize::try_from(n).unwrap_or(MAX_RECORDS).min(MAX_RECORDS),
        Some(_) => return error(400, "limit must be a positive number"),
    };
    let from = match params.get("from").map(String::as_str).unwrap_or("latest") {
        "latest" => From::Latest,
        "earliest" => From::Earliest,
        "offset" => match int("offset") {
            Some(Ok(o)) => From::Offset(o),
            _ => return error(400, "from=offset needs a numeric offset"),
        },
        "timestamp" => match int("timestamp") {
            Some(Ok(t)) => From::Timestamp(t),
            _ => return error(400, "from=timestamp needs a numeric timestamp (ms)"),
        },
        _ => return error(400, "from must be latest, earliest, offset or timestamp"),
    };
    let image = state.image();
    let Some(t) = image.topic(topic) else {
        return error(404, "unknown topic");
    };
    let Some(pi) = t.partitions.get(&partition) else {
        return error(404, "unknown partition");
    };
    let source = match state.partition_by_id(&t.topic_id, partition) {
        Some(p) => Source::Local(p),
        None => match image.brokers.get(&pi.leader) {
            Some(b) => Source::Leader {
                node: b.node_id,
                addr: format!("{}:{}", b.host, b.port),
            },
            None => return error(503, "the partition has no leader"),
        },
    };
    let (log_start, hw) = match source.bounds(state, topic, partition).await {
        Ok(b) => b,
        Err(e) => return error(502, &e),
    };
    let start = match from {
        From::Latest => (hw - limit as i64).max(log_start),
        From::Earliest => log_start,
        From::Offset(o) => o.clamp(log_start, hw),
        From::Timestamp(ts) => match source.offset_for_time(state, topic, partition, ts).await {
            Ok(Some(o)) => o.clamp(log_start, hw),
            Ok(None) => hw,
            Err(e) => return error(502, &e),
        },
    };
    let mut records: Vec<Value> = Vec::new();
    let mut pos = start;
    let mut passes = 0;
    while records.len() < limit && pos < hw && passes < MAX_PASSES {
        passes += 1;
        let (read, next) = match source.read(state, topic, partition, pos).await {
            Ok(r) => r,
            Err(e) => return error(502, &e),
        };
        for r in read {
            if r.offset >= pos && r.offset < hw && records.len() < limit {
                records.push(record_json(&r));
            }
        }
        if next <= pos {
            break;
        }
        pos = next;
    }
    let next_offset = records
        .last()
        .and_then(|r| r["offset"].as_i64())
        .map_or(start, |o| o + 1);
    (
        200,
        json!({
            "topic": topic, "partition": partition, "limit": limit,
            "start_offset": start, "next_offset": next_offset,
            "log_start_offset": log_start, "high_watermark": hw,
            "records": records,
        }),
    )
}

/// A key, value or header value as the console shows it.
fn shown(bytes: Option<&Bytes>) -> Value {
    match bytes {
        None => Value::Null,
        Some(b) => {
            let cut = &b[..b.len().min(MAX_SHOWN)];
            json!({
                "text": String::from_utf8_lossy(cut),
                "hex": hex(cut),
                "size": b.len(),
                "truncated": b.len() > MAX_SHOWN,
            })
        }
    }
}

fn record_json(r: &Record) -> Value {
    let headers: Vec<Value> = r
        .headers
        .iter()
        .map(|(k, v)| json!({ "key": k, "value": shown(v.as_ref()) }))
        .collect();
    json!({
        "offset": r.offset,
        "timestamp": r.timestamp,
        "key": shown(r.key.as_ref()),
        "value": shown(r.value.as_ref()),
        "headers": headers,
    })
}

/// Where a partition's records are read.
enum Source {
    /// This broker's replica.
    Local(Arc<crate::partition::Partition>),
    /// Its leader, another broker.
    Leader { node: i32, addr: String },
}

impl Source {
    /// The log start offset and high watermark.
    async fn bounds(
        &self,
        state: &BrokerState,
        topic: &str,
        partition: i32,
    ) -> Result<(i64, i64), String> {
        match self {
            Source::Local(p) => Ok((p.log_start_offset(), p.high_watermark())),
            Source::Leader { .. } => {
                let start = self.list_offset(state, topic, partition, -2).await?;
                let end = self.list_offset(state, topic, partition, -1).await?;
                Ok((start.unwrap_or(0), end.unwrap_or(0)))
            }
        }
    }

    /// The first offset whose timestamp is at or after `ts`, if any.
    async fn offset_for_time(
        &self,
        state: &BrokerState,
        topic: &str,
        partition: i32,
        ts: i64,
    ) -> Result<Option<i64>, String> {
        match self {
            Source::Local(p) => p
                .offset_for_timestamp(ts)
                .map(|o| o.map(|(offset, _)| offset))
                .map_err(|e| e.to_string()),
            Source::Leader { .. } => self.list_offset(state, topic, partition, ts.max(0)).await,
        }
    }

    async fn list_offset(
        &self,
        state: &BrokerState,
        topic: &str,
        partition: i32,
        timestamp: i64,
    ) -> Result<Option<i64>, String> {
        let Source::Leader { node, addr } = self else {
            return Ok(None);
        };
        let conn = state
            .peers
            .connection_to(*node, addr)
            .await
            .map_err(|e| format!("reaching the leader failed: {e}"))?;
        let offset = weir_client::admin::list_offset(&conn, topic, partition, timestamp)
            .await
            .map_err(|e| format!("asking the leader failed: {e}"))?;
        Ok((offset >= 0).then_some(offset))
    }

    /// The records from `offset` on (control batches left out) and the offset after the
    /// last batch read.
    async fn read(
        &self,
        state: &BrokerState,
        topic: &str,
        partition: i32,
        offset: i64,
    ) -> Result<(Vec<Record>, i64), String> {
        match self {
            Source::Local(p) => {
                let (read, _) = p
                    .read(offset, READ_BYTES, true, false)
                    .map_err(|e| e.to_string())?;
                let mut out = Vec::new();
                let mut next = offset;
                for batch in Batches::new(read.bytes) {
                    let batch = batch.map_err(|e| format!("a stored batch is unreadable: {e}"))?;
                    next = next.max(batch.last_offset() + 1);
                    if batch.is_control() {
                        continue;
                    }
                    let records = batch
                        .records(MAX_UNCOMPRESSED)
                        .map_err(|e| format!("a stored batch did not decode: {e}"))?;
                    out.extend(records.into_iter().filter(|r| r.offset >= offset));
                }
                Ok((out, next))
            }
            Source::Leader { node, addr } => {
                let conn = state
                    .peers
                    .connection_to(*node, addr)
                    .await
                    .map_err(|e| format!("reaching the leader failed: {e}"))?;
                let max = i32::try_from(READ_BYTES).unwrap_or(i32::MAX);
                let f = weir_client::consumer::fetch(&conn, topic, partition, offset, 0, max)
                    .await
                    .map_err(|e| format!("fetching from the leader failed: {e}"))?;
                Ok((f.records, f.next_offset))
            }
        }
    }
}
