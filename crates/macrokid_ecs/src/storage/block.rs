//! A table's rows in one allocation (an archetype block, as hecs's): the
//! entity column, then one array per component column, then the added and
//! the changed ticks of each column, all `capacity` rows long and grown
//! together.
//!
//! One allocation per table instead of `2 + 3 × columns` `Vec`s: fewer
//! allocator calls for every table that grows, and the allocator sees one
//! block per table (a spawned-then-dropped world frees one chunk per table,
//! which keeps glibc from trimming and refaulting its heap every time).
//!
//! Every row below `len` is initialized in every array; rows from `len` to
//! `capacity` are spare. Values move between blocks bitwise (a Rust move),
//! so nothing here depends on a component type beyond its layout and its
//! drop function ([`ComponentType`]).

use std::alloc::{self, Layout};
use std::any::TypeId;
use std::marker::PhantomData;
use std::ptr::{self, NonNull};

use super::archetype::{for_each_finishing, ComponentType};
use super::column::ErasedColumn;
use crate::change::{ComponentTicks, Tick};
use crate::entity::Entity;

/// The allocation itself: freed on drop (also when dropping the values of
/// the block panicked), never touching its contents.
struct RawBlock {
    /// The start of the allocation; a dangling pointer aligned to
    /// `layout.align()` when `layout.size()` is 0 (nothing allocated).
    ptr: NonNull<u8>,
    layout: Layout,
}

impl RawBlock {
    /// An allocation of `layout` (none when its size is 0).
    fn new(layout: Layout) -> Self {
        let ptr = if layout.size() == 0 {
            // Aligned for every array (all of them start at offset 0 when
            // nothing is allocated) and never dereferenced for a non-zero
            // size.
            NonNull::new(ptr::without_provenance_mut::<u8>(layout.align()))
                .expect("an alignment is not 0")
        } else {
            // SAFETY: the layout's size is not 0 (checked above).
            let ptr = unsafe { alloc::alloc(layout) };
            NonNull::new(ptr).unwrap_or_else(|| alloc::handle_alloc_error(layout))
        };
        Self { ptr, layout }
    }
}

impl Drop for RawBlock {
    fn drop(&mut self) {
        if self.layout.size() != 0 {
            // SAFETY: `ptr` was allocated by `alloc::alloc` with `layout`
            // (`new`, non-zero size) and is freed once, here.
            unsafe { alloc::dealloc(self.ptr.as_ptr(), self.layout) };
        }
    }
}

/// One component column of a block: its type and where its arrays start
/// (byte offsets from the start of the block, for the current capacity).
#[derive(Clone, Copy)]
struct BlockColumn {
    component: ComponentType,
    values: usize,
    added: usize,
    changed: usize,
}

/// The rows of one table: entities, component values and their ticks, in
/// one allocation. See the module documentation.
pub(crate) struct Block {
    raw: RawBlock,
    /// Rows every array has room for.
    capacity: usize,
    /// Initialized rows (`<= capacity`).
    len: usize,
    /// Sorted by type id and distinct (the table's column order).
    columns: Box<[BlockColumn]>,
}

// SAFETY: a block owns its values, which are `Send + Sync`
// (`ComponentType::of` requires both), its entities and ticks (plain data).
// Through a shared `&Block` values and ticks are only reached under the
// storage invariants of `storage/mod.rs` (I1/I2: a writer is always
// exclusive), as for the `TypedColumn`s of sparse sets.
unsafe impl Send for Block {}
// SAFETY: as for `Send` above.
unsafe impl Sync for Block {}

/// The layout of a block of `capacity` rows for `columns`, with the offsets
/// of each column's arrays written into `columns`.
///
/// # Panics
/// When the block would exceed `isize::MAX` bytes.
fn block_layout(columns: &mut [BlockColumn], capacity: usize) -> Layout {
    let overflow = || -> ! { panic!("capacity overflow: a table of {capacity} rows") };
    let array = |layout: Layout| {
        layout
            .size()
            .checked_mul(capacity)
            .and_then(|size| Layout::from_size_align(size, layout.align()).ok())
            .unwrap_or_else(|| overflow())
    };
    let mut block = array(Layout::new::<Entity>());
    let extend = |block: &mut Layout, next: Layout| {
        let (extended, offset) = block.extend(next).unwrap_or_else(|_| overflow());
        *block = extended;
        offset
    };
    for column in columns.iter_mut() {
        column.values = extend(&mut block, array(column.component.layout));
    }
    let ticks = array(Layout::new::<Tick>());
    for column in columns.iter_mut() {
        column.added = extend(&mut block, ticks);
        column.changed = extend(&mut block, ticks);
    }
    block
}

impl Block {
    /// An empty block (nothing allocated) for `columns` (sorted by type id
    /// and distinct).
    pub(crate) fn new(columns: &[ComponentType]) -> Self {
        let mut columns: Box<[BlockColumn]> = columns
            .iter()
            .map(|&component| BlockColumn {
                component,
                values: 0,
                added: 0,
                changed: 0,
            })
            .collect();
        let layout = block_layout(&mut columns, 0);
        Self {
            raw: RawBlock::new(layout),
            capacity: 0,
            len: 0,
            columns,
        }
    }

