//! Appending bundles as table rows (`World::spawn`, `World::spawn_batch`):
//! values are written column by column into the spare rows of a table's
//! block (and of the staging columns of sparse components), then made rows
//! all at once.

use std::any::TypeId;
use std::cell::Cell;
use std::marker::PhantomData;

use super::archetype::{Archetype, ArchetypeId};
use super::block::Block;
use super::column::{typed_mut, ErasedColumn};
use crate::change::Tick;
use crate::entity::{Entities, Entity, Location};

/// Appends bundles as rows of one table: its block, the staging columns of
/// sparse elements, and a sink that allocates each row's entity.
#[doc(hidden)]
pub struct BundleWriter<'a> {
    /// Columns of the sparse elements, drained into their sparse sets
    /// afterwards.
    staging: &'a mut [Box<dyn ErasedColumn>],
    /// Column index for each tuple element (`table columns + i`: staging
    /// column `i`).
    order: &'a [usize],
    rows: RowSink<'a>,
}

/// Makes written values rows and allocates their entities.
#[doc(hidden)]
pub struct RowSink<'a> {
    table: &'a mut Block,
    /// The new rows' ticks (added and changed).
    tick: Tick,
    entities: &'a mut Entities,
    archetype: ArchetypeId,
    spawned: &'a mut Vec<Entity>,
    /// The id the next row takes instead of a new one: a flushed
    /// reservation (`World::spawn_reserved`).
    reserved: Option<Entity>,
}

impl RowSink<'_> {
    /// How many rows the table has room for (spare rows of its block).
    #[inline]
    pub(crate) fn room(&self) -> usize {
        self.table.spare_rows()
    }

    /// Makes `count` more rows of the values written to the spare rows of
    /// every table column: their entities are allocated in one pass (a
    /// flushed reservation takes the first row when there is one), pushed
    /// onto `spawned`, and the rows stamped added and changed at `tick`.
    ///
    /// Called only by [`RecordRows`], with the count the
    /// [`Appender`]s of the same chunk wrote.
    ///
    /// # Panics
    /// When the table or the entity table would pass 2^32 entries, or
    /// `count` passes the table's room.
    fn rows(&mut self, mut count: usize) {
        if count == 0 {
            return;
        }
        assert!(
            count <= self.room(),
            "storage invariant broken: more rows recorded than a table has room for"
        );
        let first = self.spawned.len();
        let mut row = self.table.len();
        if let Some(entity) = self.reserved.take() {
            let location = Location {
                archetype: self.archetype,
                row: u32::try_from(row).expect("more than 2^32 entities in one table"),
            };
            self.entities
                .place(entity, location)
                .expect("`World::spawn_reserved` checked the reservation");
            self.spawned.push(entity);
            count -= 1;
            row += 1;
        }
        self.entities
            .alloc_rows(self.archetype, row, count, self.spawned);
        // SAFETY: the appenders of this chunk wrote a value to each of
        // these spare rows of every table column before `RecordRows` passed
        // their count here (the `Appender` contract: `written` is set only
        // after whole rows); the count fits the room (checked above).
        unsafe { self.table.append_rows(&self.spawned[first..], self.tick) };
    }
}

/// Records `count` rows on drop (see `Bundle::write_batch`), also when a
/// bundle iterator panics: the rows written so far are kept.
pub(crate) struct RecordRows<'s, 'a> {
    rows: &'s mut RowSink<'a>,
    count: &'s Cell<usize>,
}

