//! The cleaner's checkpoint: how far a partition's log has been compacted. `cleaner.checkpoint`
//! in the partition directory holds that offset (i64) and a CRC32C of it, replaced
//! atomically; a missing or damaged file means nothing was cleaned yet.

use std::fs;
use std::io::Write;
use std::path::Path;

use crate::error::{IoContext, StorageError};

/// Name of the file in the partition directory.
pub(crate) const FILE: &str = "cleaner.checkpoint";

/// The offset below which the log was last compacted, if recorded.
pub(crate) fn read(dir: &Path) -> Option<i64> {
    let b = fs::read(dir.join(FILE)).ok()?;
    let (v, crc) = b.split_first_chunk::<8>()?;
    let crc: [u8; 4] = crc.try_into().ok()?;
    (crc32c::crc32c(v) == u32::from_be_bytes(crc)).then(|| i64::from_be_bytes(*v))
}

/// Records that the log is compacted below `offset` (write, fsync, rename).
pub(crate) fn write(dir: &Path, offset: i64) -> Result<(), StorageError> {
    let v = offset.to_be_bytes();
    let mut b = v.to_vec();
    b.extend_from_slice(&crc32c::crc32c(&v).to_be_bytes());
    let path = dir.join(FILE);
    let tmp = dir.join(format!("{FILE}.tmp"));
    let mut f = fs::File::create(&tmp).ctx(|| format!("creating {}", tmp.display()))?;
    f.write_all(&b)
        .and_then(|()| f.sync_all())
        .ctx(|| format!("writing {}", tmp.display()))?;
    fs::rename(&tmp, &path).ctx(|| format!("renaming {}", tmp.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_damage() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(read(dir.path()), None);
        write(dir.path(), 1234).unwrap();
        assert_eq!(read(dir.path()), Some(1234));
        let p = dir.path().join(FILE);
        let mut b = fs::read(&p).unwrap();
        b[3] ^= 1;
        fs::write(&p, b).unwrap();
        assert_eq!(read(dir.path()), None);
    }
}
