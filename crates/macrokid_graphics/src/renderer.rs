//! The headless renderer: frames, pass encoders and per-thread command contexts.
//!
//! This is the safe API over [`RenderBackend`]: every call of an unsafe backend function says
//! in a `SAFETY` comment how the renderer upholds its contract. The invariants relied on:
//! - a renderer's objects (adapter, device, queue, targets, pipeline, slots) come from its own
//!   instance and device, and it drops its targets and pipeline only after `wait_idle`;
//! - a [`Frame`] exists only between [`Renderer::begin_frame`] (which waits for its slot) and
//!   its submit, and borrows the renderer mutably, so at most one frame is being prepared and
//!   no other call touches the slots meanwhile;
//! - [`PassEncoder`]s and [`CommandCtx`]s borrow their frame, so every command buffer a frame
//!   submits was recorded from its slot after that wait.
#![expect(
    unsafe_code,
    reason = "the safe renderer calls the RenderBackend's unsafe functions and upholds their contracts"
)]

use std::marker::PhantomData;
use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use glam::{Mat4, Vec3};
use rayon::prelude::*;

use crate::backend::{InstanceDesc, MeshBuffers, PassTargets, RenderBackend};
use crate::{
    AdapterInfo, BufferUsage, Camera, FrameImage, FrameTimings, GraphicsError, InstanceData, Mesh,
    RendererConfig, TextureFormat, ValidationCounts,
};

/// Number of frames that can be in flight at once (each has its own fence, command pools,
/// instance buffer and read-back buffer).
pub const FRAMES_IN_FLIGHT: usize = 2;

/// The passes a [`Renderer`] has; [`Frame::encoder_for`] accepts these names.
pub const PASSES: &[&str] = &["main"];

/// Environment variable that selects an adapter by (case-insensitive) name substring,
/// e.g. `MACROKID_ADAPTER=llvmpipe`. It overrides [`RendererConfig::adapter`].
pub const ADAPTER_ENV: &str = "MACROKID_ADAPTER";

static NEXT_RENDERER_ID: AtomicU64 = AtomicU64::new(1);

/// A mesh uploaded to the GPU by one [`Renderer`]; draw it with that renderer only.
pub struct GpuMesh<B: RenderBackend> {
    renderer: u64,
    buffers: MeshBuffers<B>,
    vertex_count: u32,
}

impl<B: RenderBackend> GpuMesh<B> {
    /// Number of indices (3 per triangle).
    pub fn index_count(&self) -> u32 {
        self.buffers.index_count
    }
    /// Number of vertices.
    pub fn vertex_count(&self) -> u32 {
        self.vertex_count
    }
}

impl<B: RenderBackend> std::fmt::Debug for GpuMesh<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GpuMesh")
            .field("vertex_count", &self.vertex_count)
            .field("index_count", &self.buffers.index_count)
            .finish()
    }
}

#[derive(Debug, Default, Clone, Copy)]
struct SlotState {
    /// Frame number submitted in this slot and not yet read back.
    pending: Option<u64>,
    timings: FrameTimings,
}

/// Proof that a frame was submitted; redeem it with [`Renderer::read_back`] before the same
/// frame slot is reused ([`FRAMES_IN_FLIGHT`] frames later).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use = "read the frame back with Renderer::read_back"]
pub struct FrameTicket {
    renderer: u64,
    slot: usize,
    frame: u64,
}

impl FrameTicket {
    /// The frame number (0 for the renderer's first frame).
    pub fn frame(&self) -> u64 {
        self.frame
    }
}

