//! `weir bench --rate R`: end-to-end latency at a paced rate, against any Kafka broker. A
//! producer sends R records/s to the topic's partitions in turn as a client with linger 0
//! does (each record in a request of its own while the in-flight window has room, those due
//! meanwhile together when it is full); each record carries its
//! sequence number and the time it was due, so a producer that falls behind is charged for
//! it (no coordinated omission). A consumer in the same process fetches every partition and
//! records, per record, the time from due to received in an HDR histogram. Reports p50, p99,
//! p99.9 and max, records lost and duplicated, and the broker's CPU seconds (per 100,000
//! records too). Every loop is bounded in count and time.
//!
//! A thread of its own wakes the producer when records come due: tokio's timers fire on
//! millisecond ticks, which would charge up to a millisecond of the harness's own lateness to
//! every record. How late records were handed to the client is reported as well (pacing).

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use bytes::{BufMut, BytesMut};
use hdrhistogram::Histogram;
use tokio::sync::Notify;
use weir_client::{consumer, producer, ClientError, Connection};
use weir_protocol::record::{BatchBuilder, Compression};

use weir_broker::host::now_ms;

use crate::commands::Target;
use crate::cpu::{cpu_seconds, opt};

/// The bytes at the start of each value: sequence number and due time (ns since start).
const HEADER: usize = 16;
/// How long the consumer waits for the last records after the producer is done.
const DRAIN: Duration = Duration::from_secs(10);
/// The longest latency the histogram holds, in microseconds (a minute).
const MAX_MICROS: u64 = 60_000_000;

/// What one latency run is asked to do.
pub(crate) struct Plan<'a> {
    /// The broker.
    pub(crate) target: &'a Target,
    /// The topic.
    pub(crate) topic: &'a str,
    /// Its partitions' log end offsets before the run.
    pub(crate) starts: Vec<i64>,
    /// Records per second.
    pub(crate) rate: u64,
    /// For how long.
    pub(crate) seconds: u64,
    /// Value size in bytes (at least 16).
    pub(crate) size: usize,
    /// acks: 1 or -1.
    pub(crate) acks: i16,
    /// Produce requests in flight at once (a Kafka client's max.in.flight).
    pub(crate) in_flight: usize,
    /// Broker process, for its CPU seconds.
    pub(crate) broker_pid: Option<u32>,
    /// One JSON object instead of text.
    pub(crate) json: bool,
}

/// What the consumer of one partition saw.
struct Seen {
    histogram: Histogram<u64>,
    sequences: Vec<u64>,
}

