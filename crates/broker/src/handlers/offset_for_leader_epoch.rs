//! OffsetForLeaderEpoch: for each partition this broker leads, the largest leader epoch at
//! or below the asked one and the offset where it ends in the leader's log. Followers use
//! it to find a divergent tail after a leader change; consumers (KIP-320) to detect that
//! their position was truncated away.

use tracing::debug;
use weir_protocol::messages::offset_for_leader_epoch_response::{
    EpochEndOffset, OffsetForLeaderTopicResult,
};
use weir_protocol::messages::{OffsetForLeaderEpochRequest, OffsetForLeaderEpochResponse};

use weir_auth::acl::{Operation, ResourceType};
use weir_protocol::error::ErrorCode;

use crate::handlers::context::RequestContext;

pub(crate) async fn handle(
    ctx: RequestContext,
    req: OffsetForLeaderEpochRequest,
) -> OffsetForLeaderEpochResponse {
    let state = &ctx.state;
    // Followers need CLUSTER_ACTION, consumers DESCRIBE on the topic.
    let follower_denied = req.replica_id >= 0 && !ctx.allowed_cluster(Operation::ClusterAction);
    let topics = req
        .topics
        .iter()
        .map(|t| OffsetForLeaderTopicResult {
            topic: t.topic.clone(),
            partitions: {
                let denied = if follower_denied {
                    Some(ErrorCode::ClusterAuthorizationFailed)
                } else if req.replica_id < 0
                    && !ctx.allowed(Operation::Describe, ResourceType::Topic, &t.topic)
                {
                    Some(ErrorCode::TopicAuthorizationFailed)
                } else {
                    None
                };
                t
                .partitions
                .iter()
                .map(|p| {
                    let mut out = EpochEndOffset {
                        partition: p.partition,
                        leader_epoch: -1,
                        end_offset: -1,
                        ..Default::default()
                    };
                    let leader = match denied {
                        Some(code) => Err(code),
                        None => state.leader(&t.topic, p.partition),
                    };
                    let answer = leader.and_then(|part| {
                        part.check_leader_epoch(p.current_leader_epoch)?;
                        Ok(part.end_offset_for_epoch(p.leader_epoch))
                    });
                    match answer {
                        Ok((epoch, end)) => {
                            out.leader_epoch = epoch;
                            out.end_offset = end;
                        }
                        Err(code) => {
                            debug!(topic = %t.topic, partition = p.partition, error = code.name(), "OffsetForLeaderEpoch refused");
                            out.error_code = code.code();
                        }
                    }
                    out
                })
                .collect()
            },
            ..Default::default()
        })
        .collect();
    OffsetForLeaderEpochResponse {
        topics,
        ..Default::default()
    }
}
