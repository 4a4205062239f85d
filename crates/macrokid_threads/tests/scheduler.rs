//! Behaviour of `Scheduler::run_stage`: exactly-once execution, real
//! parallelism, exclusion of conflicting systems, error and panic handling,
//! and single-threaded equivalence.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Barrier, Condvar, Mutex};
use std::thread;
use std::time::Duration;

use macrokid_core::{
    Plan, ResourceAccess, ResourceId, StageDescriptor, StagePlan, SystemDescriptor,
};
use macrokid_threads::{
    BoxError, Dispatch, ScheduleError, Scheduler, SchedulerObserver, StageReport, SystemOutcome,
    SystemReport, SystemTask, ThreadPool,
};

/// Resources R0..R3 by index.
fn res(i: usize) -> ResourceId {
    struct R0;
    struct R1;
    struct R2;
    struct R3;
    [
        ResourceId::of::<R0>(),
        ResourceId::of::<R1>(),
        ResourceId::of::<R2>(),
        ResourceId::of::<R3>(),
    ][i]
}

fn access(reads: &[usize], writes: &[usize]) -> ResourceAccess {
    let mut a = ResourceAccess::new();
    for &r in reads {
        a.add_read(res(r));
    }
    for &w in writes {
        a.add_write(res(w));
    }
    a
}

/// One stage named `stage` with systems `sys<i>` of the given accesses.
fn one_stage(accesses: Vec<ResourceAccess>) -> Plan {
    Plan::build([StageDescriptor::new("stage").with_systems(
        accesses
            .into_iter()
            .enumerate()
            .map(|(i, a)| SystemDescriptor::new(format!("sys{i}"), a)),
    )])
    .unwrap()
}

type Boxed<'a> = Box<dyn FnMut() -> Result<(), BoxError> + Send + 'a>;

