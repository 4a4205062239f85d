//! The raw-ash baseline: the mesh pass of `macrokid_graphics` written directly on `ash` and
//! `vk-mem`, sharing no code with the crate's `vulkan` module (only the committed SPIR-V in
//! `shaders/`).
//!
//! What it mirrors, state for state, from the renderer (`src/passes/mesh.rs`,
//! `src/frame.rs`, `src/vulkan/`):
//! - Vulkan 1.3 instance (validation layer with synchronization validation when asked), an
//!   adapter chosen as the renderer does (`MACROKID_ADAPTER` substring, else discrete >
//!   integrated > virtual > CPU) that has dynamic rendering, synchronization2, timeline
//!   semaphores and `VK_KHR_push_descriptor`.
//! - One `R8G8B8A8_UNORM` colour target (colour attachment + transfer source) and one
//!   `D32_SFLOAT` depth target, shared by the frames in flight.
//! - The mesh pipeline: `mesh.vert`/`mesh.frag`, vertex binding 0 (48-byte [`Vertex`] stride,
//!   locations 0–3), instance binding 1 (80 bytes, locations 4–8), 96 bytes of push constants
//!   for vertex + fragment, set 0 = one push-descriptor combined image sampler, back-face
//!   culling, counter-clockwise front faces, depth test `LESS` with writes, no blending,
//!   dynamic viewport and scissor.
//! - The base-colour texture as `R8G8B8A8_SRGB`, one mip, sampled with linear/linear/linear
//!   filtering, repeat in u and v, clamp in w, `maxLod = VK_LOD_CLAMP_NONE`.
//! - 2 frames in flight paced by one timeline semaphore; per slot a primary command buffer,
//!   one command pool per recording thread (reset per frame), a host-visible instance buffer
//!   and a read-back buffer. A frame: instances copied into the slot's buffer, secondaries
//!   recorded (inheriting the dynamic-rendering formats), then the primary: barriers into
//!   attachment layouts, rendering cleared to the clear colour and depth 1.0 (depth not
//!   stored), the secondaries in chunk order, the colour copied to the read-back buffer and
//!   a transfer → host barrier; submitted with `vkQueueSubmit2` signalling the timeline.
//! - With a window ([`present`], `benches/window_vs_raw_ash.rs`): the same frame, except that
//!   instead of the copy to the read-back buffer the colour target is blitted into the acquired
//!   swapchain image, as the renderer's window frame graph does, and the submission waits for
//!   the acquisition and signals the image's present semaphore.
//!
//! [`Vertex`]: macrokid_graphics::scene::Vertex
#![expect(
    unsafe_code,
    reason = "the baseline is raw Vulkan through ash and vk-mem; each block states its contract"
)]
#![allow(
    dead_code,
    reason = "two bench targets include this module (offscreen and window); each uses a part"
)]

use std::ffi::{c_char, c_void, CStr};
use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use ash::{ext, khr, vk};
use vk_mem::Alloc as _;

#[cfg(feature = "window")]
pub(crate) mod present;

/// `shaders/mesh.vert`, the renderer's committed SPIR-V.
static MESH_VERT_SPV: &[u8] = include_bytes!("../../../../shaders/mesh.vert.spv");
/// `shaders/mesh.frag`, the renderer's committed SPIR-V.
static MESH_FRAG_SPV: &[u8] = include_bytes!("../../../../shaders/mesh.frag.spv");

const VALIDATION_LAYER: &CStr = c"VK_LAYER_KHRONOS_validation";
const COLOR_FORMAT: vk::Format = vk::Format::R8G8B8A8_UNORM;
const DEPTH_FORMAT: vk::Format = vk::Format::D32_SFLOAT;
const TEXTURE_FORMAT: vk::Format = vk::Format::R8G8B8A8_SRGB;
/// Bytes of one vertex (`scene::Vertex`).
const VERTEX_STRIDE: u32 = 48;
/// Bytes of one instance (`InstanceData`).
pub(crate) const INSTANCE_STRIDE: u32 = 80;
/// Bytes of push constants (`mat4 view_proj; vec4 light_dir_ambient; vec4 base_color_factor`).
pub(crate) const PUSH_CONSTANT_BYTES: usize = 96;
/// Frames in flight, as the renderer's `FRAMES_IN_FLIGHT`.
pub(crate) const FRAMES_IN_FLIGHT: usize = 2;

/// Validation warnings and errors reported to any baseline instance in this process.
static VALIDATION_MESSAGES: AtomicU64 = AtomicU64::new(0);

/// A failed Vulkan call of the baseline: what it was doing and the result code.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum RawAshError {
    /// A Vulkan or vk-mem call returned an error.
    #[error("raw-ash baseline: {what} failed: {result}")]
    Vulkan {
        /// The call that failed.
        what: &'static str,
        /// Its result code.
        result: vk::Result,
    },
    /// The Vulkan loader could not be loaded.
    #[error("raw-ash baseline: cannot load Vulkan ({0}); install libvulkan1 and a driver")]
    Loader(String),
    /// No adapter has what the mesh pass needs.
    #[error("raw-ash baseline: no Vulkan 1.3 adapter with dynamic rendering, synchronization2, timeline semaphores and VK_KHR_push_descriptor{0}")]
    NoAdapter(String),
    /// Validation was asked for but the layer is not installed.
    #[error("raw-ash baseline: VK_LAYER_KHRONOS_validation is missing; apt-get install vulkan-validationlayers")]
    NoValidationLayer,
    /// Bad scene input.
    #[error("raw-ash baseline: {0}")]
    Input(String),
}

fn vkr(what: &'static str) -> impl Fn(vk::Result) -> RawAshError {
    move |result| RawAshError::Vulkan { what, result }
}

/// Validation warnings and errors seen so far by every validated baseline in this process.
pub(crate) fn validation_messages() -> u64 {
    VALIDATION_MESSAGES.load(Ordering::Relaxed)
}

unsafe extern "system" fn debug_callback(
    severity: vk::DebugUtilsMessageSeverityFlagsEXT,
    _types: vk::DebugUtilsMessageTypeFlagsEXT,
    data: *const vk::DebugUtilsMessengerCallbackDataEXT<'_>,
    _user: *mut c_void,
) -> vk::Bool32 {
    if severity.intersects(
        vk::DebugUtilsMessageSeverityFlagsEXT::WARNING
            | vk::DebugUtilsMessageSeverityFlagsEXT::ERROR,
    ) {
        VALIDATION_MESSAGES.fetch_add(1, Ordering::Relaxed);
        // SAFETY: the layer passes a valid callback-data struct whose message, when not null,
        // is a NUL-terminated string alive for the duration of the callback.
        let message = unsafe {
            data.as_ref()
                .and_then(|d| d.message_as_c_str())
                .map(|m| m.to_string_lossy().into_owned())
                .unwrap_or_default()
        };
        eprintln!("raw-ash validation {severity:?}: {message}");
    }
    vk::FALSE
}

/// The scene both sides draw: one indexed mesh, one base-colour texture, one camera.
pub(crate) struct SceneDesc<'a> {
    /// Interleaved vertices, 48 bytes each (`scene::Vertex`, native endianness).
    pub(crate) vertices: &'a [u8],
    /// Triangle-list indices.
    pub(crate) indices: &'a [u32],
    /// Base-colour texture: width, height, RGBA8 sRGB texels (rows top to bottom).
    pub(crate) texture: (u32, u32, &'a [u8]),
    /// Push constants: the camera (view-projection, light direction + ambient) and the
    /// material's base-colour factor, as the renderer's mesh pass pushes them.
    pub(crate) push_constants: [u8; PUSH_CONSTANT_BYTES],
    /// Clear colour (linear RGBA).
    pub(crate) clear_color: [f32; 4],
}

/// How a frame draws its instances.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DrawMode {
    /// Chunk `i` of `threads` records one instanced draw of its contiguous instance range.
    Instanced,
    /// Chunk `i` of `threads` records one non-instanced draw per instance of its range
    /// (`firstInstance = i`, `instanceCount = 1`), binding pipeline, push constants,
    /// descriptor and buffers once per secondary.
    Separate,
    /// As [`DrawMode::Separate`], but pushing constants and the descriptor and binding the
    /// vertex and index buffers again before every draw (what a per-draw API without state
    /// tracking issues). A diagnostic: it shows how much of a per-draw cost is these
    /// commands themselves on the driver.
    SeparateRebind,
}

/// Where a frame's colour target goes after rendering.
enum Output {
    /// Copied into the slot's read-back buffer ([`RawAsh::read_back`]).
    ReadBack,
    /// Blitted into an acquired swapchain image.
    Present {
        /// The acquired image.
        image: vk::Image,
        /// Its extent.
        extent: vk::Extent2D,
        /// Signalled by the acquisition; the submission waits for it.
        acquired: vk::Semaphore,
        /// The image's present semaphore; the submission signals it.
        rendered: vk::Semaphore,
    },
}

struct Buffer {
    raw: vk::Buffer,
    allocation: vk_mem::Allocation,
    mapped: *mut u8,
    size: u64,
}

struct Image {
    raw: vk::Image,
    allocation: vk_mem::Allocation,
    view: vk::ImageView,
}

