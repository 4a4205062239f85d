//! # macrokid_threads
//!
//! The runtime of macrokid: a thread pool on rayon, a scheduler that executes
//! a [`macrokid_core`] plan, jobs, and the frame-budgeted batch processor.

mod job;
mod run;

pub use job::{CancelToken, JobContext, JobRun, Priority};
pub use macrokid_core::SystemSlot;
pub use macrokid_core::{Reads, ResourceAccess, ResourceId, System, Writes};
pub use run::{BoxError, RunSystem};

/// Derive macros (`System`, `Job`, `Schedule`).
pub use macrokid_threads_derive::{Job, Schedule, System};

#[doc(hidden)]
pub mod __private {
    //! What the derives expand to. Not a public API.
    pub use macrokid_core;
}
