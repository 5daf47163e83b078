//! The sparse per-segment indexes, kept in memory and written out as files.
//!
//! - [`OffsetIndex`] (`.index`): entries of (relative base offset u32 BE, file position u32
//!   BE), 8 bytes each, one for a batch after every `index_interval_bytes` of data. A lookup
//!   gives the position of a batch starting at or before an offset.
//! - [`TimeIndex`] (`.timeindex`): entries of (timestamp i64 BE, relative offset u32 BE), 12
//!   bytes each: the largest timestamp seen so far in the segment and the last offset of the
//!   batch holding it, appended only when that timestamp grows. Every record at or below an
//!   entry's offset has a timestamp at or below the entry's timestamp.
//!
//! Both are rebuilt from the segment whenever a file is missing or fails the checks in
//! `decode`.

use weir_protocol::record::batch::HEADER_LEN;

/// Bytes of one offset index entry.
pub(crate) const OFFSET_ENTRY_LEN: usize = 8;
/// Bytes of one time index entry.
pub(crate) const TIME_ENTRY_LEN: usize = 12;

/// The most entries an index over `log_size` bytes of batches can hold: one per batch.
pub(crate) fn max_entries(log_size: u64) -> u64 {
    log_size / HEADER_LEN as u64 + 1
}

/// One offset index entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct OffsetEntry {
    /// Base offset of the batch minus the segment's base offset.
    pub(crate) relative_offset: u32,
    /// Byte position of the batch in the segment file.
    pub(crate) position: u32,
}

/// Sparse map from offsets to file positions of one segment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct OffsetIndex {
    entries: Vec<OffsetEntry>,
}

impl OffsetIndex {
    /// Adds an entry; callers append in increasing offset and position.
    pub(crate) fn push(&mut self, relative_offset: u32, position: u32) {
        self.entries.push(OffsetEntry {
            relative_offset,
            position,
        });
    }

    /// The entry with the largest offset at or below `relative_offset`.
    pub(crate) fn lookup(&self, relative_offset: u32) -> Option<OffsetEntry> {
        let n = self
            .entries
            .partition_point(|e| e.relative_offset <= relative_offset);
        n.checked_sub(1).and_then(|i| self.entries.get(i)).copied()
    }

    /// Drops every entry for a batch at or after file position `position`.
    pub(crate) fn truncate_to_position(&mut self, position: u32) {
        let n = self.entries.partition_point(|e| e.position < position);
        self.entries.truncate(n);
    }

    /// Number of entries.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// The file contents for these entries.
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.entries.len() * OFFSET_ENTRY_LEN);
        for e in &self.entries {
            out.extend_from_slice(&e.relative_offset.to_be_bytes());
            out.extend_from_slice(&e.position.to_be_bytes());
        }
        out
    }

    /// Parses an index file of a segment with `log_size` bytes whose offsets are all below
    /// `end_relative` (`next_offset - base_offset`); `Err` names the first inconsistency.
    pub(crate) fn decode(bytes: &[u8], log_size: u64, end_relative: u64) -> Result<Self, String> {
        if !bytes.chunks_exact(OFFSET_ENTRY_LEN).remainder().is_empty() {
            return Err(format!("length {} is not a multiple of 8", bytes.len()));
        }
        let mut entries = Vec::with_capacity(bytes.len() / OFFSET_ENTRY_LEN);
        let mut prev: Option<OffsetEntry> = None;
        for chunk in bytes.chunks_exact(OFFSET_ENTRY_LEN) {
            let (rel, pos) = chunk.split_at(4);
            let e = OffsetEntry {
                relative_offset: u32::from_be_bytes(to4(rel)),
                position: u32::from_be_bytes(to4(pos)),
            };
            if u64::from(e.relative_offset) >= end_relative {
                return Err(format!(
                    "entry offset {} beyond the segment's end {end_relative}",
                    e.relative_offset
                ));
            }
            if u64::from(e.position) >= log_size {
                return Err(format!(
                    "entry position {} beyond the segment size {log_size}",
                    e.position
                ));
            }
            if let Some(p) = prev {
                if e.relative_offset <= p.relative_offset || e.position <= p.position {
                    return Err(format!("entry {e:?} does not follow {p:?}"));
                }
            }
            prev = Some(e);
            entries.push(e);
        }
        Ok(Self { entries })
    }

    /// The last entry.
    pub(crate) fn last(&self) -> Option<OffsetEntry> {
        self.entries.last().copied()
    }
}

/// One time index entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TimeEntry {
    /// Largest timestamp seen up to this entry.
    pub(crate) timestamp: i64,
    /// Last offset of the batch holding it, minus the segment's base offset.
    pub(crate) relative_offset: u32,
}

/// Sparse map from timestamps to offsets of one segment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct TimeIndex {
    entries: Vec<TimeEntry>,
}

impl TimeIndex {
    /// Adds an entry if `timestamp` is larger than the last one's (Kafka's `maybeAppend`).
    pub(crate) fn maybe_push(&mut self, timestamp: i64, relative_offset: u32) {
        if self
            .entries
            .last()
            .is_some_and(|e| e.timestamp >= timestamp)
        {
            return;
        }
        self.entries.push(TimeEntry {
            timestamp,
            relative_offset,
        });
    }

