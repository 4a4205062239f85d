//! `Scheduler::run_layer`: stages of one topological layer whose accesses
//! do not conflict run at the same time; conflicting ones keep their order.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Condvar, Mutex};
use std::thread;
use std::time::Duration;

use macrokid_core::{Plan, ResourceAccess, ResourceId, StageDescriptor, SystemDescriptor};
use macrokid_threads::{BoxError, ScheduleError, Scheduler, StageTasks, SystemTask, ThreadPool};

type Boxed<'a> = Box<dyn FnMut() -> Result<(), BoxError> + Send + 'a>;

struct A;
struct B;

/// Three stages without ordering between them (one layer): `left` writes
/// `A`, `right` writes `B`, `late` reads `A` (conflicts with `left`).
fn layer_plan() -> Plan {
    let writes = |id| ResourceAccess::new().with_write(id);
    Plan::build([
        StageDescriptor::new("left").with_system(SystemDescriptor::new(
            "left_sys",
            writes(ResourceId::of::<A>()),
        )),
        StageDescriptor::new("right").with_system(SystemDescriptor::new(
            "right_sys",
            writes(ResourceId::of::<B>()),
        )),
        StageDescriptor::new("late").with_system(SystemDescriptor::new(
            "late_sys",
            ResourceAccess::new().with_read(ResourceId::of::<A>()),
        )),
    ])
    .unwrap()
}

/// A rendezvous of `n` that gives up after `limit`.
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
        let (_arrived, timeout) = self
            .all
            .wait_timeout_while(arrived, limit, |a| *a < self.n)
            .unwrap();
        !timeout.timed_out()
    }
}

fn tasks<'a, 'b>(closures: &'a mut [Boxed<'b>]) -> Vec<SystemTask<'a>> {
    closures
        .iter_mut()
        .map(|c| &mut **c as SystemTask<'a>)
        .collect()
}

/// Runs the layer with `left` and `right` meeting on a rendezvous and
/// `late` recording whether `left` had finished; returns (meetings, late
/// ran after left).
fn run_layer_once(scheduler: &Scheduler, plan: &Plan, limit: Duration) -> (usize, bool) {
    assert_eq!(plan.topo_groups(), [["left", "right", "late"]]);
    let meet = TimedRendezvous {
        arrived: Mutex::new(0),
        all: Condvar::new(),
        n: 2,
    };
    let met = AtomicUsize::new(0);
    let left_done = AtomicUsize::new(0);
    let late_saw_left = AtomicUsize::new(0);
    let mut left: Vec<Boxed<'_>> = vec![Box::new(|| {
        if meet.wait(limit) {
            met.fetch_add(1, Ordering::SeqCst);
        }
        left_done.store(1, Ordering::SeqCst);
        Ok(())
    })];
    let mut right: Vec<Boxed<'_>> = vec![Box::new(|| {
        if meet.wait(limit) {
            met.fetch_add(1, Ordering::SeqCst);
        }
        Ok(())
    })];
    let mut late: Vec<Boxed<'_>> = vec![Box::new(|| {
        late_saw_left.store(left_done.load(Ordering::SeqCst), Ordering::SeqCst);
        Ok(())
    })];
    let (mut l, mut r, mut t) = (tasks(&mut left), tasks(&mut right), tasks(&mut late));
    let stages = plan.stages();
    scheduler
        .run_layer(&mut [
            StageTasks::new(&stages[0], &mut l),
            StageTasks::new(&stages[1], &mut r),
            StageTasks::new(&stages[2], &mut t),
        ])
        .unwrap();
    drop((l, r, t));
    drop((left, right, late));
    (
        met.load(Ordering::SeqCst),
        late_saw_left.load(Ordering::SeqCst) == 1,
    )
}

#[test]
fn compatible_stages_of_a_layer_run_at_the_same_time() {
    let plan = Arc::new(layer_plan());
    let scheduler = Scheduler::new(Arc::new(ThreadPool::new(2).unwrap()));
    let (tx, rx) = mpsc::channel();
    {
        let plan = Arc::clone(&plan);
        thread::spawn(move || {
            for _ in 0..5 {
                let _ = tx.send(run_layer_once(&scheduler, &plan, Duration::from_secs(10)));
            }
        });
    }
    for tick in 0..5 {
        let (met, ordered) = rx
            .recv_timeout(Duration::from_secs(30))
            .expect("watchdog: the layer did not finish");
        assert_eq!(met, 2, "tick {tick}: `left` and `right` did not meet");
        assert!(ordered, "tick {tick}: `late` ran before `left` finished");
    }
}

#[test]
fn single_threaded_layers_run_in_order() {
    // The control: without a pool the rendezvous cannot happen.
    let (met, ordered) = run_layer_once(
        &Scheduler::single_threaded(),
        &layer_plan(),
        Duration::from_millis(50),
    );
    assert_eq!(met, 1);
    assert!(ordered);
}

