//! Pure conversions between macrokid types and Vulkan types.

use ash::vk;

use crate::{AdapterKind, BufferUsage, Camera, TextureFormat};

/// Bytes per mesh vertex: [`crate::scene::Vertex`] (the current pipeline reads its position
/// and normal; UV and colour follow them).
pub(super) const VERTEX_STRIDE: u32 = crate::scene::Vertex::SIZE as u32;
/// Bytes per instance: [`crate::InstanceData`].
pub(super) const INSTANCE_STRIDE: u32 = std::mem::size_of::<crate::InstanceData>() as u32;
/// Bytes of push constants: `mat4 view_proj; vec4 light_dir_ambient`.
pub(super) const PUSH_CONSTANT_BYTES: u32 = 80;

const _: () = assert!(
    INSTANCE_STRIDE == 80,
    "InstanceData must be 80 bytes, as mesh.vert reads it"
);

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
        TextureFormat::Depth32Float => vk::Format::D32_SFLOAT,
    }
}

pub(super) fn is_depth(f: TextureFormat) -> bool {
    matches!(f, TextureFormat::Depth32Float)
}

pub(super) fn aspect(f: TextureFormat) -> vk::ImageAspectFlags {
    if is_depth(f) {
        vk::ImageAspectFlags::DEPTH
    } else {
        vk::ImageAspectFlags::COLOR
    }
}

pub(super) fn attachment_usage(f: TextureFormat) -> vk::ImageUsageFlags {
    if is_depth(f) {
        vk::ImageUsageFlags::DEPTH_STENCIL_ATTACHMENT
    } else {
        vk::ImageUsageFlags::COLOR_ATTACHMENT | vk::ImageUsageFlags::TRANSFER_SRC
    }
}

pub(super) fn map_buffer_usage(u: BufferUsage) -> vk::BufferUsageFlags {
    match u {
        BufferUsage::Vertex => vk::BufferUsageFlags::VERTEX_BUFFER,
        BufferUsage::Index => vk::BufferUsageFlags::INDEX_BUFFER,
    }
}

/// Pipeline stage and access of the first use of a buffer of this usage.
pub(super) fn buffer_first_use(u: BufferUsage) -> (vk::PipelineStageFlags2, vk::AccessFlags2) {
    match u {
        BufferUsage::Vertex => (
            vk::PipelineStageFlags2::VERTEX_ATTRIBUTE_INPUT,
            vk::AccessFlags2::VERTEX_ATTRIBUTE_READ,
        ),
        BufferUsage::Index => (
            vk::PipelineStageFlags2::INDEX_INPUT,
            vk::AccessFlags2::INDEX_READ,
        ),
    }
}

/// The push-constant bytes of a camera (native endianness, as the GPU reads them).
pub(super) fn push_constants(camera: &Camera) -> [u8; PUSH_CONSTANT_BYTES as usize] {
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

/// Vertex bindings: 0 = per-vertex (position, normal), 1 = per-instance ([`crate::InstanceData`]).
pub(super) fn vertex_bindings() -> [vk::VertexInputBindingDescription; 2] {
    [
        vk::VertexInputBindingDescription {
            binding: 0,
            stride: VERTEX_STRIDE,
            input_rate: vk::VertexInputRate::VERTEX,
        },
        vk::VertexInputBindingDescription {
            binding: 1,
            stride: INSTANCE_STRIDE,
            input_rate: vk::VertexInputRate::INSTANCE,
        },
    ]
}

/// Vertex attributes matching `shaders/mesh.vert` locations 0..=6.
pub(super) fn vertex_attributes() -> [vk::VertexInputAttributeDescription; 7] {
    let attr = |location, binding, format, offset| vk::VertexInputAttributeDescription {
        location,
        binding,
        format,
        offset,
    };
    let vec3 = vk::Format::R32G32B32_SFLOAT;
    let vec4 = vk::Format::R32G32B32A32_SFLOAT;
    [
        attr(0, 0, vec3, 0),
        attr(1, 0, vec3, 12),
        attr(2, 1, vec4, 0),
        attr(3, 1, vec4, 16),
        attr(4, 1, vec4, 32),
        attr(5, 1, vec4, 48),
        attr(6, 1, vec4, 64),
    ]
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
}
