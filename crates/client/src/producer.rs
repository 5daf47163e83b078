//! Producing: one batch to one partition per request, optionally pipelined.

use std::future::Future;

use bytes::Bytes;
use weir_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use weir_protocol::messages::ProduceRequest;

use crate::connection::Connection;
use crate::error::ClientError;

/// A produce request carrying one batch for one partition.
pub fn request(
    topic: &str,
    partition: i32,
    batch: Bytes,
    acks: i16,
    timeout_ms: i32,
) -> ProduceRequest {
    ProduceRequest {
        acks,
        timeout_ms,
        topic_data: vec![TopicProduceData {
            name: topic.to_string(),
            partition_data: vec![PartitionProduceData {
                index: partition,
                records: Some(batch),
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    }
}

/// Sends one batch now and returns a future of its base offset (or -1 with acks=0).
pub async fn send(
    conn: &Connection,
    topic: &str,
    partition: i32,
    batch: Bytes,
    acks: i16,
) -> Result<impl Future<Output = Result<i64, ClientError>>, ClientError> {
    let version = conn.version_of::<ProduceRequest>()?;
    let req = request(topic, partition, batch, acks, 30_000);
    let pending = if acks == 0 {
        conn.send_oneway(&req, version).await?;
        None
    } else {
        Some(conn.send_pipelined(&req, version).await?)
    };
    Ok(async move {
        let Some(pending) = pending else {
            return Ok(-1);
        };
        let resp = pending.await?;
        let p = resp
            .responses
            .first()
            .and_then(|t| t.partition_responses.first())
            .ok_or_else(|| ClientError::Protocol("empty produce response".into()))?;
        ClientError::check(p.error_code, || p.error_message.clone().unwrap_or_default())?;
        Ok(p.base_offset)
    })
}
