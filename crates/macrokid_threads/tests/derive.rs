//! What the derives generate, checked from the outside: system metadata and
//! markers, job wiring, and derived schedules planned and run.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use macrokid_threads::{
    BoxError, Job, JobContext, JobRun, Priority, Reads, ResourceAccess, ResourceId, RunSchedule,
    RunSystem, Schedule, ScheduleError, Scheduler, Standalone, StandaloneSystem, System,
    SystemSlot, ThreadPool, Writes,
};

// --- data -------------------------------------------------------------------

struct Position;
struct Velocity;
struct Time;
struct Input;
struct Instances;
struct Contacts;

// --- systems ----------------------------------------------------------------

#[derive(System, Default)]
#[system(writes(Input))]
struct PollInput;

#[derive(System, Default)]
#[system(reads(Velocity, Time), writes(Position))]
struct Integrate;

#[derive(System, Default)]
#[system(reads(Position), writes(Contacts), name = "collide")]
struct Collide;

#[derive(System, Default)]
#[system(reads(Input, Time), writes(Velocity))]
struct Steer;

#[derive(System, Default)]
#[system(reads(Position), writes(Instances))]
struct ExtractInstances;

#[derive(System, Default)]
#[system(reads(Instances))]
struct Present;

#[derive(Schedule, Default)]
struct Game {
    #[stage]
    input: (PollInput,),
    #[stage(after = "input")]
    simulate: (Integrate, Collide, Steer),
    #[stage(after = "simulate", before = "present")]
    extract: (ExtractInstances,),
    #[stage]
    present: (Present,),
}

fn ids(types: &[ResourceId]) -> Vec<&'static str> {
    types.iter().map(|id| id.short_name()).collect()
}

// --- System -------------------------------------------------------------------

#[test]
fn system_name_defaults_to_the_struct_name() {
    assert_eq!(Integrate::name(), "Integrate");
    assert_eq!(PollInput::name(), "PollInput");
}

#[test]
fn system_name_can_be_overridden() {
    assert_eq!(Collide::name(), "collide");
}

#[test]
fn system_access_lists_reads_and_writes() {
    let access = Integrate::access();
    assert_eq!(ids(access.reads()), ["Time", "Velocity"]);
    assert_eq!(ids(access.writes()), ["Position"]);
    assert_eq!(
        access,
        ResourceAccess::new()
            .with_read(ResourceId::of::<Velocity>())
            .with_read(ResourceId::of::<Time>())
            .with_write(ResourceId::of::<Position>())
    );
    assert!(Present::access().writes().is_empty());
}

#[test]
fn derived_accesses_conflict_like_declared() {
    // Integrate writes Position, Collide reads it.
    let conflict = Integrate::access()
        .conflict_with(&Collide::access())
        .unwrap();
    assert_eq!(conflict.resource, ResourceId::of::<Position>());
    // Steer writes Velocity, which Integrate reads.
    assert!(Integrate::access().conflicts_with(&Steer::access()));
    // Collide and Steer share nothing written.
    assert!(!Collide::access().conflicts_with(&Steer::access()));
}

/// The last path segment of a type name: `a::b::C<d::E>` gives `C<E>`.
fn short<T: ?Sized>() -> String {
    let full = std::any::type_name::<T>();
    let mut out = String::new();
    for part in full.split_inclusive(['<', '>', ',', ' ']) {
        out.push_str(part.rsplit("::").next().unwrap_or(part));
    }
    out
}

/// Compiles only when `S` declared a write of `W`.
fn declared_write<S: Writes<W>, W>() -> String {
    format!("{} writes {}", short::<S>(), short::<W>())
}

/// Compiles only when `S` declared a read or a write of `R`.
fn declared_read<S: Reads<R>, R>() -> String {
    format!("{} reads {}", short::<S>(), short::<R>())
}

#[test]
fn reads_and_writes_markers_are_implemented() {
    assert_eq!(
        declared_write::<Integrate, Position>(),
        "Integrate writes Position"
    );
    assert_eq!(
        declared_read::<Integrate, Velocity>(),
        "Integrate reads Velocity"
    );
    assert_eq!(declared_read::<Integrate, Time>(), "Integrate reads Time");
    // A write implies a read.
    assert_eq!(
        declared_read::<Integrate, Position>(),
        "Integrate reads Position"
    );
    assert_eq!(declared_write::<Steer, Velocity>(), "Steer writes Velocity");
}

