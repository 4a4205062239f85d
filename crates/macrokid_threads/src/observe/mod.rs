//! Observability of runs: a Chrome-trace / Perfetto JSON file of the
//! `tracing` spans ([`ChromeTrace`]) and Prometheus metrics fed by the
//! scheduler's observer hooks ([`PrometheusMetrics`]), and [`Telemetry`], which
//! installs text or JSON-lines logs with an optional trace in one call.

mod chrome;
mod metrics;
mod telemetry;

pub use chrome::ChromeTrace;
pub use metrics::PrometheusMetrics;
pub use telemetry::{LogFormat, Telemetry, TelemetryError, TelemetryGuard, TelemetrySubscriber};
