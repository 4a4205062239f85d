//! Plain data shared by the renderer and the backends (no GPU types).

use std::path::{Path, PathBuf};
use std::time::Duration;

use glam::{Mat4, Vec3};

use crate::GraphicsError;

/// One instance of an instanced draw, exactly as the vertex shader reads it
/// (binding 1, 80 bytes, `#[repr(C)]`).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct InstanceData {
    /// Model (object → world) matrix, **column-major**: `model[c]` is column `c`
    /// (same layout as [`Mat4::to_cols_array_2d`]).
    pub model: [[f32; 4]; 4],
    /// Linear RGBA colour, each channel `0.0..=1.0`.
    pub color: [f32; 4],
}

impl InstanceData {
    /// An instance from a model matrix and a linear RGBA colour.
    pub fn new(model: Mat4, color: [f32; 4]) -> InstanceData {
        InstanceData {
            model: model.to_cols_array_2d(),
            color,
        }
    }

    /// The model matrix.
    pub fn model_matrix(&self) -> Mat4 {
        Mat4::from_cols_array_2d(&self.model)
    }

    /// The translation part of the model matrix (column 3), i.e. where the model origin lands
    /// in world space.
    pub fn translation(&self) -> Vec3 {
        Vec3::new(self.model[3][0], self.model[3][1], self.model[3][2])
    }
}

/// Camera and lighting for one frame, sent as push constants (80 bytes).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Camera {
    /// World → clip transform, column-major, into Vulkan's clip space: x right, **y down**,
    /// depth `0..1`. With glam, use [`Mat4::perspective_rh`] with `y_axis.y` negated (as
    /// [`Camera::perspective`] does) times [`Mat4::look_at_rh`].
    pub view_proj: Mat4,
    /// Direction the light travels, in world space (need not be normalised).
    pub light_dir: Vec3,
    /// Ambient term `0.0..=1.0`: the fraction of the colour seen on faces turned away from the light.
    pub ambient: f32,
}

impl Camera {
    /// A perspective camera at `eye` looking at `target` (world +Y up), vertical field of
    /// view `fov_y` in radians, `aspect` = width / height, near/far planes in world units,
    /// with a light travelling along `(-0.4, -1.0, -0.6)` and ambient 0.15.
    pub fn look_at(
        eye: Vec3,
        target: Vec3,
        fov_y: f32,
        aspect: f32,
        near: f32,
        far: f32,
    ) -> Camera {
        Camera {
            view_proj: Camera::perspective(fov_y, aspect, near, far)
                * Mat4::look_at_rh(eye, target, Vec3::Y),
            ..Camera::default()
        }
    }

    /// A right-handed perspective projection into Vulkan clip space (y down, depth `0..1`):
    /// [`Mat4::perspective_rh`] with `y_axis.y` negated. `fov_y` in radians, `aspect` =
    /// width / height, `near`/`far` > 0 in world units.
    pub fn perspective(fov_y: f32, aspect: f32, near: f32, far: f32) -> Mat4 {
        let mut proj = Mat4::perspective_rh(fov_y, aspect, near, far);
        proj.y_axis.y = -proj.y_axis.y;
        proj
    }
}

impl Default for Camera {
    /// Identity view-projection, light along `(-0.4, -1.0, -0.6)`, ambient 0.15.
    fn default() -> Camera {
        Camera {
            view_proj: Mat4::IDENTITY,
            light_dir: Vec3::new(-0.4, -1.0, -0.6),
            ambient: 0.15,
        }
    }
}

/// What kind of device an adapter is; selection prefers them in declaration order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum AdapterKind {
    /// A discrete GPU.
    Discrete,
    /// A GPU integrated with the CPU.
    Integrated,
    /// A virtualised GPU.
    Virtual,
    /// A software rasteriser (e.g. Mesa lavapipe / llvmpipe).
    Cpu,
    /// Anything else.
    Other,
}

/// Description of the selected adapter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AdapterInfo {
    /// Device name as the driver reports it, e.g. `llvmpipe (LLVM 15.0.6, 256 bits)`.
    pub name: String,
    /// Device kind.
    pub kind: AdapterKind,
    /// Driver name and version text, e.g. `llvmpipe Mesa 22.3.6 (LLVM 15.0.6)`.
    pub driver: String,
    /// Supported API version as `(major, minor, patch)`.
    pub api_version: (u32, u32, u32),
}

