use std::time::{Duration, Instant};

use bytes::Bytes;
use weir_protocol::codec::Uuid;
use weir_protocol::error::ErrorCode;
use weir_protocol::messages::fetch_request::{FetchPartition, FetchTopic, ForgottenTopic};
use weir_protocol::messages::fetch_response::PartitionData;
use weir_protocol::messages::FetchRequest;

use super::{Context, FetchSessions, Wanted};

const V: i16 = 13;

fn topic_id(n: u8) -> Uuid {
    Uuid([n; 16])
}

fn fetch(session_id: i32, session_epoch: i32, parts: &[(u8, i32, i64)]) -> FetchRequest {
    let mut topics: Vec<FetchTopic> = Vec::new();
    for &(t, p, offset) in parts {
        let part = FetchPartition {
            partition: p,
            fetch_offset: offset,
            partition_max_bytes: 1 << 20,
            current_leader_epoch: -1,
            ..Default::default()
        };
        match topics.iter_mut().find(|x| x.topic_id == topic_id(t)) {
            Some(x) => x.partitions.push(part),
            None => topics.push(FetchTopic {
                topic_id: topic_id(t),
                partitions: vec![part],
                ..Default::default()
            }),
        }
    }
    FetchRequest {
        session_id,
        session_epoch,
        topics,
        ..Default::default()
    }
}

/// What a read of `w` found: `records` bytes, high watermark `hw`, log start 0.
fn data(w: &Wanted, records: usize, hw: i64) -> PartitionData {
    PartitionData {
        partition_index: w.partition,
        high_watermark: hw,
        log_start_offset: 0,
        records: Some(Bytes::from(vec![0u8; records])),
        ..Default::default()
    }
}

/// [`FetchSessions::finish`] over (partition, what its read returned) pairs.
fn finish(
    cache: &FetchSessions,
    ctx: &Context,
    read: Vec<(Wanted, PartitionData)>,
    now: Instant,
) -> Result<(i32, Vec<(Wanted, PartitionData)>), ErrorCode> {
    let (wanted, data): (Vec<Wanted>, Vec<PartitionData>) = read.into_iter().unzip();
    let (id, out) = cache.finish(ctx, &wanted, data, now)?;
    Ok((id, out.into_iter().map(|(w, d)| (w.clone(), d)).collect()))
}

fn names(out: &[(Wanted, PartitionData)]) -> Vec<(u8, i32)> {
    out.iter()
        .map(|(w, _)| (w.topic.id.0[0], w.partition))
        .collect()
}

/// Opens a session over `parts` (nothing to read in any) and returns its id.
fn open_session(cache: &FetchSessions, parts: &[(u8, i32, i64)], now: Instant) -> i32 {
    let (ctx, wanted) = cache
        .open(&fetch(0, 0, parts), V, false, now)
        .unwrap_or_else(|e| panic!("{e:?}"));
    assert!(matches!(ctx, Context::Full { .. }));
    let read = wanted.iter().map(|w| (w.clone(), data(w, 0, 10))).collect();
    let (id, out) = finish(cache, &ctx, read, now).unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(
        out.len(),
        parts.len(),
        "a full fetch answers every partition"
    );
    id
}

#[test]
fn sessionless_fetches_answer_everything_with_session_id_zero() {
    let cache = FetchSessions::new(10);
    let now = Instant::now();
    for (req, version) in [
        (fetch(0, -1, &[(1, 0, 0), (1, 1, 0)]), V),
        (fetch(0, 0, &[(1, 0, 0)]), 6),
    ] {
        let (ctx, wanted) = cache
            .open(&req, version, false, now)
            .unwrap_or_else(|e| panic!("{e:?}"));
        assert!(matches!(ctx, Context::Sessionless));
        let read: Vec<_> = wanted.iter().map(|w| (w.clone(), data(w, 0, 5))).collect();
        let n = read.len();
        let (id, out) = finish(&cache, &ctx, read, now).unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!((id, out.len()), (0, n));
    }
    assert_eq!(cache.len(), 0);
}

#[test]
fn an_incremental_fetch_reads_the_session_and_answers_only_what_changed() {
    let cache = FetchSessions::new(10);
    let now = Instant::now();
    let id = open_session(&cache, &[(1, 0, 0), (1, 1, 0), (2, 0, 0)], now);
    assert_ne!(id, 0);

    // Nothing named, nothing new: every session partition is read, none is answered.
    let (ctx, wanted) = cache
        .open(&fetch(id, 1, &[]), V, false, now)
        .unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(wanted.len(), 3);
    let read = wanted.iter().map(|w| (w.clone(), data(w, 0, 10))).collect();
    let (got, out) = finish(&cache, &ctx, read, now).unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!((got, out.len()), (id, 0));

    // Records in one partition, a new high watermark in another.
    let (ctx, wanted) = cache
        .open(&fetch(id, 2, &[]), V, false, now)
        .unwrap_or_else(|e| panic!("{e:?}"));
    let read = wanted
        .iter()
        .map(|w| match (w.topic.id.0[0], w.partition) {
            (1, 1) => (w.clone(), data(w, 100, 11)),
            (2, 0) => (w.clone(), data(w, 0, 12)),
            _ => (w.clone(), data(w, 0, 10)),
        })
        .collect();
    let (_, out) = finish(&cache, &ctx, read, now).unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(names(&out), vec![(1, 1), (2, 0)]);

    // The partition that returned records moved to the back; an offset update is kept.
    let (_, wanted) = cache
        .open(&fetch(id, 3, &[(1, 1, 7)]), V, false, now)
        .unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(
        names(
            &wanted
                .iter()
                .map(|w| (w.clone(), PartitionData::default()))
                .collect::<Vec<_>>()
        ),
        vec![(1, 0), (2, 0), (1, 1)]
    );
    assert_eq!(wanted[2].fetch_offset, 7);
}

