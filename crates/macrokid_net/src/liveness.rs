//! Which system instances are alive, where each shard goes, and what to do when an
//! instance dies or freezes.
//!
//! Seed 003 ("Error Handling & Resilience") leaves failover to NATS queue groups; that
//! does not work for a frozen process: measured here, a SIGSTOPped queue-group member kept
//! being handed messages for about 11 s. So the coordinator decides itself, from two
//! signals, with no clock of its own (every call takes `now`, so tests drive time):
//!
//! - **heartbeats**: an instance silent for longer than
//!   [`LivenessConfig::heartbeat_timeout`] is dead ([`InstanceTracker::sweep`]);
//! - **per-tick deadlines**: an instance that misses the deadline of
//!   [`LivenessConfig::missed_deadlines`] consecutive ticks is dead
//!   ([`InstanceTracker::deadline`]).
//!
//! The shards a dead instance had not delivered are re-routed in the same tick to the live
//! instances of its system, so no tick is lost; its results that still arrive are
//! [`ResultOutcome::Late`], dropped and counted. With the default `missed_deadlines = 1`
//! a frozen instance is re-routed at the first deadline it misses (well within the
//! 3 ticks the brief asks for). A dead instance comes back only by registering again
//! ([`InstanceTracker::register`]); its heartbeats meanwhile answer
//! [`HeartbeatOutcome::NotRegistered`], and a system process re-registers when it sees
//! ticks go by without being scheduled.
//!
//! Shard placement is a pure function of the live set: shard `i` of a system goes to
//! `live[i % live.len()]`, the live instances sorted by id ([`InstanceTracker::assign`]);
//! systems are stateless between ticks (seed 003, "System Process"), so moving a shard
//! costs nothing.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use crate::protocol::{AccessDescriptor, Heartbeat, InstanceId, SystemName, SystemRegister};

/// The thresholds of the liveness decisions.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub struct LivenessConfig {
    /// An instance with no heartbeat for longer than this is dead.
    pub heartbeat_timeout: Duration,
    /// An instance that misses this many consecutive tick deadlines is dead (≥ 1).
    pub missed_deadlines: u32,
}

impl Default for LivenessConfig {
    /// 1 s without heartbeat (heartbeats every 100–250 ms), one missed deadline.
    fn default() -> Self {
        Self {
            heartbeat_timeout: Duration::from_secs(1),
            missed_deadlines: 1,
        }
    }
}

impl LivenessConfig {
    /// Sets [`LivenessConfig::heartbeat_timeout`].
    #[must_use]
    pub fn heartbeat_timeout(mut self, timeout: Duration) -> Self {
        self.heartbeat_timeout = timeout;
        self
    }

    /// Sets [`LivenessConfig::missed_deadlines`] (0 is taken as 1).
    #[must_use]
    pub fn missed_deadlines(mut self, n: u32) -> Self {
        self.missed_deadlines = n.max(1);
        self
    }
}

/// Why an instance was declared dead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum DeathReason {
    /// No heartbeat within the timeout.
    Silent,
    /// Missed consecutive tick deadlines.
    MissedDeadlines,
}

/// One instance as the tracker sees it.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct InstanceStatus {
    /// The instance.
    pub instance_id: InstanceId,
    /// Its system.
    pub system: SystemName,
    /// `None` while live, else why it died.
    pub dead: Option<DeathReason>,
    /// Its last reported load, 0 to 1.
    pub load: f32,
    /// Consecutive missed deadlines.
    pub strikes: u32,
}

#[derive(Debug)]
struct Instance {
    status: InstanceStatus,
    last_heartbeat: Instant,
    last_sequence: Option<u64>,
}

/// What [`InstanceTracker::register`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RegisterOutcome {
    /// A new instance.
    New,
    /// A live instance registered again; nothing changes.
    Refreshed,
    /// A dead instance came back and is live again.
    Rejoined,
}

/// What [`InstanceTracker::heartbeat`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeartbeatOutcome {
    /// Recorded.
    Accepted,
    /// From an unknown or dead instance: it must register (again) first.
    NotRegistered,
}

