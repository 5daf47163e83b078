//! Rebuilding a stored batch with only some of its records, as log compaction does: every
//! header field stays (base offset, last offset delta, timestamps, producer, attributes), so
//! no offset is renumbered and the batch still spans the same offsets; each kept record
//! keeps its own offset and timestamp deltas. The records section is compressed again with
//! the batch's codec and the CRC recomputed. A batch may end up with no record, which
//! compaction keeps for a producer's last batch.

use bytes::Bytes;

use super::batch::{BatchError, BatchHeader, CRC_START, HEADER_LEN, LOG_OVERHEAD};
use super::compression::compress;
use super::records::Record;
use super::varint::{put_varint, put_varlong, varint_len, varlong_len};

/// Offset of the CRC field in the header.
const CRC_AT: usize = 17;
/// The compression codec's bits in the attributes.
const COMPRESSION_MASK: i16 = 0x07;

/// `original`'s batch holding only `records` (a subset of its records, in order).
pub fn rebuild_batch(original: &BatchHeader, records: &[Record]) -> Result<Bytes, BatchError> {
    let mut body = Vec::new();
    for r in records {
        encode_record(&mut body, r)?;
    }
    let codec = original.compression()?;
    let mut out = Vec::with_capacity(HEADER_LEN + body.len());
    out.resize(HEADER_LEN, 0);
    if body.is_empty() || codec == super::batch::Compression::None {
        out.extend_from_slice(&body);
    } else {
        compress(codec, &body, &mut out)?;
    }
    let batch_length = out
        .len()
        .checked_sub(LOG_OVERHEAD)
        .and_then(|n| i32::try_from(n).ok())
        .ok_or_else(|| BatchError::Build(format!("batch of {} bytes is too large", out.len())))?;
    let count = i32::try_from(records.len())
        .map_err(|_| BatchError::Build("more than i32::MAX records".to_owned()))?;
    let mut header = Vec::with_capacity(HEADER_LEN);
    header.extend_from_slice(&original.base_offset.to_be_bytes());
    header.extend_from_slice(&batch_length.to_be_bytes());
    header.extend_from_slice(&original.partition_leader_epoch.to_be_bytes());
    header.push(2);
    header.extend_from_slice(&[0; 4]);
    // A batch left with no records is written uncompressed, as Kafka's cleaner does: a
    // codec over zero bytes is not a valid compressed stream for every codec.
    let attributes = if body.is_empty() {
        original.attributes & !COMPRESSION_MASK
    } else {
        original.attributes
    };
    header.extend_from_slice(&attributes.to_be_bytes());
    header.extend_from_slice(&original.last_offset_delta.to_be_bytes());
    header.extend_from_slice(&original.base_timestamp.to_be_bytes());
    header.extend_from_slice(&original.max_timestamp.to_be_bytes());
    header.extend_from_slice(&original.producer_id.to_be_bytes());
    header.extend_from_slice(&original.producer_epoch.to_be_bytes());
    header.extend_from_slice(&original.base_sequence.to_be_bytes());
    header.extend_from_slice(&count.to_be_bytes());
    if let Some(dst) = out.get_mut(..HEADER_LEN) {
        dst.copy_from_slice(&header);
    }
    let crc = crc32c::crc32c(out.get(CRC_START..).unwrap_or_default());
    if let Some(dst) = out.get_mut(CRC_AT..CRC_AT + 4) {
        dst.copy_from_slice(&crc.to_be_bytes());
    }
    Ok(Bytes::from(out))
}

fn len_i32(n: usize) -> Result<i32, BatchError> {
    i32::try_from(n).map_err(|_| BatchError::Build(format!("length {n} does not fit a varint")))
}

fn field_len(b: Option<&[u8]>) -> Result<usize, BatchError> {
    Ok(match b {
        None => varint_len(-1),
        Some(b) => varint_len(len_i32(b.len())?) + b.len(),
    })
}

