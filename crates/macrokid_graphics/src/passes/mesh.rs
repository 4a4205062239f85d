//! The instanced mesh pass: vertex buffer slot 0 holds [`Vertex`]es, slot 1 holds
//! [`InstanceData`]; push constants carry the camera (`shaders/mesh.vert`).
#![expect(
    unsafe_code,
    reason = "records through the HAL's unsafe CommandEncoder functions and states their contracts"
)]

use std::ops::Range;
use std::sync::{Arc, Mutex};

use crate::hal::{
    ColorTargetState, CommandEncoder as _, CompareFunction, DepthState, DescriptorBinding,
    DescriptorResource, DescriptorSetLayoutDesc, DescriptorType, DescriptorWrite, Device as _,
    Face, PipelineLayoutDesc, ProgrammableStage, PushConstantRange, RenderBackend,
    RenderPipelineDesc, ShaderModuleDesc, ShaderStages, VertexAttribute, VertexBufferLayout,
    VertexFormat, VertexStepMode,
};
use crate::scene::Vertex;
use crate::{Camera, GraphicsError, InstanceData, TextureFormat, UsageError};

/// `shaders/mesh.vert`, compiled by `cargo xtask shaders`.
static MESH_VERT_SPV: &[u8] = include_bytes!("../../../../shaders/mesh.vert.spv");
/// `shaders/mesh.frag` (push-descriptor path), compiled by `cargo xtask shaders`.
static MESH_FRAG_SPV: &[u8] = include_bytes!("../../../../shaders/mesh.frag.spv");
/// `shaders/mesh_bindless.frag` (bindless path), compiled by `cargo xtask shaders`.
static MESH_BINDLESS_FRAG_SPV: &[u8] = include_bytes!("../../../../shaders/mesh_bindless.frag.spv");

/// Elements of the bindless texture array: at most this many materials exist at once.
pub(crate) const BINDLESS_CAPACITY: u32 = 1024;

/// How the mesh pass binds material textures; chosen when the renderer starts
/// ([`RendererConfig::descriptors`](crate::RendererConfig::descriptors), overridden by
/// `MACROKID_DESCRIPTORS=push|bindless`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DescriptorPath {
    /// Each draw pushes its texture into the command buffer (`VK_KHR_push_descriptor`).
    Push,
    /// One descriptor set holds every material's texture in a runtime-sized array (descriptor
    /// indexing: partially bound, update after bind, non-uniform indexing); each draw pushes
    /// only the array index.
    Bindless,
}

/// An element of the bindless array held by a material; given back when the material goes
/// (after the timeline passed its last use, see the registry).
pub(crate) struct BindlessSlot {
    pub(crate) index: u32,
    free: Arc<Mutex<Vec<u32>>>,
}

impl Drop for BindlessSlot {
    fn drop(&mut self) {
        self.free
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(self.index);
    }
}

enum Binder<B: RenderBackend> {
    Push,
    Bindless {
        set: B::DescriptorSet,
        /// Elements given back by dropped materials, not yet released in the set.
        freed: Arc<Mutex<Vec<u32>>>,
        /// Released elements, reused last-freed first.
        free: Mutex<Vec<u32>>,
        /// Elements `..next` were handed out at some point.
        next: Mutex<u32>,
    },
}

/// Bytes of the camera's push constants: `mat4 view_proj; vec4 light_dir_ambient`.
pub(crate) const PUSH_CONSTANT_BYTES: u32 = 80;
/// Bytes of all push constants: the camera, then `vec4 base_color_factor`.
const ALL_PUSH_CONSTANT_BYTES: u32 = PUSH_CONSTANT_BYTES + 16;
/// Bytes per instance.
const INSTANCE_STRIDE: u32 = std::mem::size_of::<InstanceData>() as u32;

const _: () = assert!(
    INSTANCE_STRIDE == 80,
    "InstanceData must be 80 bytes, as mesh.vert reads it"
);

const VERTEX_ATTRIBUTES: [VertexAttribute; 4] = [
    VertexAttribute {
        location: 0,
        format: VertexFormat::Float32x3,
        offset: 0,
    },
    VertexAttribute {
        location: 1,
        format: VertexFormat::Float32x3,
        offset: 12,
    },
    VertexAttribute {
        location: 2,
        format: VertexFormat::Float32x2,
        offset: 24,
    },
    VertexAttribute {
        location: 3,
        format: VertexFormat::Float32x4,
        offset: 32,
    },
];

