//! Materials (glTF 2.0 §3.9, the metallic-roughness model) and texture sampling settings
//! (§3.8.3 "Samplers") in plain types that name nothing of the `gltf` crate.

/// Texel filter for magnification, minification, or between mip levels.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Filter {
    /// Nearest texel (`NEAREST`, 9728).
    Nearest,
    /// Linear interpolation (`LINEAR`, 9729).
    Linear,
}

/// What happens to texture coordinates outside `0..1` (glTF §3.8.3; Vulkan
/// `VkSamplerAddressMode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WrapMode {
    /// `CLAMP_TO_EDGE` (33071).
    ClampToEdge,
    /// `MIRRORED_REPEAT` (33648).
    MirroredRepeat,
    /// `REPEAT` (10497), glTF's default.
    Repeat,
}

/// How a texture is sampled. glTF leaves filters undefined when a sampler omits them; this
/// loader then picks trilinear filtering (linear, linear, linear mipmaps), the usual choice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Sampler {
    /// Filter when a texel covers more than one pixel.
    pub mag_filter: Filter,
    /// Filter within one mip level when a pixel covers more than one texel.
    pub min_filter: Filter,
    /// Filter between mip levels; `None` means the base level only (glTF `NEAREST` or
    /// `LINEAR` minification filters use no mipmaps).
    pub mipmap_filter: Option<Filter>,
    /// Wrapping along U (glTF `wrapS`).
    pub wrap_u: WrapMode,
    /// Wrapping along V (glTF `wrapT`).
    pub wrap_v: WrapMode,
}

impl Default for Sampler {
    /// Trilinear, repeating in both directions (glTF's defaults where it defines them).
    fn default() -> Self {
        Sampler {
            mag_filter: Filter::Linear,
            min_filter: Filter::Linear,
            mipmap_filter: Some(Filter::Linear),
            wrap_u: WrapMode::Repeat,
            wrap_v: WrapMode::Repeat,
        }
    }
}

impl Sampler {
    /// Converts a glTF sampler; unset filters become [`Sampler::default`]'s.
    pub(super) fn from_gltf(s: &gltf::texture::Sampler<'_>) -> Sampler {
        use gltf::texture::{MagFilter, MinFilter, WrappingMode};
        let d = Sampler::default();
        let mag_filter = match s.mag_filter() {
            Some(MagFilter::Nearest) => Filter::Nearest,
            Some(MagFilter::Linear) => Filter::Linear,
            None => d.mag_filter,
        };
        let (min_filter, mipmap_filter) = match s.min_filter() {
            Some(MinFilter::Nearest) => (Filter::Nearest, None),
            Some(MinFilter::Linear) => (Filter::Linear, None),
            Some(MinFilter::NearestMipmapNearest) => (Filter::Nearest, Some(Filter::Nearest)),
            Some(MinFilter::LinearMipmapNearest) => (Filter::Linear, Some(Filter::Nearest)),
            Some(MinFilter::NearestMipmapLinear) => (Filter::Nearest, Some(Filter::Linear)),
            Some(MinFilter::LinearMipmapLinear) => (Filter::Linear, Some(Filter::Linear)),
            None => (d.min_filter, d.mipmap_filter),
        };
        let wrap = |w| match w {
            WrappingMode::ClampToEdge => WrapMode::ClampToEdge,
            WrappingMode::MirroredRepeat => WrapMode::MirroredRepeat,
            WrappingMode::Repeat => WrapMode::Repeat,
        };
        Sampler {
            mag_filter,
            min_filter,
            mipmap_filter,
            wrap_u: wrap(s.wrap_s()),
            wrap_v: wrap(s.wrap_t()),
        }
    }
}

/// A material's use of a texture.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TextureRef {
    /// Index into [`Model::images`](super::Model::images).
    pub image: usize,
    /// Which `TEXCOORD_n` set the material samples it with (glTF `texCoord`). Each primitive
    /// loads one set into [`Vertex::uv`](super::Vertex::uv), the base-colour texture's
    /// ([`Primitive::uv_set`](super::Primitive::uv_set)); a texture whose set differs from
    /// that cannot be sampled correctly from the vertex.
    pub tex_coord: u32,
    /// How to sample it.
    pub sampler: Sampler,
}

/// How a material's alpha is used (glTF §3.9.4 "Alpha Coverage").
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum AlphaMode {
    /// Alpha is ignored; the surface is fully opaque (glTF's default).
    Opaque,
    /// Fragments with alpha below `cutoff` are discarded, the rest are opaque.
    Mask {
        /// The alpha cutoff, glTF `alphaCutoff` (default 0.5).
        cutoff: f32,
    },
    /// Alpha blends the surface over what is behind it.
    Blend,
}

/// A glTF metallic-roughness material (glTF 2.0 §3.9.2), as a renderer needs it.
///
/// The base colour of a fragment is `base_color_factor × base-colour texture × vertex colour`,
/// all linear (glTF 2.0 §3.9.2): the texture's sRGB texels must be decoded to linear first,
/// which is what uploading its image with an sRGB format does (the uploader's contract, see
/// [`ColorSpace`](super::ColorSpace)). A per-instance tint, where a renderer has one,
/// multiplies this too.
#[derive(Debug, Clone, PartialEq)]
pub struct Material {
    /// The material's name in the file, if any.
    pub name: Option<String>,
    /// Index of the material in the glTF file; `None` for the default material given to
    /// primitives without one (glTF §3.9.6: white, metallic 1, roughness 1).
    pub source_index: Option<usize>,
    /// Linear RGBA multiplier of the base colour (glTF `baseColorFactor`, default white).
    pub base_color_factor: [f32; 4],
    /// The base-colour texture; its image is [`ColorSpace::Srgb`](super::ColorSpace::Srgb).
    pub base_color_texture: Option<TextureRef>,
    /// Metalness 0..1 (glTF `metallicFactor`, default 1).
    pub metallic_factor: f32,
    /// Perceptual roughness 0..1 (glTF `roughnessFactor`, default 1).
    pub roughness_factor: f32,
    /// The tangent-space normal map; its image is
    /// [`ColorSpace::Linear`](super::ColorSpace::Linear).
    pub normal_texture: Option<TextureRef>,
    /// Scale of the normal map's X and Y (glTF `normalTexture.scale`, default 1).
    pub normal_scale: f32,
    /// Linear RGB emitted light (glTF `emissiveFactor`, default black).
    pub emissive_factor: [f32; 3],
    /// How alpha is used.
    pub alpha_mode: AlphaMode,
    /// Whether back faces are drawn too (with flipped normals); otherwise they are culled.
    pub double_sided: bool,
}

impl Default for Material {
    /// glTF's default material (§3.9.6).
    fn default() -> Self {
        Material {
            name: None,
            source_index: None,
            base_color_factor: [1.0; 4],
            base_color_texture: None,
            metallic_factor: 1.0,
            roughness_factor: 1.0,
            normal_texture: None,
            normal_scale: 1.0,
            emissive_factor: [0.0; 3],
            alpha_mode: AlphaMode::Opaque,
            double_sided: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_material_is_gltf_default() {
        let m = Material::default();
        assert_eq!(m.base_color_factor, [1.0; 4]);
        assert_eq!(m.alpha_mode, AlphaMode::Opaque);
        assert!(!m.double_sided);
        assert!(m.base_color_texture.is_none() && m.normal_texture.is_none());
    }
}
