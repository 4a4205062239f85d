//! The executor: [`Scheduler`] runs the stages of a [`macrokid_core::Plan`]
//! (the planning side, what runs before what, is [`crate::Schedule`] and
//! [`macrokid_core::Plan`]).
//!
//! A stage runs batch by batch, in plan order; the systems of one batch run
//! in parallel on the pool, the calling thread taking part, unless the batch
//! is too cheap to be worth waking the pool ([`Dispatch::CostAware`]). A
//! batch of one system runs inline on the calling thread, without touching
//! the pool. The scheduler never re-plans: it executes what the planner
//! decided.

use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use macrokid_core::{ResourceAccess, StagePlan, SystemSlot};

use crate::panic::panic_message;
use crate::pool::ThreadPool;
use crate::run::BoxError;

mod cost;
mod parallel;

use cost::CostTable;

/// One system of a stage, ready to run: a closure the caller prepared (it
/// usually borrows the system and the shared context).
///
/// The closure is `FnMut` so that a scheduler may call it once per tick; it
/// is `Send` because the systems of a batch run on different threads.
pub type SystemTask<'a> = &'a mut (dyn FnMut() -> Result<(), BoxError> + Send + 'a);

/// The closure behind a [`SystemTask`].
type DynTask<'a> = dyn FnMut() -> Result<(), BoxError> + Send + 'a;

/// Why a stage did not complete.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ScheduleError {
    /// A system returned an error. The other systems of its batch finished;
    /// later batches of the stage did not run.
    #[error("system `{system}` in stage `{stage}` failed: {source}")]
    SystemFailed {
        /// The stage being run.
        stage: String,
        /// The failing system.
        system: String,
        /// What the system reported.
        #[source]
        source: BoxError,
    },

    /// A system panicked; the panic was caught. The other systems of its
    /// batch finished; later batches of the stage did not run. The pool stays
    /// usable.
    #[error("system `{system}` in stage `{stage}` panicked: {message}")]
    SystemPanicked {
        /// The stage being run.
        stage: String,
        /// The panicking system.
        system: String,
        /// The panic message (`<non-string panic payload>` when the payload
        /// was neither `&str` nor `String`).
        message: String,
    },

    /// `run_stage` got a different number of tasks than the stage has systems.
    #[error(
        "stage `{stage}` has {expected} systems but {found} tasks were given; pass exactly one \
         task per system, in `StagePlan::systems()` order"
    )]
    TaskCountMismatch {
        /// The stage being run.
        stage: String,
        /// `stage.systems().len()`.
        expected: usize,
        /// The number of tasks passed.
        found: usize,
    },

    /// A derived schedule was run with a plan that is not its own (nor a
    /// refinement of it: same stages, same systems, in the same order), or
    /// asked to run one stage twice at once.
    #[error(
        "cannot run `{schedule}`: {detail}; pass `Schedule::plan()` (or a plan refined from it) \
         and each stage position once"
    )]
    PlanMismatch {
        /// The schedule's type name.
        schedule: String,
        /// What did not match.
        detail: String,
    },

    /// A stage was asked for by an index the plan does not have.
    #[error(
        "stage index {index} is out of range: the plan has {stages} stages (valid indices are \
         0..{stages}, in `Plan::stages()` order)"
    )]
    StageIndexOutOfRange {
        /// The index asked for.
        index: usize,
        /// The number of stages in the plan.
        stages: usize,
    },
}

impl ScheduleError {
    /// The stage the error belongs to, when it names one.
    pub fn stage(&self) -> Option<&str> {
        match self {
            Self::SystemFailed { stage, .. }
            | Self::SystemPanicked { stage, .. }
            | Self::TaskCountMismatch { stage, .. } => Some(stage),
            Self::StageIndexOutOfRange { .. } | Self::PlanMismatch { .. } => None,
        }
    }

