//! Property tests of the schedule planner against simple models, on random
//! stage graphs and random accesses.

use macrokid_core::{
    Plan, PlanError, ResourceAccess, ResourceId, StageDescriptor, SystemDescriptor,
};
use proptest::prelude::*;

struct R0;
struct R1;
struct R2;
struct R3;
struct R4;

fn resource(i: usize) -> ResourceId {
    [
        ResourceId::of::<R0>(),
        ResourceId::of::<R1>(),
        ResourceId::of::<R2>(),
        ResourceId::of::<R3>(),
        ResourceId::of::<R4>(),
    ][i]
}

/// A random stage graph: per stage a list of systems (each a list of
/// `(resource, is_write)`), and `(from, to, via_before)` edges meaning `from`
/// runs before `to`, declared as `to.after(from)` or `from.before(to)`.
#[derive(Clone, Debug)]
struct Input {
    systems: Vec<Vec<Vec<(usize, bool)>>>,
    edges: Vec<(usize, usize, bool)>,
}

fn access_strategy() -> impl Strategy<Value = Vec<(usize, bool)>> {
    prop::collection::vec((0..5usize, any::<bool>()), 0..3)
}

fn input_strategy(acyclic: bool) -> impl Strategy<Value = Input> {
    (1..9usize)
        .prop_flat_map(move |n| {
            let systems = prop::collection::vec(prop::collection::vec(access_strategy(), 0..7), n);
            let edges = prop::collection::vec((0..n, 0..n, any::<bool>()), 0..(2 * n));
            let rank = Just((0..n).collect::<Vec<usize>>()).prop_shuffle();
            (systems, edges, rank)
        })
        .prop_map(move |(systems, edges, rank)| {
            let edges = edges
                .into_iter()
                .filter(|&(a, b, _)| a != b)
                .map(|(a, b, via_before)| {
                    if acyclic && rank[a] > rank[b] {
                        (b, a, via_before)
                    } else {
                        (a, b, via_before)
                    }
                })
                .collect();
            Input { systems, edges }
        })
}

fn any_input() -> impl Strategy<Value = Input> {
    prop_oneof![input_strategy(true), input_strategy(false)]
}

fn name(i: usize) -> String {
    format!("s{i}")
}

fn access(spec: &[(usize, bool)]) -> ResourceAccess {
    let mut access = ResourceAccess::new();
    for &(r, write) in spec {
        if write {
            access.add_write(resource(r));
        } else {
            access.add_read(resource(r));
        }
    }
    access
}

fn descriptors(input: &Input) -> Vec<StageDescriptor> {
    let mut stages: Vec<StageDescriptor> = input
        .systems
        .iter()
        .enumerate()
        .map(|(i, systems)| {
            StageDescriptor::new(name(i)).with_systems(
                systems
                    .iter()
                    .enumerate()
                    .map(|(k, spec)| SystemDescriptor::new(format!("s{i}_sys{k}"), access(spec))),
            )
        })
        .collect();
    for &(from, to, via_before) in &input.edges {
        if via_before {
            stages[from].before.push(name(to).into());
        } else {
            stages[to].after.push(name(from).into());
        }
    }
    stages
}

fn has_edge(input: &Input, from: usize, to: usize) -> bool {
    input.edges.iter().any(|&(a, b, _)| a == from && b == to)
}

/// The model order: repeatedly take the first-declared stage whose
/// predecessors are all placed. `None` when the graph has a cycle.
fn model_order(input: &Input) -> Option<Vec<usize>> {
    let n = input.systems.len();
    let mut placed = vec![false; n];
    let mut order = Vec::new();
    while order.len() < n {
        let next =
            (0..n).find(|&s| !placed[s] && (0..n).all(|p| placed[p] || !has_edge(input, p, s)))?;
        placed[next] = true;
        order.push(next);
    }
    Some(order)
}

