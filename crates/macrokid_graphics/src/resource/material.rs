//! Textures and materials uploaded to the GPU, and the sampler cache.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::hal::{Device as _, RenderBackend, SamplerDesc};
use crate::{DeviceError, TextureFormat};

pub(crate) struct TextureParts<B: RenderBackend> {
    pub(crate) renderer: u64,
    pub(crate) view: B::TextureView,
    pub(crate) texture: B::Texture,
    pub(crate) size: (u32, u32),
    pub(crate) format: TextureFormat,
}

/// A sampled 2D texture uploaded by one [`Renderer`](crate::Renderer). Cloning shares it;
/// dropping the last clone at any time is safe (the GPU image lives until the last frame that
/// sampled it completed).
pub struct GpuTexture<B: RenderBackend> {
    pub(crate) inner: Arc<TextureParts<B>>,
}

impl<B: RenderBackend> Clone for GpuTexture<B> {
    fn clone(&self) -> Self {
        GpuTexture {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<B: RenderBackend> GpuTexture<B> {
    /// `(width, height)` in pixels.
    pub fn size(&self) -> (u32, u32) {
        self.inner.size
    }
    /// Texel format.
    pub fn format(&self) -> TextureFormat {
        self.inner.format
    }
    /// The backend texture (for HAL-level code).
    pub fn raw(&self) -> &B::Texture {
        &self.inner.texture
    }
}

impl<B: RenderBackend> std::fmt::Debug for GpuTexture<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GpuTexture")
            .field("size", &self.inner.size)
            .field("format", &self.inner.format)
            .finish()
    }
}

/// How to create a [`GpuMaterial`] (glTF 2.0 §3.9.2 metallic-roughness base colour only).
pub struct MaterialDesc<'a, B: RenderBackend> {
    /// Linear RGBA factor multiplied with the texture (glTF `baseColorFactor`).
    pub base_color_factor: [f32; 4],
    /// Base-colour texture (`Rgba8UnormSrgb` for glTF `baseColorTexture`); white when `None`.
    pub base_color_texture: Option<&'a GpuTexture<B>>,
    /// How the texture is sampled (glTF sampler); samplers are shared through a cache keyed
    /// by this value.
    pub sampler: SamplerDesc,
}

impl<B: RenderBackend> Default for MaterialDesc<'_, B> {
    /// White, untextured, linear filtering with repeat.
    fn default() -> Self {
        MaterialDesc {
            base_color_factor: [1.0; 4],
            base_color_texture: None,
            sampler: SamplerDesc::default(),
        }
    }
}

/// A material of one [`Renderer`](crate::Renderer): what the mesh pass multiplies with the
/// vertex colour and the per-instance tint. Cloning shares it.
pub struct GpuMaterial<B: RenderBackend> {
    pub(crate) renderer: u64,
    pub(crate) texture: GpuTexture<B>,
    pub(crate) sampler: Arc<B::Sampler>,
    pub(crate) base_color_factor: [f32; 4],
}

impl<B: RenderBackend> Clone for GpuMaterial<B> {
    fn clone(&self) -> Self {
        GpuMaterial {
            renderer: self.renderer,
            texture: self.texture.clone(),
            sampler: Arc::clone(&self.sampler),
            base_color_factor: self.base_color_factor,
        }
    }
}

impl<B: RenderBackend> GpuMaterial<B> {
    /// The linear RGBA base-colour factor.
    pub fn base_color_factor(&self) -> [f32; 4] {
        self.base_color_factor
    }
}

impl<B: RenderBackend> std::fmt::Debug for GpuMaterial<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GpuMaterial")
            .field("base_color_factor", &self.base_color_factor)
            .field("texture", &self.texture)
            .finish()
    }
}

/// Samplers by descriptor: one backend sampler per distinct [`SamplerDesc`].
pub(crate) struct SamplerCache<B: RenderBackend> {
    samplers: Mutex<HashMap<SamplerDesc, Arc<B::Sampler>>>,
}

impl<B: RenderBackend> SamplerCache<B> {
    pub(crate) fn new() -> Self {
        SamplerCache {
            samplers: Mutex::new(HashMap::new()),
        }
    }

    /// The sampler for `desc`, created on first use.
    pub(crate) fn get(
        &self,
        device: &B::Device,
        desc: &SamplerDesc,
    ) -> Result<Arc<B::Sampler>, DeviceError> {
        let mut samplers = self.samplers.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(s) = samplers.get(desc) {
            return Ok(Arc::clone(s));
        }
        let sampler = Arc::new(device.create_sampler(desc)?);
        samplers.insert(*desc, Arc::clone(&sampler));
        Ok(sampler)
    }

    /// Number of distinct samplers created.
    pub(crate) fn len(&self) -> usize {
        self.samplers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .len()
    }
}
