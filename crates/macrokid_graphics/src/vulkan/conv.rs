//! Pure conversions between HAL types and Vulkan types.
//!
//! The use tables ([`texture_use`], [`buffer_use`]) follow the Vulkan 1.3 specification,
//! §7.1.2 "Pipeline Stages", §7.1.3 "Access Types" and §12.4 "Image Layouts": each use names the
//! stages that touch the resource, the accesses it makes, and (for textures) its layout.

use ash::vk;

use crate::hal::{
    AddressMode, BlendFactor, BufferUsages, CompareFunction, DescriptorType, Face, FilterMode,
    LoadOp, ShaderStages, StoreOp, TextureUsages, VertexFormat, VertexStepMode,
};
use crate::{AdapterKind, BufferUse, TextureFormat, TextureUse};

/// Stage, access and layout of one texture use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct TextureUseInfo {
    pub(super) stages: vk::PipelineStageFlags2,
    pub(super) access: vk::AccessFlags2,
    pub(super) layout: vk::ImageLayout,
}

/// Stages a sampled or storage resource may be read or written in (graphics and compute).
const SHADER_STAGES: vk::PipelineStageFlags2 = vk::PipelineStageFlags2::from_raw(
    vk::PipelineStageFlags2::VERTEX_SHADER.as_raw()
        | vk::PipelineStageFlags2::FRAGMENT_SHADER.as_raw()
        | vk::PipelineStageFlags2::COMPUTE_SHADER.as_raw(),
);

/// The stages, accesses and layout of `usage` (Vulkan spec §7.1.2, §7.1.3, §12.4).
pub(super) fn texture_use(usage: TextureUse) -> TextureUseInfo {
    use vk::{AccessFlags2 as A, ImageLayout as L, PipelineStageFlags2 as S};
    let (stages, access, layout) = match usage {
        TextureUse::Undefined => (S::NONE, A::NONE, L::UNDEFINED),
        TextureUse::ColorAttachment => (
            S::COLOR_ATTACHMENT_OUTPUT,
            A::COLOR_ATTACHMENT_READ | A::COLOR_ATTACHMENT_WRITE,
            L::COLOR_ATTACHMENT_OPTIMAL,
        ),
        TextureUse::DepthStencilAttachment => (
            S::EARLY_FRAGMENT_TESTS | S::LATE_FRAGMENT_TESTS,
            A::DEPTH_STENCIL_ATTACHMENT_READ | A::DEPTH_STENCIL_ATTACHMENT_WRITE,
            L::DEPTH_STENCIL_ATTACHMENT_OPTIMAL,
        ),
        TextureUse::DepthStencilRead => (
            S::EARLY_FRAGMENT_TESTS | S::LATE_FRAGMENT_TESTS | SHADER_STAGES,
            A::DEPTH_STENCIL_ATTACHMENT_READ | A::SHADER_SAMPLED_READ,
            L::DEPTH_STENCIL_READ_ONLY_OPTIMAL,
        ),
        TextureUse::Sampled => (
            SHADER_STAGES,
            A::SHADER_SAMPLED_READ,
            L::SHADER_READ_ONLY_OPTIMAL,
        ),
        TextureUse::StorageRead => (SHADER_STAGES, A::SHADER_STORAGE_READ, L::GENERAL),
        TextureUse::StorageWrite => (
            SHADER_STAGES,
            A::SHADER_STORAGE_READ | A::SHADER_STORAGE_WRITE,
            L::GENERAL,
        ),
        TextureUse::TransferSrc => (S::ALL_TRANSFER, A::TRANSFER_READ, L::TRANSFER_SRC_OPTIMAL),
        TextureUse::TransferDst => (S::ALL_TRANSFER, A::TRANSFER_WRITE, L::TRANSFER_DST_OPTIMAL),
        // Presentation is ordered by the present semaphore; the barrier only transitions.
        TextureUse::Present => (S::NONE, A::NONE, L::PRESENT_SRC_KHR),
    };
    TextureUseInfo {
        stages,
        access,
        layout,
    }
}