/// What [`InstanceTracker::result`] did with one shard's result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResultOutcome {
    /// Expected from this instance: merge it.
    Accepted,
    /// For a finished tick, or from an instance the shard was taken from: drop it.
    Late,
    /// This shard of this tick was already delivered: drop it.
    Duplicate,
    /// A shard or system the tick did not schedule: drop it.
    Unexpected,
}

/// A shard moved from a dead instance to a live one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reroute {
    /// The system.
    pub system: SystemName,
    /// The shard.
    pub shard: u32,
    /// The dead instance.
    pub from: InstanceId,
    /// The live instance now responsible; the coordinator sends it the shard.
    pub to: InstanceId,
}

/// What a tick's deadline decided ([`InstanceTracker::deadline`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeadlineOutcome {
    /// Instances declared dead at this deadline.
    pub newly_dead: Vec<InstanceId>,
    /// Undelivered shards moved to live instances: send them and wait again.
    pub reroutes: Vec<Reroute>,
    /// Undelivered shards of systems with no live instance left: skipped this tick
    /// (seed 003: "skips that system for the tick and logs a warning").
    pub skipped: Vec<(SystemName, u32)>,
    /// Whether every shard is now delivered or skipped; the tick is then finished.
    pub finished: bool,
}

#[derive(Debug, Default)]
struct OpenTick {
    /// (system, shard) → the instance it is expected from.
    expected: BTreeMap<(SystemName, u32), InstanceId>,
    delivered: BTreeSet<(SystemName, u32)>,
    /// Whether [`InstanceTracker::deadline`] ran for this tick.
    deadline_passed: bool,
}

/// Counters of the tracker's decisions.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct LivenessCounters {
    /// Results dropped as [`ResultOutcome::Late`].
    pub late_results: u64,
    /// Results dropped as duplicate or unexpected.
    pub rejected_results: u64,
    /// Shards re-routed.
    pub reroutes: u64,
    /// Shards skipped for lack of a live instance.
    pub skipped_shards: u64,
    /// Instances declared dead.
    pub deaths: u64,
    /// Dead instances that registered again.
    pub rejoins: u64,
    /// Heartbeats from unknown or dead instances.
    pub unregistered_heartbeats: u64,
}

/// Tracks system instances and the shards of the ticks in flight. Pure logic: no I/O, no
/// clock; the coordinator feeds it messages and times.
#[derive(Debug)]
pub struct InstanceTracker {
    config: LivenessConfig,
    instances: BTreeMap<InstanceId, Instance>,
    access: BTreeMap<SystemName, AccessDescriptor>,
    open: BTreeMap<u64, OpenTick>,
    /// The highest tick opened; a tick at or below it that is not open is finished.
    highest_opened: Option<u64>,
    counters: LivenessCounters,
}

impl InstanceTracker {
    /// An empty tracker.
    pub fn new(config: LivenessConfig) -> Self {
        Self {
            config,
            instances: BTreeMap::new(),
            access: BTreeMap::new(),
            open: BTreeMap::new(),
            highest_opened: None,
            counters: LivenessCounters::default(),
        }
    }

    /// The counters so far.
    pub fn counters(&self) -> LivenessCounters {
        self.counters
    }

    /// Records a registration at `now`; it also counts as a heartbeat. The access
    /// descriptor of the latest registration of a system wins.
    pub fn register(&mut self, reg: &SystemRegister, now: Instant) -> RegisterOutcome {
        self.access.insert(reg.system.clone(), reg.access.clone());
        match self.instances.get_mut(&reg.instance_id) {
            Some(i) => {
                i.last_heartbeat = now;
                i.status.system = reg.system.clone();
                i.status.strikes = 0;
                if i.status.dead.take().is_some() {
                    self.counters.rejoins += 1;
                    tracing::info!(instance = %reg.instance_id, system = %reg.system, "instance rejoined");
                    RegisterOutcome::Rejoined
                } else {
                    RegisterOutcome::Refreshed
                }
            }
            None => {
                self.instances.insert(
                    reg.instance_id,
                    Instance {
                        status: InstanceStatus {
                            instance_id: reg.instance_id,
                            system: reg.system.clone(),
                            dead: None,
                            load: 0.0,
                            strikes: 0,
                        },
                        last_heartbeat: now,
                        last_sequence: None,
                    },
                );
                RegisterOutcome::New
            }
        }
    }

