//! `weir cluster reassign`, `reassignments` and `elect-leaders`: AlterPartitionReassignments,
//! ListPartitionReassignments and ElectLeaders, with each partition's outcome printed.

use anyhow::{bail, Context};
use weir_client::Connection;
use weir_protocol::error::ErrorCode;
use weir_protocol::messages::alter_partition_reassignments_request::{
    ReassignablePartition, ReassignableTopic,
};
use weir_protocol::messages::elect_leaders_request::TopicPartitions;
use weir_protocol::messages::{
    AlterPartitionReassignmentsRequest, ElectLeadersRequest, ListPartitionReassignmentsRequest,
};

use crate::group::print_table;

/// Starts moving `topic`-`partition` to `replicas`, or cancels its move (`None`).
pub(crate) async fn alter(
    conn: &Connection,
    topic: &str,
    partition: i32,
    replicas: Option<Vec<i32>>,
) -> anyhow::Result<()> {
    let cancel = replicas.is_none();
    let req = AlterPartitionReassignmentsRequest {
        timeout_ms: 60_000,
        topics: vec![ReassignableTopic {
            name: topic.to_string(),
            partitions: vec![ReassignablePartition {
                partition_index: partition,
                replicas: replicas.clone(),
                ..Default::default()
            }],
            ..Default::default()
        }],
        ..Default::default()
    };
    let r = conn
        .send(&req)
        .await
        .context("AlterPartitionReassignments")?;
    check(r.error_code, r.error_message.as_deref())?;
    for p in r.responses.iter().flat_map(|t| &t.partitions) {
        check(p.error_code, p.error_message.as_deref())?;
    }
    match replicas {
        _ if cancel => println!("cancelled the move of {topic}-{partition}"),
        Some(to) => println!("moving {topic}-{partition} to replicas {to:?}"),
        None => {}
    }
    Ok(())
}

/// Prints the moves in progress.
pub(crate) async fn list(conn: &Connection) -> anyhow::Result<()> {
    let r = conn
        .send(&ListPartitionReassignmentsRequest {
            timeout_ms: 60_000,
            topics: None,
            ..Default::default()
        })
        .await
        .context("ListPartitionReassignments")?;
    check(r.error_code, r.error_message.as_deref())?;
    let mut rows = vec![["PARTITION", "REPLICAS", "ADDING", "REMOVING"]
        .iter()
        .map(|s| s.to_string())
        .collect::<Vec<_>>()];
    for t in &r.topics {
        for p in &t.partitions {
            rows.push(vec![
                format!("{}-{}", t.name, p.partition_index),
                list_of(&p.replicas),
                list_of(&p.adding_replicas),
                list_of(&p.removing_replicas),
            ]);
        }
    }
    if rows.len() == 1 {
        println!("no partition moves in progress");
    } else {
        print_table(&rows);
    }
    Ok(())
}

/// Elects leaders (preferred, or unclean) for one partition, one topic, or all.
pub(crate) async fn elect(
    conn: &Connection,
    topic: Option<String>,
    partition: Option<i32>,
    unclean: bool,
) -> anyhow::Result<()> {
    let topic_partitions = match (topic, partition) {
        (None, _) => None,
        (Some(t), Some(p)) => Some(vec![TopicPartitions {
            topic: t,
            partitions: vec![p],
            ..Default::default()
        }]),
        (Some(t), None) => {
            let md = weir_client::admin::metadata(conn, Some(std::slice::from_ref(&t))).await?;
            let partitions = md
                .topics
                .iter()
                .flat_map(|x| x.partitions.iter().map(|p| p.partition_index))
                .collect();
            Some(vec![TopicPartitions {
                topic: t,
                partitions,
                ..Default::default()
            }])
        }
    };
    let r = conn
        .send(&ElectLeadersRequest {
            election_type: i8::from(unclean),
            topic_partitions,
            timeout_ms: 60_000,
            ..Default::default()
        })
        .await
        .context("ElectLeaders")?;
    check(r.error_code, None)?;
    let mut moved = 0;
    for t in &r.replica_election_results {
        for p in &t.partition_result {
            let at = format!("{}-{}", t.topic, p.partition_id);
            match ErrorCode::from_code(p.error_code) {
                ErrorCode::None => {
                    moved += 1;
                    println!("{at}: leader elected");
                }
                code => println!(
                    "{at}: {} ({})",
                    code.name(),
                    p.error_message.as_deref().unwrap_or("")
                ),
            }
        }
    }
    println!("leaders elected: {moved}");
    Ok(())
}

fn check(code: i16, message: Option<&str>) -> anyhow::Result<()> {
    if code != 0 {
        bail!(
            "{}: {}",
            ErrorCode::from_code(code).name(),
            message.unwrap_or("refused")
        );
    }
    Ok(())
}

fn list_of(ids: &[i32]) -> String {
    let v: Vec<String> = ids.iter().map(i32::to_string).collect();
    if v.is_empty() {
        "-".into()
    } else {
        v.join(",")
    }
}
