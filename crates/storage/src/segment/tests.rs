//! Segments alone: indexes, truncation, bounds, rolling, the tail cache.

use super::*;
use crate::test_batch::TestBatch;

const MAX: usize = 1 << 20;

fn append(seg: &mut Segment, tb: &TestBatch, interval: u32) -> BatchHeader {
    let bytes = tb.encode(seg.next_offset);
    let h = BatchHeader::validate(&bytes, MAX).unwrap();
    seg.write_batch(&bytes).unwrap();
    seg.track_batch(&h, bytes.len() as u64, interval);
    h
}

#[test]
fn indexes_find_every_offset_and_survive_truncation() {
    let tmp = tempfile::tempdir().unwrap();
    let mut seg = Segment::create(tmp.path(), 100, 0).unwrap();
    let mut headers = Vec::new();
    for i in 0..30i64 {
        let tb = TestBatch::new(1 + (i % 3) as usize, 1_000 + (i * 7) % 50, 30);
        headers.push(append(&mut seg, &tb, 200));
    }
    assert!(seg.offset_index.len() > 3);
    assert!(seg.time_index.len() > 1);
    for h in &headers {
        for o in h.base_offset..=h.last_offset() {
            let b = seg.find_batch(o, MAX).unwrap().unwrap();
            assert_eq!(b.header.base_offset, h.base_offset, "offset {o}");
        }
    }
    assert!(seg.find_batch(seg.next_offset, MAX).unwrap().is_none());
    assert_eq!(
        seg.find_batch(0, MAX).unwrap().unwrap().header.base_offset,
        100
    );
    let max = headers.iter().map(|h| h.max_timestamp).max().unwrap();
    assert_eq!(seg.max_timestamp, max);

    // Truncating into batch 12 keeps 0..12 and recomputes the max timestamp.
    let cut = headers[12];
    seg.truncate_to(cut.last_offset(), MAX).unwrap();
    assert_eq!(seg.next_offset, cut.base_offset);
    assert_eq!(seg.file.metadata().unwrap().len(), seg.size);
    let kept_max = headers[..12].iter().map(|h| h.max_timestamp).max().unwrap();
    assert_eq!(seg.max_timestamp, kept_max);
    let first_max = headers[..12]
        .iter()
        .position(|h| h.max_timestamp == kept_max)
        .unwrap();
    assert_eq!(
        seg.offset_of_max_timestamp,
        headers[first_max].last_offset()
    );
    assert!(seg
        .time_index
        .last()
        .iter()
        .all(|e| e.timestamp <= kept_max));
    // Appending again continues densely and indexes stay usable.
    let h = append(&mut seg, &TestBatch::new(2, 5, 10), 200);
    assert_eq!(h.base_offset, cut.base_offset);
    assert_eq!(
        seg.find_batch(h.last_offset(), MAX)
            .unwrap()
            .unwrap()
            .position,
        position_of(&headers, 12)
    );
}

/// File position of the `n`th batch: the bytes of the batches before it.
fn position_of(headers: &[BatchHeader], n: usize) -> u64 {
    headers[..n].iter().map(|h| h.total_len() as u64).sum()
}

#[test]
fn header_reads_are_bounded_by_the_valid_size() {
    let tmp = tempfile::tempdir().unwrap();
    let mut seg = Segment::create(tmp.path(), 0, 0).unwrap();
    let h = append(&mut seg, &TestBatch::new(1, 1, 10), 0);
    assert!(seg.header_at(0, MAX).is_ok());
    assert!(matches!(
        seg.header_at(1, MAX),
        Err(StorageError::Corrupt(_))
    ));
    assert!(matches!(
        seg.header_at(0, 64),
        Err(StorageError::Corrupt(_))
    ));
    assert!(seg.read_bytes(0, h.total_len() + 1).is_err());
    assert!(seg.relative(-1).is_none());
    assert_eq!(seg.relative(i64::from(i32::MAX)), Some(i32::MAX as u32));
    assert!(seg.relative(i64::from(i32::MAX) + 1).is_none());
}

#[test]
fn rolls_by_batch_time_when_the_first_batch_has_one() {
    let tmp = tempfile::tempdir().unwrap();
    let mut seg = Segment::create(tmp.path(), 0, 1_000).unwrap();
    assert_eq!(seg.time_waited(1_500, -1), 500);
    append(&mut seg, &TestBatch::new(1, 10_000, 1), 0);
    assert_eq!(seg.time_waited(1_500, 12_000), 2_000);
    let mut seg = Segment::create(tmp.path(), 5, 1_000).unwrap();
    append(&mut seg, &TestBatch::new(1, -1, 1), 0);
    assert_eq!(seg.time_waited(4_000, 12_000), 3_000);
}

#[test]
fn the_tail_cache_answers_as_a_scan_does() {
    let tmp = tempfile::tempdir().unwrap();
    let mut seg = Segment::create(tmp.path(), 10, 0).unwrap();
    // More batches than the cache holds, of one to three records.
    for i in 0..(TAIL as i64 + 40) {
        append(
            &mut seg,
            &TestBatch::new(1 + (i % 3) as usize, 1_000 + i, 20),
            4096,
        );
    }
    let scan = |seg: &Segment, o: i64| {
        seg.scan_from(0, MAX, |b| b.header.last_offset() >= o)
            .unwrap()
            .map(|l| (l.position, l.header.base_offset, l.len))
    };
    let check = |seg: &Segment| {
        for o in 0..seg.next_offset + 3 {
            let found = seg
                .find_batch(o, MAX)
                .unwrap()
                .map(|l| (l.position, l.header.base_offset, l.len));
            assert_eq!(found, scan(seg, o), "offset {o}");
        }
    };
    assert_eq!(seg.tail.len(), TAIL);
    check(&seg);
    // A truncation drops the cut batches from the cache too; appends refill it.
    let cut = seg.next_offset - 20;
    seg.truncate_to(cut, MAX).unwrap();
    assert!(seg
        .tail
        .back()
        .is_some_and(|l| l.position + l.len == seg.size));
    check(&seg);
    append(&mut seg, &TestBatch::new(2, 5, 10), 4096);
    check(&seg);
    // A batch longer than the caller allows is not answered from the cache.
    let last = seg.tail.back().copied().unwrap();
    assert!(seg.find_batch(last.header.base_offset, 32).is_err());
}
