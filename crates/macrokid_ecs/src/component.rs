//! What can be a component, a resource and a bundle of components.

use std::cell::Cell;

use crate::storage::{Appender, ComponentType, RecordRows};
pub use crate::storage::{BundleWriter, RowSink};

/// Anything that can live in an entity's component set: every
/// `Send + Sync + 'static` type (a blanket impl, as in hecs).
///
/// An entity holds at most one component of each type; use newtypes
/// (`struct Position(Vec3)`) to tell apart values of the same type.
pub trait Component: Send + Sync + 'static {}

impl<T: Send + Sync + 'static> Component for T {}

/// Anything that can be a world resource (one value per type): every
/// `Send + Sync + 'static` type.
pub trait Resource: Send + Sync + 'static {}

impl<T: Send + Sync + 'static> Resource for T {}

mod sealed {
    #![allow(unreachable_pub)]
    /// Only this crate implements [`Bundle`](super::Bundle).
    pub trait Sealed {}
}
use sealed::Sealed;

/// A set of components spawned or inserted together: tuples of 0 to 8
/// distinct component types, e.g. `(Position, Velocity)`.
///
/// A bundle that names one type twice is rejected with a panic the first
/// time it is used (an entity holds one component per type).
pub trait Bundle: Sealed + Send + Sync + 'static {
    /// The component types, in tuple order.
    #[doc(hidden)]
    fn component_types() -> Vec<ComponentType>;

    /// Appends one row per bundle to the table of `writer`, in order.
    #[doc(hidden)]
    fn write_batch<I: Iterator<Item = Self>>(bundles: I, writer: &mut BundleWriter<'_>)
    where
        Self: Sized;
}

macro_rules! impl_bundle {
    ($(($T:ident, $v:ident)),*) => {
        impl<$($T: Component),*> Sealed for ($($T,)*) {}

        impl<$($T: Component),*> Bundle for ($($T,)*) {
            fn component_types() -> Vec<ComponentType> {
                vec![$(ComponentType::of::<$T>()),*]
            }

            #[allow(non_snake_case, unused_mut, unused_variables)]
            fn write_batch<I: Iterator<Item = Self>>(mut bundles: I, writer: &mut BundleWriter<'_>) {
                // Chunks of rows written column by column into reserved
                // room (one chunk when the size hint is exact), each made
                // rows at once; the next bundle is taken before reserving
                // again, so an exact hint never reserves past the batch.
                let mut next = bundles.next();
                while let Some(($($v,)*)) = next {
                    let additional = bundles.size_hint().0.saturating_add(1);
                    // The rows written so far in this chunk, for the drops
                    // below (set after each whole row).
                    let written = Cell::new(0);
                    let ([$($T),*], rows) = writer.chunk(additional);
                    // Dropped in reverse order, also when the iterator
                    // panics: the rows first (entities, ticks and the
                    // table's length), then the appenders (staging column
                    // lengths), so every yielded bundle is a whole row.
                    $(let mut $T = Appender::<$T>::new($T, additional, &written);)*
                    let room = rows.room() $(.min($T.room()))*;
                    let _record = RecordRows::new(rows, &written);
                    $($T.push_at(0, $v);)*
                    let mut count = 1;
                    written.set(count);
                    next = None;
                    while count < room {
                        match bundles.next() {
                            Some(($($v,)*)) => {
                                $($T.push_at(count, $v);)*
                                count += 1;
                                written.set(count);
                            }
                            None => break,
                        }
                    }
                    if count == room {
                        next = bundles.next();
                    }
                }
            }
        }
    };
}

impl_bundle!();
impl_bundle!((A, a));
impl_bundle!((A, a), (B, b));
impl_bundle!((A, a), (B, b), (C, c));
impl_bundle!((A, a), (B, b), (C, c), (D, d));
impl_bundle!((A, a), (B, b), (C, c), (D, d), (E, e));
impl_bundle!((A, a), (B, b), (C, c), (D, d), (E, e), (F, f));
impl_bundle!((A, a), (B, b), (C, c), (D, d), (E, e), (F, f), (G, g));
impl_bundle!(
    (A, a),
    (B, b),
    (C, c),
    (D, d),
    (E, e),
    (F, f),
    (G, g),
    (H, h)
);
