//! One partition replica on this broker: its log, its high watermark and its settings.
//!
//! Appends are serialised by the log's write lock (one writer per partition, invariant 2)
//! and fetches share its read lock; the high watermark is published through an atomic so
//! fetches read it without any lock, as is the last stable offset (the start of the oldest
//! open transaction, or the high watermark).
//! The high watermark is the smallest log end in the ISR (see [`crate::replica`]); with the
//! leader alone in the ISR it follows the log end. A leader stamps its epoch on each batch.

use std::path::PathBuf;
use std::sync::atomic::{AtomicI32, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard, RwLockWriteGuard};

use weir_meta::{PartitionImage, TopicId};
use weir_protocol::error::ErrorCode;
use weir_protocol::record::batch::{self, BatchHeader};
use weir_protocol::record::control::end_txn_marker_batch;
use weir_protocol::record::TimestampType;
use weir_storage::{
    AbortedTxn, AppendInfo, CompactionPolicy, Log, Origin, ReadResult, RetentionPolicy,
    StorageError,
};

use crate::locks;
use crate::replica::{ReplicaSet, Role};

/// Settings a partition takes from its topic's effective configs.
#[derive(Debug, Clone)]
pub struct PartitionSettings {
    /// `max.message.bytes`.
    pub max_message_bytes: usize,
    /// `message.timestamp.type` is LogAppendTime.
    pub log_append_time: bool,
    /// `cleanup.policy` has `delete`: retention applies.
    pub delete: bool,
    /// `cleanup.policy` has `compact`: the cleaner keeps the latest record per key, and
    /// records need keys.
    pub compact: bool,
    /// `retention.ms` and `retention.bytes`.
    pub retention: RetentionPolicy,
    /// `min.cleanable.dirty.ratio`, the compaction lags and `delete.retention.ms`.
    pub compaction: CompactionPolicy,
    /// `min.insync.replicas`: the ISR an acks=all produce needs.
    pub min_insync_replicas: usize,
}

/// A partition hosted here.
pub struct Partition {
    /// Topic name.
    pub topic: String,
    /// Topic id.
    pub topic_id: TopicId,
    /// Partition index.
    pub index: i32,
    log: RwLock<Log>,
    high_watermark: AtomicI64,
    last_stable_offset: AtomicI64,
    log_start_offset: AtomicI64,
    leader_epoch: AtomicI32,
    settings: RwLock<Arc<PartitionSettings>>,
    replication: Mutex<ReplicaSet>,
    /// Records and bytes in and out, for `/metrics` and the console.
    pub stats: PartitionStats,
}

/// What a partition took in as leader and gave to consumers, since it was opened here.
#[derive(Debug, Default)]
pub struct PartitionStats {
    /// Records appended by producers.
    pub records_in: AtomicU64,
    /// Bytes appended by producers.
    pub bytes_in: AtomicU64,
    /// Records (offsets) fetched by consumers.
    pub records_out: AtomicU64,
    /// Bytes fetched by consumers.
    pub bytes_out: AtomicU64,
}

impl PartitionStats {
    /// Adds one append of `records` records in `bytes` bytes.
    pub fn count_in(&self, records: u64, bytes: u64) {
        self.records_in.fetch_add(records, Ordering::Relaxed);
        self.bytes_in.fetch_add(bytes, Ordering::Relaxed);
    }

    /// Adds one consumer read of `records` records in `bytes` bytes.
    pub fn count_out(&self, records: u64, bytes: u64) {
        self.records_out.fetch_add(records, Ordering::Relaxed);
        self.bytes_out.fetch_add(bytes, Ordering::Relaxed);
    }
}

/// Why a producer's batch was not appended.
#[derive(Debug, thiserror::Error)]
pub enum AppendError {
    /// The log refused or failed it.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// Refused before the append: this broker no longer leads, or a transactional batch's
    /// transaction does not include this partition (or its coordinator could not say).
    #[error("refused: {}", .0.name())]
    Refused(ErrorCode),
}

