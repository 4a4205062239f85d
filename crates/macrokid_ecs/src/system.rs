//! Running ECS systems: the [`Run`] trait, the [`SystemCx`] a system sees,
//! and the [`StageCx`] through which a scheduler runs systems on a world.

use std::any::TypeId;
use std::cell::RefCell;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use macrokid_core::{Plan, Reads, ResourceAccess, System, SystemSlot, Writes};
use macrokid_threads::{BoxError, RunSchedule, RunSystem, Schedule, ScheduleError, Scheduler};

use crate::change::{SystemTicks, Tick};
use crate::command::{CommandBuffer, Commands};
use crate::component::{Component, Resource};
use crate::entity::Entity;
use crate::error::EcsError;
use crate::query::{DeclaredIn, FilterDeclaredIn, QueryBorrow};
use crate::storage::{guarded_mut, guarded_ref, Archetype, Ref, RefMut};
use crate::world::World;

/// What a system returns: `Ok(())` or any error, which the scheduler wraps
/// with the system's and stage's names.
pub type SystemResult = Result<(), BoxError>;

/// A system's declared entity filter (`#[system(with(..), without(..))]`,
/// [`ResourceAccess::required`]/[`excluded`](ResourceAccess::excluded)) as
/// type ids: every query of the system, and its `get`/`get_mut`, see only
/// the tables that have every `required` type and no `excluded` one. That
/// is what lets the planner narrow the system's component accesses to those
/// tables (legion's archetype-level access).
#[derive(Clone, Debug, Default)]
pub(crate) struct EntityFilter {
    pub(crate) required: Vec<TypeId>,
    pub(crate) excluded: Vec<TypeId>,
}

impl EntityFilter {
    /// The filter declared in `access`.
    pub(crate) fn of(access: &ResourceAccess) -> Self {
        Self {
            required: access
                .required()
                .iter()
                .filter_map(|id| id.type_id())
                .collect(),
            excluded: access
                .excluded()
                .iter()
                .filter_map(|id| id.type_id())
                .collect(),
        }
    }

    /// Whether a table with these types passes.
    pub(crate) fn admits(&self, table: &Archetype) -> bool {
        self.required.iter().all(|&t| table.has(t)) && !self.excluded.iter().any(|&t| table.has(t))
    }
}

/// No filter, for systems that declare none.
static NO_FILTER: EntityFilter = EntityFilter {
    required: Vec::new(),
    excluded: Vec::new(),
};

/// The plan a world runs a schedule type with: the schedule's plan with
/// every component access narrowed to the tables the system can match
/// ([`World::schedule_plan`]), the tables it was computed for, and each
/// slot's entity filter.
pub(crate) struct RefinedPlan {
    tables: usize,
    plan: Arc<Plan>,
    filters: Arc<[EntityFilter]>,
}

/// An ECS system: a [`System`] (name and declared access, usually from
/// `#[derive(System)]`) that runs on a world through a [`SystemCx`].
///
/// ```
/// use macrokid_ecs::prelude::*;
///
/// struct Position(f32);
/// struct Velocity(f32);
/// struct Time { dt: f32 }
///
/// #[derive(System)]
/// #[system(reads(Velocity, Time), writes(Position))]
/// struct Integrate;
///
/// impl Run for Integrate {
///     fn run(&mut self, cx: &mut SystemCx<'_, Self>) -> SystemResult {
///         let dt = cx.resource::<Time>()?.dt;
///         cx.query::<(&mut Position, &Velocity)>()
///             .par_for_each(|(mut p, v)| p.0 += v.0 * dt);
///         Ok(())
///     }
/// }
///
/// let mut world = World::new();
/// world.insert_resource(Time { dt: 0.5 });
/// let e = world.spawn((Position(1.0), Velocity(2.0)));
/// world.run_system(&mut Integrate).unwrap();
/// assert_eq!(world.get::<Position>(e).unwrap().0, 2.0);
/// ```
///
/// A query of data the system did not declare does not compile:
///
/// ```compile_fail
/// use macrokid_ecs::prelude::*;
/// struct Position(f32);
/// struct Velocity(f32);
///
/// #[derive(System)]
/// #[system(reads(Position, Velocity))]
/// struct ReadsOnly;
///
/// impl Run for ReadsOnly {
///     fn run(&mut self, cx: &mut SystemCx<'_, Self>) -> SystemResult {
///         // `Position` is declared as a read only: `&mut Position` is refused.
///         for (mut p, v) in cx.query::<(&mut Position, &Velocity)>().iter() {
///             p.0 += v.0;
///         }
///         Ok(())
///     }
/// }
/// ```
///
/// Nor does a resource the system did not declare:
///
/// ```compile_fail
/// use macrokid_ecs::prelude::*;
/// struct Time { dt: f32 }
/// #[derive(System)]
/// struct Blind;
/// impl Run for Blind {
///     fn run(&mut self, cx: &mut SystemCx<'_, Self>) -> SystemResult {
///         let _dt = cx.resource::<Time>()?.dt;
///         Ok(())
///     }
/// }
/// ```
pub trait Run: System {
    /// Runs the system once.
    ///
    /// # Errors
    /// Whatever the system reports.
    fn run(&mut self, cx: &mut SystemCx<'_, Self>) -> SystemResult;
}

/// What system `S` can reach of the world while it runs: queries and
/// resources it declared (checked at compile time through
/// [`Reads`]/[`Writes`], and at run time by borrow flags), and its own
/// command buffer.
///
/// Borrows are guards: a [`QueryBorrow`], [`Ref`] or [`RefMut`] holds the
/// flag of its type until it drops. Two systems running at once that touch
/// one type with a write (a wrong declaration), or one system holding two
/// overlapping borrows, panic with a message naming the type and both
/// borrowers.
///
/// Not `Sync`: commands are recorded from the system's own thread only.
pub struct SystemCx<'w, S: ?Sized> {
    world: &'w World,
    filter: &'w EntityFilter,
    name: &'static str,
    ticks: SystemTicks,
    commands: RefCell<CommandBuffer>,
    _system: PhantomData<fn(&S)>,
}

