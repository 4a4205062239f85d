//! Jobs: units of work with a name, a priority and a typed output.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// How urgent a job is. Higher runs first; within one priority, first in first out.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Priority {
    /// Background work (asset baking, pre-computation).
    Low,
    /// The default.
    #[default]
    Normal,
    /// Work the player is waiting for.
    High,
}

impl Priority {
    /// All priorities, lowest first.
    pub const ALL: [Priority; 3] = [Priority::Low, Priority::Normal, Priority::High];

    /// Dense index: `Low` = 0, `Normal` = 1, `High` = 2.
    pub fn index(self) -> usize {
        self as usize
    }
}

/// A cooperative cancellation flag shared between whoever may cancel a job
/// and the job itself. Cloning shares the flag.
#[derive(Clone, Debug, Default)]
pub struct CancelToken(Arc<AtomicBool>);

impl CancelToken {
    /// A token that is not cancelled.
    pub fn new() -> Self {
        Self::default()
    }

    /// Asks the job to stop. Idempotent.
    pub fn cancel(&self) {
        self.0.store(true, Ordering::Release);
    }

    /// Whether [`cancel`](Self::cancel) was called.
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }
}

type ProgressFn = dyn Fn(f32) + Send + Sync;

/// What a running job can see of its runner: whether it should stop, and a
/// place to report progress.
pub struct JobContext {
    cancel: CancelToken,
    progress: Option<Arc<ProgressFn>>,
}

impl JobContext {
    /// A context wired to a cancellation token and an optional progress sink.
    pub fn new(cancel: CancelToken, progress: Option<Arc<ProgressFn>>) -> Self {
        Self { cancel, progress }
    }

    /// A context nobody cancels and nobody watches (for running a job inline).
    pub fn detached() -> Self {
        Self::new(CancelToken::new(), None)
    }

    /// Whether the job has been asked to stop. Long jobs check this between
    /// steps and return early; a cancelled job's output is discarded.
    pub fn is_cancelled(&self) -> bool {
        self.cancel.is_cancelled()
    }

    /// The token behind [`is_cancelled`](Self::is_cancelled).
    pub fn cancel_token(&self) -> &CancelToken {
        &self.cancel
    }

    /// Reports progress as a fraction in `0.0..=1.0` (clamped).
    pub fn report_progress(&self, fraction: f32) {
        if let Some(progress) = &self.progress {
            progress(fraction.clamp(0.0, 1.0));
        }
    }
}

/// A unit of work that runs to a typed output.
///
/// Usually implemented by `#[derive(Job)]`:
///
/// ```
/// use macrokid_threads::{Job, JobContext, JobRun, Priority};
///
/// #[derive(Job)]
/// #[job(run = "split", output = "Vec<f32>", priority = "high")]
/// struct Split {
///     length: f32,
///     pieces: usize,
/// }
///
/// impl Split {
///     fn split(&mut self, cx: &JobContext) -> Vec<f32> {
///         let mut out = Vec::with_capacity(self.pieces);
///         for i in 0..self.pieces {
///             if cx.is_cancelled() {
///                 break;
///             }
///             out.push(self.length / self.pieces as f32);
///             cx.report_progress((i + 1) as f32 / self.pieces as f32);
///         }
///         out
///     }
/// }
///
/// let mut job = Split { length: 3.0, pieces: 3 };
/// assert_eq!(job.priority(), Priority::High);
/// assert_eq!(job.run(&JobContext::detached()), vec![1.0, 1.0, 1.0]);
/// ```
pub trait JobRun: Send + 'static {
    /// What the job produces.
    type Output: Send + 'static;

    /// Runs the job to completion (or until `cx` says it is cancelled).
    fn run(&mut self, cx: &JobContext) -> Self::Output;

    /// A name for logs, events and cost learning; jobs of one name are
    /// assumed to cost alike. Default: the type's name.
    fn name(&self) -> &str {
        std::any::type_name::<Self>()
    }

    /// The job's priority. Default: [`Priority::Normal`].
    fn priority(&self) -> Priority {
        Priority::Normal
    }
}