impl AppendError {
    /// The Kafka error code for the failure.
    pub fn code(&self) -> ErrorCode {
        match self {
            AppendError::Storage(e) => crate::error::storage_error_code(e),
            AppendError::Refused(code) => *code,
        }
    }
}

/// The result of appending one batch.
#[derive(Debug, Clone, Copy)]
pub struct Appended {
    /// Offset given to the first record.
    pub base_offset: i64,
    /// Offset of the last record.
    pub last_offset: i64,
    /// The broker's timestamp when LogAppendTime applies, else -1.
    pub log_append_time: i64,
    /// A retry of a batch already stored: these are its offsets, nothing was written.
    pub duplicate: bool,
    /// The leader epoch it was appended under.
    pub leader_epoch: i32,
}

impl Partition {
    /// Wraps an opened log, hosted on broker `node`. The high watermark starts at the log
    /// start: only the ISR's fetches (or being the ISR alone) move it up, so a restarted
    /// replica never shows records its peers may not have.
    pub fn new(
        node: i32,
        topic: String,
        topic_id: TopicId,
        index: i32,
        log: Log,
        settings: PartitionSettings,
    ) -> Self {
        let mut log = log;
        let start = log.log_start_offset();
        log.on_high_watermark(start);
        let lso = log.last_stable_offset(start);
        Self {
            topic,
            topic_id,
            index,
            log: RwLock::new(log),
            high_watermark: AtomicI64::new(start),
            last_stable_offset: AtomicI64::new(lso),
            log_start_offset: AtomicI64::new(start),
            leader_epoch: AtomicI32::new(0),
            settings: RwLock::new(Arc::new(settings)),
            replication: Mutex::new(ReplicaSet::new(node)),
            stats: PartitionStats::default(),
        }
    }

    /// Applies the image's replicas, ISR, leader and epoch; true when this broker's role
    /// or the epoch changed. A leader's high watermark is recomputed at once.
    pub fn apply_image(&self, p: &PartitionImage, now_ms: i64) -> bool {
        let changed = locks::lock(&self.replication).apply(p, now_ms);
        self.leader_epoch.store(p.leader_epoch, Ordering::Release);
        let mut log = self.log_mut();
        self.advance_high_watermark(&mut log);
        changed
    }

    /// Whether this broker leads the partition at its current epoch.
    pub fn is_leader(&self) -> bool {
        locks::lock(&self.replication).is_leader()
    }

    /// The ISR size the controller committed.
    pub fn isr_len(&self) -> usize {
        locks::lock(&self.replication).isr.len()
    }

    /// A follower fetched from `fetch_offset`: tracks it, advances the high watermark
    /// (true if it moved) and, if it caught up from outside the ISR and may join
    /// (`eligible`: not fenced), returns the ISR to propose (marked pending).
    pub fn on_follower_fetch(
        &self,
        follower: i32,
        fetch_offset: i64,
        eligible: bool,
        now_ms: i64,
    ) -> (bool, Option<Vec<i32>>) {
        let leo = self.log().log_end_offset();
        let moves = {
            let mut rs = locks::lock(&self.replication);
            if !rs.is_leader() {
                return (false, None);
            }
            rs.on_fetch(follower, fetch_offset.min(leo), leo, now_ms);
            rs.isr_high_watermark(leo) > self.high_watermark()
        };
        // The log's write lock only when the high watermark moves (it recomputes it).
        let advanced = moves && self.advance_high_watermark(&mut self.log_mut());
        let hw = self.high_watermark();
        let mut rs = locks::lock(&self.replication);
        if !eligible || rs.pending.is_some() || !rs.caught_up(follower, hw) {
            return (advanced, None);
        }
        let mut isr = rs.isr.clone();
        isr.push(follower);
        rs.pending = Some(isr.clone());
        (advanced, Some(isr))
    }

