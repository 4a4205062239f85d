//! The hardware abstraction layer: [`RenderBackend`] and its per-object traits, in the shape of
//! wgpu-hal's `Api` (associated types only, static dispatch), with descriptor structs for
//! every object and command.
//!
//! The traits are building blocks, not scenes: buffers, textures, views, samplers, shader
//! modules, descriptor-set and pipeline layouts, render pipelines, command encoders that
//! record rendering, binds, push constants, draws, copies and barriers, a queue that submits
//! and timeline fences that say how far the GPU got. The renderer
//! ([`Renderer`](crate::Renderer)) and its passes are written against these traits only; the
//! Vulkan backend ([`crate::vulkan::Vulkan`]) is the one implementation.
//!
//! # Safety model (as wgpu-hal)
//! Creating objects is safe. Recording is `unsafe`: a command is valid only in the state the
//! command's `# Safety` section names (inside or outside rendering, pipeline bound, resources
//! in the right [`TextureUse`]/[`BufferUse`]). Objects are reference-counted by the backend: a
//! command buffer keeps every object it recorded alive, and [`Queue::submit`] hands those
//! references to the fence, which drops them once the GPU passed the signalled value. Dropping
//! any object is therefore always safe; what the caller must guarantee is the order of
//! commands and that host writes do not race the GPU.
//!
//! # Synchronisation
//! Barriers are stated as uses ([`TextureBarrier`], [`BufferBarrier`] with a `before` and an
//! `after` [`TextureUse`]/[`BufferUse`]); the backend maps each use to pipeline stages, access
//! masks and image layouts (Vulkan: synchronization2, see `vulkan/conv.rs`). Frames and uploads
//! are paced by a timeline [`Fence`] (Vulkan timeline semaphores, Vulkan spec §7.4.1).
#![expect(
    unsafe_code,
    reason = "the HAL declares unsafe functions whose contracts the renderer upholds"
)]

use std::fmt::Debug;
use std::ops::Range;
use std::time::Duration;

use crate::{
    AdapterInfo, BufferUse, DeviceError, GraphicsError, TextureFormat, TextureUse, ValidationCounts,
};

/// A graphics backend: the set of GPU object types, each bound by its own small trait.
///
/// Every type is chosen at compile time (static dispatch), so a `Renderer<B>` is `Send`/`Sync`
/// exactly when the backend's types are. Nothing outside the backend's module names an API type.
pub trait RenderBackend: Send + Sync + Sized + Debug + 'static {
    /// Short backend name, e.g. `"vulkan"`.
    const NAME: &'static str;
    /// The API instance (loader, validation, debug messenger).
    type Instance: Instance<Self>;
    /// A physical device.
    type Adapter: Adapter<Self>;
    /// A logical device with its memory allocator.
    type Device: Device<Self>;
    /// The graphics queue.
    type Queue: Queue<Self>;
    /// Records command buffers from a command pool it owns.
    type CommandEncoder: CommandEncoder<Self>;
    /// A finished command buffer (primary or secondary).
    type CommandBuffer: CommandBuffer;
    /// A GPU buffer.
    type Buffer: Buffer;
    /// A GPU image.
    type Texture: Texture;
    /// A view of a whole texture, as attachments and descriptors see it.
    type TextureView: TextureView;
    /// A sampler.
    type Sampler: Sampler;
    /// A SPIR-V shader module.
    type ShaderModule: ShaderModule;
    /// The layout of one descriptor set (bind group layout).
    type DescriptorSetLayout: DescriptorSetLayout;
    /// Descriptor-set layouts plus push-constant ranges.
    type PipelineLayout: PipelineLayout;
    /// A graphics pipeline.
    type RenderPipeline: RenderPipeline;
    /// A timeline fence: a `u64` the GPU raises as submissions complete.
    type Fence: Fence;
    /// A pipeline cache whose data can be saved and given to the next run.
    type PipelineCache: PipelineCache;
    /// A descriptor set (bind group) with its own pool.
    type DescriptorSet: DescriptorSet;
    /// A set of GPU timestamp queries.
    type QuerySet: QuerySet;
}

// --- per-object traits -------------------------------------------------------------------

