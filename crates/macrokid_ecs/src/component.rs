//! What can be a component, a resource and a bundle of components.

use std::cell::Cell;

use crate::change::{ComponentTicks, Tick};
use crate::entity::{Entities, Entity, Location};
use crate::storage::{
    typed_mut, Appender, Archetype, ArchetypeId, ComponentType, ErasedColumn, TickColumn,
};

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

/// Appends bundles as rows of one table: its columns (downcast once per
/// batch) and a sink that allocates each row's entity.
#[doc(hidden)]
pub struct BundleWriter<'a> {
    columns: &'a mut [Box<dyn ErasedColumn>],
    /// Columns of the sparse elements, drained into their sparse sets
    /// afterwards.
    staging: &'a mut [Box<dyn ErasedColumn>],
    /// Column index for each tuple element (`columns.len() + i`: staging
    /// column `i`).
    order: &'a [usize],
    rows: RowSink<'a>,
}

/// Allocates the entity of each new row.
#[doc(hidden)]
pub struct RowSink<'a> {
    table_entities: &'a mut Vec<Entity>,
    /// The table's ticks, stamped `tick` (added and changed) for each
    /// new row as it is recorded.
    ticks: &'a mut [TickColumn],
    tick: Tick,
    entities: &'a mut Entities,
    archetype: ArchetypeId,
    spawned: &'a mut Vec<Entity>,
    /// The id the next row takes instead of a new one: a flushed
    /// reservation (`World::spawn_reserved`).
    reserved: Option<Entity>,
}

impl RowSink<'_> {
    /// Records one more row, whose components were pushed to every column.
    #[inline]
    pub fn row(&mut self) {
        self.rows(1);
    }

    /// Records `count` more rows, whose components were pushed to every
    /// column: their entities are allocated in one pass (a flushed
    /// reservation takes the first row when there is one).
    ///
    /// # Panics
    /// When the table or the entity table would pass 2^32 entries.
    #[inline]
    pub fn rows(&mut self, mut count: usize) {
        if count == 0 {
            return;
        }
        let first = self.table_entities.len();
        if let Some(entity) = self.reserved.take() {
            let row = u32::try_from(first).expect("more than 2^32 entities in one table");
            self.entities
                .place(
                    entity,
                    Location {
                        archetype: self.archetype,
                        row,
                    },
                )
                .expect("`World::spawn_reserved` checked the reservation");
            self.table_entities.push(entity);
            count -= 1;
        }
        let next = self.table_entities.len();
        self.entities
            .alloc_rows(self.archetype, next, count, self.table_entities);
        self.spawned
            .extend_from_slice(&self.table_entities[first..]);
        let len = self.table_entities.len();
        for ticks in self.ticks.iter_mut() {
            ticks.resize(len, ComponentTicks::new(self.tick));
        }
    }
}

/// Records `count` rows on drop (see `Bundle::write_batch`).
pub(crate) struct RecordRows<'s, 'a> {
    rows: &'s mut RowSink<'a>,
    count: &'s Cell<usize>,
}

impl Drop for RecordRows<'_, '_> {
    fn drop(&mut self) {
        self.rows.rows(self.count.get());
    }
}

impl<'a> BundleWriter<'a> {
    /// `spawned` receives the new entities, in order; the new rows are
    /// stamped added and changed at `tick`.
    pub(crate) fn new(
        table: &'a mut Archetype,
        archetype: ArchetypeId,
        order: &'a [usize],
        staging: &'a mut [Box<dyn ErasedColumn>],
        entities: &'a mut Entities,
        spawned: &'a mut Vec<Entity>,
        tick: Tick,
    ) -> Self {
        let (columns, ticks, table_entities) = table.columns_and_entities();
        Self {
            columns,
            staging,
            order,
            rows: RowSink {
                table_entities,
                ticks,
                tick,
                entities,
                archetype,
                spawned,
                reserved: None,
            },
        }
    }

    /// The first row takes `entity` (a flushed, unplaced reservation)
    /// instead of a new id.
    pub(crate) fn with_reserved(mut self, entity: Entity) -> Self {
        self.rows.reserved = Some(entity);
        self
    }

    /// The column of each tuple element (`N` elements), and the row sink.
    pub fn split<const N: usize>(&mut self) -> ([&mut dyn ErasedColumn; N], &mut RowSink<'a>) {
        assert_eq!(N, self.order.len(), "bundle arity and column order differ");
        let mut out: [Option<&mut dyn ErasedColumn>; N] = [const { None }; N];
        for (index, column) in self
            .columns
            .iter_mut()
            .chain(self.staging.iter_mut())
            .enumerate()
        {
            if let Some(element) = self.order.iter().position(|&c| c == index) {
                out[element] = Some(column.as_mut());
            }
        }
        (
            out.map(|c| c.expect("every bundle element has a column")),
            &mut self.rows,
        )
    }
}

/// The rows of a column of `T`.
pub(crate) fn column_vec<T: Component>(column: &mut dyn ErasedColumn) -> &mut Vec<T> {
    typed_mut::<T>(column).vec_mut()
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
                let ([$($T),*], rows) = writer.split();
                $(let $T = column_vec::<$T>($T);)*
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
                    // Dropped in reverse order, also when the iterator
                    // panics: the rows first (entities and ticks), then the
                    // appenders (column lengths), so every yielded bundle
                    // is a whole row.
                    $(let mut $T = Appender::new(&mut *$T, additional, &written);)*
                    let room = usize::MAX $(.min($T.room()))*;
                    let _record = RecordRows { rows: &mut *rows, count: &written };
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
