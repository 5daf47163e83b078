//! The listener: binds the Kafka port and runs one [`connection`](crate::connection) task per
//! client until shutdown.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::watch;
use tracing::{info, warn};
use weir_meta::records::Endpoint;

use crate::config::BrokerConfig;
use crate::connection::{self, ListenerContext};
use crate::error::BrokerError;
use crate::state::BrokerState;
use crate::tls::TlsServer;

/// A running broker: its bound addresses and a way to stop it.
pub struct Broker {
    /// The address the inter-broker Kafka listener is bound to.
    pub local_addr: SocketAddr,
    /// Every Kafka listener's name and bound address, the inter-broker one first.
    pub listeners: Vec<(String, SocketAddr)>,
    /// The address the HTTP listener is bound to, if there is one.
    pub http_addr: Option<SocketAddr>,
    state: Arc<BrokerState>,
    stop: watch::Sender<bool>,
    accept: Vec<tokio::task::JoinHandle<()>>,
    http: Option<tokio::task::JoinHandle<()>>,
}

impl Broker {
    /// Validates the config, binds the listeners, opens the data dir (recovering every log)
    /// and starts accepting connections. The HTTP listener answers from the start (not
    /// ready until the broker has joined the cluster).
    pub async fn start(config: BrokerConfig) -> Result<Broker, BrokerError> {
        config.validate().map_err(BrokerError::Config)?;
        let s = &config.security;
        let mut wanted = vec![(
            s.listener_name.to_ascii_uppercase(),
            config.listen,
            config.advertised.clone(),
            s.protocol,
            s.tls.clone(),
        )];
        for l in &config.more_listeners {
            wanted.push((
                l.name.to_ascii_uppercase(),
                l.addr,
                l.advertised.clone(),
                l.protocol,
                l.tls.clone(),
            ));
        }
        let mut bound = Vec::new();
        let mut endpoints = Vec::new();
        for (name, addr, advertised, protocol, tls) in wanted {
            let tls = match tls.filter(|_| protocol.tls()) {
                Some(settings) => Some(Arc::new(
                    TlsServer::new(&name, settings).map_err(BrokerError::Config)?,
                )),
                None => None,
            };
            let listener = TcpListener::bind(addr).await.map_err(|e| BrokerError::Io {
                context: format!("binding {addr} (listener {name})"),
                source: e,
            })?;
            let local = listener.local_addr().map_err(|e| BrokerError::Io {
                context: "reading the bound address".into(),
                source: e,
            })?;
            let (host, port) = match advertised {
                Some((h, p)) => (h, i32::from(p)),
                None => (local.ip().to_string(), i32::from(local.port())),
            };
            endpoints.push(Endpoint {
                name: name.clone(),
                host,
                port,
            });
            let ctx = Arc::new(ListenerContext {
                name: name.clone().into(),
                protocol,
                tls,
            });
            bound.push((name, local, listener, ctx));
        }
        let http_security = crate::http::HttpSecurity {
            tls: match &config.http_tls_listener {
                None => None,
                Some(name) => Some(
                    bound
                        .iter()
                        .find(|(n, _, _, _)| n.eq_ignore_ascii_case(name))
                        .and_then(|(_, _, _, ctx)| ctx.tls.clone())
                        .ok_or_else(|| {
                            BrokerError::Config(format!(
                                "http.tls.listener {name} is not an SSL or SASL_SSL listener"
                            ))
                        })?,
                ),
            },
            basic: config.http_basic_auth,
        };
        let local_addr = bound[0].1;
        let advertised = (endpoints[0].host.clone(), endpoints[0].port);
        let (stop, stopped) = watch::channel(false);
        let (serving, served) = watch::channel(None);
        let (http_addr, http) = match config.http_listen {
            Some(addr) => {
                let listener = crate::http::bind(addr).await?;
                let bound = listener.local_addr().map_err(|e| BrokerError::Io {
                    context: "reading the bound HTTP address".into(),
                    source: e,
                })?;
                info!(listen = %bound, tls = http_security.tls.is_some(),
                    basic_auth = http_security.basic, "HTTP listener (health, readiness, metrics, console)");
                (
                    Some(bound),
                    Some(crate::http::serve(
                        listener,
                        served,
                        stopped.clone(),
                        http_security,
                    )),
                )
            }
            None => (None, None),
        };
        let data_dir = config.data_dir.clone();
        let state = match BrokerState::open(config, advertised, endpoints).await {
            Ok(state) => state,
            Err(e) => {
                let _ = stop.send(true);
                return Err(e);
            }
        };
        let _ = serving.send(Some(state.clone()));
        for (name, addr, _, ctx) in &bound {
            info!(listener = %name, listen = %addr, protocol = ?ctx.protocol, "Kafka listener");
        }
        info!(listen = %local_addr, data_dir = %data_dir.display(), "weir broker ready");
        tokio::spawn(background_flush(state.clone(), stopped.clone()));
        state.start_coordinators();
        crate::sampler::start(&state);
        crate::cluster::start_leader_rebalance(&state.host);
        crate::housekeeping::start(&state.host);
        let listeners = bound.iter().map(|(n, a, _, _)| (n.clone(), *a)).collect();
        let accept = bound
            .into_iter()
            .map(|(_, _, listener, ctx)| {
                tokio::spawn(accept_loop(listener, ctx, state.clone(), stopped.clone()))
            })
            .collect();
        Ok(Broker {
            local_addr,
            listeners,
            http_addr,
            state,
            stop,
            accept,
            http,
        })
    }

