//! The Vulkan 1.3 backend (ash + vk-mem), laid out like wgpu-hal's `vulkan/`.
//!
//! - `mod.rs` — the object types and the `vk::Result` → [`GraphicsError`] mapping,
//! - `instance.rs` — loader, instance, validation layer and the counting debug messenger,
//! - `adapter.rs` — physical-device selection and logical-device creation,
//! - `device.rs` — allocator-backed buffers and textures, the mesh pipeline, frame slots,
//! - `command.rs` — per-thread secondary command buffers, the primary, submit and read-back,
//! - `conv.rs` — pure conversions between macrokid and Vulkan types,
//! - `baseline.rs` — [`RawAshBaseline`], the same frame recorded inline, for measurements.
//!
//! Uses Vulkan 1.3 core only: dynamic rendering and synchronization2. All unsafe code of the
//! crate lives in this module.
#![expect(
    unsafe_code,
    reason = "the Vulkan backend calls the Vulkan C API through ash and vk-mem"
)]

mod adapter;
mod baseline;
mod command;
mod conv;
mod device;
mod instance;

use std::ops::Range;
use std::sync::{Arc, Mutex};

use ash::vk;

use crate::backend::{InstanceDesc, MeshBuffers, PassTargets, RenderBackend};
use crate::{
    AdapterInfo, BufferUsage, Camera, GraphicsError, InstanceData, TextureFormat, ValidationCounts,
};

pub use baseline::RawAshBaseline;
pub use instance::ValidationCounter;

/// The Vulkan backend marker type: `Renderer<Vulkan>`.
#[derive(Debug, Clone, Copy, Default)]
pub struct Vulkan;

/// A Vulkan instance with (optionally) the validation layer and a debug messenger.
pub struct Instance {
    shared: Arc<instance::InstanceShared>,
}

/// A Vulkan physical device that supports everything the renderer needs.
pub struct Adapter {
    raw: vk::PhysicalDevice,
    info: AdapterInfo,
    queue_family: u32,
}

/// A Vulkan logical device with its vk-mem allocator.
pub struct Device {
    shared: Arc<device::DeviceShared>,
}

/// The graphics queue (externally synchronised by a mutex).
pub struct Queue {
    raw: Mutex<vk::Queue>,
}

/// A buffer with its vk-mem allocation.
///
/// Shared: a draw that records the buffer gives its command buffer a clone, which the frame
/// slot keeps from submit until its fence is waited, so dropping the `Buffer` never destroys
/// a buffer a pending submission reads.
pub struct Buffer {
    inner: Arc<device::BufferInner>,
}

/// A 2D image with its view and vk-mem allocation.
pub struct Texture {
    inner: device::TextureInner,
}

/// A graphics pipeline with its layout.
pub struct Pipeline {
    inner: device::PipelineInner,
}

/// Resources of one frame in flight.
pub struct FrameSlot {
    inner: device::FrameSlotInner,
}

/// Records one secondary command buffer; owns its command pool until ended.
pub struct CommandEncoder {
    inner: command::EncoderInner,
}

/// A finished secondary command buffer.
pub struct CommandBuffer {
    raw: vk::CommandBuffer,
    /// Buffers the recorded commands read; moved into the frame slot's keep-alive list on
    /// submit.
    keep_alive: Vec<Arc<device::BufferInner>>,
}

// --- vk::Result mapping (each function lists the codes it handles) -------------------------

/// Maps the out-of-memory codes; any other code becomes [`GraphicsError::Backend`].
fn map_oom(what: &'static str, result: vk::Result) -> GraphicsError {
    match result {
        vk::Result::ERROR_OUT_OF_HOST_MEMORY => GraphicsError::OutOfMemory {
            memory: "host",
            what,
        },
        vk::Result::ERROR_OUT_OF_DEVICE_MEMORY => GraphicsError::OutOfMemory {
            memory: "device",
            what,
        },
        other => map_unexpected(what, other),
    }
}

/// Maps out-of-memory and `ERROR_DEVICE_LOST`; any other code becomes [`GraphicsError::Backend`].
fn map_oom_lost(what: &'static str, result: vk::Result) -> GraphicsError {
    match result {
        vk::Result::ERROR_DEVICE_LOST => GraphicsError::DeviceLost { what },
        other => map_oom(what, other),
    }
}

