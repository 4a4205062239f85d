//! Behaviour of the job queue: ordering, aging, back-pressure,
//! cancellation, failures, events. No timing asserts (speed lives in the
//! `batch` bench and the `fracture` example).

use std::collections::HashMap;
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender};
use macrokid_threads::{
    Cancellation, JobContext, JobError, JobEvent, JobId, JobQueue, JobRun, JobStatus, Priority,
    SubmitError,
};

/// What a test job does.
enum Action {
    /// Returns its index.
    Return,
    /// Panics with a message.
    Panic,
    /// Tells `started`, then spins until cancelled; returns its index.
    UntilCancelled(Sender<usize>),
    /// Tells `started`, then waits for `go` and returns (never checks the
    /// token).
    Gate(Sender<usize>, Receiver<()>),
    /// Sleeps, then returns its index.
    Sleep(Duration),
    /// Reports progress 0.5 then 1.0.
    Progress,
}

struct TestJob {
    index: usize,
    action: Action,
}

impl TestJob {
    fn new(index: usize) -> Self {
        Self {
            index,
            action: Action::Return,
        }
    }

    fn with(index: usize, action: Action) -> Self {
        Self { index, action }
    }
}

impl JobRun for TestJob {
    type Output = usize;

    fn run(&mut self, cx: &JobContext) -> usize {
        match &self.action {
            Action::Return => {}
            Action::Panic => panic!("job {} exploded", self.index),
            Action::UntilCancelled(started) => {
                started.send(self.index).unwrap();
                while !cx.is_cancelled() {
                    thread::yield_now();
                }
            }
            Action::Gate(started, go) => {
                started.send(self.index).unwrap();
                go.recv().unwrap();
            }
            Action::Sleep(d) => thread::sleep(*d),
            Action::Progress => {
                cx.report_progress(0.5);
                cx.report_progress(1.0);
            }
        }
        self.index
    }

    fn name(&self) -> &str {
        match self.action {
            Action::Return => "return",
            Action::Panic => "panic",
            Action::UntilCancelled(_) | Action::Gate(..) => "wait",
            Action::Sleep(_) => "sleep",
            Action::Progress => "progress",
        }
    }
}

fn processor(threads: usize) -> JobQueue<TestJob> {
    JobQueue::builder()
        .threads(threads)
        .capacity(1024)
        .build()
        .unwrap()
}

fn drain(batch: &JobQueue<TestJob>) -> Vec<JobEvent<usize>> {
    batch.drain_events().collect()
}

/// Indices of the jobs in the order their `Started` events came.
fn started_order(events: &[JobEvent<usize>], index_of: &HashMap<JobId, usize>) -> Vec<usize> {
    events
        .iter()
        .filter_map(|e| match e {
            JobEvent::Started { id } => Some(index_of[id]),
            _ => None,
        })
        .collect()
}

#[test]
fn fifo_within_one_priority() {
    let batch = processor(1);
    let mut index_of = HashMap::new();
    for i in 0..50 {
        let id = batch.submit(TestJob::new(i), Priority::Normal).unwrap();
        index_of.insert(id, i);
    }
    let report = batch.run_until_idle();
    assert_eq!(report.jobs_run, 50);
    let events = drain(&batch);
    assert_eq!(
        started_order(&events, &index_of),
        (0..50).collect::<Vec<_>>()
    );
    let outputs: Vec<usize> = events
        .into_iter()
        .filter_map(JobEvent::into_output)
        .collect();
    assert_eq!(outputs, (0..50).collect::<Vec<_>>());
}

#[test]
fn ids_grow_with_submission_order() {
    let batch = processor(1);
    let a = batch.submit(TestJob::new(0), Priority::Low).unwrap();
    let more = batch
        .submit_batch((1..4).map(TestJob::new), Priority::High)
        .unwrap();
    let b = batch.submit(TestJob::new(4), Priority::Normal).unwrap();
    assert!(a < more[0] && more[0] < more[1] && more[1] < more[2] && more[2] < b);
}

