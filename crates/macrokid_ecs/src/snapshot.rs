//! World hashes and snapshots: a stable 64-bit digest of a world, and a
//! versioned byte format that restores a world exactly.
//!
//! Both work on the component and resource types registered in a
//! [`SnapshotRegistry`] (each world holds one, see
//! [`World::snapshot_registry_mut`](crate::World::snapshot_registry_mut)), by **name**: a snapshot written by one
//! build of a program can be restored by another build that registers the
//! same names, whatever the `TypeId`s there are.
//!
//! # Snapshot format, version 3
//!
//! A 32-byte header, then a body:
//!
//! | offset | size | field |
//! |---|---|---|
//! | 0 | 8 | magic `b"MKECSWLD"` |
//! | 8 | 4 | format version, `u32` little-endian (this crate writes [`SNAPSHOT_FORMAT_VERSION`] and reads versions [`OLDEST_READ_VERSION`] to it) |
//! | 12 | 1 | byte order of the plain-old-data columns: `1` little-endian, `2` big-endian |
//! | 13 | 3 | zero |
//! | 16 | 8 | body length in bytes, `u64` little-endian |
//! | 24 | 8 | XXH3-64 (seed 0) of the body, `u64` little-endian |
//! | 32 | body length | the body |
//!
//! The body is one MessagePack value (rmp-serde, structs as maps with field
//! names) of this shape:
//!
//! ```text
//! Body {
//!     entities: { generations: u32s, free: u32s },     // per slot index; the free list in order
//!     tables:   [ { entities: u64s,                      // Entity::to_bits, by row
//!                   columns:  [ { name: str,             // registered component name
//!                                 pod_size: u32 | nil,   // element size for plain-old-data columns
//!                                 bytes: bin } ] } ],
//!     resources: [ { name: str, bytes: bin } ],
//!     sparse:   [ { name: str,                           // a component with sparse-set storage
//!                   entities: u64s,                      // Entity::to_bits, in the set's dense order
//!                   pod_size: u32 | nil,
//!                   bytes: bin } ],                      // one value per entity, as a column
//! }
//! ```
//!
//! `u32s` and `u64s` are `bin` values holding the integers as little-endian
//! `u32`s or `u64`s, back to back (on every machine, whatever the header's
//! byte order says of the columns): a world of 100k entities restores its
//! ids with a copy instead of 100k MessagePack integers to decode.
//!
//! Version 2 is version 3 with those integer lists as MessagePack arrays of
//! integers; version 1 is version 2 without `sparse` (no sparse-set
//! components). This crate reads both as such.
//!
//! A plain-old-data column ([`SnapshotRegistry::register_pod`]) is its rows'
//! raw bytes, `rows × pod_size` of them, in the byte order the header names
//! (little-endian on every machine this crate is built for today); a serde
//! column ([`SnapshotRegistry::register`]) is the MessagePack array of its
//! rows; a resource is the MessagePack encoding of its value. Tables are in
//! the world's table order, rows in table order, so that a restored world
//! iterates its queries in the same order as the original. Sparse sets are
//! sorted by name, one per registered sparse type (empty ones included, so
//! the choice of storage survives); a restored world gives each of them
//! sparse-set storage
//! (types registered sparse here but absent from the snapshot stay sparse
//! and empty).
//!
//! Restoring decodes and checks everything (header, checksum, names, column
//! lengths, the consistency of the entity table) before it changes the
//! world: a truncated, corrupted or foreign snapshot is a [`SnapshotError`]
//! and leaves the world as it was.
//!
//! # World hash
//!
//! [`World::hash`](crate::World::hash) is XXH3-64 (seed 0, the algorithm of the xxHash
//! specification) over, in this order: the tag `b"macrokid world hash v1"`;
//! for every live entity by ascending index its id (`u64` LE), its
//! component count (`u32` LE) and, for each component in ascending name
//! order (table and sparse-set components alike), the name (`u32` LE
//! length, UTF-8 bytes) and the value (`u64` LE length, then the bytes a
//! snapshot column would hold for that row); then
//! for every registered resource present, by ascending name, its name and
//! value the same way. An unregistered component contributes its
//! `std::any::type_name` and the length `u64::MAX` in place of a value (its
//! presence counts, its value cannot). The digest depends on the logical
//! content only — not on table order, row order, storage type (table or
//! sparse set), thread count or allocation — and is the same on every
//! machine of one byte order.

use std::any::TypeId;
use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use xxhash_rust::xxh3::{xxh3_64, Xxh3};

use crate::change::Tick;
use crate::component::{Component, Resource};
use crate::entity::{Entities, Entity, Location};
use crate::hash::TypeIdMap;
use crate::storage::{
    column_slice, Archetype, ArchetypeId, ColumnRef, ComponentType, ErasedColumn, ResourceSlot,
    SparseSet, SparseSets, TypedColumn,
};

mod column_changes;
mod columns;

pub use columns::{
    build_snapshot, build_snapshot_with_sparse, ColumnAccessError, ColumnShape, SparseColumns,
    TableColumns, TableShape,
};

