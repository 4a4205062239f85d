//! [`Model`]: a glTF 2.0 file as primitives, materials, images and a draw list.

use std::collections::HashMap;
use std::path::Path;

use glam::{Mat3, Mat4, Vec3};
use gltf::accessor::Dimensions;
use gltf::mesh::Mode;
use gltf::Semantic;

use super::accessor::{Item, Source};
use super::files::{image_bytes, load_buffers};
use super::material::{AlphaMode, Material, Sampler, TextureRef};
use super::texture::{ColorSpace, Image};
use super::{SceneError, Vertex};
use crate::Mesh;

/// One triangle primitive of a glTF mesh, in the mesh's own (model) space.
#[derive(Debug, Clone, PartialEq)]
pub struct Primitive {
    /// Vertices and triangle-list indices (strips and fans are converted to lists). A
    /// primitive without `NORMAL` is flat-shaded: three vertices of its own per triangle.
    pub mesh: Mesh,
    /// The `TEXCOORD_n` set held in [`Vertex::uv`]: the set of the material's base-colour
    /// texture, else of its normal map, else 0 (see [`Model::load`]).
    pub uv_set: u32,
    /// Index into [`Model::materials`].
    pub material: usize,
    /// Index of the glTF mesh this primitive belongs to.
    pub source_mesh: usize,
    /// Index of the primitive within that glTF mesh.
    pub source_primitive: usize,
    /// The glTF mesh's name, if any.
    pub mesh_name: Option<String>,
}

/// One draw: a primitive placed in the model's space by the world transform of the node that
/// holds its mesh.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Draw {
    /// Index into [`Model::primitives`].
    pub primitive: usize,
    /// Index into [`Model::materials`]; always equal to that primitive's `material`, repeated
    /// here so that a renderer can sort draws by material without a lookup.
    pub material: usize,
    /// Column-major model matrix: the node's transform composed with its ancestors'
    /// (`parent × local`, glTF 2.0 "Transformations"), then any normalisation
    /// ([`Model::normalize_to_unit_cube`]).
    pub transform: Mat4,
    /// The glTF node that holds the mesh; `None` for files without scenes, whose meshes are
    /// drawn once each with the identity transform.
    pub node: Option<usize>,
}

impl Draw {
    /// Whether the transform mirrors (negative determinant): a renderer must then treat
    /// clockwise triangles as front faces (glTF 2.0 says a negative determinant reverses the
    /// winding), or flip the winding.
    pub fn is_mirrored(&self) -> bool {
        self.transform.determinant() < 0.0
    }
}

/// A glTF 2.0 model: every triangle primitive keeps its own material; nodes become draws.
///
/// The lists are in order of first use while walking the default scene depth-first (nodes
/// before their children, children in file order); each item records its index in the file.
/// Only what the draws need is loaded: the base-colour and normal-map images of the materials
/// that primitives use (metallic-roughness, occlusion and emissive images are not decoded).
///
/// Skinned meshes (`JOINTS_0`/`WEIGHTS_0`) are drawn in bind pose: joints, weights, skins and
/// animations are ignored, and the mesh is placed by its own node's transform (glTF 2.0
/// "Joint Hierarchy" has a skinned mesh follow its joints instead; without evaluating joints, the node transform
/// is what keeps Fox and RiggedSimple upright and in place). Morph targets, cameras and
/// lights are ignored too.
#[derive(Debug, Clone, PartialEq)]
pub struct Model {
    /// Triangle primitives, each in its mesh's space. A glTF mesh used by several nodes is
    /// loaded once and drawn several times.
    pub primitives: Vec<Primitive>,
    /// Materials used by the primitives (the glTF default material is added when a primitive
    /// has none).
    pub materials: Vec<Material>,
    /// Decoded images referenced by [`Model::materials`]; an image used both as colour and as
    /// data appears twice, once per [`ColorSpace`].
    pub images: Vec<Image>,
    /// What to draw, in scene order.
    pub draws: Vec<Draw>,
}

