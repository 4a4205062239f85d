//! Passes built on the HAL's building blocks: each owns its pipelines and records its draws
//! through [`CommandEncoder`](crate::hal::CommandEncoder) calls only.

mod mesh;
mod post;

pub use mesh::DescriptorPath;
pub(crate) use mesh::{
    push_constants as mesh_push_constants, BindlessSlot, MaterialBinding, MeshPass,
    PUSH_CONSTANT_BYTES as MESH_PUSH_CONSTANT_BYTES,
};
pub(crate) use post::PostPass;