/// The contents of the world that [`build_snapshot_with_sparse`] of the same
/// arguments and a restore of its bytes would make, without encoding and
/// decoding them (for `World::from_columns`).
pub(crate) fn read_columns(
    registry: &SnapshotRegistry,
    tables: &[TableColumns<'_>],
    sparse: &[SparseColumns<'_>],
    resources: &[(&str, &[u8])],
    tick: Tick,
) -> Result<Restored, SnapshotError> {
    restore_body(
        registry,
        columns::body_of_columns(tables, sparse, resources)?,
        tick,
    )
}

/// The snapshot format version this crate writes (2: sparse-set
/// components; 3: entity ids, generations and the free list as
/// little-endian bytes).
pub const SNAPSHOT_FORMAT_VERSION: u32 = 3;

/// The oldest snapshot format version this crate reads (1: before sparse
/// sets; read as a snapshot without sparse-set components).
pub const OLDEST_READ_VERSION: u32 = 1;

const MAGIC: &[u8; 8] = b"MKECSWLD";
const HEADER_LEN: usize = 32;
const HASH_TAG: &[u8] = b"macrokid world hash v1";

#[cfg(target_endian = "little")]
const NATIVE_BYTE_ORDER: u8 = 1;
#[cfg(target_endian = "big")]
const NATIVE_BYTE_ORDER: u8 = 2;

/// What went wrong writing, reading or restoring a snapshot.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SnapshotError {
    /// A live entity holds a component type that is not registered for
    /// snapshots, so the world cannot be written whole. Register it with
    /// [`SnapshotRegistry::register`] or [`SnapshotRegistry::register_pod`].
    #[error(
        "component `{component}` is held by live entities but not registered for snapshots; \
         register it with `SnapshotRegistry::register` or `register_pod`"
    )]
    UnregisteredComponent {
        /// The `std::any::type_name` of the component.
        component: &'static str,
    },

    /// The bytes do not start with the snapshot magic `MKECSWLD`: they are
    /// not a macrokid world snapshot.
    #[error("not a macrokid world snapshot: the first 8 bytes are {found:02x?}, not `MKECSWLD`")]
    NotASnapshot {
        /// The first bytes found (up to 8).
        found: Vec<u8>,
    },

    /// The snapshot is shorter (or longer) than its header says: it was
    /// truncated or has trailing bytes. Transfer it again.
    #[error(
        "snapshot is {actual} bytes long but its header says {expected}; \
         it was truncated or has trailing bytes"
    )]
    Length {
        /// Header plus body length, from the header.
        expected: u64,
        /// The length of the bytes given.
        actual: u64,
    },

    /// The snapshot was written in a format version this crate does not
    /// read. Restore it with the macrokid version that wrote it.
    #[error(
        "snapshot format version {found} is not supported (this build reads version {supported})"
    )]
    UnsupportedVersion {
        /// The version in the header.
        found: u32,
        /// The version this crate reads.
        supported: u32,
    },

    /// The snapshot's plain-old-data columns are in a byte order other than
    /// this machine's (or the byte-order field is invalid).
    #[error(
        "snapshot byte order {found} (1 = little-endian, 2 = big-endian) differs from this \
         machine's ({native}); plain-old-data columns cannot be read here"
    )]
    ByteOrder {
        /// The byte-order field of the header.
        found: u8,
        /// This machine's byte order, in the same code.
        native: u8,
    },

    /// The body's checksum does not match the header: the bytes were
    /// corrupted.
    #[error("snapshot body checksum is {actual:#018x}, header says {expected:#018x}; the bytes are corrupted")]
    Checksum {
        /// The checksum in the header.
        expected: u64,
        /// The checksum of the body given.
        actual: u64,
    },

    /// Serializing a value failed (its `Serialize` impl returned an error).
    #[error("could not encode {what}: {message}")]
    Encode {
        /// What was being encoded (a component or resource name).
        what: String,
        /// The encoder's message.
        message: String,
    },

    /// Deserializing part of the snapshot failed: the body is malformed, or
    /// a value does not decode as the type registered under its name here.
    #[error("could not decode {what}: {message}")]
    Decode {
        /// What was being decoded (`snapshot body`, a component or resource name).
        what: String,
        /// The decoder's message.
        message: String,
    },

    /// The snapshot names a component or resource that is not registered in
    /// this world's [`SnapshotRegistry`]. Register the type under that name
    /// before restoring.
    #[error("snapshot names {kind} `{name}`, which is not registered here; register it before restoring")]
    UnknownName {
        /// `"component"` or `"resource"`.
        kind: &'static str,
        /// The name in the snapshot.
        name: String,
    },

    /// A column does not fit its registration here: plain-old-data in the
    /// snapshot but serde here (or the reverse), a different element size,
    /// or a row count other than the table's.
    #[error("column `{name}` does not fit its registration here: {reason}")]
    Column {
        /// The component name.
        name: String,
        /// What does not fit, with the values.
        reason: String,
    },

    /// The snapshot's entity table or tables contradict each other (an
    /// entity in two rows, a stale generation, a table listed twice, a free
    /// list naming a live slot...).
    #[error("snapshot is inconsistent: {reason}")]
    Inconsistent {
        /// What contradicts what, with the values.
        reason: String,
    },
}

/// Decodes a column of exactly `rows` rows from its bytes.
type DecodeColumn = fn(&[u8], usize) -> Result<Box<dyn ErasedColumn>, SnapshotError>;

/// How a registered component is written: the functions of one type,
/// type-erased.
#[derive(Clone, Copy)]
struct ComponentCodec {
    name: &'static str,
    component: ComponentType,
    /// `Some(size_of::<T>())` for plain-old-data components.
    pod_size: Option<usize>,
    /// Appends the whole column's bytes.
    encode_column: fn(ColumnRef<'_>, &mut Vec<u8>) -> Result<(), SnapshotError>,
    /// Appends one row's bytes (what the column holds for that row).
    encode_row: fn(ColumnRef<'_>, usize, &mut Vec<u8>) -> Result<(), SnapshotError>,
    /// A column of exactly `rows` rows from its bytes.
    decode_column: DecodeColumn,
    /// Overwrites rows from raw bytes (plain-old-data components only).
    write_rows: Option<columns::WriteRows>,
}

/// One registered component's name, type and single-row codec.
#[derive(Clone, Copy)]
pub(crate) struct RowCodec {
    pub(crate) name: &'static str,
    pub(crate) component: ComponentType,
    /// `Some(size)` for plain-old-data, `None` for serde (MessagePack).
    pub(crate) pod_size: Option<usize>,
    pub(crate) encode_row: fn(ColumnRef<'_>, usize, &mut Vec<u8>) -> Result<(), SnapshotError>,
    pub(crate) decode_column: DecodeColumn,
}

impl RowCodec {
    fn of(codec: &ComponentCodec) -> Self {
        Self {
            name: codec.name,
            component: codec.component,
            pod_size: codec.pod_size,
            encode_row: codec.encode_row,
            decode_column: codec.decode_column,
        }
    }
}

/// How a registered resource is written.
#[derive(Clone, Copy)]
struct ResourceCodec {
    name: &'static str,
    type_id: TypeId,
    encode: fn(&ResourceSlot, &mut Vec<u8>) -> Result<(), SnapshotError>,
    decode: fn(&[u8]) -> Result<ResourceSlot, SnapshotError>,
}

/// The component and resource types a world can hash by value, snapshot and
/// restore, each under a name.
///
/// Names default to [`std::any::type_name`]; `*_as` registers a name of
/// your choosing (stable across renames and compiler versions). Cloning is
/// cheap (function pointers), so one registry built at start-up can be
/// given to many worlds ([`World::from_snapshot`](crate::World::from_snapshot)).
#[derive(Clone, Default)]
pub struct SnapshotRegistry {
    components: Vec<ComponentCodec>,
    component_by_type: TypeIdMap<TypeId, usize>,
    component_by_name: HashMap<&'static str, usize>,
    resources: Vec<ResourceCodec>,
    resource_by_type: TypeIdMap<TypeId, usize>,
    resource_by_name: HashMap<&'static str, usize>,
}

impl fmt::Debug for SnapshotRegistry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SnapshotRegistry")
            .field(
                "components",
                &self.components.iter().map(|c| c.name).collect::<Vec<_>>(),
            )
            .field(
                "resources",
                &self.resources.iter().map(|r| r.name).collect::<Vec<_>>(),
            )
            .finish()
    }
}

fn encode_error(what: &str, error: impl fmt::Display) -> SnapshotError {
    SnapshotError::Encode {
        what: what.to_owned(),
        message: error.to_string(),
    }
}

fn decode_error(what: &str, error: impl fmt::Display) -> SnapshotError {
    SnapshotError::Decode {
        what: what.to_owned(),
        message: error.to_string(),
    }
}

fn column_of<T: 'static>(column: ColumnRef<'_>) -> &[T] {
    column_slice::<T>(column).unwrap_or_else(|| {
        panic!(
            "storage invariant broken: a column registered as `{}` holds another type",
            std::any::type_name::<T>()
        )
    })
}

