//! `weir share-group`: share groups (KIP-932) as an operator sees them, through Kafka's APIs
//! at the group's coordinator: list them, describe one (members and their partitions, and per
//! partition the start offset, log end, lag and in-flight records by state, plus the records
//! of its dead-letter topic), move an empty one's start offsets or forget them, delete an
//! empty one.

use anyhow::{bail, Context};
use clap::{Args, Subcommand};
use weir_client::{admin, groups, Connection};
use weir_protocol::error::ErrorCode;
use weir_protocol::messages::alter_share_group_offsets_request::{
    AlterShareGroupOffsetsRequestPartition, AlterShareGroupOffsetsRequestTopic,
};
use weir_protocol::messages::delete_share_group_offsets_request::DeleteShareGroupOffsetsRequestTopic;
use weir_protocol::messages::describe_share_group_offsets_request::DescribeShareGroupOffsetsRequestGroup;
use weir_protocol::messages::{
    AlterShareGroupOffsetsRequest, DeleteShareGroupOffsetsRequest, DescribeConfigsRequest,
    DescribeShareGroupOffsetsRequest, ListGroupsRequest, ShareGroupDescribeRequest,
};

use crate::commands::Target;
use crate::group::print_table;
use crate::share_state;

/// `weir share-group`.
#[derive(Args, Debug)]
pub(crate) struct ShareGroupArgs {
    #[command(flatten)]
    target: Target,
    #[command(subcommand)]
    action: ShareGroupAction,
}

#[derive(Subcommand, Debug)]
enum ShareGroupAction {
    /// List share groups with their state.
    List,
    /// Show a share group's members and, per partition, its start offset, log end and lag.
    Describe {
        /// Group id.
        group: String,
    },
    /// Move an empty share group's start offset on a topic's partitions (a dry run unless
    /// --execute): in-flight state there is forgotten.
    ResetOffsets {
        /// Group id.
        group: String,
        /// Topic whose partitions to reset.
        #[arg(long)]
        topic: String,
        /// To each partition's log start offset.
        #[arg(long, group = "to")]
        to_earliest: bool,
        /// To each partition's log end offset.
        #[arg(long, group = "to")]
        to_latest: bool,
        /// To this offset (clamped to the partition's range).
        #[arg(long, group = "to")]
        to_offset: Option<i64>,
        /// Make the change; without it, only show it.
        #[arg(long)]
        execute: bool,
    },
    /// Forget an empty share group's state for a topic: it starts again where
    /// share.auto.offset.reset says.
    DeleteOffsets {
        /// Group id.
        group: String,
        /// Topic whose state to forget.
        #[arg(long)]
        topic: String,
    },
    /// Delete a share group that has no members.
    Delete {
        /// Group id.
        group: String,
    },
}

/// Runs `weir share-group`.
pub(crate) async fn run(args: ShareGroupArgs) -> anyhow::Result<()> {
    let conn = args.target.connect().await?;
    match args.action {
        ShareGroupAction::List => {
            let req = ListGroupsRequest {
                types_filter: vec!["share".into()],
                ..Default::default()
            };
            let resp = conn.send(&req).await?;
            check(resp.error_code, "listing groups")?;
            let mut rows = vec![cells(["GROUP", "STATE"])];
            let mut listed = resp.groups;
            listed.sort_by(|a, b| a.group_id.cmp(&b.group_id));
            for g in listed
                .iter()
                .filter(|g| g.group_type.eq_ignore_ascii_case("share"))
            {
                rows.push(cells([&g.group_id, &g.group_state]));
            }
            print_table(&rows);
        }
        ShareGroupAction::Describe { group } => {
            let c = coordinator(&args.target, &conn, &group).await?;
            describe(&args.target, &conn, &c, &group).await?;
        }
        ShareGroupAction::ResetOffsets {
            group,
            topic,
            to_earliest,
            to_latest,
            to_offset,
            execute,
        } => {
            let to = match (to_earliest, to_latest, to_offset) {
                (true, _, _) => To::Earliest,
                (_, true, _) => To::Latest,
                (_, _, Some(o)) => To::Offset(o),
                _ => bail!("say where to: --to-earliest, --to-latest or --to-offset"),
            };
            let c = coordinator(&args.target, &conn, &group).await?;
            reset(&conn, &c, &group, &topic, to, execute).await?;
        }
        ShareGroupAction::DeleteOffsets { group, topic } => {
            let c = coordinator(&args.target, &conn, &group).await?;
            let req = DeleteShareGroupOffsetsRequest {
                group_id: group.clone(),
                topics: vec![DeleteShareGroupOffsetsRequestTopic {
                    topic_name: topic.clone(),
                    ..Default::default()
                }],
                ..Default::default()
            };
            let resp = c.send(&req).await?;
            check(resp.error_code, &format!("deleting the offsets of {group}"))?;
            for t in &resp.responses {
                check(
                    t.error_code,
                    &format!("deleting the offsets of {group} on {}", t.topic_name),
                )?;
            }
            println!("deleted the share offsets of {group} on {topic}");
        }
        ShareGroupAction::Delete { group } => {
            let c = coordinator(&args.target, &conn, &group).await?;
            groups::delete(&c, &group).await?;
            println!("deleted share group {group}");
        }
    }
    Ok(())
}

