//! What every group shares: its [`GroupState`] (with the names Kafka reports), the
//! coordinator's [`GroupConfig`] (Kafka's config keys and defaults), the [`MemberIdSource`]
//! that new member ids are drawn from, and [`RequestToken`], the handle a deferred response is
//! routed back by.

use std::fmt;

use thiserror::Error;

/// The caller's handle for a request whose response may come later, as an effect.
///
/// The broker picks it (for example from a connection id and correlation id) and routes the
/// matching response effect back to that connection.
pub type RequestToken = u64;

/// The state of a classic group, as Kafka's `ClassicGroupState`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum GroupState {
    /// No members; the group lingers for its committed offsets.
    Empty,
    /// Members are (re)joining; JoinGroup responses are parked.
    PreparingRebalance,
    /// The join phase completed; waiting for the leader's assignment in SyncGroup.
    CompletingRebalance,
    /// Every member has its assignment for the current generation.
    Stable,
    /// The group has been deleted or unloaded.
    Dead,
}

impl GroupState {
    /// The state's name as DescribeGroups and ListGroups report it, e.g. `"PreparingRebalance"`.
    pub fn as_str(self) -> &'static str {
        match self {
            GroupState::Empty => "Empty",
            GroupState::PreparingRebalance => "PreparingRebalance",
            GroupState::CompletingRebalance => "CompletingRebalance",
            GroupState::Stable => "Stable",
            GroupState::Dead => "Dead",
        }
    }

    /// Whether a group may move from `self` to `to` (Kafka's valid previous states).
    pub fn can_transition_to(self, to: GroupState) -> bool {
        use GroupState::*;
        match to {
            Empty => self == PreparingRebalance,
            PreparingRebalance => matches!(self, Stable | CompletingRebalance | Empty),
            CompletingRebalance => self == PreparingRebalance,
            Stable => self == CompletingRebalance,
            Dead => true,
        }
    }
}

impl fmt::Display for GroupState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The group coordinator's settings, named and defaulted as Kafka's broker configs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupConfig {
    /// `group.initial.rebalance.delay.ms`: how long the first rebalance of an empty group
    /// waits for more members (extended per new member, up to the rebalance timeout).
    pub initial_rebalance_delay_ms: i64,
    /// `group.min.session.timeout.ms`: the smallest session timeout a member may ask for.
    pub min_session_timeout_ms: i32,
    /// `group.max.session.timeout.ms`: the largest session timeout a member may ask for.
    pub max_session_timeout_ms: i32,
    /// `group.max.size`: the most members a classic group accepts.
    pub max_size: usize,
    /// How long a new member's parked JoinGroup may wait before the member is dropped
    /// (Kafka's fixed five minutes).
    pub new_member_join_timeout_ms: i64,
    /// `offsets.retention.minutes`, in milliseconds: how long committed offsets outlive their
    /// relevance (see [`crate::offsets`]).
    pub offsets_retention_ms: i64,
    /// `offsets.retention.check.interval.ms`: how often the broker should run offset expiry.
    pub offsets_retention_check_interval_ms: i64,
    /// `offset.metadata.max.bytes`: the longest metadata string an offset commit may carry.
    pub offset_metadata_max_bytes: usize,
    /// `group.consumer.session.timeout.ms`: how long a KIP-848 member may go without a
    /// heartbeat.
    pub consumer_session_timeout_ms: i64,
    /// `group.consumer.heartbeat.interval.ms`: how often KIP-848 members heartbeat.
    pub consumer_heartbeat_interval_ms: i32,
    /// `group.consumer.max.size`: the most members of a KIP-848 group.
    pub consumer_max_size: usize,
    /// `group.share.session.timeout.ms`: how long a share group member may go without a
    /// heartbeat.
    pub share_session_timeout_ms: i64,
    /// `group.share.heartbeat.interval.ms`: how often share group members heartbeat.
    pub share_heartbeat_interval_ms: i32,
    /// The broker's defaults for share-partitions (locks, delivery limit, backoff).
    pub share: crate::share::ShareSettings,
}

impl Default for GroupConfig {
    fn default() -> Self {
        GroupConfig {
            initial_rebalance_delay_ms: 3_000,
            min_session_timeout_ms: 6_000,
            max_session_timeout_ms: 1_800_000,
            max_size: usize::MAX,
            new_member_join_timeout_ms: 5 * 60 * 1_000,
            offsets_retention_ms: 7 * 24 * 60 * 60 * 1_000,
            offsets_retention_check_interval_ms: 600_000,
            offset_metadata_max_bytes: 4_096,
            consumer_session_timeout_ms: 45_000,
            consumer_heartbeat_interval_ms: 5_000,
            consumer_max_size: usize::MAX,
            share_session_timeout_ms: 45_000,
            share_heartbeat_interval_ms: 5_000,
            share: crate::share::ShareSettings::default(),
        }
    }
}

