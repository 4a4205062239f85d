//! [`Device`]: every object the HAL creates, each an `Arc` around its Vulkan handle that
//! destroys the handle when the last reference (possibly held by a pending submission through
//! a [`Fence`]) goes away.

use std::collections::VecDeque;
use std::mem::ManuallyDrop;
use std::ptr::NonNull;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ash::vk;
use vk_mem::Alloc;

use super::{
    command, conv, instance::InstanceShared, map_oom, map_oom_lost, map_unexpected, Buffer,
    CommandEncoder, DescriptorSet, DescriptorSetLayout, Device, Fence, KeepAlive, PipelineCache,
    PipelineLayout, RenderPipeline, Sampler, ShaderModule, Texture, TextureView, Vulkan,
};
use crate::hal::{
    BufferDesc, CommandEncoderDesc, DescriptorSetLayoutDesc, MemoryLocation, PipelineLayoutDesc,
    RenderPipelineDesc, SamplerDesc, ShaderModuleDesc, TextureDesc, TextureViewDesc,
};
use crate::{DeviceError, GraphicsError, TextureFormat, UsageError};

pub(super) struct DeviceShared {
    pub(super) raw: ash::Device,
    pub(super) allocator: ManuallyDrop<vk_mem::Allocator>,
    pub(super) queue_family: u32,
    /// The graphics queue, externally synchronised by this mutex (submits and idle waits).
    pub(super) queue: Mutex<vk::Queue>,
    /// `VK_KHR_push_descriptor` functions, when the device has the extension.
    pub(super) push_descriptor: Option<ash::khr::push_descriptor::Device>,
    /// `VK_EXT_debug_utils` device functions, when the instance has the extension.
    pub(super) debug_utils: Option<ash::ext::debug_utils::Device>,
    /// The header a pipeline cache of this device starts with (see `Adapter::cache_header`).
    pub(super) cache_header: [u8; 32],
    /// The physical device (surface queries).
    #[cfg_attr(
        not(feature = "window"),
        allow(dead_code, reason = "used by windows only")
    )]
    pub(super) physical: vk::PhysicalDevice,
    /// `VK_KHR_swapchain` functions when the instance has surfaces and the device the extension.
    #[cfg_attr(
        not(feature = "window"),
        allow(dead_code, reason = "used by windows only")
    )]
    pub(super) swapchain: Option<ash::khr::swapchain::Device>,
    /// Keeps the instance alive while the device exists.
    _instance: Arc<InstanceShared>,
}

impl DeviceShared {
    #[allow(clippy::too_many_arguments)]
    pub(super) fn new(
        instance: Arc<InstanceShared>,
        raw: ash::Device,
        allocator: vk_mem::Allocator,
        queue_family: u32,
        queue: vk::Queue,
        push_descriptor: Option<ash::khr::push_descriptor::Device>,
        debug_utils: Option<ash::ext::debug_utils::Device>,
        cache_header: [u8; 32],
        physical: vk::PhysicalDevice,
        swapchain: Option<ash::khr::swapchain::Device>,
    ) -> DeviceShared {
        DeviceShared {
            raw,
            allocator: ManuallyDrop::new(allocator),
            queue_family,
            queue: Mutex::new(queue),
            push_descriptor,
            debug_utils,
            cache_header,
            physical,
            swapchain,
            _instance: instance,
        }
    }
}

impl Drop for DeviceShared {
    fn drop(&mut self) {
        // SAFETY: every object created from this device holds an `Arc<DeviceShared>`, so all
        // of them are destroyed already; pending submissions hold their objects (and with them
        // this device) through their fence, whose drop waits for them; the allocator is dropped
        // exactly once, before the device it allocates from.
        unsafe {
            ManuallyDrop::drop(&mut self.allocator);
            self.raw.destroy_device(None);
        }
    }
}

// --- buffers -------------------------------------------------------------------------------

/// A buffer and its allocation; destroyed on drop.
pub(super) struct BufferInner {
    shared: Arc<DeviceShared>,
    pub(super) raw: vk::Buffer,
    allocation: vk_mem::Allocation,
    /// Persistent mapping for host-visible buffers.
    mapped: Option<NonNull<u8>>,
    pub(super) size: u64,
}

// SAFETY: `mapped` points into memory owned by `allocation`, which lives as long as this value;
// host access through it happens only in the `unsafe` `write_buffer`/`read_buffer`, whose
// callers guarantee that no other access to the range races with it.
unsafe impl Send for BufferInner {}
// SAFETY: see `Send`.
unsafe impl Sync for BufferInner {}

impl Drop for BufferInner {
    fn drop(&mut self) {
        // SAFETY: buffer and allocation were created together by this allocator; the last
        // reference is gone, and every pending submission that uses the buffer holds a
        // reference through its fence, so the GPU no longer uses it.
        unsafe {
            self.shared
                .allocator
                .destroy_buffer(self.raw, &mut self.allocation)
        };
    }
}

// --- textures, views, samplers -------------------------------------------------------------

pub(super) struct TextureInner {
    shared: Arc<DeviceShared>,
    pub(super) image: vk::Image,
    memory: ImageMemory,
    pub(super) format: TextureFormat,
    pub(super) width: u32,
    pub(super) height: u32,
}

/// The memory an image is bound to.
#[cfg_attr(
    not(feature = "window"),
    allow(dead_code, reason = "used by windows only")
)]
enum ImageMemory {
    /// An allocation made for this image alone (`vmaCreateImage`).
    Own(vk_mem::Allocation),
    /// An allocation shared with other images that alias it (`Device::create_aliased_textures`).
    Shared(Arc<SharedAllocation>),
    /// A swapchain image: owned (and destroyed) by its swapchain, not by this texture.
    Swapchain,
}

