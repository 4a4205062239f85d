//! Schedules: a struct of stages, each stage a tuple of systems, planned once
//! and run stage by stage on a [`Scheduler`].
//!
//! [`Schedule`] is the planning side (types only, no values): the [`Plan`]
//! with its stage order and conflict-free batches. [`RunSchedule<Cx>`] is the
//! running side: it hands the systems stored in the schedule value to a
//! [`Scheduler`], with a context `Cx` that knows how to run each of them
//! ([`RunSystem`]). Both are implemented by `#[derive(Schedule)]`.
//!
//! [`Standalone`] is a context for systems that need no world at all
//! ([`StandaloneSystem`]): tools, tests, examples.

use std::any::TypeId;
use std::collections::HashMap;
use std::sync::{Mutex, OnceLock, PoisonError};

use macrokid_core::{Plan, StageDescriptor, StagePlan, System, SystemSlot};

use crate::run::{BoxError, RunSystem};
use crate::{ScheduleError, Scheduler, StageTasks, SystemTask};

/// A set of named stages of systems, with a plan computed once.
///
/// Implemented by `#[derive(Schedule)]` on a struct with named fields, one
/// field per stage. A field holds one system (`field: S`) or a tuple of
/// systems (`field: (S1, S2)`; `()` is a stage without systems); every
/// system type implements [`System`].
///
/// ```
/// use macrokid_threads::{Schedule, System};
///
/// struct Input;
/// struct Position;
/// struct Velocity;
///
/// #[derive(System)]
/// #[system(writes(Input))]
/// struct PollInput;
///
/// #[derive(System)]
/// #[system(reads(Velocity), writes(Position))]
/// struct Integrate;
///
/// #[derive(System)]
/// #[system(reads(Input), writes(Velocity))]
/// struct Steer;
///
/// #[derive(System)]
/// #[system(reads(Position))]
/// struct Present;
///
/// #[derive(Schedule)]
/// struct Game {
///     #[stage]
///     input: (PollInput,),
///     #[stage(after = "input", before = "draw")]
///     simulate: (Integrate, Steer),
///     #[stage(name = "draw")]
///     present: Present,
/// }
///
/// assert_eq!(Game::topo_groups(), [["input"], ["simulate"], ["draw"]]);
/// // `Integrate` and `Steer` conflict on `Velocity`: two batches.
/// let simulate = Game::plan().stage("simulate").unwrap();
/// assert_eq!(simulate.batches().len(), 2);
/// ```
///
/// # The `#[stage]` attribute
///
/// Every field carries `#[stage]` (a field without it is a compile error:
/// a schedule holds nothing but stages). Keys, all optional, all strings:
///
/// | key | meaning |
/// |---|---|
/// | `name = "..."` | the stage's name (default: the field's name) |
/// | `after = "a, b"` | this stage runs after stages `a` and `b` |
/// | `before = "c, d"` | this stage runs before stages `c` and `d` |
///
/// `after` and `before` may be repeated; their names are separated by commas.
/// The stage graph is checked when the derive expands: an unknown stage name,
/// a name declared twice, a stage ordered against itself, a name listed twice
/// in one list and a cycle (spelled out as `a -> b -> c -> a`) are compile
/// errors at the attribute value, all reported at once. Stages without
/// ordering constraints between them keep their declaration order.
///
/// Within a stage, systems run in batches: systems whose accesses conflict
/// never share a batch, batches are formed greedily in declaration order
/// (see [`macrokid_core::StagePlan::batches`]).
///
/// Generic schedule structs are supported; each instantiation gets its own
/// plan.
pub trait Schedule: Send + 'static {
    /// The plan of this schedule: stages in execution order, each split into
    /// batches. Built on first use and then shared for the life of the
    /// process (the derive keeps it in a `OnceLock`).
    ///
    /// # Panics
    /// Never for a derived schedule: the stage graph was checked at compile
    /// time, so a failing [`Plan::build`] is a broken invariant and panics
    /// with the error.
    fn plan() -> &'static Plan
    where
        Self: Sized;

    /// The stage names in layers ([`Plan::topo_groups`]): layer 0 holds the
    /// stages without predecessors, every other stage sits in the layer right
    /// after its deepest predecessor; within a layer, declaration order.
    fn topo_groups() -> Vec<Vec<&'static str>>
    where
        Self: Sized;
}

