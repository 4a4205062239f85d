//! Archetype tables: the entities that have exactly one set of component
//! types, stored as one column per type (struct of arrays).

use std::alloc::Layout;
use std::any::TypeId;

use super::block::{wrong_column_type, Block, ColumnRef, TableTicks};
use super::column::{ErasedColumn, TypedColumn};
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
    /// The layout of one `T` (a table's block holds arrays of them).
    pub(crate) layout: Layout,
    /// Drops `count` `T`s in place from a pointer to the first one; `None`
    /// when `T` needs no drop.
    pub(crate) drop_rows: Option<unsafe fn(*mut u8, usize)>,
}

/// Drops `count` `T`s in place (the rest still drop when one panics, as
/// for a slice).
///
/// # Safety
/// `ptr` points to `count` initialized, aligned `T`s that nothing uses
/// afterwards.
unsafe fn drop_rows<T>(ptr: *mut u8, count: usize) {
    // SAFETY: guaranteed by the caller.
    unsafe { std::ptr::drop_in_place(std::ptr::slice_from_raw_parts_mut(ptr.cast::<T>(), count)) }
}

impl ComponentType {
    /// The type `T`.
    pub fn of<T: Send + Sync + 'static>() -> Self {
        Self {
            type_id: TypeId::of::<T>(),
            name: std::any::type_name::<T>(),
            new_column: TypedColumn::<T>::new_erased,
            column_type: TypeId::of::<TypedColumn<T>>(),
            layout: Layout::new::<T>(),
            drop_rows: if std::mem::needs_drop::<T>() {
                Some(drop_rows::<T>)
            } else {
                None
            },
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
/// Its rows live in one [`Block`]: row `r` of every column and entity `r`
/// belong to the same entity.
pub(crate) struct Archetype {
    /// Sorted, distinct.
    types: Box<[TypeId]>,
    names: Box<[&'static str]>,
    /// Column `i` holds `types[i]`.
    block: Block,
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
            block: Block::new(components),
            insert_edges: Edges::default(),
            remove_edges: Edges::default(),
        }
    }

    /// A table for `components` (sorted by type id and distinct) holding
    /// the rows of `columns` (`columns[i]` of `components[i]`, each with one
    /// row per entity of `entities`, emptied into the table's block).
    ///
    /// # Panics
    /// When a column's length differs from the number of entities or a
    /// column is of another type (callers check lengths first; a mismatch
    /// is a storage invariant).
    ///
    /// Every row is stamped added and changed at `tick`.
    pub(crate) fn from_parts(
        components: &[ComponentType],
        mut columns: Vec<Box<dyn ErasedColumn>>,
        entities: Vec<Entity>,
        tick: Tick,
    ) -> Self {
        assert!(
            components.windows(2).all(|w| w[0].type_id < w[1].type_id),
            "storage invariant broken: a table assembled from parts is misshapen"
        );
        let mut table = Self::new(components);
        // Checks invariant I3: column `i` is a `TypedColumn` of `components[i]`.
        table.block.append_columns(&mut columns, &entities, tick);
        table
    }

    /// Replaces every row by the rows of `columns` (`columns[i]` of column
    /// `i`, one row per entity of `entities`, emptied into a new block),
    /// stamped added and changed at `tick`, and returns the old table (its
    /// values are dropped with it: the caller drops it once the world is
    /// consistent again). The cached edges are kept.
    ///
    /// # Panics
    /// As [`from_parts`](Self::from_parts).
    pub(crate) fn replace_rows(
        &mut self,
        columns: Vec<Box<dyn ErasedColumn>>,
        entities: Vec<Entity>,
        tick: Tick,
    ) -> Archetype {
        let components: Vec<ComponentType> = (0..self.block.column_count())
            .map(|i| *self.block.component(i))
            .collect();
        let mut old =
            std::mem::replace(self, Self::from_parts(&components, columns, entities, tick));
        std::mem::swap(&mut self.insert_edges, &mut old.insert_edges);
        std::mem::swap(&mut self.remove_edges, &mut old.remove_edges);
        old
    }

    /// Column `index`, type-erased (read it with `column_slice`).
    pub(crate) fn column(&self, index: usize) -> ColumnRef<'_> {
        self.block.column_ref(index)
    }

    /// The component types, sorted.
    pub(crate) fn types(&self) -> &[TypeId] {
        &self.types
    }

