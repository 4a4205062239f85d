//! The post pass: a fullscreen triangle that reads the HDR geometry target and writes the
//! output image with exposure, ACES tone mapping and a vignette (`shaders/post.frag`).
#![expect(
    unsafe_code,
    reason = "records through the HAL's unsafe CommandEncoder functions and states their contracts"
)]

use crate::hal::{
    ColorTargetState, CommandEncoder as _, DescriptorBinding, DescriptorResource,
    DescriptorSetLayoutDesc, DescriptorType, DescriptorWrite, Device as _, FilterMode,
    PipelineLayoutDesc, ProgrammableStage, PushConstantRange, RenderBackend, RenderPipelineDesc,
    SamplerDesc, ShaderModuleDesc, ShaderStages,
};
use crate::{GraphicsError, PostProcess, TextureFormat};

/// `shaders/post.vert`, compiled by `cargo xtask shaders`.
static POST_VERT_SPV: &[u8] = include_bytes!("../../../../shaders/post.vert.spv");
/// `shaders/post.frag`, compiled by `cargo xtask shaders`.
static POST_FRAG_SPV: &[u8] = include_bytes!("../../../../shaders/post.frag.spv");

/// The post pipeline and the descriptor set that points at the HDR target.
pub(crate) struct PostPass<B: RenderBackend> {
    layout: B::PipelineLayout,
    pipeline: B::RenderPipeline,
    set: B::DescriptorSet,
    _set_layout: B::DescriptorSetLayout,
    _sampler: B::Sampler,
    push: [u8; 12],
}

impl<B: RenderBackend> PostPass<B> {
    /// Creates the pass reading `hdr` (a sampled view of the geometry target) and writing
    /// attachments of `output` format, `width × height` pixels.
    pub(crate) fn new(
        device: &B::Device,
        hdr: &B::TextureView,
        output: TextureFormat,
        size: (u32, u32),
        params: PostProcess,
        cache: Option<&B::PipelineCache>,
    ) -> Result<PostPass<B>, GraphicsError> {
        let vert = device.create_shader_module(&ShaderModuleDesc {
            label: "post.vert",
            spirv: POST_VERT_SPV,
        })?;
        let frag = device.create_shader_module(&ShaderModuleDesc {
            label: "post.frag",
            spirv: POST_FRAG_SPV,
        })?;
        let set_layout = device.create_descriptor_set_layout(&DescriptorSetLayoutDesc {
            label: "post input",
            bindings: &[DescriptorBinding {
                binding: 0,
                ty: DescriptorType::CombinedImageSampler,
                count: 1,
                stages: ShaderStages::FRAGMENT,
            }],
            push: false,
            bindless: false,
        })?;
        let layout = device.create_pipeline_layout(&PipelineLayoutDesc::<B> {
            label: "post",
            set_layouts: &[&set_layout],
            push_constant_ranges: &[PushConstantRange {
                stages: ShaderStages::FRAGMENT,
                range: 0..12,
            }],
        })?;
        let pipeline = device.create_render_pipeline(&RenderPipelineDesc::<B> {
            label: "post",
            layout: &layout,
            vertex: ProgrammableStage {
                module: &vert,
                entry_point: c"main",
            },
            fragment: ProgrammableStage {
                module: &frag,
                entry_point: c"main",
            },
            vertex_buffers: &[],
            cull_mode: None,
            depth: None,
            color_targets: &[ColorTargetState {
                format: output,
                blend: None,
            }],
            cache,
        })?;
        let sampler = device.create_sampler(&SamplerDesc {
            mag_filter: FilterMode::Nearest,
            min_filter: FilterMode::Nearest,
            mipmap_filter: FilterMode::Nearest,
            ..SamplerDesc::default()
        })?;
        let set = device.create_descriptor_set(&set_layout, "post input")?;
        // SAFETY: the set is new (no command buffer uses it); binding 0 is one combined image
        // sampler; the HDR target is moved to Sampled before every post draw (the frame graph's
        // barrier before the `post` pass).
        unsafe {
            device.write_descriptors(
                &set,
                &[DescriptorWrite {
                    binding: 0,
                    array_element: 0,
                    resource: DescriptorResource::CombinedImageSampler(hdr, &sampler),
                }],
            )
        };
        let mut push = [0u8; 12];
        let aspect = size.0 as f32 / size.1.max(1) as f32;
        for (chunk, f) in push
            .chunks_exact_mut(4)
            .zip([params.exposure, params.vignette, aspect])
        {
            chunk.copy_from_slice(&f.to_ne_bytes());
        }
        Ok(PostPass {
            layout,
            pipeline,
            set,
            _set_layout: set_layout,
            _sampler: sampler,
            push,
        })
    }

    /// Records the fullscreen draw.
    ///
    /// # Safety
    /// `encoder` records inside rendering into one colour attachment of the output format
    /// this pass was created for, the viewport covers it, and the HDR target is in
    /// [`TextureUse::Sampled`](crate::TextureUse) use.
    pub(crate) unsafe fn draw(&self, encoder: &mut B::CommandEncoder) {
        // SAFETY: caller contract (rendering state, formats, HDR target sampled-ready); the
        // set was written at creation and is never rewritten; 12 bytes is the layout's range.
        unsafe {
            encoder.set_render_pipeline(&self.pipeline);
            encoder.bind_descriptor_set(&self.layout, 0, &self.set);
            encoder.set_push_constants(&self.layout, ShaderStages::FRAGMENT, 0, &self.push);
            encoder.draw(0..3, 0..1);
        }
    }
}
