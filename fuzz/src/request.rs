//! `decode_request`: a frame body (request header, then the body) decoded with the type the
//! API key names, at the header's version, then encoded and decoded again.

use std::fmt::Debug;

use bytes::{Bytes, BytesMut};
use weir_protocol::codec::{Decode, Encode, Reader};
use weir_protocol::frame::decode_request_header;
use weir_protocol::messages::*;

/// Decodes `data` as a frame body (no size prefix) and checks the round trip of the header
/// and of the body if they decode. Returns the API and version when the body decoded.
pub fn check_request(data: &[u8]) -> Option<(ApiKey, i16)> {
    let mut r = Reader::new(Bytes::copy_from_slice(data));
    let (header, api) = decode_request_header(&mut r).ok()?;
    let api = api?;
    let version = header.request_api_version;
    check_header(&header, api);
    // Every version the codec handles, unstable ones included: the broker refuses those
    // versions, but the decoder is still reachable from tests and tools.
    let (min, max) = api.codec_versions();
    if !(min..=max).contains(&version) {
        return None;
    }
    decode_body(api, &mut r, version).then_some((api, version))
}

/// The header must encode and decode back to itself, choosing the same header version.
fn check_header(header: &RequestHeader, api: ApiKey) {
    let header_version = api.request_header_version(header.request_api_version);
    let encoded = encode(header, header_version);
    let mut again = Reader::new(encoded.clone());
    let (second, second_api) = match decode_request_header(&mut again) {
        Ok(x) => x,
        Err(e) => panic!("re-decoding header {header:?} (v{header_version}) failed: {e}"),
    };
    assert_eq!(second_api, Some(api));
    assert!(again.is_empty(), "{} header bytes left", again.remaining());
    assert_eq!(header, &second);
    assert_eq!(encoded, encode(&second, header_version));
}

fn encode<T: Encode + Debug>(value: &T, version: i16) -> Bytes {
    let mut w = BytesMut::new();
    if let Err(e) = value.encode(&mut w, version) {
        panic!("decoded value does not encode at v{version}: {e}\n{value:?}");
    }
    w.freeze()
}

/// Decodes one `T` at `version`; if that works, encodes it and checks the encoding decodes
/// to an equal value (compared through `Debug` when `PartialEq` fails, so NaN doubles pass)
/// and encodes to the same bytes.
fn roundtrip<T: Decode + Encode + PartialEq + Debug>(r: &mut Reader, version: i16) -> bool {
    let Ok(first) = T::decode(r, version) else {
        return false;
    };
    let encoded = encode(&first, version);
    let mut again = Reader::new(encoded.clone());
    let second = match T::decode(&mut again, version) {
        Ok(x) => x,
        Err(e) => panic!("re-decoding at v{version} failed: {e}\n{first:?}\n{encoded:02x?}"),
    };
    assert!(
        again.is_empty(),
        "re-decoding at v{version} left {} bytes",
        again.remaining()
    );
    if first != second {
        assert_eq!(format!("{first:?}"), format!("{second:?}"), "v{version}");
    }
    assert_eq!(encoded, encode(&second, version), "v{version}");
    true
}

