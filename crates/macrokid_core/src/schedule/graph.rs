//! The stage graph: its checks (shared with `#[derive(Schedule)]`, which
//! reports every [`GraphIssue`] at compile time), topological order (Kahn's
//! algorithm) and longest-path layers.
//!
//! Nodes are stages by declaration index; an edge `u -> v` means "`u` runs
//! before `v`" and comes from `v.after(u)` or `u.before(v)`.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};

use super::error::PlanError;
use super::StageDescriptor;

/// Which ordering list of a stage an entry is in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OrderList {
    /// `after`: the named stage runs before this one.
    After,
    /// `before`: the named stage runs after this one.
    Before,
}

/// One entry of a stage's `after` or `before` list: where a
/// [`GraphIssue`] points.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ListEntry {
    /// The stage's declaration index.
    pub stage: usize,
    /// Which list.
    pub list: OrderList,
    /// The entry's index in that list.
    pub entry: usize,
}

/// A problem of a stage graph, found by [`check_stage_graph`].
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum GraphIssue {
    /// Stage `stage` has the name of the earlier stage `first`.
    DuplicateStage {
        /// The later declaration index.
        stage: usize,
        /// The declaration index that first used the name.
        first: usize,
    },
    /// A name listed a second time in one `after`/`before` list (harmless
    /// to the planner, which ignores repeated edges; the derive reports it).
    ListedTwice {
        /// The repeated entry.
        at: ListEntry,
    },
    /// A name that matches no stage.
    UnknownStage {
        /// The entry.
        at: ListEntry,
    },
    /// A stage that names itself.
    SelfDependency {
        /// The entry.
        at: ListEntry,
    },
    /// A cycle of ordering constraints.
    Cycle {
        /// The stages of the cycle by declaration index, in edge order (each
        /// runs before the next, the last before the first), starting at the
        /// earliest declared stage of its strongly connected component; the
        /// shortest such cycle.
        stages: Vec<usize>,
        /// The entry that declared the edge from the last stage back to the
        /// first.
        closing: ListEntry,
    },
}

/// One ordering constraint: stage `from` runs before stage `to`.
struct Edge {
    from: usize,
    to: usize,
    /// The entry that declared it first.
    at: ListEntry,
}

/// Checks a stage graph and returns every problem, in this order:
/// duplicate stage names (declaration order); then each stage's `after` and
/// `before` entries (declaration order) that repeat a name, name no stage,
/// or name the stage itself; then one cycle per strongly connected
/// component of more than one stage (Tarjan's algorithm; the shortest cycle
/// through the component's earliest declared stage, found breadth-first,
/// neighbours in edge declaration order), in declaration order of those
/// stages.
///
/// A name is resolved to the first stage declared with it. Deterministic:
/// the same stages always give the same issues. [`Plan::build`](super::Plan::build)
/// reports the first issue other than [`GraphIssue::ListedTwice`];
/// `#[derive(Schedule)]` reports them all, at the attribute that caused each.
pub fn check_stage_graph(stages: &[StageDescriptor]) -> Vec<GraphIssue> {
    let mut issues = Vec::new();
    let mut index: HashMap<&str, usize> = HashMap::with_capacity(stages.len());
    for (i, stage) in stages.iter().enumerate() {
        match index.get(stage.name.as_ref()) {
            Some(&first) => issues.push(GraphIssue::DuplicateStage { stage: i, first }),
            None => {
                index.insert(stage.name.as_ref(), i);
            }
        }
    }

    let edges = collect_edges(stages, &index, &mut issues);
    for cycle in find_cycles(stages.len(), &edges) {
        issues.push(GraphIssue::Cycle {
            stages: cycle.nodes,
            closing: edges[cycle.closing_edge].at,
        });
    }
    issues
}

