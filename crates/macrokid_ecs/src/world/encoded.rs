//! Structural changes by registered name, with values as bytes, and a log of the
//! commands a world applied: what distributed mode (`macrokid_net`) needs to send a
//! remote system's commands to the coordinator and replay them there.
//!
//! Values are the bytes a snapshot column holds for one row (module
//! [`snapshot`](crate::snapshot)): raw bytes for a plain-old-data registration,
//! MessagePack for a serde one. Names are those of the world's
//! [`SnapshotRegistry`](crate::SnapshotRegistry).
//!
//! Distributed mode also ships sparse-set components ([`World::sparse_shapes`],
//! [`World::read_sparse_column`]) and the change ticks a remote system run needs
//! to see the rows a local run would see as added or changed
//! ([`World::set_component_ticks`], [`World::set_system_last_run`], and the
//! column-wise [`World::column_ticks`] / [`World::mark_column_changed`]).

use std::any::TypeId;

use super::{two_mut, World};
use crate::change::{ComponentTicks, Tick};
use crate::entity::{Entity, Location};
use crate::snapshot::{ColumnAccessError, RowCodec};

/// One command a world applied while [`World::record_commands`] was on, in apply
/// order. Commands that failed (a stale entity, a missing component) are not
/// recorded: they changed nothing.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CommandRecord {
    /// An entity was spawned with this id (for `Commands::spawn`, the id reserved
    /// while the system ran).
    Spawn(Entity),
    /// The entity was despawned.
    Despawn(Entity),
    /// A component, by registered name (the type name when unregistered), was
    /// inserted into (or replaced on) the entity.
    Insert(Entity, String),
    /// A component, by registered name, was removed from the entity.
    Remove(Entity, String),
}

/// A registered component with sparse-set storage in a world
/// ([`World::sparse_shapes`]).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct SparseShape {
    /// The registered snapshot name.
    pub name: &'static str,
    /// `std::any::type_name` of the component (what `ResourceId::of` names).
    pub type_name: &'static str,
    /// Bytes per value for a plain-old-data registration (0 for a zero-sized
    /// type); `None` for a serde one.
    pub pod_size: Option<usize>,
    /// How many entities have it.
    pub len: usize,
}

/// One entity of a sparse set, as [`World::read_sparse_column`] lists it:
/// where its table row is, and the ticks of its sparse component.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct SparseMember {
    /// The entity.
    pub entity: Entity,
    /// The table its row is in ([`World::table_shapes`] index).
    pub table: usize,
    /// Its row in that table.
    pub row: usize,
    /// When its sparse component was added and last changed.
    pub ticks: ComponentTicks,
}

impl World {
    /// The row codec of the component registered as `name` and the location
    /// of `entity`: what every encoded access starts from.
    ///
    /// # Errors
    /// [`ColumnAccessError::UnknownComponent`] when no component is
    /// registered as `name`; [`ColumnAccessError::StaleEntity`] when `entity`
    /// is not alive.
    fn encoded_target(
        &self,
        entity: Entity,
        name: &str,
    ) -> Result<(RowCodec, Location), ColumnAccessError> {
        let codec = self.snapshots.row_codec_by_name(name).ok_or_else(|| {
            ColumnAccessError::UnknownComponent {
                name: name.to_owned(),
            }
        })?;
        let location = self
            .entities
            .location(entity)
            .map_err(|_| ColumnAccessError::StaleEntity { entity })?;
        Ok((codec, location))
    }

    /// Turns the command log on (`true`, emptying it) or off (`false`, dropping it):
    /// while on, every command that [`apply_commands`](Self::apply_commands) or a
    /// system run applies is recorded ([`take_command_log`](Self::take_command_log)).
    pub fn record_commands(&mut self, on: bool) {
        self.command_log = on.then(Vec::new);
    }

    /// The commands recorded since the log was turned on or last taken, in apply
    /// order; the log stays on, empty.
    pub fn take_command_log(&mut self) -> Vec<CommandRecord> {
        self.command_log
            .as_mut()
            .map(std::mem::take)
            .unwrap_or_default()
    }

    pub(crate) fn is_recording_commands(&self) -> bool {
        self.command_log.is_some()
    }

    pub(crate) fn log_command(&mut self, record: CommandRecord) {
        if let Some(log) = self.command_log.as_mut() {
            log.push(record);
        }
    }

