//! [`Telemetry`]: one place that installs a run's `tracing` output — human
//! or JSON-lines logs on stderr, filtered by `RUST_LOG`, and optionally a
//! [`ChromeTrace`] of every span — for the examples and for hosts.

use std::io;
use std::path::PathBuf;
use std::str::FromStr;

use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::{EnvFilter, Layer, Registry};

use super::ChromeTrace;

/// How log events are written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum LogFormat {
    /// One human-readable line per event (tracing-subscriber's `fmt` format).
    #[default]
    Text,
    /// One JSON object per line (tracing-subscriber's `json` format): the
    /// keys `timestamp` (RFC 3339), `level`, `target`, `fields` (the event's
    /// fields, `message` among them) and `spans` (the enclosing spans, outermost
    /// first, each with its name and fields), for log shippers.
    Json,
}

impl FromStr for LogFormat {
    type Err = TelemetryError;

    /// Parses `text` or `json` (ASCII case-insensitive).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "text" => Ok(LogFormat::Text),
            "json" => Ok(LogFormat::Json),
            _ => Err(TelemetryError::UnknownLogFormat(s.to_owned())),
        }
    }
}

/// What can go wrong while installing telemetry.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TelemetryError {
    /// A log format other than `text` or `json` was asked for.
    #[error("unknown log format `{0}`: use `text` or `json`")]
    UnknownLogFormat(String),
    /// The Chrome-trace file could not be created.
    #[error("cannot create the trace file {path}: {source}")]
    TraceFile {
        /// The file asked for.
        path: PathBuf,
        /// The I/O error.
        source: io::Error,
    },
    /// The `RUST_LOG` environment variable does not parse as a filter.
    #[error("RUST_LOG is not a valid filter ({0}); e.g. RUST_LOG=info or RUST_LOG=macrokid_threads=debug")]
    Filter(String),
    /// Another global `tracing` subscriber was installed first.
    #[error("a global tracing subscriber is already installed: {0}")]
    AlreadyInstalled(#[from] tracing::subscriber::SetGlobalDefaultError),
}

/// Builder for a run's `tracing` output: logs on stderr (or another writer)
/// in [`LogFormat::Text`] or [`LogFormat::Json`], filtered by `RUST_LOG` or a
/// default filter, and an optional [`ChromeTrace`] file that records every
/// span whatever the log filter says.
///
/// ```
/// use macrokid_threads::{LogFormat, Telemetry};
///
/// let path = std::env::temp_dir().join(format!("macrokid-telemetry-{}.json", std::process::id()));
/// let (subscriber, guard) = Telemetry::new("info")
///     .log_format(LogFormat::Json)
///     .chrome_trace(Some(&path))
///     .build_with_writer(std::io::sink)?;
/// tracing::subscriber::with_default(subscriber, || {
///     let _tick = tracing::info_span!("tick", tick = 1).entered();
///     tracing::info!(entities = 10, "tick done");
/// });
/// guard.finish()?;
/// # std::fs::remove_file(&path)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
pub struct Telemetry {
    default_filter: String,
    format: LogFormat,
    trace: Option<PathBuf>,
}

/// Keeps a run's telemetry complete: [`finish`](Self::finish) (or dropping
/// it) closes the Chrome-trace file.
#[derive(Debug)]
#[must_use = "dropping the guard ends the Chrome trace"]
pub struct TelemetryGuard {
    trace: Option<ChromeTrace>,
}

impl TelemetryGuard {
    /// Ends the Chrome trace, if one is recorded (see [`ChromeTrace::finish`]).
    ///
    /// # Errors
    /// When the end of the trace file cannot be written.
    pub fn finish(self) -> io::Result<()> {
        match self.trace {
            Some(trace) => trace.finish(),
            None => Ok(()),
        }
    }
}

/// The subscriber [`Telemetry::build_with_writer`] returns.
pub type TelemetrySubscriber =
    tracing_subscriber::layer::Layered<Vec<Box<dyn Layer<Registry> + Send + Sync>>, Registry>;

impl Telemetry {
    /// Telemetry that logs text events passing `default_filter` (an
    /// `EnvFilter` directive such as `"warn"`, used when `RUST_LOG` is unset)
    /// and records no trace.
    pub fn new(default_filter: impl Into<String>) -> Self {
        Telemetry {
            default_filter: default_filter.into(),
            format: LogFormat::Text,
            trace: None,
        }
    }

    /// Sets the log format.
    pub fn log_format(mut self, format: LogFormat) -> Self {
        self.format = format;
        self
    }

    /// Records every span into a Chrome-trace / Perfetto JSON file at `path`
    /// (`None`: no trace).
    pub fn chrome_trace(mut self, path: Option<impl Into<PathBuf>>) -> Self {
        self.trace = path.map(Into::into);
        self
    }