/// Numbers of validation-layer messages seen since the instance was created.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ValidationCounts {
    /// Messages of severity warning.
    pub warnings: u64,
    /// Messages of severity error.
    pub errors: u64,
}

impl ValidationCounts {
    /// Warnings plus errors.
    pub fn total(&self) -> u64 {
        self.warnings + self.errors
    }
}

/// Pixel format of a texture.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TextureFormat {
    /// 8-bit RGBA, unsigned normalised, no sRGB conversion (4 bytes per pixel).
    Rgba8Unorm,
    /// 8-bit RGBA with sRGB transfer on the colour channels: sampling returns linear values
    /// (glTF base-colour textures, 4 bytes per pixel).
    Rgba8UnormSrgb,
    /// 16-bit float RGBA (HDR targets, 8 bytes per pixel).
    Rgba16Float,
    /// 8-bit BGRA, unsigned normalised, no sRGB conversion (4 bytes per pixel): the
    /// swapchain format X11 surfaces offer.
    Bgra8Unorm,
    /// 32-bit float depth (4 bytes per pixel).
    Depth32Float,
}

impl TextureFormat {
    /// Bytes per texel.
    pub fn bytes_per_texel(self) -> u32 {
        match self {
            TextureFormat::Rgba8Unorm
            | TextureFormat::Rgba8UnormSrgb
            | TextureFormat::Bgra8Unorm => 4,
            TextureFormat::Rgba16Float => 8,
            TextureFormat::Depth32Float => 4,
        }
    }

    /// Whether this is a depth format.
    pub fn is_depth(self) -> bool {
        matches!(self, TextureFormat::Depth32Float)
    }
}

/// How to create a [`Renderer`](crate::Renderer).
#[derive(Debug, Clone, PartialEq)]
pub struct RendererConfig {
    /// Width of the offscreen colour target, in pixels (> 0).
    pub width: u32,
    /// Height of the offscreen colour target, in pixels (> 0).
    pub height: u32,
    /// Enable `VK_LAYER_KHRONOS_validation` with synchronization validation and a debug
    /// messenger that logs through `tracing` and counts messages.
    pub validation: bool,
    /// Substring (case-insensitive) of the adapter name to use. The environment variable
    /// `MACROKID_ADAPTER` takes precedence when set and non-empty.
    pub adapter: Option<String>,
    /// Clear colour, linear RGBA `0.0..=1.0`.
    pub clear_color: [f32; 4],
    /// Worker threads used by [`Frame::draw_instanced`](crate::Frame::draw_instanced) (≥ 1).
    pub recording_threads: usize,
    /// Application name passed to the driver.
    pub app_name: String,
    /// Where the pipeline cache is loaded from at start and saved to when the renderer is
    /// dropped; `None` keeps it in memory only. Default: [`default_pipeline_cache_path`].
    pub pipeline_cache: Option<PathBuf>,
    /// How material textures are bound; `None` picks bindless where the device has descriptor
    /// indexing, push descriptors otherwise. The environment variable
    /// `MACROKID_DESCRIPTORS=push|bindless` takes precedence.
    pub descriptors: Option<crate::DescriptorPath>,
    /// A post pass after the geometry pass: when set, geometry renders into an offscreen
    /// `Rgba16Float` target and a fullscreen pass tone-maps it into the output image.
    pub post_process: Option<PostProcess>,
    /// Write GPU timestamps around each pass of every frame ([`FrameTimings::gpu_geometry`],
    /// [`FrameTimings::gpu_post`], [`Window::gpu_timings`](crate::window::Window::gpu_timings))
    /// when the adapter has timestamps. Default: on. Turn it off for throughput measurements
    /// on a CPU rasterizer: Mesa lavapipe flushes its binned scene at every timestamp, which
    /// the `window_vs_raw_ash` bench measured at about a fifth more CPU time per frame
    /// (1280×720, 10,000 cubes).
    pub gpu_timestamps: bool,
}

/// Parameters of the post pass (`shaders/post.frag`): `output = aces(hdr × exposure) ×
/// vignette`, with the ACES filmic fit of Narkowicz (2015) and a vignette that is 1 up to 60%
/// of the centre-to-corner distance and falls smoothly to `1 − vignette` at the corners.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PostProcess {
    /// Linear multiplier before tone mapping.
    pub exposure: f32,
    /// Darkening at the corners, `0.0..=1.0`.
    pub vignette: f32,
}

