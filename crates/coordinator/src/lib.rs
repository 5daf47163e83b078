//! The group and transaction coordinators as pure state machines: no I/O, no clock, no randomness. The broker
//! feeds it requests and periodic ticks (time enters as `now_ms` arguments) and carries out
//! what it returns, in the manner of raft-rs.
//!
//! - [`group`]: what all groups share: [`GroupState`], [`GroupConfig`] (Kafka's config names
//!   and defaults), [`MemberIdSource`], [`RequestToken`].
//! - [`classic`]: [`ClassicGroup`], the JoinGroup/SyncGroup protocol (eager rebalances,
//!   KIP-345 static members, KIP-394 member ids; KIP-429 cooperative rebalancing needs
//!   nothing of the broker), with request/response types and [`Effect`]s.
//! - [`consumer`]: [`consumer::ConsumerGroup`], the KIP-848 protocol: heartbeats, group
//!   epochs, server-side target assignment and per-member reconciliation.
//! - [`offsets`]: [`OffsetStore`], one group's committed offsets (commit, fetch, delete,
//!   retention expiry).
//! - [`coordinator`]: [`GroupCoordinator`], the groups and offsets of one `__consumer_offsets`
//!   partition, routing requests by group id and applying Kafka's rules for unknown groups.
//! - [`records`]: [`Record`]s to and from `__consumer_offsets` bytes, in Kafka's format.
//! - [`subscription`]: decoding the consumer protocol's subscription metadata.
//! - [`assignor`]: server-side assignors (`uniform`, `range`) for the KIP-848 protocol.
//! - [`txn`]: the transaction coordinator of one `__transaction_state` partition
//!   ([`txn::TxnCoordinator`]) and its records.
//!
//! # How a broker drives it
//!
//! Requests enter at [`GroupCoordinator`] (or a [`ClassicGroup`] directly) with a caller-chosen
//! [`RequestToken`]. Each call returns the request's reply, or [`Reply::Pending`] when the
//! response is parked (JoinGroup until the join phase completes, SyncGroup until the leader's
//! assignment is written), plus a list of [`Effect`]s to carry out in order:
//!
//! - `Effect::JoinResponse` / `Effect::SyncResponse`: send to the connection that sent the
//!   request with that token;
//! - `Effect::PersistGroup`: append the group metadata record to `__consumer_offsets`, then
//!   report the outcome with `persisted`, which releases the responses waiting on it.
//!
//! Offset commits, deletes and expiry change the store at once and return the
//! `__consumer_offsets` [`Record`]s to append; the broker answers the request once they are
//! written. The broker calls `tick(now)` when `next_deadline()` passes (sessions, rebalance
//! and initial-delay timeouts) and `expire_offsets(now)` every
//! `offsets.retention.check.interval.ms`. Loading a partition replays its records with
//! [`GroupCoordinator::replay`].

pub mod assignor;
pub mod classic;
pub mod consumer;
pub mod coordinator;
pub mod group;
pub mod offsets;
pub mod records;
pub mod share;
pub mod subscription;
pub mod txn;

pub use classic::{
    ClassicGroup, Effect, GroupDescription, GroupSnapshot, JoinRequest, JoinResponse, LeaveMember,
    LeaveResponse, ListedGroup, Output, Protocol, Reply, SyncRequest, SyncResponse,
};
pub use coordinator::{GroupCoordinator, Record};
pub use group::{GroupConfig, GroupState, MemberIdSource, RequestToken, SequentialIds};
pub use offsets::{ExpirationBase, FetchedOffset, OffsetAndMetadata, OffsetStore};
