//! The compile step: validation, culling, ordering by `macrokid_core`'s planner, barriers.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::fmt;

use macrokid_core::{Plan, ResourceAccess, ResourceId, StageDescriptor, SystemDescriptor};

use super::alias::{self, Lifetime, TextureSlot, TransientTexture};
use super::builder::{PassId, RenderGraph};
use super::check::{check_defined, check_pass, check_resources, Checked, UseKind};
use super::error::GraphError;
use super::resource::{
    BufferHandle, ColorAttachment, CompiledAttachment, DepthAttachment, ResourceKind, ResourceNode,
    TextureHandle,
};
use crate::{BufferUse, TextureUse};

/// The [`ResourceId::dynamic`] namespace of render-graph resources.
pub const RESOURCE_SPACE: &str = "render-graph";

/// The name of the single planner stage that holds a graph's passes.
const STAGE: &str = "render-graph";

/// The [`ResourceId::dynamic`] namespace of the graph's one side-effect resource (index 0,
/// named `"side effects"`), which orders [`never_cull`](super::PassBuilder::never_cull) passes:
/// they write it and every other kept pass reads it.
pub const SIDE_EFFECTS_SPACE: &str = "render-graph-side-effects";

/// A texture changes use before a pass (or after the last one): a pipeline barrier with an image
/// layout transition where the layouts differ.
///
/// `before` is the previous use of the same memory; the backend maps `before`/`after` to
/// source/destination stages, accesses and layouts (for Vulkan: `VkImageMemoryBarrier2`,
/// Vulkan spec §7.1.1 "Synchronization2").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TextureBarrier {
    /// The texture that changes use.
    pub texture: TextureHandle,
    /// The use to wait for: the texture's previous use; at the first use of a transient, the
    /// last use of the slot's previous occupant, or, for the slot's first occupant, the slot's
    /// last use in the graph (the previous execution's, since a compiled graph runs every
    /// frame); at the first use of an import whose `initial` use is `Undefined`, the use the
    /// previous execution left it in (see [`TextureImport`](super::TextureImport)). Memory
    /// aliasing needs that wait (Vulkan spec §12.9 "Memory Aliasing"), and so do frames in
    /// flight that share the memory.
    pub before: TextureUse,
    /// The use the next pass makes of it.
    pub after: TextureUse,
    /// The old contents need not be kept: the backend transitions from the undefined layout
    /// (`VK_IMAGE_LAYOUT_UNDEFINED`) while still waiting for `before`. True at the first use of
    /// every transient and of every import whose `initial` use is `Undefined`, and whenever
    /// `before` is `Undefined`.
    pub discard: bool,
}

/// A buffer changes use, or a write is involved: a pipeline (buffer memory) barrier.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct BufferBarrier {
    /// The buffer.
    pub buffer: BufferHandle,
    /// Its previous use.
    pub before: BufferUse,
    /// The next use.
    pub after: BufferUse,
}

/// One pass after compilation: its uses, attachments, barriers and place in the order.
#[derive(Debug, Clone)]
pub struct CompiledPass {
    id: PassId,
    name: Cow<'static, str>,
    culled: bool,
    position: Option<usize>,
    batch: Option<usize>,
    textures: Vec<(TextureHandle, TextureUse)>,
    /// Whether each use of `textures` writes the memory (store ops included).
    texture_writes: Vec<bool>,
    buffers: Vec<(BufferHandle, BufferUse)>,
    colors: Vec<CompiledAttachment<ColorAttachment>>,
    depth: Option<CompiledAttachment<DepthAttachment>>,
    extent: Option<(u32, u32)>,
    access: ResourceAccess,
    texture_barriers: Vec<TextureBarrier>,
    buffer_barriers: Vec<BufferBarrier>,
}

impl CompiledPass {
    /// The pass's id (declaration index).
    pub fn id(&self) -> PassId {
        self.id
    }

    /// The pass's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether the pass was culled: none of its writes reaches an imported resource.
    /// A culled pass has no position, batch or barriers and is never executed.
    pub fn is_culled(&self) -> bool {
        self.culled
    }

