//! Snapshots of the canonical world in JetStream, and resuming from them (seed 003,
//! "Persistence" and "Coordinator crash"; the brief's "Distributed mode").
//!
//! With [`CoordinatorConfig::snapshot_every`] `= Some(n)`, after every tick whose count
//! (ticks done) is a multiple of `n` the coordinator writes [`World::snapshot`] (the ECS
//! snapshot format: entity ids and allocator state, tables, registered resources) to the
//! [`SnapshotStore`] of its subject prefix, as the object [`CoordinatorConfig::world_id`]
//! with the tick count in its metadata. The store keeps only the latest.
//!
//! A new coordinator on the same server (or on a server started on the same JetStream
//! store directory) calls [`Coordinator::resume`]: the world is restored exactly
//! ([`World::restore`]: same ids, tables, values, so the same [`World::hash`]) and the
//! tick counter continues from the snapshot's. Ticks run after the last snapshot are run
//! again; system processes need no state for that (seed 003: systems are stateless).
//!
//! A snapshot due while the client is not connected (the server restarting) is not
//! attempted — a JetStream request would only stall until its timeout, about 5 s — but
//! skipped: logged, counted ([`Coordinator::snapshot_skips`]) and taken at the next
//! multiple. A failed snapshot (JetStream refusing, the connection dropping during the
//! write) does not stop the ticks either: it is logged, counted
//! ([`Coordinator::snapshot_failures`]) and retried at the next multiple.

use std::time::Instant;

use macrokid_ecs::World;

use super::{Coordinator, CoordinatorConfig, CoordinatorError, TickReport};
use crate::codec::chunk_budget;
use crate::snapshot::SnapshotStore;

impl Coordinator {
    async fn snapshot_store(&mut self) -> Result<SnapshotStore, CoordinatorError> {
        if let Some(store) = &self.snapshots {
            return Ok(store.clone());
        }
        let store = SnapshotStore::open(
            self.client.clone(),
            &self.config.subjects,
            chunk_budget(self.client.server_info().max_payload),
        )
        .await?;
        self.snapshots = Some(store.clone());
        Ok(store)
    }

    /// Writes the world's snapshot to JetStream now, as the latest of
    /// [`CoordinatorConfig::world_id`] at the current tick count; returns its size in
    /// bytes.
    ///
    /// # Errors
    /// [`CoordinatorError::WorldSnapshot`] when the world cannot be encoded (a component
    /// type is not registered), [`CoordinatorError::Snapshot`] when the store refuses.
    pub async fn save_snapshot(&mut self) -> Result<usize, CoordinatorError> {
        let bytes = self
            .world
            .snapshot()
            .map_err(|source| CoordinatorError::WorldSnapshot {
                world: self.config.world_id.clone(),
                tick: self.tick,
                source,
            })?;
        let store = self.snapshot_store().await?;
        store.put(&self.config.world_id, self.tick, &bytes).await?;
        tracing::info!(world = %self.config.world_id, tick = self.tick, bytes = bytes.len(), "snapshot stored");
        Ok(bytes.len())
    }

    /// Restores the latest snapshot of [`CoordinatorConfig::world_id`], if there is one:
    /// the world becomes the snapshot's (its registry, and resources the snapshot does not
    /// name, are kept) and the tick count continues from the snapshot's. Returns that tick
    /// count, `None` (nothing changed) when the store holds no snapshot of this world.
    ///
    /// Call it before the first tick; instances register as before.
    ///
    /// # Errors
    /// [`CoordinatorError::Snapshot`] when the store fails, [`CoordinatorError::WorldSnapshot`]
    /// when the bytes do not restore into this world (a type not registered here, a foreign
    /// format version); the world is then unchanged.
    pub async fn resume(&mut self) -> Result<Option<u64>, CoordinatorError> {
        let store = self.snapshot_store().await?;
        let Some(snapshot) = store.latest(&self.config.world_id).await? else {
            tracing::info!(world = %self.config.world_id, "no snapshot to resume from");
            return Ok(None);
        };
        self.world
            .restore(&snapshot.bytes)
            .map_err(|source| CoordinatorError::WorldSnapshot {
                world: self.config.world_id.clone(),
                tick: snapshot.tick,
                source,
            })?;
        self.tick = snapshot.tick;
        self.next_tick_at = None;
        tracing::info!(world = %self.config.world_id, tick = snapshot.tick, "resumed from snapshot");
        Ok(Some(snapshot.tick))
    }

