//! The Weir broker: tokio networking around the storage and metadata cores.
//!
//! A request's path is one file per hop: [`server`] accepts -> `connection` reads a frame ->
//! `dispatch` decodes the header and matches the API key -> `handlers/<api>.rs` ->
//! [`partition`] -> `weir_storage::Log`. Responses go back through the same connection in
//! request order.
//!
//! - [`config`]: broker settings with Kafka's names.
//! - [`state`]: the applied metadata image and the hosted partitions.
//! - [`cluster`]: joining the metadata quorum, heartbeats, admin changes via the controller.
//! - [`reconcile`]: opening and removing local partitions as images arrive.
//! - [`group_commit`]: one fsync for every acks=all batch waiting for it.
//! - [`groups`]: the group coordinators over `__consumer_offsets`.
//! - [`txns`]: the transaction coordinators over `__transaction_state`.
//! - `coordinators`: which of those partitions this broker coordinates, as leadership moves.
//! - [`configs`]: effective topic and broker configs as clients see them.

mod clean_shutdown;
pub mod cluster;
pub mod config;
pub mod configs;
mod connection;
mod coordinators;
mod dispatch;
pub mod error;
pub mod group_commit;
pub mod groups;
mod handlers;
mod housekeeping;
mod ids;
mod locks;
pub mod partition;
mod partition_dir;
pub mod peers;
pub mod reconcile;
pub mod replica;
mod replication;
pub mod server;
pub mod state;
pub mod txns;
mod validate;

pub use config::BrokerConfig;
pub use error::BrokerError;
pub use server::Broker;
pub use weir_coordinator::txn::TxnConfig;
pub use weir_coordinator::GroupConfig;
