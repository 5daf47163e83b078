//! AlterConfigs (legacy: each resource's configs replaced as a whole) and
//! IncrementalAlterConfigs (SET, DELETE, APPEND, SUBTRACT per key), for topics, groups
//! (Kafka's GROUP resource) and brokers (a broker id, or "" for the cluster-wide default). Changes go to the metadata
//! log, so they survive a restart; an invalid value fails its resource with INVALID_CONFIG
//! naming the key, and nothing of that resource changes.

use tracing::info;
use weir_meta::config_change::ConfigOp;
use weir_meta::MetaError;
use weir_protocol::error::ErrorCode;
use weir_protocol::messages::alter_configs_response::AlterConfigsResourceResponse;
use weir_protocol::messages::incremental_alter_configs_response::AlterConfigsResourceResponse as IncrementalResult;
use weir_protocol::messages::{
    AlterConfigsRequest, AlterConfigsResponse, IncrementalAlterConfigsRequest,
    IncrementalAlterConfigsResponse,
};

use weir_auth::acl::{Operation, ResourceType};

use crate::handlers::context::RequestContext;
use crate::host::ConfigTarget;

const TOPIC: i8 = 2;
const BROKER: i8 = 4;
const GROUP: i8 = 32;

/// The target of a resource, or the error it gets.
fn target(ctx: &RequestContext, kind: i8, name: &str) -> Result<ConfigTarget, (ErrorCode, String)> {
    match kind {
        TOPIC => Ok(ConfigTarget::Topic(name.to_string())),
        GROUP => Ok(ConfigTarget::Group(name.to_string())),
        BROKER if name.is_empty() => Ok(ConfigTarget::Broker(-1)),
        BROKER => match name.parse::<i32>() {
            Ok(id) if ctx.state.image().brokers.contains_key(&id) => Ok(ConfigTarget::Broker(id)),
            _ => Err((
                ErrorCode::InvalidRequest,
                format!("Unknown broker id {name}"),
            )),
        },
        other => Err((
            ErrorCode::InvalidRequest,
            format!("Unsupported resource type {other}"),
        )),
    }
}

/// Runs one resource's change; its error code and message.
async fn alter(
    ctx: &RequestContext,
    kind: i8,
    name: &str,
    ops: Result<Vec<(String, ConfigOp)>, (ErrorCode, String)>,
    replace_all: bool,
    validate_only: bool,
) -> (ErrorCode, Option<String>) {
    // ALTER_CONFIGS on the topic, or on the cluster for broker configs.
    let allowed = match kind {
        TOPIC => ctx.allowed(Operation::AlterConfigs, ResourceType::Topic, name),
        GROUP => ctx.allowed(Operation::AlterConfigs, ResourceType::Group, name),
        _ => ctx.allowed_cluster(Operation::AlterConfigs),
    };
    if !allowed {
        let code = match kind {
            TOPIC => ErrorCode::TopicAuthorizationFailed,
            GROUP => ErrorCode::GroupAuthorizationFailed,
            _ => ErrorCode::ClusterAuthorizationFailed,
        };
        return (code, None);
    }
    let result = match (target(ctx, kind, name), ops) {
        (Ok(t), Ok(ops)) => ctx
            .state
            .alter_configs(t, &ops, replace_all, validate_only)
            .await
            .map_err(|e| (meta_code(&e), e.to_string())),
        (Err(e), _) | (_, Err(e)) => Err(e),
    };
    match result {
        Ok(()) => (ErrorCode::None, None),
        Err((code, msg)) => {
            info!(resource = name, error = code.name(), %msg, "config change refused");
            (code, Some(msg))
        }
    }
}

fn meta_code(e: &MetaError) -> ErrorCode {
    ErrorCode::from_code(e.code())
}

pub(crate) async fn handle(ctx: RequestContext, req: AlterConfigsRequest) -> AlterConfigsResponse {
    let mut responses = Vec::with_capacity(req.resources.len());
    for r in &req.resources {
        let ops = r
            .configs
            .iter()
            .map(|c| match &c.value {
                Some(v) => Ok((c.name.clone(), ConfigOp::Set(v.clone()))),
                None => Ok((c.name.clone(), ConfigOp::Delete)),
            })
            .collect();
        let (code, message) = alter(
            &ctx,
            r.resource_type,
            &r.resource_name,
            ops,
            true,
            req.validate_only,
        )
        .await;
        responses.push(AlterConfigsResourceResponse {
            error_code: code.code(),
            error_message: message,
            resource_type: r.resource_type,
            resource_name: r.resource_name.clone(),
            ..Default::default()
        });
    }
    AlterConfigsResponse {
        responses,
        ..Default::default()
    }
}

pub(crate) async fn handle_incremental(
    ctx: RequestContext,
    req: IncrementalAlterConfigsRequest,
) -> IncrementalAlterConfigsResponse {
    let mut responses = Vec::with_capacity(req.resources.len());
    for r in &req.resources {
        let ops = r
            .configs
            .iter()
            .map(|c| {
                let value = || c.value.clone().unwrap_or_default();
                let op = match c.config_operation {
                    0 => ConfigOp::Set(value()),
                    1 => ConfigOp::Delete,
                    2 => ConfigOp::Append(value()),
                    3 => ConfigOp::Subtract(value()),
                    other => {
                        return Err((
                            ErrorCode::InvalidRequest,
                            format!("Unknown config operation {other} for {}", c.name),
                        ))
                    }
                };
                Ok((c.name.clone(), op))
            })
            .collect();
        let (code, message) = alter(
            &ctx,
            r.resource_type,
            &r.resource_name,
            ops,
            false,
            req.validate_only,
        )
        .await;
        responses.push(IncrementalResult {
            error_code: code.code(),
            error_message: message,
            resource_type: r.resource_type,
            resource_name: r.resource_name.clone(),
            ..Default::default()
        });
    }
    IncrementalAlterConfigsResponse {
        responses,
        ..Default::default()
    }
}
