//! The frame-budgeted job queue: many independent jobs, run on a pool
//! a slice of time per frame, with priorities, aging, back-pressure,
//! cancellation and events.
//!
//! See [`JobQueue`] for the example and the design: the queue and
//! aging rule in `queue.rs`, the budget algorithm in `frame.rs`.

mod cost;
mod error;
mod event;
mod frame;
mod queue;
mod stream;

use std::marker::PhantomData;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crossbeam_channel::Receiver;

pub use error::{JobQueueBuildError, SubmitError};
pub use event::{JobError, JobEvent, JobId};
pub use frame::FrameReport;
pub use stream::JobEventStream;

use cost::CostModel;
use event::Sink;
use frame::Limit;
use queue::{CancelOutcome, Queue};

use crate::{JobRun, Priority, ThreadPool};

/// What [`JobQueue::cancel`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cancellation {
    /// The job was still queued: it was removed in O(1) and its
    /// [`JobEvent::Cancelled`] was sent before `cancel` returned.
    Dequeued,
    /// The job is running: its [`CancelToken`](crate::CancelToken) is set.
    /// When the job returns (early, if it checks
    /// [`JobContext::is_cancelled`](crate::JobContext::is_cancelled)) its
    /// output is discarded and [`JobEvent::Cancelled`] is sent.
    Requested,
    /// Nothing to cancel: the id is unknown, or the job already finished or
    /// was cancelled before.
    Inactive,
}

/// Where a job is, as reported by [`JobQueue::status`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JobStatus {
    /// Waiting in the queue.
    Queued,
    /// A worker runs it (possibly asked to stop).
    Running,
}

/// The learned cost of one job kind, from [`JobQueue::cost_estimates`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KindEstimate {
    /// The kind ([`JobRun::name`]).
    pub kind: String,
    /// Exponential moving average of the run time (weight 1/8 per sample).
    pub mean: Duration,
    /// Jobs of this kind measured so far.
    pub samples: u64,
}

/// State shared by the processor, its streams and its workers.
pub(crate) struct Shared<J: JobRun> {
    queue: Mutex<Queue<J>>,
    /// Signalled when queue slots free up.
    space: Condvar,
    /// Serialises frames.
    frame_lock: Mutex<()>,
    ordered: bool,
}

impl<J: JobRun> Shared<J> {
    fn lock(&self) -> MutexGuard<'_, Queue<J>> {
        // The queue is left consistent at every point where code under the
        // lock could panic, so a poisoned lock is still usable.
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues one job, waiting for space until `deadline` if given.
    fn submit(
        &self,
        sink: &Arc<Sink<J::Output>>,
        job: J,
        priority: Priority,
        deadline: Option<Instant>,
    ) -> Result<JobId, SubmitError<J>> {
        let mut queue = self.lock();
        loop {
            if queue.closed {
                return Err(SubmitError::Closed { rejected: job });
            }
            if queue.free() > 0 {
                return Ok(queue.push(job, priority, sink));
            }
            let now = Instant::now();
            match deadline {
                Some(deadline) if now < deadline => {
                    queue = self
                        .space
                        .wait_timeout(queue, deadline - now)
                        .unwrap_or_else(|e| e.into_inner())
                        .0;
                }
                _ => {
                    return Err(SubmitError::Full {
                        rejected: job,
                        capacity: queue.capacity(),
                        free: 0,
                    })
                }
            }
        }
    }

    /// Queues all of `jobs` or none.
    fn submit_batch(
        &self,
        sink: &Arc<Sink<J::Output>>,
        jobs: Vec<J>,
        priority: Priority,
    ) -> Result<Vec<JobId>, SubmitError<Vec<J>>> {
        let mut queue = self.lock();
        if queue.closed {
            return Err(SubmitError::Closed { rejected: jobs });
        }
        if queue.free() < jobs.len() {
            return Err(SubmitError::Full {
                capacity: queue.capacity(),
                free: queue.free(),
                rejected: jobs,
            });
        }
        Ok(jobs
            .into_iter()
            .map(|job| queue.push(job, priority, sink))
            .collect())
    }

