//! Column cursors: how a query walks the rows of one table (or a chunk of
//! one). A [`Fetch`] is a set of base pointers with an `unsafe` per-row
//! getter; [`Cursor`] is the safe wrapper that fetches each row at most once
//! and never past the end, so plain loops over it compile to tight,
//! bounds-check-free code.

use std::marker::PhantomData;

use super::sparse::{SparseRows, TICK_STRIDE};
use crate::change::{ComponentTicks, Mut, SystemTicks, Tick};
use crate::entity::Entity;

/// The row-by-row lookup of a sparse component, or `None` for a table
/// column (where row `r` of the table is row `r` of the column).
type Lookup<'a> = Option<SparseRows<'a>>;

/// The index into the values of row `row`: the row itself for a column
/// (where the caller keeps `row < len == values`), the entity's dense index
/// for a sparse set (checked against `values` here, so the table path of a
/// hot loop carries no extra check).
///
/// # Panics
/// When a sparse lookup finds no component for the row (a query invariant:
/// rows without it are filtered out before they are fetched), or a dense
/// index is out of range (a storage invariant).
#[inline(always)]
fn value_index(lookup: &Lookup<'_>, row: usize, values: usize) -> usize {
    match lookup {
        None => row,
        Some(rows) => {
            let dense = rows.dense(row).unwrap_or_else(|| {
                panic!("query invariant broken: a fetched row lacks its sparse component")
            });
            assert!(
                dense < values,
                "storage invariant broken: dense index out of range"
            );
            dense
        }
    }
}

/// Where the ticks of value `index` are, in ticks from those of value 0:
/// a column's ticks are arrays of their own, a sparse set's are in its
/// dense entries ([`TICK_STRIDE`] ticks apart).
#[inline(always)]
fn tick_index(lookup: &Lookup<'_>, index: usize) -> usize {
    match lookup {
        None => index,
        Some(_) => index * TICK_STRIDE,
    }
}

/// Splits a lookup at `mid` (no-op halves for a column).
fn split_lookup<'a>(lookup: Lookup<'a>, mid: usize) -> (Lookup<'a>, Lookup<'a>) {
    match lookup {
        None => (None, None),
        Some(rows) => {
            let (a, b) = rows.split_at(mid);
            (Some(a), Some(b))
        }
    }
}

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

    /// Whether row `row` has the data (always for a table column; for a
    /// sparse component, whether the row's entity has one). `Option<..>`
    /// items yield `None` where this is false.
    ///
    /// # Panics
    /// When `row` is out of range.
    #[inline(always)]
    fn present(&self, _row: usize) -> bool {
        true
    }

    /// Whether every part reads table columns only (no sparse lookup), so
    /// that [`get_dense`](Self::get_dense) may be used.
    #[inline(always)]
    fn is_dense(&self) -> bool {
        true
    }

    /// The item of row `row` of a dense fetch: as [`get`](Self::get) without
    /// the per-row choice between column and sparse set, so that hot loops
    /// over tables compile as before sparse sets existed.
    ///
    /// # Safety
    /// As [`get`](Self::get), and [`is_dense`](Self::is_dense) is `true`.
    #[inline(always)]
    unsafe fn get_dense(&mut self, row: usize) -> Self::Item {
        // SAFETY: forwarded from the caller.
        unsafe { self.get(row) }
    }
}

