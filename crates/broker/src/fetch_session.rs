//! Fetch sessions (KIP-227): a client names its partitions once, in a full fetch, and then
//! sends only what changed (incremental fetches); the broker keeps the session and answers
//! an incremental fetch with only the partitions that have something new (records, a moved
//! high watermark or log start, an error). Kafka's rules:
//!
//! - session id 0 and epoch -1 (and every fetch before v7): sessionless, a full answer;
//! - epoch 0: a full fetch that opens a new session (the one it names, if any, is dropped);
//! - epoch -1 with a session id: closes that session, answered as sessionless;
//! - epoch > 0: the next fetch of a session: FETCH_SESSION_ID_NOT_FOUND if there is no such
//!   session, INVALID_FETCH_SESSION_EPOCH if the epoch is not the one expected,
//!   FETCH_SESSION_TOPIC_ID_ERROR if it names topics otherwise than the session began.
//!
//! The cache holds `max.incremental.fetch.session.cache.slots` sessions; when full, a session
//! unused for two minutes makes room, or else the least valuable one (a consumer's before a
//! follower's, fewer partitions first) if the new one is worth more.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use weir_protocol::codec::Uuid;
use weir_protocol::error::ErrorCode;
use weir_protocol::messages::fetch_response::PartitionData;
use weir_protocol::messages::FetchRequest;

use crate::locks;

/// A session unused this long may be evicted for any new one (Kafka's fixed 120 s).
const EVICTABLE_AFTER: Duration = Duration::from_secs(120);

/// A topic as a fetch names it: by name (before v13) or by id.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) struct TopicKey {
    /// The name (empty when named by id).
    pub name: String,
    /// The id (zero when named by name).
    pub id: Uuid,
}

/// One partition a fetch reads, and from where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Wanted {
    /// Its topic.
    pub topic: TopicKey,
    /// Its index.
    pub partition: i32,
    /// The offset to read from.
    pub fetch_offset: i64,
    /// The most bytes to return for it.
    pub max_bytes: i32,
    /// The leader epoch the client knows, or -1.
    pub current_leader_epoch: i32,
}

/// A partition of a session and what the client was last told about it.
#[derive(Debug, Clone)]
struct Cached {
    wanted: Wanted,
    high_watermark: i64,
    log_start_offset: i64,
}

/// One client's fetch session.
#[derive(Debug)]
pub(crate) struct Session {
    id: i32,
    /// The epoch the next incremental fetch must carry.
    epoch: i32,
    by_id: bool,
    privileged: bool,
    last_used: Instant,
    /// The partitions in fetch order (by sequence number), and where each is in it.
    order: BTreeMap<u64, Cached>,
    index: HashMap<(TopicKey, i32), u64>,
    next_seq: u64,
}

impl Session {
    fn push(&mut self, c: Cached) {
        let key = (c.wanted.topic.clone(), c.wanted.partition);
        if let Some(seq) = self.index.remove(&key) {
            self.order.remove(&seq);
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        self.index.insert(key, seq);
        self.order.insert(seq, c);
    }

    fn remove(&mut self, key: &(TopicKey, i32)) {
        if let Some(seq) = self.index.remove(key) {
            self.order.remove(&seq);
        }
    }

    /// The partitions, in fetch order.
    fn wanted(&self) -> Vec<Wanted> {
        self.order.values().map(|c| c.wanted.clone()).collect()
    }

    /// How much the session is worth keeping: a follower's before a consumer's, then size.
    fn value(&self) -> (bool, usize) {
        (self.privileged, self.order.len())
    }
}

/// A fetch's answer: the session id it carries, and its partitions with what they returned.
pub(crate) type Answer<'w> = (i32, Vec<(&'w Wanted, PartitionData)>);

/// How a fetch is answered.
#[derive(Debug)]
pub(crate) enum Context {
    /// No session: every requested partition, session id 0.
    Sessionless,
    /// A full fetch that opens a session once it is answered.
    Full {
        /// Whether it names topics by id.
        by_id: bool,
        /// Whether a follower sent it.
        privileged: bool,
    },
    /// The next fetch of a session, which this request moved to `epoch`.
    Incremental(Arc<Mutex<Session>>, i32),
}