#[test]
fn an_error_is_always_answered() {
    let cache = FetchSessions::new(10);
    let now = Instant::now();
    let id = open_session(&cache, &[(1, 0, 0)], now);
    for epoch in [1, 2] {
        let (ctx, wanted) = cache
            .open(&fetch(id, epoch, &[]), V, false, now)
            .unwrap_or_else(|e| panic!("{e:?}"));
        let mut d = data(&wanted[0], 0, 10);
        d.error_code = ErrorCode::NotLeaderOrFollower.code();
        let (_, out) = finish(&cache, &ctx, vec![(wanted[0].clone(), d)], now)
            .unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!(out.len(), 1, "epoch {epoch}");
    }
}

#[test]
fn session_errors_follow_kafka() {
    let cache = FetchSessions::new(10);
    let now = Instant::now();
    let id = open_session(&cache, &[(1, 0, 0)], now);
    let err = |req: FetchRequest, v: i16| cache.open(&req, v, false, now).err();
    assert_eq!(
        err(fetch(id.wrapping_add(1).max(1), 1, &[]), V),
        Some(ErrorCode::FetchSessionIdNotFound)
    );
    assert_eq!(
        err(fetch(id, 5, &[]), V),
        Some(ErrorCode::InvalidFetchSessionEpoch)
    );
    assert_eq!(
        err(fetch(id, 1, &[]), 12),
        Some(ErrorCode::FetchSessionTopicIdError)
    );
    // A failed fetch does not move the epoch.
    assert!(err(fetch(id, 1, &[]), V).is_none());

    // Two fetches in flight: the older one's answer is refused, as Kafka refuses it.
    let (first, _) = cache
        .open(&fetch(id, 2, &[]), V, false, now)
        .unwrap_or_else(|e| panic!("{e:?}"));
    let (second, _) = cache
        .open(&fetch(id, 3, &[]), V, false, now)
        .unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(
        finish(&cache, &first, Vec::new(), now).err(),
        Some(ErrorCode::InvalidFetchSessionEpoch)
    );
    assert!(finish(&cache, &second, Vec::new(), now).is_ok());
}

#[test]
fn close_and_reopen_drop_the_named_session() {
    let cache = FetchSessions::new(10);
    let now = Instant::now();
    let id = open_session(&cache, &[(1, 0, 0)], now);
    let (ctx, wanted) = cache
        .open(&fetch(id, -1, &[]), V, false, now)
        .unwrap_or_else(|e| panic!("{e:?}"));
    assert!(matches!(ctx, Context::Sessionless) && wanted.is_empty());
    assert_eq!(cache.len(), 0);
    assert_eq!(
        cache.open(&fetch(id, 1, &[]), V, false, now).err(),
        Some(ErrorCode::FetchSessionIdNotFound)
    );

    let id = open_session(&cache, &[(1, 0, 0)], now);
    let again = open_session(&cache, &[(1, 0, 0), (1, 1, 0)], now);
    let (ctx, _) = cache
        .open(&fetch(id, 0, &[(2, 0, 0)]), V, false, now)
        .unwrap_or_else(|e| panic!("{e:?}"));
    assert!(matches!(ctx, Context::Full { .. }));
    assert_eq!(
        cache.len(),
        1,
        "a full fetch naming a session drops it; the other stays"
    );
    assert!(cache.open(&fetch(again, 1, &[]), V, false, now).is_ok());
}

#[test]
fn forgotten_partitions_leave_the_session() {
    let cache = FetchSessions::new(10);
    let now = Instant::now();
    let id = open_session(&cache, &[(1, 0, 0), (1, 1, 0)], now);
    let mut req = fetch(id, 1, &[]);
    req.forgotten_topics_data = vec![ForgottenTopic {
        topic_id: topic_id(1),
        partitions: vec![0],
        ..Default::default()
    }];
    let (_, wanted) = cache
        .open(&req, V, false, now)
        .unwrap_or_else(|e| panic!("{e:?}"));
    assert_eq!(wanted.len(), 1);
    assert_eq!(wanted[0].partition, 1);
}

#[test]
fn a_full_cache_makes_room_only_for_an_idle_or_a_more_valuable_session() {
    let cache = FetchSessions::new(1);
    let now = Instant::now();
    let first = open_session(&cache, &[(1, 0, 0), (1, 1, 0)], now);
    assert_ne!(first, 0);
    // As valuable and the first is fresh: no session (the client stays on full fetches).
    assert_eq!(open_session(&cache, &[(2, 0, 0), (2, 1, 0)], now), 0);
    // Bigger: it takes the slot.
    let bigger = open_session(&cache, &[(2, 0, 0), (2, 1, 0), (2, 2, 0)], now);
    assert_ne!(bigger, 0);
    assert_eq!(
        cache.open(&fetch(first, 1, &[]), V, false, now).err(),
        Some(ErrorCode::FetchSessionIdNotFound)
    );
    // Idle for two minutes: any new session takes the slot.
    let later = now + Duration::from_secs(121);
    assert_ne!(open_session(&cache, &[(3, 0, 0)], later), 0);
    assert_eq!(cache.len(), 1);
    // No slots at all: no sessions.
    let none = FetchSessions::new(0);
    assert_eq!(open_session(&none, &[(1, 0, 0)], now), 0);
}