struct Slot {
    primary_pool: vk::CommandPool,
    primary: vk::CommandBuffer,
    /// One pool and secondary per recording thread (chunk).
    workers: Vec<(vk::CommandPool, vk::CommandBuffer)>,
    instances: Option<Buffer>,
    readback: Buffer,
    /// Timeline value of the slot's last submission.
    submitted: u64,
    /// Frame number submitted in this slot and not read back.
    pending: Option<u64>,
}

/// A `Send` view of one worker's secondary for one frame.
#[derive(Clone, Copy)]
struct RecordCtx<'a> {
    device: &'a ash::Device,
    push: &'a khr::push_descriptor::Device,
    layout: vk::PipelineLayout,
    pipeline: vk::Pipeline,
    image_info: vk::DescriptorImageInfo,
    push_constants: &'a [u8; PUSH_CONSTANT_BYTES],
    vertices: vk::Buffer,
    indices: vk::Buffer,
    index_count: u32,
    instances: vk::Buffer,
    extent: vk::Extent2D,
    mode: DrawMode,
}

/// The raw-ash renderer of the benchmark scene.
pub(crate) struct RawAsh {
    entry: ash::Entry,
    instance: ash::Instance,
    messenger: Option<(ext::debug_utils::Instance, vk::DebugUtilsMessengerEXT)>,
    device: ash::Device,
    physical: vk::PhysicalDevice,
    push: khr::push_descriptor::Device,
    allocator: Option<vk_mem::Allocator>,
    queue: vk::Queue,
    queue_family: u32,
    timeline: vk::Semaphore,
    timeline_value: u64,
    color: Option<Image>,
    depth: Option<Image>,
    targets_used: bool,
    texture: Option<Image>,
    sampler: vk::Sampler,
    vertex_buffer: Option<Buffer>,
    index_buffer: Option<Buffer>,
    index_count: u32,
    set_layout: vk::DescriptorSetLayout,
    layout: vk::PipelineLayout,
    pipeline: vk::Pipeline,
    slots: Vec<Slot>,
    push_constants: [u8; PUSH_CONSTANT_BYTES],
    clear_color: [f32; 4],
    extent: vk::Extent2D,
    next_frame: u64,
    adapter_name: String,
}

impl RawAsh {
    /// Creates the device, targets, mesh, texture and pipeline at `width × height`.
    ///
    /// # Errors
    /// A missing loader, adapter or validation layer; any failed Vulkan call.
    pub(crate) fn new(
        width: u32,
        height: u32,
        validation: bool,
        scene: &SceneDesc<'_>,
    ) -> Result<RawAsh, RawAshError> {
        Self::create(width, height, validation, scene, &[])
    }

    /// [`RawAsh::new`] with the instance extensions `instance_extensions` (a window system's
    /// surface extensions) and, when there are any, `VK_KHR_swapchain` on the device.
    fn create(
        width: u32,
        height: u32,
        validation: bool,
        scene: &SceneDesc<'_>,
        instance_extensions: &[*const c_char],
    ) -> Result<RawAsh, RawAshError> {
        if scene.vertices.len() % VERTEX_STRIDE as usize != 0 || scene.indices.is_empty() {
            return Err(RawAshError::Input(format!(
                "{} vertex bytes are not a multiple of {VERTEX_STRIDE}, or no indices",
                scene.vertices.len()
            )));
        }
        // SAFETY: loading the system loader runs its initialisation; nothing else loads it
        // concurrently in a way that matters to this process.
        let entry =
            unsafe { ash::Entry::load() }.map_err(|e| RawAshError::Loader(e.to_string()))?;
        let (instance, messenger) = create_instance(&entry, validation, instance_extensions)?;
        let (physical, queue_family, adapter_name) = match select_adapter(&instance) {
            Ok(found) => found,
            Err(e) => {
                // SAFETY: nothing was created from the instance yet except the messenger.
                unsafe { destroy_instance(&instance, messenger.as_ref()) };
                return Err(e);
            }
        };
        let priorities = [1.0f32];
        let queue_info = [vk::DeviceQueueCreateInfo::default()
            .queue_family_index(queue_family)
            .queue_priorities(&priorities)];
        let mut v12 = vk::PhysicalDeviceVulkan12Features::default().timeline_semaphore(true);
        let mut v13 = vk::PhysicalDeviceVulkan13Features::default()
            .dynamic_rendering(true)
            .synchronization2(true);
        let mut extensions = vec![khr::push_descriptor::NAME.as_ptr()];
        if !instance_extensions.is_empty() {
            extensions.push(khr::swapchain::NAME.as_ptr());
        }
        let device_info = vk::DeviceCreateInfo::default()
            .queue_create_infos(&queue_info)
            .enabled_extension_names(&extensions)
            .push_next(&mut v12)
            .push_next(&mut v13);
        // SAFETY: `physical` belongs to `instance`; the features and extension were checked by
        // `select_adapter`; every pointer in the create info outlives the call.
        let device = unsafe { instance.create_device(physical, &device_info, None) }
            .map_err(vkr("vkCreateDevice"))?;
        let push = khr::push_descriptor::Device::new(&instance, &device);
        // SAFETY: the queue family and index 0 were requested at device creation.
        let queue = unsafe { device.get_device_queue(queue_family, 0) };
        let mut alloc_info = vk_mem::AllocatorCreateInfo::new(&instance, &device, physical);
        alloc_info.vulkan_api_version = vk::API_VERSION_1_3;
        // SAFETY: instance, device and physical device are live and related; the allocator
        // is dropped before the device (`Drop for RawAsh`).
        let allocator =
            unsafe { vk_mem::Allocator::new(alloc_info) }.map_err(vkr("vmaCreateAllocator"))?;
        let mut timeline_type = vk::SemaphoreTypeCreateInfo::default()
            .semaphore_type(vk::SemaphoreType::TIMELINE)
            .initial_value(0);
        // SAFETY: valid create info on a live device with timeline semaphores enabled.
        let timeline = unsafe {
            device.create_semaphore(
                &vk::SemaphoreCreateInfo::default().push_next(&mut timeline_type),
                None,
            )
        }
        .map_err(vkr("vkCreateSemaphore"))?;
        let mut raw = RawAsh {
            entry,
            instance,
            messenger,
            device,
            physical,
            push,
            allocator: Some(allocator),
            queue,
            queue_family,
            timeline,
            timeline_value: 0,
            color: None,
            depth: None,
            targets_used: false,
            texture: None,
            sampler: vk::Sampler::null(),
            vertex_buffer: None,
            index_buffer: None,
            index_count: scene.indices.len() as u32,
            set_layout: vk::DescriptorSetLayout::null(),
            layout: vk::PipelineLayout::null(),
            pipeline: vk::Pipeline::null(),
            slots: Vec::new(),
            push_constants: scene.push_constants,
            clear_color: scene.clear_color,
            extent: vk::Extent2D { width, height },
            next_frame: 0,
            adapter_name,
        };
        // From here on `Drop` cleans up whatever was created.
        raw.create_targets()?;
        raw.create_pipeline()?;
        raw.upload_scene(scene)?;
        for _ in 0..FRAMES_IN_FLIGHT {
            let slot = raw.create_slot()?;
            raw.slots.push(slot);
        }
        Ok(raw)
    }

    /// The adapter's name.
    pub(crate) fn adapter_name(&self) -> &str {
        &self.adapter_name
    }

    fn allocator(&self) -> &vk_mem::Allocator {
        self.allocator
            .as_ref()
            .expect("RawAsh invariant: the allocator lives until drop")
    }

    fn create_image(
        &self,
        format: vk::Format,
        extent: vk::Extent2D,
        usage: vk::ImageUsageFlags,
        aspect: vk::ImageAspectFlags,
    ) -> Result<Image, RawAshError> {
        let info = vk::ImageCreateInfo::default()
            .image_type(vk::ImageType::TYPE_2D)
            .format(format)
            .extent(vk::Extent3D {
                width: extent.width,
                height: extent.height,
                depth: 1,
            })
            .mip_levels(1)
            .array_layers(1)
            .samples(vk::SampleCountFlags::TYPE_1)
            .tiling(vk::ImageTiling::OPTIMAL)
            .usage(usage)
            .initial_layout(vk::ImageLayout::UNDEFINED);
        let alloc = vk_mem::AllocationCreateInfo {
            usage: vk_mem::MemoryUsage::AutoPreferDevice,
            ..Default::default()
        };
        // SAFETY: valid create info; the allocator belongs to this device.
        let (raw, mut allocation) = unsafe { self.allocator().create_image(&info, &alloc) }
            .map_err(vkr("vmaCreateImage"))?;
        let view_info = vk::ImageViewCreateInfo::default()
            .image(raw)
            .view_type(vk::ImageViewType::TYPE_2D)
            .format(format)
            .subresource_range(range(aspect));
        // SAFETY: `raw` is a live image of this device with this format.
        match unsafe { self.device.create_image_view(&view_info, None) } {
            Ok(view) => Ok(Image {
                raw,
                allocation,
                view,
            }),
            Err(e) => {
                // SAFETY: the image was just created and is not in use.
                unsafe { self.allocator().destroy_image(raw, &mut allocation) };
                Err(vkr("vkCreateImageView")(e))
            }
        }
    }

