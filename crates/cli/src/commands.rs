//! `weir topic`, `weir produce` and `weir consume`: the CLI face of the client crate.

use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::io::{BufRead, Write};

use anyhow::{bail, Context};
use bytes::Bytes;
use clap::{Args, Subcommand};
use weir_broker::host::now_ms;
use weir_client::{admin, consumer, producer, Connection};
use weir_protocol::record::{partition_for_key, BatchBuilder, Compression};

/// Where the broker is.
#[derive(Args, Debug, Clone)]
pub(crate) struct Target {
    /// Bootstrap broker HOST:PORT.
    #[arg(
        long,
        env = "WEIR_BOOTSTRAP",
        default_value = "127.0.0.1:9092",
        global = true
    )]
    pub(crate) bootstrap: String,
    /// Connect with TLS, trusting the CA certificates of this PEM file (an SSL listener).
    #[arg(long, env = "WEIR_TLS_CA", global = true)]
    pub(crate) tls_ca: Option<std::path::PathBuf>,
    /// This client's certificate chain (PEM), for a listener that asks for one.
    #[arg(long, env = "WEIR_TLS_CERT", global = true, requires = "tls_key")]
    pub(crate) tls_cert: Option<std::path::PathBuf>,
    /// The key of `--tls-cert` (PEM, unencrypted).
    #[arg(long, env = "WEIR_TLS_KEY", global = true, requires = "tls_cert")]
    pub(crate) tls_key: Option<std::path::PathBuf>,
}

impl Target {
    pub(crate) async fn connect(&self) -> anyhow::Result<Connection> {
        self.connect_to(&self.bootstrap).await
    }

    /// Connects to `addr` (HOST:PORT) with this target's TLS settings.
    pub(crate) async fn connect_to(&self, addr: &str) -> anyhow::Result<Connection> {
        let tls = match &self.tls_ca {
            None => None,
            Some(ca) => {
                let identity = self.tls_cert.as_deref().zip(self.tls_key.as_deref());
                Some(
                    weir_client::tls::ClientTls::from_pem_files(ca, identity)
                        .map_err(anyhow::Error::msg)?,
                )
            }
        };
        Connection::connect_with(addr, "weir-cli", tls.as_ref())
            .await
            .with_context(|| format!("connecting to {addr}"))
    }
}

/// `weir topic`.
#[derive(Args, Debug)]
pub(crate) struct TopicArgs {
    #[command(flatten)]
    target: Target,
    #[command(subcommand)]
    action: TopicAction,
}

#[derive(Subcommand, Debug)]
enum TopicAction {
    /// Create a topic.
    Create {
        /// Topic name.
        name: String,
        /// Partition count.
        #[arg(long, default_value_t = 1)]
        partitions: i32,
        /// Replication factor.
        #[arg(long, default_value_t = 1)]
        replication_factor: i16,
        /// Topic config override KEY=VALUE (repeatable).
        #[arg(long = "config", value_parser = parse_kv)]
        configs: Vec<(String, String)>,
    },
    /// List topics.
    List,
    /// Show a topic's partitions, offsets and config overrides.
    Describe {
        /// Topic name.
        name: String,
    },
    /// Change a topic's configs.
    Alter {
        /// Topic name.
        name: String,
        /// Set KEY=VALUE (repeatable).
        #[arg(long = "config", value_parser = parse_kv)]
        configs: Vec<(String, String)>,
        /// Remove the override of KEY, back to the broker default (repeatable).
        #[arg(long = "delete-config")]
        delete: Vec<String>,
    },
    /// Delete a topic.
    Delete {
        /// Topic name.
        name: String,
    },
}

fn parse_kv(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .ok_or_else(|| format!("expected KEY=VALUE, got {s}"))
}

/// Runs `weir topic`.
pub(crate) async fn topic(args: TopicArgs) -> anyhow::Result<()> {
    let conn = args.target.connect().await?;
    let mut out = std::io::stdout().lock();
    match args.action {
        TopicAction::Create {
            name,
            partitions,
            replication_factor,
            configs,
        } => {
            admin::create_topic(&conn, &name, partitions, replication_factor, &configs).await?;
            writeln!(out, "created topic {name}")?;
        }
        TopicAction::List => {
            let md = admin::metadata(&conn, None).await?;
            let mut names: Vec<String> = md.topics.into_iter().filter_map(|t| t.name).collect();
            names.sort();
            for n in names {
                writeln!(out, "{n}")?;
            }
        }
        TopicAction::Describe { name } => {
            let md = admin::metadata(&conn, Some(std::slice::from_ref(&name))).await?;
            let Some(t) = md.topics.into_iter().next() else {
                bail!("no such topic: {name}")
            };
            weir_client::ClientError::check(t.error_code, || format!("describing {name}"))?;
            writeln!(
                out,
                "topic {name} id {} partitions {}",
                t.topic_id,
                t.partitions.len()
            )?;
            writeln!(
                out,
                "{:>9} {:>7} {:>14} {:>14}  {:<12} {:<12}",
                "PARTITION", "LEADER", "START", "END", "REPLICAS", "ISR"
            )?;
            let ids = |v: &[i32]| {
                let s: Vec<String> = v.iter().map(i32::to_string).collect();
                s.join(",")
            };
            // Offsets come from each partition's leader.
            let addrs: HashMap<i32, String> = md
                .brokers
                .iter()
                .map(|b| (b.node_id, format!("{}:{}", b.host, b.port)))
                .collect();
            let mut leaders: HashMap<i32, Connection> = HashMap::new();
            for p in t.partitions {
                if let (Entry::Vacant(v), Some(addr)) =
                    (leaders.entry(p.leader_id), addrs.get(&p.leader_id))
                {
                    if let Ok(c) = Connection::connect(addr, "weir-cli").await {
                        v.insert(c);
                    }
                }
                let lc = leaders.get(&p.leader_id).unwrap_or(&conn);
                let start = admin::list_offset(lc, &name, p.partition_index, -2).await?;
                let end = admin::list_offset(lc, &name, p.partition_index, -1).await?;
                writeln!(
                    out,
                    "{:>9} {:>7} {:>14} {:>14}  {:<12} {:<12}",
                    p.partition_index,
                    p.leader_id,
                    start,
                    end,
                    ids(&p.replica_nodes),
                    ids(&p.isr_nodes)
                )?;
            }
            // Overrides (source 1) and broker settings (2-4); defaults are left out.
            let configs = admin::topic_configs(&conn, &name).await?;
            let set: Vec<_> = configs
                .into_iter()
                .filter(|(_, _, src)| *src != 5)
                .collect();
            if !set.is_empty() {
                writeln!(out, "configs:")?;
                for (k, v, src) in set {
                    let from = if src == 1 { "topic" } else { "broker" };
                    writeln!(out, "  {k}={} ({from})", v.unwrap_or_default())?;
                }
            }
        }
        TopicAction::Alter {
            name,
            configs,
            delete,
        } => {
            if configs.is_empty() && delete.is_empty() {
                bail!("nothing to change: give --config KEY=VALUE or --delete-config KEY");
            }
            let changes: Vec<(String, Option<String>)> = configs
                .into_iter()
                .map(|(k, v)| (k, Some(v)))
                .chain(delete.into_iter().map(|k| (k, None)))
                .collect();
            admin::alter_topic_configs(&conn, &name, &changes).await?;
            writeln!(out, "altered topic {name}")?;
        }
        TopicAction::Delete { name } => {
            admin::delete_topic(&conn, &name).await?;
            writeln!(out, "deleted topic {name}")?;
        }
    }
    Ok(())
}