/// One allocation that several images are bound to; freed when the last of them is destroyed.
struct SharedAllocation {
    shared: Arc<DeviceShared>,
    allocation: vk_mem::Allocation,
}

impl Drop for SharedAllocation {
    fn drop(&mut self) {
        // SAFETY: allocated by this allocator in `create_aliased_textures`; every image bound
        // to it holds this `Arc` and destroys its image first, so nothing uses the memory.
        unsafe { self.shared.allocator.free_memory(&mut self.allocation) };
    }
}

impl TextureInner {
    /// `(VkDeviceMemory, offset)` of the image's binding.
    pub(super) fn memory_binding(&self) -> (u64, u64) {
        use ash::vk::Handle as _;
        let allocation = match &self.memory {
            ImageMemory::Own(a) => a,
            ImageMemory::Shared(s) => &s.allocation,
            ImageMemory::Swapchain => return (0, 0),
        };
        let info = self.shared.allocator.get_allocation_info(allocation);
        (info.device_memory.as_raw(), info.offset)
    }
}

impl TextureInner {
    /// Wraps an image of a swapchain of this device (`width × height`, `format`); dropping
    /// the wrapper leaves the image to its swapchain.
    #[cfg_attr(
        not(feature = "window"),
        allow(dead_code, reason = "used by windows only")
    )]
    pub(super) fn swapchain_image(
        shared: &Arc<DeviceShared>,
        image: vk::Image,
        format: TextureFormat,
        width: u32,
        height: u32,
    ) -> TextureInner {
        TextureInner {
            shared: Arc::clone(shared),
            image,
            memory: ImageMemory::Swapchain,
            format,
            width,
            height,
        }
    }
}

impl Drop for TextureInner {
    fn drop(&mut self) {
        // SAFETY: created here from this allocator; no view (they hold a reference) and no
        // pending submission (through its fence) uses the image any more. A shared allocation
        // is freed after the image (when the `Arc` field drops, after this body).
        unsafe {
            match &mut self.memory {
                ImageMemory::Own(allocation) => {
                    self.shared.allocator.destroy_image(self.image, allocation)
                }
                ImageMemory::Shared(_) => self.shared.raw.destroy_image(self.image, None),
                // The swapchain destroys its images.
                ImageMemory::Swapchain => {}
            }
        };
    }
}

pub(super) struct ViewInner {
    shared: Arc<DeviceShared>,
    pub(super) raw: vk::ImageView,
    /// The image the view looks at.
    _texture: Arc<TextureInner>,
}

impl Drop for ViewInner {
    fn drop(&mut self) {
        // SAFETY: created from this device; no pending submission uses it (see `BufferInner`).
        unsafe { self.shared.raw.destroy_image_view(self.raw, None) };
    }
}

pub(super) struct SamplerInner {
    shared: Arc<DeviceShared>,
    pub(super) raw: vk::Sampler,
}

impl Drop for SamplerInner {
    fn drop(&mut self) {
        // SAFETY: created from this device; no pending submission uses it (see `BufferInner`).
        unsafe { self.shared.raw.destroy_sampler(self.raw, None) };
    }
}

// --- layouts and pipelines -----------------------------------------------------------------

pub(super) struct SetLayoutInner {
    shared: Arc<DeviceShared>,
    pub(super) raw: vk::DescriptorSetLayout,
    bindings: Vec<crate::hal::DescriptorBinding>,
    bindless: bool,
}

pub(super) struct DescriptorSetInner {
    shared: Arc<DeviceShared>,
    pool: vk::DescriptorPool,
    pub(super) raw: vk::DescriptorSet,
    _layout: Arc<SetLayoutInner>,
    /// What each written `(binding, element)` references.
    kept: Mutex<std::collections::HashMap<(u32, u32), Vec<KeepAlive>>>,
}

impl Drop for DescriptorSetInner {
    fn drop(&mut self) {
        // SAFETY: the pool (and with it the set) was created here; pending command buffers that
        // bind the set hold a reference to it.
        unsafe { self.shared.raw.destroy_descriptor_pool(self.pool, None) };
    }
}

impl Drop for SetLayoutInner {
    fn drop(&mut self) {
        // SAFETY: created from this device; pipeline layouts using it hold a reference.
        unsafe {
            self.shared
                .raw
                .destroy_descriptor_set_layout(self.raw, None)
        };
    }
}

pub(super) struct PipelineLayoutInner {
    shared: Arc<DeviceShared>,
    pub(super) raw: vk::PipelineLayout,
    _set_layouts: Vec<Arc<SetLayoutInner>>,
}

impl Drop for PipelineLayoutInner {
    fn drop(&mut self) {
        // SAFETY: created from this device; pipelines and pending submissions that use it hold
        // a reference.
        unsafe { self.shared.raw.destroy_pipeline_layout(self.raw, None) };
    }
}

pub(super) struct PipelineInner {
    shared: Arc<DeviceShared>,
    pub(super) raw: vk::Pipeline,
    _layout: Arc<PipelineLayoutInner>,
}

impl Drop for PipelineInner {
    fn drop(&mut self) {
        // SAFETY: created from this device; pending submissions that use it hold a reference.
        unsafe { self.shared.raw.destroy_pipeline(self.raw, None) };
    }
}

pub(super) struct QueryInner {
    shared: Arc<DeviceShared>,
    pub(super) raw: vk::QueryPool,
}

impl Drop for QueryInner {
    fn drop(&mut self) {
        // SAFETY: created from this device; pending submissions that write it hold a
        // reference.
        unsafe { self.shared.raw.destroy_query_pool(self.raw, None) };
    }
}

