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
//!
//! Each copy is written once: before copies are written the share-partition's state records
//! a mark (the dead-letter partition's high watermark then), cleared when their records are
//! recorded as archived. A leader that finds a mark (after a crash, or a write whose outcome
//! it does not know) first looks from it for copies already written ([`copied`]).

use std::collections::HashSet;
use std::sync::Arc;

use bytes::Bytes;
use tracing::{debug, info, warn};
use weir_client::error::ClientError;
use weir_client::Connection;
use weir_coordinator::share::state::{DeadLetterMark, ShareStateKey};
use weir_coordinator::share::{ArchiveReason, Archived, ShareSettings};
use weir_meta::controller::CreateTopicSpec;
use weir_meta::MetaError;
use weir_protocol::error::ErrorCode;
use weir_protocol::record::builder::BatchBuilder;
use weir_protocol::record::records::{Batches, Record};
use weir_protocol::record::Compression;

use super::persister::Persister;
use super::slot::Slot;
use crate::host::{now_ms, Host};
use crate::locks;
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
/// What one fetch of the dead-letter partition reads while looking for copies.
const SCAN_FETCH_BYTES: i32 = 1 << 20;
/// The most fetches one look for copies makes (a bound on its reading, 256 MiB).
const SCAN_FETCHES: usize = 256;

/// Where and how a group's dead-letter copies go.
pub(crate) struct Target<'a> {
    /// The dead-letter topic.
    pub(crate) topic: &'a str,
    /// Copy the original key, value and headers.
    pub(crate) copy_record: bool,
    /// The share group.
    pub(crate) group: &'a str,
}

/// What one dead-letter round did.
#[derive(Debug, Default)]
pub(crate) struct Settled {
    /// Copies written.
    pub(crate) written: usize,
    /// Copies found written by an earlier round whose end was not recorded.
    pub(crate) found: usize,
}

/// Writes the copies the share-partition in `slot` owes (its Archiving records) and
/// archives their records, each copy once even across crashes: the state records a mark
/// before any copy is written, and a round that finds one looks for copies from it first.
pub(crate) async fn settle(
    host: &Host,
    persister: &Persister,
    slot: &Slot,
    key: &ShareStateKey,
    source: &Partition,
    target: &Target<'_>,
    settings: &ShareSettings,
) -> Result<Settled, ErrorCode> {
    let (pending, mark, epoch) = match locks::lock(&slot.entry).as_ref() {
        Some(e) => (
            e.state.archiving(settings),
            e.dead_letter_mark,
            e.leader_epoch,
        ),
        None => return Ok(Settled::default()),
    };
    if pending.is_empty() {
        return Ok(Settled::default());
    }
    let index = partition_for(host, target.topic, source.index).await?;
    // Copies an earlier round wrote without recording their records archived.
    let found = match mark {
        Some(m) => {
            copied(
                host,
                target.topic,
                m.partition,
                m.offset,
                target.group,
                source,
            )
            .await?
        }
        None => HashSet::new(),
    };
    let mark = match mark.filter(|m| m.partition == index) {
        Some(m) => m,
        None => DeadLetterMark {
            partition: index,
            offset: high_watermark(host, target.topic, index).await?,
        },
    };
    slot.with_entry(epoch, |e| {
        for offset in &found {
            e.state.dead_lettered(*offset);
        }
        e.dead_letter_mark = Some(mark);
    })?;
    // The mark, and the Archiving states of the records copied, are durable before any copy.
    slot.persist(persister, key).await?;
    let owed = pending.len();
    let rest: Vec<Archived> = pending
        .into_iter()
        .filter(|a| !found.contains(&a.offset))
        .collect();
    if !rest.is_empty() {
        write(host, source, target, index, &rest).await?;
    }
    slot.with_entry(epoch, |e| {
        for a in &rest {
            e.state.dead_lettered(a.offset);
        }
        e.dead_letter_mark = None;
    })?;
    slot.persist(persister, key).await?;
    Ok(Settled {
        written: rest.len(),
        found: owed - rest.len(),
    })
}

