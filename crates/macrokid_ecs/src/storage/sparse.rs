//! Sparse-set component storage: one set per component type, outside the
//! archetype tables, so that adding or removing such a component moves no
//! table row (bevy_ecs's `StorageType::SparseSet`; the layout is the classic
//! sparse set of Briggs and Torczon, "An efficient representation for
//! sparse sets", 1993: a sparse array indexed by entity index pointing into
//! dense arrays of values and of entries, an entry being the entity id and
//! the value's added and changed ticks).
//!
//! An entry keeps the entity and its ticks together (16 bytes): an insert
//! pushes one value and one entry, a removal swaps one of each, where
//! separate entity, added-tick and changed-tick arrays took three pushes
//! and three swaps (`add_remove_held` in the peers bench, 2026-12-04: 106 µs
//! per iteration with three arrays, 83–87 µs with entries).

use std::any::TypeId;
use std::cell::UnsafeCell;
use std::mem::{offset_of, size_of};

use super::archetype::ComponentType;
use super::block::ColumnRef;
use super::column::{downcast_mut_unchecked, downcast_ref_unchecked, ErasedColumn, TypedColumn};
use crate::change::{ComponentTicks, Tick};
use crate::entity::Entity;
use crate::hash::TypeIdMap;

/// The sparse sets of a world, by component type.
pub(crate) type SparseSets = TypeIdMap<TypeId, SparseSet>;

/// The components of one type held by any entity, densely packed.
///
/// `sparse[e.index()]` is the dense index of entity `e` plus one (`0`: no
/// component); `entries` (entity and ticks) and `values` are the dense
/// arrays, index for index. Removal swaps the last dense entry into the
/// hole.
pub(crate) struct SparseSet {
    component: ComponentType,
    sparse: Vec<u32>,
    entries: Vec<DenseEntry>,
    values: Box<dyn ErasedColumn>,
    /// Values detached by a despawn, dropped by [`bury`](Self::bury) once the
    /// world's bookkeeping is done.
    graveyard: Box<dyn ErasedColumn>,
}

/// One dense entry of a sparse set: the entity whose value has the same
/// dense index, and that value's added and changed ticks.
///
/// The ticks are `UnsafeCell`s because a query that writes the set's type
/// stamps changed ticks (through [`SparseSet::tick_ptrs`]) while other
/// queries read the entities of the same entries (which tables' rows have
/// the component: no borrow flag needed): under storage invariant I1 the
/// write flag of the type excludes every other access to the ticks, and
/// nothing writes an entity except through `&mut SparseSet`.
#[repr(C)]
pub(crate) struct DenseEntry {
    entity: Entity,
    added: UnsafeCell<Tick>,
    changed: UnsafeCell<Tick>,
}

// SAFETY: the ticks are plain data, written through a shared reference only
// under the write flag of the set's type (invariant I1), which excludes
// every other access to them, exactly as for the set's values.
unsafe impl Sync for DenseEntry {}

/// The distance, in [`Tick`]s, from one entry's ticks to the next's: what
/// the sparse fetches multiply a dense index by.
pub(crate) const TICK_STRIDE: usize = size_of::<DenseEntry>() / size_of::<Tick>();

const _: () = assert!(
    size_of::<DenseEntry>() % size_of::<Tick>() == 0
        && offset_of!(DenseEntry, added) % size_of::<Tick>() == 0
        && offset_of!(DenseEntry, changed) % size_of::<Tick>() == 0
        && std::mem::align_of::<DenseEntry>() >= std::mem::align_of::<Tick>()
);

impl DenseEntry {
    #[inline(always)]
    fn new(entity: Entity, ticks: ComponentTicks) -> Self {
        Self {
            entity,
            added: UnsafeCell::new(ticks.added),
            changed: UnsafeCell::new(ticks.changed),
        }
    }

    /// The ticks (invariants I1/I2: no writer of them exists now).
    #[inline(always)]
    fn ticks(&self) -> ComponentTicks {
        // SAFETY: writes to the ticks through a shared reference happen only
        // under the write flag of the set's type (I1), which the caller's
        // flag (or the flagless context of I2) excludes.
        unsafe {
            ComponentTicks {
                added: *self.added.get(),
                changed: *self.changed.get(),
            }
        }
    }

