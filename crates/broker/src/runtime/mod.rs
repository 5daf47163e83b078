//! The coordinator runtime (Kafka 4.x calls it `CoordinatorRuntime`): state machines kept in
//! an internal topic, one shard per partition of that topic this broker leads. A shard is
//! loaded by replaying its partition and dropped when leadership leaves; while it loads,
//! requests get COORDINATOR_LOAD_IN_PROGRESS. One writer per shard: an operation runs under
//! the shard's lock and appends the records it makes before releasing it, so the log holds
//! them in the order the machine made them; a write counts once the in-sync replicas hold
//! it. Timers tick every shard.
//!
//! Its users bring only their state machine and record format ([`Machine`]) and what they
//! do around it ([`Coordinator`]): the group coordinators over `__consumer_offsets` and the
//! transaction coordinators over `__transaction_state`.
//!
//! - `load`: replaying a partition into a fresh machine.

mod load;

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::Duration;

use bytes::Bytes;
use tracing::{info, warn};
use weir_meta::controller::CreateTopicSpec;
use weir_meta::{MetaError, MetadataImage};
use weir_protocol::error::ErrorCode;
use weir_protocol::record::batch::BatchHeader;
use weir_protocol::record::builder::BatchBuilder;
use weir_protocol::record::Compression;
use weir_storage::StorageError;

use crate::host::{now_ms, Host};
use crate::locks;
use crate::partition::Partition;
pub(crate) use load::Stored;

/// How long a write waits for the ISR (Kafka's `offsets.commit.timeout.ms` default).
const WRITE_TIMEOUT: Duration = Duration::from_secs(5);

/// A coordinator's state machine and its record format.
pub(crate) trait Machine: Send + 'static {
    /// A record the machine writes to its partition and replays from it.
    type Record;
    /// What loading leaves to be done once the shard serves.
    type Effect: Send + 'static;
    /// The record as its key and value (`None`: a tombstone); topics named by id in `image`.
    fn encode(
        record: &Self::Record,
        image: &MetadataImage,
    ) -> Result<(Bytes, Option<Bytes>), String>;
    /// Replays one stored item of the partition; true if it was a record it took.
    fn replay_stored(
        &mut self,
        item: Stored,
        image: &MetadataImage,
        now: i64,
        effects: &mut Vec<Self::Effect>,
    ) -> bool;
    /// Called once the whole partition is replayed, before the shard serves.
    fn loaded(&mut self, _effects: &mut Vec<Self::Effect>) {}
}

/// A user of the runtime: what it does around its machines.
pub(crate) trait Coordinator: Send + Sync + Sized + 'static {
    /// Its state machine.
    type Machine: Machine;
    /// The runtime its shards live in.
    fn runtime(&self) -> &Runtime<Self::Machine>;
    /// A machine for a partition that holds nothing yet.
    fn fresh(&self) -> Self::Machine;
    /// The shard has loaded and serves: carry out what loading left to do.
    fn serving(
        self: &Arc<Self>,
        shard: &Arc<Shard<Self::Machine>>,
        effects: Vec<<Self::Machine as Machine>::Effect>,
    );
    /// These shards were dropped: leadership of their partitions left this broker.
    fn resigned(&self, _indexes: &[i32]) {}
}

/// The internal topic a runtime keeps its shards in, as it is created on first use.
pub(crate) struct InternalTopic {
    /// Its name.
    pub name: &'static str,
    /// Its partition count.
    pub partitions: i32,
    /// The configured replication factor (fewer while fewer brokers are registered).
    pub replication_factor: i16,
    /// Its topic configs, given the replication factor it gets.
    pub configs: fn(i16) -> Vec<(&'static str, &'static str)>,
    /// Its `min.insync.replicas`, capped by the replication factor it gets, when set here
    /// rather than in `configs`.
    pub min_isr: Option<i16>,
}

/// Why an append to a coordinator's partition failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum AppendError {
    /// The batch could not be built.
    #[error("building a coordinator batch: {0}")]
    Build(String),
    /// The log refused it.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// The transaction does not include this partition.
    #[error("transaction check failed: {}", .0.name())]
    Refused(ErrorCode),
}

/// Where a shard's machine stands.
pub(crate) enum ShardState<M> {
    /// Being rebuilt from the log: requests get COORDINATOR_LOAD_IN_PROGRESS.
    Loading,
    /// Serving.
    Active(Box<M>),
    /// Loading or a write failed: COORDINATOR_NOT_AVAILABLE until it is reloaded.
    Failed,
}