/// Running a [`Schedule`]'s systems with a context `Cx`.
///
/// `#[derive(Schedule)]` implements it for every `Cx` that can run every
/// system of the schedule:
/// `impl<Cx: ?Sized> RunSchedule<Cx> for Game where Cx: RunSystem<S1> + RunSystem<S2> + ...`.
/// A stage's systems run as one task each; the [`Scheduler`] runs the
/// stage's batches in order and the tasks of one batch in parallel, sharing
/// `cx` (hence `RunSystem: Sync`) and giving each task `&mut` to its own
/// system only.
///
/// ```
/// use std::sync::Mutex;
/// use macrokid_threads::{
///     BoxError, RunSchedule, RunSystem, Schedule, Scheduler, System, SystemSlot,
/// };
///
/// #[derive(System, Default)]
/// struct Count(u32);
///
/// #[derive(Schedule, Default)]
/// struct Tick {
///     #[stage]
///     first: (Count,),
///     #[stage(after = "first")]
///     second: (Count, Count),
/// }
///
/// /// A context that logs which slots ran, then runs the system.
/// struct Log(Mutex<Vec<usize>>);
/// impl RunSystem<Count> for Log {
///     fn run_system(&self, system: &mut Count, slot: SystemSlot) -> Result<(), BoxError> {
///         system.0 += 1;
///         self.0.lock().unwrap().push(slot.0);
///         Ok(())
///     }
/// }
///
/// let mut tick = Tick::default();
/// let log = Log(Mutex::new(Vec::new()));
/// tick.run(&Scheduler::single_threaded(), &log)?;
/// assert_eq!(*log.0.lock().unwrap(), [0, 1, 2]);
/// assert_eq!((tick.first.0 .0, tick.second.0 .0, tick.second.1 .0), (1, 1, 1));
/// # Ok::<(), macrokid_threads::ScheduleError>(())
/// ```
pub trait RunSchedule<Cx: ?Sized>: Schedule {
    /// Runs the stage at `Self::plan().stages()[stage]` (an index in
    /// execution order) with context `cx`, batch by batch.
    ///
    /// # Errors
    /// - [`ScheduleError::StageIndexOutOfRange`] when
    ///   `stage >= Self::plan().stages().len()` (nothing runs);
    /// - otherwise what [`Scheduler::run_stage`] reports: the first system of
    ///   the stage that failed or panicked, with the stage's and system's
    ///   names.
    fn run_stage(
        &mut self,
        scheduler: &Scheduler,
        stage: usize,
        cx: &Cx,
    ) -> Result<(), ScheduleError>;

    /// Runs the stages at `plan.stages()[p]` for every position `p` of
    /// `stages` together, through [`Scheduler::run_layer`]: stages whose
    /// accesses do not conflict run at the same time. The caller passes
    /// stages with no ordering constraint between them (one topological
    /// layer, [`Plan::layer_positions`], or a wave of it, [`Plan::waves`]).
    ///
    /// `plan` is `Self::plan()` or a plan with the same stages and systems
    /// whose batches were computed from refined accesses (e.g. an ECS
    /// world's archetype-level plan); its batches and accesses decide what
    /// runs together.
    ///
    /// # Errors
    /// - [`ScheduleError::StageIndexOutOfRange`] for a position past
    ///   `plan.stages()`, [`ScheduleError::PlanMismatch`] when `plan` does
    ///   not have this schedule's shape or a position is listed twice
    ///   (nothing runs);
    /// - otherwise what [`Scheduler::run_layer`] reports.
    fn run_stages(
        &mut self,
        scheduler: &Scheduler,
        plan: &Plan,
        stages: &[usize],
        cx: &Cx,
    ) -> Result<(), ScheduleError>;

    /// Runs every stage once, layer by layer ([`Plan::layer_positions`]):
    /// the stages of one layer through [`run_stages`](Self::run_stages), so
    /// that those that do not conflict run at the same time. Stops at the
    /// first layer that fails.
    ///
    /// # Errors
    /// The error of the first failing layer; later layers do not run.
    fn run(&mut self, scheduler: &Scheduler, cx: &Cx) -> Result<(), ScheduleError>
    where
        Self: Sized,
    {
        let plan = Self::plan();
        for layer in plan.layer_positions() {
            self.run_stages(scheduler, plan, &layer, cx)?;
        }
        Ok(())
    }
}