impl Default for PostProcess {
    /// Exposure 1.6, vignette 0.35.
    fn default() -> Self {
        PostProcess {
            exposure: 1.6,
            vignette: 0.35,
        }
    }
}

/// `<target>/macrokid/pipeline_cache.bin`, where `<target>` is `$CARGO_TARGET_DIR` if set,
/// else the nearest ancestor directory named `target` of the running executable (cargo builds
/// run from `target/<profile>/…`); `None` when neither exists.
pub fn default_pipeline_cache_path() -> Option<PathBuf> {
    let target = match std::env::var_os("CARGO_TARGET_DIR") {
        Some(dir) => Some(PathBuf::from(dir)),
        None => std::env::current_exe().ok().and_then(|exe| {
            exe.ancestors()
                .find(|p| p.file_name().is_some_and(|n| n == "target"))
                .map(Path::to_path_buf)
        }),
    }?;
    Some(target.join("macrokid").join("pipeline_cache.bin"))
}

impl Default for RendererConfig {
    /// 1280×720, validation on, automatic adapter, dark blue-grey clear colour, 2 recording
    /// threads (or the number of CPUs if larger, capped at 8), GPU timestamps on.
    fn default() -> RendererConfig {
        let cpus = std::thread::available_parallelism().map_or(2, |n| n.get());
        RendererConfig {
            width: 1280,
            height: 720,
            validation: true,
            adapter: None,
            clear_color: [0.05, 0.07, 0.10, 1.0],
            recording_threads: cpus.clamp(2, 8),
            app_name: "macrokid".to_owned(),
            pipeline_cache: default_pipeline_cache_path(),
            descriptors: None,
            post_process: None,
            gpu_timestamps: true,
        }
    }
}

impl RendererConfig {
    /// Sets where the pipeline cache is loaded from and saved to (`None`: memory only).
    pub fn pipeline_cache(mut self, path: Option<PathBuf>) -> Self {
        self.pipeline_cache = path;
        self
    }

    /// Adds (or with `None` removes) the post pass.
    pub fn post_process(mut self, post: Option<PostProcess>) -> Self {
        self.post_process = post;
        self
    }

    /// Sets the descriptor path (`None`: automatic).
    pub fn descriptors(mut self, path: Option<crate::DescriptorPath>) -> Self {
        self.descriptors = path;
        self
    }

    /// Sets the target size in pixels.
    pub fn size(mut self, width: u32, height: u32) -> Self {
        self.width = width;
        self.height = height;
        self
    }
    /// Turns validation on or off.
    pub fn validation(mut self, on: bool) -> Self {
        self.validation = on;
        self
    }
    /// Requests an adapter whose name contains `name` (case-insensitive).
    pub fn adapter(mut self, name: impl Into<String>) -> Self {
        self.adapter = Some(name.into());
        self
    }
    /// Sets the clear colour (linear RGBA).
    pub fn clear_color(mut self, rgba: [f32; 4]) -> Self {
        self.clear_color = rgba;
        self
    }
    /// Sets the default number of recording threads.
    pub fn recording_threads(mut self, threads: usize) -> Self {
        self.recording_threads = threads;
        self
    }

    /// Turns GPU timestamps around the passes on or off (see
    /// [`RendererConfig::gpu_timestamps`]).
    pub fn gpu_timestamps(mut self, on: bool) -> Self {
        self.gpu_timestamps = on;
        self
    }

    /// The clear colour rounded to 8-bit RGBA. Exact for channels that are multiples of
    /// 1/255; for values halfway between two codes drivers may round either way.
    pub fn clear_color_rgba8(&self) -> [u8; 4] {
        self.clear_color
            .map(|c| (c.clamp(0.0, 1.0) * 255.0).round() as u8)
    }

    pub(crate) fn check(&self) -> Result<(), GraphicsError> {
        if self.width == 0 || self.height == 0 || self.width > 16384 || self.height > 16384 {
            return Err(crate::UsageError::InvalidConfig(format!(
                "target size {}x{} must be between 1x1 and 16384x16384",
                self.width, self.height
            ))
            .into());
        }
        if self.recording_threads == 0 {
            return Err(crate::UsageError::InvalidConfig(
                "recording_threads must be at least 1".to_owned(),
            )
            .into());
        }
        Ok(())
    }
}

