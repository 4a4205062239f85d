//! Command recording: per-thread secondary command buffers (dynamic rendering inheritance),
//! the primary command buffer with synchronization2 barriers, submit, read-back and uploads.

use std::ops::Range;
use std::sync::{Arc, Mutex};

use ash::vk;

use super::device::{subresource_range, BufferInner, DeviceShared, HostAccess, ThreadCommandPool};
use super::{
    conv, map_oom, map_oom_lost, Buffer, CommandBuffer, CommandEncoder, Device, FrameSlot,
    Pipeline, Queue, Texture,
};
use crate::backend::{MeshBuffers, PassTargets};
use crate::{BufferUsage, Camera, GraphicsError};

pub(super) struct EncoderInner {
    shared: Arc<DeviceShared>,
    /// The pool this encoder owns until it ends; `None` once given back.
    pool: Option<ThreadCommandPool>,
    /// Where the pool goes back to (the frame slot's idle list).
    home: Arc<Mutex<Vec<ThreadCommandPool>>>,
    cmd: vk::CommandBuffer,
    width: u32,
    height: u32,
    /// State already recorded in `cmd`, so consecutive draws skip redundant binds.
    bound: Option<BoundState>,
    /// Mesh buffers bound in `cmd`; they travel with the command buffer to the frame slot,
    /// which keeps them alive until the GPU is done with the submission.
    keep_alive: Vec<Arc<BufferInner>>,
}

/// Pipeline, buffers and push constants recorded last in an encoder.
#[derive(Clone, Copy, PartialEq)]
struct BoundState {
    pipeline: vk::Pipeline,
    vertices: vk::Buffer,
    indices: vk::Buffer,
    instances: vk::Buffer,
    push: [u8; conv::PUSH_CONSTANT_BYTES as usize],
}

impl EncoderInner {
    fn give_pool_back(&mut self) {
        if let Some(pool) = self.pool.take() {
            self.home
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(pool);
        }
    }
}

impl Drop for EncoderInner {
    fn drop(&mut self) {
        // An encoder dropped without `end_encoding` leaves its buffer in the recording state;
        // the pool reset at the slot's next `wait_frame_slot` returns it to the initial state.
        self.give_pool_back();
    }
}

fn lock_queue(queue: &Queue) -> std::sync::MutexGuard<'_, vk::Queue> {
    queue.raw.lock().unwrap_or_else(|p| p.into_inner())
}

pub(super) fn begin_encoding(
    device: &Device,
    slot: &FrameSlot,
    targets: &PassTargets,
) -> Result<CommandEncoder, GraphicsError> {
    let shared = &device.shared;
    let home = Arc::clone(&slot.inner.thread_pools);
    let pooled = home.lock().unwrap_or_else(|p| p.into_inner()).pop();
    let mut pool = match pooled {
        Some(p) => p,
        None => ThreadCommandPool::new(shared)?,
    };
    let cmd = match pool.next_buffer(vk::CommandBufferLevel::SECONDARY) {
        Ok(c) => c,
        Err(e) => {
            home.lock().unwrap_or_else(|p| p.into_inner()).push(pool);
            return Err(e);
        }
    };
    let mut inner = EncoderInner {
        shared: Arc::clone(shared),
        pool: Some(pool),
        home,
        cmd,
        width: targets.width,
        height: targets.height,
        bound: None,
        keep_alive: Vec::new(),
    };
    let color_formats = [conv::map_texture_format(targets.color)];
    let mut rendering = vk::CommandBufferInheritanceRenderingInfo::default()
        .color_attachment_formats(&color_formats)
        .depth_attachment_format(conv::map_texture_format(targets.depth))
        .rasterization_samples(vk::SampleCountFlags::TYPE_1);
    let inheritance = vk::CommandBufferInheritanceInfo::default().push_next(&mut rendering);
    let begin = vk::CommandBufferBeginInfo::default()
        .flags(
            vk::CommandBufferUsageFlags::ONE_TIME_SUBMIT
                | vk::CommandBufferUsageFlags::RENDER_PASS_CONTINUE,
        )
        .inheritance_info(&inheritance);
    // SAFETY: `cmd` comes from a pool this encoder owns exclusively (taken out of the slot's
    // idle list) and is in the initial state (the pool was reset after the slot's fence);
    // the inheritance chain points to locals alive for the call.
    unsafe { shared.raw.begin_command_buffer(cmd, &begin) }
        .map_err(|e| map_oom("beginning a secondary command buffer", e))?;
    // Dynamic state is not inherited by secondaries: set it once per buffer. Plain Vulkan
    // viewport: clip-space +Y points down the image.
    let viewport = vk::Viewport {
        x: 0.0,
        y: 0.0,
        width: inner.width as f32,
        height: inner.height as f32,
        min_depth: 0.0,
        max_depth: 1.0,
    };
    let scissor = vk::Rect2D {
        offset: vk::Offset2D { x: 0, y: 0 },
        extent: vk::Extent2D {
            width: inner.width,
            height: inner.height,
        },
    };
    // SAFETY: the buffer is recording and owned by this encoder.
    unsafe {
        shared.raw.cmd_set_viewport(cmd, 0, &[viewport]);
        shared.raw.cmd_set_scissor(cmd, 0, &[scissor]);
    }
    inner.cmd = cmd;
    Ok(CommandEncoder { inner })
}

