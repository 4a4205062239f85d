//! Running systems and schedules on a world: [`World::run_system`],
//! [`World::run_schedule`], [`World::run_stage`], and the archetype-level
//! plans they run with ([`World::schedule_plan`]).

use std::any::TypeId;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, PoisonError};

use macrokid_core::{Plan, ResourceAccess, SystemSlot};
use macrokid_threads::{RunSchedule, RunSystem, Schedule, ScheduleError, Scheduler};

use super::World;
use crate::system::{EntityFilter, Run, StageCx, StagePool, SystemResult};

/// The plan a world runs a schedule type with: the schedule's plan with
/// every component access narrowed to the tables the system can match
/// ([`World::schedule_plan`]), the tables it was computed for, and each
/// slot's entity filter.
pub(crate) struct RefinedPlan {
    /// The table count and layout epoch it was computed for.
    layout: (usize, u64),
    plan: Arc<Plan>,
    filters: Arc<[EntityFilter]>,
    /// The first wave ([`Plan::waves`]) of each set of stage positions
    /// asked for so far: waves depend on the plan only, so they are
    /// computed once per plan, not per tick.
    first_waves: Vec<(Vec<usize>, Arc<[usize]>)>,
    /// `Sch::plan().layer_positions()`: it depends on the schedule type
    /// only, so it is kept across rebuilds of the refined plan.
    layers: Arc<[Box<[usize]>]>,
}

/// What one wave of [`World::run_schedule`] runs with: the refined plan of
/// the schedule and its slots' entity filters (shared with the cache, so
/// taking them is two reference-count increments, no allocation).
struct Refined {
    plan: Arc<Plan>,
    filters: Arc<[EntityFilter]>,
}

impl World {
    /// Runs one system now, with its commands applied right after it.
    ///
    /// # Errors
    /// Whatever the system returns (its commands are then dropped).
    pub fn run_system<S: Run>(&mut self, system: &mut S) -> SystemResult {
        let buffers = [Mutex::new(std::mem::take(&mut self.spare_buffer))];
        let stored = self
            .system_ticks
            .get(&std::any::TypeId::of::<S>())
            .map_or(0, |t| 1 << 32 | u64::from(t.get()));
        let last_runs = [AtomicU64::new(stored)];
        let base = self.change_tick();
        let filters = [EntityFilter::of(&S::access())];
        let result = {
            let cx = StageCx::new(self, &filters, &buffers, &last_runs, base);
            cx.run_system(system, SystemSlot(0))
        };
        self.system_ticks
            .insert(std::any::TypeId::of::<S>(), base.after(1));
        // Commands apply after the system's tick.
        self.advance_change_tick(2);
        let [buffer] = buffers;
        let mut buffer = buffer.into_inner().unwrap_or_else(PoisonError::into_inner);
        if result.is_ok() {
            let reserved = self.flush_reserved();
            self.apply_commands(&mut buffer);
            self.release_unplaced(&reserved);
        } else {
            buffer.clear();
            self.cancel_reservations();
        }
        self.spare_buffer = buffer;
        result
    }
}

