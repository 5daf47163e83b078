//! `weir serve`: every broker setting as a flag and a `WEIR_*` environment variable.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use tracing::info;
use weir_broker::{Broker, BrokerConfig};

/// Flags of `weir serve`.
#[derive(Args, Debug)]
pub(crate) struct ServeArgs {
    /// Where logs and metadata live (Kafka: log.dirs).
    #[arg(long, env = "WEIR_DATA_DIR", default_value = "weir-data")]
    data_dir: PathBuf,
    /// Kafka listener address (Kafka: listeners).
    #[arg(long, env = "WEIR_LISTEN", default_value = "127.0.0.1:9092")]
    listen: SocketAddr,
    /// Host:port advertised to clients (Kafka: advertised.listeners); defaults to --listen.
    #[arg(long, env = "WEIR_ADVERTISED_LISTENER")]
    advertised_listener: Option<String>,
    /// This node's id (Kafka: node.id).
    #[arg(long, env = "WEIR_NODE_ID", default_value_t = 1)]
    node_id: i32,
    /// Create unknown topics on metadata requests (Kafka: auto.create.topics.enable).
    #[arg(long, env = "WEIR_AUTO_CREATE_TOPICS_ENABLE", default_value_t = true, action = clap::ArgAction::Set)]
    auto_create_topics_enable: bool,
    /// Partitions of an auto-created topic (Kafka: num.partitions).
    #[arg(long, env = "WEIR_NUM_PARTITIONS", default_value_t = 1)]
    num_partitions: i32,
    /// Largest record batch a topic accepts by default (Kafka: message.max.bytes).
    #[arg(long, env = "WEIR_MESSAGE_MAX_BYTES", default_value_t = 1_048_588)]
    message_max_bytes: i32,
    /// Segment file size (Kafka: log.segment.bytes).
    #[arg(long, env = "WEIR_LOG_SEGMENT_BYTES", default_value_t = 1_073_741_824)]
    log_segment_bytes: u64,
    /// Time after which a segment is rolled (Kafka: log.roll.ms).
    #[arg(long, env = "WEIR_LOG_ROLL_MS", default_value_t = 604_800_000)]
    log_roll_ms: i64,
    /// Largest request frame (Kafka: socket.request.max.bytes).
    #[arg(
        long,
        env = "WEIR_SOCKET_REQUEST_MAX_BYTES",
        default_value_t = 104_857_600
    )]
    socket_request_max_bytes: usize,
}

impl ServeArgs {
    fn config(&self) -> anyhow::Result<BrokerConfig> {
        let advertised = match &self.advertised_listener {
            None => None,
            Some(a) => {
                let (host, port) = a
                    .rsplit_once(':')
                    .context("--advertised-listener must be HOST:PORT")?;
                Some((
                    host.to_string(),
                    port.parse().context("--advertised-listener port")?,
                ))
            }
        };
        let config = BrokerConfig {
            node_id: self.node_id,
            data_dir: self.data_dir.clone(),
            listen: self.listen,
            advertised,
            auto_create_topics_enable: self.auto_create_topics_enable,
            num_partitions: self.num_partitions,
            message_max_bytes: self.message_max_bytes,
            log_segment_bytes: self.log_segment_bytes,
            log_roll_ms: self.log_roll_ms,
            socket_request_max_bytes: self.socket_request_max_bytes,
            ..BrokerConfig::default()
        };
        config.validate().map_err(anyhow::Error::msg)?;
        Ok(config)
    }
}

/// Runs a broker until SIGINT or SIGTERM, then flushes and closes every log.
pub(crate) async fn run(args: ServeArgs) -> anyhow::Result<()> {
    let broker = Broker::start(args.config()?)
        .await
        .context("starting the broker")?;
    println!("weir listening on {}", broker.local_addr);
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => info!("SIGINT: shutting down"),
        _ = term.recv() => info!("SIGTERM: shutting down"),
    }
    broker.shutdown().await;
    Ok(())
}