/// A headless renderer: an offscreen RGBA8 colour target with a D32 depth buffer, one
/// instanced mesh pipeline, and [`FRAMES_IN_FLIGHT`] frame slots.
///
/// `Send`/`Sync` follow the backend's types (`PhantomData<B>` plus the backend's objects).
///
/// Frame sequence: [`Renderer::begin_frame`] → [`Frame::set_camera`] (or [`Frame::set_view`]) →
/// [`Frame::upload_instances`] → [`Frame::draw_instanced`] (or [`Frame::encoder_for`] on your
/// own threads) → [`Frame::finish`] (or [`Frame::submit`] + [`Renderer::read_back`]).
///
/// To let the CPU prepare frame N+1 while the GPU renders frame N, keep the ticket and read
/// it back one frame later (at most [`FRAMES_IN_FLIGHT`] frames may be outstanding):
///
/// ```
/// # #[cfg(feature = "vulkan")]
/// # fn main() -> Result<(), macrokid_graphics::GraphicsError> {
/// use glam::Mat4;
/// use macrokid_graphics::{Camera, InstanceData, Mesh, RendererConfig, VulkanRenderer};
///
/// let mut renderer = VulkanRenderer::new(RendererConfig::default().size(64, 64))?;
/// let cube = renderer.upload_mesh(&Mesh::cube())?;
/// let mut pending = None;
/// for i in 0..4 {
///     let mut frame = renderer.begin_frame()?;
///     frame.set_view(Camera::look_at(
///         glam::Vec3::new(2.0, 1.5, 2.5), glam::Vec3::ZERO, 0.9, 1.0, 0.1, 10.0,
///     ));
///     frame.upload_instances(&[InstanceData::new(Mat4::IDENTITY, [1.0, 0.5, 0.2, 1.0])])?;
///     frame.draw_instanced(&cube)?;
///     let ticket = frame.submit()?;
///     if let Some(previous) = pending.replace(ticket) {
///         let image = renderer.read_back(previous)?; // frame i - 1
///         assert_eq!(image.frame, i - 1);
///     }
/// }
/// let last = renderer.read_back(pending.take().unwrap())?;
/// assert_eq!(last.frame, 3);
/// assert_eq!(renderer.validation_counts().total(), 0);
/// # Ok(()) }
/// # #[cfg(not(feature = "vulkan"))]
/// # fn main() {}
/// ```
pub struct Renderer<B: RenderBackend> {
    // Declaration order is drop order: per-frame objects first, the instance last.
    slots: Vec<B::FrameSlot>,
    slot_state: [SlotState; FRAMES_IN_FLIGHT],
    pipeline: B::Pipeline,
    color: B::Texture,
    depth: B::Texture,
    queue: B::Queue,
    device: B::Device,
    instance: B::Instance,
    adapter: AdapterInfo,
    config: RendererConfig,
    targets: PassTargets,
    id: u64,
    next_frame: u64,
    _backend: PhantomData<B>,
}

#[cfg(feature = "vulkan")]
impl Renderer<crate::vulkan::Vulkan> {
    /// Creates a renderer on the Vulkan backend; see [`Renderer::with_backend`].
    ///
    /// # Errors
    /// As [`Renderer::with_backend`].
    pub fn new(config: RendererConfig) -> Result<Self, GraphicsError> {
        Renderer::with_backend(config)
    }
}