#[test]
fn higher_priority_runs_first_fifo_within_each() {
    let batch = processor(1);
    let mut index_of = HashMap::new();
    let priorities = [Priority::Low, Priority::Normal, Priority::High];
    for i in 0..30 {
        let id = batch.submit(TestJob::new(i), priorities[i % 3]).unwrap();
        index_of.insert(id, i);
    }
    batch.run_until_idle();
    let order = started_order(&drain(&batch), &index_of);
    let expected: Vec<usize> = [2, 1, 0]
        .iter()
        .flat_map(|&p| (0..30).filter(move |i| i % 3 == p))
        .collect();
    assert_eq!(order, expected);
}

#[test]
fn enqueue_uses_the_jobs_own_priority() {
    struct Urgent(Priority, usize);
    impl JobRun for Urgent {
        type Output = usize;
        fn run(&mut self, _: &JobContext) -> usize {
            self.1
        }
        fn priority(&self) -> Priority {
            self.0
        }
    }
    let batch: JobQueue<Urgent> = JobQueue::builder().threads(1).build().unwrap();
    batch.enqueue(Urgent(Priority::Low, 0)).unwrap();
    batch.enqueue(Urgent(Priority::High, 1)).unwrap();
    batch.run_until_idle();
    let outputs: Vec<usize> = batch
        .drain_events()
        .filter_map(JobEvent::into_output)
        .collect();
    assert_eq!(outputs, vec![1, 0]);
}

#[test]
fn aging_lifts_a_low_job_after_the_documented_number_of_frames() {
    // aging_frames = 2: score = level * 2 + frames waited. The Low job is
    // queued before frame 1; each frame a fresh High job is queued first.
    // In frame f the Low job scores f, the fresh High job 2 * 2 + 1 = 5:
    // the Low job runs in frame 5 (tie, but it is older).
    let batch = JobQueue::builder()
        .threads(1)
        .aging_frames(2)
        .build()
        .unwrap();
    let low = batch.submit(TestJob::new(999), Priority::Low).unwrap();
    let mut ran_in = None;
    for frame in 1..=10u64 {
        batch
            .submit(TestJob::new(frame as usize), Priority::High)
            .unwrap();
        let report = batch.run_jobs(1);
        assert_eq!(report.frame, frame);
        if drain(&batch)
            .iter()
            .any(|e| matches!(e, JobEvent::Started { id } if *id == low))
        {
            ran_in = Some(frame);
            break;
        }
    }
    assert_eq!(ran_in, Some(5));
}

#[test]
fn without_aging_a_low_job_starves_under_a_high_flood() {
    let batch = JobQueue::builder()
        .threads(1)
        .aging_frames(0)
        .build()
        .unwrap();
    let low = batch.submit(TestJob::new(999), Priority::Low).unwrap();
    for frame in 0..20 {
        batch.submit(TestJob::new(frame), Priority::High).unwrap();
        batch.run_jobs(1);
    }
    assert_eq!(batch.status(low), Some(JobStatus::Queued));
}

#[test]
fn high_job_submitted_under_saturation_runs_in_the_next_frame() {
    let batch = processor(1);
    for i in 0..200 {
        batch.submit(TestJob::new(i), Priority::Normal).unwrap();
    }
    batch.run_jobs(10);
    drain(&batch);
    let urgent = batch.submit(TestJob::new(1000), Priority::High).unwrap();
    batch.run_jobs(1);
    let events = drain(&batch);
    assert_eq!(events[0], JobEvent::Started { id: urgent });
}

