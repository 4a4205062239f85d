//! Graph resources: typed handles, descriptions, imports, and attachment load/store ops.

use std::fmt;

use crate::{BufferUse, TextureFormat, TextureUse};

/// A texture declared in one [`RenderGraph`](super::RenderGraph): imported or transient.
///
/// Handles are small `Copy` values that name the graph they come from: a pass of another graph
/// that uses this handle fails to compile with
/// [`GraphError::UnknownResource`](super::GraphError::UnknownResource).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TextureHandle {
    pub(super) graph: u32,
    pub(super) index: u32,
}

/// A buffer imported into one [`RenderGraph`](super::RenderGraph).
///
/// Like [`TextureHandle`], it names its graph; using it in another graph is an error.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BufferHandle {
    pub(super) graph: u32,
    pub(super) index: u32,
}

impl TextureHandle {
    /// The id of the graph the handle belongs to ([`CompiledGraph::id`](super::CompiledGraph::id)).
    pub(crate) fn graph_id(self) -> u32 {
        self.graph
    }

    /// The resource's index among all resources (textures and buffers) of its graph, in
    /// declaration order; also the index of its [`ResourceId`](macrokid_core::ResourceId) in the
    /// `"render-graph"` space.
    pub fn index(self) -> usize {
        self.index as usize
    }
}

impl BufferHandle {
    /// The id of the graph the handle belongs to ([`CompiledGraph::id`](super::CompiledGraph::id)).
    pub(crate) fn graph_id(self) -> u32 {
        self.graph
    }

    /// The resource's index among all resources (textures and buffers) of its graph, in
    /// declaration order; also the index of its [`ResourceId`](macrokid_core::ResourceId) in the
    /// `"render-graph"` space.
    pub fn index(self) -> usize {
        self.index as usize
    }
}

impl fmt::Debug for TextureHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TextureHandle(g{}#{})", self.graph, self.index)
    }
}

impl fmt::Debug for BufferHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BufferHandle(g{}#{})", self.graph, self.index)
    }
}

/// The shape of a 2D texture: extent in pixels and pixel format (one mip level, one layer).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TextureDesc {
    /// Width in pixels (> 0).
    pub width: u32,
    /// Height in pixels (> 0).
    pub height: u32,
    /// Pixel format.
    pub format: TextureFormat,
}

impl TextureDesc {
    /// A `width × height` texture (pixels) of `format`.
    pub fn new(width: u32, height: u32, format: TextureFormat) -> Self {
        Self {
            width,
            height,
            format,
        }
    }

    /// `(width, height)` in pixels.
    pub fn extent(&self) -> (u32, u32) {
        (self.width, self.height)
    }
}

/// The state an imported texture is in when the graph starts, and the state it must be left in.
///
/// `initial` is its [`TextureUse`] before the first pass ([`TextureUse::Undefined`] when its
/// contents may be discarded, e.g. a freshly acquired swapchain image); `final_use` is the use
/// the graph transitions it to after the last pass (e.g. [`TextureUse::TransferSrc`] for an
/// output image that is read back, [`TextureUse::Present`] for a swapchain image);
/// [`TextureUse::Undefined`] as `final_use` means "leave it in its last use".
///
/// # Re-execution (one compiled graph run every frame)
/// The barriers are computed once, so every execution starts an import from the same state:
/// - `initial` defined (not `Undefined`): the texture is in `initial` at the start of **every**
///   execution. When the graph leaves it in another use (`final_use` differs, or `final_use` is
///   `Undefined` and its last use differs), whatever runs between two executions must move it
///   back. A texture kept across executions (a history buffer) is best declared with
///   [`persistent`](Self::persistent) (`initial == final_use`), which needs nothing in between.
/// - `initial` `Undefined`: the contents are discarded at every execution, but the first
///   barrier still waits for the use the previous execution left the texture in: its
///   `final_use`, or its last use in the graph when `final_use` is `Undefined` (the barrier has
///   `discard: true` and that `before`; on the first execution nothing of that use is pending,
///   so the wait is free). So an output image rendered every frame and read back after it is
///   not overwritten by frame N+1 while frame N's read may still run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TextureImport {
    /// The texture's use before the graph runs.
    pub initial: TextureUse,
    /// The use the graph leaves it in; `Undefined` = no final transition.
    pub final_use: TextureUse,
}

impl TextureImport {
    /// An import in `initial` use, to be left in `final_use`.
    pub fn new(initial: TextureUse, final_use: TextureUse) -> Self {
        Self { initial, final_use }
    }

    /// An import that persists across executions in `usage`: it starts every execution in
    /// `usage` and is moved back to it after the last pass (`initial == final_use == usage`).
    pub fn persistent(usage: TextureUse) -> Self {
        Self {
            initial: usage,
            final_use: usage,
        }
    }

    /// The use an execution leaves the texture in given its last use in the graph (`None`
    /// when no kept pass uses it).
    pub(super) fn end_use(&self, last: Option<TextureUse>) -> TextureUse {
        if self.final_use != TextureUse::Undefined {
            self.final_use
        } else {
            last.unwrap_or(self.initial)
        }
    }
}

/// The state an imported buffer is in when the graph starts, and the state it must be left in.
///
/// `None` as `initial` means "no GPU use to wait for" (e.g. written by the host before the
/// submission, which the submission itself makes visible); `None` as `final_use` means "leave it
/// in its last use". [`BufferUse::HostRead`] as `final_use` makes the GPU's writes visible to a
/// host read-back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct BufferImport {
    /// Size in bytes (> 0).
    pub size: u64,
    /// The buffer's use before the graph runs, if any.
    pub initial: Option<BufferUse>,
    /// The use the graph leaves it in, if any.
    pub final_use: Option<BufferUse>,
}