fn serde_encode_column<T: Component + Serialize>(
    column: ColumnRef<'_>,
    out: &mut Vec<u8>,
) -> Result<(), SnapshotError> {
    rmp_serde::encode::write(out, column_of::<T>(column))
        .map_err(|e| encode_error(std::any::type_name::<T>(), e))
}

fn serde_encode_row<T: Component + Serialize>(
    column: ColumnRef<'_>,
    row: usize,
    out: &mut Vec<u8>,
) -> Result<(), SnapshotError> {
    rmp_serde::encode::write(out, &column_of::<T>(column)[row])
        .map_err(|e| encode_error(std::any::type_name::<T>(), e))
}

fn serde_decode_column<T: Component + DeserializeOwned>(
    bytes: &[u8],
    rows: usize,
) -> Result<Box<dyn ErasedColumn>, SnapshotError> {
    let name = std::any::type_name::<T>();
    let values: Vec<T> = rmp_serde::from_slice(bytes).map_err(|e| decode_error(name, e))?;
    if values.len() != rows {
        return Err(SnapshotError::Column {
            name: name.to_owned(),
            reason: format!("{} values for a table of {rows} rows", values.len()),
        });
    }
    Ok(TypedColumn::from_vec(values))
}

fn pod_encode_column<T: Component + bytemuck::Pod>(
    column: ColumnRef<'_>,
    out: &mut Vec<u8>,
) -> Result<(), SnapshotError> {
    out.extend_from_slice(bytemuck::cast_slice(column_of::<T>(column)));
    Ok(())
}

fn pod_encode_row<T: Component + bytemuck::Pod>(
    column: ColumnRef<'_>,
    row: usize,
    out: &mut Vec<u8>,
) -> Result<(), SnapshotError> {
    out.extend_from_slice(bytemuck::bytes_of(&column_of::<T>(column)[row]));
    Ok(())
}

fn pod_decode_column<T: Component + bytemuck::Pod>(
    bytes: &[u8],
    rows: usize,
) -> Result<Box<dyn ErasedColumn>, SnapshotError> {
    let size = std::mem::size_of::<T>();
    let expected = rows.checked_mul(size);
    if expected != Some(bytes.len()) {
        return Err(SnapshotError::Column {
            name: std::any::type_name::<T>().to_owned(),
            reason: format!("{} bytes for {rows} rows of {size} bytes each", bytes.len()),
        });
    }
    let values: Vec<T> = if size == 0 {
        vec![T::zeroed(); rows]
    } else {
        // Copies into a `Vec<T>`, so the input's alignment does not matter.
        bytemuck::pod_collect_to_vec(bytes)
    };
    Ok(TypedColumn::from_vec(values))
}

fn resource_encode<T: Resource + Serialize>(
    slot: &ResourceSlot,
    out: &mut Vec<u8>,
) -> Result<(), SnapshotError> {
    rmp_serde::encode::write(out, slot.get::<T>())
        .map_err(|e| encode_error(std::any::type_name::<T>(), e))
}

fn resource_decode<T: Resource + DeserializeOwned>(
    bytes: &[u8],
) -> Result<ResourceSlot, SnapshotError> {
    let value: T =
        rmp_serde::from_slice(bytes).map_err(|e| decode_error(std::any::type_name::<T>(), e))?;
    Ok(ResourceSlot::new(value))
}

