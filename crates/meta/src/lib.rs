//! Cluster metadata: every change is a [`MetadataRecord`] appended to the metadata log and
//! applied to an immutable [`MetadataImage`] (DESIGN invariant 6).
//!
//! - [`records`]: the record types of the metadata log.
//! - [`image`]: the view built by applying records (topics, partitions, configs, brokers).
//! - [`controller`]: pure validation of admin requests, turning them into records.
//! - [`config_change`]: topic and dynamic broker config changes, validated, as records.
//! - [`membership`]: brokers registering, fenced and unfenced, and the leadership that
//!   moves with them.
//! - [`topic_config`]: Kafka's topic config keys, defaults and validation.
//! - [`group_config`]: group config keys (share groups, KIP-1191 dead-letter topics).
//! - [`names`]: topic-name rules.
//! - [`users`]: SCRAM credentials, checked as Kafka's controller checks them.
//! - [`quorum`]: the metadata log replicated among the controller voters (openraft).
//!
//! A request enters at [`controller::Controller`]: the broker hands it the current image and
//! a request; it returns per-item results and the records to append.

pub mod config_change;
pub mod controller;
pub mod error;
pub mod features;
pub mod group_config;
pub mod image;
pub mod membership;
pub mod names;
pub mod quorum;
pub mod reassign;
pub mod records;
pub mod topic_config;
pub mod users;

pub use controller::Controller;
pub use error::MetaError;
pub use image::{MetadataImage, PartitionImage, TopicImage};
pub use records::{MetadataRecord, StoredScram, TopicId};
