//! WriteTxnMarkers: a transaction coordinator's commit or abort markers for partitions led
//! here (Weir's own coordinator writes them directly; this serves any that asks). Answered
//! once the markers are durable and held by the in-sync replicas.

use weir_protocol::error::ErrorCode;
use weir_protocol::messages::write_txn_markers_response::{
    WritableTxnMarkerPartitionResult, WritableTxnMarkerResult, WritableTxnMarkerTopicResult,
};
use weir_protocol::messages::{WriteTxnMarkersRequest, WriteTxnMarkersResponse};

use crate::handlers::context::{Reply, RequestContext};
use crate::runtime::committed;
use crate::txns::write_marker;

pub(crate) async fn handle(
    ctx: RequestContext,
    req: WriteTxnMarkersRequest,
) -> Reply<WriteTxnMarkersResponse> {
    let state = ctx.state.clone();
    // Only brokers (CLUSTER_ACTION on the cluster) write markers.
    let denied = !ctx.allowed_cluster(weir_auth::acl::Operation::ClusterAction);
    Reply::Later(Box::pin(async move {
        let mut markers = Vec::with_capacity(req.markers.len());
        for m in req.markers {
            let mut topics = Vec::with_capacity(m.topics.len());
            for t in m.topics {
                let mut partitions = Vec::with_capacity(t.partition_indexes.len());
                for p in t.partition_indexes {
                    if denied {
                        partitions.push(WritableTxnMarkerPartitionResult {
                            partition_index: p,
                            error_code: ErrorCode::ClusterAuthorizationFailed.code(),
                            ..Default::default()
                        });
                        continue;
                    }
                    let written = write_marker(
                        &state.host,
                        &state.groups,
                        (&t.name, p),
                        m.producer_id,
                        m.producer_epoch,
                        m.transaction_result,
                        m.coordinator_epoch,
                    );
                    let code = match written {
                        Ok(Some((partition, offset))) => {
                            let epoch = partition.leader_epoch();
                            if committed(&state, &partition, offset, epoch).await {
                                ErrorCode::None
                            } else {
                                // Not synced or not held by the ISR in time: sent again.
                                ErrorCode::NotEnoughReplicasAfterAppend
                            }
                        }
                        Ok(None) => ErrorCode::None,
                        Err(e) => e,
                    };
                    partitions.push(WritableTxnMarkerPartitionResult {
                        partition_index: p,
                        error_code: code.code(),
                        ..Default::default()
                    });
                }
                topics.push(WritableTxnMarkerTopicResult {
                    name: t.name,
                    partitions,
                    ..Default::default()
                });
            }
            markers.push(WritableTxnMarkerResult {
                producer_id: m.producer_id,
                topics,
                ..Default::default()
            });
        }
        state.data_notify.notify_waiters();
        WriteTxnMarkersResponse {
            markers,
            ..Default::default()
        }
    }))
}