    fn cancel(&self, id: JobId) -> Cancellation {
        let outcome = self.lock().cancel(id);
        match outcome {
            CancelOutcome::Dequeued(state) => {
                self.space.notify_all();
                state.sink.finish(state.seq, JobEvent::Cancelled { id });
                Cancellation::Dequeued
            }
            CancelOutcome::Requested => Cancellation::Requested,
            CancelOutcome::Inactive => Cancellation::Inactive,
        }
    }

    fn cancel_all_queued(&self, close: bool) -> usize {
        let cancelled = {
            let mut queue = self.lock();
            queue.closed |= close;
            queue.cancel_all_queued()
        };
        self.space.notify_all();
        let n = cancelled.len();
        for (id, state) in cancelled {
            state.sink.finish(state.seq, JobEvent::Cancelled { id });
        }
        n
    }
}

/// Runs many independent jobs of type `J` on a [`ThreadPool`], a time budget per
/// frame, and reports them as [`JobEvent`]s.
///
/// ```
/// use std::time::Duration;
/// use macrokid_threads::{JobEvent, JobQueue, JobContext, JobRun, Priority};
///
/// struct Square(u64);
/// impl JobRun for Square {
///     type Output = u64;
///     fn run(&mut self, _cx: &JobContext) -> u64 { self.0 * self.0 }
/// }
///
/// let queue: JobQueue<Square> = JobQueue::builder()
///     .capacity(1024)
///     .threads(2)
///     .ordered()
///     .build()?;
/// let ids = queue.submit_batch((0..100).map(Square), Priority::Normal)?;
/// let mut results = Vec::new();
/// while results.len() < ids.len() {
///     queue.run_frame(Duration::from_millis(2)); // once per game frame
///     for event in queue.drain_events() {
///         if let JobEvent::Completed { output, .. } = event {
///             results.push(output);
///         }
///     }
/// }
/// // `ordered()`: results arrive in submission order.
/// assert_eq!(results, (0..100).map(|i| i * i).collect::<Vec<_>>());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Use
/// - Submission: [`submit`](Self::submit), [`submit_batch`](Self::submit_batch),
///   [`stream`](Self::stream); each accepted job gets a [`JobId`] that grows
///   with submission order.
/// - Running: the main loop calls [`run_frame`](Self::run_frame) once per
///   frame; jobs run only inside `run_frame`, [`run_jobs`](Self::run_jobs)
///   and [`run_until_idle`](Self::run_until_idle). Jobs *start* in queue
///   order (priority with aging, FIFO within a priority); on several workers
///   they may *finish* in another order.
/// - Events: [`drain_events`](Self::drain_events) once per frame. Each
///   accepted job yields exactly one terminal event (completed, failed or
///   cancelled), also when the processor is dropped (queued jobs are then
///   cancelled).
/// - Mixed workloads use an enum as `J` whose [`JobRun::name`] tells the
///   variants apart, so that each kind's cost is learned separately.
/// - All methods take `&self`; the processor is `Send + Sync` and can be
///   shared (e.g. in an `Arc`) between producer threads and the main loop.
///
/// # Design
/// - **Queue**: one FIFO deque per [`Priority`], bounded as a whole (queued
///   jobs only; running ones do not count); a full queue refuses
///   ([`submit`](Self::submit) gives the job back) or blocks with a timeout
///   ([`submit_timeout`](Self::submit_timeout)). Push and pop are O(1): a pop
///   compares the fronts of the three deques.
/// - **Aging**: a queued job scores `priority.index() * aging_frames +
///   frames_waited`; the highest score starts next, the older job on ties.
///   So a job climbs one level per `aging_frames` frames waited (default 8)
///   and never starves ([`JobQueueBuilder::aging_frames`]).
/// - **Cancellation** ([`cancel`](Self::cancel)): a queued job is cancelled
///   in O(1) expected time: a hash-map lookup of its id and a
///   compare-and-swap of its state word; its deque entry becomes a tombstone
///   that is dropped when it reaches the front, or in one compaction pass
///   once tombstones outnumber live entries (amortised O(1) per
///   cancellation). A running job is cancelled cooperatively through its
///   [`CancelToken`](crate::CancelToken); its output is discarded.
/// - **Budget** ([`run_frame`](Self::run_frame)): every pool thread runs a
///   worker loop that takes the next job only if
///   `elapsed + predicted_cost(kind) <= budget`; the prediction per kind
///   ([`JobRun::name`]) is an exponential moving average of measured run
///   times (weight 1/8) plus their mean absolute deviation, with outliers
///   clamped at 4x the mean; a kind never seen is predicted at
///   [`JobQueueBuilder::default_cost`]. No batch size to tune.
/// - **Order** ([`JobQueueBuilder::ordered`]): terminal events are delivered in
///   submission order, early ones buffered; otherwise as they complete.
pub struct JobQueue<J: JobRun> {
    shared: Arc<Shared<J>>,
    pool: Arc<ThreadPool>,
    sink: Arc<Sink<J::Output>>,
    events: Receiver<JobEvent<J::Output>>,
}

