//! Dispatch: one exhaustive `match` on the API key, from a decoded header to a handler, and
//! the handler's response to an encoded frame (see [`crate::response`]).
//!
//! Requests of one connection are handled one at a time in arrival order, as Kafka does, so
//! a producer's pipelined appends keep their order. A handler may leave the waiting part of
//! its work (an acks=all produce waiting for its fsync, a fetch long-polling for data) to a
//! task; the connection goes on with the next request and still writes responses in
//! request order (invariant 7).

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use tracing::warn;
use weir_auth::principal::Principal;
use weir_protocol::codec::{Decode, Encode, ErrorCodes, Reader};
use weir_protocol::messages::{ApiKey, RequestHeader};

use crate::handlers;
use crate::handlers::context::{Reply, RequestContext};
use crate::metrics::{Metrics, RequestTimer};
use crate::produce_order::ProduceOrder;
use crate::response::{encode, Outcome, SizeHint};
use crate::state::BrokerState;

/// An outcome now, or a task that will decide it.
pub(crate) enum Pending {
    /// Already decided.
    Ready(Outcome),
    /// Decided when the task ends, at the instant it returns.
    Later(tokio::task::JoinHandle<(Outcome, Instant)>),
}

/// A request's outcome on its way to the writer, with its timer once it was understood.
pub(crate) struct Dispatched {
    /// The outcome.
    pub(crate) pending: Pending,
    /// When it passed each point so far; `None` for what was refused before a handler.
    pub(crate) timer: Option<RequestTimer>,
}

impl From<Pending> for Dispatched {
    fn from(pending: Pending) -> Self {
        Dispatched {
            pending,
            timer: None,
        }
    }
}

/// Who sent a request, and where it came in.
pub(crate) struct Caller {
    /// The client's address.
    pub(crate) peer: SocketAddr,
    /// The listener's name.
    pub(crate) listener: Arc<str>,
    /// Who the client is.
    pub(crate) principal: Arc<Principal>,
    /// The connection's produce order.
    pub(crate) order: Arc<ProduceOrder>,
}

/// Checks the API and version, decodes the body, runs its handler and encodes the response;
/// `read` is when its frame was read.
pub(crate) async fn handle(
    state: Arc<BrokerState>,
    header: RequestHeader,
    api_key: Option<ApiKey>,
    body: Reader,
    caller: Caller,
    read: Instant,
) -> Dispatched {
    let started = Instant::now();
    let enabled = state.metrics.enabled;
    let pending = route(state, header, api_key, body, caller).await;
    let timer = api_key.filter(|_| enabled).map(|api| RequestTimer {
        api,
        read,
        started,
        handled: Instant::now(),
    });
    Dispatched { pending, timer }
}

