//! # macrokid_threads
//!
//! The runtime of macrokid: a thread pool on rayon, a scheduler that executes
//! a [`macrokid_core`] plan, jobs, and the frame-budgeted job queue.
//!
//! - [`ThreadPool`]: a rayon pool with named threads; [`join_all`] and
//!   [`SpawnExt`] on top of it.
//! - [`Scheduler`]: runs the stages of a [`Plan`] — batches in order, the
//!   systems of one batch in parallel unless cost-aware dispatch
//!   ([`Dispatch`]) finds the batch cheaper than waking the pool — and turns
//!   a failing or panicking system into a [`ScheduleError`] naming it;
//!   [`Scheduler::run_layer`] runs the compatible stages of one topological
//!   layer at the same time.
//! - [`App`]: a tick loop over [`WorkGroup`]s (synchronized or async, with a
//!   priority, an interval and an [`ErrorPolicy`]), lifecycle hooks and
//!   [`Plugin`]s, on any [`GroupWorld`].
//! - [`ChromeTrace`] and [`PrometheusMetrics`]: a Chrome-trace / Perfetto
//!   file of the `tracing` spans, and Prometheus metrics from the
//!   [`SchedulerObserver`] hooks.
//! - `#[derive(System)]`, `#[derive(Schedule)]`, `#[derive(Job)]`: the
//!   metadata, the stage graph (checked while compiling) and job wiring.
//! - [`JobQueue`]: many independent [`JobRun`] jobs per frame inside a
//!   time budget, with priorities, cancellation and events.
//!
//! ```
//! use macrokid_threads::{
//!     BoxError, RunSchedule, Schedule, Scheduler, Standalone, StandaloneSystem, System,
//!     SystemSlot,
//! };
//!
//! struct Position;
//! struct Velocity;
//!
//! #[derive(System)]
//! #[system(reads(Velocity), writes(Position))]
//! struct Integrate;
//!
//! #[derive(System)]
//! #[system(reads(Position))]
//! struct Report;
//!
//! impl StandaloneSystem for Integrate {
//!     fn run(&mut self, _slot: SystemSlot) -> Result<(), BoxError> { Ok(()) }
//! }
//! impl StandaloneSystem for Report {
//!     fn run(&mut self, _slot: SystemSlot) -> Result<(), BoxError> { Ok(()) }
//! }
//!
//! #[derive(Schedule)]
//! struct Game {
//!     #[stage]
//!     simulate: (Integrate,),
//!     #[stage(after = "simulate")]
//!     present: (Report,),
//! }
//!
//! assert_eq!(Game::topo_groups(), vec![vec!["simulate"], vec!["present"]]);
//! let mut game = Game { simulate: (Integrate,), present: (Report,) };
//! game.run(&Scheduler::single_threaded(), &Standalone)?;
//! # Ok::<(), macrokid_threads::ScheduleError>(())
//! ```

mod executor;
mod group;
mod job;
mod job_queue;
mod observe;
mod panic;
mod pool;
mod run;
mod schedule;
mod spawn;

pub use executor::{
    Dispatch, ScheduleError, Scheduler, SchedulerObserver, StageReport, StageTasks, SystemOutcome,
    SystemReport, SystemTask, DEFAULT_INLINE_THRESHOLD,
};
pub use group::{
    App, AppBuilder, AsyncSystem, ErrorPolicy, FnAsyncSystem, FnSystem, GroupMode, GroupOutcome,
    GroupReport, GroupSystem, GroupWorld, Plugin, RegistrationError, SystemStatus, TickError,
    TickInfo, TickReport, WorkGroup,
};
pub use job::{CancelToken, JobContext, JobRun, Priority};
pub use job_queue::{
    Cancellation, FrameReport, JobError, JobEvent, JobEventStream, JobId, JobQueue,
    JobQueueBuildError, JobQueueBuilder, JobStatus, KindEstimate, SubmitError,
};
pub use macrokid_core::{
    Batch, Conflict, ConflictKind, Despawns, Inserts, Plan, PlanError, Reads, Removes,
    ResourceAccess, ResourceId, Spawns, StageDescriptor, StagePlan, System, SystemDescriptor,
    SystemSlot, Writes,
};
pub use observe::{
    ChromeTrace, LogFormat, PrometheusMetrics, Telemetry, TelemetryError, TelemetryGuard,
    TelemetrySubscriber,
};
pub use pool::{Scope, ThreadPool, ThreadPoolBuilder, ThreadPoolError, DEFAULT_THREAD_NAME_PREFIX};
pub use run::{BoxError, RunSystem};
pub use schedule::{RunSchedule, Schedule, Standalone, StandaloneSystem};
pub use spawn::{join_all, try_join_all, JoinError, JoinHandle, SpawnExt};

/// Derive macros (`System`, `Job`, `Schedule`).
pub use macrokid_threads_derive::{Job, Schedule, System};

// Lets the derives' absolute paths (`::macrokid_threads::...`) resolve inside
// this crate too (its own modules and unit tests use the derives).
extern crate self as macrokid_threads;

#[doc(hidden)]
pub mod __private {
    //! What the derives expand to. Not a public API.
    pub use macrokid_core;
    pub use macrokid_core::{
        Despawns, Inserts, Reads, Removes, ResourceAccess, ResourceId, Spawns, System, Writes,
    };
    pub use macrokid_core::{Plan, StageDescriptor, StagePlan, SystemDescriptor, SystemSlot};
    pub use std::sync::OnceLock;

    pub use crate::executor::{ScheduleError, Scheduler, StageTasks, SystemTask};
    pub use crate::job::{JobContext, JobRun, Priority};
    pub use crate::run::{BoxError, RunSystem};
    pub use crate::schedule::{
        build_plan, check_plan_shape, plan_for, stage_listed_twice, stage_out_of_range,
        take_stage_tasks, unknown_stage, RunSchedule, Schedule,
    };
}