    fn create_buffer(
        &self,
        size: u64,
        usage: vk::BufferUsageFlags,
        host: Option<vk_mem::AllocationCreateFlags>,
    ) -> Result<Buffer, RawAshError> {
        let info = vk::BufferCreateInfo::default()
            .size(size)
            .usage(usage)
            .sharing_mode(vk::SharingMode::EXCLUSIVE);
        let alloc = match host {
            Some(flags) => vk_mem::AllocationCreateInfo {
                usage: vk_mem::MemoryUsage::Auto,
                flags: flags | vk_mem::AllocationCreateFlags::MAPPED,
                ..Default::default()
            },
            None => vk_mem::AllocationCreateInfo {
                usage: vk_mem::MemoryUsage::AutoPreferDevice,
                ..Default::default()
            },
        };
        // SAFETY: valid create info; the allocator belongs to this device.
        let (raw, allocation) = unsafe { self.allocator().create_buffer(&info, &alloc) }
            .map_err(vkr("vmaCreateBuffer"))?;
        let mapped = self
            .allocator()
            .get_allocation_info(&allocation)
            .mapped_data as *mut u8;
        Ok(Buffer {
            raw,
            allocation,
            mapped,
            size,
        })
    }

    fn destroy_buffer(&self, mut buffer: Buffer) {
        // SAFETY: callers pass buffers no pending GPU work uses (after a wait or device idle).
        unsafe {
            self.allocator()
                .destroy_buffer(buffer.raw, &mut buffer.allocation)
        };
    }

    fn destroy_image(&self, mut image: Image) {
        // SAFETY: called on drop after the device is idle; the view belongs to the image.
        unsafe {
            self.device.destroy_image_view(image.view, None);
            self.allocator()
                .destroy_image(image.raw, &mut image.allocation);
        }
    }

    fn create_targets(&mut self) -> Result<(), RawAshError> {
        self.color = Some(self.create_image(
            COLOR_FORMAT,
            self.extent,
            vk::ImageUsageFlags::COLOR_ATTACHMENT | vk::ImageUsageFlags::TRANSFER_SRC,
            vk::ImageAspectFlags::COLOR,
        )?);
        self.depth = Some(self.create_image(
            DEPTH_FORMAT,
            self.extent,
            vk::ImageUsageFlags::DEPTH_STENCIL_ATTACHMENT,
            vk::ImageAspectFlags::DEPTH,
        )?);
        Ok(())
    }

    fn create_pipeline(&mut self) -> Result<(), RawAshError> {
        let d = &self.device;
        let module = |spv: &[u8], what| -> Result<vk::ShaderModule, RawAshError> {
            let words = ash::util::read_spv(&mut std::io::Cursor::new(spv))
                .map_err(|e| RawAshError::Input(format!("{what}: {e}")))?;
            // SAFETY: `words` is a SPIR-V word stream (magic checked by read_spv), compiled
            // from shaders/ by the project's xtask.
            unsafe {
                d.create_shader_module(&vk::ShaderModuleCreateInfo::default().code(&words), None)
            }
            .map_err(vkr("vkCreateShaderModule"))
        };
        let vert = module(MESH_VERT_SPV, "mesh.vert.spv")?;
        let frag = match module(MESH_FRAG_SPV, "mesh.frag.spv") {
            Ok(m) => m,
            Err(e) => {
                // SAFETY: the module was just created and is unused.
                unsafe { d.destroy_shader_module(vert, None) };
                return Err(e);
            }
        };
        let result = self.create_pipeline_with(vert, frag);
        // SAFETY: pipeline creation has returned; modules may be destroyed afterwards.
        unsafe {
            self.device.destroy_shader_module(vert, None);
            self.device.destroy_shader_module(frag, None);
        }
        result
    }

    fn create_pipeline_with(
        &mut self,
        vert: vk::ShaderModule,
        frag: vk::ShaderModule,
    ) -> Result<(), RawAshError> {
        let d = &self.device;
        let binding = [vk::DescriptorSetLayoutBinding::default()
            .binding(0)
            .descriptor_type(vk::DescriptorType::COMBINED_IMAGE_SAMPLER)
            .descriptor_count(1)
            .stage_flags(vk::ShaderStageFlags::FRAGMENT)];
        // SAFETY: valid create info; push descriptors are enabled on this device.
        self.set_layout = unsafe {
            d.create_descriptor_set_layout(
                &vk::DescriptorSetLayoutCreateInfo::default()
                    .flags(vk::DescriptorSetLayoutCreateFlags::PUSH_DESCRIPTOR_KHR)
                    .bindings(&binding),
                None,
            )
        }
        .map_err(vkr("vkCreateDescriptorSetLayout"))?;
        let set_layouts = [self.set_layout];
        let push_ranges = [vk::PushConstantRange {
            stage_flags: vk::ShaderStageFlags::VERTEX | vk::ShaderStageFlags::FRAGMENT,
            offset: 0,
            size: PUSH_CONSTANT_BYTES as u32,
        }];
        // SAFETY: valid create info referencing the live set layout.
        self.layout = unsafe {
            d.create_pipeline_layout(
                &vk::PipelineLayoutCreateInfo::default()
                    .set_layouts(&set_layouts)
                    .push_constant_ranges(&push_ranges),
                None,
            )
        }
        .map_err(vkr("vkCreatePipelineLayout"))?;
        let stages = [
            vk::PipelineShaderStageCreateInfo::default()
                .stage(vk::ShaderStageFlags::VERTEX)
                .module(vert)
                .name(c"main"),
            vk::PipelineShaderStageCreateInfo::default()
                .stage(vk::ShaderStageFlags::FRAGMENT)
                .module(frag)
                .name(c"main"),
        ];
        let bindings = [
            vk::VertexInputBindingDescription {
                binding: 0,
                stride: VERTEX_STRIDE,
                input_rate: vk::VertexInputRate::VERTEX,
            },
            vk::VertexInputBindingDescription {
                binding: 1,
                stride: INSTANCE_STRIDE,
                input_rate: vk::VertexInputRate::INSTANCE,
            },
        ];
        let attr = |location, binding, format, offset| vk::VertexInputAttributeDescription {
            location,
            binding,
            format,
            offset,
        };
        let f3 = vk::Format::R32G32B32_SFLOAT;
        let f2 = vk::Format::R32G32_SFLOAT;
        let f4 = vk::Format::R32G32B32A32_SFLOAT;
        let attributes = [
            attr(0, 0, f3, 0),
            attr(1, 0, f3, 12),
            attr(2, 0, f2, 24),
            attr(3, 0, f4, 32),
            attr(4, 1, f4, 0),
            attr(5, 1, f4, 16),
            attr(6, 1, f4, 32),
            attr(7, 1, f4, 48),
            attr(8, 1, f4, 64),
        ];
        let vertex_input = vk::PipelineVertexInputStateCreateInfo::default()
            .vertex_binding_descriptions(&bindings)
            .vertex_attribute_descriptions(&attributes);
        let input_assembly = vk::PipelineInputAssemblyStateCreateInfo::default()
            .topology(vk::PrimitiveTopology::TRIANGLE_LIST);
        let viewport = vk::PipelineViewportStateCreateInfo::default()
            .viewport_count(1)
            .scissor_count(1);
        let raster = vk::PipelineRasterizationStateCreateInfo::default()
            .polygon_mode(vk::PolygonMode::FILL)
            .cull_mode(vk::CullModeFlags::BACK)
            .front_face(vk::FrontFace::COUNTER_CLOCKWISE)
            .line_width(1.0);
        let multisample = vk::PipelineMultisampleStateCreateInfo::default()
            .rasterization_samples(vk::SampleCountFlags::TYPE_1);
        let depth = vk::PipelineDepthStencilStateCreateInfo::default()
            .depth_test_enable(true)
            .depth_write_enable(true)
            .depth_compare_op(vk::CompareOp::LESS);
        let blend_attachments = [vk::PipelineColorBlendAttachmentState::default()
            .blend_enable(false)
            .color_write_mask(vk::ColorComponentFlags::RGBA)];
        let blend =
            vk::PipelineColorBlendStateCreateInfo::default().attachments(&blend_attachments);
        let dynamic_states = [vk::DynamicState::VIEWPORT, vk::DynamicState::SCISSOR];
        let dynamic = vk::PipelineDynamicStateCreateInfo::default().dynamic_states(&dynamic_states);
        let color_formats = [COLOR_FORMAT];
        let mut rendering = vk::PipelineRenderingCreateInfo::default()
            .color_attachment_formats(&color_formats)
            .depth_attachment_format(DEPTH_FORMAT);
        let info = vk::GraphicsPipelineCreateInfo::default()
            .stages(&stages)
            .vertex_input_state(&vertex_input)
            .input_assembly_state(&input_assembly)
            .viewport_state(&viewport)
            .rasterization_state(&raster)
            .multisample_state(&multisample)
            .depth_stencil_state(&depth)
            .color_blend_state(&blend)
            .dynamic_state(&dynamic)
            .layout(self.layout)
            .push_next(&mut rendering);
        // SAFETY: every state struct and the pNext chain are locals alive for the call; the
        // modules and layout are live objects of this device.
        let pipelines =
            unsafe { d.create_graphics_pipelines(vk::PipelineCache::null(), &[info], None) }
                .map_err(|(_, e)| vkr("vkCreateGraphicsPipelines")(e))?;
        self.pipeline = pipelines[0];
        let sampler_info = vk::SamplerCreateInfo::default()
            .mag_filter(vk::Filter::LINEAR)
            .min_filter(vk::Filter::LINEAR)
            .mipmap_mode(vk::SamplerMipmapMode::LINEAR)
            .address_mode_u(vk::SamplerAddressMode::REPEAT)
            .address_mode_v(vk::SamplerAddressMode::REPEAT)
            .address_mode_w(vk::SamplerAddressMode::CLAMP_TO_EDGE)
            .max_lod(vk::LOD_CLAMP_NONE);
        // SAFETY: valid create info on a live device.
        self.sampler =
            unsafe { d.create_sampler(&sampler_info, None) }.map_err(vkr("vkCreateSampler"))?;
        Ok(())
    }

