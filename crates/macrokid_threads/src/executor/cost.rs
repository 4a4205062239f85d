//! What the scheduler learns of each batch's cost, for cost-aware dispatch.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

/// Weight of a new sample in the moving average (1/8, as TCP's smoothed
/// round-trip time, RFC 6298, and the job queue's cost model).
const ALPHA: f64 = 0.125;

/// A sample above this multiple of the current mean is clamped to it: a
/// batch preempted by the OS once must not look 100x dearer for the next
/// hundred ticks, while a lasting rise is still followed (the mean grows by
/// `1 + 3 * ALPHA` = 1.375x per sample).
const OUTLIER_CLAMP: f64 = 4.0;

/// A batch's identity: the address of its [`macrokid_core::StagePlan`] and
/// its index in the stage. A stage of a derived schedule lives in a
/// `'static` plan, so its address is stable; a hand-built plan that is
/// dropped and replaced by another at the same address inherits the old
/// estimate only until the fingerprint (the batch's system count) differs
/// or a few samples have moved the average.
pub(super) type BatchKey = (usize, usize);

/// Every this many runs of a batch that runs in parallel and whose
/// estimate is below [`PROBE_CAP`] times the inline threshold, one runs
/// inline to measure its serial cost again ([`CostTable::estimate_and_probe`]).
pub(super) const PROBE_PERIOD: u32 = 16;

/// A batch is probed inline only while its estimated serial cost is below
/// this multiple of the inline threshold (320 µs at the default): what one
/// probe can cost a tick stays small, and a batch far above the threshold
/// (e.g. systems that must meet) never runs inline.
pub(super) const PROBE_CAP: u32 = 16;

/// How a run was executed, for [`CostTable::record`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Sample {
    /// In order on one thread: the batch's true serial cost.
    Inline,
    /// In parallel: the participants' summed busy time, an upper bound of
    /// the serial cost (it also counts waiting for the claim lock and time
    /// a participant was preempted, which on a loaded machine can be several
    /// times the serial cost).
    Parallel,
}

#[derive(Clone, Copy, Debug)]
struct BatchCost {
    /// The number of systems in the batch when the samples were taken.
    systems: usize,
    /// Exponential moving average of the batch's serial cost, in ns.
    mean_ns: f64,
    /// Whether an inline sample was folded in.
    measured_inline: bool,
    /// Runs since the entry was made (wrapping), for probes.
    runs: u32,
}

/// Moving averages of each batch's serial cost (the sum of its systems'
/// run times), shared by the clones of one scheduler.
#[derive(Debug, Default)]
pub(super) struct CostTable {
    batches: Mutex<HashMap<BatchKey, BatchCost>>,
}

impl CostTable {
    /// The estimated serial cost of batch `key`, `None` before its first
    /// run (or after its system count changed).
    pub(super) fn estimate(&self, key: BatchKey, systems: usize) -> Option<Duration> {
        let batches = self.batches.lock().unwrap_or_else(PoisonError::into_inner);
        batches
            .get(&key)
            .filter(|cost| cost.systems == systems)
            .map(|cost| Duration::from_nanos(cost.mean_ns as u64))
    }

    /// Folds one measured run into the batch's average.
    ///
    /// An inline sample is the serial cost: folded in, and the first one
    /// replaces an average made of parallel samples only. A parallel sample
    /// is an upper bound: folded in while no inline sample exists, later
    /// only when it is below the average (the batch got cheaper). Otherwise
    /// parallel runs on a loaded machine, whose busy time counts preemption,
    /// keep a cheap batch looking dear and running in parallel for good.
    pub(super) fn record(&self, key: BatchKey, systems: usize, took: Duration, how: Sample) {
        let sample = took.as_nanos() as f64;
        let inline = how == Sample::Inline;
        let mut batches = self.batches.lock().unwrap_or_else(PoisonError::into_inner);
        match batches.get_mut(&key) {
            Some(cost) if cost.systems == systems => {
                cost.runs = cost.runs.wrapping_add(1);
                if inline && !cost.measured_inline {
                    cost.mean_ns = sample;
                    cost.measured_inline = true;
                } else if inline || !cost.measured_inline || sample < cost.mean_ns {
                    let sample = sample.min(cost.mean_ns * OUTLIER_CLAMP).max(0.0);
                    cost.mean_ns += ALPHA * (sample - cost.mean_ns);
                }
            }
            _ => {
                batches.insert(
                    key,
                    BatchCost {
                        systems,
                        mean_ns: sample,
                        measured_inline: inline,
                        runs: 1,
                    },
                );
            }
        }
    }

