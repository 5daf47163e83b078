//! The metadata quorum: the metadata log replicated with openraft among the controller
//! voters (DESIGN: "Metadata is a log"). The Raft leader is the active controller; every
//! node, voter or not (non-voters are Raft learners), applies the committed records to its
//! own [`MetadataImage`](crate::MetadataImage) and serves clients from it. A single node is a
//! quorum of one voter.
//!
//! - `log_store`: the Raft log on disk, a Weir partition log (`__cluster_metadata-0`) with
//!   one batch per entry at the entry's index, plus the vote and the committed id.
//! - `state_machine`: the image the committed entries build, published to the broker.
//! - `rpc`: the controller listener's framing and messages.
//! - `network`: Raft's RPCs to the other nodes over it.
//! - `command`: what brokers ask of the controller (create topics, register, heartbeat,
//!   ...), run on the leader against its image and turned into records there.
//! - `node`: [`MetaNode`], which starts it all and submits commands to the leader.
//! - `transport`: TCP or mutual TLS between the nodes.

mod command;
mod forward;
mod log_store;
mod network;
mod node;
mod rpc;
mod state_machine;
mod transport;

pub use command::{Command, Outcome, SubmitError, PRODUCER_ID_BLOCK};
pub use log_store::METADATA_DIR;
pub use node::{MetaNode, QuorumConfig, QuorumError, QuorumStatus};
pub use state_machine::Published;
pub use transport::QuorumTls;

use std::io::Cursor;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::records::MetadataRecord;

/// Milliseconds since the Unix epoch.
pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

openraft::declare_raft_types!(
    /// openraft's types for the metadata quorum: an entry carries the records of one change.
    pub TypeConfig:
        D = Vec<MetadataRecord>,
        R = (),
        NodeId = u64,
        Node = openraft::BasicNode,
);

/// A Kafka node id as openraft's node id.
pub(crate) fn raft_id(node_id: i32) -> u64 {
    u64::try_from(node_id).unwrap_or(0)
}
