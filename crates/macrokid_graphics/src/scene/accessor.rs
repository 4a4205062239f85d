//! Bounds-checked reading of glTF accessors (glTF 2.0 §3.6.2 "Accessors").
//!
//! The `gltf` crate's readers slice buffers without reporting a range that does not fit (they
//! clip or panic), so every byte range is checked here first, in `u64` with checked arithmetic,
//! and a range that does not fit is a [`SceneError::AccessorOutOfRange`] naming the accessor and
//! what reads it.

use std::path::Path;

use gltf::accessor::{DataType, Dimensions};

use super::SceneError;

/// The file being loaded and its buffers, for reading accessors and reporting errors.
pub(super) struct Source<'a> {
    /// The glTF file (for error messages).
    pub(super) path: &'a Path,
    /// Loaded buffer data, indexed like the file's `buffers`; each holds at least the
    /// declared `byteLength` bytes (checked when loading).
    pub(super) buffers: &'a [Vec<u8>],
}

/// Which accessor is read and by whom, for error messages.
#[derive(Clone, Copy)]
pub(super) struct Item<'a> {
    pub(super) accessor: &'a gltf::Accessor<'a>,
    /// e.g. `POSITION of mesh 0 "Cube" primitive 0`.
    pub(super) what: &'a str,
}

