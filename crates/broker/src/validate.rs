//! Record-level checks of a produced batch beyond its header: the records parse, their
//! number matches the header's record count and their offset deltas run 0, 1, 2, ...
//! Compressed batches are decompressed with an output bound to check this and the copy is
//! dropped: the stored bytes are always the batch as received.

use bytes::Bytes;
use weir_protocol::record::batch::{BatchError, BatchHeader};
use weir_protocol::record::RecordBatch;

/// Largest decompressed size a produced batch may expand to.
pub(crate) const MAX_UNCOMPRESSED: usize = 256 * 1024 * 1024;

/// Checks the records of a header-validated batch; `keyed`: every record needs a key (a
/// compacted topic).
pub(crate) fn records(batch: &Bytes, header: &BatchHeader, keyed: bool) -> Result<(), BatchError> {
    let b = RecordBatch::from_validated(*header, batch.clone())?;
    if keyed {
        b.check_keyed_records(MAX_UNCOMPRESSED)
    } else {
        b.check_records(MAX_UNCOMPRESSED)
    }
}
