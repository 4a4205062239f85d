//! macrokid graphics: a headless instanced renderer over a hardware abstraction layer
//! ([`hal`]: [`RenderBackend`] and its per-object traits, in the shape of wgpu-hal's `Api`),
//! with a Vulkan 1.3 backend (`vulkan` feature, on by default) and glTF mesh loading.
//!
//! Meshes, textures and materials live behind generational handles ([`MeshHandle`],
//! [`TextureHandle`], [`MaterialHandle`]); a destroyed handle is stale (an error on use) and
//! its GPU objects are freed once the timeline passed every frame that could use them. A
//! draw's colour is base-colour texture × material factor × vertex colour × instance tint.
//! Textures are bound with push descriptors or bindless arrays ([`DescriptorPath`]). With
//! [`RendererConfig::post_process`] a frame is two passes: lit geometry into an HDR target,
//! then a fullscreen tone-mapping pass.
//!
//! A frame goes through the stages Prepare (camera, instance upload) → Record (secondary
//! command buffers on worker threads) → Submit (one thread, deterministic order) → read-back.
//! The image does not depend on the number of recording threads.
//!
//! # Example: render 10,000 cubes with 2 recording threads and save a PNG
//!
//! ```
//! # #[cfg(feature = "vulkan")] fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use glam::{Mat4, Quat, Vec3};
//! use macrokid_graphics::{Camera, InstanceData, Mesh, RendererConfig, VulkanRenderer};
//!
//! // Validation is on by default; the showcase uses the default 1280×720.
//! let config = RendererConfig::default().size(320, 180).recording_threads(2);
//! let mut renderer = VulkanRenderer::new(config)?;
//! let cube = renderer.upload_mesh(&Mesh::cube())?; // a MeshHandle; or Mesh::from_gltf(..)
//!
//! let instances: Vec<InstanceData> = (0..10_000)
//!     .map(|i| {
//!         let (x, z) = ((i % 100) as f32 - 49.5, (i / 100) as f32 - 49.5);
//!         let model = Mat4::from_scale_rotation_translation(
//!             Vec3::splat(0.6),
//!             Quat::from_rotation_y(i as f32 * 0.1),
//!             Vec3::new(x, 0.0, z),
//!         );
//!         InstanceData::new(model, [0.2 + (i % 7) as f32 / 10.0, 0.5, 0.8, 1.0])
//!     })
//!     .collect();
//!
//! for _ in 0..2 {
//!     let mut frame = renderer.begin_frame()?;                  // waits this slot's fence
//!     let camera = Camera::look_at(
//!         Vec3::new(0.0, 40.0, 70.0), Vec3::ZERO, 0.8, 320.0 / 180.0, 0.1, 500.0,
//!     );
//!     frame.set_camera(camera.view_proj, Vec3::new(-0.4, -1.0, -0.6)); // or set_view(camera)
//!     frame.upload_instances(&instances)?;                       // Prepare
//!     frame.draw_instanced(cube)?;                               // Record on 2 threads
//!     let image = frame.finish()?;                               // Submit + wait + read back
//!     let path = std::env::temp_dir().join(format!("macrokid_doc_{:04}.png", image.frame));
//!     image.save_png(&path)?;
//!     println!("frame {}: {}", image.frame, image.timings); // per-stage times in ms
//! }
//! assert_eq!(renderer.validation_counts().total(), 0, "validation reported problems");
//! # Ok(()) }
//! # #[cfg(not(feature = "vulkan"))] fn main() {}
//! ```
//!
//! To record on your own threads, take a `Send` [`PassEncoder`] with
//! [`Frame::encoder_for`]`("main")`, turn it into a [`CommandCtx`] on the worker with
//! [`PassEncoder::begin`]`(chunk)`, draw a range of instances and [`CommandCtx::finish`];
//! the secondaries execute in ascending chunk order.
//!
//! # Conventions
//! - World space is right-handed, +Y up; meshes wind front faces counter-clockwise (glTF).
//! - `view_proj` maps into Vulkan clip space: x right, **y down**, depth `0..1`
//!   ([`Camera::perspective`] = `Mat4::perspective_rh` with `y_axis.y` negated).
//! - Matrices are column-major ([`InstanceData::model`], push constants).
//! - Images are RGBA8 (`R8G8B8A8_UNORM`, no sRGB encoding), rows top to bottom; depth is
//!   `D32_SFLOAT`, cleared to 1.0, test `LESS`.
//! - [`FRAMES_IN_FLIGHT`] = 2 frame slots, each with its own command pools, instance buffer,
//!   read-back buffer and timestamp queries, paced by one timeline semaphore that counts
//!   every submission (frames and uploads).
//!
//! # Errors and environment
//! Missing Vulkan (`apt-get install libvulkan1 mesa-vulkan-drivers`), a missing validation
//! layer (`apt-get install vulkan-validationlayers`) and an unknown adapter name
//! (`MACROKID_ADAPTER=<substring>`) are [`GraphicsError`]s, never panics.

mod error;
mod frame;
pub mod graph;
pub mod hal;
mod mesh;
mod passes;
mod renderer;
mod resource;
pub mod scene;
mod types;
mod usage;

#[cfg(feature = "vulkan")]
pub mod vulkan;
#[cfg(feature = "window")]
pub mod window;

pub use error::{
    DeviceError, EnvironmentError, GraphicsError, UsageError, INSTALL_VALIDATION_HINT,
    INSTALL_VULKAN_HINT,
};
pub use frame::{CommandCtx, Frame, FrameTicket, PassEncoder};
pub use hal::RenderBackend;
pub use mesh::{Mesh, MeshError};
pub use passes::DescriptorPath;
pub use renderer::{Renderer, ADAPTER_ENV, DESCRIPTORS_ENV, FRAMES_IN_FLIGHT, PASSES};
pub use resource::{
    MaterialDesc, MaterialHandle, MaterialKind, MeshHandle, MeshKind, TextureHandle, TextureKind,
};
pub use scene::{Model, SceneError};
pub use types::{
    default_pipeline_cache_path, AdapterInfo, AdapterKind, Camera, FrameImage, FrameTimings,
    GpuTimings, InstanceData, PostProcess, RendererConfig, TextureFormat, ValidationCounts,
};
pub use usage::{BufferUse, TextureUse};

/// The renderer on the Vulkan backend.
#[cfg(feature = "vulkan")]
pub type VulkanRenderer = Renderer<vulkan::Vulkan>;

/// The types most programs need.
pub mod prelude {
    #[cfg(feature = "vulkan")]
    pub use crate::{vulkan::Vulkan, VulkanRenderer};
    pub use crate::{
        Camera, Frame, FrameImage, GraphicsError, InstanceData, Mesh, Renderer, RendererConfig,
    };
}