    /// The ticks, through exclusive access.
    #[inline(always)]
    fn ticks_mut(&mut self) -> (&mut Tick, &mut Tick) {
        (self.added.get_mut(), self.changed.get_mut())
    }
}

/// Where one table's rows have their components in one sparse set: the
/// sparse array and the set's entries, and the table's entities, for
/// row-by-row lookups.
#[derive(Clone, Copy)]
#[doc(hidden)]
pub struct SparseRows<'a> {
    sparse: &'a [u32],
    entries: &'a [DenseEntry],
    rows: &'a [Entity],
}

impl<'a> SparseRows<'a> {
    /// The dense index of row `row`'s entity, or `None` when it has no
    /// component in this set.
    ///
    /// # Panics
    /// When `row` is out of range.
    #[inline(always)]
    pub fn dense(&self, row: usize) -> Option<usize> {
        dense_of(self.sparse, self.entries, self.rows[row])
    }

    /// The number of rows covered.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Whether no rows are covered.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Splits into rows `..mid` and `mid..`.
    ///
    /// # Panics
    /// When `mid` is past the end.
    pub fn split_at(self, mid: usize) -> (Self, Self) {
        let (a, b) = self.rows.split_at(mid);
        (Self { rows: a, ..self }, Self { rows: b, ..self })
    }
}

impl SparseSet {
    /// An empty set for `component`.
    pub(crate) fn new(component: ComponentType) -> Self {
        Self {
            component,
            sparse: Vec::new(),
            entries: Vec::new(),
            values: (component.new_column)(),
            graveyard: (component.new_column)(),
        }
    }

    /// The component type.
    pub(crate) fn component(&self) -> ComponentType {
        self.component
    }

