//! The backend abstraction, shaped like wgpu-hal's `Api`: associated types and static dispatch.
//!
//! [`Renderer`](crate::Renderer) is written against this trait only; the Vulkan backend
//! ([`crate::vulkan::Vulkan`]) is the one implementation. The functions are the operations a
//! headless instanced renderer needs, in the order a frame uses them.
//!
//! As in wgpu-hal, a function whose soundness depends on call order, on GPU progress or on
//! objects passed together belonging together is an `unsafe fn` with a `# Safety` section;
//! [`Renderer`](crate::Renderer) is the safe API that upholds those contracts. "Waited" below
//! means: after the slot's last [`RenderBackend::submit`], [`RenderBackend::wait_frame_slot`]
//! or [`RenderBackend::read_back`] returned `Ok` for it (or [`RenderBackend::wait_idle`] did).
#![expect(
    unsafe_code,
    reason = "the trait declares unsafe functions whose contracts Renderer upholds"
)]

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
///
/// Implementations must keep the [`MeshBuffers`] recorded by
/// [`RenderBackend::draw_mesh_instanced`] alive until the submission that executes them was
/// waited, so callers may drop mesh buffers at any time; dropping a frame slot waits for its
/// last submission.
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
    ///
    /// # Safety
    /// `adapter` was selected from `instance`.
    unsafe fn open_device(
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
    ///
    /// # Safety
    /// `queue` was opened together with `device`.
    unsafe fn upload_buffer(
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
    /// Waits until the GPU is done with the slot's previous submission (if it has one), then
    /// resets its command pools and releases what that submission kept alive, so the slot can
    /// be recorded again.
    ///
    /// # Errors
    /// Device lost.
    ///
    /// # Safety
    /// - `slot` was created by `device`;
    /// - no encoder begun from `slot` is alive (every one was ended or dropped), and no command
    ///   buffer recorded from `slot` before this call is passed to [`RenderBackend::submit`]
    ///   afterwards (resetting the pools invalidates them).
    unsafe fn wait_frame_slot(
        device: &Self::Device,
        slot: &mut Self::FrameSlot,
    ) -> Result<(), GraphicsError>;
    /// Copies `instances` into the slot's host-visible instance buffer, growing it when needed.
    ///
    /// # Errors
    /// Out-of-memory.
    ///
    /// # Safety
    /// - `slot` was created by `device` and was waited since its last submit (the GPU must
    ///   not be reading the instance buffer being written);
    /// - no command buffer that already recorded a draw from `slot` since that wait is
    ///   submitted afterwards (it may bind the instance buffer this call replaces or rewrites).
    unsafe fn write_instances(
        device: &Self::Device,
        slot: &mut Self::FrameSlot,
        instances: &[InstanceData],
    ) -> Result<(), GraphicsError>;
    /// Begins a secondary command buffer for the pass described by `targets` (dynamic rendering
    /// inheritance), from a command pool of `slot` that the encoder owns until it ends.
    ///
    /// # Errors
    /// Out-of-memory.
    ///
    /// # Safety
    /// `slot` was created by `device` and was waited since its last submit (its command
    /// buffers may be pending otherwise).
    unsafe fn begin_encoding(
        device: &Self::Device,
        slot: &Self::FrameSlot,
        targets: &PassTargets,
    ) -> Result<Self::CommandEncoder, GraphicsError>;
    /// Records an instanced draw of `mesh` for `instances` (indices into the slot's instance
    /// buffer) with `camera` as push constants.
    ///
    /// # Safety
    /// - `encoder` was begun from `slot` with targets equal to those `pipeline` was created
    ///   for; `pipeline`, `mesh` and `slot` belong to the encoder's device;
    /// - `instances` lies within the instances last written to `slot` by
    ///   [`RenderBackend::write_instances`], and no `write_instances` on `slot` follows before
    ///   the encoder's command buffer is submitted;
    /// - `pipeline` stays alive until the submission executing this draw was waited (the mesh
    ///   buffers are kept alive by the backend).
    unsafe fn draw_mesh_instanced(
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
    /// the slot's read-back buffer. Signals the slot's fence when the submission succeeds; after
    /// a failed submission the slot is idle (waiting for it returns at once).
    ///
    /// # Errors
    /// Out-of-memory, device lost.
    ///
    /// # Safety
    /// - `queue`, `slot`, `color` and `depth` belong to `device`; `color` and `depth` are
    ///   the same size, of the formats (colour, depth) the secondaries' encoders were begun
    ///   with, and the slot's read-back buffer holds `color` as tightly packed RGBA8;
    /// - `slot` was waited since its last submit;
    /// - every command buffer in `secondaries` was ended from an encoder begun from `slot`
    ///   since that wait, and is submitted once;
    /// - `color`, `depth` and the pipelines the secondaries draw with stay alive until this
    ///   submission was waited.
    #[allow(clippy::too_many_arguments)]
    unsafe fn submit(
        device: &Self::Device,
        queue: &Self::Queue,
        slot: &mut Self::FrameSlot,
        color: &Self::Texture,
        depth: &Self::Texture,
        clear: [f32; 4],
        secondaries: Vec<Self::CommandBuffer>,
    ) -> Result<(), GraphicsError>;
    /// Waits for the slot's submission and copies the read-back buffer into `out`
    /// (tightly packed RGBA8 rows, top to bottom). Returns the buffer's previous contents
    /// when nothing was submitted since the last wait.
    ///
    /// # Errors
    /// Device lost.
    ///
    /// # Safety
    /// `slot` was created by `device`.
    unsafe fn read_back(
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
