//! What a query can ask for per entity ([`QueryData`]) and how it walks a
//! table (a `Fetch`), plus the compile-time check that a system declared
//! what its queries touch ([`DeclaredIn`]).

use std::any::TypeId;
use std::marker::PhantomData;

use macrokid_core::{Reads, ResourceAccess, Writes};

use crate::change::Mut;
use crate::component::Component;
use crate::entity::Entity;
use crate::storage::{
    add_query_access, EntityFetch, Fetch, HasFetch, Mode, OptionFetch, ReadFetch, TableView,
    WriteFetch,
};

mod sealed {
    #![allow(unreachable_pub)]
    /// Only this crate implements [`QueryData`](super::QueryData).
    pub trait Sealed {}
}
use sealed::Sealed;

/// The per-entity part of a query: `&T`, `&mut T` (yielding a
/// [`Mut<T>`](crate::Mut), which records a change only when written
/// through), `Option<&T>`, `Option<&mut T>`, [`Entity`], and tuples of up to
/// 8 of these.
///
/// A query matches the tables that have every component named as `&T` or
/// `&mut T`; `Option<..>` items match with or without their component.
/// Naming one component twice when at least one is mutable
/// (`(&mut A, &A)`) is a panic when the query is made: it would alias.
pub trait QueryData: Sealed {
    /// What the query yields for one entity, borrowing the world for `'a`.
    type Item<'a>;

    #[doc(hidden)]
    type Fetch<'a>: Fetch<Item = Self::Item<'a>>;

    /// A `'static` type that stands for this query type (the same shape
    /// with `'static` borrows): the key of the world's per-query cache.
    #[doc(hidden)]
    type Key: 'static;

    /// Records the component types used and how, as reads and writes of
    /// their [`ResourceId`](macrokid_core::ResourceId)s.
    ///
    /// # Panics
    /// When a component is named twice, at least once mutably.
    #[doc(hidden)]
    fn access(access: &mut ResourceAccess);

    /// Records the component types a table must have to match.
    #[doc(hidden)]
    fn required(types: &mut Vec<TypeId>);

    /// Starts walking a matched table.
    #[doc(hidden)]
    fn fetch<'a>(view: &mut TableView<'a>) -> Self::Fetch<'a>;
}

fn matched_but_missing<T>() -> ! {
    panic!(
        "query invariant broken: a matched table lacks the required component `{}`",
        std::any::type_name::<T>()
    )
}

impl<T: Component> Sealed for &T {}
impl<T: Component> QueryData for &T {
    type Key = &'static T;
    type Item<'a> = &'a T;
    type Fetch<'a> = ReadFetch<'a, T>;

    fn access(access: &mut ResourceAccess) {
        add_query_access::<T>(access, Mode::Read);
    }

    fn required(types: &mut Vec<TypeId>) {
        types.push(TypeId::of::<T>());
    }

    #[inline]
    fn fetch<'a>(view: &mut TableView<'a>) -> ReadFetch<'a, T> {
        view.read_fetch::<T>()
            .unwrap_or_else(|| matched_but_missing::<T>())
    }
}

impl<T: Component> Sealed for &mut T {}
impl<T: Component> QueryData for &mut T {
    type Key = &'static mut T;
    type Item<'a> = Mut<'a, T>;
    type Fetch<'a> = WriteFetch<'a, T>;

    fn access(access: &mut ResourceAccess) {
        add_query_access::<T>(access, Mode::Write);
    }

    fn required(types: &mut Vec<TypeId>) {
        types.push(TypeId::of::<T>());
    }

    #[inline]
    fn fetch<'a>(view: &mut TableView<'a>) -> WriteFetch<'a, T> {
        view.write_fetch::<T>()
            .unwrap_or_else(|| matched_but_missing::<T>())
    }
}

impl<T: Component> Sealed for Option<&T> {}
impl<T: Component> QueryData for Option<&T> {
    type Key = Option<&'static T>;
    type Item<'a> = Option<&'a T>;
    type Fetch<'a> = OptionFetch<ReadFetch<'a, T>>;

    fn access(access: &mut ResourceAccess) {
        add_query_access::<T>(access, Mode::Read);
    }

    fn required(_types: &mut Vec<TypeId>) {}

    fn fetch<'a>(view: &mut TableView<'a>) -> Self::Fetch<'a> {
        OptionFetch::new(view.read_fetch::<T>())
    }
}

impl<T: Component> Sealed for Option<&mut T> {}
impl<T: Component> QueryData for Option<&mut T> {
    type Key = Option<&'static mut T>;
    type Item<'a> = Option<Mut<'a, T>>;
    type Fetch<'a> = OptionFetch<WriteFetch<'a, T>>;