impl<J: JobRun> JobQueue<J> {
    /// A builder with the defaults listed on [`JobQueueBuilder`].
    pub fn builder() -> JobQueueBuilder<J> {
        JobQueueBuilder {
            capacity: 4096,
            aging_frames: 8,
            ordered: false,
            default_cost: Duration::from_micros(500),
            pool: None,
            threads: None,
            _job: PhantomData,
        }
    }

    /// A processor with the default settings on the global pool.
    ///
    /// # Panics
    /// As [`JobQueueBuilder::build`].
    pub fn new() -> Self {
        Self::builder()
            .build()
            .expect("the default batch settings are valid")
    }

    /// Queues `job` at `priority`.
    ///
    /// # Errors
    /// [`SubmitError::Full`] (with the job) when the queue holds
    /// [`capacity`](Self::capacity) jobs.
    pub fn submit(&self, job: J, priority: Priority) -> Result<JobId, SubmitError<J>> {
        self.shared.submit(&self.sink, job, priority, None)
    }

    /// Queues `job` at its own [`JobRun::priority`].
    ///
    /// # Errors
    /// As [`submit`](Self::submit).
    pub fn enqueue(&self, job: J) -> Result<JobId, SubmitError<J>> {
        let priority = job.priority();
        self.submit(job, priority)
    }

    /// Queues `job`, waiting up to `timeout` for a free slot. Slots free up
    /// when a frame takes jobs or jobs are cancelled, so call this from a
    /// thread other than the one running frames.
    ///
    /// # Errors
    /// [`SubmitError::Full`] if no slot freed up in time.
    pub fn submit_timeout(
        &self,
        job: J,
        priority: Priority,
        timeout: Duration,
    ) -> Result<JobId, SubmitError<J>> {
        self.shared
            .submit(&self.sink, job, priority, Some(Instant::now() + timeout))
    }

    /// Queues all `jobs` at `priority`, atomically: either all are accepted
    /// (ids in iteration order, consecutive among this processor's
    /// submissions) or none.
    ///
    /// # Errors
    /// [`SubmitError::Full`] (with all the jobs) if fewer slots are free than
    /// jobs given (a batch larger than the capacity never fits: split it).
    pub fn submit_batch(
        &self,
        jobs: impl IntoIterator<Item = J>,
        priority: Priority,
    ) -> Result<Vec<JobId>, SubmitError<Vec<J>>> {
        self.shared
            .submit_batch(&self.sink, jobs.into_iter().collect(), priority)
    }

    /// A stream: push jobs, receive their results in chunks as they
    /// complete. Its jobs share this processor's queue, priorities and
    /// frames; their events go to the stream instead of
    /// [`events`](Self::events).
    pub fn stream(&self) -> JobEventStream<J> {
        JobEventStream::new(Arc::clone(&self.shared))
    }

    /// Cancels a job: O(1) while it is queued (its `Cancelled` event is sent
    /// at once); cooperative while it runs (see [`Cancellation`]).
    pub fn cancel(&self, id: JobId) -> Cancellation {
        self.shared.cancel(id)
    }

    /// Cancels every queued job (running jobs go on); returns how many.
    pub fn cancel_queued(&self) -> usize {
        self.shared.cancel_all_queued(false)
    }