/// The stages and accesses of `usage` (Vulkan spec §7.1.2, §7.1.3).
pub(super) fn buffer_use(usage: BufferUse) -> (vk::PipelineStageFlags2, vk::AccessFlags2) {
    use vk::{AccessFlags2 as A, PipelineStageFlags2 as S};
    match usage {
        BufferUse::Vertex => (S::VERTEX_ATTRIBUTE_INPUT, A::VERTEX_ATTRIBUTE_READ),
        BufferUse::Index => (S::INDEX_INPUT, A::INDEX_READ),
        BufferUse::Indirect => (S::DRAW_INDIRECT, A::INDIRECT_COMMAND_READ),
        BufferUse::Uniform => (SHADER_STAGES, A::UNIFORM_READ),
        BufferUse::StorageRead => (SHADER_STAGES, A::SHADER_STORAGE_READ),
        BufferUse::StorageWrite => (
            SHADER_STAGES,
            A::SHADER_STORAGE_READ | A::SHADER_STORAGE_WRITE,
        ),
        BufferUse::TransferSrc => (S::ALL_TRANSFER, A::TRANSFER_READ),
        BufferUse::TransferDst => (S::ALL_TRANSFER, A::TRANSFER_WRITE),
        BufferUse::HostRead => (S::HOST, A::HOST_READ),
    }
}

/// Source half of a barrier: a read use needs only an execution dependency (no access to make
/// available), a write use makes its writes available.
pub(super) fn src_access(write: bool, access: vk::AccessFlags2) -> vk::AccessFlags2 {
    if write {
        access
    } else {
        vk::AccessFlags2::NONE
    }
}

pub(super) fn map_device_type(t: vk::PhysicalDeviceType) -> AdapterKind {
    match t {
        vk::PhysicalDeviceType::DISCRETE_GPU => AdapterKind::Discrete,
        vk::PhysicalDeviceType::INTEGRATED_GPU => AdapterKind::Integrated,
        vk::PhysicalDeviceType::VIRTUAL_GPU => AdapterKind::Virtual,
        vk::PhysicalDeviceType::CPU => AdapterKind::Cpu,
        _ => AdapterKind::Other,
    }
}

pub(super) fn map_texture_format(f: TextureFormat) -> vk::Format {
    match f {
        TextureFormat::Rgba8Unorm => vk::Format::R8G8B8A8_UNORM,
        TextureFormat::Rgba8UnormSrgb => vk::Format::R8G8B8A8_SRGB,
        TextureFormat::Rgba16Float => vk::Format::R16G16B16A16_SFLOAT,
        TextureFormat::Bgra8Unorm => vk::Format::B8G8R8A8_UNORM,
        TextureFormat::Depth32Float => vk::Format::D32_SFLOAT,
    }
}

pub(super) fn aspect(f: TextureFormat) -> vk::ImageAspectFlags {
    if f.is_depth() {
        vk::ImageAspectFlags::DEPTH
    } else {
        vk::ImageAspectFlags::COLOR
    }
}

pub(super) fn subresource_range(format: TextureFormat) -> vk::ImageSubresourceRange {
    vk::ImageSubresourceRange {
        aspect_mask: aspect(format),
        base_mip_level: 0,
        level_count: 1,
        base_array_layer: 0,
        layer_count: 1,
    }
}

