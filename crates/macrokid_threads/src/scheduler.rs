//! [`Scheduler`]: runs the stages of a [`macrokid_core::Plan`].
//!
//! A stage runs batch by batch, in plan order; the systems of one batch run
//! in parallel on the pool, the calling thread taking part. A batch of one
//! system runs inline on the calling thread, without touching the pool. The
//! scheduler never re-plans: it executes what the planner decided.

use std::any::Any;
use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use macrokid_core::{ResourceAccess, StagePlan, SystemSlot};

use crate::pool::ThreadPool;
use crate::run::BoxError;

mod parallel;

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
            Self::StageIndexOutOfRange { .. } => None,
        }
    }

    /// The system the error belongs to, when it names one.
    pub fn system(&self) -> Option<&str> {
        match self {
            Self::SystemFailed { system, .. } | Self::SystemPanicked { system, .. } => Some(system),
            Self::TaskCountMismatch { .. } | Self::StageIndexOutOfRange { .. } => None,
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
}

#[derive(Clone)]
enum Executor {
    Pool(Arc<ThreadPool>),
    Single,
}

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
}

impl Scheduler {
    /// A scheduler that runs batches on `pool`.
    pub fn new(pool: Arc<ThreadPool>) -> Self {
        Self {
            executor: Executor::Pool(pool),
            observer: None,
        }
    }

    /// A scheduler that runs everything on the calling thread, in plan order
    /// and then system order: the same plan, the same results, no pool.
    pub fn single_threaded() -> Self {
        Self {
            executor: Executor::Single,
            observer: None,
        }
    }

    /// A scheduler on [`ThreadPool::global`].
    ///
    /// # Panics
    /// As [`ThreadPool::global`].
    pub fn global() -> Self {
        Self::new(Arc::clone(ThreadPool::global_arc()))
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
                    cx.run_parallel(pool, batch_index, systems, tasks)
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
        d.field("observer", &self.observer.is_some()).finish()
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
    /// `pool.num_threads()` helpers on the pool claim systems in declaration
    /// order from a shared cursor until none is left.
    fn run_parallel(
        self,
        pool: &ThreadPool,
        batch: usize,
        systems: &[usize],
        tasks: &mut [SystemTask<'_>],
    ) -> Result<(), ScheduleError> {
        // Disjoint `&mut` to the batch's tasks (indices are ascending).
        let mut items: Vec<(usize, &mut DynTask<'_>)> = Vec::with_capacity(systems.len());
        let mut rest: &mut [SystemTask<'_>] = tasks;
        let mut offset = 0;
        for &index in systems {
            let (_, tail) = std::mem::take(&mut rest).split_at_mut(index - offset);
            let (task, tail) = tail
                .split_first_mut()
                .expect("batch indices are ascending and within the stage");
            items.push((index, &mut **task));
            rest = tail;
            offset = index + 1;
        }

        let errors: Mutex<Vec<(usize, ScheduleError)>> = Mutex::new(Vec::new());
        let helpers = if pool.is_worker_thread() {
            pool.num_threads() - 1
        } else {
            pool.num_threads()
        };
        parallel::run_all(pool, helpers, &mut items, &|(index, task)| {
            if let Err(err) = self.run_one(batch, *index, &mut **task, true) {
                errors
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push((*index, err));
            }
        });

        let mut errors = errors.into_inner().unwrap_or_else(PoisonError::into_inner);
        errors.sort_by_key(|&(index, _)| index);
        errors
            .into_iter()
            .next()
            .map_or(Ok(()), |(_, err)| Err(err))
    }
}

/// The message of a panic payload.
pub(crate) fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "<non-string panic payload>".to_owned()
    }
}
