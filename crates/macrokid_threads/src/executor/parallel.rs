//! Parallel execution of one batch on a rayon scope: the calling thread and
//! helpers spawned on the pool take items one at a time from a shared
//! iterator until none is left.
//!
//! This replaced a hand-rolled scoped spawn (type-erased pointers to the
//! caller's stack frame and an `active`/`closed` handshake, 250 lines of
//! `unsafe`) whose one advantage was not waiting for helpers that had not
//! started yet. With cost-aware dispatch ([`Dispatch::CostAware`]) batches
//! cheap enough for that to matter run inline and never get here; the
//! figures of both, measured in one run, are in `benches/parallel_batch.rs`'s
//! docs.
//!
//! [`Dispatch::CostAware`]: super::Dispatch::CostAware

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::pool::ThreadPool;

/// Calls `run` once for every item of `items`, in parallel: on the calling
/// thread and on up to `helpers` pool workers, in a
/// [`rayon::ThreadPool::in_place_scope`]. Items are claimed in index order,
/// one at a time (the items are systems, each worth far more than a lock).
/// Returns when every call has returned, with the sum of the participants'
/// busy time (what the batch would have cost run in order, plus claiming).
///
/// # Panics
/// Resumes a panic of `run` after every started call has finished (rayon's
/// scope does; the scheduler's `run` catches system panics itself).
pub(super) fn run_all<T: Send>(
    pool: &ThreadPool,
    helpers: usize,
    items: &mut [T],
    run: &(dyn Fn(&mut T) + Sync),
) -> Duration {
    let helpers = helpers.min(items.len().saturating_sub(1));
    let next = Mutex::new(items.iter_mut());
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
            run_all(&pool, 3, &mut items, &|x: &mut u32| {
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
        let busy = run_all(&pool, 2, &mut items, &|_: &mut ()| {
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
            run_all(&pool, 2, &mut items, &|x: &mut u32| {
                assert!(*x != 5, "item five");
                done.fetch_add(1, Ordering::Relaxed);
            });
        }));
        assert!(result.is_err());
        // The other participants went on; the pool still works.
        assert!(done.load(Ordering::Relaxed) >= 1);
        let mut again = vec![0u32; 10];
        run_all(&pool, 2, &mut again, &|x: &mut u32| *x = 1);
        assert!(again.iter().all(|&x| x == 1));
    }
}
