//! Observability of runs: a Chrome-trace / Perfetto JSON file of the
//! `tracing` spans ([`ChromeTrace`]) and Prometheus metrics fed by the
//! scheduler's observer hooks ([`PrometheusMetrics`]).

mod chrome;
mod metrics;

pub use chrome::ChromeTrace;
pub use metrics::PrometheusMetrics;