const fn column(location: u32, offset: u32) -> VertexAttribute {
    VertexAttribute {
        location,
        format: VertexFormat::Float32x4,
        offset,
    }
}

/// Model matrix columns (locations 4–7) and tint (location 8).
const INSTANCE_ATTRIBUTES: [VertexAttribute; 5] = [
    column(4, 0),
    column(5, 16),
    column(6, 32),
    column(7, 48),
    column(8, 64),
];

/// The push-constant bytes of a camera (native endianness, as the GPU reads them).
pub(crate) fn push_constants(camera: &Camera) -> [u8; PUSH_CONSTANT_BYTES as usize] {
    let mut out = [0u8; PUSH_CONSTANT_BYTES as usize];
    let floats = camera
        .view_proj
        .to_cols_array()
        .into_iter()
        .chain(camera.light_dir.to_array())
        .chain([camera.ambient]);
    for (chunk, f) in out.chunks_exact_mut(4).zip(floats) {
        chunk.copy_from_slice(&f.to_ne_bytes());
    }
    out
}

/// What a draw takes from its material: the base-colour texture with its sampler (in
/// [`TextureUse::Sampled`](crate::TextureUse) use), its bindless element, and the linear RGBA
/// factor.
pub(crate) struct MaterialBinding<'a, B: RenderBackend> {
    pub(crate) view: &'a B::TextureView,
    pub(crate) sampler: &'a B::Sampler,
    pub(crate) bindless_index: u32,
    pub(crate) base_color_factor: [f32; 4],
}

/// The mesh pipeline and its layout, for one pair of attachment formats.
pub(crate) struct MeshPass<B: RenderBackend> {
    layout: B::PipelineLayout,
    pipeline: B::RenderPipeline,
    binder: Binder<B>,
    _set_layout: B::DescriptorSetLayout,
}

impl<B: RenderBackend> MeshPass<B> {
    /// Creates the pipeline for `color` and `depth` attachments (depth test `LESS`, back-face
    /// culling, counter-clockwise front faces as in glTF).
    pub(crate) fn new(
        device: &B::Device,
        color: TextureFormat,
        depth: TextureFormat,
        cache: Option<&B::PipelineCache>,
        path: DescriptorPath,
    ) -> Result<MeshPass<B>, GraphicsError> {
        let bindless = path == DescriptorPath::Bindless;
        let vert = device.create_shader_module(&ShaderModuleDesc {
            label: "mesh.vert",
            spirv: MESH_VERT_SPV,
        })?;
        let frag = device.create_shader_module(&ShaderModuleDesc {
            label: if bindless {
                "mesh_bindless.frag"
            } else {
                "mesh.frag"
            },
            spirv: if bindless {
                MESH_BINDLESS_FRAG_SPV
            } else {
                MESH_FRAG_SPV
            },
        })?;
        let set_layout = device.create_descriptor_set_layout(&DescriptorSetLayoutDesc {
            label: "mesh material",
            bindings: &[DescriptorBinding {
                binding: 0,
                ty: DescriptorType::CombinedImageSampler,
                count: if bindless { BINDLESS_CAPACITY } else { 1 },
                stages: ShaderStages::FRAGMENT,
            }],
            push: !bindless,
            bindless,
        })?;
        let push_bytes = ALL_PUSH_CONSTANT_BYTES + if bindless { 4 } else { 0 };
        let layout = device.create_pipeline_layout(&PipelineLayoutDesc::<B> {
            label: "mesh",
            set_layouts: &[&set_layout],
            push_constant_ranges: &[PushConstantRange {
                stages: ShaderStages::VERTEX | ShaderStages::FRAGMENT,
                range: 0..push_bytes,
            }],
        })?;
        let binder = if bindless {
            Binder::Bindless {
                set: device.create_descriptor_set(&set_layout, "bindless textures")?,
                freed: Arc::new(Mutex::new(Vec::new())),
                free: Mutex::new(Vec::new()),
                next: Mutex::new(0),
            }
        } else {
            Binder::Push
        };
        let pipeline = device.create_render_pipeline(&RenderPipelineDesc::<B> {
            label: "mesh",
            layout: &layout,
            vertex: ProgrammableStage {
                module: &vert,
                entry_point: c"main",
            },
            fragment: ProgrammableStage {
                module: &frag,
                entry_point: c"main",
            },
            vertex_buffers: &[
                VertexBufferLayout {
                    stride: Vertex::SIZE as u32,
                    step_mode: VertexStepMode::Vertex,
                    attributes: &VERTEX_ATTRIBUTES,
                },
                VertexBufferLayout {
                    stride: INSTANCE_STRIDE,
                    step_mode: VertexStepMode::Instance,
                    attributes: &INSTANCE_ATTRIBUTES,
                },
            ],
            // glTF and `Mesh` wind front faces counter-clockwise; with a y-down projection
            // (see `Camera::view_proj`) they stay counter-clockwise in Vulkan's facing test.
            cull_mode: Some(Face::Back),
            depth: Some(DepthState {
                format: depth,
                write: true,
                compare: CompareFunction::Less,
            }),
            color_targets: &[ColorTargetState {
                format: color,
                blend: None,
            }],
            cache,
        })?;
        Ok(MeshPass {
            layout,
            pipeline,
            binder,
            _set_layout: set_layout,
        })
    }

