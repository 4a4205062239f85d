//! Query filters: table-level ([`With`], [`Without`]) and row-level
//! ([`Added`], [`Changed`]).

use std::any::TypeId;
use std::marker::PhantomData;

use macrokid_core::{Reads, ResourceAccess, ResourceId};

use crate::component::Component;
use crate::storage::{
    AddedFetch, Branch, ChangedFetch, FilterFetch, OrFetch, RowCheck, TableView, TicksFetch,
};

mod sealed {
    #![allow(unreachable_pub)]
    /// Only this crate implements [`QueryFilter`](super::QueryFilter).
    pub trait Sealed {}
}
use sealed::Sealed;

/// Narrows the entities a query yields: [`With<T>`], [`Without<T>`] (which
/// tables match; for a sparse-set component, which rows), [`Added<T>`],
/// [`Changed<T>`] (which rows of a matched table pass, by change tick),
/// [`Or<(A, B, ..)>`](Or) (any of its filters holds), `()` (no filter) and
/// tuples of up to 8 filters (all must hold).
///
/// `With`/`Without` read no component data, so a system needs no
/// `Reads<T>` for them; `Added<T>`/`Changed<T>` read the ticks of `T` and
/// need `Reads<T>` (see [`FilterDeclaredIn`]).
pub trait QueryFilter: Sealed {
    /// Per-row state over one table.
    #[doc(hidden)]
    type Fetch<'a>: FilterFetch;

    /// A `'static` type that stands for this filter type: part of the key
    /// of the world's per-query cache.
    #[doc(hidden)]
    type Key: 'static;

    /// Whether some part filters rows (not only tables).
    #[doc(hidden)]
    const ROW_FILTER: bool;

    /// Records the types a table must have.
    #[doc(hidden)]
    fn required(types: &mut Vec<TypeId>);

    /// Records the types a table must not have.
    #[doc(hidden)]
    fn excluded(types: &mut Vec<TypeId>);

    /// Records the component types whose ticks are read (reads of their
    /// [`ResourceId`]s; a type the query also fetches needs nothing more).
    #[doc(hidden)]
    fn access(access: &mut ResourceAccess);

    /// Starts filtering the rows of a matched table.
    #[doc(hidden)]
    fn filter_fetch<'a>(view: &TableView<'a>) -> Self::Fetch<'a>;

    /// Adds this filter's conditions on `view`'s table and rows to
    /// `branch` (as one branch of an [`Or`], where no table is matched
    /// ahead by `required`/`excluded`).
    #[doc(hidden)]
    fn branch<'a>(view: &TableView<'a>, branch: &mut Branch<'a>);
}

/// Filter: only entities that have a `T`.
pub struct With<T>(PhantomData<fn() -> T>);

/// Filter: only entities that have no `T`.
pub struct Without<T>(PhantomData<fn() -> T>);

/// Filter: only entities whose `T` was added (spawned with it or inserted)
/// after the running system's previous run — or, for
/// [`World::query_filtered`](crate::World::query_filtered), after the last
/// [`World::clear_trackers`](crate::World::clear_trackers).
pub struct Added<T>(PhantomData<fn() -> T>);

/// Filter: only entities whose `T` was added or written (through a
/// [`Mut`](crate::Mut), `get_mut` or an insert) after the running system's
/// previous run (or the last `World::clear_trackers`).
pub struct Changed<T>(PhantomData<fn() -> T>);

impl<T: Component> Sealed for With<T> {}
impl<T: Component> QueryFilter for With<T> {
    type Key = Self;
    type Fetch<'a> = ();
    const ROW_FILTER: bool = false;

    fn required(types: &mut Vec<TypeId>) {
        types.push(TypeId::of::<T>());
    }

    fn excluded(_types: &mut Vec<TypeId>) {}

    fn access(_access: &mut ResourceAccess) {}

    fn filter_fetch<'a>(_view: &TableView<'a>) {}

    fn branch<'a>(view: &TableView<'a>, branch: &mut Branch<'a>) {
        match view.sparse_rows::<T>() {
            Some(rows) => branch.check(RowCheck::Has(rows)),
            None => branch.require(view.contains::<T>()),
        }
    }
}

impl<T: Component> Sealed for Without<T> {}
impl<T: Component> QueryFilter for Without<T> {
    type Key = Self;
    type Fetch<'a> = ();
    const ROW_FILTER: bool = false;

    fn required(_types: &mut Vec<TypeId>) {}

