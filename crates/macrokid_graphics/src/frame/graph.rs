//! The renderer's frame as a [render graph](crate::graph), and the HAL side of executing one.
//!
//! - [`FrameGraph`]: the renderer's graph for its configuration, compiled once when the
//!   renderer is created (the size and the post pass are fixed for a renderer's life), with its
//!   transient textures. With a post pass:
//!
//!   ```text
//!   main       colour: hdr (transient, Rgba16Float) clear/store, depth (transient, D32) clear/don't care
//!   post       samples hdr; colour: output (import, Rgba8Unorm) don't care/store
//!   read-back  output as transfer source → read-back buffer (import) as transfer destination
//!   ```
//!
//!   without one, `main` renders straight into `output`. The output is imported in
//!   `Undefined` use and left in `TransferSrc`; the read-back buffer starts and ends in
//!   `HostRead`. Every barrier and layout transition of a frame comes from the compiled graph.
//!
//!   A window's graph ([`Sink::Present`], one per window, recompiled when its swapchain is
//!   recreated) has the same `main` and `post`, but `output` is a transient and the last pass
//!   is `present`: it blits `output` into the imported `swapchain` image (imported in
//!   `Undefined` use, left in `Present`), converting RGBA8 into the swapchain's format.
//! - [`GraphTextures`]: the transients of one compiled graph, one texture per transient, all
//!   occupants of a [`TextureSlot`](crate::graph::TextureSlot) bound to one allocation
//!   ([`Device::create_aliased_textures`]); created once and reused by every execution.
//! - [`HalRecorder`]: a [`GraphRecorder`] over a HAL [`CommandEncoder`](crate::hal::CommandEncoder):
//!   barriers (with discards), one debug label and two timestamps per pass, dynamic rendering
//!   with the pass's attachments.
#![expect(
    unsafe_code,
    reason = "records through the HAL's unsafe CommandEncoder functions and states their contracts"
)]

use crate::graph::{
    self, BufferHandle, BufferImport, CompiledGraph, CompiledPass, GraphRecorder, PassId,
    RenderGraph, TextureHandle, TextureImport,
};
use crate::hal::{
    self, CommandEncoder as _, Device as _, RenderBackend, RenderingContents, RenderingDesc,
    TextureUsages, TextureViewDesc,
};
use crate::{BufferUse, DeviceError, GraphicsError, TextureFormat, TextureUse, UsageError};

/// The renderer's frame graph: the compiled graph, its transients and the ids of its passes
/// and imports (see the [module documentation](self)).
pub(crate) struct FrameGraph<B: RenderBackend> {
    pub(crate) compiled: CompiledGraph,
    pub(crate) transients: GraphTextures<B>,
    /// The geometry pass (secondary command buffers from [`Frame::encoder_for`](super::Frame::encoder_for)).
    pub(crate) main: PassId,
    /// The post pass, when configured.
    pub(crate) post: Option<PassId>,
    /// The copy of the output into the frame slot's read-back buffer ([`Sink::ReadBack`]).
    pub(crate) read_back: Option<PassId>,
    /// The blit of the output into the swapchain image ([`Sink::Present`]).
    pub(crate) present: Option<PassId>,
    /// The imported swapchain image ([`Sink::Present`]).
    pub(crate) swapchain: Option<TextureHandle>,
    /// The imported output image (the renderer's colour target).
    pub(crate) output: TextureHandle,
    /// The imported read-back buffer (one per frame slot, bound per execution;
    /// [`Sink::ReadBack`]).
    pub(crate) readback_buffer: Option<BufferHandle>,
    /// The HDR target the post pass samples, when there is one.
    pub(crate) hdr: Option<TextureHandle>,
}

/// The declared (not yet compiled) frame graph and its ids.
pub(crate) struct FrameGraphDecl {
    pub(crate) graph: RenderGraph,
    pub(crate) main: PassId,
    pub(crate) post: Option<PassId>,
    pub(crate) read_back: Option<PassId>,
    pub(crate) present: Option<PassId>,
    pub(crate) swapchain: Option<TextureHandle>,
    pub(crate) output: TextureHandle,
    pub(crate) readback_buffer: Option<BufferHandle>,
    pub(crate) hdr: Option<TextureHandle>,
}

