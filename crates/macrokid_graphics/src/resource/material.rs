//! Texture and material entries of the registry, and the sampler cache.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::hal::{Device as _, RenderBackend, SamplerDesc};
use crate::resource::TextureHandle;
use crate::{DeviceError, TextureFormat};

/// An uploaded texture with its view. Shared (`Arc`) by the registry and the materials that
/// sample it, so a material keeps its texture even after the texture's handle is destroyed.
pub(crate) struct TextureEntry<B: RenderBackend> {
    pub(crate) view: B::TextureView,
    pub(crate) _texture: B::Texture,
    pub(crate) size: (u32, u32),
    pub(crate) format: TextureFormat,
}

/// How to create a material (glTF 2.0 §3.9.2 metallic-roughness: the base colour only).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MaterialDesc {
    /// Linear RGBA factor multiplied with the texture (glTF `baseColorFactor`).
    pub base_color_factor: [f32; 4],
    /// Base-colour texture (uploaded as `Rgba8UnormSrgb` for glTF `baseColorTexture`); white
    /// when `None`.
    pub base_color_texture: Option<TextureHandle>,
    /// How the texture is sampled (glTF sampler); samplers are shared through a cache keyed
    /// by this value.
    pub sampler: SamplerDesc,
}

impl Default for MaterialDesc {
    /// White, untextured, linear filtering with repeat.
    fn default() -> Self {
        MaterialDesc {
            base_color_factor: [1.0; 4],
            base_color_texture: None,
            sampler: SamplerDesc::default(),
        }
    }
}

/// A material: what the mesh pass multiplies with the vertex colour and the instance tint.
pub(crate) struct MaterialEntry<B: RenderBackend> {
    pub(crate) texture: Arc<TextureEntry<B>>,
    pub(crate) sampler: Arc<B::Sampler>,
    pub(crate) base_color_factor: [f32; 4],
    /// The material's element of the bindless array (bindless path only).
    pub(crate) bindless: Option<crate::passes::BindlessSlot>,
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