pub(super) fn map_texture_usage(u: TextureUsages) -> vk::ImageUsageFlags {
    let mut out = vk::ImageUsageFlags::empty();
    for (hal, raw) in [
        (
            TextureUsages::COLOR_ATTACHMENT,
            vk::ImageUsageFlags::COLOR_ATTACHMENT,
        ),
        (
            TextureUsages::DEPTH_ATTACHMENT,
            vk::ImageUsageFlags::DEPTH_STENCIL_ATTACHMENT,
        ),
        (TextureUsages::SAMPLED, vk::ImageUsageFlags::SAMPLED),
        (TextureUsages::STORAGE, vk::ImageUsageFlags::STORAGE),
        (TextureUsages::COPY_SRC, vk::ImageUsageFlags::TRANSFER_SRC),
        (TextureUsages::COPY_DST, vk::ImageUsageFlags::TRANSFER_DST),
    ] {
        if u.contains(hal) {
            out |= raw;
        }
    }
    out
}

pub(super) fn map_buffer_usage(u: BufferUsages) -> vk::BufferUsageFlags {
    let mut out = vk::BufferUsageFlags::empty();
    for (hal, raw) in [
        (BufferUsages::VERTEX, vk::BufferUsageFlags::VERTEX_BUFFER),
        (BufferUsages::INDEX, vk::BufferUsageFlags::INDEX_BUFFER),
        (BufferUsages::UNIFORM, vk::BufferUsageFlags::UNIFORM_BUFFER),
        (BufferUsages::STORAGE, vk::BufferUsageFlags::STORAGE_BUFFER),
        (
            BufferUsages::INDIRECT,
            vk::BufferUsageFlags::INDIRECT_BUFFER,
        ),
        (BufferUsages::COPY_SRC, vk::BufferUsageFlags::TRANSFER_SRC),
        (BufferUsages::COPY_DST, vk::BufferUsageFlags::TRANSFER_DST),
    ] {
        if u.contains(hal) {
            out |= raw;
        }
    }
    out
}

pub(super) fn map_shader_stages(s: ShaderStages) -> vk::ShaderStageFlags {
    let mut out = vk::ShaderStageFlags::empty();
    if s.contains(ShaderStages::VERTEX) {
        out |= vk::ShaderStageFlags::VERTEX;
    }
    if s.contains(ShaderStages::FRAGMENT) {
        out |= vk::ShaderStageFlags::FRAGMENT;
    }
    if s.contains(ShaderStages::COMPUTE) {
        out |= vk::ShaderStageFlags::COMPUTE;
    }
    out
}

pub(super) fn map_descriptor_type(t: DescriptorType) -> vk::DescriptorType {
    match t {
        DescriptorType::CombinedImageSampler => vk::DescriptorType::COMBINED_IMAGE_SAMPLER,
        DescriptorType::SampledTexture => vk::DescriptorType::SAMPLED_IMAGE,
        DescriptorType::Sampler => vk::DescriptorType::SAMPLER,
        DescriptorType::UniformBuffer => vk::DescriptorType::UNIFORM_BUFFER,
        DescriptorType::StorageBuffer => vk::DescriptorType::STORAGE_BUFFER,
    }
}

pub(super) fn map_filter(f: FilterMode) -> vk::Filter {
    match f {
        FilterMode::Nearest => vk::Filter::NEAREST,
        FilterMode::Linear => vk::Filter::LINEAR,
    }
}

pub(super) fn map_mipmap_filter(f: FilterMode) -> vk::SamplerMipmapMode {
    match f {
        FilterMode::Nearest => vk::SamplerMipmapMode::NEAREST,
        FilterMode::Linear => vk::SamplerMipmapMode::LINEAR,
    }
}

pub(super) fn map_address(a: AddressMode) -> vk::SamplerAddressMode {
    match a {
        AddressMode::Repeat => vk::SamplerAddressMode::REPEAT,
        AddressMode::MirrorRepeat => vk::SamplerAddressMode::MIRRORED_REPEAT,
        AddressMode::ClampToEdge => vk::SamplerAddressMode::CLAMP_TO_EDGE,
    }
}

pub(super) fn map_vertex_format(f: VertexFormat) -> vk::Format {
    match f {
        VertexFormat::Float32x2 => vk::Format::R32G32_SFLOAT,
        VertexFormat::Float32x3 => vk::Format::R32G32B32_SFLOAT,
        VertexFormat::Float32x4 => vk::Format::R32G32B32A32_SFLOAT,
    }
}

