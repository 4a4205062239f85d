//! The Prometheus text of a run parses as exposition format with the
//! expected samples.

use std::sync::Arc;

use macrokid_core::{Plan, ResourceAccess, StageDescriptor, SystemDescriptor};
use macrokid_threads::{BoxError, PrometheusMetrics, Scheduler, ThreadPool};

mod common;
use common::{app, World};

#[test]
fn metrics_parse_as_prometheus_exposition() {
    let metrics = Arc::new(PrometheusMetrics::new());
    let mut builder = app(Arc::new(ThreadPool::new(2).unwrap()));
    builder.observer(metrics.clone());
    let mut app = builder.build().unwrap();
    let mut world = World::default();
    for _ in 0..4 {
        app.tick(&mut world).unwrap();
    }
    let plan = Plan::build([StageDescriptor::new("render")
        .with_system(SystemDescriptor::new("cull", ResourceAccess::new()))])
    .unwrap();
    let mut cull = || -> Result<(), BoxError> { Ok(()) };
    Scheduler::single_threaded()
        .with_observer(metrics.clone())
        .run_stage(&plan.stages()[0], &mut [&mut cull])
        .unwrap();

    let text = metrics.encode();
    let scrape = prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_owned())))
        .expect("Prometheus text exposition");
    let value = |metric: &str, labels: &[(&str, &str)]| -> Option<f64> {
        scrape
            .samples
            .iter()
            .find(|s| s.metric == metric && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
            .map(|s| match &s.value {
                prometheus_parse::Value::Counter(v)
                | prometheus_parse::Value::Gauge(v)
                | prometheus_parse::Value::Untyped(v) => *v,
                prometheus_parse::Value::Histogram(buckets) => {
                    buckets.last().map_or(0.0, |b| b.count)
                }
                prometheus_parse::Value::Summary(_) => f64::NAN,
            })
    };
    assert_eq!(value("macrokid_ticks_total", &[]), Some(4.0), "{text}");
    assert_eq!(
        value(
            "macrokid_group_runs_total",
            &[("group", "movement"), ("outcome", "executed")]
        ),
        Some(4.0)
    );
    assert_eq!(
        value(
            "macrokid_group_runs_total",
            &[("group", "faults"), ("outcome", "errored")]
        ),
        Some(4.0)
    );
    assert_eq!(
        value(
            "macrokid_group_runs_total",
            &[("group", "analytics"), ("outcome", "executed")]
        ),
        Some(4.0)
    );
    assert_eq!(
        value(
            "macrokid_system_runs_total",
            &[("system", "always_fails"), ("outcome", "failed")]
        ),
        Some(4.0)
    );
    assert_eq!(
        value(
            "macrokid_system_runs_total",
            &[("system", "cull"), ("outcome", "completed")]
        ),
        Some(1.0)
    );
    assert_eq!(value("macrokid_async_groups_in_flight", &[]), Some(0.0));
    assert_eq!(value("macrokid_late_results_dropped_total", &[]), Some(0.0));
    // Histograms: every tick observed (the +Inf bucket counts them all).
    assert_eq!(value("macrokid_tick_duration_seconds", &[]), Some(4.0));
    assert!(scrape
        .samples
        .iter()
        .any(|s| s.metric == "macrokid_stage_duration_seconds"
            && s.labels.get("stage") == Some("render")));
}