impl SnapshotRegistry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers component `T`, written with serde (MessagePack), under
    /// its `std::any::type_name`. Registering a type again replaces its
    /// entry.
    ///
    /// # Panics
    /// When another type is already registered under the same name.
    pub fn register<T: Component + Serialize + DeserializeOwned>(&mut self) -> &mut Self {
        self.register_as::<T>(std::any::type_name::<T>())
    }

    /// [`register`](Self::register) under `name`.
    ///
    /// # Panics
    /// When another type is already registered under `name`.
    pub fn register_as<T: Component + Serialize + DeserializeOwned>(
        &mut self,
        name: &'static str,
    ) -> &mut Self {
        self.add_component(ComponentCodec {
            name,
            component: ComponentType::of::<T>(),
            pod_size: None,
            encode_column: serde_encode_column::<T>,
            encode_row: serde_encode_row::<T>,
            decode_column: serde_decode_column::<T>,
            write_rows: None,
        })
    }

    /// Registers plain-old-data component `T`, written as its raw bytes
    /// (one `memcpy` per column), under its `std::any::type_name`.
    ///
    /// # Panics
    /// When another type is already registered under the same name.
    pub fn register_pod<T: Component + bytemuck::Pod>(&mut self) -> &mut Self {
        self.register_pod_as::<T>(std::any::type_name::<T>())
    }

    /// [`register_pod`](Self::register_pod) under `name`.
    ///
    /// # Panics
    /// When another type is already registered under `name`.
    pub fn register_pod_as<T: Component + bytemuck::Pod>(
        &mut self,
        name: &'static str,
    ) -> &mut Self {
        self.add_component(ComponentCodec {
            name,
            component: ComponentType::of::<T>(),
            pod_size: Some(std::mem::size_of::<T>()),
            encode_column: pod_encode_column::<T>,
            encode_row: pod_encode_row::<T>,
            decode_column: pod_decode_column::<T>,
            write_rows: Some(columns::pod_write_rows::<T>),
        })
    }

    /// Registers resource `T` (serde, MessagePack) under its
    /// `std::any::type_name`: snapshots carry it, restores replace it, and
    /// the world hash covers it.
    ///
    /// # Panics
    /// When another type is already registered under the same name.
    pub fn register_resource<T: Resource + Serialize + DeserializeOwned>(&mut self) -> &mut Self {
        self.register_resource_as::<T>(std::any::type_name::<T>())
    }

    /// [`register_resource`](Self::register_resource) under `name`.
    ///
    /// # Panics
    /// When another type is already registered under `name`.
    pub fn register_resource_as<T: Resource + Serialize + DeserializeOwned>(
        &mut self,
        name: &'static str,
    ) -> &mut Self {
        let codec = ResourceCodec {
            name,
            type_id: TypeId::of::<T>(),
            encode: resource_encode::<T>,
            decode: resource_decode::<T>,
        };
        let index = match self.resource_by_type.get(&codec.type_id) {
            Some(&index) => {
                self.resource_by_name.remove(self.resources[index].name);
                self.resources[index] = codec;
                index
            }
            None => {
                self.resources.push(codec);
                self.resources.len() - 1
            }
        };
        if let Some(&other) = self.resource_by_name.get(name) {
            assert!(
                other == index,
                "snapshot name `{name}` is already registered for another resource type"
            );
        }
        self.resource_by_type.insert(codec.type_id, index);
        self.resource_by_name.insert(name, index);
        self
    }

    fn add_component(&mut self, codec: ComponentCodec) -> &mut Self {
        let type_id = codec.component.type_id;
        let index = match self.component_by_type.get(&type_id) {
            Some(&index) => {
                self.component_by_name.remove(self.components[index].name);
                self.components[index] = codec;
                index
            }
            None => {
                self.components.push(codec);
                self.components.len() - 1
            }
        };
        if let Some(&other) = self.component_by_name.get(codec.name) {
            assert!(
                other == index,
                "snapshot name `{}` is already registered for another component type",
                codec.name
            );
        }
        self.component_by_type.insert(type_id, index);
        self.component_by_name.insert(codec.name, index);
        self
    }

    /// Whether component or resource type `T` is registered.
    pub fn contains<T: 'static>(&self) -> bool {
        self.component_by_type.contains_key(&TypeId::of::<T>())
            || self.resource_by_type.contains_key(&TypeId::of::<T>())
    }

    /// The element size, in bytes, of the component registered as `name` when it
    /// is registered as plain-old-data ([`register_pod_as`](Self::register_pod_as);
    /// 0 for a zero-sized type); `None` when `name` is not registered or is
    /// registered with serde.
    pub fn pod_size_by_name(&self, name: &str) -> Option<usize> {
        self.component_by_name
            .get(name)
            .and_then(|&i| self.components[i].pod_size)
    }

    /// The registered name of component `type_id`, or `fallback`, owned.
    pub(crate) fn registered_name(&self, type_id: TypeId, fallback: &str) -> String {
        self.name_of(type_id, fallback).to_owned()
    }

    /// The registered name of component `type_id`, or `fallback`.
    pub(crate) fn name_of<'a>(&'a self, type_id: TypeId, fallback: &'a str) -> &'a str {
        self.component(type_id).map_or(fallback, |c| c.name)
    }

    /// The registered name, type and row codec of the component registered as
    /// `name` ([`World::insert_encoded`](crate::World::insert_encoded)).
    pub(crate) fn row_codec_by_name(&self, name: &str) -> Option<RowCodec> {
        self.component_by_name
            .get(name)
            .map(|&i| RowCodec::of(&self.components[i]))
    }

    /// [`row_codec_by_name`](Self::row_codec_by_name) by type.
    pub(crate) fn row_codec(&self, type_id: TypeId) -> Option<RowCodec> {
        self.component(type_id).map(RowCodec::of)
    }

    fn component(&self, type_id: TypeId) -> Option<&ComponentCodec> {
        self.component_by_type
            .get(&type_id)
            .map(|&i| &self.components[i])
    }
}

// ---------------------------------------------------------------------------
// The body, as serde sees it.

// Byte payloads are `Cow`s: a snapshot built from borrowed columns
// (`build_snapshot`) serializes them without copying them first, and a
// restore reads them in place from the snapshot's bytes.

#[derive(Serialize, Deserialize)]
struct Body<'a> {
    entities: EntityTable,
    #[serde(borrow)]
    tables: Vec<TableRecord<'a>>,
    #[serde(borrow)]
    resources: Vec<NamedBytes<'a>>,
    /// Absent in version 1.
    #[serde(default, borrow)]
    sparse: Vec<SparseRecord<'a>>,
}

#[derive(Serialize, Deserialize)]
struct SparseRecord<'a> {
    name: String,
    #[serde(with = "le_ints")]
    entities: Vec<u64>,
    pod_size: Option<u32>,
    #[serde(with = "serde_bytes", borrow)]
    bytes: Cow<'a, [u8]>,
}

#[derive(Serialize, Deserialize)]
struct EntityTable {
    #[serde(with = "le_ints")]
    generations: Vec<u32>,
    #[serde(with = "le_ints")]
    free: Vec<u32>,
}

#[derive(Serialize, Deserialize)]
struct TableRecord<'a> {
    #[serde(with = "le_ints")]
    entities: Vec<u64>,
    #[serde(borrow)]
    columns: Vec<ColumnRecord<'a>>,
}

#[derive(Serialize, Deserialize)]
struct ColumnRecord<'a> {
    name: String,
    pod_size: Option<u32>,
    #[serde(with = "serde_bytes", borrow)]
    bytes: Cow<'a, [u8]>,
}

#[derive(Serialize, Deserialize)]
struct NamedBytes<'a> {
    name: String,
    #[serde(with = "serde_bytes", borrow)]
    bytes: Cow<'a, [u8]>,
}

/// The integer lists of the body (entity ids, generations, the free list):
/// written as one `bin` of little-endian integers (format version 3), read
/// from that or from a MessagePack array of integers (versions 1 and 2).
mod le_ints {
    use std::fmt;
    use std::marker::PhantomData;