impl<M> ShardState<M> {
    /// The machine, or the error a request gets while there is none.
    pub(crate) fn coordinator(&mut self) -> Result<&mut M, ErrorCode> {
        match self {
            ShardState::Active(c) => Ok(c),
            ShardState::Loading => Err(ErrorCode::CoordinatorLoadInProgress),
            ShardState::Failed => Err(ErrorCode::CoordinatorNotAvailable),
        }
    }
}

/// One partition of the internal topic, led here at `epoch`, and its machine.
pub(crate) struct Shard<M> {
    /// The partition index.
    pub(crate) index: i32,
    /// The leader epoch the machine serves under (the coordinator epoch of markers).
    pub(crate) epoch: i32,
    partition: Arc<Partition>,
    state: Mutex<ShardState<M>>,
}

impl<M> Shard<M> {
    /// The shard's state, locked: its one writer.
    pub(crate) fn lock(&self) -> MutexGuard<'_, ShardState<M>> {
        locks::lock(&self.state)
    }

    /// The partition the shard keeps its machine in.
    pub(crate) fn partition(&self) -> &Arc<Partition> {
        &self.partition
    }
}

/// The shards of one internal topic on this broker.
pub(crate) struct Runtime<M> {
    host: Arc<Host>,
    topic: InternalTopic,
    shards: RwLock<HashMap<i32, Arc<Shard<M>>>>,
    /// Held while the topic is created.
    create: tokio::sync::Mutex<()>,
    /// Held while shards are brought in line with leadership, so an older view of
    /// leadership never undoes a newer one.
    reconciling: Mutex<()>,
}

impl<M: Machine> Runtime<M> {
    /// No shards yet; [`reconcile`] makes them.
    pub(crate) fn new(host: Arc<Host>, topic: InternalTopic) -> Self {
        Self {
            host,
            topic: InternalTopic {
                partitions: topic.partitions.max(1),
                ..topic
            },
            shards: RwLock::new(HashMap::new()),
            create: tokio::sync::Mutex::new(()),
            reconciling: Mutex::new(()),
        }
    }

    /// The node the shards live on.
    pub(crate) fn host(&self) -> &Arc<Host> {
        &self.host
    }