    fn access(access: &mut ResourceAccess) {
        add_query_access::<T>(access, Mode::Write);
    }

    fn required(_types: &mut Vec<TypeId>) {}

    fn fetch<'a>(view: &mut TableView<'a>) -> Self::Fetch<'a> {
        OptionFetch::new(view.write_fetch::<T>())
    }
}

impl Sealed for Entity {}
impl QueryData for Entity {
    type Key = Entity;
    type Item<'a> = Entity;
    type Fetch<'a> = EntityFetch<'a>;

    fn access(_access: &mut ResourceAccess) {}

    fn required(_types: &mut Vec<TypeId>) {}

    fn fetch<'a>(view: &mut TableView<'a>) -> EntityFetch<'a> {
        EntityFetch::new(view.entities())
    }
}

/// Query item: whether the entity has a `T` (`bool`), without reading it
/// (so no declaration is needed, and it matches with or without `T`).
pub struct Has<T>(PhantomData<fn() -> T>);

impl<T: Component> Sealed for Has<T> {}
impl<T: Component> QueryData for Has<T> {
    type Key = Has<T>;
    type Item<'a> = bool;
    type Fetch<'a> = HasFetch<'a>;

    fn access(_access: &mut ResourceAccess) {}

    fn required(_types: &mut Vec<TypeId>) {}

    fn fetch<'a>(view: &mut TableView<'a>) -> HasFetch<'a> {
        view.has_fetch::<T>()
    }
}

/// Query data that only reads: `&T`, `Option<&T>`, [`Entity`], [`Has<T>`]
/// and tuples of these. Such queries can run on a shared `&World`
/// ([`World::query_ref`](crate::World::query_ref)).
pub trait ReadOnlyQueryData: QueryData {}

impl<T: Component> ReadOnlyQueryData for &T {}
impl<T: Component> ReadOnlyQueryData for Option<&T> {}
impl ReadOnlyQueryData for Entity {}
impl<T: Component> ReadOnlyQueryData for Has<T> {}

/// Proof that system `S` declared every component the query touches:
/// `&T` and `Option<&T>` need `S: Reads<T>`, `&mut T` and `Option<&mut T>`
/// need `S: Writes<T>`; [`Entity`] needs nothing.
///
/// [`SystemCx::query`](crate::SystemCx::query) bounds on it, so a query of
/// undeclared data does not compile.
#[diagnostic::on_unimplemented(
    message = "system `{S}` did not declare all data of query `{Self}`",
    label = "queried here",
    note = "declare each `&T` in `#[system(reads(..))]` and each `&mut T` in `#[system(writes(..))]`"
)]
pub trait DeclaredIn<S: ?Sized>: QueryData {}

impl<S: ?Sized + Reads<T>, T: Component> DeclaredIn<S> for &T {}
impl<S: ?Sized + Writes<T>, T: Component> DeclaredIn<S> for &mut T {}
impl<S: ?Sized + Reads<T>, T: Component> DeclaredIn<S> for Option<&T> {}
impl<S: ?Sized + Writes<T>, T: Component> DeclaredIn<S> for Option<&mut T> {}
impl<S: ?Sized> DeclaredIn<S> for Entity {}
impl<S: ?Sized, T: Component> DeclaredIn<S> for Has<T> {}

macro_rules! impl_tuple {
    ($($Q:ident),*) => {
        impl<$($Q: QueryData),*> Sealed for ($($Q,)*) {}
        impl<$($Q: QueryData),*> QueryData for ($($Q,)*) {
            type Item<'a> = ($($Q::Item<'a>,)*);
            type Fetch<'a> = ($($Q::Fetch<'a>,)*);
            type Key = ($($Q::Key,)*);

            #[allow(unused_variables)]
            fn access(access: &mut ResourceAccess) {
                $($Q::access(access);)*
            }

            #[allow(unused_variables)]
            fn required(types: &mut Vec<TypeId>) {
                $($Q::required(types);)*
            }

            #[allow(unused_variables, clippy::unused_unit)]
            fn fetch<'a>(view: &mut TableView<'a>) -> Self::Fetch<'a> {
                ($($Q::fetch(view),)*)
            }
        }

        impl<S: ?Sized, $($Q: DeclaredIn<S>),*> DeclaredIn<S> for ($($Q,)*) {}
        impl<$($Q: ReadOnlyQueryData),*> ReadOnlyQueryData for ($($Q,)*) {}
    };
}

for_each_tuple!(impl_tuple);
