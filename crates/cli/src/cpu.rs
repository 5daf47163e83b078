//! A process's CPU seconds, for the benchmarks' reports.

/// `v` with two decimals, or `null`.
pub(crate) fn opt(v: Option<f64>) -> String {
    v.map_or("null".into(), |v| format!("{v:.2}"))
}

/// Kernel clock ticks per second (USER_HZ), 100 on Linux.
const CLOCK_TICKS: f64 = 100.0;

/// User + system CPU seconds of a process, from /proc/PID/stat.
pub(crate) fn cpu_seconds(pid: Option<u32>) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{}/stat", pid?)).ok()?;
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / CLOCK_TICKS)
}
