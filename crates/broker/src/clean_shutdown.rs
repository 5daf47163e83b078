//! Whether the last run of this node shut down cleanly: a marker file in the data dir,
//! written at the end of a clean shutdown and removed at start (Kafka's
//! `.kafka_cleanshutdown`). A node that finds none registers as having restarted uncleanly.

use std::path::Path;

use tracing::warn;

use crate::error::BrokerError;

/// File in the data dir whose presence says the last run shut down cleanly (Kafka's
/// `.kafka_cleanshutdown`): removed at start, written at the end of a clean shutdown.
const CLEAN_SHUTDOWN_FILE: &str = ".weir_cleanshutdown";

/// Whether the run before this one, if any, shut down cleanly; forgets it (durably), so a
/// crash of this run is seen as unclean by the next.
pub(crate) fn take(data_dir: &Path) -> Result<bool, BrokerError> {
    let marker = data_dir.join(CLEAN_SHUTDOWN_FILE);
    let fresh = !data_dir.join(weir_meta::quorum::METADATA_DIR).exists();
    let clean = fresh || marker.exists();
    weir_storage::durable::remove_file(&marker).map_err(|e| BrokerError::Io {
        context: format!("removing {}", marker.display()),
        source: e,
    })?;
    Ok(clean)
}

/// Records that this run shut down cleanly (every log flushed and closed).
pub(crate) fn mark(data_dir: &Path) {
    let marker = data_dir.join(CLEAN_SHUTDOWN_FILE);
    if let Err(e) = weir_storage::durable::write_atomic(&marker, b"") {
        warn!(file = %marker.display(), error = %e, "could not record the clean shutdown");
    }
}