    /// If this broker leads and some ISR followers lagged past `lag_ms`: the smaller ISR to
    /// propose (marked pending).
    pub fn shrink_isr(&self, now_ms: i64, lag_ms: i64) -> Option<Vec<i32>> {
        let mut rs = locks::lock(&self.replication);
        if !rs.is_leader() || rs.pending.is_some() {
            return None;
        }
        let out = rs.lagging(now_ms, lag_ms);
        if out.is_empty() {
            return None;
        }
        let isr: Vec<i32> = rs
            .isr
            .iter()
            .copied()
            .filter(|n| !out.contains(n))
            .collect();
        rs.pending = Some(isr.clone());
        Some(isr)
    }

    /// Forgets a pending ISR change the controller refused (or that failed).
    pub fn clear_pending_isr(&self) {
        locks::lock(&self.replication).pending = None;
    }

    /// The leader to fetch from and whether the log must first be checked against it, if
    /// this broker follows the partition.
    pub fn following(&self) -> Option<(i32, bool)> {
        match locks::lock(&self.replication).role {
            Role::Follower { leader, truncate } if leader >= 0 => Some((leader, truncate)),
            _ => None,
        }
    }

    /// As a follower: check the log against the leader again before fetching on.
    pub fn need_truncation(&self) {
        if let Role::Follower { truncate, .. } = &mut locks::lock(&self.replication).role {
            *truncate = true;
        }
    }

    /// The follower checked its log against the leader at `epoch` (still current?).
    pub fn truncation_done(&self, epoch: i32) {
        let mut rs = locks::lock(&self.replication);
        if rs.epoch == epoch {
            if let Role::Follower { truncate, .. } = &mut rs.role {
                *truncate = false;
            }
        }
    }

    /// As a follower: cuts the log to `offset` (a divergent tail) and lowers the high
    /// watermark with it.
    pub fn truncate_to(&self, offset: i64) -> Result<(), StorageError> {
        let mut log = self.log_mut();
        log.truncate_to(offset)?;
        self.clamp_to_log(&mut log);
        Ok(())
    }

    /// As a follower: empties the log and restarts it at `offset` (the leader's log start
    /// is past everything here).
    pub fn reset_to(&self, offset: i64) -> Result<(), StorageError> {
        let mut log = self.log_mut();
        log.reset_to(offset)?;
        self.log_start_offset
            .store(log.log_start_offset(), Ordering::Release);
        self.clamp_to_log(&mut log);
        Ok(())
    }

    fn clamp_to_log(&self, log: &mut Log) {
        let hw = self.high_watermark().min(log.log_end_offset());
        self.high_watermark.store(hw, Ordering::Release);
        log.on_high_watermark(hw);
        self.last_stable_offset
            .store(log.last_stable_offset(hw), Ordering::Release);
    }

    /// As a follower: appends the leader's batches (whole batches, in order; those below
    /// the log end are skipped) and takes the leader's high watermark up to the log end.
    /// Returns the number of batches appended. A leader batch that starts below the log end
    /// but ends past it proves the logs diverge there (batch boundaries differ): the log is
    /// cut back to that batch's start and nothing is appended this time, so the next fetch
    /// asks from the new log end.
    pub fn append_replicated(
        &self,
        batches: &mut [u8],
        leader_hw: i64,
        now_ms: i64,
    ) -> Result<usize, StorageError> {
        let mut log = self.log_mut();
        let spans = whole_batches(batches, log.config().max_batch_bytes)?;
        let leo = log.log_end_offset();
        if let Some((_, _, h)) = spans.iter().find(|(_, _, h)| h.last_offset() >= leo) {
            if h.base_offset < leo {
                tracing::warn!(topic = %self.topic, partition = self.index, leader_batch = h.base_offset, leader_batch_end = h.last_offset(), log_end = leo, "the leader's batch straddles this log's end: the logs diverge; truncating to the batch's start");
                log.truncate_to(h.base_offset)?;
                self.clamp_to_log(&mut log);
                return Ok(0);
            }
        }
        // Gaps (a compacted leader's) are allowed once for the whole chunk, not per batch.
        let mut end = log.log_end_offset();
        let mut gap_below = None;
        for (_, _, h) in &spans {
            if h.last_offset() < end {
                continue;
            }
            if h.base_offset > end {
                gap_below = Some(h.base_offset);
            }
            end = h.last_offset() + 1;
        }
        if let Some(offset) = gap_below {
            log.allow_gaps_below(offset)?;
        }
        let mut appended = 0usize;
        for (at, len, h) in spans {
            if h.last_offset() < log.log_end_offset() {
                continue;
            }
            let Some(one) = batches.get_mut(at..at + len) else {
                break;
            };
            BatchHeader::validate(one, len)
                .map_err(|e| StorageError::Corrupt(format!("replicated batch: {e}")))?;
            log.append_from(one, Origin::Replica, now_ms)?;
            appended += 1;
        }
        let hw = leader_hw.min(log.log_end_offset());
        self.high_watermark.store(hw, Ordering::Release);
        log.on_high_watermark(hw);
        self.last_stable_offset
            .store(log.last_stable_offset(hw), Ordering::Release);
        Ok(appended)
    }