    /// The internal topic's name.
    pub(crate) fn topic(&self) -> &'static str {
        self.topic.name
    }

    /// The partition that owns `key` (a group or transactional id).
    pub(crate) fn partition_for(&self, key: &str) -> i32 {
        partition_of(key, self.topic.partitions)
    }

    /// Every shard.
    pub(crate) fn shards(&self) -> Vec<Arc<Shard<M>>> {
        locks::read(&self.shards).values().cloned().collect()
    }

    /// The shard of partition `index`, if this broker has one.
    pub(crate) fn local(&self, index: i32) -> Option<Arc<Shard<M>>> {
        locks::read(&self.shards).get(&index).cloned()
    }

    /// The partitions led here whose shard does not serve yet (still to be made, loading,
    /// or failed).
    pub(crate) fn not_serving(&self) -> Vec<i32> {
        let led = led(&self.host, self.topic.name);
        // Taken out first: no shard is locked while the map's lock is held.
        let shards: HashMap<i32, Arc<Shard<M>>> = locks::read(&self.shards).clone();
        led.into_iter()
            .filter(|(index, partition, epoch)| {
                !shards.get(index).is_some_and(|s| {
                    s.epoch == *epoch
                        && Arc::ptr_eq(&s.partition, partition)
                        && matches!(*s.lock(), ShardState::Active(_))
                })
            })
            .map(|(index, _, _)| index)
            .collect()
    }

    /// Appends `records` as one batch to the shard's partition (call with the shard locked,
    /// to keep their order), in the transaction of `producer` (id, epoch) if given, whose
    /// first batch here is put to `verify` first (is this partition in it?), as produce
    /// does. Returns the batch's last offset.
    pub(crate) fn append(
        &self,
        shard: &Shard<M>,
        records: &[M::Record],
        producer: Option<(i64, i16)>,
        verify: &dyn Fn() -> Result<(), ErrorCode>,
        now: i64,
    ) -> Result<i64, AppendError> {
        let image = self.host.image();
        let mut builder = BatchBuilder::new(Compression::None, now);
        if let Some((id, epoch)) = producer {
            builder.set_producer(id, epoch, -1);
            builder.set_transactional(true);
        }
        for r in records {
            let (key, value) = M::encode(r, &image).map_err(AppendError::Build)?;
            builder
                .push(Some(&key), value.as_deref(), &[], now)
                .map_err(|e| AppendError::Build(e.to_string()))?;
        }
        let mut bytes = builder
            .build()
            .map_err(|e| AppendError::Build(e.to_string()))?
            .to_vec();
        let header = BatchHeader::validate(&bytes, bytes.len())
            .map_err(|e| AppendError::Build(e.to_string()))?;
        let appended = shard
            .partition
            .append_verified(&mut bytes, &header, now, verify)
            .map_err(|e| match e {
                crate::partition::AppendError::Storage(s) => AppendError::Storage(s),
                crate::partition::AppendError::Refused(code) => AppendError::Refused(code),
            })?;
        self.host.data_notify.notify_waiters();
        Ok(appended.last_offset)
    }

    /// Waits until `last`, written by the shard, is fsynced here and held by the ISR; false
    /// if either fails or does not happen within the write timeout.
    pub(crate) async fn committed(&self, shard: &Shard<M>, last: i64) -> bool {
        committed(&self.host, &shard.partition, last, shard.epoch).await
    }

    /// Brings the shards in line with the partitions led here: drops shards of partitions
    /// no longer led (or led at another epoch, or by a reopened log), and makes one with
    /// `fresh` for each newly led partition, at once serving when its log is empty. Returns
    /// the indexes dropped and the new shards to load.
    fn sync(&self, fresh: impl Fn() -> M) -> (Vec<i32>, Vec<Arc<Shard<M>>>) {
        // The partitions first: no other lock is taken while the shards' is held.
        let led = led(&self.host, self.topic.name);
        let mut resigned = Vec::new();
        let mut to_load = Vec::new();
        let mut shards = locks::write(&self.shards);
        shards.retain(|index, s| {
            let keep = led.iter().any(|(i, p, epoch)| {
                i == index && *epoch == s.epoch && Arc::ptr_eq(p, &s.partition)
            });
            if !keep {
                resigned.push(*index);
            }
            keep
        });
        for (index, partition, epoch) in led {
            if shards.contains_key(&index) {
                continue;
            }
            let empty = partition.log().log_end_offset() == 0;
            let state = if empty {
                ShardState::Active(Box::new(fresh()))
            } else {
                ShardState::Loading
            };
            let shard = Arc::new(Shard {
                index,
                epoch,
                partition,
                state: Mutex::new(state),
            });
            if !empty {
                to_load.push(shard.clone());
            }
            shards.insert(index, shard);
        }
        (resigned, to_load)
    }

    /// The replication factor the topic is created with: the configured one, or fewer when
    /// fewer brokers are registered, so that one broker alone can serve (Kafka refuses
    /// instead, and single-node setups lower the setting by hand).
    fn replication_factor(&self) -> i16 {
        let live = self
            .host
            .image()
            .brokers
            .values()
            .filter(|b| !b.fenced)
            .count();
        self.topic
            .replication_factor
            .min(i16::try_from(live).unwrap_or(i16::MAX))
            .max(1)
    }
}

/// The partition of a coordinator topic that owns `key` (a group or transactional id):
/// Java's `String.hashCode`, made non-negative as Kafka's `Utils.abs` does, modulo the
/// partition count.
pub(crate) fn partition_of(key: &str, num_partitions: i32) -> i32 {
    let mut h: i32 = 0;
    for unit in key.encode_utf16() {
        h = h.wrapping_mul(31).wrapping_add(i32::from(unit));
    }
    let abs = if h == i32::MIN { 0 } else { h.abs() };
    abs % num_partitions.max(1)
}

/// The partitions of `topic` this broker leads now: (index, partition, leader epoch).
fn led(host: &Host, topic: &str) -> Vec<(i32, Arc<Partition>, i32)> {
    let image = host.image();
    let Some(t) = image.topic(topic) else {
        return Vec::new();
    };
    t.partitions
        .keys()
        .filter_map(|&index| {
            let partition = host.partition_by_id(&t.topic_id, index)?;
            if !partition.is_leader() {
                return None;
            }
            let epoch = partition.leader_epoch();
            Some((index, partition, epoch))
        })
        .collect()
}

/// Waits until `last` of `p`, written at leader `epoch`, is fsynced here and held by the
/// ISR; false if either fails or does not happen within the write timeout.
pub(crate) async fn committed(host: &Host, p: &Arc<Partition>, last: i64, epoch: i32) -> bool {
    let deadline = tokio::time::Instant::now() + WRITE_TIMEOUT;
    let synced = tokio::time::timeout_at(deadline, host.group_commit.request(p.clone(), last));
    if !matches!(synced.await, Ok(Ok(true))) {
        return false;
    }
    crate::replication::wait_replicated(host, p, last, epoch, deadline)
        .await
        .is_ok()
}

