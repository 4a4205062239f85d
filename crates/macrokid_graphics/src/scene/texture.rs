//! Decoded images: RGBA8 pixels with the colour space their use gives them.

use std::path::Path;

use super::files::EncodedImage;
use super::SceneError;

/// How the 8-bit values of an [`Image`] encode colour.
///
/// glTF 2.0 §3.9.2 and §3.9.3: base-colour and emissive textures hold sRGB-encoded values;
/// normal, metallic-roughness and occlusion textures hold linear values.
///
/// This is the contract for whoever uploads an [`Image`] to the GPU: upload a
/// [`ColorSpace::Srgb`] image with an sRGB format (e.g. Vulkan `R8G8B8A8_SRGB`) so that
/// sampling returns linear values, and a [`ColorSpace::Linear`] one with a UNORM format.
/// The loader itself leaves the texel bytes as the file stores them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ColorSpace {
    /// sRGB transfer function (IEC 61966-2-1): upload with an sRGB format so that sampling
    /// decodes to linear.
    Srgb,
    /// Linear values (normals, roughness…): upload with a UNORM format.
    Linear,
}

/// A decoded image: `width × height` RGBA8 texels, rows top to bottom (glTF's UV origin is
/// the top-left corner), 4 bytes per texel, no padding between rows.
#[derive(Clone, PartialEq, Eq)]
pub struct Image {
    /// The image's name in the file, if any.
    pub name: Option<String>,
    /// Index of the image in the glTF file (`images[source_index]`).
    pub source_index: usize,
    /// Width in texels (> 0).
    pub width: u32,
    /// Height in texels (> 0).
    pub height: u32,
    /// How the texel values encode colour, from the image's use (see [`ColorSpace`]).
    pub color_space: ColorSpace,
    /// `width × height × 4` bytes: R, G, B, A per texel, row-major from the top-left.
    pub pixels: Vec<u8>,
}

impl std::fmt::Debug for Image {
    /// Everything but the texel values (a 2048² image would print 16 MiB of numbers).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Image")
            .field("name", &self.name)
            .field("source_index", &self.source_index)
            .field("width", &self.width)
            .field("height", &self.height)
            .field("color_space", &self.color_space)
            .field("pixels", &format_args!("[{} bytes]", self.pixels.len()))
            .finish()
    }
}

impl Image {
    /// The texel at column `x`, row `y` (from the top-left), or `None` outside the image.
    pub fn texel(&self, x: u32, y: u32) -> Option<[u8; 4]> {
        if x >= self.width || y >= self.height {
            return None;
        }
        let i = (y as usize * self.width as usize + x as usize) * 4;
        self.pixels.get(i..i + 4)?.try_into().ok()
    }

    /// Decodes PNG or JPEG bytes into RGBA8 with the `image` crate. The format comes from
    /// the MIME type when the file gives one, else from the bytes' signature.
    pub(super) fn decode(
        path: &Path,
        gltf_image: &gltf::Image<'_>,
        encoded: &EncodedImage<'_>,
        color_space: ColorSpace,
    ) -> Result<Image, SceneError> {
        let index = gltf_image.index();
        let decode_error = |message: String| SceneError::ImageDecode {
            path: path.to_path_buf(),
            image: index,
            source_desc: encoded.source_desc.clone(),
            message,
        };
        let format = match encoded.mime_type {
            Some("image/png") => image::ImageFormat::Png,
            Some("image/jpeg") => image::ImageFormat::Jpeg,
            Some(other) => {
                return Err(SceneError::Unsupported {
                    path: path.to_path_buf(),
                    item: format!("image {index} ({})", encoded.source_desc),
                    what: format!("MIME type {other:?}"),
                    hint: "convert the image to PNG or JPEG",
                })
            }
            None => image::guess_format(&encoded.bytes)
                .map_err(|e| decode_error(format!("not a PNG or JPEG ({e})")))?,
        };
        if !matches!(format, image::ImageFormat::Png | image::ImageFormat::Jpeg) {
            return Err(decode_error(format!(
                "{format:?} data; only PNG and JPEG are read"
            )));
        }
        let decoded = image::load_from_memory_with_format(&encoded.bytes, format)
            .map_err(|e| decode_error(e.to_string()))?
            .into_rgba8();
        let (width, height) = decoded.dimensions();
        if width == 0 || height == 0 {
            return Err(decode_error(format!("it is {width}×{height}")));
        }
        Ok(Image {
            name: gltf_image.name().map(str::to_string),
            source_index: index,
            width,
            height,
            color_space,
            pixels: decoded.into_raw(),
        })
    }
}
