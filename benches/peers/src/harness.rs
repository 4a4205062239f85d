//! Criterion-style timing, simpler: warm up (which also calibrates how many
//! iterations one sample takes), then `samples` samples of that many
//! iterations each; the result is the median of the samples' µs per
//! iteration.

use std::time::{Duration, Instant};

/// How long to warm up and measure one workload.
#[derive(Clone, Copy, Debug)]
pub struct Timing {
    /// Warm-up time (also calibrates the batch size).
    pub warm_up: Duration,
    /// Total measurement time, split evenly over the samples.
    pub measurement: Duration,
    /// Number of samples; the median is reported.
    pub samples: u32,
    /// When set: no warm-up, one sample of exactly this many iterations
    /// (for instruction counts: `valgrind --tool=callgrind
    /// --toggle-collect='*harness::measure*'`, then the total over `N`).
    pub fixed_iters: Option<u64>,
}

/// The median µs per iteration of `routine`, whose output is passed to
/// `black_box` and dropped inside the timed loop (as criterion's `iter`).
#[inline(never)]
pub fn measure<O>(timing: &Timing, mut routine: impl FnMut() -> O) -> f64 {
    if let Some(iters) = timing.fixed_iters {
        let start = Instant::now();
        for _ in 0..iters {
            std::hint::black_box(routine());
        }
        return start.elapsed().as_secs_f64() * 1e6 / iters as f64;
    }
    // Warm up: double the batch until the warm-up time has passed; the last
    // batch's time per iteration calibrates the samples.
    let warm_start = Instant::now();
    let mut batch: u64 = 1;
    let per_iter = loop {
        let start = Instant::now();
        for _ in 0..batch {
            std::hint::black_box(routine());
        }
        let elapsed = start.elapsed();
        if warm_start.elapsed() >= timing.warm_up {
            break elapsed.as_secs_f64() / batch as f64;
        }
        batch = batch.saturating_mul(2);
    };
    let per_sample = timing.measurement.as_secs_f64() / f64::from(timing.samples);
    let iters = ((per_sample / per_iter.max(1e-9)) as u64).max(1);
    let mut samples: Vec<f64> = (0..timing.samples)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..iters {
                std::hint::black_box(routine());
            }
            start.elapsed().as_secs_f64() * 1e6 / iters as f64
        })
        .collect();
    samples.sort_by(f64::total_cmp);
    let n = samples.len();
    if n % 2 == 1 {
        samples[n / 2]
    } else {
        (samples[n / 2 - 1] + samples[n / 2]) / 2.0
    }
}

/// Checks, before timing, that a workload's query visits the rows it
/// should, so a query that matches nothing cannot pass for a fast one.
///
/// # Panics
///
/// If `got != want`.
pub fn expect_rows(what: &str, got: usize, want: usize) {
    assert_eq!(got, want, "{what}: visits {got} rows, expected {want}");
}
