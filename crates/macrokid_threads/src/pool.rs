//! [`ThreadPool`]: a named, sized rayon pool with thin pass-throughs.

use std::fmt;
use std::num::NonZeroUsize;
use std::sync::{Arc, OnceLock};

pub use rayon::Scope;

/// The prefix of worker thread names when none is given: workers are named
/// `macrokid-worker-0`, `macrokid-worker-1`, ...
pub const DEFAULT_THREAD_NAME_PREFIX: &str = "macrokid-worker";

/// Why a [`ThreadPool`] could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ThreadPoolError {
    /// A thread count of zero was asked for.
    #[error(
        "a thread pool needs at least one thread, got 0; pass a positive count, or leave the \
         count unset on `ThreadPool::builder()` for one thread per available core"
    )]
    ZeroThreads,
    /// The operating system refused to start the worker threads.
    #[error("could not start the worker threads of a {threads}-thread pool: {source}")]
    Spawn {
        /// The thread count that was asked for.
        threads: usize,
        /// rayon's error.
        #[source]
        source: rayon::ThreadPoolBuildError,
    },
}

/// Configures and builds a [`ThreadPool`].
///
/// ```
/// use macrokid_threads::ThreadPool;
/// let pool = ThreadPool::builder().num_threads(2).thread_name_prefix("sim").build()?;
/// assert_eq!(pool.num_threads(), 2);
/// let name = pool.install(|| std::thread::current().name().map(str::to_owned));
/// assert!(name.unwrap().starts_with("sim-"));
/// # Ok::<(), macrokid_threads::ThreadPoolError>(())
/// ```
#[derive(Clone, Debug, Default)]
#[must_use]
pub struct ThreadPoolBuilder {
    num_threads: Option<usize>,
    thread_name_prefix: Option<String>,
    stack_size: Option<usize>,
}

impl ThreadPoolBuilder {
    /// A builder with defaults: one thread per available core (or
    /// `RAYON_NUM_THREADS` when set), names `macrokid-worker-<i>`.
    pub fn new() -> Self {
        Self::default()
    }

    /// The number of worker threads (at least 1, checked by
    /// [`build`](Self::build)).
    pub fn num_threads(mut self, threads: usize) -> Self {
        self.num_threads = Some(threads);
        self
    }

    /// Worker threads are named `<prefix>-<index>`, index from 0.
    pub fn thread_name_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.thread_name_prefix = Some(prefix.into());
        self
    }

    /// The stack size of each worker thread, in bytes (default: rayon's, the
    /// platform default for spawned threads).
    pub fn stack_size(mut self, bytes: usize) -> Self {
        self.stack_size = Some(bytes);
        self
    }

    /// Starts the worker threads.
    ///
    /// # Errors
    /// [`ThreadPoolError::ZeroThreads`] for a thread count of 0;
    /// [`ThreadPoolError::Spawn`] when the threads cannot be started.
    pub fn build(self) -> Result<ThreadPool, ThreadPoolError> {
        let threads = match self.num_threads {
            Some(0) => return Err(ThreadPoolError::ZeroThreads),
            Some(n) => n,
            None => default_thread_count(),
        };
        let prefix = self
            .thread_name_prefix
            .unwrap_or_else(|| DEFAULT_THREAD_NAME_PREFIX.to_owned());
        let mut builder = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .thread_name(move |i| format!("{prefix}-{i}"));
        if let Some(bytes) = self.stack_size {
            builder = builder.stack_size(bytes);
        }
        let inner = builder
            .build()
            .map_err(|source| ThreadPoolError::Spawn { threads, source })?;
        Ok(ThreadPool { inner })
    }
}

/// `RAYON_NUM_THREADS` when set to a positive number, else the available
/// parallelism, else 1.
fn default_thread_count() -> usize {
    std::env::var("RAYON_NUM_THREADS")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .filter(|&n| n > 0)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, NonZeroUsize::get))
}

/// A pool of worker threads on [`rayon::ThreadPool`].
///
/// The methods pass straight through to rayon; when called from a worker of
/// this pool they cost what rayon's free functions cost (`join` about 20 ns,
/// no injection). Panics in the closures propagate to the caller as in rayon.
pub struct ThreadPool {
    inner: rayon::ThreadPool,
}

static GLOBAL: OnceLock<Arc<ThreadPool>> = OnceLock::new();

impl ThreadPool {
    /// A pool of `threads` workers named `macrokid-worker-<i>`.
    ///
    /// # Errors
    /// See [`ThreadPoolBuilder::build`].
    pub fn new(threads: usize) -> Result<Self, ThreadPoolError> {
        Self::builder().num_threads(threads).build()
    }

    /// A builder for a pool with a chosen size, thread names or stack size.
    pub fn builder() -> ThreadPoolBuilder {
        ThreadPoolBuilder::new()
    }

