//! Scheduler dispatch overhead and parallel speed-up.
//!
//! - `dispatch/*/N`: one stage of N empty, non-conflicting systems (one
//!   batch) run by the scheduler on a 2-thread pool, by the single-threaded
//!   scheduler, and by a plain loop calling the same closures; divide by N
//!   for the cost per system.
//!   `scheduler_pool2` uses the default cost-aware dispatch (after the
//!   warm-up the batch is known to be cheap and runs inline);
//!   `scheduler_pool2_parallel` forces parallel dispatch.
//! - `many_systems/*`: 32 trivial systems (a counter increment each) in one
//!   stage (TARGETS.md, "Scheduler and jobs"): cost-aware dispatch against
//!   always-parallel and single-threaded dispatch.
//! - `two_5ms/*`: two conflict-free systems busy-waiting 5 ms each on a
//!   2-thread pool, against one 5 ms busy-wait and against the same two
//!   busy-waits through a bare `rayon::join`.
//! - `groups/*`: one `App` tick of two synchronized work groups of 4 trivial
//!   systems each (commands recorded and applied, spans, policies) against
//!   the same 8 closures as one stage on the single-threaded scheduler.
//! - `wrappers/*`: `ThreadPool::join` and `SpawnExt::spawn_with_handle`
//!   against the rayon calls they wrap.
//!
//! Run: `cargo bench -p macrokid_threads --bench dispatch`.
#![allow(
    missing_docs,
    reason = "criterion_group! generates an undocumented pub fn"
)]

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use macrokid_core::{Plan, ResourceAccess, StageDescriptor, SystemDescriptor};
use macrokid_threads::{
    App, BoxError, Dispatch, FnSystem, GroupWorld, Scheduler, SpawnExt, SystemStatus, SystemTask,
    ThreadPool, WorkGroup,
};

type Boxed = Box<dyn FnMut() -> Result<(), BoxError> + Send>;

fn empty_stage_plan(n: usize) -> Plan {
    Plan::build([StageDescriptor::new("tick").with_systems(
        (0..n).map(|i| SystemDescriptor::new(format!("empty{i}"), ResourceAccess::new())),
    )])
    .expect("a single stage plans")
}

fn empty_systems(n: usize) -> Vec<Boxed> {
    (0..n)
        .map(|_| {
            Box::new(|| {
                black_box(());
                Ok(())
            }) as Boxed
        })
        .collect()
}

fn dispatch(c: &mut Criterion) {
    let pool = Scheduler::new(Arc::new(ThreadPool::new(2).expect("2-thread pool")));
    let parallel = pool.clone().with_dispatch(Dispatch::AlwaysParallel);
    let single = Scheduler::single_threaded();
    let mut group = c.benchmark_group("dispatch");
    group
        .sample_size(30)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1));
    for n in [1usize, 10, 1000] {
        let plan = empty_stage_plan(n);
        let stage = &plan.stages()[0];
        let mut closures = empty_systems(n);
        let mut tasks: Vec<SystemTask<'_>> = closures
            .iter_mut()
            .map(|c| &mut **c as SystemTask<'_>)
            .collect();
        group.throughput(Throughput::Elements(n as u64));
        group.bench_function(BenchmarkId::new("plain_loop", n), |b| {
            b.iter(|| {
                for task in tasks.iter_mut() {
                    task()?;
                }
                Ok::<(), BoxError>(())
            });
        });
        group.bench_function(BenchmarkId::new("scheduler_pool2", n), |b| {
            b.iter(|| pool.run_stage(stage, &mut tasks));
        });
        group.bench_function(BenchmarkId::new("scheduler_pool2_parallel", n), |b| {
            b.iter(|| parallel.run_stage(stage, &mut tasks));
        });
        group.bench_function(BenchmarkId::new("scheduler_single", n), |b| {
            b.iter(|| single.run_stage(stage, &mut tasks));
        });
    }
    group.finish();
}

