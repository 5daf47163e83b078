//! Hostile input: absurd lengths, over-long varints, bad UTF-8 and truncated frames must yield
//! a `DecodeError`, never a panic or a large allocation.

use bytes::{BufMut, Bytes, BytesMut};
use weir_protocol::codec::{Decode, DecodeError, Reader};
use weir_protocol::frame::decode_request_header;
use weir_protocol::messages::{
    ApiKey, ApiVersionsRequest, CreateTopicsRequest, MetadataRequest, ProduceRequest,
};

fn reader(bytes: &[u8]) -> Reader {
    Reader::new(Bytes::copy_from_slice(bytes))
}

#[test]
fn twelve_byte_request_claiming_2_pow_31_topics_is_rejected() {
    // A Metadata v1 frame body: header (api 3, v1, correlation 7, null client id), then a
    // topics array claiming i32::MAX entries with no bytes behind it.
    let body: [u8; 14] = [0, 3, 0, 1, 0, 0, 0, 7, 0xff, 0xff, 0x7f, 0xff, 0xff, 0xff];
    let mut r = reader(&body);
    let (header, api) = decode_request_header(&mut r).expect("header is valid");
    assert_eq!(api, Some(ApiKey::Metadata));
    assert_eq!(header.correlation_id, 7);
    assert_eq!(header.client_id, None);
    assert_eq!(r.remaining(), 4);
    let err = MetadataRequest::decode(&mut r, 1).expect_err("must not decode");
    assert!(matches!(err, DecodeError::LengthTooLarge { .. }), "{err:?}");

    // The 12-byte form: a CreateTopics v0 body whose first array claims 2^31 - 1 topics.
    let body: [u8; 12] = [0x7f, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 0];
    let err = CreateTopicsRequest::decode(&mut reader(&body), 0).expect_err("must not decode");
    assert_eq!(
        err,
        DecodeError::LengthTooLarge {
            length: 0x7fff_ffff,
            remaining: 8
        }
    );
}

#[test]
fn compact_array_claiming_u32_max_is_rejected() {
    // CreateTopics v5 (flexible): compact array length u32::MAX (5-byte varint).
    let body = [0xff, 0xff, 0xff, 0xff, 0x0f, 0, 0, 0, 0, 0, 0, 0];
    let err = CreateTopicsRequest::decode(&mut reader(&body), 5).expect_err("must not decode");
    assert!(matches!(err, DecodeError::LengthTooLarge { .. }), "{err:?}");
}

#[test]
fn huge_string_and_bytes_lengths_are_rejected() {
    let mut r = reader(&[0x7f, 0xff, b'a']);
    assert!(matches!(
        r.read_string(false),
        Err(DecodeError::LengthTooLarge { .. })
    ));
    let mut r = reader(&[0x7f, 0xff, 0xff, 0xff, 1, 2, 3]);
    assert!(matches!(
        r.read_bytes(false),
        Err(DecodeError::LengthTooLarge { .. })
    ));
    // Kafka caps strings at 32767 bytes even in compact form.
    let mut r = reader(&[0x81, 0x80, 0x02]);
    assert_eq!(r.read_string(true), Err(DecodeError::InvalidLength(32768)));
}

#[test]
fn varint_longer_than_five_bytes_is_rejected() {
    let mut r = reader(&[0x80, 0x80, 0x80, 0x80, 0x80, 0x01]);
    assert_eq!(r.read_unsigned_varint(), Err(DecodeError::VarintTooLong));
    // A fifth byte with bits beyond 32 overflows u32.
    let mut r = reader(&[0xff, 0xff, 0xff, 0xff, 0x1f]);
    assert_eq!(r.read_unsigned_varint(), Err(DecodeError::VarintTooLong));
    let mut r = reader(&[0xff, 0xff, 0xff, 0xff, 0x0f]);
    assert_eq!(r.read_unsigned_varint(), Ok(u32::MAX));
    // As the length of a compact string inside a flexible message.
    let body = [0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01];
    let err = ApiVersionsRequest::decode(&mut reader(&body), 3).expect_err("must not decode");
    assert_eq!(err, DecodeError::VarintTooLong);
    // 11-byte varlong.
    let mut r = reader(&[0x80; 11]);
    assert_eq!(r.read_varlong(), Err(DecodeError::VarintTooLong));
}

#[test]
fn varints_round_trip_at_the_edges() {
    for v in [0, 1, -1, 63, -64, 64, i32::MAX, i32::MIN] {
        let mut w = BytesMut::new();
        weir_protocol::codec::put_varint(&mut w, v);
        assert_eq!(Reader::new(w.freeze()).read_varint(), Ok(v));
    }
    for v in [0, -1, i64::MAX, i64::MIN] {
        let mut w = BytesMut::new();
        weir_protocol::codec::put_varlong(&mut w, v);
        assert_eq!(Reader::new(w.freeze()).read_varlong(), Ok(v));
    }
}

