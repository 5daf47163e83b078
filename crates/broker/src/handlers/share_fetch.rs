//! ShareFetch (KIP-932): a share group member's fetch from the partitions this broker leads.
//! The request first settles the acknowledgements it carries, then acquires records for the
//! member from every partition of its share session, long-polling up to `MaxWaitMs` until
//! some are acquired. The response carries whole stored batches and the acquired offset
//! ranges with their delivery counts; the client hands out only acquired records.

use std::collections::BTreeMap;
use std::time::Duration;

use tokio::time::Instant;
use tracing::info;
use weir_auth::acl::{Operation, ResourceType};
use weir_coordinator::share::AckBatch;
use weir_meta::MetadataImage;
use weir_protocol::error::ErrorCode;
use weir_protocol::messages::share_fetch_response::{
    AcquiredRecords, LeaderIdAndEpoch, NodeEndpoint, PartitionData, ShareFetchableTopicResponse,
};
use weir_protocol::messages::{ShareFetchRequest, ShareFetchResponse};

use crate::handlers::context::{Reply, RequestContext};
use crate::ids::{from_uuid, to_uuid};
use crate::shares::session::{Opened, SessionKey, SessionPartition};
use crate::shares::{config, ShareKey};

/// One partition's part of the answer, before it is laid out by topic.
#[derive(Default)]
struct Part {
    error: Option<ErrorCode>,
    ack_error: Option<ErrorCode>,
    data: Option<crate::shares::Acquired>,
}

