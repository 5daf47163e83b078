//! [`SharePartition`]: one share group's view of one topic partition (KIP-932's
//! "share-partition"), after Kafka's `SharePartition`. Records between the share-partition
//! start offset (SPSO) and end offset (SPEO) are in flight, each Available, Acquired (locked
//! by one member until a deadline), Acknowledged or Archived, with the number of times it has
//! been delivered. Offsets below the start are done; offsets from the end on have never been
//! fetched.
//!
//! Weir adds two things Kafka lacks, both as an availability time per record: a released or
//! lock-expired record waits out a retry backoff that grows with its delivery count, and a
//! record produced with a delivery time is not acquired before it.
//!
//! Pure: the broker reads the log, hands the record offsets it found to
//! [`SharePartition::acquire`], and passes the time in.

use std::collections::BTreeMap;

use weir_protocol::error::ErrorCode;

pub use super::delivery::{
    AckBatch, AckType, AcquiredRange, ArchiveReason, Archived, Candidate, DeliveryState,
    ShareSettings, StateBatch,
};

/// The most records of a share-partition waiting for their delivery time at once.
pub const MAX_SCHEDULED: usize = 100_000;

/// Whether `r` was never delivered and waits for its delivery time at `now`.
fn scheduled(r: &InFlight, now: i64) -> bool {
    r.state == DeliveryState::Available && r.delivery_count == 0 && r.available_at > now
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct InFlight {
    state: DeliveryState,
    delivery_count: i16,
    owner: Option<String>,
    lock_until: i64,
    available_at: i64,
}

/// One share group's delivery state of one partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SharePartition {
    start: i64,
    end: i64,
    records: BTreeMap<i64, InFlight>,
}

impl SharePartition {
    /// A share-partition whose first record to deliver is at `start`.
    pub fn new(start: i64) -> Self {
        SharePartition {
            start,
            end: start,
            records: BTreeMap::new(),
        }
    }

    /// Rebuilds the state persisted as `start` and `batches`; locks are lost, so acquired
    /// records come back available.
    pub fn restore(start: i64, batches: &[StateBatch]) -> Self {
        let mut p = SharePartition::new(start);
        for b in batches {
            for offset in b.first.max(start)..=b.last {
                let state = match b.state {
                    DeliveryState::Acquired => DeliveryState::Available,
                    s => s,
                };
                p.records.insert(
                    offset,
                    InFlight {
                        state,
                        delivery_count: b.delivery_count,
                        owner: None,
                        lock_until: 0,
                        available_at: 0,
                    },
                );
                p.end = p.end.max(offset + 1);
            }
        }
        p.advance();
        p
    }

    /// The share-partition start offset: every record below it is done.
    pub fn start_offset(&self) -> i64 {
        self.start
    }

    /// The first offset never fetched.
    pub fn end_offset(&self) -> i64 {
        self.end
    }

    /// Records in flight (known, and not yet below the start offset).
    pub fn in_flight(&self) -> usize {
        self.records.len()
    }

    /// Records never delivered whose delivery time is still to come at `now`.
    pub fn scheduled(&self, now: i64) -> usize {
        self.records.values().filter(|r| scheduled(r, now)).count()
    }

    /// Whether the in-flight limit holds new records back at `now`: records waiting for
    /// their delivery time do not count against it (they have their own, larger bound,
    /// [`MAX_SCHEDULED`]), so scheduled records never stall the records behind them.
    pub fn full(&self, now: i64, settings: &ShareSettings) -> bool {
        // Below both limits whatever is scheduled: no need to count (the common case).
        if self.records.len() < settings.max_in_flight.min(MAX_SCHEDULED) {
            return false;
        }
        let scheduled = self.scheduled(now);
        self.records.len() - scheduled >= settings.max_in_flight || scheduled >= MAX_SCHEDULED
    }

    /// Records in flight by state.
    pub fn count(&self, state: DeliveryState) -> usize {
        self.records.values().filter(|r| r.state == state).count()
    }