    /// Uploads vertices, indices and the texture through staging buffers in one submission
    /// and waits for it.
    fn upload_scene(&mut self, scene: &SceneDesc<'_>) -> Result<(), RawAshError> {
        let index_bytes: Vec<u8> = scene.indices.iter().flat_map(|i| i.to_ne_bytes()).collect();
        let (tw, th, texels) = scene.texture;
        if texels.len() as u64 != u64::from(tw) * u64::from(th) * 4 || tw == 0 || th == 0 {
            return Err(RawAshError::Input(format!(
                "texture of {tw}×{th} needs {} bytes, got {}",
                u64::from(tw) * u64::from(th) * 4,
                texels.len()
            )));
        }
        let transfer = vk::BufferUsageFlags::TRANSFER_DST;
        self.vertex_buffer = Some(self.create_buffer(
            scene.vertices.len() as u64,
            vk::BufferUsageFlags::VERTEX_BUFFER | transfer,
            None,
        )?);
        self.index_buffer = Some(self.create_buffer(
            index_bytes.len() as u64,
            vk::BufferUsageFlags::INDEX_BUFFER | transfer,
            None,
        )?);
        self.texture = Some(self.create_image(
            TEXTURE_FORMAT,
            vk::Extent2D {
                width: tw,
                height: th,
            },
            vk::ImageUsageFlags::SAMPLED | vk::ImageUsageFlags::TRANSFER_DST,
            vk::ImageAspectFlags::COLOR,
        )?);
        let total = scene.vertices.len() + index_bytes.len() + texels.len();
        let staging = self.create_buffer(
            total as u64,
            vk::BufferUsageFlags::TRANSFER_SRC,
            Some(vk_mem::AllocationCreateFlags::HOST_ACCESS_SEQUENTIAL_WRITE),
        )?;
        let result = self.upload_through(&staging, scene.vertices, &index_bytes, (tw, th, texels));
        self.destroy_buffer(staging);
        result
    }

    fn upload_through(
        &self,
        staging: &Buffer,
        vertices: &[u8],
        indices: &[u8],
        (tw, th, texels): (u32, u32, &[u8]),
    ) -> Result<(), RawAshError> {
        let d = &self.device;
        let (v_off, i_off, t_off) = (0usize, vertices.len(), vertices.len() + indices.len());
        // SAFETY: the staging buffer is persistently mapped with `staging.size` bytes, which
        // is the sum of the three lengths; nothing else accesses it.
        unsafe {
            std::ptr::copy_nonoverlapping(
                vertices.as_ptr(),
                staging.mapped.add(v_off),
                vertices.len(),
            );
            std::ptr::copy_nonoverlapping(
                indices.as_ptr(),
                staging.mapped.add(i_off),
                indices.len(),
            );
            std::ptr::copy_nonoverlapping(texels.as_ptr(), staging.mapped.add(t_off), texels.len());
        }
        self.allocator()
            .flush_allocation(&staging.allocation, 0, vk::WHOLE_SIZE)
            .map_err(vkr("vmaFlushAllocation"))?;
        let vb = self
            .vertex_buffer
            .as_ref()
            .expect("created by upload_scene");
        let ib = self.index_buffer.as_ref().expect("created by upload_scene");
        let tex = self.texture.as_ref().expect("created by upload_scene");
        // SAFETY: a valid create info on a live device.
        let pool = unsafe {
            d.create_command_pool(
                &vk::CommandPoolCreateInfo::default()
                    .flags(vk::CommandPoolCreateFlags::TRANSIENT)
                    .queue_family_index(self.queue_family),
                None,
            )
        }
        .map_err(vkr("vkCreateCommandPool"))?;
        // SAFETY: the pool is live; the commands copy within the buffers' sizes (computed
        // above), the texture goes UNDEFINED → TRANSFER_DST → SHADER_READ_ONLY with barriers,
        // the buffers end with barriers to vertex/index input; the submission is waited for
        // (queue idle) before the pool and staging buffer are destroyed.
        let result = unsafe {
            let record = || -> Result<(), RawAshError> {
                let cmd = d
                    .allocate_command_buffers(
                        &vk::CommandBufferAllocateInfo::default()
                            .command_pool(pool)
                            .level(vk::CommandBufferLevel::PRIMARY)
                            .command_buffer_count(1),
                    )
                    .map_err(vkr("vkAllocateCommandBuffers"))?[0];
                d.begin_command_buffer(
                    cmd,
                    &vk::CommandBufferBeginInfo::default()
                        .flags(vk::CommandBufferUsageFlags::ONE_TIME_SUBMIT),
                )
                .map_err(vkr("vkBeginCommandBuffer"))?;
                d.cmd_copy_buffer(
                    cmd,
                    staging.raw,
                    vb.raw,
                    &[vk::BufferCopy {
                        src_offset: v_off as u64,
                        dst_offset: 0,
                        size: vertices.len() as u64,
                    }],
                );
                d.cmd_copy_buffer(
                    cmd,
                    staging.raw,
                    ib.raw,
                    &[vk::BufferCopy {
                        src_offset: i_off as u64,
                        dst_offset: 0,
                        size: indices.len() as u64,
                    }],
                );
                let to_dst = [vk::ImageMemoryBarrier2::default()
                    .src_stage_mask(vk::PipelineStageFlags2::NONE)
                    .src_access_mask(vk::AccessFlags2::NONE)
                    .dst_stage_mask(vk::PipelineStageFlags2::COPY)
                    .dst_access_mask(vk::AccessFlags2::TRANSFER_WRITE)
                    .old_layout(vk::ImageLayout::UNDEFINED)
                    .new_layout(vk::ImageLayout::TRANSFER_DST_OPTIMAL)
                    .image(tex.raw)
                    .subresource_range(range(vk::ImageAspectFlags::COLOR))];
                d.cmd_pipeline_barrier2(
                    cmd,
                    &vk::DependencyInfo::default().image_memory_barriers(&to_dst),
                );
                d.cmd_copy_buffer_to_image(
                    cmd,
                    staging.raw,
                    tex.raw,
                    vk::ImageLayout::TRANSFER_DST_OPTIMAL,
                    &[vk::BufferImageCopy {
                        buffer_offset: t_off as u64,
                        buffer_row_length: 0,
                        buffer_image_height: 0,
                        image_subresource: layers(vk::ImageAspectFlags::COLOR),
                        image_offset: vk::Offset3D::default(),
                        image_extent: vk::Extent3D {
                            width: tw,
                            height: th,
                            depth: 1,
                        },
                    }],
                );
                let to_read = [vk::ImageMemoryBarrier2::default()
                    .src_stage_mask(vk::PipelineStageFlags2::COPY)
                    .src_access_mask(vk::AccessFlags2::TRANSFER_WRITE)
                    .dst_stage_mask(vk::PipelineStageFlags2::FRAGMENT_SHADER)
                    .dst_access_mask(vk::AccessFlags2::SHADER_SAMPLED_READ)
                    .old_layout(vk::ImageLayout::TRANSFER_DST_OPTIMAL)
                    .new_layout(vk::ImageLayout::SHADER_READ_ONLY_OPTIMAL)
                    .image(tex.raw)
                    .subresource_range(range(vk::ImageAspectFlags::COLOR))];
                let buffers = [
                    vk::BufferMemoryBarrier2::default()
                        .src_stage_mask(vk::PipelineStageFlags2::COPY)
                        .src_access_mask(vk::AccessFlags2::TRANSFER_WRITE)
                        .dst_stage_mask(vk::PipelineStageFlags2::VERTEX_ATTRIBUTE_INPUT)
                        .dst_access_mask(vk::AccessFlags2::VERTEX_ATTRIBUTE_READ)
                        .buffer(vb.raw)
                        .size(vk::WHOLE_SIZE),
                    vk::BufferMemoryBarrier2::default()
                        .src_stage_mask(vk::PipelineStageFlags2::COPY)
                        .src_access_mask(vk::AccessFlags2::TRANSFER_WRITE)
                        .dst_stage_mask(vk::PipelineStageFlags2::INDEX_INPUT)
                        .dst_access_mask(vk::AccessFlags2::INDEX_READ)
                        .buffer(ib.raw)
                        .size(vk::WHOLE_SIZE),
                ];
                d.cmd_pipeline_barrier2(
                    cmd,
                    &vk::DependencyInfo::default()
                        .image_memory_barriers(&to_read)
                        .buffer_memory_barriers(&buffers),
                );
                d.end_command_buffer(cmd)
                    .map_err(vkr("vkEndCommandBuffer"))?;
                let cmds = [vk::CommandBufferSubmitInfo::default().command_buffer(cmd)];
                d.queue_submit2(
                    self.queue,
                    &[vk::SubmitInfo2::default().command_buffer_infos(&cmds)],
                    vk::Fence::null(),
                )
                .map_err(vkr("vkQueueSubmit2"))?;
                Ok(())
            };
            let result = record();
            let idle = d
                .queue_wait_idle(self.queue)
                .map_err(vkr("vkQueueWaitIdle"));
            d.destroy_command_pool(pool, None);
            result.and(idle)
        };
        result
    }