pub(super) fn draw_mesh_instanced(
    encoder: &mut CommandEncoder,
    pipeline: &Pipeline,
    slot: &FrameSlot,
    camera: &Camera,
    mesh: &MeshBuffers<super::Vulkan>,
    instances: Range<u32>,
) {
    let enc = &mut encoder.inner;
    let Some(instance_buffer) = slot.inner.instances.as_ref() else {
        // No instances were ever uploaded: the renderer rejects non-empty ranges before this.
        return;
    };
    let state = BoundState {
        pipeline: pipeline.inner.raw,
        vertices: mesh.vertices.raw(),
        indices: mesh.indices.raw(),
        instances: instance_buffer.raw,
        push: conv::push_constants(camera),
    };
    let previous = enc.bound.replace(state);
    let raw = &enc.shared.raw;
    // SAFETY: the command buffer is recording and owned by this encoder; the pipeline, mesh
    // buffers and instance buffer belong to the same device (caller contract) and outlive the
    // submission: the pipeline by caller contract, the mesh buffers through `keep_alive` below
    // (then the command buffer's, then the slot's until its fence is waited), the instance
    // buffer through the slot (`retired` when replaced); `instances` lies within the uploaded
    // instances (caller contract). State recorded earlier in this buffer stays bound, so only
    // changes are recorded.
    unsafe {
        if previous.map(|p| p.pipeline) != Some(state.pipeline) {
            raw.cmd_bind_pipeline(enc.cmd, vk::PipelineBindPoint::GRAPHICS, state.pipeline);
        }
        if previous.map(|p| p.push) != Some(state.push) {
            raw.cmd_push_constants(
                enc.cmd,
                pipeline.inner.layout,
                vk::ShaderStageFlags::VERTEX | vk::ShaderStageFlags::FRAGMENT,
                0,
                &state.push,
            );
        }
        if previous.map(|p| (p.vertices, p.instances)) != Some((state.vertices, state.instances)) {
            raw.cmd_bind_vertex_buffers(enc.cmd, 0, &[state.vertices, state.instances], &[0, 0]);
        }
        if previous.map(|p| p.indices) != Some(state.indices) {
            raw.cmd_bind_index_buffer(enc.cmd, state.indices, 0, vk::IndexType::UINT32);
        }
        // The mesh buffers are bound in this command buffer from now on: keep them alive
        // with it (once per newly bound buffer; the same buffer stays bound otherwise).
        if previous.map(|p| p.vertices) != Some(state.vertices) {
            enc.keep_alive.push(Arc::clone(&mesh.vertices.inner));
        }
        if previous.map(|p| p.indices) != Some(state.indices) {
            enc.keep_alive.push(Arc::clone(&mesh.indices.inner));
        }
        raw.cmd_draw_indexed(
            enc.cmd,
            mesh.index_count,
            instances.end - instances.start,
            0,
            0,
            instances.start,
        );
    }
}

