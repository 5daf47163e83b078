//! The transaction coordinator as a machine of the coordinator runtime: its record format
//! in `__transaction_state`, how it replays them, and the markers left to write after a
//! load.

use bytes::Bytes;
use tracing::warn;
use weir_coordinator::txn::{self, MarkerJob, TxnCoordinator, TxnRecord};
use weir_meta::MetadataImage;

use crate::runtime::{Machine, Stored};

impl Machine for TxnCoordinator {
    type Record = TxnRecord;
    type Effect = MarkerJob;

    fn encode(
        record: &TxnRecord,
        _image: &MetadataImage,
    ) -> Result<(Bytes, Option<Bytes>), String> {
        txn::encode(record).map_err(|e| e.to_string())
    }

    fn replay_stored(
        &mut self,
        item: Stored,
        _image: &MetadataImage,
        _now: i64,
        _effects: &mut Vec<MarkerJob>,
    ) -> bool {
        let Stored::Record {
            offset, key, value, ..
        } = item
        else {
            return false;
        };
        match txn::decode(&key, value.as_ref()) {
            Ok(record) => {
                self.replay(record);
                true
            }
            Err(e) => {
                warn!(offset, error = %e, "skipping unreadable __transaction_state record");
                false
            }
        }
    }

    /// The markers of transactions a stop left in PrepareCommit or PrepareAbort.
    fn loaded(&mut self, effects: &mut Vec<MarkerJob>) {
        effects.extend(self.pending_markers());
    }
}
