//! Loading what a glTF file refers to: buffers (GLB `BIN` chunk, `data:` URIs, files beside
//! the `.gltf`) and image bytes (buffer views, `data:` URIs, files), each failure a
//! [`SceneError`] naming the file and the item.

use std::borrow::Cow;
use std::path::{Path, PathBuf};

use super::SceneError;

/// Where a URI in a glTF file points (glTF 2.0 "URIs": RFC 3986 URI references, `data:` URIs
/// included).
#[derive(Debug, PartialEq)]
enum Uri<'a> {
    /// `data:[<media type>][;base64],<data>`: what follows `data:` (scheme matched without
    /// regard to case), decoded by the `gltf` crate.
    Data(&'a str),
    /// A relative reference resolved against the `.gltf`'s folder, or a local `file:` URI
    /// (RFC 8089): a file on disk, percent-decoded.
    File(PathBuf),
    /// Anything else (`http:`, a `file:` URI on another host…): what it is and what to do.
    Unsupported {
        /// The unsupported form, for the error message.
        what: String,
        /// What to do instead.
        hint: &'static str,
    },
}

/// The URI's scheme (RFC 3986 §3.1: `ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )` before the
/// first `:`), or `None` for a relative reference: one whose text before the first `:`
/// is not a scheme, e.g. `textures/a:b.png`, where the colon is in a later path segment.
fn scheme(uri: &str) -> Option<&str> {
    let (scheme, _) = uri.split_once(':')?;
    let mut chars = scheme.chars();
    let first = chars.next()?;
    (first.is_ascii_alphabetic()
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.')))
    .then_some(scheme)
}

/// The path of a URI reference: up to any query (`?`) or fragment (`#`), RFC 3986 §3.
fn path_part(reference: &str) -> &str {
    reference.split(['?', '#']).next().unwrap_or(reference)
}

/// Classifies `uri` and resolves file references against `base`, the `.gltf`'s folder.
///
/// - A relative reference (RFC 3986 §4.2) is percent-decoded and joined to `base`; a
///   network-path reference (`//host/…`) is [`Uri::Unsupported`].
/// - `file:` URIs (RFC 8089) must name an absolute path on this machine: `file:///p`,
///   `file://localhost/p` or `file:/p` become the path `/p` (on Windows `file:///C:/p` becomes
///   `C:/p`); `file://host/p` with another host, and `file:p` without an absolute path, are
///   [`Uri::Unsupported`].
/// - Schemes are matched without regard to case (RFC 3986 §3.1).
fn parse_uri<'a>(base: &Path, uri: &'a str) -> Uri<'a> {
    let Some(scheme) = scheme(uri) else {
        if uri.starts_with("//") {
            return Uri::Unsupported {
                what: format!("the network-path reference {uri:?}"),
                hint: "download the file and refer to it by a path relative to the .gltf",
            };
        }
        return Uri::File(base.join(percent_decode(path_part(uri)).as_ref()));
    };
    let rest = &uri[scheme.len() + 1..];
    if scheme.eq_ignore_ascii_case("data") {
        return Uri::Data(rest);
    }
    if !scheme.eq_ignore_ascii_case("file") {
        return Uri::Unsupported {
            what: format!("the URI {uri:?} (scheme {scheme:?})"),
            hint: "download the file and refer to it by a path relative to the .gltf",
        };
    }
    let rest = path_part(rest);
    let path = match rest.strip_prefix("//") {
        Some(authority_and_path) => {
            let (host, path) = authority_and_path
                .find('/')
                .map_or((authority_and_path, ""), |i| authority_and_path.split_at(i));
            if !(host.is_empty() || host.eq_ignore_ascii_case("localhost")) {
                return Uri::Unsupported {
                    what: format!("the file URI {uri:?} on host {host:?}"),
                    hint: "copy the file to this machine and refer to it by a path relative to the .gltf",
                };
            }
            path
        }
        None => rest,
    };
    if !path.starts_with('/') {
        return Uri::Unsupported {
            what: format!("the file URI {uri:?}, which has no absolute path"),
            hint: "write file:///absolute/path, or a reference without a scheme for a path relative to the .gltf",
        };
    }
    let decoded = percent_decode(path);
    // RFC 8089 Appendix E.2: a DOS drive letter follows the slash, `file:///C:/p`.
    let decoded: &str = if cfg!(windows) {
        match decoded.as_bytes() {
            [b'/', drive, b':', ..] if drive.is_ascii_alphabetic() => &decoded[1..],
            _ => &decoded,
        }
    } else {
        &decoded
    };
    Uri::File(PathBuf::from(decoded))
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

