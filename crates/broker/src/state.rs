//! The broker as the handlers see it: the node ([`Host`]) and the coordinators that run on
//! it. Nothing below this file knows it exists: replication and the coordinators reach the
//! node through [`Host`] alone.

use std::ops::Deref;
use std::sync::{Arc, RwLock, Weak};

use crate::config::BrokerConfig;
use crate::error::BrokerError;
use crate::fetch_session::FetchSessions;
use crate::groups::Groups;
use crate::host::Host;
use crate::samples::Samples;
use crate::shares::store::ShareStore;
use crate::shares::Shares;
use crate::txns::Txns;

/// The broker's shared state: the node and its coordinators.
pub struct BrokerState {
    /// The node: settings, image, partitions, quorum.
    pub host: Arc<Host>,
    /// The group coordinators.
    pub groups: Arc<Groups>,
    /// The transaction coordinators.
    pub txns: Arc<Txns>,
    /// The share-partitions led here and the share sessions of their members.
    pub shares: Arc<Shares>,
    /// The share coordinators: share-partition state in `__share_group_state`.
    pub share_store: Arc<ShareStore>,
    /// The fetch sessions of clients (KIP-227).
    pub(crate) fetch_sessions: FetchSessions,
    /// Consumer lag and plotted history, as the sampler last saw them.
    pub(crate) samples: RwLock<Samples>,
}

impl Deref for BrokerState {
    type Target = Host;

    fn deref(&self) -> &Host {
        &self.host
    }
}

impl BrokerState {
    /// Opens the node (see [`Host::open`]) and sets up its coordinators.
    pub async fn open(
        config: BrokerConfig,
        advertised: (String, i32),
        endpoints: Vec<weir_meta::records::Endpoint>,
    ) -> Result<Arc<Self>, BrokerError> {
        let host = Host::open(config, advertised, endpoints).await?;
        let c = &host.config;
        let groups = Arc::new(Groups::new(
            host.clone(),
            c.group.clone(),
            c.offsets_topic_num_partitions,
        ));
        let txns = Arc::new(Txns::new(
            host.clone(),
            groups.clone(),
            c.txn.clone(),
            c.transaction_state_log_num_partitions,
        ));
        let share_store = Arc::new(ShareStore::new(host.clone()));
        let shares = Arc::new(Shares::new(
            host.clone(),
            c.group.share.clone(),
            share_store.clone(),
        ));
        let fetch_sessions = FetchSessions::new(c.max_incremental_fetch_session_cache_slots);
        Ok(Arc::new(Self {
            host,
            groups,
            txns,
            shares,
            share_store,
            fetch_sessions,
            samples: RwLock::new(Samples::default()),
        }))
    }

    /// Starts the coordinators' timers, and brings the coordinators in line with leadership
    /// now and whenever an image is published.
    pub(crate) fn start_coordinators(self: &Arc<Self>) {
        self.groups.start();
        self.txns.start();
        self.shares.start();
        self.reconcile_coordinators();
        let changed = self.coordinators_changed.clone();
        let weak: Weak<BrokerState> = Arc::downgrade(self);
        tokio::spawn(async move {
            loop {
                changed.notified().await;
                let Some(state) = weak.upgrade() else { return };
                if state.is_stopping() {
                    return;
                }
                state.reconcile_coordinators();
            }
        });
    }

    /// Loads the coordinators of partitions led here and drops those of partitions no
    /// longer led here.
    fn reconcile_coordinators(&self) {
        self.groups.reconcile();
        self.txns.reconcile();
        self.share_store.reconcile();
    }
}