/// Runs `stage` once with the boxed closures as its tasks.
fn run(
    scheduler: &Scheduler,
    stage: &StagePlan,
    closures: &mut [Boxed<'_>],
) -> Result<(), ScheduleError> {
    let mut tasks: Vec<SystemTask<'_>> = closures
        .iter_mut()
        .map(|c| &mut **c as SystemTask<'_>)
        .collect();
    scheduler.run_stage(stage, &mut tasks)
}

fn pool(threads: usize) -> Scheduler {
    Scheduler::new(Arc::new(ThreadPool::new(threads).unwrap()))
}

/// A pooled scheduler that runs every batch in parallel, however cheap: the
/// rendezvous tests need true concurrency.
fn parallel_pool(threads: usize) -> Scheduler {
    pool(threads).with_dispatch(Dispatch::AlwaysParallel)
}

/// Runs `f` on a fresh thread and fails the test if it does not return
/// within `limit` (a rendezvous that never happens must fail, not hang).
fn within<R: Send + 'static>(
    limit: Duration,
    what: &str,
    f: impl FnOnce() -> R + Send + 'static,
) -> R {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(limit)
        .unwrap_or_else(|_| panic!("watchdog: {what} did not finish within {limit:?}"))
}

#[test]
fn each_system_runs_exactly_once_per_tick_and_batches_are_ordered() {
    // Mixed conflicts: several batches.
    let plan = one_stage(vec![
        access(&[], &[0]),
        access(&[0], &[]),
        access(&[1], &[]),
        access(&[], &[1]),
        access(&[2], &[3]),
        access(&[], &[]),
        access(&[0, 1], &[2]),
        access(&[3], &[]),
    ]);
    let stage = &plan.stages()[0];
    assert!(stage.batches().len() >= 2);
    let mut batch_of = vec![0; stage.systems().len()];
    for (b, batch) in stage.batches().iter().enumerate() {
        for &s in batch.systems() {
            batch_of[s] = b;
        }
    }

    for scheduler in [Scheduler::single_threaded(), pool(1), pool(2), pool(4)] {
        let counts: Vec<AtomicUsize> = (0..8).map(|_| AtomicUsize::new(0)).collect();
        let clock = AtomicUsize::new(0);
        let spans: Vec<Mutex<Vec<(usize, usize)>>> =
            (0..8).map(|_| Mutex::new(Vec::new())).collect();
        for _tick in 0..20 {
            let mut closures: Vec<Boxed<'_>> = (0..8)
                .map(|i| {
                    let (counts, clock, spans) = (&counts, &clock, &spans);
                    Box::new(move || {
                        let start = clock.fetch_add(1, Ordering::SeqCst);
                        counts[i].fetch_add(1, Ordering::SeqCst);
                        let end = clock.fetch_add(1, Ordering::SeqCst);
                        spans[i].lock().unwrap().push((start, end));
                        Ok(())
                    }) as Boxed<'_>
                })
                .collect();
            run(&scheduler, stage, &mut closures).unwrap();
            for (i, c) in counts.iter().enumerate() {
                assert_eq!(
                    c.load(Ordering::SeqCst),
                    _tick + 1,
                    "system {i} with {scheduler:?}"
                );
            }
        }
        // Within a tick, every system of batch k ends before any of batch k+1 starts.
        for tick in 0..20 {
            for x in 0..8 {
                for y in 0..8 {
                    if batch_of[x] < batch_of[y] {
                        let ex = spans[x].lock().unwrap()[tick].1;
                        let sy = spans[y].lock().unwrap()[tick].0;
                        assert!(
                            ex < sy,
                            "sys{x} (batch {}) overlapped sys{y} (batch {})",
                            batch_of[x],
                            batch_of[y]
                        );
                    }
                }
            }
        }
    }
}

#[test]
fn systems_of_one_batch_run_at_the_same_time() {
    let plan = Arc::new(one_stage(vec![access(&[0], &[]), access(&[0], &[])]));
    assert_eq!(plan.stages()[0].batches().len(), 1);
    let scheduler = parallel_pool(2);
    for tick in 0..5 {
        let (plan, scheduler) = (Arc::clone(&plan), scheduler.clone());
        within(
            Duration::from_secs(20),
            "two systems meeting on a barrier",
            move || {
                let barrier = Barrier::new(2);
                let mut closures: Vec<Boxed<'_>> = (0..2)
                    .map(|_| {
                        let barrier = &barrier;
                        Box::new(move || {
                            barrier.wait();
                            Ok(())
                        }) as Boxed<'_>
                    })
                    .collect();
                run(&scheduler, &plan.stages()[0], &mut closures)
            },
        )
        .unwrap_or_else(|e| panic!("tick {tick}: {e}"));
    }
}

#[test]
fn the_calling_thread_takes_part_in_a_batch() {
    // Three systems must meet on a barrier, the pool has two threads: only
    // possible when the calling thread runs one of them.
    let plan = Arc::new(one_stage(vec![access(&[], &[]); 3]));
    let scheduler = parallel_pool(2);
    let caller = within(
        Duration::from_secs(20),
        "three systems on two workers + caller",
        move || {
            let barrier = Barrier::new(3);
            let me = thread::current().id();
            let on_caller = AtomicUsize::new(0);
            let mut closures: Vec<Boxed<'_>> = (0..3)
                .map(|_| {
                    let (barrier, on_caller) = (&barrier, &on_caller);
                    Box::new(move || {
                        if thread::current().id() == me {
                            on_caller.fetch_add(1, Ordering::SeqCst);
                        }
                        barrier.wait();
                        Ok(())
                    }) as Boxed<'_>
                })
                .collect();
            run(&scheduler, &plan.stages()[0], &mut closures).unwrap();
            drop(closures);
            on_caller.load(Ordering::SeqCst)
        },
    );
    assert_eq!(caller, 1);
}

#[test]
fn a_batch_of_one_runs_inline_on_the_calling_thread() {
    let plan = one_stage(vec![access(&[], &[0]), access(&[], &[0])]);
    let stage = &plan.stages()[0];
    assert_eq!(stage.batches().len(), 2);
    let scheduler = pool(2);
    let me = thread::current().id();
    let inline = AtomicUsize::new(0);
    let mut closures: Vec<Boxed<'_>> = (0..2)
        .map(|_| {
            let inline = &inline;
            Box::new(move || {
                if thread::current().id() == me {
                    inline.fetch_add(1, Ordering::SeqCst);
                }
                Ok(())
            }) as Boxed<'_>
        })
        .collect();
    run(&scheduler, stage, &mut closures).unwrap();
    drop(closures);
    assert_eq!(inline.load(Ordering::SeqCst), 2);
}

#[test]
fn scheduling_from_inside_the_pool_still_runs_in_parallel() {
    let pool = Arc::new(ThreadPool::new(2).unwrap());
    let scheduler = Scheduler::new(Arc::clone(&pool)).with_dispatch(Dispatch::AlwaysParallel);
    let plan = Arc::new(one_stage(vec![access(&[], &[]); 2]));
    within(
        Duration::from_secs(20),
        "rendezvous from a worker thread",
        move || {
            pool.install(|| {
                let barrier = Barrier::new(2);
                let mut closures: Vec<Boxed<'_>> = (0..2)
                    .map(|_| {
                        let barrier = &barrier;
                        Box::new(move || {
                            barrier.wait();
                            Ok(())
                        }) as Boxed<'_>
                    })
                    .collect();
                run(&scheduler, &plan.stages()[0], &mut closures)
            })
        },
    )
    .unwrap();
}

/// A rendezvous of `n` that gives up after `limit` (returns `false`).
struct TimedRendezvous {
    arrived: Mutex<usize>,
    all: Condvar,
    n: usize,
}

impl TimedRendezvous {
    fn wait(&self, limit: Duration) -> bool {
        let mut arrived = self.arrived.lock().unwrap();
        *arrived += 1;
        self.all.notify_all();
        let (arrived, timeout) = self
            .all
            .wait_timeout_while(arrived, limit, |a| *a < self.n)
            .unwrap();
        drop(arrived);
        !timeout.timed_out()
    }
}

#[test]
fn single_threaded_mode_runs_a_batch_sequentially() {
    // The control for the rendezvous tests: without parallelism the
    // rendezvous is never reached, so those tests can fail.
    let plan = one_stage(vec![access(&[0], &[]), access(&[0], &[])]);
    let meet = TimedRendezvous {
        arrived: Mutex::new(0),
        all: Condvar::new(),
        n: 2,
    };
    let met = AtomicUsize::new(0);
    let me = thread::current().id();
    let mut closures: Vec<Boxed<'_>> = (0..2)
        .map(|_| {
            let (meet, met) = (&meet, &met);
            Box::new(move || {
                assert_eq!(thread::current().id(), me);
                if meet.wait(Duration::from_millis(100)) {
                    met.fetch_add(1, Ordering::SeqCst);
                }
                Ok(())
            }) as Boxed<'_>
        })
        .collect();
    run(
        &Scheduler::single_threaded(),
        &plan.stages()[0],
        &mut closures,
    )
    .unwrap();
    drop(closures);
    // The first system gave up waiting; the second found it had arrived.
    assert_eq!(met.load(Ordering::SeqCst), 1);
}

#[test]
fn conflicting_systems_never_overlap() {
    // Per resource: readers and writers in flight.
    struct Guard {
        readers: [AtomicUsize; 4],
        writers: [AtomicUsize; 4],
        violations: AtomicUsize,
    }
    let specs: Vec<(Vec<usize>, Vec<usize>)> = vec![
        (vec![], vec![0]),
        (vec![0], vec![]),
        (vec![], vec![0]),
        (vec![1], vec![2]),
        (vec![2], vec![]),
        (vec![], vec![1, 3]),
        (vec![3], vec![]),
        (vec![0, 1], vec![]),
        (vec![], vec![2]),
        (vec![], vec![]),
        (vec![], vec![3]),
        (vec![1], vec![]),
    ];
    let plan = one_stage(specs.iter().map(|(r, w)| access(r, w)).collect());
    for scheduler in [pool(2), pool(4)] {
        let guard = Guard {
            readers: Default::default(),
            writers: Default::default(),
            violations: AtomicUsize::new(0),
        };
        for _ in 0..10 {
            let mut closures: Vec<Boxed<'_>> = specs
                .iter()
                .map(|(reads, writes)| {
                    let guard = &guard;
                    Box::new(move || {
                        for &w in writes {
                            if guard.writers[w].fetch_add(1, Ordering::SeqCst) != 0
                                || guard.readers[w].load(Ordering::SeqCst) != 0
                            {
                                guard.violations.fetch_add(1, Ordering::SeqCst);
                            }
                        }
                        for &r in reads {
                            guard.readers[r].fetch_add(1, Ordering::SeqCst);
                            if guard.writers[r].load(Ordering::SeqCst) != 0 {
                                guard.violations.fetch_add(1, Ordering::SeqCst);
                            }
                        }
                        thread::sleep(Duration::from_micros(300));
                        for &w in writes {
                            guard.writers[w].fetch_sub(1, Ordering::SeqCst);
                        }
                        for &r in reads {
                            guard.readers[r].fetch_sub(1, Ordering::SeqCst);
                        }
                        Ok(())
                    }) as Boxed<'_>
                })
                .collect();
            run(&scheduler, &plan.stages()[0], &mut closures).unwrap();
        }
        assert_eq!(guard.violations.load(Ordering::SeqCst), 0, "{scheduler:?}");
    }
}

#[test]
fn a_panicking_system_is_reported_and_the_next_tick_runs() {
    // sys0..sys2 share batch 0; sys3 (writes what sys0 reads) is batch 1.
    let plan = one_stage(vec![
        access(&[0], &[]),
        access(&[], &[]),
        access(&[], &[]),
        access(&[], &[0]),
    ]);
    let stage = &plan.stages()[0];
    assert_eq!(stage.batches().len(), 2);
    for scheduler in [pool(2), Scheduler::single_threaded()] {
        let counts: Vec<AtomicUsize> = (0..4).map(|_| AtomicUsize::new(0)).collect();
        let armed = AtomicBool::new(true);
        for tick in 0..3 {
            let mut closures: Vec<Boxed<'_>> = (0..4)
                .map(|i| {
                    let (counts, armed) = (&counts, &armed);
                    Box::new(move || {
                        counts[i].fetch_add(1, Ordering::SeqCst);
                        if i == 1 && armed.swap(false, Ordering::SeqCst) {
                            panic!("sys1 exploded on purpose");
                        }
                        thread::sleep(Duration::from_millis(2));
                        Ok(())
                    }) as Boxed<'_>
                })
                .collect();
            let result = run(&scheduler, stage, &mut closures);
            if tick == 0 {
                let err = result.unwrap_err();
                match &err {
                    ScheduleError::SystemPanicked {
                        stage,
                        system,
                        message,
                    } => {
                        assert_eq!((stage.as_str(), system.as_str()), ("stage", "sys1"));
                        assert_eq!(message, "sys1 exploded on purpose");
                    }
                    other => panic!("expected SystemPanicked, got {other:?}"),
                }
                assert_eq!(err.system(), Some("sys1"));
                assert!(err.to_string().contains("`sys1`") && err.to_string().contains("`stage`"));
                // The rest of the batch finished; the next batch did not run.
                let c: Vec<usize> = counts.iter().map(|c| c.load(Ordering::SeqCst)).collect();
                assert_eq!(c, [1, 1, 1, 0], "{scheduler:?}");
            } else {
                result.unwrap();
            }
        }
        let c: Vec<usize> = counts.iter().map(|c| c.load(Ordering::SeqCst)).collect();
        assert_eq!(c, [3, 3, 3, 2], "{scheduler:?}");
    }
}

#[derive(Debug)]
struct Oops(u32);
impl std::fmt::Display for Oops {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "oops #{}", self.0)
    }
}
impl std::error::Error for Oops {}

