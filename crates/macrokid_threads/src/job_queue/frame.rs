//! Running queued jobs on the pool: the frame-budgeted loop.
//!
//! # Budget algorithm
//!
//! A frame starts one worker loop per pool thread. Before taking each job a
//! worker, holding the queue lock, looks at the job that would run next (see
//! the aging rule in [`queue`](super::queue)) and predicts its cost from the
//! moving average of its kind ([`JobRun::name`](crate::JobRun::name)); it
//! takes the job only if `elapsed + predicted <= budget`, otherwise it stops
//! for this frame. It never skips to a cheaper job, so the queue order holds.
//! Each finished job's run time feeds the average of its kind. A kind never
//! seen is predicted at the configured default cost (conservative). The first
//! job of a frame is always started, so a job that costs more than the whole
//! budget still runs (and overshoots) instead of starving.

use std::panic::{catch_unwind, AssertUnwindSafe};

use crate::panic::panic_message;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::cost::KindId;
use super::event::{JobError, JobEvent, JobId};
use super::queue::{Entry, JobState, CANCEL_REQUESTED, DONE};
use super::Shared;
use crate::{JobContext, JobRun};

/// When a frame stops taking jobs.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Limit {
    /// Adaptive: until the predicted cost no longer fits the budget.
    Budget(Duration),
    /// Exactly this many jobs (fewer if the queue runs dry).
    Count(usize),
    /// Until the queue is empty.
    Drain,
}

/// What one frame did; returned by
/// [`JobQueue::run_frame`](super::JobQueue::run_frame) and
/// friends.
#[derive(Clone, Copy, Debug, PartialEq)]
#[non_exhaustive]
pub struct FrameReport {
    /// Frame number (1 for the processor's first frame).
    pub frame: u64,
    /// The budget asked for (`None` for count-limited or draining runs).
    pub budget: Option<Duration>,
    /// Jobs taken from the queue and run this frame (completed, failed or
    /// cancelled while running).
    pub jobs_run: usize,
    /// Wall time from entering the call to returning.
    pub elapsed: Duration,
    /// Sum over all workers of the time spent inside jobs.
    pub busy: Duration,
    /// `elapsed - budget`, zero when the frame returned within its budget
    /// (always zero without a budget).
    pub overshoot: Duration,
    /// Jobs still waiting in the queue after the frame.
    pub queued: usize,
    /// Worker loops that ran (the pool's thread count).
    pub workers: usize,
}

impl FrameReport {
    /// Share of the budget the frame spent, `min(elapsed, budget) / budget`,
    /// in `0.0..=1.0`; `None` without a budget.
    pub fn budget_used(&self) -> Option<f64> {
        let budget = self.budget?;
        if budget.is_zero() {
            return Some(1.0);
        }
        Some(self.elapsed.min(budget).as_secs_f64() / budget.as_secs_f64())
    }

    /// Share of the workers' time spent inside jobs,
    /// `busy / (workers * elapsed)`, in `0.0..=1.0`.
    pub fn occupancy(&self) -> f64 {
        let total = self.elapsed.as_secs_f64() * self.workers as f64;
        if total == 0.0 {
            0.0
        } else {
            (self.busy.as_secs_f64() / total).min(1.0)
        }
    }
}

/// State shared by the workers of one frame.
struct FrameCtl {
    start: Instant,
    limit: Limit,
}

/// What a finished job leaves for the next lock acquisition.
struct Finished<T> {
    id: JobId,
    kind: KindId,
    took: Duration,
    state: Arc<JobState<T>>,
    result: Result<T, String>,
    cancelled: bool,
}

/// Per-worker tallies.
#[derive(Default)]
struct Tally {
    jobs: usize,
    busy: Duration,
}

