//! Readiness (`GET /readyz`): the broker serves once its metadata is loaded, it is
//! registered and not fenced, and every coordinator partition it leads has loaded.

use std::fmt;

use crate::groups::OFFSETS_TOPIC;
use crate::runtime::Coordinator;
use crate::state::BrokerState;
use crate::txns::TXN_TOPIC;

/// Why a broker is not ready.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum NotReady {
    /// Shutting down.
    Stopping,
    /// No metadata image applied yet.
    NoMetadata,
    /// The image does not list this broker.
    NotRegistered,
    /// The controller fenced this broker (missed heartbeats).
    Fenced,
    /// Coordinator partitions led here still loading (topic, partitions).
    Loading(&'static str, Vec<i32>),
}

impl fmt::Display for NotReady {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NotReady::Stopping => write!(f, "shutting down"),
            NotReady::NoMetadata => write!(f, "no cluster metadata yet"),
            NotReady::NotRegistered => write!(f, "not registered with the controller"),
            NotReady::Fenced => write!(f, "fenced by the controller"),
            NotReady::Loading(topic, parts) => {
                write!(f, "loading {} {topic} partitions {parts:?}", parts.len())
            }
        }
    }
}

/// Whether `state` is ready to serve, or the first reason it is not.
pub(crate) fn check(state: &BrokerState) -> Result<(), NotReady> {
    if state.is_stopping() {
        return Err(NotReady::Stopping);
    }
    let image = state.image();
    if image.cluster_id.is_none() {
        return Err(NotReady::NoMetadata);
    }
    match image.brokers.get(&state.config.node_id) {
        None => return Err(NotReady::NotRegistered),
        Some(b) if b.fenced => return Err(NotReady::Fenced),
        Some(_) => {}
    }
    let groups = state.groups.runtime().not_serving();
    if !groups.is_empty() {
        return Err(NotReady::Loading(OFFSETS_TOPIC, groups));
    }
    let txns = state.txns.runtime().not_serving();
    if !txns.is_empty() {
        return Err(NotReady::Loading(TXN_TOPIC, txns));
    }
    Ok(())
}
