//! This node in the cluster: joining the metadata quorum at start-up (format, register),
//! heartbeating, following the images the quorum applies, and handing admin changes to
//! the active controller.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::Duration;

use tracing::{info, warn};
use weir_meta::config_change::ConfigOp;
use weir_meta::controller::CreateTopicSpec;
use weir_meta::membership::Registration;
use weir_meta::quorum::{Command, MetaNode, Outcome, QuorumConfig};
use weir_meta::reassign::Election;
use weir_meta::{Controller, MetaError, TopicId, TopicImage};

use crate::config::BrokerConfig;
use crate::configs;
use crate::error::BrokerError;
use crate::host::{new_cluster_id, new_topic_id, preview, ConfigTarget, Host};

impl Host {
    /// Starts this node's part of the metadata quorum, waits until the cluster is formatted
    /// and this broker registered, publishes the image (opening and recovering every local
    /// partition log) and keeps following the quorum and heartbeating from then on.
    pub async fn open(
        config: BrokerConfig,
        advertised: (String, i32),
        endpoints: Vec<weir_meta::records::Endpoint>,
    ) -> Result<Arc<Self>, BrokerError> {
        weir_storage::durable::create_dir_all(&config.data_dir).map_err(|e| BrokerError::Io {
            context: format!("creating {}", config.data_dir.display()),
            source: e,
        })?;
        let clean = crate::clean_shutdown::take(&config.data_dir)?;
        if !clean {
            warn!("the last run did not shut down cleanly: this broker leaves every ISR it shares until it catches up");
        }
        // Partition dirs an earlier run retired but had not removed yet.
        let delay = Duration::from_millis(config.log_segment_delete_delay_ms);
        for aside in crate::partition_dir::retired_in(&config.data_dir) {
            crate::partition_dir::remove_later(aside, delay);
        }
        let quorum = QuorumConfig {
            node_id: config.node_id,
            data_dir: config.data_dir.clone(),
            listen: config.controller_listen,
            voters: config.controller_voters.clone(),
            controller: Controller {
                default_partitions: config.num_partitions,
                default_replication_factor: config.default_replication_factor,
            },
            session_timeout_ms: config.broker_session_timeout_ms,
            tls: match &config.controller_tls {
                None => None,
                Some(t) => {
                    let named =
                        |e: String| BrokerError::Config(format!("controller listener: {e}"));
                    Some(weir_meta::quorum::QuorumTls {
                        server: Arc::new(t.server_config().map_err(named)?),
                        client: Arc::new(t.client_config().map_err(named)?),
                    })
                }
            },
        };
        let tls = match config
            .security
            .tls
            .as_ref()
            .filter(|_| config.security.protocol.tls())
        {
            Some(t) => Some(weir_client::tls::ClientTls::new(Arc::new(
                t.client_config().map_err(BrokerError::Config)?,
            ))),
            None => None,
        };
        let peers = crate::peers::PeerSecurity {
            login: config.security.inter_broker_login.clone(),
            tls,
        };
        let meta = MetaNode::start(quorum)
            .await
            .map_err(|e| BrokerError::Quorum(e.to_string()))?;
        let state = Arc::new(Self::new(config, advertised, endpoints, peers, meta));
        state.unclean_start.store(!clean, Ordering::Release);
        state.join().await?;
        state.unclean_start.store(false, Ordering::Release);
        state.sync_image().await;
        tokio::spawn(follow(Arc::downgrade(&state)));
        tokio::spawn(heartbeat(Arc::downgrade(&state)));
        crate::replication::start(&state);
        Ok(state)
    }

    /// This broker's registration.
    fn registration(&self) -> Registration {
        Registration {
            node_id: self.config.node_id,
            host: self.advertised.0.clone(),
            port: self.advertised.1,
            rack: self.config.rack.clone(),
            controller: self.config.controller_listen.map(|a| a.to_string()),
            listeners: self.endpoints.clone(),
            unclean_shutdown: self.unclean_start.load(Ordering::Acquire),
        }
    }

