//! The group coordinator service: one [`GroupCoordinator`] per local partition of
//! `__consumer_offsets` (created on first use, as Kafka does), rebuilt from that partition
//! when the broker starts, with the coordinator's effects carried out: parked JoinGroup and
//! SyncGroup responses are routed back by token, and records are appended and fsynced before
//! anything that depends on them is answered.
//!
//! - `shard`: one partition's coordinator, its appends and its load from the log.
//! - `txn`: transactional offset commits and transaction markers on these partitions.
//!
//! Every operation runs under its shard's lock, and the records it produces are appended
//! before the lock is released, so the log holds them in the order the coordinator made them.
//! Waiting for the fsync happens outside the lock.

mod shard;
mod txn;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use tokio::sync::oneshot;
use tracing::{info, warn};
use weir_coordinator::{
    Effect, GroupConfig, GroupCoordinator, JoinResponse, Record, RequestToken, SyncResponse,
};
use weir_meta::controller::CreateTopicSpec;
use weir_meta::MetaError;
use weir_protocol::error::ErrorCode;

use crate::coordinators;
use crate::locks;
use crate::state::{now_ms, BrokerState};
pub(crate) use shard::Shard;
use shard::Writes;

/// The internal topic that holds committed offsets and group metadata.
pub const OFFSETS_TOPIC: &str = "__consumer_offsets";

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

/// How often group deadlines (sessions, rebalances, the initial delay) are checked.
const TICK: Duration = Duration::from_millis(100);

/// A parked response, delivered to the request that waits for it.
enum Parked {
    Join(JoinResponse),
    Sync(SyncResponse),
}

/// What one coordinator operation returns: its value, effects and records to append.
pub(crate) struct Step<T> {
    /// The operation's own result.
    pub(crate) value: T,
    /// Effects to carry out.
    pub(crate) effects: Vec<Effect>,
    /// Records to append to the shard's partition.
    pub(crate) records: Vec<Record>,
}

impl<T> Step<T> {
    /// A result with effects and no records.
    pub(crate) fn effects(value: T, effects: Vec<Effect>) -> Self {
        Step {
            value,
            effects,
            records: Vec::new(),
        }
    }

    /// A result with records and no effects.
    pub(crate) fn records(value: T, records: Vec<Record>) -> Self {
        Step {
            value,
            effects: Vec::new(),
            records,
        }
    }
}

/// The group coordinators of this broker.
pub struct Groups {
    config: GroupConfig,
    num_partitions: i32,
    shards: RwLock<HashMap<i32, Arc<Shard>>>,
    /// Parked requests: the shard they wait on, and where their response goes.
    waiters: Mutex<HashMap<RequestToken, (i32, oneshot::Sender<Parked>)>>,
    next_token: AtomicU64,
    create: tokio::sync::Mutex<()>,
}

impl Groups {
    /// No coordinators yet; [`Groups::start`] loads the existing ones.
    pub fn new(config: GroupConfig, num_partitions: i32) -> Self {
        Groups {
            config,
            num_partitions: num_partitions.max(1),
            shards: RwLock::new(HashMap::new()),
            waiters: Mutex::new(HashMap::new()),
            next_token: AtomicU64::new(1),
            create: tokio::sync::Mutex::new(()),
        }
    }

    /// The coordinator settings.
    pub fn config(&self) -> &GroupConfig {
        &self.config
    }

    /// The `__consumer_offsets` partition that owns `group_id`.
    pub fn partition_for(&self, group_id: &str) -> i32 {
        partition_of(group_id, self.num_partitions)
    }

    /// Starts the task that fires group deadlines and expires offsets (the coordinators
    /// themselves come and go with leadership: [`Groups::reconcile`]).
    pub fn start(state: &Arc<BrokerState>) {
        let weak = Arc::downgrade(state);
        tokio::spawn(async move {
            let mut interval = tokio::time::interval(TICK);
            interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut next_expiry = now_ms();
            loop {
                interval.tick().await;
                let Some(state) = weak.upgrade() else { return };
                let now = now_ms();
                let expire = now >= next_expiry;
                if expire {
                    next_expiry = now + state.groups.config.offsets_retention_check_interval_ms;
                }
                for shard in state.groups.shards() {
                    state.groups.tick_shard(&state, &shard, expire);
                }
            }
        });
    }

