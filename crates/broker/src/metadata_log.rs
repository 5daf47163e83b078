//! The local metadata log: [`MetadataRecord`]s stored as JSON record values in a Weir log
//! under `<data>/__cluster_metadata-0`, one batch per change so a change is all in or all out.
//!
//! On a single node this is the whole quorum; the replicated quorum (openraft) replaces the
//! append path without changing what is stored.

use std::path::Path;

use weir_meta::{MetadataImage, MetadataRecord};
use weir_protocol::record::{BatchBuilder, Batches, Compression};
use weir_storage::{Log, LogConfig};

use crate::error::BrokerError;

/// Directory name of the metadata log inside the data dir.
pub const METADATA_DIR: &str = "__cluster_metadata-0";
const MAX_RECORD_BYTES: usize = 8 * 1024 * 1024;

/// The metadata log and the image its records build.
pub struct MetadataLog {
    log: Log,
}

impl MetadataLog {
    /// Opens (or creates) the metadata log and replays it into an image.
    pub fn open(data_dir: &Path, now_ms: i64) -> Result<(Self, MetadataImage), BrokerError> {
        let config = LogConfig {
            segment_bytes: 64 * 1024 * 1024,
            ..LogConfig::default()
        };
        let log = Log::open(&data_dir.join(METADATA_DIR), config, now_ms)?;
        let mut image = MetadataImage::default();
        let mut offset = log.log_start_offset();
        let end = log.log_end_offset();
        while offset < end {
            let chunk = log.read(offset, 4 * 1024 * 1024, end, true)?;
            if chunk.bytes.is_empty() {
                break;
            }
            for batch in Batches::new(chunk.bytes.clone()) {
                let batch =
                    batch.map_err(|e| BrokerError::Corrupt(format!("metadata log: {e}")))?;
                for record in batch
                    .records(MAX_RECORD_BYTES)
                    .map_err(|e| BrokerError::Corrupt(e.to_string()))?
                {
                    let value = record.value.unwrap_or_default();
                    let rec: MetadataRecord = serde_json::from_slice(&value).map_err(|e| {
                        BrokerError::Corrupt(format!("metadata record at {}: {e}", record.offset))
                    })?;
                    image.apply(&rec);
                }
                offset = batch.header().last_offset() + 1;
            }
        }
        Ok((Self { log }, image))
    }

    /// Appends one change (a list of records) durably: written and fsynced before return.
    pub fn append(&mut self, records: &[MetadataRecord], now_ms: i64) -> Result<(), BrokerError> {
        if records.is_empty() {
            return Ok(());
        }
        let mut builder = BatchBuilder::new(Compression::None, now_ms);
        for r in records {
            let value = serde_json::to_vec(r).map_err(|e| BrokerError::Corrupt(e.to_string()))?;
            builder
                .push(None, Some(&value), &[], now_ms)
                .map_err(|e| BrokerError::Corrupt(e.to_string()))?;
        }
        let batch = builder
            .build()
            .map_err(|e| BrokerError::Corrupt(e.to_string()))?;
        let mut bytes = batch.to_vec();
        self.log.append(&mut bytes, now_ms)?;
        self.log.flush()?;
        Ok(())
    }

    /// Flushes and closes the log.
    pub fn close(self) -> Result<(), BrokerError> {
        self.log.close()?;
        Ok(())
    }
}
