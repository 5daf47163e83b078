//! The share group records (KIP-932): member metadata (key version 10), group epoch (11),
//! current member assignment (14) and the topics whose share-partitions hold state (15, its
//! initialized topics). Assignments store topics by id; `ids` and `names` translate, and a
//! topic that no longer exists is left out.

use bytes::Bytes;
use weir_protocol::codec::{Decode, Reader, Uuid};
use weir_protocol::group_records::{
    share_group_current_member_assignment_value as current,
    share_group_state_partition_metadata_value as state, ShareGroupCurrentMemberAssignmentKey,
    ShareGroupCurrentMemberAssignmentValue, ShareGroupMemberMetadataKey,
    ShareGroupMemberMetadataValue, ShareGroupMetadataKey, ShareGroupMetadataValue,
    ShareGroupStatePartitionMetadataKey, ShareGroupStatePartitionMetadataValue,
};

use super::consumer::{TopicIds, TopicNames};
use super::{finish, read_versioned, versioned, RecordError};
use crate::assignor::TopicPartitions;
use crate::coordinator::Record;
use crate::share::group::{ShareAssignmentRecord, ShareMemberRecord};

/// Key and value of a share group record, or `None` if `record` is of another kind.
pub(super) fn encode(
    record: &Record,
    ids: TopicIds<'_>,
) -> Result<Option<(Bytes, Option<Bytes>)>, RecordError> {
    let out = match record {
        Record::ShareMember {
            group_id,
            member_id,
            value,
        } => {
            let key = versioned(
                &ShareGroupMemberMetadataKey {
                    group_id: group_id.clone(),
                    member_id: member_id.clone(),
                },
                10,
            )?;
            let value = value
                .as_ref()
                .map(|m| {
                    let v = ShareGroupMemberMetadataValue {
                        rack_id: m.rack_id.clone(),
                        client_id: m.client_id.clone(),
                        client_host: m.client_host.clone(),
                        subscribed_topic_names: m.subscribed_topics.clone(),
                        ..Default::default()
                    };
                    versioned(&v, 0)
                })
                .transpose()?;
            (key, value)
        }
        Record::ShareGroupEpoch { group_id, epoch } => {
            let key = versioned(
                &ShareGroupMetadataKey {
                    group_id: group_id.clone(),
                },
                11,
            )?;
            let value = epoch
                .map(|e| {
                    let v = ShareGroupMetadataValue {
                        epoch: e,
                        ..Default::default()
                    };
                    versioned(&v, 0)
                })
                .transpose()?;
            (key, value)
        }
        Record::ShareCurrentAssignment {
            group_id,
            member_id,
            value,
        } => {
            let key = versioned(
                &ShareGroupCurrentMemberAssignmentKey {
                    group_id: group_id.clone(),
                    member_id: member_id.clone(),
                },
                14,
            )?;
            let value = value
                .as_ref()
                .map(|a| {
                    let v = ShareGroupCurrentMemberAssignmentValue {
                        member_epoch: a.epoch,
                        previous_member_epoch: a.epoch,
                        state: 0,
                        assigned_partitions: a
                            .assigned
                            .iter()
                            .filter_map(|(t, ps)| {
                                Some(current::TopicPartitions {
                                    topic_id: Uuid(ids(t)?),
                                    partitions: ps.iter().copied().collect(),
                                    ..Default::default()
                                })
                            })
                            .collect(),
                        ..Default::default()
                    };
                    versioned(&v, 0)
                })
                .transpose()?;
            (key, value)
        }
        Record::ShareStateTopics { group_id, topics } => {
            let key = versioned(
                &ShareGroupStatePartitionMetadataKey {
                    group_id: group_id.clone(),
                },
                15,
            )?;
            let value = topics
                .as_ref()
                .map(|topics| {
                    let v = ShareGroupStatePartitionMetadataValue {
                        initialized_topics: topics
                            .iter()
                            .filter_map(|t| {
                                Some(state::TopicPartitionsInfo {
                                    topic_id: Uuid(ids(t)?),
                                    topic_name: t.clone(),
                                    ..Default::default()
                                })
                            })
                            .collect(),
                        ..Default::default()
                    };
                    versioned(&v, 0)
                })
                .transpose()?;
            (key, value)
        }
        _ => return Ok(None),
    };
    Ok(Some(out))
}

/// The share group record with key version `version`, or `None` for another kind.
pub(super) fn decode(
    version: i16,
    r: &mut Reader,
    value: Option<&Bytes>,
    names: TopicNames<'_>,
) -> Result<Option<Record>, RecordError> {
    let record = match version {
        10 => {
            let k = ShareGroupMemberMetadataKey::decode(r, version)?;
            finish(r)?;
            let v = value
                .map(read_versioned::<ShareGroupMemberMetadataValue>)
                .transpose()?;
            Record::ShareMember {
                group_id: k.group_id,
                member_id: k.member_id,
                value: v.map(|(v, _)| ShareMemberRecord {
                    rack_id: v.rack_id,
                    client_id: v.client_id,
                    client_host: v.client_host,
                    subscribed_topics: v.subscribed_topic_names,
                }),
            }
        }
        11 => {
            let k = ShareGroupMetadataKey::decode(r, version)?;
            finish(r)?;
            let v = value
                .map(read_versioned::<ShareGroupMetadataValue>)
                .transpose()?;
            Record::ShareGroupEpoch {
                group_id: k.group_id,
                epoch: v.map(|(v, _)| v.epoch),
            }
        }
        14 => {
            let k = ShareGroupCurrentMemberAssignmentKey::decode(r, version)?;
            finish(r)?;
            let v = value
                .map(read_versioned::<ShareGroupCurrentMemberAssignmentValue>)
                .transpose()?;
            Record::ShareCurrentAssignment {
                group_id: k.group_id,
                member_id: k.member_id,
                value: v.map(|(v, _)| ShareAssignmentRecord {
                    epoch: v.member_epoch,
                    assigned: v
                        .assigned_partitions
                        .into_iter()
                        .filter_map(|t| Some((names(&t.topic_id.0)?, t.partitions)))
                        .map(|(n, ps)| (n, ps.into_iter().collect()))
                        .collect::<TopicPartitions>(),
                }),
            }
        }
        15 => {
            let k = ShareGroupStatePartitionMetadataKey::decode(r, version)?;
            finish(r)?;
            let v = value
                .map(read_versioned::<ShareGroupStatePartitionMetadataValue>)
                .transpose()?;
            Record::ShareStateTopics {
                group_id: k.group_id,
                topics: v.map(|(v, _)| {
                    v.initialized_topics
                        .into_iter()
                        .map(|t| names(&t.topic_id.0).unwrap_or(t.topic_name))
                        .collect()
                }),
            }
        }
        _ => return Ok(None),
    };
    Ok(Some(record))
}
