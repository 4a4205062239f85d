//! Guarded access to tables through a shared world: query states that hold
//! the borrow flags of their component types and hand out one [`TableView`]
//! per matched table, and single-component guards.

use std::any::TypeId;
use std::borrow::Cow;
use std::ops::Deref;
use std::sync::Arc;

use super::archetype::{Archetype, ArchetypeId, ComponentType};
use macrokid_core::{ResourceAccess, ResourceId};

use super::borrow::{BorrowFlag, BorrowSet, Mode, Ref, RefMut, Scope};
use super::fetch::{HasFetch, ReadFetch, SparseFilter, TicksFetch, WriteFetch};
use super::sparse::{SparseRows, SparseSet, SparseSets};
use crate::change::{SystemTicks, Tick};
use crate::entity::Entity;
use crate::hash::TypeIdMap;

/// Per component type: its name and its borrow flag.
#[derive(Debug)]
pub(crate) struct ComponentInfo {
    flag: BorrowFlag,
}

/// Every component type that some table of the world has ever held.
#[derive(Debug, Default)]
pub(crate) struct Components {
    by_type: TypeIdMap<TypeId, ComponentInfo>,
}

impl Components {
    /// Makes sure `component` has a borrow flag.
    pub(crate) fn register(&mut self, component: &ComponentType) {
        self.by_type
            .entry(component.type_id)
            .or_insert_with(|| ComponentInfo {
                flag: BorrowFlag::default(),
            });
    }

    /// The borrow flag of a registered type.
    pub(crate) fn flag(&self, type_id: TypeId) -> Option<&BorrowFlag> {
        self.by_type.get(&type_id).map(|info| &info.flag)
    }
}

/// The sparse-set side of a query: the world's sparse sets, and the sparse
/// component types a row's entity must have (`required`) or lack
/// (`excluded`) to match.
pub(crate) struct SparseQuery<'w> {
    pub(crate) sets: &'w SparseSets,
    pub(crate) required: Cow<'w, [TypeId]>,
    pub(crate) excluded: Cow<'w, [TypeId]>,
}

impl SparseQuery<'_> {
    fn set(&self, type_id: TypeId) -> &SparseSet {
        self.sets
            .get(&type_id)
            .expect("storage invariant broken: a sparse query type has no set")
    }
}

/// A value a running query reads: borrowed from the world's query cache
/// (a query of an exclusively borrowed world, which nothing can change
/// meanwhile), or shared with it (a query through a shared world, whose
/// cache entry may be replaced while the query runs).
pub(crate) enum Held<'w, T: ?Sized> {
    /// Borrowed for the query's life.
    Borrowed(&'w T),
    /// Shared with the cache.
    Shared(Arc<T>),
}

impl<T: ?Sized> Deref for Held<'_, T> {
    type Target = T;

    #[inline]
    fn deref(&self) -> &T {
        match self {
            Held::Borrowed(value) => value,
            Held::Shared(value) => value,
        }
    }
}

/// A running query: the tables it matched and the borrows of its component
/// types, held until it drops.
pub(crate) struct QueryState<'w> {
    archetypes: &'w [Archetype],
    sparse: SparseQuery<'w>,
    matched: Held<'w, [ArchetypeId]>,
    access: Held<'w, ResourceAccess>,
    /// Per matched table, the column index of each access entry (writes,
    /// then reads; `u32::MAX`: none), when known ahead (the world's query
    /// cache): table views then look columns up instead of searching the
    /// table's types.
    columns: Option<Held<'w, [u32]>>,
    ticks: SystemTicks,
    /// The borrow flags held (`None`: an exclusive query, which takes none
    /// and so has nothing to release on drop).
    _borrows: Option<BorrowSet<'w>>,
}

impl<'w> QueryState<'w> {
    /// Takes the borrows of `access` (a query's: component types, each read
    /// or written once) for `who` over the tables `matched` (ascending,
    /// hence distinct).
    ///
    /// A type that was never registered has no table, so it needs no flag.
    ///
    /// # Panics
    /// When a borrow conflicts with one already held (see `BorrowFlag`), or
    /// `matched` is not strictly ascending.
    pub(crate) fn new(
        archetypes: &'w [Archetype],
        sparse: SparseQuery<'w>,
        components: &'w Components,
        access: Arc<ResourceAccess>,
        matched: Arc<[ArchetypeId]>,
        ticks: SystemTicks,
        who: &'static str,
    ) -> Self {
        assert!(
            matched.windows(2).all(|w| w[0] < w[1]),
            "storage invariant broken: matched tables are not distinct"
        );
        let mut borrows = BorrowSet::default();
        let uses = (access.reads().iter().map(|&id| (id, Mode::Read)))
            .chain(access.writes().iter().map(|&id| (id, Mode::Write)));
        for (id, mode) in uses {
            let Some(type_id) = id.type_id() else {
                continue;
            };
            if let Some(flag) = components.flag(type_id) {
                // Scoped to the matched tables: writers of one type over
                // disjoint tables may hold the flag together (I1 holds per
                // column). A sparse set is one store shared by the
                // entities of every table, so its flag is held over all
                // tables.
                let scope = if sparse.sets.contains_key(&type_id) {
                    Scope::All
                } else {
                    Scope::Tables(matched.clone())
                };
                borrows.acquire(flag, mode, who, id.name(), scope);
            }
        }
        Self {
            archetypes,
            sparse,
            matched: Held::Shared(matched),
            access: Held::Shared(access),
            columns: None,
            ticks,
            _borrows: Some(borrows),
        }
    }

