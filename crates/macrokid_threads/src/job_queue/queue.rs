//! The bounded, aging priority queue behind a
//! [`JobQueue`](super::JobQueue).
//!
//! # Layout and costs
//!
//! One FIFO `VecDeque` per [`Priority`]; an entry records the frame it was
//! queued in. A map from [`JobId`] to the job's shared state (an atomic state
//! word, its cancel token, where its events go) holds every queued or running
//! job.
//!
//! - **push**: O(1) amortised (deque push + map insert).
//! - **pop**: looks at the front of each of the 3 deques (the oldest entry of
//!   its priority, hence the one aged most) and takes the best; O(1) plus the
//!   lazily dropped tombstones.
//! - **cancel a queued job**: O(1) expected: a map lookup and a
//!   compare-and-swap of the state word from *queued* to *done*. The entry
//!   stays in its deque as a tombstone and is dropped when it reaches the
//!   front, or when tombstones outnumber live entries (then all deques are
//!   compacted in one pass, amortised O(1) per cancellation), so cancelled
//!   jobs never pile up.
//!
//! # Aging
//!
//! A job's score is `priority.index() * aging_frames + frames_waited`
//! (`Low` = 0, `Normal` = 1, `High` = 2). The highest score runs next; equal
//! scores go to the older job (smaller id). So every `aging_frames` frames a
//! waiting job climbs one priority level: a `Low` job that has waited
//! `2 * aging_frames` frames competes with a fresh `High` job and wins by age.
//! A job therefore never waits forever, whatever keeps arriving. Within one
//! priority, the order is first in, first out. With `aging_frames == 0`
//! aging is off and the order is strictly by priority, then FIFO.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;

use super::cost::{CostModel, KindId};
use super::event::{JobId, Sink};
use crate::{CancelToken, JobRun, Priority};

/// The job waits in the queue.
pub(crate) const QUEUED: u8 = 0;
/// A worker runs the job.
pub(crate) const RUNNING: u8 = 1;
/// The job runs and was asked to stop; its output will be discarded.
pub(crate) const CANCEL_REQUESTED: u8 = 2;
/// The job's terminal event was (or is being) sent.
pub(crate) const DONE: u8 = 3;

/// What both the queue and the running job know of a job.
pub(crate) struct JobState<T> {
    pub(crate) state: AtomicU8,
    pub(crate) cancel: CancelToken,
    /// Position among its sink's jobs (for ordered delivery).
    pub(crate) seq: u64,
    pub(crate) sink: Arc<Sink<T>>,
}

/// A queued job.
pub(crate) struct Entry<J: JobRun> {
    pub(crate) id: JobId,
    pub(crate) kind: KindId,
    enqueued_frame: u64,
    pub(crate) job: J,
    pub(crate) shared: Arc<JobState<J::Output>>,
}

/// Outcome of trying to cancel a job, before events are sent.
pub(crate) enum CancelOutcome<T> {
    /// Was queued; the caller sends its `Cancelled` event.
    Dequeued(Arc<JobState<T>>),
    /// Was running; its token is set.
    Requested,
    /// Unknown or finished.
    Inactive,
}

/// See the module docs.
pub(crate) struct Queue<J: JobRun> {
    levels: [VecDeque<Entry<J>>; 3],
    /// Entries still queued (not cancelled).
    live: usize,
    /// Cancelled entries still sitting in a deque.
    tombstones: usize,
    capacity: usize,
    next_id: u64,
    /// Frames started so far.
    pub(crate) frame: u64,
    aging_frames: u64,
    /// Queued and running jobs.
    active: HashMap<JobId, Arc<JobState<J::Output>>>,
    pub(crate) costs: CostModel,
    /// Set when the processor is dropped: no more submissions.
    pub(crate) closed: bool,
}

impl<J: JobRun> Queue<J> {
    pub(crate) fn new(capacity: usize, aging_frames: u32, costs: CostModel) -> Self {
        Self {
            levels: Default::default(),
            live: 0,
            tombstones: 0,
            capacity,
            next_id: 0,
            frame: 0,
            aging_frames: u64::from(aging_frames),
            active: HashMap::new(),
            costs,
            closed: false,
        }
    }