    /// The number of entities with the component.
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// The entities with the component, in dense order.
    pub(crate) fn entities(&self) -> impl ExactSizeIterator<Item = Entity> + '_ {
        self.entries.iter().map(|entry| entry.entity)
    }

    /// The values, type-erased, in dense order (for snapshots and hashes).
    pub(crate) fn column(&self) -> ColumnRef<'_> {
        self.values.column_ref()
    }

    /// The dense index of `entity`.
    #[inline]
    pub(crate) fn dense_index(&self, entity: Entity) -> Option<usize> {
        dense_of(&self.sparse, &self.entries, entity)
    }

    /// Whether `entity` has the component.
    pub(crate) fn contains(&self, entity: Entity) -> bool {
        self.dense_index(entity).is_some()
    }

    /// Row-by-row lookups for the entities `rows` (a table's entity list).
    pub(crate) fn rows<'a>(&'a self, rows: &'a [Entity]) -> SparseRows<'a> {
        SparseRows {
            sparse: &self.sparse,
            entries: &self.entries,
            rows,
        }
    }

    /// The values as a typed column (for the guarded paths).
    ///
    /// # Panics
    /// When the set does not hold `T` (a storage invariant).
    pub(crate) fn typed_column<T: 'static>(&self) -> &TypedColumn<T> {
        self.expect_type::<T>();
        // SAFETY: `values` was made by `component.new_column` (invariant
        // I3), a column of `component.type_id`, which is `T`, checked above.
        unsafe { downcast_ref_unchecked::<T>(self.values.as_ref()) }
    }

    /// Checks that the set holds `T`.
    ///
    /// # Panics
    /// When it does not (a storage invariant).
    #[inline(always)]
    fn expect_type<T: 'static>(&self) {
        if self.component.type_id != TypeId::of::<T>() {
            wrong_set_type(std::any::type_name::<T>());
        }
    }

    /// Pointers to the added tick (read only: no query writes it) and the
    /// changed tick of dense entry 0; entry `i`'s are [`TICK_STRIDE`]` * i`
    /// ticks further. For the fetches of queries, which hold the read or
    /// write flag of the set's type; writes through the changed pointer
    /// need the write flag (invariant I1).
    #[inline]
    pub(crate) fn tick_ptrs(&self) -> (*const Tick, *mut Tick) {
        // `as_ptr` materializes no reference to the entries; the ticks are
        // `UnsafeCell`s, so writing them through a pointer derived from it
        // is allowed. `wrapping_add`: on an empty set the pointer dangles
        // and is never read.
        let base = self.entries.as_ptr().cast::<u8>();
        (
            base.wrapping_add(offset_of!(DenseEntry, added)).cast(),
            base.wrapping_add(offset_of!(DenseEntry, changed))
                .cast::<Tick>()
                .cast_mut(),
        )
    }

    /// The ticks of dense entry `dense` (invariants I1/I2: the caller holds
    /// a flag of the set's type, or a `&World` outside any stage context).
    ///
    /// # Panics
    /// When `dense` is out of bounds.
    pub(crate) fn ticks_at(&self, dense: usize) -> ComponentTicks {
        self.entries[dense].ticks()
    }

    /// The changed tick of dense entry `dense`, mutable, through a shared
    /// reference (invariant I1: the caller holds the write flag of the set's
    /// type and takes it once per borrow, with the value).
    ///
    /// # Panics
    /// When `dense` is out of bounds.
    #[expect(
        clippy::mut_from_ref,
        reason = "exclusivity is enforced by the borrow flag of the set's type (I1)"
    )]
    pub(crate) fn changed_exclusive(&self, dense: usize) -> &mut Tick {
        // SAFETY: the write flag of the set's type excludes every other
        // access to this tick (I1), and the caller takes it once per borrow.
        unsafe { &mut *self.entries[dense].changed.get() }
    }

    /// The set's arrays with its values typed as `T`: one downcast for any
    /// number of inserts and removals (`World::sparse_storage_mut`).
    ///
    /// # Panics
    /// When the set does not hold `T` (a storage invariant).
    #[inline]
    pub(crate) fn typed_mut<T: Send + Sync + 'static>(&mut self) -> TypedSparseSet<'_, T> {
        self.expect_type::<T>();
        // SAFETY: as in `typed_column`.
        let values = unsafe { downcast_mut_unchecked::<T>(self.values.as_mut()) }.vec_mut();
        TypedSparseSet {
            sparse: &mut self.sparse,
            entries: &mut self.entries,
            values,
        }
    }

    /// Gives `entity` the component `value`, stamped added and changed at
    /// `tick`, or replaces its value (stamped changed). Returns the old
    /// value.
    ///
    /// # Panics
    /// When the set does not hold `T` (a storage invariant), or would hold
    /// more than 2^32 - 1 entries.
    #[inline]
    pub(crate) fn insert<T: Send + Sync + 'static>(
        &mut self,
        entity: Entity,
        value: T,
        tick: Tick,
    ) -> Option<T> {
        self.typed_mut::<T>().insert(entity, value, tick)
    }

    /// Appends every value of `column` (a column of this set's type, emptied)
    /// for `entities` (one per value, none already in the set), stamped
    /// added and changed at `tick`.
    pub(crate) fn extend_from(
        &mut self,
        column: &mut dyn ErasedColumn,
        entities: &[Entity],
        tick: Tick,
    ) {
        assert_eq!(
            column.row_count(),
            entities.len(),
            "storage invariant broken: sparse values and entities differ in number"
        );
        column.drain_into(self.values.as_mut());
        self.entries.reserve(entities.len());
        for &entity in entities {
            debug_assert!(!self.contains(entity));
            self.entries
                .push(DenseEntry::new(entity, ComponentTicks::new(tick)));
            let slot = u32::try_from(self.entries.len()).unwrap_or_else(|_| too_many_entries());
            let index = entity.index() as usize;
            if self.sparse.len() <= index {
                self.sparse.resize(index + 1, 0);
            }
            self.sparse[index] = slot;
        }
    }

    /// Unlinks dense entry `dense` (the last entry takes its place); the
    /// caller has already moved the value out of `values`.
    #[inline]
    fn unlink(&mut self, dense: usize) {
        unlink(&mut self.sparse, &mut self.entries, dense);
    }

    /// Replaces the value of dense entry `dense` by the one value of `column`
    /// (a column of this set's type, emptied), stamped changed at `tick`; the
    /// old value is dropped, the added tick stays (as [`insert`](Self::insert)
    /// replacing a value). Added for `World::insert_encoded`.
    ///
    /// # Panics
    /// When `column` does not hold exactly one value, or `dense` is out of
    /// bounds.
    pub(crate) fn replace_from(&mut self, dense: usize, column: &mut dyn ErasedColumn, tick: Tick) {
        assert_eq!(
            column.row_count(),
            1,
            "storage invariant broken: a sparse value replaced by {} values",
            column.row_count()
        );
        assert!(dense < self.entries.len(), "dense index out of bounds");
        // Appended, then swapped into `dense` (the old value is dropped).
        column.drain_into(self.values.as_mut());
        self.values.swap_remove_drop(dense);
        *self.entries[dense].ticks_mut().1 = tick;
    }

    /// The added and changed ticks of dense entry `dense`, mutable. Added for
    /// `World::set_component_ticks`.
    ///
    /// # Panics
    /// When `dense` is out of bounds.
    pub(crate) fn ticks_mut(&mut self, dense: usize) -> (&mut Tick, &mut Tick) {
        self.entries[dense].ticks_mut()
    }

    /// Removes the component of `entity` and returns it.
    #[inline]
    pub(crate) fn remove<T: Send + Sync + 'static>(&mut self, entity: Entity) -> Option<T> {
        self.typed_mut::<T>().remove(entity)
    }

    /// Removes the component of `entity` without dropping it yet: it waits
    /// in the graveyard until [`bury`](Self::bury). Returns whether the
    /// entity had one.
    pub(crate) fn detach(&mut self, entity: Entity) -> bool {
        let Some(dense) = self.dense_index(entity) else {
            return false;
        };
        self.values.swap_remove_into(dense, self.graveyard.as_mut());
        self.unlink(dense);
        true
    }

    /// Drops the values detached so far.
    pub(crate) fn bury(&mut self) {
        self.graveyard.clear();
    }

    /// The value of `entity`, shared, without a borrow flag (invariant I2).
    pub(crate) fn get<T: 'static>(&self, entity: Entity) -> Option<&T> {
        let dense = self.dense_index(entity)?;
        self.typed_column::<T>().slice_shared().get(dense)
    }

    /// The value of `entity` and its ticks, through exclusive access.
    pub(crate) fn get_mut<T: Send + Sync + 'static>(
        &mut self,
        entity: Entity,
    ) -> Option<(&mut T, &mut Tick, &mut Tick)> {
        let dense = self.dense_index(entity)?;
        self.expect_type::<T>();
        // SAFETY: as in `typed_column`.
        let values = unsafe { downcast_mut_unchecked::<T>(self.values.as_mut()) }.vec_mut();
        let (added, changed) = self.entries[dense].ticks_mut();
        Some((&mut values[dense], added, changed))
    }

    /// The ticks of `entity`'s component (invariants I1/I2).
    pub(crate) fn ticks_of(&self, entity: Entity) -> Option<ComponentTicks> {
        let dense = self.dense_index(entity)?;
        Some(self.entries[dense].ticks())
    }

    /// Clamps every tick to at most `MAX_CHANGE_AGE` before `now`.
    pub(crate) fn check_ticks(&mut self, now: Tick) {
        for entry in &mut self.entries {
            let (added, changed) = entry.ticks_mut();
            added.check(now);
            changed.check(now);
        }
    }

    /// Drops every value. Panic-safe: the bookkeeping is emptied first.
    pub(crate) fn clear(&mut self) {
        self.sparse.clear();
        self.entries.clear();
        self.graveyard.clear();
        self.values.clear();
    }

    /// A set holding `values` (a column of this type) for `entities` (one
    /// per value, distinct), every entry stamped added and changed at
    /// `tick` (a restored snapshot).
    ///
    /// # Panics
    /// When the lengths differ (callers check first).
    pub(crate) fn from_parts(
        component: ComponentType,
        mut values: Box<dyn ErasedColumn>,
        entities: &[Entity],
        tick: Tick,
    ) -> Self {
        let mut set = Self::new(component);
        set.extend_from(values.as_mut(), entities, tick);
        set
    }
}