    /// The system the error belongs to, when it names one.
    pub fn system(&self) -> Option<&str> {
        match self {
            Self::SystemFailed { system, .. } | Self::SystemPanicked { system, .. } => Some(system),
            Self::TaskCountMismatch { .. }
            | Self::StageIndexOutOfRange { .. }
            | Self::PlanMismatch { .. } => None,
        }
    }
}

/// How one system run ended, as seen by a [`SchedulerObserver`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SystemOutcome {
    /// The system returned `Ok(())`.
    Completed,
    /// The system returned an error.
    Failed,
    /// The system panicked.
    Panicked,
}

/// A summary of one system run, given to [`SchedulerObserver::on_system`].
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub struct SystemReport<'a> {
    /// The stage's name.
    pub stage: &'a str,
    /// The system's name.
    pub system: &'a str,
    /// The system's slot in the plan.
    pub slot: SystemSlot,
    /// The index of the system's batch within the stage.
    pub batch: usize,
    /// What the system declared to read and write.
    pub access: &'a ResourceAccess,
    /// Wall-clock time of the system's closure.
    pub duration: Duration,
    /// Whether it ran in parallel with other systems (its batch held more
    /// than one system and the scheduler has a pool).
    pub parallel: bool,
    /// How it ended.
    pub outcome: SystemOutcome,
}

/// A summary of one stage run, given to [`SchedulerObserver::on_stage`].
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub struct StageReport<'a> {
    /// The stage's name.
    pub stage: &'a str,
    /// Wall-clock time of the whole stage.
    pub duration: Duration,
    /// The number of batches run (fewer than planned when one failed).
    pub batches_run: usize,
    /// Whether every system completed.
    pub succeeded: bool,
}

/// Receives per-system and per-stage timings from a [`Scheduler`].
///
/// Called on the thread that ran the system, possibly from several threads
/// at once; keep it cheap. Without an observer the scheduler reads no clock.
pub trait SchedulerObserver: Send + Sync {
    /// After each system run.
    fn on_system(&self, report: &SystemReport<'_>) {
        let _ = report;
    }

    /// After each stage run.
    fn on_stage(&self, report: &StageReport<'_>) {
        let _ = report;
    }

    /// After each work group's run in a tick of an [`App`](crate::App)
    /// (also for groups that were not due or still running).
    fn on_group(&self, report: &crate::GroupReport<'_>) {
        let _ = report;
    }

    /// After each tick of an [`App`](crate::App) that was not aborted.
    fn on_tick(&self, report: &crate::TickReport) {
        let _ = report;
    }
}

#[derive(Clone)]
enum Executor {
    Pool(Arc<ThreadPool>),
    Single,
}

/// How a pooled [`Scheduler`] decides whether a batch of several systems
/// runs in parallel.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Dispatch {
    /// Learn each batch's cost (an exponential moving average of the sum of
    /// its systems' run times, weight 1/8, samples clamped to 4x the mean)
    /// and run a batch in parallel only when the time parallelism saves,
    /// `cost × (1 − 1/p)` with `p = min(systems, parallelism)`, reaches the
    /// scheduler's [inline threshold](Scheduler::with_inline_threshold),
    /// about what waking the pool costs. Cheaper batches run inline on the
    /// calling thread in declaration order, exactly as
    /// [`Scheduler::single_threaded`] runs them. A batch never seen runs in
    /// parallel. Inline runs measure the serial cost; a parallel run's
    /// summed busy time only bounds it from above (it counts preemption,
    /// which on a loaded machine can be several times the work), so once an
    /// inline sample exists a parallel one only lowers the estimate; and one
    /// run in 16 of a batch that runs in parallel with an estimate under 16
    /// times the threshold runs inline to measure it again. Without that, a
    /// cheap batch whose first runs were preempted stayed parallel for good.
    ///
    /// No peer scheduler does this (bevy#23041 asks for it; bevy#7693 tried
    /// and was closed): 32 trivial systems run at single-thread speed while
    /// two 5 ms systems still share the tick.
    #[default]
    CostAware,
    /// Every batch of two or more systems runs in parallel, whatever it
    /// costs: for tests that need true concurrency (a rendezvous between
    /// systems) and for measuring the pool.
    AlwaysParallel,
}

