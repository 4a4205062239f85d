//! Sparse-set component storage: one set per component type, outside the
//! archetype tables, so that adding or removing such a component moves no
//! table row (bevy_ecs's `StorageType::SparseSet`; the layout is the classic
//! sparse set of Briggs and Torczon, "An efficient representation for
//! sparse sets", 1993: a sparse array indexed by entity index pointing into
//! dense arrays of values, ticks and entity ids).

use std::any::TypeId;

use super::archetype::ComponentType;
use super::block::ColumnRef;
use super::column::{
    downcast_mut_unchecked, downcast_ref_unchecked, ErasedColumn, TickColumn, TypedColumn,
};
use crate::change::{ComponentTicks, Tick};
use crate::entity::Entity;
use crate::hash::TypeIdMap;

/// The sparse sets of a world, by component type.
pub(crate) type SparseSets = TypeIdMap<TypeId, SparseSet>;

/// The components of one type held by any entity, densely packed.
///
/// `sparse[e.index()]` is the dense index of entity `e` plus one (`0`: no
/// component); `entities`, `ticks` and `values` are the dense arrays, entry
/// for entry. Removal swaps the last dense entry into the hole.
pub(crate) struct SparseSet {
    component: ComponentType,
    sparse: Vec<u32>,
    entities: Vec<Entity>,
    ticks: TickColumn,
    values: Box<dyn ErasedColumn>,
    /// Values detached by a despawn, dropped by [`bury`](Self::bury) once the
    /// world's bookkeeping is done.
    graveyard: Box<dyn ErasedColumn>,
}

