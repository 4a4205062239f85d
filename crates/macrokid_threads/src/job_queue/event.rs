//! Job ids, events, and the sinks that deliver events (optionally in
//! submission order).

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Mutex;

use crossbeam_channel::Sender;

/// Identifies one submitted job of one [`JobQueue`](super::JobQueue).
///
/// Ids are handed out from a per-processor counter that only increases, so a
/// later submission always has a larger id and an id is never reused by the
/// same processor (a `u64` does not wrap in practice: 2^64 jobs at one per
/// nanosecond take 584 years).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct JobId(u64);

impl JobId {
    pub(crate) fn new(raw: u64) -> Self {
        Self(raw)
    }

    /// The raw counter value (0 for the first job of a processor).
    pub fn to_raw(self) -> u64 {
        self.0
    }
}

impl fmt::Display for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "job#{}", self.0)
    }
}

/// Why a job failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum JobError {
    /// The job panicked; the panic was caught on the worker, which went on
    /// with the next job.
    #[error("job `{kind}` panicked: {message}")]
    Panicked {
        /// The job's kind ([`JobRun::name`](crate::JobRun::name)).
        kind: String,
        /// The panic payload if it was a string, else a placeholder.
        message: String,
    },
}

/// What a [`JobQueue`](super::JobQueue) reports about a job.
///
/// Each accepted job yields exactly one *terminal* event
/// ([`Completed`](Self::Completed), [`Failed`](Self::Failed) or
/// [`Cancelled`](Self::Cancelled)); before it, a job that ran yields one
/// [`Started`](Self::Started) and any number of [`Progress`](Self::Progress)
/// events, in that order.
#[derive(Debug, Clone, PartialEq)]
pub enum JobEvent<T> {
    /// A worker took the job from the queue and is about to run it.
    Started {
        /// The job.
        id: JobId,
    },
    /// The job reported progress through
    /// [`JobContext::report_progress`](crate::JobContext::report_progress).
    Progress {
        /// The job.
        id: JobId,
        /// Fraction done, in `0.0..=1.0`.
        fraction: f32,
    },
    /// The job returned and was not cancelled: here is its output.
    Completed {
        /// The job.
        id: JobId,
        /// What [`JobRun::run`](crate::JobRun::run) returned.
        output: T,
    },
    /// The job panicked.
    Failed {
        /// The job.
        id: JobId,
        /// What went wrong.
        error: JobError,
    },
    /// The job was cancelled, either while queued (it never ran) or while
    /// running (its output, if any, was discarded).
    Cancelled {
        /// The job.
        id: JobId,
    },
}

impl<T> JobEvent<T> {
    /// The job this event is about.
    pub fn id(&self) -> JobId {
        match self {
            Self::Started { id }
            | Self::Progress { id, .. }
            | Self::Completed { id, .. }
            | Self::Failed { id, .. }
            | Self::Cancelled { id } => *id,
        }
    }

    /// Whether this is the job's last event (completed, failed or cancelled).
    pub fn is_terminal(&self) -> bool {
        matches!(
            self,
            Self::Completed { .. } | Self::Failed { .. } | Self::Cancelled { .. }
        )
    }

    /// The output of a [`Completed`](Self::Completed) event.
    pub fn into_output(self) -> Option<T> {
        match self {
            Self::Completed { output, .. } => Some(output),
            _ => None,
        }
    }
}

/// Buffers terminal events that arrive ahead of their turn.
struct Reorder<T> {
    /// Sequence number of the next terminal event to deliver.
    next: u64,
    /// Out-of-order terminal events, by sequence number.
    pending: BTreeMap<u64, JobEvent<T>>,
}

/// Where a job's events go: the processor's channel or a stream's.
///
/// In ordered mode, terminal events are delivered in the order of the
/// sequence numbers handed out by [`Sink::next_seq`] (submission order); a
/// terminal event that arrives early waits in a `BTreeMap` (O(log n) per
/// event) until every earlier one was delivered. `Started`/`Progress` events
/// are never held back.
pub(crate) struct Sink<T> {
    tx: Sender<JobEvent<T>>,
    /// Streams only want results.
    terminal_only: bool,
    order: Option<Mutex<Reorder<T>>>,
    /// Next sequence number; only touched under the queue lock.
    seq: std::sync::atomic::AtomicU64,
}

impl<T> Sink<T> {
    pub(crate) fn new(tx: Sender<JobEvent<T>>, ordered: bool, terminal_only: bool) -> Self {
        Self {
            tx,
            terminal_only,
            order: ordered.then(|| {
                Mutex::new(Reorder {
                    next: 0,
                    pending: BTreeMap::new(),
                })
            }),
            seq: std::sync::atomic::AtomicU64::new(0),
        }
    }

    /// Hands out the next sequence number (call under the queue lock so that
    /// sequence order is acceptance order).
    pub(crate) fn next_seq(&self) -> u64 {
        self.seq.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    }

    /// Whether `Started`/`Progress` events are wanted.
    pub(crate) fn wants_progress(&self) -> bool {
        !self.terminal_only
    }

    /// Sends a non-terminal event right away (a closed receiver is ignored:
    /// nobody listens).
    pub(crate) fn progress(&self, event: JobEvent<T>) {
        debug_assert!(!event.is_terminal());
        if !self.terminal_only {
            let _ = self.tx.send(event);
        }
    }

    /// Delivers the terminal event of the job with sequence number `seq`,
    /// together with every buffered one that is now in turn.
    pub(crate) fn finish(&self, seq: u64, event: JobEvent<T>) {
        debug_assert!(event.is_terminal());
        let Some(order) = &self.order else {
            let _ = self.tx.send(event);
            return;
        };
        let mut order = order.lock().unwrap_or_else(|e| e.into_inner());
        if seq != order.next {
            order.pending.insert(seq, event);
            return;
        }
        let _ = self.tx.send(event);
        order.next += 1;
        loop {
            let next = order.next;
            match order.pending.remove(&next) {
                Some(event) => {
                    let _ = self.tx.send(event);
                    order.next += 1;
                }
                None => break,
            }
        }
    }
}