    /// The number of rows.
    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// The number of rows the block has room for without growing.
    #[cfg(test)]
    pub(crate) fn capacity(&self) -> usize {
        self.capacity
    }

    /// The number of spare rows (room without growing).
    #[inline]
    pub(crate) fn spare_rows(&self) -> usize {
        self.capacity - self.len
    }

    /// The number of component columns.
    #[inline]
    pub(crate) fn column_count(&self) -> usize {
        self.columns.len()
    }

    /// The component type of column `index`.
    #[inline]
    pub(crate) fn component(&self, index: usize) -> &ComponentType {
        &self.columns[index].component
    }

    /// The byte at `offset` from the start of the block.
    #[inline(always)]
    fn at(&self, offset: usize) -> *mut u8 {
        // SAFETY: every offset passed here is the start of an array of the
        // current layout (`block_layout`), so it lies inside (or one past)
        // the allocation, or is 0 on the dangling pointer of an empty one.
        unsafe { self.raw.ptr.as_ptr().add(offset) }
    }

    /// Row 0 of the entities.
    #[inline(always)]
    fn entity_ptr(&self) -> *mut Entity {
        // The entity array starts the block.
        self.raw.ptr.as_ptr().cast()
    }

    /// Row 0 of the values of column `index`, and the column's value size.
    #[inline(always)]
    fn values_ptr(&self, index: usize) -> (*mut u8, usize) {
        let column = &self.columns[index];
        (self.at(column.values), column.component.layout.size())
    }

    /// Row 0 of the added and of the changed ticks of column `index`.
    #[inline(always)]
    fn tick_ptrs(&self, index: usize) -> (*mut Tick, *mut Tick) {
        let column = &self.columns[index];
        (self.at(column.added).cast(), self.at(column.changed).cast())
    }

    /// Makes room for at least `additional` more rows: none when there is
    /// room already, else `len + additional` rows or twice the capacity,
    /// whichever is more (as [`Vec::reserve`]: exact for a first batch,
    /// amortized for one-by-one pushes).
    ///
    /// # Panics
    /// When the block would exceed `isize::MAX` bytes.
    #[inline]
    pub(crate) fn reserve(&mut self, additional: usize) {
        if self.capacity - self.len < additional {
            self.reserve_more(additional);
        }
    }

    /// [`reserve`](Self::reserve) when the room is short.
    #[cold]
    #[inline(never)]
    fn reserve_more(&mut self, additional: usize) {
        let needed = self
            .len
            .checked_add(additional)
            .unwrap_or_else(|| panic!("capacity overflow: {additional} more rows"));
        self.grow_to(needed.max(self.capacity.saturating_mul(2)).max(4));
    }

    /// Moves the rows to a new allocation of `capacity` rows (`> len`).
    fn grow_to(&mut self, capacity: usize) {
        debug_assert!(capacity > self.len);
        let mut columns = self.columns.clone();
        let layout = block_layout(&mut columns, capacity);
        let raw = RawBlock::new(layout);
        let new = raw.ptr.as_ptr();
        let len = self.len;
        // SAFETY: both allocations hold `len` rows' room in every array
        // (`len <= capacity` of each), at the offsets of their own layout;
        // they are distinct allocations. The copies move the rows bitwise
        // (a Rust move); the old allocation is then freed without dropping
        // anything.
        unsafe {
            ptr::copy_nonoverlapping(self.entity_ptr(), new.cast::<Entity>(), len);
            for (old, moved) in self.columns.iter().zip(columns.iter()) {
                let size = old.component.layout.size();
                ptr::copy_nonoverlapping(self.at(old.values), new.add(moved.values), size * len);
                ptr::copy_nonoverlapping(
                    self.at(old.added).cast::<Tick>(),
                    new.add(moved.added).cast::<Tick>(),
                    len,
                );
                ptr::copy_nonoverlapping(
                    self.at(old.changed).cast::<Tick>(),
                    new.add(moved.changed).cast::<Tick>(),
                    len,
                );
            }
        }
        self.raw = raw;
        self.columns = columns;
        self.capacity = capacity;
    }