/// Format of the renderer's output image.
pub(crate) const OUTPUT_FORMAT: TextureFormat = TextureFormat::Rgba8Unorm;
/// Format of the HDR target the geometry pass renders into when there is a post pass.
pub(crate) const HDR_FORMAT: TextureFormat = TextureFormat::Rgba16Float;
/// Format of the depth target.
pub(crate) const DEPTH_FORMAT: TextureFormat = TextureFormat::Depth32Float;

/// Where a frame graph's output goes.
#[cfg_attr(
    not(feature = "window"),
    allow(dead_code, reason = "used by windows only")
)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Sink {
    /// Headless: `output` is imported and copied into the slot's read-back buffer.
    ReadBack,
    /// A window: `output` is a transient blitted into the imported swapchain image of this
    /// format, which ends in `Present` use.
    Present(TextureFormat),
}

/// Declares the frame graph of a `width × height` renderer clearing to `clear` (linear RGBA),
/// with or without a post pass, ending in `sink` (see the [module documentation](self)).
pub(crate) fn declare(
    width: u32,
    height: u32,
    clear: [f32; 4],
    post: bool,
    sink: Sink,
) -> FrameGraphDecl {
    use graph::{LoadOp, StoreOp, TextureDesc};
    let mut g = RenderGraph::new();
    let output = match sink {
        Sink::ReadBack => g.import_texture(
            "output",
            TextureDesc::new(width, height, OUTPUT_FORMAT),
            TextureImport::new(TextureUse::Undefined, TextureUse::TransferSrc),
        ),
        Sink::Present(_) => {
            g.create_texture("output", TextureDesc::new(width, height, OUTPUT_FORMAT))
        }
    };
    let readback_buffer = (sink == Sink::ReadBack).then(|| {
        g.import_buffer(
            "read-back",
            BufferImport {
                size: u64::from(width) * u64::from(height) * 4,
                initial: Some(BufferUse::HostRead),
                final_use: Some(BufferUse::HostRead),
            },
        )
    });
    let swapchain = match sink {
        Sink::ReadBack => None,
        Sink::Present(format) => Some(g.import_texture(
            "swapchain",
            TextureDesc::new(width, height, format),
            TextureImport::new(TextureUse::Undefined, TextureUse::Present),
        )),
    };
    let depth = g.create_texture("depth", TextureDesc::new(width, height, DEPTH_FORMAT));
    let hdr = post.then(|| g.create_texture("hdr", TextureDesc::new(width, height, HDR_FORMAT)));
    let main = g
        .add_pass("main")
        .color_attachment(hdr.unwrap_or(output), LoadOp::Clear(clear), StoreOp::Store)
        .depth_attachment(depth, LoadOp::Clear(1.0), StoreOp::DontCare)
        .id();
    let post = hdr.map(|hdr| {
        g.add_pass("post")
            .sampled(hdr)
            .color_attachment(output, LoadOp::DontCare, StoreOp::Store)
            .id()
    });
    let read_back = readback_buffer.map(|buffer| {
        g.add_pass("read-back")
            .texture(output, TextureUse::TransferSrc)
            .buffer(buffer, BufferUse::TransferDst)
            .id()
    });
    let present = swapchain.map(|swapchain| {
        g.add_pass("present")
            .texture(output, TextureUse::TransferSrc)
            .texture(swapchain, TextureUse::TransferDst)
            .id()
    });
    FrameGraphDecl {
        graph: g,
        main,
        post,
        read_back,
        present,
        swapchain,
        output,
        readback_buffer,
        hdr,
    }
}

