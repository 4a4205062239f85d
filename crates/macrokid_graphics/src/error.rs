//! Errors, grouped by kind as in wgpu-hal: what the device reports ([`DeviceError`]), what the
//! machine lacks ([`EnvironmentError`]), and what the caller got wrong ([`UsageError`]).
//! [`GraphicsError`] is the one error type of the public API and wraps the three.

use std::path::PathBuf;

use crate::mesh::MeshError;

/// The line that installs a Vulkan loader and a CPU (lavapipe) driver on Debian/Ubuntu.
pub const INSTALL_VULKAN_HINT: &str = "apt-get install libvulkan1 mesa-vulkan-drivers";
/// The line that installs the Khronos validation layer on Debian/Ubuntu.
pub const INSTALL_VALIDATION_HINT: &str = "apt-get install vulkan-validationlayers";

/// Failures the device reports and the caller cannot prevent (wgpu-hal's `DeviceError`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DeviceError {
    /// The driver ran out of host or device memory while doing `what`.
    #[error("out of {memory} memory while {what}; lower the resolution or the scene size")]
    OutOfMemory {
        /// `"host"` or `"device"`.
        memory: &'static str,
        /// The operation that failed.
        what: &'static str,
    },
    /// The device was lost (driver crash or reset); everything made from it must be recreated.
    #[error("the graphics device was lost while {what}; recreate the renderer")]
    Lost {
        /// The operation that failed.
        what: &'static str,
    },
    /// A result code the API specification does not list for the call, reported verbatim.
    #[error("the graphics backend failed while {what} with the unexpected code {code}")]
    Unexpected {
        /// The operation that failed.
        what: &'static str,
        /// The backend's result code, e.g. `ERROR_UNKNOWN`.
        code: String,
    },
}

/// Something the machine lacks: a loader, a driver, a layer, an extension or the requested
/// adapter. Each message names the package or setting that fixes it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EnvironmentError {
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
        "no Vulkan 1.3 device with a graphics queue, dynamic rendering, synchronization2 and \
         timeline semaphores was found ({found}); install a driver with `{}`",
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
    /// A required instance or device extension or feature is not available.
    #[error("the Vulkan {kind} extension {name} is not available; {hint}")]
    MissingExtension {
        /// `"instance"`, `"device"` or `"instance or device"`.
        kind: &'static str,
        /// The extension name.
        name: String,
        /// What to do.
        hint: &'static str,
    },
}

/// A mistake of the caller: a bad configuration, a bad argument or a call out of order.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UsageError {
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
    /// A handle whose resource was destroyed was used.
    #[error(
        "the {kind} handle {handle} is stale: its {kind} was destroyed; \
         upload or create the {kind} again and use the new handle"
    )]
    StaleHandle {
        /// `"mesh"`, `"texture"` or `"material"`.
        kind: &'static str,
        /// The handle, `index`v`generation`.
        handle: String,
    },
    /// A frame ticket was read back twice or by the wrong renderer.
    #[error("frame {frame} cannot be read back: {reason}")]
    StaleFrame {
        /// The frame number of the ticket.
        frame: u64,
        /// Why.
        reason: &'static str,
    },
    /// The bindless texture array is full.
    #[error(
        "all {capacity} bindless material slots are in use; destroy materials you no longer \
         draw, or use MACROKID_DESCRIPTORS=push"
    )]
    TooManyMaterials {
        /// Elements of the array.
        capacity: u32,
    },
    /// Vertex and index data do not form a triangle list.
    #[error("invalid mesh data: {reason}")]
    MeshData {
        /// What is wrong, with the offending index and value.
        reason: String,
    },
    /// A SPIR-V blob is not valid SPIR-V (length not a multiple of 4 or a wrong magic number).
    #[error("shader module {label:?} is not valid SPIR-V: {reason}; recompile it with `cargo xtask shaders`")]
    InvalidShader {
        /// The module's label.
        label: String,
        /// What is wrong with it.
        reason: String,
    },
    /// Texel data does not match the texture it is uploaded to.
    #[error(
        "texture {label:?} is {width}×{height} {format:?} and needs {expected} bytes of texel data, \
         got {actual}; pass tightly packed rows, top to bottom"
    )]
    TextureData {
        /// The texture's label.
        label: String,
        /// Width in pixels.
        width: u32,
        /// Height in pixels.
        height: u32,
        /// The texture's format.
        format: crate::TextureFormat,
        /// Bytes needed.
        expected: u64,
        /// Bytes given.
        actual: u64,
    },
}

/// Everything that can go wrong while creating or driving a [`Renderer`](crate::Renderer).
///
/// Each message says what was wrong, with which value, and what to do about it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum GraphicsError {
    /// The machine lacks a loader, driver, layer, extension or the requested adapter.
    #[error(transparent)]
    Environment(#[from] EnvironmentError),
    /// The device ran out of memory, was lost, or failed unexpectedly.
    #[error(transparent)]
    Device(#[from] DeviceError),
    /// The caller passed a bad configuration or argument, or called out of order.
    #[error(transparent)]
    Usage(#[from] UsageError),
    /// The mesh is malformed or could not be loaded.
    #[error(transparent)]
    Mesh(#[from] MeshError),
    /// The renderer's frame graph did not compile (a bug in the renderer: please report it).
    #[error("the renderer's frame graph did not compile: {0}")]
    Graph(#[from] crate::graph::GraphError),
    /// A pass of the renderer's frame graph failed to record.
    #[error("render pass `{pass}` failed to record: {message}")]
    PassRecord {
        /// The pass's name.
        pass: String,
        /// What went wrong.
        message: String,
    },
    /// Writing the pipeline cache file failed.
    #[error(
        "could not write the pipeline cache {path}: {message}; check that the directory is \
         writable or set RendererConfig::pipeline_cache to None"
    )]
    WriteCache {
        /// The cache file.
        path: PathBuf,
        /// The underlying I/O error.
        message: String,
    },
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
