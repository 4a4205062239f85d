//! Column cursors: how a query walks the rows of one table (or a chunk of
//! one). A [`Fetch`] is a set of base pointers with an `unsafe` per-row
//! getter; [`Cursor`] is the safe wrapper that fetches each row at most once
//! and never past the end, so plain loops over it compile to tight,
//! bounds-check-free code.

use std::marker::PhantomData;

use crate::change::{ComponentTicks, Mut, SystemTicks, Tick};
use crate::entity::Entity;

/// Per-table state of a query item: base pointers of its columns.
#[doc(hidden)]
pub trait Fetch: Send + Sized {
    /// What one row yields.
    type Item;

    /// The number of rows this fetch covers, or `None` when it holds no
    /// column (an absent `Option` column, `()`).
    fn rows(&self) -> Option<usize>;

    /// Splits into rows `..mid` and `mid..`.
    ///
    /// # Panics
    /// When `mid` is past the end.
    fn split_at(self, mid: usize) -> (Self, Self);

    /// The item of row `row`.
    ///
    /// # Safety
    /// `row` is below the length this fetch was made with (or split to), and
    /// no row is fetched twice from one fetch while an item of it that holds
    /// `&mut` may be alive. [`Cursor`] guarantees both.
    unsafe fn get(&mut self, row: usize) -> Self::Item;
}

/// Walks a shared column.
#[doc(hidden)]
pub struct ReadFetch<'a, T> {
    ptr: *const T,
    len: usize,
    _marker: PhantomData<&'a [T]>,
}

// SAFETY: a `ReadFetch` is a `&'a [T]` in pieces; sharing `&[T]` across
// threads needs `T: Sync`.
unsafe impl<T: Sync> Send for ReadFetch<'_, T> {}

impl<'a, T> ReadFetch<'a, T> {
    /// Walks `column`.
    pub fn new(column: &'a [T]) -> Self {
        Self {
            ptr: column.as_ptr(),
            len: column.len(),
            _marker: PhantomData,
        }
    }
}

impl<'a, T: Sync> Fetch for ReadFetch<'a, T> {
    type Item = &'a T;

    fn rows(&self) -> Option<usize> {
        Some(self.len)
    }

    fn split_at(self, mid: usize) -> (Self, Self) {
        assert!(mid <= self.len, "split past the end of a column");
        let tail = Self {
            // SAFETY: `mid <= len`, so the result is within (or one past) the
            // column this fetch was made from.
            ptr: unsafe { self.ptr.add(mid) },
            len: self.len - mid,
            _marker: PhantomData,
        };
        (Self { len: mid, ..self }, tail)
    }

    #[inline(always)]
    unsafe fn get(&mut self, row: usize) -> &'a T {
        debug_assert!(row < self.len);
        // SAFETY: the caller keeps `row < len`; the column is borrowed shared
        // for `'a` (the fetch was made from a `&'a [T]`).
        unsafe { &*self.ptr.add(row) }
    }
}

/// Walks a mutable column, stamping the ticks of each row written through
/// its [`Mut`].
#[doc(hidden)]
pub struct WriteFetch<'a, T> {
    ptr: *mut T,
    ticks: *mut ComponentTicks,
    this_run: Tick,
    len: usize,
    _marker: PhantomData<&'a mut [T]>,
}

// SAFETY: a `WriteFetch` is a `&'a mut [T]` in pieces; sending `&mut [T]` to
// another thread needs `T: Send`.
unsafe impl<T: Send> Send for WriteFetch<'_, T> {}

impl<'a, T> WriteFetch<'a, T> {
    /// Walks `column`, whose ticks (one per row) start at `ticks`, stamping
    /// writes with `this_run`.
    ///
    /// # Safety
    /// `ticks` points to `column.len()` ticks that nothing else accesses
    /// for `'a` except row-by-row reads of rows this fetch has not handed
    /// out (what `TableView::write` returns satisfies this).
    pub(crate) unsafe fn new(
        column: &'a mut [T],
        ticks: *mut ComponentTicks,
        this_run: Tick,
    ) -> Self {
        Self {
            ptr: column.as_mut_ptr(),
            ticks,
            this_run,
            len: column.len(),
            _marker: PhantomData,
        }
    }
}

