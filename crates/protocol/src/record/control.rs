//! Control records: the single record of a control batch, such as a transaction marker.
//!
//! A control record's key is `version i16, type i16` (type 0 abort, 1 commit, 2.. KRaft
//! records); an end-transaction marker's value is `version i16, coordinatorEpoch i32`.

use bytes::Bytes;

use super::batch::{BatchError, Compression};
use super::builder::BatchBuilder;
use super::records::RecordBatch;

/// The control record key version Kafka writes.
const KEY_VERSION: i16 = 0;
/// The end-transaction marker value version Kafka writes.
const MARKER_VERSION: i16 = 0;

/// What a control record means (the `type` of its key).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ControlRecordType {
    /// A transaction was aborted.
    Abort,
    /// A transaction was committed.
    Commit,
    /// A KRaft leader change.
    LeaderChange,
    /// Start of a KRaft snapshot.
    SnapshotHeader,
    /// End of a KRaft snapshot.
    SnapshotFooter,
    /// A KRaft version record.
    KRaftVersion,
    /// A KRaft voter set record.
    KRaftVoters,
    /// A type this code does not know.
    Unknown(i16),
}

impl ControlRecordType {
    /// The type for a wire id.
    pub fn from_id(id: i16) -> Self {
        match id {
            0 => Self::Abort,
            1 => Self::Commit,
            2 => Self::LeaderChange,
            3 => Self::SnapshotHeader,
            4 => Self::SnapshotFooter,
            5 => Self::KRaftVersion,
            6 => Self::KRaftVoters,
            other => Self::Unknown(other),
        }
    }

    /// The wire id of this type.
    pub fn id(self) -> i16 {
        match self {
            Self::Abort => 0,
            Self::Commit => 1,
            Self::LeaderChange => 2,
            Self::SnapshotHeader => 3,
            Self::SnapshotFooter => 4,
            Self::KRaftVersion => 5,
            Self::KRaftVoters => 6,
            Self::Unknown(id) => id,
        }
    }
}

/// The key of a control record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ControlRecordKey {
    /// Key schema version (0 today; newer versions are read like 0, as Java does).
    pub version: i16,
    /// What the record means.
    pub kind: ControlRecordType,
}

impl ControlRecordKey {
    /// A version-0 key of the given type.
    pub fn new(kind: ControlRecordType) -> Self {
        Self {
            version: KEY_VERSION,
            kind,
        }
    }

    /// Parses a control record key (at least 4 bytes; extra bytes are ignored).
    pub fn parse(key: &[u8]) -> Result<Self, BatchError> {
        let (version, kind) = two_i16(key).ok_or_else(|| {
            BatchError::CorruptRecords(format!("control record key of {} bytes", key.len()))
        })?;
        if version < 0 {
            return Err(BatchError::CorruptRecords(format!(
                "negative control record key version {version}"
            )));
        }
        Ok(Self {
            version,
            kind: ControlRecordType::from_id(kind),
        })
    }

    /// The 4-byte wire form of this key.
    pub fn encode(&self) -> [u8; 4] {
        let [a, b] = self.version.to_be_bytes();
        let [c, d] = self.kind.id().to_be_bytes();
        [a, b, c, d]
    }
}

fn two_i16(b: &[u8]) -> Option<(i16, i16)> {
    let four: [u8; 4] = b.get(..4)?.try_into().ok()?;
    Some((
        i16::from_be_bytes([four[0], four[1]]),
        i16::from_be_bytes([four[2], four[3]]),
    ))
}

/// The value of an abort or commit control record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EndTxnMarker {
    /// Value schema version (0 today).
    pub version: i16,
    /// Epoch of the transaction coordinator that wrote the marker.
    pub coordinator_epoch: i32,
}

impl EndTxnMarker {
    /// Parses a marker value (at least 6 bytes; extra bytes are ignored).
    pub fn parse(value: &[u8]) -> Result<Self, BatchError> {
        let bad = || {
            BatchError::CorruptRecords(format!("end transaction marker of {} bytes", value.len()))
        };
        let six: [u8; 6] = value
            .get(..6)
            .and_then(|s| s.try_into().ok())
            .ok_or_else(bad)?;
        let [v0, v1, e0, e1, e2, e3] = six;
        let version = i16::from_be_bytes([v0, v1]);
        if version < 0 {
            return Err(bad());
        }
        Ok(Self {
            version,
            coordinator_epoch: i32::from_be_bytes([e0, e1, e2, e3]),
        })
    }

