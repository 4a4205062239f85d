//! [`CommandEncoder`]: recording into command buffers of an encoder-owned pool; [`Queue`]:
//! submission with a timeline-semaphore signal.

use std::ops::Range;
use std::sync::Arc;

use ash::vk;

use super::device::DeviceShared;
use super::{
    conv, map_oom, map_oom_lost, Buffer, CommandBuffer, CommandEncoder, Fence, KeepAlive,
    PipelineLayout, Queue, RenderPipeline, Texture, Vulkan,
};
use crate::hal::{
    BufferBarrier, BufferCopy, BufferTextureCopy, DescriptorResource, DescriptorWrite, LoadOp,
    RenderTargetFormats, RenderingContents, RenderingDesc, ShaderStages, TextureBarrier,
};
use crate::DeviceError;

/// A command pool; destroyed when the encoder and every command buffer ended from it (kept
/// alive by pending submissions) are gone.
struct PoolInner {
    shared: Arc<DeviceShared>,
    raw: vk::CommandPool,
}

impl Drop for PoolInner {
    fn drop(&mut self) {
        // SAFETY: the pool was created here; its encoder is gone (no recording) and every
        // submission of its buffers completed (they hold this `Arc` through their fence).
        unsafe { self.shared.raw.destroy_command_pool(self.raw, None) };
    }
}

/// What a recording buffer has bound, so repeated binds are skipped.
#[derive(Default)]
struct Bound {
    pipeline: vk::Pipeline,
    vertex: [vk::Buffer; 4],
    index: vk::Buffer,
    /// Descriptor set bound as set 0 since the pipeline was last changed.
    set0: vk::DescriptorSet,
    /// The last push-constant update since the pipeline was last changed: layout, stages,
    /// offset and bytes. An identical update is skipped (push constants persist until
    /// overwritten, Vulkan spec §14.10 "Push Constants").
    push_constants: Option<(vk::PipelineLayout, vk::ShaderStageFlags, u32, Vec<u8>)>,
    /// Identity of the last push-descriptor write of set 0 since the pipeline or set 0 last
    /// changed (layout, then binding, element and raw handles per write); an identical push
    /// is skipped.
    pushed_set0: Vec<u64>,
}

struct Recording {
    raw: vk::CommandBuffer,
    keep_alive: Vec<KeepAlive>,
    bound: Bound,
}

impl Recording {
    /// Keeps `resources` alive until the command buffer's work is done (a copy's source and
    /// destination), and returns the command buffer to record into.
    fn keep_alive_until_done<const N: usize>(
        &mut self,
        resources: [KeepAlive; N],
    ) -> vk::CommandBuffer {
        self.keep_alive.extend(resources);
        self.raw
    }
}

pub(super) struct EncoderInner {
    shared: Arc<DeviceShared>,
    pool: Arc<PoolInner>,
    /// Allocated buffers by level (primary, secondary); `..used` are taken since the last reset.
    buffers: [Vec<vk::CommandBuffer>; 2],
    used: [usize; 2],
    recording: Option<Recording>,
}

pub(super) fn create_encoder(shared: &Arc<DeviceShared>) -> Result<CommandEncoder, DeviceError> {
    let info = vk::CommandPoolCreateInfo::default()
        .flags(vk::CommandPoolCreateFlags::TRANSIENT)
        .queue_family_index(shared.queue_family);
    // SAFETY: valid create info on a live device.
    let raw = unsafe { shared.raw.create_command_pool(&info, None) }
        .map_err(|e| map_oom("creating a command pool", e))?;
    Ok(CommandEncoder {
        inner: EncoderInner {
            shared: Arc::clone(shared),
            pool: Arc::new(PoolInner {
                shared: Arc::clone(shared),
                raw,
            }),
            buffers: [Vec::new(), Vec::new()],
            used: [0, 0],
            recording: None,
        },
    })
}

impl EncoderInner {
    fn next_buffer(&mut self, secondary: bool) -> Result<vk::CommandBuffer, DeviceError> {
        let i = usize::from(secondary);
        if self.used[i] == self.buffers[i].len() {
            let level = if secondary {
                vk::CommandBufferLevel::SECONDARY
            } else {
                vk::CommandBufferLevel::PRIMARY
            };
            let info = vk::CommandBufferAllocateInfo::default()
                .command_pool(self.pool.raw)
                .level(level)
                .command_buffer_count(1);
            // SAFETY: the pool is live and used only by this encoder (`&mut self`).
            let mut new = unsafe { self.shared.raw.allocate_command_buffers(&info) }
                .map_err(|e| map_oom("allocating a command buffer", e))?;
            self.buffers[i].append(&mut new);
        }
        self.used[i] += 1;
        Ok(self.buffers[i][self.used[i] - 1])
    }

