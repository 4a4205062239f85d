//! CPU-side triangle meshes: a unit cube and glTF 2.0 loading.

use std::path::{Path, PathBuf};

use glam::{Mat3, Mat4, Vec3};

/// Why a mesh could not be built or loaded. Every variant names the file (if any) and what to do.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MeshError {
    /// The file does not exist or cannot be read.
    #[error("cannot read glTF file {path}: {message}; check the path (relative paths are resolved from the current directory)")]
    Unreadable {
        /// The path that was opened.
        path: PathBuf,
        /// The I/O error.
        message: String,
    },
    /// The file is not glTF 2.0 / GLB or is corrupt (bad JSON, truncated binary, missing buffers).
    #[error("{path} is not a valid glTF 2.0 / GLB file: {message}; re-export it or check that its .bin buffers sit next to it")]
    Invalid {
        /// The path that was opened.
        path: PathBuf,
        /// What the parser reported.
        message: String,
    },
    /// The file parsed but holds no triangle geometry.
    #[error("{path} contains no triangle primitives with positions; export the mesh with triangulated faces")]
    NoTriangles {
        /// The path that was opened.
        path: PathBuf,
    },
    /// The arrays of a [`Mesh`] disagree (different lengths, index out of range, not a multiple of 3).
    #[error("malformed mesh: {0}")]
    Malformed(String),
}

/// An indexed triangle list in model space.
///
/// - `positions[i]` and `normals[i]` describe vertex `i`; both are `[x, y, z]` in `f32`.
///   Positions are in model units (the renderer does not assume metres); normals are unit
///   length. The coordinate system is right-handed with +Y up (glTF's convention).
/// - `indices` holds `u32` vertex indices, three per triangle; front faces wind
///   counter-clockwise when seen from outside (glTF's convention).
///
/// On the GPU the vertices are interleaved as `position, normal` (24 bytes per vertex).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Mesh {
    /// Vertex positions, model units.
    pub positions: Vec<[f32; 3]>,
    /// Unit vertex normals, same length as `positions`.
    pub normals: Vec<[f32; 3]>,
    /// Triangle list indices into `positions`; length is a multiple of 3.
    pub indices: Vec<u32>,
}

