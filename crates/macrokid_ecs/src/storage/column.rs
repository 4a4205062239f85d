//! Type-erased component columns: one `Vec<T>` per component type per
//! archetype, behind an `UnsafeCell` so that disjoint borrows of different
//! columns can be handed out through a shared `&World`.

use std::any::Any;
use std::cell::{Cell, UnsafeCell};

use crate::change::{ComponentTicks, Tick};

/// The added/changed ticks of one column, row for row, behind
/// `UnsafeCell`s under the same borrow flag as the column (a writer of `T`
/// stamps them through [`TickColumn::write_ptrs`]).
///
/// Kept as two arrays (added ticks, changed ticks) rather than one of
/// [`ComponentTicks`]: a query that writes a column stamps only the changed
/// ticks, and contiguous stamps are what lets the compiler turn the stamping
/// of a dense table walk into vector stores (half the tick bytes touched per
/// row, too). Both arrays always have the same length.
#[derive(Default)]
pub(crate) struct TickColumn {
    added: UnsafeCell<Vec<Tick>>,
    changed: UnsafeCell<Vec<Tick>>,
}

// SAFETY: `Tick` is plain data; shared access follows the storage
// invariants of `storage/mod.rs` exactly as for the column it belongs to.
unsafe impl Sync for TickColumn {}

impl TickColumn {
    /// `rows` rows stamped `tick`.
    pub(crate) fn filled(rows: usize, tick: Tick) -> Self {
        Self {
            added: UnsafeCell::new(vec![tick; rows]),
            changed: UnsafeCell::new(vec![tick; rows]),
        }
    }

    /// Appends a row.
    #[inline]
    pub(crate) fn push(&mut self, ticks: ComponentTicks) {
        self.added.get_mut().push(ticks.added);
        self.changed.get_mut().push(ticks.changed);
    }

    /// Removes row `row` (the last row takes its place) and returns it.
    ///
    /// # Panics
    /// When `row` is out of bounds.
    #[inline]
    pub(crate) fn swap_remove(&mut self, row: usize) -> ComponentTicks {
        ComponentTicks {
            added: self.added.get_mut().swap_remove(row),
            changed: self.changed.get_mut().swap_remove(row),
        }
    }

    /// Removes row `row` (the last row takes its place) and appends it to
    /// `dst` (a table move).
    ///
    /// # Panics
    /// When `row` is out of bounds.
    #[inline]
    pub(crate) fn swap_remove_into(&mut self, row: usize, dst: &mut TickColumn) {
        dst.added
            .get_mut()
            .push(self.added.get_mut().swap_remove(row));
        dst.changed
            .get_mut()
            .push(self.changed.get_mut().swap_remove(row));
    }

    /// Grows (or shrinks) to `rows` rows, new rows stamped `ticks`.
    pub(crate) fn resize(&mut self, rows: usize, ticks: ComponentTicks) {
        self.added.get_mut().resize(rows, ticks.added);
        self.changed.get_mut().resize(rows, ticks.changed);
    }

    /// Reserves room for `additional` more rows.
    pub(crate) fn reserve(&mut self, additional: usize) {
        self.added.get_mut().reserve(additional);
        self.changed.get_mut().reserve(additional);
    }

    /// Removes every row.
    pub(crate) fn clear(&mut self) {
        self.added.get_mut().clear();
        self.changed.get_mut().clear();
    }

    /// Clamps every tick to at most `MAX_CHANGE_AGE` before `now`.
    pub(crate) fn check(&mut self, now: Tick) {
        for tick in self.added.get_mut().iter_mut() {
            tick.check(now);
        }
        for tick in self.changed.get_mut().iter_mut() {
            tick.check(now);
        }
    }

    /// The ticks of row `row`, through exclusive access: the added tick
    /// and the changed tick, mutable.
    ///
    /// # Panics
    /// When `row` is out of bounds.
    #[inline]
    pub(crate) fn row_mut(&mut self, row: usize) -> (&mut Tick, &mut Tick) {
        (
            &mut self.added.get_mut()[row],
            &mut self.changed.get_mut()[row],
        )
    }