/// Walks a shared column.
#[doc(hidden)]
pub struct ReadFetch<'a, T> {
    ptr: *const T,
    /// Rows covered.
    len: usize,
    /// For a sparse set: the dense lookup (and `ptr` is its dense row 0).
    lookup: Lookup<'a>,
    /// The number of values behind `ptr` (`len` for a column).
    values: usize,
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
            lookup: None,
            values: column.len(),
            _marker: PhantomData,
        }
    }

    /// Walks the rows of `lookup` through the dense `values` of a sparse
    /// set.
    pub fn sparse(values: &'a [T], lookup: SparseRows<'a>) -> Self {
        Self {
            ptr: values.as_ptr(),
            len: lookup.len(),
            lookup: Some(lookup),
            values: values.len(),
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
        if self.lookup.is_some() {
            let (a, b) = split_lookup(self.lookup, mid);
            let head = Self {
                len: mid,
                lookup: a,
                ..self
            };
            let tail = Self {
                len: self.len - mid,
                lookup: b,
                ..self
            };
            return (head, tail);
        }
        let tail = Self {
            // SAFETY: `mid <= len`, so the result is within (or one past) the
            // column this fetch was made from.
            ptr: unsafe { self.ptr.add(mid) },
            len: self.len - mid,
            lookup: None,
            values: self.values - mid,
            _marker: PhantomData,
        };
        (
            Self {
                len: mid,
                values: mid,
                ..self
            },
            tail,
        )
    }

    #[inline(always)]
    unsafe fn get(&mut self, row: usize) -> &'a T {
        debug_assert!(row < self.len);
        let index = value_index(&self.lookup, row, self.values);
        // SAFETY: `index < values`, the number of values behind `ptr` (for a
        // column `index == row < len == values`); the values are borrowed shared for `'a` (the fetch was made from a
        // `&'a [T]`).
        unsafe { &*self.ptr.add(index) }
    }

    #[inline(always)]
    fn present(&self, row: usize) -> bool {
        self.lookup.as_ref().is_none_or(|l| l.dense(row).is_some())
    }

    #[inline(always)]
    fn is_dense(&self) -> bool {
        self.lookup.is_none()
    }

    #[inline(always)]
    unsafe fn get_dense(&mut self, row: usize) -> Self::Item {
        debug_assert!(row < self.len && self.lookup.is_none());
        // SAFETY: the caller keeps `row < len`, and a dense fetch walks a
        // column of `len` values borrowed for `'a`; each row is fetched
        // once (as for `get`).
        unsafe { &*self.ptr.add(row) }
    }
}

/// Walks a mutable column, stamping the ticks of each row written through
/// its [`Mut`].
#[doc(hidden)]
pub struct WriteFetch<'a, T> {
    ptr: *mut T,
    /// Row 0 of the added ticks (read only) and of the changed ticks.
    added: *const Tick,
    changed: *mut Tick,
    this_run: Tick,
    /// Rows covered.
    len: usize,
    /// For a sparse set: the dense lookup (`ptr` and `ticks` are its dense
    /// row 0).
    lookup: Lookup<'a>,
    /// The number of values (and ticks) behind `ptr` (`len` for a column).
    values: usize,
    _marker: PhantomData<&'a mut [T]>,
}

// SAFETY: a `WriteFetch` is a `&'a mut [T]` in pieces; sending `&mut [T]` to
// another thread needs `T: Send`.
unsafe impl<T: Send> Send for WriteFetch<'_, T> {}

impl<'a, T> WriteFetch<'a, T> {
    /// Walks `column`, whose added and changed ticks (one per row each)
    /// start at `ticks.0` and `ticks.1`, stamping writes with `this_run`.
    ///
    /// # Safety
    /// `ticks.0` and `ticks.1` point to `column.len()` ticks each that stay
    /// allocated for `'a`; nothing writes the added ticks for `'a`, and
    /// nothing else accesses the changed ticks for `'a` except row-by-row
    /// reads of rows this fetch has not handed out (what
    /// `TableView::write` returns satisfies this).
    pub(crate) unsafe fn new(
        column: &'a mut [T],
        ticks: (*const Tick, *mut Tick),
        this_run: Tick,
    ) -> Self {
        Self {
            ptr: column.as_mut_ptr(),
            added: ticks.0,
            changed: ticks.1,
            this_run,
            len: column.len(),
            lookup: None,
            values: column.len(),
            _marker: PhantomData,
        }
    }