/// The API instance.
pub trait Instance<B: RenderBackend>: Send + Sync + Sized {
    /// Creates the instance.
    ///
    /// # Errors
    /// [`EnvironmentError`](crate::EnvironmentError) for a missing loader, layer or extension;
    /// [`DeviceError`] for driver failures.
    fn init(desc: &InstanceDesc<'_>) -> Result<Self, GraphicsError>;
    /// Warnings and errors reported by validation so far (zero when validation is off).
    fn validation_counts(&self) -> ValidationCounts;
    /// Picks an adapter: the one whose name contains `preference.0` (case-insensitive) if
    /// given (`preference.1` names where the request came from, for the error), else the best
    /// by kind (discrete > integrated > virtual > CPU).
    ///
    /// # Errors
    /// [`EnvironmentError::NoAdapter`](crate::EnvironmentError::NoAdapter) or
    /// [`EnvironmentError::AdapterNotFound`](crate::EnvironmentError::AdapterNotFound).
    fn select_adapter(
        &self,
        preference: Option<(&str, &'static str)>,
    ) -> Result<B::Adapter, GraphicsError>;
}

/// A physical device.
pub trait Adapter<B: RenderBackend>: Send + Sync {
    /// Name, kind, driver and API version.
    fn info(&self) -> AdapterInfo;
    /// Optional capabilities the renderer chooses paths by.
    fn capabilities(&self) -> Capabilities;
    /// Opens a device and its graphics queue.
    ///
    /// # Errors
    /// Driver failures and out-of-memory.
    ///
    /// # Safety
    /// `self` was selected from `instance`.
    unsafe fn open(&self, instance: &B::Instance) -> Result<(B::Device, B::Queue), GraphicsError>;
}

/// Optional device capabilities.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Capabilities {
    /// Descriptors can be pushed into command buffers (`VK_KHR_push_descriptor`).
    pub push_descriptors: bool,
    /// Runtime descriptor arrays, partially bound, non-uniform sampled-image indexing.
    pub descriptor_indexing: bool,
    /// Nanoseconds per timestamp tick, when the graphics queue supports timestamps.
    pub timestamp_period_ns: Option<f32>,
}

/// A logical device: creates every object.
pub trait Device<B: RenderBackend>: Send + Sync {
    /// Creates a buffer.
    ///
    /// # Errors
    /// Out-of-memory.
    fn create_buffer(&self, desc: &BufferDesc<'_>) -> Result<B::Buffer, DeviceError>;
    /// Writes `bytes` at `offset` into a host-visible buffer and flushes them.
    ///
    /// # Errors
    /// Out-of-memory while flushing.
    ///
    /// # Panics
    /// When the buffer is not host-visible or the write exceeds it.
    ///
    /// # Safety
    /// No submission that reads or writes the range is pending (its fence value was reached)
    /// and no command buffer recorded with the old contents in mind is submitted afterwards.
    unsafe fn write_buffer(
        &self,
        buffer: &B::Buffer,
        offset: u64,
        bytes: &[u8],
    ) -> Result<(), DeviceError>;
    /// Copies `len` bytes at `offset` of a host-visible buffer into `out` (replacing its contents).
    ///
    /// # Errors
    /// Out-of-memory while invalidating caches.
    ///
    /// # Panics
    /// When the buffer is not host-visible or the read exceeds it.
    ///
    /// # Safety
    /// The GPU writes to the range finished (their fence value was reached) and were made
    /// visible to the host ([`BufferUse::HostRead`]).
    unsafe fn read_buffer(
        &self,
        buffer: &B::Buffer,
        offset: u64,
        len: usize,
        out: &mut Vec<u8>,
    ) -> Result<(), DeviceError>;
    /// Creates a 2D texture.
    ///
    /// # Errors
    /// Out-of-memory.
    fn create_texture(&self, desc: &TextureDesc<'_>) -> Result<B::Texture, DeviceError>;
    /// Creates one texture per description, all bound to the start of **one** memory
    /// allocation large and aligned enough for each (memory aliasing, Vulkan spec §12.9
    /// "Memory Aliasing"), for transients whose lifetimes do not overlap (see
    /// [`TextureSlot`](crate::graph::TextureSlot)). Writing one texture makes the contents of the
    /// others undefined: the caller orders their uses with barriers and discards the contents at
    /// each texture's first use ([`TextureBarrier::discard`]). The memory is freed when the last
    /// of the textures is gone. When the textures have no memory type in common they get
    /// allocations of their own (they then do not alias; [`Texture::memory_binding`] tells).
    ///
    /// # Errors
    /// Out-of-memory.
    fn create_aliased_textures(
        &self,
        descs: &[TextureDesc<'_>],
    ) -> Result<Vec<B::Texture>, DeviceError>;
    /// Creates a view of the whole texture.
    ///
    /// # Errors
    /// Out-of-memory.
    fn create_texture_view(
        &self,
        texture: &B::Texture,
        desc: &TextureViewDesc<'_>,
    ) -> Result<B::TextureView, DeviceError>;
    /// Creates a sampler.
    ///
    /// # Errors
    /// Out-of-memory.
    fn create_sampler(&self, desc: &SamplerDesc) -> Result<B::Sampler, DeviceError>;
    /// Creates a shader module from SPIR-V.
    ///
    /// # Errors
    /// [`UsageError::InvalidShader`](crate::UsageError::InvalidShader) when the bytes are not
    /// SPIR-V; out-of-memory.
    fn create_shader_module(
        &self,
        desc: &ShaderModuleDesc<'_>,
    ) -> Result<B::ShaderModule, GraphicsError>;
    /// Creates a descriptor-set layout.
    ///
    /// # Errors
    /// Out-of-memory.
    fn create_descriptor_set_layout(
        &self,
        desc: &DescriptorSetLayoutDesc<'_>,
    ) -> Result<B::DescriptorSetLayout, DeviceError>;
    /// Creates a descriptor set of `layout` (from a pool of its own, sized for the layout).
    ///
    /// # Errors
    /// Out-of-memory.
    fn create_descriptor_set(
        &self,
        layout: &B::DescriptorSetLayout,
        label: &str,
    ) -> Result<B::DescriptorSet, DeviceError>;
    /// Writes descriptors into `set`; the set keeps the written resources alive until the
    /// element is written again.
    ///
    /// # Safety
    /// Each write matches its binding's type and lies within its array; no pending command
    /// buffer uses a written element (a [`DescriptorSetLayoutDesc::bindless`] set may be bound
    /// in pending buffers that do not use it; any other set must not be bound in one);
    /// textures are in [`TextureUse::Sampled`] when draws using them execute.
    unsafe fn write_descriptors(&self, set: &B::DescriptorSet, writes: &[DescriptorWrite<'_, B>]);
    /// Lets `set` drop the resources it keeps for `elements` of `binding`; those descriptors
    /// become invalid until written again.
    ///
    /// # Safety
    /// No pending command buffer uses the elements, and no draw uses them before they are
    /// written again (the binding must be partially bound for the set to stay bindable).
    unsafe fn release_descriptors(&self, set: &B::DescriptorSet, binding: u32, elements: &[u32]);
    /// Creates a pipeline layout.
    ///
    /// # Errors
    /// Out-of-memory.
    fn create_pipeline_layout(
        &self,
        desc: &PipelineLayoutDesc<'_, B>,
    ) -> Result<B::PipelineLayout, DeviceError>;
    /// Creates a graphics pipeline for dynamic rendering.
    ///
    /// # Errors
    /// Out-of-memory.
    fn create_render_pipeline(
        &self,
        desc: &RenderPipelineDesc<'_, B>,
    ) -> Result<B::RenderPipeline, DeviceError>;
    /// Creates a pipeline cache, seeded with `initial` (data from
    /// [`Device::pipeline_cache_data`] of an earlier run) when that data belongs to this device
    /// and driver; returns whether it was used. Other data is ignored, never an error.
    ///
    /// # Errors
    /// Out-of-memory.
    fn create_pipeline_cache(
        &self,
        initial: &[u8],
    ) -> Result<(B::PipelineCache, bool), DeviceError>;
    /// The cache's data, to save for the next run.
    ///
    /// # Errors
    /// Out-of-memory.
    fn pipeline_cache_data(&self, cache: &B::PipelineCache) -> Result<Vec<u8>, DeviceError>;
    /// Creates `count` timestamp queries.
    ///
    /// # Errors
    /// Out-of-memory.
    fn create_timestamp_queries(&self, count: u32) -> Result<B::QuerySet, DeviceError>;
    /// Reads timestamps `first..first + count` (in ticks; multiply by
    /// [`Capabilities::timestamp_period_ns`]).
    ///
    /// # Errors
    /// Device lost.
    ///
    /// # Safety
    /// The submission that wrote them completed (its fence value was reached).
    unsafe fn read_timestamps(
        &self,
        set: &B::QuerySet,
        first: u32,
        count: u32,
    ) -> Result<Vec<u64>, DeviceError>;
    /// Creates a command encoder with its own command pool.
    ///
    /// # Errors
    /// Out-of-memory.
    fn create_command_encoder(
        &self,
        desc: &CommandEncoderDesc<'_>,
    ) -> Result<B::CommandEncoder, DeviceError>;
    /// Creates a timeline fence with value 0.
    ///
    /// # Errors
    /// Out-of-memory.
    fn create_fence(&self) -> Result<B::Fence, DeviceError>;
    /// The value the GPU has reached on `fence`; releases the objects kept alive for every
    /// submission up to it.
    ///
    /// # Errors
    /// Device lost.
    fn fence_value(&self, fence: &B::Fence) -> Result<u64, DeviceError>;
    /// Waits until `fence` reaches `value` or `timeout` passes (`None`: no limit). Returns
    /// whether the value was reached.
    ///
    /// # Errors
    /// Device lost.
    ///
    /// # Safety
    /// With `timeout == None`, a submission that signals at least `value` was made (else the
    /// call never returns).
    unsafe fn wait(
        &self,
        fence: &B::Fence,
        value: u64,
        timeout: Option<Duration>,
    ) -> Result<bool, DeviceError>;
    /// Waits until the device is idle.
    ///
    /// # Errors
    /// Device lost.
    fn wait_idle(&self) -> Result<(), DeviceError>;
    /// Live device-memory allocations (for leak checks: it returns to its earlier value once
    /// what was allocated since is destroyed).
    fn allocation_count(&self) -> u64;
}

/// The queue that executes command buffers.
pub trait Queue<B: RenderBackend>: Send + Sync {
    /// Submits `command_buffers` in order and signals `signal.0` to `signal.1` when they
    /// completed. The objects the buffers recorded stay alive until the fence reaches the value.
    ///
    /// # Errors
    /// Out-of-memory, device lost. After an error nothing signals the value.
    ///
    /// # Safety
    /// - every buffer is a primary buffer ended by an encoder of this queue's device, and each
    ///   is submitted once; their encoders are not reset before the fence reaches `signal.1`;
    /// - `signal.1` is greater than every value signalled on the fence before;
    /// - the buffers' barriers order them after earlier submissions that touch the same memory.
    unsafe fn submit(
        &self,
        command_buffers: Vec<B::CommandBuffer>,
        signal: (&B::Fence, u64),
    ) -> Result<(), DeviceError>;
}

/// Records command buffers on the current thread from a command pool it owns.
///
/// An encoder is `Send` so an idle one can move between threads; it is used by one thread at a
/// time (`&mut self`).
pub trait CommandEncoder<B: RenderBackend>: Send {
    /// Begins a primary command buffer.
    ///
    /// # Errors
    /// Out-of-memory.
    ///
    /// # Safety
    /// The encoder is not recording.
    unsafe fn begin_encoding(&mut self, label: Option<&str>) -> Result<(), DeviceError>;
    /// Begins a secondary command buffer that continues rendering into targets of `formats`
    /// (dynamic-rendering inheritance). Viewport and scissor are not inherited: set them.
    ///
    /// # Errors
    /// Out-of-memory.
    ///
    /// # Safety
    /// The encoder is not recording.
    unsafe fn begin_secondary(
        &mut self,
        formats: &RenderTargetFormats<'_>,
    ) -> Result<(), DeviceError>;
    /// Ends recording.
    ///
    /// # Errors
    /// Out-of-memory.
    ///
    /// # Safety
    /// The encoder is recording and not inside rendering begun by this buffer.
    unsafe fn end_encoding(&mut self) -> Result<B::CommandBuffer, DeviceError>;
    /// Returns every command buffer of the pool to the initial state for reuse; a recording
    /// left unfinished is discarded.
    ///
    /// # Safety
    /// No command buffer it ended is pending on the GPU (their
    /// submissions' fence values were reached) or will be submitted or executed afterwards.
    unsafe fn reset_all(&mut self) -> Result<(), DeviceError>;
    /// Records barriers between uses of textures (and the layout transitions they imply).
    ///
    /// # Safety
    /// Recording, outside rendering; each texture is in its `before` use.
    unsafe fn texture_barriers(&mut self, barriers: &[TextureBarrier<'_, B>]);
    /// Records barriers between uses of buffers.
    ///
    /// # Safety
    /// Recording, outside rendering; each buffer is in its `before` use.
    unsafe fn buffer_barriers(&mut self, barriers: &[BufferBarrier<'_, B>]);
    /// Copies byte ranges between buffers.
    ///
    /// # Safety
    /// Recording, outside rendering; `src` in [`BufferUse::TransferSrc`], `dst` in
    /// [`BufferUse::TransferDst`]; the regions lie within both buffers.
    unsafe fn copy_buffer_to_buffer(
        &mut self,
        src: &B::Buffer,
        dst: &B::Buffer,
        regions: &[BufferCopy],
    );
    /// Copies texels from a buffer into a texture.
    ///
    /// # Safety
    /// Recording, outside rendering; `src` in [`BufferUse::TransferSrc`], `dst` in
    /// [`TextureUse::TransferDst`]; the regions lie within both.
    unsafe fn copy_buffer_to_texture(
        &mut self,
        src: &B::Buffer,
        dst: &B::Texture,
        regions: &[BufferTextureCopy],
    );
    /// Copies texels from a texture into a buffer.
    ///
    /// # Safety
    /// Recording, outside rendering; `src` in [`TextureUse::TransferSrc`], `dst` in
    /// [`BufferUse::TransferDst`]; the regions lie within both.
    unsafe fn copy_texture_to_buffer(
        &mut self,
        src: &B::Texture,
        dst: &B::Buffer,
        regions: &[BufferTextureCopy],
    );
    /// Copies the whole of `src` into `dst` (both `size` = `(width, height)` texels), converting
    /// between colour formats (e.g. RGBA8 into a BGRA8 swapchain image); nearest filtering.
    ///
    /// # Safety
    /// Recording, outside rendering; `src` in [`TextureUse::TransferSrc`], `dst` in
    /// [`TextureUse::TransferDst`]; both colour textures at least `size` large.
    unsafe fn blit_texture(&mut self, src: &B::Texture, dst: &B::Texture, size: (u32, u32));
    /// Begins dynamic rendering into the attachments of `desc`.
    ///
    /// # Safety
    /// Recording a primary buffer, outside rendering; colour attachments in
    /// [`TextureUse::ColorAttachment`], the depth attachment in
    /// [`TextureUse::DepthStencilAttachment`]; all the same size as `desc.extent`.
    unsafe fn begin_rendering(&mut self, desc: &RenderingDesc<'_, B>);
    /// Ends rendering.
    ///
    /// # Safety
    /// Inside rendering begun by this buffer.
    unsafe fn end_rendering(&mut self);
    /// Executes secondary buffers in slice order; they stay alive with this buffer.
    ///
    /// # Safety
    /// Inside rendering begun with [`RenderingContents::Secondaries`]; every buffer is a
    /// secondary begun with the formats of the current attachments and is executed once.
    unsafe fn execute_secondaries(&mut self, buffers: Vec<B::CommandBuffer>);
    /// Sets the viewport (`x, y, width, height` in pixels, depth `0..1`) and a scissor of the
    /// same rectangle.
    ///
    /// # Safety
    /// Recording.
    unsafe fn set_viewport(&mut self, rect: [f32; 4]);
    /// Binds a render pipeline.
    ///
    /// # Safety
    /// Inside rendering whose attachment formats match the pipeline's.
    unsafe fn set_render_pipeline(&mut self, pipeline: &B::RenderPipeline);
    /// Writes push constants at `offset` (bytes) for `stages`.
    ///
    /// # Safety
    /// Recording; the range lies within a push-constant range of `layout` for `stages`.
    unsafe fn set_push_constants(
        &mut self,
        layout: &B::PipelineLayout,
        stages: ShaderStages,
        offset: u32,
        data: &[u8],
    );
    /// Pushes descriptors into set `set` of `layout` (no descriptor set object).
    ///
    /// # Safety
    /// Recording; the adapter has [`Capabilities::push_descriptors`]; set `set` of `layout`
    /// was created with [`DescriptorSetLayoutDesc::push`]; each write matches its binding's
    /// type; textures are in [`TextureUse::Sampled`] when the draws execute.
    unsafe fn push_descriptors(
        &mut self,
        layout: &B::PipelineLayout,
        set: u32,
        writes: &[DescriptorWrite<'_, B>],
    );
    /// Resets `queries` of `set` so they can be written again.
    ///
    /// # Safety
    /// Recording, outside rendering; no pending submission writes them.
    unsafe fn reset_queries(&mut self, set: &B::QuerySet, queries: Range<u32>);
    /// Writes the GPU time when all earlier commands completed into query `index`.
    ///
    /// # Safety
    /// Recording; the adapter has timestamps; the query was reset since it was last written.
    unsafe fn write_timestamp(&mut self, set: &B::QuerySet, index: u32);
    /// Opens a named region (a pass) for debuggers and validation messages (VK_EXT_debug_utils
    /// labels; nothing without the extension).
    ///
    /// # Safety
    /// Recording.
    unsafe fn begin_debug_label(&mut self, name: &str);
    /// Closes the innermost region opened by [`CommandEncoder::begin_debug_label`].
    ///
    /// # Safety
    /// Recording, with a region open in this command buffer.
    unsafe fn end_debug_label(&mut self);
    /// Binds `descriptor_set` as set `index` of `layout`.
    ///
    /// # Safety
    /// Recording; the set's layout is set `index` of `layout`; the elements the draws use were
    /// written (partially bound sets may leave others unwritten).
    unsafe fn bind_descriptor_set(
        &mut self,
        layout: &B::PipelineLayout,
        index: u32,
        descriptor_set: &B::DescriptorSet,
    );
    /// Binds a vertex buffer to `slot` at byte `offset`.
    ///
    /// # Safety
    /// Recording; the buffer was created with [`BufferUsages::VERTEX`].
    unsafe fn set_vertex_buffer(&mut self, slot: u32, buffer: &B::Buffer, offset: u64);
    /// Binds a `u32` index buffer at byte `offset`.
    ///
    /// # Safety
    /// Recording; the buffer was created with [`BufferUsages::INDEX`].
    unsafe fn set_index_buffer(&mut self, buffer: &B::Buffer, offset: u64);
    /// Draws `vertices` for `instances`.
    ///
    /// # Safety
    /// Inside rendering (or a secondary continuing it), a pipeline, its vertex buffers and
    /// descriptors bound; the ranges lie within the bound buffers.
    unsafe fn draw(&mut self, vertices: Range<u32>, instances: Range<u32>);
    /// Draws `indices` (added to `base_vertex`) for `instances`.
    ///
    /// # Safety
    /// As [`CommandEncoder::draw`], plus an index buffer bound.
    unsafe fn draw_indexed(&mut self, indices: Range<u32>, base_vertex: i32, instances: Range<u32>);
    /// Draws `count` indexed draws whose arguments (`VkDrawIndexedIndirectCommand`, 20 bytes:
    /// index count, instance count, first index, vertex offset, first instance) are read from
    /// `buffer` at `offset`, `stride` bytes apart.
    ///
    /// # Safety
    /// As [`CommandEncoder::draw_indexed`]; `buffer` has [`BufferUsages::INDIRECT`] and is in
    /// [`BufferUse::Indirect`]; the arguments lie within it.
    unsafe fn draw_indexed_indirect(
        &mut self,
        buffer: &B::Buffer,
        offset: u64,
        count: u32,
        stride: u32,
    );
}

/// A finished command buffer.
pub trait CommandBuffer: Send + Debug {}
/// A GPU buffer.
pub trait Buffer: Send + Sync + Debug {
    /// Size in bytes.
    fn size(&self) -> u64;
}
/// A 2D GPU image.
pub trait Texture: Send + Sync + Debug {
    /// Width and height in pixels.
    fn size(&self) -> (u32, u32);
    /// Texel format.
    fn format(&self) -> TextureFormat;
    /// Where the texture's memory is bound: `(memory object, offset in bytes)`. Two textures
    /// with equal values share (alias) memory, as [`Device::create_aliased_textures`] makes
    /// them; the memory object is an opaque backend id (Vulkan: the `VkDeviceMemory` handle).
    fn memory_binding(&self) -> (u64, u64);
}
/// A view of a texture.
pub trait TextureView: Send + Sync + Debug {}
/// A sampler.
pub trait Sampler: Send + Sync + Debug {}
/// A shader module.
pub trait ShaderModule: Send + Sync + Debug {}
/// A descriptor-set layout.
pub trait DescriptorSetLayout: Send + Sync + Debug {}
/// A pipeline layout.
pub trait PipelineLayout: Send + Sync + Debug {}
/// A render pipeline.
pub trait RenderPipeline: Send + Sync + Debug {}
/// A timeline fence.
pub trait Fence: Send + Sync + Debug {}
/// A pipeline cache.
pub trait PipelineCache: Send + Sync + Debug {}
/// A descriptor set.
pub trait DescriptorSet: Send + Sync + Debug {}
/// A set of timestamp queries.
pub trait QuerySet: Send + Sync + Debug {}

// --- descriptors -------------------------------------------------------------------------

/// How to create a backend instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceDesc<'a> {
    /// Application name reported to the driver.
    pub app_name: &'a str,
    /// Enable the validation layer, synchronization validation and the counting messenger.
    pub validation: bool,
    /// Enable the surface extensions (`VK_KHR_surface` and every platform surface extension
    /// the loader offers) and, on the device, the swapchain extension, so windows can present.
    pub surfaces: bool,
}

bitflags::bitflags! {
    /// What a buffer may be used for.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub struct BufferUsages: u32 {
        /// Vertex input.
        const VERTEX = 1 << 0;
        /// `u32` index input.
        const INDEX = 1 << 1;
        /// Uniform buffer.
        const UNIFORM = 1 << 2;
        /// Storage buffer.
        const STORAGE = 1 << 3;
        /// Indirect draw arguments.
        const INDIRECT = 1 << 4;
        /// Copy source.
        const COPY_SRC = 1 << 5;
        /// Copy destination.
        const COPY_DST = 1 << 6;
    }

    /// What a texture may be used for.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub struct TextureUsages: u32 {
        /// Colour attachment.
        const COLOR_ATTACHMENT = 1 << 0;
        /// Depth/stencil attachment.
        const DEPTH_ATTACHMENT = 1 << 1;
        /// Sampled from shaders.
        const SAMPLED = 1 << 2;
        /// Storage image.
        const STORAGE = 1 << 3;
        /// Copy source.
        const COPY_SRC = 1 << 4;
        /// Copy destination.
        const COPY_DST = 1 << 5;
    }

    /// Shader stages.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
    pub struct ShaderStages: u32 {
        /// Vertex shader.
        const VERTEX = 1 << 0;
        /// Fragment shader.
        const FRAGMENT = 1 << 1;
        /// Compute shader.
        const COMPUTE = 1 << 2;
    }
}

/// Where a buffer's memory lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MemoryLocation {
    /// Device-local, not mapped.
    GpuOnly,
    /// Host-visible, persistently mapped, written sequentially by the host (uploads,
    /// per-frame data).
    CpuToGpu,
    /// Host-visible, persistently mapped, cached for host reads (read-back).
    GpuToCpu,
}

/// How to create a buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BufferDesc<'a> {
    /// Debug name (a debug-utils object name where the backend supports it).
    pub label: &'a str,
    /// Size in bytes (at least 1; 0 is rounded up).
    pub size: u64,
    /// Allowed uses.
    pub usage: BufferUsages,
    /// Memory placement.
    pub location: MemoryLocation,
}

/// How to create a 2D texture (one mip level, one layer, one sample).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TextureDesc<'a> {
    /// Debug name.
    pub label: &'a str,
    /// Width in pixels (≥ 1).
    pub width: u32,
    /// Height in pixels (≥ 1).
    pub height: u32,
    /// Texel format.
    pub format: TextureFormat,
    /// Allowed uses.
    pub usage: TextureUsages,
}

/// How to create a texture view (the whole texture, its own format).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TextureViewDesc<'a> {
    /// Debug name.
    pub label: &'a str,
}

/// Texel filtering.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum FilterMode {
    /// Nearest texel.
    Nearest,
    /// Bilinear.
    #[default]
    Linear,
}

/// What sampling outside `0..1` returns (glTF sampler wrap modes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum AddressMode {
    /// Repeat (glTF `REPEAT`, the default).
    #[default]
    Repeat,
    /// Mirrored repeat (glTF `MIRRORED_REPEAT`).
    MirrorRepeat,
    /// Clamp to the edge texel (glTF `CLAMP_TO_EDGE`).
    ClampToEdge,
}

/// How to create a sampler; `Hash + Eq`, so it keys a sampler cache.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct SamplerDesc {
    /// Magnification filter.
    pub mag_filter: FilterMode,
    /// Minification filter.
    pub min_filter: FilterMode,
    /// Filter between mip levels.
    pub mipmap_filter: FilterMode,
    /// Addressing in u.
    pub address_u: AddressMode,
    /// Addressing in v.
    pub address_v: AddressMode,
}

/// How to create a shader module.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShaderModuleDesc<'a> {
    /// Debug name, also used in errors.
    pub label: &'a str,
    /// SPIR-V bytes (a multiple of 4, little- or big-endian words with the SPIR-V magic).
    pub spirv: &'a [u8],
}

/// The kind of resource a descriptor binding holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DescriptorType {
    /// A sampled image and a sampler in one binding (`sampler2D`).
    CombinedImageSampler,
    /// A sampled image (`texture2D`).
    SampledTexture,
    /// A sampler (`sampler`).
    Sampler,
    /// A uniform buffer.
    UniformBuffer,
    /// A storage buffer.
    StorageBuffer,
}