    fn create_slot(&self) -> Result<Slot, RawAshError> {
        let d = &self.device;
        let (primary_pool, primary) = self.pool_and_buffer(vk::CommandBufferLevel::PRIMARY)?;
        let readback = match self.create_buffer(
            u64::from(self.extent.width) * u64::from(self.extent.height) * 4,
            vk::BufferUsageFlags::TRANSFER_DST,
            Some(vk_mem::AllocationCreateFlags::HOST_ACCESS_RANDOM),
        ) {
            Ok(b) => b,
            Err(e) => {
                // SAFETY: the pool was just created and is unused.
                unsafe { d.destroy_command_pool(primary_pool, None) };
                return Err(e);
            }
        };
        Ok(Slot {
            primary_pool,
            primary,
            workers: Vec::new(),
            instances: None,
            readback,
            submitted: 0,
            pending: None,
        })
    }

    fn pool_and_buffer(
        &self,
        level: vk::CommandBufferLevel,
    ) -> Result<(vk::CommandPool, vk::CommandBuffer), RawAshError> {
        let d = &self.device;
        // SAFETY: valid create info on a live device.
        let pool = unsafe {
            d.create_command_pool(
                &vk::CommandPoolCreateInfo::default()
                    .flags(vk::CommandPoolCreateFlags::TRANSIENT)
                    .queue_family_index(self.queue_family),
                None,
            )
        }
        .map_err(vkr("vkCreateCommandPool"))?;
        // SAFETY: the pool was just created on this device.
        match unsafe {
            d.allocate_command_buffers(
                &vk::CommandBufferAllocateInfo::default()
                    .command_pool(pool)
                    .level(level)
                    .command_buffer_count(1),
            )
        } {
            Ok(cmds) => Ok((pool, cmds[0])),
            Err(e) => {
                // SAFETY: the pool is unused.
                unsafe { d.destroy_command_pool(pool, None) };
                Err(vkr("vkAllocateCommandBuffers")(e))
            }
        }
    }

    fn wait_timeline(&self, value: u64) -> Result<(), RawAshError> {
        if value == 0 {
            return Ok(());
        }
        let semaphores = [self.timeline];
        let values = [value];
        // SAFETY: the timeline is a live semaphore of this device.
        unsafe {
            self.device.wait_semaphores(
                &vk::SemaphoreWaitInfo::default()
                    .semaphores(&semaphores)
                    .values(&values),
                u64::MAX,
            )
        }
        .map_err(vkr("vkWaitSemaphores"))
    }

    /// Renders one frame of `instances` (80 bytes each, `InstanceData`), recorded as `mode`
    /// on `threads` threads (`pool` runs chunks when `threads > 1`), and submits it. Waits
    /// first for the frame submitted [`FRAMES_IN_FLIGHT`] frames ago. Returns the frame
    /// number (for [`RawAsh::read_back`]), the time spent recording the secondaries (from
    /// before the first chunk starts to after the last ends) and the longest time one chunk
    /// spent recording on its thread (the same without the thread pool's dispatch latency).
    ///
    /// # Errors
    /// Bad input (instance bytes not a multiple of 80, `threads == 0`); Vulkan failures.
    pub(crate) fn submit(
        &mut self,
        instances: &[u8],
        mode: DrawMode,
        threads: usize,
        pool: &rayon::ThreadPool,
    ) -> Result<(u64, Duration, Duration), RawAshError> {
        self.submit_to(instances, mode, threads, pool, &Output::ReadBack)
    }

    /// Waits until the slot of the next frame is free (its last submission completed): what
    /// [`RawAsh::submit`] waits for first. A window frame calls it before acquiring an image
    /// with the slot's acquire semaphore, whose last waiter was that submission.
    ///
    /// # Errors
    /// Vulkan failures.
    pub(crate) fn wait_for_next_slot(&self) -> Result<(), RawAshError> {
        let slot_index = (self.next_frame % FRAMES_IN_FLIGHT as u64) as usize;
        self.wait_timeline(self.slots[slot_index].submitted)
    }

    /// The slot index of the next frame.
    pub(crate) fn next_slot(&self) -> usize {
        (self.next_frame % FRAMES_IN_FLIGHT as u64) as usize
    }

    /// [`RawAsh::submit`] into `output`: the read-back buffer, or a swapchain image.
    fn submit_to(
        &mut self,
        instances: &[u8],
        mode: DrawMode,
        threads: usize,
        pool: &rayon::ThreadPool,
        output: &Output,
    ) -> Result<(u64, Duration, Duration), RawAshError> {
        if instances.len() % INSTANCE_STRIDE as usize != 0 || threads == 0 {
            return Err(RawAshError::Input(format!(
                "{} instance bytes are not a multiple of {INSTANCE_STRIDE}, or 0 threads",
                instances.len()
            )));
        }
        let count = (instances.len() / INSTANCE_STRIDE as usize) as u32;
        let number = self.next_frame;
        let slot_index = (number % FRAMES_IN_FLIGHT as u64) as usize;
        self.wait_timeline(self.slots[slot_index].submitted)?;
        self.next_frame += 1;
        // Grow the slot's instance buffer (the old one is idle: its last use was waited for).
        let needed = instances.len().max(1) as u64;
        if self.slots[slot_index]
            .instances
            .as_ref()
            .is_none_or(|b| b.size < needed)
        {
            let buffer = self.create_buffer(
                needed
                    .next_power_of_two()
                    .max(1024 * u64::from(INSTANCE_STRIDE)),
                vk::BufferUsageFlags::VERTEX_BUFFER,
                Some(vk_mem::AllocationCreateFlags::HOST_ACCESS_SEQUENTIAL_WRITE),
            )?;
            if let Some(old) = self.slots[slot_index].instances.replace(buffer) {
                self.destroy_buffer(old);
            }
        }
        while self.slots[slot_index].workers.len() < threads {
            let worker = self.pool_and_buffer(vk::CommandBufferLevel::SECONDARY)?;
            self.slots[slot_index].workers.push(worker);
        }
        let slot = &self.slots[slot_index];
        let instance_buffer = slot.instances.as_ref().expect("created above");
        // SAFETY: the buffer is mapped with at least `instances.len()` bytes and its last use
        // (this slot's previous submission) completed (waited above).
        unsafe {
            std::ptr::copy_nonoverlapping(
                instances.as_ptr(),
                instance_buffer.mapped,
                instances.len(),
            );
        }
        self.allocator()
            .flush_allocation(&instance_buffer.allocation, 0, instances.len() as u64)
            .map_err(vkr("vmaFlushAllocation"))?;
        let d = &self.device;
        // SAFETY: the slot's pools are idle: their last submission completed (waited above).
        unsafe {
            d.reset_command_pool(slot.primary_pool, vk::CommandPoolResetFlags::empty())
                .map_err(vkr("vkResetCommandPool"))?;
            for (pool, _) in &slot.workers {
                d.reset_command_pool(*pool, vk::CommandPoolResetFlags::empty())
                    .map_err(vkr("vkResetCommandPool"))?;
            }
        }
        let ctx = RecordCtx {
            device: &self.device,
            push: &self.push,
            layout: self.layout,
            pipeline: self.pipeline,
            image_info: vk::DescriptorImageInfo {
                sampler: self.sampler,
                image_view: self.texture.as_ref().expect("created in new").view,
                image_layout: vk::ImageLayout::SHADER_READ_ONLY_OPTIMAL,
            },
            push_constants: &self.push_constants,
            vertices: self.vertex_buffer.as_ref().expect("created in new").raw,
            indices: self.index_buffer.as_ref().expect("created in new").raw,
            index_count: self.index_count,
            instances: instance_buffer.raw,
            extent: self.extent,
            mode,
        };
        let chunk = |i: usize| {
            let n = u64::from(count);
            let start = (i as u64 * n / threads as u64) as u32;
            let end = ((i as u64 + 1) * n / threads as u64) as u32;
            start..end
        };
        let timed = move |cmd: vk::CommandBuffer, range: Range<u32>| {
            let start = Instant::now();
            let result = ctx.record(cmd, range);
            (result, start.elapsed())
        };
        let start = Instant::now();
        let workers = &slot.workers[..threads];
        let results: Vec<(Result<(), RawAshError>, Duration)> = if threads == 1 {
            vec![timed(workers[0].1, chunk(0))]
        } else {
            let mut results: Vec<(Result<(), RawAshError>, Duration)> =
                (0..threads).map(|_| (Ok(()), Duration::ZERO)).collect();
            pool.scope(|s| {
                for (i, result) in results.iter_mut().enumerate() {
                    let cmd = workers[i].1;
                    let range = chunk(i);
                    s.spawn(move |_| *result = timed(cmd, range));
                }
            });
            results
        };
        let record = start.elapsed();
        let busiest = results.iter().map(|r| r.1).max().unwrap_or_default();
        results.into_iter().try_for_each(|r| r.0)?;
        let secondaries: Vec<vk::CommandBuffer> = workers.iter().map(|w| w.1).collect();
        let value = self.timeline_value + 1;
        self.record_primary_and_submit(slot_index, &secondaries, value, output)?;
        self.timeline_value = value;
        self.targets_used = true;
        let slot = &mut self.slots[slot_index];
        slot.submitted = value;
        slot.pending = match output {
            Output::ReadBack => Some(number),
            Output::Present { .. } => None,
        };
        Ok((number, record, busiest))
    }