    /// Checks that column `index` holds `T` (one comparison of type ids).
    ///
    /// # Panics
    /// When it does not (a storage invariant).
    #[inline(always)]
    fn expect_type<T: 'static>(&self, index: usize) {
        if self.columns[index].component.type_id != TypeId::of::<T>() {
            wrong_column_type(index, std::any::type_name::<T>());
        }
    }

    /// The entities, by row.
    #[inline]
    pub(crate) fn entities(&self) -> &[Entity] {
        // SAFETY: the first `len` entities are initialized; they change only
        // through `&mut self`.
        unsafe { std::slice::from_raw_parts(self.entity_ptr(), self.len) }
    }

    /// The values of column `index`, shared, as `T`s.
    ///
    /// Sound under storage invariants (I1)/(I2): no `&mut` to these values
    /// exists while the caller holds the result.
    ///
    /// # Panics
    /// When column `index` does not hold `T` (a storage invariant).
    #[inline]
    pub(crate) fn values<T: 'static>(&self, index: usize) -> &[T] {
        self.expect_type::<T>(index);
        // SAFETY: the column holds `len` initialized `T`s (checked above),
        // aligned (`block_layout`). By (I1) a `&mut` to them only exists
        // under the write flag of `T`, which the caller's read flag
        // excludes, and by (I2) flagless reads happen only while no
        // flag-holding context exists; structural changes need `&mut self`.
        unsafe { std::slice::from_raw_parts(self.values_ptr(index).0.cast::<T>(), self.len) }
    }

    /// The values of column `index`, mutable, through a shared reference.
    ///
    /// Sound under storage invariant (I1): the caller holds the write flag
    /// of `T` and hands out this slice at most once per borrow.
    ///
    /// # Panics
    /// When column `index` does not hold `T` (a storage invariant).
    #[expect(
        clippy::mut_from_ref,
        reason = "exclusivity is enforced by the borrow flag of T (I1)"
    )]
    #[inline]
    pub(crate) fn values_exclusive<T: 'static>(&self, index: usize) -> &mut [T] {
        self.expect_type::<T>(index);
        // SAFETY: as `values` for the type and length; by (I1) the write
        // flag of `T` excludes every other access to these values, and the
        // caller takes the slice once per borrow. The pointer is the
        // allocation's own (no shared reference to the values is
        // reborrowed), and the other arrays of the block are disjoint.
        unsafe { std::slice::from_raw_parts_mut(self.values_ptr(index).0.cast::<T>(), self.len) }
    }

    /// The values of column `index`, through exclusive access.
    ///
    /// # Panics
    /// When column `index` does not hold `T` (a storage invariant).
    #[inline]
    pub(crate) fn values_mut<T: 'static>(&mut self, index: usize) -> &mut [T] {
        self.expect_type::<T>(index);
        // SAFETY: as `values`, through `&mut self`.
        unsafe { std::slice::from_raw_parts_mut(self.values_ptr(index).0.cast::<T>(), self.len) }
    }

    /// The values of column `index`, type-erased and shared (invariant I2),
    /// for snapshots and hashes.
    pub(crate) fn column_ref(&self, index: usize) -> ColumnRef<'_> {
        ColumnRef {
            ptr: self.values_ptr(index).0,
            len: self.len,
            type_id: self.columns[index].component.type_id,
            _rows: PhantomData,
        }
    }

    /// The `T` of row `row` and its added and changed ticks, through
    /// exclusive access; `None` when `row` is out of bounds.
    ///
    /// # Panics
    /// When column `index` does not hold `T` (a storage invariant).
    pub(crate) fn row_mut<T: 'static>(
        &mut self,
        index: usize,
        row: usize,
    ) -> Option<(&mut T, &mut Tick, &mut Tick)> {
        self.expect_type::<T>(index);
        if row >= self.len {
            return None;
        }
        let (values, _) = self.values_ptr(index);
        let (added, changed) = self.tick_ptrs(index);
        // SAFETY: `row < len`: three initialized elements of three disjoint
        // arrays, the value a `T` (checked above); `&mut self` excludes every
        // other access for the returned lifetime.
        unsafe {
            Some((
                &mut *values.cast::<T>().add(row),
                &mut *added.add(row),
                &mut *changed.add(row),
            ))
        }
    }

    /// Row `row` of the values of column `index` (for a caller that moves
    /// a value in or out under exclusive access).
    ///
    /// # Panics
    /// When `row` is out of bounds.
    pub(crate) fn row_ptr(&mut self, index: usize, row: usize) -> *mut u8 {
        assert!(row < self.len, "row {row} out of bounds");
        let (values, size) = self.values_ptr(index);
        // SAFETY: `row < len <= capacity`: inside the column's array.
        unsafe { values.add(size * row) }
    }

    /// The ticks of column `index` (shared access, see [`TableTicks`]).
    #[inline]
    pub(crate) fn ticks(&self, index: usize) -> TableTicks<'_> {
        let (added, changed) = self.tick_ptrs(index);
        TableTicks {
            added,
            changed,
            len: self.len,
            _block: PhantomData,
        }
    }

    /// The added and the changed ticks of column `index`, through
    /// exclusive access.
    pub(crate) fn ticks_mut(&mut self, index: usize) -> (&mut [Tick], &mut [Tick]) {
        let (added, changed) = self.tick_ptrs(index);
        // SAFETY: two disjoint arrays of `len` initialized ticks; `&mut
        // self` excludes every other access for the returned lifetime.
        unsafe {
            (
                std::slice::from_raw_parts_mut(added, self.len),
                std::slice::from_raw_parts_mut(changed, self.len),
            )
        }
    }

    /// Clamps every tick to at most `MAX_CHANGE_AGE` before `now`.
    pub(crate) fn check_ticks(&mut self, now: Tick) {
        for index in 0..self.columns.len() {
            let (added, changed) = self.ticks_mut(index);
            for tick in added.iter_mut().chain(changed) {
                tick.check(now);
            }
        }
    }

    /// Where the values of column `index` for the next rows go (row `len`),
    /// with room for `capacity - len` values, the column's type id (for
    /// the [`Appender`](super::column::Appender)s of `World::spawn_batch`;
    /// the rows become rows with [`append_rows`](Self::append_rows)).
    pub(crate) fn spare(&mut self, index: usize) -> (*mut u8, usize, TypeId) {
        let (values, size) = self.values_ptr(index);
        // SAFETY: `len <= capacity`: the offset stays inside (or one past)
        // the column's array.
        let next = unsafe { values.add(size * self.len) };
        (
            next,
            self.capacity - self.len,
            self.columns[index].component.type_id,
        )
    }

    /// Makes `entities.len()` spare rows rows: their entities are
    /// `entities`, their ticks added and changed at `tick`.
    ///
    /// # Safety
    /// Every column holds an initialized value in each of these rows (rows
    /// `len..len + entities.len()`, written through [`spare`](Self::spare)).
    ///
    /// # Panics
    /// When the rows exceed the capacity (before anything changes).
    pub(crate) unsafe fn append_rows(&mut self, entities: &[Entity], tick: Tick) {
        let count = entities.len();
        assert!(
            count <= self.capacity - self.len,
            "storage invariant broken: rows appended past a table's capacity"
        );
        let len = self.len;
        // SAFETY: rows `len..len + count` are spare rows of every array
        // (checked above); the entities are copied from a slice outside the
        // block.
        unsafe {
            ptr::copy_nonoverlapping(entities.as_ptr(), self.entity_ptr().add(len), count);
            for index in 0..self.columns.len() {
                let (added, changed) = self.tick_ptrs(index);
                for row in len..len + count {
                    added.add(row).write(tick);
                    changed.add(row).write(tick);
                }
            }
        }
        self.len = len + count;
    }

    /// Appends every row of `columns` (`columns[i]` a column of this
    /// block's column `i`, each emptied) for `entities` (one per row),
    /// stamped added and changed at `tick`.
    ///
    /// # Panics
    /// When a column is of another type or has another number of rows than
    /// there are entities (before anything changes).
    pub(crate) fn append_columns(
        &mut self,
        columns: &mut [Box<dyn ErasedColumn>],
        entities: &[Entity],
        tick: Tick,
    ) {
        assert!(
            columns.len() == self.columns.len()
                && columns
                    .iter_mut()
                    .zip(self.columns.iter())
                    .all(|(values, column)| {
                        values.as_any().type_id() == column.component.column_type
                            && values.row_count() == entities.len()
                    }),
            "storage invariant broken: columns appended to a table do not fit it"
        );
        self.reserve(entities.len());
        for (index, values) in columns.iter_mut().enumerate() {
            let (next, _, _) = self.spare(index);
            // SAFETY: `values` is a column of the type of column `index`
            // with `entities.len()` rows (checked above), and the block has
            // room for them past `len` (reserved above).
            unsafe { values.take_rows_raw(next) };
        }
        // SAFETY: every column's rows `len..len + entities.len()` were
        // written above.
        unsafe { self.append_rows(entities, tick) };
    }

    /// Removes row `row`, dropping its values. `relocate` is called with
    /// the entity moved into `row` to fill the hole, if any.
    ///
    /// Panic-safe: the row is removed (the last row takes its place, the
    /// removed values wait past the new length) and `relocate` runs before
    /// any value is dropped, and when a value's `Drop` panics the other
    /// columns' values are still dropped (see [`for_each_finishing`]); the
    /// panic goes on.
    ///
    /// # Panics
    /// When `row` is out of bounds (before anything changes).
    pub(crate) fn swap_remove(&mut self, row: usize, relocate: impl FnOnce(Entity)) {
        assert!(row < self.len, "row {row} out of bounds");
        let last = self.len - 1;
        if row != last {
            // SAFETY: `row` and `last` are distinct initialized rows of
            // every array; the values trade places (the removed ones go
            // to `last`), entities and ticks of `last` overwrite `row`'s.
            unsafe {
                *self.entity_ptr().add(row) = *self.entity_ptr().add(last);
                for index in 0..self.columns.len() {
                    let (values, size) = self.values_ptr(index);
                    ptr::swap_nonoverlapping(values.add(size * row), values.add(size * last), size);
                    let (added, changed) = self.tick_ptrs(index);
                    *added.add(row) = *added.add(last);
                    *changed.add(row) = *changed.add(last);
                }
            }
        }
        self.len = last;
        if row != last {
            relocate(self.entities()[row]);
        }
        let base = self.raw.ptr.as_ptr();
        for_each_finishing(&mut self.columns, |column| {
            if let Some(drop_rows) = column.component.drop_rows {
                // SAFETY: row `last` of the column is initialized and past
                // the length now, so it is dropped once, here.
                unsafe {
                    drop_rows(
                        base.add(column.values + column.component.layout.size() * last),
                        1,
                    )
                };
            }
        });
    }

    /// Drops every row.
    ///
    /// Panic-safe as [`swap_remove`](Self::swap_remove): the length is 0
    /// before the first value is dropped, and every column's values are
    /// dropped even when a `Drop` panics.
    pub(crate) fn clear(&mut self) {
        let len = std::mem::take(&mut self.len);
        let base = self.raw.ptr.as_ptr();
        for_each_finishing(&mut self.columns, |column| {
            if let Some(drop_rows) = column.component.drop_rows {
                // SAFETY: the column's first `len` values were initialized
                // and are past the length now, so they are dropped once,
                // here.
                unsafe { drop_rows(base.add(column.values), len) };
            }
        });
    }

    /// [`move_shifted`](Self::move_shifted) into a `dst` with one more
    /// column, at `at`: `write` fills its slot of the new row, stamped added
    /// and changed at `tick`.
    ///
    /// # Safety
    /// As [`move_shifted`](Self::move_shifted), adding.
    #[inline]
    pub(crate) unsafe fn move_adding(
        &mut self,
        row: usize,
        dst: &mut Block,
        at: usize,
        tick: Tick,
        write: impl FnOnce(*mut u8),
    ) -> Option<Entity> {
        // SAFETY: guaranteed by the caller.
        unsafe { self.move_shifted(row, dst, at, true, ComponentTicks::new(tick), write) }
    }

    /// [`move_shifted`](Self::move_shifted) into a `dst` with one column
    /// fewer, at `at`: `take` moves the row's value of that column out.
    ///
    /// # Safety
    /// As [`move_shifted`](Self::move_shifted), removing.
    #[inline]
    pub(crate) unsafe fn move_removing(
        &mut self,
        row: usize,
        dst: &mut Block,
        at: usize,
        take: impl FnOnce(*mut u8),
    ) -> Option<Entity> {
        // SAFETY: guaranteed by the caller.
        unsafe { self.move_shifted(row, dst, at, false, ComponentTicks::default(), take) }
    }

    /// Moves row `row` to a new last row of `dst`, whose columns are those
    /// of `self` plus (`adding`) or minus one, at column `at` of the larger
    /// block; returns the entity moved into `row` here to fill the hole, if
    /// any. The extra column's value goes through `extra`, called first
    /// with a pointer to it: the spare slot of `dst`'s column `at`, which
    /// it must fill (`adding`), or row `row` of `self`'s column `at`, which
    /// it must move out. The new row's ticks of an added column are
    /// `ticks`; every other column keeps its ticks.
    ///
    /// # Safety
    /// `extra` writes a value of the type of `dst`'s column `at` (adding),
    /// or moves the value out by a bitwise read that takes ownership
    /// (removing), and does not panic.
    ///
    /// # Panics
    /// When `row` is out of bounds or `dst` does not have that shape (a
    /// storage invariant), before anything moves.
    #[inline]
    unsafe fn move_shifted(
        &mut self,
        row: usize,
        dst: &mut Block,
        at: usize,
        adding: bool,
        ticks: ComponentTicks,
        extra: impl FnOnce(*mut u8),
    ) -> Option<Entity> {
        assert!(row < self.len, "row {row} out of bounds");
        let (small, large) = if adding {
            (&self.columns, &dst.columns)
        } else {
            (&dst.columns, &self.columns)
        };
        let fits = small.len() + 1 == large.len()
            && at < large.len()
            && small.iter().enumerate().all(|(i, column)| {
                large
                    .get(i + usize::from(i >= at))
                    .is_some_and(|other| other.component.type_id == column.component.type_id)
            });
        if !fits {
            wrong_move_target();
        }
        dst.reserve(1);
        let d = dst.len;
        let last = self.len - 1;
        if adding {
            let (values, size) = dst.values_ptr(at);
            let (added, changed) = dst.tick_ptrs(at);
            // SAFETY: row `d` is a spare row of `dst` (reserved above), so
            // the offsets stay inside its arrays; the caller vouches that
            // `extra` fills the value slot with a value of its type.
            unsafe {
                extra(values.add(size * d));
                added.add(d).write(ticks.added);
                changed.add(d).write(ticks.changed);
            }
        } else {
            let (values, size) = self.values_ptr(at);
            // SAFETY: row `row < len` of `self`: an initialized value, which
            // the caller vouches `extra` moves out (the loop below then
            // overwrites the slot without dropping it).
            unsafe { extra(values.add(size * row)) };
        }
        let (from, to) = (self.raw.ptr.as_ptr(), dst.raw.ptr.as_ptr());
        for (i, column) in self.columns.iter().enumerate() {
            let size = column.component.layout.size();
            // SAFETY: rows `row` and `last` are initialized rows of `self`
            // (`row <= last < len`), row `d` a spare row of `dst` (reserved
            // above); the offsets are those of each block's own layout.
            // Column `i` of `self` and column `j` of `dst` hold the same type
            // (shape checked above), so they have the same value size. Each
            // value is moved bitwise exactly once: row `row` to `dst` (or
            // out, by `extra`), then row `last` into `row`.
            unsafe {
                let values = from.add(column.values);
                let added = from.add(column.added).cast::<Tick>();
                let changed = from.add(column.changed).cast::<Tick>();
                if adding || i != at {
                    let j = if adding {
                        i + usize::from(i >= at)
                    } else {
                        i - usize::from(i > at)
                    };
                    let target = &dst.columns[j];
                    copy_value(
                        values.add(size * row),
                        to.add(target.values + size * d),
                        size,
                    );
                    to.add(target.added)
                        .cast::<Tick>()
                        .add(d)
                        .write(*added.add(row));
                    to.add(target.changed)
                        .cast::<Tick>()
                        .add(d)
                        .write(*changed.add(row));
                }
                if row != last {
                    copy_value(values.add(size * last), values.add(size * row), size);
                    *added.add(row) = *added.add(last);
                    *changed.add(row) = *changed.add(last);
                }
            }
        }
        // SAFETY: as above, for the entity arrays.
        unsafe {
            dst.entity_ptr().add(d).write(*self.entity_ptr().add(row));
            *self.entity_ptr().add(row) = *self.entity_ptr().add(last);
        }
        self.len = last;
        dst.len = d + 1;
        (row != last).then(|| self.entities()[row])
    }
}