/// Where `reset-offsets` moves the start offsets.
enum To {
    Earliest,
    Latest,
    Offset(i64),
}

async fn reset(
    bootstrap: &Connection,
    conn: &Connection,
    group: &str,
    topic: &str,
    to: To,
    execute: bool,
) -> anyhow::Result<()> {
    let meta = admin::metadata(bootstrap, Some(std::slice::from_ref(&topic.to_string()))).await?;
    let count = meta
        .topics
        .iter()
        .find(|t| t.name.as_deref() == Some(topic) && t.error_code == 0)
        .map(|t| t.partitions.len())
        .with_context(|| format!("topic {topic} does not exist"))?;
    let mut partitions = Vec::new();
    let mut rows = vec![cells(["TOPIC", "PARTITION", "NEW-START-OFFSET"])];
    for p in 0..i32::try_from(count).unwrap_or(0) {
        let earliest = admin::list_offset(bootstrap, topic, p, -2).await?;
        let latest = admin::list_offset(bootstrap, topic, p, -1).await?;
        let offset = match to {
            To::Earliest => earliest,
            To::Latest => latest,
            To::Offset(o) => o.clamp(earliest, latest),
        };
        rows.push(vec![topic.to_string(), p.to_string(), offset.to_string()]);
        partitions.push(AlterShareGroupOffsetsRequestPartition {
            partition_index: p,
            start_offset: offset,
            ..Default::default()
        });
    }
    print_table(&rows);
    if !execute {
        println!("(dry run: add --execute to set these)");
        return Ok(());
    }
    let req = AlterShareGroupOffsetsRequest {
        group_id: group.to_string(),
        topics: vec![AlterShareGroupOffsetsRequestTopic {
            topic_name: topic.to_string(),
            partitions,
            ..Default::default()
        }],
        ..Default::default()
    };
    let resp = conn.send(&req).await?;
    check(
        resp.error_code,
        &format!("resetting the offsets of {group}"),
    )?;
    for t in &resp.responses {
        for p in &t.partitions {
            check(
                p.error_code,
                &format!(
                    "resetting {group} on {}-{}",
                    t.topic_name, p.partition_index
                ),
            )?;
        }
    }
    println!("reset the share offsets of {group} on {topic}");
    Ok(())
}

fn cells<const N: usize>(c: [&str; N]) -> Vec<String> {
    c.iter().map(|s| s.to_string()).collect()
}

fn check(code: i16, what: &str) -> anyhow::Result<()> {
    match ErrorCode::from_code(code) {
        ErrorCode::None => Ok(()),
        e => bail!("{what}: {}", e.name()),
    }
}

/// A connection to `group`'s coordinator.
async fn coordinator(
    target: &Target,
    conn: &Connection,
    group: &str,
) -> anyhow::Result<Connection> {
    let (host, port) = groups::coordinator(conn, group).await?;
    target.connect_to(&format!("{host}:{port}")).await
}