/// Maps the codes of instance/device creation: out-of-memory, `ERROR_INITIALIZATION_FAILED`,
/// `ERROR_INCOMPATIBLE_DRIVER`, `ERROR_LAYER_NOT_PRESENT`, `ERROR_EXTENSION_NOT_PRESENT`.
fn map_create(what: &'static str, result: vk::Result) -> GraphicsError {
    match result {
        vk::Result::ERROR_INITIALIZATION_FAILED | vk::Result::ERROR_INCOMPATIBLE_DRIVER => {
            GraphicsError::NoAdapter {
                found: format!("{what} failed with {result:?}"),
            }
        }
        vk::Result::ERROR_LAYER_NOT_PRESENT => GraphicsError::ValidationLayerMissing,
        vk::Result::ERROR_EXTENSION_NOT_PRESENT => GraphicsError::MissingExtension {
            kind: "instance or device",
            name: format!("(reported by {what})"),
            hint: "update the Vulkan driver and loader",
        },
        other => map_oom(what, other),
    }
}

/// Any code the Vulkan specification does not list for the call: reported verbatim.
fn map_unexpected(what: &'static str, result: vk::Result) -> GraphicsError {
    GraphicsError::Backend {
        what,
        code: format!("{result:?}"),
    }
}

// --- RenderBackend -------------------------------------------------------------------------

impl RenderBackend for Vulkan {
    const NAME: &'static str = "vulkan";
    type Instance = Instance;
    type Adapter = Adapter;
    type Device = Device;
    type Queue = Queue;
    type CommandEncoder = CommandEncoder;
    type CommandBuffer = CommandBuffer;
    type Buffer = Buffer;
    type Texture = Texture;
    type Pipeline = Pipeline;
    type FrameSlot = FrameSlot;

    fn create_instance(desc: &InstanceDesc<'_>) -> Result<Instance, GraphicsError> {
        instance::create(desc)
    }

    fn validation_counts(instance: &Instance) -> ValidationCounts {
        instance.shared.counter.counts()
    }