/// One binding of a descriptor-set layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DescriptorBinding {
    /// Binding number.
    pub binding: u32,
    /// Resource kind.
    pub ty: DescriptorType,
    /// Array length (1 for a single resource).
    pub count: u32,
    /// Stages that read it.
    pub stages: ShaderStages,
}

/// How to create a descriptor-set layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DescriptorSetLayoutDesc<'a> {
    /// Debug name.
    pub label: &'a str,
    /// The bindings.
    pub bindings: &'a [DescriptorBinding],
    /// Whether descriptors are pushed into command buffers
    /// ([`CommandEncoder::push_descriptors`]) instead of living in descriptor sets.
    pub push: bool,
    /// Bindless: every binding is partially bound and may be updated after the set is bound
    /// (descriptor indexing; needs [`Capabilities::descriptor_indexing`]); not with `push`.
    pub bindless: bool,
}

/// A push-constant range.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PushConstantRange {
    /// Stages that read it.
    pub stages: ShaderStages,
    /// Byte range (offset and end a multiple of 4).
    pub range: Range<u32>,
}

/// How to create a pipeline layout.
pub struct PipelineLayoutDesc<'a, B: RenderBackend> {
    /// Debug name.
    pub label: &'a str,
    /// Descriptor-set layouts, set 0 first.
    pub set_layouts: &'a [&'a B::DescriptorSetLayout],
    /// Push-constant ranges.
    pub push_constant_ranges: &'a [PushConstantRange],
}