    /// Records a heartbeat at `now`. A heartbeat older than one already seen (lower
    /// sequence, reordered) only refreshes nothing.
    pub fn heartbeat(&mut self, hb: &Heartbeat, now: Instant) -> HeartbeatOutcome {
        match self.instances.get_mut(&hb.instance_id) {
            Some(i) if i.status.dead.is_none() && i.status.system == hb.system => {
                if i.last_sequence.is_none_or(|s| hb.sequence > s) {
                    i.last_sequence = Some(hb.sequence);
                    i.last_heartbeat = now;
                    i.status.load = hb.load.clamp(0.0, 1.0);
                }
                HeartbeatOutcome::Accepted
            }
            _ => {
                self.counters.unregistered_heartbeats += 1;
                HeartbeatOutcome::NotRegistered
            }
        }
    }

    /// Declares dead every live instance silent for longer than the heartbeat timeout at
    /// `now`; returns them. Their shards move at the next [`InstanceTracker::assign`] or
    /// [`InstanceTracker::deadline`].
    pub fn sweep(&mut self, now: Instant) -> Vec<InstanceId> {
        let timeout = self.config.heartbeat_timeout;
        let silent: Vec<InstanceId> = self
            .instances
            .values()
            .filter(|i| {
                i.status.dead.is_none() && now.saturating_duration_since(i.last_heartbeat) > timeout
            })
            .map(|i| i.status.instance_id)
            .collect();
        for &id in &silent {
            self.kill(id, DeathReason::Silent);
        }
        silent
    }

    fn kill(&mut self, id: InstanceId, reason: DeathReason) {
        if let Some(i) = self.instances.get_mut(&id) {
            if i.status.dead.is_none() {
                tracing::warn!(instance = %id, system = %i.status.system, ?reason, "instance declared dead");
                i.status.dead = Some(reason);
                self.counters.deaths += 1;
            }
        }
    }

    /// Every instance, by id.
    pub fn instances(&self) -> impl Iterator<Item = &InstanceStatus> {
        self.instances.values().map(|i| &i.status)
    }

    /// The status of `id`.
    pub fn status(&self, id: InstanceId) -> Option<&InstanceStatus> {
        self.instances.get(&id).map(|i| &i.status)
    }

    /// The registered access of `system`.
    pub fn access(&self, system: &SystemName) -> Option<&AccessDescriptor> {
        self.access.get(system)
    }

    /// The systems that ever registered, sorted.
    pub fn systems(&self) -> impl Iterator<Item = &SystemName> {
        self.access.keys()
    }

    /// The live instances of `system`, sorted by id.
    pub fn live(&self, system: &SystemName) -> Vec<InstanceId> {
        self.instances
            .values()
            .filter(|i| i.status.dead.is_none() && &i.status.system == system)
            .map(|i| i.status.instance_id)
            .collect()
    }

    /// The instance for each of `shards` shards of `system`: shard `i` →
    /// `live[i % live.len()]`. Empty when no instance is live (skip the system this tick,
    /// with a warning).
    pub fn assign(&self, system: &SystemName, shards: u32) -> Vec<InstanceId> {
        let live = self.live(system);
        if live.is_empty() {
            if shards > 0 {
                tracing::warn!(%system, "no live instance; the system is skipped this tick");
            }
            return Vec::new();
        }
        (0..shards as usize).map(|i| live[i % live.len()]).collect()
    }

    /// Starts tracking `tick`: each (shard, instance) of `system` is expected. Call once per
    /// system per tick, before sending.
    pub fn open_tick(&mut self, tick: u64, system: &SystemName, assignment: &[InstanceId]) {
        self.highest_opened = Some(self.highest_opened.map_or(tick, |h| h.max(tick)));
        let open = self.open.entry(tick).or_default();
        for (shard, &instance) in assignment.iter().enumerate() {
            open.expected
                .insert((system.clone(), shard as u32), instance);
        }
    }

    /// Whether `tick` is finished (every shard delivered or skipped).
    pub fn is_finished(&self, tick: u64) -> bool {
        self.highest_opened.is_some_and(|h| tick <= h) && !self.open.contains_key(&tick)
    }

