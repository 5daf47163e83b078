//! `weir group`: list groups, describe one with committed offsets, log end offsets and lag per
//! partition (as kafka-consumer-groups.sh does), reset an inactive group's offsets, delete it.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::{bail, Context};
use clap::{Args, Subcommand};
use weir_client::groups::{self, Committed};
use weir_client::{admin, Connection};

use crate::commands::Target;

/// `weir group`.
#[derive(Args, Debug)]
pub(crate) struct GroupArgs {
    #[command(flatten)]
    target: Target,
    #[command(subcommand)]
    action: GroupAction,
}

#[derive(Subcommand, Debug)]
enum GroupAction {
    /// List groups with their state.
    List,
    /// Show a group's members, and per partition the committed offset, log end and lag.
    Describe {
        /// Group id.
        group: String,
    },
    /// Set an inactive group's committed offsets (a dry run unless --execute).
    ResetOffsets {
        /// Group id.
        group: String,
        /// Topic whose partitions to reset (repeatable).
        #[arg(long = "topic", required_unless_present = "all_topics")]
        topics: Vec<String>,
        /// Every topic the group has offsets for.
        #[arg(long)]
        all_topics: bool,
        /// To each partition's log start offset.
        #[arg(long, group = "to")]
        to_earliest: bool,
        /// To each partition's log end offset.
        #[arg(long, group = "to")]
        to_latest: bool,
        /// To this offset (clamped to the partition's range).
        #[arg(long, group = "to")]
        to_offset: Option<i64>,
        /// To the first record at or after this time (epoch milliseconds).
        #[arg(long, group = "to")]
        to_timestamp: Option<i64>,
        /// To the first record at or after this UTC time, `YYYY-MM-DDTHH:MM:SS[.mmm][Z]`.
        #[arg(long, group = "to")]
        to_datetime: Option<String>,
        /// Commit the new offsets; without it, only show them.
        #[arg(long)]
        execute: bool,
    },
    /// Delete an empty group and its committed offsets.
    Delete {
        /// Group id.
        group: String,
    },
}

/// Runs `weir group`.
pub(crate) async fn run(args: GroupArgs) -> anyhow::Result<()> {
    let conn = args.target.connect().await?;
    match args.action {
        GroupAction::List => {
            let mut rows = vec![row(["GROUP", "STATE", "PROTOCOL-TYPE"])];
            let mut listed = groups::list(&conn).await?;
            listed.sort_by(|a, b| a.group_id.cmp(&b.group_id));
            for g in listed {
                rows.push(row([&g.group_id, &g.state, &g.protocol_type]));
            }
            print_table(&rows);
        }
        GroupAction::Describe { group } => describe(&conn, &group).await?,
        GroupAction::ResetOffsets {
            group,
            topics,
            all_topics,
            to_earliest,
            to_latest,
            to_offset,
            to_timestamp,
            to_datetime,
            execute,
        } => {
            let to = if to_earliest {
                To::Time(-2)
            } else if to_latest {
                To::Time(-1)
            } else if let Some(o) = to_offset {
                To::Offset(o)
            } else if let Some(ts) = to_timestamp {
                To::Time(ts)
            } else if let Some(dt) = to_datetime {
                To::Time(parse_datetime(&dt)?)
            } else {
                bail!("say where to: --to-earliest, --to-latest, --to-offset, --to-timestamp or --to-datetime");
            };
            reset(&conn, &group, topics, all_topics, to, execute).await?;
        }
        GroupAction::Delete { group } => {
            groups::delete(&conn, &group).await?;
            println!("deleted group {group}");
        }
    }
    Ok(())
}

async fn describe(conn: &Connection, group: &str) -> anyhow::Result<()> {
    let g = groups::describe(conn, group).await?;
    let committed = groups::committed(conn, group).await?;
    if g.group_state == "Dead" && committed.is_empty() {
        bail!("group {group} does not exist");
    }
    println!(
        "group {group}: state {}, protocol {} {}, {} member(s)",
        g.group_state,
        g.protocol_type,
        g.protocol_data,
        g.members.len()
    );
    // (topic, partition) -> (member id, host, client id)
    let mut owners: BTreeMap<(String, i32), (String, String, String)> = BTreeMap::new();
    let mut idle = Vec::new();
    for m in &g.members {
        let parts = if g.protocol_type == "consumer" {
            groups::assigned_partitions(&m.member_assignment).unwrap_or_default()
        } else {
            Vec::new()
        };
        if parts.is_empty() {
            idle.push(m);
        }
        for tp in parts {
            owners.insert(
                tp,
                (
                    m.member_id.clone(),
                    m.client_host.clone(),
                    m.client_id.clone(),
                ),
            );
        }
    }
    let mut keys: BTreeSet<(String, i32)> = owners.keys().cloned().collect();
    let offsets: BTreeMap<(String, i32), i64> = committed
        .into_iter()
        .map(|c| ((c.topic, c.partition), c.offset))
        .collect();
    keys.extend(offsets.keys().cloned());
    let mut rows = vec![row([
        "TOPIC",
        "PARTITION",
        "CURRENT-OFFSET",
        "LOG-END-OFFSET",
        "LAG",
        "CONSUMER-ID",
        "HOST",
        "CLIENT-ID",
    ])];
    for (topic, p) in keys {
        let end = admin::list_offset(conn, &topic, p, -1).await.ok();
        let current = offsets.get(&(topic.clone(), p)).copied();
        let lag = match (current, end) {
            (Some(c), Some(e)) => (e - c).max(0).to_string(),
            _ => "-".into(),
        };
        let (member, host, client) = owners
            .get(&(topic.clone(), p))
            .cloned()
            .unwrap_or_else(|| ("-".into(), "-".into(), "-".into()));
        rows.push(vec![
            topic,
            p.to_string(),
            current.map_or("-".into(), |c| c.to_string()),
            end.map_or("-".into(), |e| e.to_string()),
            lag,
            member,
            host,
            client,
        ]);
    }
    for m in idle {
        rows.push(vec![
            "-".into(),
            "-".into(),
            "-".into(),
            "-".into(),
            "-".into(),
            m.member_id.clone(),
            m.client_host.clone(),
            m.client_id.clone(),
        ]);
    }
    print_table(&rows);
    Ok(())
}

