//! Column transfer: whole plain-old-data columns of one table as raw bytes,
//! by registered name, and worlds built from such columns.
//!
//! This is what distributed mode (`macrokid_net`) ships between a coordinator
//! and system processes: a table's shape ([`World::table_shapes`]), a
//! column's bytes ([`World::read_pod_column`]), a write-back of rows
//! ([`World::write_pod_column`]), registered resources as bytes
//! ([`World::resource_bytes`], [`World::set_resource_bytes`]) and a world made
//! of given tables ([`build_snapshot`], restored with
//! [`World::from_snapshot`]). Bytes are those of the snapshot format (module
//! [`snapshot`](crate::snapshot)): a plain-old-data column is its rows' raw
//! bytes in native (little-endian) order, a resource its MessagePack value.

use std::borrow::Cow;

use super::{
    Body, ColumnRecord, ComponentCodec, EntityTable, NamedBytes, SnapshotError, TableRecord,
};
use crate::change::Tick;
use crate::component::Component;
use crate::entity::Entity;
use crate::storage::Archetype;
use crate::World;

/// Overwrites rows `first..first + bytes.len() / size` of a plain-old-data
/// column (index `column` of the table) from raw bytes and stamps them changed.
pub(super) type WriteRows = fn(&mut Archetype, usize, usize, &[u8], Tick);

/// [`WriteRows`] for `T`. The caller checked that the rows exist and that
/// `bytes` is a whole number of `T`s.
pub(super) fn pod_write_rows<T: Component + bytemuck::Pod>(
    table: &mut Archetype,
    column: usize,
    first: usize,
    bytes: &[u8],
    tick: Tick,
) {
    let size = std::mem::size_of::<T>();
    if size == 0 {
        return;
    }
    let rows = bytes.len() / size;
    let values = &mut table.column_mut::<T>(column)[first..first + rows];
    // `T` to bytes is always aligned; the copy is one memcpy.
    bytemuck::cast_slice_mut::<T, u8>(values).copy_from_slice(bytes);
    table.mark_changed(column, first..first + rows, tick);
}

/// Why a column or resource could not be read or written as bytes.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ColumnAccessError {
    /// No table has this index.
    #[error("table {table} does not exist; the world has {tables} tables")]
    NoTable {
        /// The index asked for.
        table: usize,
        /// How many tables the world has.
        tables: usize,
    },
    /// The table holds no component registered under this name.
    #[error("table {table} holds no component registered under `{name}`; register it with `SnapshotRegistry::register_pod`")]
    NoColumn {
        /// The table.
        table: usize,
        /// The name asked for.
        name: String,
    },
    /// The component is registered with serde, not as plain-old-data: its
    /// rows have no fixed byte size.
    #[error("component `{name}` is not plain-old-data; register it with `SnapshotRegistry::register_pod` to move it as raw bytes")]
    NotPod {
        /// The component.
        name: String,
    },
    /// The bytes do not fit the rows: not a whole number of elements, or
    /// past the end of the table.
    #[error("{len} bytes of `{name}` ({size}-byte elements) from row {first} do not fit table {table} of {rows} rows")]
    Misfit {
        /// The component.
        name: String,
        /// The table.
        table: usize,
        /// Its rows.
        rows: usize,
        /// The first row written.
        first: usize,
        /// Bytes given.
        len: usize,
        /// Bytes per element.
        size: usize,
    },
    /// No resource is registered under this name.
    #[error("no resource is registered under `{name}`; register it with `SnapshotRegistry::register_resource`")]
    NoResource {
        /// The name asked for.
        name: String,
    },
    /// Encoding or decoding a resource value failed.
    #[error(transparent)]
    Snapshot(#[from] SnapshotError),
    /// The entity is not alive in this world.
    #[error("entity {entity:?} is not alive in this world (despawned, or from another world)")]
    StaleEntity {
        /// The entity.
        entity: Entity,
    },
    /// No component type is registered under this name.
    #[error(
        "no component is registered under `{name}`; register it in the world's `SnapshotRegistry`"
    )]
    UnknownComponent {
        /// The name asked for.
        name: String,
    },
    /// The entity has a component whose type is not registered, so its value has
    /// no bytes.
    #[error("entity {entity:?} has component `{type_name}`, which is not registered; register it in the world's `SnapshotRegistry`")]
    Unregistered {
        /// The entity.
        entity: Entity,
        /// `std::any::type_name` of the component.
        type_name: &'static str,
    },
    /// The entity lacks the component to remove.
    #[error("entity {entity:?} has no component registered as `{name}`")]
    MissingComponent {
        /// The entity.
        entity: Entity,
        /// The registered name.
        name: String,
    },
    /// The rows given to [`World::replace_table_rows`] do not fit the
    /// world (the reason says how).
    #[error("table {table}: {reason}")]
    Rows {
        /// The table.
        table: usize,
        /// What does not fit, with the values.
        reason: String,
    },
    /// The component has table storage in this world, not a sparse set.
    #[error("component `{name}` is not stored in a sparse set in this world")]
    NotSparse {
        /// The registered name.
        name: String,
    },
}