/// Wall-clock time spent in each stage of one frame (host side).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FrameTimings {
    /// Waiting for this frame slot's fence in [`Renderer::begin_frame`](crate::Renderer::begin_frame).
    pub wait: Duration,
    /// Copying instances into the frame's instance buffer.
    pub upload: Duration,
    /// Recording secondary command buffers (measured by [`Frame::draw_instanced`](crate::Frame::draw_instanced);
    /// zero when the caller records by hand).
    pub record: Duration,
    /// Recording the primary command buffer and submitting it.
    pub submit: Duration,
    /// Waiting for the GPU and copying the image to host memory.
    pub gpu_and_readback: Duration,
    /// GPU time of the geometry pass (timestamp queries around it; zero when the adapter has
    /// no timestamps). Not part of [`FrameTimings::total`], which is host time.
    pub gpu_geometry: Duration,
    /// GPU time of the post pass (zero without a post pass or timestamps).
    pub gpu_post: Duration,
}

impl FrameTimings {
    /// Sum of all stages.
    pub fn total(&self) -> Duration {
        self.wait + self.upload + self.record + self.submit + self.gpu_and_readback
    }
}

impl std::fmt::Display for FrameTimings {
    /// One line in milliseconds, e.g.
    /// `wait 0.01 | upload 0.09 | record 0.31 | submit 0.52 | gpu+readback 24.80 | total 25.73 ms
    /// | gpu passes: geometry 20.10, post 3.02 ms`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ms = |d: Duration| d.as_secs_f64() * 1e3;
        write!(
            f,
            "wait {:.2} | upload {:.2} | record {:.2} | submit {:.2} | gpu+readback {:.2} | total {:.2} ms",
            ms(self.wait),
            ms(self.upload),
            ms(self.record),
            ms(self.submit),
            ms(self.gpu_and_readback),
            ms(self.total())
        )?;
        write!(
            f,
            " | gpu passes: geometry {:.2}, post {:.2} ms",
            ms(self.gpu_geometry),
            ms(self.gpu_post)
        )
    }
}

/// GPU time of the passes of one frame, measured with timestamp queries around each pass of
/// the frame graph and read once the frame's submission completed (a window frame's: see
/// [`Window::gpu_timings`](crate::window::Window::gpu_timings); a headless frame's are in its
/// [`FrameTimings`]). Zero durations when the adapter has no timestamps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct GpuTimings {
    /// The renderer's frame number ([`Frame::number`](crate::Frame::number)) they belong to.
    pub frame: u64,
    /// GPU time of the geometry pass (`main`).
    pub geometry: Duration,
    /// GPU time of the post pass (zero without one).
    pub post: Duration,
}

/// A rendered frame read back to host memory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrameImage {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// RGBA8 pixels, rows top to bottom, `width * 4` bytes per row, no padding.
    pub rgba: Vec<u8>,
    /// The frame number (0 for the first frame of a renderer).
    pub frame: u64,
    /// Per-stage host timings of this frame.
    pub timings: FrameTimings,
}

impl FrameImage {
    /// The RGBA value of pixel `(x, y)` (origin top-left).
    ///
    /// # Panics
    /// If `x >= width` or `y >= height`.
    pub fn pixel(&self, x: u32, y: u32) -> [u8; 4] {
        assert!(
            x < self.width && y < self.height,
            "pixel ({x}, {y}) outside {}x{}",
            self.width,
            self.height
        );
        let i = ((y * self.width + x) * 4) as usize;
        [
            self.rgba[i],
            self.rgba[i + 1],
            self.rgba[i + 2],
            self.rgba[i + 3],
        ]
    }

    /// Writes the image as an 8-bit RGBA PNG.
    ///
    /// # Errors
    /// [`GraphicsError::WritePng`] when the file cannot be created or encoded.
    pub fn save_png(&self, path: impl AsRef<Path>) -> Result<(), GraphicsError> {
        let path = path.as_ref();
        let err = |message: String| GraphicsError::WritePng {
            path: PathBuf::from(path),
            message,
        };
        let file = std::fs::File::create(path).map_err(|e| err(e.to_string()))?;
        let mut encoder = png::Encoder::new(std::io::BufWriter::new(file), self.width, self.height);
        encoder.set_color(png::ColorType::Rgba);
        encoder.set_depth(png::BitDepth::Eight);
        encoder.set_compression(png::Compression::Fast);
        let mut writer = encoder.write_header().map_err(|e| err(e.to_string()))?;
        writer
            .write_image_data(&self.rgba)
            .map_err(|e| err(e.to_string()))?;
        writer.finish().map_err(|e| err(e.to_string()))
    }
}