impl DeviceShared {
    /// Names `handle` for debuggers and validation messages (VK_EXT_debug_utils), when the
    /// instance has the extension.
    pub(super) fn set_name<H: vk::Handle>(&self, handle: H, name: &str) {
        let Some(debug) = &self.debug_utils else {
            return;
        };
        let Ok(name) = std::ffi::CString::new(name.replace('\0', " ")) else {
            return;
        };
        let info = vk::DebugUtilsObjectNameInfoEXT::default()
            .object_handle(handle)
            .object_name(&name);
        // SAFETY: `handle` is a live object of this device; the name outlives the call.
        let _ = unsafe { debug.set_debug_utils_object_name(&info) };
    }
}

impl Drop for PipelineCache {
    fn drop(&mut self) {
        // SAFETY: created from this device; pipeline creation using it has returned.
        unsafe { self.shared.raw.destroy_pipeline_cache(self.raw, None) };
    }
}

impl Drop for ShaderModule {
    fn drop(&mut self) {
        // SAFETY: created from this device; pipelines do not need their modules after creation.
        unsafe { self.shared.raw.destroy_shader_module(self.raw, None) };
    }
}

// --- timeline fences -----------------------------------------------------------------------

pub(super) struct FenceInner {
    shared: Arc<DeviceShared>,
    pub(super) raw: vk::Semaphore,
    /// Objects kept alive per signalled value, in ascending value order.
    pending: Mutex<VecDeque<(u64, Vec<KeepAlive>)>>,
}

impl FenceInner {
    /// Records that a successful submission signals `value` and reads `keep_alive`.
    pub(super) fn keep_until(&self, value: u64, keep_alive: Vec<KeepAlive>) {
        self.pending
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push_back((value, keep_alive));
    }

    /// Drops what submissions up to `reached` kept alive (outside the lock: dropping may
    /// destroy objects).
    fn release(&self, reached: u64) {
        let mut done = Vec::new();
        {
            let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
            while pending.front().is_some_and(|(v, _)| *v <= reached) {
                done.extend(pending.pop_front());
            }
        }
        drop(done);
    }

    fn value(&self) -> Result<u64, DeviceError> {
        // SAFETY: the semaphore is a live timeline semaphore of this device.
        let value = unsafe { self.shared.raw.get_semaphore_counter_value(self.raw) }
            .map_err(|e| map_oom_lost("reading a timeline semaphore", e))?;
        self.release(value);
        Ok(value)
    }

    fn wait(&self, value: u64, timeout: Option<Duration>) -> Result<bool, DeviceError> {
        let semaphores = [self.raw];
        let values = [value];
        let info = vk::SemaphoreWaitInfo::default()
            .semaphores(&semaphores)
            .values(&values);
        let ns = timeout.map_or(u64::MAX, |t| {
            u64::try_from(t.as_nanos()).unwrap_or(u64::MAX)
        });
        // SAFETY: the semaphore is a live timeline semaphore of this device; the info points
        // to locals alive for the call.
        match unsafe { self.shared.raw.wait_semaphores(&info, ns) } {
            Ok(()) => {
                self.release(value);
                Ok(true)
            }
            Err(vk::Result::TIMEOUT) => Ok(false),
            Err(e) => Err(map_oom_lost("waiting for a timeline semaphore", e)),
        }
    }
}

impl Drop for FenceInner {
    fn drop(&mut self) {
        // What pending submissions keep alive must outlive them: wait for the last value (it
        // was signalled by a successful submission, so the wait ends).
        let last = self
            .pending
            .get_mut()
            .unwrap_or_else(|p| p.into_inner())
            .back()
            .map(|(v, _)| *v);
        if let Some(last) = last {
            if let Err(e) = self.wait(last, None) {
                tracing::error!(error = %e, "waiting for a fence before destroying it failed");
            }
        }
        self.pending
            .get_mut()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
        // SAFETY: no pending submission signals the semaphore any more (waited above).
        unsafe { self.shared.raw.destroy_semaphore(self.raw, None) };
    }
}

// --- Device --------------------------------------------------------------------------------