/// The partition of dead-letter topic `topic` that copies from source partition `source`
/// go to, once the topic is checked (see [`check`]).
pub(crate) async fn partition_for(host: &Host, topic: &str, source: i32) -> Result<i32, ErrorCode> {
    let partitions = check(host, topic).await?;
    Ok(source.rem_euclid(partitions))
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

/// Writes the dead-letter copies of `records` (archived from `partition`) to partition
/// `index` of the dead-letter topic and waits until its in-sync replicas hold them.
pub(crate) async fn write(
    host: &Host,
    partition: &Partition,
    target: &Target<'_>,
    index: i32,
    records: &[Archived],
) -> Result<(), ErrorCode> {
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
    produce(host, target.topic, index, batch).await
}

/// The leader of `topic`-`index`: its node id and address.
fn leader(host: &Host, topic: &str, index: i32) -> Result<(i32, String), ErrorCode> {
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
    Ok((leader, format!("{}:{}", b.host, b.port)))
}

/// A connection to the leader of `topic`-`index`, with its node id.
async fn leader_connection(
    host: &Host,
    topic: &str,
    index: i32,
) -> Result<(i32, Arc<Connection>), ErrorCode> {
    let (node, addr) = leader(host, topic, index)?;
    let conn = host.peers.connection_to(node, &addr).await.map_err(|e| {
        debug!(node, error = %e, "reaching a dead-letter leader failed");
        ErrorCode::NetworkException
    })?;
    Ok((node, conn))
}

/// The high watermark of `topic`-`index`, asked of its leader: no copy written after this
/// call lands below it.
pub(crate) async fn high_watermark(host: &Host, topic: &str, index: i32) -> Result<i64, ErrorCode> {
    let (node, conn) = leader_connection(host, topic, index).await?;
    weir_client::admin::list_offset(&conn, topic, index, -1)
        .await
        .map_err(|e| {
            debug!(node, error = %e, "asking a dead-letter leader its high watermark failed");
            ErrorCode::NetworkException
        })
}

/// The last value of header `name`, as text.
fn header<'r>(r: &'r Record, name: &str) -> Option<&'r str> {
    r.headers
        .iter()
        .rev()
        .find(|(k, _)| k == name)
        .and_then(|(_, v)| std::str::from_utf8(v.as_deref()?).ok())
}

/// The offsets of `source` whose copies for `group` are in `topic`-`index` at or after
/// `from` (read up to its high watermark, at most [`SCAN_FETCHES`] fetches).
pub(crate) async fn copied(
    host: &Host,
    topic: &str,
    index: i32,
    from: i64,
    group: &str,
    source: &Partition,
) -> Result<HashSet<i64>, ErrorCode> {
    let (node, conn) = leader_connection(host, topic, index).await?;
    let source_partition = source.index.to_string();
    let mut found = HashSet::new();
    let mut at = from;
    for _ in 0..SCAN_FETCHES {
        let f = match weir_client::consumer::fetch(&conn, topic, index, at, 0, SCAN_FETCH_BYTES)
            .await
        {
            Ok(f) => f,
            // The mark is past the log (the topic was recreated): nothing of ours is there.
            Err(ClientError::Kafka {
                code: ErrorCode::OffsetOutOfRange,
                ..
            }) => return Ok(found),
            Err(ClientError::Kafka { code, .. }) => return Err(code),
            Err(e) => {
                debug!(node, error = %e, "reading a dead-letter partition failed");
                return Err(ErrorCode::NetworkException);
            }
        };
        for r in &f.records {
            let ours = header(r, "__dlq.errors.group") == Some(group)
                && header(r, "__dlq.errors.topic") == Some(source.topic.as_str())
                && header(r, "__dlq.errors.partition") == Some(source_partition.as_str());
            if let Some(offset) = ours
                .then(|| header(r, "__dlq.errors.offset")?.parse::<i64>().ok())
                .flatten()
            {
                found.insert(offset);
            }
        }
        if f.next_offset <= at || f.next_offset >= f.high_watermark {
            return Ok(found);
        }
        at = f.next_offset;
    }
    warn!(topic, partition = index, from, "stopped looking for earlier dead-letter copies after {SCAN_FETCHES} reads; some may be written again");
    Ok(found)
}

/// Produces `batch` with acks=all to the leader of `topic`-`index`.
async fn produce(host: &Host, topic: &str, index: i32, batch: Bytes) -> Result<(), ErrorCode> {
    let (leader, addr) = leader(host, topic, index)?;
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
