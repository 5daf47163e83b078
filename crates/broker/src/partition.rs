//! One partition replica on this broker: its log, its high watermark and its settings.
//!
//! Appends are serialised by the log's write lock (one writer per partition, invariant 2)
//! and fetches share its read lock; the high watermark is published through an atomic so
//! fetches read it without any lock.
//! On a single node the ISR is the leader alone, so the high watermark follows the log end.

use std::path::PathBuf;
use std::sync::atomic::{AtomicI32, AtomicI64, Ordering};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use weir_meta::TopicId;
use weir_protocol::error::ErrorCode;
use weir_protocol::record::batch::{self, BatchHeader};
use weir_protocol::record::TimestampType;
use weir_storage::{AppendInfo, Log, ReadResult, StorageError};

use crate::locks;

/// Settings a partition takes from its topic's effective configs.
#[derive(Debug, Clone)]
pub struct PartitionSettings {
    /// `max.message.bytes`.
    pub max_message_bytes: usize,
    /// `message.timestamp.type` is LogAppendTime.
    pub log_append_time: bool,
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
    log_start_offset: AtomicI64,
    leader_epoch: AtomicI32,
    settings: RwLock<Arc<PartitionSettings>>,
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
}

impl Partition {
    /// Wraps an opened log.
    pub fn new(
        topic: String,
        topic_id: TopicId,
        index: i32,
        log: Log,
        settings: PartitionSettings,
    ) -> Self {
        let leo = log.log_end_offset();
        let start = log.log_start_offset();
        Self {
            topic,
            topic_id,
            index,
            log: RwLock::new(log),
            high_watermark: AtomicI64::new(leo),
            log_start_offset: AtomicI64::new(start),
            leader_epoch: AtomicI32::new(0),
            settings: RwLock::new(Arc::new(settings)),
        }
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

    /// Records the leader epoch the metadata image gives.
    pub fn set_leader_epoch(&self, epoch: i32) {
        self.leader_epoch.store(epoch, Ordering::Release);
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

    /// Appends one validated batch, rewriting its timestamp first when the topic uses
    /// LogAppendTime. `bytes` is the whole batch; `header` its validated header.
    pub fn append(
        &self,
        bytes: &mut [u8],
        header: &BatchHeader,
        now_ms: i64,
    ) -> Result<Appended, StorageError> {
        let settings = self.settings();
        let mut log_append_time = -1;
        if settings.log_append_time || header.timestamp_type() == TimestampType::LogAppendTime {
            batch::set_log_append_time(bytes, header.total_len(), now_ms);
            log_append_time = now_ms;
        }
        let mut log = self.log_mut();
        let info: AppendInfo = log.append(bytes, now_ms)?;
        self.high_watermark
            .store(log.log_end_offset(), Ordering::Release);
        Ok(Appended {
            base_offset: info.base_offset,
            last_offset: info.last_offset,
            log_append_time,
        })
    }

    /// Reads whole batches from `offset` up to the high watermark.
    pub fn read(
        &self,
        offset: i64,
        max_bytes: usize,
        min_one_batch: bool,
    ) -> Result<ReadResult, StorageError> {
        let hw = self.high_watermark();
        self.log().read(offset, max_bytes, hw, min_one_batch)
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
