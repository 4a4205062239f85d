//! A frame: [`Frame`] (Prepare, then Submit on one thread), [`PassEncoder`] (`Send + Copy`,
//! handed to worker threads) and [`CommandCtx`] (not `Send`: one secondary command buffer from
//! an encoder the recording thread holds exclusively for the frame). Also the per-slot
//! resources ([`FrameSlot`]) the frames in flight rotate through.
//!
//! # How a frame is built
//! The frame is the renderer's [render graph](crate::graph) ([`graph`]): `main` (geometry) →
//! `post` (when configured) → `read-back`, compiled once per renderer. Recording happens in
//! two steps: draws go into secondary command buffers, recorded on any number of threads
//! through [`PassEncoder`]/[`CommandCtx`] (pass `"main"`) before [`Frame::submit`]; then
//! `submit`, on one thread, executes the compiled graph into the slot's primary command
//! buffer with the HAL's graph recorder: the graph's barriers and layout transitions before
//! each pass, a debug label and GPU timestamps around each pass, dynamic rendering with the
//! pass's attachments (the transients are the graph's, the output image and the slot's
//! read-back buffer are bound as imports), and each pass's callback: the secondaries in
//! ascending chunk order for `main`, the fullscreen draw for `post`, the copy for `read-back`.
//! No barrier is written by hand here: they all come from the compiled graph.
#![expect(
    unsafe_code,
    reason = "records and submits through the HAL's unsafe functions and upholds their contracts"
)]

use std::marker::PhantomData;
use std::ops::Range;
use std::sync::{Arc, Mutex, RwLockReadGuard};
use std::time::Instant;

use glam::{Mat4, Vec3};
use macrokid_core::SlotMap;
use rayon::prelude::*;

pub(crate) mod graph;

use crate::graph::PassCallbacks;
use crate::hal::{
    Buffer as _, BufferDesc, BufferTextureCopy, BufferUsages, CommandEncoder as _,
    CommandEncoderDesc, Device as _, MemoryLocation, RenderBackend, RenderTargetFormats,
};
use crate::passes::{MaterialBinding, MeshPass};
use crate::renderer::{Renderer, PASSES};
use crate::resource::{
    f32_bytes, read, MaterialEntry, MaterialHandle, MaterialKind, MeshEntry, MeshHandle, MeshKind,
    Registry, Timeline,
};
use crate::{
    Camera, DeviceError, FrameTimings, GpuTimings, GraphicsError, InstanceData, TextureFormat,
    UsageError,
};
use graph::{Bindings, FrameGraph, HalRecorder};

/// Resources of one frame in flight.
pub(crate) struct FrameSlot<B: RenderBackend> {
    /// Records the primary command buffer (submitting thread only).
    primary: B::CommandEncoder,
    /// Idle per-thread encoders; a [`CommandCtx`] takes one and puts it back when done.
    workers: Mutex<Vec<B::CommandEncoder>>,
    /// Host-visible per-instance data ([`InstanceData`]), grown when needed.
    instances: Option<B::Buffer>,
    /// Where the colour target is copied for read-back, and its size; `None` in a window's
    /// slots (window frames are presented, not read back).
    readback: Option<(B::Buffer, u64)>,
    /// Timeline value of the slot's last successful submission.
    submitted: Option<u64>,
    /// The frame submitted in this slot and not read back yet, with its timings.
    pending: Option<(u64, FrameTimings)>,
    /// Timestamps `2p`/`2p + 1` around the frame graph's pass at position `p`, and their
    /// number; `None` when the adapter has no timestamps.
    queries: Option<(B::QuerySet, u32)>,
    /// A window frame submitted in this slot whose timestamps were not read yet.
    window_timestamps: Option<WindowTimestamps>,
}

/// Where a window's frames put their GPU pass times once read (the window reads the latest).
pub(crate) type GpuTimingsCell = Arc<Mutex<Option<GpuTimings>>>;

/// A window frame's timestamps, still in its slot's queries: which frame, where its geometry
/// and post passes are in the window's compiled graph, and where the times go.
struct WindowTimestamps {
    frame: u64,
    /// The window graph's query count (two per pass), all written by its execution.
    count: u32,
    main: Option<usize>,
    post: Option<usize>,
    sink: GpuTimingsCell,
}

/// GPU time of the pass at `position` of a compiled graph from the frame's timestamps (`2p` and
/// `2p + 1` around pass `p`), in ticks of `period_ns` nanoseconds; zero for a pass culled from
/// the graph (no position).
fn pass_span(timestamps: &[u64], position: Option<usize>, period_ns: f32) -> std::time::Duration {
    let Some(p) = position else {
        return std::time::Duration::ZERO;
    };
    let (a, b) = (timestamps[2 * p], timestamps[2 * p + 1]);
    std::time::Duration::from_nanos((b.saturating_sub(a) as f64 * f64::from(period_ns)) as u64)
}

