//! Per-log configuration, with Kafka's topic-level defaults.

use weir_protocol::record::batch::HEADER_LEN;

use crate::error::StorageError;

/// Settings of one partition log (Kafka's `segment.bytes`, `segment.ms`,
/// `index.interval.bytes`, plus a bound on any batch read back from disk).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogConfig {
    /// Roll to a new segment when the active one would grow past this (`segment.bytes`).
    pub segment_bytes: u64,
    /// Roll to a new segment when the active one spans more than this (`segment.ms`).
    pub segment_ms: i64,
    /// Bytes of batches between two index entries (`index.interval.bytes`).
    pub index_interval_bytes: u32,
    /// Largest batch accepted on append or read back from disk.
    pub max_batch_bytes: usize,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            segment_bytes: 1 << 30,
            segment_ms: 7 * 24 * 60 * 60 * 1000,
            index_interval_bytes: 4096,
            max_batch_bytes: 64 << 20,
        }
    }
}

impl LogConfig {
    /// Checks every setting is within the range the log can work with.
    pub fn validate(&self) -> Result<(), StorageError> {
        // Positions in the offset index are u32; Kafka's segment.bytes is an int.
        let max_segment = i32::MAX as u64;
        if self.segment_bytes < HEADER_LEN as u64 || self.segment_bytes > max_segment {
            return Err(StorageError::InvalidConfig(format!(
                "segment_bytes {} must be within {HEADER_LEN}..={max_segment}",
                self.segment_bytes
            )));
        }
        if self.segment_ms <= 0 {
            return Err(StorageError::InvalidConfig(format!(
                "segment_ms {} must be positive",
                self.segment_ms
            )));
        }
        if self.max_batch_bytes < HEADER_LEN || self.max_batch_bytes > i32::MAX as usize {
            return Err(StorageError::InvalidConfig(format!(
                "max_batch_bytes {} must be within {HEADER_LEN}..={}",
                self.max_batch_bytes,
                i32::MAX
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_is_valid_and_kafka_like() {
        let c = LogConfig::default();
        assert!(c.validate().is_ok());
        assert_eq!(c.segment_bytes, 1_073_741_824);
        assert_eq!(c.segment_ms, 604_800_000);
        assert_eq!(c.index_interval_bytes, 4096);
    }

    #[test]
    fn rejects_out_of_range() {
        let bad = [
            LogConfig {
                segment_bytes: 10,
                ..LogConfig::default()
            },
            LogConfig {
                segment_bytes: 1 << 32,
                ..LogConfig::default()
            },
            LogConfig {
                segment_ms: 0,
                ..LogConfig::default()
            },
            LogConfig {
                max_batch_bytes: 12,
                ..LogConfig::default()
            },
        ];
        for c in bad {
            assert!(
                matches!(c.validate(), Err(StorageError::InvalidConfig(_))),
                "{c:?}"
            );
        }
    }
}
