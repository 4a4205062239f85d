//! The render graph: passes declare the textures and buffers they use, `macrokid_core`'s planner
//! orders them, and the compiled graph carries every barrier and the transient allocation.
//!
//! Three steps, three types (after kajiya-rg's `RenderGraph` → `CompiledRenderGraph` →
//! `ExecutingRenderGraph`):
//! 1. **Build** — [`RenderGraph`]: import textures/buffers (with their use now and the use to
//!    leave them in), create transient textures, declare passes with their uses
//!    ([`TextureUse`](crate::TextureUse), [`BufferUse`](crate::BufferUse)), attachments with
//!    load/store ops, and a record callback.
//! 2. **Compile** — [`RenderGraph::compile`] → [`CompiledGraph`]: checks the declarations,
//!    culls passes that contribute to no imported resource, turns each kept pass into a
//!    `macrokid_core` [`SystemDescriptor`](macrokid_core::SystemDescriptor) whose
//!    [`ResourceAccess`](macrokid_core::ResourceAccess) holds
//!    [`ResourceId::dynamic`](macrokid_core::ResourceId::dynamic)`("render-graph", index, name)`
//!    ids, and lets the planner that orders ECS systems order the passes (conflicting passes in
//!    declaration order, conflict-free passes in one batch). Then it derives the barriers before
//!    each pass and after the last, each transient's lifetime, and the memory slots transients
//!    share (greedy interval colouring, see [`TextureSlot`]).
//! 3. **Execute** — [`CompiledGraph::execute`] drives a backend's [`GraphRecorder`]: barriers,
//!    `begin_pass`, the pass's callback, `end_pass`, in order.
//!    [`CompiledGraph::execute_parallel`] records the passes' callbacks on rayon workers through
//!    a [`PassRecorder`] (secondary command buffers) and submits them in the same order through
//!    a [`GraphSubmitter`], so 1 or N threads give the same command stream. Barriers come from
//!    the compiled graph only, so no pass can forget one. `format!("{compiled}")` lists the
//!    passes in order with their barriers.
//!
//! This module is pure logic: it names no backend type and needs no GPU.
//!
//! # Example: geometry into offscreen colour + depth, then a post pass into the output image
//!
//! ```
//! use macrokid_graphics::graph::{
//!     LoadOp, RenderGraph, StoreOp, TextureBarrier, TextureDesc, TextureImport,
//! };
//! use macrokid_graphics::{TextureFormat, TextureUse};
//!
//! struct Encoder(Vec<String>); // the backend's command context
//!
//! let mut graph = RenderGraph::<Encoder>::new();
//! let color_desc = TextureDesc::new(1280, 720, TextureFormat::Rgba8Unorm);
//! let output = graph.import_texture(
//!     "output",
//!     color_desc,
//!     TextureImport::new(TextureUse::Undefined, TextureUse::TransferSrc), // read back after
//! );
//! let color = graph.create_texture("color", color_desc);
//! let depth = graph.create_texture(
//!     "depth",
//!     TextureDesc::new(1280, 720, TextureFormat::Depth32Float),
//! );
//! graph
//!     .add_pass("geometry")
//!     .color_attachment(color, LoadOp::Clear([0.0, 0.0, 0.0, 1.0]), StoreOp::Store)
//!     .depth_attachment(depth, LoadOp::Clear(1.0), StoreOp::DontCare)
//!     .record(|enc: &mut Encoder| {
//!         enc.0.push("draw meshes".into());
//!         Ok(())
//!     });
//! graph
//!     .add_pass("post")
//!     .sampled(color)
//!     .color_attachment(output, LoadOp::DontCare, StoreOp::Store)
//!     .record(|enc: &mut Encoder| {
//!         enc.0.push("fullscreen triangle".into());
//!         Ok(())
//!     });
//!
//! let compiled = graph.compile()?;
//! let post = compiled.pass_by_name("post").unwrap();
//! assert_eq!(
//!     post.texture_barriers()[1],
//!     TextureBarrier {
//!         texture: color,
//!         before: TextureUse::ColorAttachment,
//!         after: TextureUse::Sampled,
//!         discard: false,
//!     }
//! );
//! assert_eq!(compiled.final_texture_barriers()[0].after, TextureUse::TransferSrc);
//! # Ok::<(), macrokid_graphics::graph::GraphError>(())
//! ```

mod alias;
mod builder;
mod check;
mod compile;
mod error;
mod execute;
mod export;
mod resource;

#[cfg(test)]
mod tests;

pub use alias::{Lifetime, TextureSlot, TransientTexture};
pub use builder::{PassBuilder, PassError, PassId, RenderGraph};
pub use compile::{
    BufferBarrier, CompiledGraph, CompiledPass, TextureBarrier, RESOURCE_SPACE, SIDE_EFFECTS_SPACE,
};
pub use error::{ExecuteError, GraphError};
pub use execute::{GraphRecorder, GraphSubmitter, PassCallbacks, PassRecorder};
pub use resource::{
    BufferHandle, BufferImport, ColorAttachment, CompiledAttachment, DepthAttachment, LoadOp,
    StoreOp, TextureDesc, TextureHandle, TextureImport,
};
