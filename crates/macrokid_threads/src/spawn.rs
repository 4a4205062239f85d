//! Fork-join helpers on a [`ThreadPool`]: [`join_all`] and [`SpawnExt`].

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Duration;

use rayon::iter::{IntoParallelIterator, ParallelIterator};
use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError, TryRecvError};

use crate::job::{JobContext, JobRun};
use crate::panic::panic_message;
use crate::pool::ThreadPool;

/// Why a spawned closure gave no result.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum JoinError {
    /// The closure panicked; the panic was caught on the worker.
    #[error("spawned task `{name}` panicked: {message}")]
    Panicked {
        /// The task's name (the job's name, or `task` for a closure).
        name: String,
        /// The panic message (`<non-string panic payload>` when the payload
        /// was neither `&str` nor `String`).
        message: String,
    },
    /// The closure was dropped without running (its pool shut down first).
    #[error(
        "spawned task was dropped before it finished; keep its thread pool alive until joined"
    )]
    Lost,
}

/// Runs every closure of `jobs` in parallel on [`ThreadPool::global`] and
/// returns their results in input order.
///
/// ```
/// let squares = macrokid_threads::join_all((1..=4).map(|i| move || i * i).collect());
/// assert_eq!(squares, [1, 4, 9, 16]);
/// ```
///
/// # Panics
/// When a closure panics, the panic is resumed on the caller after the
/// closures that already started have finished; use [`try_join_all`] to get
/// each panic as an error instead.
pub fn join_all<F, R>(jobs: Vec<F>) -> Vec<R>
where
    F: FnOnce() -> R + Send,
    R: Send,
{
    ThreadPool::global().join_all(jobs)
}

/// Like [`join_all`], but a panicking closure gives
/// [`JoinError::Panicked`] in its place while the others still complete.
pub fn try_join_all<F, R>(jobs: Vec<F>) -> Vec<Result<R, JoinError>>
where
    F: FnOnce() -> R + Send,
    R: Send,
{
    ThreadPool::global().try_join_all(jobs)
}

impl ThreadPool {
    /// Runs every closure of `jobs` in parallel on this pool and returns
    /// their results in input order. A single closure runs inline.
    ///
    /// # Panics
    /// As [`join_all`].
    pub fn join_all<F, R>(&self, mut jobs: Vec<F>) -> Vec<R>
    where
        F: FnOnce() -> R + Send,
        R: Send,
    {
        match jobs.len() {
            0 => Vec::new(),
            1 => vec![(jobs.pop().expect("one job"))()],
            _ => self.install(|| jobs.into_par_iter().map(|job| job()).collect()),
        }
    }

    /// Like [`ThreadPool::join_all`], but each panic becomes
    /// [`JoinError::Panicked`] in that closure's place.
    pub fn try_join_all<F, R>(&self, jobs: Vec<F>) -> Vec<Result<R, JoinError>>
    where
        F: FnOnce() -> R + Send,
        R: Send,
    {
        let guarded = jobs
            .into_iter()
            .map(|job| move || catch_task("task", job))
            .collect();
        self.join_all(guarded)
    }
}

fn catch_task<R>(name: &str, f: impl FnOnce() -> R) -> Result<R, JoinError> {
    catch_unwind(AssertUnwindSafe(f)).map_err(|payload| JoinError::Panicked {
        name: name.to_owned(),
        message: panic_message(payload.as_ref()),
    })
}

/// A spawned closure's result, to be waited for with [`join`](Self::join).
///
/// Dropping the handle detaches the closure: it still runs, its result is
/// dropped.
#[derive(Debug)]
#[must_use = "dropping a JoinHandle detaches the task; call `join` to get its result"]
pub struct JoinHandle<R> {
    rx: Receiver<Result<R, JoinError>>,
    /// A result received by [`is_finished`](Self::is_finished).
    ready: Option<Result<R, JoinError>>,
}

impl<R> JoinHandle<R> {
    /// Waits for the result.
    ///
    /// Called on a worker thread of a rayon pool, it runs other pending work
    /// of that pool while waiting (so joining from inside the pool cannot
    /// deadlock it); elsewhere it blocks.
    ///
    /// # Errors
    /// [`JoinError::Panicked`] when the closure panicked,
    /// [`JoinError::Lost`] when it was dropped without running.
    pub fn join(self) -> Result<R, JoinError> {
        if let Some(result) = self.ready {
            return result;
        }
        loop {
            match self.rx.try_recv() {
                Ok(result) => return result,
                Err(TryRecvError::Disconnected) => return Err(JoinError::Lost),
                Err(TryRecvError::Empty) => {}
            }
            match rayon::yield_now() {
                Some(rayon::Yield::Executed) => {}
                Some(rayon::Yield::Idle) => {
                    match self.rx.recv_timeout(Duration::from_micros(100)) {
                        Ok(result) => return result,
                        Err(RecvTimeoutError::Timeout) => {}
                        Err(RecvTimeoutError::Disconnected) => return Err(JoinError::Lost),
                    }
                }
                None => return self.rx.recv().unwrap_or(Err(JoinError::Lost)),
            }
        }
    }

    /// The result if it is ready, else the handle back.
    ///
    /// # Errors
    /// `Err(self)` while the closure has not finished.
    pub fn try_join(mut self) -> Result<Result<R, JoinError>, Self> {
        if let Some(result) = self.ready.take() {
            return Ok(result);
        }
        match self.rx.try_recv() {
            Ok(result) => Ok(result),
            Err(TryRecvError::Disconnected) => Ok(Err(JoinError::Lost)),
            Err(TryRecvError::Empty) => Err(self),
        }
    }