    /// Formats the cluster (once) and registers this broker, waiting as long as it takes
    /// for the quorum to elect a controller.
    async fn join(&self) -> Result<(), BrokerError> {
        let voters = &self.config.controller_voters;
        let voter = voters.is_empty() || voters.iter().any(|(id, _)| *id == self.config.node_id);
        let mut steps = Vec::new();
        // The voters format the cluster; a broker that is not one follows the metadata log
        // only once registered (it becomes a learner then), so it registers first.
        if voter {
            let scram = self
                .config
                .bootstrap_scram
                .iter()
                .map(|b| (b.user.clone(), b.change()))
                .collect();
            steps.push(Command::Format {
                cluster_id: new_cluster_id(),
                scram,
            });
        }
        steps.push(Command::Register(self.registration()));
        for cmd in steps {
            loop {
                match self.meta.submit(cmd.clone()).await {
                    Ok(_) => break,
                    Err(MetaError::Unavailable(why)) => {
                        info!(%why, "waiting for the metadata quorum");
                    }
                    Err(e) => return Err(BrokerError::Quorum(e.to_string())),
                }
                if self.is_stopping() {
                    return Err(BrokerError::Quorum("stopped while joining".into()));
                }
            }
        }
        info!(
            node_id = self.config.node_id,
            "registered with the controller"
        );
        Ok(())
    }

    /// Runs `cmd` on the active controller and publishes its outcome here.
    async fn submit(&self, cmd: Command) -> Result<Outcome, MetaError> {
        let outcome = self.meta.submit(cmd).await;
        self.sync_image().await;
        outcome
    }

    /// Creates topics one by one (each atomically); `validate_only` checks without creating.
    pub async fn create_topics(
        &self,
        specs: &[CreateTopicSpec],
        validate_only: bool,
    ) -> Vec<Result<Arc<TopicImage>, MetaError>> {
        let image = self.image();
        if validate_only {
            let mut scratch = (*image).clone();
            return specs
                .iter()
                .map(|spec| {
                    let records = self
                        .controller
                        .create_topic(&scratch, spec, new_topic_id())?;
                    let topic = preview(&scratch, &records, &spec.name);
                    for r in &records {
                        scratch.apply(r);
                    }
                    Ok(topic)
                })
                .collect();
        }
        let mut out: Vec<Option<Result<Arc<TopicImage>, MetaError>>> = vec![None; specs.len()];
        let mut asked: Vec<(usize, (CreateTopicSpec, TopicId))> = Vec::new();
        for (i, spec) in specs.iter().enumerate() {
            asked.push((i, (spec.clone(), new_topic_id())));
        }
        if !asked.is_empty() {
            let cmd = Command::CreateTopics {
                specs: asked.iter().map(|(_, s)| s.clone()).collect(),
                validate_only: false,
            };
            let results = match self.submit(cmd).await {
                Ok(o) => o.results,
                Err(e) => vec![Err(e); asked.len()],
            };
            let image = self.image();
            for ((i, (spec, _)), r) in asked.iter().zip(results) {
                out[*i] = Some(r.and_then(|()| {
                    image.topic(&spec.name).cloned().ok_or_else(|| {
                        MetaError::Unavailable("the new topic is not visible yet".into())
                    })
                }));
            }
        }
        out.into_iter()
            .map(|r| r.unwrap_or_else(|| Err(MetaError::InvalidRequest("no result".into()))))
            .collect()
    }

    /// AlterUserScramCredentials: one result per user, in the order users first appear.
    pub async fn alter_scram(
        &self,
        changes: Vec<(String, weir_meta::users::ScramChange)>,
    ) -> Vec<Result<(), MetaError>> {
        let mut users: Vec<&str> = Vec::new();
        for (u, _) in &changes {
            if !users.contains(&u.as_str()) {
                users.push(u);
            }
        }
        let n = users.len();
        match self.submit(Command::AlterScram { changes }).await {
            Ok(o) => o.results,
            Err(e) => vec![Err(e); n],
        }
    }

    /// Adds ACLs (each under a fresh id) and removes ACLs by id (CreateAcls, DeleteAcls);
    /// this node's image has the change when it returns.
    pub async fn alter_acls(
        &self,
        add: Vec<weir_meta::records::AclEntry>,
        remove: Vec<[u8; 16]>,
    ) -> Result<(), MetaError> {
        let add = add.into_iter().map(|a| (new_topic_id(), a)).collect();
        first(self.submit(Command::AlterAcls { add, remove }).await)
    }

