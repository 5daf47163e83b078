//! Small valid inputs for each fuzz target, written to `seeds/<target>/` by the
//! `gen_seeds` example.

use bytes::Bytes;
use weir_protocol::codec::Encode;
use weir_protocol::frame::encode_request;
use weir_protocol::messages::create_topics_request::{CreatableTopic, CreatableTopicConfig};
use weir_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use weir_protocol::messages::metadata_request::MetadataRequestTopic;
use weir_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use weir_protocol::messages::*;
use weir_protocol::record::{BatchBuilder, Compression};

/// One seed: the target it feeds, a file name and the bytes.
#[derive(Debug, Clone)]
pub struct Seed {
    /// Fuzz target name.
    pub target: &'static str,
    /// File name inside `seeds/<target>/`.
    pub name: String,
    /// The input.
    pub bytes: Vec<u8>,
}

/// Every seed of every target.
pub fn all() -> Vec<Seed> {
    let mut out = request_seeds();
    out.extend(batch_seeds());
    out.extend(recovery_seeds());
    out.extend(sasl_seeds());
    out
}

/// Complete PLAIN and SCRAM exchanges for the one known user, and some near misses.
fn sasl_seeds() -> Vec<Seed> {
    use weir_auth::scram::{Mechanism, ScramClient};
    let mut out = Vec::new();
    let mut seed = |name: &str, bytes: Vec<u8>| {
        out.push(Seed {
            target: "sasl",
            name: name.to_string(),
            bytes,
        })
    };
    seed("plain-ok", crate::sasl::input(0, b"\0user\0pencil", b""));
    seed("plain-authzid-ok", crate::sasl::input(0, b"user\0user\0pencil", b""));
    seed("plain-wrong", crate::sasl::input(0, b"\0user\0pencil2", b""));
    for (mode, mech) in [(1u8, Mechanism::Sha256), (2u8, Mechanism::Sha512)] {
        let mut c = ScramClient::with_nonce(mech, "user", "pencil", "clientnonce");
        let first = c.client_first();
        let server_first = format!(
            "r=clientnoncefuzznonce,s={},i=4096",
            {
                use base64::Engine;
                base64::engine::general_purpose::STANDARD.encode(crate::sasl::SALT)
            }
        );
        let fin = c.client_final(server_first.as_bytes()).unwrap_or_default();
        seed(&format!("scram-{mode}-ok"), crate::sasl::input(mode, &first, &fin));
        seed(
            &format!("scram-{mode}-unknown-user"),
            crate::sasl::input(mode, b"n,,n=nobody,r=abc", &fin),
        );
    }
    seed(
        "parsers",
        crate::sasl::input(
            9,
            b"n,a=us=2Cer,m=x,n=user,r=abc,tokenauth=true",
            b"c=biws,r=abcdef,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
        ),
    );
    out
}

/// A frame body (header and request, no size prefix); `None` if `request` does not
/// encode at `version`.
fn body(api: ApiKey, version: i16, request: &impl Encode) -> Option<Vec<u8>> {
    let header = RequestHeader {
        request_api_key: api as i16,
        request_api_version: version,
        correlation_id: 7,
        client_id: Some("fuzz".to_owned()),
        ..Default::default()
    };
    let frame = encode_request(
        &header,
        api.request_header_version(version),
        request,
        version,
    );
    frame.ok().map(|f| f[4..].to_vec())
}

fn small_batch(compression: Compression, records: usize) -> Bytes {
    let mut b = BatchBuilder::new(compression, 1_000);
    for i in 0..records {
        let value = [b'v'; 5];
        let headers: &[(&str, Option<&[u8]>)] = if i == 0 {
            &[("h", Some(b"x".as_slice()))]
        } else {
            &[]
        };
        if let Err(e) = b.push(Some(b"key"), Some(&value), headers, 1_000 + i as i64) {
            panic!("building a seed batch: {e}");
        }
    }
    b.build()
        .unwrap_or_else(|e| panic!("building a seed batch: {e}"))
}

/// A request of `api` with fields filled in, for the APIs whose defaults are empty lists.
fn rich_body(api: ApiKey, version: i16) -> Option<Option<Vec<u8>>> {
    Some(match api {
        ApiKey::Produce => body(
            api,
            version,
            &ProduceRequest {
                acks: -1,
                timeout_ms: 30_000,
                topic_data: vec![TopicProduceData {
                    name: "t".to_owned(),
                    partition_data: vec![PartitionProduceData {
                        index: 0,
                        records: Some(small_batch(Compression::None, 2)),
                        ..Default::default()
                    }],
                    ..Default::default()
                }],
                ..Default::default()
            },
        ),
        ApiKey::Fetch => body(
            api,
            version,
            &FetchRequest {
                max_wait_ms: 500,
                max_bytes: 1 << 20,
                topics: vec![FetchTopic {
                    topic: "t".to_owned(),
                    partitions: vec![FetchPartition {
                        partition: 0,
                        fetch_offset: 3,
                        partition_max_bytes: 1 << 20,
                        ..Default::default()
                    }],
                    ..Default::default()
                }],
                ..Default::default()
            },
        ),
        ApiKey::Metadata => body(
            api,
            version,
            &MetadataRequest {
                topics: Some(vec![MetadataRequestTopic {
                    name: Some("t".to_owned()),
                    ..Default::default()
                }]),
                ..Default::default()
            },
        ),
        ApiKey::CreateTopics => body(
            api,
            version,
            &CreateTopicsRequest {
                topics: vec![CreatableTopic {
                    name: "t".to_owned(),
                    num_partitions: 3,
                    replication_factor: 1,
                    configs: vec![CreatableTopicConfig {
                        name: "cleanup.policy".to_owned(),
                        value: Some("compact".to_owned()),
                        ..Default::default()
                    }],
                    ..Default::default()
                }],
                timeout_ms: 1_000,
                ..Default::default()
            },
        ),
        _ => return None,
    })
}