async fn describe(
    target: &Target,
    bootstrap: &Connection,
    conn: &Connection,
    group: &str,
) -> anyhow::Result<()> {
    let req = ShareGroupDescribeRequest {
        group_ids: vec![group.to_string()],
        ..Default::default()
    };
    let resp = conn.send(&req).await?;
    let g = resp
        .groups
        .into_iter()
        .next()
        .context("empty ShareGroupDescribe response")?;
    if ErrorCode::from_code(g.error_code) == ErrorCode::GroupIdNotFound {
        bail!("share group {group} does not exist");
    }
    check(g.error_code, &format!("describing {group}"))?;
    println!(
        "share group {group}: state {}, epoch {}, {} member(s)",
        g.group_state,
        g.group_epoch,
        g.members.len()
    );
    let mut rows = vec![cells(["MEMBER", "CLIENT", "HOST", "PARTITIONS"])];
    for m in &g.members {
        let parts: Vec<String> = m
            .assignment
            .topic_partitions
            .iter()
            .flat_map(|t| {
                t.partitions
                    .iter()
                    .map(move |p| format!("{}-{p}", t.topic_name))
            })
            .collect();
        rows.push(cells([
            &m.member_id,
            &m.client_id,
            &m.client_host,
            &parts.join(","),
        ]));
    }
    print_table(&rows);
    let req = DescribeShareGroupOffsetsRequest {
        groups: vec![DescribeShareGroupOffsetsRequestGroup {
            group_id: group.to_string(),
            topics: None,
            ..Default::default()
        }],
        ..Default::default()
    };
    let resp = conn.send(&req).await?;
    let parts: Vec<_> = resp
        .groups
        .iter()
        .flat_map(|g| &g.topics)
        .flat_map(|t| t.partitions.iter().map(|p| (t.topic_id, p.partition_index)))
        .collect();
    let figures = share_state::figures(target, bootstrap, group, &parts).await;
    println!();
    let mut rows = vec![cells([
        "TOPIC",
        "PARTITION",
        "START-OFFSET",
        "LOG-END",
        "LAG",
        "IN-FLIGHT",
        "AVAILABLE",
        "ACQUIRED",
        "AWAITING-DLQ",
    ])];
    for og in &resp.groups {
        check(og.error_code, &format!("describing the offsets of {group}"))?;
        for t in &og.topics {
            for p in &t.partitions {
                let end = admin::list_offset(bootstrap, &t.topic_name, p.partition_index, -1)
                    .await
                    .map_or("?".to_string(), |o| o.to_string());
                let start = if p.start_offset < 0 {
                    "-".to_string()
                } else {
                    p.start_offset.to_string()
                };
                let lag = if p.lag < 0 {
                    "-".to_string()
                } else {
                    p.lag.to_string()
                };
                let f = figures.get(&(t.topic_id, p.partition_index));
                let figure = |n: fn(&share_state::Figures) -> i64| {
                    f.map_or("?".to_string(), |f| n(f).to_string())
                };
                rows.push(vec![
                    t.topic_name.clone(),
                    p.partition_index.to_string(),
                    start,
                    end,
                    lag,
                    figure(|f| f.in_flight),
                    figure(|f| f.available),
                    figure(|f| f.acquired),
                    figure(|f| f.archiving),
                ]);
            }
        }
    }
    print_table(&rows);
    if let Some(dlq) = dead_letter_topic(conn, group).await? {
        let mut total = 0i64;
        let meta = admin::metadata(bootstrap, Some(std::slice::from_ref(&dlq))).await?;
        let partitions = meta
            .topics
            .iter()
            .find(|t| t.name.as_deref() == Some(dlq.as_str()))
            .map_or(0, |t| t.partitions.len());
        for p in 0..i32::try_from(partitions).unwrap_or(0) {
            let end = admin::list_offset(bootstrap, &dlq, p, -1)
                .await
                .unwrap_or(0);
            let start = admin::list_offset(bootstrap, &dlq, p, -2)
                .await
                .unwrap_or(0);
            total += end - start;
        }
        println!("\ndead-letter topic {dlq}: {total} record(s)");
    }
    Ok(())
}

/// The group's `errors.deadletterqueue.topic.name`, if set.
async fn dead_letter_topic(conn: &Connection, group: &str) -> anyhow::Result<Option<String>> {
    use weir_protocol::messages::describe_configs_request::DescribeConfigsResource;
    let req = DescribeConfigsRequest {
        resources: vec![DescribeConfigsResource {
            resource_type: 32,
            resource_name: group.to_string(),
            configuration_keys: Some(vec!["errors.deadletterqueue.topic.name".into()]),
            ..Default::default()
        }],
        ..Default::default()
    };
    let resp = conn.send(&req).await?;
    Ok(resp
        .results
        .into_iter()
        .filter(|r| r.error_code == 0)
        .flat_map(|r| r.configs)
        .find(|c| c.name == "errors.deadletterqueue.topic.name")
        .and_then(|c| c.value)
        .filter(|v| !v.is_empty()))
}