/// Runs one frame on `pool` and reports it.
pub(crate) fn run<J: JobRun>(
    shared: &Shared<J>,
    pool: &crate::ThreadPool,
    limit: Limit,
) -> FrameReport {
    let _frame = shared.frame_lock.lock().unwrap_or_else(|e| e.into_inner());
    let start = Instant::now();
    let frame = {
        let mut queue = shared.lock();
        queue.frame += 1;
        queue.frame
    };
    let ctl = FrameCtl { start, limit };
    let started = std::sync::atomic::AtomicUsize::new(0);
    let workers = pool.num_threads().max(1);
    let tallies: Vec<std::sync::Mutex<Tally>> = (0..workers).map(|_| Default::default()).collect();
    pool.scope(|scope| {
        for tally in &tallies {
            let (ctl, started) = (&ctl, &started);
            scope.spawn(move |_| {
                let t = worker(shared, ctl, started);
                *tally.lock().unwrap_or_else(|e| e.into_inner()) = t;
            });
        }
    });
    let elapsed = start.elapsed();
    let (mut jobs_run, mut busy) = (0, Duration::ZERO);
    for tally in tallies {
        let t = tally.into_inner().unwrap_or_else(|e| e.into_inner());
        jobs_run += t.jobs;
        busy += t.busy;
    }
    let budget = match limit {
        Limit::Budget(b) => Some(b),
        Limit::Count(_) | Limit::Drain => None,
    };
    FrameReport {
        frame,
        budget,
        jobs_run,
        elapsed,
        busy,
        overshoot: budget.map_or(Duration::ZERO, |b| elapsed.saturating_sub(b)),
        queued: shared.lock().len(),
        workers,
    }
}

/// One worker's loop: take the next job while the limit allows, run it,
/// report it.
fn worker<J: JobRun>(
    shared: &Shared<J>,
    ctl: &FrameCtl,
    started: &std::sync::atomic::AtomicUsize,
) -> Tally {
    let mut tally = Tally::default();
    let mut finished: Option<Finished<J::Output>> = None;
    loop {
        let (next, done_event) = {
            let mut queue = shared.lock();
            let done_event = finished.take().map(|f| {
                queue.costs.record(f.kind, f.took);
                queue.retire(f.id);
                let event = if f.cancelled {
                    JobEvent::Cancelled { id: f.id }
                } else {
                    match f.result {
                        Ok(output) => JobEvent::Completed { id: f.id, output },
                        Err(message) => JobEvent::Failed {
                            id: f.id,
                            error: JobError::Panicked {
                                kind: queue.costs.name(f.kind).to_owned(),
                                message,
                            },
                        },
                    }
                };
                (f.state, event)
            });
            let next = next_job(&mut queue, ctl, started);
            if next.is_some() {
                shared.space.notify_all();
            }
            (next, done_event)
        };
        if let Some((state, event)) = done_event {
            state.sink.finish(state.seq, event);
        }
        let Some(entry) = next else {
            return tally;
        };
        let done = execute(entry);
        tally.jobs += 1;
        tally.busy += done.took;
        finished = Some(done);
    }
}

/// Takes the next job if the frame's limit allows.
fn next_job<J: JobRun>(
    queue: &mut super::queue::Queue<J>,
    ctl: &FrameCtl,
    started: &std::sync::atomic::AtomicUsize,
) -> Option<Entry<J>> {
    let level = queue.best_level()?;
    // Every update of `started` happens under the queue lock.
    let count = started.load(Ordering::Relaxed);
    match ctl.limit {
        Limit::Count(n) if count >= n => return None,
        Limit::Budget(budget) if count > 0 => {
            let predicted = queue.costs.predict(queue.front_kind(level));
            if ctl.start.elapsed() + predicted > budget {
                return None;
            }
        }
        Limit::Count(_) | Limit::Budget(_) | Limit::Drain => {}
    }
    started.store(count + 1, Ordering::Relaxed);
    Some(queue.take(level))
}

/// Runs one job, catching a panic, and decides its outcome.
fn execute<J: JobRun>(entry: Entry<J>) -> Finished<J::Output> {
    let Entry {
        id,
        kind,
        job,
        shared: state,
        ..
    } = entry;
    state.sink.progress(JobEvent::Started { id });
    let progress = state.sink.wants_progress().then(|| {
        let sink = Arc::clone(&state.sink);
        Arc::new(move |fraction: f32| sink.progress(JobEvent::Progress { id, fraction }))
            as Arc<dyn Fn(f32) + Send + Sync>
    });
    let cx = JobContext::new(state.cancel.clone(), progress);
    let t0 = Instant::now();
    let result = catch_unwind(AssertUnwindSafe(move || {
        let mut job = job;
        let output = job.run(&cx);
        drop(job);
        output
    }))
    .map_err(|payload| panic_message(&*payload));
    let took = t0.elapsed();
    let cancelled = state.state.swap(DONE, Ordering::AcqRel) == CANCEL_REQUESTED;
    Finished {
        id,
        kind,
        took,
        state,
        result,
        cancelled,
    }
}
