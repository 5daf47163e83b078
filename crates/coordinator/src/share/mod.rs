//! Share groups (KIP-932, "queues for Kafka"): members that share the records of their
//! partitions, each record acquired by one member at a time and acknowledged one by one.
//!
//! - `delivery`: acknowledgement types, delivery states and share settings.
//! - `group`: [`group::ShareGroup`], the membership of one group (kept by its coordinator).
//! - `state`: [`state::ShareStateStore`], the durable share-partition states of one
//!   `__share_group_state` partition, and their records in Kafka's format.
//! - `partition`: [`SharePartition`], the delivery state of one partition for one group
//!   (kept by the partition's leader).

pub mod delivery;
pub mod group;
pub mod partition;
pub mod state;

pub use partition::{
    AckBatch, AckType, AcquiredRange, ArchiveReason, Archived, Candidate, DeliveryState,
    SharePartition, ShareSettings, StateBatch,
};