#[test]
fn full_queue_refuses_and_gives_the_job_back() {
    let batch = JobQueue::builder().threads(1).capacity(4).build().unwrap();
    for i in 0..4 {
        batch.submit(TestJob::new(i), Priority::Normal).unwrap();
    }
    let err = batch.submit(TestJob::new(4), Priority::High).unwrap_err();
    assert!(err.is_full());
    assert!(matches!(
        err,
        SubmitError::Full {
            capacity: 4,
            free: 0,
            ..
        }
    ));
    assert_eq!(err.into_rejected().index, 4);
    assert_eq!(batch.len(), 4);

    // Two slots free after running two jobs; a batch of three is refused whole.
    batch.run_jobs(2);
    let err = batch
        .submit_batch((10..13).map(TestJob::new), Priority::Normal)
        .unwrap_err();
    assert!(matches!(err, SubmitError::Full { free: 2, .. }));
    let rejected: Vec<usize> = err.into_rejected().into_iter().map(|j| j.index).collect();
    assert_eq!(rejected, vec![10, 11, 12]);
    assert_eq!(batch.len(), 2);
    let ids = batch
        .submit_batch((10..12).map(TestJob::new), Priority::Normal)
        .unwrap();
    assert_eq!(batch.len(), 4);

    // Cancelling a queued job frees its slot at once.
    assert_eq!(batch.cancel(ids[0]), Cancellation::Dequeued);
    assert_eq!(batch.len(), 3);
    batch.submit(TestJob::new(20), Priority::Normal).unwrap();
    assert_eq!(batch.len(), 4);
}

#[test]
fn submit_timeout_waits_for_a_frame_to_free_a_slot() {
    let batch = Arc::new(JobQueue::builder().threads(1).capacity(2).build().unwrap());
    batch.submit(TestJob::new(0), Priority::Normal).unwrap();
    batch.submit(TestJob::new(1), Priority::Normal).unwrap();
    // Nobody runs frames: the wait ends with the job given back.
    let err = batch
        .submit_timeout(TestJob::new(2), Priority::Normal, Duration::from_millis(20))
        .unwrap_err();
    assert_eq!(err.into_rejected().index, 2);

    let runner = {
        let batch = Arc::clone(&batch);
        thread::spawn(move || {
            thread::sleep(Duration::from_millis(50));
            batch.run_jobs(1)
        })
    };
    let id = batch
        .submit_timeout(TestJob::new(3), Priority::Normal, Duration::from_secs(60))
        .unwrap();
    assert_eq!(runner.join().unwrap().jobs_run, 1);
    assert_eq!(batch.status(id), Some(JobStatus::Queued));
    assert_eq!(batch.len(), 2);
}

#[test]
fn queue_stays_bounded_under_overload() {
    let batch = JobQueue::builder().threads(2).capacity(64).build().unwrap();
    let (mut accepted, mut refused) = (0usize, 0usize);
    for frame in 0..20 {
        // Ten times what a frame runs.
        for i in 0..160 {
            match batch.submit(TestJob::new(frame * 1000 + i), Priority::Normal) {
                Ok(_) => accepted += 1,
                Err(e) => {
                    assert!(e.is_full());
                    refused += 1;
                }
            }
            assert!(batch.len() <= 64);
        }
        batch.run_jobs(16);
    }
    assert!(refused > 0);
    batch.run_until_idle();
    let completed = batch
        .drain_events()
        .filter(|e| matches!(e, JobEvent::Completed { .. }))
        .count();
    assert_eq!(completed, accepted);
}

#[test]
fn cancelling_a_queued_job_sends_cancelled_at_once_and_it_never_runs() {
    let batch = processor(1);
    let ids: Vec<JobId> = (0..3)
        .map(|i| batch.submit(TestJob::new(i), Priority::Normal).unwrap())
        .collect();
    assert_eq!(batch.cancel(ids[1]), Cancellation::Dequeued);
    assert_eq!(drain(&batch), vec![JobEvent::Cancelled { id: ids[1] }]);
    assert_eq!(batch.status(ids[1]), None);
    assert_eq!(batch.cancel(ids[1]), Cancellation::Inactive);
    assert_eq!(batch.len(), 2);

    let report = batch.run_until_idle();
    assert_eq!(report.jobs_run, 2);
    let events = drain(&batch);
    assert!(events.iter().all(|e| e.id() != ids[1]));
    assert_eq!(batch.cancel(ids[0]), Cancellation::Inactive, "finished");
}

