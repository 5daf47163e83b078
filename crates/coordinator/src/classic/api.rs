//! The requests a broker feeds a [`super::ClassicGroup`] and what comes back: plain structs,
//! independent of the wire types, which the broker maps to and from JoinGroup, SyncGroup,
//! Heartbeat and LeaveGroup messages.

use bytes::Bytes;
use weir_protocol::error::ErrorCode;

use super::snapshot::GroupSnapshot;
use crate::group::RequestToken;

/// One protocol a member supports: its name (e.g. `"range"`) and opaque metadata (for the
/// consumer protocol, a `ConsumerProtocolSubscription`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Protocol {
    /// The protocol name.
    pub name: String,
    /// The member's metadata for this protocol.
    pub metadata: Bytes,
}

impl Protocol {
    /// A protocol from its name and metadata.
    pub fn new(name: impl Into<String>, metadata: impl Into<Bytes>) -> Self {
        Protocol {
            name: name.into(),
            metadata: metadata.into(),
        }
    }
}

/// A JoinGroup request, with the facts of its API version the coordinator needs.
#[derive(Debug, Clone, PartialEq)]
pub struct JoinRequest {
    /// Routes a deferred response back to the requesting connection.
    pub token: RequestToken,
    /// The member id; empty for a member joining for the first time.
    pub member_id: String,
    /// `group.instance.id` of a static member (KIP-345), v5+.
    pub group_instance_id: Option<String>,
    /// The protocol type, e.g. `"consumer"`.
    pub protocol_type: String,
    /// Supported protocols in the member's order of preference.
    pub protocols: Vec<Protocol>,
    /// How long the member may go without a heartbeat.
    pub session_timeout_ms: i32,
    /// How long the member may take to rejoin during a rebalance (v0: the session timeout).
    pub rebalance_timeout_ms: i32,
    /// The client id from the request header.
    pub client_id: String,
    /// The client's host (address) as the broker sees it.
    pub client_host: String,
    /// Why the member (re)joins, v8+; only logged.
    pub reason: Option<String>,
    /// True from JoinGroup v4: a new dynamic member first gets MEMBER_ID_REQUIRED (KIP-394).
    pub require_known_member_id: bool,
    /// True from JoinGroup v9: a rejoining static leader may be told to skip assignment.
    pub supports_skip_assignment: bool,
}

/// One member as the leader sees it in its JoinGroup response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinedMember {
    /// The member id.
    pub member_id: String,
    /// The member's `group.instance.id`, if static.
    pub group_instance_id: Option<String>,
    /// The member's metadata for the chosen protocol.
    pub metadata: Bytes,
}

/// A JoinGroup response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinResponse {
    /// The error, or `ErrorCode::None`.
    pub error: ErrorCode,
    /// The generation the member joined, or -1.
    pub generation_id: i32,
    /// The group's protocol type.
    pub protocol_type: Option<String>,
    /// The chosen protocol.
    pub protocol_name: Option<String>,
    /// The leader's member id (empty when unknown).
    pub leader: String,
    /// True when the leader must not compute a new assignment (static leader rejoin, v9+).
    pub skip_assignment: bool,
    /// The member's id (the generated one for a new member).
    pub member_id: String,
    /// All members with their metadata; only in the leader's response.
    pub members: Vec<JoinedMember>,
}

impl JoinResponse {
    /// An error response for `member_id`.
    pub fn error(member_id: impl Into<String>, error: ErrorCode) -> Self {
        JoinResponse {
            error,
            generation_id: -1,
            protocol_type: None,
            protocol_name: None,
            leader: String::new(),
            skip_assignment: false,
            member_id: member_id.into(),
            members: Vec::new(),
        }
    }
}

/// A SyncGroup request.
#[derive(Debug, Clone, PartialEq)]
pub struct SyncRequest {
    /// Routes a deferred response back to the requesting connection.
    pub token: RequestToken,
    /// The member id.
    pub member_id: String,
    /// The generation the member believes current.
    pub generation_id: i32,
    /// The member's `group.instance.id`, if static.
    pub group_instance_id: Option<String>,
    /// The protocol type the member expects (v5+), checked when present.
    pub protocol_type: Option<String>,
    /// The protocol name the member expects (v5+), checked when present.
    pub protocol_name: Option<String>,
    /// The leader's assignment, member id to bytes; empty from followers.
    pub assignments: Vec<(String, Bytes)>,
}