    /// Whether [`join`](Self::join) would return without waiting.
    pub fn is_finished(&mut self) -> bool {
        if self.ready.is_none() {
            match self.rx.try_recv() {
                Ok(result) => self.ready = Some(result),
                Err(TryRecvError::Disconnected) => self.ready = Some(Err(JoinError::Lost)),
                Err(TryRecvError::Empty) => {}
            }
        }
        self.ready.is_some()
    }
}

/// Spawning with a result: extends [`ThreadPool`] (and anything that derefs
/// to it, such as `Arc<ThreadPool>`).
///
/// ```
/// use macrokid_threads::{SpawnExt, ThreadPool};
/// let pool = ThreadPool::new(2)?;
/// let handle = pool.spawn_with_handle(|| 6 * 7);
/// assert_eq!(handle.join(), Ok(42));
/// let failed = pool.spawn_with_handle(|| -> u32 { panic!("boom") });
/// assert!(failed.join().unwrap_err().to_string().contains("boom"));
/// # Ok::<(), macrokid_threads::ThreadPoolError>(())
/// ```
pub trait SpawnExt {
    /// Runs `f` on the pool; the handle's [`join`](JoinHandle::join) gives
    /// its result, or its panic as [`JoinError::Panicked`].
    fn spawn_with_handle<F, R>(&self, f: F) -> JoinHandle<R>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static;

    /// Runs `job` on the pool with a detached [`JobContext`] (nobody cancels
    /// it); the handle gives its output. The panic error carries the job's
    /// [`name`](JobRun::name). For queued, cancellable, budgeted jobs use the
    /// job queue.
    fn spawn_job<J: JobRun>(&self, job: J) -> JoinHandle<J::Output>;
}

impl SpawnExt for ThreadPool {
    fn spawn_with_handle<F, R>(&self, f: F) -> JoinHandle<R>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        let (tx, rx) = sync_channel(1);
        self.spawn(move || {
            // The receiver may be gone (detached handle): nothing to report.
            let _ = tx.send(catch_task("task", f));
        });
        JoinHandle { rx, ready: None }
    }

    fn spawn_job<J: JobRun>(&self, mut job: J) -> JoinHandle<J::Output> {
        let (tx, rx) = sync_channel(1);
        self.spawn(move || {
            let name = job.name().to_owned();
            let span = tracing::info_span!("job", job = %name);
            let _entered = span.enter();
            let cx = JobContext::detached();
            let _ = tx.send(catch_task(&name, || job.run(&cx)));
        });
        JoinHandle { rx, ready: None }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn join_all_keeps_input_order() {
        let pool = ThreadPool::new(2).unwrap();
        let jobs: Vec<Box<dyn FnOnce() -> usize + Send>> = (0..100usize)
            .map(|i| Box::new(move || i * 2) as Box<dyn FnOnce() -> usize + Send>)
            .collect();
        assert_eq!(
            pool.join_all(jobs),
            (0..100usize).map(|i| i * 2).collect::<Vec<_>>()
        );
        assert_eq!(pool.join_all(Vec::<fn() -> u8>::new()), Vec::<u8>::new());
        assert_eq!(pool.join_all(vec![|| 7]), [7]);
    }

    #[test]
    fn try_join_all_reports_panics_in_place() {
        let pool = ThreadPool::new(2).unwrap();
        let results = pool.try_join_all(
            (0..4)
                .map(|i| {
                    move || {
                        assert!(i != 2, "job {i} fails");
                        i
                    }
                })
                .collect(),
        );
        assert_eq!(results[0], Ok(0));
        assert_eq!(results[3], Ok(3));
        assert!(
            matches!(&results[2], Err(JoinError::Panicked { message, .. }) if message == "job 2 fails")
        );
    }

    #[test]
    fn join_from_inside_the_pool_does_not_deadlock() {
        let pool = std::sync::Arc::new(ThreadPool::new(1).unwrap());
        let inner = std::sync::Arc::clone(&pool);
        let value = pool.install(move || inner.spawn_with_handle(|| 5).join());
        assert_eq!(value, Ok(5));
    }

    #[test]
    fn spawn_job_runs_a_job_run() {
        struct Sum(Vec<u32>);
        impl JobRun for Sum {
            type Output = u32;
            fn run(&mut self, _cx: &JobContext) -> u32 {
                self.0.iter().sum()
            }
            fn name(&self) -> &str {
                "sum"
            }
        }
        struct Fail;
        impl JobRun for Fail {
            type Output = ();
            fn run(&mut self, _cx: &JobContext) {
                panic!("no");
            }
            fn name(&self) -> &str {
                "fail"
            }
        }
        let pool = ThreadPool::new(2).unwrap();
        assert_eq!(pool.spawn_job(Sum(vec![1, 2, 3])).join(), Ok(6));
        assert_eq!(
            pool.spawn_job(Fail).join(),
            Err(JoinError::Panicked {
                name: "fail".into(),
                message: "no".into()
            })
        );
        let mut finished = pool.spawn_with_handle(|| 2);
        while !finished.is_finished() {
            std::thread::yield_now();
        }
        assert_eq!(finished.join(), Ok(2));
        let mut handle = pool.spawn_with_handle(|| 1);
        loop {
            match handle.try_join() {
                Ok(result) => break assert_eq!(result, Ok(1)),
                Err(h) => handle = h,
            }
            std::thread::yield_now();
        }
    }
}
