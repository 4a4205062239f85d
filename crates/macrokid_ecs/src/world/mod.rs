//! The [`World`]: entities, their components in archetype tables, and
//! resources.

use std::any::TypeId;
use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::iter;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex, PoisonError};

use macrokid_core::ResourceAccess;

use crate::change::{ComponentTicks, Mut, RemovalLog, SystemTicks, Tick, CHECK_TICK_THRESHOLD};
use crate::command::CommandBuffer;
use crate::component::{Bundle, BundleWriter, Component, Resource};
use crate::entity::{Entities, Entity, Location};
use crate::error::EcsError;
use crate::hash::TypeIdMap;
use crate::query::{QueryBorrow, QueryData, QueryFilter, ReadOnlyQueryData};
use crate::snapshot::{self, SnapshotError, SnapshotRegistry, WorldParts};
use crate::storage::{
    for_each_finishing, Archetype, ArchetypeId, ComponentType, Components, Edge, ErasedColumn,
    Held, QueryState, ResourceSlot, Slot, SparseQuery, SparseSet, SparseSets,
};
use crate::system::EntityFilter;

mod encoded;
mod rows;
mod run;
mod sparse_storage;

pub use encoded::{CommandRecord, SparseMember, SparseShape};
pub use sparse_storage::SparseStorageMut;

/// Where a bundle type's components go: its table and, per tuple element,
/// the column index there.
struct BundleInfo {
    archetype: ArchetypeId,
    /// Per tuple element: its table column, or `table columns + i` for the
    /// `i`-th element of `sparse`.
    columns: Box<[usize]>,
    /// The elements with sparse-set storage, in staging order.
    sparse: Box<[ComponentType]>,
}

/// One query type's state in a world, for one system entity filter:
/// what [`World::query_state_within`] would otherwise rebuild per query.
struct CachedQuery {
    /// The system entity filter (`with`/`without`) it was built for.
    within: EntityFilter,
    /// The query's access (shared with running queries).
    access: Arc<ResourceAccess>,
    /// The table types a matching table has all of (sorted, distinct).
    required: Vec<TypeId>,
    /// The table types a matching table has none of (sorted, distinct).
    excluded: Vec<TypeId>,
    /// The sparse types a matching row's entity must have, and lack.
    sparse: (Vec<TypeId>, Vec<TypeId>),
    /// Tables `0..seen` have been tested.
    seen: usize,
    /// Shared with running queries; replaced (not mutated) when a new table
    /// matches.
    matches: Arc<[ArchetypeId]>,
    /// The type of each entry of the access (writes, then reads).
    fetched: Vec<Option<TypeId>>,
    /// Per matched table, `fetched.len()` column indices (`u32::MAX`: the
    /// table has no such column): what a query's table views look up
    /// instead of scanning each table's types. Replaced with `matches`.
    columns: Arc<[u32]>,
}

/// Entities with components, plus one resource per type.
///
/// Components live in archetype tables: one table per set of component
/// types, one column (`Vec<T>`) per type, one row per entity. Spawning,
/// despawning, inserting and removing take `&mut World` and move rows
/// between tables (swap-remove, so row order changes); the moves are
/// cached as edges between tables.
///
/// Components registered with [`register_sparse`](Self::register_sparse)
/// live in sparse sets instead (one per type, outside the tables): adding
/// or removing them moves no table row, at the cost of a lookup per entity
/// when a query reads them.
///
/// A `World` is `Send + Sync`; systems share it through a stage context
/// (see [`World::run_schedule`]) and borrow its columns and resources under
/// runtime borrow flags.
pub struct World {
    entities: Entities,
    archetypes: Vec<Archetype>,
    archetype_index: HashMap<Box<[TypeId]>, ArchetypeId>,
    bundles: TypeIdMap<TypeId, BundleInfo>,
    components: Components,
    /// The components with sparse-set storage.
    sparse: SparseSets,
    resources: TypeIdMap<TypeId, ResourceSlot>,
    /// Per query type (`(Q::Key, F::Key)`): its cached state, one per
    /// system entity filter it ran with.
    query_cache: Mutex<TypeIdMap<TypeId, Vec<CachedQuery>>>,
    pub(crate) command_buffers: Vec<Mutex<CommandBuffer>>,
    failed_commands: u64,
    /// The command buffer `run_system` reuses.
    pub(crate) spare_buffer: CommandBuffer,
    /// The id list `spawn` reuses.
    spawn_scratch: Vec<Entity>,
    /// The types `hash`, `snapshot` and `restore` know by name.
    snapshots: SnapshotRegistry,
    /// Unique per world (user-held query states check it).
    id: u64,
    /// Bumped whenever table matches may change other than by new tables
    /// (a restore rebuilds the tables; a sparse registration changes how
    /// a type is matched).
    layout_epoch: u64,
    /// The tick direct writes are stamped with; advanced by schedules.
    change_tick: Tick,
    /// What `World::query_filtered` compares `Added`/`Changed` against.
    last_change_tick: Tick,
    /// When `check_change_ticks` last ran.
    last_check_tick: Tick,
    /// The start tick of the previous first stage (removals older than it
    /// are dropped when a first stage starts).
    removal_horizon: Tick,
    /// Per schedule type: the last run of each system slot (0: never;
    /// else `1 << 32 | tick`).
    pub(crate) schedule_ticks: TypeIdMap<TypeId, Box<[AtomicU64]>>,
    /// Per schedule type: the plan refined to the tables that exist.
    pub(crate) refined_plans: TypeIdMap<TypeId, run::RefinedPlan>,
    /// Per system type run alone (`run_system`): its last run.
    pub(crate) system_ticks: TypeIdMap<TypeId, Tick>,
    /// Per component type: the entities that lost it, with the tick.
    removed: RemovalLog,
    /// The applied commands, while [`World::record_commands`] is on.
    command_log: Option<Vec<CommandRecord>>,
}

impl Default for World {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for World {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let tables: Vec<(&[&str], usize)> = self
            .archetypes
            .iter()
            .map(|a| (a.type_names(), a.len()))
            .collect();
        f.debug_struct("World")
            .field("entities", &self.len())
            .field("tables", &tables)
            .field("resources", &self.resources.len())
            .finish_non_exhaustive()
    }
}

/// Two distinct elements of a slice, both mutable.
#[inline]
fn two_mut<T>(items: &mut [T], a: usize, b: usize) -> (&mut T, &mut T) {
    assert_ne!(
        a, b,
        "storage invariant broken: moving a row within one table"
    );
    if a < b {
        let (left, right) = items.split_at_mut(b);
        (&mut left[a], &mut right[0])
    } else {
        let (left, right) = items.split_at_mut(a);
        (&mut right[0], &mut left[b])
    }
}

/// The cache entry of query `Q` with filter `F` inside system entity
/// filter `within` (`None`: none), made if new and brought up to date with
/// the tables of `archetypes`.
fn cached_query<'c, Q: QueryData, F: QueryFilter>(
    cache: &'c mut TypeIdMap<TypeId, Vec<CachedQuery>>,
    archetypes: &[Archetype],
    sparse: &SparseSets,
    within: Option<&EntityFilter>,
) -> &'c CachedQuery {
    // The access, the table types and the matched tables of a query type
    // are computed once per world (and entity filter) and then only
    // extended by new tables: no allocation and no hashing of type lists
    // per query (the per-archetype setup of a query is what fragmented
    // iteration pays for).
    let entries = cache.entry(TypeId::of::<(Q::Key, F::Key)>()).or_default();
    let index = match within {
        None => entries.iter().position(|e| e.within.is_empty()),
        Some(within) => entries.iter().position(|e| e.within == *within),
    };
    let index = index.unwrap_or_else(|| {
        let within = within.cloned().unwrap_or_default();
        entries.push(new_cached_query::<Q, F>(sparse, within));
        entries.len() - 1
    });
    let entry = &mut entries[index];
    extend_matches(
        archetypes,
        &entry.required,
        &entry.excluded,
        &mut entry.seen,
        &mut entry.matches,
    );
    if entry.matches.len() * entry.fetched.len() != entry.columns.len() {
        let new = entry.columns.len() / entry.fetched.len().max(1);
        let mut columns = entry.columns.to_vec();
        for &table in &entry.matches[new..] {
            let table = &archetypes[table as usize];
            columns.extend(entry.fetched.iter().map(|t| {
                t.and_then(|t| table.column_index(t))
                    .map_or(u32::MAX, |c| c as u32)
            }));
        }
        entry.columns = columns.into();
    }
    entry
}