impl Model {
    /// Loads a glTF 2.0 file: `.gltf` (JSON with external or `data:` buffers and images) or
    /// binary `.glb`. Geometry comes from the default scene, else the first scene; a file
    /// without scenes draws each mesh once with the identity transform.
    ///
    /// Per primitive: `POSITION` (required; primitives without it, and points and lines, are
    /// skipped), `NORMAL` (as stored, which glTF requires to be unit length), one texture
    /// coordinate set, `COLOR_0` (`VEC3` or `VEC4`, float or normalised integers; white
    /// when absent), indices (`u8`/`u16`/`u32`, or `0..n` when absent). Triangle strips and
    /// fans become lists (glTF §3.7.2.1). Accessor ranges are checked against their buffers
    /// before reading, and every index against the vertex count.
    ///
    /// - Without `NORMAL`, the primitive gets flat normals, as glTF 2.0 §3.7.2.1 requires
    ///   ("client implementations MUST calculate flat normals"): after strip and fan
    ///   conversion it is de-indexed into three vertices per triangle (position, uv and colour
    ///   copied, normal the normalised cross product `(b − a) × (c − a)` of the
    ///   counter-clockwise triangle `a, b, c`, +Y for a triangle of zero area) with indices
    ///   `0..3 × triangles`.
    /// - [`Vertex::uv`] has room for one set: the `TEXCOORD_n` that the material's base-colour
    ///   texture samples (its `texCoord`), else the normal map's, else `TEXCOORD_0`; the
    ///   choice is [`Primitive::uv_set`]. A texture of the same material on another set cannot
    ///   be sampled correctly from the vertex. Without a texture the set is 0, and zeros when
    ///   the primitive has no `TEXCOORD_0`.
    ///
    /// # Errors
    /// A [`SceneError`] naming the file and the item: the file unreadable or not glTF, a
    /// missing or short buffer, a missing or undecodable image, an accessor out of range or of
    /// the wrong type, an index out of range, no triangles, a textured material on a primitive
    /// without the `TEXCOORD_n` set it samples (glTF 2.0 `textureInfo.texCoord`: the primitive
    /// MUST have it; [`SceneError::Invalid`]). A file that lists any extension in
    /// `extensionsRequired` (Draco, `KHR_mesh_quantization`, `KHR_texture_transform`…) is
    /// [`SceneError::Invalid`]: the `gltf` crate's validation rejects what it does not enable.
    pub fn load(path: impl AsRef<Path>) -> Result<Model, SceneError> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|source| SceneError::Unreadable {
            path: path.to_path_buf(),
            source,
        })?;
        let invalid = |e: gltf::Error| SceneError::Invalid {
            path: path.to_path_buf(),
            message: e.to_string(),
        };
        let gltf::Gltf { document, blob } =
            gltf::Gltf::from_slice_without_validation(&bytes).map_err(invalid)?;
        let root = document.into_json();
        check_what_gltf_would_panic_on(path, &root)?;
        let document = gltf::Document::from_json(root).map_err(invalid)?;
        let base = path
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let buffers = load_buffers(path, base, &document, blob)?;
        let mut loader = Loader {
            path,
            base,
            document: &document,
            buffers: &buffers,
            model: Model {
                primitives: Vec::new(),
                materials: Vec::new(),
                images: Vec::new(),
                draws: Vec::new(),
            },
            meshes: HashMap::new(),
            materials: HashMap::new(),
            images: HashMap::new(),
        };
        let scene = document
            .default_scene()
            .or_else(|| document.scenes().next());
        match scene {
            Some(scene) => loader.walk_scene(&scene)?,
            None => {
                for mesh in document.meshes() {
                    loader.add_draws(&mesh, Mat4::IDENTITY, None)?;
                }
            }
        }
        if loader.model.draws.is_empty() {
            return Err(SceneError::NoTriangles {
                path: path.to_path_buf(),
            });
        }
        Ok(loader.model)
    }

    /// Axis-aligned bounds `(min, max)` of every drawn vertex after its draw's transform, or
    /// `None` when nothing is drawn.
    ///
    /// # Panics
    /// When a draw names a primitive that is not in [`Model::primitives`] (a model edited by
    /// hand; [`Model::load`] never builds one).
    pub fn bounds(&self) -> Option<(Vec3, Vec3)> {
        let mut points = self.draws.iter().flat_map(|d| {
            self.primitives[d.primitive]
                .mesh
                .vertices
                .iter()
                .map(move |v| d.transform.transform_point3(Vec3::from(v.position)))
        });
        let first = points.next()?;
        Some(points.fold((first, first), |(lo, hi), p| (lo.min(p), hi.max(p))))
    }

    /// Prepends a translation and uniform scale to every draw so that the model's bounds
    /// ([`Model::bounds`]) are centred on the origin with the largest side 1 (the model fits
    /// `[-0.5, 0.5]³`). A model of zero extent is only centred.
    ///
    /// # Panics
    /// As [`Model::bounds`].
    pub fn normalize_to_unit_cube(&mut self) {
        let Some((lo, hi)) = self.bounds() else {
            return;
        };
        let extent = (hi - lo).max_element();
        let scale = if extent > 0.0 { 1.0 / extent } else { 1.0 };
        let fit = Mat4::from_scale(Vec3::splat(scale)) * Mat4::from_translation(-(lo + hi) * 0.5);
        for draw in &mut self.draws {
            draw.transform = fit * draw.transform;
        }
    }

    /// All draws merged into one mesh in the model's space: positions transformed by each
    /// draw's matrix, normals by its inverse-transpose (renormalised), the winding of mirrored
    /// draws flipped so that front faces stay counter-clockwise. UVs and vertex colours are
    /// kept; materials are dropped.
    ///
    /// # Panics
    /// As [`Model::bounds`].
    pub fn merged_mesh(&self) -> Mesh {
        let mut out = Mesh::default();
        for draw in &self.draws {
            let prim = &self.primitives[draw.primitive].mesh;
            let normal_matrix = Mat3::from_mat4(draw.transform).inverse().transpose();
            let base = out.vertices.len() as u32;
            out.vertices.extend(prim.vertices.iter().map(|v| {
                Vertex {
                    position: draw
                        .transform
                        .transform_point3(Vec3::from(v.position))
                        .to_array(),
                    normal: (normal_matrix * Vec3::from(v.normal))
                        .normalize_or(Vec3::Y)
                        .to_array(),
                    ..*v
                }
            }));
            let mirrored = draw.is_mirrored();
            for tri in prim.indices.chunks_exact(3) {
                let (a, b, c) = (tri[0] + base, tri[1] + base, tri[2] + base);
                if mirrored {
                    out.indices.extend_from_slice(&[a, c, b]);
                } else {
                    out.indices.extend_from_slice(&[a, b, c]);
                }
            }
        }
        out
    }
}