/// A [`GroupConfig`] value Kafka would refuse.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A setting that must not be negative (or zero) is.
    #[error("{key} must be {bound}, got {value}")]
    OutOfRange {
        /// Kafka's config key.
        key: &'static str,
        /// The rule it breaks, e.g. `">= 0"`.
        bound: &'static str,
        /// The offending value.
        value: i64,
    },
    /// `group.min.session.timeout.ms` is above `group.max.session.timeout.ms`.
    #[error("group.min.session.timeout.ms ({min}) exceeds group.max.session.timeout.ms ({max})")]
    SessionTimeoutBounds {
        /// The minimum.
        min: i32,
        /// The maximum.
        max: i32,
    },
}

impl GroupConfig {
    /// Checks the settings as Kafka's `GroupCoordinatorConfig` does.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let checks: [(&'static str, &'static str, i64, bool); 8] = [
            (
                "group.consumer.session.timeout.ms",
                "> 0",
                self.consumer_session_timeout_ms,
                self.consumer_session_timeout_ms > 0,
            ),
            (
                "group.consumer.heartbeat.interval.ms",
                "> 0 and below the session timeout",
                i64::from(self.consumer_heartbeat_interval_ms),
                self.consumer_heartbeat_interval_ms > 0
                    && i64::from(self.consumer_heartbeat_interval_ms)
                        < self.consumer_session_timeout_ms,
            ),
            (
                "group.initial.rebalance.delay.ms",
                ">= 0",
                self.initial_rebalance_delay_ms,
                self.initial_rebalance_delay_ms >= 0,
            ),
            (
                "group.min.session.timeout.ms",
                "> 0",
                i64::from(self.min_session_timeout_ms),
                self.min_session_timeout_ms > 0,
            ),
            (
                "group.max.size",
                ">= 1",
                i64::try_from(self.max_size).unwrap_or(i64::MAX),
                self.max_size >= 1,
            ),
            (
                // The key is in minutes (>= 1 where it is parsed); tests may go below.
                "offsets.retention.minutes (in ms)",
                "> 0",
                self.offsets_retention_ms,
                self.offsets_retention_ms > 0,
            ),
            (
                "offsets.retention.check.interval.ms",
                "> 0",
                self.offsets_retention_check_interval_ms,
                self.offsets_retention_check_interval_ms > 0,
            ),
            (
                "group new member join timeout",
                "> 0",
                self.new_member_join_timeout_ms,
                self.new_member_join_timeout_ms > 0,
            ),
        ];
        for (key, bound, value, ok) in checks {
            if !ok {
                return Err(ConfigError::OutOfRange { key, bound, value });
            }
        }
        if self.min_session_timeout_ms > self.max_session_timeout_ms {
            return Err(ConfigError::SessionTimeoutBounds {
                min: self.min_session_timeout_ms,
                max: self.max_session_timeout_ms,
            });
        }
        Ok(())
    }
}

/// Where the unique part of a new member id comes from.
///
/// Kafka appends a random UUID to the client id (or group instance id); the core has no
/// randomness, so the caller supplies it. Any `FnMut() -> String` is a source.
pub trait MemberIdSource {
    /// A string never returned before (a UUID in production).
    fn next_unique(&mut self) -> String;
}

impl<F: FnMut() -> String> MemberIdSource for F {
    fn next_unique(&mut self) -> String {
        self()
    }
}

/// A deterministic [`MemberIdSource`] counting up from zero, for tests and simulations.
#[derive(Debug, Clone, Default)]
pub struct SequentialIds {
    next: u64,
}

impl MemberIdSource for SequentialIds {
    fn next_unique(&mut self) -> String {
        let n = self.next;
        self.next += 1;
        format!("{n:08x}-0000-4000-8000-000000000000")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_names_match_kafka() {
        let names: Vec<&str> = [
            GroupState::Empty,
            GroupState::PreparingRebalance,
            GroupState::CompletingRebalance,
            GroupState::Stable,
            GroupState::Dead,
        ]
        .iter()
        .map(|s| s.as_str())
        .collect();
        assert_eq!(
            names,
            [
                "Empty",
                "PreparingRebalance",
                "CompletingRebalance",
                "Stable",
                "Dead"
            ]
        );
    }

    #[test]
    fn transitions_follow_kafka() {
        use GroupState::*;
        assert!(Empty.can_transition_to(PreparingRebalance));
        assert!(!Empty.can_transition_to(Stable));
        assert!(CompletingRebalance.can_transition_to(Stable));
        assert!(!PreparingRebalance.can_transition_to(Stable));
        assert!(Stable.can_transition_to(Dead));
    }

    #[test]
    fn default_config_is_valid_and_bad_bounds_are_refused() {
        assert_eq!(GroupConfig::default().validate(), Ok(()));
        let bad = GroupConfig {
            min_session_timeout_ms: 10,
            max_session_timeout_ms: 5,
            ..GroupConfig::default()
        };
        assert!(matches!(
            bad.validate(),
            Err(ConfigError::SessionTimeoutBounds { .. })
        ));
    }

    #[test]
    fn sequential_ids_are_unique() {
        let mut ids = SequentialIds::default();
        assert_ne!(ids.next_unique(), ids.next_unique());
        let mut n = 0;
        let mut f = move || {
            n += 1;
            format!("u{n}")
        };
        assert_eq!(f.next_unique(), "u1");
    }
}