    use serde::de::{self, Deserializer, SeqAccess, Visitor};
    use serde::{Deserialize, Serializer};

    /// An integer type of the lists: `u32` or `u64`.
    pub(super) trait LeInt: bytemuck::Pod + for<'de> Deserialize<'de> {
        /// Its size in bytes.
        const SIZE: usize;
        /// Appends its little-endian bytes.
        fn put(self, out: &mut Vec<u8>);
        /// Reads it from exactly `SIZE` little-endian bytes.
        fn get(bytes: &[u8]) -> Self;
    }

    macro_rules! le_int {
        ($($t:ty),*) => {$(
            impl LeInt for $t {
                const SIZE: usize = std::mem::size_of::<$t>();
                #[inline]
                fn put(self, out: &mut Vec<u8>) {
                    out.extend_from_slice(&self.to_le_bytes());
                }
                #[inline]
                fn get(bytes: &[u8]) -> Self {
                    <$t>::from_le_bytes(bytes.try_into().expect("a whole integer"))
                }
            }
        )*};
    }
    le_int!(u32, u64);

    pub(super) fn serialize<T: LeInt, S: Serializer>(
        values: &[T],
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        if cfg!(target_endian = "little") {
            // The integers' memory is their little-endian bytes: no copy.
            return serializer.serialize_bytes(bytemuck::cast_slice(values));
        }
        let mut bytes = Vec::with_capacity(values.len() * T::SIZE);
        for &value in values {
            value.put(&mut bytes);
        }
        serializer.serialize_bytes(&bytes)
    }

    pub(super) fn deserialize<'de, T: LeInt, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Vec<T>, D::Error> {
        deserializer.deserialize_any(LeIntsVisitor(PhantomData))
    }

    struct LeIntsVisitor<T>(PhantomData<T>);

    impl<'de, T: LeInt> Visitor<'de> for LeIntsVisitor<T> {
        type Value = Vec<T>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write!(
                f,
                "little-endian {}-byte integers as bytes, or an array of integers",
                T::SIZE
            )
        }

        fn visit_bytes<E: de::Error>(self, bytes: &[u8]) -> Result<Vec<T>, E> {
            if bytes.len() % T::SIZE != 0 {
                return Err(E::invalid_length(bytes.len(), &self));
            }
            if cfg!(target_endian = "little") {
                // One copy (the bytes need not be aligned for `T`).
                return Ok(bytemuck::pod_collect_to_vec(bytes));
            }
            Ok(bytes.chunks_exact(T::SIZE).map(T::get).collect())
        }

        fn visit_byte_buf<E: de::Error>(self, bytes: Vec<u8>) -> Result<Vec<T>, E> {
            self.visit_bytes(&bytes)
        }

        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<T>, A::Error> {
            let mut values = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1 << 16));
            while let Some(value) = seq.next_element()? {
                values.push(value);
            }
            Ok(values)
        }
    }
}

/// The parts of a world that a snapshot writes and a restore replaces.
pub(crate) struct WorldParts<'a> {
    pub(crate) entities: &'a Entities,
    pub(crate) archetypes: &'a [Archetype],
    pub(crate) sparse: &'a SparseSets,
    pub(crate) resources: &'a TypeIdMap<TypeId, ResourceSlot>,
}

/// A decoded, checked snapshot, ready to replace a world's contents.
pub(crate) struct Restored {
    pub(crate) entities: Entities,
    /// Tables in snapshot order; the first has no components.
    pub(crate) archetypes: Vec<Archetype>,
    /// The component types of every table (to register their borrow flags).
    pub(crate) component_types: Vec<ComponentType>,
    /// The sparse sets of the snapshot.
    pub(crate) sparse: Vec<SparseSet>,
    pub(crate) resources: Vec<(TypeId, ResourceSlot)>,
}

/// Writes a snapshot of `world` (see the module docs for the format).
pub(crate) fn write(
    registry: &SnapshotRegistry,
    world: &WorldParts<'_>,
) -> Result<Vec<u8>, SnapshotError> {
    let mut tables = Vec::with_capacity(world.archetypes.len());
    for table in world.archetypes {
        let codecs: Option<Vec<&ComponentCodec>> = table
            .types()
            .iter()
            .map(|&t| registry.component(t))
            .collect();
        let Some(codecs) = codecs else {
            if table.len() == 0 {
                // An empty table of an unregistered type holds nothing to
                // restore; it is left out.
                continue;
            }
            let missing = table
                .types()
                .iter()
                .position(|&t| registry.component(t).is_none())
                .expect("some type is unregistered");
            return Err(SnapshotError::UnregisteredComponent {
                component: table.type_names()[missing],
            });
        };
        let mut columns = Vec::with_capacity(codecs.len());
        for (index, codec) in codecs.iter().enumerate() {
            let mut bytes = Vec::new();
            (codec.encode_column)(table.column(index), &mut bytes)?;
            columns.push(ColumnRecord {
                name: codec.name.to_owned(),
                pod_size: codec
                    .pod_size
                    .map(|s| u32::try_from(s).expect("component larger than 4 GiB")),
                bytes: Cow::Owned(bytes),
            });
        }
        tables.push(TableRecord {
            entities: table.entities().iter().map(|e| e.to_bits()).collect(),
            columns,
        });
    }
    let mut resources = Vec::new();
    for codec in &registry.resources {
        if let Some(slot) = world.resources.get(&codec.type_id) {
            let mut bytes = Vec::new();
            (codec.encode)(slot, &mut bytes)?;
            resources.push(NamedBytes {
                name: codec.name.to_owned(),
                bytes: Cow::Owned(bytes),
            });
        }
    }
    resources.sort_by(|a, b| a.name.cmp(&b.name));
    let mut sparse = Vec::new();
    for set in world.sparse.values() {
        // An empty set of a registered type is written too, so that the
        // restored world keeps its sparse-set storage.
        let Some(codec) = registry.component(set.component().type_id) else {
            if set.len() == 0 {
                continue;
            }
            return Err(SnapshotError::UnregisteredComponent {
                component: set.component().name,
            });
        };
        let mut bytes = Vec::new();
        (codec.encode_column)(set.column(), &mut bytes)?;
        sparse.push(SparseRecord {
            name: codec.name.to_owned(),
            entities: set.entities().map(Entity::to_bits).collect(),
            pod_size: codec
                .pod_size
                .map(|s| u32::try_from(s).expect("component larger than 4 GiB")),
            bytes: Cow::Owned(bytes),
        });
    }
    sparse.sort_by(|a, b| a.name.cmp(&b.name));
    let body = Body {
        entities: EntityTable {
            generations: world.entities.generations().collect(),
            free: world.entities.free_list().to_vec(),
        },
        tables,
        resources,
        sparse,
    };
    encode_body(&body)
}

