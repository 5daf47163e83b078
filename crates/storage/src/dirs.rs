//! Names of partition directories and of the files inside them.
//!
//! A partition directory is `<topic>-<partition>`; inside it each segment is three files named
//! by the segment's base offset as 20 zero-padded digits: `.log` (the batches), `.index`
//! (sparse offset index) and `.timeindex` (sparse time index), and `.txnindex` (aborted
//! transactions) once one was aborted there. `log.checkpoint` holds the recovery point and
//! the log start offset; `<offset>.snapshot` files hold producer state.

use std::path::{Path, PathBuf};

/// Suffix of a segment's data file.
pub(crate) const LOG_SUFFIX: &str = ".log";
/// Suffix of a segment's offset index file.
pub(crate) const INDEX_SUFFIX: &str = ".index";
/// Suffix of a segment's time index file.
pub(crate) const TIME_INDEX_SUFFIX: &str = ".timeindex";
/// Suffix of a segment's aborted-transaction index file.
pub(crate) const TXN_INDEX_SUFFIX: &str = ".txnindex";
/// Suffix of a file being written before it is renamed into place.
pub(crate) const TMP_SUFFIX: &str = ".tmp";
/// Name of the partition's checkpoint file.
pub(crate) const CHECKPOINT_FILE: &str = "log.checkpoint";

const OFFSET_DIGITS: usize = 20;

/// The directory name of a partition: `"<topic>-<partition>"`.
pub fn partition_dir_name(topic: &str, partition: i32) -> String {
    format!("{topic}-{partition}")
}

/// Splits a partition directory name at its last `-` into topic and partition
/// (`"my-topic-3"` -> `("my-topic", 3)`); `None` if it is not such a name.
pub fn parse_partition_dir_name(name: &str) -> Option<(String, i32)> {
    let (topic, partition) = name.rsplit_once('-')?;
    if topic.is_empty() || partition.is_empty() || !partition.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let partition = partition.parse::<i32>().ok()?;
    Some((topic.to_owned(), partition))
}

/// The file name stem of the segment starting at `base_offset`: 20 zero-padded digits.
pub(crate) fn segment_stem(base_offset: i64) -> String {
    format!("{base_offset:0OFFSET_DIGITS$}")
}

/// Path of a segment file with `suffix` (one of the `*_SUFFIX` constants).
pub(crate) fn segment_path(dir: &Path, base_offset: i64, suffix: &str) -> PathBuf {
    dir.join(format!("{}{suffix}", segment_stem(base_offset)))
}

/// What a file name in a partition directory is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FileKind {
    /// A segment's `.log` file.
    Log(i64),
    /// A segment's `.index` file.
    Index(i64),
    /// A segment's `.timeindex` file.
    TimeIndex(i64),
    /// A segment's `.txnindex` file.
    TxnIndex(i64),
    /// A leftover `*.tmp` file from an interrupted write.
    Tmp,
    /// The checkpoint file.
    Checkpoint,
    /// Anything else (left alone).
    Other,
}

/// Classifies a file name found in a partition directory.
pub(crate) fn classify(name: &str) -> FileKind {
    if name == CHECKPOINT_FILE {
        return FileKind::Checkpoint;
    }
    if name.ends_with(TMP_SUFFIX) {
        return FileKind::Tmp;
    }
    let parse = |stem: &str| -> Option<i64> {
        if stem.len() == OFFSET_DIGITS && stem.bytes().all(|b| b.is_ascii_digit()) {
            stem.parse::<i64>().ok()
        } else {
            None
        }
    };
    if let Some(base) = name.strip_suffix(LOG_SUFFIX).and_then(parse) {
        FileKind::Log(base)
    } else if let Some(base) = name.strip_suffix(INDEX_SUFFIX).and_then(parse) {
        FileKind::Index(base)
    } else if let Some(base) = name.strip_suffix(TIME_INDEX_SUFFIX).and_then(parse) {
        FileKind::TimeIndex(base)
    } else if let Some(base) = name.strip_suffix(TXN_INDEX_SUFFIX).and_then(parse) {
        FileKind::TxnIndex(base)
    } else {
        FileKind::Other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partition_names_round_trip() {
        assert_eq!(partition_dir_name("my-topic", 3), "my-topic-3");
        assert_eq!(
            parse_partition_dir_name("my-topic-3"),
            Some(("my-topic".to_owned(), 3))
        );
        assert_eq!(parse_partition_dir_name("t-0"), Some(("t".to_owned(), 0)));
        assert_eq!(parse_partition_dir_name("t"), None);
        assert_eq!(parse_partition_dir_name("-3"), None);
        assert_eq!(parse_partition_dir_name("t-"), None);
        assert_eq!(parse_partition_dir_name("t--3"), Some(("t-".to_owned(), 3)));
        assert_eq!(parse_partition_dir_name("t-+3"), None);
        assert_eq!(parse_partition_dir_name("t-3.abc-delete"), None);
        assert_eq!(parse_partition_dir_name("t-99999999999"), None);
    }

    #[test]
    fn segment_names() {
        assert_eq!(segment_stem(0), "00000000000000000000");
        assert_eq!(segment_stem(1234), "00000000000000001234");
        assert_eq!(classify("00000000000000001234.log"), FileKind::Log(1234));
        assert_eq!(
            classify("00000000000000001234.index"),
            FileKind::Index(1234)
        );
        assert_eq!(
            classify("00000000000000001234.timeindex"),
            FileKind::TimeIndex(1234)
        );
        assert_eq!(
            classify("00000000000000001234.txnindex"),
            FileKind::TxnIndex(1234)
        );
        assert_eq!(classify("00000000000000001234.index.tmp"), FileKind::Tmp);
        assert_eq!(classify("log.checkpoint"), FileKind::Checkpoint);
        assert_eq!(classify("1234.log"), FileKind::Other);
        assert_eq!(classify("0000000000000000123x.log"), FileKind::Other);
        assert_eq!(classify("99999999999999999999.log"), FileKind::Other);
    }
}
