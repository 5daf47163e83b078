//! Admin calls: metadata, topic creation and deletion, offsets.

use weir_protocol::messages::create_topics_request::{CreatableTopic, CreatableTopicConfig};
use weir_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use weir_protocol::messages::metadata_request::MetadataRequestTopic;
use weir_protocol::messages::{
    CreateTopicsRequest, DeleteTopicsRequest, ListOffsetsRequest, MetadataRequest, MetadataResponse,
};

use crate::connection::Connection;
use crate::error::ClientError;

/// Metadata for `topics` (all topics when `None`), without auto-creating anything.
pub async fn metadata(
    conn: &Connection,
    topics: Option<&[String]>,
) -> Result<MetadataResponse, ClientError> {
    let req = MetadataRequest {
        topics: topics.map(|t| {
            t.iter()
                .map(|n| MetadataRequestTopic {
                    name: Some(n.clone()),
                    ..Default::default()
                })
                .collect()
        }),
        allow_auto_topic_creation: false,
        ..Default::default()
    };
    conn.send(&req).await
}

/// Creates a topic; `configs` are key/value overrides.
pub async fn create_topic(
    conn: &Connection,
    name: &str,
    partitions: i32,
    replication_factor: i16,
    configs: &[(String, String)],
) -> Result<(), ClientError> {
    let req = CreateTopicsRequest {
        topics: vec![CreatableTopic {
            name: name.to_string(),
            num_partitions: partitions,
            replication_factor,
            configs: configs
                .iter()
                .map(|(k, v)| CreatableTopicConfig {
                    name: k.clone(),
                    value: Some(v.clone()),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        }],
        timeout_ms: 30_000,
        ..Default::default()
    };
    let resp = conn.send(&req).await?;
    for t in resp.topics {
        ClientError::check(t.error_code, || {
            t.error_message
                .clone()
                .unwrap_or_else(|| format!("creating {name}"))
        })?;
    }
    Ok(())
}

/// Deletes a topic by name.
pub async fn delete_topic(conn: &Connection, name: &str) -> Result<(), ClientError> {
    let version = conn.version_of::<DeleteTopicsRequest>()?.min(5);
    let req = DeleteTopicsRequest {
        topic_names: vec![name.to_string()],
        timeout_ms: 30_000,
        ..Default::default()
    };
    let resp = conn.send_at(&req, version).await?;
    for r in resp.responses {
        ClientError::check(r.error_code, || {
            r.error_message
                .clone()
                .unwrap_or_else(|| format!("deleting {name}"))
        })?;
    }
    Ok(())
}

/// The offset for `timestamp` (-1 latest, -2 earliest) of one partition.
pub async fn list_offset(
    conn: &Connection,
    topic: &str,
    partition: i32,
    timestamp: i64,
) -> Result<i64, ClientError> {
    let req = ListOffsetsRequest {
        replica_id: -1,
        topics: vec![ListOffsetsTopic {
            name: topic.to_string(),
            partitions: vec![ListOffsetsPartition {
                partition_index: partition,
                current_leader_epoch: -1,
                timestamp,
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    };
    let resp = conn.send(&req).await?;
    let p = resp
        .topics
        .first()
        .and_then(|t| t.partitions.first())
        .ok_or_else(|| ClientError::Protocol("empty ListOffsets response".into()))?;
    ClientError::check(p.error_code, || {
        format!("listing offsets of {topic}-{partition}")
    })?;
    Ok(p.offset)
}

/// A topic's configs as DescribeConfigs gives them: (key, value, source id).
pub async fn topic_configs(
    conn: &Connection,
    name: &str,
) -> Result<Vec<(String, Option<String>, i8)>, ClientError> {
    use weir_protocol::messages::describe_configs_request::DescribeConfigsResource;
    use weir_protocol::messages::DescribeConfigsRequest;
    let req = DescribeConfigsRequest {
        resources: vec![DescribeConfigsResource {
            resource_type: 2,
            resource_name: name.to_string(),
            configuration_keys: None,
            ..Default::default()
        }],
        ..Default::default()
    };
    let resp = conn.send(&req).await?;
    let mut out = Vec::new();
    for r in resp.results {
        ClientError::check(r.error_code, || {
            r.error_message
                .clone()
                .unwrap_or_else(|| format!("describing {name}"))
        })?;
        out.extend(
            r.configs
                .into_iter()
                .map(|c| (c.name, c.value, c.config_source)),
        );
    }
    Ok(out)
}

/// Changes a topic's configs with IncrementalAlterConfigs: `Some(value)` sets a key,
/// `None` deletes its override.
pub async fn alter_topic_configs(
    conn: &Connection,
    name: &str,
    changes: &[(String, Option<String>)],
) -> Result<(), ClientError> {
    use weir_protocol::messages::incremental_alter_configs_request::{
        AlterConfigsResource, AlterableConfig,
    };
    use weir_protocol::messages::IncrementalAlterConfigsRequest;
    let req = IncrementalAlterConfigsRequest {
        resources: vec![AlterConfigsResource {
            resource_type: 2,
            resource_name: name.to_string(),
            configs: changes
                .iter()
                .map(|(k, v)| AlterableConfig {
                    name: k.clone(),
                    config_operation: if v.is_some() { 0 } else { 1 },
                    value: v.clone(),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        }],
        validate_only: false,
        ..Default::default()
    };
    let resp = conn.send(&req).await?;
    for r in resp.responses {
        ClientError::check(r.error_code, || {
            r.error_message
                .clone()
                .unwrap_or_else(|| format!("altering {name}"))
        })?;
    }
    Ok(())
}