    fn record_primary_and_submit(
        &self,
        slot_index: usize,
        secondaries: &[vk::CommandBuffer],
        value: u64,
        output: &Output,
    ) -> Result<(), RawAshError> {
        let d = &self.device;
        let slot = &self.slots[slot_index];
        let cmd = slot.primary;
        let color = self.color.as_ref().expect("created in new");
        let depth = self.depth.as_ref().expect("created in new");
        let (color_old, color_src_stage, color_src_access) = if self.targets_used {
            (
                vk::ImageLayout::TRANSFER_SRC_OPTIMAL,
                // The previous frame's copy (read-back) or blit (present).
                vk::PipelineStageFlags2::ALL_TRANSFER,
                vk::AccessFlags2::NONE,
            )
        } else {
            (
                vk::ImageLayout::UNDEFINED,
                vk::PipelineStageFlags2::NONE,
                vk::AccessFlags2::NONE,
            )
        };
        let depth_tests = vk::PipelineStageFlags2::EARLY_FRAGMENT_TESTS
            | vk::PipelineStageFlags2::LATE_FRAGMENT_TESTS;
        let depth_rw = vk::AccessFlags2::DEPTH_STENCIL_ATTACHMENT_READ
            | vk::AccessFlags2::DEPTH_STENCIL_ATTACHMENT_WRITE;
        // SAFETY: the primary's pool was reset after its last submission completed; the
        // secondaries were recorded this frame with the rendering formats begun here; the
        // barriers take the colour target from the previous frame's copy (or undefined) to
        // attachment use, the depth target from its previous depth writes (contents discarded)
        // to attachment use, then the colour to the copy and the read-back buffer to the host;
        // the copy stays within the buffer (width × height × 4 bytes).
        unsafe {
            d.begin_command_buffer(
                cmd,
                &vk::CommandBufferBeginInfo::default()
                    .flags(vk::CommandBufferUsageFlags::ONE_TIME_SUBMIT),
            )
            .map_err(vkr("vkBeginCommandBuffer"))?;
            let to_attachments = [
                vk::ImageMemoryBarrier2::default()
                    .src_stage_mask(color_src_stage)
                    .src_access_mask(color_src_access)
                    .dst_stage_mask(vk::PipelineStageFlags2::COLOR_ATTACHMENT_OUTPUT)
                    .dst_access_mask(
                        vk::AccessFlags2::COLOR_ATTACHMENT_WRITE
                            | vk::AccessFlags2::COLOR_ATTACHMENT_READ,
                    )
                    .old_layout(color_old)
                    .new_layout(vk::ImageLayout::COLOR_ATTACHMENT_OPTIMAL)
                    .image(color.raw)
                    .subresource_range(range(vk::ImageAspectFlags::COLOR)),
                vk::ImageMemoryBarrier2::default()
                    .src_stage_mask(depth_tests)
                    .src_access_mask(vk::AccessFlags2::DEPTH_STENCIL_ATTACHMENT_WRITE)
                    .dst_stage_mask(depth_tests)
                    .dst_access_mask(depth_rw)
                    .old_layout(vk::ImageLayout::UNDEFINED)
                    .new_layout(vk::ImageLayout::DEPTH_ATTACHMENT_OPTIMAL)
                    .image(depth.raw)
                    .subresource_range(range(vk::ImageAspectFlags::DEPTH)),
            ];
            d.cmd_pipeline_barrier2(
                cmd,
                &vk::DependencyInfo::default().image_memory_barriers(&to_attachments),
            );
            let color_attachment = [vk::RenderingAttachmentInfo::default()
                .image_view(color.view)
                .image_layout(vk::ImageLayout::COLOR_ATTACHMENT_OPTIMAL)
                .load_op(vk::AttachmentLoadOp::CLEAR)
                .store_op(vk::AttachmentStoreOp::STORE)
                .clear_value(vk::ClearValue {
                    color: vk::ClearColorValue {
                        float32: self.clear_color,
                    },
                })];
            let depth_attachment = vk::RenderingAttachmentInfo::default()
                .image_view(depth.view)
                .image_layout(vk::ImageLayout::DEPTH_ATTACHMENT_OPTIMAL)
                .load_op(vk::AttachmentLoadOp::CLEAR)
                .store_op(vk::AttachmentStoreOp::DONT_CARE)
                .clear_value(vk::ClearValue {
                    depth_stencil: vk::ClearDepthStencilValue {
                        depth: 1.0,
                        stencil: 0,
                    },
                });
            d.cmd_begin_rendering(
                cmd,
                &vk::RenderingInfo::default()
                    .flags(vk::RenderingFlags::CONTENTS_SECONDARY_COMMAND_BUFFERS)
                    .render_area(vk::Rect2D {
                        offset: vk::Offset2D::default(),
                        extent: self.extent,
                    })
                    .layer_count(1)
                    .color_attachments(&color_attachment)
                    .depth_attachment(&depth_attachment),
            );
            d.cmd_execute_commands(cmd, secondaries);
            d.cmd_end_rendering(cmd);
            // The colour target is read next by the copy (read-back) or the blit (present).
            let transfer = match output {
                Output::ReadBack => vk::PipelineStageFlags2::COPY,
                Output::Present { .. } => vk::PipelineStageFlags2::BLIT,
            };
            let to_copy = [vk::ImageMemoryBarrier2::default()
                .src_stage_mask(vk::PipelineStageFlags2::COLOR_ATTACHMENT_OUTPUT)
                .src_access_mask(vk::AccessFlags2::COLOR_ATTACHMENT_WRITE)
                .dst_stage_mask(transfer)
                .dst_access_mask(vk::AccessFlags2::TRANSFER_READ)
                .old_layout(vk::ImageLayout::COLOR_ATTACHMENT_OPTIMAL)
                .new_layout(vk::ImageLayout::TRANSFER_SRC_OPTIMAL)
                .image(color.raw)
                .subresource_range(range(vk::ImageAspectFlags::COLOR))];
            d.cmd_pipeline_barrier2(
                cmd,
                &vk::DependencyInfo::default().image_memory_barriers(&to_copy),
            );
            let (waits, present_signal) = match output {
                Output::ReadBack => {
                    self.record_read_back(cmd, color.raw, slot.readback.raw);
                    (Vec::new(), None)
                }
                Output::Present {
                    image,
                    extent,
                    acquired,
                    rendered,
                } => {
                    self.record_blit_to_swapchain(cmd, color.raw, *image, *extent);
                    // The blit is the first use of the image: it waits for the acquisition.
                    let wait = vk::SemaphoreSubmitInfo::default()
                        .semaphore(*acquired)
                        .stage_mask(vk::PipelineStageFlags2::BLIT);
                    (vec![wait], Some(*rendered))
                }
            };
            d.end_command_buffer(cmd)
                .map_err(vkr("vkEndCommandBuffer"))?;
            let cmds = [vk::CommandBufferSubmitInfo::default().command_buffer(cmd)];
            let mut signal = vec![vk::SemaphoreSubmitInfo::default()
                .semaphore(self.timeline)
                .value(value)
                .stage_mask(vk::PipelineStageFlags2::ALL_COMMANDS)];
            if let Some(rendered) = present_signal {
                signal.push(
                    vk::SemaphoreSubmitInfo::default()
                        .semaphore(rendered)
                        .stage_mask(vk::PipelineStageFlags2::ALL_COMMANDS),
                );
            }
            d.queue_submit2(
                self.queue,
                &[vk::SubmitInfo2::default()
                    .command_buffer_infos(&cmds)
                    .wait_semaphore_infos(&waits)
                    .signal_semaphore_infos(&signal)],
                vk::Fence::null(),
            )
            .map_err(vkr("vkQueueSubmit2"))?;
        }
        Ok(())
    }