/// The cache entry of query `Q` with filter `F` inside entity filter
/// `within`, matching no table yet.
fn new_cached_query<Q: QueryData, F: QueryFilter>(
    sparse: &SparseSets,
    within: EntityFilter,
) -> CachedQuery {
    let access = Arc::new(crate::query::query_access::<Q, F>());
    let mut required = Vec::new();
    Q::required(&mut required);
    F::required(&mut required);
    let mut excluded = Vec::new();
    F::excluded(&mut excluded);
    required.extend_from_slice(&within.required);
    excluded.extend_from_slice(&within.excluded);
    let (mut required, mut sparse_required) = split_sparse(sparse, &required);
    let (mut excluded, mut sparse_excluded) = split_sparse(sparse, &excluded);
    for list in [
        &mut required,
        &mut excluded,
        &mut sparse_required,
        &mut sparse_excluded,
    ] {
        list.sort_unstable();
        list.dedup();
    }
    let fetched = (access.writes().iter())
        .chain(access.reads())
        .map(|id| id.type_id())
        .collect();
    CachedQuery {
        within,
        access,
        required,
        excluded,
        sparse: (sparse_required, sparse_excluded),
        seen: 0,
        matches: Arc::from([]),
        fetched,
        columns: Arc::from([]),
    }
}

/// The error of a `T` lookup or removal on an entity without a `T` (out of
/// line: the inline fast paths only branch to it).
#[cold]
#[inline(never)]
pub(crate) fn missing_component<T>(entity: Entity) -> EcsError {
    EcsError::MissingComponent {
        entity,
        component: std::any::type_name::<T>(),
    }
}

/// Splits `types` into those stored in tables and those in the sparse sets
/// `sparse`.
fn split_sparse(sparse: &SparseSets, types: &[TypeId]) -> (Vec<TypeId>, Vec<TypeId>) {
    types.iter().partition(|t| !sparse.contains_key(t))
}

/// The sparse types of a query (required, excluded), sorted and distinct.
fn sorted_sparse(
    (mut required, mut excluded): (Vec<TypeId>, Vec<TypeId>),
) -> (Vec<TypeId>, Vec<TypeId>) {
    for list in [&mut required, &mut excluded] {
        if list.len() > 1 {
            list.sort_unstable();
            list.dedup();
        }
    }
    (required, excluded)
}

/// Brings `matches` (tables `0..*seen` of `archetypes` tested) up to date
/// with the tables that exist now, for `required` and `excluded` (sorted,
/// distinct). Replaces (never mutates) the `Arc` when a table is added, so
/// running queries that share it keep theirs; `matches` stays strictly
/// ascending (tables are tested in id order).
#[inline]
fn extend_matches(
    archetypes: &[Archetype],
    required: &[TypeId],
    excluded: &[TypeId],
    seen: &mut usize,
    matches: &mut Arc<[ArchetypeId]>,
) {
    // The common case (no table made since the last run) is one
    // comparison at the call site; the scan is out of line.
    if *seen < archetypes.len() {
        match_new_tables(archetypes, required, excluded, seen, matches);
    }
}

/// The slow path of [`extend_matches`]: tests tables `*seen..`.
#[cold]
#[inline(never)]
fn match_new_tables(
    archetypes: &[Archetype],
    required: &[TypeId],
    excluded: &[TypeId],
    seen: &mut usize,
    matches: &mut Arc<[ArchetypeId]>,
) {
    let mut grown = matches.to_vec();
    for (id, table) in archetypes.iter().enumerate().skip(*seen) {
        if required.iter().all(|&t| table.has(t)) && !excluded.iter().any(|&t| table.has(t)) {
            grown.push(id as ArchetypeId);
        }
    }
    *seen = archetypes.len();
    if grown.len() != matches.len() {
        *matches = grown.into();
    }
}

impl World {
    /// An empty world (no entities, no resources).
    pub fn new() -> Self {
        let mut world = Self {
            entities: Entities::default(),
            archetypes: Vec::new(),
            archetype_index: HashMap::new(),
            bundles: TypeIdMap::default(),
            components: Components::default(),
            sparse: SparseSets::default(),
            resources: TypeIdMap::default(),
            query_cache: Mutex::new(TypeIdMap::default()),
            command_buffers: Vec::new(),
            failed_commands: 0,
            spare_buffer: CommandBuffer::new(),
            spawn_scratch: Vec::new(),
            snapshots: SnapshotRegistry::new(),
            id: {
                static NEXT_WORLD: std::sync::atomic::AtomicU64 =
                    std::sync::atomic::AtomicU64::new(0);
                NEXT_WORLD.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            },
            layout_epoch: 0,
            change_tick: Tick::new(1),
            last_change_tick: Tick::new(0),
            last_check_tick: Tick::new(1),
            removal_horizon: Tick::new(0),
            schedule_ticks: TypeIdMap::default(),
            refined_plans: TypeIdMap::default(),
            system_ticks: TypeIdMap::default(),
            removed: RemovalLog::default(),
            command_log: None,
        };
        // Table 0: entities without components.
        world.archetype_for(Vec::new());
        world
    }

    /// The table for exactly `components` (sorted, distinct), made if new.
    fn archetype_for(&mut self, components: Vec<ComponentType>) -> ArchetypeId {
        let types: Box<[TypeId]> = components.iter().map(|c| c.type_id).collect();
        if let Some(&id) = self.archetype_index.get(&types) {
            return id;
        }
        self.push_archetype(Archetype::new(&components), &components)
    }

    fn push_archetype(&mut self, archetype: Archetype, new_types: &[ComponentType]) -> ArchetypeId {
        if let Some(&id) = self.archetype_index.get(archetype.types()) {
            return id;
        }
        for component in new_types {
            self.components.register(component);
        }
        let id =
            ArchetypeId::try_from(self.archetypes.len()).expect("more than 2^32 archetype tables");
        self.archetype_index.insert(archetype.types().into(), id);
        self.archetypes.push(archetype);
        id
    }

    /// Gives component type `T` sparse-set storage in this world: adding or
    /// removing a `T` then moves no table row (the entity keeps its table and
    /// row), while queries that read `T` look each entity up in the set.
    /// Choose it for components that come and go often (tags, selections,
    /// timers); table storage (the default) iterates faster.
    ///
    /// Register before the first `T` is spawned or inserted. Registering a
    /// type twice is harmless.
    ///
    /// # Errors
    /// [`EcsError::StorageInUse`] when a table of this world already has a
    /// `T` column (a `T` was stored in a table before).
    pub fn register_sparse<T: Component>(&mut self) -> Result<(), EcsError> {
        let type_id = TypeId::of::<T>();
        if self.sparse.contains_key(&type_id) {
            return Ok(());
        }
        if self.archetypes.iter().any(|table| table.has(type_id)) {
            return Err(EcsError::StorageInUse {
                component: std::any::type_name::<T>(),
            });
        }
        let component = ComponentType::of::<T>();
        self.components.register(&component);
        self.sparse.insert(type_id, SparseSet::new(component));
        self.bundles.clear();
        self.query_cache
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
        self.layout_epoch += 1;
        Ok(())
    }