impl<B: RenderBackend> Renderer<B> {
    /// Creates the instance (with validation if `config.validation`), selects an adapter
    /// (`MACROKID_ADAPTER`, then `config.adapter`, then discrete > integrated > virtual > CPU),
    /// opens the device and creates the targets, the pipeline and the frame slots.
    ///
    /// # Errors
    /// [`GraphicsError::InvalidConfig`] for a zero size or zero threads;
    /// [`GraphicsError::LoaderMissing`] / [`GraphicsError::NoAdapter`] when Vulkan is not
    /// installed; [`GraphicsError::ValidationLayerMissing`]; [`GraphicsError::AdapterNotFound`]
    /// when the requested adapter does not exist; driver failures.
    pub fn with_backend(config: RendererConfig) -> Result<Renderer<B>, GraphicsError> {
        config.check()?;
        let env = std::env::var(ADAPTER_ENV)
            .ok()
            .filter(|s| !s.trim().is_empty());
        let preference = match (&env, &config.adapter) {
            (Some(name), _) => Some((name.as_str(), ADAPTER_ENV)),
            (None, Some(name)) => Some((name.as_str(), "RendererConfig::adapter")),
            (None, None) => None,
        };
        let instance = B::create_instance(&InstanceDesc {
            app_name: &config.app_name,
            validation: config.validation,
        })?;
        let adapter = B::select_adapter(&instance, preference)?;
        let adapter_info = B::adapter_info(&adapter);
        tracing::info!(backend = B::NAME, adapter = %adapter_info.name, "renderer adapter selected");
        // SAFETY: `adapter` was selected from `instance` just above.
        let (device, queue) = unsafe { B::open_device(&instance, &adapter) }?;
        let targets = PassTargets {
            color: TextureFormat::Rgba8Unorm,
            depth: TextureFormat::Depth32Float,
            width: config.width,
            height: config.height,
        };
        let color = B::create_attachment(&device, targets.color, config.width, config.height)?;
        let depth = B::create_attachment(&device, targets.depth, config.width, config.height)?;
        let pipeline = B::create_mesh_pipeline(&device, &targets)?;
        let readback = u64::from(config.width) * u64::from(config.height) * 4;
        let slots = (0..FRAMES_IN_FLIGHT)
            .map(|_| B::create_frame_slot(&device, readback))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Renderer {
            slots,
            slot_state: [SlotState::default(); FRAMES_IN_FLIGHT],
            pipeline,
            color,
            depth,
            queue,
            device,
            instance,
            adapter: adapter_info,
            config,
            targets,
            id: NEXT_RENDERER_ID.fetch_add(1, Ordering::Relaxed),
            next_frame: 0,
            _backend: PhantomData,
        })
    }

    /// The selected adapter.
    pub fn adapter_info(&self) -> &AdapterInfo {
        &self.adapter
    }

    /// The selected adapter's name, e.g. `llvmpipe (LLVM 15.0.6, 256 bits)`.
    pub fn adapter_name(&self) -> &str {
        &self.adapter.name
    }

    /// Validation warnings plus errors reported since creation
    /// ([`Renderer::validation_counts`]`().total()`); zero without validation.
    pub fn validation_message_count(&self) -> u64 {
        self.validation_counts().total()
    }

    /// The configuration this renderer was created with.
    pub fn config(&self) -> &RendererConfig {
        &self.config
    }

    /// Target size `(width, height)` in pixels.
    pub fn size(&self) -> (u32, u32) {
        (self.config.width, self.config.height)
    }

    /// Validation warnings and errors reported since creation (always zero without validation).
    /// Tests and examples should fail when [`ValidationCounts::total`] is non-zero.
    pub fn validation_counts(&self) -> ValidationCounts {
        B::validation_counts(&self.instance)
    }

    /// Uploads a mesh (vertex and index buffers through a staging copy).
    ///
    /// # Errors
    /// [`GraphicsError::Mesh`] when the mesh is malformed (see [`Mesh::validate`]);
    /// out-of-memory.
    pub fn upload_mesh(&self, mesh: &Mesh) -> Result<GpuMesh<B>, GraphicsError> {
        mesh.validate()?;
        let vertex_bytes = mesh.vertex_bytes();
        let index_bytes = mesh.index_bytes();
        // SAFETY: the renderer's queue was opened together with its device.
        let vertices = unsafe {
            B::upload_buffer(
                &self.device,
                &self.queue,
                BufferUsage::Vertex,
                &vertex_bytes,
            )
        }?;
        // SAFETY: as above.
        let indices = unsafe {
            B::upload_buffer(&self.device, &self.queue, BufferUsage::Index, &index_bytes)
        }?;
        Ok(GpuMesh {
            renderer: self.id,
            buffers: MeshBuffers {
                vertices,
                indices,
                index_count: mesh.indices.len() as u32,
            },
            vertex_count: mesh.vertices.len() as u32,
        })
    }

    /// Starts the next frame: picks its frame slot and waits for that slot's fence (the frame
    /// submitted [`FRAMES_IN_FLIGHT`] frames ago). A frame in that slot that was submitted but
    /// not read back is discarded.
    ///
    /// # Errors
    /// Device lost.
    pub fn begin_frame(&mut self) -> Result<Frame<'_, B>, GraphicsError> {
        let number = self.next_frame;
        let slot = (number % FRAMES_IN_FLIGHT as u64) as usize;
        let start = Instant::now();
        // SAFETY: the slot was created by this device; `&mut self` means no `Frame` (and so no
        // encoder, context or recorded command buffer, which all borrow a frame) is alive, so
        // nothing recorded from the slot before this wait can be submitted after it.
        unsafe { B::wait_frame_slot(&self.device, &mut self.slots[slot]) }?;
        self.slot_state[slot] = SlotState::default();
        self.next_frame += 1;
        let timings = FrameTimings {
            wait: start.elapsed(),
            ..FrameTimings::default()
        };
        Ok(Frame {
            renderer: self,
            slot,
            number,
            camera: Camera::default(),
            instance_count: 0,
            next_chunk: 0,
            recorded: Mutex::new(Vec::new()),
            timings,
        })
    }

    /// Waits for a submitted frame and copies its image to host memory.
    ///
    /// # Errors
    /// [`GraphicsError::StaleFrame`] when the ticket belongs to another renderer, was already
    /// read back, or its slot was reused; device lost.
    pub fn read_back(&mut self, ticket: FrameTicket) -> Result<FrameImage, GraphicsError> {
        if ticket.renderer != self.id {
            return Err(GraphicsError::StaleFrame {
                frame: ticket.frame,
                reason: "the ticket belongs to another renderer",
            });
        }
        let state = &mut self.slot_state[ticket.slot];
        if state.pending != Some(ticket.frame) {
            return Err(GraphicsError::StaleFrame {
                frame: ticket.frame,
                reason: "it was already read back or its frame slot was reused",
            });
        }
        let start = Instant::now();
        let mut rgba = Vec::new();
        // SAFETY: the slot was created by this renderer's device.
        unsafe { B::read_back(&self.device, &mut self.slots[ticket.slot], &mut rgba) }?;
        state.pending = None;
        state.timings.gpu_and_readback = start.elapsed();
        Ok(FrameImage {
            width: self.config.width,
            height: self.config.height,
            rgba,
            frame: ticket.frame,
            timings: state.timings,
        })
    }
}

