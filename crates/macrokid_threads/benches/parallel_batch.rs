//! The hand-rolled scoped spawn the scheduler used before, against the
//! rayon `in_place_scope` that replaced it, on the same batches: N closures,
//! each busy for W µs, on a 2-thread pool, called from outside the pool (a
//! standalone schedule) and from inside it (the ECS runs stages under
//! `ThreadPool::install`).
//!
//! The hand-rolled version never waits for a helper that has not started
//! (a handshake lets late helpers back out), so it wins where waking the
//! pool costs more than the batch itself; cost-aware dispatch
//! (`Dispatch::CostAware`) runs such batches inline and never reaches either.
//! The figures of one run are in the docs of
//! `src/executor/parallel.rs`.
//!
//! Run: `cargo bench -p macrokid_threads --bench parallel_batch -- --warm-up-time 1 --measurement-time 3`.
#![allow(
    missing_docs,
    reason = "criterion_group! generates an undocumented pub fn"
)]

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering as AtomicOrdering};
use std::sync::{Mutex as StdMutex, PoisonError as StdPoisonError};
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};

/// The scheduler's former executor, verbatim but for the pool type.
mod hand_rolled {
    #![expect(
        unsafe_code,
        reason = "the former hand-rolled scoped spawn, kept as the baseline of this bench"
    )]
    use std::any::Any;
    use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex, PoisonError};
    use std::thread::{self, Thread};

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
    pub(crate) fn run_all<T: Send>(
        pool: &rayon::ThreadPool,
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
}

/// What the scheduler runs now (`executor/parallel.rs`).
fn rayon_scope<T: Send>(
    pool: &rayon::ThreadPool,
    helpers: usize,
    items: &mut [T],
    run: &(dyn Fn(&mut T) + Sync),
) -> Duration {
    let helpers = helpers.min(items.len().saturating_sub(1));
    let next = StdMutex::new(items.iter_mut());
    let busy_ns = AtomicU64::new(0);
    let work = || {
        let started = Instant::now();
        loop {
            let item = next
                .lock()
                .unwrap_or_else(StdPoisonError::into_inner)
                .next();
            match item {
                Some(item) => run(item),
                None => break,
            }
        }
        let took = u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX);
        busy_ns.fetch_add(took, AtomicOrdering::Relaxed);
    };
    pool.in_place_scope(|scope| {
        for _ in 0..helpers {
            scope.spawn(|_| work());
        }
        work();
    });
    Duration::from_nanos(busy_ns.into_inner())
}

fn busy_wait(d: Duration) {
    let start = Instant::now();
    while start.elapsed() < d {
        std::hint::spin_loop();
    }
}

fn parallel_batch(c: &mut Criterion) {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .build()
        .expect("2-thread pool");
    let mut group = c.benchmark_group("parallel_batch");
    group.sample_size(30);
    for (n, work_us) in [(2usize, 0u64), (8, 0), (32, 0), (2, 20), (8, 20), (2, 200)] {
        let work = Duration::from_micros(work_us);
        let run = move |x: &mut u64| {
            if !work.is_zero() {
                busy_wait(work);
            }
            *x = black_box(*x + 1);
        };
        let mut items = vec![0u64; n];
        let case = format!("{n}x{work_us}us");
        group.bench_function(BenchmarkId::new("outside/hand_rolled", &case), |b| {
            b.iter(|| hand_rolled::run_all(&pool, 2, &mut items, &run));
        });
        group.bench_function(BenchmarkId::new("outside/rayon_scope", &case), |b| {
            b.iter(|| rayon_scope(&pool, 2, &mut items, &run));
        });
        group.bench_function(BenchmarkId::new("inside/hand_rolled", &case), |b| {
            b.iter(|| pool.install(|| hand_rolled::run_all(&pool, 1, &mut items, &run)));
        });
        group.bench_function(BenchmarkId::new("inside/rayon_scope", &case), |b| {
            b.iter(|| pool.install(|| rayon_scope(&pool, 1, &mut items, &run)));
        });
    }
    group.finish();
}

criterion_group!(benches, parallel_batch);
criterion_main!(benches);