    /// Records that `instance` delivered `shard` of `system` for `tick`.
    pub fn result(
        &mut self,
        tick: u64,
        system: &SystemName,
        shard: u32,
        instance: InstanceId,
    ) -> ResultOutcome {
        let Some(open) = self.open.get_mut(&tick) else {
            let outcome = if self.is_finished(tick) {
                self.counters.late_results += 1;
                ResultOutcome::Late
            } else {
                self.counters.rejected_results += 1;
                ResultOutcome::Unexpected
            };
            return outcome;
        };
        let key = (system.clone(), shard);
        let outcome = match open.expected.get(&key) {
            None => ResultOutcome::Unexpected,
            Some(_) if open.delivered.contains(&key) => ResultOutcome::Duplicate,
            Some(&owner) if owner != instance => ResultOutcome::Late,
            Some(_) => {
                open.delivered.insert(key);
                ResultOutcome::Accepted
            }
        };
        match outcome {
            ResultOutcome::Late => self.counters.late_results += 1,
            ResultOutcome::Duplicate | ResultOutcome::Unexpected => {
                self.counters.rejected_results += 1;
            }
            ResultOutcome::Accepted => {
                // Only a result in time clears the strikes: a consistently slow instance
                // still reaches the limit.
                if !open.deadline_passed {
                    if let Some(i) = self.instances.get_mut(&instance) {
                        i.status.strikes = 0;
                    }
                }
                if open.delivered.len() == open.expected.len() {
                    self.finish(tick);
                }
            }
        }
        outcome
    }

    /// The shards of `system` in `tick` that `instance` currently owes (expected from it
    /// and not yet delivered), ascending; empty once the tick is finished.
    pub fn owned(&self, tick: u64, system: &SystemName, instance: InstanceId) -> Vec<u32> {
        self.open.get(&tick).map_or_else(Vec::new, |o| {
            o.expected
                .iter()
                .filter(|((s, shard), &i)| {
                    s == system && i == instance && !o.delivered.contains(&(s.clone(), *shard))
                })
                .map(|((_, shard), _)| *shard)
                .collect()
        })
    }

    /// Whether every shard of `tick` is in (also true once finished).
    pub fn all_delivered(&self, tick: u64) -> bool {
        self.open
            .get(&tick)
            .is_none_or(|o| o.delivered.len() == o.expected.len())
    }

    /// The shards of `tick` not yet delivered, with the instance each is expected from,
    /// by system and shard (empty once finished).
    pub fn undelivered(&self, tick: u64) -> Vec<(SystemName, u32, InstanceId)> {
        self.open.get(&tick).map_or_else(Vec::new, |o| {
            o.expected
                .iter()
                .filter(|(key, _)| !o.delivered.contains(*key))
                .map(|((system, shard), &instance)| (system.clone(), *shard, instance))
                .collect()
        })
    }

    /// Moves the undelivered shards of `tick` to the new tick id `to`, each still expected
    /// from the same instance, and finishes `tick` (its results that still come are
    /// [`ResultOutcome::Late`]). For sending a tick's remaining shards again under an id
    /// the receivers have not seen, after messages were lost. Returns the moved shards, by
    /// system and shard; empty (and nothing opened) when `tick` was finished.
    pub fn reissue(&mut self, tick: u64, to: u64) -> Vec<(SystemName, u32, InstanceId)> {
        let moved = self.undelivered(tick);
        if self.open.remove(&tick).is_none() || moved.is_empty() {
            return moved;
        }
        self.highest_opened = Some(self.highest_opened.map_or(to, |h| h.max(to)));
        let open = self.open.entry(to).or_default();
        for (system, shard, instance) in &moved {
            open.expected.insert((system.clone(), *shard), *instance);
        }
        moved
    }

    /// When `id` was last heard from (registration or heartbeat); `None` if unknown.
    pub fn last_heard(&self, id: InstanceId) -> Option<Instant> {
        self.instances.get(&id).map(|i| i.last_heartbeat)
    }

    fn finish(&mut self, tick: u64) {
        self.open.remove(&tick);
    }