    /// Stamps the rows `rows` as added at `tick`, through exclusive access
    /// (added for `World::mark_column_changed`).
    ///
    /// # Panics
    /// When `rows` is out of bounds.
    pub(crate) fn mark_added(&mut self, rows: std::ops::Range<usize>, tick: Tick) {
        self.added.get_mut()[rows].fill(tick);
    }

    /// Stamps the rows `rows` as changed at `tick`, through exclusive
    /// access.
    ///
    /// # Panics
    /// When `rows` is out of bounds.
    pub(crate) fn mark_changed(&mut self, rows: std::ops::Range<usize>, tick: Tick) {
        self.changed.get_mut()[rows].fill(tick);
    }

    /// The ticks of row `row`, shared (invariants I1/I2, as
    /// `TypedColumn::slice_shared`: the caller holds a read or write flag of
    /// the column's type, or a `&World` outside any stage context).
    ///
    /// # Panics
    /// When `row` is out of bounds.
    pub(crate) fn get(&self, row: usize) -> ComponentTicks {
        // SAFETY: as `TypedColumn::slice_shared`: a `&mut` to these ticks only
        // exists under the write flag of the column's type (I1), which
        // excludes the caller's read flag, and flagless reads happen only
        // without flag-holding contexts (I2). The short-lived shared
        // references end before this returns.
        unsafe {
            ComponentTicks {
                added: (&*self.added.get())[row],
                changed: (&*self.changed.get())[row],
            }
        }
    }

    /// The number of rows (the caller holds a flag of the column's type, or
    /// exclusive access).
    pub(crate) fn slice_len(&self) -> usize {
        // SAFETY: no `&mut Vec` of these ticks exists while a flag is held
        // (structural changes need `&mut World`); the short-lived `&Vec`
        // reads the length only and materializes no reference to the rows,
        // so `&mut` to rows handed out by a writer stay valid.
        unsafe { (*self.added.get()).len() }
    }

    /// Pointers to row 0 of the added and of the changed ticks, for
    /// reading (a read or write flag of the column's type is held; rows are
    /// read one by one through them, so reads may interleave with a `&mut`
    /// to *other* rows that the holder of the write flag handed out).
    pub(crate) fn read_ptrs(&self) -> (*const Tick, *const Tick) {
        // SAFETY: no `&mut Vec` of these ticks exists while a flag is held
        // (structural changes need `&mut World`), and the caller's flag
        // excludes every writer but itself; a short-lived `&Vec` to take a
        // buffer pointer aliases no `&mut` to the vector.
        unsafe { ((*self.added.get()).as_ptr(), (*self.changed.get()).as_ptr()) }
    }