impl World {
    /// Runs every stage of `schedule` once on `scheduler`, topological
    /// layer by layer ([`Plan::layer_positions`](macrokid_core::Plan::layer_positions)).
    /// A layer is split into *waves* ([`Plan::waves`](macrokid_core::Plan::waves)):
    /// stages whose accesses do not conflict — counting each system's
    /// deferred writes (inserts, removes, despawns) as writes — run at the
    /// same time ([`Scheduler::run_layer`]); a stage that conflicts with an
    /// earlier stage of its layer runs in a later wave. After each wave, the
    /// command buffers its systems filled apply, in system-slot order (stage
    /// declaration order, then system declaration order) and then recording
    /// order. Waves depend on the plan only, never on the thread count, so
    /// the resulting world never depends on thread timing or the thread
    /// count. (A layer of one stage is one wave: commands apply after each
    /// stage, as before.)
    ///
    /// Systems see the world through a [`StageCx`] (`S: Run` for every
    /// system of the schedule). When the scheduler has a pool, the calling
    /// thread takes part in each wave beside the pool's workers (a batch of
    /// one system, or one that cost-aware dispatch finds too cheap for the
    /// pool, runs on it without waking the pool), and `par_for_each` in a
    /// system runs on the scheduler's threads wherever the system runs.
    ///
    /// A command that fails to apply (a stale entity, a missing component)
    /// is skipped, logged with `tracing::warn!` and counted in
    /// [`failed_command_count`](Self::failed_command_count); it does not fail
    /// the schedule.
    ///
    /// ```
    /// use macrokid_ecs::prelude::*;
    ///
    /// struct Position(f32);
    /// struct Velocity(f32);
    /// struct Time { dt: f32 }
    /// #[derive(Default)]
    /// struct Snapshot(Vec<f32>);
    ///
    /// #[derive(System, Default)]
    /// #[system(reads(Velocity, Time), writes(Position))]
    /// struct Integrate;
    /// impl Run for Integrate {
    ///     fn run(&mut self, cx: &mut SystemCx<'_, Self>) -> SystemResult {
    ///         let dt = cx.resource::<Time>()?.dt;
    ///         cx.query::<(&mut Position, &Velocity)>().par_for_each(|(mut p, v)| p.0 += v.0 * dt);
    ///         Ok(())
    ///     }
    /// }
    ///
    /// #[derive(System, Default)]
    /// #[system(reads(Position), writes(Snapshot))]
    /// struct Extract;
    /// impl Run for Extract {
    ///     fn run(&mut self, cx: &mut SystemCx<'_, Self>) -> SystemResult {
    ///         let mut snapshot = cx.resource_mut::<Snapshot>()?;
    ///         snapshot.0.clear();
    ///         snapshot.0.extend(cx.query::<&Position>().iter().map(|p| p.0));
    ///         Ok(())
    ///     }
    /// }
    ///
    /// #[derive(Schedule, Default)]
    /// struct Game {
    ///     #[stage]
    ///     simulate: (Integrate,),
    ///     #[stage(after = "simulate")]
    ///     extract: (Extract,),
    /// }
    ///
    /// let mut world = World::new();
    /// world.insert_resource(Time { dt: 0.5 });
    /// world.insert_resource(Snapshot::default());
    /// world.spawn_batch((0..10_000).map(|i| (Position(i as f32), Velocity(2.0))));
    /// let scheduler = Scheduler::single_threaded(); // or Scheduler::global()
    /// let mut game = Game::default();
    /// world.run_schedule(&mut game, &scheduler)?;
    /// assert_eq!(world.resource::<Snapshot>()?.0[3], 4.0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// # Errors
    /// The first failing stage's [`ScheduleError`] (a system returned an
    /// error or panicked). Later stages do not run, and the commands
    /// recorded during the failing stage are dropped, not applied, so the
    /// world holds the state after the last complete stage plus the
    /// component writes the failing stage made in place.
    pub fn run_schedule<Sch>(
        &mut self,
        schedule: &mut Sch,
        scheduler: &Scheduler,
    ) -> Result<(), ScheduleError>
    where
        Sch: for<'w> RunSchedule<StageCx<'w>>,
    {
        // Nothing here allocates once the plan of this table layout is
        // cached, except for layers of several stages (one `Vec` of the
        // stages left per such layer).
        let layers = self.schedule_layers::<Sch>();
        let mut first = true;
        for layer in layers.iter() {
            if let [_] = **layer {
                // One stage is one wave.
                let refined = self.refined::<Sch>();
                self.run_wave(schedule, scheduler, &refined, layer, first)?;
                first = false;
                continue;
            }
            let mut remaining = layer.to_vec();
            while !remaining.is_empty() {
                // Commands of the previous wave may have made tables: the
                // plan (and so the next wave) follows the tables that exist.
                let refined = self.refined::<Sch>();
                let wave = self.first_wave::<Sch>(&refined.plan, &remaining);
                remaining.retain(|p| !wave.contains(p));
                self.run_wave(schedule, scheduler, &refined, &wave, first)?;
                first = false;
            }
        }
        Ok(())
    }

