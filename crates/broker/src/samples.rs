//! What the sampler last saw: consumer lag of the groups this broker
//! coordinates, and a bounded history of throughput and lag for the console's plots. Plain
//! data, read by `/metrics` and the console.

use std::collections::{BTreeMap, VecDeque};

/// Points kept per plotted series (at the default 5 s interval, half an hour).
pub(crate) const HISTORY_POINTS: usize = 360;
/// Plotted series kept at most; more are not recorded.
pub(crate) const MAX_SERIES: usize = 4_000;

/// The name of the plotted series `what` of `owner` (`topic` or `group`) `id`; with an
/// empty `what`, the prefix of all its series. Ids may hold any character, so the parts are
/// joined with a control character no name uses.
pub(crate) fn series_name(owner: &str, id: &str, what: &str) -> String {
    format!("{owner}\u{1f}{id}\u{1f}{what}")
}

/// The latest samples.
#[derive(Debug, Default)]
pub struct Samples {
    /// When they were taken (ms since the epoch); 0 before the first.
    pub taken_ms: i64,
    /// The groups this broker coordinates, by id.
    pub groups: BTreeMap<String, GroupLag>,
    /// Plotted series by name ([`series_name`]).
    pub history: BTreeMap<String, VecDeque<(i64, f64)>>,
}

/// One consumer group as sampled.
#[derive(Debug, Clone, Default)]
pub struct GroupLag {
    /// `classic` or `consumer` (KIP-848).
    pub kind: &'static str,
    /// Its state (`Stable`, `Empty`, ...).
    pub state: String,
    /// Its members.
    pub members: Vec<Member>,
    /// Committed offsets against the logs, per partition.
    pub partitions: Vec<PartitionLag>,
}

/// A group member.
#[derive(Debug, Clone, Default)]
pub struct Member {
    /// Member id.
    pub member_id: String,
    /// The client's `client.id`.
    pub client_id: String,
    /// The client's host.
    pub client_host: String,
    /// Partitions it owns (KIP-848 groups; empty when not known).
    pub assigned: Vec<(String, i32)>,
}

/// A group's position in one partition.
#[derive(Debug, Clone, Default)]
pub struct PartitionLag {
    /// Topic.
    pub topic: String,
    /// Partition.
    pub partition: i32,
    /// The committed offset.
    pub committed: i64,
    /// The log end a consumer sees (high watermark), or -1 when unknown.
    pub log_end: i64,
    /// The last stable offset, or -1 when unknown.
    pub last_stable: i64,
}

impl PartitionLag {
    /// Records between the committed offset and the log end (0 when unknown).
    pub fn lag(&self) -> i64 {
        if self.log_end < 0 {
            0
        } else {
            (self.log_end - self.committed).max(0)
        }
    }

    /// Records between the committed offset and the last stable offset (0 when unknown).
    pub fn stable_lag(&self) -> i64 {
        if self.last_stable < 0 {
            0
        } else {
            (self.last_stable - self.committed).max(0)
        }
    }
}

impl GroupLag {
    /// The sum of its partitions' lag.
    pub fn total_lag(&self) -> i64 {
        self.partitions.iter().map(PartitionLag::lag).sum()
    }
}

impl Samples {
    /// Adds a point to series `name`, keeping the newest [`HISTORY_POINTS`].
    pub(crate) fn record(&mut self, name: String, at_ms: i64, value: f64) {
        if !self.history.contains_key(&name) && self.history.len() >= MAX_SERIES {
            return;
        }
        let series = self.history.entry(name).or_default();
        if series.len() >= HISTORY_POINTS {
            series.pop_front();
        }
        series.push_back((at_ms, value));
    }

    /// Drops series whose newest point is older than `before_ms` (their topic or group is
    /// gone).
    pub(crate) fn forget_older_than(&mut self, before_ms: i64) {
        self.history
            .retain(|_, s| s.back().is_some_and(|(t, _)| *t >= before_ms));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn history_is_bounded_and_forgets_stale_series() {
        let mut s = Samples::default();
        for i in 0..(HISTORY_POINTS as i64 + 10) {
            s.record("a".into(), i, i as f64);
        }
        s.record("b".into(), 1, 1.0);
        let a = &s.history["a"];
        assert_eq!(a.len(), HISTORY_POINTS);
        assert_eq!(a.front().map(|p| p.0), Some(10));
        s.forget_older_than(5);
        assert!(s.history.contains_key("a"));
        assert!(!s.history.contains_key("b"));
    }

    #[test]
    fn lag_is_never_negative_and_zero_when_unknown() {
        let p = PartitionLag {
            topic: "t".into(),
            partition: 0,
            committed: 10,
            log_end: 7,
            last_stable: -1,
        };
        assert_eq!(p.lag(), 0);
        assert_eq!(p.stable_lag(), 0);
        let p = PartitionLag {
            log_end: 15,
            last_stable: 12,
            ..p
        };
        assert_eq!((p.lag(), p.stable_lag()), (5, 2));
    }
}