impl Device {
    /// The create info of a 2D image for `desc`.
    fn image_info(desc: &TextureDesc<'_>) -> vk::ImageCreateInfo<'static> {
        vk::ImageCreateInfo::default()
            .image_type(vk::ImageType::TYPE_2D)
            .format(conv::map_texture_format(desc.format))
            .extent(vk::Extent3D {
                width: desc.width.max(1),
                height: desc.height.max(1),
                depth: 1,
            })
            .mip_levels(1)
            .array_layers(1)
            .samples(vk::SampleCountFlags::TYPE_1)
            .tiling(vk::ImageTiling::OPTIMAL)
            .usage(conv::map_texture_usage(desc.usage))
            .sharing_mode(vk::SharingMode::EXCLUSIVE)
            .initial_layout(vk::ImageLayout::UNDEFINED)
    }

    fn create_image(&self, desc: &TextureDesc<'_>) -> Result<Arc<TextureInner>, DeviceError> {
        let shared = &self.shared;
        let info = Self::image_info(desc);
        let alloc_info = vk_mem::AllocationCreateInfo {
            usage: vk_mem::MemoryUsage::AutoPreferDevice,
            ..Default::default()
        };
        // SAFETY: valid create infos; the allocator belongs to this live device.
        let (image, allocation) = unsafe { shared.allocator.create_image(&info, &alloc_info) }
            .map_err(|e| map_oom("allocating a texture", e))?;
        shared.set_name(image, desc.label);
        Ok(Arc::new(TextureInner {
            shared: Arc::clone(shared),
            image,
            memory: ImageMemory::Own(allocation),
            format: desc.format,
            width: desc.width.max(1),
            height: desc.height.max(1),
        }))
    }

    /// Creates the images of `descs` and binds them all to one allocation (see
    /// `Device::create_aliased_textures`).
    fn create_aliased_images(
        &self,
        descs: &[TextureDesc<'_>],
    ) -> Result<Vec<Arc<TextureInner>>, DeviceError> {
        let shared = &self.shared;
        let raw = &shared.raw;
        // Images without memory; destroyed again if anything below fails.
        struct Unbound<'a>(&'a ash::Device, Vec<vk::Image>);
        impl Drop for Unbound<'_> {
            fn drop(&mut self) {
                for &image in &self.1 {
                    // SAFETY: created below and never used by a command (bound to memory or
                    // not): nothing else refers to it.
                    unsafe { self.0.destroy_image(image, None) };
                }
            }
        }
        let mut unbound = Unbound(raw, Vec::with_capacity(descs.len()));
        let mut requirements = vk::MemoryRequirements {
            size: 0,
            alignment: 1,
            memory_type_bits: u32::MAX,
        };
        for desc in descs {
            // SAFETY: valid create info on a live device.
            let image = unsafe { raw.create_image(&Self::image_info(desc), None) }
                .map_err(|e| map_oom("creating an aliased texture", e))?;
            unbound.1.push(image);
            let mut dedicated = vk::MemoryDedicatedRequirements::default();
            let mut r2 = vk::MemoryRequirements2::default().push_next(&mut dedicated);
            // SAFETY: `image` is a live image of this device (Vulkan 1.1 core query).
            unsafe {
                raw.get_image_memory_requirements2(
                    &vk::ImageMemoryRequirementsInfo2::default().image(image),
                    &mut r2,
                )
            };
            let r = r2.memory_requirements;
            if dedicated.requires_dedicated_allocation == vk::TRUE {
                // VUID-vkBindImageMemory-image-01445: such an image cannot share memory.
                requirements.memory_type_bits = 0;
            }
            requirements.size = requirements.size.max(r.size);
            requirements.alignment = requirements.alignment.max(r.alignment);
            requirements.memory_type_bits &= r.memory_type_bits;
        }
        if requirements.memory_type_bits == 0 || descs.len() < 2 {
            // No memory type suits every image, one needs a dedicated allocation, or nothing
            // is shared: one allocation each.
            drop(unbound);
            return descs.iter().map(|d| self.create_image(d)).collect();
        }
        let alloc_info = vk_mem::AllocationCreateInfo {
            required_flags: vk::MemoryPropertyFlags::DEVICE_LOCAL,
            ..Default::default()
        };
        // SAFETY: the requirements come from images of this device; the allocator is live.
        let allocation = unsafe { shared.allocator.allocate_memory(&requirements, &alloc_info) }
            .or_else(|_| {
                // Some devices (CPU ones included) may lack a device-local type among the
                // allowed ones: take any allowed type.
                // SAFETY: as above.
                unsafe {
                    shared
                        .allocator
                        .allocate_memory(&requirements, &vk_mem::AllocationCreateInfo::default())
                }
            })
            .map_err(|e| map_oom("allocating aliased texture memory", e))?;
        let memory = Arc::new(SharedAllocation {
            shared: Arc::clone(shared),
            allocation,
        });
        for &image in &unbound.1 {
            // SAFETY: the allocation is at least as large and aligned as every image needs and
            // of a memory type each allows; each image is bound once, at the allocation's start.
            let bound = unsafe {
                shared
                    .allocator
                    .bind_image_memory(&memory.allocation, image)
            };
            if let Err(e) = bound {
                // Destroy the images before their memory is freed.
                drop(unbound);
                drop(memory);
                return Err(map_oom("binding aliased texture memory", e));
            }
        }
        let images = std::mem::take(&mut unbound.1);
        Ok(images
            .into_iter()
            .zip(descs)
            .map(|(image, desc)| {
                shared.set_name(image, desc.label);
                Arc::new(TextureInner {
                    shared: Arc::clone(shared),
                    image,
                    memory: ImageMemory::Shared(Arc::clone(&memory)),
                    format: desc.format,
                    width: desc.width.max(1),
                    height: desc.height.max(1),
                })
            })
            .collect())
    }
}

impl crate::hal::Device<Vulkan> for Device {
    fn create_buffer(&self, desc: &BufferDesc<'_>) -> Result<Buffer, DeviceError> {
        let shared = &self.shared;
        let info = vk::BufferCreateInfo::default()
            .size(desc.size.max(4))
            .usage(conv::map_buffer_usage(desc.usage))
            .sharing_mode(vk::SharingMode::EXCLUSIVE);
        let host = |access| vk_mem::AllocationCreateInfo {
            usage: vk_mem::MemoryUsage::Auto,
            flags: vk_mem::AllocationCreateFlags::MAPPED | access,
            ..Default::default()
        };
        let alloc_info = match desc.location {
            MemoryLocation::GpuOnly => vk_mem::AllocationCreateInfo {
                usage: vk_mem::MemoryUsage::AutoPreferDevice,
                ..Default::default()
            },
            MemoryLocation::CpuToGpu => {
                host(vk_mem::AllocationCreateFlags::HOST_ACCESS_SEQUENTIAL_WRITE)
            }
            MemoryLocation::GpuToCpu => host(vk_mem::AllocationCreateFlags::HOST_ACCESS_RANDOM),
        };
        // SAFETY: valid create infos; the allocator belongs to this live device.
        let (raw, mut allocation) = unsafe { shared.allocator.create_buffer(&info, &alloc_info) }
            .map_err(|e| map_oom("allocating a buffer", e))?;
        let mapped = match desc.location {
            MemoryLocation::GpuOnly => None,
            _ => {
                let ptr = shared
                    .allocator
                    .get_allocation_info(&allocation)
                    .mapped_data;
                match NonNull::new(ptr.cast::<u8>()) {
                    Some(p) => Some(p),
                    None => {
                        // SAFETY: buffer and allocation were just created together, unused.
                        unsafe { shared.allocator.destroy_buffer(raw, &mut allocation) };
                        return Err(map_unexpected(
                            "mapping a host-visible buffer",
                            vk::Result::ERROR_MEMORY_MAP_FAILED,
                        ));
                    }
                }
            }
        };
        shared.set_name(raw, desc.label);
        Ok(Buffer {
            inner: Arc::new(BufferInner {
                shared: Arc::clone(shared),
                raw,
                allocation,
                mapped,
                size: desc.size,
            }),
        })
    }