/// Format of one vertex attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum VertexFormat {
    /// `vec2` of `f32`.
    Float32x2,
    /// `vec3` of `f32`.
    Float32x3,
    /// `vec4` of `f32`.
    Float32x4,
}

/// One vertex attribute: shader `location`, format and byte `offset` in its buffer's element.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct VertexAttribute {
    /// Shader input location.
    pub location: u32,
    /// Format.
    pub format: VertexFormat,
    /// Offset in bytes within one element.
    pub offset: u32,
}

/// Whether a vertex buffer advances per vertex or per instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum VertexStepMode {
    /// One element per vertex.
    Vertex,
    /// One element per instance.
    Instance,
}

/// One vertex buffer slot of a pipeline (slot = index in [`RenderPipelineDesc::vertex_buffers`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VertexBufferLayout<'a> {
    /// Bytes between consecutive elements.
    pub stride: u32,
    /// Per vertex or per instance.
    pub step_mode: VertexStepMode,
    /// The attributes read from this buffer.
    pub attributes: &'a [VertexAttribute],
}

/// Which triangle faces to cull.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Face {
    /// Front faces.
    Front,
    /// Back faces.
    Back,
}

/// Depth comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CompareFunction {
    /// Passes when the new depth is less.
    Less,
    /// Passes when the new depth is less or equal.
    LessEqual,
    /// Always passes.
    Always,
}