/// A system that runs on its own state alone, without a world: the systems
/// of tools, tests and examples. [`Standalone`] runs them.
///
/// Its declared access still matters: it decides which systems of a stage
/// may run in parallel.
pub trait StandaloneSystem: System {
    /// Runs the system once; `slot` is its position in the plan.
    ///
    /// # Errors
    /// Whatever the system wants to report; the scheduler names the system
    /// and stage.
    fn run(&mut self, slot: SystemSlot) -> Result<(), BoxError>;
}

/// The context that runs [`StandaloneSystem`]s: a schedule made only of
/// them is `RunSchedule<Standalone>`.
///
/// ```
/// use macrokid_threads::{
///     BoxError, RunSchedule, Schedule, Scheduler, Standalone, StandaloneSystem, System,
///     SystemSlot,
/// };
///
/// #[derive(System, Default)]
/// struct Hello { runs: u32 }
///
/// impl StandaloneSystem for Hello {
///     fn run(&mut self, _slot: SystemSlot) -> Result<(), BoxError> {
///         self.runs += 1;
///         Ok(())
///     }
/// }
///
/// #[derive(Schedule, Default)]
/// struct Once { #[stage] only: Hello }
///
/// let mut schedule = Once::default();
/// schedule.run(&Scheduler::single_threaded(), &Standalone)?;
/// assert_eq!(schedule.only.runs, 1);
/// # Ok::<(), macrokid_threads::ScheduleError>(())
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Standalone;

impl<S: StandaloneSystem> RunSystem<S> for Standalone {
    fn run_system(&self, system: &mut S, slot: SystemSlot) -> Result<(), BoxError> {
        system.run(slot)
    }
}

// ---------------------------------------------------------------------------
// What `#[derive(Schedule)]` expands to (re-exported under `__private`).

/// Builds the plan of the schedule type named `schedule` from the stages the
/// derive generated.
///
/// # Panics
/// When [`Plan::build`] fails: the derive checked the same stage graph at
/// compile time, so that is a broken invariant (a planner and a derive that
/// disagree), and the message says so.
#[doc(hidden)]
pub fn build_plan<const N: usize>(schedule: &str, stages: [StageDescriptor; N]) -> Plan {
    match Plan::build(stages) {
        Ok(plan) => plan,
        Err(err) => panic!(
            "the plan of `{schedule}` failed to build although `#[derive(Schedule)]` checked its \
             stage graph: {err} (this is a bug in macrokid)"
        ),
    }
}

/// The plan of the (generic) schedule type `S`, built by `build` on first
/// use and kept for the life of the process. A `static` inside a generic
/// function is shared by all its instantiations, hence this registry keyed
/// by type; each type's plan is allocated once and never freed.
#[doc(hidden)]
pub fn plan_for<S: ?Sized + 'static>(build: fn() -> Plan) -> &'static Plan {
    static PLANS: OnceLock<Mutex<HashMap<TypeId, &'static Plan>>> = OnceLock::new();
    let plans = PLANS.get_or_init(Default::default);
    let key = TypeId::of::<S>();
    if let Some(plan) = plans
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .get(&key)
    {
        return plan;
    }
    // Built outside the lock; when two threads race, the first insert wins
    // and the other plan (identical) is dropped.
    let plan = build();
    let mut plans = plans.lock().unwrap_or_else(PoisonError::into_inner);
    plans
        .entry(key)
        .or_insert_with(|| Box::leak(Box::new(plan)))
}

/// The error of a derived `run_stage` called with an index past the plan's
/// `stages` stages.
#[doc(hidden)]
#[cold]
pub fn stage_out_of_range(index: usize, stages: usize) -> ScheduleError {
    ScheduleError::StageIndexOutOfRange { index, stages }
}

/// Checks that `plan` has the shape of `own` (the schedule's plan): the
/// same stages (by name and declaration index) at the same positions, with
/// the same numbers of systems, for a derived `run_stages`.
///
/// # Errors
/// [`ScheduleError::PlanMismatch`] naming the first difference.
#[doc(hidden)]
pub fn check_plan_shape(schedule: &str, own: &Plan, plan: &Plan) -> Result<(), ScheduleError> {
    if std::ptr::eq(own, plan) {
        return Ok(());
    }
    let mismatch = |detail: String| ScheduleError::PlanMismatch {
        schedule: schedule.to_owned(),
        detail,
    };
    if own.stages().len() != plan.stages().len() {
        return Err(mismatch(format!(
            "the plan has {} stages, the schedule {}",
            plan.stages().len(),
            own.stages().len()
        )));
    }
    for (mine, theirs) in own.stages().iter().zip(plan.stages()) {
        if mine.name() != theirs.name()
            || mine.declared_index() != theirs.declared_index()
            || mine.systems().len() != theirs.systems().len()
        {
            return Err(mismatch(format!(
                "the plan has stage `{}` ({} systems) where the schedule has `{}` ({} systems)",
                theirs.name(),
                theirs.systems().len(),
                mine.name(),
                mine.systems().len()
            )));
        }
    }
    Ok(())
}