/// Calls `$callback!($args; Variant => TypeRequest, ...)` with every API key and its request
/// type; the callbacks match exhaustively, so a new API breaks the build here.
macro_rules! for_each_api {
    ($callback:ident, $($args:expr),*) => {
        $callback!($($args),*;
            Produce => ProduceRequest,
            Fetch => FetchRequest,
            ListOffsets => ListOffsetsRequest,
            Metadata => MetadataRequest,
            LeaderAndIsr => LeaderAndIsrRequest,
            StopReplica => StopReplicaRequest,
            UpdateMetadata => UpdateMetadataRequest,
            ControlledShutdown => ControlledShutdownRequest,
            OffsetCommit => OffsetCommitRequest,
            OffsetFetch => OffsetFetchRequest,
            FindCoordinator => FindCoordinatorRequest,
            JoinGroup => JoinGroupRequest,
            Heartbeat => HeartbeatRequest,
            LeaveGroup => LeaveGroupRequest,
            SyncGroup => SyncGroupRequest,
            DescribeGroups => DescribeGroupsRequest,
            ListGroups => ListGroupsRequest,
            SaslHandshake => SaslHandshakeRequest,
            ApiVersions => ApiVersionsRequest,
            CreateTopics => CreateTopicsRequest,
            DeleteTopics => DeleteTopicsRequest,
            DeleteRecords => DeleteRecordsRequest,
            InitProducerId => InitProducerIdRequest,
            OffsetForLeaderEpoch => OffsetForLeaderEpochRequest,
            AddPartitionsToTxn => AddPartitionsToTxnRequest,
            AddOffsetsToTxn => AddOffsetsToTxnRequest,
            EndTxn => EndTxnRequest,
            WriteTxnMarkers => WriteTxnMarkersRequest,
            TxnOffsetCommit => TxnOffsetCommitRequest,
            DescribeAcls => DescribeAclsRequest,
            CreateAcls => CreateAclsRequest,
            DeleteAcls => DeleteAclsRequest,
            DescribeConfigs => DescribeConfigsRequest,
            AlterConfigs => AlterConfigsRequest,
            AlterReplicaLogDirs => AlterReplicaLogDirsRequest,
            DescribeLogDirs => DescribeLogDirsRequest,
            SaslAuthenticate => SaslAuthenticateRequest,
            CreatePartitions => CreatePartitionsRequest,
            CreateDelegationToken => CreateDelegationTokenRequest,
            RenewDelegationToken => RenewDelegationTokenRequest,
            ExpireDelegationToken => ExpireDelegationTokenRequest,
            DescribeDelegationToken => DescribeDelegationTokenRequest,
            DeleteGroups => DeleteGroupsRequest,
            ElectLeaders => ElectLeadersRequest,
            IncrementalAlterConfigs => IncrementalAlterConfigsRequest,
            AlterPartitionReassignments => AlterPartitionReassignmentsRequest,
            ListPartitionReassignments => ListPartitionReassignmentsRequest,
            OffsetDelete => OffsetDeleteRequest,
            DescribeClientQuotas => DescribeClientQuotasRequest,
            AlterClientQuotas => AlterClientQuotasRequest,
            DescribeUserScramCredentials => DescribeUserScramCredentialsRequest,
            AlterUserScramCredentials => AlterUserScramCredentialsRequest,
            Vote => VoteRequest,
            BeginQuorumEpoch => BeginQuorumEpochRequest,
            EndQuorumEpoch => EndQuorumEpochRequest,
            DescribeQuorum => DescribeQuorumRequest,
            AlterPartition => AlterPartitionRequest,
            UpdateFeatures => UpdateFeaturesRequest,
            Envelope => EnvelopeRequest,
            FetchSnapshot => FetchSnapshotRequest,
            DescribeCluster => DescribeClusterRequest,
            DescribeProducers => DescribeProducersRequest,
            BrokerRegistration => BrokerRegistrationRequest,
            BrokerHeartbeat => BrokerHeartbeatRequest,
            UnregisterBroker => UnregisterBrokerRequest,
            DescribeTransactions => DescribeTransactionsRequest,
            ListTransactions => ListTransactionsRequest,
            AllocateProducerIds => AllocateProducerIdsRequest,
            ConsumerGroupHeartbeat => ConsumerGroupHeartbeatRequest,
            ConsumerGroupDescribe => ConsumerGroupDescribeRequest,
            ControllerRegistration => ControllerRegistrationRequest,
            GetTelemetrySubscriptions => GetTelemetrySubscriptionsRequest,
            PushTelemetry => PushTelemetryRequest,
            AssignReplicasToDirs => AssignReplicasToDirsRequest,
            ListClientMetricsResources => ListClientMetricsResourcesRequest,
            DescribeTopicPartitions => DescribeTopicPartitionsRequest,
            ShareGroupHeartbeat => ShareGroupHeartbeatRequest,
            ShareGroupDescribe => ShareGroupDescribeRequest,
            ShareFetch => ShareFetchRequest,
            ShareAcknowledge => ShareAcknowledgeRequest,
            AddRaftVoter => AddRaftVoterRequest,
            RemoveRaftVoter => RemoveRaftVoterRequest,
            UpdateRaftVoter => UpdateRaftVoterRequest,
            InitializeShareGroupState => InitializeShareGroupStateRequest,
            ReadShareGroupState => ReadShareGroupStateRequest,
            WriteShareGroupState => WriteShareGroupStateRequest,
            DeleteShareGroupState => DeleteShareGroupStateRequest,
            ReadShareGroupStateSummary => ReadShareGroupStateSummaryRequest,
            DescribeShareGroupOffsets => DescribeShareGroupOffsetsRequest,
            AlterShareGroupOffsets => AlterShareGroupOffsetsRequest,
            DeleteShareGroupOffsets => DeleteShareGroupOffsetsRequest,
        )
    };
}
pub(crate) use for_each_api;

macro_rules! roundtrip_body {
    ($api:expr, $r:expr, $v:expr; $($variant:ident => $ty:ident),* $(,)?) => {
        match $api {
            $(ApiKey::$variant => roundtrip::<$ty>($r, $v),)*
        }
    };
}

/// Round-trips the body of `api` at `version`; false if it does not decode.
fn decode_body(api: ApiKey, r: &mut Reader, version: i16) -> bool {
    for_each_api!(roundtrip_body, api, r, version)
}
