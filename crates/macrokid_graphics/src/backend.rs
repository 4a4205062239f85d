//! The backend abstraction, shaped like wgpu-hal's `Api`: associated types and static dispatch.
//!
//! [`Renderer`](crate::Renderer) is written against this trait only; the Vulkan backend
//! ([`crate::vulkan::Vulkan`]) is the one implementation. The functions are the operations a
//! headless instanced renderer needs, in the order a frame uses them.

use std::ops::Range;

use crate::{
    AdapterInfo, BufferUsage, Camera, GraphicsError, InstanceData, TextureFormat, ValidationCounts,
};

/// How to create a backend instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceDesc<'a> {
    /// Application name reported to the driver.
    pub app_name: &'a str,
    /// Enable the validation layer, synchronization validation and the counting messenger.
    pub validation: bool,
}

/// The vertex and index buffers of a mesh uploaded with a backend.
pub struct MeshBuffers<B: RenderBackend> {
    /// Interleaved `position, normal` vertices, 24 bytes each.
    pub vertices: B::Buffer,
    /// `u32` triangle-list indices.
    pub indices: B::Buffer,
    /// Number of indices.
    pub index_count: u32,
}

/// What a secondary command buffer renders into (formats of the pass's attachments and the
/// viewport size in pixels).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PassTargets {
    /// Colour attachment format.
    pub color: TextureFormat,
    /// Depth attachment format.
    pub depth: TextureFormat,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
}

