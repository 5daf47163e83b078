//! The share-partitions this broker leads (KIP-932): for each share group and partition led
//! here, the delivery state of its in-flight records ([`SharePartition`]), and the share
//! sessions of the members fetching from here. ShareFetch acquires records through it,
//! ShareAcknowledge settles them, and a timer releases expired locks.
//!
//! - `session`: share sessions and their epochs.
//! - `config`: a group's effective settings (broker defaults, group configs over them).
//! - `records`: which offsets of a read may be acquired, and when (delivery times).

pub(crate) mod config;
pub(crate) mod records;
pub(crate) mod session;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::Notify;
use tracing::{debug, info};
use weir_coordinator::share::{AckBatch, AcquiredRange, Archived, SharePartition, ShareSettings};
use weir_meta::records::TopicId;
use weir_protocol::error::ErrorCode;

use crate::error::storage_error_code;
use crate::host::{now_ms, Host};
use crate::locks;
use crate::partition::Partition;
use config::GroupShareConfig;
use session::{Opened, SessionKey, SessionPartition, ShareSessions};

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

struct Entry {
    state: SharePartition,
    /// The leader epoch the state was loaded under; a new epoch reloads it.
    leader_epoch: i32,
}

/// What one acquisition read and took.
pub(crate) struct Acquired {
    /// The batches holding the acquired records.
    pub(crate) records: Bytes,
    /// The acquired offsets with their delivery counts.
    pub(crate) ranges: Vec<AcquiredRange>,
}

/// How often expired locks are released.
const TICK: Duration = Duration::from_millis(100);

/// The share-partitions and share sessions of this broker.
pub struct Shares {
    host: Arc<Host>,
    settings: ShareSettings,
    partitions: Mutex<HashMap<ShareKey, Arc<Mutex<Entry>>>>,
    sessions: Mutex<ShareSessions>,
    /// Woken when records become acquirable again (released, lock expired).
    pub(crate) released: Notify,
}

impl Shares {
    /// No share-partitions yet; they are made on first fetch.
    pub fn new(host: Arc<Host>, settings: ShareSettings) -> Self {
        Shares {
            host,
            settings,
            partitions: Mutex::new(HashMap::new()),
            sessions: Mutex::new(ShareSessions::default()),
            released: Notify::new(),
        }
    }

