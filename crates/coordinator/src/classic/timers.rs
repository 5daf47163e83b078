//! Time: [`ClassicGroup::tick`] fires every deadline that has passed, earliest first, and
//! [`ClassicGroup::next_deadline`] tells the broker when to call it next.

use super::api::Effect;
use super::{after, ClassicGroup, JoinTimer};
use crate::group::GroupState;

/// A deadline the group waits on, in firing order for equal times.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
enum Timer {
    /// The join phase timer (initial delay or rebalance timeout).
    Join,
    /// Members that never sent SyncGroup for the generation.
    Sync,
    /// A member id handed out with MEMBER_ID_REQUIRED that was never used.
    Pending(String),
    /// A member's session (or a new member's join wait).
    Session(String),
}

impl ClassicGroup {
    /// The earliest time at which [`ClassicGroup::tick`] has something to do.
    pub fn next_deadline(&self) -> Option<i64> {
        self.earliest().map(|(deadline, _)| deadline)
    }

    fn earliest(&self) -> Option<(i64, Timer)> {
        let join = self.join_timer.map(|t| (t.deadline(), Timer::Join));
        let sync = self.sync_timer.map(|t| (t.deadline, Timer::Sync));
        let pending = self
            .pending_members
            .iter()
            .map(|(id, d)| (*d, Timer::Pending(id.clone())));
        let sessions = self.members.values().filter_map(|m| {
            m.heartbeat_deadline
                .map(|d| (d, Timer::Session(m.id.clone())))
        });
        join.into_iter()
            .chain(sync)
            .chain(pending)
            .chain(sessions)
            .min()
    }

    /// Fires every deadline at or before `now`: expired sessions remove members (and start
    /// a rebalance), the join phase completes on its timeout (dropping members that did not
    /// rejoin), and members that never synced are removed. Returns the effects released.
    pub fn tick(&mut self, now: i64) -> Vec<Effect> {
        let mut out = Vec::new();
        // Each firing removes its timer or moves it past `now`, so this ends.
        while let Some((deadline, timer)) = self.earliest() {
            if deadline > now {
                break;
            }
            match timer {
                Timer::Join => self.fire_join_timer(now, &mut out),
                Timer::Sync => self.fire_sync_timer(now, &mut out),
                Timer::Pending(id) => {
                    self.pending_members.remove(&id);
                    if self.state == GroupState::PreparingRebalance && self.has_all_members_joined()
                    {
                        self.complete_join(now, &mut out);
                    }
                }
                Timer::Session(id) => self.expire_session(&id, now, &mut out),
            }
        }
        out
    }

    fn fire_join_timer(&mut self, now: i64, out: &mut Vec<Effect>) {
        let Some(timer) = self.join_timer.take() else {
            return;
        };
        if self.state != GroupState::PreparingRebalance {
            return;
        }
        match timer {
            JoinTimer::Initial {
                delay_ms,
                remaining_ms,
                ..
            } if self.new_member_added && remaining_ms != 0 => {
                // Members keep arriving: wait once more, within the rebalance timeout.
                self.new_member_added = false;
                let new_delay = self.config.initial_rebalance_delay_ms.min(remaining_ms);
                self.join_timer = Some(JoinTimer::Initial {
                    deadline: after(now, new_delay),
                    delay_ms: new_delay,
                    remaining_ms: (remaining_ms - delay_ms).max(0),
                });
            }
            JoinTimer::Initial { .. } | JoinTimer::Complete { .. } => self.complete_join(now, out),
        }
    }

    fn fire_sync_timer(&mut self, now: i64, out: &mut Vec<Effect>) {
        let Some(timer) = self.sync_timer.take() else {
            return;
        };
        let syncing = matches!(
            self.state,
            GroupState::CompletingRebalance | GroupState::Stable
        );
        if timer.generation != self.generation_id || !syncing || self.pending_sync.is_empty() {
            return;
        }
        let laggards: Vec<String> = self.pending_sync.iter().cloned().collect();
        for id in &laggards {
            self.remove_member(id, out);
        }
        self.prepare_rebalance(now, out);
    }

    fn expire_session(&mut self, member_id: &str, now: i64, out: &mut Vec<Effect>) {
        let Some(m) = self.members.get_mut(member_id) else {
            return;
        };
        if self.state == GroupState::Dead || m.has_satisfied_heartbeat() {
            // A parked request keeps the member; its session restarts when answered.
            m.heartbeat_deadline = None;
            return;
        }
        self.remove_member(member_id, out);
        match self.state {
            GroupState::Stable | GroupState::CompletingRebalance => {
                self.maybe_prepare_rebalance_or_complete_join(now, out)
            }
            GroupState::PreparingRebalance if self.has_all_members_joined() => {
                self.complete_join(now, out)
            }
            _ => {}
        }
    }
}