impl Source<'_> {
    fn out_of_range(&self, item: Item<'_>, message: String) -> SceneError {
        SceneError::AccessorOutOfRange {
            path: self.path.to_path_buf(),
            accessor: item.accessor.index(),
            item: item.what.to_string(),
            message,
        }
    }

    fn bad_type(&self, item: Item<'_>, message: String) -> SceneError {
        SceneError::AccessorType {
            path: self.path.to_path_buf(),
            accessor: item.accessor.index(),
            item: item.what.to_string(),
            message,
        }
    }

    /// The bytes of a buffer view, after checking `offset + length <= buffer byteLength`.
    fn view_bytes(
        &self,
        item: Item<'_>,
        view: &gltf::buffer::View<'_>,
    ) -> Result<&[u8], SceneError> {
        let buffer = view.buffer();
        let declared = buffer.length();
        let data = self.buffers.get(buffer.index()).ok_or_else(|| {
            self.out_of_range(item, format!("buffer {} was not loaded", buffer.index()))
        })?;
        let end = view.offset().checked_add(view.length());
        match end {
            Some(end) if end <= declared && end <= data.len() => Ok(&data[view.offset()..end]),
            _ => Err(self.out_of_range(
                item,
                format!(
                    "its buffer view {} covers bytes {}..{} of buffer {}, which holds {declared} bytes",
                    view.index(),
                    view.offset(),
                    view.offset() as u128 + view.length() as u128,
                    buffer.index(),
                ),
            )),
        }
    }

    /// Reads an accessor as `f32` components: `count × components` values, element after
    /// element. Integer components are converted by the glTF normalisation equations when the
    /// accessor is `normalized` (glTF 2.0 §3.11, the table of normalized integer decoding:
    /// `f = c / 255` for `UNSIGNED_BYTE`, `max(c / 127, −1)` for `BYTE`, `c / 65535` for
    /// `UNSIGNED_SHORT`, `max(c / 32767, −1)` for `SHORT`), and cast otherwise. Sparse
    /// accessors are applied over their base (zeros without a buffer view).
    ///
    /// `allowed` lists the accessor types the caller accepts (e.g. `VEC3` and `VEC4` for
    /// colours); the returned `usize` is the component count of the one found.
    pub(super) fn read_f32(
        &self,
        item: Item<'_>,
        allowed: &[Dimensions],
    ) -> Result<(Vec<f32>, usize), SceneError> {
        let acc = item.accessor;
        let components = component_count(acc.dimensions())
            .filter(|_| allowed.contains(&acc.dimensions()))
            .ok_or_else(|| {
                self.bad_type(
                    item,
                    format!(
                        "has type {:?}, expected one of {allowed:?}",
                        acc.dimensions()
                    ),
                )
            })?;
        let decode = decoder(acc.data_type(), acc.normalized());
        let values =
            self.read_elements(item, components, components, |bytes, out: &mut Vec<f32>| {
                out.extend(bytes.chunks_exact(acc.data_type().size()).map(decode));
            })?;
        Ok((values, components))
    }

    /// Reads a `SCALAR` accessor of `UNSIGNED_BYTE`, `UNSIGNED_SHORT` or `UNSIGNED_INT`
    /// (glTF 2.0 §3.7.2.1: the only types allowed for indices).
    pub(super) fn read_indices(&self, item: Item<'_>) -> Result<Vec<u32>, SceneError> {
        let acc = item.accessor;
        let ty = acc.data_type();
        if acc.dimensions() != Dimensions::Scalar
            || !matches!(ty, DataType::U8 | DataType::U16 | DataType::U32)
        {
            return Err(self.bad_type(
                item,
                format!(
                    "has type {:?} of {ty:?}; indices must be SCALAR of U8, U16 or U32",
                    acc.dimensions()
                ),
            ));
        }
        self.read_elements(item, 1, 1, |bytes, out: &mut Vec<u32>| {
            out.push(match ty {
                DataType::U8 => u32::from(bytes[0]),
                DataType::U16 => u32::from(u16::from_le_bytes([bytes[0], bytes[1]])),
                _ => u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]),
            });
        })
    }

    /// Walks `count` elements of `components` components each, calling `push(element bytes,
    /// out)` once per element; `push` appends exactly `per` values (`components` for floats,
    /// 1 for indices), so that sparse substitution can overwrite element `i` at `i × per`.
    fn read_elements<T: Copy + Default>(
        &self,
        item: Item<'_>,
        components: usize,
        per: usize,
        push: impl Fn(&[u8], &mut Vec<T>),
    ) -> Result<Vec<T>, SceneError> {
        let acc = item.accessor;
        let count = acc.count();
        let elem_size = acc.data_type().size() * components;
        let mut out: Vec<T> = Vec::new();
        match acc.view() {
            Some(view) => {
                let bytes = self.view_bytes(item, &view)?;
                let stride = view.stride().unwrap_or(elem_size);
                if stride < elem_size {
                    return Err(self.bad_type(
                        item,
                        format!(
                            "reads {elem_size}-byte elements but its buffer view {} has byteStride {stride}",
                            view.index()
                        ),
                    ));
                }
                // offset + (count − 1) × stride + element size <= view length (§3.6.2.4);
                // u64 so that no count in a hostile file overflows.
                let needed = if count == 0 {
                    Some(0)
                } else {
                    (count as u64 - 1)
                        .checked_mul(stride as u64)
                        .and_then(|n| n.checked_add(acc.offset() as u64))
                        .and_then(|n| n.checked_add(elem_size as u64))
                };
                match needed {
                    Some(end) if end <= bytes.len() as u64 => {}
                    _ => {
                        return Err(self.out_of_range(
                            item,
                            format!(
                                "{count} elements of {elem_size} bytes every {stride} bytes from offset {} need {} bytes, but buffer view {} holds {}",
                                acc.offset(),
                                needed.map_or("more than 2^64".to_string(), |n| n.to_string()),
                                view.index(),
                                bytes.len()
                            ),
                        ))
                    }
                }
                out.reserve(count * per);
                for i in 0..count {
                    let start = acc.offset() + i * stride;
                    push(&bytes[start..start + elem_size], &mut out);
                }
            }
            None if acc.sparse().is_some() => {
                // A sparse accessor without a view starts from zeros (§3.6.2.3). Nothing in the
                // file bounds its count, so cap it before allocating.
                if count > MAX_UNBACKED_ELEMENTS {
                    return Err(self.out_of_range(
                        item,
                        format!(
                            "it declares {count} elements without a buffer view; at most {MAX_UNBACKED_ELEMENTS} are read"
                        ),
                    ));
                }
                out = vec![T::default(); count * per];
            }
            None => {
                return Err(
                    self.bad_type(item, "has neither a bufferView nor sparse data".to_string())
                )
            }
        }
        if let Some(sparse) = acc.sparse() {
            let n = sparse.count();
            let indices = sparse.indices();
            let index_size = match indices.index_type() {
                gltf::accessor::sparse::IndexType::U8 => 1,
                gltf::accessor::sparse::IndexType::U16 => 2,
                gltf::accessor::sparse::IndexType::U32 => 4,
            };
            let index_bytes = self.view_bytes(item, &indices.view())?;
            let index_bytes = sub_range(index_bytes, indices.offset(), n, index_size)
                .ok_or_else(|| {
                    self.out_of_range(
                        item,
                        format!(
                            "{n} sparse indices of {index_size} bytes from offset {} do not fit buffer view {} ({} bytes)",
                            indices.offset(),
                            indices.view().index(),
                            index_bytes.len()
                        ),
                    )
                })?;
            let values = sparse.values();
            let value_bytes = self.view_bytes(item, &values.view())?;
            let value_bytes = sub_range(value_bytes, values.offset(), n, elem_size).ok_or_else(
                || {
                    self.out_of_range(
                        item,
                        format!(
                            "{n} sparse values of {elem_size} bytes from offset {} do not fit buffer view {} ({} bytes)",
                            values.offset(),
                            values.view().index(),
                            value_bytes.len()
                        ),
                    )
                },
            )?;
            let mut scratch = Vec::with_capacity(per);
            for k in 0..n {
                let ib = &index_bytes[k * index_size..(k + 1) * index_size];
                let target = match index_size {
                    1 => usize::from(ib[0]),
                    2 => usize::from(u16::from_le_bytes([ib[0], ib[1]])),
                    _ => u32::from_le_bytes([ib[0], ib[1], ib[2], ib[3]]) as usize,
                };
                if target >= count {
                    return Err(self.out_of_range(
                        item,
                        format!(
                            "sparse index {k} is {target} but the accessor has {count} elements"
                        ),
                    ));
                }
                scratch.clear();
                push(
                    &value_bytes[k * elem_size..(k + 1) * elem_size],
                    &mut scratch,
                );
                out[target * per..(target + 1) * per].copy_from_slice(&scratch);
            }
        }
        Ok(out)
    }
}