/// Where one table's rows have their components in one sparse set: the
/// sparse array and the table's entities, for row-by-row lookups.
#[derive(Clone, Copy)]
#[doc(hidden)]
pub struct SparseRows<'a> {
    sparse: &'a [u32],
    dense_entities: &'a [Entity],
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
        let entity = self.rows[row];
        let slot = *self.sparse.get(entity.index() as usize)?;
        let dense = (slot as usize).checked_sub(1)?;
        // A dense entry names its entity: a stale slot (impossible while the
        // world's invariants hold) reads as absent, never as another value.
        (self.dense_entities.get(dense) == Some(&entity)).then_some(dense)
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
            entities: Vec::new(),
            ticks: TickColumn::default(),
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
        self.entities.len()
    }

    /// The entities with the component, in dense order.
    pub(crate) fn entities(&self) -> &[Entity] {
        &self.entities
    }

    /// The values, type-erased, in dense order (for snapshots and hashes).
    pub(crate) fn column(&self) -> ColumnRef<'_> {
        self.values.column_ref()
    }

    /// The dense index of `entity`.
    #[inline]
    pub(crate) fn dense_index(&self, entity: Entity) -> Option<usize> {
        let slot = *self.sparse.get(entity.index() as usize)?;
        let dense = (slot as usize).checked_sub(1)?;
        (self.entities.get(dense) == Some(&entity)).then_some(dense)
    }

    /// Whether `entity` has the component.
    pub(crate) fn contains(&self, entity: Entity) -> bool {
        self.dense_index(entity).is_some()
    }

    /// Row-by-row lookups for the entities `rows` (a table's entity list).
    pub(crate) fn rows<'a>(&'a self, rows: &'a [Entity]) -> SparseRows<'a> {
        SparseRows {
            sparse: &self.sparse,
            dense_entities: &self.entities,
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

    /// The values as a `Vec<T>`, exclusive.
    ///
    /// # Panics
    /// When the set does not hold `T` (a storage invariant).
    #[inline]
    fn values_mut<T: Send + Sync + 'static>(&mut self) -> &mut Vec<T> {
        self.expect_type::<T>();
        // SAFETY: as in `typed_column`.
        unsafe { downcast_mut_unchecked::<T>(self.values.as_mut()) }.vec_mut()
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

    /// The dense ticks (for the guarded paths).
    pub(crate) fn tick_column(&self) -> &TickColumn {
        &self.ticks
    }

    /// The sparse slot of `entity`'s index, the array grown to hold it.
    #[inline]
    fn slot_mut(&mut self, entity: Entity) -> &mut u32 {
        let index = entity.index() as usize;
        if self.sparse.len() <= index {
            self.sparse.resize(index + 1, 0);
        }
        &mut self.sparse[index]
    }

    fn push_entry(&mut self, entity: Entity, ticks: ComponentTicks) {
        self.entities.push(entity);
        self.ticks.push(ticks);
        let slot = u32::try_from(self.entities.len()).expect("more than 2^32 sparse components");
        *self.slot_mut(entity) = slot;
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
        self.expect_type::<T>();
        let next =
            u32::try_from(self.entities.len() + 1).expect("more than 2^32 sparse components");
        let slot = *self.slot_mut(entity);
        let dense = (slot as usize).wrapping_sub(1);
        if self.entities.get(dense) == Some(&entity) {
            *self.ticks.row_mut(dense).1 = tick;
            let old = &mut self.values_mut::<T>()[dense];
            return Some(std::mem::replace(old, value));
        }
        self.values_mut::<T>().push(value);
        self.entities.push(entity);
        self.ticks.push(ComponentTicks::new(tick));
        // The slot exists: `slot_mut` grew the array above.
        self.sparse[entity.index() as usize] = next;
        None
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
        for &entity in entities {
            debug_assert!(!self.contains(entity));
            self.push_entry(entity, ComponentTicks::new(tick));
        }
    }

    /// Unlinks dense entry `dense` (the last entry takes its place); the
    /// caller has already moved the value out of `values`.
    #[inline]
    fn unlink(&mut self, dense: usize) {
        let entity = self.entities.swap_remove(dense);
        self.ticks.swap_remove(dense);
        self.sparse[entity.index() as usize] = 0;
        if let Some(&moved) = self.entities.get(dense) {
            self.sparse[moved.index() as usize] = dense as u32 + 1;
        }
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
        assert!(dense < self.entities.len(), "dense index out of bounds");
        // Appended, then swapped into `dense` (the old value is dropped).
        column.drain_into(self.values.as_mut());
        self.values.swap_remove_drop(dense);
        *self.ticks.row_mut(dense).1 = tick;
    }

    /// The added and changed ticks of dense entry `dense`, mutable. Added for
    /// `World::set_component_ticks`.
    ///
    /// # Panics
    /// When `dense` is out of bounds.
    pub(crate) fn ticks_mut(&mut self, dense: usize) -> (&mut Tick, &mut Tick) {
        self.ticks.row_mut(dense)
    }

    /// Removes the component of `entity` and returns it.
    #[inline]
    pub(crate) fn remove<T: Send + Sync + 'static>(&mut self, entity: Entity) -> Option<T> {
        let dense = self.dense_index(entity)?;
        let value = self.values_mut::<T>().swap_remove(dense);
        self.unlink(dense);
        Some(value)
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
        let value = &mut values[dense];
        let (added, changed) = self.ticks.row_mut(dense);
        Some((value, added, changed))
    }

    /// The ticks of `entity`'s component (invariants I1/I2).
    pub(crate) fn ticks_of(&self, entity: Entity) -> Option<ComponentTicks> {
        let dense = self.dense_index(entity)?;
        Some(self.ticks.get(dense))
    }

    /// Clamps every tick to at most `MAX_CHANGE_AGE` before `now`.
    pub(crate) fn check_ticks(&mut self, now: Tick) {
        self.ticks.check(now);
    }

    /// Drops every value. Panic-safe: the bookkeeping is emptied first.
    pub(crate) fn clear(&mut self) {
        self.sparse.clear();
        self.entities.clear();
        self.ticks.clear();
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
        assert_eq!(set.entities(), &[e[3], e[1], e[2]]);
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
}
