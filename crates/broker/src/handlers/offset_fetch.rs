//! OffsetFetch: a group's committed offsets, for named partitions or all of them; one group
//! per request before v8, several from v8. With `require_stable` (KIP-447), a partition
//! whose offset an open transaction is committing answers UNSTABLE_OFFSET_COMMIT.

use weir_coordinator::FetchedOffset;
use weir_protocol::error::ErrorCode;
use weir_protocol::messages::offset_fetch_response::{
    OffsetFetchResponseGroup, OffsetFetchResponsePartition, OffsetFetchResponsePartitions,
    OffsetFetchResponseTopic, OffsetFetchResponseTopics,
};
use weir_protocol::messages::{OffsetFetchRequest, OffsetFetchResponse};

use weir_auth::acl::{Operation, ResourceType};

use crate::groups::Step;
use crate::handlers::context::RequestContext;

type Fetched = Vec<(String, Vec<FetchedOffset>)>;

pub(crate) async fn handle(ctx: RequestContext, req: OffsetFetchRequest) -> OffsetFetchResponse {
    if ctx.version >= 8 {
        let mut groups = Vec::with_capacity(req.groups.len());
        for g in req.groups {
            let topics: Option<Vec<(String, Vec<i32>)>> = g.topics.map(|ts| {
                ts.into_iter()
                    .map(|t| (t.name, t.partition_indexes))
                    .collect()
            });
            let (error, fetched) = fetch(&ctx, &g.group_id, topics, req.require_stable).await;
            groups.push(OffsetFetchResponseGroup {
                group_id: g.group_id,
                error_code: error.code(),
                topics: fetched
                    .into_iter()
                    .map(|(name, ps)| OffsetFetchResponseTopics {
                        name,
                        partitions: ps
                            .into_iter()
                            .map(|p| OffsetFetchResponsePartitions {
                                partition_index: p.partition,
                                committed_offset: p.offset,
                                committed_leader_epoch: p.leader_epoch,
                                metadata: Some(p.metadata),
                                error_code: p.error.code(),
                                ..Default::default()
                            })
                            .collect(),
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            });
        }
        return OffsetFetchResponse {
            groups,
            ..Default::default()
        };
    }
    let topics: Option<Vec<(String, Vec<i32>)>> = req.topics.map(|ts| {
        ts.into_iter()
            .map(|t| (t.name, t.partition_indexes))
            .collect()
    });
    let stable = req.require_stable;
    let (error, fetched) = fetch(&ctx, &req.group_id, topics.clone(), stable).await;
    // Before v2 there is no top-level error: it goes on every partition asked for.
    let fetched = if ctx.version < 2 && error != ErrorCode::None {
        topics
            .unwrap_or_default()
            .into_iter()
            .map(|(t, ps)| (t, ps.into_iter().map(|p| failed(p, error)).collect()))
            .collect()
    } else {
        fetched
    };
    OffsetFetchResponse {
        error_code: error.code(),
        topics: fetched
            .into_iter()
            .map(|(name, ps)| OffsetFetchResponseTopic {
                name,
                partitions: ps
                    .into_iter()
                    .map(|p| OffsetFetchResponsePartition {
                        partition_index: p.partition,
                        committed_offset: p.offset,
                        committed_leader_epoch: p.leader_epoch,
                        metadata: Some(p.metadata),
                        error_code: p.error.code(),
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    }
}

async fn fetch(
    ctx: &RequestContext,
    group_id: &str,
    topics: Option<Vec<(String, Vec<i32>)>>,
    require_stable: bool,
) -> (ErrorCode, Fetched) {
    let state = &ctx.state;
    if !ctx.allowed(Operation::Describe, ResourceType::Group, group_id) {
        return (ErrorCode::GroupAuthorizationFailed, Vec::new());
    }
    // Topics the client may not describe: named ones answer TOPIC_AUTHORIZATION_FAILED,
    // and a fetch of all topics leaves them out.
    let all_topics = topics.is_none();
    let (topics, denied): (Option<Vec<_>>, Vec<_>) = match topics {
        None => (None, Vec::new()),
        Some(ts) => {
            let (ok, no): (Vec<_>, Vec<_>) = ts
                .into_iter()
                .partition(|(t, _)| ctx.allowed(Operation::Describe, ResourceType::Topic, t));
            (Some(ok), no)
        }
    };
    let result = state
        .groups
        .run(group_id, |c, _| {
            let mut fetched = c.fetch_offsets(group_id, topics.as_deref());
            if require_stable {
                for (t, ps) in &mut fetched {
                    for p in ps.iter_mut() {
                        if c.has_pending_offset(group_id, t, p.partition) {
                            *p = failed(p.partition, ErrorCode::UnstableOffsetCommit);
                        }
                    }
                }
            }
            Step::effects(fetched, Vec::new())
        })
        .await;
    match result {
        Ok(mut f) => {
            if all_topics && state.authz.enabled() {
                f.retain(|(t, _)| ctx.allowed(Operation::Describe, ResourceType::Topic, t));
            }
            for (t, ps) in denied {
                let failed = ps
                    .into_iter()
                    .map(|p| failed(p, ErrorCode::TopicAuthorizationFailed))
                    .collect();
                f.push((t, failed));
            }
            (ErrorCode::None, f)
        }
        Err(e) => (e, Vec::new()),
    }
}

fn failed(partition: i32, error: ErrorCode) -> FetchedOffset {
    FetchedOffset {
        partition,
        offset: -1,
        leader_epoch: -1,
        metadata: String::new(),
        error,
    }
}
