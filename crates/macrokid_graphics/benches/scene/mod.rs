//! The benchmark scene, shared by the offscreen (`renderer_vs_raw_ash`) and window
//! (`window_vs_raw_ash`) benches: a unit cube with per-face UVs and white vertex colour,
//! textured with a 64×64 sRGB checkerboard, 10,000 instances on a 100×100 grid with varied
//! tints, camera at (0, 40, 70) looking at the origin, for `WIDTH × HEIGHT` (1280×720).

use glam::{Mat4, Quat, Vec3};
use macrokid_graphics::scene::Vertex;
use macrokid_graphics::{
    Camera, DescriptorPath, GraphicsError, InstanceData, MaterialDesc, MaterialHandle, Mesh,
    MeshHandle, RenderBackend, Renderer, RendererConfig, TextureFormat,
};

use crate::raw_ash::{SceneDesc, PUSH_CONSTANT_BYTES};

/// Target width in pixels.
pub(crate) const WIDTH: u32 = 1280;
/// Target height in pixels.
pub(crate) const HEIGHT: u32 = 720;
/// Cubes drawn.
pub(crate) const INSTANCES: u32 = 10_000;
/// Side of the checkerboard texture.
pub(crate) const TEXTURE_SIZE: u32 = 64;

/// The scene's CPU data, shared by both sides.
pub(crate) struct Scene {
    /// The cube's vertices.
    pub(crate) vertices: Vec<Vertex>,
    /// The cube's triangle-list indices.
    pub(crate) indices: Vec<u32>,
    /// The checkerboard: `TEXTURE_SIZE²` RGBA8 sRGB texels.
    pub(crate) texels: Vec<u8>,
    /// One instance per cube.
    pub(crate) instances: Vec<InstanceData>,
    /// The camera.
    pub(crate) camera: Camera,
    /// The clear colour (the renderer's default).
    pub(crate) clear_color: [f32; 4],
}

impl Scene {
    pub(crate) fn new() -> Scene {
        // The built-in cube carries per-face UVs and white vertex colours.
        let cube = Mesh::cube();
        let vertices = cube.vertices.clone();
        let texels = (0..TEXTURE_SIZE * TEXTURE_SIZE)
            .flat_map(|i| {
                let (x, y) = (i % TEXTURE_SIZE, i / TEXTURE_SIZE);
                if (x / 8 + y / 8) % 2 == 0 {
                    [240, 150, 40, 255]
                } else {
                    [250, 250, 245, 255]
                }
            })
            .collect();
        let instances = (0..INSTANCES)
            .map(|i| {
                let (x, z) = ((i % 100) as f32 - 49.5, (i / 100) as f32 - 49.5);
                let model = Mat4::from_scale_rotation_translation(
                    Vec3::splat(0.6),
                    Quat::from_rotation_y(i as f32 * 0.1),
                    Vec3::new(x, 0.0, z),
                );
                InstanceData::new(model, [0.3 + (i % 7) as f32 / 10.0, 0.6, 0.9, 1.0])
            })
            .collect();
        let camera = Camera::look_at(
            Vec3::new(0.0, 40.0, 70.0),
            Vec3::ZERO,
            0.8,
            WIDTH as f32 / HEIGHT as f32,
            0.1,
            500.0,
        );
        Scene {
            vertices,
            indices: cube.indices,
            texels,
            instances,
            camera,
            clear_color: RendererConfig::default().clear_color,
        }
    }

    pub(crate) fn vertex_bytes(&self) -> Vec<u8> {
        self.vertices
            .iter()
            .flat_map(|v| {
                v.position
                    .into_iter()
                    .chain(v.normal)
                    .chain(v.uv)
                    .chain(v.color)
            })
            .flat_map(f32::to_ne_bytes)
            .collect()
    }

    pub(crate) fn instance_bytes(&self) -> Vec<u8> {
        self.instances
            .iter()
            .flat_map(|d| d.model.into_iter().flatten().chain(d.color))
            .flat_map(f32::to_ne_bytes)
            .collect()
    }

    /// The mesh pass's push constants: view-projection (column-major), light direction and
    /// ambient, then the material's base-colour factor (white).
    pub(crate) fn push_constants(&self) -> [u8; PUSH_CONSTANT_BYTES] {
        let mut out = [0u8; PUSH_CONSTANT_BYTES];
        let floats = self
            .camera
            .view_proj
            .to_cols_array()
            .into_iter()
            .chain(self.camera.light_dir.to_array())
            .chain([self.camera.ambient])
            .chain([1.0; 4]);
        for (chunk, f) in out.chunks_exact_mut(4).zip(floats) {
            chunk.copy_from_slice(&f.to_ne_bytes());
        }
        out
    }
    /// The raw-ash side's description of the scene (`vertex_bytes` from
    /// [`Scene::vertex_bytes`]).
    pub(crate) fn desc<'a>(&'a self, vertex_bytes: &'a [u8]) -> SceneDesc<'a> {
        SceneDesc {
            vertices: vertex_bytes,
            indices: &self.indices,
            texture: (TEXTURE_SIZE, TEXTURE_SIZE, &self.texels),
            push_constants: self.push_constants(),
            clear_color: self.clear_color,
        }
    }

    /// The renderer configured like the baseline: `WIDTH × HEIGHT`, push descriptors
    /// (`MACROKID_DESCRIPTORS` still overrides it), no post pass, no pipeline-cache file, one
    /// recording thread.
    pub(crate) fn renderer_config(&self, validation: bool) -> RendererConfig {
        RendererConfig::default()
            .size(WIDTH, HEIGHT)
            .validation(validation)
            .pipeline_cache(None)
            .clear_color(self.clear_color)
            .descriptors(Some(DescriptorPath::Push))
            .post_process(None)
            .recording_threads(1)
    }

    /// Uploads the cube, the checkerboard and its material.
    ///
    /// # Errors
    /// Out-of-memory.
    pub(crate) fn upload<B: RenderBackend>(
        &self,
        renderer: &Renderer<B>,
    ) -> Result<(MeshHandle, MaterialHandle), GraphicsError> {
        let mesh = renderer.upload_vertices(&self.vertices, &self.indices)?;
        let texture = renderer.upload_texture(
            "checker",
            TEXTURE_SIZE,
            TEXTURE_SIZE,
            TextureFormat::Rgba8UnormSrgb,
            &self.texels,
        )?;
        let material = renderer.create_material(&MaterialDesc {
            base_color_texture: Some(texture),
            ..MaterialDesc::default()
        })?;
        Ok((mesh, material))
    }
}
