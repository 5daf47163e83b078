//! CreateTopics: validates and creates each topic atomically (or only validates, with
//! validate_only), answering with the topic id, partition count and effective configs.

use std::collections::{BTreeMap, HashSet};

use weir_meta::controller::CreateTopicSpec;
use weir_protocol::error::ErrorCode;
use weir_protocol::messages::create_topics_response::{
    CreatableTopicConfigs, CreatableTopicResult,
};
use weir_protocol::messages::{CreateTopicsRequest, CreateTopicsResponse};

use weir_auth::acl::{Operation, ResourceType};

use crate::configs::topic_entries;
use crate::handlers::context::RequestContext;
use crate::ids::to_uuid;

pub(crate) async fn handle(ctx: RequestContext, req: CreateTopicsRequest) -> CreateTopicsResponse {
    let state = &ctx.state;
    let mut seen = HashSet::new();
    let duplicated: HashSet<String> = req
        .topics
        .iter()
        .filter(|t| !seen.insert(t.name.clone()))
        .map(|t| t.name.clone())
        .collect();
    let mut results = Vec::with_capacity(req.topics.len());
    let mut specs = Vec::new();
    let cluster_create = ctx.allowed_cluster(Operation::Create);
    for t in &req.topics {
        if !cluster_create && !ctx.allowed(Operation::Create, ResourceType::Topic, &t.name) {
            results.push(Some(error_result(
                &t.name,
                ErrorCode::TopicAuthorizationFailed,
                "Authorization failed.".into(),
            )));
            continue;
        }
        if duplicated.contains(&t.name) {
            results.push(Some(error_result(
                &t.name,
                ErrorCode::InvalidRequest,
                "Create topics request from client contains a duplicate topic".into(),
            )));
            continue;
        }
        let mut configs = BTreeMap::new();
        let mut null_config = None;
        for c in &t.configs {
            match &c.value {
                Some(v) => {
                    configs.insert(c.name.clone(), v.clone());
                }
                None => null_config = Some(c.name.clone()),
            }
        }
        if let Some(key) = null_config {
            results.push(Some(error_result(
                &t.name,
                ErrorCode::InvalidConfig,
                format!("Null value not supported for topic configs: {key}"),
            )));
            continue;
        }
        results.push(None);
        specs.push(CreateTopicSpec {
            name: t.name.clone(),
            num_partitions: t.num_partitions,
            replication_factor: t.replication_factor,
            assignments: t
                .assignments
                .iter()
                .map(|a| (a.partition_index, a.broker_ids.clone()))
                .collect(),
            configs,
        });
    }
    let mut created = state
        .create_topics(&specs, req.validate_only)
        .await
        .into_iter();
    let topics = results
        .into_iter()
        .zip(req.topics.iter())
        .map(|(done, t)| match done {
            Some(r) => r,
            None => match created.next() {
                Some(Ok(topic)) => {
                    let rf = topic
                        .partitions
                        .values()
                        .next()
                        .map_or(0, |p| p.replicas.len());
                    CreatableTopicResult {
                        name: t.name.clone(),
                        topic_id: to_uuid(&topic.topic_id),
                        error_code: 0,
                        num_partitions: i32::try_from(topic.partitions.len()).unwrap_or(i32::MAX),
                        replication_factor: i16::try_from(rf).unwrap_or(i16::MAX),
                        configs: Some(
                            topic_entries(
                                &crate::configs::BrokerValues {
                                    config: &state.config,
                                    image: &state.image(),
                                },
                                &topic,
                            )
                            .into_iter()
                            .map(|e| CreatableTopicConfigs {
                                name: e.name,
                                value: e.value,
                                read_only: e.read_only,
                                config_source: e.source,
                                is_sensitive: false,
                                ..Default::default()
                            })
                            .collect(),
                        ),
                        ..Default::default()
                    }
                }
                Some(Err(e)) => {
                    error_result(&t.name, ErrorCode::from_code(e.code()), e.to_string())
                }
                None => error_result(&t.name, ErrorCode::UnknownServerError, "no result".into()),
            },
        })
        .collect();
    CreateTopicsResponse {
        topics,
        ..Default::default()
    }
}

fn error_result(name: &str, code: ErrorCode, message: String) -> CreatableTopicResult {
    CreatableTopicResult {
        name: name.to_string(),
        error_code: code.code(),
        error_message: Some(message),
        num_partitions: -1,
        replication_factor: -1,
        configs: None,
        ..Default::default()
    }
}
