//! Byte-exact encodings computed by hand from the Kafka protocol guide, as real clients send
//! them.

use bytes::Bytes;
use weir_protocol::codec::{Decode, Reader};
use weir_protocol::frame::{check_frame, decode_request_header, encode_request, encode_response};
use weir_protocol::messages::api_versions_response::ApiVersion;
use weir_protocol::messages::metadata_request::MetadataRequestTopic;
use weir_protocol::messages::{
    ApiKey, ApiVersionsRequest, ApiVersionsResponse, MetadataRequest, RequestHeader,
};

fn header(key: ApiKey, version: i16, correlation_id: i32) -> RequestHeader {
    RequestHeader {
        request_api_key: key.key(),
        request_api_version: version,
        correlation_id,
        client_id: Some("rdkafka".into()),
        ..Default::default()
    }
}

/// Checks that `frame` is complete and decodes back to `header`, returning the body reader.
fn decode_frame(frame: &[u8], expected: &RequestHeader) -> Reader {
    assert_eq!(check_frame(frame, 1 << 20), Ok(Some(frame.len())));
    let mut r = Reader::new(Bytes::copy_from_slice(&frame[4..]));
    let (h, _) = match decode_request_header(&mut r) {
        Ok(decoded) => decoded,
        Err(e) => panic!("header does not decode: {e}"),
    };
    assert_eq!(&h, expected);
    r
}

#[test]
fn api_versions_v3_request_as_librdkafka_sends_it() {
    #[rustfmt::skip]
    let expected: &[u8] = &[
        0x00, 0x00, 0x00, 0x24,                         // size 36
        0x00, 0x12, 0x00, 0x03,                         // ApiVersions v3
        0x00, 0x00, 0x00, 0x01,                         // correlation id
        0x00, 0x07, b'r', b'd', b'k', b'a', b'f', b'k', b'a', // client id, int16 length
        0x00,                                           // header tagged fields
        0x0b, b'l', b'i', b'b', b'r', b'd', b'k', b'a', b'f', b'k', b'a', // compact string
        0x06, b'2', b'.', b'3', b'.', b'0',             // compact string
        0x00,                                           // body tagged fields
    ];
    let h = header(ApiKey::ApiVersions, 3, 1);
    let body = ApiVersionsRequest {
        client_software_name: "librdkafka".into(),
        client_software_version: "2.3.0".into(),
        ..Default::default()
    };
    let hv = ApiKey::ApiVersions.request_header_version(3);
    assert_eq!(hv, 2);
    let frame = encode_request(&h, hv, &body, 3).expect("encodes");
    assert_eq!(&frame[..], expected);

    let mut r = decode_frame(expected, &h);
    assert_eq!(ApiVersionsRequest::decode(&mut r, 3), Ok(body));
    assert!(r.is_empty());
}

#[test]
fn metadata_v1_request() {
    #[rustfmt::skip]
    let expected: &[u8] = &[
        0x00, 0x00, 0x00, 0x1b,                         // size 27
        0x00, 0x03, 0x00, 0x01,                         // Metadata v1
        0x00, 0x00, 0x00, 0x02,                         // correlation id
        0x00, 0x07, b'r', b'd', b'k', b'a', b'f', b'k', b'a', // client id
        0x00, 0x00, 0x00, 0x01,                         // one topic
        0x00, 0x04, b't', b'e', b's', b't',             // topic name
    ];
    let h = header(ApiKey::Metadata, 1, 2);
    let body = MetadataRequest {
        topics: Some(vec![MetadataRequestTopic {
            name: Some("test".into()),
            ..Default::default()
        }]),
        ..Default::default()
    };
    let hv = ApiKey::Metadata.request_header_version(1);
    assert_eq!(hv, 1);
    let frame = encode_request(&h, hv, &body, 1).expect("encodes");
    assert_eq!(&frame[..], expected);
    let mut r = decode_frame(expected, &h);
    assert_eq!(MetadataRequest::decode(&mut r, 1), Ok(body));

    // Null topics means "all topics" from v1 on.
    let all = MetadataRequest {
        topics: None,
        ..Default::default()
    };
    let frame = encode_request(&h, hv, &all, 1).expect("encodes");
    assert_eq!(&frame[..4], &[0, 0, 0, 0x15]);
    assert_eq!(&frame[21..], &[0xff, 0xff, 0xff, 0xff]);
}

#[test]
fn api_versions_v3_response_uses_header_v0() {
    #[rustfmt::skip]
    let expected: &[u8] = &[
        0x00, 0x00, 0x00, 0x13,                         // size 19
        0x00, 0x00, 0x00, 0x01,                         // correlation id (header v0)
        0x00, 0x00,                                     // error code
        0x02,                                           // compact array of 1
        0x00, 0x12, 0x00, 0x00, 0x00, 0x04, 0x00,       // ApiVersions 0-4, no tags
        0x00, 0x00, 0x00, 0x00,                         // throttle time
        0x00,                                           // tagged fields (all default)
    ];
    let body = ApiVersionsResponse {
        api_keys: vec![ApiVersion {
            api_key: 18,
            min_version: 0,
            max_version: 4,
            ..Default::default()
        }],
        ..Default::default()
    };
    let hv = ApiKey::ApiVersions.response_header_version(3);
    assert_eq!(hv, 0);
    let frame = encode_response(1, hv, &body, 3).expect("encodes");
    assert_eq!(&frame[..], expected);

    // v0: int32 array length, no throttle time, no tagged fields.
    let frame = encode_response(1, 0, &body, 0).expect("encodes");
    assert_eq!(
        &frame[..],
        &[0, 0, 0, 16, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1, 0, 0x12, 0, 0, 0, 4][..]
    );
}

#[test]
fn non_ignorable_fields_are_not_silently_dropped() {
    // CreateTopics validateOnly exists from v1; v0 cannot carry `true`.
    let req = weir_protocol::messages::CreateTopicsRequest {
        validate_only: true,
        ..Default::default()
    };
    let mut w = bytes::BytesMut::new();
    assert!(weir_protocol::codec::Encode::encode(&req, &mut w, 0).is_err());
    let mut w = bytes::BytesMut::new();
    assert!(weir_protocol::codec::Encode::encode(&req, &mut w, 1).is_ok());
}
