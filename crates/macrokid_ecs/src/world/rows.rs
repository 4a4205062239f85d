//! Whole-table row replacement ([`World::replace_table_rows`]): what a
//! distributed-mode system process uses to refresh the tables of its local
//! world whose rows changed, instead of restoring the whole world.

use crate::entity::{Entity, Location};
use crate::snapshot::{ColumnAccessError, TableColumns};
use crate::storage::ErasedColumn;
use crate::World;

impl World {
    /// Replaces every row of the listed tables (`(table index, rows)`) at
    /// once: afterwards table `t` holds exactly `rows.entities`, in that
    /// order, with the component values of `rows.columns`; every other
    /// table is untouched.
    ///
    /// `rows.columns` gives each component of the table once, by registered
    /// name, as the snapshot format writes a column (module
    /// [`snapshot`](crate::snapshot)): `(name, Some(element size), raw
    /// rows)` for a plain-old-data registration, `(name, None, MessagePack
    /// array)` for a serde one, one value per entity. Table indices are
    /// those of [`table_shapes`](Self::table_shapes); no table is added or
    /// removed, so they stay valid.
    ///
    /// Entities keep the ids given, as [`restore`](Self::restore) keeps
    /// them: an entity of the list that is alive in one of the listed
    /// tables stays alive (moved to its new row, or to another listed
    /// table); one that is not alive takes its slot with the generation
    /// given (slots past the end are added). An entity that was in a listed
    /// table and is not in the new lists is freed as
    /// [`despawn`](Self::despawn) frees it (its sparse-set components go
    /// with it) — like a restore, without recording removals for
    /// [`removed`](Self::removed). Every row of a listed table is stamped
    /// added and changed at [`change_tick`](Self::change_tick), as a
    /// restore stamps its rows.
    ///
    /// Costs one decode of each given column (for plain-old-data, one
    /// copy), one copy of the rows into a new table block (the old block is
    /// freed), and a pass over the entity slots; the other tables are not
    /// read.
    ///
    /// # Errors
    /// Checked before anything changes (the world is then unchanged):
    /// [`ColumnAccessError::NoTable`] for an index past the last table;
    /// [`ColumnAccessError::UnknownComponent`] for a name nothing is
    /// registered under; [`ColumnAccessError::NoColumn`] for a component
    /// the table lacks; [`ColumnAccessError::Misfit`] for plain-old-data
    /// bytes that are not one value per entity, [`ColumnAccessError::Snapshot`]
    /// for serde bytes that do not decode to one value per entity;
    /// [`ColumnAccessError::Rows`] for a table listed twice, a column given
    /// twice, missing or with another element size than registered, an
    /// entity index listed twice or equal to `u32::MAX`, an entity whose
    /// slot holds a live entity of a table not listed, or more than 2^32
    /// rows.
    ///
    /// # Panics
    /// Only when a component's `Drop` panics while the replaced values are
    /// dropped, after the world is consistent again (the panic goes on).
    pub fn replace_table_rows(
        &mut self,
        tables: &[(usize, TableColumns<'_>)],
    ) -> Result<(), ColumnAccessError> {
        let count = self.archetypes.len();
        let refused = |table: usize, reason: String| ColumnAccessError::Rows { table, reason };
        let mut listed_table = vec![false; count];
        // By entity index: the generation listed there, if any (the slots the entity
        // table will have; `claim` grows it to the largest index listed as well).
        let slots = tables
            .iter()
            .flat_map(|(_, t)| t.entities)
            .map(|&bits| Entity::from_bits(bits).index() as usize + 1)
            .max()
            .unwrap_or(0)
            .max(self.entities.slot_count());
        let mut listed: Vec<Option<u32>> = vec![None; slots];
        let mut decoded: Vec<Vec<Box<dyn ErasedColumn>>> = Vec::with_capacity(tables.len());
        for &(t, _) in tables {
            if t >= count {
                return Err(ColumnAccessError::NoTable {
                    table: t,
                    tables: count,
                });
            }
            if std::mem::replace(&mut listed_table[t], true) {
                return Err(refused(t, "the table is listed twice".to_owned()));
            }
        }
        for (t, rows) in tables {
            let t = *t;
            let n = rows.entities.len();
            if u32::try_from(n).is_err() {
                return Err(refused(t, format!("{n} rows (at most 2^32 - 1)")));
            }
            for &bits in rows.entities {
                let e = Entity::from_bits(bits);
                if e.index() == u32::MAX {
                    return Err(refused(t, format!("entity {e} has index 2^32 - 1")));
                }
                if listed[e.index() as usize].replace(e.generation()).is_some() {
                    return Err(refused(
                        t,
                        format!("entity index {} is listed twice", e.index()),
                    ));
                }
                if let Some((alive, at)) = self.entities.live_at(e.index()) {
                    if !listed_table[at.archetype as usize] {
                        return Err(refused(
                            t,
                            format!(
                                "entity {e}: its slot holds {alive}, alive in table {}, which is not listed",
                                at.archetype
                            ),
                        ));
                    }
                }
            }
            let table = &self.archetypes[t];
            let mut columns: Vec<Option<Box<dyn ErasedColumn>>> =
                (0..table.types().len()).map(|_| None).collect();
            for &(name, pod_size, bytes) in &rows.columns {
                let codec = self.snapshots.row_codec_by_name(name).ok_or_else(|| {
                    ColumnAccessError::UnknownComponent {
                        name: name.to_owned(),
                    }
                })?;
                let index = table.column_index(codec.component.type_id).ok_or_else(|| {
                    ColumnAccessError::NoColumn {
                        table: t,
                        name: name.to_owned(),
                    }
                })?;
                if pod_size.map(|s| s as usize) != codec.pod_size {
                    return Err(refused(
                        t,
                        format!(
                            "column `{name}` is given with element size {pod_size:?}, registered with {:?}",
                            codec.pod_size
                        ),
                    ));
                }
                if columns[index].is_some() {
                    return Err(refused(t, format!("column `{name}` is given twice")));
                }
                if let Some(size) = codec.pod_size {
                    if Some(bytes.len()) != n.checked_mul(size) {
                        return Err(ColumnAccessError::Misfit {
                            name: name.to_owned(),
                            table: t,
                            rows: n,
                            first: 0,
                            len: bytes.len(),
                            size,
                        });
                    }
                }
                columns[index] = Some((codec.decode_column)(bytes, n)?);
            }
            let columns = columns
                .into_iter()
                .enumerate()
                .map(|(i, c)| {
                    c.ok_or_else(|| {
                        refused(
                            t,
                            format!("no bytes for column `{}`", table.type_names()[i]),
                        )
                    })
                })
                .collect::<Result<Vec<_>, _>>()?;
            decoded.push(columns);
        }
        // Checked: from here on nothing fails.
        let mut detached = false;
        for &(t, _) in tables {
            for &e in self.archetypes[t].entities() {
                if listed[e.index() as usize] != Some(e.generation()) {
                    self.entities.free(e).expect("a table's entities are alive");
                    for set in self.sparse.values_mut() {
                        detached |= set.detach(e);
                    }
                }
            }
        }
        let mut claims = Vec::new();
        for (t, rows) in tables {
            for (row, &bits) in rows.entities.iter().enumerate() {
                let e = Entity::from_bits(bits);
                let at = Location {
                    archetype: *t as u32,
                    row: row as u32,
                };
                if self.entities.contains(e) {
                    self.entities.set_location(e, at);
                } else {
                    claims.push((e, at));
                }
            }
        }
        self.entities.claim(&claims);
        let mut old = Vec::with_capacity(tables.len());
        for ((t, rows), columns) in tables.iter().zip(decoded) {
            let entities = rows
                .entities
                .iter()
                .map(|&b| Entity::from_bits(b))
                .collect();
            old.push(self.archetypes[*t].replace_rows(columns, entities, self.change_tick));
        }
        // User values are dropped last, once the world is consistent.
        if detached {
            for set in self.sparse.values_mut() {
                set.bury();
            }
        }
        drop(old);
        Ok(())
    }
}