/// Depth test and write state; the attachment format is part of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DepthState {
    /// Depth attachment format.
    pub format: TextureFormat,
    /// Whether passing fragments write depth.
    pub write: bool,
    /// Comparison.
    pub compare: CompareFunction,
}

/// Blend factor (`result = src × src_factor (op) dst × dst_factor`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BlendFactor {
    /// 0.
    Zero,
    /// 1.
    One,
    /// Source alpha.
    SrcAlpha,
    /// 1 − source alpha.
    OneMinusSrcAlpha,
}

/// Blending of one channel group.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct BlendComponent {
    /// Factor for the fragment's value.
    pub src_factor: BlendFactor,
    /// Factor for the attachment's value.
    pub dst_factor: BlendFactor,
}

/// Blending of a colour target (the operation is addition).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct BlendState {
    /// RGB.
    pub color: BlendComponent,
    /// Alpha.
    pub alpha: BlendComponent,
}

impl BlendState {
    /// Premultiplied-style "over" with straight alpha: `src·a + dst·(1 − a)`.
    pub const ALPHA_BLENDING: BlendState = BlendState {
        color: BlendComponent {
            src_factor: BlendFactor::SrcAlpha,
            dst_factor: BlendFactor::OneMinusSrcAlpha,
        },
        alpha: BlendComponent {
            src_factor: BlendFactor::One,
            dst_factor: BlendFactor::OneMinusSrcAlpha,
        },
    };
}

