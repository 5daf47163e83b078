//! A property test of `Log` against a simple model: a Vec of the batches in the log.
#![allow(clippy::unwrap_used, clippy::expect_used)] // test code: a panic is a failure

mod common;

use common::batch::TestBatch;
use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};

use common::{headers, read_all, seg_file, segment_bases};
use proptest::prelude::*;
use weir_protocol::record::batch::BatchHeader;
use weir_storage::{Log, LogConfig, StorageError};

#[derive(Debug, Clone)]
enum Op {
    Append {
        timestamps: Vec<i64>,
        value_len: usize,
    },
    Read {
        pick: usize,
        max_bytes: usize,
        bound_pick: usize,
        min_one: bool,
    },
    Timestamp {
        ts: i64,
    },
    Sync,
    Reopen {
        close: bool,
    },
    Truncate {
        pick: usize,
    },
    DeleteBefore {
        pick: usize,
        roll: bool,
    },
    /// Crash, append garbage to the last segment file, reopen.
    Garbage {
        bytes: Vec<u8>,
    },
    /// Crash, cut the last segment file inside its last batch, reopen.
    CutTail {
        pick: usize,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (prop::collection::vec(0i64..1_000, 1..5), 0usize..200)
            .prop_map(|(timestamps, value_len)| Op::Append { timestamps, value_len }),
        3 => (any::<usize>(), 0usize..1_200, any::<usize>(), any::<bool>())
            .prop_map(|(pick, max_bytes, bound_pick, min_one)| Op::Read { pick, max_bytes, bound_pick, min_one }),
        1 => (-5i64..1_100).prop_map(|ts| Op::Timestamp { ts }),
        1 => Just(Op::Sync),
        1 => any::<bool>().prop_map(|close| Op::Reopen { close }),
        1 => any::<usize>().prop_map(|pick| Op::Truncate { pick }),
        1 => (any::<usize>(), any::<bool>()).prop_map(|(pick, roll)| Op::DeleteBefore { pick, roll }),
        1 => prop::collection::vec(any::<u8>(), 1..120).prop_map(|bytes| Op::Garbage { bytes }),
        1 => any::<usize>().prop_map(|pick| Op::CutTail { pick }),
    ]
}

/// The model: stored batches with their headers, and the log start offset.
struct Model {
    batches: Vec<(BatchHeader, Vec<u8>, Vec<i64>)>,
    log_start: i64,
}

impl Model {
    fn end(&self) -> i64 {
        self.batches
            .last()
            .map_or(self.log_start, |(h, _, _)| h.last_offset() + 1)
    }
    fn offsets(&self) -> Vec<i64> {
        (self.log_start..=self.end()).collect()
    }
    fn readable(&self) -> Vec<u8> {
        self.batches
            .iter()
            .filter(|(h, _, _)| h.last_offset() >= self.log_start)
            .flat_map(|(_, b, _)| b.clone())
            .collect()
    }
}

fn last_segment(dir: &Path) -> PathBuf {
    seg_file(dir, *segment_bases(dir).last().unwrap(), ".log")
}

