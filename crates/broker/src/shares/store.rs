//! The share coordinators of this broker (KIP-932's "share coordinator"), a user of the
//! coordinator runtime ([`crate::runtime`]): one [`ShareStateStore`] per
//! `__share_group_state` partition led here (the topic created on first use, as Kafka does).
//! A share-partition's state lives in the partition its key
//! (`group:topicId:partition`, as Kafka forms it) hashes to; a write is answered once the ISR
//! holds it.

use std::sync::Arc;

use bytes::Bytes;
use tracing::warn;
use weir_coordinator::share::state::{
    self, ShareSnapshot, ShareStateKey, ShareStateRecord, ShareStateStore,
};
use weir_meta::MetadataImage;
use weir_protocol::error::ErrorCode;

use crate::host::{now_ms, Host};
use crate::runtime::{self, Coordinator, InternalTopic, Machine, Runtime, Stored};

/// The internal topic that holds share-partition state.
pub const SHARE_STATE_TOPIC: &str = "__share_group_state";

/// One `__share_group_state` partition and the states it holds.
type StoreShard = runtime::Shard<ShareStateStore>;

impl Machine for ShareStateStore {
    type Record = ShareStateRecord;
    type Effect = ();

    fn encode(
        record: &ShareStateRecord,
        _image: &MetadataImage,
    ) -> Result<(Bytes, Option<Bytes>), String> {
        Ok(state::encode(record))
    }

    fn replay_stored(
        &mut self,
        item: Stored,
        _image: &MetadataImage,
        _now: i64,
        _effects: &mut Vec<()>,
    ) -> bool {
        let Stored::Record {
            offset, key, value, ..
        } = item
        else {
            return false;
        };
        match state::decode(&key, value.as_ref()) {
            Ok(Some(record)) => {
                self.replay(record);
                true
            }
            Ok(None) => false,
            Err(e) => {
                warn!(offset, error = %e, "skipping an unreadable {SHARE_STATE_TOPIC} record");
                false
            }
        }
    }
}

/// The coordinator key of a share-partition, as Kafka forms it: `group:topicId:partition`
/// with the topic id in Kafka's URL-safe base64.
pub(crate) fn coordinator_key(key: &ShareStateKey) -> String {
    use base64::Engine;
    let id = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(key.topic_id);
    format!("{}:{}:{}", key.group, id, key.partition)
}

/// The share coordinators of this broker.
pub struct ShareStore {
    runtime: Runtime<ShareStateStore>,
}

impl Coordinator for ShareStore {
    type Machine = ShareStateStore;

    fn runtime(&self) -> &Runtime<ShareStateStore> {
        &self.runtime
    }

    fn fresh(&self) -> ShareStateStore {
        ShareStateStore::new()
    }

    fn serving(self: &Arc<Self>, _shard: &Arc<StoreShard>, _effects: Vec<()>) {}
}

impl ShareStore {
    /// No shards yet; they come and go with leadership ([`ShareStore::reconcile`]).
    pub fn new(host: Arc<Host>) -> Self {
        let c = &host.config;
        let topic = InternalTopic {
            name: SHARE_STATE_TOPIC,
            partitions: c.share_state_topic_num_partitions,
            replication_factor: c.share_state_topic_replication_factor,
            configs: |_| {
                vec![
                    ("cleanup.policy", "compact"),
                    ("compression.type", "producer"),
                    ("segment.bytes", "104857600"),
                    ("unclean.leader.election.enable", "false"),
                ]
            },
            min_isr: Some(c.share_state_topic_min_isr),
        };
        ShareStore {
            runtime: Runtime::new(host.clone(), topic),
        }
    }

    /// Loads a store for each `__share_group_state` partition led here and drops those of
    /// partitions no longer led here.
    pub(crate) fn reconcile(self: &Arc<Self>) {
        runtime::reconcile(self);
    }

    /// Makes sure `__share_group_state` exists (FindCoordinator does, as in Kafka).
    pub(crate) async fn ensure_topic(self: &Arc<Self>) -> Result<(), ErrorCode> {
        runtime::ensure_topic(self).await
    }

    /// The `__share_group_state` partition that owns `key`.
    pub(crate) fn partition_for(&self, key: &ShareStateKey) -> i32 {
        self.runtime.partition_for(&coordinator_key(key))
    }

    /// The `__share_group_state` partition that owns coordinator key `key`
    /// (`group:topicId:partition`, as FindCoordinator carries it); `None` if malformed.
    pub(crate) fn partition_for_key(&self, key: &str) -> Option<i32> {
        use base64::Engine;
        let mut parts = key.rsplitn(3, ':');
        let partition = parts.next()?.parse::<i32>().ok()?;
        let id = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(parts.next()?)
            .ok()?;
        let group = parts.next()?;
        let topic_id: [u8; 16] = id.try_into().ok()?;
        Some(self.partition_for(&ShareStateKey {
            group: group.to_string(),
            topic_id,
            partition,
        }))
    }

    /// The node leading the partition that owns `key`, if the topic exists.
    pub(crate) fn coordinator_of(&self, key: &ShareStateKey) -> Option<i32> {
        let image = self.runtime.host().image();
        let t = image.topic(SHARE_STATE_TOPIC)?;
        let p = t.partitions.get(&self.partition_for(key))?;
        (p.leader >= 0).then_some(p.leader)
    }

    /// The state of `key` kept here; NOT_COORDINATOR if this broker does not own it.
    pub(crate) async fn read(
        self: &Arc<Self>,
        key: &ShareStateKey,
    ) -> Result<Option<ShareSnapshot>, ErrorCode> {
        let shard = runtime::shard(self, &coordinator_key(key)).await?;
        let mut guard = shard.lock();
        Ok(guard.coordinator()?.read(key).cloned())
    }

    /// Replaces the state of `key` and waits until the ISR holds it.
    pub(crate) async fn write(
        self: &Arc<Self>,
        key: ShareStateKey,
        snapshot: ShareSnapshot,
    ) -> Result<(), ErrorCode> {
        let shard = runtime::shard(self, &coordinator_key(&key)).await?;
        let last = {
            let mut guard = shard.lock();
            let record = guard.coordinator()?.write(key, snapshot)?;
            self.append(&shard, &[record])?
        };
        self.durable(&shard, last).await
    }

    fn append(
        self: &Arc<Self>,
        shard: &Arc<StoreShard>,
        records: &[ShareStateRecord],
    ) -> Result<i64, ErrorCode> {
        self.runtime
            .append(shard, records, None, &|| Ok(()), now_ms())
            .map_err(|e| {
                warn!(partition = shard.index, error = %e, "could not append to {SHARE_STATE_TOPIC}");
                runtime::fail_and_reload(self, shard);
                ErrorCode::CoordinatorNotAvailable
            })
    }

    async fn durable(
        self: &Arc<Self>,
        shard: &Arc<StoreShard>,
        last: i64,
    ) -> Result<(), ErrorCode> {
        if self.runtime.committed(shard, last).await {
            Ok(())
        } else {
            runtime::fail_and_reload(self, shard);
            Err(ErrorCode::CoordinatorNotAvailable)
        }
    }
}