#[test]
fn a_failing_stage_is_reported_and_task_counts_are_checked() {
    let plan = layer_plan();
    let stages = plan.stages();
    let scheduler = Scheduler::new(Arc::new(ThreadPool::new(2).unwrap()));
    let mut ok: Boxed<'_> = Box::new(|| Ok(()));
    let mut fail: Boxed<'_> = Box::new(|| Err("no".into()));
    let mut late_ran = false;
    let mut late: Boxed<'_> = Box::new(|| {
        late_ran = true;
        Ok(())
    });
    let err = scheduler
        .run_layer(&mut [
            StageTasks::new(&stages[0], &mut [&mut *fail]),
            StageTasks::new(&stages[1], &mut [&mut *ok]),
            StageTasks::new(&stages[2], &mut [&mut *late]),
        ])
        .unwrap_err();
    assert_eq!(err.stage(), Some("left"));
    assert_eq!(err.system(), Some("left_sys"));
    drop(late);
    assert!(!late_ran, "the wave after a failure must not run");

    let err = scheduler
        .run_layer(&mut [StageTasks::new(&stages[0], &mut [])])
        .unwrap_err();
    assert!(matches!(
        err,
        ScheduleError::TaskCountMismatch {
            expected: 1,
            found: 0,
            ..
        }
    ));
}

// ---------------------------------------------------------------------------
// Derived schedules: `RunSchedule::run` and `run_stages` go through
// `run_layer`.

mod derived {
    use std::sync::OnceLock;

    use macrokid_threads::{Dispatch, RunSchedule, Schedule, StandaloneSystem, System, SystemSlot};

    use super::*;

    static MEETING: OnceLock<TimedRendezvous> = OnceLock::new();

    fn meeting() -> &'static TimedRendezvous {
        MEETING.get_or_init(|| TimedRendezvous {
            arrived: Mutex::new(0),
            all: Condvar::new(),
            n: 2,
        })
    }

    #[derive(System, Default)]
    #[system(writes(A))]
    struct MeetA(bool);
    impl StandaloneSystem for MeetA {
        fn run(&mut self, _slot: SystemSlot) -> Result<(), BoxError> {
            self.0 = meeting().wait(Duration::from_secs(5));
            Ok(())
        }
    }

    #[derive(System, Default)]
    #[system(writes(B))]
    struct MeetB(bool);
    impl StandaloneSystem for MeetB {
        fn run(&mut self, _slot: SystemSlot) -> Result<(), BoxError> {
            self.0 = meeting().wait(Duration::from_secs(5));
            Ok(())
        }
    }

    #[derive(Schedule, Default)]
    struct TwoStages {
        #[stage]
        a: MeetA,
        #[stage]
        b: MeetB,
    }

    #[test]
    fn a_derived_schedules_layer_runs_together() {
        assert_eq!(TwoStages::topo_groups(), [["a", "b"]]);
        let scheduler = Scheduler::new(Arc::new(ThreadPool::new(2).unwrap()))
            .with_dispatch(Dispatch::AlwaysParallel);
        let mut schedule = TwoStages::default();
        schedule
            .run(&scheduler, &macrokid_threads::Standalone)
            .unwrap();
        assert!(
            schedule.a.0 && schedule.b.0,
            "both stages met at the rendezvous within 5 s"
        );
    }

    #[test]
    fn run_stages_checks_its_plan_and_positions() {
        let mut schedule = TwoStages::default();
        let scheduler = Scheduler::single_threaded();
        let cx = macrokid_threads::Standalone;
        let err = schedule
            .run_stages(&scheduler, TwoStages::plan(), &[0, 0], &cx)
            .unwrap_err();
        assert!(matches!(err, ScheduleError::PlanMismatch { .. }), "{err}");
        assert!(err.to_string().contains("listed twice"), "{err}");
        let err = schedule
            .run_stages(&scheduler, TwoStages::plan(), &[2], &cx)
            .unwrap_err();
        assert!(matches!(
            err,
            ScheduleError::StageIndexOutOfRange {
                index: 2,
                stages: 2
            }
        ));
        let foreign = layer_plan();
        let err = schedule
            .run_stages(&scheduler, &foreign, &[0], &cx)
            .unwrap_err();
        assert!(matches!(err, ScheduleError::PlanMismatch { .. }), "{err}");
        // A refined copy of its own plan is accepted (nothing is asked to
        // run: the systems would wait at the rendezvous).
        let refined = TwoStages::plan().refine(|_, s| s.access.clone());
        schedule.run_stages(&scheduler, &refined, &[], &cx).unwrap();
    }
}
