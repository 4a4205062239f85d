//! The logical device: allocator-backed buffers and textures, the mesh pipeline and the
//! per-frame-in-flight resources.

use std::mem::ManuallyDrop;
use std::ptr::NonNull;
use std::sync::{Arc, Mutex};

use ash::vk;
use vk_mem::Alloc;

use super::{
    conv, instance::InstanceShared, map_oom, map_unexpected, Buffer, Device, FrameSlot, Pipeline,
    Texture,
};
use crate::backend::PassTargets;
use crate::{GraphicsError, InstanceData, TextureFormat};

/// `shaders/mesh.vert`, compiled by `glslc --target-env=vulkan1.3 -O`.
static MESH_VERT_SPV: &[u8] = include_bytes!("../../../../shaders/mesh.vert.spv");
/// `shaders/mesh.frag`, compiled by `glslc --target-env=vulkan1.3 -O`.
static MESH_FRAG_SPV: &[u8] = include_bytes!("../../../../shaders/mesh.frag.spv");

pub(super) struct DeviceShared {
    pub(super) raw: ash::Device,
    pub(super) allocator: ManuallyDrop<vk_mem::Allocator>,
    pub(super) queue_family: u32,
    /// Keeps the instance alive while the device exists.
    _instance: Arc<InstanceShared>,
}

impl DeviceShared {
    pub(super) fn new(
        instance: Arc<InstanceShared>,
        raw: ash::Device,
        allocator: vk_mem::Allocator,
        queue_family: u32,
    ) -> DeviceShared {
        DeviceShared {
            raw,
            allocator: ManuallyDrop::new(allocator),
            queue_family,
            _instance: instance,
        }
    }
}

impl Drop for DeviceShared {
    fn drop(&mut self) {
        // SAFETY: every object created from this device holds an `Arc<DeviceShared>`, so all
        // of them are destroyed already; the allocator is dropped exactly once, before the
        // device it allocates from; the device is idle because `Renderer::drop` waited.
        unsafe {
            ManuallyDrop::drop(&mut self.allocator);
            self.raw.destroy_device(None);
        }
    }
}

/// A buffer and its allocation; destroyed on drop.
pub(super) struct BufferInner {
    pub(super) shared: Arc<DeviceShared>,
    pub(super) raw: vk::Buffer,
    allocation: vk_mem::Allocation,
    /// Persistent mapping for host-visible buffers.
    mapped: Option<NonNull<u8>>,
    pub(super) size: u64,
}

// SAFETY: `mapped` points into memory owned by `allocation`, which lives as long as this value;
// writes through it go through `&mut self` (or happen before the value is shared), so moving
// the value or sharing `&` across threads cannot race.
unsafe impl Send for BufferInner {}
// SAFETY: see `Send`; `&BufferInner` gives no access to the mapped memory.
unsafe impl Sync for BufferInner {}

