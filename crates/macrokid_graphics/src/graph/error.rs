//! Errors of graph compilation and execution.

use macrokid_core::PlanError;

use super::builder::PassError;

/// Why a [`RenderGraph`](super::RenderGraph) could not be compiled.
///
/// [`RenderGraph::compile`](super::RenderGraph::compile) reports the first problem found; the
/// order of the checks is listed there. Every variant names the pass and resource involved.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GraphError {
    /// Two passes were declared with the same name.
    #[error(
        "render pass `{name}` is declared more than once; pass names must be unique within a \
         graph, rename one of them"
    )]
    DuplicatePass {
        /// The repeated name.
        name: String,
    },

    /// Two resources were declared with the same name.
    #[error(
        "render-graph resource `{name}` is declared more than once; resource names must be \
         unique within a graph, rename one of them"
    )]
    DuplicateResource {
        /// The repeated name.
        name: String,
    },

    /// A texture with a zero width or height, or a buffer of zero bytes.
    #[error("render-graph resource `{name}` is empty ({detail}); give it a non-zero size")]
    EmptyResource {
        /// The resource's name.
        name: String,
        /// Its size as declared, e.g. `0×720 pixels` or `0 bytes`.
        detail: String,
    },

    /// A pass uses a handle that this graph did not declare (it comes from another graph).
    #[error(
        "render pass `{pass}` uses resource #{index} of render graph {handle_graph}, which \
         render graph {graph} (the one compiled) did not declare; use handles returned by this \
         graph's `import_texture`/`create_texture`/`import_buffer`"
    )]
    UnknownResource {
        /// The pass using the handle.
        pass: String,
        /// The handle's resource index in its own graph.
        index: usize,
        /// The id of the graph the handle comes from.
        handle_graph: u32,
        /// The id of the graph being compiled.
        graph: u32,
    },

    /// A use that a pass cannot declare that way: `Undefined`/`Present` (states, not pass
    /// uses), an attachment use through `texture()` (attachments need load/store ops), or
    /// `HostRead` for a buffer (an end use only).
    #[error(
        "render pass `{pass}` declares `{resource}` as {usage}, which is not a pass use here; \
         {hint}"
    )]
    InvalidUse {
        /// The pass.
        pass: String,
        /// The resource.
        resource: String,
        /// The use, `Debug`-formatted.
        usage: String,
        /// What to use instead.
        hint: &'static str,
    },

    /// A pass declares the same resource twice (a resource is in one use per pass).
    #[error(
        "render pass `{pass}` uses `{resource}` twice, as {first} and as {second}; a resource \
         has one use per pass, split the pass in two or keep one use"
    )]
    ResourceUsedTwice {
        /// The pass.
        pass: String,
        /// The resource.
        resource: String,
        /// The first use, `Debug`-formatted.
        first: String,
        /// The second use, `Debug`-formatted.
        second: String,
    },

    /// A pass declares more than one depth attachment.
    #[error(
        "render pass `{pass}` has a second depth attachment `{resource}`; a pass has at most \
         one, remove one of them"
    )]
    SecondDepthAttachment {
        /// The pass.
        pass: String,
        /// The second depth attachment's texture.
        resource: String,
    },

    /// A colour attachment whose texture has a depth format, or a depth attachment whose
    /// texture has a colour format.
    #[error(
        "render pass `{pass}` uses `{resource}` ({format}) as a {expected} attachment, but its \
         format is not a {expected} format; attach colour textures with `color_attachment` and \
         depth textures with `depth_attachment`/`depth_read`"
    )]
    AttachmentFormat {
        /// The pass.
        pass: String,
        /// The attached texture.
        resource: String,
        /// The texture's format, `Debug`-formatted.
        format: String,
        /// The kind of attachment it was declared as: `"colour"` or `"depth"`.
        expected: &'static str,
    },

    /// The attachments of one pass differ in size.
    #[error(
        "render pass `{pass}`: attachment `{resource}` is {found:?} pixels but the pass's first \
         attachment is {expected:?}; all attachments of a pass have one extent"
    )]
    AttachmentExtentMismatch {
        /// The pass.
        pass: String,
        /// The attachment that differs from the first one.
        resource: String,
        /// `(width, height)` of the first attachment.
        expected: (u32, u32),
        /// `(width, height)` of `resource`.
        found: (u32, u32),
    },

    /// A pass reads a texture whose contents are undefined at that point: a transient (or an
    /// import in `Undefined` use) that no earlier pass wrote, or whose last writer's store op was
    /// `DontCare`. Checked over every declared pass, culled ones included.
    #[error(
        "render pass `{pass}` reads `{resource}` as {usage} before any pass writes it (or after \
         a write with store op DontCare), so it would read undefined contents; declare a pass \
         that writes `{resource}` before `{pass}`, clear it instead of loading it, or store the \
         earlier write"
    )]
    ReadBeforeWrite {
        /// The reading pass.
        pass: String,
        /// The texture.
        resource: String,
        /// The reading use (`Debug`-formatted, e.g. `Sampled` or `ColorAttachment (load)`).
        usage: String,
    },

    /// `macrokid_core`'s planner rejected the passes. The passes form one planner stage, so the
    /// stage-level errors (unknown or duplicate stages, cycles) cannot arise today; the variant
    /// carries any error a future planner reports.
    #[error("the planner could not order the render passes: {0}")]
    Plan(#[from] PlanError),
}

/// Why executing a [`CompiledGraph`](super::CompiledGraph) stopped.
///
/// After an error the recorder's command stream stops in the middle of the graph (possibly
/// inside a pass): discard it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExecuteError<E> {
    /// The recorder (the backend) failed to issue barriers, to begin or end a pass, or to
    /// record or replay it.
    #[error("the graph recorder failed {}: {source}", at(pass.as_deref()))]
    Recorder {
        /// The pass being executed (its barriers, begin, recording or end); `None` for the
        /// final transitions after the last pass.
        pass: Option<String>,
        /// The backend's error.
        #[source]
        source: E,
    },

    /// A pass's record callback returned an error.
    #[error("render pass `{pass}` failed to record: {source}")]
    Pass {
        /// The pass's name.
        pass: String,
        /// The callback's error.
        #[source]
        source: PassError,
    },

    /// The [`PassCallbacks`](super::PassCallbacks) name a pass the graph does not have: made
    /// for another compiled graph, or given an unknown name or another graph's [`PassId`](super::PassId).
    #[error(
        "the pass callbacks name {pass}, which the executed graph does not have; build the \
         callbacks with `PassCallbacks::new(&graph)` for this graph and its pass ids or names"
    )]
    UnknownPass {
        /// The pass as given (`Debug`-formatted id, or name).
        pass: String,
    },
}

/// Where a recorder error happened, for messages.
fn at(pass: Option<&str>) -> String {
    match pass {
        Some(pass) => format!("at render pass `{pass}`"),
        None => "at the final transitions".to_owned(),
    }
}