pub(super) fn end_encoding(encoder: CommandEncoder) -> Result<CommandBuffer, GraphicsError> {
    let mut inner = encoder.inner;
    // SAFETY: the buffer is recording and owned by this encoder.
    let result = unsafe { inner.shared.raw.end_command_buffer(inner.cmd) };
    inner.give_pool_back();
    result.map_err(|e| map_oom("ending a secondary command buffer", e))?;
    Ok(CommandBuffer {
        raw: inner.cmd,
        keep_alive: std::mem::take(&mut inner.keep_alive),
    })
}

pub(super) fn wait_frame_slot(device: &Device, slot: &mut FrameSlot) -> Result<(), GraphicsError> {
    debug_assert!(Arc::ptr_eq(&device.shared, &slot.inner.shared));
    let slot = &mut slot.inner;
    slot.wait_fence()?;
    slot.primary_pool.reset()?;
    for pool in slot
        .thread_pools
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .iter_mut()
    {
        pool.reset()?;
    }
    slot.retired.clear();
    slot.keep_alive.clear();
    Ok(())
}

fn image_barrier(
    image: &Texture,
    src: (vk::PipelineStageFlags2, vk::AccessFlags2),
    dst: (vk::PipelineStageFlags2, vk::AccessFlags2),
    layouts: (vk::ImageLayout, vk::ImageLayout),
) -> vk::ImageMemoryBarrier2<'static> {
    vk::ImageMemoryBarrier2::default()
        .src_stage_mask(src.0)
        .src_access_mask(src.1)
        .dst_stage_mask(dst.0)
        .dst_access_mask(dst.1)
        .old_layout(layouts.0)
        .new_layout(layouts.1)
        .src_queue_family_index(vk::QUEUE_FAMILY_IGNORED)
        .dst_queue_family_index(vk::QUEUE_FAMILY_IGNORED)
        .image(image.inner.image)
        .subresource_range(subresource_range(image.inner.format))
}

#[allow(clippy::too_many_arguments)]
pub(super) fn submit(
    device: &Device,
    queue: &Queue,
    slot: &mut FrameSlot,
    color: &Texture,
    depth: &Texture,
    clear: [f32; 4],
    secondaries: Vec<CommandBuffer>,
) -> Result<(), GraphicsError> {
    let mut raws = Vec::with_capacity(secondaries.len());
    for cb in secondaries {
        raws.push(cb.raw);
        // Kept until the slot's fence is waited (`wait_frame_slot`), whether or not the
        // submission below succeeds.
        slot.inner.keep_alive.extend(cb.keep_alive);
    }
    let secondaries = raws;
    submit_with(
        device,
        queue,
        slot,
        color,
        depth,
        clear,
        PassContents::Secondaries(&secondaries),
    )
}

