//! Partition replication between brokers (DESIGN.md, "Replication"): followers fetch from
//! their leaders ([`fetcher`]), leaders track them (see [`crate::replica`]) and ask the
//! controller to shrink the ISR of followers that lag past `replica.lag.time.max.ms` and to
//! expand it with those that caught up.

mod fetcher;

use std::collections::HashMap;
use std::sync::{Arc, Weak};
use std::time::Duration;

use tokio::task::JoinHandle;
use tracing::{debug, info, warn};
use weir_meta::quorum::Command;
use weir_protocol::error::ErrorCode;

use crate::host::{now_ms, Host};
use crate::partition::Partition;

/// Starts the replication supervisor of this broker.
pub(crate) fn start(state: &Arc<Host>) {
    tokio::spawn(supervise(Arc::downgrade(state)));
}

/// Runs one fetcher per leader this broker follows partitions of, and checks every led
/// partition's ISR for laggards twice per `replica.lag.time.max.ms`.
async fn supervise(weak: Weak<Host>) {
    let Some((lag_ms, changed)) = weak.upgrade().map(|s| {
        (
            s.config.replica_lag_time_max_ms,
            s.replication_changed.clone(),
        )
    }) else {
        return;
    };
    let tick = Duration::from_millis((lag_ms / 2).clamp(50, 5_000));
    let mut fetchers: HashMap<i32, JoinHandle<()>> = HashMap::new();
    loop {
        let Some(state) = weak.upgrade() else { return };
        if state.is_stopping() {
            for (_, f) in fetchers.drain() {
                f.abort();
            }
            return;
        }
        let notified = changed.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        fetchers.retain(|_, f| !f.is_finished());
        let partitions = state.partitions();
        for p in &partitions {
            if let Some((leader, _)) = p.following() {
                fetchers.entry(leader).or_insert_with(|| {
                    debug!(leader, "starting a replica fetcher");
                    tokio::spawn(fetcher::run(Arc::downgrade(&state), leader))
                });
            }
        }
        let now = now_ms();
        let lag = i64::try_from(lag_ms).unwrap_or(i64::MAX);
        for p in &partitions {
            if let Some(isr) = p.shrink_isr(now, lag) {
                info!(topic = %p.topic, partition = p.index, ?isr, "shrinking the ISR: followers lag");
                propose_isr(&state, p, isr);
            }
        }
        drop(state);
        tokio::select! {
            () = &mut notified => {}
            () = tokio::time::sleep(tick) => {}
        }
    }
}

/// Asks the controller for a new ISR of a partition this broker leads (marked pending on
/// the partition); a refusal or failure clears the mark so that it is asked again.
pub(crate) fn propose_isr(state: &Arc<Host>, p: &Arc<Partition>, isr: Vec<i32>) {
    let state = state.clone();
    let p = p.clone();
    let shrink = isr.len() < p.isr_len();
    tokio::spawn(async move {
        let cmd = Command::AlterIsr {
            topic_id: p.topic_id,
            partition: p.index,
            leader: state.config.node_id,
            leader_epoch: p.leader_epoch(),
            isr: isr.clone(),
        };
        let refused = match state.meta.submit(cmd).await {
            Ok(o) => o.results.into_iter().find_map(Result::err),
            Err(e) => Some(e),
        };
        match refused {
            None => {
                if shrink {
                    state.metrics.isr_shrinks.inc();
                } else {
                    state.metrics.isr_expands.inc();
                }
                debug!(topic = %p.topic, partition = p.index, ?isr, "ISR changed");
                state.sync_image().await;
            }
            Some(e) => {
                warn!(topic = %p.topic, partition = p.index, ?isr, error = %e, "the controller did not change the ISR");
                p.clear_pending_isr();
            }
        }
    });
}

/// Waits until the ISR has `last` (the high watermark passed it) while this broker still
/// leads at `epoch`; Kafka's errors if leadership moved, the ISR shrank below
/// min.insync.replicas, or the deadline passed.
pub(crate) async fn wait_replicated(
    state: &Host,
    p: &Partition,
    last: i64,
    epoch: i32,
    deadline: tokio::time::Instant,
) -> Result<(), (ErrorCode, String)> {
    loop {
        let notified = state.data_notify.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        if p.leader_epoch() != epoch || !p.is_leader() {
            return Err((
                ErrorCode::NotLeaderOrFollower,
                "Leadership moved before the ISR had the batch".into(),
            ));
        }
        if p.high_watermark() > last {
            let min = p.settings().min_insync_replicas;
            if p.isr_len() < min {
                return Err((
                    ErrorCode::NotEnoughReplicasAfterAppend,
                    format!(
                        "The ISR shrank to {} below min.insync.replicas {min} after the append",
                        p.isr_len()
                    ),
                ));
            }
            return Ok(());
        }
        if tokio::time::timeout_at(deadline, notified).await.is_err() {
            return Err((
                ErrorCode::RequestTimedOut,
                "Timed out waiting for the in-sync replicas".into(),
            ));
        }
    }
}
