//! Parallel execution of one batch: the calling thread and helpers on the
//! pool claim items from a shared cursor.
//!
//! Helpers are ordinary `'static` pool jobs that borrow the caller's stack
//! frame through an erased pointer. A handshake makes that sound without
//! making the caller wait for helpers that have not started yet (a sleeping
//! worker can take tens of microseconds to wake, far more than a batch of
//! small systems takes to run):
//!
//! - a helper first increments `active`, then reads `closed`; it touches the
//!   borrowed frame only if `closed` was still false, and decrements `active`
//!   when done with it;
//! - the caller, once its own share of the work is done, sets `closed`, then
//!   waits until `active` is zero before its frame goes away.
//!
//! All four accesses are `SeqCst`, so they have one total order: if a helper
//! read `closed == false`, its increment came before the caller's store of
//! `closed`, which came before the caller's load of `active`, so the caller
//! sees the increment and waits. A helper that starts late reads
//! `closed == true` and returns without touching anything borrowed.
#![expect(
    unsafe_code,
    reason = "pool helpers borrow the caller's stack frame through erased pointers, guarded by \
              the close/active handshake described in the module docs"
)]

use std::any::Any;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::{self, Thread};

use crate::pool::ThreadPool;

/// Calls `run` once for every item of `items`, in parallel: on the calling
/// thread and on up to `helpers` pool workers (the caller spawns one helper,
/// each helper that gets to work spawns the next). Items are claimed in index
/// order, in chunks that shrink as work runs out (guided self-scheduling:
/// `remaining / (2 * participants)`, at least 1). Returns when every call has
/// returned.
///
/// # Panics
/// Resumes the first panic of `run` (caller's first, then helpers') after
/// every started call has finished.
pub(super) fn run_all<T: Send>(
    pool: &ThreadPool,
    helpers: usize,
    items: &mut [T],
    run: &(dyn Fn(&mut T) + Sync),
) {
    let len = items.len();
    let helpers = helpers.min(len.saturating_sub(1));
    if helpers == 0 {
        items.iter_mut().for_each(run);
        return;
    }
    let participants = helpers + 1;
    let chunk_at = move |start: usize| ((len - start) / (2 * participants)).max(1);

    let base = ItemsPtr(items.as_mut_ptr());
    let cursor = AtomicUsize::new(0);
    let claim = || {
        cursor
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |start| {
                (start < len).then(|| start + chunk_at(start))
            })
            .ok()
    };
    let work = || {
        while let Some(start) = claim() {
            for i in start..start + chunk_at(start) {
                // SAFETY: `start..start + chunk_at(start)` lies within `0..len`
                // (`chunk_at(start) <= len - start` since `participants >= 1`
                // and `start < len`), and the cursor moved past it in one
                // atomic step, so no other thread ever claims these indices:
                // this is the only reference to item `i`. The slice outlives
                // every call of `work` (see the module docs' handshake).
                let item = unsafe { &mut *base.get().add(i) };
                run(item);
            }
        }
    };

    let work_ref: &(dyn Fn() + Sync) = &work;
    // SAFETY: only the lifetime is erased (same layout). Helpers dereference
    // the pointer only between a successful handshake and their decrement of
    // `active`, and this function does not return before `active` is zero
    // after `closed` was set, so `work` (and what it borrows) is alive then.
    let job = ErasedJob(unsafe {
        std::mem::transmute::<*const (dyn Fn() + Sync + '_), *const (dyn Fn() + Sync + 'static)>(
            work_ref,
        )
    });
    let shared = Arc::new(Handshake {
        active: AtomicUsize::new(0),
        closed: AtomicBool::new(false),
        unspawned: AtomicUsize::new(helpers - 1),
        waiter: thread::current(),
        panic: Mutex::new(None),
    });
    // One helper; it recruits the next one when it starts (see `help`), so
    // the caller pays for a single injection and wake-up.
    let first = Arc::clone(&shared);
    pool.spawn(move || first.help(job));

    let mine = catch_unwind(AssertUnwindSafe(work_ref));
    shared.close_and_wait();

    if let Err(payload) = mine {
        resume_unwind(payload);
    }
    let theirs = shared
        .panic
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .take();
    if let Some(payload) = theirs {
        resume_unwind(payload);
    }
}

