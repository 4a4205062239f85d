//! Loading what a glTF file refers to: buffers (GLB `BIN` chunk, `data:` URIs, files beside
//! the `.gltf`) and image bytes (buffer views, `data:` URIs, files), each failure a
//! [`SceneError`] naming the file and the item.

use std::borrow::Cow;
use std::path::{Path, PathBuf};

use super::SceneError;

/// Where a URI in a glTF file points (glTF 2.0 "URIs": RFC 3986 references or `data:` URIs).
enum Uri<'a> {
    /// `data:[<media type>][;base64],<data>`: decoded by the `gltf` crate.
    Data(&'a str),
    /// A relative reference (percent-decoded) or a `file:` URI: a file on disk.
    File(PathBuf),
    /// Any other scheme (`http:`…).
    Other,
}

fn parse_uri<'a>(base: &Path, uri: &'a str) -> Uri<'a> {
    if uri.starts_with("data:") {
        Uri::Data(uri)
    } else if let Some(rest) = uri
        .strip_prefix("file://")
        .or_else(|| uri.strip_prefix("file:"))
    {
        Uri::File(PathBuf::from(percent_decode(rest).as_ref()))
    } else if uri.contains(':') {
        // RFC 3986 §4.2: a relative reference's first segment has no colon, so this has a scheme.
        Uri::Other
    } else {
        Uri::File(base.join(percent_decode(uri).as_ref()))
    }
}

/// Decodes `%XX` escapes (RFC 3986 §2.1); a malformed escape or non-UTF-8 result is kept
/// as written, so that the error that follows names the file as the glTF spelled it.
///
/// Written here rather than taken from the `gltf` crate's importer because that one unwraps
/// the decoded string and panics on a URI that decodes to invalid UTF-8.
fn percent_decode(s: &str) -> Cow<'_, str> {
    if !s.contains('%') {
        return Cow::Borrowed(s);
    }
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (bytes[i], bytes.get(i + 1), bytes.get(i + 2)) {
            (b'%', Some(&h), Some(&l)) if hex(h).is_some() && hex(l).is_some() => {
                out.push((hex(h).unwrap_or(0) * 16 + hex(l).unwrap_or(0)) as u8);
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).map_or(Cow::Borrowed(s), Cow::Owned)
}

/// Decodes a `data:` URI through the `gltf` crate (base64 or plain).
fn decode_data_uri(uri: &str) -> Result<Vec<u8>, String> {
    gltf::buffer::Data::from_source(gltf::buffer::Source::Uri(uri), None)
        .map(|d| d.0)
        .map_err(|e| e.to_string())
}

/// Loads every buffer of the document, in file order. Each holds at least its declared
/// `byteLength` (the `gltf` crate may pad `data:` buffers to a multiple of 4).
///
/// # Errors
/// [`SceneError::MissingBuffer`], [`SceneError::BufferTooShort`], [`SceneError::Unsupported`].
pub(super) fn load_buffers(
    path: &Path,
    base: &Path,
    document: &gltf::Document,
    mut blob: Option<Vec<u8>>,
) -> Result<Vec<Vec<u8>>, SceneError> {
    let mut buffers = Vec::with_capacity(document.buffers().len());
    for buffer in document.buffers() {
        let (uri, data) = match buffer.source() {
            gltf::buffer::Source::Bin => {
                let data = blob.take().ok_or_else(|| SceneError::MissingBuffer {
                    path: path.to_path_buf(),
                    buffer: buffer.index(),
                    uri: "GLB BIN chunk".to_string(),
                    message: "the file has no (further) BIN chunk".to_string(),
                })?;
                ("GLB BIN chunk".to_string(), data)
            }
            gltf::buffer::Source::Uri(uri) => {
                let missing = |uri: String, message: String| SceneError::MissingBuffer {
                    path: path.to_path_buf(),
                    buffer: buffer.index(),
                    uri,
                    message,
                };
                match parse_uri(base, uri) {
                    Uri::Data(d) => {
                        let data =
                            decode_data_uri(d).map_err(|m| missing("data: URI".to_string(), m))?;
                        ("data: URI".to_string(), data)
                    }
                    Uri::File(file) => {
                        let shown = file.display().to_string();
                        let data = std::fs::read(&file)
                            .map_err(|e| missing(shown.clone(), e.to_string()))?;
                        (shown, data)
                    }
                    Uri::Other => {
                        return Err(SceneError::Unsupported {
                            path: path.to_path_buf(),
                            item: format!("buffer {}", buffer.index()),
                            what: format!("the URI {uri:?}"),
                            hint: "download the file and refer to it by a relative path",
                        })
                    }
                }
            }
        };
        if data.len() < buffer.length() {
            return Err(SceneError::BufferTooShort {
                path: path.to_path_buf(),
                buffer: buffer.index(),
                uri,
                declared: buffer.length(),
                actual: data.len(),
            });
        }
        buffers.push(data);
    }
    Ok(buffers)
}