    /// Sets the column indices of the access entries per matched table
    /// (see the field); ignored unless there is one index per entry and
    /// matched table. A wrong index cannot break memory safety: typed
    /// access checks each column's type and bounds.
    #[inline]
    pub(crate) fn set_columns(&mut self, columns: Held<'w, [u32]>) {
        let entries = self.stride();
        if entries > 0 && columns.len() == entries * self.matched.len() {
            self.columns = Some(columns);
        }
    }

    /// A query over the tables `matched` (strictly ascending) with `access`
    /// that takes no borrow flag (I1): the tables and sparse sets are
    /// borrowed exclusively for `'w`, so nothing else reaches their data
    /// while the state (or anything fetched through it) lives. Rows must
    /// have every sparse component of `required` and none of `excluded`.
    ///
    /// # Panics
    /// When `matched` is not strictly ascending (debug builds; the world's
    /// query cache builds it so).
    #[inline]
    pub(crate) fn exclusive(
        archetypes: &'w mut [Archetype],
        sets: &'w mut SparseSets,
        (required, excluded): (Cow<'w, [TypeId]>, Cow<'w, [TypeId]>),
        access: Held<'w, ResourceAccess>,
        matched: Held<'w, [ArchetypeId]>,
        columns: Option<Held<'w, [u32]>>,
        ticks: SystemTicks,
    ) -> Self {
        debug_assert!(
            matched.windows(2).all(|w| w[0] < w[1]),
            "storage invariant broken: matched tables are not distinct"
        );
        let mut state = Self {
            archetypes,
            sparse: SparseQuery {
                sets,
                required,
                excluded,
            },
            matched,
            access,
            columns: None,
            ticks,
            _borrows: None,
        };
        if let Some(columns) = columns {
            state.set_columns(columns);
        }
        state
    }

    /// The column indices of matched table number `position`, if known.
    #[inline]
    fn columns_of(&self, position: usize) -> Option<&[u32]> {
        let columns = self.columns.as_deref()?;
        let stride = self.stride();
        columns.get(position * stride..(position + 1) * stride)
    }

    /// The number of access entries (column indices per matched table).
    #[inline]
    fn stride(&self) -> usize {
        self.access.writes().len() + self.access.reads().len()
    }

    /// Whether rows are filtered by sparse components (so the row count of
    /// the matched tables is only an upper bound).
    pub(crate) fn filters_sparse(&self) -> bool {
        !self.sparse.required.is_empty() || !self.sparse.excluded.is_empty()
    }

    /// The number of rows over all matched tables.
    pub(crate) fn len(&self) -> usize {
        self.matched
            .iter()
            .map(|&id| self.archetypes[id as usize].len())
            .sum()
    }

    /// The view of table `archetype` when the query matched it. Borrows
    /// `self` mutably as [`views`](Self::views) does.
    pub(crate) fn view_of(&mut self, archetype: ArchetypeId) -> Option<TableView<'_>> {
        let position = self.matched.binary_search(&archetype).ok()?;
        Some(TableView {
            id: archetype,
            archetype: &self.archetypes[archetype as usize],
            sparse: &self.sparse,
            access: &self.access,
            columns: self.columns_of(position),
            ticks: self.ticks,
            taken: 0,
        })
    }

    /// One view per matched table, each table once. Borrowing `self`
    /// mutably for as long as any view (or anything fetched through one)
    /// lives is what keeps each column handed out once per borrow (I1).
    pub(crate) fn views(&mut self) -> Views<'_> {
        let stride = if self.columns.is_some() {
            self.stride()
        } else {
            0
        };
        Views {
            archetypes: self.archetypes,
            sparse: &self.sparse,
            access: &self.access,
            columns: self.columns.as_deref().unwrap_or(&[]),
            stride,
            ticks: self.ticks,
            matched: self.matched.iter(),
        }
    }
}

/// The views of a [`QueryState`], one per matched table.
pub(crate) struct Views<'s> {
    archetypes: &'s [Archetype],
    sparse: &'s SparseQuery<'s>,
    access: &'s ResourceAccess,
    /// The column indices of the tables not yet viewed (`stride` per
    /// table), or empty when not known ahead (`stride` 0).
    columns: &'s [u32],
    stride: usize,
    ticks: SystemTicks,
    matched: std::slice::Iter<'s, ArchetypeId>,
}

