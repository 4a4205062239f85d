//! [`ChromeTrace`]: the `tracing` spans of a run as a Chrome-trace / Perfetto
//! JSON file, through the `tracing-chrome` layer.

use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use tracing_chrome::{ChromeLayer, ChromeLayerBuilder, FlushGuard};
use tracing_subscriber::registry::LookupSpan;

/// Records every `tracing` span (the scheduler's `stage` and `system`, the
/// app's `tick`, `group`, `system` and `hook`) with its fields into a file in
/// the Trace Event Format that `chrome://tracing` and <https://ui.perfetto.dev>
/// open: a JSON object whose `traceEvents` array holds one `B`/`E`
/// (begin/end) pair per span entry on each thread, its fields under `args`
/// (`args.system`, `args.group`, `args.stage`, `args.tick`), timestamps in
/// microseconds since the trace started. tracing-chrome records string
/// fields through `Debug`, so they appear quoted (`"\"Integrate\""`).
///
/// [`ChromeTrace::layer`] gives the `tracing-subscriber` layer to install
/// (with `tracing_subscriber::registry().with(layer)`) and this handle;
/// [`finish`](Self::finish) (or dropping the handle) writes the end of the
/// file. Spans are recorded from every thread once the layer is part of the
/// global subscriber.
///
/// ```
/// use tracing_subscriber::prelude::*;
///
/// let path = std::env::temp_dir().join(format!("macrokid-doc-{}.json", std::process::id()));
/// let (layer, trace) = macrokid_threads::ChromeTrace::layer(&path)?;
/// let subscriber = tracing_subscriber::registry().with(layer);
/// tracing::subscriber::with_default(subscriber, || {
///     let _span = tracing::info_span!("system", system = "Integrate").entered();
/// });
/// trace.finish()?;
/// let json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path)?)?;
/// let events = json["traceEvents"].as_array().unwrap();
/// assert!(events.iter().any(|e| e["ph"] == "B" && e["args"]["system"] == "\"Integrate\""));
/// # std::fs::remove_file(&path)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[must_use = "dropping the handle ends the trace"]
pub struct ChromeTrace {
    guard: Option<FlushGuard>,
    file: Option<File>,
    path: PathBuf,
}

impl ChromeTrace {
    /// Creates (or truncates) the file at `path` and returns the layer that
    /// records into it, with the handle that completes it.
    ///
    /// # Errors
    /// When the file cannot be created or written.
    pub fn layer<S>(path: impl AsRef<Path>) -> io::Result<(ChromeLayer<S>, ChromeTrace)>
    where
        S: tracing::Subscriber + for<'span> LookupSpan<'span> + Send + Sync,
    {
        let path = path.as_ref().to_owned();
        let mut file = File::create(&path)?;
        // tracing-chrome writes the bare event array (`[...]`); this object
        // wraps it so that the file carries the `traceEvents` key.
        file.write_all(b"{\"traceEvents\":")?;
        let writer = file.try_clone()?;
        let (layer, guard) = ChromeLayerBuilder::new()
            .writer(writer)
            .include_args(true)
            .include_locations(false)
            .build();
        Ok((
            layer,
            ChromeTrace {
                guard: Some(guard),
                file: Some(file),
                path,
            },
        ))
    }

    /// The file being written.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Ends the trace: flushes the recorded events and closes the JSON
    /// object. Spans recorded after this are dropped.
    ///
    /// # Errors
    /// When the end of the file cannot be written.
    pub fn finish(mut self) -> io::Result<()> {
        self.close()
    }

    fn close(&mut self) -> io::Result<()> {
        // Dropping the guard joins tracing-chrome's writer thread, which
        // writes the array's closing `]` and flushes.
        drop(self.guard.take());
        match self.file.take() {
            // Both handles share one file offset: this lands after the `]`.
            Some(mut file) => {
                file.write_all(b"}\n")?;
                file.flush()
            }
            None => Ok(()),
        }
    }
}

impl Drop for ChromeTrace {
    fn drop(&mut self) {
        if let Err(err) = self.close() {
            tracing::error!(path = %self.path.display(), %err, "could not finish the Chrome trace");
        }
    }
}

impl std::fmt::Debug for ChromeTrace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChromeTrace")
            .field("path", &self.path)
            .field("open", &self.file.is_some())
            .finish()
    }
}