#[test]
fn an_error_names_system_and_stage() {
    let plan = Plan::build([
        StageDescriptor::new("first"),
        StageDescriptor::new("physics")
            .after("first")
            .with_system(SystemDescriptor::new("integrate", access(&[], &[0])))
            .with_system(SystemDescriptor::new("collide", access(&[], &[])))
            .with_system(SystemDescriptor::new("broadphase", access(&[], &[])))
            .with_system(SystemDescriptor::new("resolve", access(&[0], &[]))),
    ])
    .unwrap();
    let stage = plan.stage("physics").unwrap();
    for scheduler in [pool(2), Scheduler::single_threaded()] {
        let ran = AtomicUsize::new(0);
        let mut closures: Vec<Boxed<'_>> = (0..4)
            .map(|i| {
                let ran = &ran;
                Box::new(move || {
                    ran.fetch_add(1, Ordering::SeqCst);
                    match i {
                        // Two failures in one batch: the first declared is reported.
                        1 => Err(Box::new(Oops(1)) as BoxError),
                        2 => Err(Box::new(Oops(2)) as BoxError),
                        _ => Ok(()),
                    }
                }) as Boxed<'_>
            })
            .collect();
        let err = run(&scheduler, stage, &mut closures).unwrap_err();
        drop(closures);
        match &err {
            ScheduleError::SystemFailed {
                stage,
                system,
                source,
            } => {
                assert_eq!((stage.as_str(), system.as_str()), ("physics", "collide"));
                assert_eq!(source.to_string(), "oops #1");
            }
            other => panic!("expected SystemFailed, got {other:?}"),
        }
        assert_eq!(
            err.to_string(),
            "system `collide` in stage `physics` failed: oops #1"
        );
        assert_eq!(
            std::error::Error::source(&err).unwrap().to_string(),
            "oops #1"
        );
        // Batch 0 (`integrate`, `collide`, `broadphase`) ran to the end;
        // `resolve` (batch 1, reads what `integrate` writes) was not reached.
        assert_eq!(stage.batches()[0].systems(), [0, 1, 2]);
        assert_eq!(ran.load(Ordering::SeqCst), 3);
    }
}