    /// The changed ticks, mutable, through a shared reference (invariant
    /// I1: the caller holds the write flag of the column's type and takes
    /// this once per borrow, together with the column's own slice).
    #[expect(
        clippy::mut_from_ref,
        reason = "exclusivity is enforced by the borrow flag of the column's type (I1)"
    )]
    pub(crate) fn changed_exclusive(&self) -> &mut [Tick] {
        // SAFETY: as `TypedColumn::slice_exclusive`: the write flag of the
        // column's type excludes every other access to these ticks, and the
        // caller hands the slice out once per borrow.
        unsafe { (*self.changed.get()).as_mut_slice() }
    }

    /// Pointers to row 0 of the added ticks (read only: no query writes
    /// them) and of the changed ticks (for writing), under invariant I1:
    /// the caller holds the write flag of the column's type.
    pub(crate) fn write_ptrs(&self) -> (*const Tick, *mut Tick) {
        // SAFETY: the write flag of the column's type excludes every other
        // access to this column, so the short-lived `&Vec`/`&mut Vec` alias
        // no other reference; `as_ptr`/`as_mut_ptr` materialize no
        // reference to the buffers, so pointers from `read_ptrs` stay valid
        // beside them.
        unsafe {
            (
                (*self.added.get()).as_ptr(),
                (*self.changed.get()).as_mut_ptr(),
            )
        }
    }

    /// Whether any row in `rows` was stamped changed after `since`, seen from
    /// `now` (as [`Tick::is_newer_than`]), shared (invariants I1/I2, as
    /// [`get`](Self::get)). Added for `World::column_changed_since`.
    ///
    /// # Panics
    /// When `rows` is out of bounds.
    pub(crate) fn any_changed_after(
        &self,
        rows: std::ops::Range<usize>,
        since: Tick,
        now: Tick,
    ) -> bool {
        // SAFETY: as `get`: a `&mut` to these ticks only exists under the
        // write flag of the column's type (I1), which excludes the caller's
        // read flag, and flagless reads happen only without flag-holding
        // contexts (I2). The shared slice ends before this returns.
        let changed = unsafe { &(&*self.changed.get())[rows] };
        let max = crate::change::MAX_CHANGE_AGE;
        let since_age = now.get().wrapping_sub(since.get()).min(max);
        // Branch-free within a block (so that it vectorizes), early out between blocks.
        changed.chunks(1024).any(|block| {
            block.iter().fold(false, |any, t| {
                any | (now.get().wrapping_sub(t.get()).min(max) < since_age)
            })
        })
    }

    /// Appends one byte per row of `rows` to `out`: `added` when the row was
    /// added after `since`, or-ed with `changed` when it was changed after
    /// `since`, both seen from `now` (as [`Tick::is_newer_than`]).
    pub(crate) fn change_flags(
        &self,
        rows: std::ops::Range<usize>,
        since: Tick,
        now: Tick,
        (added, changed): (u8, u8),
        out: &mut Vec<u8>,
    ) {
        // SAFETY: as `any_changed_after`; both shared slices end before this
        // returns.
        let (a, c) = unsafe {
            (
                &(&*self.added.get())[rows.clone()],
                &(&*self.changed.get())[rows],
            )
        };
        let max = crate::change::MAX_CHANGE_AGE;
        let since_age = now.get().wrapping_sub(since.get()).min(max);
        let newer = |t: &Tick| now.get().wrapping_sub(t.get()).min(max) < since_age;
        // Branch-free per row, so that it vectorizes.
        out.extend(a.iter().zip(c).map(|(a, c)| {
            (added & 0u8.wrapping_sub(u8::from(newer(a))))
                | (changed & 0u8.wrapping_sub(u8::from(newer(c))))
        }));
    }
}

/// Appends values to the spare capacity of a column's `Vec` and makes them
/// rows all at once when dropped, so that a batch of bundles is written
/// column by column without a capacity check and length store per value
/// (`World::spawn_batch`).
///
/// The appenders of one batch share a row count (`written`, set by their
/// user after each whole row, so it stays in a register in between): on
/// drop, also when a panic unwinds past it, each makes that many values
/// rows (a bundle iterator that panics keeps the rows it yielded, as
/// one-by-one pushes would).
pub(crate) struct Appender<'a, T> {
    vec: &'a mut Vec<T>,
    /// The first spare slot of `vec` (row `vec.len()`).
    base: *mut T,
    room: usize,
    written: &'a Cell<usize>,
}

impl<'a, T> Appender<'a, T> {
    /// An appender with room for at least `additional` values (reserved in
    /// `vec` as [`Vec::reserve`] does), committing `written` values on drop.
    #[inline]
    pub(crate) fn new(vec: &'a mut Vec<T>, additional: usize, written: &'a Cell<usize>) -> Self {
        vec.reserve(additional);
        let room = vec.capacity() - vec.len();
        // SAFETY: `len <= capacity`, so the offset stays inside (or one past)
        // the allocation.
        let base = unsafe { vec.as_mut_ptr().add(vec.len()) };
        Self {
            vec,
            base,
            room,
            written,
        }
    }