/// One component column of a table, as [`World::table_shapes`] reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ColumnShape {
    /// The registered snapshot name, or the type name when unregistered.
    pub name: &'static str,
    /// `std::any::type_name` of the component (what `ResourceId::of` names).
    pub type_name: &'static str,
    /// Bytes per element for a plain-old-data registration; `None` for
    /// serde-registered or unregistered components.
    pub pod_size: Option<usize>,
    /// Whether the type is registered for snapshots.
    pub registered: bool,
}

/// One table, as [`World::table_shapes`] reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TableShape {
    /// The table's index (stable until a table is added or the world restored).
    pub table: usize,
    /// Its rows (entities).
    pub rows: usize,
    /// Its components, in storage order.
    pub columns: Vec<ColumnShape>,
}

/// One table of a world to build with [`build_snapshot`].
#[derive(Clone, Debug)]
pub struct TableColumns<'a> {
    /// The entities of the rows, as [`Entity::to_bits`].
    pub entities: &'a [u64],
    /// `(registered name, plain-old-data element size, bytes)` per component;
    /// the size is `None` for a serde column (a MessagePack array of rows).
    pub columns: Vec<(&'a str, Option<u32>, &'a [u8])>,
}

fn codec_at<'r>(
    registry: &'r super::SnapshotRegistry,
    table: &Archetype,
    index: usize,
) -> Option<&'r ComponentCodec> {
    registry.component(table.types()[index])
}

pub(super) fn find_column(
    registry: &super::SnapshotRegistry,
    table: &Archetype,
    table_index: usize,
    name: &str,
) -> Result<(usize, ComponentCodec), ColumnAccessError> {
    (0..table.types().len())
        .find_map(|i| {
            codec_at(registry, table, i)
                .filter(|c| c.name == name)
                .map(|c| (i, *c))
        })
        .ok_or_else(|| ColumnAccessError::NoColumn {
            table: table_index,
            name: name.to_owned(),
        })
}

impl World {
    /// Every table's shape: index, rows and components, in table order.
    pub fn table_shapes(&self) -> Vec<TableShape> {
        let parts = self.parts();
        let registry = self.snapshot_registry();
        parts
            .archetypes
            .iter()
            .enumerate()
            .map(|(index, table)| TableShape {
                table: index,
                rows: table.len(),
                columns: (0..table.types().len())
                    .map(|i| {
                        let codec = codec_at(registry, table, i);
                        ColumnShape {
                            name: codec.map_or(table.type_names()[i], |c| c.name),
                            type_name: table.type_names()[i],
                            pod_size: codec.and_then(|c| c.pod_size),
                            registered: codec.is_some(),
                        }
                    })
                    .collect(),
            })
            .collect()
    }

    /// The entities of table `table`, by row.
    ///
    /// # Errors
    /// [`ColumnAccessError::NoTable`] for an index past the last table.
    pub fn table_entities(&self, table: usize) -> Result<&[Entity], ColumnAccessError> {
        let tables = self.parts().archetypes;
        tables
            .get(table)
            .map(Archetype::entities)
            .ok_or(ColumnAccessError::NoTable {
                table,
                tables: tables.len(),
            })
    }

    /// Appends the raw bytes of the plain-old-data column registered as
    /// `name` in table `table` to `out` (rows in table order, native byte
    /// order) and returns the element size in bytes (0 for a zero-sized
    /// component, which appends nothing).
    ///
    /// # Errors
    /// [`ColumnAccessError::NoTable`], [`ColumnAccessError::NoColumn`] (the
    /// table lacks it, or it is not registered),
    /// [`ColumnAccessError::NotPod`] for a serde registration.
    pub fn read_pod_column(
        &self,
        table: usize,
        name: &str,
        out: &mut Vec<u8>,
    ) -> Result<usize, ColumnAccessError> {
        let tables = self.parts().archetypes;
        let t = tables.get(table).ok_or(ColumnAccessError::NoTable {
            table,
            tables: tables.len(),
        })?;
        let (index, codec) = find_column(self.snapshot_registry(), t, table, name)?;
        let size = codec.pod_size.ok_or_else(|| ColumnAccessError::NotPod {
            name: name.to_owned(),
        })?;
        (codec.encode_column)(t.column(index), out)?;
        Ok(size)
    }

