//! A small async Kafka client for the `weir` CLI, benchmarks and tests.
//!
//! - [`connection`]: one broker connection: correlation ids, pipelining, version
//!   negotiation through ApiVersions.
//! - [`producer`]: builds RecordBatch v2 batches and produces them.
//! - [`consumer`]: fetches and decodes records from one partition.
//! - [`admin`]: topic creation and metadata.
//! - [`groups`]: consumer groups: list, describe, committed offsets, delete.
//! - [`sasl`]: logging in with SASL PLAIN or SCRAM.
//! - [`tls`]: TLS towards brokers.
//!
//! Everything enters through [`Connection::connect`].

pub mod admin;
pub mod connection;
pub mod consumer;
pub mod error;
pub mod groups;
pub mod producer;
pub mod sasl;
pub mod tls;

pub use connection::Connection;
pub use error::ClientError;
