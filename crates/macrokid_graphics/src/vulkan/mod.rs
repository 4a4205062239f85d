//! The Vulkan 1.3 backend (ash + vk-mem), laid out like wgpu-hal's `vulkan/`.
//!
//! - `mod.rs` — the object types, [`RenderBackend`](crate::hal::RenderBackend) and the `vk::Result` → error mapping,
//! - `instance.rs` — loader, instance, validation layer and the counting debug messenger,
//! - `adapter.rs` — physical-device selection, capabilities and logical-device creation,
//! - `device.rs` — [`Device`]: buffers, textures, views, samplers, shaders, layouts,
//!   pipelines, command encoders and timeline fences,
//! - `command.rs` — [`CommandEncoder`] (recording) and [`Queue`] (submission),
//! - `conv.rs` — pure conversions between HAL and Vulkan types, including the
//!   [`TextureUse`](crate::TextureUse)/[`BufferUse`](crate::BufferUse) → synchronization2
//!   stage, access and layout tables.
//!
//! Uses Vulkan 1.3 core (dynamic rendering, synchronization2, timeline semaphores) and
//! `VK_KHR_push_descriptor` where the device has it. All `ash`/`vk-mem` names of the crate live
//! in this module.
//!
//! # Lifetimes
//! Every object is an `Arc` around its Vulkan handle and destroys the handle when the last
//! reference goes. A command buffer holds references to what it recorded (buffers, views,
//! samplers, pipelines, its command pool); [`Queue`] submission moves them into the signalled
//! [`Fence`], which drops them once the GPU reached the value. So dropping any object is safe
//! at any time: its destruction is deferred until the GPU is past its last use.
#![expect(
    unsafe_code,
    reason = "the Vulkan backend calls the Vulkan C API through ash and vk-mem"
)]

mod adapter;
mod command;
mod conv;
mod device;
mod instance;
#[cfg(feature = "window")]
pub(crate) mod swapchain;

use std::sync::Arc;

use ash::vk;

use crate::{DeviceError, EnvironmentError, GraphicsError};

pub use instance::ValidationCounter;
#[cfg(feature = "window")]
pub use swapchain::PresentMode;

/// The Vulkan backend marker type: `Renderer<Vulkan>`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Vulkan;

impl crate::hal::RenderBackend for Vulkan {
    const NAME: &'static str = "vulkan";
    type Instance = Instance;
    type Adapter = Adapter;
    type Device = Device;
    type Queue = Queue;
    type CommandEncoder = CommandEncoder;
    type CommandBuffer = CommandBuffer;
    type Buffer = Buffer;
    type Texture = Texture;
    type TextureView = TextureView;
    type Sampler = Sampler;
    type ShaderModule = ShaderModule;
    type DescriptorSetLayout = DescriptorSetLayout;
    type PipelineLayout = PipelineLayout;
    type RenderPipeline = RenderPipeline;
    type Fence = Fence;
    type PipelineCache = PipelineCache;
    type DescriptorSet = DescriptorSet;
    type QuerySet = QuerySet;
}

/// Something a pending submission keeps alive until its fence value is reached.
type KeepAlive = Arc<dyn Send + Sync>;

/// A Vulkan instance with (optionally) the validation layer and a debug messenger.
pub struct Instance {
    shared: Arc<instance::InstanceShared>,
}

/// A Vulkan physical device that supports everything the renderer needs.
pub struct Adapter {
    raw: vk::PhysicalDevice,
    info: crate::AdapterInfo,
    queue_family: u32,
    caps: crate::hal::Capabilities,
    /// The pipeline-cache header a cache of this device starts with (Vulkan spec §10.7.4:
    /// header size 32, version ONE, vendor id, device id, pipeline-cache UUID).
    cache_header: [u8; 32],
}

/// A Vulkan logical device with its vk-mem allocator.
pub struct Device {
    shared: Arc<device::DeviceShared>,
}

/// The graphics queue (externally synchronised by a mutex).
pub struct Queue {
    shared: Arc<device::DeviceShared>,
}

/// A buffer with its vk-mem allocation.
pub struct Buffer {
    inner: Arc<device::BufferInner>,
}

/// A 2D image with its vk-mem allocation.
pub struct Texture {
    inner: Arc<device::TextureInner>,
}

/// An image view (keeps its image alive).
pub struct TextureView {
    inner: Arc<device::ViewInner>,
}

/// A sampler.
pub struct Sampler {
    inner: Arc<device::SamplerInner>,
}

/// A shader module (only needed until the pipelines using it are created).
pub struct ShaderModule {
    shared: Arc<device::DeviceShared>,
    raw: vk::ShaderModule,
}

/// A descriptor-set layout.
pub struct DescriptorSetLayout {
    inner: Arc<device::SetLayoutInner>,
}

/// A pipeline layout (keeps its set layouts alive).
pub struct PipelineLayout {
    inner: Arc<device::PipelineLayoutInner>,
}

/// A graphics pipeline (keeps its layout alive).
pub struct RenderPipeline {
    inner: Arc<device::PipelineInner>,
}