/// Where reset-offsets moves a partition.
enum To {
    /// A ListOffsets timestamp: -2 earliest, -1 latest, else the first record at or after it.
    Time(i64),
    /// An explicit offset.
    Offset(i64),
}

async fn reset(
    conn: &Connection,
    group: &str,
    topics: Vec<String>,
    all_topics: bool,
    to: To,
    execute: bool,
) -> anyhow::Result<()> {
    let g = groups::describe(conn, group).await?;
    if !matches!(g.group_state.as_str(), "Empty" | "Dead") {
        bail!(
            "group {group} is {}: offsets can only be reset while it has no active members",
            g.group_state
        );
    }
    let mut targets: Vec<(String, i32)> = Vec::new();
    let names: Vec<String> = if all_topics {
        let mut t: Vec<String> = groups::committed(conn, group)
            .await?
            .into_iter()
            .map(|c| c.topic)
            .collect();
        t.dedup();
        t
    } else {
        topics
    };
    let md = admin::metadata(conn, Some(&names)).await?;
    for t in md.topics {
        let name = t.name.clone().unwrap_or_default();
        if t.error_code != 0 {
            bail!("topic {name}: error {}", t.error_code);
        }
        for p in t.partitions {
            targets.push((name.clone(), p.partition_index));
        }
    }
    targets.sort();
    let mut new = Vec::with_capacity(targets.len());
    let mut rows = vec![row(["TOPIC", "PARTITION", "NEW-OFFSET"])];
    for (topic, p) in targets {
        let start = admin::list_offset(conn, &topic, p, -2).await?;
        let end = admin::list_offset(conn, &topic, p, -1).await?;
        let offset = match to {
            To::Offset(o) => o.clamp(start, end),
            To::Time(ts) => match admin::list_offset(conn, &topic, p, ts).await? {
                // No record at or after the time: the end.
                -1 => end,
                o => o,
            },
        };
        rows.push(vec![topic.clone(), p.to_string(), offset.to_string()]);
        new.push(Committed {
            topic,
            partition: p,
            offset,
        });
    }
    print_table(&rows);
    if execute {
        groups::commit(conn, group, &new)
            .await
            .with_context(|| format!("committing the new offsets of {group}"))?;
        println!("reset {} partition(s) of group {group}", new.len());
    } else {
        println!("dry run: add --execute to commit these offsets");
    }
    Ok(())
}

/// Milliseconds since the epoch of a UTC `YYYY-MM-DDTHH:MM:SS[.mmm][Z]`.
fn parse_datetime(s: &str) -> anyhow::Result<i64> {
    let bad = || format!("expected YYYY-MM-DDTHH:MM:SS[.mmm] (UTC), got {s}");
    let s = s.strip_suffix('Z').unwrap_or(s);
    let (date, time) = s.split_once('T').with_context(bad)?;
    let d: Vec<i64> = date
        .split('-')
        .map(str::parse)
        .collect::<Result<_, _>>()
        .with_context(bad)?;
    let (hms, millis) = match time.split_once('.') {
        Some((a, b)) => (a, b.parse::<i64>().with_context(bad)?),
        None => (time, 0),
    };
    let t: Vec<i64> = hms
        .split(':')
        .map(str::parse)
        .collect::<Result<_, _>>()
        .with_context(bad)?;
    let ([y, mo, day], [h, mi, sec]) = (
        <[i64; 3]>::try_from(d).map_err(|_| anyhow::anyhow!(bad()))?,
        <[i64; 3]>::try_from(t).map_err(|_| anyhow::anyhow!(bad()))?,
    );
    if !(1..=12).contains(&mo) || !(1..=31).contains(&day) || h > 23 || mi > 59 || sec > 60 {
        bail!(bad());
    }
    // Days from 1970-01-01 to the civil date (Howard Hinnant's algorithm).
    let y = if mo <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (mo + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Ok(((days * 24 + h) * 60 + mi) * 60_000 + sec * 1000 + millis)
}

fn row<const N: usize>(cells: [&str; N]) -> Vec<String> {
    cells.iter().map(|c| c.to_string()).collect()
}

pub(crate) fn print_table(rows: &[Vec<String>]) {
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..cols)
        .map(|i| {
            rows.iter()
                .filter_map(|r| r.get(i))
                .map(String::len)
                .max()
                .unwrap_or(0)
        })
        .collect();
    for r in rows {
        let line: Vec<String> = r
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        println!("{}", line.join("  ").trim_end());
    }
}

#[cfg(test)]
mod tests {
    use super::parse_datetime;

    #[test]
    fn datetimes_are_utc_epoch_millis() {
        assert_eq!(parse_datetime("1970-01-01T00:00:00").unwrap(), 0);
        assert_eq!(
            parse_datetime("2026-11-25T06:00:00.123Z").unwrap(),
            1_795_586_400_123
        );
        assert_eq!(
            parse_datetime("2000-03-01T00:00:00").unwrap(),
            951_868_800_000
        );
        assert!(parse_datetime("2026-13-01T00:00:00").is_err());
        assert!(parse_datetime("yesterday").is_err());
    }
}