impl<B: RenderBackend> FrameGraph<B> {
    /// Declares ([`declare`]) and compiles the frame graph and allocates its transients.
    pub(crate) fn new(
        device: &B::Device,
        width: u32,
        height: u32,
        clear: [f32; 4],
        post: bool,
        sink: Sink,
    ) -> Result<Self, GraphicsError> {
        let decl = declare(width, height, clear, post, sink);
        let compiled = decl.graph.compile()?;
        let transients = GraphTextures::new(device, &compiled)?;
        Ok(FrameGraph {
            compiled,
            transients,
            main: decl.main,
            post: decl.post,
            read_back: decl.read_back,
            present: decl.present,
            swapchain: decl.swapchain,
            output: decl.output,
            readback_buffer: decl.readback_buffer,
            hdr: decl.hdr,
        })
    }

    pub(crate) fn query_count(&self) -> u32 {
        query_count(&self.compiled)
    }
}

/// Timestamp queries one execution of `graph` through a [`HalRecorder`] writes: two per kept
/// pass (`2 × position` before it, `2 × position + 1` after it).
pub(crate) fn query_count(graph: &CompiledGraph) -> u32 {
    u32::try_from(graph.order().len() * 2).expect("fewer than 2^31 passes")
}

/// The backend's usage flags for a transient used as `uses`.
fn texture_usages(uses: &[TextureUse]) -> TextureUsages {
    uses.iter().fold(TextureUsages::empty(), |acc, u| {
        acc | match u {
            TextureUse::ColorAttachment => TextureUsages::COLOR_ATTACHMENT,
            TextureUse::DepthStencilAttachment => TextureUsages::DEPTH_ATTACHMENT,
            TextureUse::DepthStencilRead => {
                TextureUsages::DEPTH_ATTACHMENT | TextureUsages::SAMPLED
            }
            TextureUse::Sampled => TextureUsages::SAMPLED,
            TextureUse::StorageRead | TextureUse::StorageWrite => TextureUsages::STORAGE,
            TextureUse::TransferSrc => TextureUsages::COPY_SRC,
            TextureUse::TransferDst => TextureUsages::COPY_DST,
            TextureUse::Undefined | TextureUse::Present => TextureUsages::empty(),
        }
    })
}

/// The transient textures of one [`CompiledGraph`], indexed by resource: one texture (and view)
/// per transient that a kept pass uses, named after it. The occupants of one
/// [`TextureSlot`](crate::graph::TextureSlot) are bound to one allocation
/// ([`Device::create_aliased_textures`](hal::Device::create_aliased_textures)); a slot with one
/// occupant gets a plain texture. Created once per compiled graph and reused by every execution
/// (the graph's first-use barriers discard and wait for the previous execution). Dropping it
/// is always safe: the backend keeps textures alive until the submissions using them complete.
pub(crate) struct GraphTextures<B: RenderBackend> {
    graph: u32,
    textures: Vec<Option<(B::Texture, B::TextureView)>>,
}

impl<B: RenderBackend> GraphTextures<B> {
    /// Allocates the transients of `graph` on `device`.
    ///
    /// # Errors
    /// Out-of-memory.
    pub(crate) fn new(device: &B::Device, graph: &CompiledGraph) -> Result<Self, DeviceError> {
        let mut textures: Vec<Option<(B::Texture, B::TextureView)>> = Vec::new();
        for slot in graph.slots() {
            let occupants: Vec<_> = slot
                .textures()
                .iter()
                .map(|&t| graph.transient(t).expect("slot occupants are transients"))
                .collect();
            let descs: Vec<hal::TextureDesc<'_>> = occupants
                .iter()
                .map(|t| hal::TextureDesc {
                    label: t.name(),
                    width: t.desc().width,
                    height: t.desc().height,
                    format: t.desc().format,
                    usage: texture_usages(t.usages()),
                })
                .collect();
            let created = if descs.len() == 1 {
                vec![device.create_texture(&descs[0])?]
            } else {
                device.create_aliased_textures(&descs)?
            };
            for (t, texture) in occupants.iter().zip(created) {
                let view =
                    device.create_texture_view(&texture, &TextureViewDesc { label: t.name() })?;
                let index = t.texture().index();
                if textures.len() <= index {
                    textures.resize_with(index + 1, || None);
                }
                textures[index] = Some((texture, view));
            }
        }
        Ok(GraphTextures {
            graph: graph.id(),
            textures,
        })
    }

