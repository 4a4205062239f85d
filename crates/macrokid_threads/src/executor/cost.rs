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

#[derive(Clone, Copy, Debug)]
struct BatchCost {
    /// The number of systems in the batch when the samples were taken.
    systems: usize,
    /// Exponential moving average of the batch's serial cost, in ns.
    mean_ns: f64,
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

    /// Folds one measured serial cost into the batch's average.
    pub(super) fn record(&self, key: BatchKey, systems: usize, took: Duration) {
        let sample = took.as_nanos() as f64;
        let mut batches = self.batches.lock().unwrap_or_else(PoisonError::into_inner);
        match batches.get_mut(&key) {
            Some(cost) if cost.systems == systems => {
                let sample = sample.min(cost.mean_ns * OUTLIER_CLAMP).max(0.0);
                cost.mean_ns += ALPHA * (sample - cost.mean_ns);
            }
            _ => {
                batches.insert(
                    key,
                    BatchCost {
                        systems,
                        mean_ns: sample,
                    },
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_sample_then_moving_average() {
        let table = CostTable::default();
        assert_eq!(table.estimate((1, 0), 3), None);
        table.record((1, 0), 3, Duration::from_micros(80));
        assert_eq!(table.estimate((1, 0), 3), Some(Duration::from_micros(80)));
        table.record((1, 0), 3, Duration::from_micros(160));
        // 80 + (160 - 80) / 8 = 90 µs.
        assert_eq!(table.estimate((1, 0), 3), Some(Duration::from_micros(90)));
    }

    #[test]
    fn outliers_are_clamped_and_a_new_fingerprint_restarts() {
        let table = CostTable::default();
        table.record((1, 0), 2, Duration::from_micros(10));
        table.record((1, 0), 2, Duration::from_millis(100));
        // Clamped to 4 x 10 µs: 10 + (40 - 10) / 8 = 13.75 µs.
        assert_eq!(
            table.estimate((1, 0), 2),
            Some(Duration::from_nanos(13_750))
        );
        assert_eq!(table.estimate((1, 0), 5), None);
        table.record((1, 0), 5, Duration::from_millis(1));
        assert_eq!(table.estimate((1, 0), 5), Some(Duration::from_millis(1)));
    }
}