    /// The descriptor path this pass was created for.
    pub(crate) fn path(&self) -> DescriptorPath {
        match self.binder {
            Binder::Push => DescriptorPath::Push,
            Binder::Bindless { .. } => DescriptorPath::Bindless,
        }
    }

    /// Gives a new material its element of the bindless array (writing its texture and
    /// sampler there); `None` on the push path.
    ///
    /// # Errors
    /// [`UsageError::TooManyMaterials`] when all [`BINDLESS_CAPACITY`] elements are held.
    pub(crate) fn register_material(
        &self,
        device: &B::Device,
        view: &B::TextureView,
        sampler: &B::Sampler,
    ) -> Result<Option<BindlessSlot>, GraphicsError> {
        let Binder::Bindless {
            set,
            freed,
            free,
            next,
        } = &self.binder
        else {
            return Ok(None);
        };
        let reused = free.lock().unwrap_or_else(|p| p.into_inner()).pop();
        let index = match reused {
            Some(i) => i,
            None => {
                let mut next = next.lock().unwrap_or_else(|p| p.into_inner());
                if *next == BINDLESS_CAPACITY {
                    return Err(UsageError::TooManyMaterials {
                        capacity: BINDLESS_CAPACITY,
                    }
                    .into());
                }
                *next += 1;
                *next - 1
            }
        };
        // SAFETY: the set's layout has one combined-image-sampler array of
        // `BINDLESS_CAPACITY` elements at binding 0 and `index` is below it; the element is
        // either new or was freed by a material the registry dropped after the timeline passed
        // every frame that could use it, so no pending command buffer uses it (the set itself
        // is update-after-bind); the texture was left in Sampled use by its upload.
        unsafe {
            device.write_descriptors(
                set,
                &[DescriptorWrite {
                    binding: 0,
                    array_element: index,
                    resource: DescriptorResource::CombinedImageSampler(view, sampler),
                }],
            )
        };
        Ok(Some(BindlessSlot {
            index,
            free: Arc::clone(freed),
        }))
    }

    /// Releases the bindless elements of dropped materials (their textures and samplers may
    /// then go) and makes them reusable. Call only when no pending command buffer can use
    /// them: materials are dropped by the registry once the timeline passed their last use.
    pub(crate) fn collect(&self, device: &B::Device) {
        let Binder::Bindless {
            set, freed, free, ..
        } = &self.binder
        else {
            return;
        };
        let released = std::mem::take(&mut *freed.lock().unwrap_or_else(|p| p.into_inner()));
        if released.is_empty() {
            return;
        }
        // SAFETY: each element was held by a material the registry dropped after the timeline
        // passed every submission made before the material was destroyed, and no frame can
        // draw a destroyed material, so no pending or future command buffer uses them until
        // `register_material` writes them again.
        unsafe { device.release_descriptors(set, 0, &released) };
        free.lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend(released);
    }