/// One colour target of a pipeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ColorTargetState {
    /// Attachment format.
    pub format: TextureFormat,
    /// Blending, `None` to replace.
    pub blend: Option<BlendState>,
}

/// One shader stage of a pipeline.
pub struct ProgrammableStage<'a, B: RenderBackend> {
    /// The module.
    pub module: &'a B::ShaderModule,
    /// Entry point name, e.g. `"main"`.
    pub entry_point: &'a std::ffi::CStr,
}

/// How to create a graphics pipeline (triangle lists, fill, one sample, dynamic viewport and
/// scissor, dynamic rendering).
pub struct RenderPipelineDesc<'a, B: RenderBackend> {
    /// Debug name.
    pub label: &'a str,
    /// Pipeline layout.
    pub layout: &'a B::PipelineLayout,
    /// Vertex stage.
    pub vertex: ProgrammableStage<'a, B>,
    /// Fragment stage.
    pub fragment: ProgrammableStage<'a, B>,
    /// Vertex buffer slots, slot 0 first.
    pub vertex_buffers: &'a [VertexBufferLayout<'a>],
    /// Faces to cull (`None`: none); front faces wind counter-clockwise.
    pub cull_mode: Option<Face>,
    /// Depth state, `None` without a depth attachment.
    pub depth: Option<DepthState>,
    /// Colour targets, location 0 first.
    pub color_targets: &'a [ColorTargetState],
    /// Pipeline cache to look up and store compiled state in.
    pub cache: Option<&'a B::PipelineCache>,
}