impl<B: RenderBackend> Drop for Renderer<B> {
    fn drop(&mut self) {
        if let Err(e) = B::wait_idle(&self.device) {
            tracing::error!(error = %e, "waiting for the GPU before destroying the renderer failed");
        }
    }
}

impl<B: RenderBackend> std::fmt::Debug for Renderer<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Renderer")
            .field("backend", &B::NAME)
            .field("adapter", &self.adapter.name)
            .field("size", &(self.config.width, self.config.height))
            .field("next_frame", &self.next_frame)
            .finish()
    }
}

/// One frame being prepared. Created by [`Renderer::begin_frame`]; consumed by
/// [`Frame::submit`] or [`Frame::finish`]. Dropping it without submitting discards it.
pub struct Frame<'r, B: RenderBackend> {
    renderer: &'r mut Renderer<B>,
    slot: usize,
    number: u64,
    camera: Camera,
    instance_count: u32,
    next_chunk: usize,
    recorded: Mutex<Vec<(usize, B::CommandBuffer)>>,
    timings: FrameTimings,
}

impl<'r, B: RenderBackend> Frame<'r, B> {
    /// This frame's number (0 for the renderer's first frame).
    pub fn number(&self) -> u64 {
        self.number
    }

    /// Sets the world → clip transform (`view_proj`, column-major, Vulkan clip space: y down,
    /// depth `0..1`; see [`Camera::perspective`]) and the direction the light travels
    /// (world space, need not be normalised), keeping the ambient term. Applies to encoders
    /// created after this call.
    pub fn set_camera(&mut self, view_proj: Mat4, light_dir: Vec3) {
        self.camera.view_proj = view_proj;
        self.camera.light_dir = light_dir;
    }

    /// Sets the whole [`Camera`] (transform, light direction and ambient term) used by
    /// encoders created after this call.
    pub fn set_view(&mut self, camera: Camera) {
        self.camera = camera;
    }

    /// The current camera.
    pub fn camera(&self) -> &Camera {
        &self.camera
    }

