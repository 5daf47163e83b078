//! Reading settings out of a `server.properties`-style key map: each key taken once, so
//! that what is left over can be reported as unknown.

use std::collections::BTreeMap;
use std::str::FromStr;

/// Takes `key` out of the file settings, parsed as `T`.
pub(crate) fn take<T: FromStr>(
    file: &mut BTreeMap<String, String>,
    key: &str,
) -> anyhow::Result<Option<T>>
where
    T::Err: std::fmt::Display,
{
    match file.remove(key) {
        None => Ok(None),
        Some(v) => v
            .parse()
            .map(Some)
            .map_err(|e| anyhow::anyhow!("config key {key}={v}: {e}")),
    }
}
