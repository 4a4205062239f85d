//! What the showcase draws: the built-in cube, or a glTF 2.0 model with its materials.
//!
//! A model is loaded with [`Model::load`] (every primitive keeps its material), normalised into
//! the unit cube, and uploaded as one mesh per material: the draws that share a material are
//! merged in model space ([`Model::merged_mesh`]), so a frame records one instanced draw per
//! material. Base-colour images are uploaded as sRGB textures, others as linear ones; each
//! material's glTF sampler becomes a [`SamplerDesc`] (shared through the renderer's cache).

use std::path::Path;

use macrokid_graphics::hal::{AddressMode, FilterMode, SamplerDesc};
use macrokid_graphics::scene::{ColorSpace, Filter, Sampler, WrapMode};
use macrokid_graphics::{
    Frame, MaterialDesc, MaterialHandle, Mesh, MeshHandle, Model, RenderBackend, Renderer,
    TextureFormat,
};

/// A model on the CPU, loaded before any GPU work so that a bad file fails first.
pub(crate) enum Source {
    /// [`Mesh::cube`] with the default white material.
    Cube,
    /// A glTF model, normalised into the unit cube.
    Gltf(Model),
}

impl Source {
    /// The built-in cube, or the model at `path`.
    ///
    /// # Errors
    /// The loader's message, which names the file and the broken item.
    pub(crate) fn load(path: Option<&Path>) -> Result<Source, String> {
        match path {
            None => Ok(Source::Cube),
            Some(path) => {
                let mut model = Model::load(path).map_err(|e| e.to_string())?;
                model.normalize_to_unit_cube();
                Ok(Source::Gltf(model))
            }
        }
    }
}

/// The uploaded parts: one mesh and material per glTF material (or the cube).
pub(crate) struct GpuModel {
    parts: Vec<(MeshHandle, MaterialHandle)>,
    /// Triangles drawn per instance.
    pub(crate) triangles: usize,
    /// Textures uploaded.
    pub(crate) textures: usize,
}

impl GpuModel {
    /// Uploads `source`.
    ///
    /// # Errors
    /// Out-of-memory and malformed meshes, as the renderer reports them.
    pub(crate) fn upload<B: RenderBackend>(
        renderer: &Renderer<B>,
        source: Source,
    ) -> Result<GpuModel, String> {
        let err = |e: macrokid_graphics::GraphicsError| e.to_string();
        let mut model = match source {
            Source::Cube => {
                let mesh = Mesh::cube();
                let handle = renderer.upload_mesh(&mesh).map_err(err)?;
                let material = renderer
                    .create_material(&MaterialDesc::default())
                    .map_err(err)?;
                return Ok(GpuModel {
                    parts: vec![(handle, material)],
                    triangles: mesh.triangle_count(),
                    textures: 0,
                });
            }
            Source::Gltf(model) => model,
        };
        // Upload each image that some material samples as its base colour.
        let mut textures = vec![None; model.images.len()];
        for material in &model.materials {
            let Some(tex) = &material.base_color_texture else {
                continue;
            };
            let Some(image) = model.images.get(tex.image) else {
                return Err(format!("material refers to missing image {}", tex.image));
            };
            if textures[tex.image].is_some() {
                continue;
            }
            let format = match image.color_space {
                ColorSpace::Srgb => TextureFormat::Rgba8UnormSrgb,
                _ => TextureFormat::Rgba8Unorm,
            };
            let label = image
                .name
                .clone()
                .unwrap_or_else(|| format!("image {}", tex.image));
            let handle = renderer
                .upload_texture(&label, image.width, image.height, format, &image.pixels)
                .map_err(err)?;
            textures[tex.image] = Some(handle);
        }
        let uploaded = textures.iter().flatten().count();
        // One merged mesh per material, in material order.
        let all_draws = std::mem::take(&mut model.draws);
        let mut parts = Vec::new();
        let mut triangles = 0;
        for (index, material) in model.materials.iter().enumerate() {
            model.draws = all_draws
                .iter()
                .filter(|d| d.material == index)
                .cloned()
                .collect();
            if model.draws.is_empty() {
                continue;
            }
            let mesh = model.merged_mesh();
            triangles += mesh.triangle_count();
            let handle = renderer.upload_mesh(&mesh).map_err(err)?;
            let desc = MaterialDesc {
                base_color_factor: material.base_color_factor,
                base_color_texture: material
                    .base_color_texture
                    .as_ref()
                    .and_then(|t| textures[t.image]),
                sampler: material
                    .base_color_texture
                    .as_ref()
                    .map(|t| sampler_desc(&t.sampler))
                    .unwrap_or_default(),
            };
            let material = renderer.create_material(&desc).map_err(err)?;
            parts.push((handle, material));
        }
        model.draws = all_draws;
        Ok(GpuModel {
            parts,
            triangles,
            textures: uploaded,
        })
    }

    /// Records every part for all of the frame's instances, each on `threads` threads.
    ///
    /// # Errors
    /// As [`Frame::draw_material_range_with_threads`].
    pub(crate) fn draw<B: RenderBackend>(
        &self,
        frame: &mut Frame<'_, B>,
        threads: usize,
    ) -> Result<(), String> {
        let all = 0..frame.instance_count();
        for &(mesh, material) in &self.parts {
            frame
                .draw_material_range_with_threads(mesh, material, all.clone(), threads)
                .map_err(|e| e.to_string())?;
        }
        Ok(())
    }
}

/// The HAL sampler for a glTF sampler.
fn sampler_desc(s: &Sampler) -> SamplerDesc {
    let filter = |f: Filter| match f {
        Filter::Nearest => FilterMode::Nearest,
        _ => FilterMode::Linear,
    };
    let address = |w: WrapMode| match w {
        WrapMode::ClampToEdge => AddressMode::ClampToEdge,
        WrapMode::MirroredRepeat => AddressMode::MirrorRepeat,
        _ => AddressMode::Repeat,
    };
    SamplerDesc {
        mag_filter: filter(s.mag_filter),
        min_filter: filter(s.min_filter),
        mipmap_filter: s.mipmap_filter.map(filter).unwrap_or(FilterMode::Nearest),
        address_u: address(s.wrap_u),
        address_v: address(s.wrap_v),
    }
}