    fn select_adapter(
        instance: &Instance,
        preference: Option<(&str, &'static str)>,
    ) -> Result<Adapter, GraphicsError> {
        adapter::select(instance, preference)
    }

    fn adapter_info(adapter: &Adapter) -> AdapterInfo {
        adapter.info.clone()
    }

    unsafe fn open_device(
        instance: &Instance,
        adapter: &Adapter,
    ) -> Result<(Device, Queue), GraphicsError> {
        adapter::open(instance, adapter)
    }

    fn create_attachment(
        device: &Device,
        format: TextureFormat,
        width: u32,
        height: u32,
    ) -> Result<Texture, GraphicsError> {
        device::create_attachment(device, format, width, height)
    }

    fn create_mesh_pipeline(
        device: &Device,
        targets: &PassTargets,
    ) -> Result<Pipeline, GraphicsError> {
        device::create_mesh_pipeline(device, targets)
    }

    unsafe fn upload_buffer(
        device: &Device,
        queue: &Queue,
        usage: BufferUsage,
        bytes: &[u8],
    ) -> Result<Buffer, GraphicsError> {
        command::upload_buffer(device, queue, usage, bytes)
    }

    fn create_frame_slot(device: &Device, readback_bytes: u64) -> Result<FrameSlot, GraphicsError> {
        device::create_frame_slot(device, readback_bytes)
    }

    unsafe fn wait_frame_slot(device: &Device, slot: &mut FrameSlot) -> Result<(), GraphicsError> {
        command::wait_frame_slot(device, slot)
    }

    unsafe fn write_instances(
        device: &Device,
        slot: &mut FrameSlot,
        instances: &[InstanceData],
    ) -> Result<(), GraphicsError> {
        device::write_instances(device, slot, instances)
    }

    unsafe fn begin_encoding(
        device: &Device,
        slot: &FrameSlot,
        targets: &PassTargets,
    ) -> Result<CommandEncoder, GraphicsError> {
        command::begin_encoding(device, slot, targets)
    }

    unsafe fn draw_mesh_instanced(
        encoder: &mut CommandEncoder,
        pipeline: &Pipeline,
        slot: &FrameSlot,
        camera: &Camera,
        mesh: &MeshBuffers<Self>,
        instances: Range<u32>,
    ) {
        command::draw_mesh_instanced(encoder, pipeline, slot, camera, mesh, instances);
    }

    fn end_encoding(encoder: CommandEncoder) -> Result<CommandBuffer, GraphicsError> {
        command::end_encoding(encoder)
    }

    unsafe fn submit(
        device: &Device,
        queue: &Queue,
        slot: &mut FrameSlot,
        color: &Texture,
        depth: &Texture,
        clear: [f32; 4],
        secondaries: Vec<CommandBuffer>,
    ) -> Result<(), GraphicsError> {
        command::submit(device, queue, slot, color, depth, clear, secondaries)
    }

    unsafe fn read_back(
        device: &Device,
        slot: &mut FrameSlot,
        out: &mut Vec<u8>,
    ) -> Result<(), GraphicsError> {
        command::read_back(device, slot, out)
    }

    fn wait_idle(device: &Device) -> Result<(), GraphicsError> {
        // SAFETY: the device handle is valid (owned by `device.shared`); vkDeviceWaitIdle needs
        // external synchronisation of the queues, which no other thread holds while the
        // renderer (the only user) is being dropped.
        unsafe { device.shared.raw.device_wait_idle() }
            .map_err(|e| map_oom_lost("waiting for the device to become idle", e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The messenger really counts: an invalid call produces an error that the counter sees.
    #[test]
    fn validation_messages_are_counted() {
        let instance = match Vulkan::create_instance(&InstanceDesc {
            app_name: "validation-counter-test",
            validation: true,
        }) {
            Ok(i) => i,
            Err(e) => panic!("this test needs lavapipe and the validation layer: {e}"),
        };
        let adapter = Vulkan::select_adapter(&instance, None).unwrap();
        // SAFETY: `adapter` was selected from `instance`.
        let (device, _queue) = unsafe { Vulkan::open_device(&instance, &adapter) }.unwrap();
        assert_eq!(Vulkan::validation_counts(&instance).total(), 0);
        // 0x8000 is not a valid VkFenceCreateFlagBits value: VUID-VkFenceCreateInfo-flags-parameter.
        let info = vk::FenceCreateInfo::default().flags(vk::FenceCreateFlags::from_raw(0x8000));
        // SAFETY: the flags are invalid on purpose; the validation layer reports it and the
        // driver ignores unknown bits; the fence is destroyed right away.
        unsafe {
            let fence = device.shared.raw.create_fence(&info, None).unwrap();
            device.shared.raw.destroy_fence(fence, None);
        }
        let counts = Vulkan::validation_counts(&instance);
        assert!(
            counts.errors >= 1,
            "the invalid flag was not reported: {counts:?}"
        );
    }

    /// Synchronization validation is on: two copies into one buffer without a barrier between
    /// them are reported as a write-after-write hazard while recording.
    #[test]
    fn synchronization_validation_is_enabled() {
        let _ = tracing_subscriber::fmt().with_test_writer().try_init();
        let instance = Vulkan::create_instance(&InstanceDesc {
            app_name: "sync-validation-test",
            validation: true,
        })
        .expect("this test needs lavapipe and the validation layer");
        let adapter = Vulkan::select_adapter(&instance, None).unwrap();
        // SAFETY: `adapter` was selected from `instance`.
        let (device, _queue) = unsafe { Vulkan::open_device(&instance, &adapter) }.unwrap();
        let color = Vulkan::create_attachment(&device, TextureFormat::Rgba8Unorm, 8, 8).unwrap();
        let buffer = device::BufferInner::new(
            &device.shared,
            8 * 8 * 4,
            vk::BufferUsageFlags::TRANSFER_DST,
            Some(device::HostAccess::Random),
            "test",
        )
        .unwrap();
        let mut pool = device::ThreadCommandPool::new(&device.shared).unwrap();
        let cmd = pool.next_buffer(vk::CommandBufferLevel::PRIMARY).unwrap();
        let region = vk::BufferImageCopy {
            image_subresource: vk::ImageSubresourceLayers {
                aspect_mask: vk::ImageAspectFlags::COLOR,
                mip_level: 0,
                base_array_layer: 0,
                layer_count: 1,
            },
            image_extent: vk::Extent3D {
                width: 8,
                height: 8,
                depth: 1,
            },
            ..Default::default()
        };
        let to_src = [vk::ImageMemoryBarrier2::default()
            .src_stage_mask(vk::PipelineStageFlags2::NONE)
            .dst_stage_mask(vk::PipelineStageFlags2::COPY)
            .dst_access_mask(vk::AccessFlags2::TRANSFER_READ)
            .old_layout(vk::ImageLayout::UNDEFINED)
            .new_layout(vk::ImageLayout::TRANSFER_SRC_OPTIMAL)
            .image(color.inner.image)
            .subresource_range(device::subresource_range(TextureFormat::Rgba8Unorm))];
        assert_eq!(Vulkan::validation_counts(&instance).total(), 0);
        let raw = &device.shared.raw;
        // SAFETY: `cmd` is a fresh primary buffer of a pool owned by this test; image and
        // buffer belong to the device. The missing barrier between the copies is the point.
        unsafe {
            raw.begin_command_buffer(cmd, &vk::CommandBufferBeginInfo::default())
                .unwrap();
            raw.cmd_pipeline_barrier2(
                cmd,
                &vk::DependencyInfo::default().image_memory_barriers(&to_src),
            );
            for _ in 0..2 {
                raw.cmd_copy_image_to_buffer(
                    cmd,
                    color.inner.image,
                    vk::ImageLayout::TRANSFER_SRC_OPTIMAL,
                    buffer.raw,
                    &[region],
                );
            }
            raw.end_command_buffer(cmd).unwrap();
        }
        let counts = Vulkan::validation_counts(&instance);
        assert!(
            counts.errors >= 1,
            "the WAW hazard was not reported: {counts:?}"
        );
    }

    /// Runs `f` on another thread and fails the test if it does not return within a minute
    /// (a wait on a fence that nothing will signal would otherwise hang the test run).
    fn within_a_minute<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = tx.send(f());
        });
        rx.recv_timeout(std::time::Duration::from_secs(60))
            .expect("waited on a frame fence that nothing will signal")
    }

    /// A submit that fails after resetting the fence leaves the slot idle: waiting for the
    /// slot (`wait_frame_slot`, `read_back`) returns at once instead of waiting forever; a
    /// successful submit marks it in flight until waited.
    #[test]
    fn a_failed_submit_leaves_the_slot_waitable() {
        let _ = tracing_subscriber::fmt().with_test_writer().try_init();
        let instance = Vulkan::create_instance(&InstanceDesc {
            app_name: "failed-submit-test",
            validation: true,
        })
        .expect("this test needs lavapipe and the validation layer");
        let adapter = Vulkan::select_adapter(&instance, None).unwrap();
        // SAFETY: `adapter` was selected from `instance`.
        let (device, queue) = unsafe { Vulkan::open_device(&instance, &adapter) }.unwrap();
        let targets = PassTargets {
            color: TextureFormat::Rgba8Unorm,
            depth: TextureFormat::Depth32Float,
            width: 8,
            height: 8,
        };
        let color = Vulkan::create_attachment(&device, targets.color, 8, 8).unwrap();
        let depth = Vulkan::create_attachment(&device, targets.depth, 8, 8).unwrap();
        let mut slot = Vulkan::create_frame_slot(&device, 8 * 8 * 4).unwrap();
        assert!(!slot.inner.in_flight, "a new slot is idle");

        // A successful submit: in flight until waited.
        // SAFETY: all objects belong to `device`; the slot is new (idle); no secondaries;
        // the targets outlive the wait below.
        unsafe { Vulkan::submit(&device, &queue, &mut slot, &color, &depth, [0.0; 4], vec![]) }
            .unwrap();
        assert!(slot.inner.in_flight);
        // SAFETY: the slot belongs to `device`; no encoder of it exists.
        unsafe { Vulkan::wait_frame_slot(&device, &mut slot) }.unwrap();
        assert!(!slot.inner.in_flight);

        // What `submit_with` leaves behind when `vkQueueSubmit2` fails: the fence was reset
        // and nothing will signal it; `in_flight` stays false.
        // SAFETY: the fence belongs to the device and no pending submission uses it (waited).
        unsafe { device.shared.raw.reset_fences(&[slot.inner.fence]) }.unwrap();
        let (device, mut slot) = within_a_minute(move || {
            // SAFETY: the slot belongs to `device`; no encoder of it exists.
            unsafe { Vulkan::wait_frame_slot(&device, &mut slot) }.unwrap();
            let mut out = Vec::new();
            // SAFETY: the slot belongs to `device`.
            unsafe { Vulkan::read_back(&device, &mut slot, &mut out) }.unwrap();
            assert_eq!(out.len(), 8 * 8 * 4);
            (device, slot)
        });

        // The slot is usable again: the next submit resets the (unsignalled) fence and
        // signals it.
        // SAFETY: as for the first submit; the slot is idle.
        unsafe { Vulkan::submit(&device, &queue, &mut slot, &color, &depth, [1.0; 4], vec![]) }
            .unwrap();
        let mut out = Vec::new();
        // SAFETY: the slot belongs to `device`.
        unsafe { Vulkan::read_back(&device, &mut slot, &mut out) }.unwrap();
        assert_eq!(&out[..4], &[255, 255, 255, 255]);
        assert!(!slot.inner.in_flight);
        drop(slot);
        Vulkan::wait_idle(&device).unwrap();
        assert_eq!(Vulkan::validation_counts(&instance).total(), 0);
    }
}