async fn route(
    state: Arc<BrokerState>,
    header: RequestHeader,
    api_key: Option<ApiKey>,
    body: Reader,
    caller: Caller,
) -> Pending {
    let Caller {
        peer,
        listener,
        principal,
        order,
    } = caller;
    let Some(api_key) = api_key else {
        warn!(%peer, api_key = header.request_api_key, "closing connection: unknown API key");
        return Pending::Ready(Outcome::Close);
    };
    let version = header.request_api_version;
    if state.metrics.enabled {
        state.metrics.requests.count(api_key, version);
    }
    if api_key == ApiKey::ApiVersions {
        return Pending::Ready(handlers::api_versions::handle_raw(
            &header,
            body,
            peer,
            &state.image(),
        ));
    }
    let Some((min, max)) = handlers::api_versions::accepted(api_key) else {
        warn!(%peer, api = api_key.name(), "closing connection: API not supported by this broker");
        return Pending::Ready(Outcome::Close);
    };
    if version < min || version > max {
        warn!(%peer, api = api_key.name(), version, "closing connection: unsupported API version");
        return Pending::Ready(Outcome::Close);
    }
    let metrics = state.metrics.clone();
    let call = Call {
        metrics,
        ctx: RequestContext {
            state,
            version,
            client_id: header.client_id.clone().unwrap_or_default(),
            peer,
            listener,
            principal,
            order,
        },
        correlation_id: header.correlation_id,
        api_key,
        body,
        peer,
    };
    use ApiKey as K;
    match api_key {
        K::Produce => call.run(handlers::produce::handle).await,
        K::Fetch => call.run(handlers::fetch::handle).await,
        K::ListOffsets => call.now(handlers::list_offsets::handle).await,
        K::Metadata => call.now(handlers::metadata::handle).await,
        K::CreateTopics => call.now(handlers::create_topics::handle).await,
        K::DeleteTopics => call.now(handlers::delete_topics::handle).await,
        K::CreatePartitions => call.now(handlers::create_partitions::handle).await,
        K::DescribeConfigs => call.now(handlers::describe_configs::handle).await,
        K::DescribeCluster => call.now(handlers::describe_cluster::handle).await,
        K::InitProducerId => call.now(handlers::init_producer_id::handle).await,
        K::FindCoordinator => call.now(handlers::find_coordinator::handle).await,
        K::JoinGroup => call.run(handlers::join_group::handle).await,
        K::SyncGroup => call.run(handlers::sync_group::handle).await,
        K::Heartbeat => call.now(handlers::heartbeat::handle).await,
        K::LeaveGroup => call.now(handlers::leave_group::handle).await,
        K::OffsetCommit => call.now(handlers::offset_commit::handle).await,
        K::OffsetFetch => call.now(handlers::offset_fetch::handle).await,
        K::ListGroups => call.now(handlers::list_groups::handle).await,
        K::DescribeGroups => call.now(handlers::describe_groups::handle).await,
        K::DeleteGroups => call.now(handlers::delete_groups::handle).await,
        K::OffsetDelete => call.now(handlers::offset_delete::handle).await,
        K::ConsumerGroupHeartbeat => call.now(handlers::consumer_group_heartbeat::handle).await,
        K::ConsumerGroupDescribe => call.now(handlers::consumer_group_describe::handle).await,
        K::DescribeShareGroupOffsets => {
            call.now(handlers::describe_share_group_offsets::handle)
                .await
        }
        K::AlterShareGroupOffsets => call.now(handlers::share_group_offsets::alter).await,
        K::DeleteShareGroupOffsets => call.now(handlers::share_group_offsets::delete).await,
        K::ShareGroupHeartbeat => call.now(handlers::share_group_heartbeat::handle).await,
        K::ShareGroupDescribe => call.now(handlers::share_group_describe::handle).await,
        K::ShareFetch => call.run(handlers::share_fetch::handle).await,
        K::ShareAcknowledge => call.now(handlers::share_acknowledge::handle).await,
        K::ReadShareGroupState => call.now(handlers::share_group_state::read).await,
        K::WriteShareGroupState => call.now(handlers::share_group_state::write).await,
        K::AddPartitionsToTxn => call.run(handlers::add_partitions_to_txn::handle).await,
        K::AddOffsetsToTxn => call.run(handlers::add_offsets_to_txn::handle).await,
        K::EndTxn => call.run(handlers::end_txn::handle).await,
        K::TxnOffsetCommit => call.run(handlers::txn_offset_commit::handle).await,
        K::WriteTxnMarkers => call.run(handlers::write_txn_markers::handle).await,
        K::DescribeTransactions => call.now(handlers::describe_transactions::handle).await,
        K::DescribeProducers => call.now(handlers::describe_producers::handle).await,
        K::ListTransactions => call.now(handlers::list_transactions::handle).await,
        K::AlterConfigs => call.now(handlers::alter_configs::handle).await,
        K::IncrementalAlterConfigs => call.now(handlers::alter_configs::handle_incremental).await,
        K::DeleteRecords => call.now(handlers::delete_records::handle).await,
        K::OffsetForLeaderEpoch => call.now(handlers::offset_for_leader_epoch::handle).await,
        K::ElectLeaders => call.now(handlers::elect_leaders::handle).await,
        K::AlterPartitionReassignments => call.now(handlers::reassignments::alter).await,
        K::ListPartitionReassignments => call.now(handlers::reassignments::list).await,
        K::DescribeLogDirs => call.now(handlers::describe_log_dirs::handle).await,
        K::DescribeUserScramCredentials => call.now(handlers::scram_credentials::describe).await,
        K::AlterUserScramCredentials => call.now(handlers::scram_credentials::alter).await,
        K::UpdateFeatures => call.now(handlers::update_features::handle).await,
        K::ApiVersions => Pending::Ready(Outcome::Close), // answered above
        // Not implemented yet: `supported` does not advertise these, so they never get here.
        K::SaslHandshake => call.now(handlers::sasl::handshake).await,
        K::SaslAuthenticate => call.now(handlers::sasl::authenticate).await,
        K::CreateAcls => call.now(handlers::acls::create).await,
        K::DescribeAcls => call.now(handlers::acls::describe).await,
        K::DeleteAcls => call.now(handlers::acls::delete).await,
        K::AlterReplicaLogDirs
        | K::CreateDelegationToken
        | K::RenewDelegationToken
        | K::ExpireDelegationToken
        | K::DescribeDelegationToken
        | K::DescribeClientQuotas
        | K::AlterClientQuotas
        | K::Vote
        | K::BeginQuorumEpoch
        | K::EndQuorumEpoch
        | K::DescribeQuorum
        | K::AlterPartition
        | K::Envelope
        | K::FetchSnapshot
        | K::BrokerRegistration
        | K::BrokerHeartbeat
        | K::UnregisterBroker
        | K::AllocateProducerIds
        | K::ControllerRegistration
        | K::GetTelemetrySubscriptions
        | K::PushTelemetry
        | K::AssignReplicasToDirs
        | K::ListClientMetricsResources
        | K::DescribeTopicPartitions
        | K::AddRaftVoter
        | K::RemoveRaftVoter
        | K::UpdateRaftVoter
        | K::InitializeShareGroupState
        | K::DeleteShareGroupState
        | K::ReadShareGroupStateSummary
        | K::LeaderAndIsr
        | K::StopReplica
        | K::UpdateMetadata
        | K::ControlledShutdown => Pending::Ready(Outcome::Close),
    }
}

