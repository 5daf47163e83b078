//! A handler's response as a frame: what the connection does with it ([`Outcome`]) and its
//! encoding, with a size hint per response type so its buffer is allocated once.

use bytes::BytesMut;
use tracing::warn;
use weir_protocol::codec::Encode;
use weir_protocol::frame;
use weir_protocol::messages::{self as m, ApiKey};

/// What the connection should do once a request is handled.
pub(crate) enum Outcome {
    /// Write this frame.
    Respond(BytesMut),
    /// Write nothing (acks=0 produce).
    NoResponse,
    /// Close the connection after the responses before this one.
    Close,
}

/// How many bytes a response will take, roughly, so its buffer is allocated once.
pub(crate) trait SizeHint {
    /// Expected encoded size in bytes.
    fn size_hint(&self) -> usize {
        256
    }
}

/// Encodes a response frame for `correlation_id`.
pub(crate) fn encode(
    correlation_id: i32,
    api_key: ApiKey,
    response: &(impl Encode + SizeHint),
    version: i16,
) -> Outcome {
    let header_version = api_key.response_header_version(version);
    let capacity = response.size_hint();
    match frame::encode_response_with_capacity(
        capacity,
        correlation_id,
        header_version,
        response,
        version,
    ) {
        Ok(bytes) => Outcome::Respond(bytes),
        Err(e) => {
            warn!(api = api_key.name(), version, error = %e, "could not encode response; closing connection");
            Outcome::Close
        }
    }
}

impl SizeHint for m::AddOffsetsToTxnResponse {}
impl SizeHint for m::UpdateFeaturesResponse {}
impl SizeHint for m::AddPartitionsToTxnResponse {}
impl SizeHint for m::AlterConfigsResponse {}
impl SizeHint for m::AlterPartitionReassignmentsResponse {}
impl SizeHint for m::DescribeLogDirsResponse {}
impl SizeHint for m::ElectLeadersResponse {}
impl SizeHint for m::ListPartitionReassignmentsResponse {}
impl SizeHint for m::ApiVersionsResponse {}
impl SizeHint for m::AlterUserScramCredentialsResponse {}
impl SizeHint for m::SaslHandshakeResponse {}
impl SizeHint for m::SaslAuthenticateResponse {}
impl SizeHint for m::DescribeUserScramCredentialsResponse {}
impl SizeHint for m::CreateAclsResponse {}
impl SizeHint for m::DescribeAclsResponse {}
impl SizeHint for m::DeleteAclsResponse {}
impl SizeHint for m::DeleteRecordsResponse {}
impl SizeHint for m::OffsetForLeaderEpochResponse {}
impl SizeHint for m::IncrementalAlterConfigsResponse {}
impl SizeHint for m::DescribeProducersResponse {}
impl SizeHint for m::DescribeTransactionsResponse {}
impl SizeHint for m::EndTxnResponse {}
impl SizeHint for m::ListTransactionsResponse {}
impl SizeHint for m::TxnOffsetCommitResponse {}
impl SizeHint for m::WriteTxnMarkersResponse {}
impl SizeHint for m::ConsumerGroupDescribeResponse {}
impl SizeHint for m::ConsumerGroupHeartbeatResponse {}
impl SizeHint for m::ShareGroupHeartbeatResponse {}
impl SizeHint for m::ShareGroupDescribeResponse {}
impl SizeHint for m::ShareAcknowledgeResponse {}
impl SizeHint for m::DescribeShareGroupOffsetsResponse {}
impl SizeHint for m::AlterShareGroupOffsetsResponse {}
impl SizeHint for m::DeleteShareGroupOffsetsResponse {}
impl SizeHint for m::ReadShareGroupStateResponse {}
impl SizeHint for m::WriteShareGroupStateResponse {}
impl SizeHint for m::CreatePartitionsResponse {}
impl SizeHint for m::DeleteGroupsResponse {}
impl SizeHint for m::DescribeGroupsResponse {}
impl SizeHint for m::HeartbeatResponse {}
impl SizeHint for m::JoinGroupResponse {}
impl SizeHint for m::LeaveGroupResponse {}
impl SizeHint for m::ListGroupsResponse {}
impl SizeHint for m::OffsetCommitResponse {}
impl SizeHint for m::OffsetDeleteResponse {}
impl SizeHint for m::OffsetFetchResponse {}
impl SizeHint for m::SyncGroupResponse {}
impl SizeHint for m::CreateTopicsResponse {}
impl SizeHint for m::DeleteTopicsResponse {}
impl SizeHint for m::DescribeClusterResponse {}
impl SizeHint for m::DescribeConfigsResponse {}
impl SizeHint for m::FindCoordinatorResponse {}
impl SizeHint for m::InitProducerIdResponse {}
impl SizeHint for m::ListOffsetsResponse {}
impl SizeHint for m::MetadataResponse {}
impl SizeHint for m::ProduceResponse {}

impl SizeHint for m::ShareFetchResponse {
    fn size_hint(&self) -> usize {
        let records: usize = self
            .responses
            .iter()
            .flat_map(|t| t.partitions.iter())
            .map(|p| p.records.as_ref().map_or(0, |r| r.len()) + 64 + 18 * p.acquired_records.len())
            .sum();
        256 + records
    }
}

impl SizeHint for m::FetchResponse {
    fn size_hint(&self) -> usize {
        let records: usize = self
            .responses
            .iter()
            .flat_map(|t| t.partitions.iter())
            .map(|p| p.records.as_ref().map_or(0, |r| r.len()) + 64)
            .sum();
        256 + records
    }
}