impl<'a, T: Send> Fetch for WriteFetch<'a, T> {
    type Item = Mut<'a, T>;

    fn rows(&self) -> Option<usize> {
        Some(self.len)
    }

    fn split_at(self, mid: usize) -> (Self, Self) {
        assert!(mid <= self.len, "split past the end of a column");
        // SAFETY: `mid <= len`, so both results are within (or one past)
        // the column and its ticks this fetch was made from.
        let tail = unsafe {
            Self {
                ptr: self.ptr.add(mid),
                ticks: self.ticks.add(mid),
                this_run: self.this_run,
                len: self.len - mid,
                _marker: PhantomData,
            }
        };
        (Self { len: mid, ..self }, tail)
    }

    #[inline(always)]
    unsafe fn get(&mut self, row: usize) -> Mut<'a, T> {
        debug_assert!(row < self.len);
        // SAFETY: the caller keeps `row < len` and fetches each row once, so
        // these `&mut` are the only references to that element and its
        // ticks; the column is borrowed exclusively for `'a` (made from a
        // `&'a mut [T]`), the ticks by the contract of `new`, and the two
        // halves of a split cover disjoint rows.
        unsafe {
            Mut::new(
                &mut *self.ptr.add(row),
                &mut *self.ticks.add(row),
                self.this_run,
            )
        }
    }
}

/// Reads the ticks of one column row by row, for `Added`/`Changed`
/// filters: [`added`](Self::added) and [`changed`](Self::changed) say whether
/// a row's tick is newer than the system's last run.
#[doc(hidden)]
pub struct TicksFetch<'a> {
    ptr: *const ComponentTicks,
    len: usize,
    ticks: SystemTicks,
    _marker: PhantomData<&'a [ComponentTicks]>,
}

// SAFETY: a `TicksFetch` reads plain `Copy` data row by row under the
// borrow flag its query holds.
unsafe impl Send for TicksFetch<'_> {}

impl TicksFetch<'_> {
    /// Reads `len` ticks from `ptr`, compared against `ticks`.
    ///
    /// # Safety
    /// `ptr` points to `len` ticks that stay allocated for `'a`, and no row
    /// is written while this fetch reads it (writes to rows already passed
    /// are allowed: what `TableView::ticks_of` returns satisfies this).
    pub(crate) unsafe fn new(ptr: *const ComponentTicks, len: usize, ticks: SystemTicks) -> Self {
        Self {
            ptr,
            len,
            ticks,
            _marker: PhantomData,
        }
    }

    /// The number of rows.
    pub fn rows(&self) -> usize {
        self.len
    }

    /// Splits into rows `..mid` and `mid..`.
    ///
    /// # Panics
    /// When `mid` is past the end.
    pub fn split_at(self, mid: usize) -> (Self, Self) {
        assert!(mid <= self.len, "split past the end of a tick column");
        let tail = Self {
            // SAFETY: `mid <= len`: within (or one past) the ticks.
            ptr: unsafe { self.ptr.add(mid) },
            len: self.len - mid,
            ticks: self.ticks,
            _marker: PhantomData,
        };
        (Self { len: mid, ..self }, tail)
    }

    #[inline(always)]
    fn read(&self, row: usize) -> ComponentTicks {
        assert!(row < self.len, "tick row out of range");
        // SAFETY: `row < len`, and by the contract of `new` nothing writes
        // this row now; the read copies it out.
        unsafe { self.ptr.add(row).read() }
    }

    /// Whether row `row` was added after the system's last run.
    #[inline(always)]
    pub fn added(&self, row: usize) -> bool {
        self.read(row)
            .added
            .is_newer_than(self.ticks.last_run, self.ticks.this_run)
    }

    /// Whether row `row` was changed (or added) after the system's last run.
    #[inline(always)]
    pub fn changed(&self, row: usize) -> bool {
        self.read(row)
            .changed
            .is_newer_than(self.ticks.last_run, self.ticks.this_run)
    }
}