impl<'w, S: ?Sized> SystemCx<'w, S> {
    fn new(
        world: &'w World,
        filter: &'w EntityFilter,
        name: &'static str,
        ticks: SystemTicks,
        commands: CommandBuffer,
    ) -> Self {
        Self {
            world,
            filter,
            name,
            ticks,
            commands: RefCell::new(commands),
            _system: PhantomData,
        }
    }

    /// This run's change ticks: `Added`/`Changed` filters and
    /// [`removed`](Self::removed) report what happened after `last_run`;
    /// writes are stamped `this_run`.
    pub fn ticks(&self) -> SystemTicks {
        self.ticks
    }

    /// The entities that lost their `T` (a remove or despawn applied)
    /// after this system's previous run, in the order it happened (an
    /// entity may appear more than once). Removals are kept for one
    /// schedule run.
    pub fn removed<T: Component>(&self) -> impl Iterator<Item = Entity> + '_
    where
        S: Reads<T>,
    {
        self.world.removed_since::<T>(self.ticks)
    }

    /// The world, for crate-internal query paths.
    pub(crate) fn world(&self) -> &'w World {
        self.world
    }

    /// The system's declared entity filter.
    pub(crate) fn filter(&self) -> &'w EntityFilter {
        self.filter
    }

    /// The running system's name.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// Queries the entities with the components of `Q`; every component of
    /// `Q` must be declared by `S` (`&T`: read, `&mut T`: write).
    ///
    /// # Panics
    /// When `Q` names one component twice with a write, or when a borrow of
    /// one of its types conflicts with one held right now.
    pub fn query<Q: DeclaredIn<S>>(&self) -> QueryBorrow<'_, Q> {
        QueryBorrow::new(
            self.world
                .query_state_within::<Q, ()>(self.ticks, self.name, self.filter),
            self.world.entities(),
        )
    }

    /// Like [`query`](Self::query), restricted by filter `F`.
    ///
    /// # Panics
    /// As [`query`](Self::query).
    /// `Added<T>`/`Changed<T>` filters need `S: Reads<T>` and report rows
    /// added/changed after this system's previous run.
    pub fn query_filtered<Q: DeclaredIn<S>, F: FilterDeclaredIn<S>>(
        &self,
    ) -> QueryBorrow<'_, Q, F> {
        QueryBorrow::new(
            self.world
                .query_state_within::<Q, F>(self.ticks, self.name, self.filter),
            self.world.entities(),
        )
    }

    /// The resource `T`, shared.
    ///
    /// # Errors
    /// [`EcsError::MissingResource`] when the world has no `T`.
    ///
    /// # Panics
    /// When `T` is written right now (by a system with a wrong declaration
    /// or by this system).
    pub fn resource<T: Resource>(&self) -> Result<Ref<'_, T>, EcsError>
    where
        S: Reads<T>,
    {
        Ok(self.world.resource_slot::<T>()?.borrow::<T>(self.name))
    }

    /// The resource `T`, exclusive.
    ///
    /// # Errors
    /// [`EcsError::MissingResource`] when the world has no `T`.
    ///
    /// # Panics
    /// When `T` is read or written right now.
    pub fn resource_mut<T: Resource>(&self) -> Result<RefMut<'_, T>, EcsError>
    where
        S: Writes<T>,
    {
        Ok(self.world.resource_slot::<T>()?.borrow_mut::<T>(self.name))
    }

    /// The `T` of one entity, shared.
    ///
    /// # Errors
    /// [`EcsError::StaleEntity`], [`EcsError::MissingComponent`];
    /// [`EcsError::QueryMismatch`] when the entity fails the system's
    /// `with`/`without` filter.
    ///
    /// # Panics
    /// When `T` is written right now.
    pub fn get<T: Component>(&self, entity: Entity) -> Result<Ref<'_, T>, EcsError>
    where
        S: Reads<T>,
    {
        let (table, id, row) = self.locate_within(entity)?;
        guarded_ref::<T>(self.world.components(), table, id, row, self.name).ok_or(
            EcsError::MissingComponent {
                entity,
                component: std::any::type_name::<T>(),
            },
        )
    }

    /// The `T` of one entity, exclusive.
    ///
    /// # Errors
    /// [`EcsError::StaleEntity`], [`EcsError::MissingComponent`];
    /// [`EcsError::QueryMismatch`] when the entity fails the system's
    /// `with`/`without` filter.
    ///
    /// # Panics
    /// When `T` is read or written right now.
    pub fn get_mut<T: Component>(&self, entity: Entity) -> Result<RefMut<'_, T>, EcsError>
    where
        S: Writes<T>,
    {
        let (table, id, row) = self.locate_within(entity)?;
        guarded_mut::<T>(
            self.world.components(),
            table,
            id,
            row,
            self.ticks,
            self.name,
        )
        .ok_or(EcsError::MissingComponent {
            entity,
            component: std::any::type_name::<T>(),
        })
    }

    /// The table, table id and row of `entity`, which must pass the
    /// system's entity filter.
    fn locate_within(&self, entity: Entity) -> Result<(&'w Archetype, u32, usize), EcsError> {
        let (table, id, row) = self.world.locate(entity)?;
        if !self.filter.admits(table) {
            return Err(EcsError::QueryMismatch {
                entity,
                query: "the entity filter (`with`/`without`) of the running system",
            });
        }
        Ok((table, id, row))
    }

    /// Whether `entity` is alive (as of the start of the stage: commands
    /// apply after it).
    pub fn contains(&self, entity: Entity) -> bool {
        self.world.contains(entity)
    }

    /// This system's command buffer, typed by `S`: it records the
    /// structural changes `S` declared (see [`Commands`] for which and when
    /// they apply).
    pub fn commands(&self) -> Commands<'_, S> {
        Commands::new(&self.commands, self.world.entities())
    }

    fn into_commands(self) -> CommandBuffer {
        self.commands.into_inner()
    }
}

