//! [`Record`]s in the bytes of `__consumer_offsets`, in Kafka's own format: a key and a value
//! each start with a big-endian i16 version, then the generated struct of that version
//! (`OffsetCommitKey` v0-1, `GroupMetadataKey` v2, the KIP-848 keys v3 and v5-v8 in `consumer`,
//! the share group keys v10, v11, v14 and v15 in `share`; a null value is a tombstone). Other
//! keys (partition metadata, share target assignments) are skipped by [`decode`].

mod consumer;
mod share;

pub use consumer::{TopicIds, TopicNames};

use bytes::{BufMut, Bytes, BytesMut};
use weir_protocol::codec::{Decode, DecodeError, Encode, EncodeError, Reader};
use weir_protocol::group_records::{
    group_metadata_value::MemberMetadata, GroupMetadataKey, GroupMetadataValue, OffsetCommitKey,
    OffsetCommitValue,
};

use crate::classic::{GroupSnapshot, MemberSnapshot};
use crate::coordinator::Record;
use crate::offsets::OffsetAndMetadata;

/// The key version of offset commits (Kafka writes 1; 0 is the same layout).
const OFFSET_KEY_VERSION: i16 = 1;
/// The key version of classic group metadata.
const GROUP_KEY_VERSION: i16 = 2;
/// The value version for an offset without an explicit expiry (has the leader epoch).
const OFFSET_VALUE_VERSION: i16 = 3;
/// The value version for an offset with an explicit expiry timestamp.
const OFFSET_VALUE_VERSION_EXPIRING: i16 = 1;
/// The group metadata value version (has static members and rebalance timeouts).
const GROUP_VALUE_VERSION: i16 = 3;