    /// Copies this frame's instances into the frame slot's instance buffer (grown when needed),
    /// replacing earlier uploads of this frame. Draws index into this list. Upload before
    /// recording: the instance data of a frame is fixed once its first draw is recorded.
    ///
    /// # Errors
    /// [`GraphicsError::UploadAfterRecording`] once draws were recorded this frame;
    /// [`GraphicsError::InvalidConfig`] for more than `u32::MAX` instances; out-of-memory.
    pub fn upload_instances(&mut self, instances: &[InstanceData]) -> Result<(), GraphicsError> {
        let recorded = self
            .recorded
            .get_mut()
            .unwrap_or_else(|p| p.into_inner())
            .len();
        if recorded > 0 {
            return Err(GraphicsError::UploadAfterRecording { recorded });
        }
        let count = u32::try_from(instances.len()).map_err(|_| {
            GraphicsError::InvalidConfig(format!("{} instances exceed u32::MAX", instances.len()))
        })?;
        let start = Instant::now();
        let r = &mut *self.renderer;
        // SAFETY: the slot belongs to this device and was waited by `begin_frame`; this frame
        // (the only thing that can submit the slot) is not submitted yet. No draw was recorded
        // this frame (checked above: finished contexts are in `recorded`; unfinished ones
        // borrow `self` and cannot exist during this `&mut self` call, and their buffers are
        // never submitted).
        unsafe { B::write_instances(&r.device, &mut r.slots[self.slot], instances) }?;
        self.instance_count = count;
        self.timings.upload += start.elapsed();
        Ok(())
    }

    /// Number of instances uploaded this frame.
    pub fn instance_count(&self) -> u32 {
        self.instance_count
    }