/// How to create a command encoder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CommandEncoderDesc<'a> {
    /// Debug name.
    pub label: &'a str,
}

/// Attachment formats a secondary buffer continues rendering into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RenderTargetFormats<'a> {
    /// Colour formats, location 0 first.
    pub colors: &'a [TextureFormat],
    /// Depth format, if any.
    pub depth: Option<TextureFormat>,
}

/// What happens to an attachment's contents when rendering begins.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum LoadOp<V> {
    /// Clear to the value.
    Clear(V),
    /// Keep the contents.
    Load,
    /// Contents undefined (faster when every pixel is overwritten).
    DontCare,
}

/// What happens to an attachment's contents when rendering ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreOp {
    /// Keep the results.
    Store,
    /// Results may be discarded.
    DontCare,
}

/// A colour attachment.
pub struct ColorAttachment<'a, B: RenderBackend> {
    /// The view rendered into.
    pub view: &'a B::TextureView,
    /// Load operation (clear value: linear RGBA).
    pub load: LoadOp<[f32; 4]>,
    /// Store operation.
    pub store: StoreOp,
}

/// A depth attachment.
pub struct DepthAttachment<'a, B: RenderBackend> {
    /// The view rendered into.
    pub view: &'a B::TextureView,
    /// Load operation (clear value: depth `0..1`).
    pub load: LoadOp<f32>,
    /// Store operation.
    pub store: StoreOp,
}