/// `weir produce`.
#[derive(Args, Debug)]
pub(crate) struct ProduceArgs {
    #[command(flatten)]
    target: Target,
    /// Topic to write to.
    #[arg(long)]
    topic: String,
    /// Partition (default: murmur2 of the key, or 0 without keys).
    #[arg(long)]
    partition: Option<i32>,
    /// Lines are KEY<TAB>VALUE.
    #[arg(long)]
    keyed: bool,
    /// acks: 0, 1 or -1 (all).
    #[arg(long, default_value_t = -1, allow_negative_numbers = true)]
    acks: i16,
}

/// Runs `weir produce`: one record per input line, one request per record.
pub(crate) async fn produce(args: ProduceArgs) -> anyhow::Result<()> {
    let conn = args.target.connect().await?;
    let md = admin::metadata(&conn, Some(std::slice::from_ref(&args.topic))).await?;
    let partitions = md.topics.first().map_or(0, |t| t.partitions.len());
    if partitions == 0 {
        bail!(
            "topic {} does not exist (create it with `weir topic create`)",
            args.topic
        );
    }
    let n = i32::try_from(partitions)?;
    for line in std::io::stdin().lock().lines() {
        let line = line?;
        let (key, value) = match (args.keyed, line.split_once('\t')) {
            (true, Some((k, v))) => (Some(k.as_bytes().to_vec()), v.as_bytes().to_vec()),
            _ => (None, line.into_bytes()),
        };
        let partition = args
            .partition
            .unwrap_or_else(|| key.as_deref().map_or(0, |k| partition_for_key(k, n)));
        let now = now_ms();
        let mut b = BatchBuilder::new(Compression::None, now);
        b.push(key.as_deref(), Some(&value), &[], now)?;
        let offset = producer::send(&conn, &args.topic, partition, b.build()?, args.acks)
            .await?
            .await?;
        eprintln!("{}-{partition}@{offset}", args.topic);
    }
    Ok(())
}

/// `weir consume`.
#[derive(Args, Debug)]
pub(crate) struct ConsumeArgs {
    #[command(flatten)]
    target: Target,
    /// Topic to read.
    #[arg(long)]
    topic: String,
    /// Partition.
    #[arg(long, default_value_t = 0)]
    partition: i32,
    /// First offset (default: the earliest).
    #[arg(long)]
    offset: Option<i64>,
    /// Stop after this many records.
    #[arg(long)]
    max_messages: Option<usize>,
    /// Stop at the end of the partition instead of waiting for more.
    #[arg(long)]
    exit_at_end: bool,
}

/// Runs `weir consume`: prints `offset<TAB>key<TAB>value` lines.
pub(crate) async fn consume(args: ConsumeArgs) -> anyhow::Result<()> {
    let conn = args.target.connect().await?;
    let mut offset = match args.offset {
        Some(o) => o,
        None => admin::list_offset(&conn, &args.topic, args.partition, -2).await?,
    };
    let mut seen = 0usize;
    let mut out = std::io::stdout().lock();
    loop {
        let f = consumer::fetch(
            &conn,
            &args.topic,
            args.partition,
            offset,
            500,
            4 * 1024 * 1024,
        )
        .await?;
        for r in &f.records {
            let key = r.key.as_ref().map_or(Bytes::new(), Clone::clone);
            let value = r.value.as_ref().map_or(Bytes::new(), Clone::clone);
            writeln!(
                out,
                "{}\t{}\t{}",
                r.offset,
                String::from_utf8_lossy(&key),
                String::from_utf8_lossy(&value)
            )?;
            seen += 1;
            if args.max_messages.is_some_and(|m| seen >= m) {
                return Ok(());
            }
        }
        offset = f.next_offset;
        if args.exit_at_end && offset >= f.high_watermark {
            return Ok(());
        }
    }
}
