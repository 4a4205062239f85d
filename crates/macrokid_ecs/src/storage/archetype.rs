//! Archetype tables: the entities that have exactly one set of component
//! types, stored as one column per type (struct of arrays).

use std::any::TypeId;

use super::column::{
    downcast_mut_unchecked, downcast_ref_unchecked, ErasedColumn, TickColumn, TypedColumn,
};
use crate::change::{ComponentTicks, Tick};
use crate::entity::Entity;
use crate::hash::TypeIdMap;

/// The identity of a component type with what a table needs to make a column
/// for it.
#[derive(Clone, Copy, Debug)]
#[doc(hidden)]
pub struct ComponentType {
    pub(crate) type_id: TypeId,
    pub(crate) name: &'static str,
    /// Makes an empty `TypedColumn` of the type (never anything else:
    /// invariant I3 of `storage/mod.rs` rests on it).
    pub(crate) new_column: fn() -> Box<dyn ErasedColumn>,
    /// The `TypeId` of `TypedColumn<T>`, to check columns made elsewhere
    /// (restored snapshots) against.
    pub(crate) column_type: TypeId,
}

impl ComponentType {
    /// The type `T`.
    pub fn of<T: Send + Sync + 'static>() -> Self {
        Self {
            type_id: TypeId::of::<T>(),
            name: std::any::type_name::<T>(),
            new_column: TypedColumn::<T>::new_erased,
            column_type: TypeId::of::<TypedColumn<T>>(),
        }
    }
}

/// Calls `f` on every item of `items`, in order. When a call panics, the
/// remaining items still get their call (while unwinding; a second panic
/// aborts, as when dropping a `Vec`), then the panic goes on.
///
/// Used to drop user values column by column (or table by table) so that a
/// panicking `Drop` cannot leave some columns shorter than others.
pub(crate) fn for_each_finishing<T>(items: &mut [T], f: impl FnMut(&mut T)) {
    struct Finish<'a, T, F: FnMut(&mut T)> {
        items: &'a mut [T],
        next: usize,
        f: F,
    }

    impl<T, F: FnMut(&mut T)> Finish<'_, T, F> {
        fn run(&mut self) {
            while let Some(item) = self.items.get_mut(self.next) {
                // Advance first: a panicking call is not repeated on unwind.
                self.next += 1;
                (self.f)(item);
            }
        }
    }

    impl<T, F: FnMut(&mut T)> Drop for Finish<'_, T, F> {
        fn drop(&mut self) {
            // Does nothing after a normal `run`; after a panic in `run`,
            // finishes the items it did not reach.
            self.run();
        }
    }

    let mut finish = Finish { items, next: 0, f };
    finish.run();
}

/// One cached move between tables: the target table, and the column of
/// the moved type in whichever of the two tables has it (the target of an
/// insert, the source of a remove). Both tables' types are sorted, so every
/// other column keeps its order: column `i` of the smaller table is column
/// `i` of the larger below `column`, `i + 1` from it on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Edge {
    pub(crate) target: ArchetypeId,
    pub(crate) column: u32,
}

/// A table's cached moves for one direction (insert or remove): component
/// type to [`Edge`]. The first few edges are kept in a list searched
/// by equality (most tables have a handful, and a short scan beats
/// hashing on every insert and remove); the rest in a map.
///
/// An insert edge of type `T` exists only on a table without `T`, a remove
/// edge only on a table with `T` (the world makes them in pairs, after
/// checking), so finding one also answers whether the table has `T`.
#[derive(Default)]
pub(crate) struct Edges {
    few: Vec<(TypeId, Edge)>,
    more: TypeIdMap<TypeId, Edge>,
}

impl Edges {
    /// How many edges the list holds before the map is used.
    const FEW: usize = 8;