    /// The texture and view allocated for the transient `texture`; `None` for an import, a
    /// transient no kept pass uses, or a handle of another graph.
    pub(crate) fn get(&self, texture: TextureHandle) -> Option<(&B::Texture, &B::TextureView)> {
        if !self.is_for(texture) {
            return None;
        }
        self.textures
            .get(texture.index())
            .and_then(Option::as_ref)
            .map(|(t, v)| (t, v))
    }

    /// Whether `texture` is a handle of the graph these transients were made for.
    fn is_for(&self, texture: TextureHandle) -> bool {
        texture.graph_id() == self.graph
    }
}

/// The GPU objects bound to a graph's handles for one execution: the transients and the
/// imports.
pub(crate) struct Bindings<'a, B: RenderBackend> {
    graph: &'a CompiledGraph,
    textures: Vec<Option<(&'a B::Texture, &'a B::TextureView)>>,
    buffers: Vec<Option<&'a B::Buffer>>,
}

impl<'a, B: RenderBackend> Bindings<'a, B> {
    /// The transients of `graph` bound; imports still to bind.
    ///
    /// # Panics
    /// When `transients` were made for another graph.
    pub(crate) fn new(graph: &'a CompiledGraph, transients: &'a GraphTextures<B>) -> Self {
        assert_eq!(
            transients.graph,
            graph.id(),
            "the transients were allocated for another render graph"
        );
        let textures = transients
            .textures
            .iter()
            .map(|t| t.as_ref().map(|(t, v)| (t, v)))
            .collect();
        Bindings {
            graph,
            textures,
            buffers: Vec::new(),
        }
    }

    /// Binds the imported texture `handle` to `texture` (viewed through `view`).
    pub(crate) fn texture(
        &mut self,
        handle: TextureHandle,
        texture: &'a B::Texture,
        view: &'a B::TextureView,
    ) -> &mut Self {
        let index = handle.index();
        if self.textures.len() <= index {
            self.textures.resize_with(index + 1, || None);
        }
        self.textures[index] = Some((texture, view));
        self
    }

    /// Binds the imported buffer `handle` to `buffer`.
    pub(crate) fn buffer(&mut self, handle: BufferHandle, buffer: &'a B::Buffer) -> &mut Self {
        let index = handle.index();
        if self.buffers.len() <= index {
            self.buffers.resize_with(index + 1, || None);
        }
        self.buffers[index] = Some(buffer);
        self
    }

    fn get_texture(
        &self,
        handle: TextureHandle,
    ) -> Result<(&'a B::Texture, &'a B::TextureView), GraphicsError> {
        self.textures
            .get(handle.index())
            .copied()
            .flatten()
            .filter(|_| handle.graph_id() == self.graph.id())
            .ok_or_else(|| {
                UsageError::InvalidConfig(format!(
                    "render graph texture `{}` has no texture bound; bind every import before \
                     executing the graph",
                    self.graph
                        .texture_name(handle)
                        .unwrap_or("(foreign handle)")
                ))
                .into()
            })
    }

    fn get_buffer(&self, handle: BufferHandle) -> Result<&'a B::Buffer, GraphicsError> {
        self.buffers
            .get(handle.index())
            .copied()
            .flatten()
            .filter(|_| handle.graph_id() == self.graph.id())
            .ok_or_else(|| {
                UsageError::InvalidConfig(format!(
                    "render graph buffer `{}` has no buffer bound; bind every import before \
                     executing the graph",
                    self.graph.buffer_name(handle).unwrap_or("(foreign handle)")
                ))
                .into()
            })
    }
}