pub(super) fn map_step_mode(m: VertexStepMode) -> vk::VertexInputRate {
    match m {
        VertexStepMode::Vertex => vk::VertexInputRate::VERTEX,
        VertexStepMode::Instance => vk::VertexInputRate::INSTANCE,
    }
}

pub(super) fn map_cull(c: Option<Face>) -> vk::CullModeFlags {
    match c {
        None => vk::CullModeFlags::NONE,
        Some(Face::Front) => vk::CullModeFlags::FRONT,
        Some(Face::Back) => vk::CullModeFlags::BACK,
    }
}

pub(super) fn map_compare(c: CompareFunction) -> vk::CompareOp {
    match c {
        CompareFunction::Less => vk::CompareOp::LESS,
        CompareFunction::LessEqual => vk::CompareOp::LESS_OR_EQUAL,
        CompareFunction::Always => vk::CompareOp::ALWAYS,
    }
}

pub(super) fn map_blend_factor(f: BlendFactor) -> vk::BlendFactor {
    match f {
        BlendFactor::Zero => vk::BlendFactor::ZERO,
        BlendFactor::One => vk::BlendFactor::ONE,
        BlendFactor::SrcAlpha => vk::BlendFactor::SRC_ALPHA,
        BlendFactor::OneMinusSrcAlpha => vk::BlendFactor::ONE_MINUS_SRC_ALPHA,
    }
}

pub(super) fn map_load<V>(op: LoadOp<V>) -> vk::AttachmentLoadOp {
    match op {
        LoadOp::Clear(_) => vk::AttachmentLoadOp::CLEAR,
        LoadOp::Load => vk::AttachmentLoadOp::LOAD,
        LoadOp::DontCare => vk::AttachmentLoadOp::DONT_CARE,
    }
}

pub(super) fn map_store(op: StoreOp) -> vk::AttachmentStoreOp {
    match op {
        StoreOp::Store => vk::AttachmentStoreOp::STORE,
        StoreOp::DontCare => vk::AttachmentStoreOp::DONT_CARE,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_rank_discrete_first() {
        let mut kinds = [
            vk::PhysicalDeviceType::CPU,
            vk::PhysicalDeviceType::VIRTUAL_GPU,
            vk::PhysicalDeviceType::DISCRETE_GPU,
            vk::PhysicalDeviceType::INTEGRATED_GPU,
        ]
        .map(map_device_type);
        kinds.sort();
        assert_eq!(
            kinds,
            [
                AdapterKind::Discrete,
                AdapterKind::Integrated,
                AdapterKind::Virtual,
                AdapterKind::Cpu
            ]
        );
    }

    #[test]
    fn writes_have_access_and_reads_only_wait() {
        let color = texture_use(TextureUse::ColorAttachment);
        assert_eq!(color.layout, vk::ImageLayout::COLOR_ATTACHMENT_OPTIMAL);
        assert!(color
            .access
            .contains(vk::AccessFlags2::COLOR_ATTACHMENT_WRITE));
        let sampled = texture_use(TextureUse::Sampled);
        assert_eq!(sampled.layout, vk::ImageLayout::SHADER_READ_ONLY_OPTIMAL);
        assert!(sampled
            .stages
            .contains(vk::PipelineStageFlags2::FRAGMENT_SHADER));
        assert_eq!(
            src_access(TextureUse::Sampled.is_write(), sampled.access),
            vk::AccessFlags2::NONE
        );
        let undefined = texture_use(TextureUse::Undefined);
        assert_eq!(undefined.layout, vk::ImageLayout::UNDEFINED);
        let (stage, access) = buffer_use(BufferUse::Index);
        assert_eq!(stage, vk::PipelineStageFlags2::INDEX_INPUT);
        assert_eq!(access, vk::AccessFlags2::INDEX_READ);
    }
}