impl<B: RenderBackend> FrameSlot<B> {
    /// A slot with `queries` timestamp queries (none: the adapter has no timestamps) and, with
    /// `readback_bytes`, a read-back buffer of that size (the headless target's slots).
    ///
    /// # Errors
    /// Out-of-memory.
    pub(crate) fn new(
        device: &B::Device,
        readback_bytes: Option<u64>,
        queries: Option<u32>,
    ) -> Result<Self, DeviceError> {
        Ok(FrameSlot {
            queries: match queries {
                Some(count) => Some((device.create_timestamp_queries(count)?, count)),
                None => None,
            },
            primary: device.create_command_encoder(&CommandEncoderDesc { label: "frame" })?,
            workers: Mutex::new(Vec::new()),
            instances: None,
            readback: match readback_bytes {
                Some(size) => Some((
                    device.create_buffer(&BufferDesc {
                        label: "read-back",
                        size,
                        usage: BufferUsages::COPY_DST,
                        location: MemoryLocation::GpuToCpu,
                    })?,
                    size,
                )),
                None => None,
            },
            submitted: None,
            pending: None,
            window_timestamps: None,
        })
    }

    /// Reads the timestamps of the window frame last submitted in this slot (if any, and not
    /// read yet) into its window's [`GpuTimingsCell`]. Call only once the slot's last
    /// submission completed on the timeline.
    fn collect_window_timestamps(
        &mut self,
        device: &B::Device,
        timestamp_period_ns: Option<f32>,
    ) -> Result<(), DeviceError> {
        let Some(pending) = self.window_timestamps.take() else {
            return Ok(());
        };
        let (Some((queries, _)), Some(period)) = (&self.queries, timestamp_period_ns) else {
            return Ok(());
        };
        // SAFETY: the caller waited for the slot's last submission, the window frame that wrote
        // the queries (`window_timestamps` is replaced by every later submission of the slot);
        // its graph execution wrote the first `pending.count` of them (two per pass), which
        // the submission had reset first.
        let t = unsafe { device.read_timestamps(queries, 0, pending.count) }?;
        let times = GpuTimings {
            frame: pending.frame,
            geometry: pass_span(&t, pending.main, period),
            post: pass_span(&t, pending.post, period),
        };
        *pending.sink.lock().unwrap_or_else(|p| p.into_inner()) = Some(times);
        Ok(())
    }

    /// Reads a window frame's timestamps when the slot's last submission has completed
    /// (`completed` is the timeline's value), without waiting.
    #[cfg_attr(
        not(feature = "window"),
        allow(dead_code, reason = "used by windows only")
    )]
    pub(crate) fn poll_window_timestamps(
        &mut self,
        device: &B::Device,
        completed: u64,
        timestamp_period_ns: Option<f32>,
    ) -> Result<(), DeviceError> {
        if self.window_timestamps.is_some() && self.submitted.is_some_and(|v| v <= completed) {
            self.collect_window_timestamps(device, timestamp_period_ns)?;
        }
        Ok(())
    }

    /// Waits until the GPU passed the slot's last submission, then resets its encoders and
    /// discards a frame that was not read back.
    pub(crate) fn wait_and_reset(
        &mut self,
        device: &B::Device,
        timeline: &Timeline<B>,
        timestamp_period_ns: Option<f32>,
    ) -> Result<(), DeviceError> {
        if let Some(value) = self.submitted {
            timeline.wait(device, value)?;
        }
        // Before the slot's next frame resets the queries.
        self.collect_window_timestamps(device, timestamp_period_ns)?;
        // SAFETY: every command buffer these encoders ended was either submitted in the slot's
        // last submission (completed: waited above) or never submitted; the caller holds the
        // slot mutably (the renderer's, or a window's while the engine is borrowed mutably), so
        // no frame exists that could still submit one of them.
        unsafe {
            self.primary.reset_all()?;
            for worker in self
                .workers
                .get_mut()
                .unwrap_or_else(|p| p.into_inner())
                .iter_mut()
            {
                worker.reset_all()?;
            }
        }
        self.pending = None;
        Ok(())
    }

    /// Waits for frame `frame` of this slot and copies its image out.
    pub(crate) fn read_back(
        &mut self,
        device: &B::Device,
        timeline: &Timeline<B>,
        frame: u64,
        timestamp_period_ns: Option<f32>,
        frame_graph: &FrameGraph<B>,
    ) -> Result<(Vec<u8>, FrameTimings), GraphicsError> {
        let Some((pending, mut timings)) = self.pending else {
            return Err(UsageError::StaleFrame {
                frame,
                reason: "it was already read back or its frame slot was reused",
            }
            .into());
        };
        if pending != frame {
            return Err(UsageError::StaleFrame {
                frame,
                reason: "it was already read back or its frame slot was reused",
            }
            .into());
        }
        let value = self
            .submitted
            .expect("FrameSlot invariant: a pending frame was submitted");
        timeline.wait(device, value)?;
        let (readback, bytes) = self.readback.as_ref().expect(
            "FrameSlot invariant: a pending frame is a headless frame, whose slot reads back",
        );
        let mut rgba = Vec::new();
        // SAFETY: the submission that copied the image into the buffer completed (waited
        // above) and ended with a TransferDst → HostRead barrier; nothing else writes it until
        // the slot's next frame, which needs `&mut` renderer.
        unsafe { device.read_buffer(readback, 0, *bytes as usize, &mut rgba) }?;
        if let (Some((queries, count)), Some(period)) = (&self.queries, timestamp_period_ns) {
            // SAFETY: the submission that wrote the queries completed (waited above); it wrote
            // all `count` (two per kept pass of the frame graph).
            let t = unsafe { device.read_timestamps(queries, 0, *count) }?;
            let span = |pass: crate::graph::PassId| {
                pass_span(&t, frame_graph.compiled.pass(pass).position(), period)
            };
            timings.gpu_geometry = span(frame_graph.main);
            if let Some(post) = frame_graph.post {
                timings.gpu_post = span(post);
            }
        }
        self.pending = None;
        Ok((rgba, timings))
    }
}

