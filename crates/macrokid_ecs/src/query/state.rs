//! [`QueryState`]: a query's matched tables and access, held by its user
//! so that running the query takes no lock and re-tests only new tables.

use std::any::TypeId;
use std::marker::PhantomData;
use std::sync::Arc;

use super::{FilterDeclaredIn, QueryBorrow, QueryData, QueryFilter, ReadOnlyQueryData};
use crate::query::DeclaredIn;
use macrokid_core::ResourceAccess;

use crate::storage::ArchetypeId;
use crate::system::SystemCx;
use crate::world::World;

/// A query's cached state — its validated access and the tables it matches
/// — kept by the user between runs (in a system's struct, or beside a
/// world), like bevy_ecs's `QueryState`. Running it takes no lock: it tests
/// only the tables made since its last run (legion and bevy do the same).
///
/// ```
/// use macrokid_ecs::prelude::*;
/// use macrokid_ecs::QueryState;
///
/// struct Pos(i32);
/// let mut world = World::new();
/// world.spawn((Pos(1),));
/// let mut state = QueryState::<&mut Pos>::new();
/// for mut p in state.query(&mut world).iter() {
///     p.0 += 1;
/// }
/// world.spawn((Pos(5), 1_u8)); // a new table: matched on the next run
/// assert_eq!(state.query(&mut world).iter().map(|p| p.0).sum::<i32>(), 7);
/// ```
///
/// One state may serve several worlds; switching worlds re-matches from
/// scratch.
pub struct QueryState<Q: QueryData, F: QueryFilter = ()> {
    access: Arc<ResourceAccess>,
    required: Vec<TypeId>,
    excluded: Vec<TypeId>,
    /// The world (and layout epoch) `matches` belongs to.
    epoch: Option<(u64, u64)>,
    /// `required` and `excluded` split by the world's storage choices:
    /// table types (matched by table) and sparse types (checked per row).
    table_required: Vec<TypeId>,
    table_excluded: Vec<TypeId>,
    sparse: (Vec<TypeId>, Vec<TypeId>),
    seen: usize,
    matches: Arc<[ArchetypeId]>,
    _marker: PhantomData<fn() -> (Q, F)>,
}

impl<Q: QueryData, F: QueryFilter> Default for QueryState<Q, F> {
    fn default() -> Self {
        Self::new()
    }
}

impl<Q: QueryData, F: QueryFilter> QueryState<Q, F> {
    /// A state that matches nothing yet.
    ///
    /// # Panics
    /// When `Q` names one component twice, at least once mutably.
    pub fn new() -> Self {
        let access = Arc::new(super::query_access::<Q, F>());
        let mut required = Vec::new();
        Q::required(&mut required);
        F::required(&mut required);
        required.sort_unstable();
        required.dedup();
        let mut excluded = Vec::new();
        F::excluded(&mut excluded);
        excluded.sort_unstable();
        excluded.dedup();
        Self {
            access,
            required,
            excluded,
            epoch: None,
            table_required: Vec::new(),
            table_excluded: Vec::new(),
            sparse: (Vec::new(), Vec::new()),
            seen: 0,
            matches: Arc::from([]),
            _marker: PhantomData,
        }
    }

    fn update(&mut self, world: &World) -> Arc<[ArchetypeId]> {
        let epoch = world.table_epoch();
        if self.epoch != Some(epoch) {
            self.epoch = Some(epoch);
            self.seen = 0;
            self.matches = Arc::from([]);
            let (table_required, sparse_required) = world.split_sparse(&self.required);
            let (table_excluded, sparse_excluded) = world.split_sparse(&self.excluded);
            self.table_required = table_required;
            self.table_excluded = table_excluded;
            self.sparse = (sparse_required, sparse_excluded);
        }
        world.extend_matches(
            &self.table_required,
            &self.table_excluded,
            &mut self.seen,
            &mut self.matches,
        );
        self.matches.clone()
    }

    /// Runs the query on an exclusive world (as
    /// [`World::query_filtered`]).
    pub fn query<'w>(&mut self, world: &'w mut World) -> QueryBorrow<'w, Q, F> {
        let matched = self.update(world);
        world.query_exclusive(self.access.clone(), matched, self.sparse.clone())
    }

    /// Runs a read-only query on a shared world (as [`World::query_ref`]).
    pub fn query_ref<'w>(&mut self, world: &'w World) -> QueryBorrow<'w, Q, F>
    where
        Q: ReadOnlyQueryData,
    {
        let matched = self.update(world);
        QueryBorrow::new(
            world.borrow_tables(
                self.access.clone(),
                matched,
                self.sparse.clone(),
                world.world_ticks(),
                "QueryState::query_ref",
            ),
            world.entities(),
        )
    }

    /// Runs the query inside system `S` (as [`SystemCx::query_filtered`]):
    /// `Q` and `F` must be declared by `S`.
    pub fn query_in<'c, S: ?Sized>(&mut self, cx: &'c SystemCx<'_, S>) -> QueryBorrow<'c, Q, F>
    where
        Q: DeclaredIn<S>,
        F: FilterDeclaredIn<S>,
    {
        let world = cx.world();
        let mut matched = self.update(world);
        let mut sparse = self.sparse.clone();
        // The system's `with`/`without` filter narrows every query it runs:
        // its table types by table, its sparse types per row.
        let filter = cx.filter();
        if !filter.required.is_empty() || !filter.excluded.is_empty() {
            let tables = world.archetypes();
            let is_sparse = |t: TypeId| world.is_sparse_type(t);
            matched = matched
                .iter()
                .copied()
                .filter(|&id| filter.admits_table(&tables[id as usize], is_sparse))
                .collect();
            sparse
                .0
                .extend(filter.required.iter().copied().filter(|&t| is_sparse(t)));
            sparse
                .1
                .extend(filter.excluded.iter().copied().filter(|&t| is_sparse(t)));
        }
        QueryBorrow::new(
            world.borrow_tables(self.access.clone(), matched, sparse, cx.ticks(), cx.name()),
            world.entities(),
        )
    }
}