/// A graphics backend: the set of GPU object types and the operations on them.
///
/// Every type is chosen at compile time (static dispatch), so a `Renderer<B>` is `Send`/`Sync`
/// exactly when the backend's types are. The backend owns all API calls; nothing outside the
/// backend's module names an API type.
pub trait RenderBackend: Send + Sync + Sized + 'static {
    /// Short backend name, e.g. `"vulkan"`.
    const NAME: &'static str;
    /// The API instance (loader, validation, debug messenger).
    type Instance: Send + Sync;
    /// A physical device.
    type Adapter: Send + Sync;
    /// A logical device with its memory allocator.
    type Device: Send + Sync;
    /// The graphics queue.
    type Queue: Send + Sync;
    /// Records one secondary command buffer on the current thread, from a command pool it
    /// owns exclusively until [`RenderBackend::end_encoding`].
    type CommandEncoder;
    /// A finished secondary command buffer, ready to be executed by [`RenderBackend::submit`].
    type CommandBuffer: Send;
    /// A GPU buffer.
    type Buffer: Send + Sync;
    /// A GPU image with its view.
    type Texture: Send + Sync;
    /// A graphics pipeline with its layout.
    type Pipeline: Send + Sync;
    /// Resources of one frame in flight: fence, command pools, instance and read-back buffers.
    type FrameSlot: Send + Sync;

    /// Creates the instance.
    ///
    /// # Errors
    /// [`GraphicsError::LoaderMissing`], [`GraphicsError::ValidationLayerMissing`], or a driver failure.
    fn create_instance(desc: &InstanceDesc<'_>) -> Result<Self::Instance, GraphicsError>;
    /// Warnings and errors reported by validation so far (zero when validation is off).
    fn validation_counts(instance: &Self::Instance) -> ValidationCounts;
    /// Picks an adapter: the one whose name contains `preference` (case-insensitive) if given,
    /// else the best by kind (discrete > integrated > virtual > CPU).
    ///
    /// # Errors
    /// [`GraphicsError::NoAdapter`] or [`GraphicsError::AdapterNotFound`].
    fn select_adapter(
        instance: &Self::Instance,
        preference: Option<(&str, &'static str)>,
    ) -> Result<Self::Adapter, GraphicsError>;
    /// Describes an adapter.
    fn adapter_info(adapter: &Self::Adapter) -> AdapterInfo;
    /// Opens a device and its graphics queue.
    ///
    /// # Errors
    /// Driver failures and out-of-memory.
    fn open_device(
        instance: &Self::Instance,
        adapter: &Self::Adapter,
    ) -> Result<(Self::Device, Self::Queue), GraphicsError>;
    /// Creates a 2D attachment texture (colour targets can also be copied from).
    ///
    /// # Errors
    /// Out-of-memory.
    fn create_attachment(
        device: &Self::Device,
        format: TextureFormat,
        width: u32,
        height: u32,
    ) -> Result<Self::Texture, GraphicsError>;
    /// Creates the mesh pipeline (shaders `mesh.vert` / `mesh.frag`) for `targets`.
    ///
    /// # Errors
    /// Driver failures and out-of-memory.
    fn create_mesh_pipeline(
        device: &Self::Device,
        targets: &PassTargets,
    ) -> Result<Self::Pipeline, GraphicsError>;
    /// Creates a device buffer holding `bytes` (through a staging copy), waiting for the copy.
    ///
    /// # Errors
    /// Driver failures and out-of-memory.
    fn upload_buffer(
        device: &Self::Device,
        queue: &Self::Queue,
        usage: BufferUsage,
        bytes: &[u8],
    ) -> Result<Self::Buffer, GraphicsError>;
    /// Creates the resources of one frame in flight, with a read-back buffer of
    /// `readback_bytes` bytes. The slot starts idle.
    ///
    /// # Errors
    /// Driver failures and out-of-memory.
    fn create_frame_slot(
        device: &Self::Device,
        readback_bytes: u64,
    ) -> Result<Self::FrameSlot, GraphicsError>;
    /// Waits until the GPU is done with the slot's previous submission, then resets its
    /// command pools so it can be recorded again.
    ///
    /// # Errors
    /// Device lost.
    fn wait_frame_slot(
        device: &Self::Device,
        slot: &mut Self::FrameSlot,
    ) -> Result<(), GraphicsError>;
    /// Copies `instances` into the slot's host-visible instance buffer, growing it when needed.
    /// Must follow [`RenderBackend::wait_frame_slot`].
    ///
    /// # Errors
    /// Out-of-memory.
    fn write_instances(
        device: &Self::Device,
        slot: &mut Self::FrameSlot,
        instances: &[InstanceData],
    ) -> Result<(), GraphicsError>;
    /// Begins a secondary command buffer for the pass described by `targets` (dynamic rendering
    /// inheritance), from a command pool of `slot` that the encoder owns until it ends.
    ///
    /// # Errors
    /// Out-of-memory.
    fn begin_encoding(
        device: &Self::Device,
        slot: &Self::FrameSlot,
        targets: &PassTargets,
    ) -> Result<Self::CommandEncoder, GraphicsError>;
    /// Records an instanced draw of `mesh` for `instances` (indices into the slot's instance
    /// buffer) with `camera` as push constants.
    fn draw_mesh_instanced(
        encoder: &mut Self::CommandEncoder,
        pipeline: &Self::Pipeline,
        slot: &Self::FrameSlot,
        camera: &Camera,
        mesh: &MeshBuffers<Self>,
        instances: Range<u32>,
    );
    /// Ends recording and gives the pool back to the slot.
    ///
    /// # Errors
    /// Out-of-memory.
    fn end_encoding(encoder: Self::CommandEncoder) -> Result<Self::CommandBuffer, GraphicsError>;
    /// Records and submits the primary command buffer: transitions, begin rendering (clearing to
    /// `clear`), executes `secondaries` in slice order, ends rendering and copies `color` to
    /// the slot's read-back buffer. Signals the slot's fence.
    ///
    /// # Errors
    /// Out-of-memory, device lost.
    #[allow(clippy::too_many_arguments)]
    fn submit(
        device: &Self::Device,
        queue: &Self::Queue,
        slot: &mut Self::FrameSlot,
        color: &Self::Texture,
        depth: &Self::Texture,
        clear: [f32; 4],
        secondaries: Vec<Self::CommandBuffer>,
    ) -> Result<(), GraphicsError>;
    /// Waits for the slot's submission and copies the read-back buffer into `out`
    /// (tightly packed RGBA8 rows, top to bottom).
    ///
    /// # Errors
    /// Device lost.
    fn read_back(
        device: &Self::Device,
        slot: &mut Self::FrameSlot,
        out: &mut Vec<u8>,
    ) -> Result<(), GraphicsError>;
    /// Waits until the device is idle.
    ///
    /// # Errors
    /// Device lost.
    fn wait_idle(device: &Self::Device) -> Result<(), GraphicsError>;
}
