//! The build step: [`RenderGraph`] declares resources and passes.

use std::borrow::Cow;
use std::collections::HashSet;
use std::fmt;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, OnceLock, PoisonError};

use super::compile::{self, CompiledGraph};
use super::error::GraphError;
use super::resource::{
    BufferHandle, BufferImport, ColorAttachment, DepthAttachment, LoadOp, ResourceKind,
    ResourceNode, StoreOp, TextureDesc, TextureHandle, TextureImport,
};
use crate::{BufferUse, TextureUse};

/// The error a pass's record callback returns; the executor wraps it in
/// [`ExecuteError::Pass`](super::ExecuteError::Pass) with the pass's name.
pub type PassError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Source of graph ids, so that a handle of one graph is recognised as foreign in another.
static NEXT_GRAPH_ID: AtomicU32 = AtomicU32::new(0);

/// The process-wide set of interned resource names (see [`RenderGraph`]'s "Names").
static NAMES: OnceLock<Mutex<HashSet<&'static str>>> = OnceLock::new();

/// A `&'static str` equal to `name`: a borrowed `'static` name as is, an owned one leaked the
/// first time the process sees it and shared afterwards.
fn intern(name: Cow<'static, str>) -> &'static str {
    match name {
        Cow::Borrowed(name) => name,
        Cow::Owned(name) => {
            let mut names = NAMES
                .get_or_init(Mutex::default)
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            if let Some(&known) = names.get(name.as_str()) {
                return known;
            }
            let leaked: &'static str = Box::leak(name.into_boxed_str());
            names.insert(leaked);
            leaked
        }
    }
}

/// The identity of a pass: its graph and its index among the passes of that graph, in
/// declaration order.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PassId {
    pub(super) graph: u32,
    pub(super) index: u32,
}

impl PassId {
    /// The pass's position in declaration order (0-based).
    pub fn index(self) -> usize {
        self.index as usize
    }
}

impl fmt::Debug for PassId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PassId(g{}#{})", self.graph, self.index)
    }
}

/// A pass as declared: every use is kept as given, checked by [`RenderGraph::compile`].
pub(super) struct PassNode {
    pub(super) name: Cow<'static, str>,
    pub(super) colors: Vec<ColorAttachment>,
    /// More than one is an error reported by `compile`.
    pub(super) depths: Vec<DepthAttachment>,
    pub(super) textures: Vec<(TextureHandle, TextureUse)>,
    pub(super) buffers: Vec<(BufferHandle, BufferUse)>,
    pub(super) never_cull: bool,
}

/// A render graph being built: resources and passes in declaration order
/// (the build step of kajiya-rg's `RenderGraph` → `CompiledRenderGraph` → execution).
///
/// The graph holds declarations only; what each pass records is given per execution through
/// [`PassCallbacks`](super::PassCallbacks), so callbacks may borrow per-frame data.
///
/// # Names
/// Pass and resource names take `&'static str` or `String` (`impl Into<Cow<'static, str>>`).
/// Resource names also name the graph's
/// [`ResourceId::dynamic`](macrokid_core::ResourceId::dynamic) ids, which need a
/// `&'static str`: an owned name is interned in a process-wide set, leaked once per distinct
/// name (so memory grows with the number of *distinct* names, not with the number of graphs
/// built; keep generated names from a bounded set).
///
/// Declaring never fails: every mistake (a foreign handle, a use that is not a pass use, a
/// resource used twice in one pass, duplicate names...) is reported by
/// [`compile`](Self::compile), the first in declaration order.
///
/// See the [module documentation](super) for an example.
pub struct RenderGraph {
    pub(super) id: u32,
    pub(super) resources: Vec<ResourceNode>,
    pub(super) passes: Vec<PassNode>,
}