/// Runs the paced end-to-end latency benchmark.
pub(crate) async fn run(plan: Plan<'_>) -> anyhow::Result<()> {
    if plan.size < HEADER {
        bail!("--size must be at least {HEADER} bytes for latency runs");
    }
    if plan.rate == 0 || plan.seconds == 0 {
        bail!("--rate and --seconds must be positive");
    }
    let total = plan.rate.saturating_mul(plan.seconds);
    let partitions = u64::try_from(plan.starts.len()).context("partitions")?;
    if partitions == 0 {
        bail!("the topic has no partitions");
    }
    let t0 = Instant::now();
    // Consumers first, one connection per partition, from each log end.
    let mut consumers = Vec::new();
    for (p, start) in plan.starts.iter().enumerate() {
        let conn = plan.target.connect().await?;
        let expected = total / partitions + u64::from((p as u64) < total % partitions);
        let topic = plan.topic.to_string();
        let (index, start) = (i32::try_from(p)?, *start);
        let deadline = t0 + Duration::from_secs(plan.seconds) + DRAIN;
        consumers.push(tokio::spawn(async move {
            consume(conn, topic, index, start, expected, t0, deadline).await
        }));
    }
    let cpu0 = cpu_seconds(plan.broker_pid);
    let conn = plan.target.connect().await?;
    let mut pacing = Histogram::<u64>::new_with_bounds(1, MAX_MICROS, 3)?;
    let (sent, requests, errors) = produce(&conn, &plan, total, t0, &mut pacing).await?;
    let produce_secs = t0.elapsed().as_secs_f64();
    let mut histogram = Histogram::<u64>::new_with_bounds(1, MAX_MICROS, 3)?;
    let mut sequences = Vec::new();
    for c in consumers {
        let seen = c.await??;
        histogram.add(&seen.histogram)?;
        sequences.extend(seen.sequences);
    }
    let cpu = cpu_seconds(plan.broker_pid).zip(cpu0).map(|(a, b)| a - b);
    let received = sequences.len() as u64;
    sequences.sort_unstable();
    sequences.dedup();
    let unique = sequences.len() as u64;
    let lost = sent.saturating_sub(unique);
    let duplicates = received - unique;
    let ms = |q: f64| histogram.value_at_quantile(q) as f64 / 1e3;
    let (p50, p99, p999, max) = (ms(0.5), ms(0.99), ms(0.999), histogram.max() as f64 / 1e3);
    let pacing_p99 = pacing.value_at_quantile(0.99) as f64 / 1e3;
    let pacing_max = pacing.max() as f64 / 1e3;
    let achieved = sent as f64 / produce_secs.max(1e-9);
    let per_100k = cpu.map(|c| c * 100_000.0 / (sent.max(1) as f64));
    if plan.json {
        println!(
            "{{\"mode\":\"latency\",\"rate\":{},\"seconds\":{},\"partitions\":{partitions},\"size\":{},\"acks\":{},\"sent\":{sent},\"requests\":{requests},\"produce_errors\":{errors},\"received\":{received},\"lost\":{lost},\"duplicates\":{duplicates},\"achieved_rate\":{achieved:.0},\"p50_ms\":{p50:.3},\"p99_ms\":{p99:.3},\"p999_ms\":{p999:.3},\"max_ms\":{max:.3},\"pacing_p99_ms\":{pacing_p99:.3},\"pacing_max_ms\":{pacing_max:.3},\"broker_cpu_secs\":{},\"broker_cpu_secs_per_100k\":{}}}",
            plan.rate,
            plan.seconds,
            plan.size,
            plan.acks,
            opt(cpu),
            opt(per_100k),
        );
    } else {
        println!(
            "end-to-end: {sent} records of {} B in {requests} requests at {} records/s (achieved {achieved:.0}) over {partitions} partition(s), acks={}: p50 {p50:.3} ms, p99 {p99:.3} ms, p99.9 {p999:.3} ms, max {max:.3} ms (records handed to the client late by p99 {pacing_p99:.3} ms, max {pacing_max:.3} ms); lost {lost}, duplicates {duplicates}, produce errors {errors}; broker CPU {} s ({} s per 100,000 records)",
            plan.size,
            plan.rate,
            plan.acks,
            opt(cpu),
            opt(per_100k),
        );
    }
    if lost > 0 || errors > 0 {
        bail!("{lost} record(s) lost, {errors} produce error(s)");
    }
    Ok(())
}

type Pending<'a> = Pin<Box<dyn Future<Output = Result<i64, ClientError>> + 'a>>;

/// The answer to the oldest request in flight (never, if there is none).
async fn oldest(pending: &mut VecDeque<Pending<'_>>) -> Result<i64, ClientError> {
    match pending.front_mut() {
        Some(f) => f.await,
        None => std::future::pending().await,
    }
}

/// The most records one produce request carries when records queued behind a full window.
const MAX_PER_REQUEST: u64 = 10_000;

