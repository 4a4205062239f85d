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

/// Splits `systems` into batches, greedily in declaration order (see
/// [`batch_by_conflict`]).
pub(super) fn batch_systems(systems: &[SystemDescriptor]) -> Vec<Batch> {
    batch_by_conflict(systems.len(), |a, b| {
        systems[a].access.conflicts_with(&systems[b].access)
    })
    .into_iter()
    .map(|systems| Batch { systems })
    .collect()
}

/// Splits items `0..n` into groups that may run at the same time, greedily
/// in order — the one batching algorithm of macrokid, for the systems of a
/// stage ([`StagePlan::batches`](super::StagePlan::batches)) and for the
/// stages of a topological layer (their accesses
/// [including deferred writes](crate::ResourceAccess::including_deferred)).
///
/// Each item joins the group right after the last group that holds an item
/// it conflicts with (the first group when it conflicts with none), opening
/// a new group when that one does not exist yet. So:
/// - no group holds two conflicting items (every later group was checked);
/// - two conflicting items run in order (the later one is always in a
///   later group);
/// - each item runs as early as that rule allows, and the result depends on
///   nothing but the input.
///
/// `conflicts(a, b)` is asked with `a` in an earlier group and `b` the item
/// being placed. Returns the groups in order, each ascending. O(n²)
/// conflict tests in the worst case.
pub fn batch_by_conflict(n: usize, conflicts: impl Fn(usize, usize) -> bool) -> Vec<Vec<usize>> {
    let mut groups: Vec<Vec<usize>> = Vec::new();
    for index in 0..n {
        let target = groups
            .iter()
            .rposition(|group| group.iter().any(|&other| conflicts(other, index)))
            .map_or(0, |last_conflict| last_conflict + 1);
        match groups.get_mut(target) {
            Some(group) => group.push(index),
            None => groups.push(vec![index]),
        }
    }
    groups
}