impl<'s> Iterator for Views<'s> {
    type Item = TableView<'s>;

    #[inline]
    fn next(&mut self) -> Option<TableView<'s>> {
        let &id = self.matched.next()?;
        let columns = match self.columns.split_at_checked(self.stride) {
            Some((these, rest)) if self.stride > 0 => {
                self.columns = rest;
                Some(these)
            }
            _ => None,
        };
        Some(TableView {
            id,
            archetype: &self.archetypes[id as usize],
            sparse: self.sparse,
            access: self.access,
            columns,
            ticks: self.ticks,
            taken: 0,
        })
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.matched.size_hint()
    }
}

/// The lookup lists of [`TableView::sparse_filter`] for a table with entity
/// list `rows`, when the query filters by sparse components (out of line:
/// most tables of most queries never get here).
#[inline(never)]
fn sparse_lookups<'a>(sparse: &'a SparseQuery<'a>, rows: &'a [Entity]) -> SparseFilter<'a> {
    SparseFilter::new(
        sparse
            .required
            .iter()
            .map(|&t| sparse.set(t).rows(rows))
            .collect(),
        sparse
            .excluded
            .iter()
            .map(|&t| sparse.set(t).rows(rows))
            .collect(),
    )
}

/// A view of one table for one query: each declared write can be fetched
/// once, each declared read any number of times, as a slice over all rows.
#[doc(hidden)]
pub struct TableView<'a> {
    id: ArchetypeId,
    archetype: &'a Archetype,
    sparse: &'a SparseQuery<'a>,
    access: &'a ResourceAccess,
    /// The column index of each access entry (writes, then reads;
    /// `u32::MAX`: none) in this table, when known ahead.
    columns: Option<&'a [u32]>,
    ticks: SystemTicks,
    /// Bit `i` set: `access.writes()[i]` was fetched.
    taken: u64,
}

impl<'a> TableView<'a> {
    /// The number of rows.
    pub fn len(&self) -> usize {
        self.archetype.len()
    }

    /// Whether the table has no rows.
    pub fn is_empty(&self) -> bool {
        self.archetype.len() == 0
    }