impl Mesh {
    /// The unit cube centred on the origin (corners at ±0.5): 24 vertices (4 per face, so each
    /// face has its own flat normal) and 36 indices, counter-clockwise from outside.
    pub fn cube() -> Mesh {
        // (normal, tangent u, tangent v) with u × v = normal so the winding is CCW from outside.
        let faces: [([f32; 3], [f32; 3], [f32; 3]); 6] = [
            ([1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]),
            ([-1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, 1.0, 0.0]),
            ([0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [1.0, 0.0, 0.0]),
            ([0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]),
            ([0.0, 0.0, 1.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]),
            ([0.0, 0.0, -1.0], [0.0, 1.0, 0.0], [1.0, 0.0, 0.0]),
        ];
        let mut mesh = Mesh::default();
        for (n, u, v) in faces {
            let (n, u, v) = (Vec3::from(n), Vec3::from(u), Vec3::from(v));
            debug_assert!(
                u.cross(v).abs_diff_eq(n, 1e-6),
                "cube face basis must be right-handed"
            );
            let base = mesh.positions.len() as u32;
            for (su, sv) in [(-1.0, -1.0), (1.0, -1.0), (1.0, 1.0), (-1.0, 1.0)] {
                mesh.positions
                    .push((0.5 * (n + su * u + sv * v)).to_array());
                mesh.normals.push(n.to_array());
            }
            mesh.indices
                .extend_from_slice(&[base, base + 1, base + 2, base, base + 2, base + 3]);
        }
        mesh
    }

    /// Number of vertices.
    pub fn vertex_count(&self) -> usize {
        self.positions.len()
    }

    /// Number of triangles (`indices.len() / 3`).
    pub fn triangle_count(&self) -> usize {
        self.indices.len() / 3
    }

    /// Checks that the arrays agree: as many normals as positions, a non-empty index list whose
    /// length is a multiple of 3, and every index below the vertex count.
    ///
    /// # Errors
    /// [`MeshError::Malformed`] naming the first problem.
    pub fn validate(&self) -> Result<(), MeshError> {
        if self.positions.len() != self.normals.len() {
            return Err(MeshError::Malformed(format!(
                "{} positions but {} normals; give one normal per position",
                self.positions.len(),
                self.normals.len()
            )));
        }
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
            .find(|(_, &ix)| ix as usize >= self.positions.len())
        {
            return Err(MeshError::Malformed(format!(
                "index {i} is {bad} but there are only {} vertices",
                self.positions.len()
            )));
        }
        Ok(())
    }

    /// Axis-aligned bounds `(min, max)` of the positions, or `None` for an empty mesh.
    pub fn bounds(&self) -> Option<(Vec3, Vec3)> {
        let mut it = self.positions.iter().map(|&p| Vec3::from(p));
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
        for p in &mut self.positions {
            *p = ((Vec3::from(*p) - centre) * scale).to_array();
        }
    }

    /// Loads every triangle primitive of a glTF 2.0 file (`.gltf` with external or embedded
    /// buffers, or binary `.glb`) into one mesh.
    ///
    /// - Geometry comes from the default scene (or the first scene); a file without scenes
    ///   contributes every mesh with an identity transform.
    /// - Node transforms (matrix or TRS, composed down the hierarchy) are applied to positions;
    ///   normals use the inverse-transpose and are renormalised; mirrored nodes (negative
    ///   determinant) get their triangle winding flipped so front faces stay CCW.
    /// - Normals come from the file when present, otherwise they are computed per vertex as the
    ///   area-weighted sum of the adjacent face normals of that primitive.
    /// - `u8`, `u16` and `u32` indices are accepted; non-indexed primitives use `0..n`.
    ///   Points, lines and strips are skipped.
    /// - The result is normalised with [`Mesh::normalize_to_unit_cube`]: centred on the origin,
    ///   largest side 1.
    ///
    /// Images and materials are not loaded.
    ///
    /// # Errors
    /// [`MeshError::Unreadable`] when the file cannot be read, [`MeshError::Invalid`] when it is
    /// not glTF or is corrupt, [`MeshError::NoTriangles`] when it holds no triangles.
    pub fn from_gltf(path: impl AsRef<Path>) -> Result<Mesh, MeshError> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|e| MeshError::Unreadable {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        let invalid = |e: gltf::Error| MeshError::Invalid {
            path: path.to_path_buf(),
            message: e.to_string(),
        };
        let gltf = gltf::Gltf::from_slice(&bytes).map_err(invalid)?;
        let base = path.parent().filter(|p| !p.as_os_str().is_empty());
        let buffers = gltf::import_buffers(
            &gltf.document,
            Some(base.unwrap_or(Path::new("."))),
            gltf.blob,
        )
        .map_err(invalid)?;

        let mut mesh = Mesh::default();
        let scene = gltf
            .document
            .default_scene()
            .or_else(|| gltf.document.scenes().next());
        match scene {
            Some(scene) => {
                for node in scene.nodes() {
                    append_node(&mut mesh, &node, Mat4::IDENTITY, &buffers);
                }
            }
            None => {
                for m in gltf.document.meshes() {
                    append_mesh(&mut mesh, &m, Mat4::IDENTITY, &buffers);
                }
            }
        }
        if mesh.indices.is_empty() {
            return Err(MeshError::NoTriangles {
                path: path.to_path_buf(),
            });
        }
        mesh.normalize_to_unit_cube();
        mesh.validate()?;
        Ok(mesh)
    }
}

fn append_node(
    out: &mut Mesh,
    node: &gltf::Node<'_>,
    parent: Mat4,
    buffers: &[gltf::buffer::Data],
) {
    let world = parent * Mat4::from_cols_array_2d(&node.transform().matrix());
    if let Some(m) = node.mesh() {
        append_mesh(out, &m, world, buffers);
    }
    for child in node.children() {
        append_node(out, &child, world, buffers);
    }
}

fn append_mesh(out: &mut Mesh, mesh: &gltf::Mesh<'_>, world: Mat4, buffers: &[gltf::buffer::Data]) {
    let normal_matrix = Mat3::from_mat4(world).inverse().transpose();
    let mirrored = world.determinant() < 0.0;
    for prim in mesh.primitives() {
        if prim.mode() != gltf::mesh::Mode::Triangles {
            continue;
        }
        let reader = prim.reader(|b| buffers.get(b.index()).map(|d| d.0.as_slice()));
        let Some(positions) = reader.read_positions() else {
            continue;
        };
        let positions: Vec<Vec3> = positions.map(Vec3::from).collect();
        let n = positions.len() as u32;
        let mut indices: Vec<u32> = match reader.read_indices() {
            Some(ix) => ix.into_u32().collect(),
            None => (0..n).collect(),
        };
        indices.truncate(indices.len() - indices.len() % 3);
        if indices.iter().any(|&i| i >= n) || indices.is_empty() {
            continue;
        }
        let normals: Vec<Vec3> = match reader.read_normals() {
            Some(ns) if ns.len() == positions.len() => ns.map(Vec3::from).collect(),
            _ => computed_normals(&positions, &indices),
        };
        let base = out.positions.len() as u32;
        for (p, nrm) in positions.iter().zip(&normals) {
            out.positions.push(world.transform_point3(*p).to_array());
            out.normals
                .push((normal_matrix * *nrm).normalize_or(Vec3::Y).to_array());
        }
        for tri in indices.chunks_exact(3) {
            let (a, b, c) = (tri[0] + base, tri[1] + base, tri[2] + base);
            if mirrored {
                out.indices.extend_from_slice(&[a, c, b]);
            } else {
                out.indices.extend_from_slice(&[a, b, c]);
            }
        }
    }
}

/// Area-weighted vertex normals of a CCW triangle list.
fn computed_normals(positions: &[Vec3], indices: &[u32]) -> Vec<Vec3> {
    let mut normals = vec![Vec3::ZERO; positions.len()];
    for tri in indices.chunks_exact(3) {
        let [a, b, c] = [tri[0], tri[1], tri[2]].map(|i| i as usize);
        let face = (positions[b] - positions[a]).cross(positions[c] - positions[a]);
        for i in [a, b, c] {
            normals[i] += face;
        }
    }
    normals
        .into_iter()
        .map(|n| n.normalize_or(Vec3::Y))
        .collect()
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
                .map(|&i| Vec3::from(cube.positions[i as usize]))
                .collect::<Vec<_>>();
            let face = (p[1] - p[0]).cross(p[2] - p[0]).normalize();
            let stored = Vec3::from(cube.normals[tri[0] as usize]);
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
        m.normals.pop();
        assert!(m.validate().is_err());
    }

    #[test]
    fn computed_normals_match_faces() {
        let p = [Vec3::ZERO, Vec3::X, Vec3::Y];
        let n = computed_normals(&p, &[0, 1, 2]);
        assert!(n.iter().all(|n| n.abs_diff_eq(Vec3::Z, 1e-6)));
    }
}