/// The default [inline threshold](Scheduler::with_inline_threshold): 20 µs,
/// about what waking a sleeping rayon worker and waiting for it costs on
/// Linux (32 trivial systems took 32.6 µs on a pool against 7.3–11.8 µs in
/// order before cost-aware dispatch; TARGETS.md, "Scheduler and jobs").
pub const DEFAULT_INLINE_THRESHOLD: Duration = Duration::from_micros(20);

/// Runs the stages of a plan: batches in order, the systems of one batch in
/// parallel on a [`ThreadPool`] (or in order, in single-threaded mode).
///
/// Cheap to clone (shares the pool). Derived schedules
/// (`#[derive(Schedule)]`) build the tasks themselves; by hand it looks
/// like this:
///
/// ```
/// use std::sync::atomic::{AtomicU32, Ordering};
/// use std::sync::Arc;
/// use macrokid_core::{Plan, ResourceAccess, ResourceId, StageDescriptor, SystemDescriptor};
/// use macrokid_threads::{BoxError, ScheduleError, Scheduler, SystemTask, ThreadPool};
///
/// struct Score;
/// let plan = Plan::build([StageDescriptor::new("update")
///     .with_system(SystemDescriptor::new("add", ResourceAccess::new().with_write(ResourceId::of::<Score>())))
///     .with_system(SystemDescriptor::new("fail", ResourceAccess::new()))])?;
///
/// let score = AtomicU32::new(0);
/// let mut add = || -> Result<(), BoxError> {
///     score.fetch_add(1, Ordering::Relaxed);
///     Ok(())
/// };
/// let mut fail = || -> Result<(), BoxError> { Err("out of fuel".into()) };
/// let mut tasks: [SystemTask<'_>; 2] = [&mut add, &mut fail];
///
/// let scheduler = Scheduler::new(Arc::new(ThreadPool::new(2)?));
/// let err = scheduler.run_stage(&plan.stages()[0], &mut tasks).unwrap_err();
/// assert_eq!(err.to_string(), "system `fail` in stage `update` failed: out of fuel");
/// assert!(matches!(err, ScheduleError::SystemFailed { .. }));
/// assert_eq!(score.load(Ordering::Relaxed), 1); // `add` shared the batch and still ran
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct Scheduler {
    executor: Executor,
    observer: Option<Arc<dyn SchedulerObserver>>,
    dispatch: Dispatch,
    inline_threshold: Duration,
    costs: Arc<CostTable>,
}

impl Scheduler {
    /// A scheduler that runs batches on `pool`.
    pub fn new(pool: Arc<ThreadPool>) -> Self {
        Self::with_executor(Executor::Pool(pool))
    }

    /// A scheduler that runs everything on the calling thread, in plan order
    /// and then system order: the same plan, the same results, no pool.
    pub fn single_threaded() -> Self {
        Self::with_executor(Executor::Single)
    }

    /// A scheduler on [`ThreadPool::global`].
    ///
    /// # Panics
    /// As [`ThreadPool::global`].
    pub fn global() -> Self {
        Self::new(Arc::clone(ThreadPool::global_arc()))
    }

    fn with_executor(executor: Executor) -> Self {
        Self {
            executor,
            observer: None,
            dispatch: Dispatch::default(),
            inline_threshold: DEFAULT_INLINE_THRESHOLD,
            costs: Arc::default(),
        }
    }

    /// Builder: how batches of several systems are dispatched on the pool
    /// (default [`Dispatch::CostAware`]). No effect in single-threaded mode.
    #[must_use]
    pub fn with_dispatch(mut self, dispatch: Dispatch) -> Self {
        self.dispatch = dispatch;
        self
    }