#[test]
fn a_wrong_task_count_is_an_error() {
    let plan = one_stage(vec![access(&[], &[]); 3]);
    let mut closures: Vec<Boxed<'_>> = vec![Box::new(|| Ok(()))];
    let err = run(&pool(1), &plan.stages()[0], &mut closures).unwrap_err();
    assert!(
        matches!(
            err,
            ScheduleError::TaskCountMismatch {
                expected: 3,
                found: 1,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("3 systems but 1 tasks"));
}

/// A tiny deterministic "world": four cells; system `i` writes
/// `cells[w] = mix(cells[w], cells[r]...)` for its declared accesses.
fn simulate(scheduler: &Scheduler, ticks: usize) -> [u64; 4] {
    let specs: Vec<(Vec<usize>, Vec<usize>)> = vec![
        (vec![1], vec![0]),
        (vec![0], vec![2]),
        (vec![3], vec![1]),
        (vec![], vec![3]),
        (vec![0, 2], vec![1]),
        (vec![1], vec![3]),
        (vec![2, 3], vec![0]),
    ];
    let plan = Plan::build([
        StageDescriptor::new("a").with_systems(
            specs
                .iter()
                .enumerate()
                .map(|(i, (r, w))| SystemDescriptor::new(format!("a{i}"), access(r, w))),
        ),
        StageDescriptor::new("b").after("a").with_systems(
            specs
                .iter()
                .rev()
                .enumerate()
                .map(|(i, (r, w))| SystemDescriptor::new(format!("b{i}"), access(r, w))),
        ),
    ])
    .unwrap();
    let cells: [Mutex<u64>; 4] = [Mutex::new(1), Mutex::new(2), Mutex::new(3), Mutex::new(4)];
    for tick in 0..ticks {
        for stage in plan.stages() {
            let order: Vec<&(Vec<usize>, Vec<usize>)> = if stage.name() == "a" {
                specs.iter().collect()
            } else {
                specs.iter().rev().collect()
            };
            let mut closures: Vec<Boxed<'_>> = order
                .into_iter()
                .enumerate()
                .map(|(k, (reads, writes))| {
                    let cells = &cells;
                    Box::new(move || {
                        let mut acc = (tick as u64) * 31 + k as u64;
                        for &r in reads {
                            acc = acc
                                .wrapping_mul(6364136223846793005)
                                .wrapping_add(*cells[r].lock().unwrap());
                        }
                        for &w in writes {
                            let mut cell = cells[w].lock().unwrap();
                            *cell = cell.rotate_left(7) ^ acc;
                        }
                        Ok(())
                    }) as Boxed<'_>
                })
                .collect();
            run(scheduler, stage, &mut closures).unwrap();
        }
    }
    cells.map(|c| c.into_inner().unwrap())
}

#[test]
fn single_threaded_and_pooled_runs_give_the_same_state() {
    let expected = simulate(&Scheduler::single_threaded(), 50);
    for threads in [1, 2, 8] {
        assert_eq!(simulate(&pool(threads), 50), expected, "{threads} threads");
    }
}

#[test]
fn the_observer_sees_every_system_and_stage() {
    #[derive(Default)]
    struct Log {
        systems: Mutex<Vec<(String, usize, bool, SystemOutcome)>>,
        stages: Mutex<Vec<(String, usize, bool)>>,
    }
    impl SchedulerObserver for Log {
        fn on_system(&self, r: &SystemReport<'_>) {
            assert!(
                r.duration >= Duration::from_millis(1) || r.outcome != SystemOutcome::Completed
            );
            self.systems.lock().unwrap().push((
                r.system.to_owned(),
                r.slot.0,
                r.parallel,
                r.outcome,
            ));
        }
        fn on_stage(&self, r: &StageReport<'_>) {
            self.stages
                .lock()
                .unwrap()
                .push((r.stage.to_owned(), r.batches_run, r.succeeded));
        }
    }
    let plan = one_stage(vec![
        access(&[], &[0]),
        access(&[], &[1]),
        access(&[0], &[]),
    ]);
    let log = Arc::new(Log::default());
    let scheduler = parallel_pool(2).with_observer(log.clone());
    let mut closures: Vec<Boxed<'_>> = (0..3)
        .map(|_| {
            Box::new(|| {
                thread::sleep(Duration::from_millis(1));
                Ok(())
            }) as Boxed<'_>
        })
        .collect();
    run(&scheduler, &plan.stages()[0], &mut closures).unwrap();
    let mut systems = log.systems.lock().unwrap().clone();
    systems.sort_by_key(|s| s.1);
    assert_eq!(
        systems,
        [
            ("sys0".to_owned(), 0, true, SystemOutcome::Completed),
            ("sys1".to_owned(), 1, true, SystemOutcome::Completed),
            ("sys2".to_owned(), 2, false, SystemOutcome::Completed),
        ]
    );
    assert_eq!(*log.stages.lock().unwrap(), [("stage".to_owned(), 2, true)]);
}

#[test]
fn empty_stage_and_global_scheduler() {
    let plan = Plan::build([StageDescriptor::new("empty")]).unwrap();
    Scheduler::global()
        .run_stage(&plan.stages()[0], &mut [])
        .unwrap();
    assert!(Scheduler::global().parallelism() >= 2);
    assert_eq!(Scheduler::single_threaded().parallelism(), 1);
}

/// A minimal `tracing` subscriber that records span names, their `stage` /
/// `system` fields and their parents.
mod spans {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::Mutex;

    use tracing::field::{Field, Visit};
    use tracing::span::{Attributes, Id, Record};
    use tracing::{Event, Metadata, Subscriber};

    #[derive(Debug, Clone, PartialEq, Eq)]
    pub(crate) struct SpanInfo {
        pub(crate) id: u64,
        pub(crate) name: &'static str,
        pub(crate) label: String,
        pub(crate) parent: Option<u64>,
    }

    #[derive(Default)]
    pub(crate) struct Recorder {
        next: AtomicU64,
        pub(crate) spans: Mutex<Vec<SpanInfo>>,
        current: Mutex<Vec<(std::thread::ThreadId, u64)>>,
    }

    struct Label(String);
    impl Visit for Label {
        fn record_str(&mut self, _field: &Field, value: &str) {
            self.0 = value.to_owned();
        }
        fn record_debug(&mut self, _field: &Field, value: &dyn std::fmt::Debug) {
            self.0 = format!("{value:?}");
        }
    }

    impl Subscriber for Recorder {
        fn enabled(&self, _: &Metadata<'_>) -> bool {
            true
        }
        fn new_span(&self, attrs: &Attributes<'_>) -> Id {
            let id = self.next.fetch_add(1, Ordering::SeqCst) + 1;
            let mut label = Label(String::new());
            attrs.record(&mut label);
            let parent = attrs.parent().map(Id::into_u64).or_else(|| {
                if attrs.is_contextual() {
                    let me = std::thread::current().id();
                    let current = self.current.lock().unwrap();
                    current
                        .iter()
                        .rev()
                        .find(|(t, _)| *t == me)
                        .map(|&(_, s)| s)
                } else {
                    None
                }
            });
            self.spans.lock().unwrap().push(SpanInfo {
                id,
                name: attrs.metadata().name(),
                label: label.0,
                parent,
            });
            Id::from_u64(id)
        }
        fn record(&self, _: &Id, _: &Record<'_>) {}
        fn record_follows_from(&self, _: &Id, _: &Id) {}
        fn event(&self, _: &Event<'_>) {}
        fn enter(&self, span: &Id) {
            self.current
                .lock()
                .unwrap()
                .push((std::thread::current().id(), span.into_u64()));
        }
        fn exit(&self, span: &Id) {
            let me = std::thread::current().id();
            let mut current = self.current.lock().unwrap();
            if let Some(pos) = current
                .iter()
                .rposition(|&(t, s)| t == me && s == span.into_u64())
            {
                current.remove(pos);
            }
        }
    }
}

#[test]
fn stages_and_systems_get_tracing_spans() {
    // A global subscriber (a thread-local one would not see the pool's
    // threads); other tests of this binary may add spans, so only the spans
    // of the uniquely named stage are checked.
    let recorder = Arc::new(spans::Recorder::default());
    tracing::subscriber::set_global_default(Arc::clone(&recorder))
        .expect("no other test of this binary installs a subscriber");
    let plan = Plan::build([StageDescriptor::new("traced").with_systems(
        [access(&[], &[0]), access(&[], &[1]), access(&[0], &[])]
            .into_iter()
            .enumerate()
            .map(|(i, a)| SystemDescriptor::new(format!("traced{i}"), a)),
    )])
    .unwrap();
    let scheduler = pool(2);
    for _ in 0..3 {
        let mut closures: Vec<Boxed<'_>> = (0..3)
            .map(|_| {
                Box::new(|| {
                    thread::sleep(Duration::from_millis(1));
                    Ok(())
                }) as Boxed<'_>
            })
            .collect();
        run(&scheduler, &plan.stages()[0], &mut closures).unwrap();
    }
    let spans = recorder.spans.lock().unwrap().clone();
    let stages: Vec<_> = spans
        .iter()
        .filter(|s| s.name == "stage" && s.label == "traced")
        .collect();
    assert_eq!(stages.len(), 3, "{spans:?}");
    for stage in stages {
        let mut systems: Vec<&str> = spans
            .iter()
            .filter(|s| s.name == "system" && s.parent == Some(stage.id))
            .map(|s| s.label.as_str())
            .collect();
        systems.sort_unstable();
        // Every system span, on whichever thread, is a child of its stage span.
        assert_eq!(systems, ["traced0", "traced1", "traced2"], "{spans:?}");
    }
}