pub(crate) async fn handle(
    ctx: RequestContext,
    req: ShareFetchRequest,
) -> Reply<ShareFetchResponse> {
    let state = ctx.state.clone();
    let (Some(group), Some(member)) = (req.group_id.clone(), req.member_id.clone()) else {
        return Reply::Now(top_error(
            ErrorCode::InvalidRequest,
            "GroupId and MemberId are required.",
        ));
    };
    if group.is_empty() || member.is_empty() {
        return Reply::Now(top_error(
            ErrorCode::InvalidRequest,
            "GroupId and MemberId are required.",
        ));
    }
    if !ctx.allowed(Operation::Read, ResourceType::Group, &group) {
        return Reply::Now(top_error(
            ErrorCode::GroupAuthorizationFailed,
            "Not authorized to read the group.",
        ));
    }
    // A session opens with a fetch, not with acknowledgements (Kafka's rule).
    let acks = req.topics.iter().any(|t| {
        t.partitions
            .iter()
            .any(|p| !p.acknowledgement_batches.is_empty())
    });
    if req.share_session_epoch == 0 && acks {
        info!(%group, %member, client_id = %ctx.client_id, "refused acknowledgements in a ShareFetch opening a share session");
        return Reply::Now(top_error(
            ErrorCode::InvalidRequest,
            "Acknowledge data present in the initial fetch request.",
        ));
    }
    let image = state.image();
    let added: Vec<SessionPartition> = req
        .topics
        .iter()
        .flat_map(|t| {
            t.partitions
                .iter()
                .map(|p| (from_uuid(&t.topic_id), p.partition_index))
        })
        .collect();
    let forgotten: Vec<SessionPartition> = req
        .forgotten_topics_data
        .iter()
        .flat_map(|t| t.partitions.iter().map(|p| (from_uuid(&t.topic_id), *p)))
        .collect();
    let key: SessionKey = (group.clone(), member.clone());
    let opened = match state
        .shares
        .open_session(&key, req.share_session_epoch, &added, &forgotten)
    {
        Ok(o) => o,
        Err(code) => {
            info!(%group, %member, epoch = req.share_session_epoch, error = code.name(), client_id = %ctx.client_id, "share session refused");
            return Reply::Now(top_error(
                code,
                "The share session epoch does not fit the session.",
            ));
        }
    };
    let mut parts: BTreeMap<SessionPartition, Part> = BTreeMap::new();
    // Acknowledgements first: a closing session's are the last it sends.
    for t in &req.topics {
        for p in &t.partitions {
            if p.acknowledgement_batches.is_empty() {
                continue;
            }
            let tp = (from_uuid(&t.topic_id), p.partition_index);
            let batches: Vec<AckBatch> = p
                .acknowledgement_batches
                .iter()
                .map(|b| AckBatch {
                    first: b.first_offset,
                    last: b.last_offset,
                    types: b.acknowledge_types.clone(),
                })
                .collect();
            let result =
                super::share_acknowledge::settle(&ctx, &image, &group, &member, tp, &batches).await;
            parts.entry(tp).or_default().ack_error = Some(result.err().unwrap_or(ErrorCode::None));
        }
    }
    let closing = matches!(opened, Opened::Closed { .. });
    if let Opened::Closed { partitions } = &opened {
        state
            .shares
            .release_member(&group, &member, partitions, crate::host::now_ms());
    }
    let fetching: Vec<SessionPartition> = if closing {
        Vec::new()
    } else {
        state.shares.session_partitions(&key)
    };
    let lock_ms = config::for_group(state.shares.settings(), &image, &group)
        .settings
        .lock_duration_ms;
    let max_records = usize::try_from(req.max_records.max(1)).unwrap_or(1);
    let max_bytes = usize::try_from(req.max_bytes.max(0)).unwrap_or(0);
    let fetch = Fetch {
        group,
        member,
        partitions: fetching,
        max_records,
        max_bytes,
    };
    let acquired = fetch.once(&ctx, &image, &mut parts).await;
    let max_wait = Duration::from_millis(u64::try_from(req.max_wait_ms.max(0)).unwrap_or(0));
    if acquired > 0 || max_wait.is_zero() || fetch.partitions.is_empty() {
        return Reply::Now(respond(&ctx, &image, parts, lock_ms));
    }
    let deadline = Instant::now() + max_wait;
    Reply::Later(Box::pin(async move {
        loop {
            let data = state.data_notify.notified();
            let released = state.shares.released.notified();
            tokio::pin!(data, released);
            data.as_mut().enable();
            released.as_mut().enable();
            let image = state.image();
            if fetch.once(&ctx, &image, &mut parts).await > 0 || Instant::now() >= deadline {
                return respond(&ctx, &image, parts, lock_ms);
            }
            let woken = tokio::time::timeout_at(deadline, async {
                tokio::select! {
                    () = &mut data => {},
                    () = &mut released => {},
                }
            })
            .await;
            if woken.is_err() {
                let image = state.image();
                fetch.once(&ctx, &image, &mut parts).await;
                return respond(&ctx, &image, parts, lock_ms);
            }
        }
    }))
}

/// What a fetch acquires from, for whom.
struct Fetch {
    group: String,
    member: String,
    partitions: Vec<SessionPartition>,
    max_records: usize,
    max_bytes: usize,
}

impl Fetch {
    /// Acquires from every session partition, recording data and errors in `parts`; the
    /// number of records acquired.
    async fn once(
        &self,
        ctx: &RequestContext,
        image: &MetadataImage,
        parts: &mut BTreeMap<SessionPartition, Part>,
    ) -> usize {
        let state = &ctx.state;
        let mut records_left = self.max_records;
        let mut bytes_left = self.max_bytes;
        let mut acquired = 0usize;
        for tp in &self.partitions {
            if records_left == 0 {
                break;
            }
            let part = parts.entry(*tp).or_default();
            if part.data.as_ref().is_some_and(|d| !d.ranges.is_empty()) {
                continue;
            }
            let partition = match image.topic_by_id(&tp.0) {
                None => Err(ErrorCode::UnknownTopicId),
                Some(t) if !ctx.allowed(Operation::Read, ResourceType::Topic, &t.name) => {
                    Err(ErrorCode::TopicAuthorizationFailed)
                }
                Some(t) => state.lead(t, tp.1),
            };
            let partition = match partition {
                Ok(p) => p,
                Err(e) => {
                    part.error = Some(e);
                    continue;
                }
            };
            let key = ShareKey {
                group: self.group.clone(),
                topic: tp.0,
                partition: tp.1,
            };
            let got = state
                .shares
                .acquire(
                    &key,
                    &partition,
                    &self.member,
                    records_left,
                    bytes_left.max(1),
                )
                .await;
            let part = parts.entry(*tp).or_default();
            match got {
                Ok(got) => {
                    let n: usize = got
                        .ranges
                        .iter()
                        .map(|r| usize::try_from(r.last - r.first + 1).unwrap_or(0))
                        .sum();
                    records_left = records_left.saturating_sub(n);
                    bytes_left = bytes_left.saturating_sub(got.records.len());
                    acquired += n;
                    part.error = None;
                    part.data = Some(got);
                }
                Err(e) => part.error = Some(e),
            }
        }
        acquired
    }
}