    /// As the leader: batches from `offset` up to the log end, for a follower.
    pub fn read_for_follower(
        &self,
        offset: i64,
        max_bytes: usize,
    ) -> Result<ReadResult, StorageError> {
        self.read_to_end(offset, max_bytes)
    }

    /// Batches from `offset` up to the log end, past the high watermark (at least one).
    pub fn read_to_end(&self, offset: i64, max_bytes: usize) -> Result<ReadResult, StorageError> {
        let log = self.log();
        log.read(offset, max_bytes, log.log_end_offset(), true)
    }

    /// OffsetForLeaderEpoch: the largest epoch at or below `epoch` here and its end offset.
    pub fn end_offset_for_epoch(&self, epoch: i32) -> (i32, i64) {
        self.log().end_offset_for_epoch(epoch)
    }

    /// The newest leader epoch in this log, if any.
    pub fn latest_log_epoch(&self) -> Option<i32> {
        self.log().leader_epochs().latest().map(|e| e.epoch)
    }

    /// Current settings.
    pub fn settings(&self) -> Arc<PartitionSettings> {
        locks::read(&self.settings).clone()
    }

    /// Replaces the settings (after a config change).
    pub fn set_settings(&self, s: PartitionSettings) {
        *locks::write(&self.settings) = Arc::new(s);
    }

