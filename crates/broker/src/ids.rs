//! Conversions between the metadata's topic ids and the wire's UUIDs.

use weir_meta::TopicId;
use weir_protocol::codec::Uuid;

/// A topic id as a wire UUID.
pub(crate) fn to_uuid(id: &TopicId) -> Uuid {
    Uuid(*id)
}

/// A wire UUID as a topic id.
pub(crate) fn from_uuid(id: &Uuid) -> TopicId {
    id.0
}