/// Executes a [`CompiledGraph`] into a HAL command encoder (see [`GraphRecorder`]): each barrier
/// of the graph becomes one HAL barrier call, each pass is wrapped in a debug label with its name
/// and, with a query set, timestamps `2 × position` and `2 × position + 1`; a pass with
/// attachments begins dynamic rendering over its extent with its attachments' load and store
/// ops (inline contents with the viewport set, or secondary contents for the pass named in
/// [`HalRecorder::new`]).
pub(crate) struct HalRecorder<'a, B: RenderBackend> {
    encoder: &'a mut B::CommandEncoder,
    bindings: Bindings<'a, B>,
    queries: Option<&'a B::QuerySet>,
    secondaries: Option<PassId>,
}

impl<'a, B: RenderBackend> HalRecorder<'a, B> {
    /// A recorder into `encoder` for the graph `bindings` were made for.
    ///
    /// # Safety
    /// - `encoder` records a primary command buffer, outside rendering, and the commands before
    ///   the execution leave every imported texture and buffer in the use the graph's imports
    ///   declare at the start (see [`TextureImport`]'s "Re-execution"); the transients were
    ///   allocated for this graph and are used only by its executions, submitted in order on
    ///   one queue;
    /// - `queries`, when given, holds at least [`query_count`] timestamp queries, reset before
    ///   they are written, and the adapter has timestamps;
    /// - the record callbacks of the execution record, for the pass `secondaries`, only
    ///   [`execute_secondaries`](crate::hal::CommandEncoder::execute_secondaries) of secondaries
    ///   begun with that pass's attachment formats, and, for every other pass with attachments,
    ///   commands valid inside rendering to its attachments with the viewport set, for a pass
    ///   without attachments commands valid outside rendering; each command's resources are in
    ///   the uses the pass declared.
    pub(crate) unsafe fn new(
        encoder: &'a mut B::CommandEncoder,
        bindings: Bindings<'a, B>,
        queries: Option<&'a B::QuerySet>,
        secondaries: Option<PassId>,
    ) -> Self {
        HalRecorder {
            encoder,
            bindings,
            queries,
            secondaries,
        }
    }

    fn timestamp(&mut self, pass: &CompiledPass, end: bool) {
        if let (Some(q), Some(position)) = (self.queries, pass.position()) {
            let index = u32::try_from(position * 2 + usize::from(end)).expect("few passes");
            // SAFETY: `new`'s contract: the set holds `query_count` queries (this index is below
            // it), reset, and the adapter has timestamps.
            unsafe { self.encoder.write_timestamp(q, index) };
        }
    }
}

/// The HAL's load op for a graph's.
fn load<T>(op: graph::LoadOp<T>) -> hal::LoadOp<T> {
    match op {
        graph::LoadOp::Load => hal::LoadOp::Load,
        graph::LoadOp::Clear(v) => hal::LoadOp::Clear(v),
        graph::LoadOp::DontCare => hal::LoadOp::DontCare,
    }
}

/// The HAL's store op for a graph's; the HAL has no `None` store op.
fn store(op: graph::StoreOp, pass: &CompiledPass) -> Result<hal::StoreOp, GraphicsError> {
    match op {
        graph::StoreOp::Store => Ok(hal::StoreOp::Store),
        graph::StoreOp::DontCare => Ok(hal::StoreOp::DontCare),
        graph::StoreOp::None => Err(UsageError::InvalidConfig(format!(
            "render pass `{}` has an attachment with StoreOp::None (a read-only depth \
             attachment), which the HAL cannot record yet; use depth_attachment instead of \
             depth_read",
            pass.name()
        ))
        .into()),
    }
}

