//! A value that counts its drops, for the storage tests.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// Adds 1 to its counter when dropped; carries an id.
#[derive(Debug)]
pub(crate) struct Counted(pub(crate) Arc<AtomicUsize>, pub(crate) u32);

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}
