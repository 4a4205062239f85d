//! The render graph: passes declare the textures and buffers they use, `macrokid_core`'s planner
//! orders them, and the compiled graph carries every barrier and the transient allocation.
//!
//! Three steps, three types (after kajiya-rg's `RenderGraph` → `CompiledRenderGraph` →
//! `ExecutingRenderGraph`):
//! 1. **Build** — [`RenderGraph`]: import textures/buffers (with their use now and the use to
//!    leave them in), create transient textures, declare passes with their uses
//!    ([`TextureUse`](crate::TextureUse), [`BufferUse`](crate::BufferUse)), attachments with
//!    load/store ops.
//! 2. **Compile** — [`RenderGraph::compile`] → [`CompiledGraph`]: checks the declarations,
//!    culls passes that contribute to no imported resource, turns each kept pass into a
//!    `macrokid_core` [`SystemDescriptor`](macrokid_core::SystemDescriptor) whose
//!    [`ResourceAccess`](macrokid_core::ResourceAccess) holds
//!    [`ResourceId::dynamic`](macrokid_core::ResourceId::dynamic)`("render-graph", index, name)`
//!    ids, and lets the planner that orders ECS systems order the passes (conflicting passes in
//!    declaration order, conflict-free passes in one batch). Then it derives the barriers before
//!    each pass and after the last, each transient's lifetime, and the memory slots transients
//!    share (greedy interval colouring, see [`TextureSlot`]).
//! 3. **Execute** — [`CompiledGraph::execute`]`(&self, ...)` drives a backend's
//!    [`GraphRecorder`]: barriers, `begin_pass`, the pass's callback, `end_pass`, in order. The
//!    compiled graph is an immutable plan; the record callbacks come per execution in
//!    [`PassCallbacks`], so they may borrow the frame's data, and [`CompiledPass`] carries each
//!    attachment's format, extent and slot, so a backend needs no access to the graph.
//!    [`CompiledGraph::execute_parallel`] records the passes' callbacks on rayon workers through
//!    a [`PassRecorder`] (secondary command buffers) and submits them in the same order through
//!    a [`GraphSubmitter`], so 1 or N threads give the same command stream. Barriers come from
//!    the compiled graph only, so no pass can forget one. `format!("{compiled}")` lists the
//!    passes in order with their barriers.
//!
//! This module is pure logic: it names no backend type and needs no GPU.
//!
//! # The renderer's frame
//! Every [`Renderer`](crate::Renderer) frame is one execution of a graph built here:
//! [`Renderer::frame_graph`](crate::Renderer::frame_graph) returns it (passes `main`, `post`
//! when configured, `read-back`). The renderer compiles it once, allocates its transients per
//! [`TextureSlot`] (the occupants of a slot are separate textures bound to one memory
//! allocation), and [`Frame::submit`](crate::Frame::submit) executes it into the frame's
//! primary command buffer through the HAL's [`GraphRecorder`], so every barrier and layout
//! transition of a frame comes from the compiled graph. Draws recorded on several threads
//! through [`Frame::encoder_for`](crate::Frame::encoder_for) become the `main` pass's
//! secondary command buffers.
//!
//! # Example: geometry into offscreen colour + depth, then a post pass into the output image
//!
//! ```
//! use macrokid_graphics::graph::{
//!     BufferBarrier, CompiledPass, GraphRecorder, LoadOp, PassCallbacks, RenderGraph, StoreOp,
//!     TextureBarrier, TextureDesc, TextureImport,
//! };
//! use macrokid_graphics::{TextureFormat, TextureUse};
//!
//! struct Encoder(Vec<String>); // the backend's command context
//! impl GraphRecorder for Encoder {
//!     type Context = Encoder;
//!     type Error = std::convert::Infallible;
//!     fn barrier(&mut self, t: &[TextureBarrier], _: &[BufferBarrier]) -> Result<(), Self::Error> {
//!         self.0.push(format!("{} texture barriers", t.len()));
//!         Ok(())
//!     }
//!     fn begin_pass(&mut self, pass: &CompiledPass) -> Result<&mut Encoder, Self::Error> {
//!         let formats: Vec<_> = pass.color_attachments().iter().map(|a| a.format()).collect();
//!         self.0.push(format!("begin {} {formats:?}", pass.name()));
//!         Ok(self)
//!     }
//!     fn end_pass(&mut self, _: &CompiledPass) -> Result<(), Self::Error> {
//!         Ok(())
//!     }
//! }
//!
//! let mut graph = RenderGraph::new();
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
//! let geometry = graph
//!     .add_pass("geometry")
//!     .color_attachment(color, LoadOp::Clear([0.0, 0.0, 0.0, 1.0]), StoreOp::Store)
//!     .depth_attachment(depth, LoadOp::Clear(1.0), StoreOp::DontCare)
//!     .id();
//! let post = graph
//!     .add_pass("post")
//!     .sampled(color)
//!     .color_attachment(output, LoadOp::DontCare, StoreOp::Store)
//!     .id();
//!
//! let compiled = graph.compile()?;
//!
//! // Every frame: callbacks that borrow this frame's data, then one execution.
//! let meshes = vec!["cube", "plane"];
//! let mut callbacks = PassCallbacks::new(&compiled);
//! callbacks
//!     .set(geometry, |enc: &mut Encoder| {
//!         enc.0.extend(meshes.iter().map(|m| format!("draw {m}")));
//!         Ok(())
//!     })
//!     .set(post, |enc: &mut Encoder| {
//!         enc.0.push("fullscreen triangle".into());
//!         Ok(())
//!     });
//! let mut encoder = Encoder(Vec::new());
//! compiled.execute(&mut encoder, &mut callbacks).expect("the encoder never fails");
//! assert_eq!(encoder.0[1], "begin geometry [Rgba8Unorm]");
//! assert_eq!(encoder.0[2..4], ["draw cube", "draw plane"]);
//!
//! let post = compiled.pass(post);
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