    /// The edge of `type_id`, if cached.
    #[inline]
    pub(crate) fn get(&self, type_id: &TypeId) -> Option<Edge> {
        match self.few.iter().find(|(t, _)| t == type_id) {
            Some(&(_, edge)) => Some(edge),
            None if self.few.len() < Self::FEW => None,
            None => self.more.get(type_id).copied(),
        }
    }

    /// Caches `edge` as the move for `type_id` (replacing an old one).
    pub(crate) fn insert(&mut self, type_id: TypeId, edge: Edge) {
        if let Some(old) = self.few.iter_mut().find(|(t, _)| *t == type_id) {
            old.1 = edge;
        } else if self.few.len() < Self::FEW {
            self.few.push((type_id, edge));
        } else {
            self.more.insert(type_id, edge);
        }
    }
}

/// The id of an archetype: its index in the world's table list.
pub(crate) type ArchetypeId = u32;

/// One table: all entities with exactly the component types `types`.
///
/// Row `r` of every column and `entities[r]` belong to the same entity.
pub(crate) struct Archetype {
    /// Sorted, distinct.
    types: Box<[TypeId]>,
    names: Box<[&'static str]>,
    /// `columns[i]` holds `types[i]`.
    columns: Box<[Box<dyn ErasedColumn>]>,
    /// `ticks[i]`: the added/changed ticks of `columns[i]`, row for row.
    ticks: Box<[TickColumn]>,
    entities: Vec<Entity>,
    /// Where an entity goes when a component of this type is inserted.
    pub(crate) insert_edges: Edges,
    /// Where an entity goes when a component of this type is removed.
    pub(crate) remove_edges: Edges,
}

impl Archetype {
    /// A table for `components` (sorted by type id and distinct).
    pub(crate) fn new(components: &[ComponentType]) -> Self {
        debug_assert!(components.windows(2).all(|w| w[0].type_id < w[1].type_id));
        Self {
            types: components.iter().map(|c| c.type_id).collect(),
            names: components.iter().map(|c| c.name).collect(),
            columns: components.iter().map(|c| (c.new_column)()).collect(),
            ticks: components.iter().map(|_| TickColumn::default()).collect(),
            entities: Vec::new(),
            insert_edges: Edges::default(),
            remove_edges: Edges::default(),
        }
    }

    /// A table for `components` (sorted by type id and distinct) holding
    /// `columns` (`columns[i]` of `components[i]`, each with one row per
    /// entity of `entities`).
    ///
    /// # Panics
    /// When a column's length differs from the number of entities (callers
    /// check lengths first; a mismatch is a storage invariant).
    ///
    /// Every row is stamped added and changed at `tick`.
    pub(crate) fn from_parts(
        components: &[ComponentType],
        mut columns: Vec<Box<dyn ErasedColumn>>,
        entities: Vec<Entity>,
        tick: Tick,
    ) -> Self {
        assert!(
            components.windows(2).all(|w| w[0].type_id < w[1].type_id)
                && columns.len() == components.len()
                && columns.iter_mut().all(|c| c.row_count() == entities.len()),
            "storage invariant broken: a table assembled from parts is misshapen"
        );
        // Invariant I3: column `i` is a `TypedColumn` of `components[i]`.
        assert!(
            columns
                .iter()
                .zip(components)
                .all(|(column, component)| column.as_any().type_id() == component.column_type),
            "storage invariant broken: a table assembled from parts has a column of another type"
        );
        Self {
            types: components.iter().map(|c| c.type_id).collect(),
            names: components.iter().map(|c| c.name).collect(),
            ticks: components
                .iter()
                .map(|_| TickColumn::filled(entities.len(), tick))
                .collect(),
            columns: columns.into(),
            entities,
            insert_edges: Edges::default(),
            remove_edges: Edges::default(),
        }
    }

    /// Column `index`, type-erased (downcast it with `column_slice`).
    pub(crate) fn column(&self, index: usize) -> &dyn ErasedColumn {
        self.columns[index].as_ref()
    }

    /// The component types, sorted.
    pub(crate) fn types(&self) -> &[TypeId] {
        &self.types
    }

