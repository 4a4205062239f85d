//! The stage graph: validation, topological order (Kahn's algorithm) and
//! longest-path layers.
//!
//! Nodes are stages by declaration index; an edge `u -> v` means "`u` runs
//! before `v`" and comes from `v.after(u)` or `u.before(v)`.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};

use super::error::PlanError;
use super::StageDescriptor;

/// A validated, acyclic stage graph.
#[derive(Clone, Debug)]
pub(super) struct StageGraph {
    /// Predecessors of each stage (declaration index), sorted, without duplicates.
    pub(super) pred: Vec<Vec<usize>>,
    /// Declaration indices in execution order.
    pub(super) order: Vec<usize>,
    /// Longest-path layer of each stage (declaration index): 0 for stages
    /// without predecessors, else one more than the deepest predecessor.
    pub(super) layer: Vec<usize>,
}

impl StageGraph {
    /// Validates names and edges, then orders the stages.
    pub(super) fn build(stages: &[StageDescriptor]) -> Result<Self, PlanError> {
        let mut index: HashMap<&str, usize> = HashMap::with_capacity(stages.len());
        for (i, stage) in stages.iter().enumerate() {
            if index.insert(stage.name.as_ref(), i).is_some() {
                return Err(PlanError::DuplicateStage {
                    name: stage.name.to_string(),
                });
            }
        }

        let n = stages.len();
        let mut succ: Vec<Vec<usize>> = vec![Vec::new(); n];
        let mut pred: Vec<Vec<usize>> = vec![Vec::new(); n];
        for (i, stage) in stages.iter().enumerate() {
            let resolve = |name: &str| -> Result<usize, PlanError> {
                if name == stage.name {
                    return Err(PlanError::SelfDependency {
                        stage: stage.name.to_string(),
                    });
                }
                index
                    .get(name)
                    .copied()
                    .ok_or_else(|| PlanError::UnknownStage {
                        stage: stage.name.to_string(),
                        referenced: name.to_owned(),
                    })
            };
            for name in &stage.after {
                let j = resolve(name)?;
                succ[j].push(i);
                pred[i].push(j);
            }
            for name in &stage.before {
                let j = resolve(name)?;
                succ[i].push(j);
                pred[j].push(i);
            }
        }
        for list in succ.iter_mut().chain(pred.iter_mut()) {
            list.sort_unstable();
            list.dedup();
        }

        // Kahn's algorithm; the ready set is a min-heap on declaration index,
        // so ties are broken by declaration order.
        let mut in_degree: Vec<usize> = pred.iter().map(Vec::len).collect();
        let mut ready: BinaryHeap<Reverse<usize>> =
            (0..n).filter(|&i| in_degree[i] == 0).map(Reverse).collect();
        let mut order = Vec::with_capacity(n);
        let mut layer = vec![0usize; n];
        while let Some(Reverse(u)) = ready.pop() {
            order.push(u);
            for &v in &succ[u] {
                layer[v] = layer[v].max(layer[u] + 1);
                in_degree[v] -= 1;
                if in_degree[v] == 0 {
                    ready.push(Reverse(v));
                }
            }
        }

        if order.len() < n {
            let cycle = find_cycle(&pred, &in_degree);
            return Err(PlanError::Cycle {
                cycle: cycle
                    .into_iter()
                    .map(|i| stages[i].name.to_string())
                    .collect(),
            });
        }

        Ok(Self { pred, order, layer })
    }
}

/// Finds one cycle among the stages Kahn's algorithm could not order (those
/// with `in_degree > 0`). Returns it in edge order (each stage runs before the
/// next, the last before the first), rotated to start at its smallest index.
fn find_cycle(pred: &[Vec<usize>], in_degree: &[usize]) -> Vec<usize> {
    let blocked = |i: usize| in_degree[i] > 0;
    // Every blocked stage has a blocked predecessor (otherwise its in-degree
    // would have dropped to zero), so walking predecessors from a blocked
    // stage never gets stuck and must revisit a stage: that closes a cycle.
    let start = (0..in_degree.len())
        .find(|&i| blocked(i))
        .expect("Kahn's algorithm left a stage unordered, so one is blocked");
    let mut position: HashMap<usize, usize> = HashMap::new();
    let mut walk = Vec::new();
    let mut current = start;
    while let std::collections::hash_map::Entry::Vacant(slot) = position.entry(current) {
        slot.insert(walk.len());
        walk.push(current);
        current = pred[current]
            .iter()
            .copied()
            .find(|&p| blocked(p))
            .expect("a blocked stage has a blocked predecessor");
    }
    // `walk[k..]` is the cycle, walked backwards along edges.
    let mut cycle = walk.split_off(position[&current]);
    cycle.reverse();
    let min_pos = cycle
        .iter()
        .enumerate()
        .min_by_key(|&(_, &s)| s)
        .map_or(0, |(pos, _)| pos);
    cycle.rotate_left(min_pos);
    cycle
}
