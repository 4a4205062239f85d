//! The batch queue against a simple model: random submissions (three
//! priorities), cancellations and frames; on one worker, the order in which
//! jobs start must be exactly the model's (highest aging score first, the
//! older job on ties), every job ends exactly once, and the queue never holds
//! more than its capacity.

use std::collections::HashMap;

use macrokid_threads::{Cancellation, JobContext, JobEvent, JobId, JobQueue, JobRun, Priority};
use proptest::prelude::*;

struct Nop;

impl JobRun for Nop {
    type Output = ();
    fn run(&mut self, _cx: &JobContext) {}
}

#[derive(Clone, Debug)]
enum Op {
    Submit(usize),
    /// Cancel the job submitted `n`-th (modulo the number submitted).
    Cancel(usize),
    /// Run a frame of at most this many jobs.
    Run(usize),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        5 => (0usize..3).prop_map(Op::Submit),
        1 => any::<usize>().prop_map(Op::Cancel),
        2 => (0usize..6).prop_map(Op::Run),
    ]
}

/// A queued job in the model.
struct Waiting {
    id: JobId,
    level: u64,
    queued_at: u64,
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn start_order_matches_the_model(
        ops in proptest::collection::vec(op(), 1..200),
        aging in 0u32..4,
        capacity in 1usize..16,
    ) {
        let batch: JobQueue<Nop> = JobQueue::builder()
            .threads(1)
            .capacity(capacity)
            .aging_frames(aging)
            .build()
            .unwrap();
        let mut waiting: Vec<Waiting> = Vec::new();
        let mut submitted: Vec<JobId> = Vec::new();
        let mut frame = 0u64;
        let mut terminal: HashMap<JobId, usize> = HashMap::new();
        for op in ops {
            let mut expected = Vec::new();
            match op {
                Op::Submit(level) => {
                    let full = waiting.len() == capacity;
                    match batch.submit(Nop, Priority::ALL[level]) {
                        Ok(id) => {
                            prop_assert!(!full);
                            submitted.push(id);
                            waiting.push(Waiting { id, level: level as u64, queued_at: frame });
                        }
                        Err(e) => prop_assert!(full && e.is_full()),
                    }
                }
                Op::Cancel(n) if !submitted.is_empty() => {
                    let id = submitted[n % submitted.len()];
                    let was_waiting = waiting.iter().position(|w| w.id == id);
                    let outcome = batch.cancel(id);
                    match was_waiting {
                        Some(i) => {
                            prop_assert_eq!(outcome, Cancellation::Dequeued);
                            waiting.remove(i);
                        }
                        None => prop_assert_eq!(outcome, Cancellation::Inactive),
                    }
                }
                Op::Cancel(_) => {}
                Op::Run(n) => {
                    frame += 1;
                    for _ in 0..n {
                        let score = |w: &Waiting| {
                            if aging == 0 {
                                w.level
                            } else {
                                w.level * u64::from(aging) + (frame - w.queued_at)
                            }
                        };
                        let best = waiting
                            .iter()
                            .enumerate()
                            .max_by(|(_, a), (_, b)| {
                                score(a).cmp(&score(b)).then(b.id.cmp(&a.id))
                            })
                            .map(|(i, _)| i);
                        match best {
                            Some(i) => expected.push(waiting.remove(i).id),
                            None => break,
                        }
                    }
                    let report = batch.run_jobs(n);
                    prop_assert_eq!(report.jobs_run, expected.len());
                    prop_assert_eq!(report.queued, waiting.len());
                }
            }
            prop_assert!(batch.len() <= capacity);
            prop_assert_eq!(batch.len(), waiting.len());
            // Jobs start exactly in the model's order (none outside frames).
            let mut started = Vec::new();
            for event in batch.drain_events() {
                match event {
                    JobEvent::Started { id } => started.push(id),
                    other => {
                        prop_assert!(other.is_terminal());
                        *terminal.entry(other.id()).or_default() += 1;
                    }
                }
            }
            prop_assert_eq!(started, expected);
        }
        batch.cancel_queued();
        for event in batch.drain_events() {
            if event.is_terminal() {
                *terminal.entry(event.id()).or_default() += 1;
            }
        }
        prop_assert_eq!(terminal.len(), submitted.len());
        prop_assert!(terminal.values().all(|&n| n == 1));
    }
}
