//! Transactional offset commits (KIP-98, KIP-447): TxnOffsetCommit keeps offsets pending per
//! producer until the transaction's marker reaches this partition; a commit marker makes
//! them the group's committed offsets, an abort drops them. While offsets are pending, an
//! OffsetFetch that requires stable offsets gets UNSTABLE_OFFSET_COMMIT for them.

use std::collections::BTreeMap;

use weir_protocol::error::ErrorCode;

use super::{CommitTopic, GroupCoordinator, Record};
use crate::offsets::{OffsetAndMetadata, OffsetStore, TopicResults};

/// A TxnOffsetCommit request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxnOffsetCommit {
    /// The group.
    pub group_id: String,
    /// The transaction's producer.
    pub producer_id: i64,
    /// The committing member, or "" (KIP-447 fields are optional).
    pub member_id: String,
    /// The member's `group.instance.id`, if static.
    pub group_instance_id: Option<String>,
    /// The member's generation or epoch, or -1.
    pub generation_id: i32,
    /// What to commit.
    pub topics: Vec<CommitTopic>,
}

/// Offsets waiting for their transaction: (group, topic, partition) -> value.
pub(super) type Pending = BTreeMap<(String, String, i32), OffsetAndMetadata>;

impl GroupCoordinator {
    /// TxnOffsetCommit: validates the member (if named) and returns the records to append in
    /// the producer's transaction; once they are written, [`GroupCoordinator::replay_pending`]
    /// keeps each one pending for the producer (nothing is pending if the write fails).
    pub fn txn_commit_offsets(
        &mut self,
        req: TxnOffsetCommit,
        now: i64,
    ) -> Result<(TopicResults, Vec<Record>), ErrorCode> {
        if req.group_id.is_empty() {
            return Err(ErrorCode::InvalidGroupId);
        }
        let anonymous =
            req.member_id.is_empty() && req.generation_id < 0 && req.group_instance_id.is_none();
        if let Some(g) = self.consumer_groups.get(&req.group_id) {
            if !anonymous {
                g.validate_offset_request(&req.member_id, req.generation_id)
                    .map_err(|e| match e {
                        ErrorCode::StaleMemberEpoch => ErrorCode::IllegalGeneration,
                        e => e,
                    })?;
            }
        } else {
            if !self.groups.contains_key(&req.group_id) {
                if req.generation_id >= 0 {
                    return Err(ErrorCode::IllegalGeneration);
                }
                self.group_or_create(&req.group_id);
            }
            if let Some(g) = self.groups.get_mut(&req.group_id) {
                g.validate_offset_commit(
                    &req.member_id,
                    req.group_instance_id.as_deref(),
                    req.generation_id,
                    true,
                    now,
                )?;
            }
        }
        let max = self.config.offset_metadata_max_bytes;
        let mut topics = Vec::with_capacity(req.topics.len());
        let mut records = Vec::new();
        for t in req.topics {
            let mut results = Vec::with_capacity(t.partitions.len());
            for p in t.partitions {
                let error = OffsetStore::check_metadata(p.metadata.as_deref(), max);
                if error == ErrorCode::None {
                    let value = OffsetAndMetadata::from_commit(
                        p.offset,
                        p.leader_epoch,
                        p.metadata,
                        -1,
                        -1,
                        now,
                    );
                    records.push(Record::OffsetCommit {
                        group_id: req.group_id.clone(),
                        topic: t.name.clone(),
                        partition: p.partition,
                        value,
                    });
                }
                results.push((p.partition, error));
            }
            topics.push((t.name, results));
        }
        Ok((topics, records))
    }

    /// A record of a producer's transaction, written now or read back while loading:
    /// pending until its marker.
    pub fn replay_pending(&mut self, producer_id: i64, record: Record) {
        if let Record::OffsetCommit {
            group_id,
            topic,
            partition,
            value,
        } = record
        {
            self.pending
                .entry(producer_id)
                .or_default()
                .insert((group_id, topic, partition), value);
        }
    }

    /// A transaction marker of `producer_id` reached this partition: its pending offsets
    /// become committed (`commit`) or are dropped.
    pub fn complete_txn(&mut self, producer_id: i64, commit: bool) {
        let Some(pending) = self.pending.remove(&producer_id) else {
            return;
        };
        if !commit {
            return;
        }
        for ((group_id, topic, partition), value) in pending {
            if !self.consumer_groups.contains_key(&group_id) {
                self.group_or_create(&group_id);
            }
            self.offsets
                .entry(group_id)
                .or_default()
                .commit(&topic, partition, value);
        }
    }

    /// Whether a transaction has an offset pending for this group and partition.
    pub fn has_pending_offset(&self, group_id: &str, topic: &str, partition: i32) -> bool {
        let key = (group_id.to_string(), topic.to_string(), partition);
        self.pending.values().any(|p| p.contains_key(&key))
    }
}
