//! Running ECS systems: the [`Run`] trait, the [`SystemCx`] a system sees,
//! and the [`StageCx`] through which a scheduler runs systems on a world.

use std::any::TypeId;
use std::cell::RefCell;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use macrokid_core::{Reads, ResourceAccess, System, SystemSlot, Writes};
use macrokid_threads::{BoxError, RunSystem, ThreadPool};

use crate::change::{SystemTicks, Tick};
use crate::command::{CommandBuffer, Commands};
use crate::component::{Component, Resource};
use crate::entity::Entity;
use crate::error::EcsError;
use crate::query::{DeclaredIn, FilterDeclaredIn, QueryBorrow};
use crate::storage::{guarded_slot_mut, guarded_slot_ref, Archetype, Ref, RefMut, Slot};
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
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct EntityFilter {
    pub(crate) required: Vec<TypeId>,
    pub(crate) excluded: Vec<TypeId>,
}

impl EntityFilter {
    /// Whether the filter admits every table (nothing required or excluded).
    pub(crate) fn is_empty(&self) -> bool {
        self.required.is_empty() && self.excluded.is_empty()
    }

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

    /// Whether a table with these types passes. Sparse components (for
    /// which `is_sparse` holds) are not table types: any table may hold
    /// entities with or without them, so they do not narrow the tables.
    pub(crate) fn admits_table(
        &self,
        table: &Archetype,
        is_sparse: impl Fn(TypeId) -> bool,
    ) -> bool {
        self.required.iter().all(|&t| is_sparse(t) || table.has(t))
            && !self.excluded.iter().any(|&t| !is_sparse(t) && table.has(t))
    }
}

thread_local! {
    /// The pool of the schedule whose systems this thread runs while this
    /// thread is not one of that pool's workers (set by [`StagePool::enter`]
    /// for the thread that called `World::run_schedule`).
    static STAGE_POOL: RefCell<Option<Arc<ThreadPool>>> = const { RefCell::new(None) };
}

/// While alive, the systems that run on this thread belong to a schedule
/// running on `pool`: [`in_stage_pool`] sends their parallel work there.
///
/// `World::run_schedule` runs a wave's systems from the calling thread
/// (which takes part in the wave like a worker) instead of moving the whole
/// wave into the pool with `ThreadPool::install`, which cost two thread
/// hand-offs per wave even when every system then ran on one thread.
pub(crate) struct StagePool {
    previous: Option<Arc<ThreadPool>>,
}

impl StagePool {
    /// Marks this thread as running systems of a schedule on `pool`.
    pub(crate) fn enter(pool: &Arc<ThreadPool>) -> Self {
        let previous = STAGE_POOL.with(|cell| cell.replace(Some(Arc::clone(pool))));
        Self { previous }
    }
}

impl Drop for StagePool {
    fn drop(&mut self) {
        let previous = self.previous.take();
        STAGE_POOL.with(|cell| *cell.borrow_mut() = previous);
    }
}

/// The number of threads parallel work started on this thread runs on: the
/// running schedule's pool ([`StagePool`]) or rayon's current pool.
pub(crate) fn stage_threads() -> usize {
    STAGE_POOL
        .with(|cell| cell.borrow().as_ref().map(|pool| pool.num_threads()))
        .unwrap_or_else(rayon::current_num_threads)
}

/// Runs `f` (parallel work of a system, e.g. `par_for_each`) in the pool of
/// the schedule this thread runs systems of, when it is not a worker of it
/// ([`StagePool`]); otherwise in rayon's current pool, which on a worker is
/// the schedule's pool.
pub(crate) fn in_stage_pool<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    let pool = STAGE_POOL.with(|cell| cell.borrow().clone());
    match pool {
        Some(pool) if !pool.is_worker_thread() => pool.install(f),
        _ => f(),
    }
}

/// No filter, for systems that declare none.
static NO_FILTER: EntityFilter = EntityFilter {
    required: Vec::new(),
    excluded: Vec::new(),
};

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
        let slot = self.slot_within::<T>(entity)?;
        guarded_slot_ref::<T>(self.world.components(), slot, self.name)
            .ok_or_else(|| crate::world::missing_component::<T>(entity))
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
        let slot = self.slot_within::<T>(entity)?;
        guarded_slot_mut::<T>(self.world.components(), slot, self.ticks, self.name)
            .ok_or_else(|| crate::world::missing_component::<T>(entity))
    }

    /// Where the `T` of `entity` lives; the entity must pass the system's
    /// entity filter (its table for table components, the sparse sets for
    /// sparse ones).
    fn slot_within<T: Component>(&self, entity: Entity) -> Result<Slot<'w>, EcsError> {
        let table = self.world.table_of(entity)?;
        if !self.world.admits_entity(self.filter, table, entity) {
            return Err(EcsError::QueryMismatch {
                entity,
                query: "the entity filter (`with`/`without`) of the running system",
            });
        }
        self.world.slot_of::<T>(entity)
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
