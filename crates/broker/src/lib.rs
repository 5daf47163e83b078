//! The Weir broker: tokio networking around the storage and metadata cores.
//!
//! A request's path is one file per hop: [`server`] accepts -> `connection` reads a frame ->
//! `dispatch` decodes the header and matches the API key -> `handlers/<api>.rs` ->
//! [`partition`] -> `weir_storage::Log`. Responses go back through the same connection in
//! request order.
//!
//! - [`config`]: broker settings with Kafka's names.
//! - [`host`]: the node: the applied metadata image, the hosted partitions, the quorum.
//! - [`cluster`]: joining the metadata quorum, heartbeats, admin changes via the controller.
//! - [`reconcile`]: opening and removing local partitions as images arrive.
//! - [`group_commit`]: one fsync for every acks=all batch waiting for it.
//! - `runtime`: the coordinator runtime: state machines in internal topics, a shard per
//!   partition led here.
//! - [`groups`]: the group coordinators over `__consumer_offsets`, on the runtime.
//! - [`txns`]: the transaction coordinators over `__transaction_state`, on the runtime.
//! - [`state`]: the node and its coordinators, as the handlers see them.
//! - [`configs`]: effective topic and broker configs as clients see them.
//! - `http`: the HTTP listener: health and readiness.

pub mod authz;
mod clean_shutdown;
pub mod cluster;
pub mod config;
pub mod configs;
mod connection;
mod dispatch;
pub mod error;
mod fetch_session;
pub mod group_commit;
pub mod groups;
mod handlers;
pub mod host;
mod housekeeping;
mod http;
mod ids;
pub mod listener_security;
mod locks;
pub mod metrics;
pub mod partition;
mod partition_dir;
pub mod peers;
mod produce_order;
pub mod reconcile;
pub mod replica;
mod replication;
mod response;
mod runtime;
mod sampler;
pub mod samples;
mod sasl;
pub mod server;
pub mod shares;
pub mod state;
pub mod tls;
pub mod txns;
mod validate;

pub use config::BrokerConfig;
#[doc(hidden)]
pub use dispatch::serve_frame;
pub use error::BrokerError;
pub use server::Broker;
pub use weir_coordinator::txn::TxnConfig;
pub use weir_coordinator::GroupConfig;