    /// Whether the table has a `T` column (no access needed: the table's
    /// shape, not its data).
    pub fn contains<T: 'static>(&self) -> bool {
        self.archetype.has(TypeId::of::<T>())
    }

    /// The table's id.
    pub(crate) fn id(&self) -> ArchetypeId {
        self.id
    }

    /// The sparse set of `T`, when `T` has sparse-set storage.
    #[inline]
    fn sparse_set<T: 'static>(&self) -> Option<&'a SparseSet> {
        let sets: &'a SparseSets = self.sparse.sets;
        if sets.is_empty() {
            return None;
        }
        sets.get(&TypeId::of::<T>())
    }

    /// Row lookups into the sparse set of `T`, when `T` has sparse-set
    /// storage (no access needed: which entities have it, not their data).
    pub fn sparse_rows<T: 'static>(&self) -> Option<SparseRows<'a>> {
        self.sparse_set::<T>()
            .map(|set| set.rows(self.archetype.entities()))
    }

    /// The query-level filter of sparse components that rows must have or
    /// lack.
    #[inline]
    pub(crate) fn sparse_filter(&self) -> SparseFilter<'a> {
        let sparse: &'a SparseQuery<'a> = self.sparse;
        if sparse.required.is_empty() && sparse.excluded.is_empty() {
            // The common case, per table: no lookup lists to build.
            return SparseFilter::NONE;
        }
        // Only the entity list goes out of line: passing `self` would make
        // the compiler build the whole view in memory for every table.
        sparse_lookups(sparse, self.archetype.entities())
    }

    /// Whether each row has a `T` (a table column, or a sparse set).
    pub fn has_fetch<T: 'static>(&self) -> HasFetch<'a> {
        match self.sparse_rows::<T>() {
            Some(rows) => HasFetch::Sparse(rows),
            None => HasFetch::Table(self.contains::<T>()),
        }
    }

    /// A fetch over the `T` of each row (declared read or write), from the
    /// table's column or the sparse set of `T`; `None` when `T` is a table
    /// component this table lacks. A sparse fetch yields only for rows
    /// whose entity has a `T` ([`Fetch::present`](super::Fetch::present)).
    ///
    /// # Panics
    /// As [`read`](Self::read).
    #[inline]
    pub fn read_fetch<T: 'static>(&mut self) -> Option<ReadFetch<'a, T>> {
        let Some(set) = self.sparse_set::<T>() else {
            return self.read::<T>().map(ReadFetch::new);
        };
        self.take::<T>(false);
        // (I1): the read (or write) flag of `T` is held by the query state;
        // reads of the dense values are shared.
        Some(ReadFetch::sparse(
            set.typed_column::<T>().slice_shared(),
            set.rows(self.archetype.entities()),
        ))
    }

    /// The entities, by row.
    pub fn entities(&self) -> &'a [Entity] {
        self.archetype.entities()
    }

    /// The ticks of the system (or world access) this view serves.
    pub fn system_ticks(&self) -> SystemTicks {
        self.ticks
    }

    /// How the query declared `type_id`: `Some((i, true))` written (as
    /// `access.writes()[i]`), `Some((i, false))` read (as
    /// `access.reads()[i - writes]`): `i` is its access entry.
    #[inline(always)]
    fn declared(&self, type_id: TypeId) -> Option<(usize, bool)> {
        // Linear scans over type ids: a query names a handful of types.
        let is = |id: &ResourceId| id.type_id() == Some(type_id);
        let writes = self.access.writes();
        if let Some(index) = writes.iter().position(is) {
            return Some((index, true));
        }
        let index = self.access.reads().iter().position(is)?;
        Some((writes.len() + index, false))
    }

    /// The column of access entry `entry` (of type `type_id`), `None` when
    /// the table lacks it.
    #[inline(always)]
    fn column_of(&self, entry: usize, type_id: TypeId) -> Option<usize> {
        match self.columns {
            // Column indices known ahead: a lookup. (A wrong one would be
            // caught by the typed access's type check.)
            Some(columns) => match columns.get(entry) {
                Some(&column) if column != u32::MAX => Some(column as usize),
                Some(_) => None,
                None => self.archetype.column_index(type_id),
            },
            None => self.archetype.column_index(type_id),
        }
    }

    /// Marks `T` fetched from this view (declared as a write when `write`)
    /// and returns its column, `None` when the table lacks `T`.
    ///
    /// # Panics
    /// When `T` was not declared, was declared as a read and `write` is
    /// set, or was declared as a write and was already fetched.
    #[inline(always)]
    fn take<T: 'static>(&mut self, write: bool) -> Option<usize> {
        let type_id = TypeId::of::<T>();
        let Some((entry, written)) = self.declared(type_id) else {
            broken_fetch(std::any::type_name::<T>(), "which it did not declare")
        };
        if write && !written {
            broken_fetch(std::any::type_name::<T>(), "mutably after declaring a read");
        }
        // Only a column declared as a write must be handed out once: a
        // type declared as a read (possibly several times, merged in the
        // access) is only ever handed out as shared slices, and any number
        // of those may coexist.
        if written {
            if entry >= 64 || self.taken & (1 << entry) != 0 {
                broken_fetch(std::any::type_name::<T>(), "twice from one table");
            }
            self.taken |= 1 << entry;
        }
        self.column_of(entry, type_id)
    }

    /// The column of `T` (declared read or write), or `None` when the table
    /// lacks `T`. A type declared as a read may be fetched any number of
    /// times (e.g. for `(&A, Option<&A>)`).
    ///
    /// # Panics
    /// When `T` was not declared, or was declared as a write and was already
    /// fetched from this view.
    #[inline]
    pub fn read<T: 'static>(&mut self) -> Option<&'a [T]> {
        let column = self.take::<T>(false)?;
        Some(self.archetype.column_shared::<T>(column))
    }

    /// The column of `T` (declared write), mutable, or `None` when the table
    /// lacks `T`.
    ///
    /// # Panics
    /// When `T` was not declared as a write or was already fetched from
    /// this view.
    ///
    /// Also returns pointers to the column's added and changed ticks (row
    /// 0), to stamp the rows written through it.
    #[inline]
    pub(crate) fn write<T: Send + Sync + 'static>(
        &mut self,
    ) -> Option<(&'a mut [T], (*const Tick, *mut Tick))> {
        let column = self.take::<T>(true)?;
        // (I1): the write flag of `T` is held by the `QueryState` this view
        // borrows, and `take` marked the access so this slice is handed out
        // once.
        Some((
            self.archetype.column_exclusive::<T>(column),
            self.archetype.tick_column(column).write_ptrs(),
        ))
    }

    /// A fetch over the column of `T` (declared write) that stamps the
    /// rows written through its [`Mut`](crate::Mut)s, or `None` when the
    /// table lacks `T`.
    ///
    /// # Panics
    /// As [`write`](Self::write).
    #[inline]
    pub fn write_fetch<T: Send + Sync + 'static>(&mut self) -> Option<WriteFetch<'a, T>> {
        let this_run = self.ticks.this_run;
        if let Some(set) = self.sparse_set::<T>() {
            self.take::<T>(true);
            let (values, len) = set.typed_column::<T>().write_ptr();
            let ticks = set.tick_ptrs();
            // SAFETY: the write flag of `T` is held by the query state, so
            // only this query reaches the dense values and ticks; it hands
            // out one fetch per table view, each over that table's rows, and
            // every entity is one row of one table with one dense index, so
            // no two fetched rows share an element. Tick reads of a filter
            // touch a row before it is fetched. The set has one entry (and
            // its ticks) per value (the set's invariant).
            return Some(unsafe {
                WriteFetch::sparse(
                    values,
                    ticks,
                    len,
                    set.rows(self.archetype.entities()),
                    this_run,
                )
            });
        }
        let (column, ticks) = self.write::<T>()?;
        // SAFETY: `write` returns the column's own ticks, one per row, under
        // the write flag of `T`; the only other access to them is a filter
        // of this query reading rows before they are fetched.
        Some(unsafe { WriteFetch::new(column, ticks, this_run) })
    }

    /// A filter fetch over the ticks of `T` (declared, read or write), or
    /// `None` when the table lacks `T`.
    ///
    /// # Panics
    /// When `T` was not declared.
    pub fn ticks_fetch<T: 'static>(&self) -> Option<TicksFetch<'a>> {
        if let Some(set) = self.sparse_set::<T>() {
            self.expect_declared_ticks::<T>();
            let (added, changed) = set.tick_ptrs();
            // SAFETY: the ticks of the set's `len()` dense entries, under the
            // flag of `T` the query holds; the only writer is this query's
            // own `&mut T` fetch, which writes a row only after the filter
            // read it.
            return Some(unsafe {
                TicksFetch::sparse(
                    (added, changed.cast_const()),
                    set.len(),
                    set.rows(self.archetype.entities()),
                    self.ticks,
                )
            });
        }
        let ptr = self.ticks_of::<T>()?;
        // SAFETY: `ticks_of` points to the `len()` ticks of `T` in this
        // table, under the flag of `T` the query holds; the only writer is
        // this query's own `&mut T` fetch, which writes a row only after the
        // filter read it.
        Some(unsafe { TicksFetch::new(ptr, self.len(), self.ticks) })
    }

    /// Checks that the query declared `T` (read or write) before a filter
    /// reads its ticks; returns its access entry.
    ///
    /// # Panics
    /// When `T` was not declared.
    fn expect_declared_ticks<T: 'static>(&self) -> usize {
        let (entry, _) = self.declared(TypeId::of::<T>()).unwrap_or_else(|| {
            panic!(
                "storage invariant broken: a filter read the ticks of `{}`, which its query did \
                 not declare",
                std::any::type_name::<T>()
            )
        });
        entry
    }

    /// A pointer to row 0 of the ticks of `T` (declared, read or write;
    /// not counted as a fetch), or `None` when the table lacks `T`. For
    /// `Added`/`Changed` filters, which read one row's ticks at a time.
    ///
    /// # Panics
    /// When `T` was not declared.
    fn ticks_of<T: 'static>(&self) -> Option<(*const Tick, *const Tick)> {
        let entry = self.expect_declared_ticks::<T>();
        let column = self.column_of(entry, TypeId::of::<T>())?;
        Some(self.archetype.tick_column(column).read_ptrs())
    }
}