fn many_systems(c: &mut Criterion) {
    const N: usize = 32;
    let pool = Scheduler::new(Arc::new(ThreadPool::new(2).expect("2-thread pool")));
    let dispatchers = [
        ("cost_aware", pool.clone()),
        (
            "always_parallel",
            pool.with_dispatch(Dispatch::AlwaysParallel),
        ),
        ("single_threaded", Scheduler::single_threaded()),
    ];
    let plan = empty_stage_plan(N);
    let stage = &plan.stages()[0];
    let counters: Vec<std::sync::atomic::AtomicU64> = (0..N)
        .map(|_| std::sync::atomic::AtomicU64::new(0))
        .collect();
    let mut closures: Vec<Box<dyn FnMut() -> Result<(), BoxError> + Send + '_>> = counters
        .iter()
        .map(|counter| {
            Box::new(move || {
                counter.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                Ok(())
            }) as Box<dyn FnMut() -> Result<(), BoxError> + Send + '_>
        })
        .collect();
    let mut tasks: Vec<SystemTask<'_>> = closures
        .iter_mut()
        .map(|c| &mut **c as SystemTask<'_>)
        .collect();
    let mut group = c.benchmark_group("many_systems");
    group.sample_size(50);
    for (name, scheduler) in &dispatchers {
        group.bench_function(*name, |b| b.iter(|| scheduler.run_stage(stage, &mut tasks)));
    }
    group.finish();
}

fn busy_wait(d: Duration) {
    let start = Instant::now();
    while start.elapsed() < d {
        std::hint::spin_loop();
    }
}

fn two_5ms(c: &mut Criterion) {
    const WORK: Duration = Duration::from_millis(5);
    let pool = Scheduler::new(Arc::new(ThreadPool::new(2).expect("2-thread pool")));
    let plan = empty_stage_plan(2);
    let stage = &plan.stages()[0];
    let mut closures: Vec<Boxed> = (0..2)
        .map(|_| {
            Box::new(|| {
                busy_wait(WORK);
                Ok(())
            }) as Boxed
        })
        .collect();
    let mut tasks: Vec<SystemTask<'_>> = closures
        .iter_mut()
        .map(|c| &mut **c as SystemTask<'_>)
        .collect();
    let mut group = c.benchmark_group("two_5ms");
    group
        .sample_size(20)
        .warm_up_time(Duration::from_millis(200))
        .measurement_time(Duration::from_secs(2));
    group.bench_function("one_5ms_baseline", |b| b.iter(|| busy_wait(WORK)));
    // The same two busy-waits through a bare `rayon::join` on a 2-thread
    // pool: what the machine allows, without the scheduler.
    let rayon_pool = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .build()
        .expect("2-thread rayon pool");
    group.bench_function("rayon_join_two_5ms", |b| {
        b.iter(|| rayon_pool.join(|| busy_wait(WORK), || busy_wait(WORK)));
    });
    group.bench_function("scheduler_pool2_two_systems", |b| {
        b.iter(|| pool.run_stage(stage, &mut tasks));
    });
    group.finish();
}

/// A world for the group bench: a counter changed through commands.
#[derive(Default)]
struct Counter(u64);

impl GroupWorld for Counter {
    type Commands = Vec<u64>;
    fn apply_commands(&mut self, commands: Vec<u64>) {
        self.0 += commands.iter().sum::<u64>();
    }
}

fn groups(c: &mut Criterion) {
    let mut builder = App::builder();
    for group in ["movement", "combat"] {
        let mut work_group = WorkGroup::synchronized(group);
        for i in 0..4 {
            work_group = work_group.system(FnSystem::new(
                format!("{group}{i}"),
                ResourceAccess::new(),
                |_: &mut Counter, commands: &mut Vec<u64>| {
                    commands.push(black_box(1));
                    Ok(SystemStatus::Executed)
                },
            ));
        }
        builder.add_group(work_group);
    }
    let mut app = builder.build().expect("two groups register");
    let mut world = Counter::default();

    let plan = empty_stage_plan(8);
    let stage = &plan.stages()[0];
    let single = Scheduler::single_threaded();
    let counter = std::sync::atomic::AtomicU64::new(0);
    let mut closures: Vec<Box<dyn FnMut() -> Result<(), BoxError> + Send + '_>> = (0..8)
        .map(|_| {
            Box::new(|| {
                counter.fetch_add(black_box(1), std::sync::atomic::Ordering::Relaxed);
                Ok(())
            }) as Box<dyn FnMut() -> Result<(), BoxError> + Send + '_>
        })
        .collect();
    let mut tasks: Vec<SystemTask<'_>> = closures
        .iter_mut()
        .map(|c| &mut **c as SystemTask<'_>)
        .collect();

    let mut group = c.benchmark_group("groups");
    group.sample_size(50);
    group.bench_function("app_tick_2_groups_x4", |b| {
        b.iter(|| app.tick(&mut world).expect("the tick runs"));
    });
    group.bench_function("stage_8_systems_single_threaded", |b| {
        b.iter(|| single.run_stage(stage, &mut tasks));
    });
    group.finish();
}

fn wrappers(c: &mut Criterion) {
    let pool = ThreadPool::new(2).expect("2-thread pool");
    let mut group = c.benchmark_group("wrappers");
    group
        .sample_size(30)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1));
    // 1000 joins inside the pool per iteration, so the install hop is amortized.
    group.bench_function("rayon_join_x1000", |b| {
        b.iter(|| {
            pool.install(|| {
                for _ in 0..1000 {
                    black_box(rayon::join(|| black_box(1), || black_box(2)));
                }
            });
        });
    });
    group.bench_function("pool_join_x1000", |b| {
        b.iter(|| {
            pool.install(|| {
                for _ in 0..1000 {
                    black_box(pool.join(|| black_box(1), || black_box(2)));
                }
            });
        });
    });
    group.bench_function("rayon_spawn_and_wait", |b| {
        b.iter(|| {
            let (tx, rx) = std::sync::mpsc::sync_channel(1);
            pool.as_rayon().spawn(move || {
                let _ = tx.send(black_box(1));
            });
            rx.recv().expect("spawned closure sends")
        });
    });
    group.bench_function("spawn_with_handle_and_join", |b| {
        b.iter(|| pool.spawn_with_handle(|| black_box(1)).join());
    });
    group.finish();
}

criterion_group!(benches, dispatch, many_systems, two_5ms, groups, wrappers);
criterion_main!(benches);