/// Submits a window frame's command buffers: waits for the swapchain image's acquire
/// semaphore, signals the timeline value and the image's present semaphore.
pub(crate) type SubmitFn<'r, B> = Box<
    dyn FnOnce(
            &<B as RenderBackend>::Queue,
            Vec<<B as RenderBackend>::CommandBuffer>,
            (&<B as RenderBackend>::Fence, u64),
        ) -> Result<(), DeviceError>
        + Send
        + Sync
        + 'r,
>;

/// Presents a window frame's swapchain image after its submission.
pub(crate) type PresentFn<'r, B> = Box<
    dyn FnOnce(&<B as RenderBackend>::Queue, u64) -> Result<(), GraphicsError> + Send + Sync + 'r,
>;

/// Where a window frame draws: the window's frame graph (ending in `present`), its post pass,
/// the acquired swapchain image, how to submit and present it, and where its GPU pass times
/// go once read.
pub(crate) struct FrameTarget<'r, B: RenderBackend> {
    pub(crate) graph: &'r FrameGraph<B>,
    pub(crate) post: Option<&'r crate::passes::PostPass<B>>,
    pub(crate) image: (&'r B::Texture, &'r B::TextureView),
    pub(crate) size: (u32, u32),
    pub(crate) submit: SubmitFn<'r, B>,
    pub(crate) present: PresentFn<'r, B>,
    pub(crate) gpu_timings: GpuTimingsCell,
}

/// Proof that a frame was submitted; redeem it with [`Renderer::read_back`] before the same
/// frame slot is reused ([`FRAMES_IN_FLIGHT`](crate::FRAMES_IN_FLIGHT) frames later).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use = "read the frame back with Renderer::read_back"]
pub struct FrameTicket {
    pub(crate) renderer: u64,
    pub(crate) slot: usize,
    pub(crate) frame: u64,
}

impl FrameTicket {
    /// The frame number (0 for the renderer's first frame).
    pub fn frame(&self) -> u64 {
        self.frame
    }
}

/// One frame being prepared. Created by [`Renderer::begin_frame`]; consumed by
/// [`Frame::submit`] or [`Frame::finish`]. Dropping it without submitting discards it.
pub struct Frame<'r, B: RenderBackend> {
    renderer: &'r mut Renderer<B>,
    /// The renderer's frame slot of a headless frame.
    slot: usize,
    /// A window frame's slot (the window's own: command encoders, instance buffer, queries);
    /// `None` for a headless frame.
    window_slot: Option<&'r mut FrameSlot<B>>,
    number: u64,
    camera: Camera,
    instance_count: u32,
    next_chunk: usize,
    recorded: Mutex<Vec<(usize, B::CommandBuffer)>>,
    timings: FrameTimings,
    /// `(width, height)` of the frame's targets.
    size: (u32, u32),
    /// The window the frame draws into; `None` for the headless output.
    target: Option<FrameTarget<'r, B>>,
}

