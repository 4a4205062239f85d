//! Whole-table row replacement ([`World::replace_table_rows`]): what a
//! distributed-mode system process uses to refresh the tables of its local
//! world whose rows changed, instead of restoring the whole world.

use crate::change::ComponentTicks;
use crate::entity::{Entity, Location};
use crate::snapshot::{ColumnAccessError, TableColumns};
use crate::storage::ErasedColumn;
use crate::World;

/// The new rows of one column of a replaced table.
enum NewRows<'a> {
    /// Raw plain-old-data bytes (checked: one value per row), copied into the
    /// column's allocation by the function.
    InPlace(fn(&mut dyn ErasedColumn, usize, &[u8]), &'a [u8]),
    /// A column decoded from its bytes, to swap in.
    Decoded(Box<dyn ErasedColumn>),
}

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
    /// Costs one copy of each plain-old-data column into the allocation the
    /// column has (no allocation once it is large enough), one decode of
    /// each serde column, and a pass over the entity slots; the other tables
    /// are not read.
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
        let mut decoded: Vec<Vec<NewRows<'_>>> = Vec::with_capacity(tables.len());
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
            let mut columns: Vec<Option<NewRows<'_>>> =
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
                columns[index] = Some(match (codec.set_rows, codec.pod_size) {
                    // Plain-old-data: copied into the column's own allocation.
                    (Some(set), Some(size)) => {
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
                        NewRows::InPlace(set, bytes)
                    }
                    _ => NewRows::Decoded((codec.decode_column)(bytes, n)?),
                });
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
        let stamp = ComponentTicks::new(self.change_tick);
        let mut old: Vec<Box<dyn ErasedColumn>> = Vec::new();
        for ((t, rows), columns) in tables.iter().zip(decoded) {
            let (table_columns, ticks, entities) = self.archetypes[*t].columns_and_entities();
            entities.clear();
            entities.extend(rows.entities.iter().map(|&b| Entity::from_bits(b)));
            for ticks in ticks.iter_mut() {
                ticks.clear();
                ticks.resize(rows.entities.len(), stamp);
            }
            for (slot, column) in table_columns.iter_mut().zip(columns) {
                match column {
                    NewRows::InPlace(set, bytes) => set(slot.as_mut(), rows.entities.len(), bytes),
                    NewRows::Decoded(column) => old.push(std::mem::replace(slot, column)),
                }
            }
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

#[cfg(test)]
mod tests {
    use bytemuck::{Pod, Zeroable};
    use serde::{Deserialize, Serialize};

    use super::*;
    use crate::snapshot::build_snapshot_with_sparse;
    use crate::snapshot::SparseColumns;
    use crate::SnapshotRegistry;

    #[derive(Clone, Copy, Debug, PartialEq, Pod, Zeroable)]
    #[repr(C)]
    struct Pos([f32; 2]);
    #[derive(Clone, Copy, Debug, PartialEq, Pod, Zeroable)]
    #[repr(C)]
    struct Life(u32);
    #[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
    struct Name(String);
    #[derive(Clone, Copy, Debug, PartialEq, Pod, Zeroable)]
    #[repr(C)]
    struct Mark(u8);

    fn registry() -> SnapshotRegistry {
        let mut r = SnapshotRegistry::new();
        r.register_pod_as::<Pos>("Pos")
            .register_pod_as::<Life>("Life")
            .register_pod_as::<Mark>("Mark")
            .register_as::<Name>("Name");
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
                s.columns.len() == names.len() && s.columns.iter().all(|c| names.contains(&c.name))
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
                        columns: vec![("Pos", Some(8), &life_pos), ("Life", Some(4), &life_life)],
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
