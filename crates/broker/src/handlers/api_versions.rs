//! ApiVersions: the versions this broker implements, including Kafka's fallback of answering
//! a too-new request with a version-0 response that carries UNSUPPORTED_VERSION.

use std::net::SocketAddr;

use tracing::debug;
use weir_meta::features;
use weir_meta::MetadataImage;
use weir_protocol::codec::{Decode, Reader};
use weir_protocol::error::ErrorCode;
use weir_protocol::messages::api_versions_response::{
    ApiVersion, FinalizedFeatureKey, SupportedFeatureKey,
};
use weir_protocol::messages::{ApiKey, ApiVersionsRequest, ApiVersionsResponse, RequestHeader};

use crate::response::{encode, Outcome};

/// Every API this broker implements, with the version range it advertises.
pub(crate) const SUPPORTED: &[(ApiKey, i16, i16)] = &[
    // Produce v0-2 (message formats 0 and 1) are advertised but refused, as Kafka 4 does:
    // librdkafka up to 2.11 turns compression off unless Produce v0 is advertised. v12 adds
    // a transactional batch's partition to its transaction (transaction version 2).
    (ApiKey::Produce, 0, 12),
    (ApiKey::Fetch, 4, 17),
    (ApiKey::ListOffsets, 1, 10),
    (ApiKey::Metadata, 0, 12),
    (ApiKey::ApiVersions, 0, 4),
    (ApiKey::CreateTopics, 2, 7),
    (ApiKey::DeleteTopics, 1, 6),
    (ApiKey::DescribeConfigs, 1, 4),
    (ApiKey::AlterConfigs, 0, 2),
    (ApiKey::IncrementalAlterConfigs, 0, 1),
    (ApiKey::DeleteRecords, 0, 2),
    (ApiKey::OffsetForLeaderEpoch, 2, 4),
    (ApiKey::CreatePartitions, 0, 3),
    (ApiKey::DescribeCluster, 0, 1),
    (ApiKey::DescribeLogDirs, 0, 4),
    (ApiKey::ElectLeaders, 0, 2),
    (ApiKey::AlterPartitionReassignments, 0, 0),
    (ApiKey::ListPartitionReassignments, 0, 0),
    (ApiKey::InitProducerId, 0, 5),
    (ApiKey::FindCoordinator, 0, 6),
    (ApiKey::OffsetCommit, 2, 9),
    (ApiKey::OffsetFetch, 1, 9),
    (ApiKey::JoinGroup, 0, 9),
    (ApiKey::Heartbeat, 0, 4),
    (ApiKey::LeaveGroup, 0, 5),
    (ApiKey::SyncGroup, 0, 5),
    (ApiKey::DescribeGroups, 0, 5),
    (ApiKey::ListGroups, 0, 5),
    (ApiKey::DeleteGroups, 0, 2),
    (ApiKey::OffsetDelete, 0, 0),
    (ApiKey::ConsumerGroupHeartbeat, 0, 1),
    (ApiKey::ConsumerGroupDescribe, 0, 0),
    // Share groups (KIP-932) as Kafka 4.3 speaks them: the early-access version 0 of Kafka
    // 4.0 is gone, as in Kafka 4.1 and later.
    (ApiKey::ShareGroupHeartbeat, 1, 1),
    (ApiKey::ShareGroupDescribe, 1, 1),
    (ApiKey::ShareFetch, 1, 2),
    (ApiKey::ShareAcknowledge, 1, 2),
    (ApiKey::DescribeShareGroupOffsets, 0, 1),
    (ApiKey::AlterShareGroupOffsets, 0, 0),
    (ApiKey::DeleteShareGroupOffsets, 0, 0),
    // The share coordinator's API, between brokers (Kafka advertises it on the broker
    // listener too): the early-access version 0 of the shared specs; only Weir nodes call it.
    (ApiKey::ReadShareGroupState, 0, 0),
    (ApiKey::WriteShareGroupState, 0, 0),
    // Transactions at both transaction versions: 1, where the producer adds partitions
    // itself, and 2 (KIP-890 part 2, the finalized `transaction.version` feature), where
    // Produce v12 and TxnOffsetCommit v5 add them and EndTxn v5 bumps the epoch.
    // AddPartitionsToTxn v4-5 is the brokers' batched form, which leaders send to the
    // coordinator for Produce v12.
    (ApiKey::AddPartitionsToTxn, 0, 5),
    (ApiKey::AddOffsetsToTxn, 0, 4),
    (ApiKey::EndTxn, 0, 5),
    (ApiKey::TxnOffsetCommit, 0, 5),
    (ApiKey::UpdateFeatures, 0, 2),
    (ApiKey::WriteTxnMarkers, 1, 1),
    (ApiKey::DescribeTransactions, 0, 0),
    (ApiKey::ListTransactions, 0, 1),
    (ApiKey::DescribeProducers, 0, 0),
    (ApiKey::DescribeUserScramCredentials, 0, 0),
    (ApiKey::DescribeAcls, 1, 3),
    (ApiKey::CreateAcls, 1, 3),
    (ApiKey::DeleteAcls, 1, 3),
    // SASL (KIP-152). v0 of the handshake (tokens without SaslAuthenticate framing) is
    // advertised, as Kafka does, because librdkafka's feature check asks for it, but clients
    // that can use v1 do; a v0 handshake is refused.
    (ApiKey::SaslHandshake, 0, 1),
    (ApiKey::SaslAuthenticate, 0, 2),
    (ApiKey::AlterUserScramCredentials, 0, 0),
];

