//! The offset side of [`GroupCoordinator`]: OffsetCommit, OffsetFetch, OffsetDelete,
//! DeleteGroups, and the periodic expiry that also deletes empty groups with no offsets left.

use weir_protocol::error::ErrorCode;

use super::{GroupCoordinator, Record};
use crate::classic::ClassicGroup;
use crate::consumer::ConsumerGroup;
use crate::group::GroupState;
use crate::offsets::{ExpirationBase, FetchedOffset, OffsetAndMetadata, OffsetStore, TopicResults};
use crate::subscription::CONSUMER_PROTOCOL_TYPE;

/// An OffsetCommit request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetCommit {
    /// The group.
    pub group_id: String,
    /// The committing member, or "" for a simple commit.
    pub member_id: String,
    /// The member's `group.instance.id`, if static.
    pub group_instance_id: Option<String>,
    /// The member's generation, or -1 for a simple commit.
    pub generation_id: i32,
    /// v2-v4 retention override, or -1 for the broker's `offsets.retention.minutes`.
    pub retention_time_ms: i64,
    /// The request's API version (unknown groups answer differently from v9).
    pub api_version: i16,
    /// What to commit.
    pub topics: Vec<CommitTopic>,
}

/// The partitions of one topic in an OffsetCommit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitTopic {
    /// The topic.
    pub name: String,
    /// Its partitions.
    pub partitions: Vec<CommitPartition>,
}

/// One partition's commit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitPartition {
    /// The partition.
    pub partition: i32,
    /// The offset to commit.
    pub offset: i64,
    /// The leader epoch of the last consumed record, or -1.
    pub leader_epoch: i32,
    /// Client metadata.
    pub metadata: Option<String>,
    /// v1's explicit commit timestamp, or -1.
    pub commit_timestamp_ms: i64,
}

/// What an accepted OffsetCommit did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitResult {
    /// Per-partition errors, in request order.
    pub topics: TopicResults,
    /// Records to append before answering.
    pub records: Vec<Record>,
}

