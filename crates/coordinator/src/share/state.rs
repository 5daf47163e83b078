//! [`ShareStateStore`]: the share coordinator of one `__share_group_state` partition (KIP-932's
//! "share coordinator"), the durable home of share-partition state. A share-partition's
//! leader reads its state when it takes over and writes it whenever records are
//! acknowledged, released or archived, or the start offset moves; writes carry the leader
//! epoch, and one from an older leader than the last is refused (FENCED_LEADER_EPOCH), so a
//! deposed leader cannot overwrite its successor.
//!
//! Records are Kafka's `ShareSnapshot` key and value, one per share-partition (each write is
//! a whole snapshot), with a null value when the state is deleted.

use std::collections::BTreeMap;

use bytes::{BufMut, Bytes, BytesMut};
use weir_protocol::error::ErrorCode;

use super::partition::{DeliveryState, StateBatch};

/// One share group's partition: the group, the topic id and the partition index.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ShareStateKey {
    /// The share group.
    pub group: String,
    /// The topic's id.
    pub topic_id: [u8; 16],
    /// The partition.
    pub partition: i32,
}

/// A share-partition's persisted state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShareSnapshot {
    /// Bumped when the state is reset (AlterShareGroupOffsets, DeleteShareGroupOffsets).
    pub state_epoch: i32,
    /// The leader epoch of the partition leader that wrote it.
    pub leader_epoch: i32,
    /// The share-partition start offset; -1 once its offsets were deleted (the next leader
    /// starts where `share.auto.offset.reset` says).
    pub start_offset: i64,
    /// In-flight records with their state and delivery count.
    pub batches: Vec<StateBatch>,
    /// Where dead-letter copies written but not yet recorded here may be (Weir's own,
    /// a tagged field Kafka skips).
    pub dead_letter_mark: Option<DeadLetterMark>,
}

/// A lower bound for dead-letter copies in flight: taken before copies are written, and
/// cleared once their records are recorded as archived, so after a crash in between the
/// next leader looks for them from here instead of writing them again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeadLetterMark {
    /// The dead-letter topic's partition the copies go to.
    pub partition: i32,
    /// Its high watermark before they were written.
    pub offset: i64,
}

impl DeadLetterMark {
    /// The mark carried by the Read/WriteShareGroupState fields (-1 for none).
    pub fn from_wire(partition: i32, offset: i64) -> Option<Self> {
        (partition >= 0 && offset >= 0).then_some(DeadLetterMark { partition, offset })
    }

    /// The wire fields of `mark`: its partition and offset, or -1 and -1.
    pub fn to_wire(mark: Option<Self>) -> (i32, i64) {
        mark.map_or((-1, -1), |m| (m.partition, m.offset))
    }
}

/// A `__share_group_state` record: a snapshot, or `None` for a deleted state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShareStateRecord {
    /// Whose state.
    pub key: ShareStateKey,
    /// The state, or `None` once deleted.
    pub snapshot: Option<ShareSnapshot>,
}

/// The share-partition states of one `__share_group_state` partition.
#[derive(Debug, Clone, Default)]
pub struct ShareStateStore {
    states: BTreeMap<ShareStateKey, ShareSnapshot>,
}

impl ShareStateStore {
    /// A store with nothing in it.
    pub fn new() -> Self {
        Self::default()
    }

    /// The state of `key`, if any.
    pub fn read(&self, key: &ShareStateKey) -> Option<&ShareSnapshot> {
        self.states.get(key)
    }

    /// Replaces the state of `key`; FENCED_LEADER_EPOCH if a newer leader wrote it,
    /// FENCED_STATE_EPOCH if it was reset since the writer read it. The record to append.
    pub fn write(
        &mut self,
        key: ShareStateKey,
        snapshot: ShareSnapshot,
    ) -> Result<ShareStateRecord, ErrorCode> {
        if let Some(old) = self.states.get(&key) {
            if snapshot.leader_epoch < old.leader_epoch {
                return Err(ErrorCode::FencedLeaderEpoch);
            }
            if snapshot.state_epoch < old.state_epoch {
                return Err(ErrorCode::FencedStateEpoch);
            }
        }
        self.states.insert(key.clone(), snapshot.clone());
        Ok(ShareStateRecord {
            key,
            snapshot: Some(snapshot),
        })
    }

    /// Deletes the state of `key`; the tombstone to append, if there was a state.
    pub fn delete(&mut self, key: &ShareStateKey) -> Option<ShareStateRecord> {
        self.states.remove(key).map(|_| ShareStateRecord {
            key: key.clone(),
            snapshot: None,
        })
    }

    /// Applies a record read back while loading the partition.
    pub fn replay(&mut self, record: ShareStateRecord) {
        match record.snapshot {
            Some(s) => {
                self.states.insert(record.key, s);
            }
            None => {
                self.states.remove(&record.key);
            }
        }
    }
}

/// A record that cannot be read back.
#[derive(Debug, thiserror::Error)]
#[error("unreadable __share_group_state record: {0}")]
pub struct ShareRecordError(String);