/// Why a stored record could not be read.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// The key or value bytes do not decode.
    #[error("malformed __consumer_offsets record: {0}")]
    Decode(#[from] DecodeError),
    /// The record could not be encoded.
    #[error("cannot encode __consumer_offsets record: {0}")]
    Encode(#[from] EncodeError),
    /// A record kind with no encoding (never produced by the coordinator).
    #[error("record kind without an encoding")]
    Unencodable,
    /// The bytes decode but leave data behind.
    #[error("malformed __consumer_offsets record: {0} trailing bytes")]
    Trailing(usize),
}

/// The key and value bytes of `record`; the value is `None` for a tombstone. `ids` gives
/// topic ids for KIP-848 assignments.
pub fn encode(record: &Record, ids: TopicIds<'_>) -> Result<(Bytes, Option<Bytes>), RecordError> {
    if let Some(kv) = consumer::encode(record, ids)? {
        return Ok(kv);
    }
    if let Some(kv) = share::encode(record, ids)? {
        return Ok(kv);
    }
    match record {
        Record::OffsetCommit {
            group_id,
            topic,
            partition,
            value,
        } => {
            let key = offset_key(group_id, topic, *partition)?;
            let (version, v) = match value.expire_timestamp_ms {
                Some(expire) => (
                    OFFSET_VALUE_VERSION_EXPIRING,
                    OffsetCommitValue {
                        offset: value.offset,
                        leader_epoch: -1,
                        metadata: value.metadata.clone(),
                        commit_timestamp: value.commit_timestamp_ms,
                        expire_timestamp: expire,
                        ..Default::default()
                    },
                ),
                None => (
                    OFFSET_VALUE_VERSION,
                    OffsetCommitValue {
                        offset: value.offset,
                        leader_epoch: value.leader_epoch,
                        metadata: value.metadata.clone(),
                        commit_timestamp: value.commit_timestamp_ms,
                        expire_timestamp: -1,
                        ..Default::default()
                    },
                ),
            };
            Ok((key, Some(versioned(&v, version)?)))
        }
        Record::OffsetTombstone {
            group_id,
            topic,
            partition,
        } => Ok((offset_key(group_id, topic, *partition)?, None)),
        Record::GroupMetadata(s) => {
            let key = group_key(&s.group_id)?;
            let value = GroupMetadataValue {
                protocol_type: s.protocol_type.clone().unwrap_or_default(),
                generation: s.generation_id,
                protocol: s.protocol_name.clone(),
                leader: s.leader.clone(),
                current_state_timestamp: s.current_state_timestamp_ms,
                members: s
                    .members
                    .iter()
                    .map(|m| MemberMetadata {
                        member_id: m.member_id.clone(),
                        group_instance_id: m.group_instance_id.clone(),
                        client_id: m.client_id.clone(),
                        client_host: m.client_host.clone(),
                        rebalance_timeout: m.rebalance_timeout_ms,
                        session_timeout: m.session_timeout_ms,
                        subscription: m.subscription.clone(),
                        assignment: m.assignment.clone(),
                        ..Default::default()
                    })
                    .collect(),
                ..Default::default()
            };
            Ok((key, Some(versioned(&value, GROUP_VALUE_VERSION)?)))
        }
        Record::GroupTombstone { group_id } => Ok((group_key(group_id)?, None)),
        // Every other kind is a KIP-848 record, encoded above.
        _ => Err(RecordError::Unencodable),
    }
}

/// The record stored as `key` and `value`, or `None` for a kind this coordinator does not
/// keep (partition metadata, share target assignments). `names` gives topic names for
/// assignments.
pub fn decode(
    key: &Bytes,
    value: Option<&Bytes>,
    names: TopicNames<'_>,
) -> Result<Option<Record>, RecordError> {
    let mut r = Reader::new(key.clone());
    let version = r.read_i16()?;
    match version {
        0 | 1 => {
            let k = OffsetCommitKey::decode(&mut r, version)?;
            finish(&r)?;
            let Some(value) = value else {
                return Ok(Some(Record::OffsetTombstone {
                    group_id: k.group,
                    topic: k.topic,
                    partition: k.partition,
                }));
            };
            let (v, vv) = read_versioned::<OffsetCommitValue>(value)?;
            let expire = (vv == 1 && v.expire_timestamp != -1).then_some(v.expire_timestamp);
            Ok(Some(Record::OffsetCommit {
                group_id: k.group,
                topic: k.topic,
                partition: k.partition,
                value: OffsetAndMetadata {
                    offset: v.offset,
                    leader_epoch: v.leader_epoch,
                    metadata: v.metadata,
                    commit_timestamp_ms: v.commit_timestamp,
                    expire_timestamp_ms: expire,
                },
            }))
        }
        2 => {
            let k = GroupMetadataKey::decode(&mut r, version)?;
            finish(&r)?;
            let Some(value) = value else {
                return Ok(Some(Record::GroupTombstone { group_id: k.group }));
            };
            let (v, _) = read_versioned::<GroupMetadataValue>(value)?;
            Ok(Some(Record::GroupMetadata(GroupSnapshot {
                group_id: k.group,
                protocol_type: Some(v.protocol_type).filter(|t| !t.is_empty()),
                generation_id: v.generation,
                protocol_name: v.protocol,
                leader: v.leader,
                current_state_timestamp_ms: v.current_state_timestamp,
                members: v
                    .members
                    .into_iter()
                    .map(|m| MemberSnapshot {
                        member_id: m.member_id,
                        group_instance_id: m.group_instance_id,
                        client_id: m.client_id,
                        client_host: m.client_host,
                        rebalance_timeout_ms: m.rebalance_timeout,
                        session_timeout_ms: m.session_timeout,
                        subscription: m.subscription,
                        assignment: m.assignment,
                    })
                    .collect(),
            })))
        }
        10 | 11 | 14 | 15 => share::decode(version, &mut r, value, names),
        v => consumer::decode(v, &mut r, value, names),
    }
}

fn offset_key(group: &str, topic: &str, partition: i32) -> Result<Bytes, RecordError> {
    let key = OffsetCommitKey {
        group: group.to_string(),
        topic: topic.to_string(),
        partition,
    };
    versioned(&key, OFFSET_KEY_VERSION)
}

fn group_key(group: &str) -> Result<Bytes, RecordError> {
    let key = GroupMetadataKey {
        group: group.to_string(),
    };
    versioned(&key, GROUP_KEY_VERSION)
}

pub(super) fn versioned<T: Encode>(value: &T, version: i16) -> Result<Bytes, RecordError> {
    let mut w = BytesMut::new();
    w.put_i16(version);
    value.encode(&mut w, version)?;
    Ok(w.freeze())
}

pub(super) fn read_versioned<T: Decode>(bytes: &Bytes) -> Result<(T, i16), RecordError> {
    let mut r = Reader::new(bytes.clone());
    let version = r.read_i16()?;
    let v = T::decode(&mut r, version)?;
    Ok((v, version))
}

pub(super) fn finish(r: &Reader) -> Result<(), RecordError> {
    match r.remaining() {
        0 => Ok(()),
        n => Err(RecordError::Trailing(n)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(t: &str) -> Option<[u8; 16]> {
        (t == "t").then_some([7; 16])
    }

    fn names(id: &[u8; 16]) -> Option<String> {
        (*id == [7; 16]).then(|| "t".to_string())
    }

    fn round_trip(record: Record) {
        let (k, v) = encode(&record, &ids).unwrap();
        assert_eq!(decode(&k, v.as_ref(), &names).unwrap(), Some(record));
    }

    #[test]
    fn offsets_round_trip() {
        let mut value = OffsetAndMetadata {
            offset: 42,
            leader_epoch: 3,
            metadata: "m".into(),
            commit_timestamp_ms: 1000,
            expire_timestamp_ms: None,
        };
        round_trip(Record::OffsetCommit {
            group_id: "g".into(),
            topic: "t".into(),
            partition: 7,
            value: value.clone(),
        });
        value.leader_epoch = -1;
        value.expire_timestamp_ms = Some(5000);
        round_trip(Record::OffsetCommit {
            group_id: "g".into(),
            topic: "t".into(),
            partition: 7,
            value,
        });
        round_trip(Record::OffsetTombstone {
            group_id: "g".into(),
            topic: "t".into(),
            partition: 7,
        });
    }

    #[test]
    fn groups_round_trip() {
        round_trip(Record::GroupMetadata(GroupSnapshot {
            group_id: "g".into(),
            protocol_type: Some("consumer".into()),
            generation_id: 4,
            protocol_name: Some("range".into()),
            leader: Some("m1".into()),
            current_state_timestamp_ms: 99,
            members: vec![MemberSnapshot {
                member_id: "m1".into(),
                group_instance_id: Some("i1".into()),
                client_id: "c".into(),
                client_host: "/127.0.0.1".into(),
                rebalance_timeout_ms: 300_000,
                session_timeout_ms: 45_000,
                subscription: Bytes::from_static(b"sub"),
                assignment: Bytes::from_static(b"asg"),
            }],
        }));
        round_trip(Record::GroupTombstone {
            group_id: "g".into(),
        });
    }

    #[test]
    fn consumer_group_records_round_trip() {
        use crate::consumer::{AssignmentRecord, MemberRecord};
        let parts: crate::assignor::TopicPartitions = [("t".to_string(), [1, 3].into())].into();
        round_trip(Record::ConsumerGroupEpoch {
            group_id: "g".into(),
            epoch: Some(4),
        });
        round_trip(Record::ConsumerGroupEpoch {
            group_id: "g".into(),
            epoch: None,
        });
        round_trip(Record::ConsumerTargetEpoch {
            group_id: "g".into(),
            epoch: Some(4),
        });
        round_trip(Record::ConsumerMember {
            group_id: "g".into(),
            member_id: "m".into(),
            value: Some(MemberRecord {
                instance_id: Some("i".into()),
                rack_id: None,
                client_id: "c".into(),
                client_host: "/127.0.0.1".into(),
                subscribed_topics: vec!["t".into()],
                subscribed_topic_regex: None,
                rebalance_timeout_ms: 300_000,
                server_assignor: Some("uniform".into()),
            }),
        });
        round_trip(Record::ConsumerTargetMember {
            group_id: "g".into(),
            member_id: "m".into(),
            partitions: Some(parts.clone()),
        });
        round_trip(Record::ConsumerCurrentAssignment {
            group_id: "g".into(),
            member_id: "m".into(),
            value: Some(AssignmentRecord {
                epoch: 4,
                previous_epoch: 3,
                state: 1,
                assigned: parts.clone(),
                pending_revocation: [("t".to_string(), [0].into())].into(),
            }),
        });
        round_trip(Record::ConsumerCurrentAssignment {
            group_id: "g".into(),
            member_id: "m".into(),
            value: None,
        });
    }

    #[test]
    fn share_group_records_round_trip() {
        use crate::share::group::{ShareAssignmentRecord, ShareMemberRecord};
        let parts: crate::assignor::TopicPartitions = [("t".to_string(), [0, 2].into())].into();
        for epoch in [Some(3), None] {
            round_trip(Record::ShareGroupEpoch {
                group_id: "g".into(),
                epoch,
            });
        }
        round_trip(Record::ShareMember {
            group_id: "g".into(),
            member_id: "m".into(),
            value: Some(ShareMemberRecord {
                rack_id: Some("r1".into()),
                client_id: "c".into(),
                client_host: "/127.0.0.1".into(),
                subscribed_topics: vec!["t".into()],
            }),
        });
        round_trip(Record::ShareCurrentAssignment {
            group_id: "g".into(),
            member_id: "m".into(),
            value: Some(ShareAssignmentRecord {
                epoch: 3,
                assigned: parts,
            }),
        });
        for topics in [Some(vec!["t".to_string()]), None] {
            round_trip(Record::ShareStateTopics {
                group_id: "g".into(),
                topics,
            });
        }
    }

    #[test]
    fn kafka_bytes_of_an_offset_key() {
        // Version 1, string "g", string "t", partition 2: what Kafka writes.
        let (k, _) = encode(
            &Record::OffsetTombstone {
                group_id: "g".into(),
                topic: "t".into(),
                partition: 2,
            },
            &ids,
        )
        .unwrap();
        assert_eq!(&k[..], &[0, 1, 0, 1, b'g', 0, 1, b't', 0, 0, 0, 2]);
    }

    #[test]
    fn other_kinds_are_skipped_and_garbage_is_an_error() {
        // A share group target assignment (key version 12): not kept.
        let k = Bytes::from_static(&[0, 12, 0, 1, b'g']);
        assert_eq!(decode(&k, None, &names).unwrap(), None);
        assert!(decode(&Bytes::from_static(&[0]), None, &names).is_err());
        assert!(decode(&Bytes::from_static(&[0, 1, 0, 9, b'g']), None, &names).is_err());
        let (k, _) = encode(
            &Record::GroupTombstone {
                group_id: "g".into(),
            },
            &ids,
        )
        .unwrap();
        assert!(decode(&k, Some(&Bytes::from_static(&[0, 3, 1])), &names).is_err());
    }
}