/// One sparse set's arrays, its values typed: the code of every insert
/// and removal ([`SparseSet::typed_mut`]).
pub(crate) struct TypedSparseSet<'a, T> {
    sparse: &'a mut Vec<u32>,
    entries: &'a mut Vec<DenseEntry>,
    values: &'a mut Vec<T>,
}

impl<T> TypedSparseSet<'_, T> {
    /// The number of entities with the component.
    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// The dense index of `entity`.
    #[inline(always)]
    pub(crate) fn dense_index(&self, entity: Entity) -> Option<usize> {
        dense_of(self.sparse, self.entries, entity)
    }

    /// The value of `entity`.
    #[inline]
    pub(crate) fn get(&self, entity: Entity) -> Option<&T> {
        self.dense_index(entity).map(|dense| &self.values[dense])
    }

    /// The value of `entity` and its ticks.
    #[inline]
    pub(crate) fn get_mut(&mut self, entity: Entity) -> Option<(&mut T, &mut Tick, &mut Tick)> {
        let dense = self.dense_index(entity)?;
        let (added, changed) = self.entries[dense].ticks_mut();
        Some((&mut self.values[dense], added, changed))
    }

    /// The ticks of `entity`'s component.
    #[inline]
    pub(crate) fn ticks(&self, entity: Entity) -> Option<ComponentTicks> {
        self.dense_index(entity)
            .map(|dense| self.entries[dense].ticks())
    }

    /// As [`SparseSet::insert`].
    ///
    /// # Panics
    /// When the set would hold more than 2^32 - 1 entries.
    #[inline(always)]
    pub(crate) fn insert(&mut self, entity: Entity, value: T, tick: Tick) -> Option<T> {
        let index = entity.index() as usize;
        if self.sparse.len() <= index {
            self.sparse.resize(index + 1, 0);
        }
        let dense = (self.sparse[index] as usize).wrapping_sub(1);
        if let Some(entry) = self.entries.get_mut(dense) {
            if entry.entity == entity {
                *entry.ticks_mut().1 = tick;
                return Some(std::mem::replace(&mut self.values[dense], value));
            }
        }
        let Ok(next) = u32::try_from(self.entries.len() + 1) else {
            too_many_entries()
        };
        self.values.push(value);
        self.entries
            .push(DenseEntry::new(entity, ComponentTicks::new(tick)));
        self.sparse[index] = next;
        None
    }

    /// As [`SparseSet::remove`].
    #[inline(always)]
    pub(crate) fn remove(&mut self, entity: Entity) -> Option<T> {
        let dense = self.dense_index(entity)?;
        let value = self.values.swap_remove(dense);
        unlink(self.sparse, self.entries, dense);
        Some(value)
    }
}