    /// `Sch::plan().layer_positions()`, computed once per schedule type (and
    /// again after [`World::restore`](World::restore) clears the cache).
    fn schedule_layers<Sch: Schedule>(&mut self) -> Arc<[Box<[usize]>]> {
        if let Some(cached) = self.refined_plans.get(&TypeId::of::<Sch>()) {
            return Arc::clone(&cached.layers);
        }
        self.refined::<Sch>();
        let cached = self
            .refined_plans
            .get(&TypeId::of::<Sch>())
            .expect("`refined` cached the plan");
        Arc::clone(&cached.layers)
    }

    /// The plan this world runs schedule `Sch` with: `Sch::plan()` with
    /// every system's component accesses narrowed to the archetype tables it
    /// can match ([`ResourceAccess::restrict`]: the tables that hold the
    /// component and pass the system's `with`/`without` filter), its batches
    /// recomputed ([`Plan::refine`]). Two writers of one component whose
    /// filters select disjoint tables then share a batch (legion's
    /// archetype-level conflicts); the runtime borrow flags follow the same
    /// rule (a flag is held per table).
    ///
    /// Resources and component types no table holds yet are not narrowed.
    /// Built on first use and rebuilt only when a new table has appeared
    /// since (checked before each wave of [`run_schedule`](Self::run_schedule)),
    /// not every tick.
    pub fn schedule_plan<Sch: Schedule>(&mut self) -> Arc<Plan> {
        self.refined::<Sch>().plan
    }

    /// The refined plan of `Sch` for the tables that exist now (rebuilt
    /// first when the table layout changed since it was cached).
    fn refined<Sch: Schedule>(&mut self) -> Refined {
        // New tables and sparse registrations (or a restore) change which
        // tables a system can match.
        let layout = (self.archetype_count(), self.table_epoch().1);
        let key = TypeId::of::<Sch>();
        let layers = match self.refined_plans.get(&key) {
            Some(cached) if cached.layout == layout => {
                return Refined {
                    plan: Arc::clone(&cached.plan),
                    filters: Arc::clone(&cached.filters),
                };
            }
            Some(cached) => Arc::clone(&cached.layers),
            None => Sch::plan()
                .layer_positions()
                .into_iter()
                .map(Vec::into_boxed_slice)
                .collect(),
        };
        let base = Sch::plan();
        let mut filters = Vec::with_capacity(base.system_count());
        filters.resize_with(base.system_count(), EntityFilter::default);
        let plan = base.refine(|slot, system| {
            let filter = EntityFilter::of(&system.access);
            let refined = self.narrow_to_tables(&system.access, &filter);
            filters[slot.0] = filter;
            refined
        });
        let cached = RefinedPlan {
            layout,
            plan: Arc::new(plan),
            filters: filters.into(),
            first_waves: Vec::new(),
            layers,
        };
        let out = Refined {
            plan: Arc::clone(&cached.plan),
            filters: Arc::clone(&cached.filters),
        };
        self.refined_plans.insert(key, cached);
        out
    }

    /// The first wave of `remaining` (stage positions of one layer) in
    /// `plan`, the refined plan of `Sch` just returned by `refined`:
    /// `plan.waves(remaining)[0]`, cached with the plan.
    fn first_wave<Sch: Schedule>(&mut self, plan: &Plan, remaining: &[usize]) -> Arc<[usize]> {
        let cached = self
            .refined_plans
            .get_mut(&TypeId::of::<Sch>())
            .expect("`refined` cached the plan");
        if let Some((_, wave)) = cached.first_waves.iter().find(|(k, _)| k == remaining) {
            return Arc::clone(wave);
        }
        let wave: Arc<[usize]> = plan.waves(remaining).swap_remove(0).into();
        cached
            .first_waves
            .push((remaining.to_vec(), Arc::clone(&wave)));
        wave
    }