/// A timeline semaphore plus the objects each signalled value keeps alive.
pub struct Fence {
    inner: Arc<device::FenceInner>,
}

/// A descriptor set with its own pool and the resources its elements reference.
pub struct DescriptorSet {
    inner: Arc<device::DescriptorSetInner>,
}

/// A `VkQueryPool` of timestamp queries.
pub struct QuerySet {
    inner: Arc<device::QueryInner>,
}

/// A `VkPipelineCache`.
pub struct PipelineCache {
    shared: Arc<device::DeviceShared>,
    raw: vk::PipelineCache,
}

/// Records command buffers from its own command pool.
pub struct CommandEncoder {
    inner: command::EncoderInner,
}

/// A finished command buffer with the objects it recorded.
pub struct CommandBuffer {
    raw: vk::CommandBuffer,
    keep_alive: Vec<KeepAlive>,
}

macro_rules! debug_as_name {
    ($($ty:ident),*) => {$(
        impl std::fmt::Debug for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_struct(stringify!($ty)).finish_non_exhaustive()
            }
        }
    )*};
}
debug_as_name!(
    Instance,
    Adapter,
    Device,
    Queue,
    Buffer,
    Texture,
    TextureView,
    Sampler,
    ShaderModule,
    DescriptorSetLayout,
    PipelineLayout,
    RenderPipeline,
    Fence,
    PipelineCache,
    DescriptorSet,
    QuerySet,
    CommandEncoder,
    CommandBuffer
);

impl crate::hal::CommandBuffer for CommandBuffer {}
impl crate::hal::Buffer for Buffer {
    fn size(&self) -> u64 {
        self.inner.size
    }
}
impl crate::hal::Texture for Texture {
    fn size(&self) -> (u32, u32) {
        (self.inner.width, self.inner.height)
    }
    fn format(&self) -> crate::TextureFormat {
        self.inner.format
    }
    fn memory_binding(&self) -> (u64, u64) {
        self.inner.memory_binding()
    }
}
impl crate::hal::TextureView for TextureView {}
impl crate::hal::Sampler for Sampler {}
impl crate::hal::ShaderModule for ShaderModule {}
impl crate::hal::DescriptorSetLayout for DescriptorSetLayout {}
impl crate::hal::PipelineLayout for PipelineLayout {}
impl crate::hal::RenderPipeline for RenderPipeline {}
impl crate::hal::Fence for Fence {}
impl crate::hal::PipelineCache for PipelineCache {}
impl crate::hal::DescriptorSet for DescriptorSet {}
impl crate::hal::QuerySet for QuerySet {}

// --- vk::Result mapping (each function lists the codes it handles) -------------------------

/// Maps `ERROR_OUT_OF_HOST_MEMORY` and `ERROR_OUT_OF_DEVICE_MEMORY`; any other code becomes
/// [`DeviceError::Unexpected`].
fn map_oom(what: &'static str, result: vk::Result) -> DeviceError {
    match result {
        vk::Result::ERROR_OUT_OF_HOST_MEMORY => DeviceError::OutOfMemory {
            memory: "host",
            what,
        },
        vk::Result::ERROR_OUT_OF_DEVICE_MEMORY => DeviceError::OutOfMemory {
            memory: "device",
            what,
        },
        other => map_unexpected(what, other),
    }
}

/// Maps out-of-memory and `ERROR_DEVICE_LOST`; any other code becomes
/// [`DeviceError::Unexpected`].
fn map_oom_lost(what: &'static str, result: vk::Result) -> DeviceError {
    match result {
        vk::Result::ERROR_DEVICE_LOST => DeviceError::Lost { what },
        other => map_oom(what, other),
    }
}

/// Maps the codes of instance/device creation: `ERROR_INITIALIZATION_FAILED` and
/// `ERROR_INCOMPATIBLE_DRIVER` (no usable driver), `ERROR_LAYER_NOT_PRESENT`,
/// `ERROR_EXTENSION_NOT_PRESENT`, `ERROR_FEATURE_NOT_PRESENT`, then out-of-memory.
fn map_create(what: &'static str, result: vk::Result) -> GraphicsError {
    match result {
        vk::Result::ERROR_INITIALIZATION_FAILED | vk::Result::ERROR_INCOMPATIBLE_DRIVER => {
            EnvironmentError::NoAdapter {
                found: format!("{what} failed with {result:?}"),
            }
            .into()
        }
        vk::Result::ERROR_LAYER_NOT_PRESENT => EnvironmentError::ValidationLayerMissing.into(),
        vk::Result::ERROR_EXTENSION_NOT_PRESENT | vk::Result::ERROR_FEATURE_NOT_PRESENT => {
            EnvironmentError::MissingExtension {
                kind: "instance or device",
                name: format!("(reported by {what} as {result:?})"),
                hint: "update the Vulkan driver and loader",
            }
            .into()
        }
        other => map_oom(what, other).into(),
    }
}

/// Any code the Vulkan specification does not list for the call: reported verbatim.
fn map_unexpected(what: &'static str, result: vk::Result) -> DeviceError {
    DeviceError::Unexpected {
        what,
        code: format!("{result:?}"),
    }
}

#[cfg(test)]
mod tests;