    /// The pass's index in [`CompiledGraph::order`], `None` when culled.
    pub fn position(&self) -> Option<usize> {
        self.position
    }

    /// The index of the pass's batch in [`CompiledGraph::batches`], `None` when culled.
    pub fn batch(&self) -> Option<usize> {
        self.batch
    }

    /// Every texture the pass uses, attachments included, sorted by handle (declaration order).
    pub fn textures(&self) -> &[(TextureHandle, TextureUse)] {
        &self.textures
    }

    /// Every buffer the pass uses, sorted by handle.
    pub fn buffers(&self) -> &[(BufferHandle, BufferUse)] {
        &self.buffers
    }

    /// The colour attachments, by location, with their formats, extents and slots.
    pub fn color_attachments(&self) -> &[CompiledAttachment<ColorAttachment>] {
        &self.colors
    }

    /// The depth attachment, if any, with its format, extent and slot.
    pub fn depth_attachment(&self) -> Option<&CompiledAttachment<DepthAttachment>> {
        self.depth.as_ref()
    }

    /// Whether the pass's use of `texture` writes its memory: a writing use, or an attachment
    /// whose store op writes ([`StoreOp::writes`](super::StoreOp::writes)). `None` when the
    /// pass does not use `texture`.
    pub fn writes_texture(&self, texture: TextureHandle) -> Option<bool> {
        self.textures
            .iter()
            .position(|&(t, _)| t == texture)
            .map(|i| self.texture_writes[i])
    }

    /// Whether the pass has attachments (the backend begins rendering for it); a pass without
    /// attachments is a compute or transfer pass.
    pub fn has_attachments(&self) -> bool {
        !self.colors.is_empty() || self.depth.is_some()
    }

    /// The render area `(width, height)` in pixels: the extent shared by all attachments,
    /// `None` without attachments.
    pub fn extent(&self) -> Option<(u32, u32)> {
        self.extent
    }

    /// The pass's access as the planner saw it: [`ResourceId::dynamic`] ids in the
    /// [`RESOURCE_SPACE`] namespace, indexed by resource declaration index; writing uses
    /// (attachments whose store op writes included) are writes, the others reads. When the graph
    /// keeps a [`never_cull`](super::PassBuilder::never_cull) pass, that pass also writes the
    /// [`SIDE_EFFECTS_SPACE`] id and every other kept pass reads it.
    pub fn access(&self) -> &ResourceAccess {
        &self.access
    }

    /// The texture barriers to issue before the pass, sorted by handle; empty when culled.
    pub fn texture_barriers(&self) -> &[TextureBarrier] {
        &self.texture_barriers
    }

    /// The buffer barriers to issue before the pass, sorted by handle; empty when culled.
    pub fn buffer_barriers(&self) -> &[BufferBarrier] {
        &self.buffer_barriers
    }
}

/// A compiled, immutable render graph: passes ordered by `macrokid_core`'s [`Plan`], culled
/// passes marked, the barriers before each pass and after the last, and transient textures
/// assigned to memory slots. Run it with [`execute`](Self::execute) (any number of times, e.g.
/// once per frame, with 1 or more frames in flight); it holds no callbacks and is `Send + Sync`,
/// the record callbacks are given per execution ([`PassCallbacks`](super::PassCallbacks)).
///
/// # Ordering
/// The kept passes are the systems of one planner stage, in declaration order; the planner
/// splits them into batches greedily: each pass joins the batch right after the last batch
/// holding a pass it conflicts with (one writes a resource the other uses). So conflicting passes
/// execute in declaration order and conflict-free passes share a batch, whose passes may
/// *record* in parallel. [`order`](Self::order) is the batches concatenated, each batch in
/// declaration order; passes *execute* in that order, each after its own barriers.
/// [`never_cull`](super::PassBuilder::never_cull) passes have effects the graph cannot see
/// (timestamps, debug output), so they write a synthetic side-effect resource that every other
/// kept pass reads: each keeps its declaration position relative to all kept passes (those
/// declared before it run before it, those declared after it run after it).
///
/// # Barriers
/// Walking [`order`](Self::order), every use of a resource is compared with the previous use of
/// the same memory (the import's `initial` use, or the previous occupant of a transient's slot):
/// a barrier is issued when either use writes (attachment store ops `Store`/`DontCare` count as
/// writes) or the uses differ (a layout or access change); two consecutive reads in the same use
/// need none. The first use of a transient, and of an import whose `initial` use is `Undefined`,
/// always gets one (with `discard`), waiting for the use the previous execution left that memory
/// in: the slot's last use, or the import's `final_use` (its last use when `final_use` is
/// `Undefined`). So executing the graph again while the previous execution may still run on the
/// GPU (frames in flight on one queue) is ordered after it. After the last pass each imported
/// resource is moved to its `final_use` when it is not already in it.
pub struct CompiledGraph {
    pub(super) id: u32,
    pub(super) resources: Vec<ResourceNode>,
    pub(super) passes: Vec<CompiledPass>,
    pub(super) order: Vec<PassId>,
    pub(super) batches: Vec<Vec<PassId>>,
    pub(super) plan: Plan,
    pub(super) final_textures: Vec<TextureBarrier>,
    pub(super) final_buffers: Vec<BufferBarrier>,
    pub(super) transients: Vec<TransientTexture>,
    pub(super) slots: Vec<TextureSlot>,
}