    /// Overwrites rows `first_row..` of the plain-old-data column registered
    /// as `name` in table `table` with `bytes` (whole elements, native byte
    /// order) and stamps them changed at [`change_tick`](Self::change_tick).
    ///
    /// # Errors
    /// As [`read_pod_column`](Self::read_pod_column), and
    /// [`ColumnAccessError::Misfit`] when `bytes` is not a whole number of
    /// elements or runs past the table's last row; nothing is written then.
    pub fn write_pod_column(
        &mut self,
        table: usize,
        name: &str,
        first_row: usize,
        bytes: &[u8],
    ) -> Result<(), ColumnAccessError> {
        let (tables, _, registry, tick) = self.columns_mut();
        let count = tables.len();
        let t = tables.get_mut(table).ok_or(ColumnAccessError::NoTable {
            table,
            tables: count,
        })?;
        let (index, codec) = find_column(registry, t, table, name)?;
        let (Some(size), Some(write)) = (codec.pod_size, codec.write_rows) else {
            return Err(ColumnAccessError::NotPod {
                name: name.to_owned(),
            });
        };
        let rows = t.len();
        let fits = if size == 0 {
            bytes.is_empty() && first_row <= rows
        } else {
            bytes.len() % size == 0
                && first_row
                    .checked_add(bytes.len() / size)
                    .is_some_and(|end| end <= rows)
        };
        if !fits {
            return Err(ColumnAccessError::Misfit {
                name: name.to_owned(),
                table,
                rows,
                first: first_row,
                len: bytes.len(),
                size,
            });
        }
        write(t, index, first_row, bytes, tick);
        Ok(())
    }

    /// The MessagePack bytes of the resource registered as `name`, or `None`
    /// when the world holds no such resource.
    ///
    /// # Errors
    /// [`ColumnAccessError::NoResource`] when nothing is registered under
    /// `name`; [`ColumnAccessError::Snapshot`] when its `Serialize` fails.
    pub fn resource_bytes(&self, name: &str) -> Result<Option<Vec<u8>>, ColumnAccessError> {
        let registry = self.snapshot_registry();
        let codec = registry
            .resource_by_name
            .get(name)
            .map(|&i| registry.resources[i])
            .ok_or_else(|| ColumnAccessError::NoResource {
                name: name.to_owned(),
            })?;
        let Some(slot) = self.parts().resources.get(&codec.type_id) else {
            return Ok(None);
        };
        let mut out = Vec::new();
        (codec.encode)(slot, &mut out)?;
        Ok(Some(out))
    }

    /// Inserts or replaces the resource registered as `name` from its
    /// MessagePack bytes ([`resource_bytes`](Self::resource_bytes)).
    ///
    /// # Errors
    /// [`ColumnAccessError::NoResource`] when nothing is registered under
    /// `name`; [`ColumnAccessError::Snapshot`] when the bytes do not decode
    /// as that type (the world is then unchanged).
    pub fn set_resource_bytes(
        &mut self,
        name: &str,
        bytes: &[u8],
    ) -> Result<(), ColumnAccessError> {
        let (_, resources, registry, _) = self.columns_mut();
        let codec = registry
            .resource_by_name
            .get(name)
            .map(|&i| registry.resources[i])
            .ok_or_else(|| ColumnAccessError::NoResource {
                name: name.to_owned(),
            })?;
        let slot = (codec.decode)(bytes)?;
        resources.insert(codec.type_id, slot);
        Ok(())
    }
}

/// Snapshot bytes (format of the [`snapshot`](crate::snapshot) module) of a
/// world that holds exactly `tables` and `resources` (`(registered name,
/// MessagePack bytes)`), with every entity keeping its id: restore it with
/// [`World::from_snapshot`]. Entity slots no table names are free; the
/// table without components comes first, then `tables` in order, their
/// rows in order.
///
/// # Errors
/// [`SnapshotError::Inconsistent`] when a table's columns do not have one
/// row per entity; [`SnapshotError::Encode`] when the body does not encode.
/// Names and duplicate entities are checked when the bytes are restored.
pub fn build_snapshot(
    tables: &[TableColumns<'_>],
    resources: &[(&str, &[u8])],
) -> Result<Vec<u8>, SnapshotError> {
    build_snapshot_with_sparse(tables, &[], resources)
}

/// One sparse-set component of a world to build with
/// [`build_snapshot_with_sparse`].
#[derive(Clone, Debug)]
pub struct SparseColumns<'a> {
    /// The registered component name.
    pub name: &'a str,
    /// The entities that have it, as [`Entity::to_bits`]; each must be an
    /// entity of one of the tables.
    pub entities: &'a [u64],
    /// The plain-old-data element size; `None` for a serde column (a
    /// MessagePack array of values).
    pub pod_size: Option<u32>,
    /// The values, one per entity, in the same order.
    pub bytes: &'a [u8],
}

