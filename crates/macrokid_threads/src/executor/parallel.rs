//! Parallel execution of one batch on a rayon scope: the calling thread and
//! helpers spawned on the pool take items one at a time from a shared
//! iterator until none is left.
//!
//! This replaced a hand-rolled scoped spawn (type-erased pointers to the
//! caller's stack frame and an `active`/`closed` handshake, 250 lines of
//! `unsafe`) whose one advantage is not waiting for helpers that have not
//! started yet. `benches/parallel_batch.rs` runs both on the same batches
//! (2-thread pool, medians of one run on a 2-core machine shared with other
//! builds, load average ~12, so only large ratios mean anything):
//!
//! | batch | caller | hand-rolled | rayon scope |
//! |---|---|---|---|
//! | 2 × empty | outside the pool | 1.35 µs | 70.8 µs |
//! | 32 × empty | outside | 2.28 µs | 160 µs |
//! | 32 × empty | inside (`install`) | 19.3 µs | 63.8 µs |
//! | 8 × 20 µs | outside | 547 µs | 329 µs |
//! | 8 × 20 µs | inside | 558 µs | 541 µs |
//! | 2 × 200 µs | outside | 1.26 ms | 1.15 ms |
//! | 2 × 200 µs | inside | 1.07 ms | 1.05 ms |
//!
//! The hand-rolled scope is far faster only on batches that cost less than
//! waking the pool, and those are exactly the batches that cost-aware
//! dispatch ([`Dispatch::CostAware`], the default) runs inline without
//! reaching this module; on batches worth parallelising the two are equal
//! within noise. Only [`Dispatch::AlwaysParallel`] (tests that need real
//! concurrency) sends cheap batches here and pays the wake-up.
//!
//! [`Dispatch::CostAware`]: super::Dispatch::CostAware
//! [`Dispatch::AlwaysParallel`]: super::Dispatch::AlwaysParallel

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::pool::ThreadPool;

/// Calls `run` once for every item of `items`, in parallel: on the calling
/// thread and on up to `helpers` pool workers (never more than there are
/// items besides the caller's first), in a
/// [`rayon::ThreadPool::in_place_scope`]. Items are claimed in iteration
/// order, one at a time (the items are systems, each worth far more than a
/// lock); the iterator is advanced under the lock, so it may hand out
/// disjoint borrows lazily instead of from a collected `Vec`.
/// Returns when every call has returned, with the sum of the participants'
/// busy time (what the batch would have cost run in order, plus claiming).
///
/// # Panics
/// Resumes a panic of `run` after every started call has finished (rayon's
/// scope does; the scheduler's `run` catches system panics itself).
pub(super) fn run_all<I>(
    pool: &ThreadPool,
    helpers: usize,
    items: I,
    run: &(dyn Fn(I::Item) + Sync),
) -> Duration
where
    I: ExactSizeIterator + Send,
    I::Item: Send,
{
    let helpers = helpers.min(items.len().saturating_sub(1));
    let next = Mutex::new(items);
    let busy_ns = AtomicU64::new(0);
    let work = || {
        let started = Instant::now();
        loop {
            // The guard drops at the end of the statement: `run` never
            // holds the lock, so a panic inside it cannot poison it.
            let item = next.lock().unwrap_or_else(PoisonError::into_inner).next();
            match item {
                Some(item) => run(item),
                None => break,
            }
        }
        let took = u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX);
        busy_ns.fetch_add(took, Ordering::Relaxed);
    };
    pool.as_rayon().in_place_scope(|scope| {
        for _ in 0..helpers {
            scope.spawn(|_| work());
        }
        work();
    });
    Duration::from_nanos(busy_ns.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::panic::{catch_unwind, AssertUnwindSafe};
    use std::sync::atomic::AtomicU32;

    #[test]
    fn every_item_runs_once() {
        let pool = ThreadPool::new(3).unwrap();
        for len in [0, 1, 2, 3, 7, 100, 1000] {
            let mut items: Vec<u32> = vec![0; len];
            let calls = AtomicU32::new(0);
            run_all(&pool, 3, items.iter_mut(), &|x: &mut u32| {
                *x += 1;
                calls.fetch_add(1, Ordering::Relaxed);
            });
            assert!(items.iter().all(|&x| x == 1), "len {len}");
            assert_eq!(calls.load(Ordering::Relaxed) as usize, len);
        }
    }

    #[test]
    fn busy_time_sums_the_participants() {
        let pool = ThreadPool::new(2).unwrap();
        let mut items = [(); 4];
        let busy = run_all(&pool, 2, items.iter_mut(), &|_: &mut ()| {
            std::thread::sleep(Duration::from_millis(5));
        });
        // Four 5 ms sleeps, whichever threads ran them.
        assert!(busy >= Duration::from_millis(20), "{busy:?}");
    }

    #[test]
    fn panics_come_back_to_the_caller_after_all_work() {
        let pool = ThreadPool::new(2).unwrap();
        let mut items: Vec<u32> = (0..64).collect();
        let done = AtomicU32::new(0);
        let result = catch_unwind(AssertUnwindSafe(|| {
            run_all(&pool, 2, items.iter_mut(), &|x: &mut u32| {
                assert!(*x != 5, "item five");
                done.fetch_add(1, Ordering::Relaxed);
            });
        }));
        assert!(result.is_err());
        // The other participants went on; the pool still works.
        assert!(done.load(Ordering::Relaxed) >= 1);
        let mut again = [0u32; 10];
        run_all(&pool, 2, again.iter_mut(), &|x: &mut u32| *x = 1);
        assert!(again.iter().all(|&x| x == 1));
    }
}