    /// The component types, in column order.
    fn components(&self) -> Vec<ComponentType> {
        (0..self.types.len())
            .map(|i| *self.block.component(i))
            .collect()
    }

    /// A new, empty table with the types of `self` plus `added` (which
    /// `self` lacks).
    pub(crate) fn with_component(&self, added: ComponentType) -> Self {
        debug_assert!(!self.has(added.type_id));
        let pos = self.types.partition_point(|t| *t < added.type_id);
        let mut components = self.components();
        components.insert(pos, added);
        Self::new(&components)
    }

    /// A new, empty table with the types of `self` minus `removed` (which
    /// `self` has).
    pub(crate) fn without_component(&self, removed: TypeId) -> Self {
        let pos = self
            .column_index(removed)
            .expect("removed type is in the table");
        let mut components = self.components();
        components.remove(pos);
        Self::new(&components)
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
        self.block.len()
    }

    /// The entities, by row.
    pub(crate) fn entities(&self) -> &[Entity] {
        self.block.entities()
    }

    /// Reserves room for `additional` more rows (see [`Block::reserve`]).
    pub(crate) fn reserve(&mut self, additional: usize) {
        self.block.reserve(additional);
    }

    /// The block, for appending rows (`BundleWriter`).
    pub(super) fn block_mut(&mut self) -> &mut Block {
        &mut self.block
    }

