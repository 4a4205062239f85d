//! # macrokid_ecs
//!
//! The entity–component–system store of macrokid: a [`World`] of
//! generational [`Entity`] ids whose components live in archetype tables
//! (one table per component set, one `Vec` column per component type),
//! resources (one value per type), queries (sequential and parallel on
//! rayon) and deferred [`CommandBuffer`]s that systems fill and the world
//! applies between stages in a fixed order. A component type can opt into
//! sparse-set storage instead of tables ([`World::register_sparse`]), for
//! components added and removed often.
//!
//! ```
//! use macrokid_ecs::prelude::*;
//!
//! #[derive(Debug, PartialEq)]
//! struct Position(f32, f32);
//! struct Velocity(f32, f32);
//! struct Frozen;
//!
//! let mut world = World::new();
//! let a = world.spawn((Position(0.0, 0.0), Velocity(1.0, 2.0)));
//! let b = world.spawn((Position(5.0, 5.0), Velocity(1.0, 1.0), Frozen));
//!
//! for (mut p, v) in world.query_filtered::<(&mut Position, &Velocity), Without<Frozen>>().iter() {
//!     p.0 += v.0;
//!     p.1 += v.1;
//! }
//! assert_eq!(world.get::<Position>(a), Ok(&Position(1.0, 2.0)));
//! assert_eq!(world.get::<Position>(b), Ok(&Position(5.0, 5.0)));
//!
//! world.despawn(a).unwrap();
//! assert!(matches!(world.get::<Position>(a), Err(EcsError::StaleEntity { .. })));
//! ```
//!
//! Systems implement [`Run`] and see the world through a [`SystemCx`] that
//! only lets them touch what they declared; [`World::run_schedule`] runs a
//! derived schedule stage by stage. `#[derive(System)]` and
//! `#[derive(Schedule)]` are re-exported in the [`prelude`]; they expand to
//! `::macrokid_threads::...` paths, so a crate that uses them also depends on
//! `macrokid_threads`. Everything `unsafe` lives in one
//! private module (`storage`), whose docs state the two invariants it
//! relies on.

/// Invokes `$m!` once per tuple arity from 0 to 8, with type parameters
/// `A`..`H` (the tuple sizes queries, filters and bundles support).
macro_rules! for_each_tuple {
    ($m:ident) => {
        $m!();
        $m!(A);
        $m!(A, B);
        $m!(A, B, C);
        $m!(A, B, C, D);
        $m!(A, B, C, D, E);
        $m!(A, B, C, D, E, F);
        $m!(A, B, C, D, E, F, G);
        $m!(A, B, C, D, E, F, G, H);
    };
}

pub mod change;
mod command;
mod component;
mod entity;
mod error;
mod group;
mod hash;
mod query;
pub mod snapshot;
#[expect(
    unsafe_code,
    reason = "columns and resources behind `UnsafeCell`, row cursors; invariants in storage/mod.rs"
)]
mod storage;
mod system;
mod world;

pub use change::{Mut, Tick};
pub use command::{CommandBuffer, Commands, EntityCommands, InsertableBy, InsertsBundle};
pub use component::{Bundle, Component, Resource};
pub use entity::Entity;
pub use error::EcsError;
pub use group::GroupRun;
pub use query::{
    Added, Changed, DeclaredIn, FilterDeclaredIn, Has, Or, QueryBorrow, QueryData, QueryFilter,
    QueryIter, QueryState, ReadOnlyQueryData, With, Without,
};
pub use snapshot::{SnapshotError, SnapshotRegistry};
pub use storage::{Ref, RefMut};
pub use system::{Run, StageCx, SystemCx, SystemResult};
pub use world::{CommandRecord, SparseMember, SparseShape, SparseStorageMut, World};

/// The names most users need: `use macrokid_ecs::prelude::*;`.
pub mod prelude {
    pub use crate::{
        Added, Bundle, Changed, CommandBuffer, Commands, Component, EcsError, Entity, Has, Mut, Or,
        QueryBorrow, Resource, Run, SnapshotError, SnapshotRegistry, SystemCx, SystemResult, With,
        Without, World,
    };
    pub use macrokid_threads::{
        Despawns, Inserts, Reads, Removes, RunSchedule, Schedule, ScheduleError, Scheduler, Spawns,
        System, ThreadPool, Writes,
    };
}

#[doc(hidden)]
pub mod __private {
    //! Types that appear in hidden trait methods. Not a public API.
    pub use crate::component::{BundleWriter, RowSink};
    pub use crate::storage::{
        add_query_access, AddedFetch, Branch, ChangedFetch, ColumnRef, ComponentType, EntityFetch,
        ErasedColumn, Fetch, FilterFetch, HasFetch, Mode, OptionFetch, OrFetch, ReadFetch,
        RowCheck, SparseFilter, SparseRows, TableView, TicksFetch, TypedColumn, WriteFetch,
    };
    pub use macrokid_core;
}

#[doc(hidden)]
pub mod __doc {
    //! Helpers for this crate's doc examples. Not a public API.
    pub use crate::__impl_system as impl_system;
}

/// Implements `System`, `Reads` and `Writes` for a type by hand (what
/// `#[derive(System)]` generates), for doc examples and tests.
#[doc(hidden)]
#[macro_export]
macro_rules! __impl_system {
    ($ty:ty, reads($($r:ty),* $(,)?), writes($($w:ty),* $(,)?)) => {
        impl $crate::__private::macrokid_core::System for $ty {
            fn name() -> &'static str {
                ::core::stringify!($ty)
            }
            fn access() -> $crate::__private::macrokid_core::ResourceAccess {
                $crate::__private::macrokid_core::ResourceAccess::new()
                    $(.with_read($crate::__private::macrokid_core::ResourceId::of::<$r>()))*
                    $(.with_write($crate::__private::macrokid_core::ResourceId::of::<$w>()))*
            }
        }
        $(impl $crate::__private::macrokid_core::Reads<$r> for $ty {})*
        $(
            impl $crate::__private::macrokid_core::Reads<$w> for $ty {}
            impl $crate::__private::macrokid_core::Writes<$w> for $ty {}
        )*
    };
}