#[test]
fn many_cancellations_leave_no_garbage_and_keep_order() {
    let batch = processor(1);
    let ids: Vec<JobId> = (0..1000)
        .map(|i| batch.submit(TestJob::new(i), Priority::Normal).unwrap())
        .collect();
    for id in ids.iter().filter(|id| id.to_raw() % 10 != 0) {
        assert_eq!(batch.cancel(*id), Cancellation::Dequeued);
    }
    assert_eq!(batch.len(), 100);
    drain(&batch);
    batch.run_until_idle();
    let outputs: Vec<usize> = batch
        .drain_events()
        .filter_map(JobEvent::into_output)
        .collect();
    assert_eq!(outputs, (0..1000).step_by(10).collect::<Vec<_>>());
}

#[test]
fn cancelling_a_running_job_is_cooperative_and_discards_its_output() {
    let batch = Arc::new(processor(2));
    let (started_tx, started_rx) = crossbeam_channel::unbounded();
    let waiting = batch
        .submit(
            TestJob::with(7, Action::UntilCancelled(started_tx)),
            Priority::Normal,
        )
        .unwrap();
    let runner = {
        let batch = Arc::clone(&batch);
        thread::spawn(move || batch.run_until_idle())
    };
    assert_eq!(started_rx.recv().unwrap(), 7);
    assert_eq!(batch.status(waiting), Some(JobStatus::Running));
    assert_eq!(batch.cancel(waiting), Cancellation::Requested);
    assert_eq!(runner.join().unwrap().jobs_run, 1);
    assert_eq!(
        drain(&batch),
        vec![
            JobEvent::Started { id: waiting },
            JobEvent::Cancelled { id: waiting }
        ]
    );
    assert_eq!(batch.cancel(waiting), Cancellation::Inactive);
}

#[test]
fn a_job_that_ignores_its_token_still_counts_as_cancelled() {
    let batch = Arc::new(processor(2));
    let (started_tx, started_rx) = crossbeam_channel::unbounded();
    let (go_tx, go_rx) = crossbeam_channel::unbounded();
    let id = batch
        .submit(
            TestJob::with(3, Action::Gate(started_tx, go_rx)),
            Priority::Normal,
        )
        .unwrap();
    let runner = {
        let batch = Arc::clone(&batch);
        thread::spawn(move || batch.run_until_idle())
    };
    started_rx.recv().unwrap();
    assert_eq!(batch.cancel(id), Cancellation::Requested);
    go_tx.send(()).unwrap();
    runner.join().unwrap();
    let events = drain(&batch);
    assert_eq!(events.last(), Some(&JobEvent::Cancelled { id }));
    assert!(events.iter().all(|e| e.clone().into_output().is_none()));
}

#[test]
fn a_panicking_job_fails_and_the_processor_keeps_working() {
    let batch = processor(2);
    let ok_before = batch.submit(TestJob::new(1), Priority::Normal).unwrap();
    let bad = batch
        .submit(TestJob::with(2, Action::Panic), Priority::Normal)
        .unwrap();
    let ok_after = batch.submit(TestJob::new(3), Priority::Normal).unwrap();
    batch.run_until_idle();
    let mut terminal: HashMap<JobId, JobEvent<usize>> = drain(&batch)
        .into_iter()
        .filter(JobEvent::is_terminal)
        .map(|e| (e.id(), e))
        .collect();
    assert_eq!(
        terminal.remove(&bad),
        Some(JobEvent::Failed {
            id: bad,
            error: JobError::Panicked {
                kind: "panic".into(),
                message: "job 2 exploded".into()
            }
        })
    );
    assert_eq!(terminal[&ok_before].clone().into_output(), Some(1));
    assert_eq!(terminal[&ok_after].clone().into_output(), Some(3));

    // Next frame: still fine.
    let later = batch.submit(TestJob::new(4), Priority::Normal).unwrap();
    batch.run_until_idle();
    assert!(drain(&batch).contains(&JobEvent::Completed {
        id: later,
        output: 4
    }));
}