    /// The process-wide pool, built on first use with the defaults of
    /// [`ThreadPoolBuilder::new`]. It lives until the process exits.
    ///
    /// # Panics
    /// When the operating system refuses to start its threads (on first use).
    pub fn global() -> &'static ThreadPool {
        Self::global_arc()
    }

    /// [`ThreadPool::global`] as a shared handle.
    ///
    /// # Panics
    /// As [`ThreadPool::global`].
    pub fn global_arc() -> &'static Arc<ThreadPool> {
        GLOBAL.get_or_init(|| {
            Arc::new(
                ThreadPoolBuilder::new().build().unwrap_or_else(|e| {
                    panic!("cannot start the global macrokid thread pool: {e}")
                }),
            )
        })
    }

    /// The number of worker threads.
    pub fn num_threads(&self) -> usize {
        self.inner.current_num_threads()
    }

    /// The index of the current thread in this pool (`0..num_threads()`), or
    /// `None` when the current thread is not one of its workers.
    pub fn current_thread_index(&self) -> Option<usize> {
        self.inner.current_thread_index()
    }

    /// Whether the current thread is a worker of this pool.
    pub fn is_worker_thread(&self) -> bool {
        self.inner.current_thread_index().is_some()
    }

    /// Runs `f` on a worker of this pool and waits for it; rayon parallel
    /// iterators and `rayon::join` inside `f` use this pool. Runs `f` directly
    /// when already on a worker of this pool.
    pub fn install<R: Send>(&self, f: impl FnOnce() -> R + Send) -> R {
        self.inner.install(f)
    }

    /// Runs `a` and `b`, potentially in parallel, and returns both results
    /// (see [`rayon::join`]).
    pub fn join<A, B, RA, RB>(&self, a: A, b: B) -> (RA, RB)
    where
        A: FnOnce() -> RA + Send,
        B: FnOnce() -> RB + Send,
        RA: Send,
        RB: Send,
    {
        self.inner.join(a, b)
    }

    /// A scope in which tasks borrowing from the stack can be spawned on this
    /// pool; returns once all of them finished (see [`rayon::scope`]). `op`
    /// runs on a worker of this pool.
    pub fn scope<'scope, OP, R>(&self, op: OP) -> R
    where
        OP: FnOnce(&Scope<'scope>) -> R + Send,
        R: Send,
    {
        self.inner.scope(op)
    }

    /// Like [`scope`](Self::scope), but `op` runs on the calling thread
    /// (see [`rayon::ThreadPool::in_place_scope`]).
    pub fn in_place_scope<'scope, OP, R>(&self, op: OP) -> R
    where
        OP: FnOnce(&Scope<'scope>) -> R,
    {
        self.inner.in_place_scope(op)
    }

    /// Runs `f` on this pool some time later, without waiting for it. A panic
    /// in `f` aborts the process, as in [`rayon::spawn`]; use
    /// [`SpawnExt::spawn_with_handle`](crate::SpawnExt::spawn_with_handle) to
    /// get results and panics back.
    pub fn spawn(&self, f: impl FnOnce() + Send + 'static) {
        self.inner.spawn(f);
    }

    /// The underlying rayon pool, for rayon APIs not passed through here.
    pub fn as_rayon(&self) -> &rayon::ThreadPool {
        &self.inner
    }
}

impl fmt::Debug for ThreadPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ThreadPool")
            .field("num_threads", &self.num_threads())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_threads_is_an_error() {
        let err = ThreadPool::new(0).unwrap_err();
        assert!(matches!(err, ThreadPoolError::ZeroThreads));
        assert!(err.to_string().contains("at least one thread"));
    }

    #[test]
    fn names_and_sizes() {
        let pool = ThreadPool::builder()
            .num_threads(3)
            .thread_name_prefix("t")
            .build()
            .unwrap();
        assert_eq!(pool.num_threads(), 3);
        assert!(!pool.is_worker_thread());
        let (name, index) = pool.install(|| {
            (
                std::thread::current().name().unwrap().to_owned(),
                pool.current_thread_index(),
            )
        });
        assert!(name.starts_with("t-"), "{name}");
        assert!(index.unwrap() < 3);
        assert_eq!(pool.join(|| 1, || 2), (1, 2));
        let mut hits = [0; 4];
        pool.scope(|s| {
            for (i, h) in hits.iter_mut().enumerate() {
                s.spawn(move |_| *h = i + 1);
            }
        });
        assert_eq!(hits, [1, 2, 3, 4]);
    }

    #[test]
    fn global_is_shared() {
        assert!(std::ptr::eq(ThreadPool::global(), ThreadPool::global()));
        assert!(ThreadPool::global().num_threads() >= 1);
    }
}