/// The key version of a ShareSnapshot record (Kafka's `ShareSnapshotKey`).
const SNAPSHOT_KEY: i16 = 0;
/// The most in-flight batches a snapshot may hold when read back.
const MAX_BATCHES: usize = 1 << 20;
/// The value's tagged field that holds a [`DeadLetterMark`] (Weir's; Kafka skips it).
const MARK_TAG: u64 = 10000;

/// A record as its key and value bytes (`None`: a tombstone), in Kafka's format.
pub fn encode(record: &ShareStateRecord) -> (Bytes, Option<Bytes>) {
    let k = &record.key;
    let mut key = BytesMut::with_capacity(24 + k.group.len());
    key.put_i16(SNAPSHOT_KEY);
    let group = k.group.as_bytes();
    key.put_i16(i16::try_from(group.len()).unwrap_or(i16::MAX));
    key.put_slice(&group[..group.len().min(i16::MAX as usize)]);
    key.put_slice(&k.topic_id);
    key.put_i32(k.partition);
    let value = record.snapshot.as_ref().map(|s| {
        let mut v = BytesMut::with_capacity(32 + 20 * s.batches.len());
        v.put_i16(0); // value version
        v.put_u16(0); // snapshot epoch
        v.put_i32(s.state_epoch);
        v.put_i32(s.leader_epoch);
        v.put_i64(s.start_offset);
        put_uvarint(&mut v, s.batches.len() as u64 + 1);
        for b in &s.batches {
            v.put_i64(b.first);
            v.put_i64(b.last);
            v.put_i8(b.state.code());
            v.put_i16(b.delivery_count);
            put_uvarint(&mut v, 0); // no tagged fields
        }
        match s.dead_letter_mark {
            Some(m) => {
                put_uvarint(&mut v, 1);
                put_uvarint(&mut v, MARK_TAG);
                put_uvarint(&mut v, 12);
                v.put_i32(m.partition);
                v.put_i64(m.offset);
            }
            None => put_uvarint(&mut v, 0),
        }
        v.freeze()
    });
    (key.freeze(), value)
}

/// Reads a record back; `Ok(None)` for a key version this store does not keep (Kafka's
/// `ShareUpdate` deltas, which Weir never writes).
pub fn decode(
    key: &[u8],
    value: Option<&Bytes>,
) -> Result<Option<ShareStateRecord>, ShareRecordError> {
    let mut k = Cursor { b: key, at: 0 };
    if k.i16()? != SNAPSHOT_KEY {
        return Ok(None);
    }
    let len =
        usize::try_from(k.i16()?).map_err(|_| ShareRecordError("negative group length".into()))?;
    let group = String::from_utf8(k.take(len)?.to_vec())
        .map_err(|_| ShareRecordError("group id is not UTF-8".into()))?;
    let mut topic_id = [0u8; 16];
    topic_id.copy_from_slice(k.take(16)?);
    let partition = k.i32()?;
    let key = ShareStateKey {
        group,
        topic_id,
        partition,
    };
    let Some(value) = value else {
        return Ok(Some(ShareStateRecord {
            key,
            snapshot: None,
        }));
    };
    let mut v = Cursor { b: value, at: 0 };
    let _version = v.i16()?;
    let _snapshot_epoch = v.take(2)?;
    let state_epoch = v.i32()?;
    let leader_epoch = v.i32()?;
    let start_offset = v.i64()?;
    let n = usize::try_from(v.uvarint()?.saturating_sub(1))
        .map_err(|_| ShareRecordError("batch count".into()))?;
    if n > MAX_BATCHES {
        return Err(ShareRecordError(format!("{n} state batches")));
    }
    let mut batches = Vec::with_capacity(n.min(1024));
    for _ in 0..n {
        let first = v.i64()?;
        let last = v.i64()?;
        let code = v.i8()?;
        let delivery_count = v.i16()?;
        v.skip_tagged()?;
        let state = DeliveryState::from_code(code)
            .ok_or_else(|| ShareRecordError(format!("delivery state {code}")))?;
        if last < first {
            return Err(ShareRecordError(format!("batch {first}..{last}")));
        }
        batches.push(StateBatch {
            first,
            last,
            state,
            delivery_count,
        });
    }
    let mut dead_letter_mark = None;
    v.tagged(|tag, field| {
        if tag == MARK_TAG {
            let mut f = Cursor { b: field, at: 0 };
            dead_letter_mark = Some(DeadLetterMark {
                partition: f.i32()?,
                offset: f.i64()?,
            });
        }
        Ok(())
    })?;
    Ok(Some(ShareStateRecord {
        key,
        snapshot: Some(ShareSnapshot {
            state_epoch,
            leader_epoch,
            start_offset,
            batches,
            dead_letter_mark,
        }),
    }))
}

fn put_uvarint(b: &mut BytesMut, mut v: u64) {
    while v >= 0x80 {
        b.put_u8((v as u8) | 0x80);
        v >>= 7;
    }
    b.put_u8(v as u8);
}