    /// Whether job `id` is queued or running; `None` once its terminal event
    /// is sent (or for an unknown id).
    pub fn status(&self, id: JobId) -> Option<JobStatus> {
        self.shared.lock().is_running(id).map(|running| {
            if running {
                JobStatus::Running
            } else {
                JobStatus::Queued
            }
        })
    }

    /// Runs queued jobs in parallel on the pool for at most about `budget`
    /// of wall time, then returns; call it once per frame.
    ///
    /// Each worker takes the next job (priority order with aging, FIFO within
    /// a priority) only if the time elapsed in this frame plus the job kind's
    /// predicted cost fits the budget; a job that started is never
    /// interrupted, so the call can overshoot by the misprediction of the
    /// last jobs (see [`FrameReport::overshoot`]). The first job of a frame
    /// always starts. Advances the frame counter used for aging.
    ///
    /// Frames do not overlap: a second thread calling this waits for the
    /// first. Calling it (or [`run_jobs`](Self::run_jobs),
    /// [`run_until_idle`](Self::run_until_idle)) from inside one of this
    /// processor's jobs deadlocks.
    pub fn run_frame(&self, budget: Duration) -> FrameReport {
        frame::run(&self.shared, &self.pool, Limit::Budget(budget))
    }

    /// Runs the next `max_jobs` queued jobs (fewer if the queue runs dry) in
    /// parallel, without a time budget: the "fixed batch" way. Advances the
    /// frame counter.
    pub fn run_jobs(&self, max_jobs: usize) -> FrameReport {
        frame::run(&self.shared, &self.pool, Limit::Count(max_jobs))
    }

    /// Runs until the queue is empty, in parallel, as one frame.
    pub fn run_until_idle(&self) -> FrameReport {
        frame::run(&self.shared, &self.pool, Limit::Drain)
    }

    /// The event channel; drain it once per frame (or use
    /// [`drain_events`](Self::drain_events)). Unbounded: events of jobs
    /// already accepted are never dropped.
    pub fn events(&self) -> &Receiver<JobEvent<J::Output>> {
        &self.events
    }

    /// Every event available now, without blocking.
    pub fn drain_events(&self) -> crossbeam_channel::TryIter<'_, JobEvent<J::Output>> {
        self.events.try_iter()
    }

    /// Jobs waiting in the queue (cancelled ones excluded).
    pub fn len(&self) -> usize {
        self.shared.lock().len()
    }

    /// Whether no job waits.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Jobs queued or running (not yet terminal).
    pub fn active(&self) -> usize {
        self.shared.lock().active()
    }

    /// Most jobs the queue holds at once.
    pub fn capacity(&self) -> usize {
        self.shared.lock().capacity()
    }

    /// Whether terminal events come in submission order.
    pub fn is_ordered(&self) -> bool {
        self.shared.ordered
    }

    /// Worker threads a frame uses.
    pub fn num_workers(&self) -> usize {
        self.pool.num_threads()
    }

    /// Frames run so far.
    pub fn frames(&self) -> u64 {
        self.shared.lock().frame
    }

    /// The learned cost of every kind seen so far, in first-seen order.
    pub fn cost_estimates(&self) -> Vec<KindEstimate> {
        self.shared
            .lock()
            .costs
            .snapshot()
            .into_iter()
            .map(|(kind, mean, samples)| KindEstimate {
                kind,
                mean,
                samples,
            })
            .collect()
    }
}

impl<J: JobRun> Default for JobQueue<J> {
    /// [`JobQueue::new`].
    fn default() -> Self {
        Self::new()
    }
}

impl<J: JobRun> Drop for JobQueue<J> {
    /// Cancels every queued job (sending their `Cancelled` events) and closes
    /// the queue for streams that outlive the processor.
    fn drop(&mut self) {
        self.shared.cancel_all_queued(true);
    }
}

impl<J: JobRun> std::fmt::Debug for JobQueue<J> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let queue = self.shared.lock();
        f.debug_struct("JobQueue")
            .field("queued", &queue.len())
            .field("active", &queue.active())
            .field("capacity", &queue.capacity())
            .field("frame", &queue.frame)
            .field("ordered", &self.shared.ordered)
            .field("workers", &self.pool.num_threads())
            .finish()
    }
}