    /// Builds the subscriber, logging to `writer`, without installing it
    /// (use `tracing::subscriber::with_default` or `set_global_default`).
    ///
    /// # Errors
    /// [`TelemetryError::Filter`] when `RUST_LOG` is set but invalid;
    /// [`TelemetryError::TraceFile`] when the trace file cannot be created.
    pub fn build_with_writer<W>(
        self,
        writer: W,
    ) -> Result<(TelemetrySubscriber, TelemetryGuard), TelemetryError>
    where
        W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
    {
        let filter = match std::env::var("RUST_LOG") {
            Ok(directives) if !directives.is_empty() => EnvFilter::try_new(&directives)
                .map_err(|e| TelemetryError::Filter(e.to_string()))?,
            _ => EnvFilter::new(&self.default_filter),
        };
        // The filter applies to the log layer only, so that the trace records
        // every span whatever RUST_LOG says.
        let log: Box<dyn Layer<Registry> + Send + Sync> = match self.format {
            LogFormat::Text => tracing_subscriber::fmt::layer()
                .with_writer(writer)
                .with_filter(filter)
                .boxed(),
            LogFormat::Json => tracing_subscriber::fmt::layer()
                .json()
                .with_current_span(false)
                .with_span_list(true)
                .with_writer(writer)
                .with_filter(filter)
                .boxed(),
        };
        let mut layers = vec![log];
        let trace = match &self.trace {
            Some(path) => {
                let (layer, trace) =
                    ChromeTrace::layer(path).map_err(|source| TelemetryError::TraceFile {
                        path: path.clone(),
                        source,
                    })?;
                layers.push(layer.boxed());
                Some(trace)
            }
            None => None,
        };
        let subscriber = tracing_subscriber::registry().with(layers);
        Ok((subscriber, TelemetryGuard { trace }))
    }

    /// Builds the subscriber logging to stderr and installs it as the
    /// process's global default.
    ///
    /// # Errors
    /// As [`build_with_writer`](Self::build_with_writer), and
    /// [`TelemetryError::AlreadyInstalled`] when a global subscriber exists.
    pub fn init(self) -> Result<TelemetryGuard, TelemetryError> {
        let (subscriber, guard) = self.build_with_writer(io::stderr)?;
        tracing::subscriber::set_global_default(subscriber)?;
        Ok(guard)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Buffer(Arc<Mutex<Vec<u8>>>);

    impl io::Write for Buffer {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    fn logged(format: LogFormat) -> String {
        let buffer = Buffer::default();
        let out = buffer.clone();
        let (subscriber, guard) = Telemetry::new("info")
            .log_format(format)
            .build_with_writer(move || out.clone())
            .unwrap();
        tracing::subscriber::with_default(subscriber, || {
            let _group = tracing::info_span!("group", group = "movement").entered();
            tracing::info!(entities = 42_u64, "group done");
            tracing::debug!("filtered out by the default filter");
        });
        guard.finish().unwrap();
        let bytes = buffer.0.lock().unwrap().clone();
        String::from_utf8(bytes).unwrap()
    }

    #[test]
    fn json_logs_are_one_object_per_line_with_fields_and_spans() {
        if std::env::var_os("RUST_LOG").is_some() {
            return; // the default filter is what this test checks
        }
        let text = logged(LogFormat::Json);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines.len(),
            1,
            "one info event, the debug one filtered: {text}"
        );
        let event: serde_json::Value = serde_json::from_str(lines[0]).unwrap();
        assert_eq!(event["level"], "INFO");
        assert_eq!(event["fields"]["message"], "group done");
        assert_eq!(event["fields"]["entities"], 42);
        assert_eq!(event["spans"][0]["name"], "group");
        assert_eq!(event["spans"][0]["group"], "movement");
    }

    #[test]
    fn text_logs_are_not_json() {
        if std::env::var_os("RUST_LOG").is_some() {
            return;
        }
        let text = logged(LogFormat::Text);
        assert!(text.contains("group done"), "{text}");
        assert!(serde_json::from_str::<serde_json::Value>(text.trim()).is_err());
    }

    #[test]
    fn log_format_parses_and_rejects() {
        assert_eq!("JSON".parse::<LogFormat>().unwrap(), LogFormat::Json);
        assert_eq!("text".parse::<LogFormat>().unwrap(), LogFormat::Text);
        let err = "yaml".parse::<LogFormat>().unwrap_err();
        assert!(err.to_string().contains("use `text` or `json`"), "{err}");
    }

    #[test]
    fn an_unwritable_trace_path_is_an_error_naming_it() {
        let path = std::env::temp_dir().join("macrokid-no-such-dir/x/trace.json");
        let Err(err) = Telemetry::new("warn")
            .chrome_trace(Some(&path))
            .build_with_writer(io::sink)
        else {
            panic!("a trace under a missing directory was accepted");
        };
        assert!(err.to_string().contains("macrokid-no-such-dir"), "{err}");
    }
}
