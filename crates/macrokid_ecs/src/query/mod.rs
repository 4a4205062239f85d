//! Queries: iterate the entities whose tables match a [`QueryData`] and a
//! [`QueryFilter`], sequentially or in parallel chunks on rayon.

mod fetch;
mod filter;
mod state;

use std::marker::PhantomData;

use rayon::iter::{IntoParallelIterator, ParallelIterator};

pub use fetch::{DeclaredIn, Has, QueryData, ReadOnlyQueryData};
pub use filter::{Added, Changed, FilterDeclaredIn, Or, QueryFilter, With, Without};
pub use state::QueryState;

use crate::entity::{Entities, Entity};
use crate::error::EcsError;
use crate::storage::{Cursor, QueryState as TableBorrows, SparseFilter, TableView, Views};

/// The row filter of a query: its sparse-set requirements and `F`.
type RowFilter<'q, F> = (SparseFilter<'q>, <F as QueryFilter>::Fetch<'q>);

/// A cursor over one table view of query `Q` with filter `F`.
fn cursor<'q, Q: QueryData, F: QueryFilter>(
    mut view: TableView<'q>,
) -> Cursor<Q::Fetch<'q>, RowFilter<'q, F>> {
    let rows = view.len();
    let filter = (view.sparse_filter(), F::filter_fetch(&view));
    Cursor::filtered(Q::fetch(&mut view), filter, rows)
}

/// The access of query `Q` filtered by `F`, in core's vocabulary: the
/// reads and writes of `Q`'s components plus the tick reads of `F`'s row
/// filters.
///
/// # Panics
/// When `Q` names one component twice, at least once mutably.
pub(crate) fn query_access<Q: QueryData, F: QueryFilter>() -> macrokid_core::ResourceAccess {
    let mut access = macrokid_core::ResourceAccess::new();
    Q::access(&mut access);
    F::access(&mut access);
    access
}

/// Rows per parallel chunk, at least.
const MIN_CHUNK: usize = 256;

/// A query in progress: it holds the borrow flags of every component type it
/// touches until it drops, so iterate it right away.
///
/// Made by [`World::query`](crate::World::query) (exclusive world) or
/// [`SystemCx::query`](crate::SystemCx::query) (inside a system). Iterate
/// with [`iter`](Self::iter) (or `for item in &mut borrow`),
/// [`for_each`](Self::for_each) or [`par_for_each`](Self::par_for_each).
///
/// Order: tables in creation order, rows in table order; which is stable
/// between two iterations without structural changes in between.
pub struct QueryBorrow<'w, Q: QueryData, F: QueryFilter = ()> {
    state: TableBorrows<'w>,
    entities: &'w Entities,
    _marker: PhantomData<fn() -> (Q, F)>,
}

impl<'w, Q: QueryData, F: QueryFilter> QueryBorrow<'w, Q, F> {
    pub(crate) fn new(state: TableBorrows<'w>, entities: &'w Entities) -> Self {
        Self {
            state,
            entities,
            _marker: PhantomData,
        }
    }

    fn mismatch(entity: Entity) -> EcsError {
        EcsError::QueryMismatch {
            entity,
            query: std::any::type_name::<(Q, F)>(),
        }
    }