/// The APIs the brief names; they get seeds at several versions, the rest at one.
const MAIN_APIS: &[ApiKey] = &[
    ApiKey::Produce,
    ApiKey::Fetch,
    ApiKey::ListOffsets,
    ApiKey::Metadata,
    ApiKey::ApiVersions,
    ApiKey::CreateTopics,
    ApiKey::DeleteTopics,
    ApiKey::CreatePartitions,
    ApiKey::DescribeConfigs,
    ApiKey::DescribeCluster,
    ApiKey::InitProducerId,
    ApiKey::FindCoordinator,
];

macro_rules! default_body {
    ($api:expr, $version:expr; $($variant:ident => $ty:ident),* $(,)?) => {
        match $api {
            $(ApiKey::$variant => body($api, $version, &$ty::default()),)*
        }
    };
}

/// `api`'s request at `version`: the rich one where there is one, else the default value.
fn request_body(api: ApiKey, version: i16) -> Option<Vec<u8>> {
    rich_body(api, version)
        .unwrap_or_else(|| crate::request::for_each_api!(default_body, api, version))
}

fn request_seeds() -> Vec<Seed> {
    let mut out = Vec::new();
    for &api in ApiKey::ALL {
        let (min, max) = api.codec_versions();
        let versions: Vec<i16> = if MAIN_APIS.contains(&api) {
            let flex = (min..=max).find(|&v| api.is_flexible(v));
            let mut v = vec![min, max];
            v.extend(flex);
            v.extend(flex.map(|f| f - 1).filter(|&f| f >= min));
            v.sort_unstable();
            v.dedup();
            v
        } else {
            vec![max]
        };
        for version in versions {
            if let Some(bytes) = request_body(api, version) {
                out.push(Seed {
                    target: "decode_request",
                    name: format!("{}-v{version}", api.name()),
                    bytes,
                });
            }
        }
    }
    out
}

fn batch_seeds() -> Vec<Seed> {
    let codecs = [
        ("none", Compression::None),
        ("gzip", Compression::Gzip),
        ("snappy", Compression::Snappy),
        ("lz4", Compression::Lz4),
        ("zstd", Compression::Zstd),
    ];
    let mut out = Vec::new();
    for (name, codec) in codecs {
        let mut bytes = vec![0u8];
        bytes.extend_from_slice(&small_batch(codec, 2));
        out.push(Seed {
            target: "decode_batch",
            name: format!("{name}-2"),
            bytes,
        });
    }
    // Two batches end to end, then a partial one; and the CRC-patching flag.
    let mut bytes = vec![1u8];
    bytes.extend_from_slice(&small_batch(Compression::None, 1));
    bytes.extend_from_slice(&small_batch(Compression::None, 3));
    let partial = small_batch(Compression::None, 1);
    bytes.extend_from_slice(&partial[..partial.len() / 2]);
    out.push(Seed {
        target: "decode_batch",
        name: "two-and-partial".to_owned(),
        bytes,
    });
    out
}

fn recovery_seeds() -> Vec<Seed> {
    let mut out = Vec::new();
    let cases: &[(&str, [u8; 4], Vec<u8>)] = &[
        (
            "overwrite-garbage",
            [0x03, 0x01, 0x50, 0x00],
            vec![0xff; 16],
        ),
        ("insert-zeros-clean", [0x04, 0x05, 0x00, 0x00], vec![0; 8]),
        ("truncate-mid", [0x02, 0x08, 0x30, 0x00], Vec::new()),
        // Two original batches hold offsets 0..3; a valid batch at offset 3 is kept.
        ("append-valid-batch", [0x01, 0x09, 0xff, 0xff], {
            let mut b = small_batch(Compression::None, 1).to_vec();
            b[..8].copy_from_slice(&3i64.to_be_bytes());
            b
        }),
        (
            "forged-crc-small-segments",
            [0x0d, 0x1b, 0x20, 0x01],
            small_batch(Compression::Gzip, 2).to_vec(),
        ),
        // Small segments, clean close, then damage the first segment's index files.
        // (The index entry's position moves 5 bytes into its batch.)
        (
            "index-entry",
            [0x07, 0x23, 0x04, 0x00],
            vec![0x00, 0x00, 0x00, 0x51],
        ),
        (
            "timeindex-entry",
            [0x05, 0x43, 0x0c, 0x00],
            vec![0x00, 0x00, 0x00, 0x02],
        ),
        // A forged (CRC-patched) checkpoint with another recovery point and log start.
        ("checkpoint-forged", [0x05, 0x73, 0x06, 0x00], {
            let mut b = 1i64.to_be_bytes().to_vec();
            b.extend_from_slice(&2i64.to_be_bytes());
            b
        }),
    ];
    for (name, head, tail) in cases {
        let mut bytes = head.to_vec();
        bytes.extend_from_slice(tail);
        out.push(Seed {
            target: "segment_recovery",
            name: (*name).to_owned(),
            bytes,
        });
    }
    out
}