/// A query fetched a type against its declared access: a bug in this
/// crate's query code, never in user code (the access is derived from the
/// query type).
#[cold]
#[inline(never)]
fn broken_fetch(type_name: &str, what: &str) -> ! {
    panic!("storage invariant broken: a query fetched `{type_name}` {what}")
}

/// Where one entity's `T` lives: a table row, or a sparse set.
pub(crate) enum Slot<'w> {
    /// Row `row` of a table (and its id).
    Table(&'w Archetype, ArchetypeId, usize),
    /// The entity's entry in a sparse set.
    Sparse(&'w SparseSet, Entity),
}

/// A shared borrow of one entity's `T` (see [`Slot`]), under the read flag
/// of `T` (scoped to the entity's table for a table component, over every
/// table for a sparse one). `None` when the entity lacks `T`.
///
/// # Panics
/// When `T` is written elsewhere right now.
pub(crate) fn guarded_slot_ref<'w, T: 'static>(
    components: &'w Components,
    slot: Slot<'w>,
    who: &'static str,
) -> Option<Ref<'w, T>> {
    match slot {
        Slot::Table(archetype, table, row) => guarded_ref(components, archetype, table, row, who),
        Slot::Sparse(set, entity) => {
            let dense = set.dense_index(entity)?;
            let flag = components.flag(TypeId::of::<T>())?;
            // A sparse set is shared by every table: the flag is held
            // over all of them.
            let held = flag.hold(Mode::Read, who, std::any::type_name::<T>(), Scope::All);
            let value = &set.typed_column::<T>().slice_shared()[dense];
            Some(Ref::new(value, held))
        }
    }
}