impl BufferInner {
    /// Creates a buffer of `size` bytes. `host` = host-visible, persistently mapped
    /// (`random_access` for read-back, sequential write otherwise); else device-preferred.
    pub(super) fn new(
        shared: &Arc<DeviceShared>,
        size: u64,
        usage: vk::BufferUsageFlags,
        host: Option<HostAccess>,
        what: &'static str,
    ) -> Result<BufferInner, GraphicsError> {
        let info = vk::BufferCreateInfo::default()
            .size(size.max(4))
            .usage(usage)
            .sharing_mode(vk::SharingMode::EXCLUSIVE);
        let alloc_info = match host {
            Some(access) => vk_mem::AllocationCreateInfo {
                usage: vk_mem::MemoryUsage::Auto,
                flags: vk_mem::AllocationCreateFlags::MAPPED
                    | match access {
                        HostAccess::SequentialWrite => {
                            vk_mem::AllocationCreateFlags::HOST_ACCESS_SEQUENTIAL_WRITE
                        }
                        HostAccess::Random => vk_mem::AllocationCreateFlags::HOST_ACCESS_RANDOM,
                    },
                ..Default::default()
            },
            None => vk_mem::AllocationCreateInfo {
                usage: vk_mem::MemoryUsage::AutoPreferDevice,
                ..Default::default()
            },
        };
        // SAFETY: valid create infos; the allocator belongs to this live device.
        let (raw, allocation) = unsafe { shared.allocator.create_buffer(&info, &alloc_info) }
            .map_err(|e| map_oom(what, e))?;
        let mapped = if host.is_some() {
            let ptr = shared
                .allocator
                .get_allocation_info(&allocation)
                .mapped_data;
            NonNull::new(ptr.cast::<u8>())
        } else {
            None
        };
        if host.is_some() && mapped.is_none() {
            let mut allocation = allocation;
            // SAFETY: buffer and allocation were just created together and are unused.
            unsafe { shared.allocator.destroy_buffer(raw, &mut allocation) };
            return Err(map_unexpected(what, vk::Result::ERROR_MEMORY_MAP_FAILED));
        }
        Ok(BufferInner {
            shared: Arc::clone(shared),
            raw,
            allocation,
            mapped,
            size,
        })
    }

    /// Copies `bytes` to the start of the mapped buffer and flushes them.
    ///
    /// # Panics
    /// If the buffer is not host-visible or `bytes` is longer than the buffer (invariants of
    /// the callers in this module).
    pub(super) fn write(&mut self, bytes: &[u8]) -> Result<(), GraphicsError> {
        let dst = self
            .mapped
            .expect("write() on a buffer that is not host-mapped");
        assert!(
            bytes.len() as u64 <= self.size,
            "write of {} bytes into a {}-byte buffer",
            bytes.len(),
            self.size
        );
        // SAFETY: `dst` maps at least `self.size >= bytes.len()` bytes owned by this buffer;
        // `&mut self` guarantees no other host access; the GPU is not using the buffer (callers
        // write only after the frame slot's fence was waited or before first use).
        unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), dst.as_ptr(), bytes.len()) };
        self.shared
            .allocator
            .flush_allocation(&self.allocation, 0, bytes.len() as u64)
            .map_err(|e| map_oom("flushing a host-visible buffer", e))
    }

    /// Copies the first `len` mapped bytes into `out` (after invalidating host caches).
    pub(super) fn read(&self, len: usize, out: &mut Vec<u8>) -> Result<(), GraphicsError> {
        let src = self
            .mapped
            .expect("read() on a buffer that is not host-mapped");
        assert!(
            len as u64 <= self.size,
            "read of {len} bytes from a {}-byte buffer",
            self.size
        );
        self.shared
            .allocator
            .invalidate_allocation(&self.allocation, 0, len as u64)
            .map_err(|e| map_oom("invalidating the read-back buffer", e))?;
        out.clear();
        out.reserve_exact(len);
        // SAFETY: `src` maps at least `len` bytes; the GPU finished writing them (the caller
        // waited for the fence and a COPY→HOST barrier made them visible); `out` has `len`
        // bytes of spare capacity that `set_len` then covers.
        unsafe {
            std::ptr::copy_nonoverlapping(src.as_ptr(), out.as_mut_ptr(), len);
            out.set_len(len);
        }
        Ok(())
    }
}

impl Drop for BufferInner {
    fn drop(&mut self) {
        // SAFETY: the buffer and allocation were created together by this allocator; the GPU no
        // longer uses the buffer: every submission that reads it holds it alive until the
        // submission's fence was waited (mesh buffers: an `Arc` clone in the frame slot's
        // `keep_alive`; instance buffers: the slot's `retired` list or the slot itself, whose
        // drop waits for its fence), and staging/read-back buffers are waited on by their owner.
        unsafe {
            self.shared
                .allocator
                .destroy_buffer(self.raw, &mut self.allocation)
        };
    }
}

/// Host access pattern of a mapped buffer.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum HostAccess {
    SequentialWrite,
    Random,
}

