//! Conflict-aware batching of the systems of one stage.

use super::SystemDescriptor;

/// A set of systems of one stage that may run at the same time: no two of them
/// conflict (see [`ResourceAccess::conflicts_with`](crate::ResourceAccess::conflicts_with)).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Batch {
    systems: Vec<usize>,
}

impl Batch {
    /// Indices into [`StagePlan::systems`](super::StagePlan::systems), ascending.
    pub fn systems(&self) -> &[usize] {
        &self.systems
    }

    /// Number of systems in the batch (at least one).
    pub fn len(&self) -> usize {
        self.systems.len()
    }

    /// Always `false`: a plan never holds an empty batch.
    pub fn is_empty(&self) -> bool {
        self.systems.is_empty()
    }
}

/// Splits `systems` into batches, greedily in declaration order.
///
/// Each system joins the batch right after the last batch that holds a system
/// it conflicts with (the first batch when it conflicts with none), opening a
/// new batch when that one does not exist yet. So:
/// - no batch holds two conflicting systems (every later batch was checked);
/// - two conflicting systems run in declaration order (the later one is
///   always in a later batch);
/// - each system runs as early as that rule allows, and the result depends on
///   nothing but the input.
///
/// O(n²) conflict tests in the worst case; planning happens once.
pub(super) fn batch_systems(systems: &[SystemDescriptor]) -> Vec<Batch> {
    let mut batches: Vec<Batch> = Vec::new();
    for (index, system) in systems.iter().enumerate() {
        let target = batches
            .iter()
            .rposition(|batch| {
                batch
                    .systems
                    .iter()
                    .any(|&other| systems[other].access.conflicts_with(&system.access))
            })
            .map_or(0, |last_conflict| last_conflict + 1);
        match batches.get_mut(target) {
            Some(batch) => batch.systems.push(index),
            None => batches.push(Batch {
                systems: vec![index],
            }),
        }
    }
    batches
}
