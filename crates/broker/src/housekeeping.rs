//! Background upkeep of the partition logs: retention (a tokio task every
//! `log.retention.check.interval.ms`) and compaction (the `log-cleaner` thread, which plans
//! under a partition's read lock, rewrites with no lock at most
//! `log.cleaner.io.max.bytes.per.second`, and installs under its write lock), so produce and
//! fetch never wait for either beyond a brief lock.

use std::collections::HashMap;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use tracing::{info, warn};

use crate::host::{now_ms, Host};
use crate::partition::Partition;

/// Starts retention and, if enabled, the cleaner.
pub(crate) fn start(state: &Arc<Host>) {
    let weak = Arc::downgrade(state);
    let period = Duration::from_millis(state.config.log_retention_check_interval_ms);
    tokio::spawn(async move {
        // The first check comes one period after start, as Kafka's comes after a delay.
        let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            let Some(state) = weak.upgrade() else { return };
            if state.is_stopping() {
                return;
            }
            let now = now_ms();
            for p in state.partitions() {
                if !p.settings().delete {
                    continue;
                }
                match p.enforce_retention(now) {
                    Ok(0) => {}
                    Ok(n) => {
                        state.metrics.retention_segments_deleted.inc_by(n as u64);
                        info!(topic = %p.topic, partition = p.index, segments = n, log_start = p.log_start_offset(), "retention deleted segments");
                    }
                    Err(e) => {
                        warn!(topic = %p.topic, partition = p.index, error = %e, "retention failed")
                    }
                }
            }
        }
    });
    if state.config.log_cleaner_enable {
        let weak = Arc::downgrade(state);
        let spawned = std::thread::Builder::new()
            .name("log-cleaner".into())
            .spawn(move || cleaner_loop(weak));
        if let Err(e) = spawned {
            warn!(error = %e, "could not start the log cleaner");
        }
    }
}

/// Cleans every compacted partition that is dirty enough, then waits
/// `log.cleaner.backoff.ms` (watching for shutdown) before looking again. A partition whose
/// pass failed waits `FAILED_BACKOFF` before it is tried again; a panic in a pass is caught
/// and counts as a failure, so one partition cannot stop the cleaner.
fn cleaner_loop(weak: Weak<Host>) {
    let mut failed: HashMap<(String, i32), Instant> = HashMap::new();
    loop {
        let Some(state) = weak.upgrade() else { return };
        if state.is_stopping() {
            return;
        }
        for p in state.partitions() {
            let key = (p.topic.clone(), p.index);
            if !p.settings().compact
                || failed
                    .get(&key)
                    .is_some_and(|t| t.elapsed() < FAILED_BACKOFF)
            {
                continue;
            }
            let ok = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                clean_partition(&state, &p)
            }))
            .unwrap_or_else(|_| {
                warn!(topic = %p.topic, partition = p.index, "compaction panicked");
                false
            });
            if ok {
                failed.remove(&key);
            } else {
                failed.insert(key, Instant::now());
            }
            if state.is_stopping() {
                return;
            }
        }
        let backoff = Duration::from_millis(state.config.log_cleaner_backoff_ms);
        drop(state);
        let until = Instant::now() + backoff;
        while Instant::now() < until {
            std::thread::sleep(Duration::from_millis(100).min(backoff));
            match weak.upgrade() {
                Some(s) if !s.is_stopping() => {}
                _ => return,
            }
        }
    }
}

/// How long a partition whose compaction failed is left alone.
const FAILED_BACKOFF: Duration = Duration::from_secs(60);

/// One compaction pass over a partition, if one is due; false if it failed.
fn clean_partition(state: &Host, p: &Partition) -> bool {
    let policy = p.settings().compaction;
    let now = now_ms();
    let plan = p.log().plan_compaction(
        &policy,
        p.last_stable_offset(),
        state.config.log_cleaner_dedupe_buffer_size,
        now,
    );
    let Some(plan) = plan else { return true };
    info!(topic = %p.topic, partition = p.index, "cleaning started");
    let started = Instant::now();
    let mut throttle = Throttle::new(state.config.log_cleaner_io_max_bytes_per_second);
    let cleaned = match plan.run(&mut |n| throttle.take(n)) {
        Ok(c) => c,
        Err(e) => {
            warn!(topic = %p.topic, partition = p.index, error = %e, "compaction failed");
            return false;
        }
    };
    if state.is_stopping() {
        return true;
    }
    match p.log_mut().install_compaction(cleaned) {
        Ok(stats) if stats.installed => {
            let secs = started.elapsed().as_secs_f64();
            state.metrics.cleaner_runs.inc();
            state
                .metrics
                .cleaner_bytes_removed
                .inc_by(stats.bytes_read.saturating_sub(stats.bytes_written));
            info!(
                topic = %p.topic, partition = p.index, segments = stats.segments,
                read_mb = stats.bytes_read as f64 / 1e6, written_mb = stats.bytes_written as f64 / 1e6,
                mb_per_s = stats.bytes_read as f64 / 1e6 / secs.max(1e-9),
                "log cleaned"
            );
            true
        }
        Ok(_) => true,
        Err(e) => {
            warn!(topic = %p.topic, partition = p.index, error = %e, "installing compaction failed");
            false
        }
    }
}

/// Paces the cleaner's I/O to a byte rate.
struct Throttle {
    rate: f64,
    start: Instant,
    bytes: f64,
}

impl Throttle {
    fn new(rate: f64) -> Self {
        Self {
            rate,
            start: Instant::now(),
            bytes: 0.0,
        }
    }

    /// Counts `n` bytes and sleeps as long as the rate asks.
    fn take(&mut self, n: u64) {
        if self.rate >= f64::MAX {
            return;
        }
        self.bytes += n as f64;
        // At most a minute per step, whatever the rate: never an out-of-range duration.
        let due = Duration::try_from_secs_f64(self.bytes / self.rate).unwrap_or(Duration::MAX);
        let elapsed = self.start.elapsed();
        if due > elapsed {
            std::thread::sleep((due - elapsed).min(Duration::from_secs(60)));
        }
    }
}