impl Default for RenderGraph {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for RenderGraph {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RenderGraph")
            .field("id", &self.id)
            .field("resources", &self.resources)
            .field(
                "passes",
                &self.passes.iter().map(|p| &p.name).collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl RenderGraph {
    /// An empty graph with a process-unique id.
    pub fn new() -> Self {
        Self {
            id: NEXT_GRAPH_ID.fetch_add(1, Ordering::Relaxed),
            resources: Vec::new(),
            passes: Vec::new(),
        }
    }

    fn push_resource(&mut self, name: Cow<'static, str>, kind: ResourceKind) -> u32 {
        let index = u32::try_from(self.resources.len()).expect("fewer than 2^32 resources");
        self.resources.push(ResourceNode {
            name: intern(name),
            kind,
        });
        index
    }

    /// Declares a texture owned outside the graph (a swapchain image, an output image read back
    /// after the frame, a loaded texture), in `import.initial` use now and to be left in
    /// `import.final_use`.
    ///
    /// Writes to an imported texture are outputs of the graph: passes that contribute to them
    /// are never culled.
    pub fn import_texture(
        &mut self,
        name: impl Into<Cow<'static, str>>,
        desc: TextureDesc,
        import: TextureImport,
    ) -> TextureHandle {
        TextureHandle {
            graph: self.id,
            index: self.push_resource(name.into(), ResourceKind::ImportedTexture(desc, import)),
        }
    }

    /// Declares a transient texture: allocated by the backend for this graph, contents
    /// undefined before its first write, possibly sharing memory with other transients whose
    /// lifetimes do not overlap (see [`CompiledGraph::slots`]).
    pub fn create_texture(
        &mut self,
        name: impl Into<Cow<'static, str>>,
        desc: TextureDesc,
    ) -> TextureHandle {
        TextureHandle {
            graph: self.id,
            index: self.push_resource(name.into(), ResourceKind::TransientTexture(desc)),
        }
    }

    /// Declares a buffer owned outside the graph (per-frame instance data, a read-back buffer).
    ///
    /// Writes to it are outputs of the graph, like writes to an imported texture.
    pub fn import_buffer(
        &mut self,
        name: impl Into<Cow<'static, str>>,
        import: BufferImport,
    ) -> BufferHandle {
        BufferHandle {
            graph: self.id,
            index: self.push_resource(name.into(), ResourceKind::ImportedBuffer(import)),
        }
    }

    /// Declares a pass named `name` (unique within the graph) after the passes declared so far;
    /// its uses are added through the returned builder.
    ///
    /// Declaration order matters: passes that conflict (one writes what the other reads or
    /// writes) execute in declaration order.
    pub fn add_pass(&mut self, name: impl Into<Cow<'static, str>>) -> PassBuilder<'_> {
        let index = u32::try_from(self.passes.len()).expect("fewer than 2^32 passes");
        self.passes.push(PassNode {
            name: name.into(),
            colors: Vec::new(),
            depths: Vec::new(),
            textures: Vec::new(),
            buffers: Vec::new(),
            never_cull: false,
        });
        let pass = PassId {
            graph: self.id,
            index,
        };
        PassBuilder { graph: self, pass }
    }

    /// The number of declared passes.
    pub fn pass_count(&self) -> usize {
        self.passes.len()
    }

    /// The number of declared resources (textures and buffers).
    pub fn resource_count(&self) -> usize {
        self.resources.len()
    }

    /// Checks the graph, culls passes that contribute to no output, orders the rest with
    /// `macrokid_core`'s planner, derives the barriers and assigns transients to memory slots.
    ///
    /// # Errors
    /// The first problem found, in this order: per resource (declaration order)
    /// [`GraphError::DuplicateResource`] and [`GraphError::EmptyResource`]; per pass
    /// (declaration order) [`GraphError::DuplicatePass`], then for each use (colour attachments,
    /// depth attachment, other textures, buffers) [`GraphError::UnknownResource`],
    /// [`GraphError::SecondDepthAttachment`], [`GraphError::AttachmentFormat`] and
    /// [`GraphError::InvalidUse`], then
    /// [`GraphError::ResourceUsedTwice`] and [`GraphError::AttachmentExtentMismatch`]; then
    /// [`GraphError::ReadBeforeWrite`] over all passes; then [`GraphError::Plan`] from the
    /// planner.
    pub fn compile(self) -> Result<CompiledGraph, GraphError> {
        compile::compile(self)
    }
}

/// Adds uses to one pass; returned by [`RenderGraph::add_pass`].
///
/// The pass is already part of the graph: dropping the builder keeps what was declared.
pub struct PassBuilder<'g> {
    graph: &'g mut RenderGraph,
    pass: PassId,
}

impl fmt::Debug for PassBuilder<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PassBuilder")
            .field("graph", &self.graph.id)
            .field("pass", &self.pass)
            .finish()
    }
}

impl PassBuilder<'_> {
    fn node(&mut self) -> &mut PassNode {
        &mut self.graph.passes[self.pass.index()]
    }