/// Checks what the `gltf` crate would panic on instead of reporting, before its validation
/// and accessors run (gltf 1.4):
/// - a mesh attribute naming a missing accessor (`json::mesh` indexes the accessor list
///   without a bounds check while validating `POSITION`'s min/max);
/// - an image with a `bufferView` but no `mimeType`, or with neither `uri` nor `bufferView`
///   (`Image::source` unwraps both; glTF 2.0's `image` schema requires them).
fn check_what_gltf_would_panic_on(path: &Path, root: &gltf::json::Root) -> Result<(), SceneError> {
    for (m, mesh) in root.meshes.iter().enumerate() {
        for (p, prim) in mesh.primitives.iter().enumerate() {
            for (semantic, index) in &prim.attributes {
                if index.value() >= root.accessors.len() {
                    let name = match semantic {
                        gltf::json::validation::Checked::Valid(s) => s.to_string(),
                        gltf::json::validation::Checked::Invalid => "?".to_string(),
                    };
                    return Err(SceneError::Invalid {
                        path: path.to_path_buf(),
                        message: format!(
                            "meshes[{m}].primitives[{p}].attributes.{name} is accessor {} but the file has {} accessors",
                            index.value(),
                            root.accessors.len()
                        ),
                    });
                }
            }
        }
    }
    for (i, image) in root.images.iter().enumerate() {
        let problem = match (&image.buffer_view, &image.uri, &image.mime_type) {
            (Some(_), _, None) => "has a bufferView but no mimeType",
            (None, None, _) => "has neither a uri nor a bufferView",
            _ => continue,
        };
        return Err(SceneError::Invalid {
            path: path.to_path_buf(),
            message: format!("images[{i}] {problem} (the glTF 2.0 `image` schema requires it)"),
        });
    }
    Ok(())
}

