//! [`PrometheusMetrics`]: a [`SchedulerObserver`] that keeps Prometheus
//! metrics of stages, systems, work groups and ticks, through
//! `prometheus-client`.

use std::fmt;

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

use crate::executor::{SchedulerObserver, StageReport, SystemOutcome, SystemReport};
use crate::group::{GroupReport, TickReport};

type Labels = Vec<(&'static str, String)>;
type HistogramFamily = Family<Labels, Histogram, fn() -> Histogram>;

/// Buckets of the duration histograms, in seconds: 1 µs × 4^k for k in
/// 0..12 (1 µs to about 4.2 s).
fn duration_histogram() -> Histogram {
    Histogram::new(exponential_buckets(1e-6, 4.0, 12))
}

/// Scheduler metrics in the Prometheus text exposition format
/// ([`encode`](Self::encode)), fed as the [`SchedulerObserver`] of a
/// [`Scheduler`](crate::Scheduler) and/or an [`App`](crate::App):
///
/// | metric | type | labels |
/// |---|---|---|
/// | `macrokid_tick_duration_seconds` | histogram | |
/// | `macrokid_ticks_total` | counter | |
/// | `macrokid_group_duration_seconds` | histogram | `group`, `mode` (`synchronized`/`async`) |
/// | `macrokid_group_runs_total` | counter | `group`, `outcome` (`executed`, `skipped_empty`, `not_due`, `still_running`, `errored`, `timed_out`) |
/// | `macrokid_async_groups_in_flight` | gauge | (the async queue depth after the last tick) |
/// | `macrokid_late_results_dropped_total` | counter | |
/// | `macrokid_stage_duration_seconds` | histogram | `stage` |
/// | `macrokid_system_duration_seconds` | histogram | `system` |
/// | `macrokid_system_runs_total` | counter | `system`, `outcome` (`completed`, `failed`, `panicked`) |
///
/// Skipped groups are `macrokid_group_runs_total{outcome="not_due"|"skipped_empty"|"still_running"}`;
/// late ones `{outcome="timed_out"}`.
///
/// ```
/// use std::sync::Arc;
/// use macrokid_threads::{App, FnSystem, GroupWorld, PrometheusMetrics, SystemStatus, WorkGroup};
/// use macrokid_core::ResourceAccess;
///
/// struct World;
/// impl GroupWorld for World {
///     type Commands = ();
///     fn apply_commands(&mut self, (): ()) {}
/// }
///
/// let metrics = Arc::new(PrometheusMetrics::new());
/// let mut app = App::builder()
///     .observer(metrics.clone())
///     .add_group(WorkGroup::synchronized("net").system(FnSystem::new(
///         "poll", ResourceAccess::new(), |_: &mut World, _: &mut ()| Ok(SystemStatus::Executed),
///     )))
///     .build()?;
/// app.tick(&mut World)?;
/// let text = metrics.encode();
/// assert!(text.contains(r#"macrokid_group_runs_total{group="net",outcome="executed"} 1"#));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct PrometheusMetrics {
    registry: Registry,
    tick_duration: Histogram,
    ticks: Counter,
    group_duration: HistogramFamily,
    group_runs: Family<Labels, Counter>,
    async_in_flight: Gauge,
    late_dropped: Counter,
    stage_duration: HistogramFamily,
    system_duration: HistogramFamily,
    system_runs: Family<Labels, Counter>,
}

impl PrometheusMetrics {
    /// Empty metrics, registered under the `macrokid` prefix.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("macrokid");
        let tick_duration = duration_histogram();
        let ticks = Counter::default();
        let group_duration = HistogramFamily::new_with_constructor(duration_histogram);
        let group_runs = Family::<Labels, Counter>::default();
        let async_in_flight = Gauge::default();
        let late_dropped = Counter::default();
        let stage_duration = HistogramFamily::new_with_constructor(duration_histogram);
        let system_duration = HistogramFamily::new_with_constructor(duration_histogram);
        let system_runs = Family::<Labels, Counter>::default();
        registry.register(
            "tick_duration_seconds",
            "Wall-clock time of an App tick",
            tick_duration.clone(),
        );
        registry.register("ticks", "App ticks completed", ticks.clone());
        registry.register(
            "group_duration_seconds",
            "Wall-clock time of a work group's run",
            group_duration.clone(),
        );
        registry.register(
            "group_runs",
            "Work group runs by outcome",
            group_runs.clone(),
        );
        registry.register(
            "async_groups_in_flight",
            "Async work groups still running after the last tick",
            async_in_flight.clone(),
        );
        registry.register(
            "late_results_dropped",
            "Results of async groups that missed their deadline, dropped",
            late_dropped.clone(),
        );
        registry.register(
            "stage_duration_seconds",
            "Wall-clock time of a scheduler stage",
            stage_duration.clone(),
        );
        registry.register(
            "system_duration_seconds",
            "Wall-clock time of a system run",
            system_duration.clone(),
        );
        registry.register("system_runs", "System runs by outcome", system_runs.clone());
        Self {
            registry,
            tick_duration,
            ticks,
            group_duration,
            group_runs,
            async_in_flight,
            late_dropped,
            stage_duration,
            system_duration,
            system_runs,
        }
    }

    /// The metrics in the text exposition format (OpenMetrics flavour,
    /// ending in `# EOF`), ready to be served on `/metrics` or written to a
    /// file.
    pub fn encode(&self) -> String {
        let mut text = String::new();
        encode(&mut text, &self.registry).expect("writing to a String cannot fail");
        text
    }
}

impl Default for PrometheusMetrics {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for PrometheusMetrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PrometheusMetrics")
            .field("ticks", &self.ticks.get())
            .finish_non_exhaustive()
    }
}

impl SchedulerObserver for PrometheusMetrics {
    fn on_system(&self, report: &SystemReport<'_>) {
        let system = vec![("system", report.system.to_owned())];
        self.system_duration
            .get_or_create(&system)
            .observe(report.duration.as_secs_f64());
        let outcome = match report.outcome {
            SystemOutcome::Completed => "completed",
            SystemOutcome::Failed => "failed",
            SystemOutcome::Panicked => "panicked",
        };
        let mut labels = system;
        labels.push(("outcome", outcome.to_owned()));
        self.system_runs.get_or_create(&labels).inc();
    }

    fn on_stage(&self, report: &StageReport<'_>) {
        self.stage_duration
            .get_or_create(&vec![("stage", report.stage.to_owned())])
            .observe(report.duration.as_secs_f64());
    }

    fn on_group(&self, report: &GroupReport<'_>) {
        let group = ("group", report.group.to_owned());
        let mode = if report.is_async {
            "async"
        } else {
            "synchronized"
        };
        if !report.duration.is_zero() {
            self.group_duration
                .get_or_create(&vec![group.clone(), ("mode", mode.to_owned())])
                .observe(report.duration.as_secs_f64());
        }
        self.group_runs
            .get_or_create(&vec![group, ("outcome", report.outcome.label().to_owned())])
            .inc();
    }

    fn on_tick(&self, report: &TickReport) {
        self.ticks.inc();
        self.tick_duration.observe(report.duration.as_secs_f64());
        self.async_in_flight
            .set(i64::try_from(report.async_in_flight).unwrap_or(i64::MAX));
        let seen = self.late_dropped.get();
        if report.late_results_dropped > seen {
            self.late_dropped.inc_by(report.late_results_dropped - seen);
        }
    }
}