    /// Builder: under [`Dispatch::CostAware`], a batch runs in parallel only
    /// when parallelism would save at least `threshold` of its serial cost
    /// (default [`DEFAULT_INLINE_THRESHOLD`]). `Duration::ZERO` runs every
    /// batch with a known cost in parallel; `Duration::MAX` runs every batch
    /// inline after its first run.
    #[must_use]
    pub fn with_inline_threshold(mut self, threshold: Duration) -> Self {
        self.inline_threshold = threshold;
        self
    }

    /// The dispatch policy.
    pub fn dispatch(&self) -> Dispatch {
        self.dispatch
    }

    /// The inline threshold of [`Dispatch::CostAware`].
    pub fn inline_threshold(&self) -> Duration {
        self.inline_threshold
    }

    /// What this scheduler (and its clones) learnt of the serial cost of
    /// batch `batch` of `stage`: the moving average of the sum of its
    /// systems' run times, `None` before the batch ran on the pool (batches
    /// of one system and single-threaded runs are not recorded).
    pub fn batch_cost(&self, stage: &StagePlan, batch: usize) -> Option<Duration> {
        let systems = stage.batches().get(batch)?.systems().len();
        self.costs.estimate(batch_key(stage, batch), systems)
    }

    /// Builder: reports every system and stage run to `observer`.
    #[must_use]
    pub fn with_observer(mut self, observer: Arc<dyn SchedulerObserver>) -> Self {
        self.observer = Some(observer);
        self
    }

    /// The pool, or `None` in single-threaded mode.
    pub fn pool(&self) -> Option<&Arc<ThreadPool>> {
        match &self.executor {
            Executor::Pool(pool) => Some(pool),
            Executor::Single => None,
        }
    }

    /// The most systems that can run at once: the pool's thread count plus
    /// the calling thread when it is not a worker of the pool; 1 in
    /// single-threaded mode.
    pub fn parallelism(&self) -> usize {
        match &self.executor {
            Executor::Pool(pool) if pool.is_worker_thread() => pool.num_threads(),
            Executor::Pool(pool) => pool.num_threads() + 1,
            Executor::Single => 1,
        }
    }

    /// Runs one stage: its batches in order; the tasks of one batch in
    /// parallel. `tasks[i]` runs `stage.systems()[i]` and is called exactly
    /// once.
    ///
    /// Each system runs inside a `tracing` span `system` (field `system`)
    /// within a span `stage` (field `stage`).
    ///
    /// # Errors
    /// - [`ScheduleError::TaskCountMismatch`] when `tasks.len()` differs from
    ///   `stage.systems().len()` (nothing runs);
    /// - [`ScheduleError::SystemFailed`] / [`ScheduleError::SystemPanicked`]
    ///   when a system returns an error or panics. The other systems of that
    ///   batch still run to completion; later batches do not run. When
    ///   several systems of one batch fail, the first in declaration order is
    ///   reported (the others are logged through `tracing` and the observer).
    pub fn run_stage(
        &self,
        stage: &StagePlan,
        tasks: &mut [SystemTask<'_>],
    ) -> Result<(), ScheduleError> {
        if tasks.len() != stage.systems().len() {
            return Err(ScheduleError::TaskCountMismatch {
                stage: stage.name().to_owned(),
                expected: stage.systems().len(),
                found: tasks.len(),
            });
        }
        let span = tracing::info_span!("stage", stage = stage.name());
        let _entered = span.enter();
        let started = self.observer.as_ref().map(|_| Instant::now());
        let cx = StageCx {
            stage,
            span: &span,
            observer: self.observer.as_deref(),
        };

        let mut result = Ok(());
        let mut batches_run = 0;
        for (batch_index, batch) in stage.batches().iter().enumerate() {
            batches_run += 1;
            let outcome = match (&self.executor, batch.systems()) {
                (_, &[single]) => cx.run_one(batch_index, single, &mut *tasks[single], false),
                (Executor::Single, systems) => cx.run_in_order(batch_index, systems, tasks),
                (Executor::Pool(pool), systems) => {
                    self.run_pooled(pool, cx, batch_index, systems, tasks)
                }
            };
            if let Err(err) = outcome {
                result = Err(err);
                break;
            }
        }

        if let (Some(observer), Some(started)) = (&self.observer, started) {
            observer.on_stage(&StageReport {
                stage: stage.name(),
                duration: started.elapsed(),
                batches_run,
                succeeded: result.is_ok(),
            });
        }
        result
    }
}

/// One stage of a layer and its tasks, for [`Scheduler::run_layer`].
pub struct StageTasks<'s, 't> {
    /// The stage.
    pub stage: &'s StagePlan,
    /// One task per system of the stage, in `stage.systems()` order.
    pub tasks: &'s mut [SystemTask<'t>],
}