    unsafe fn write_buffer(
        &self,
        buffer: &Buffer,
        offset: u64,
        bytes: &[u8],
    ) -> Result<(), DeviceError> {
        let inner = &buffer.inner;
        let dst = inner
            .mapped
            .expect("write_buffer on a buffer that is not host-visible");
        let end = offset + bytes.len() as u64;
        assert!(
            end <= inner.size,
            "write of {}..{end} into a {}-byte buffer",
            offset,
            inner.size
        );
        // SAFETY: `dst` maps `inner.size >= end` bytes owned by the buffer; the caller
        // guarantees that neither the GPU nor another host thread accesses the range.
        unsafe {
            std::ptr::copy_nonoverlapping(
                bytes.as_ptr(),
                dst.as_ptr().add(offset as usize),
                bytes.len(),
            )
        };
        self.shared
            .allocator
            .flush_allocation(&inner.allocation, offset, bytes.len() as u64)
            .map_err(|e| map_oom("flushing a host-visible buffer", e))
    }

    unsafe fn read_buffer(
        &self,
        buffer: &Buffer,
        offset: u64,
        len: usize,
        out: &mut Vec<u8>,
    ) -> Result<(), DeviceError> {
        let inner = &buffer.inner;
        let src = inner
            .mapped
            .expect("read_buffer on a buffer that is not host-visible");
        assert!(
            offset + len as u64 <= inner.size,
            "read of {len} bytes at {offset} from a {}-byte buffer",
            inner.size
        );
        self.shared
            .allocator
            .invalidate_allocation(&inner.allocation, offset, len as u64)
            .map_err(|e| map_oom("invalidating a read-back buffer", e))?;
        out.clear();
        out.reserve_exact(len);
        // SAFETY: `src + offset` maps at least `len` bytes; the GPU finished writing them and
        // they were made visible to the host (caller contract); `out` has `len` bytes of spare
        // capacity that `set_len` then covers.
        unsafe {
            std::ptr::copy_nonoverlapping(src.as_ptr().add(offset as usize), out.as_mut_ptr(), len);
            out.set_len(len);
        }
        Ok(())
    }

    fn create_texture(&self, desc: &TextureDesc<'_>) -> Result<Texture, DeviceError> {
        Ok(Texture {
            inner: self.create_image(desc)?,
        })
    }