struct Cursor<'a> {
    b: &'a [u8],
    at: usize,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], ShareRecordError> {
        let end = self
            .at
            .checked_add(n)
            .filter(|&e| e <= self.b.len())
            .ok_or_else(|| ShareRecordError("truncated".into()))?;
        let s = &self.b[self.at..end];
        self.at = end;
        Ok(s)
    }
    fn i8(&mut self) -> Result<i8, ShareRecordError> {
        Ok(self.take(1)?[0] as i8)
    }
    fn i16(&mut self) -> Result<i16, ShareRecordError> {
        let s = self.take(2)?;
        Ok(i16::from_be_bytes([s[0], s[1]]))
    }
    fn i32(&mut self) -> Result<i32, ShareRecordError> {
        let mut a = [0u8; 4];
        a.copy_from_slice(self.take(4)?);
        Ok(i32::from_be_bytes(a))
    }
    fn i64(&mut self) -> Result<i64, ShareRecordError> {
        let mut a = [0u8; 8];
        a.copy_from_slice(self.take(8)?);
        Ok(i64::from_be_bytes(a))
    }
    fn uvarint(&mut self) -> Result<u64, ShareRecordError> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = self.take(1)?[0];
            v |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(ShareRecordError("varint too long".into()))
    }
    fn skip_tagged(&mut self) -> Result<(), ShareRecordError> {
        self.tagged(|_, _| Ok(()))
    }
    /// Reads tagged fields, handing each tag and its bytes to `f`.
    fn tagged(
        &mut self,
        mut f: impl FnMut(u64, &'a [u8]) -> Result<(), ShareRecordError>,
    ) -> Result<(), ShareRecordError> {
        let n = self.uvarint()?;
        if n > 64 {
            return Err(ShareRecordError(format!("{n} tagged fields")));
        }
        for _ in 0..n {
            let tag = self.uvarint()?;
            let len = usize::try_from(self.uvarint()?)
                .map_err(|_| ShareRecordError("tagged field length".into()))?;
            f(tag, self.take(len)?)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> ShareStateKey {
        ShareStateKey {
            group: "g".into(),
            topic_id: [7; 16],
            partition: 3,
        }
    }

    fn snapshot(leader_epoch: i32) -> ShareSnapshot {
        ShareSnapshot {
            state_epoch: 0,
            leader_epoch,
            start_offset: 10,
            batches: vec![
                StateBatch {
                    first: 10,
                    last: 12,
                    state: DeliveryState::Available,
                    delivery_count: 2,
                },
                StateBatch {
                    first: 13,
                    last: 13,
                    state: DeliveryState::Archived,
                    delivery_count: 5,
                },
            ],
            dead_letter_mark: None,
        }
    }

    #[test]
    fn records_round_trip_in_kafkas_format() {
        let r = ShareStateRecord {
            key: key(),
            snapshot: Some(snapshot(4)),
        };
        let (k, v) = encode(&r);
        assert_eq!(&k[..2], &[0, 0], "ShareSnapshotKey is key version 0");
        assert_eq!(decode(&k, v.as_ref()).unwrap(), Some(r.clone()));
        // A dead-letter mark rides in a tagged field, read back the same.
        let mut marked = r.clone();
        if let Some(s) = marked.snapshot.as_mut() {
            s.dead_letter_mark = Some(DeadLetterMark {
                partition: 2,
                offset: 77,
            });
        }
        let (k, v) = encode(&marked);
        assert_eq!(decode(&k, v.as_ref()).unwrap(), Some(marked));
        let tomb = ShareStateRecord {
            key: key(),
            snapshot: None,
        };
        let (k, v) = encode(&tomb);
        assert_eq!(decode(&k, v.as_ref()).unwrap(), Some(tomb));
        // A ShareUpdate (key version 1) is not Weir's to replay.
        let mut update = k.to_vec();
        update[1] = 1;
        assert_eq!(decode(&update, None).unwrap(), None);
    }

    #[test]
    fn damaged_records_are_refused_not_trusted() {
        let (k, v) = encode(&ShareStateRecord {
            key: key(),
            snapshot: Some(snapshot(1)),
        });
        let v = v.unwrap();
        for cut in 0..v.len() {
            assert!(decode(&k, Some(&v.slice(..cut))).is_err(), "cut at {cut}");
        }
        assert!(decode(&k[..5], Some(&v)).is_err());
    }

    #[test]
    fn an_older_leader_cannot_overwrite_a_newer_ones_state() {
        let mut s = ShareStateStore::new();
        s.write(key(), snapshot(5)).unwrap();
        assert_eq!(
            s.write(key(), snapshot(4)),
            Err(ErrorCode::FencedLeaderEpoch)
        );
        assert_eq!(s.read(&key()).unwrap().leader_epoch, 5);
        s.write(key(), snapshot(6)).unwrap();
        // A reset (a new state epoch) fences the leader that read the state before it.
        let reset = ShareSnapshot {
            state_epoch: 1,
            ..snapshot(6)
        };
        s.write(key(), reset).unwrap();
        assert_eq!(
            s.write(key(), snapshot(6)),
            Err(ErrorCode::FencedStateEpoch)
        );
        assert!(s.delete(&key()).is_some());
        assert!(s.read(&key()).is_none());
    }
}