    /// Loads a coordinator for each `__consumer_offsets` partition this broker has come to
    /// lead (at once when its log is empty) and drops those of partitions it no longer
    /// leads, or leads at a newer epoch, failing their parked requests. Called through [`coordinators::reconcile`].
    pub(crate) fn reconcile(state: &Arc<BrokerState>) {
        let groups = &state.groups;
        let (resigned, to_load) =
            coordinators::sync_shards(state, OFFSETS_TOPIC, &groups.shards, |l| {
                if l.empty {
                    let c = GroupCoordinator::new(groups.config.clone());
                    (
                        Arc::new(Shard::active(l.index, l.partition, l.epoch, c)),
                        false,
                    )
                } else {
                    (
                        Arc::new(Shard::loading(l.index, l.partition, l.epoch)),
                        true,
                    )
                }
            });
        if !resigned.is_empty() {
            info!(partitions = ?resigned, "no longer the group coordinator of these partitions");
            locks::lock(&groups.waiters).retain(|_, (index, _)| !resigned.contains(index));
        }
        for shard in to_load {
            let st = state.clone();
            tokio::spawn(async move { shard::load(st, shard).await });
        }
    }

    fn shards(&self) -> Vec<Arc<Shard>> {
        locks::read(&self.shards).values().cloned().collect()
    }

    fn tick_shard(&self, state: &Arc<BrokerState>, shard: &Arc<Shard>, expire: bool) {
        let result = self.apply(state, shard, |c, now| {
            let mut step = Step::effects((), Vec::new());
            if c.next_deadline().is_some_and(|d| d <= now) {
                step.effects = c.tick(now);
                step.records = c.tick_consumer_groups(now);
            }
            if expire {
                let expired = c.expire_offsets(now);
                step.records.extend(expired);
                if !step.records.is_empty() {
                    info!(
                        partition = shard.index,
                        records = step.records.len(),
                        "expired committed offsets"
                    );
                }
            }
            step
        });
        if let Ok(((), writes)) = result {
            if !writes.is_empty() {
                self.settle_later(state, shard.clone(), writes);
            }
        }
    }

    /// The shard owning `group_id`, creating `__consumer_offsets` on first use.
    pub(crate) async fn shard(
        &self,
        state: &Arc<BrokerState>,
        group_id: &str,
    ) -> Result<Arc<Shard>, ErrorCode> {
        let index = self.partition_for(group_id);
        let local = locks::read(&self.shards).get(&index).cloned();
        let shard = match local {
            Some(s) => s,
            None => {
                self.create_topic(state).await?;
                locks::read(&self.shards)
                    .get(&index)
                    .cloned()
                    .ok_or(ErrorCode::NotCoordinator)?
            }
        };
        if !state.leads(OFFSETS_TOPIC, index) {
            return Err(ErrorCode::NotCoordinator);
        }
        Ok(shard)
    }

    /// Makes sure `__consumer_offsets` exists and its local coordinators are up
    /// (FindCoordinator does, as in Kafka).
    pub(crate) async fn ensure_topic(&self, state: &Arc<BrokerState>) -> Result<(), ErrorCode> {
        if state.image().topic(OFFSETS_TOPIC).is_none() {
            self.create_topic(state).await?;
        }
        Ok(())
    }