pub(super) struct TextureInner {
    shared: Arc<DeviceShared>,
    pub(super) image: vk::Image,
    pub(super) view: vk::ImageView,
    allocation: vk_mem::Allocation,
    pub(super) format: TextureFormat,
    pub(super) width: u32,
    pub(super) height: u32,
}

impl Drop for TextureInner {
    fn drop(&mut self) {
        // SAFETY: view and image were created here from this device/allocator; the GPU is idle
        // (the renderer waits before dropping its targets).
        unsafe {
            self.shared.raw.destroy_image_view(self.view, None);
            self.shared
                .allocator
                .destroy_image(self.image, &mut self.allocation);
        }
    }
}

pub(super) fn create_attachment(
    device: &Device,
    format: TextureFormat,
    width: u32,
    height: u32,
) -> Result<Texture, GraphicsError> {
    let shared = &device.shared;
    let vk_format = conv::map_texture_format(format);
    let info = vk::ImageCreateInfo::default()
        .image_type(vk::ImageType::TYPE_2D)
        .format(vk_format)
        .extent(vk::Extent3D {
            width,
            height,
            depth: 1,
        })
        .mip_levels(1)
        .array_layers(1)
        .samples(vk::SampleCountFlags::TYPE_1)
        .tiling(vk::ImageTiling::OPTIMAL)
        .usage(conv::attachment_usage(format))
        .sharing_mode(vk::SharingMode::EXCLUSIVE)
        .initial_layout(vk::ImageLayout::UNDEFINED);
    let alloc_info = vk_mem::AllocationCreateInfo {
        usage: vk_mem::MemoryUsage::AutoPreferDevice,
        ..Default::default()
    };
    // SAFETY: valid create infos; the allocator belongs to this live device.
    let (image, mut allocation) = unsafe { shared.allocator.create_image(&info, &alloc_info) }
        .map_err(|e| map_oom("allocating a render target", e))?;
    let view_info = vk::ImageViewCreateInfo::default()
        .image(image)
        .view_type(vk::ImageViewType::TYPE_2D)
        .format(vk_format)
        .subresource_range(subresource_range(format));
    // SAFETY: `image` is a live image of this device with a matching format.
    let view = match unsafe { shared.raw.create_image_view(&view_info, None) } {
        Ok(v) => v,
        Err(e) => {
            // SAFETY: the image was just created and is unused.
            unsafe { shared.allocator.destroy_image(image, &mut allocation) };
            return Err(map_oom("creating a render target view", e));
        }
    };
    Ok(Texture {
        inner: TextureInner {
            shared: Arc::clone(shared),
            image,
            view,
            allocation,
            format,
            width,
            height,
        },
    })
}

pub(super) fn subresource_range(format: TextureFormat) -> vk::ImageSubresourceRange {
    vk::ImageSubresourceRange {
        aspect_mask: conv::aspect(format),
        base_mip_level: 0,
        level_count: 1,
        base_array_layer: 0,
        layer_count: 1,
    }
}

pub(super) struct PipelineInner {
    shared: Arc<DeviceShared>,
    pub(super) layout: vk::PipelineLayout,
    pub(super) raw: vk::Pipeline,
}

impl Drop for PipelineInner {
    fn drop(&mut self) {
        // SAFETY: created from this device; no command buffer using it is pending (idle wait).
        unsafe {
            self.shared.raw.destroy_pipeline(self.raw, None);
            self.shared.raw.destroy_pipeline_layout(self.layout, None);
        }
    }
}

fn shader_module(shared: &DeviceShared, spv: &[u8]) -> Result<vk::ShaderModule, GraphicsError> {
    let words = ash::util::read_spv(&mut std::io::Cursor::new(spv)).map_err(|e| {
        GraphicsError::Backend {
            what: "reading a committed SPIR-V shader (run `cargo xtask shaders`)",
            code: e.to_string(),
        }
    })?;
    let info = vk::ShaderModuleCreateInfo::default().code(&words);
    // SAFETY: `words` is SPIR-V produced by glslc and checked by spirv-val.
    unsafe { shared.raw.create_shader_module(&info, None) }
        .map_err(|e| map_oom("creating a shader module", e))
}