    fn create_aliased_textures(
        &self,
        descs: &[TextureDesc<'_>],
    ) -> Result<Vec<Texture>, DeviceError> {
        Ok(self
            .create_aliased_images(descs)?
            .into_iter()
            .map(|inner| Texture { inner })
            .collect())
    }

    fn create_texture_view(
        &self,
        texture: &Texture,
        _desc: &TextureViewDesc<'_>,
    ) -> Result<TextureView, DeviceError> {
        let t = &texture.inner;
        let info = vk::ImageViewCreateInfo::default()
            .image(t.image)
            .view_type(vk::ImageViewType::TYPE_2D)
            .format(conv::map_texture_format(t.format))
            .subresource_range(conv::subresource_range(t.format));
        // SAFETY: `t.image` is a live image of this device with a matching format.
        let raw = unsafe { self.shared.raw.create_image_view(&info, None) }
            .map_err(|e| map_oom("creating a texture view", e))?;
        Ok(TextureView {
            inner: Arc::new(ViewInner {
                shared: Arc::clone(&self.shared),
                raw,
                _texture: Arc::clone(t),
            }),
        })
    }

    fn create_sampler(&self, desc: &SamplerDesc) -> Result<Sampler, DeviceError> {
        let info = vk::SamplerCreateInfo::default()
            .mag_filter(conv::map_filter(desc.mag_filter))
            .min_filter(conv::map_filter(desc.min_filter))
            .mipmap_mode(conv::map_mipmap_filter(desc.mipmap_filter))
            .address_mode_u(conv::map_address(desc.address_u))
            .address_mode_v(conv::map_address(desc.address_v))
            .address_mode_w(vk::SamplerAddressMode::CLAMP_TO_EDGE)
            .max_lod(vk::LOD_CLAMP_NONE);
        // SAFETY: valid create info on a live device.
        let raw = unsafe { self.shared.raw.create_sampler(&info, None) }
            .map_err(|e| map_oom("creating a sampler", e))?;
        Ok(Sampler {
            inner: Arc::new(SamplerInner {
                shared: Arc::clone(&self.shared),
                raw,
            }),
        })
    }

    fn create_shader_module(
        &self,
        desc: &ShaderModuleDesc<'_>,
    ) -> Result<ShaderModule, GraphicsError> {
        let words = ash::util::read_spv(&mut std::io::Cursor::new(desc.spirv)).map_err(|e| {
            UsageError::InvalidShader {
                label: desc.label.to_owned(),
                reason: e.to_string(),
            }
        })?;
        let info = vk::ShaderModuleCreateInfo::default().code(&words);
        // SAFETY: `words` is a SPIR-V word stream (magic checked by `read_spv`); the committed
        // shaders are also checked by spirv-val in `cargo xtask shaders`.
        let raw = unsafe { self.shared.raw.create_shader_module(&info, None) }
            .map_err(|e| map_oom("creating a shader module", e))?;
        Ok(ShaderModule {
            shared: Arc::clone(&self.shared),
            raw,
        })
    }

    fn create_descriptor_set_layout(
        &self,
        desc: &DescriptorSetLayoutDesc<'_>,
    ) -> Result<DescriptorSetLayout, DeviceError> {
        let bindings: Vec<_> = desc
            .bindings
            .iter()
            .map(|b| {
                vk::DescriptorSetLayoutBinding::default()
                    .binding(b.binding)
                    .descriptor_type(conv::map_descriptor_type(b.ty))
                    .descriptor_count(b.count)
                    .stage_flags(conv::map_shader_stages(b.stages))
            })
            .collect();
        let flags = if desc.push {
            vk::DescriptorSetLayoutCreateFlags::PUSH_DESCRIPTOR_KHR
        } else {
            vk::DescriptorSetLayoutCreateFlags::empty()
        };
        let flags = if desc.bindless {
            flags | vk::DescriptorSetLayoutCreateFlags::UPDATE_AFTER_BIND_POOL
        } else {
            flags
        };
        let binding_flags = vec![
            vk::DescriptorBindingFlags::PARTIALLY_BOUND
                | vk::DescriptorBindingFlags::UPDATE_AFTER_BIND;
            bindings.len()
        ];
        let mut flags_info =
            vk::DescriptorSetLayoutBindingFlagsCreateInfo::default().binding_flags(&binding_flags);
        let mut info = vk::DescriptorSetLayoutCreateInfo::default()
            .flags(flags)
            .bindings(&bindings);
        if desc.bindless {
            info = info.push_next(&mut flags_info);
        }
        // SAFETY: valid create info on a live device (the push flag is only used when the
        // renderer found VK_KHR_push_descriptor enabled).
        let raw = unsafe { self.shared.raw.create_descriptor_set_layout(&info, None) }
            .map_err(|e| map_oom("creating a descriptor-set layout", e))?;
        Ok(DescriptorSetLayout {
            inner: Arc::new(SetLayoutInner {
                shared: Arc::clone(&self.shared),
                raw,
                bindings: desc.bindings.to_vec(),
                bindless: desc.bindless,
            }),
        })
    }

    unsafe fn release_descriptors(&self, set: &DescriptorSet, binding: u32, elements: &[u32]) {
        let mut kept = set.inner.kept.lock().unwrap_or_else(|p| p.into_inner());
        let released: Vec<_> = elements
            .iter()
            .filter_map(|e| kept.remove(&(binding, *e)))
            .collect();
        drop(kept);
        // Dropped outside the lock: the last reference may destroy a view or sampler, which
        // no pending command buffer uses (caller contract).
        drop(released);
    }

    fn create_descriptor_set(
        &self,
        layout: &DescriptorSetLayout,
        _label: &str,
    ) -> Result<DescriptorSet, DeviceError> {
        let l = &layout.inner;
        let sizes: Vec<_> = l
            .bindings
            .iter()
            .map(|b| vk::DescriptorPoolSize {
                ty: conv::map_descriptor_type(b.ty),
                descriptor_count: b.count.max(1),
            })
            .collect();
        let flags = if l.bindless {
            vk::DescriptorPoolCreateFlags::UPDATE_AFTER_BIND
        } else {
            vk::DescriptorPoolCreateFlags::empty()
        };
        let info = vk::DescriptorPoolCreateInfo::default()
            .flags(flags)
            .max_sets(1)
            .pool_sizes(&sizes);
        // SAFETY: valid create info on a live device.
        let pool = unsafe { self.shared.raw.create_descriptor_pool(&info, None) }
            .map_err(|e| map_oom("creating a descriptor pool", e))?;
        let layouts = [l.raw];
        let alloc = vk::DescriptorSetAllocateInfo::default()
            .descriptor_pool(pool)
            .set_layouts(&layouts);
        // SAFETY: the pool was sized for one set of this layout (with the same
        // update-after-bind flag).
        let raw = match unsafe { self.shared.raw.allocate_descriptor_sets(&alloc) } {
            Ok(sets) => sets[0],
            Err(e) => {
                // SAFETY: the pool is unused.
                unsafe { self.shared.raw.destroy_descriptor_pool(pool, None) };
                return Err(map_oom("allocating a descriptor set", e));
            }
        };
        Ok(DescriptorSet {
            inner: Arc::new(DescriptorSetInner {
                shared: Arc::clone(&self.shared),
                pool,
                raw,
                _layout: Arc::clone(l),
                kept: Mutex::new(std::collections::HashMap::new()),
            }),
        })
    }

    unsafe fn write_descriptors(
        &self,
        set: &DescriptorSet,
        writes: &[crate::hal::DescriptorWrite<'_, Vulkan>],
    ) {
        let prepared = command::prepare_writes(writes);
        let raw: Vec<_> = prepared
            .writes(writes)
            .into_iter()
            .map(|w| w.dst_set(set.inner.raw))
            .collect();
        // SAFETY: the writes match their bindings and no pending command buffer uses the
        // written elements (caller contract); the infos point to `prepared`.
        unsafe { self.shared.raw.update_descriptor_sets(&raw, &[]) };
        let mut kept = set.inner.kept.lock().unwrap_or_else(|p| p.into_inner());
        for (w, keep) in writes.iter().zip(prepared.keep_per_write) {
            kept.insert((w.binding, w.array_element), keep);
        }
    }

    fn create_pipeline_layout(
        &self,
        desc: &PipelineLayoutDesc<'_, Vulkan>,
    ) -> Result<PipelineLayout, DeviceError> {
        let sets: Vec<_> = desc.set_layouts.iter().map(|l| l.inner.raw).collect();
        let ranges: Vec<_> = desc
            .push_constant_ranges
            .iter()
            .map(|r| vk::PushConstantRange {
                stage_flags: conv::map_shader_stages(r.stages),
                offset: r.range.start,
                size: r.range.end - r.range.start,
            })
            .collect();
        let info = vk::PipelineLayoutCreateInfo::default()
            .set_layouts(&sets)
            .push_constant_ranges(&ranges);
        // SAFETY: valid create info on a live device; the set layouts are live.
        let raw = unsafe { self.shared.raw.create_pipeline_layout(&info, None) }
            .map_err(|e| map_oom("creating a pipeline layout", e))?;
        Ok(PipelineLayout {
            inner: Arc::new(PipelineLayoutInner {
                shared: Arc::clone(&self.shared),
                raw,
                _set_layouts: desc
                    .set_layouts
                    .iter()
                    .map(|l| Arc::clone(&l.inner))
                    .collect(),
            }),
        })
    }

    fn create_render_pipeline(
        &self,
        desc: &RenderPipelineDesc<'_, Vulkan>,
    ) -> Result<RenderPipeline, DeviceError> {
        let stages = [
            vk::PipelineShaderStageCreateInfo::default()
                .stage(vk::ShaderStageFlags::VERTEX)
                .module(desc.vertex.module.raw)
                .name(desc.vertex.entry_point),
            vk::PipelineShaderStageCreateInfo::default()
                .stage(vk::ShaderStageFlags::FRAGMENT)
                .module(desc.fragment.module.raw)
                .name(desc.fragment.entry_point),
        ];
        let mut bindings = Vec::new();
        let mut attributes = Vec::new();
        for (slot, layout) in desc.vertex_buffers.iter().enumerate() {
            bindings.push(vk::VertexInputBindingDescription {
                binding: slot as u32,
                stride: layout.stride,
                input_rate: conv::map_step_mode(layout.step_mode),
            });
            attributes.extend(layout.attributes.iter().map(|a| {
                vk::VertexInputAttributeDescription {
                    location: a.location,
                    binding: slot as u32,
                    format: conv::map_vertex_format(a.format),
                    offset: a.offset,
                }
            }));
        }
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
            .cull_mode(conv::map_cull(desc.cull_mode))
            .front_face(vk::FrontFace::COUNTER_CLOCKWISE)
            .line_width(1.0);
        let multisample = vk::PipelineMultisampleStateCreateInfo::default()
            .rasterization_samples(vk::SampleCountFlags::TYPE_1);
        let depth = match desc.depth {
            Some(d) => vk::PipelineDepthStencilStateCreateInfo::default()
                .depth_test_enable(true)
                .depth_write_enable(d.write)
                .depth_compare_op(conv::map_compare(d.compare)),
            None => vk::PipelineDepthStencilStateCreateInfo::default(),
        };
        let blend_attachments: Vec<_> = desc
            .color_targets
            .iter()
            .map(|t| match t.blend {
                None => vk::PipelineColorBlendAttachmentState::default()
                    .blend_enable(false)
                    .color_write_mask(vk::ColorComponentFlags::RGBA),
                Some(b) => vk::PipelineColorBlendAttachmentState::default()
                    .blend_enable(true)
                    .src_color_blend_factor(conv::map_blend_factor(b.color.src_factor))
                    .dst_color_blend_factor(conv::map_blend_factor(b.color.dst_factor))
                    .color_blend_op(vk::BlendOp::ADD)
                    .src_alpha_blend_factor(conv::map_blend_factor(b.alpha.src_factor))
                    .dst_alpha_blend_factor(conv::map_blend_factor(b.alpha.dst_factor))
                    .alpha_blend_op(vk::BlendOp::ADD)
                    .color_write_mask(vk::ColorComponentFlags::RGBA),
            })
            .collect();
        let blend =
            vk::PipelineColorBlendStateCreateInfo::default().attachments(&blend_attachments);
        let dynamic_states = [vk::DynamicState::VIEWPORT, vk::DynamicState::SCISSOR];
        let dynamic = vk::PipelineDynamicStateCreateInfo::default().dynamic_states(&dynamic_states);
        let color_formats: Vec<_> = desc
            .color_targets
            .iter()
            .map(|t| conv::map_texture_format(t.format))
            .collect();
        let mut rendering =
            vk::PipelineRenderingCreateInfo::default().color_attachment_formats(&color_formats);
        if let Some(d) = desc.depth {
            rendering = rendering.depth_attachment_format(conv::map_texture_format(d.format));
        }
        let mut info = vk::GraphicsPipelineCreateInfo::default()
            .stages(&stages)
            .vertex_input_state(&vertex_input)
            .input_assembly_state(&input_assembly)
            .viewport_state(&viewport)
            .rasterization_state(&raster)
            .multisample_state(&multisample)
            .color_blend_state(&blend)
            .dynamic_state(&dynamic)
            .layout(desc.layout.inner.raw)
            .push_next(&mut rendering);
        if desc.depth.is_some() {
            info = info.depth_stencil_state(&depth);
        }
        let cache = desc.cache.map_or(vk::PipelineCache::null(), |c| c.raw);
        // SAFETY: every state struct and the pNext chain point to locals alive for the call;
        // modules, layout and cache are live objects of this device (a pipeline cache is
        // internally synchronised unless created with EXTERNALLY_SYNCHRONIZED, which it is not).
        let result = unsafe {
            self.shared
                .raw
                .create_graphics_pipelines(cache, &[info], None)
        };
        match result {
            Ok(pipelines) => Ok(RenderPipeline {
                // Named before it is shared.
                inner: {
                    self.shared.set_name(pipelines[0], desc.label);
                    Arc::new(PipelineInner {
                        shared: Arc::clone(&self.shared),
                        raw: pipelines[0],
                        _layout: Arc::clone(&desc.layout.inner),
                    })
                },
            }),
            Err((_, e)) => Err(map_oom("creating a render pipeline", e)),
        }
    }
    fn create_pipeline_cache(&self, initial: &[u8]) -> Result<(PipelineCache, bool), DeviceError> {
        // Only data this device produced may be passed back (VUID-VkPipelineCacheCreateInfo-
        // initialDataSize-00769): check the header (Vulkan spec §10.7.4) and start empty
        // otherwise.
        let usable = initial.len() >= 32 && initial[..32] == self.shared.cache_header;
        let data = if usable { initial } else { &[][..] };
        let info = vk::PipelineCacheCreateInfo::default().initial_data(data);
        // SAFETY: valid create info on a live device; `data` is empty or came from
        // vkGetPipelineCacheData of a device with the same header.
        let raw = unsafe { self.shared.raw.create_pipeline_cache(&info, None) }
            .map_err(|e| map_oom("creating a pipeline cache", e))?;
        Ok((
            PipelineCache {
                shared: Arc::clone(&self.shared),
                raw,
            },
            usable,
        ))
    }

    fn pipeline_cache_data(&self, cache: &PipelineCache) -> Result<Vec<u8>, DeviceError> {
        // SAFETY: a live cache of this device.
        unsafe { self.shared.raw.get_pipeline_cache_data(cache.raw) }
            .map_err(|e| map_oom("reading pipeline cache data", e))
    }

    fn create_timestamp_queries(&self, count: u32) -> Result<super::QuerySet, DeviceError> {
        let info = vk::QueryPoolCreateInfo::default()
            .query_type(vk::QueryType::TIMESTAMP)
            .query_count(count.max(1));
        // SAFETY: valid create info on a live device.
        let raw = unsafe { self.shared.raw.create_query_pool(&info, None) }
            .map_err(|e| map_oom("creating a timestamp query pool", e))?;
        Ok(super::QuerySet {
            inner: Arc::new(QueryInner {
                shared: Arc::clone(&self.shared),
                raw,
            }),
        })
    }

    unsafe fn read_timestamps(
        &self,
        set: &super::QuerySet,
        first: u32,
        count: u32,
    ) -> Result<Vec<u64>, DeviceError> {
        let mut out = vec![0u64; count as usize];
        // SAFETY: the queries were written by a completed submission (caller contract); `out`
        // holds `count` 64-bit results.
        unsafe {
            self.shared.raw.get_query_pool_results(
                set.inner.raw,
                first,
                &mut out,
                vk::QueryResultFlags::TYPE_64 | vk::QueryResultFlags::WAIT,
            )
        }
        .map_err(|e| map_oom_lost("reading timestamps", e))?;
        Ok(out)
    }

    fn create_command_encoder(
        &self,
        _desc: &CommandEncoderDesc<'_>,
    ) -> Result<CommandEncoder, DeviceError> {
        command::create_encoder(&self.shared)
    }

    fn create_fence(&self) -> Result<Fence, DeviceError> {
        let mut timeline = vk::SemaphoreTypeCreateInfo::default()
            .semaphore_type(vk::SemaphoreType::TIMELINE)
            .initial_value(0);
        let info = vk::SemaphoreCreateInfo::default().push_next(&mut timeline);
        // SAFETY: valid create info on a live device with timelineSemaphore enabled.
        let raw = unsafe { self.shared.raw.create_semaphore(&info, None) }
            .map_err(|e| map_oom("creating a timeline semaphore", e))?;
        Ok(Fence {
            inner: Arc::new(FenceInner {
                shared: Arc::clone(&self.shared),
                raw,
                pending: Mutex::new(VecDeque::new()),
            }),
        })
    }

    fn fence_value(&self, fence: &Fence) -> Result<u64, DeviceError> {
        fence.inner.value()
    }

    unsafe fn wait(
        &self,
        fence: &Fence,
        value: u64,
        timeout: Option<Duration>,
    ) -> Result<bool, DeviceError> {
        fence.inner.wait(value, timeout)
    }

    fn wait_idle(&self) -> Result<(), DeviceError> {
        let _queue = self.shared.queue.lock().unwrap_or_else(|p| p.into_inner());
        // SAFETY: vkDeviceWaitIdle needs the device's queues externally synchronised: the only
        // queue is locked above.
        unsafe { self.shared.raw.device_wait_idle() }
            .map_err(|e| map_oom_lost("waiting for the device to become idle", e))
    }

    /// vk-mem's count of live allocations over all heaps (`vmaCalculateStatistics`).
    fn allocation_count(&self) -> u64 {
        match self.shared.allocator.calculate_statistics() {
            Ok(stats) => u64::from(stats.total.statistics.allocationCount),
            Err(_) => 0,
        }
    }
}