    /// A new, empty table with the types of `self` plus `added` (which
    /// `self` lacks).
    pub(crate) fn with_component(&self, added: ComponentType) -> Self {
        debug_assert!(!self.has(added.type_id));
        let pos = self.types.partition_point(|t| *t < added.type_id);
        let mut types = self.types.to_vec();
        let mut names = self.names.to_vec();
        let mut columns: Vec<Box<dyn ErasedColumn>> =
            self.columns.iter().map(|c| c.new_empty()).collect();
        types.insert(pos, added.type_id);
        names.insert(pos, added.name);
        columns.insert(pos, (added.new_column)());
        self.assemble(types, names, columns)
    }

    /// A new, empty table with the types of `self` minus `removed` (which
    /// `self` has).
    pub(crate) fn without_component(&self, removed: TypeId) -> Self {
        let pos = self
            .column_index(removed)
            .expect("removed type is in the table");
        let mut types = self.types.to_vec();
        let mut names = self.names.to_vec();
        let mut columns: Vec<Box<dyn ErasedColumn>> =
            self.columns.iter().map(|c| c.new_empty()).collect();
        types.remove(pos);
        names.remove(pos);
        columns.remove(pos);
        self.assemble(types, names, columns)
    }

    fn assemble(
        &self,
        types: Vec<TypeId>,
        names: Vec<&'static str>,
        columns: Vec<Box<dyn ErasedColumn>>,
    ) -> Self {
        Self {
            ticks: types.iter().map(|_| TickColumn::default()).collect(),
            types: types.into(),
            names: names.into(),
            columns: columns.into(),
            entities: Vec::new(),
            insert_edges: Edges::default(),
            remove_edges: Edges::default(),
        }
    }

    /// Whether the table has a column of `type_id`.
    pub(crate) fn has(&self, type_id: TypeId) -> bool {
        self.column_index(type_id).is_some()
    }

    /// The column index of `type_id`.
    #[inline]
    pub(crate) fn column_index(&self, type_id: TypeId) -> Option<usize> {
        // Most tables have a handful of columns: a scan of equality tests
        // beats a binary search's ordered comparisons of 128-bit ids there.
        if self.types.len() <= 8 {
            self.types.iter().position(|&t| t == type_id)
        } else {
            self.types.binary_search(&type_id).ok()
        }
    }

    /// The number of rows (entities).
    pub(crate) fn len(&self) -> usize {
        self.entities.len()
    }

    /// The entities, by row.
    pub(crate) fn entities(&self) -> &[Entity] {
        &self.entities
    }

    /// Reserves room for `additional` more rows in every column.
    pub(crate) fn reserve(&mut self, additional: usize) {
        self.entities.reserve(additional);
        for column in self.columns.iter_mut() {
            column.reserve(additional);
        }
        for ticks in self.ticks.iter_mut() {
            ticks.reserve(additional);
        }
    }

    /// The rows of column `index`, which must hold `T`.
    ///
    /// # Panics
    /// When column `index` does not hold `T` (a storage invariant).
    #[inline]
    pub(crate) fn column_vec_mut<T: Send + Sync + 'static>(&mut self, index: usize) -> &mut Vec<T> {
        self.typed_column_mut::<T>(index).vec_mut()
    }