/// The context a scheduler runs ECS systems in during one stage: a shared
/// view of a world that is exclusively borrowed for the stage, plus one
/// command buffer per system slot.
///
/// Made by [`World::run_schedule`] and [`World::run_system`]; a derived
/// schedule runs its systems through `RunSystem<S> for StageCx` for every
/// `S: Run`.
pub struct StageCx<'w> {
    world: &'w World,
    /// Per slot: the system's entity filter (empty: none declared).
    filters: &'w [EntityFilter],
    buffers: &'w [Mutex<CommandBuffer>],
    /// Per slot: the tick of its last run (0: never; else `1 << 32 | tick`).
    last_runs: &'w [AtomicU64],
    /// The world tick when the stage started; slot `s` runs at `base + 1 + s`.
    base: Tick,
}

impl<'w> StageCx<'w> {
    /// `world` is borrowed exclusively by the caller for `'w` (I2).
    pub(crate) fn new(
        world: &'w World,
        filters: &'w [EntityFilter],
        buffers: &'w [Mutex<CommandBuffer>],
        last_runs: &'w [AtomicU64],
        base: Tick,
    ) -> Self {
        Self {
            world,
            filters,
            buffers,
            last_runs,
            base,
        }
    }
}

/// The ticks of a run at `this_run` given a stored last run (`0`: never).
fn ticks_from_slot(stored: u64, this_run: Tick) -> SystemTicks {
    if stored == 0 {
        SystemTicks::first_run(this_run)
    } else {
        SystemTicks::new(Tick::new(stored as u32), this_run)
    }
}