/// Configures a [`JobQueue`]. Defaults: capacity 4096, aging every 8
/// frames, results as completed, 500 µs predicted for an unseen kind, the
/// process-wide [`ThreadPool::global`].
#[must_use]
pub struct JobQueueBuilder<J> {
    capacity: usize,
    aging_frames: u32,
    ordered: bool,
    default_cost: Duration,
    pool: Option<Arc<ThreadPool>>,
    threads: Option<usize>,
    _job: PhantomData<fn() -> J>,
}

impl<J: JobRun> JobQueueBuilder<J> {
    /// Most jobs the queue holds at once (running jobs do not count).
    pub fn capacity(mut self, jobs: usize) -> Self {
        self.capacity = jobs;
        self
    }

    /// Frames a job must wait to climb one priority level; 0 turns aging off
    /// (strict priorities, which can starve low priorities under sustained
    /// load). Default 8.
    ///
    /// The rule: a queued job's score is
    /// `priority.index() * aging_frames + frames_waited` (`Low` = 0,
    /// `Normal` = 1, `High` = 2; `frames_waited` counts frames started since
    /// it was queued). The highest score runs next; equal scores go to the
    /// older job. A `Low` job that waited `2 * aging_frames` frames thus
    /// competes with a fresh `High` job and wins by age, so no job waits
    /// forever; a fresh `High` job is passed only by jobs that waited more
    /// than `aging_frames` frames per level they lack.
    pub fn aging_frames(mut self, frames: u32) -> Self {
        self.aging_frames = frames;
        self
    }

    /// Deliver terminal events in submission order, buffering jobs that
    /// finish early. `Started`/`Progress` events still come as they happen.
    /// A job that waits long (low priority) holds back the results of every
    /// job submitted after it.
    pub fn ordered(mut self) -> Self {
        self.ordered = true;
        self
    }

    /// Predicted cost of a job kind never measured before (the first job of a
    /// frame starts whatever its prediction). Lower means a new kind may
    /// overshoot the first frame it appears in; higher means it may wait.
    pub fn default_cost(mut self, cost: Duration) -> Self {
        self.default_cost = cost;
        self
    }

    /// Run on this pool (shared with others, e.g. the scheduler's) instead of
    /// the global one. A frame starts one worker loop per pool thread.
    pub fn pool(mut self, pool: Arc<ThreadPool>) -> Self {
        self.pool = Some(pool);
        self
    }

    /// Run on an own pool of this many threads, named `macrokid-jobs-<i>`
    /// (ignored with [`pool`](Self::pool)).
    pub fn threads(mut self, threads: usize) -> Self {
        self.threads = Some(threads);
        self
    }

    /// Builds the processor.
    ///
    /// # Errors
    /// [`JobQueueBuildError::ZeroCapacity`] for a capacity of 0;
    /// [`JobQueueBuildError::Pool`] if an own pool cannot be built (0 threads,
    /// or the OS refuses to start them).
    ///
    /// # Panics
    /// Without [`pool`](Self::pool) or [`threads`](Self::threads), if the
    /// global pool is built now and the OS refuses to start its threads (see
    /// [`ThreadPool::global`]).
    pub fn build(self) -> Result<JobQueue<J>, JobQueueBuildError> {
        if self.capacity == 0 {
            return Err(JobQueueBuildError::ZeroCapacity);
        }
        let pool = match (self.pool, self.threads) {
            (Some(pool), _) => pool,
            (None, Some(threads)) => Arc::new(
                ThreadPool::builder()
                    .num_threads(threads)
                    .thread_name_prefix("macrokid-jobs")
                    .build()?,
            ),
            (None, None) => Arc::clone(ThreadPool::global_arc()),
        };
        let (tx, events) = crossbeam_channel::unbounded();
        let shared = Arc::new(Shared {
            queue: Mutex::new(Queue::new(
                self.capacity,
                self.aging_frames,
                CostModel::new(self.default_cost),
            )),
            space: Condvar::new(),
            frame_lock: Mutex::new(()),
            ordered: self.ordered,
        });
        Ok(JobQueue {
            sink: Arc::new(Sink::new(tx, self.ordered, false)),
            shared,
            pool,
            events,
        })
    }
}