/// State while loading one file.
struct Loader<'a> {
    path: &'a Path,
    base: &'a Path,
    document: &'a gltf::Document,
    buffers: &'a [Vec<u8>],
    model: Model,
    /// glTF mesh index → the model primitives loaded from it.
    meshes: HashMap<usize, Vec<usize>>,
    /// glTF material index (`None`: the default material) → model material.
    materials: HashMap<Option<usize>, usize>,
    /// (glTF image index, colour space) → model image.
    images: HashMap<(usize, ColorSpace), usize>,
}

impl Loader<'_> {
    fn source(&self) -> Source<'_> {
        Source {
            path: self.path,
            buffers: self.buffers,
        }
    }

    /// Walks the scene's node trees depth-first without recursion. A node reached twice (a
    /// cycle, or a node with two parents, both forbidden by glTF 2.0 "Nodes and Hierarchy") is an error.
    fn walk_scene(&mut self, scene: &gltf::Scene<'_>) -> Result<(), SceneError> {
        let mut visited = vec![false; self.document.nodes().len()];
        let mut stack: Vec<(gltf::Node<'_>, Mat4)> =
            scene.nodes().map(|n| (n, Mat4::IDENTITY)).collect();
        stack.reverse();
        while let Some((node, parent)) = stack.pop() {
            if std::mem::replace(&mut visited[node.index()], true) {
                return Err(SceneError::Invalid {
                    path: self.path.to_path_buf(),
                    message: format!(
                        "node {} is reached twice from scene {} (a cycle, or a node with two parents)",
                        node.index(),
                        scene.index()
                    ),
                });
            }
            let world = parent * Mat4::from_cols_array_2d(&node.transform().matrix());
            if let Some(mesh) = node.mesh() {
                self.add_draws(&mesh, world, Some(node.index()))?;
            }
            let children: Vec<_> = node.children().collect();
            stack.extend(children.into_iter().rev().map(|c| (c, world)));
        }
        Ok(())
    }

    fn add_draws(
        &mut self,
        mesh: &gltf::Mesh<'_>,
        transform: Mat4,
        node: Option<usize>,
    ) -> Result<(), SceneError> {
        let primitives = match self.meshes.get(&mesh.index()) {
            Some(p) => p.clone(),
            None => {
                let loaded = self.load_mesh(mesh)?;
                self.meshes.insert(mesh.index(), loaded.clone());
                loaded
            }
        };
        for primitive in primitives {
            self.model.draws.push(Draw {
                primitive,
                material: self.model.primitives[primitive].material,
                transform,
                node,
            });
        }
        Ok(())
    }

    /// Loads the triangle primitives of a glTF mesh; returns their model indices.
    fn load_mesh(&mut self, mesh: &gltf::Mesh<'_>) -> Result<Vec<usize>, SceneError> {
        let mut loaded = Vec::new();
        for prim in mesh.primitives() {
            let name = mesh.name().map_or(String::new(), |n| format!(" {n:?}"));
            let what = format!("mesh {}{name} primitive {}", mesh.index(), prim.index());
            let uv_set = uv_set(&prim.material());
            let Some(vertex_mesh) = self.load_primitive(&prim, &what, uv_set)? else {
                continue;
            };
            let material = self.material(&prim.material())?;
            self.model.primitives.push(Primitive {
                mesh: vertex_mesh,
                uv_set: uv_set.map_or(0, |(set, _)| set),
                material,
                source_mesh: mesh.index(),
                source_primitive: prim.index(),
                mesh_name: mesh.name().map(str::to_string),
            });
            loaded.push(self.model.primitives.len() - 1);
        }
        Ok(loaded)
    }

    /// Reads one primitive, with `uv_set` (the set and the texture that needs it, from
    /// [`uv_set`]) in [`Vertex::uv`]; `None` for what is not drawn as triangles (points,
    /// lines, no `POSITION`, fewer than 3 vertices in a strip or fan).
    fn load_primitive(
        &self,
        prim: &gltf::Primitive<'_>,
        what: &str,
        uv_set: Option<(u32, &str)>,
    ) -> Result<Option<Mesh>, SceneError> {
        if !matches!(
            prim.mode(),
            Mode::Triangles | Mode::TriangleStrip | Mode::TriangleFan
        ) {
            return Ok(None);
        }
        let Some(positions) = prim.get(&Semantic::Positions) else {
            return Ok(None);
        };
        let src = self.source();
        let read = |accessor: &gltf::Accessor<'_>, semantic: &str, dims: &[Dimensions]| {
            let what = format!("{semantic} of {what}");
            let (values, n) = src.read_f32(
                Item {
                    accessor,
                    what: &what,
                },
                dims,
            )?;
            Ok::<_, SceneError>((values, n))
        };
        let (pos, _) = read(&positions, "POSITION", &[Dimensions::Vec3])?;
        let count = positions.count();
        let same_count = |accessor: &gltf::Accessor<'_>, semantic: &str| {
            if accessor.count() == count {
                Ok(())
            } else {
                Err(SceneError::AccessorType {
                    path: self.path.to_path_buf(),
                    accessor: accessor.index(),
                    item: format!("{semantic} of {what}"),
                    message: format!(
                        "has {} elements but POSITION has {count}; every attribute needs one per vertex",
                        accessor.count()
                    ),
                })
            }
        };
        let mut vertices: Vec<Vertex> = pos
            .chunks_exact(3)
            .map(|p| Vertex {
                position: [p[0], p[1], p[2]],
                normal: [0.0; 3],
                uv: [0.0; 2],
                color: [1.0; 4],
            })
            .collect();
        let normals = prim.get(&Semantic::Normals);
        if let Some(acc) = &normals {
            same_count(acc, "NORMAL")?;
            let (n, _) = read(acc, "NORMAL", &[Dimensions::Vec3])?;
            // Kept as stored: glTF requires unit normals (§3.7.2.1), and renormalising here
            // would change the last bit of shading against the renderer's golden images.
            for (v, n) in vertices.iter_mut().zip(n.chunks_exact(3)) {
                v.normal = [n[0], n[1], n[2]];
            }
        }
        let set = uv_set.map_or(0, |(set, _)| set);
        let semantic = format!("TEXCOORD_{set}");
        match (prim.get(&Semantic::TexCoords(set)), uv_set) {
            (Some(acc), _) => {
                same_count(&acc, &semantic)?;
                let (uv, _) = read(&acc, &semantic, &[Dimensions::Vec2])?;
                for (v, uv) in vertices.iter_mut().zip(uv.chunks_exact(2)) {
                    v.uv = [uv[0], uv[1]];
                }
            }
            (None, Some((_, texture))) => {
                let material = prim
                    .material()
                    .index()
                    .map_or(String::new(), |m| format!(" (material {m})"));
                return Err(SceneError::Invalid {
                    path: self.path.to_path_buf(),
                    message: format!(
                        "{what} has no {semantic} attribute but its {texture}{material} samples texture coordinate set {set}; a primitive must have the set its material's textures use (glTF 2.0 textureInfo.texCoord)"
                    ),
                });
            }
            (None, None) => {}
        }
        if let Some(acc) = prim.get(&Semantic::Colors(0)) {
            same_count(&acc, "COLOR_0")?;
            let (c, n) = read(&acc, "COLOR_0", &[Dimensions::Vec3, Dimensions::Vec4])?;
            for (v, c) in vertices.iter_mut().zip(c.chunks_exact(n)) {
                v.color = [c[0], c[1], c[2], if n == 4 { c[3] } else { 1.0 }];
            }
        }
        let indices = match prim.indices() {
            Some(accessor) => {
                let what = format!("indices of {what}");
                src.read_indices(Item {
                    accessor: &accessor,
                    what: &what,
                })?
            }
            None => (0..count as u32).collect(),
        };
        if let Some((i, &bad)) = indices
            .iter()
            .enumerate()
            .find(|(_, &ix)| ix as usize >= count)
        {
            return Err(SceneError::BadIndices {
                path: self.path.to_path_buf(),
                item: what.to_string(),
                message: format!("index {i} is {bad} but there are only {count} vertices"),
            });
        }
        let indices = match prim.mode() {
            Mode::TriangleStrip => strip_to_list(&indices),
            Mode::TriangleFan => fan_to_list(&indices),
            _ if indices.len() % 3 != 0 => {
                return Err(SceneError::BadIndices {
                    path: self.path.to_path_buf(),
                    item: what.to_string(),
                    message: format!(
                        "{} indices for a triangle list, not a multiple of 3",
                        indices.len()
                    ),
                })
            }
            _ => indices,
        };
        if indices.is_empty() {
            return Ok(None);
        }
        if normals.is_none() {
            return Ok(Some(flat_shaded(&vertices, &indices)));
        }
        Ok(Some(Mesh { vertices, indices }))
    }

    /// The model material for a glTF material, loading it (and its images) on first use.
    fn material(&mut self, m: &gltf::Material<'_>) -> Result<usize, SceneError> {
        if let Some(&i) = self.materials.get(&m.index()) {
            return Ok(i);
        }
        let material = match m.index() {
            None => Material::default(),
            Some(index) => {
                let pbr = m.pbr_metallic_roughness();
                let base_color_texture = match pbr.base_color_texture() {
                    Some(info) => Some(self.texture_ref(
                        &info.texture(),
                        info.tex_coord(),
                        ColorSpace::Srgb,
                    )?),
                    None => None,
                };
                let (normal_texture, normal_scale) = match m.normal_texture() {
                    Some(n) => (
                        Some(self.texture_ref(&n.texture(), n.tex_coord(), ColorSpace::Linear)?),
                        n.scale(),
                    ),
                    None => (None, 1.0),
                };
                Material {
                    name: m.name().map(str::to_string),
                    source_index: Some(index),
                    base_color_factor: pbr.base_color_factor(),
                    base_color_texture,
                    metallic_factor: pbr.metallic_factor(),
                    roughness_factor: pbr.roughness_factor(),
                    normal_texture,
                    normal_scale,
                    emissive_factor: m.emissive_factor(),
                    alpha_mode: match m.alpha_mode() {
                        gltf::material::AlphaMode::Opaque => AlphaMode::Opaque,
                        gltf::material::AlphaMode::Mask => AlphaMode::Mask {
                            cutoff: m.alpha_cutoff().unwrap_or(0.5),
                        },
                        gltf::material::AlphaMode::Blend => AlphaMode::Blend,
                    },
                    double_sided: m.double_sided(),
                }
            }
        };
        self.model.materials.push(material);
        let i = self.model.materials.len() - 1;
        self.materials.insert(m.index(), i);
        Ok(i)
    }

    fn texture_ref(
        &mut self,
        texture: &gltf::Texture<'_>,
        tex_coord: u32,
        color_space: ColorSpace,
    ) -> Result<TextureRef, SceneError> {
        let source = texture.source();
        let key = (source.index(), color_space);
        let image = match self.images.get(&key) {
            Some(&i) => i,
            None => {
                let encoded = image_bytes(self.path, self.base, self.buffers, &source)?;
                let decoded = Image::decode(self.path, &source, &encoded, color_space)?;
                self.model.images.push(decoded);
                let i = self.model.images.len() - 1;
                self.images.insert(key, i);
                i
            }
        };
        Ok(TextureRef {
            image,
            tex_coord,
            sampler: Sampler::from_gltf(&texture.sampler()),
        })
    }
}

