//! Consumer-group administration: list and describe groups, read and set committed offsets,
//! delete groups. Requests go to the connection given; on a one-node cluster that is the
//! coordinator ([`coordinator`] says where a group's coordinator is).

use bytes::Bytes;
use weir_protocol::codec::{Decode, Reader};
use weir_protocol::messages::describe_groups_response::DescribedGroup;
use weir_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use weir_protocol::messages::offset_fetch_request::OffsetFetchRequestGroup;
use weir_protocol::messages::{
    ConsumerProtocolAssignment, DeleteGroupsRequest, DescribeGroupsRequest, FindCoordinatorRequest,
    ListGroupsRequest, OffsetCommitRequest, OffsetFetchRequest,
};

use crate::connection::Connection;
use crate::error::ClientError;

/// A group as ListGroups reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupListing {
    /// The group id.
    pub group_id: String,
    /// The protocol type (`consumer` for consumer groups; empty for simple groups).
    pub protocol_type: String,
    /// The state, e.g. `Stable`.
    pub state: String,
}

/// One committed offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Committed {
    /// The topic.
    pub topic: String,
    /// The partition.
    pub partition: i32,
    /// The committed offset.
    pub offset: i64,
}

/// The host and port of `group`'s coordinator.
pub async fn coordinator(conn: &Connection, group: &str) -> Result<(String, i32), ClientError> {
    let v = conn.version_of::<FindCoordinatorRequest>()?;
    // v4 replaced the single key with a list of them.
    let req = if v >= 4 {
        FindCoordinatorRequest {
            key_type: 0,
            coordinator_keys: vec![group.to_string()],
            ..Default::default()
        }
    } else {
        FindCoordinatorRequest {
            key: group.to_string(),
            key_type: 0,
            ..Default::default()
        }
    };
    let resp = conn.send_at(&req, v).await?;
    if v >= 4 {
        let c = resp
            .coordinators
            .first()
            .ok_or_else(|| ClientError::Protocol("empty FindCoordinator response".into()))?;
        ClientError::check(c.error_code, || {
            format!("finding the coordinator of {group}")
        })?;
        return Ok((c.host.clone(), c.port));
    }
    ClientError::check(resp.error_code, || {
        format!("finding the coordinator of {group}")
    })?;
    Ok((resp.host, resp.port))
}

/// Every group the broker coordinates.
pub async fn list(conn: &Connection) -> Result<Vec<GroupListing>, ClientError> {
    let resp = conn.send(&ListGroupsRequest::default()).await?;
    ClientError::check(resp.error_code, || "listing groups".into())?;
    Ok(resp
        .groups
        .into_iter()
        .map(|g| GroupListing {
            group_id: g.group_id,
            protocol_type: g.protocol_type,
            state: g.group_state,
        })
        .collect())
}

/// A group's state and members.
pub async fn describe(conn: &Connection, group: &str) -> Result<DescribedGroup, ClientError> {
    let req = DescribeGroupsRequest {
        groups: vec![group.to_string()],
        ..Default::default()
    };
    let resp = conn.send(&req).await?;
    let g = resp
        .groups
        .into_iter()
        .next()
        .ok_or_else(|| ClientError::Protocol("empty DescribeGroups response".into()))?;
    ClientError::check(g.error_code, || format!("describing {group}"))?;
    Ok(g)
}

/// The partitions in a consumer-protocol member assignment, as (topic, partition).
pub fn assigned_partitions(assignment: &Bytes) -> Result<Vec<(String, i32)>, ClientError> {
    if assignment.is_empty() {
        return Ok(Vec::new());
    }
    let mut r = Reader::new(assignment.clone());
    let version = r.read_i16()?;
    // Newer versions only add fields: read them as the newest this codec knows.
    let a = ConsumerProtocolAssignment::decode(
        &mut r,
        version.clamp(0, ConsumerProtocolAssignment::MAX_VERSION),
    )?;
    Ok(a.assigned_partitions
        .into_iter()
        .flat_map(|t| t.partitions.into_iter().map(move |p| (t.topic.clone(), p)))
        .collect())
}

/// Every offset `group` has committed.
pub async fn committed(conn: &Connection, group: &str) -> Result<Vec<Committed>, ClientError> {
    let v = conn.version_of::<OffsetFetchRequest>()?;
    // One group at the top before v8, a list of groups from v8.
    let req = if v >= 8 {
        OffsetFetchRequest {
            groups: vec![OffsetFetchRequestGroup {
                group_id: group.to_string(),
                topics: None,
                member_epoch: -1,
                ..Default::default()
            }],
            ..Default::default()
        }
    } else {
        OffsetFetchRequest {
            group_id: group.to_string(),
            topics: None,
            ..Default::default()
        }
    };
    let resp = conn.send_at(&req, v).await?;
    let mut out = Vec::new();
    if v >= 8 {
        for g in resp.groups {
            ClientError::check(g.error_code, || format!("fetching offsets of {group}"))?;
            for t in g.topics {
                for p in t.partitions {
                    ClientError::check(p.error_code, || format!("offset of {}", t.name))?;
                    out.push(Committed {
                        topic: t.name.clone(),
                        partition: p.partition_index,
                        offset: p.committed_offset,
                    });
                }
            }
        }
    } else {
        ClientError::check(resp.error_code, || format!("fetching offsets of {group}"))?;
        for t in resp.topics {
            for p in t.partitions {
                ClientError::check(p.error_code, || format!("offset of {}", t.name))?;
                out.push(Committed {
                    topic: t.name.clone(),
                    partition: p.partition_index,
                    offset: p.committed_offset,
                });
            }
        }
    }
    out.retain(|c| c.offset >= 0);
    Ok(out)
}

/// Commits `offsets` for `group` as an admin does: no member, generation -1. The group
/// must have no active members.
pub async fn commit(
    conn: &Connection,
    group: &str,
    offsets: &[Committed],
) -> Result<(), ClientError> {
    let mut topics: Vec<OffsetCommitRequestTopic> = Vec::new();
    for c in offsets {
        let p = OffsetCommitRequestPartition {
            partition_index: c.partition,
            committed_offset: c.offset,
            committed_leader_epoch: -1,
            commit_timestamp: -1,
            committed_metadata: Some(String::new()),
            ..Default::default()
        };
        match topics.iter_mut().find(|t| t.name == c.topic) {
            Some(t) => t.partitions.push(p),
            None => topics.push(OffsetCommitRequestTopic {
                name: c.topic.clone(),
                partitions: vec![p],
                ..Default::default()
            }),
        }
    }
    let req = OffsetCommitRequest {
        group_id: group.to_string(),
        generation_id_or_member_epoch: -1,
        member_id: String::new(),
        retention_time_ms: -1,
        topics,
        ..Default::default()
    };
    let resp = conn.send(&req).await?;
    for t in resp.topics {
        for p in t.partitions {
            ClientError::check(p.error_code, || {
                format!("committing {}-{} for {group}", t.name, p.partition_index)
            })?;
        }
    }
    Ok(())
}

/// Deletes an empty group and its offsets.
pub async fn delete(conn: &Connection, group: &str) -> Result<(), ClientError> {
    let req = DeleteGroupsRequest {
        groups_names: vec![group.to_string()],
        ..Default::default()
    };
    let resp = conn.send(&req).await?;
    for r in resp.results {
        ClientError::check(r.error_code, || format!("deleting {group}"))?;
    }
    Ok(())
}
