//! Cost-aware dispatch: cheap batches run inline on the calling thread once
//! their cost is known, costly batches keep running in parallel, and
//! `Dispatch::AlwaysParallel` forces parallel runs.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Condvar, Mutex};
use std::thread;
use std::time::Duration;

use macrokid_core::{Plan, ResourceAccess, StageDescriptor, StagePlan, SystemDescriptor};
use macrokid_threads::{
    BoxError, Dispatch, Scheduler, SchedulerObserver, SystemReport, SystemTask, ThreadPool,
};

type Boxed<'a> = Box<dyn FnMut() -> Result<(), BoxError> + Send + 'a>;

fn one_batch(n: usize) -> Plan {
    Plan::build([StageDescriptor::new("tick").with_systems(
        (0..n).map(|i| SystemDescriptor::new(format!("sys{i}"), ResourceAccess::new())),
    )])
    .unwrap()
}

fn run(scheduler: &Scheduler, stage: &StagePlan, closures: &mut [Boxed<'_>]) {
    let mut tasks: Vec<SystemTask<'_>> = closures
        .iter_mut()
        .map(|c| &mut **c as SystemTask<'_>)
        .collect();
    scheduler.run_stage(stage, &mut tasks).unwrap();
}

fn pool(threads: usize) -> Scheduler {
    Scheduler::new(Arc::new(ThreadPool::new(threads).unwrap()))
}

/// Counts the system runs reported as parallel and as inline.
#[derive(Default)]
struct Modes {
    parallel: AtomicUsize,
    inline: AtomicUsize,
}

impl Modes {
    fn take(&self) -> (usize, usize) {
        (
            self.parallel.swap(0, Ordering::SeqCst),
            self.inline.swap(0, Ordering::SeqCst),
        )
    }
}

impl SchedulerObserver for Modes {
    fn on_system(&self, report: &SystemReport<'_>) {
        let counter = if report.parallel {
            &self.parallel
        } else {
            &self.inline
        };
        counter.fetch_add(1, Ordering::SeqCst);
    }
}

/// A rendezvous of `n` for one tick that gives up after `limit`.
struct TimedRendezvous {
    arrived: Mutex<usize>,
    all: Condvar,
    n: usize,
}

impl TimedRendezvous {
    fn new(n: usize) -> Self {
        Self {
            arrived: Mutex::new(0),
            all: Condvar::new(),
            n,
        }
    }

    fn wait(&self, limit: Duration) -> bool {
        let mut arrived = self.arrived.lock().unwrap();
        *arrived += 1;
        self.all.notify_all();
        let (_arrived, timeout) = self
            .all
            .wait_timeout_while(arrived, limit, |a| *a < self.n)
            .unwrap();
        !timeout.timed_out()
    }
}

#[test]
fn a_cheap_batch_runs_inline_in_declaration_order_once_its_cost_is_known() {
    let plan = one_batch(32);
    let stage = &plan.stages()[0];
    let modes = Arc::new(Modes::default());
    // A generous threshold, so that a preempted first run on a loaded
    // machine still counts as cheap.
    let threshold = Duration::from_millis(50);
    let scheduler = pool(2)
        .with_inline_threshold(threshold)
        .with_observer(modes.clone());
    let order = Mutex::new(Vec::new());
    let me = thread::current().id();
    let off_caller = AtomicUsize::new(0);
    let mut closures: Vec<Boxed<'_>> = (0..32)
        .map(|i| {
            let (order, off_caller) = (&order, &off_caller);
            Box::new(move || {
                if thread::current().id() != me {
                    off_caller.fetch_add(1, Ordering::SeqCst);
                }
                order.lock().unwrap().push(i);
                Ok(())
            }) as Boxed<'_>
        })
        .collect();

    // Never seen: parallel, and its cost is learnt.
    assert_eq!(scheduler.batch_cost(stage, 0), None);
    run(&scheduler, stage, &mut closures);
    assert_eq!(modes.take(), (32, 0));
    let learnt = scheduler
        .batch_cost(stage, 0)
        .expect("a cost after one run");
    assert!(learnt < threshold, "{learnt:?}");

    // Known to be cheap: inline, on this thread, in declaration order.
    order.lock().unwrap().clear();
    off_caller.store(0, Ordering::SeqCst);
    for _ in 0..10 {
        run(&scheduler, stage, &mut closures);
    }
    assert_eq!(modes.take(), (0, 320));
    assert_eq!(off_caller.load(Ordering::SeqCst), 0);
    let expected: Vec<usize> = (0..10).flat_map(|_| 0..32).collect();
    assert_eq!(*order.lock().unwrap(), expected);
}

#[test]
fn a_costly_batch_keeps_running_in_parallel() {
    // Two systems of 2 ms each that must also meet: run inline, the first
    // would give up waiting and the test would fail.
    let plan = one_batch(2);
    let stage = &plan.stages()[0];
    let modes = Arc::new(Modes::default());
    let scheduler = pool(2).with_observer(modes.clone());
    for tick in 0..5 {
        let meet = TimedRendezvous::new(2);
        let met = AtomicUsize::new(0);
        let mut closures: Vec<Boxed<'_>> = (0..2)
            .map(|_| {
                let (meet, met) = (&meet, &met);
                Box::new(move || {
                    thread::sleep(Duration::from_millis(2));
                    if meet.wait(Duration::from_secs(10)) {
                        met.fetch_add(1, Ordering::SeqCst);
                    }
                    Ok(())
                }) as Boxed<'_>
            })
            .collect();
        run(&scheduler, stage, &mut closures);
        drop(closures);
        assert_eq!(met.load(Ordering::SeqCst), 2, "tick {tick}");
    }
    assert_eq!(modes.take(), (10, 0));
    assert!(scheduler.batch_cost(stage, 0).unwrap() >= Duration::from_millis(4));
}

#[test]
fn always_parallel_forces_concurrency_for_cheap_batches() {
    let plan = Arc::new(one_batch(2));
    let scheduler = pool(2).with_dispatch(Dispatch::AlwaysParallel);
    assert_eq!(scheduler.dispatch(), Dispatch::AlwaysParallel);
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        for _ in 0..20 {
            let meet = TimedRendezvous::new(2);
            let met = AtomicUsize::new(0);
            let mut closures: Vec<Boxed<'_>> = (0..2)
                .map(|_| {
                    let (meet, met) = (&meet, &met);
                    Box::new(move || {
                        if meet.wait(Duration::from_secs(10)) {
                            met.fetch_add(1, Ordering::SeqCst);
                        }
                        Ok(())
                    }) as Boxed<'_>
                })
                .collect();
            run(&scheduler, &plan.stages()[0], &mut closures);
            drop(closures);
            tx.send(met.load(Ordering::SeqCst)).unwrap();
        }
    });
    for tick in 0..20 {
        let met = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("watchdog: a tick did not finish");
        assert_eq!(met, 2, "tick {tick}");
    }
}