#[test]
fn progress_events_come_between_started_and_completed() {
    let batch = processor(1);
    let id = batch
        .submit(TestJob::with(5, Action::Progress), Priority::Normal)
        .unwrap();
    batch.run_until_idle();
    assert_eq!(
        drain(&batch),
        vec![
            JobEvent::Started { id },
            JobEvent::Progress { id, fraction: 0.5 },
            JobEvent::Progress { id, fraction: 1.0 },
            JobEvent::Completed { id, output: 5 },
        ]
    );
}

#[test]
fn every_submitted_job_yields_exactly_one_terminal_event() {
    let batch = Arc::new(
        JobQueue::builder()
            .threads(4)
            .capacity(4096)
            .build()
            .unwrap(),
    );
    let mut ids = Vec::new();
    for i in 0..600 {
        let action = match i % 7 {
            0 => Action::Panic,
            1 => Action::Sleep(Duration::from_micros(200)),
            2 => Action::Progress,
            _ => Action::Return,
        };
        let priority = Priority::ALL[i % 3];
        ids.push(batch.submit(TestJob::with(i, action), priority).unwrap());
    }
    // Cancel every fifth job from another thread while frames run.
    let canceller = {
        let batch = Arc::clone(&batch);
        let ids = ids.clone();
        thread::spawn(move || {
            ids.iter()
                .step_by(5)
                .filter(|id| batch.cancel(**id) != Cancellation::Inactive)
                .count()
        })
    };
    while !batch.is_empty() {
        batch.run_frame(Duration::from_micros(500));
    }
    let cancel_hits = canceller.join().unwrap();
    // Jobs cancelled after the loop saw the queue empty may still have been
    // requested while running; those finished inside the frames above.
    let mut terminal = HashMap::new();
    let mut started = HashMap::new();
    for event in batch.drain_events() {
        match &event {
            JobEvent::Started { id } => {
                assert!(!terminal.contains_key(id), "started after terminal");
                *started.entry(*id).or_insert(0) += 1;
            }
            JobEvent::Progress { id, .. } => assert!(started.contains_key(id)),
            _ => *terminal.entry(event.id()).or_insert(0) += 1,
        }
    }
    assert_eq!(terminal.len(), ids.len());
    assert!(terminal.values().all(|&n| n == 1));
    assert!(started.values().all(|&n| n == 1));
    assert_eq!(batch.active(), 0, "nothing left queued or running");
    assert!(cancel_hits <= ids.len() / 5 + 1);
}

#[test]
fn ordered_mode_delivers_results_in_submission_order() {
    let batch: JobQueue<TestJob> = JobQueue::builder().threads(4).ordered().build().unwrap();
    assert!(batch.is_ordered());
    // Early jobs take longest, so they finish last.
    let ids = batch
        .submit_batch(
            (0..40).map(|i| {
                TestJob::with(
                    i,
                    Action::Sleep(Duration::from_micros(40 * (40 - i as u64))),
                )
            }),
            Priority::Normal,
        )
        .unwrap();
    assert_eq!(batch.cancel(ids[5]), Cancellation::Dequeued);
    // Nothing before id 5 finished: the cancellation is buffered.
    assert_eq!(drain(&batch), vec![]);
    batch.run_until_idle();
    let terminal: Vec<JobId> = batch
        .drain_events()
        .filter(JobEvent::is_terminal)
        .map(|e| e.id())
        .collect();
    assert_eq!(terminal, ids);
}

#[test]
fn unordered_mode_delivers_results_as_completed() {
    let batch = processor(1);
    let slow = batch
        .submit(
            TestJob::with(0, Action::Sleep(Duration::from_millis(1))),
            Priority::Low,
        )
        .unwrap();
    let fast = batch.submit(TestJob::new(1), Priority::High).unwrap();
    batch.run_until_idle();
    let terminal: Vec<JobId> = batch
        .drain_events()
        .filter(JobEvent::is_terminal)
        .map(|e| e.id())
        .collect();
    assert_eq!(terminal, vec![fast, slow]);
}