/// An exclusive borrow of one entity's `T` (see [`Slot`]), under the write
/// flag of `T` (scoped as in [`guarded_slot_ref`]). `None` when the entity lacks `T`.
///
/// # Panics
/// When `T` is read or written elsewhere right now.
pub(crate) fn guarded_slot_mut<'w, T: Send + Sync + 'static>(
    components: &'w Components,
    slot: Slot<'w>,
    ticks: SystemTicks,
    who: &'static str,
) -> Option<RefMut<'w, T>> {
    match slot {
        Slot::Table(archetype, table, row) => {
            guarded_mut(components, archetype, table, row, ticks, who)
        }
        Slot::Sparse(set, entity) => {
            let dense = set.dense_index(entity)?;
            let flag = components.flag(TypeId::of::<T>())?;
            let held = flag.hold(Mode::Write, who, std::any::type_name::<T>(), Scope::All);
            // (I1): the write flag of `T` is now held, which excludes every
            // other access to the set's values and ticks.
            let value = &mut set.typed_column::<T>().slice_exclusive()[dense];
            let changed = set.changed_exclusive(dense);
            Some(RefMut::new(value, held).with_ticks(changed, ticks.this_run))
        }
    }
}

/// A shared borrow of the `T` in row `row` of `archetype` (table id
/// `table`), under the read flag of `T` scoped to that table. `None` when the table lacks `T`.
///
/// # Panics
/// When `T` is written elsewhere right now.
pub(crate) fn guarded_ref<'w, T: 'static>(
    components: &'w Components,
    archetype: &'w Archetype,
    table: ArchetypeId,
    row: usize,
    who: &'static str,
) -> Option<Ref<'w, T>> {
    let column = archetype.column_index(TypeId::of::<T>())?;
    let flag = components.flag(TypeId::of::<T>())?;
    // The guard exists before anything that may panic, so the flag is
    // released on unwind.
    let held = flag.hold(
        Mode::Read,
        who,
        std::any::type_name::<T>(),
        Scope::Table(table),
    );
    let value = &archetype.column_shared::<T>(column)[row];
    Some(Ref::new(value, held))
}

