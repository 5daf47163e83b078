//! Group commit: acks=all produces wait here until an fsync covers their batch.
//!
//! One task drains every waiting request, asks each partition's log for what must be synced,
//! fsyncs outside the partition locks on the blocking pool (several partitions at once),
//! and answers everyone at once: one fsync per partition covers every batch that was
//! waiting when it started.

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
        let synced = sync_parallel(partitions, &metrics).await;
        for w in waiting {
            let ok = synced
                .get(&key(&w.partition))
                .is_some_and(|upto| *upto > w.offset);
            let _ = w.done.send(ok);
        }
    }
}

/// Most fsyncs of one round in flight at once: concurrent fsyncs let the file system share
/// a journal commit between them, so a round over many partitions takes a few commits'
/// time instead of one per partition.
const PARALLEL_SYNCS: usize = 8;

/// Syncs the partitions on up to [`PARALLEL_SYNCS`] blocking threads; returns, per
/// partition, the offset everything below which is durable.
async fn sync_parallel(
    partitions: Vec<Arc<Partition>>,
    metrics: &Arc<Metrics>,
) -> HashMap<usize, i64> {
    let lanes = partitions.len().clamp(1, PARALLEL_SYNCS);
    let mut chunks: Vec<Vec<Arc<Partition>>> = vec![Vec::new(); lanes];
    for (i, p) in partitions.into_iter().enumerate() {
        if let Some(chunk) = chunks.get_mut(i % lanes) {
            chunk.push(p);
        }
    }
    let tasks: Vec<_> = chunks
        .into_iter()
        .map(|chunk| {
            let m = metrics.clone();
            tokio::task::spawn_blocking(move || sync_all(&chunk, &m))
        })
        .collect();
    let mut out = HashMap::new();
    for t in tasks {
        // A task that panicked synced nothing we can vouch for: its waiters get false.
        out.extend(t.await.unwrap_or_default());
    }
    out
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
