//! Share sessions (KIP-932): what a member fetches from this broker, kept between its
//! ShareFetch requests so a request need only name what changed. Epoch 0 opens a session
//! (replacing the member's previous one), each later request carries the next epoch, and -1
//! closes it. ShareAcknowledge needs an open session and the next epoch too.

use std::collections::{BTreeSet, HashMap};

use weir_protocol::error::ErrorCode;

use weir_meta::records::TopicId;

/// A partition of a share session.
pub(crate) type SessionPartition = (TopicId, i32);

/// Who a share session belongs to: the group and the member.
pub(crate) type SessionKey = (String, String);

struct Session {
    next_epoch: i32,
    partitions: BTreeSet<SessionPartition>,
    last_used_ms: i64,
}

/// What a request did to its session.
pub(crate) enum Opened {
    /// A new session (epoch 0); `replaced` holds the partitions of the one it replaced.
    New { replaced: Vec<SessionPartition> },
    /// The next request of an open session.
    Next,
    /// The session is closed (epoch -1); these were its partitions.
    Closed { partitions: Vec<SessionPartition> },
}

/// The share sessions of this broker.
#[derive(Default)]
pub(crate) struct ShareSessions {
    sessions: HashMap<SessionKey, Session>,
}

/// Sessions unused this long are dropped (their member is gone; its locks expire anyway).
const IDLE_MS: i64 = 300_000;

/// The most sessions kept; beyond it the least recently used one goes.
const MAX_SESSIONS: usize = 10_000;

impl ShareSessions {
    /// Applies a request's session epoch: opens, advances or closes the member's session,
    /// adding `added` and removing `forgotten` partitions. SHARE_SESSION_NOT_FOUND or
    /// INVALID_SHARE_SESSION_EPOCH when the epoch does not fit.
    pub(crate) fn open(
        &mut self,
        key: &SessionKey,
        epoch: i32,
        added: &[SessionPartition],
        forgotten: &[SessionPartition],
        now: i64,
    ) -> Result<Opened, ErrorCode> {
        if epoch == 0 {
            if !self.sessions.contains_key(key) && self.sessions.len() >= MAX_SESSIONS {
                // The least recently used session makes room (its locks expire as usual).
                let oldest = self
                    .sessions
                    .iter()
                    .min_by_key(|(_, s)| s.last_used_ms)
                    .map(|(k, _)| k.clone());
                if let Some(k) = oldest {
                    self.sessions.remove(&k);
                }
            }
            let replaced = self
                .sessions
                .remove(key)
                .map(|s| s.partitions.into_iter().collect())
                .unwrap_or_default();
            self.sessions.insert(
                key.clone(),
                Session {
                    next_epoch: 1,
                    partitions: added.iter().copied().collect(),
                    last_used_ms: now,
                },
            );
            return Ok(Opened::New { replaced });
        }
        let session = self
            .sessions
            .get_mut(key)
            .ok_or(ErrorCode::ShareSessionNotFound)?;
        if epoch == -1 {
            let partitions = self
                .sessions
                .remove(key)
                .map(|s| s.partitions.into_iter().collect())
                .unwrap_or_default();
            return Ok(Opened::Closed { partitions });
        }
        if epoch != session.next_epoch {
            return Err(ErrorCode::InvalidShareSessionEpoch);
        }
        session.next_epoch = if epoch == i32::MAX { 1 } else { epoch + 1 };
        session.last_used_ms = now;
        for p in forgotten {
            session.partitions.remove(p);
        }
        session.partitions.extend(added.iter().copied());
        Ok(Opened::Next)
    }

    /// The partitions of an open session.
    pub(crate) fn partitions(&self, key: &SessionKey) -> Vec<SessionPartition> {
        self.sessions
            .get(key)
            .map(|s| s.partitions.iter().copied().collect())
            .unwrap_or_default()
    }

    /// Drops sessions idle for longer than [`IDLE_MS`]; their keys and partitions.
    pub(crate) fn evict(&mut self, now: i64) -> Vec<(SessionKey, Vec<SessionPartition>)> {
        let idle: Vec<SessionKey> = self
            .sessions
            .iter()
            .filter(|(_, s)| now - s.last_used_ms > IDLE_MS)
            .map(|(k, _)| k.clone())
            .collect();
        idle.into_iter()
            .filter_map(|k| {
                let s = self.sessions.remove(&k)?;
                Some((k, s.partitions.into_iter().collect()))
            })
            .collect()
    }

    /// How many sessions are open.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.sessions.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key() -> SessionKey {
        ("g".into(), "m".into())
    }

    #[test]
    fn epochs_open_advance_and_close() {
        let mut s = ShareSessions::default();
        let p = ([1u8; 16], 0);
        assert!(matches!(
            s.open(&key(), 1, &[], &[], 0),
            Err(ErrorCode::ShareSessionNotFound)
        ));
        assert!(matches!(
            s.open(&key(), 0, &[p], &[], 0),
            Ok(Opened::New { .. })
        ));
        assert!(matches!(
            s.open(&key(), 2, &[], &[], 0),
            Err(ErrorCode::InvalidShareSessionEpoch)
        ));
        assert!(matches!(s.open(&key(), 1, &[], &[], 0), Ok(Opened::Next)));
        assert_eq!(s.partitions(&key()), vec![p]);
        assert!(matches!(s.open(&key(), 2, &[], &[p], 0), Ok(Opened::Next)));
        assert!(s.partitions(&key()).is_empty());
        assert!(matches!(
            s.open(&key(), -1, &[], &[], 0),
            Ok(Opened::Closed { .. })
        ));
        assert_eq!(s.len(), 0);
    }

    #[test]
    fn idle_sessions_are_evicted() {
        let mut s = ShareSessions::default();
        s.open(&key(), 0, &[], &[], 0).unwrap();
        assert!(s.evict(IDLE_MS).is_empty());
        assert_eq!(s.evict(IDLE_MS + 1).len(), 1);
    }
}