    fn begin(
        &mut self,
        secondary: bool,
        inheritance: Option<&vk::CommandBufferInheritanceInfo<'_>>,
    ) -> Result<(), DeviceError> {
        debug_assert!(self.recording.is_none(), "begin on a recording encoder");
        let raw = self.next_buffer(secondary)?;
        let mut begin = vk::CommandBufferBeginInfo::default()
            .flags(vk::CommandBufferUsageFlags::ONE_TIME_SUBMIT);
        if let Some(inheritance) = inheritance {
            begin = begin
                .flags(
                    vk::CommandBufferUsageFlags::ONE_TIME_SUBMIT
                        | vk::CommandBufferUsageFlags::RENDER_PASS_CONTINUE,
                )
                .inheritance_info(inheritance);
        }
        // SAFETY: `raw` is in the initial state (fresh, or its pool was reset once the GPU
        // was done with it, by the `reset_all` contract) and used only by this encoder.
        unsafe { self.shared.raw.begin_command_buffer(raw, &begin) }
            .map_err(|e| map_oom("beginning a command buffer", e))?;
        self.recording = Some(Recording {
            raw,
            keep_alive: vec![Arc::clone(&self.pool) as KeepAlive],
            bound: Bound::default(),
        });
        Ok(())
    }

    #[inline]
    fn rec(&mut self) -> &mut Recording {
        self.recording
            .as_mut()
            .expect("a command was recorded on an encoder that is not recording")
    }
}

impl crate::hal::CommandEncoder<Vulkan> for CommandEncoder {
    unsafe fn begin_encoding(&mut self, _label: Option<&str>) -> Result<(), DeviceError> {
        self.inner.begin(false, None)
    }

    unsafe fn begin_secondary(
        &mut self,
        formats: &RenderTargetFormats<'_>,
    ) -> Result<(), DeviceError> {
        let colors: Vec<_> = formats
            .colors
            .iter()
            .map(|f| conv::map_texture_format(*f))
            .collect();
        let mut rendering = vk::CommandBufferInheritanceRenderingInfo::default()
            .color_attachment_formats(&colors)
            .rasterization_samples(vk::SampleCountFlags::TYPE_1);
        if let Some(depth) = formats.depth {
            rendering = rendering.depth_attachment_format(conv::map_texture_format(depth));
        }
        let inheritance = vk::CommandBufferInheritanceInfo::default().push_next(&mut rendering);
        self.inner.begin(true, Some(&inheritance))
    }

    unsafe fn end_encoding(&mut self) -> Result<CommandBuffer, DeviceError> {
        let rec = self
            .inner
            .recording
            .take()
            .expect("end_encoding on an encoder that is not recording");
        // SAFETY: the buffer is recording and owned by this encoder; rendering it began was
        // ended (caller contract).
        unsafe { self.inner.shared.raw.end_command_buffer(rec.raw) }
            .map_err(|e| map_oom("ending a command buffer", e))?;
        Ok(CommandBuffer {
            raw: rec.raw,
            keep_alive: rec.keep_alive,
        })
    }

    unsafe fn reset_all(&mut self) -> Result<(), DeviceError> {
        // A recording left unfinished (an error between begin and end) is discarded.
        self.inner.recording = None;
        // SAFETY: caller contract: no buffer of the pool is pending or will be submitted;
        // `&mut self` gives exclusive access to the pool.
        unsafe {
            self.inner
                .shared
                .raw
                .reset_command_pool(self.inner.pool.raw, vk::CommandPoolResetFlags::empty())
        }
        .map_err(|e| map_oom("resetting a command pool", e))?;
        self.inner.used = [0, 0];
        Ok(())
    }

