//! `weir`: the broker, the CLI and the benchmark tool in one binary.
//!
//! - `serve`: run a broker ([`serve`]).
//! - `topic`, `produce`, `consume`: talk to a running broker ([`commands`]).
//! - `group`: consumer groups, their lag, offset resets ([`group`]).
//! - `cluster`: brokers, controller, offline partitions ([`cluster`]).
//! - `user`: SCRAM users ([`user`]).
//! - `bench`: load generator ([`bench`]).

mod acl;
mod bench;
mod bench_latency;
mod cluster;
mod commands;
mod cpu;
mod group;
mod listeners;
mod props;
mod reassign;
mod security;
mod serve;
mod share_group;
mod share_settings;
mod share_state;
mod user;

use clap::{Parser, Subcommand};

/// Weir: a Kafka-compatible event-streaming platform.
#[derive(Parser)]
#[command(name = "weir", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a broker (defaults: data in ./weir-data, Kafka listener 127.0.0.1:9092).
    Serve(Box<serve::ServeArgs>),
    /// Create, list, describe and delete topics.
    Topic(commands::TopicArgs),
    /// Produce records read from standard input, one per line (KEY<TAB>VALUE with --keyed).
    Produce(commands::ProduceArgs),
    /// Consume records and print them, one per line.
    Consume(commands::ConsumeArgs),
    /// List and describe consumer groups (members, offsets, lag), reset offsets, delete.
    Group(group::GroupArgs),
    /// List and describe share groups (members, start offsets, lag, dead letters), delete.
    ShareGroup(share_group::ShareGroupArgs),
    /// Show the cluster: brokers, the active controller, offline partitions.
    Cluster(cluster::ClusterArgs),
    /// Produce and fetch load against a broker and report throughput.
    Bench(bench::BenchArgs),
    /// Create, delete and list SCRAM users (their credentials live in the metadata log).
    User(user::UserArgs),
    /// Add, list and remove ACLs (they live in the metadata log).
    Acl(acl::AclArgs),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("WEIR_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,openraft=warn")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        match cli.command {
            Command::Serve(a) => serve::run(*a).await,
            Command::Topic(a) => commands::topic(a).await,
            Command::Produce(a) => commands::produce(a).await,
            Command::Consume(a) => commands::consume(a).await,
            Command::Group(a) => group::run(a).await,
            Command::ShareGroup(a) => share_group::run(a).await,
            Command::Cluster(a) => cluster::run(a).await,
            Command::Bench(a) => bench::run(a).await,
            Command::User(a) => user::run(a).await,
            Command::Acl(a) => acl::run(a).await,
        }
    })
}