/// Versions advertised for compatibility but refused when used.
const REFUSED: &[(ApiKey, i16)] = &[(ApiKey::Produce, 3)];

/// The version range of `key` that is handled, if implemented.
pub(crate) fn accepted(key: ApiKey) -> Option<(i16, i16)> {
    let (min, max) = supported(key)?;
    let min = REFUSED
        .iter()
        .find(|(k, _)| *k == key)
        .map_or(min, |&(_, m)| m.max(min));
    Some((min, max))
}

/// The advertised version range of `key`, if implemented.
pub(crate) fn supported(key: ApiKey) -> Option<(i16, i16)> {
    SUPPORTED
        .iter()
        .find(|(k, _, _)| *k == key)
        .map(|&(_, min, max)| (min, max))
}

fn response(error: ErrorCode, image: &MetadataImage, version: i16) -> ApiVersionsResponse {
    // As Kafka: a version-3 answer leaves out features whose lowest level is 0 (clients of
    // that version cannot read them), and level 0 is not finalized.
    let supported_features = features::FEATURES
        .iter()
        .filter(|f| version >= 4 || f.min > 0)
        .map(|f| SupportedFeatureKey {
            name: f.name.to_string(),
            min_version: f.min,
            max_version: f.max,
            ..Default::default()
        })
        .collect();
    let finalized_features = features::finalized(image)
        .into_iter()
        .filter(|&(_, level)| level > 0)
        .map(|(name, level)| FinalizedFeatureKey {
            name: name.to_string(),
            max_version_level: level,
            min_version_level: level,
            ..Default::default()
        })
        .collect();
    ApiVersionsResponse {
        error_code: error.code(),
        supported_features,
        finalized_features_epoch: image.features_epoch,
        finalized_features,
        api_keys: SUPPORTED
            .iter()
            .map(|&(k, min, max)| ApiVersion {
                api_key: k as i16,
                min_version: min,
                max_version: max,
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    }
}

/// Handles ApiVersions before version checks, since it must answer versions it does not know.
pub(crate) fn handle_raw(
    header: &RequestHeader,
    mut body: Reader,
    peer: SocketAddr,
    image: &MetadataImage,
) -> Outcome {
    let version = header.request_api_version;
    let (_, max) = supported(ApiKey::ApiVersions).unwrap_or((0, 0));
    if version > max || version < 0 {
        debug!(%peer, version, "ApiVersions version too new: answering v0 UNSUPPORTED_VERSION");
        return encode(
            header.correlation_id,
            ApiKey::ApiVersions,
            &response(ErrorCode::UnsupportedVersion, image, 0),
            0,
        );
    }
    if ApiVersionsRequest::decode(&mut body, version).is_err() {
        return encode(
            header.correlation_id,
            ApiKey::ApiVersions,
            &response(ErrorCode::InvalidRequest, image, version),
            version,
        );
    }
    encode(
        header.correlation_id,
        ApiKey::ApiVersions,
        &response(ErrorCode::None, image, version),
        version,
    )
}