    /// A `Send + Copy` handle for recording into pass `pass` (only `"main"` exists) from any
    /// thread. The handle captures the current camera and instance count, so call
    /// [`Frame::set_camera`] / [`Frame::set_view`] and [`Frame::upload_instances`] first.
    ///
    /// ```
    /// # #[cfg(feature = "vulkan")]
    /// # fn main() -> Result<(), macrokid_graphics::GraphicsError> {
    /// use glam::Mat4;
    /// use macrokid_graphics::{InstanceData, Mesh, RendererConfig, VulkanRenderer};
    ///
    /// let mut renderer = VulkanRenderer::new(RendererConfig::default().size(64, 64))?;
    /// let cube = renderer.upload_mesh(&Mesh::cube())?;
    /// let mut frame = renderer.begin_frame()?;
    /// frame.upload_instances(&vec![InstanceData::new(Mat4::IDENTITY, [1.0; 4]); 100])?;
    /// let encoder = frame.encoder_for("main")?; // Send + Copy
    /// std::thread::scope(|s| {
    ///     for (chunk, range) in [(0, 0..50), (1, 50..100)] {
    ///         let cube = &cube;
    ///         s.spawn(move || {
    ///             let mut ctx = encoder.begin(chunk).unwrap(); // not Send: stays on this thread
    ///             ctx.draw_instanced(cube, range).unwrap();
    ///             ctx.finish().unwrap();
    ///         });
    ///     }
    /// });
    /// let image = frame.finish()?; // executes chunk 0, then chunk 1
    /// assert_eq!(image.rgba.len(), 64 * 64 * 4);
    /// assert_eq!(renderer.validation_counts().total(), 0);
    /// # Ok(()) }
    /// # #[cfg(not(feature = "vulkan"))]
    /// # fn main() {}
    /// ```
    ///
    /// # Errors
    /// [`GraphicsError::UnknownPass`].
    pub fn encoder_for(&self, pass: &str) -> Result<PassEncoder<'_, B>, GraphicsError> {
        if !PASSES.contains(&pass) {
            return Err(GraphicsError::UnknownPass {
                name: pass.to_owned(),
                known: PASSES,
            });
        }
        let r = &*self.renderer;
        Ok(PassEncoder {
            device: &r.device,
            slot: &r.slots[self.slot],
            pipeline: &r.pipeline,
            targets: r.targets,
            camera: self.camera,
            instance_count: self.instance_count,
            renderer: r.id,
            sink: &self.recorded,
        })
    }

    /// Draws `mesh` once per uploaded instance on the default number of recording threads
    /// ([`RendererConfig::recording_threads`]). See [`Frame::draw_instanced_with_threads`].
    ///
    /// # Errors
    /// As [`Frame::draw_instanced_with_threads`].
    pub fn draw_instanced(&mut self, mesh: &GpuMesh<B>) -> Result<(), GraphicsError> {
        let threads = self.renderer.config.recording_threads;
        self.draw_instanced_with_threads(mesh, threads)
    }

    /// Draws `mesh` for every uploaded instance into pass `pass` (only `"main"` exists),
    /// split into `threads` chunks recorded in parallel; the same as
    /// [`Frame::draw_instanced_with_threads`] after checking the pass name.
    ///
    /// # Errors
    /// [`GraphicsError::UnknownPass`]; as [`Frame::draw_range_with_threads`].
    pub fn record_instanced(
        &mut self,
        pass: &str,
        mesh: &GpuMesh<B>,
        threads: usize,
    ) -> Result<(), GraphicsError> {
        self.encoder_for(pass)?;
        self.draw_instanced_with_threads(mesh, threads)
    }

    /// Draws `mesh` for every uploaded instance (`0..instance_count`) on `threads` threads.
    /// See [`Frame::draw_range_with_threads`].
    ///
    /// # Errors
    /// As [`Frame::draw_range_with_threads`].
    pub fn draw_instanced_with_threads(
        &mut self,
        mesh: &GpuMesh<B>,
        threads: usize,
    ) -> Result<(), GraphicsError> {
        let all = 0..self.instance_count;
        self.draw_range_with_threads(mesh, all, threads)
    }

    /// Splits the uploaded instances `range` (length `n`) into `threads` contiguous chunks
    /// (chunk `i` covers `range.start + i*n/threads .. range.start + (i+1)*n/threads`),
    /// records each chunk as one instanced draw in its own secondary command buffer, and
    /// queues them in chunk order after everything recorded earlier by this method.
    ///
    /// The chunks are rayon tasks on the current rayon pool: the pool of an enclosing
    /// `ThreadPool::install` (macrokid_threads or rayon), else rayon's global pool; so up to
    /// `min(threads, pool size)` threads record at once. With `threads == 1` it records on the
    /// calling thread. The time spent is added to [`FrameTimings::record`]. The image does not
    /// depend on `threads` or on the pool. Call it once per mesh to draw several meshes (e.g.
    /// cubes in `0..5000`, ducks in `5000..10000`).
    ///
    /// # Errors
    /// [`GraphicsError::InvalidConfig`] for `threads == 0`; [`GraphicsError::InstanceRange`]
    /// when `range` exceeds the uploaded instances; [`GraphicsError::ForeignMesh`];
    /// out-of-memory. If several threads fail, the error of the lowest chunk is returned.
    pub fn draw_range_with_threads(
        &mut self,
        mesh: &GpuMesh<B>,
        range: Range<u32>,
        threads: usize,
    ) -> Result<(), GraphicsError> {
        if threads == 0 {
            return Err(GraphicsError::InvalidConfig(
                "drawing needs at least 1 recording thread".to_owned(),
            ));
        }
        if range.start > range.end || range.end > self.instance_count {
            return Err(GraphicsError::InstanceRange {
                start: range.start,
                end: range.end,
                uploaded: self.instance_count,
            });
        }
        let start = Instant::now();
        let n = u64::from(range.end - range.start);
        let base = self.next_chunk;
        self.next_chunk += threads;
        let chunk_range = |i: usize| {
            let lo = range.start + (i as u64 * n / threads as u64) as u32;
            let hi = range.start + ((i as u64 + 1) * n / threads as u64) as u32;
            lo..hi
        };
        let encoder = self.encoder_for("main")?;
        let record = |i: usize| -> Result<(), GraphicsError> {
            let range = chunk_range(i);
            if range.is_empty() {
                return Ok(());
            }
            let mut ctx = encoder.begin(base + i)?;
            ctx.draw_instanced(mesh, range)?;
            ctx.finish()
        };
        let result = if threads == 1 {
            record(0)
        } else {
            // One task per chunk (`with_max_len(1)`), results kept in chunk order.
            (0..threads)
                .into_par_iter()
                .with_max_len(1)
                .map(record)
                .collect::<Vec<_>>()
                .into_iter()
                .collect::<Result<(), _>>()
        };
        self.timings.record += start.elapsed();
        result
    }

    /// Records the primary command buffer (clear, the queued secondaries in ascending chunk
    /// order, copy to the read-back buffer) and submits it. Returns a ticket for
    /// [`Renderer::read_back`].
    ///
    /// # Errors
    /// [`GraphicsError::DuplicateChunk`] when two contexts used the same chunk index;
    /// out-of-memory; device lost.
    pub fn submit(self) -> Result<FrameTicket, GraphicsError> {
        self.submit_inner().map(|(ticket, _)| ticket)
    }

    /// [`Frame::submit`] followed by [`Renderer::read_back`]: waits for the GPU and returns
    /// the image.
    ///
    /// # Errors
    /// As [`Frame::submit`] and [`Renderer::read_back`].
    pub fn finish(self) -> Result<FrameImage, GraphicsError> {
        let (ticket, renderer) = self.submit_inner()?;
        renderer.read_back(ticket)
    }

    fn submit_inner(self) -> Result<(FrameTicket, &'r mut Renderer<B>), GraphicsError> {
        let start = Instant::now();
        let Frame {
            renderer,
            slot,
            number,
            recorded,
            mut timings,
            ..
        } = self;
        let mut recorded = recorded.into_inner().unwrap_or_else(|p| p.into_inner());
        recorded.sort_by_key(|(chunk, _)| *chunk);
        if let Some(w) = recorded.windows(2).find(|w| w[0].0 == w[1].0) {
            return Err(GraphicsError::DuplicateChunk { chunk: w[0].0 });
        }
        let secondaries = recorded.into_iter().map(|(_, cb)| cb).collect();
        // SAFETY: queue, slot and targets belong to the renderer's device; the targets are
        // `targets.width × targets.height` of the formats every encoder was begun with, and the
        // slot's read-back buffer was sized `width × height × 4`; `begin_frame` waited the slot
        // and this frame is its only submission since; every secondary was ended by a context
        // of this frame (they borrow it), hence begun from this slot after the wait, and each
        // is moved into this one submit; the targets and the pipeline are dropped only after
        // `Renderer::drop` waited for the device to be idle.
        unsafe {
            B::submit(
                &renderer.device,
                &renderer.queue,
                &mut renderer.slots[slot],
                &renderer.color,
                &renderer.depth,
                renderer.config.clear_color,
                secondaries,
            )
        }?;
        timings.submit = start.elapsed();
        renderer.slot_state[slot] = SlotState {
            pending: Some(number),
            timings,
        };
        let ticket = FrameTicket {
            renderer: renderer.id,
            slot,
            frame: number,
        };
        Ok((ticket, renderer))
    }

    /// Timings gathered so far (submit and read-back are filled in later).
    pub fn timings(&self) -> FrameTimings {
        self.timings
    }
}