#[derive(System)]
#[system(reads(T), writes(Vec<T>), name = "generic")]
struct Generic<T: Send + Sync + 'static> {
    _marker: std::marker::PhantomData<T>,
}

#[test]
fn generic_systems_keep_their_parameters() {
    assert_eq!(Generic::<u8>::name(), "generic");
    assert_eq!(
        Generic::<u8>::access().reads(),
        [ResourceId::of::<u8>()].as_slice()
    );
    assert_eq!(
        Generic::<u16>::access().writes(),
        [ResourceId::of::<Vec<u16>>()].as_slice()
    );
    assert_eq!(
        declared_write::<Generic<u32>, Vec<u32>>(),
        "Generic<u32> writes Vec<u32>"
    );
}

// --- Schedule: plan -------------------------------------------------------------

#[test]
fn game_topo_groups_follow_after_and_before() {
    assert_eq!(
        Game::topo_groups(),
        [["input"], ["simulate"], ["extract"], ["present"]]
    );
    let order: Vec<&str> = Game::plan().stages().iter().map(|s| s.name()).collect();
    assert_eq!(order, ["input", "simulate", "extract", "present"]);
}

#[test]
fn game_plan_is_built_once() {
    assert!(std::ptr::eq(Game::plan(), Game::plan()));
    assert_eq!(Game::plan().system_count(), 6);
}

#[test]
fn game_batches_separate_conflicting_systems() {
    let plan = Game::plan();
    let batches = |stage: &str| -> Vec<Vec<&str>> {
        let stage = plan.stage(stage).unwrap();
        stage
            .batches()
            .iter()
            .map(|b| {
                b.systems()
                    .iter()
                    .map(|&i| &*stage.systems()[i].name)
                    .collect()
            })
            .collect()
    };
    assert_eq!(batches("input"), [["PollInput"]]);
    // Integrate writes Position (Collide reads it) and reads Velocity (Steer
    // writes it): Integrate alone, then Collide and Steer together.
    assert_eq!(
        batches("simulate"),
        vec![vec!["Integrate"], vec!["collide", "Steer"]]
    );
    assert_eq!(batches("extract"), [["ExtractInstances"]]);
    assert_eq!(batches("present"), [["Present"]]);
    // Slots: stage declaration order, then system order.
    let simulate = plan.stage("simulate").unwrap();
    assert_eq!(simulate.slot(0), SystemSlot(1));
    assert_eq!(simulate.slot(2), SystemSlot(3));
}

#[derive(System, Default)]
struct Noop;

#[derive(Schedule, Default)]
struct Reordered {
    #[stage(after = "middle")]
    late: Noop,
    #[stage(name = "middle", after = "early")]
    center: (Noop, Noop),
    #[stage]
    early: (),
    #[stage(before = "early")]
    first: (Noop,),
}

#[test]
fn stages_run_in_dependency_order_not_field_order() {
    let order: Vec<&str> = Reordered::plan()
        .stages()
        .iter()
        .map(|s| s.name())
        .collect();
    assert_eq!(order, ["first", "early", "middle", "late"]);
    assert_eq!(
        Reordered::topo_groups(),
        [["first"], ["early"], ["middle"], ["late"]]
    );
    // Slots follow field (declaration) order, not execution order.
    assert_eq!(
        Reordered::plan().stage("late").unwrap().slot(0),
        SystemSlot(0)
    );
    assert_eq!(
        Reordered::plan().stage("first").unwrap().slot(0),
        SystemSlot(3)
    );
}

// --- Schedule: running ------------------------------------------------------------

/// A test context: records `(slot, system name)` for every run, and can be
/// told to make one system fail or panic.
#[derive(Default)]
struct Recorder {
    log: Mutex<Vec<(usize, &'static str)>>,
    fail: Option<&'static str>,
    panic: Option<&'static str>,
}

impl Recorder {
    fn record<S: System>(&self, slot: SystemSlot) -> Result<(), BoxError> {
        if self.panic == Some(S::name()) {
            panic!("{} exploded", S::name());
        }
        self.log.lock().unwrap().push((slot.0, S::name()));
        if self.fail == Some(S::name()) {
            return Err(format!("{} refused", S::name()).into());
        }
        Ok(())
    }

