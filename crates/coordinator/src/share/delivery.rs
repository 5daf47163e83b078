//! The values a share-partition deals in: acknowledgement types, delivery states with
//! their persisted codes, the settings it follows, and what acquisition and archiving
//! report.

/// An acknowledgement type, as ShareFetch and ShareAcknowledge carry it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AckType {
    /// An offset with no record (compacted away, or a control record).
    Gap,
    /// Processed: the record is done.
    Accept,
    /// Not processed: deliver it again (to any member).
    Release,
    /// Unprocessable: never deliver it again.
    Reject,
    /// Still being processed: extend the acquisition lock (KIP-1222).
    Renew,
}

impl AckType {
    /// The type for its wire code, `None` for an unknown one.
    pub fn from_code(code: i8) -> Option<Self> {
        Some(match code {
            0 => AckType::Gap,
            1 => AckType::Accept,
            2 => AckType::Release,
            3 => AckType::Reject,
            4 => AckType::Renew,
            _ => return None,
        })
    }
}

/// The state of an in-flight record, with Kafka's persisted codes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeliveryState {
    /// May be acquired (once its availability time has come).
    Available,
    /// Locked by one member.
    Acquired,
    /// Accepted by a member.
    Acknowledged,
    /// Rejected, or out of delivery attempts, and waiting for its dead-letter copy to be
    /// written (KIP-1191) before it is archived.
    Archiving,
    /// Rejected, or out of delivery attempts.
    Archived,
}

impl DeliveryState {
    /// The code in `__share_group_state` (0 available, 1 acquired, 2 acknowledged, 3
    /// archiving, 4 archived).
    pub fn code(self) -> i8 {
        match self {
            DeliveryState::Available => 0,
            DeliveryState::Acquired => 1,
            DeliveryState::Acknowledged => 2,
            DeliveryState::Archiving => 3,
            DeliveryState::Archived => 4,
        }
    }

    /// The state for a persisted code; an acquired record comes back available, its lock lost.
    pub fn from_code(code: i8) -> Option<Self> {
        Some(match code {
            0 | 1 => DeliveryState::Available,
            2 => DeliveryState::Acknowledged,
            3 => DeliveryState::Archiving,
            4 => DeliveryState::Archived,
            _ => return None,
        })
    }

    /// Whether the record is finished with (acknowledged or archived).
    pub(crate) fn is_done(self) -> bool {
        matches!(self, DeliveryState::Acknowledged | DeliveryState::Archived)
    }
}

/// The share group settings a share-partition follows (Kafka's names and defaults).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShareSettings {
    /// `group.share.record.lock.duration.ms` (30 s): how long an acquisition lock lasts.
    pub lock_duration_ms: i64,
    /// `group.share.delivery.count.limit` (5): deliveries before a record is archived.
    pub delivery_count_limit: i16,
    /// `group.share.partition.max.record.locks` (2000): the most records in flight.
    pub max_in_flight: usize,
    /// `share.retry.backoff.ms` (Weir, 0): wait before a released record's second delivery.
    pub retry_backoff_ms: i64,
    /// `share.retry.backoff.max.ms` (Weir, 60 s): the cap of the doubling backoff.
    pub retry_backoff_max_ms: i64,
    /// Whether the group has a dead-letter topic: archived records go through Archiving
    /// until their copy is written.
    pub dead_letter: bool,
    /// `share.renew.acknowledge.enable` (true): whether RENEW acknowledgements are taken.
    pub renew_enabled: bool,
}

impl Default for ShareSettings {
    fn default() -> Self {
        ShareSettings {
            lock_duration_ms: 30_000,
            delivery_count_limit: 5,
            max_in_flight: 2_000,
            retry_backoff_ms: 0,
            retry_backoff_max_ms: 60_000,
            dead_letter: false,
            renew_enabled: true,
        }
    }
}

impl ShareSettings {
    /// How long a record delivered `count` times waits before its next delivery.
    pub fn backoff_ms(&self, count: i16) -> i64 {
        if self.retry_backoff_ms <= 0 || count <= 0 {
            return 0;
        }
        let doublings = u32::try_from(count - 1).unwrap_or(0).min(40);
        self.retry_backoff_ms
            .saturating_mul(1_i64 << doublings)
            .min(self.retry_backoff_max_ms.max(self.retry_backoff_ms))
    }
}

/// Why a record was archived, as a dead-letter record names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArchiveReason {
    /// A member rejected it.
    Rejected,
    /// Its delivery count reached the limit.
    DeliveryLimit,
}

impl ArchiveReason {
    /// The reason's name in a dead-letter record's header.
    pub fn as_str(self) -> &'static str {
        match self {
            ArchiveReason::Rejected => "REJECTED",
            ArchiveReason::DeliveryLimit => "DELIVERY_COUNT_LIMIT",
        }
    }
}

/// A record that has just been archived.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Archived {
    /// Its offset.
    pub offset: i64,
    /// How often it was delivered.
    pub delivery_count: i16,
    /// Why.
    pub reason: ArchiveReason,
}

/// A run of acquired offsets with one delivery count, as ShareFetch returns them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AcquiredRange {
    /// The first offset.
    pub first: i64,
    /// The last offset (inclusive).
    pub last: i64,
    /// The delivery count of each record in the run.
    pub delivery_count: i16,
}

/// One acknowledgement batch off the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AckBatch {
    /// The first offset.
    pub first: i64,
    /// The last offset (inclusive).
    pub last: i64,
    /// One type for the whole batch, or one per offset.
    pub types: Vec<i8>,
}

/// A record the log holds at an offset, as acquisition sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Candidate {
    /// Its offset.
    pub offset: i64,
    /// Not to be delivered before this time (epoch ms), if it says so.
    pub deliver_at: Option<i64>,
}

/// A run of offsets with one state and delivery count, as `__share_group_state` stores it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateBatch {
    /// The first offset.
    pub first: i64,
    /// The last offset (inclusive).
    pub last: i64,
    /// The state.
    pub state: DeliveryState,
    /// The delivery count.
    pub delivery_count: i16,
}
