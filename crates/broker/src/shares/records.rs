//! What a ShareFetch read holds for acquisition: the offsets of its records with their
//! delivery times (Weir's `weir-deliver-at` header, epoch milliseconds as decimal text),
//! and the part of the read that covers what was acquired.

use bytes::Bytes;
use tracing::warn;
use weir_coordinator::share::{AcquiredRange, Candidate};
use weir_protocol::record::records::Batches;
use weir_storage::AbortedTxn;

/// The header that holds a record back from share consumers until a time (epoch ms).
pub(crate) const DELIVER_AT_HEADER: &str = "weir-deliver-at";

/// Bounds the decompressed size of one batch read for its headers.
const MAX_UNCOMPRESSED: usize = 64 << 20;

/// The records of `bytes` (whole batches) in offset order, up to the end of the batch that
/// brings their number to `limit`, and the offset after the last batch looked at; control
/// batches and the records of `aborted` transactions hold none.
/// `delay_ms` (the topic's `delivery.delay.ms`) holds every record back from its timestamp.
pub(crate) fn candidates(
    bytes: &Bytes,
    limit: usize,
    delay_ms: i64,
    aborted: &[AbortedTxn],
) -> (Vec<Candidate>, Option<i64>) {
    let mut out = Vec::new();
    let mut upto = None;
    for batch in Batches::new(bytes.clone()) {
        if out.len() >= limit {
            break;
        }
        let Ok(batch) = batch else { break };
        upto = Some(batch.last_offset() + 1);
        if batch.is_control() {
            continue;
        }
        let producer = batch.header().producer_id;
        if batch.is_transactional()
            && aborted
                .iter()
                .any(|a| a.covers(producer, batch.base_offset()))
        {
            continue;
        }
        match batch.records(MAX_UNCOMPRESSED) {
            Ok(records) => {
                for r in records {
                    let header = r
                        .headers
                        .iter()
                        .find(|(k, _)| k == DELIVER_AT_HEADER)
                        .and_then(|(_, v)| v.as_ref())
                        .and_then(|v| std::str::from_utf8(v).ok())
                        .and_then(|v| v.trim().parse::<i64>().ok());
                    let delayed = (delay_ms > 0).then(|| r.timestamp.saturating_add(delay_ms));
                    out.push(Candidate {
                        offset: r.offset,
                        deliver_at: header.max(delayed),
                    });
                }
            }
            Err(e) => {
                // The log validated it on append: this is damage. Deliver by offsets alone.
                warn!(base_offset = batch.base_offset(), error = %e, "cannot read a batch's records for share delivery");
                out.extend(
                    (batch.base_offset()..=batch.last_offset()).map(|offset| Candidate {
                        offset,
                        deliver_at: None,
                    }),
                );
            }
        }
    }
    (out, upto)
}

/// The batches of `bytes` that hold an acquired offset (the client skips the rest of a
/// batch by the acquired ranges).
pub(crate) fn covering(bytes: &Bytes, ranges: &[AcquiredRange]) -> Bytes {
    let (Some(first), Some(last)) = (ranges.first(), ranges.last()) else {
        return Bytes::new();
    };
    let (lo, hi) = (first.first, last.last);
    let mut start = None;
    let mut end = 0usize;
    let mut batches = Batches::new(bytes.clone());
    loop {
        let at = batches.position();
        let Some(Ok(batch)) = batches.next() else {
            break;
        };
        if batch.last_offset() < lo {
            continue;
        }
        if batch.base_offset() > hi {
            break;
        }
        start.get_or_insert(at);
        end = batches.position();
    }
    match start {
        Some(s) if s < end => bytes.slice(s..end),
        _ => Bytes::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use weir_protocol::record::builder::BatchBuilder;
    use weir_protocol::record::{end_txn_marker_batch, Compression};

    fn txn_batch(base: i64, n: i32, pid: i64) -> Vec<u8> {
        let mut b = BatchBuilder::new(Compression::None, 0);
        b.set_producer(pid, 0, 0);
        b.set_transactional(true);
        for i in 0..n {
            b.push(None, Some(format!("v{i}").as_bytes()), &[], 0)
                .unwrap();
        }
        let mut bytes = b.build().unwrap().to_vec();
        weir_protocol::record::batch::set_base_offset(&mut bytes, base);
        bytes
    }

    #[test]
    fn an_aborted_transaction_hides_only_its_own_records() {
        let pid = 7;
        let mut log = Vec::new();
        log.extend(txn_batch(0, 3, pid));
        let mut abort = end_txn_marker_batch(pid, 0, false, 0, 0).unwrap().to_vec();
        weir_protocol::record::batch::set_base_offset(&mut abort, 3);
        log.extend(abort);
        log.extend(txn_batch(4, 3, pid));
        let aborted = AbortedTxn {
            producer_id: pid,
            first_offset: 0,
            last_offset: 3,
            last_stable_offset: 4,
        };
        let (c, upto) = candidates(&Bytes::from(log), usize::MAX, 0, &[aborted]);
        let offsets: Vec<i64> = c.iter().map(|c| c.offset).collect();
        assert_eq!(
            offsets,
            vec![4, 5, 6],
            "the committed transaction after the abort is read"
        );
        assert_eq!(upto, Some(7));
    }
}
