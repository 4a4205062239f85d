//! [`Renderer`]: owns the instance, device, queue, submission timeline, the output image, the
//! compiled frame graph with its transient targets ([`crate::frame::graph`]), the mesh and
//! post passes and the frame slots; uploads meshes; starts frames and reads them back.
//!
//! This is the safe API over the HAL: every call of an unsafe HAL function says in a
//! `SAFETY` comment how the renderer upholds its contract. The invariants relied on:
//! - a renderer's objects come from its own instance and device;
//! - every submission goes through the renderer's [`Timeline`], and a frame slot records the
//!   value its last successful submission signals; [`Renderer::begin_frame`] waits for that
//!   value before resetting the slot's encoders or rewriting its buffers;
//! - a [`Frame`] borrows the renderer mutably, so at most one frame is being prepared and no
//!   other call touches the slots meanwhile;
//! - objects the GPU may still use are kept alive by the backend until the timeline passes
//!   their last submission (see [`crate::hal`]), so dropping meshes, buffers or the renderer
//!   itself is always safe.
#![expect(
    unsafe_code,
    reason = "the safe renderer calls the HAL's unsafe functions and upholds their contracts"
)]

use std::marker::PhantomData;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use crate::frame::graph::{FrameGraph, DEPTH_FORMAT, HDR_FORMAT, OUTPUT_FORMAT};
use crate::frame::{Frame, FrameSlot, FrameTicket};
use crate::hal::{
    Adapter as _, BufferUsages, Capabilities, Device as _, Instance as _, InstanceDesc,
    RenderBackend, TextureDesc, TextureUsages, TextureViewDesc,
};
use crate::passes::{DescriptorPath, MeshPass, PostPass};
use crate::resource::{
    check_triangles, f32_bytes, MaterialDesc, MaterialEntry, MaterialHandle, MeshEntry, MeshHandle,
    Registry, SamplerCache, TextureEntry, TextureHandle, Timeline, Uploader,
};
use crate::scene::Vertex;
use crate::{
    AdapterInfo, BufferUse, FrameImage, FrameTimings, GraphicsError, Mesh, RendererConfig,
    TextureFormat, UsageError, ValidationCounts,
};

/// Number of frames that can be in flight at once (each has its own command encoders,
/// instance buffer and read-back buffer; the timeline paces them).
pub const FRAMES_IN_FLIGHT: usize = 2;

/// The passes a [`Renderer`] has; [`Frame::encoder_for`] accepts these names.
pub const PASSES: &[&str] = &["main"];

/// Environment variable that selects an adapter by (case-insensitive) name substring,
/// e.g. `MACROKID_ADAPTER=llvmpipe`. It overrides [`RendererConfig::adapter`].
pub const ADAPTER_ENV: &str = "MACROKID_ADAPTER";

/// Environment variable that selects how material textures are bound: `push` or `bindless`.
/// It overrides [`RendererConfig::descriptors`].
pub const DESCRIPTORS_ENV: &str = "MACROKID_DESCRIPTORS";