    /// Records one instanced draw of a mesh.
    ///
    /// # Safety
    /// `encoder` records inside rendering (or a secondary continuing it) into attachments of
    /// the formats this pass was created for, with viewport set; `vertices`/`indices` were
    /// created with vertex/index usage and are in [`BufferUse::Vertex`](crate::BufferUse) /
    /// [`BufferUse::Index`](crate::BufferUse) use; `index_count` indices lie in `indices` and
    /// reference vertices in `vertices`; `instance_range` lies within the
    /// [`InstanceData`] elements of `instances`; the device has push descriptors and the
    /// material's texture is in [`TextureUse::Sampled`](crate::TextureUse) use.
    #[allow(clippy::too_many_arguments)]
    pub(crate) unsafe fn draw(
        &self,
        encoder: &mut B::CommandEncoder,
        camera: &[u8; PUSH_CONSTANT_BYTES as usize],
        material: &MaterialBinding<'_, B>,
        vertices: &B::Buffer,
        indices: &B::Buffer,
        index_count: u32,
        instances: &B::Buffer,
        instance_range: Range<u32>,
    ) {
        let mut push = [0u8; ALL_PUSH_CONSTANT_BYTES as usize + 4];
        push[..PUSH_CONSTANT_BYTES as usize].copy_from_slice(camera);
        for (chunk, f) in push[PUSH_CONSTANT_BYTES as usize..ALL_PUSH_CONSTANT_BYTES as usize]
            .chunks_exact_mut(4)
            .zip(material.base_color_factor)
        {
            chunk.copy_from_slice(&f.to_ne_bytes());
        }
        push[ALL_PUSH_CONSTANT_BYTES as usize..]
            .copy_from_slice(&material.bindless_index.to_ne_bytes());
        let push = match self.binder {
            Binder::Push => &push[..ALL_PUSH_CONSTANT_BYTES as usize],
            Binder::Bindless { .. } => &push[..],
        };
        // SAFETY: the caller's contract covers every command's state requirement: inside
        // rendering with matching formats (pipeline), the push bytes are the layout's single
        // range (0..96 push path, 0..100 bindless); set 0 was created for push descriptors
        // with one combined image sampler at binding 0 (push path), or is the bindless set
        // whose element `bindless_index` was written when the material was registered (the
        // material is alive, so the element is its own); the texture is sampled-ready, buffers
        // have their usages and the draw ranges lie within them.
        unsafe {
            encoder.set_render_pipeline(&self.pipeline);
            encoder.set_push_constants(
                &self.layout,
                ShaderStages::VERTEX | ShaderStages::FRAGMENT,
                0,
                push,
            );
            match &self.binder {
                Binder::Push => encoder.push_descriptors(
                    &self.layout,
                    0,
                    &[DescriptorWrite {
                        binding: 0,
                        array_element: 0,
                        resource: DescriptorResource::CombinedImageSampler(
                            material.view,
                            material.sampler,
                        ),
                    }],
                ),
                Binder::Bindless { set, .. } => encoder.bind_descriptor_set(&self.layout, 0, set),
            }
            encoder.set_vertex_buffer(0, vertices, 0);
            encoder.set_vertex_buffer(1, instances, 0);
            encoder.set_index_buffer(indices, 0);
            encoder.draw_indexed(0..index_count, 0, instance_range);
        }
    }
}

impl<B: RenderBackend> std::fmt::Debug for MeshPass<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MeshPass").finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn push_constants_layout() {
        let cam = Camera {
            view_proj: glam::Mat4::from_cols_array(&std::array::from_fn(|i| i as f32)),
            light_dir: glam::Vec3::new(16.0, 17.0, 18.0),
            ambient: 19.0,
        };
        let bytes = push_constants(&cam);
        for (i, chunk) in bytes.chunks_exact(4).enumerate() {
            assert_eq!(f32::from_ne_bytes(chunk.try_into().unwrap()), i as f32);
        }
    }

    #[test]
    fn attributes_cover_the_vertex_and_instance_layouts() {
        assert_eq!(VERTEX_ATTRIBUTES[3].offset as usize + 16, Vertex::SIZE);
        assert_eq!(INSTANCE_ATTRIBUTES[4].offset + 16, INSTANCE_STRIDE);
    }
}
