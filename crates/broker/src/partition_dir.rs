//! A partition directory's identity on disk: the marker that names the topic id it belongs
//! to, and retiring a directory that the metadata log says belongs to no current topic
//! (renamed aside with Kafka's `-delete` suffix first, removed after a delay).
//!
//! Nothing here deletes data because a marker is missing, empty or unreadable: only a
//! well-formed marker naming another topic id, or the metadata log deleting the topic,
//! retires a directory.

use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tracing::{error, info, warn};
use weir_storage::durable;

/// File in each partition dir that names the topic id the dir belongs to.
pub(crate) const PARTITION_METADATA: &str = "partition.metadata";
/// Suffix of a retired partition dir waiting to be removed (Kafka's).
const DELETE_SUFFIX: &str = "-delete";
/// Longest marker read (a topic id in hex and a newline; Kafka's form is longer).
const MAX_MARKER_BYTES: u64 = 4096;

/// What a partition dir's marker says about the topic it belongs to.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Marker {
    /// It names the expected topic id.
    Ours,
    /// It is missing, empty, torn or unreadable: no evidence either way (the reason).
    Unknown(String),
    /// It names another topic id (the id as written).
    Other(String),
}

/// Reads the marker of `dir` and compares it with `id_hex`, the topic id in lowercase hex.
pub(crate) fn read_marker(dir: &Path, id_hex: &str) -> Marker {
    let path = dir.join(PARTITION_METADATA);
    match std::fs::metadata(&path) {
        Ok(m) if m.len() > MAX_MARKER_BYTES => {
            return Marker::Unknown(format!("{} bytes long", m.len()));
        }
        Ok(_) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Marker::Unknown("missing".into()),
        Err(e) => return Marker::Unknown(e.to_string()),
    }
    let text = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) => return Marker::Unknown(e.to_string()),
    };
    let Ok(text) = std::str::from_utf8(&text) else {
        return Marker::Unknown("not text".into());
    };
    let id = text.trim();
    if id.is_empty() {
        return Marker::Unknown("empty".into());
    }
    // A topic id is 16 bytes: a whole marker is exactly 32 hex digits.
    if id.len() != 32 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Marker::Unknown("not a topic id".into());
    }
    if id.eq_ignore_ascii_case(id_hex) {
        Marker::Ours
    } else {
        Marker::Other(id.to_ascii_lowercase())
    }
}

/// Writes the marker of `dir` naming `id_hex`, durably (temporary file, fsync, rename).
pub(crate) fn write_marker(dir: &Path, id_hex: &str) -> io::Result<()> {
    durable::write_atomic(
        &dir.join(PARTITION_METADATA),
        format!("{id_hex}\n").as_bytes(),
    )
}

/// Renames `dir` aside as `<dir>.<tag>-delete` (durably) and returns the new path; the
/// data is gone from the partition's place but still on disk until [`remove_later`].
pub(crate) fn retire(dir: &Path, tag: &str) -> io::Result<PathBuf> {
    let name = dir
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| io::Error::other(format!("odd partition dir {}", dir.display())))?;
    let mut n = 0u32;
    let aside = loop {
        let suffix = if n == 0 {
            String::new()
        } else {
            format!("-{n}")
        };
        let candidate = dir.with_file_name(format!("{name}.{tag}{suffix}{DELETE_SUFFIX}"));
        if !candidate.exists() {
            break candidate;
        }
        n += 1;
    };
    durable::rename(dir, &aside)?;
    Ok(aside)
}

/// Retired partition dirs left in `data_dir` (by an earlier run that stopped before it
/// removed them).
pub(crate) fn retired_in(data_dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(data_dir) else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok())
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.ends_with(DELETE_SUFFIX))
        })
        .collect()
}

/// Removes the retired dir `aside` after `delay` (`log.segment.delete.delay.ms`), off the
/// caller's thread; without a runtime it stays until the next start removes it.
pub(crate) fn remove_later(aside: PathBuf, delay: Duration) {
    let Ok(rt) = tokio::runtime::Handle::try_current() else {
        warn!(dir = %aside.display(), "no runtime to remove a retired partition dir; the next start will");
        return;
    };
    rt.spawn(async move {
        tokio::time::sleep(delay).await;
        let path = aside.clone();
        let removed = tokio::task::spawn_blocking(move || std::fs::remove_dir_all(&path)).await;
        match removed {
            Ok(Ok(())) => {
                if let Some(parent) = aside.parent() {
                    let _ = durable::sync_dir(parent);
                }
                info!(dir = %aside.display(), "removed retired partition dir");
            }
            Ok(Err(e)) => {
                error!(dir = %aside.display(), error = %e, "could not remove a retired partition dir")
            }
            Err(e) => error!(dir = %aside.display(), error = %e, "removing a retired partition dir failed"),
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "00112233445566778899aabbccddeeff";

    #[test]
    fn markers_that_prove_nothing_are_unknown() -> io::Result<()> {
        let dir = tempfile::tempdir()?;
        let d = dir.path();
        assert!(matches!(read_marker(d, ID), Marker::Unknown(_)));
        for torn in ["", "\n", "0011223344", "zz112233445566778899aabbccddeeff"] {
            std::fs::write(d.join(PARTITION_METADATA), torn)?;
            assert!(
                matches!(read_marker(d, ID), Marker::Unknown(_)),
                "{torn:?} is no evidence"
            );
        }
        std::fs::write(d.join(PARTITION_METADATA), [0u8; 32])?;
        assert!(matches!(read_marker(d, ID), Marker::Unknown(_)));
        Ok(())
    }

    #[test]
    fn a_whole_marker_is_ours_or_names_another_topic() -> io::Result<()> {
        let dir = tempfile::tempdir()?;
        let d = dir.path();
        write_marker(d, ID)?;
        assert_eq!(read_marker(d, ID), Marker::Ours);
        let other = "ffeeddccbbaa99887766554433221100";
        assert_eq!(read_marker(d, other), Marker::Other(ID.to_owned()));
        Ok(())
    }

    #[test]
    fn retire_renames_aside_and_is_listed() -> io::Result<()> {
        let dir = tempfile::tempdir()?;
        let p = dir.path().join("orders-0");
        std::fs::create_dir(&p)?;
        std::fs::write(p.join("00000000000000000000.log"), b"data")?;
        let a = retire(&p, "t1")?;
        assert!(!p.exists());
        assert_eq!(std::fs::read(a.join("00000000000000000000.log"))?, b"data");
        std::fs::create_dir(&p)?;
        let b = retire(&p, "t1")?;
        assert_ne!(a, b);
        let mut listed = retired_in(dir.path());
        listed.sort();
        let mut want = vec![a, b];
        want.sort();
        assert_eq!(listed, want);
        assert_eq!(
            weir_storage::parse_partition_dir_name("orders-0.t1-delete"),
            None
        );
        Ok(())
    }
}