    /// Column `index` as a column of `T`, exclusive.
    ///
    /// # Panics
    /// When column `index` does not hold `T` (a storage invariant).
    #[inline]
    fn typed_column_mut<T: 'static>(&mut self, index: usize) -> &mut TypedColumn<T> {
        self.expect_type::<T>(index);
        // SAFETY: column `index` holds `types[index]` (invariant I3), which
        // is `T`, checked above.
        unsafe { downcast_mut_unchecked::<T>(self.columns[index].as_mut()) }
    }

    /// Checks that column `index` holds `T` (one comparison of type ids
    /// against the table's own record).
    ///
    /// # Panics
    /// When it does not (a storage invariant).
    #[inline(always)]
    fn expect_type<T: 'static>(&self, index: usize) {
        if self.types[index] != TypeId::of::<T>() {
            wrong_column_type(index, std::any::type_name::<T>());
        }
    }

    /// The columns, their ticks and the entity list, for appending whole
    /// rows (the caller pushes one value to every column per entity, then
    /// the entity, then stamps the new rows' ticks).
    pub(crate) fn columns_and_entities(
        &mut self,
    ) -> (
        &mut [Box<dyn ErasedColumn>],
        &mut [TickColumn],
        &mut Vec<Entity>,
    ) {
        (&mut self.columns, &mut self.ticks, &mut self.entities)
    }

    /// Appends `entity` as a new row; the caller has pushed one value to
    /// every column. Returns the row.
    #[cfg(test)]
    pub(crate) fn push_entity(&mut self, entity: Entity) -> usize {
        self.entities.push(entity);
        self.fill_ticks(Tick::default());
        debug_assert!(self
            .columns
            .iter_mut()
            .all(|c| c.row_count() == self.entities.len()));
        self.entities.len() - 1
    }

    /// The `T` of row `row`, shared, without a borrow flag (invariant I2).
    pub(crate) fn get<T: 'static>(&self, row: usize) -> Option<&T> {
        let column = self.column_index(TypeId::of::<T>())?;
        self.typed_column::<T>(column).slice_shared().get(row)
    }

    /// The `T` of row `row` and its ticks, through exclusive access to
    /// the table.
    pub(crate) fn get_mut<T: Send + Sync + 'static>(
        &mut self,
        row: usize,
    ) -> Option<(&mut T, &mut Tick, &mut Tick)> {
        let column = self.column_index(TypeId::of::<T>())?;
        self.expect_type::<T>(column);
        // SAFETY: column `column` holds `types[column]` (invariant I3), which
        // is `T`, checked above.
        let typed = unsafe { downcast_mut_unchecked::<T>(self.columns[column].as_mut()) };
        let value = typed.vec_mut().get_mut(row)?;
        let (added, changed) = self.ticks[column].row_mut(row);
        Some((value, added, changed))
    }

    /// Stamps rows `rows` of column `index` as changed at `tick` (after a
    /// bulk write through [`column_vec_mut`](Self::column_vec_mut)).
    ///
    /// # Panics
    /// When `rows` is outside the table.
    pub(crate) fn mark_changed(&mut self, index: usize, rows: std::ops::Range<usize>, tick: Tick) {
        self.ticks[index].mark_changed(rows, tick);
    }

    /// The ticks of row `row` of column `index`, shared (invariants I1/I2).
    pub(crate) fn row_ticks(&self, index: usize, row: usize) -> ComponentTicks {
        self.ticks[index].get(row)
    }

    /// Stamps rows `rows` of column `index` as added at `tick` (added for
    /// `World::mark_column_changed`).
    ///
    /// # Panics
    /// When `rows` is outside the table.
    pub(crate) fn mark_added(&mut self, index: usize, rows: std::ops::Range<usize>, tick: Tick) {
        self.ticks[index].mark_added(rows, tick);
    }

    /// The added and changed ticks of row `row` of column `index`, mutable.
    /// Added for `World::set_component_ticks`.
    ///
    /// # Panics
    /// When `index` or `row` is out of bounds.
    pub(crate) fn row_ticks_mut(&mut self, index: usize, row: usize) -> (&mut Tick, &mut Tick) {
        self.ticks[index].row_mut(row)
    }

    /// The tick column of column `index`, for the guarded paths.
    #[inline]
    pub(crate) fn tick_column(&self, index: usize) -> &TickColumn {
        &self.ticks[index]
    }

    /// Appends the ticks of the row just pushed to column `index` (the
    /// one column a moved row lacked), stamped added and changed at `tick`.
    #[inline]
    pub(crate) fn push_ticks(&mut self, index: usize, tick: Tick) {
        self.ticks[index].push(ComponentTicks::new(tick));
        debug_assert_eq!(self.ticks[index].slice_len(), self.entities.len());
    }

    /// Stamps the rows that columns lack ticks for (the rows just pushed)
    /// as added and changed at `tick`.
    #[cfg(test)]
    pub(crate) fn fill_ticks(&mut self, tick: Tick) {
        let rows = self.entities.len();
        for ticks in self.ticks.iter_mut() {
            ticks.resize(rows, ComponentTicks::new(tick));
        }
    }

    /// Clamps every tick to at most `MAX_CHANGE_AGE` before `now`.
    pub(crate) fn check_ticks(&mut self, now: Tick) {
        for ticks in self.ticks.iter_mut() {
            ticks.check(now);
        }
    }

    /// The whole column of `T` (shared or exclusive), for the guarded paths in
    /// `view.rs`.
    #[inline]
    pub(super) fn typed_column<T: 'static>(&self, index: usize) -> &TypedColumn<T> {
        self.expect_type::<T>(index);
        // SAFETY: column `index` holds `types[index]` (invariant I3), which
        // is `T`, checked above.
        unsafe { downcast_ref_unchecked::<T>(self.columns[index].as_ref()) }
    }

    /// Removes row `row`, dropping its components. `relocate` is called
    /// with the entity moved into `row` to fill the hole, if any.
    ///
    /// Panic-safe: the entity list is updated and `relocate` runs before any
    /// component is dropped, and when a component's `Drop` panics the other
    /// columns still lose row `row` (see [`for_each_finishing`]), so every
    /// column keeps the length of the entity list; the panic goes on.
    pub(crate) fn swap_remove(&mut self, row: usize, relocate: impl FnOnce(Entity)) {
        self.entities.swap_remove(row);
        if let Some(&moved) = self.entities.get(row) {
            relocate(moved);
        }
        for ticks in self.ticks.iter_mut() {
            ticks.swap_remove(row);
        }
        for_each_finishing(&mut self.columns, |column| column.swap_remove_drop(row));
    }

    /// Moves row `row` into `dst`: every column that `dst` also has is moved
    /// there; each other column is handed to `leftover` (which must remove
    /// row `row` from it, e.g. by dropping or taking the value). Returns the
    /// entity moved into `row` here to fill the hole, if any.
    ///
    /// The caller pushes values for `dst`'s columns that `self` lacks.
    pub(crate) fn move_row(
        &mut self,
        row: usize,
        dst: &mut Archetype,
        mut leftover: impl FnMut(TypeId, &mut dyn ErasedColumn),
    ) -> Option<Entity> {
        for ((type_id, column), ticks) in self
            .types
            .iter()
            .zip(self.columns.iter_mut())
            .zip(self.ticks.iter_mut())
        {
            let row_ticks = ticks.swap_remove(row);
            match dst.column_index(*type_id) {
                Some(index) => {
                    // SAFETY: `dst.types[index]` is `type_id` (found by
                    // `column_index`), and both columns hold their
                    // table's recorded type (invariant I3).
                    unsafe { column.swap_remove_into_unchecked(row, dst.columns[index].as_mut()) };
                    dst.ticks[index].push(row_ticks);
                }
                None => leftover(*type_id, column.as_mut()),
            }
        }
        let entity = self.entities.swap_remove(row);
        dst.entities.push(entity);
        self.entities.get(row).copied()
    }

    /// Moves row `row` into `dst`, whose types are those of `self` plus one
    /// at column `added` (an insert [`Edge`]), and returns the entity moved
    /// into `row` here to fill the hole, if any. The caller then pushes the
    /// value and the ticks of column `added`.
    ///
    /// Unlike [`move_row`](Self::move_row), no column is looked up: column
    /// `i` goes to column `i` of `dst` below `added` and `i + 1` from it on.
    ///
    /// # Panics
    /// When `dst` does not have that shape (a storage invariant), before
    /// anything moves.
    #[inline]
    pub(crate) fn move_row_adding(
        &mut self,
        row: usize,
        dst: &mut Archetype,
        added: usize,
    ) -> Option<Entity> {
        self.check_shifted(dst, added, true);
        for (i, (column, ticks)) in self
            .columns
            .iter_mut()
            .zip(self.ticks.iter_mut())
            .enumerate()
        {
            let j = i + usize::from(i >= added);
            // SAFETY: `dst.types[j] == self.types[i]` (checked by
            // `check_shifted` above), and both columns hold their table's
            // recorded type (invariant I3).
            unsafe { column.swap_remove_into_unchecked(row, dst.columns[j].as_mut()) };
            ticks.swap_remove_into(row, &mut dst.ticks[j]);
        }
        self.move_entity(row, dst)
    }

    /// Moves row `row` into `dst`, whose types are those of `self` minus
    /// column `removed` (a remove [`Edge`]), and returns the `T` of column
    /// `removed` with the entity moved into `row` here to fill the hole, if
    /// any.
    ///
    /// # Panics
    /// When column `removed` does not hold `T` or `dst` does not have that
    /// shape (storage invariants), before anything moves.
    #[inline]
    pub(crate) fn take_and_move<T: Send + Sync + 'static>(
        &mut self,
        row: usize,
        dst: &mut Archetype,
        removed: usize,
    ) -> (T, Option<Entity>) {
        self.check_shifted(dst, removed, false);
        let value = self
            .typed_column_mut::<T>(removed)
            .vec_mut()
            .swap_remove(row);
        self.ticks[removed].swap_remove(row);
        for (i, (column, ticks)) in self
            .columns
            .iter_mut()
            .zip(self.ticks.iter_mut())
            .enumerate()
        {
            if i == removed {
                continue;
            }
            let j = i - usize::from(i > removed);
            // SAFETY: `dst.types[j] == self.types[i]` (checked by
            // `check_shifted` above), and both columns hold their table's
            // recorded type (invariant I3).
            unsafe { column.swap_remove_into_unchecked(row, dst.columns[j].as_mut()) };
            ticks.swap_remove_into(row, &mut dst.ticks[j]);
        }
        (value, self.move_entity(row, dst))
    }

    /// Checks that `dst` has the types of `self` plus (`adding`) or minus
    /// the one at column `at` of the larger table: the shape
    /// [`move_row_adding`](Self::move_row_adding) and
    /// [`take_and_move`](Self::take_and_move) rely on.
    ///
    /// # Panics
    /// When it does not (a storage invariant).
    #[inline(always)]
    fn check_shifted(&self, dst: &Archetype, at: usize, adding: bool) {
        let (small, large) = if adding {
            (&self.types, &dst.types)
        } else {
            (&dst.types, &self.types)
        };
        let fits = small.len() + 1 == large.len()
            && at < large.len()
            && small
                .iter()
                .enumerate()
                .all(|(i, t)| large.get(i + usize::from(i >= at)) == Some(t));
        if !fits {
            wrong_move_target();
        }
    }

    /// Moves `entities[row]` to the end of `dst`'s list (the columns have
    /// moved) and returns the entity that took `row`, if any.
    #[inline(always)]
    fn move_entity(&mut self, row: usize, dst: &mut Archetype) -> Option<Entity> {
        let entity = self.entities.swap_remove(row);
        dst.entities.push(entity);
        self.entities.get(row).copied()
    }

    /// Drops every row.
    ///
    /// Panic-safe as [`swap_remove`](Self::swap_remove): the entity list is
    /// emptied first, and every column is emptied even when a component's
    /// `Drop` panics.
    pub(crate) fn clear(&mut self) {
        self.entities.clear();
        for ticks in self.ticks.iter_mut() {
            ticks.clear();
        }
        for_each_finishing(&mut self.columns, |column| column.clear());
    }

    /// The type names, in column order (for debugging output).
    pub(crate) fn type_names(&self) -> &[&'static str] {
        &self.names
    }
}

