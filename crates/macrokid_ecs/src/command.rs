//! Deferred structural changes: spawn, despawn, insert and remove recorded
//! while systems run and applied later on `&mut World` in a fixed order.

use std::any::TypeId;
use std::cell::RefCell;
use std::fmt;
use std::marker::PhantomData;

use macrokid_core::{Despawns, Inserts, Removes, Spawns};

use crate::component::{Bundle, Component};
use crate::entity::{Entities, Entity};
use crate::error::EcsError;
use crate::world::{CommandRecord, World};

type ApplyFn = Box<dyn FnOnce(&mut World) -> Result<(), EcsError> + Send + Sync>;

enum Command {
    Spawn(Box<dyn FnOnce(&mut World) -> Entity + Send + Sync>),
    /// Spawns into an id reserved while the system ran.
    SpawnReserved(Entity, ApplyFn),
    Despawn(Entity),
    Insert(Entity, &'static str, TypeId, ApplyFn),
    Remove(
        Entity,
        &'static str,
        TypeId,
        fn(&mut World, Entity) -> Result<(), EcsError>,
    ),
}

impl fmt::Debug for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Command::Spawn(_) => f.write_str("Spawn"),
            Command::SpawnReserved(e, _) => write!(f, "Spawn({e:?})"),
            Command::Despawn(e) => write!(f, "Despawn({e:?})"),
            Command::Insert(e, name, ..) => write!(f, "Insert({e:?}, {name})"),
            Command::Remove(e, name, ..) => write!(f, "Remove({e:?}, {name})"),
        }
    }
}

/// A list of structural changes, applied in recording order by
/// [`World::apply_commands`] (or at the end of a stage, for the buffer of a
/// system).
///
/// A command that cannot apply (a stale entity, removing a component the
/// entity lacks) changes nothing: it is logged with `tracing::warn!` and
/// counted in [`World::failed_command_count`]; the commands after it still
/// apply.
#[derive(Default)]
pub struct CommandBuffer {
    commands: Vec<Command>,
}

impl fmt::Debug for CommandBuffer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(&self.commands).finish()
    }
}

impl CommandBuffer {
    /// An empty buffer.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records spawning an entity with `bundle`. Its id is assigned when the
    /// command applies (so ids do not depend on thread timing).
    pub fn spawn<B: Bundle>(&mut self, bundle: B) {
        self.commands
            .push(Command::Spawn(Box::new(move |world: &mut World| {
                world.spawn(bundle)
            })));
    }

    /// Records spawning `bundle` into `entity`, an id reserved from the
    /// world this buffer will apply to.
    pub(crate) fn spawn_reserved<B: Bundle>(&mut self, entity: Entity, bundle: B) {
        self.commands.push(Command::SpawnReserved(
            entity,
            Box::new(move |world: &mut World| world.spawn_reserved(entity, bundle)),
        ));
    }

    /// Records despawning `entity`.
    pub fn despawn(&mut self, entity: Entity) {
        self.commands.push(Command::Despawn(entity));
    }

    /// Records inserting `component` into `entity` (replacing a `T` it has).
    pub fn insert<T: Component>(&mut self, entity: Entity, component: T) {
        self.commands.push(Command::Insert(
            entity,
            std::any::type_name::<T>(),
            TypeId::of::<T>(),
            Box::new(move |world: &mut World| world.insert(entity, component)),
        ));
    }

    /// Records removing (and dropping) the `T` of `entity`.
    pub fn remove<T: Component>(&mut self, entity: Entity) {
        self.commands.push(Command::Remove(
            entity,
            std::any::type_name::<T>(),
            TypeId::of::<T>(),
            |world, entity| world.remove::<T>(entity).map(drop),
        ));
    }

    /// The number of recorded commands.
    pub fn len(&self) -> usize {
        self.commands.len()
    }

    /// Whether nothing is recorded.
    pub fn is_empty(&self) -> bool {
        self.commands.is_empty()
    }

    /// Drops every recorded command without applying it.
    pub fn clear(&mut self) {
        self.commands.clear();
    }