    /// Shared state, for the HTTP endpoint and tests.
    pub fn state(&self) -> &Arc<BrokerState> {
        &self.state
    }

    /// Stops accepting, then flushes and closes every log.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        for accept in self.accept {
            let _ = accept.await;
        }
        if let Some(http) = self.http {
            let _ = http.await;
        }
        self.state.shutdown().await;
        info!("weir broker stopped");
    }
}

async fn accept_loop(
    listener: TcpListener,
    ctx: Arc<ListenerContext>,
    state: Arc<BrokerState>,
    mut stopped: watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            _ = stopped.changed() => return,
            accepted = listener.accept() => match accepted {
                Ok((socket, peer)) => {
                    let state = state.clone();
                    let ctx = ctx.clone();
                    state.metrics.connections_accepted.inc();
                    tokio::spawn(async move {
                        state.metrics.connections_open.inc();
                        connection::accept(state.clone(), ctx, socket, peer).await;
                        state.metrics.connections_open.dec();
                    });
                }
                Err(e) => {
                    // Out of file descriptors and the like: keep serving the others, and
                    // pause so that a pending connection does not spin this loop (and the
                    // log) until a descriptor frees up.
                    warn!(error = %e, "accept failed; pausing accepts for 100 ms");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                }
            },
        }
    }
}

/// Every `log.flush.interval.ms`, asks group commit to sync whatever acks=0/1 writes left
/// unsynced, so that data reaches the disk within that interval whatever the producer asked;
/// every `producer.id.expiration.check.interval.ms` (10 minutes, as Kafka) partitions also
/// forget producers idle for `producer.id.expiration.ms`.
async fn background_flush(state: Arc<BrokerState>, mut stopped: watch::Receiver<bool>) {
    let period = std::time::Duration::from_millis(state.config.log_flush_interval_ms);
    let mut ticker = tokio::time::interval(period);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut next_expiry = crate::host::now_ms() + PRODUCER_EXPIRATION_CHECK_MS;
    loop {
        tokio::select! {
            _ = stopped.changed() => return,
            _ = ticker.tick() => {}
        }
        let now = crate::host::now_ms();
        if now >= next_expiry {
            next_expiry = now + PRODUCER_EXPIRATION_CHECK_MS;
            let before = now - state.config.producer_id_expiration_ms;
            for p in state.partitions() {
                let n = p.log_mut().expire_producers(before);
                if n > 0 {
                    info!(topic = %p.topic, partition = p.index, producers = n, "expired idle producers");
                }
            }
        }
        let waits: Vec<_> = state
            .partitions()
            .into_iter()
            .filter_map(|p| {
                let end = p.log().sync_target().map(|t| t.upto())?;
                Some(state.group_commit.request(p, end - 1))
            })
            .collect();
        for w in waits {
            let _ = w.await;
        }
    }
}

/// `producer.id.expiration.check.interval.ms`.
const PRODUCER_EXPIRATION_CHECK_MS: i64 = 600_000;
