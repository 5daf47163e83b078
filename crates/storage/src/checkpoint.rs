//! The partition's checkpoint file: recovery point, log start offset and a clean-shutdown
//! flag, replaced atomically (write a temporary file, fsync, rename, fsync the directory).
//!
//! Layout (26 bytes, big-endian): magic `WLCP`, version u8 (1), flags u8 (bit 0: clean
//! shutdown), recovery point i64, log start offset i64, CRC32C of the preceding 22 bytes.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::Path;

use crate::dirs::{CHECKPOINT_FILE, TMP_SUFFIX};
use crate::error::{IoContext, StorageError};

const MAGIC: &[u8; 4] = b"WLCP";
const VERSION: u8 = 1;
const LEN: usize = 26;
const CLEAN: u8 = 1;

/// What the checkpoint file records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Checkpoint {
    /// Every offset below this was fsynced.
    pub(crate) recovery_point: i64,
    /// No offset below this is readable.
    pub(crate) log_start_offset: i64,
    /// Written by `Log::close`: nothing was appended after it.
    pub(crate) clean_shutdown: bool,
}

impl Checkpoint {
    fn encode(&self) -> [u8; LEN] {
        let mut b = [0u8; LEN];
        let mut body = Vec::with_capacity(LEN);
        body.extend_from_slice(MAGIC);
        body.push(VERSION);
        body.push(if self.clean_shutdown { CLEAN } else { 0 });
        body.extend_from_slice(&self.recovery_point.to_be_bytes());
        body.extend_from_slice(&self.log_start_offset.to_be_bytes());
        let crc = crc32c::crc32c(&body);
        body.extend_from_slice(&crc.to_be_bytes());
        b.copy_from_slice(&body);
        b
    }

    fn decode(bytes: &[u8]) -> Result<Self, String> {
        if bytes.len() != LEN {
            return Err(format!("length {} instead of {LEN}", bytes.len()));
        }
        let (body, crc) = bytes.split_at(LEN - 4);
        let stored = u32::from_be_bytes([crc[0], crc[1], crc[2], crc[3]]);
        if crc32c::crc32c(body) != stored {
            return Err("CRC mismatch".to_owned());
        }
        if &body[..4] != MAGIC || body[4] != VERSION {
            return Err("unknown magic or version".to_owned());
        }
        let i64_at = |at: usize| {
            let mut a = [0u8; 8];
            a.copy_from_slice(&body[at..at + 8]);
            i64::from_be_bytes(a)
        };
        Ok(Self {
            clean_shutdown: body[5] & CLEAN != 0,
            recovery_point: i64_at(6),
            log_start_offset: i64_at(14),
        })
    }
}

/// Reads the checkpoint in `dir`; `None` if there is none or it is unreadable (a warning
/// names why: the log then recovers from its first segment).
pub(crate) fn read(dir: &Path) -> Result<Option<Checkpoint>, StorageError> {
    let path = dir.join(CHECKPOINT_FILE);
    let bytes = match fs::metadata(&path) {
        Ok(m) if m.len() > LEN as u64 => {
            tracing::warn!(file = %path.display(), len = m.len(), "checkpoint too long; ignoring it");
            return Ok(None);
        }
        Ok(_) => fs::read(&path).ctx(|| format!("reading {}", path.display()))?,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(StorageError::io(format!("stat {}", path.display()), e)),
    };
    match Checkpoint::decode(&bytes) {
        Ok(c) => Ok(Some(c)),
        Err(reason) => {
            tracing::warn!(file = %path.display(), %reason, "unreadable checkpoint; ignoring it");
            Ok(None)
        }
    }
}

/// Replaces the checkpoint in `dir` atomically.
pub(crate) fn write(dir: &Path, cp: &Checkpoint) -> Result<(), StorageError> {
    let path = dir.join(CHECKPOINT_FILE);
    let tmp = dir.join(format!("{CHECKPOINT_FILE}{TMP_SUFFIX}"));
    let ctx = |what: &str| format!("{what} {}", tmp.display());
    let mut f = File::create(&tmp).ctx(|| ctx("creating"))?;
    f.write_all(&cp.encode()).ctx(|| ctx("writing"))?;
    f.sync_all().ctx(|| ctx("syncing"))?;
    drop(f);
    fs::rename(&tmp, &path).ctx(|| format!("renaming to {}", path.display()))?;
    crate::durable::sync_dir(dir).ctx(|| format!("syncing directory {}", dir.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_corruption() -> Result<(), StorageError> {
        let tmp = tempfile::tempdir().map_err(|e| StorageError::io("tempdir", e))?;
        let dir = tmp.path();
        assert_eq!(read(dir)?, None);
        let cp = Checkpoint {
            recovery_point: 42,
            log_start_offset: 7,
            clean_shutdown: true,
        };
        write(dir, &cp)?;
        assert_eq!(read(dir)?, Some(cp));
        let path = dir.join(CHECKPOINT_FILE);
        let mut bytes = fs::read(&path).map_err(|e| StorageError::io("read", e))?;
        bytes[10] ^= 1;
        fs::write(&path, &bytes).map_err(|e| StorageError::io("write", e))?;
        assert_eq!(read(dir)?, None);
        fs::write(&path, vec![0u8; 1000]).map_err(|e| StorageError::io("write", e))?;
        assert_eq!(read(dir)?, None);
        Ok(())
    }
}