/// Where the commands between begin and end rendering are recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RenderingContents {
    /// In the primary buffer itself.
    Inline,
    /// Only in secondary buffers ([`CommandEncoder::execute_secondaries`]).
    Secondaries,
}

/// How to begin dynamic rendering.
pub struct RenderingDesc<'a, B: RenderBackend> {
    /// Debug label of the pass.
    pub label: &'a str,
    /// Render area `(width, height)` in pixels from the origin.
    pub extent: (u32, u32),
    /// Colour attachments, location 0 first.
    pub color_attachments: &'a [ColorAttachment<'a, B>],
    /// Depth attachment.
    pub depth_attachment: Option<DepthAttachment<'a, B>>,
    /// Inline or secondary contents.
    pub contents: RenderingContents,
}

/// A barrier between two uses of a whole texture. `before == TextureUse::Undefined` or
/// `discard` discards the contents.
pub struct TextureBarrier<'a, B: RenderBackend> {
    /// The texture.
    pub texture: &'a B::Texture,
    /// The use it was in: the barrier waits for it.
    pub before: TextureUse,
    /// The use it goes to.
    pub after: TextureUse,
    /// The contents need not be kept: the texture is transitioned from the undefined layout
    /// (Vulkan: `oldLayout = VK_IMAGE_LAYOUT_UNDEFINED`) while still waiting for `before`
    /// (the render graph's first use of a transient or of a discarded import, where the texture
    /// may never have been in `before`'s layout, e.g. memory last used by an aliased texture).
    pub discard: bool,
}

/// A barrier between two uses of a whole buffer.
pub struct BufferBarrier<'a, B: RenderBackend> {
    /// The buffer.
    pub buffer: &'a B::Buffer,
    /// The use it was in.
    pub before: BufferUse,
    /// The use it goes to.
    pub after: BufferUse,
}

/// A buffer-to-buffer copy region, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BufferCopy {
    /// Offset in the source.
    pub src_offset: u64,
    /// Offset in the destination.
    pub dst_offset: u64,
    /// Bytes to copy (≥ 1).
    pub size: u64,
}

/// A region copied between a buffer (tightly packed rows, top to bottom) and mip 0 of a texture.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BufferTextureCopy {
    /// Byte offset of the first texel in the buffer.
    pub buffer_offset: u64,
    /// Texel origin `(x, y)` in the texture.
    pub origin: (u32, u32),
    /// Size `(width, height)` in texels.
    pub size: (u32, u32),
}

/// The resource of one descriptor write.
pub enum DescriptorResource<'a, B: RenderBackend> {
    /// A texture view with a sampler ([`DescriptorType::CombinedImageSampler`]).
    CombinedImageSampler(&'a B::TextureView, &'a B::Sampler),
    /// A texture view ([`DescriptorType::SampledTexture`]).
    SampledTexture(&'a B::TextureView),
    /// A sampler ([`DescriptorType::Sampler`]).
    Sampler(&'a B::Sampler),
    /// A whole uniform buffer ([`DescriptorType::UniformBuffer`]).
    UniformBuffer(&'a B::Buffer),
    /// A whole storage buffer ([`DescriptorType::StorageBuffer`]).
    StorageBuffer(&'a B::Buffer),
}

/// One descriptor to write: `resource` into element `array_element` of `binding`.
pub struct DescriptorWrite<'a, B: RenderBackend> {
    /// Binding number.
    pub binding: u32,
    /// Array element.
    pub array_element: u32,
    /// The resource.
    pub resource: DescriptorResource<'a, B>,
}
