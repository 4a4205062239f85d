//! Deferred structural changes: spawn, despawn, insert and remove recorded
//! while systems run and applied later on `&mut World` in a fixed order.

use std::cell::RefCell;
use std::fmt;

use crate::component::{Bundle, Component};
use crate::entity::Entity;
use crate::error::EcsError;
use crate::world::World;

type ApplyFn = Box<dyn FnOnce(&mut World) -> Result<(), EcsError> + Send + Sync>;

enum Command {
    Spawn(Box<dyn FnOnce(&mut World) + Send + Sync>),
    Despawn(Entity),
    Insert(Entity, &'static str, ApplyFn),
    Remove(
        Entity,
        &'static str,
        fn(&mut World, Entity) -> Result<(), EcsError>,
    ),
}

impl fmt::Debug for Command {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Command::Spawn(_) => f.write_str("Spawn"),
            Command::Despawn(e) => write!(f, "Despawn({e:?})"),
            Command::Insert(e, name, _) => write!(f, "Insert({e:?}, {name})"),
            Command::Remove(e, name, _) => write!(f, "Remove({e:?}, {name})"),
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
                world.spawn(bundle);
            })));
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
            Box::new(move |world: &mut World| world.insert(entity, component)),
        ));
    }

    /// Records removing (and dropping) the `T` of `entity`.
    pub fn remove<T: Component>(&mut self, entity: Entity) {
        self.commands.push(Command::Remove(
            entity,
            std::any::type_name::<T>(),
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
                Command::Despawn(e) => ("despawn", Some(*e), ""),
                Command::Insert(e, name, _) => ("insert", Some(*e), *name),
                Command::Remove(e, name, _) => ("remove", Some(*e), *name),
            };
            let result = match command {
                Command::Spawn(spawn) => {
                    spawn(world);
                    Ok(())
                }
                Command::Despawn(entity) => world.despawn(entity),
                Command::Insert(_, _, insert) => insert(world),
                Command::Remove(entity, _, remove) => remove(world, entity),
            };
            if let Err(error) = result {
                tracing::warn!(command = kind, ?entity, component, %error, "deferred command skipped");
                failed += 1;
            }
        }
        world.count_failed_commands(failed);
        failed
    }
}

/// A system's handle to its own command buffer (from
/// [`SystemCx::commands`](crate::SystemCx::commands)).
///
/// Commands apply at the end of the stage, in system order (the plan's
/// system slots) and then recording order, so the result never depends on
/// thread timing. The handle is not `Sync`: record from the system's own
/// thread (collect results of a `par_for_each` first).
#[derive(Clone, Copy)]
pub struct Commands<'a> {
    buffer: &'a RefCell<CommandBuffer>,
}

impl<'a> Commands<'a> {
    pub(crate) fn new(buffer: &'a RefCell<CommandBuffer>) -> Self {
        Self { buffer }
    }

    /// See [`CommandBuffer::spawn`].
    pub fn spawn<B: Bundle>(&self, bundle: B) {
        self.buffer.borrow_mut().spawn(bundle);
    }

    /// See [`CommandBuffer::despawn`].
    pub fn despawn(&self, entity: Entity) {
        self.buffer.borrow_mut().despawn(entity);
    }

    /// See [`CommandBuffer::insert`].
    pub fn insert<T: Component>(&self, entity: Entity, component: T) {
        self.buffer.borrow_mut().insert(entity, component);
    }

    /// See [`CommandBuffer::remove`].
    pub fn remove<T: Component>(&self, entity: Entity) {
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