    /// Jobs waiting (cancelled ones excluded).
    pub(crate) fn len(&self) -> usize {
        self.live
    }

    /// How many more jobs fit.
    pub(crate) fn free(&self) -> usize {
        self.capacity - self.live
    }

    pub(crate) fn capacity(&self) -> usize {
        self.capacity
    }

    /// Jobs queued or running.
    pub(crate) fn active(&self) -> usize {
        self.active.len()
    }

    /// Queues `job`. The caller checked [`free`](Self::free).
    pub(crate) fn push(
        &mut self,
        job: J,
        priority: Priority,
        sink: &Arc<Sink<J::Output>>,
    ) -> JobId {
        debug_assert!(self.live < self.capacity, "push on a full queue");
        let id = JobId::new(self.next_id);
        self.next_id += 1;
        let kind = self.costs.intern(job.name());
        let shared = Arc::new(JobState {
            state: AtomicU8::new(QUEUED),
            cancel: CancelToken::new(),
            seq: sink.next_seq(),
            sink: Arc::clone(sink),
        });
        self.active.insert(id, Arc::clone(&shared));
        self.levels[priority.index()].push_back(Entry {
            id,
            kind,
            enqueued_frame: self.frame,
            job,
            shared,
        });
        self.live += 1;
        id
    }

    /// Aging score of a queued entry (see the module docs).
    fn score(&self, level: usize, entry: &Entry<J>) -> u64 {
        let waited = self.frame - entry.enqueued_frame;
        if self.aging_frames == 0 {
            level as u64
        } else {
            (level as u64)
                .saturating_mul(self.aging_frames)
                .saturating_add(waited)
        }
    }

    /// The level whose front entry runs next, dropping tombstones on the way.
    pub(crate) fn best_level(&mut self) -> Option<usize> {
        let mut best: Option<(u64, JobId, usize)> = None;
        for level in 0..self.levels.len() {
            while let Some(front) = self.levels[level].front() {
                if front.shared.state.load(Ordering::Acquire) == QUEUED {
                    break;
                }
                self.levels[level].pop_front();
                self.tombstones -= 1;
            }
            if let Some(front) = self.levels[level].front() {
                let score = self.score(level, front);
                let better = match best {
                    None => true,
                    Some((s, id, _)) => score > s || (score == s && front.id < id),
                };
                if better {
                    best = Some((score, front.id, level));
                }
            }
        }
        best.map(|(_, _, level)| level)
    }

    /// Kind of the front entry of `level` (after [`best_level`](Self::best_level)).
    pub(crate) fn front_kind(&self, level: usize) -> KindId {
        self.levels[level]
            .front()
            .expect("best_level returned an empty level")
            .kind
    }

    /// Takes the front entry of `level` and marks it running.
    pub(crate) fn take(&mut self, level: usize) -> Entry<J> {
        let entry = self.levels[level]
            .pop_front()
            .expect("best_level returned an empty level");
        // Only this lock holder moves a state out of QUEUED (cancel holds it
        // too), so a plain store is enough.
        debug_assert_eq!(entry.shared.state.load(Ordering::Acquire), QUEUED);
        entry.shared.state.store(RUNNING, Ordering::Release);
        self.live -= 1;
        entry
    }

    /// Forgets a job that sent its terminal event.
    pub(crate) fn retire(&mut self, id: JobId) {
        self.active.remove(&id);
    }