    /// The entry with the largest timestamp strictly below `timestamp`: every record at or
    /// below its offset is older than `timestamp`.
    pub(crate) fn lookup_below(&self, timestamp: i64) -> Option<TimeEntry> {
        let n = self.entries.partition_point(|e| e.timestamp < timestamp);
        n.checked_sub(1).and_then(|i| self.entries.get(i)).copied()
    }

    /// Drops every entry that points at offset `relative_offset` or later.
    pub(crate) fn truncate_to_offset(&mut self, relative_offset: u32) {
        let n = self
            .entries
            .partition_point(|e| e.relative_offset < relative_offset);
        self.entries.truncate(n);
    }

    /// The last (largest) entry.
    pub(crate) fn last(&self) -> Option<TimeEntry> {
        self.entries.last().copied()
    }

    /// Number of entries.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// The file contents for these entries.
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.entries.len() * TIME_ENTRY_LEN);
        for e in &self.entries {
            out.extend_from_slice(&e.timestamp.to_be_bytes());
            out.extend_from_slice(&e.relative_offset.to_be_bytes());
        }
        out
    }

    /// Parses a time index file of a segment whose offsets are all below `end_relative`;
    /// `Err` names the first inconsistency.
    pub(crate) fn decode(bytes: &[u8], end_relative: u64) -> Result<Self, String> {
        if !bytes.chunks_exact(TIME_ENTRY_LEN).remainder().is_empty() {
            return Err(format!("length {} is not a multiple of 12", bytes.len()));
        }
        let mut entries = Vec::with_capacity(bytes.len() / TIME_ENTRY_LEN);
        let mut prev: Option<TimeEntry> = None;
        for chunk in bytes.chunks_exact(TIME_ENTRY_LEN) {
            let (ts, rel) = chunk.split_at(8);
            let mut ts8 = [0u8; 8];
            ts8.copy_from_slice(ts);
            let e = TimeEntry {
                timestamp: i64::from_be_bytes(ts8),
                relative_offset: u32::from_be_bytes(to4(rel)),
            };
            if u64::from(e.relative_offset) >= end_relative {
                return Err(format!(
                    "entry offset {} beyond the segment's end {end_relative}",
                    e.relative_offset
                ));
            }
            if e.timestamp < 0 {
                return Err(format!("negative timestamp {}", e.timestamp));
            }
            if let Some(p) = prev {
                if e.timestamp <= p.timestamp || e.relative_offset <= p.relative_offset {
                    return Err(format!("entry {e:?} does not follow {p:?}"));
                }
            }
            prev = Some(e);
            entries.push(e);
        }
        Ok(Self { entries })
    }
}

fn to4(b: &[u8]) -> [u8; 4] {
    let mut a = [0u8; 4];
    a.copy_from_slice(b);
    a
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offset_lookup_is_floor() {
        let mut idx = OffsetIndex::default();
        assert_eq!(idx.lookup(5), None);
        idx.push(10, 100);
        idx.push(20, 200);
        idx.push(30, 300);
        assert_eq!(idx.lookup(9), None);
        assert_eq!(idx.lookup(10).map(|e| e.position), Some(100));
        assert_eq!(idx.lookup(29).map(|e| e.position), Some(200));
        assert_eq!(idx.lookup(1000).map(|e| e.position), Some(300));
        idx.truncate_to_position(200);
        assert_eq!(idx.len(), 1);
    }

    #[test]
    fn offset_round_trip_and_checks() {
        let mut idx = OffsetIndex::default();
        idx.push(3, 70);
        idx.push(9, 170);
        let bytes = idx.encode();
        assert_eq!(bytes.len(), 16);
        assert_eq!(OffsetIndex::decode(&bytes, 1000, 20), Ok(idx));
        assert!(OffsetIndex::decode(&bytes[..15], 1000, 20).is_err());
        assert!(OffsetIndex::decode(&bytes, 170, 20).is_err());
        assert!(OffsetIndex::decode(&bytes, 1000, 9).is_err());
        let mut swapped = bytes[8..].to_vec();
        swapped.extend_from_slice(&bytes[..8]);
        assert!(OffsetIndex::decode(&swapped, 1000, 20).is_err());
    }

    #[test]
    fn time_index_appends_only_growth() {
        let mut idx = TimeIndex::default();
        idx.maybe_push(100, 0);
        idx.maybe_push(90, 1);
        idx.maybe_push(100, 2);
        idx.maybe_push(150, 3);
        assert_eq!(idx.len(), 2);
        assert_eq!(idx.lookup_below(100), None);
        assert_eq!(idx.lookup_below(101).map(|e| e.relative_offset), Some(0));
        assert_eq!(idx.lookup_below(1000).map(|e| e.relative_offset), Some(3));
        let bytes = idx.encode();
        assert_eq!(TimeIndex::decode(&bytes, 4), Ok(idx.clone()));
        assert!(TimeIndex::decode(&bytes, 3).is_err());
        assert!(TimeIndex::decode(&bytes[..13], 4).is_err());
        idx.truncate_to_offset(3);
        assert_eq!(idx.last().map(|e| e.timestamp), Some(100));
    }
}