    /// How many values fit in all (the spare capacity).
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
        // SAFETY: `index < room = capacity - len`: the slot is spare
        // capacity of the vector's allocation (the vector is borrowed
        // mutably for `'a`, so nobody else reads or writes it).
        unsafe { self.base.add(index).write(value) };
    }
}

impl<T> Drop for Appender<'_, T> {
    /// Makes the first `written` spare slots rows of the column (after the
    /// old rows, in order).
    fn drop(&mut self) {
        let written = self.written.get().min(self.room);
        // SAFETY: the user sets `written` only after writing every slot
        // below it (`push_at`), within the room; the borrow of the vector
        // ends with the appender, so nothing observed the length between.
        unsafe { self.vec.set_len(self.vec.len() + written) };
    }
}

/// A column with its element type erased; implemented only by [`TypedColumn`].
///
/// Every method that changes the column's length takes `&mut self`, so the
/// structure of a world never changes while a shared borrow of it exists.
#[doc(hidden)]
pub trait ErasedColumn: Any + Send + Sync {
    /// `self` as `Any`, for downcasting to [`TypedColumn<T>`].
    fn as_any(&self) -> &dyn Any;
    /// `self` as `Any`, for downcasting to [`TypedColumn<T>`].
    fn as_any_mut(&mut self) -> &mut dyn Any;
    /// Removes row `row` (the last row takes its place) and drops it.
    fn swap_remove_drop(&mut self, row: usize);
    /// Removes row `row` (the last row takes its place) and pushes it onto
    /// `dst`, which must be a column of the same type.
    fn swap_remove_into(&mut self, row: usize, dst: &mut dyn ErasedColumn);
    /// [`swap_remove_into`](Self::swap_remove_into) without checking the
    /// type of `dst` (a table move, where the types are known equal).
    ///
    /// # Safety
    /// `dst` is a column of the same type as `self`.
    unsafe fn swap_remove_into_unchecked(&mut self, row: usize, dst: &mut dyn ErasedColumn);
    /// A new, empty column of the same type.
    fn new_empty(&self) -> Box<dyn ErasedColumn>;
    /// Drops every row.
    fn clear(&mut self);
    /// Reserves room for `additional` more rows.
    fn reserve(&mut self, additional: usize);
    /// The number of rows.
    fn row_count(&mut self) -> usize;
    /// Moves every row, in order, to the end of `dst`, which must be a
    /// column of the same type.
    fn drain_into(&mut self, dst: &mut dyn ErasedColumn);
}

/// The column of one component type `T`: a `Vec<T>` in an `UnsafeCell`.
#[doc(hidden)]
pub struct TypedColumn<T> {
    data: UnsafeCell<Vec<T>>,
}

// SAFETY: a shared `&TypedColumn<T>` gives access to the `T`s only through
// `slice_shared` (shared `&[T]`, needs `T: Sync` to cross threads) and
// `slice_exclusive` (`&mut [T]`, needs `T: Send`), under the storage
// invariants of `storage/mod.rs` (a writer is always exclusive). Both bounds
// are required here.
unsafe impl<T: Send + Sync> Sync for TypedColumn<T> {}

impl<T: Send + Sync + 'static> TypedColumn<T> {
    /// A new, empty column.
    pub(crate) fn new() -> Self {
        Self {
            data: UnsafeCell::new(Vec::new()),
        }
    }

    /// A new, type-erased, empty column (a `fn` pointer for bundles).
    pub(crate) fn new_erased() -> Box<dyn ErasedColumn> {
        Box::new(Self::new())
    }

    /// A type-erased column holding `rows` (a restored snapshot column).
    pub(crate) fn from_vec(rows: Vec<T>) -> Box<dyn ErasedColumn> {
        Box::new(Self {
            data: UnsafeCell::new(rows),
        })
    }

    /// The rows, through exclusive access to the column.
    pub(crate) fn vec_mut(&mut self) -> &mut Vec<T> {
        self.data.get_mut()
    }
}