    fn names(&self) -> Vec<&'static str> {
        self.log.lock().unwrap().iter().map(|&(_, n)| n).collect()
    }
}

macro_rules! recorded {
    ($($system:ty),*) => {$(
        impl RunSystem<$system> for Recorder {
            fn run_system(&self, _system: &mut $system, slot: SystemSlot) -> Result<(), BoxError> {
                self.record::<$system>(slot)
            }
        }
    )*};
}
recorded!(
    PollInput,
    Integrate,
    Collide,
    Steer,
    ExtractInstances,
    Present
);

#[test]
fn running_a_schedule_runs_each_system_once_in_plan_order() {
    let mut game = Game::default();
    let recorder = Recorder::default();
    game.run(&Scheduler::single_threaded(), &recorder).unwrap();
    let log = recorder.log.lock().unwrap().clone();
    assert_eq!(
        log,
        [
            (0, "PollInput"),
            (1, "Integrate"),
            (2, "collide"),
            (3, "Steer"),
            (4, "ExtractInstances"),
            (5, "Present"),
        ]
    );
}

#[test]
fn running_on_a_pool_keeps_stage_and_batch_order() {
    let pool = Arc::new(ThreadPool::new(4).unwrap());
    let scheduler = Scheduler::new(pool);
    let mut game = Game::default();
    for _ in 0..20 {
        let recorder = Recorder::default();
        game.run(&scheduler, &recorder).unwrap();
        let names = recorder.names();
        assert_eq!(names.len(), 6, "{names:?}");
        assert_eq!(&names[..2], ["PollInput", "Integrate"]);
        // Collide and Steer share a batch: either order.
        let mut middle = names[2..4].to_vec();
        middle.sort_unstable();
        assert_eq!(middle, ["Steer", "collide"]);
        assert_eq!(&names[4..], ["ExtractInstances", "Present"]);
    }
}

#[test]
fn run_stage_runs_only_the_requested_stage() {
    let mut game = Game::default();
    let recorder = Recorder::default();
    let simulate = Game::plan().stage_index("simulate").unwrap();
    game.run_stage(&Scheduler::single_threaded(), simulate, &recorder)
        .unwrap();
    assert_eq!(recorder.names(), ["Integrate", "collide", "Steer"]);
}

#[test]
fn run_stage_past_the_last_stage_is_an_error() {
    let mut game = Game::default();
    let recorder = Recorder::default();
    let err = game
        .run_stage(&Scheduler::single_threaded(), 4, &recorder)
        .unwrap_err();
    assert!(
        matches!(
            err,
            ScheduleError::StageIndexOutOfRange {
                index: 4,
                stages: 4
            }
        ),
        "{err}"
    );
    assert!(recorder.names().is_empty());
}

#[test]
fn a_failing_system_stops_the_schedule_with_its_name() {
    let mut game = Game::default();
    let recorder = Recorder {
        fail: Some("collide"),
        ..Recorder::default()
    };
    let err = game
        .run(&Scheduler::single_threaded(), &recorder)
        .unwrap_err();
    assert_eq!(err.stage(), Some("simulate"));
    assert_eq!(err.system(), Some("collide"));
    // The rest of the batch ran; later stages did not.
    assert_eq!(
        recorder.names(),
        ["PollInput", "Integrate", "collide", "Steer"]
    );
}

#[test]
fn a_panicking_system_becomes_an_error() {
    let mut game = Game::default();
    let recorder = Recorder {
        panic: Some("ExtractInstances"),
        ..Recorder::default()
    };
    let err = game
        .run(&Scheduler::single_threaded(), &recorder)
        .unwrap_err();
    assert!(matches!(err, ScheduleError::SystemPanicked { .. }), "{err}");
    assert_eq!(err.system(), Some("ExtractInstances"));
    assert!(err.to_string().contains("exploded"), "{err}");
}

// Systems with state, run by the `Standalone` context: each system value
// gets `&mut` to itself, once per run.

#[derive(System, Default)]
#[system(writes(Position))]
struct CountA {
    runs: usize,
    slot: Option<SystemSlot>,
}

#[derive(System, Default)]
#[system(writes(Velocity))]
struct CountB {
    runs: usize,
}

impl StandaloneSystem for CountA {
    fn run(&mut self, slot: SystemSlot) -> Result<(), BoxError> {
        self.runs += 1;
        self.slot = Some(slot);
        Ok(())
    }
}