impl<'s, 't> StageTasks<'s, 't> {
    /// Pairs `stage` with its tasks.
    pub fn new(stage: &'s StagePlan, tasks: &'s mut [SystemTask<'t>]) -> Self {
        Self { stage, tasks }
    }
}

impl fmt::Debug for StageTasks<'_, '_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StageTasks")
            .field("stage", &self.stage.name())
            .field("tasks", &self.tasks.len())
            .finish()
    }
}

impl Scheduler {
    /// Runs the stages of one topological layer ([`macrokid_core::Plan::topo_groups`]:
    /// stages with no ordering constraint between them). Stages whose
    /// accesses do not conflict (no system of one conflicts with a system of
    /// the other) run at the same time, one per participant of the pool;
    /// a stage that conflicts with an earlier one of the layer waits for it
    /// (the layer is split greedily, in the given order, into waves of
    /// mutually compatible stages, run one wave after the other). Each stage
    /// runs as [`run_stage`](Self::run_stage) runs it. In single-threaded
    /// mode the stages run in the given order.
    ///
    /// The caller guarantees that no stage of `stages` must run before
    /// another (they come from one layer); the scheduler does not see the
    /// plan's ordering edges.
    ///
    /// # Errors
    /// [`ScheduleError::TaskCountMismatch`] for a stage given the wrong number
    /// of tasks (checked before anything runs); otherwise the error of the
    /// first failing stage in the given order. The other stages of its wave
    /// run to completion; later waves do not run.
    pub fn run_layer(&self, stages: &mut [StageTasks<'_, '_>]) -> Result<(), ScheduleError> {
        for entry in stages.iter() {
            if entry.tasks.len() != entry.stage.systems().len() {
                return Err(ScheduleError::TaskCountMismatch {
                    stage: entry.stage.name().to_owned(),
                    expected: entry.stage.systems().len(),
                    found: entry.tasks.len(),
                });
            }
        }
        let pool = match &self.executor {
            Executor::Pool(pool) if stages.len() > 1 => pool,
            _ => {
                for entry in stages.iter_mut() {
                    self.run_stage(entry.stage, entry.tasks)?;
                }
                return Ok(());
            }
        };
        for wave in layer_waves(stages.iter().map(|entry| entry.stage)) {
            // `wave` holds ascending indices: split off disjoint `&mut`.
            let mut members: Vec<&mut StageTasks<'_, '_>> = Vec::with_capacity(wave.len());
            let mut rest: &mut [StageTasks<'_, '_>] = stages;
            let mut offset = 0;
            for &index in &wave {
                let (_, tail) = std::mem::take(&mut rest).split_at_mut(index - offset);
                let (entry, tail) = tail.split_first_mut().expect("wave indices are in range");
                members.push(entry);
                rest = tail;
                offset = index + 1;
            }
            if let [only] = members.as_mut_slice() {
                self.run_stage(only.stage, only.tasks)?;
                continue;
            }
            let results: Mutex<Vec<(usize, ScheduleError)>> = Mutex::new(Vec::new());
            let helpers = if pool.is_worker_thread() {
                pool.num_threads() - 1
            } else {
                pool.num_threads()
            };
            let items = wave.iter().copied().zip(members);
            parallel::run_all(pool, helpers, items, &|(index, entry)| {
                if let Err(err) = self.run_stage(entry.stage, entry.tasks) {
                    results
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                        .push((index, err));
                }
            });
            let mut errors = results.into_inner().unwrap_or_else(PoisonError::into_inner);
            errors.sort_by_key(|&(index, _)| index);
            if let Some((_, err)) = errors.into_iter().next() {
                return Err(err);
            }
        }
        Ok(())
    }

