//! The systems of work groups.

use std::borrow::Cow;
use std::fmt;

use macrokid_core::{ResourceAccess, SystemDescriptor};

use super::GroupWorld;
use crate::run::BoxError;

/// What a system that returned `Ok` did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SystemStatus {
    /// It did its work.
    #[default]
    Executed,
    /// It found nothing to work on (no matching entities, an empty queue).
    SkippedEmpty,
}

/// A system of a synchronized group: it runs inside the tick with `&mut`
/// access to the world and records deferred writes into `commands`, which
/// are applied right after it returns `Ok` and dropped when it fails.
///
/// Writes made directly through `world` are the system's own: a system that
/// may fail under [`ErrorPolicy::RetryOnce`](super::ErrorPolicy::RetryOnce)
/// should write through `commands` (or be idempotent), so that its failed
/// attempt leaves nothing behind.
pub trait GroupSystem<W: GroupWorld>: Send {
    /// Its name and declared access (read once, at registration).
    fn descriptor(&self) -> SystemDescriptor;

    /// Runs the system once.
    ///
    /// # Errors
    /// Whatever the system reports; the group's [`ErrorPolicy`](super::ErrorPolicy)
    /// decides what follows.
    fn run(&mut self, world: &mut W, commands: &mut W::Commands) -> Result<SystemStatus, BoxError>;
}

/// A system of an async group: it runs on the pool, on the view `V` its
/// group extracted, and records deferred writes into `commands` (merged at
/// the barrier when the group is on time).
pub trait AsyncSystem<V: ?Sized, C>: Send {
    /// Its name and declared access (read once, at registration).
    fn descriptor(&self) -> SystemDescriptor;

    /// Runs the system once.
    ///
    /// # Errors
    /// Whatever the system reports; the group's policy decides what follows.
    fn run(&mut self, view: &V, commands: &mut C) -> Result<SystemStatus, BoxError>;
}

/// A synchronized group system made of a closure, a name and an access.
pub struct FnSystem<F> {
    descriptor: SystemDescriptor,
    run: F,
}

impl<F> FnSystem<F> {
    /// A system named `name` that declares `access` and runs `run`.
    pub fn new(name: impl Into<Cow<'static, str>>, access: ResourceAccess, run: F) -> Self {
        Self {
            descriptor: SystemDescriptor::new(name, access),
            run,
        }
    }
}

impl<W, F> GroupSystem<W> for FnSystem<F>
where
    W: GroupWorld,
    F: FnMut(&mut W, &mut W::Commands) -> Result<SystemStatus, BoxError> + Send,
{
    fn descriptor(&self) -> SystemDescriptor {
        self.descriptor.clone()
    }

    fn run(&mut self, world: &mut W, commands: &mut W::Commands) -> Result<SystemStatus, BoxError> {
        (self.run)(world, commands)
    }
}

impl<F> fmt::Debug for FnSystem<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FnSystem")
            .field("name", &self.descriptor.name)
            .finish_non_exhaustive()
    }
}

/// An async group system made of a closure, a name and an access.
pub struct FnAsyncSystem<F> {
    descriptor: SystemDescriptor,
    run: F,
}

impl<F> FnAsyncSystem<F> {
    /// A system named `name` that declares `access` and runs `run`.
    pub fn new(name: impl Into<Cow<'static, str>>, access: ResourceAccess, run: F) -> Self {
        Self {
            descriptor: SystemDescriptor::new(name, access),
            run,
        }
    }
}

impl<V, C, F> AsyncSystem<V, C> for FnAsyncSystem<F>
where
    V: ?Sized,
    F: FnMut(&V, &mut C) -> Result<SystemStatus, BoxError> + Send,
{
    fn descriptor(&self) -> SystemDescriptor {
        self.descriptor.clone()
    }

    fn run(&mut self, view: &V, commands: &mut C) -> Result<SystemStatus, BoxError> {
        (self.run)(view, commands)
    }
}

impl<F> fmt::Debug for FnAsyncSystem<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FnAsyncSystem")
            .field("name", &self.descriptor.name)
            .finish_non_exhaustive()
    }
}