    /// The state and delivery count of one offset, if it is in flight.
    pub fn state_of(&self, offset: i64) -> Option<(DeliveryState, i16)> {
        self.records
            .get(&offset)
            .map(|r| (r.state, r.delivery_count))
    }

    /// Where the next read of the log should start: the first record that could be acquired
    /// at `now`, or the end offset.
    pub fn fetch_offset(&self, now: i64) -> i64 {
        self.records
            .iter()
            .find(|(_, r)| r.state == DeliveryState::Available && r.available_at <= now)
            .map_or(self.end, |(o, _)| *o)
    }

    /// The earliest time an available record becomes acquirable, if one is waiting.
    pub fn next_available_at(&self, now: i64) -> Option<i64> {
        self.records
            .values()
            .filter(|r| r.state == DeliveryState::Available && r.available_at > now)
            .map(|r| r.available_at)
            .min()
    }

    /// Moves the start up to `log_start` (records below it are gone from the log).
    pub fn skip_to(&mut self, log_start: i64) {
        if log_start > self.start {
            self.records = self.records.split_off(&log_start);
            self.start = log_start;
            self.end = self.end.max(log_start);
            self.advance();
        }
    }

    /// Acquires for `member` up to `max_records` of the `candidates` (the records the log
    /// holds from [`SharePartition::fetch_offset`] up to `read_upto`, in offset order),
    /// locking them until `now` plus the lock duration. Records whose delivery time has not
    /// come are taken in flight but not acquired. Offsets of the read that hold no record
    /// (control batches, compacted records) are passed over.
    pub fn acquire(
        &mut self,
        member: &str,
        candidates: &[Candidate],
        max_records: usize,
        read_upto: i64,
        now: i64,
        settings: &ShareSettings,
    ) -> Vec<AcquiredRange> {
        let mut out: Vec<AcquiredRange> = Vec::new();
        let mut taken = 0usize;
        let mut cut_short = false;
        // Counting scheduled records walks the whole window; only worth it when this read
        // could reach a limit.
        let may_fill =
            self.records.len() + candidates.len() >= settings.max_in_flight.min(MAX_SCHEDULED);
        let mut scheduled = if may_fill { self.scheduled(now) } else { 0 };
        let mut counted = self.records.len() - scheduled;
        for c in candidates {
            if taken >= max_records {
                cut_short = true;
                break;
            }
            if c.offset < self.start {
                continue;
            }
            if c.offset >= self.end {
                let available_at = c.deliver_at.unwrap_or(0);
                let (count, limit) = if available_at > now {
                    (&mut scheduled, MAX_SCHEDULED)
                } else {
                    (&mut counted, settings.max_in_flight)
                };
                if *count >= limit {
                    cut_short = true;
                    break;
                }
                *count += 1;
                self.records.insert(
                    c.offset,
                    InFlight {
                        state: DeliveryState::Available,
                        delivery_count: 0,
                        owner: None,
                        lock_until: 0,
                        available_at,
                    },
                );
                self.end = c.offset + 1;
            }
            let Some(r) = self.records.get_mut(&c.offset) else {
                continue;
            };
            if r.delivery_count == 0 {
                // Delivery times are not persisted: a restored record never delivered gets
                // its own from the log again.
                r.available_at = r.available_at.max(c.deliver_at.unwrap_or(0));
            }
            if r.state != DeliveryState::Available || r.available_at > now {
                continue;
            }
            r.state = DeliveryState::Acquired;
            r.delivery_count = r.delivery_count.saturating_add(1);
            r.owner = Some(member.to_string());
            r.lock_until = now + settings.lock_duration_ms;
            taken += 1;
            match out.last_mut() {
                Some(run) if run.last + 1 == c.offset && run.delivery_count == r.delivery_count => {
                    run.last = c.offset;
                }
                _ => out.push(AcquiredRange {
                    first: c.offset,
                    last: c.offset,
                    delivery_count: r.delivery_count,
                }),
            }
        }
        if !cut_short && read_upto > self.end {
            self.end = read_upto;
            self.advance();
        }
        out
    }

