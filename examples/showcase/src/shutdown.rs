//! Ending a run cleanly on a signal.
//!
//! SIGINT, SIGTERM, SIGHUP and SIGQUIT only set a flag (through `signal-hook`, whose handlers
//! do nothing but an atomic store, which is async-signal-safe). The frame loop checks the flag
//! between frames: the frame in flight is finished and written, the GPU is waited for, the
//! renderer is dropped, the summary is printed and the process exits 0. A second signal of the
//! same kind while shutting down ends the process at once with the conventional status
//! (128 + signal number), so a stuck run can still be stopped.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use signal_hook::consts::{SIGHUP, SIGINT, SIGQUIT, SIGTERM};

/// The signals that end a run cleanly.
const SIGNALS: [i32; 4] = [SIGINT, SIGTERM, SIGHUP, SIGQUIT];

/// A flag set by the first termination signal.
#[derive(Debug, Clone)]
pub(crate) struct Shutdown {
    requested: Arc<AtomicBool>,
    signal: Arc<AtomicUsize>,
}

impl Shutdown {
    /// Installs the handlers.
    ///
    /// # Errors
    /// When the operating system refuses a handler (the message names the signal).
    pub(crate) fn install() -> Result<Shutdown, String> {
        let requested = Arc::new(AtomicBool::new(false));
        let signal = Arc::new(AtomicUsize::new(0));
        for sig in SIGNALS {
            // A second signal while the flag is already set exits at once (128 + sig).
            signal_hook::flag::register_conditional_shutdown(
                sig,
                128 + sig,
                Arc::clone(&requested),
            )
            .and_then(|_| signal_hook::flag::register(sig, Arc::clone(&requested)))
            .and_then(|_| signal_hook::flag::register_usize(sig, Arc::clone(&signal), sig as usize))
            .map_err(|e| format!("cannot install a handler for signal {sig}: {e}"))?;
        }
        Ok(Shutdown { requested, signal })
    }

    /// Whether a termination signal arrived.
    pub(crate) fn requested(&self) -> bool {
        self.requested.load(Ordering::SeqCst)
    }

    /// The name of the signal that arrived, if one did.
    pub(crate) fn signal_name(&self) -> Option<&'static str> {
        match self.signal.load(Ordering::SeqCst) as i32 {
            0 => None,
            SIGINT => Some("SIGINT"),
            SIGTERM => Some("SIGTERM"),
            SIGHUP => Some("SIGHUP"),
            SIGQUIT => Some("SIGQUIT"),
            _ => Some("a signal"),
        }
    }
}
