//! Queries: iterate the entities whose tables match a [`QueryData`] and a
//! [`QueryFilter`], sequentially or in parallel chunks on rayon.

mod fetch;
mod filter;
mod state;

use std::marker::PhantomData;

use rayon::iter::{IntoParallelIterator, ParallelIterator};

pub use fetch::{DeclaredIn, Has, QueryData, ReadOnlyQueryData};
pub use filter::{Added, Changed, FilterDeclaredIn, QueryFilter, With, Without};
pub use state::QueryState;

use crate::entity::{Entities, Entity};
use crate::error::EcsError;
use crate::storage::{Cursor, QueryState as TableBorrows, Views};

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
        let mut view = self
            .state
            .view_of(location.archetype)
            .ok_or_else(|| Self::mismatch(entity))?;
        let rows = view.len();
        let filter = F::filter_fetch(&view);
        let cursor = Cursor::filtered(Q::fetch(&mut view), filter, rows);
        let (_, tail) = cursor.split_at(location.row as usize);
        let (mut one, _) = tail.split_at(1);
        one.next().ok_or_else(|| Self::mismatch(entity))
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
        if !F::ROW_FILTER {
            return self.state.len();
        }
        self.state
            .views()
            .map(|view| {
                let rows = view.len();
                Cursor::filtered((), F::filter_fetch(&view), rows).count_passing()
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
        for mut view in self.state.views() {
            let rows = view.len();
            let filter = F::filter_fetch(&view);
            Cursor::filtered(Q::fetch(&mut view), filter, rows).for_each(&mut f);
        }
    }

    /// Calls `f` on every matching entity's item, in parallel on the current
    /// rayon pool (the scheduler's pool inside a system): each table is cut
    /// into chunks of rows (at least 256, about four per thread over all
    /// matching rows) and the chunks run as rayon tasks. The order of calls
    /// is unspecified; each item is visited exactly once.
    pub fn par_for_each<'q>(&'q mut self, f: impl Fn(Q::Item<'q>) + Send + Sync) {
        let total = self.state.len();
        let threads = rayon::current_num_threads().max(1);
        let chunk = (total / (threads * 4)).max(MIN_CHUNK);
        let mut jobs: Vec<Cursor<Q::Fetch<'q>, F::Fetch<'q>>> = Vec::new();
        for mut view in self.state.views() {
            let rows = view.len();
            if rows == 0 {
                continue;
            }
            let filter = F::filter_fetch(&view);
            let mut cursor = Cursor::filtered(Q::fetch(&mut view), filter, rows);
            while cursor.remaining() > chunk {
                let (head, tail) = cursor.split_at(chunk);
                jobs.push(head);
                cursor = tail;
            }
            jobs.push(cursor);
        }
        let run = |cursor: Cursor<Q::Fetch<'q>, F::Fetch<'q>>| cursor.for_each(&f);
        if jobs.len() <= 1 {
            jobs.into_iter().for_each(run);
        } else {
            jobs.into_par_iter().for_each(run);
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
    current: Option<Cursor<Q::Fetch<'q>, F::Fetch<'q>>>,
}

impl<'q, Q: QueryData, F: QueryFilter> Iterator for QueryIter<'q, Q, F> {
    type Item = Q::Item<'q>;

    #[inline]
    fn next(&mut self) -> Option<Q::Item<'q>> {
        loop {
            if let Some(item) = self.current.as_mut().and_then(Cursor::next) {
                return Some(item);
            }
            let mut view = self.views.next()?;
            let rows = view.len();
            let filter = F::filter_fetch(&view);
            self.current = Some(Cursor::filtered(Q::fetch(&mut view), filter, rows));
        }
    }
}