    /// Applies `member`'s acknowledgements, all or none: INVALID_REQUEST for a malformed
    /// batch, an unknown type or offsets past what was fetched, INVALID_RECORD_STATE if any
    /// offset is not a record this member holds (or is acknowledged twice). Returns the records archived by it.
    pub fn acknowledge(
        &mut self,
        member: &str,
        batches: &[AckBatch],
        now: i64,
        settings: &ShareSettings,
    ) -> Result<Vec<Archived>, ErrorCode> {
        let mut changes: Vec<(i64, AckType)> = Vec::new();
        let mut previous_last: Option<i64> = None;
        for b in batches {
            if b.last < b.first {
                return Err(ErrorCode::InvalidRequest);
            }
            // An offset acknowledged twice: the second finds it no longer acquired, as in
            // Kafka (which answers INVALID_RECORD_STATE too).
            if previous_last.is_some_and(|p| b.first <= p) {
                return Err(ErrorCode::InvalidRecordState);
            }
            previous_last = Some(b.last);
            // Past what was ever fetched: no such record batch (Kafka's INVALID_REQUEST).
            if b.last >= self.end {
                return Err(ErrorCode::InvalidRequest);
            }
            let width = b.last - b.first + 1;
            if b.types.len() != 1 && i64::try_from(b.types.len()).ok() != Some(width) {
                return Err(ErrorCode::InvalidRequest);
            }
            if width > i64::try_from(settings.max_in_flight).unwrap_or(i64::MAX) {
                // No member ever holds more than the in-flight limit.
                return Err(ErrorCode::InvalidRecordState);
            }
            for (i, offset) in (b.first..=b.last).enumerate() {
                let code = if b.types.len() == 1 {
                    b.types[0]
                } else {
                    b.types[i]
                };
                let kind = AckType::from_code(code).ok_or(ErrorCode::InvalidRequest)?;
                // The group turned renewals off (`share.renew.acknowledge.enable`).
                if kind == AckType::Renew && !settings.renew_enabled {
                    return Err(ErrorCode::InvalidRecordState);
                }
                changes.push((offset, kind));
            }
        }
        for (offset, kind) in &changes {
            match self.records.get(offset) {
                Some(r)
                    if r.state == DeliveryState::Acquired && r.owner.as_deref() == Some(member) => {
                }
                // A gap inside what was fetched: no record there to hold.
                None if *kind == AckType::Gap && *offset >= self.start && *offset < self.end => {}
                _ => return Err(ErrorCode::InvalidRecordState),
            }
        }
        let mut archived = Vec::new();
        for (offset, kind) in changes {
            let Some(r) = self.records.get_mut(&offset) else {
                continue;
            };
            match kind {
                AckType::Accept => finish(r, DeliveryState::Acknowledged),
                AckType::Gap => finish(r, DeliveryState::Archived),
                AckType::Reject => {
                    finish(r, archive_state(settings));
                    archived.push(Archived {
                        offset,
                        delivery_count: r.delivery_count,
                        reason: ArchiveReason::Rejected,
                    });
                }
                AckType::Release => {
                    if let Some(a) = release(r, offset, now, settings) {
                        archived.push(a);
                    }
                }
                AckType::Renew => r.lock_until = now + settings.lock_duration_ms,
            }
        }
        self.advance();
        Ok(archived)
    }

    /// Releases every record `member` holds (its share session closed or it left the
    /// group), as a RELEASE would. Returns the records archived by it.
    pub fn release_member(
        &mut self,
        member: &str,
        now: i64,
        settings: &ShareSettings,
    ) -> Vec<Archived> {
        let mut archived = Vec::new();
        for (offset, r) in self.records.iter_mut() {
            if r.state == DeliveryState::Acquired && r.owner.as_deref() == Some(member) {
                archived.extend(release(r, *offset, now, settings));
            }
        }
        self.advance();
        archived
    }