/// The fetch sessions of this broker.
#[derive(Debug)]
pub(crate) struct FetchSessions {
    slots: usize,
    sessions: Mutex<HashMap<i32, Arc<Mutex<Session>>>>,
}

/// Kafka's next epoch: 1 after `i32::MAX`.
fn next_epoch(epoch: i32) -> i32 {
    if epoch == i32::MAX {
        1
    } else {
        epoch + 1
    }
}

/// The partitions a fetch names, in its order.
pub(crate) fn requested(req: &FetchRequest) -> Vec<Wanted> {
    req.topics
        .iter()
        .flat_map(|t| {
            let topic = TopicKey {
                name: t.topic.clone(),
                id: t.topic_id,
            };
            t.partitions.iter().map(move |p| Wanted {
                topic: topic.clone(),
                partition: p.partition,
                fetch_offset: p.fetch_offset,
                max_bytes: p.partition_max_bytes,
                current_leader_epoch: p.current_leader_epoch,
            })
        })
        .collect()
}

impl FetchSessions {
    /// An empty cache of `slots` sessions (0: no sessions at all).
    pub(crate) fn new(slots: usize) -> Self {
        Self {
            slots,
            sessions: Mutex::new(HashMap::new()),
        }
    }

    /// How many sessions are open.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        locks::lock(&self.sessions).len()
    }

    /// How fetch `req` (of `version`, from a follower if `privileged`) is answered, and
    /// which partitions it reads, in order; a session error answers the whole fetch.
    pub(crate) fn open(
        &self,
        req: &FetchRequest,
        version: i16,
        privileged: bool,
        now: Instant,
    ) -> Result<(Context, Vec<Wanted>), ErrorCode> {
        let by_id = version >= 13;
        if version < 7 || (req.session_id == 0 && req.session_epoch == -1) {
            return Ok((Context::Sessionless, requested(req)));
        }
        if req.session_epoch == -1 {
            locks::lock(&self.sessions).remove(&req.session_id);
            return Ok((Context::Sessionless, requested(req)));
        }
        if req.session_epoch == 0 {
            if req.session_id != 0 {
                locks::lock(&self.sessions).remove(&req.session_id);
            }
            return Ok((Context::Full { by_id, privileged }, requested(req)));
        }
        let session = locks::lock(&self.sessions)
            .get(&req.session_id)
            .cloned()
            .ok_or(ErrorCode::FetchSessionIdNotFound)?;
        let mut guard = locks::lock(&session);
        let s = &mut *guard;
        if s.epoch != req.session_epoch {
            return Err(ErrorCode::InvalidFetchSessionEpoch);
        }
        if s.by_id != by_id {
            return Err(ErrorCode::FetchSessionTopicIdError);
        }
        for w in requested(req) {
            let key = (w.topic.clone(), w.partition);
            if let Some(c) = s.index.get(&key).and_then(|seq| s.order.get_mut(seq)) {
                c.wanted = w;
                continue;
            }
            s.push(Cached {
                wanted: w,
                high_watermark: -1,
                log_start_offset: -1,
            });
        }
        for t in &req.forgotten_topics_data {
            let topic = TopicKey {
                name: t.topic.clone(),
                id: t.topic_id,
            };
            for &p in &t.partitions {
                s.remove(&(topic.clone(), p));
            }
        }
        s.epoch = next_epoch(s.epoch);
        s.last_used = now;
        let epoch = s.epoch;
        let wanted = s.wanted();
        drop(guard);
        Ok((Context::Incremental(session, epoch), wanted))
    }

    /// The answer to a fetch in `ctx` that read `read` of the partitions `wanted` (in the
    /// order [`FetchSessions::open`] gave): the response's session id and the partitions it
    /// carries. A full fetch opens
    /// its session here; an incremental one carries only what changed since the client last
    /// heard, and moves partitions that returned records to the back of the session.
    pub(crate) fn finish<'w>(
        &self,
        ctx: &Context,
        wanted: &'w [Wanted],
        read: Vec<PartitionData>,
        now: Instant,
    ) -> Result<Answer<'w>, ErrorCode> {
        let read: Vec<(&Wanted, PartitionData)> = wanted.iter().zip(read).collect();
        match ctx {
            Context::Sessionless => Ok((0, read)),
            Context::Full { by_id, privileged } => {
                let id = if read.is_empty() {
                    0
                } else {
                    self.create(*by_id, *privileged, &read, now)
                };
                Ok((id, read))
            }
            Context::Incremental(session, epoch) => {
                let mut guard = locks::lock(session);
                let s = &mut *guard;
                if s.epoch != *epoch {
                    return Err(ErrorCode::InvalidFetchSessionEpoch);
                }
                let mut out = Vec::new();
                for (w, data) in read {
                    let key = (w.topic.clone(), w.partition);
                    let Some(&seq) = s.index.get(&key) else {
                        continue;
                    };
                    let Some(c) = s.order.get_mut(&seq) else {
                        continue;
                    };
                    let records = data.records.as_ref().is_some_and(|r| !r.is_empty());
                    let mut respond = records;
                    if c.high_watermark != data.high_watermark {
                        respond = true;
                        c.high_watermark = data.high_watermark;
                    }
                    if c.log_start_offset != data.log_start_offset {
                        respond = true;
                        c.log_start_offset = data.log_start_offset;
                    }
                    if data.error_code != 0 {
                        respond = true;
                        c.high_watermark = -1;
                    }
                    if records {
                        let moved = c.clone();
                        s.push(moved);
                    }
                    if respond {
                        out.push((w, data));
                    }
                }
                Ok((s.id, out))
            }
        }
    }

    /// A new session over `read`; its id, or 0 if the cache has no room for it.
    fn create(
        &self,
        by_id: bool,
        privileged: bool,
        read: &[(&Wanted, PartitionData)],
        now: Instant,
    ) -> i32 {
        if self.slots == 0 {
            return 0;
        }
        let mut sessions = locks::lock(&self.sessions);
        if sessions.len() >= self.slots && !evict(&mut sessions, (privileged, read.len()), now) {
            return 0;
        }
        let id = loop {
            let bytes = *uuid::Uuid::new_v4().as_bytes();
            let id = i32::from_be_bytes([bytes[0] & 0x7f, bytes[1], bytes[2], bytes[3]]);
            if id != 0 && !sessions.contains_key(&id) {
                break id;
            }
        };
        let mut s = Session {
            id,
            epoch: 1,
            by_id,
            privileged,
            last_used: now,
            order: BTreeMap::new(),
            index: HashMap::new(),
            next_seq: 0,
        };
        for (w, data) in read {
            s.push(Cached {
                wanted: (*w).clone(),
                high_watermark: if data.error_code != 0 {
                    -1
                } else {
                    data.high_watermark
                },
                log_start_offset: data.log_start_offset,
            });
        }
        sessions.insert(id, Arc::new(Mutex::new(s)));
        id
    }
}

/// Makes room for a session worth `value`: evicts the least recently used session idle for
/// [`EVICTABLE_AFTER`], or else the least valuable one if it is worth less. False if
/// nothing could go.
fn evict(
    sessions: &mut HashMap<i32, Arc<Mutex<Session>>>,
    value: (bool, usize),
    now: Instant,
) -> bool {
    let mut stale: Option<(Instant, i32)> = None;
    let mut cheapest: Option<((bool, usize), i32)> = None;
    for (&id, s) in sessions.iter() {
        let s = locks::lock(s);
        let idle = now.saturating_duration_since(s.last_used) >= EVICTABLE_AFTER;
        if idle && !matches!(stale, Some((t, _)) if t <= s.last_used) {
            stale = Some((s.last_used, id));
        }
        if !matches!(cheapest, Some((v, _)) if v <= s.value()) {
            cheapest = Some((s.value(), id));
        }
    }
    let victim = match (stale, cheapest) {
        (Some((_, id)), _) => id,
        (None, Some((v, id))) if v < value => id,
        _ => return false,
    };
    sessions.remove(&victim);
    true
}

#[cfg(test)]
mod tests;
