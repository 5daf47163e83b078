//! The KIP-848 records: group epoch (key version 3), member metadata (5), target assignment
//! metadata (6) and per member (7), current member assignment (8). Topics are stored by id;
//! `topic_id` and `topic_name` translate, and a topic that no longer exists is left out.

use bytes::Bytes;
use weir_protocol::codec::{Decode, Reader, Uuid};
use weir_protocol::group_records::{
    consumer_group_current_member_assignment_value as current,
    consumer_group_target_assignment_member_value as target,
    ConsumerGroupCurrentMemberAssignmentKey, ConsumerGroupCurrentMemberAssignmentValue,
    ConsumerGroupMemberMetadataKey, ConsumerGroupMemberMetadataValue, ConsumerGroupMetadataKey,
    ConsumerGroupMetadataValue, ConsumerGroupTargetAssignmentMemberKey,
    ConsumerGroupTargetAssignmentMemberValue, ConsumerGroupTargetAssignmentMetadataKey,
    ConsumerGroupTargetAssignmentMetadataValue,
};

use super::{finish, read_versioned, versioned, RecordError};
use crate::assignor::TopicPartitions;
use crate::consumer::{AssignmentRecord, MemberRecord};
use crate::coordinator::Record;

/// Translates a topic name to its id, if the topic exists.
pub type TopicIds<'a> = &'a dyn Fn(&str) -> Option<[u8; 16]>;
/// Translates a topic id to its name, if the topic exists.
pub type TopicNames<'a> = &'a dyn Fn(&[u8; 16]) -> Option<String>;

fn by_id(parts: &TopicPartitions, ids: TopicIds<'_>) -> Vec<(Uuid, Vec<i32>)> {
    parts
        .iter()
        .filter_map(|(t, ps)| ids(t).map(|id| (Uuid(id), ps.iter().copied().collect())))
        .collect()
}

fn by_name(
    parts: impl IntoIterator<Item = (Uuid, Vec<i32>)>,
    names: TopicNames<'_>,
) -> TopicPartitions {
    parts
        .into_iter()
        .filter_map(|(id, ps)| names(&id.0).map(|n| (n, ps.into_iter().collect())))
        .collect()
}