    /// The estimate of batch `key` ([`estimate`](Self::estimate)) and
    /// whether its next run, should the estimate send it to the pool, runs
    /// inline instead to measure its serial cost: every
    /// [`PROBE_PERIOD`]-th run, while the estimate is below [`PROBE_CAP`]
    /// times `threshold`. One lock and one lookup: the scheduler asks both
    /// before every batch it may send to the pool. `None` when there is no
    /// estimate.
    pub(super) fn estimate_and_probe(
        &self,
        key: BatchKey,
        systems: usize,
        threshold: Duration,
    ) -> Option<(Duration, bool)> {
        let batches = self.batches.lock().unwrap_or_else(PoisonError::into_inner);
        batches
            .get(&key)
            .filter(|cost| cost.systems == systems)
            .map(|cost| {
                let probe = cost.runs % PROBE_PERIOD == PROBE_PERIOD - 1
                    && cost.mean_ns < threshold.as_nanos() as f64 * f64::from(PROBE_CAP);
                (Duration::from_nanos(cost.mean_ns as u64), probe)
            })
    }

    /// Whether the next run of batch `key` is a probe
    /// ([`estimate_and_probe`](Self::estimate_and_probe)).
    #[cfg(test)]
    fn should_probe(&self, key: BatchKey, systems: usize, threshold: Duration) -> bool {
        self.estimate_and_probe(key, systems, threshold)
            .is_some_and(|(_, probe)| probe)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_sample_then_moving_average() {
        let table = CostTable::default();
        assert_eq!(table.estimate((1, 0), 3), None);
        table.record((1, 0), 3, Duration::from_micros(80), Sample::Inline);
        assert_eq!(table.estimate((1, 0), 3), Some(Duration::from_micros(80)));
        table.record((1, 0), 3, Duration::from_micros(160), Sample::Inline);
        // 80 + (160 - 80) / 8 = 90 µs.
        assert_eq!(table.estimate((1, 0), 3), Some(Duration::from_micros(90)));
    }

    #[test]
    fn outliers_are_clamped_and_a_new_fingerprint_restarts() {
        let table = CostTable::default();
        table.record((1, 0), 2, Duration::from_micros(10), Sample::Inline);
        table.record((1, 0), 2, Duration::from_millis(100), Sample::Inline);
        // Clamped to 4 x 10 µs: 10 + (40 - 10) / 8 = 13.75 µs.
        assert_eq!(
            table.estimate((1, 0), 2),
            Some(Duration::from_nanos(13_750))
        );
        assert_eq!(table.estimate((1, 0), 5), None);
        table.record((1, 0), 5, Duration::from_millis(1), Sample::Inline);
        assert_eq!(table.estimate((1, 0), 5), Some(Duration::from_millis(1)));
    }

    #[test]
    fn parallel_samples_are_upper_bounds_once_an_inline_one_exists() {
        let table = CostTable::default();
        let us = Duration::from_micros;
        // Parallel samples only: folded in as they come.
        table.record((1, 0), 4, us(120), Sample::Parallel);
        table.record((1, 0), 4, us(200), Sample::Parallel);
        assert_eq!(table.estimate((1, 0), 4), Some(us(130)));
        // The first inline sample replaces them.
        table.record((1, 0), 4, us(24), Sample::Inline);
        assert_eq!(table.estimate((1, 0), 4), Some(us(24)));
        // A dearer parallel sample is ignored, a cheaper one folded in.
        table.record((1, 0), 4, us(90), Sample::Parallel);
        assert_eq!(table.estimate((1, 0), 4), Some(us(24)));
        table.record((1, 0), 4, us(16), Sample::Parallel);
        assert_eq!(table.estimate((1, 0), 4), Some(us(23)));
        // Inline samples always count.
        table.record((1, 0), 4, us(87), Sample::Inline);
        assert_eq!(table.estimate((1, 0), 4), Some(us(31)));
    }

    #[test]
    fn probes_come_every_period_below_the_cap() {
        let table = CostTable::default();
        let threshold = Duration::from_micros(20);
        let key = (2, 0);
        assert!(!table.should_probe(key, 3, threshold), "nothing known");
        let mut probes = Vec::new();
        for _ in 0..(3 * PROBE_PERIOD) {
            probes.push(table.should_probe(key, 3, threshold));
            table.record(key, 3, Duration::from_micros(100), Sample::Parallel);
        }
        let at: Vec<usize> = (0..probes.len()).filter(|&i| probes[i]).collect();
        let period = PROBE_PERIOD as usize;
        assert_eq!(at, [period - 1, 2 * period - 1, 3 * period - 1]);
        // Far above the threshold (a batch that may need real
        // concurrency): never probed.
        let dear = (3, 0);
        for _ in 0..(2 * PROBE_PERIOD) {
            assert!(!table.should_probe(dear, 2, threshold));
            table.record(dear, 2, threshold * (PROBE_CAP + 1), Sample::Parallel);
        }
    }
}
