//! Streams: push jobs, take results in chunks as they complete.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::Receiver;

use super::event::Sink;
use super::{Cancellation, JobEvent, JobId, Shared, SubmitError};
use crate::{JobRun, Priority};

/// A submission channel with its own result channel, made by
/// [`JobQueue::stream`](super::JobQueue::stream).
///
/// Jobs pushed here share the processor's queue, priorities and frames; only
/// their terminal events (completed, failed, cancelled) come back, here,
/// in chunks; in submission order if the processor is
/// [`ordered`](super::JobQueueBuilder::ordered). Dropping the stream does not
/// cancel its jobs; their results are then discarded. A stream is `Sync`:
/// a producer thread may push while the main loop takes chunks.
pub struct JobEventStream<J: JobRun> {
    shared: Arc<Shared<J>>,
    sink: Arc<Sink<J::Output>>,
    results: Receiver<JobEvent<J::Output>>,
    /// Pushed jobs whose result was not taken yet.
    pending: AtomicUsize,
}

impl<J: JobRun> JobEventStream<J> {
    pub(crate) fn new(shared: Arc<Shared<J>>) -> Self {
        let (tx, results) = crossbeam_channel::unbounded();
        let ordered = shared.ordered;
        Self {
            shared,
            sink: Arc::new(Sink::new(tx, ordered, true)),
            results,
            pending: AtomicUsize::new(0),
        }
    }

    /// Queues `job` at `priority`.
    ///
    /// # Errors
    /// [`SubmitError::Full`] when the processor's queue is full,
    /// [`SubmitError::Closed`] when the processor was dropped.
    pub fn push(&self, job: J, priority: Priority) -> Result<JobId, SubmitError<J>> {
        self.counted(1, || self.shared.submit(&self.sink, job, priority, None))
    }

    /// Queues `job`, waiting up to `timeout` for a free slot (blocking
    /// back-pressure; slots free up when frames run on another thread).
    ///
    /// # Errors
    /// As [`push`](Self::push), once `timeout` has passed.
    pub fn push_timeout(
        &self,
        job: J,
        priority: Priority,
        timeout: Duration,
    ) -> Result<JobId, SubmitError<J>> {
        let deadline = Some(std::time::Instant::now() + timeout);
        self.counted(1, || {
            self.shared.submit(&self.sink, job, priority, deadline)
        })
    }

    /// Queues all `jobs` at `priority`, or none (see
    /// [`JobQueue::submit_batch`](super::JobQueue::submit_batch)).
    ///
    /// # Errors
    /// As [`push`](Self::push), with all the jobs given back.
    pub fn push_batch(
        &self,
        jobs: impl IntoIterator<Item = J>,
        priority: Priority,
    ) -> Result<Vec<JobId>, SubmitError<Vec<J>>> {
        let jobs: Vec<J> = jobs.into_iter().collect();
        self.counted(jobs.len(), || {
            self.shared.submit_batch(&self.sink, jobs, priority)
        })
    }

    /// Counts `n` jobs as pending *before* submitting (a result may be taken
    /// by another thread before `submit` returns), and takes them back if the
    /// submission fails.
    fn counted<T, E>(&self, n: usize, submit: impl FnOnce() -> Result<T, E>) -> Result<T, E> {
        self.pending.fetch_add(n, Ordering::Relaxed);
        let result = submit();
        if result.is_err() {
            self.pending.fetch_sub(n, Ordering::Relaxed);
        }
        result
    }

    /// Cancels one of this stream's (or any of the processor's) jobs; see
    /// [`JobQueue::cancel`](super::JobQueue::cancel).
    pub fn cancel(&self, id: JobId) -> Cancellation {
        self.shared.cancel(id)
    }

    /// Every result available now (terminal events only), without blocking;
    /// empty if none.
    pub fn try_chunk(&self) -> Vec<JobEvent<J::Output>> {
        let chunk: Vec<_> = self.results.try_iter().collect();
        self.pending.fetch_sub(chunk.len(), Ordering::Relaxed);
        chunk
    }

    /// Waits up to `timeout` for at least one result, then takes every result
    /// available. Results appear only while some thread runs frames.
    pub fn chunk_timeout(&self, timeout: Duration) -> Vec<JobEvent<J::Output>> {
        let mut chunk = Vec::new();
        if let Ok(first) = self.results.recv_timeout(timeout) {
            chunk.push(first);
            chunk.extend(self.results.try_iter());
        }
        self.pending.fetch_sub(chunk.len(), Ordering::Relaxed);
        chunk
    }

    /// Jobs pushed whose result was not taken yet.
    pub fn pending(&self) -> usize {
        self.pending.load(Ordering::Relaxed)
    }
}

impl<J: JobRun> std::fmt::Debug for JobEventStream<J> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JobEventStream")
            .field("pending", &self.pending())
            .finish_non_exhaustive()
    }
}