/// Walks an optional column: yields `None` for every row when the table
/// lacks it.
#[doc(hidden)]
pub struct OptionFetch<F>(Option<F>);

impl<F> OptionFetch<F> {
    /// Walks `fetch`, or yields `None` everywhere.
    pub fn new(fetch: Option<F>) -> Self {
        Self(fetch)
    }
}

impl<F: Fetch> Fetch for OptionFetch<F> {
    type Item = Option<F::Item>;

    fn rows(&self) -> Option<usize> {
        self.0.as_ref().and_then(Fetch::rows)
    }

    fn split_at(self, mid: usize) -> (Self, Self) {
        match self.0 {
            Some(fetch) => {
                let (a, b) = fetch.split_at(mid);
                (Self(Some(a)), Self(Some(b)))
            }
            None => (Self(None), Self(None)),
        }
    }

    #[inline(always)]
    unsafe fn get(&mut self, row: usize) -> Option<F::Item> {
        self.0.as_mut().map(|fetch| {
            // SAFETY: forwarded from the caller.
            unsafe { fetch.get(row) }
        })
    }
}

/// Yields whether the table has a component (`Has<T>`), the same for
/// every row.
#[doc(hidden)]
pub struct HasFetch(pub bool);

impl Fetch for HasFetch {
    type Item = bool;

    fn rows(&self) -> Option<usize> {
        None
    }

    fn split_at(self, _mid: usize) -> (Self, Self) {
        (Self(self.0), Self(self.0))
    }

    #[inline(always)]
    unsafe fn get(&mut self, _row: usize) -> bool {
        self.0
    }
}

/// Walks the entity ids of a table.
#[doc(hidden)]
pub struct EntityFetch<'a>(ReadFetch<'a, Entity>);

impl<'a> EntityFetch<'a> {
    /// Walks `entities`.
    pub fn new(entities: &'a [Entity]) -> Self {
        Self(ReadFetch::new(entities))
    }
}

impl Fetch for EntityFetch<'_> {
    type Item = Entity;

    fn rows(&self) -> Option<usize> {
        self.0.rows()
    }

    fn split_at(self, mid: usize) -> (Self, Self) {
        let (a, b) = self.0.split_at(mid);
        (Self(a), Self(b))
    }

    #[inline(always)]
    unsafe fn get(&mut self, row: usize) -> Entity {
        // SAFETY: forwarded from the caller.
        unsafe { *self.0.get(row) }
    }
}

/// The common length of two parts of one fetch.
fn same_len(a: Option<usize>, b: Option<usize>) -> Option<usize> {
    match (a, b) {
        (Some(x), Some(y)) => {
            assert_eq!(
                x, y,
                "storage invariant broken: columns of one table differ in length"
            );
            Some(x)
        }
        (x, None) | (None, x) => x,
    }
}

macro_rules! impl_fetch_tuple {
    ($($F:ident),*) => {
        impl<$($F: Fetch),*> Fetch for ($($F,)*) {
            type Item = ($($F::Item,)*);

            #[allow(non_snake_case)]
            fn rows(&self) -> Option<usize> {
                let ($($F,)*) = self;
                let len = None;
                $(let len = same_len(len, $F.rows());)*
                len
            }

            #[allow(non_snake_case, unused_variables, clippy::unused_unit)]
            fn split_at(self, mid: usize) -> (Self, Self) {
                let ($($F,)*) = self;
                $(let $F = $F.split_at(mid);)*
                (($($F.0,)*), ($($F.1,)*))
            }

            #[inline(always)]
            #[allow(non_snake_case, unused_variables, clippy::unused_unit)]
            unsafe fn get(&mut self, row: usize) -> Self::Item {
                let ($($F,)*) = self;
                // SAFETY: forwarded from the caller, for every part.
                ($(unsafe { $F.get(row) },)*)
            }
        }
    };
}