impl fmt::Debug for CompiledGraph {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CompiledGraph")
            .field("id", &self.id)
            .field("passes", &self.passes)
            .field("order", &self.order)
            .field("batches", &self.batches)
            .field("final_textures", &self.final_textures)
            .field("final_buffers", &self.final_buffers)
            .field("transients", &self.transients)
            .field("slots", &self.slots)
            .finish_non_exhaustive()
    }
}

impl CompiledGraph {
    /// The graph's process-unique id (the one its handles and [`PassId`]s carry).
    pub fn id(&self) -> u32 {
        self.id
    }

    /// Every pass, culled ones included, in declaration order (indexed by [`PassId::index`]).
    pub fn passes(&self) -> &[CompiledPass] {
        &self.passes
    }

    /// The pass `id`.
    ///
    /// # Panics
    /// When `id` comes from another graph (use [`get_pass`](Self::get_pass) to check).
    pub fn pass(&self, id: PassId) -> &CompiledPass {
        self.get_pass(id)
            .unwrap_or_else(|| panic!("{id:?} is not a pass of render graph {}", self.id))
    }

    /// The pass `id`, `None` when `id` comes from another graph.
    pub fn get_pass(&self, id: PassId) -> Option<&CompiledPass> {
        (id.graph == self.id)
            .then(|| self.passes.get(id.index()))
            .flatten()
    }

    /// The pass named `name`, if any.
    pub fn pass_by_name(&self, name: &str) -> Option<&CompiledPass> {
        self.passes.iter().find(|p| p.name == name)
    }

    /// The kept passes in execution order: the batches concatenated.
    pub fn order(&self) -> &[PassId] {
        &self.order
    }

    /// The kept passes in batches, in execution order; the passes of a batch do not conflict
    /// and are listed in declaration order.
    pub fn batches(&self) -> &[Vec<PassId>] {
        &self.batches
    }