    fn excluded(types: &mut Vec<TypeId>) {
        types.push(TypeId::of::<T>());
    }

    fn access(_access: &mut ResourceAccess) {}

    fn filter_fetch<'a>(_view: &TableView<'a>) {}

    fn branch<'a>(view: &TableView<'a>, branch: &mut Branch<'a>) {
        match view.sparse_rows::<T>() {
            Some(rows) => branch.check(RowCheck::Lacks(rows)),
            None => branch.require(!view.contains::<T>()),
        }
    }
}

fn ticks_fetch<'a, T: 'static>(view: &TableView<'a>) -> TicksFetch<'a> {
    view.ticks_fetch::<T>().unwrap_or_else(|| {
        panic!(
            "query invariant broken: a matched table lacks the filtered component `{}`",
            std::any::type_name::<T>()
        )
    })
}

impl<T: Component> Sealed for Added<T> {}
impl<T: Component> QueryFilter for Added<T> {
    type Key = Self;
    type Fetch<'a> = AddedFetch<'a>;
    const ROW_FILTER: bool = true;

    fn required(types: &mut Vec<TypeId>) {
        types.push(TypeId::of::<T>());
    }

    fn excluded(_types: &mut Vec<TypeId>) {}

    fn access(access: &mut ResourceAccess) {
        access.add_read(ResourceId::of::<T>());
    }

    fn filter_fetch<'a>(view: &TableView<'a>) -> AddedFetch<'a> {
        AddedFetch(ticks_fetch::<T>(view))
    }

    fn branch<'a>(view: &TableView<'a>, branch: &mut Branch<'a>) {
        match view.ticks_fetch::<T>() {
            Some(ticks) => branch.check(RowCheck::Added(ticks)),
            None => branch.require(false),
        }
    }
}

impl<T: Component> Sealed for Changed<T> {}
impl<T: Component> QueryFilter for Changed<T> {
    type Key = Self;
    type Fetch<'a> = ChangedFetch<'a>;
    const ROW_FILTER: bool = true;

    fn required(types: &mut Vec<TypeId>) {
        types.push(TypeId::of::<T>());
    }

    fn excluded(_types: &mut Vec<TypeId>) {}

    fn access(access: &mut ResourceAccess) {
        access.add_read(ResourceId::of::<T>());
    }

    fn filter_fetch<'a>(view: &TableView<'a>) -> ChangedFetch<'a> {
        ChangedFetch(ticks_fetch::<T>(view))
    }

    fn branch<'a>(view: &TableView<'a>, branch: &mut Branch<'a>) {
        match view.ticks_fetch::<T>() {
            Some(ticks) => branch.check(RowCheck::Changed(ticks)),
            None => branch.require(false),
        }
    }
}

/// Proof that system `S` declared what filter `F` reads: `Added<T>` and
/// `Changed<T>` need `S: Reads<T>`; `With`/`Without` need nothing.
#[diagnostic::on_unimplemented(
    message = "system `{S}` did not declare what filter `{Self}` reads",
    label = "filtered here",
    note = "`Added<T>` and `Changed<T>` read the change ticks of `T`: declare `T` in `#[system(reads(..))]`"
)]
pub trait FilterDeclaredIn<S: ?Sized>: QueryFilter {}

impl<S: ?Sized, T: Component> FilterDeclaredIn<S> for With<T> {}
impl<S: ?Sized, T: Component> FilterDeclaredIn<S> for Without<T> {}
impl<S: ?Sized + Reads<T>, T: Component> FilterDeclaredIn<S> for Added<T> {}
impl<S: ?Sized + Reads<T>, T: Component> FilterDeclaredIn<S> for Changed<T> {}

macro_rules! impl_filter_tuple {
    ($($F:ident),*) => {
        impl<$($F: QueryFilter),*> Sealed for ($($F,)*) {}
        impl<$($F: QueryFilter),*> QueryFilter for ($($F,)*) {
            type Fetch<'a> = ($($F::Fetch<'a>,)*);
            type Key = ($($F::Key,)*);
            const ROW_FILTER: bool = false $(|| $F::ROW_FILTER)*;

            #[allow(unused_variables)]
            fn required(types: &mut Vec<TypeId>) {
                $($F::required(types);)*
            }

            #[allow(unused_variables)]
            fn excluded(types: &mut Vec<TypeId>) {
                $($F::excluded(types);)*
            }

            #[allow(unused_variables)]
            fn access(access: &mut ResourceAccess) {
                $($F::access(access);)*
            }

            #[allow(unused_variables, clippy::unused_unit)]
            fn filter_fetch<'a>(view: &TableView<'a>) -> Self::Fetch<'a> {
                ($($F::filter_fetch(view),)*)
            }

            #[allow(unused_variables)]
            fn branch<'a>(view: &TableView<'a>, branch: &mut Branch<'a>) {
                $($F::branch(view, branch);)*
            }
        }

        impl<S: ?Sized, $($F: FilterDeclaredIn<S>),*> FilterDeclaredIn<S> for ($($F,)*) {}
    };
}