impl<T> TypedColumn<T> {
    /// The rows, shared.
    ///
    /// Sound under storage invariant (I1)/(I2): no `&mut [T]` of this column
    /// exists while the caller holds the result.
    pub(super) fn slice_shared(&self) -> &[T] {
        // SAFETY: by (I1) a mutable slice of this column only exists under a
        // write borrow flag of `T` (a `TableView` or `RefMut`), and by (I2)
        // unguarded shared reads only happen while no flag-holding context
        // exists; a read under a read flag excludes writers. So no `&mut`
        // to the vector or its elements is live while this `&` is.
        unsafe { (*self.data.get()).as_slice() }
    }

    /// A pointer to row 0 and the number of rows, for writing rows one by
    /// one (invariant I1: the caller holds the write flag of `T` and hands
    /// out each row at most once per borrow).
    pub(super) fn write_ptr(&self) -> (*mut T, usize) {
        // SAFETY: the write flag of `T` excludes every other access to this
        // column but the caller's; the short-lived `&mut Vec` aliases no
        // other reference to the vector, and `Vec::as_mut_ptr` materializes
        // no reference to the buffer, so `&mut` to rows handed out earlier
        // stay valid.
        let vec = unsafe { &mut *self.data.get() };
        (vec.as_mut_ptr(), vec.len())
    }

    /// The rows, mutable, through a shared reference.
    ///
    /// Sound under storage invariant (I1): the caller holds the write borrow
    /// flag of `T` and hands out this slice at most once per borrow.
    #[expect(
        clippy::mut_from_ref,
        reason = "exclusivity is enforced by the borrow flag of T (I1)"
    )]
    pub(super) fn slice_exclusive(&self) -> &mut [T] {
        // SAFETY: by (I1) the caller holds the write flag of `T`, which
        // excludes every other reader and writer of this column, and takes
        // this slice once per borrow (`TableView` marks the access taken).
        unsafe { (*self.data.get()).as_mut_slice() }
    }
}

fn downcast_mut<T: 'static>(column: &mut dyn ErasedColumn) -> &mut TypedColumn<T> {
    column
        .as_any_mut()
        .downcast_mut::<TypedColumn<T>>()
        .unwrap_or_else(|| {
            panic!(
                "storage invariant broken: a column moved into a column that is not of type `{}`",
                std::any::type_name::<T>()
            )
        })
}

impl<T: Send + Sync + 'static> ErasedColumn for TypedColumn<T> {
    fn as_any(&self) -> &dyn Any {
        self
    }

    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }

    fn swap_remove_drop(&mut self, row: usize) {
        drop(self.vec_mut().swap_remove(row));
    }

    fn swap_remove_into(&mut self, row: usize, dst: &mut dyn ErasedColumn) {
        let value = self.vec_mut().swap_remove(row);
        downcast_mut::<T>(dst).vec_mut().push(value);
    }

    unsafe fn swap_remove_into_unchecked(&mut self, row: usize, dst: &mut dyn ErasedColumn) {
        let value = self.vec_mut().swap_remove(row);
        // SAFETY: the caller guarantees that `dst` is a column of `T`.
        unsafe { downcast_mut_unchecked::<T>(dst) }
            .vec_mut()
            .push(value);
    }

    fn new_empty(&self) -> Box<dyn ErasedColumn> {
        Self::new_erased()
    }

    fn clear(&mut self) {
        self.vec_mut().clear();
    }

    fn reserve(&mut self, additional: usize) {
        self.vec_mut().reserve(additional);
    }

    fn row_count(&mut self) -> usize {
        self.vec_mut().len()
    }

    fn drain_into(&mut self, dst: &mut dyn ErasedColumn) {
        downcast_mut::<T>(dst).vec_mut().append(self.vec_mut());
    }
}