    /// Records the copy of the colour target (in `TRANSFER_SRC_OPTIMAL`) into the read-back
    /// buffer and the transfer → host barrier.
    fn record_read_back(&self, cmd: vk::CommandBuffer, color: vk::Image, readback: vk::Buffer) {
        let d = &self.device;
        // SAFETY: `cmd` is recording outside rendering; the colour target is in
        // TRANSFER_SRC_OPTIMAL (the caller's barrier); the buffer holds width × height × 4 bytes.
        unsafe {
            d.cmd_copy_image_to_buffer(
                cmd,
                color,
                vk::ImageLayout::TRANSFER_SRC_OPTIMAL,
                readback,
                &[vk::BufferImageCopy {
                    buffer_offset: 0,
                    buffer_row_length: 0,
                    buffer_image_height: 0,
                    image_subresource: layers(vk::ImageAspectFlags::COLOR),
                    image_offset: vk::Offset3D::default(),
                    image_extent: vk::Extent3D {
                        width: self.extent.width,
                        height: self.extent.height,
                        depth: 1,
                    },
                }],
            );
            let to_host = [vk::BufferMemoryBarrier2::default()
                .src_stage_mask(vk::PipelineStageFlags2::COPY)
                .src_access_mask(vk::AccessFlags2::TRANSFER_WRITE)
                .dst_stage_mask(vk::PipelineStageFlags2::HOST)
                .dst_access_mask(vk::AccessFlags2::HOST_READ)
                .buffer(readback)
                .size(vk::WHOLE_SIZE)];
            d.cmd_pipeline_barrier2(
                cmd,
                &vk::DependencyInfo::default().buffer_memory_barriers(&to_host),
            );
        }
    }

    /// Records the blit of the colour target (in `TRANSFER_SRC_OPTIMAL`) into swapchain image
    /// `image` (`extent`, at least the target's size): `UNDEFINED` → `TRANSFER_DST_OPTIMAL`
    /// after the acquisition (waited for at the blit stage), the blit (nearest filter, as the
    /// renderer's `present` pass), then → `PRESENT_SRC_KHR`.
    fn record_blit_to_swapchain(
        &self,
        cmd: vk::CommandBuffer,
        color: vk::Image,
        image: vk::Image,
        extent: vk::Extent2D,
    ) {
        let d = &self.device;
        let size = vk::Extent2D {
            width: self.extent.width.min(extent.width),
            height: self.extent.height.min(extent.height),
        };
        let corner = vk::Offset3D {
            x: size.width as i32,
            y: size.height as i32,
            z: 1,
        };
        // SAFETY: `cmd` is recording outside rendering; the colour target is in
        // TRANSFER_SRC_OPTIMAL (the caller's barrier); `image` was acquired for this frame and
        // its previous contents are discarded (UNDEFINED); the region lies in both images.
        unsafe {
            let to_dst = [vk::ImageMemoryBarrier2::default()
                .src_stage_mask(vk::PipelineStageFlags2::BLIT)
                .src_access_mask(vk::AccessFlags2::NONE)
                .dst_stage_mask(vk::PipelineStageFlags2::BLIT)
                .dst_access_mask(vk::AccessFlags2::TRANSFER_WRITE)
                .old_layout(vk::ImageLayout::UNDEFINED)
                .new_layout(vk::ImageLayout::TRANSFER_DST_OPTIMAL)
                .image(image)
                .subresource_range(range(vk::ImageAspectFlags::COLOR))];
            d.cmd_pipeline_barrier2(
                cmd,
                &vk::DependencyInfo::default().image_memory_barriers(&to_dst),
            );
            let regions = [vk::ImageBlit2::default()
                .src_subresource(layers(vk::ImageAspectFlags::COLOR))
                .src_offsets([vk::Offset3D::default(), corner])
                .dst_subresource(layers(vk::ImageAspectFlags::COLOR))
                .dst_offsets([vk::Offset3D::default(), corner])];
            d.cmd_blit_image2(
                cmd,
                &vk::BlitImageInfo2::default()
                    .src_image(color)
                    .src_image_layout(vk::ImageLayout::TRANSFER_SRC_OPTIMAL)
                    .dst_image(image)
                    .dst_image_layout(vk::ImageLayout::TRANSFER_DST_OPTIMAL)
                    .regions(&regions)
                    .filter(vk::Filter::NEAREST),
            );
            let to_present = [vk::ImageMemoryBarrier2::default()
                .src_stage_mask(vk::PipelineStageFlags2::BLIT)
                .src_access_mask(vk::AccessFlags2::TRANSFER_WRITE)
                .dst_stage_mask(vk::PipelineStageFlags2::NONE)
                .dst_access_mask(vk::AccessFlags2::NONE)
                .old_layout(vk::ImageLayout::TRANSFER_DST_OPTIMAL)
                .new_layout(vk::ImageLayout::PRESENT_SRC_KHR)
                .image(image)
                .subresource_range(range(vk::ImageAspectFlags::COLOR))];
            d.cmd_pipeline_barrier2(
                cmd,
                &vk::DependencyInfo::default().image_memory_barriers(&to_present),
            );
        }
    }

    /// Waits for frame `frame` and copies its image out (RGBA8, rows top to bottom).
    ///
    /// # Errors
    /// Input error when the frame is not pending; Vulkan failures.
    pub(crate) fn read_back(&mut self, frame: u64) -> Result<Vec<u8>, RawAshError> {
        let slot_index = (frame % FRAMES_IN_FLIGHT as u64) as usize;
        if self.slots[slot_index].pending != Some(frame) {
            return Err(RawAshError::Input(format!(
                "frame {frame} is not pending (read back already or its slot was reused)"
            )));
        }
        self.wait_timeline(self.slots[slot_index].submitted)?;
        self.slots[slot_index].pending = None;
        let readback = &self.slots[slot_index].readback;
        self.allocator()
            .invalidate_allocation(&readback.allocation, 0, vk::WHOLE_SIZE)
            .map_err(vkr("vmaInvalidateAllocation"))?;
        let mut rgba = vec![0u8; readback.size as usize];
        // SAFETY: the buffer is mapped with `size` bytes; the submission that wrote it
        // completed (waited above) and ended with a transfer → host barrier; invalidated.
        unsafe { std::ptr::copy_nonoverlapping(readback.mapped, rgba.as_mut_ptr(), rgba.len()) };
        Ok(rgba)
    }
}

impl RecordCtx<'_> {
    /// Records one secondary: the mesh pass's state once, then the draws of `range`.
    fn record(&self, cmd: vk::CommandBuffer, range: Range<u32>) -> Result<(), RawAshError> {
        let d = self.device;
        let colors = [COLOR_FORMAT];
        let mut rendering = vk::CommandBufferInheritanceRenderingInfo::default()
            .color_attachment_formats(&colors)
            .depth_attachment_format(DEPTH_FORMAT)
            .rasterization_samples(vk::SampleCountFlags::TYPE_1);
        let inheritance = vk::CommandBufferInheritanceInfo::default().push_next(&mut rendering);
        let image_info = [self.image_info];
        let write = [vk::WriteDescriptorSet::default()
            .dst_binding(0)
            .descriptor_type(vk::DescriptorType::COMBINED_IMAGE_SAMPLER)
            .image_info(&image_info)];
        // SAFETY: `cmd` is this thread's secondary, from a pool reset this frame and used by
        // no other thread; it continues dynamic rendering with the formats begun by the
        // primary; the pipeline, layout, descriptor and buffers are live; draws read indices
        // within the index buffer and instances within the uploaded range.
        unsafe {
            d.begin_command_buffer(
                cmd,
                &vk::CommandBufferBeginInfo::default()
                    .flags(
                        vk::CommandBufferUsageFlags::ONE_TIME_SUBMIT
                            | vk::CommandBufferUsageFlags::RENDER_PASS_CONTINUE,
                    )
                    .inheritance_info(&inheritance),
            )
            .map_err(vkr("vkBeginCommandBuffer"))?;
            d.cmd_set_viewport(
                cmd,
                0,
                &[vk::Viewport {
                    x: 0.0,
                    y: 0.0,
                    width: self.extent.width as f32,
                    height: self.extent.height as f32,
                    min_depth: 0.0,
                    max_depth: 1.0,
                }],
            );
            d.cmd_set_scissor(
                cmd,
                0,
                &[vk::Rect2D {
                    offset: vk::Offset2D::default(),
                    extent: self.extent,
                }],
            );
            if !range.is_empty() {
                d.cmd_bind_pipeline(cmd, vk::PipelineBindPoint::GRAPHICS, self.pipeline);
                d.cmd_push_constants(
                    cmd,
                    self.layout,
                    vk::ShaderStageFlags::VERTEX | vk::ShaderStageFlags::FRAGMENT,
                    0,
                    self.push_constants,
                );
                self.push.cmd_push_descriptor_set(
                    cmd,
                    vk::PipelineBindPoint::GRAPHICS,
                    self.layout,
                    0,
                    &write,
                );
                d.cmd_bind_vertex_buffers(cmd, 0, &[self.vertices, self.instances], &[0, 0]);
                d.cmd_bind_index_buffer(cmd, self.indices, 0, vk::IndexType::UINT32);
                match self.mode {
                    DrawMode::Instanced => {
                        d.cmd_draw_indexed(
                            cmd,
                            self.index_count,
                            range.len() as u32,
                            0,
                            0,
                            range.start,
                        );
                    }
                    DrawMode::Separate => {
                        for i in range {
                            d.cmd_draw_indexed(cmd, self.index_count, 1, 0, 0, i);
                        }
                    }
                    DrawMode::SeparateRebind => {
                        for i in range {
                            d.cmd_push_constants(
                                cmd,
                                self.layout,
                                vk::ShaderStageFlags::VERTEX | vk::ShaderStageFlags::FRAGMENT,
                                0,
                                self.push_constants,
                            );
                            self.push.cmd_push_descriptor_set(
                                cmd,
                                vk::PipelineBindPoint::GRAPHICS,
                                self.layout,
                                0,
                                &write,
                            );
                            d.cmd_bind_vertex_buffers(
                                cmd,
                                0,
                                &[self.vertices, self.instances],
                                &[0, 0],
                            );
                            d.cmd_bind_index_buffer(cmd, self.indices, 0, vk::IndexType::UINT32);
                            d.cmd_draw_indexed(cmd, self.index_count, 1, 0, 0, i);
                        }
                    }
                }
            }
            d.end_command_buffer(cmd)
                .map_err(vkr("vkEndCommandBuffer"))?;
        }
        Ok(())
    }
}

