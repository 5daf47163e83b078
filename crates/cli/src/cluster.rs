//! `weir cluster describe`: the cluster id, the active controller, the live brokers, and
//! the partitions that have no leader (offline) or fewer in-sync replicas than replicas
//! (under-replicated), from DescribeCluster and Metadata; `weir cluster reassign`,
//! `reassignments` and `elect-leaders` move partitions and their leaders.

use anyhow::Context;
use clap::{Args, Subcommand};
use weir_client::admin;
use weir_protocol::messages::DescribeClusterRequest;

use crate::commands::Target;
use crate::group::print_table;
use crate::reassign;

/// `weir cluster`.
#[derive(Args, Debug)]
pub(crate) struct ClusterArgs {
    #[command(flatten)]
    target: Target,
    #[command(subcommand)]
    action: ClusterAction,
}

#[derive(Subcommand, Debug)]
enum ClusterAction {
    /// Show brokers, the controller, and offline and under-replicated partitions.
    Describe,
    /// Move a partition to other brokers (AlterPartitionReassignments), or cancel its move.
    Reassign {
        /// Topic name.
        topic: String,
        /// Partition index.
        partition: i32,
        /// The broker ids to hold it, the preferred leader first (e.g. 2,3,4).
        #[arg(long, value_delimiter = ',', required_unless_present = "cancel")]
        replicas: Vec<i32>,
        /// Cancel the move in progress instead.
        #[arg(long, conflicts_with = "replicas")]
        cancel: bool,
    },
    /// List the partition moves in progress (ListPartitionReassignments).
    Reassignments,
    /// Move leadership to each partition's preferred replica (ElectLeaders), or with
    /// --unclean give leaderless partitions any live replica.
    ElectLeaders {
        /// Only this topic's partitions.
        #[arg(long)]
        topic: Option<String>,
        /// Only this partition of --topic.
        #[arg(long, requires = "topic")]
        partition: Option<i32>,
        /// Unclean election: a replica that is not in sync may lead (records may be lost).
        #[arg(long)]
        unclean: bool,
    },
}

/// Runs `weir cluster`.
pub(crate) async fn run(args: ClusterArgs) -> anyhow::Result<()> {
    let conn = args.target.connect().await?;
    match args.action {
        ClusterAction::Reassign {
            topic,
            partition,
            replicas,
            cancel,
        } => reassign::alter(&conn, &topic, partition, (!cancel).then_some(replicas)).await?,
        ClusterAction::Reassignments => reassign::list(&conn).await?,
        ClusterAction::ElectLeaders {
            topic,
            partition,
            unclean,
        } => reassign::elect(&conn, topic, partition, unclean).await?,
        ClusterAction::Describe => {
            let cluster = conn
                .send(&DescribeClusterRequest::default())
                .await
                .context("DescribeCluster")?;
            let md = admin::metadata(&conn, None).await.context("Metadata")?;
            println!("cluster id: {}", cluster.cluster_id);
            println!("controller: {}", cluster.controller_id);
            println!();
            let mut rows = vec![cells(["BROKER", "HOST:PORT", "RACK", "LEADS"])];
            let mut brokers = cluster.brokers.clone();
            brokers.sort_by_key(|b| b.broker_id);
            for b in &brokers {
                let leads = md
                    .topics
                    .iter()
                    .flat_map(|t| &t.partitions)
                    .filter(|p| p.leader_id == b.broker_id)
                    .count();
                rows.push(vec![
                    b.broker_id.to_string(),
                    format!("{}:{}", b.host, b.port),
                    b.rack.clone().unwrap_or_else(|| "-".into()),
                    leads.to_string(),
                ]);
            }
            print_table(&rows);
            let mut offline = Vec::new();
            let mut under = Vec::new();
            for t in &md.topics {
                let name = t.name.clone().unwrap_or_default();
                for p in &t.partitions {
                    let at = format!("{name}-{}", p.partition_index);
                    if p.leader_id < 0 {
                        offline.push(format!("{at} (replicas {:?})", p.replica_nodes));
                    } else if p.isr_nodes.len() < p.replica_nodes.len() {
                        under.push(format!(
                            "{at} (replicas {:?}, in sync {:?})",
                            p.replica_nodes, p.isr_nodes
                        ));
                    }
                }
            }
            offline.sort();
            under.sort();
            println!();
            println!("offline partitions: {}", offline.len());
            for p in &offline {
                println!("  {p}");
            }
            println!("under-replicated partitions: {}", under.len());
            for p in &under {
                println!("  {p}");
            }
        }
    }
    Ok(())
}

fn cells<const N: usize>(c: [&str; N]) -> Vec<String> {
    c.iter().map(|s| s.to_string()).collect()
}