/// A SyncGroup response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncResponse {
    /// The error, or `ErrorCode::None`.
    pub error: ErrorCode,
    /// The group's protocol type (only without error).
    pub protocol_type: Option<String>,
    /// The group's protocol (only without error).
    pub protocol_name: Option<String>,
    /// The member's assignment (empty on error).
    pub assignment: Bytes,
}

impl SyncResponse {
    /// An error response.
    pub fn error(error: ErrorCode) -> Self {
        SyncResponse {
            error,
            protocol_type: None,
            protocol_name: None,
            assignment: Bytes::new(),
        }
    }
}

/// One member named in a LeaveGroup request (v3+ batches them; v0-v2 carry one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaveMember {
    /// The member id; empty to remove a static member by instance id (admin removal).
    pub member_id: String,
    /// The member's `group.instance.id`, if static.
    pub group_instance_id: Option<String>,
    /// Why the member leaves, v5+; only logged.
    pub reason: Option<String>,
}

/// The outcome for one member of a LeaveGroup request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeftMember {
    /// The member id as requested.
    pub member_id: String,
    /// The instance id as requested.
    pub group_instance_id: Option<String>,
    /// The error for this member, or `ErrorCode::None`.
    pub error: ErrorCode,
}

/// A LeaveGroup response. For v0-v2 the broker reports the single member's error at the top.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaveResponse {
    /// The top-level error, or `ErrorCode::None`.
    pub error: ErrorCode,
    /// Per-member outcomes, in request order.
    pub members: Vec<LeftMember>,
}

impl LeaveResponse {
    /// A response failing the whole request.
    pub fn error(error: ErrorCode) -> Self {
        LeaveResponse {
            error,
            members: Vec::new(),
        }
    }
}

/// Something the broker must do on the coordinator's behalf, in the order given.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    /// Send this JoinGroup response to the request that carried `token`.
    JoinResponse {
        /// The parked request's token.
        token: RequestToken,
        /// The response.
        response: JoinResponse,
    },
    /// Send this SyncGroup response to the request that carried `token`.
    SyncResponse {
        /// The parked request's token.
        token: RequestToken,
        /// The response.
        response: SyncResponse,
    },
    /// Write the group's metadata record to `__consumer_offsets`, then report the outcome
    /// with `persisted(write_id, ..)`; responses that depend on it come only after that.
    PersistGroup {
        /// Identifies this write in the `persisted` call.
        write_id: u64,
        /// The record's content.
        snapshot: GroupSnapshot,
    },
}

/// A response available now, or parked until a later effect carries it.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply<R> {
    /// The response, to send now.
    Ready(R),
    /// The response will come as an effect keyed by the request's token.
    Pending,
}

impl<R> Reply<R> {
    /// The response if it is ready.
    pub fn ready(self) -> Option<R> {
        match self {
            Reply::Ready(r) => Some(r),
            Reply::Pending => None,
        }
    }
}

/// What one operation returns: the caller's own reply and the effects to carry out.
#[derive(Debug, Clone, PartialEq)]
pub struct Output<R> {
    /// The reply to the request that made this call.
    pub reply: Reply<R>,
    /// Other work: responses to parked requests and writes.
    pub effects: Vec<Effect>,
}

impl Output<JoinResponse> {
    /// Lifts the JoinGroup response for `token`, if produced, out of `effects` into the reply.
    pub(crate) fn join(token: RequestToken, mut effects: Vec<Effect>) -> Self {
        let pos = effects
            .iter()
            .position(|e| matches!(e, Effect::JoinResponse { token: t, .. } if *t == token));
        let reply = match pos.map(|i| effects.remove(i)) {
            Some(Effect::JoinResponse { response, .. }) => Reply::Ready(response),
            _ => Reply::Pending,
        };
        Output { reply, effects }
    }
}

impl Output<SyncResponse> {
    /// Lifts the SyncGroup response for `token`, if produced, out of `effects` into the reply.
    pub(crate) fn sync(token: RequestToken, mut effects: Vec<Effect>) -> Self {
        let pos = effects
            .iter()
            .position(|e| matches!(e, Effect::SyncResponse { token: t, .. } if *t == token));
        let reply = match pos.map(|i| effects.remove(i)) {
            Some(Effect::SyncResponse { response, .. }) => Reply::Ready(response),
            _ => Reply::Pending,
        };
        Output { reply, effects }
    }
}

impl<R> Output<R> {
    /// A reply ready now, with effects.
    pub(crate) fn ready(reply: R, effects: Vec<Effect>) -> Self {
        Output {
            reply: Reply::Ready(reply),
            effects,
        }
    }
}