    /// The 6-byte wire form of this marker.
    pub fn encode(&self) -> [u8; 6] {
        let [a, b] = self.version.to_be_bytes();
        let [c, d, e, f] = self.coordinator_epoch.to_be_bytes();
        [a, b, c, d, e, f]
    }
}

impl RecordBatch {
    /// The key of a control batch's record, or `None` if this is not a control batch.
    pub fn control_key(
        &self,
        max_uncompressed: usize,
    ) -> Result<Option<ControlRecordKey>, BatchError> {
        if !self.is_control() {
            return Ok(None);
        }
        let records = self.records(max_uncompressed)?;
        let key = records
            .first()
            .and_then(|r| r.key.as_ref())
            .ok_or_else(|| {
                BatchError::CorruptRecords("control batch without a keyed record".to_owned())
            })?;
        ControlRecordKey::parse(key).map(Some)
    }
}

/// Builds the control batch a transaction coordinator writes to end a transaction:
/// transactional, one record keyed commit or abort, base offset 0 (the log assigns it).
pub fn end_txn_marker_batch(
    producer_id: i64,
    producer_epoch: i16,
    commit: bool,
    coordinator_epoch: i32,
    timestamp: i64,
) -> Result<Bytes, BatchError> {
    let kind = if commit {
        ControlRecordType::Commit
    } else {
        ControlRecordType::Abort
    };
    let key = ControlRecordKey::new(kind).encode();
    let value = EndTxnMarker {
        version: MARKER_VERSION,
        coordinator_epoch,
    }
    .encode();
    let mut b = BatchBuilder::new(Compression::None, timestamp);
    b.set_producer(producer_id, producer_epoch, -1);
    b.set_transactional(true);
    b.set_control(true);
    b.push(Some(&key), Some(&value), &[], timestamp)?;
    b.build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_round_trip_and_java_bytes() {
        // ControlRecordType.COMMIT.toKey(): version 0, type 1.
        assert_eq!(
            ControlRecordKey::new(ControlRecordType::Commit).encode(),
            [0, 0, 0, 1]
        );
        let k = ControlRecordKey::parse(&[0, 0, 0, 0]).unwrap();
        assert_eq!(k.kind, ControlRecordType::Abort);
        let k = ControlRecordKey::parse(&[0, 1, 0x7f, 0, 9]).unwrap();
        assert_eq!((k.version, k.kind), (1, ControlRecordType::Unknown(0x7f00)));
        assert!(ControlRecordKey::parse(&[0, 0, 0]).is_err());
        assert!(ControlRecordKey::parse(&[0xff, 0xff, 0, 0]).is_err());
        for id in -1..8 {
            assert_eq!(ControlRecordType::from_id(id).id(), id);
        }
    }

    #[test]
    fn marker_round_trip() {
        let m = EndTxnMarker {
            version: 0,
            coordinator_epoch: 0x0102_0304,
        };
        assert_eq!(m.encode(), [0, 0, 1, 2, 3, 4]);
        assert_eq!(EndTxnMarker::parse(&m.encode()).unwrap(), m);
        assert!(EndTxnMarker::parse(&[0, 0, 1, 2, 3]).is_err());
    }

    #[test]
    fn marker_batch_parses_as_control() {
        let bytes = end_txn_marker_batch(42, 3, true, 7, 1_700_000_000_000).unwrap();
        let batch = RecordBatch::parse(bytes).unwrap();
        assert!(batch.is_control());
        assert!(batch.is_transactional());
        assert_eq!(batch.header().producer_id, 42);
        assert_eq!(batch.header().producer_epoch, 3);
        assert_eq!(batch.header().base_sequence, -1);
        let key = batch.control_key(1 << 20).unwrap().unwrap();
        assert_eq!(key.kind, ControlRecordType::Commit);
        let records = batch.records(1 << 20).unwrap();
        let value = records[0].value.as_ref().unwrap();
        assert_eq!(EndTxnMarker::parse(value).unwrap().coordinator_epoch, 7);

        let abort = end_txn_marker_batch(42, 3, false, 7, 0).unwrap();
        let abort = RecordBatch::parse(abort).unwrap();
        assert_eq!(
            abort.control_key(1 << 20).unwrap().unwrap().kind,
            ControlRecordType::Abort
        );
    }

    #[test]
    fn data_batch_has_no_control_key() {
        let mut b = BatchBuilder::new(Compression::None, 0);
        b.push(None, Some(b"v"), &[], 0).unwrap();
        let batch = RecordBatch::parse(b.build().unwrap()).unwrap();
        assert_eq!(batch.control_key(1 << 20).unwrap(), None);
    }
}
