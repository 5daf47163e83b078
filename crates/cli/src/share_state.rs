//! The in-flight figures of a share group's partitions for `weir share-group describe`, read
//! from their share coordinators (FindCoordinator key type 2, then ReadShareGroupState): the
//! state as its leader last wrote it, which every acknowledgement, release, lock expiry and
//! dead-letter copy writes. (Acquisitions alone are not written; the leaders' `/metrics` have
//! the live figures.)

use std::collections::HashMap;

use weir_client::Connection;
use weir_protocol::codec::Uuid;
use weir_protocol::error::ErrorCode;
use weir_protocol::messages::read_share_group_state_request::{PartitionData, ReadStateData};
use weir_protocol::messages::{FindCoordinatorRequest, ReadShareGroupStateRequest};

use crate::commands::Target;

/// Delivery states as `__share_group_state` records them.
const AVAILABLE: i8 = 0;
const ACQUIRED: i8 = 1;
const ARCHIVING: i8 = 3;
/// FindCoordinator's key type for share coordinators.
const SHARE: i8 = 2;

/// One share-partition's records between its start offset and the last record written.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Figures {
    /// Records past the start offset that the state tracks (acknowledged ones included, as
    /// the `weir_share_partition_records_in_flight` gauge counts them).
    pub(crate) in_flight: i64,
    /// Of them, available to be acquired (never delivered, released or timed out).
    pub(crate) available: i64,
    /// Of them, acquired by a member when the state was written.
    pub(crate) acquired: i64,
    /// Of them, waiting for their dead-letter copy.
    pub(crate) archiving: i64,
}

/// The figures of each `(topic id, partition)` of `group` whose state could be read; a
/// partition whose coordinator could not be reached (or refused, e.g. without
/// CLUSTER_ACTION) is left out.
pub(crate) async fn figures(
    target: &Target,
    bootstrap: &Connection,
    group: &str,
    partitions: &[(Uuid, i32)],
) -> HashMap<(Uuid, i32), Figures> {
    let mut out = HashMap::new();
    let keys: Vec<String> = partitions
        .iter()
        .map(|(id, p)| format!("{group}:{id}:{p}"))
        .collect();
    let req = FindCoordinatorRequest {
        key_type: SHARE,
        coordinator_keys: keys.clone(),
        ..Default::default()
    };
    let Ok(found) = bootstrap.send_at(&req, 6).await else {
        return out;
    };
    // Which partitions each coordinator keeps.
    let mut by_coordinator: HashMap<String, Vec<(Uuid, i32)>> = HashMap::new();
    for c in &found.coordinators {
        let Some(i) = keys.iter().position(|k| *k == c.key) else {
            continue;
        };
        if c.error_code == 0 {
            by_coordinator
                .entry(format!("{}:{}", c.host, c.port))
                .or_default()
                .push(partitions[i]);
        }
    }
    for (addr, parts) in by_coordinator {
        let Ok(conn) = target.connect_to(&addr).await else {
            continue;
        };
        let mut topics: Vec<ReadStateData> = Vec::new();
        for (id, p) in &parts {
            let data = PartitionData {
                partition: *p,
                leader_epoch: -1,
                ..Default::default()
            };
            match topics.iter_mut().find(|t| t.topic_id == *id) {
                Some(t) => t.partitions.push(data),
                None => topics.push(ReadStateData {
                    topic_id: *id,
                    partitions: vec![data],
                    ..Default::default()
                }),
            }
        }
        let req = ReadShareGroupStateRequest {
            group_id: group.to_string(),
            topics,
            ..Default::default()
        };
        let Ok(resp) = conn.send(&req).await else {
            continue;
        };
        for t in &resp.results {
            for p in &t.partitions {
                if ErrorCode::from_code(p.error_code) != ErrorCode::None {
                    continue;
                }
                let mut f = Figures::default();
                for b in &p.state_batches {
                    let n = (b.last_offset - b.first_offset + 1).max(0);
                    match b.delivery_state {
                        AVAILABLE => f.available += n,
                        ACQUIRED => f.acquired += n,
                        ARCHIVING => f.archiving += n,
                        _ => {}
                    }
                    f.in_flight += n;
                }
                out.insert((t.topic_id, p.partition), f);
            }
        }
    }
    out
}