/// The distinct edges, in declaration order, reporting bad entries.
fn collect_edges(
    stages: &[StageDescriptor],
    index: &HashMap<&str, usize>,
    issues: &mut Vec<GraphIssue>,
) -> Vec<Edge> {
    let mut edges: Vec<Edge> = Vec::new();
    for (i, stage) in stages.iter().enumerate() {
        for (list, names) in [
            (OrderList::After, &stage.after),
            (OrderList::Before, &stage.before),
        ] {
            for (k, name) in names.iter().enumerate() {
                let at = ListEntry {
                    stage: i,
                    list,
                    entry: k,
                };
                if names[..k].contains(name) {
                    issues.push(GraphIssue::ListedTwice { at });
                    continue;
                }
                let Some(&j) = index.get(name.as_ref()) else {
                    issues.push(GraphIssue::UnknownStage { at });
                    continue;
                };
                if j == i {
                    issues.push(GraphIssue::SelfDependency { at });
                    continue;
                }
                let (from, to) = match list {
                    OrderList::After => (j, i),
                    OrderList::Before => (i, j),
                };
                if !edges.iter().any(|e| e.from == from && e.to == to) {
                    edges.push(Edge { from, to, at });
                }
            }
        }
    }
    edges
}

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
    /// Validates names and edges ([`check_stage_graph`]), then orders the
    /// stages.
    pub(super) fn build(stages: &[StageDescriptor]) -> Result<Self, PlanError> {
        if let Some(err) = check_stage_graph(stages)
            .into_iter()
            .find_map(|issue| plan_error(stages, issue))
        {
            return Err(err);
        }

        let n = stages.len();
        let index: HashMap<&str, usize> = stages
            .iter()
            .enumerate()
            .map(|(i, s)| (s.name.as_ref(), i))
            .collect();
        let mut succ: Vec<Vec<usize>> = vec![Vec::new(); n];
        let mut pred: Vec<Vec<usize>> = vec![Vec::new(); n];
        for edge in collect_edges(stages, &index, &mut Vec::new()) {
            succ[edge.from].push(edge.to);
            pred[edge.to].push(edge.from);
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
        assert_eq!(
            order.len(),
            n,
            "check_stage_graph found no cycle, so every stage is ordered"
        );
        Ok(Self { pred, order, layer })
    }
}

/// The [`PlanError`] of an issue; `None` for a name listed twice, which
/// the planner ignores.
fn plan_error(stages: &[StageDescriptor], issue: GraphIssue) -> Option<PlanError> {
    let name = |i: usize| stages[i].name.to_string();
    Some(match issue {
        GraphIssue::DuplicateStage { stage, .. } => PlanError::DuplicateStage { name: name(stage) },
        GraphIssue::SelfDependency { at } => PlanError::SelfDependency {
            stage: name(at.stage),
        },
        GraphIssue::UnknownStage { at } => {
            let stage = &stages[at.stage];
            let list = match at.list {
                OrderList::After => &stage.after,
                OrderList::Before => &stage.before,
            };
            PlanError::UnknownStage {
                stage: name(at.stage),
                referenced: list[at.entry].to_string(),
            }
        }
        GraphIssue::ListedTwice { .. } => return None,
        GraphIssue::Cycle { stages: cycle, .. } => PlanError::Cycle {
            cycle: cycle.into_iter().map(name).collect(),
        },
    })
}

/// A cycle: its stages in order (the first one is the earliest declared of
/// its strongly connected component) and the edge that leads back to the
/// first.
struct Cycle {
    nodes: Vec<usize>,
    closing_edge: usize,
}

/// One shortest cycle through the earliest declared stage of every
/// strongly connected component with more than one stage, in declaration
/// order of those stages. Deterministic: neighbours are visited in edge
/// declaration order.
fn find_cycles(n: usize, edges: &[Edge]) -> Vec<Cycle> {
    let mut out_edges: Vec<Vec<usize>> = vec![Vec::new(); n];
    for (k, e) in edges.iter().enumerate() {
        out_edges[e.from].push(k);
    }
    let component = strongly_connected_components(n, edges, &out_edges);

    let mut reported = vec![false; n];
    let mut cycles = Vec::new();
    for start in 0..n {
        let c = component[start];
        if reported[c] {
            continue;
        }
        reported[c] = true;
        // Breadth-first from `start` inside its component until an edge leads
        // back to `start`.
        let mut parent_edge: Vec<Option<usize>> = vec![None; n];
        let mut visited = vec![false; n];
        visited[start] = true;
        let mut queue = VecDeque::from([start]);
        let mut closing = None;
        'search: while let Some(u) = queue.pop_front() {
            for &k in &out_edges[u] {
                let v = edges[k].to;
                if component[v] != c {
                    continue;
                }
                if v == start {
                    closing = Some(k);
                    break 'search;
                }
                if !visited[v] {
                    visited[v] = true;
                    parent_edge[v] = Some(k);
                    queue.push_back(v);
                }
            }
        }
        let Some(closing_edge) = closing else {
            continue; // a component of one stage: no cycle
        };
        let mut nodes = vec![edges[closing_edge].from];
        while let Some(k) = parent_edge[*nodes.last().unwrap_or(&start)] {
            nodes.push(edges[k].from);
        }
        if nodes.last() != Some(&start) {
            nodes.push(start);
        }
        nodes.reverse();
        cycles.push(Cycle {
            nodes,
            closing_edge,
        });
    }
    cycles
}