    unsafe fn texture_barriers(&mut self, barriers: &[TextureBarrier<'_, Vulkan>]) {
        let raw: Vec<_> = barriers
            .iter()
            .map(|b| {
                let before = conv::texture_use(b.before);
                let after = conv::texture_use(b.after);
                vk::ImageMemoryBarrier2::default()
                    .src_stage_mask(before.stages)
                    .src_access_mask(conv::src_access(b.before.is_write(), before.access))
                    .dst_stage_mask(after.stages)
                    .dst_access_mask(after.access)
                    .old_layout(if b.discard {
                        vk::ImageLayout::UNDEFINED
                    } else {
                        before.layout
                    })
                    .new_layout(after.layout)
                    .src_queue_family_index(vk::QUEUE_FAMILY_IGNORED)
                    .dst_queue_family_index(vk::QUEUE_FAMILY_IGNORED)
                    .image(b.texture.inner.image)
                    .subresource_range(conv::subresource_range(b.texture.inner.format))
            })
            .collect();
        // A discarding barrier after a write may hand memory over from another image aliasing
        // it (a render-graph slot shared by transients): an image barrier's access scopes cover
        // only accesses through its own image (Vulkan spec, "Image Memory Barriers"), so the
        // previous occupant's writes are ordered by a global memory barrier as well (spec,
        // "Memory Aliasing").
        let handoff: Vec<_> = barriers
            .iter()
            .filter(|b| b.discard && b.before.is_write())
            .map(|b| {
                let before = conv::texture_use(b.before);
                let after = conv::texture_use(b.after);
                vk::MemoryBarrier2::default()
                    .src_stage_mask(before.stages)
                    .src_access_mask(before.access)
                    .dst_stage_mask(after.stages)
                    .dst_access_mask(after.access)
            })
            .collect();
        let rec = self.inner.rec();
        for b in barriers {
            rec.keep_alive
                .push(Arc::clone(&b.texture.inner) as KeepAlive);
        }
        let cmd = rec.raw;
        // SAFETY: recording outside rendering (caller contract); the images are live.
        unsafe {
            self.inner.shared.raw.cmd_pipeline_barrier2(
                cmd,
                &vk::DependencyInfo::default()
                    .memory_barriers(&handoff)
                    .image_memory_barriers(&raw),
            )
        };
    }

    unsafe fn buffer_barriers(&mut self, barriers: &[BufferBarrier<'_, Vulkan>]) {
        let raw: Vec<_> = barriers
            .iter()
            .map(|b| {
                let (src_stage, src_access) = conv::buffer_use(b.before);
                let (dst_stage, dst_access) = conv::buffer_use(b.after);
                vk::BufferMemoryBarrier2::default()
                    .src_stage_mask(src_stage)
                    .src_access_mask(conv::src_access(b.before.is_write(), src_access))
                    .dst_stage_mask(dst_stage)
                    .dst_access_mask(dst_access)
                    .src_queue_family_index(vk::QUEUE_FAMILY_IGNORED)
                    .dst_queue_family_index(vk::QUEUE_FAMILY_IGNORED)
                    .buffer(b.buffer.inner.raw)
                    .offset(0)
                    .size(vk::WHOLE_SIZE)
            })
            .collect();
        let rec = self.inner.rec();
        for b in barriers {
            rec.keep_alive
                .push(Arc::clone(&b.buffer.inner) as KeepAlive);
        }
        let cmd = rec.raw;
        // SAFETY: recording outside rendering (caller contract); the buffers are live.
        unsafe {
            self.inner.shared.raw.cmd_pipeline_barrier2(
                cmd,
                &vk::DependencyInfo::default().buffer_memory_barriers(&raw),
            )
        };
    }

    unsafe fn copy_buffer_to_buffer(&mut self, src: &Buffer, dst: &Buffer, regions: &[BufferCopy]) {
        let raw: Vec<_> = regions
            .iter()
            .map(|r| vk::BufferCopy {
                src_offset: r.src_offset,
                dst_offset: r.dst_offset,
                size: r.size,
            })
            .collect();
        let cmd = self.inner.rec().keep_alive_until_done([
            Arc::clone(&src.inner) as KeepAlive,
            Arc::clone(&dst.inner) as KeepAlive,
        ]);
        // SAFETY: recording outside rendering; buffers in transfer uses; regions in bounds
        // (caller contract).
        unsafe {
            self.inner
                .shared
                .raw
                .cmd_copy_buffer(cmd, src.inner.raw, dst.inner.raw, &raw)
        };
    }

    unsafe fn copy_buffer_to_texture(
        &mut self,
        src: &Buffer,
        dst: &Texture,
        regions: &[BufferTextureCopy],
    ) {
        let raw = image_copies(dst, regions);
        let cmd = self.inner.rec().keep_alive_until_done([
            Arc::clone(&src.inner) as KeepAlive,
            Arc::clone(&dst.inner) as KeepAlive,
        ]);
        // SAFETY: recording outside rendering; `src` in TransferSrc, `dst` in TransferDst
        // (hence TRANSFER_DST_OPTIMAL); regions in bounds (caller contract).
        unsafe {
            self.inner.shared.raw.cmd_copy_buffer_to_image(
                cmd,
                src.inner.raw,
                dst.inner.image,
                vk::ImageLayout::TRANSFER_DST_OPTIMAL,
                &raw,
            )
        };
    }

    unsafe fn copy_texture_to_buffer(
        &mut self,
        src: &Texture,
        dst: &Buffer,
        regions: &[BufferTextureCopy],
    ) {
        let raw = image_copies(src, regions);
        let cmd = self.inner.rec().keep_alive_until_done([
            Arc::clone(&src.inner) as KeepAlive,
            Arc::clone(&dst.inner) as KeepAlive,
        ]);
        // SAFETY: recording outside rendering; `src` in TransferSrc (TRANSFER_SRC_OPTIMAL),
        // `dst` in TransferDst; regions in bounds (caller contract).
        unsafe {
            self.inner.shared.raw.cmd_copy_image_to_buffer(
                cmd,
                src.inner.image,
                vk::ImageLayout::TRANSFER_SRC_OPTIMAL,
                dst.inner.raw,
                &raw,
            )
        };
    }

    unsafe fn blit_texture(&mut self, src: &Texture, dst: &Texture, size: (u32, u32)) {
        let corner = vk::Offset3D {
            x: i32::try_from(size.0).unwrap_or(i32::MAX),
            y: i32::try_from(size.1).unwrap_or(i32::MAX),
            z: 1,
        };
        let layers = |t: &Texture| vk::ImageSubresourceLayers {
            aspect_mask: conv::subresource_range(t.inner.format).aspect_mask,
            mip_level: 0,
            base_array_layer: 0,
            layer_count: 1,
        };
        let regions = [vk::ImageBlit2::default()
            .src_subresource(layers(src))
            .src_offsets([vk::Offset3D::default(), corner])
            .dst_subresource(layers(dst))
            .dst_offsets([vk::Offset3D::default(), corner])];
        let info = vk::BlitImageInfo2::default()
            .src_image(src.inner.image)
            .src_image_layout(vk::ImageLayout::TRANSFER_SRC_OPTIMAL)
            .dst_image(dst.inner.image)
            .dst_image_layout(vk::ImageLayout::TRANSFER_DST_OPTIMAL)
            .regions(&regions)
            .filter(vk::Filter::NEAREST);
        let cmd = self.inner.rec().keep_alive_until_done([
            Arc::clone(&src.inner) as KeepAlive,
            Arc::clone(&dst.inner) as KeepAlive,
        ]);
        // SAFETY: recording outside rendering; `src` in TransferSrc (TRANSFER_SRC_OPTIMAL),
        // `dst` in TransferDst (TRANSFER_DST_OPTIMAL), both at least `size` (caller contract);
        // `info` points to locals alive for the call.
        unsafe { self.inner.shared.raw.cmd_blit_image2(cmd, &info) };
    }

    unsafe fn begin_rendering(&mut self, desc: &RenderingDesc<'_, Vulkan>) {
        let colors: Vec<_> = desc
            .color_attachments
            .iter()
            .map(|a| {
                let mut info = vk::RenderingAttachmentInfo::default()
                    .image_view(a.view.inner.raw)
                    .image_layout(vk::ImageLayout::COLOR_ATTACHMENT_OPTIMAL)
                    .load_op(conv::map_load(a.load))
                    .store_op(conv::map_store(a.store));
                if let LoadOp::Clear(c) = a.load {
                    info = info.clear_value(vk::ClearValue {
                        color: vk::ClearColorValue { float32: c },
                    });
                }
                info
            })
            .collect();
        let depth = desc.depth_attachment.as_ref().map(|a| {
            let mut info = vk::RenderingAttachmentInfo::default()
                .image_view(a.view.inner.raw)
                .image_layout(vk::ImageLayout::DEPTH_STENCIL_ATTACHMENT_OPTIMAL)
                .load_op(conv::map_load(a.load))
                .store_op(conv::map_store(a.store));
            if let LoadOp::Clear(d) = a.load {
                info = info.clear_value(vk::ClearValue {
                    depth_stencil: vk::ClearDepthStencilValue {
                        depth: d,
                        stencil: 0,
                    },
                });
            }
            info
        });
        let flags = match desc.contents {
            RenderingContents::Inline => vk::RenderingFlags::empty(),
            RenderingContents::Secondaries => {
                vk::RenderingFlags::CONTENTS_SECONDARY_COMMAND_BUFFERS
            }
        };
        let mut info = vk::RenderingInfo::default()
            .flags(flags)
            .render_area(vk::Rect2D {
                offset: vk::Offset2D { x: 0, y: 0 },
                extent: vk::Extent2D {
                    width: desc.extent.0,
                    height: desc.extent.1,
                },
            })
            .layer_count(1)
            .color_attachments(&colors);
        if let Some(depth) = depth.as_ref() {
            info = info.depth_attachment(depth);
        }
        let rec = self.inner.rec();
        for a in desc.color_attachments {
            rec.keep_alive.push(Arc::clone(&a.view.inner) as KeepAlive);
        }
        if let Some(a) = &desc.depth_attachment {
            rec.keep_alive.push(Arc::clone(&a.view.inner) as KeepAlive);
        }
        let cmd = rec.raw;
        // SAFETY: recording a primary outside rendering, attachments in attachment layouts
        // and of the render area's size (caller contract); `info` points to locals.
        unsafe { self.inner.shared.raw.cmd_begin_rendering(cmd, &info) };
    }

    unsafe fn end_rendering(&mut self) {
        let cmd = self.inner.rec().raw;
        // SAFETY: inside rendering begun by this buffer (caller contract).
        unsafe { self.inner.shared.raw.cmd_end_rendering(cmd) };
    }

    unsafe fn execute_secondaries(&mut self, buffers: Vec<CommandBuffer>) {
        let raws: Vec<_> = buffers.iter().map(|b| b.raw).collect();
        let rec = self.inner.rec();
        let cmd = rec.raw;
        for b in buffers {
            rec.keep_alive.extend(b.keep_alive);
        }
        if raws.is_empty() {
            return;
        }
        // SAFETY: inside rendering with secondary contents; each secondary was begun with the
        // current formats and is executed once (caller contract).
        unsafe { self.inner.shared.raw.cmd_execute_commands(cmd, &raws) };
    }

    unsafe fn set_viewport(&mut self, rect: [f32; 4]) {
        let cmd = self.inner.rec().raw;
        let viewport = vk::Viewport {
            x: rect[0],
            y: rect[1],
            width: rect[2],
            height: rect[3],
            min_depth: 0.0,
            max_depth: 1.0,
        };
        let scissor = vk::Rect2D {
            offset: vk::Offset2D {
                x: rect[0] as i32,
                y: rect[1] as i32,
            },
            extent: vk::Extent2D {
                width: rect[2] as u32,
                height: rect[3] as u32,
            },
        };
        // SAFETY: recording (caller contract).
        unsafe {
            self.inner.shared.raw.cmd_set_viewport(cmd, 0, &[viewport]);
            self.inner.shared.raw.cmd_set_scissor(cmd, 0, &[scissor]);
        }
    }

    unsafe fn set_render_pipeline(&mut self, pipeline: &RenderPipeline) {
        let rec = self.inner.rec();
        if rec.bound.pipeline == pipeline.inner.raw {
            return;
        }
        rec.bound.pipeline = pipeline.inner.raw;
        // A pipeline of another layout may disturb set bindings and push constants: bind and
        // push again after a change.
        rec.bound.set0 = vk::DescriptorSet::null();
        rec.bound.push_constants = None;
        rec.bound.pushed_set0.clear();
        rec.keep_alive
            .push(Arc::clone(&pipeline.inner) as KeepAlive);
        let cmd = rec.raw;
        // SAFETY: inside rendering with matching formats (caller contract).
        unsafe {
            self.inner.shared.raw.cmd_bind_pipeline(
                cmd,
                vk::PipelineBindPoint::GRAPHICS,
                pipeline.inner.raw,
            )
        };
    }

    unsafe fn set_push_constants(
        &mut self,
        layout: &PipelineLayout,
        stages: ShaderStages,
        offset: u32,
        data: &[u8],
    ) {
        let stages = conv::map_shader_stages(stages);
        let rec = self.inner.rec();
        if let Some((l, s, o, bytes)) = &rec.bound.push_constants {
            if *l == layout.inner.raw && *s == stages && *o == offset && bytes == data {
                return;
            }
        }
        // Reuse the stored bytes' allocation.
        let mut bytes = rec
            .bound
            .push_constants
            .take()
            .map(|(.., b)| b)
            .unwrap_or_default();
        bytes.clear();
        bytes.extend_from_slice(data);
        rec.bound.push_constants = Some((layout.inner.raw, stages, offset, bytes));
        let cmd = rec.raw;
        // SAFETY: recording; the range lies in a push-constant range of the layout (caller
        // contract).
        unsafe {
            self.inner
                .shared
                .raw
                .cmd_push_constants(cmd, layout.inner.raw, stages, offset, data)
        };
    }

    unsafe fn push_descriptors(
        &mut self,
        layout: &PipelineLayout,
        set: u32,
        writes: &[DescriptorWrite<'_, Vulkan>],
    ) {
        let loader = self
            .inner
            .shared
            .push_descriptor
            .clone()
            .expect("push_descriptors on a device without VK_KHR_push_descriptor");
        let rec = self.inner.rec();
        if set == 0 {
            // Compared and stored in place: no allocation for a skipped (or repeated) push.
            let key = || push_descriptor_key(layout.inner.raw, writes);
            if rec.bound.pushed_set0.iter().copied().eq(key()) {
                return;
            }
            rec.bound.set0 = vk::DescriptorSet::null();
            rec.bound.pushed_set0.clear();
            rec.bound.pushed_set0.extend(key());
        }
        let prepared = prepare_writes(writes);
        let raw_writes = prepared.writes(writes);
        rec.keep_alive
            .extend(prepared.keep_per_write.iter().flatten().cloned());
        let cmd = rec.raw;
        // SAFETY: recording; the set layout of `set` was created for push descriptors and each
        // write matches its binding (caller contract); the infos point to `prepared`.
        unsafe {
            loader.cmd_push_descriptor_set(
                cmd,
                vk::PipelineBindPoint::GRAPHICS,
                layout.inner.raw,
                set,
                &raw_writes,
            )
        };
    }

    unsafe fn reset_queries(&mut self, set: &super::QuerySet, queries: Range<u32>) {
        let rec = self.inner.rec();
        rec.keep_alive.push(Arc::clone(&set.inner) as KeepAlive);
        let cmd = rec.raw;
        // SAFETY: recording outside rendering; no pending submission writes these queries
        // (caller contract).
        unsafe {
            self.inner.shared.raw.cmd_reset_query_pool(
                cmd,
                set.inner.raw,
                queries.start,
                queries.end - queries.start,
            )
        };
    }

    unsafe fn write_timestamp(&mut self, set: &super::QuerySet, index: u32) {
        let rec = self.inner.rec();
        rec.keep_alive.push(Arc::clone(&set.inner) as KeepAlive);
        let cmd = rec.raw;
        // SAFETY: recording; timestamps are supported and the query was reset (caller
        // contract). ALL_COMMANDS: the time when every earlier command completed.
        unsafe {
            self.inner.shared.raw.cmd_write_timestamp2(
                cmd,
                vk::PipelineStageFlags2::ALL_COMMANDS,
                set.inner.raw,
                index,
            )
        };
    }

    unsafe fn begin_debug_label(&mut self, name: &str) {
        let cmd = self.inner.rec().raw;
        let Some(debug) = &self.inner.shared.debug_utils else {
            return;
        };
        let Ok(name) = std::ffi::CString::new(name.replace('\0', " ")) else {
            return;
        };
        let label = vk::DebugUtilsLabelEXT::default().label_name(&name);
        // SAFETY: recording; the label outlives the call.
        unsafe { debug.cmd_begin_debug_utils_label(cmd, &label) };
    }

    unsafe fn end_debug_label(&mut self) {
        let cmd = self.inner.rec().raw;
        if let Some(debug) = &self.inner.shared.debug_utils {
            // SAFETY: recording with a label region open (caller contract).
            unsafe { debug.cmd_end_debug_utils_label(cmd) };
        }
    }

    unsafe fn bind_descriptor_set(
        &mut self,
        layout: &PipelineLayout,
        index: u32,
        descriptor_set: &super::DescriptorSet,
    ) {
        let rec = self.inner.rec();
        if index == 0 && rec.bound.set0 == descriptor_set.inner.raw {
            return;
        }
        if index == 0 {
            rec.bound.set0 = descriptor_set.inner.raw;
            rec.bound.pushed_set0.clear();
        }
        rec.keep_alive
            .push(Arc::clone(&descriptor_set.inner) as KeepAlive);
        let cmd = rec.raw;
        // SAFETY: recording; the set's layout is set `index` of `layout` (caller contract).
        unsafe {
            self.inner.shared.raw.cmd_bind_descriptor_sets(
                cmd,
                vk::PipelineBindPoint::GRAPHICS,
                layout.inner.raw,
                index,
                &[descriptor_set.inner.raw],
                &[],
            )
        };
    }

    unsafe fn set_vertex_buffer(&mut self, slot: u32, buffer: &Buffer, offset: u64) {
        let rec = self.inner.rec();
        let cached = (slot as usize) < rec.bound.vertex.len() && offset == 0;
        if cached && rec.bound.vertex[slot as usize] == buffer.inner.raw {
            return;
        }
        if (slot as usize) < rec.bound.vertex.len() {
            rec.bound.vertex[slot as usize] = if cached {
                buffer.inner.raw
            } else {
                vk::Buffer::null()
            };
        }
        rec.keep_alive.push(Arc::clone(&buffer.inner) as KeepAlive);
        let cmd = rec.raw;
        // SAFETY: recording; the buffer has VERTEX usage (caller contract).
        unsafe {
            self.inner
                .shared
                .raw
                .cmd_bind_vertex_buffers(cmd, slot, &[buffer.inner.raw], &[offset])
        };
    }

    unsafe fn set_index_buffer(&mut self, buffer: &Buffer, offset: u64) {
        let rec = self.inner.rec();
        if offset == 0 && rec.bound.index == buffer.inner.raw {
            return;
        }
        rec.bound.index = if offset == 0 {
            buffer.inner.raw
        } else {
            vk::Buffer::null()
        };
        rec.keep_alive.push(Arc::clone(&buffer.inner) as KeepAlive);
        let cmd = rec.raw;
        // SAFETY: recording; the buffer has INDEX usage (caller contract).
        unsafe {
            self.inner.shared.raw.cmd_bind_index_buffer(
                cmd,
                buffer.inner.raw,
                offset,
                vk::IndexType::UINT32,
            )
        };
    }

    #[inline]
    unsafe fn draw(&mut self, vertices: Range<u32>, instances: Range<u32>) {
        let cmd = self.inner.rec().raw;
        // SAFETY: inside rendering with pipeline and buffers bound (caller contract).
        unsafe {
            self.inner.shared.raw.cmd_draw(
                cmd,
                vertices.end - vertices.start,
                instances.end - instances.start,
                vertices.start,
                instances.start,
            )
        };
    }

    #[inline]
    unsafe fn draw_indexed(
        &mut self,
        indices: Range<u32>,
        base_vertex: i32,
        instances: Range<u32>,
    ) {
        let cmd = self.inner.rec().raw;
        // SAFETY: inside rendering with pipeline, vertex and index buffers bound (caller
        // contract).
        unsafe {
            self.inner.shared.raw.cmd_draw_indexed(
                cmd,
                indices.end - indices.start,
                instances.end - instances.start,
                indices.start,
                base_vertex,
                instances.start,
            )
        };
    }

    unsafe fn draw_indexed_indirect(
        &mut self,
        buffer: &Buffer,
        offset: u64,
        count: u32,
        stride: u32,
    ) {
        let rec = self.inner.rec();
        rec.keep_alive.push(Arc::clone(&buffer.inner) as KeepAlive);
        let cmd = rec.raw;
        // SAFETY: inside rendering with pipeline and buffers bound; the indirect buffer holds
        // `count` commands (caller contract).
        unsafe {
            self.inner.shared.raw.cmd_draw_indexed_indirect(
                cmd,
                buffer.inner.raw,
                offset,
                count,
                stride,
            )
        };
    }
}

fn image_copies(texture: &Texture, regions: &[BufferTextureCopy]) -> Vec<vk::BufferImageCopy> {
    regions
        .iter()
        .map(|r| vk::BufferImageCopy {
            buffer_offset: r.buffer_offset,
            buffer_row_length: 0,
            buffer_image_height: 0,
            image_subresource: vk::ImageSubresourceLayers {
                aspect_mask: conv::aspect(texture.inner.format),
                mip_level: 0,
                base_array_layer: 0,
                layer_count: 1,
            },
            image_offset: vk::Offset3D {
                x: r.origin.0 as i32,
                y: r.origin.1 as i32,
                z: 0,
            },
            image_extent: vk::Extent3D {
                width: r.size.0,
                height: r.size.1,
                depth: 1,
            },
        })
        .collect()
}

impl crate::hal::Queue<Vulkan> for Queue {
    unsafe fn submit(
        &self,
        command_buffers: Vec<CommandBuffer>,
        signal: (&Fence, u64),
    ) -> Result<(), DeviceError> {
        let (fence, value) = signal;
        let infos: Vec<_> = command_buffers
            .iter()
            .map(|b| vk::CommandBufferSubmitInfo::default().command_buffer(b.raw))
            .collect();
        let signals = [vk::SemaphoreSubmitInfo::default()
            .semaphore(fence.inner.raw)
            .value(value)
            .stage_mask(vk::PipelineStageFlags2::ALL_COMMANDS)];
        let submit = vk::SubmitInfo2::default()
            .command_buffer_infos(&infos)
            .signal_semaphore_infos(&signals);
        {
            let queue = self.shared.queue.lock().unwrap_or_else(|p| p.into_inner());
            // SAFETY: the queue is externally synchronised by its mutex; the buffers are
            // executable primaries of this device, submitted once; `value` exceeds every
            // earlier signal (caller contract).
            unsafe {
                self.shared
                    .raw
                    .queue_submit2(*queue, &[submit], vk::Fence::null())
            }
            .map_err(|e| map_oom_lost("submitting command buffers", e))?;
        }
        // Only now will `value` be signalled: keep what the buffers use until then.
        let keep: Vec<KeepAlive> = command_buffers
            .into_iter()
            .flat_map(|b| b.keep_alive)
            .collect();
        fence.inner.keep_until(value, keep);
        Ok(())
    }
}

/// Image and buffer infos of descriptor writes, and what each write references.
pub(super) struct PreparedWrites {
    images: Vec<vk::DescriptorImageInfo>,
    buffers: Vec<vk::DescriptorBufferInfo>,
    pub(super) keep_per_write: Vec<Vec<KeepAlive>>,
}

/// The identity of a push-descriptor update: the layout, then per write its binding, array
/// element, resource kind and raw handles. Two updates with equal keys write the same
/// descriptors. An iterator, so that comparing against the last key allocates nothing.
fn push_descriptor_key<'a>(
    layout: vk::PipelineLayout,
    writes: &'a [DescriptorWrite<'_, Vulkan>],
) -> impl Iterator<Item = u64> + 'a {
    use ash::vk::Handle as _;
    std::iter::once(layout.as_raw()).chain(writes.iter().flat_map(|w| {
        let resource = match &w.resource {
            DescriptorResource::CombinedImageSampler(view, sampler) => {
                [0, view.inner.raw.as_raw(), sampler.inner.raw.as_raw()]
            }
            DescriptorResource::SampledTexture(view) => [1, view.inner.raw.as_raw(), 0],
            DescriptorResource::Sampler(sampler) => [2, sampler.inner.raw.as_raw(), 0],
            DescriptorResource::UniformBuffer(b) => [3, b.inner.raw.as_raw(), 0],
            DescriptorResource::StorageBuffer(b) => [4, b.inner.raw.as_raw(), 0],
        };
        [u64::from(w.binding), u64::from(w.array_element)]
            .into_iter()
            .chain(resource)
    }))
}