    /// The broker's share-partition settings.
    pub(crate) fn settings(&self) -> &ShareSettings {
        &self.settings
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

    fn tick(&self, now: i64) {
        let entries: Vec<(ShareKey, Arc<Mutex<Entry>>)> = locks::lock(&self.partitions)
            .iter()
            .map(|(k, e)| (k.clone(), e.clone()))
            .collect();
        let mut released = false;
        let image = self.host.image();
        for (key, entry) in entries {
            let cfg = config::for_group(&self.settings, &image, &key.group);
            let mut e = locks::lock(&entry);
            if e.state.next_lock_deadline().is_some_and(|d| d <= now) {
                let archived = e.state.expire_locks(now, &cfg.settings);
                released = true;
                self.archived(&key, &archived);
            }
            if e.state
                .next_available_at(now - TICK.as_millis() as i64)
                .is_some()
            {
                // A backoff or a delivery time passes: long-polling fetches look again.
                released = true;
            }
        }
        let idle = locks::lock(&self.sessions).evict(now);
        for ((group, member), partitions) in idle {
            debug!(%group, %member, "dropping an idle share session");
            self.release_member(&group, &member, &partitions, now);
            released = true;
        }
        if released {
            self.released.notify_waiters();
        }
    }

    /// Applies a request's session epoch (see [`ShareSessions::open`]); a replaced or
    /// closed session's records are released when `release` says so.
    pub(crate) fn open_session(
        &self,
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
        &self,
        group: &str,
        member: &str,
        partitions: &[SessionPartition],
        now: i64,
    ) {
        let image = self.host.image();
        let cfg = config::for_group(&self.settings, &image, group);
        for (topic, partition) in partitions {
            let key = ShareKey {
                group: group.to_string(),
                topic: *topic,
                partition: *partition,
            };
            let entry = locks::lock(&self.partitions).get(&key).cloned();
            if let Some(entry) = entry {
                let archived = locks::lock(&entry)
                    .state
                    .release_member(member, now, &cfg.settings);
                self.archived(&key, &archived);
            }
        }
        self.released.notify_waiters();
    }

    /// The entry of `key`, made (or remade after a leader change) from `partition`.
    fn entry(
        &self,
        key: &ShareKey,
        partition: &Partition,
        cfg: &GroupShareConfig,
    ) -> Arc<Mutex<Entry>> {
        let epoch = partition.leader_epoch();
        let mut all = locks::lock(&self.partitions);
        if let Some(e) = all.get(key) {
            if locks::lock(e).leader_epoch == epoch {
                return e.clone();
            }
        }
        // `share.auto.offset.reset` is `latest` by default: a group starts at the end.
        let start = if cfg.earliest {
            partition.log_start_offset()
        } else {
            partition.high_watermark()
        };
        info!(group = %key.group, topic = %partition.topic, partition = key.partition, start, "share-partition initialised");
        let e = Arc::new(Mutex::new(Entry {
            state: SharePartition::new(start),
            leader_epoch: epoch,
        }));
        all.insert(key.clone(), e.clone());
        e
    }

    /// Acquires up to `max_records` records of `partition` for `member`, reading at most
    /// `max_bytes` of the log.
    pub(crate) fn acquire(
        &self,
        key: &ShareKey,
        partition: &Partition,
        member: &str,
        max_records: usize,
        max_bytes: usize,
    ) -> Result<Acquired, ErrorCode> {
        let cfg = config::for_group(&self.settings, &self.host.image(), &key.group);
        let entry = self.entry(key, partition, &cfg);
        let now = now_ms();
        let mut e = locks::lock(&entry);
        e.state.skip_to(partition.log_start_offset());
        if e.state.next_lock_deadline().is_some_and(|d| d <= now) {
            let archived = e.state.expire_locks(now, &cfg.settings);
            self.archived(key, &archived);
        }
        let offset = e.state.fetch_offset(now);
        let (read, aborted) = partition
            .read(offset, max_bytes, true, cfg.read_committed)
            .map_err(|err| storage_error_code(&err))?;
        if read.bytes.is_empty() {
            return Ok(Acquired {
                records: Bytes::new(),
                ranges: Vec::new(),
            });
        }
        let aborted: Vec<(i64, i64)> = aborted
            .iter()
            .map(|a| (a.producer_id, a.first_offset))
            .collect();
        let candidates = records::candidates(&read.bytes, 0, &aborted);
        let ranges = e.state.acquire(
            member,
            &candidates,
            max_records,
            read.next_offset,
            now,
            &cfg.settings,
        );
        let records = records::covering(&read.bytes, &ranges);
        Ok(Acquired { records, ranges })
    }

    /// Applies `member`'s acknowledgements for `partition` (all or none).
    pub(crate) fn acknowledge(
        &self,
        key: &ShareKey,
        partition: &Partition,
        member: &str,
        batches: &[AckBatch],
    ) -> Result<(), ErrorCode> {
        let entry = {
            let all = locks::lock(&self.partitions);
            match all.get(key) {
                Some(e) if locks::lock(e).leader_epoch == partition.leader_epoch() => e.clone(),
                // Nothing was acquired here under this leadership.
                _ => return Err(ErrorCode::InvalidRecordState),
            }
        };
        let now = now_ms();
        let cfg = config::for_group(&self.settings, &self.host.image(), &key.group);
        let archived =
            locks::lock(&entry)
                .state
                .acknowledge(member, batches, now, &cfg.settings)?;
        self.archived(key, &archived);
        self.released.notify_waiters();
        Ok(())
    }

    /// Notes records that were archived.
    fn archived(&self, key: &ShareKey, archived: &[Archived]) {
        for a in archived {
            debug!(group = %key.group, partition = key.partition, offset = a.offset, delivery_count = a.delivery_count, reason = a.reason.as_str(), "record archived");
        }
    }
}
