//! Checks that involve several attributes or fields together: duplicate
//! types of a system, and the stage graph of a schedule (unknown names,
//! duplicates, self-dependencies, cycles).

use std::collections::{HashMap, HashSet};

use proc_macro2::{Span, TokenStream};
use quote::ToTokens;
use syn::Type;

use super::ast::{ScheduleInput, SystemInput};
use super::{did_you_mean, Ctxt};

/// A type's tokens as text, whitespace-insensitive: `Vec < A >` and
/// `Vec<A>` compare equal. Two paths to one type (`A` and `crate::A`) are
/// not detected here; they only make the access list longer.
fn type_key(ty: &Type) -> String {
    ty.to_token_stream()
        .to_string()
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect()
}

/// Reports types listed twice in one list, types in both `reads` and
/// `writes`, and types in both `with` and `without`.
pub(crate) fn check_system(cx: &Ctxt, input: &SystemInput<'_>) {
    let written: HashSet<String> = input.writes.iter().map(type_key).collect();
    let mut reads: HashSet<String> = HashSet::new();
    for ty in &input.reads {
        let key = type_key(ty);
        if written.contains(&key) {
            cx.error_spanned_by(
                ty,
                format!(
                    "`{key}` is in both `reads` and `writes`; writes imply reads: \
                     remove it from `reads`"
                ),
            );
        } else if !reads.insert(key.clone()) {
            cx.error_spanned_by(ty, format!("`{key}` is listed twice in `reads`"));
        }
    }
    for (list, name) in [
        (&input.writes, "writes"),
        (&input.inserts, "inserts"),
        (&input.removes, "removes"),
        (&input.with, "with"),
        (&input.without, "without"),
    ] {
        let mut seen: HashSet<String> = HashSet::new();
        for ty in list {
            let key = type_key(ty);
            if !seen.insert(key.clone()) {
                cx.error_spanned_by(ty, format!("`{key}` is listed twice in `{name}`"));
            }
        }
    }
    let required: HashSet<String> = input.with.iter().map(type_key).collect();
    for ty in &input.without {
        let key = type_key(ty);
        if required.contains(&key) {
            cx.error_spanned_by(
                ty,
                format!(
                    "`{key}` is in both `with` and `without`: no entity could match; \
                     remove it from one of them"
                ),
            );
        }
    }
}

// ---------------------------------------------------------------------------

/// One ordering constraint: stage `from` runs before stage `to`.
struct Edge {
    from: usize,
    to: usize,
    /// The attribute value that declared it.
    tokens: TokenStream,
}

/// Checks the stage graph of a schedule and reports, all at once: duplicate
/// stage names, unknown names in `after`/`before`, names listed twice in one
/// list, self-dependencies, and one cycle per strongly connected component
/// (spelled `a -> b -> c -> a`, at the attribute value that closes it).
pub(crate) fn check_schedule(cx: &Ctxt, input: &ScheduleInput<'_>) {
    let stages = &input.stages;

    // Names → first declaring stage.
    let mut index: HashMap<&str, usize> = HashMap::new();
    for (i, stage) in stages.iter().enumerate() {
        if let Some(&first) = index.get(stage.name.as_str()) {
            cx.error_at(
                stage.name_span,
                format!(
                    "duplicate stage name `{}`: field `{}` already declares a stage of that \
                     name; rename one with `#[stage(name = \"...\")]`",
                    stage.name,
                    super::ast::unraw(stages[first].field),
                ),
            );
        } else {
            index.insert(&stage.name, i);
        }
    }
    // For messages: every stage by declaration index, and the valid,
    // distinct names for suggestions.
    let names: Vec<&str> = stages.iter().map(|s| s.name.as_str()).collect();
    let mut known: Vec<&str> = Vec::new();
    for name in &names {
        if !name.is_empty() && !name.contains(',') && !known.contains(name) {
            known.push(name);
        }
    }

    let mut edges: Vec<Edge> = Vec::new();
    for (i, stage) in stages.iter().enumerate() {
        for (key, list, after) in [
            ("after", &stage.after, true),
            ("before", &stage.before, false),
        ] {
            let mut seen: Vec<&str> = Vec::new();
            for r in list.iter() {
                if seen.contains(&r.name.as_str()) {
                    cx.error_spanned_by(
                        &r.tokens,
                        format!("stage `{}` is listed twice in `{key}`", r.name),
                    );
                    continue;
                }
                seen.push(&r.name);
                let Some(&j) = index.get(r.name.as_str()) else {
                    report_unknown(cx, &r.name, key, r.span, &known);
                    continue;
                };
                if j == i {
                    cx.error_spanned_by(
                        &r.tokens,
                        format!(
                            "stage `{}` cannot run {key} itself; remove `{}` from `{key}`",
                            stage.name, r.name
                        ),
                    );
                    continue;
                }
                let (from, to) = if after { (j, i) } else { (i, j) };
                if !edges.iter().any(|e| e.from == from && e.to == to) {
                    edges.push(Edge {
                        from,
                        to,
                        tokens: r.tokens.clone(),
                    });
                }
            }
        }
    }

    for cycle in find_cycles(stages.len(), &edges) {
        let path: Vec<&str> = cycle.nodes.iter().map(|&n| names[n]).collect();
        cx.error_spanned_by(
            &edges[cycle.closing_edge].tokens,
            format!(
                "the stages form a cycle: {} -> {}; no order can satisfy every `after`/`before`, \
                 remove one of these constraints",
                path.join(" -> "),
                path[0]
            ),
        );
    }
}

fn report_unknown(cx: &Ctxt, name: &str, key: &str, span: Span, names: &[&str]) {
    let mut msg = format!("unknown stage `{name}` in `{key}`");
    match did_you_mean(name, names.iter().copied()) {
        Some(close) => msg.push_str(&format!("; did you mean `{close}`?")),
        None if names.is_empty() => {}
        None => {
            let list: Vec<String> = names.iter().map(|n| format!("`{n}`")).collect();
            msg.push_str(&format!("; the stages are {}", list.join(", ")));
        }
    }
    cx.error_at(span, msg);
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
        let mut queue = std::collections::VecDeque::from([start]);
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
            tokens: TokenStream::new(),
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
}
