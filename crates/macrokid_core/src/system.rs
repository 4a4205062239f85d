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
pub trait Reads<T: ?Sized> {}

/// Marker: the implementing system declared a write of `T` (which implies
/// [`Reads<T>`]).
pub trait Writes<T: ?Sized>: Reads<T> {}

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