/// A `Send + Copy` handle to one pass of one frame. A worker thread turns it into a
/// [`CommandCtx`] with [`PassEncoder::begin`].
pub struct PassEncoder<'f, B: RenderBackend> {
    device: &'f B::Device,
    slot: &'f B::FrameSlot,
    pipeline: &'f B::Pipeline,
    targets: PassTargets,
    camera: Camera,
    instance_count: u32,
    renderer: u64,
    sink: &'f Mutex<Vec<(usize, B::CommandBuffer)>>,
}

impl<B: RenderBackend> Clone for PassEncoder<'_, B> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<B: RenderBackend> Copy for PassEncoder<'_, B> {}

impl<'f, B: RenderBackend> PassEncoder<'f, B> {
    /// Begins a secondary command buffer on the calling thread, from a command pool of this
    /// frame slot that the returned (non-`Send`) context owns exclusively until it finishes —
    /// so each recording thread has its own pool for the frame, and pools are reused across
    /// frames rather than created per thread. `chunk` orders the result: secondaries execute
    /// in ascending chunk order, whatever thread recorded them or when; each chunk index may
    /// be used once per frame ([`Frame::draw_instanced`] uses `0..threads` for its first call,
    /// then continues upwards).
    ///
    /// # Errors
    /// Out-of-memory.
    pub fn begin(&self, chunk: usize) -> Result<CommandCtx<'f, B>, GraphicsError> {
        // SAFETY: the slot belongs to this device and was waited by `begin_frame`; the frame
        // this encoder borrows has not been submitted (submitting consumes it).
        let encoder = unsafe { B::begin_encoding(self.device, self.slot, &self.targets) }?;
        Ok(CommandCtx {
            encoder: Some(encoder),
            pass: *self,
            chunk,
            _not_send: PhantomData,
        })
    }

    /// Number of instances uploaded for this frame when the encoder was created.
    pub fn instance_count(&self) -> u32 {
        self.instance_count
    }
}

