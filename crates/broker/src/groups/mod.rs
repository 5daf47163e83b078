//! The group coordinator service, a user of the coordinator runtime ([`crate::runtime`]):
//! one [`GroupCoordinator`] per `__consumer_offsets` partition led here (the topic created
//! on first use, as Kafka does), with the coordinator's effects carried out: parked
//! JoinGroup and SyncGroup responses are routed back by token, and records are appended and
//! held by the ISR before anything that depends on them is answered.
//!
//! - `machine`: the coordinator's record format and replay, and what an operation wrote.
//! - `txn`: transactional offset commits and transaction markers on these partitions.

mod machine;
mod txn;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::oneshot;
use tracing::{info, warn};
use weir_coordinator::{
    Effect, GroupConfig, GroupCoordinator, JoinResponse, Record, RequestToken, SyncResponse,
};
use weir_protocol::error::ErrorCode;

use crate::host::{now_ms, Host};
use crate::locks;
use crate::runtime::{self, Coordinator, InternalTopic, Runtime};
use machine::Writes;

/// The internal topic that holds committed offsets and group metadata.
pub const OFFSETS_TOPIC: &str = "__consumer_offsets";

/// One `__consumer_offsets` partition and the coordinator of its groups.
pub(crate) type Shard = runtime::Shard<GroupCoordinator>;

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
    runtime: Runtime<GroupCoordinator>,
    config: GroupConfig,
    /// Parked requests: the shard they wait on, and where their response goes.
    waiters: Mutex<HashMap<RequestToken, (i32, oneshot::Sender<Parked>)>>,
    next_token: AtomicU64,
}

impl Coordinator for Groups {
    type Machine = GroupCoordinator;

    fn runtime(&self) -> &Runtime<GroupCoordinator> {
        &self.runtime
    }

    fn fresh(&self) -> GroupCoordinator {
        GroupCoordinator::new(self.config.clone())
    }

    /// Carries out the effects of replaying (a rebalance to resume, a deadline to arm).
    fn serving(self: &Arc<Self>, shard: &Arc<Shard>, effects: Vec<Effect>) {
        if effects.is_empty() {
            return;
        }
        if let Ok(((), writes)) = self.apply(shard, |_, _| Step::effects((), effects)) {
            self.settle_later(shard.clone(), writes);
        }
    }

    /// Fails the requests parked on the dropped shards.
    fn resigned(&self, indexes: &[i32]) {
        locks::lock(&self.waiters).retain(|_, (index, _)| !indexes.contains(index));
    }
}

impl Groups {
    /// No coordinators yet; they come and go with leadership ([`Groups::reconcile`]).
    pub fn new(host: Arc<Host>, config: GroupConfig, num_partitions: i32) -> Self {
        let topic = InternalTopic {
            name: OFFSETS_TOPIC,
            partitions: num_partitions,
            replication_factor: host.config.offsets_topic_replication_factor,
            configs: |_| {
                vec![
                    ("cleanup.policy", "compact"),
                    ("compression.type", "producer"),
                    ("segment.bytes", "104857600"),
                ]
            },
            min_isr: None,
        };
        Groups {
            runtime: Runtime::new(host, topic),
            config,
            waiters: Mutex::new(HashMap::new()),
            next_token: AtomicU64::new(1),
        }
    }

    /// The coordinator settings.
    pub fn config(&self) -> &GroupConfig {
        &self.config
    }

    /// The `__consumer_offsets` partition that owns `group_id`.
    pub fn partition_for(&self, group_id: &str) -> i32 {
        self.runtime.partition_for(group_id)
    }

    fn host(&self) -> &Arc<Host> {
        self.runtime.host()
    }

    /// Starts the timer that fires group deadlines and expires offsets.
    pub fn start(self: &Arc<Self>) {
        let mut next_expiry = now_ms();
        runtime::every(self, TICK, move |groups, now| {
            let expire = now >= next_expiry;
            if expire {
                next_expiry = now + groups.config.offsets_retention_check_interval_ms;
            }
            for shard in groups.runtime.shards() {
                groups.tick_shard(&shard, expire);
            }
            async {}
        });
    }

    /// Loads a coordinator for each `__consumer_offsets` partition this broker has come to
    /// lead and drops those of partitions it no longer leads, failing their parked
    /// requests.
    pub(crate) fn reconcile(self: &Arc<Self>) {
        runtime::reconcile(self);
    }