/// Copies one value of `size` bytes from `src` to `dst` (a bitwise move),
/// with the common small sizes as fixed-size copies instead of a `memcpy`
/// call (row moves copy one value per column).
///
/// # Safety
/// As [`ptr::copy_nonoverlapping`] for `size` bytes.
#[inline(always)]
unsafe fn copy_value(src: *const u8, dst: *mut u8, size: usize) {
    /// Copies `N` bytes as one fixed-size (unaligned) copy.
    ///
    /// # Safety
    /// As [`ptr::copy_nonoverlapping`] for `N` bytes.
    #[inline(always)]
    unsafe fn fixed<const N: usize>(src: *const u8, dst: *mut u8) {
        // SAFETY: guaranteed by the caller; `[u8; N]` has alignment 1.
        unsafe { ptr::copy_nonoverlapping(src.cast::<[u8; N]>(), dst.cast::<[u8; N]>(), 1) }
    }
    // SAFETY: guaranteed by the caller, for the `size` bytes of each arm.
    unsafe {
        match size {
            0 => {}
            4 => fixed::<4>(src, dst),
            8 => fixed::<8>(src, dst),
            12 => fixed::<12>(src, dst),
            16 => fixed::<16>(src, dst),
            24 => fixed::<24>(src, dst),
            32 => fixed::<32>(src, dst),
            _ => ptr::copy_nonoverlapping(src, dst, size),
        }
    }
}