/// A triangle strip as a list: triangle `i` is `(v[i], v[i+1+i%2], v[i+2-i%2])`, keeping every
/// triangle's winding (glTF 2.0 §3.7.2.1).
fn strip_to_list(strip: &[u32]) -> Vec<u32> {
    (0..strip.len().saturating_sub(2))
        .flat_map(|i| [strip[i], strip[i + 1 + i % 2], strip[i + 2 - i % 2]])
        .collect()
}

/// A triangle fan as a list: triangle `i` is `(v[i+1], v[i+2], v[0])` (glTF 2.0 §3.7.2.1).
fn fan_to_list(fan: &[u32]) -> Vec<u32> {
    (0..fan.len().saturating_sub(2))
        .flat_map(|i| [fan[i + 1], fan[i + 2], fan[0]])
        .collect()
}

/// The texture coordinate set a primitive with material `m` keeps in [`Vertex::uv`], and
/// which texture needs it: the base-colour texture's `texCoord`, else the normal map's;
/// `None` for a material without either (set 0, optional).
fn uv_set(m: &gltf::Material<'_>) -> Option<(u32, &'static str)> {
    if let Some(info) = m.pbr_metallic_roughness().base_color_texture() {
        Some((info.tex_coord(), "base-colour texture"))
    } else {
        m.normal_texture()
            .map(|info| (info.tex_coord(), "normal texture"))
    }
}

