//! Compiled-graph exports: Graphviz DOT and Mermaid.
//!
//! `macrokid_core`'s `Plan::to_dot`/`to_mermaid` draw stages with their batches, which for a
//! graph is one box; a render graph is read as passes and the resources between them, so this
//! draws a bipartite graph instead (the plan's own export stays available through
//! [`CompiledGraph::plan`]). Pass nodes are `p<declaration index>`, labelled with the batch
//! (`batch 0`) or `culled` (dashed); resource nodes are `r<declaration index>`, labelled with
//! their kind and, for transients, their slot. An edge `r -> p` is a read, `p -> r` a write,
//! labelled with the use.

use std::fmt::Write as _;

use super::compile::{CompiledGraph, CompiledPass};
use super::resource::{ResourceKind, ResourceNode};

impl CompiledGraph {
    /// The graph as a Graphviz `digraph` (render with `dot -Tsvg`).
    pub fn to_dot(&self) -> String {
        let mut out =
            String::from("digraph render_graph {\n    rankdir=LR;\n    node [shape=box];\n");
        for pass in &self.passes {
            let style = if pass.is_culled() {
                ", style=dashed"
            } else {
                ""
            };
            let _ = writeln!(
                out,
                "    p{} [label=\"{}\\n{}\"{style}];",
                pass.id().index(),
                escape_dot(pass.name()),
                pass_note(pass)
            );
        }
        for (index, node) in self.resources.iter().enumerate() {
            let _ = writeln!(
                out,
                "    r{index} [shape=ellipse, label=\"{}\\n{}\"];",
                escape_dot(node.name),
                self.resource_note(index, node)
            );
        }
        for (pass, resource, usage, writes) in edges(&self.passes) {
            if writes {
                let _ = writeln!(out, "    p{pass} -> r{resource} [label=\"{usage}\"];");
            } else {
                let _ = writeln!(out, "    r{resource} -> p{pass} [label=\"{usage}\"];");
            }
        }
        out.push_str("}\n");
        out
    }

    /// The graph as a Mermaid `flowchart` (paste into Markdown as a ```` ```mermaid ```` block).
    pub fn to_mermaid(&self) -> String {
        let mut out = String::from("flowchart LR\n");
        for pass in &self.passes {
            let _ = writeln!(
                out,
                "    p{}[\"{}<br/>{}\"]",
                pass.id().index(),
                escape_mermaid(pass.name()),
                pass_note(pass)
            );
        }
        for (index, node) in self.resources.iter().enumerate() {
            let _ = writeln!(
                out,
                "    r{index}([\"{}<br/>{}\"])",
                escape_mermaid(node.name),
                self.resource_note(index, node)
            );
        }
        for (pass, resource, usage, writes) in edges(&self.passes) {
            if writes {
                let _ = writeln!(out, "    p{pass} -->|{usage}| r{resource}");
            } else {
                let _ = writeln!(out, "    r{resource} -->|{usage}| p{pass}");
            }
        }
        let culled: Vec<String> = self
            .culled()
            .map(|p| format!("p{}", p.id().index()))
            .collect();
        if !culled.is_empty() {
            out.push_str("    classDef culled stroke-dasharray: 5 5\n");
            let _ = writeln!(out, "    class {} culled", culled.join(","));
        }
        out
    }

    fn resource_note(&self, index: usize, node: &ResourceNode) -> String {
        match node.kind {
            ResourceKind::ImportedTexture(desc, import) => format!(
                "imported {}×{} {:?}, {:?} -> {:?}",
                desc.width, desc.height, desc.format, import.initial, import.final_use
            ),
            ResourceKind::TransientTexture(desc) => {
                let slot = self
                    .transients
                    .iter()
                    .find(|t| t.texture().index() == index)
                    .and_then(|t| t.slot())
                    .map_or_else(|| "unused".to_owned(), |s| format!("slot {s}"));
                format!(
                    "transient {}×{} {:?}, {slot}",
                    desc.width, desc.height, desc.format
                )
            }
            ResourceKind::ImportedBuffer(import) => {
                format!("imported buffer, {} bytes", import.size)
            }
        }
    }
}

fn pass_note(pass: &CompiledPass) -> String {
    match pass.batch() {
        Some(b) => format!("batch {b}"),
        None => "culled".to_owned(),
    }
}

/// `(pass, resource, use, writes)` for every use of every pass, in declaration order.
fn edges(passes: &[CompiledPass]) -> impl Iterator<Item = (usize, usize, String, bool)> + '_ {
    passes.iter().flat_map(|pass| {
        let p = pass.id().index();
        let textures = pass
            .textures()
            .iter()
            .map(move |&(t, u)| (p, t.index(), format!("{u:?}"), u.is_write()));
        let buffers = pass
            .buffers()
            .iter()
            .map(move |&(b, u)| (p, b.index(), format!("{u:?}"), u.is_write()));
        textures.chain(buffers)
    })
}

/// Escapes a string for a double-quoted DOT id.
fn escape_dot(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Escapes a string for a double-quoted Mermaid label (entity codes).
fn escape_mermaid(s: &str) -> String {
    s.replace('"', "#quot;")
        .replace('<', "#lt;")
        .replace('>', "#gt;")
        .replace('\n', "<br/>")
}

impl std::fmt::Display for CompiledGraph {
    /// A readable listing: one line per kept pass in execution order with its batch and the
    /// barriers before it, e.g. `post [batch 1]: color ColorAttachment -> Sampled`, then
    /// `final: ...`, then `culled: ...` when passes were culled.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for &id in &self.order {
            let pass = &self.passes[id.index()];
            write!(f, "{} [batch {}]:", pass.name(), pass.batch().unwrap_or(0))?;
            self.write_barriers(f, pass.texture_barriers(), pass.buffer_barriers())?;
            writeln!(f)?;
        }
        if !self.final_textures.is_empty() || !self.final_buffers.is_empty() {
            f.write_str("final:")?;
            self.write_barriers(f, &self.final_textures, &self.final_buffers)?;
            writeln!(f)?;
        }
        let culled: Vec<&str> = self.culled().map(CompiledPass::name).collect();
        if !culled.is_empty() {
            writeln!(f, "culled: {}", culled.join(", "))?;
        }
        Ok(())
    }
}

impl CompiledGraph {
    fn write_barriers(
        &self,
        f: &mut std::fmt::Formatter<'_>,
        textures: &[super::TextureBarrier],
        buffers: &[super::BufferBarrier],
    ) -> std::fmt::Result {
        let mut first = true;
        let mut sep = |f: &mut std::fmt::Formatter<'_>| {
            let s = if first { " " } else { ", " };
            first = false;
            f.write_str(s)
        };
        for b in textures {
            sep(f)?;
            let name = self.resources[b.texture.index()].name;
            write!(f, "{name} {:?} -> {:?}", b.before, b.after)?;
            if b.discard {
                f.write_str(" (discard)")?;
            }
        }
        for b in buffers {
            sep(f)?;
            let name = self.resources[b.buffer.index()].name;
            write!(f, "{name} {:?} -> {:?}", b.before, b.after)?;
        }
        Ok(())
    }
}
