//! A group's durable form ([`GroupSnapshot`], the content of Kafka's `GroupMetadataValue`
//! record in `__consumer_offsets`) and the read-only views DescribeGroups and ListGroups
//! report; `restore` turns a group into them and back.

use bytes::Bytes;

use crate::group::GroupState;

/// The persisted metadata of a classic group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupSnapshot {
    /// The group id (the record's key).
    pub group_id: String,
    /// The protocol type; `None` is written as an empty string.
    pub protocol_type: Option<String>,
    /// The generation.
    pub generation_id: i32,
    /// The chosen protocol (nullable).
    pub protocol_name: Option<String>,
    /// The leader's member id (nullable).
    pub leader: Option<String>,
    /// When the group entered its state, or -1 if unknown.
    pub current_state_timestamp_ms: i64,
    /// The members.
    pub members: Vec<MemberSnapshot>,
}

/// One member in a [`GroupSnapshot`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberSnapshot {
    /// The member id.
    pub member_id: String,
    /// The `group.instance.id` of a static member.
    pub group_instance_id: Option<String>,
    /// The client id.
    pub client_id: String,
    /// The client host.
    pub client_host: String,
    /// The rebalance timeout (-1 in old records: use the session timeout).
    pub rebalance_timeout_ms: i32,
    /// The session timeout.
    pub session_timeout_ms: i32,
    /// The member's metadata for the chosen protocol.
    pub subscription: Bytes,
    /// The member's assignment.
    pub assignment: Bytes,
}

/// A group as DescribeGroups reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupDescription {
    /// The group id.
    pub group_id: String,
    /// The state; `state.as_str()` is the wire string.
    pub state: GroupState,
    /// The protocol type, empty if none.
    pub protocol_type: String,
    /// The chosen protocol while Stable, else empty.
    pub protocol_data: String,
    /// The members.
    pub members: Vec<MemberDescription>,
}

/// One member as DescribeGroups reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberDescription {
    /// The member id.
    pub member_id: String,
    /// The `group.instance.id` of a static member.
    pub group_instance_id: Option<String>,
    /// The client id.
    pub client_id: String,
    /// The client host.
    pub client_host: String,
    /// The member's metadata for the chosen protocol (only while Stable).
    pub metadata: Bytes,
    /// The member's assignment.
    pub assignment: Bytes,
}

/// A group as ListGroups reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedGroup {
    /// The group id.
    pub group_id: String,
    /// The protocol type, empty if none.
    pub protocol_type: String,
    /// The state; `state.as_str()` is the wire string.
    pub state: GroupState,
    /// The group type, `"classic"`.
    pub group_type: &'static str,
}