fn top_error(code: ErrorCode, message: &str) -> ShareFetchResponse {
    ShareFetchResponse {
        error_code: code.code(),
        error_message: Some(message.to_string()),
        ..Default::default()
    }
}

/// Lays out `parts` by topic: partitions with records, errors or acknowledgement results.
fn respond(
    ctx: &RequestContext,
    image: &MetadataImage,
    parts: BTreeMap<SessionPartition, Part>,
    lock_ms: i64,
) -> ShareFetchResponse {
    let mut topics: Vec<ShareFetchableTopicResponse> = Vec::new();
    let mut leaders: Vec<i32> = Vec::new();
    for ((topic, index), part) in parts {
        let has_data = part.data.as_ref().is_some_and(|d| !d.ranges.is_empty());
        if !has_data && part.error.is_none() && part.ack_error.is_none() {
            continue;
        }
        let mut data = PartitionData {
            partition_index: index,
            error_code: part.error.map_or(0, |e| e.code()),
            acknowledge_error_code: part.ack_error.map_or(0, |e| e.code()),
            current_leader: LeaderIdAndEpoch {
                leader_id: -1,
                leader_epoch: -1,
                ..Default::default()
            },
            records: Some(bytes::Bytes::new()),
            ..Default::default()
        };
        if matches!(part.error, Some(ErrorCode::NotLeaderOrFollower)) {
            if let Some(p) = image
                .topic_by_id(&topic)
                .and_then(|t| t.partitions.get(&index))
            {
                data.current_leader.leader_id = p.leader;
                data.current_leader.leader_epoch = p.leader_epoch;
                if p.leader >= 0 && !leaders.contains(&p.leader) {
                    leaders.push(p.leader);
                }
            }
        }
        if let Some(d) = part.data {
            data.records = Some(d.records);
            data.acquired_records = d
                .ranges
                .iter()
                .map(|r| AcquiredRecords {
                    first_offset: r.first,
                    last_offset: r.last,
                    delivery_count: r.delivery_count,
                    ..Default::default()
                })
                .collect();
        }
        let id = to_uuid(&topic);
        match topics.last_mut() {
            Some(t) if t.topic_id == id => t.partitions.push(data),
            _ => topics.push(ShareFetchableTopicResponse {
                topic_id: id,
                partitions: vec![data],
                ..Default::default()
            }),
        }
    }
    let node_endpoints = leaders
        .iter()
        .filter_map(|id| {
            let b = image.brokers.get(id)?;
            let (host, port) = b.endpoint(&ctx.listener)?;
            Some(NodeEndpoint {
                node_id: *id,
                host: host.to_string(),
                port,
                rack: b.rack.clone(),
                ..Default::default()
            })
        })
        .collect();
    ShareFetchResponse {
        acquisition_lock_timeout_ms: i32::try_from(lock_ms).unwrap_or(i32::MAX),
        responses: topics,
        node_endpoints,
        ..Default::default()
    }
}