#[test]
fn a_stream_receives_its_results_in_chunks() {
    let batch = processor(2);
    let stream = batch.stream();
    let mut ids = stream
        .push_batch((0..10).map(TestJob::new), Priority::Normal)
        .unwrap();
    ids.push(
        stream
            .push(TestJob::with(10, Action::Panic), Priority::Low)
            .unwrap(),
    );
    let other = batch.submit(TestJob::new(99), Priority::Normal).unwrap();
    assert_eq!(stream.pending(), 11);
    assert!(stream.try_chunk().is_empty());

    let mut got = Vec::new();
    while stream.pending() > 0 {
        batch.run_jobs(3);
        let chunk = stream.try_chunk();
        assert!(chunk.iter().all(JobEvent::is_terminal));
        got.extend(chunk);
    }
    let mut got_ids: Vec<JobId> = got.iter().map(JobEvent::id).collect();
    got_ids.sort();
    assert_eq!(got_ids, ids);
    assert!(matches!(got.last(), Some(JobEvent::Failed { .. })));
    // The processor's own channel saw only its own job.
    assert!(drain(&batch).iter().all(|e| e.id() == other));
}

#[test]
fn chunk_timeout_returns_what_arrived() {
    let batch = Arc::new(processor(1));
    let stream = batch.stream();
    stream.push(TestJob::new(1), Priority::Normal).unwrap();
    assert!(stream.chunk_timeout(Duration::from_millis(10)).is_empty());
    let runner = {
        let batch = Arc::clone(&batch);
        thread::spawn(move || batch.run_until_idle())
    };
    let chunk = stream.chunk_timeout(Duration::from_secs(60));
    runner.join().unwrap();
    assert_eq!(chunk.len(), 1);
    assert_eq!(chunk[0].clone().into_output(), Some(1));
    assert_eq!(stream.pending(), 0);
}

#[test]
fn dropping_the_processor_cancels_queued_jobs_and_closes_streams() {
    let batch = processor(1);
    let events = batch.events().clone();
    let stream = batch.stream();
    let a = batch.submit(TestJob::new(0), Priority::Normal).unwrap();
    let b = stream.push(TestJob::new(1), Priority::Normal).unwrap();
    drop(batch);
    assert_eq!(
        events.try_iter().collect::<Vec<_>>(),
        vec![JobEvent::Cancelled { id: a }]
    );
    assert_eq!(stream.try_chunk(), vec![JobEvent::Cancelled { id: b }]);
    let err = stream.push(TestJob::new(2), Priority::Normal).unwrap_err();
    assert!(matches!(err, SubmitError::Closed { .. }));
}

#[test]
fn cancel_queued_cancels_everything_waiting() {
    let batch = processor(1);
    for i in 0..10 {
        batch.submit(TestJob::new(i), Priority::ALL[i % 3]).unwrap();
    }
    assert_eq!(batch.cancel_queued(), 10);
    assert!(batch.is_empty());
    assert_eq!(batch.active(), 0);
    let events = drain(&batch);
    assert_eq!(events.len(), 10);
    assert!(events
        .iter()
        .all(|e| matches!(e, JobEvent::Cancelled { .. })));
    assert_eq!(batch.run_until_idle().jobs_run, 0);
}

#[test]
fn a_zero_budget_frame_still_starts_one_job() {
    let batch = processor(2);
    for i in 0..10 {
        batch.submit(TestJob::new(i), Priority::Normal).unwrap();
    }
    let report = batch.run_frame(Duration::ZERO);
    assert_eq!(report.jobs_run, 1);
    assert_eq!(report.queued, 9);
    assert_eq!(report.budget, Some(Duration::ZERO));
    let report = batch.run_frame(Duration::from_secs(60));
    assert_eq!(report.jobs_run, 9);
    assert_eq!(report.overshoot, Duration::ZERO);
    assert_eq!(batch.frames(), 2);
}

