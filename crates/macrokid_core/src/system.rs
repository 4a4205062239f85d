//! The metadata side of a system: its name, its access, and the marker traits
//! that make undeclared data unreachable at compile time.

use std::fmt;

use crate::access::ResourceAccess;

/// A unit of work with a name and a declared [`ResourceAccess`].
///
/// Usually implemented by `#[derive(System)]` from `macrokid_threads`
/// (`#[system(reads(Velocity, Time), writes(Position))]`), which writes what
/// this hand-written impl does:
///
/// ```
/// use macrokid_core::{Reads, ResourceAccess, ResourceId, System, Writes};
///
/// struct Position;
/// struct Velocity;
/// struct Integrate;
///
/// impl System for Integrate {
///     fn name() -> &'static str {
///         "Integrate"
///     }
///     fn access() -> ResourceAccess {
///         ResourceAccess::new()
///             .with_read(ResourceId::of::<Velocity>())
///             .with_write(ResourceId::of::<Position>())
///     }
/// }
/// impl Reads<Velocity> for Integrate {}
/// impl Reads<Position> for Integrate {}
/// impl Writes<Position> for Integrate {}
///
/// assert!(Integrate::access().is_write(ResourceId::of::<Position>()));
/// ```
///
/// Both functions are associated (no `self`) so that a schedule can be planned
/// from types alone, before any system value exists.
pub trait System: Send + 'static {
    /// The system's name, unique within a schedule (default: the type's name).
    fn name() -> &'static str
    where
        Self: Sized;

    /// The resources the system reads and writes.
    fn access() -> ResourceAccess
    where
        Self: Sized;
}

/// Marker: the implementing system declared a read (or a write) of `T`.
///
/// `#[derive(System)]` implements it for every type in `reads(..)` and
/// `writes(..)`. Data-access APIs (ECS queries, resources) bound on it, so a
/// system that did not declare `T` cannot name `T` there: it does not compile.
#[diagnostic::on_unimplemented(
    message = "`{Self}` does not declare access to `{T}`",
    label = "`{T}` is not declared by this system",
    note = "add `{T}` to `#[system(reads(...))]` (or `writes(...)`) of `{Self}`"
)]
pub trait Reads<T: ?Sized> {}

/// Marker: the implementing system declared a write of `T` (which implies
/// [`Reads<T>`]).
#[diagnostic::on_unimplemented(
    message = "`{Self}` does not declare writing `{T}`",
    label = "`{T}` is not declared as written by this system",
    note = "add `{T}` to `#[system(writes(...))]` of `{Self}`"
)]
pub trait Writes<T: ?Sized>: Reads<T> {}

/// Marker: the implementing system declared that it adds `T` to entities
/// through deferred commands (insert, or spawn with `T` in the bundle).
///
/// `#[derive(System)]` implements it for every type in `inserts(..)`, and
/// lists `T` as a deferred write in [`System::access`]
/// ([`ResourceAccess::with_deferred_write`]). ECS command APIs bound on it:
/// inserting an undeclared type does not compile.
#[diagnostic::on_unimplemented(
    message = "`{Self}` does not declare inserting `{T}` through commands",
    label = "`{T}` is not in `inserts(...)` of this system",
    note = "add `{T}` to `#[system(inserts(...))]` of `{Self}`: structural changes are declared like reads and writes"
)]
pub trait Inserts<T: ?Sized> {}

/// Marker: the implementing system declared that it removes `T` from
/// entities through deferred commands (`removes(..)` of
/// `#[derive(System)]`; a deferred write of `T`).
#[diagnostic::on_unimplemented(
    message = "`{Self}` does not declare removing `{T}` through commands",
    label = "`{T}` is not in `removes(...)` of this system",
    note = "add `{T}` to `#[system(removes(...))]` of `{Self}`: structural changes are declared like reads and writes"
)]
pub trait Removes<T: ?Sized> {}

/// Marker: the implementing system declared that it spawns entities
/// through commands (`spawns` in `#[derive(System)]`): it reserves ids from
/// the entity allocator while it runs, a write of
/// [`ResourceId::entity_allocator`](crate::ResourceId::entity_allocator).
/// The spawned bundle's component types also need [`Inserts`].
#[diagnostic::on_unimplemented(
    message = "`{Self}` does not declare spawning entities through commands",
    label = "spawning is not declared by this system",
    note = "add `spawns` to `#[system(...)]` of `{Self}` (and every spawned component type to `inserts(...)`)"
)]
pub trait Spawns {}

/// Marker: the implementing system declared that it despawns entities
/// through commands (`despawns` in `#[derive(System)]`): a deferred write of
/// [`ResourceId::entity_allocator`](crate::ResourceId::entity_allocator).
#[diagnostic::on_unimplemented(
    message = "`{Self}` does not declare despawning entities through commands",
    label = "despawning is not declared by this system",
    note = "add `despawns` to `#[system(...)]` of `{Self}`"
)]
pub trait Despawns {}

/// The position of a system in a plan: its flat index over all stages, in
/// stage declaration order and then system declaration order. Stable for the
/// life of a plan; ECS worlds key per-system state (command buffers) on it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SystemSlot(pub usize);

impl fmt::Display for SystemSlot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}