    /// Applies and empties the buffer on `world`, in recording order,
    /// through the world's public structural methods (spawn, despawn,
    /// insert, remove). Returns how many commands failed; each is logged
    /// with `tracing::warn!` and counted in
    /// [`World::failed_command_count`].
    pub fn apply(&mut self, world: &mut World) -> usize {
        let mut failed = 0;
        for command in self.commands.drain(..) {
            let (kind, entity, component) = match &command {
                Command::Spawn(_) => ("spawn", None, ""),
                Command::SpawnReserved(e, _) => ("spawn", Some(*e), ""),
                Command::Despawn(e) => ("despawn", Some(*e), ""),
                Command::Insert(e, name, ..) => ("insert", Some(*e), *name),
                Command::Remove(e, name, ..) => ("remove", Some(*e), *name),
            };
            let logging = world.is_recording_commands();
            let result = match command {
                Command::Spawn(spawn) => {
                    let entity = spawn(world);
                    Ok(logging.then_some(CommandRecord::Spawn(entity)))
                }
                Command::SpawnReserved(entity, spawn) => {
                    spawn(world).map(|()| logging.then_some(CommandRecord::Spawn(entity)))
                }
                Command::Despawn(entity) => world
                    .despawn(entity)
                    .map(|()| logging.then_some(CommandRecord::Despawn(entity))),
                Command::Insert(entity, name, type_id, insert) => insert(world).map(|()| {
                    logging.then(|| {
                        let name = world.snapshot_registry().registered_name(type_id, name);
                        CommandRecord::Insert(entity, name)
                    })
                }),
                Command::Remove(entity, name, type_id, remove) => remove(world, entity).map(|()| {
                    logging.then(|| {
                        let name = world.snapshot_registry().registered_name(type_id, name);
                        CommandRecord::Remove(entity, name)
                    })
                }),
            };
            if let Ok(Some(record)) = result {
                world.log_command(record);
            } else if let Err(error) = result {
                tracing::warn!(command = kind, ?entity, component, %error, "deferred command skipped");
                failed += 1;
            }
        }
        world.count_failed_commands(failed);
        failed
    }
}

/// A system's handle to its own command buffer (from
/// [`SystemCx::commands`](crate::SystemCx::commands)), typed by the system
/// `S`: it records only the structural changes `S` declared.
///
/// | call | needs `S` to declare (`#[system(...)]`) |
/// |---|---|
/// | [`spawn`](Self::spawn) | `spawns`, and every bundle type in `inserts(...)` |
/// | [`insert`](Self::insert) | `inserts(T)` |
/// | [`remove`](Self::remove) | `removes(T)` |
/// | [`despawn`](Self::despawn) | `despawns` |
///
/// Undeclared changes do not compile, so a system's
/// [`access`](macrokid_core::System::access) names everything it can change
/// (inserts and removes as deferred writes of the component type, despawns
/// as a deferred write of the entity allocator, spawns as a write of it).
///
/// Commands apply at the end of the stage, in system order (the plan's
/// system slots) and then recording order, so the result never depends on
/// thread timing. The handle is not `Sync`: record from the system's own
/// thread (collect results of a `par_for_each` first).
///
/// # Spawned ids
/// [`spawn`](Self::spawn) returns the new entity's id at once: it is
/// reserved from the world's entity allocator through an atomic cursor (as
/// hecs's `reserve_entity` and bevy's `Commands::spawn`), and becomes alive
/// when the commands apply. The id is the one a direct
/// [`World::spawn`](crate::World::spawn) would have returned at that point
/// (last freed index first). Reservation order is deterministic because
/// spawning is declared as a *write* of
/// [`ResourceId::entity_allocator`](macrokid_core::ResourceId::entity_allocator):
/// two spawning systems conflict, so the planner never puts them in one
/// batch (nor their stages in one wave of a layer) and they reserve in
/// declaration order, whatever the thread count. When the stage fails its
/// commands are dropped and its reservations cancelled: the ids are handed
/// out again, as if the stage had not run.
pub struct Commands<'a, S: ?Sized> {
    buffer: &'a RefCell<CommandBuffer>,
    entities: &'a Entities,
    _system: PhantomData<fn(&S)>,
}

impl<S: ?Sized> Clone for Commands<'_, S> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<S: ?Sized> Copy for Commands<'_, S> {}

impl<S: ?Sized> fmt::Debug for Commands<'_, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Commands")
            .field("recorded", &self.len())
            .finish_non_exhaustive()
    }
}