    /// `access` with each component read or write restricted to the tables
    /// that hold the component and pass `filter`.
    fn narrow_to_tables(&self, access: &ResourceAccess, filter: &EntityFilter) -> ResourceAccess {
        let mut refined = access.clone();
        for &id in access.reads().iter().chain(access.writes()) {
            let Some(type_id) = id.type_id() else {
                continue;
            };
            if !self.is_table_component(type_id) {
                continue;
            }
            let parts: Vec<u32> = self
                .archetypes()
                .iter()
                .enumerate()
                .filter(|(_, table)| {
                    table.has(type_id) && filter.admits_table(table, |t| self.is_sparse_type(t))
                })
                .map(|(index, _)| index as u32)
                .collect();
            refined.restrict(id, parts);
        }
        refined
    }

    /// Runs one stage of `schedule` — the one at `Sch::plan().stages()[stage]`
    /// (an index in execution order) — and then applies its systems'
    /// commands, exactly as one step of [`run_schedule`](Self::run_schedule)
    /// does (e.g. to time stages one by one).
    ///
    /// # Errors
    /// [`ScheduleError::StageIndexOutOfRange`] when `stage` is not a stage
    /// index of the plan (nothing runs); otherwise as
    /// [`run_schedule`](Self::run_schedule): on a failing stage its commands
    /// are dropped.
    pub fn run_stage<Sch>(
        &mut self,
        schedule: &mut Sch,
        scheduler: &Scheduler,
        stage: usize,
    ) -> Result<(), ScheduleError>
    where
        Sch: for<'w> RunSchedule<StageCx<'w>>,
    {
        let plan = Sch::plan();
        if stage >= plan.stages().len() {
            return Err(ScheduleError::StageIndexOutOfRange {
                index: stage,
                stages: plan.stages().len(),
            });
        }
        let refined = self.refined::<Sch>();
        self.run_wave(schedule, scheduler, &refined, &[stage], stage == 0)
    }

    /// Runs the stages at `positions` of `refined.plan` (a wave: no ordering
    /// constraint between them) together, then applies their commands in
    /// slot order. `first`: the first wave of a schedule run (ages the
    /// removal log).
    fn run_wave<Sch>(
        &mut self,
        schedule: &mut Sch,
        scheduler: &Scheduler,
        refined: &Refined,
        positions: &[usize],
        first: bool,
    ) -> Result<(), ScheduleError>
    where
        Sch: for<'w> RunSchedule<StageCx<'w>>,
    {
        let slots = refined.plan.system_count();
        let mut buffers = std::mem::take(&mut self.command_buffers);
        if buffers.len() < slots {
            buffers.resize_with(slots, Mutex::default);
        }
        if first {
            self.age_removals();
        }
        let key = TypeId::of::<Sch>();
        let last_runs = self
            .schedule_ticks
            .remove(&key)
            .filter(|t| t.len() == slots)
            .unwrap_or_else(|| (0..slots).map(|_| AtomicU64::new(0)).collect());
        let base = self.change_tick();
        let outcome = {
            let cx = StageCx::new(self, &refined.filters, &buffers, &last_runs, base);
            // The calling thread takes part in the wave (the scheduler runs
            // one-system and cheap batches on it and joins parallel ones)
            // instead of handing the wave to the pool and sleeping; the
            // systems it runs send their parallel work to the pool.
            let _pool = scheduler
                .pool()
                .filter(|pool| !pool.is_worker_thread())
                .map(StagePool::enter);
            schedule.run_stages(scheduler, &refined.plan, positions, &cx)
        };
        self.schedule_ticks.insert(key, last_runs);
        // Commands apply after every system tick of the stage.
        self.advance_change_tick(1 + u32::try_from(slots).expect("fewer than 2^32 systems"));
        // Ids reserved by `Commands::spawn` become slots before any command
        // applies (a spawn without a reservation must not take one of them),
        // or are handed out again when the commands are dropped.
        let reserved = if outcome.is_ok() {
            self.flush_reserved()
        } else {
            self.cancel_reservations();
            Vec::new()
        };
        for buffer in &mut buffers {
            let buffer = buffer.get_mut().unwrap_or_else(PoisonError::into_inner);
            if outcome.is_err() {
                buffer.clear();
            } else if !buffer.is_empty() {
                self.apply_commands(buffer);
            }
        }
        self.release_unplaced(&reserved);
        self.command_buffers = buffers;
        outcome
    }
}