/// A counter-clockwise triangle list de-indexed with flat normals (glTF 2.0 §3.7.2.1 for
/// primitives without `NORMAL`): triangle `t` becomes vertices `3t..3t + 3`, copies of its
/// corners whose normal is the normalised `(b − a) × (c − a)` (+Y for zero area), and the
/// indices are `0..indices.len()`. Every index must be below `vertices.len()`.
fn flat_shaded(vertices: &[Vertex], indices: &[u32]) -> Mesh {
    let mut out = Vec::with_capacity(indices.len());
    for tri in indices.chunks_exact(3) {
        let [a, b, c] = [tri[0], tri[1], tri[2]].map(|i| vertices[i as usize]);
        let [pa, pb, pc] = [a, b, c].map(|v| Vec3::from(v.position));
        let normal = (pb - pa).cross(pc - pa).normalize_or(Vec3::Y).to_array();
        out.extend([a, b, c].map(|v| Vertex { normal, ..v }));
    }
    Mesh {
        indices: (0..out.len() as u32).collect(),
        vertices: out,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flat_shading_gives_each_triangle_its_own_vertices() {
        let vertex = |x: f32, y: f32, z: f32, uv: [f32; 2]| Vertex {
            position: [x, y, z],
            normal: [0.0; 3],
            uv,
            color: [x, y, z, 1.0],
        };
        // Two triangles sharing the edge 1–2: one in the XY plane, one folded up into +Z.
        let v = [
            vertex(0.0, 0.0, 0.0, [0.0, 0.0]),
            vertex(1.0, 0.0, 0.0, [1.0, 0.0]),
            vertex(0.0, 1.0, 0.0, [0.0, 1.0]),
            vertex(1.0, 1.0, 1.0, [1.0, 1.0]),
            vertex(9.0, 9.0, 9.0, [9.0, 9.0]), // unused
        ];
        let mesh = flat_shaded(&v, &[0, 1, 2, 2, 1, 3, 0, 0, 1]);
        assert_eq!(mesh.indices, (0..9).collect::<Vec<u32>>());
        let corners = [0, 1, 2, 2, 1, 3, 0, 0, 1];
        for (out, &i) in mesh.vertices.iter().zip(&corners) {
            let src = v[i];
            assert_eq!(
                (out.position, out.uv, out.color),
                (src.position, src.uv, src.color)
            );
        }
        assert!(mesh.vertices[..3]
            .iter()
            .all(|v| v.normal == [0.0, 0.0, 1.0]));
        // a, b, c = (0,1,0), (1,0,0), (1,1,1): (b − a) × (c − a) = (1,-1,0) × (1,0,1) = (-1,-1,1).
        let folded = Vec3::new(-1.0, -1.0, 1.0).normalize();
        assert!(mesh.vertices[3..6]
            .iter()
            .all(|v| Vec3::from(v.normal).abs_diff_eq(folded, 1e-6)));
        assert!(
            mesh.vertices[6..]
                .iter()
                .all(|v| v.normal == [0.0, 1.0, 0.0]),
            "zero area: +Y"
        );
    }

    #[test]
    fn strips_and_fans_keep_winding() {
        assert_eq!(strip_to_list(&[0, 1, 2, 3]), vec![0, 1, 2, 1, 3, 2]);
        assert_eq!(fan_to_list(&[0, 1, 2, 3]), vec![1, 2, 0, 2, 3, 0]);
        assert!(strip_to_list(&[0, 1]).is_empty());
        // Every triangle of a planar CCW strip faces +Z.
        let p = [Vec3::ZERO, Vec3::X, Vec3::Y, Vec3::new(1.0, 1.0, 0.0)];
        for tri in strip_to_list(&[0, 1, 2, 3]).chunks_exact(3) {
            let [a, b, c] = [tri[0], tri[1], tri[2]].map(|i| p[i as usize]);
            assert!((b - a).cross(c - a).z > 0.0, "{tri:?}");
        }
    }
}