    /// Walks the rows of `lookup` through the `values` dense values of a
    /// sparse set at `ptr` and their added and changed ticks at `ticks.0`
    /// and `ticks.1` ([`TICK_STRIDE`] ticks from one value's to the
    /// next's, as `SparseSet::tick_ptrs` gives them), stamping writes with
    /// `this_run`.
    ///
    /// # Safety
    /// `ptr` points to `values` elements, `ticks.0` and `ticks.1` to
    /// `values` ticks each at that stride, that stay allocated for `'a`; nothing writes the added ticks for `'a`, and
    /// nothing else accesses the values and changed ticks for `'a` except
    /// through fetches of other rows of the same query (each entity has one
    /// dense index and is one row, so rows never share an element) and
    /// row-by-row tick reads of rows this fetch has not handed out.
    pub(crate) unsafe fn sparse(
        ptr: *mut T,
        ticks: (*const Tick, *mut Tick),
        values: usize,
        lookup: SparseRows<'a>,
        this_run: Tick,
    ) -> Self {
        Self {
            ptr,
            added: ticks.0,
            changed: ticks.1,
            this_run,
            len: lookup.len(),
            lookup: Some(lookup),
            values,
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
        if self.lookup.is_some() {
            let (a, b) = split_lookup(self.lookup, mid);
            let head = Self {
                len: mid,
                lookup: a,
                ..self
            };
            let tail = Self {
                len: self.len - mid,
                lookup: b,
                ..self
            };
            return (head, tail);
        }
        // SAFETY: `mid <= len`, so both results are within (or one past)
        // the column and its ticks this fetch was made from.
        let tail = unsafe {
            Self {
                ptr: self.ptr.add(mid),
                added: self.added.add(mid),
                changed: self.changed.add(mid),
                this_run: self.this_run,
                len: self.len - mid,
                lookup: None,
                values: self.values - mid,
                _marker: PhantomData,
            }
        };
        (
            Self {
                len: mid,
                values: mid,
                ..self
            },
            tail,
        )
    }

    #[inline(always)]
    unsafe fn get(&mut self, row: usize) -> Mut<'a, T> {
        debug_assert!(row < self.len);
        let index = value_index(&self.lookup, row, self.values);
        let tick = tick_index(&self.lookup, index);
        // SAFETY: `index < values` (for a column `index == row < len ==
        // values`), so `tick` is value `index`'s ticks (see `tick_index`);
        // the caller fetches each row once, and
        // distinct rows have distinct indices (a column's rows are its
        // indices; a sparse set's rows are distinct entities with distinct
        // dense indices), so these `&mut` are the only references to that
        // element and its ticks; the values are borrowed exclusively for
        // `'a` (by `&'a mut [T]`, or the contract of `sparse`), the ticks by
        // the contract of `new`/`sparse`, and the halves of a split cover
        // disjoint rows.
        unsafe {
            Mut::new(
                &mut *self.ptr.add(index),
                &*self.added.add(tick),
                &mut *self.changed.add(tick),
                self.this_run,
            )
        }
    }

    #[inline(always)]
    fn present(&self, row: usize) -> bool {
        self.lookup.as_ref().is_none_or(|l| l.dense(row).is_some())
    }

    #[inline(always)]
    fn is_dense(&self) -> bool {
        self.lookup.is_none()
    }