impl Drop for Block {
    /// Drops the values (the allocation is freed by its own drop, also when
    /// a value's `Drop` panics).
    fn drop(&mut self) {
        self.clear();
    }
}

/// A table column's values, type-erased and shared: what snapshots and
/// hashes read (`column_slice` makes them `&[T]`).
/// Also made from a sparse set's values.
#[derive(Clone, Copy)]
#[doc(hidden)]
pub struct ColumnRef<'a> {
    ptr: *const u8,
    len: usize,
    type_id: TypeId,
    _rows: PhantomData<&'a [u8]>,
}

impl<'a> ColumnRef<'a> {
    /// The rows of `values`.
    pub(crate) fn of<T: 'static>(values: &'a [T]) -> Self {
        Self {
            ptr: values.as_ptr().cast(),
            len: values.len(),
            type_id: TypeId::of::<T>(),
            _rows: PhantomData,
        }
    }

    /// The rows as `T`s; `None` when the column does not hold `T`.
    pub(crate) fn slice<T: 'static>(self) -> Option<&'a [T]> {
        if self.type_id != TypeId::of::<T>() {
            return None;
        }
        // SAFETY: `ptr` points to `len` initialized, aligned `T`s (the type
        // checked above), shared for `'a` as the slice or block it was made
        // from (invariant I2 for a block's column read through `&World`).
        Some(unsafe { std::slice::from_raw_parts(self.ptr.cast::<T>(), self.len) })
    }
}

