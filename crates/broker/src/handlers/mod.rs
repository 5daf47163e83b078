//! One file per Kafka API, each the same shape: take the decoded request, validate, call one
//! subsystem, build the response.

pub(crate) mod acls;
pub(crate) mod add_offsets_to_txn;
pub(crate) mod add_partitions_to_txn;
pub(crate) mod alter_configs;
pub(crate) mod api_versions;
pub(crate) mod consumer_group_describe;
pub(crate) mod consumer_group_heartbeat;
pub(crate) mod context;
pub(crate) mod create_partitions;
pub(crate) mod create_topics;
pub(crate) mod delete_groups;
pub(crate) mod delete_records;
pub(crate) mod delete_topics;
pub(crate) mod describe_cluster;
pub(crate) mod describe_configs;
pub(crate) mod describe_groups;
pub(crate) mod describe_log_dirs;
pub(crate) mod describe_producers;
pub(crate) mod describe_share_group_offsets;
pub(crate) mod describe_transactions;
pub(crate) mod elect_leaders;
pub(crate) mod end_txn;
pub(crate) mod fetch;
pub(crate) mod find_coordinator;
pub(crate) mod heartbeat;
pub(crate) mod init_producer_id;
pub(crate) mod join_group;
pub(crate) mod leave_group;
pub(crate) mod list_groups;
pub(crate) mod list_offsets;
pub(crate) mod list_transactions;
pub(crate) mod metadata;
pub(crate) mod offset_commit;
pub(crate) mod offset_delete;
pub(crate) mod offset_fetch;
pub(crate) mod offset_for_leader_epoch;
pub(crate) mod produce;
pub(crate) mod reassignments;
pub(crate) mod sasl;
pub(crate) mod scram_credentials;
pub(crate) mod share_acknowledge;
pub(crate) mod share_fetch;
pub(crate) mod share_group_describe;
pub(crate) mod share_group_heartbeat;
pub(crate) mod share_group_offsets;
pub(crate) mod share_group_state;
pub(crate) mod sync_group;
pub(crate) mod txn_offset_commit;
pub(crate) mod update_features;
pub(crate) mod write_txn_markers;

/// The client's host as Kafka reports it in group descriptions: `/` and its IP address.
pub(crate) fn client_host(ctx: &context::RequestContext) -> String {
    format!("/{}", ctx.peer.ip())
}

/// KIP-588: requests older than `min_version` know INVALID_PRODUCER_EPOCH, not
/// PRODUCER_FENCED.
pub(crate) fn fenced_for(
    e: weir_protocol::error::ErrorCode,
    version: i16,
    min_version: i16,
) -> weir_protocol::error::ErrorCode {
    use weir_protocol::error::ErrorCode;
    if e == ErrorCode::ProducerFenced && version < min_version {
        ErrorCode::InvalidProducerEpoch
    } else {
        e
    }
}