    /// Runs a batch of several systems on the pool's side: in parallel or,
    /// when cost-aware dispatch finds it too cheap, inline; records its cost.
    fn run_pooled(
        &self,
        pool: &ThreadPool,
        cx: StageCx<'_>,
        batch_index: usize,
        systems: &[usize],
        tasks: &mut [SystemTask<'_>],
    ) -> Result<(), ScheduleError> {
        let key = batch_key(cx.stage, batch_index);
        let helpers = if pool.is_worker_thread() {
            pool.num_threads() - 1
        } else {
            pool.num_threads()
        };
        let parallel = match self.dispatch {
            Dispatch::AlwaysParallel => true,
            Dispatch::CostAware => {
                match self
                    .costs
                    .estimate_and_probe(key, systems.len(), self.inline_threshold)
                {
                    None => true,
                    Some((cost, probe)) => {
                        let p = systems.len().min(helpers + 1) as f64;
                        cost.mul_f64(1.0 - 1.0 / p) >= self.inline_threshold && !probe
                    }
                }
            }
        };
        if parallel {
            let (result, busy) = cx.run_parallel(pool, helpers, batch_index, systems, tasks);
            self.costs
                .record(key, systems.len(), busy, cost::Sample::Parallel);
            result
        } else {
            let started = Instant::now();
            let result = cx.run_in_order(batch_index, systems, tasks);
            self.costs
                .record(key, systems.len(), started.elapsed(), cost::Sample::Inline);
            result
        }
    }
}

/// Splits a layer's stages, in order, into waves of stages whose accesses
/// do not conflict (deferred writes counted as writes): core's
/// [`batch_by_conflict`](macrokid_core::batch_by_conflict), the algorithm
/// that also batches systems and that [`Plan::waves`](macrokid_core::Plan::waves)
/// uses. Returns indices into the layer, ascending within each wave.
fn layer_waves<'a>(stages: impl Iterator<Item = &'a StagePlan>) -> Vec<Vec<usize>> {
    let accesses: Vec<ResourceAccess> = stages
        .map(|stage| {
            // Seen from a stage beside it, a system's deferred writes are
            // writes: its commands may apply before the other stage looks.
            let mut access = ResourceAccess::new();
            for system in stage.systems() {
                access.extend(&system.access.including_deferred());
            }
            access
        })
        .collect();
    macrokid_core::batch_by_conflict(accesses.len(), |a, b| {
        accesses[a].conflicts_with(&accesses[b])
    })
}

/// The cost table's key of batch `batch` of `stage`.
fn batch_key(stage: &StagePlan, batch: usize) -> cost::BatchKey {
    (std::ptr::from_ref(stage) as usize, batch)
}

impl Default for Scheduler {
    /// [`Scheduler::global`].
    fn default() -> Self {
        Self::global()
    }
}

impl fmt::Debug for Scheduler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Scheduler");
        match &self.executor {
            Executor::Pool(pool) => d.field("threads", &pool.num_threads()),
            Executor::Single => d.field("threads", &"single-threaded"),
        };
        d.field("dispatch", &self.dispatch)
            .field("inline_threshold", &self.inline_threshold)
            .field("observer", &self.observer.is_some())
            .finish()
    }
}