/// Downcasts a column whose type is known from the storage's own records,
/// without the two dynamic calls of [`Any::downcast_ref`].
///
/// # Safety
/// `column` is a `TypedColumn<T>`: invariant (I3) of `storage/mod.rs`
/// for a table column whose recorded type is `TypeId::of::<T>()`, or a
/// sparse set's values when the set's component is `T`.
#[inline(always)]
pub(crate) unsafe fn downcast_ref_unchecked<T: 'static>(
    column: &dyn ErasedColumn,
) -> &TypedColumn<T> {
    debug_assert!(column.as_any().is::<TypedColumn<T>>());
    // SAFETY: the caller guarantees that the value behind the `dyn`
    // reference is a `TypedColumn<T>`; the data pointer of a `&dyn` points
    // to that value.
    unsafe { &*(column as *const dyn ErasedColumn).cast::<TypedColumn<T>>() }
}

/// [`downcast_ref_unchecked`], exclusive.
///
/// # Safety
/// As [`downcast_ref_unchecked`].
#[inline(always)]
pub(crate) unsafe fn downcast_mut_unchecked<T: 'static>(
    column: &mut dyn ErasedColumn,
) -> &mut TypedColumn<T> {
    debug_assert!(column.as_any().is::<TypedColumn<T>>());
    // SAFETY: as `downcast_ref_unchecked`, through the caller's exclusive
    // reference.
    unsafe { &mut *(column as *mut dyn ErasedColumn).cast::<TypedColumn<T>>() }
}

/// Downcasts a shared column; `None` when it is not a column of `T`.
#[inline]
pub(crate) fn downcast_ref<T: 'static>(column: &dyn ErasedColumn) -> Option<&TypedColumn<T>> {
    column.as_any().downcast_ref::<TypedColumn<T>>()
}

/// The rows of `column`, shared and without a borrow flag (invariant I2:
/// callers hold a `&World` outside any stage context); `None` when it is not
/// a column of `T`.
pub(crate) fn column_slice<T: 'static>(column: &dyn ErasedColumn) -> Option<&[T]> {
    downcast_ref::<T>(column).map(TypedColumn::slice_shared)
}