/// The error of a derived `run_stages` asked to run one stage twice at
/// once.
#[doc(hidden)]
#[cold]
pub fn stage_listed_twice(schedule: &str, stage: &str) -> ScheduleError {
    ScheduleError::PlanMismatch {
        schedule: schedule.to_owned(),
        detail: format!("stage `{stage}` is listed twice"),
    }
}

/// The tasks of the stage at position `pos` of `stages` (a derived
/// `run_stages`' plan), taken out of `by_decl` (the stage's task array by
/// declaration index, `None` once taken).
///
/// # Errors
/// [`ScheduleError::PlanMismatch`] when the stage's tasks were already
/// taken (a position listed twice).
///
/// # Panics
/// When the stage's declaration index is past `by_decl` (see
/// [`unknown_stage`]). `pos` must be in range (the caller checked).
#[doc(hidden)]
pub fn take_stage_tasks<'s, 't>(
    schedule: &str,
    stages: &'s [StagePlan],
    by_decl: &mut [Option<&'s mut [SystemTask<'t>]>],
    pos: usize,
) -> Result<StageTasks<'s, 't>, ScheduleError> {
    let stage = &stages[pos];
    let Some(slot) = by_decl.get_mut(stage.declared_index()) else {
        unknown_stage(schedule, stage.declared_index())
    };
    let Some(tasks) = slot.take() else {
        return Err(stage_listed_twice(schedule, stage.name()));
    };
    Ok(StageTasks::new(stage, tasks))
}

/// The match arm of a derived `run_stage` for a declaration index the
/// schedule does not have.
///
/// # Panics
/// Always: the plan of a derived schedule is built from its own fields, so
/// this is a broken invariant.
#[doc(hidden)]
#[cold]
pub fn unknown_stage(schedule: &str, declared_index: usize) -> ! {
    panic!(
        "`{schedule}` has no stage declared at index {declared_index}: its plan does not match its \
         fields (this is a bug in macrokid)"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    struct A;
    struct B;

    #[test]
    fn plan_for_keeps_one_plan_per_type() {
        fn one() -> Plan {
            Plan::build([StageDescriptor::new("one")]).unwrap()
        }
        fn two() -> Plan {
            Plan::build([StageDescriptor::new("a"), StageDescriptor::new("b")]).unwrap()
        }
        let a = plan_for::<A>(one);
        let b = plan_for::<B>(two);
        assert_eq!(a.stages().len(), 1);
        assert_eq!(b.stages().len(), 2);
        // The second call returns the stored plan, whatever `build` says.
        assert!(std::ptr::eq(a, plan_for::<A>(two)));
    }

    // The derives work inside this crate too (`extern crate self as
    // macrokid_threads` in lib.rs makes their absolute paths resolve).
    #[derive(crate::System, Default)]
    #[system(writes(A))]
    struct WritesA {
        runs: usize,
    }

    impl StandaloneSystem for WritesA {
        fn run(&mut self, _slot: SystemSlot) -> Result<(), BoxError> {
            self.runs += 1;
            Ok(())
        }
    }

    #[derive(crate::Schedule, Default)]
    struct InCrate {
        #[stage(after = "first")]
        second: (WritesA, WritesA),
        #[stage]
        first: WritesA,
    }

    #[test]
    fn derives_work_inside_the_defining_crate() {
        assert_eq!(InCrate::topo_groups(), [["first"], ["second"]]);
        // Two writers of `A`: two batches.
        assert_eq!(InCrate::plan().stage("second").unwrap().batches().len(), 2);
        let mut schedule = InCrate::default();
        schedule
            .run(&Scheduler::single_threaded(), &Standalone)
            .unwrap();
        let runs = [
            schedule.first.runs,
            schedule.second.0.runs,
            schedule.second.1.runs,
        ];
        assert_eq!(runs, [1, 1, 1]);
    }

    #[test]
    #[should_panic(expected = "failed to build although")]
    fn build_plan_panics_on_a_broken_invariant() {
        build_plan(
            "Broken",
            [StageDescriptor::new("a"), StageDescriptor::new("a")],
        );
    }
}