/// The descriptor path from `MACROKID_DESCRIPTORS`, the config, or the capabilities.
fn choose_descriptors(
    config: &RendererConfig,
    caps: &Capabilities,
) -> Result<DescriptorPath, GraphicsError> {
    let requested = match std::env::var(DESCRIPTORS_ENV)
        .ok()
        .filter(|s| !s.trim().is_empty())
    {
        Some(v) => match v.trim().to_ascii_lowercase().as_str() {
            "push" => Some(DescriptorPath::Push),
            "bindless" => Some(DescriptorPath::Bindless),
            other => {
                return Err(UsageError::InvalidConfig(format!(
                    "{DESCRIPTORS_ENV}={other:?}; use `push` or `bindless`, or unset it"
                ))
                .into())
            }
        },
        None => config.descriptors,
    };
    let path = requested.unwrap_or(if caps.descriptor_indexing {
        DescriptorPath::Bindless
    } else {
        DescriptorPath::Push
    });
    match path {
        DescriptorPath::Push if !caps.push_descriptors => {
            Err(crate::EnvironmentError::MissingExtension {
                kind: "device",
                name: "VK_KHR_push_descriptor".to_owned(),
                hint: "use a driver that has it (Mesa lavapipe does) or MACROKID_DESCRIPTORS=bindless",
            }
            .into())
        }
        DescriptorPath::Bindless if !caps.descriptor_indexing => {
            Err(crate::EnvironmentError::MissingExtension {
                kind: "device",
                name: "descriptor indexing (runtimeDescriptorArray, descriptorBindingPartiallyBound, \
                       shaderSampledImageArrayNonUniformIndexing, \
                       descriptorBindingSampledImageUpdateAfterBind)"
                    .to_owned(),
                hint: "use Mesa 25 lavapipe (`cargo xtask mesa`, then \
                       VK_DRIVER_FILES=target/mesa-backports/lvp_icd.json) or MACROKID_DESCRIPTORS=push",
            }
            .into())
        }
        p => Ok(p),
    }
}

static NEXT_RENDERER_ID: AtomicU64 = AtomicU64::new(1);

/// The offscreen output image (imported into the frame graph, left in `TransferSrc` by every
/// frame) and the format the geometry pass renders into. The depth and HDR targets are
/// transients of the frame graph ([`FrameGraph`]).
pub(crate) struct Targets<B: RenderBackend> {
    pub(crate) color: B::Texture,
    pub(crate) color_view: B::TextureView,
    /// Format the geometry pass renders into (`color`'s, or `Rgba16Float` with a post pass).
    pub(crate) geometry_format: TextureFormat,
}