impl StandaloneSystem for CountB {
    fn run(&mut self, _slot: SystemSlot) -> Result<(), BoxError> {
        self.runs += 1;
        Ok(())
    }
}

#[derive(Schedule, Default)]
struct Counting {
    #[stage]
    single: CountA,
    #[stage(after = "single")]
    pair: (CountB, CountA),
}

#[test]
fn standalone_systems_mutate_their_own_state() {
    let mut schedule = Counting::default();
    let scheduler = Scheduler::new(Arc::new(ThreadPool::new(2).unwrap()));
    for _ in 0..3 {
        schedule.run(&scheduler, &Standalone).unwrap();
    }
    assert_eq!(schedule.single.runs, 3);
    assert_eq!(schedule.pair.0.runs, 3);
    assert_eq!(schedule.pair.1.runs, 3);
    assert_eq!(schedule.single.slot, Some(SystemSlot(0)));
    assert_eq!(schedule.pair.1.slot, Some(SystemSlot(2)));
}

// Generic schedules: one plan per instantiation.

#[derive(System, Default)]
#[system(writes(T))]
struct WriteOf<T: Send + Sync + 'static>(std::marker::PhantomData<T>);

#[derive(Schedule, Default)]
struct Twice<T: Send + Sync + 'static> {
    #[stage]
    only: (WriteOf<T>, WriteOf<T>),
}

#[derive(Schedule, Default)]
struct Pair<A: Send + Sync + 'static, B: Send + Sync + 'static> {
    #[stage]
    only: (WriteOf<A>, WriteOf<B>),
}

#[test]
fn generic_schedules_plan_per_instantiation() {
    // Two writers of one type: two batches; of two types: one.
    assert_eq!(Twice::<u8>::plan().stages()[0].batches().len(), 2);
    assert_eq!(Pair::<u8, u16>::plan().stages()[0].batches().len(), 1);
    assert_eq!(Pair::<u8, u8>::plan().stages()[0].batches().len(), 2);
    assert!(!std::ptr::eq(
        Pair::<u8, u16>::plan(),
        Pair::<u8, u8>::plan()
    ));
}

// --- Job --------------------------------------------------------------------------

#[derive(Job)]
#[job(run = "sum", output = "u64", name = "sum-job", priority = "high")]
struct Sum {
    values: Vec<u64>,
    calls: Arc<AtomicUsize>,
}

impl Sum {
    fn sum(&mut self, cx: &JobContext) -> u64 {
        self.calls.fetch_add(1, Ordering::Relaxed);
        let mut total = 0;
        for (i, v) in self.values.iter().enumerate() {
            if cx.is_cancelled() {
                break;
            }
            total += v;
            cx.report_progress((i + 1) as f32 / self.values.len() as f32);
        }
        total
    }
}

#[derive(Job)]
#[job(run = "touch")]
struct Touch(bool);

impl Touch {
    fn touch(&mut self, _cx: &JobContext) {
        self.0 = true;
    }
}

#[test]
fn derived_job_runs_its_method() {
    let calls = Arc::new(AtomicUsize::new(0));
    let mut job = Sum {
        values: vec![1, 2, 3, 4],
        calls: Arc::clone(&calls),
    };
    let out: u64 = JobRun::run(&mut job, &JobContext::detached());
    assert_eq!(out, 10);
    assert_eq!(calls.load(Ordering::Relaxed), 1);
    assert_eq!(job.name(), "sum-job");
    assert_eq!(job.priority(), Priority::High);
}

#[test]
fn derived_job_defaults() {
    let mut job = Touch(false);
    job.run(&JobContext::detached());
    assert!(job.0);
    assert_eq!(job.priority(), Priority::Normal);
    assert!(job.name().ends_with("Touch"), "{}", job.name());
}

#[test]
fn derived_job_sees_its_context() {
    let progress = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&progress);
    let token = macrokid_threads::CancelToken::new();
    let cx = JobContext::new(
        token.clone(),
        Some(Arc::new(move |f| sink.lock().unwrap().push(f))),
    );
    let mut job = Sum {
        values: vec![5, 5],
        calls: Arc::new(AtomicUsize::new(0)),
    };
    assert_eq!(job.run(&cx), 10);
    assert_eq!(*progress.lock().unwrap(), [0.5, 1.0]);
    token.cancel();
    assert_eq!(job.run(&cx), 0);
}