/// Tarjan's algorithm: the component id of every node.
fn strongly_connected_components(n: usize, edges: &[Edge], out_edges: &[Vec<usize>]) -> Vec<usize> {
    struct State<'a> {
        edges: &'a [Edge],
        out_edges: &'a [Vec<usize>],
        index: Vec<Option<usize>>,
        low: Vec<usize>,
        on_stack: Vec<bool>,
        stack: Vec<usize>,
        next: usize,
        component: Vec<usize>,
        components: usize,
    }
    fn visit(s: &mut State<'_>, v: usize) {
        s.index[v] = Some(s.next);
        s.low[v] = s.next;
        s.next += 1;
        s.stack.push(v);
        s.on_stack[v] = true;
        for i in 0..s.out_edges[v].len() {
            let w = s.edges[s.out_edges[v][i]].to;
            match s.index[w] {
                None => {
                    visit(s, w);
                    s.low[v] = s.low[v].min(s.low[w]);
                }
                Some(iw) if s.on_stack[w] => s.low[v] = s.low[v].min(iw),
                Some(_) => {}
            }
        }
        if Some(s.low[v]) == s.index[v] {
            while let Some(w) = s.stack.pop() {
                s.on_stack[w] = false;
                s.component[w] = s.components;
                if w == v {
                    break;
                }
            }
            s.components += 1;
        }
    }
    let mut s = State {
        edges,
        out_edges,
        index: vec![None; n],
        low: vec![0; n],
        on_stack: vec![false; n],
        stack: Vec::new(),
        next: 0,
        component: vec![0; n],
        components: 0,
    };
    for v in 0..n {
        if s.index[v].is_none() {
            visit(&mut s, v);
        }
    }
    s.component
}

#[cfg(test)]
mod tests {
    use super::*;

    fn edge(from: usize, to: usize) -> Edge {
        Edge {
            from,
            to,
            at: ListEntry {
                stage: to,
                list: OrderList::After,
                entry: 0,
            },
        }
    }

    #[test]
    fn no_cycle_in_a_chain() {
        let edges = [edge(0, 1), edge(1, 2), edge(0, 2)];
        assert!(find_cycles(3, &edges).is_empty());
    }

    #[test]
    fn three_cycle_starts_at_earliest_stage() {
        // 1 -> 2 -> 0 -> 1, declared in that order.
        let edges = [edge(1, 2), edge(2, 0), edge(0, 1)];
        let cycles = find_cycles(3, &edges);
        assert_eq!(cycles.len(), 1);
        assert_eq!(cycles[0].nodes, vec![0, 1, 2]);
        assert_eq!(cycles[0].closing_edge, 1); // 2 -> 0
    }

    #[test]
    fn two_disjoint_cycles_are_both_found() {
        let edges = [edge(0, 1), edge(1, 0), edge(2, 3), edge(3, 2), edge(1, 2)];
        let cycles = find_cycles(4, &edges);
        let nodes: Vec<Vec<usize>> = cycles.into_iter().map(|c| c.nodes).collect();
        assert_eq!(nodes, vec![vec![0, 1], vec![2, 3]]);
    }

    #[test]
    fn shortest_cycle_through_the_start() {
        // 0 -> 1 -> 2 -> 3 -> 0 and the shortcut 1 -> 3.
        let edges = [edge(0, 1), edge(1, 2), edge(2, 3), edge(3, 0), edge(1, 3)];
        let cycles = find_cycles(4, &edges);
        assert_eq!(cycles.len(), 1);
        assert_eq!(cycles[0].nodes, vec![0, 1, 3]);
    }

    #[test]
    fn every_issue_is_reported_in_order() {
        let stages = [
            StageDescriptor::new("a").after("b").after("zz").after("b"),
            StageDescriptor::new("b").after("a").before("b"),
            StageDescriptor::new("a"),
        ];
        let issues = check_stage_graph(&stages);
        let at = |stage, list, entry| ListEntry { stage, list, entry };
        assert_eq!(
            issues,
            [
                GraphIssue::DuplicateStage { stage: 2, first: 0 },
                GraphIssue::UnknownStage {
                    at: at(0, OrderList::After, 1)
                },
                GraphIssue::ListedTwice {
                    at: at(0, OrderList::After, 2)
                },
                GraphIssue::SelfDependency {
                    at: at(1, OrderList::Before, 0)
                },
                GraphIssue::Cycle {
                    stages: vec![0, 1],
                    closing: at(0, OrderList::After, 0),
                },
            ]
        );
    }
}
