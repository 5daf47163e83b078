//! Group commit: acks=all produces wait here until an fsync covers their batch.
//!
//! One task drains every waiting request, asks each partition's log for what must be synced,
//! fsyncs outside the partition locks on the blocking pool, and answers everyone at once:
//! one fsync per partition covers every batch that was waiting when it started.

use std::collections::HashMap;
use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};
use tracing::error;

use crate::metrics::Metrics;
use crate::partition::Partition;

struct SyncRequest {
    partition: Arc<Partition>,
    offset: i64,
    done: oneshot::Sender<bool>,
}

/// Handle to the group-commit task.
#[derive(Clone)]
pub struct GroupCommit {
    tx: mpsc::UnboundedSender<SyncRequest>,
}

impl GroupCommit {
    /// Starts the group-commit task on the current runtime.
    pub fn start(metrics: Arc<Metrics>) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(run(rx, metrics));
        Self { tx }
    }

    /// Asks for everything up to and including `offset` of `partition` to be made durable;
    /// the receiver yields true once an fsync covers it, false if the sync failed (the log
    /// then refuses further writes). Ask for every partition first, then await them all,
    /// so that one round covers the whole request.
    pub fn request(&self, partition: Arc<Partition>, offset: i64) -> oneshot::Receiver<bool> {
        let (done, rx) = oneshot::channel();
        // If the task is gone the sender is dropped with the request and the receiver
        // reports failure.
        let _ = self.tx.send(SyncRequest {
            partition,
            offset,
            done,
        });
        rx
    }
}

async fn run(mut rx: mpsc::UnboundedReceiver<SyncRequest>, metrics: Arc<Metrics>) {
    while let Some(first) = rx.recv().await {
        let mut waiting = vec![first];
        while let Ok(more) = rx.try_recv() {
            waiting.push(more);
        }
        let mut by_partition: HashMap<usize, Arc<Partition>> = HashMap::new();
        for w in &waiting {
            by_partition
                .entry(key(&w.partition))
                .or_insert_with(|| w.partition.clone());
        }
        let partitions: Vec<Arc<Partition>> = by_partition.into_values().collect();
        metrics.group_commit_waiters.observe(waiting.len() as f64);
        metrics
            .group_commit_partitions
            .observe(partitions.len() as f64);
        let m = metrics.clone();
        let synced = tokio::task::spawn_blocking(move || sync_all(&partitions, &m))
            .await
            .unwrap_or_default();
        for w in waiting {
            let ok = synced
                .get(&key(&w.partition))
                .is_some_and(|upto| *upto > w.offset);
            let _ = w.done.send(ok);
        }
    }
}

/// Syncs each partition; returns, per partition, the offset everything below which is durable.
fn sync_all(partitions: &[Arc<Partition>], metrics: &Metrics) -> HashMap<usize, i64> {
    let mut out = HashMap::new();
    for p in partitions {
        let target = {
            let log = p.log();
            match log.sync_target() {
                Some(t) => t,
                None => {
                    out.insert(key(p), log.recovery_point());
                    continue;
                }
            }
        };
        let started = std::time::Instant::now();
        let synced = target.sync();
        metrics
            .fsync_seconds
            .observe(started.elapsed().as_secs_f64());
        match synced {
            Ok(upto) => {
                let mut log = p.log_mut();
                log.mark_synced(upto);
                out.insert(key(p), log.recovery_point());
            }
            Err(e) => {
                error!(topic = %p.topic, partition = p.index, error = %e, "fsync failed; the log refuses further writes")
            }
        }
    }
    out
}

/// Identity of a partition object, usable as a map key across threads.
fn key(p: &Arc<Partition>) -> usize {
    Arc::as_ptr(p) as usize
}