/// An exclusive borrow of the `T` in row `row` of `archetype` (table id
/// `table`), under the write flag of `T` scoped to that table. `None` when the table lacks `T`.
///
/// # Panics
/// When `T` is read or written elsewhere right now.
pub(crate) fn guarded_mut<'w, T: Send + Sync + 'static>(
    components: &'w Components,
    archetype: &'w Archetype,
    table: ArchetypeId,
    row: usize,
    ticks: SystemTicks,
    who: &'static str,
) -> Option<RefMut<'w, T>> {
    let column = archetype.column_index(TypeId::of::<T>())?;
    let flag = components.flag(TypeId::of::<T>())?;
    // The guard exists before anything that may panic, so the flag is
    // released on unwind.
    let held = flag.hold(
        Mode::Write,
        who,
        std::any::type_name::<T>(),
        Scope::Table(table),
    );
    // (I1): the write flag of `T` is now held by `held` (then by the
    // returned guard), which excludes every other access to the column.
    let value = &mut archetype.column_exclusive::<T>(column)[row];
    let changed = &mut archetype.tick_column(column).changed_exclusive()[row];
    Some(RefMut::new(value, held).with_ticks(changed, ticks.this_run))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::borrow::add_query_access;
    use crate::storage::column::{ErasedColumn, TypedColumn};

    fn no_sparse(sets: &SparseSets) -> SparseQuery<'_> {
        SparseQuery {
            sets,
            required: Cow::Borrowed(&[]),
            excluded: Cow::Borrowed(&[]),
        }
    }

    const TICKS: SystemTicks =
        SystemTicks::new(crate::change::Tick::new(0), crate::change::Tick::new(1));

    fn table_with(values: &[(u32, u64)]) -> (Archetype, Components) {
        let types = {
            let mut t = vec![ComponentType::of::<u32>(), ComponentType::of::<u64>()];
            t.sort_by_key(|c| c.type_id);
            t
        };
        let mut components = Components::default();
        for t in &types {
            components.register(t);
        }
        let mut table = Archetype::new(&types);
        let col32 = table.column_index(TypeId::of::<u32>()).unwrap();
        let col64 = table.column_index(TypeId::of::<u64>()).unwrap();
        for (i, &(a, b)) in values.iter().enumerate() {
            let mut columns: [Box<dyn ErasedColumn>; 2] = [
                TypedColumn::from_vec(vec![a]),
                TypedColumn::from_vec(vec![b]),
            ];
            if col64 < col32 {
                columns.swap(0, 1);
            }
            table.push_columns(
                &mut columns,
                &[Entity::new(i as u32, 0)],
                Default::default(),
            );
        }
        (table, components)
    }

    #[test]
    fn views_hand_out_disjoint_columns_under_held_flags() {
        let (table, components) = table_with(&[(1, 10), (2, 20), (3, 30)]);
        let tables = std::slice::from_ref(&table);
        let mut access = ResourceAccess::new();
        add_query_access::<u32>(&mut access, Mode::Write);
        add_query_access::<u64>(&mut access, Mode::Read);
        let sets = SparseSets::default();
        let mut state = QueryState::new(
            tables,
            no_sparse(&sets),
            &components,
            Arc::new(access),
            Arc::from([0]),
            TICKS,
            "test",
        );
        assert_eq!(state.len(), 3);
        {
            let mut views = state.views();
            let mut view = views.next().unwrap();
            assert!(views.next().is_none());
            let a = view.write::<u32>().unwrap().0;
            let b = view.read::<u64>().unwrap();
            for (x, y) in a.iter_mut().zip(b) {
                *x += *y as u32;
            }
            let (left, right) = a.split_at_mut(1);
            std::thread::scope(|s| {
                s.spawn(|| left[0] *= 2);
                s.spawn(|| right.iter_mut().for_each(|x| *x *= 3));
            });
        }
        // While the state holds the write flag of u32, a guarded read panics.
        let blocked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let _r = guarded_ref::<u32>(&components, &table, 0, 0, "other");
        }));
        assert!(blocked.is_err());
        drop(state);
        let values: Vec<u32> = (0..3)
            .map(|row| *guarded_ref::<u32>(&components, &table, 0, row, "check").unwrap())
            .collect();
        assert_eq!(values, [22, 66, 99]);
        *guarded_mut::<u64>(&components, &table, 0, 1, TICKS, "w").unwrap() += 1;
        assert_eq!(table.get::<u64>(1), Some(&21));
    }

    #[test]
    #[should_panic(expected = "twice from one table")]
    fn a_column_is_handed_out_once_per_view() {
        let (table, components) = table_with(&[(1, 10)]);
        let mut access = ResourceAccess::new();
        add_query_access::<u32>(&mut access, Mode::Write);
        let tables = std::slice::from_ref(&table);
        let sets = SparseSets::default();
        let mut state = QueryState::new(
            tables,
            no_sparse(&sets),
            &components,
            Arc::new(access),
            Arc::from([0]),
            TICKS,
            "test",
        );
        let mut view = state.views().next().unwrap();
        let _a = view.write::<u32>();
        let _b = view.write::<u32>();
    }

    #[test]
    fn duplicate_reads_are_handed_out_repeatedly() {
        let (table, components) = table_with(&[(1, 10), (2, 20)]);
        let tables = std::slice::from_ref(&table);
        let mut access = ResourceAccess::new();
        add_query_access::<u32>(&mut access, Mode::Read);
        add_query_access::<u64>(&mut access, Mode::Write);
        add_query_access::<u32>(&mut access, Mode::Read);
        let sets = SparseSets::default();
        let mut state = QueryState::new(
            tables,
            no_sparse(&sets),
            &components,
            Arc::new(access),
            Arc::from([0]),
            TICKS,
            "test",
        );
        let mut view = state.views().next().unwrap();
        let a = view.read::<u32>().unwrap();
        let b = view.read::<u32>().unwrap();
        let c = view.write::<u64>().unwrap().0;
        for ((x, y), z) in a.iter().zip(b).zip(c.iter_mut()) {
            *z += u64::from(x + y);
        }
        assert_eq!(a, b);
        drop(state);
        assert_eq!(table.get::<u64>(1), Some(&24));
    }

    #[test]
    #[should_panic(expected = "twice from one table")]
    fn a_write_column_is_not_also_handed_out_shared() {
        let (table, components) = table_with(&[(1, 10)]);
        let mut access = ResourceAccess::new();
        add_query_access::<u32>(&mut access, Mode::Write);
        let tables = std::slice::from_ref(&table);
        let sets = SparseSets::default();
        let mut state = QueryState::new(
            tables,
            no_sparse(&sets),
            &components,
            Arc::new(access),
            Arc::from([0]),
            TICKS,
            "test",
        );
        let mut view = state.views().next().unwrap();
        let _a = view.write::<u32>();
        let _b = view.read::<u32>();
    }

    #[test]
    fn a_panic_after_taking_a_flag_releases_it() {
        let (table, components) = table_with(&[(1, 10)]);
        let flag = components.flag(TypeId::of::<u32>()).unwrap();
        // Row 5 is out of bounds: the panic comes after the flag is taken.
        let read = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let _r = guarded_ref::<u32>(&components, &table, 0, 5, "reader");
        }));
        assert!(read.is_err());
        assert!(flag.is_free(), "the read flag was released on unwind");
        let write = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            let _w = guarded_mut::<u32>(&components, &table, 0, 5, TICKS, "writer");
        }));
        assert!(write.is_err());
        assert!(flag.is_free(), "the write flag was released on unwind");
        *guarded_mut::<u32>(&components, &table, 0, 0, TICKS, "writer").unwrap() += 1;
        assert_eq!(
            *guarded_ref::<u32>(&components, &table, 0, 0, "reader").unwrap(),
            2
        );
        assert!(flag.is_free());
    }

    /// Items of a sparse component from two tables, all alive at once and
    /// written through: the raw-pointer scheme of sparse write fetches
    /// (checked for aliasing under Miri).
    #[test]
    fn sparse_writes_from_several_tables_coexist() {
        use crate::change::Tick;
        use crate::storage::fetch::Cursor;
        let (first, mut components) = table_with(&[(1, 10), (2, 20), (3, 30)]);
        let mut second = Archetype::new(&[ComponentType::of::<u32>()]);
        for (i, v) in [4_u32, 5].into_iter().enumerate() {
            second.push_columns(
                &mut [TypedColumn::from_vec(vec![v])],
                &[Entity::new(10 + i as u32, 0)],
                Tick::new(0),
            );
        }
        let sparse_type = ComponentType::of::<u16>();
        components.register(&sparse_type);
        let mut set = SparseSet::new(sparse_type);
        for (e, v) in [
            (Entity::new(2, 0), 200_u16),
            (Entity::new(10, 0), 1000),
            (Entity::new(0, 0), 0),
        ] {
            set.insert(e, v, Tick::new(1));
        }
        let mut sets = SparseSets::default();
        sets.insert(TypeId::of::<u16>(), set);
        let tables = [first, second];
        let mut access = ResourceAccess::new();
        add_query_access::<u16>(&mut access, Mode::Write);
        add_query_access::<u32>(&mut access, Mode::Read);
        let sparse = SparseQuery {
            sets: &sets,
            required: Cow::Owned(vec![TypeId::of::<u16>()]),
            excluded: Cow::Borrowed(&[]),
        };
        let mut state = QueryState::new(
            &tables,
            sparse,
            &components,
            Arc::new(access),
            Arc::from([0, 1]),
            TICKS,
            "test",
        );
        let mut items = Vec::new();
        for mut view in state.views() {
            let rows = view.len();
            let filter = view.sparse_filter();
            let fetch = (
                view.write_fetch::<u16>().unwrap(),
                ReadFetch::new(view.read::<u32>().unwrap()),
            );
            let mut cursor = Cursor::filtered(fetch, filter, rows);
            while let Some(item) = cursor.next() {
                items.push(item);
            }
        }
        assert_eq!(items.len(), 3);
        for (value, base) in &mut items {
            **value += **base as u16;
        }
        drop(items);
        drop(state);
        let set = &sets[&TypeId::of::<u16>()];
        assert_eq!(set.get::<u16>(Entity::new(0, 0)), Some(&1));
        assert_eq!(set.get::<u16>(Entity::new(2, 0)), Some(&203));
        assert_eq!(set.get::<u16>(Entity::new(10, 0)), Some(&1004));
        assert_eq!(
            set.ticks_of(Entity::new(2, 0)).unwrap().changed,
            TICKS.this_run
        );
    }

    /// A sparse set serves the entities of every table, so two queries
    /// writing a sparse component collide even over disjoint tables, while
    /// writers of a table component over disjoint tables do not.
    #[test]
    fn sparse_borrows_cover_every_table() {
        let (first, mut components) = table_with(&[(1, 10)]);
        let second = Archetype::new(&[ComponentType::of::<u32>()]);
        let sparse_type = ComponentType::of::<u16>();
        components.register(&sparse_type);
        let mut sets = SparseSets::default();
        sets.insert(TypeId::of::<u16>(), SparseSet::new(sparse_type));
        let tables = [first, second];
        let writer = |table: ArchetypeId, who: &'static str| {
            let mut access = ResourceAccess::new();
            add_query_access::<u16>(&mut access, Mode::Write);
            add_query_access::<u32>(&mut access, Mode::Write);
            QueryState::new(
                &tables,
                no_sparse(&sets),
                &components,
                Arc::new(access),
                Arc::from([table]),
                TICKS,
                who,
            )
        };
        let table_only = |table: ArchetypeId, who: &'static str| {
            let mut access = ResourceAccess::new();
            add_query_access::<u32>(&mut access, Mode::Write);
            QueryState::new(
                &tables,
                no_sparse(&sets),
                &components,
                Arc::new(access),
                Arc::from([table]),
                TICKS,
                who,
            )
        };
        {
            let _first = table_only(0, "first");
            let _second = table_only(1, "second");
        }
        let _first = writer(0, "first");
        let err = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| writer(1, "second")))
            .err()
            .expect("a second writer of a sparse component must panic");
        let msg = err.downcast_ref::<String>().unwrap();
        assert!(
            msg.contains("`first` writes it") && msg.contains("u16"),
            "{msg}"
        );
    }

    #[test]
    #[should_panic(expected = "did not declare")]
    fn undeclared_columns_are_refused() {
        let (table, components) = table_with(&[(1, 10)]);
        let tables = std::slice::from_ref(&table);
        let sets = SparseSets::default();
        let mut state = QueryState::new(
            tables,
            no_sparse(&sets),
            &components,
            Arc::new(ResourceAccess::new()),
            Arc::from([0]),
            TICKS,
            "test",
        );
        let mut view = state.views().next().unwrap();
        let _a = view.read::<u32>();
    }
}