/// [`build_snapshot`] with sparse-set components: the restored world gives
/// each of `sparse` sparse-set storage (an empty one too) holding the values
/// for its entities. The entities of a table without columns go to the first
/// table (the one without components), after those of earlier such tables.
///
/// # Errors
/// As [`build_snapshot`], and [`SnapshotError::Inconsistent`] when a sparse
/// column's bytes are not one value per entity. Entities a sparse column names
/// but no table holds are refused when the bytes are restored.
pub fn build_snapshot_with_sparse(
    tables: &[TableColumns<'_>],
    sparse: &[SparseColumns<'_>],
    resources: &[(&str, &[u8])],
) -> Result<Vec<u8>, SnapshotError> {
    super::encode_body(&body_of_columns(tables, sparse, resources)?)
}

/// The body that [`build_snapshot_with_sparse`] encodes; byte payloads are
/// borrowed from the arguments.
pub(super) fn body_of_columns<'a>(
    tables: &[TableColumns<'a>],
    sparse: &[SparseColumns<'a>],
    resources: &[(&'a str, &'a [u8])],
) -> Result<Body<'a>, SnapshotError> {
    let slots = tables
        .iter()
        .flat_map(|t| t.entities)
        .map(|&bits| Entity::from_bits(bits).index() as usize + 1)
        .max()
        .unwrap_or(0);
    let mut generations = vec![None; slots];
    for &bits in tables.iter().flat_map(|t| t.entities) {
        let e = Entity::from_bits(bits);
        generations[e.index() as usize] = Some(e.generation());
    }
    let free: Vec<u32> = (0..slots as u32)
        .filter(|&i| generations[i as usize].is_none())
        .collect();
    let mut records = vec![TableRecord {
        entities: Vec::new(),
        columns: Vec::new(),
    }];
    for (index, table) in tables.iter().enumerate() {
        let rows = table.entities.len();
        let mut columns = Vec::with_capacity(table.columns.len());
        for &(name, pod_size, bytes) in &table.columns {
            if let Some(size) = pod_size {
                if bytes.len() as u64 != u64::from(size) * rows as u64 {
                    return Err(SnapshotError::Inconsistent {
                        reason: format!(
                            "table {index}: column `{name}` has {} bytes for {rows} rows of {size} bytes",
                            bytes.len()
                        ),
                    });
                }
            }
            columns.push(ColumnRecord {
                name: name.to_owned(),
                pod_size,
                bytes: Cow::Borrowed(bytes),
            });
        }
        if columns.is_empty() {
            // Entities without components live in the first table.
            records[0].entities.extend_from_slice(table.entities);
            continue;
        }
        records.push(TableRecord {
            entities: table.entities.to_vec(),
            columns,
        });
    }
    let mut resources: Vec<NamedBytes> = resources
        .iter()
        .map(|&(name, bytes)| NamedBytes {
            name: name.to_owned(),
            bytes: Cow::Borrowed(bytes),
        })
        .collect();
    resources.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(Body {
        entities: EntityTable {
            generations: generations.iter().map(|g| g.unwrap_or(0)).collect(),
            free,
        },
        tables: records,
        sparse: sparse_records(sparse)?,
        resources,
    })
}

/// The snapshot records of `sparse`, sorted by name, after checking that each
/// plain-old-data column has one value per entity.
fn sparse_records<'a>(
    sparse: &[SparseColumns<'a>],
) -> Result<Vec<super::SparseRecord<'a>>, SnapshotError> {
    let mut records = Vec::with_capacity(sparse.len());
    for s in sparse {
        if let Some(size) = s.pod_size {
            if s.bytes.len() as u64 != u64::from(size) * s.entities.len() as u64 {
                return Err(SnapshotError::Inconsistent {
                    reason: format!(
                        "sparse set `{}` has {} bytes for {} entities of {size} bytes",
                        s.name,
                        s.bytes.len(),
                        s.entities.len()
                    ),
                });
            }
        }
        records.push(super::SparseRecord {
            name: s.name.to_owned(),
            entities: s.entities.to_vec(),
            pod_size: s.pod_size,
            bytes: Cow::Borrowed(s.bytes),
        });
    }
    records.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(records)
}

#[cfg(test)]
mod tests {
    use bytemuck::{Pod, Zeroable};
    use serde::{Deserialize, Serialize};

    use super::*;
    use crate::SnapshotRegistry;

    #[derive(Clone, Copy, Debug, PartialEq, Pod, Zeroable)]
    #[repr(C)]
    struct Pos([f32; 2]);
    #[derive(Clone, Copy, Debug, PartialEq, Pod, Zeroable)]
    #[repr(C)]
    struct Tag;
    #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
    struct Name(String);
    #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
    struct Time(f32);

    fn registry() -> SnapshotRegistry {
        let mut r = SnapshotRegistry::new();
        r.register_pod_as::<Pos>("Pos")
            .register_pod_as::<Tag>("Tag")
            .register_as::<Name>("Name")
            .register_resource_as::<Time>("Time");
        r
    }

    fn world() -> (World, Vec<Entity>) {
        let mut w = World::new();
        *w.snapshot_registry_mut() = registry();
        let a = w.spawn((Pos([1.0, 2.0]),));
        let b = w.spawn((Pos([3.0, 4.0]), Tag, Name("b".into())));
        let c = w.spawn((Pos([5.0, 6.0]),));
        w.despawn(a).expect("live");
        w.insert_resource(Time(0.5));
        (w, vec![b, c])
    }

    #[test]
    fn columns_read_write_and_rebuild_a_world_with_the_same_ids() {
        let (mut w, ents) = world();
        let shapes = w.table_shapes();
        let pos_only = shapes
            .iter()
            .find(|s| s.columns.len() == 1 && s.columns[0].name == "Pos")
            .expect("table of Pos");
        assert_eq!(pos_only.rows, 1);
        assert_eq!(pos_only.columns[0].pod_size, Some(8));
        assert_eq!(w.table_entities(pos_only.table).expect("ok"), &[ents[1]]);
        let mut bytes = Vec::new();
        assert_eq!(w.read_pod_column(pos_only.table, "Pos", &mut bytes), Ok(8));
        assert_eq!(bytemuck::pod_collect_to_vec::<u8, f32>(&bytes), &[5.0, 6.0]);

        let new = bytemuck::bytes_of(&Pos([9.0, 9.5])).to_vec();
        w.write_pod_column(pos_only.table, "Pos", 0, &new)
            .expect("writes");
        assert_eq!(w.get::<Pos>(ents[1]), Ok(&Pos([9.0, 9.5])));
        assert!(matches!(
            w.write_pod_column(pos_only.table, "Pos", 1, &new),
            Err(ColumnAccessError::Misfit { .. })
        ));
        assert!(matches!(
            w.write_pod_column(pos_only.table, "Pos", 0, &new[..5]),
            Err(ColumnAccessError::Misfit { .. })
        ));
        let mixed = shapes.iter().find(|s| s.columns.len() == 3).expect("3");
        assert!(matches!(
            w.read_pod_column(mixed.table, "Name", &mut bytes),
            Err(ColumnAccessError::NotPod { .. })
        ));
        assert!(matches!(
            w.read_pod_column(mixed.table, "Nope", &mut bytes),
            Err(ColumnAccessError::NoColumn { .. })
        ));
        assert!(matches!(
            w.read_pod_column(99, "Pos", &mut bytes),
            Err(ColumnAccessError::NoTable { .. })
        ));

        // Rebuild: the same entities with their Pos (and Tag) only.
        let time = w.resource_bytes("Time").expect("ok").expect("present");
        let ids_b = [ents[0].to_bits()];
        let ids_c = [ents[1].to_bits()];
        let pos_b = bytemuck::bytes_of(&Pos([3.0, 4.0])).to_vec();
        let bytes = build_snapshot(
            &[
                TableColumns {
                    entities: &ids_b,
                    columns: vec![("Pos", Some(8), &pos_b), ("Tag", Some(0), &[])],
                },
                TableColumns {
                    entities: &ids_c,
                    columns: vec![("Pos", Some(8), &new)],
                },
            ],
            &[("Time", &time)],
        )
        .expect("builds");
        let mut local = World::from_snapshot(registry(), &bytes).expect("restores");
        assert_eq!(local.get::<Pos>(ents[0]), Ok(&Pos([3.0, 4.0])));
        assert!(local.has::<Tag>(ents[0]));
        assert_eq!(local.get::<Pos>(ents[1]), Ok(&Pos([9.0, 9.5])));
        assert_eq!(local.resource::<Time>(), Ok(&Time(0.5)));
        assert_eq!(local.len(), 2);
        local
            .set_resource_bytes("Time", &rmp_serde::to_vec(&Time(2.0)).expect("enc"))
            .expect("sets");
        assert_eq!(local.resource::<Time>(), Ok(&Time(2.0)));
        assert!(local.set_resource_bytes("Time", b"\xc1").is_err());
        assert!(matches!(
            local.resource_bytes("Nope"),
            Err(ColumnAccessError::NoResource { .. })
        ));
        // A column of the wrong length is refused.
        assert!(build_snapshot(
            &[TableColumns {
                entities: &ids_b,
                columns: vec![("Pos", Some(8), &new[..4])],
            }],
            &[],
        )
        .is_err());
    }

    /// `World::from_columns` makes the world that `from_snapshot` makes of the
    /// built snapshot (same ids, values, hash), with the same refusals.
    #[test]
    fn a_world_from_columns_equals_the_one_restored_from_their_snapshot() {
        let (w, ents) = world();
        let ids = [ents[0].to_bits(), ents[1].to_bits()];
        let pos = bytemuck::cast_slice::<Pos, u8>(&[Pos([3.0, 4.0]), Pos([5.0, 6.0])]).to_vec();
        let name = rmp_serde::to_vec(&[Name("n".into())]).expect("enc");
        let sparse_ids = [ents[1].to_bits()];
        let time = w.resource_bytes("Time").expect("ok").expect("present");
        let tables = [TableColumns {
            entities: &ids,
            columns: vec![("Pos", Some(8), &pos)],
        }];
        let sparse = [SparseColumns {
            name: "Name",
            entities: &sparse_ids,
            pod_size: None,
            bytes: &name,
        }];
        let resources: [(&str, &[u8]); 1] = [("Time", &time)];
        let bytes = build_snapshot_with_sparse(&tables, &sparse, &resources).expect("builds");
        let restored = World::from_snapshot(registry(), &bytes).expect("restores");
        let built = World::from_columns(registry(), &tables, &sparse, &resources).expect("builds");
        assert_eq!(built.hash(), restored.hash());
        assert_eq!(built.len(), 2);
        assert_eq!(built.get::<Pos>(ents[1]), Ok(&Pos([5.0, 6.0])));
        assert_eq!(built.get::<Name>(ents[1]), Ok(&Name("n".into())));
        assert!(built.contains(ents[0]));
        assert_eq!(built.resource::<Time>(), Ok(&Time(0.5)));

        // An entity in two rows and an unknown name are refused.
        let twice = [ents[0].to_bits(), ents[0].to_bits()];
        let err = World::from_columns(
            registry(),
            &[TableColumns {
                entities: &twice,
                columns: vec![("Pos", Some(8), &pos)],
            }],
            &[],
            &[],
        )
        .unwrap_err();
        assert!(err.to_string().contains("more than one row"), "{err}");
        assert!(matches!(
            World::from_columns(
                registry(),
                &[TableColumns {
                    entities: &ids,
                    columns: vec![("Nope", Some(8), &pos)],
                }],
                &[],
                &[],
            ),
            Err(SnapshotError::UnknownName { .. })
        ));
    }

    /// `World::replace_table_rows` (world/rows.rs).
    mod replace_rows {
        use bytemuck::{Pod, Zeroable};

        use super::*;
        use crate::snapshot::{build_snapshot_with_sparse, SparseColumns};

        #[derive(Clone, Copy, Debug, PartialEq, Pod, Zeroable)]
        #[repr(C)]
        struct Life(u32);
        #[derive(Clone, Copy, Debug, PartialEq, Pod, Zeroable)]
        #[repr(C)]
        struct Mark(u8);

        fn registry() -> SnapshotRegistry {
            let mut r = super::registry();
            r.register_pod_as::<Life>("Life")
                .register_pod_as::<Mark>("Mark");
            r
        }

        fn pos(values: &[[f32; 2]]) -> Vec<u8> {
            bytemuck::cast_slice(values).to_vec()
        }

        fn life(values: &[u32]) -> Vec<u8> {
            bytemuck::cast_slice(values).to_vec()
        }

        fn names(values: &[&str]) -> Vec<u8> {
            let values: Vec<Name> = values.iter().map(|n| Name((*n).to_owned())).collect();
            rmp_serde::to_vec(&values).expect("encodes")
        }

        /// Tables: 1 = (Pos), 2 = (Pos, Life), 3 = (Pos, Name); `Mark` sparse.
        fn world() -> (World, Vec<Entity>) {
            let mut w = World::new();
            *w.snapshot_registry_mut() = registry();
            w.register_sparse::<Mark>().expect("registers");
            let a = w.spawn((Pos([1.0, 1.0]),));
            let b = w.spawn((Pos([2.0, 2.0]), Life(20)));
            let c = w.spawn((Pos([3.0, 3.0]), Life(30)));
            let d = w.spawn((Pos([4.0, 4.0]), Life(40)));
            let e = w.spawn((Pos([5.0, 5.0]), Name("e".into())));
            w.insert(c, Mark(3)).expect("alive");
            w.insert(d, Mark(4)).expect("alive");
            (w, vec![a, b, c, d, e])
        }

        fn table_with(w: &World, names: &[&str]) -> usize {
            w.table_shapes()
                .iter()
                .find(|s| {
                    s.columns.len() == names.len()
                        && s.columns.iter().all(|c| names.contains(&c.name))
                })
                .expect("table exists")
                .table
        }

        #[test]
        fn replaced_tables_hold_the_new_rows_and_the_world_equals_a_rebuilt_one() {
            let (mut w, ents) = world();
            let [a, b, c, d, e] = ents[..] else {
                unreachable!()
            };
            let t_pos = table_with(&w, &["Pos"]);
            let t_life = table_with(&w, &["Pos", "Life"]);
            let t_name = table_with(&w, &["Pos", "Name"]);
            // b leaves (freed), d stays (moved to row 0), a moves from the Pos table
            // into the Life table, a new entity x takes a slot past the end with a
            // generation of its own, and e keeps its table, which is not listed.
            let x = Entity::from_bits((7_u64 << 32) | 9);
            let life_ids = [d.to_bits(), a.to_bits(), x.to_bits()];
            let life_pos = pos(&[[40.0, 0.0], [10.0, 0.0], [90.0, 0.0]]);
            let life_life = life(&[41, 11, 91]);
            let pos_ids = [c.to_bits()];
            let pos_pos = pos(&[[30.0, 0.0]]);
            w.replace_table_rows(&[
                (
                    t_life,
                    TableColumns {
                        entities: &life_ids,
                        columns: vec![("Life", Some(4), &life_life), ("Pos", Some(8), &life_pos)],
                    },
                ),
                (
                    t_pos,
                    TableColumns {
                        entities: &pos_ids,
                        columns: vec![("Pos", Some(8), &pos_pos)],
                    },
                ),
            ])
            .expect("fits");
            assert_eq!(w.table_entities(t_life).expect("ok"), &[d, a, x]);
            assert_eq!(w.table_entities(t_pos).expect("ok"), &[c]);
            assert_eq!(w.table_entities(t_name).expect("ok"), &[e]);
            assert!(!w.contains(b));
            assert_eq!(w.len(), 5);
            assert_eq!(w.get::<Pos>(a), Ok(&Pos([10.0, 0.0])));
            assert_eq!(w.get::<Life>(x), Ok(&Life(91)));
            assert_eq!(w.get::<Life>(d), Ok(&Life(41)));
            assert_eq!(w.get::<Mark>(d), Ok(&Mark(4)), "d keeps its sparse value");
            assert_eq!(w.get::<Mark>(c), Ok(&Mark(3)));
            assert!(
                w.get::<Life>(c).is_err(),
                "c left the Life table for the Pos table"
            );
            let tick = w.change_tick();
            let ticks = w.component_ticks::<Pos>(x).expect("alive");
            assert_eq!((ticks.added, ticks.changed), (tick, tick));

            // The same contents built as a snapshot hash equal.
            let e_ids = [e.to_bits()];
            let e_pos = pos(&[[5.0, 5.0]]);
            let e_name = names(&["e"]);
            let marks = [c.to_bits(), d.to_bits()];
            let mark_bytes = [3_u8, 4];
            let expected = World::from_snapshot(
                {
                    let mut r = registry();
                    r.register_pod_as::<Pos>("Pos");
                    r
                },
                &build_snapshot_with_sparse(
                    &[
                        TableColumns {
                            entities: &pos_ids,
                            columns: vec![("Pos", Some(8), &pos_pos)],
                        },
                        TableColumns {
                            entities: &life_ids,
                            columns: vec![
                                ("Pos", Some(8), &life_pos),
                                ("Life", Some(4), &life_life),
                            ],
                        },
                        TableColumns {
                            entities: &e_ids,
                            columns: vec![("Pos", Some(8), &e_pos), ("Name", None, &e_name)],
                        },
                    ],
                    &[SparseColumns {
                        name: "Mark",
                        entities: &marks,
                        pod_size: Some(1),
                        bytes: &mark_bytes,
                    }],
                    &[],
                )
                .expect("builds"),
            )
            .expect("restores");
            assert_eq!(w.hash(), expected.hash());

            // The allocator agrees: new spawns take neither a live id nor a claimed slot.
            let fresh: Vec<Entity> = (0..12).map(|i| w.spawn((Life(i),))).collect();
            for f in &fresh {
                assert!(![a, c, d, e, x].contains(f), "{f} is handed out twice");
            }
            assert_eq!(w.len(), 17);
            assert_eq!(w.get::<Life>(x), Ok(&Life(91)));

            // A leaving entity takes its sparse values with it.
            let t_life_ids = [a.to_bits(), x.to_bits()];
            let t_life_pos = pos(&[[1.0, 0.0], [2.0, 0.0]]);
            let t_life_life = life(&[1, 2]);
            w.replace_table_rows(&[(
                t_life,
                TableColumns {
                    entities: &t_life_ids,
                    columns: vec![
                        ("Pos", Some(8), &t_life_pos),
                        ("Life", Some(4), &t_life_life),
                    ],
                },
            )])
            .expect("fits");
            assert!(!w.contains(d));
            assert_eq!(w.query_ref::<&Mark>().iter().count(), 1);

            // A serde column is decoded and swapped in.
            let name_ids = [e.to_bits(), d.to_bits()];
            let name_pos = pos(&[[5.0, 0.0], [6.0, 0.0]]);
            let name_bytes = names(&["e2", "d2"]);
            w.replace_table_rows(&[(
                t_name,
                TableColumns {
                    entities: &name_ids,
                    columns: vec![("Pos", Some(8), &name_pos), ("Name", None, &name_bytes)],
                },
            )])
            .expect("fits");
            assert_eq!(w.get::<Name>(d), Ok(&Name("d2".into())));
            assert_eq!(w.get::<Name>(e), Ok(&Name("e2".into())));
            assert_eq!(w.get::<Pos>(d), Ok(&Pos([6.0, 0.0])));
        }

        #[test]
        fn refused_rows_leave_the_world_unchanged() {
            let (mut w, ents) = world();
            let t_life = table_with(&w, &["Pos", "Life"]);
            let t_name = table_with(&w, &["Pos", "Name"]);
            let before = w.hash();
            let two = pos(&[[0.0, 0.0], [0.0, 0.0]]);
            let one_life = life(&[1]);
            let two_life = life(&[1, 2]);
            let mut attempt = |ids: &[u64], columns: Vec<(&str, Option<u32>, &[u8])>, table| {
                w.replace_table_rows(&[(
                    table,
                    TableColumns {
                        entities: ids,
                        columns,
                    },
                )])
            };
            let e = ents[4].to_bits();
            // b is in the Life table.
            let a = ents[1].to_bits();
            // e is alive in the Name table, which is not listed.
            let err = attempt(
                &[a, e],
                vec![("Pos", Some(8), &two), ("Life", Some(4), &two_life)],
                t_life,
            );
            assert!(
                matches!(err, Err(ColumnAccessError::Rows { .. })),
                "{err:?}"
            );
            // Missing column, column of another table, wrong size, short bytes,
            // index listed twice, unknown table and name.
            let err = attempt(&[a], vec![("Pos", Some(8), &two[..8])], t_life);
            assert!(
                matches!(err, Err(ColumnAccessError::Rows { .. })),
                "{err:?}"
            );
            let err = attempt(&[a], vec![("Name", None, &names(&["a"]))], t_life);
            assert!(
                matches!(err, Err(ColumnAccessError::NoColumn { .. })),
                "{err:?}"
            );
            let err = attempt(
                &[a],
                vec![("Pos", Some(8), &two[..8]), ("Life", None, &one_life)],
                t_life,
            );
            assert!(
                matches!(err, Err(ColumnAccessError::Rows { .. })),
                "{err:?}"
            );
            let err = attempt(
                &[a],
                vec![("Pos", Some(8), &two), ("Life", Some(4), &one_life)],
                t_life,
            );
            assert!(
                matches!(err, Err(ColumnAccessError::Misfit { .. })),
                "{err:?}"
            );
            let err = attempt(
                &[e],
                vec![
                    ("Pos", Some(8), &two[..8]),
                    ("Name", None, &names(&["e", "f"])),
                ],
                t_name,
            );
            assert!(
                matches!(err, Err(ColumnAccessError::Snapshot(_))),
                "{err:?}"
            );
            let err = attempt(
                &[a, a],
                vec![("Pos", Some(8), &two), ("Life", Some(4), &two_life)],
                t_life,
            );
            assert!(
                matches!(err, Err(ColumnAccessError::Rows { .. })),
                "{err:?}"
            );
            let err = attempt(&[], vec![], 99);
            assert!(
                matches!(err, Err(ColumnAccessError::NoTable { .. })),
                "{err:?}"
            );
            let err = attempt(&[e], vec![("Nope", Some(8), &two[..8])], t_name);
            assert!(
                matches!(err, Err(ColumnAccessError::UnknownComponent { .. })),
                "{err:?}"
            );
            assert_eq!(w.hash(), before);
            assert_eq!(w.len(), 5);
        }
    }
}
