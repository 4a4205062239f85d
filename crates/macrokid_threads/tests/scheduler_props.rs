//! Property test of the scheduler on random stages: whatever the plan and the
//! thread count, every system runs exactly once per tick, conflicting systems
//! never overlap, and the final state equals the single-threaded run's.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use macrokid_core::{Plan, ResourceAccess, ResourceId, StageDescriptor, SystemDescriptor};
use macrokid_threads::{BoxError, Scheduler, SystemTask, ThreadPool};
use proptest::prelude::*;

const RESOURCES: usize = 4;

fn res(i: usize) -> ResourceId {
    struct R0;
    struct R1;
    struct R2;
    struct R3;
    [
        ResourceId::of::<R0>(),
        ResourceId::of::<R1>(),
        ResourceId::of::<R2>(),
        ResourceId::of::<R3>(),
    ][i]
}

/// Per system: `(reads, writes)` as resource indices.
type Spec = (Vec<usize>, Vec<usize>);

fn spec_strategy() -> impl Strategy<Value = Vec<Spec>> {
    prop::collection::vec(
        (
            prop::collection::vec(0..RESOURCES, 0..3),
            prop::collection::vec(0..RESOURCES, 0..2),
        ),
        1..12,
    )
}

struct Cells {
    values: [Mutex<u64>; RESOURCES],
    readers: [AtomicUsize; RESOURCES],
    writers: [AtomicUsize; RESOURCES],
    violations: AtomicUsize,
}

/// Runs `ticks` ticks of one stage; returns the cells, the run counts and the
/// number of exclusion violations seen.
fn simulate(
    scheduler: &Scheduler,
    specs: &[Spec],
    ticks: u64,
) -> ([u64; RESOURCES], Vec<usize>, usize) {
    let plan =
        Plan::build([
            StageDescriptor::new("stage").with_systems(specs.iter().enumerate().map(
                |(i, (reads, writes))| {
                    let mut access = ResourceAccess::new();
                    reads.iter().for_each(|&r| access.add_read(res(r)));
                    writes.iter().for_each(|&w| access.add_write(res(w)));
                    SystemDescriptor::new(format!("sys{i}"), access)
                },
            )),
        ])
        .unwrap();
    let stage = &plan.stages()[0];
    let cells = Cells {
        values: std::array::from_fn(|i| Mutex::new(i as u64 + 1)),
        readers: Default::default(),
        writers: Default::default(),
        violations: AtomicUsize::new(0),
    };
    let runs: Vec<AtomicUsize> = specs.iter().map(|_| AtomicUsize::new(0)).collect();
    for tick in 0..ticks {
        let mut closures: Vec<Box<dyn FnMut() -> Result<(), BoxError> + Send + '_>> = specs
            .iter()
            .enumerate()
            .map(|(k, (reads, writes))| {
                // The access as the planner sees it: a write absorbs a read.
                let reads: Vec<usize> = reads
                    .iter()
                    .copied()
                    .filter(|r| !writes.contains(r))
                    .collect();
                let mut writes = writes.clone();
                writes.sort_unstable();
                writes.dedup();
                let mut reads = reads;
                reads.sort_unstable();
                reads.dedup();
                let (cells, runs) = (&cells, &runs);
                Box::new(move || {
                    runs[k].fetch_add(1, Ordering::SeqCst);
                    for &w in &writes {
                        if cells.writers[w].fetch_add(1, Ordering::SeqCst) != 0
                            || cells.readers[w].load(Ordering::SeqCst) != 0
                        {
                            cells.violations.fetch_add(1, Ordering::SeqCst);
                        }
                    }
                    for &r in &reads {
                        cells.readers[r].fetch_add(1, Ordering::SeqCst);
                        if cells.writers[r].load(Ordering::SeqCst) != 0 {
                            cells.violations.fetch_add(1, Ordering::SeqCst);
                        }
                    }
                    let mut acc = tick * 131 + k as u64;
                    for &r in &reads {
                        acc = acc.wrapping_mul(0x9E37_79B9_7F4A_7C15)
                            ^ *cells.values[r].lock().unwrap();
                    }
                    std::thread::yield_now();
                    for &w in &writes {
                        let mut v = cells.values[w].lock().unwrap();
                        *v = v.rotate_left(9).wrapping_add(acc);
                    }
                    for &w in &writes {
                        cells.writers[w].fetch_sub(1, Ordering::SeqCst);
                    }
                    for &r in &reads {
                        cells.readers[r].fetch_sub(1, Ordering::SeqCst);
                    }
                    Ok(())
                }) as Box<dyn FnMut() -> Result<(), BoxError> + Send + '_>
            })
            .collect();
        let mut tasks: Vec<SystemTask<'_>> = closures
            .iter_mut()
            .map(|c| &mut **c as SystemTask<'_>)
            .collect();
        scheduler.run_stage(stage, &mut tasks).unwrap();
    }
    let violations = cells.violations.load(Ordering::SeqCst);
    (
        cells.values.map(|v| v.into_inner().unwrap()),
        runs.into_iter().map(AtomicUsize::into_inner).collect(),
        violations,
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn pooled_runs_match_the_single_threaded_run(specs in spec_strategy()) {
        const TICKS: u64 = 4;
        let (expected, runs, violations) = simulate(&Scheduler::single_threaded(), &specs, TICKS);
        prop_assert_eq!(violations, 0);
        prop_assert!(runs.iter().all(|&r| r == TICKS as usize));
        for threads in [1, 2, 4] {
            let scheduler = Scheduler::new(Arc::new(ThreadPool::new(threads).unwrap()));
            let (values, runs, violations) = simulate(&scheduler, &specs, TICKS);
            prop_assert_eq!(violations, 0, "{} threads", threads);
            prop_assert!(runs.iter().all(|&r| r == TICKS as usize), "{:?}", runs);
            prop_assert_eq!(values, expected, "{} threads", threads);
        }
    }
}