    /// Cancels job `id`: O(1) expected (see the module docs).
    pub(crate) fn cancel(&mut self, id: JobId) -> CancelOutcome<J::Output> {
        let Some(shared) = self.active.get(&id) else {
            return CancelOutcome::Inactive;
        };
        let shared = Arc::clone(shared);
        match shared
            .state
            .compare_exchange(QUEUED, DONE, Ordering::AcqRel, Ordering::Acquire)
        {
            Ok(_) => {
                self.active.remove(&id);
                self.live -= 1;
                self.tombstones += 1;
                if self.tombstones > 32 && self.tombstones > self.live {
                    self.compact();
                }
                CancelOutcome::Dequeued(shared)
            }
            Err(RUNNING) => {
                // The worker swaps the state to DONE when the job returns; if
                // it sees CANCEL_REQUESTED it reports a cancellation.
                match shared.state.compare_exchange(
                    RUNNING,
                    CANCEL_REQUESTED,
                    Ordering::AcqRel,
                    Ordering::Acquire,
                ) {
                    Ok(_) => {
                        shared.cancel.cancel();
                        CancelOutcome::Requested
                    }
                    Err(_) => CancelOutcome::Inactive,
                }
            }
            Err(_) => CancelOutcome::Inactive,
        }
    }

    /// Whether job `id` is queued (`Some(false)`), running (`Some(true)`) or
    /// neither (`None`).
    pub(crate) fn is_running(&self, id: JobId) -> Option<bool> {
        self.active
            .get(&id)
            .map(|s| s.state.load(Ordering::Acquire) != QUEUED)
    }

    /// Drops every tombstone.
    fn compact(&mut self) {
        for level in &mut self.levels {
            level.retain(|e| e.shared.state.load(Ordering::Acquire) == QUEUED);
        }
        self.tombstones = 0;
    }

    /// Cancels every queued job; returns their states, in id order, for the
    /// caller to send `Cancelled` events.
    pub(crate) fn cancel_all_queued(&mut self) -> Vec<(JobId, Arc<JobState<J::Output>>)> {
        let mut out = Vec::with_capacity(self.live);
        for level in &mut self.levels {
            for entry in level.drain(..) {
                if entry
                    .shared
                    .state
                    .compare_exchange(QUEUED, DONE, Ordering::AcqRel, Ordering::Acquire)
                    .is_ok()
                {
                    self.active.remove(&entry.id);
                    out.push((entry.id, entry.shared));
                }
            }
        }
        self.live = 0;
        self.tombstones = 0;
        out.sort_by_key(|(id, _)| *id);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::job_queue::event::Sink;
    use crate::JobContext;
    use std::time::Duration;

    struct Nop;
    impl JobRun for Nop {
        type Output = ();
        fn run(&mut self, _cx: &JobContext) {}
    }

    fn queue(capacity: usize) -> (Queue<Nop>, Arc<Sink<()>>) {
        let (tx, _rx) = crossbeam_channel::unbounded();
        (
            Queue::new(capacity, 8, CostModel::new(Duration::from_micros(1))),
            Arc::new(Sink::new(tx, false, false)),
        )
    }

    fn stored(queue: &Queue<Nop>) -> usize {
        queue.levels.iter().map(VecDeque::len).sum()
    }

    #[test]
    fn submit_and_cancel_forever_keeps_storage_bounded() {
        let (mut queue, sink) = queue(100);
        for _ in 0..50 {
            queue.push(Nop, Priority::Low, &sink);
        }
        for round in 0..100_000 {
            let id = queue.push(Nop, Priority::ALL[round % 3], &sink);
            assert!(matches!(queue.cancel(id), CancelOutcome::Dequeued(_)));
            // Tombstones never exceed max(32, live) + 1 before compaction.
            assert!(stored(&queue) <= 2 * queue.len() + 33, "round {round}");
        }
        assert_eq!(queue.len(), 50);
        assert_eq!(queue.active(), 50);
    }

    #[test]
    fn tombstones_at_the_front_are_skipped() {
        let (mut queue, sink) = queue(10);
        let a = queue.push(Nop, Priority::High, &sink);
        let b = queue.push(Nop, Priority::High, &sink);
        let c = queue.push(Nop, Priority::Low, &sink);
        assert!(matches!(queue.cancel(a), CancelOutcome::Dequeued(_)));
        let level = queue.best_level().unwrap();
        assert_eq!(queue.take(level).id, b);
        let level = queue.best_level().unwrap();
        assert_eq!(queue.take(level).id, c);
        assert_eq!(queue.best_level(), None);
        assert_eq!(stored(&queue), 0);
    }
}
