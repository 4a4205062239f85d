//! The compile step: validation, culling, ordering by `macrokid_core`'s planner, barriers.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::fmt;

use macrokid_core::{Plan, ResourceAccess, ResourceId, StageDescriptor, SystemDescriptor};

use super::alias::{self, Lifetime, TextureSlot, TransientTexture};
use super::builder::{PassFn, PassId, RenderGraph};
use super::check::{check_defined, check_pass, check_resources, Checked, UseKind};
use super::error::GraphError;
use super::resource::{
    BufferHandle, ColorAttachment, DepthAttachment, ResourceKind, ResourceNode, TextureHandle,
};
use crate::{BufferUse, TextureUse};

/// The [`ResourceId::dynamic`] namespace of render-graph resources.
pub const RESOURCE_SPACE: &str = "render-graph";

/// The name of the single planner stage that holds a graph's passes.
const STAGE: &str = "render-graph";

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
    /// The use to wait for: the texture's previous use, or, at the first use of a transient, the
    /// last use of the slot's previous occupant ([`TextureUse::Undefined`] when the slot is
    /// fresh in this graph). Memory aliasing needs that wait (Vulkan spec §12.9 "Memory
    /// Aliasing").
    pub before: TextureUse,
    /// The use the next pass makes of it.
    pub after: TextureUse,
    /// The old contents need not be kept: the backend transitions from the undefined layout
    /// (`VK_IMAGE_LAYOUT_UNDEFINED`) while still waiting for `before`. True at the first use of
    /// every transient and whenever `before` is `Undefined`.
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
    buffers: Vec<(BufferHandle, BufferUse)>,
    colors: Vec<ColorAttachment>,
    depth: Option<DepthAttachment>,
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

    /// The colour attachments, by location.
    pub fn color_attachments(&self) -> &[ColorAttachment] {
        &self.colors
    }

    /// The depth attachment, if any.
    pub fn depth_attachment(&self) -> Option<&DepthAttachment> {
        self.depth.as_ref()
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
    /// [`RESOURCE_SPACE`] namespace, indexed by resource declaration index; writing uses are
    /// writes, the others reads.
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
/// once per frame).
///
/// # Ordering
/// The kept passes are the systems of one planner stage, in declaration order; the planner
/// splits them into batches greedily: each pass joins the batch right after the last batch
/// holding a pass it conflicts with (one writes a resource the other uses). So conflicting passes
/// execute in declaration order and conflict-free passes share a batch, whose passes may
/// *record* in parallel. [`order`](Self::order) is the batches concatenated, each batch in
/// declaration order; passes *execute* in that order, each after its own barriers.
///
/// # Barriers
/// Walking [`order`](Self::order), every use of a resource is compared with the previous use of
/// the same memory (the import's `initial` use, or the previous occupant of a transient's slot):
/// a barrier is issued when either use writes or the uses differ (a layout or access change);
/// two consecutive reads in the same use need none. The first use of a transient always gets
/// one (with `discard`). After the last pass each imported resource is moved to its `final_use`
/// when it is not already in it.
pub struct CompiledGraph<C> {
    pub(super) id: u32,
    pub(super) resources: Vec<ResourceNode>,
    pub(super) passes: Vec<CompiledPass>,
    pub(super) callbacks: Vec<Option<PassFn<C>>>,
    pub(super) order: Vec<PassId>,
    pub(super) batches: Vec<Vec<PassId>>,
    pub(super) plan: Plan,
    pub(super) final_textures: Vec<TextureBarrier>,
    pub(super) final_buffers: Vec<BufferBarrier>,
    pub(super) transients: Vec<TransientTexture>,
    pub(super) slots: Vec<TextureSlot>,
}

impl<C> fmt::Debug for CompiledGraph<C> {
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

impl<C> CompiledGraph<C> {
    /// Every pass, culled ones included, in declaration order (indexed by [`PassId::index`]).
    pub fn passes(&self) -> &[CompiledPass] {
        &self.passes
    }

    /// The pass `id`.
    ///
    /// # Panics
    /// When `id` comes from another graph with more passes than this one.
    pub fn pass(&self, id: PassId) -> &CompiledPass {
        &self.passes[id.index()]
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
pub(super) fn texture_needs_barrier(before: TextureUse, after: TextureUse) -> bool {
    before != after || before.is_write() || after.is_write()
}

/// Whether moving from `before` to `after` needs a barrier (as for textures).
pub(super) fn buffer_needs_barrier(before: BufferUse, after: BufferUse) -> bool {
    before != after || before.is_write() || after.is_write()
}

pub(super) fn compile<C>(graph: RenderGraph<C>) -> Result<CompiledGraph<C>, GraphError> {
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

    // Order the kept passes with the planner: one stage, the passes as systems.
    let descriptors = kept.iter().map(|&p| {
        SystemDescriptor::new(passes[p].name.clone(), access_of(&resources, &checked[p]))
    });
    let plan = Plan::build([StageDescriptor::new(STAGE).with_systems(descriptors)])?;
    let stage = plan
        .stage(STAGE)
        .expect("the plan holds the one stage it was built from");
    let batches: Vec<Vec<PassId>> = stage
        .batches()
        .iter()
        .map(|b| b.systems().iter().map(|&s| pass_id(kept[s])).collect())
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
    let mut state = BarrierState::new(&resources, slots.len());
    let mut compiled: Vec<CompiledPass> = Vec::with_capacity(passes.len());
    let mut callbacks = Vec::with_capacity(passes.len());
    for (index, (pass, check)) in passes.into_iter().zip(checked).enumerate() {
        let access = access_of(&resources, &check);
        let mut textures = Vec::new();
        let mut buffers = Vec::new();
        for u in &check.uses {
            match u.kind {
                UseKind::Texture(t) => textures.push((texture_handle(id, u.resource), t)),
                UseKind::Buffer(b) => buffers.push((buffer_handle(id, u.resource), b)),
            }
        }
        textures.sort_by_key(|&(h, _)| h);
        buffers.sort_by_key(|&(h, _)| h);
        compiled.push(CompiledPass {
            id: pass_id(index),
            name: pass.name,
            culled: position[index].is_none(),
            position: position[index],
            batch: batch_of[index],
            textures,
            buffers,
            colors: check.colors,
            depth: check.depth,
            extent: check.extent,
            access,
            texture_barriers: Vec::new(),
            buffer_barriers: Vec::new(),
        });
        callbacks.push(pass.record);
    }
    for &p in &order {
        state.before_pass(&mut compiled[p.index()], &slot_of);
    }
    let (final_textures, final_buffers) = state.finals(id, &resources);

    Ok(CompiledGraph {
        id,
        resources,
        passes: compiled,
        callbacks,
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

/// The current use of every piece of memory during the barrier walk.
struct BarrierState {
    textures: Vec<TextureUse>,
    slots: Vec<TextureUse>,
    buffers: Vec<Option<BufferUse>>,
    used: Vec<bool>,
}

impl BarrierState {
    fn new(resources: &[ResourceNode], slot_count: usize) -> Self {
        let mut textures = vec![TextureUse::Undefined; resources.len()];
        let mut buffers = vec![None; resources.len()];
        for (index, node) in resources.iter().enumerate() {
            match node.kind {
                ResourceKind::ImportedTexture(_, import) => textures[index] = import.initial,
                ResourceKind::ImportedBuffer(import) => buffers[index] = import.initial,
                ResourceKind::TransientTexture(_) => {}
            }
        }
        Self {
            textures,
            slots: vec![TextureUse::Undefined; slot_count],
            buffers,
            used: vec![false; resources.len()],
        }
    }

    /// Appends to `pass` the barriers before it and moves every piece of memory it uses to its
    /// use (see [`CompiledGraph`]'s "Barriers").
    fn before_pass(&mut self, pass: &mut CompiledPass, slot_of: &HashMap<usize, usize>) {
        for &(texture, usage) in &pass.textures {
            let memory = match slot_of.get(&texture.index()) {
                Some(&slot) => Memory::Slot(slot),
                None => Memory::Resource(texture.index()),
            };
            let first_use = !self.used[texture.index()];
            self.used[texture.index()] = true;
            let transient = matches!(memory, Memory::Slot(_));
            let before = self.texture(memory);
            if (transient && first_use) || texture_needs_barrier(before, usage) {
                pass.texture_barriers.push(TextureBarrier {
                    texture,
                    before,
                    after: usage,
                    discard: (transient && first_use) || before == TextureUse::Undefined,
                });
            }
            self.set_texture(memory, usage);
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

    /// The barriers after the last pass: each import moved to its final use.
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
                    let before = self.texture(Memory::Resource(index));
                    if import.final_use != TextureUse::Undefined && before != import.final_use {
                        final_textures.push(TextureBarrier {
                            texture: texture_handle(id, index),
                            before,
                            after: import.final_use,
                            discard: before == TextureUse::Undefined,
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

    fn texture(&self, memory: Memory) -> TextureUse {
        match memory {
            Memory::Resource(i) => self.textures[i],
            Memory::Slot(s) => self.slots[s],
        }
    }

    fn set_texture(&mut self, memory: Memory, usage: TextureUse) {
        match memory {
            Memory::Resource(i) => self.textures[i] = usage,
            Memory::Slot(s) => self.slots[s] = usage,
        }
    }
}

fn pass_id(index: usize) -> PassId {
    PassId(index as u32)
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

fn access_of(resources: &[ResourceNode], check: &Checked) -> ResourceAccess {
    let mut access = ResourceAccess::new();
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