#[test]
fn the_threshold_decides() {
    // With a zero threshold every known batch is worth the pool; with the
    // largest, none is.
    let plan = one_batch(4);
    let stage = &plan.stages()[0];
    for (threshold, expected) in [(Duration::ZERO, (4, 0)), (Duration::MAX, (0, 4))] {
        let modes = Arc::new(Modes::default());
        let scheduler = pool(2)
            .with_inline_threshold(threshold)
            .with_observer(modes.clone());
        assert_eq!(scheduler.inline_threshold(), threshold);
        let mut closures: Vec<Boxed<'_>> = (0..4)
            .map(|_| {
                Box::new(|| {
                    thread::sleep(Duration::from_micros(100));
                    Ok(())
                }) as Boxed<'_>
            })
            .collect();
        run(&scheduler, stage, &mut closures);
        modes.take();
        run(&scheduler, stage, &mut closures);
        assert_eq!(modes.take(), expected, "threshold {threshold:?}");
    }
}

#[test]
fn single_threaded_mode_learns_nothing() {
    assert_eq!(
        Scheduler::single_threaded().inline_threshold(),
        macrokid_threads::DEFAULT_INLINE_THRESHOLD
    );
    let plan = one_batch(3);
    let stage = &plan.stages()[0];
    let scheduler = Scheduler::single_threaded();
    let mut closures: Vec<Boxed<'_>> = (0..3).map(|_| Box::new(|| Ok(())) as Boxed<'_>).collect();
    run(&scheduler, stage, &mut closures);
    assert_eq!(scheduler.batch_cost(stage, 0), None);
    assert_eq!(scheduler.batch_cost(stage, 7), None);
}