    /// Releases every record whose lock expired at or before `now`. Returns the records
    /// archived by it.
    pub fn expire_locks(&mut self, now: i64, settings: &ShareSettings) -> Vec<Archived> {
        let mut archived = Vec::new();
        for (offset, r) in self.records.iter_mut() {
            if r.state == DeliveryState::Acquired && r.lock_until <= now {
                archived.extend(release(r, *offset, now, settings));
            }
        }
        self.advance();
        archived
    }

    /// The records waiting for their dead-letter copy, with the reason (as far as the state
    /// tells it: a record restored from storage was rejected unless it used up its
    /// deliveries).
    pub fn archiving(&self, settings: &ShareSettings) -> Vec<Archived> {
        self.records
            .iter()
            .filter(|(_, r)| r.state == DeliveryState::Archiving)
            .map(|(offset, r)| Archived {
                offset: *offset,
                delivery_count: r.delivery_count,
                reason: if r.delivery_count >= settings.delivery_count_limit {
                    ArchiveReason::DeliveryLimit
                } else {
                    ArchiveReason::Rejected
                },
            })
            .collect()
    }

    /// The dead-letter copy of `offset` is written: the record is archived. False if it was
    /// not waiting for one.
    pub fn dead_lettered(&mut self, offset: i64) -> bool {
        match self.records.get_mut(&offset) {
            Some(r) if r.state == DeliveryState::Archiving => {
                r.state = DeliveryState::Archived;
                self.advance();
                true
            }
            _ => false,
        }
    }

    /// The group no longer has a dead-letter topic: what waited for a copy is archived.
    pub fn drop_dead_letters(&mut self) {
        for r in self.records.values_mut() {
            if r.state == DeliveryState::Archiving {
                r.state = DeliveryState::Archived;
            }
        }
        self.advance();
    }

    /// The earliest lock deadline, if any record is acquired.
    pub fn next_lock_deadline(&self) -> Option<i64> {
        self.records
            .values()
            .filter(|r| r.state == DeliveryState::Acquired)
            .map(|r| r.lock_until)
            .min()
    }

    /// The in-flight records as runs of equal state and delivery count, for persisting.
    pub fn state_batches(&self) -> Vec<StateBatch> {
        let mut out: Vec<StateBatch> = Vec::new();
        for (offset, r) in &self.records {
            match out.last_mut() {
                Some(b)
                    if b.last + 1 == *offset
                        && b.state == r.state
                        && b.delivery_count == r.delivery_count =>
                {
                    b.last = *offset;
                }
                _ => out.push(StateBatch {
                    first: *offset,
                    last: *offset,
                    state: r.state,
                    delivery_count: r.delivery_count,
                }),
            }
        }
        out
    }

    /// Drops the finished records at the start and moves the start offset past them and
    /// past offsets that hold no record.
    fn advance(&mut self) {
        loop {
            let Some((&offset, r)) = self.records.first_key_value() else {
                self.start = self.end;
                return;
            };
            if offset > self.start {
                self.start = offset;
            }
            if !r.state.is_done() {
                return;
            }
            self.records.remove(&offset);
            self.start = offset + 1;
        }
    }
}

/// Where a rejected or exhausted record goes: Archiving while a dead-letter copy is due.
fn archive_state(settings: &ShareSettings) -> DeliveryState {
    if settings.dead_letter {
        DeliveryState::Archiving
    } else {
        DeliveryState::Archived
    }
}

fn finish(r: &mut InFlight, state: DeliveryState) {
    r.state = state;
    r.owner = None;
}

/// Makes an acquired record available again after its backoff, or archives it when it has
/// used up its deliveries.
fn release(r: &mut InFlight, offset: i64, now: i64, settings: &ShareSettings) -> Option<Archived> {
    r.owner = None;
    if r.delivery_count >= settings.delivery_count_limit {
        r.state = archive_state(settings);
        return Some(Archived {
            offset,
            delivery_count: r.delivery_count,
            reason: ArchiveReason::DeliveryLimit,
        });
    }
    r.state = DeliveryState::Available;
    r.available_at = now + settings.backoff_ms(r.delivery_count);
    None
}

#[cfg(test)]
mod tests;