impl Archetype {
    /// Whether any row in `rows` of column `index` was stamped changed after
    /// `since`, seen from `now` (invariants I1/I2, as
    /// [`row_ticks`](Self::row_ticks)). Added for `World::column_changed_since`.
    ///
    /// # Panics
    /// When `index` or `rows` is out of bounds.
    pub(crate) fn any_changed_after(
        &self,
        index: usize,
        rows: std::ops::Range<usize>,
        since: Tick,
        now: Tick,
    ) -> bool {
        self.ticks[index].any_changed_after(rows, since, now)
    }
}

/// A column was asked for as a type it does not hold: a bug in this
/// crate's storage code.
#[cold]
#[inline(never)]
fn wrong_column_type(index: usize, type_name: &str) -> ! {
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

    #[test]
    fn edges_past_the_list_go_to_the_map() {
        // Distinct type ids from distinct types.
        struct K<const N: usize>;
        let ids = [
            TypeId::of::<K<0>>(),
            TypeId::of::<K<1>>(),
            TypeId::of::<K<2>>(),
            TypeId::of::<K<3>>(),
            TypeId::of::<K<4>>(),
            TypeId::of::<K<5>>(),
            TypeId::of::<K<6>>(),
            TypeId::of::<K<7>>(),
            TypeId::of::<K<8>>(),
            TypeId::of::<K<9>>(),
        ];
        let edge = |target: u32| Edge {
            target,
            column: target % 3,
        };
        let mut edges = Edges::default();
        for (i, &id) in ids.iter().enumerate() {
            assert_eq!(edges.get(&id), None);
            edges.insert(id, edge(i as ArchetypeId));
        }
        for (i, id) in ids.iter().enumerate() {
            assert_eq!(edges.get(id), Some(edge(i as ArchetypeId)), "edge {i}");
        }
        assert_eq!((edges.few.len(), edges.more.len()), (Edges::FEW, 2));
        // Replacing keeps one edge per type, in the list or the map.
        edges.insert(ids[1], edge(50));
        edges.insert(ids[9], edge(90));
        assert_eq!(edges.get(&ids[1]), Some(edge(50)));
        assert_eq!(edges.get(&ids[9]), Some(edge(90)));
        assert_eq!((edges.few.len(), edges.more.len()), (Edges::FEW, 2));
        assert_eq!(edges.get(&TypeId::of::<u8>()), None);
    }
    use std::panic::{catch_unwind, AssertUnwindSafe};
    /// Appends a row for `entity` whose every column (of `u8`, `u16` or
    /// `u32`) holds `value`.
    fn push_row(table: &mut Archetype, entity: Entity, value: u8) {
        for i in 0..table.types().len() {
            let t = table.types()[i];
            if t == TypeId::of::<u8>() {
                table.column_vec_mut::<u8>(i).push(value);
            } else if t == TypeId::of::<u16>() {
                table.column_vec_mut::<u16>(i).push(value.into());
            } else {
                table.column_vec_mut::<u32>(i).push(value.into());
            }
        }
        table.push_entity(entity);
    }

    /// The value of every column of row `row`, as `u32`s.
    fn row_values(table: &Archetype, row: usize) -> Vec<u32> {
        (0..table.types().len())
            .map(|i| {
                let t = table.types()[i];
                if t == TypeId::of::<u8>() {
                    table.get::<u8>(row).copied().map(u32::from)
                } else if t == TypeId::of::<u16>() {
                    table.get::<u16>(row).copied().map(u32::from)
                } else {
                    table.get::<u32>(row).copied()
                }
                .unwrap()
            })
            .collect()
    }

    #[test]
    fn shifted_moves_carry_every_column_and_its_ticks() {
        let mut all = [
            ComponentType::of::<u8>(),
            ComponentType::of::<u16>(),
            ComponentType::of::<u32>(),
        ];
        all.sort_by_key(|c| c.type_id);
        let (e0, e1) = (Entity::new(0, 0), Entity::new(1, 0));
        for at in 0..all.len() {
            let small: Vec<ComponentType> = all
                .iter()
                .enumerate()
                .filter(|&(i, _)| i != at)
                .map(|(_, c)| *c)
                .collect();
            let mut from = Archetype::new(&small);
            let mut to = Archetype::new(&all);
            push_row(&mut from, e0, 1);
            push_row(&mut from, e1, 2);
            for column in 0..small.len() {
                from.mark_changed(column, 0..1, Tick::new(7 + column as u32));
            }
            // Insert: row 0 moves; the last row fills its place.
            assert_eq!(from.move_row_adding(0, &mut to, at), Some(e1));
            let t = all[at].type_id;
            if t == TypeId::of::<u8>() {
                to.column_vec_mut::<u8>(at).push(9);
            } else if t == TypeId::of::<u16>() {
                to.column_vec_mut::<u16>(at).push(9);
            } else {
                to.column_vec_mut::<u32>(at).push(9);
            }
            to.push_ticks(at, Tick::new(20));
            assert_eq!((from.entities(), to.entities()), (&[e1][..], &[e0][..]));
            assert_eq!(row_values(&from, 0), vec![2; small.len()]);
            let mut expected = vec![1; small.len()];
            expected.insert(at, 9);
            assert_eq!(row_values(&to, 0), expected, "added at column {at}");
            for column in 0..all.len() {
                let changed = to.row_ticks(column, 0).changed;
                let want = match column.cmp(&at) {
                    std::cmp::Ordering::Less => 7 + column as u32,
                    std::cmp::Ordering::Equal => 20,
                    std::cmp::Ordering::Greater => 6 + column as u32,
                };
                assert_eq!(changed, Tick::new(want), "ticks of column {column}");
            }
            // A target of another shape is refused before anything moves.
            let mut wrong = Archetype::new(&small);
            let refused = catch_unwind(AssertUnwindSafe(|| {
                from.move_row_adding(0, &mut wrong, at);
            }));
            assert!(refused.is_err());
            assert_eq!((from.len(), wrong.len()), (1, 0));
            assert_eq!(row_values(&from, 0), vec![2; small.len()]);
            // Remove: the value of column `at` comes back, the rest moves.
            let taken = if t == TypeId::of::<u8>() {
                u32::from(to.take_and_move::<u8>(0, &mut from, at).0)
            } else if t == TypeId::of::<u16>() {
                u32::from(to.take_and_move::<u16>(0, &mut from, at).0)
            } else {
                to.take_and_move::<u32>(0, &mut from, at).0
            };
            assert_eq!(taken, 9);
            assert_eq!(to.len(), 0);
            assert_eq!(from.entities(), &[e1, e0]);
            assert_eq!(row_values(&from, 1), vec![1; small.len()]);
            for column in 0..small.len() {
                assert_eq!(
                    from.row_ticks(column, 1).changed,
                    Tick::new(7 + column as u32)
                );
            }
        }
    }

    #[test]
    fn for_each_finishing_reaches_every_item_after_a_panic() {
        let mut items = [0_u32; 4];
        for_each_finishing(&mut items, |x| *x += 1);
        assert_eq!(items, [1; 4], "each item once on the normal path");
        let mut calls = 0;
        let result = catch_unwind(AssertUnwindSafe(|| {
            for_each_finishing(&mut items, |x| {
                calls += 1;
                *x += 1;
                assert!(calls != 2, "the second call panics");
            });
        }));
        assert!(result.is_err(), "the panic goes on");
        assert_eq!(calls, 4, "the panicking call is not repeated");
        assert_eq!(items, [2; 4]);
    }
}