    fn tick_shard(self: &Arc<Self>, shard: &Arc<Shard>, expire: bool) {
        let result = self.apply(shard, |c, now| {
            let mut step = Step::effects((), Vec::new());
            if c.next_deadline().is_some_and(|d| d <= now) {
                step.effects = c.tick(now);
                step.records = c.tick_consumer_groups(now);
                let (gone, records) = c.tick_share_groups(now);
                for (group, member) in gone {
                    info!(%group, %member, "share group member's session expired");
                }
                step.records.extend(records);
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
                self.settle_later(shard.clone(), writes);
            }
        }
    }

    /// The shard owning `group_id`, creating `__consumer_offsets` on first use.
    pub(crate) async fn shard(self: &Arc<Self>, group_id: &str) -> Result<Arc<Shard>, ErrorCode> {
        runtime::shard(self, group_id).await
    }

    /// Makes sure `__consumer_offsets` exists and its local coordinators are up
    /// (FindCoordinator does, as in Kafka).
    pub(crate) async fn ensure_topic(self: &Arc<Self>) -> Result<(), ErrorCode> {
        runtime::ensure_topic(self).await
    }

    /// Runs `op` on the shard's coordinator under its lock, delivers the responses it
    /// releases and appends the records it makes. `Err` if the shard is loading or failed.
    pub(crate) fn apply<T>(
        &self,
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
        let mut writes = Writes {
            persists,
            ..Writes::default()
        };
        if !records.is_empty() {
            match self.runtime.append(shard, &records, None, &|| Ok(()), now) {
                Ok(last) => writes.last_offset = Some(last),
                Err(e) => {
                    warn!(partition = shard.index, error = %e, "could not append to {OFFSETS_TOPIC}");
                    writes.failed = true;
                }
            }
        }
        drop(guard);
        Ok((step.value, writes))
    }

    /// Waits until `writes` are durable, reports the group writes among them to the
    /// coordinator, and carries out what that releases, until nothing is left. True if
    /// every write succeeded.
    pub(crate) async fn settle(&self, shard: &Arc<Shard>, mut writes: Writes) -> bool {
        let mut all_ok = true;
        loop {
            let ok = writes.durable(&self.runtime, shard).await;
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
            match self.apply(shard, |c, now| {
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
    pub(crate) fn settle_later(self: &Arc<Self>, shard: Arc<Shard>, writes: Writes) {
        let groups = self.clone();
        tokio::spawn(async move {
            groups.settle(&shard, writes).await;
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
        self: &Arc<Self>,
        group_id: &str,
        op: impl FnOnce(
            &mut GroupCoordinator,
            RequestToken,
            i64,
        ) -> weir_coordinator::Output<JoinResponse>,
    ) -> Result<JoinResponse, ErrorCode> {
        let shard = self.shard(group_id).await?;
        let (token, rx) = self.park(shard.index);
        let result = self.apply(&shard, |c, now| {
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
        self.settle_later(shard, writes);
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
        self: &Arc<Self>,
        group_id: &str,
        op: impl FnOnce(&mut GroupCoordinator, RequestToken) -> weir_coordinator::Output<SyncResponse>,
    ) -> Result<SyncResponse, ErrorCode> {
        let shard = self.shard(group_id).await?;
        let (token, rx) = self.park(shard.index);
        let result = self.apply(&shard, |c, _| {
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
        self.settle_later(shard, writes);
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
        self: &Arc<Self>,
        group_id: &str,
        op: impl FnOnce(&mut GroupCoordinator, i64) -> Step<T>,
    ) -> Result<T, ErrorCode> {
        let shard = self.shard(group_id).await?;
        let (value, writes) = self.apply(&shard, op)?;
        if !writes.is_empty() {
            self.settle_later(shard, writes);
        }
        Ok(value)
    }

    /// Runs `op` on the coordinator of `group_id` and waits until its records are durable;
    /// `Ok(false)` if a write failed.
    pub(crate) async fn run_durable<T>(
        self: &Arc<Self>,
        group_id: &str,
        op: impl FnOnce(&mut GroupCoordinator, i64) -> Step<T>,
    ) -> Result<(T, bool), ErrorCode> {
        let shard = self.shard(group_id).await?;
        let (value, writes) = self.apply(&shard, op)?;
        let ok = self.settle(&shard, writes).await;
        Ok((value, ok))
    }

    /// Reads every loaded coordinator (for ListGroups); `Err` if any shard is still loading.
    pub(crate) fn read_all<T>(
        &self,
        mut f: impl FnMut(&GroupCoordinator) -> T,
    ) -> Result<Vec<T>, ErrorCode> {
        let mut out = Vec::new();
        for shard in self.runtime.shards() {
            let mut guard = shard.lock();
            out.push(f(guard.coordinator()?));
        }
        Ok(out)
    }
}