/// The 32-byte header (magic, version, byte order, body length, XXH3-64 of
/// the body) followed by the MessagePack body: the bytes of a snapshot.
///
/// The body is written in place behind a header whose length and checksum
/// are filled in afterwards (no copy of the body).
fn encode_body(body: &Body<'_>) -> Result<Vec<u8>, SnapshotError> {
    let mut out = Vec::new();
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&SNAPSHOT_FORMAT_VERSION.to_le_bytes());
    out.push(NATIVE_BYTE_ORDER);
    out.extend_from_slice(&[0; 3]);
    out.extend_from_slice(&[0; 16]);
    debug_assert_eq!(out.len(), HEADER_LEN);
    rmp_serde::encode::write_named(&mut out, body).map_err(|e| encode_error("snapshot body", e))?;
    let body_len = (out.len() - HEADER_LEN) as u64;
    let checksum = xxh3_64(&out[HEADER_LEN..]);
    out[16..24].copy_from_slice(&body_len.to_le_bytes());
    out[24..32].copy_from_slice(&checksum.to_le_bytes());
    Ok(out)
}

fn le_u32(bytes: &[u8]) -> u32 {
    u32::from_le_bytes(bytes.try_into().expect("4 bytes"))
}

fn le_u64(bytes: &[u8]) -> u64 {
    u64::from_le_bytes(bytes.try_into().expect("8 bytes"))
}

/// Checks the header and returns the body.
fn body_of(bytes: &[u8]) -> Result<&[u8], SnapshotError> {
    if bytes.len() < MAGIC.len() || &bytes[..MAGIC.len()] != MAGIC {
        return Err(SnapshotError::NotASnapshot {
            found: bytes[..bytes.len().min(MAGIC.len())].to_vec(),
        });
    }
    if bytes.len() < HEADER_LEN {
        return Err(SnapshotError::Length {
            expected: HEADER_LEN as u64,
            actual: bytes.len() as u64,
        });
    }
    let version = le_u32(&bytes[8..12]);
    if !(OLDEST_READ_VERSION..=SNAPSHOT_FORMAT_VERSION).contains(&version) {
        return Err(SnapshotError::UnsupportedVersion {
            found: version,
            supported: SNAPSHOT_FORMAT_VERSION,
        });
    }
    if bytes[12] != NATIVE_BYTE_ORDER {
        return Err(SnapshotError::ByteOrder {
            found: bytes[12],
            native: NATIVE_BYTE_ORDER,
        });
    }
    let body_len = le_u64(&bytes[16..24]);
    let expected = body_len.saturating_add(HEADER_LEN as u64);
    if expected != bytes.len() as u64 {
        return Err(SnapshotError::Length {
            expected,
            actual: bytes.len() as u64,
        });
    }
    let body = &bytes[HEADER_LEN..];
    let checksum = le_u64(&bytes[24..32]);
    let actual = xxh3_64(body);
    if checksum != actual {
        return Err(SnapshotError::Checksum {
            expected: checksum,
            actual,
        });
    }
    Ok(body)
}

fn inconsistent(reason: String) -> SnapshotError {
    SnapshotError::Inconsistent { reason }
}

/// Decodes and checks a snapshot against `registry`, building the world
/// contents it describes. Nothing outside the result is touched.
///
/// Restored rows are stamped added and changed at `tick`.
pub(crate) fn read(
    registry: &SnapshotRegistry,
    bytes: &[u8],
    tick: Tick,
) -> Result<Restored, SnapshotError> {
    let body: Body<'_> =
        rmp_serde::from_slice(body_of(bytes)?).map_err(|e| decode_error("snapshot body", e))?;
    restore_body(registry, body, tick)
}