    /// Snapshots that could not be stored (logged and retried at the next multiple).
    pub fn snapshot_failures(&self) -> u64 {
        self.snapshot_failures
    }

    /// Snapshots that were due while the client was not connected to the server, and were
    /// therefore not attempted (logged; the next multiple takes one).
    pub fn snapshot_skips(&self) -> u64 {
        self.snapshot_skips
    }

    /// The snapshot step after a tick: stores one when the tick count is a multiple of
    /// [`CoordinatorConfig::snapshot_every`], recording it in `report`; skips it while the
    /// client is not connected.
    pub(super) async fn snapshot_after_tick(&mut self, report: &mut TickReport) {
        let Some(every) = self.config.snapshot_every.filter(|&n| n > 0) else {
            return;
        };
        if self.tick % every != 0 {
            return;
        }
        let state = self.client.connection_state();
        if state != async_nats::connection::State::Connected {
            self.snapshot_skips += 1;
            report.snapshot_skipped = true;
            tracing::warn!(tick = self.tick, %state, "snapshot skipped: not connected to the server; taken at the next multiple");
            return;
        }
        let started = Instant::now();
        match self.save_snapshot().await {
            Ok(bytes) => {
                report.snapshot_bytes = Some(bytes);
                report.snapshot_duration = started.elapsed();
            }
            Err(e) => {
                self.snapshot_failures += 1;
                tracing::warn!(tick = self.tick, error = %e, "snapshot not stored; retried at the next multiple");
            }
        }
    }
}

/// A world to hand to [`Coordinator::connect`] when resuming: empty, with `registry`
/// (every type the snapshot holds must be registered) — [`Coordinator::resume`] then fills
/// it.
pub fn empty_world(registry: macrokid_ecs::SnapshotRegistry) -> World {
    let mut world = World::new();
    *world.snapshot_registry_mut() = registry;
    world
}

impl CoordinatorConfig {
    /// Sets [`CoordinatorConfig::snapshot_every`] (`Some(0)` is taken as `None`).
    #[must_use]
    pub fn snapshot_every(mut self, every: Option<u64>) -> Self {
        self.snapshot_every = every.filter(|&n| n > 0);
        self
    }

    /// Sets [`CoordinatorConfig::world_id`].
    #[must_use]
    pub fn world_id(mut self, id: impl Into<String>) -> Self {
        self.world_id = id.into();
        self
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use async_nats::connection::State;

    use super::*;
    use crate::protocol::Subjects;
    use crate::server::{NatsServer, ServerOptions};

    async fn wait_for_state(c: &Coordinator, connected: bool) {
        for _ in 0..500 {
            if (c.client.connection_state() == State::Connected) == connected {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("the client never became connected = {connected}");
    }

    /// A snapshot due while the server is down is skipped (not a failure, no JetStream
    /// request); the next one, once connected again, is stored.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_snapshot_due_while_disconnected_is_skipped_and_taken_at_the_next_multiple() {
        let mut server = NatsServer::start(ServerOptions::new()).expect("server");
        let subjects = Subjects::new("persist.skip").expect("prefix");
        let config = CoordinatorConfig::new(server.url(), subjects, Vec::new())
            .snapshot_every(Some(1))
            .world_id("skip");
        let mut c = Coordinator::connect(config, crate::demo::world(10))
            .await
            .expect("coordinator");
        let mut report = TickReport::default();
        c.snapshot_after_tick(&mut report).await;
        assert!(report.snapshot_bytes.is_some(), "{report:?}");

        tokio::task::block_in_place(|| server.stop());
        wait_for_state(&c, false).await;
        let mut report = TickReport::default();
        c.snapshot_after_tick(&mut report).await;
        assert!(report.snapshot_skipped, "{report:?}");
        assert_eq!(report.snapshot_bytes, None);
        assert_eq!((c.snapshot_skips(), c.snapshot_failures()), (1, 0));

        tokio::task::block_in_place(|| server.restart()).expect("restart");
        wait_for_state(&c, true).await;
        let mut report = TickReport::default();
        c.snapshot_after_tick(&mut report).await;
        assert!(report.snapshot_bytes.is_some(), "{report:?}");
        assert!(!report.snapshot_skipped);
        assert_eq!((c.snapshot_skips(), c.snapshot_failures()), (1, 0));
    }
}