pub(super) fn prepare_writes(writes: &[DescriptorWrite<'_, Vulkan>]) -> PreparedWrites {
    let mut p = PreparedWrites {
        images: Vec::new(),
        buffers: Vec::new(),
        keep_per_write: Vec::with_capacity(writes.len()),
    };
    for w in writes {
        let keep: Vec<KeepAlive> = match &w.resource {
            DescriptorResource::CombinedImageSampler(view, sampler) => {
                p.images.push(
                    vk::DescriptorImageInfo::default()
                        .image_view(view.inner.raw)
                        .sampler(sampler.inner.raw)
                        .image_layout(vk::ImageLayout::SHADER_READ_ONLY_OPTIMAL),
                );
                vec![
                    Arc::clone(&view.inner) as KeepAlive,
                    Arc::clone(&sampler.inner) as KeepAlive,
                ]
            }
            DescriptorResource::SampledTexture(view) => {
                p.images.push(
                    vk::DescriptorImageInfo::default()
                        .image_view(view.inner.raw)
                        .image_layout(vk::ImageLayout::SHADER_READ_ONLY_OPTIMAL),
                );
                vec![Arc::clone(&view.inner) as KeepAlive]
            }
            DescriptorResource::Sampler(sampler) => {
                p.images
                    .push(vk::DescriptorImageInfo::default().sampler(sampler.inner.raw));
                vec![Arc::clone(&sampler.inner) as KeepAlive]
            }
            DescriptorResource::UniformBuffer(b) | DescriptorResource::StorageBuffer(b) => {
                p.buffers.push(
                    vk::DescriptorBufferInfo::default()
                        .buffer(b.inner.raw)
                        .offset(0)
                        .range(vk::WHOLE_SIZE),
                );
                vec![Arc::clone(&b.inner) as KeepAlive]
            }
        };
        p.keep_per_write.push(keep);
    }
    p
}

impl PreparedWrites {
    /// The `VkWriteDescriptorSet`s (without `dst_set`) for `writes`, pointing into `self`.
    pub(super) fn writes<'a>(
        &'a self,
        writes: &[DescriptorWrite<'_, Vulkan>],
    ) -> Vec<vk::WriteDescriptorSet<'a>> {
        let (mut image, mut buffer) = (0, 0);
        writes
            .iter()
            .map(|w| {
                let base = vk::WriteDescriptorSet::default()
                    .dst_binding(w.binding)
                    .dst_array_element(w.array_element);
                let ty = match &w.resource {
                    DescriptorResource::CombinedImageSampler(..) => {
                        vk::DescriptorType::COMBINED_IMAGE_SAMPLER
                    }
                    DescriptorResource::SampledTexture(_) => vk::DescriptorType::SAMPLED_IMAGE,
                    DescriptorResource::Sampler(_) => vk::DescriptorType::SAMPLER,
                    DescriptorResource::UniformBuffer(_) => vk::DescriptorType::UNIFORM_BUFFER,
                    DescriptorResource::StorageBuffer(_) => vk::DescriptorType::STORAGE_BUFFER,
                };
                match &w.resource {
                    DescriptorResource::UniformBuffer(_) | DescriptorResource::StorageBuffer(_) => {
                        buffer += 1;
                        base.descriptor_type(ty)
                            .buffer_info(std::slice::from_ref(&self.buffers[buffer - 1]))
                    }
                    _ => {
                        image += 1;
                        base.descriptor_type(ty)
                            .image_info(std::slice::from_ref(&self.images[image - 1]))
                    }
                }
            })
            .collect()
    }
}