/// Loads a shard for each partition of the coordinator's topic this broker has come to lead
/// and drops those of partitions it no longer leads, or leads at a newer epoch.
pub(crate) fn reconcile<C: Coordinator>(c: &Arc<C>) {
    let rt = c.runtime();
    let (resigned, to_load) = {
        let _serial = locks::lock(&rt.reconciling);
        rt.sync(|| c.fresh())
    };
    if !resigned.is_empty() {
        info!(topic = rt.topic.name, partitions = ?resigned, "no longer the coordinator of these partitions");
        c.resigned(&resigned);
    }
    for shard in to_load {
        let c = c.clone();
        tokio::spawn(async move { load::load(&c, &shard).await });
    }
}

/// Marks the shard failed after a write it could not make (memory may be ahead of the log),
/// then reloads it from the log.
pub(crate) fn fail_and_reload<C: Coordinator>(c: &Arc<C>, shard: &Arc<Shard<C::Machine>>) {
    *shard.lock() = ShardState::Failed;
    let c = c.clone();
    let shard = shard.clone();
    tokio::spawn(async move { load::load(&c, &shard).await });
}

/// The shard owning `key`, creating the topic on first use; NOT_COORDINATOR if this broker
/// does not lead its partition.
pub(crate) async fn shard<C: Coordinator>(
    c: &Arc<C>,
    key: &str,
) -> Result<Arc<Shard<C::Machine>>, ErrorCode> {
    let rt = c.runtime();
    let index = rt.partition_for(key);
    let shard = match rt.local(index) {
        Some(s) => s,
        None => {
            create_topic(c).await?;
            rt.local(index).ok_or(ErrorCode::NotCoordinator)?
        }
    };
    if !rt.host.leads(rt.topic.name, index) {
        return Err(ErrorCode::NotCoordinator);
    }
    Ok(shard)
}

/// Makes sure the topic exists and its local shards are up (FindCoordinator does, as in
/// Kafka).
pub(crate) async fn ensure_topic<C: Coordinator>(c: &Arc<C>) -> Result<(), ErrorCode> {
    if c.runtime()
        .host
        .image()
        .topic(c.runtime().topic.name)
        .is_none()
    {
        create_topic(c).await?;
    }
    Ok(())
}

async fn create_topic<C: Coordinator>(c: &Arc<C>) -> Result<(), ErrorCode> {
    let rt = c.runtime();
    let name = rt.topic.name;
    let _guard = rt.create.lock().await;
    if rt.host.image().topic(name).is_none() {
        let replication_factor = rt.replication_factor();
        let spec = CreateTopicSpec {
            name: name.to_string(),
            num_partitions: rt.topic.partitions,
            replication_factor,
            assignments: Vec::new(),
            configs: (rt.topic.configs)(replication_factor)
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .chain(rt.topic.min_isr.map(|m| {
                    let m = m.clamp(1, replication_factor.max(1));
                    ("min.insync.replicas".to_string(), m.to_string())
                }))
                .collect(),
        };
        match rt.host.create_topics(&[spec], false).await.pop() {
            Some(Ok(_)) | Some(Err(MetaError::TopicAlreadyExists(_))) => {
                info!(partitions = rt.topic.partitions, "created {name}");
            }
            Some(Err(e)) => {
                warn!(error = %e, "could not create {name}");
                return Err(ErrorCode::CoordinatorNotAvailable);
            }
            None => return Err(ErrorCode::CoordinatorNotAvailable),
        }
    }
    if rt.host.image().topic(name).is_none() {
        return Err(ErrorCode::CoordinatorNotAvailable);
    }
    reconcile(c);
    Ok(())
}

/// Runs `tick` on the coordinator every `period` until it is dropped or the broker stops.
pub(crate) fn every<C, F, Fut>(c: &Arc<C>, period: Duration, mut tick: F)
where
    C: Coordinator,
    F: FnMut(Arc<C>, i64) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send,
{
    let weak = Arc::downgrade(c);
    tokio::spawn(async move {
        let mut interval = tokio::time::interval(period);
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            interval.tick().await;
            let Some(c) = weak.upgrade() else { return };
            if c.runtime().host.is_stopping() {
                return;
            }
            tick(c, now_ms()).await;
        }
    });
}