impl<B: RenderBackend> GraphRecorder for HalRecorder<'_, B> {
    type Context = B::CommandEncoder;
    type Error = GraphicsError;

    fn barrier(
        &mut self,
        textures: &[graph::TextureBarrier],
        buffers: &[graph::BufferBarrier],
    ) -> Result<(), GraphicsError> {
        let textures = textures
            .iter()
            .map(|b| {
                Ok(hal::TextureBarrier {
                    texture: self.bindings.get_texture(b.texture)?.0,
                    before: b.before,
                    after: b.after,
                    discard: b.discard,
                })
            })
            .collect::<Result<Vec<_>, GraphicsError>>()?;
        let buffers = buffers
            .iter()
            .map(|b| {
                Ok(hal::BufferBarrier {
                    buffer: self.bindings.get_buffer(b.buffer)?,
                    before: b.before,
                    after: b.after,
                })
            })
            .collect::<Result<Vec<_>, GraphicsError>>()?;
        // SAFETY: `new`'s contract: recording outside rendering (the executor issues barriers
        // between passes only); the compiled graph tracked each resource's use from the imports'
        // declared start (and the transients' previous execution), so each is in `before` (or
        // its contents are discarded).
        unsafe {
            if !textures.is_empty() {
                self.encoder.texture_barriers(&textures);
            }
            if !buffers.is_empty() {
                self.encoder.buffer_barriers(&buffers);
            }
        }
        Ok(())
    }

    fn begin_pass(&mut self, pass: &CompiledPass) -> Result<&mut B::CommandEncoder, GraphicsError> {
        // SAFETY: recording outside rendering (`new`'s contract; `end_pass` ended the previous
        // pass's rendering); the label is closed in `end_pass`.
        unsafe { self.encoder.begin_debug_label(pass.name()) };
        self.timestamp(pass, false);
        if let Some(extent) = pass.extent() {
            let colors = pass
                .color_attachments()
                .iter()
                .map(|a| {
                    Ok(hal::ColorAttachment {
                        view: self.bindings.get_texture(a.attachment.texture)?.1,
                        load: load(a.attachment.load),
                        store: store(a.attachment.store, pass)?,
                    })
                })
                .collect::<Result<Vec<_>, GraphicsError>>()?;
            let depth = match pass.depth_attachment() {
                Some(a) => Some(hal::DepthAttachment {
                    view: self.bindings.get_texture(a.attachment.texture)?.1,
                    load: load(a.attachment.load),
                    store: store(a.attachment.store, pass)?,
                }),
                None => None,
            };
            let contents = if self.secondaries == Some(pass.id()) {
                RenderingContents::Secondaries
            } else {
                RenderingContents::Inline
            };
            // SAFETY: outside rendering; the barriers before this pass put every attachment in
            // its attachment use; all attachments share `extent` (checked by `compile`).
            unsafe {
                self.encoder.begin_rendering(&RenderingDesc {
                    label: pass.name(),
                    extent,
                    color_attachments: &colors,
                    depth_attachment: depth,
                    contents,
                });
                if contents == RenderingContents::Inline {
                    self.encoder
                        .set_viewport([0.0, 0.0, extent.0 as f32, extent.1 as f32]);
                }
            }
        }
        Ok(self.encoder)
    }

    fn end_pass(&mut self, pass: &CompiledPass) -> Result<(), GraphicsError> {
        if pass.has_attachments() {
            // SAFETY: `begin_pass` began rendering for this pass; the callback recorded only
            // commands valid inside it (`new`'s contract).
            unsafe { self.encoder.end_rendering() };
        }
        self.timestamp(pass, true);
        // SAFETY: closes the label `begin_pass` opened.
        unsafe { self.encoder.end_debug_label() };
        Ok(())
    }
}

/// Turns an execution error of the frame graph into the renderer's error.
pub(crate) fn execute_error(e: graph::ExecuteError<GraphicsError>) -> GraphicsError {
    match e {
        graph::ExecuteError::Recorder { source, .. } => source,
        graph::ExecuteError::Pass { pass, source } => match source.downcast::<GraphicsError>() {
            Ok(e) => *e,
            Err(source) => GraphicsError::PassRecord {
                pass,
                message: source.to_string(),
            },
        },
        other => GraphicsError::PassRecord {
            pass: "(graph)".to_owned(),
            message: other.to_string(),
        },
    }
}

#[cfg(all(test, feature = "vulkan"))]
mod tests;
