//! Learning how long each kind of job takes.

use std::collections::HashMap;
use std::time::Duration;

/// Dense index of a job kind ([`JobRun::name`](crate::JobRun::name)),
/// interned at submission so that workers never hash strings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct KindId(u32);

/// Weight of a new sample in the moving averages (1/8, as TCP's smoothed
/// round-trip time, RFC 6298).
const ALPHA: f64 = 0.125;

/// Moving averages of one kind's cost, in nanoseconds.
#[derive(Clone, Copy, Debug)]
struct KindCost {
    /// Exponential moving average of the run time.
    mean: f64,
    /// Exponential moving average of `|sample - mean|`.
    deviation: f64,
    samples: u64,
}

/// A sample above this multiple of the current mean is clamped to it before
/// it enters the averages: a job preempted by the OS for a few milliseconds
/// must not make its kind look 100x dearer for the next hundred frames, while
/// a real, lasting rise in cost is still followed (the mean grows by
/// `1 + 3 * ALPHA` = 1.375x per sample, 10x in 8 samples).
const OUTLIER_CLAMP: f64 = 4.0;

/// Per-kind cost statistics: an exponential moving average of the run time
/// plus its mean absolute deviation, with outliers clamped to
/// `OUTLIER_CLAMP` times the mean. The prediction is `mean + deviation`,
/// slightly above the average so that a worker leaves a job for the next
/// frame when it would most likely not finish in this one.
pub(crate) struct CostModel {
    names: HashMap<Box<str>, KindId>,
    kinds: Vec<(Box<str>, Option<KindCost>)>,
    /// Prediction for a kind never seen.
    default_cost: Duration,
}

impl CostModel {
    pub(crate) fn new(default_cost: Duration) -> Self {
        Self {
            names: HashMap::new(),
            kinds: Vec::new(),
            default_cost,
        }
    }

    /// The id of kind `name`, registering it on first sight.
    pub(crate) fn intern(&mut self, name: &str) -> KindId {
        if let Some(&id) = self.names.get(name) {
            return id;
        }
        let id = KindId(u32::try_from(self.kinds.len()).expect("more than 2^32 job kinds"));
        self.names.insert(name.into(), id);
        self.kinds.push((name.into(), None));
        id
    }

    /// The kind's name.
    pub(crate) fn name(&self, kind: KindId) -> &str {
        &self.kinds[kind.0 as usize].0
    }

    /// Folds one measured run time into the kind's averages.
    pub(crate) fn record(&mut self, kind: KindId, took: Duration) {
        let sample = took.as_nanos() as f64;
        let slot = &mut self.kinds[kind.0 as usize].1;
        match slot {
            None => {
                *slot = Some(KindCost {
                    mean: sample,
                    deviation: sample / 2.0,
                    samples: 1,
                })
            }
            Some(cost) => {
                let sample = sample.min(OUTLIER_CLAMP * cost.mean.max(1.0));
                let error = sample - cost.mean;
                cost.mean += ALPHA * error;
                cost.deviation += ALPHA * (error.abs() - cost.deviation);
                cost.samples += 1;
            }
        }
    }

    /// Predicted run time of the next job of this kind: `mean + deviation`,
    /// or the configured default for a kind never measured.
    pub(crate) fn predict(&self, kind: KindId) -> Duration {
        match self.kinds[kind.0 as usize].1 {
            None => self.default_cost,
            Some(cost) => Duration::from_nanos((cost.mean + cost.deviation) as u64),
        }
    }

    /// `(name, mean, samples)` of every measured kind, in first-seen order.
    pub(crate) fn snapshot(&self) -> Vec<(String, Duration, u64)> {
        self.kinds
            .iter()
            .filter_map(|(name, cost)| {
                cost.map(|c| {
                    (
                        name.to_string(),
                        Duration::from_nanos(c.mean as u64),
                        c.samples,
                    )
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unseen_kind_uses_default_then_learns() {
        let mut model = CostModel::new(Duration::from_millis(1));
        let a = model.intern("a");
        assert_eq!(model.intern("a"), a);
        assert_eq!(model.predict(a), Duration::from_millis(1));
        for _ in 0..200 {
            model.record(a, Duration::from_micros(20));
        }
        let predicted = model.predict(a);
        assert!(
            predicted >= Duration::from_micros(20) && predicted < Duration::from_micros(21),
            "{predicted:?}"
        );
        assert_eq!(model.snapshot()[0].2, 200);
    }

    #[test]
    fn one_preempted_run_does_not_inflate_the_prediction() {
        let mut model = CostModel::new(Duration::from_millis(1));
        let a = model.intern("a");
        for _ in 0..100 {
            model.record(a, Duration::from_micros(20));
        }
        model.record(a, Duration::from_millis(5));
        // Clamped to 80 µs: the mean moves by 60/8 µs, not by 5 ms/8.
        assert!(
            model.predict(a) < Duration::from_micros(50),
            "{:?}",
            model.predict(a)
        );
    }

    #[test]
    fn a_lasting_rise_in_cost_is_followed() {
        let mut model = CostModel::new(Duration::from_millis(1));
        let a = model.intern("a");
        for _ in 0..100 {
            model.record(a, Duration::from_micros(20));
        }
        for _ in 0..40 {
            model.record(a, Duration::from_micros(400));
        }
        let predicted = model.predict(a);
        assert!(predicted > Duration::from_micros(390), "{predicted:?}");
    }

    #[test]
    fn kinds_are_learned_separately() {
        let mut model = CostModel::new(Duration::from_millis(1));
        let light = model.intern("light");
        let heavy = model.intern("heavy");
        for _ in 0..100 {
            model.record(light, Duration::from_micros(10));
            model.record(heavy, Duration::from_micros(200));
        }
        assert!(model.predict(light) < Duration::from_micros(11));
        assert!(model.predict(heavy) > Duration::from_micros(199));
        assert_eq!(model.name(heavy), "heavy");
    }
}
