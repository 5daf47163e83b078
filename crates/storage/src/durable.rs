//! Files that recovery trusts, made durable before anything relies on them.
//!
//! A small file (a marker, a checkpoint, a snapshot) is replaced whole: written to a
//! temporary file beside it, fsynced, renamed over the old one, and the directory fsynced,
//! so after a power loss it holds either the old content or the new, never a torn or empty
//! file. Creating, renaming or removing a directory entry is durable once the directory
//! holding it is fsynced; the helpers here do that too.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use crate::dirs::TMP_SUFFIX;
use crate::error::StorageError;

/// Fsyncs the directory `dir`, making the entries created, renamed or removed in it durable.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// The directory holding `path` (`.` for a bare file name).
fn parent_of(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// Replaces `path` with `bytes`: temporary file, fsync, rename, directory fsync.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let tmp = PathBuf::from(format!("{}{TMP_SUFFIX}", path.display()));
    let mut f = File::create(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    drop(f);
    fs::rename(&tmp, path)?;
    sync_dir(parent_of(path))
}

/// Creates `dir` and any missing parents, fsyncing the directory above each one created.
pub fn create_dir_all(dir: &Path) -> io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    let mut missing = Vec::new();
    let mut at = Some(dir);
    while let Some(d) = at {
        if d.as_os_str().is_empty() || d.is_dir() {
            break;
        }
        missing.push(d);
        at = d.parent();
    }
    fs::create_dir_all(dir)?;
    for d in missing.iter().rev() {
        sync_dir(parent_of(d))?;
    }
    Ok(())
}

/// Renames `from` to `to` and fsyncs the directories of both.
pub fn rename(from: &Path, to: &Path) -> io::Result<()> {
    fs::rename(from, to)?;
    let (a, b) = (parent_of(from), parent_of(to));
    sync_dir(b)?;
    if a != b {
        sync_dir(a)?;
    }
    Ok(())
}

/// Removes the file `path` (a missing one is fine) and fsyncs its directory.
pub fn remove_file(path: &Path) -> io::Result<()> {
    match fs::remove_file(path) {
        Ok(()) => sync_dir(parent_of(path)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

/// Removes a file, treating "not found" as done.
pub(crate) fn remove_if_exists(path: &Path) -> Result<(), StorageError> {
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(StorageError::io(format!("removing {}", path.display()), e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_atomic_replaces_whole_and_leaves_no_temporary() -> io::Result<()> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("marker");
        write_atomic(&path, b"one")?;
        write_atomic(&path, b"two, longer")?;
        assert_eq!(fs::read(&path)?, b"two, longer");
        let names: Vec<_> = fs::read_dir(dir.path())?
            .filter_map(|e| e.ok().map(|e| e.file_name()))
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("marker")]);
        Ok(())
    }

    #[test]
    fn create_dir_all_makes_nested_dirs_and_is_idempotent() -> io::Result<()> {
        let dir = tempfile::tempdir()?;
        let deep = dir.path().join("a").join("b").join("c");
        create_dir_all(&deep)?;
        assert!(deep.is_dir());
        create_dir_all(&deep)?;
        Ok(())
    }

    #[test]
    fn rename_and_remove_file() -> io::Result<()> {
        let dir = tempfile::tempdir()?;
        let a = dir.path().join("a");
        let sub = dir.path().join("sub");
        fs::create_dir(&sub)?;
        let b = sub.join("b");
        write_atomic(&a, b"x")?;
        rename(&a, &b)?;
        assert!(!a.exists());
        assert_eq!(fs::read(&b)?, b"x");
        remove_file(&b)?;
        assert!(!b.exists());
        remove_file(&b)?;
        Ok(())
    }
}
