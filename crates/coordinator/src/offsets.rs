//! One group's committed offsets, after Kafka's `OffsetMetadataManager`: commit, fetch,
//! OffsetDelete (refused for topics the group consumes) and retention-based expiry.
//!
//! Expiry follows Kafka 2.1+ (KIP-211): the group says how its offsets age
//! ([`ExpirationBase`], from [`crate::ClassicGroup::offset_expiration`]); an Empty group's
//! offsets expire `offsets.retention.minutes` after it became empty, a Stable consumer group's
//! offsets for topics it no longer subscribes to expire that long after their commit, and an
//! explicit per-commit expiry (OffsetCommit v2-v4 retention time) wins over both.

use std::collections::BTreeMap;

use weir_protocol::error::ErrorCode;

/// One committed offset, the content of Kafka's `OffsetCommitValue` record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OffsetAndMetadata {
    /// The committed offset (the next record to consume).
    pub offset: i64,
    /// The leader epoch of the last consumed record, or -1.
    pub leader_epoch: i32,
    /// Client metadata ("" when none was given).
    pub metadata: String,
    /// When the offset was committed.
    pub commit_timestamp_ms: i64,
    /// Explicit expiry from an old OffsetCommit retention time, if any.
    pub expire_timestamp_ms: Option<i64>,
}

impl OffsetAndMetadata {
    /// The value an OffsetCommit partition stores. `commit_timestamp_ms` (v1) and
    /// `retention_time_ms` (v2-v4) are -1 when the request does not set them.
    pub fn from_commit(
        offset: i64,
        leader_epoch: i32,
        metadata: Option<String>,
        commit_timestamp_ms: i64,
        retention_time_ms: i64,
        now: i64,
    ) -> Self {
        OffsetAndMetadata {
            offset,
            leader_epoch: if leader_epoch < 0 { -1 } else { leader_epoch },
            metadata: metadata.unwrap_or_default(),
            commit_timestamp_ms: if commit_timestamp_ms == -1 {
                now
            } else {
                commit_timestamp_ms
            },
            expire_timestamp_ms: (retention_time_ms != -1)
                .then(|| now.saturating_add(retention_time_ms)),
        }
    }

    /// Whether the offset has expired at `now` given the group's aging rule.
    pub fn is_expired(&self, now: i64, retention_ms: i64, base: ExpirationBase) -> bool {
        if let Some(expire) = self.expire_timestamp_ms {
            return now >= expire;
        }
        let since = match base {
            ExpirationBase::CommitTimestamp => self.commit_timestamp_ms,
            ExpirationBase::EmptySince(ts) => ts.unwrap_or(self.commit_timestamp_ms),
        };
        now.saturating_sub(since) >= retention_ms
    }
}

/// Where an offset's retention period starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExpirationBase {
    /// At the offset's commit (simple groups, unsubscribed topics of Stable groups).
    CommitTimestamp,
    /// When the group became Empty (or, if unknown, at the commit).
    EmptySince(Option<i64>),
}

/// An OffsetFetch answer for one partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchedOffset {
    /// The partition.
    pub partition: i32,
    /// The committed offset, or -1 if none.
    pub offset: i64,
    /// The committed leader epoch, or -1.
    pub leader_epoch: i32,
    /// The committed metadata, or "".
    pub metadata: String,
    /// The partition's error, or `ErrorCode::None`.
    pub error: ErrorCode,
}

impl FetchedOffset {
    fn of(partition: i32, value: Option<&OffsetAndMetadata>) -> Self {
        match value {
            Some(v) => FetchedOffset {
                partition,
                offset: v.offset,
                leader_epoch: v.leader_epoch,
                metadata: v.metadata.clone(),
                error: ErrorCode::None,
            },
            None => FetchedOffset {
                partition,
                offset: -1,
                leader_epoch: -1,
                metadata: String::new(),
                error: ErrorCode::None,
            },
        }
    }
}

/// A topic's partitions with a per-partition error, as OffsetCommit and OffsetDelete answer.
pub type TopicResults = Vec<(String, Vec<(i32, ErrorCode)>)>;

/// The committed offsets of one group.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OffsetStore {
    offsets: BTreeMap<String, BTreeMap<i32, OffsetAndMetadata>>,
}