    /// Renders to `texture` as the next colour attachment (location 0, 1, ... in call order),
    /// [`TextureUse::ColorAttachment`]. `texture` must have a colour format (else
    /// [`GraphError::AttachmentFormat`]).
    #[must_use]
    pub fn color_attachment(
        mut self,
        texture: TextureHandle,
        load: LoadOp<[f32; 4]>,
        store: StoreOp,
    ) -> Self {
        self.node().colors.push(ColorAttachment {
            texture,
            load,
            store,
        });
        self
    }

    /// Depth-tests against and writes `texture`, [`TextureUse::DepthStencilAttachment`].
    /// A pass has at most one depth attachment; `texture` must have a depth format
    /// ([`TextureFormat::is_depth`](crate::TextureFormat::is_depth), else
    /// [`GraphError::AttachmentFormat`]).
    #[must_use]
    pub fn depth_attachment(
        mut self,
        texture: TextureHandle,
        load: LoadOp<f32>,
        store: StoreOp,
    ) -> Self {
        self.node().depths.push(DepthAttachment {
            texture,
            load,
            store,
            read_only: false,
        });
        self
    }

    /// Depth-tests against `texture` without writing it, [`TextureUse::DepthStencilRead`]
    /// (load `Load`, store [`StoreOp::None`]: the contents are kept and the pass makes no write
    /// access, so passes that only read the texture need no barrier between them).
    #[must_use]
    pub fn depth_read(mut self, texture: TextureHandle) -> Self {
        self.node().depths.push(DepthAttachment {
            texture,
            load: LoadOp::Load,
            store: StoreOp::None,
            read_only: true,
        });
        self
    }

    /// Uses `texture` outside the render pass's attachments: [`TextureUse::Sampled`],
    /// [`TextureUse::StorageRead`], [`TextureUse::StorageWrite`], [`TextureUse::TransferSrc`]
    /// or [`TextureUse::TransferDst`]. Attachment uses go through
    /// [`color_attachment`](Self::color_attachment) / [`depth_attachment`](Self::depth_attachment)
    /// (they need load/store ops); `Undefined` and `Present` are not pass uses. Anything else is
    /// reported by `compile` as [`GraphError::InvalidUse`].
    #[must_use]
    pub fn texture(mut self, texture: TextureHandle, usage: TextureUse) -> Self {
        self.node().textures.push((texture, usage));
        self
    }

    /// Shorthand for [`texture`](Self::texture)`(texture, TextureUse::Sampled)`.
    #[must_use]
    pub fn sampled(self, texture: TextureHandle) -> Self {
        self.texture(texture, TextureUse::Sampled)
    }

    /// Uses `buffer` as `usage` (any [`BufferUse`] but `HostRead`, which is only an end use).
    #[must_use]
    pub fn buffer(mut self, buffer: BufferHandle, usage: BufferUse) -> Self {
        self.node().buffers.push((buffer, usage));
        self
    }

    /// Keeps this pass even when none of its writes reaches an imported resource (a pass with
    /// effects the graph cannot see, e.g. a GPU timestamp or debug pass).
    ///
    /// Such a pass is also ordered as a side effect: it keeps its declaration position relative
    /// to every other kept pass (see [`CompiledGraph`]'s "Ordering"), so a timestamp pass
    /// declared between two passes runs between them.
    #[must_use]
    pub fn never_cull(mut self) -> Self {
        self.node().never_cull = true;
        self
    }

    /// The pass's id: name its record callback with it in
    /// [`PassCallbacks::set`](super::PassCallbacks::set).
    pub fn id(self) -> PassId {
        self.pass
    }
}