    /// The log for reading: fetches and lookups share it; appends wait for them.
    pub fn log(&self) -> RwLockReadGuard<'_, Log> {
        locks::read(&self.log)
    }

    /// The log for writing (appends, marking synced, flushing), held briefly.
    pub fn log_mut(&self) -> RwLockWriteGuard<'_, Log> {
        locks::write(&self.log)
    }

    /// Leader epoch from the metadata image.
    pub fn leader_epoch(&self) -> i32 {
        self.leader_epoch.load(Ordering::Acquire)
    }

    /// Kafka's check of a client's `current_leader_epoch` (-1: no check): newer than ours is
    /// UNKNOWN_LEADER_EPOCH, older is FENCED_LEADER_EPOCH.
    pub fn check_leader_epoch(&self, requested: i32) -> Result<(), ErrorCode> {
        let ours = self.leader_epoch();
        match requested {
            r if r < 0 || r == ours => Ok(()),
            r if r > ours => Err(ErrorCode::UnknownLeaderEpoch),
            _ => Err(ErrorCode::FencedLeaderEpoch),
        }
    }

    /// High watermark: the offset below which consumers may read.
    pub fn high_watermark(&self) -> i64 {
        self.high_watermark.load(Ordering::Acquire)
    }

    /// Log start offset.
    pub fn log_start_offset(&self) -> i64 {
        self.log_start_offset.load(Ordering::Acquire)
    }

    /// Applies the topic's retention up to the high watermark; returns the segments deleted.
    pub fn enforce_retention(&self, now_ms: i64) -> Result<usize, StorageError> {
        let policy = self.settings().retention;
        let mut log = self.log_mut();
        let deleted = log.enforce_retention(&policy, self.high_watermark(), now_ms)?;
        self.log_start_offset
            .store(log.log_start_offset(), Ordering::Release);
        Ok(deleted)
    }

    /// DeleteRecords: makes `offset` (-1: the high watermark) the log start offset; returns
    /// the new log start offset (Kafka's low watermark).
    pub fn delete_records(&self, offset: i64) -> Result<i64, StorageError> {
        let hw = self.high_watermark();
        let offset = if offset == -1 { hw } else { offset };
        let mut log = self.log_mut();
        let start = log.delete_records_before(offset, hw)?;
        self.log_start_offset.store(start, Ordering::Release);
        Ok(start)
    }

    /// Appends one validated batch, rewriting its timestamp first when the topic uses
    /// LogAppendTime. `bytes` is the whole batch; `header` its validated header.
    pub fn append(
        &self,
        bytes: &mut [u8],
        header: &BatchHeader,
        now_ms: i64,
    ) -> Result<Appended, AppendError> {
        self.append_verified(bytes, header, now_ms, &|| Ok(()))
    }

    /// Whether the producer has a transaction open here at this epoch.
    pub fn txn_open(&self, producer_id: i64, producer_epoch: i16) -> bool {
        self.log()
            .producer_state()
            .get(producer_id)
            .is_some_and(|e| e.txn_first_offset.is_some() && e.epoch == producer_epoch)
    }

    /// [`Partition::append`] for a producer's batch: a transactional batch whose producer
    /// has no transaction open here is first put to `verify` (is this partition in its
    /// transaction? KIP-890), under the partition's write lock so that no marker can end
    /// the transaction in between.
    pub fn append_verified(
        &self,
        bytes: &mut [u8],
        header: &BatchHeader,
        now_ms: i64,
        verify: &dyn Fn() -> Result<(), ErrorCode>,
    ) -> Result<Appended, AppendError> {
        let settings = self.settings();
        let mut log_append_time = -1;
        if settings.log_append_time || header.timestamp_type() == TimestampType::LogAppendTime {
            batch::set_log_append_time(bytes, header.total_len(), now_ms);
            log_append_time = now_ms;
        }
        let mut log = self.log_mut();
        let leader_epoch = self.stamp_epoch(bytes).map_err(AppendError::Refused)?;
        if header.is_transactional() && header.producer_id >= 0 {
            let open = log
                .producer_state()
                .get(header.producer_id)
                .is_some_and(|e| e.txn_first_offset.is_some() && e.epoch == header.producer_epoch);
            if !open {
                verify().map_err(AppendError::Refused)?;
            }
        }
        let info: AppendInfo = log.append(bytes, now_ms)?;
        if info.duplicate {
            // The stored batch's own time, as Kafka answers a duplicate.
            let stored = if log_append_time >= 0 {
                info.max_timestamp
            } else {
                -1
            };
            return Ok(Appended {
                base_offset: info.base_offset,
                last_offset: info.last_offset,
                log_append_time: stored,
                duplicate: true,
                leader_epoch,
            });
        }
        self.advance_high_watermark(&mut log);
        Ok(Appended {
            base_offset: info.base_offset,
            last_offset: info.last_offset,
            log_append_time,
            duplicate: false,
            leader_epoch,
        })
    }

    /// Writes a transaction marker (commit or abort) for a producer, as the transaction
    /// coordinator of `coordinator_epoch`; returns the marker's offset.
    pub fn append_marker(
        &self,
        producer_id: i64,
        producer_epoch: i16,
        commit: bool,
        coordinator_epoch: i32,
        now_ms: i64,
    ) -> Result<i64, AppendError> {
        let batch = end_txn_marker_batch(
            producer_id,
            producer_epoch,
            commit,
            coordinator_epoch,
            now_ms,
        )
        .map_err(StorageError::from)?;
        let mut bytes = batch.to_vec();
        let mut log = self.log_mut();
        self.stamp_epoch(&mut bytes).map_err(AppendError::Refused)?;
        let origin = Origin::Coordinator { coordinator_epoch };
        let info = log.append_from(&mut bytes, origin, now_ms)?;
        self.advance_high_watermark(&mut log);
        Ok(info.base_offset)
    }

    /// Writes this leader's epoch into a batch about to be appended; refuses if this
    /// broker no longer leads (the caller holds the log's write lock, so no image can
    /// demote it between this check and the append).
    fn stamp_epoch(&self, bytes: &mut [u8]) -> Result<i32, ErrorCode> {
        let rs = locks::lock(&self.replication);
        if !rs.is_leader() {
            return Err(ErrorCode::NotLeaderOrFollower);
        }
        batch::set_partition_leader_epoch(bytes, rs.epoch);
        Ok(rs.epoch)
    }

    /// As the leader: raises the high watermark to what the ISR has (never lowers it);
    /// true if it moved.
    fn advance_high_watermark(&self, log: &mut Log) -> bool {
        let target = {
            let rs = locks::lock(&self.replication);
            if !rs.is_leader() {
                return false;
            }
            rs.isr_high_watermark(log.log_end_offset())
        };
        if target <= self.high_watermark() {
            return false;
        }
        log.on_high_watermark(target);
        self.high_watermark.store(target, Ordering::Release);
        self.last_stable_offset
            .store(log.last_stable_offset(target), Ordering::Release);
        true
    }

    /// The offset below which `read_committed` consumers may read.
    pub fn last_stable_offset(&self) -> i64 {
        self.last_stable_offset.load(Ordering::Acquire)
    }

    /// Reads whole batches from `offset` up to the high watermark, or for `read_committed`
    /// up to the last stable offset together with the aborted transactions in what was read.
    pub fn read(
        &self,
        offset: i64,
        max_bytes: usize,
        min_one_batch: bool,
        read_committed: bool,
    ) -> Result<(ReadResult, Vec<AbortedTxn>), StorageError> {
        let log = self.log();
        if !read_committed {
            let r = log.read(offset, max_bytes, self.high_watermark(), min_one_batch)?;
            return Ok((r, Vec::new()));
        }
        let r = log.read(offset, max_bytes, self.last_stable_offset(), min_one_batch)?;
        let aborted = if r.bytes.is_empty() {
            Vec::new()
        } else {
            log.aborted_transactions(offset, r.next_offset)
        };
        Ok((r, aborted))
    }

    /// Earliest offset whose record has a timestamp >= `ts`.
    pub fn offset_for_timestamp(&self, ts: i64) -> Result<Option<(i64, i64)>, StorageError> {
        self.log().offset_for_timestamp(ts)
    }

    /// Directory of this partition's log.
    pub fn dir(&self) -> PathBuf {
        self.log().dir().to_path_buf()
    }
}

/// The whole batches laid end to end in a fetched chunk, as (position, length, header); a
/// partial batch at the end (Kafka cuts responses at the size limit) ends the list.
fn whole_batches(
    bytes: &[u8],
    max_batch: usize,
) -> Result<Vec<(usize, usize, BatchHeader)>, StorageError> {
    let mut out = Vec::new();
    let mut at = 0usize;
    while let Some(rest) = bytes.get(at..).filter(|r| !r.is_empty()) {
        let Ok(h) = BatchHeader::parse(rest) else {
            break;
        };
        let len = h.checked_total_len(max_batch).map_err(|_| {
            StorageError::Corrupt(format!(
                "replicated batch at {} has length {}",
                h.base_offset, h.batch_length
            ))
        })?;
        if rest.len() < len {
            break;
        }
        out.push((at, len, h));
        at += len;
    }
    Ok(out)
}