/// The dense index of `entity` in a set's `sparse` array and `entries`.
/// A dense entry names its entity: a stale slot (impossible while the
/// world's invariants hold) reads as absent, never as another value.
#[inline(always)]
fn dense_of(sparse: &[u32], entries: &[DenseEntry], entity: Entity) -> Option<usize> {
    let slot = *sparse.get(entity.index() as usize)?;
    let dense = (slot as usize).checked_sub(1)?;
    (entries.get(dense).map(|e| e.entity) == Some(entity)).then_some(dense)
}

/// Unlinks dense entry `dense` of a set (the last entry takes its place);
/// the caller has already moved the value out.
#[inline(always)]
fn unlink(sparse: &mut [u32], entries: &mut Vec<DenseEntry>, dense: usize) {
    let removed = entries.swap_remove(dense);
    sparse[removed.entity.index() as usize] = 0;
    if let Some(moved) = entries.get(dense) {
        sparse[moved.entity.index() as usize] = dense as u32 + 1;
    }
}

/// A sparse set would hold 2^32 entries.
#[cold]
#[inline(never)]
fn too_many_entries() -> ! {
    panic!("more than 2^32 - 1 sparse components of one type")
}

/// A sparse set was asked for as a type it does not hold: a bug in this
/// crate's storage code.
#[cold]
#[inline(never)]
fn wrong_set_type(type_name: &str) -> ! {
    panic!("storage invariant broken: a sparse set is not of type `{type_name}`")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn insert_remove_and_swap_keep_the_index_right() {
        let mut set = SparseSet::new(ComponentType::of::<u32>());
        let e: Vec<Entity> = (0..4).map(|i| Entity::new(i * 3, 1)).collect();
        for (i, &entity) in e.iter().enumerate() {
            assert_eq!(set.insert(entity, i as u32, Tick::new(5)), None);
        }
        assert_eq!(set.insert(e[1], 10_u32, Tick::new(6)), Some(1));
        assert_eq!(set.ticks_of(e[1]).unwrap().added, Tick::new(5));
        assert_eq!(set.ticks_of(e[1]).unwrap().changed, Tick::new(6));
        assert_eq!(set.remove::<u32>(e[0]), Some(0));
        assert_eq!(set.remove::<u32>(e[0]), None);
        // The last entry took dense slot 0.
        assert_eq!(set.entities().collect::<Vec<_>>(), [e[3], e[1], e[2]]);
        assert_eq!(set.get::<u32>(e[3]), Some(&3));
        assert!(set.detach(e[1]));
        assert!(!set.contains(e[1]));
        set.bury();
        assert_eq!(set.len(), 2);
        // Another generation of the same index is not the same entity.
        assert!(!set.contains(Entity::new(e[2].index(), 2)));
        let table = [e[2], e[0], e[3]];
        let rows = set.rows(&table);
        assert_eq!(rows.dense(0), set.dense_index(e[2]));
        assert_eq!(rows.dense(1), None);
        let (_, tail) = rows.split_at(2);
        assert_eq!(tail.dense(0), set.dense_index(e[3]));
    }

    #[test]
    fn tick_pointers_stamp_one_entry_while_lookups_read_the_others() {
        let mut set = SparseSet::new(ComponentType::of::<u64>());
        let e: Vec<Entity> = (0..5).map(|i| Entity::new(4 - i, 1)).collect();
        for (i, &entity) in e.iter().enumerate() {
            set.insert(entity, i as u64, Tick::new(i as u32));
        }
        let table = [e[4], e[2], e[0]];
        let rows = set.rows(&table);
        let (added, changed) = set.tick_ptrs();
        for row in 0..table.len() {
            let dense = rows.dense(row).unwrap();
            // SAFETY: `dense < len`; nothing else reads or writes this
            // entry's ticks meanwhile (the lookups read entities only).
            unsafe {
                assert_eq!(*added.add(dense * TICK_STRIDE), Tick::new(dense as u32));
                *changed.add(dense * TICK_STRIDE) = Tick::new(100 + row as u32);
            }
            // A lookup after the write reads the entry's entity again.
            assert_eq!(rows.dense(row), Some(dense));
        }
        for (row, &entity) in table.iter().enumerate() {
            let ticks = set.ticks_of(entity).unwrap();
            assert_eq!(ticks.changed, Tick::new(100 + row as u32));
            assert_eq!(
                ticks.added,
                Tick::new(set.dense_index(entity).unwrap() as u32)
            );
        }
        // Untouched entries keep their ticks.
        assert_eq!(set.ticks_of(e[1]).unwrap().changed, Tick::new(1));
        assert_eq!(*set.changed_exclusive(3), Tick::new(3));
        // The typed view inserts, replaces and removes like the set.
        let mut typed = set.typed_mut::<u64>();
        assert_eq!(typed.insert(e[1], 11, Tick::new(7)), Some(1));
        assert_eq!(typed.remove(e[0]), Some(0));
        assert_eq!(typed.get(e[1]), Some(&11));
        assert_eq!(typed.len(), 4);
        assert_eq!(
            set.ticks_of(e[1]).unwrap(),
            ComponentTicks {
                added: Tick::new(1),
                changed: Tick::new(7)
            }
        );
        assert_eq!(set.entities().collect::<Vec<_>>(), [e[4], e[1], e[2], e[3]]);
    }
}