    /// The culled passes, in declaration order.
    pub fn culled(&self) -> impl Iterator<Item = &CompiledPass> + '_ {
        self.passes.iter().filter(|p| p.culled)
    }

    /// The planner's [`Plan`]: one stage, `"render-graph"`, whose systems are the kept passes in
    /// declaration order (its `to_dot`/`to_mermaid` show the batches).
    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    /// The texture barriers to issue after the last pass: each imported texture moved to its
    /// `final_use`, sorted by handle.
    pub fn final_texture_barriers(&self) -> &[TextureBarrier] {
        &self.final_textures
    }

    /// The buffer barriers to issue after the last pass, sorted by handle.
    pub fn final_buffer_barriers(&self) -> &[BufferBarrier] {
        &self.final_buffers
    }

    /// Every transient texture, in declaration order, with its lifetime and slot.
    pub fn transients(&self) -> &[TransientTexture] {
        &self.transients
    }

    /// The transient `texture`, `None` for an imported or foreign one.
    pub fn transient(&self, texture: TextureHandle) -> Option<&TransientTexture> {
        if texture.graph != self.id {
            return None;
        }
        self.transients.iter().find(|t| t.texture() == texture)
    }

    /// The memory slots the transients are assigned to: the backend allocates one texture
    /// (or one memory block) per slot.
    pub fn slots(&self) -> &[TextureSlot] {
        &self.slots
    }

    /// The name `texture` was declared with, `None` for a foreign handle.
    pub fn texture_name(&self, texture: TextureHandle) -> Option<&'static str> {
        self.own(texture.graph, texture.index).map(|r| r.name)
    }

    /// The name `buffer` was declared with, `None` for a foreign handle.
    pub fn buffer_name(&self, buffer: BufferHandle) -> Option<&'static str> {
        self.own(buffer.graph, buffer.index).map(|r| r.name)
    }

    /// The description of `texture`, `None` for a foreign handle.
    pub fn texture_desc(&self, texture: TextureHandle) -> Option<super::TextureDesc> {
        self.own(texture.graph, texture.index)
            .and_then(ResourceNode::texture_desc)
    }

    /// The planner's id of `texture`: [`ResourceId::dynamic`] in [`RESOURCE_SPACE`] with its
    /// declaration index, `None` for a foreign handle.
    pub fn texture_resource_id(&self, texture: TextureHandle) -> Option<ResourceId> {
        self.own(texture.graph, texture.index)
            .map(|r| resource_id(texture.index as usize, r))
    }

    fn own(&self, graph: u32, index: u32) -> Option<&ResourceNode> {
        (graph == self.id)
            .then(|| self.resources.get(index as usize))
            .flatten()
    }
}

/// The planner's id of resource `index`.
fn resource_id(index: usize, node: &ResourceNode) -> ResourceId {
    ResourceId::dynamic(RESOURCE_SPACE, index as u64, node.name)
}

/// Whether moving from `before` to `after` needs a barrier: a write on either side, or a change
/// of use (layout or access).
///
/// `*_writes` say whether the use writes the memory; for an attachment that includes its store op
/// (see [`StoreOp`](super::StoreOp)), so it may differ from [`TextureUse::is_write`].
pub(super) fn texture_needs_barrier(
    before: TextureUse,
    before_writes: bool,
    after: TextureUse,
    after_writes: bool,
) -> bool {
    before != after || before_writes || after_writes
}

/// Whether moving from `before` to `after` needs a barrier (as for textures).
pub(super) fn buffer_needs_barrier(before: BufferUse, after: BufferUse) -> bool {
    before != after || before.is_write() || after.is_write()
}

