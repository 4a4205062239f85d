//! A raw-ash baseline for performance comparisons: the same frame as the renderer (same
//! pipeline, targets, barriers and read-back) but one primary command buffer with the draw
//! recorded inline on the calling thread, no secondaries, no frame bookkeeping, no validation.

use std::time::{Duration, Instant};

use ash::vk;

use super::command::{self, PassContents};
use super::{conv, Buffer, Device, FrameSlot, Instance, Pipeline, Queue, Texture, Vulkan};
use crate::backend::{InstanceDesc, PassTargets, RenderBackend};
use crate::{BufferUsage, Camera, GraphicsError, InstanceData, Mesh, TextureFormat};

/// The baseline renderer. Create it once, call [`RawAshBaseline::render`] per frame and
/// compare its time with the renderer's [`FrameTimings::total`](crate::FrameTimings::total).
pub struct RawAshBaseline {
    slot: FrameSlot,
    pipeline: Pipeline,
    color: Texture,
    depth: Texture,
    vertices: Buffer,
    indices: Buffer,
    index_count: u32,
    queue: Queue,
    device: Device,
    _instance: Instance,
    targets: PassTargets,
    clear: [f32; 4],
    image: Vec<u8>,
}

impl RawAshBaseline {
    /// Sets up a `width`×`height` target on the best adapter (validation off) with `mesh`
    /// uploaded.
    ///
    /// # Errors
    /// As [`Renderer::new`](crate::Renderer::new) and [`Mesh::validate`].
    pub fn new(
        width: u32,
        height: u32,
        mesh: &Mesh,
        clear: [f32; 4],
    ) -> Result<Self, GraphicsError> {
        mesh.validate()?;
        let instance = Vulkan::create_instance(&InstanceDesc {
            app_name: "macrokid raw baseline",
            validation: false,
        })?;
        let adapter = Vulkan::select_adapter(&instance, None)?;
        // SAFETY: `adapter` was selected from `instance` just above.
        let (device, queue) = unsafe { Vulkan::open_device(&instance, &adapter) }?;
        let targets = PassTargets {
            color: TextureFormat::Rgba8Unorm,
            depth: TextureFormat::Depth32Float,
            width,
            height,
        };
        let color = Vulkan::create_attachment(&device, targets.color, width, height)?;
        let depth = Vulkan::create_attachment(&device, targets.depth, width, height)?;
        let pipeline = Vulkan::create_mesh_pipeline(&device, &targets)?;
        let vertex_bytes = mesh.vertex_bytes();
        let index_bytes = mesh.index_bytes();
        // SAFETY: `queue` was opened together with `device`.
        let vertices =
            unsafe { Vulkan::upload_buffer(&device, &queue, BufferUsage::Vertex, &vertex_bytes) }?;
        // SAFETY: as above.
        let indices =
            unsafe { Vulkan::upload_buffer(&device, &queue, BufferUsage::Index, &index_bytes) }?;
        let slot = Vulkan::create_frame_slot(&device, u64::from(width) * u64::from(height) * 4)?;
        Ok(RawAshBaseline {
            slot,
            pipeline,
            color,
            depth,
            vertices,
            indices,
            index_count: mesh.indices.len() as u32,
            queue,
            device,
            _instance: instance,
            targets,
            clear,
            image: Vec::new(),
        })
    }

    /// Renders one frame of `instances` and reads it back; returns the wall time of the whole
    /// frame (upload, record, submit, GPU, read-back).
    ///
    /// # Errors
    /// Out-of-memory, device lost.
    pub fn render(
        &mut self,
        camera: &Camera,
        instances: &[InstanceData],
    ) -> Result<Duration, GraphicsError> {
        let start = Instant::now();
        command::wait_frame_slot(&self.device, &mut self.slot)?;
        // SAFETY: the slot belongs to this device and was waited just above; nothing was
        // recorded from it since.
        unsafe { Vulkan::write_instances(&self.device, &mut self.slot, instances) }?;
        let instance_buffer = self
            .slot
            .inner
            .instances
            .as_ref()
            .map(|b| b.raw)
            .expect("write_instances creates the instance buffer");
        let push = conv::push_constants(camera);
        let (w, h) = (self.targets.width, self.targets.height);
        let (pipeline, layout) = (self.pipeline.inner.raw, self.pipeline.inner.layout);
        let (vb, ib, index_count) = (self.vertices.raw(), self.indices.raw(), self.index_count);
        let count = instances.len() as u32;
        let record = move |raw: &ash::Device, cmd: vk::CommandBuffer| {
            let viewport = vk::Viewport {
                x: 0.0,
                y: 0.0,
                width: w as f32,
                height: h as f32,
                min_depth: 0.0,
                max_depth: 1.0,
            };
            let scissor = vk::Rect2D {
                offset: vk::Offset2D::default(),
                extent: vk::Extent2D {
                    width: w,
                    height: h,
                },
            };
            // SAFETY: called by `submit_with` inside the rendering scope of a recording primary
            // buffer; all handles belong to this device and live until the frame completes.
            unsafe {
                raw.cmd_bind_pipeline(cmd, vk::PipelineBindPoint::GRAPHICS, pipeline);
                raw.cmd_set_viewport(cmd, 0, &[viewport]);
                raw.cmd_set_scissor(cmd, 0, &[scissor]);
                raw.cmd_push_constants(
                    cmd,
                    layout,
                    vk::ShaderStageFlags::VERTEX | vk::ShaderStageFlags::FRAGMENT,
                    0,
                    &push,
                );
                raw.cmd_bind_vertex_buffers(cmd, 0, &[vb, instance_buffer], &[0, 0]);
                raw.cmd_bind_index_buffer(cmd, ib, 0, vk::IndexType::UINT32);
                if count > 0 {
                    raw.cmd_draw_indexed(cmd, index_count, count, 0, 0, 0);
                }
            }
        };
        command::submit_with(
            &self.device,
            &self.queue,
            &mut self.slot,
            &self.color,
            &self.depth,
            self.clear,
            PassContents::Inline(&record),
        )?;
        command::read_back(&self.device, &mut self.slot, &mut self.image)?;
        Ok(start.elapsed())
    }

    /// The last frame's RGBA8 pixels (rows top to bottom).
    pub fn image(&self) -> &[u8] {
        &self.image
    }
}

impl Drop for RawAshBaseline {
    fn drop(&mut self) {
        let _ = Vulkan::wait_idle(&self.device);
    }
}