pub(super) fn create_mesh_pipeline(
    device: &Device,
    targets: &PassTargets,
) -> Result<Pipeline, GraphicsError> {
    let shared = &device.shared;
    let push_ranges = [vk::PushConstantRange {
        stage_flags: vk::ShaderStageFlags::VERTEX | vk::ShaderStageFlags::FRAGMENT,
        offset: 0,
        size: conv::PUSH_CONSTANT_BYTES,
    }];
    let layout_info = vk::PipelineLayoutCreateInfo::default().push_constant_ranges(&push_ranges);
    // SAFETY: valid create info on a live device.
    let layout = unsafe { shared.raw.create_pipeline_layout(&layout_info, None) }
        .map_err(|e| map_oom("creating the pipeline layout", e))?;
    let modules = shader_module(shared, MESH_VERT_SPV).and_then(|v| {
        match shader_module(shared, MESH_FRAG_SPV) {
            Ok(f) => Ok((v, f)),
            Err(e) => {
                // SAFETY: the vertex module was just created and is unused.
                unsafe { shared.raw.destroy_shader_module(v, None) };
                Err(e)
            }
        }
    });
    let (vert, frag) = match modules {
        Ok(m) => m,
        Err(e) => {
            // SAFETY: the layout was just created and is unused.
            unsafe { shared.raw.destroy_pipeline_layout(layout, None) };
            return Err(e);
        }
    };

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
    let bindings = conv::vertex_bindings();
    let attributes = conv::vertex_attributes();
    let vertex_input = vk::PipelineVertexInputStateCreateInfo::default()
        .vertex_binding_descriptions(&bindings)
        .vertex_attribute_descriptions(&attributes);
    let input_assembly = vk::PipelineInputAssemblyStateCreateInfo::default()
        .topology(vk::PrimitiveTopology::TRIANGLE_LIST);
    let viewport = vk::PipelineViewportStateCreateInfo::default()
        .viewport_count(1)
        .scissor_count(1);
    // glTF and `Mesh` wind front faces counter-clockwise; with a y-down projection (see
    // `Camera::view_proj`) they stay counter-clockwise in Vulkan's facing test.
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
    let blend = vk::PipelineColorBlendStateCreateInfo::default().attachments(&blend_attachments);
    let dynamic_states = [vk::DynamicState::VIEWPORT, vk::DynamicState::SCISSOR];
    let dynamic = vk::PipelineDynamicStateCreateInfo::default().dynamic_states(&dynamic_states);
    let color_formats = [conv::map_texture_format(targets.color)];
    let mut rendering = vk::PipelineRenderingCreateInfo::default()
        .color_attachment_formats(&color_formats)
        .depth_attachment_format(conv::map_texture_format(targets.depth));
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
        .layout(layout)
        .push_next(&mut rendering);
    // SAFETY: every state struct and the pNext chain point to locals alive for the call; the
    // shader interfaces match the vertex input and push-constant layout (see shaders/mesh.vert).
    let result = unsafe {
        shared
            .raw
            .create_graphics_pipelines(vk::PipelineCache::null(), &[info], None)
    };
    // SAFETY: the modules are no longer needed once the pipeline is created (or failed).
    unsafe {
        shared.raw.destroy_shader_module(vert, None);
        shared.raw.destroy_shader_module(frag, None);
    }
    match result {
        Ok(pipelines) => Ok(Pipeline {
            inner: PipelineInner {
                shared: Arc::clone(shared),
                layout,
                raw: pipelines[0],
            },
        }),
        Err((_, e)) => {
            // SAFETY: the layout is unused.
            unsafe { shared.raw.destroy_pipeline_layout(layout, None) };
            Err(map_oom("creating the mesh pipeline", e))
        }
    }
}