/// Downcasts an exclusive column; panics (a storage invariant) when it is not
/// a column of `T`.
pub(crate) fn typed_mut<T: 'static>(column: &mut dyn ErasedColumn) -> &mut TypedColumn<T> {
    downcast_mut::<T>(column)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    #[test]
    fn tick_columns_keep_added_and_changed_row_for_row() {
        let t = Tick::new;
        let mut column = TickColumn::filled(2, t(1));
        column.push(ComponentTicks {
            added: t(2),
            changed: t(3),
        });
        column.resize(5, ComponentTicks::new(t(4)));
        assert_eq!(column.slice_len(), 5);
        *column.row_mut(0).1 = t(9);
        column.mark_changed(3..5, t(7));
        // The last row (4) takes the place of the removed row 0.
        assert_eq!(
            column.swap_remove(0),
            ComponentTicks {
                added: t(1),
                changed: t(9)
            }
        );
        assert_eq!(
            column.get(0),
            ComponentTicks {
                added: t(4),
                changed: t(7)
            }
        );
        assert_eq!(column.get(1), ComponentTicks::new(t(1)));
        assert_eq!(
            column.get(2),
            ComponentTicks {
                added: t(2),
                changed: t(3)
            }
        );
        assert_eq!(
            column.get(3),
            ComponentTicks {
                added: t(4),
                changed: t(7)
            }
        );
        assert_eq!(column.slice_len(), 4);
        // Stamps through the write pointers reach the changed ticks only.
        let (added, changed) = column.write_ptrs();
        // SAFETY: `column` has 4 rows and is not otherwise accessed while
        // the pointers are used.
        unsafe {
            *changed.add(2) = t(11);
            assert_eq!(*added.add(2), t(2));
        }
        assert_eq!(
            column.get(2),
            ComponentTicks {
                added: t(2),
                changed: t(11)
            }
        );
        column.changed_exclusive()[1] = t(12);
        let (added, changed) = column.read_ptrs();
        // SAFETY: as above, 4 rows, read only.
        unsafe {
            assert_eq!((*added.add(1), *changed.add(1)), (t(1), t(12)));
        }
        column.clear();
        assert_eq!(column.slice_len(), 0);
    }

    #[derive(Debug)]
    struct Counted(Arc<AtomicUsize>, u32);
    impl Drop for Counted {
        fn drop(&mut self) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn swap_remove_moves_and_drops_once() {
        let drops = Arc::new(AtomicUsize::new(0));
        let mut a: Box<dyn ErasedColumn> = TypedColumn::<Counted>::new_erased();
        let mut b = a.new_empty();
        for i in 0..4 {
            typed_mut::<Counted>(&mut *a)
                .vec_mut()
                .push(Counted(drops.clone(), i));
        }
        a.swap_remove_into(1, &mut *b);
        a.swap_remove_drop(0);
        assert_eq!(drops.load(Ordering::SeqCst), 1);
        let ids: Vec<u32> = downcast_ref::<Counted>(&*a)
            .unwrap()
            .slice_shared()
            .iter()
            .map(|c| c.1)
            .collect();
        // [0, 1, 2, 3] -> move 1 out -> [0, 3, 2] -> drop 0 -> [2, 3]
        assert_eq!(ids, [2, 3]);
        assert_eq!(downcast_ref::<Counted>(&*b).unwrap().slice_shared()[0].1, 1);
        assert!(downcast_ref::<u32>(&*b).is_none());
        assert_eq!(a.row_count(), 2);
        drop(a);
        drop(b);
        assert_eq!(drops.load(Ordering::SeqCst), 4);
    }

    #[test]
    fn appender_makes_counted_values_rows_in_order() {
        let drops = Arc::new(AtomicUsize::new(0));
        let mut rows = vec![Counted(drops.clone(), 0)];
        let written = Cell::new(0);
        let mut appender = Appender::new(&mut rows, 3, &written);
        assert!(appender.room() >= 3);
        for i in 0..3 {
            appender.push_at(i, Counted(drops.clone(), i as u32 + 1));
            written.set(i + 1);
        }
        drop(appender);
        assert_eq!(rows.iter().map(|c| c.1).collect::<Vec<_>>(), [0, 1, 2, 3]);
        assert_eq!(drops.load(Ordering::SeqCst), 0);
        // Unwinding past an appender keeps the counted values.
        let unwound = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let written = Cell::new(0);
            let mut appender = Appender::new(&mut rows, 2, &written);
            appender.push_at(0, Counted(drops.clone(), 4));
            appender.push_at(1, Counted(drops.clone(), 5));
            written.set(2);
            panic!("a bundle iterator panics");
        }));
        assert!(unwound.is_err());
        assert_eq!(drops.load(Ordering::SeqCst), 0);
        assert_eq!(
            rows.iter().map(|c| c.1).collect::<Vec<_>>(),
            [0, 1, 2, 3, 4, 5]
        );
        // Pushing past the room panics without writing.
        let written = Cell::new(0);
        let mut appender = Appender::new(&mut rows, 0, &written);
        let room = appender.room();
        let over = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            appender.push_at(room, Counted(drops.clone(), 99));
        }));
        assert!(over.is_err());
        // The value passed to the failed push was dropped by the panic.
        assert_eq!(drops.load(Ordering::SeqCst), 1);
        drop(appender);
        assert_eq!(rows.len(), 6);
        drop(rows);
        assert_eq!(drops.load(Ordering::SeqCst), 7);
    }

    #[test]
    fn exclusive_slice_writes_are_visible() {
        let col = TypedColumn::<u32>::new();
        let mut col = col;
        col.vec_mut().extend([1, 2, 3]);
        for v in col.slice_exclusive() {
            *v *= 10;
        }
        assert_eq!(col.slice_shared(), &[10, 20, 30]);
    }
}