    #[inline(always)]
    unsafe fn get_dense(&mut self, row: usize) -> Self::Item {
        debug_assert!(row < self.len && self.lookup.is_none());
        // SAFETY: the caller keeps `row < len`, and a dense fetch walks a
        // column of `len` values borrowed for `'a`; each row is fetched
        // once (as for `get`).
        unsafe {
            Mut::new(
                &mut *self.ptr.add(row),
                &*self.added.add(row),
                &mut *self.changed.add(row),
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
    /// Row 0 of the added ticks and of the changed ticks.
    added: *const Tick,
    changed: *const Tick,
    /// Rows covered.
    len: usize,
    ticks: SystemTicks,
    /// For a sparse set: the dense lookup (`ptr` is its dense row 0).
    lookup: Lookup<'a>,
    /// The number of ticks behind each pointer (`len` for a column).
    values: usize,
    _marker: PhantomData<&'a [Tick]>,
}

// SAFETY: a `TicksFetch` reads plain `Copy` data row by row under the
// borrow flag its query holds.
unsafe impl Send for TicksFetch<'_> {}

impl<'a> TicksFetch<'a> {
    /// Reads `len` rows of added and changed ticks from `ptrs.0` and
    /// `ptrs.1`, compared against `ticks`.
    ///
    /// # Safety
    /// `ptrs.0` and `ptrs.1` point to `len` ticks each that stay allocated
    /// for `'a`, and no row is written while this fetch reads it (writes to
    /// rows already passed are allowed: what `TableView::ticks_of` returns
    /// satisfies this).
    pub(crate) unsafe fn new(
        ptrs: (*const Tick, *const Tick),
        len: usize,
        ticks: SystemTicks,
    ) -> Self {
        Self {
            added: ptrs.0,
            changed: ptrs.1,
            len,
            ticks,
            lookup: None,
            values: len,
            _marker: PhantomData,
        }
    }

    /// Reads the dense ticks (`values` of each kind from `ptrs.0` and
    /// `ptrs.1`, [`TICK_STRIDE`] ticks apart, as `SparseSet::tick_ptrs`
    /// gives them) of a sparse set for the rows of `lookup`, compared
    /// against `ticks`.
    ///
    /// # Safety
    /// As [`new`](Self::new), for `values` ticks at that stride.
    pub(crate) unsafe fn sparse(
        ptrs: (*const Tick, *const Tick),
        values: usize,
        lookup: SparseRows<'a>,
        ticks: SystemTicks,
    ) -> Self {
        Self {
            added: ptrs.0,
            changed: ptrs.1,
            len: lookup.len(),
            ticks,
            lookup: Some(lookup),
            values,
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
        if self.lookup.is_some() {
            let (a, b) = split_lookup(self.lookup, mid);
            let head = Self {
                len: mid,
                lookup: a,
                ..self
            };
            let tail = Self {
                len: self.len - mid,
                lookup: b,
                ..self
            };
            return (head, tail);
        }
        let tail = Self {
            // SAFETY: `mid <= len`: within (or one past) the ticks.
            added: unsafe { self.added.add(mid) },
            // SAFETY: as above.
            changed: unsafe { self.changed.add(mid) },
            len: self.len - mid,
            ticks: self.ticks,
            lookup: None,
            values: self.values - mid,
            _marker: PhantomData,
        };
        (
            Self {
                len: mid,
                values: mid,
                ..self
            },
            tail,
        )
    }

    /// The ticks of row `row`, or `None` when the row has no sparse
    /// component.
    #[inline(always)]
    fn read(&self, row: usize) -> Option<ComponentTicks> {
        assert!(row < self.len, "tick row out of range");
        let index = match &self.lookup {
            // `row < len == values` for a column.
            None => row,
            Some(lookup) => {
                let dense = lookup.dense(row)?;
                assert!(
                    dense < self.values,
                    "storage invariant broken: dense index out of range"
                );
                dense * TICK_STRIDE
            }
        };
        // SAFETY: `index` is the ticks of a value `< values` (see
        // `tick_index`), and by the contract of `new`/`sparse` nothing
        // writes these elements now; the reads copy them out.
        Some(unsafe {
            ComponentTicks {
                added: self.added.add(index).read(),
                changed: self.changed.add(index).read(),
            }
        })
    }

    /// Whether row `row` was added after the system's last run (`false`
    /// for a row without the sparse component).
    #[inline(always)]
    pub fn added(&self, row: usize) -> bool {
        self.read(row).is_some_and(|t| {
            t.added
                .is_newer_than(self.ticks.last_run, self.ticks.this_run)
        })
    }

    /// Whether row `row` was changed (or added) after the system's last
    /// run (`false` for a row without the sparse component).
    #[inline(always)]
    pub fn changed(&self, row: usize) -> bool {
        self.read(row).is_some_and(|t| {
            t.changed
                .is_newer_than(self.ticks.last_run, self.ticks.this_run)
        })
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
        self.0
            .as_mut()
            .filter(|fetch| fetch.present(row))
            .map(|fetch| {
                // SAFETY: forwarded from the caller.
                unsafe { fetch.get(row) }
            })
    }

    #[inline(always)]
    fn is_dense(&self) -> bool {
        self.0.as_ref().is_none_or(Fetch::is_dense)
    }

    #[inline(always)]
    unsafe fn get_dense(&mut self, row: usize) -> Option<F::Item> {
        self.0.as_mut().map(|fetch| {
            // SAFETY: forwarded from the caller (a dense part has every row).
            unsafe { fetch.get_dense(row) }
        })
    }
}

/// Yields whether an entity has a component (`Has<T>`): the same for every
/// row of a table for a table column, looked up per row for a sparse set.
#[doc(hidden)]
pub enum HasFetch<'a> {
    /// A table component: whether the table has its column.
    Table(bool),
    /// A sparse component: per row.
    Sparse(SparseRows<'a>),
}

impl Fetch for HasFetch<'_> {
    type Item = bool;

    fn rows(&self) -> Option<usize> {
        match self {
            Self::Table(_) => None,
            Self::Sparse(rows) => Some(rows.len()),
        }
    }

    fn split_at(self, mid: usize) -> (Self, Self) {
        match self {
            Self::Table(has) => (Self::Table(has), Self::Table(has)),
            Self::Sparse(rows) => {
                let (a, b) = rows.split_at(mid);
                (Self::Sparse(a), Self::Sparse(b))
            }
        }
    }

    #[inline(always)]
    unsafe fn get(&mut self, row: usize) -> bool {
        match self {
            Self::Table(has) => *has,
            Self::Sparse(rows) => rows.dense(row).is_some(),
        }
    }

    #[inline(always)]
    fn is_dense(&self) -> bool {
        matches!(self, Self::Table(_))
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

    #[inline(always)]
    unsafe fn get_dense(&mut self, row: usize) -> Entity {
        // SAFETY: forwarded from the caller (an entity list is a column).
        unsafe { *self.0.get_dense(row) }
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

            #[inline(always)]
            #[allow(non_snake_case, unused_variables)]
            fn is_dense(&self) -> bool {
                let ($($F,)*) = self;
                true $(&& $F.is_dense())*
            }

            #[inline(always)]
            #[allow(non_snake_case, unused_variables, clippy::unused_unit)]
            unsafe fn get_dense(&mut self, row: usize) -> Self::Item {
                let ($($F,)*) = self;
                // SAFETY: forwarded from the caller, for every part (each is
                // dense when the tuple is).
                ($(unsafe { $F.get_dense(row) },)*)
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

    /// Whether every row passes (so loops may skip [`matches`](Self::matches)).
    #[inline(always)]
    fn passes_all(&self) -> bool {
        false
    }

    /// Whether no row can pass (so the table may be skipped).
    #[inline(always)]
    fn passes_none(&self) -> bool {
        false
    }
}

impl FilterFetch for () {
    #[inline(always)]
    fn matches(&self, _row: usize) -> bool {
        true
    }

    fn split_at(self, _mid: usize) -> (Self, Self) {
        ((), ())
    }

    #[inline(always)]
    fn passes_all(&self) -> bool {
        true
    }
}

/// The query-level row filter for sparse components: rows whose entity has
/// every `required` sparse component and none of the `excluded` ones.
#[doc(hidden)]
pub struct SparseFilter<'a> {
    /// The lookups of the required and of the excluded sets; `None` when
    /// the query filters by no sparse component (every row passes). Boxed:
    /// one word to make and move per table in the common case.
    lists: Option<Box<(Vec<SparseRows<'a>>, Vec<SparseRows<'a>>)>>,
}

impl<'a> SparseFilter<'a> {
    /// Passes every row (made per table by most queries: no allocation).
    pub(crate) const NONE: Self = Self { lists: None };

    /// Keeps rows with every set of `required` and none of `excluded`.
    pub(crate) fn new(required: Vec<SparseRows<'a>>, excluded: Vec<SparseRows<'a>>) -> Self {
        if required.is_empty() && excluded.is_empty() {
            return Self::NONE;
        }
        Self {
            lists: Some(Box::new((required, excluded))),
        }
    }
}

fn split_all<'a>(
    rows: Vec<SparseRows<'a>>,
    mid: usize,
) -> (Vec<SparseRows<'a>>, Vec<SparseRows<'a>>) {
    rows.into_iter().map(|r| r.split_at(mid)).unzip()
}

impl FilterFetch for SparseFilter<'_> {
    #[inline(always)]
    fn matches(&self, row: usize) -> bool {
        self.lists.as_deref().is_none_or(|(required, excluded)| {
            required.iter().all(|r| r.dense(row).is_some())
                && excluded.iter().all(|r| r.dense(row).is_none())
        })
    }

    fn split_at(self, mid: usize) -> (Self, Self) {
        let Some(lists) = self.lists else {
            return (Self::NONE, Self::NONE);
        };
        let (required, excluded) = *lists;
        let (ra, rb) = split_all(required, mid);
        let (ea, eb) = split_all(excluded, mid);
        (Self::new(ra, ea), Self::new(rb, eb))
    }

    #[inline(always)]
    fn passes_all(&self) -> bool {
        self.lists.is_none()
    }
}

/// One row-level condition of an [`Or`](crate::Or) branch.
#[doc(hidden)]
pub enum RowCheck<'a> {
    /// The entity has the sparse component.
    Has(SparseRows<'a>),
    /// The entity lacks the sparse component.
    Lacks(SparseRows<'a>),
    /// The component was added since the last run.
    Added(TicksFetch<'a>),
    /// The component was changed since the last run.
    Changed(TicksFetch<'a>),
    /// Any of these branches holds (a nested `Or`).
    Any(Vec<Branch<'a>>),
}

impl RowCheck<'_> {
    fn matches(&self, row: usize) -> bool {
        match self {
            Self::Has(rows) => rows.dense(row).is_some(),
            Self::Lacks(rows) => rows.dense(row).is_none(),
            Self::Added(ticks) => ticks.added(row),
            Self::Changed(ticks) => ticks.changed(row),
            Self::Any(branches) => branches.iter().any(|b| b.matches(row)),
        }
    }

    fn split_at(self, mid: usize) -> (Self, Self) {
        match self {
            Self::Has(rows) => {
                let (a, b) = rows.split_at(mid);
                (Self::Has(a), Self::Has(b))
            }
            Self::Lacks(rows) => {
                let (a, b) = rows.split_at(mid);
                (Self::Lacks(a), Self::Lacks(b))
            }
            Self::Added(ticks) => {
                let (a, b) = ticks.split_at(mid);
                (Self::Added(a), Self::Added(b))
            }
            Self::Changed(ticks) => {
                let (a, b) = ticks.split_at(mid);
                (Self::Changed(a), Self::Changed(b))
            }
            Self::Any(branches) => {
                let (a, b) = branches.into_iter().map(|x| x.split_at(mid)).unzip();
                (Self::Any(a), Self::Any(b))
            }
        }
    }
}

/// One branch of an [`Or`](crate::Or) over one table: whether the table
/// can match (`With`/`Without` of table components), and the row-level
/// conditions that must all hold.
#[doc(hidden)]
pub struct Branch<'a> {
    pass: bool,
    checks: Vec<RowCheck<'a>>,
}

impl Default for Branch<'_> {
    fn default() -> Self {
        Self {
            pass: true,
            checks: Vec::new(),
        }
    }
}

impl<'a> Branch<'a> {
    /// Adds a table-level condition.
    pub fn require(&mut self, holds: bool) {
        self.pass &= holds;
    }

    /// Adds a row-level condition.
    pub fn check(&mut self, check: RowCheck<'a>) {
        self.checks.push(check);
    }

    /// Whether the table can match at all.
    pub fn can_pass(&self) -> bool {
        self.pass
    }

    fn matches(&self, row: usize) -> bool {
        self.pass && self.checks.iter().all(|c| c.matches(row))
    }

    fn split_at(self, mid: usize) -> (Self, Self) {
        let (a, b) = self.checks.into_iter().map(|c| c.split_at(mid)).unzip();
        (
            Self {
                pass: self.pass,
                checks: a,
            },
            Self {
                pass: self.pass,
                checks: b,
            },
        )
    }
}

/// Rows that pass any branch of an [`Or`](crate::Or) (only the branches
/// the table can pass are kept).
#[doc(hidden)]
pub struct OrFetch<'a>(pub Vec<Branch<'a>>);

impl FilterFetch for OrFetch<'_> {
    #[inline(always)]
    fn matches(&self, row: usize) -> bool {
        self.0.iter().any(|b| b.matches(row))
    }

    fn split_at(self, mid: usize) -> (Self, Self) {
        let (a, b) = self.0.into_iter().map(|x| x.split_at(mid)).unzip();
        (Self(a), Self(b))
    }

    fn passes_all(&self) -> bool {
        self.0.iter().any(|b| b.pass && b.checks.is_empty())
    }

    fn passes_none(&self) -> bool {
        self.0.is_empty()
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

            #[inline(always)]
            #[allow(non_snake_case, unused_variables)]
            fn passes_all(&self) -> bool {
                let ($($F,)*) = self;
                true $(&& $F.passes_all())*
            }

            #[inline(always)]
            #[allow(non_snake_case, unused_variables)]
            fn passes_none(&self) -> bool {
                let ($($F,)*) = self;
                false $(|| $F.passes_none())*
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
    /// Every row passes and the fetch reads table columns only: rows are
    /// fetched without filter or sparse checks.
    dense: bool,
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
        // A filter no row can pass walks nothing (the cursor starts at
        // its end).
        let row = if filter.passes_none() { rows } else { 0 };
        let dense = filter.passes_all() && fetch.is_dense();
        Self {
            fetch,
            filter,
            row,
            len: rows,
            dense,
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
            (self.row == 0 || self.row == self.len) && mid <= self.len,
            "split of a started cursor or past its end"
        );
        let skip = self.row == self.len;
        let (a, b) = self.fetch.split_at(mid);
        let (fa, fb) = self.filter.split_at(mid);
        (
            Self {
                fetch: a,
                filter: fa,
                row: if skip { mid } else { 0 },
                len: mid,
                dense: self.dense,
            },
            Self {
                fetch: b,
                filter: fb,
                row: if skip { self.len - mid } else { 0 },
                len: self.len - mid,
                dense: self.dense,
            },
        )
    }

    /// The next passing row's item.
    #[inline(always)]
    pub(crate) fn next(&mut self) -> Option<F::Item> {
        if self.dense {
            if self.row < self.len {
                let row = self.row;
                self.row += 1;
                // SAFETY: `row < len` and `row` only grows, as below; the
                // fetch is dense.
                return Some(unsafe { self.fetch.get_dense(row) });
            }
            return None;
        }
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
        if self.dense {
            for row in self.row..self.len {
                // SAFETY: `row < len` as for `next`, each row once (the
                // cursor is consumed), and the fetch is dense.
                f(unsafe { self.fetch.get_dense(row) });
            }
            return;
        }
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
        let added = [Tick::new(1); 5];
        let mut changed = [Tick::new(1); 5];
        // SAFETY: `added` and `changed` have one entry per row and are
        // touched by nothing else while the fetch lives.
        let write = unsafe {
            WriteFetch::new(&mut a, (added.as_ptr(), changed.as_mut_ptr()), Tick::new(7))
        };
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
        assert!(changed.iter().all(|&t| t == Tick::new(7)));
        assert!(added.iter().all(|&t| t == Tick::new(1)));
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