/// Records one secondary command buffer on the thread that created it. Not `Send`: the
/// command pool behind it belongs to this thread for this frame.
///
#[cfg_attr(
    feature = "vulkan",
    doc = "```compile_fail",
    doc = "fn assert_send<T: Send>() {}",
    doc = "assert_send::<macrokid_graphics::CommandCtx<'static, macrokid_graphics::vulkan::Vulkan>>();",
    doc = "```"
)]
pub struct CommandCtx<'f, B: RenderBackend> {
    encoder: Option<B::CommandEncoder>,
    pass: PassEncoder<'f, B>,
    chunk: usize,
    _not_send: PhantomData<*const ()>,
}

impl<B: RenderBackend> CommandCtx<'_, B> {
    /// Records one instanced draw of `mesh` for the uploaded instances `instances`.
    ///
    /// # Errors
    /// [`GraphicsError::ForeignMesh`] for a mesh of another renderer;
    /// [`GraphicsError::InstanceRange`] when the range exceeds the uploaded instances.
    pub fn draw_instanced(
        &mut self,
        mesh: &GpuMesh<B>,
        instances: Range<u32>,
    ) -> Result<(), GraphicsError> {
        if mesh.renderer != self.pass.renderer {
            return Err(GraphicsError::ForeignMesh);
        }
        if instances.start > instances.end || instances.end > self.pass.instance_count {
            return Err(GraphicsError::InstanceRange {
                start: instances.start,
                end: instances.end,
                uploaded: self.pass.instance_count,
            });
        }
        if instances.is_empty() {
            return Ok(());
        }
        let encoder = self
            .encoder
            .as_mut()
            .expect("CommandCtx invariant: the encoder is present until finish");
        // SAFETY: the encoder was begun from `self.pass.slot` with the renderer's targets, for
        // which its pipeline was created; the mesh belongs to the same renderer (checked above),
        // so everything belongs to one device; `instances` lies within the frame's uploaded
        // instances (checked above), which `upload_instances` no longer changes once a draw is
        // recorded; the pipeline lives until `Renderer::drop` waited for idle.
        unsafe {
            B::draw_mesh_instanced(
                encoder,
                self.pass.pipeline,
                self.pass.slot,
                &self.pass.camera,
                &mesh.buffers,
                instances,
            );
        }
        Ok(())
    }

    /// The chunk index this context was begun with.
    pub fn chunk(&self) -> usize {
        self.chunk
    }

    /// Ends recording and queues the secondary command buffer for this frame's submit.
    ///
    /// # Errors
    /// Out-of-memory.
    pub fn finish(mut self) -> Result<(), GraphicsError> {
        let encoder = self
            .encoder
            .take()
            .expect("CommandCtx invariant: the encoder is present until finish");
        let cb = B::end_encoding(encoder)?;
        self.pass
            .sink
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push((self.chunk, cb));
        Ok(())
    }
}