/// [`read`] of a body already decoded (or built from columns in this
/// process, [`columns::body_of_columns`]): the same checks.
fn restore_body(
    registry: &SnapshotRegistry,
    body: Body<'_>,
    tick: Tick,
) -> Result<Restored, SnapshotError> {
    let generations = body.entities.generations;
    let slot_count = generations.len();
    if u32::try_from(slot_count).is_err() {
        return Err(inconsistent(format!(
            "{slot_count} entity slots (at most 2^32 - 1)"
        )));
    }
    let mut locations: Vec<Option<Location>> = vec![None; slot_count];
    let mut archetypes = Vec::with_capacity(body.tables.len());
    let mut component_types = Vec::new();
    let mut table_sets: HashMap<Vec<TypeId>, usize> = HashMap::new();
    for (table_index, table) in body.tables.into_iter().enumerate() {
        let archetype = ArchetypeId::try_from(table_index)
            .map_err(|_| inconsistent("more than 2^32 tables".to_owned()))?;
        let rows = table.entities.len();
        // Resolve every column first, then order them by type id as a table
        // stores them.
        let mut columns: Vec<(ComponentType, Box<dyn ErasedColumn>)> =
            Vec::with_capacity(table.columns.len());
        for column in table.columns {
            let codec = registry
                .component_by_name
                .get(column.name.as_str())
                .map(|&i| &registry.components[i])
                .ok_or_else(|| SnapshotError::UnknownName {
                    kind: "component",
                    name: column.name.clone(),
                })?;
            check_pod_size(&column.name, column.pod_size, codec)?;
            let decoded = (codec.decode_column)(&column.bytes, rows)?;
            columns.push((codec.component, decoded));
        }
        columns.sort_by_key(|(c, _)| c.type_id);
        let types: Vec<TypeId> = columns.iter().map(|(c, _)| c.type_id).collect();
        if let Some(w) = columns
            .windows(2)
            .find(|w| w[0].0.type_id == w[1].0.type_id)
        {
            return Err(inconsistent(format!(
                "table {table_index} lists component `{}` twice",
                w[0].0.name
            )));
        }
        if table_index == 0 && !types.is_empty() {
            return Err(inconsistent(
                "the first table must be the one without components".to_owned(),
            ));
        }
        if let Some(first) = table_sets.insert(types, table_index) {
            return Err(inconsistent(format!(
                "tables {first} and {table_index} have the same component set"
            )));
        }
        let mut entities = Vec::with_capacity(rows);
        for (row, &bits) in table.entities.iter().enumerate() {
            let entity = Entity::from_bits(bits);
            let index = entity.index() as usize;
            let Some(&generation) = generations.get(index) else {
                return Err(inconsistent(format!(
                    "entity {entity} is beyond the {slot_count} entity slots"
                )));
            };
            if generation != entity.generation() {
                return Err(inconsistent(format!(
                    "entity {entity} is in table {table_index} but slot {index} has generation {generation}"
                )));
            }
            if locations[index].is_some() {
                return Err(inconsistent(format!(
                    "entity {entity} is in more than one row"
                )));
            }
            locations[index] = Some(Location {
                archetype,
                row: row as u32,
            });
            entities.push(entity);
        }
        let (types, columns): (Vec<ComponentType>, Vec<Box<dyn ErasedColumn>>) =
            columns.into_iter().unzip();
        component_types.extend_from_slice(&types);
        archetypes.push(Archetype::from_parts(&types, columns, entities, tick));
    }
    if archetypes.is_empty() {
        return Err(inconsistent(
            "no tables (the table without components is always written)".to_owned(),
        ));
    }
    let mut on_free_list = vec![false; slot_count];
    for &index in &body.entities.free {
        let i = index as usize;
        if i >= slot_count {
            return Err(inconsistent(format!(
                "free list names slot {index} of {slot_count}"
            )));
        }
        if locations[i].is_some() || on_free_list[i] {
            return Err(inconsistent(format!(
                "free list names slot {index}, which is alive or listed twice"
            )));
        }
        on_free_list[i] = true;
    }
    for (index, location) in locations.iter().enumerate() {
        if location.is_none() && !on_free_list[index] && generations[index] != u32::MAX {
            return Err(inconsistent(format!(
                "slot {index} is neither alive, free nor retired"
            )));
        }
    }
    let mut sparse = Vec::with_capacity(body.sparse.len());
    let mut sparse_names = HashMap::new();
    for record in body.sparse {
        let codec = registry
            .component_by_name
            .get(record.name.as_str())
            .map(|&i| &registry.components[i])
            .ok_or_else(|| SnapshotError::UnknownName {
                kind: "component",
                name: record.name.clone(),
            })?;
        check_pod_size(&record.name, record.pod_size, codec)?;
        if sparse_names.insert(codec.component.type_id, ()).is_some()
            || component_types
                .iter()
                .any(|c| c.type_id == codec.component.type_id)
        {
            return Err(inconsistent(format!(
                "component `{}` is stored twice (two sparse sets, or a sparse set and a table)",
                record.name
            )));
        }
        let mut entities = Vec::with_capacity(record.entities.len());
        let mut seen = vec![false; slot_count];
        for &bits in &record.entities {
            let entity = Entity::from_bits(bits);
            let index = entity.index() as usize;
            let alive = locations.get(index).is_some_and(Option::is_some)
                && generations[index] == entity.generation();
            if !alive {
                return Err(inconsistent(format!(
                    "sparse set `{}` names entity {entity}, which is not alive",
                    record.name
                )));
            }
            if std::mem::replace(&mut seen[index], true) {
                return Err(inconsistent(format!(
                    "sparse set `{}` names entity {entity} twice",
                    record.name
                )));
            }
            entities.push(entity);
        }
        let values = (codec.decode_column)(&record.bytes, entities.len())?;
        sparse.push(SparseSet::from_parts(
            codec.component,
            values,
            &entities,
            tick,
        ));
    }
    let mut resources = Vec::with_capacity(body.resources.len());
    for resource in body.resources {
        let codec = registry
            .resource_by_name
            .get(resource.name.as_str())
            .map(|&i| &registry.resources[i])
            .ok_or_else(|| SnapshotError::UnknownName {
                kind: "resource",
                name: resource.name.clone(),
            })?;
        resources.push((codec.type_id, (codec.decode)(&resource.bytes)?));
    }
    Ok(Restored {
        entities: Entities::from_parts(&generations, &locations, body.entities.free),
        archetypes,
        component_types,
        sparse,
        resources,
    })
}

/// Checks that a snapshot column's plain-old-data size fits its
/// registration here.
fn check_pod_size(
    name: &str,
    pod_size: Option<u32>,
    codec: &ComponentCodec,
) -> Result<(), SnapshotError> {
    let here = codec.pod_size.map(|s| s as u64);
    if pod_size.map(u64::from) == here {
        return Ok(());
    }
    let describe = |s: Option<u64>| match s {
        Some(size) => format!("plain-old-data of {size} bytes"),
        None => "serde".to_owned(),
    };
    Err(SnapshotError::Column {
        name: name.to_owned(),
        reason: format!(
            "{} in the snapshot, {} here",
            describe(pod_size.map(u64::from)),
            describe(here)
        ),
    })
}