    /// Whether component type `T` has sparse-set storage here (see
    /// [`register_sparse`](Self::register_sparse)).
    pub fn is_sparse<T: Component>(&self) -> bool {
        self.sparse.contains_key(&TypeId::of::<T>())
    }

    /// Splits `types` into those stored in tables and those in sparse sets.
    pub(crate) fn split_sparse(&self, types: &[TypeId]) -> (Vec<TypeId>, Vec<TypeId>) {
        split_sparse(&self.sparse, types)
    }

    /// The table of bundle type `B` (made and cached on first use).
    fn bundle_archetype<B: Bundle>(&mut self) -> ArchetypeId {
        if let Some(info) = self.bundles.get(&TypeId::of::<B>()) {
            return info.archetype;
        }
        let all = B::component_types();
        let (elements, sparse): (Vec<ComponentType>, Vec<ComponentType>) = all
            .iter()
            .partition(|c| !self.sparse.contains_key(&c.type_id));
        let mut sorted = elements.clone();
        sorted.sort_by_key(|c| c.type_id);
        if let Some(w) = sorted.windows(2).find(|w| w[0].type_id == w[1].type_id) {
            panic!(
                "bundle `{}` names component `{}` twice; an entity holds one component per type",
                std::any::type_name::<B>(),
                w[0].name
            );
        }
        if let Some(w) = sparse.windows(2).find(|w| w[0].type_id == w[1].type_id) {
            panic!(
                "bundle `{}` names component `{}` twice; an entity holds one component per type",
                std::any::type_name::<B>(),
                w[0].name
            );
        }
        let archetype = self.archetype_for(sorted);
        let table = &self.archetypes[archetype as usize];
        let table_columns = table.types().len();
        let columns = all
            .iter()
            .map(
                |c| match sparse.iter().position(|s| s.type_id == c.type_id) {
                    Some(i) => table_columns + i,
                    None => table
                        .column_index(c.type_id)
                        .expect("bundle type is in its table"),
                },
            )
            .collect();
        self.bundles.insert(
            TypeId::of::<B>(),
            BundleInfo {
                archetype,
                columns,
                sparse: sparse.into(),
            },
        );
        archetype
    }

    /// Spawns an entity with the components of `bundle` (a tuple of 0 to 8
    /// distinct component types) and returns its id.
    ///
    /// # Panics
    /// When the bundle names a type twice.
    pub fn spawn<B: Bundle>(&mut self, bundle: B) -> Entity {
        let mut spawned = std::mem::take(&mut self.spawn_scratch);
        self.write_bundles(iter::once(bundle), &mut spawned);
        let entity = spawned.pop().expect("one entity was spawned");
        self.spawn_scratch = spawned;
        entity
    }

    /// Spawns one entity per bundle, in iteration order, and returns their
    /// ids in that order. Faster than repeated [`spawn`](Self::spawn): the
    /// table is looked up and its columns downcast once, and the columns are
    /// reserved from the iterator's size hint.
    ///
    /// # Panics
    /// When the bundle names a type twice.
    pub fn spawn_batch<B: Bundle, I: IntoIterator<Item = B>>(&mut self, bundles: I) -> Vec<Entity> {
        let bundles = bundles.into_iter();
        let (lower, _) = bundles.size_hint();
        let mut spawned = Vec::with_capacity(lower);
        self.write_bundles(bundles, &mut spawned);
        spawned
    }

    /// Appends `bundles` as rows of their table, pushing the new ids onto
    /// `spawned`.
    fn write_bundles<B: Bundle, I: Iterator<Item = B>>(
        &mut self,
        bundles: I,
        spawned: &mut Vec<Entity>,
    ) {
        self.write_bundles_into(bundles, spawned, None);
    }

    /// [`write_bundles`](Self::write_bundles); the first row takes
    /// `reserved` (a flushed reservation) when given.
    fn write_bundles_into<B: Bundle, I: Iterator<Item = B>>(
        &mut self,
        bundles: I,
        spawned: &mut Vec<Entity>,
        reserved: Option<Entity>,
    ) {
        let archetype = self.bundle_archetype::<B>();
        let (lower, _) = bundles.size_hint();
        let table = &mut self.archetypes[archetype as usize];
        table.reserve(lower);
        self.entities.reserve(lower);
        let info = &self.bundles[&TypeId::of::<B>()];
        let mut staging: Vec<Box<dyn ErasedColumn>> =
            info.sparse.iter().map(|c| (c.new_column)()).collect();
        let first = spawned.len();
        let mut writer = BundleWriter::new(
            table,
            archetype,
            &info.columns,
            &mut staging,
            &mut self.entities,
            spawned,
            self.change_tick,
        );
        if let Some(entity) = reserved {
            writer = writer.with_reserved(entity);
        }
        B::write_batch(bundles, &mut writer);
        for (column, component) in staging.iter_mut().zip(info.sparse.iter()) {
            self.sparse
                .get_mut(&component.type_id)
                .expect("a sparse bundle element has a set")
                .extend_from(column.as_mut(), &spawned[first..], self.change_tick);
        }
    }

    /// Makes the pending reservations slots (not alive yet) and returns
    /// them, in reservation order; call before applying commands.
    pub(crate) fn flush_reserved(&mut self) -> Vec<Entity> {
        self.entities.flush_reserved()
    }

    /// Frees the flushed reservations that no command placed.
    pub(crate) fn release_unplaced(&mut self, reserved: &[Entity]) {
        self.entities.release_unplaced(reserved);
    }

    /// Forgets the pending reservations (their commands were dropped).
    pub(crate) fn cancel_reservations(&mut self) {
        self.entities.cancel_reservations();
    }

    /// Spawns `bundle` as `entity`, a flushed reservation.
    ///
    /// # Errors
    /// [`EcsError::StaleEntity`] when `entity` is not a flushed, unplaced
    /// reservation.
    pub(crate) fn spawn_reserved<B: Bundle>(
        &mut self,
        entity: Entity,
        bundle: B,
    ) -> Result<(), EcsError> {
        if !self.entities.is_reserved(entity) {
            return Err(EcsError::StaleEntity { entity });
        }
        let mut spawned = std::mem::take(&mut self.spawn_scratch);
        self.write_bundles_into(iter::once(bundle), &mut spawned, Some(entity));
        spawned.clear();
        self.spawn_scratch = spawned;
        Ok(())
    }

    /// Despawns `entity`, dropping its components. Its id (and every copy)
    /// becomes stale.
    ///
    /// When a component's `Drop` panics, the entity is still despawned (and
    /// its other components dropped) before the panic goes on: the world
    /// stays consistent.
    ///
    /// # Errors
    /// [`EcsError::StaleEntity`] when `entity` is not alive.
    pub fn despawn(&mut self, entity: Entity) -> Result<(), EcsError> {
        let location = self.entities.free(entity)?;
        let entities = &mut self.entities;
        let table = &mut self.archetypes[location.archetype as usize];
        for &type_id in table.types() {
            self.removed.push(type_id, entity, self.change_tick);
        }
        let mut detached = false;
        for (&type_id, set) in &mut self.sparse {
            if set.detach(entity) {
                detached = true;
                self.removed.push(type_id, entity, self.change_tick);
            }
        }
        // All bookkeeping is done before the first component is dropped.
        table.swap_remove(location.row as usize, |moved| {
            entities.set_location(moved, location);
        });
        if detached {
            for set in self.sparse.values_mut() {
                set.bury();
            }
        }
        Ok(())
    }

    /// Records a row move: `entity` now lives at row `row` of table `dst`,
    /// and `moved` (the entity swapped into its old row, if any) at `from`,
    /// the location `entity` had. Shared by the typed and the encoded
    /// insert/remove paths.
    ///
    /// # Panics
    /// When `row` does not fit in 32 bits (more than 2^32 entities in one
    /// table).
    #[inline]
    pub(super) fn relocate(
        &mut self,
        entity: Entity,
        from: Location,
        dst: u32,
        row: usize,
        moved: Option<Entity>,
    ) {
        let row = u32::try_from(row).expect("more than 2^32 entities in one table");
        self.entities.set_location(
            entity,
            Location {
                archetype: dst,
                row,
            },
        );
        if let Some(moved) = moved {
            self.entities.set_location(moved, from);
        }
    }