impl<'r, B: RenderBackend> Frame<'r, B> {
    /// A frame numbered `number` in the renderer's slot `slot` (headless), or into `target`
    /// with the window's `slot`.
    pub(crate) fn new(
        renderer: &'r mut Renderer<B>,
        slot: usize,
        number: u64,
        timings: FrameTimings,
        target: Option<(FrameTarget<'r, B>, &'r mut FrameSlot<B>)>,
    ) -> Frame<'r, B> {
        let (target, window_slot) = match target {
            Some((target, slot)) => (Some(target), Some(slot)),
            None => (None, None),
        };
        let size = target
            .as_ref()
            .map_or((renderer.config.width, renderer.config.height), |t| t.size);
        Frame {
            size,
            target,
            renderer,
            slot,
            window_slot,
            number,
            camera: Camera::default(),
            instance_count: 0,
            next_chunk: 0,
            recorded: Mutex::new(Vec::new()),
            timings,
        }
    }

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
    /// [`UsageError::UploadAfterRecording`] once draws were recorded this frame;
    /// [`UsageError::InvalidConfig`] for more than `u32::MAX` instances; out-of-memory.
    pub fn upload_instances(&mut self, instances: &[InstanceData]) -> Result<(), GraphicsError> {
        let recorded = self
            .recorded
            .get_mut()
            .unwrap_or_else(|p| p.into_inner())
            .len();
        if recorded > 0 {
            return Err(UsageError::UploadAfterRecording { recorded }.into());
        }
        let count = u32::try_from(instances.len()).map_err(|_| {
            UsageError::InvalidConfig(format!("{} instances exceed u32::MAX", instances.len()))
        })?;
        let start = Instant::now();
        let r = &mut *self.renderer;
        let slot = match &mut self.window_slot {
            Some(slot) => &mut **slot,
            None => &mut r.slots[self.slot],
        };
        let bytes = f32_bytes(instances);
        let needed = bytes.len() as u64;
        if slot.instances.as_ref().is_none_or(|b| b.size() < needed) {
            // Grow to the next power of two (at least 1024 instances) so steady growth is rare.
            // The old buffer may be read by a pending frame: the backend keeps it alive.
            slot.instances = Some(r.device.create_buffer(&BufferDesc {
                label: "instances",
                size: needed.next_power_of_two().max(1024 * 80),
                usage: BufferUsages::VERTEX,
                location: MemoryLocation::CpuToGpu,
            })?);
        }
        let buffer = slot.instances.as_ref().expect("created above");
        // SAFETY: the buffer is used only by this slot's submissions; `begin_frame` waited for
        // the last one, and this frame (the only one that can submit the slot) is not
        // submitted yet; no draw of this frame recorded the old contents (checked above:
        // finished contexts are in `recorded`; unfinished ones borrow `self` and cannot exist
        // during this `&mut self` call, and their buffers are never submitted).
        unsafe { r.device.write_buffer(buffer, 0, bytes) }?;
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
    /// [`UsageError::UnknownPass`].
    pub fn encoder_for(&self, pass: &str) -> Result<PassEncoder<'_, B>, GraphicsError> {
        if !PASSES.contains(&pass) {
            return Err(UsageError::UnknownPass {
                name: pass.to_owned(),
                known: PASSES,
            }
            .into());
        }
        let r = &*self.renderer;
        let slot = match &self.window_slot {
            Some(slot) => &**slot,
            None => &r.slots[self.slot],
        };
        Ok(PassEncoder {
            device: &r.device,
            workers: &slot.workers,
            mesh_pass: &r.mesh_pass,
            default_material: &r.default_material,
            registry: &r.registry,
            instances: slot.instances.as_ref(),
            size: self.size,
            color_format: r.targets.geometry_format,
            camera: crate::passes::mesh_push_constants(&self.camera),
            instance_count: self.instance_count,
            sink: &self.recorded,
        })
    }

    /// Draws `mesh` once per uploaded instance on the default number of recording threads
    /// ([`RendererConfig::recording_threads`](crate::RendererConfig::recording_threads)).
    /// See [`Frame::draw_range_with_threads`].
    ///
    /// # Errors
    /// As [`Frame::draw_range_with_threads`].
    pub fn draw_instanced(&mut self, mesh: MeshHandle) -> Result<(), GraphicsError> {
        let threads = self.renderer.config.recording_threads;
        self.draw_instanced_with_threads(mesh, threads)
    }

    /// Draws `mesh` for every uploaded instance into pass `pass` (only `"main"` exists),
    /// split into `threads` chunks recorded in parallel.
    ///
    /// # Errors
    /// [`UsageError::UnknownPass`]; as [`Frame::draw_range_with_threads`].
    pub fn record_instanced(
        &mut self,
        pass: &str,
        mesh: MeshHandle,
        threads: usize,
    ) -> Result<(), GraphicsError> {
        let all = 0..self.instance_count;
        self.draw_range_into(pass, mesh, None, all, threads)
    }

    /// Draws `mesh` for every uploaded instance (`0..instance_count`) on `threads` threads.
    /// See [`Frame::draw_range_with_threads`].
    ///
    /// # Errors
    /// As [`Frame::draw_range_with_threads`].
    pub fn draw_instanced_with_threads(
        &mut self,
        mesh: MeshHandle,
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
    /// [`UsageError::InvalidConfig`] for `threads == 0`; [`UsageError::InstanceRange`]
    /// when `range` exceeds the uploaded instances; [`UsageError::StaleHandle`];
    /// out-of-memory. If several threads fail, the error of the lowest chunk is returned.
    pub fn draw_range_with_threads(
        &mut self,
        mesh: MeshHandle,
        range: Range<u32>,
        threads: usize,
    ) -> Result<(), GraphicsError> {
        self.draw_range_into("main", mesh, None, range, threads)
    }

    /// [`Frame::draw_range_with_threads`] with `material` instead of the default white one:
    /// colour = base-colour texture × factor × vertex colour × instance tint.
    ///
    /// # Errors
    /// As [`Frame::draw_range_with_threads`]; [`UsageError::StaleHandle`] for a destroyed
    /// material.
    pub fn draw_material_range_with_threads(
        &mut self,
        mesh: MeshHandle,
        material: MaterialHandle,
        range: Range<u32>,
        threads: usize,
    ) -> Result<(), GraphicsError> {
        self.draw_range_into("main", mesh, Some(material), range, threads)
    }

    fn draw_range_into(
        &mut self,
        pass: &str,
        mesh: MeshHandle,
        material: Option<MaterialHandle>,
        range: Range<u32>,
        threads: usize,
    ) -> Result<(), GraphicsError> {
        if threads == 0 {
            return Err(UsageError::InvalidConfig(
                "drawing needs at least 1 recording thread".to_owned(),
            )
            .into());
        }
        if range.start > range.end || range.end > self.instance_count {
            return Err(UsageError::InstanceRange {
                start: range.start,
                end: range.end,
                uploaded: self.instance_count,
            }
            .into());
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
        let encoder = self.encoder_for(pass)?;
        let record = |i: usize| -> Result<(), GraphicsError> {
            let range = chunk_range(i);
            if range.is_empty() {
                return Ok(());
            }
            let mut ctx = encoder.begin(base + i)?;
            ctx.draw(mesh, material, range)?;
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

    /// Records the primary command buffer by executing the renderer's compiled
    /// [frame graph](Renderer::frame_graph) (its barriers and layout transitions, then per pass
    /// a debug label, GPU timestamps and rendering: the queued secondaries in ascending chunk
    /// order for `main`, the fullscreen draw for `post`, the copy to the read-back buffer for
    /// `read-back`) and submits it on the timeline. Returns a ticket for
    /// [`Renderer::read_back`].
    ///
    /// # Errors
    /// [`UsageError::DuplicateChunk`] when two contexts used the same chunk index;
    /// out-of-memory; device lost.
    pub fn submit(self) -> Result<FrameTicket, GraphicsError> {
        self.submit_inner().map(|(ticket, _)| ticket)
    }

    /// Submits a window frame (see [`Engine::begin_frame`](crate::window::Engine::begin_frame)):
    /// renders the window's frame graph into the acquired swapchain image and presents it. On a
    /// headless frame it is [`Frame::submit`] without the ticket (the image is not read back).
    ///
    /// # Errors
    /// As [`Frame::submit`]; surface lost.
    pub fn present(self) -> Result<(), GraphicsError> {
        self.submit_inner().map(drop)
    }

    /// [`Frame::submit`] followed by [`Renderer::read_back`]: waits for the GPU and returns
    /// the image.
    ///
    /// # Errors
    /// As [`Frame::submit`] and [`Renderer::read_back`].
    pub fn finish(self) -> Result<crate::FrameImage, GraphicsError> {
        let (ticket, renderer) = self.submit_inner()?;
        renderer.read_back(ticket)
    }

    fn submit_inner(self) -> Result<(FrameTicket, &'r mut Renderer<B>), GraphicsError> {
        let start = Instant::now();
        let Frame {
            renderer,
            slot: slot_index,
            number,
            recorded,
            mut timings,
            size: (width, height),
            target,
            window_slot,
            ..
        } = self;
        let mut recorded = recorded.into_inner().unwrap_or_else(|p| p.into_inner());
        recorded.sort_by_key(|(chunk, _)| *chunk);
        if let Some(w) = recorded.windows(2).find(|w| w[0].0 == w[1].0) {
            return Err(UsageError::DuplicateChunk { chunk: w[0].0 }.into());
        }
        let secondaries: Vec<_> = recorded.into_iter().map(|(_, cb)| cb).collect();
        let r = &mut *renderer;
        let targets = &r.targets;
        let slot = match window_slot {
            Some(slot) => slot,
            None => &mut r.slots[slot_index],
        };
        // A window frame executes the window's graph (ending in `present`); it writes
        // timestamps into the slot's queries when they are enough for its graph (the slot's are
        // sized for the renderer's graph, which has as many passes: `read-back` there,
        // `present` here), read when the slot's submission completed.
        let mut window_timestamps = None;
        let (fg, post_pass, queries, mut hooks) = match target {
            Some(t) => {
                let queries = slot
                    .queries
                    .as_ref()
                    .filter(|(_, count)| t.graph.query_count() <= *count)
                    .map(|(q, _)| q);
                if queries.is_some() {
                    window_timestamps = Some(WindowTimestamps {
                        frame: number,
                        count: t.graph.query_count(),
                        main: t.graph.compiled.pass(t.graph.main).position(),
                        post: t
                            .graph
                            .post
                            .and_then(|p| t.graph.compiled.pass(p).position()),
                        sink: t.gpu_timings,
                    });
                }
                (
                    t.graph,
                    t.post,
                    queries,
                    Some((t.image, t.submit, t.present)),
                )
            }
            None => (
                &r.frame_graph,
                r.post_pass.as_ref(),
                slot.queries.as_ref().map(|(q, _)| q),
                None,
            ),
        };
        let query_count = slot.queries.as_ref().map_or(0, |(_, n)| *n);
        let readback = slot.readback.as_ref().map(|(buffer, _)| buffer);
        let mut bindings = Bindings::new(&fg.compiled, &fg.transients);
        match &hooks {
            Some(((image, view), ..)) => {
                let swapchain = fg
                    .swapchain
                    .expect("a window's frame graph has a swapchain");
                bindings.texture(swapchain, image, view);
            }
            None => {
                let buffer = fg
                    .readback_buffer
                    .expect("a headless frame graph reads back");
                let readback = readback.expect("the renderer's frame slots read back");
                bindings
                    .texture(fg.output, &targets.color, &targets.color_view)
                    .buffer(buffer, readback);
            }
        }
        let mut secondaries = Some(secondaries);
        let mut callbacks = PassCallbacks::<B::CommandEncoder>::new(&fg.compiled);
        callbacks.set(fg.main, move |encoder| {
            if let Some(secondaries) = secondaries.take() {
                // SAFETY: inside the `main` pass's rendering with secondary contents (the
                // recorder's `secondaries` pass); the secondaries were begun by this frame's
                // contexts (they borrow the frame), after `begin_frame`, with the geometry
                // formats (`targets.geometry_format`, depth), and each is executed once.
                unsafe { encoder.execute_secondaries(secondaries) };
            }
            Ok(())
        });
        if let (Some(pass), Some(post)) = (fg.post, post_pass) {
            callbacks.set(pass, move |encoder| {
                // SAFETY: inside the `post` pass's inline rendering into the output (the format
                // the pass was made for) with the viewport set; the graph's barrier before the
                // pass moved the HDR target, which the pass's descriptor set points at, to
                // Sampled.
                unsafe { post.draw(encoder) };
                Ok(())
            });
        }
        if let (Some(pass), Some(readback)) = (fg.read_back, readback) {
            callbacks.set(pass, move |encoder| {
                // SAFETY: outside rendering (a pass without attachments); the graph's barrier
                // before the pass moved the output to TransferSrc and the read-back buffer
                // (`width × height × 4` bytes) to TransferDst.
                unsafe {
                    encoder.copy_texture_to_buffer(
                        &targets.color,
                        readback,
                        &[BufferTextureCopy {
                            buffer_offset: 0,
                            origin: (0, 0),
                            size: (width, height),
                        }],
                    );
                }
                Ok(())
            });
        }
        if let (Some(pass), Some(((image, _), ..))) = (fg.present, &hooks) {
            let output = fg
                .transients
                .get(fg.output)
                .expect("a window's output is a transient of its graph")
                .0;
            let image: &B::Texture = image;
            callbacks.set(pass, move |encoder| {
                // SAFETY: outside rendering (a pass without attachments); the graph's barrier
                // before the pass moved the output to TransferSrc and the swapchain image to
                // TransferDst; both are `width × height` (the graph's size is the swapchain's).
                unsafe { encoder.blit_texture(output, image, (width, height)) };
                Ok(())
            });
        }
        let encoder = &mut slot.primary;
        // SAFETY: the primary encoder was reset by `begin_frame` (after the slot's last
        // submission completed) and is not recording. The imports are in the uses the graph
        // declares at its start: the output (or the swapchain image) in `Undefined` use (its
        // contents are discarded; for the output, the first barrier waits for the TransferSrc
        // use the previous frame left it in; a swapchain image is ordered by its acquire
        // semaphore, which the submission waits for at all stages), the read-back buffer in
        // HostRead (the host read of the slot's previous frame happened before this
        // submission); the transients were allocated for this compiled graph and are used only
        // by its executions, submitted in order on the renderer's one queue. The timestamp
        // queries (`query_count` of them, the frame graph's) are reset first (the slot's
        // previous submission, which wrote them, completed), and the slot has queries only
        // when the adapter has timestamps. The callbacks above record what `new` allows.
        let cmd = unsafe {
            encoder.begin_encoding(Some("frame"))?;
            if let Some(q) = queries {
                encoder.reset_queries(q, 0..query_count);
            }
            let mut recorder = HalRecorder::<B>::new(encoder, bindings, queries, Some(fg.main));
            fg.compiled
                .execute(&mut recorder, &mut callbacks)
                .map_err(graph::execute_error)?;
            drop(callbacks);
            encoder.end_encoding()?
        };
        let value = match hooks.take() {
            None => {
                // SAFETY: `cmd` is a primary of this device, submitted once; the slot's encoders
                // are reset only after waiting for the returned value (`begin_frame`); the
                // barriers above order it after earlier frames and uploads on the queue.
                let value = unsafe { r.timeline.submit(&r.queue, vec![cmd]) }?;
                slot.pending = Some((number, timings));
                slot.window_timestamps = None;
                value
            }
            Some((_, submit, present)) => {
                let queue = &r.queue;
                // SAFETY: as above; `submit` adds only the swapchain semaphores.
                let value = unsafe {
                    r.timeline
                        .submit_with(|signal| submit(queue, vec![cmd], signal))
                }?;
                slot.pending = None;
                slot.submitted = Some(value);
                slot.window_timestamps = window_timestamps;
                // Presenting can fail (surface lost) after the submission succeeded: the
                // slot's submission is recorded first.
                present(queue, value)?;
                value
            }
        };
        slot.submitted = Some(value);
        timings.submit = start.elapsed();
        if let Some((_, t)) = &mut slot.pending {
            t.submit = timings.submit;
        }
        let ticket = FrameTicket {
            renderer: r.id,
            slot: slot_index,
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
    workers: &'f Mutex<Vec<B::CommandEncoder>>,
    mesh_pass: &'f MeshPass<B>,
    default_material: &'f MaterialEntry<B>,
    registry: &'f Registry<B>,
    instances: Option<&'f B::Buffer>,
    size: (u32, u32),
    /// Colour format of the geometry pass's attachment.
    color_format: TextureFormat,
    camera: [u8; crate::passes::MESH_PUSH_CONSTANT_BYTES as usize],
    instance_count: u32,
    sink: &'f Mutex<Vec<(usize, B::CommandBuffer)>>,
}

impl<B: RenderBackend> Clone for PassEncoder<'_, B> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<B: RenderBackend> Copy for PassEncoder<'_, B> {}

impl<'f, B: RenderBackend> PassEncoder<'f, B> {
    /// Begins a secondary command buffer on the calling thread, from a command encoder of this
    /// frame slot that the returned (non-`Send`) context holds exclusively until it finishes —
    /// so each recording thread has its own command pool for the frame, and pools are reused
    /// across frames rather than created per thread. `chunk` orders the result: secondaries
    /// execute in ascending chunk order, whatever thread recorded them or when; each chunk
    /// index may be used once per frame ([`Frame::draw_instanced`] uses `0..threads` for its
    /// first call, then continues upwards).
    ///
    /// # Errors
    /// Out-of-memory.
    pub fn begin(&self, chunk: usize) -> Result<CommandCtx<'f, B>, GraphicsError> {
        let pooled = self.workers.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let mut encoder = match pooled {
            Some(e) => e,
            None => self.device.create_command_encoder(&CommandEncoderDesc {
                label: "pass worker",
            })?,
        };
        // SAFETY: encoders in the idle list are not recording (contexts end theirs before
        // putting them back); the viewport covers the targets.
        let begun = unsafe {
            let colors = [self.color_format];
            let formats = RenderTargetFormats {
                colors: &colors,
                depth: Some(TextureFormat::Depth32Float),
            };
            encoder.begin_secondary(&formats).inspect(|_| {
                encoder.set_viewport([0.0, 0.0, self.size.0 as f32, self.size.1 as f32])
            })
        };
        if let Err(e) = begun {
            self.workers
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(encoder);
            return Err(e.into());
        }
        Ok(CommandCtx {
            encoder: Some(encoder),
            pass: *self,
            chunk,
            tables: None,
            bound: None,
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
/// From its first draw until [`CommandCtx::finish`] (or drop) a context holds read access to
/// the renderer's mesh and material tables, so a handle it checked once stays live for its
/// whole recording; nothing can create or destroy a mesh or material meanwhile anyway (the
/// [`Frame`] borrows the renderer exclusively). A draw of the same mesh and material as the
/// context's previous draw records only the draw command: the state it needs is still bound.
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
    /// Read access to the resource tables, taken at the first draw.
    tables: Option<Tables<'f, B>>,
    /// The mesh (with its index count) and material whose state the last draw bound.
    bound: Option<(MeshHandle, Option<MaterialHandle>, u32)>,
    _not_send: PhantomData<*const ()>,
}

/// The registry's mesh and material tables, read-locked for one context's recording.
struct Tables<'f, B: RenderBackend> {
    meshes: RwLockReadGuard<'f, SlotMap<MeshKind, MeshEntry<B>>>,
    materials: RwLockReadGuard<'f, SlotMap<MaterialKind, MaterialEntry<B>>>,
}

impl<'f, B: RenderBackend> CommandCtx<'f, B> {
    /// Records one instanced draw of `mesh` for the uploaded instances `instances`.
    ///
    /// # Errors
    /// [`UsageError::StaleHandle`] for a destroyed mesh;
    /// [`UsageError::InstanceRange`] when the range exceeds the uploaded instances.
    #[inline]
    pub fn draw_instanced(
        &mut self,
        mesh: MeshHandle,
        instances: Range<u32>,
    ) -> Result<(), GraphicsError> {
        self.draw(mesh, None, instances)
    }

    /// Records one instanced draw of `mesh` with `material` for the uploaded instances
    /// `instances`: colour = base-colour texture × factor × vertex colour × instance tint.
    ///
    /// # Errors
    /// [`UsageError::StaleHandle`] for a destroyed mesh or material;
    /// [`UsageError::InstanceRange`] when the range exceeds the uploaded instances.
    #[inline]
    pub fn draw_instanced_with(
        &mut self,
        mesh: MeshHandle,
        material: MaterialHandle,
        instances: Range<u32>,
    ) -> Result<(), GraphicsError> {
        self.draw(mesh, Some(material), instances)
    }

    /// The per-draw fast path, inlined into the caller's loop: a repeat of the previous
    /// draw's mesh and material with a valid, non-empty range records only the draw;
    /// everything else (first draw, a change, any error) goes through [`Self::draw_full`].
    #[inline]
    fn draw(
        &mut self,
        mesh: MeshHandle,
        material: Option<MaterialHandle>,
        instances: Range<u32>,
    ) -> Result<(), GraphicsError> {
        if let Some((m, mat, index_count)) = self.bound {
            if m == mesh
                && mat == material
                && instances.start < instances.end
                && instances.end <= self.pass.instance_count
            {
                if let Some(encoder) = self.encoder.as_mut() {
                    // SAFETY: `bound` is set only by a draw of this context that recorded the
                    // full state for `mesh` and `material` into this command buffer (see
                    // `draw_full`); only this context records into its encoder and every
                    // draw binds all the state it uses, so the pipeline, push constants
                    // (camera and this material's factor), the material's descriptor and the
                    // mesh's vertex, instance and index buffers are still bound; the mesh is
                    // still live (this context holds the tables' read locks since that draw)
                    // and `index_count` is its index count; `instances` is non-empty and lies
                    // within the frame's uploaded instances (checked above).
                    unsafe { encoder.draw_indexed(0..index_count, 0, instances) };
                    return Ok(());
                }
            }
        }
        self.draw_full(mesh, material, instances)
    }

    /// A draw with full checks and state binding.
    #[inline(never)]
    fn draw_full(
        &mut self,
        mesh: MeshHandle,
        material: Option<MaterialHandle>,
        instances: Range<u32>,
    ) -> Result<(), GraphicsError> {
        let registry: &'f Registry<B> = self.pass.registry;
        let tables = self.tables.get_or_insert_with(|| Tables {
            meshes: read(&registry.meshes),
            materials: read(&registry.materials),
        });
        // `ok_or_else`: the error formats the handle, which must not run per draw.
        let entry = tables
            .meshes
            .get(mesh)
            .ok_or_else(|| Registry::<B>::stale_mesh(mesh))?;
        let material_entry = match material {
            Some(h) => tables
                .materials
                .get(h)
                .ok_or_else(|| Registry::<B>::stale_material(h))?,
            None => self.pass.default_material,
        };
        if instances.start > instances.end || instances.end > self.pass.instance_count {
            return Err(UsageError::InstanceRange {
                start: instances.start,
                end: instances.end,
                uploaded: self.pass.instance_count,
            }
            .into());
        }
        let Some(instance_buffer) = self.pass.instances else {
            // Nothing uploaded: only the empty range passes the check above.
            return Ok(());
        };
        if instances.is_empty() {
            return Ok(());
        }
        let encoder = self
            .encoder
            .as_mut()
            .expect("CommandCtx invariant: the encoder is present until finish");
        // SAFETY: the encoder records a secondary begun with the mesh pass's attachment formats
        // and the viewport set (`PassEncoder::begin`); the mesh is a live entry of this
        // renderer's registry (looked up above), so its buffers were made with vertex/index
        // usage and left in Vertex/Index use by their upload's closing barrier, and its
        // indices were checked against its vertices; `instances` lies within the frame's
        // uploaded instances (checked above), which `upload_instances` no longer changes once
        // a draw is recorded; the renderer requires push descriptors, and the material's
        // texture (an entry of this renderer) was left in Sampled use by its upload's closing
        // barrier.
        unsafe {
            self.pass.mesh_pass.draw(
                encoder,
                &self.pass.camera,
                &MaterialBinding {
                    view: &material_entry.texture.view,
                    sampler: &material_entry.sampler,
                    bindless_index: material_entry.bindless.as_ref().map_or(0, |b| b.index),
                    base_color_factor: material_entry.base_color_factor,
                },
                &entry.vertices,
                &entry.indices,
                entry.index_count,
                instance_buffer,
                instances,
            );
        }
        self.bound = Some((mesh, material, entry.index_count));
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
        let mut encoder = self
            .encoder
            .take()
            .expect("CommandCtx invariant: the encoder is present until finish");
        // SAFETY: the encoder is recording a secondary, which begins no rendering of its own.
        let result = unsafe { encoder.end_encoding() };
        self.pass
            .workers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(encoder);
        let cb = result?;
        self.pass
            .sink
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push((self.chunk, cb));
        Ok(())
    }
}

impl<B: RenderBackend> Drop for CommandCtx<'_, B> {
    fn drop(&mut self) {
        // A context dropped without `finish`: end and discard its buffer, give the encoder back.
        if let Some(mut encoder) = self.encoder.take() {
            // SAFETY: the encoder is recording a secondary, which begins no rendering.
            let _discarded = unsafe { encoder.end_encoding() };
            self.pass
                .workers
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(encoder);
        }
    }
}