#[test]
fn invalid_utf8_and_bad_lengths_are_errors() {
    let mut r = reader(&[0, 2, 0xc3, 0x28]);
    assert_eq!(r.read_string(false), Err(DecodeError::InvalidUtf8));
    let mut r = reader(&[0xff, 0xfe]);
    assert_eq!(r.read_string(false), Err(DecodeError::InvalidLength(-2)));
    let mut r = reader(&[0xff, 0xff]);
    assert_eq!(r.read_string(false), Err(DecodeError::UnexpectedNull));
    assert_eq!(reader(&[0xff, 0xff]).read_nullable_string(false), Ok(None));
}

#[test]
fn null_in_a_non_nullable_field_is_an_error() {
    // ProduceRequest v3: transactional id null (ok), acks, timeout, then a null topic array.
    let mut body = BytesMut::new();
    body.put_i16(-1);
    body.put_i16(1);
    body.put_i32(1000);
    body.put_i32(-1);
    let err = ProduceRequest::decode(&mut Reader::new(body.freeze()), 3).expect_err("null array");
    assert_eq!(err, DecodeError::UnexpectedNull);
}

#[test]
fn truncated_frames_error_at_every_length() {
    // A Produce v9 request with a tagged field in the body, cut at every length.
    let mut body = BytesMut::new();
    body.put_i16(0);
    body.put_i16(9);
    body.put_i32(42);
    body.put_i16(3);
    body.put_slice(b"cli");
    body.put_u8(0); // header tagged fields
    body.put_u8(0); // null transactional id
    body.put_i16(-1);
    body.put_i32(30_000);
    body.put_u8(2); // one topic
    body.put_u8(2);
    body.put_u8(b't');
    body.put_u8(2); // one partition
    body.put_i32(0);
    body.put_u8(4); // 3 bytes of records
    body.put_slice(&[1, 2, 3]);
    body.put_u8(0);
    body.put_u8(0);
    body.put_u8(1); // one unknown tagged field on the request
    body.put_u8(9);
    body.put_u8(1);
    body.put_u8(0xaa);
    let full = body.freeze();

    let mut r = Reader::new(full.clone());
    let (header, api) = decode_request_header(&mut r).expect("header");
    assert_eq!(api, Some(ApiKey::Produce));
    assert_eq!(header.client_id.as_deref(), Some("cli"));
    let req = ProduceRequest::decode(&mut r, 9).expect("body");
    assert!(r.is_empty());
    assert_eq!(req.acks, -1);
    assert_eq!(
        req.unknown_tagged_fields,
        vec![(9, Bytes::from_static(&[0xaa]))]
    );
    let records = req.topic_data[0].partition_data[0].records.clone();
    assert_eq!(records.as_deref(), Some(&[1u8, 2, 3][..]));

    for cut in 0..full.len() {
        let mut r = Reader::new(full.slice(..cut));
        let ok = decode_request_header(&mut r).and_then(|_| ProduceRequest::decode(&mut r, 9));
        assert!(ok.is_err(), "prefix of {cut} bytes decoded");
    }
}

#[test]
fn records_are_slices_of_the_frame() {
    let mut body = BytesMut::new();
    body.put_i16(1); // acks
    body.put_i32(1000);
    body.put_i32(1); // one topic
    body.put_i16(1);
    body.put_u8(b't');
    body.put_i32(1); // one partition
    body.put_i32(0);
    body.put_i32(4);
    body.put_slice(b"abcd");
    let frame = body.freeze();
    let req = ProduceRequest::decode(&mut Reader::new(frame.clone()), 2).expect("decode");
    let records = req.topic_data[0].partition_data[0]
        .records
        .clone()
        .expect("records present");
    assert_eq!(&records[..], b"abcd");
    let start = frame.as_ptr() as usize + frame.len() - 4;
    assert_eq!(records.as_ptr() as usize, start, "records were copied");
}

#[test]
fn unknown_api_key_header_still_yields_the_correlation_id() {
    let body = [0x7f, 0x00, 0, 0, 0, 0, 0, 9, 0, 1, b'x'];
    let mut r = reader(&body);
    let (header, api) = decode_request_header(&mut r).expect("v1 header");
    assert_eq!(api, None);
    assert_eq!(header.request_api_key, 0x7f00);
    assert_eq!(header.correlation_id, 9);
    assert_eq!(header.client_id.as_deref(), Some("x"));
}

#[test]
fn unsupported_versions_are_errors() {
    let err = ProduceRequest::decode(&mut reader(&[]), 99).expect_err("v99");
    assert_eq!(
        err,
        DecodeError::UnsupportedVersion {
            message: "ProduceRequest",
            version: 99
        }
    );
    assert!(ProduceRequest::decode(&mut reader(&[]), -1).is_err());
}
