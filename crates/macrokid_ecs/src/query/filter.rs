//! Table-level query filters.

use std::any::TypeId;
use std::marker::PhantomData;

use crate::component::Component;

mod sealed {
    #![allow(unreachable_pub)]
    /// Only this crate implements [`QueryFilter`](super::QueryFilter).
    pub trait Sealed {}
}
use sealed::Sealed;

/// Narrows the tables a query matches without fetching anything:
/// [`With<T>`], [`Without<T>`], `()` (no filter) and tuples of up to 8
/// filters (all must hold).
///
/// Filters read no component data, so a system needs no `Reads<T>` for them.
pub trait QueryFilter: Sealed {
    /// Records the types a table must have.
    #[doc(hidden)]
    fn required(types: &mut Vec<TypeId>);

    /// Records the types a table must not have.
    #[doc(hidden)]
    fn excluded(types: &mut Vec<TypeId>);
}

/// Filter: only entities that have a `T`.
pub struct With<T>(PhantomData<fn() -> T>);

/// Filter: only entities that have no `T`.
pub struct Without<T>(PhantomData<fn() -> T>);

impl<T: Component> Sealed for With<T> {}
impl<T: Component> QueryFilter for With<T> {
    fn required(types: &mut Vec<TypeId>) {
        types.push(TypeId::of::<T>());
    }

    fn excluded(_types: &mut Vec<TypeId>) {}
}

impl<T: Component> Sealed for Without<T> {}
impl<T: Component> QueryFilter for Without<T> {
    fn required(_types: &mut Vec<TypeId>) {}

    fn excluded(types: &mut Vec<TypeId>) {
        types.push(TypeId::of::<T>());
    }
}

macro_rules! impl_filter_tuple {
    ($($F:ident),*) => {
        impl<$($F: QueryFilter),*> Sealed for ($($F,)*) {}
        impl<$($F: QueryFilter),*> QueryFilter for ($($F,)*) {
            #[allow(unused_variables)]
            fn required(types: &mut Vec<TypeId>) {
                $($F::required(types);)*
            }

            #[allow(unused_variables)]
            fn excluded(types: &mut Vec<TypeId>) {
                $($F::excluded(types);)*
            }
        }
    };
}

for_each_tuple!(impl_filter_tuple);
