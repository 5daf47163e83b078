//! Harnesses shared by Weir's fuzz targets, the seed generator and the replay tests.
//!
//! - [`request`]: decode a request frame body with the message type its API key names and
//!   check the decode -> encode -> decode round trip (target `decode_request`).
//! - [`batch`]: walk the record batches of a buffer and check that the record decoders
//!   agree (target `decode_batch`).
//! - [`recovery`]: damage the last segment of a log and check what `Log::open` recovers
//!   (target `segment_recovery`).
//! - [`sasl`]: the SASL/PLAIN and SCRAM servers and the SCRAM parsers on hostile bytes
//!   (target `sasl`).
//! - [`seeds`]: small valid inputs for each target.
//!
//! Every check panics on a violated property: a panic is a finding.

pub mod batch;
pub mod recovery;
pub mod request;
pub mod sasl;
pub mod seeds;