/// The world hash (see the module docs for what it covers).
pub(crate) fn hash(registry: &SnapshotRegistry, world: &WorldParts<'_>) -> u64 {
    /// One component of a table, in hashing order.
    struct HashColumn<'a> {
        name: &'a str,
        column: usize,
        codec: Option<&'a ComponentCodec>,
    }

    let plans: Vec<Vec<HashColumn<'_>>> = world
        .archetypes
        .iter()
        .map(|table| {
            let mut plan: Vec<HashColumn<'_>> = table
                .types()
                .iter()
                .enumerate()
                .map(|(column, &type_id)| {
                    let codec = registry.component(type_id);
                    HashColumn {
                        name: codec.map_or(table.type_names()[column], |c| c.name),
                        column,
                        codec,
                    }
                })
                .collect();
            plan.sort_by(|a, b| a.name.cmp(b.name));
            plan
        })
        .collect();
    fn write_value(hasher: &mut Xxh3, name: &str, bytes: Option<&[u8]>) {
        hasher.update(&(name.len() as u32).to_le_bytes());
        hasher.update(name.as_bytes());
        match bytes {
            Some(bytes) => {
                hasher.update(&(bytes.len() as u64).to_le_bytes());
                hasher.update(bytes);
            }
            None => hasher.update(&u64::MAX.to_le_bytes()),
        }
    }

    fn write_row(
        hasher: &mut Xxh3,
        value: &mut Vec<u8>,
        name: &str,
        codec: Option<&ComponentCodec>,
        column: ColumnRef<'_>,
        row: usize,
    ) {
        match codec {
            Some(codec) => {
                value.clear();
                match (codec.encode_row)(column, row, value) {
                    Ok(()) => write_value(hasher, name, Some(value)),
                    // A value whose `Serialize` fails hashes as its error
                    // message, so the digest stays defined.
                    Err(error) => {
                        let message = error.to_string();
                        write_value(hasher, name, Some(message.as_bytes()));
                    }
                }
            }
            None => write_value(hasher, name, None),
        }
    }

    // The sparse sets, by name.
    let mut sparse: Vec<(&str, Option<&ComponentCodec>, &SparseSet)> = world
        .sparse
        .values()
        .filter(|set| set.len() > 0)
        .map(|set| {
            let codec = registry.component(set.component().type_id);
            (codec.map_or(set.component().name, |c| c.name), codec, set)
        })
        .collect();
    sparse.sort_by(|a, b| a.0.cmp(b.0));

    let mut hasher = Xxh3::new();
    hasher.update(HASH_TAG);
    let mut value = Vec::new();
    // Per entity: (name, codec, column, row) of each component, by name.
    let mut merged: Vec<(&str, Option<&ComponentCodec>, ColumnRef<'_>, usize)> = Vec::new();
    for (entity, location) in world.entities.live() {
        let table = &world.archetypes[location.archetype as usize];
        let plan = &plans[location.archetype as usize];
        hasher.update(&entity.to_bits().to_le_bytes());
        merged.clear();
        for &(name, codec, set) in &sparse {
            if let Some(dense) = set.dense_index(entity) {
                merged.push((name, codec, set.column(), dense));
            }
        }
        if merged.is_empty() {
            hasher.update(&(plan.len() as u32).to_le_bytes());
            for column in plan {
                write_row(
                    &mut hasher,
                    &mut value,
                    column.name,
                    column.codec,
                    table.column(column.column),
                    location.row as usize,
                );
            }
            continue;
        }
        for column in plan {
            merged.push((
                column.name,
                column.codec,
                table.column(column.column),
                location.row as usize,
            ));
        }
        merged.sort_by(|a, b| a.0.cmp(b.0));
        hasher.update(&(merged.len() as u32).to_le_bytes());
        for &(name, codec, column, row) in &merged {
            write_row(&mut hasher, &mut value, name, codec, column, row);
        }
    }
    let mut resources: Vec<&ResourceCodec> = registry
        .resources
        .iter()
        .filter(|c| world.resources.contains_key(&c.type_id))
        .collect();
    resources.sort_by(|a, b| a.name.cmp(b.name));
    for codec in resources {
        value.clear();
        let slot = &world.resources[&codec.type_id];
        match (codec.encode)(slot, &mut value) {
            Ok(()) => write_value(&mut hasher, codec.name, Some(&value)),
            Err(error) => {
                let message = error.to_string();
                write_value(&mut hasher, codec.name, Some(message.as_bytes()));
            }
        }
    }
    hasher.digest()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The entity table of format versions 1 and 2: MessagePack arrays of
    /// integers.
    #[derive(Serialize)]
    struct EntityTableV2 {
        generations: Vec<u32>,
        free: Vec<u32>,
    }

    /// A table of format versions 1 and 2.
    #[derive(Serialize)]
    struct TableRecordV2 {
        entities: Vec<u64>,
        columns: Vec<ColumnRecord<'static>>,
    }

    /// The body of format version 1 (no sparse sets).
    #[derive(Serialize)]
    struct BodyV1 {
        entities: EntityTableV2,
        tables: Vec<TableRecordV2>,
        resources: Vec<NamedBytes<'static>>,
    }

    fn framed(version: u32, body: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&version.to_le_bytes());
        out.push(NATIVE_BYTE_ORDER);
        out.extend_from_slice(&[0; 3]);
        out.extend_from_slice(&(body.len() as u64).to_le_bytes());
        out.extend_from_slice(&xxh3_64(body).to_le_bytes());
        out.extend_from_slice(body);
        out
    }

    #[test]
    fn version_1_snapshots_are_read_and_unknown_versions_refused() {
        let body = BodyV1 {
            entities: EntityTableV2 {
                generations: vec![0, 3],
                free: vec![0],
            },
            tables: vec![TableRecordV2 {
                entities: vec![Entity::new(1, 3).to_bits()],
                columns: vec![],
            }],
            resources: vec![],
        };
        let body = rmp_serde::to_vec_named(&body).unwrap();
        let registry = SnapshotRegistry::new();
        let restored = read(&registry, &framed(1, &body), Tick::new(1)).unwrap();
        assert_eq!(restored.entities.len(), 1);
        assert!(restored.entities.contains(Entity::new(1, 3)));
        assert!(restored.sparse.is_empty());
        // Version 2 wrote the same integer arrays (and sparse sets, here none).
        let restored = read(&registry, &framed(2, &body), Tick::new(1)).unwrap();
        assert!(restored.entities.contains(Entity::new(1, 3)));
        let next = SNAPSHOT_FORMAT_VERSION + 1;
        assert!(matches!(
            read(&registry, &framed(next, &body), Tick::new(1)),
            Err(SnapshotError::UnsupportedVersion {
                found,
                supported: SNAPSHOT_FORMAT_VERSION
            }) if found == next
        ));
    }

    #[test]
    fn integer_lists_are_little_endian_bytes_and_a_ragged_list_is_an_error() {
        let table = EntityTable {
            generations: vec![1, 0x0102_0304],
            free: vec![],
        };
        let bytes = rmp_serde::to_vec_named(&table).unwrap();
        // `bin 8` of the two generations, little-endian, back to back.
        let expected = [0xc4, 8, 1, 0, 0, 0, 4, 3, 2, 1];
        assert!(
            bytes.windows(expected.len()).any(|w| w == expected),
            "{bytes:02x?}"
        );
        let back: EntityTable = rmp_serde::from_slice(&bytes).unwrap();
        assert_eq!(back.generations, [1, 0x0102_0304]);

        // Seven bytes are not a whole number of `u64` ids.
        #[derive(Serialize)]
        struct Ragged {
            #[serde(with = "serde_bytes")]
            entities: Vec<u8>,
            columns: Vec<ColumnRecord<'static>>,
        }
        let ragged = rmp_serde::to_vec_named(&Ragged {
            entities: vec![0; 7],
            columns: vec![],
        })
        .unwrap();
        assert!(rmp_serde::from_slice::<TableRecord>(&ragged).is_err());
    }
}
