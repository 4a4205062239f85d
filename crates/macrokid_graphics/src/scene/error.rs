//! [`SceneError`]: everything that can go wrong while loading a glTF model.

use std::path::PathBuf;

/// Why a glTF model could not be loaded.
///
/// Every variant names the file that was opened (`path`) and the glTF item at fault (buffer,
/// image, accessor, mesh primitive…, by index and, where the file gives one, by name), and says
/// what to do. Loading never panics on bad input: each problem ends up here.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SceneError {
    /// The glTF/GLB file itself cannot be read.
    #[error("cannot read glTF file {path}: {source}; check the path (relative paths are resolved from the current directory)")]
    Unreadable {
        /// The path that was opened.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not glTF 2.0 / GLB, its JSON breaks the schema (unknown index, bad enum), it
    /// requires an extension the loader does not implement, or its node graph has a cycle.
    #[error("{path} is not a valid glTF 2.0 / GLB file: {message}; re-export it from the modelling tool")]
    Invalid {
        /// The path that was opened.
        path: PathBuf,
        /// What the parser or the structural check reported.
        message: String,
    },
    /// A buffer's data cannot be loaded: its external file (e.g. the `.bin` beside a `.gltf`)
    /// is missing or unreadable, its `data:` URI does not decode, or the GLB has no BIN chunk.
    #[error("{path}: buffer {buffer} ({uri}) cannot be loaded: {message}; keep the files a .gltf refers to next to it")]
    MissingBuffer {
        /// The glTF file.
        path: PathBuf,
        /// Index of the buffer in the file.
        buffer: usize,
        /// The buffer's URI, or `GLB BIN chunk`.
        uri: String,
        /// What went wrong (the I/O error, the base64 error…).
        message: String,
    },
    /// A buffer holds fewer bytes than its `byteLength` declares (a truncated `.bin`).
    #[error("{path}: buffer {buffer} ({uri}) holds {actual} bytes but declares byteLength {declared}; the file was truncated, copy it again")]
    BufferTooShort {
        /// The glTF file.
        path: PathBuf,
        /// Index of the buffer.
        buffer: usize,
        /// The buffer's URI, or `GLB BIN chunk`.
        uri: String,
        /// `byteLength` from the JSON.
        declared: usize,
        /// Bytes actually loaded.
        actual: usize,
    },
    /// An image's external file is missing or unreadable.
    #[error("{path}: image {image} ({uri}) cannot be read: {message}; keep the images a .gltf refers to next to it")]
    MissingImage {
        /// The glTF file.
        path: PathBuf,
        /// Index of the image in the file.
        image: usize,
        /// The image's URI (resolved file path for relative URIs).
        uri: String,
        /// The I/O error.
        message: String,
    },
    /// An image's bytes are not a PNG or JPEG the decoder accepts.
    #[error("{path}: image {image} ({source_desc}) does not decode: {message}; re-save it as PNG or JPEG")]
    ImageDecode {
        /// The glTF file.
        path: PathBuf,
        /// Index of the image in the file.
        image: usize,
        /// Where the bytes came from (a file name, `buffer view N`, `data: URI`).
        source_desc: String,
        /// What the decoder reported.
        message: String,
    },
    /// An accessor (or the buffer view under it) reaches past the end of the data it reads:
    /// `view offset + accessor offset + (count − 1) × stride + element size` exceeds the view,
    /// or the view exceeds its buffer.
    #[error("{path}: accessor {accessor} ({item}) is out of range: {message}; the file is corrupt, re-export it")]
    AccessorOutOfRange {
        /// The glTF file.
        path: PathBuf,
        /// Index of the accessor in the file.
        accessor: usize,
        /// What reads it, e.g. `POSITION of mesh 0 "Cube" primitive 0`.
        item: String,
        /// The exact byte ranges that do not fit.
        message: String,
    },
    /// An accessor has a type that its use does not allow (e.g. `POSITION` as `VEC2`, indices
    /// as `FLOAT`), or attribute counts of one primitive disagree.
    #[error("{path}: accessor {accessor} ({item}) {message}; the file breaks glTF 2.0 §3.7.2.1, re-export it")]
    AccessorType {
        /// The glTF file.
        path: PathBuf,
        /// Index of the accessor in the file.
        accessor: usize,
        /// What reads it.
        item: String,
        /// What is wrong with its type or count.
        message: String,
    },
    /// A primitive's index refers to a vertex that does not exist, or a triangle list's index
    /// count is not a multiple of 3.
    #[error("{path}: {item}: {message}; the file is corrupt, re-export it")]
    BadIndices {
        /// The glTF file.
        path: PathBuf,
        /// The primitive, e.g. `mesh 0 "Cube" primitive 0`.
        item: String,
        /// Which index and value, and the vertex count.
        message: String,
    },
    /// The default scene (or the whole file, without scenes) holds no triangles.
    #[error("{path} contains no triangle primitives with positions; export the mesh with triangulated faces")]
    NoTriangles {
        /// The glTF file.
        path: PathBuf,
    },
    /// The file uses something this loader does not read (an `http:` URI, an image MIME type
    /// other than PNG or JPEG).
    #[error("{path}: {item} uses {what}, which macrokid does not support; {hint}")]
    Unsupported {
        /// The glTF file.
        path: PathBuf,
        /// The item, e.g. `image 2`.
        item: String,
        /// The unsupported feature.
        what: String,
        /// What to do instead.
        hint: &'static str,
    },
}