/// Key and value of a KIP-848 record, or `None` if `record` is of another kind.
pub(super) fn encode(
    record: &Record,
    ids: TopicIds<'_>,
) -> Result<Option<(Bytes, Option<Bytes>)>, RecordError> {
    let out = match record {
        Record::ConsumerGroupEpoch { group_id, epoch } => {
            let key = versioned(
                &ConsumerGroupMetadataKey {
                    group_id: group_id.clone(),
                },
                3,
            )?;
            let value = epoch
                .map(|e| {
                    versioned(
                        &ConsumerGroupMetadataValue {
                            epoch: e,
                            ..Default::default()
                        },
                        0,
                    )
                })
                .transpose()?;
            (key, value)
        }
        Record::ConsumerMember {
            group_id,
            member_id,
            value,
        } => {
            let key = versioned(
                &ConsumerGroupMemberMetadataKey {
                    group_id: group_id.clone(),
                    member_id: member_id.clone(),
                },
                5,
            )?;
            let value = value
                .as_ref()
                .map(|m| {
                    let v = ConsumerGroupMemberMetadataValue {
                        instance_id: m.instance_id.clone(),
                        rack_id: m.rack_id.clone(),
                        client_id: m.client_id.clone(),
                        client_host: m.client_host.clone(),
                        subscribed_topic_names: m.subscribed_topics.clone(),
                        subscribed_topic_regex: m.subscribed_topic_regex.clone(),
                        rebalance_timeout_ms: m.rebalance_timeout_ms,
                        server_assignor: m.server_assignor.clone(),
                        ..Default::default()
                    };
                    versioned(&v, 0)
                })
                .transpose()?;
            (key, value)
        }
        Record::ConsumerTargetEpoch { group_id, epoch } => {
            let key = versioned(
                &ConsumerGroupTargetAssignmentMetadataKey {
                    group_id: group_id.clone(),
                },
                6,
            )?;
            let value = epoch
                .map(|e| {
                    let v = ConsumerGroupTargetAssignmentMetadataValue {
                        assignment_epoch: e,
                        ..Default::default()
                    };
                    versioned(&v, 0)
                })
                .transpose()?;
            (key, value)
        }
        Record::ConsumerTargetMember {
            group_id,
            member_id,
            partitions,
        } => {
            let key = versioned(
                &ConsumerGroupTargetAssignmentMemberKey {
                    group_id: group_id.clone(),
                    member_id: member_id.clone(),
                },
                7,
            )?;
            let value = partitions
                .as_ref()
                .map(|p| {
                    let v = ConsumerGroupTargetAssignmentMemberValue {
                        topic_partitions: by_id(p, ids)
                            .into_iter()
                            .map(|(topic_id, partitions)| target::TopicPartition {
                                topic_id,
                                partitions,
                                ..Default::default()
                            })
                            .collect(),
                        ..Default::default()
                    };
                    versioned(&v, 0)
                })
                .transpose()?;
            (key, value)
        }
        Record::ConsumerCurrentAssignment {
            group_id,
            member_id,
            value,
        } => {
            let key = versioned(
                &ConsumerGroupCurrentMemberAssignmentKey {
                    group_id: group_id.clone(),
                    member_id: member_id.clone(),
                },
                8,
            )?;
            let tps = |p: &TopicPartitions| {
                by_id(p, ids)
                    .into_iter()
                    .map(|(topic_id, partitions)| current::TopicPartitions {
                        topic_id,
                        partitions,
                        ..Default::default()
                    })
                    .collect()
            };
            let value = value
                .as_ref()
                .map(|a| {
                    let v = ConsumerGroupCurrentMemberAssignmentValue {
                        member_epoch: a.epoch,
                        previous_member_epoch: a.previous_epoch,
                        state: a.state,
                        assigned_partitions: tps(&a.assigned),
                        partitions_pending_revocation: tps(&a.pending_revocation),
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

/// The KIP-848 record with key version `version`, or `None` for another kind.
pub(super) fn decode(
    version: i16,
    r: &mut Reader,
    value: Option<&Bytes>,
    names: TopicNames<'_>,
) -> Result<Option<Record>, RecordError> {
    let record = match version {
        3 => {
            let k = ConsumerGroupMetadataKey::decode(r, version)?;
            finish(r)?;
            let epoch = value
                .map(read_versioned::<ConsumerGroupMetadataValue>)
                .transpose()?;
            Record::ConsumerGroupEpoch {
                group_id: k.group_id,
                epoch: epoch.map(|(v, _)| v.epoch),
            }
        }
        5 => {
            let k = ConsumerGroupMemberMetadataKey::decode(r, version)?;
            finish(r)?;
            let v = value
                .map(read_versioned::<ConsumerGroupMemberMetadataValue>)
                .transpose()?;
            Record::ConsumerMember {
                group_id: k.group_id,
                member_id: k.member_id,
                value: v.map(|(v, _)| MemberRecord {
                    instance_id: v.instance_id,
                    rack_id: v.rack_id,
                    client_id: v.client_id,
                    client_host: v.client_host,
                    subscribed_topics: v.subscribed_topic_names,
                    subscribed_topic_regex: v.subscribed_topic_regex,
                    rebalance_timeout_ms: v.rebalance_timeout_ms,
                    server_assignor: v.server_assignor,
                }),
            }
        }
        6 => {
            let k = ConsumerGroupTargetAssignmentMetadataKey::decode(r, version)?;
            finish(r)?;
            let v = value
                .map(read_versioned::<ConsumerGroupTargetAssignmentMetadataValue>)
                .transpose()?;
            Record::ConsumerTargetEpoch {
                group_id: k.group_id,
                epoch: v.map(|(v, _)| v.assignment_epoch),
            }
        }
        7 => {
            let k = ConsumerGroupTargetAssignmentMemberKey::decode(r, version)?;
            finish(r)?;
            let v = value
                .map(read_versioned::<ConsumerGroupTargetAssignmentMemberValue>)
                .transpose()?;
            Record::ConsumerTargetMember {
                group_id: k.group_id,
                member_id: k.member_id,
                partitions: v.map(|(v, _)| {
                    by_name(
                        v.topic_partitions
                            .into_iter()
                            .map(|t| (t.topic_id, t.partitions)),
                        names,
                    )
                }),
            }
        }
        8 => {
            let k = ConsumerGroupCurrentMemberAssignmentKey::decode(r, version)?;
            finish(r)?;
            let v = value
                .map(read_versioned::<ConsumerGroupCurrentMemberAssignmentValue>)
                .transpose()?;
            let tps = |t: Vec<current::TopicPartitions>| {
                by_name(t.into_iter().map(|t| (t.topic_id, t.partitions)), names)
            };
            Record::ConsumerCurrentAssignment {
                group_id: k.group_id,
                member_id: k.member_id,
                value: v.map(|(v, _)| AssignmentRecord {
                    epoch: v.member_epoch,
                    previous_epoch: v.previous_member_epoch,
                    state: v.state,
                    assigned: tps(v.assigned_partitions),
                    pending_revocation: tps(v.partitions_pending_revocation),
                }),
            }
        }
        _ => return Ok(None),
    };
    Ok(Some(record))
}