/// Decodes a `data:` URI, given as what follows `data:`, through the `gltf` crate (base64 or
/// plain).
fn decode_data_uri(after_scheme: &str) -> Result<Vec<u8>, String> {
    let uri = format!("data:{after_scheme}");
    gltf::buffer::Data::from_source(gltf::buffer::Source::Uri(&uri), None)
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
                    Uri::Unsupported { what, hint } => {
                        return Err(SceneError::Unsupported {
                            path: path.to_path_buf(),
                            item: format!("buffer {}", buffer.index()),
                            what,
                            hint,
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
                    mime_type: mime_type.or_else(|| d.split([';', ',']).next()),
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
                Uri::Unsupported { what, hint } => Err(SceneError::Unsupported {
                    path: path.to_path_buf(),
                    item: format!("image {}", image.index()),
                    what,
                    hint,
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
        let file = |uri: &str| match parse_uri(base, uri) {
            Uri::File(p) => p,
            other => panic!("{uri:?} is not a file: {other:?}"),
        };
        let unsupported = |uri: &str| match parse_uri(base, uri) {
            Uri::Unsupported { what, .. } => what,
            other => panic!("{uri:?} is supported: {other:?}"),
        };
        assert_eq!(
            parse_uri(base, "data:application/octet-stream;base64,AAAA"),
            Uri::Data("application/octet-stream;base64,AAAA")
        );
        assert_eq!(
            parse_uri(base, "DATA:,x"),
            Uri::Data(",x"),
            "schemes ignore case"
        );
        assert_eq!(
            file("sub/My%20Box.bin"),
            Path::new("/models/sub/My Box.bin")
        );
        assert_eq!(file("a.bin?v=2#part"), Path::new("/models/a.bin"));
        // A colon after the first segment is a relative reference (RFC 3986 §4.2), and so is
        // text before the colon that is not a scheme (a slash, a leading digit, a space).
        assert_eq!(
            file("textures/v1:2/a.png"),
            Path::new("/models/textures/v1:2/a.png")
        );
        assert_eq!(file("./a:b.png"), Path::new("/models/./a:b.png"));
        assert_eq!(file("1a:b.png"), Path::new("/models/1a:b.png"));
        assert_eq!(file("my file:b.png"), Path::new("/models/my file:b.png"));
        // Schemes: letters, then letters, digits, + - .
        assert!(unsupported("http://example.com/a.bin").contains("\"http\""));
        assert!(unsupported("svn+ssh.v-2://h/a.bin").contains("svn+ssh.v-2"));
        assert!(
            unsupported("a:b.png").contains("\"a\""),
            "a:b.png has scheme a"
        );
        assert!(unsupported("//host/a.bin").contains("network-path"));
        // file: URIs name absolute local paths.
        if !cfg!(windows) {
            assert_eq!(file("file:///tmp/x%20y.bin"), Path::new("/tmp/x y.bin"));
            assert_eq!(file("file://localhost/tmp/x.bin"), Path::new("/tmp/x.bin"));
            assert_eq!(file("FILE://LocalHost/tmp/x.bin"), Path::new("/tmp/x.bin"));
            assert_eq!(file("file:/tmp/x.bin"), Path::new("/tmp/x.bin"));
        }
        assert!(unsupported("file://server/share/x.bin").contains("host \"server\""));
        assert!(unsupported("file:x.bin").contains("no absolute path"));
        assert!(unsupported("file://").contains("no absolute path"));
        assert_eq!(
            decode_data_uri("application/octet-stream;base64,AQID").unwrap()[..3],
            [1, 2, 3]
        );
    }
}
