//! `weir bench`: a bounded produce-then-fetch load against one partition of any Kafka
//! broker, reporting msgs/s, MB/s, produce request latency (p50, p99, max) and, given the
//! broker's PID, its CPU seconds. With `--rate`, end-to-end latency at a paced rate instead
//! ([`crate::bench_latency`]).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::Args;
use weir_client::{admin, consumer, producer, ClientError, Connection};
use weir_protocol::error::ErrorCode;
use weir_protocol::record::{BatchBuilder, Compression};

use weir_broker::host::now_ms;

use crate::commands::Target;
use crate::cpu::{cpu_seconds, opt};

/// Flags of `weir bench`.
#[derive(Args, Debug)]
pub(crate) struct BenchArgs {
    #[command(flatten)]
    target: Target,
    /// Topic (created with one partition if missing).
    #[arg(long, default_value = "weir-bench")]
    topic: String,
    /// Records to produce (and then fetch).
    #[arg(long, default_value_t = 1_000_000)]
    messages: u64,
    /// Value size in bytes.
    #[arg(long, default_value_t = 100)]
    size: usize,
    /// acks: 0, 1 or -1 (all).
    #[arg(long, default_value_t = 1, allow_negative_numbers = true)]
    acks: i16,
    /// Target uncompressed batch size in bytes (like the Java client's batch.size).
    #[arg(long, default_value_t = 64 * 1024)]
    batch_bytes: usize,
    /// Produce requests in flight at once.
    #[arg(long, default_value_t = 8)]
    in_flight: usize,
    /// Broker process id, to report its CPU seconds (read from /proc).
    #[arg(long)]
    broker_pid: Option<u32>,
    /// Skip the fetch phase.
    #[arg(long)]
    no_fetch: bool,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
    /// Key records with `k0`..`k{N-1}` in turn (for compacted topics); 0: no keys.
    #[arg(long, default_value_t = 0)]
    keys: u64,
    /// Config KEY=VALUE of the topic when this creates it (repeatable).
    #[arg(long = "topic-config", value_parser = parse_kv)]
    topic_configs: Vec<(String, String)>,
    /// End-to-end latency at this many records/s, one record per produce request, with a
    /// consumer in the same process (instead of the throughput run).
    #[arg(long)]
    rate: Option<u64>,
    /// How long a --rate run produces.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Partitions of the topic when this creates it (--rate runs use them all).
    #[arg(long, default_value_t = 1)]
    partitions: i32,
}

fn parse_kv(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .ok_or_else(|| format!("expected KEY=VALUE, got {s}"))
}

/// The `q` quantile of sorted latencies, in milliseconds.
fn quantile_ms(sorted: &[Duration], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() - 1) as f64 * q).round() as usize;
    sorted.get(i).map_or(0.0, |d| d.as_secs_f64() * 1e3)
}

