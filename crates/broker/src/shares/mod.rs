//! The share-partitions this broker leads (KIP-932): for each share group and partition led
//! here, the delivery state of its in-flight records ([`SharePartition`]), and the share
//! sessions of the members fetching from here. ShareFetch acquires records through it,
//! ShareAcknowledge settles them, and a timer releases expired locks.
//!
//! The state is kept by the share coordinators ([`store::ShareStore`], in
//! `__share_group_state`): a leader reads it when it takes a share-partition over (claiming
//! it at its leader epoch), and writes it whenever records are acknowledged, released or
//! archived; an acknowledgement is answered once its write is held by the coordinator's ISR.
//! So the state moves with leadership and survives restarts; only acquisition locks, which
//! are not written, are lost (those records come back available).
//!
//! - `config`: a group's effective settings (broker defaults, group configs over them).
//! - `dead_letter`: KIP-1191 copies of rejected and undeliverable records.
//! - `records`: which offsets of a read may be acquired, and when (delivery times).
//! - `session`: share sessions and their epochs.
//! - `slot`: one share-partition's loaded state and the locks around it.
//! - `figures`: share-partition figures for `/metrics`, acknowledgement counts.
//! - `store`: the share coordinators, over `__share_group_state`.
//! - `persister`: reaching a share-partition's coordinator, here or on another broker.

pub(crate) mod config;
mod dead_letter;
mod figures;
mod persister;
pub(crate) mod records;
pub(crate) mod session;
mod slot;
pub mod store;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::Notify;
use tracing::{debug, info, warn};
use weir_coordinator::share::state::{ShareSnapshot, ShareStateKey};
use weir_coordinator::share::{
    AckBatch, AckType, AcquiredRange, DeliveryState, SharePartition, ShareSettings,
};
use weir_meta::records::TopicId;
use weir_protocol::error::ErrorCode;

use crate::error::storage_error_code;
use crate::host::{now_ms, Host};
use crate::locks;
use crate::partition::Partition;
use config::GroupShareConfig;
use persister::Persister;
use session::{Opened, SessionKey, SessionPartition, ShareSessions};
use slot::{Entry, Slot};
use store::ShareStore;

/// One share group's partition: the group, the topic and the partition index.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct ShareKey {
    /// The share group.
    pub(crate) group: String,
    /// The topic.
    pub(crate) topic: TopicId,
    /// The partition.
    pub(crate) partition: i32,
}

impl ShareKey {
    fn state_key(&self) -> ShareStateKey {
        ShareStateKey {
            group: self.group.clone(),
            topic_id: self.topic,
            partition: self.partition,
        }
    }
}

/// What one acquisition read and took.
pub(crate) struct Acquired {
    /// The batches holding the acquired records.
    pub(crate) records: Bytes,
    /// The acquired offsets with their delivery counts.
    pub(crate) ranges: Vec<AcquiredRange>,
}

/// What a share fetch reads of the log per record it may acquire (the read still returns at
/// least one whole batch).
const READ_BYTES_PER_RECORD: usize = 512;
/// The least a share fetch reads.
const MIN_READ: usize = 64 << 10;

/// How often expired locks are released.
const TICK: Duration = Duration::from_millis(100);

/// The share-partitions and share sessions of this broker.
pub struct Shares {
    host: Arc<Host>,
    settings: ShareSettings,
    persister: Persister,
    slots: Mutex<HashMap<ShareKey, Arc<Slot>>>,
    sessions: Mutex<ShareSessions>,
    /// Woken when records become acquirable again (released, lock expired).
    pub(crate) released: Notify,
}

impl Shares {
    /// No share-partitions yet; they are loaded on first fetch.
    pub fn new(host: Arc<Host>, settings: ShareSettings, store: Arc<ShareStore>) -> Self {
        Shares {
            persister: Persister::new(host.clone(), store),
            host,
            settings,
            slots: Mutex::new(HashMap::new()),
            sessions: Mutex::new(ShareSessions::default()),
            released: Notify::new(),
        }
    }

