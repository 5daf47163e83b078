//! Reading the consumer protocol's subscription, the metadata a `"consumer"` member sends in
//! JoinGroup: a version (`i16`) followed by a `ConsumerProtocolSubscription` of that version.

use std::collections::BTreeSet;

use bytes::Bytes;
use weir_protocol::codec::{Decode, DecodeError, Reader};
use weir_protocol::messages::consumer_protocol_subscription::ConsumerProtocolSubscription;

/// The protocol type of Kafka consumers.
pub const CONSUMER_PROTOCOL_TYPE: &str = "consumer";

/// Decodes a consumer subscription. A version newer than the codec knows is read as the newest
/// known one (each version extends the previous), as Kafka's `ConsumerProtocol` does.
pub fn parse_subscription(metadata: &Bytes) -> Result<ConsumerProtocolSubscription, DecodeError> {
    let mut r = Reader::new(metadata.clone());
    let version = r.read_i16()?;
    let version = if version > ConsumerProtocolSubscription::MAX_VERSION {
        ConsumerProtocolSubscription::MAX_VERSION
    } else {
        version
    };
    ConsumerProtocolSubscription::decode(&mut r, version)
}

/// The topics a consumer subscription names, read with version 0 (a prefix of every version,
/// so future versions parse too), or `None` when the bytes do not parse.
pub fn subscribed_topics(metadata: &Bytes) -> Option<BTreeSet<String>> {
    let mut r = Reader::new(metadata.clone());
    let version = r.read_i16().ok()?;
    if version < 0 {
        return None;
    }
    ConsumerProtocolSubscription::decode(&mut r, 0)
        .ok()
        .map(|s| s.topics.into_iter().collect())
}

/// Encodes a subscription naming `topics` at `version`, as a consumer would send it.
pub fn encode_subscription(topics: &[&str], version: i16) -> Bytes {
    use bytes::{BufMut, BytesMut};
    use weir_protocol::codec::Encode;

    let sub = ConsumerProtocolSubscription {
        topics: topics.iter().map(|t| t.to_string()).collect(),
        ..ConsumerProtocolSubscription::default()
    };
    let mut w = BytesMut::new();
    w.put_i16(version);
    // Encoding a well-formed value at a version the codec supports cannot fail; an
    // unsupported version yields the bare version prefix, which no reader accepts.
    if sub.encode(&mut w, version).is_err() {
        w.truncate(2);
    }
    w.freeze()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topics_round_trip_at_every_version() {
        for v in 0..=3 {
            let bytes = encode_subscription(&["b", "a"], v);
            let topics = subscribed_topics(&bytes).unwrap_or_default();
            assert_eq!(topics.into_iter().collect::<Vec<_>>(), ["a", "b"], "v{v}");
            assert_eq!(parse_subscription(&bytes).map(|s| s.topics.len()), Ok(2));
        }
    }

    #[test]
    fn garbage_and_negative_versions_do_not_parse() {
        assert_eq!(subscribed_topics(&Bytes::from_static(b"\x00")), None);
        assert_eq!(
            subscribed_topics(&Bytes::from_static(b"\xff\xff\x00\x00\x00\x00")),
            None
        );
        // Claims a huge topic count with no bytes behind it.
        assert_eq!(
            subscribed_topics(&Bytes::from_static(b"\x00\x00\x7f\xff\xff\xff")),
            None
        );
    }

    #[test]
    fn a_future_version_is_read_as_the_newest_known() {
        let mut bytes = encode_subscription(&["t"], 3).to_vec();
        bytes[1] = 9;
        bytes.extend_from_slice(b"future fields");
        let bytes = Bytes::from(bytes);
        assert_eq!(
            parse_subscription(&bytes).map(|s| s.topics),
            Ok(vec!["t".into()])
        );
        assert!(subscribed_topics(&bytes).is_some_and(|t| t.contains("t")));
    }
}
