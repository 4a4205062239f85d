//! The bridge between a scheduler and the data its systems run on.

use macrokid_core::SystemSlot;

/// A boxed error any system may return.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// A context `Self` that knows how to run systems of type `S`.
///
/// A scheduler shares one context (`&Self`, hence `Sync`) among all systems of
/// a batch running in parallel; each system gets `&mut` to itself only. The
/// ECS implements this for its world (`impl<S: Run> RunSystem<S> for World`),
/// which is how a derived schedule runs ECS systems without the thread crate
/// knowing the ECS.
pub trait RunSystem<S>: Sync {
    /// Runs `system` once.
    ///
    /// # Errors
    /// Whatever the system reports; the scheduler wraps it with the system's
    /// and stage's names.
    fn run_system(&self, system: &mut S, slot: SystemSlot) -> Result<(), BoxError>;
}
