//! The quorum's state machine: the [`MetadataImage`] the committed entries build. Each
//! applied batch of entries publishes the new image with the index it reached, which the
//! broker watches to reconcile its partitions. Snapshots are the image as records.

use std::io::Cursor;
use std::sync::Arc;

use openraft::storage::RaftStateMachine;
use openraft::{
    Entry, EntryPayload, LogId, RaftSnapshotBuilder, Snapshot, SnapshotMeta, StorageError,
    StorageIOError, StoredMembership,
};
use tokio::sync::{watch, Mutex};

use super::TypeConfig;
use crate::image::MetadataImage;
use crate::records::MetadataRecord;

type Err = StorageError<u64>;
type Membership = StoredMembership<u64, openraft::BasicNode>;

/// The image after the last applied entry, and that entry's index plus one (0: nothing).
#[derive(Debug, Clone, Default)]
pub struct Published {
    /// The image.
    pub image: Arc<MetadataImage>,
    /// How many entries are applied (the next index).
    pub applied: u64,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct SnapshotData {
    last_applied: Option<LogId<u64>>,
    membership: Membership,
    records: Vec<MetadataRecord>,
}

struct Inner {
    image: MetadataImage,
    last_applied: Option<LogId<u64>>,
    membership: Membership,
    snapshot: Option<(SnapshotMeta<u64, openraft::BasicNode>, Vec<u8>)>,
}

/// The state machine; clones share it.
#[derive(Clone)]
pub(crate) struct StateMachine {
    inner: Arc<Mutex<Inner>>,
    publish: Arc<watch::Sender<Published>>,
}

impl StateMachine {
    /// An empty state machine and the receiver of what it publishes.
    pub(crate) fn new() -> (Self, watch::Receiver<Published>) {
        let (tx, rx) = watch::channel(Published::default());
        let sm = Self {
            inner: Arc::new(Mutex::new(Inner {
                image: MetadataImage::default(),
                last_applied: None,
                membership: Membership::default(),
                snapshot: None,
            })),
            publish: Arc::new(tx),
        };
        (sm, rx)
    }

    fn published(inner: &Inner) -> Published {
        Published {
            image: Arc::new(inner.image.clone()),
            applied: inner.last_applied.map_or(0, |l| l.index + 1),
        }
    }
}

fn sm_err(e: impl std::fmt::Display) -> Err {
    StorageIOError::write_state_machine(&std::io::Error::other(e.to_string())).into()
}

impl RaftSnapshotBuilder<TypeConfig> for StateMachine {
    async fn build_snapshot(&mut self) -> Result<Snapshot<TypeConfig>, Err> {
        let mut inner = self.inner.lock().await;
        let data = SnapshotData {
            last_applied: inner.last_applied,
            membership: inner.membership.clone(),
            records: inner.image.to_records(),
        };
        let bytes = serde_json::to_vec(&data).map_err(sm_err)?;
        let meta = SnapshotMeta {
            last_log_id: inner.last_applied,
            last_membership: inner.membership.clone(),
            snapshot_id: format!(
                "{}-{}",
                inner.last_applied.map_or(0, |l| l.leader_id.term),
                inner.last_applied.map_or(0, |l| l.index)
            ),
        };
        inner.snapshot = Some((meta.clone(), bytes.clone()));
        Ok(Snapshot {
            meta,
            snapshot: Box::new(Cursor::new(bytes)),
        })
    }
}

impl RaftStateMachine<TypeConfig> for StateMachine {
    type SnapshotBuilder = Self;

    async fn applied_state(&mut self) -> Result<(Option<LogId<u64>>, Membership), Err> {
        let inner = self.inner.lock().await;
        Ok((inner.last_applied, inner.membership.clone()))
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<()>, Err>
    where
        I: IntoIterator<Item = Entry<TypeConfig>> + Send,
        I::IntoIter: Send,
    {
        let mut inner = self.inner.lock().await;
        let mut out = Vec::new();
        for e in entries {
            match e.payload {
                EntryPayload::Blank => {}
                EntryPayload::Normal(records) => {
                    for r in &records {
                        inner.image.apply(r);
                    }
                }
                EntryPayload::Membership(m) => {
                    inner.membership = StoredMembership::new(Some(e.log_id), m);
                }
            }
            inner.last_applied = Some(e.log_id);
            out.push(());
        }
        self.publish.send_replace(Self::published(&inner));
        Ok(out)
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        self.clone()
    }

    async fn begin_receiving_snapshot(&mut self) -> Result<Box<Cursor<Vec<u8>>>, Err> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta<u64, openraft::BasicNode>,
        snapshot: Box<Cursor<Vec<u8>>>,
    ) -> Result<(), Err> {
        let bytes = snapshot.into_inner();
        let data: SnapshotData = serde_json::from_slice(&bytes).map_err(sm_err)?;
        let mut inner = self.inner.lock().await;
        let mut image = MetadataImage::default();
        for r in &data.records {
            image.apply(r);
        }
        inner.image = image;
        inner.last_applied = meta.last_log_id;
        inner.membership = meta.last_membership.clone();
        inner.snapshot = Some((meta.clone(), bytes));
        self.publish.send_replace(Self::published(&inner));
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot<TypeConfig>>, Err> {
        let inner = self.inner.lock().await;
        Ok(inner.snapshot.as_ref().map(|(meta, bytes)| Snapshot {
            meta: meta.clone(),
            snapshot: Box::new(Cursor::new(bytes.clone())),
        }))
    }
}