/// The encoded bytes of an image and a description of where they came from.
pub(super) struct EncodedImage<'a> {
    pub(super) bytes: Cow<'a, [u8]>,
    /// `image/png`, `image/jpeg`… when the file says.
    pub(super) mime_type: Option<&'a str>,
    /// For error messages: the file, `buffer view N` or `data: URI`.
    pub(super) source_desc: String,
}

/// Fetches the encoded bytes of `image`.
///
/// # Errors
/// [`SceneError::MissingImage`] for an unreadable file or undecodable `data:` URI,
/// [`SceneError::ImageDecode`] for a buffer view outside its buffer,
/// [`SceneError::Unsupported`] for other URI schemes.
pub(super) fn image_bytes<'a>(
    path: &Path,
    base: &Path,
    buffers: &'a [Vec<u8>],
    image: &gltf::Image<'a>,
) -> Result<EncodedImage<'a>, SceneError> {
    match image.source() {
        gltf::image::Source::View { view, mime_type } => {
            let source_desc = format!("buffer view {}", view.index());
            let range = view.offset().checked_add(view.length()).and_then(|end| {
                (end <= view.buffer().length())
                    .then(|| buffers.get(view.buffer().index())?.get(view.offset()..end))
                    .flatten()
            });
            let bytes = range.ok_or_else(|| SceneError::ImageDecode {
                path: path.to_path_buf(),
                image: image.index(),
                source_desc: source_desc.clone(),
                message: format!(
                    "buffer view {} (bytes {}..{}) lies outside buffer {} ({} bytes)",
                    view.index(),
                    view.offset(),
                    view.offset() as u128 + view.length() as u128,
                    view.buffer().index(),
                    view.buffer().length()
                ),
            })?;
            Ok(EncodedImage {
                bytes: Cow::Borrowed(bytes),
                mime_type: Some(mime_type),
                source_desc,
            })
        }
        gltf::image::Source::Uri { uri, mime_type } => {
            let missing = |uri: String, message: String| SceneError::MissingImage {
                path: path.to_path_buf(),
                image: image.index(),
                uri,
                message,
            };
            match parse_uri(base, uri) {
                Uri::Data(d) => Ok(EncodedImage {
                    bytes: Cow::Owned(
                        decode_data_uri(d).map_err(|m| missing("data: URI".to_string(), m))?,
                    ),
                    mime_type: mime_type.or_else(|| {
                        d.strip_prefix("data:")
                            .and_then(|r| r.split([';', ',']).next())
                    }),
                    source_desc: "data: URI".to_string(),
                }),
                Uri::File(file) => {
                    let shown = file.display().to_string();
                    let bytes =
                        std::fs::read(&file).map_err(|e| missing(shown.clone(), e.to_string()))?;
                    Ok(EncodedImage {
                        bytes: Cow::Owned(bytes),
                        mime_type,
                        source_desc: shown,
                    })
                }
                Uri::Other => Err(SceneError::Unsupported {
                    path: path.to_path_buf(),
                    item: format!("image {}", image.index()),
                    what: format!("the URI {uri:?}"),
                    hint: "download the image and refer to it by a relative path",
                }),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("a%20b.bin"), "a b.bin");
        assert_eq!(percent_decode("plain.bin"), "plain.bin");
        assert_eq!(percent_decode("bad%zz%2"), "bad%zz%2");
        assert_eq!(percent_decode("%ff"), "%ff", "non-UTF-8 stays as written");
    }

    #[test]
    fn uri_kinds() {
        let base = Path::new("/models");
        assert!(matches!(
            parse_uri(base, "data:application/octet-stream;base64,AAAA"),
            Uri::Data(_)
        ));
        assert!(matches!(
            parse_uri(base, "http://example.com/a.bin"),
            Uri::Other
        ));
        match parse_uri(base, "sub/My%20Box.bin") {
            Uri::File(p) => assert_eq!(p, Path::new("/models/sub/My Box.bin")),
            _ => panic!("relative URI not a file"),
        }
        match parse_uri(base, "file:///tmp/x.bin") {
            Uri::File(p) => assert_eq!(p, Path::new("/tmp/x.bin")),
            _ => panic!("file: URI not a file"),
        }
        assert_eq!(
            decode_data_uri("data:application/octet-stream;base64,AQID").unwrap()[..3],
            [1, 2, 3]
        );
    }
}
