//! What the share-partitions led here look like from outside: their figures for `/metrics`,
//! and the counting and logging of acknowledgements and archived records.

use std::sync::Arc;

use tracing::debug;
use weir_coordinator::share::{AckBatch, AckType, Archived, DeliveryState};
use weir_meta::records::TopicId;

use super::slot::Slot;
use super::{ShareKey, Shares};
use crate::locks;
use crate::metrics::AckKind;

/// One share-partition's figures, for metrics and `weir share-group describe`.
pub(crate) struct ShareGauges {
    /// The group.
    pub(crate) group: String,
    /// The topic.
    pub(crate) topic: TopicId,
    /// The partition.
    pub(crate) partition: i32,
    /// The start offset.
    pub(crate) start: i64,
    /// The end offset.
    pub(crate) end: i64,
    /// Records tracked in flight.
    pub(crate) in_flight: usize,
    /// Of them, available.
    pub(crate) available: usize,
    /// Of them, acquired.
    pub(crate) acquired: usize,
    /// Of them, waiting for a dead-letter copy.
    pub(crate) archiving: usize,
}

impl Shares {
    /// The figures of every share-partition loaded here.
    pub(crate) fn gauges(&self) -> Vec<ShareGauges> {
        let slots: Vec<(ShareKey, Arc<Slot>)> = locks::lock(&self.slots)
            .iter()
            .map(|(k, s)| (k.clone(), s.clone()))
            .collect();
        slots
            .into_iter()
            .filter_map(|(k, slot)| {
                let guard = locks::lock(&slot.entry);
                let e = guard.as_ref()?;
                Some(ShareGauges {
                    group: k.group.clone(),
                    topic: k.topic,
                    partition: k.partition,
                    start: e.state.start_offset(),
                    end: e.state.end_offset(),
                    in_flight: e.state.in_flight(),
                    available: e.state.count(DeliveryState::Available),
                    acquired: e.state.count(DeliveryState::Acquired),
                    archiving: e.state.count(DeliveryState::Archiving),
                })
            })
            .collect()
    }

    /// Counts applied acknowledgements by type.
    pub(super) fn count_acks(&self, batches: &[AckBatch]) {
        for b in batches {
            let width = u64::try_from(b.last - b.first + 1).unwrap_or(0);
            let per_offset = b.types.len() > 1;
            for code in &b.types {
                let kind = match AckType::from_code(*code) {
                    Some(AckType::Accept) => "accept",
                    Some(AckType::Release) => "release",
                    Some(AckType::Reject) => "reject",
                    Some(AckType::Renew) => "renew",
                    Some(AckType::Gap) => "gap",
                    None => continue,
                };
                let n = if per_offset { 1 } else { width };
                self.host
                    .metrics
                    .share_acks
                    .get_or_create(&AckKind { kind })
                    .inc_by(n);
            }
        }
    }

    /// Notes records that were archived.
    pub(super) fn archived(&self, key: &ShareKey, archived: &[Archived]) {
        for a in archived {
            debug!(group = %key.group, partition = key.partition, offset = a.offset, delivery_count = a.delivery_count, reason = a.reason.as_str(), "record archived");
        }
    }
}