    /// The deadline of `tick` passed at `now`: instances with undelivered shards get a
    /// strike (dead at [`LivenessConfig::missed_deadlines`]); silent instances are swept;
    /// undelivered shards of dead instances move to live ones of the same system or are
    /// skipped. Undelivered shards of instances still live stay where they are; call
    /// again at the next deadline.
    pub fn deadline(&mut self, tick: u64, now: Instant) -> DeadlineOutcome {
        let mut outcome = DeadlineOutcome::default();
        let Some(open) = self.open.get_mut(&tick) else {
            outcome.finished = true;
            return outcome;
        };
        open.deadline_passed = true;
        let missing: Vec<((SystemName, u32), InstanceId)> = open
            .expected
            .iter()
            .filter(|(k, _)| !open.delivered.contains(*k))
            .map(|(k, &v)| (k.clone(), v))
            .collect();
        let laggards: BTreeSet<InstanceId> = missing.iter().map(|(_, i)| *i).collect();
        let limit = self.config.missed_deadlines;
        for id in &laggards {
            let strikes = self.instances.get_mut(id).map(|i| {
                i.status.strikes += 1;
                i.status.strikes
            });
            if strikes.is_some_and(|s| s >= limit) {
                if self.status(*id).is_some_and(|s| s.dead.is_none()) {
                    outcome.newly_dead.push(*id);
                }
                self.kill(*id, DeathReason::MissedDeadlines);
            }
        }
        outcome.newly_dead.extend(self.sweep(now));
        // Spread each system's orphaned shards over its live instances in turn.
        let mut next: BTreeMap<SystemName, usize> = BTreeMap::new();
        let mut skipped = Vec::new();
        let mut moves = Vec::new();
        for ((system, shard), owner) in missing {
            if self.status(owner).is_some_and(|s| s.dead.is_none()) {
                continue;
            }
            let live = self.live(&system);
            if live.is_empty() {
                skipped.push((system, shard));
                continue;
            }
            let turn = next.entry(system.clone()).or_insert(0);
            let to = live[*turn % live.len()];
            *turn += 1;
            moves.push(Reroute {
                system,
                shard,
                from: owner,
                to,
            });
        }
        let open = self.open.get_mut(&tick).expect("checked above");
        for r in &moves {
            open.expected.insert((r.system.clone(), r.shard), r.to);
        }
        for key in &skipped {
            tracing::warn!(system = %key.0, shard = key.1, tick, "no live instance; shard skipped");
            open.expected.remove(key);
        }
        self.counters.reroutes += moves.len() as u64;
        self.counters.skipped_shards += skipped.len() as u64;
        outcome.reroutes = moves;
        outcome.skipped = skipped;
        if self.all_delivered(tick) {
            self.finish(tick);
        }
        outcome.finished = self.is_finished(tick);
        outcome
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sys(name: &str) -> SystemName {
        SystemName::new(name).expect("valid")
    }

    fn reg(system: &str, id: u64) -> SystemRegister {
        SystemRegister {
            system: sys(system),
            access: AccessDescriptor::default(),
            instance_id: InstanceId(id),
        }
    }

    fn hb(system: &str, id: u64, sequence: u64) -> Heartbeat {
        Heartbeat {
            instance_id: InstanceId(id),
            system: sys(system),
            sequence,
            load: 0.5,
        }
    }

    #[test]
    fn a_reissued_tick_expects_its_undelivered_shards_under_the_new_id() {
        let now = Instant::now();
        let mut t = InstanceTracker::new(LivenessConfig::default());
        t.register(&reg("movement", 1), now);
        t.register(&reg("movement", 2), now);
        let m = sys("movement");
        let plan = t.assign(&m, 3);
        t.open_tick(5, &m, &plan);
        assert_eq!(t.result(5, &m, 0, plan[0]), ResultOutcome::Accepted);
        assert_eq!(
            t.undelivered(5),
            vec![(m.clone(), 1, plan[1]), (m.clone(), 2, plan[2])]
        );
        assert_eq!(t.last_heard(InstanceId(1)), Some(now));
        assert_eq!(t.last_heard(InstanceId(9)), None);

        let moved = t.reissue(5, 9);
        assert_eq!(
            moved,
            vec![(m.clone(), 1, plan[1]), (m.clone(), 2, plan[2])]
        );
        assert!(t.is_finished(5));
        assert_eq!(t.result(5, &m, 1, plan[1]), ResultOutcome::Late);
        assert!(!t.all_delivered(9));
        assert_eq!(
            t.result(9, &m, 0, plan[0]),
            ResultOutcome::Unexpected,
            "shard 0 was delivered before"
        );
        assert_eq!(t.result(9, &m, 1, plan[1]), ResultOutcome::Accepted);
        assert_eq!(t.result(9, &m, 2, plan[2]), ResultOutcome::Accepted);
        assert!(t.is_finished(9));
        assert_eq!(t.counters().deaths, 0);
        // Nothing left to move: nothing opened.
        assert!(t.reissue(9, 10).is_empty());
        assert!(t.all_delivered(10));
    }

    /// Runs one tick of `system` with `shards` shards in which only `responders` deliver.
    fn tick(
        t: &mut InstanceTracker,
        tick: u64,
        shards: u32,
        responders: &[u64],
        now: Instant,
    ) -> DeadlineOutcome {
        let m = sys("movement");
        let plan = t.assign(&m, shards);
        t.open_tick(tick, &m, &plan);
        for (shard, id) in plan.iter().enumerate() {
            if responders.contains(&id.0) {
                assert_eq!(
                    t.result(tick, &m, shard as u32, *id),
                    ResultOutcome::Accepted
                );
            }
        }
        t.deadline(tick, now)
    }

    #[test]
    fn shards_spread_over_live_instances_in_id_order() {
        let now = Instant::now();
        let mut t = InstanceTracker::new(LivenessConfig::default());
        assert_eq!(t.register(&reg("movement", 2), now), RegisterOutcome::New);
        assert_eq!(t.register(&reg("movement", 1), now), RegisterOutcome::New);
        assert_eq!(
            t.register(&reg("movement", 1), now),
            RegisterOutcome::Refreshed
        );
        t.register(&reg("spin", 3), now);
        let ids: Vec<u64> = t.assign(&sys("movement"), 5).iter().map(|i| i.0).collect();
        assert_eq!(ids, [1, 2, 1, 2, 1]);
        assert!(t.assign(&sys("nobody"), 3).is_empty());
    }

    #[test]
    fn a_frozen_instance_is_rerouted_at_its_first_missed_deadline_and_no_tick_is_lost() {
        let t0 = Instant::now();
        let mut t = InstanceTracker::new(LivenessConfig::default());
        t.register(&reg("movement", 1), t0);
        t.register(&reg("movement", 2), t0);
        let m = sys("movement");
        let out = tick(&mut t, 0, 4, &[1, 2], t0);
        assert!(out.finished && out.reroutes.is_empty());
        // Tick 1: instance 2 freezes.
        let out = tick(&mut t, 1, 4, &[1], t0);
        assert_eq!(out.newly_dead, [InstanceId(2)]);
        assert!(!out.finished, "the moved shards are still to come");
        let moved: Vec<(u32, u64)> = out.reroutes.iter().map(|r| (r.shard, r.to.0)).collect();
        assert_eq!(moved, [(1, 1), (3, 1)]);
        for r in &out.reroutes {
            assert_eq!(t.result(1, &m, r.shard, r.to), ResultOutcome::Accepted);
        }
        assert!(t.is_finished(1));
        // The frozen instance wakes up and delivers: late, counted.
        assert_eq!(t.result(1, &m, 1, InstanceId(2)), ResultOutcome::Late);
        // Tick 2 plans without it.
        assert_eq!(t.assign(&m, 4), vec![InstanceId(1); 4]);
        // Its heartbeats are refused until it registers again.
        assert_eq!(
            t.heartbeat(&hb("movement", 2, 9), t0),
            HeartbeatOutcome::NotRegistered
        );
        assert_eq!(
            t.register(&reg("movement", 2), t0),
            RegisterOutcome::Rejoined
        );
        let ids: Vec<u64> = t.assign(&m, 2).iter().map(|i| i.0).collect();
        assert_eq!(ids, [1, 2]);
        let c = t.counters();
        assert_eq!(
            (c.deaths, c.reroutes, c.late_results, c.rejoins),
            (1, 2, 1, 1)
        );
    }

    #[test]
    fn with_three_allowed_misses_a_laggard_dies_at_the_third() {
        let t0 = Instant::now();
        let mut t = InstanceTracker::new(LivenessConfig::default().missed_deadlines(3));
        t.register(&reg("movement", 1), t0);
        t.register(&reg("movement", 2), t0);
        let m = sys("movement");
        for k in 0..3u64 {
            let out = tick(&mut t, k, 2, &[1], t0);
            if k < 2 {
                assert!(out.newly_dead.is_empty() && out.reroutes.is_empty());
                // The slow instance delivers after the deadline: still accepted.
                assert_eq!(t.result(k, &m, 1, InstanceId(2)), ResultOutcome::Accepted);
                assert!(t.is_finished(k));
                assert_eq!(
                    t.status(InstanceId(2)).expect("known").strikes,
                    k as u32 + 1
                );
            } else {
                assert_eq!(out.newly_dead, [InstanceId(2)]);
                assert_eq!(out.reroutes.len(), 1);
            }
        }
    }

    #[test]
    fn silence_kills_and_the_last_instance_gone_skips_the_system() {
        let t0 = Instant::now();
        let mut t = InstanceTracker::new(
            LivenessConfig::default().heartbeat_timeout(Duration::from_millis(100)),
        );
        t.register(&reg("spin", 7), t0);
        assert_eq!(
            t.heartbeat(&hb("spin", 7, 1), t0 + Duration::from_millis(80)),
            HeartbeatOutcome::Accepted
        );
        assert!(t.sweep(t0 + Duration::from_millis(150)).is_empty());
        let spin = sys("spin");
        t.open_tick(0, &spin, &t.assign(&spin, 2));
        let out = t.deadline(0, t0 + Duration::from_millis(300));
        assert_eq!(out.newly_dead, [InstanceId(7)]);
        assert_eq!(out.skipped, [(spin.clone(), 0), (spin.clone(), 1)]);
        assert!(out.finished, "a skipped system does not hold the tick");
        assert!(t.assign(&spin, 2).is_empty());
        assert_eq!(
            t.status(InstanceId(7)).expect("known").dead,
            Some(DeathReason::MissedDeadlines)
        );
    }

    #[test]
    fn duplicates_unexpected_and_reordered_heartbeats_are_harmless() {
        let t0 = Instant::now();
        let mut t = InstanceTracker::new(LivenessConfig::default());
        t.register(&reg("spin", 1), t0);
        let spin = sys("spin");
        t.open_tick(5, &spin, &[InstanceId(1), InstanceId(1)]);
        assert_eq!(
            t.result(5, &spin, 0, InstanceId(1)),
            ResultOutcome::Accepted
        );
        assert_eq!(
            t.result(5, &spin, 0, InstanceId(1)),
            ResultOutcome::Duplicate
        );
        assert_eq!(
            t.result(5, &spin, 9, InstanceId(1)),
            ResultOutcome::Unexpected
        );
        assert_eq!(
            t.result(6, &spin, 0, InstanceId(1)),
            ResultOutcome::Unexpected
        );
        assert_eq!(
            t.result(5, &spin, 1, InstanceId(1)),
            ResultOutcome::Accepted
        );
        assert!(t.is_finished(5));
        assert_eq!(t.result(5, &spin, 1, InstanceId(1)), ResultOutcome::Late);
        let later = t0 + Duration::from_millis(500);
        t.heartbeat(&hb("spin", 1, 10), later);
        // An older heartbeat arriving after a newer one does not move the clock back.
        t.heartbeat(&hb("spin", 1, 9), t0);
        assert!(t.sweep(later + Duration::from_millis(900)).is_empty());
        assert_eq!(
            t.heartbeat(&hb("movement", 1, 11), later),
            HeartbeatOutcome::NotRegistered
        );
        let c = t.counters();
        assert_eq!(
            (
                c.rejected_results,
                c.late_results,
                c.unregistered_heartbeats
            ),
            (3, 1, 1)
        );
    }
}
