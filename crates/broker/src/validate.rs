//! Record-level checks of a produced batch beyond its header: the records parse and their
//! number matches the header's record count. Compressed batches are decompressed with an
//! output bound to check this, and the decompressed copy is dropped: the stored bytes are
//! always the batch as received.

use bytes::Bytes;
use weir_protocol::record::batch::{BatchError, BatchHeader};
use weir_protocol::record::RecordBatch;

/// Largest decompressed size a produced batch may expand to.
pub(crate) const MAX_UNCOMPRESSED: usize = 256 * 1024 * 1024;

/// Checks that the records of a header-validated batch parse and match its record count.
pub(crate) fn records(batch: &Bytes, header: &BatchHeader) -> Result<(), BatchError> {
    let parsed = RecordBatch::parse(batch.clone())?;
    let records = parsed.records(MAX_UNCOMPRESSED)?;
    let count = i32::try_from(records.len()).unwrap_or(i32::MAX);
    if count != header.record_count {
        return Err(BatchError::InvalidRecordCount {
            count: header.record_count,
            last_offset_delta: header.last_offset_delta,
        });
    }
    if let Some(last) = records.last() {
        if last.offset - header.base_offset > i64::from(header.last_offset_delta) {
            return Err(BatchError::CorruptRecords(
                "record offset delta beyond lastOffsetDelta".into(),
            ));
        }
    }
    Ok(())
}
