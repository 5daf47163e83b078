//! One member of a classic group, as Kafka's `ClassicGroupMember`: its identity, timeouts,
//! supported protocols, assignment, the requests it has parked, and its session deadline.

use std::collections::BTreeSet;

use bytes::Bytes;

use super::api::Protocol;
use crate::group::RequestToken;

/// A member of a classic group.
#[derive(Debug, Clone)]
pub(crate) struct Member {
    pub(crate) id: String,
    pub(crate) instance_id: Option<String>,
    pub(crate) client_id: String,
    pub(crate) client_host: String,
    pub(crate) rebalance_timeout_ms: i32,
    pub(crate) session_timeout_ms: i32,
    pub(crate) protocol_type: String,
    pub(crate) protocols: Vec<Protocol>,
    pub(crate) assignment: Bytes,
    /// The parked JoinGroup request, if any.
    pub(crate) awaiting_join: Option<RequestToken>,
    /// The parked SyncGroup request, if any.
    pub(crate) awaiting_sync: Option<RequestToken>,
    /// Added in the current join phase and not yet given a generation.
    pub(crate) is_new: bool,
    /// When the member's session (or a new member's join wait) expires; `None` once it
    /// expired while the member had a request parked (it is rescheduled when answered).
    pub(crate) heartbeat_deadline: Option<i64>,
}

impl Member {
    /// The metadata the member gave for `protocol` (empty if it does not support it).
    pub(crate) fn metadata(&self, protocol: Option<&str>) -> Bytes {
        protocol
            .and_then(|name| self.protocols.iter().find(|p| p.name == name))
            .map(|p| p.metadata.clone())
            .unwrap_or_default()
    }

    /// Whether the member supports the protocol named `name`.
    pub(crate) fn supports(&self, name: &str) -> bool {
        self.protocols.iter().any(|p| p.name == name)
    }

    /// Whether `protocols` equal the member's (names, metadata and order).
    pub(crate) fn matches(&self, protocols: &[Protocol]) -> bool {
        self.protocols == protocols
    }

    /// The member's most preferred protocol among `candidates`.
    pub(crate) fn vote<'a>(&'a self, candidates: &BTreeSet<&str>) -> Option<&'a str> {
        self.protocols
            .iter()
            .map(|p| p.name.as_str())
            .find(|name| candidates.contains(name))
    }

    /// Whether an expired session deadline should leave the member alone: members with a
    /// parked request satisfy the heartbeat, except new members (their join wait expired).
    pub(crate) fn has_satisfied_heartbeat(&self) -> bool {
        !self.is_new && (self.awaiting_join.is_some() || self.awaiting_sync.is_some())
    }
}

/// `protocols` with later duplicates of a name dropped (Kafka keys the collection by name).
pub(crate) fn dedup_protocols(protocols: Vec<Protocol>) -> Vec<Protocol> {
    let mut seen = BTreeSet::new();
    protocols
        .into_iter()
        .filter(|p| seen.insert(p.name.clone()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(protocols: &[&str]) -> Member {
        Member {
            id: "m".into(),
            instance_id: None,
            client_id: "c".into(),
            client_host: "h".into(),
            rebalance_timeout_ms: 1,
            session_timeout_ms: 1,
            protocol_type: "consumer".into(),
            protocols: protocols
                .iter()
                .map(|n| Protocol::new(*n, Bytes::from_static(b"x")))
                .collect(),
            assignment: Bytes::new(),
            awaiting_join: None,
            awaiting_sync: None,
            is_new: false,
            heartbeat_deadline: None,
        }
    }

    #[test]
    fn votes_for_its_first_preference_among_candidates() {
        let m = member(&["range", "roundrobin", "sticky"]);
        let candidates: BTreeSet<&str> = ["sticky", "roundrobin"].into_iter().collect();
        assert_eq!(m.vote(&candidates), Some("roundrobin"));
        assert_eq!(m.vote(&BTreeSet::new()), None);
    }

    #[test]
    fn heartbeat_is_satisfied_only_by_parked_requests_of_old_members() {
        let mut m = member(&["range"]);
        assert!(!m.has_satisfied_heartbeat());
        m.awaiting_join = Some(1);
        assert!(m.has_satisfied_heartbeat());
        m.is_new = true;
        assert!(!m.has_satisfied_heartbeat());
    }

    #[test]
    fn duplicate_protocol_names_keep_the_first() {
        let ps = dedup_protocols(vec![
            Protocol::new("a", Bytes::from_static(b"1")),
            Protocol::new("a", Bytes::from_static(b"2")),
            Protocol::new("b", Bytes::new()),
        ]);
        assert_eq!(ps.len(), 2);
        assert_eq!(&ps[0].metadata[..], b"1");
    }
}