/// A command pool used by one recording thread at a time, with its reusable secondaries.
pub(super) struct ThreadCommandPool {
    shared: Arc<DeviceShared>,
    pub(super) raw: vk::CommandPool,
    pub(super) buffers: Vec<vk::CommandBuffer>,
    /// Buffers `..next` are in use this frame.
    pub(super) next: usize,
}

impl ThreadCommandPool {
    pub(super) fn new(shared: &Arc<DeviceShared>) -> Result<ThreadCommandPool, GraphicsError> {
        let info = vk::CommandPoolCreateInfo::default()
            .flags(vk::CommandPoolCreateFlags::TRANSIENT)
            .queue_family_index(shared.queue_family);
        // SAFETY: valid create info on a live device.
        let raw = unsafe { shared.raw.create_command_pool(&info, None) }
            .map_err(|e| map_oom("creating a command pool", e))?;
        Ok(ThreadCommandPool {
            shared: Arc::clone(shared),
            raw,
            buffers: Vec::new(),
            next: 0,
        })
    }

    /// Returns the next unused command buffer of `level`, allocating one if needed.
    pub(super) fn next_buffer(
        &mut self,
        level: vk::CommandBufferLevel,
    ) -> Result<vk::CommandBuffer, GraphicsError> {
        if self.next == self.buffers.len() {
            let info = vk::CommandBufferAllocateInfo::default()
                .command_pool(self.raw)
                .level(level)
                .command_buffer_count(1);
            // SAFETY: the pool is live and owned exclusively by the caller (`&mut self`).
            let mut new = unsafe { self.shared.raw.allocate_command_buffers(&info) }
                .map_err(|e| map_oom("allocating a command buffer", e))?;
            self.buffers.append(&mut new);
        }
        self.next += 1;
        Ok(self.buffers[self.next - 1])
    }

    /// Resets the pool (all its buffers return to the initial state).
    ///
    /// Must only be called once the GPU finished every submission using the pool's buffers.
    pub(super) fn reset(&mut self) -> Result<(), GraphicsError> {
        // SAFETY: caller guarantee (the frame slot's fence was waited); `&mut self` gives
        // exclusive access to the pool.
        unsafe {
            self.shared
                .raw
                .reset_command_pool(self.raw, vk::CommandPoolResetFlags::empty())
        }
        .map_err(|e| map_oom("resetting a command pool", e))?;
        self.next = 0;
        Ok(())
    }
}

impl Drop for ThreadCommandPool {
    fn drop(&mut self) {
        // SAFETY: the pool was created here; none of its buffers is pending (idle wait or fence).
        unsafe { self.shared.raw.destroy_command_pool(self.raw, None) };
    }
}

pub(super) struct FrameSlotInner {
    pub(super) shared: Arc<DeviceShared>,
    pub(super) fence: vk::Fence,
    /// Pool of the primary command buffer, used only by the submitting thread.
    pub(super) primary_pool: ThreadCommandPool,
    /// Idle per-thread pools; an encoder takes one out and puts it back when it ends.
    pub(super) thread_pools: Arc<Mutex<Vec<ThreadCommandPool>>>,
    pub(super) instances: Option<BufferInner>,
    /// Instance buffers replaced this frame; kept until the slot's fence is waited again.
    pub(super) retired: Vec<BufferInner>,
    /// Buffers read by the slot's submitted command buffers (mesh buffers); kept until the
    /// slot's fence is waited again.
    pub(super) keep_alive: Vec<Arc<BufferInner>>,
    pub(super) readback: BufferInner,
    pub(super) readback_bytes: u64,
    /// Whether the slot's fence will be signalled by a successful submission that has not
    /// been waited yet. Set only after `vkQueueSubmit2` succeeded, so a failed submit (after
    /// the fence was reset) never leads to waiting on a fence nothing will signal.
    pub(super) in_flight: bool,
}