/// The added and changed ticks of one table column, shared, under the same
/// borrow flag as the column (a writer of `T` stamps them through
/// [`write_ptrs`](Self::write_ptrs)).
#[derive(Clone, Copy)]
pub(crate) struct TableTicks<'a> {
    added: *mut Tick,
    changed: *mut Tick,
    len: usize,
    _block: PhantomData<&'a Block>,
}

impl<'a> TableTicks<'a> {
    /// The ticks of row `row` (invariants I1/I2: the caller holds a read or
    /// write flag of the column's type, or a `&World` outside any stage
    /// context).
    ///
    /// # Panics
    /// When `row` is out of bounds.
    pub(crate) fn get(self, row: usize) -> ComponentTicks {
        assert!(row < self.len, "row {row} out of bounds");
        // SAFETY: `row < len`: initialized ticks. A `&mut` to them only
        // exists under the write flag of the column's type (I1), which
        // excludes the caller's read flag, and flagless reads happen only
        // without flag-holding contexts (I2). Read by value, no reference.
        unsafe {
            ComponentTicks {
                added: self.added.add(row).read(),
                changed: self.changed.add(row).read(),
            }
        }
    }

    /// The number of rows.
    #[cfg(test)]
    pub(crate) fn slice_len(self) -> usize {
        self.len
    }

    /// Pointers to row 0 of the added and of the changed ticks, for
    /// reading (a read or write flag of the column's type is held; rows are
    /// read one by one through them, so reads may interleave with a `&mut`
    /// to *other* rows that the holder of the write flag handed out).
    pub(crate) fn read_ptrs(self) -> (*const Tick, *const Tick) {
        (self.added, self.changed)
    }