impl<S: Run> RunSystem<S> for StageCx<'_> {
    fn run_system(&self, system: &mut S, slot: SystemSlot) -> Result<(), BoxError> {
        let Some(buffer) = self.buffers.get(slot.0) else {
            return Err(format!(
                "system `{}` ran in slot {slot} but the world has {} command buffer(s); \
                 run schedules with `World::run_schedule`",
                S::name(),
                self.buffers.len()
            )
            .into());
        };
        let Some(last_run) = self.last_runs.get(slot.0) else {
            return Err(format!(
                "system `{}` ran in slot {slot} but the stage has {} tick slot(s); \
                 run schedules with `World::run_schedule`",
                S::name(),
                self.last_runs.len()
            )
            .into());
        };
        let this_run = self.base.after(1 + slot.0 as u32);
        let ticks = ticks_from_slot(last_run.load(Ordering::Relaxed), this_run);
        // Reuse the slot's allocation; the buffer is empty between stages.
        let commands = std::mem::take(&mut *buffer.lock().unwrap_or_else(PoisonError::into_inner));
        let filter = self.filters.get(slot.0).unwrap_or(&NO_FILTER);
        let mut cx = SystemCx::<S>::new(self.world, filter, S::name(), ticks, commands);
        let result = system.run(&mut cx);
        last_run.store(1 << 32 | u64::from(this_run.get()), Ordering::Relaxed);
        *buffer.lock().unwrap_or_else(PoisonError::into_inner) = cx.into_commands();
        result
    }
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
    /// system of the schedule). When the scheduler has a pool, stages run
    /// inside it, so `par_for_each` in a system uses the scheduler's threads.
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
        let mut first = true;
        for layer in Sch::plan().layer_positions() {
            let mut remaining = layer;
            while !remaining.is_empty() {
                // Commands of the previous wave may have made tables: the
                // plan (and so the next wave) follows the tables that exist.
                let (plan, filters) = self.refined_plan::<Sch>();
                let wave = plan.waves(&remaining).swap_remove(0);
                remaining.retain(|p| !wave.contains(p));
                self.run_wave(schedule, scheduler, &plan, &filters, &wave, first)?;
                first = false;
            }
        }
        Ok(())
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
        self.refined_plan::<Sch>().0
    }

    fn refined_plan<Sch: Schedule>(&mut self) -> (Arc<Plan>, Arc<[EntityFilter]>) {
        let tables = self.archetype_count();
        let key = TypeId::of::<Sch>();
        if let Some(cached) = self.refined_plans.get(&key) {
            if cached.tables == tables {
                return (cached.plan.clone(), cached.filters.clone());
            }
        }
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
            tables,
            plan: Arc::new(plan),
            filters: filters.into(),
        };
        let out = (cached.plan.clone(), cached.filters.clone());
        self.refined_plans.insert(key, cached);
        out
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
                .filter(|(_, table)| table.has(type_id) && filter.admits(table))
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
        let (plan, filters) = self.refined_plan::<Sch>();
        self.run_wave(schedule, scheduler, &plan, &filters, &[stage], stage == 0)
    }

    /// Runs the stages at `positions` of `plan` (a wave: no ordering
    /// constraint between them) together, then applies their commands in
    /// slot order. `first`: the first wave of a schedule run (ages the
    /// removal log).
    fn run_wave<Sch>(
        &mut self,
        schedule: &mut Sch,
        scheduler: &Scheduler,
        plan: &Plan,
        filters: &[EntityFilter],
        positions: &[usize],
        first: bool,
    ) -> Result<(), ScheduleError>
    where
        Sch: for<'w> RunSchedule<StageCx<'w>>,
    {
        let slots = plan.system_count();
        let mut buffers = std::mem::take(&mut self.command_buffers);
        if buffers.len() < slots {
            buffers.resize_with(slots, Mutex::default);
        }
        if first {
            self.age_removals();
        }
        let key = std::any::type_name::<Sch>();
        let last_runs = self
            .schedule_ticks
            .remove(key)
            .filter(|t| t.len() == slots)
            .unwrap_or_else(|| (0..slots).map(|_| AtomicU64::new(0)).collect());
        let base = self.change_tick();
        let outcome = {
            let cx = StageCx::new(self, filters, &buffers, &last_runs, base);
            match scheduler.pool() {
                Some(pool) => pool.install(|| schedule.run_stages(scheduler, plan, positions, &cx)),
                None => schedule.run_stages(scheduler, plan, positions, &cx),
            }
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