    async fn create_topic(&self, state: &Arc<BrokerState>) -> Result<(), ErrorCode> {
        let _guard = self.create.lock().await;
        if state.image().topic(OFFSETS_TOPIC).is_none() {
            let spec = CreateTopicSpec {
                name: OFFSETS_TOPIC.to_string(),
                num_partitions: self.num_partitions,
                replication_factor: coordinators::replication_factor(
                    state,
                    state.config.offsets_topic_replication_factor,
                ),
                assignments: Vec::new(),
                configs: [
                    ("cleanup.policy", "compact"),
                    ("compression.type", "producer"),
                    ("segment.bytes", "104857600"),
                ]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            };
            match state.create_topics(&[spec], false).await.pop() {
                Some(Ok(_)) | Some(Err(MetaError::TopicAlreadyExists(_))) => {
                    info!(partitions = self.num_partitions, "created {OFFSETS_TOPIC}");
                }
                Some(Err(e)) => {
                    warn!(error = %e, "could not create {OFFSETS_TOPIC}");
                    return Err(ErrorCode::CoordinatorNotAvailable);
                }
                None => return Err(ErrorCode::CoordinatorNotAvailable),
            }
        }
        if state.image().topic(OFFSETS_TOPIC).is_none() {
            return Err(ErrorCode::CoordinatorNotAvailable);
        }
        coordinators::reconcile(state);
        Ok(())
    }

    /// Runs `op` on the shard's coordinator under its lock, delivers the responses it
    /// releases and appends the records it makes. `Err` if the shard is loading or failed.
    pub(crate) fn apply<T>(
        &self,
        state: &BrokerState,
        shard: &Shard,
        op: impl FnOnce(&mut GroupCoordinator, i64) -> Step<T>,
    ) -> Result<(T, Writes), ErrorCode> {
        let now = now_ms();
        let mut guard = shard.lock();
        let coordinator = guard.coordinator()?;
        let step = op(coordinator, now);
        let mut records = step.records;
        let mut persists = Vec::new();
        for effect in step.effects {
            match effect {
                Effect::JoinResponse { token, response } => {
                    self.deliver(token, Parked::Join(response))
                }
                Effect::SyncResponse { token, response } => {
                    self.deliver(token, Parked::Sync(response))
                }
                Effect::PersistGroup { write_id, snapshot } => {
                    persists.push((snapshot.group_id.clone(), write_id));
                    records.push(Record::GroupMetadata(snapshot));
                }
            }
        }
        let writes = shard.append(state, &records, persists, now);
        drop(guard);
        Ok((step.value, writes))
    }

    /// Waits until `writes` are durable, reports the group writes among them to the
    /// coordinator, and carries out what that releases, until nothing is left. True if
    /// every write succeeded.
    pub(crate) async fn settle(
        &self,
        state: &Arc<BrokerState>,
        shard: &Arc<Shard>,
        mut writes: Writes,
    ) -> bool {
        let mut all_ok = true;
        loop {
            let ok = writes.durable(state, shard).await;
            all_ok &= ok;
            let persists = writes.take_persists();
            if persists.is_empty() {
                return all_ok;
            }
            let result = if ok {
                Ok(())
            } else {
                Err(ErrorCode::CoordinatorNotAvailable)
            };
            match self.apply(state, shard, |c, now| {
                let mut effects = Vec::new();
                for (group, write_id) in &persists {
                    effects.extend(c.persisted(group, *write_id, result, now));
                }
                Step::effects((), effects)
            }) {
                Ok(((), next)) => writes = next,
                Err(_) => return false,
            }
        }
    }

    /// [`Groups::settle`] on a task of its own.
    pub(crate) fn settle_later(&self, state: &Arc<BrokerState>, shard: Arc<Shard>, writes: Writes) {
        let state = state.clone();
        tokio::spawn(async move {
            let groups = &state.groups;
            groups.settle(&state, &shard, writes).await;
        });
    }

    /// A fresh token, with the receiver its parked response will arrive on.
    fn park(&self, shard: i32) -> (RequestToken, oneshot::Receiver<Parked>) {
        let token = self.next_token.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        locks::lock(&self.waiters).insert(token, (shard, tx));
        (token, rx)
    }

    fn unpark(&self, token: RequestToken) {
        locks::lock(&self.waiters).remove(&token);
    }