/// The most elements a sparse accessor without a buffer view may declare (2^26, far above any
/// real mesh), so that a hostile count cannot make the loader allocate without bound.
const MAX_UNBACKED_ELEMENTS: usize = 1 << 26;

/// `bytes[offset .. offset + n × size]` when it fits.
fn sub_range(bytes: &[u8], offset: usize, n: usize, size: usize) -> Option<&[u8]> {
    let end = n.checked_mul(size)?.checked_add(offset)?;
    bytes.get(offset..end)
}

/// Components per element of the vector types this loader reads.
fn component_count(d: Dimensions) -> Option<usize> {
    match d {
        Dimensions::Scalar => Some(1),
        Dimensions::Vec2 => Some(2),
        Dimensions::Vec3 => Some(3),
        Dimensions::Vec4 => Some(4),
        Dimensions::Mat2 | Dimensions::Mat3 | Dimensions::Mat4 => None,
    }
}

/// One component's little-endian bytes to `f32`, normalised or cast (see [`Source::read_f32`]).
fn decoder(ty: DataType, normalized: bool) -> fn(&[u8]) -> f32 {
    match (ty, normalized) {
        (DataType::F32, _) => |b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]),
        (DataType::U8, true) => |b| f32::from(b[0]) / 255.0,
        (DataType::U8, false) => |b| f32::from(b[0]),
        (DataType::I8, true) => |b| (f32::from(b[0] as i8) / 127.0).max(-1.0),
        (DataType::I8, false) => |b| f32::from(b[0] as i8),
        (DataType::U16, true) => |b| f32::from(u16::from_le_bytes([b[0], b[1]])) / 65535.0,
        (DataType::U16, false) => |b| f32::from(u16::from_le_bytes([b[0], b[1]])),
        (DataType::I16, true) => {
            |b| (f32::from(i16::from_le_bytes([b[0], b[1]])) / 32767.0).max(-1.0)
        }
        (DataType::I16, false) => |b| f32::from(i16::from_le_bytes([b[0], b[1]])),
        // glTF allows no normalized UNSIGNED_INT; read it as a plain integer either way.
        (DataType::U32, _) => |b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as f32,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalised_integers_follow_the_spec_table() {
        assert_eq!(decoder(DataType::U8, true)(&[255]), 1.0);
        assert_eq!(decoder(DataType::U8, true)(&[0]), 0.0);
        assert_eq!(decoder(DataType::I8, true)(&[0x80]), -1.0);
        assert_eq!(decoder(DataType::I8, true)(&[0x7f]), 1.0);
        assert_eq!(decoder(DataType::U16, true)(&[0xff, 0xff]), 1.0);
        assert_eq!(decoder(DataType::I16, true)(&[0x00, 0x80]), -1.0);
        assert_eq!(decoder(DataType::I16, false)(&[0xfe, 0xff]), -2.0);
        assert_eq!(decoder(DataType::F32, false)(&1.5f32.to_le_bytes()), 1.5);
    }

    #[test]
    fn sub_range_rejects_overflow() {
        let bytes = [0u8; 8];
        assert_eq!(sub_range(&bytes, 4, 2, 2).map(<[u8]>::len), Some(4));
        assert!(sub_range(&bytes, 4, 3, 2).is_none());
        assert!(sub_range(&bytes, 1, usize::MAX, 2).is_none());
    }
}
