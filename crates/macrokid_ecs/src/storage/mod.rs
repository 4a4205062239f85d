//! Component and resource storage — the only module of this crate with
//! `unsafe` code.
//!
//! A table keeps all its rows in one allocation, its [`block::Block`]: the
//! entity column, one array per component column and the added and changed
//! ticks of each, grown together. Its values are reached through raw
//! pointers into the block (never through a reference to the whole
//! block), so that a shared `&World` can hand out `&mut` to *different*
//! columns to systems running in parallel. Sparse sets keep their values in
//! `Vec<T>`s ([`column::TypedColumn`]) and resources are boxed values, each
//! behind an `UnsafeCell`, for the same reason. Two invariants make that
//! sound:
//!
//! - **(I1) guarded access.** Through a shared reference, a column (or
//!   resource) is mutated only under the write flag of its type
//!   ([`borrow::BorrowFlag`]: many readers or one writer, atomics), and read
//!   under a read flag; a query takes every flag it needs in
//!   [`view::QueryState::new`] and hands out each table's column of a
//!   written type at most once per borrow of the state
//!   ([`view::TableView`]; columns of read types only as shared slices, as
//!   often as asked). The one exception is a query of an exclusively
//!   borrowed world (`World::query`, `QueryState::query`,
//!   [`view::QueryState::exclusive`]): it holds `&mut World` for its whole
//!   life, which already excludes every other reader and writer, so it
//!   takes no flag (as bevy_ecs's `World::query`); it still hands out
//!   each column once per borrow through its table views.
//! - **(I2) unguarded reads only without write guards.** `World`'s `&self` getters
//!   read without flags. Flags are taken only by the queries of a shared
//!   world (`World::query_ref`, `QueryState::query_ref`) and inside a
//!   stage context (which is made from `&mut World` and gives
//!   systems no `&World`), and the flagless exclusive queries hold
//!   `&mut World`, so an unguarded reader and a writer never coexist.
//!   (`World::query_ref` takes read flags through `&World`: readers only,
//!   so it may run beside unguarded reads.)
//!
//! - **(I3) typed columns.** Column `i` of a table's block holds values of
//!   the [`ComponentType`] the block records for it (made by
//!   `ComponentType::of::<T>`: type id, layout and drop function of `T`),
//!   and a sparse set's values are a `TypedColumn` of its component, made
//!   only by `ComponentType::new_column`. Typed access compares the
//!   recorded type id with the asked type and then casts; values moved
//!   into a block from `TypedColumn`s (restored snapshots, encoded inserts)
//!   are checked against the recorded column type first, and row moves
//!   between blocks check that both blocks record the same type for every
//!   moved column. Values move bitwise (a Rust move) and are dropped once,
//!   by the block's recorded drop function.
//!
//! Rows are walked through [`fetch::Cursor`], which fetches each row once
//! and never past the end of its table.
//!
//! Sparse sets ([`sparse::SparseSet`]) keep a component type's values
//! outside the tables, densely, under the same borrow flag of the type. A
//! query reaches them row by row through the row's entity (its dense
//! index): each entity is one row of one table and has one dense index, so
//! rows handed out as `&mut` never share an element. Because one query
//! walks a set once per table view, writers get raw pointers to the dense
//! values (never a `&mut [T]` over the whole set, which would alias items
//! handed out for an earlier table).
//!
//! Everything that changes a table's shape (push, swap-remove, moving rows,
//! growing its block) takes `&mut`. A block has one length for all its
//! arrays: rows below it are initialized in every array, rows above it are
//! spare. Where components are dropped (despawn, clear, a block's drop),
//! the length and the entity bookkeeping are updated first and the
//! values dropped through [`archetype::for_each_finishing`], so a
//! panicking `Drop` leaves a consistent table (and the other values are
//! still dropped). New rows (spawns) are written into spare rows and made
//! rows all at once, after every column got its value
//! ([`append::Appender`]).

mod append;
mod archetype;
mod block;
mod borrow;
mod column;
#[cfg(test)]
mod counted;
mod fetch;
mod resource;
mod sparse;
mod view;

pub(crate) use append::{Appender, RecordRows};
pub use append::{BundleWriter, RowSink};
pub use archetype::ComponentType;
pub(crate) use archetype::{for_each_finishing, Archetype, ArchetypeId, Edge};
pub use block::ColumnRef;
pub use borrow::{add_query_access, Mode, Ref, RefMut};
pub(crate) use column::column_slice;
pub use column::{ErasedColumn, TypedColumn};
pub(crate) use fetch::Cursor;
pub use fetch::{
    AddedFetch, Branch, ChangedFetch, EntityFetch, Fetch, FilterFetch, HasFetch, OptionFetch,
    OrFetch, ReadFetch, RowCheck, SparseFilter, TicksFetch, WriteFetch,
};
pub(crate) use resource::ResourceSlot;
pub use sparse::SparseRows;
pub(crate) use sparse::{SparseSet, SparseSets, TypedSparseSet};
pub use view::TableView;
pub(crate) use view::{
    guarded_slot_mut, guarded_slot_ref, Components, Held, QueryState, Slot, SparseQuery, Views,
};