    /// The registered names of `entity`'s components (table and sparse-set ones),
    /// in ascending name order.
    ///
    /// # Errors
    /// [`ColumnAccessError::StaleEntity`] when `entity` is not alive;
    /// [`ColumnAccessError::Unregistered`] when a component's type is not registered.
    pub fn component_names(&self, entity: Entity) -> Result<Vec<&'static str>, ColumnAccessError> {
        let location = self
            .entities
            .location(entity)
            .map_err(|_| ColumnAccessError::StaleEntity { entity })?;
        let table = &self.archetypes[location.archetype as usize];
        let mut names = Vec::new();
        for (&type_id, &type_name) in table.types().iter().zip(table.type_names()) {
            names.push(self.registered(entity, type_id, type_name)?);
        }
        for (&type_id, set) in &self.sparse {
            if set.contains(entity) {
                names.push(self.registered(entity, type_id, set.component().name)?);
            }
        }
        names.sort_unstable();
        Ok(names)
    }

    fn registered(
        &self,
        entity: Entity,
        type_id: TypeId,
        type_name: &'static str,
    ) -> Result<&'static str, ColumnAccessError> {
        self.snapshots
            .row_codec(type_id)
            .map(|c| c.name)
            .ok_or(ColumnAccessError::Unregistered { entity, type_name })
    }

    /// Appends the bytes of `entity`'s component registered as `name` to `out`;
    /// `false` (nothing appended) when the entity has no such component.
    ///
    /// # Errors
    /// [`ColumnAccessError::StaleEntity`], [`ColumnAccessError::UnknownComponent`],
    /// [`ColumnAccessError::Snapshot`] when the value's `Serialize` fails.
    pub fn encode_component(
        &self,
        entity: Entity,
        name: &str,
        out: &mut Vec<u8>,
    ) -> Result<bool, ColumnAccessError> {
        let (codec, location) = self.encoded_target(entity, name)?;
        let type_id = codec.component.type_id;
        if let Some(set) = self.sparse.get(&type_id) {
            let Some(dense) = set.dense_index(entity) else {
                return Ok(false);
            };
            (codec.encode_row)(set.column(), dense, out)?;
            return Ok(true);
        }
        let table = &self.archetypes[location.archetype as usize];
        let Some(column) = table.column_index(type_id) else {
            return Ok(false);
        };
        (codec.encode_row)(table.column(column), location.row as usize, out)?;
        Ok(true)
    }

    /// Gives `entity` the component registered as `name` with the value `bytes`
    /// (replacing one it has), as [`insert`](Self::insert) would: a new table
    /// component moves the entity to another table; the value is stamped added and
    /// changed at the current change tick (a replaced table value: changed).
    ///
    /// # Errors
    /// [`ColumnAccessError::StaleEntity`], [`ColumnAccessError::UnknownComponent`],
    /// [`ColumnAccessError::Snapshot`] when `bytes` is not one value of the type;
    /// nothing changes then.
    pub fn insert_encoded(
        &mut self,
        entity: Entity,
        name: &str,
        bytes: &[u8],
    ) -> Result<(), ColumnAccessError> {
        let (codec, location) = self.encoded_target(entity, name)?;
        let mut value = if codec.pod_size.is_some() {
            (codec.decode_column)(bytes, 1)?
        } else {
            // A serde column is a MessagePack array: one value behind a fixarray of 1.
            let mut column = Vec::with_capacity(bytes.len() + 1);
            column.push(0x91);
            column.extend_from_slice(bytes);
            (codec.decode_column)(&column, 1)?
        };
        let type_id = codec.component.type_id;
        let tick = self.change_tick;
        if let Some(set) = self.sparse.get_mut(&type_id) {
            match set.dense_index(entity) {
                // Replaced in place, stamped changed (as a typed insert).
                Some(dense) => set.replace_from(dense, value.as_mut(), tick),
                None => set.extend_from(value.as_mut(), &[entity], tick),
            }
            return Ok(());
        }
        let src = location.archetype;
        let row = location.row as usize;
        if let Some(column) = self.archetypes[src as usize].column_index(type_id) {
            // Swapped into `row`; the old value is dropped with `value`.
            self.archetypes[src as usize].replace_from(column, row, value.as_mut(), tick);
            return Ok(());
        }
        let dst = self.insert_target(src, codec.component);
        let (from, to) = two_mut(&mut self.archetypes, src as usize, dst as usize);
        let column = to
            .column_index(type_id)
            .expect("the insert target has the inserted type");
        let moved = from.move_row_adding_from(row, to, column, value.as_mut(), tick);
        let new_row = to.len() - 1;
        self.relocate(entity, location, dst, new_row, moved);
        Ok(())
    }

    /// The registered components with sparse-set storage in this world, by
    /// ascending name (sparse sets of unregistered types are left out).
    pub fn sparse_shapes(&self) -> Vec<SparseShape> {
        let mut shapes: Vec<SparseShape> = self
            .sparse
            .iter()
            .filter_map(|(&type_id, set)| {
                let codec = self.snapshots.row_codec(type_id)?;
                Some(SparseShape {
                    name: codec.name,
                    type_name: set.component().name,
                    pod_size: codec.pod_size,
                    len: set.len(),
                })
            })
            .collect();
        shapes.sort_unstable_by_key(|s| s.name);
        shapes
    }

    /// The entities that have the sparse-set component registered as `name`,
    /// in the set's order, each with its table row and ticks; appends their
    /// values to `out` in the same order (raw bytes, `pod_size` per value, none
    /// for a zero-sized type).
    ///
    /// # Errors
    /// [`ColumnAccessError::UnknownComponent`] when no component is registered
    /// as `name`; [`ColumnAccessError::NotPod`] for a serde registration;
    /// [`ColumnAccessError::NotSparse`] when the component has table storage
    /// here. `out` is unchanged then.
    pub fn read_sparse_column(
        &self,
        name: &str,
        out: &mut Vec<u8>,
    ) -> Result<Vec<SparseMember>, ColumnAccessError> {
        let codec = self.snapshots.row_codec_by_name(name).ok_or_else(|| {
            ColumnAccessError::UnknownComponent {
                name: name.to_owned(),
            }
        })?;
        if codec.pod_size.is_none() {
            return Err(ColumnAccessError::NotPod {
                name: name.to_owned(),
            });
        }
        let set = self.sparse.get(&codec.component.type_id).ok_or_else(|| {
            ColumnAccessError::NotSparse {
                name: name.to_owned(),
            }
        })?;
        let mut members = Vec::with_capacity(set.len());
        let start = out.len();
        for (dense, entity) in set.entities().enumerate() {
            let Ok(location) = self.entities.location(entity) else {
                out.truncate(start);
                return Err(ColumnAccessError::StaleEntity { entity });
            };
            if let Err(e) = (codec.encode_row)(set.column(), dense, out) {
                out.truncate(start);
                return Err(e.into());
            }
            members.push(SparseMember {
                entity,
                table: location.archetype as usize,
                row: location.row as usize,
                ticks: set.ticks_at(dense),
            });
        }
        Ok(members)
    }

    /// Sets the added and changed ticks of `entity`'s component registered as
    /// `name` (table or sparse-set storage), without touching its value: a
    /// remote system run stamps the rows a local run would see as added or
    /// changed (distributed mode). Use
    /// [`mark_column_changed`](Self::mark_column_changed) for table ranges.
    ///
    /// # Errors
    /// [`ColumnAccessError::StaleEntity`], [`ColumnAccessError::UnknownComponent`],
    /// [`ColumnAccessError::MissingComponent`] when the entity lacks it.
    pub fn set_component_ticks(
        &mut self,
        entity: Entity,
        name: &str,
        ticks: ComponentTicks,
    ) -> Result<(), ColumnAccessError> {
        let (codec, location) = self.encoded_target(entity, name)?;
        let type_id = codec.component.type_id;
        let missing = || ColumnAccessError::MissingComponent {
            entity,
            name: name.to_owned(),
        };
        let (added, changed) = if let Some(set) = self.sparse.get_mut(&type_id) {
            let dense = set.dense_index(entity).ok_or_else(missing)?;
            set.ticks_mut(dense)
        } else {
            let table = &mut self.archetypes[location.archetype as usize];
            let column = table.column_index(type_id).ok_or_else(missing)?;
            table.row_ticks_mut(column, location.row as usize)
        };
        *added = ticks.added;
        *changed = ticks.changed;
        Ok(())
    }

    /// The added and changed ticks of `entity`'s component registered as
    /// `name` (table or sparse-set storage); `None` when the entity lacks it.
    ///
    /// # Errors
    /// [`ColumnAccessError::StaleEntity`], [`ColumnAccessError::UnknownComponent`].
    pub fn component_ticks_by_name(
        &self,
        entity: Entity,
        name: &str,
    ) -> Result<Option<ComponentTicks>, ColumnAccessError> {
        let (codec, location) = self.encoded_target(entity, name)?;
        let type_id = codec.component.type_id;
        if let Some(set) = self.sparse.get(&type_id) {
            return Ok(set.ticks_of(entity));
        }
        let table = &self.archetypes[location.archetype as usize];
        Ok(table
            .column_index(type_id)
            .map(|column| table.row_ticks(column, location.row as usize)))
    }

    /// Sets the tick of system type `S`'s previous run, as
    /// [`run_system`](Self::run_system) records it: its next run sees rows
    /// added or changed after `tick` (`None`: the next run is a first run and
    /// sees every row as added and changed). For running a system with the
    /// history of another world (distributed mode: the coordinator's).
    pub fn set_system_last_run<S: 'static>(&mut self, tick: Option<Tick>) {
        let key = TypeId::of::<S>();
        match tick {
            Some(tick) => {
                self.system_ticks.insert(key, tick);
            }
            None => {
                self.system_ticks.remove(&key);
            }
        }
    }

    /// Removes (and drops) `entity`'s component registered as `name`, as
    /// [`remove`](Self::remove) would.
    ///
    /// # Errors
    /// [`ColumnAccessError::StaleEntity`], [`ColumnAccessError::UnknownComponent`],
    /// [`ColumnAccessError::MissingComponent`] when the entity lacks it.
    pub fn remove_encoded(&mut self, entity: Entity, name: &str) -> Result<(), ColumnAccessError> {
        let (codec, location) = self.encoded_target(entity, name)?;
        let type_id = codec.component.type_id;
        let missing = || ColumnAccessError::MissingComponent {
            entity,
            name: name.to_owned(),
        };
        let tick = self.change_tick;
        if let Some(set) = self.sparse.get_mut(&type_id) {
            if !set.detach(entity) {
                return Err(missing());
            }
            set.bury();
            self.removed
                .entry(type_id)
                .or_default()
                .push((entity, tick));
            return Ok(());
        }
        let src = location.archetype;
        if !self.archetypes[src as usize].has(type_id) {
            return Err(missing());
        }
        let row = location.row as usize;
        let dst = self.remove_target(src, type_id);
        let (from, to) = two_mut(&mut self.archetypes, src as usize, dst as usize);
        let column = from
            .column_index(type_id)
            .expect("the table has the removed type");
        // The removed value, dropped last (after the bookkeeping).
        let mut taken = (codec.component.new_column)();
        let moved = from.take_and_move_into(row, to, column, taken.as_mut());
        self.removed
            .entry(type_id)
            .or_default()
            .push((entity, tick));
        let new_row = to.len() - 1;
        self.relocate(entity, location, dst, new_row, moved);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::prelude::*;
    use crate::snapshot::ColumnAccessError;
    use crate::{CommandBuffer, CommandRecord, SnapshotRegistry};

    #[derive(Clone, Copy, Debug, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
    #[repr(C)]
    struct A(u32);
    #[derive(Clone, Copy, Debug, PartialEq, bytemuck::Pod, bytemuck::Zeroable)]
    #[repr(C)]
    struct B(f32);
    #[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
    struct Label(String);

    fn world() -> World {
        let mut w = World::new();
        let mut r = SnapshotRegistry::new();
        r.register_pod_as::<A>("A")
            .register_pod_as::<B>("B")
            .register_as::<Label>("Label");
        *w.snapshot_registry_mut() = r;
        w
    }

    /// Encoded inserts and removes leave the world as the typed calls do (same hash),
    /// for table and sparse components, new and replaced values.
    #[test]
    fn encoded_changes_match_typed_ones() {
        let mut typed = world();
        let mut encoded = world();
        for w in [&mut typed, &mut encoded] {
            w.register_sparse::<Label>().expect("sparse");
            w.spawn((A(1),));
            w.spawn((A(2), B(2.0)));
        }
        let e = Entity::from_bits(0);
        typed.insert(e, B(5.0)).expect("insert");
        typed.insert(e, A(7)).expect("replace");
        typed.insert(e, Label("x".into())).expect("sparse insert");
        typed.remove::<A>(Entity::from_bits(1)).expect("remove");
        let mut bytes = Vec::new();
        let mut value = |w: &World, e: Entity, name: &str| {
            bytes.clear();
            assert!(w.encode_component(e, name, &mut bytes).expect("encode"));
            bytes.clone()
        };
        let b = value(&typed, e, "B");
        let a = value(&typed, e, "A");
        let l = value(&typed, e, "Label");
        encoded.insert_encoded(e, "B", &b).expect("insert");
        encoded.insert_encoded(e, "A", &a).expect("replace");
        encoded
            .insert_encoded(e, "Label", &l)
            .expect("sparse insert");
        encoded
            .remove_encoded(Entity::from_bits(1), "A")
            .expect("remove");
        assert_eq!(typed.hash(), encoded.hash());
        assert_eq!(
            encoded.component_names(e).expect("alive"),
            vec!["A", "B", "Label"]
        );
        assert!(matches!(
            encoded.remove_encoded(Entity::from_bits(1), "A"),
            Err(ColumnAccessError::MissingComponent { .. })
        ));
        assert!(matches!(
            encoded.insert_encoded(e, "Nope", &[]),
            Err(ColumnAccessError::UnknownComponent { .. })
        ));
        assert!(encoded.insert_encoded(e, "A", &[1, 2]).is_err());
        assert_eq!(typed.hash(), encoded.hash(), "failed calls change nothing");
        encoded.remove_encoded(e, "Label").expect("sparse remove");
        typed.remove::<Label>(e).expect("sparse remove");
        assert_eq!(typed.hash(), encoded.hash());
    }

    #[derive(System, Default)]
    #[system(reads(A), writes(B))]
    struct CountChanged;

    impl Run for CountChanged {
        fn run(&mut self, cx: &mut SystemCx<'_, Self>) -> SystemResult {
            for mut b in cx.query_filtered::<&mut B, Changed<A>>().iter() {
                b.0 += 1.0;
            }
            Ok(())
        }
    }

    /// Sparse sets read by name with their rows and ticks, rebuilt from a snapshot with
    /// `build_snapshot_with_sparse`; a replaced sparse value keeps its added tick.
    #[test]
    fn sparse_sets_are_read_and_rebuilt_by_name() {
        use crate::snapshot::{build_snapshot_with_sparse, SparseColumns, TableColumns};
        let mut w = world();
        w.register_sparse::<B>().expect("sparse");
        let e0 = w.spawn((A(1),));
        let e1 = w.spawn((A(2),));
        w.insert(e1, B(3.0)).expect("sparse insert");
        let added = w.component_ticks::<B>(e1).expect("has B").added;
        w.advance_change_tick_for_tests(5);
        w.insert_encoded(e1, "B", &4.0f32.to_ne_bytes())
            .expect("replace");
        let ticks = w.component_ticks::<B>(e1).expect("has B");
        assert_eq!(ticks.added, added, "a replaced value keeps its added tick");
        assert_ne!(ticks.changed, added);
        let shapes = w.sparse_shapes();
        assert_eq!(shapes.len(), 1);
        assert_eq!(
            (shapes[0].name, shapes[0].pod_size, shapes[0].len),
            ("B", Some(4), 1)
        );
        let mut values = Vec::new();
        let members = w.read_sparse_column("B", &mut values).expect("sparse");
        assert_eq!(members.len(), 1);
        assert_eq!((members[0].entity, members[0].row), (e1, 1));
        assert_eq!(members[0].ticks, ticks);
        assert_eq!(values, 4.0f32.to_ne_bytes());
        assert!(matches!(
            w.read_sparse_column("A", &mut values),
            Err(ColumnAccessError::NotSparse { .. })
        ));
        assert!(matches!(
            w.read_sparse_column("Label", &mut values),
            Err(ColumnAccessError::NotPod { .. })
        ));
        // The same world, rebuilt: one table with A, B sparse; plus an entity with no
        // table column (it lands in the table without components).
        let ids = [e0.to_bits(), e1.to_bits()];
        let a: Vec<u8> = [1u32, 2].iter().flat_map(|v| v.to_ne_bytes()).collect();
        let loose = [Entity::from_bits(2).to_bits()];
        let bytes = build_snapshot_with_sparse(
            &[
                TableColumns {
                    entities: &ids,
                    columns: vec![("A", Some(4), &a)],
                },
                TableColumns {
                    entities: &loose,
                    columns: Vec::new(),
                },
            ],
            &[SparseColumns {
                name: "B",
                entities: &ids[1..],
                pod_size: Some(4),
                bytes: &values,
            }],
            &[],
        )
        .expect("builds");
        let mut r = World::from_snapshot(w.snapshot_registry().clone(), &bytes).expect("restores");
        assert!(r.is_sparse::<B>());
        assert_eq!(r.get::<B>(e1).expect("has B"), &B(4.0));
        assert!(r.contains(Entity::from_bits(2)));
        r.despawn(Entity::from_bits(2)).expect("alive");
        assert_eq!(r.hash(), w.hash());
    }

    /// Row ticks set by name decide what a system's `Changed` filter sees after
    /// `set_system_last_run`; `None` makes the next run a first run.
    #[test]
    fn set_ticks_and_last_run_decide_what_changed_filters_see() {
        use crate::change::{ComponentTicks, Tick};
        let mut w = world();
        let es: Vec<Entity> = (0..4).map(|i| w.spawn((A(i), B(0.0)))).collect();
        let old = w.change_tick();
        let last = w.step_change_tick();
        let new = w.step_change_tick();
        w.step_change_tick();
        let stamp = |changed| ComponentTicks {
            added: old,
            changed: if changed { new } else { old },
        };
        let table = w
            .table_shapes()
            .iter()
            .position(|t| t.rows == 4)
            .expect("table");
        for (i, &e) in es.iter().enumerate() {
            w.set_component_ticks(e, "A", stamp(i == 3)).expect("has A");
        }
        w.mark_column_changed(table, "A", 0..1, new, false)
            .expect("fits");
        let mut read = Vec::new();
        w.column_ticks(table, "A", 0..4, &mut read).expect("fits");
        assert_eq!(read, [stamp(true), stamp(false), stamp(false), stamp(true)]);
        let mut flags = vec![9];
        w.column_change_flags(table, "A", 0..4, last, (1, 2), &mut flags)
            .expect("fits");
        assert_eq!(flags, [9, 2, 0, 0, 2], "changed after `last`, none added");
        flags.clear();
        let before = Tick::new(old.get().wrapping_sub(1));
        w.column_change_flags(table, "A", 1..3, before, (1, 2), &mut flags)
            .expect("fits");
        assert_eq!(
            flags,
            [3, 3],
            "added and changed after the tick before the spawn"
        );
        assert!(w
            .column_change_flags(table, "A", 3..5, last, (1, 2), &mut flags)
            .is_err());
        assert_eq!(flags, [3, 3], "unchanged on error");
        assert!(w.mark_column_changed(table, "A", 3..5, new, true).is_err());
        w.mark_column_changed(table, "B", 1..2, new, true)
            .expect("fits");
        assert_eq!(
            w.component_ticks_by_name(es[1], "B").expect("alive"),
            Some(ComponentTicks::new(new))
        );
        assert_eq!(
            w.component_ticks_by_name(es[3], "A").expect("alive"),
            Some(stamp(true))
        );
        w.set_system_last_run::<CountChanged>(Some(last));
        w.run_system(&mut CountChanged).expect("runs");
        let seen: Vec<f32> = es
            .iter()
            .map(|&e| w.get::<B>(e).expect("has B").0)
            .collect();
        assert_eq!(seen, [1.0, 0.0, 0.0, 1.0]);
        w.set_system_last_run::<CountChanged>(None);
        w.run_system(&mut CountChanged).expect("runs");
        let seen: Vec<f32> = es
            .iter()
            .map(|&e| w.get::<B>(e).expect("has B").0)
            .collect();
        assert_eq!(seen, [2.0, 1.0, 1.0, 2.0], "a first run sees every row");
    }

    #[test]
    fn the_command_log_records_applied_commands_in_order() {
        let mut w = world();
        let e = w.spawn((A(1),));
        w.record_commands(true);
        let mut buffer = CommandBuffer::new();
        buffer.insert(e, B(1.0));
        buffer.spawn((A(3),));
        buffer.remove::<A>(e);
        buffer.remove::<A>(e); // fails: not recorded
        buffer.despawn(e);
        assert_eq!(w.apply_commands(&mut buffer), 1);
        let spawned = Entity::from_bits(1);
        assert_eq!(
            w.take_command_log(),
            vec![
                CommandRecord::Insert(e, "B".into()),
                CommandRecord::Spawn(spawned),
                CommandRecord::Remove(e, "A".into()),
                CommandRecord::Despawn(e),
            ]
        );
        assert!(w.take_command_log().is_empty());
        w.record_commands(false);
        buffer.despawn(spawned);
        w.apply_commands(&mut buffer);
        assert!(w.take_command_log().is_empty());
    }
}