/// What goes between begin and end rendering in the primary command buffer.
pub(super) enum PassContents<'a> {
    /// Execute these secondaries, in order.
    Secondaries(&'a [vk::CommandBuffer]),
    /// Record inline with this function (used by the raw baseline).
    Inline(&'a dyn Fn(&ash::Device, vk::CommandBuffer)),
}

/// Records the primary command buffer of a frame around `contents` and submits it with the
/// slot's fence.
#[allow(clippy::too_many_arguments)]
pub(super) fn submit_with(
    device: &Device,
    queue: &Queue,
    slot: &mut FrameSlot,
    color: &Texture,
    depth: &Texture,
    clear: [f32; 4],
    contents: PassContents<'_>,
) -> Result<(), GraphicsError> {
    use vk::{AccessFlags2 as A, ImageLayout as L, PipelineStageFlags2 as S};
    let raw = &device.shared.raw;
    let slot = &mut slot.inner;
    let cmd = slot
        .primary_pool
        .next_buffer(vk::CommandBufferLevel::PRIMARY)?;
    let (width, height) = (color.inner.width, color.inner.height);
    let begin =
        vk::CommandBufferBeginInfo::default().flags(vk::CommandBufferUsageFlags::ONE_TIME_SUBMIT);

    // Previous frames (other slot, same queue) last touched the targets as: colour copied to
    // a read-back buffer, depth written by fragment tests. Contents are discarded (UNDEFINED).
    let to_attachment = [
        image_barrier(
            color,
            (S::COPY | S::COLOR_ATTACHMENT_OUTPUT, A::NONE),
            (S::COLOR_ATTACHMENT_OUTPUT, A::COLOR_ATTACHMENT_WRITE),
            (L::UNDEFINED, L::COLOR_ATTACHMENT_OPTIMAL),
        ),
        image_barrier(
            depth,
            (
                S::EARLY_FRAGMENT_TESTS | S::LATE_FRAGMENT_TESTS,
                A::DEPTH_STENCIL_ATTACHMENT_WRITE,
            ),
            (
                S::EARLY_FRAGMENT_TESTS | S::LATE_FRAGMENT_TESTS,
                A::DEPTH_STENCIL_ATTACHMENT_READ | A::DEPTH_STENCIL_ATTACHMENT_WRITE,
            ),
            (L::UNDEFINED, L::DEPTH_ATTACHMENT_OPTIMAL),
        ),
    ];
    // The read-back buffer was last written by this slot's previous copy and read by the host.
    let readback_before = [vk::BufferMemoryBarrier2::default()
        .src_stage_mask(S::COPY | S::HOST)
        .src_access_mask(A::TRANSFER_WRITE)
        .dst_stage_mask(S::COPY)
        .dst_access_mask(A::TRANSFER_WRITE)
        .src_queue_family_index(vk::QUEUE_FAMILY_IGNORED)
        .dst_queue_family_index(vk::QUEUE_FAMILY_IGNORED)
        .buffer(slot.readback.raw)
        .offset(0)
        .size(vk::WHOLE_SIZE)];
    let to_copy = [image_barrier(
        color,
        (S::COLOR_ATTACHMENT_OUTPUT, A::COLOR_ATTACHMENT_WRITE),
        (S::COPY, A::TRANSFER_READ),
        (L::COLOR_ATTACHMENT_OPTIMAL, L::TRANSFER_SRC_OPTIMAL),
    )];
    let to_host = [vk::BufferMemoryBarrier2::default()
        .src_stage_mask(S::COPY)
        .src_access_mask(A::TRANSFER_WRITE)
        .dst_stage_mask(S::HOST)
        .dst_access_mask(A::HOST_READ)
        .src_queue_family_index(vk::QUEUE_FAMILY_IGNORED)
        .dst_queue_family_index(vk::QUEUE_FAMILY_IGNORED)
        .buffer(slot.readback.raw)
        .offset(0)
        .size(vk::WHOLE_SIZE)];

    let color_attachment = [vk::RenderingAttachmentInfo::default()
        .image_view(color.inner.view)
        .image_layout(L::COLOR_ATTACHMENT_OPTIMAL)
        .load_op(vk::AttachmentLoadOp::CLEAR)
        .store_op(vk::AttachmentStoreOp::STORE)
        .clear_value(vk::ClearValue {
            color: vk::ClearColorValue { float32: clear },
        })];
    let depth_attachment = vk::RenderingAttachmentInfo::default()
        .image_view(depth.inner.view)
        .image_layout(L::DEPTH_ATTACHMENT_OPTIMAL)
        .load_op(vk::AttachmentLoadOp::CLEAR)
        .store_op(vk::AttachmentStoreOp::DONT_CARE)
        .clear_value(vk::ClearValue {
            depth_stencil: vk::ClearDepthStencilValue {
                depth: 1.0,
                stencil: 0,
            },
        });
    let area = vk::Rect2D {
        offset: vk::Offset2D { x: 0, y: 0 },
        extent: vk::Extent2D { width, height },
    };
    let flags = match contents {
        PassContents::Secondaries(_) => vk::RenderingFlags::CONTENTS_SECONDARY_COMMAND_BUFFERS,
        PassContents::Inline(_) => vk::RenderingFlags::empty(),
    };
    let rendering = vk::RenderingInfo::default()
        .flags(flags)
        .render_area(area)
        .layer_count(1)
        .color_attachments(&color_attachment)
        .depth_attachment(&depth_attachment);
    let copy = vk::BufferImageCopy {
        buffer_offset: 0,
        buffer_row_length: 0,
        buffer_image_height: 0,
        image_subresource: vk::ImageSubresourceLayers {
            aspect_mask: vk::ImageAspectFlags::COLOR,
            mip_level: 0,
            base_array_layer: 0,
            layer_count: 1,
        },
        image_offset: vk::Offset3D { x: 0, y: 0, z: 0 },
        image_extent: vk::Extent3D {
            width,
            height,
            depth: 1,
        },
    };
    debug_assert!(
        u64::from(width) * u64::from(height) * 4 <= slot.readback_bytes,
        "read-back buffer smaller than the colour target"
    );

    // SAFETY: `cmd` was just taken from this slot's primary pool, reset after the slot's fence
    // was waited; all handles belong to this device; the secondaries were recorded for this
    // frame slot with matching inheritance (formats, samples) and are executed once (inline
    // contents record into the rendering scope begun here); the
    // barriers order every access to the targets and the read-back buffer (see above).
    unsafe {
        raw.begin_command_buffer(cmd, &begin)
            .map_err(|e| map_oom("beginning the primary command buffer", e))?;
        raw.cmd_pipeline_barrier2(
            cmd,
            &vk::DependencyInfo::default()
                .image_memory_barriers(&to_attachment)
                .buffer_memory_barriers(&readback_before),
        );
        raw.cmd_begin_rendering(cmd, &rendering);
        match contents {
            PassContents::Secondaries(list) if !list.is_empty() => {
                raw.cmd_execute_commands(cmd, list);
            }
            PassContents::Secondaries(_) => {}
            PassContents::Inline(record) => record(raw, cmd),
        }
        raw.cmd_end_rendering(cmd);
        raw.cmd_pipeline_barrier2(
            cmd,
            &vk::DependencyInfo::default().image_memory_barriers(&to_copy),
        );
        raw.cmd_copy_image_to_buffer(
            cmd,
            color.inner.image,
            L::TRANSFER_SRC_OPTIMAL,
            slot.readback.raw,
            &[copy],
        );
        raw.cmd_pipeline_barrier2(
            cmd,
            &vk::DependencyInfo::default().buffer_memory_barriers(&to_host),
        );
        raw.end_command_buffer(cmd)
            .map_err(|e| map_oom("ending the primary command buffer", e))?;
    }

    let cmd_infos = [vk::CommandBufferSubmitInfo::default().command_buffer(cmd)];
    let submit = vk::SubmitInfo2::default().command_buffer_infos(&cmd_infos);
    let queue = lock_queue(queue);
    debug_assert!(
        !slot.in_flight,
        "submit on a frame slot that was not waited"
    );
    // SAFETY: no pending submission uses the fence (caller contract: the slot was waited
    // since its last submit), so it may be reset; the queue is externally synchronised by its
    // mutex; `cmd` is executable. If the submit fails the fence stays unsignalled and
    // `in_flight` stays false, so nothing waits on it (`FrameSlotInner::wait_fence`).
    unsafe {
        raw.reset_fences(&[slot.fence])
            .map_err(|e| map_oom("resetting a frame fence", e))?;
        raw.queue_submit2(*queue, &[submit], slot.fence)
            .map_err(|e| map_oom_lost("submitting a frame", e))?;
    }
    // Only a successful submit will signal the fence.
    slot.in_flight = true;
    Ok(())
}

pub(super) fn read_back(
    device: &Device,
    slot: &mut FrameSlot,
    out: &mut Vec<u8>,
) -> Result<(), GraphicsError> {
    debug_assert!(Arc::ptr_eq(&device.shared, &slot.inner.shared));
    let slot = &mut slot.inner;
    slot.wait_fence()?;
    slot.readback.read(slot.readback_bytes as usize, out)
}

pub(super) fn upload_buffer(
    device: &Device,
    queue: &Queue,
    usage: BufferUsage,
    bytes: &[u8],
) -> Result<Buffer, GraphicsError> {
    let shared = &device.shared;
    let size = bytes.len() as u64;
    let mut staging = BufferInner::new(
        shared,
        size,
        vk::BufferUsageFlags::TRANSFER_SRC,
        Some(HostAccess::SequentialWrite),
        "allocating a staging buffer",
    )?;
    staging.write(bytes)?;
    let dst = BufferInner::new(
        shared,
        size,
        conv::map_buffer_usage(usage) | vk::BufferUsageFlags::TRANSFER_DST,
        None,
        "allocating a mesh buffer",
    )?;
    let mut pool = ThreadCommandPool::new(shared)?;
    let cmd = pool.next_buffer(vk::CommandBufferLevel::PRIMARY)?;
    let (stage, access) = conv::buffer_first_use(usage);
    let barrier = [vk::BufferMemoryBarrier2::default()
        .src_stage_mask(vk::PipelineStageFlags2::COPY)
        .src_access_mask(vk::AccessFlags2::TRANSFER_WRITE)
        .dst_stage_mask(stage)
        .dst_access_mask(access)
        .src_queue_family_index(vk::QUEUE_FAMILY_IGNORED)
        .dst_queue_family_index(vk::QUEUE_FAMILY_IGNORED)
        .buffer(dst.raw)
        .offset(0)
        .size(vk::WHOLE_SIZE)];
    let raw = &shared.raw;
    let begin =
        vk::CommandBufferBeginInfo::default().flags(vk::CommandBufferUsageFlags::ONE_TIME_SUBMIT);
    // SAFETY: `cmd` is a fresh buffer of a pool owned by this function; both buffers belong
    // to this device and are at least `size` bytes; the copy is followed by a barrier that
    // makes it visible to vertex/index input of later submissions.
    unsafe {
        raw.begin_command_buffer(cmd, &begin)
            .map_err(|e| map_oom("beginning an upload", e))?;
        raw.cmd_copy_buffer(
            cmd,
            staging.raw,
            dst.raw,
            &[vk::BufferCopy {
                src_offset: 0,
                dst_offset: 0,
                size: size.max(1),
            }],
        );
        raw.cmd_pipeline_barrier2(
            cmd,
            &vk::DependencyInfo::default().buffer_memory_barriers(&barrier),
        );
        raw.end_command_buffer(cmd)
            .map_err(|e| map_oom("ending an upload", e))?;
    }
    // SAFETY: valid create info on a live device.
    let fence = unsafe { raw.create_fence(&vk::FenceCreateInfo::default(), None) }
        .map_err(|e| map_oom("creating an upload fence", e))?;
    let cmd_infos = [vk::CommandBufferSubmitInfo::default().command_buffer(cmd)];
    let submit = vk::SubmitInfo2::default().command_buffer_infos(&cmd_infos);
    let result = {
        let queue = lock_queue(queue);
        // SAFETY: the queue is externally synchronised by its mutex; the fence is unsignalled.
        unsafe { raw.queue_submit2(*queue, &[submit], fence) }
            .map_err(|e| map_oom_lost("submitting an upload", e))
    };
    let waited = result.and_then(|()| {
        // SAFETY: the fence belongs to this device; waiting before the staging buffer, pool
        // and fence are destroyed.
        unsafe { raw.wait_for_fences(&[fence], true, u64::MAX) }
            .map_err(|e| map_oom_lost("waiting for an upload", e))
    });
    // SAFETY: the fence is no longer in use (waited, or the submit failed).
    unsafe { raw.destroy_fence(fence, None) };
    waited?;
    drop(pool);
    drop(staging);
    Ok(Buffer {
        inner: Arc::new(dst),
    })
}