    /// Pointers to row 0 of the added ticks (read only: no query writes
    /// them) and of the changed ticks (for writing), under invariant I1:
    /// the caller holds the write flag of the column's type.
    pub(crate) fn write_ptrs(self) -> (*const Tick, *mut Tick) {
        (self.added, self.changed)
    }

    /// The changed ticks, mutable (invariant I1: the caller holds the write
    /// flag of the column's type and takes this once per borrow, together
    /// with the column's own values).
    pub(crate) fn changed_exclusive(self) -> &'a mut [Tick] {
        // SAFETY: `len` initialized ticks; the write flag of the column's
        // type excludes every other access to them, and the caller hands
        // the slice out once per borrow. The pointer is the block's own.
        unsafe { std::slice::from_raw_parts_mut(self.changed, self.len) }
    }

    /// The changed ticks of `rows`, shared (invariants I1/I2, as
    /// [`get`](Self::get)).
    ///
    /// # Panics
    /// When `rows` is out of bounds.
    fn changed_rows(&self, rows: std::ops::Range<usize>) -> &[Tick] {
        // SAFETY: as `get`; the slice lives no longer than `self`'s borrow
        // of the block.
        unsafe { &std::slice::from_raw_parts(self.changed, self.len)[rows] }
    }

    /// Whether any row in `rows` was stamped changed after `since`, seen from
    /// `now` (as [`Tick::is_newer_than`]), shared (invariants I1/I2, as
    /// [`get`](Self::get)). Added for `World::column_changed_since`.
    ///
    /// # Panics
    /// When `rows` is out of bounds.
    pub(crate) fn any_changed_after(
        self,
        rows: std::ops::Range<usize>,
        since: Tick,
        now: Tick,
    ) -> bool {
        let changed = self.changed_rows(rows);
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
    ///
    /// # Panics
    /// When `rows` is out of bounds.
    pub(crate) fn change_flags(
        self,
        rows: std::ops::Range<usize>,
        since: Tick,
        now: Tick,
        (added, changed): (u8, u8),
        out: &mut Vec<u8>,
    ) {
        let c = self.changed_rows(rows.clone());
        // SAFETY: as `changed_rows`, for the added ticks.
        let a = unsafe { &std::slice::from_raw_parts(self.added, self.len)[rows] };
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

/// A column was asked for as a type it does not hold: a bug in this
/// crate's storage code.
#[cold]
#[inline(never)]
pub(super) fn wrong_column_type(index: usize, type_name: &str) -> ! {
    panic!("storage invariant broken: column {index} is not of type `{type_name}`")
}

/// A row move along an edge found a target table of another shape: a bug
/// in this crate's storage code.
#[cold]
#[inline(never)]
fn wrong_move_target() -> ! {
    panic!("storage invariant broken: an edge's target table does not have the shape of the move")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::column::TypedColumn;
    use crate::storage::counted::Counted;
    use std::panic::{catch_unwind, AssertUnwindSafe};
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    /// Panics when dropped while its flag is set.
    struct Bomb(bool);
    impl Drop for Bomb {
        fn drop(&mut self) {
            assert!(!self.0, "a component's drop panics");
        }
    }

    struct Marker;

    /// An empty block of `columns` (in any order).
    fn block_of(mut columns: Vec<ComponentType>) -> Block {
        columns.sort_by_key(|c| c.type_id);
        Block::new(&columns)
    }

    fn index_of<T: 'static>(block: &Block) -> usize {
        (0..block.column_count())
            .find(|&i| block.component(i).type_id == TypeId::of::<T>())
            .unwrap()
    }

    /// Appends one row per `(id, name)`: `Counted(drops, id)`, the name,
    /// and a `Marker`.
    fn push(block: &mut Block, drops: &Arc<AtomicUsize>, rows: &[(u32, &str)]) {
        let mut columns: Vec<Box<dyn ErasedColumn>> = (0..block.column_count())
            .map(|i| {
                let t = block.component(i).type_id;
                if t == TypeId::of::<Counted>() {
                    TypedColumn::from_vec(
                        rows.iter().map(|r| Counted(drops.clone(), r.0)).collect(),
                    )
                } else if t == TypeId::of::<String>() {
                    TypedColumn::from_vec(rows.iter().map(|r| r.1.to_owned()).collect())
                } else {
                    TypedColumn::from_vec(rows.iter().map(|_| Marker).collect())
                }
            })
            .collect();
        let entities: Vec<Entity> = rows.iter().map(|r| Entity::new(r.0, 0)).collect();
        block.append_columns(&mut columns, &entities, Tick::new(r_tick(rows)));
    }

    fn r_tick(rows: &[(u32, &str)]) -> u32 {
        rows.first().map_or(0, |r| r.0)
    }

    fn ids(block: &Block) -> Vec<u32> {
        let counted = index_of::<Counted>(block);
        block
            .values::<Counted>(counted)
            .iter()
            .map(|c| c.1)
            .collect()
    }

    #[test]
    fn rows_survive_growth_and_capacity_doubles() {
        let drops = Arc::new(AtomicUsize::new(0));
        let columns = vec![
            ComponentType::of::<Counted>(),
            ComponentType::of::<String>(),
            ComponentType::of::<Marker>(),
        ];
        let mut block = block_of(columns.clone());
        assert_eq!((block.len(), block.capacity()), (0, 0));
        assert!(block.entities().is_empty());
        let names = ["a", "b", "c", "d", "e", "f", "g", "h", "i"];
        let mut capacities = Vec::new();
        for (i, name) in names.iter().enumerate() {
            push(&mut block, &drops, &[(i as u32, name)]);
            capacities.push(block.capacity());
        }
        assert_eq!(capacities, [4, 4, 4, 4, 8, 8, 8, 8, 16]);
        assert_eq!(ids(&block), (0..9).collect::<Vec<_>>());
        let strings = index_of::<String>(&block);
        assert_eq!(block.values::<String>(strings), names);
        assert_eq!(block.values::<Marker>(index_of::<Marker>(&block)).len(), 9);
        let entities: Vec<u32> = block.entities().iter().map(|e| e.index()).collect();
        assert_eq!(entities, (0..9).collect::<Vec<_>>());
        // Every row kept its ticks through the moves.
        for row in 0..9 {
            assert_eq!(
                block.ticks(strings).get(row),
                ComponentTicks::new(Tick::new(row as u32))
            );
        }
        // A batch into an empty block reserves exactly.
        let mut exact = block_of(columns);
        exact.reserve(10);
        assert_eq!(exact.capacity(), 10);
        assert_eq!(drops.load(Ordering::SeqCst), 0);
        drop(block);
        assert_eq!(drops.load(Ordering::SeqCst), 9);
    }

    #[test]
    fn swap_remove_relocates_and_drops_once() {
        let drops = Arc::new(AtomicUsize::new(0));
        let columns = vec![
            ComponentType::of::<Counted>(),
            ComponentType::of::<String>(),
        ];
        let mut block = block_of(columns.clone());
        push(
            &mut block,
            &drops,
            &[(0, "a"), (1, "b"), (2, "c"), (3, "d")],
        );
        let mut relocated = Vec::new();
        block.swap_remove(1, |e| relocated.push(e.index()));
        assert_eq!(relocated, [3]);
        assert_eq!(ids(&block), [0, 3, 2]);
        assert_eq!(
            block.values::<String>(index_of::<String>(&block)),
            ["a", "d", "c"]
        );
        assert_eq!(drops.load(Ordering::SeqCst), 1);
        // The last row moves nothing.
        block.swap_remove(2, |e| relocated.push(e.index()));
        assert_eq!(relocated, [3]);
        assert_eq!(ids(&block), [0, 3]);
        assert_eq!(drops.load(Ordering::SeqCst), 2);
        assert!(catch_unwind(AssertUnwindSafe(|| block.swap_remove(2, |_| ()))).is_err());
        block.clear();
        assert_eq!((block.len(), drops.load(Ordering::SeqCst)), (0, 4));
        // The allocation stays for the next rows.
        assert_eq!(block.capacity(), 4);
    }

    #[test]
    fn a_panicking_drop_still_drops_the_other_columns() {
        let drops = Arc::new(AtomicUsize::new(0));
        let columns = vec![ComponentType::of::<Counted>(), ComponentType::of::<Bomb>()];
        let mut block = block_of(columns.clone());
        let (counted, bomb) = (index_of::<Counted>(&block), index_of::<Bomb>(&block));
        let mut values: Vec<Box<dyn ErasedColumn>> = vec![
            TypedColumn::from_vec((0..3).map(|i| Counted(drops.clone(), i)).collect()),
            TypedColumn::from_vec(vec![Bomb(false), Bomb(true), Bomb(false)]),
        ];
        if bomb < counted {
            values.swap(0, 1);
        }
        let entities = [Entity::new(0, 0), Entity::new(1, 0), Entity::new(2, 0)];
        block.append_columns(&mut values, &entities, Tick::new(0));
        let result = catch_unwind(AssertUnwindSafe(|| block.swap_remove(1, |_| ())));
        assert!(result.is_err(), "the panic goes on");
        assert_eq!(block.len(), 2);
        assert_eq!(
            drops.load(Ordering::SeqCst),
            1,
            "the row's other value dropped"
        );
        assert_eq!(ids(&block), [0, 2]);
        assert_eq!(block.entities(), &[entities[0], entities[2]]);
        drop(block);
        assert_eq!(drops.load(Ordering::SeqCst), 3);
    }

    #[test]
    fn columns_of_another_type_or_length_are_refused() {
        let columns = [ComponentType::of::<u32>()];
        let mut block = Block::new(&columns);
        let entity = [Entity::new(0, 0)];
        let wrong_type = catch_unwind(AssertUnwindSafe(|| {
            block.append_columns(
                &mut [TypedColumn::from_vec(vec![1_u64])],
                &entity,
                Tick::new(0),
            );
        }));
        assert!(wrong_type.is_err());
        let wrong_len = catch_unwind(AssertUnwindSafe(|| {
            block.append_columns(
                &mut [TypedColumn::from_vec(vec![1_u32, 2])],
                &entity,
                Tick::new(0),
            );
        }));
        assert!(wrong_len.is_err());
        assert_eq!(block.len(), 0);
        let wrong_read = catch_unwind(AssertUnwindSafe(|| block.values::<u64>(0).len()));
        assert!(wrong_read.is_err());
    }
}
