//! Type-erased `Vec`-based component columns, behind an `UnsafeCell` so
//! that disjoint borrows of different columns can be handed out through a
//! shared `&World`: a sparse set's values, the staging columns of
//! sparse bundle elements, and decoded snapshot columns (tables keep their
//! rows in one [`Block`](super::block::Block) each).

use std::any::Any;
use std::cell::UnsafeCell;

use super::block::ColumnRef;

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
    /// Drops every row.
    fn clear(&mut self);
    /// Reserves room for `additional` more rows.
    fn reserve(&mut self, additional: usize);
    /// The number of rows.
    fn row_count(&mut self) -> usize;
    /// Moves every row, in order, to the end of `dst`, which must be a
    /// column of the same type.
    fn drain_into(&mut self, dst: &mut dyn ErasedColumn);
    /// The rows, shared and type-erased (invariants I1/I2 as for
    /// [`TypedColumn`]'s shared slice).
    fn column_ref(&self) -> ColumnRef<'_>;
    /// Moves every row, in order, to `dst` by bitwise copies, leaving the
    /// column empty (a table's block takes them).
    ///
    /// # Safety
    /// `dst` is valid for writes of [`row_count`](Self::row_count)
    /// aligned values of the column's type, outside the column, and
    /// uninitialized or dead (nothing is dropped there).
    unsafe fn take_rows_raw(&mut self, dst: *mut u8);
    /// Appends the value at `src`, moved out by a bitwise read; does not
    /// panic when the column has room for one more row.
    ///
    /// # Safety
    /// `src` points to an initialized, aligned value of the column's type
    /// outside the column, which the caller no longer uses or drops.
    unsafe fn push_raw(&mut self, src: *const u8);
    /// Swaps row `row` with the value at `other`.
    ///
    /// # Safety
    /// `other` points to an initialized, aligned value of the column's type
    /// outside the column, valid for reads and writes.
    ///
    /// # Panics
    /// When `row` is out of bounds (before anything changes).
    unsafe fn swap_raw(&mut self, row: usize, other: *mut u8);
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

    fn column_ref(&self) -> ColumnRef<'_> {
        ColumnRef::of(self.slice_shared())
    }

    unsafe fn take_rows_raw(&mut self, dst: *mut u8) {
        let vec = self.vec_mut();
        let len = vec.len();
        // SAFETY: the caller guarantees room for `len` values of `T` at
        // `dst`, outside the vector; the rows are moved bitwise, then
        // forgotten by the vector (its length set to 0 first, so a panic
        // cannot drop them twice: nothing here panics anyway).
        unsafe {
            vec.set_len(0);
            std::ptr::copy_nonoverlapping(vec.as_ptr(), dst.cast::<T>(), len);
        }
    }

    unsafe fn push_raw(&mut self, src: *const u8) {
        let vec = self.vec_mut();
        vec.reserve(1);
        // SAFETY: the caller guarantees an initialized `T` at `src` that
        // it gives up; the push below does not reallocate (room reserved
        // above), so nothing between the read and the push can panic.
        let value = unsafe { src.cast::<T>().read() };
        vec.push(value);
    }

    unsafe fn swap_raw(&mut self, row: usize, other: *mut u8) {
        let slot = &mut self.vec_mut()[row];
        // SAFETY: the caller guarantees an initialized `T` at `other`,
        // outside the vector, valid for reads and writes.
        unsafe { std::ptr::swap(slot, other.cast::<T>()) };
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

/// The rows of `column`, shared and without a borrow flag (invariant I2:
/// callers hold a `&World` outside any stage context); `None` when it is not
/// a column of `T`.
pub(crate) fn column_slice<T: 'static>(column: ColumnRef<'_>) -> Option<&[T]> {
    column.slice::<T>()
}

/// Downcasts an exclusive column; panics (a storage invariant) when it is not
/// a column of `T`.
pub(crate) fn typed_mut<T: 'static>(column: &mut dyn ErasedColumn) -> &mut TypedColumn<T> {
    downcast_mut::<T>(column)
}

/// Downcasts a shared column; `None` when it is not a column of `T`.
#[cfg(test)]
fn downcast_ref<T: 'static>(column: &dyn ErasedColumn) -> Option<&TypedColumn<T>> {
    column.as_any().downcast_ref::<TypedColumn<T>>()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::counted::Counted;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    #[test]
    fn swap_remove_moves_and_drops_once() {
        let drops = Arc::new(AtomicUsize::new(0));
        let mut a: Box<dyn ErasedColumn> = TypedColumn::<Counted>::new_erased();
        let mut b = TypedColumn::<Counted>::new_erased();
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