    /// The values of column `index`, which must hold `T`, through
    /// exclusive access.
    ///
    /// # Panics
    /// When column `index` does not hold `T` (a storage invariant).
    #[inline]
    pub(crate) fn column_mut<T: 'static>(&mut self, index: usize) -> &mut [T] {
        self.block.values_mut::<T>(index)
    }

    /// Appends the rows of `columns` (one column per table column, in
    /// order, emptied) for `entities`, stamped added and changed at `tick`.
    ///
    /// # Panics
    /// As [`Block::append_columns`].
    #[cfg(test)]
    pub(crate) fn push_columns(
        &mut self,
        columns: &mut [Box<dyn ErasedColumn>],
        entities: &[Entity],
        tick: Tick,
    ) {
        self.block.append_columns(columns, entities, tick);
    }

    /// The `T` of row `row`, shared, without a borrow flag (invariant I2).
    pub(crate) fn get<T: 'static>(&self, row: usize) -> Option<&T> {
        let column = self.column_index(TypeId::of::<T>())?;
        self.block.values::<T>(column).get(row)
    }

    /// The `T` of row `row` and its ticks, through exclusive access to
    /// the table.
    pub(crate) fn get_mut<T: 'static>(
        &mut self,
        row: usize,
    ) -> Option<(&mut T, &mut Tick, &mut Tick)> {
        let column = self.column_index(TypeId::of::<T>())?;
        self.block.row_mut::<T>(column, row)
    }

    /// Stamps rows `rows` of column `index` as changed at `tick` (after a
    /// bulk write through [`column_mut`](Self::column_mut)).
    ///
    /// # Panics
    /// When `rows` is outside the table.
    pub(crate) fn mark_changed(&mut self, index: usize, rows: std::ops::Range<usize>, tick: Tick) {
        self.block.ticks_mut(index).1[rows].fill(tick);
    }

    /// The ticks of row `row` of column `index`, shared (invariants I1/I2).
    pub(crate) fn row_ticks(&self, index: usize, row: usize) -> ComponentTicks {
        self.block.ticks(index).get(row)
    }

    /// Stamps rows `rows` of column `index` as added at `tick` (added for
    /// `World::mark_column_changed`).
    ///
    /// # Panics
    /// When `rows` is outside the table.
    pub(crate) fn mark_added(&mut self, index: usize, rows: std::ops::Range<usize>, tick: Tick) {
        self.block.ticks_mut(index).0[rows].fill(tick);
    }

    /// The added and changed ticks of row `row` of column `index`, mutable.
    /// Added for `World::set_component_ticks`.
    ///
    /// # Panics
    /// When `index` or `row` is out of bounds.
    pub(crate) fn row_ticks_mut(&mut self, index: usize, row: usize) -> (&mut Tick, &mut Tick) {
        let (added, changed) = self.block.ticks_mut(index);
        (&mut added[row], &mut changed[row])
    }

    /// The ticks of column `index`, for the guarded paths.
    #[inline]
    pub(crate) fn tick_column(&self, index: usize) -> TableTicks<'_> {
        self.block.ticks(index)
    }

    /// Clamps every tick to at most `MAX_CHANGE_AGE` before `now`.
    pub(crate) fn check_ticks(&mut self, now: Tick) {
        self.block.check_ticks(now);
    }

    /// The values of column `index` (shared; invariants I1/I2), for the
    /// guarded paths in `view.rs`.
    ///
    /// # Panics
    /// When column `index` does not hold `T` (a storage invariant).
    #[inline]
    pub(super) fn column_shared<T: 'static>(&self, index: usize) -> &[T] {
        self.block.values::<T>(index)
    }

    /// The values of column `index`, mutable, under the write flag of `T`
    /// (invariant I1; see [`Block::values_exclusive`]).
    ///
    /// # Panics
    /// When column `index` does not hold `T` (a storage invariant).
    #[inline]
    pub(super) fn column_exclusive<T: 'static>(&self, index: usize) -> &mut [T] {
        self.block.values_exclusive::<T>(index)
    }

    /// Removes row `row`, dropping its components. `relocate` is called
    /// with the entity moved into `row` to fill the hole, if any.
    ///
    /// Panic-safe (see [`Block::swap_remove`]): the row is gone and
    /// `relocate` has run before any component is dropped, and when a
    /// component's `Drop` panics the other components are still dropped;
    /// the panic goes on.
    pub(crate) fn swap_remove(&mut self, row: usize, relocate: impl FnOnce(Entity)) {
        self.block.swap_remove(row, relocate);
    }

    /// Moves row `row` into `dst`, whose types are those of `self` plus one
    /// at column `added` (an insert [`Edge`]), with `value` as its `T` there
    /// (added and changed at `tick`), and returns the entity moved into
    /// `row` here to fill the hole, if any.
    ///
    /// No column is looked up: column `i` goes to column `i` of `dst` below
    /// `added` and `i + 1` from it on.
    ///
    /// # Panics
    /// When `dst` does not have that shape or column `added` does not hold
    /// `T` (storage invariants), before anything moves.
    #[inline]
    pub(crate) fn move_row_adding<T: 'static>(
        &mut self,
        row: usize,
        dst: &mut Archetype,
        added: usize,
        value: T,
        tick: Tick,
    ) -> Option<Entity> {
        dst.expect_type::<T>(added);
        // SAFETY: `extra` writes a `T`, the type of `dst`'s column `added`
        // (checked above) into the slot it is given, and cannot panic.
        unsafe {
            self.block
                .move_adding(row, &mut dst.block, added, tick, |slot| {
                    slot.cast::<T>().write(value)
                })
        }
    }

    /// [`move_row_adding`](Self::move_row_adding) with the value taken
    /// from `value` (a column of that type holding exactly one row, emptied).
    ///
    /// # Panics
    /// When `value` is of another type or does not hold one row, or `dst`
    /// does not have that shape (storage invariants), before anything moves.
    pub(crate) fn move_row_adding_from(
        &mut self,
        row: usize,
        dst: &mut Archetype,
        added: usize,
        value: &mut dyn ErasedColumn,
        tick: Tick,
    ) -> Option<Entity> {
        dst.expect_column(added, value);
        // SAFETY: `extra` moves the one row of `value`, a column of the type
        // of `dst`'s column `added` (checked above), into the slot it is
        // given; the move is a bitwise copy and cannot panic.
        unsafe {
            self.block
                .move_adding(row, &mut dst.block, added, tick, |slot| {
                    value.take_rows_raw(slot)
                })
        }
    }

    /// Replaces the value of row `row` of column `index` by the one value
    /// of `value` (a column of that type, which gets the old value back),
    /// stamped changed at `tick`. Added for `World::insert_encoded`.
    ///
    /// # Panics
    /// When `value` is of another type or does not hold one row, or `row`
    /// is out of bounds.
    pub(crate) fn replace_from(
        &mut self,
        index: usize,
        row: usize,
        value: &mut dyn ErasedColumn,
        tick: Tick,
    ) {
        self.expect_column(index, value);
        let at = self.block.row_ptr(index, row);
        // SAFETY: `at` is an initialized value of column `index`, of the
        // type of `value` (checked above), which holds one row; the two
        // trade places.
        unsafe { value.swap_raw(0, at) };
        self.mark_changed(index, row..row + 1, tick);
    }

    /// Checks that `value` is a column of the type of column `index` with
    /// one row.
    ///
    /// # Panics
    /// When it is not (a storage invariant).
    fn expect_column(&self, index: usize, value: &mut dyn ErasedColumn) {
        assert!(
            value.as_any().type_id() == self.block.component(index).column_type
                && value.row_count() == 1,
            "storage invariant broken: a value of another type or count for column {index}"
        );
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
    pub(crate) fn take_and_move<T: 'static>(
        &mut self,
        row: usize,
        dst: &mut Archetype,
        removed: usize,
    ) -> (T, Option<Entity>) {
        self.expect_type::<T>(removed);
        let mut value = None;
        // SAFETY: `extra` moves the `T` (the type of column `removed`,
        // checked above) out of the slot it is given by a bitwise read,
        // which cannot panic.
        let moved = unsafe {
            self.block
                .move_removing(row, &mut dst.block, removed, |slot| {
                    value = Some(slot.cast::<T>().read())
                })
        };
        (value.expect("the removed value was taken"), moved)
    }

    /// [`take_and_move`](Self::take_and_move) with the value of column
    /// `removed` pushed onto `out` (an empty column of that type).
    ///
    /// # Panics
    /// When `out` is of another type or not empty, or `dst` does not have
    /// that shape (storage invariants), before anything moves.
    pub(crate) fn take_and_move_into(
        &mut self,
        row: usize,
        dst: &mut Archetype,
        removed: usize,
        out: &mut dyn ErasedColumn,
    ) -> Option<Entity> {
        assert!(
            out.as_any().type_id() == self.block.component(removed).column_type
                && out.row_count() == 0,
            "storage invariant broken: a removed value taken into a column of another type"
        );
        out.reserve(1);
        // SAFETY: `extra` moves the value of column `removed` (the type of
        // `out`, checked above) into `out`, which has room for it (reserved
        // above), by a bitwise read that cannot panic.
        unsafe {
            self.block
                .move_removing(row, &mut dst.block, removed, |slot| out.push_raw(slot))
        }
    }

    /// Checks that column `index` holds `T`.
    ///
    /// # Panics
    /// When it does not (a storage invariant).
    #[inline(always)]
    fn expect_type<T: 'static>(&self, index: usize) {
        if self.types.get(index) != Some(&TypeId::of::<T>()) {
            wrong_column_type(index, std::any::type_name::<T>());
        }
    }

    /// Drops every row.
    ///
    /// Panic-safe (see [`Block::clear`]): the table is empty before the
    /// first component is dropped, and every component is dropped even
    /// when a `Drop` panics.
    pub(crate) fn clear(&mut self) {
        self.block.clear();
    }

    /// The type names, in column order (for debugging output).
    pub(crate) fn type_names(&self) -> &[&'static str] {
        &self.names
    }

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
        self.block.ticks(index).any_changed_after(rows, since, now)
    }
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
        let mut columns: Vec<Box<dyn ErasedColumn>> = table
            .types()
            .iter()
            .map(|&t| {
                if t == TypeId::of::<u8>() {
                    TypedColumn::from_vec(vec![value])
                } else if t == TypeId::of::<u16>() {
                    TypedColumn::from_vec(vec![u16::from(value)])
                } else {
                    TypedColumn::from_vec(vec![u32::from(value)])
                }
            })
            .collect();
        table.push_columns(&mut columns, &[entity], Tick::default());
    }

    /// Moves row `row` of `from` into `to` along an insert edge at column
    /// `at` of type `t` (`u8`, `u16` or `u32`), the added value 9 stamped
    /// at tick 20.
    fn add_nine(
        from: &mut Archetype,
        to: &mut Archetype,
        row: usize,
        at: usize,
        t: TypeId,
    ) -> Option<Entity> {
        let tick = Tick::new(20);
        if t == TypeId::of::<u8>() {
            from.move_row_adding(row, to, at, 9_u8, tick)
        } else if t == TypeId::of::<u16>() {
            from.move_row_adding(row, to, at, 9_u16, tick)
        } else {
            from.move_row_adding(row, to, at, 9_u32, tick)
        }
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
            let t = all[at].type_id;
            assert_eq!(add_nine(&mut from, &mut to, 0, at, t), Some(e1));
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
                add_nine(&mut from, &mut wrong, 0, at, t);
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
