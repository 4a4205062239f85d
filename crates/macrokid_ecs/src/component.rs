//! What can be a component, a resource and a bundle of components.

use crate::entity::{Entities, Entity, Location};
use crate::storage::{typed_mut, Archetype, ArchetypeId, ComponentType, ErasedColumn};

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
        let row =
            u32::try_from(self.table_entities.len()).expect("more than 2^32 entities in one table");
        let location = Location {
            archetype: self.archetype,
            row,
        };
        let entity = match self.reserved.take() {
            Some(entity) => {
                self.entities
                    .place(entity, location)
                    .expect("`World::spawn_reserved` checked the reservation");
                entity
            }
            None => self.entities.alloc(location),
        };
        self.table_entities.push(entity);
        self.spawned.push(entity);
    }
}

impl<'a> BundleWriter<'a> {
    /// `spawned` receives the new entities, in order.
    pub(crate) fn new(
        table: &'a mut Archetype,
        archetype: ArchetypeId,
        order: &'a [usize],
        staging: &'a mut [Box<dyn ErasedColumn>],
        entities: &'a mut Entities,
        spawned: &'a mut Vec<Entity>,
    ) -> Self {
        let (columns, table_entities) = table.columns_and_entities();
        Self {
            columns,
            staging,
            order,
            rows: RowSink {
                table_entities,
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

            #[allow(non_snake_case)]
            fn write_batch<I: Iterator<Item = Self>>(bundles: I, writer: &mut BundleWriter<'_>) {
                let ([$($T),*], rows) = writer.split();
                $(let $T = column_vec::<$T>($T);)*
                for ($($v,)*) in bundles {
                    $($T.push($v);)*
                    rows.row();
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