impl GroupCoordinator {
    /// OffsetCommit. `Err` fails every partition with that error. A commit with generation -1
    /// to an unknown group creates a simple group (no protocol, never rebalanced).
    pub fn commit_offsets(
        &mut self,
        req: OffsetCommit,
        now: i64,
    ) -> Result<CommitResult, ErrorCode> {
        if req.group_id.is_empty() {
            return Err(ErrorCode::InvalidGroupId);
        }
        if let Some(g) = self.consumer_groups.get(&req.group_id) {
            g.validate_offset_request(&req.member_id, req.generation_id)?;
        } else if !self.groups.contains_key(&req.group_id) {
            if req.generation_id >= 0 {
                return Err(if req.api_version >= 9 {
                    ErrorCode::GroupIdNotFound
                } else {
                    ErrorCode::IllegalGeneration
                });
            }
            self.group_or_create(&req.group_id);
        }
        if let Some(g) = self.groups.get_mut(&req.group_id) {
            g.validate_offset_commit(
                &req.member_id,
                req.group_instance_id.as_deref(),
                req.generation_id,
                false,
                now,
            )?;
        }
        let max = self.config.offset_metadata_max_bytes;
        let store = self.offsets.entry(req.group_id.clone()).or_default();
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
                        p.commit_timestamp_ms,
                        req.retention_time_ms,
                        now,
                    );
                    store.commit(&t.name, p.partition, value.clone());
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
        if store.is_empty() {
            self.offsets.remove(&req.group_id);
        }
        Ok(CommitResult { topics, records })
    }

    /// OffsetFetch: the named partitions, or with `None` every committed offset. An unknown
    /// group has no offsets (named partitions answer -1).
    pub fn fetch_offsets(
        &self,
        group_id: &str,
        topics: Option<&[(String, Vec<i32>)]>,
    ) -> Vec<(String, Vec<FetchedOffset>)> {
        let live = self.consumer_groups.contains_key(group_id)
            || self
                .groups
                .get(group_id)
                .is_some_and(|g| g.state() != GroupState::Dead);
        let empty = OffsetStore::new();
        let store = self
            .offsets
            .get(group_id)
            .filter(|_| live)
            .unwrap_or(&empty);
        match topics {
            Some(topics) => topics
                .iter()
                .map(|(t, ps)| (t.clone(), store.fetch(t, ps)))
                .collect(),
            None => store.fetch_all(),
        }
    }

    /// OffsetDelete. Refused for groups with members unless they use the consumer protocol,
    /// and per topic while the group subscribes to it.
    pub fn delete_offsets(
        &mut self,
        group_id: &str,
        topics: &[(String, Vec<i32>)],
    ) -> Result<(TopicResults, Vec<Record>), ErrorCode> {
        if let Some(g) = self.consumer_groups.get(group_id) {
            let mut none = OffsetStore::new();
            let store = self.offsets.get_mut(group_id).unwrap_or(&mut none);
            let (results, removed) = store.delete(topics, |t| g.is_subscribed_to_topic(t));
            if store.is_empty() {
                self.offsets.remove(group_id);
            }
            return Ok((results, tombstones(group_id, removed)));
        }
        let group = self
            .groups
            .get(group_id)
            .ok_or(ErrorCode::GroupIdNotFound)?;
        match group.state() {
            GroupState::Dead => return Err(ErrorCode::GroupIdNotFound),
            GroupState::Empty => {}
            _ if group.protocol_type() != Some(CONSUMER_PROTOCOL_TYPE) => {
                return Err(ErrorCode::NonEmptyGroup)
            }
            _ => {}
        }
        let mut none = OffsetStore::new();
        let store = self.offsets.get_mut(group_id).unwrap_or(&mut none);
        let (results, removed) = store.delete(topics, |t| group.is_subscribed_to_topic(t));
        if store.is_empty() {
            self.offsets.remove(group_id);
        }
        Ok((results, tombstones(group_id, removed)))
    }

    /// DeleteGroups for one group: only an Empty group may go; its offsets go with it.
    pub fn delete_group(&mut self, group_id: &str) -> Result<Vec<Record>, ErrorCode> {
        if group_id.is_empty() {
            return Err(ErrorCode::InvalidGroupId);
        }
        match self
            .consumer_groups
            .get(group_id)
            .map(ConsumerGroup::is_empty)
        {
            Some(false) => return Err(ErrorCode::NonEmptyGroup),
            Some(true) => {
                let view = self.consumer_groups.remove(group_id).map(|g| g.view());
                let removed: Vec<(String, i32)> = self
                    .offsets
                    .remove(group_id)
                    .map(|s| s.iter().map(|(t, p, _)| (t.to_string(), p)).collect())
                    .unwrap_or_default();
                let mut records = tombstones(group_id, removed);
                records.extend(crate::consumer::diff(group_id, view.as_ref(), None));
                return Ok(records);
            }
            None => {}
        }
        match self.groups.get(group_id).map(ClassicGroup::state) {
            None | Some(GroupState::Dead) => return Err(ErrorCode::GroupIdNotFound),
            Some(GroupState::Empty) => {}
            Some(_) => return Err(ErrorCode::NonEmptyGroup),
        }
        let removed: Vec<(String, i32)> = self
            .offsets
            .remove(group_id)
            .map(|s| s.iter().map(|(t, p, _)| (t.to_string(), p)).collect())
            .unwrap_or_default();
        let mut records = tombstones(group_id, removed);
        self.drop_group(group_id, &mut records);
        Ok(records)
    }

    /// Expires offsets past retention (see [`crate::offsets`]) and deletes Empty groups left
    /// without offsets. Run every `offsets.retention.check.interval.ms`.
    pub fn expire_offsets(&mut self, now: i64) -> Vec<Record> {
        let retention = self.config.offsets_retention_ms;
        let mut records = Vec::new();
        let ids: Vec<String> = self.groups.keys().cloned().collect();
        for id in ids {
            let Some(group) = self.groups.get(&id) else {
                continue;
            };
            let Some(base) = group.offset_expiration() else {
                continue;
            };
            let mut all_expired = true;
            if let Some(store) = self.offsets.get_mut(&id) {
                let removed =
                    store.expire(now, retention, base, |t| group.is_subscribed_to_topic(t));
                all_expired = store.is_empty();
                records.extend(tombstones(&id, removed));
                if all_expired {
                    self.offsets.remove(&id);
                }
            }
            if all_expired && group.is_empty() {
                self.drop_group(&id, &mut records);
            }
        }
        let consumer_ids: Vec<String> = self.consumer_groups.keys().cloned().collect();
        for id in consumer_ids {
            let Some(group) = self.consumer_groups.get(&id) else {
                continue;
            };
            let base = match group.empty_since() {
                Some(ts) => ExpirationBase::EmptySince(Some(ts)),
                None => ExpirationBase::CommitTimestamp,
            };
            let mut all_expired = true;
            if let Some(store) = self.offsets.get_mut(&id) {
                let removed =
                    store.expire(now, retention, base, |t| group.is_subscribed_to_topic(t));
                all_expired = store.is_empty();
                records.extend(tombstones(&id, removed));
                if all_expired {
                    self.offsets.remove(&id);
                }
            }
            if all_expired && group.is_empty() {
                let view = group.view();
                self.consumer_groups.remove(&id);
                records.extend(crate::consumer::diff(&id, Some(&view), None));
            }
        }
        // Offsets of a group that no longer exists age from their commit.
        let orphans: Vec<String> = self
            .offsets
            .keys()
            .filter(|id| !self.groups.contains_key(*id) && !self.consumer_groups.contains_key(*id))
            .cloned()
            .collect();
        for id in orphans {
            if let Some(store) = self.offsets.get_mut(&id) {
                let removed =
                    store.expire(now, retention, ExpirationBase::CommitTimestamp, |_| false);
                records.extend(tombstones(&id, removed));
                if store.is_empty() {
                    self.offsets.remove(&id);
                }
            }
        }
        records
    }

    fn drop_group(&mut self, group_id: &str, records: &mut Vec<Record>) {
        if let Some(mut g) = self.groups.remove(group_id) {
            // An Empty group has no parked requests; unloading only marks it Dead.
            let _ = g.unload();
        }
        records.push(Record::GroupTombstone {
            group_id: group_id.to_string(),
        });
    }
}

fn tombstones(group_id: &str, removed: Vec<(String, i32)>) -> Vec<Record> {
    removed
        .into_iter()
        .map(|(topic, partition)| Record::OffsetTombstone {
            group_id: group_id.to_string(),
            topic,
            partition,
        })
        .collect()
}
