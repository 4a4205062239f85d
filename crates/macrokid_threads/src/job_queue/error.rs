//! Errors of the job queue.

use std::fmt;

/// A submission the processor did not accept; the job (or jobs) come back in
/// `rejected` so nothing is lost.
///
/// `T` is the job type for single submissions and `Vec<J>` for batches.
#[non_exhaustive]
pub enum SubmitError<T> {
    /// The bounded queue has no room: back-pressure. Run a frame (or wait
    /// with [`submit_timeout`](super::JobQueue::submit_timeout)) and
    /// try again, or build the processor with a larger
    /// [`capacity`](super::JobQueueBuilder::capacity).
    Full {
        /// What was submitted.
        rejected: T,
        /// The queue's capacity, in jobs.
        capacity: usize,
        /// Free slots when the submission was refused (less than the number
        /// of jobs submitted).
        free: usize,
    },
    /// The processor was dropped (seen by streams that outlive it).
    Closed {
        /// What was submitted.
        rejected: T,
    },
}

impl<T> SubmitError<T> {
    /// The job(s) that were not accepted.
    pub fn into_rejected(self) -> T {
        match self {
            Self::Full { rejected, .. } | Self::Closed { rejected } => rejected,
        }
    }

    /// Whether the queue was full (as opposed to closed).
    pub fn is_full(&self) -> bool {
        matches!(self, Self::Full { .. })
    }
}

impl<T> fmt::Debug for SubmitError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Full { capacity, free, .. } => f
                .debug_struct("Full")
                .field("capacity", capacity)
                .field("free", free)
                .finish_non_exhaustive(),
            Self::Closed { .. } => f.debug_struct("Closed").finish_non_exhaustive(),
        }
    }
}

impl<T> fmt::Display for SubmitError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Full { capacity, free, .. } => write!(
                f,
                "batch queue full ({free} of {capacity} slots free): run a frame \
                 to drain it, wait with submit_timeout, or raise the capacity"
            ),
            Self::Closed { .. } => {
                write!(f, "job queue was dropped: it accepts no more jobs")
            }
        }
    }
}

impl<T> std::error::Error for SubmitError<T> {}

/// Why a [`JobQueueBuilder`](super::JobQueueBuilder) could not build a processor.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum JobQueueBuildError {
    /// A queue of capacity 0 could never accept a job.
    #[error("batch queue capacity must be at least 1")]
    ZeroCapacity,
    /// Building the processor's own pool failed.
    #[error("could not build the job queue's thread pool: {0}")]
    Pool(#[from] crate::ThreadPoolError),
}