/// A bundle whose every component type system `S` declared in
/// `inserts(...)`: what [`Commands::spawn`] accepts. Implemented for the
/// tuples that are [`Bundle`]s.
#[diagnostic::on_unimplemented(
    message = "`{S}` does not declare inserting every component of `{Self}`",
    label = "a component of this bundle is not in `inserts(...)` of `{S}`",
    note = "add each component type of the bundle to `#[system(inserts(...))]` of `{S}`"
)]
pub trait InsertsBundle<S: ?Sized>: Bundle {}

macro_rules! impl_inserts_bundle {
    ($($T:ident),*) => {
        impl<S: ?Sized $(+ Inserts<$T>)*, $($T: Component),*> InsertsBundle<S> for ($($T,)*) {}
    };
}

for_each_tuple!(impl_inserts_bundle);

/// A component type that system `S` declared in `inserts(...)`: what
/// [`Commands::insert`] accepts. A blanket impl over
/// [`Inserts`]; stated on the component (not on `S`) so that the compiler
/// names the component type when the declaration is missing.
pub trait InsertableBy<S: ?Sized>: Component {}

impl<T: Component, S: ?Sized + Inserts<T>> InsertableBy<S> for T {}

impl<'a, S: ?Sized> Commands<'a, S> {
    pub(crate) fn new(buffer: &'a RefCell<CommandBuffer>, entities: &'a Entities) -> Self {
        Self {
            buffer,
            entities,
            _system: PhantomData,
        }
    }

    /// Records spawning an entity with `bundle` and returns its id, reserved
    /// now (see [Spawned ids](Self#spawned-ids)); it is alive once the
    /// commands apply.
    ///
    /// # Panics
    /// When the world's entity table is full (2^32 - 1 slots).
    pub fn spawn<B: InsertsBundle<S>>(&self, bundle: B) -> Entity
    where
        S: Spawns,
    {
        let entity = self.entities.reserve_id();
        self.buffer.borrow_mut().spawn_reserved(entity, bundle);
        entity
    }

    /// Commands on one entity (an id from [`spawn`](Self::spawn) or any
    /// other), chained: `commands.entity(e).insert(A).remove::<B>()`.
    pub fn entity(&self, entity: Entity) -> EntityCommands<'a, S> {
        EntityCommands {
            commands: *self,
            entity,
        }
    }

    /// See [`CommandBuffer::despawn`].
    pub fn despawn(&self, entity: Entity)
    where
        S: Despawns,
    {
        self.buffer.borrow_mut().despawn(entity);
    }

    /// See [`CommandBuffer::insert`].
    pub fn insert<T: InsertableBy<S>>(&self, entity: Entity, component: T) {
        self.buffer.borrow_mut().insert(entity, component);
    }

    /// See [`CommandBuffer::remove`].
    pub fn remove<T: Component>(&self, entity: Entity)
    where
        S: Removes<T>,
    {
        self.buffer.borrow_mut().remove::<T>(entity);
    }

    /// The number of commands recorded so far by this system.
    pub fn len(&self) -> usize {
        self.buffer.borrow().len()
    }

    /// Whether this system recorded nothing so far.
    pub fn is_empty(&self) -> bool {
        self.buffer.borrow().is_empty()
    }
}

/// Commands on one entity, from [`Commands::entity`]; each call records a
/// command and returns the builder for the next.
pub struct EntityCommands<'a, S: ?Sized> {
    commands: Commands<'a, S>,
    entity: Entity,
}

impl<S: ?Sized> fmt::Debug for EntityCommands<'_, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EntityCommands")
            .field("entity", &self.entity)
            .finish_non_exhaustive()
    }
}

impl<'a, S: ?Sized> EntityCommands<'a, S> {
    /// The entity.
    pub fn id(&self) -> Entity {
        self.entity
    }

    /// Records inserting `component` (see [`Commands::insert`]).
    pub fn insert<T: InsertableBy<S>>(self, component: T) -> Self {
        self.commands.insert(self.entity, component);
        self
    }

    /// Records removing the `T` (see [`Commands::remove`]).
    pub fn remove<T: Component>(self) -> Self
    where
        S: Removes<T>,
    {
        self.commands.remove::<T>(self.entity);
        self
    }

    /// Records despawning the entity (see [`Commands::despawn`]).
    pub fn despawn(self)
    where
        S: Despawns,
    {
        self.commands.despawn(self.entity);
    }
}
