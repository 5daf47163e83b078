//! What the group and transaction coordinators share about their internal topics
//! (`__consumer_offsets`, `__transaction_state`), which are replicated like any topic: a
//! broker coordinates exactly the partitions it leads, loading a coordinator when it
//! becomes leader and dropping it when leadership leaves (as Kafka's coordinators do); their
//! topics get `offsets.topic.replication.factor` / `transaction.state.log.replication.factor`
//! replicas; and a coordinator's write counts only once the in-sync replicas have it.

use std::collections::HashMap;
use std::sync::{Arc, RwLock, Weak};
use std::time::Duration;

use crate::groups::Groups;
use crate::locks;
use crate::partition::Partition;
use crate::state::BrokerState;
use crate::txns::Txns;

/// How long a coordinator waits for its write to reach the ISR (Kafka's
/// `offsets.commit.timeout.ms` default).
const WRITE_TIMEOUT: Duration = Duration::from_secs(5);

/// A partition of an internal topic this broker leads, at the epoch it leads it.
pub(crate) struct Led {
    /// Partition index.
    pub index: i32,
    /// The local partition.
    pub partition: Arc<Partition>,
    /// Its leader epoch.
    pub epoch: i32,
    /// Whether its log has never held a record (nothing to load).
    pub empty: bool,
}

/// The partitions of `topic` this broker leads now.
pub(crate) fn led(state: &BrokerState, topic: &str) -> Vec<Led> {
    let image = state.image();
    let Some(t) = image.topic(topic) else {
        return Vec::new();
    };
    t.partitions
        .keys()
        .filter_map(|&index| {
            let partition = state.partition_by_id(&t.topic_id, index)?;
            if !partition.is_leader() {
                return None;
            }
            let epoch = partition.leader_epoch();
            let empty = partition.log().log_end_offset() == 0;
            Some(Led {
                index,
                partition,
                epoch,
                empty,
            })
        })
        .collect()
}

/// A coordinator shard: the partition it serves and the leader epoch it serves under.
pub(crate) trait CoordinatorShard {
    /// The leader epoch it was created under.
    fn epoch(&self) -> i32;
    /// The partition it serves.
    fn partition(&self) -> &Arc<Partition>;
}

/// Brings `shards` in line with the partitions of `topic` led here: drops shards of
/// partitions no longer led (or led at another epoch or by a reopened log), and makes one
/// with `make` for each newly led partition. Returns the indexes dropped and the new shards
/// `make` marked for loading.
pub(crate) fn sync_shards<S: CoordinatorShard>(
    state: &BrokerState,
    topic: &str,
    shards: &RwLock<HashMap<i32, Arc<S>>>,
    mut make: impl FnMut(Led) -> (Arc<S>, bool),
) -> (Vec<i32>, Vec<Arc<S>>) {
    // The partitions first: no other lock is taken while the shards' is held.
    let led = led(state, topic);
    let mut resigned = Vec::new();
    let mut to_load = Vec::new();
    let mut shards = locks::write(shards);
    shards.retain(|index, s| {
        let keep = led.iter().any(|l| {
            l.index == *index && l.epoch == s.epoch() && Arc::ptr_eq(&l.partition, s.partition())
        });
        if !keep {
            resigned.push(*index);
        }
        keep
    });
    for l in led {
        if shards.contains_key(&l.index) {
            continue;
        }
        let index = l.index;
        let (shard, load) = make(l);
        if load {
            to_load.push(shard.clone());
        }
        shards.insert(index, shard);
    }
    (resigned, to_load)
}

/// The replication factor an internal topic is created with: `configured`, or fewer when
/// fewer brokers are registered, so that one broker alone can serve groups (Kafka refuses
/// instead, and single-node setups lower the setting by hand).
pub(crate) fn replication_factor(state: &BrokerState, configured: i16) -> i16 {
    let live = state.image().brokers.values().filter(|b| !b.fenced).count();
    configured
        .min(i16::try_from(live).unwrap_or(i16::MAX))
        .max(1)
}

/// Waits until `last` of `p`, written at leader `epoch`, is fsynced here and held by the
/// ISR; false if either fails or does not happen within the write timeout.
pub(crate) async fn committed(
    state: &BrokerState,
    p: &Arc<Partition>,
    last: i64,
    epoch: i32,
) -> bool {
    let deadline = tokio::time::Instant::now() + WRITE_TIMEOUT;
    let synced = tokio::time::timeout_at(deadline, state.group_commit.request(p.clone(), last));
    if !matches!(synced.await, Ok(Ok(true))) {
        return false;
    }
    crate::replication::wait_replicated(state, p, last, epoch, deadline)
        .await
        .is_ok()
}

/// Starts the task that brings the coordinators in line with leadership whenever an image
/// is published, after doing so once now.
pub(crate) fn start(state: &Arc<BrokerState>) {
    reconcile(state);
    let changed = state.coordinators_changed.clone();
    let weak: Weak<BrokerState> = Arc::downgrade(state);
    tokio::spawn(async move {
        loop {
            changed.notified().await;
            let Some(state) = weak.upgrade() else { return };
            if state.is_stopping() {
                return;
            }
            reconcile(&state);
        }
    });
}

/// Loads the coordinators of partitions led here and drops those of partitions no longer
/// led here. Serialised, so that an older view of leadership never undoes a newer one.
pub(crate) fn reconcile(state: &Arc<BrokerState>) {
    let _serial = locks::lock(&state.coordinators_reconciling);
    Groups::reconcile(state);
    Txns::reconcile(state);
}
