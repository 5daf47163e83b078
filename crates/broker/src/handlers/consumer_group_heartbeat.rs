//! ConsumerGroupHeartbeat (KIP-848): the whole membership protocol of the new consumer
//! groups, in one request a member sends every heartbeat interval. Topics travel by id on
//! the wire and by name inside the coordinator. A member may subscribe by pattern
//! (`SubscribedTopicRegex`, RE2/J syntax): it is matched against every topic but the
//! internal ones, afresh at each heartbeat, so the assignment follows topics as they are
//! created and deleted.

use tracing::info;
use weir_coordinator::assignor::TopicPartitions;
use weir_coordinator::consumer::{Heartbeat, TopicRegex, Topics};
use weir_meta::MetadataImage;
use weir_protocol::codec::Uuid;
use weir_protocol::error::ErrorCode;
use weir_protocol::messages::consumer_group_heartbeat_response::{self as resp, Assignment};
use weir_protocol::messages::{ConsumerGroupHeartbeatRequest, ConsumerGroupHeartbeatResponse};

use weir_auth::acl::{Operation, ResourceType};

use crate::groups::Step;
use crate::handlers::context::RequestContext;

pub(crate) async fn handle(
    ctx: RequestContext,
    req: ConsumerGroupHeartbeatRequest,
) -> ConsumerGroupHeartbeatResponse {
    ctx.state.metrics.learn_group(&ctx.client_id, &req.group_id);
    let image = ctx.state.image();
    if let Some(message) = invalid(&req, ctx.version) {
        return error(ErrorCode::InvalidRequest, Some(message));
    }
    if !ctx.allowed(Operation::Read, ResourceType::Group, &req.group_id) {
        return error(ErrorCode::GroupAuthorizationFailed, None);
    }
    // Subscribing to a topic by name needs DESCRIBE on it, as in Kafka.
    if let Some(names) = &req.subscribed_topic_names {
        if names
            .iter()
            .any(|t| !ctx.allowed(Operation::Describe, ResourceType::Topic, t))
        {
            return error(ErrorCode::TopicAuthorizationFailed, None);
        }
    }
    if let Some(p) = req
        .subscribed_topic_regex
        .as_deref()
        .filter(|p| !p.is_empty())
    {
        if let Err(why) = TopicRegex::new(p) {
            info!(group = %req.group_id, client_id = %ctx.client_id, pattern = p, error = %why, "refused a subscription pattern");
            let message =
                format!("SubscribedTopicRegex `{p}` is not a valid regular expression: {why}.");
            return error(ErrorCode::InvalidRegularExpression, Some(message));
        }
    }
    let hb = Heartbeat {
        member_id: req.member_id.clone(),
        member_epoch: req.member_epoch,
        instance_id: req.instance_id.clone(),
        rack_id: req.rack_id.clone(),
        rebalance_timeout_ms: req.rebalance_timeout_ms,
        subscribed_topics: req
            .subscribed_topic_names
            .clone()
            .map(|ts| ts.into_iter().collect()),
        subscribed_topic_regex: req.subscribed_topic_regex.clone(),
        server_assignor: req.server_assignor.clone(),
        owned: req.topic_partitions.as_ref().map(|tps| {
            let mut owned = TopicPartitions::new();
            for tp in tps {
                // Partitions of a deleted topic are no longer anyone's.
                if let Some(t) = image.topic_by_id(&tp.topic_id.0) {
                    owned
                        .entry(t.name.clone())
                        .or_default()
                        .extend(tp.partitions.iter().copied());
                }
            }
            owned
        }),
        client_id: ctx.client_id.clone(),
        client_host: super::client_host(&ctx),
    };
    let state = &ctx.state;
    let topics = ImageTopics(&image);
    let result = state
        .groups
        .run(&req.group_id, |c, now| {
            let new_id = || uuid::Uuid::new_v4().to_string();
            let (result, records) = c.consumer_heartbeat(&req.group_id, hb, new_id, &topics, now);
            Step::records(result, records)
        })
        .await
        .and_then(|r| r);
    match result {
        Ok(r) => ConsumerGroupHeartbeatResponse {
            member_id: Some(r.member_id),
            member_epoch: r.member_epoch,
            heartbeat_interval_ms: r.heartbeat_interval_ms,
            assignment: r.assignment.map(|a| Assignment {
                topic_partitions: by_id(&image, &a),
                ..Default::default()
            }),
            ..Default::default()
        },
        Err(e) => error(e, None),
    }
}

/// Kafka's checks of a heartbeat's fields, as the message of an INVALID_REQUEST.
fn invalid(req: &ConsumerGroupHeartbeatRequest, version: i16) -> Option<String> {
    if req.group_id.is_empty() {
        return Some("GroupId can't be empty.".into());
    }
    if version >= 1 && req.member_id.is_empty() {
        return Some("MemberId can't be empty.".into());
    }
    if req.member_epoch == 0 {
        if req.rebalance_timeout_ms == -1 {
            return Some("RebalanceTimeoutMs must be provided in first request.".into());
        }
        if req.topic_partitions.as_ref().is_none_or(|t| !t.is_empty()) {
            return Some("TopicPartitions must be empty when (re-)joining.".into());
        }
        if req.subscribed_topic_names.is_none() && req.subscribed_topic_regex.is_none() {
            return Some(
                "SubscribedTopicNames or SubscribedTopicRegex must be set in first request.".into(),
            );
        }
    } else if req.member_epoch < -2 {
        return Some(format!("MemberEpoch {} is invalid.", req.member_epoch));
    }
    None
}

fn by_id(image: &MetadataImage, a: &TopicPartitions) -> Vec<resp::TopicPartitions> {
    a.iter()
        .filter_map(|(name, ps)| {
            image.topic(name).map(|t| resp::TopicPartitions {
                topic_id: Uuid(t.topic_id),
                partitions: ps.iter().copied().collect(),
                ..Default::default()
            })
        })
        .collect()
}

/// The topics of an image, as a consumer group sees them: patterns never match internal
/// topics.
struct ImageTopics<'a>(&'a MetadataImage);

impl Topics for ImageTopics<'_> {
    fn partitions(&self, topic: &str) -> Option<i32> {
        self.0
            .topic(topic)
            .and_then(|t| i32::try_from(t.partitions.len()).ok())
    }

    fn names(&self) -> Vec<String> {
        self.0
            .topics
            .keys()
            .filter(|name| !weir_meta::names::is_internal(name))
            .cloned()
            .collect()
    }
}

fn error(e: ErrorCode, message: Option<String>) -> ConsumerGroupHeartbeatResponse {
    ConsumerGroupHeartbeatResponse {
        error_code: e.code(),
        error_message: message,
        member_epoch: -1,
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::Arc;

    use weir_coordinator::consumer::Topics;
    use weir_meta::{MetadataImage, TopicImage};

    use super::ImageTopics;

    #[test]
    fn patterns_never_see_internal_topics() {
        let mut image = MetadataImage::default();
        for name in ["orders", "__consumer_offsets", "__transaction_state"] {
            let t = TopicImage {
                name: name.to_string(),
                topic_id: [1; 16],
                partitions: BTreeMap::new(),
                configs: BTreeMap::new(),
            };
            image.topics.insert(name.to_string(), Arc::new(t));
        }
        assert_eq!(ImageTopics(&image).names(), vec!["orders".to_string()]);
        assert_eq!(ImageTopics(&image).partitions("orders"), Some(0));
    }
}