for_each_tuple!(impl_fetch_tuple);

/// The per-row part of a query filter: whether a row passes. `()` passes
/// every row (table-level filters need nothing per row).
#[doc(hidden)]
pub trait FilterFetch: Send + Sized {
    /// Whether row `row` passes.
    fn matches(&self, row: usize) -> bool;

    /// Splits into rows `..mid` and `mid..`.
    fn split_at(self, mid: usize) -> (Self, Self);
}

impl FilterFetch for () {
    #[inline(always)]
    fn matches(&self, _row: usize) -> bool {
        true
    }

    fn split_at(self, _mid: usize) -> (Self, Self) {
        ((), ())
    }
}

/// Rows added since the system's last run.
#[doc(hidden)]
pub struct AddedFetch<'a>(pub TicksFetch<'a>);

/// Rows changed (or added) since the system's last run.
#[doc(hidden)]
pub struct ChangedFetch<'a>(pub TicksFetch<'a>);

impl FilterFetch for AddedFetch<'_> {
    #[inline(always)]
    fn matches(&self, row: usize) -> bool {
        self.0.added(row)
    }

    fn split_at(self, mid: usize) -> (Self, Self) {
        let (a, b) = self.0.split_at(mid);
        (Self(a), Self(b))
    }
}

impl FilterFetch for ChangedFetch<'_> {
    #[inline(always)]
    fn matches(&self, row: usize) -> bool {
        self.0.changed(row)
    }

    fn split_at(self, mid: usize) -> (Self, Self) {
        let (a, b) = self.0.split_at(mid);
        (Self(a), Self(b))
    }
}

macro_rules! impl_filter_fetch_tuple {
    ($($F:ident),*) => {
        impl<$($F: FilterFetch),*> FilterFetch for ($($F,)*) {
            #[inline(always)]
            #[allow(non_snake_case, unused_variables)]
            fn matches(&self, row: usize) -> bool {
                let ($($F,)*) = self;
                true $(&& $F.matches(row))*
            }

            #[allow(non_snake_case, unused_variables, clippy::unused_unit)]
            fn split_at(self, mid: usize) -> (Self, Self) {
                let ($($F,)*) = self;
                $(let $F = $F.split_at(mid);)*
                (($($F.0,)*), ($($F.1,)*))
            }
        }
    };
}

impl_filter_fetch_tuple!(A);
impl_filter_fetch_tuple!(A, B);
impl_filter_fetch_tuple!(A, B, C);
impl_filter_fetch_tuple!(A, B, C, D);
impl_filter_fetch_tuple!(A, B, C, D, E);
impl_filter_fetch_tuple!(A, B, C, D, E, F);
impl_filter_fetch_tuple!(A, B, C, D, E, F, G);
impl_filter_fetch_tuple!(A, B, C, D, E, F, G, H);

/// A fetch with a row counter: the only way rows are fetched. Yields the
/// rows of `0..len` that pass the filter, in order, each once.
pub(crate) struct Cursor<F, R = ()> {
    fetch: F,
    filter: R,
    row: usize,
    len: usize,
}

impl<F: Fetch> Cursor<F> {
    /// Walks the `rows` rows of `fetch`.
    ///
    /// # Panics
    /// When `fetch` covers a different number of rows.
    #[cfg(test)]
    pub(crate) fn new(fetch: F, rows: usize) -> Self {
        Cursor::filtered(fetch, (), rows)
    }
}