    /// The broker's share-partition settings.
    pub(crate) fn settings(&self) -> &ShareSettings {
        &self.settings
    }

    /// The state of a share-partition as its share coordinator keeps it.
    pub(crate) async fn read_state(
        &self,
        key: &ShareKey,
    ) -> Result<Option<ShareSnapshot>, ErrorCode> {
        self.persister.read(&key.state_key()).await
    }

    /// Replaces a share-partition's state with a fresh start at `start` (None: deleted, to
    /// start again where `share.auto.offset.reset` says), under a new state epoch that fences
    /// whichever leader holds the old state (AlterShareGroupOffsets,
    /// DeleteShareGroupOffsets; the group has no members then).
    pub(crate) async fn reset_state(
        &self,
        key: &ShareKey,
        start: Option<i64>,
    ) -> Result<(), ErrorCode> {
        let state_key = key.state_key();
        let old = self.persister.read(&state_key).await?;
        if old.is_none() && start.is_none() {
            return Ok(());
        }
        let snapshot = ShareSnapshot {
            state_epoch: old.as_ref().map_or(0, |s| s.state_epoch) + 1,
            leader_epoch: old.as_ref().map_or(-1, |s| s.leader_epoch),
            start_offset: start.unwrap_or(-1),
            batches: Vec::new(),
            dead_letter_mark: None,
        };
        self.persister.write(&state_key, &snapshot).await?;
        // A leader here reloads it on next use.
        locks::lock(&self.slots).remove(key);
        info!(group = %key.group, partition = key.partition, start = ?start, "share-partition state reset");
        Ok(())
    }

    /// `group`'s effective settings now.
    fn config(&self, group: &str) -> GroupShareConfig {
        config::for_group(&self.settings, &self.host.image(), group)
    }

