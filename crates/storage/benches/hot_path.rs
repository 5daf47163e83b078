//! The log on the small-request hot path (issue 16): appending a one-record batch, and a
//! tailing consumer's read of the last batch. `cargo bench -p weir-storage`; compare before
//! and after a change on the same machine.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)] // bench code

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use weir_protocol::record::{BatchBuilder, Compression};
use weir_storage::{Log, LogConfig};

fn one_record_batch() -> Vec<u8> {
    let value = [b'x'; 100];
    let mut b = BatchBuilder::new(Compression::None, 1_700_000_000_000);
    b.push(None, Some(&value), &[], 1_700_000_000_000).unwrap();
    b.build().unwrap().to_vec()
}

fn hot_path(c: &mut Criterion) {
    let tmp = tempfile::tempdir().unwrap();
    let mut log = Log::open(tmp.path(), LogConfig::default(), 0).unwrap();
    let batch = one_record_batch();
    c.bench_function("append a one-record batch (no fsync)", |b| {
        b.iter(|| {
            let mut one = batch.clone();
            log.append(black_box(&mut one), 0).unwrap()
        })
    });
    let end = log.log_end_offset();
    c.bench_function("read the last batch, as a tailing fetch", |b| {
        b.iter(|| log.read(black_box(end - 1), 1 << 20, end, true).unwrap())
    });
}

criterion_group!(benches, hot_path);
criterion_main!(benches);