fn put_field(out: &mut Vec<u8>, b: Option<&[u8]>) -> Result<(), BatchError> {
    match b {
        None => put_varint(out, -1),
        Some(b) => {
            put_varint(out, len_i32(b.len())?);
            out.extend_from_slice(b);
        }
    }
    Ok(())
}

/// Appends one record with its stored deltas and attributes.
fn encode_record(out: &mut Vec<u8>, r: &Record) -> Result<(), BatchError> {
    let key = r.key.as_deref();
    let value = r.value.as_deref();
    let header_count = len_i32(r.headers.len())?;
    let mut body = 1 + varlong_len(r.timestamp_delta) + varint_len(r.offset_delta);
    body += field_len(key)? + field_len(value)? + varint_len(header_count);
    for (k, v) in &r.headers {
        body += field_len(Some(k.as_bytes()))? + field_len(v.as_deref())?;
    }
    put_varint(out, len_i32(body)?);
    out.push(r.attributes as u8);
    put_varlong(out, r.timestamp_delta);
    put_varint(out, r.offset_delta);
    put_field(out, key)?;
    put_field(out, value)?;
    put_varint(out, header_count);
    for (k, v) in &r.headers {
        put_field(out, Some(k.as_bytes()))?;
        put_field(out, v.as_deref())?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{BatchBuilder, Compression, RecordBatch};

    #[test]
    fn kept_records_keep_their_offsets_and_the_batch_its_span() {
        for codec in [
            Compression::None,
            Compression::Gzip,
            Compression::Lz4,
            Compression::Zstd,
        ] {
            let mut b = BatchBuilder::new(codec, 1_000);
            b.set_producer(7, 2, 40);
            for i in 0..6u8 {
                let key = [b'k', i % 3];
                let headers = [("h", Some(&b"x"[..]))];
                b.push(
                    Some(&key),
                    (i != 4).then_some(&[i][..]),
                    &headers,
                    1_000 + i64::from(i),
                )
                .unwrap();
            }
            let mut bytes = b.build().unwrap().to_vec();
            crate::record::batch::set_base_offset(&mut bytes, 100);
            let batch = RecordBatch::parse(Bytes::from(bytes)).unwrap();
            let all = batch.records(1 << 20).unwrap();
            let keep: Vec<Record> = all.iter().filter(|r| r.offset % 2 == 1).cloned().collect();
            let rebuilt = rebuild_batch(batch.header(), &keep).unwrap();
            let again = RecordBatch::parse(rebuilt).unwrap();
            let h = again.header();
            assert_eq!(
                (h.base_offset, h.last_offset_delta, h.record_count),
                (100, 5, 3)
            );
            assert_eq!(
                (h.producer_id, h.producer_epoch, h.base_sequence),
                (7, 2, 40)
            );
            assert_eq!(h.compression().unwrap(), codec);
            assert_eq!(again.records(1 << 20).unwrap(), keep);
            let empty = RecordBatch::parse(rebuild_batch(batch.header(), &[]).unwrap()).unwrap();
            assert_eq!((empty.header().record_count, empty.last_offset()), (0, 105));
        }
    }

    #[test]
    fn an_emptied_batch_of_any_codec_is_written_uncompressed_and_reads_back() {
        for codec in [
            Compression::Gzip,
            Compression::Snappy,
            Compression::Lz4,
            Compression::Zstd,
        ] {
            let mut b = BatchBuilder::new(codec, 1_000);
            b.push(Some(b"k"), Some(b"v"), &[], 1_000).unwrap();
            let batch = RecordBatch::parse(b.build().unwrap()).unwrap();
            let empty = RecordBatch::parse(rebuild_batch(batch.header(), &[]).unwrap()).unwrap();
            assert_eq!(
                empty.header().compression().unwrap(),
                Compression::None,
                "{codec:?}"
            );
            assert!(empty.records(1 << 20).unwrap().is_empty(), "{codec:?}");
        }
    }
}