    /// Starts the timer that releases expired locks and drops idle sessions.
    pub(crate) fn start(self: &Arc<Self>) {
        let weak = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(TICK);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                let Some(shares) = weak.upgrade() else { return };
                if shares.host.is_stopping() {
                    return;
                }
                shares.tick(now_ms());
            }
        });
    }

    fn tick(self: &Arc<Self>, now: i64) {
        let slots: Vec<(ShareKey, Arc<Slot>)> = locks::lock(&self.slots)
            .iter()
            .map(|(k, s)| (k.clone(), s.clone()))
            .collect();
        let mut wake = false;
        for (key, slot) in slots {
            if !self.leads(&key) {
                // Leadership moved: the next leader loads the state from the coordinator.
                locks::lock(&self.slots).remove(&key);
                continue;
            }
            let cfg = self.config(&key.group);
            let mut changed = false;
            let mut dead_letters = false;
            if let Some(e) = locks::lock(&slot.entry).as_mut() {
                if e.state.next_lock_deadline().is_some_and(|d| d <= now) {
                    let before = e.state.count(DeliveryState::Acquired);
                    let archived = e.state.expire_locks(now, &cfg.settings);
                    let expired = before.saturating_sub(e.state.count(DeliveryState::Acquired));
                    self.host.metrics.share_lock_expiries.inc_by(expired as u64);
                    self.archived(&key, &archived);
                    changed = true;
                }
                if e.state.count(DeliveryState::Archiving) > 0 {
                    if cfg.dlq_topic.is_some() {
                        dead_letters = *locks::lock(&slot.next_dead_letter_ms) <= now;
                    } else {
                        // The group dropped its dead-letter topic: archive what waited.
                        e.state.drop_dead_letters();
                        e.dead_letter_mark = None;
                        changed = true;
                    }
                }
                // A backoff or a delivery time passed: long-polling fetches look again.
                let since = now - i64::try_from(TICK.as_millis()).unwrap_or(100);
                wake |= e.state.next_available_at(since).is_some_and(|t| t <= now);
            }
            if dead_letters {
                self.dead_letter_later(key.clone(), slot.clone());
            }
            if changed {
                wake = true;
                self.persist_later(key, slot);
            }
        }
        let idle = locks::lock(&self.sessions).evict(now);
        for ((group, member), partitions) in idle {
            debug!(%group, %member, "dropping an idle share session");
            self.release_member(&group, &member, &partitions, now);
            wake = true;
        }
        if wake {
            self.released.notify_waiters();
        }
    }

    /// Whether this broker still leads the partition of `key`.
    fn leads(&self, key: &ShareKey) -> bool {
        self.host
            .partition_by_id(&key.topic, key.partition)
            .is_some_and(|p| p.is_leader())
    }

    /// Applies a request's session epoch (see [`ShareSessions::open`]); a replaced
    /// session's records are released.
    pub(crate) fn open_session(
        self: &Arc<Self>,
        key: &SessionKey,
        epoch: i32,
        added: &[SessionPartition],
        forgotten: &[SessionPartition],
    ) -> Result<Opened, ErrorCode> {
        let now = now_ms();
        let opened = locks::lock(&self.sessions).open(key, epoch, added, forgotten, now)?;
        if let Opened::New { replaced } = &opened {
            if !replaced.is_empty() {
                self.release_member(&key.0, &key.1, replaced, now);
            }
        }
        Ok(opened)
    }

    /// The partitions of a member's share session.
    pub(crate) fn session_partitions(&self, key: &SessionKey) -> Vec<SessionPartition> {
        locks::lock(&self.sessions).partitions(key)
    }

    /// Releases what `member` holds in `partitions` (its session closed or was replaced).
    pub(crate) fn release_member(
        self: &Arc<Self>,
        group: &str,
        member: &str,
        partitions: &[SessionPartition],
        now: i64,
    ) {
        let cfg = self.config(group);
        for (topic, partition) in partitions {
            let key = ShareKey {
                group: group.to_string(),
                topic: *topic,
                partition: *partition,
            };
            let Some(slot) = locks::lock(&self.slots).get(&key).cloned() else {
                continue;
            };
            let archived = match locks::lock(&slot.entry).as_mut() {
                Some(e) => e.state.release_member(member, now, &cfg.settings),
                None => continue,
            };
            self.archived(&key, &archived);
            self.persist_later(key, slot);
        }
        self.released.notify_waiters();
    }

    /// The slot of `key`, made empty if there is none.
    fn slot(&self, key: &ShareKey) -> Arc<Slot> {
        locks::lock(&self.slots)
            .entry(key.clone())
            .or_default()
            .clone()
    }

    /// The slot of `key` with its state loaded at `partition`'s leader epoch: read from the
    /// share coordinator (or started at `share.auto.offset.reset` if it has none) and
    /// claimed there at this leader epoch, which fences a deposed leader's writes.
    async fn loaded(
        &self,
        key: &ShareKey,
        partition: &Partition,
        cfg: &GroupShareConfig,
    ) -> Result<Arc<Slot>, ErrorCode> {
        let slot = self.slot(key);
        let epoch = partition.leader_epoch();
        let current = |slot: &Slot| {
            locks::lock(&slot.entry)
                .as_ref()
                .is_some_and(|e| e.leader_epoch == epoch)
        };
        if current(&slot) {
            return Ok(slot);
        }
        let loader = slot.clone();
        let _loading = loader.loading.lock().await;
        if current(&slot) {
            return Ok(slot);
        }
        let state_key = key.state_key();
        let stored = self.persister.read(&state_key).await?;
        let initial = || {
            SharePartition::new(if cfg.earliest {
                partition.log_start_offset()
            } else {
                partition.high_watermark()
            })
        };
        let (mut state, state_epoch, mark, found) = match stored {
            // Offsets deleted (DeleteShareGroupOffsets): a fresh start at the reset policy.
            Some(s) if s.start_offset < 0 => (initial(), s.state_epoch, None, false),
            Some(s) => (
                SharePartition::restore(s.start_offset, &s.batches),
                s.state_epoch,
                s.dead_letter_mark,
                true,
            ),
            None => (initial(), 0, None, false),
        };
        state.skip_to(partition.log_start_offset());
        let entry = Entry {
            state,
            leader_epoch: epoch,
            state_epoch,
            dead_letter_mark: mark,
        };
        {
            let _writing = slot.writing.lock().await;
            self.persister.write(&state_key, &entry.snapshot()).await?;
        }
        info!(
            group = %key.group,
            topic = %partition.topic,
            partition = key.partition,
            start = entry.state.start_offset(),
            in_flight = entry.state.in_flight(),
            leader_epoch = epoch,
            restored = found,
            "share-partition loaded"
        );
        *locks::lock(&slot.entry) = Some(entry);
        Ok(slot)
    }

    /// Writes the slot's state to its coordinator (see [`Slot::persist`]).
    async fn persist(&self, key: &ShareKey, slot: &Slot) -> Result<(), ErrorCode> {
        slot.persist(&self.persister, &key.state_key()).await
    }

    /// [`Shares::persist`] on a task of its own.
    fn persist_later(self: &Arc<Self>, key: ShareKey, slot: Arc<Slot>) {
        let shares = self.clone();
        tokio::spawn(async move {
            let _ = shares.persist(&key, &slot).await;
        });
    }

    /// Writes the dead-letter copies of the records waiting for them (one task per
    /// share-partition at a time), then archives those records; a failed round is tried
    /// again a second later, the records kept waiting meanwhile.
    fn dead_letter_later(self: &Arc<Self>, key: ShareKey, slot: Arc<Slot>) {
        let shares = self.clone();
        tokio::spawn(async move {
            let Ok(_running) = slot.dead_lettering.try_lock() else {
                return;
            };
            let cfg = shares.config(&key.group);
            let Some(topic) = cfg.dlq_topic.as_deref() else {
                return;
            };
            let Some(partition) = shares.host.partition_by_id(&key.topic, key.partition) else {
                return;
            };
            let target = dead_letter::Target {
                topic,
                copy_record: cfg.dlq_copy_record,
                group: &key.group,
            };
            let settled = dead_letter::settle(
                &shares.host,
                &shares.persister,
                &slot,
                &key.state_key(),
                &partition,
                &target,
                &cfg.settings,
            )
            .await;
            match settled {
                Ok(s) if s.written + s.found == 0 => {}
                Ok(s) => {
                    shares
                        .host
                        .metrics
                        .share_dead_letters
                        .inc_by(s.written as u64);
                    info!(group = %key.group, topic = %partition.topic, partition = key.partition, dead_letter_topic = topic, written = s.written, found_written_before = s.found, "dead-letter copies written; their records are archived");
                    shares.released.notify_waiters();
                }
                Err(e) => {
                    shares.host.metrics.share_dead_letter_failures.inc();
                    warn!(group = %key.group, topic = %partition.topic, partition = key.partition, dead_letter_topic = topic, error = e.name(), "could not write dead-letter copies; the records wait and it is tried again");
                    *locks::lock(&slot.next_dead_letter_ms) = now_ms() + 1_000;
                }
            }
        });
    }

    /// Acquires up to `max_records` records of `partition` for `member`, reading at most
    /// `max_bytes` of the log.
    pub(crate) async fn acquire(
        &self,
        key: &ShareKey,
        partition: &Partition,
        member: &str,
        max_records: usize,
        max_bytes: usize,
    ) -> Result<Acquired, ErrorCode> {
        let nothing = || Acquired {
            records: Bytes::new(),
            ranges: Vec::new(),
        };
        let cfg = self.config(&key.group);
        let slot = self.loaded(key, partition, &cfg).await?;
        let now = now_ms();
        let epoch = partition.leader_epoch();
        // Where to read, under the lock; the read and its parsing happen outside it (other
        // members' fetches of the partition go on meanwhile), and acquisition checks each
        // record's state again.
        let (offset, in_flight) = {
            let mut guard = locks::lock(&slot.entry);
            let e = guard
                .as_mut()
                .filter(|e| e.leader_epoch == epoch)
                .ok_or(ErrorCode::NotLeaderOrFollower)?;
            e.state.skip_to(partition.log_start_offset());
            let offset = e.state.fetch_offset(now);
            let full = e.state.full(now, &cfg.settings);
            if offset == e.state.end_offset() && (full || offset >= partition.high_watermark()) {
                // Nothing available in flight, and nothing new may (or can) be taken.
                return Ok(nothing());
            }
            (offset, e.state.in_flight())
        };
        // A read bounded by what can be acquired: a share fetch takes at most `max_records`,
        // so reading (and parsing) the client's whole `MaxBytes` each time would be waste.
        let read_bytes = max_bytes.min(
            max_records
                .saturating_mul(READ_BYTES_PER_RECORD)
                .max(MIN_READ),
        );
        let (read, aborted) = partition
            .read(offset, read_bytes, true, cfg.read_committed)
            .map_err(|err| storage_error_code(&err))?;
        if read.bytes.is_empty() {
            return Ok(nothing());
        }
        let delay_ms = self
            .host
            .image()
            .topic_by_id(&key.topic)
            .and_then(|t| t.configs.get("delivery.delay.ms")?.parse::<i64>().ok())
            .unwrap_or(0);
        let limit = max_records.saturating_add(in_flight);
        let (candidates, parsed_upto) = records::candidates(&read.bytes, limit, delay_ms, &aborted);
        let ranges = slot.with_entry(epoch, |e| {
            e.state.acquire(
                member,
                &candidates,
                max_records,
                parsed_upto.unwrap_or(offset),
                now,
                &cfg.settings,
            )
        })?;
        let records = records::covering(&read.bytes, &ranges);
        let n: i64 = ranges.iter().map(|r| r.last - r.first + 1).sum();
        self.host
            .metrics
            .share_acquired
            .inc_by(u64::try_from(n).unwrap_or(0));
        Ok(Acquired { records, ranges })
    }

    /// Applies `member`'s acknowledgements for `partition` (all or none) and waits until
    /// the new state is durable at the share coordinator.
    pub(crate) async fn acknowledge(
        &self,
        key: &ShareKey,
        partition: &Partition,
        member: &str,
        batches: &[AckBatch],
    ) -> Result<(), ErrorCode> {
        let Some(slot) = locks::lock(&self.slots).get(key).cloned() else {
            // Nothing was acquired here under this leadership.
            return Err(ErrorCode::InvalidRecordState);
        };
        let cfg = self.config(&key.group);
        let (archived, wake) = {
            let mut guard = locks::lock(&slot.entry);
            let e = guard
                .as_mut()
                .filter(|e| e.leader_epoch == partition.leader_epoch())
                .ok_or(ErrorCode::InvalidRecordState)?;
            let now = now_ms();
            let full = e.state.full(now, &cfg.settings);
            let archived = e.state.acknowledge(member, batches, now, &cfg.settings)?;
            // Waiting fetches look again only if something can be acquired now: a record
            // was released, or the in-flight limit that held new records back eased.
            let released = batches.iter().any(|b| {
                b.types
                    .iter()
                    .any(|t| AckType::from_code(*t) == Some(AckType::Release))
            });
            let eased = full && !e.state.full(now, &cfg.settings);
            (archived, released || eased)
        };
        self.archived(key, &archived);
        self.count_acks(batches);
        if wake {
            self.released.notify_waiters();
        }
        self.persist(key, &slot).await
    }
}
