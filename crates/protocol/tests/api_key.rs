//! The generated `ApiKey` table and the error-code table agree with Kafka.

use weir_protocol::codec::Message;
use weir_protocol::error::ErrorCode;
use weir_protocol::messages::{ApiKey, FetchRequest, ProduceRequest, ProduceResponse};

#[test]
fn every_api_key_round_trips() {
    for &api in ApiKey::ALL {
        assert_eq!(ApiKey::from_i16(api.key()), Some(api), "{}", api.name());
    }
    assert_eq!(ApiKey::from_i16(-1), None);
    assert_eq!(ApiKey::from_i16(i16::MAX), None);
    assert_eq!(ApiKey::Produce.key(), 0);
    assert_eq!(ApiKey::Fetch.name(), "Fetch");
    assert_eq!(ApiKey::ApiVersions.key(), 18);
}

#[test]
fn versions_follow_the_specs() {
    assert_eq!(
        ApiKey::Produce.valid_versions(),
        (0, ProduceRequest::MAX_VERSION)
    );
    assert_eq!(
        ApiKey::Fetch.valid_versions(),
        (0, FetchRequest::MAX_VERSION)
    );
    // EndTxn's newest version is marked unstable: not advertised, but the codec has it.
    let (lo, hi) = ApiKey::EndTxn.valid_versions();
    assert_eq!(ApiKey::EndTxn.codec_versions(), (lo, hi + 1));
    assert_eq!(
        ApiKey::ListOffsets.valid_versions(),
        ApiKey::ListOffsets.codec_versions()
    );
    // Every ReadShareGroupState version is unstable: the advertised range is empty.
    let (lo, hi) = ApiKey::ReadShareGroupState.valid_versions();
    assert!(hi < lo);
    // ShareFetch comes from the overlay: Kafka 4.3's stable versions 1 and 2.
    assert_eq!(ApiKey::ShareFetch.valid_versions(), (1, 2));
    assert_eq!(ProduceResponse::API_KEY, 0);
    assert_eq!(ProduceRequest::FLEXIBLE_MIN, 9);
}

#[test]
fn header_versions() {
    assert_eq!(ApiKey::Produce.request_header_version(8), 1);
    assert_eq!(ApiKey::Produce.request_header_version(9), 2);
    assert_eq!(ApiKey::Produce.response_header_version(8), 0);
    assert_eq!(ApiKey::Produce.response_header_version(9), 1);
    assert_eq!(ApiKey::ControlledShutdown.request_header_version(0), 0);
    assert_eq!(ApiKey::ControlledShutdown.request_header_version(1), 1);
    assert_eq!(ApiKey::ApiVersions.request_header_version(3), 2);
    assert_eq!(ApiKey::ApiVersions.response_header_version(3), 0);
    // A newer client's unknown ApiVersions version still parses with the flexible header.
    assert_eq!(ApiKey::ApiVersions.request_header_version(100), 2);
}

#[test]
fn error_codes() {
    assert_eq!(ErrorCode::from_code(6), ErrorCode::NotLeaderOrFollower);
    assert_eq!(
        ErrorCode::NotLeaderOrFollower.name(),
        "NOT_LEADER_OR_FOLLOWER"
    );
    assert_eq!(ErrorCode::from_code(35).name(), "UNSUPPORTED_VERSION");
    assert_eq!(
        ErrorCode::from_code(i16::MAX),
        ErrorCode::UnknownServerError
    );
    assert!(ErrorCode::RequestTimedOut.is_retriable());
    assert!(!ErrorCode::InvalidRequest.is_retriable());
}
