//! The group coordinator as a machine of the coordinator runtime: its record format in
//! `__consumer_offsets` and how it replays them, and what an operation appended.

use bytes::Bytes;
use tracing::warn;
use weir_coordinator::{records, Effect, GroupCoordinator, Record};
use weir_meta::MetadataImage;

use crate::runtime::{Machine, Runtime, Shard, Stored};

impl Machine for GroupCoordinator {
    type Record = Record;
    type Effect = Effect;

    fn encode(record: &Record, image: &MetadataImage) -> Result<(Bytes, Option<Bytes>), String> {
        let ids = |name: &str| image.topic(name).map(|t| t.topic_id);
        records::encode(record, &ids).map_err(|e| e.to_string())
    }

    fn replay_stored(
        &mut self,
        item: Stored,
        image: &MetadataImage,
        now: i64,
        effects: &mut Vec<Effect>,
    ) -> bool {
        let (offset, key, value, transaction) = match item {
            Stored::Marker {
                producer_id,
                commit,
            } => {
                self.complete_txn(producer_id, commit);
                return false;
            }
            Stored::Record {
                offset,
                key,
                value,
                transaction,
            } => (offset, key, value, transaction),
        };
        let names = |id: &[u8; 16]| image.topic_by_id(id).map(|t| t.name.clone());
        match records::decode(&key, value.as_ref(), &names) {
            Ok(Some(record)) => {
                match transaction {
                    Some(producer_id) => self.replay_pending(producer_id, record),
                    None => effects.extend(self.replay(record, now)),
                }
                true
            }
            Ok(None) => false,
            Err(e) => {
                warn!(offset, error = %e, "skipping unreadable __consumer_offsets record");
                false
            }
        }
    }
}

/// What an operation appended: the offset to make durable and the group writes to report.
#[derive(Default)]
pub(crate) struct Writes {
    pub(super) last_offset: Option<i64>,
    pub(super) persists: Vec<(String, u64)>,
    pub(super) failed: bool,
}

impl Writes {
    /// Nothing was written.
    pub(crate) fn is_empty(&self) -> bool {
        self.last_offset.is_none() && self.persists.is_empty() && !self.failed
    }

    /// Waits until the append is fsynced and held by the ISR; false if that or the append
    /// failed.
    pub(crate) async fn durable(
        &self,
        rt: &Runtime<GroupCoordinator>,
        shard: &Shard<GroupCoordinator>,
    ) -> bool {
        if self.failed {
            return false;
        }
        match self.last_offset {
            Some(offset) => rt.committed(shard, offset).await,
            None => true,
        }
    }

    /// The group writes to report, taken out.
    pub(crate) fn take_persists(&mut self) -> Vec<(String, u64)> {
        std::mem::take(&mut self.persists)
    }
}