impl<'s, 'a> RecordRows<'s, 'a> {
    /// Records the `count` rows of `rows`' chunk when dropped.
    pub(crate) fn new(rows: &'s mut RowSink<'a>, count: &'s Cell<usize>) -> Self {
        Self { rows, count }
    }
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
        Self {
            staging,
            order,
            rows: RowSink {
                table: table.block_mut(),
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

    /// Makes room for at least `additional` more rows and returns where the
    /// values of each tuple element (`N` elements) go, and the row sink.
    ///
    /// # Panics
    /// When `N` is not the bundle's arity (a storage invariant).
    pub(crate) fn chunk<const N: usize>(
        &mut self,
        additional: usize,
    ) -> ([ColumnSlot<'_>; N], &mut RowSink<'a>) {
        assert_eq!(N, self.order.len(), "bundle arity and column order differ");
        let block = &mut *self.rows.table;
        block.reserve(additional);
        let table_columns = block.column_count();
        let mut out: [Option<ColumnSlot<'_>>; N] = [const { None }; N];
        for (element, &index) in self.order.iter().enumerate() {
            if index < table_columns {
                let (next, room, type_id) = block.spare(index);
                out[element] = Some(ColumnSlot(Slot::Table {
                    next,
                    room,
                    type_id,
                    _block: PhantomData,
                }));
            }
        }
        for (i, column) in self.staging.iter_mut().enumerate() {
            if let Some(element) = self.order.iter().position(|&c| c == table_columns + i) {
                out[element] = Some(ColumnSlot(Slot::Staging(column.as_mut())));
            }
        }
        (
            out.map(|c| c.expect("every bundle element has a column")),
            &mut self.rows,
        )
    }
}

/// Where the values of one bundle element go: the spare rows of a table
/// column, or a staging column. Made only by [`BundleWriter::chunk`].
pub(crate) struct ColumnSlot<'s>(Slot<'s>);

enum Slot<'s> {
    /// Row `len` of a table column and the room after it (valid while the
    /// writer stays borrowed: nothing reallocates the block meanwhile).
    Table {
        next: *mut u8,
        room: usize,
        type_id: TypeId,
        _block: PhantomData<&'s mut Block>,
    },
    Staging(&'s mut dyn ErasedColumn),
}

impl<'s> ColumnSlot<'s> {
    /// A slot appending to `column` (tests of the appender).
    #[cfg(test)]
    pub(crate) fn staging(column: &'s mut dyn ErasedColumn) -> Self {
        Self(Slot::Staging(column))
    }
}

/// Appends values to spare rows: a table column's (made rows by the
/// [`RowSink`] of the chunk) or a staging column's `Vec` (made rows when
/// the appender drops), so that a batch of bundles is written column by
/// column without a capacity check and length store per value.
///
/// The appenders of one chunk share a row count (`written`, set by their
/// user after each whole row, so it stays in a register in between):
/// the chunk's [`RecordRows`] and each staging appender make that many
/// values rows when dropped, also when a panic unwinds past them (a bundle
/// iterator that panics keeps the rows it yielded, as one-by-one pushes
/// would). Contract of the user: `written` never counts a row before every
/// appender of the chunk wrote its value of that row.
pub(crate) struct Appender<'s, T> {
    /// A staging column (made `written` values longer on drop); `None` for
    /// a table column.
    vec: Option<&'s mut Vec<T>>,
    /// The first spare slot.
    base: *mut T,
    room: usize,
    written: &'s Cell<usize>,
}

impl<'s, T: Send + Sync + 'static> Appender<'s, T> {
    /// An appender to `slot`, with room for at least `additional` values
    /// (a staging column reserves them as [`Vec::reserve`] does; a table's
    /// block was reserved by [`BundleWriter::chunk`]); committing `written`
    /// values on drop.
    ///
    /// # Panics
    /// When the slot does not hold `T` (a storage invariant).
    #[inline]
    pub(crate) fn new(slot: ColumnSlot<'s>, additional: usize, written: &'s Cell<usize>) -> Self {
        match slot.0 {
            Slot::Table {
                next,
                room,
                type_id,
                ..
            } => {
                assert!(
                    type_id == TypeId::of::<T>(),
                    "storage invariant broken: a bundle element is not of its column's type"
                );
                Self {
                    vec: None,
                    base: next.cast(),
                    room,
                    written,
                }
            }
            Slot::Staging(column) => {
                let vec = typed_mut::<T>(column).vec_mut();
                vec.reserve(additional);
                let room = vec.capacity() - vec.len();
                // SAFETY: `len <= capacity`, so the offset stays inside (or
                // one past) the allocation.
                let base = unsafe { vec.as_mut_ptr().add(vec.len()) };
                Self {
                    vec: Some(vec),
                    base,
                    room,
                    written,
                }
            }
        }
    }

    /// How many values fit in all (the spare room).
    #[inline]
    pub(crate) fn room(&self) -> usize {
        self.room
    }

    /// Writes `value` to spare slot `index` (the row count so far: each
    /// slot is written once, in order, before the count passes it).
    ///
    /// # Panics
    /// When `index` is not below [`room`](Self::room).
    #[inline(always)]
    pub(crate) fn push_at(&mut self, index: usize, value: T) {
        assert!(
            index < self.room,
            "storage invariant broken: an appender pushed past its room"
        );
        // SAFETY: `index < room`: the slot is a spare slot of a `T` column
        // (a table block's column, type checked in `new`, or the vector's
        // allocation), which the appender's borrow keeps from reallocating
        // and from every other access.
        unsafe { self.base.add(index).write(value) };
    }
}

impl<T> Drop for Appender<'_, T> {
    /// Makes the first `written` spare slots rows of a staging column
    /// (after the old rows, in order); a table column's are made rows by
    /// the chunk's [`RecordRows`].
    fn drop(&mut self) {
        if let Some(vec) = self.vec.as_mut() {
            let written = self.written.get().min(self.room);
            // SAFETY: the user sets `written` only after writing every slot
            // below it (`push_at`), within the room; the borrow of the
            // vector ends with the appender, so nothing observed the length
            // between.
            unsafe { vec.set_len(vec.len() + written) };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::archetype::ComponentType;
    use crate::storage::column::TypedColumn;
    use crate::storage::counted::Counted;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    fn ids(column: &mut dyn ErasedColumn) -> Vec<u32> {
        typed_mut::<Counted>(column)
            .vec_mut()
            .iter()
            .map(|c| c.1)
            .collect()
    }

    #[test]
    fn staging_appender_makes_counted_values_rows_in_order() {
        let drops = Arc::new(AtomicUsize::new(0));
        let mut rows = TypedColumn::<Counted>::from_vec(vec![Counted(drops.clone(), 0)]);
        let written = Cell::new(0);
        let mut appender =
            Appender::<Counted>::new(ColumnSlot::staging(rows.as_mut()), 3, &written);
        assert!(appender.room() >= 3);
        for i in 0..3 {
            appender.push_at(i, Counted(drops.clone(), i as u32 + 1));
            written.set(i + 1);
        }
        drop(appender);
        assert_eq!(ids(rows.as_mut()), [0, 1, 2, 3]);
        assert_eq!(drops.load(Ordering::SeqCst), 0);
        // Unwinding past an appender keeps the counted values.
        let unwound = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let written = Cell::new(0);
            let mut appender =
                Appender::<Counted>::new(ColumnSlot::staging(rows.as_mut()), 2, &written);
            appender.push_at(0, Counted(drops.clone(), 4));
            appender.push_at(1, Counted(drops.clone(), 5));
            written.set(2);
            panic!("a bundle iterator panics");
        }));
        assert!(unwound.is_err());
        assert_eq!(drops.load(Ordering::SeqCst), 0);
        assert_eq!(ids(rows.as_mut()), [0, 1, 2, 3, 4, 5]);
        // Pushing past the room panics without writing.
        let written = Cell::new(0);
        let mut appender =
            Appender::<Counted>::new(ColumnSlot::staging(rows.as_mut()), 0, &written);
        let room = appender.room();
        let over = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            appender.push_at(room, Counted(drops.clone(), 99));
        }));
        assert!(over.is_err());
        // The value passed to the failed push was dropped by the panic.
        assert_eq!(drops.load(Ordering::SeqCst), 1);
        drop(appender);
        assert_eq!(rows.row_count(), 6);
        drop(rows);
        assert_eq!(drops.load(Ordering::SeqCst), 7);
    }

    #[test]
    fn table_chunks_keep_whole_rows_when_a_bundle_iterator_panics() {
        let drops = Arc::new(AtomicUsize::new(0));
        let mut components = [ComponentType::of::<Counted>(), ComponentType::of::<u16>()];
        components.sort_by_key(|c| c.type_id);
        let counted = components
            .iter()
            .position(|c| c.type_id == TypeId::of::<Counted>())
            .unwrap();
        let mut table = Archetype::new(&components);
        let mut entities = Entities::default();
        let mut spawned = Vec::new();
        // Tuple order (Counted, u16): the column of each element.
        let order = [counted, 1 - counted];
        let unwound = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let mut writer = BundleWriter::new(
                &mut table,
                0,
                &order,
                &mut [],
                &mut entities,
                &mut spawned,
                Tick::new(3),
            );
            let written = Cell::new(0);
            let ([a, b], rows) = writer.chunk::<2>(4);
            let mut a = Appender::<Counted>::new(a, 4, &written);
            let mut b = Appender::<u16>::new(b, 4, &written);
            let room = rows.room().min(a.room()).min(b.room());
            assert!(room >= 4);
            let _record = RecordRows::new(rows, &written);
            for i in 0..3 {
                a.push_at(i, Counted(drops.clone(), i as u32));
                b.push_at(i, 10 + i as u16);
                written.set(i + 1);
            }
            // A fourth value is written to one column only, then the
            // iterator panics: the row is not made.
            b.push_at(3, 99);
            panic!("a bundle iterator panics");
        }));
        assert!(unwound.is_err());
        assert_eq!(table.len(), 3);
        assert_eq!(spawned.len(), 3);
        assert_eq!(table.entities(), &spawned[..]);
        for (row, &entity) in spawned.iter().enumerate() {
            let location = entities.location(entity).unwrap();
            assert_eq!(location.row as usize, row);
            assert_eq!(table.get::<Counted>(row).unwrap().1, row as u32);
            assert_eq!(table.get::<u16>(row), Some(&(10 + row as u16)));
            assert_eq!(table.row_ticks(0, row).changed, Tick::new(3));
        }
        assert_eq!(drops.load(Ordering::SeqCst), 0);
        drop(table);
        assert_eq!(drops.load(Ordering::SeqCst), 3);
    }
}