/// A headless renderer: an offscreen RGBA8 output image, the frame as a compiled render graph
/// ([`Renderer::frame_graph`]: geometry with a D32 depth transient, optionally into an HDR
/// transient followed by the post pass, then the copy for read-back), the instanced mesh pass,
/// and [`FRAMES_IN_FLIGHT`] frame slots paced by a timeline fence.
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
///     frame.draw_instanced(cube)?;
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
    pub(crate) slots: Vec<FrameSlot<B>>,
    pub(crate) mesh_pass: MeshPass<B>,
    pub(crate) post_pass: Option<PostPass<B>>,
    /// The frame as a compiled render graph with its transients (depth, HDR).
    pub(crate) frame_graph: FrameGraph<B>,
    pub(crate) targets: Targets<B>,
    /// White 1×1 texture, factor 1: what draws without a material use.
    pub(crate) default_material: MaterialEntry<B>,
    /// Meshes, textures and materials behind handles, and their retire queue.
    pub(crate) registry: Registry<B>,
    samplers: SamplerCache<B>,
    uploader: Mutex<Uploader<B>>,
    pub(crate) timeline: Timeline<B>,
    pipeline_cache: B::PipelineCache,
    /// Whether the pipeline cache started from a saved file.
    pipeline_cache_loaded: bool,
    pub(crate) queue: B::Queue,
    pub(crate) device: B::Device,
    pub(crate) instance: B::Instance,
    adapter: AdapterInfo,
    capabilities: Capabilities,
    pub(crate) config: RendererConfig,
    pub(crate) id: u64,
    next_frame: u64,
    /// Headless frames begun: picks the next headless frame's slot (window frames use their
    /// windows' slots).
    next_headless: u64,
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
    /// opens the device and creates the timeline, targets, mesh pass and frame slots.
    ///
    /// # Errors
    /// [`UsageError::InvalidConfig`] for a zero size or zero threads;
    /// [`EnvironmentError`](crate::EnvironmentError) when Vulkan, a driver, the validation
    /// layer or the requested adapter is missing; device failures.
    pub fn with_backend(config: RendererConfig) -> Result<Renderer<B>, GraphicsError> {
        Self::create(config, false)
    }

    /// [`Renderer::with_backend`], with the surface and swapchain extensions enabled when
    /// `surfaces` (the [`Engine`](crate::window::Engine) of windows).
    pub(crate) fn create(
        config: RendererConfig,
        surfaces: bool,
    ) -> Result<Renderer<B>, GraphicsError> {
        config.check()?;
        let env = std::env::var(ADAPTER_ENV)
            .ok()
            .filter(|s| !s.trim().is_empty());
        let preference = match (&env, &config.adapter) {
            (Some(name), _) => Some((name.as_str(), ADAPTER_ENV)),
            (None, Some(name)) => Some((name.as_str(), "RendererConfig::adapter")),
            (None, None) => None,
        };
        let instance = B::Instance::init(&InstanceDesc {
            app_name: &config.app_name,
            validation: config.validation,
            surfaces,
        })?;
        let adapter = instance.select_adapter(preference)?;
        let adapter_info = adapter.info();
        let capabilities = adapter.capabilities();
        tracing::info!(backend = B::NAME, adapter = %adapter_info.name, ?capabilities, "renderer adapter selected");
        let descriptors = choose_descriptors(&config, &capabilities)?;
        tracing::info!(?descriptors, "descriptor path");
        // SAFETY: `adapter` was selected from `instance` just above.
        let (device, queue) = unsafe { adapter.open(&instance) }?;
        let (width, height) = (config.width, config.height);
        let color = device.create_texture(&TextureDesc {
            label: "colour target",
            width,
            height,
            format: OUTPUT_FORMAT,
            usage: TextureUsages::COLOR_ATTACHMENT | TextureUsages::COPY_SRC,
        })?;
        // The frame as a render graph, compiled once: the size and the post pass are fixed for
        // the renderer's life.
        let frame_graph = FrameGraph::<B>::new(
            &device,
            width,
            height,
            config.clear_color,
            config.post_process.is_some(),
            crate::frame::graph::Sink::ReadBack,
        )?;
        let targets = Targets {
            color_view: device.create_texture_view(&color, &TextureViewDesc { label: "output" })?,
            geometry_format: if frame_graph.hdr.is_some() {
                HDR_FORMAT
            } else {
                OUTPUT_FORMAT
            },
            color,
        };
        let cache_data = match &config.pipeline_cache {
            Some(path) => std::fs::read(path).unwrap_or_default(),
            None => Vec::new(),
        };
        let (pipeline_cache, cache_loaded) = device.create_pipeline_cache(&cache_data)?;
        tracing::debug!(path = ?config.pipeline_cache, bytes = cache_data.len(), used = cache_loaded, "pipeline cache");
        let mesh_pass = MeshPass::new(
            &device,
            targets.geometry_format,
            DEPTH_FORMAT,
            Some(&pipeline_cache),
            descriptors,
        )?;
        let hdr_view = frame_graph
            .hdr
            .and_then(|hdr| frame_graph.transients.get(hdr))
            .map(|(_, view)| view);
        let post_pass = match (hdr_view, config.post_process) {
            (Some(hdr_view), Some(params)) => Some(PostPass::new(
                &device,
                hdr_view,
                OUTPUT_FORMAT,
                (width, height),
                params,
                Some(&pipeline_cache),
            )?),
            _ => None,
        };
        let readback = u64::from(width) * u64::from(height) * 4;
        let slots = (0..FRAMES_IN_FLIGHT)
            .map(|_| {
                FrameSlot::new(
                    &device,
                    Some(readback),
                    (capabilities.timestamp_period_ns.is_some() && config.gpu_timestamps)
                        .then(|| frame_graph.query_count()),
                )
            })
            .collect::<Result<Vec<_>, _>>()?;
        let id = NEXT_RENDERER_ID.fetch_add(1, Ordering::Relaxed);
        let timeline = Timeline::new(&device)?;
        let mut uploader = Uploader::new(&device)?;
        let (texture, view) = uploader.texture(
            &device,
            &queue,
            &timeline,
            "white",
            1,
            1,
            TextureFormat::Rgba8UnormSrgb,
            &[255; 4],
        )?;
        let samplers = SamplerCache::<B>::new();
        let sampler = samplers.get(&device, &crate::hal::SamplerDesc::default())?;
        let bindless = mesh_pass.register_material(&device, &view, sampler.as_ref())?;
        let default_material = MaterialEntry {
            texture: Arc::new(TextureEntry {
                view,
                _texture: texture,
                size: (1, 1),
                format: TextureFormat::Rgba8UnormSrgb,
            }),
            sampler,
            base_color_factor: [1.0; 4],
            bindless,
        };
        Ok(Renderer {
            slots,
            mesh_pass,
            post_pass,
            frame_graph,
            targets,
            default_material,
            registry: Registry::new(),
            samplers,
            uploader: Mutex::new(uploader),
            timeline,
            pipeline_cache,
            pipeline_cache_loaded: cache_loaded,
            queue,
            device,
            instance,
            adapter: adapter_info,
            capabilities,
            config,
            id,
            next_frame: 0,
            next_headless: 0,
            _backend: PhantomData,
        })
    }

    /// The render graph every frame executes, compiled when the renderer was created: passes
    /// `main` (geometry: the secondaries recorded through [`Frame::encoder_for`]`("main")`,
    /// into the transient `hdr` target with a post pass, else into the imported `output`, with
    /// the transient `depth`), `post` (with [`RendererConfig::post_process`]: samples `hdr`,
    /// writes `output`) and `read-back` (copies `output` into the frame slot's imported
    /// `read-back` buffer). Its barriers are the only ones a frame records; its
    /// [`slots`](crate::graph::CompiledGraph::slots) are the transient memory.
    pub fn frame_graph(&self) -> &crate::graph::CompiledGraph {
        &self.frame_graph.compiled
    }

    /// The selected adapter.
    pub fn adapter_info(&self) -> &AdapterInfo {
        &self.adapter
    }

    /// The selected adapter's name, e.g. `llvmpipe (LLVM 15.0.6, 256 bits)`.
    pub fn adapter_name(&self) -> &str {
        &self.adapter.name
    }

    /// Optional capabilities of the selected adapter.
    pub fn capabilities(&self) -> Capabilities {
        self.capabilities
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
        self.instance.validation_counts()
    }

    /// The pipeline cache (for passes created outside the renderer, e.g. a window's post pass).
    #[cfg_attr(
        not(feature = "window"),
        allow(dead_code, reason = "used by windows only")
    )]
    pub(crate) fn pipeline_cache(&self) -> &B::PipelineCache {
        &self.pipeline_cache
    }

    /// The backend device (for HAL-level code and tests).
    pub fn device(&self) -> &B::Device {
        &self.device
    }

    /// Uploads a mesh and returns its handle (its [`Vertex`]es as they are: UVs and vertex
    /// colours included). See [`Renderer::upload_vertices`].
    ///
    /// # Errors
    /// [`GraphicsError::Mesh`] when the mesh is malformed (see [`Mesh::validate`]);
    /// out-of-memory.
    pub fn upload_mesh(&self, mesh: &Mesh) -> Result<MeshHandle, GraphicsError> {
        mesh.validate()?;
        self.upload_vertices(&mesh.vertices, &mesh.indices)
    }

    /// Uploads a triangle list (`indices.len() / 3` triangles, counter-clockwise front faces)
    /// into device-local vertex and index buffers, through the renderer's reused staging
    /// buffer. The call does not wait for the copy; frames submitted later see the data.
    ///
    /// # Errors
    /// [`UsageError::MeshData`] when `indices` is empty, not a multiple of 3 or refers past
    /// `vertices`; out-of-memory.
    pub fn upload_vertices(
        &self,
        vertices: &[Vertex],
        indices: &[u32],
    ) -> Result<MeshHandle, GraphicsError> {
        check_triangles(vertices, indices)?;
        let index_bytes: Vec<u8> = indices.iter().flat_map(|i| i.to_ne_bytes()).collect();
        let mut uploader = self.uploader.lock().unwrap_or_else(|p| p.into_inner());
        let vertex_buffer = uploader.buffer(
            &self.device,
            &self.queue,
            &self.timeline,
            "mesh vertices",
            BufferUsages::VERTEX,
            BufferUse::Vertex,
            f32_bytes(vertices),
        )?;
        let index_buffer = uploader.buffer(
            &self.device,
            &self.queue,
            &self.timeline,
            "mesh indices",
            BufferUsages::INDEX,
            BufferUse::Index,
            &index_bytes,
        )?;
        drop(uploader);
        let entry = MeshEntry {
            vertices: vertex_buffer,
            indices: index_buffer,
            index_count: indices.len() as u32,
            vertex_count: vertices.len() as u32,
        };
        Ok(crate::resource::write(&self.registry.meshes).insert(entry))
    }

    /// `(vertex count, index count)` of a mesh.
    ///
    /// # Errors
    /// [`UsageError::StaleHandle`] when the mesh was destroyed.
    pub fn mesh_counts(&self, mesh: MeshHandle) -> Result<(u32, u32), GraphicsError> {
        Ok(self.registry.mesh_counts(mesh)?)
    }

    /// Destroys a mesh: the handle is stale from now on; the GPU buffers are freed once the
    /// timeline passed every frame submitted so far (so frames in flight that draw it finish
    /// first; see [`Renderer::begin_frame`]).
    ///
    /// # Errors
    /// [`UsageError::StaleHandle`] when it was already destroyed.
    pub fn destroy_mesh(&self, mesh: MeshHandle) -> Result<(), GraphicsError> {
        let after = self.timeline.last_submitted();
        Ok(self.registry.destroy_mesh(mesh, after)?)
    }

    /// Destroys a texture handle as [`Renderer::destroy_mesh`] does; materials made from it
    /// keep the texture until they are destroyed too.
    ///
    /// # Errors
    /// [`UsageError::StaleHandle`] when it was already destroyed.
    pub fn destroy_texture(&self, texture: TextureHandle) -> Result<(), GraphicsError> {
        let after = self.timeline.last_submitted();
        Ok(self.registry.destroy_texture(texture, after)?)
    }

    /// Destroys a material as [`Renderer::destroy_mesh`] does.
    ///
    /// # Errors
    /// [`UsageError::StaleHandle`] when it was already destroyed.
    pub fn destroy_material(&self, material: MaterialHandle) -> Result<(), GraphicsError> {
        let after = self.timeline.last_submitted();
        Ok(self.registry.destroy_material(material, after)?)
    }

    /// Live device-memory allocations of the backend (vk-mem statistics on Vulkan): returns
    /// to its earlier value once destroyed resources were retired.
    pub fn allocation_count(&self) -> u64 {
        self.device.allocation_count()
    }

    /// Frees destroyed resources whose last possible use completed on the GPU, without
    /// waiting; returns how many destroyed resources still wait. [`Renderer::begin_frame`]
    /// does this too.
    ///
    /// # Errors
    /// Device lost.
    pub fn collect_garbage(&self) -> Result<usize, GraphicsError> {
        let completed = self.timeline.completed(&self.device)?;
        let waiting = self.registry.collect(completed);
        self.mesh_pass.collect(&self.device);
        Ok(waiting)
    }

    /// Uploads texels (`width × height × format.bytes_per_texel()` bytes, tightly packed rows,
    /// top to bottom) into a sampled texture. Use [`TextureFormat::Rgba8UnormSrgb`] for colour
    /// images stored in sRGB (glTF base-colour textures): sampling then returns linear values.
    /// The call does not wait for the copy.
    ///
    /// # Errors
    /// [`UsageError::TextureData`] when the byte count does not match, a side is zero or the
    /// format is a depth format; out-of-memory.
    pub fn upload_texture(
        &self,
        label: &str,
        width: u32,
        height: u32,
        format: TextureFormat,
        pixels: &[u8],
    ) -> Result<TextureHandle, GraphicsError> {
        let mut uploader = self.uploader.lock().unwrap_or_else(|p| p.into_inner());
        let (texture, view) = uploader.texture(
            &self.device,
            &self.queue,
            &self.timeline,
            label,
            width,
            height,
            format,
            pixels,
        )?;
        drop(uploader);
        let entry = Arc::new(TextureEntry {
            view,
            _texture: texture,
            size: (width, height),
            format,
        });
        Ok(crate::resource::write(&self.registry.textures).insert(entry))
    }

    /// `(width, height)` and format of a texture.
    ///
    /// # Errors
    /// [`UsageError::StaleHandle`] when the texture was destroyed.
    pub fn texture_info(
        &self,
        texture: TextureHandle,
    ) -> Result<((u32, u32), TextureFormat), GraphicsError> {
        let t = self.registry.texture(texture)?;
        Ok((t.size, t.format))
    }

    /// Creates a material: base-colour factor and texture (white when absent) with a sampler
    /// from the renderer's sampler cache (one sampler per distinct
    /// [`SamplerDesc`](crate::hal::SamplerDesc)).
    ///
    /// # Errors
    /// [`UsageError::StaleHandle`] for a destroyed texture; out-of-memory.
    pub fn create_material(&self, desc: &MaterialDesc) -> Result<MaterialHandle, GraphicsError> {
        let texture = match desc.base_color_texture {
            Some(t) => self.registry.texture(t)?,
            None => Arc::clone(&self.default_material.texture),
        };
        let sampler = self.samplers.get(&self.device, &desc.sampler)?;
        let bindless =
            self.mesh_pass
                .register_material(&self.device, &texture.view, sampler.as_ref())?;
        let entry = MaterialEntry {
            texture,
            sampler,
            base_color_factor: desc.base_color_factor,
            bindless,
        };
        Ok(crate::resource::write(&self.registry.materials).insert(entry))
    }

    /// How this renderer binds material textures.
    pub fn descriptor_path(&self) -> DescriptorPath {
        self.mesh_pass.path()
    }

    /// Number of distinct samplers the sampler cache created.
    pub fn sampler_count(&self) -> usize {
        self.samplers.len()
    }

    /// Starts the next headless frame: picks its frame slot and waits until the timeline
    /// passed that slot's last submission (the headless frame submitted [`FRAMES_IN_FLIGHT`]
    /// headless frames ago; window frames have their windows' own slots). A frame in that slot
    /// that was submitted but not read back is discarded.
    ///
    /// # Errors
    /// Device lost.
    pub fn begin_frame(&mut self) -> Result<Frame<'_, B>, GraphicsError> {
        self.begin_frame_for(None)
    }

    /// A frame slot for a window (its own, one per frame in flight): timestamp queries for
    /// the frame graph when the adapter has timestamps and the configuration wants them
    /// ([`RendererConfig::gpu_timestamps`]), no read-back buffer.
    ///
    /// # Errors
    /// Out-of-memory.
    #[cfg_attr(
        not(feature = "window"),
        allow(dead_code, reason = "used by windows only")
    )]
    pub(crate) fn create_window_slot(&self) -> Result<FrameSlot<B>, GraphicsError> {
        let queries = (self.capabilities.timestamp_period_ns.is_some()
            && self.config.gpu_timestamps)
            .then(|| self.frame_graph.query_count());
        Ok(FrameSlot::new(&self.device, None, queries)?)
    }

    /// [`Renderer::begin_frame`] into `target` (a window's swapchain image) with the window's
    /// frame slot instead of the headless output and one of the renderer's slots when given.
    pub(crate) fn begin_frame_for<'r>(
        &'r mut self,
        target: Option<(crate::frame::FrameTarget<'r, B>, &'r mut FrameSlot<B>)>,
    ) -> Result<Frame<'r, B>, GraphicsError> {
        let number = self.next_frame;
        let start = Instant::now();
        let period = self.capabilities.timestamp_period_ns;
        // `&mut self` (and the window's slot borrowed exclusively): no `Frame` (and so no
        // encoder, context or recorded command buffer, which all borrow a frame) of this slot
        // is alive, so nothing recorded from the slot before this wait can be submitted after
        // it.
        let mut target = target;
        let slot = match &mut target {
            Some((_, window_slot)) => {
                window_slot.wait_and_reset(&self.device, &self.timeline, period)?;
                usize::MAX
            }
            None => {
                let slot = (self.next_headless % FRAMES_IN_FLIGHT as u64) as usize;
                self.slots[slot].wait_and_reset(&self.device, &self.timeline, period)?;
                self.next_headless += 1;
                slot
            }
        };
        self.collect_garbage()?;
        self.next_frame += 1;
        let timings = FrameTimings {
            wait: start.elapsed(),
            ..FrameTimings::default()
        };
        Ok(Frame::new(self, slot, number, timings, target))
    }

    /// Waits for a submitted frame and copies its image to host memory.
    ///
    /// # Errors
    /// [`UsageError::StaleFrame`] when the ticket belongs to another renderer, was already
    /// read back, or its slot was reused; device lost.
    pub fn read_back(&mut self, ticket: FrameTicket) -> Result<FrameImage, GraphicsError> {
        if ticket.renderer != self.id {
            return Err(UsageError::StaleFrame {
                frame: ticket.frame,
                reason: "the ticket belongs to another renderer",
            }
            .into());
        }
        let start = Instant::now();
        let (width, height) = (self.config.width, self.config.height);
        let Some(slot) = self.slots.get_mut(ticket.slot) else {
            return Err(UsageError::StaleFrame {
                frame: ticket.frame,
                reason: "it is a window frame: presented, not read back",
            }
            .into());
        };
        let (rgba, mut timings) = slot.read_back(
            &self.device,
            &self.timeline,
            ticket.frame,
            self.capabilities.timestamp_period_ns,
            &self.frame_graph,
        )?;
        timings.gpu_and_readback = start.elapsed();
        Ok(FrameImage {
            width,
            height,
            rgba,
            frame: ticket.frame,
            timings,
        })
    }
}

