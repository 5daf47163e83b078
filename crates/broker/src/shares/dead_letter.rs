//! Dead-letter copies (KIP-1191): a record a share group rejected, or that used up its
//! deliveries, is written to the group's dead-letter topic with Kafka's context headers
//! (`__dlq.errors.topic`, `.partition`, `.offset`, `.group`, `.delivery.count`,
//! `.message`, all UTF-8 text), and its key, value and headers too when the group's
//! `errors.deadletterqueue.copy.record.enable` is true. The copy goes to partition
//! `source partition % partitions` of the dead-letter topic, produced with acks=all to its
//! leader, here or on another broker.
//!
//! The dead-letter topic must exist with `errors.deadletterqueue.group.enable=true` and a name
//! that starts with `errors.deadletterqueue.topic.name.prefix` (`dlq.`), as KIP-1191 asks; a
//! write that cannot be made leaves the record waiting (Archiving), never archived without
//! its copy, and is tried again.

use bytes::Bytes;
use tracing::{debug, info, warn};
use weir_coordinator::share::{ArchiveReason, Archived};
use weir_meta::controller::CreateTopicSpec;
use weir_meta::MetaError;
use weir_protocol::error::ErrorCode;
use weir_protocol::record::builder::BatchBuilder;
use weir_protocol::record::records::{Batches, Record};
use weir_protocol::record::Compression;

use crate::host::{now_ms, Host};
use crate::partition::Partition;

/// The reason header's text, as Kafka writes it.
fn message(reason: ArchiveReason) -> &'static str {
    match reason {
        ArchiveReason::Rejected => "Offset rejected by client.",
        ArchiveReason::DeliveryLimit => "Offset delivery count exceeded the threshold.",
    }
}

/// Bounds the decompressed size of a batch read for the original record.
const MAX_UNCOMPRESSED: usize = 64 << 20;

/// Where and how a group's dead-letter copies go.
pub(crate) struct Target<'a> {
    /// The dead-letter topic.
    pub(crate) topic: &'a str,
    /// Copy the original key, value and headers.
    pub(crate) copy_record: bool,
    /// The share group.
    pub(crate) group: &'a str,
}

/// Checks that `topic` may take dead-letter copies (creating it when
/// `errors.deadletterqueue.auto.create.topics.enable` says so); its partition count, or the
/// Kafka error.
async fn check(host: &Host, topic: &str) -> Result<i32, ErrorCode> {
    let prefix = &host.config.dlq_topic_prefix;
    if topic.starts_with("__") || (!prefix.is_empty() && !topic.starts_with(prefix.as_str())) {
        return Err(ErrorCode::InvalidConfig);
    }
    if host.image().topic(topic).is_none() && host.config.dlq_auto_create {
        let spec = CreateTopicSpec {
            name: topic.to_string(),
            num_partitions: host.config.num_partitions,
            replication_factor: host.config.default_replication_factor,
            assignments: Vec::new(),
            configs: [(
                "errors.deadletterqueue.group.enable".to_string(),
                "true".to_string(),
            )]
            .into(),
        };
        match host.create_topics(&[spec], false).await.pop() {
            Some(Ok(_)) | Some(Err(MetaError::TopicAlreadyExists(_))) => {
                info!(topic, "created a dead-letter topic");
            }
            Some(Err(e)) => {
                warn!(topic, error = %e, "could not create a dead-letter topic");
                return Err(ErrorCode::UnknownTopicOrPartition);
            }
            None => return Err(ErrorCode::UnknownTopicOrPartition),
        }
    }
    let image = host.image();
    let t = image
        .topic(topic)
        .ok_or(ErrorCode::UnknownTopicOrPartition)?;
    let enabled = t
        .configs
        .get("errors.deadletterqueue.group.enable")
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"));
    if !enabled {
        return Err(ErrorCode::InvalidConfig);
    }
    let partitions = i32::try_from(t.partitions.len()).unwrap_or(0);
    if partitions == 0 {
        return Err(ErrorCode::UnknownTopicOrPartition);
    }
    Ok(partitions)
}

/// The original record at `offset` of `partition`, if the log still has it.
fn original(partition: &Partition, offset: i64) -> Option<Record> {
    let (read, _) = partition.read(offset, 1, true, false).ok()?;
    for batch in Batches::new(read.bytes) {
        let batch = batch.ok()?;
        if batch.last_offset() < offset {
            continue;
        }
        return batch
            .records(MAX_UNCOMPRESSED)
            .ok()?
            .into_iter()
            .find(|r| r.offset == offset);
    }
    None
}

/// Writes the dead-letter copies of `records` (archived from `partition`) and waits until
/// the dead-letter topic's in-sync replicas hold them.
pub(crate) async fn write(
    host: &Host,
    partition: &Partition,
    target: &Target<'_>,
    records: &[Archived],
) -> Result<(), ErrorCode> {
    let partitions = check(host, target.topic).await?;
    let now = now_ms();
    let mut builder = BatchBuilder::new(Compression::None, now);
    for a in records {
        let orig = target
            .copy_record
            .then(|| original(partition, a.offset))
            .flatten();
        let (p, o, dc) = (
            partition.index.to_string(),
            a.offset.to_string(),
            a.delivery_count.to_string(),
        );
        let mut headers: Vec<(&str, Option<&[u8]>)> = Vec::new();
        if let Some(r) = &orig {
            headers.extend(r.headers.iter().map(|(k, v)| (k.as_str(), v.as_deref())));
        }
        headers.extend([
            ("__dlq.errors.topic", Some(partition.topic.as_bytes())),
            ("__dlq.errors.partition", Some(p.as_bytes())),
            ("__dlq.errors.offset", Some(o.as_bytes())),
            ("__dlq.errors.group", Some(target.group.as_bytes())),
            ("__dlq.errors.delivery.count", Some(dc.as_bytes())),
            ("__dlq.errors.message", Some(message(a.reason).as_bytes())),
        ]);
        let key = orig.as_ref().and_then(|r| r.key.as_deref());
        let value = orig.as_ref().and_then(|r| r.value.as_deref());
        builder
            .push(key, value, &headers, now)
            .map_err(|_| ErrorCode::UnknownServerError)?;
    }
    let batch = builder.build().map_err(|_| ErrorCode::UnknownServerError)?;
    let index = partition.index % partitions;
    produce(host, target.topic, index, batch).await
}

/// Produces `batch` with acks=all to the leader of `topic`-`index`.
async fn produce(host: &Host, topic: &str, index: i32, batch: Bytes) -> Result<(), ErrorCode> {
    let image = host.image();
    let leader = image
        .topic(topic)
        .and_then(|t| t.partitions.get(&index))
        .map(|p| p.leader)
        .filter(|l| *l >= 0)
        .ok_or(ErrorCode::LeaderNotAvailable)?;
    let b = image
        .brokers
        .get(&leader)
        .filter(|b| !b.fenced)
        .ok_or(ErrorCode::LeaderNotAvailable)?;
    let addr = format!("{}:{}", b.host, b.port);
    let req = weir_client::producer::request(topic, index, batch, -1, 30_000);
    let resp = host.peers.send(leader, &addr, &req).await.map_err(|e| {
        debug!(leader, error = %e, "dead-letter produce failed");
        ErrorCode::NetworkException
    })?;
    let code = resp
        .responses
        .iter()
        .flat_map(|t| &t.partition_responses)
        .map(|p| p.error_code)
        .find(|&c| c != 0)
        .unwrap_or(0);
    match ErrorCode::from_code(code) {
        ErrorCode::None => Ok(()),
        other => Err(other),
    }
}
