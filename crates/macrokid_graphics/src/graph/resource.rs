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
    /// The resource's index among all resources (textures and buffers) of its graph, in
    /// declaration order; also the index of its [`ResourceId`](macrokid_core::ResourceId) in the
    /// `"render-graph"` space.
    pub fn index(self) -> usize {
        self.index as usize
    }
}

impl BufferHandle {
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
/// (`VkAttachmentStoreOp`, Vulkan spec §8.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StoreOp {
    /// Write the rendered contents to memory.
    Store,
    /// The rendered contents are not needed afterwards (e.g. a depth buffer used only for
    /// testing in this pass).
    DontCare,
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
    /// Depth-tested but not written ([`TextureUse::DepthStencilRead`]); otherwise written
    /// ([`TextureUse::DepthStencilAttachment`]).
    pub read_only: bool,
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