    /// Adds `component` to `entity`, replacing (and dropping) a `T` it
    /// already has. Adding a new type moves the entity to another table; its
    /// other components are kept.
    ///
    /// # Errors
    /// [`EcsError::StaleEntity`] when `entity` is not alive.
    #[inline]
    pub fn insert<T: Component>(&mut self, entity: Entity, component: T) -> Result<(), EcsError> {
        // The sparse-set path is a few lines, kept inline in the caller; the
        // table path (row moves, edges) stays out of line.
        if let Some(set) = self.sparse.get_mut(&TypeId::of::<T>()) {
            self.entities.location(entity)?;
            drop(set.insert(entity, component, self.change_tick));
            return Ok(());
        }
        self.insert_in_table(entity, component)
    }

    /// [`insert`](Self::insert) of a table component.
    #[inline(never)]
    fn insert_in_table<T: Component>(
        &mut self,
        entity: Entity,
        component: T,
    ) -> Result<(), EcsError> {
        let location = self.entities.location(entity)?;
        let type_id = TypeId::of::<T>();
        let src = location.archetype;
        let row = location.row as usize;
        // A cached insert edge means the table lacks `T` (see `Edges`).
        let edge = match self.archetypes[src as usize].insert_edges.get(&type_id) {
            Some(edge) => edge,
            None => {
                if let Some((slot, _, changed)) = self.archetypes[src as usize].get_mut::<T>(row) {
                    *slot = component;
                    *changed = self.change_tick;
                    return Ok(());
                }
                self.insert_edge(src, ComponentType::of::<T>())
            }
        };
        let column = edge.column as usize;
        let (from, to) = two_mut(&mut self.archetypes, src as usize, edge.target as usize);
        // Every other column keeps its ticks.
        let moved = from.move_row_adding(row, to, column, component, self.change_tick);
        let new_row = to.len() - 1;
        self.relocate(entity, location, edge.target, new_row, moved);
        Ok(())
    }

    /// Removes the `T` of `entity` and returns it. The entity moves to
    /// another table; its other components are kept.
    ///
    /// # Errors
    /// [`EcsError::StaleEntity`] when `entity` is not alive;
    /// [`EcsError::MissingComponent`] when it has no `T`.
    #[inline]
    pub fn remove<T: Component>(&mut self, entity: Entity) -> Result<T, EcsError> {
        let type_id = TypeId::of::<T>();
        // As in `insert`: the sparse-set path inline, the table path not.
        if let Some(set) = self.sparse.get_mut(&type_id) {
            self.entities.location(entity)?;
            let Some(value) = set.remove::<T>(entity) else {
                return Err(missing_component::<T>(entity));
            };
            self.removed.push(type_id, entity, self.change_tick);
            return Ok(value);
        }
        self.remove_from_table(entity)
    }

    /// [`remove`](Self::remove) of a table component.
    #[inline(never)]
    fn remove_from_table<T: Component>(&mut self, entity: Entity) -> Result<T, EcsError> {
        let location = self.entities.location(entity)?;
        let type_id = TypeId::of::<T>();
        let missing = || missing_component::<T>(entity);
        let src = location.archetype;
        // A cached remove edge means the table has `T` (see `Edges`).
        let edge = match self.archetypes[src as usize].remove_edges.get(&type_id) {
            Some(edge) => edge,
            None => {
                if !self.archetypes[src as usize].has(type_id) {
                    return Err(missing());
                }
                self.remove_edge(src, type_id)
            }
        };
        let (from, to) = two_mut(&mut self.archetypes, src as usize, edge.target as usize);
        let (value, moved) =
            from.take_and_move::<T>(location.row as usize, to, edge.column as usize);
        let new_row = to.len() - 1;
        self.removed.push(type_id, entity, self.change_tick);
        self.relocate(entity, location, edge.target, new_row, moved);
        Ok(value)
    }

    /// The table an entity of table `src` moves to when `added` (which
    /// `src` lacks) is inserted, made and cached if new.
    fn insert_target(&mut self, src: ArchetypeId, added: ComponentType) -> ArchetypeId {
        match self.archetypes[src as usize]
            .insert_edges
            .get(&added.type_id)
        {
            Some(edge) => edge.target,
            None => self.insert_edge(src, added).target,
        }
    }

    /// Makes and caches the insert edge of `added` (which `src` lacks)
    /// from table `src`, and the remove edge back.
    #[cold]
    fn insert_edge(&mut self, src: ArchetypeId, added: ComponentType) -> Edge {
        let table = self.archetypes[src as usize].with_component(added);
        let dst = self.push_archetype(table, &[added]);
        let column = self.archetypes[dst as usize]
            .column_index(added.type_id)
            .expect("an insert target has the inserted type");
        let column = u32::try_from(column).expect("more than 2^32 columns");
        let edge = Edge {
            target: dst,
            column,
        };
        self.archetypes[src as usize]
            .insert_edges
            .insert(added.type_id, edge);
        self.archetypes[dst as usize].remove_edges.insert(
            added.type_id,
            Edge {
                target: src,
                column,
            },
        );
        edge
    }

    /// The table an entity of table `src` moves to when `removed` (which
    /// `src` has) is removed, made and cached if new.
    fn remove_target(&mut self, src: ArchetypeId, removed: TypeId) -> ArchetypeId {
        match self.archetypes[src as usize].remove_edges.get(&removed) {
            Some(edge) => edge.target,
            None => self.remove_edge(src, removed).target,
        }
    }

    /// Makes and caches the remove edge of `removed` (which `src` has) from
    /// table `src`, and the insert edge back.
    #[cold]
    fn remove_edge(&mut self, src: ArchetypeId, removed: TypeId) -> Edge {
        let column = self.archetypes[src as usize]
            .column_index(removed)
            .expect("a removed type is in its table");
        let column = u32::try_from(column).expect("more than 2^32 columns");
        let table = self.archetypes[src as usize].without_component(removed);
        let dst = self.push_archetype(table, &[]);
        let edge = Edge {
            target: dst,
            column,
        };
        self.archetypes[src as usize]
            .remove_edges
            .insert(removed, edge);
        self.archetypes[dst as usize].insert_edges.insert(
            removed,
            Edge {
                target: src,
                column,
            },
        );
        edge
    }

    /// The `T` of `entity`.
    ///
    /// # Errors
    /// [`EcsError::StaleEntity`] when `entity` is not alive;
    /// [`EcsError::MissingComponent`] when it has no `T`.
    pub fn get<T: Component>(&self, entity: Entity) -> Result<&T, EcsError> {
        let location = self.entities.location(entity)?;
        // (I2): `&self` outside a stage context: no guarded writer exists.
        match self.sparse.get(&TypeId::of::<T>()) {
            Some(set) => set.get::<T>(entity),
            None => self.archetypes[location.archetype as usize].get::<T>(location.row as usize),
        }
        .ok_or_else(|| missing_component::<T>(entity))
    }

