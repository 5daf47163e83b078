//! How a share-partition's leader reaches its share coordinator (Kafka's `Persister`): the
//! coordinator is the leader of the `__share_group_state` partition its key hashes to,
//! this broker or another one, reached with ReadShareGroupState and WriteShareGroupState.
//! A coordinator that is moving or loading is retried until a deadline.

use std::sync::Arc;
use std::time::Duration;

use tracing::debug;
use weir_coordinator::share::state::{DeadLetterMark, ShareSnapshot, ShareStateKey};
use weir_coordinator::share::{DeliveryState, StateBatch};
use weir_protocol::error::ErrorCode;
use weir_protocol::messages::read_share_group_state_request::{self as rreq, ReadStateData};
use weir_protocol::messages::write_share_group_state_request::{self as wreq, WriteStateData};
use weir_protocol::messages::{ReadShareGroupStateRequest, WriteShareGroupStateRequest};

use super::store::ShareStore;
use crate::host::Host;
use crate::ids::to_uuid;

/// How long a read or write keeps trying while the coordinator moves or loads.
const DEADLINE: Duration = Duration::from_secs(10);
/// The wait between two tries.
const RETRY: Duration = Duration::from_millis(100);

/// Where a share-partition's state is kept, and how to get there.
pub(crate) struct Persister {
    host: Arc<Host>,
    store: Arc<ShareStore>,
}

/// Errors worth another try: the coordinator is moving, loading or unreachable.
fn retriable(e: ErrorCode) -> bool {
    matches!(
        e,
        ErrorCode::NotCoordinator
            | ErrorCode::CoordinatorLoadInProgress
            | ErrorCode::CoordinatorNotAvailable
            | ErrorCode::NetworkException
            | ErrorCode::NotLeaderOrFollower
    )
}

impl Persister {
    /// A persister over this broker's share coordinators.
    pub(crate) fn new(host: Arc<Host>, store: Arc<ShareStore>) -> Self {
        Persister { host, store }
    }

    /// The state of `key`, `None` if it was never written.
    pub(crate) async fn read(
        &self,
        key: &ShareStateKey,
    ) -> Result<Option<ShareSnapshot>, ErrorCode> {
        self.retrying(|| self.read_once(key)).await
    }

    /// Writes the state of `key`; answered once its coordinator's ISR holds it.
    pub(crate) async fn write(
        &self,
        key: &ShareStateKey,
        snapshot: &ShareSnapshot,
    ) -> Result<(), ErrorCode> {
        self.retrying(|| self.write_once(key, snapshot)).await
    }

    async fn retrying<T, F, Fut>(&self, mut f: F) -> Result<T, ErrorCode>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, ErrorCode>>,
    {
        let deadline = tokio::time::Instant::now() + DEADLINE;
        loop {
            match f().await {
                Err(e) if retriable(e) && tokio::time::Instant::now() < deadline => {
                    debug!(error = e.name(), "share coordinator not ready; retrying");
                    tokio::time::sleep(RETRY).await;
                }
                other => return other,
            }
        }
    }

    /// The coordinator's node and address, or `None` when it is this broker.
    async fn locate(&self, key: &ShareStateKey) -> Result<Option<(i32, String)>, ErrorCode> {
        if self.store.coordinator_of(key).is_none() {
            self.store.ensure_topic().await?;
        }
        let node = self
            .store
            .coordinator_of(key)
            .ok_or(ErrorCode::CoordinatorNotAvailable)?;
        if node == self.host.config.node_id {
            return Ok(None);
        }
        let image = self.host.image();
        match image.brokers.get(&node) {
            Some(b) if !b.fenced => Ok(Some((node, format!("{}:{}", b.host, b.port)))),
            _ => Err(ErrorCode::CoordinatorNotAvailable),
        }
    }

    async fn read_once(&self, key: &ShareStateKey) -> Result<Option<ShareSnapshot>, ErrorCode> {
        let Some((node, addr)) = self.locate(key).await? else {
            return self.store.read(key).await;
        };
        let req = ReadShareGroupStateRequest {
            group_id: key.group.clone(),
            topics: vec![ReadStateData {
                topic_id: to_uuid(&key.topic_id),
                partitions: vec![rreq::PartitionData {
                    partition: key.partition,
                    leader_epoch: -1,
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        };
        let resp = self
            .host
            .peers
            .send_at(node, &addr, &req, 0)
            .await
            .map_err(|e| {
                debug!(node, error = %e, "ReadShareGroupState to another broker failed");
                ErrorCode::NetworkException
            })?;
        let p = resp
            .results
            .iter()
            .flat_map(|r| &r.partitions)
            .next()
            .ok_or(ErrorCode::UnknownServerError)?;
        match ErrorCode::from_code(p.error_code) {
            ErrorCode::None => {}
            other => return Err(other),
        }
        if p.start_offset < 0 {
            return Ok(None);
        }
        Ok(Some(ShareSnapshot {
            state_epoch: p.state_epoch,
            leader_epoch: -1,
            start_offset: p.start_offset,
            batches: p
                .state_batches
                .iter()
                .filter_map(|b| {
                    Some(StateBatch {
                        first: b.first_offset,
                        last: b.last_offset,
                        state: DeliveryState::from_code(b.delivery_state)?,
                        delivery_count: b.delivery_count,
                    })
                })
                .collect(),
            dead_letter_mark: DeadLetterMark::from_wire(
                p.dead_letter_partition,
                p.dead_letter_mark,
            ),
        }))
    }

    async fn write_once(&self, key: &ShareStateKey, s: &ShareSnapshot) -> Result<(), ErrorCode> {
        let Some((node, addr)) = self.locate(key).await? else {
            return self.store.write(key.clone(), s.clone()).await;
        };
        let (dead_letter_partition, dead_letter_mark) = DeadLetterMark::to_wire(s.dead_letter_mark);
        let req = WriteShareGroupStateRequest {
            group_id: key.group.clone(),
            topics: vec![WriteStateData {
                topic_id: to_uuid(&key.topic_id),
                partitions: vec![wreq::PartitionData {
                    partition: key.partition,
                    state_epoch: s.state_epoch,
                    leader_epoch: s.leader_epoch,
                    start_offset: s.start_offset,
                    state_batches: s
                        .batches
                        .iter()
                        .map(|b| wreq::StateBatch {
                            first_offset: b.first,
                            last_offset: b.last,
                            delivery_state: b.state.code(),
                            delivery_count: b.delivery_count,
                            ..Default::default()
                        })
                        .collect(),
                    dead_letter_partition,
                    dead_letter_mark,
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        };
        let resp = self
            .host
            .peers
            .send_at(node, &addr, &req, 0)
            .await
            .map_err(|e| {
                debug!(node, error = %e, "WriteShareGroupState to another broker failed");
                ErrorCode::NetworkException
            })?;
        let code = resp
            .results
            .iter()
            .flat_map(|r| &r.partitions)
            .map(|p| p.error_code)
            .find(|&c| c != 0)
            .unwrap_or(0);
        match ErrorCode::from_code(code) {
            ErrorCode::None => Ok(()),
            other => Err(other),
        }
    }
}