impl OffsetStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// OFFSET_METADATA_TOO_LARGE if `metadata` exceeds `offset.metadata.max.bytes`.
    pub fn check_metadata(metadata: Option<&str>, max_bytes: usize) -> ErrorCode {
        match metadata {
            Some(m) if m.len() > max_bytes => ErrorCode::OffsetMetadataTooLarge,
            _ => ErrorCode::None,
        }
    }

    /// Stores a committed offset (from a commit or a replayed record).
    pub fn commit(&mut self, topic: &str, partition: i32, value: OffsetAndMetadata) {
        self.offsets
            .entry(topic.to_string())
            .or_default()
            .insert(partition, value);
    }

    /// Forgets a partition's offset (a tombstone); returns what was stored.
    pub fn remove(&mut self, topic: &str, partition: i32) -> Option<OffsetAndMetadata> {
        let partitions = self.offsets.get_mut(topic)?;
        let removed = partitions.remove(&partition);
        if partitions.is_empty() {
            self.offsets.remove(topic);
        }
        removed
    }

    /// The committed offset of a partition.
    pub fn get(&self, topic: &str, partition: i32) -> Option<&OffsetAndMetadata> {
        self.offsets.get(topic)?.get(&partition)
    }

    /// Whether no offsets are stored.
    pub fn is_empty(&self) -> bool {
        self.offsets.is_empty()
    }

    /// Every stored offset, by topic then partition.
    pub fn iter(&self) -> impl Iterator<Item = (&str, i32, &OffsetAndMetadata)> {
        self.offsets
            .iter()
            .flat_map(|(t, ps)| ps.iter().map(move |(p, v)| (t.as_str(), *p, v)))
    }

    /// OffsetFetch for named partitions: uncommitted ones answer offset -1.
    pub fn fetch(&self, topic: &str, partitions: &[i32]) -> Vec<FetchedOffset> {
        partitions
            .iter()
            .map(|p| FetchedOffset::of(*p, self.get(topic, *p)))
            .collect()
    }

    /// OffsetFetch for all partitions (a null topic list): every committed offset.
    pub fn fetch_all(&self) -> Vec<(String, Vec<FetchedOffset>)> {
        self.offsets
            .iter()
            .map(|(t, ps)| {
                let fetched = ps
                    .iter()
                    .map(|(p, v)| FetchedOffset::of(*p, Some(v)))
                    .collect();
                (t.clone(), fetched)
            })
            .collect()
    }

    /// OffsetDelete: removes the named partitions' offsets except for topics the group is
    /// subscribed to (GROUP_SUBSCRIBED_TO_TOPIC). Returns per-partition results and the
    /// partitions actually removed (to write tombstones for).
    pub fn delete(
        &mut self,
        topics: &[(String, Vec<i32>)],
        is_subscribed: impl Fn(&str) -> bool,
    ) -> (TopicResults, Vec<(String, i32)>) {
        let mut results = Vec::with_capacity(topics.len());
        let mut removed = Vec::new();
        for (topic, partitions) in topics {
            let subscribed = is_subscribed(topic);
            let mut per_partition = Vec::with_capacity(partitions.len());
            for p in partitions {
                if subscribed {
                    per_partition.push((*p, ErrorCode::GroupSubscribedToTopic));
                    continue;
                }
                if self.remove(topic, *p).is_some() {
                    removed.push((topic.clone(), *p));
                }
                per_partition.push((*p, ErrorCode::None));
            }
            results.push((topic.clone(), per_partition));
        }
        (results, removed)
    }

    /// Removes offsets expired at `now` under `base`, skipping topics the group consumes.
    /// Returns the removed partitions; the store is then empty iff every offset expired.
    pub fn expire(
        &mut self,
        now: i64,
        retention_ms: i64,
        base: ExpirationBase,
        is_subscribed: impl Fn(&str) -> bool,
    ) -> Vec<(String, i32)> {
        let expired: Vec<(String, i32)> = self
            .iter()
            .filter(|(topic, _, v)| !is_subscribed(topic) && v.is_expired(now, retention_ms, base))
            .map(|(topic, p, _)| (topic.to_string(), p))
            .collect();
        for (topic, p) in &expired {
            self.remove(topic, *p);
        }
        expired
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RETENTION: i64 = 1_000;

    fn value(offset: i64, committed_at: i64) -> OffsetAndMetadata {
        OffsetAndMetadata::from_commit(offset, 3, Some("m".into()), -1, -1, committed_at)
    }

    #[test]
    fn commit_then_fetch_named_and_all() {
        let mut s = OffsetStore::new();
        s.commit("t", 0, value(10, 0));
        s.commit("t", 0, value(12, 5));
        s.commit("u", 2, value(7, 5));
        let f = s.fetch("t", &[0, 1]);
        assert_eq!(
            (f[0].offset, f[0].leader_epoch, f[0].metadata.as_str()),
            (12, 3, "m")
        );
        assert_eq!(
            (f[1].offset, f[1].leader_epoch, f[1].metadata.as_str()),
            (-1, -1, "")
        );
        let all = s.fetch_all();
        let names: Vec<&str> = all.iter().map(|(t, _)| t.as_str()).collect();
        assert_eq!(names, ["t", "u"]);
        assert_eq!(all[1].1[0].offset, 7);
    }

    #[test]
    fn metadata_size_is_bounded() {
        assert_eq!(
            OffsetStore::check_metadata(Some("abcd"), 4),
            ErrorCode::None
        );
        assert_eq!(
            OffsetStore::check_metadata(Some("abcde"), 4),
            ErrorCode::OffsetMetadataTooLarge
        );
        assert_eq!(OffsetStore::check_metadata(None, 0), ErrorCode::None);
    }

    #[test]
    fn commit_fields_default_as_kafka() {
        let v = OffsetAndMetadata::from_commit(5, -7, None, -1, 200, 1_000);
        assert_eq!(v.leader_epoch, -1);
        assert_eq!(v.metadata, "");
        assert_eq!(v.commit_timestamp_ms, 1_000);
        assert_eq!(v.expire_timestamp_ms, Some(1_200));
        let v1 = OffsetAndMetadata::from_commit(5, 0, None, 77, -1, 1_000);
        assert_eq!((v1.commit_timestamp_ms, v1.expire_timestamp_ms), (77, None));
    }

    #[test]
    fn delete_refuses_subscribed_topics() {
        let mut s = OffsetStore::new();
        s.commit("consumed", 0, value(1, 0));
        s.commit("old", 0, value(1, 0));
        let topics = vec![
            ("consumed".to_string(), vec![0]),
            ("old".to_string(), vec![0, 9]),
        ];
        let (results, removed) = s.delete(&topics, |t| t == "consumed");
        assert_eq!(results[0].1, vec![(0, ErrorCode::GroupSubscribedToTopic)]);
        assert_eq!(
            results[1].1,
            vec![(0, ErrorCode::None), (9, ErrorCode::None)]
        );
        assert_eq!(removed, vec![("old".to_string(), 0)]);
        assert!(s.get("consumed", 0).is_some());
        assert!(s.get("old", 0).is_none());
    }

    #[test]
    fn expiry_rules() {
        struct Case {
            name: &'static str,
            committed_at: i64,
            explicit_retention: i64,
            base: ExpirationBase,
            subscribed: bool,
            now: i64,
            expired: bool,
        }
        let cases = [
            Case {
                name: "commit time, inside retention",
                committed_at: 0,
                explicit_retention: -1,
                base: ExpirationBase::CommitTimestamp,
                subscribed: false,
                now: 999,
                expired: false,
            },
            Case {
                name: "commit time, at retention",
                committed_at: 0,
                explicit_retention: -1,
                base: ExpirationBase::CommitTimestamp,
                subscribed: false,
                now: 1_000,
                expired: true,
            },
            Case {
                name: "subscribed topic never expires",
                committed_at: 0,
                explicit_retention: -1,
                base: ExpirationBase::CommitTimestamp,
                subscribed: true,
                now: 50_000,
                expired: false,
            },
            Case {
                name: "empty group counts from emptiness",
                committed_at: 0,
                explicit_retention: -1,
                base: ExpirationBase::EmptySince(Some(5_000)),
                subscribed: false,
                now: 5_999,
                expired: false,
            },
            Case {
                name: "empty group after retention",
                committed_at: 0,
                explicit_retention: -1,
                base: ExpirationBase::EmptySince(Some(5_000)),
                subscribed: false,
                now: 6_000,
                expired: true,
            },
            Case {
                name: "unknown emptiness falls back to commit",
                committed_at: 0,
                explicit_retention: -1,
                base: ExpirationBase::EmptySince(None),
                subscribed: false,
                now: 1_000,
                expired: true,
            },
            Case {
                name: "explicit expiry wins",
                committed_at: 0,
                explicit_retention: 10,
                base: ExpirationBase::EmptySince(Some(5_000)),
                subscribed: false,
                now: 10,
                expired: true,
            },
        ];
        for c in cases {
            let mut s = OffsetStore::new();
            let v = OffsetAndMetadata::from_commit(
                1,
                -1,
                None,
                -1,
                c.explicit_retention,
                c.committed_at,
            );
            s.commit("t", 0, v);
            let removed = s.expire(c.now, RETENTION, c.base, |_| c.subscribed);
            assert_eq!(!removed.is_empty(), c.expired, "{}", c.name);
            assert_eq!(s.is_empty(), c.expired, "{}", c.name);
        }
    }
}