pub(super) fn compile(graph: RenderGraph) -> Result<CompiledGraph, GraphError> {
    let RenderGraph {
        id,
        resources,
        passes,
    } = graph;

    check_resources(&resources)?;
    let mut names = HashSet::new();
    let mut checked = Vec::with_capacity(passes.len());
    for pass in &passes {
        if !names.insert(pass.name.as_ref()) {
            return Err(GraphError::DuplicatePass {
                name: pass.name.to_string(),
            });
        }
        checked.push(check_pass(id, &resources, pass)?);
    }
    check_defined(&resources, &passes, &checked)?;

    let kept = cull(&resources, &checked);
    let side_effects = kept.iter().any(|&p| checked[p].never_cull);

    // Order the kept passes with the planner: one stage, the passes as systems.
    let descriptors = kept.iter().map(|&p| {
        SystemDescriptor::new(
            passes[p].name.clone(),
            access_of(&resources, &checked[p], side_effects),
        )
    });
    let plan = Plan::build([StageDescriptor::new(STAGE).with_systems(descriptors)])?;
    let stage = plan
        .stage(STAGE)
        .expect("the plan holds the one stage it was built from");
    let batches: Vec<Vec<PassId>> = stage
        .batches()
        .iter()
        .map(|b| b.systems().iter().map(|&s| pass_id(id, kept[s])).collect())
        .collect();
    let order: Vec<PassId> = batches.iter().flatten().copied().collect();
    let mut position = vec![None; passes.len()];
    let mut batch_of = vec![None; passes.len()];
    for (b, batch) in batches.iter().enumerate() {
        for &p in batch {
            batch_of[p.index()] = Some(b);
        }
    }
    for (pos, &p) in order.iter().enumerate() {
        position[p.index()] = Some(pos);
    }

    // Transient lifetimes over the execution order, then slots.
    let mut lifetimes: Vec<Option<Lifetime>> = vec![None; resources.len()];
    let mut usages: Vec<Vec<TextureUse>> = vec![Vec::new(); resources.len()];
    for (pos, &p) in order.iter().enumerate() {
        let batch = batch_of[p.index()].expect("ordered passes have a batch");
        for u in &checked[p.index()].uses {
            let UseKind::Texture(usage) = u.kind else {
                continue;
            };
            if let ResourceKind::TransientTexture(_) = resources[u.resource].kind {
                let life = lifetimes[u.resource].get_or_insert(Lifetime {
                    first: pos,
                    last: pos,
                    first_batch: batch,
                    last_batch: batch,
                });
                life.last = pos;
                life.last_batch = batch;
                if let Err(at) = usages[u.resource].binary_search(&usage) {
                    usages[u.resource].insert(at, usage);
                }
            }
        }
    }
    let transients: Vec<TransientTexture> = resources
        .iter()
        .enumerate()
        .filter_map(|(index, node)| match node.kind {
            ResourceKind::TransientTexture(desc) => Some(TransientTexture::new(
                TextureHandle {
                    graph: id,
                    index: index as u32,
                },
                node.name,
                desc,
                lifetimes[index],
                std::mem::take(&mut usages[index]),
            )),
            _ => None,
        })
        .collect();
    let (transients, slots) = alias::assign_slots(transients);

    // Barriers: walk the execution order, tracking each piece of memory's current use.
    let slot_of: HashMap<usize, usize> = transients
        .iter()
        .filter_map(|t| t.slot().map(|s| (t.texture().index(), s)))
        .collect();
    let mut compiled: Vec<CompiledPass> = Vec::with_capacity(passes.len());
    for (index, (pass, check)) in passes.into_iter().zip(checked).enumerate() {
        let culled = position[index].is_none();
        let access = access_of(&resources, &check, side_effects && !culled);
        let mut textures = Vec::new();
        let mut buffers = Vec::new();
        for u in &check.uses {
            match u.kind {
                UseKind::Texture(t) => {
                    textures.push((texture_handle(id, u.resource), t, u.writes));
                }
                UseKind::Buffer(b) => buffers.push((buffer_handle(id, u.resource), b)),
            }
        }
        textures.sort_by_key(|&(h, _, _)| h);
        buffers.sort_by_key(|&(h, _)| h);
        let resolve = |texture: TextureHandle| {
            let desc = resources[texture.index()]
                .texture_desc()
                .expect("attachments are textures");
            (desc, slot_of.get(&texture.index()).copied())
        };
        let colors = check
            .colors
            .iter()
            .map(|&attachment| {
                let (desc, slot) = resolve(attachment.texture);
                CompiledAttachment {
                    attachment,
                    desc,
                    slot,
                }
            })
            .collect();
        let depth = check.depth.map(|attachment| {
            let (desc, slot) = resolve(attachment.texture);
            CompiledAttachment {
                attachment,
                desc,
                slot,
            }
        });
        compiled.push(CompiledPass {
            id: pass_id(id, index),
            name: pass.name,
            culled,
            position: position[index],
            batch: batch_of[index],
            texture_writes: textures.iter().map(|&(_, _, w)| w).collect(),
            textures: textures.into_iter().map(|(h, u, _)| (h, u)).collect(),
            buffers,
            colors,
            depth,
            extent: check.extent,
            access,
            texture_barriers: Vec::new(),
            buffer_barriers: Vec::new(),
        });
    }
    // Each piece of memory's last use in the order: where the previous execution left it.
    let mut state = BarrierState::new(&resources, slots.len(), None);
    for &p in &order {
        state.before_pass(&mut compiled[p.index()].clone(), &slot_of);
    }
    let mut state = BarrierState::new(&resources, slots.len(), Some(&state));
    for &p in &order {
        state.before_pass(&mut compiled[p.index()], &slot_of);
    }
    let (final_textures, final_buffers) = state.finals(id, &resources);

    Ok(CompiledGraph {
        id,
        resources,
        passes: compiled,
        order,
        batches,
        plan,
        final_textures,
        final_buffers,
        transients,
        slots,
    })
}