    /// Deletes a topic (and, as each node applies it, its local logs).
    pub async fn delete_topic(&self, name: &str) -> Result<TopicId, MetaError> {
        let image = self.image();
        self.controller.delete_topic(&image, name)?;
        let id = image.topic(name).map(|t| t.topic_id).unwrap_or_default();
        let cmd = Command::DeleteTopic {
            name: name.to_string(),
        };
        first(self.submit(cmd).await)?;
        Ok(id)
    }

    /// Grows a topic to `count` partitions.
    pub async fn create_partitions(
        &self,
        name: &str,
        count: i32,
        assignments: Option<&[Vec<i32>]>,
        validate_only: bool,
    ) -> Result<(), MetaError> {
        if validate_only {
            self.controller
                .create_partitions(&self.image(), name, count, assignments)?;
            return Ok(());
        }
        let cmd = Command::CreatePartitions {
            name: name.to_string(),
            count,
            assignments: assignments.map(<[Vec<i32>]>::to_vec),
            validate_only: false,
        };
        first(self.submit(cmd).await)
    }

    /// Changes the configs of a topic (`Topic`) or of a broker (`Broker(-1)`: the cluster
    /// default); `replace_all` (AlterConfigs) removes what is not named; `validate_only`
    /// checks without changing anything.
    pub async fn alter_configs(
        &self,
        target: ConfigTarget,
        ops: &[(String, ConfigOp)],
        replace_all: bool,
        validate_only: bool,
    ) -> Result<(), MetaError> {
        let image = self.image();
        let values = configs::BrokerValues {
            config: &self.config,
            image: &image,
        };
        // Where APPEND and SUBTRACT start from when nothing overrides the key.
        let none = BTreeMap::new();
        let current: BTreeMap<String, String> = ops
            .iter()
            .map(|(k, _)| {
                let v = match &target {
                    ConfigTarget::Topic(_) => configs::effective(&values, &none, k),
                    ConfigTarget::Broker(_) => values.value(k),
                    ConfigTarget::Group(_) => String::new(),
                };
                (k.clone(), v)
            })
            .collect();
        let (topic, group, node_id) = match &target {
            ConfigTarget::Topic(name) => (Some(name.clone()), None, -1),
            ConfigTarget::Broker(node) => (None, None, *node),
            ConfigTarget::Group(name) => (None, Some(name.clone()), -1),
        };
        let cmd = Command::AlterConfigs {
            topic,
            group,
            node_id,
            ops: ops.to_vec(),
            replace_all,
            validate_only,
            current,
        };
        first(self.submit(cmd).await)?;
        if !validate_only {
            info!(?target, "configs changed");
        }
        Ok(())
    }

    /// UpdateFeatures: one result per update, all applied or none; this node's image has
    /// the change when it returns.
    pub async fn update_features(
        &self,
        updates: Vec<(String, i16, weir_meta::features::UpgradeType)>,
        validate_only: bool,
    ) -> Vec<Result<(), MetaError>> {
        let n = updates.len();
        match self
            .submit(Command::UpdateFeatures {
                updates,
                validate_only,
            })
            .await
        {
            Ok(o) => o.results,
            Err(e) => vec![Err(e); n],
        }
    }

    /// Hands out a producer id that was never used before, taking a new block from the
    /// controller when the current one runs out (so ids survive restarts unreused).
    pub async fn next_producer_id(&self) -> Result<i64, MetaError> {
        let mut ids = self.producer_ids.lock().await;
        if ids.0 >= ids.1 {
            let outcome = self.submit(Command::AllocateProducerIds).await?;
            *ids = outcome
                .producer_ids
                .ok_or_else(|| MetaError::Unavailable("no producer ids allocated".into()))?;
        }
        let id = ids.0;
        ids.0 += 1;
        Ok(id)
    }
}

/// The one result of a single-item command.
impl Host {
    /// AlterPartitionReassignments: per (topic, partition), start moving it to the target
    /// replicas, or cancel its move (`None`).
    pub async fn reassign(
        &self,
        items: Vec<(String, i32, Option<Vec<i32>>)>,
    ) -> Vec<Result<(), MetaError>> {
        let n = items.len();
        each(self.submit(Command::Reassign { items }).await, n)
    }

