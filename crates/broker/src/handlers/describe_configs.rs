//! DescribeConfigs: topic and group configs and the broker's own settings, with sources and
//! synonyms.

use weir_protocol::error::ErrorCode;
use weir_protocol::messages::describe_configs_response::{
    DescribeConfigsResourceResult, DescribeConfigsResult, DescribeConfigsSynonym,
};
use weir_protocol::messages::{DescribeConfigsRequest, DescribeConfigsResponse};

use weir_auth::acl::{Operation, ResourceType};

use crate::configs::{
    broker_entries, cluster_default_entries, topic_entries, BrokerValues, ConfigEntry,
};
use crate::handlers::context::RequestContext;

const TOPIC: i8 = 2;
const BROKER: i8 = 4;
const BROKER_LOGGER: i8 = 8;
const GROUP: i8 = 32;

pub(crate) async fn handle(
    ctx: RequestContext,
    req: DescribeConfigsRequest,
) -> DescribeConfigsResponse {
    let state = &ctx.state;
    let image = state.image();
    let values = BrokerValues {
        config: &state.config,
        image: &image,
    };
    let results = req
        .resources
        .iter()
        .map(|r| {
            let mut out = DescribeConfigsResult {
                resource_type: r.resource_type,
                resource_name: r.resource_name.clone(),
                ..Default::default()
            };
            let entries = match r.resource_type {
                TOPIC
                    if !ctx.allowed(
                        Operation::DescribeConfigs,
                        ResourceType::Topic,
                        &r.resource_name,
                    ) =>
                {
                    Err((ErrorCode::TopicAuthorizationFailed, String::new()))
                }
                GROUP
                    if !ctx.allowed(
                        Operation::DescribeConfigs,
                        ResourceType::Group,
                        &r.resource_name,
                    ) =>
                {
                    Err((ErrorCode::GroupAuthorizationFailed, String::new()))
                }
                GROUP => Ok(crate::configs::group_entries(&image, &r.resource_name)),
                BROKER | BROKER_LOGGER if !ctx.allowed_cluster(Operation::DescribeConfigs) => {
                    Err((ErrorCode::ClusterAuthorizationFailed, String::new()))
                }
                TOPIC => match image.topic(&r.resource_name) {
                    Some(t) => Ok(topic_entries(&values, t)),
                    None => Err((
                        ErrorCode::UnknownTopicOrPartition,
                        format!("Topic {} does not exist", r.resource_name),
                    )),
                },
                BROKER if r.resource_name.is_empty() => Ok(cluster_default_entries(&values)),
                BROKER | BROKER_LOGGER
                    if r.resource_name.is_empty()
                        || r.resource_name == state.config.node_id.to_string() =>
                {
                    Ok(if r.resource_type == BROKER {
                        broker_entries(&values)
                    } else {
                        Vec::new()
                    })
                }
                BROKER | BROKER_LOGGER => Err((
                    ErrorCode::InvalidRequest,
                    format!("Unexpected broker id, expected {}", state.config.node_id),
                )),
                other => Err((
                    ErrorCode::InvalidRequest,
                    format!("Unsupported resource type {other}"),
                )),
            };
            match entries {
                Ok(entries) => {
                    out.configs = entries
                        .into_iter()
                        .filter(|e| {
                            r.configuration_keys
                                .as_ref()
                                .is_none_or(|keys| keys.contains(&e.name))
                        })
                        .map(|e| result(e, req.include_synonyms, req.include_documentation))
                        .collect();
                }
                Err((code, msg)) => {
                    out.error_code = code.code();
                    out.error_message = Some(msg);
                }
            }
            out
        })
        .collect();
    DescribeConfigsResponse {
        results,
        ..Default::default()
    }
}

fn result(e: ConfigEntry, synonyms: bool, docs: bool) -> DescribeConfigsResourceResult {
    DescribeConfigsResourceResult {
        name: e.name,
        value: e.value,
        read_only: e.read_only,
        is_default: e.source == crate::configs::source::DEFAULT,
        config_source: e.source,
        is_sensitive: false,
        synonyms: if synonyms {
            e.synonyms
                .into_iter()
                .map(|(name, value, source)| DescribeConfigsSynonym {
                    name,
                    value,
                    source,
                    ..Default::default()
                })
                .collect()
        } else {
            Vec::new()
        },
        config_type: e.kind.wire_id(),
        documentation: if docs { Some(e.doc.to_string()) } else { None },
        ..Default::default()
    }
}