/// The state shared by the caller and its helpers (owned by an `Arc`, so it
/// outlives late helpers).
struct Handshake {
    /// Helpers currently inside the handshake.
    active: AtomicUsize,
    /// Set by the caller once it no longer accepts helpers.
    closed: AtomicBool,
    /// Helpers still to be spawned, each by the previous one.
    unspawned: AtomicUsize,
    /// The caller, unparked when `active` drops to zero.
    waiter: Thread,
    /// The first panic of a helper's work.
    panic: Mutex<Option<Box<dyn Any + Send>>>,
}

impl Handshake {
    /// A helper's side of the handshake. Runs on a worker of the pool.
    fn help(self: Arc<Self>, job: ErasedJob) {
        self.active.fetch_add(1, Ordering::SeqCst);
        if !self.closed.load(Ordering::SeqCst) {
            let recruit = self
                .unspawned
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
                .is_ok();
            if recruit {
                let next = Arc::clone(&self);
                // On a worker thread, `rayon::spawn` uses that worker's pool.
                rayon::spawn(move || next.help(job));
            }
            // SAFETY: `closed` was false after our increment of `active`, so
            // the caller has not yet observed `active == 0` and is still (or
            // will be) waiting in `close_and_wait`: the job and its borrows
            // are alive until we decrement `active` below.
            let work = unsafe { &*job.0 };
            if let Err(payload) = catch_unwind(AssertUnwindSafe(work)) {
                self.panic
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .get_or_insert(payload);
            }
        }
        if self.active.fetch_sub(1, Ordering::SeqCst) == 1 {
            // A stray unpark (when the caller is not waiting) only makes a
            // later `park` of that thread return early, which `park` allows.
            self.waiter.unpark();
        }
    }

    /// The caller's side: no more helpers; wait for the ones inside.
    fn close_and_wait(&self) {
        self.closed.store(true, Ordering::SeqCst);
        let mut spins = 0u32;
        while self.active.load(Ordering::SeqCst) != 0 {
            if spins < 64 {
                spins += 1;
                std::hint::spin_loop();
            } else {
                thread::park();
            }
        }
    }
}

/// A lifetime-erased pointer to the batch's work closure.
#[derive(Clone, Copy)]
struct ErasedJob(*const (dyn Fn() + Sync + 'static));

// SAFETY: the pointee is `Sync` (callable from any thread through `&`), and
// the handshake bounds every dereference to the pointee's real lifetime.
unsafe impl Send for ErasedJob {}

/// The base pointer of the items slice, shareable among the participants.
struct ItemsPtr<T>(*mut T);

impl<T> ItemsPtr<T> {
    /// The pointer (a method, so closures capture the whole `Sync` wrapper).
    fn get(&self) -> *mut T {
        self.0
    }
}

// SAFETY: participants only form `&mut` to disjoint, individually claimed
// items, and `T: Send` lets each item be used from another thread.
unsafe impl<T: Send> Sync for ItemsPtr<T> {}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicU32;

    #[test]
    fn every_item_runs_once() {
        let pool = ThreadPool::new(3).unwrap();
        let lens: &[usize] = if cfg!(miri) {
            &[0, 1, 2, 3, 7, 20]
        } else {
            &[0, 1, 2, 3, 7, 100, 1000]
        };
        for &len in lens {
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
    fn panics_come_back_to_the_caller_after_all_work() {
        let pool = ThreadPool::new(2).unwrap();
        let mut items: Vec<u32> = (0..if cfg!(miri) { 12 } else { 64 }).collect();
        let done = AtomicU32::new(0);
        let result = catch_unwind(AssertUnwindSafe(|| {
            run_all(&pool, 2, &mut items, &|x: &mut u32| {
                assert!(*x != 5, "item five");
                done.fetch_add(1, Ordering::Relaxed);
            });
        }));
        assert!(result.is_err());
        // Every other item of the claimed chunks still ran; the pool works.
        assert!(done.load(Ordering::Relaxed) >= 1);
        let mut again = vec![0u32; 10];
        run_all(&pool, 2, &mut again, &|x: &mut u32| *x = 1);
        assert!(again.iter().all(|&x| x == 1));
    }
}
