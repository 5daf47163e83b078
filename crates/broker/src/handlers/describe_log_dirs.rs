//! DescribeLogDirs: this broker's one log directory and the size of each partition replica
//! it holds there (leader or follower), with its lag behind the high watermark.

use std::collections::BTreeMap;

use weir_protocol::messages::describe_log_dirs_response::{
    DescribeLogDirsPartition, DescribeLogDirsResult, DescribeLogDirsTopic,
};
use weir_protocol::messages::{DescribeLogDirsRequest, DescribeLogDirsResponse};

use crate::handlers::context::RequestContext;

/// Kafka's value for volume sizes it cannot tell.
const UNKNOWN_VOLUME_BYTES: i64 = -1;

pub(crate) async fn handle(
    ctx: RequestContext,
    req: DescribeLogDirsRequest,
) -> DescribeLogDirsResponse {
    if !ctx.allowed_cluster(weir_auth::acl::Operation::Describe) {
        return DescribeLogDirsResponse {
            error_code: weir_protocol::error::ErrorCode::ClusterAuthorizationFailed.code(),
            ..Default::default()
        };
    }
    let wanted = |topic: &str, index: i32| match &req.topics {
        None => true,
        Some(ts) => ts
            .iter()
            .any(|t| t.topic == topic && t.partitions.contains(&index)),
    };
    let mut topics: BTreeMap<String, Vec<DescribeLogDirsPartition>> = BTreeMap::new();
    for p in ctx.state.partitions() {
        if !wanted(&p.topic, p.index) {
            continue;
        }
        let (size, end) = {
            let log = p.log();
            (log.size_bytes(), log.log_end_offset())
        };
        topics
            .entry(p.topic.clone())
            .or_default()
            .push(DescribeLogDirsPartition {
                partition_index: p.index,
                partition_size: i64::try_from(size).unwrap_or(i64::MAX),
                offset_lag: (p.high_watermark() - end).max(0),
                is_future_key: false,
                ..Default::default()
            });
    }
    let topics = topics
        .into_iter()
        .map(|(name, mut partitions)| {
            partitions.sort_by_key(|p| p.partition_index);
            DescribeLogDirsTopic {
                name,
                partitions,
                ..Default::default()
            }
        })
        .collect();
    let dir = &ctx.state.config.data_dir;
    let log_dir = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.clone());
    DescribeLogDirsResponse {
        results: vec![DescribeLogDirsResult {
            error_code: 0,
            log_dir: log_dir.display().to_string(),
            topics,
            total_bytes: UNKNOWN_VOLUME_BYTES,
            usable_bytes: UNKNOWN_VOLUME_BYTES,
            ..Default::default()
        }],
        ..Default::default()
    }
}