impl FrameSlotInner {
    /// Waits for the slot's fence if a submission is in flight, then marks the slot idle.
    /// Returns at once when nothing was submitted since the last wait (the fence may then be
    /// unsignalled, e.g. after a failed submit, and waiting on it would never return).
    pub(super) fn wait_fence(&mut self) -> Result<(), GraphicsError> {
        if !self.in_flight {
            return Ok(());
        }
        // SAFETY: the fence belongs to this device and was submitted with a successful
        // `vkQueueSubmit2` (`in_flight`), so it will be signalled.
        unsafe {
            self.shared
                .raw
                .wait_for_fences(&[self.fence], true, u64::MAX)
        }
        .map_err(|e| super::map_oom_lost("waiting for a frame fence", e))?;
        self.in_flight = false;
        Ok(())
    }
}

impl Drop for FrameSlotInner {
    fn drop(&mut self) {
        // Objects of the slot (pools, instance buffers, kept-alive buffers) may still be used
        // by its last submission: wait for it first.
        if let Err(e) = self.wait_fence() {
            tracing::error!(error = %e, "waiting for a frame slot before destroying it failed");
        }
        // SAFETY: the fence was created here and no pending submission uses it (waited above;
        // on device loss nothing executes any more).
        unsafe { self.shared.raw.destroy_fence(self.fence, None) };
    }
}

pub(super) fn create_frame_slot(
    device: &Device,
    readback_bytes: u64,
) -> Result<FrameSlot, GraphicsError> {
    let shared = &device.shared;
    let readback = BufferInner::new(
        shared,
        readback_bytes,
        vk::BufferUsageFlags::TRANSFER_DST,
        Some(HostAccess::Random),
        "allocating the read-back buffer",
    )?;
    let primary_pool = ThreadCommandPool::new(shared)?;
    let info = vk::FenceCreateInfo::default().flags(vk::FenceCreateFlags::SIGNALED);
    // SAFETY: valid create info on a live device.
    let fence = unsafe { shared.raw.create_fence(&info, None) }
        .map_err(|e| map_oom("creating a frame fence", e))?;
    Ok(FrameSlot {
        inner: FrameSlotInner {
            shared: Arc::clone(shared),
            fence,
            primary_pool,
            thread_pools: Arc::new(Mutex::new(Vec::new())),
            instances: None,
            retired: Vec::new(),
            keep_alive: Vec::new(),
            readback,
            readback_bytes,
            in_flight: false,
        },
    })
}

pub(super) fn write_instances(
    device: &Device,
    slot: &mut FrameSlot,
    instances: &[InstanceData],
) -> Result<(), GraphicsError> {
    let slot = &mut slot.inner;
    let bytes_needed = std::mem::size_of_val(instances) as u64;
    let big_enough = slot
        .instances
        .as_ref()
        .is_some_and(|b| b.size >= bytes_needed);
    if !big_enough {
        // Grow to the next power of two (at least 1024 instances) so steady growth is rare.
        let capacity = bytes_needed
            .next_power_of_two()
            .max(1024 * u64::from(conv::INSTANCE_STRIDE));
        let new = BufferInner::new(
            &device.shared,
            capacity,
            vk::BufferUsageFlags::VERTEX_BUFFER,
            Some(HostAccess::SequentialWrite),
            "growing the instance buffer",
        )?;
        if let Some(old) = slot.instances.replace(new) {
            slot.retired.push(old);
        }
    }
    let buffer = slot
        .instances
        .as_mut()
        .expect("instance buffer was created above");
    // SAFETY: `InstanceData` is `#[repr(C)]` plain `f32` data without padding (80 bytes,
    // asserted in conv.rs), so viewing the slice as bytes is sound.
    let bytes = unsafe {
        std::slice::from_raw_parts(
            instances.as_ptr().cast::<u8>(),
            std::mem::size_of_val(instances),
        )
    };
    buffer.write(bytes)
}

impl Buffer {
    pub(super) fn raw(&self) -> vk::Buffer {
        self.inner.raw
    }
}
