//! CPU-side triangle meshes: a unit cube and glTF 2.0 loading.

use std::path::Path;

use glam::Vec3;

use crate::scene::{Model, SceneError, Vertex};

/// Why a [`Mesh`] is malformed. (Loading a file reports [`SceneError`] instead.)
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MeshError {
    /// The index list is empty, not a multiple of 3, or refers past the last vertex.
    #[error("malformed mesh: {0}")]
    Malformed(String),
}

/// An indexed triangle list in model space.
///
/// - `vertices[i]` is vertex `i` ([`Vertex`]: position, unit normal, UV, linear colour).
///   Positions are in model units (the renderer does not assume metres); the coordinate
///   system is right-handed with +Y up (glTF's convention).
/// - `indices` holds `u32` vertex indices, three per triangle; front faces wind
///   counter-clockwise when seen from outside (glTF's convention).
///
/// On the GPU the vertices are the 48-byte [`Vertex`] layout ([`Mesh::vertex_bytes`]).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Mesh {
    /// The vertices.
    pub vertices: Vec<Vertex>,
    /// Triangle list indices into `vertices`; length is a multiple of 3.
    pub indices: Vec<u32>,
}

impl Mesh {
    /// The unit cube centred on the origin (corners at ±0.5): 24 vertices (4 per face, so each
    /// face has its own flat normal) and 36 indices, counter-clockwise from outside; vertex
    /// colours are white.
    ///
    /// Each face maps the whole texture, `uv` 0..1, with glTF's texture orientation (`uv =
    /// (0, 0)` is the image's top-left corner, u runs right along a row, v runs down), seen
    /// from outside the cube:
    /// - the four side faces (±X, ±Z) are upright: texture up is +Y, so texture right is
    ///   `+Y × normal` (−Z on +X, +X on +Z, +Z on −X, −X on −Z);
    /// - the top face (+Y) has texture up towards −Z and right towards +X, and the bottom face
    ///   (−Y) has up towards +Z and right towards +X: both read upright when the cube is
    ///   tipped to show them to a viewer in front of the +Z face, their edge shared with the
    ///   +Z face at the image's bottom (top face) or top (bottom face).
    pub fn cube() -> Mesh {
        // (normal, tangent a, tangent b) with a × b = normal so the winding is CCW from outside.
        // These fix the corner positions and the triangle order (and so the rendered images);
        // the UVs come from each face's texture directions below.
        let faces: [([f32; 3], [f32; 3], [f32; 3]); 6] = [
            ([1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]),
            ([-1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, 1.0, 0.0]),
            ([0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [1.0, 0.0, 0.0]),
            ([0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]),
            ([0.0, 0.0, 1.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]),
            ([0.0, 0.0, -1.0], [0.0, 1.0, 0.0], [1.0, 0.0, 0.0]),
        ];
        let mut mesh = Mesh::default();
        for (n, a, b) in faces {
            let (n, a, b) = (Vec3::from(n), Vec3::from(a), Vec3::from(b));
            debug_assert!(
                a.cross(b).abs_diff_eq(n, 1e-6),
                "cube face basis must be right-handed"
            );
            // Texture up and right on this face as seen from outside (right × up = normal).
            let up = if n.y == 0.0 { Vec3::Y } else { -n.y * Vec3::Z };
            let right = up.cross(n);
            let base = mesh.vertices.len() as u32;
            for (sa, sb) in [(-1.0f32, -1.0f32), (1.0, -1.0), (1.0, 1.0), (-1.0, 1.0)] {
                let position = 0.5 * (n + sa * a + sb * b);
                mesh.vertices.push(Vertex {
                    position: position.to_array(),
                    normal: n.to_array(),
                    // Texture rows run down, so v grows against `up`.
                    uv: [0.5 + position.dot(right), 0.5 - position.dot(up)],
                    color: [1.0; 4],
                });
            }
            mesh.indices
                .extend_from_slice(&[base, base + 1, base + 2, base, base + 2, base + 3]);
        }
        mesh
    }

    /// Number of vertices.
    pub fn vertex_count(&self) -> usize {
        self.vertices.len()
    }

    /// Number of triangles (`indices.len() / 3`).
    pub fn triangle_count(&self) -> usize {
        self.indices.len() / 3
    }

    /// Checks the index list: non-empty, a multiple of 3, and every index below the vertex
    /// count.
    ///
    /// # Errors
    /// [`MeshError::Malformed`] naming the first problem (which index, its value, the vertex
    /// count).
    pub fn validate(&self) -> Result<(), MeshError> {
        if self.indices.is_empty() || self.indices.len() % 3 != 0 {
            return Err(MeshError::Malformed(format!(
                "{} indices; a triangle list needs a non-zero multiple of 3",
                self.indices.len()
            )));
        }
        if let Some((i, &bad)) = self
            .indices
            .iter()
            .enumerate()
            .find(|(_, &ix)| ix as usize >= self.vertices.len())
        {
            return Err(MeshError::Malformed(format!(
                "index {i} is {bad} but there are only {} vertices",
                self.vertices.len()
            )));
        }
        Ok(())
    }

    /// The vertices as the GPU reads them: [`Vertex::SIZE`] (48) bytes per vertex, fields in
    /// declaration order, each `f32` in native byte order (the GPU shares the CPU's).
    pub fn vertex_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.vertices.len() * Vertex::SIZE);
        for v in &self.vertices {
            let floats = v
                .position
                .iter()
                .chain(&v.normal)
                .chain(&v.uv)
                .chain(&v.color);
            for f in floats {
                out.extend_from_slice(&f.to_ne_bytes());
            }
        }
        out
    }

    /// The indices as the GPU reads them: 4 bytes each, native byte order.
    pub fn index_bytes(&self) -> Vec<u8> {
        self.indices.iter().flat_map(|i| i.to_ne_bytes()).collect()
    }

    /// Axis-aligned bounds `(min, max)` of the positions, or `None` for an empty mesh.
    pub fn bounds(&self) -> Option<(Vec3, Vec3)> {
        let mut it = self.vertices.iter().map(|v| Vec3::from(v.position));
        let first = it.next()?;
        Some(it.fold((first, first), |(lo, hi), p| (lo.min(p), hi.max(p))))
    }

    /// Translates and uniformly scales the mesh so that its bounding box is centred on the
    /// origin and its largest side is 1 (it then fits the unit cube `[-0.5, 0.5]³`).
    /// Normals are unchanged (the scale is uniform). A mesh with zero extent is only centred.
    pub fn normalize_to_unit_cube(&mut self) {
        let Some((lo, hi)) = self.bounds() else {
            return;
        };
        let centre = (lo + hi) * 0.5;
        let extent = (hi - lo).max_element();
        let scale = if extent > 0.0 { 1.0 / extent } else { 1.0 };
        for v in &mut self.vertices {
            v.position = ((Vec3::from(v.position) - centre) * scale).to_array();
        }
    }

    /// Loads every triangle primitive of a glTF 2.0 file (`.gltf` with external or embedded
    /// buffers, or binary `.glb`) into one mesh: [`Model::load`], then
    /// [`Model::merged_mesh`], then [`Mesh::normalize_to_unit_cube`].
    ///
    /// - Node transforms (matrix or TRS, composed down the hierarchy) are applied to positions;
    ///   normals use the inverse-transpose and are renormalised; mirrored nodes (negative
    ///   determinant) get their triangle winding flipped so front faces stay CCW.
    /// - Normals come from the file when present; a primitive without them is flat-shaded
    ///   (glTF 2.0 §3.7.2.1): de-indexed into three vertices per triangle, each with the
    ///   triangle's face normal, so its vertex count is three times its triangle count.
    /// - UVs (the set chosen per primitive, [`Primitive::uv_set`](crate::scene::Primitive::uv_set))
    ///   and vertex colours (`COLOR_0`) are kept; materials and images are dropped (use
    ///   [`Model`] to keep them).
    /// - The result is centred on the origin with its largest side 1.
    ///
    /// # Errors
    /// As [`Model::load`].
    pub fn from_gltf(path: impl AsRef<Path>) -> Result<Mesh, SceneError> {
        let mut mesh = Model::load(path)?.merged_mesh();
        mesh.normalize_to_unit_cube();
        Ok(mesh)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cube_shape() {
        let cube = Mesh::cube();
        assert_eq!(cube.vertex_count(), 24);
        assert_eq!(cube.indices.len(), 36);
        cube.validate().unwrap();
        let (lo, hi) = cube.bounds().unwrap();
        assert_eq!(lo, Vec3::splat(-0.5));
        assert_eq!(hi, Vec3::splat(0.5));
        // Every triangle's geometric normal points along the stored flat normal (CCW outside).
        for tri in cube.indices.chunks_exact(3) {
            let p = tri
                .iter()
                .map(|&i| Vec3::from(cube.vertices[i as usize].position))
                .collect::<Vec<_>>();
            let face = (p[1] - p[0]).cross(p[2] - p[0]).normalize();
            let stored = Vec3::from(cube.vertices[tri[0] as usize].normal);
            assert!(face.abs_diff_eq(stored, 1e-6), "{face} vs {stored}");
        }
    }

    #[test]
    fn validate_rejects_bad_meshes() {
        let mut m = Mesh::cube();
        m.indices.push(0);
        assert!(matches!(m.validate(), Err(MeshError::Malformed(_))));
        let mut m = Mesh::cube();
        m.indices[5] = 99;
        assert!(m.validate().unwrap_err().to_string().contains("99"));
        let mut m = Mesh::cube();
        m.vertices.truncate(20);
        assert!(m
            .validate()
            .unwrap_err()
            .to_string()
            .contains("only 20 vertices"));
        assert!(Mesh::default().validate().is_err());
    }

    #[test]
    fn vertex_bytes_follow_the_vertex_layout() {
        let cube = Mesh::cube();
        let bytes = cube.vertex_bytes();
        assert_eq!(bytes.len(), 24 * Vertex::SIZE);
        let f = |vertex: usize, float: usize| {
            let at = vertex * Vertex::SIZE + float * 4;
            f32::from_ne_bytes(bytes[at..at + 4].try_into().unwrap())
        };
        let v = cube.vertices[5];
        assert_eq!([f(5, 0), f(5, 1), f(5, 2)], v.position);
        assert_eq!([f(5, 3), f(5, 4), f(5, 5)], v.normal);
        assert_eq!([f(5, 6), f(5, 7)], v.uv);
        assert_eq!([f(5, 8), f(5, 9), f(5, 10), f(5, 11)], v.color);
        assert_eq!(cube.index_bytes().len(), 36 * 4);
    }
}