fn index_of(stage_name: &str) -> usize {
    stage_name[1..].parse().unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Stage order and layers satisfy every constraint and match the model.
    #[test]
    fn order_respects_constraints(input in any_input()) {
        let result = Plan::build(descriptors(&input));
        match (model_order(&input), result) {
            (Some(model), Ok(plan)) => {
                let order: Vec<usize> = plan.stages().iter().map(|s| index_of(s.name())).collect();
                prop_assert_eq!(&order, &model);
                let position = |s: usize| order.iter().position(|&o| o == s).unwrap();
                let groups = plan.topo_groups();
                let layer_of = |s: usize| {
                    groups.iter().position(|g| g.contains(&name(s).as_str())).unwrap()
                };
                prop_assert_eq!(groups.iter().map(Vec::len).sum::<usize>(), input.systems.len());
                for &(from, to, _) in &input.edges {
                    prop_assert!(position(from) < position(to), "{} before {}", from, to);
                    prop_assert!(layer_of(from) < layer_of(to));
                }
                for s in 0..input.systems.len() {
                    let expected = (0..input.systems.len())
                        .filter(|&p| has_edge(&input, p, s))
                        .map(|p| layer_of(p) + 1)
                        .max()
                        .unwrap_or(0);
                    prop_assert_eq!(layer_of(s), expected, "stage {} sits right after its deepest predecessor", s);
                    prop_assert_eq!(plan.stages()[position(s)].declared_index(), s);
                }
                for group in &groups {
                    let idx: Vec<usize> = group.iter().map(|g| index_of(g)).collect();
                    prop_assert!(idx.windows(2).all(|w| w[0] < w[1]), "layer in declaration order");
                }
            }
            (None, Err(PlanError::Cycle { cycle })) => {
                prop_assert!(cycle.len() >= 2);
                let idx: Vec<usize> = cycle.iter().map(|c| index_of(c)).collect();
                let mut unique = idx.clone();
                unique.sort_unstable();
                unique.dedup();
                prop_assert_eq!(unique.len(), idx.len(), "each stage once");
                for k in 0..idx.len() {
                    let (from, to) = (idx[k], idx[(k + 1) % idx.len()]);
                    prop_assert!(has_edge(&input, from, to), "{} -> {} is an edge of the graph", from, to);
                }
                prop_assert_eq!(idx[0], *idx.iter().min().unwrap());
            }
            (model, result) => {
                prop_assert!(false, "model {:?} but planner {:?}", model, result.map(|p| p.to_string()));
            }
        }
    }

    /// Batches: conflict-free, complete, ordered like declarations when in
    /// conflict, and as early as that allows.
    #[test]
    fn batches_are_conflict_free_and_complete(input in input_strategy(true)) {
        let plan = Plan::build(descriptors(&input)).unwrap();
        let mut next_slot = 0;
        let mut declared: Vec<_> = plan.stages().iter().collect();
        declared.sort_by_key(|s| s.declared_index());
        for stage in declared {
            let systems = stage.systems();
            let mut batch_of = vec![None; systems.len()];
            for (b, batch) in stage.batches().iter().enumerate() {
                prop_assert!(!batch.is_empty());
                prop_assert!(batch.systems().windows(2).all(|w| w[0] < w[1]), "ascending");
                for &s in batch.systems() {
                    prop_assert!(batch_of[s].is_none(), "system {} in two batches", s);
                    batch_of[s] = Some(b);
                }
                for (i, &x) in batch.systems().iter().enumerate() {
                    for &y in &batch.systems()[i + 1..] {
                        prop_assert!(
                            !systems[x].access.conflicts_with(&systems[y].access),
                            "{} and {} conflict but share batch {}", systems[x].name, systems[y].name, b
                        );
                    }
                }
            }
            let batch_of: Vec<usize> = batch_of.into_iter().map(|b| b.expect("every system batched")).collect();
            for j in 0..systems.len() {
                let earliest = (0..j)
                    .filter(|&i| systems[i].access.conflicts_with(&systems[j].access))
                    .map(|i| batch_of[i] + 1)
                    .max()
                    .unwrap_or(0);
                prop_assert_eq!(batch_of[j], earliest, "system {} of {}", j, stage.name());
            }
            for k in 0..systems.len() {
                prop_assert_eq!(stage.slot(k).0, next_slot);
                next_slot += 1;
            }
        }
        prop_assert_eq!(plan.system_count(), next_slot);
    }

    /// The same input always gives the same plan.
    #[test]
    fn planning_is_deterministic(input in any_input()) {
        let a = Plan::build(descriptors(&input));
        let b = Plan::build(descriptors(&input));
        match (a, b) {
            (Ok(a), Ok(b)) => {
                prop_assert_eq!(a.stages(), b.stages());
                prop_assert_eq!(a.topo_groups(), b.topo_groups());
                prop_assert_eq!(a.to_dot(), b.to_dot());
                prop_assert_eq!(a.to_mermaid(), b.to_mermaid());
            }
            (Err(a), Err(b)) => prop_assert_eq!(a, b),
            _ => prop_assert!(false, "one build failed, the other did not"),
        }
    }
}
