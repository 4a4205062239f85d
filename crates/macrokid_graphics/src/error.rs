//! The renderer's error type.

use std::path::PathBuf;

use crate::mesh::MeshError;

/// The line that installs a Vulkan loader and a CPU (lavapipe) driver on Debian/Ubuntu.
pub const INSTALL_VULKAN_HINT: &str = "apt-get install libvulkan1 mesa-vulkan-drivers";
/// The line that installs the Khronos validation layer on Debian/Ubuntu.
pub const INSTALL_VALIDATION_HINT: &str = "apt-get install vulkan-validationlayers";

/// Everything that can go wrong while creating or driving a [`Renderer`](crate::Renderer).
///
/// Each message says what was wrong, with which value, and what to do about it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GraphicsError {
    /// The Vulkan loader (`libvulkan.so.1`) could not be loaded.
    #[error(
        "the Vulkan loader (libvulkan.so.1) could not be loaded ({reason}); install it with `{}`",
        INSTALL_VULKAN_HINT
    )]
    LoaderMissing {
        /// Why loading failed, as reported by the dynamic loader.
        reason: String,
    },
    /// The loader works but reports no usable physical device.
    #[error(
        "no Vulkan 1.3 device with a graphics queue, dynamic rendering and synchronization2 was found \
         ({found}); install a driver with `{}`",
        INSTALL_VULKAN_HINT
    )]
    NoAdapter {
        /// What was found instead (device names and why each was rejected), or "none".
        found: String,
    },
    /// An adapter was requested by name (config or `MACROKID_ADAPTER`) and none matches.
    #[error(
        "no Vulkan adapter name contains {requested:?} (from {source_of_request}); available: [{}]; \
         unset MACROKID_ADAPTER or pick one of the available names",
        available.join(", ")
    )]
    AdapterNotFound {
        /// The requested substring.
        requested: String,
        /// Where the request came from: `"MACROKID_ADAPTER"` or `"RendererConfig::adapter"`.
        source_of_request: &'static str,
        /// Names of the usable adapters that exist.
        available: Vec<String>,
    },
    /// Validation was requested but `VK_LAYER_KHRONOS_validation` is not installed.
    #[error(
        "Vulkan validation was requested but VK_LAYER_KHRONOS_validation is not installed; \
         install it with `{}` or turn validation off",
        INSTALL_VALIDATION_HINT
    )]
    ValidationLayerMissing,
    /// A required instance or device extension is not available.
    #[error("the Vulkan {kind} extension {name} is not available; {hint}")]
    MissingExtension {
        /// `"instance"` or `"device"`.
        kind: &'static str,
        /// The extension name.
        name: String,
        /// What to do.
        hint: &'static str,
    },
    /// The driver ran out of host or device memory while doing `what`.
    #[error("out of {memory} memory while {what}")]
    OutOfMemory {
        /// `"host"` or `"device"`.
        memory: &'static str,
        /// The operation that failed.
        what: &'static str,
    },
    /// The device was lost (driver crash or reset); the renderer must be recreated.
    #[error("the Vulkan device was lost while {what}; recreate the renderer")]
    DeviceLost {
        /// The operation that failed.
        what: &'static str,
    },
    /// Any other backend failure, with the backend's own code.
    #[error("the graphics backend failed while {what}: {code}")]
    Backend {
        /// The operation that failed.
        what: &'static str,
        /// The backend's result code, e.g. `ERROR_INITIALIZATION_FAILED`.
        code: String,
    },
    /// The renderer configuration is invalid.
    #[error("invalid renderer configuration: {0}")]
    InvalidConfig(String),
    /// `Frame::encoder_for` was asked for a pass this renderer does not have.
    #[error("unknown render pass {name:?}; this renderer has the passes {known:?}")]
    UnknownPass {
        /// The requested pass name.
        name: String,
        /// The passes that exist.
        known: &'static [&'static str],
    },
    /// A draw asked for instances that were not uploaded this frame.
    #[error(
        "instance range {start}..{end} is outside the {uploaded} instances uploaded this frame; \
         call Frame::upload_instances first or shrink the range"
    )]
    InstanceRange {
        /// First instance requested.
        start: u32,
        /// One past the last instance requested.
        end: u32,
        /// Instances uploaded for this frame.
        uploaded: u32,
    },
    /// `Frame::upload_instances` was called after draws were recorded in the same frame.
    #[error(
        "instances were uploaded after {recorded} command buffers were recorded in this frame; \
         upload all instances of a frame before recording its draws"
    )]
    UploadAfterRecording {
        /// Secondary command buffers already recorded.
        recorded: usize,
    },
    /// Two command contexts of one frame used the same chunk index.
    #[error(
        "chunk index {chunk} was recorded twice in one frame; each CommandCtx needs its own index"
    )]
    DuplicateChunk {
        /// The repeated chunk index.
        chunk: usize,
    },
    /// A mesh uploaded by another renderer was drawn.
    #[error("the GpuMesh belongs to another renderer; upload the mesh with this renderer")]
    ForeignMesh,
    /// A frame ticket was read back twice or by the wrong renderer.
    #[error("frame {frame} cannot be read back: {reason}")]
    StaleFrame {
        /// The frame number of the ticket.
        frame: u64,
        /// Why.
        reason: &'static str,
    },
    /// The mesh is malformed or could not be loaded.
    #[error(transparent)]
    Mesh(#[from] MeshError),
    /// Writing an image file failed.
    #[error(
        "could not write PNG {path}: {message}; check that the directory exists and is writable"
    )]
    WritePng {
        /// The file that was being written.
        path: PathBuf,
        /// The underlying I/O or encoder error.
        message: String,
    },
}