fn run(config: LogConfig, ops: Vec<Op>) -> Result<(), TestCaseError> {
    let tmp = tempfile::tempdir().unwrap();
    let mut log = Log::open(tmp.path(), config.clone(), 0).unwrap();
    let mut model = Model {
        batches: Vec::new(),
        log_start: 0,
    };
    for op in ops {
        match op {
            Op::Append {
                timestamps,
                value_len,
            } => {
                let tb = TestBatch {
                    timestamps: timestamps.clone(),
                    value: vec![7; value_len],
                    log_append_time: None,
                };
                let mut b = tb.encode(-1);
                let info = log.append(&mut b, 0).unwrap();
                prop_assert_eq!(info.base_offset, model.end());
                let h = headers(&b)[0];
                model.batches.push((h, b, timestamps));
            }
            Op::Read {
                pick,
                max_bytes,
                bound_pick,
                min_one,
            } => {
                let offsets = model.offsets();
                let offset = offsets[pick % offsets.len()];
                let bound = offsets[bound_pick % offsets.len()];
                let r = log.read(offset, max_bytes, bound, min_one).unwrap();
                let got = headers(&r.bytes);
                let first = model
                    .batches
                    .iter()
                    .position(|(h, _, _)| h.last_offset() >= offset);
                match first {
                    None => prop_assert!(got.is_empty()),
                    Some(i) => {
                        let (fh, fb, _) = &model.batches[i];
                        let qualifies =
                            fh.last_offset() < bound && (fb.len() <= max_bytes || min_one);
                        prop_assert_eq!(!got.is_empty(), qualifies);
                        let expected: Vec<u8> = model.batches[i..i + got.len()]
                            .iter()
                            .flat_map(|(_, b, _)| b.clone())
                            .collect();
                        prop_assert_eq!(&r.bytes[..], &expected[..]);
                        prop_assert!(got.iter().all(|h| h.last_offset() < bound));
                        prop_assert!(got.len() <= 1 || r.bytes.len() <= max_bytes);
                    }
                }
            }
            Op::Timestamp { ts } => {
                let expected = model.batches.iter().find_map(|(h, _, tss)| {
                    tss.iter()
                        .enumerate()
                        .map(|(i, &t)| (h.base_offset + i as i64, t))
                        .find(|&(o, t)| t >= ts && o >= model.log_start)
                });
                prop_assert_eq!(log.offset_for_timestamp(ts).unwrap(), expected);
            }
            Op::Sync => {
                if let Some(t) = log.sync_target() {
                    log.mark_synced(t.sync().unwrap());
                }
                prop_assert_eq!(log.recovery_point(), log.log_end_offset());
            }
            Op::Reopen { close } => {
                if close {
                    log.close().unwrap();
                } else {
                    drop(log);
                }
                log = Log::open(tmp.path(), config.clone(), 0).unwrap();
            }
            Op::Truncate { pick } => {
                let offsets = model.offsets();
                let offset = offsets[pick % offsets.len()];
                log.truncate_to(offset).unwrap();
                model.batches.retain(|(h, _, _)| h.last_offset() < offset);
                if model.batches.is_empty() {
                    // Everything at or above the log start went: restarted at the start.
                    model.log_start = model.log_start.min(offset);
                }
            }
            Op::DeleteBefore { pick, roll } => {
                if roll {
                    log.roll(0).unwrap();
                }
                let offsets = model.offsets();
                let offset = offsets[pick % offsets.len()];
                log.delete_segments_before(offset).unwrap();
                let start = log.log_start_offset();
                prop_assert!(start >= model.log_start && start <= offset.max(model.log_start));
                model.batches.retain(|(h, _, _)| h.base_offset >= start);
                model.log_start = start;
            }
            Op::Garbage { bytes } => {
                drop(log);
                let path = last_segment(tmp.path());
                let mut f = OpenOptions::new().append(true).open(path).unwrap();
                f.write_all(&bytes).unwrap();
                drop(f);
                log = Log::open(tmp.path(), config.clone(), 0).unwrap();
            }
            Op::CutTail { pick } => {
                let path = last_segment(tmp.path());
                let len = std::fs::metadata(&path).unwrap().len();
                let last_len = match model.batches.last() {
                    Some((_, b, _)) if len > 0 && len >= b.len() as u64 => b.len() as u64,
                    _ => continue,
                };
                drop(log);
                let cut = 1 + (pick as u64) % last_len;
                OpenOptions::new()
                    .write(true)
                    .open(&path)
                    .unwrap()
                    .set_len(len - cut)
                    .unwrap();
                model.batches.pop();
                log = Log::open(tmp.path(), config.clone(), 0).unwrap();
            }
        }
        prop_assert_eq!(log.log_end_offset(), model.end());
        prop_assert_eq!(log.log_start_offset(), model.log_start);
        prop_assert_eq!(read_all(&log), model.readable());
        let below = model.log_start - 1;
        if below >= 0 {
            let out_of_range = matches!(
                log.read(below, 10, i64::MAX, true),
                Err(StorageError::OffsetOutOfRange { .. })
            );
            prop_assert!(out_of_range);
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn log_matches_model(
        segment_bytes in 200u64..2_000,
        index_interval_bytes in 0u32..600,
        ops in prop::collection::vec(op(), 1..60),
    ) {
        let config = LogConfig { segment_bytes, index_interval_bytes, ..LogConfig::default() };
        run(config, ops)?;
    }
}