    /// The item of one entity, mutable where `Q` is (a lookup, not a scan:
    /// the entity's table and row are known).
    ///
    /// # Errors
    /// [`EcsError::StaleEntity`] when `entity` is not alive;
    /// [`EcsError::QueryMismatch`] when it does not match the query.
    pub fn get_mut(&mut self, entity: Entity) -> Result<Q::Item<'_>, EcsError> {
        let location = self.entities.location(entity)?;
        let view = self
            .state
            .view_of(location.archetype)
            .ok_or_else(|| Self::mismatch(entity))?;
        let cursor = cursor::<Q, F>(view);
        let (_, tail) = cursor.split_at(location.row as usize);
        let (mut one, _) = tail.split_at(1);
        one.next().ok_or_else(|| Self::mismatch(entity))
    }

    /// The items of `N` distinct entities at once, mutable where `Q` is, in
    /// the order given (bevy_ecs's `get_many_mut`).
    ///
    /// ```
    /// use macrokid_ecs::prelude::*;
    ///
    /// struct Health(i32);
    /// let mut world = World::new();
    /// let a = world.spawn((Health(10),));
    /// let b = world.spawn((Health(3),));
    /// let mut query = world.query::<&mut Health>();
    /// let [mut x, mut y] = query.get_many_mut([a, b])?;
    /// std::mem::swap(&mut x.0, &mut y.0);
    /// drop(query);
    /// assert_eq!(world.get::<Health>(a)?.0, 3);
    /// # Ok::<(), EcsError>(())
    /// ```
    ///
    /// # Errors
    /// [`EcsError::DuplicateEntity`] when an entity is named twice (its
    /// items would alias); [`EcsError::StaleEntity`] when one is not alive;
    /// [`EcsError::QueryMismatch`] when one does not match the query. On
    /// error no item is returned.
    pub fn get_many_mut<const N: usize>(
        &mut self,
        entities: [Entity; N],
    ) -> Result<[Q::Item<'_>; N], EcsError> {
        // (table, row, position in `entities`), checked before any fetch.
        let mut wanted = Vec::with_capacity(N);
        for (position, &entity) in entities.iter().enumerate() {
            if entities[..position].contains(&entity) {
                return Err(EcsError::DuplicateEntity {
                    entity,
                    query: std::any::type_name::<(Q, F)>(),
                });
            }
            let location = self.entities.location(entity)?;
            wanted.push((location.archetype, location.row as usize, position));
        }
        wanted.sort_unstable();
        let mut items: [Option<Q::Item<'_>>; N] = [const { None }; N];
        let mut next = 0;
        // Each matched table is viewed once; the wanted rows of one table are
        // taken from one cursor, split in ascending row order, so every row
        // is fetched once and no column is handed out twice.
        for view in self.state.views() {
            if next == wanted.len() {
                break;
            }
            let id = view.id();
            if wanted[next].0 != id {
                continue;
            }
            let mut rest = cursor::<Q, F>(view);
            let mut offset = 0;
            while let Some(&(table, row, position)) = wanted.get(next) {
                if table != id {
                    break;
                }
                let (_, tail) = rest.split_at(row - offset);
                let (mut one, after) = tail.split_at(1);
                items[position] = Some(
                    one.next()
                        .ok_or_else(|| Self::mismatch(entities[position]))?,
                );
                rest = after;
                offset = row + 1;
                next += 1;
            }
        }
        if let Some(&(_, _, position)) = wanted.get(next) {
            return Err(Self::mismatch(entities[position]));
        }
        Ok(items.map(|item| item.expect("every wanted entity was fetched")))
    }

    /// The item of one entity, for read-only queries.
    ///
    /// # Errors
    /// As [`get_mut`](Self::get_mut).
    pub fn get(&mut self, entity: Entity) -> Result<Q::Item<'_>, EcsError>
    where
        Q: ReadOnlyQueryData,
    {
        self.get_mut(entity)
    }

    /// The item of the only matching entity.
    ///
    /// # Errors
    /// [`EcsError::NotSingle`] when none or more than one matches.
    pub fn single(&mut self) -> Result<Q::Item<'_>, EcsError> {
        let not_single = |more_than_one| EcsError::NotSingle {
            query: std::any::type_name::<(Q, F)>(),
            more_than_one,
        };
        let mut iter = self.iter();
        let first = iter.next().ok_or_else(|| not_single(false))?;
        if iter.next().is_some() {
            return Err(not_single(true));
        }
        Ok(first)
    }

    /// The number of matching entities (with a row filter such as
    /// [`Changed`], a pass over the filtered tables' ticks).
    pub fn len(&mut self) -> usize {
        if !F::ROW_FILTER && !self.state.filters_sparse() {
            return self.state.len();
        }
        self.state
            .views()
            .map(|view| {
                let rows = view.len();
                let filter = (view.sparse_filter(), F::filter_fetch(&view));
                Cursor::filtered((), filter, rows).count_passing()
            })
            .sum()
    }

    /// Whether no entity matches.
    pub fn is_empty(&mut self) -> bool {
        self.len() == 0
    }

    /// An iterator over the matching entities' items.
    pub fn iter(&mut self) -> QueryIter<'_, Q, F> {
        QueryIter {
            views: self.state.views(),
            current: None,
        }
    }

    /// Calls `f` on every matching entity's item, in iteration order.
    pub fn for_each<'q>(&'q mut self, mut f: impl FnMut(Q::Item<'q>)) {
        for view in self.state.views() {
            cursor::<Q, F>(view).for_each(&mut f);
        }
    }

    /// Calls `f` on every matching entity's item, in parallel on the current
    /// rayon pool (the scheduler's pool inside a system): each table is cut
    /// into chunks of rows (at least 256, about four per thread over all
    /// matching rows) and the chunks run as rayon tasks. The order of calls
    /// is unspecified; each item is visited exactly once.
    pub fn par_for_each<'q>(&'q mut self, f: impl Fn(Q::Item<'q>) + Send + Sync) {
        let total = self.state.len();
        let threads = crate::system::stage_threads().max(1);
        let chunk = (total / (threads * 4)).max(MIN_CHUNK);
        let mut jobs: Vec<Cursor<Q::Fetch<'q>, RowFilter<'q, F>>> = Vec::new();
        for view in self.state.views() {
            if view.is_empty() {
                continue;
            }
            let mut cursor = cursor::<Q, F>(view);
            while cursor.remaining() > chunk {
                let (head, tail) = cursor.split_at(chunk);
                jobs.push(head);
                cursor = tail;
            }
            jobs.push(cursor);
        }
        let run = |cursor: Cursor<Q::Fetch<'q>, RowFilter<'q, F>>| cursor.for_each(&f);
        if jobs.len() <= 1 {
            jobs.into_iter().for_each(run);
        } else {
            crate::system::in_stage_pool(|| jobs.into_par_iter().for_each(run));
        }
    }
}

impl<'q, Q: QueryData, F: QueryFilter> IntoIterator for &'q mut QueryBorrow<'_, Q, F> {
    type Item = Q::Item<'q>;
    type IntoIter = QueryIter<'q, Q, F>;

    fn into_iter(self) -> QueryIter<'q, Q, F> {
        self.iter()
    }
}

/// The iterator of [`QueryBorrow::iter`].
pub struct QueryIter<'q, Q: QueryData, F: QueryFilter = ()> {
    views: Views<'q>,
    current: Option<Cursor<Q::Fetch<'q>, RowFilter<'q, F>>>,
}

impl<'q, Q: QueryData, F: QueryFilter> Iterator for QueryIter<'q, Q, F> {
    type Item = Q::Item<'q>;

    #[inline]
    fn next(&mut self) -> Option<Q::Item<'q>> {
        loop {
            if let Some(item) = self.current.as_mut().and_then(Cursor::next) {
                return Some(item);
            }
            let view = self.views.next()?;
            self.current = Some(cursor::<Q, F>(view));
        }
    }
}
