//! Scene data on the CPU: the vertex format every mesh pass draws, meshes, materials and
//! textures loaded from glTF 2.0.
//!
//! [`Model::load`] reads a `.gltf` or `.glb` file into [`Primitive`]s (each a
//! [`Mesh`](crate::Mesh) of [`Vertex`]es in its mesh's space), [`Material`]s, decoded
//! [`Image`]s and a list of [`Draw`]s (primitive, material, world transform). It follows the
//! glTF 2.0 specification (Khronos, <https://registry.khronos.org/glTF/specs/2.0/glTF-2.0.html>);
//! section numbers in these docs refer to it. Every problem with a file is a [`SceneError`]
//! naming the file and the item; loading never panics on bad input.
//!
//! ```
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/assets/gltf");
//! # if !dir.join("BoxTextured.glb").is_file() { return Ok(()); }
//! use macrokid_graphics::scene::{ColorSpace, Model};
//!
//! let mut model = Model::load(dir.join("BoxTextured.glb"))?;
//! model.normalize_to_unit_cube();
//! for draw in &model.draws {
//!     let material = &model.materials[draw.material];
//!     let texture = material.base_color_texture.expect("BoxTextured has a texture");
//!     let image = &model.images[texture.image];
//!     assert_eq!(image.color_space, ColorSpace::Srgb);
//!     println!(
//!         "{} triangles, {}×{} texture, transform {}",
//!         model.primitives[draw.primitive].mesh.triangle_count(),
//!         image.width,
//!         image.height,
//!         draw.transform,
//!     );
//! }
//! # Ok(()) }
//! ```

mod accessor;
mod error;
mod files;
mod material;
mod model;
mod texture;

pub use error::SceneError;
pub use material::{AlphaMode, Filter, Material, Sampler, TextureRef, WrapMode};
pub use model::{Draw, Model, Primitive};
pub use texture::{ColorSpace, Image};

/// One vertex as the mesh passes read it: interleaved, 48 bytes, `#[repr(C)]`.
///
/// | offset | field | format |
/// |---|---|---|
/// | 0 | `position` | 3 × f32, model units |
/// | 12 | `normal` | 3 × f32, unit length |
/// | 24 | `uv` | 2 × f32, glTF `TEXCOORD_n` with n = [`Primitive::uv_set`] (origin top-left, as glTF §3.7.2.1) |
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
    /// Texture coordinates (glTF's origin: top-left of the image, v down); from a glTF file,
    /// the set [`Primitive::uv_set`].
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