    fn deliver(&self, token: RequestToken, response: Parked) {
        if let Some((_, tx)) = locks::lock(&self.waiters).remove(&token) {
            // The requester may have gone (connection closed); the answer is then dropped.
            let _ = tx.send(response);
        }
    }

    /// Runs a JoinGroup through `op` and waits for its response, parked or not.
    pub(crate) async fn join(
        &self,
        state: &Arc<BrokerState>,
        group_id: &str,
        op: impl FnOnce(
            &mut GroupCoordinator,
            RequestToken,
            i64,
        ) -> weir_coordinator::Output<JoinResponse>,
    ) -> Result<JoinResponse, ErrorCode> {
        let shard = self.shard(state, group_id).await?;
        let (token, rx) = self.park(shard.index);
        let result = self.apply(state, &shard, |c, now| {
            let out = op(c, token, now);
            Step::effects(out.reply, out.effects)
        });
        let (reply, writes) = match result {
            Ok(r) => r,
            Err(e) => {
                self.unpark(token);
                return Err(e);
            }
        };
        self.settle_later(state, shard, writes);
        match reply.ready() {
            Some(r) => {
                self.unpark(token);
                Ok(r)
            }
            None => match rx.await {
                Ok(Parked::Join(r)) => Ok(r),
                // The coordinator resigned (or failed) while the request was parked.
                _ => Err(ErrorCode::NotCoordinator),
            },
        }
    }

    /// Runs a SyncGroup through `op` and waits for its response, parked or not.
    pub(crate) async fn sync(
        &self,
        state: &Arc<BrokerState>,
        group_id: &str,
        op: impl FnOnce(&mut GroupCoordinator, RequestToken) -> weir_coordinator::Output<SyncResponse>,
    ) -> Result<SyncResponse, ErrorCode> {
        let shard = self.shard(state, group_id).await?;
        let (token, rx) = self.park(shard.index);
        let result = self.apply(state, &shard, |c, _| {
            let out = op(c, token);
            Step::effects(out.reply, out.effects)
        });
        let (reply, writes) = match result {
            Ok(r) => r,
            Err(e) => {
                self.unpark(token);
                return Err(e);
            }
        };
        self.settle_later(state, shard, writes);
        match reply.ready() {
            Some(r) => {
                self.unpark(token);
                Ok(r)
            }
            None => match rx.await {
                Ok(Parked::Sync(r)) => Ok(r),
                _ => Err(ErrorCode::NotCoordinator),
            },
        }
    }

    /// Runs `op` on the coordinator of `group_id`; its effects settle in the background.
    pub(crate) async fn run<T>(
        &self,
        state: &Arc<BrokerState>,
        group_id: &str,
        op: impl FnOnce(&mut GroupCoordinator, i64) -> Step<T>,
    ) -> Result<T, ErrorCode> {
        let shard = self.shard(state, group_id).await?;
        let (value, writes) = self.apply(state, &shard, op)?;
        if !writes.is_empty() {
            self.settle_later(state, shard, writes);
        }
        Ok(value)
    }

    /// Runs `op` on the coordinator of `group_id` and waits until its records are durable;
    /// `Ok(false)` if a write failed.
    pub(crate) async fn run_durable<T>(
        &self,
        state: &Arc<BrokerState>,
        group_id: &str,
        op: impl FnOnce(&mut GroupCoordinator, i64) -> Step<T>,
    ) -> Result<(T, bool), ErrorCode> {
        let shard = self.shard(state, group_id).await?;
        let (value, writes) = self.apply(state, &shard, op)?;
        let ok = self.settle(state, &shard, writes).await;
        Ok((value, ok))
    }

    /// Reads every loaded coordinator (for ListGroups); `Err` if any shard is still loading.
    pub(crate) fn read_all<T>(
        &self,
        mut f: impl FnMut(&GroupCoordinator) -> T,
    ) -> Result<Vec<T>, ErrorCode> {
        let mut out = Vec::new();
        for shard in self.shards() {
            let mut guard = shard.lock();
            out.push(f(guard.coordinator()?));
        }
        Ok(out)
    }
}