/// Runs the benchmark.
pub(crate) async fn run(args: BenchArgs) -> anyhow::Result<()> {
    if args.size == 0 || args.messages == 0 || args.in_flight == 0 {
        bail!("--size, --messages and --in-flight must be positive");
    }
    let conn = args.target.connect().await?;
    let starts = prepare_topic(&conn, &args.topic, args.partitions, &args.topic_configs).await?;
    if let Some(rate) = args.rate {
        return crate::bench_latency::run(crate::bench_latency::Plan {
            target: &args.target,
            topic: &args.topic,
            starts,
            rate,
            seconds: args.seconds,
            size: args.size,
            acks: args.acks,
            in_flight: args.in_flight,
            broker_pid: args.broker_pid,
            json: args.json,
        })
        .await;
    }
    let start_offset = starts.first().copied().unwrap_or(0);
    let value: Vec<u8> = (0..args.size).map(|i| b'a' + (i % 26) as u8).collect();
    let per_batch = (args.batch_bytes / (args.size + 12)).max(1) as u64;

    let cpu0 = cpu_seconds(args.broker_pid);
    let t0 = Instant::now();
    let mut pending = VecDeque::new();
    let mut latencies: Vec<Duration> = Vec::new();
    let mut sent = 0u64;
    let mut key_i = 0u64;
    while sent < args.messages {
        let n = per_batch.min(args.messages - sent);
        let now = now_ms();
        let mut b = BatchBuilder::with_capacity(
            Compression::None,
            now,
            usize::try_from(n)? * (args.size + 12),
        );
        for _ in 0..n {
            let key = (args.keys > 0).then(|| format!("k{}", key_i % args.keys));
            key_i += 1;
            b.push(key.as_deref().map(str::as_bytes), Some(&value), &[], now)?;
        }
        let batch = b.build()?;
        let sent_at = Instant::now();
        pending.push_back((
            sent_at,
            producer::send(&conn, &args.topic, 0, batch, args.acks).await?,
        ));
        sent += n;
        if pending.len() >= args.in_flight {
            if let Some((at, p)) = pending.pop_front() {
                p.await?;
                latencies.push(at.elapsed());
            }
        }
    }
    for (at, p) in pending {
        p.await?;
        latencies.push(at.elapsed());
    }
    latencies.sort_unstable();
    let (p50, p99, pmax) = (
        quantile_ms(&latencies, 0.5),
        quantile_ms(&latencies, 0.99),
        quantile_ms(&latencies, 1.0),
    );
    let produce_secs = t0.elapsed().as_secs_f64();
    let produce_cpu = cpu_seconds(args.broker_pid).zip(cpu0).map(|(a, b)| a - b);

    let mut fetch_secs = 0.0;
    let mut fetch_cpu = None;
    let mut fetched = 0u64;
    if !args.no_fetch {
        let cpu1 = cpu_seconds(args.broker_pid);
        let t1 = Instant::now();
        let mut offset = start_offset;
        while fetched < args.messages {
            let f = consumer::fetch(&conn, &args.topic, 0, offset, 500, 8 * 1024 * 1024).await?;
            if f.records.is_empty() && f.next_offset == offset {
                bail!(
                    "fetch made no progress at offset {offset} (high watermark {})",
                    f.high_watermark
                );
            }
            fetched += f.records.len() as u64;
            offset = f.next_offset;
        }
        fetch_secs = t1.elapsed().as_secs_f64();
        fetch_cpu = cpu_seconds(args.broker_pid).zip(cpu1).map(|(a, b)| a - b);
    }

    let mb = (args.messages as f64 * args.size as f64) / 1e6;
    let rate = |secs: f64| {
        if secs > 0.0 {
            args.messages as f64 / secs
        } else {
            0.0
        }
    };
    if args.json {
        println!(
            "{{\"messages\":{},\"size\":{},\"acks\":{},\"produce_p50_ms\":{p50:.3},\"produce_p99_ms\":{p99:.3},\"produce_max_ms\":{pmax:.3},\"produce_secs\":{produce_secs:.6},\"produce_msgs_per_sec\":{:.0},\"produce_mb_per_sec\":{:.2},\"produce_broker_cpu_secs\":{},\"fetch_secs\":{fetch_secs:.6},\"fetch_msgs_per_sec\":{:.0},\"fetch_mb_per_sec\":{:.2},\"fetch_broker_cpu_secs\":{}}}",
            args.messages,
            args.size,
            args.acks,
            rate(produce_secs),
            mb / produce_secs.max(1e-9),
            opt(produce_cpu),
            if args.no_fetch { 0.0 } else { rate(fetch_secs) },
            if args.no_fetch { 0.0 } else { mb / fetch_secs.max(1e-9) },
            opt(fetch_cpu),
        );
    } else {
        println!(
            "produce: {} msgs x {} B, acks={}: {:.2} s, {:.0} msgs/s, {:.2} MB/s, broker CPU {} s, request latency p50 {p50:.2} ms p99 {p99:.2} ms max {pmax:.2} ms",
            args.messages,
            args.size,
            args.acks,
            produce_secs,
            rate(produce_secs),
            mb / produce_secs.max(1e-9),
            opt(produce_cpu)
        );
        if !args.no_fetch {
            println!(
                "fetch:   {fetched} msgs: {:.2} s, {:.0} msgs/s, {:.2} MB/s, broker CPU {} s",
                fetch_secs,
                rate(fetch_secs),
                mb / fetch_secs.max(1e-9),
                opt(fetch_cpu)
            );
        }
    }
    Ok(())
}

/// How long a new topic may take to get a leader (Kafka elects it asynchronously).
const TOPIC_READY_TIMEOUT: Duration = Duration::from_secs(30);

/// Creates `topic` (with `partitions` partitions) unless it exists, waits until each
/// partition has a leader that answers ListOffsets, and returns their log end offsets.
async fn prepare_topic(
    conn: &Connection,
    topic: &str,
    partitions: i32,
    configs: &[(String, String)],
) -> anyhow::Result<Vec<i64>> {
    let md = admin::metadata(conn, Some(&[topic.to_string()])).await?;
    let missing = md
        .topics
        .first()
        .is_none_or(|t| t.error_code == ErrorCode::UnknownTopicOrPartition.code());
    if missing {
        match admin::create_topic(conn, topic, partitions, 1, configs).await {
            Ok(()) => {}
            Err(ClientError::Kafka {
                code: ErrorCode::TopicAlreadyExists,
                ..
            }) => {}
            Err(e) => return Err(e).context("creating the bench topic"),
        }
    }
    let deadline = Instant::now() + TOPIC_READY_TIMEOUT;
    let mut ends = Vec::new();
    for p in 0..partitions.max(1) {
        loop {
            match admin::list_offset(conn, topic, p, -1).await {
                Ok(offset) => {
                    ends.push(offset);
                    break;
                }
                Err(ClientError::Kafka { code, .. }) if code.is_retriable() => {
                    if Instant::now() >= deadline {
                        bail!("{topic}-{p} has no leader after {TOPIC_READY_TIMEOUT:?} (last error {code:?})");
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                Err(e) => return Err(e).context("finding the end offset of the bench topic"),
            }
        }
    }
    Ok(ends)
}