impl<B: RenderBackend> Renderer<B> {
    /// Whether the pipeline cache started from the file at
    /// [`RendererConfig::pipeline_cache`] (written by an earlier renderer's drop for the same
    /// device and driver).
    pub fn pipeline_cache_loaded(&self) -> bool {
        self.pipeline_cache_loaded
    }

    /// Writes the pipeline cache to [`RendererConfig::pipeline_cache`] (through a temporary
    /// file and a rename, so a reader never sees half a file). Also done on drop.
    ///
    /// # Errors
    /// [`GraphicsError::WriteCache`] when the file cannot be written; out-of-memory.
    pub fn save_pipeline_cache(&self) -> Result<(), GraphicsError> {
        let Some(path) = &self.config.pipeline_cache else {
            return Ok(());
        };
        let data = self.device.pipeline_cache_data(&self.pipeline_cache)?;
        let err = |e: std::io::Error| GraphicsError::WriteCache {
            path: path.clone(),
            message: e.to_string(),
        };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(err)?;
        }
        static NEXT_TMP: AtomicU64 = AtomicU64::new(0);
        let tmp = path.with_extension(format!(
            "tmp{}-{}",
            std::process::id(),
            NEXT_TMP.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::write(&tmp, &data).map_err(err)?;
        std::fs::rename(&tmp, path).map_err(err)
    }
}

impl<B: RenderBackend> Drop for Renderer<B> {
    fn drop(&mut self) {
        if let Err(e) = self.device.wait_idle() {
            tracing::error!(error = %e, "waiting for the GPU before destroying the renderer failed");
        }
        if let Err(e) = self.save_pipeline_cache() {
            tracing::warn!(error = %e, "saving the pipeline cache failed");
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