#[test]
fn costs_are_learned_per_kind() {
    let batch = processor(2);
    for i in 0..20 {
        batch.submit(TestJob::new(i), Priority::Normal).unwrap();
    }
    for i in 0..5 {
        batch
            .submit(
                TestJob::with(i, Action::Sleep(Duration::from_micros(100))),
                Priority::Normal,
            )
            .unwrap();
    }
    batch.run_until_idle();
    let estimates = batch.cost_estimates();
    let kinds: Vec<(&str, u64)> = estimates
        .iter()
        .map(|e| (e.kind.as_str(), e.samples))
        .collect();
    assert_eq!(kinds, vec![("return", 20), ("sleep", 5)]);
    // A sleep of 100 µs takes at least 100 µs.
    assert!(estimates[1].mean >= Duration::from_micros(100));
}

/// A job wired by `#[derive(Job)]`: method, output, name and priority.
#[derive(macrokid_threads::Job)]
#[job(run = "area", output = "u64", name = "square", priority = "high")]
struct Square {
    side: u64,
}

impl Square {
    fn area(&mut self, cx: &JobContext) -> u64 {
        cx.report_progress(1.0);
        self.side * self.side
    }
}

#[test]
fn derived_jobs_run_with_their_declared_priority_and_kind() {
    let batch: JobQueue<Square> = JobQueue::builder().threads(1).build().unwrap();
    let low = batch.submit(Square { side: 2 }, Priority::Low).unwrap();
    let high = batch.enqueue(Square { side: 3 }).unwrap();
    batch.run_until_idle();
    let completed: Vec<(JobId, u64)> = batch
        .drain_events()
        .filter_map(|e| match e {
            JobEvent::Completed { id, output } => Some((id, output)),
            _ => None,
        })
        .collect();
    assert_eq!(completed, vec![(high, 9), (low, 4)]);
    assert_eq!(batch.cost_estimates()[0].kind, "square");
    assert_eq!(batch.cost_estimates()[0].samples, 2);
}

#[test]
fn processors_and_streams_can_be_shared_between_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<JobQueue<TestJob>>();
    assert_send_sync::<macrokid_threads::JobEventStream<TestJob>>();
    assert_send_sync::<JobEvent<usize>>();
}

#[test]
fn ordered_mode_under_cancellation_and_panics_keeps_id_order_exactly_once() {
    let batch = Arc::new(JobQueue::builder().threads(4).ordered().build().unwrap());
    let stream = batch.stream();
    let mut ids = Vec::new();
    let mut stream_ids = Vec::new();
    for i in 0..300 {
        let action = match i % 5 {
            0 => Action::Panic,
            1 => Action::Sleep(Duration::from_micros(100)),
            _ => Action::Return,
        };
        let job = TestJob::with(i, action);
        if i % 4 == 0 {
            stream_ids.push(stream.push(job, Priority::ALL[i % 3]).unwrap());
        } else {
            ids.push(batch.submit(job, Priority::ALL[i % 3]).unwrap());
        }
    }
    let canceller = {
        let batch = Arc::clone(&batch);
        let victims: Vec<JobId> = ids.iter().chain(&stream_ids).step_by(7).copied().collect();
        thread::spawn(move || {
            for id in victims {
                batch.cancel(id);
                thread::yield_now();
            }
        })
    };
    while !batch.is_empty() {
        batch.run_frame(Duration::from_micros(300));
    }
    canceller.join().unwrap();
    let terminal: Vec<JobId> = batch
        .drain_events()
        .filter(JobEvent::is_terminal)
        .map(|e| e.id())
        .collect();
    assert_eq!(terminal, ids);
    let streamed: Vec<JobId> = stream.try_chunk().iter().map(JobEvent::id).collect();
    assert_eq!(streamed, stream_ids);
    assert_eq!(stream.pending(), 0);
}
