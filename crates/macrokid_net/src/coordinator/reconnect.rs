//! Surviving a server restart (seed 003, "NATS disconnect": clients reconnect, and the
//! work in flight is retried).
//!
//! When the server goes away, every client's connection drops; async-nats reconnects and
//! subscribes again ([`crate::connection`]), but the messages in flight are lost: shards,
//! results, acks, heartbeats. Seen from the coordinator this looks like every instance
//! missing its deadline at once, which the liveness rules would answer by declaring them
//! all dead and skipping the tick. So the coordinator tells the two apart by its own
//! connection:
//!
//! - a round during which its connection dropped is **retried** at the deadline instead
//!   of judged: the coordinator waits until it is connected again and the instances that
//!   owe shards have been heard from since (a heartbeat sent after their own reconnect,
//!   so their subscriptions are back), then sends the undelivered shards again to the
//!   same instances, as a new round (with the original input columns), and waits anew;
//!   no strike, no death, no tick lost;
//! - a tick that starts after a disconnect first waits the same way, before the heartbeat
//!   sweep, so instances silent only because the server was down are not declared dead.
//!
//! While the server stays away the coordinator waits (it runs no tick without one);
//! [`Coordinator::disconnects`] and [`Coordinator::retries`] count what happened.
//!
//! An instance not heard from within [`LivenessConfig::heartbeat_timeout`] after the
//! reconnect is left to the usual liveness decisions. Re-running a shard is harmless:
//! systems are stateless, a second result of a shard is dropped as a duplicate.
//!
//! [`LivenessConfig::heartbeat_timeout`]: crate::liveness::LivenessConfig::heartbeat_timeout

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use async_nats::connection::State;

use super::{nats_err, Coordinator, CoordinatorError};
use crate::protocol::{ShardAssignment, SystemName};

/// How often the wait for the connection looks at its state.
const POLL: Duration = Duration::from_millis(20);

impl Coordinator {
    /// Whether the connection dropped since the disconnect count was `epoch`, or is down.
    pub(super) fn connection_lost_since(&self, epoch: u64) -> bool {
        self.watch.disconnects() != epoch || self.client.connection_state() != State::Connected
    }

    /// Times the connection to the server was lost.
    pub fn disconnects(&self) -> u64 {
        self.watch.disconnects()
    }

    /// Rounds sent again after a lost connection, and the shards in them.
    pub fn retries(&self) -> (u64, u64) {
        (self.retried_rounds, self.retried_shards)
    }

    /// Waits until connected, then until each live instance (only those owing shards of
    /// `round`, when given) was heard from after the reconnect, at most the heartbeat
    /// timeout; handles traffic meanwhile (results of `round` are merged).
    pub(super) async fn await_reconnection(&mut self, round: Option<u64>) {
        let lost_at = Instant::now();
        while self.client.connection_state() != State::Connected {
            self.pump_until(tokio::time::Instant::now() + POLL, round)
                .await;
        }
        let back = Instant::now();
        tracing::info!(
            waited_ms = back.duration_since(lost_at).as_millis() as u64,
            "connected again; waiting for the instances"
        );
        let waiting_for: Vec<_> = match round {
            Some(r) => self
                .tracker
                .undelivered(r)
                .into_iter()
                .map(|(_, _, i)| i)
                .collect(),
            None => self
                .tracker
                .instances()
                .filter(|s| s.dead.is_none())
                .map(|s| s.instance_id)
                .collect(),
        };
        let limit = back + self.config.liveness.heartbeat_timeout;
        loop {
            let missing = waiting_for
                .iter()
                .filter(|&&i| self.tracker.last_heard(i).is_none_or(|t| t < back))
                .count();
            if missing == 0 || Instant::now() >= limit {
                if missing > 0 {
                    tracing::warn!(
                        missing,
                        "instances not heard from after the reconnect; liveness decides"
                    );
                }
                break;
            }
            self.pump_until(tokio::time::Instant::now() + POLL, round)
                .await;
        }
        self.seen_disconnects = self.watch.disconnects();
    }

    /// The connection dropped during `round`: waits for it and the instances, then sends
    /// the undelivered shards again to their owners under a new round id (a process drops
    /// chunks of a shard it already completed, so the same id would not run it again).
    /// Returns the new round; results of the old one are late from now on.
    ///
    /// # Errors
    /// [`CoordinatorError::Nats`] when publishing fails.
    pub(super) async fn retry_round(&mut self, round: u64) -> Result<u64, CoordinatorError> {
        self.await_reconnection(Some(round)).await;
        self.round += 1;
        let new_round = self.round;
        let mut by_system: BTreeMap<SystemName, Vec<ShardAssignment>> = BTreeMap::new();
        for (system, shard, instance_id) in self.tracker.reissue(round, new_round) {
            let Some(plan) = self.shard_plans.get(&(system.clone(), shard)) else {
                continue;
            };
            by_system.entry(system).or_default().push(ShardAssignment {
                shard,
                instance_id,
                rows: plan.rows.len() as u32,
                reuse_round: None,
                reused: Vec::new(),
                all_reused: false,
            });
        }
        self.pending_acks.clear();
        let mut sent = 0u32;
        for (system, shards) in by_system {
            let extras = self.round_extras.get(&system).cloned().unwrap_or_default();
            for s in &shards {
                self.pending_acks.insert((system.clone(), s.instance_id));
            }
            let schedule = extras.schedule(new_round, &system, shards.clone(), self.tick);
            self.publish_control(self.config.subjects.schedule(&system), &schedule)
                .await?;
            for s in &shards {
                let columns = self.shard_plans[&(system.clone(), s.shard)].columns.clone();
                self.send_shard(new_round, &system, s.shard, s.instance_id, &columns)
                    .await?;
                sent += 1;
            }
        }
        self.client
            .flush()
            .await
            .map_err(|e| nats_err("flush", e))?;
        self.retried_rounds += 1;
        self.retried_shards += u64::from(sent);
        tracing::warn!(
            round,
            new_round,
            shards = sent,
            "round sent again after a lost connection"
        );
        Ok(new_round)
    }
}