/// A thread that wakes the producer as each record comes due, to the microsecond's order
/// (`nanosleep`), where tokio's timer would round up to its next millisecond tick.
struct Pacer {
    due_now: Arc<Notify>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Pacer {
    /// Starts waking for records `0..total`, record `i` at `t0 + due(i)`.
    fn start(
        t0: Instant,
        total: u64,
        due: impl Fn(u64) -> Duration + Send + 'static,
    ) -> std::io::Result<Self> {
        let due_now = Arc::new(Notify::new());
        let stop = Arc::new(AtomicBool::new(false));
        let (notify, stopped) = (due_now.clone(), stop.clone());
        let thread = std::thread::Builder::new()
            .name("bench-pacer".into())
            .spawn(move || {
                let mut next = 0;
                // At most `total` rounds, each ending at a due time within the run.
                while next < total && !stopped.load(Ordering::Relaxed) {
                    let at = t0 + due(next);
                    let now = Instant::now();
                    if at > now {
                        std::thread::sleep(at - now);
                    }
                    notify.notify_one();
                    let elapsed = t0.elapsed();
                    next += 1;
                    while next < total && due(next) <= elapsed {
                        next += 1;
                    }
                }
            })?;
        Ok(Self {
            due_now,
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for Pacer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Sends `total` records as a client with linger 0 does: each as soon as it is due, in a
/// request of its own while fewer than `in_flight` requests wait for answers; records that
/// come due while the window is full go together in the next request (one per partition).
/// The records sent, the requests and the produce errors; `pacing` gets how late each
/// request's first record was handed to the client, in microseconds.
async fn produce(
    conn: &Connection,
    plan: &Plan<'_>,
    total: u64,
    t0: Instant,
    pacing: &mut Histogram<u64>,
) -> anyhow::Result<(u64, u64, u64)> {
    let partitions = plan.starts.len() as u64;
    let nanos_per_record = 1e9 / plan.rate as f64;
    let due = move |i: u64| Duration::from_nanos((i as f64 * nanos_per_record) as u64);
    let pacer = Pacer::start(t0, total, due).context("starting the pacing thread")?;
    let mut pending: VecDeque<Pending<'_>> = VecDeque::new();
    let (mut errors, mut requests, mut sent) = (0u64, 0u64, 0u64);
    let padding = vec![b'x'; plan.size - HEADER];
    // Past this, the producer gives up (the broker stopped answering).
    let give_up = t0 + Duration::from_secs(plan.seconds) + DRAIN;
    while sent < total || !pending.is_empty() {
        if Instant::now() > give_up {
            bail!("the broker did not take the load: {sent} of {total} records sent in time");
        }
        let elapsed = t0.elapsed();
        if pending.len() < plan.in_flight && sent < total && due(sent) <= elapsed {
            // Every record due now, by partition.
            let mut upto = sent;
            while upto < total && upto - sent < MAX_PER_REQUEST && due(upto) <= elapsed {
                upto += 1;
            }
            let now = now_ms();
            for p in 0..partitions.min(upto - sent) {
                let partition = (sent + p) % partitions;
                let mut b = BatchBuilder::with_capacity(Compression::None, now, plan.size + 64);
                for seq in (sent..upto).filter(|s| s % partitions == partition) {
                    let mut value = BytesMut::with_capacity(plan.size);
                    value.put_u64(seq);
                    value.put_u64(u64::try_from(due(seq).as_nanos()).unwrap_or(u64::MAX));
                    value.put_slice(&padding);
                    b.push(None, Some(&value), &[], now)?;
                }
                let index = i32::try_from(partition)?;
                let reply = producer::send(conn, plan.topic, index, b.build()?, plan.acks).await?;
                pending.push_back(Box::pin(reply));
                requests += 1;
            }
            let late = elapsed.saturating_sub(due(sent)).as_micros();
            pacing
                .record(
                    u64::try_from(late)
                        .unwrap_or(MAX_MICROS)
                        .clamp(1, MAX_MICROS),
                )
                .context("recording pacing")?;
            sent = upto;
            continue;
        }
        // Whichever comes first: the next record's time (if the window has room), or the
        // oldest request's answer.
        let room = sent < total && pending.len() < plan.in_flight;
        let answered = tokio::select! {
            _ = pacer.due_now.notified(), if room => None,
            _ = tokio::time::sleep_until(give_up.into()) => None,
            r = oldest(&mut pending) => Some(r),
        };
        if let Some(r) = answered {
            pending.pop_front();
            if r.is_err() {
                errors += 1;
            }
        }
    }
    Ok((sent, requests, errors))
}

/// Fetches partition `index` from `offset` until `expected` records came or `deadline`.
async fn consume(
    conn: Connection,
    topic: String,
    index: i32,
    mut offset: i64,
    expected: u64,
    t0: Instant,
    deadline: Instant,
) -> anyhow::Result<Seen> {
    let mut seen = Seen {
        histogram: Histogram::<u64>::new_with_bounds(1, MAX_MICROS, 3)?,
        sequences: Vec::with_capacity(usize::try_from(expected).unwrap_or(0)),
    };
    while (seen.sequences.len() as u64) < expected && Instant::now() < deadline {
        let f = consumer::fetch(&conn, &topic, index, offset, 100, 1 << 20).await?;
        let now = u64::try_from(t0.elapsed().as_nanos()).unwrap_or(u64::MAX);
        for r in &f.records {
            let Some(v) = r.value.as_deref().filter(|v| v.len() >= HEADER) else {
                continue;
            };
            let mut seq = [0u8; 8];
            seq.copy_from_slice(&v[..8]);
            let mut due = [0u8; 8];
            due.copy_from_slice(&v[8..16]);
            let micros = now.saturating_sub(u64::from_be_bytes(due)) / 1_000;
            seen.histogram
                .record(micros.clamp(1, MAX_MICROS))
                .context("recording a latency")?;
            seen.sequences.push(u64::from_be_bytes(seq));
        }
        offset = f.next_offset;
    }
    Ok(seen)
}