impl<F: Fetch, R: FilterFetch> Cursor<F, R> {
    /// Walks the rows of `fetch` (`rows` of them) that pass `filter`.
    ///
    /// # Panics
    /// When `fetch` covers a different number of rows.
    pub(crate) fn filtered(fetch: F, filter: R, rows: usize) -> Self {
        if let Some(len) = fetch.rows() {
            assert_eq!(
                len, rows,
                "storage invariant broken: fetch and table differ in length"
            );
        }
        Self {
            fetch,
            filter,
            row: 0,
            len: rows,
        }
    }

    /// The rows not yet yielded.
    pub(crate) fn remaining(&self) -> usize {
        self.len - self.row
    }

    /// Splits an unstarted cursor into rows `..mid` and `mid..`.
    ///
    /// # Panics
    /// When the cursor has started or `mid` is past the end.
    pub(crate) fn split_at(self, mid: usize) -> (Self, Self) {
        assert!(
            self.row == 0 && mid <= self.len,
            "split of a started cursor or past its end"
        );
        let (a, b) = self.fetch.split_at(mid);
        let (fa, fb) = self.filter.split_at(mid);
        (
            Self {
                fetch: a,
                filter: fa,
                row: 0,
                len: mid,
            },
            Self {
                fetch: b,
                filter: fb,
                row: 0,
                len: self.len - mid,
            },
        )
    }

    /// The next passing row's item.
    #[inline(always)]
    pub(crate) fn next(&mut self) -> Option<F::Item> {
        while self.row < self.len {
            let row = self.row;
            self.row += 1;
            if self.filter.matches(row) {
                // SAFETY: `row < len`, the length the fetch was checked
                // against (or split to), and `row` only grows, so each row
                // is fetched once.
                return Some(unsafe { self.fetch.get(row) });
            }
        }
        None
    }

    /// The number of remaining rows that pass the filter.
    pub(crate) fn count_passing(&self) -> usize {
        (self.row..self.len)
            .filter(|&row| self.filter.matches(row))
            .count()
    }

    /// Calls `f` on every remaining passing row's item, in order.
    #[inline(always)]
    pub(crate) fn for_each(mut self, mut f: impl FnMut(F::Item)) {
        for row in self.row..self.len {
            if self.filter.matches(row) {
                // SAFETY: `row < len` as for `next`, each row once (the
                // cursor is consumed).
                f(unsafe { self.fetch.get(row) });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_split_and_walk_each_row_once() {
        let mut a = vec![1_u32, 2, 3, 4, 5];
        let b = vec![10_u64, 20, 30, 40, 50];
        let mut ticks = vec![ComponentTicks::default(); 5];
        // SAFETY: `ticks` has one entry per row and is touched by nothing
        // else while the fetch lives.
        let write = unsafe { WriteFetch::new(&mut a, ticks.as_mut_ptr(), Tick::new(7)) };
        let fetch = (write, OptionFetch::new(Some(ReadFetch::new(&b))));
        let cursor = Cursor::new(fetch, 5);
        let (left, mut right) = cursor.split_at(2);
        assert_eq!(right.remaining(), 3);
        std::thread::scope(|s| {
            s.spawn(move || left.for_each(|(mut x, y)| *x += *y.unwrap() as u32));
            while let Some((mut x, y)) = right.next() {
                *x *= y.map_or(0, |y| *y as u32);
            }
        });
        assert_eq!(a, [11, 22, 90, 160, 250]);
        assert!(ticks.iter().all(|t| t.changed == Tick::new(7)));
    }

    #[test]
    #[should_panic(expected = "differ in length")]
    fn a_cursor_longer_than_its_columns_is_refused() {
        let a = [1_u8];
        let _ = Cursor::new(ReadFetch::new(&a), 2);
    }

    #[test]
    fn absent_columns_yield_none() {
        let mut cursor = Cursor::new((OptionFetch::<ReadFetch<'_, u8>>::new(None), ()), 2);
        assert_eq!(cursor.next(), Some((None, ())));
        assert_eq!(cursor.next(), Some((None, ())));
        assert_eq!(cursor.next(), None);
    }
}