/// What happens to an attachment's contents when a render pass begins
/// (`VkAttachmentLoadOp`, Vulkan spec §8.1).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum LoadOp<T> {
    /// Keep the previous contents (the attachment is read, so it must have been written).
    Load,
    /// Clear to the value: linear RGBA `0.0..=1.0` for colour, depth `0.0..=1.0` for depth
    /// (stencil is cleared to 0).
    Clear(T),
    /// The previous contents are not needed and become undefined.
    DontCare,
}

impl<T> LoadOp<T> {
    /// Whether the previous contents are read.
    pub fn reads_previous(&self) -> bool {
        matches!(self, LoadOp::Load)
    }
}

/// What happens to an attachment's contents when a render pass ends
/// (`VkAttachmentStoreOp`, Vulkan spec §8.1 "Render Pass Store Operations").
///
/// `Store` and `DontCare` both *write* the attachment at the end of the pass (Vulkan accesses
/// it with `COLOR_ATTACHMENT_WRITE` / `DEPTH_STENCIL_ATTACHMENT_WRITE`), so the graph treats
/// an attachment with either as a write for barriers, even a read-only depth attachment. Only
/// `None` leaves the memory untouched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StoreOp {
    /// Write the rendered contents to memory (`VK_ATTACHMENT_STORE_OP_STORE`).
    Store,
    /// The rendered contents are not needed afterwards (e.g. a depth buffer used only for
    /// testing in this pass); the contents become undefined (`VK_ATTACHMENT_STORE_OP_DONT_CARE`,
    /// still a write access).
    DontCare,
    /// The store does not access the attachment (`VK_ATTACHMENT_STORE_OP_NONE`, core in Vulkan
    /// 1.3): the contents are kept when the pass did not write them (a read-only depth
    /// attachment, see [`PassBuilder::depth_read`](super::PassBuilder::depth_read)) and are
    /// undefined when it did.
    None,
}

impl StoreOp {
    /// Whether the store op accesses the attachment's memory with a write (`Store`, `DontCare`).
    pub fn writes(self) -> bool {
        !matches!(self, StoreOp::None)
    }
}

/// A colour attachment of a pass; its location is its index in
/// [`CompiledPass::color_attachments`](super::CompiledPass::color_attachments).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ColorAttachment {
    /// The texture rendered to.
    pub texture: TextureHandle,
    /// Load op with the clear colour (linear RGBA).
    pub load: LoadOp<[f32; 4]>,
    /// Store op.
    pub store: StoreOp,
}

/// The depth/stencil attachment of a pass.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DepthAttachment {
    /// The depth texture.
    pub texture: TextureHandle,
    /// Load op with the clear depth.
    pub load: LoadOp<f32>,
    /// Store op.
    pub store: StoreOp,
    /// Depth-tested but not written ([`TextureUse::DepthStencilRead`], load `Load`, store
    /// [`StoreOp::None`]); otherwise written ([`TextureUse::DepthStencilAttachment`]).
    pub read_only: bool,
}

/// An attachment of a compiled pass with what a backend needs to begin rendering (or to
/// inherit the attachments in a secondary command buffer) without the graph: the texture's
/// description and, for a transient, its memory slot.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CompiledAttachment<A> {
    /// The attachment as declared ([`ColorAttachment`] or [`DepthAttachment`]).
    pub attachment: A,
    /// The texture's extent and format.
    pub desc: TextureDesc,
    /// For a transient texture, the index of its slot in
    /// [`CompiledGraph::slots`](super::CompiledGraph::slots); `None` for an import.
    pub slot: Option<usize>,
}

impl<A> CompiledAttachment<A> {
    /// The texture's pixel format.
    pub fn format(&self) -> TextureFormat {
        self.desc.format
    }

    /// The texture's `(width, height)` in pixels.
    pub fn extent(&self) -> (u32, u32) {
        self.desc.extent()
    }
}

impl DepthAttachment {
    /// The use this attachment makes of its texture.
    pub fn texture_use(&self) -> TextureUse {
        if self.read_only {
            TextureUse::DepthStencilRead
        } else {
            TextureUse::DepthStencilAttachment
        }
    }
}

/// Where a declared resource comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ResourceKind {
    /// A texture owned outside the graph.
    ImportedTexture(TextureDesc, TextureImport),
    /// A texture the graph allocates for the frame (contents undefined at the start).
    TransientTexture(TextureDesc),
    /// A buffer owned outside the graph.
    ImportedBuffer(BufferImport),
}

/// A declared resource: its name and kind.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct ResourceNode {
    /// Interned (see `RenderGraph`'s "Names").
    pub(super) name: &'static str,
    pub(super) kind: ResourceKind,
}

impl ResourceNode {
    pub(super) fn texture_desc(&self) -> Option<TextureDesc> {
        match self.kind {
            ResourceKind::ImportedTexture(desc, _) | ResourceKind::TransientTexture(desc) => {
                Some(desc)
            }
            ResourceKind::ImportedBuffer(_) => None,
        }
    }

    pub(super) fn is_imported(&self) -> bool {
        !matches!(self.kind, ResourceKind::TransientTexture(_))
    }
}
