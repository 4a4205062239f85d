//! Scene data on the CPU: the vertex format every mesh pass draws, meshes, materials and
//! textures loaded from glTF 2.0.

/// One vertex as the mesh passes read it: interleaved, 48 bytes, `#[repr(C)]`.
///
/// | offset | field | format |
/// |---|---|---|
/// | 0 | `position` | 3 × f32, model units |
/// | 12 | `normal` | 3 × f32, unit length |
/// | 24 | `uv` | 2 × f32, glTF `TEXCOORD_0` (origin top-left, as glTF §3.7.2.1) |
/// | 32 | `color` | 4 × f32, linear RGBA, glTF `COLOR_0` (white when absent) |
///
/// Shader locations 0–3 in that order (`shaders/mesh.vert`).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
#[repr(C)]
pub struct Vertex {
    /// Position in model units, right-handed, +Y up.
    pub position: [f32; 3],
    /// Unit normal.
    pub normal: [f32; 3],
    /// Texture coordinate set 0.
    pub uv: [f32; 2],
    /// Linear vertex colour, multiplied into the material's base colour.
    pub color: [f32; 4],
}

impl Vertex {
    /// Size of one vertex in bytes (the vertex buffer stride).
    pub const SIZE: usize = std::mem::size_of::<Vertex>();
}

const _: () = assert!(
    Vertex::SIZE == 48,
    "Vertex layout is part of the shader interface"
);
