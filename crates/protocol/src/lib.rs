//! The Kafka wire protocol, without I/O.
//!
//! - [`codec`]: primitive readers and writers (bounded, zero-copy for bytes and records).
//! - [`frame`]: the 4-byte size prefix that delimits every request and response.
//! - [`messages`]: every request, response and header type, generated from Kafka's JSON
//!   message specifications by `weir-protocol-gen` (do not edit by hand).
//! - [`group_records`]: the key and value types of `__consumer_offsets` records, generated
//!   from Kafka's group-coordinator specs the same way.
//! - [`txn_records`]: the key and value types of `__transaction_state` records, generated
//!   from Kafka's transaction-coordinator specs.
//! - [`error`]: Kafka's error codes.
//! - [`record`]: the RecordBatch v2 view (header, CRC32C, records, compression, builder).
//!
//! A request enters as a frame, its header is decoded with
//! [`messages::RequestHeader`], and its body with the message type its API key names.

pub mod codec;
pub mod error;
pub mod frame;
pub mod group_records;
pub mod messages;
pub mod record;
pub mod txn_records;