    /// The `T` of `entity`, mutable; writing through the [`Mut`] marks it
    /// changed at the world's current [`change_tick`](Self::change_tick).
    ///
    /// # Errors
    /// [`EcsError::StaleEntity`] when `entity` is not alive;
    /// [`EcsError::MissingComponent`] when it has no `T`.
    pub fn get_mut<T: Component>(&mut self, entity: Entity) -> Result<Mut<'_, T>, EcsError> {
        let location = self.entities.location(entity)?;
        let tick = self.change_tick;
        match self.sparse.get_mut(&TypeId::of::<T>()) {
            Some(set) => set.get_mut::<T>(entity),
            None => {
                self.archetypes[location.archetype as usize].get_mut::<T>(location.row as usize)
            }
        }
        .map(|(value, added, changed)| Mut::new(value, added, changed, tick))
        .ok_or_else(|| missing_component::<T>(entity))
    }

    /// When the `T` of `entity` was added and last changed.
    ///
    /// # Errors
    /// [`EcsError::StaleEntity`] when `entity` is not alive;
    /// [`EcsError::MissingComponent`] when it has no `T`.
    pub fn component_ticks<T: Component>(
        &self,
        entity: Entity,
    ) -> Result<ComponentTicks, EcsError> {
        let location = self.entities.location(entity)?;
        let table = &self.archetypes[location.archetype as usize];
        // (I2): `&self` outside a stage context: no guarded writer exists.
        match self.sparse.get(&TypeId::of::<T>()) {
            Some(set) => set.ticks_of(entity),
            None => table
                .column_index(TypeId::of::<T>())
                .map(|column| table.row_ticks(column, location.row as usize)),
        }
        .ok_or_else(|| missing_component::<T>(entity))
    }

    /// Whether `entity` is alive and has a `T`.
    pub fn has<T: Component>(&self, entity: Entity) -> bool {
        self.entities
            .location(entity)
            .is_ok_and(|l| match self.sparse.get(&TypeId::of::<T>()) {
                Some(set) => set.contains(entity),
                None => self.archetypes[l.archetype as usize].has(TypeId::of::<T>()),
            })
    }

    /// Where the `T` of `entity` lives (a table row or its sparse set),
    /// for the guarded paths.
    ///
    /// # Errors
    /// [`EcsError::StaleEntity`] when `entity` is not alive.
    pub(crate) fn slot_of<T: Component>(&self, entity: Entity) -> Result<Slot<'_>, EcsError> {
        let location = self.entities.location(entity)?;
        Ok(match self.sparse.get(&TypeId::of::<T>()) {
            Some(set) => Slot::Sparse(set, entity),
            None => Slot::Table(
                &self.archetypes[location.archetype as usize],
                location.archetype,
                location.row as usize,
            ),
        })
    }

    /// The table of a live entity.
    ///
    /// # Errors
    /// [`EcsError::StaleEntity`] when `entity` is not alive.
    pub(crate) fn table_of(&self, entity: Entity) -> Result<&Archetype, EcsError> {
        let location = self.entities.location(entity)?;
        Ok(&self.archetypes[location.archetype as usize])
    }

    /// Whether `entity` is alive in this world.
    pub fn contains(&self, entity: Entity) -> bool {
        self.entities.contains(entity)
    }

    /// The number of live entities.
    pub fn len(&self) -> usize {
        self.entities.len()
    }

    /// Whether there are no live entities.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The number of archetype tables (distinct component sets seen so far,
    /// plus the empty one). Tables are never deleted.
    pub fn archetype_count(&self) -> usize {
        self.archetypes.len()
    }

    /// Despawns every entity (dropping their components; every id becomes
    /// stale). Resources and tables are kept.
    ///
    /// When a component's `Drop` panics, every entity is still despawned and
    /// every other component dropped before the panic goes on.
    pub fn clear(&mut self) {
        // Every id is freed before the first component is dropped.
        for table in &self.archetypes {
            for &entity in table.entities() {
                self.entities
                    .free(entity)
                    .expect("storage invariant broken: a table row holds a dead entity");
            }
        }
        for set in self.sparse.values_mut() {
            set.clear();
        }
        for_each_finishing(&mut self.archetypes, Archetype::clear);
    }

    /// Inserts resource `value`, returning the previous `T` if there was one.
    pub fn insert_resource<T: Resource>(&mut self, value: T) -> Option<T> {
        match self.resources.get_mut(&TypeId::of::<T>()) {
            Some(slot) => Some(slot.replace(value)),
            None => {
                self.resources
                    .insert(TypeId::of::<T>(), ResourceSlot::new(value));
                None
            }
        }
    }

    fn missing_resource<T>() -> EcsError {
        EcsError::MissingResource {
            resource: std::any::type_name::<T>(),
        }
    }

    /// The resource of type `T`.
    ///
    /// # Errors
    /// [`EcsError::MissingResource`] when there is none.
    pub fn resource<T: Resource>(&self) -> Result<&T, EcsError> {
        self.resources
            .get(&TypeId::of::<T>())
            .map(ResourceSlot::get::<T>)
            .ok_or_else(Self::missing_resource::<T>)
    }

    /// The resource of type `T`, mutable.
    ///
    /// # Errors
    /// [`EcsError::MissingResource`] when there is none.
    pub fn resource_mut<T: Resource>(&mut self) -> Result<&mut T, EcsError> {
        self.resources
            .get_mut(&TypeId::of::<T>())
            .map(ResourceSlot::get_mut::<T>)
            .ok_or_else(Self::missing_resource::<T>)
    }

    /// Removes the resource of type `T` and returns it.
    ///
    /// # Errors
    /// [`EcsError::MissingResource`] when there is none.
    pub fn remove_resource<T: Resource>(&mut self) -> Result<T, EcsError> {
        self.resources
            .remove(&TypeId::of::<T>())
            .map(ResourceSlot::into_inner::<T>)
            .ok_or_else(Self::missing_resource::<T>)
    }

    /// Whether a resource of type `T` is present.
    pub fn has_resource<T: Resource>(&self) -> bool {
        self.resources.contains_key(&TypeId::of::<T>())
    }

    /// Applies and empties `buffer`, in recording order: the same as
    /// [`CommandBuffer::apply`]. Returns how many commands failed (each is
    /// logged and also counted in
    /// [`failed_command_count`](Self::failed_command_count)).
    pub fn apply_commands(&mut self, buffer: &mut CommandBuffer) -> usize {
        buffer.apply(self)
    }

    /// How many deferred commands failed to apply over the life of this
    /// world (stale entities, missing components).
    pub fn failed_command_count(&self) -> u64 {
        self.failed_commands
    }

    /// Adds `failed` to [`failed_command_count`](Self::failed_command_count).
    pub(crate) fn count_failed_commands(&mut self, failed: usize) {
        self.failed_commands += failed as u64;
    }

    /// The tables, by id.
    pub(crate) fn archetypes(&self) -> &[Archetype] {
        &self.archetypes
    }

    /// Whether `type_id` is a component type some table holds, and not
    /// also a resource nor a sparse component: the types whose accesses a
    /// plan can narrow to tables. (A sparse set is shared by the entities
    /// of every table, so the access of a sparse component is never
    /// narrowed, and its borrow flag is held over every table.)
    pub(crate) fn is_table_component(&self, type_id: TypeId) -> bool {
        self.components.flag(type_id).is_some()
            && !self.resources.contains_key(&type_id)
            && !self.sparse.contains_key(&type_id)
    }

    /// Whether `type_id` has sparse-set storage here.
    pub(crate) fn is_sparse_type(&self, type_id: TypeId) -> bool {
        self.sparse.contains_key(&type_id)
    }

    /// Whether the entity `entity` in table `table` passes `filter`: the
    /// table-level part through the table's types, the sparse part through
    /// the sparse sets.
    pub(crate) fn admits_entity(
        &self,
        filter: &EntityFilter,
        table: &Archetype,
        entity: Entity,
    ) -> bool {
        let has = |t: TypeId| match self.sparse.get(&t) {
            Some(set) => set.contains(entity),
            None => table.has(t),
        };
        filter.required.iter().all(|&t| has(t)) && !filter.excluded.iter().any(|&t| has(t))
    }

    /// The component registry (borrow flags).
    pub(crate) fn components(&self) -> &Components {
        &self.components
    }

    pub(crate) fn resource_slot<T: Resource>(&self) -> Result<&ResourceSlot, EcsError> {
        self.resources
            .get(&TypeId::of::<T>())
            .ok_or_else(Self::missing_resource::<T>)
    }

    /// Queries every entity with the components of `Q`, e.g.
    /// `world.query::<(Entity, &mut Position, &Velocity)>()`.
    ///
    /// # Panics
    /// When `Q` names one component twice, at least once mutably.
    pub fn query<Q: QueryData>(&mut self) -> QueryBorrow<'_, Q> {
        self.query_filtered::<Q, ()>()
    }

    /// Like [`query`](Self::query), restricted by filter `F`, e.g.
    /// `world.query_filtered::<&mut Position, Without<Frozen>>()`.
    ///
    /// # Panics
    /// When `Q` names one component twice, at least once mutably.
    pub fn query_filtered<Q: QueryData, F: QueryFilter>(&mut self) -> QueryBorrow<'_, Q, F> {
        let ticks = self.world_ticks();
        // The world is borrowed exclusively for the query's life: the cache
        // needs no lock and its entry is borrowed, not shared, and no
        // borrow flag is taken (I1 of `storage`: nothing else can reach
        // the columns).
        let Self {
            query_cache,
            archetypes,
            sparse,
            entities,
            ..
        } = self;
        let cache = query_cache
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner);
        let entry = cached_query::<Q, F>(cache, archetypes, sparse, None);
        let state = QueryState::exclusive(
            archetypes,
            sparse,
            (
                Cow::Borrowed(&entry.sparse.0),
                Cow::Borrowed(&entry.sparse.1),
            ),
            Held::Borrowed(&entry.access),
            Held::Borrowed(&entry.matches),
            Some(Held::Borrowed(&entry.columns)),
            ticks,
        );
        QueryBorrow::new(state, entities)
    }

    /// A read-only query on a shared world, e.g. from several threads at
    /// once or while holding `&T`s from [`get`](Self::get).
    ///
    /// # Panics
    /// Never for a well-formed `Q` (read-only queries take read flags, and
    /// no writer can exist while `&World` is shared).
    pub fn query_ref<Q: ReadOnlyQueryData>(&self) -> QueryBorrow<'_, Q> {
        QueryBorrow::new(
            self.query_state::<Q, ()>(self.world_ticks(), "World::query_ref"),
            &self.entities,
        )
    }

    /// [`query_ref`](Self::query_ref) restricted by filter `F`.
    pub fn query_filtered_ref<Q: ReadOnlyQueryData, F: QueryFilter>(
        &self,
    ) -> QueryBorrow<'_, Q, F> {
        QueryBorrow::new(
            self.query_state::<Q, F>(self.world_ticks(), "World::query_ref"),
            &self.entities,
        )
    }

    /// The entity table (for queries' entity lookups).
    pub(crate) fn entities(&self) -> &Entities {
        &self.entities
    }

    /// Matches tables, validates the access of `Q` and takes its borrows for
    /// `who`.
    pub(crate) fn query_state<Q: QueryData, F: QueryFilter>(
        &self,
        ticks: SystemTicks,
        who: &'static str,
    ) -> QueryState<'_> {
        self.query_state_within::<Q, F>(ticks, who, &EntityFilter::default())
    }

    /// [`query_state`](Self::query_state) restricted to the tables that
    /// pass `within` (a system's declared entity filter).
    pub(crate) fn query_state_within<Q: QueryData, F: QueryFilter>(
        &self,
        ticks: SystemTicks,
        who: &'static str,
        within: &EntityFilter,
    ) -> QueryState<'_> {
        let mut cache = self
            .query_cache
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let entry = cached_query::<Q, F>(&mut cache, &self.archetypes, &self.sparse, Some(within));
        let access = entry.access.clone();
        let matched = entry.matches.clone();
        let columns = entry.columns.clone();
        let sparse = entry.sparse.clone();
        drop(cache);
        let mut state = self.borrow_tables(access, matched, sparse, ticks, who);
        state.set_columns(Held::Shared(columns));
        state
    }

    /// Takes the borrows of `access` over the tables `matched` (strictly
    /// ascending), whose rows must have every sparse component of
    /// `sparse.0` and none of `sparse.1`.
    pub(crate) fn borrow_tables(
        &self,
        access: Arc<ResourceAccess>,
        matched: Arc<[ArchetypeId]>,
        sparse: (Vec<TypeId>, Vec<TypeId>),
        ticks: SystemTicks,
        who: &'static str,
    ) -> QueryState<'_> {
        QueryState::new(
            &self.archetypes,
            self.sparse_query(sparse),
            &self.components,
            access,
            matched,
            ticks,
            who,
        )
    }

    /// Runs a query of this exclusively borrowed world with a user-held
    /// state's `access`, matched tables (strictly ascending) and sparse
    /// types (as [`borrow_tables`](Self::borrow_tables), taking no flag:
    /// see [`query_filtered`](Self::query_filtered)).
    pub(crate) fn query_exclusive<Q: QueryData, F: QueryFilter>(
        &mut self,
        access: Arc<ResourceAccess>,
        matched: Arc<[ArchetypeId]>,
        sparse: (Vec<TypeId>, Vec<TypeId>),
    ) -> QueryBorrow<'_, Q, F> {
        let ticks = self.world_ticks();
        let (required, excluded) = sorted_sparse(sparse);
        let state = QueryState::exclusive(
            &mut self.archetypes,
            &mut self.sparse,
            (Cow::Owned(required), Cow::Owned(excluded)),
            Held::Shared(access),
            Held::Shared(matched),
            None,
            ticks,
        );
        QueryBorrow::new(state, &self.entities)
    }

    /// The sparse side of a query whose rows must have every sparse
    /// component of `sparse.0` and none of `sparse.1`.
    pub(crate) fn sparse_query(&self, sparse: (Vec<TypeId>, Vec<TypeId>)) -> SparseQuery<'_> {
        let (required, excluded) = sorted_sparse(sparse);
        SparseQuery {
            sets: &self.sparse,
            required: Cow::Owned(required),
            excluded: Cow::Owned(excluded),
        }
    }

    /// Identifies this world's table list and storage choices: a new value
    /// per world, after every [`restore`](Self::restore) (which rebuilds
    /// the tables) and every sparse registration.
    pub(crate) fn table_epoch(&self) -> (u64, u64) {
        (self.id, self.layout_epoch)
    }

    /// Brings `matches` (tables `0..*seen` tested) up to date with the
    /// tables that exist now, for `required` and `excluded` (sorted,
    /// distinct). Replaces (never mutates) the `Arc` when a table is added.
    pub(crate) fn extend_matches(
        &self,
        required: &[TypeId],
        excluded: &[TypeId],
        seen: &mut usize,
        matches: &mut Arc<[ArchetypeId]>,
    ) {
        extend_matches(&self.archetypes, required, excluded, seen, matches);
    }

    /// The ticks of direct world access: changes since the last
    /// [`clear_trackers`](Self::clear_trackers), seen now.
    pub(crate) fn world_ticks(&self) -> SystemTicks {
        SystemTicks::new(self.last_change_tick, self.change_tick)
    }

    /// The tick direct writes (spawn, insert, `get_mut`, `World::query`)
    /// are stamped with now. Schedules advance it: a stage run from tick `t`
    /// gives system slot `s` the tick `t + 1 + s` and applies its commands
    /// at `t + 1 + slots` (see the `change` module).
    pub fn change_tick(&self) -> Tick {
        self.change_tick
    }

    /// Starts a new change-detection epoch for direct world access:
    /// `World::query_filtered` with `Added`/`Changed` then reports changes
    /// after this call, and [`removed`](Self::removed) forgets earlier
    /// removals. Systems are unaffected (they compare against their own
    /// previous run).
    pub fn clear_trackers(&mut self) {
        self.last_change_tick = self.change_tick;
        self.change_tick = self.change_tick.after(1);
        for list in self.removed.values_mut() {
            list.clear();
        }
    }

    /// Advances the change tick by `n` without running anything: for tests
    /// of the wrap-around handling only.
    #[doc(hidden)]
    pub fn advance_change_tick_for_tests(&mut self, n: u32) {
        self.change_tick = self.change_tick.after(n);
    }

    /// Advances the change tick by `n` (schedules do this themselves).
    pub(crate) fn advance_change_tick(&mut self, n: u32) {
        self.change_tick = self.change_tick.after(n);
        if self
            .change_tick
            .get()
            .wrapping_sub(self.last_check_tick.get())
            >= CHECK_TICK_THRESHOLD
        {
            self.check_change_ticks();
        }
    }

    /// Clamps every stored tick (rows, systems' last runs, removals) to at
    /// most [`MAX_CHANGE_AGE`](crate::change::MAX_CHANGE_AGE) before the
    /// current tick, so comparisons stay right across the 32-bit
    /// wrap-around (bevy_ecs's `check_change_ticks`). Schedules run it every
    /// [`CHECK_TICK_THRESHOLD`] ticks; calling it more often is harmless.
    pub fn check_change_ticks(&mut self) {
        let now = self.change_tick;
        for table in &mut self.archetypes {
            table.check_ticks(now);
        }
        for set in self.sparse.values_mut() {
            set.check_ticks(now);
        }
        for slots in self.schedule_ticks.values_mut() {
            for slot in slots.iter_mut() {
                let value = *slot.get_mut();
                if value != 0 {
                    let mut tick = Tick::new(value as u32);
                    tick.check(now);
                    *slot.get_mut() = 1 << 32 | u64::from(tick.get());
                }
            }
        }
        for tick in self.system_ticks.values_mut() {
            tick.check(now);
        }
        for list in self.removed.values_mut() {
            for (_, tick) in list.iter_mut() {
                tick.check(now);
            }
        }
        self.last_change_tick.check(now);
        self.removal_horizon.check(now);
        self.last_check_tick = now;
    }

    /// Drops removals recorded before the previous call (called when a
    /// schedule's first stage starts, so each removal is seen by one full
    /// schedule run).
    pub(crate) fn age_removals(&mut self) {
        let horizon = self.removal_horizon;
        let now = self.change_tick;
        for list in self.removed.values_mut() {
            list.retain(|(_, tick)| *tick == horizon || tick.is_newer_than(horizon, now));
        }
        self.removal_horizon = now;
    }

    /// The entities that lost their `T` (removed or despawned) after
    /// `ticks.last_run`, seen from `ticks.this_run`, in the order it
    /// happened.
    pub(crate) fn removed_since<T: Component>(
        &self,
        ticks: SystemTicks,
    ) -> impl Iterator<Item = Entity> + '_ {
        self.removed
            .get(&TypeId::of::<T>())
            .into_iter()
            .flatten()
            .filter(move |(_, tick)| tick.is_newer_than(ticks.last_run, ticks.this_run))
            .map(|(entity, _)| *entity)
    }

    /// The entities that lost their `T` (removed or despawned) since the
    /// last [`clear_trackers`](Self::clear_trackers) (or, inside
    /// schedules, within about one schedule run), in the order it happened.
    /// An entity may appear more than once.
    pub fn removed<T: Component>(&self) -> impl Iterator<Item = Entity> + '_ {
        self.removed_since::<T>(self.world_ticks())
    }

    pub(crate) fn parts(&self) -> WorldParts<'_> {
        WorldParts {
            entities: &self.entities,
            archetypes: &self.archetypes,
            sparse: &self.sparse,
            resources: &self.resources,
        }
    }

    /// The tables and resources for the column transfer of
    /// [`snapshot::columns`](crate::snapshot) (by registered name), with
    /// the registry and the tick writes are stamped with.
    pub(crate) fn columns_mut(
        &mut self,
    ) -> (
        &mut [Archetype],
        &mut TypeIdMap<TypeId, ResourceSlot>,
        &SnapshotRegistry,
        Tick,
    ) {
        (
            &mut self.archetypes,
            &mut self.resources,
            &self.snapshots,
            self.change_tick,
        )
    }

    /// The component and resource types this world hashes by value,
    /// snapshots and restores.
    pub fn snapshot_registry(&self) -> &SnapshotRegistry {
        &self.snapshots
    }

    /// The registry, to register types:
    /// `world.snapshot_registry_mut().register::<Name>().register_pod::<Position>()`.
    pub fn snapshot_registry_mut(&mut self) -> &mut SnapshotRegistry {
        &mut self.snapshots
    }

    /// A stable 64-bit digest of the live entities (ids), their components
    /// (values of registered types, names of the others) and the registered
    /// resources: equal for equal contents whatever the table layout, row
    /// order, thread count or run, on machines of one byte order. The
    /// algorithm (XXH3-64 over a fixed encoding) is given in the
    /// [`snapshot`](crate::snapshot) module docs.
    ///
    /// Costs one pass over every component of every live entity.
    pub fn hash(&self) -> u64 {
        snapshot::hash(&self.snapshots, &self.parts())
    }

    /// Writes the entities (ids, the entity allocator's state, components
    /// of every table) and the registered resources present to bytes, in
    /// the versioned format of the [`snapshot`](crate::snapshot) module.
    ///
    /// # Errors
    /// [`SnapshotError::UnregisteredComponent`] when a live entity holds a
    /// component type that is not registered; [`SnapshotError::Encode`]
    /// when a value's `Serialize` fails.
    pub fn snapshot(&self) -> Result<Vec<u8>, SnapshotError> {
        snapshot::write(&self.snapshots, &self.parts())
    }

    /// Replaces every entity of this world (and the registered resources the
    /// snapshot holds) with the contents of `bytes`, exactly: the same ids,
    /// allocator state, table and row order, values; `hash()` is then equal
    /// to the original's. Resources the snapshot does not name, the
    /// registry and pending command buffers are kept.
    ///
    /// The snapshot is decoded and checked whole before anything changes.
    ///
    /// # Errors
    /// Any [`SnapshotError`] for bytes that are not a complete, consistent
    /// snapshot of types registered here (truncated, corrupted, foreign
    /// format version or byte order, unknown names, mismatched columns);
    /// the world is then unchanged.
    pub fn restore(&mut self, bytes: &[u8]) -> Result<(), SnapshotError> {
        let restored = snapshot::read(&self.snapshots, bytes, self.change_tick)?;
        self.install(restored)
    }

    /// Replaces this world's contents with `restored` (checked whole by
    /// [`snapshot::read`] or [`snapshot::read_columns`]).
    ///
    /// # Errors
    /// [`SnapshotError::Column`] when a component stored in a table there is
    /// registered for sparse-set storage here; the world is then unchanged.
    fn install(&mut self, restored: snapshot::Restored) -> Result<(), SnapshotError> {
        if let Some(component) = restored
            .component_types
            .iter()
            .find(|c| self.sparse.contains_key(&c.type_id))
        {
            return Err(SnapshotError::Column {
                name: self
                    .snapshots
                    .name_of(component.type_id, component.name)
                    .to_owned(),
                reason: "stored in a table in the snapshot, but registered for sparse-set \
                         storage here (`World::register_sparse`)"
                    .to_owned(),
            });
        }
        // Types registered sparse here keep that storage (empty unless the
        // snapshot holds some); sparse types of the snapshot become sparse.
        let mut sparse: SparseSets = self
            .sparse
            .values()
            .map(|set| (set.component().type_id, SparseSet::new(set.component())))
            .collect();
        for set in restored.sparse {
            self.components.register(&set.component());
            sparse.insert(set.component().type_id, set);
        }
        let mut archetype_index = HashMap::with_capacity(restored.archetypes.len());
        for (id, table) in restored.archetypes.iter().enumerate() {
            archetype_index.insert(Box::from(table.types()), id as ArchetypeId);
        }
        for component in &restored.component_types {
            self.components.register(component);
        }
        let old_resources: Vec<ResourceSlot> = restored
            .resources
            .into_iter()
            .filter_map(|(type_id, slot)| self.resources.insert(type_id, slot))
            .collect();
        self.entities = restored.entities;
        self.archetype_index = archetype_index;
        self.layout_epoch += 1;
        let mut old_sparse: Vec<SparseSet> = std::mem::replace(&mut self.sparse, sparse)
            .into_values()
            .collect();
        self.bundles.clear();
        self.refined_plans.clear();
        self.query_cache
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
        let mut old_tables = std::mem::replace(&mut self.archetypes, restored.archetypes);
        // User values are dropped last, once the restored world is in place:
        // a panicking `Drop` of an old value cannot leave it half-restored.
        drop(old_resources);
        for_each_finishing(&mut old_sparse, SparseSet::clear);
        for_each_finishing(&mut old_tables, Archetype::clear);
        Ok(())
    }

    /// A new world with `registry`, restored from `bytes` (see
    /// [`restore`](Self::restore)).
    ///
    /// # Errors
    /// As [`restore`](Self::restore).
    pub fn from_snapshot(registry: SnapshotRegistry, bytes: &[u8]) -> Result<Self, SnapshotError> {
        let mut world = Self::new();
        world.snapshots = registry;
        world.restore(bytes)?;
        Ok(world)
    }

    /// A new world with `registry`, made of the given tables, sparse-set
    /// components and resources: exactly the world that
    /// [`from_snapshot`](Self::from_snapshot) makes of
    /// [`build_snapshot_with_sparse`](snapshot::build_snapshot_with_sparse)`(tables, sparse, resources)`,
    /// with the same checks, but without encoding the columns into snapshot
    /// bytes and decoding them again (distributed mode builds a system
    /// process's world this way from the columns of its shards).
    ///
    /// # Errors
    /// As [`build_snapshot_with_sparse`](snapshot::build_snapshot_with_sparse)
    /// and [`restore`](Self::restore): columns of the wrong length, unknown
    /// names, an entity in two rows, a sparse value for an entity no table
    /// holds.
    pub fn from_columns(
        registry: SnapshotRegistry,
        tables: &[snapshot::TableColumns<'_>],
        sparse: &[snapshot::SparseColumns<'_>],
        resources: &[(&str, &[u8])],
    ) -> Result<Self, SnapshotError> {
        let mut world = Self::new();
        world.snapshots = registry;
        let restored = snapshot::read_columns(
            &world.snapshots,
            tables,
            sparse,
            resources,
            world.change_tick,
        )?;
        world.install(restored)?;
        Ok(world)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq)]
    struct Pos(u32);
    #[derive(Debug, PartialEq)]
    struct Selected;

    /// An iterator whose size hint is `hint` whatever it yields, to drive
    /// `spawn_batch` through exact, short and long hints.
    struct Hinted<I> {
        inner: I,
        hint: (usize, Option<usize>),
    }

    impl<I: Iterator> Iterator for Hinted<I> {
        type Item = I::Item;
        fn next(&mut self) -> Option<I::Item> {
            self.inner.next()
        }
        fn size_hint(&self) -> (usize, Option<usize>) {
            self.hint
        }
    }

    #[test]
    fn bulk_spawns_place_every_entity_row_value_and_tick() {
        let mut world = World::new();
        world.register_sparse::<Selected>().unwrap();
        // Freed ids are reused first, in the order single spawns use them.
        let old: Vec<Entity> = (0..5).map(|i| world.spawn((Pos(100 + i), 1_u8))).collect();
        for &e in &old[1..4] {
            world.despawn(e).unwrap();
        }
        world.advance_change_tick(3);
        let tick = world.change_tick();
        let mut expected_ids = old[1..4]
            .iter()
            .rev()
            .map(|e| e.index())
            .collect::<Vec<_>>();
        let mut spawned = Vec::new();
        // An exact hint, a hint too low (several chunks), one too high.
        for (round, hint) in [(0_u32, (40, Some(40))), (1, (0, None)), (2, (100, None))] {
            let base = 1000 * round;
            let batch = world.spawn_batch(Hinted {
                inner: (0..40_u32).map(|i| (Pos(base + i), (base + i) as u8, Selected)),
                hint,
            });
            assert_eq!(batch.len(), 40);
            spawned.extend(batch.iter().map(|&e| (e, base)));
        }
        expected_ids.extend(5..5 + 120 - 3);
        let ids: Vec<u32> = spawned.iter().map(|(e, _)| e.index()).collect();
        assert_eq!(
            ids, expected_ids,
            "free ids first, then fresh ones in order"
        );
        let table = world.table_of(spawned[0].0).unwrap();
        assert_eq!(table.len(), 2 + 120, "the two survivors and the batches");
        for (i, &(entity, base)) in spawned.iter().enumerate() {
            let value = base + (i as u32 % 40);
            let at = world.entities.location(entity).unwrap();
            assert_eq!(at.row as usize, 2 + i, "{entity}");
            assert_eq!(world.table_of(entity).unwrap().entities()[2 + i], entity);
            assert_eq!(world.get::<Pos>(entity).unwrap(), &Pos(value));
            assert_eq!(*world.get::<u8>(entity).unwrap(), value as u8);
            assert!(world.has::<Selected>(entity));
            for ticks in [
                world.component_ticks::<Pos>(entity).unwrap(),
                world.component_ticks::<u8>(entity).unwrap(),
                world.component_ticks::<Selected>(entity).unwrap(),
            ] {
                assert_eq!(ticks, ComponentTicks::new(tick), "{entity}");
            }
        }
        assert_eq!(world.get::<Pos>(old[4]).unwrap(), &Pos(104));
        assert_eq!(world.len(), 2 + 120);
        let table = world.table_of(spawned[0].0).unwrap();
        let rows = table.len();
        for column in 0..table.types().len() {
            assert_eq!(table.tick_column(column).slice_len(), rows);
        }
    }

    #[test]
    fn a_panicking_bulk_spawn_leaves_the_world_consistent() {
        let mut world = World::new();
        world.spawn_batch((0..3_u32).map(|i| (Pos(i),)));
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            world.spawn_batch(Hinted {
                inner: (3..10_u32).map(|i| {
                    assert!(i != 7, "the bundle iterator panics");
                    (Pos(i),)
                }),
                hint: (2, None),
            });
        }));
        assert!(result.is_err());
        // Every bundle yielded before the panic is a whole row, with its
        // entity and ticks, over two chunks.
        let mut values = Vec::new();
        world
            .query::<(Entity, &Pos)>()
            .for_each(|(_, pos)| values.push(pos.0));
        values.sort_unstable();
        assert_eq!(values, (0..7).collect::<Vec<_>>());
        let rows = values.len();
        assert_eq!(world.len(), rows);
        let table = world
            .table_of(world.entities.live().next().unwrap().0)
            .unwrap();
        assert_eq!(table.len(), rows);
        assert_eq!(table.tick_column(0).slice_len(), rows);
    }

    #[test]
    fn sparse_components_leave_the_table_and_row_unchanged() {
        let mut world = World::new();
        world.register_sparse::<Selected>().unwrap();
        let es: Vec<Entity> = (0..4).map(|i| world.spawn((Pos(i),))).collect();
        let before: Vec<Location> = es
            .iter()
            .map(|&e| world.entities.location(e).unwrap())
            .collect();
        world.insert(es[1], Selected).unwrap();
        world.insert(es[0], Selected).unwrap();
        world.remove::<Selected>(es[1]).unwrap();
        let after: Vec<Location> = es
            .iter()
            .map(|&e| world.entities.location(e).unwrap())
            .collect();
        assert_eq!(before, after);
        assert!(world.has::<Selected>(es[0]) && !world.has::<Selected>(es[1]));
        // A table component moves the entity to another table.
        world.insert(es[2], 1_u8).unwrap();
        assert_ne!(
            world.entities.location(es[2]).unwrap().archetype,
            before[2].archetype
        );
    }
}