/// A piece of memory whose use is tracked: an imported resource, or a transient slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Memory {
    Resource(usize),
    Slot(usize),
}

/// The current use of a piece of texture memory, and whether that use wrote it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct TextureState {
    usage: TextureUse,
    writes: bool,
}

impl TextureState {
    fn of(usage: TextureUse) -> Self {
        Self {
            usage,
            writes: usage.is_write(),
        }
    }
}

/// The current use of every piece of memory during the barrier walk.
struct BarrierState {
    textures: Vec<TextureState>,
    slots: Vec<TextureState>,
    buffers: Vec<Option<BufferUse>>,
    /// Whether the resource was used by a pass of the walk so far.
    used: Vec<bool>,
    /// Whether the first use of the resource discards its contents (transients, and imports in
    /// `Undefined` initial use).
    discards: Vec<bool>,
}

impl BarrierState {
    /// The state before the first pass. With `previous` (the state after a walk over the same
    /// order), transient slots and imports in `Undefined` initial use start in the use the
    /// previous execution left them in, so their first (discarding) barrier waits for it.
    fn new(resources: &[ResourceNode], slot_count: usize, previous: Option<&Self>) -> Self {
        let undefined = TextureState::of(TextureUse::Undefined);
        let mut textures = vec![undefined; resources.len()];
        let mut buffers = vec![None; resources.len()];
        let mut discards = vec![false; resources.len()];
        for (index, node) in resources.iter().enumerate() {
            match node.kind {
                ResourceKind::ImportedTexture(_, import) => {
                    textures[index] = TextureState::of(import.initial);
                    if import.initial == TextureUse::Undefined {
                        discards[index] = true;
                        if let Some(previous) = previous {
                            let last = previous.used[index].then(|| previous.textures[index]);
                            textures[index] = match last {
                                Some(last) if import.final_use == TextureUse::Undefined => last,
                                _ => TextureState::of(import.end_use(None)),
                            };
                        }
                    }
                }
                ResourceKind::ImportedBuffer(import) => buffers[index] = import.initial,
                ResourceKind::TransientTexture(_) => discards[index] = true,
            }
        }
        Self {
            textures,
            slots: previous.map_or_else(|| vec![undefined; slot_count], |p| p.slots.clone()),
            buffers,
            used: vec![false; resources.len()],
            discards,
        }
    }

    /// Appends to `pass` the barriers before it and moves every piece of memory it uses to its
    /// use (see [`CompiledGraph`]'s "Barriers").
    fn before_pass(&mut self, pass: &mut CompiledPass, slot_of: &HashMap<usize, usize>) {
        for (&(texture, usage), &writes) in pass.textures.iter().zip(&pass.texture_writes) {
            let memory = match slot_of.get(&texture.index()) {
                Some(&slot) => Memory::Slot(slot),
                None => Memory::Resource(texture.index()),
            };
            let first_discard = !self.used[texture.index()] && self.discards[texture.index()];
            self.used[texture.index()] = true;
            let before = self.texture(memory);
            if first_discard || texture_needs_barrier(before.usage, before.writes, usage, writes) {
                pass.texture_barriers.push(TextureBarrier {
                    texture,
                    before: before.usage,
                    after: usage,
                    discard: first_discard || before.usage == TextureUse::Undefined,
                });
            }
            self.set_texture(memory, TextureState { usage, writes });
        }
        for &(buffer, usage) in &pass.buffers {
            if let Some(before) = self.buffers[buffer.index()] {
                if buffer_needs_barrier(before, usage) {
                    pass.buffer_barriers.push(BufferBarrier {
                        buffer,
                        before,
                        after: usage,
                    });
                }
            }
            self.buffers[buffer.index()] = Some(usage);
        }
    }