impl Drop for RawAsh {
    fn drop(&mut self) {
        // SAFETY: waiting for idle first, so nothing below is in use; objects are destroyed
        // children first, the allocator before the device, the device before the instance.
        unsafe {
            let _idle = self.device.device_wait_idle();
            for slot in std::mem::take(&mut self.slots) {
                self.device.destroy_command_pool(slot.primary_pool, None);
                for (pool, _) in slot.workers {
                    self.device.destroy_command_pool(pool, None);
                }
                if let Some(b) = slot.instances {
                    self.destroy_buffer(b);
                }
                self.destroy_buffer(slot.readback);
            }
            for b in [self.vertex_buffer.take(), self.index_buffer.take()]
                .into_iter()
                .flatten()
            {
                self.destroy_buffer(b);
            }
            for i in [self.texture.take(), self.color.take(), self.depth.take()]
                .into_iter()
                .flatten()
            {
                self.destroy_image(i);
            }
            self.device.destroy_pipeline(self.pipeline, None);
            self.device.destroy_pipeline_layout(self.layout, None);
            self.device
                .destroy_descriptor_set_layout(self.set_layout, None);
            self.device.destroy_sampler(self.sampler, None);
            self.device.destroy_semaphore(self.timeline, None);
            drop(self.allocator.take());
            self.device.destroy_device(None);
            destroy_instance(&self.instance, self.messenger.as_ref());
        }
        let _ = &self.entry;
    }
}

/// # Safety
/// Everything created from `instance` except the messenger was destroyed.
unsafe fn destroy_instance(
    instance: &ash::Instance,
    messenger: Option<&(ext::debug_utils::Instance, vk::DebugUtilsMessengerEXT)>,
) {
    // SAFETY: the caller's contract; the messenger belongs to this instance.
    unsafe {
        if let Some((loader, raw)) = messenger {
            loader.destroy_debug_utils_messenger(*raw, None);
        }
        instance.destroy_instance(None);
    }
}

type Messenger = (ext::debug_utils::Instance, vk::DebugUtilsMessengerEXT);

fn create_instance(
    entry: &ash::Entry,
    validation: bool,
    surface_extensions: &[*const c_char],
) -> Result<(ash::Instance, Option<Messenger>), RawAshError> {
    let mut layers = Vec::new();
    let mut extensions = surface_extensions.to_vec();
    if validation {
        // SAFETY: plain enumeration on a loaded entry.
        let available = unsafe { entry.enumerate_instance_layer_properties() }
            .map_err(vkr("vkEnumerateInstanceLayerProperties"))?;
        if !available
            .iter()
            .any(|l| l.layer_name_as_c_str().is_ok_and(|n| n == VALIDATION_LAYER))
        {
            return Err(RawAshError::NoValidationLayer);
        }
        layers.push(VALIDATION_LAYER.as_ptr());
        extensions.push(ext::debug_utils::NAME.as_ptr());
        extensions.push(ext::validation_features::NAME.as_ptr());
    }
    let app = vk::ApplicationInfo::default()
        .application_name(c"macrokid raw-ash baseline")
        .api_version(vk::API_VERSION_1_3);
    let enables = [vk::ValidationFeatureEnableEXT::SYNCHRONIZATION_VALIDATION];
    let mut features = vk::ValidationFeaturesEXT::default().enabled_validation_features(&enables);
    let mut info = vk::InstanceCreateInfo::default()
        .application_info(&app)
        .enabled_layer_names(&layers)
        .enabled_extension_names(&extensions);
    if validation {
        info = info.push_next(&mut features);
    }
    // SAFETY: every pointer in the create info outlives the call; the layer was checked
    // (its extensions come with it).
    let instance =
        unsafe { entry.create_instance(&info, None) }.map_err(vkr("vkCreateInstance"))?;
    if !validation {
        return Ok((instance, None));
    }
    let loader = ext::debug_utils::Instance::new(entry, &instance);
    let messenger_info = vk::DebugUtilsMessengerCreateInfoEXT::default()
        .message_severity(
            vk::DebugUtilsMessageSeverityFlagsEXT::WARNING
                | vk::DebugUtilsMessageSeverityFlagsEXT::ERROR,
        )
        .message_type(
            vk::DebugUtilsMessageTypeFlagsEXT::GENERAL
                | vk::DebugUtilsMessageTypeFlagsEXT::VALIDATION
                | vk::DebugUtilsMessageTypeFlagsEXT::PERFORMANCE,
        )
        .pfn_user_callback(Some(debug_callback));
    // SAFETY: the instance has VK_EXT_debug_utils; the callback is a valid extern fn that
    // uses no user data.
    match unsafe { loader.create_debug_utils_messenger(&messenger_info, None) } {
        Ok(raw) => Ok((instance, Some((loader, raw)))),
        Err(e) => {
            // SAFETY: nothing else was created from the instance.
            unsafe { instance.destroy_instance(None) };
            Err(vkr("vkCreateDebugUtilsMessengerEXT")(e))
        }
    }
}

/// Picks an adapter as the renderer does: `MACROKID_ADAPTER` (substring of the name), else
/// discrete > integrated > virtual > CPU, among those with what the mesh pass needs.
fn select_adapter(
    instance: &ash::Instance,
) -> Result<(vk::PhysicalDevice, u32, String), RawAshError> {
    // SAFETY: plain enumeration on a live instance.
    let physicals = unsafe { instance.enumerate_physical_devices() }
        .map_err(vkr("vkEnumeratePhysicalDevices"))?;
    let wanted = std::env::var("MACROKID_ADAPTER")
        .ok()
        .filter(|s| !s.trim().is_empty());
    let rank = |t: vk::PhysicalDeviceType| match t {
        vk::PhysicalDeviceType::DISCRETE_GPU => 0,
        vk::PhysicalDeviceType::INTEGRATED_GPU => 1,
        vk::PhysicalDeviceType::VIRTUAL_GPU => 2,
        vk::PhysicalDeviceType::CPU => 3,
        _ => 4,
    };
    let mut best: Option<(u32, vk::PhysicalDevice, u32, String)> = None;
    for physical in physicals {
        // SAFETY: `physical` was enumerated from this live instance.
        let (props, v12, v13, has_push, family) = unsafe {
            let props = instance.get_physical_device_properties(physical);
            let mut v12 = vk::PhysicalDeviceVulkan12Features::default();
            let mut v13 = vk::PhysicalDeviceVulkan13Features::default();
            let mut features = vk::PhysicalDeviceFeatures2::default()
                .push_next(&mut v12)
                .push_next(&mut v13);
            instance.get_physical_device_features2(physical, &mut features);
            let (v12, v13) = (
                v12.timeline_semaphore == vk::TRUE,
                v13.dynamic_rendering == vk::TRUE && v13.synchronization2 == vk::TRUE,
            );
            let has_push = instance
                .enumerate_device_extension_properties(physical)
                .unwrap_or_default()
                .iter()
                .any(|e| {
                    e.extension_name_as_c_str()
                        .is_ok_and(|n| n == khr::push_descriptor::NAME)
                });
            let family = instance
                .get_physical_device_queue_family_properties(physical)
                .iter()
                .position(|q| q.queue_flags.contains(vk::QueueFlags::GRAPHICS))
                .map(|i| i as u32);
            (props, v12, v13, has_push, family)
        };
        let name = props
            .device_name_as_c_str()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let Some(family) = family else { continue };
        if props.api_version < vk::API_VERSION_1_3 || !v12 || !v13 || !has_push {
            continue;
        }
        if let Some(w) = &wanted {
            if !name.to_lowercase().contains(&w.to_lowercase()) {
                continue;
            }
        }
        let r = rank(props.device_type);
        if best.as_ref().is_none_or(|b| r < b.0) {
            best = Some((r, physical, family, name));
        }
    }
    best.map(|(_, p, f, n)| (p, f, n)).ok_or_else(|| {
        RawAshError::NoAdapter(match wanted {
            Some(w) => format!(" whose name contains {w:?} (MACROKID_ADAPTER)"),
            None => String::new(),
        })
    })
}

fn range(aspect: vk::ImageAspectFlags) -> vk::ImageSubresourceRange {
    vk::ImageSubresourceRange {
        aspect_mask: aspect,
        base_mip_level: 0,
        level_count: 1,
        base_array_layer: 0,
        layer_count: 1,
    }
}

fn layers(aspect: vk::ImageAspectFlags) -> vk::ImageSubresourceLayers {
    vk::ImageSubresourceLayers {
        aspect_mask: aspect,
        mip_level: 0,
        base_array_layer: 0,
        layer_count: 1,
    }
}