for_each_tuple!(impl_filter_tuple);

/// Filter: entities that pass any filter of the tuple `T`, e.g.
/// `Or<(Changed<Position>, Added<Velocity>)>` or
/// `Or<(With<Selected>, Without<Frozen>)>`; a branch may itself be a tuple
/// (all of its filters hold) or an `Or`. (`Or<()>` passes nothing.)
///
/// Unlike a plain tuple, an `Or` matches no table ahead: every table that
/// the rest of the query matches is tested branch by branch (branches that
/// the table cannot pass are dropped once per table), and rows by the
/// remaining row-level conditions. As bevy_ecs's `Or`.
pub struct Or<T>(PhantomData<fn() -> T>);

macro_rules! impl_or {
    ($($F:ident),*) => {
        impl<$($F: QueryFilter),*> Sealed for Or<($($F,)*)> {}
        impl<$($F: QueryFilter),*> QueryFilter for Or<($($F,)*)> {
            type Fetch<'a> = OrFetch<'a>;
            type Key = Or<($($F::Key,)*)>;
            const ROW_FILTER: bool = true;

            fn required(_types: &mut Vec<TypeId>) {}

            fn excluded(_types: &mut Vec<TypeId>) {}

            #[allow(unused_variables)]
            fn access(access: &mut ResourceAccess) {
                // The union of the branches' tick reads.
                $($F::access(access);)*
            }

            #[allow(unused_variables, unused_mut)]
            fn filter_fetch<'a>(view: &TableView<'a>) -> OrFetch<'a> {
                let mut branches = Vec::new();
                $(
                    let mut branch = Branch::default();
                    $F::branch(view, &mut branch);
                    if branch.can_pass() {
                        branches.push(branch);
                    }
                )*
                OrFetch(branches)
            }

            fn branch<'a>(view: &TableView<'a>, branch: &mut Branch<'a>) {
                let OrFetch(branches) = Self::filter_fetch(view);
                if branches.is_empty() {
                    branch.require(false);
                } else {
                    branch.check(RowCheck::Any(branches));
                }
            }
        }

        impl<S: ?Sized, $($F: FilterDeclaredIn<S>),*> FilterDeclaredIn<S> for Or<($($F,)*)> {}
    };
}

for_each_tuple!(impl_or);

#[cfg(test)]
mod tests {
    use super::*;

    fn access_of<F: QueryFilter>() -> ResourceAccess {
        let mut access = ResourceAccess::new();
        F::access(&mut access);
        access
    }

    #[test]
    fn or_reads_the_union_of_its_branches_and_narrows_no_table() {
        type F = Or<(Changed<u32>, (Added<u64>, With<u8>), Without<i8>)>;
        let access = access_of::<F>();
        let mut reads: Vec<ResourceId> = access.reads().to_vec();
        reads.sort_by_key(|id| id.name());
        assert_eq!(reads, [ResourceId::of::<u32>(), ResourceId::of::<u64>()]);
        assert!(access.writes().is_empty());
        // A branch may not hold: only definite filters narrow tables.
        let (mut required, mut excluded) = (Vec::new(), Vec::new());
        F::required(&mut required);
        F::excluded(&mut excluded);
        assert!(required.is_empty() && excluded.is_empty());
        // A plain tuple is definite.
        type T = (With<u8>, Without<i8>, Changed<u32>);
        let (mut required, mut excluded) = (Vec::new(), Vec::new());
        T::required(&mut required);
        T::excluded(&mut excluded);
        assert_eq!(required, [TypeId::of::<u8>(), TypeId::of::<u32>()]);
        assert_eq!(excluded, [TypeId::of::<i8>()]);
        assert_eq!(access_of::<T>().reads(), [ResourceId::of::<u32>()]);
    }
}