    /// The barriers after the last pass: each import moved to its final use. An import in
    /// `Undefined` initial use that no pass used is still moved out of the undefined layout.
    fn finals(
        &self,
        id: u32,
        resources: &[ResourceNode],
    ) -> (Vec<TextureBarrier>, Vec<BufferBarrier>) {
        let mut final_textures = Vec::new();
        let mut final_buffers = Vec::new();
        for (index, node) in resources.iter().enumerate() {
            match node.kind {
                ResourceKind::ImportedTexture(_, import) => {
                    let before = self.texture(Memory::Resource(index)).usage;
                    let discard = self.discards[index] && !self.used[index];
                    if import.final_use != TextureUse::Undefined
                        && (before != import.final_use || discard)
                    {
                        final_textures.push(TextureBarrier {
                            texture: texture_handle(id, index),
                            before,
                            after: import.final_use,
                            discard: discard || before == TextureUse::Undefined,
                        });
                    }
                }
                ResourceKind::ImportedBuffer(import) => {
                    if let (Some(before), Some(after)) = (self.buffers[index], import.final_use) {
                        if before != after {
                            final_buffers.push(BufferBarrier {
                                buffer: buffer_handle(id, index),
                                before,
                                after,
                            });
                        }
                    }
                }
                ResourceKind::TransientTexture(_) => {}
            }
        }
        (final_textures, final_buffers)
    }

    fn texture(&self, memory: Memory) -> TextureState {
        match memory {
            Memory::Resource(i) => self.textures[i],
            Memory::Slot(s) => self.slots[s],
        }
    }

    fn set_texture(&mut self, memory: Memory, state: TextureState) {
        match memory {
            Memory::Resource(i) => self.textures[i] = state,
            Memory::Slot(s) => self.slots[s] = state,
        }
    }
}

fn pass_id(graph: u32, index: usize) -> PassId {
    PassId {
        graph,
        index: index as u32,
    }
}

fn texture_handle(graph: u32, index: usize) -> TextureHandle {
    TextureHandle {
        graph,
        index: index as u32,
    }
}

fn buffer_handle(graph: u32, index: usize) -> BufferHandle {
    BufferHandle {
        graph,
        index: index as u32,
    }
}

/// The planner's view of a pass; with `side_effects`, a `never_cull` pass writes the
/// side-effect id and any other pass reads it.
fn access_of(resources: &[ResourceNode], check: &Checked, side_effects: bool) -> ResourceAccess {
    let mut access = ResourceAccess::new();
    if side_effects {
        let id = ResourceId::dynamic(SIDE_EFFECTS_SPACE, 0, "side effects");
        if check.never_cull {
            access.add_write(id);
        } else {
            access.add_read(id);
        }
    }
    for u in &check.uses {
        let id = resource_id(u.resource, &resources[u.resource]);
        if u.writes {
            access.add_write(id);
        } else {
            access.add_read(id);
        }
    }
    access
}

/// The passes to keep, in declaration order.
///
/// Backwards over the declaration order (as Frostbite's FrameGraph culls by reference counting,
/// O'Donnell, "FrameGraph: Extensible Rendering Architecture in Frostbite", GDC 2017), keeping a
/// set of resources whose current contents are still needed, starting with every imported
/// resource: a pass is kept when it is marked `never_cull` or stores a write to a needed resource.
/// A kept pass's writes that overwrite everything (clears, `DontCare` loads) make the earlier
/// contents unneeded; everything it may read becomes needed.
fn cull(resources: &[ResourceNode], checked: &[Checked]) -> Vec<usize> {
    let mut needed: Vec<bool> = resources.iter().map(ResourceNode::is_imported).collect();
    let mut keep = vec![false; checked.len()];
    for (p, check) in checked.iter().enumerate().rev() {
        keep[p] = check.never_cull
            || check
                .uses
                .iter()
                .any(|u| u.writes && u.stores && needed[u.resource]);
        if !keep[p] {
            continue;
        }
        for u in &check.uses {
            if u.writes && !u.may_read_previous {
                needed[u.resource] = false;
            }
        }
        for u in &check.uses {
            if u.may_read_previous {
                needed[u.resource] = true;
            }
        }
    }
    (0..checked.len()).filter(|&p| keep[p]).collect()
}