/// Counts the error codes a response carries (NONE is not counted).
fn count_errors(metrics: &Metrics, key: ApiKey, r: &impl ErrorCodes) {
    if !metrics.enabled {
        return;
    }
    let mut codes: Vec<i16> = Vec::new();
    r.error_codes(&mut |c| {
        if c != 0 {
            codes.push(c)
        }
    });
    if !codes.is_empty() {
        metrics.requests.errors(key, &codes);
    }
}

/// One request on its way through a handler.
struct Call {
    metrics: Arc<Metrics>,
    ctx: RequestContext,
    correlation_id: i32,
    api_key: ApiKey,
    body: Reader,
    peer: SocketAddr,
}

impl Call {
    /// Decodes the request, runs `f`, and encodes its reply now or when it is ready.
    async fn run<Req, Resp, F, Fut>(mut self, f: F) -> Pending
    where
        Req: Decode,
        Resp: Encode + ErrorCodes + SizeHint + Send + 'static,
        F: FnOnce(RequestContext, Req) -> Fut,
        Fut: Future<Output = Reply<Resp>>,
    {
        let version = self.ctx.version;
        let request = match Req::decode(&mut self.body, version) {
            Ok(r) => r,
            Err(e) => {
                warn!(peer = %self.peer, api = self.api_key.name(), version, error = %e, "closing connection: malformed request");
                return Pending::Ready(Outcome::Close);
            }
        };
        let (id, key) = (self.correlation_id, self.api_key);
        let metrics = self.metrics;
        match f(self.ctx, request).await {
            Reply::Now(r) => {
                count_errors(&metrics, key, &r);
                Pending::Ready(encode(id, key, &r, version))
            }
            Reply::Nothing => Pending::Ready(Outcome::NoResponse),
            Reply::Later(fut) => Pending::Later(tokio::spawn(async move {
                let r = fut.await;
                count_errors(&metrics, key, &r);
                (encode(id, key, &r, version), Instant::now())
            })),
        }
    }

    /// Like [`Call::run`] for handlers that always answer at once.
    async fn now<Req, Resp, F, Fut>(self, f: F) -> Pending
    where
        Req: Decode,
        Resp: Encode + ErrorCodes + SizeHint + Send + 'static,
        F: FnOnce(RequestContext, Req) -> Fut,
        Fut: Future<Output = Resp>,
    {
        self.run(|ctx, req| async move { Reply::Now(f(ctx, req).await) })
            .await
    }
}

/// Serves one request frame (size prefix included) as a connection would, without a socket:
/// the response frame, or `None` when nothing is sent back. For the dispatch benchmark.
#[doc(hidden)]
pub async fn serve_frame(state: &Arc<BrokerState>, frame: bytes::Bytes) -> Option<bytes::BytesMut> {
    let read = Instant::now();
    let mut body = Reader::new(frame.slice(4..));
    let (header, api_key) = weir_protocol::frame::decode_request_header(&mut body).ok()?;
    let caller = Caller {
        peer: SocketAddr::from(([127, 0, 0, 1], 0)),
        listener: Arc::from("bench"),
        principal: Arc::new(Principal::anonymous()),
        order: Arc::new(ProduceOrder::default()),
    };
    let outcome = match handle(state.clone(), header, api_key, body, caller, read)
        .await
        .pending
    {
        Pending::Ready(o) => o,
        Pending::Later(task) => task.await.ok()?.0,
    };
    match outcome {
        Outcome::Respond(bytes) => Some(bytes),
        Outcome::NoResponse | Outcome::Close => None,
    }
}