/// What every system run of one stage needs.
#[derive(Clone, Copy)]
struct StageCx<'a> {
    stage: &'a StagePlan,
    span: &'a tracing::Span,
    observer: Option<&'a dyn SchedulerObserver>,
}

impl StageCx<'_> {
    /// Runs system `index` on the current thread, catching panics.
    fn run_one(
        self,
        batch: usize,
        index: usize,
        task: &mut DynTask<'_>,
        parallel: bool,
    ) -> Result<(), ScheduleError> {
        let system = &self.stage.systems()[index];
        let span = tracing::info_span!(parent: self.span, "system", system = &*system.name);
        let _entered = span.enter();
        let started = self.observer.map(|_| Instant::now());

        let outcome = catch_unwind(AssertUnwindSafe(&mut *task));

        if let (Some(observer), Some(started)) = (self.observer, started) {
            observer.on_system(&SystemReport {
                stage: self.stage.name(),
                system: &system.name,
                slot: self.stage.slot(index),
                batch,
                access: &system.access,
                duration: started.elapsed(),
                parallel,
                outcome: match &outcome {
                    Ok(Ok(())) => SystemOutcome::Completed,
                    Ok(Err(_)) => SystemOutcome::Failed,
                    Err(_) => SystemOutcome::Panicked,
                },
            });
        }
        match outcome {
            Ok(Ok(())) => Ok(()),
            Ok(Err(source)) => {
                tracing::error!(system = &*system.name, error = %source, "system failed");
                Err(ScheduleError::SystemFailed {
                    stage: self.stage.name().to_owned(),
                    system: system.name.to_string(),
                    source,
                })
            }
            Err(payload) => {
                let message = panic_message(payload.as_ref());
                tracing::error!(system = &*system.name, panic = %message, "system panicked");
                Err(ScheduleError::SystemPanicked {
                    stage: self.stage.name().to_owned(),
                    system: system.name.to_string(),
                    message,
                })
            }
        }
    }

    /// Runs the systems of a batch one after the other on this thread.
    fn run_in_order(
        self,
        batch: usize,
        systems: &[usize],
        tasks: &mut [SystemTask<'_>],
    ) -> Result<(), ScheduleError> {
        let mut first_error = None;
        for &index in systems {
            if let Err(err) = self.run_one(batch, index, &mut *tasks[index], false) {
                first_error.get_or_insert(err);
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// Runs the systems of a batch in parallel: the calling thread and up to
    /// `helpers` workers of the pool claim systems in declaration order
    /// until none is left. Returns the first error in declaration order and
    /// the batch's serial cost (the participants' summed busy time).
    fn run_parallel(
        self,
        pool: &ThreadPool,
        helpers: usize,
        batch: usize,
        systems: &[usize],
        tasks: &mut [SystemTask<'_>],
    ) -> (Result<(), ScheduleError>, Duration) {
        // Disjoint `&mut` to the batch's tasks (indices are ascending),
        // split off lazily as participants claim them: no `Vec` per batch.
        let mut rest: &mut [SystemTask<'_>] = tasks;
        let mut offset = 0;
        let items = systems.iter().map(move |&index| {
            let (_, tail) = std::mem::take(&mut rest).split_at_mut(index - offset);
            let (task, tail) = tail
                .split_first_mut()
                .expect("batch indices are ascending and within the stage");
            rest = tail;
            offset = index + 1;
            (index, &mut **task)
        });

        let errors: Mutex<Vec<(usize, ScheduleError)>> = Mutex::new(Vec::new());
        let busy = parallel::run_all(pool, helpers, items, &|(index, task)| {
            if let Err(err) = self.run_one(batch, index, task, true) {
                errors
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push((index, err));
            }
        });

        let mut errors = errors.into_inner().unwrap_or_else(PoisonError::into_inner);
        errors.sort_by_key(|&(index, _)| index);
        let result = errors
            .into_iter()
            .next()
            .map_or(Ok(()), |(_, err)| Err(err));
        (result, busy)
    }
}
