//! Plan exports: Graphviz DOT, Mermaid and (with the `serde` feature) JSON.
//!
//! Stages are listed in execution order; a stage's node shows its batches,
//! one line per batch (`batch 0: a, b`); edges are the direct `after`/`before`
//! constraints from [`Plan::dependencies`]. Node ids are `s<declared index>`.

use std::fmt::Write as _;

use super::{Plan, StagePlan};

impl Plan {
    /// The plan as a Graphviz `digraph` (render with `dot -Tsvg`).
    ///
    /// ```
    /// use macrokid_core::{Plan, StageDescriptor};
    /// let plan = Plan::build([StageDescriptor::new("a"), StageDescriptor::new("b").after("a")])?;
    /// assert!(plan.to_dot().contains("s0 -> s1;"));
    /// # Ok::<(), macrokid_core::PlanError>(())
    /// ```
    pub fn to_dot(&self) -> String {
        let mut out = String::from("digraph plan {\n    rankdir=LR;\n    node [shape=box];\n");
        for stage in self.stages() {
            let mut label = escape_dot(stage.name());
            for line in batch_lines(stage) {
                label.push_str("\\n");
                label.push_str(&escape_dot(&line));
            }
            let _ = writeln!(out, "    s{} [label=\"{label}\"];", stage.declared_index());
        }
        for (earlier, later) in self.dependency_indices() {
            let _ = writeln!(out, "    s{earlier} -> s{later};");
        }
        out.push_str("}\n");
        out
    }

    /// The plan as a Mermaid `flowchart` (paste into Markdown as a
    /// ```` ```mermaid ```` block).
    ///
    /// ```
    /// use macrokid_core::{Plan, StageDescriptor};
    /// let plan = Plan::build([StageDescriptor::new("a"), StageDescriptor::new("b").after("a")])?;
    /// assert!(plan.to_mermaid().starts_with("flowchart LR\n"));
    /// assert!(plan.to_mermaid().contains("s0 --> s1"));
    /// # Ok::<(), macrokid_core::PlanError>(())
    /// ```
    pub fn to_mermaid(&self) -> String {
        let mut out = String::from("flowchart LR\n");
        for stage in self.stages() {
            let mut label = escape_mermaid(stage.name());
            for line in batch_lines(stage) {
                label.push_str("<br/>");
                label.push_str(&escape_mermaid(&line));
            }
            let _ = writeln!(out, "    s{}[\"{label}\"]", stage.declared_index());
        }
        for (earlier, later) in self.dependency_indices() {
            let _ = writeln!(out, "    s{earlier} --> s{later}");
        }
        out
    }

    /// The plan as pretty-printed JSON:
    ///
    /// ```json
    /// { "system_count": 1,
    ///   "topo_groups": [["input"]],
    ///   "stages": [ { "name": "input", "declared_index": 0, "after": [],
    ///                 "systems": [ { "name": "poll", "slot": 0,
    ///                                "reads": [], "writes": ["game::Input"] } ],
    ///                 "batches": [[0]] } ] }
    /// ```
    ///
    /// `stages` is in execution order; `after` lists direct predecessors;
    /// resource names are full type names; batches hold indices into `systems`.
    #[cfg(feature = "serde")]
    pub fn to_json(&self) -> String {
        json::to_json(self)
    }

    /// [`Plan::dependencies`] as declaration indices.
    fn dependency_indices(&self) -> impl Iterator<Item = (usize, usize)> + '_ {
        self.pred
            .iter()
            .enumerate()
            .flat_map(|(later, preds)| preds.iter().map(move |&earlier| (earlier, later)))
    }
}

/// `batch <i>: a, b` for each batch of `stage`.
fn batch_lines(stage: &StagePlan) -> impl Iterator<Item = String> + '_ {
    stage.batches().iter().enumerate().map(move |(i, batch)| {
        let names: Vec<&str> = batch
            .systems()
            .iter()
            .map(|&s| stage.systems()[s].name.as_ref())
            .collect();
        format!("batch {i}: {}", names.join(", "))
    })
}

/// Escapes a string for a double-quoted DOT id.
fn escape_dot(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

/// Escapes a string for a double-quoted Mermaid label (entity codes).
fn escape_mermaid(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '"' => out.push_str("#quot;"),
            '<' => out.push_str("#lt;"),
            '>' => out.push_str("#gt;"),
            '\n' => out.push_str("<br/>"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(feature = "serde")]
mod json {
    use serde::Serialize;

    use super::Plan;

    #[derive(Serialize)]
    struct JsonPlan<'a> {
        system_count: usize,
        topo_groups: Vec<Vec<&'a str>>,
        stages: Vec<JsonStage<'a>>,
    }

    #[derive(Serialize)]
    struct JsonStage<'a> {
        name: &'a str,
        declared_index: usize,
        after: Vec<&'a str>,
        systems: Vec<JsonSystem<'a>>,
        batches: Vec<&'a [usize]>,
    }

    #[derive(Serialize)]
    struct JsonSystem<'a> {
        name: &'a str,
        slot: usize,
        reads: Vec<&'static str>,
        writes: Vec<&'static str>,
        deferred_writes: Vec<&'static str>,
    }

    pub(super) fn to_json(plan: &Plan) -> String {
        let stages = plan
            .stages()
            .iter()
            .map(|stage| JsonStage {
                name: stage.name(),
                declared_index: stage.declared_index(),
                after: plan.pred[stage.declared_index()]
                    .iter()
                    .map(|&p| plan.declared(p).name())
                    .collect(),
                systems: stage
                    .systems()
                    .iter()
                    .enumerate()
                    .map(|(i, system)| JsonSystem {
                        name: &system.name,
                        slot: stage.slot(i).0,
                        reads: system.access.reads().iter().map(|r| r.name()).collect(),
                        writes: system.access.writes().iter().map(|w| w.name()).collect(),
                        deferred_writes: system
                            .access
                            .deferred_writes()
                            .iter()
                            .map(|d| d.name())
                            .collect(),
                    })
                    .collect(),
                batches: stage.batches().iter().map(|b| b.systems()).collect(),
            })
            .collect();
        let doc = JsonPlan {
            system_count: plan.system_count(),
            topo_groups: plan.topo_groups(),
            stages,
        };
        serde_json::to_string_pretty(&doc)
            .expect("a plan serializes to JSON: strings and integers only")
    }
}
