//! `decode_batch`: the batches of a buffer walked with [`Batches`], each batch's records
//! decoded both ways ([`RecordBatch::records`] and [`RecordBatch::check_records`]), which
//! must agree.
//!
//! Input: one flags byte, then the buffer. Flag bit 0 patches the CRC of every batch the
//! length fields delimit before parsing, so mutations get past the CRC into the records
//! and the decompressors.

use bytes::Bytes;
use weir_protocol::record::batch::{CRC_START, HEADER_LEN, LOG_OVERHEAD};
use weir_protocol::record::{BatchHeader, Batches, Compression, RecordBatch};

/// Output bound handed to every decompression.
pub const MAX_UNCOMPRESSED: usize = 1 << 20;

/// Byte range of the CRC field in a batch header.
const CRC_AT: usize = 17;

/// Runs the `decode_batch` checks on one fuzz input. Returns the number of valid batches.
pub fn check_batches(data: &[u8]) -> usize {
    let Some((&flags, rest)) = data.split_first() else {
        return 0;
    };
    let mut buf = rest.to_vec();
    if flags & 1 != 0 {
        fix_crcs(&mut buf);
    }
    let buf = Bytes::from(buf);
    check_header_validate(&buf);

    let mut batches = Batches::new(buf.clone());
    let mut valid = 0;
    let mut consumed = 0;
    while let Some(item) = batches.next() {
        match item {
            Ok(batch) => {
                let start = consumed;
                consumed += batch.size_in_bytes();
                assert_eq!(batches.position(), consumed);
                assert_eq!(batch.as_bytes(), &buf.slice(start..consumed));
                check_batch(&batch);
                valid += 1;
            }
            Err(_) => {
                assert!(batches.next().is_none(), "Batches yielded after an error");
                break;
            }
        }
    }
    assert!(batches.next().is_none(), "Batches resumed after its end");
    assert_eq!(batches.position(), consumed);
    assert_eq!(batches.position() + batches.remaining(), buf.len());
    valid
}

/// Rewrites the CRC of each batch laid end to end in `buf`, as far as the length fields
/// delimit whole batches.
pub fn fix_crcs(buf: &mut [u8]) {
    let mut pos = 0usize;
    while let Some(head) = buf.get(pos..pos + HEADER_LEN) {
        let len = i32::from_be_bytes([head[8], head[9], head[10], head[11]]);
        let Some(total) = usize::try_from(len)
            .ok()
            .map(|l| l + LOG_OVERHEAD)
            .filter(|&t| t >= HEADER_LEN)
        else {
            return;
        };
        let Some(batch) = buf.get_mut(pos..pos + total) else {
            return;
        };
        let crc = crc32c::crc32c(&batch[CRC_START..]);
        batch[CRC_AT..CRC_START].copy_from_slice(&crc.to_be_bytes());
        pos += total;
    }
}

/// `BatchHeader::validate` over the whole buffer agrees with `RecordBatch::parse` and with
/// itself under a length bound.
fn check_header_validate(buf: &Bytes) {
    let unbounded = BatchHeader::validate(buf, usize::MAX);
    let parsed = RecordBatch::parse(buf.clone());
    assert_eq!(
        unbounded.is_ok(),
        parsed.is_ok(),
        "validate and parse disagree"
    );
    let bounded = BatchHeader::validate(buf, MAX_UNCOMPRESSED);
    if let Ok(h) = unbounded {
        let total = h.checked_total_len(usize::MAX).unwrap_or_else(|e| {
            panic!("validated header has an invalid length: {e}");
        });
        assert!(total >= HEADER_LEN && total <= buf.len());
        assert_eq!(h.total_len(), total);
        assert_eq!(bounded.is_ok(), total <= MAX_UNCOMPRESSED);
        if let Ok(p) = &parsed {
            assert_eq!(p.header(), &h);
            assert_eq!(p.size_in_bytes(), total);
        }
    } else {
        assert!(bounded.is_err(), "a length bound made validate accept");
    }
}

/// One valid batch: its header revalidates, decompression stays within the bound, and the
/// two record decoders agree.
fn check_batch(batch: &RecordBatch) {
    let h = BatchHeader::validate(batch.as_bytes(), usize::MAX)
        .unwrap_or_else(|e| panic!("a batch Batches yielded does not validate: {e}"));
    assert_eq!(&h, batch.header());
    // Callers (the consumer, fetch paths) take last_offset() of any valid batch; it must
    // not overflow whatever base offset the batch carries outside its CRC.
    assert!(batch.last_offset() >= batch.base_offset());
    if let Ok(section) = batch.decompressed(MAX_UNCOMPRESSED) {
        if batch.compression() != Compression::None {
            assert!(
                section.len() <= MAX_UNCOMPRESSED,
                "{:?} produced {} bytes over the bound",
                batch.compression(),
                section.len()
            );
        }
    }
    let records = batch.records(MAX_UNCOMPRESSED);
    let checked = batch.check_records(MAX_UNCOMPRESSED);
    match (&records, &checked) {
        (Ok(records), _) => {
            let dense = records
                .iter()
                .enumerate()
                .all(|(i, r)| usize::try_from(r.offset_delta).ok() == Some(i));
            // records() does not check offset deltas; check_records() does, and nothing else.
            assert_eq!(
                checked.is_ok(),
                dense,
                "records() decoded {} records, dense offsets {dense}, check_records: {checked:?}",
                records.len()
            );
            assert_eq!(
                usize::try_from(batch.record_count()).ok(),
                Some(records.len())
            );
            for r in records {
                assert_eq!(
                    r.offset,
                    batch.base_offset().wrapping_add(i64::from(r.offset_delta))
                );
            }
        }
        (Err(e), Ok(())) => panic!("check_records accepted what records() rejects: {e}"),
        (Err(_), Err(_)) => {}
    }
}