    /// ElectLeaders for these partitions.
    pub async fn elect_leaders(
        &self,
        items: Vec<(String, i32)>,
        election: Election,
    ) -> Vec<Result<(), MetaError>> {
        let n = items.len();
        each(
            self.submit(Command::ElectLeaders { items, election }).await,
            n,
        )
    }
}

/// Starts the preferred-leader rebalance (`auto.leader.rebalance.enable`): every
/// `leader.imbalance.check.interval.seconds`, the active controller moves leadership back to
/// the preferred replicas of brokers that lead too few of theirs.
pub(crate) fn start_leader_rebalance(state: &Arc<Host>) {
    if !state.config.auto_leader_rebalance_enable {
        return;
    }
    let weak = Arc::downgrade(state);
    let period = Duration::from_secs(state.config.leader_imbalance_check_interval_seconds.max(1));
    let imbalance_percent = state.config.leader_imbalance_per_broker_percentage;
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            let Some(state) = weak.upgrade() else { return };
            if state.is_stopping() {
                return;
            }
            if state.meta.leader().await != Some(state.config.node_id) {
                continue;
            }
            let before = state.image();
            match state
                .submit(Command::RebalanceLeaders { imbalance_percent })
                .await
            {
                Ok(_) => {
                    let after = state.image();
                    let moved = moved_leaders(&before, &after);
                    if moved > 0 {
                        info!(
                            partitions = moved,
                            "moved leadership back to preferred replicas"
                        );
                    }
                }
                Err(e) => warn!(error = %e, "preferred-leader rebalance failed"),
            }
        }
    });
}

/// How many partitions have another leader in `after` than in `before`.
fn moved_leaders(before: &weir_meta::MetadataImage, after: &weir_meta::MetadataImage) -> usize {
    after
        .topics
        .values()
        .flat_map(|t| {
            t.partitions.values().filter(move |p| {
                before
                    .topic(&t.name)
                    .and_then(|b| b.partitions.get(&p.partition))
                    .is_some_and(|b| b.leader != p.leader)
            })
        })
        .count()
}

/// One result per item of a command: its own, or the command's failure for each.
fn each(outcome: Result<Outcome, MetaError>, n: usize) -> Vec<Result<(), MetaError>> {
    match outcome {
        Ok(o) if o.results.len() == n => o.results,
        Ok(_) => vec![Err(MetaError::InvalidRequest("missing results".into())); n],
        Err(e) => vec![Err(e); n],
    }
}

fn first(outcome: Result<Outcome, MetaError>) -> Result<(), MetaError> {
    outcome?
        .results
        .into_iter()
        .next()
        .unwrap_or(Err(MetaError::InvalidRequest("no result".into())))
}

/// Publishes each image the quorum applies here.
async fn follow(weak: Weak<Host>) {
    let Some(mut rx) = weak.upgrade().map(|s| s.meta.published()) else {
        return;
    };
    while rx.changed().await.is_ok() {
        let Some(state) = weak.upgrade() else { return };
        if state.is_stopping() {
            return;
        }
        state.sync_image().await;
    }
}

/// Tells the controller every `broker.heartbeat.interval.ms` that this broker lives, and
/// registers again if the cluster lost or changed its registration.
async fn heartbeat(weak: Weak<Host>) {
    let period = match weak.upgrade() {
        Some(s) => Duration::from_millis(s.config.broker_heartbeat_interval_ms),
        None => return,
    };
    let mut ticker = tokio::time::interval(period);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let Some(state) = weak.upgrade() else { return };
        if state.is_stopping() {
            return;
        }
        let node = state.config.node_id;
        let registered = state.image().brokers.get(&node).is_some_and(|b| {
            b.host == state.advertised.0
                && b.port == state.advertised.1
                && b.listeners == state.endpoints
        });
        let cmd = if registered {
            Command::Heartbeat { node_id: node }
        } else {
            Command::Register(state.registration())
        };
        if let Err(e) = state.meta.submit(cmd).await {
            warn!(error = %e, "heartbeat to the controller failed");
        }
    }
}
